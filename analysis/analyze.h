// Analysis of an experiment folder: the runs aggregated per variant and evaluation setting
// into curves on the steps every run shares (IQM, mean, median, 95% stratified-bootstrap
// interval of the IQM), a final-performance table with the probability of improvement
// between variants, and learning-curve plots (PNG and SVG) through gnuplot. No argv here:
// `armfarm analyze` (experiments/analyze_cmd.c) parses options and calls af_analyze.
#ifndef AF_ANALYZE_H
#define AF_ANALYZE_H

#include <stddef.h>  // size_t

// what to analyse; af_analyze_default fills the defaults
typedef struct {
  const char *dir;     // the experiment folder: one folder per run with eval.csv (required)
  const char *out;     // where the results go; NULL: DIR/analysis
  const char *metric;  // the evaluation column: return, success, length, return_std or an episode metric
  long reps;           // bootstrap resamples of each curve point (default 2000)
  long final_reps;     // bootstrap resamples of the final-performance intervals (default 50000)
  long seed;           // the bootstrap's RNG seed (default 0)
  // the states a variant reached in training: the entropy of the histogram of a progress.csv
  // column (an environment's episode metric, e.g. the door's max_angle) over each run's
  // training episodes, per variant (IQM, 95% interval, probability of improvement); NULL: none
  const char *entropy;
  int bins;            // histogram bins (default 20)
  double lo, hi;       // the histogram's range; lo == hi (the default): the values' own range over all runs
} af_analyze_opts;

// what af_analyze found and wrote; af_analyze_report_free releases its strings
typedef struct {
  int runs, variants, evals;  // finished runs read, distinct variant labels, evaluation settings
  char *out;                  // the folder written: summary.md, summary.csv, curves_*.csv, plots
                              // (and entropy.csv with o.entropy)
  char *script;               // the gnuplot script in it (plots.gp)
  int plots_ok;               // 1 when gnuplot drew curves_*.png and .svg
  int nlog;                   // gnuplot's first output lines (at most three), each with its '\n'
  char log[3][512];
} af_analyze_report;

void af_analyze_default(af_analyze_opts *o);

// read the finished runs of o->dir, write the tables and plots into the output folder and
// fill `rep` (also on failure, for what was done); AF_OK (also when only gnuplot failed:
// rep->plots_ok says so), AF_ERR_ARG for an unknown metric, an unreadable folder, no finished
// runs or an evaluation file without the metric, AF_ERR_IO when the results cannot be
// written; the message goes to err
int af_analyze(const af_analyze_opts *o, af_analyze_report *rep, char *err, size_t errsz);

// free the report's strings; a zeroed report is fine
void af_analyze_report_free(af_analyze_report *rep);

#endif
