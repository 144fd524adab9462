// armfarm rollout: run episodes of one environment with a fixed policy (random, zero or the
// environment's scripted controller) and report return, success and speed.
#include <math.h>    // sqrt
#include <stdio.h>
#include <stdlib.h>  // calloc, free
#include <string.h>  // strcmp

#include <cjson/cJSON.h>
#include "envs/env.h"
#include "base/rng.h"
#include "experiments/cli.h"

static void rollout_usage(FILE *f) {
  fprintf(f,
    "usage: armfarm rollout --env NAME [--policy random|zero|scripted] [--episodes N] [--seed S]\n"
    "                       [--config FILE] [--set key=value]... [--json]\n"
    "  --policy    random (uniform in [-1, 1]), zero, or scripted (default: scripted when the\n"
    "              environment has one, else random)\n"
    "  --episodes  number of episodes (default 10); episode j is reset with a seed derived from S and j\n"
    "  --seed      run seed (default 0)\n"
    "  --config    JSON file with the environment config; --set overrides keys (dotted paths)\n"
    "  --json      one JSON object on stdout: episodes, mean_return, success_rate, steps_per_s, returns, ...\n");
}

enum { POL_RANDOM, POL_ZERO, POL_SCRIPTED, POL_DEFAULT };
static const char *const policy_names[] = {"random", "zero", "scripted"};

// the options of armfarm rollout
typedef struct {
  const char *env_name, *config_file;
  int policy, json;
  long episodes, seed;
  char **sets;  // the --set values (argc entries)
  int nsets;
} rollout_opts;

// what the episodes gave
typedef struct {
  float *returns, *succ;  // per episode
  double *metric_sum;     // the environment's metrics summed over episodes
  long steps, diverged;
  double step_time;       // seconds inside af_env_step
} rollout_tally;

// the options into o; AF_CLI_GO_ON, or the exit code to stop with
static int parse_rollout_opts(int argc, char **argv, rollout_opts *o) {
  *o = (rollout_opts){.policy = POL_DEFAULT, .episodes = 10, .sets = calloc((size_t)argc + 1, sizeof(char *))};
  if (!o->sets) { fprintf(stderr, "armfarm rollout: out of memory\n"); return AF_EXIT_FAIL; }
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) { rollout_usage(stdout); return AF_EXIT_OK; }
    if (!strcmp(opt, "--json")) { o->json = 1; continue; }
    int takes = !strcmp(opt, "--env") || !strcmp(opt, "--policy") || !strcmp(opt, "--episodes") || !strcmp(opt, "--seed") ||
                !strcmp(opt, "--set") || !strcmp(opt, "--config");
    if (!takes) { fprintf(stderr, "armfarm rollout: unknown option '%s' (try --help)\n", opt); return AF_EXIT_USAGE; }
    if (!val) { fprintf(stderr, "armfarm rollout: %s needs a value\n", opt); return AF_EXIT_USAGE; }
    i++;
    if (!strcmp(opt, "--env")) o->env_name = val;
    else if (!strcmp(opt, "--config")) o->config_file = val;
    else if (!strcmp(opt, "--set")) o->sets[o->nsets++] = (char *)val;
    else if (!strcmp(opt, "--episodes")) { if ((o->episodes = af_cli_long(opt, val, 1, 1000000)) < 0) return AF_EXIT_USAGE; }
    else if (!strcmp(opt, "--seed")) { if ((o->seed = af_cli_long(opt, val, 0, 0x7fffffffffffffffL)) < 0) return AF_EXIT_USAGE; }
    else if (!strcmp(val, "random")) o->policy = POL_RANDOM;
    else if (!strcmp(val, "zero")) o->policy = POL_ZERO;
    else if (!strcmp(val, "scripted")) o->policy = POL_SCRIPTED;
    else { fprintf(stderr, "armfarm rollout: unknown policy '%s' (random, zero or scripted)\n", val); return AF_EXIT_USAGE; }
  }
  if (!o->env_name) { fprintf(stderr, "armfarm rollout: --env NAME is required (see 'armfarm envs')\n"); return AF_EXIT_USAGE; }
  return AF_CLI_GO_ON;
}

