// The environment API contract, checked for every registered environment: spec sanity,
// determinism, refused non-finite actions, clipping, truncation at the horizon, blow-up
// handling, config errors.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <stdio.h>   // fopen: a crafted model
#include <stdlib.h>  // setenv, mkdtemp
#include <unistd.h>  // rmdir

#include "envs/env_impl.h"
#include "base/rng.h"

#define MAXD 512

static af_env *make(const char *name, const char *cfg) {
  char err[512] = "";
  af_env *e = af_env_make(name, cfg, err, sizeof err);
  cr_assert(e, "af_env_make(%s, %s): %s", name, cfg ? cfg : "NULL", err);
  return e;
}

// run `steps` steps of random actions from `seed`; obs and rewards appended to the buffers
static int rollout(af_env *e, uint64_t seed, int steps, float *obs_log, float *rew_log) {
  const af_env_spec *s = af_env_get_spec(e);
  float obs[MAXD], a[16], r;
  int term, trunc, n = 0;
  af_rng rng;
  af_rng_seed(&rng, seed ^ 0x5eed);
  af_env_reset(e, seed, obs);
  memcpy(obs_log, obs, sizeof(float) * s->obs_dim);
  for (int t = 0; t < steps; t++) {
    for (int k = 0; k < s->act_dim; k++) a[k] = (float)af_rng_range(&rng, -1, 1);
    cr_assert_eq(af_env_step(e, a, obs, &r, &term, &trunc, NULL), AF_OK);
    memcpy(obs_log + (size_t)(t + 1) * s->obs_dim, obs, sizeof(float) * s->obs_dim);
    rew_log[t] = r;
    n++;
    if (term || trunc) break;
  }
  return n;
}

Test(env, registry_lists_environments) {
  cr_assert_geq(af_env_count(), 1);
  int found = 0;
  for (int i = 0; i < af_env_count(); i++) found |= strcmp(af_env_name(i), "puck_push") == 0;
  cr_assert(found, "puck_push is registered");
  cr_assert_null(af_env_name(af_env_count()));
}

Test(env, spec_sanity) {
  for (int i = 0; i < af_env_count(); i++) {
    af_env *e = make(af_env_name(i), NULL);
    const af_env_spec *s = af_env_get_spec(e);
    cr_assert_str_eq(s->name, af_env_name(i));
    cr_assert(s->obs_dim > 0 && s->obs_dim <= MAXD, "%s obs_dim %d", s->name, s->obs_dim);
    cr_assert(s->act_dim > 0 && s->act_dim <= 16, "%s act_dim %d", s->name, s->act_dim);
    cr_assert(s->horizon > 0 && s->control_hz > 0 && s->frame_skip >= 1);
    // the frame skip realizes the control rate exactly
    cr_assert_float_eq(s->frame_skip * s->timestep * s->control_hz, 1.0, 1e-9);
    cr_assert(s->success && *s->success && s->reward && *s->reward);
    if (s->goal_dim > 0) {
      cr_assert(s->achieved_offset >= 0 && s->achieved_offset + s->goal_dim <= s->obs_dim);
      cr_assert(s->desired_offset >= 0 && s->desired_offset + s->goal_dim <= s->obs_dim);
    }
    // every observation is finite after reset and after a step
    float obs[MAXD], a[16] = {0}, r;
    int te, tr;
    af_env_reset(e, 1, obs);
    for (int k = 0; k < s->obs_dim; k++) cr_assert(isfinite(obs[k]), "%s obs[%d] after reset", s->name, k);
    af_env_step(e, a, obs, &r, &te, &tr, NULL);
    for (int k = 0; k < s->obs_dim; k++) cr_assert(isfinite(obs[k]), "%s obs[%d] after step", s->name, k);
    cr_assert(isfinite(r));
    af_env_free(e);
  }
}

