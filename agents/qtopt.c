// QT-Opt on the oneDNN network core (agents/qtopt.h). One update: a batch (fresh experience
// and the dataset in a fixed ratio), Bellman targets from the CEM over target 1 and the
// clipped double Q of both targets, one Adam step of the cross-entropy loss, Polyak averaging
// of target 1, and every target2_period-th update target 2 <- target 1.
#include "agents/qtopt.h"

#include <math.h>    // expf, log1pf, fminf
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy, memset

#include "agents/dataset.h"
#include "base/base.h"  // af_now

// ---- hyperparameters (QT-Opt's where ../shared/AGENTS.md gives them) ----
static const af_param qtopt_params[] = {
  {"lr", AF_P_DOUBLE, offsetof(af_qtopt_cfg, lr), 1e-4, 1e-6, 1, NULL, "Adam step size of Q"},
  {"batch", AF_P_INT, offsetof(af_qtopt_cfg, batch), 64, 1, 4096, NULL, "minibatch size (the Bellman CEM scores batch x cem_samples actions in one forward)"},
  {"hidden", AF_P_INT, offsetof(af_qtopt_cfg, hidden), 128, 1, 4096, NULL, "units per hidden layer of Q"},
  {"layers", AF_P_INT, offsetof(af_qtopt_cfg, layers), 2, 1, 6, NULL, "hidden layers of Q"},
  {"gamma", AF_P_DOUBLE, offsetof(af_qtopt_cfg, gamma), 0.9, 0, 1, NULL, "discount"},
  {"tau", AF_P_DOUBLE, offsetof(af_qtopt_cfg, tau), 0.01, 0, 1, NULL, "Polyak factor of target 1 per update"},
  {"target2_period", AF_P_INT, offsetof(af_qtopt_cfg, target2_period), 100, 1, 1000000, NULL, "updates between copies of target 1 into target 2 (the older target)"},
  {"buffer", AF_P_INT, offsetof(af_qtopt_cfg, buffer), 200000, 1, AF_REPLAY_MAX, NULL, "replay capacity of fresh experience (transitions)"},
  {"warmup", AF_P_INT, offsetof(af_qtopt_cfg, warmup), 1000, 0, 10000000, NULL, "uniform random actions for this many steps before learning"},
  {"updates_per_step", AF_P_INT, offsetof(af_qtopt_cfg, updates_per_step), 1, 0, 64, NULL, "gradient updates every update_every environment steps"},
  {"update_every", AF_P_INT, offsetof(af_qtopt_cfg, update_every), 1, 1, 1000000, NULL, "environment steps (over all environments) between rounds of updates"},
  {"epsilon", AF_P_DOUBLE, offsetof(af_qtopt_cfg, epsilon), 0.1, 0, 1, NULL, "probability of a uniform random action when exploring"},
  {"cem_samples", AF_P_INT, offsetof(af_qtopt_cfg, cem_samples), 64, 2, 4096, NULL, "CEM actions per state and round"},
  {"cem_elites", AF_P_INT, offsetof(af_qtopt_cfg, cem_elites), 6, 1, 4096, NULL, "CEM elites the Gaussian is refitted to (at most cem_samples)"},
  {"act_samples", AF_P_INT, offsetof(af_qtopt_cfg, act_samples), 0, 0, 4096, NULL,
   "CEM actions per state and round when acting, exploring and evaluating (0: cem_samples); the Bellman targets keep cem_samples"},
  {"act_elites", AF_P_INT, offsetof(af_qtopt_cfg, act_elites), 0, 0, 4096, NULL, "CEM elites when acting (0: cem_elites; at most the acting samples)"},
  {"cem_iters", AF_P_INT, offsetof(af_qtopt_cfg, cem_iters), 2, 1, 100, NULL, "CEM rounds"},
  {"cem_std", AF_P_DOUBLE, offsetof(af_qtopt_cfg, cem_std), 0.5, 1e-3, 10, NULL, "std of the CEM's first round (mean 0)"},
  {"cem_min_std", AF_P_DOUBLE, offsetof(af_qtopt_cfg, cem_min_std), 0.01, 0, 10, NULL, "floor of the refitted CEM std"},
  {"grad_clip", AF_P_DOUBLE, offsetof(af_qtopt_cfg, grad_clip), 0, 0, 1e6, NULL, "clip the gradient norm (0: off)"},
  {"dataset", AF_P_STRING, offsetof(af_qtopt_cfg, dataset), 0, 0, 0, "", "offline episodes (armfarm collect) loaded at make; \"\": none"},
  {"offline_fraction", AF_P_DOUBLE, offsetof(af_qtopt_cfg, offline_fraction), 0.5, 0, 1, NULL, "share of each batch drawn from the dataset (1: offline only; fresh data is then not learned from)"},
  {"pretrain_updates", AF_P_INT, offsetof(af_qtopt_cfg, pretrain_updates), 0, 0, 10000000, NULL, "updates on the dataset alone at the first update call"},
  {"ood_weight", AF_P_DOUBLE, offsetof(af_qtopt_cfg, ood_weight), 0, 0, 100, NULL,
   "weight of the cross-entropy against 0 of uniform random actions at each batch state (untried actions count as failures; 0: off)"},
  {"ood_samples", AF_P_INT, offsetof(af_qtopt_cfg, ood_samples), 10, 1, 256, NULL, "uniform random actions per batch state in that term"},
  {"filters", AF_P_INT, offsetof(af_qtopt_cfg, filters), 32, 1, 256, NULL, "from images: channels of each convolution of the encoder"},
  {"conv_layers", AF_P_INT, offsetof(af_qtopt_cfg, conv_layers), 4, 1, 8, NULL, "from images: convolutions, one 3x3 stride 2, the rest 3x3 stride 1"},
  {"features", AF_P_INT, offsetof(af_qtopt_cfg, features), 50, 1, 1024, NULL, "from images: encoder features (dense layer, LayerNorm, tanh)"},
  {"shift_pad", AF_P_INT, offsetof(af_qtopt_cfg, shift_pad), 4, 0, 16, NULL, "from images: DrQ's random shift of each sampled frame stack, pad by replication and crop back (0: off)"},
  {"proprio", AF_P_BOOL, offsetof(af_qtopt_cfg, proprio), 1, 0, 1, NULL, "from images: feed the observation's state entries beside the features"},
  AF_NORM_PARAMS(af_qtopt_cfg, norm),
};

