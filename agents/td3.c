// Twin Delayed DDPG on the oneDNN network core. One update: critic step on the clipped
// double-Q target with a smoothed target action; every policy_delay-th update also an actor
// step through the first critic and Polyak averaging of the actor and critic targets.
#include "agents/td3.h"

#include <math.h>    // fminf
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy, memset

// ---- hyperparameters (defaults as in ../shared/AGENTS.md and sfujim/TD3) ----
static const af_param td3_params[] = {
  {"lr", AF_P_DOUBLE, offsetof(af_td3_cfg, lr), 3e-4, 1e-6, 1, NULL, "Adam step size of actor and critics"},
  {"batch", AF_P_INT, offsetof(af_td3_cfg, batch), 256, 1, 8192, NULL, "minibatch size"},
  {"hidden", AF_P_INT, offsetof(af_td3_cfg, hidden), 256, 1, 4096, NULL, "units per hidden layer"},
  {"layers", AF_P_INT, offsetof(af_td3_cfg, layers), 2, 1, 6, NULL, "hidden layers"},
  {"gamma", AF_P_DOUBLE, offsetof(af_td3_cfg, gamma), 0.99, 0, 1, NULL, "discount"},
  {"tau", AF_P_DOUBLE, offsetof(af_td3_cfg, tau), 0.005, 0, 1, NULL, "Polyak factor of the target actor and critics"},
  {"buffer", AF_P_INT, offsetof(af_td3_cfg, buffer), 1000000, 1, AF_REPLAY_MAX, NULL, "replay capacity (transitions)"},
  {"warmup", AF_P_INT, offsetof(af_td3_cfg, warmup), 5000, 0, 10000000, NULL, "uniform random actions for this many steps before learning"},
  {"updates_per_step", AF_P_INT, offsetof(af_td3_cfg, updates_per_step), 1, 0, 64, NULL, "gradient updates every update_every environment steps"},
  {"update_every", AF_P_INT, offsetof(af_td3_cfg, update_every), 1, 1, 1000000, NULL, "environment steps (over all environments) between rounds of updates"},
  {"policy_delay", AF_P_INT, offsetof(af_td3_cfg, policy_delay), 2, 1, 1000, NULL, "critic updates per actor and target update"},
  {"policy_noise", AF_P_DOUBLE, offsetof(af_td3_cfg, policy_noise), 0.2, 0, 10, NULL, "std of the target policy smoothing noise"},
  {"noise_clip", AF_P_DOUBLE, offsetof(af_td3_cfg, noise_clip), 0.5, 0, 10, NULL, "the smoothing noise is clipped to [-noise_clip, noise_clip]"},
  {"expl_noise", AF_P_DOUBLE, offsetof(af_td3_cfg, expl_noise), 0.1, 0, 10, NULL, "std of the Gaussian exploration noise (actions clipped to [-1, 1])"},
  {"grad_clip", AF_P_DOUBLE, offsetof(af_td3_cfg, grad_clip), 0, 0, 1e6, NULL, "clip gradient norms (0: off)"},
  AF_HER_PARAMS(af_td3_cfg, her),
  AF_NORM_PARAMS(af_td3_cfg, norm),
};

static float clampf(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }

// critic input rows: [obs, action]
static void concat(float *dst, const float *obs, const float *act, int B, int od, int ad) {
  for (int b = 0; b < B; b++) {
    memcpy(dst + (size_t)b * (od + ad), obs + (size_t)b * od, sizeof(float) * od);
    memcpy(dst + (size_t)b * (od + ad) + od, act + (size_t)b * ad, sizeof(float) * ad);
  }
}

// are a network's gradients all finite?
static int net_finite(af_mlp *net) { return af_nn_finite(af_mlp_grads(net), (size_t)af_mlp_nparams(net)); }

// an Adam step on a network's gradients, clipped first if asked
static void step(const af_td3 *t, af_adam *opt, af_mlp *net) {
  if (t->cfg.grad_clip > 0) af_nn_clip_grad_norm(af_mlp_grads(net), af_mlp_nparams(net), (float)t->cfg.grad_clip);
  af_adam_step(opt, af_mlp_params(net), af_mlp_grads(net));
}

