// A difficulty curriculum in the manner of legged_gym's terrain curriculum: each of N
// environments has a level 0 .. levels - 1, which sets its difficulty (af_env_set_difficulty)
// for the episodes that follow. At the end of each episode its level moves up one when an
// episode metric (by default the quadruped's progress: distance covered over distance
// commanded) reached `up`, and down one when it stayed below `down`. An environment that
// succeeds at the top level is sent to a random level (legged_gym's rule, so that the top
// does not fill up and the lower levels are not forgotten), or stays there.
// The vectorized runner applies it (af_vecenv_set_curriculum) in its workers, before each
// reset, so the level of an episode never depends on the number of threads.
#ifndef AF_CURRICULUM_H
#define AF_CURRICULUM_H

#include <stddef.h>  // size_t
#include <stdint.h>  // uint64_t

#include "base/config.h"
#include "envs/env.h"

#define AF_CURRICULUM_MAX_LEVELS 100

typedef struct {
  int levels;             // 2 .. AF_CURRICULUM_MAX_LEVELS
  int start;              // the level every environment starts at
  double up, down;        // thresholds on the metric at an episode's end
  double min_difficulty, max_difficulty;  // level 0 and the top level's difficulty
  char metric[AF_P_STRING_MAX];  // an episode metric of the environment
  int resample_top;       // succeeding at the top level draws a new level uniformly
  int metric_index;       // resolved against a spec (af_curriculum_resolve)
} af_curriculum;

// the configuration table (the run document's "curriculum" section)
extern const af_param af_curriculum_params[];
extern const int af_curriculum_nparams;

// defaults, then the keys of a JSON object over them; then the checks the table cannot make
// (start below levels, down <= up, min <= max difficulty) and the metric resolved against
// spec; 0, or -1 with a one-line message naming the key
int af_curriculum_configure(af_curriculum *c, const cJSON *section, const af_env_spec *spec, char *err, size_t errsz);

// the difficulty of a level: min + (max - min) level / (levels - 1)
double af_curriculum_difficulty(const af_curriculum *c, int level);

// the level after an episode of `level` that ended with `value` of the metric; `draw` (a
// 64-bit random word) picks the new level when the top is left by resampling
int af_curriculum_next(const af_curriculum *c, int level, double value, uint64_t draw);

#endif
