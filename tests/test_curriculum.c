// The difficulty curriculum: its rule worked by hand, its checks, and the vectorized runner
// applying it: each quadruped episode is built at its level's difficulty (read back from the
// terrain the environment built), levels follow the rule, and nothing depends on the threads.
// Also the quadruped's terrains list: each episode is one of the listed kinds.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "base/rng.h"
#include "envs/curriculum.h"
#include "envs/env.h"
#include "envs/vecenv.h"

static af_env_spec quad_spec(void) {
  char err[256];
  af_env *e = af_env_make("quadruped", NULL, err, sizeof err);
  cr_assert(e, "%s", err);
  af_env_spec s = *af_env_get_spec(e);
  af_env_free(e);
  return s;
}

static af_curriculum configure(const char *json, char *err, size_t errsz, int *rc) {
  af_env_spec s = quad_spec();
  cJSON *j = cJSON_Parse(json);
  cr_assert(j, "bad test JSON %s", json);
  af_curriculum c;
  *rc = af_curriculum_configure(&c, j, &s, err, errsz);
  cJSON_Delete(j);
  return c;
}

Test(curriculum, the_rule_by_hand) {
  char err[256];
  int rc;
  af_curriculum c = configure("{\"levels\": 4, \"up\": 0.8, \"down\": 0.5}", err, sizeof err, &rc);
  cr_assert_eq(rc, 0, "%s", err);
  cr_assert_eq(c.metric_index, 0);  // progress is the quadruped's first metric
  // up at or above 0.8, down below 0.5, else stay; floors and NaN
  cr_assert_eq(af_curriculum_next(&c, 1, 0.8, 0), 2);
  cr_assert_eq(af_curriculum_next(&c, 1, 0.79, 0), 1);
  cr_assert_eq(af_curriculum_next(&c, 1, 0.5, 0), 1);
  cr_assert_eq(af_curriculum_next(&c, 1, 0.49, 0), 0);
  cr_assert_eq(af_curriculum_next(&c, 0, -3, 0), 0);
  cr_assert_eq(af_curriculum_next(&c, 2, NAN, 0), 1);
  // the top: resampled uniformly by the draw (draw % levels), or kept
  cr_assert_eq(af_curriculum_next(&c, 3, 1.0, 6), 2);
  cr_assert_eq(af_curriculum_next(&c, 3, 1.0, 4), 0);
  c.resample_top = 0;
  cr_assert_eq(af_curriculum_next(&c, 3, 1.0, 6), 3);
  // difficulties: evenly spaced from min to max
  cr_assert_float_eq(af_curriculum_difficulty(&c, 0), 0, 1e-12);
  cr_assert_float_eq(af_curriculum_difficulty(&c, 2), 2.0 / 3, 1e-12);
  c = configure("{\"levels\": 5, \"min_difficulty\": 0.2, \"max_difficulty\": 0.6}", err, sizeof err, &rc);
  cr_assert_eq(rc, 0, "%s", err);
  cr_assert_float_eq(af_curriculum_difficulty(&c, 1), 0.3, 1e-12);
  cr_assert_float_eq(af_curriculum_difficulty(&c, 4), 0.6, 1e-12);
}

