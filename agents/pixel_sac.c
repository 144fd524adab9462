// Image-based SAC (SAC-AE / DrQ) on the network core: a convolutional encoder shared by the
// twin critics, the actor on detached features, DrQ's random shift, an image replay.
// One update: the next actions from the encoder's features of the shifted next observations,
// the soft Bellman target from the target encoder and target critics, the critic step through
// the encoder, then (every actor_every updates) the actor and temperature steps on this
// update's features, detached, and (every target_every updates) Polyak averaging.
#include "agents/pixel_sac.h"
#include "agents/tanh_gauss.h"

#include <math.h>    // expf, logf, tanhf
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy


// ---- hyperparameters (DrQ's where ../shared/AGENTS.md gives them) ----
static const af_param pixel_sac_params[] = {
  {"lr", AF_P_DOUBLE, offsetof(af_pixel_sac_cfg, lr), 1e-3, 1e-6, 1, NULL, "Adam step size of encoder, critics, actor and temperature"},
  {"batch", AF_P_INT, offsetof(af_pixel_sac_cfg, batch), 128, 1, 1024, NULL, "minibatch size"},
  {"hidden", AF_P_INT, offsetof(af_pixel_sac_cfg, hidden), 256, 1, 4096, NULL, "units per hidden layer of actor and critics"},
  {"layers", AF_P_INT, offsetof(af_pixel_sac_cfg, layers), 2, 1, 6, NULL, "hidden layers of actor and critics"},
  {"gamma", AF_P_DOUBLE, offsetof(af_pixel_sac_cfg, gamma), 0.99, 0, 1, NULL, "discount"},
  {"tau", AF_P_DOUBLE, offsetof(af_pixel_sac_cfg, tau), 0.01, 0, 1, NULL, "Polyak factor of the target critics"},
  {"encoder_tau", AF_P_DOUBLE, offsetof(af_pixel_sac_cfg, encoder_tau), 0.05, 0, 1, NULL, "Polyak factor of the target encoder"},
  {"buffer", AF_P_INT, offsetof(af_pixel_sac_cfg, buffer), 100000, 1, AF_IMAGE_REPLAY_MAX, NULL, "replay capacity (transitions; each frame stored once)"},
  {"warmup", AF_P_INT, offsetof(af_pixel_sac_cfg, warmup), 1000, 0, 10000000, NULL, "uniform random actions for this many steps before learning"},
  {"updates_per_step", AF_P_INT, offsetof(af_pixel_sac_cfg, updates_per_step), 1, 0, 64, NULL, "gradient updates every update_every environment steps"},
  {"update_every", AF_P_INT, offsetof(af_pixel_sac_cfg, update_every), 1, 1, 1000000, NULL, "environment steps (over all environments) between rounds of updates"},
  {"actor_every", AF_P_INT, offsetof(af_pixel_sac_cfg, actor_every), 2, 1, 1000, NULL, "updates between actor and temperature steps"},
  {"target_every", AF_P_INT, offsetof(af_pixel_sac_cfg, target_every), 2, 1, 1000, NULL, "updates between Polyak steps of the targets"},
  {"init_alpha", AF_P_DOUBLE, offsetof(af_pixel_sac_cfg, init_alpha), 0.1, 1e-6, 100, NULL, "initial entropy temperature"},
  {"learn_alpha", AF_P_BOOL, offsetof(af_pixel_sac_cfg, learn_alpha), 1, 0, 1, NULL, "learn the temperature towards entropy -|A|"},
  {"log_std_min", AF_P_DOUBLE, offsetof(af_pixel_sac_cfg, log_std_min), -10, -30, 0, NULL, "lower clip of the actor's log std"},
  {"log_std_max", AF_P_DOUBLE, offsetof(af_pixel_sac_cfg, log_std_max), 2, -5, 5, NULL, "upper clip of the actor's log std"},
  {"filters", AF_P_INT, offsetof(af_pixel_sac_cfg, filters), 32, 1, 256, NULL, "channels of each convolution"},
  {"conv_layers", AF_P_INT, offsetof(af_pixel_sac_cfg, conv_layers), 4, 1, 8, NULL, "convolutions: one 3x3 stride 2, the rest 3x3 stride 1"},
  {"features", AF_P_INT, offsetof(af_pixel_sac_cfg, features), 50, 1, 1024, NULL, "encoder features (dense layer, LayerNorm, tanh)"},
  {"shift_pad", AF_P_INT, offsetof(af_pixel_sac_cfg, shift_pad), 4, 0, 16, NULL, "DrQ's random shift: pad by replication, crop back (0: off)"},
  {"proprio", AF_P_BOOL, offsetof(af_pixel_sac_cfg, proprio), 1, 0, 1, NULL, "feed the observation's state entries beside the features"},
};

