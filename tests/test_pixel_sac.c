// Image-based SAC: the soft Bellman target, the critic loss and the actor loss against an
// independent double-precision reference (tests/ref_conv.h for the encoder, tests/ref_nn.h
// for the critics and the actor); the analytic gradients of the critic loss in the encoder's
// and both critics' parameters and of the actor loss in the actor's against central
// differences of the reference (the target held fixed, the actor's features detached, as the
// method defines them); the frames the replay gives back are the observations' frames; a
// saved and loaded agent continues bit for bit; a spec without stacked frames is refused.
#include <criterion/criterion.h>
#include <math.h>
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#include <stdlib.h>
#include <string.h>

#include "agents/pixel_sac.h"
#include "tests/ref_conv.h"
#include "tests/ref_nn.h"

// 2 stacked 8 x 8 frames, 3 state entries, 2 actions; a 2-convolution encoder of 3 filters to 4
// features; hidden 6; batch 3
enum { K = 2, HH = 8, WW = 8, C = 3 * K, X = C * HH * WW, PD = 3, AD = 2, FD = 4, HID = 6, B = 3, OD = PD + X };
enum { SD = FD + PD, QD = SD + AD };
static const char *CFG = "{\"batch\": 3, \"hidden\": 6, \"filters\": 3, \"conv_layers\": 2, \"features\": 4, \"buffer\": 64, "
                         "\"warmup\": 0, \"gamma\": 0.9, \"init_alpha\": 0.3, \"log_std_min\": -5, \"shift_pad\": 1}";
static const af_conv_layer ENC[4] = {
    {AF_LAYER_CONV, .out = 3, .k = 3, .stride = 2, .act = AF_ACT_RELU},
    {AF_LAYER_CONV, .out = 3, .k = 3, .stride = 1, .act = AF_ACT_RELU},
    {AF_LAYER_DENSE, .out = FD, .act = AF_ACT_NONE},
    {AF_LAYER_LAYERNORM, .act = AF_ACT_TANH},
};
static const int asz[4] = {SD, HID, HID, 2 * AD}, qsz[4] = {QD, HID, HID, 1};

static af_env_spec spec(void) {
  return (af_env_spec){.name = "test", .obs_dim = OD, .act_dim = AD, .pixel_width = WW, .pixel_height = HH, .pixel_stack = K, .pixel_offset = PD};
}

static af_agent *make(uint64_t seed) {
  static af_env_spec sp;  // the agents borrow it for their lives
  sp = spec();
  char err[256];
  af_agent *a = af_agent_make("pixel_sac", CFG, &(af_agent_setup){.spec = &sp, .num_envs = 1, .seed = seed}, err, sizeof err);
  cr_assert(a, "%s", err);
  return a;
}

// the double-precision copy of everything the losses depend on
typedef struct {
  double enc[8192], enc_t[8192], actor[512], q1[512], q2[512], q1t[512], q2t[512], log_alpha;
  double x[B * X], xn[B * X], prop[B * PD], propn[B * PD], act[B * AD], rew[B], done[B], eps_next[B * AD], eps_pi[B * AD];
  double y[B];  // the target, held fixed in the critic loss
  double gamma, lo, hi;
} ref_t;

static void features(const double *p, const double *x, double *z) {
  static double buf[B * 4096];
  ref_conv_net(buf, p, x, B, ENC, 4, C, HH, WW);
  memcpy(z, buf, sizeof(double) * B * FD);
}

// rows [z, prop] and [z, prop, a]
static void rows(double *out, const double *z, const double *prop, const double *a) {
  const int w = FD + PD + (a ? AD : 0);
  for (int b = 0; b < B; b++) {
    memcpy(out + b * w, z + b * FD, sizeof(double) * FD);
    memcpy(out + b * w + FD, prop + b * PD, sizeof(double) * PD);
    if (a) memcpy(out + b * w + SD, a + b * AD, sizeof(double) * AD);
  }
}

