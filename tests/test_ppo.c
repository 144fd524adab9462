// Proximal Policy Optimization: the analytic gradients of the PPO loss (clipped surrogate with
// both sides of the clip active, value loss clipped and unclipped, entropy bonus, normalized
// advantages) match central finite differences of the same loss written independently in
// double precision, in the actor's, the critic's and the log std's parameters; generalized
// advantage estimation matches values worked out by hand on a sequence with a terminal and a
// truncation; a truncated step is bootstrapped with V of the episode's last observation and a
// terminated one is not; an update comes once a rollout is full; a checkpoint and the rollout
// file restore an agent that acts and learns on bit for bit; bad hyperparameters and crafted
// checkpoints are refused with their names; and through the armfarm program PPO learns the
// pendulum at a small budget.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>  // WIFEXITED

#include "agents/ppo.h"
#include "tests/ckpt_edit.h"  // crafted checkpoint files
#include "tests/ref_nn.h"

enum { OD = 3, AD = 2, H = 8, M = 12 };
#define PI 3.14159265358979323846
static const int asz[4] = {OD, H, H, AD}, vsz[4] = {OD, H, H, 1};

static af_agent *make(const char *json, int obs_dim, int act_dim, int num_envs, uint64_t seed) {
  static af_env_spec spec;
  spec = (af_env_spec){.obs_dim = obs_dim, .act_dim = act_dim};
  char err[256];
  af_agent *a = af_agent_make("ppo", json, &(af_agent_setup){.spec = &spec, .num_envs = num_envs, .seed = seed}, err, sizeof err);
  cr_assert(a, "%s", err);
  return a;
}

// ---- the loss in double precision, written from the formulas ----
typedef struct {
  double actor[512], critic[512], log_std[AD];
  double obs[M * OD], act[M * AD], logp_old[M], v_old[M], adv[M], ret[M];
  double clip, value_clip, vf_coef, ent_coef;
  int above, below, bind, vclipped, vplain;  // rows on each side of the clips (the test needs all)
} ref_t;

static double ref_loss(ref_t *r) {
  double mu[M * AD], v[M], am = 0, as = 0, pl = 0, vl = 0, h = 0;
  ref_mlp(mu, r->actor, r->obs, M, 3, asz, AF_ACT_TANH, AF_ACT_NONE);
  ref_mlp(v, r->critic, r->obs, M, 3, vsz, AF_ACT_TANH, AF_ACT_NONE);
  for (int b = 0; b < M; b++) am += r->adv[b] / M;
  for (int b = 0; b < M; b++) as += (r->adv[b] - am) * (r->adv[b] - am) / (M - 1);
  as = sqrt(as) + 1e-8;
  r->above = r->below = r->bind = r->vclipped = r->vplain = 0;
  for (int b = 0; b < M; b++) {
    // the Gaussian log-density of the action, the ratio, the clipped surrogate
    double lp = 0;
    for (int i = 0; i < AD; i++) {
      double sd = exp(r->log_std[i]), z = (r->act[b * AD + i] - mu[b * AD + i]) / sd;
      lp += -0.5 * z * z - log(sd) - 0.5 * log(2 * PI);
    }
    double ratio = exp(lp - r->logp_old[b]), A = (r->adv[b] - am) / as;
    double cr = ratio < 1 - r->clip ? 1 - r->clip : ratio > 1 + r->clip ? 1 + r->clip : ratio;
    r->above += ratio > 1 + r->clip;
    r->below += ratio < 1 - r->clip;
    r->bind += (ratio > 1 + r->clip && A > 0) || (ratio < 1 - r->clip && A < 0);  // the clipped term is the min
    pl -= fmin(ratio * A, cr * A) / M;
    // the value loss, with the clipped estimate when value_clip > 0
    double u = (v[b] - r->ret[b]) * (v[b] - r->ret[b]);
    if (r->value_clip > 0) {
      double dv = v[b] - r->v_old[b], vc = r->v_old[b] + (dv < -r->value_clip ? -r->value_clip : dv > r->value_clip ? r->value_clip : dv);
      double c = (vc - r->ret[b]) * (vc - r->ret[b]);
      r->vclipped += c > u;
      r->vplain += c <= u;
      u = fmax(u, c);
    }
    vl += 0.5 * u / M;
  }
  // the entropy of N(mu, diag(sd^2)), in every state the same
  for (int i = 0; i < AD; i++) h += 0.5 * log(2 * PI * exp(1.0) * exp(2 * r->log_std[i]));
  return pl + r->vf_coef * vl - r->ent_coef * h;
}

