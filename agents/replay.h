// Replay buffer: a fixed-capacity ring of transitions (obs, action, reward, next obs,
// terminated) in one allocation, uniform sampling from the caller's RNG, save and load.
// Goal-conditioned environments also store the achieved and desired goals of next_obs, and
// the buffer can relabel them (hindsight experience replay, Andrychowicz et al. 2017): once
// configured with af_replay_her_setup at the agent's make, af_replay_sample rewrites the
// desired goal of a fraction k/(k+1) of the sampled transitions with a goal achieved in the
// same episode and recomputes their reward, so every off-policy agent gets relabelling
// through the same two calls, af_replay_add and af_replay_sample.
//
// Episodes. Transitions are added in turn by `streams` environments (the agent's N: the
// c-th transition ever added comes from environment c % streams, as agents add a batch's
// transitions in environment order). A stream's episode goes on while each transition's obs
// is, bit for bit, the previous transition's next_obs; it ends on a terminated transition,
// and a truncated one is seen as ended when the stream's next transition starts elsewhere
// (until then it counts as running, which samples the same goals: nothing follows it). Each
// transition stores its position in its episode and, once the episode ended, the episode's
// length; a running episode has what it holds so far.
#ifndef AF_REPLAY_H
#define AF_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "agents/agent.h"  // af_agent_setup, af_param
#include "base/rng.h"

#define AF_REPLAY_MAX 10000000  // counters are saved as floats: exact up to 2^24

// relabelling strategies (the goal a relabelled transition gets): none; an achieved goal of
// the same episode at or after the transition (future); the episode's last achieved goal
// (final); any achieved goal of the episode still in the buffer (episode)
enum { AF_HER_NONE, AF_HER_FUTURE, AF_HER_FINAL, AF_HER_EPISODE };

// the goal part of the environment's reward (af_env_compute_reward through a context)
typedef float (*af_goal_reward_fn)(const void *ctx, const float *achieved, const float *desired);

typedef struct {
  int strategy;                         // AF_HER_*
  int k;                                // relabelled per real sample: a fraction k/(k+1) relabelled
  int streams;                          // environments adding in turn (>= 1)
  int achieved_offset, desired_offset;  // the goal layout in obs and next_obs
  af_goal_reward_fn reward;             // required unless strategy is none
  const void *reward_ctx;               // borrowed; must outlive the buffer
} af_her_cfg;

typedef struct {
  long cap, size, pos;
  int obs_dim, act_dim, goal_dim;
  float *obs, *act, *rew, *next_obs, *done, *ag, *dg;  // carved from mem
  float *ep_pos, *ep_len;  // (cap): position in the episode, its length once ended (0: running)
  float *mem;
  // episode tracking: transitions added ever, and per stream the running episode's length
  // and its last next_obs (streams, obs_dim)
  uint64_t added;
  af_her_cfg her;
  int *cur_len;
  float *last_next;
  // a learned reward replacing the stored one at sampling (NULL: none)
  af_reward_hook hook;
  void *hook_ctx;
} af_replay;

// a buffer of cap transitions (1..AF_REPLAY_MAX) in one allocation owned by r; 0, or -1 with a
// message. Not thread-safe: one thread adds and samples.
int af_replay_init(af_replay *r, long cap, int obs_dim, int act_dim, int goal_dim, char *err, size_t errsz);
void af_replay_free(af_replay *r);  // safe on a zeroed or freed buffer

// relabelling and the number of streams; call after init, before the first add. Needs a
// goal-conditioned buffer unless strategy is none. 0, or -1 with a message
int af_replay_set_her(af_replay *r, const af_her_cfg *c, char *err, size_t errsz);

// sampled rewards from hook(ctx, ...) instead of the stored ones (hook NULL: stored ones
// again); ctx is borrowed and must outlive the buffer's sampling
void af_replay_set_reward_hook(af_replay *r, af_reward_hook hook, void *ctx);
// ag, dg may be NULL when goal_dim is 0
void af_replay_add(af_replay *r, const float *obs, const float *act, float rew, const float *next_obs, int terminated,
                   const float *ag, const float *dg);

// the N transitions of a batch in environment order (what an off-policy agent's observe
// does). A diverged step (info.diverged: a blow-up, or an episode ended for a non-finite
// action) is stored as the end of its episode that never bootstraps: its next observation is
// a reset state, not the step's outcome, so its done flag is 1; non-finite action entries are
// stored as 0.
void af_replay_add_batch(af_replay *r, const af_batch *b);

// B transitions drawn uniformly with replacement; outputs (B, dim) each (left untouched when
// the buffer is empty: agents sample only once it holds transitions). With relabelling,
// a drawn transition is relabelled with probability k/(k+1): the desired goal in obs and
// next_obs becomes g, an achieved goal of its episode, and the reward becomes
// r - reward(ag, g_old) + reward(ag, g) with ag the transition's achieved goal (exactly
// reward(ag, g) for a sparse reward, which is reward(ag, g_old)); done stays the stored
// terminated flag. That is the HER convention, and right here because termination does not
// depend on the goal: puck_push and door_open never terminate (success does not end their
// episodes, only the horizon does). An environment that terminated on success would need
// done recomputed for the new goal; none does. With observation noise on, the achieved goal
// is the observed one (noisy) while the stored reward came from the true state, so a sparse
// relabelled reward can then be off by the noise's effect on the success test.
void af_replay_sample(const af_replay *r, af_rng *rng, int B, float *obs, float *act, float *rew, float *next_obs, float *done);
// the same, and for each sample its ring index and the ring index whose achieved goal
// became its goal (-1: not relabelled); index and goal_from may be NULL
void af_replay_sample_ex(const af_replay *r, af_rng *rng, int B, float *obs, float *act, float *rew, float *next_obs,
                         float *done, long *index, long *goal_from);

// the filled rows and the episode state to a checkpoint file (atomically); 0 or -1 with a message
int af_replay_save(const af_replay *r, const char *path, char *err, size_t errsz);
// the buffer must have the capacity, sizes and streams it was saved with; every count, size
// and episode position is checked against it before use (the ring's counters must agree with
// the transitions added, each stored position must lie inside its episode, done flags are 0
// or 1); 0, or -1 with a message naming the problem. A file refused for its header leaves the
// buffer as it was; any later refusal leaves it empty.
int af_replay_load(af_replay *r, const char *path, char *err, size_t errsz);

// ---- the relabelling hyperparameters every off-policy agent shares ----
// An agent puts an af_her_params in its config struct, appends AF_HER_PARAMS(its cfg type,
// the field) to its af_param table, and calls af_replay_her_setup after af_replay_init.
typedef struct {
  int her;    // AF_HER_*
  int her_k;
} af_her_params;

#define AF_HER_PARAMS(cfg_type, field)                                                                          \
  {"her", AF_P_ENUM, offsetof(cfg_type, field.her), 0, 0, 3, "none|future|final|episode",                       \
   "hindsight relabelling of sampled goals (goal-conditioned environments)"},                                  \
  {"her_k", AF_P_INT, offsetof(cfg_type, field.her_k), 4, 1, 64, NULL,                                         \
   "relabelled goals per real one: a fraction her_k/(her_k+1) of sampled transitions is relabelled"}

// configure r for the agent's setup: streams = num_envs, the spec's goal layout, the
// reward through setup->env. A clear error when relabelling is asked for an environment
// without goals or without setup->env. 0, or -1 with a message
int af_replay_her_setup(af_replay *r, const af_her_params *p, const af_agent_setup *setup, char *err, size_t errsz);

#endif
