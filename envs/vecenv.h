// The vectorized runner: N environments stepped by K worker threads into batched arrays.
// Environment i's episode j is seeded with af_vecenv_seed(seed, N, i, j), so the results are
// identical to stepping the same environments one by one, whatever K is. With N = 1 the
// episodes are those of a single environment reset with af_seed_derive(af_seed_derive(seed,
// 11), j), the training episodes of `armfarm train`.
// Thread-safety: one thread calls a vecenv's functions; the workers are internal.
#ifndef AF_VECENV_H
#define AF_VECENV_H

#include <stdint.h>
#include "envs/env.h"

typedef struct af_vecenv af_vecenv;

// the seed of environment i's episode j (j from 0) among n environments of a run seeded with
// `seed`: stream 11 of the seed, episode j * n + i
uint64_t af_vecenv_seed(uint64_t seed, int n, int i, long episode);

// n environments of one kind and config, stepped by `threads` threads (the caller's included;
// capped at n); NULL with a message when n is outside [1, 4096], threads outside [1, 256], or
// an environment cannot be made
af_vecenv *af_vecenv_make(const char *name, const char *config_json, int n, int threads, char *err, size_t errsz);
void af_vecenv_free(af_vecenv *v);  // NULL is a no-op; joins the workers

int af_vecenv_size(const af_vecenv *v);
const af_env_spec *af_vecenv_spec(const af_vecenv *v);
af_env *af_vecenv_env(af_vecenv *v, int i);

// reset every environment to its first episode; obs (n, obs_dim)
int af_vecenv_reset(af_vecenv *v, uint64_t seed, float *obs);

// episodes started so far per environment, episodes (n): for checkpoints
void af_vecenv_episodes(const af_vecenv *v, long *episodes);

// continue a run: environment i restarts its episode episodes[i] - 1 (each >= 1, as
// af_vecenv_episodes gave them) from its seed; obs (n, obs_dim). A caller that replays the
// episode's actions through af_vecenv_env(v, i) then has the state the run had.
int af_vecenv_restore(af_vecenv *v, uint64_t seed, const long *episodes, float *obs);

// step every environment; an environment whose episode ends is reset at once (its next
// seed), obs then holds the new first observation and final_obs the last one of the ended
// episode. actions (n, act_dim), obs and final_obs (n, obs_dim), the rest (n).
// A non-finite action refuses the whole batch (AF_ERR_ARG) before any environment moves.
int af_vecenv_step(af_vecenv *v, const float *actions, float *obs, float *final_obs, float *rewards,
                   uint8_t *terminated, uint8_t *truncated, af_info *infos);

#endif
