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

#include <string.h>  // memcpy: the state walker

#define AF_MAX_DELAY 16

// ---- state snapshots: every part of a snapshot is listed once with this walker ----
// One walk over the fields sizes a snapshot (buf NULL), saves it (load 0: environment to
// buf) or loads it (load 1: buf to environment). Fields past `size` are counted, not copied.
typedef struct af_state_io {
  unsigned char *buf;  // NULL while sizing
  size_t pos, size;    // cursor and buffer size (bytes)
  int load;            // 1: from buf into the environment
} af_state_io;

static inline void af_state_bytes(af_state_io *io, void *field, size_t n) {
  if (io->buf && n > 0 && io->pos + n <= io->size) {
    if (io->load) memcpy(field, io->buf + io->pos, n);
    else memcpy(io->buf + io->pos, field, n);
  }
  io->pos += n;
}
#define AF_STATE_FIELD(io, x) af_state_bytes((io), &(x), sizeof(x))

// one environment: a const table of functions, like MuJoCo's mjpPlugin
typedef struct af_env_def {
  const char *name, *description, *success, *reward_text;
  const char *asset;                   // MJCF file under assets/
  const char *camera;                  // optional: the camera made for learning from pixels, the
                                       // default of pixel observations (else the model's first)
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
  // optional: pose d, a copy of the episode's data, to show the episode's goal reached (for
  // "goal_image"); the common layer runs mj_forward on it and renders it. Must change neither
  // e's state nor e->d (the episode goes on as if nothing was drawn)
  void (*show_goal)(const af_env *e, mjData *d);
  // mjModel arrays the environment rebuilds at reset (e.g. terrain), comma-separated
  const char *rebuilds;
  // optional: the environment's own episode state for snapshots (af_env_get_state), listed
  // once with af_state_bytes: what its steps change in e->state and in the model (a latch's
  // joint range, clips' eq_active). Loading runs after the common layer repeated the
  // episode's reset from its seed and draws and restored mjData; after reading its fields the
  // hook rebuilds what follows from them. Saving must change nothing. AF_OK or a code with a
  // message in e->err. Without it, the environment has no state beyond its reset's.
  int (*state)(af_env *e, af_state_io *io);
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
  int started;            // the last reset succeeded (an episode to snapshot)
  int ep_randomize;       // the randomization switch as the last reset found it
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
  int state_dim;             // the state entries of the observation (the frames follow them)
  float *full_state;         // obs proprio+pixels: the environment's whole state vector, of
                             // which the observation keeps the first state_dim entries
  int stack;                 // frames in the observation vector (0: none)
  unsigned char *frames;     // (stack, H, W, 3) their ring, as rendered
  int frame_head;            // the ring slot the next frame goes to
  int stack_fresh;           // the next observation starts the stack afresh (reset, restored state)
  int render_camera;
  mjData *goal_d;            // "goal_image": the copy of e->d the goal is posed and rendered on
  unsigned char *goal_frame; // (H, W, 3) the episode's goal frame, as rendered
  int goal_fresh;            // the goal frame is this episode's (cleared at reset and set_state)
  char err[256];
};

// the environments compiled in (one line each in envs/registry.h)
#define AF_ENV(name) extern const af_env_def af_##name##_def;
#include "envs/registry.h"
#undef AF_ENV

#endif