// a tanh-Gaussian sample for each row of the actor's output (agents/tanh_gauss.h)
static void squash(const af_pixel_sac *s, int B, const float *out, const float *eps, float *a, float *work, float *sd_out, float *logp) {
  af_tanh_gauss_sample(B, s->ad, (float)s->cfg.log_std_min, (float)s->cfg.log_std_max, out, eps, a, work, sd_out, logp);
}

// rows [a (na), b (nb), c (nc)] for B samples; b and c may be NULL when their size is 0
static void concat3(float *dst, int B, const float *a, int na, const float *b, int nb, const float *c, int nc) {
  const int w = na + nb + nc;
  for (int r = 0; r < B; r++) {
    memcpy(dst + (size_t)r * w, a + (size_t)r * na, sizeof(float) * na);
    if (nb) memcpy(dst + (size_t)r * w + na, b + (size_t)r * nb, sizeof(float) * nb);
    if (nc) memcpy(dst + (size_t)r * w + na + nb, c + (size_t)r * nc, sizeof(float) * nc);
  }
}

static int mlp_finite(af_mlp *n) { return af_nn_finite(af_mlp_grads(n), (size_t)af_mlp_nparams(n)); }

void af_pixel_sac_frames(const af_pixel_sac *s, float *x, const float *obs, int n) {
  const float k = 1.0f / 255;
  for (int b = 0; b < n; b++) {
    const float *f = obs + (size_t)b * s->od + s->poff;
    float *o = x + (size_t)b * s->xd;
    for (int i = 0; i < s->xd; i++) o[i] = f[i] * k;
  }
}