static void to_double(double *d, const float *f, int n) {
  for (int i = 0; i < n; i++) d[i] = f[i];
}

// an analytic gradient against central differences of the loss in the parameters p
static void check(const char *what, double *p, const float *g, int n, ref_t *r) {
  const double h = 1e-6;
  for (int i = 0; i < n; i++) {
    double keep = p[i];
    p[i] = keep + h;
    double lp = ref_loss(r);
    p[i] = keep - h;
    double lm = ref_loss(r);
    p[i] = keep;
    double fd = (lp - lm) / (2 * h);
    cr_assert(fabs(g[i] - fd) <= 2e-3 * fabs(fd) + 2e-5, "%s param %d: analytic %.7g, finite difference %.7g", what, i, g[i], fd);
  }
}

Test(ppo, loss_gradients_match_finite_differences) {
  af_agent *ag = make("{\"hidden\": 8, \"minibatch\": 12, \"rollout\": 12, \"clip\": 0.2, \"value_clip\": 0.3, \"vf_coef\": 0.7, "
                      "\"ent_coef\": 0.05, \"obs_norm\": false}", OD, AD, 1, 7);
  af_ppo *p = af_agent_impl(ag);
  // full-scale actor weights (the agent starts its mean's last layer small) and a log std
  // of its own in each dimension
  af_rng rng;
  af_rng_seed(&rng, 42);
  af_mlp_init(p->actor, &rng);
  af_mlp_init(p->critic, &rng);
  p->log_std[0] = -0.3f;
  p->log_std[1] = 0.4f;
  // a minibatch: old log-probabilities and values off the current ones by up to +-0.6, so
  // that ratios fall on both sides of the clip and the value clip is active in some rows
  float obs[M * OD], act[M * AD], logp_old[M], v_old[M], adv[M], ret[M], mu[M * AD], lp[M];
  for (int i = 0; i < M * OD; i++) obs[i] = (float)af_rng_range(&rng, -1.5, 1.5);
  const float *m = af_mlp_forward(p->actor, M, obs);
  memcpy(mu, m, sizeof mu);
  for (int i = 0; i < M * AD; i++) act[i] = mu[i] + expf(p->log_std[i % AD]) * (float)af_rng_normal(&rng);
  const float *v = af_mlp_forward(p->critic, M, obs);
  for (int b = 0; b < M; b++) {
    double l = 0;
    for (int i = 0; i < AD; i++) {
      double z = (act[b * AD + i] - mu[b * AD + i]) / exp(p->log_std[i]);
      l += -0.5 * z * z - p->log_std[i] - 0.5 * log(2 * PI);
    }
    lp[b] = (float)l;
    logp_old[b] = lp[b] + (float)af_rng_range(&rng, -0.6, 0.6);
    v_old[b] = v[b] + (float)af_rng_range(&rng, -0.6, 0.6);
    adv[b] = (float)af_rng_range(&rng, -2, 2);
    ret[b] = v[b] + (float)af_rng_range(&rng, -1, 1);
  }
  static ref_t r;
  to_double(r.actor, af_mlp_params(p->actor), af_mlp_nparams(p->actor));
  to_double(r.critic, af_mlp_params(p->critic), af_mlp_nparams(p->critic));
  to_double(r.log_std, p->log_std, AD);
  to_double(r.obs, obs, M * OD);
  to_double(r.act, act, M * AD);
  to_double(r.logp_old, logp_old, M);
  to_double(r.v_old, v_old, M);
  to_double(r.adv, adv, M);
  to_double(r.ret, ret, M);
  r.clip = 0.2;
  r.vf_coef = 0.7;
  r.ent_coef = 0.05;
  // with the value clip, then without it
  const double vclips[2] = {0.3, 0};
  for (int k = 0; k < 2; k++) {
    p->cfg.value_clip = r.value_clip = vclips[k];
    af_ppo_losses L;
    af_ppo_grads(p, obs, act, logp_old, v_old, adv, ret, &L);
    cr_assert_null(af_nn_ctx_error(p->ctx));
    double lr = ref_loss(&r);
    cr_assert(fabs(L.loss - lr) <= 1e-4 * (1 + fabs(lr)), "loss %.7g, reference %.7g", L.loss, lr);
    cr_assert(r.above > 0 && r.below > 0, "ratio above the clip in %d rows, below in %d, of %d", r.above, r.below, M);
    // some clipped rows are where the clip binds (no gradient), some where it does not
    cr_assert(r.bind > 0 && r.bind < r.above + r.below, "the clip binds in %d of %d clipped rows", r.bind, r.above + r.below);
    if (k == 0) cr_assert(r.vclipped > 0 && r.vplain > 0, "value clip chosen in %d rows, the plain loss in %d", r.vclipped, r.vplain);
    check("actor", r.actor, af_mlp_grads(p->actor), af_mlp_nparams(p->actor), &r);
    check("critic", r.critic, af_mlp_grads(p->critic), af_mlp_nparams(p->critic), &r);
    check("log_std", r.log_std, p->log_std_grad, AD, &r);
  }
  af_agent_free(ag);
}

