// Twin Delayed DDPG (Fujimoto et al. 2018): a deterministic tanh actor, twin critics whose
// minimum is the Bellman target, target policy smoothing (clipped Gaussian noise on the
// target action), the actor and the three target networks updated every policy_delay-th
// critic update, Gaussian exploration noise with actions clipped to [-1, 1], uniform random
// warm-up, configurable updates per environment step (the schedule of agents/sac.c).
#ifndef AF_TD3_H
#define AF_TD3_H

#include "agents/agent.h"
#include "agents/nn/nn.h"
#include "agents/normalizer.h"
#include "agents/replay.h"

typedef struct {
  double lr, gamma, tau, policy_noise, noise_clip, expl_noise, grad_clip;
  int batch, hidden, layers, buffer, warmup, updates_per_step, update_every, policy_delay;
  af_her_params her;    // hindsight relabelling in the replay (the keys every off-policy agent has)
  af_norm_params norm;  // observation normalization
} af_td3_cfg;

// skipped (when applying): 0 all steps taken; 1 the critic loss or gradients were not finite,
// nothing changed; 2 the actor's were not, only the critic step was taken
typedef struct {
  float critic_loss, actor_loss;  // actor_loss: 0 when the actor was not part of the call
  int skipped;
} af_td3_losses;

typedef struct af_td3 {
  af_td3_cfg cfg;
  int od, ad, B;
  int N;                       // environments per act and observe
  int gd;                      // goal size of the replay (0: none)
  af_nn_ctx *ctx;
  af_mlp *actor, *actor_t, *q1, *q2, *q1t, *q2t;
  af_adam opt_actor, opt_q1, opt_q2;
  af_replay replay;
  af_normalizer norm;          // used when cfg.norm.obs_norm
  af_rng rng;
  long observed;               // transitions observed
  long iterations;             // critic updates done (the actor's turn: every policy_delay-th)
  int due;                     // updates owed by the transitions observed so far
  float last_actor_loss;       // of the last actor update, for the stats between them
  // batch and scratch, sized at make: (B, od) (B, ad) (B) ...
  float *obs, *act, *rew, *next_obs, *done, *eps, *a_next, *qin, *qin_next, *y, *dq, *dqin, *dact;
  float *act_eps;              // acting scratch (N, ad)
  float *act_obs;              // normalized observations to act on (N, od)
} af_td3;

// the gradients of the TD3 losses for a given batch and given standard-normal draws eps
// (B, ad) of the target policy smoothing, without any parameter change unless apply:
//   a' = clip(actor_target(s') + clip(policy_noise eps, -noise_clip, noise_clip), -1, 1)
//   y = r + gamma (1 - done) min(Q1'(s', a'), Q2'(s', a'))
//   critic loss = mean (Q1(s, a) - y)^2 + mean (Q2(s, a) - y)^2  -> grads of q1, q2
//   actor loss = -mean Q1(s, actor(s))                           -> grads of actor
// The actor part runs only when with_actor. With apply, the critics take an Adam step before
// the actor loss is formed (as in the reference), and with_actor adds the actor's step and
// the Polyak averaging of the three targets. Used by learn and by the gradient checks.
void af_td3_grads(af_td3 *t, const float *obs, const float *act, const float *rew, const float *next_obs,
                  const float *done, const float *eps, int with_actor, int apply, af_td3_losses *out);

// `updates` gradient updates on batches drawn from the replay, whatever the schedule says
// (update calls it with the updates that are due); AF_OK, or AF_ERR_NUMERIC when the network
// core failed
int af_td3_learn(af_td3 *t, int updates, af_agent_stats *stats);

#endif
