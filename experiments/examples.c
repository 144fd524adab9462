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

// the options of armfarm examples
typedef struct {
  const char *env_name, *out, *config_file;
  long count, seed;
  char **sets;  // the --set values (argc entries)
  int nsets;
} examples_opts;

// the options into o; AF_CLI_GO_ON, or the exit code to stop with
static int parse_examples_opts(int argc, char **argv, examples_opts *o) {
  *o = (examples_opts){.count = -1, .sets = calloc((size_t)argc + 1, sizeof(char *))};
  if (!o->sets) { fprintf(stderr, "armfarm examples: out of memory\n"); return AF_EXIT_FAIL; }
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) { examples_usage(stdout); return AF_EXIT_OK; }
    int takes = !strcmp(opt, "--env") || !strcmp(opt, "--count") || !strcmp(opt, "--seed") || !strcmp(opt, "--out") ||
                !strcmp(opt, "--set") || !strcmp(opt, "--config");
    if (!takes) { fprintf(stderr, "armfarm examples: unknown option '%s' (try --help)\n", opt); return AF_EXIT_USAGE; }
    if (!val) { fprintf(stderr, "armfarm examples: %s needs a value\n", opt); return AF_EXIT_USAGE; }
    i++;
    if (!strcmp(opt, "--env")) o->env_name = val;
    else if (!strcmp(opt, "--out")) o->out = val;
    else if (!strcmp(opt, "--config")) o->config_file = val;
    else if (!strcmp(opt, "--set")) o->sets[o->nsets++] = (char *)val;
    else if (!strcmp(opt, "--count")) { if ((o->count = af_cli_long(opt, val, 1, 1000000)) < 0) return AF_EXIT_USAGE; }
    else if ((o->seed = af_cli_long(opt, val, 0, 0x7fffffffffffffffL)) < 0) return AF_EXIT_USAGE;
  }
  if (!o->env_name || !o->out || o->count < 0) { fprintf(stderr, "armfarm examples: --env, --count and --out are required (try --help)\n"); return AF_EXIT_USAGE; }
  return AF_CLI_GO_ON;
}

// the CSV through a temporary file beside it and a rename; 0, or -1 after a message
static int write_examples(const char *out, const float *obs, long count, int dim) {
  char *tmp = af_strfmt("%s.tmp", out);
  FILE *f = tmp ? fopen(tmp, "w") : NULL;
  if (!f) { fprintf(stderr, "armfarm examples: cannot write %s\n", tmp ? tmp : out); free(tmp); return -1; }
  // a header obs_0..obs_{dim-1}, then one row per example
  for (int j = 0; j < dim; j++) fprintf(f, "%sobs_%d", j ? "," : "", j);
  fprintf(f, "\n");
  for (long k = 0; k < count; k++) {
    for (int j = 0; j < dim; j++) fprintf(f, "%s%.9g", j ? "," : "", obs[k * dim + j]);
    fprintf(f, "\n");
  }
  int rc = fclose(f) != 0 || rename(tmp, out) != 0 ? -1 : 0;
  if (rc) { fprintf(stderr, "armfarm examples: cannot write %s\n", out); remove(tmp); }
  free(tmp);
  return rc;
}

// the environment, its success examples, the file; the exit code
static int examples(const examples_opts *o) {
  char err[512], *cfg = af_cli_env_config(o->config_file, o->sets, o->nsets);
  if (!cfg) return AF_EXIT_USAGE;
  af_env *env = af_env_make(o->env_name, cfg, err, sizeof err);
  free(cfg);
  if (!env) { fprintf(stderr, "armfarm examples: %s\n", err); return AF_EXIT_USAGE; }
  const af_env_spec *s = af_env_get_spec(env);
  float *obs = calloc((size_t)o->count * s->obs_dim, sizeof *obs);
  int rc = AF_EXIT_FAIL;
  double t0 = af_now();
  if (!obs) fprintf(stderr, "armfarm examples: out of memory\n");
  else if ((rc = af_env_success_examples(env, (uint64_t)o->seed, (int)o->count, obs))) {
    fprintf(stderr, "armfarm examples: %s\n", af_env_last_error(env));
    rc = rc == AF_ERR_UNSUP ? AF_EXIT_USAGE : AF_EXIT_FAIL;
  } else if (write_examples(o->out, obs, o->count, s->obs_dim)) rc = AF_EXIT_FAIL;
  else {
    printf("%ld success examples of %s (seed %ld, %d floats each) in %s (%.2f s)\n", o->count, o->env_name, o->seed, s->obs_dim, o->out, af_now() - t0);
    rc = AF_EXIT_OK;
  }
  free(obs);
  af_env_free(env);
  return rc;
}

int af_cmd_examples(int argc, char **argv) {
  examples_opts o;
  int rc = parse_examples_opts(argc, argv, &o);
  if (rc == AF_CLI_GO_ON) rc = examples(&o);
  free(o.sets);
  return rc;
}