// T = 4 steps of N = 2 environments, gamma 0.9, lambda 0.8 (gamma lambda 0.72). Environment 0
// terminates at step 1, environment 1 is truncated at step 2, whose reward -1 already carries
// its bootstrap 0.9 * V(s_end) = 0.9 * 5 (3.5). Worked out by hand, backwards:
//   env 0, V = 0.5 1 1.5 2, V_4 = 3:
//     A3 = 4 + 0.9*3 - 2 = 4.7;  A2 = 3 + 0.9*2 - 1.5 + 0.72*4.7 = 6.684
//     A1 = 2 - 1 = 1 (terminal);  A0 = 1 + 0.9*1 - 0.5 + 0.72*1 = 2.12
//   env 1, V = 1 1 1 1, V_4 = 2:
//     A3 = 2 + 0.9*2 - 1 = 2.8;  A2 = 3.5 - 1 = 2.5 (truncated: nothing beyond it)
//     A1 = 0 + 0.9*1 - 1 + 0.72*2.5 = 1.7;  A0 = 1 + 0.9 - 1 + 0.72*1.7 = 2.124
Test(ppo, gae_matches_hand_computed_values) {
  const float rew[8] = {1, 1, 2, 0, 3, 3.5f, 4, 2}, val[8] = {0.5f, 1, 1, 1, 1.5f, 1, 2, 1};
  const float done[8] = {0, 0, 1, 0, 0, 1, 0, 0}, last[2] = {3, 2};
  const double want_a[8] = {2.12, 2.124, 1, 1.7, 6.684, 2.5, 4.7, 2.8};
  float adv[8], ret[8];
  af_ppo_gae(adv, ret, rew, val, done, last, 4, 2, 0.9f, 0.8f);
  for (int k = 0; k < 8; k++) {
    cr_assert(fabs(adv[k] - want_a[k]) < 1e-5, "advantage %d (step %d, env %d): %.7g, by hand %.7g", k, k / 2, k % 2, adv[k], want_a[k]);
    cr_assert(fabs(ret[k] - (want_a[k] + val[k])) < 1e-5, "return %d: %.7g, by hand %.7g", k, ret[k], want_a[k] + val[k]);
  }
}

