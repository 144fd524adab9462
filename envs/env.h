// The armfarm environment API: a registry of MuJoCo environments by name, each with a spec,
// seeded reset, step with Gymnasium's terminated/truncated meaning, success and episode
// metrics. Actions are normalized to [-1, 1]; observations and rewards are float32.
//
// Contract for every function below unless it says otherwise:
// - `env` must not be NULL (af_env_free(NULL) is the exception, a no-op).
// - Codes are those of base/base.h: AF_OK (0) or a negative AF_ERR_*; on an error the reason
//   is in af_env_last_error(env) (make, which has no env yet, writes it into `err`).
// - Buffers are the caller's, sized from the spec: obs obs_dim floats, action act_dim floats.
//   Strings returned as `const char *` are owned by the environment (or are static).
// - Threads: one environment is used by one thread at a time; different environments may be
//   used from different threads at once (af_vecenv does). The registry functions and
//   af_env_asset_dir are thread-safe; make environments (and describe them) from one thread
//   at a time, as MuJoCo's XML loader is not documented as thread-safe.
// - MuJoCo errors: the first af_env_make installs, once per process (pthread_once), one
//   handler for MuJoCo's errors and one for its warnings (mju_user_error, mju_user_warning).
//   A MuJoCo error inside an armfarm call becomes that call's error code (AF_ERR_NUMERIC,
//   "mujoco error: ..." in the message; inside a step's physics it is a diverged episode
//   instead); a MuJoCo error outside every armfarm call goes to the handler that was installed
//   before ours, or, without one, prints one line on stderr and exits(1) as MuJoCo's default
//   does. Warnings inside armfarm calls are kept for the step's error message (printed when
//   ARMFARM_VERBOSE is set); outside, they go to the previous handler, if any. A handler
//   installed after ours replaces this: armfarm's errors then reach that handler.
// - Assets: models are loaded from the first folder of: $ARMFARM_ASSETS (taken as it is,
//   when set and not empty); the installed folder share/armfarm/assets found relative to the
//   loaded library (so a moved prefix works), then the configured install prefix's; the
//   source tree's assets/ (for use from the build tree). See af_env_asset_dir.
#ifndef AF_ENV_H
#define AF_ENV_H

#include <stddef.h>  // size_t
#include <stdint.h>  // uint64_t
#include <stdio.h>   // FILE

#include "base/base.h"  // return codes

// episode metrics per environment at most (af_episode is a flat struct); make checks it
#define AF_MAX_METRICS 6
#define AF_MAX_FRAME_STACK 16  // the most frames an observation vector stacks

typedef struct {
  const char *name;
  int obs_dim, act_dim;
  int goal_dim;               // achieved/desired goal size; 0 if not goal-conditioned
  int achieved_offset;        // where the achieved goal sits in the observation (-1 if not)
  int desired_offset;         // where the desired goal sits in the observation (-1 if not)
  double control_hz;          // control steps per simulated second
  double timestep;            // physics timestep (s)
  int frame_skip;             // physics steps per control step
  int horizon;                // control steps before truncation
  const char *success;        // what success means, in words
  const char *reward;         // what the reward is, in words
  int pixel_width, pixel_height;  // pixel observations (uint8 HWC, 3 channels); 0 when off
  int pixel_stack;            // frame_stack: frames in the observation vector (0: none), each
                              // (3, pixel_height, pixel_width) planar with values 0-255, oldest
                              // first, from entry pixel_offset on (after the state entries)
  int pixel_offset;
  int goal_image_offset;      // "goal_image": one more planar (3, pixel_height, pixel_width)
                              // frame after the stack, from entry goal_image_offset on: the
                              // episode's goal reached, as the same camera sees it (0: none)
  int proprio_dim;            // the leading state entries that are the robot's own sensing
                              // (joints, hand pose, gripper): what obs "proprio+pixels" keeps
                              // beside the frames; 0 where the environment names none
  int n_metrics;              // environment-specific episode metrics
  const char *metric_names[AF_MAX_METRICS];
} af_env_spec;