static void ref_policy(const ref_t *r, const double *z, const double *prop, const double *eps, double *a, double *logp) {
  double in[B * SD], out[B * 2 * AD];
  rows(in, z, prop, NULL);
  ref_mlp(out, r->actor, in, B, 3, asz, AF_ACT_RELU, AF_ACT_NONE);
  for (int b = 0; b < B; b++) {
    logp[b] = 0;
    for (int i = 0; i < AD; i++) {
      double mu = out[b * 2 * AD + i], ls = out[b * 2 * AD + AD + i];
      ls = ls < r->lo ? r->lo : ls > r->hi ? r->hi : ls;
      double e = eps[b * AD + i], u = mu + exp(ls) * e, t = tanh(u);
      a[b * AD + i] = t;
      logp[b] += -0.5 * e * e - ls - 0.5 * log(2 * M_PI) - log(1 - t * t);
    }
  }
}

static void ref_q(const double *p, const double *z, const double *prop, const double *a, double *q) {
  double in[B * QD];
  rows(in, z, prop, a);
  ref_mlp(q, p, in, B, 3, qsz, AF_ACT_RELU, AF_ACT_NONE);
}

// y = r + gamma (1 - done) (min Q'(enc_t(x'), a') - alpha log pi(a' | enc(x')))
static void ref_target(ref_t *r) {
  double zn[B * FD], zt[B * FD], a2[B * AD], lp2[B], t1[B], t2[B];
  features(r->enc, r->xn, zn);
  features(r->enc_t, r->xn, zt);
  ref_policy(r, zn, r->propn, r->eps_next, a2, lp2);
  ref_q(r->q1t, zt, r->propn, a2, t1);
  ref_q(r->q2t, zt, r->propn, a2, t2);
  for (int b = 0; b < B; b++) r->y[b] = r->rew[b] + r->gamma * (1 - r->done[b]) * (fmin(t1[b], t2[b]) - exp(r->log_alpha) * lp2[b]);
}

static double ref_critic_loss(const ref_t *r) {
  double z[B * FD], q1[B], q2[B], L = 0;
  features(r->enc, r->x, z);
  ref_q(r->q1, z, r->prop, r->act, q1);
  ref_q(r->q2, z, r->prop, r->act, q2);
  for (int b = 0; b < B; b++) L += 0.5 * (q1[b] - r->y[b]) * (q1[b] - r->y[b]) / B + 0.5 * (q2[b] - r->y[b]) * (q2[b] - r->y[b]) / B;
  return L;
}

// the actor's loss on the encoder's features of x (detached: the encoder is not its parameter)
static double ref_actor_loss(const ref_t *r) {
  double z[B * FD], a[B * AD], lp[B], q1[B], q2[B], L = 0;
  features(r->enc, r->x, z);
  ref_policy(r, z, r->prop, r->eps_pi, a, lp);
  ref_q(r->q1, z, r->prop, a, q1);
  ref_q(r->q2, z, r->prop, a, q2);
  for (int b = 0; b < B; b++) L += (exp(r->log_alpha) * lp[b] - fmin(q1[b], q2[b])) / B;
  return L;
}

static void to_double(double *d, const float *f, int n) {
  for (int i = 0; i < n; i++) d[i] = f[i];
}

// an analytic gradient against central differences of `loss` in the parameters p, at every
// index (at most every `stride`-th for the big encoder)
static void check(const char *what, double *p, const float *g, int n, int stride, double (*loss)(const ref_t *), ref_t *r) {
  const double h = 1e-6;
  double gmax = 0;
  for (int i = 0; i < n; i += stride) {
    double keep = p[i];
    p[i] = keep + h;
    double lp = loss(r);
    p[i] = keep - h;
    double lm = loss(r);
    p[i] = keep;
    double fd = (lp - lm) / (2 * h);
    gmax = fmax(gmax, fabs(fd));
    cr_assert(fabs(g[i] - fd) <= 2e-3 * fabs(fd) + 2e-5, "%s param %d: analytic %.7g, finite difference %.7g", what, i, g[i], fd);
  }
  cr_assert_gt(gmax, 1e-4, "%s: the gradient checked is not all zero", what);
}

