// armfarm analyze: the options of the command, af_analyze (analysis/analyze.h) over them, and
// its report and exit status.
#include <stdio.h>   // printf, fprintf
#include <string.h>  // strcmp

#include "analysis/analyze.h"
#include "experiments/cli.h"

static void analyze_usage(const af_analyze_opts *o) {
  printf("usage: armfarm analyze DIR [--metric M] [--out DIR] [--reps N] [--final-reps N] [--seed S]\n"
         "                       [--entropy COLUMN [--bins N] [--range LO:HI]]\n"
         "  M: a column of the evaluation files: return (default), success, length, return_std, or one of the\n"
         "  environment's episode metrics (armfarm envs lists them; e.g. progress, distance, mean_speed)\n"
         "  aggregates the runs of an experiment folder per variant and evaluation setting:\n"
         "  curves.csv files (IQM, mean, median, 95%% bootstrap interval of the IQM over %ld resamples),\n"
         "  summary.md and summary.csv (final performance, %ld resamples; probability of improvement),\n"
         "  and plots curves_EVAL.png/.svg and variant_N.png/.svg (gnuplot). Default output: DIR/analysis\n"
         "  --entropy COLUMN: how much of a quantity the training reached, per variant: the entropy of each run's\n"
         "  histogram of a progress.csv column (an episode metric, e.g. max_angle for the door) over its training\n"
         "  episodes, in N bins (default %d) over [LO, HI] (default: the values' range over all runs), into\n"
         "  entropy.csv and summary.md (IQM, 95%% interval, probability of improvement)\n", o->reps, o->final_reps, o->bins);
}

// --range LO:HI, finite and LO below HI; 0, or -1 after saying why
static int parse_range(const char *v, af_analyze_opts *o) {
  const char *colon = strchr(v, ':');
  char lo[64];
  size_t n = colon ? (size_t)(colon - v) : 0;
  if (colon && n < sizeof lo) { memcpy(lo, v, n); lo[n] = 0; }
  if (!colon || n >= sizeof lo || af_parse_double(lo, -1e300, 1e300, &o->lo) || af_parse_double(colon + 1, -1e300, 1e300, &o->hi) ||
      !(o->lo < o->hi)) {
    fprintf(stderr, "armfarm analyze: --range '%s': expected LO:HI with finite LO below HI (e.g. 0:1.2)\n", v);
    return -1;
  }
  return 0;
}

// the options into o; AF_CLI_GO_ON, or the exit code to stop with
static int parse_analyze_opts(int argc, char **argv, af_analyze_opts *o) {
  af_analyze_default(o);
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) { analyze_usage(o); return AF_EXIT_OK; }
    int takes = !strcmp(opt, "--metric") || !strcmp(opt, "--out") || !strcmp(opt, "--reps") || !strcmp(opt, "--final-reps") || !strcmp(opt, "--seed") ||
                !strcmp(opt, "--entropy") || !strcmp(opt, "--bins") || !strcmp(opt, "--range");
    if (takes && !v) { fprintf(stderr, "armfarm analyze: %s needs a value\n", opt); return AF_EXIT_USAGE; }
    if (!strcmp(opt, "--metric")) o->metric = argv[++i];
    else if (!strcmp(opt, "--out")) o->out = argv[++i];
    else if (!strcmp(opt, "--reps")) { if ((o->reps = af_cli_long(opt, argv[++i], 100, 1000000)) < 0) return AF_EXIT_USAGE; }
    else if (!strcmp(opt, "--final-reps")) { if ((o->final_reps = af_cli_long(opt, argv[++i], 100, 10000000)) < 0) return AF_EXIT_USAGE; }
    else if (!strcmp(opt, "--seed")) { if ((o->seed = af_cli_long(opt, argv[++i], 0, 2147483647)) < 0) return AF_EXIT_USAGE; }
    else if (!strcmp(opt, "--entropy")) o->entropy = argv[++i];
    else if (!strcmp(opt, "--bins")) { if ((o->bins = (int)af_cli_long(opt, argv[++i], 1, 100000)) < 0) return AF_EXIT_USAGE; }
    else if (!strcmp(opt, "--range")) { if (parse_range(argv[++i], o)) return AF_EXIT_USAGE; }
    else if (opt[0] == '-') { fprintf(stderr, "armfarm analyze: unknown option '%s'\n", opt); return AF_EXIT_USAGE; }
    else if (!o->dir) o->dir = opt;
    else { fprintf(stderr, "armfarm analyze: one folder only ('%s')\n", opt); return AF_EXIT_USAGE; }
  }
  if (!o->dir) { fprintf(stderr, "armfarm analyze: a run folder DIR is required (try --help)\n"); return AF_EXIT_USAGE; }
  return AF_CLI_GO_ON;
}

// what was written, and gnuplot's complaints when the plots failed; the exit code
static int report(const af_analyze_report *r) {
  for (int k = 0; k < r->nlog; k++) fprintf(stderr, "armfarm analyze: gnuplot: %s", r->log[k]);
  printf("%d runs in %d variant%s and %d evaluation setting%s -> %s/summary.md, summary.csv, curves_*.csv%s\n", r->runs, r->variants,
         r->variants > 1 ? "s" : "", r->evals, r->evals > 1 ? "s" : "", r->out, r->plots_ok ? ", curves_*.png and .svg" : "");
  if (r->plots_ok) return AF_EXIT_OK;
  fprintf(stderr, "armfarm analyze: plots failed (is gnuplot installed? scripts/setup.sh installs gnuplot-nox); script: %s\n", r->script);
  return AF_EXIT_FAIL;
}

int af_cmd_analyze(int argc, char **argv) {
  // the options
  af_analyze_opts o;
  int rc = parse_analyze_opts(argc, argv, &o);
  if (rc != AF_CLI_GO_ON) return rc;
  // the analysis: a bad folder or metric is a usage error, a write failure a run-time one
  af_analyze_report rep;
  char err[8192];  // room for a message naming a path of PATH_MAX bytes
  int src = af_analyze(&o, &rep, err, sizeof err);
  if (src == AF_OK) {
    if (o.entropy) printf("entropy of %s over the training episodes -> %s/entropy.csv and summary.md\n", o.entropy, rep.out);
    rc = report(&rep);
  } else {
    fprintf(stderr, "armfarm analyze: %s\n", err);
    rc = src == AF_ERR_ARG ? AF_EXIT_USAGE : AF_EXIT_FAIL;
  }
  af_analyze_report_free(&rep);
  return rc;
}