// the environment from --config and --set, and the policy settled (scripted when it has one)
static af_env *make_env(rollout_opts *o) {
  char err[512], *cfg = af_cli_env_config(o->config_file, o->sets, o->nsets);
  if (!cfg) return NULL;
  af_env *env = af_env_make(o->env_name, cfg, err, sizeof err);
  free(cfg);
  if (!env) { fprintf(stderr, "armfarm rollout: %s\n", err); return NULL; }
  float *probe = calloc((size_t)af_env_get_spec(env)->act_dim + 1, sizeof *probe);
  int has_scripted = probe && af_env_scripted_action(env, probe) != AF_ERR_UNSUP;
  free(probe);
  if (o->policy == POL_DEFAULT) o->policy = has_scripted ? POL_SCRIPTED : POL_RANDOM;
  if (o->policy == POL_SCRIPTED && !has_scripted) {
    fprintf(stderr, "armfarm rollout: %s has no scripted controller (use random or zero)\n", o->env_name);
    af_env_free(env);
    return NULL;
  }
  return env;
}

static int tally_alloc(rollout_tally *t, long episodes) {
  *t = (rollout_tally){0};
  t->returns = calloc((size_t)episodes, sizeof *t->returns);
  t->succ = calloc((size_t)episodes, sizeof *t->succ);
  t->metric_sum = calloc(AF_MAX_METRICS, sizeof *t->metric_sum);
  return t->returns && t->succ && t->metric_sum ? 0 : -1;
}

static void tally_free(rollout_tally *t) {
  free(t->returns);
  free(t->succ);
  free(t->metric_sum);
}

// one episode with seed derive(S, ep), the random policy drawing from prng; 0 or -1 after a message
static int run_episode(af_env *env, const rollout_opts *o, long ep, af_rng *prng, float *obs, float *act, rollout_tally *t) {
  const af_env_spec *s = af_env_get_spec(env);
  if (af_env_reset(env, af_seed_derive((uint64_t)o->seed, (uint64_t)ep), obs)) {
    fprintf(stderr, "armfarm rollout: %s\n", af_env_last_error(env));
    return -1;
  }
  for (;;) {
    if (o->policy == POL_SCRIPTED) af_env_scripted_action(env, act);
    for (int k = 0; k < s->act_dim; k++)
      if (o->policy == POL_RANDOM) act[k] = (float)af_rng_range(prng, -1, 1);
      else if (o->policy == POL_ZERO) act[k] = 0;
    float r;
    int term, trunc;
    af_info info;
    double t0 = af_now();
    int src = af_env_step(env, act, obs, &r, &term, &trunc, &info);
    t->step_time += af_now() - t0;
    if (src) { fprintf(stderr, "armfarm rollout: %s\n", af_env_last_error(env)); return -1; }
    t->steps++;
    if (term || trunc) {
      t->returns[ep] = info.episode.ret;
      t->succ[ep] = info.episode.success;
      t->diverged += info.diverged;
      for (int k = 0; k < s->n_metrics; k++) t->metric_sum[k] += info.episode.metrics[k];
      return 0;
    }
  }
}

// every episode, with a progress line on stderr for long text runs
static int run_episodes(af_env *env, const rollout_opts *o, rollout_tally *t) {
  const af_env_spec *s = af_env_get_spec(env);
  float *obs = calloc((size_t)s->obs_dim, sizeof *obs), *act = calloc((size_t)s->act_dim, sizeof *act);
  int rc = obs && act ? 0 : -1;
  if (rc) fprintf(stderr, "armfarm rollout: out of memory\n");
  af_rng prng;
  af_rng_seed(&prng, af_seed_derive((uint64_t)o->seed, 0xA11CE));
  for (long ep = 0; ep < o->episodes && rc == 0; ep++) {
    rc = run_episode(env, o, ep, &prng, obs, act, t);
    if (rc == 0 && !o->json && o->episodes >= 20 && (ep + 1) % (o->episodes / 10) == 0) fprintf(stderr, "\r  %ld/%ld episodes", ep + 1, o->episodes);
  }
  if (rc == 0 && !o->json && o->episodes >= 20) fprintf(stderr, "\n");
  free(obs);
  free(act);
  return rc;
}

