// Puck pushing: the scripted controller proves the task, its physics and its success test;
// rewards are checked against values recomputed by hand from the observation.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "envs/env_impl.h"
#include "tests/env_test.h"

static af_env *make(const char *cfg) { return test_env("puck_push", cfg); }

Test(puck_push, scripted_controller_succeeds_with_randomization_on) {
  af_env *e = make(NULL);
  cr_assert(e->dr.enabled && e->dr.group_on[AF_DR_PHYSICS] && e->dr.group_on[AF_DR_ACTUATION]);
  int wins = 0;
  for (int ep = 0; ep < 20; ep++) {
    af_info info = scripted_episode(e, af_seed_derive(2024, (uint64_t)ep));
    cr_assert_eq(info.episode.diverged, 0);
    wins += info.episode.success > 0;
  }
  cr_assert_geq(wins, 18, "scripted pusher: %d/20 successes, need at least 90%%", wins);
  af_env_free(e);
}

Test(puck_push, zero_and_random_policies_do_not_succeed) {
  // the success test is not trivially true: doing nothing never counts as success
  af_env *e = make(NULL);
  float obs[64], a[4] = {0, 0, 0, 0}, r;
  int te = 0, tr = 0;
  af_info info;
  for (int ep = 0; ep < 5; ep++) {
    af_env_reset(e, (uint64_t)ep, obs);
    double d0 = hypot(obs[13] - obs[15], obs[14] - obs[16]);
    cr_assert_geq(d0, 0.1 - 1e-6, "goal starts at least min_goal_dist away");
    te = tr = 0;
    while (!te && !tr) af_env_step(e, a, obs, &r, &te, &tr, &info);
    cr_assert_eq(info.episode.success, 0);
  }
  af_env_free(e);
}

Test(puck_push, dense_reward_matches_hand_computation) {
  af_env *e = make("{\"action_cost\": 0.2}");
  float obs[64], a[4] = {0.3f, -0.7f, 0.1f, 0.5f}, r;
  int te, tr;
  af_env_reset(e, 4, obs);
  for (int t = 0; t < 5; t++) {
    af_env_step(e, a, obs, &r, &te, &tr, NULL);
    // -d(puck, goal) - 0.5 d(hand, puck) - 0.2 |a|^2, from the observation alone
    double dg = hypot(obs[7] - obs[15], obs[8] - obs[16]);
    double dh = sqrt(pow(obs[0] - obs[7], 2) + pow(obs[1] - obs[8], 2) + pow(obs[2] - obs[9], 2));
    double a2 = 0.09 + 0.49 + 0.01 + 0.25;
    cr_assert_float_eq(r, -dg - 0.5 * dh - 0.2 * a2, 1e-5, "step %d: reward %g", t, r);
    // relabelling: r - R(ag, g) + R(ag, g') is the reward the same transition has for g'
    float g2[2] = {obs[13] + 0.01f, obs[14]};
    float rel = r - af_env_compute_reward(e, obs + 13, obs + 15) + af_env_compute_reward(e, obs + 13, g2);
    cr_assert_float_eq(rel, -0.01 - 0.5 * dh - 0.2 * a2, 1e-5);
  }
  af_env_free(e);
}

Test(puck_push, sparse_reward_is_compute_reward_and_success) {
  af_env *e = make("{\"reward\": \"sparse\"}");
  float obs[64], a[16], r;
  int te = 0, tr = 0, saw_success = 0;
  af_info info;
  af_env_reset(e, 8, obs);
  while (!te && !tr) {
    af_env_scripted_action(e, a);
    af_env_step(e, a, obs, &r, &te, &tr, &info);
    cr_assert_eq(r, af_env_compute_reward(e, obs + 13, obs + 15));
    cr_assert_eq(r, info.success ? 0.0f : -1.0f);
    // success is the puck within 5 cm of the goal, by hand
    cr_assert_eq(info.success, hypot(obs[13] - obs[15], obs[14] - obs[16]) < 0.05);
    saw_success |= info.success;
  }
  cr_assert(saw_success);
  // compute_reward by hand: 4.9 cm is a success, 5.1 cm is not
  float g[2] = {0.5f, 0.1f}, in[2] = {0.5f, 0.149f}, out[2] = {0.5f, 0.151f};
  cr_assert_eq(af_env_compute_reward(e, in, g), 0.0f);
  cr_assert_eq(af_env_compute_reward(e, out, g), -1.0f);
  af_env_free(e);
}

