// Replay buffer: a fixed-capacity ring of transitions (obs, action, reward, next obs,
// terminated) in one allocation, uniform sampling from the caller's RNG, save and load.
// Goal-conditioned environments also store the achieved and desired goals of next_obs, so
// relabelling agents can rewrite them.
#ifndef AF_REPLAY_H
#define AF_REPLAY_H

#include <stddef.h>
#include "base/rng.h"

#define AF_REPLAY_MAX 10000000  // counters are saved as floats: exact up to 2^24

typedef struct {
  long cap, size, pos;
  int obs_dim, act_dim, goal_dim;
  float *obs, *act, *rew, *next_obs, *done, *ag, *dg;  // carved from mem
  float *mem;
} af_replay;

int af_replay_init(af_replay *r, long cap, int obs_dim, int act_dim, int goal_dim, char *err, size_t errsz);
void af_replay_free(af_replay *r);

// ag, dg may be NULL when goal_dim is 0
void af_replay_add(af_replay *r, const float *obs, const float *act, float rew, const float *next_obs, int terminated,
                   const float *ag, const float *dg);

// B transitions drawn uniformly with replacement; outputs (B, dim) each
void af_replay_sample(const af_replay *r, af_rng *rng, int B, float *obs, float *act, float *rew, float *next_obs, float *done);

int af_replay_save(const af_replay *r, const char *path, char *err, size_t errsz);
// the buffer must have the capacity and sizes it was saved with
int af_replay_load(af_replay *r, const char *path, char *err, size_t errsz);

#endif
