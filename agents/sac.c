// Soft Actor-Critic on the oneDNN network core. One update: critic step on the soft Bellman
// target, actor step through the (min of the) critics, temperature step, Polyak averaging.
#include "agents/sac.h"
#include "agents/tanh_gauss.h"

#include <math.h>    // expf, logf, tanhf
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy

// ---- hyperparameters (defaults as in ../shared/AGENTS.md) ----
static const af_param sac_params[] = {
  {"lr", AF_P_DOUBLE, offsetof(af_sac_cfg, lr), 3e-4, 1e-6, 1, NULL, "Adam step size of actor, critics and temperature"},
  {"batch", AF_P_INT, offsetof(af_sac_cfg, batch), 256, 1, 8192, NULL, "minibatch size"},
  {"hidden", AF_P_INT, offsetof(af_sac_cfg, hidden), 256, 1, 4096, NULL, "units per hidden layer"},
  {"layers", AF_P_INT, offsetof(af_sac_cfg, layers), 2, 1, 6, NULL, "hidden layers"},
  {"gamma", AF_P_DOUBLE, offsetof(af_sac_cfg, gamma), 0.99, 0, 1, NULL, "discount"},
  {"tau", AF_P_DOUBLE, offsetof(af_sac_cfg, tau), 0.005, 0, 1, NULL, "Polyak factor of the target critics"},
  {"buffer", AF_P_INT, offsetof(af_sac_cfg, buffer), 1000000, 1, AF_REPLAY_MAX, NULL, "replay capacity (transitions)"},
  {"warmup", AF_P_INT, offsetof(af_sac_cfg, warmup), 5000, 0, 10000000, NULL, "uniform random actions for this many steps before learning"},
  {"updates_per_step", AF_P_INT, offsetof(af_sac_cfg, updates_per_step), 1, 0, 64, NULL, "gradient updates every update_every environment steps"},
  {"update_every", AF_P_INT, offsetof(af_sac_cfg, update_every), 1, 1, 1000000, NULL, "environment steps (over all environments) between rounds of updates"},
  {"init_alpha", AF_P_DOUBLE, offsetof(af_sac_cfg, init_alpha), 1.0, 1e-6, 100, NULL, "initial entropy temperature"},
  {"learn_alpha", AF_P_BOOL, offsetof(af_sac_cfg, learn_alpha), 1, 0, 1, NULL, "learn the temperature towards entropy -|A|"},
  {"grad_clip", AF_P_DOUBLE, offsetof(af_sac_cfg, grad_clip), 0, 0, 1e6, NULL, "clip gradient norms (0: off)"},
  {"log_std_min", AF_P_DOUBLE, offsetof(af_sac_cfg, log_std_min), -20, -30, 0, NULL, "lower clip of the actor's log std"},
  {"log_std_max", AF_P_DOUBLE, offsetof(af_sac_cfg, log_std_max), 2, -5, 5, NULL, "upper clip of the actor's log std"},
  AF_HER_PARAMS(af_sac_cfg, her),
  AF_NORM_PARAMS(af_sac_cfg, norm),
};

// a tanh-Gaussian sample for each row of the actor's output (agents/tanh_gauss.h)
static void squash(const af_sac *s, int B, const float *out, const float *eps, float *a, float *work, float *sd_out, float *logp) {
  af_tanh_gauss_sample(B, s->ad, (float)s->cfg.log_std_min, (float)s->cfg.log_std_max, out, eps, a, work, sd_out, logp);
}

// are a network's gradients all finite?
static int net_finite(af_mlp *net) { return af_nn_finite(af_mlp_grads(net), (size_t)af_mlp_nparams(net)); }

// critic input rows: [obs, action]
static void concat(float *dst, const float *obs, const float *act, int B, int od, int ad) {
  for (int b = 0; b < B; b++) {
    memcpy(dst + (size_t)b * (od + ad), obs + (size_t)b * od, sizeof(float) * od);
    memcpy(dst + (size_t)b * (od + ad) + od, act + (size_t)b * ad, sizeof(float) * ad);
  }
}

