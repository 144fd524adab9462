// armfarm analyze: the runs of an experiment folder aggregated per variant and evaluation
// setting: curves on a common step grid (IQM, mean, median, 95% stratified-bootstrap interval
// of the IQM), a final-performance table with the probability of improvement between
// variants, and learning-curve plots (PNG and SVG) through gnuplot.
#include <dirent.h>    // opendir
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>
#include "analysis/stats.h"
#include "base/base.h"
#include "analysis/analyze.h"

#define MAX_RUNS 4096
#define MAX_EVALS 9
#define MAX_VARIANTS 256

typedef struct { int n; long *step; double *val; } series;
typedef struct {
  char *label;
  series ev[MAX_EVALS];  // per evaluation setting (index into eval names), n = 0 if absent
} run_data;

static char eval_names[MAX_EVALS][40];
static int n_evals;

static int eval_index(const char *name) {
  for (int i = 0; i < n_evals; i++)
    if (!strcmp(eval_names[i], name)) return i;
  if (n_evals == MAX_EVALS) return -1;
  snprintf(eval_names[n_evals], sizeof eval_names[0], "%s", name);
  return n_evals++;
}


// the (step, metric) pairs of an evaluation CSV; -1 if the metric is not a column
static int read_csv(const char *path, const char *metric, series *s) {
  char *t = af_read_file(path);
  if (!t) return -1;
  int col = -1, k = 0;
  char *line = strtok(t, "\n");
  if (line)
    for (char *c = line; c; c = strchr(c, ','), c = c ? c + 1 : NULL, k++)
      if (!strncmp(c, metric, strlen(metric)) && (c[strlen(metric)] == ',' || c[strlen(metric)] == 0 || c[strlen(metric)] == '\r')) col = k;
  if (col < 0) { free(t); return -1; }
  int cap = 64;
  s->step = malloc(sizeof(long) * cap);
  s->val = malloc(sizeof(double) * cap);
  s->n = 0;
  while ((line = strtok(NULL, "\n"))) {
    if (s->n == cap) { cap *= 2; s->step = realloc(s->step, sizeof(long) * cap); s->val = realloc(s->val, sizeof(double) * cap); }
    char *c = line;
    for (int i = 0; i < col && c; i++) { c = strchr(c, ','); if (c) c++; }
    if (!c) continue;
    s->step[s->n] = atol(line);
    s->val[s->n++] = atof(c);
  }
  free(t);
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// the value of a run's series at `step`, or NAN
static int value_at(const series *s, long step, double *v) {
  for (int i = 0; i < s->n; i++)
    if (s->step[i] == step) { *v = s->val[i]; return 1; }
  return 0;
}

static int run_gnuplot(const char *script) {
  char cmd[8400];
  snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>&1", script);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  char buf[512];
  int printed = 0;
  while (fgets(buf, sizeof buf, p))
    if (printed++ < 3) fprintf(stderr, "armfarm analyze: gnuplot: %s", buf);
  int st = pclose(p);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int af_cmd_analyze(int argc, char **argv) {
  const char *dir = NULL, *out = NULL, *metric = "return";
  long reps = 2000, final_reps = 50000, seed = 0;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      printf("usage: armfarm analyze DIR [--metric return|success|length] [--out DIR] [--reps N] [--final-reps N] [--seed S]\n"
             "  aggregates the runs of an experiment folder per variant and evaluation setting:\n"
             "  curves.csv files (IQM, mean, median, 95%% bootstrap interval of the IQM over %ld resamples),\n"
             "  summary.md and summary.csv (final performance, %ld resamples; probability of improvement),\n"
             "  and plots curves_EVAL.png/.svg and variant_N.png/.svg (gnuplot). Default output: DIR/analysis\n", reps, final_reps);
      return AF_EXIT_OK;
    }
    int takes = !strcmp(o, "--metric") || !strcmp(o, "--out") || !strcmp(o, "--reps") || !strcmp(o, "--final-reps") || !strcmp(o, "--seed");
    if (takes && !v) { fprintf(stderr, "armfarm analyze: %s needs a value\n", o); return AF_EXIT_USAGE; }
    if (!strcmp(o, "--metric")) metric = argv[++i];
    else if (!strcmp(o, "--out")) out = argv[++i];
    else if (!strcmp(o, "--reps")) { if ((reps = af_cli_long(o, argv[++i], 100, 1000000)) < 0) return AF_EXIT_USAGE; }
    else if (!strcmp(o, "--final-reps")) { if ((final_reps = af_cli_long(o, argv[++i], 100, 10000000)) < 0) return AF_EXIT_USAGE; }
    else if (!strcmp(o, "--seed")) { if ((seed = af_cli_long(o, argv[++i], 0, 2147483647)) < 0) return AF_EXIT_USAGE; }
    else if (o[0] == '-') { fprintf(stderr, "armfarm analyze: unknown option '%s'\n", o); return AF_EXIT_USAGE; }
    else if (!dir) dir = o;
    else { fprintf(stderr, "armfarm analyze: one folder only ('%s')\n", o); return AF_EXIT_USAGE; }
  }
  if (!dir) { fprintf(stderr, "armfarm analyze: a run folder DIR is required (try --help)\n"); return AF_EXIT_USAGE; }
  if (strcmp(metric, "return") && strcmp(metric, "success") && strcmp(metric, "length") && strcmp(metric, "return_std")) {
    fprintf(stderr, "armfarm analyze: unknown metric '%s' (return, success, length, return_std)\n", metric);
    return AF_EXIT_USAGE;
  }

  // ---- the runs: every folder with an eval.csv, finished if the runner says so ----
  DIR *d = opendir(dir);
  if (!d) { fprintf(stderr, "armfarm analyze: cannot open %s\n", dir); return AF_EXIT_USAGE; }
  static run_data runs[MAX_RUNS];
  int nr = 0;
  n_evals = 0;
  eval_index("train");
  struct dirent *de;
  char path[4400];
  while ((de = readdir(d)) && nr < MAX_RUNS) {
    if (de->d_name[0] == '.' || !strcmp(de->d_name, "analysis")) continue;
    char rd[4200];
    snprintf(rd, sizeof rd, "%s/%s", dir, de->d_name);
    snprintf(path, sizeof path, "%s/eval.csv", rd);
    struct stat st;
    if (stat(path, &st) != 0) continue;
    snprintf(path, sizeof path, "%s/status.json", rd);
    char *stt = af_read_file(path);
    if (stt && !strstr(stt, "\"finished\"")) { free(stt); continue; }
    free(stt);
    run_data *r = &runs[nr];
    memset(r, 0, sizeof *r);
    snprintf(path, sizeof path, "%s/manifest.json", rd);
    char *mt = af_read_file(path);
    cJSON *m = mt ? cJSON_Parse(mt) : NULL;
    const cJSON *lab = m ? cJSON_GetObjectItemCaseSensitive(m, "variant") : NULL;
    r->label = strdup(cJSON_IsString(lab) ? lab->valuestring : "default");
    cJSON_Delete(m);
    free(mt);
    // every evaluation setting of the run
    DIR *rdir = opendir(rd);
    struct dirent *fe;
    while (rdir && (fe = readdir(rdir))) {
      size_t L = strlen(fe->d_name);
      if (strncmp(fe->d_name, "eval", 4) || L < 8 || strcmp(fe->d_name + L - 4, ".csv")) continue;
      char en[40] = "train";
      if (fe->d_name[4] == '_') snprintf(en, sizeof en, "%.*s", (int)(L - 9), fe->d_name + 5);
      int ei = eval_index(en);
      if (ei < 0) continue;
      snprintf(path, sizeof path, "%s/%s", rd, fe->d_name);
      if (read_csv(path, metric, &r->ev[ei])) { fprintf(stderr, "armfarm analyze: %s has no column '%s'\n", path, metric); closedir(rdir); closedir(d); return AF_EXIT_USAGE; }
    }
    if (rdir) closedir(rdir);
    nr++;
  }
  closedir(d);
  if (nr == 0) { fprintf(stderr, "armfarm analyze: no finished runs with an eval.csv in %s\n", dir); return AF_EXIT_USAGE; }

  // ---- the variants, sorted by label ----
  char *labels[MAX_VARIANTS];
  int nv = 0;
  for (int i = 0; i < nr; i++) {
    int seen = 0;
    for (int v = 0; v < nv; v++) seen |= !strcmp(labels[v], runs[i].label);
    if (!seen && nv < MAX_VARIANTS) labels[nv++] = runs[i].label;
  }
  qsort(labels, (size_t)nv, sizeof(char *), cmp_str);

  char outbuf[4200];
  if (!out) { snprintf(outbuf, sizeof outbuf, "%s/analysis", dir); out = outbuf; }
  mkdir(out, 0755);
  snprintf(path, sizeof path, "%s/summary.csv", out);
  FILE *sc = fopen(path, "w");
  snprintf(path, sizeof path, "%s/summary.md", out);
  FILE *sm = fopen(path, "w");
  if (!sc || !sm) { fprintf(stderr, "armfarm analyze: cannot write in %s\n", out); if (sc) fclose(sc); if (sm) fclose(sm); return AF_EXIT_FAIL; }
  fprintf(sc, "variant,eval,n,iqm,mean,median,ci_low,ci_high\n");
  fprintf(sm, "# %s: final %s\n\nIQM, mean and median over runs at the last evaluation step they share; 95%% interval of the IQM by percentile bootstrap (%ld resamples, seed %ld).\n\n",
          dir, metric, final_reps, seed);
  fprintf(sm, "| variant | eval | n | step | IQM | 95%% CI | mean | median |\n|---|---|---|---|---|---|---|---|\n");

  af_rng rng;
  af_rng_seed(&rng, (uint64_t)seed);
  double *vals = malloc(sizeof(double) * nr), *work = malloc(sizeof(double) * (2 * (size_t)nr + (size_t)(final_reps > reps ? final_reps : reps)));
  double *finals[MAX_EVALS][MAX_VARIANTS];
  int nfin[MAX_EVALS][MAX_VARIANTS];
  memset(nfin, 0, sizeof nfin);
  char script[4400];
  snprintf(script, sizeof script, "%s/plots.gp", out);
  FILE *gp = fopen(script, "w");
  char datafiles[MAX_EVALS][MAX_VARIANTS][64];
  int has_curve[MAX_EVALS][MAX_VARIANTS];
  memset(has_curve, 0, sizeof has_curve);

  for (int e = 0; e < n_evals; e++) {
    snprintf(path, sizeof path, "%s/curves_%s.csv", out, eval_names[e]);
    FILE *cf = fopen(path, "w");
    fprintf(cf, "variant,step,n,iqm,mean,median,ci_low,ci_high\n");
    for (int v = 0; v < nv; v++) {
      // this variant's runs that have this evaluation, and the steps all of them share
      int members[MAX_RUNS], nm = 0;
      for (int i = 0; i < nr; i++)
        if (!strcmp(runs[i].label, labels[v]) && runs[i].ev[e].n > 0) members[nm++] = i;
      finals[e][v] = calloc((size_t)(nm ? nm : 1), sizeof(double));
      if (nm == 0) continue;
      const series *s0 = &runs[members[0]].ev[e];
      snprintf(datafiles[e][v], sizeof datafiles[0][0], "curve_%s_%d.dat", eval_names[e], v);
      snprintf(path, sizeof path, "%s/%s", out, datafiles[e][v]);
      FILE *df = fopen(path, "w");
      long last = -1;
      for (int k = 0; k < s0->n; k++) {
        long step = s0->step[k];
        int all = 1;
        for (int j = 0; j < nm && all; j++) all = value_at(&runs[members[j]].ev[e], step, &vals[j]);
        if (!all) continue;
        double lo, hi, iqm = af_stats_iqm(vals, nm, work), mean = af_stats_mean(vals, nm), med = af_stats_median(vals, nm, work);
        af_stats_bootstrap_ci(&lo, &hi, AF_STAT_IQM, vals, nm, (int)reps, &rng, work);
        fprintf(cf, "\"%s\",%ld,%d,%.6g,%.6g,%.6g,%.6g,%.6g\n", labels[v], step, nm, iqm, mean, med, lo, hi);
        fprintf(df, "%ld %.6g %.6g %.6g\n", step, iqm, lo, hi);
        last = step;
      }
      fclose(df);
      has_curve[e][v] = last >= 0;
      if (last < 0) continue;
      // final performance at the last shared step
      for (int j = 0; j < nm; j++) value_at(&runs[members[j]].ev[e], last, &finals[e][v][j]);
      nfin[e][v] = nm;
      double lo, hi, *fv = finals[e][v];
      double iqm = af_stats_iqm(fv, nm, work), mean = af_stats_mean(fv, nm), med = af_stats_median(fv, nm, work);
      af_stats_bootstrap_ci(&lo, &hi, AF_STAT_IQM, fv, nm, (int)final_reps, &rng, work);
      fprintf(sc, "\"%s\",%s,%d,%.6g,%.6g,%.6g,%.6g,%.6g\n", labels[v], eval_names[e], nm, iqm, mean, med, lo, hi);
      fprintf(sm, "| %s | %s | %d | %ld | %.4g | [%.4g, %.4g] | %.4g | %.4g |\n", labels[v], eval_names[e], nm, last, iqm, lo, hi, mean, med);
    }
    fclose(cf);
  }
  // probability of improvement between every pair of variants
  if (nv > 1) {
    fprintf(sm, "\n## Probability of improvement\n\nP(row > column) on the final %s, over all pairs of runs (ties count half).\n", metric);
    for (int e = 0; e < n_evals; e++) {
      fprintf(sm, "\n%s:\n\n| | ", eval_names[e]);
      for (int v = 0; v < nv; v++) fprintf(sm, "%s | ", labels[v]);
      fprintf(sm, "\n|---|");
      for (int v = 0; v < nv; v++) fprintf(sm, "---|");
      fprintf(sm, "\n");
      for (int a = 0; a < nv; a++) {
        fprintf(sm, "| %s | ", labels[a]);
        for (int b = 0; b < nv; b++) {
          if (a == b || !nfin[e][a] || !nfin[e][b]) fprintf(sm, "- | ");
          else fprintf(sm, "%.3f | ", af_stats_prob_improvement(finals[e][a], nfin[e][a], finals[e][b], nfin[e][b]));
        }
        fprintf(sm, "\n");
      }
    }
  }
  fclose(sc);
  fclose(sm);

  // ---- plots: per evaluation setting (variants together), per variant (settings together) ----
  const char *terms[2][2] = {{"pngcairo size 960,600 font ',11'", "png"}, {"svg size 960,600 dynamic", "svg"}};
  for (int t = 0; t < 2; t++) {
    fprintf(gp, "set terminal %s\nset grid\nset key bottom right\nset xlabel 'environment steps'\nset ylabel 'evaluation %s (IQM)'\n", terms[t][0], metric);
    fprintf(gp, "set style fill transparent solid 0.2 noborder\nset termoption noenhanced\n");
    for (int e = 0; e < n_evals; e++) {
      int any = 0;
      for (int v = 0; v < nv; v++) any |= has_curve[e][v];
      if (!any) continue;
      fprintf(gp, "set output '%s/curves_%s.%s'\nset title '%s: %s, IQM and 95%% bootstrap interval'\nplot ", out, eval_names[e], terms[t][1], eval_names[e], metric);
      int first = 1;
      for (int v = 0; v < nv; v++) {
        if (!has_curve[e][v]) continue;
        fprintf(gp, "%s'%s/%s' using 1:3:4 with filledcurves lc %d notitle, '%s/%s' using 1:2 with lines lw 2 lc %d title '%s'", first ? "" : ", ",
                out, datafiles[e][v], v + 1, out, datafiles[e][v], v + 1, labels[v]);
        first = 0;
      }
      fprintf(gp, "\n");
    }
    for (int v = 0; v < nv && n_evals > 1; v++) {
      fprintf(gp, "set output '%s/variant_%d.%s'\nset title '%s: %s per evaluation setting'\nplot ", out, v, terms[t][1], labels[v], metric);
      int first = 1;
      for (int e = 0; e < n_evals; e++) {
        if (!has_curve[e][v]) continue;
        fprintf(gp, "%s'%s/%s' using 1:3:4 with filledcurves lc %d notitle, '%s/%s' using 1:2 with lines lw 2 lc %d title '%s'", first ? "" : ", ",
                out, datafiles[e][v], e + 1, out, datafiles[e][v], e + 1, eval_names[e]);
        first = 0;
      }
      fprintf(gp, "\n");
    }
  }
  fclose(gp);
  int plots = run_gnuplot(script);

  printf("%d runs in %d variant%s and %d evaluation setting%s -> %s/summary.md, summary.csv, curves_*.csv%s\n", nr, nv, nv > 1 ? "s" : "", n_evals,
         n_evals > 1 ? "s" : "", out, plots == 0 ? ", curves_*.png and .svg" : "");
  for (int e = 0; e < n_evals; e++)
    for (int v = 0; v < nv; v++) free(finals[e][v]);
  for (int i = 0; i < nr; i++) {
    free(runs[i].label);
    for (int e = 0; e < MAX_EVALS; e++) { free(runs[i].ev[e].step); free(runs[i].ev[e].val); }
  }
  free(vals);
  free(work);
  if (plots) { fprintf(stderr, "armfarm analyze: plots failed (is gnuplot installed? scripts/setup.sh installs gnuplot-nox); script: %s\n", script); return AF_EXIT_FAIL; }
  return AF_EXIT_OK;
}