void af_td3_grads(af_td3 *t, const float *obs, const float *act, const float *rew, const float *next_obs,
                  const float *done, const float *eps, int with_actor, int apply, af_td3_losses *out) {
  const int B = t->B, od = t->od, ad = t->ad, qd = od + ad;
  const float gamma = (float)t->cfg.gamma, invB = 1.0f / B;
  const float sigma = (float)t->cfg.policy_noise, c = (float)t->cfg.noise_clip;

  // ---- target action: a' = clip(pi'(s') + clip(sigma eps, -c, c), -1, 1) ----
  const float *pn = af_mlp_forward(t->actor_t, B, next_obs);
  for (int k = 0; pn && k < B * ad; k++) t->a_next[k] = clampf(pn[k] + clampf(sigma * eps[k], -c, c), -1, 1);

  // ---- critics: y = r + gamma (1 - done) min Q'(s', a'); loss mean (q1 - y)^2 + mean (q2 - y)^2 ----
  concat(t->qin_next, next_obs, t->a_next, B, od, ad);
  const float *t1 = af_mlp_forward(t->q1t, B, t->qin_next), *t2 = af_mlp_forward(t->q2t, B, t->qin_next);
  for (int b = 0; t1 && t2 && b < B; b++) t->y[b] = rew[b] + gamma * (1 - done[b]) * fminf(t1[b], t2[b]);
  concat(t->qin, obs, act, B, od, ad);
  float closs = 0;
  af_mlp *qs[2] = {t->q1, t->q2};
  for (int j = 0; j < 2; j++) {
    const float *q = af_mlp_forward(qs[j], B, t->qin);
    for (int b = 0; q && b < B; b++) { float d = q[b] - t->y[b]; closs += d * d * invB; t->dq[b] = 2 * d * invB; }
    af_mlp_backward(qs[j], B, t->dq, NULL, 1, 0);
  }
  // a non-finite critic loss or gradient: the whole update is skipped, nothing changes
  int skipped = 0;
  if (apply && !(isfinite(closs) && net_finite(t->q1) && net_finite(t->q2))) apply = 0, skipped = 1;
  if (apply) {
    step(t, &t->opt_q1, t->q1);
    step(t, &t->opt_q2, t->q2);
  }

  // ---- actor: -mean Q1(s, pi(s)), through the first critic only ----
  float aloss = 0;
  if (with_actor) {
    const float *pa = af_mlp_forward(t->actor, B, obs);
    if (pa) concat(t->qin, obs, pa, B, od, ad);
    const float *q = af_mlp_forward(t->q1, B, t->qin);
    for (int b = 0; q && b < B; b++) { aloss -= q[b] * invB; t->dq[b] = -invB; }
    // dL/d(action) through the critic, without touching its gradients
    af_mlp_backward(t->q1, B, t->dq, t->dqin, 0, 0);
    for (int b = 0; b < B; b++) memcpy(t->dact + (size_t)b * ad, t->dqin + (size_t)b * qd + od, sizeof(float) * ad);
    af_mlp_backward(t->actor, B, t->dact, NULL, 1, 0);
    // a non-finite actor loss or gradient: its step and the targets' skipped
    if (apply && !(isfinite(aloss) && net_finite(t->actor))) apply = 0, skipped = 2;
    if (apply) {
      step(t, &t->opt_actor, t->actor);
      // ---- targets, on the actor's schedule ----
      af_mlp *src[3] = {t->actor, t->q1, t->q2}, *dst[3] = {t->actor_t, t->q1t, t->q2t};
      for (int j = 0; j < 3; j++) af_nn_polyak(af_mlp_params(dst[j]), af_mlp_params(src[j]), af_mlp_nparams(src[j]), (float)t->cfg.tau);
    }
  }
  if (out) {
    out->critic_loss = closs;
    out->actor_loss = aloss;
    out->skipped = skipped;
  }
}

