// The armfarm environment API: a registry of MuJoCo environments by name, each with a spec,
// seeded reset, step with Gymnasium's terminated/truncated meaning, success and episode
// metrics. Actions are normalized to [-1, 1]; observations and rewards are float32.
#ifndef AF_ENV_H
#define AF_ENV_H

#include <stddef.h>  // size_t
#include <stdint.h>  // uint64_t
#include <stdio.h>   // FILE

#include "base/base.h"  // return codes

#define AF_MAX_METRICS 6

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

// the environments, by name
int af_env_count(void);
const char *af_env_name(int i);

// make an environment from its name and a JSON config (NULL or "" for defaults);
// NULL with a one-line message naming the bad name, key or value on failure
af_env *af_env_make(const char *name, const char *config_json, char *err, size_t errsz);
void af_env_free(af_env *env);

const af_env_spec *af_env_get_spec(const af_env *env);

// start an episode: restore the nominal model, draw randomization and the initial state
// from `seed` alone, write the first observation (obs_dim floats)
int af_env_reset(af_env *env, uint64_t seed, float *obs);

// one control step; a NaN or infinite action returns AF_ERR_ARG and changes nothing,
// finite values outside [-1, 1] are clipped
int af_env_step(af_env *env, const float *action, float *obs, float *reward,
                int *terminated, int *truncated, af_info *info);

// the current scene as a pixel observation from the configured camera into rgb
// (pixel_height, pixel_width, 3); AF_ERR_UNSUP unless "obs" includes pixels
int af_env_pixels(af_env *env, unsigned char *rgb);

// the goal part of the reward for an achieved and desired goal (goal_dim floats each);
// sparse rewards are exactly this; dense rewards add a goal-independent shaping term, so a
// relabelled reward is r - compute_reward(ag, g_old) + compute_reward(ag, g_new)
float af_env_compute_reward(const af_env *env, const float *achieved, const float *desired);

// the environment's scripted controller (for tests and baselines); AF_ERR_UNSUP if none
int af_env_scripted_action(af_env *env, float *action);

// K observations of successful outcomes for reward learning (e.g. VICE): example k resets
// with a seed derived from `seed` and k, sets the state to a solved configuration, lets it
// settle for a second under the environment's holding action, and keeps it if the success
// test then holds.
// obs (count, obs_dim). AF_ERR_UNSUP if the environment has no solver; AF_ERR_STATE if the
// success test kept failing after settling.
int af_env_success_examples(af_env *env, uint64_t seed, int count, float *obs);

// curriculum hook: fix the difficulty in [0, 1] of the following resets, or a negative level
// to draw it from the randomization table again; AF_ERR_UNSUP if the environment has none
int af_env_set_difficulty(af_env *env, double level);

// the last error message (e.g. why a step was refused)
const char *af_env_last_error(const af_env *env);

// blow-ups seen since make
long af_env_diverged_count(const af_env *env);

// randomization values drawn for the current episode, as a JSON object string (owned by env)
const char *af_env_randomization_json(af_env *env);

// the resolved configuration (defaults filled in), as a JSON string (owned by env)
const char *af_env_config_json(af_env *env);

// print the environment's description, spaces, config table and randomization table
int af_env_describe(FILE *f, const char *name, int verbose);

// read-only views of the environment's MuJoCo model (as randomized for the current episode)
// and data, for viewers, recorders and benchmarks. Owned by env; valid until af_env_free;
// their contents change at each reset and step, so do not read them while another thread
// steps the environment.
struct mjModel_;
struct mjData_;
const struct mjModel_ *af_env_model(const af_env *env);
const struct mjData_ *af_env_data(const af_env *env);

// switch domain randomization on or off for the following resets (a viewer's key); the
// groups and ranges stay as configured
void af_env_set_randomize(af_env *env, int enabled);

// one function receives MuJoCo's warnings and errors; installed by af_env_make
void af_mujoco_handlers_install(void);

#endif