static float sigmoidf(float z) { return z >= 0 ? 1 / (1 + expf(-z)) : expf(z) / (1 + expf(z)); }
// log(1 + e^z), stable both ways
static float softplusf(float z) { return z > 0 ? z + log1pf(expf(-z)) : log1pf(expf(z)); }

// rows [obs, action] for n states repeated `rep` times each: the obs part only (the actions
// are written per CEM round)
static void fill_obs(float *dst, const float *obs, int n, int rep, int od, int qd) {
  for (int b = 0; b < n; b++)
    for (int k = 0; k < rep; k++) memcpy(dst + ((size_t)b * rep + k) * qd, obs + (size_t)b * od, sizeof(float) * od);
}

// the CEM's score function: the action columns of the rows, one forward, the logits
static int score(void *ctx, const float *actions, int n, float *scores) {
  af_qtopt *t = ctx;
  const int sd = t->sd, ad = t->ad, qd = t->qd;
  for (int k = 0; k < n; k++) memcpy(t->score_in + (size_t)k * qd + sd, actions + (size_t)k * ad, sizeof(float) * ad);
  const float *out = af_mlp_forward(t->score_net, n, t->score_in);
  if (!out) return AF_ERR_NUMERIC;
  memcpy(scores, out, sizeof(float) * n);
  return 0;
}

// the targets with target 1's CEM over the state rows f1 (B, sd) and target 2 read at
// [f2, a*]: the same rows for state observations, each target's own features from images
static int targets_on(af_qtopt *t, const float *rew, const float *f1, const float *f2, const float *done, float *y, float *astar) {
  const int B = t->B, S = t->S, sd = t->sd, ad = t->ad, qd = t->qd;
  // a* by CEM over target 1; its best score is Q1'(s', a*)
  fill_obs(t->pop_in, f1, B, S, sd, qd);
  t->score_net = t->q1t;
  t->score_in = t->pop_in;
  if (af_cem_run(&t->cem_tgt, B, score, t, &t->rng, t->astar, t->lstar)) return AF_ERR_NUMERIC;
  // target 2 at a*
  for (int b = 0; b < B; b++) {
    memcpy(t->t2in + (size_t)b * qd, f2 + (size_t)b * sd, sizeof(float) * sd);
    memcpy(t->t2in + (size_t)b * qd + sd, t->astar + (size_t)b * ad, sizeof(float) * ad);
  }
  const float *l2 = af_mlp_forward(t->q2t, B, t->t2in);
  if (!l2) return AF_ERR_NUMERIC;
  const float g = (float)t->cfg.gamma;
  for (int b = 0; b < B; b++) {
    float v = fminf(sigmoidf(t->lstar[b]), sigmoidf(l2[b]));
    float yb = rew[b] + g * (1 - done[b]) * v;
    y[b] = yb < 0 ? 0 : yb > 1 ? 1 : yb;
  }
  if (astar) memcpy(astar, t->astar, sizeof(float) * B * ad);
  return AF_OK;
}

int af_qtopt_targets(af_qtopt *t, const float *rew, const float *next_obs, const float *done, float *y, float *astar) {
  return targets_on(t, rew, next_obs, next_obs, done, y, astar);
}

// the loss on state rows feat (B, sd); dx: Q's gradient into its input rows too (t->dtrain)
static float loss_on(af_qtopt *t, const float *feat, const float *act, const float *y, float *dx) {
  const int B = t->B, K = t->K, sd = t->sd, ad = t->ad, qd = t->qd;
  // rows: the batch, then each state with its K random actions
  for (int b = 0; b < B; b++) {
    memcpy(t->train_in + (size_t)b * qd, feat + (size_t)b * sd, sizeof(float) * sd);
    memcpy(t->train_in + (size_t)b * qd + sd, act + (size_t)b * ad, sizeof(float) * ad);
    for (int j = 0; j < K; j++) {
      float *r = t->train_in + ((size_t)B + (size_t)b * K + j) * qd;
      memcpy(r, feat + (size_t)b * sd, sizeof(float) * sd);
      memcpy(r + sd, t->ood_act + ((size_t)b * K + j) * ad, sizeof(float) * ad);
    }
  }
  const int rows = B * (1 + K);
  const float *z = af_mlp_forward(t->q, rows, t->train_in);
  if (!z) return NAN;
  // mean of softplus(z) - y z, the cross-entropy of sigmoid(z) against y; d/dz = sigmoid(z) - y
  float loss = 0, invB = 1.0f / B;
  for (int b = 0; b < B; b++) {
    loss += (softplusf(z[b]) - y[b] * z[b]) * invB;
    t->dq[b] = (sigmoidf(z[b]) - y[b]) * invB;
  }
  // untried actions as failures: w mean_bj softplus(z_bj); d/dz_bj = w sigmoid(z_bj) / (B K)
  const float w = K > 0 ? (float)t->cfg.ood_weight / ((float)B * (float)K) : 0;
  for (int i = B; i < rows; i++) {
    loss += w * softplusf(z[i]);
    t->dq[i] = w * sigmoidf(z[i]);
  }
  af_mlp_backward(t->q, rows, t->dq, dx, 1, 0);
  return loss;
}