void af_sac_grads(af_sac *s, const float *obs, const float *act, const float *rew, const float *next_obs,
                  const float *done, const float *eps_next, const float *eps_pi, int apply, af_sac_losses *out) {
  const int B = s->B, od = s->od, ad = s->ad, qd = od + ad;
  const float alpha = expf(s->log_alpha), gamma = (float)s->cfg.gamma, invB = 1.0f / B;

  // ---- critics: y = r + gamma (1 - done) (min Q'(s', a') - alpha log pi(a'|s')) ----
  const float *pout = af_mlp_forward(s->actor, B, next_obs);
  squash(s, B, pout, eps_next, s->a_pi, s->work_pi, s->sd_pi, s->logp_next);
  concat(s->qin_next, next_obs, s->a_pi, B, od, ad);
  const float *t1 = af_mlp_forward(s->q1t, B, s->qin_next), *t2 = af_mlp_forward(s->q2t, B, s->qin_next);
  for (int b = 0; b < B; b++) s->y[b] = rew[b] + gamma * (1 - done[b]) * (fminf(t1[b], t2[b]) - alpha * s->logp_next[b]);
  // loss 0.5 mean (q1 - y)^2 + 0.5 mean (q2 - y)^2
  concat(s->qin, obs, act, B, od, ad);
  float closs = 0;
  const float *q1 = af_mlp_forward(s->q1, B, s->qin);
  for (int b = 0; b < B; b++) { float d = q1[b] - s->y[b]; closs += 0.5f * d * d * invB; s->dq1[b] = d * invB; }
  af_mlp_backward(s->q1, B, s->dq1, NULL, 1, 0);
  const float *q2 = af_mlp_forward(s->q2, B, s->qin);
  for (int b = 0; b < B; b++) { float d = q2[b] - s->y[b]; closs += 0.5f * d * d * invB; s->dq2[b] = d * invB; }
  af_mlp_backward(s->q2, B, s->dq2, NULL, 1, 0);
  // a non-finite critic loss or gradient: the whole update is skipped, nothing changes
  int skipped = 0;
  if (apply && !(isfinite(closs) && net_finite(s->q1) && net_finite(s->q2))) apply = 0, skipped = 1;
  if (apply) {
    if (s->cfg.grad_clip > 0) {
      af_nn_clip_grad_norm(af_mlp_grads(s->q1), af_mlp_nparams(s->q1), (float)s->cfg.grad_clip);
      af_nn_clip_grad_norm(af_mlp_grads(s->q2), af_mlp_nparams(s->q2), (float)s->cfg.grad_clip);
    }
    af_adam_step(&s->opt_q1, af_mlp_params(s->q1), af_mlp_grads(s->q1));
    af_adam_step(&s->opt_q2, af_mlp_params(s->q2), af_mlp_grads(s->q2));
  }

  // ---- actor: mean(alpha log pi(a|s) - min Q(s, a)), a = tanh(mu + std eps) ----
  pout = af_mlp_forward(s->actor, B, obs);
  squash(s, B, pout, eps_pi, s->a_pi, s->work_pi, s->sd_pi, s->logp);
  concat(s->qin, obs, s->a_pi, B, od, ad);
  const float *n1 = af_mlp_forward(s->q1, B, s->qin), *n2 = af_mlp_forward(s->q2, B, s->qin);
  float aloss = 0, ent = 0;
  // dL/dQ: -1/B on whichever critic is the smaller, per row
  for (int b = 0; b < B; b++) {
    int first = n1[b] <= n2[b];
    aloss += (alpha * s->logp[b] - (first ? n1[b] : n2[b])) * invB;
    ent -= s->logp[b] * invB;
    s->dq1[b] = first ? -invB : 0;
    s->dq2[b] = first ? 0 : -invB;
  }
  // dL/d(action) through both critics, without touching their gradients
  af_mlp_backward(s->q1, B, s->dq1, s->dqin1, 0, 0);
  af_mlp_backward(s->q2, B, s->dq2, s->dqin2, 0, 0);
  // through the squashing and the reparameterization into (mu, log std)
  af_tanh_gauss_backward(s->dact, B, ad, (float)s->cfg.log_std_min, (float)s->cfg.log_std_max, alpha, invB, pout, s->a_pi, s->sd_pi,
                         eps_pi, s->dqin1, s->dqin2, qd, od);
  af_mlp_backward(s->actor, B, s->dact, NULL, 1, 0);
  // ---- temperature: -mean(log_alpha (log pi + target entropy)) ----
  float g = 0;
  for (int b = 0; b < B; b++) g -= (s->logp[b] + s->target_entropy) * invB;
  s->log_alpha_grad = g;
  // a non-finite actor or temperature loss or gradient: their steps and the targets' skipped
  if (apply && !(isfinite(aloss) && isfinite(g) && net_finite(s->actor))) apply = 0, skipped = 2;
  if (apply) {
    if (s->cfg.grad_clip > 0) af_nn_clip_grad_norm(af_mlp_grads(s->actor), af_mlp_nparams(s->actor), (float)s->cfg.grad_clip);
    af_adam_step(&s->opt_actor, af_mlp_params(s->actor), af_mlp_grads(s->actor));
  }
  if (apply && s->cfg.learn_alpha) af_adam_step(&s->opt_alpha, &s->log_alpha, &s->log_alpha_grad);

  // ---- targets ----
  if (apply) {
    af_nn_polyak(af_mlp_params(s->q1t), af_mlp_params(s->q1), af_mlp_nparams(s->q1), (float)s->cfg.tau);
    af_nn_polyak(af_mlp_params(s->q2t), af_mlp_params(s->q2), af_mlp_nparams(s->q2), (float)s->cfg.tau);
  }
  if (out) {
    out->critic_loss = closs;
    out->actor_loss = aloss;
    out->alpha_loss = s->log_alpha * g;
    out->entropy = ent;
    out->skipped = skipped;
  }
}