Test(env, same_seed_is_bitwise_identical_and_seeds_differ) {
  for (int i = 0; i < af_env_count(); i++) {
    af_env *e1 = make(af_env_name(i), NULL), *e2 = make(af_env_name(i), NULL);
    const af_env_spec *s = af_env_get_spec(e1);
    int H = s->horizon < 40 ? s->horizon : 40;
    float *o1 = calloc((size_t)(H + 1) * s->obs_dim, sizeof(float)), *o2 = calloc((size_t)(H + 1) * s->obs_dim, sizeof(float));
    float r1[64], r2[64];
    // two environments, and the first one again after other episodes in between
    int n1 = rollout(e1, 42, H, o1, r1);
    int n2 = rollout(e2, 42, H, o2, r2);
    cr_assert_eq(n1, n2);
    cr_assert(memcmp(o1, o2, sizeof(float) * (size_t)(n1 + 1) * s->obs_dim) == 0, "%s: same seed, different observations", s->name);
    cr_assert(memcmp(r1, r2, sizeof(float) * (size_t)n1) == 0, "%s: same seed, different rewards", s->name);
    rollout(e1, 7, H, o2, r2);
    rollout(e1, 42, H, o2, r2);
    cr_assert(memcmp(o1, o2, sizeof(float) * (size_t)(n1 + 1) * s->obs_dim) == 0, "%s: reset does not restore everything", s->name);
    // a different seed gives a different first observation
    rollout(e2, 43, H, o2, r2);
    cr_assert(memcmp(o1, o2, sizeof(float) * s->obs_dim) != 0, "%s: seeds 42 and 43 start identically", s->name);
    free(o1);
    free(o2);
    af_env_free(e1);
    af_env_free(e2);
  }
}

Test(env, non_finite_action_is_refused_and_changes_nothing) {
  for (int i = 0; i < af_env_count(); i++) {
    af_env *e = make(af_env_name(i), NULL);
    const af_env_spec *s = af_env_get_spec(e);
    float obs[MAXD], obs2[MAXD], a[16] = {0}, r = 123;
    int te = 5, tr = 5;
    af_env_reset(e, 3, obs);
    mjtNum *qpos = malloc(sizeof(mjtNum) * e->m->nq);
    mju_copy(qpos, e->d->qpos, e->m->nq);
    double time = e->d->time;
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int b = 0; b < 3; b++) {
      a[s->act_dim - 1] = bad[b];
      cr_assert_eq(af_env_step(e, a, obs2, &r, &te, &tr, NULL), AF_ERR_ARG, "%s: bad action accepted", s->name);
      cr_assert(strstr(af_env_last_error(e), "action[") != NULL, "message: %s", af_env_last_error(e));
    }
    // nothing moved, no output written
    cr_assert_eq(e->d->time, time);
    cr_assert(memcmp(qpos, e->d->qpos, sizeof(mjtNum) * e->m->nq) == 0);
    cr_assert_eq(r, 123);
    cr_assert_eq(te, 5);
    // and the episode goes on normally with a finite action
    a[s->act_dim - 1] = 0;
    cr_assert_eq(af_env_step(e, a, obs2, &r, &te, &tr, NULL), AF_OK);
    free(qpos);
    af_env_free(e);
  }
}

Test(env, out_of_range_actions_are_clipped) {
  for (int i = 0; i < af_env_count(); i++) {
    af_env *e1 = make(af_env_name(i), "{\"randomize\": false}"), *e2 = make(af_env_name(i), "{\"randomize\": false}");
    const af_env_spec *s = af_env_get_spec(e1);
    float o1[MAXD], o2[MAXD], a1[16], a2[16], r1, r2;
    int te, tr;
    af_env_reset(e1, 9, o1);
    af_env_reset(e2, 9, o2);
    for (int k = 0; k < s->act_dim; k++) { a1[k] = (k % 2) ? 7.5f : -3.0f; a2[k] = (k % 2) ? 1.0f : -1.0f; }
    for (int t = 0; t < 5; t++) {
      af_env_step(e1, a1, o1, &r1, &te, &tr, NULL);
      af_env_step(e2, a2, o2, &r2, &te, &tr, NULL);
    }
    // physics identical; only the action-cost part of the reward may see the raw values
    cr_assert(memcmp(o1, o2, sizeof(float) * s->obs_dim) == 0, "%s: clipping differs from the bound", s->name);
    af_env_free(e1);
    af_env_free(e2);
  }
}

Test(env, truncation_at_horizon_and_step_after_end_refused) {
  for (int i = 0; i < af_env_count(); i++) {
    af_env *e = make(af_env_name(i), "{\"horizon\": 7}");
    const af_env_spec *s = af_env_get_spec(e);
    cr_assert_eq(s->horizon, 7);
    float obs[MAXD], a[16] = {0}, r;
    int te = 0, tr = 0;
    af_info info;
    cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, &info), AF_ERR_STATE, "step before reset must be refused");
    af_env_reset(e, 1, obs);
    double sum = 0;
    for (int t = 1; t <= 7; t++) {
      cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, &info), AF_OK);
      sum += r;
      cr_assert_eq(te, 0);
      cr_assert_eq(tr, t == 7, "%s: truncated=%d at step %d", s->name, tr, t);
      cr_assert_eq(info.episode.n, t == 7 ? 1.0f : 0.0f);
    }
    cr_assert_float_eq(info.episode.length, 7, 0);
    cr_assert_float_eq(info.episode.ret, sum, 1e-4);
    cr_assert_eq(info.episode.success, (float)info.success);
    cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, &info), AF_ERR_STATE);
    af_env_free(e);
  }
}