float af_qtopt_loss_grads(af_qtopt *t, const float *obs, const float *act, const float *y) { return loss_on(t, obs, act, y, NULL); }

int af_qtopt_sample(af_qtopt *t, int only_data) {
  const int B = t->B, od = t->od, ad = t->ad;
  long have_data = t->data.size, have_fresh = t->replay.size;
  int nd = (int)(B * t->cfg.offline_fraction + 0.5);
  if (only_data || !have_fresh) nd = B;
  if (!have_data) nd = 0;
  if (nd > 0) af_replay_sample(&t->data, &t->rng, nd, t->obs, t->act, t->rew, t->next_obs, t->done);
  if (nd < B)
    af_replay_sample(&t->replay, &t->rng, B - nd, t->obs + (size_t)nd * od, t->act + (size_t)nd * ad, t->rew + nd,
                     t->next_obs + (size_t)nd * od, t->done + nd);
  return nd;
}

// transitions held: the fresh replay's and the dataset's, of frames or of states
static long fresh_size(const af_qtopt *t) { return t->pix ? af_image_replay_size(&t->ireplay) : t->replay.size; }
static long data_size(const af_qtopt *t) { return t->pix ? af_image_replay_size(&t->idata) : t->data.size; }

// ---- from images ----
// rows [enc(x), prop] (n, sd) into out; -1 on a network failure
static int encode(af_qtopt *t, af_conv *enc, int n, const float *x, const float *prop, float *out) {
  const float *z = af_conv_forward(enc, n, x);
  if (!z) return -1;
  const int sd = t->sd, fe = t->fe, pd = t->pd;
  for (int b = 0; b < n; b++) {
    memcpy(out + (size_t)b * sd, z + (size_t)b * fe, sizeof(float) * fe);
    if (pd) memcpy(out + (size_t)b * sd + fe, prop + (size_t)b * pd, sizeof(float) * pd);
  }
  return 0;
}

// a batch of frames in the ratio of af_qtopt_sample, each stack shifted, as floats; the state
// entries normalized when obs_norm
static void sample_frames(af_qtopt *t, int only_data) {
  const int B = t->B, ad = t->ad, pd = t->pd, xd = t->xd;
  int nd = (int)(B * t->cfg.offline_fraction + 0.5);
  if (only_data || !fresh_size(t)) nd = B;
  if (!data_size(t)) nd = 0;
  if (nd > 0)
    af_image_replay_sample(&t->idata, &t->rng, nd, t->u_obs, pd ? t->prop : NULL, t->act, t->rew, t->u_next, pd ? t->prop_next : NULL, t->done);
  if (nd < B)
    af_image_replay_sample(&t->ireplay, &t->rng, B - nd, t->u_obs + (size_t)nd * xd, pd ? t->prop + (size_t)nd * pd : NULL,
                           t->act + (size_t)nd * ad, t->rew + nd, t->u_next + (size_t)nd * xd, pd ? t->prop_next + (size_t)nd * pd : NULL,
                           t->done + nd);
  const size_t xb = (size_t)B * xd;
  af_image_random_shift(t->u_tmp, t->u_obs, B, t->C, t->H, t->W, t->cfg.shift_pad, &t->rng);
  af_conv_from_u8(t->x_obs, t->u_tmp, xb);
  af_image_random_shift(t->u_tmp, t->u_next, B, t->C, t->H, t->W, t->cfg.shift_pad, &t->rng);
  af_conv_from_u8(t->x_next, t->u_tmp, xb);
  if (t->cfg.norm.obs_norm) {
    af_normalizer_apply(&t->norm, t->prop, t->prop, B);
    af_normalizer_apply(&t->norm, t->prop_next, t->prop_next, B);
  }
}

float af_qtopt_frames_loss_grads(af_qtopt *t, const float *x, const float *prop, const float *act, const float *y) {
  const int B = t->B, K = t->K, fe = t->fe, qd = t->qd;
  if (encode(t, t->enc, B, x, prop, t->feat)) return NAN;
  float loss = loss_on(t, t->feat, act, y, t->dtrain);
  // the features' gradient: each state's row and its untried actions' rows
  for (int b = 0; b < B; b++) {
    float *d = t->dfeat + (size_t)b * fe;
    memcpy(d, t->dtrain + (size_t)b * qd, sizeof(float) * fe);
    for (int j = 0; j < K; j++) {
      const float *r = t->dtrain + ((size_t)B + (size_t)b * K + j) * qd;
      for (int i = 0; i < fe; i++) d[i] += r[i];
    }
  }
  af_conv_backward(t->enc, B, t->dfeat, NULL, 1, 0);
  return loss;
}