static void sac_free(void *p) {
  af_sac *s = p;
  if (!s) return;
  af_mlp_free(s->actor);
  af_mlp_free(s->q1);
  af_mlp_free(s->q2);
  af_mlp_free(s->q1t);
  af_mlp_free(s->q2t);
  af_adam_free(&s->opt_actor);
  af_adam_free(&s->opt_q1);
  af_adam_free(&s->opt_q2);
  af_adam_free(&s->opt_alpha);
  af_replay_free(&s->replay);
  af_normalizer_free(&s->norm);
  af_nn_ctx_free(s->ctx);
  free(s->obs);
  free(s);
}

static void *sac_make(const void *cfgp, const af_agent_setup *setup, const af_agent_common *common, char *err, size_t errsz) {
  const af_sac_cfg *c = cfgp;
  const af_env_spec *spec = setup->spec;
  const uint64_t seed = setup->seed;
  if (c->log_std_min >= c->log_std_max) { snprintf(err, errsz, "agent.log_std_min must be below agent.log_std_max"); return NULL; }
  if (spec->obs_dim < 1 || spec->act_dim < 1) { snprintf(err, errsz, "sac: needs a state observation and an action (obs %d, act %d)", spec->obs_dim, spec->act_dim); return NULL; }
  af_sac *s = calloc(1, sizeof *s);
  if (!s) { snprintf(err, errsz, "out of memory"); return NULL; }
  s->cfg = *c;
  s->od = spec->obs_dim;
  s->ad = spec->act_dim;
  s->B = c->batch;
  s->N = setup->num_envs;
  s->gd = spec->goal_dim;
  s->achieved_offset = spec->achieved_offset;
  s->desired_offset = spec->desired_offset;
  s->target_entropy = -(float)spec->act_dim;
  s->log_alpha = logf((float)c->init_alpha);
  af_rng_seed(&s->rng, af_seed_derive(seed, 0x5AC));
  // networks: actor obs -> 2 |A|, critics [obs, act] -> 1; the actor is planned for the
  // batch, the N environments and one row (evaluation), the critics for the batch
  int asz[8], qsz[8], L = c->layers + 1;
  asz[0] = s->od;
  qsz[0] = s->od + s->ad;
  for (int l = 1; l < L; l++) asz[l] = qsz[l] = c->hidden;
  asz[L] = 2 * s->ad;
  qsz[L] = 1;
  int bs[3] = {c->batch}, nb = 1;
  if (s->N != c->batch) bs[nb++] = s->N;
  if (s->N != 1 && c->batch != 1) bs[nb++] = 1;
  if (!(s->ctx = af_agent_nn_ctx(common, err, errsz)) ||
      !(s->actor = af_mlp_make(s->ctx, L, asz, AF_ACT_RELU, AF_ACT_NONE, bs, nb, err, errsz)) ||
      !(s->q1 = af_mlp_make(s->ctx, L, qsz, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, errsz)) ||
      !(s->q2 = af_mlp_make(s->ctx, L, qsz, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, errsz)) ||
      !(s->q1t = af_mlp_make(s->ctx, L, qsz, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, errsz)) ||
      !(s->q2t = af_mlp_make(s->ctx, L, qsz, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, errsz))) {
    sac_free(s);
    return NULL;
  }
  af_rng init;
  af_rng_seed(&init, af_seed_derive(seed, 0x1417));
  af_mlp_init(s->actor, &init);
  af_mlp_init(s->q1, &init);
  af_mlp_init(s->q2, &init);
  memcpy(af_mlp_params(s->q1t), af_mlp_params(s->q1), sizeof(float) * af_mlp_nparams(s->q1));
  memcpy(af_mlp_params(s->q2t), af_mlp_params(s->q2), sizeof(float) * af_mlp_nparams(s->q2));
  float lr = (float)c->lr;
  if (af_adam_init(&s->opt_actor, af_mlp_nparams(s->actor), lr, err, errsz) ||
      af_adam_init(&s->opt_q1, af_mlp_nparams(s->q1), lr, err, errsz) ||
      af_adam_init(&s->opt_q2, af_mlp_nparams(s->q2), lr, err, errsz) || af_adam_init(&s->opt_alpha, 1, lr, err, errsz) ||
      af_replay_init(&s->replay, c->buffer, s->od, s->ad, s->gd, err, errsz) ||
      af_replay_her_setup(&s->replay, &c->her, setup, err, errsz) ||
      (c->norm.obs_norm && af_normalizer_init(&s->norm, s->od, (float)c->norm.obs_clip, 0.01f, err, errsz))) {
    sac_free(s);
    return NULL;
  }
  // batch and scratch in one allocation, and the acting scratch for N rows
  const int B = s->B, od = s->od, ad = s->ad, qd = od + ad, N = s->N;
  size_t n = (size_t)B * (2 * od + ad + 2 + 2 * qd + 2 * ad + 3 * ad + 2 + 3 + 2 * qd + 2 * ad) + (size_t)N * (3 * ad + 1 + od);
  float *p = s->obs = calloc(n, sizeof(float));
  if (!p) { snprintf(err, errsz, "out of memory"); sac_free(s); return NULL; }
  s->obs = p; p += (size_t)B * od;
  s->next_obs = p; p += (size_t)B * od;
  s->act = p; p += (size_t)B * ad;
  s->rew = p; p += B;
  s->done = p; p += B;
  s->qin = p; p += (size_t)B * qd;
  s->qin_next = p; p += (size_t)B * qd;
  s->eps_next = p; p += (size_t)B * ad;
  s->eps_pi = p; p += (size_t)B * ad;
  s->a_pi = p; p += (size_t)B * ad;
  s->work_pi = p; p += (size_t)B * ad;
  s->sd_pi = p; p += (size_t)B * ad;
  s->logp = p; p += B;
  s->logp_next = p; p += B;
  s->y = p; p += B;
  s->dq1 = p; p += B;
  s->dq2 = p; p += B;
  s->dqin1 = p; p += (size_t)B * qd;
  s->dqin2 = p; p += (size_t)B * qd;
  s->dact = p; p += (size_t)B * 2 * ad;
  s->act_eps = p; p += (size_t)N * ad;
  s->act_work = p; p += (size_t)N * ad;
  s->act_sd = p; p += (size_t)N * ad;
  s->act_logp = p; p += N;
  s->act_obs = p;
  return s;
}

