// QT-Opt: the cross-entropy loss and its gradient against an independent double-precision
// computation (central differences); Bellman targets worked by hand (a terminal reward of 1
// gives 1, the clipped double Q takes the smaller target, at the CEM's argmax of target 1);
// the acting CEM's own population (act_samples) leaves the Bellman targets alone; the batch
// mix of dataset and fresh data; a checkpoint and a replay file restore an agent
// that continues bit for bit; bad hyperparameters are named; and it learns a contextual
// bandit with a sparse 0/1 reward from its own experience.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agents/dataset.h"
#include "agents/qtopt.h"
#include "tests/ref_conv.h"
#include "tests/ref_nn.h"

enum { OD = 3, AD = 2, H = 8, B = 5, QD = OD + AD };
static const int qsz[4] = {QD, H, H, 1};

static af_env_spec spec = {.name = "toy", .obs_dim = OD, .act_dim = AD};

static af_agent *make(const char *json, int N, uint64_t seed) {
  char err[256];
  af_agent *a = af_agent_make("qtopt", json, &(af_agent_setup){.spec = &spec, .num_envs = N, .seed = seed}, err, sizeof err);
  cr_assert(a, "%s", err);
  return a;
}

// mean cross-entropy of sigmoid(Q(s, a)) against y, in double precision
static double ref_params[4096], ref_in[B * QD], ref_y[B];
static double ref_loss(void) {
  double z[B], L = 0;
  ref_mlp(z, ref_params, ref_in, B, 3, qsz, AF_ACT_RELU, AF_ACT_NONE);
  for (int b = 0; b < B; b++) {
    double p = 1 / (1 + exp(-z[b]));
    L -= (ref_y[b] * log(p) + (1 - ref_y[b]) * log(1 - p)) / B;
  }
  return L;
}

// the analytic gradient g (n parameters) against central differences of loss() in p, within
// tol of the difference's size plus tol / 1000
static void grad_matches(const float *g, double *p, int n, double (*loss)(void), double tol, const char *what) {
  const double h = 1e-6;
  for (int i = 0; i < n; i++) {
    double keep = p[i];
    p[i] = keep + h;
    double lp = loss();
    p[i] = keep - h;
    double lm = loss();
    p[i] = keep;
    double fd = (lp - lm) / (2 * h);
    cr_assert(fabs(g[i] - fd) <= tol * fabs(fd) + tol * 1e-3, "%s %d: analytic %.7g, finite difference %.7g", what, i, g[i], fd);
  }
}
static void gradient_matches(const float *g, int np, double (*loss)(void)) { grad_matches(g, ref_params, np, loss, 2e-3, "param"); }

Test(qtopt, cross_entropy_gradient_matches_finite_differences) {
  af_agent *ag = make("{\"batch\": 5, \"hidden\": 8, \"buffer\": 16}", 1, 3);
  af_qtopt *t = af_agent_impl(ag);
  af_rng rng;
  af_rng_seed(&rng, 11);
  // larger weights than the initialization, so that some logits are far from 0
  float *p = af_mlp_params(t->q);
  const int np = af_mlp_nparams(t->q);
  for (int i = 0; i < np; i++) p[i] = (float)af_rng_range(&rng, -1.2, 1.2);
  float obs[B * OD], act[B * AD], y[B] = {0, 1, 0.3f, 0.9f, 0.05f};
  for (int i = 0; i < B * OD; i++) obs[i] = (float)af_rng_range(&rng, -1, 1);
  for (int i = 0; i < B * AD; i++) act[i] = (float)af_rng_range(&rng, -1, 1);
  float loss = af_qtopt_loss_grads(t, obs, act, y);
  for (int i = 0; i < np; i++) ref_params[i] = p[i];
  for (int b = 0; b < B; b++) {
    for (int k = 0; k < OD; k++) ref_in[b * QD + k] = obs[b * OD + k];
    for (int k = 0; k < AD; k++) ref_in[b * QD + OD + k] = act[b * AD + k];
    ref_y[b] = y[b];
  }
  double L = ref_loss();
  cr_assert(fabs(loss - L) < 1e-5 * (1 + L), "loss %g, reference %g", loss, L);
  gradient_matches(af_mlp_grads(t->q), np, ref_loss);
  af_agent_free(ag);
}

// the same with the untried actions' term: w mean_bj -log(1 - sigmoid(Q(s_b, u_bj)))
enum { KC = 3 };
static double ref_cin[B * KC * QD], ref_w;
static double ref_ood_loss(void) {
  double zr[B * KC];
  ref_mlp(zr, ref_params, ref_cin, B * KC, 3, qsz, AF_ACT_RELU, AF_ACT_NONE);
  double L = ref_loss();
  for (int i = 0; i < B * KC; i++) L -= ref_w * log(1 - 1 / (1 + exp(-zr[i]))) / (B * KC);
  return L;
}

