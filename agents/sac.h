// Soft Actor-Critic: twin Q networks with Polyak-averaged targets, a tanh-squashed Gaussian
// actor with the exact log-probability correction, a learned temperature with target entropy
// -|A|, uniform random warm-up, configurable updates per environment step.
#ifndef AF_SAC_H
#define AF_SAC_H

#include "agents/agent.h"
#include "agents/nn/nn.h"
#include "agents/normalizer.h"
#include "agents/replay.h"

typedef struct {
  double lr, gamma, tau, init_alpha, grad_clip, log_std_min, log_std_max;
  int batch, hidden, layers, buffer, warmup, updates_per_step, update_every, learn_alpha;
  af_her_params her;    // hindsight relabelling in the replay (the keys every off-policy agent has)
  af_norm_params norm;  // observation normalization
} af_sac_cfg;

// skipped (when applying): 0 all steps taken; 1 the critic loss or gradients were not finite,
// nothing changed; 2 the actor's or temperature's were not, only the critic step was taken
typedef struct {
  float critic_loss, actor_loss, alpha_loss, entropy;
  int skipped;
} af_sac_losses;

typedef struct af_sac {
  af_sac_cfg cfg;
  int od, ad, B;
  int N;                       // environments per act and observe
  int gd, achieved_offset, desired_offset;  // the goal layout (gd 0: none)
  float target_entropy;
  af_nn_ctx *ctx;
  af_mlp *actor, *q1, *q2, *q1t, *q2t;
  af_adam opt_actor, opt_q1, opt_q2, opt_alpha;
  float log_alpha, log_alpha_grad;
  af_replay replay;
  af_normalizer norm;          // used when cfg.norm.obs_norm
  af_rng rng;
  long observed;
  int due;                     // updates owed by the transitions observed so far
  // batch and scratch, sized at make: (B, od) (B, ad) (B) ...
  float *obs, *act, *rew, *next_obs, *done, *qin, *qin_next, *eps_next, *eps_pi;
  float *a_pi, *work_pi, *sd_pi, *logp, *logp_next, *y, *dq1, *dq2, *dqin1, *dqin2, *dact;
  float *act_eps, *act_work, *act_sd, *act_logp;  // acting scratch (N, ad) and (N)
  float *act_obs;                              // normalized observations to act on (N, od)
} af_sac;

// the gradients of the three SAC losses for a given batch and given standard-normal draws
// (eps_next for the target's next actions, eps_pi for the policy's actions), without any
// parameter change: critic grads into q1/q2, actor grads into actor, temperature grad into
// log_alpha_grad. Used by update and by the gradient checks.
void af_sac_grads(af_sac *s, const float *obs, const float *act, const float *rew, const float *next_obs,
                  const float *done, const float *eps_next, const float *eps_pi, int apply, af_sac_losses *out);

// `updates` gradient updates on batches drawn from the replay, whatever the schedule says
// (update calls it with the updates that are due; benchmarks call it directly); AF_OK, or
// AF_ERR_NUMERIC when the network core failed
int af_sac_learn(af_sac *s, int updates, af_agent_stats *stats);

// the agent's state for a checkpoint (networks, moments, temperature, counters in `words`,
// the observation statistics), at most AF_SAC_MAX_TENSORS tensors: what save writes and load
// reads, for agents built on SAC that save it inside their own file. af_sac_pack fills words
// (and the statistics' tensor) before a save; af_sac_unpack checks and takes them after a
// load (0, or -1 with a message naming path)
#define AF_SAC_MAX_TENSORS 16
#define AF_SAC_WORDS 36
int af_sac_tensors(af_sac *s, af_tensor *t, float *words);
void af_sac_pack(af_sac *s, float *words);
int af_sac_unpack(af_sac *s, const float *words, const char *path, char *err, size_t errsz);
// the agent itself (registered as "sac"), for agents that hold one
extern const af_agent_def af_sac_def;
// multiply-adds of one update (for GFLOP/s figures)
double af_sac_update_flops(const af_sac *s);

#endif
