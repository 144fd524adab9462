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

int af_cmd_rollout(int argc, char **argv) {
  const char *env_name = NULL, *config_file = NULL;
  int policy = POL_DEFAULT, json = 0;
  long episodes = 10, seed = 0;
  char **sets = calloc((size_t)argc + 1, sizeof *sets);
  int nsets = 0, rc = AF_EXIT_USAGE;
  af_env *env = NULL;
  char *cfg = NULL;
  float *obs = NULL, *act = NULL, *returns = NULL, *succ = NULL;
  double *metric_sum = NULL;

  // options
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) { rollout_usage(stdout); rc = AF_EXIT_OK; goto done; }
    if (!strcmp(o, "--json")) { json = 1; continue; }
    int takes = !strcmp(o, "--env") || !strcmp(o, "--policy") || !strcmp(o, "--episodes") || !strcmp(o, "--seed") ||
                !strcmp(o, "--set") || !strcmp(o, "--config");
    if (!takes) { fprintf(stderr, "armfarm rollout: unknown option '%s' (try --help)\n", o); goto done; }
    if (!val) { fprintf(stderr, "armfarm rollout: %s needs a value\n", o); goto done; }
    i++;
    if (!strcmp(o, "--env")) env_name = val;
    else if (!strcmp(o, "--config")) config_file = val;
    else if (!strcmp(o, "--set")) sets[nsets++] = (char *)val;
    else if (!strcmp(o, "--episodes")) { if ((episodes = af_cli_long(o, val, 1, 1000000)) < 0) goto done; }
    else if (!strcmp(o, "--seed")) { if ((seed = af_cli_long(o, val, 0, 0x7fffffffffffffffL)) < 0) goto done; }
    else if (!strcmp(val, "random")) policy = POL_RANDOM;
    else if (!strcmp(val, "zero")) policy = POL_ZERO;
    else if (!strcmp(val, "scripted")) policy = POL_SCRIPTED;
    else { fprintf(stderr, "armfarm rollout: unknown policy '%s' (random, zero or scripted)\n", val); goto done; }
  }
  if (!env_name) { fprintf(stderr, "armfarm rollout: --env NAME is required (see 'armfarm envs')\n"); goto done; }

  // the environment
  if (!(cfg = af_cli_env_config(config_file, sets, nsets))) goto done;
  char err[512];
  env = af_env_make(env_name, cfg, err, sizeof err);
  if (!env) { fprintf(stderr, "armfarm rollout: %s\n", err); goto done; }
  const af_env_spec *s = af_env_get_spec(env);
  float probe[16];
  int has_scripted = af_env_scripted_action(env, probe) != AF_ERR_UNSUP;
  if (policy == POL_DEFAULT) policy = has_scripted ? POL_SCRIPTED : POL_RANDOM;
  if (policy == POL_SCRIPTED && !has_scripted) {
    fprintf(stderr, "armfarm rollout: %s has no scripted controller (use random or zero)\n", env_name);
    goto done;
  }
  obs = calloc((size_t)s->obs_dim, sizeof *obs);
  act = calloc((size_t)s->act_dim, sizeof *act);
  returns = calloc((size_t)episodes, sizeof *returns);
  succ = calloc((size_t)episodes, sizeof *succ);
  metric_sum = calloc(AF_MAX_METRICS, sizeof *metric_sum);
  if (!obs || !act || !returns || !succ || !metric_sum) { fprintf(stderr, "armfarm rollout: out of memory\n"); rc = AF_EXIT_FAIL; goto done; }

  // episodes; episode j uses seed derive(S, j), the random policy its own stream
  rc = AF_EXIT_FAIL;
  af_rng prng;
  af_rng_seed(&prng, af_seed_derive((uint64_t)seed, 0xA11CE));
  long steps = 0, diverged = 0;
  double step_time = 0;
  const char *names[] = {"random", "zero", "scripted"};
  for (long ep = 0; ep < episodes; ep++) {
    af_env_reset(env, af_seed_derive((uint64_t)seed, (uint64_t)ep), obs);
    for (;;) {
      if (policy == POL_SCRIPTED) af_env_scripted_action(env, act);
      for (int k = 0; k < s->act_dim; k++)
        if (policy == POL_RANDOM) act[k] = (float)af_rng_range(&prng, -1, 1);
        else if (policy == POL_ZERO) act[k] = 0;
      float r;
      int term, trunc;
      af_info info;
      double t0 = af_now();
      int src = af_env_step(env, act, obs, &r, &term, &trunc, &info);
      step_time += af_now() - t0;
      if (src) { fprintf(stderr, "armfarm rollout: %s\n", af_env_last_error(env)); goto done; }
      steps++;
      if (term || trunc) {
        returns[ep] = info.episode.ret;
        succ[ep] = info.episode.success;
        diverged += info.diverged;
        for (int k = 0; k < s->n_metrics; k++) metric_sum[k] += info.episode.metrics[k];
        break;
      }
    }
    if (!json && episodes >= 20 && (ep + 1) % (episodes / 10) == 0) fprintf(stderr, "\r  %ld/%ld episodes", ep + 1, episodes);
  }
  if (!json && episodes >= 20) fprintf(stderr, "\n");

  // report
  double mean = 0, var = 0, sr = 0;
  for (long ep = 0; ep < episodes; ep++) { mean += returns[ep]; sr += succ[ep]; }
  mean /= episodes;
  sr /= episodes;
  for (long ep = 0; ep < episodes; ep++) var += (returns[ep] - mean) * (returns[ep] - mean);
  double sd = episodes > 1 ? sqrt(var / (episodes - 1)) : 0;
  double sps = step_time > 0 ? steps / step_time : 0;
  if (json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "env", env_name);
    cJSON_AddStringToObject(o, "policy", names[policy]);
    cJSON_AddNumberToObject(o, "episodes", (double)episodes);
    cJSON_AddNumberToObject(o, "seed", (double)seed);
    cJSON_AddNumberToObject(o, "mean_return", mean);
    cJSON_AddNumberToObject(o, "std_return", sd);
    cJSON_AddNumberToObject(o, "success_rate", sr);
    cJSON_AddNumberToObject(o, "steps", (double)steps);
    cJSON_AddNumberToObject(o, "steps_per_s", sps);
    cJSON_AddNumberToObject(o, "diverged", (double)diverged);
    cJSON_AddItemToObject(o, "returns", cJSON_CreateFloatArray(returns, (int)episodes));
    cJSON_AddItemToObject(o, "successes", cJSON_CreateFloatArray(succ, (int)episodes));
    cJSON *m = cJSON_AddObjectToObject(o, "metrics");
    for (int k = 0; k < s->n_metrics; k++) cJSON_AddNumberToObject(m, s->metric_names[k], metric_sum[k] / episodes);
    cJSON_AddRawToObject(o, "config", af_env_config_json(env));
    char *txt = cJSON_PrintUnformatted(o);
    printf("%s\n", txt);
    cJSON_free(txt);
    cJSON_Delete(o);
  } else {
    printf("%s  policy %s  episodes %ld  seed %ld\n", env_name, names[policy], episodes, seed);
    printf("  mean return   %.3f (sd %.3f)\n", mean, sd);
    printf("  success rate  %.3f (%d/%ld)\n", sr, (int)(sr * episodes + 0.5), episodes);
    for (int k = 0; k < s->n_metrics; k++) printf("  %-13s %.4f (mean)\n", s->metric_names[k], metric_sum[k] / episodes);
    printf("  speed         %.0f steps/s (%ld control steps in %.3f s)\n", sps, steps, step_time);
    if (diverged) printf("  diverged      %ld episodes\n", diverged);
  }
  rc = AF_EXIT_OK;

done:
  free(sets);
  free(cfg);
  free(obs);
  free(act);
  free(returns);
  free(succ);
  free(metric_sum);
  af_env_free(env);
  return rc;
}
