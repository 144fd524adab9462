// QT-Opt (Kalashnikov et al. 2018) on state observations, and from images (below): a Q(s, a)
// network whose sigmoid output is the probability of success, trained by cross-entropy on 0/1
// rewards; the maximum over continuous actions found by the cross-entropy method
// (agents/cem.h), each CEM population of B states x samples actions scored in one batched
// forward pass; clipped double Q over two lagged target networks (target 1 Polyak-averaged
// from Q, target 2 a copy of target 1 taken every target2_period updates, so it lags further):
//   a* = CEM argmax_a Q1'(s', a),  y = clip(r + gamma (1 - done) min(sig Q1'(s', a*), sig Q2'(s', a*)), 0, 1)
//   loss = mean[ -y log sig Q(s, a) - (1 - y) log(1 - sig Q(s, a)) ]   (Q is the logit)
// Acting: the same CEM on Q at the current state (deterministic: its draws from a fixed seed,
// so the action is a function of the observation alone), exploring with the CEM's own noise
// and epsilon-uniform random actions. Offline data: a dataset file (agents/dataset.h) is
// loaded into a replay of its own at make; each batch draws a fixed fraction
// (offline_fraction) from it and the rest from the fresh experience, and pretrain_updates
// updates on the dataset alone are made at the first update call.
//
// From images (an environment whose observation holds stacked frames, e.g. bin_grasp with
// obs "proprio+pixels" and frame_stack K): Q reads [phi(frames), state entries, action], phi a
// convolutional encoder (pixel_sac's: a 3x3 stride-2 convolution, conv_layers - 1 3x3 stride-1
// ones of `filters` channels, a dense layer to `features`, LayerNorm, tanh) trained by Q's loss;
// each target network has its own lagged copy of the encoder (Polyak and periodic copy as
// above). The encoder runs once per state and the CEM's populations repeat its features, so a
// CEM round is still one batched forward of Q's dense layers. Frames live in image replays
// (agents/image_replay.h; a version 2 dataset fills one), each sampled observation shifted at
// random as DrQ does (shift_pad). obs_norm then normalizes the state entries only.
#ifndef AF_QTOPT_H
#define AF_QTOPT_H

#include "agents/agent.h"
#include "agents/cem.h"
#include "agents/image_replay.h"
#include "agents/nn/conv.h"
#include "agents/nn/nn.h"
#include "agents/normalizer.h"
#include "agents/replay.h"

typedef struct {
  double lr, gamma, tau, epsilon, cem_std, cem_min_std, grad_clip, offline_fraction, ood_weight;
  int batch, hidden, layers, buffer, warmup, updates_per_step, update_every, target2_period;
  int cem_samples, cem_elites, cem_iters, pretrain_updates, ood_samples;
  int act_samples, act_elites;  // the acting CEM's population and elites (0: cem_samples, cem_elites)
  int filters, conv_layers, features, shift_pad, proprio;  // the image encoder (frames only)
  char dataset[AF_P_STRING_MAX];
  af_norm_params norm;  // observation normalization (the dataset's observations seed it)
} af_qtopt_cfg;

typedef struct af_qtopt {
  af_qtopt_cfg cfg;
  int od, ad, qd, B, N, S;
  int sd;                  // Q's state columns: od, or from images features + pd
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
  // from images (pix): the encoder and its two lagged copies, the frames' replays and batch
  int pix, stack, H, W, C, xd;  // frames stacked, their size, encoder input channels (3 stack) and floats
  int poff, pd, fe;         // where the frames start, state entries fed beside the features, features
  af_conv *enc, *enc1t, *enc2t;
  af_adam opt_enc;
  af_image_replay ireplay, idata;  // fresh experience, the dataset
  uint8_t *u_obs, *u_next, *u_tmp, *frame_obs, *frame_next;
  float *x_obs, *x_next, *prop, *prop_next, *feat, *feat1n, *feat2n, *dtrain, *dfeat, *act_x, *act_feat;
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

// from images: the same loss and gradients with Q's state rows [enc(x), prop] for frames x
// (B, C, H, W) / 255 and state entries prop (B, pd, normalized; NULL when pd is 0), the
// gradient flowing on into the encoder's parameters (af_conv_grads(t->enc)); the loss, or NaN
float af_qtopt_frames_loss_grads(af_qtopt *t, const float *x, const float *prop, const float *act, const float *y);

// draw a batch into t->obs ... t->done: round(B * offline_fraction) rows from the dataset and
// the rest from the fresh replay (all from the one that holds transitions when the other is
// empty; all from the dataset with only_data); returns the rows drawn from the dataset
int af_qtopt_sample(af_qtopt *t, int only_data);

// `updates` updates on sampled batches, whatever the schedule says; AF_OK or AF_ERR_NUMERIC
int af_qtopt_learn(af_qtopt *t, int updates, int only_data, af_agent_stats *stats);

#endif
