// armfarm bench train: training environment steps per second, updates included, over the
// vectorized runner with 1 and with 2 threads, in one run. The loop is the one armfarm train
// runs (act on N observations, step N environments, observe N transitions, the updates that
// are due), on the quadruped in a collection-heavy setting: 8 environments, one SAC update
// per K environment steps (8 by default), 64-64 networks and batches of 64. Both loops of
// armfarm train are timed: updates after the environments' step, and train.overlap (the
// updates made on the caller's thread while the workers step the environments).
#include <stdio.h>
#include <stdlib.h>  // calloc, free
#include <string.h>  // strcmp, memcpy

#include <cjson/cJSON.h>
#include "agents/agent.h"
#include "base/base.h"
#include "bench/bench.h"
#include "envs/vecenv.h"

#define BT_ENV "quadruped"
#define BT_ENVS 8
#define BT_AGENT "{\"hidden\": 64, \"batch\": 64, \"warmup\": 0, \"buffer\": 100000, \"update_every\": %d}"
#define BT_WARMUP 2000   // environment steps before timing: a replay to sample from, caches warm
#define BT_STEPS 16000   // environment steps timed per round
#define BT_ROUNDS 3

typedef struct {
  af_vecenv *v;
  af_agent *ag;
  int n, od, ad, overlap;
  float *obs, *next, *fin, *seen, *act, *rew;
  uint8_t *te, *tr;
  af_info *info;
} bench_run;

static void run_free(bench_run *b) {
  af_agent_free(b->ag);
  af_vecenv_free(b->v);
  free(b->obs);
  free(b->te);
  free(b->info);
}

static int run_make(bench_run *b, int envs, int threads, int overlap, int update_every, char *err, size_t errsz) {
  memset(b, 0, sizeof *b);
  b->overlap = overlap;
  if (!(b->v = af_vecenv_make(BT_ENV, NULL, envs, threads, err, errsz))) return -1;
  const af_env_spec *s = af_vecenv_spec(b->v);
  b->n = envs;
  b->od = s->obs_dim;
  b->ad = s->act_dim;
  af_agent_setup setup = {.spec = s, .num_envs = b->n, .seed = 1};
  char cfg[160];
  snprintf(cfg, sizeof cfg, BT_AGENT, update_every);
  if (!(b->ag = af_agent_make("sac", cfg, &setup, err, errsz))) return -1;
  size_t n = (size_t)b->n;
  float *p = b->obs = calloc(n * (4 * (size_t)b->od + b->ad + 1), sizeof(float));
  b->te = calloc(2 * n, 1);
  b->info = calloc(n, sizeof *b->info);
  if (!p || !b->te || !b->info) { snprintf(err, errsz, "out of memory"); return -1; }
  b->next = p += n * b->od;
  b->fin = p += n * b->od;
  b->seen = p += n * b->od;
  b->act = p += n * b->od;
  b->rew = p + n * b->ad;
  b->tr = b->te + n;
  return af_vecenv_reset(b->v, 1, b->obs) ? (snprintf(err, errsz, "reset failed"), -1) : 0;
}

// the agent's due updates, as the side task of a step
static int update_task(void *ag) {
  af_agent_stats st;
  return af_agent_update(ag, &st);
}

// `steps` environment steps of training; -1 on an error
static int run_steps(bench_run *b, long steps) {
  for (long k = 0; k < steps; k += b->n) {
    int urc = AF_OK;
    if (af_agent_act(b->ag, b->act, b->obs, b->n, 0) ||
        af_vecenv_step_with(b->v, b->overlap ? update_task : NULL, b->ag, &urc, b->act, b->next, b->fin, b->rew, b->te, b->tr, b->info) || urc)
      return -1;
    for (int i = 0; i < b->n; i++) {
      const float *src = b->te[i] || b->tr[i] ? b->fin : b->next;
      memcpy(b->seen + (size_t)i * b->od, src + (size_t)i * b->od, sizeof(float) * b->od);
    }
    af_batch batch = {.n = b->n, .obs = b->obs, .act = b->act, .reward = b->rew, .next_obs = b->seen,
                      .terminated = b->te, .truncated = b->tr, .info = b->info};
    if (af_agent_observe(b->ag, &batch) || (!b->overlap && update_task(b->ag))) return -1;
    memcpy(b->obs, b->next, sizeof(float) * (size_t)b->n * b->od);
  }
  return 0;
}