// one update's gradients from images: the targets from each target's own encoder, then Q's
// loss through the encoder. The loss, or NaN on a network failure
static float frames_grads(af_qtopt *t, int only_data) {
  const int B = t->B;
  sample_frames(t, only_data);
  if (encode(t, t->enc1t, B, t->x_next, t->prop_next, t->feat1n) || encode(t, t->enc2t, B, t->x_next, t->prop_next, t->feat2n) ||
      targets_on(t, t->rew, t->feat1n, t->feat2n, t->done, t->y, NULL))
    return NAN;
  for (int i = 0; i < B * t->K * t->ad; i++) t->ood_act[i] = (float)af_rng_range(&t->rng, -1, 1);
  return af_qtopt_frames_loss_grads(t, t->x_obs, t->prop, t->act, t->y);
}

int af_qtopt_learn(af_qtopt *t, int updates, int only_data, af_agent_stats *st) {
  memset(st, 0, sizeof *st);
  af_nn_ctx_enter(t->ctx);
  const int np = af_mlp_nparams(t->q), ne = t->pix ? af_conv_nparams(t->enc) : 0;
  for (int k = 0; k < updates && (fresh_size(t) > 0 || data_size(t) > 0); k++) {
    float loss;
    if (t->pix) {
      loss = frames_grads(t, only_data);
      if (af_nn_ctx_error(t->ctx)) break;
    } else {
      af_qtopt_sample(t, only_data);
      if (t->cfg.norm.obs_norm) {
        af_normalizer_apply(&t->norm, t->obs, t->obs, t->B);
        af_normalizer_apply(&t->norm, t->next_obs, t->next_obs, t->B);
      }
      if (af_qtopt_targets(t, t->rew, t->next_obs, t->done, t->y, NULL)) break;
      for (int i = 0; i < t->B * t->K * t->ad; i++) t->ood_act[i] = (float)af_rng_range(&t->rng, -1, 1);
      loss = af_qtopt_loss_grads(t, t->obs, t->act, t->y);
    }
    st->updates++;
    st->critic_loss = loss;
    // a non-finite loss or gradient: the update is skipped, nothing changes
    if (!isfinite(loss) || !af_nn_finite(af_mlp_grads(t->q), (size_t)np) || (ne && !af_nn_finite(af_conv_grads(t->enc), (size_t)ne))) {
      st->skipped++;
      continue;
    }
    if (t->cfg.grad_clip > 0) {
      af_nn_clip_grad_norm(af_mlp_grads(t->q), np, (float)t->cfg.grad_clip);
      if (ne) af_nn_clip_grad_norm(af_conv_grads(t->enc), ne, (float)t->cfg.grad_clip);
    }
    af_adam_step(&t->opt, af_mlp_params(t->q), af_mlp_grads(t->q));
    af_nn_polyak(af_mlp_params(t->q1t), af_mlp_params(t->q), np, (float)t->cfg.tau);
    if (ne) {
      af_adam_step(&t->opt_enc, af_conv_params(t->enc), af_conv_grads(t->enc));
      af_nn_polyak(af_conv_params(t->enc1t), af_conv_params(t->enc), ne, (float)t->cfg.tau);
    }
    t->iterations++;
    if (t->iterations % t->cfg.target2_period == 0) {
      memcpy(af_mlp_params(t->q2t), af_mlp_params(t->q1t), sizeof(float) * np);
      if (ne) memcpy(af_conv_params(t->enc2t), af_conv_params(t->enc1t), sizeof(float) * ne);
    }
  }
  af_nn_ctx_leave(t->ctx);
  return af_nn_ctx_error(t->ctx) ? AF_ERR_NUMERIC : AF_OK;
}

static void qtopt_free(void *p) {
  af_qtopt *t = p;
  if (!t) return;
  af_mlp_free(t->q);
  af_mlp_free(t->q1t);
  af_mlp_free(t->q2t);
  af_adam_free(&t->opt);
  af_replay_free(&t->replay);
  af_replay_free(&t->data);
  af_cem_free(&t->cem_act);
  af_cem_free(&t->cem_tgt);
  af_normalizer_free(&t->norm);
  af_conv_free(t->enc);
  af_conv_free(t->enc1t);
  af_conv_free(t->enc2t);
  af_adam_free(&t->opt_enc);
  af_image_replay_free(&t->ireplay);
  af_image_replay_free(&t->idata);
  af_nn_ctx_free(t->ctx);
  free(t->obs);
  free(t->u_obs);
  free(t->x_obs);
  free(t);
}

// distinct batch sizes into bs; their count
static int add_size(int *bs, int n, int b) {
  for (int i = 0; i < n; i++)
    if (bs[i] == b) return n;
  bs[n] = b;
  return n + 1;
}

