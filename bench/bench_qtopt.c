// armfarm bench qtopt: QT-Opt's two uses of the cross-entropy method on bin grasping's state
// observations, each a whole CEM (the defaults: 64 samples, 6 elites, 2 rounds, every
// population scored in one batched forward pass of the 128-128 Q network): actions per second
// when acting on one state (deterministic, as in evaluation), and Bellman targets per second
// for batches of 256 next states (the CEM over target 1, then target 2 at its argmax). One
// thread; best of 3 rounds.
#include <stdio.h>
#include <stdlib.h>  // calloc, free
#include <string.h>  // strcmp

#include <cjson/cJSON.h>
#include "agents/agent.h"
#include "agents/qtopt.h"
#include "base/base.h"
#include "base/rng.h"
#include "bench/bench.h"
#include "envs/env.h"

#define BQ_ENV "bin_grasp"
#define BQ_BATCH 256
#define BQ_ROUNDS 3
#define BQ_ACTS 400     // acting calls per round
#define BQ_TARGETS 20   // target batches per round

int af_cmd_bench_qtopt(int argc, char **argv) {
  int json = 0;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: armfarm bench qtopt [--json]\n"
             "  QT-Opt on %s's state observations, one thread, each a whole CEM (64 samples, 6 elites, 2 rounds):\n"
             "  actions per second acting on one state, and Bellman targets per second in batches of %d\n"
             "  (\"actions_per_s\" and \"targets_per_s\" in the JSON)\n", BQ_ENV, BQ_BATCH);
      return AF_EXIT_OK;
    } else { fprintf(stderr, "armfarm bench qtopt: unknown option '%s'\n", argv[i]); return AF_EXIT_USAGE; }
  }
  char err[512];
  af_env *e = af_env_make(BQ_ENV, NULL, err, sizeof err);
  if (!e) { fprintf(stderr, "armfarm bench qtopt: %s\n", err); return AF_EXIT_FAIL; }
  const af_env_spec *s = af_env_get_spec(e);
  af_agent_setup setup = {.spec = s, .num_envs = 1, .seed = 1};
  char cfg[64];
  snprintf(cfg, sizeof cfg, "{\"batch\": %d}", BQ_BATCH);
  af_agent *ag = af_agent_make("qtopt", cfg, &setup, err, sizeof err);
  const int od = s->obs_dim, ad = s->act_dim, B = BQ_BATCH;
  float *obs = calloc((size_t)B * od, sizeof(float)), *rew = calloc(B, sizeof(float)), *done = calloc(B, sizeof(float));
  float *y = calloc(B, sizeof(float)), *act = calloc((size_t)ad, sizeof(float));
  int rc = AF_EXIT_OK;
  if (!ag) { fprintf(stderr, "armfarm bench qtopt: %s\n", err); rc = AF_EXIT_FAIL; }
  else if (!obs || !rew || !done || !y || !act) { fprintf(stderr, "armfarm bench qtopt: out of memory\n"); rc = AF_EXIT_FAIL; }
  // states the task produces: resets of the environment, B of them
  for (int b = 0; b < B && rc == AF_EXIT_OK; b++)
    if (af_env_reset(e, (uint64_t)b + 1, obs + (size_t)b * od)) {
      fprintf(stderr, "armfarm bench qtopt: %s\n", af_env_last_error(e));
      rc = AF_EXIT_FAIL;
    }
  af_rng rng;
  af_rng_seed(&rng, 5);
  for (int b = 0; b < B; b++) rew[b] = af_rng_uniform(&rng) < 0.1 ? 1.0f : 0.0f;
  double best_act = 0, best_tgt = 0;
  af_qtopt *q = rc == AF_EXIT_OK ? af_agent_impl(ag) : NULL;
  for (int r = 0; r < BQ_ROUNDS && rc == AF_EXIT_OK; r++) {
    // acting: one state at a time, a different one each call
    double t0 = af_now();
    for (int k = 0; k < BQ_ACTS && rc == AF_EXIT_OK; k++)
      if (af_agent_act(ag, act, obs + (size_t)(k % B) * od, 1, 1)) {
        fprintf(stderr, "armfarm bench qtopt: %s\n", af_agent_last_error(ag));
        rc = AF_EXIT_FAIL;
      }
    double a_s = BQ_ACTS / (af_now() - t0);
    // Bellman targets: whole batches
    t0 = af_now();
    af_nn_ctx_enter(q->ctx);
    for (int k = 0; k < BQ_TARGETS && rc == AF_EXIT_OK; k++)
      if (af_qtopt_targets(q, rew, obs, done, y, NULL)) {
        fprintf(stderr, "armfarm bench qtopt: the network core failed: %s\n", af_nn_ctx_error(q->ctx) ? af_nn_ctx_error(q->ctx) : "");
        rc = AF_EXIT_FAIL;
      }
    af_nn_ctx_leave(q->ctx);
    double t_s = (double)BQ_TARGETS * B / (af_now() - t0);
    if (a_s > best_act) best_act = a_s;
    if (t_s > best_tgt) best_tgt = t_s;
  }
  // the targets must be probabilities: a check that the work was real
  for (int b = 0; b < B && rc == AF_EXIT_OK; b++)
    if (!(y[b] >= 0 && y[b] <= 1)) { fprintf(stderr, "armfarm bench qtopt: target %d is %g, outside [0, 1]\n", b, y[b]); rc = AF_EXIT_FAIL; }
  if (rc == AF_EXIT_OK) {
    if (json) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "env", BQ_ENV);
      cJSON_AddNumberToObject(o, "obs_dim", od);
      cJSON_AddNumberToObject(o, "act_dim", ad);
      cJSON_AddNumberToObject(o, "actions_per_s", best_act);
      cJSON_AddNumberToObject(o, "batch", B);
      cJSON_AddNumberToObject(o, "targets_per_s", best_tgt);
      char *txt = cJSON_PrintUnformatted(o);
      printf("%s\n", txt);
      cJSON_free(txt);
      cJSON_Delete(o);
    } else {
      printf("QT-Opt on %s (obs %d, act %d), one thread, CEM 64 samples / 6 elites / 2 rounds, Q 128-128, best of %d rounds\n", BQ_ENV, od,
             ad, BQ_ROUNDS);
      printf("  acting, one state:          %8.0f actions/s (%.3f ms each)\n", best_act, 1e3 / best_act);
      printf("  Bellman targets, batch %d: %8.0f targets/s (%.2f ms a batch)\n", B, best_tgt, 1e3 * B / best_tgt);
    }
  }
  free(obs);
  free(rew);
  free(done);
  free(y);
  free(act);
  af_agent_free(ag);
  af_env_free(e);
  return rc;
}