static int numeric_error(const af_sac *s, char *err, size_t errsz) {
  const char *e = af_nn_ctx_error(s->ctx);
  if (!e) return AF_OK;
  snprintf(err, errsz, "sac: %s", e);
  return AF_ERR_NUMERIC;
}

// the deterministic policy: tanh of the actor's mean head, the first act_dim outputs
// a learned reward for every batch sampled from the replay
static void sac_set_reward_hook(void *p, af_reward_hook hook, void *ctx) { af_replay_set_reward_hook(&((af_sac *)p)->replay, hook, ctx); }

static int sac_policy(void *p, af_policy *out, char *err, size_t errsz) {
  af_sac *s = p;
  int norm = s->cfg.norm.obs_norm;
  return af_policy_from_mlp(out, s->od, s->ad, s->actor, norm ? s->norm.fmean : NULL, norm ? s->norm.fstd : NULL,
                            norm ? s->norm.clip : 0, 1, err, errsz);
}

static int sac_act(void *p, float *action, const float *obs, int n, int deterministic, char *err, size_t errsz) {
  af_sac *s = p;
  if (n != 1 && n != s->N) { snprintf(err, errsz, "sac: act on %d observations (made for 1 or %d)", n, s->N); return AF_ERR_ARG; }
  const int ad = s->ad;
  // uniform random during warm-up
  if (!deterministic && s->observed < s->cfg.warmup) {
    for (int i = 0; i < n * ad; i++) action[i] = (float)af_rng_range(&s->rng, -1, 1);
    return AF_OK;
  }
  // the actor sees normalized observations when normalization is on
  if (s->cfg.norm.obs_norm) {
    af_normalizer_apply(&s->norm, s->act_obs, obs, n);
    obs = s->act_obs;
  }
  af_nn_ctx_enter(s->ctx);
  const float *out = af_mlp_forward(s->actor, n, obs);
  if (out && deterministic) {
    for (int b = 0; b < n; b++)
      for (int i = 0; i < ad; i++) action[b * ad + i] = tanhf(out[b * 2 * ad + i]);
  } else if (out) {
    af_rng_normal_fill(&s->rng, s->act_eps, n * ad);
    squash(s, n, out, s->act_eps, action, s->act_work, s->act_sd, s->act_logp);
  }
  af_nn_ctx_leave(s->ctx);
  return numeric_error(s, err, errsz);
}

