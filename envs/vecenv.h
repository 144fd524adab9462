// The vectorized runner: N environments stepped by K worker threads into batched arrays.
// Environment i's episode j is seeded with af_vecenv_seed(seed, N, i, j), so the results are
// identical to stepping the same environments one by one, whatever K is. With N = 1 the
// episodes are those of a single environment reset with af_seed_derive(af_seed_derive(seed,
// 11), j), the training episodes of `armfarm train`.
// Codes are those of base/base.h. The runner's functions are called from one thread (its
// workers are its own); v must not be NULL except for af_vecenv_free(NULL), a no-op. Arrays
// are the caller's, sized as each function says.
#ifndef AF_VECENV_H
#define AF_VECENV_H

#include <stdint.h>
#include "envs/curriculum.h"
#include "envs/env.h"

typedef struct af_vecenv af_vecenv;

// the seed of environment i's episode j (j from 0) among n environments of a run seeded with
// `seed`: stream 11 of the seed, episode j * n + i
uint64_t af_vecenv_seed(uint64_t seed, int n, int i, long episode);

// n environments (1..4096) made as af_env_make(name, config_json), stepped by `threads`
// threads (1..256, the caller's included, capped at n); owned by the caller
// (af_vecenv_free), or NULL with a message in err (errsz bytes)
af_vecenv *af_vecenv_make(const char *name, const char *config_json, int n, int threads, char *err, size_t errsz);
// stop and join the workers and free every environment
void af_vecenv_free(af_vecenv *v);

// the number of environments, their common spec (owned by v), environment i (owned by v;
// NULL when out of range; do not step it while the runner steps)
int af_vecenv_size(const af_vecenv *v);
const af_env_spec *af_vecenv_spec(const af_vecenv *v);
af_env *af_vecenv_env(af_vecenv *v, int i);

// reset every environment to its first episode; obs (n, obs_dim). AF_OK or the first
// environment's error code (af_env_last_error of af_vecenv_env(v, i) tells why)
int af_vecenv_reset(af_vecenv *v, uint64_t seed, float *obs);

// a difficulty curriculum (envs/curriculum.h, copied; its metric resolved) with each
// environment's level, levels (n): every environment's following resets use its level's
// difficulty, and at each episode's end the workers move the level by the curriculum's rule
// before the next reset. c NULL removes it (the environments draw their difficulty again).
// AF_ERR_ARG for a level out of range or an unresolved curriculum; AF_ERR_UNSUP when the
// environments have no difficulty levels (af_vecenv_last_error says so). Call it before
// af_vecenv_reset or af_vecenv_restore so that the first episodes use the levels.
int af_vecenv_set_curriculum(af_vecenv *v, const af_curriculum *c, const int *levels);
// each environment's current level, levels (n); -1 each without a curriculum
void af_vecenv_levels(const af_vecenv *v, int *levels);
// episodes started so far per environment, episodes (n): for checkpoints
void af_vecenv_episodes(const af_vecenv *v, long *episodes);

// continue a run: environment i restarts its episode episodes[i] - 1 (each >= 1, as
// af_vecenv_episodes gave them) from its seed; obs (n, obs_dim). A caller that replays the
// episode's actions through af_vecenv_env(v, i) then has the state the run had.
int af_vecenv_restore(af_vecenv *v, uint64_t seed, const long *episodes, float *obs);

// step every environment; an environment whose episode ends is reset at once (its next
// seed), obs then holds the new first observation and final_obs the last one of the ended
// episode. actions (n, act_dim), obs and final_obs (n, obs_dim), the rest (n).
// A non-finite action ends its environment's episode as diverged (af_env_end_diverged:
// reward 0, truncated, infos[i].diverged, counted) and that environment starts its next
// episode; the others step as usual.
// final_obs and infos may be NULL. Another error (e.g. AF_ERR_NUMERIC from a reset at an
// episode's end) is returned after the batch; the environments that failed need a reset.
int af_vecenv_step(af_vecenv *v, const float *actions, float *obs, float *final_obs, float *rewards,
                   uint8_t *terminated, uint8_t *truncated, af_info *infos);

// the same, with task(arg) run on the calling thread while the workers step the
// environments; with one thread the task runs first and the environments after it. The task
// must not touch the environments or the batch arrays; its return code goes to *task_rc
// (task_rc may be NULL). Training uses it to make an agent's updates while the environments
// step (train.overlap). task NULL: af_vecenv_step.
typedef int (*af_vecenv_task)(void *arg);
int af_vecenv_step_with(af_vecenv *v, af_vecenv_task task, void *arg, int *task_rc, const float *actions, float *obs, float *final_obs,
                        float *rewards, uint8_t *terminated, uint8_t *truncated, af_info *infos);

// every environment's pixel observation of its current state (af_env_pixels) into rgb
// (n, pixel_height, pixel_width, 3), rendered by the workers in parallel: each environment
// has its own renderer and OpenGL context, made current in the thread that renders it, so
// the images are those of rendering one by one. AF_ERR_UNSUP when "obs" has no pixels;
// another code when a frame failed (af_vecenv_last_error tells which and why)
int af_vecenv_pixels(af_vecenv *v, unsigned char *rgb);

// why the last af_vecenv_step or af_vecenv_pixels failed: the message of an environment that failed (owned by v)
const char *af_vecenv_last_error(const af_vecenv *v);

#endif