Test(qtopt, untried_actions_term_gradient_matches_finite_differences) {
  af_agent *ag = make("{\"batch\": 5, \"hidden\": 8, \"buffer\": 16, \"ood_weight\": 0.7, \"ood_samples\": 3}", 1, 3);
  af_qtopt *t = af_agent_impl(ag);
  cr_assert_eq(t->K, KC);
  af_rng rng;
  af_rng_seed(&rng, 12);
  float *p = af_mlp_params(t->q);
  const int np = af_mlp_nparams(t->q);
  for (int i = 0; i < np; i++) p[i] = (float)af_rng_range(&rng, -1.2, 1.2);
  float obs[B * OD], act[B * AD], y[B] = {1, 0, 0.6f, 0.2f, 1};
  for (int i = 0; i < B * OD; i++) obs[i] = (float)af_rng_range(&rng, -1, 1);
  for (int i = 0; i < B * AD; i++) act[i] = (float)af_rng_range(&rng, -1, 1);
  for (int i = 0; i < B * KC * AD; i++) t->ood_act[i] = (float)af_rng_range(&rng, -1, 1);
  float loss = af_qtopt_loss_grads(t, obs, act, y);
  for (int i = 0; i < np; i++) ref_params[i] = p[i];
  for (int b = 0; b < B; b++) {
    for (int k = 0; k < OD; k++) ref_in[b * QD + k] = obs[b * OD + k];
    for (int k = 0; k < AD; k++) ref_in[b * QD + OD + k] = act[b * AD + k];
    for (int j = 0; j < KC; j++) {
      for (int k = 0; k < OD; k++) ref_cin[(b * KC + j) * QD + k] = obs[b * OD + k];
      for (int k = 0; k < AD; k++) ref_cin[(b * KC + j) * QD + OD + k] = t->ood_act[(b * KC + j) * AD + k];
    }
    ref_y[b] = y[b];
  }
  ref_w = 0.7;
  double L = ref_ood_loss(), L0 = ref_loss();
  cr_assert(fabs(loss - L) < 1e-5 * (1 + fabs(L)), "loss %g, reference %g", loss, L);
  cr_assert(L - L0 > 1e-2, "the term adds to the loss: %g against %g", L, L0);
  gradient_matches(af_mlp_grads(t->q), np, ref_ood_loss);
  af_agent_free(ag);
}

// a network whose logit is the constant c: every weight 0, the output bias c
static void constant_net(af_mlp *net, float c) {
  float *p = af_mlp_params(net);
  memset(p, 0, sizeof(float) * af_mlp_nparams(net));
  p[af_mlp_nparams(net) - 1] = c;
}
static float logit(double p) { return (float)log(p / (1 - p)); }

Test(qtopt, bellman_targets_worked_by_hand) {
  af_agent *ag = make("{\"batch\": 5, \"hidden\": 8, \"buffer\": 16, \"gamma\": 0.9}", 1, 3);
  af_qtopt *t = af_agent_impl(ag);
  float next[B * OD] = {0}, y[B], astar[B * AD];
  // rows: terminal success; non-terminal 0; non-terminal 0; non-terminal reward 1 (clipped
  // at 1); terminal failure
  const float rew[B] = {1, 0, 0, 1, 0}, done[B] = {1, 0, 0, 0, 1};
  // target 1 says 0.8, target 2 says 0.3: the smaller, 0.3, is bootstrapped
  constant_net(t->q1t, logit(0.8));
  constant_net(t->q2t, logit(0.3));
  cr_assert_eq(af_qtopt_targets(t, rew, next, done, y, astar), AF_OK);
  const float want[B] = {1, 0.9f * 0.3f, 0.9f * 0.3f, 1, 0};
  for (int b = 0; b < B; b++) cr_assert(fabs(y[b] - want[b]) < 1e-6, "row %d: %g, by hand %g", b, y[b], want[b]);
  // the other way round: still the smaller
  constant_net(t->q1t, logit(0.2));
  constant_net(t->q2t, logit(0.7));
  cr_assert_eq(af_qtopt_targets(t, rew, next, done, y, astar), AF_OK);
  cr_assert(fabs(y[1] - 0.9f * 0.2f) < 1e-6, "%g", y[1]);
  // target 1 depending on the action: logit = 3 a0 - 2 a1 through one ReLU unit (inputs
  // [obs, a], hidden unit 0 = relu(3 a0 - 2 a1 + 4), output = h0 - 4); its maximum over the
  // box is at a = (1, -1), logit 5; target 2 constant 0.9999, so the target is 0.9 sigmoid(Q1'(a*))
  float *p = af_mlp_params(t->q1t);
  memset(p, 0, sizeof(float) * af_mlp_nparams(t->q1t));
  p[(OD + 0) * H + 0] = 3;     // W1[a0][0]
  p[(OD + 1) * H + 0] = -2;    // W1[a1][0]
  p[QD * H + 0] = 4;           // b1[0]
  int off2 = QD * H + H;       // layer 2: W2 (H, H), b2
  p[off2 + 0] = 1;             // W2[0][0]: h2_0 = h1_0
  int off3 = off2 + H * H + H; // layer 3: W3 (H, 1), b3
  p[off3 + 0] = 1;
  p[off3 + H] = -4;
  constant_net(t->q2t, logit(0.9999));
  cr_assert_eq(af_qtopt_targets(t, rew, next, done, y, astar), AF_OK);
  for (int b = 0; b < B; b++) {
    double z = 3 * astar[b * AD] - 2 * astar[b * AD + 1];  // the logit at a*
    cr_assert(z > 4.0, "row %d: the CEM's a* (%g, %g) is far from the maximum", b, astar[b * AD], astar[b * AD + 1]);
    if (done[b] == 0 && rew[b] == 0) cr_assert(fabs(y[b] - 0.9 / (1 + exp(-z))) < 1e-5, "row %d: %g", b, y[b]);
  }
  af_agent_free(ag);
}