static void td3_free(void *p) {
  af_td3 *t = p;
  if (!t) return;
  af_mlp *nets[6] = {t->actor, t->actor_t, t->q1, t->q2, t->q1t, t->q2t};
  for (int i = 0; i < 6; i++) af_mlp_free(nets[i]);
  af_adam_free(&t->opt_actor);
  af_adam_free(&t->opt_q1);
  af_adam_free(&t->opt_q2);
  af_normalizer_free(&t->norm);
  af_replay_free(&t->replay);
  af_nn_ctx_free(t->ctx);
  free(t->obs);
  free(t);
}

static void *td3_make(const void *cfgp, const af_agent_setup *setup, const af_agent_common *common, char *err, size_t errsz) {
  const af_td3_cfg *c = cfgp;
  const af_env_spec *spec = setup->spec;
  const uint64_t seed = setup->seed;
  if (spec->obs_dim < 1 || spec->act_dim < 1) { snprintf(err, errsz, "td3: needs a state observation and an action (obs %d, act %d)", spec->obs_dim, spec->act_dim); return NULL; }
  af_td3 *t = calloc(1, sizeof *t);
  if (!t) { snprintf(err, errsz, "out of memory"); return NULL; }
  t->cfg = *c;
  t->od = spec->obs_dim;
  t->ad = spec->act_dim;
  t->B = c->batch;
  t->N = setup->num_envs;
  t->gd = spec->goal_dim;
  af_rng_seed(&t->rng, af_seed_derive(seed, 0x7D3));
  // networks: actor obs -> |A| through tanh, critics [obs, act] -> 1. The actor is planned
  // for the batch, the N environments and one row (evaluation); the rest for the batch
  int asz[8], qsz[8], L = c->layers + 1;
  asz[0] = t->od;
  qsz[0] = t->od + t->ad;
  for (int l = 1; l < L; l++) asz[l] = qsz[l] = c->hidden;
  asz[L] = t->ad;
  qsz[L] = 1;
  int bs[3] = {c->batch}, nb = 1;
  if (t->N != c->batch) bs[nb++] = t->N;
  if (t->N != 1 && c->batch != 1) bs[nb++] = 1;
  if (!(t->ctx = af_agent_nn_ctx(common, err, errsz)) ||
      !(t->actor = af_mlp_make(t->ctx, L, asz, AF_ACT_RELU, AF_ACT_TANH, bs, nb, err, errsz)) ||
      !(t->actor_t = af_mlp_make(t->ctx, L, asz, AF_ACT_RELU, AF_ACT_TANH, bs, 1, err, errsz)) ||
      !(t->q1 = af_mlp_make(t->ctx, L, qsz, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, errsz)) ||
      !(t->q2 = af_mlp_make(t->ctx, L, qsz, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, errsz)) ||
      !(t->q1t = af_mlp_make(t->ctx, L, qsz, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, errsz)) ||
      !(t->q2t = af_mlp_make(t->ctx, L, qsz, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, errsz))) {
    td3_free(t);
    return NULL;
  }
  // initial parameters from their own stream; the targets start as copies
  af_rng init;
  af_rng_seed(&init, af_seed_derive(seed, 0x1417));
  af_mlp_init(t->actor, &init);
  af_mlp_init(t->q1, &init);
  af_mlp_init(t->q2, &init);
  af_mlp *src[3] = {t->actor, t->q1, t->q2}, *dst[3] = {t->actor_t, t->q1t, t->q2t};
  for (int j = 0; j < 3; j++) memcpy(af_mlp_params(dst[j]), af_mlp_params(src[j]), sizeof(float) * af_mlp_nparams(src[j]));
  float lr = (float)c->lr;
  if (af_adam_init(&t->opt_actor, af_mlp_nparams(t->actor), lr, err, errsz) ||
      af_adam_init(&t->opt_q1, af_mlp_nparams(t->q1), lr, err, errsz) ||
      af_adam_init(&t->opt_q2, af_mlp_nparams(t->q2), lr, err, errsz) ||
      af_replay_init(&t->replay, c->buffer, t->od, t->ad, t->gd, err, errsz) ||
      af_replay_her_setup(&t->replay, &c->her, setup, err, errsz) ||
      (c->norm.obs_norm && af_normalizer_init(&t->norm, t->od, (float)c->norm.obs_clip, 0.01f, err, errsz))) {
    td3_free(t);
    return NULL;
  }
  // batch and scratch in one allocation, and the acting scratch for N rows
  const int B = t->B, od = t->od, ad = t->ad, qd = od + ad, N = t->N;
  size_t n = (size_t)B * (2 * od + 4 * ad + 3 * qd + 4) + (size_t)N * (ad + od);
  float *p = calloc(n, sizeof(float));
  if (!p) { snprintf(err, errsz, "out of memory"); td3_free(t); return NULL; }
  t->obs = p; p += (size_t)B * od;
  t->next_obs = p; p += (size_t)B * od;
  t->act = p; p += (size_t)B * ad;
  t->rew = p; p += B;
  t->done = p; p += B;
  t->eps = p; p += (size_t)B * ad;
  t->a_next = p; p += (size_t)B * ad;
  t->qin = p; p += (size_t)B * qd;
  t->qin_next = p; p += (size_t)B * qd;
  t->y = p; p += B;
  t->dq = p; p += B;
  t->dqin = p; p += (size_t)B * qd;
  t->dact = p; p += (size_t)B * ad;
  t->act_eps = p; p += (size_t)N * ad;
  t->act_obs = p;
  return t;
}