// Q and its targets (and from images the encoder and its copies), initialized, with their
// optimizers and CEMs; 0, or -1 with a message
static int make_nets(af_qtopt *t, const af_qtopt_cfg *c, int ea, const af_agent_common *common, uint64_t seed, char *err, size_t errsz) {
  // Q: [state, act] -> logit. Q is planned for the batch and for the acting populations (N
  // states and one state); target 1 for the Bellman population, target 2 for the batch
  int sz[8], L = c->layers + 1;
  sz[0] = t->qd;
  for (int l = 1; l < L; l++) sz[l] = c->hidden;
  sz[L] = 1;
  int bs[4], nb = 0;
  nb = add_size(bs, nb, t->B);
  nb = add_size(bs, nb, t->B * (1 + t->K));
  nb = add_size(bs, nb, t->N * t->SA);
  nb = add_size(bs, nb, t->SA);
  int bpop = t->B * t->S;
  af_cem_cfg cc = {c->cem_samples, c->cem_elites, c->cem_iters, (float)c->cem_std, (float)c->cem_min_std};
  af_cem_cfg ca = {t->SA, ea, c->cem_iters, (float)c->cem_std, (float)c->cem_min_std};
  if (!(t->ctx = af_agent_nn_ctx(common, err, errsz)) ||
      !(t->q = af_mlp_make(t->ctx, L, sz, AF_ACT_RELU, AF_ACT_NONE, bs, nb, err, errsz)) ||
      !(t->q1t = af_mlp_make(t->ctx, L, sz, AF_ACT_RELU, AF_ACT_NONE, &bpop, 1, err, errsz)) ||
      !(t->q2t = af_mlp_make(t->ctx, L, sz, AF_ACT_RELU, AF_ACT_NONE, &t->B, 1, err, errsz)) ||
      af_cem_init(&t->cem_act, &ca, t->ad, t->N, err, errsz) || af_cem_init(&t->cem_tgt, &cc, t->ad, t->B, err, errsz))
    return -1;
  // the encoder for the batch and the acting states; its copies for the batch
  if (t->pix) {
    af_conv_layer cl[AF_CONV_MAX_LAYERS];
    int nl = af_conv_encoder_layers(cl, c->filters, c->conv_layers, c->features), eb[3], ne = 0;
    ne = add_size(eb, ne, t->B);
    ne = add_size(eb, ne, t->N);
    ne = add_size(eb, ne, 1);
    if (!(t->enc = af_conv_make(t->ctx, cl, nl, t->C, t->H, t->W, eb, ne, err, errsz)) ||
        !(t->enc1t = af_conv_make(t->ctx, cl, nl, t->C, t->H, t->W, &t->B, 1, err, errsz)) ||
        !(t->enc2t = af_conv_make(t->ctx, cl, nl, t->C, t->H, t->W, &t->B, 1, err, errsz)))
      return -1;
  }
  // the targets start as copies
  af_rng init;
  af_rng_seed(&init, af_seed_derive(seed, 0x1417));
  af_mlp_init(t->q, &init);
  const int np = af_mlp_nparams(t->q);
  memcpy(af_mlp_params(t->q1t), af_mlp_params(t->q), sizeof(float) * np);
  memcpy(af_mlp_params(t->q2t), af_mlp_params(t->q), sizeof(float) * np);
  if (af_adam_init(&t->opt, np, (float)c->lr, err, errsz)) return -1;
  if (!t->pix) return 0;
  af_conv_init(t->enc, &init);
  const int ne = af_conv_nparams(t->enc);
  memcpy(af_conv_params(t->enc1t), af_conv_params(t->enc), sizeof(float) * ne);
  memcpy(af_conv_params(t->enc2t), af_conv_params(t->enc), sizeof(float) * ne);
  return af_adam_init(&t->opt_enc, ne, (float)c->lr, err, errsz);
}

// the replays (fresh experience, the dataset), the normalizer and the batch and scratch
// buffers; 0, or -1 with a message
static int make_memory(af_qtopt *t, const af_qtopt_cfg *c, const af_env_spec *spec, char *err, size_t errsz) {
  const int B = t->B, od = t->od, ad = t->ad, qd = t->qd, sd = t->sd, N = t->N, S = t->S, SA = t->SA, K = t->K, pix = t->pix;
  const int nz = pix ? t->pd : od;  // what the normalizer sees
  if ((t->cfg.norm.obs_norm && af_normalizer_init(&t->norm, nz, (float)c->norm.obs_clip, 0.01f, err, errsz))) return -1;
  if (pix) {
    // frames: the replays keep every state entry beside them (fed to Q when proprio)
    if (af_image_replay_init(&t->ireplay, c->buffer, 3, t->H, t->W, t->stack, t->poff, ad, N, err, errsz) ||
        (c->dataset[0] && af_dataset_to_image_replay(c->dataset, spec, &t->idata, err, errsz)))
      return -1;
    // the dataset's state entries start the statistics (every frame's)
    if (t->cfg.norm.obs_norm && t->idata.written > 0) af_normalizer_update(&t->norm, t->idata.prop, (int)t->idata.written);
  } else {
    // the replay's episodes: N environments adding in turn
    af_her_cfg her = {.strategy = AF_HER_NONE, .k = 1, .streams = N};
    if (af_replay_init(&t->replay, c->buffer, od, ad, 0, err, errsz) || af_replay_set_her(&t->replay, &her, err, errsz) ||
        (c->dataset[0] && af_dataset_to_replay(c->dataset, spec, &t->data, err, errsz)))
      return -1;
    // the dataset's observations start the statistics
    if (t->cfg.norm.obs_norm && t->data.size > 0) af_normalizer_update(&t->norm, t->data.obs, (int)t->data.size);
  }
  // batch and scratch in one allocation (the state batch's observations only for states)
  const int ods = pix ? 0 : od;
  size_t n = (size_t)B * (2 * ods + 2 * ad + 4 + qd) + (size_t)B * (1 + K) * (1 + qd) + (size_t)B * K * ad + (size_t)B * S * qd +
             (size_t)N * SA * qd + (size_t)N * ad + (size_t)N * nz;
  float *p = calloc(n, sizeof(float));
  if (!p) { snprintf(err, errsz, "out of memory"); return -1; }
  t->obs = p; p += (size_t)B * ods;
  t->next_obs = p; p += (size_t)B * ods;
  t->act = p; p += (size_t)B * ad;
  t->astar = p; p += (size_t)B * ad;
  t->rew = p; p += B;
  t->done = p; p += B;
  t->y = p; p += B;
  t->dq = p; p += (size_t)B * (1 + K);
  t->lstar = p; p += B;
  t->t2in = p; p += (size_t)B * qd;
  t->train_in = p; p += (size_t)B * (1 + K) * qd;
  t->ood_act = p; p += (size_t)B * K * ad;
  t->pop_in = p; p += (size_t)B * S * qd;
  t->act_in = p; p += (size_t)N * SA * qd;
  t->act_best = p; p += (size_t)N * ad;
  t->act_obs = p;
  if (!pix) return 0;
  // from images: the batch's frames as bytes, and the floats the encoder and Q read
  const size_t xb = (size_t)B * t->xd, fr = (size_t)t->H * t->W * 3, fe = (size_t)t->fe, po = (size_t)t->poff;
  size_t nf = 2 * xb + (size_t)B * (2 * po + 3 * sd + (1 + K) * qd + fe) + (size_t)N * (t->xd + sd);
  t->u_obs = malloc(3 * xb + 2 * fr);
  float *q = t->x_obs = calloc(nf, sizeof(float));
  if (!t->u_obs || !q) { snprintf(err, errsz, "out of memory"); return -1; }
  t->u_next = t->u_obs + xb;
  t->u_tmp = t->u_next + xb;
  t->frame_obs = t->u_tmp + xb;
  t->frame_next = t->frame_obs + fr;
  q += xb;
  t->x_next = q; q += xb;
  t->prop = q; q += (size_t)B * po;
  t->prop_next = q; q += (size_t)B * po;
  t->feat = q; q += (size_t)B * sd;
  t->feat1n = q; q += (size_t)B * sd;
  t->feat2n = q; q += (size_t)B * sd;
  t->dtrain = q; q += (size_t)B * (1 + K) * qd;
  t->dfeat = q; q += (size_t)B * fe;
  t->act_x = q; q += (size_t)N * t->xd;
  t->act_feat = q;
  return 0;
}