// act_samples / act_elites change the acting CEM only: 0 is cem_samples' own population (the
// same actions bit for bit as setting it), a larger one picks other actions, and the Bellman
// targets of the same network do not move
Test(qtopt, the_acting_population_is_its_own_and_leaves_the_targets_alone) {
  const char *cfg[3] = {"{\"batch\": 5, \"hidden\": 8}", "{\"batch\": 5, \"hidden\": 8, \"act_samples\": 64, \"act_elites\": 6}",
                        "{\"batch\": 5, \"hidden\": 8, \"act_samples\": 256, \"act_elites\": 24}"};
  af_agent *ag[3];
  float act[3][4 * AD], y[3][B], astar[3][B * AD];
  float obs[4 * OD], next[B * OD];
  const float rew[B] = {0, 0, 1, 0, 0}, done[B] = {0, 0, 1, 0, 0};
  af_rng rng;
  af_rng_seed(&rng, 77);
  for (int i = 0; i < 4 * OD; i++) obs[i] = (float)af_rng_range(&rng, -1, 1);
  for (int i = 0; i < B * OD; i++) next[i] = (float)af_rng_range(&rng, -1, 1);
  for (int k = 0; k < 3; k++) {
    ag[k] = make(cfg[k], 1, 5);
    af_qtopt *t = af_agent_impl(ag[k]);
    cr_assert_eq(t->SA, k == 2 ? 256 : 64);
    for (int s = 0; s < 4; s++) cr_assert_eq(af_agent_act(ag[k], act[k] + s * AD, obs + s * OD, 1, 1), AF_OK);
    cr_assert_eq(af_qtopt_targets(t, rew, next, done, y[k], astar[k]), AF_OK);
  }
  cr_assert(memcmp(act[0], act[1], sizeof act[0]) == 0, "act_samples 0 and 64 chose different actions");
  cr_assert(memcmp(act[0], act[2], sizeof act[0]) != 0, "256 acting samples chose the very actions of 64");
  for (int k = 1; k < 3; k++) {
    cr_assert(memcmp(y[0], y[k], sizeof y[0]) == 0, "config %d: the Bellman targets moved", k);
    cr_assert(memcmp(astar[0], astar[k], sizeof astar[0]) == 0, "config %d: the targets' a* moved", k);
  }
  for (int k = 0; k < 3; k++) af_agent_free(ag[k]);
}

// act on N observations; reward 1 where both action entries are within 0.35 of goal row i
// (stride gs), the episode ending there; unless deterministic, observe and update. The hits
static int bandit_round(af_agent *a, const float *obs, const float *goal, int gs, int N, int deterministic) {
  float act[8 * AD], rew[8];
  uint8_t te[8], tr[8] = {0};
  af_info info[8] = {{0}};
  cr_assert_eq(af_agent_act(a, act, obs, N, deterministic), AF_OK, "%s", af_agent_last_error(a));
  int hits = 0;
  for (int i = 0; i < N; i++) {
    rew[i] = fabsf(act[i * AD] - goal[i * gs]) < 0.35f && fabsf(act[i * AD + 1] - goal[i * gs + 1]) < 0.35f;
    hits += rew[i] > 0;
    te[i] = 1;
    info[i].success = rew[i] > 0;
  }
  if (deterministic) return hits;
  af_batch b = {.n = N, .obs = obs, .act = act, .reward = rew, .next_obs = obs, .terminated = te, .truncated = tr, .info = info};
  cr_assert_eq(af_agent_observe(a, &b), AF_OK, "%s", af_agent_last_error(a));
  af_agent_stats st;
  cr_assert_eq(af_agent_update(a, &st), AF_OK, "%s", af_agent_last_error(a));
  return hits;
}