// the network core's sticky error as an error code with its message
static int numeric_error(const af_td3 *t, char *err, size_t errsz) {
  const char *e = af_nn_ctx_error(t->ctx);
  if (!e) return AF_OK;
  snprintf(err, errsz, "td3: %s", e);
  return AF_ERR_NUMERIC;
}

// the deterministic policy: the actor itself (its output layer is tanh)
// a learned reward for every batch sampled from the replay
static void td3_set_reward_hook(void *p, af_reward_hook hook, void *ctx) { af_replay_set_reward_hook(&((af_td3 *)p)->replay, hook, ctx); }

static int td3_policy(void *p, af_policy *out, char *err, size_t errsz) {
  af_td3 *t = p;
  int norm = t->cfg.norm.obs_norm;
  return af_policy_from_mlp(out, t->od, t->ad, t->actor, norm ? t->norm.fmean : NULL, norm ? t->norm.fstd : NULL,
                            norm ? t->norm.clip : 0, 0, err, errsz);
}

static int td3_act(void *p, float *action, const float *obs, int n, int deterministic, char *err, size_t errsz) {
  af_td3 *t = p;
  if (n != 1 && n != t->N) { snprintf(err, errsz, "td3: act on %d observations (made for 1 or %d)", n, t->N); return AF_ERR_ARG; }
  const int k = n * t->ad;
  // uniform random during warm-up
  if (!deterministic && t->observed < t->cfg.warmup) {
    for (int i = 0; i < k; i++) action[i] = (float)af_rng_range(&t->rng, -1, 1);
    return AF_OK;
  }
  // the actor sees normalized observations when normalization is on
  if (t->cfg.norm.obs_norm) {
    af_normalizer_apply(&t->norm, t->act_obs, obs, n);
    obs = t->act_obs;
  }
  af_nn_ctx_enter(t->ctx);
  const float *out = af_mlp_forward(t->actor, n, obs);
  // the actor's action, plus clipped Gaussian noise when exploring
  if (out && deterministic) {
    memcpy(action, out, sizeof(float) * k);
  } else if (out) {
    af_rng_normal_fill(&t->rng, t->act_eps, k);
    const float s = (float)t->cfg.expl_noise;
    for (int i = 0; i < k; i++) action[i] = clampf(out[i] + s * t->act_eps[i], -1, 1);
  }
  af_nn_ctx_leave(t->ctx);
  return numeric_error(t, err, errsz);
}