Test(puck_push, observation_layout) {
  af_env *e = make(NULL);
  float obs[64];
  af_env_reset(e, 6, obs);
  const af_env_spec *s = af_env_get_spec(e);
  cr_assert_eq(s->obs_dim, 17);
  cr_assert_eq(s->act_dim, 4);
  cr_assert_eq(s->goal_dim, 2);
  // puck on the table at its drawn position, at rest; achieved goal = puck xy
  cr_assert_float_eq(obs[7], af_dr_value(&e->dr, "puck_x", 0, 0), 1e-6);
  cr_assert_float_eq(obs[8], af_dr_value(&e->dr, "puck_y", 0, 0), 1e-6);
  cr_assert_float_eq(obs[9], 0.02, 1e-4);
  cr_assert_eq(obs[13], obs[7]);
  cr_assert_eq(obs[14], obs[8]);
  for (int k = 10; k < 13; k++) cr_assert_float_eq(obs[k], 0, 1e-9);
  af_env_free(e);
}

Test(puck_push, sliding_puck_stops_after_the_coulomb_distance) {
  // a puck sliding at v0 on friction mu stops after v0^2 / (2 mu g); MuJoCo takes the larger
  // friction of the two geoms, so the puck's friction (0.4 x scale) above the table's rules
  const double v0 = 0.6, g = 9.81;
  const double scales[2] = {1.5, 2.5};
  for (int k = 0; k < 2; k++) {
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"randomize\": {\"actuation\": false, \"puck_mass\": [1, 1], \"puck_size\": [1, 1], "
             "\"table_friction\": [1, 1], \"puck_friction\": [%g, %g]}}", scales[k], scales[k]);
    af_env *e = make(cfg);
    float obs[64], r, a[4] = {0, 0, 0, -1};
    int te, tr;
    af_env_reset(e, 1, obs);
    int j = mj_name2id(e->m, mjOBJ_JOINT, "puck"), gid = mj_name2id(e->m, mjOBJ_GEOM, "puck");
    double mu = e->m->geom_friction[3 * gid];
    cr_assert_float_eq(mu, 0.4 * scales[k], 1e-12);
    // slide along +x, away from the hand
    e->d->qvel[e->m->jnt_dofadr[j]] = v0;
    double x0 = e->d->qpos[e->m->jnt_qposadr[j]];
    for (int t = 0; t < 10; t++) af_env_step(e, a, obs, &r, &te, &tr, NULL);
    double moved = e->d->qpos[e->m->jnt_qposadr[j]] - x0, want = v0 * v0 / (2 * mu * g);
    cr_assert_float_eq(moved, want, 0.05 * want, "mu %g: slid %g m, Coulomb says %g m", mu, moved, want);
    cr_assert_float_eq(obs[10], 0, 1e-3, "the puck has stopped");
    af_env_free(e);
  }
}

Test(puck_push, success_examples_are_settled_successes) {
  af_env *e = make(NULL);
  const int K = 12, n = 17;
  float ex[12 * 17];
  cr_assert_eq(af_env_success_examples(e, 5, K, ex), AF_OK, "%s", af_env_last_error(e));
  for (int k = 0; k < K; k++) {
    const float *o = ex + k * n;
    // the success test by hand: puck within 5 cm of the goal, at rest on the table
    cr_assert_lt(hypot(o[13] - o[15], o[14] - o[16]), 0.05, "example %d", k);
    cr_assert_float_eq(o[9], 0.02, 2e-3);
    for (int j = 10; j < 13; j++) cr_assert_lt(fabs(o[j]), 0.01, "example %d at rest", k);
    // examples differ from each other
    if (k > 0) cr_assert(memcmp(o, o - n, sizeof(float) * n) != 0);
  }
  // reproducibility and the reset that follows: tests/test_env.c, for every environment
  af_env_free(e);
}
