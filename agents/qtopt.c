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
  const int od = t->od, ad = t->ad, qd = t->qd;
  for (int k = 0; k < n; k++) memcpy(t->score_in + (size_t)k * qd + od, actions + (size_t)k * ad, sizeof(float) * ad);
  const float *out = af_mlp_forward(t->score_net, n, t->score_in);
  if (!out) return AF_ERR_NUMERIC;
  memcpy(scores, out, sizeof(float) * n);
  return 0;
}

int af_qtopt_targets(af_qtopt *t, const float *rew, const float *next_obs, const float *done, float *y, float *astar) {
  const int B = t->B, S = t->S, od = t->od, ad = t->ad, qd = t->qd;
  // a* by CEM over target 1; its best score is Q1'(s', a*)
  fill_obs(t->pop_in, next_obs, B, S, od, qd);
  t->score_net = t->q1t;
  t->score_in = t->pop_in;
  if (af_cem_run(&t->cem_tgt, B, score, t, &t->rng, t->astar, t->lstar)) return AF_ERR_NUMERIC;
  // target 2 at a*
  for (int b = 0; b < B; b++) {
    memcpy(t->t2in + (size_t)b * qd, next_obs + (size_t)b * od, sizeof(float) * od);
    memcpy(t->t2in + (size_t)b * qd + od, t->astar + (size_t)b * ad, sizeof(float) * ad);
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

float af_qtopt_loss_grads(af_qtopt *t, const float *obs, const float *act, const float *y) {
  const int B = t->B, K = t->K, od = t->od, ad = t->ad, qd = t->qd;
  // rows: the batch, then each state with its K random actions
  for (int b = 0; b < B; b++) {
    memcpy(t->train_in + (size_t)b * qd, obs + (size_t)b * od, sizeof(float) * od);
    memcpy(t->train_in + (size_t)b * qd + od, act + (size_t)b * ad, sizeof(float) * ad);
    for (int j = 0; j < K; j++) {
      float *r = t->train_in + ((size_t)B + (size_t)b * K + j) * qd;
      memcpy(r, obs + (size_t)b * od, sizeof(float) * od);
      memcpy(r + od, t->ood_act + ((size_t)b * K + j) * ad, sizeof(float) * ad);
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
  af_mlp_backward(t->q, rows, t->dq, NULL, 1, 0);
  return loss;
}

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

int af_qtopt_learn(af_qtopt *t, int updates, int only_data, af_agent_stats *st) {
  memset(st, 0, sizeof *st);
  af_nn_ctx_enter(t->ctx);
  const int np = af_mlp_nparams(t->q);
  for (int k = 0; k < updates && (t->replay.size > 0 || t->data.size > 0); k++) {
    af_qtopt_sample(t, only_data);
    if (t->cfg.norm.obs_norm) {
      af_normalizer_apply(&t->norm, t->obs, t->obs, t->B);
      af_normalizer_apply(&t->norm, t->next_obs, t->next_obs, t->B);
    }
    if (af_qtopt_targets(t, t->rew, t->next_obs, t->done, t->y, NULL)) break;
    for (int i = 0; i < t->B * t->K * t->ad; i++) t->ood_act[i] = (float)af_rng_range(&t->rng, -1, 1);
    float loss = af_qtopt_loss_grads(t, t->obs, t->act, t->y);
    st->updates++;
    st->critic_loss = loss;
    // a non-finite loss or gradient: the update is skipped, nothing changes
    if (!isfinite(loss) || !af_nn_finite(af_mlp_grads(t->q), (size_t)np)) { st->skipped++; continue; }
    if (t->cfg.grad_clip > 0) af_nn_clip_grad_norm(af_mlp_grads(t->q), np, (float)t->cfg.grad_clip);
    af_adam_step(&t->opt, af_mlp_params(t->q), af_mlp_grads(t->q));
    af_nn_polyak(af_mlp_params(t->q1t), af_mlp_params(t->q), np, (float)t->cfg.tau);
    t->iterations++;
    if (t->iterations % t->cfg.target2_period == 0) memcpy(af_mlp_params(t->q2t), af_mlp_params(t->q1t), sizeof(float) * np);
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
  af_nn_ctx_free(t->ctx);
  free(t->obs);
  free(t);
}

// distinct batch sizes into bs; their count
static int add_size(int *bs, int n, int b) {
  for (int i = 0; i < n; i++)
    if (bs[i] == b) return n;
  bs[n] = b;
  return n + 1;
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
  t->qd = t->od + t->ad;
  t->B = c->batch;
  t->N = setup->num_envs;
  t->S = c->cem_samples;
  t->SA = sa;
  t->K = c->ood_weight > 0 ? c->ood_samples : 0;
  af_rng_seed(&t->rng, af_seed_derive(setup->seed, 0x07107));
  t->eval_seed = af_seed_derive(setup->seed, 0xE7A1);
  t->progress = setup->progress;
  t->progress_ctx = setup->progress_ctx;
  // Q: [obs, act] -> logit. Q is planned for the batch and for the acting populations (N
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
  af_cem_cfg ca = {sa, ea, c->cem_iters, (float)c->cem_std, (float)c->cem_min_std};
  if (!(t->ctx = af_agent_nn_ctx(common, err, errsz)) ||
      !(t->q = af_mlp_make(t->ctx, L, sz, AF_ACT_RELU, AF_ACT_NONE, bs, nb, err, errsz)) ||
      !(t->q1t = af_mlp_make(t->ctx, L, sz, AF_ACT_RELU, AF_ACT_NONE, &bpop, 1, err, errsz)) ||
      !(t->q2t = af_mlp_make(t->ctx, L, sz, AF_ACT_RELU, AF_ACT_NONE, &t->B, 1, err, errsz)) ||
      af_cem_init(&t->cem_act, &ca, t->ad, t->N, err, errsz) || af_cem_init(&t->cem_tgt, &cc, t->ad, t->B, err, errsz)) {
    qtopt_free(t);
    return NULL;
  }
  af_rng init;
  af_rng_seed(&init, af_seed_derive(setup->seed, 0x1417));
  af_mlp_init(t->q, &init);
  const int np = af_mlp_nparams(t->q);
  memcpy(af_mlp_params(t->q1t), af_mlp_params(t->q), sizeof(float) * np);
  memcpy(af_mlp_params(t->q2t), af_mlp_params(t->q), sizeof(float) * np);
  if (af_adam_init(&t->opt, np, (float)c->lr, err, errsz) || af_replay_init(&t->replay, c->buffer, t->od, t->ad, 0, err, errsz) ||
      (c->norm.obs_norm && af_normalizer_init(&t->norm, t->od, (float)c->norm.obs_clip, 0.01f, err, errsz))) {
    qtopt_free(t);
    return NULL;
  }
  // the replay's episodes: N environments adding in turn
  af_her_cfg her = {.strategy = AF_HER_NONE, .k = 1, .streams = t->N};
  if (af_replay_set_her(&t->replay, &her, err, errsz) || (c->dataset[0] && af_dataset_to_replay(c->dataset, spec, &t->data, err, errsz))) {
    qtopt_free(t);
    return NULL;
  }
  // the dataset's observations start the statistics
  if (c->norm.obs_norm && t->data.size > 0) af_normalizer_update(&t->norm, t->data.obs, (int)t->data.size);
  // batch and scratch in one allocation
  const int B = t->B, od = t->od, ad = t->ad, qd = t->qd, N = t->N, S = t->S, SA = t->SA, K = t->K;
  size_t n = (size_t)B * (2 * od + 2 * ad + 4 + qd) + (size_t)B * (1 + K) * (1 + qd) + (size_t)B * K * ad + (size_t)B * S * qd +
             (size_t)N * SA * qd + (size_t)N * ad + (size_t)N * od;
  float *p = calloc(n, sizeof(float));
  if (!p) { snprintf(err, errsz, "out of memory"); qtopt_free(t); return NULL; }
  t->obs = p; p += (size_t)B * od;
  t->next_obs = p; p += (size_t)B * od;
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
  if (t->cfg.norm.obs_norm) {
    af_normalizer_apply(&t->norm, t->act_obs, obs, n);
    obs = t->act_obs;
  }
  fill_obs(t->act_in, obs, n, t->SA, t->od, t->qd);
  t->score_net = t->q;
  t->score_in = t->act_in;
  af_nn_ctx_enter(t->ctx);
  int rc = af_cem_run(&t->cem_act, n, score, t, rng, action, NULL);
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
  int offline_only = t->data.size > 0 && t->cfg.offline_fraction >= 1;
  if (!offline_only) af_replay_add_batch(&t->replay, b);
  if (t->cfg.norm.obs_norm && !offline_only) af_normalizer_update(&t->norm, b->obs, b->n);
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
  if (!t->pretrained && t->data.size > 0 && t->cfg.pretrain_updates > 0) {
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
  return k;
}

static int qtopt_save(void *p, const char *path, char *err, size_t errsz) {
  af_qtopt *t = p;
  af_tensor ts[8];
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
  af_tensor ts[8];
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
  t->opt.t = (double)af_nn_unpack_u64(ps.words);
  t->observed = (long)observed;
  t->iterations = (long)iterations;
  t->pretrained = (int)pretrained;
  t->rng = rng;
  t->due = 0;
  return 0;
}

static int qtopt_save_replay(void *p, const char *path, char *err, size_t errsz) {
  return af_replay_save(&((af_qtopt *)p)->replay, path, err, errsz);
}

static int qtopt_load_replay(void *p, const char *path, char *err, size_t errsz) {
  return af_replay_load(&((af_qtopt *)p)->replay, path, err, errsz);
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