// flat episode statistics: floats with the count last, so runners can sum them blindly
typedef struct {
  float ret;                      // undiscounted return
  float length;                   // control steps
  float success;                  // 1 if the final step was a success
  float diverged;                 // 1 if the episode ended on a physics blow-up
  float metrics[AF_MAX_METRICS];  // see spec.metric_names
  float n;                        // 1 when this struct holds a finished episode
} af_episode;

typedef struct {
  int success;         // the success test holds after this step
  int diverged;        // physics blew up: episode truncated, reset needed
  af_episode episode;  // filled when this step ended the episode (episode.n == 1)
} af_info;

typedef struct af_env af_env;

// the environments compiled in, by name (envs/registry.h): the count, and the i-th name
// (static string; NULL when i is out of range)
int af_env_count(void);
const char *af_env_name(int i);

// make an environment from its name and a JSON config (NULL or "" for defaults). Returns an
// environment owned by the caller (af_env_free), or NULL with a one-line message in err
// (errsz bytes, always terminated; err must not be NULL) naming the bad name (with the
// available ones), key or value, a missing asset, or a MuJoCo error. Needs a reset before
// the first step.
af_env *af_env_make(const char *name, const char *config_json, char *err, size_t errsz);
// free everything the environment owns; NULL is a no-op
void af_env_free(af_env *env);

// the sizes and meaning of the environment (owned by env, valid until af_env_free)
const af_env_spec *af_env_get_spec(const af_env *env);

// start an episode: restore the nominal model, draw randomization and the initial state
// from `seed` alone, write the first observation (obs_dim floats; obs may be NULL).
// AF_OK, or AF_ERR_NUMERIC when MuJoCo raised an error (model constants, the environment's
// initial state or settling, forward); the episode is then not started (step refuses) and
// the next reset starts afresh.
int af_env_reset(af_env *env, uint64_t seed, float *obs);

// one control step. A NaN or infinite action returns AF_ERR_ARG and changes nothing, finite
// values outside [-1, 1] are clipped. AF_ERR_STATE before a reset or after the episode
// ended. Physics that blows up (MuJoCo's warnings, mju_error, non-finite state) is not an
// error: the episode is truncated with info->diverged set. obs (obs_dim) and info may be
// NULL; action, reward, terminated and truncated must not.
int af_env_step(af_env *env, const float *action, float *obs, float *reward,
                int *terminated, int *truncated, af_info *info);

// end the current episode as diverged without stepping, for a caller that has no valid action
// to give (a policy that produced NaN, say): the outputs are those of a step that blew up
// (reward 0, truncated, info->diverged and info->episode filled, obs the current
// observation) and the divergence is counted; the next call must be a reset. AF_ERR_STATE
// when no episode is running. info may be NULL.
int af_env_end_diverged(af_env *env, float *obs, float *reward, int *terminated, int *truncated, af_info *info);

// the current scene as a pixel observation from the configured camera into rgb
// (pixel_height, pixel_width, 3); AF_ERR_UNSUP unless "obs" includes pixels, AF_ERR_NUMERIC
// on a MuJoCo error. Makes the renderer's context current in this thread and leaves it so
// (envs/render.h: af_render_release lets another thread take it).
// With "frame_stack": K (1-16), the observation vector itself carries the pixels: after the
// state entries (none for obs "pixels"), spec.pixel_offset on, the last K frames as planar
// (3, H, W) floats 0-255, oldest first, rendered at each observation (reset, step, end of a
// diverged episode, success example); a reset, a success example and the first observation
// after af_env_set_state start the stack afresh with the current frame repeated. Frames are
// rendered only for calls that ask for the observation (obs not NULL); a rendering failure
// is returned as that call's code.
// With "goal_image": true as well, one more frame follows the stack (spec.goal_image_offset on,
// same size, camera and format): the scene with the episode's goal reached (door_open: the
// door at its goal angle, the lever at rest, the hand over the handle), posed by the
// environment on a copy of the simulation data so the episode itself is untouched; rendered
// at the first observation of an episode (and the first after af_env_set_state), then kept.
// Environments without a goal picture refuse the key at make.
int af_env_pixels(af_env *env, unsigned char *rgb);