// one step of two made-up environments through act and observe; ends[i] 1 terminated, 2
// truncated; the stats of the update that followed
static af_agent_stats feed(af_agent *a, int step, const int *ends, float *next_out) {
  enum { N = 2 };
  float obs[N * OD], act[N * AD], next[N * OD], rew[N];
  uint8_t te[N], tr[N];
  af_info info[N] = {{0}};
  for (int i = 0; i < N * OD; i++) { obs[i] = sinf(0.3f * (step + i)); next[i] = cosf(0.2f * (step + 2 * i)); }
  cr_assert_eq(af_agent_act(a, act, obs, N, 0), AF_OK, "%s", af_agent_last_error(a));
  for (int i = 0; i < N * AD; i++) cr_assert(act[i] >= -1 && act[i] <= 1, "action %g outside [-1, 1]", act[i]);
  for (int i = 0; i < N; i++) {
    rew[i] = -obs[i * OD] * obs[i * OD] - 0.1f * act[i * AD] + 0.05f * i;
    te[i] = ends ? ends[i] == 1 : (step + i) % 7 == 0;
    tr[i] = ends ? ends[i] == 2 : (step + 3 * i) % 11 == 0;
  }
  if (next_out) memcpy(next_out, next, sizeof next);
  af_batch b = {.n = N, .obs = obs, .act = act, .reward = rew, .next_obs = next, .terminated = te, .truncated = tr, .info = info};
  cr_assert_eq(af_agent_observe(a, &b), AF_OK, "%s", af_agent_last_error(a));
  af_agent_stats st;
  cr_assert_eq(af_agent_update(a, &st), AF_OK, "%s", af_agent_last_error(a));
  return st;
}

Test(ppo, truncation_is_bootstrapped_and_termination_is_not) {
  af_agent *a = make("{\"hidden\": 8, \"minibatch\": 3, \"rollout\": 3, \"gamma\": 0.9, \"reward_scale\": 2, \"obs_norm\": false}", OD, AD, 2, 3);
  af_ppo *p = af_agent_impl(a);
  float next[2 * OD];
  const int none[2] = {0, 0}, ends[2] = {1, 2};
  cr_assert_eq(feed(a, 0, none, NULL).updates, 0);
  // step 1: environment 0 terminated, environment 1 truncated: r 2 r_1 + 0.9 V(s_end)
  cr_assert_eq(feed(a, 1, ends, next).updates, 0);
  float obs1[2 * OD];
  for (int i = 0; i < 2 * OD; i++) obs1[i] = sinf(0.3f * (1 + i));
  const float *v = af_mlp_forward(p->critic, 2, next);
  float raw0 = -obs1[0] * obs1[0] - 0.1f * p->c_act[0], raw1 = -obs1[OD] * obs1[OD] - 0.1f * p->c_act[AD] + 0.05f;
  cr_assert(fabsf(p->r_rew[2] - 2 * raw0) < 1e-6f, "terminated: %g, expected %g", p->r_rew[2], 2 * raw0);
  cr_assert(fabsf(p->r_rew[3] - (2 * raw1 + 0.9f * v[1])) < 1e-5f, "truncated: %g, expected %g + 0.9 * %g", p->r_rew[3], 2 * raw1, v[1]);
  cr_assert(p->r_done[2] == 1 && p->r_done[3] == 1 && p->r_done[0] == 0 && p->r_done[1] == 0);
  // the stored log-probabilities are those of the unclipped sample under the acting policy
  const float *mu = af_mlp_forward(p->actor, 2, p->r_obs + 2 * OD);
  for (int i = 0; i < 2; i++) {
    double l = 0;
    for (int j = 0; j < AD; j++) {
      double z = (p->r_act[(2 + i) * AD + j] - mu[i * AD + j]) / exp(p->log_std[j]);
      l += -0.5 * z * z - p->log_std[j] - 0.5 * log(2 * PI);
    }
    cr_assert(fabs(p->r_logp[2 + i] - l) < 1e-4, "logp %g, recomputed %g", p->r_logp[2 + i], l);
  }
  // the third step fills the rollout, and the update runs: 10 epochs of 2 minibatches of 3
  float before[512];
  memcpy(before, af_mlp_params(p->actor), sizeof(float) * af_mlp_nparams(p->actor));
  af_agent_stats st = feed(a, 2, none, next);
  cr_assert_eq(st.updates, 20);
  cr_assert_eq(p->step, 0);
  cr_assert_eq(p->rollouts, 1);
  cr_assert(memcmp(before, af_mlp_params(p->actor), sizeof(float) * af_mlp_nparams(p->actor)) != 0, "the actor did not move");
  af_agent_free(a);
}