// one step of a contextual bandit for N environments: obs uniform in [-1, 1]^3, reward 1
// when the action's two entries are within 0.35 of obs[0] and obs[1], then the episode ends
static int bandit_step(af_agent *a, af_rng *rng, int N, int deterministic) {
  float obs[8 * OD];
  for (int i = 0; i < N * OD; i++) obs[i] = (float)af_rng_range(rng, -1, 1);
  return bandit_round(a, obs, obs, OD, N, deterministic);
}

Test(qtopt, learns_a_sparse_contextual_bandit) {
  af_agent *a = make("{\"batch\": 64, \"hidden\": 64, \"lr\": 0.003, \"warmup\": 500, \"buffer\": 20000, \"epsilon\": 0.2}", 4, 1);
  af_rng rng;
  af_rng_seed(&rng, 2);
  for (int s = 0; s < 1500; s++) bandit_step(a, &rng, 4, 0);
  // random actions hit 0.35^2 = 12% of the time; the greedy CEM policy far more
  int hits = 0;
  for (int s = 0; s < 200; s++) hits += bandit_step(a, &rng, 1, 1);
  cr_assert(hits >= 120, "greedy success %d of 200 (random: about 24)", hits);
  af_agent_free(a);
}

static void continue_bit_for_bit(const char *cfg) {
  af_agent *a = make(cfg, 2, 5), *b = make(cfg, 2, 99);
  af_rng r1, r2;
  af_rng_seed(&r1, 4);
  for (int s = 0; s < 30; s++) bandit_step(a, &r1, 2, 0);
  char err[256];
  cr_assert_eq(af_agent_save(a, "q.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_save_replay(a, "q.replay", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_load(b, "q.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_load_replay(b, "q.replay", err, sizeof err), 0, "%s", err);
  r2 = r1;
  for (int s = 0; s < 10; s++) { bandit_step(a, &r1, 2, 0); bandit_step(b, &r2, 2, 0); }
  af_qtopt *x = af_agent_impl(a), *y = af_agent_impl(b);
  af_mlp *nx[3] = {x->q, x->q1t, x->q2t}, *ny[3] = {y->q, y->q1t, y->q2t};
  for (int k = 0; k < 3; k++) cr_assert(memcmp(af_mlp_params(nx[k]), af_mlp_params(ny[k]), sizeof(float) * af_mlp_nparams(nx[k])) == 0, "network %d differs", k);
  cr_assert_eq(x->iterations, y->iterations);
  cr_assert(x->iterations > 0);
  // the two targets differ once target 2 has lagged behind
  cr_assert(memcmp(af_mlp_params(x->q1t), af_mlp_params(x->q2t), sizeof(float) * af_mlp_nparams(x->q1t)) != 0);
  if (x->cfg.norm.obs_norm) {
    cr_assert_eq(x->norm.count, y->norm.count);
    cr_assert(memcmp(x->norm.fmean, y->norm.fmean, sizeof(float) * OD) == 0 && memcmp(x->norm.fstd, y->norm.fstd, sizeof(float) * OD) == 0);
  }
  // a checkpoint of another size is refused with its reason
  af_agent *c = make("{\"batch\": 8, \"hidden\": 17}", 2, 5);
  cr_assert_eq(af_agent_load(c, "q.bin", err, sizeof err), -1);
  cr_assert(strstr(err, "q.bin"), "%s", err);
  af_agent_free(a);
  af_agent_free(b);
  af_agent_free(c);
  remove("q.bin");
  remove("q.replay");
}

Test(qtopt, checkpoint_and_replay_continue_bit_for_bit) {
  continue_bit_for_bit("{\"batch\": 8, \"hidden\": 16, \"buffer\": 100, \"warmup\": 10, \"target2_period\": 3}");
  continue_bit_for_bit("{\"batch\": 8, \"hidden\": 16, \"buffer\": 100, \"warmup\": 10, \"target2_period\": 3, \"obs_norm\": true}");
  continue_bit_for_bit("{\"batch\": 8, \"hidden\": 16, \"buffer\": 100, \"warmup\": 10, \"ood_weight\": 0.5, \"ood_samples\": 4}");
}

// a dataset of `rows` transitions of the toy task: row s observes row(s), rewards `reward(s)`
// and ends an episode where `ends(s)` (next_obs = obs, actions 0)
typedef struct { float o[OD], r; uint8_t end; } toy_row;
static void write_toy_dataset(const char *path, int rows, toy_row (*row)(int s)) {
  char err[256];
  af_dataset_writer *w = af_dataset_open(path, "toy", OD, AD, NULL, 1, 4, 0, err, sizeof err);
  cr_assert(w, "%s", err);
  for (int s = 0; s < rows; s++) {
    toy_row x = row(s);
    float a[AD] = {0};
    uint8_t tr = 0;
    af_info info = {0};
    af_batch bt = {.n = 1, .obs = x.o, .act = a, .reward = &x.r, .next_obs = x.o, .terminated = &x.end, .truncated = &tr, .info = &info};
    cr_assert_eq(af_dataset_add(w, &bt, NULL, err, sizeof err), 0, "%s", err);
  }
  cr_assert_eq(af_dataset_close(w, err, sizeof err), 0, "%s", err);
}

// the agent observes the fresh transition x (next_obs = obs, action 0) `times` times
static void observe_fresh(af_agent *ag, toy_row x, int times) {
  float a[AD] = {0};
  uint8_t tr = 0;
  af_info info = {0};
  af_batch bt = {.n = 1, .obs = x.o, .act = a, .reward = &x.r, .next_obs = x.o, .terminated = &x.end, .truncated = &tr, .info = &info};
  for (int s = 0; s < times; s++) cr_assert_eq(af_agent_observe(ag, &bt), AF_OK);
}

// the observation statistics start from the dataset's rows (mean and std worked by hand),
// take in fresh rows only when fresh data is learned from
// entry 0 alternates -5 and -3 (mean -4, std 1); entry 1 counts 0..39 (mean 19.5, variance
// (40^2 - 1) / 12); entry 2 is constant (std floored at eps 0.01)
static toy_row norm_row(int s) { return (toy_row){{s % 2 ? -3.0f : -5.0f, (float)s, 2}, 0, s % 4 == 3}; }

Test(qtopt, observation_statistics_start_from_the_dataset) {
  write_toy_dataset("norm.afds", 40, norm_row);
  const double fr[2] = {0.5, 1.0};
  for (int c = 0; c < 2; c++) {
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"batch\": 16, \"hidden\": 8, \"buffer\": 100, \"warmup\": 0, \"dataset\": \"norm.afds\", \"offline_fraction\": %g, \"obs_norm\": true}", fr[c]);
    af_agent *ag = make(cfg, 1, 1);
    af_qtopt *t = af_agent_impl(ag);
    cr_assert_eq(t->norm.count, 40);
    cr_assert_float_eq(t->norm.fmean[0], -4.0f, 1e-6f);
    cr_assert_float_eq(t->norm.fstd[0], 1.0f, 1e-6f);
    cr_assert_float_eq(t->norm.fmean[1], 19.5f, 1e-5f);
    cr_assert_float_eq(t->norm.fstd[1], (float)sqrt((40.0 * 40.0 - 1) / 12), 1e-5f);
    cr_assert_float_eq(t->norm.fstd[2], 0.01f, 1e-8f);
    // ten fresh rows of +5: folded in only when fresh data is learned from
    observe_fresh(ag, (toy_row){{5, 0, 2}, 0, 1}, 10);
    double want_n = fr[c] >= 1 ? 40 : 50, want_mean = fr[c] >= 1 ? -4 : (40 * -4.0 + 10 * 5.0) / 50;
    cr_assert_eq(t->norm.count, want_n);
    cr_assert_float_eq(t->norm.fmean[0], (float)want_mean, 1e-5f);
    af_agent_free(ag);
  }
  remove("norm.afds");
}

