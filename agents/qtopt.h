// QT-Opt (Kalashnikov et al. 2018) on state observations: a Q(s, a) network whose sigmoid
// output is the probability of success, trained by cross-entropy on 0/1 rewards; the maximum
// over continuous actions found by the cross-entropy method (agents/cem.h), each CEM
// population of B states x samples actions scored in one batched forward pass; clipped
// double Q over two lagged target networks (target 1 Polyak-averaged from Q, target 2 a copy
// of target 1 taken every target2_period updates, so it lags further):
//   a* = CEM argmax_a Q1'(s', a),  y = clip(r + gamma (1 - done) min(sig Q1'(s', a*), sig Q2'(s', a*)), 0, 1)
//   loss = mean[ -y log sig Q(s, a) - (1 - y) log(1 - sig Q(s, a)) ]   (Q is the logit)
// Acting: the same CEM on Q at the current state (deterministic: its draws from a fixed seed,
// so the action is a function of the observation alone), exploring with the CEM's own noise
// and epsilon-uniform random actions. Offline data: a dataset file (agents/dataset.h) is
// loaded into a replay of its own at make; each batch draws a fixed fraction
// (offline_fraction) from it and the rest from the fresh experience, and pretrain_updates
// updates on the dataset alone are made at the first update call.
#ifndef AF_QTOPT_H
#define AF_QTOPT_H

#include "agents/agent.h"
#include "agents/cem.h"
#include "agents/nn/nn.h"
#include "agents/normalizer.h"
#include "agents/replay.h"

typedef struct {
  double lr, gamma, tau, epsilon, cem_std, cem_min_std, grad_clip, offline_fraction, ood_weight;
  int batch, hidden, layers, buffer, warmup, updates_per_step, update_every, target2_period;
  int cem_samples, cem_elites, cem_iters, pretrain_updates, ood_samples;
  int act_samples, act_elites;  // the acting CEM's population and elites (0: cem_samples, cem_elites)
  char dataset[AF_P_STRING_MAX];
  af_norm_params norm;  // observation normalization (the dataset's observations seed it)
} af_qtopt_cfg;

typedef struct af_qtopt {
  af_qtopt_cfg cfg;
  int od, ad, qd, B, N, S;
  int SA;                  // the acting CEM's samples per state (S for the Bellman targets)
  int K;                   // random actions per state labelled failures (0: the term is off)
  af_nn_ctx *ctx;
  af_mlp *q, *q1t, *q2t;   // Q, target 1 (Polyak), target 2 (periodic copy of target 1)
  af_adam opt;
  af_replay replay;        // fresh experience
  af_replay data;          // the dataset (cap 0: none)
  af_cem cem_act, cem_tgt; // acting (up to N states), Bellman targets (B states)
  af_normalizer norm;      // used when cfg.norm.obs_norm
  af_rng rng;
  long observed, iterations;
  int due, pretrained;
  uint64_t eval_seed;      // the deterministic CEM's draws
  void (*progress)(void *ctx, const char *line);  // the setup's progress hook (NULL: none)
  void *progress_ctx;
  // batch and scratch, sized at make
  float *obs, *act, *rew, *next_obs, *done, *y, *dq, *t2in, *astar, *lstar;
  float *train_in;         // (B * (1 + K), qd): the batch's rows, then K random actions per state
  float *ood_act;          // (B * K, ad): those random actions, drawn each update
  float *pop_in;           // (B * S, qd): next states repeated, actions written by the CEM
  float *act_in;           // (N * SA, qd): states to act on repeated
  float *act_best;         // (N, ad)
  float *act_obs;          // (N, od): normalized observations to act on
  af_mlp *score_net;       // what the score function evaluates (set before each CEM run)
  float *score_in;         // its input rows
  int score_rows;
} af_qtopt;

// the Bellman targets y (B) for next states (B, od), rewards and done flags, as above:
// the CEM on target 1 from the agent's rng, then both targets at its argmax; astar (B, ad)
// receives the argmax when not NULL. 0, or AF_ERR_NUMERIC
int af_qtopt_targets(af_qtopt *t, const float *rew, const float *next_obs, const float *done, float *y, float *astar);

// the cross-entropy loss of Q(s, a) against targets y (B) and its gradients in Q's
// parameters (af_mlp_grads(t->q)); no parameter changes. With ood_weight > 0 the loss adds
//   ood_weight * mean_b mean_j softplus(Q(s_b, u_bj)),
// the cross-entropy against 0 of K = ood_samples uniform random actions u per state (in
// t->ood_act, drawn by af_qtopt_learn): actions the data never tried count as failures, a
// bounded conservative term (random actions succeed about 1 time in 200 on bin grasping) that
// keeps the CEM's maximum off the network's extrapolation. The loss, or NaN on a network failure
float af_qtopt_loss_grads(af_qtopt *t, const float *obs, const float *act, const float *y);

// draw a batch into t->obs ... t->done: round(B * offline_fraction) rows from the dataset and
// the rest from the fresh replay (all from the one that holds transitions when the other is
// empty; all from the dataset with only_data); returns the rows drawn from the dataset
int af_qtopt_sample(af_qtopt *t, int only_data);

// `updates` updates on sampled batches, whatever the schedule says; AF_OK or AF_ERR_NUMERIC
int af_qtopt_learn(af_qtopt *t, int updates, int only_data, af_agent_stats *stats);

#endif
