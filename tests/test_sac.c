// Soft Actor-Critic: the analytic gradients of the critic, actor and temperature losses match
// central finite differences of the same losses written independently in double precision.
#include <criterion/criterion.h>
#include <math.h>
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#include <string.h>

#include "agents/sac.h"
#include "tests/ref_nn.h"
#include "tests/ckpt_edit.h"  // crafted checkpoint files

enum { OD = 3, AD = 2, H = 8, B = 5, QD = OD + AD };
static const int asz[4] = {OD, H, H, 2 * AD}, qsz[4] = {QD, H, H, 1};

// the double-precision copy of everything the losses depend on
typedef struct {
  double actor[512], q1[512], q2[512], q1t[512], q2t[512], log_alpha;
  double obs[B * OD], act[B * AD], rew[B], next_obs[B * OD], done[B], eps_next[B * AD], eps_pi[B * AD];
  double gamma, lo, hi;
} ref_t;

// a = tanh(mu + exp(ls) eps) and log pi(a) for each row
static void ref_policy(const ref_t *r, const double *obs, const double *eps, double *a, double *logp) {
  double out[B * 2 * AD];
  ref_mlp(out, r->actor, obs, B, 3, asz, AF_ACT_RELU, AF_ACT_NONE);
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

static void ref_q(const double *p, const double *obs, const double *act, double *q) {
  double in[B * QD];
  for (int b = 0; b < B; b++) {
    memcpy(in + b * QD, obs + b * OD, sizeof(double) * OD);
    memcpy(in + b * QD + OD, act + b * AD, sizeof(double) * AD);
  }
  ref_mlp(q, p, in, B, 3, qsz, AF_ACT_RELU, AF_ACT_NONE);
}

static double ref_critic_loss(const ref_t *r) {
  double a2[B * AD], lp2[B], t1[B], t2[B], q1[B], q2[B], L = 0, alpha = exp(r->log_alpha);
  ref_policy(r, r->next_obs, r->eps_next, a2, lp2);
  ref_q(r->q1t, r->next_obs, a2, t1);
  ref_q(r->q2t, r->next_obs, a2, t2);
  ref_q(r->q1, r->obs, r->act, q1);
  ref_q(r->q2, r->obs, r->act, q2);
  for (int b = 0; b < B; b++) {
    double y = r->rew[b] + r->gamma * (1 - r->done[b]) * (fmin(t1[b], t2[b]) - alpha * lp2[b]);
    L += 0.5 * (q1[b] - y) * (q1[b] - y) / B + 0.5 * (q2[b] - y) * (q2[b] - y) / B;
  }
  return L;
}

static double ref_actor_loss(const ref_t *r) {
  double a[B * AD], lp[B], q1[B], q2[B], L = 0, alpha = exp(r->log_alpha);
  ref_policy(r, r->obs, r->eps_pi, a, lp);
  ref_q(r->q1, r->obs, a, q1);
  ref_q(r->q2, r->obs, a, q2);
  for (int b = 0; b < B; b++) L += (alpha * lp[b] - fmin(q1[b], q2[b])) / B;
  return L;
}

static void to_double(double *d, const float *f, int n) {
  for (int i = 0; i < n; i++) d[i] = f[i];
}

// compare an analytic gradient with central differences of `loss` in the parameters `p`
static void check(const char *what, double *p, const float *g, int n, double (*loss)(const ref_t *), ref_t *r) {
  const double h = 1e-6;
  for (int i = 0; i < n; i++) {
    double keep = p[i];
    p[i] = keep + h;
    double lp = loss(r);
    p[i] = keep - h;
    double lm = loss(r);
    p[i] = keep;
    double fd = (lp - lm) / (2 * h);
    cr_assert(fabs(g[i] - fd) <= 2e-3 * fabs(fd) + 2e-5, "%s param %d: analytic %.7g, finite difference %.7g", what, i, g[i], fd);
  }
}

Test(sac, loss_gradients_match_finite_differences) {
  af_env_spec spec = {.obs_dim = OD, .act_dim = AD};
  char err[256];
  af_agent *ag = af_agent_make("sac", "{\"batch\": 5, \"hidden\": 8, \"buffer\": 64, \"log_std_min\": -5, \"init_alpha\": 0.3, \"gamma\": 0.9}", &(af_agent_setup){.spec = &spec, .num_envs = 1, .seed = 7}, err, sizeof err);
  cr_assert(ag, "%s", err);
  af_sac *s = af_agent_impl(ag);
  // make the targets differ from the critics, as after some training
  af_rng rng;
  af_rng_seed(&rng, 99);
  af_mlp_init(s->q1t, &rng);
  af_mlp_init(s->q2t, &rng);
  // a batch, done flags mixed, and the noise of both samplings
  float obs[B * OD], act[B * AD], rew[B], next_obs[B * OD], done[B], en[B * AD], ep[B * AD];
  for (int i = 0; i < B * OD; i++) { obs[i] = (float)af_rng_range(&rng, -1, 1); next_obs[i] = (float)af_rng_range(&rng, -1, 1); }
  for (int i = 0; i < B * AD; i++) {
    act[i] = (float)af_rng_range(&rng, -0.9, 0.9);
    en[i] = (float)af_rng_normal(&rng);
    ep[i] = (float)af_rng_normal(&rng);
  }
  for (int b = 0; b < B; b++) { rew[b] = (float)af_rng_range(&rng, -1, 1); done[b] = b == 2; }
  af_sac_losses L;
  af_sac_grads(s, obs, act, rew, next_obs, done, en, ep, 0, &L);

  static ref_t r;
  to_double(r.actor, af_mlp_params(s->actor), af_mlp_nparams(s->actor));
  to_double(r.q1, af_mlp_params(s->q1), af_mlp_nparams(s->q1));
  to_double(r.q2, af_mlp_params(s->q2), af_mlp_nparams(s->q2));
  to_double(r.q1t, af_mlp_params(s->q1t), af_mlp_nparams(s->q1t));
  to_double(r.q2t, af_mlp_params(s->q2t), af_mlp_nparams(s->q2t));
  to_double(r.obs, obs, B * OD);
  to_double(r.next_obs, next_obs, B * OD);
  to_double(r.act, act, B * AD);
  to_double(r.rew, rew, B);
  to_double(r.done, done, B);
  to_double(r.eps_next, en, B * AD);
  to_double(r.eps_pi, ep, B * AD);
  r.log_alpha = s->log_alpha;
  r.gamma = 0.9;
  r.lo = -5;
  r.hi = 2;
  // the losses themselves agree
  cr_assert_float_eq(L.critic_loss, ref_critic_loss(&r), 1e-4 * (1 + fabs(L.critic_loss)));
  cr_assert_float_eq(L.actor_loss, ref_actor_loss(&r), 1e-4 * (1 + fabs(L.actor_loss)));
  // critic loss in both critics' parameters, actor loss in the actor's
  check("q1", r.q1, af_mlp_grads(s->q1), af_mlp_nparams(s->q1), ref_critic_loss, &r);
  check("q2", r.q2, af_mlp_grads(s->q2), af_mlp_nparams(s->q2), ref_critic_loss, &r);
  check("actor", r.actor, af_mlp_grads(s->actor), af_mlp_nparams(s->actor), ref_actor_loss, &r);
  // temperature: d/d log_alpha of -mean(log_alpha (log pi + H)) with log pi held fixed
  double a[B * AD], lp[B], g = 0;
  ref_policy(&r, r.obs, r.eps_pi, a, lp);
  for (int b = 0; b < B; b++) g -= (lp[b] - AD) / B;
  cr_assert_float_eq(s->log_alpha_grad, g, 1e-4 * (1 + fabs(g)));
  af_agent_free(ag);
}

Test(sac, bad_hyperparameters_are_named) {
  af_env_spec spec = {.obs_dim = 3, .act_dim = 1};
  char err[256];
  cr_assert_null(af_agent_make("sac", "{\"lrr\": 0.001}", &(af_agent_setup){.spec = &spec, .num_envs = 1, .seed = 0}, err, sizeof err));
  cr_assert(strstr(err, "agent.lrr: unknown sac hyperparameter (did you mean 'lr'?)") != NULL, "%s", err);
  cr_assert_null(af_agent_make("sac", "{\"batch\": 0}", &(af_agent_setup){.spec = &spec, .num_envs = 1, .seed = 0}, err, sizeof err));
  cr_assert(strstr(err, "agent.batch: 0 is out of range") != NULL, "%s", err);
  cr_assert_null(af_agent_make("sac", "{\"gamma\": \"high\"}", &(af_agent_setup){.spec = &spec, .num_envs = 1, .seed = 0}, err, sizeof err));
  cr_assert(strstr(err, "agent.gamma: expected a number") != NULL, "%s", err);
  cr_assert_null(af_agent_make("ppo2", NULL, &(af_agent_setup){.spec = &spec, .num_envs = 1, .seed = 0}, err, sizeof err));
  cr_assert(strstr(err, "unknown agent 'ppo2'") != NULL, "%s", err);
}

Test(sac, save_load_round_trip_and_shape_mismatch) {
  af_env_spec spec = {.obs_dim = 3, .act_dim = 1};
  char err[256];
  af_agent *a = af_agent_make("sac", "{\"hidden\": 16, \"batch\": 8, \"buffer\": 100, \"warmup\": 0}", &(af_agent_setup){.spec = &spec, .num_envs = 1, .seed = 1}, err, sizeof err);
  af_agent *b = af_agent_make("sac", "{\"hidden\": 16, \"batch\": 8, \"buffer\": 100, \"warmup\": 0}", &(af_agent_setup){.spec = &spec, .num_envs = 1, .seed = 2}, err, sizeof err);
  cr_assert(a && b, "%s", err);
  // train a little so the optimizer state is not trivial
  float o[3] = {0.1f, -0.2f, 0.3f}, act[1], o2[3] = {0.2f, 0.1f, 0}, x;
  af_agent_stats st;
  for (int t = 0; t < 20; t++) {
    float r = -1;
    uint8_t no = 0;
    af_info info = {0};
    cr_assert_eq(af_agent_act(a, act, o, 1, 0), AF_OK);
    af_batch batch = {.n = 1, .obs = o, .act = act, .reward = &r, .next_obs = o2, .terminated = &no, .truncated = &no, .info = &info};
    cr_assert_eq(af_agent_observe(a, &batch), AF_OK);
    cr_assert_eq(af_agent_update(a, &st), AF_OK);
  }
  cr_assert_eq(st.updates, 1);
  cr_assert_eq(af_agent_save(a, "sac_ckpt.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_load(b, "sac_ckpt.bin", err, sizeof err), 0, "%s", err);
  float da, db;
  af_agent_act(a, &da, o, 1, 1);
  af_agent_act(b, &db, o, 1, 1);
  cr_assert_eq(da, db, "the loaded policy acts as the saved one");
  af_sac *sa = af_agent_impl(a), *sb = af_agent_impl(b);
  cr_assert(memcmp(sa->opt_q1.m, sb->opt_q1.m, sizeof(float) * sa->opt_q1.n) == 0);
  cr_assert_eq(sa->opt_q1.t, sb->opt_q1.t);
  cr_assert_eq(sa->log_alpha, sb->log_alpha);
  // a network of another shape refuses the file
  af_agent *c = af_agent_make("sac", "{\"hidden\": 32, \"batch\": 8, \"buffer\": 100}", &(af_agent_setup){.spec = &spec, .num_envs = 1, .seed = 2}, err, sizeof err);
  cr_assert_eq(af_agent_load(c, "sac_ckpt.bin", err, sizeof err), -1);
  cr_assert(strstr(err, "different network shape") != NULL, "%s", err);
  (void)x;
  af_agent_free(a);
  af_agent_free(b);
  af_agent_free(c);
}

// a NaN output bias in the first critic makes the critic loss NaN: the update is skipped and
// counted, and nothing moves (before, the second critic took its step and the actor was
// driven by a NaN critic); a finite update is taken and not counted as skipped
Test(sac, a_non_finite_loss_skips_the_update) {
  af_env_spec spec = {.obs_dim = 3, .act_dim = 1};
  char err[256];
  const char *cfg = "{\"hidden\": 16, \"batch\": 8, \"buffer\": 100, \"warmup\": 0, \"updates_per_step\": 0}";
  af_agent *a = af_agent_make("sac", cfg, &(af_agent_setup){.spec = &spec, .num_envs = 1, .seed = 1}, err, sizeof err);
  af_agent *ref = af_agent_make("sac", cfg, &(af_agent_setup){.spec = &spec, .num_envs = 1, .seed = 1}, err, sizeof err);
  cr_assert(a && ref, "%s", err);
  for (int t = 0; t < 10; t++) {
    float o[3] = {sinf(t), cosf(t), 0.1f * t}, o2[3] = {sinf(t + 1), cosf(t + 1), 0.1f * (t + 1)}, act[1], r = -o[0];
    uint8_t no = 0;
    af_info info = {0};
    cr_assert_eq(af_agent_act(a, act, o, 1, 0), AF_OK);
    af_batch batch = {.n = 1, .obs = o, .act = act, .reward = &r, .next_obs = o2, .terminated = &no, .truncated = &no, .info = &info};
    cr_assert_eq(af_agent_observe(a, &batch), AF_OK);
  }
  af_sac *s = af_agent_impl(a), *rs = af_agent_impl(ref);
  float *w = af_mlp_params(s->q1) + af_mlp_nparams(s->q1) - 1, kept = *w, alpha = s->log_alpha;
  *w = NAN;
  af_agent_stats st;
  cr_assert_eq(af_sac_learn(s, 3, &st), AF_OK);
  cr_assert_eq(st.updates, 3);
  cr_assert_eq(st.skipped, 3, "%d of 3 updates skipped", st.skipped);
  *w = kept;
  af_mlp *mine[5] = {s->actor, s->q1, s->q2, s->q1t, s->q2t}, *theirs[5] = {rs->actor, rs->q1, rs->q2, rs->q1t, rs->q2t};
  for (int j = 0; j < 5; j++)
    cr_assert(memcmp(af_mlp_params(mine[j]), af_mlp_params(theirs[j]), sizeof(float) * af_mlp_nparams(mine[j])) == 0, "network %d moved", j);
  cr_assert_eq(s->log_alpha, alpha);
  cr_assert_eq(s->opt_q1.t + s->opt_q2.t + s->opt_actor.t + s->opt_alpha.t, 0, "no optimizer step");
  cr_assert_eq(af_sac_learn(s, 1, &st), AF_OK);
  cr_assert_eq(st.skipped, 0);
  cr_assert_eq(s->opt_actor.t, 1);
  cr_assert(af_nn_finite(af_mlp_params(s->actor), (size_t)af_mlp_nparams(s->actor)));
  af_agent_free(a);
  af_agent_free(ref);
}

Test(sac, crafted_checkpoints_are_refused) { ckpt_crafted_agent_refused("sac"); }