// each transition goes into the replay (raw: relabelling rewrites raw goals) and into the
// observation statistics; every update_every-th one after the warm-up makes updates_per_step
// updates due
static int sac_observe(void *p, const af_batch *b, char *err, size_t errsz) {
  af_sac *s = p;
  if (b->n != s->N) { snprintf(err, errsz, "sac: observe %d transitions (made for %d environments)", b->n, s->N); return AF_ERR_ARG; }
  af_replay_add_batch(&s->replay, b);
  for (int i = 0; i < b->n; i++) {
    s->observed++;
    if (s->observed >= s->cfg.warmup && s->observed % s->cfg.update_every == 0) s->due += s->cfg.updates_per_step;
  }
  if (s->cfg.norm.obs_norm) af_normalizer_update(&s->norm, b->obs, b->n);
  return AF_OK;
}

int af_sac_learn(af_sac *s, int updates, af_agent_stats *st) {
  memset(st, 0, sizeof *st);
  af_sac_losses l;
  af_nn_ctx_enter(s->ctx);
  for (int k = 0; k < updates && s->replay.size > 0; k++) {
    af_replay_sample(&s->replay, &s->rng, s->B, s->obs, s->act, s->rew, s->next_obs, s->done);
    if (s->cfg.norm.obs_norm) {
      af_normalizer_apply(&s->norm, s->obs, s->obs, s->B);
      af_normalizer_apply(&s->norm, s->next_obs, s->next_obs, s->B);
    }
    af_rng_normal_fill(&s->rng, s->eps_next, s->B * s->ad);
    af_rng_normal_fill(&s->rng, s->eps_pi, s->B * s->ad);
    af_sac_grads(s, s->obs, s->act, s->rew, s->next_obs, s->done, s->eps_next, s->eps_pi, 1, &l);
    st->updates++;
    st->skipped += l.skipped != 0;
    st->critic_loss = l.critic_loss;
    st->actor_loss = l.actor_loss;
    st->entropy = l.entropy;
  }
  af_nn_ctx_leave(s->ctx);
  st->alpha = expf(s->log_alpha);
  return af_nn_ctx_error(s->ctx) ? AF_ERR_NUMERIC : AF_OK;
}

