// The vectorized runner: identical to stepping the same environments one by one (across
// episode boundaries and automatic resets), with one or two worker threads.
#include <criterion/criterion.h>
#include <string.h>

#include "envs/env.h"
#include "base/rng.h"
#include "envs/vecenv.h"

#define N 5
#define STEPS 70  // crosses the 30-step horizon twice: automatic resets happen

static void actions_at(int t, float *a, int n, int na) {
  af_rng r;
  af_rng_seed(&r, 1000 + (uint64_t)t);
  for (int i = 0; i < n * na; i++) a[i] = (float)af_rng_range(&r, -1, 1);
}

static void check_equal_to_sequential(const char *name, int threads) {
  char err[512] = "";
  // a short horizon so that every environment crosses episode boundaries
  const char *cfg = "{\"horizon\": 30}";
  af_vecenv *v = af_vecenv_make(name, cfg, N, threads, err, sizeof err);
  cr_assert(v, "%s", err);
  const af_env_spec *s = af_vecenv_spec(v);
  int od = s->obs_dim, na = s->act_dim;
  // reference: N separate environments stepped in a plain loop, reset with the same seeds
  af_env *ref[N];
  long episode[N];
  float *obs = calloc((size_t)N * od, sizeof(float)), *fin = calloc((size_t)N * od, sizeof(float));
  float *robs = calloc((size_t)N * od, sizeof(float)), *act = calloc((size_t)N * na, sizeof(float));
  float rew[N];
  uint8_t te[N], tr[N];
  af_info info[N];
  for (int i = 0; i < N; i++) {
    ref[i] = af_env_make(name, cfg, err, sizeof err);
    cr_assert(ref[i], "%s", err);
    af_env_reset(ref[i], af_vecenv_seed(77, N, i, 0), robs + i * od);
    episode[i] = 1;
  }
  cr_assert_eq(af_vecenv_reset(v, 77, obs), AF_OK);
  cr_assert(memcmp(obs, robs, sizeof(float) * N * od) == 0);
  int resets = 0;
  for (int t = 0; t < STEPS; t++) {
    actions_at(t, act, N, na);
    cr_assert_eq(af_vecenv_step(v, act, obs, fin, rew, te, tr, info), AF_OK);
    for (int i = 0; i < N; i++) {
      float r;
      int rte, rtr;
      af_info ri;
      af_env_step(ref[i], act + i * na, robs + i * od, &r, &rte, &rtr, &ri);
      cr_assert_eq(r, rew[i], "%s env %d step %d: reward differs", name, i, t);
      cr_assert_eq(rte, te[i]);
      cr_assert_eq(rtr, tr[i]);
      cr_assert_eq(ri.success, info[i].success);
      if (rte || rtr) {
        // the final observation is the reference's last, obs the next episode's first
        cr_assert(memcmp(fin + i * od, robs + i * od, sizeof(float) * od) == 0);
        cr_assert_eq(ri.episode.ret, info[i].episode.ret);
        af_env_reset(ref[i], af_vecenv_seed(77, N, i, episode[i]++), robs + i * od);
        resets++;
      }
      cr_assert(memcmp(obs + i * od, robs + i * od, sizeof(float) * od) == 0, "%s env %d step %d: obs differs", name, i, t);
    }
  }
  cr_assert_geq(resets, N, "the test must cross episode boundaries");
  // a NaN in the last environment's action ends its episode as diverged, counted, and starts
  // its next one; the others step exactly as their references do
  actions_at(0, act, N, na);
  act[N * na - 1] = NAN;
  long div0 = af_env_diverged_count(af_vecenv_env(v, N - 1));
  cr_assert_eq(af_vecenv_step(v, act, obs, fin, rew, te, tr, info), AF_OK);
  cr_assert(tr[N - 1] && !te[N - 1] && info[N - 1].diverged && info[N - 1].episode.n == 1 && rew[N - 1] == 0);
  cr_assert_eq(af_env_diverged_count(af_vecenv_env(v, N - 1)), div0 + 1);
  af_env_reset(ref[N - 1], af_vecenv_seed(77, N, N - 1, episode[N - 1]++), robs + (N - 1) * od);
  cr_assert(memcmp(obs + (N - 1) * od, robs + (N - 1) * od, sizeof(float) * od) == 0, "the next episode did not start");
  for (int i = 0; i < N - 1; i++) {
    int rt, rtr;
    float rr;
    if (af_env_step(ref[i], act + i * na, robs + i * od, &rr, &rt, &rtr, NULL) == AF_OK && (rt || rtr))
      af_env_reset(ref[i], af_vecenv_seed(77, N, i, episode[i]++), robs + i * od);
    cr_assert(memcmp(obs + i * od, robs + i * od, sizeof(float) * od) == 0, "%s env %d: a NaN elsewhere changed it", name, i);
  }
  for (int i = 0; i < N; i++) af_env_free(ref[i]);
  free(obs); free(fin); free(robs); free(act);
  af_vecenv_free(v);
}

Test(vecenv, equals_sequential_one_thread) {
  for (int i = 0; i < af_env_count(); i++) check_equal_to_sequential(af_env_name(i), 1);
}

Test(vecenv, equals_sequential_two_threads) {
  for (int i = 0; i < af_env_count(); i++) check_equal_to_sequential(af_env_name(i), 2);
}

Test(vecenv, more_threads_than_envs_and_bad_sizes) {
  char err[256];
  af_vecenv *v = af_vecenv_make("puck_push", NULL, 2, 8, err, sizeof err);
  cr_assert(v, "%s", err);
  af_vecenv_free(v);
  cr_assert_null(af_vecenv_make("puck_push", NULL, 0, 1, err, sizeof err));
  cr_assert(strstr(err, "number of environments 0") != NULL);
  cr_assert_null(af_vecenv_make("nope", NULL, 2, 1, err, sizeof err));
  cr_assert(strstr(err, "unknown environment 'nope'") != NULL);
}

Test(vecenv, episode_seeds_are_distinct) {
  // no two (env, episode) pairs of a run share a seed, and runs differ
  uint64_t seen[64];
  int n = 0;
  for (int i = 0; i < 8; i++)
    for (long ep = 0; ep < 8; ep++) {
      uint64_t s = af_vecenv_seed(5, 8, i, ep);
      for (int k = 0; k < n; k++) cr_assert_neq(seen[k], s);
      seen[n++] = s;
    }
  cr_assert_neq(af_vecenv_seed(5, 8, 0, 0), af_vecenv_seed(6, 8, 0, 0));
}