int af_cmd_bench_train(int argc, char **argv) {
  int json = 0;
  long every = 8, nenv = BT_ENVS;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--update-every") && i + 1 < argc) {
      if ((every = af_cli_long(argv[i], argv[i + 1], 1, 1000000)) < 0) return AF_EXIT_USAGE;
      i++;
    } else if (!strcmp(argv[i], "--envs") && i + 1 < argc) {
      if ((nenv = af_cli_long(argv[i], argv[i + 1], 2, 4096)) < 0) return AF_EXIT_USAGE;
      i++;
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: armfarm bench train [--envs N] [--update-every K] [--json]\n"
             "  training environment steps per second, updates included: SAC on N quadrupeds (default %d), one update per K\n"
             "  environment steps (default 8; 64-64, batch 64), the environments stepped by 1 and by 2 threads, with the\n"
             "  updates after the step and with them overlapping it (train.overlap); the four set-ups interleaved, best of %d\n"
             "  rounds of %d steps each. Target: 2 threads at least 1.6x 1 thread.\n", BT_ENVS, BT_ROUNDS, BT_STEPS);
      return AF_EXIT_OK;
    } else { fprintf(stderr, "armfarm bench train: unknown option or missing value '%s'\n", argv[i]); return AF_EXIT_USAGE; }
  }
  // the four set-ups (threads 1, 2; overlap off, on) made and warmed first, then timed in
  // alternation
  char err[256];
  bench_run runs[4];
  int made = 0, rc = AF_EXIT_OK;
  double best[4] = {0, 0, 0, 0};
  for (; made < 4; made++)
    if (run_make(&runs[made], (int)nenv, made % 2 + 1, made / 2, (int)every, err, sizeof err) || run_steps(&runs[made], BT_WARMUP)) {
      fprintf(stderr, "armfarm bench train: %s\n", err);
      rc = AF_EXIT_FAIL;
      made++;
      goto done;
    }
  for (int r = 0; r < BT_ROUNDS; r++)
    for (int k = 0; k < 4; k++) {
      double t0 = af_now();
      if (run_steps(&runs[k], BT_STEPS)) { fprintf(stderr, "armfarm bench train: %s\n", af_agent_last_error(runs[k].ag)); rc = AF_EXIT_FAIL; goto done; }
      double sps = BT_STEPS / (af_now() - t0);
      if (sps > best[k]) best[k] = sps;
    }
  // the figures
  if (json) {
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "runs");
    cJSON_AddStringToObject(o, "env", BT_ENV);
    cJSON_AddNumberToObject(o, "num_envs", (double)nenv);
    cJSON_AddNumberToObject(o, "update_every", (double)every);
    for (int k = 0; k < 4; k++) {
      cJSON *row = cJSON_CreateObject();
      cJSON_AddNumberToObject(row, "threads", k % 2 + 1);
      cJSON_AddBoolToObject(row, "overlap", k / 2);
      cJSON_AddNumberToObject(row, "steps_per_s", best[k]);
      cJSON_AddItemToArray(arr, row);
    }
    cJSON_AddNumberToObject(o, "speedup", best[1] / best[0]);
    cJSON_AddNumberToObject(o, "speedup_overlap", best[3] / best[2]);
    char *s = cJSON_PrintUnformatted(o);
    printf("%s\n", s);
    cJSON_free(s);
    cJSON_Delete(o);
  } else {
    printf("training on %ld %s environments, SAC 64-64, one update per %ld environment steps\n", nenv, BT_ENV, every);
    printf("                      updates after the step   updates overlapping it (train.overlap)\n");
    printf("  1 thread            %12.0f steps/s   %12.0f steps/s\n", best[0], best[2]);
    printf("  2 threads           %12.0f steps/s   %12.0f steps/s\n", best[1], best[3]);
    printf("  speed-up            %12.2fx          %12.2fx         (target >= 1.6x)\n", best[1] / best[0], best[3] / best[2]);
  }
done:
  for (int k = 0; k < made; k++) run_free(&runs[k]);
  return rc;
}