Test(pixel_sac, target_losses_and_gradients_match_a_double_precision_reference) {
  af_agent *ag = make(7);
  af_pixel_sac *s = af_agent_impl(ag);
  cr_assert_eq(s->xd, X);
  cr_assert_eq(s->fd, FD);
  cr_assert_eq(s->pd, PD);
  // targets unlike the online networks, as after some training
  af_rng rng;
  af_rng_seed(&rng, 99);
  af_mlp_init(s->q1t, &rng);
  af_mlp_init(s->q2t, &rng);
  af_conv_init(s->enc_t, &rng);
  // a batch with a done flag, and the noise of both samplings
  for (int i = 0; i < B * X; i++) { s->x_obs[i] = (float)af_rng_uniform(&rng); s->x_next[i] = (float)af_rng_uniform(&rng); }
  for (int i = 0; i < B * PD; i++) { s->prop[i] = (float)af_rng_range(&rng, -1, 1); s->prop_next[i] = (float)af_rng_range(&rng, -1, 1); }
  for (int i = 0; i < B * AD; i++) {
    s->act[i] = (float)af_rng_range(&rng, -0.9, 0.9);
    s->eps_next[i] = (float)af_rng_normal(&rng);
    s->eps_pi[i] = (float)af_rng_normal(&rng);
  }
  for (int b = 0; b < B; b++) { s->rew[b] = (float)af_rng_range(&rng, -1, 1); s->done[b] = b == 1; }
  af_nn_ctx_enter(s->ctx);
  af_pixel_sac_losses L;
  af_pixel_sac_grads(s, 0, 1, 0, &L);
  af_nn_ctx_leave(s->ctx);
  cr_assert_null(af_nn_ctx_error(s->ctx));

  static ref_t r;
  cr_assert_leq(af_conv_nparams(s->enc), 8192);
  to_double(r.enc, af_conv_params(s->enc), af_conv_nparams(s->enc));
  to_double(r.enc_t, af_conv_params(s->enc_t), af_conv_nparams(s->enc_t));
  to_double(r.actor, af_mlp_params(s->actor), af_mlp_nparams(s->actor));
  to_double(r.q1, af_mlp_params(s->q1), af_mlp_nparams(s->q1));
  to_double(r.q2, af_mlp_params(s->q2), af_mlp_nparams(s->q2));
  to_double(r.q1t, af_mlp_params(s->q1t), af_mlp_nparams(s->q1t));
  to_double(r.q2t, af_mlp_params(s->q2t), af_mlp_nparams(s->q2t));
  to_double(r.x, s->x_obs, B * X);
  to_double(r.xn, s->x_next, B * X);
  to_double(r.prop, s->prop, B * PD);
  to_double(r.propn, s->prop_next, B * PD);
  to_double(r.act, s->act, B * AD);
  to_double(r.rew, s->rew, B);
  to_double(r.done, s->done, B);
  to_double(r.eps_next, s->eps_next, B * AD);
  to_double(r.eps_pi, s->eps_pi, B * AD);
  r.log_alpha = s->log_alpha;
  r.gamma = 0.9;
  r.lo = -5;
  r.hi = 2;
  ref_target(&r);
  // the losses themselves agree
  cr_assert_float_eq(L.critic_loss, ref_critic_loss(&r), 1e-4 * (1 + fabs(L.critic_loss)));
  cr_assert_float_eq(L.actor_loss, ref_actor_loss(&r), 1e-4 * (1 + fabs(L.actor_loss)));
  // the critic loss in the encoder's parameters (every 7th) and both critics'; the actor loss in the actor's
  check("encoder", r.enc, af_conv_grads(s->enc), af_conv_nparams(s->enc), 7, ref_critic_loss, &r);
  check("q1", r.q1, af_mlp_grads(s->q1), af_mlp_nparams(s->q1), 1, ref_critic_loss, &r);
  check("q2", r.q2, af_mlp_grads(s->q2), af_mlp_nparams(s->q2), 1, ref_critic_loss, &r);
  check("actor", r.actor, af_mlp_grads(s->actor), af_mlp_nparams(s->actor), 1, ref_actor_loss, &r);
  // the temperature: d/d log_alpha of -mean(log_alpha (log pi + H)), H = -|A|
  double z[B * FD], a[B * AD], lp[B], g = 0;
  features(r.enc, r.x, z);
  ref_policy(&r, z, r.prop, r.eps_pi, a, lp);
  for (int b = 0; b < B; b++) g -= (lp[b] - AD) / B;
  cr_assert_float_eq(s->log_alpha_grad, g, 1e-4 * (1 + fabs(g)));
  af_agent_free(ag);
}

