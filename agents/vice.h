// Rewards learned from success examples: a classifier over observations trained to tell a few
// examples of success (positives) from the states the agent visits (negatives), its logit
// given to an off-policy agent as the reward through the agent's reward hook
// (af_agent_set_reward_hook). Three modes, and a baseline without a classifier:
//   naive     trained on the examples and the states of the first naive_steps steps, then
//             frozen: the classifier the learner exploits (Fu et al. 2018, the baseline)
//   vice      VICE: every visited state is a negative, and the classifier keeps training
//             (updates_per_1k updates per 1,000 environment steps)
//   vice_raq  VICE-RAQ (Singh et al. 2019): also, every query_every epochs of 1,000 steps, the
//             visited state of the latest epoch with the highest learned reward is labelled
//             by the environment's own success test (an oracle, counted and budgeted by
//             max_queries); a confirmed success joins the positives
//   hand_distance  no classifier: the reward is minus the distance of the hand (observation
//             entries hand_offset.. +2) to the nearest example's hand position, the no-vision
//             baseline of the talk's cloth experiment; its "probability" is 1 within
//             hand_success_dist of one, else 0
// Each update is one step of Adam on a batch of `batch` positives and `batch` negatives mixed
// up (Zhang et al. 2018: x = l x_a + (1 - l) x_b, y = l y_a + (1 - l) y_b, l ~ Beta(a, a),
// b a random partner of the batch) under the binary cross-entropy of the logit.
// The true success of visited states is stored beside them and read only by a query.
#ifndef AF_VICE_H
#define AF_VICE_H

#include <stddef.h>  // size_t
#include <stdint.h>  // uint8_t, uint64_t

#include "agents/agent.h"  // af_reward_hook
#include "base/config.h"
#include "envs/env.h"

enum { AF_VICE_NAIVE, AF_VICE_VICE, AF_VICE_RAQ, AF_VICE_HAND };

typedef struct {
  int mode;                 // AF_VICE_*
  int examples;             // success examples given (positives)
  char examples_file[AF_P_STRING_MAX];  // "" : from the environment's solver; else a CSV of armfarm examples
  int hidden, layers;       // the classifier MLP
  double lr;                // Adam
  int updates_per_1k;       // classifier updates per 1,000 environment steps (vice, vice_raq)
  int batch;                // positives per update (and as many negatives)
  double mixup_alpha;       // Beta(alpha, alpha) of the mixing weight; 0: no mixup
  int naive_steps;          // naive: the steps whose states are the negatives
  int naive_updates;        // naive: the updates made then, before freezing
  int query_every;          // vice_raq: epochs between queries
  int max_queries;          // vice_raq: the oracle's budget
  double reward_clip;       // the reward is the logit clipped to [-reward_clip, reward_clip]
  int capacity;             // visited states kept (a ring)
  int hand_offset;          // hand_distance: the hand position's first observation entry
  double hand_success_dist; // hand_distance: within this of an example's hand, a "success"
} af_vice_cfg;

extern const af_param af_vice_params[];
extern const int af_vice_nparams;

// defaults, then the keys of the run document's "reward" section; 0, or -1 with a one-line
// message naming the key
int af_vice_configure(af_vice_cfg *c, const cJSON *section, char *err, size_t errsz);

typedef struct af_vice af_vice;

// a reward learner for observations of spec (borrowed, must outlive it). The positives come
// from af_env_success_examples(env, seed, examples) (env: an environment of the same kind,
// not being stepped; it needs a reset afterwards) or from the examples file. hook_batch is the
// batch size the agent samples (the hook's B), n_envs the environments observed per step.
// NULL with a message.
af_vice *af_vice_make(const af_vice_cfg *c, const af_env_spec *spec, af_env *env, uint64_t seed, int hook_batch, int n_envs,
                      char *err, size_t errsz);
void af_vice_free(af_vice *v);  // NULL is a no-op

// the reward hook to give the agent (ctx: the af_vice)
void af_vice_reward_hook(void *ctx, int B, const float *obs, const float *act, const float *next_obs, float *rew);

// n visited states (the observations the step produced, n == n_envs) with their true
// success (read only by queries); then the updates and the query that are due. AF_OK, or
// AF_ERR_NUMERIC with a message when the classifier failed
int af_vice_observe(af_vice *v, const float *next_obs, const uint8_t *success, int n, char *err, size_t errsz);

// the classifier's probability of success for one observation, and its logit
double af_vice_prob(af_vice *v, const float *obs);

typedef struct {
  long updates, skipped;    // classifier updates made; skipped for a non-finite loss
  int positives, queries, confirmed;  // positives now (examples and confirmed queries), oracle calls, successes among them
  float loss;               // of the last update
  int frozen;               // naive: training is over
} af_vice_stats;
void af_vice_get_stats(const af_vice *v, af_vice_stats *s);

// everything (classifier, optimizer, positives, visited states, counters, RNG) to a checkpoint
// file and back into a reward learner made with the same configuration; 0, or -1 with a message
int af_vice_save(const af_vice *v, const char *path, char *err, size_t errsz);
int af_vice_load(af_vice *v, const char *path, char *err, size_t errsz);

// for tests: the loss of the last update over its mixed batch, recomputed from the batch
// the update used: x (2 batch, obs_dim), y (2 batch); pointers into the learner
void af_vice_last_batch(const af_vice *v, const float **x, const float **y, int *n);

#endif