// a dataset whose observations are all -5 (fresh ones will be +5)
static toy_row mix_row(int s) { return (toy_row){{-5, 0, 0}, 0, s % 4 == 3}; }

Test(qtopt, batches_mix_dataset_and_fresh_data_in_the_configured_ratio) {
  write_toy_dataset("mix.afds", 40, mix_row);
  const double fr[3] = {0.5, 0.25, 1.0};
  for (int c = 0; c < 3; c++) {
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"batch\": 16, \"hidden\": 8, \"buffer\": 100, \"dataset\": \"mix.afds\", \"offline_fraction\": %g}", fr[c]);
    af_agent *ag = make(cfg, 1, 1);
    af_qtopt *t = af_agent_impl(ag);
    cr_assert_eq(t->data.size, 40);
    // before any fresh data: the whole batch from the dataset
    cr_assert_eq(af_qtopt_sample(t, 0), 16);
    observe_fresh(ag, (toy_row){{5, 0, 0}, 0, 1}, 10);
    // offline only: fresh data is not even stored
    cr_assert_eq(t->replay.size, fr[c] >= 1 ? 0 : 10);
    for (int rep = 0; rep < 5; rep++) {
      int nd = af_qtopt_sample(t, 0), want = (int)(16 * fr[c] + 0.5);
      cr_assert_eq(nd, want, "fraction %g: %d rows from the dataset", fr[c], nd);
      for (int b = 0; b < 16; b++) cr_assert(t->obs[b * OD] == (b < nd ? -5.0f : 5.0f), "row %d", b);
    }
    af_agent_free(ag);
  }
  remove("mix.afds");
}