// each transition goes into the replay; every update_every-th one after the warm-up makes
// updates_per_step updates due (the schedule of sac_observe)
static int td3_observe(void *p, const af_batch *b, char *err, size_t errsz) {
  af_td3 *t = p;
  if (b->n != t->N) { snprintf(err, errsz, "td3: observe %d transitions (made for %d environments)", b->n, t->N); return AF_ERR_ARG; }
  af_replay_add_batch(&t->replay, b);
  for (int i = 0; i < b->n; i++) {
    t->observed++;
    if (t->observed >= t->cfg.warmup && t->observed % t->cfg.update_every == 0) t->due += t->cfg.updates_per_step;
  }
  if (t->cfg.norm.obs_norm) af_normalizer_update(&t->norm, b->obs, b->n);
  return AF_OK;
}

int af_td3_learn(af_td3 *t, int updates, af_agent_stats *st) {
  memset(st, 0, sizeof *st);
  af_td3_losses l;
  af_nn_ctx_enter(t->ctx);
  for (int k = 0; k < updates && t->replay.size > 0; k++) {
    // a batch, the smoothing noise, and the actor's turn every policy_delay-th iteration
    af_replay_sample(&t->replay, &t->rng, t->B, t->obs, t->act, t->rew, t->next_obs, t->done);
    if (t->cfg.norm.obs_norm) {
      af_normalizer_apply(&t->norm, t->obs, t->obs, t->B);
      af_normalizer_apply(&t->norm, t->next_obs, t->next_obs, t->B);
    }
    af_rng_normal_fill(&t->rng, t->eps, t->B * t->ad);
    t->iterations++;
    int with_actor = t->iterations % t->cfg.policy_delay == 0;
    af_td3_grads(t, t->obs, t->act, t->rew, t->next_obs, t->done, t->eps, with_actor, 1, &l);
    if (with_actor) t->last_actor_loss = l.actor_loss;
    st->updates++;
    st->skipped += l.skipped != 0;
    st->critic_loss = l.critic_loss;
  }
  af_nn_ctx_leave(t->ctx);
  st->actor_loss = t->last_actor_loss;
  return af_nn_ctx_error(t->ctx) ? AF_ERR_NUMERIC : AF_OK;
}

static int td3_update(void *p, af_agent_stats *st, char *err, size_t errsz) {
  af_td3 *t = p;
  int due = t->due;
  t->due = 0;
  if (af_td3_learn(t, due, st)) return numeric_error(t, err, errsz);
  return AF_OK;
}

// networks, optimizer moments, and the exact counters and RNG state, so that a loaded agent
// continues as the saved one would have (the replay buffer is saved apart). Checkpoints are
// taken after update, when no update is due.
enum { N_WORDS = 9 };  // adam steps (3), observed, iterations, rng words (4)
typedef struct { float words[4 * N_WORDS]; float last_actor_loss; } packed_state;

static int tensors(af_td3 *t, af_tensor *out, packed_state *ps) {
  af_mlp *nets[6] = {t->actor, t->actor_t, t->q1, t->q2, t->q1t, t->q2t};
  af_adam *opts[3] = {&t->opt_actor, &t->opt_q1, &t->opt_q2};
  static const char *nn[6] = {"actor", "actor_target", "q1", "q2", "q1_target", "q2_target"};
  static const char *on[6] = {"actor_m", "actor_v", "q1_m", "q1_v", "q2_m", "q2_v"};
  int k = 0;
  for (int i = 0; i < 6; i++) out[k++] = (af_tensor){nn[i], af_mlp_params(nets[i]), (size_t)af_mlp_nparams(nets[i])};
  for (int i = 0; i < 3; i++) {
    out[k++] = (af_tensor){on[2 * i], opts[i]->m, (size_t)opts[i]->n};
    out[k++] = (af_tensor){on[2 * i + 1], opts[i]->v, (size_t)opts[i]->n};
  }
  // 64-bit counters packed 16 bits at a time
  out[k++] = (af_tensor){"counters", ps->words, 4 * N_WORDS};
  out[k++] = (af_tensor){"last_actor_loss", &ps->last_actor_loss, 1};
  // the observation statistics, when normalizing
  if (t->cfg.norm.obs_norm) out[k++] = af_normalizer_tensor(&t->norm, "obs_norm");
  return k;
}