Test(ppo, a_full_rollout_must_be_learned_before_more_is_observed) {
  af_agent *a = make("{\"hidden\": 8, \"minibatch\": 2, \"rollout\": 1}", OD, AD, 2, 3);
  float obs[2 * OD] = {0}, act[2 * AD] = {0}, rew[2] = {0};
  uint8_t te[2] = {0}, tr[2] = {0};
  af_info info[2] = {{0}};
  af_batch b = {.n = 2, .obs = obs, .act = act, .reward = rew, .next_obs = obs, .terminated = te, .truncated = tr, .info = info};
  cr_assert_eq(af_agent_observe(a, &b), AF_OK, "%s", af_agent_last_error(a));
  cr_assert_eq(af_agent_observe(a, &b), AF_ERR_STATE);
  cr_assert(strstr(af_agent_last_error(a), "rollout is full"), "%s", af_agent_last_error(a));
  af_agent_stats st;
  cr_assert_eq(af_agent_update(a, &st), AF_OK);
  cr_assert_eq(st.updates, 10);
  cr_assert_eq(af_agent_observe(a, &b), AF_OK, "%s", af_agent_last_error(a));
  b.n = 1;
  cr_assert_eq(af_agent_observe(a, &b), AF_ERR_ARG);
  af_agent_free(a);
}

// the step size anneals linearly from lr to 0 over the budget the setup gives
Test(ppo, the_step_size_anneals_over_the_budget) {
  af_env_spec spec = {.obs_dim = OD, .act_dim = AD};
  char err[256];
  af_agent *a = af_agent_make("ppo", "{\"hidden\": 8, \"minibatch\": 4, \"rollout\": 2, \"lr\": 0.001, \"epochs\": 1}",
                              &(af_agent_setup){.spec = &spec, .num_envs = 2, .seed = 1, .total_steps = 16}, err, sizeof err);
  cr_assert(a, "%s", err);
  af_ppo *p = af_agent_impl(a);
  const float want[4] = {1e-3f, 0.75e-3f, 0.5e-3f, 0.25e-3f};
  for (int r = 0; r < 4; r++) {
    feed(a, 2 * r, NULL, NULL);
    feed(a, 2 * r + 1, NULL, NULL);
    cr_assert(fabsf(p->opt_actor.lr - want[r]) < 1e-9f && p->opt_log_std.lr == p->opt_actor.lr, "rollout %d: lr %g, expected %g", r, p->opt_actor.lr, want[r]);
  }
  af_agent_free(a);
  // anneal_steps overrides the budget; anneal_lr false keeps lr
  a = make("{\"hidden\": 8, \"minibatch\": 4, \"rollout\": 2, \"lr\": 0.001, \"epochs\": 1, \"anneal_steps\": 8}", OD, AD, 2, 1);
  p = af_agent_impl(a);
  for (int s = 0; s < 4; s++) feed(a, s, NULL, NULL);
  cr_assert(fabsf(p->opt_critic.lr - 0.5e-3f) < 1e-9f, "lr %g", p->opt_critic.lr);
  af_agent_free(a);
  a = make("{\"hidden\": 8, \"minibatch\": 4, \"rollout\": 2, \"lr\": 0.001, \"epochs\": 1, \"anneal_lr\": false, \"anneal_steps\": 8}", OD, AD, 2, 1);
  p = af_agent_impl(a);
  for (int s = 0; s < 6; s++) feed(a, s, NULL, NULL);
  cr_assert_eq(p->opt_critic.lr, 1e-3f);
  af_agent_free(a);
}

static int same(af_mlp *x, af_mlp *y) {
  return memcmp(af_mlp_params(x), af_mlp_params(y), sizeof(float) * af_mlp_nparams(x)) == 0;
}

#define SMALL "{\"hidden\": 16, \"minibatch\": 4, \"rollout\": 5, \"epochs\": 3, \"ent_coef\": 0.01, \"value_clip\": 0.2}"