// ---- state snapshots ----
// A snapshot is a versioned, self-describing byte blob holding an episode's whole state, so
// that stepping on from it gives bit for bit what stepping on from the moment it was taken
// gave (same actions, same observations, rewards, flags and info):
// - the physics: mjData's time, state (qpos, qvel, act, qacc_warmstart, ctrl, qfrc_applied,
//   xfrc_applied, mocap_pos/quat, userdata) and every array mj_forward computes from it as the
//   last step left them (positions, Jacobians, forces, sensordata; the controllers read them
//   before the next step), warnings and energy. Not the contacts and constraint rows: the
//   next step recomputes them; after set_state mjData holds none (ncon, nefc 0) until then;
// - the common layer: seed, step count, whether a reset is needed, the return so far, the
//   noise RNG, observation and action noise levels, the action delay and its buffer, the
//   randomization switch (af_env_set_randomize) and its draws;
// - the model: not copied. The model is a function of the seed, the config and the draws, so
//   set_state repeats the episode's reset on the target (the same code path as af_env_reset,
//   terrain and height field included), checks that it drew the same values, then applies
//   what the episode itself changed (e.g. door_open's latch, cloth_drape's clips);
// - the environment's own state (its phase, statistics, scripted controller, curriculum
//   level, the arm's command), each environment's section of the README says which.
// Not included: af_env_diverged_count (a count since make), the renderer's state, the stacked
// frames of "frame_stack" (the next observation starts the stack afresh), the goal frame of
// "goal_image" (the next observation renders it again).
// Layout: a header (magic, version, size, a 64-bit FNV-1a checksum of the rest, the
// environment's name, a hash of its resolved config, MuJoCo's version and the model's and
// spec's sizes), then the sections above, in the machine's byte order: a snapshot moves
// between environments of one build on one kind of machine (files, processes, threads).
// Sizes: af_env_state_size is fixed for a name and config (the same before and after steps).
// Ownership: the buffer is the caller's; nothing keeps a pointer into it.
// Threads: as every call on env (one thread at a time); a blob is plain bytes.

// bytes of a snapshot of env (fixed for its name and config)
size_t af_env_state_size(const af_env *env);

// write the snapshot of the current state into buf (size bytes, at least
// af_env_state_size); the environment is not changed. AF_ERR_STATE before the first
// successful reset (no episode), AF_ERR_ARG if buf is NULL or too small.
int af_env_get_state(const af_env *env, void *buf, size_t size);

// restore a snapshot into env, which must have been made with the same name and config
// (any environment so made: a fresh one, the one it came from, one in another episode);
// its randomization switch and curriculum level become the snapshot's. AF_ERR_ARG, with
// env unchanged, for a NULL or truncated buffer, a bad magic, version or checksum, or a
// snapshot of another environment, config, MuJoCo version or size (the message says which).
// AF_ERR_NUMERIC on a MuJoCo error while repeating the reset, AF_ERR_ARG if the repeated
// reset drew other values than the snapshot's: env then needs a reset.
int af_env_set_state(af_env *env, const void *buf, size_t size);

// the goal part of the reward for an achieved and desired goal (goal_dim floats each);
// sparse rewards are exactly this; dense rewards add a goal-independent shaping term, so a
// relabelled reward is r - compute_reward(ag, g_old) + compute_reward(ag, g_new). 0 for
// environments without goals.
float af_env_compute_reward(const af_env *env, const float *achieved, const float *desired);