// the pretraining reports through the setup's progress hook, a tenth at a time
static int progress_lines;
static char progress_last[160];
static void on_progress(void *ctx, const char *line) {
  (*(int *)ctx)++;
  snprintf(progress_last, sizeof progress_last, "%s", line);
}

static toy_row prog_row(int s) { return (toy_row){{(float)s, 0, 0}, (float)(s % 3 == 2), s % 3 == 2}; }

Test(qtopt, pretraining_reports_its_progress) {
  char err[256];
  write_toy_dataset("prog.afds", 12, prog_row);
  af_agent_setup su = {.spec = &spec, .num_envs = 1, .seed = 3, .progress = on_progress, .progress_ctx = &progress_lines};
  af_agent *ag = af_agent_make("qtopt", "{\"batch\": 4, \"hidden\": 8, \"warmup\": 0, \"dataset\": \"prog.afds\", \"pretrain_updates\": 25}", &su, err, sizeof err);
  cr_assert(ag, "%s", err);
  observe_fresh(ag, (toy_row){{0}, 0, 0}, 1);
  af_agent_stats st;
  cr_assert_eq(af_agent_update(ag, &st), AF_OK);
  // 25 updates in chunks of 2 (a tenth, rounded down): 13 lines, the last at 25/25
  cr_assert_eq(progress_lines, 13);
  cr_assert(strstr(progress_last, "pretraining 25/25 updates"), "%s", progress_last);
  cr_assert_eq(((af_qtopt *)af_agent_impl(ag))->iterations, 25 + 1);
  af_agent_free(ag);
  remove("prog.afds");
}