Test(curriculum, bad_settings_get_one_line_each) {
  const char *bad[][2] = {
    {"{\"levels\": 1}", "curriculum.levels"},
    {"{\"levels\": 4, \"start\": 4}", "curriculum.start: 4 is not below levels"},
    {"{\"up\": 0.3, \"down\": 0.5}", "curriculum.down: 0.5 is above up"},
    {"{\"min_difficulty\": 0.7, \"max_difficulty\": 0.2}", "curriculum.min_difficulty"},
    {"{\"max_difficulty\": 1.5}", "curriculum.max_difficulty"},
    {"{\"metric\": \"speed\"}", "'speed' is not an episode metric of this environment (progress, distance, mean_speed, difficulty)"},
    {"{\"levles\": 4}", "did you mean 'levels'"},
    {"{\"up\": \"high\"}", "curriculum.up"},
    {"[1]", "curriculum: expected an object"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char err[256] = "";
    int rc;
    configure(bad[i][0], err, sizeof err, &rc);
    cr_assert_eq(rc, -1, "%s was accepted", bad[i][0]);
    cr_assert(strstr(err, bad[i][1]), "%s: '%s' lacks '%s'", bad[i][0], err, bad[i][1]);
    cr_assert(!strchr(err, '\n'), "%s", err);
  }
}

// N quadrupeds under random actions, every threshold at -1e9 so that every episode moves up:
// levels 0, 1, 2, 3, then draws; returns each environment's levels and read-back difficulties
#define N 3
#define MAXEP 64
typedef struct { int n[N], level[N][MAXEP]; double diff[N][MAXEP]; int final_level[N]; } trace;

static void run_curriculum(int threads, uint64_t seed, trace *tr) {
  char err[256];
  int rc;
  af_curriculum c = configure("{\"levels\": 4, \"up\": -1e9, \"down\": -1e9}", err, sizeof err, &rc);
  cr_assert_eq(rc, 0, "%s", err);
  af_vecenv *v = af_vecenv_make("quadruped", "{\"terrain\": \"stairs_up\"}", N, threads, err, sizeof err);
  cr_assert(v, "%s", err);
  int start[N] = {0, 0, 0};
  cr_assert_eq(af_vecenv_set_curriculum(v, &c, start), AF_OK);
  const af_env_spec *s = af_vecenv_spec(v);
  static float obs[N * 200], act[N * 12], rew[N];
  uint8_t te[N], trn[N];
  af_info info[N];
  cr_assert_eq(af_vecenv_reset(v, seed, obs), AF_OK);
  af_rng r;
  af_rng_seed(&r, 99);
  memset(tr, 0, sizeof *tr);
  for (int step = 0; step < 1500; step++) {
    for (int k = 0; k < N * s->act_dim; k++) act[k] = (float)af_rng_range(&r, -1, 1);
    cr_assert_eq(af_vecenv_step(v, act, obs, NULL, rew, te, trn, info), AF_OK, "%s", af_vecenv_last_error(v));
    for (int i = 0; i < N; i++)
      if ((te[i] || trn[i]) && tr->n[i] < MAXEP) tr->diff[i][tr->n[i]++] = info[i].episode.metrics[3];
  }
  af_vecenv_levels(v, tr->final_level);
  af_vecenv_free(v);
}

Test(curriculum, the_runner_builds_each_episode_at_its_level, .timeout = 120) {
  trace a, b;
  const uint64_t seed = 21;
  run_curriculum(1, seed, &a);
  run_curriculum(3, seed, &b);
  cr_assert(!memcmp(&a, &b, sizeof a), "the levels depend on the threads");
  for (int i = 0; i < N; i++) {
    cr_assert_geq(a.n[i], 6, "environment %d ended only %d episodes", i, a.n[i]);
    // the rule by hand: up each episode; from the top a draw from the run's seed (stream
    // 13, episode k + 1 of environment i)
    int level = 0;
    for (int k = 0; k < a.n[i]; k++) {
      cr_assert_float_eq(a.diff[i][k], level / 3.0, 1e-6, "env %d episode %d: difficulty %g at level %d", i, k, a.diff[i][k], level);
      uint64_t draw = af_seed_derive(af_seed_derive(seed, 13), (uint64_t)(k + 1) * N + (uint64_t)i);
      level = level < 3 ? level + 1 : (int)(draw % 4);
    }
    cr_assert_eq(a.final_level[i], level);
  }
}

Test(curriculum, an_environment_without_levels_is_refused) {
  char err[256];
  int rc;
  af_curriculum c = configure("{}", err, sizeof err, &rc);
  cr_assert_eq(rc, 0, "%s", err);
  af_vecenv *v = af_vecenv_make("pendulum", NULL, 2, 1, err, sizeof err);
  cr_assert(v, "%s", err);
  int lv[2] = {0, 0};
  cr_assert_eq(af_vecenv_set_curriculum(v, &c, lv), AF_ERR_ARG);  // its metric is no pendulum metric
  c.metric_index = -1;
  cr_assert_eq(af_vecenv_set_curriculum(v, &c, lv), AF_ERR_ARG);
  af_vecenv_free(v);
  v = af_vecenv_make("quadruped", NULL, 2, 1, err, sizeof err);
  cr_assert(v, "%s", err);
  c = configure("{\"levels\": 3}", err, sizeof err, &rc);
  int high[2] = {0, 3};
  cr_assert_eq(af_vecenv_set_curriculum(v, &c, high), AF_ERR_ARG);
  cr_assert_eq(af_vecenv_set_curriculum(v, NULL, NULL), AF_OK);
  int out[2];
  af_vecenv_levels(v, out);
  cr_assert(out[0] == -1 && out[1] == -1);
  af_vecenv_free(v);
}

// the returns of 40 steps of one episode under fixed actions
static double episode_return(const char *cfg, uint64_t seed) {
  char err[256];
  af_env *e = af_env_make("quadruped", cfg, err, sizeof err);
  cr_assert(e, "%s", err);
  float obs[200], act[12], r;
  int te = 0, tr = 0;
  cr_assert_eq(af_env_reset(e, seed, obs), AF_OK);
  double ret = 0;
  for (int t = 0; t < 40 && !te && !tr; t++) {
    for (int k = 0; k < 12; k++) act[k] = (float)(0.6 * sin(0.3 * t + k));
    cr_assert_eq(af_env_step(e, act, obs, &r, &te, &tr, NULL), AF_OK);
    ret += r;
  }
  af_env_free(e);
  return ret;
}

Test(curriculum, a_terrains_list_draws_one_listed_kind_per_episode, .timeout = 120) {
  // one kind in the list is that kind, draw for draw; two kinds: each episode is exactly one
  // of them, and both occur over 16 seeds
  int flat = 0, rough = 0;
  for (uint64_t seed = 0; seed < 16; seed++) {
    double one = episode_return("{\"terrains\": \"rough\"}", seed), ref_rough = episode_return("{\"terrain\": \"rough\"}", seed);
    cr_assert_eq(one, ref_rough, "seed %llu: a list of one kind differs from that kind", (unsigned long long)seed);
    double mix = episode_return("{\"terrains\": \"flat,rough\"}", seed), ref_flat = episode_return("{\"terrain\": \"flat\"}", seed);
    cr_assert_neq(ref_flat, ref_rough, "seed %llu: rough ground made no difference", (unsigned long long)seed);
    cr_assert(mix == ref_flat || mix == ref_rough, "seed %llu: the episode is neither kind", (unsigned long long)seed);
    flat += mix == ref_flat;
    rough += mix == ref_rough;
  }
  cr_assert(flat >= 2 && rough >= 2, "flat %d, rough %d of 16", flat, rough);
  // bad lists
  const char *bad[] = {"{\"terrains\": \"stairs\"}", "{\"terrains\": \"flat,\"}", "{\"terrains\": \",flat\"}"};
  for (int i = 0; i < 3; i++) {
    char err[256] = "";
    cr_assert_null(af_env_make("quadruped", bad[i], err, sizeof err), "%s was accepted", bad[i]);
    cr_assert(strstr(err, "terrains"), "%s: %s", bad[i], err);
  }
}