void af_pixel_sac_grads(af_pixel_sac *s, int apply, int do_actor, int do_targets, af_pixel_sac_losses *out) {
  const int B = s->B, ad = s->ad, fd = s->fd, pd = s->pd, sd = fd + pd, qd = sd + ad;
  const float alpha = expf(s->log_alpha), gamma = (float)s->cfg.gamma, invB = 1.0f / B;
  af_pixel_sac_losses l = {0};

  // ---- the target: y = r + gamma (1 - done) (min Q'(z'_t, a') - alpha log pi(a'|z')) ----
  // next actions from the online encoder's features (no gradient flows: no backward follows)
  const float *z = af_conv_forward(s->enc, B, s->x_next);
  if (!z) return;
  memcpy(s->feat_next, z, sizeof(float) * B * fd);
  concat3(s->ain_next, B, s->feat_next, fd, s->prop_next, pd, NULL, 0);
  const float *pout = af_mlp_forward(s->actor, B, s->ain_next);
  if (!pout) return;
  squash(s, B, pout, s->eps_next, s->a_pi, s->work_pi, s->sd_pi, s->logp_next);
  // the target encoder and target critics
  const float *zt = af_conv_forward(s->enc_t, B, s->x_next);
  if (!zt) return;
  memcpy(s->feat_t, zt, sizeof(float) * B * fd);
  concat3(s->qin_next, B, s->feat_t, fd, s->prop_next, pd, s->a_pi, ad);
  const float *t1 = af_mlp_forward(s->q1t, B, s->qin_next), *t2 = af_mlp_forward(s->q2t, B, s->qin_next);
  if (!t1 || !t2) return;
  for (int b = 0; b < B; b++) s->y[b] = s->rew[b] + gamma * (1 - s->done[b]) * (fminf(t1[b], t2[b]) - alpha * s->logp_next[b]);

  // ---- the critics through the encoder: 0.5 mean (q1 - y)^2 + 0.5 mean (q2 - y)^2 ----
  z = af_conv_forward(s->enc, B, s->x_obs);
  if (!z) return;
  memcpy(s->feat, z, sizeof(float) * B * fd);
  concat3(s->qin, B, s->feat, fd, s->prop, pd, s->act, ad);
  const float *q1 = af_mlp_forward(s->q1, B, s->qin);
  if (!q1) return;
  for (int b = 0; b < B; b++) { float d = q1[b] - s->y[b]; l.critic_loss += 0.5f * d * d * invB; s->dq1[b] = d * invB; }
  af_mlp_backward(s->q1, B, s->dq1, s->dqin1, 1, 0);
  const float *q2 = af_mlp_forward(s->q2, B, s->qin);
  if (!q2) return;
  for (int b = 0; b < B; b++) { float d = q2[b] - s->y[b]; l.critic_loss += 0.5f * d * d * invB; s->dq2[b] = d * invB; }
  af_mlp_backward(s->q2, B, s->dq2, s->dqin2, 1, 0);
  // the features' gradient from both critics, into the encoder's parameters
  for (int b = 0; b < B; b++)
    for (int i = 0; i < fd; i++) s->dfeat[b * fd + i] = s->dqin1[b * qd + i] + s->dqin2[b * qd + i];
  af_conv_backward(s->enc, B, s->dfeat, NULL, 1, 0);
  // a non-finite critic loss or gradient: nothing changes in this update
  if (apply && !(isfinite(l.critic_loss) && mlp_finite(s->q1) && mlp_finite(s->q2) &&
                 af_nn_finite(af_conv_grads(s->enc), (size_t)af_conv_nparams(s->enc))))
    apply = 0, l.skipped = 1;
  if (apply) {
    af_adam_step(&s->opt_q1, af_mlp_params(s->q1), af_mlp_grads(s->q1));
    af_adam_step(&s->opt_q2, af_mlp_params(s->q2), af_mlp_grads(s->q2));
    af_adam_step(&s->opt_enc, af_conv_params(s->enc), af_conv_grads(s->enc));
  }

  // ---- the actor on the detached features: mean(alpha log pi(a|z) - min Q(z, a)) ----
  if (do_actor) {
    concat3(s->ain, B, s->feat, fd, s->prop, pd, NULL, 0);
    pout = af_mlp_forward(s->actor, B, s->ain);
    if (!pout) return;
    squash(s, B, pout, s->eps_pi, s->a_pi, s->work_pi, s->sd_pi, s->logp);
    concat3(s->qin, B, s->feat, fd, s->prop, pd, s->a_pi, ad);
    const float *n1 = af_mlp_forward(s->q1, B, s->qin), *n2 = af_mlp_forward(s->q2, B, s->qin);
    if (!n1 || !n2) return;
    for (int b = 0; b < B; b++) {
      int first = n1[b] <= n2[b];
      l.actor_loss += (alpha * s->logp[b] - (first ? n1[b] : n2[b])) * invB;
      l.entropy -= s->logp[b] * invB;
      s->dq1[b] = first ? -invB : 0;
      s->dq2[b] = first ? 0 : -invB;
    }
    // dL/d(action) through both critics (their last forwards), without touching their gradients
    af_mlp_backward(s->q1, B, s->dq1, s->dqin1, 0, 0);
    af_mlp_backward(s->q2, B, s->dq2, s->dqin2, 0, 0);
    af_tanh_gauss_backward(s->dact, B, ad, (float)s->cfg.log_std_min, (float)s->cfg.log_std_max, alpha, invB, pout, s->a_pi, s->sd_pi,
                           s->eps_pi, s->dqin1, s->dqin2, qd, sd);
    af_mlp_backward(s->actor, B, s->dact, NULL, 1, 0);
    // the temperature: -mean(log_alpha (log pi + target entropy))
    float g = 0;
    for (int b = 0; b < B; b++) g -= (s->logp[b] + s->target_entropy) * invB;
    s->log_alpha_grad = g;
    int ok = isfinite(l.actor_loss) && isfinite(g) && mlp_finite(s->actor);
    if (apply && !ok) l.skipped = 2;
    if (apply && ok) {
      af_adam_step(&s->opt_actor, af_mlp_params(s->actor), af_mlp_grads(s->actor));
      if (s->cfg.learn_alpha) af_adam_step(&s->opt_alpha, &s->log_alpha, &s->log_alpha_grad);
    }
  }

  // ---- the targets ----
  if (apply && do_targets) {
    af_nn_polyak(af_mlp_params(s->q1t), af_mlp_params(s->q1), af_mlp_nparams(s->q1), (float)s->cfg.tau);
    af_nn_polyak(af_mlp_params(s->q2t), af_mlp_params(s->q2), af_mlp_nparams(s->q2), (float)s->cfg.tau);
    af_nn_polyak(af_conv_params(s->enc_t), af_conv_params(s->enc), af_conv_nparams(s->enc), (float)s->cfg.encoder_tau);
  }
  if (out) *out = l;
}