Test(env, blow_up_ends_episode_and_is_counted) {
  for (int i = 0; i < af_env_count(); i++) {
    af_env *e = make(af_env_name(i), NULL);
    const af_env_spec *s = af_env_get_spec(e);
    float obs[MAXD], a[16] = {0}, r;
    int te, tr;
    af_info info;
    for (int rep = 1; rep <= 2; rep++) {
      af_env_reset(e, 5, obs);
      af_env_step(e, a, obs, &r, &te, &tr, &info);
      // poison the state as a diverging simulation would
      if (rep == 1) e->d->qvel[0] = NAN;
      else e->d->qpos[0] = NAN;
      cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, &info), AF_OK);
      cr_assert_eq(info.diverged, 1, "%s: blow-up not detected", s->name);
      cr_assert_eq(tr, 1);
      cr_assert_eq(info.episode.diverged, 1.0f);
      cr_assert_eq(af_env_diverged_count(e), rep);
      for (int k = 0; k < s->obs_dim; k++) cr_assert(isfinite(obs[k]), "obs after blow-up must be finite");
      cr_assert(strstr(af_env_last_error(e), "diverged") != NULL);
      cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, &info), AF_ERR_STATE);
    }
    // a fresh reset runs normally again
    af_env_reset(e, 5, obs);
    cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, &info), AF_OK);
    cr_assert_eq(info.diverged, 0);
    af_env_free(e);
  }
}

Test(env, mujoco_error_inside_step_is_a_blow_up) {
  af_env *e = make("puck_push", NULL);
  float obs[MAXD], a[16] = {0}, r;
  int te, tr;
  af_info info;
  af_env_reset(e, 1, obs);
  // an impossible stack request makes MuJoCo raise mju_error inside mj_step
  e->d->pstack = e->d->nstack;
  cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, &info), AF_OK);
  cr_assert_eq(info.diverged, 1);
  cr_assert(strstr(af_env_last_error(e), "mujoco error") != NULL, "message: %s", af_env_last_error(e));
  af_env_reset(e, 1, obs);
  cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, &info), AF_OK);
  cr_assert_eq(info.diverged, 0);
  af_env_free(e);
}

// expect make to fail with a message containing `needle`
static void make_fails(const char *name, const char *cfg, const char *needle) {
  char err[512] = "";
  af_env *e = af_env_make(name, cfg, err, sizeof err);
  cr_assert_null(e, "%s %s should fail", name, cfg);
  cr_assert(strstr(err, needle) != NULL, "error '%s' lacks '%s'", err, needle);
  cr_assert(strchr(err, '\n') == NULL, "one line: '%s'", err);
}

Test(env, bad_names_and_configs_are_named_in_the_error) {
  make_fails("no_such_env", NULL, "unknown environment 'no_such_env'");
  make_fails("puck_push", "{\"rewrad\": \"sparse\"}", "did you mean 'reward'");
  make_fails("puck_push", "{\"reward\": \"medium\"}", "reward: expected one of dense|sparse");
  make_fails("puck_push", "{\"horizon\": -3}", "horizon: -3 is out of range");
  make_fails("puck_push", "{\"horizon\": 2.5}", "horizon: expected a whole number");
  make_fails("puck_push", "{\"control_hz\": 7}", "control_hz 7 is not a whole number");
  make_fails("puck_push", "{\"horizon\": ", "not valid JSON");
  make_fails("puck_push", "[1, 2]", "must be a JSON object");
  make_fails("puck_push", "{\"randomize\": {\"puck_mas\": [1, 2]}}", "did you mean 'puck_mass'");
  make_fails("puck_push", "{\"randomize\": {\"puck_mass\": [2, 1]}}", "lo is greater than hi");
  make_fails("puck_push", "{\"randomize\": {\"puck_mass\": [0, 1]}}", "log-uniform range must be positive");
  make_fails("puck_push", "{\"randomize\": {\"act_delay\": [0, 1.5]}}", "whole number of steps");
  make_fails("puck_push", "{\"randomize\": {\"physics\": 1}}", "randomize.physics: expected true or false");
}