// synthetic transitions of one stream: stacked frames of integer pixels, the frame stack
// moving by one each step and starting afresh (first frame repeated) after an episode's end
typedef struct { float obs[OD], next[OD], act[AD], rew; uint8_t term, trunc; } tr_t;

static void frame(float *dst, af_rng *rng) {  // one planar frame (3, H, W) of integers 0-255
  for (int i = 0; i < 3 * HH * WW; i++) dst[i] = (float)af_rng_int(rng, 0, 255);
}

static void transitions(tr_t *t, int n, uint64_t seed) {
  af_rng rng;
  af_rng_seed(&rng, seed);
  const int F = 3 * HH * WW;
  float cur[OD];
  int start = 1;
  for (int k = 0; k < n; k++) {
    if (start) {
      for (int i = 0; i < PD; i++) cur[i] = (float)af_rng_range(&rng, -1, 1);
      frame(cur + PD, &rng);
      for (int j = 1; j < K; j++) memcpy(cur + PD + j * F, cur + PD, sizeof(float) * F);
      start = 0;
    }
    memcpy(t[k].obs, cur, sizeof cur);
    for (int i = 0; i < AD; i++) t[k].act[i] = (float)af_rng_range(&rng, -1, 1);
    t[k].rew = (float)af_rng_range(&rng, -1, 1);
    // the next observation: state moved, the stack shifted, a new frame last
    for (int i = 0; i < PD; i++) t[k].next[i] = cur[i] + 0.1f * t[k].act[i % AD];
    for (int j = 0; j + 1 < K; j++) memcpy(t[k].next + PD + j * F, cur + PD + (j + 1) * F, sizeof(float) * F);
    frame(t[k].next + PD + (K - 1) * F, &rng);
    t[k].term = k % 7 == 6;
    t[k].trunc = 0;
    memcpy(cur, t[k].next, sizeof cur);
    start = t[k].term;
  }
}

static void observe(af_agent *a, const tr_t *t) {
  af_info info = {0};
  af_batch b = {.n = 1, .obs = t->obs, .act = t->act, .reward = &t->rew, .next_obs = t->next, .terminated = &t->term, .truncated = &t->trunc, .info = &info};
  cr_assert_eq(af_agent_observe(a, &b), AF_OK, "%s", af_agent_last_error(a));
}

Test(pixel_sac, the_replay_gives_back_the_observed_frames) {
  af_agent *ag = make(3);
  af_pixel_sac *s = af_agent_impl(ag);
  enum { N = 12 };
  static tr_t t[N];
  transitions(t, N, 5);
  for (int k = 0; k < N; k++) observe(ag, &t[k]);
  cr_assert_eq(af_image_replay_size(&s->replay), N);
  static uint8_t o[X], no[X];
  for (int k = 0; k < N; k++) {
    af_image_replay_get(&s->replay, k, o, no);
    for (int i = 0; i < X; i++) {
      cr_assert_eq(o[i], (uint8_t)t[k].obs[PD + i], "transition %d, obs entry %d", k, i);
      cr_assert_eq(no[i], (uint8_t)t[k].next[PD + i], "transition %d, next entry %d", k, i);
    }
  }
  af_agent_free(ag);
}