static int sac_update(void *p, af_agent_stats *st, char *err, size_t errsz) {
  af_sac *s = p;
  int due = s->due;
  s->due = 0;
  if (af_sac_learn(s, due, st)) return numeric_error(s, err, errsz);
  return AF_OK;
}

// networks, optimizer moments, temperature, and the exact counters and RNG state, so that a
// loaded agent continues as the saved one would have (the replay buffer is saved apart).
// Checkpoints are taken after update, when no update is due.
int af_sac_tensors(af_sac *s, af_tensor *t, float *words) {
  af_mlp *nets[5] = {s->actor, s->q1, s->q2, s->q1t, s->q2t};
  af_adam *opts[4] = {&s->opt_actor, &s->opt_q1, &s->opt_q2, &s->opt_alpha};
  static const char *nn[5] = {"actor", "q1", "q2", "q1_target", "q2_target"};
  static const char *on[8] = {"actor_m", "actor_v", "q1_m", "q1_v", "q2_m", "q2_v", "alpha_m", "alpha_v"};
  int k = 0;
  for (int i = 0; i < 5; i++) t[k++] = (af_tensor){nn[i], af_mlp_params(nets[i]), (size_t)af_mlp_nparams(nets[i])};
  for (int i = 0; i < 4; i++) {
    t[k++] = (af_tensor){on[2 * i], opts[i]->m, (size_t)opts[i]->n};
    t[k++] = (af_tensor){on[2 * i + 1], opts[i]->v, (size_t)opts[i]->n};
  }
  t[k++] = (af_tensor){"log_alpha", &s->log_alpha, 1};
  // adam steps (4), observed transitions (1), rng words (4), packed 16 bits at a time
  t[k++] = (af_tensor){"counters", words, AF_SAC_WORDS};
  // the observation statistics, when normalizing
  if (s->cfg.norm.obs_norm) t[k++] = af_normalizer_tensor(&s->norm, "obs_norm");
  return k;
}

void af_sac_pack(af_sac *s, float *words) {
  const af_adam *opts[4] = {&s->opt_actor, &s->opt_q1, &s->opt_q2, &s->opt_alpha};
  for (int i = 0; i < 4; i++) af_nn_pack_u64(words + 4 * i, (uint64_t)opts[i]->t);
  af_nn_pack_u64(words + 16, (uint64_t)s->observed);
  for (int i = 0; i < 4; i++) af_nn_pack_u64(words + 20 + 4 * i, s->rng.s[i]);
  if (s->cfg.norm.obs_norm) af_normalizer_pack(&s->norm);
}

