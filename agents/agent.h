// The agent interface every learner implements, second version: batched acting over N
// environments, batched transitions that carry truncation, the step's info and the goals of
// goal-conditioned tasks, and an update schedule the agent owns (off-policy agents update per
// environment step, on-policy agents after a rollout). Each agent's hyperparameters are one
// table of fields (base/config.h) with defaults and ranges, validated with one-line errors
// and printed by --help; the keys every agent shares (threads, flush_denormals) come from one
// common table.
#ifndef AF_AGENT_H
#define AF_AGENT_H

#include <stdint.h>  // uint64_t, uint8_t
#include <stdio.h>   // FILE

#include "agents/nn/nn.h"
#include "base/config.h"
#include "envs/env.h"

// what an agent is made for. spec is required and must outlive the agent; env is optional
// (NULL: none), borrowed, and must outlive the agent: it is an environment of the same kind
// that is not being stepped, through which the agent reaches af_env_compute_reward (goal
// relabelling) and af_env_success_examples (reward learning).
typedef struct {
  const af_env_spec *spec;
  int num_envs;   // N: the batch size of act and observe during training (>= 1)
  uint64_t seed;  // every random draw of the agent derives from it
  af_env *env;
  long total_steps;  // the training budget in environment steps over all environments, when
                     // the caller knows it (0: unknown); schedules such as PPO's step-size
                     // annealing run over it
  // optional (NULL: none): a line of progress now and then from long work inside one call
  // (qtopt's offline pretraining), for the caller to show; ctx is passed back
  void (*progress)(void *ctx, const char *line);
  void *progress_ctx;
} af_agent_setup;

// N transitions, one per environment, in environment order. next_obs is the observation the
// step produced: for an environment whose episode ended it is the episode's last one, not the
// first of the next episode. achieved and desired are the goals in next_obs (the spec's
// layout), NULL when the environment is not goal-conditioned. All arrays are the caller's and
// only read during the call.
typedef struct {
  int n;
  const float *obs;          // (n, obs_dim)
  const float *act;          // (n, act_dim): the actions given to the environments
  const float *reward;       // (n)
  const float *next_obs;     // (n, obs_dim)
  const uint8_t *terminated; // (n): the episode ended in a terminal state (no bootstrap)
  const uint8_t *truncated;  // (n): the episode was cut (horizon, divergence): bootstrap
  const af_info *info;       // (n): success, diverged
  const float *achieved;     // (n, goal_dim) or NULL
  const float *desired;      // (n, goal_dim) or NULL
} af_batch;

typedef struct {
  int updates;        // gradient updates done by this call
  int skipped;        // of them, updates skipped (in whole or in part) because a loss or a
                      // gradient was not finite: nothing non-finite reaches the parameters
  float critic_loss;  // of the last update
  float actor_loss;
  float alpha;        // entropy temperature
  float entropy;      // minus the mean log-probability of the policy's actions
} af_agent_stats;

// one agent: a const table of functions, registered by one line in agents/registry.h.
// Every function returning int gives AF_OK or an error code with a message in err (make,
// save, load) or in the agent's last error (act, observe, update: af_agent_last_error).
// act, observe and update allocate nothing.
// the keys every agent has (agent.threads, agent.flush_denormals, agent.small_kernel)
typedef struct {
  int threads;          // threads of the network numerics
  int flush_denormals;  // flush denormal floats to zero in the numerics
  int small_kernel;     // small networks on the own product (af_nn_ctx_set_kernels)
} af_agent_common;

// the network context an agent's settings ask for (threads, denormals, kernels); NULL with a
// message as af_nn_ctx_make
af_nn_ctx *af_agent_nn_ctx(const af_agent_common *common, char *err, size_t errsz);

// the deterministic policy as plain dense layers, for export (armfarm export, armfarm
// policy): x = obs, normalized as clip((x - mean) / std, -clip, clip) when mean is not NULL,
// then each layer x = act(x W + b) (W (in, out) row-major), then the action is the first
// act_dim entries of x, through tanh when squash is 1, clipped to [-1, 1] when squash is 2. The pointers are into the agent's own
// parameters: valid until its next update, load or free.
#define AF_POLICY_MAX_LAYERS 8
typedef struct {
  int in, out;
  int act;  // 0 none, 1 relu, 2 tanh (the network core's af_act)
  const float *w, *b;
} af_policy_layer;

typedef struct {
  int obs_dim, act_dim;
  const float *mean, *std;  // (obs_dim) each, or NULL: no normalization
  float clip;
  int nlayers;
  af_policy_layer layer[AF_POLICY_MAX_LAYERS];
  int squash;  // 0 none, 1 tanh, 2 clip to [-1, 1]
} af_policy;

// for agent implementations: a policy over a network of the core (its layers as they are),
// normalized by mean/std/clip (mean NULL: none); AF_ERR_ARG with a message when the network
// has more layers than an af_policy holds
struct af_mlp;
int af_policy_from_mlp(af_policy *p, int obs_dim, int act_dim, struct af_mlp *net, const float *mean, const float *std, float clip,
                       int squash, char *err, size_t errsz);

// a learned reward (agents/vice.h: a classifier's logit) for B transitions the agent learns
// from: rew (B) overwritten; it must allocate nothing. Off-policy agents apply it to every
// batch they sample from their replay, after relabelling.
typedef void (*af_reward_hook)(void *ctx, int B, const float *obs, const float *act, const float *next_obs, float *rew);