static void *qtopt_make(const void *cfgp, const af_agent_setup *setup, const af_agent_common *common, char *err, size_t errsz) {
  const af_qtopt_cfg *c = cfgp;
  const af_env_spec *spec = setup->spec;
  if (spec->obs_dim < 1 || spec->act_dim < 1) { snprintf(err, errsz, "qtopt: needs a state observation and an action (obs %d, act %d)", spec->obs_dim, spec->act_dim); return NULL; }
  if (c->cem_elites > c->cem_samples) { snprintf(err, errsz, "agent.cem_elites: %d is more than cem_samples (%d)", c->cem_elites, c->cem_samples); return NULL; }
  // the acting CEM: its own population when act_samples / act_elites are set
  const int sa = c->act_samples ? c->act_samples : c->cem_samples, ea = c->act_elites ? c->act_elites : c->cem_elites;
  if (c->act_samples == 1) { snprintf(err, errsz, "agent.act_samples: 1 (0 means cem_samples; a CEM needs at least 2)"); return NULL; }
  if (ea > sa) { snprintf(err, errsz, "agent.act_elites: %d is more than the acting samples (%d)", ea, sa); return NULL; }
  if ((double)c->batch * c->cem_samples > 1 << 20) {
    snprintf(err, errsz, "agent.cem_samples: %d samples x %d states is more than 2^20 rows in one forward", c->cem_samples, c->batch);
    return NULL;
  }
  if ((double)setup->num_envs * sa > 1 << 20) {
    snprintf(err, errsz, "agent.%s: %d samples x %d states is more than 2^20 rows in one forward", c->act_samples ? "act_samples" : "cem_samples",
             sa, setup->num_envs);
    return NULL;
  }
  if (c->ood_weight > 0 && (double)c->batch * (1 + c->ood_samples) > 1 << 20) {
    snprintf(err, errsz, "agent.ood_samples: batch %d x (1 + %d) rows is more than 2^20 in one forward", c->batch, c->ood_samples);
    return NULL;
  }
  af_qtopt *t = calloc(1, sizeof *t);
  if (!t) { snprintf(err, errsz, "out of memory"); return NULL; }
  t->cfg = *c;
  t->od = spec->obs_dim;
  t->ad = spec->act_dim;
  t->sd = t->od;
  // from images: Q's state columns are the encoder's features and the state entries
  if (spec->pixel_stack > 0) {
    if (spec->goal_image_offset > 0) { snprintf(err, errsz, "qtopt: observations with a goal image are not supported"); free(t); return NULL; }
    t->pix = 1;
    t->stack = spec->pixel_stack;
    t->H = spec->pixel_height;
    t->W = spec->pixel_width;
    t->C = 3 * t->stack;
    t->xd = t->C * t->H * t->W;
    t->poff = spec->pixel_offset;
    t->pd = c->proprio ? t->poff : 0;
    t->fe = c->features;
    t->sd = t->fe + t->pd;
    if (!t->pd) t->cfg.norm.obs_norm = 0;  // nothing to normalize
  }
  t->qd = t->sd + t->ad;
  t->B = c->batch;
  t->N = setup->num_envs;
  t->S = c->cem_samples;
  t->SA = sa;
  t->K = c->ood_weight > 0 ? c->ood_samples : 0;
  af_rng_seed(&t->rng, af_seed_derive(setup->seed, 0x07107));
  t->eval_seed = af_seed_derive(setup->seed, 0xE7A1);
  t->progress = setup->progress;
  t->progress_ctx = setup->progress_ctx;
  if (make_nets(t, c, ea, common, setup->seed, err, errsz) || make_memory(t, c, spec, err, errsz)) {
    qtopt_free(t);
    return NULL;
  }
  return t;
}