Test(pixel_sac, a_loaded_agent_continues_bit_for_bit) {
  enum { N = 40 };
  static tr_t t[N];
  transitions(t, N, 11);
  char err[256];
  af_agent *a = make(21), *b = make(99);
  af_agent_stats st;
  for (int k = 0; k < 20; k++) {
    observe(a, &t[k]);
    cr_assert_eq(af_agent_update(a, &st), AF_OK, "%s", af_agent_last_error(a));
  }
  cr_assert_eq(af_agent_save(a, "pixel_sac.ckpt", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_save_replay(a, "pixel_sac.replay", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_load(b, "pixel_sac.ckpt", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_load_replay(b, "pixel_sac.replay", err, sizeof err), 0, "%s", err);
  for (int k = 20; k < N; k++) {
    observe(a, &t[k]);
    observe(b, &t[k]);
    cr_assert_eq(af_agent_update(a, &st), AF_OK);
    cr_assert_eq(st.updates, 1);
    cr_assert_eq(af_agent_update(b, &st), AF_OK);
  }
  af_pixel_sac *sa = af_agent_impl(a), *sb = af_agent_impl(b);
  cr_assert(memcmp(af_conv_params(sa->enc), af_conv_params(sb->enc), sizeof(float) * af_conv_nparams(sa->enc)) == 0, "encoders differ");
  cr_assert(memcmp(af_mlp_params(sa->q1), af_mlp_params(sb->q1), sizeof(float) * af_mlp_nparams(sa->q1)) == 0, "critics differ");
  cr_assert(memcmp(af_mlp_params(sa->actor), af_mlp_params(sb->actor), sizeof(float) * af_mlp_nparams(sa->actor)) == 0, "actors differ");
  // and the parameters did move from their initial values
  af_agent *fresh = make(21);
  af_pixel_sac *sf = af_agent_impl(fresh);
  cr_assert(memcmp(af_conv_params(sa->enc), af_conv_params(sf->enc), sizeof(float) * af_conv_nparams(sa->enc)) != 0, "the encoder never moved");
  // acting: the same deterministic action
  float x[AD], y[AD];
  cr_assert_eq(af_agent_act(a, x, t[3].obs, 1, 1), AF_OK);
  cr_assert_eq(af_agent_act(b, y, t[3].obs, 1, 1), AF_OK);
  cr_assert(memcmp(x, y, sizeof x) == 0);
  for (int i = 0; i < AD; i++) cr_assert(x[i] >= -1 && x[i] <= 1);
  remove("pixel_sac.ckpt");
  remove("pixel_sac.replay");
  af_agent_free(a);
  af_agent_free(b);
  af_agent_free(fresh);
}

Test(pixel_sac, a_state_observation_is_refused_with_a_reason) {
  af_env_spec sp = {.name = "test", .obs_dim = 5, .act_dim = 1};
  char err[256] = "";
  cr_assert_null(af_agent_make("pixel_sac", NULL, &(af_agent_setup){.spec = &sp, .num_envs = 1, .seed = 1}, err, sizeof err));
  cr_assert(strstr(err, "needs stacked frames"), "%s", err);
  af_env_spec ok = spec();
  cr_assert_null(af_agent_make("pixel_sac", "{\"conv_layers\": 0}", &(af_agent_setup){.spec = &ok, .num_envs = 1, .seed = 1}, err, sizeof err));
  cr_assert(strstr(err, "conv_layers"), "%s", err);
}