// the figures: mean and sd of the returns, success rate, speed
typedef struct { double mean, sd, sr, sps; } rollout_figures;

static rollout_figures figures(const rollout_tally *t, long episodes) {
  rollout_figures f = {0};
  double var = 0;
  for (long ep = 0; ep < episodes; ep++) { f.mean += t->returns[ep]; f.sr += t->succ[ep]; }
  f.mean /= episodes;
  f.sr /= episodes;
  for (long ep = 0; ep < episodes; ep++) var += (t->returns[ep] - f.mean) * (t->returns[ep] - f.mean);
  f.sd = episodes > 1 ? sqrt(var / (episodes - 1)) : 0;
  f.sps = t->step_time > 0 ? t->steps / t->step_time : 0;
  return f;
}

// --json: one object on stdout
static void report_json(af_env *env, const rollout_opts *o, const rollout_tally *t, rollout_figures f) {
  const af_env_spec *s = af_env_get_spec(env);
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "env", o->env_name);
  cJSON_AddStringToObject(j, "policy", policy_names[o->policy]);
  cJSON_AddNumberToObject(j, "episodes", (double)o->episodes);
  cJSON_AddNumberToObject(j, "seed", (double)o->seed);
  cJSON_AddNumberToObject(j, "mean_return", f.mean);
  cJSON_AddNumberToObject(j, "std_return", f.sd);
  cJSON_AddNumberToObject(j, "success_rate", f.sr);
  cJSON_AddNumberToObject(j, "steps", (double)t->steps);
  cJSON_AddNumberToObject(j, "steps_per_s", f.sps);
  cJSON_AddNumberToObject(j, "diverged", (double)t->diverged);
  cJSON_AddItemToObject(j, "returns", cJSON_CreateFloatArray(t->returns, (int)o->episodes));
  cJSON_AddItemToObject(j, "successes", cJSON_CreateFloatArray(t->succ, (int)o->episodes));
  cJSON *m = cJSON_AddObjectToObject(j, "metrics");
  for (int k = 0; k < s->n_metrics; k++) cJSON_AddNumberToObject(m, s->metric_names[k], t->metric_sum[k] / o->episodes);
  cJSON_AddRawToObject(j, "config", af_env_config_json(env));
  char *txt = cJSON_PrintUnformatted(j);
  printf("%s\n", txt);
  cJSON_free(txt);
  cJSON_Delete(j);
}

// the text report
static void report_text(af_env *env, const rollout_opts *o, const rollout_tally *t, rollout_figures f) {
  const af_env_spec *s = af_env_get_spec(env);
  printf("%s  policy %s  episodes %ld  seed %ld\n", o->env_name, policy_names[o->policy], o->episodes, o->seed);
  printf("  mean return   %.3f (sd %.3f)\n", f.mean, f.sd);
  printf("  success rate  %.3f (%d/%ld)\n", f.sr, (int)(f.sr * o->episodes + 0.5), o->episodes);
  for (int k = 0; k < s->n_metrics; k++) printf("  %-13s %.4f (mean)\n", s->metric_names[k], t->metric_sum[k] / o->episodes);
  printf("  speed         %.0f steps/s (%ld control steps in %.3f s)\n", f.sps, t->steps, t->step_time);
  if (t->diverged) printf("  diverged      %ld episodes\n", t->diverged);
}

// the environment, the episodes and the report; the exit code
static int rollout(rollout_opts *o) {
  af_env *env = make_env(o);
  if (!env) return AF_EXIT_USAGE;
  rollout_tally t;
  int rc = AF_EXIT_FAIL;
  if (tally_alloc(&t, o->episodes)) fprintf(stderr, "armfarm rollout: out of memory\n");
  else if (run_episodes(env, o, &t) == 0) {
    rollout_figures f = figures(&t, o->episodes);
    if (o->json) report_json(env, o, &t, f);
    else report_text(env, o, &t, f);
    rc = AF_EXIT_OK;
  }
  tally_free(&t);
  af_env_free(env);
  return rc;
}

int af_cmd_rollout(int argc, char **argv) {
  rollout_opts o;
  int rc = parse_rollout_opts(argc, argv, &o);
  if (rc == AF_CLI_GO_ON) rc = rollout(&o);
  free(o.sets);
  return rc;
}
