// armfarm bench ppo: PPO's training throughput, environment steps per second with the updates
// included, over the vectorized runner with 1 and with 2 threads, in one run. The loop is the
// one armfarm train runs (act on N observations, step N environments, observe N transitions,
// the update when the rollout is full) on 64 quadrupeds with legged_gym's schedule: rollouts
// of 24 steps per environment, 5 epochs of 4 minibatches; PPO's default 64-64 tanh networks.
#include <stdio.h>
#include <stdlib.h>  // calloc, free
#include <string.h>  // strcmp, memcpy

#include <cjson/cJSON.h>
#include "agents/agent.h"
#include "base/base.h"
#include "bench/bench.h"
#include "envs/vecenv.h"

#define BP_ENV "quadruped"
#define BP_ENVS 64
#define BP_ROLLOUT 24
#define BP_AGENT "{\"rollout\": %d, \"epochs\": 5, \"minibatch\": %ld}"  // 4 minibatches a rollout
#define BP_WARMUP 2    // rollouts before timing: caches warm, the first update made
#define BP_TIMED 10    // rollouts timed per round
#define BP_ROUNDS 3

typedef struct {
  af_vecenv *v;
  af_agent *ag;
  int n, od, ad;
  float *obs, *next, *fin, *seen, *act, *rew;
  uint8_t *te, *tr;
  af_info *info;
  double t_env, t_agent;  // of the last timed round
} bench_run;

static void run_free(bench_run *b) {
  af_agent_free(b->ag);
  af_vecenv_free(b->v);
  free(b->obs);
  free(b->te);
  free(b->info);
}