static int numeric_error(const af_qtopt *t, char *err, size_t errsz) {
  const char *e = af_nn_ctx_error(t->ctx);
  snprintf(err, errsz, "qtopt: %s", e ? e : "the network core failed");
  return AF_ERR_NUMERIC;
}

static int qtopt_act(void *p, float *action, const float *obs, int n, int deterministic, char *err, size_t errsz) {
  af_qtopt *t = p;
  if (n != 1 && n != t->N) { snprintf(err, errsz, "qtopt: act on %d observations (made for 1 or %d)", n, t->N); return AF_ERR_ARG; }
  const int ad = t->ad;
  if (!deterministic && t->observed < t->cfg.warmup) {
    for (int i = 0; i < n * ad; i++) action[i] = (float)af_rng_range(&t->rng, -1, 1);
    return AF_OK;
  }
  // the CEM over Q at each state; deterministic: its draws from a fixed seed
  af_rng fixed, *rng = &t->rng;
  if (deterministic) { af_rng_seed(&fixed, t->eval_seed); rng = &fixed; }
  af_nn_ctx_enter(t->ctx);
  int rc = 0;
  if (t->pix) {
    // the encoder's features of the frames beside the (normalized) state entries
    const float k = 1.0f / 255;
    for (int b = 0; b < n; b++) {
      const float *f = obs + (size_t)b * t->od + t->poff;
      float *x = t->act_x + (size_t)b * t->xd;
      for (int i = 0; i < t->xd; i++) x[i] = f[i] * k;
      if (t->pd) memcpy(t->act_obs + (size_t)b * t->pd, obs + (size_t)b * t->od, sizeof(float) * t->pd);
    }
    if (t->cfg.norm.obs_norm) af_normalizer_apply(&t->norm, t->act_obs, t->act_obs, n);
    rc = encode(t, t->enc, n, t->act_x, t->act_obs, t->act_feat);
    obs = t->act_feat;
  } else if (t->cfg.norm.obs_norm) {
    af_normalizer_apply(&t->norm, t->act_obs, obs, n);
    obs = t->act_obs;
  }
  if (rc == 0) {
    fill_obs(t->act_in, obs, n, t->SA, t->sd, t->qd);
    t->score_net = t->q;
    t->score_in = t->act_in;
    rc = af_cem_run(&t->cem_act, n, score, t, rng, action, NULL);
  }
  af_nn_ctx_leave(t->ctx);
  if (rc) return numeric_error(t, err, errsz);
  // epsilon-greedy: a uniform random action instead, per environment
  if (!deterministic)
    for (int i = 0; i < n; i++)
      if (af_rng_uniform(&t->rng) < t->cfg.epsilon)
        for (int j = 0; j < ad; j++) action[i * ad + j] = (float)af_rng_range(&t->rng, -1, 1);
  return AF_OK;
}

// fresh transitions into the replay (unless learning is offline only); every update_every-th
// after the warm-up makes updates_per_step updates due
static int qtopt_observe(void *p, const af_batch *b, char *err, size_t errsz) {
  af_qtopt *t = p;
  if (b->n != t->N) { snprintf(err, errsz, "qtopt: observe %d transitions (made for %d environments)", b->n, t->N); return AF_ERR_ARG; }
  int offline_only = data_size(t) > 0 && t->cfg.offline_fraction >= 1;
  if (t->pix && !offline_only) {
    // each transition's newest frames, as bytes, with every state entry
    const int HW = t->H * t->W;
    for (int i = 0; i < b->n; i++) {
      const float *o = b->obs + (size_t)i * t->od, *no = b->next_obs + (size_t)i * t->od;
      af_image_from_planar(t->frame_obs, o + t->poff + (size_t)(t->stack - 1) * 3 * HW, 3, HW);
      af_image_from_planar(t->frame_next, no + t->poff + (size_t)(t->stack - 1) * 3 * HW, 3, HW);
      af_image_replay_add(&t->ireplay, i, t->frame_obs, t->poff ? o : NULL, b->act + (size_t)i * t->ad, b->reward[i], t->frame_next,
                          t->poff ? no : NULL, b->terminated[i] != 0, b->terminated[i] || b->truncated[i]);
      if (t->cfg.norm.obs_norm) af_normalizer_update(&t->norm, o, 1);
    }
  } else if (!offline_only) {
    af_replay_add_batch(&t->replay, b);
    if (t->cfg.norm.obs_norm) af_normalizer_update(&t->norm, b->obs, b->n);
  }
  for (int i = 0; i < b->n; i++) {
    t->observed++;
    if (t->observed >= t->cfg.warmup && t->observed % t->cfg.update_every == 0) t->due += t->cfg.updates_per_step;
  }
  return AF_OK;
}

static int qtopt_update(void *p, af_agent_stats *st, char *err, size_t errsz) {
  af_qtopt *t = p;
  // the offline pretraining, once, before any scheduled update; a tenth at a time, each
  // reported through the progress hook
  if (!t->pretrained && data_size(t) > 0 && t->cfg.pretrain_updates > 0) {
    const int total = t->cfg.pretrain_updates, chunk = total < 10 ? total : total / 10;
    double t0 = af_now();
    for (int done = 0; done < total;) {
      af_agent_stats pst;
      int n = total - done < chunk ? total - done : chunk;
      if (af_qtopt_learn(t, n, 1, &pst)) return numeric_error(t, err, errsz);
      done += n;
      if (t->progress) {
        char line[160];
        snprintf(line, sizeof line, "qtopt: pretraining %d/%d updates on the dataset, loss %.4f, %.1f ms an update", done, total,
                 pst.critic_loss, 1e3 * (af_now() - t0) / done);
        t->progress(t->progress_ctx, line);
      }
    }
  }
  t->pretrained = 1;
  int due = t->due;
  t->due = 0;
  if (af_qtopt_learn(t, due, 0, st)) return numeric_error(t, err, errsz);
  return AF_OK;
}

