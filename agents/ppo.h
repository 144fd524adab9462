// Proximal Policy Optimization (Schulman et al. 2017) as CleanRL and Stable-Baselines3 write
// it for continuous actions: a Gaussian policy whose mean is an MLP of the observation and
// whose log standard deviation is a learned vector of its own (state-independent), a separate
// critic MLP, rollouts of T steps from the N environments, generalized advantage estimation,
// the clipped surrogate objective, a value loss with optional clipping, an entropy bonus,
// advantages normalized per minibatch, epochs of shuffled minibatches, one gradient-norm clip
// over all parameters, the step size annealed linearly to 0 over the training budget, and
// observations normalized by running mean and std.
//
// Actions: the sampled Gaussian action is clipped to [-1, 1] for the environment, and the
// unclipped sample is what the log-probabilities are of (the standard PPO choice: no tanh
// correction, and the clipped tails cost no gradient). The deterministic action is the mean
// clipped to [-1, 1], and so is the exported policy (af_agent_policy, squash 2).
//
// Episode ends: for a terminated step nothing is bootstrapped; for a truncated one (horizon,
// divergence) the reward becomes r + gamma V(s_end), with s_end the episode's last
// observation that the batch carries, and the advantage recursion stops there as for a
// terminal step (what SB3 does for timeouts).
#ifndef AF_PPO_H
#define AF_PPO_H

#include "agents/agent.h"
#include "agents/nn/nn.h"
#include "agents/normalizer.h"

typedef struct {
  double lr, gamma, lam, clip, value_clip, vf_coef, ent_coef, max_grad_norm, init_log_std, reward_scale, target_kl, adam_eps;
  int rollout, minibatch, epochs, hidden, layers, activation, norm_adv, anneal_lr, anneal_steps;
  af_norm_params norm;  // observation normalization
} af_ppo_cfg;

// one minibatch's figures (means over its rows)
typedef struct {
  float policy_loss;  // the clipped surrogate, negated
  float value_loss;   // 0.5 mean (V - R)^2, or of the max with the clipped one
  float entropy;      // of the Gaussian policy (per sample, nats)
  float approx_kl;    // mean (ratio - 1) - log ratio
  float clip_frac;    // share of rows whose ratio was outside [1 - clip, 1 + clip]
  float loss;         // policy_loss + vf_coef value_loss - ent_coef entropy
} af_ppo_losses;

typedef struct af_ppo {
  af_ppo_cfg cfg;
  int od, ad, N, T, S, M;      // sizes: observation, action, environments, steps per rollout, S = T N, minibatch
  long budget;                 // environment steps the step size anneals over (0: constant)
  float lr0;
  af_nn_ctx *ctx;
  af_mlp *actor, *critic;      // obs -> mean (ad); obs -> value (1)
  float *log_std, *log_std_grad;  // (ad)
  af_adam opt_actor, opt_critic, opt_log_std;
  af_normalizer norm;          // used when cfg.norm.obs_norm
  af_rng rng;
  long observed;               // transitions observed
  long rollouts;               // updates made (one per full rollout)
  int step;                    // steps of the current rollout stored (0 .. T)
  // the rollout, row t N + i for step t of environment i: observations as the actor saw them
  // (normalized), the unclipped actions, their log-probabilities and values at acting time,
  // the rewards (scaled, truncations bootstrapped), episode ends (0/1), then the advantages
  // and returns; last_val (N): V of the observation after the rollout's last step
  float *r_obs, *r_act, *r_logp, *r_val, *r_rew, *r_done, *r_adv, *r_ret, *last_val;
  int *perm;                   // (S) minibatch order
  // a minibatch (M rows) and its gradient scratch
  float *m_obs, *m_act, *m_logp, *m_val, *m_adv, *m_ret, *m_nadv, *d_mu, *d_v;
  // what act gave the N environments, reused by observe when the batch is that step's:
  // the raw and normalized observations, the clipped and unclipped actions, logp and value
  float *c_raw_obs, *c_obs, *c_act, *c_u, *c_logp, *c_val;
  int cached;
  float *act_obs, *act_eps;    // acting scratch (N, od), (N, ad)
  float *next_obs;             // normalized next observations (N, od)
} af_ppo;

// generalized advantage estimation over a rollout of T steps of N environments (row t N + i):
//   delta_t = r_t + gamma (1 - done_t) V_{t+1} - V_t,  A_t = delta_t + gamma lam (1 - done_t) A_{t+1}
// with V_T = last_val; returns R_t = A_t + V_t. done_t is 1 when the episode ended at step t
// (a truncated step's reward carries its bootstrap already).
void af_ppo_gae(float *adv, float *ret, const float *rew, const float *val, const float *done, const float *last_val, int T,
                int N, float gamma, float lam);

// the gradients of the PPO loss on one minibatch of M rows (M is the configured minibatch),
// without any parameter change: into the actor's, the critic's and log_std_grad.
//   ratio = exp(logp(act | obs) - logp_old), A = adv normalized over the rows when norm_adv
//   policy = -mean min(ratio A, clip(ratio, 1 - clip, 1 + clip) A)
//   value = 0.5 mean (V - ret)^2, or with value_clip > 0
//           0.5 mean max((V - ret)^2, (v_old + clip(V - v_old, -value_clip, value_clip) - ret)^2)
//   loss = policy + vf_coef value - ent_coef entropy
// obs are as the networks see them (normalized). Used by update and by the gradient checks.
void af_ppo_grads(af_ppo *p, const float *obs, const float *act, const float *logp_old, const float *v_old, const float *adv,
                  const float *ret, af_ppo_losses *out);

// the update on the stored rollout whatever the schedule says (update calls it when the
// rollout is full): advantages, then epochs of minibatch steps; AF_OK or AF_ERR_NUMERIC
int af_ppo_learn(af_ppo *p, af_agent_stats *stats);

#endif