Test(qtopt, bad_hyperparameters_are_named) {
  struct { const char *cfg, *want; } cases[] = {
    {"{\"cem_elites\": 65}", "agent.cem_elites: 65 is more than cem_samples (64)"},
    {"{\"act_elites\": 65}", "agent.act_elites: 65 is more than the acting samples (64)"},
    {"{\"act_samples\": 256, \"act_elites\": 300}", "agent.act_elites: 300 is more than the acting samples (256)"},
    {"{\"act_samples\": 1}", "agent.act_samples: 1 (0 means cem_samples"},
    {"{\"act_samples\": 5000}", "agent.act_samples"},
    {"{\"gamma\": 1.5}", "agent.gamma"},
    {"{\"cem_iters\": 0}", "agent.cem_iters"},
    {"{\"epsilon\": -0.1}", "agent.epsilon"},
    {"{\"cem_sampels\": 8}", "did you mean 'cem_samples'"},
    {"{\"dataset\": \"no_such.afds\"}", "no_such.afds: cannot read"},
    {"{\"batch\": 4096, \"cem_samples\": 4096}", "agent.cem_samples"},
    {"{\"ood_samples\": 0}", "agent.ood_samples"},
    {"{\"ood_weight\": -1}", "agent.ood_weight"},
    {"{\"batch\": 4096, \"ood_weight\": 1, \"ood_samples\": 256}", "agent.ood_samples: batch 4096 x (1 + 256) rows is more than 2^20"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char err[256] = "";
    af_agent *a = af_agent_make("qtopt", cases[k].cfg, &(af_agent_setup){.spec = &spec, .num_envs = 1, .seed = 0}, err, sizeof err);
    cr_assert(!a, "%s was accepted", cases[k].cfg);
    cr_assert(strstr(err, cases[k].want), "%s: '%s', expected '%s'", cases[k].cfg, err, cases[k].want);
  }
}

// ---- from images ----
// one 8x8 RGB frame after 2 state entries; a tiny encoder (one 3x3 stride-2 convolution of 2
// channels, 3 features), Q (3 + 2 + 2) -> 6 -> 6 -> 1, 3 untried actions a state
enum { PS = 2, PH = 8, PW = 8, PX = 3 * PH * PW, POD = PS + PX, PF = 3, PQD = PF + PS + AD, PB = 4, PK = 3 };
static af_env_spec pspec = {.name = "toy", .obs_dim = POD, .act_dim = AD, .pixel_stack = 1, .pixel_offset = PS, .pixel_width = PW, .pixel_height = PH};
static const int pqsz[4] = {PQD, 6, 6, 1};
static af_conv_layer pls[4];
static int pnl;
static double pref_enc[512], pref_q[512], pref_x[PB * PX], pref_prop[PB * PS], pref_act[PB * AD], pref_ood[PB * PK * AD], pref_y[PB];
static const double PW_OOD = 0.6;

// the loss in double precision: features by the reference encoder, rows by hand, Q by ref_mlp
static double pref_loss(void) {
  double f[PB * PX], rin[PB * (1 + PK) * PQD], z[PB * (1 + PK)];
  cr_assert_eq(ref_conv_net(f, pref_enc, pref_x, PB, pls, pnl, 3, PH, PW), PF);
  for (int b = 0; b < PB; b++)
    for (int j = 0; j <= PK; j++) {
      double *r = rin + (j == 0 ? b : PB + b * PK + j - 1) * PQD;
      for (int i = 0; i < PF; i++) r[i] = f[b * PF + i];
      for (int i = 0; i < PS; i++) r[PF + i] = pref_prop[b * PS + i];
      for (int i = 0; i < AD; i++) r[PF + PS + i] = j == 0 ? pref_act[b * AD + i] : pref_ood[(b * PK + j - 1) * AD + i];
    }
  ref_mlp(z, pref_q, rin, PB * (1 + PK), 3, pqsz, AF_ACT_RELU, AF_ACT_NONE);
  double L = 0;
  for (int b = 0; b < PB; b++) {
    double pb = 1 / (1 + exp(-z[b]));
    L -= (pref_y[b] * log(pb) + (1 - pref_y[b]) * log(1 - pb)) / PB;
  }
  for (int i = PB; i < PB * (1 + PK); i++) L += PW_OOD * log1p(exp(z[i])) / (PB * PK);
  return L;
}

Test(qtopt, the_loss_from_images_and_its_gradient_through_the_encoder_match_finite_differences) {
  char err[256];
  af_agent *ag = af_agent_make("qtopt", "{\"batch\": 4, \"hidden\": 6, \"buffer\": 16, \"filters\": 2, \"conv_layers\": 1, \"features\": 3, "
                               "\"ood_weight\": 0.6, \"ood_samples\": 3}",
                               &(af_agent_setup){.spec = &pspec, .num_envs = 1, .seed = 4}, err, sizeof err);
  cr_assert(ag, "%s", err);
  af_qtopt *t = af_agent_impl(ag);
  cr_assert(t->pix && t->sd == PF + PS && t->qd == PQD && t->K == PK);
  pnl = af_conv_encoder_layers(pls, 2, 1, 3);
  af_rng rng;
  af_rng_seed(&rng, 21);
  // Q's weights larger than the initialization, so that logits spread
  float *qp = af_mlp_params(t->q), *ep = af_conv_params(t->enc);
  const int nq = af_mlp_nparams(t->q), ne = af_conv_nparams(t->enc);
  cr_assert(nq <= 512 && ne <= 512);
  for (int i = 0; i < nq; i++) qp[i] = (float)af_rng_range(&rng, -1, 1);
  float x[PB * PX], prop[PB * PS], act[PB * AD], y[PB] = {1, 0, 0.4f, 0.8f};
  for (int i = 0; i < PB * PX; i++) x[i] = (float)af_rng_uniform(&rng);
  for (int i = 0; i < PB * PS; i++) prop[i] = (float)af_rng_range(&rng, -1, 1);
  for (int i = 0; i < PB * AD; i++) act[i] = (float)af_rng_range(&rng, -1, 1);
  for (int i = 0; i < PB * PK * AD; i++) t->ood_act[i] = (float)af_rng_range(&rng, -1, 1);
  float loss = af_qtopt_frames_loss_grads(t, x, prop, act, y);
  for (int i = 0; i < nq; i++) pref_q[i] = qp[i];
  for (int i = 0; i < ne; i++) pref_enc[i] = ep[i];
  for (int i = 0; i < PB * PX; i++) pref_x[i] = x[i];
  for (int i = 0; i < PB * PS; i++) pref_prop[i] = prop[i];
  for (int i = 0; i < PB * AD; i++) pref_act[i] = act[i];
  for (int i = 0; i < PB * PK * AD; i++) pref_ood[i] = t->ood_act[i];
  for (int b = 0; b < PB; b++) pref_y[b] = y[b];
  double L = pref_loss();
  cr_assert(fabs(loss - L) < 1e-5 * (1 + fabs(L)), "loss %g, reference %g", loss, L);
  // every parameter of Q and of the encoder (the untried actions' rows feed the encoder too)
  grad_matches(af_mlp_grads(t->q), pref_q, nq, pref_loss, 3e-3, "Q parameter");
  grad_matches(af_conv_grads(t->enc), pref_enc, ne, pref_loss, 3e-3, "encoder parameter");
  af_agent_free(ag);
}

// an image bandit: a 12x12 frame whose red and green levels say where the reward is (no state
// entries); reward 1 when the action is within 0.35 of ((r - 127.5) / 127.5, (g - 127.5) / 127.5)
enum { IH = 12, IX = 3 * IH * IH };
static af_env_spec ispec = {.name = "toy", .obs_dim = IX, .act_dim = AD, .pixel_stack = 1, .pixel_offset = 0, .pixel_width = IH, .pixel_height = IH};

static int image_bandit_step(af_agent *a, af_rng *rng, int N, int deterministic) {
  static float obs[4 * IX];
  float goal[4 * AD];
  for (int i = 0; i < N; i++) {
    for (int k = 0; k < AD; k++) goal[i * AD + k] = (float)af_rng_range(rng, -1, 1);
    for (int c = 0; c < 3; c++)
      for (int p = 0; p < IH * IH; p++)
        obs[i * IX + c * IH * IH + p] = c < 2 ? roundf(127.5f + 127.5f * goal[i * AD + c]) : 60;
  }
  return bandit_round(a, obs, goal, AD, N, deterministic);
}

Test(qtopt, learns_an_image_bandit_through_the_encoder) {
  char err[256];
  af_agent *a = af_agent_make("qtopt", "{\"batch\": 64, \"hidden\": 64, \"lr\": 0.003, \"warmup\": 500, \"buffer\": 20000, \"epsilon\": 0.2, "
                              "\"filters\": 8, \"conv_layers\": 2, \"features\": 16, \"shift_pad\": 0}",
                              &(af_agent_setup){.spec = &ispec, .num_envs = 4, .seed = 1}, err, sizeof err);
  cr_assert(a, "%s", err);
  af_rng rng;
  af_rng_seed(&rng, 2);
  for (int s = 0; s < 1500; s++) image_bandit_step(a, &rng, 4, 0);
  int hits = 0;
  for (int s = 0; s < 200; s++) hits += image_bandit_step(a, &rng, 1, 1);
  cr_assert(hits >= 170, "greedy success %d of 200 (random: about 24)", hits);
  af_agent_free(a);
}

// from images, a checkpoint (encoder and its copies, Adam moments) and the image replay carry
// a run on bit for bit
Test(qtopt, from_images_checkpoint_and_replay_continue_bit_for_bit) {
  char err[256];
  const char *cfg = "{\"batch\": 8, \"hidden\": 16, \"buffer\": 100, \"warmup\": 10, \"target2_period\": 3, \"filters\": 4, "
                    "\"conv_layers\": 2, \"features\": 8, \"shift_pad\": 2, \"ood_weight\": 0.5, \"ood_samples\": 2}";
  af_agent *a = af_agent_make("qtopt", cfg, &(af_agent_setup){.spec = &ispec, .num_envs = 2, .seed = 5}, err, sizeof err);
  af_agent *b = af_agent_make("qtopt", cfg, &(af_agent_setup){.spec = &ispec, .num_envs = 2, .seed = 99}, err, sizeof err);
  cr_assert(a && b, "%s", err);
  af_rng r1, r2;
  af_rng_seed(&r1, 4);
  for (int s = 0; s < 30; s++) image_bandit_step(a, &r1, 2, 0);
  cr_assert_eq(af_agent_save(a, "qi.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_save_replay(a, "qi.replay", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_load(b, "qi.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_load_replay(b, "qi.replay", err, sizeof err), 0, "%s", err);
  r2 = r1;
  for (int s = 0; s < 10; s++) { image_bandit_step(a, &r1, 2, 0); image_bandit_step(b, &r2, 2, 0); }
  af_qtopt *x = af_agent_impl(a), *y = af_agent_impl(b);
  cr_assert(x->iterations > 0 && x->iterations == y->iterations);
  af_mlp *nx[3] = {x->q, x->q1t, x->q2t}, *ny[3] = {y->q, y->q1t, y->q2t};
  for (int k = 0; k < 3; k++) cr_assert(memcmp(af_mlp_params(nx[k]), af_mlp_params(ny[k]), sizeof(float) * af_mlp_nparams(nx[k])) == 0, "network %d differs", k);
  af_conv *ex[3] = {x->enc, x->enc1t, x->enc2t}, *ey[3] = {y->enc, y->enc1t, y->enc2t};
  for (int k = 0; k < 3; k++) cr_assert(memcmp(af_conv_params(ex[k]), af_conv_params(ey[k]), sizeof(float) * af_conv_nparams(ex[k])) == 0, "encoder %d differs", k);
  // the encoder learned, and its lagged copies lag
  cr_assert(memcmp(af_conv_params(x->enc), af_conv_params(x->enc1t), sizeof(float) * af_conv_nparams(x->enc)) != 0);
  cr_assert(memcmp(af_conv_params(x->enc1t), af_conv_params(x->enc2t), sizeof(float) * af_conv_nparams(x->enc)) != 0);
  // a state agent's checkpoint is refused by an image agent, with the file named
  af_agent *c = make("{\"batch\": 8, \"hidden\": 16}", 2, 5);
  cr_assert_eq(af_agent_save(c, "qs.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_load(b, "qs.bin", err, sizeof err), -1);
  cr_assert(strstr(err, "qs.bin"), "%s", err);
  af_agent_free(a);
  af_agent_free(b);
  af_agent_free(c);
  remove("qi.bin");
  remove("qi.replay");
  remove("qs.bin");
}