typedef struct af_agent_def {
  const char *name, *description;
  const af_param *params;
  int nparams;
  size_t cfg_size;
  // cfg: the agent's own table filled in; common: the keys every agent has
  void *(*make)(const void *cfg, const af_agent_setup *setup, const af_agent_common *common, char *err, size_t errsz);
  void (*free)(void *a);
  // actions (n, act_dim) in [-1, 1] for obs (n, obs_dim); n is 1 or setup.num_envs
  int (*act)(void *a, float *actions, const float *obs, int n, int deterministic, char *err, size_t errsz);
  int (*observe)(void *a, const af_batch *batch, char *err, size_t errsz);
  // whatever learning is due after the transitions observed so far
  int (*update)(void *a, af_agent_stats *stats, char *err, size_t errsz);
  int (*save)(void *a, const char *path, char *err, size_t errsz);
  int (*load)(void *a, const char *path, char *err, size_t errsz);
  // the agent's experience (replay buffer) for resuming (optional)
  int (*save_replay)(void *a, const char *path, char *err, size_t errsz);
  int (*load_replay)(void *a, const char *path, char *err, size_t errsz);
  // the deterministic policy as dense layers (optional: NULL for an agent without one)
  int (*policy)(void *a, af_policy *out, char *err, size_t errsz);
  // learn from hook's rewards instead of the environment's (optional: NULL for an agent
  // that cannot)
  void (*set_reward_hook)(void *a, af_reward_hook hook, void *ctx);
  // pictures or tables of what the agent has learned, into folder dir (optional: NULL for an
  // agent with none); must not change the agent's state
  int (*write_artifacts)(void *a, const char *dir, char *err, size_t errsz);
} af_agent_def;

typedef struct af_agent af_agent;

// the registry: names in agents/registry.h order
int af_agent_count(void);
const char *af_agent_name(int i);  // NULL when i is out of range
// "sac, td3, ..." for messages and help texts (static storage)
const char *af_agent_names(void);

// make an agent from its name, a JSON object of hyperparameters (NULL or "" for defaults)
// and its setup; NULL with a one-line message naming the bad agent, key or value.
// The agent owns its copy of the configuration; setup's pointers are borrowed.
af_agent *af_agent_make(const char *name, const char *config_json, const af_agent_setup *setup, char *err, size_t errsz);
void af_agent_free(af_agent *a);  // NULL is a no-op

// actions (n, act_dim) for observations (n, obs_dim), n being 1 or setup.num_envs; stochastic
// (exploring) or deterministic (for evaluation). AF_ERR_ARG for another n; AF_ERR_NUMERIC
// when the network core failed. Not thread-safe: one thread uses an agent at a time.
int af_agent_act(af_agent *a, float *actions, const float *obs, int n, int deterministic);
// N transitions of the environments being trained on (batch->n == setup.num_envs)
int af_agent_observe(af_agent *a, const af_batch *batch);
// the learning that is due (possibly none); stats describes it (stats->updates == 0: none)
int af_agent_update(af_agent *a, af_agent_stats *stats);
// why the last act, observe or update failed
const char *af_agent_last_error(const af_agent *a);

// networks, optimizer state, counters and RNG state to a checkpoint file (atomically), and
// back into an agent made with the same configuration; 0, or -1 with a message. A load checks
// the file's structure and checksum before it changes anything, then the counters, RNG state
// and observation statistics the file gives; after a refusal at that last step the networks
// may hold the file's weights: free such an agent. A replay load that fails leaves the buffer
// empty.
int af_agent_save(af_agent *a, const char *path, char *err, size_t errsz);
int af_agent_load(af_agent *a, const char *path, char *err, size_t errsz);
// the agent's experience (replay buffer) for resuming; 0 and nothing written if it has none
int af_agent_save_replay(af_agent *a, const char *path, char *err, size_t errsz);
int af_agent_load_replay(af_agent *a, const char *path, char *err, size_t errsz);

// the deterministic policy as dense layers (see af_policy); AF_ERR_ARG with a message for an
// agent that has none in that form
int af_agent_policy(af_agent *a, af_policy *out, char *err, size_t errsz);

// learn from hook(ctx, ...)'s rewards instead of the environment's (NULL: the environment's
// again); ctx is borrowed and must outlive the agent's updates. AF_ERR_UNSUP with a message
// for an agent without a replay to apply it to
int af_agent_set_reward_hook(af_agent *a, af_reward_hook hook, void *ctx, char *err, size_t errsz);

// the agent's pictures or tables of what it has learned into folder dir (the trainer calls it
// at every checkpoint with the run folder; Skew-Fit writes its VAE's reconstructions and
// samples); AF_OK and nothing written for an agent that has none
int af_agent_write_artifacts(af_agent *a, const char *dir, char *err, size_t errsz);

// the resolved hyperparameters as JSON, common keys included (owned by the agent)
const char *af_agent_config_json(const af_agent *a);
// the agent's own state, for agent-specific tools and tests
void *af_agent_impl(af_agent *a);

// the hyperparameter table of an agent, for --help; -1 if unknown
int af_agent_describe(FILE *f, const char *name);

#endif
