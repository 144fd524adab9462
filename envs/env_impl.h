// What an environment file implements and what the common layer (env.c) owns. Only
// environment files, the vectorized runner and tests include this.
#ifndef AF_ENV_IMPL_H
#define AF_ENV_IMPL_H

#include <mujoco/mujoco.h>
#include <cjson/cJSON.h>
#include "base/config.h"
#include "envs/env.h"
#include "envs/randomize.h"
#include "base/rng.h"

#define AF_MAX_DELAY 16

// one environment: a const table of functions, like MuJoCo's mjpPlugin
typedef struct af_env_def {
  const char *name, *description, *success, *reward_text;
  const char *asset;                   // MJCF file under assets/
  int horizon;                         // default control steps per episode
  double control_hz;                   // default control rate
  const af_param *params; int nparams; size_t cfg_size;  // environment-specific config
  const af_dr_entry *dr; int ndr;      // randomization table
  // after the model is loaded: resolve ids, allocate state, fill spec dims and goal layout
  int (*init)(af_env *e, char *err, size_t errsz);
  void (*free)(af_env *e);
  // the initial state in e->d (already mj_resetData'd); rng is the reset seed's init stream
  void (*reset)(af_env *e, af_rng *rng);
  // turn a clipped, noised, delayed action into ctrl (and applied forces)
  void (*act)(af_env *e, const float *a);
  // optional: one physics step in place of mj_step (e.g. Gym's own integration)
  void (*physics)(af_env *e);
  void (*observe)(const af_env *e, float *obs);
  // reward of the transition that ended in the current state; sets success and terminated
  float (*reward)(af_env *e, const float *a, int *success, int *terminated);
  float (*goal_reward)(const af_env *e, const float *achieved, const float *desired);
  void (*metrics)(const af_env *e, float *m);  // environment metrics at episode end
  int (*scripted)(af_env *e, float *a);        // optional scripted controller
  // optional curriculum hook: fix the difficulty of the following resets (< 0: draw it)
  int (*set_difficulty)(af_env *e, double level);
  // optional: move the reset state to a solved configuration (for success examples) and set
  // the action that holds it while it settles (`hold`, act_dim zeros on entry)
  void (*solve)(af_env *e, af_rng *rng, float *hold);
  // mjModel arrays the environment rebuilds at reset (e.g. terrain), comma-separated
  const char *rebuilds;
} af_env_def;

struct af_env {
  const af_env_def *def;
  af_env_spec spec;
  mjModel *m0;            // nominal model as loaded (read-only)
  mjModel *m;             // this environment's model, randomized at each reset
  mjData *d;
  void *cfg;              // environment-specific config (def->params)
  void *state;            // environment-specific state (owned by def->init/free)
  af_dr dr;
  af_rng noise_rng;       // observation and action noise, seeded at reset
  uint64_t seed;          // seed of the current episode
  int t;                  // control steps taken in this episode
  int need_reset;
  int const_dirty;        // the model's derived constants come from randomized values
  double ep_return;
  long diverged_count;
  // action pipeline: noise and delay from the randomization table
  double obs_noise, act_noise;
  const float *noise_scale;  // per observation entry (obs_dim), NULL for 1 everywhere
  int delay;
  float *delay_buf;       // (AF_MAX_DELAY + 1, act_dim), sized at make
  float *act_tmp;         // (act_dim) the clipped, noised action
  float *hold;            // (act_dim) a solver's holding action for success examples
  char *cfg_json, *dr_json;
  struct af_render *render;  // pixel observations, when configured
  int render_camera;
  char err[256];
};

// the environments compiled in (one line each in envs/registry.h)
#define AF_ENV(name) extern const af_env_def af_##name##_def;
#include "envs/registry.h"
#undef AF_ENV

#endif