Test(env, missing_asset_is_a_clear_error) {
  setenv("ARMFARM_ASSETS", "/nonexistent/assets", 1);
  char err[512] = "";
  af_env *e = af_env_make("puck_push", NULL, err, sizeof err);
  unsetenv("ARMFARM_ASSETS");
  cr_assert_null(e);
  cr_assert(strstr(err, "missing asset /nonexistent/assets/puck_push.xml") != NULL, "%s", err);
}

Test(env, control_rate_and_horizon_are_configurable) {
  af_env *e = make("puck_push", "{\"control_hz\": 20, \"horizon\": 30}");
  const af_env_spec *s = af_env_get_spec(e);
  cr_assert_eq(s->frame_skip, 25);  // 1 / (20 Hz * 0.002 s)
  cr_assert_eq(s->horizon, 30);
  float obs[MAXD], a[16] = {0}, r;
  int te, tr;
  af_env_reset(e, 0, obs);
  af_env_step(e, a, obs, &r, &te, &tr, NULL);
  cr_assert_float_eq(e->d->time, 0.05, 1e-12);
  af_env_free(e);
}

Test(env, resolved_config_makes_the_same_environment) {
  // what a run saves as its config.json must be accepted back, and mean the same thing
  for (int i = 0; i < af_env_count(); i++) {
    af_env *a = make(af_env_name(i), NULL);
    char err[512];
    af_env *b = af_env_make(af_env_name(i), af_env_config_json(a), err, sizeof err);
    cr_assert(b, "%s: its own resolved config is refused: %s", af_env_name(i), err);
    cr_assert_str_eq(af_env_config_json(a), af_env_config_json(b));
    float o1[512], o2[512];
    af_env_reset(a, 5, o1);
    af_env_reset(b, 5, o2);
    cr_assert(memcmp(o1, o2, sizeof(float) * af_env_get_spec(a)->obs_dim) == 0);
    af_env_free(a);
    af_env_free(b);
  }
}

Test(env, success_examples_are_reproducible_and_end_the_episode) {
  // every environment with a solver: the same seed gives the same examples, another seed
  // others, and a step afterwards needs a reset; the others say they have none
  for (int i = 0; i < af_env_count(); i++) {
    af_env *e = make(af_env_name(i), NULL);
    const int n = af_env_get_spec(e)->obs_dim, K = 3;
    float *a1 = calloc((size_t)(K * n), sizeof(float)), *a2 = calloc((size_t)(K * n), sizeof(float));
    int rc = af_env_success_examples(e, 5, K, a1);
    if (rc == AF_ERR_UNSUP) {
      cr_assert(strstr(af_env_last_error(e), "cannot produce success examples") != NULL);
    } else {
      cr_assert_eq(rc, AF_OK, "%s: %s", af_env_name(i), af_env_last_error(e));
      cr_assert_eq(af_env_success_examples(e, 5, K, a2), AF_OK);
      cr_assert(memcmp(a1, a2, sizeof(float) * K * n) == 0, "%s: same seed, different examples", af_env_name(i));
      cr_assert_eq(af_env_success_examples(e, 6, K, a2), AF_OK);
      cr_assert(memcmp(a1, a2, sizeof(float) * K * n) != 0, "%s: seeds 5 and 6 give the same examples", af_env_name(i));
      float act[16] = {0}, obs[512], r;
      int te, tr;
      cr_assert_eq(af_env_step(e, act, obs, &r, &te, &tr, NULL), AF_ERR_STATE, "%s", af_env_name(i));
    }
    free(a1);
    free(a2);
    af_env_free(e);
  }
}

// ---- MuJoCo errors outside a step come back as codes, and the process lives ----
static void raising_reset(af_env *e, af_rng *rng) {
  (void)e; (void)rng;
  mju_error("test: the reset hook raised");
}

static void raising_solve(af_env *e, af_rng *rng, float *hold) {
  (void)e; (void)rng; (void)hold;
  mju_error_i("test: the solver raised %d", 7);
}

static int raising_difficulty(af_env *e, double level) {
  (void)e; (void)level;
  mju_error("test: the difficulty hook raised");
  return AF_OK;
}