// the counters as a file gave them: packed words, a transition count that fits a long, an
// RNG state that is not all zero (xoshiro's one fixed point); 0, or -1 with a message
int af_sac_unpack(af_sac *s, const float *words, const char *path, char *err, size_t errsz) {
  af_rng rng;
  for (int i = 0; i < 4; i++) rng.s[i] = af_nn_unpack_u64(words + 20 + 4 * i);
  uint64_t observed = af_nn_unpack_u64(words + 16);
  if (!af_nn_packed_ok(words, 9) || observed > INT64_MAX) { snprintf(err, errsz, "%s: the counters are not packed 64-bit counts", path); return -1; }
  if (!(rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3])) { snprintf(err, errsz, "%s: the random state is all zero", path); return -1; }
  af_adam *opts[4] = {&s->opt_actor, &s->opt_q1, &s->opt_q2, &s->opt_alpha};
  for (int i = 0; i < 4; i++) opts[i]->t = (double)af_nn_unpack_u64(words + 4 * i);
  s->observed = (long)observed;
  s->rng = rng;
  if (s->cfg.norm.obs_norm && af_normalizer_unpack(&s->norm, err, errsz)) return -1;
  return 0;
}

static int sac_save(void *p, const char *path, char *err, size_t errsz) {
  af_sac *s = p;
  af_tensor t[AF_SAC_MAX_TENSORS];
  float words[AF_SAC_WORDS];
  af_sac_pack(s, words);
  int n = af_sac_tensors(s, t, words);
  return af_nn_save(path, t, n, err, errsz);
}

static int sac_load(void *p, const char *path, char *err, size_t errsz) {
  af_sac *s = p;
  af_tensor t[AF_SAC_MAX_TENSORS];
  float words[AF_SAC_WORDS];
  int n = af_sac_tensors(s, t, words);
  return af_nn_load(path, t, n, err, errsz) || af_sac_unpack(s, words, path, err, errsz) ? -1 : 0;
}

static int sac_save_replay(void *p, const char *path, char *err, size_t errsz) {
  return af_replay_save(&((af_sac *)p)->replay, path, err, errsz);
}

static int sac_load_replay(void *p, const char *path, char *err, size_t errsz) {
  return af_replay_load(&((af_sac *)p)->replay, path, err, errsz);
}

double af_sac_update_flops(const af_sac *s) {
  const int B = s->B;
  double af = af_mlp_flops(s->actor, B, AF_FLOPS_FORWARD), qf = af_mlp_flops(s->q1, B, AF_FLOPS_FORWARD);
  double aw = af_mlp_flops(s->actor, B, AF_FLOPS_WEIGHTS), qw = af_mlp_flops(s->q1, B, AF_FLOPS_WEIGHTS);
  double qh = af_mlp_flops(s->q1, B, AF_FLOPS_DATA_HIDDEN), qx = af_mlp_flops(s->q1, B, AF_FLOPS_DATA_ALL);
  double ah = af_mlp_flops(s->actor, B, AF_FLOPS_DATA_HIDDEN);
  // critic step: next actions, two targets, two critics forward and backward to the weights;
  // actor step: actions, two critics forward and back to their input, actor backward
  return af + 2 * qf + 2 * (qf + qw + qh) + af + 2 * (qf + qx) + aw + ah;
}

const af_agent_def af_sac_def = {
  .name = "sac",
  .description = "Soft Actor-Critic: twin critics, tanh-Gaussian actor, learned temperature",
  .params = sac_params,
  .nparams = sizeof sac_params / sizeof sac_params[0],
  .cfg_size = sizeof(af_sac_cfg),
  .make = sac_make,
  .free = sac_free,
  .act = sac_act,
  .observe = sac_observe,
  .update = sac_update,
  .save = sac_save,
  .load = sac_load,
  .save_replay = sac_save_replay,
  .load_replay = sac_load_replay,
  .policy = sac_policy,
  .set_reward_hook = sac_set_reward_hook,
};