static void pixel_sac_free(void *p) {
  af_pixel_sac *s = p;
  if (!s) return;
  af_conv_free(s->enc);
  af_conv_free(s->enc_t);
  af_mlp_free(s->actor);
  af_mlp_free(s->q1);
  af_mlp_free(s->q2);
  af_mlp_free(s->q1t);
  af_mlp_free(s->q2t);
  af_adam *opts[5] = {&s->opt_enc, &s->opt_actor, &s->opt_q1, &s->opt_q2, &s->opt_alpha};
  for (int i = 0; i < 5; i++) af_adam_free(opts[i]);
  af_image_replay_free(&s->replay);
  af_nn_ctx_free(s->ctx);
  free(s->u_obs);
  free(s->x_obs);
  free(s);
}

static void *pixel_sac_make(const void *cfgp, const af_agent_setup *setup, const af_agent_common *common, char *err, size_t errsz) {
  const af_pixel_sac_cfg *c = cfgp;
  const af_env_spec *spec = setup->spec;
  if (c->log_std_min >= c->log_std_max) { snprintf(err, errsz, "agent.log_std_min must be below agent.log_std_max"); return NULL; }
  if (spec->pixel_stack < 1 || spec->act_dim < 1) {
    snprintf(err, errsz, "pixel_sac: needs stacked frames in the observation (the environment's frame_stack, with obs pixels or state+pixels)");
    return NULL;
  }
  af_pixel_sac *s = calloc(1, sizeof *s);
  if (!s) { snprintf(err, errsz, "out of memory"); return NULL; }
  s->cfg = *c;
  s->od = spec->obs_dim;
  s->ad = spec->act_dim;
  s->B = c->batch;
  s->N = setup->num_envs;
  s->K = spec->pixel_stack;
  s->H = spec->pixel_height;
  s->W = spec->pixel_width;
  s->C = 3 * s->K;
  s->poff = spec->pixel_offset;
  s->pd = c->proprio ? s->poff : 0;
  s->fd = c->features;
  s->xd = s->C * s->H * s->W;
  s->target_entropy = -(float)s->ad;
  s->log_alpha = logf((float)c->init_alpha);
  af_rng_seed(&s->rng, af_seed_derive(setup->seed, 0x915AC));
  // the encoder for the batch, the N environments and one row; its target for the batch
  int bs[3] = {c->batch}, nb = 1;
  if (s->N != c->batch) bs[nb++] = s->N;
  if (s->N != 1 && c->batch != 1) bs[nb++] = 1;
  af_conv_layer L[AF_CONV_MAX_LAYERS];
  int nl = af_conv_encoder_layers(L, c->filters, c->conv_layers, c->features);
  int asz[8], qsz[8], ML = c->layers + 1;
  asz[0] = s->fd + s->pd;
  qsz[0] = s->fd + s->pd + s->ad;
  for (int l = 1; l < ML; l++) asz[l] = qsz[l] = c->hidden;
  asz[ML] = 2 * s->ad;
  qsz[ML] = 1;
  if (!(s->ctx = af_agent_nn_ctx(common, err, errsz)) ||
      !(s->enc = af_conv_make(s->ctx, L, nl, s->C, s->H, s->W, bs, nb, err, errsz)) ||
      !(s->enc_t = af_conv_make(s->ctx, L, nl, s->C, s->H, s->W, bs, 1, err, errsz)) ||
      !(s->actor = af_mlp_make(s->ctx, ML, asz, AF_ACT_RELU, AF_ACT_NONE, bs, nb, err, errsz)) ||
      !(s->q1 = af_mlp_make(s->ctx, ML, qsz, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, errsz)) ||
      !(s->q2 = af_mlp_make(s->ctx, ML, qsz, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, errsz)) ||
      !(s->q1t = af_mlp_make(s->ctx, ML, qsz, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, errsz)) ||
      !(s->q2t = af_mlp_make(s->ctx, ML, qsz, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, errsz))) {
    pixel_sac_free(s);
    return NULL;
  }
  af_rng init;
  af_rng_seed(&init, af_seed_derive(setup->seed, 0x1417));
  af_conv_init(s->enc, &init);
  af_mlp_init(s->actor, &init);
  af_mlp_init(s->q1, &init);
  af_mlp_init(s->q2, &init);
  memcpy(af_conv_params(s->enc_t), af_conv_params(s->enc), sizeof(float) * af_conv_nparams(s->enc));
  memcpy(af_mlp_params(s->q1t), af_mlp_params(s->q1), sizeof(float) * af_mlp_nparams(s->q1));
  memcpy(af_mlp_params(s->q2t), af_mlp_params(s->q2), sizeof(float) * af_mlp_nparams(s->q2));
  float lr = (float)c->lr;
  if (af_adam_init(&s->opt_enc, af_conv_nparams(s->enc), lr, err, errsz) ||
      af_adam_init(&s->opt_actor, af_mlp_nparams(s->actor), lr, err, errsz) ||
      af_adam_init(&s->opt_q1, af_mlp_nparams(s->q1), lr, err, errsz) ||
      af_adam_init(&s->opt_q2, af_mlp_nparams(s->q2), lr, err, errsz) || af_adam_init(&s->opt_alpha, 1, lr, err, errsz) ||
      af_image_replay_init(&s->replay, c->buffer, 3, s->H, s->W, s->K, s->pd, s->ad, s->N, err, errsz)) {
    pixel_sac_free(s);
    return NULL;
  }
  // the batch's frames (bytes), then every float buffer, each in one allocation
  const int B = s->B, ad = s->ad, fd = s->fd, pd = s->pd, sd = fd + pd, qd = sd + ad, N = s->N;
  const size_t xb = (size_t)B * s->xd, fr = (size_t)s->H * s->W * 3;
  s->u_obs = malloc(3 * xb + 2 * fr);
  size_t nf = 2 * xb + (size_t)B * (2 * pd + ad + 3 + 3 * fd + 2 * sd + 2 * qd + 5 * ad + 5 + 2 * qd + 2 * ad + fd) +
              (size_t)N * (s->xd + sd + 3 * ad + 1);
  float *p = s->x_obs = calloc(nf, sizeof(float));
  if (!s->u_obs || !p) { snprintf(err, errsz, "out of memory"); pixel_sac_free(s); return NULL; }
  s->u_next = s->u_obs + xb;
  s->u_tmp = s->u_next + xb;
  s->frame_obs = s->u_tmp + xb;
  s->frame_next = s->frame_obs + fr;
  s->x_obs = p; p += xb;
  s->x_next = p; p += xb;
  s->prop = p; p += (size_t)B * pd;
  s->prop_next = p; p += (size_t)B * pd;
  s->act = p; p += (size_t)B * ad;
  s->rew = p; p += B;
  s->done = p; p += B;
  s->y = p; p += B;
  s->feat = p; p += (size_t)B * fd;
  s->feat_next = p; p += (size_t)B * fd;
  s->feat_t = p; p += (size_t)B * fd;
  s->ain = p; p += (size_t)B * sd;
  s->ain_next = p; p += (size_t)B * sd;
  s->qin = p; p += (size_t)B * qd;
  s->qin_next = p; p += (size_t)B * qd;
  s->eps_next = p; p += (size_t)B * ad;
  s->eps_pi = p; p += (size_t)B * ad;
  s->a_pi = p; p += (size_t)B * ad;
  s->work_pi = p; p += (size_t)B * ad;
  s->sd_pi = p; p += (size_t)B * ad;
  s->logp = p; p += B;
  s->logp_next = p; p += B;
  s->dq1 = p; p += B;
  s->dq2 = p; p += B;
  s->dqin1 = p; p += (size_t)B * qd;
  s->dqin2 = p; p += (size_t)B * qd;
  s->dact = p; p += (size_t)B * 2 * ad;
  s->dfeat = p; p += (size_t)B * fd;
  s->act_x = p; p += (size_t)N * s->xd;
  s->act_in = p; p += (size_t)N * sd;
  s->act_eps = p; p += (size_t)N * ad;
  s->act_work = p; p += (size_t)N * ad;
  s->act_sd = p; p += (size_t)N * ad;
  s->act_logp = p;
  return s;
}