// Q, both targets, Adam's moments, and the exact counters and RNG state (the fresh replay is
// saved apart; the dataset is read again from its file at make)
enum { N_WORDS = 8 };  // adam steps, observed, iterations, pretrained, rng words (4)
typedef struct { float words[4 * N_WORDS]; } packed_state;

static int tensors(af_qtopt *t, af_tensor *out, packed_state *ps) {
  const size_t np = (size_t)af_mlp_nparams(t->q);
  int k = 0;
  out[k++] = (af_tensor){"q", af_mlp_params(t->q), np};
  out[k++] = (af_tensor){"q_target1", af_mlp_params(t->q1t), np};
  out[k++] = (af_tensor){"q_target2", af_mlp_params(t->q2t), np};
  out[k++] = (af_tensor){"q_m", t->opt.m, np};
  out[k++] = (af_tensor){"q_v", t->opt.v, np};
  out[k++] = (af_tensor){"counters", ps->words, 4 * N_WORDS};
  if (t->cfg.norm.obs_norm) out[k++] = af_normalizer_tensor(&t->norm, "obs_norm");
  if (t->pix) {
    // the encoder steps with Q: its Adam step count is Q's
    const size_t ne = (size_t)af_conv_nparams(t->enc);
    out[k++] = (af_tensor){"encoder", af_conv_params(t->enc), ne};
    out[k++] = (af_tensor){"encoder_target1", af_conv_params(t->enc1t), ne};
    out[k++] = (af_tensor){"encoder_target2", af_conv_params(t->enc2t), ne};
    out[k++] = (af_tensor){"encoder_m", t->opt_enc.m, ne};
    out[k++] = (af_tensor){"encoder_v", t->opt_enc.v, ne};
  }
  return k;
}

static int qtopt_save(void *p, const char *path, char *err, size_t errsz) {
  af_qtopt *t = p;
  af_tensor ts[16];
  packed_state ps;
  af_nn_pack_u64(ps.words, (uint64_t)t->opt.t);
  af_nn_pack_u64(ps.words + 4, (uint64_t)t->observed);
  af_nn_pack_u64(ps.words + 8, (uint64_t)t->iterations);
  af_nn_pack_u64(ps.words + 12, (uint64_t)t->pretrained);
  for (int i = 0; i < 4; i++) af_nn_pack_u64(ps.words + 16 + 4 * i, t->rng.s[i]);
  if (t->cfg.norm.obs_norm) af_normalizer_pack(&t->norm);
  int n = tensors(t, ts, &ps);
  return af_nn_save(path, ts, n, err, errsz);
}

static int qtopt_load(void *p, const char *path, char *err, size_t errsz) {
  af_qtopt *t = p;
  af_tensor ts[16];
  packed_state ps;
  int n = tensors(t, ts, &ps);
  if (af_nn_load(path, ts, n, err, errsz)) return -1;
  af_rng rng;
  for (int i = 0; i < 4; i++) rng.s[i] = af_nn_unpack_u64(ps.words + 16 + 4 * i);
  uint64_t observed = af_nn_unpack_u64(ps.words + 4), iterations = af_nn_unpack_u64(ps.words + 8);
  uint64_t pretrained = af_nn_unpack_u64(ps.words + 12);
  if (!af_nn_packed_ok(ps.words, N_WORDS) || observed > INT64_MAX || iterations > INT64_MAX || pretrained > 1) {
    snprintf(err, errsz, "%s: the counters are not packed 64-bit counts", path);
    return -1;
  }
  if (!(rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3])) { snprintf(err, errsz, "%s: the random state is all zero", path); return -1; }
  if (t->cfg.norm.obs_norm && af_normalizer_unpack(&t->norm, err, errsz)) return -1;
  t->opt.t = t->opt_enc.t = (double)af_nn_unpack_u64(ps.words);
  t->observed = (long)observed;
  t->iterations = (long)iterations;
  t->pretrained = (int)pretrained;
  t->rng = rng;
  t->due = 0;
  return 0;
}

static int qtopt_save_replay(void *p, const char *path, char *err, size_t errsz) {
  af_qtopt *t = p;
  return t->pix ? af_image_replay_save(&t->ireplay, path, err, errsz) : af_replay_save(&t->replay, path, err, errsz);
}

static int qtopt_load_replay(void *p, const char *path, char *err, size_t errsz) {
  af_qtopt *t = p;
  return t->pix ? af_image_replay_load(&t->ireplay, path, err, errsz) : af_replay_load(&t->replay, path, err, errsz);
}

const af_agent_def af_qtopt_def = {
  .name = "qtopt",
  .description = "QT-Opt: sigmoid Q(s, a) trained by cross-entropy, CEM maximization, clipped double Q over two lagged targets, offline datasets",
  .params = qtopt_params,
  .nparams = sizeof qtopt_params / sizeof qtopt_params[0],
  .cfg_size = sizeof(af_qtopt_cfg),
  .make = qtopt_make,
  .free = qtopt_free,
  .act = qtopt_act,
  .observe = qtopt_observe,
  .update = qtopt_update,
  .save = qtopt_save,
  .load = qtopt_load,
  .save_replay = qtopt_save_replay,
  .load_replay = qtopt_load_replay,
  .policy = NULL,
};