// the environment's scripted controller's action for the current state (act_dim floats, for
// tests and baselines); AF_ERR_UNSUP if none, AF_ERR_NUMERIC on a MuJoCo error
int af_env_scripted_action(af_env *env, float *action);

// K observations of successful outcomes for reward learning (e.g. VICE): example k resets
// with a seed derived from `seed` and k, sets the state to a solved configuration, lets it
// settle for a second under the environment's holding action, and keeps it if the success
// test then holds.
// obs (count, obs_dim). AF_ERR_UNSUP if the environment has no solver; AF_ERR_STATE if the
// success test kept failing after settling; AF_ERR_NUMERIC on a MuJoCo error. The
// environment needs a reset afterwards.
int af_env_success_examples(af_env *env, uint64_t seed, int count, float *obs);

// curriculum hook: fix the difficulty in [0, 1] of the following resets, or a negative level
// to draw it from the randomization table again; AF_ERR_UNSUP if the environment has none,
// AF_ERR_ARG above 1 or NaN, AF_ERR_NUMERIC on a MuJoCo error
int af_env_set_difficulty(af_env *env, double level);

// evaluation over spread tasks: the following resets set the task entry `name` of the
// randomization table (a door's goal_angle, say) to point k of n evenly spaced over its
// range, ends included, in place of a random draw (every other entry is drawn as before);
// n = 0 draws it again (name unused). AF_ERR_ARG for a name that is no task entry, or
// unless n = 0 or n >= 2 and 0 <= k < n.
int af_env_set_task_spread(af_env *env, const char *name, int k, int n);

// the last error message (e.g. why a step was refused); "" after a successful reset.
// Owned by env, overwritten by the next failing call.
const char *af_env_last_error(const af_env *env);

// blow-ups seen since make
long af_env_diverged_count(const af_env *env);

// randomization values drawn for the current episode, as a JSON object string {name: value
// or [values]} of every table entry (inactive ones at their nominal). Owned by env, valid
// until the next call of this function or af_env_free.
const char *af_env_randomization_json(af_env *env);

// entry i of the randomization table (0 <= i, until it returns NULL): its name (static), and
// through the pointers that are not NULL whether it is drawn this episode (its group on, or
// a task entry), its first drawn value and how many values it draws (targets x components)
const char *af_env_randomization_param(const af_env *env, int i, int *active, double *first, int *count);

// the resolved configuration (defaults filled in), as a JSON string (owned by env, valid
// until af_env_free); make accepts it back
const char *af_env_config_json(af_env *env);

// print the environment's description, spaces, config table and (verbose) randomization
// table to f; 0, or -1 after one line on stderr when the environment cannot be made
int af_env_describe(FILE *f, const char *name, int verbose);

// read-only views of the environment's MuJoCo model (as randomized for the current episode)
// and data, for viewers, recorders and benchmarks. Owned by env; valid until af_env_free;
// their contents change at each reset and step, so do not read them while another thread
// steps the environment. (MuJoCo's mjv_updateScene takes a non-const mjData for its scratch
// stack only; a viewer may pass this one to it from the thread that steps the environment.)
struct mjModel_;
struct mjData_;
const struct mjModel_ *af_env_model(const af_env *env);
const struct mjData_ *af_env_data(const af_env *env);

// switch domain randomization on or off for the following resets (a viewer's key); the
// groups and ranges stay as configured. af_env_randomize_enabled reads the switch.
void af_env_set_randomize(af_env *env, int enabled);
int af_env_randomize_enabled(const af_env *env);

// the folder models are loaded from, in the lookup order above, written into buf (n bytes)
// and returned; NULL when no candidate folder exists. Thread-safe (reads the environment).
const char *af_env_asset_dir(char *buf, size_t n);

// install armfarm's MuJoCo error and warning handlers (see the top of this file); once per
// process however often it is called, thread-safe. af_env_make calls it; call it yourself
// only to have the handlers in place before making any environment.
void af_mujoco_handlers_install(void);

#endif