static int numeric_error(const af_pixel_sac *s, char *err, size_t errsz) {
  const char *e = af_nn_ctx_error(s->ctx);
  if (!e) return AF_OK;
  snprintf(err, errsz, "pixel_sac: %s", e);
  return AF_ERR_NUMERIC;
}

static int pixel_sac_act(void *p, float *action, const float *obs, int n, int deterministic, char *err, size_t errsz) {
  af_pixel_sac *s = p;
  if (n != 1 && n != s->N) { snprintf(err, errsz, "pixel_sac: act on %d observations (made for 1 or %d)", n, s->N); return AF_ERR_ARG; }
  const int ad = s->ad;
  if (!deterministic && s->observed < s->cfg.warmup) {
    for (int i = 0; i < n * ad; i++) action[i] = (float)af_rng_range(&s->rng, -1, 1);
    return AF_OK;
  }
  // features of the frames, then the actor on [features, state entries]
  af_pixel_sac_frames(s, s->act_x, obs, n);
  af_nn_ctx_enter(s->ctx);
  const float *z = af_conv_forward(s->enc, n, s->act_x), *out = NULL;
  if (z) {
    for (int b = 0; b < n; b++) {
      memcpy(s->act_in + (size_t)b * (s->fd + s->pd), z + (size_t)b * s->fd, sizeof(float) * s->fd);
      memcpy(s->act_in + (size_t)b * (s->fd + s->pd) + s->fd, obs + (size_t)b * s->od, sizeof(float) * s->pd);
    }
    out = af_mlp_forward(s->actor, n, s->act_in);
  }
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

// the newest frame of an observation as uint8 HWC (the image replay's input layout)
static void newest_frame(const af_pixel_sac *s, uint8_t *hwc, const float *obs) {
  const int HW = s->H * s->W;
  af_image_from_planar(hwc, obs + s->poff + (size_t)(s->K - 1) * 3 * HW, 3, HW);
}

// each transition's newest frames (and state entries) into the image replay: an episode's
// first transition gives its first frame too; every update_every-th one after the warm-up
// makes updates_per_step updates due
static int pixel_sac_observe(void *p, const af_batch *b, char *err, size_t errsz) {
  af_pixel_sac *s = p;
  if (b->n != s->N) { snprintf(err, errsz, "pixel_sac: observe %d transitions (made for %d environments)", b->n, s->N); return AF_ERR_ARG; }
  for (int i = 0; i < b->n; i++) {
    const float *o = b->obs + (size_t)i * s->od, *no = b->next_obs + (size_t)i * s->od;
    newest_frame(s, s->frame_obs, o);
    newest_frame(s, s->frame_next, no);
    af_image_replay_add(&s->replay, i, s->frame_obs, s->pd ? o : NULL, b->act + (size_t)i * s->ad, b->reward[i], s->frame_next,
                        s->pd ? no : NULL, b->terminated[i] != 0, b->terminated[i] || b->truncated[i]);
    s->observed++;
    if (s->observed >= s->cfg.warmup && s->observed % s->cfg.update_every == 0) s->due += s->cfg.updates_per_step;
  }
  return AF_OK;
}

int af_pixel_sac_learn(af_pixel_sac *s, int updates, af_agent_stats *st) {
  memset(st, 0, sizeof *st);
  af_pixel_sac_losses l;
  const int B = s->B, C = s->C, H = s->H, W = s->W;
  const size_t xb = (size_t)B * s->xd;
  af_nn_ctx_enter(s->ctx);
  for (int k = 0; k < updates && af_image_replay_size(&s->replay) > 0; k++) {
    // a batch, each observation and next observation shifted by its own draw
    af_image_replay_sample(&s->replay, &s->rng, B, s->u_obs, s->pd ? s->prop : NULL, s->act, s->rew, s->u_next,
                           s->pd ? s->prop_next : NULL, s->done);
    af_image_random_shift(s->u_tmp, s->u_obs, B, C, H, W, s->cfg.shift_pad, &s->rng);
    af_conv_from_u8(s->x_obs, s->u_tmp, xb);
    af_image_random_shift(s->u_tmp, s->u_next, B, C, H, W, s->cfg.shift_pad, &s->rng);
    af_conv_from_u8(s->x_next, s->u_tmp, xb);
    af_rng_normal_fill(&s->rng, s->eps_next, B * s->ad);
    af_rng_normal_fill(&s->rng, s->eps_pi, B * s->ad);
    s->iterations++;
    af_pixel_sac_grads(s, 1, s->iterations % s->cfg.actor_every == 0, s->iterations % s->cfg.target_every == 0, &l);
    if (af_nn_ctx_error(s->ctx)) break;
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

static int pixel_sac_update(void *p, af_agent_stats *st, char *err, size_t errsz) {
  af_pixel_sac *s = p;
  int due = s->due;
  s->due = 0;
  if (af_pixel_sac_learn(s, due, st)) return numeric_error(s, err, errsz);
  return AF_OK;
}

// networks, optimizer moments, temperature, counters and RNG state (the replay apart)
enum { N_OPTS = 5, N_WORDS = 4 * (N_OPTS + 2 + 4) };
typedef struct { float words[N_WORDS]; } packed_state;

static int tensors(af_pixel_sac *s, af_tensor *t, packed_state *ps) {
  af_mlp *nets[5] = {s->actor, s->q1, s->q2, s->q1t, s->q2t};
  af_adam *opts[N_OPTS] = {&s->opt_enc, &s->opt_actor, &s->opt_q1, &s->opt_q2, &s->opt_alpha};
  static const char *nn[5] = {"actor", "q1", "q2", "q1_target", "q2_target"};
  static const char *on[2 * N_OPTS] = {"encoder_m", "encoder_v", "actor_m", "actor_v", "q1_m", "q1_v", "q2_m", "q2_v", "alpha_m", "alpha_v"};
  int k = 0;
  t[k++] = (af_tensor){"encoder", af_conv_params(s->enc), (size_t)af_conv_nparams(s->enc)};
  t[k++] = (af_tensor){"encoder_target", af_conv_params(s->enc_t), (size_t)af_conv_nparams(s->enc_t)};
  for (int i = 0; i < 5; i++) t[k++] = (af_tensor){nn[i], af_mlp_params(nets[i]), (size_t)af_mlp_nparams(nets[i])};
  for (int i = 0; i < N_OPTS; i++) {
    t[k++] = (af_tensor){on[2 * i], opts[i]->m, (size_t)opts[i]->n};
    t[k++] = (af_tensor){on[2 * i + 1], opts[i]->v, (size_t)opts[i]->n};
  }
  t[k++] = (af_tensor){"log_alpha", &s->log_alpha, 1};
  // adam steps (5), observed transitions, iterations, rng words (4): packed 16 bits at a time
  t[k++] = (af_tensor){"counters", ps->words, N_WORDS};
  return k;
}

static void pack(const af_pixel_sac *s, packed_state *ps) {
  const af_adam *opts[N_OPTS] = {&s->opt_enc, &s->opt_actor, &s->opt_q1, &s->opt_q2, &s->opt_alpha};
  for (int i = 0; i < N_OPTS; i++) af_nn_pack_u64(ps->words + 4 * i, (uint64_t)opts[i]->t);
  af_nn_pack_u64(ps->words + 4 * N_OPTS, (uint64_t)s->observed);
  af_nn_pack_u64(ps->words + 4 * (N_OPTS + 1), (uint64_t)s->iterations);
  for (int i = 0; i < 4; i++) af_nn_pack_u64(ps->words + 4 * (N_OPTS + 2 + i), s->rng.s[i]);
}

static int unpack(af_pixel_sac *s, const packed_state *ps, const char *path, char *err, size_t errsz) {
  af_rng rng;
  for (int i = 0; i < 4; i++) rng.s[i] = af_nn_unpack_u64(ps->words + 4 * (N_OPTS + 2 + i));
  uint64_t observed = af_nn_unpack_u64(ps->words + 4 * N_OPTS), iterations = af_nn_unpack_u64(ps->words + 4 * (N_OPTS + 1));
  if (!af_nn_packed_ok(ps->words, N_WORDS / 4) || observed > INT64_MAX || iterations > INT64_MAX) {
    snprintf(err, errsz, "%s: the counters are not packed 64-bit counts", path);
    return -1;
  }
  if (!(rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3])) { snprintf(err, errsz, "%s: the random state is all zero", path); return -1; }
  af_adam *opts[N_OPTS] = {&s->opt_enc, &s->opt_actor, &s->opt_q1, &s->opt_q2, &s->opt_alpha};
  for (int i = 0; i < N_OPTS; i++) opts[i]->t = (double)af_nn_unpack_u64(ps->words + 4 * i);
  s->observed = (long)observed;
  s->iterations = (long)iterations;
  s->rng = rng;
  return 0;
}

static int pixel_sac_save(void *p, const char *path, char *err, size_t errsz) {
  af_pixel_sac *s = p;
  af_tensor t[24];
  packed_state ps;
  pack(s, &ps);
  int n = tensors(s, t, &ps);
  return af_nn_save(path, t, n, err, errsz);
}

static int pixel_sac_load(void *p, const char *path, char *err, size_t errsz) {
  af_pixel_sac *s = p;
  af_tensor t[24];
  packed_state ps;
  int n = tensors(s, t, &ps);
  if (af_nn_load(path, t, n, err, errsz) || unpack(s, &ps, path, err, errsz)) return -1;
  return 0;
}

static int pixel_sac_save_replay(void *p, const char *path, char *err, size_t errsz) {
  return af_image_replay_save(&((af_pixel_sac *)p)->replay, path, err, errsz);
}

static int pixel_sac_load_replay(void *p, const char *path, char *err, size_t errsz) {
  return af_image_replay_load(&((af_pixel_sac *)p)->replay, path, err, errsz);
}

double af_pixel_sac_update_flops(const af_pixel_sac *s) {
  const int B = s->B;
  double ef = af_conv_flops(s->enc, B, AF_FLOPS_FORWARD), ew = af_conv_flops(s->enc, B, AF_FLOPS_WEIGHTS);
  double eh = af_conv_flops(s->enc, B, AF_FLOPS_DATA_HIDDEN);
  double af = af_mlp_flops(s->actor, B, AF_FLOPS_FORWARD), aw = af_mlp_flops(s->actor, B, AF_FLOPS_WEIGHTS);
  double ah = af_mlp_flops(s->actor, B, AF_FLOPS_DATA_HIDDEN), qf = af_mlp_flops(s->q1, B, AF_FLOPS_FORWARD);
  double qw = af_mlp_flops(s->q1, B, AF_FLOPS_WEIGHTS), qx = af_mlp_flops(s->q1, B, AF_FLOPS_DATA_ALL);
  // target: encoder and actor on the next frames, the target encoder, two target critics;
  // critics: encoder, two critics forward and back to their input, encoder backward; actor:
  // actor, two critics forward and back to their input, actor backward
  return (ef + af) + (ef + 2 * qf) + (ef + 2 * (qf + qw + qx) + ew + eh) + (af + 2 * (qf + qx) + aw + ah);
}

const af_agent_def af_pixel_sac_def = {
  .name = "pixel_sac",
  .description = "image-based SAC (SAC-AE / DrQ): a conv encoder shared by the twin critics, the actor on detached features, random shift",
  .params = pixel_sac_params,
  .nparams = sizeof pixel_sac_params / sizeof pixel_sac_params[0],
  .cfg_size = sizeof(af_pixel_sac_cfg),
  .make = pixel_sac_make,
  .free = pixel_sac_free,
  .act = pixel_sac_act,
  .observe = pixel_sac_observe,
  .update = pixel_sac_update,
  .save = pixel_sac_save,
  .load = pixel_sac_load,
  .save_replay = pixel_sac_save_replay,
  .load_replay = pixel_sac_load_replay,
};