Test(env, mujoco_error_in_reset_is_a_code) {
  af_env *e = make("puck_push", NULL);
  const af_env_def *orig = e->def;
  af_env_def def = *orig;
  def.reset = raising_reset;
  e->def = &def;
  float obs[MAXD], a[16] = {0}, r;
  int te, tr;
  cr_assert_eq(af_env_reset(e, 3, obs), AF_ERR_NUMERIC);
  cr_assert(strstr(af_env_last_error(e), "mujoco error: test: the reset hook raised"), "%s", af_env_last_error(e));
  cr_assert(strstr(af_env_last_error(e), "reset (seed 3)"), "%s", af_env_last_error(e));
  // the episode did not start
  cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, NULL), AF_ERR_STATE);
  // a later reset without the fault starts afresh, and matches a fresh environment's
  e->def = orig;
  cr_assert_eq(af_env_reset(e, 3, obs), AF_OK);
  af_env *f = make("puck_push", NULL);
  float obs2[MAXD];
  cr_assert_eq(af_env_reset(f, 3, obs2), AF_OK);
  for (int i = 0; i < af_env_get_spec(e)->obs_dim; i++) cr_assert_eq(obs[i], obs2[i], "obs[%d]", i);
  cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, NULL), AF_OK);
  af_env_free(f);
  af_env_free(e);
}

Test(env, mujoco_error_in_success_examples_and_difficulty_is_a_code) {
  af_env *e = make("puck_push", NULL);
  const af_env_def *orig = e->def;
  af_env_def def = *orig;
  def.solve = raising_solve;
  def.set_difficulty = raising_difficulty;
  e->def = &def;
  float obs[MAXD];
  cr_assert_eq(af_env_success_examples(e, 1, 2, obs), AF_ERR_NUMERIC);
  cr_assert(strstr(af_env_last_error(e), "the solver raised 7"), "%s", af_env_last_error(e));
  cr_assert_eq(af_env_set_difficulty(e, 0.5), AF_ERR_NUMERIC);
  cr_assert(strstr(af_env_last_error(e), "the difficulty hook raised"), "%s", af_env_last_error(e));
  e->def = orig;
  cr_assert_eq(af_env_reset(e, 1, obs), AF_OK);
  af_env_free(e);
}

// a model whose scratch stack is far too small: MuJoCo raises while making or resetting it
Test(env, mujoco_error_from_a_model_is_a_code) {
  char dir[] = "/tmp/af_test_assets_XXXXXX";
  cr_assert(mkdtemp(dir));
  char *xml = af_read_file(AF_TEST_ASSETS "/pendulum.xml");
  cr_assert(xml);
  char *at = strstr(xml, "<worldbody>");
  cr_assert(at);
  char path[256];
  snprintf(path, sizeof path, "%s/pendulum.xml", dir);
  FILE *f = fopen(path, "w");
  fprintf(f, "%.*s<size nstack=\"1\"/>\n%s", (int)(at - xml), xml, at);
  fclose(f);
  free(xml);
  setenv("ARMFARM_ASSETS", dir, 1);
  char err[512] = "";
  af_env *e = af_env_make("pendulum", NULL, err, sizeof err);
  unsetenv("ARMFARM_ASSETS");
  int rc = AF_OK;
  float obs[MAXD];
  if (e) rc = af_env_reset(e, 1, obs);
  remove(path);
  rmdir(dir);
  if (e) {
    cr_assert_eq(rc, AF_ERR_NUMERIC, "reset of a model without stack: %d", rc);
    cr_assert(strstr(af_env_last_error(e), "mujoco error"), "%s", af_env_last_error(e));
    af_env_free(e);
  } else {
    cr_assert(strstr(err, "pendulum"), "%s", err);
  }
}

// outside armfarm calls, MuJoCo's errors go to the handler that was there before ours
static int prev_calls;
static void test_prev_handler(const char *msg) { (void)msg; prev_calls++; }

Test(env, mujoco_error_outside_armfarm_goes_to_the_previous_handler) {
  // a fresh process: ours are not installed yet, so a handler set now is the one before ours
  mju_user_error = test_prev_handler;
  af_env *e = make("pendulum", NULL);
  cr_assert(mju_user_error != test_prev_handler);
  mju_error("test: raised outside armfarm");
  cr_assert_eq(prev_calls, 1);
  // and a second make does not install again
  af_env *f = make("pendulum", NULL);
  mju_error("test: again");
  cr_assert_eq(prev_calls, 2);
  af_env_free(f);
  af_env_free(e);
}
