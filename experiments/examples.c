// armfarm examples: write K observations of successful outcomes of an environment (solved
// states that settled and still pass the success test) for reward-learning agents such as
// VICE. CSV with a header row obs_0..obs_{n-1}; written to a temporary file, then renamed,
// so an existing file is never left half-written.
#include <stdio.h>
#include <stdlib.h>  // calloc, free
#include <string.h>  // strcmp

#include "envs/env.h"
#include "experiments/cli.h"

static void examples_usage(FILE *f) {
  fprintf(f,
    "usage: armfarm examples --env NAME --count K --out FILE [--seed S] [--config FILE] [--set key=value]...\n"
    "  writes K observations of successful outcomes (a solved state, settled for one second)\n"
    "  as CSV: a header obs_0,...,obs_N-1 and one row per example\n");
}

int af_cmd_examples(int argc, char **argv) {
  const char *env_name = NULL, *out = NULL, *config_file = NULL;
  long count = -1, seed = 0;
  char **sets = calloc((size_t)argc + 1, sizeof *sets);
  int nsets = 0, rc = AF_EXIT_USAGE;
  char *cfg = NULL;
  af_env *env = NULL;
  float *obs = NULL;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) { examples_usage(stdout); rc = AF_EXIT_OK; goto done; }
    int takes = !strcmp(o, "--env") || !strcmp(o, "--count") || !strcmp(o, "--seed") || !strcmp(o, "--out") ||
                !strcmp(o, "--set") || !strcmp(o, "--config");
    if (!takes) { fprintf(stderr, "armfarm examples: unknown option '%s' (try --help)\n", o); goto done; }
    if (!val) { fprintf(stderr, "armfarm examples: %s needs a value\n", o); goto done; }
    i++;
    if (!strcmp(o, "--env")) env_name = val;
    else if (!strcmp(o, "--out")) out = val;
    else if (!strcmp(o, "--config")) config_file = val;
    else if (!strcmp(o, "--set")) sets[nsets++] = (char *)val;
    else if (!strcmp(o, "--count")) { if ((count = af_cli_long(o, val, 1, 1000000)) < 0) goto done; }
    else if ((seed = af_cli_long(o, val, 0, 0x7fffffffffffffffL)) < 0) goto done;
  }
  if (!env_name || !out || count < 0) { fprintf(stderr, "armfarm examples: --env, --count and --out are required (try --help)\n"); goto done; }
  if (!(cfg = af_cli_env_config(config_file, sets, nsets))) goto done;
  char err[512];
  if (!(env = af_env_make(env_name, cfg, err, sizeof err))) { fprintf(stderr, "armfarm examples: %s\n", err); goto done; }
  const af_env_spec *s = af_env_get_spec(env);
  obs = calloc((size_t)count * s->obs_dim, sizeof *obs);
  if (!obs) { fprintf(stderr, "armfarm examples: out of memory\n"); rc = AF_EXIT_FAIL; goto done; }

  // the examples, then the file
  rc = AF_EXIT_FAIL;
  double t0 = af_now();
  int src = af_env_success_examples(env, (uint64_t)seed, (int)count, obs);
  if (src) { fprintf(stderr, "armfarm examples: %s\n", af_env_last_error(env)); rc = src == AF_ERR_UNSUP ? AF_EXIT_USAGE : AF_EXIT_FAIL; goto done; }
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", out);
  FILE *f = fopen(tmp, "w");
  if (!f) { fprintf(stderr, "armfarm examples: cannot write %s\n", tmp); goto done; }
  for (int j = 0; j < s->obs_dim; j++) fprintf(f, "%sobs_%d", j ? "," : "", j);
  fprintf(f, "\n");
  for (long k = 0; k < count; k++) {
    for (int j = 0; j < s->obs_dim; j++) fprintf(f, "%s%.9g", j ? "," : "", obs[k * s->obs_dim + j]);
    fprintf(f, "\n");
  }
  if (fclose(f) != 0 || rename(tmp, out) != 0) {
    fprintf(stderr, "armfarm examples: cannot write %s\n", out);
    remove(tmp);
    goto done;
  }
  printf("%ld success examples of %s (seed %ld, %d floats each) in %s (%.2f s)\n", count, env_name, seed, s->obs_dim, out, af_now() - t0);
  rc = AF_EXIT_OK;

done:
  free(sets);
  free(cfg);
  free(obs);
  af_env_free(env);
  return rc;
}