static void pack(const af_td3 *t, packed_state *ps) {
  const af_adam *opts[3] = {&t->opt_actor, &t->opt_q1, &t->opt_q2};
  for (int i = 0; i < 3; i++) af_nn_pack_u64(ps->words + 4 * i, (uint64_t)opts[i]->t);
  af_nn_pack_u64(ps->words + 12, (uint64_t)t->observed);
  af_nn_pack_u64(ps->words + 16, (uint64_t)t->iterations);
  for (int i = 0; i < 4; i++) af_nn_pack_u64(ps->words + 20 + 4 * i, t->rng.s[i]);
  ps->last_actor_loss = t->last_actor_loss;
}

// the counters as a file gave them: packed words, counts that fit a long, an RNG state that
// is not all zero (xoshiro's one fixed point); 0, or -1 with a message
static int unpack(af_td3 *t, const packed_state *ps, const char *path, char *err, size_t errsz) {
  af_rng rng;
  for (int i = 0; i < 4; i++) rng.s[i] = af_nn_unpack_u64(ps->words + 20 + 4 * i);
  uint64_t observed = af_nn_unpack_u64(ps->words + 12), iterations = af_nn_unpack_u64(ps->words + 16);
  if (!af_nn_packed_ok(ps->words, N_WORDS) || observed > INT64_MAX || iterations > INT64_MAX) {
    snprintf(err, errsz, "%s: the counters are not packed 64-bit counts", path);
    return -1;
  }
  if (!(rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3])) { snprintf(err, errsz, "%s: the random state is all zero", path); return -1; }
  af_adam *opts[3] = {&t->opt_actor, &t->opt_q1, &t->opt_q2};
  for (int i = 0; i < 3; i++) opts[i]->t = (double)af_nn_unpack_u64(ps->words + 4 * i);
  t->observed = (long)observed;
  t->iterations = (long)iterations;
  t->rng = rng;
  t->last_actor_loss = ps->last_actor_loss;
  t->due = 0;
  return 0;
}

static int td3_save(void *p, const char *path, char *err, size_t errsz) {
  af_td3 *t = p;
  af_tensor ts[16];
  packed_state ps;
  pack(t, &ps);
  if (t->cfg.norm.obs_norm) af_normalizer_pack(&t->norm);
  int n = tensors(t, ts, &ps);
  return af_nn_save(path, ts, n, err, errsz);
}

static int td3_load(void *p, const char *path, char *err, size_t errsz) {
  af_td3 *t = p;
  af_tensor ts[16];
  packed_state ps;
  int n = tensors(t, ts, &ps);
  if (af_nn_load(path, ts, n, err, errsz) || unpack(t, &ps, path, err, errsz)) return -1;
  if (t->cfg.norm.obs_norm && af_normalizer_unpack(&t->norm, err, errsz)) return -1;
  return 0;
}

static int td3_save_replay(void *p, const char *path, char *err, size_t errsz) {
  return af_replay_save(&((af_td3 *)p)->replay, path, err, errsz);
}

static int td3_load_replay(void *p, const char *path, char *err, size_t errsz) {
  return af_replay_load(&((af_td3 *)p)->replay, path, err, errsz);
}

const af_agent_def af_td3_def = {
  .name = "td3",
  .description = "Twin Delayed DDPG: twin critics, deterministic tanh actor, target policy smoothing, delayed actor updates",
  .params = td3_params,
  .nparams = sizeof td3_params / sizeof td3_params[0],
  .cfg_size = sizeof(af_td3_cfg),
  .make = td3_make,
  .free = td3_free,
  .act = td3_act,
  .observe = td3_observe,
  .update = td3_update,
  .save = td3_save,
  .load = td3_load,
  .save_replay = td3_save_replay,
  .load_replay = td3_load_replay,
  .policy = td3_policy,
  .set_reward_hook = td3_set_reward_hook,
};