Test(ppo, save_load_round_trip_gives_identical_actions) {
  char err[256];
  af_agent *a = make(SMALL, OD, AD, 2, 1), *b = make(SMALL, OD, AD, 2, 2);
  // two rollouts and two steps into the third: the rollout in progress is part of the state
  for (int s = 0; s < 12; s++) feed(a, s, NULL, NULL);
  af_ppo *pa = af_agent_impl(a), *pb = af_agent_impl(b);
  cr_assert_eq(pa->rollouts, 2);
  cr_assert_eq(pa->step, 2);
  cr_assert_eq(af_agent_save(a, "ckpt.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_save_replay(a, "rollout.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_load(b, "ckpt.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_load_replay(b, "rollout.bin", err, sizeof err), 0, "%s", err);
  cr_assert(same(pa->actor, pb->actor) && same(pa->critic, pb->critic));
  cr_assert(memcmp(pa->log_std, pb->log_std, sizeof(float) * AD) == 0);
  cr_assert(memcmp(pa->opt_actor.m, pb->opt_actor.m, sizeof(float) * pa->opt_actor.n) == 0);
  cr_assert(memcmp(pa->opt_log_std.v, pb->opt_log_std.v, sizeof(float) * AD) == 0);
  cr_assert_eq(pa->opt_critic.t, pb->opt_critic.t);
  cr_assert_eq(pa->observed, pb->observed);
  cr_assert_eq(pb->step, 2);
  cr_assert(memcmp(&pa->rng, &pb->rng, sizeof pa->rng) == 0);
  cr_assert(memcmp(pa->norm.fmean, pb->norm.fmean, sizeof(float) * OD) == 0);
  // the same actions, deterministic and sampled
  float obs[2 * OD] = {0.3f, -0.2f, 0.9f, -1.1f, 0.5f, 0.05f}, x[2 * AD], y[2 * AD];
  cr_assert_eq(af_agent_act(a, x, obs, 1, 1), AF_OK);
  cr_assert_eq(af_agent_act(b, y, obs, 1, 1), AF_OK);
  cr_assert(memcmp(x, y, sizeof(float) * AD) == 0, "deterministic actions differ");
  cr_assert_eq(af_agent_act(a, x, obs, 2, 0), AF_OK);
  cr_assert_eq(af_agent_act(b, y, obs, 2, 0), AF_OK);
  cr_assert(memcmp(x, y, sizeof x) == 0, "sampled actions differ");
  // and the same future: the rollout finished and learned, and the next
  for (int s = 12; s < 22; s++) { feed(a, s, NULL, NULL); feed(b, s, NULL, NULL); }
  cr_assert_eq(pa->rollouts, 4);
  cr_assert(same(pa->actor, pb->actor) && same(pa->critic, pb->critic), "the networks differ after continuing");
  cr_assert(memcmp(pa->log_std, pb->log_std, sizeof(float) * AD) == 0);
  // the exported policy is the actor's mean, clipped, with the observation statistics
  af_policy pol;
  cr_assert_eq(af_agent_policy(a, &pol, err, sizeof err), AF_OK, "%s", err);
  cr_assert(pol.nlayers == 3 && pol.squash == 2 && pol.mean == pa->norm.fmean && pol.act_dim == AD && pol.layer[2].out == AD);
  // another shape, or another agent, refuses the file; a damaged rollout file leaves it empty
  af_agent *c = make("{\"hidden\": 32, \"minibatch\": 4, \"rollout\": 5}", OD, AD, 2, 2);
  cr_assert_eq(af_agent_load(c, "ckpt.bin", err, sizeof err), -1);
  cr_assert(strstr(err, "different network shape") != NULL, "%s", err);
  cr_assert_eq(ckpt_edit("rollout.bin", "rollout_done", 1, 0.5f), 0);
  cr_assert_eq(af_agent_load_replay(b, "rollout.bin", err, sizeof err), -1);
  cr_assert(strstr(err, "episode end flag of 0.5"), "%s", err);
  cr_assert_eq(pb->step, 0);
  cr_assert_eq(ckpt_edit("rollout.bin", "rollout_step", 0, 6), 0);
  cr_assert_eq(af_agent_load_replay(b, "rollout.bin", err, sizeof err), -1);
  cr_assert(strstr(err, "rollout step is not a count up to 5"), "%s", err);
  af_env_spec spec = {.obs_dim = OD, .act_dim = AD};
  af_agent *s = af_agent_make("sac", "{\"hidden\": 16, \"batch\": 4, \"buffer\": 10}", &(af_agent_setup){.spec = &spec, .num_envs = 2}, err, sizeof err);
  cr_assert(s, "%s", err);
  cr_assert_eq(af_agent_load(s, "ckpt.bin", err, sizeof err), -1);
  af_agent_free(a);
  af_agent_free(b);
  af_agent_free(c);
  af_agent_free(s);
  remove("ckpt.bin");
  remove("rollout.bin");
}

Test(ppo, a_seed_fixes_every_draw) {
  af_agent *a = make(SMALL, OD, AD, 2, 5), *b = make(SMALL, OD, AD, 2, 5), *c = make(SMALL, OD, AD, 2, 6);
  for (int s = 0; s < 11; s++) { feed(a, s, NULL, NULL); feed(b, s, NULL, NULL); feed(c, s, NULL, NULL); }
  af_ppo *pa = af_agent_impl(a), *pb = af_agent_impl(b), *pc = af_agent_impl(c);
  cr_assert(same(pa->actor, pb->actor) && same(pa->critic, pb->critic));
  cr_assert(!same(pa->actor, pc->actor) && !same(pa->critic, pc->critic));
  af_agent_free(a);
  af_agent_free(b);
  af_agent_free(c);
}

Test(ppo, bad_hyperparameters_are_named) {
  af_env_spec spec = {.obs_dim = 3, .act_dim = 1};
  af_agent_setup setup = {.spec = &spec, .num_envs = 4, .seed = 0};
  char err[256];
  cr_assert_null(af_agent_make("ppo", "{\"minibatch\": 100, \"rollout\": 16}", &setup, err, sizeof err));
  cr_assert(strstr(err, "agent.minibatch: 100 is more than the rollout's 64 transitions (rollout 16 x 4 environments)"), "%s", err);
  cr_assert_null(af_agent_make("ppo", "{\"ent_coeff\": 0.01}", &setup, err, sizeof err));
  cr_assert(strstr(err, "agent.ent_coeff: unknown ppo hyperparameter (did you mean 'ent_coef'?)"), "%s", err);
  cr_assert_null(af_agent_make("ppo", "{\"clip\": -0.1}", &setup, err, sizeof err));
  cr_assert(strstr(err, "agent.clip: -0.1 is out of range"), "%s", err);
  cr_assert_null(af_agent_make("ppo", "{\"activation\": \"elu\"}", &setup, err, sizeof err));
  cr_assert(strstr(err, "agent.activation"), "%s", err);
  cr_assert_null(af_agent_make("ppo", "{\"batch\": 64}", &setup, err, sizeof err));
  cr_assert(strstr(err, "agent.batch: unknown ppo hyperparameter"), "%s", err);
  // the default rollout: 2048 over the environments
  af_agent *a = af_agent_make("ppo", NULL, &setup, err, sizeof err);
  cr_assert(a, "%s", err);
  cr_assert_eq(((af_ppo *)af_agent_impl(a))->T, 512);
  af_agent_free(a);
}

// a checkpoint whose counters or observation statistics a file cannot hold is refused with a
// message naming them (the layout of SAC's and TD3's: nine packed words, RNG in words 5 to 8)
Test(ppo, crafted_checkpoints_are_refused) {
  af_agent *a = make("{\"hidden\": 8, \"minibatch\": 4, \"rollout\": 4}", 3, 1, 1, 1);
  char err[256];
  struct { size_t at; float v; const char *tensor, *want; } cases[] = {
    {0, 0.5f, "counters", "counters are not packed"},
    {19, 65535, "counters", "counters are not packed"},  // a rollout count beyond a long
    {0, -3, "obs_norm", "not packed doubles"},
  };
  for (int c = 0; c < 3; c++) {
    cr_assert_eq(af_agent_save(a, "crafted.bin", err, sizeof err), 0, "%s", err);
    cr_assert_eq(ckpt_edit("crafted.bin", cases[c].tensor, cases[c].at, cases[c].v), 0);
    cr_assert_eq(af_agent_load(a, "crafted.bin", err, sizeof err), -1, "case %d was loaded", c);
    cr_assert(strstr(err, cases[c].want), "case %d: '%s', expected '%s'", c, err, cases[c].want);
  }
  cr_assert_eq(af_agent_save(a, "crafted.bin", err, sizeof err), 0, "%s", err);
  for (size_t k = 20; k < 36; k++) cr_assert_eq(ckpt_edit("crafted.bin", "counters", k, 0), 0);
  cr_assert_eq(af_agent_load(a, "crafted.bin", err, sizeof err), -1);
  cr_assert(strstr(err, "random state is all zero"), "%s", err);
  cr_assert_eq(af_agent_save(a, "crafted.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_load(a, "crafted.bin", err, sizeof err), 0, "%s", err);
  remove("crafted.bin");
  af_agent_free(a);
}

// ---- learning, through the armfarm program ----
// the value of column `col` in the last line of a CSV
static double last_value(const char *path, int col) {
  FILE *f = fopen(path, "r");
  cr_assert(f, "%s missing", path);
  char line[1024], last[1024] = "";
  while (fgets(line, sizeof line, f)) strcpy(last, line);
  fclose(f);
  char *p = last;
  for (int i = 0; i < col; i++) p = strchr(p, ',') + 1;
  return atof(p);
}

Test(ppo, learns_the_pendulum_at_a_small_budget, .timeout = 300) {
  const char *bin = getenv("ARMFARM_BIN");
  cr_assert(bin, "ARMFARM_BIN must point at the armfarm program (ctest sets it)");
  char cmd[2048];
  // 8 environments, rollouts of 256 steps each, gamma 0.9, Adam 1e-3 annealed to 0 over
  // 100,000 steps, seed 0 (about 1 s on a quiet core). A random policy scores -1122 over 20
  // episodes, the untrained agent's deterministic policy -1153 at the evaluation seeds; seeds
  // 0-4 ended at -168, -141, -177, -79 and -134 when this was written
  snprintf(cmd, sizeof cmd,
           "%s train --env pendulum --agent ppo --steps 100000 --eval-every 50000 --eval-episodes 10 --seed 0 "
           "--set train.num_envs=8 --set agent.rollout=256 --set agent.gamma=0.9 --set agent.lr=0.001 "
           "--out run >out.txt 2>err.txt </dev/null",
           bin);
  int st = system(cmd);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "armfarm train failed (see err.txt)");
  double final = last_value("run/eval.csv", 1);
  cr_assert_gt(final, -400, "final deterministic evaluation %g, needs > -400", final);
}

// a run stopped mid-rollout (train.timeout_s) and resumed from its last checkpoint gives the
// uninterrupted run's curves: the rollout in progress is restored from the agent's replay file
Test(ppo, a_run_resumed_mid_rollout_has_the_same_curves, .timeout = 300) {
  const char *bin = getenv("ARMFARM_BIN");
  cr_assert(bin, "ARMFARM_BIN must point at the armfarm program (ctest sets it)");
  // checkpoints every 1,000 steps, never at a rollout's end (2,048 steps over 8 environments);
  // the whole run takes about 0.8 s, most of it checkpoints, so 0.25 s stops it after some
  const char *run = "train --env pendulum --agent ppo --steps 60000 --eval-every 5000 --eval-episodes 3 --checkpoint-every 1000 --seed 1 "
                    "--set train.num_envs=8 --set agent.rollout=256 --set agent.epochs=2";
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s %s --out full >/dev/null 2>&1 </dev/null", bin, run);
  cr_assert_eq(system(cmd), 0, "the uninterrupted run failed");
  snprintf(cmd, sizeof cmd, "%s %s --set train.timeout_s=0.25 --out cut >/dev/null 2>&1 </dev/null", bin, run);
  int st = system(cmd);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "the cut run should stop at its time limit");
  snprintf(cmd, sizeof cmd, "%s %s --out cut --resume >/dev/null 2>err.txt </dev/null", bin, run);
  cr_assert_eq(system(cmd), 0, "the resumed run failed (err.txt)");
  // the evaluations and episodes agree, the wall-time columns aside
  cr_assert_eq(system("cut -d, -f1-5 full/eval.csv >a && cut -d, -f1-5 cut/eval.csv >b && cmp -s a b"), 0, "eval.csv differs");
  cr_assert_eq(system("cut -d, -f1-9 full/progress.csv >a && cut -d, -f1-9 cut/progress.csv >b && cmp -s a b"), 0, "progress.csv differs");
  cr_assert_eq(system("grep -q 'resuming cut at step' err.txt"), 0, "the second run did not resume");
}