static int run_make(bench_run *b, int envs, int threads, char *err, size_t errsz) {
  memset(b, 0, sizeof *b);
  if (!(b->v = af_vecenv_make(BP_ENV, NULL, envs, threads, err, errsz))) return -1;
  const af_env_spec *s = af_vecenv_spec(b->v);
  b->n = envs;
  b->od = s->obs_dim;
  b->ad = s->act_dim;
  af_agent_setup setup = {.spec = s, .num_envs = b->n, .seed = 1};
  char cfg[160];
  snprintf(cfg, sizeof cfg, BP_AGENT, BP_ROLLOUT, (long)BP_ROLLOUT * envs / 4);
  if (!(b->ag = af_agent_make("ppo", cfg, &setup, err, errsz))) return -1;
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

// `rollouts` rollouts of training (BP_ROLLOUT batch steps each, every one ending in an
// update); 0, or -1 with the message in err
static int run_rollouts(bench_run *b, int rollouts, char *err, size_t errsz) {
  b->t_env = b->t_agent = 0;
  for (int k = 0; k < rollouts * BP_ROLLOUT; k++) {
    af_agent_stats st;
    double t0 = af_now();
    if (af_agent_act(b->ag, b->act, b->obs, b->n, 0)) { snprintf(err, errsz, "%s", af_agent_last_error(b->ag)); return -1; }
    double t1 = af_now();
    if (af_vecenv_step(b->v, b->act, b->next, b->fin, b->rew, b->te, b->tr, b->info)) {
      snprintf(err, errsz, "environment step failed: %s", af_vecenv_last_error(b->v));
      return -1;
    }
    double t2 = af_now();
    for (int i = 0; i < b->n; i++) {
      const float *src = b->te[i] || b->tr[i] ? b->fin : b->next;
      memcpy(b->seen + (size_t)i * b->od, src + (size_t)i * b->od, sizeof(float) * b->od);
    }
    af_batch batch = {.n = b->n, .obs = b->obs, .act = b->act, .reward = b->rew, .next_obs = b->seen,
                      .terminated = b->te, .truncated = b->tr, .info = b->info};
    if (af_agent_observe(b->ag, &batch) || af_agent_update(b->ag, &st)) { snprintf(err, errsz, "%s", af_agent_last_error(b->ag)); return -1; }
    memcpy(b->obs, b->next, sizeof(float) * (size_t)b->n * b->od);
    b->t_env += t2 - t1;
    b->t_agent += af_now() - t2 + t1 - t0;
  }
  return 0;
}

// the CPU's model name (from /proc/cpuinfo) into out, "unknown" when it is not there
static void cpu_model(char *out, size_t n) {
  snprintf(out, n, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[512];
  while (f && fgets(line, sizeof line, f)) {
    char *c = strchr(line, ':');
    if (strncmp(line, "model name", 10) || !c) continue;
    c += 1 + (c[1] == ' ');
    c[strcspn(c, "\n")] = 0;
    snprintf(out, n, "%s", c);
    break;
  }
  if (f) fclose(f);
}

// the 1-minute load average, or -1
static double load_average(void) {
  FILE *f = fopen("/proc/loadavg", "r");
  double l = -1;
  if (f && fscanf(f, "%lf", &l) != 1) l = -1;
  if (f) fclose(f);
  return l;
}

int af_cmd_bench_ppo(int argc, char **argv) {
  int json = 0;
  long nenv = BP_ENVS;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--envs") && i + 1 < argc) {
      if ((nenv = af_cli_long(argv[i], argv[i + 1], 4, 4096)) < 0 || nenv % 4) {
        if (nenv > 0) fprintf(stderr, "armfarm bench ppo: --envs must be a multiple of 4 (4 minibatches)\n");
        return AF_EXIT_USAGE;
      }
      i++;
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: armfarm bench ppo [--envs N] [--json]\n"
             "  PPO training throughput, environment steps per second with the updates included, on N quadrupeds (default %d,\n"
             "  randomization on) stepped by 1 and by 2 threads: rollouts of %d steps per environment, 5 epochs of 4 minibatches,\n"
             "  64-64 tanh networks; after %d warm-up rollouts, the two set-ups interleaved, best of %d rounds of %d rollouts.\n"
             "  Target: 10,000 steps/s on 2 threads at 64 environments.\n", BP_ENVS, BP_ROLLOUT, BP_WARMUP, BP_ROUNDS, BP_TIMED);
      return AF_EXIT_OK;
    } else { fprintf(stderr, "armfarm bench ppo: unknown option or missing value '%s'\n", argv[i]); return AF_EXIT_USAGE; }
  }
  char err[256], cpu[256];
  cpu_model(cpu, sizeof cpu);
  double load0 = load_average();
  bench_run runs[2];
  int made = 0, rc = AF_EXIT_OK;
  double best[2] = {0, 0}, env_share[2] = {0, 0};
  // both set-ups made and warmed first, then timed in alternation
  for (; made < 2; made++)
    if (run_make(&runs[made], (int)nenv, made + 1, err, sizeof err) || run_rollouts(&runs[made], BP_WARMUP, err, sizeof err)) {
      fprintf(stderr, "armfarm bench ppo: %s\n", err);
      rc = AF_EXIT_FAIL;
      made++;
      goto done;
    }
  const long steps = (long)BP_TIMED * BP_ROLLOUT * nenv;
  for (int r = 0; r < BP_ROUNDS; r++)
    for (int k = 0; k < 2; k++) {
      double t0 = af_now();
      if (run_rollouts(&runs[k], BP_TIMED, err, sizeof err)) { fprintf(stderr, "armfarm bench ppo: %s\n", err); rc = AF_EXIT_FAIL; goto done; }
      double sps = steps / (af_now() - t0);
      if (sps > best[k]) best[k] = sps, env_share[k] = runs[k].t_env / (runs[k].t_env + runs[k].t_agent);
    }
  // the figures
  if (json) {
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "runs");
    cJSON_AddStringToObject(o, "env", BP_ENV);
    cJSON_AddNumberToObject(o, "num_envs", (double)nenv);
    cJSON_AddNumberToObject(o, "rollout", BP_ROLLOUT);
    cJSON_AddStringToObject(o, "cpu", cpu);
    cJSON_AddNumberToObject(o, "load_average", load0);
    for (int k = 0; k < 2; k++) {
      cJSON *row = cJSON_CreateObject();
      cJSON_AddNumberToObject(row, "threads", k + 1);
      cJSON_AddNumberToObject(row, "steps_per_s", best[k]);
      cJSON_AddNumberToObject(row, "env_share", env_share[k]);
      cJSON_AddItemToArray(arr, row);
    }
    cJSON_AddNumberToObject(o, "speedup", best[1] / best[0]);
    char *s = cJSON_PrintUnformatted(o);
    printf("%s\n", s);
    cJSON_free(s);
    cJSON_Delete(o);
  } else {
    printf("PPO on %ld %s environments: rollouts of %d steps, 5 epochs of 4 minibatches of %ld, 64-64 tanh\n", nenv, BP_ENV,
           BP_ROLLOUT, (long)BP_ROLLOUT * nenv / 4);
    printf("cpu: %s (load average %.2f before the run)\n", cpu, load0);
    printf("  1 thread   %9.0f steps/s  (environments %.0f%% of the time, agent %.0f%%)\n", best[0], 100 * env_share[0], 100 - 100 * env_share[0]);
    printf("  2 threads  %9.0f steps/s  (environments %.0f%% of the time, agent %.0f%%)  target >= 10000\n", best[1], 100 * env_share[1],
           100 - 100 * env_share[1]);
    printf("  speed-up   %9.2fx\n", best[1] / best[0]);
  }
done:
  for (int k = 0; k < made; k++) run_free(&runs[k]);
  return rc;
}
