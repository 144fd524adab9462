// The difficulty curriculum: its table, its checks and its one rule (see curriculum.h).
#include "envs/curriculum.h"

#include <stdio.h>   // snprintf
#include <string.h>  // strcmp

const af_param af_curriculum_params[] = {
  {"levels", AF_P_INT, offsetof(af_curriculum, levels), 10, 2, AF_CURRICULUM_MAX_LEVELS, NULL, "difficulty levels"},
  {"start", AF_P_INT, offsetof(af_curriculum, start), 0, 0, AF_CURRICULUM_MAX_LEVELS - 1, NULL, "the level every environment starts at"},
  {"up", AF_P_DOUBLE, offsetof(af_curriculum, up), 0.8, -1e9, 1e9, NULL, "an episode whose metric reaches this moves its environment up a level"},
  {"down", AF_P_DOUBLE, offsetof(af_curriculum, down), 0.5, -1e9, 1e9, NULL, "an episode whose metric stays below this moves its environment down a level"},
  {"min_difficulty", AF_P_DOUBLE, offsetof(af_curriculum, min_difficulty), 0, 0, 1, NULL, "difficulty of level 0"},
  {"max_difficulty", AF_P_DOUBLE, offsetof(af_curriculum, max_difficulty), 1, 0, 1, NULL, "difficulty of the top level"},
  {"metric", AF_P_STRING, offsetof(af_curriculum, metric), 0, 0, 0, "progress", "the episode metric the thresholds apply to (armfarm envs NAME lists them)"},
  {"resample_top", AF_P_BOOL, offsetof(af_curriculum, resample_top), 1, 0, 1, NULL,
   "an environment that moves up from the top level goes to a random level (legged_gym), else it stays"},
};
const int af_curriculum_nparams = (int)(sizeof af_curriculum_params / sizeof af_curriculum_params[0]);

int af_curriculum_configure(af_curriculum *c, const cJSON *section, const af_env_spec *spec, char *err, size_t errsz) {
  // the table's defaults, then the section's keys
  af_params_default(c, af_curriculum_params, af_curriculum_nparams);
  if (section && !cJSON_IsObject(section)) { snprintf(err, errsz, "curriculum: expected an object (curriculum keys)"); return -1; }
  for (const cJSON *it = section ? section->child : NULL; it; it = it->next) {
    const af_param *p = af_params_find(af_curriculum_params, af_curriculum_nparams, it->string);
    if (!p) {
      const char *sg = af_params_suggest(af_curriculum_params, af_curriculum_nparams, it->string);
      snprintf(err, errsz, "curriculum.%s: unknown key%s%s%s", it->string, sg ? " (did you mean '" : "", sg ? sg : "", sg ? "'?)" : "");
      return -1;
    }
    if (af_param_set(c, p, it, "curriculum", err, errsz)) return -1;
  }
  // what one key's range cannot say
  if (c->start >= c->levels) { snprintf(err, errsz, "curriculum.start: %d is not below levels (%d)", c->start, c->levels); return -1; }
  if (c->down > c->up) { snprintf(err, errsz, "curriculum.down: %g is above up (%g)", c->down, c->up); return -1; }
  if (c->min_difficulty > c->max_difficulty) {
    snprintf(err, errsz, "curriculum.min_difficulty: %g is above max_difficulty (%g)", c->min_difficulty, c->max_difficulty);
    return -1;
  }
  // the metric, by name among the environment's
  c->metric_index = -1;
  for (int m = 0; m < spec->n_metrics; m++)
    if (!strcmp(spec->metric_names[m], c->metric)) c->metric_index = m;
  if (c->metric_index < 0) {
    char names[256] = "";
    for (int m = 0; m < spec->n_metrics; m++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", m ? ", " : "", spec->metric_names[m]);
    snprintf(err, errsz, "curriculum.metric: '%s' is not an episode metric of this environment (%s)", c->metric,
             spec->n_metrics ? names : "it has none");
    return -1;
  }
  return 0;
}

double af_curriculum_difficulty(const af_curriculum *c, int level) {
  return c->min_difficulty + (c->max_difficulty - c->min_difficulty) * level / (c->levels - 1);
}

int af_curriculum_next(const af_curriculum *c, int level, double value, uint64_t draw) {
  // a NaN metric counts as a failure
  if (value >= c->up) {
    if (level < c->levels - 1) return level + 1;
    return c->resample_top ? (int)(draw % (uint64_t)c->levels) : level;
  }
  if (!(value >= c->down)) return level > 0 ? level - 1 : 0;
  return level;
}
