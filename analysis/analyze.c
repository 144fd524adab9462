// Analysis of an experiment folder (analysis/analyze.h): the finished runs read into curves,
// grouped by variant label and evaluation setting, aggregated on the steps all members share,
// written as CSV and Markdown tables and plotted through gnuplot. Every name, path and count
// here comes from the folder, so nothing is held in a fixed-size buffer or array.
#include <ctype.h>     // isalnum
#include <math.h>      // INFINITY, isfinite, log
#include <dirent.h>    // opendir, readdir
#include <stdio.h>     // FILE, fprintf
#include <stdlib.h>    // malloc, realloc, qsort
#include <string.h>    // strcmp, strncmp, strdup
#include <sys/stat.h>  // stat, mkdir

#include <cjson/cJSON.h>
#include "analysis/analyze.h"
#include "analysis/stats.h"
#include "base/base.h"

// one evaluation curve of one run: (step, value) pairs in file order
typedef struct { int n; long *step; double *val; } series;

// one finished run: its variant label and a curve per evaluation setting
typedef struct {
  char *label;
  int nev;     // curves held; settings from nev on are absent in this run
  series *ev;  // indexed like the analysis's evaluation names; n = 0 if absent
  series levels;  // with a curriculum: each training episode's level (progress.csv), else n = 0
  series visits;  // with o.entropy: that column of every training episode (progress.csv)
  // with a learned reward (eval.csv has learned_success): the classifier's mean success
  // probability and the true success per evaluation, and over one episode
  // (classifier_episode.csv); else n = 0
  series learned, truth, ep_learned, ep_truth;
  long seed;
} run_data;

// a growable list of strings
typedef struct { char **s; int n, cap; } strlist;

// the whole analysis: the runs, the names, per (evaluation, variant) results and scratch
typedef struct {
  const af_analyze_opts *o;
  const char *out;
  run_data *runs;
  int nr, rcap;
  strlist evals;          // evaluation setting names (owned), "train" first
  strlist labels;         // variant labels (borrowed from the runs), sorted
  double **finals;        // [e * nv + v]: each member's value at the last shared step
  int *nfin, *has_curve;  // [e * nv + v]: members with a final value; a curve was written
  int *members;           // scratch: the runs of one variant (nr)
  double *vals, *work;    // scratch: one value per run (nr); statistics (2 nr + reps)
  af_rng rng;
  int max_level;          // the highest curriculum level of any run; -1: no curriculum
  int learned;            // some run has a learned reward's columns
  int *learned_ok;        // [v]: the variant's learned-against-true curve was written
  long *ep_seed;          // [v]: the seed of the run whose episode was written, -1: none
} analysis;

void af_analyze_default(af_analyze_opts *o) {
  *o = (af_analyze_opts){.dir = NULL, .out = NULL, .metric = "return", .reps = 2000, .final_reps = 50000, .seed = 0, .entropy = NULL,
                         .bins = 20, .lo = 0, .hi = 0};
}

// ---- small containers ----

static int list_find(const strlist *l, const char *name) {
  for (int i = 0; i < l->n; i++)
    if (!strcmp(l->s[i], name)) return i;
  return -1;
}

// append s (the list takes it as it is); -1 when out of memory
static int list_push(strlist *l, char *s) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    char **ns = realloc(l->s, sizeof *ns * (size_t)cap);
    if (!ns) return -1;
    l->s = ns;
    l->cap = cap;
  }
  l->s[l->n++] = s;
  return 0;
}

// the index of evaluation setting `name`, added when new; -1 when out of memory
static int eval_index(analysis *a, const char *name) {
  int i = list_find(&a->evals, name);
  if (i >= 0) return i;
  char *copy = strdup(name);
  if (!copy || list_push(&a->evals, copy)) { free(copy); return -1; }
  return a->evals.n - 1;
}

// run r's curve of evaluation e; an empty one when the run lacks it
static const series *curve(const run_data *r, int e) {
  static const series none = {0, NULL, NULL};
  return e < r->nev ? &r->ev[e] : &none;
}

// ---- reading the runs ----

// the (step, metric) pairs of an evaluation CSV; -1 if the metric is not a column (or no memory)
static int read_csv(const char *path, const char *metric, series *s) {
  char *t = af_read_file(path);
  if (!t) return -1;
  // the metric's column in the header
  size_t ml = strlen(metric);
  int col = -1, k = 0;
  char *line = strtok(t, "\n");
  if (line)
    for (char *c = line; c; c = strchr(c, ','), c = c ? c + 1 : NULL, k++)
      if (!strncmp(c, metric, ml) && (c[ml] == ',' || c[ml] == 0 || c[ml] == '\r')) col = k;
  if (col < 0) { free(t); return -1; }
  // the rows: the step first, the metric in its column
  int cap = 64, ok = 1;
  s->n = 0;
  s->step = malloc(sizeof(long) * cap);
  s->val = malloc(sizeof(double) * cap);
  while (ok && s->step && s->val && (line = strtok(NULL, "\n"))) {
    if (s->n == cap) {
      cap *= 2;
      long *ns = realloc(s->step, sizeof(long) * cap);
      if (ns) s->step = ns;
      double *nv = realloc(s->val, sizeof(double) * cap);
      if (nv) s->val = nv;
      ok = ns && nv;
      if (!ok) break;
    }
    char *c = line;
    for (int i = 0; i < col && c; i++) { c = strchr(c, ','); if (c) c++; }
    if (!c) continue;
    s->step[s->n] = atol(line);
    s->val[s->n++] = atof(c);
  }
  free(t);
  return ok && s->step && s->val ? 0 : -1;
}

// the evaluation setting of a run file: "train" for eval.csv (and evalX.csv), NAME for
// eval_NAME.csv; NULL when the file is no evaluation file (or no memory)
static char *eval_name_of(const char *file) {
  size_t L = strlen(file);
  if (strncmp(file, "eval", 4) || L < 8 || strcmp(file + L - 4, ".csv")) return NULL;
  if (file[4] != '_') return strdup("train");
  return af_strfmt("%.*s", (int)(L - 9), file + 5);
}

// is rd a finished run: an eval.csv, and a status.json, if there is one, that says finished
static int is_finished_run(const char *rd) {
  char *ev = af_path_join(rd, "eval.csv"), *sp = af_path_join(rd, "status.json");
  struct stat st;
  int yes = ev && sp && stat(ev, &st) == 0;
  char *stt = yes ? af_read_file(sp) : NULL;
  if (stt && !strstr(stt, "\"finished\"")) yes = 0;
  free(stt);
  free(ev);
  free(sp);
  return yes;
}

// the run's variant label from its manifest, "default" without one, and its seed (0 without one)
static char *run_label(const char *rd, long *seed) {
  char *path = af_path_join(rd, "manifest.json");
  char *mt = path ? af_read_file(path) : NULL;
  cJSON *m = mt ? cJSON_Parse(mt) : NULL;
  const cJSON *lab = m ? cJSON_GetObjectItemCaseSensitive(m, "variant") : NULL, *sd = m ? cJSON_GetObjectItemCaseSensitive(m, "seed") : NULL;
  char *label = strdup(cJSON_IsString(lab) ? lab->valuestring : "default");
  *seed = cJSON_IsNumber(sd) ? (long)sd->valuedouble : 0;
  cJSON_Delete(m);
  free(mt);
  free(path);
  return label;
}

// a series read from path's column, or left empty (absent file or column, or no memory)
static void read_optional(const char *rd, const char *file, const char *column, series *s) {
  char *path = af_path_join(rd, file);
  if (!path || read_csv(path, column, s)) {
    free(s->step);
    free(s->val);
    memset(s, 0, sizeof *s);
  }
  free(path);
}

// a learned reward's columns: the classifier against the truth per evaluation and over one
// episode, when eval.csv has learned_success
static void read_learned(analysis *a, const char *rd, run_data *r) {
  read_optional(rd, "eval.csv", "learned_success", &r->learned);
  if (r->learned.n == 0) return;
  read_optional(rd, "eval.csv", "success", &r->truth);
  read_optional(rd, "classifier_episode.csv", "learned_success", &r->ep_learned);
  read_optional(rd, "classifier_episode.csv", "success", &r->ep_truth);
  a->learned = 1;
}

// room for run r to hold evaluation e's curve
static int grow_curves(run_data *r, int e) {
  if (e < r->nev) return 0;
  series *ns = realloc(r->ev, sizeof *ns * (size_t)(e + 1));
  if (!ns) return -1;
  memset(ns + r->nev, 0, sizeof *ns * (size_t)(e + 1 - r->nev));
  r->ev = ns;
  r->nev = e + 1;
  return 0;
}

// every evaluation file of run folder rd into r
static int read_run_curves(analysis *a, const char *rd, run_data *r, char *err, size_t errsz) {
  DIR *rdir = opendir(rd);
  struct dirent *fe;
  int rc = AF_OK;
  while (rc == AF_OK && rdir && (fe = readdir(rdir))) {
    char *en = eval_name_of(fe->d_name);
    if (!en) continue;
    int e = eval_index(a, en);
    char *path = af_path_join(rd, fe->d_name);
    if (e < 0 || !path || grow_curves(r, e)) { snprintf(err, errsz, "out of memory"); rc = AF_ERR_IO; }
    else if (read_csv(path, a->o->metric, &r->ev[e])) { snprintf(err, errsz, "%s has no column '%s'", path, a->o->metric); rc = AF_ERR_ARG; }
    free(path);
    free(en);
  }
  if (rdir) closedir(rdir);
  // a curriculum run's levels (progress.csv without a level column: none)
  char *pp = rc == AF_OK ? af_path_join(rd, "progress.csv") : NULL;
  if (pp && read_csv(pp, "level", &r->levels)) {
    free(r->levels.step);
    free(r->levels.val);
    memset(&r->levels, 0, sizeof r->levels);
  }
  for (int i = 0; i < r->levels.n; i++)
    if (r->levels.val[i] > a->max_level && r->levels.val[i] < 1000) a->max_level = (int)r->levels.val[i];
  // the column whose entropy is asked for: every run must have it
  if (pp && a->o->entropy && read_csv(pp, a->o->entropy, &r->visits)) {
    snprintf(err, errsz, "%s has no column '%s'", pp, a->o->entropy);
    rc = AF_ERR_ARG;
  }
  free(pp);
  if (rc == AF_OK) read_learned(a, rd, r);
  return rc;
}

// one more run slot, zeroed
static run_data *new_run(analysis *a) {
  if (a->nr == a->rcap) {
    int cap = a->rcap ? 2 * a->rcap : 64;
    run_data *nr = realloc(a->runs, sizeof *nr * (size_t)cap);
    if (!nr) return NULL;
    a->runs = nr;
    a->rcap = cap;
  }
  run_data *r = &a->runs[a->nr++];
  memset(r, 0, sizeof *r);
  return r;
}

// the runs: every folder of DIR with an eval.csv, finished if the runner says so
static int read_runs(analysis *a, char *err, size_t errsz) {
  DIR *d = opendir(a->o->dir);
  if (!d) { snprintf(err, errsz, "cannot open %s", a->o->dir); return AF_ERR_ARG; }
  if (eval_index(a, "train") < 0) { closedir(d); snprintf(err, errsz, "out of memory"); return AF_ERR_IO; }
  struct dirent *de;
  int rc = AF_OK;
  while (rc == AF_OK && (de = readdir(d))) {
    if (de->d_name[0] == '.' || !strcmp(de->d_name, "analysis")) continue;
    char *rd = af_path_join(a->o->dir, de->d_name);
    if (rd && is_finished_run(rd)) {
      run_data *r = new_run(a);
      if (!r || !(r->label = run_label(rd, &r->seed))) { snprintf(err, errsz, "out of memory"); rc = AF_ERR_IO; }
      else rc = read_run_curves(a, rd, r, err, errsz);
    }
    free(rd);
  }
  closedir(d);
  if (rc == AF_OK && a->nr == 0) { snprintf(err, errsz, "no finished runs with an eval.csv in %s", a->o->dir); rc = AF_ERR_ARG; }
  return rc;
}

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

// the variants: the distinct labels, sorted
static int collect_variants(analysis *a) {
  for (int i = 0; i < a->nr; i++)
    if (list_find(&a->labels, a->runs[i].label) < 0 && list_push(&a->labels, a->runs[i].label)) return -1;
  qsort(a->labels.s, (size_t)a->labels.n, sizeof(char *), cmp_str);
  return 0;
}

// the per (evaluation, variant) tables and the scratch space the statistics need
static int alloc_results(analysis *a) {
  size_t cells = (size_t)a->evals.n * (size_t)a->labels.n, nr = (size_t)a->nr;
  long reps = a->o->final_reps > a->o->reps ? a->o->final_reps : a->o->reps;
  a->finals = calloc(cells, sizeof *a->finals);
  a->nfin = calloc(cells, sizeof *a->nfin);
  a->has_curve = calloc(cells, sizeof *a->has_curve);
  a->members = malloc(sizeof *a->members * nr);
  a->vals = malloc(sizeof *a->vals * nr);
  a->work = malloc(sizeof *a->work * (2 * nr + (size_t)reps));
  return a->finals && a->nfin && a->has_curve && a->members && a->vals && a->work ? 0 : -1;
}

// ---- the tables ----

// the value of a run's curve at `step`: 1, or 0 when the curve has no such step
static int value_at(const series *s, long step, double *v) {
  for (int i = 0; i < s->n; i++)
    if (s->step[i] == step) { *v = s->val[i]; return 1; }
  return 0;
}

// the file a curve's plot data goes to, relative to the output folder
static char *datafile(const analysis *a, int e, int v) { return af_strfmt("curve_%s_%d.dat", a->evals.s[e], v); }

// the runs of variant v that have evaluation e, into a->members; their count
static int variant_members(analysis *a, int e, int v) {
  int nm = 0;
  for (int i = 0; i < a->nr; i++)
    if (!strcmp(a->runs[i].label, a->labels.s[v]) && curve(&a->runs[i], e)->n > 0) a->members[nm++] = i;
  return nm;
}

// the curve of variant v on evaluation e at every step its nm members share, into the
// curves CSV and the plot data; the last shared step, or -1 when they share none
static long write_curve(analysis *a, int e, int v, int nm, FILE *cf, FILE *df) {
  const series *s0 = curve(&a->runs[a->members[0]], e);
  long last = -1;
  for (int k = 0; k < s0->n; k++) {
    long step = s0->step[k];
    int all = 1;
    for (int j = 0; j < nm && all; j++) all = value_at(curve(&a->runs[a->members[j]], e), step, &a->vals[j]);
    if (!all) continue;
    double lo, hi, iqm = af_stats_iqm(a->vals, nm, a->work), mean = af_stats_mean(a->vals, nm), med = af_stats_median(a->vals, nm, a->work);
    af_stats_bootstrap_ci(&lo, &hi, AF_STAT_IQM, a->vals, nm, (int)a->o->reps, &a->rng, a->work);
    fprintf(cf, "\"%s\",%ld,%d,%.6g,%.6g,%.6g,%.6g,%.6g\n", a->labels.s[v], step, nm, iqm, mean, med, lo, hi);
    fprintf(df, "%ld %.6g %.6g %.6g\n", step, iqm, lo, hi);
    last = step;
  }
  return last;
}

// final performance of variant v on evaluation e at its last shared step, into the summaries
static void write_final(analysis *a, int e, int v, int nm, long last, FILE *sc, FILE *sm) {
  int cell = e * a->labels.n + v;
  double lo, hi, *fv = a->finals[cell];
  for (int j = 0; j < nm; j++) value_at(curve(&a->runs[a->members[j]], e), last, &fv[j]);
  a->nfin[cell] = nm;
  double iqm = af_stats_iqm(fv, nm, a->work), mean = af_stats_mean(fv, nm), med = af_stats_median(fv, nm, a->work);
  af_stats_bootstrap_ci(&lo, &hi, AF_STAT_IQM, fv, nm, (int)a->o->final_reps, &a->rng, a->work);
  const char *label = a->labels.s[v], *ev = a->evals.s[e];
  fprintf(sc, "\"%s\",%s,%d,%.6g,%.6g,%.6g,%.6g,%.6g\n", label, ev, nm, iqm, mean, med, lo, hi);
  fprintf(sm, "| %s | %s | %d | %ld | %.4g | [%.4g, %.4g] | %.4g | %.4g |\n", label, ev, nm, last, iqm, lo, hi, mean, med);
}

// variant v on evaluation e: its members, their curve and their final performance
static int write_variant(analysis *a, int e, int v, FILE *cf, FILE *sc, FILE *sm, char *err, size_t errsz) {
  int nm = variant_members(a, e, v), cell = e * a->labels.n + v;
  if (!(a->finals[cell] = calloc((size_t)(nm ? nm : 1), sizeof(double)))) { snprintf(err, errsz, "out of memory"); return AF_ERR_IO; }
  if (nm == 0) return AF_OK;
  char *name = datafile(a, e, v), *path = name ? af_path_join(a->out, name) : NULL;
  FILE *df = path ? fopen(path, "w") : NULL;
  free(name);
  if (!df) { snprintf(err, errsz, "cannot write %s", path ? path : a->out); free(path); return AF_ERR_IO; }
  free(path);
  long last = write_curve(a, e, v, nm, cf, df);
  fclose(df);
  a->has_curve[cell] = last >= 0;
  if (last >= 0) write_final(a, e, v, nm, last, sc, sm);
  return AF_OK;
}

// evaluation setting e: curves_EVAL.csv and its variants' rows of the summaries
static int write_eval(analysis *a, int e, FILE *sc, FILE *sm, char *err, size_t errsz) {
  char *name = af_strfmt("curves_%s.csv", a->evals.s[e]), *path = name ? af_path_join(a->out, name) : NULL;
  FILE *cf = path ? fopen(path, "w") : NULL;
  free(name);
  if (!cf) { snprintf(err, errsz, "cannot write %s", path ? path : a->out); free(path); return AF_ERR_IO; }
  free(path);
  fprintf(cf, "variant,step,n,iqm,mean,median,ci_low,ci_high\n");
  int rc = AF_OK;
  for (int v = 0; v < a->labels.n && rc == AF_OK; v++) rc = write_variant(a, e, v, cf, sc, sm, err, errsz);
  fclose(cf);
  return rc;
}

// the table of P(row > column) between every pair of variants, each variant's values v[x]
// (n[x] of them; a variant with none gets dashes)
static void improvement_table(const analysis *a, FILE *sm, const double *const *v, const int *n) {
  int nv = a->labels.n;
  fprintf(sm, "| | ");
  for (int x = 0; x < nv; x++) fprintf(sm, "%s | ", a->labels.s[x]);
  fprintf(sm, "\n|---|");
  for (int x = 0; x < nv; x++) fprintf(sm, "---|");
  fprintf(sm, "\n");
  for (int x = 0; x < nv; x++) {
    fprintf(sm, "| %s | ", a->labels.s[x]);
    for (int y = 0; y < nv; y++) {
      if (x == y || !n[x] || !n[y]) fprintf(sm, "- | ");
      else fprintf(sm, "%.3f | ", af_stats_prob_improvement(v[x], n[x], v[y], n[y]));
    }
    fprintf(sm, "\n");
  }
}

// probability of improvement between every pair of variants, per evaluation setting
static void write_improvement(const analysis *a, FILE *sm) {
  int nv = a->labels.n;
  if (nv < 2) return;
  fprintf(sm, "\n## Probability of improvement\n\nP(row > column) on the final %s, over all pairs of runs (ties count half).\n", a->o->metric);
  for (int e = 0; e < a->evals.n; e++) {
    fprintf(sm, "\n%s:\n\n", a->evals.s[e]);
    improvement_table(a, sm, (const double *const *)a->finals + e * nv, a->nfin + e * nv);
  }
}

// a file in the output folder opened for writing, or NULL
static FILE *open_out(const analysis *a, const char *name) {
  char *path = af_path_join(a->out, name);
  FILE *f = path ? fopen(path, "w") : NULL;
  free(path);
  return f;
}

// summary.csv and summary.md with the curves of every evaluation setting on the way
static int write_tables(analysis *a, char *err, size_t errsz) {
  mkdir(a->out, 0755);
  FILE *sc = open_out(a, "summary.csv"), *sm = open_out(a, "summary.md");
  if (!sc || !sm) { snprintf(err, errsz, "cannot write in %s", a->out); if (sc) fclose(sc); if (sm) fclose(sm); return AF_ERR_IO; }
  fprintf(sc, "variant,eval,n,iqm,mean,median,ci_low,ci_high\n");
  fprintf(sm, "# %s: final %s\n\nIQM, mean and median over runs at the last evaluation step they share; 95%% interval of the IQM by percentile bootstrap (%ld resamples, seed %ld).\n\n",
          a->o->dir, a->o->metric, a->o->final_reps, a->o->seed);
  fprintf(sm, "| variant | eval | n | step | IQM | 95%% CI | mean | median |\n|---|---|---|---|---|---|---|---|\n");
  int rc = AF_OK;
  for (int e = 0; e < a->evals.n && rc == AF_OK; e++) rc = write_eval(a, e, sc, sm, err, errsz);
  if (rc == AF_OK) write_improvement(a, sm);
  fclose(sc);
  fclose(sm);
  return rc;
}

// the histogram's range: the options', or the finite values' own over every run
static void visit_range(const analysis *a, double *lo, double *hi) {
  *lo = a->o->lo;
  *hi = a->o->hi;
  if (*lo < *hi) return;
  *lo = INFINITY;
  *hi = -INFINITY;
  for (int i = 0; i < a->nr; i++)
    for (int k = 0; k < a->runs[i].visits.n; k++) {
      double x = a->runs[i].visits.val[k];
      if (isfinite(x)) { *lo = fmin(*lo, x); *hi = fmax(*hi, x); }
    }
  if (!(*lo < *hi)) { *lo = isfinite(*lo) ? *lo : 0; *hi = *lo + 1; }  // one value, or none
}

// the entropy of each run's histogram of the o.entropy column into entropy.csv, and per
// variant its IQM, interval and the probability of improvement into summary.md
static int write_entropy(analysis *a, char *err, size_t errsz) {
  if (!a->o->entropy) return AF_OK;
  const int nv = a->labels.n, bins = a->o->bins;
  double lo, hi;
  visit_range(a, &lo, &hi);
  double *h = malloc(sizeof *h * (size_t)a->nr), *counts = malloc(sizeof *counts * (size_t)bins);
  int *vn = calloc((size_t)nv + 1, sizeof *vn), *vcount = calloc((size_t)nv + 1, sizeof *vcount);
  const double **vptr = calloc((size_t)nv + 1, sizeof *vptr);
  // entropy.csv, and summary.md (written by write_tables) extended
  FILE *ec = h && counts && vn && vcount && vptr ? open_out(a, "entropy.csv") : NULL, *sm = NULL;
  char *smp = ec ? af_path_join(a->out, "summary.md") : NULL;
  if (smp) sm = fopen(smp, "a");
  free(smp);
  int rc = AF_OK;
  if (!sm) { snprintf(err, errsz, "cannot write the entropy tables in %s", a->out); rc = AF_ERR_IO; goto done; }
  // the runs, grouped by variant and in the order of their seeds: their entropies in h,
  // variant v's from offset vn[v]
  fprintf(ec, "variant,seed,episodes,entropy\n");
  int k = 0;
  for (int v = 0; v < nv; v++) {
    vn[v] = k;
    int nm = 0;
    for (int i = 0; i < a->nr; i++) {
      if (strcmp(a->runs[i].label, a->labels.s[v])) continue;
      int j = nm++;
      for (; j > 0 && a->runs[a->members[j - 1]].seed > a->runs[i].seed; j--) a->members[j] = a->members[j - 1];
      a->members[j] = i;
    }
    for (int j = 0; j < nm; j++, k++) {
      const run_data *r = &a->runs[a->members[j]];
      h[k] = af_stats_hist_entropy(r->visits.val, r->visits.n, bins, lo, hi, counts);
      fprintf(ec, "\"%s\",%ld,%d,%.6g\n", r->label, r->seed, r->visits.n, h[k]);
    }
  }
  vn[nv] = k;
  // per variant, then between variants
  fprintf(sm, "\n## Entropy of %s over the training episodes\n\nShannon entropy (nats) of each run's histogram of %s "
          "(progress.csv) in %d bins over [%.4g, %.4g] (values outside count in the edge bins; ln %d = %.3f is the most); "
          "IQM over runs, 95%% bootstrap interval (%ld resamples).\n\n| variant | n | IQM | 95%% CI | mean |\n|---|---|---|---|---|\n",
          a->o->entropy, a->o->entropy, bins, lo, hi, bins, log(bins), a->o->final_reps);
  for (int v = 0; v < nv; v++) {
    int n = vn[v + 1] - vn[v];
    double clo, chi;
    af_stats_bootstrap_ci(&clo, &chi, AF_STAT_IQM, h + vn[v], n, (int)a->o->final_reps, &a->rng, a->work);
    fprintf(sm, "| %s | %d | %.4g | [%.4g, %.4g] | %.4g |\n", a->labels.s[v], n, af_stats_iqm(h + vn[v], n, a->work), clo, chi,
            af_stats_mean(h + vn[v], n));
  }
  if (nv > 1) {
    fprintf(sm, "\nP(row > column) on the entropy, over all pairs of runs (ties count half):\n\n");
    for (int v = 0; v < nv; v++) {
      vptr[v] = h + vn[v];
      vcount[v] = vn[v + 1] - vn[v];
    }
    improvement_table(a, sm, vptr, vcount);
  }
  if (ferror(ec) || ferror(sm)) { snprintf(err, errsz, "cannot write the entropy tables in %s", a->out); rc = AF_ERR_IO; }
done:
  if (ec && fclose(ec) && rc == AF_OK) { snprintf(err, errsz, "cannot write %s/entropy.csv", a->out); rc = AF_ERR_IO; }
  if (sm && fclose(sm) && rc == AF_OK) { snprintf(err, errsz, "cannot write %s/summary.md", a->out); rc = AF_ERR_IO; }
  free(h);
  free(counts);
  free(vn);
  free(vcount);
  free(vptr);
  return rc;
}

// ---- the plots ----

// s as a gnuplot single-quoted string: a quote doubled (the only character it treats specially)
static void gp_quoted(FILE *gp, const char *s) {
  fputc('\'', gp);
  for (; *s; s++) {
    if (*s == '\'') fputc('\'', gp);
    fputc(*s == '\n' ? ' ' : *s, gp);
  }
  fputc('\'', gp);
}

// one plot command line over the curves of the cells given, colour by position
static void plot_line(const analysis *a, FILE *gp, const int *es, const int *vs, int n, int by_eval) {
  int first = 1;
  for (int k = 0; k < n; k++) {
    int e = es[k], v = vs[k];
    if (!a->has_curve[e * a->labels.n + v]) continue;
    char *df = datafile(a, e, v);
    int lc = by_eval ? e + 1 : v + 1;
    fprintf(gp, "%s", first ? "" : ", ");
    gp_quoted(gp, df ? df : "");
    fprintf(gp, " using 1:3:4 with filledcurves lc %d notitle, ", lc);
    gp_quoted(gp, df ? df : "");
    fprintf(gp, " using 1:2 with lines lw 2 lc %d title ", lc);
    gp_quoted(gp, by_eval ? a->evals.s[e] : a->labels.s[v]);
    free(df);
    first = 0;
  }
  fprintf(gp, "\n");
}

// ---- the curriculum ----
#define LEVEL_BINS 20

// curriculum.csv: per variant and per twentieth of the training steps, the share of the
// episodes that ended in it at each level (pooled over the variant's runs) and their mean level
static int write_levels(analysis *a, char *err, size_t errsz) {
  if (a->max_level < 0) return AF_OK;
  long last = 1;
  for (int i = 0; i < a->nr; i++)
    for (int k = 0; k < a->runs[i].levels.n; k++)
      if (a->runs[i].levels.step[k] > last) last = a->runs[i].levels.step[k];
  const int L = a->max_level + 1;
  double *count = calloc((size_t)LEVEL_BINS * L, sizeof(double));
  FILE *f = count ? open_out(a, "curriculum.csv") : NULL;
  if (!f) { free(count); snprintf(err, errsz, count ? "cannot write in %s" : "out of memory", a->out); return AF_ERR_IO; }
  fprintf(f, "variant,step,episodes,mean_level");
  for (int l = 0; l < L; l++) fprintf(f, ",share_%d", l);
  fputc('\n', f);
  for (int v = 0; v < a->labels.n; v++) {
    // count the episodes of the variant's runs per bin and level
    memset(count, 0, sizeof(double) * (size_t)LEVEL_BINS * L);
    for (int i = 0; i < a->nr; i++) {
      if (strcmp(a->runs[i].label, a->labels.s[v])) continue;
      const series *s = &a->runs[i].levels;
      for (int k = 0; k < s->n; k++) {
        int b = (int)((double)(s->step[k] - 1) * LEVEL_BINS / last), l = (int)s->val[k];
        if (b >= 0 && b < LEVEL_BINS && l >= 0 && l < L) count[b * L + l]++;
      }
    }
    // one row per bin that has episodes, also into the variant's data file for the plots
    char *dn = af_strfmt("curriculum_%d.dat", v);
    FILE *df = dn ? open_out(a, dn) : NULL;
    free(dn);
    if (!df) { free(count); fclose(f); snprintf(err, errsz, "cannot write in %s", a->out); return AF_ERR_IO; }
    for (int b = 0; b < LEVEL_BINS; b++) {
      double n = 0, sum = 0;
      for (int l = 0; l < L; l++) { n += count[b * L + l]; sum += l * count[b * L + l]; }
      if (n == 0) continue;
      fprintf(df, "%ld %.4f", (long)((double)last * (b + 1) / LEVEL_BINS), sum / n);
      for (int l = 0; l < L; l++) fprintf(df, " %.4f", count[b * L + l] / n);
      fputc('\n', df);
      fputc('"', f);
      for (const char *c = a->labels.s[v]; *c; c++) fprintf(f, *c == '"' ? "\"\"" : "%c", *c);
      fprintf(f, "\",%ld,%.0f,%.4f", (long)((double)last * (b + 1) / LEVEL_BINS), n, sum / n);
      for (int l = 0; l < L; l++) fprintf(f, ",%.4f", count[b * L + l] / n);
      fputc('\n', f);
    }
    if (fclose(df)) { free(count); fclose(f); snprintf(err, errsz, "cannot write in %s", a->out); return AF_ERR_IO; }
  }
  free(count);
  if (fclose(f)) { snprintf(err, errsz, "cannot write %s/curriculum.csv", a->out); return AF_ERR_IO; }
  return AF_OK;
}

// ---- a learned reward ----

// step, IQM and 95% interval of one column (learned or truth) of the variant's nm members
static int learned_row(analysis *a, int nm, long step, int truth, double *iqm, double *lo, double *hi) {
  for (int j = 0; j < nm; j++) {
    const run_data *r = &a->runs[a->members[j]];
    if (!value_at(truth ? &r->truth : &r->learned, step, &a->vals[j])) return 0;
  }
  *iqm = af_stats_iqm(a->vals, nm, a->work);
  af_stats_bootstrap_ci(lo, hi, AF_STAT_IQM, a->vals, nm, (int)a->o->reps, &a->rng, a->work);
  return 1;
}

// learned.csv: per variant and evaluation step, the classifier's mean success probability
// beside the true success (IQM and 95% intervals over the runs); per variant the data of
// its plot, and the episode of its lowest seed (classifier_episode_V.dat)
static int write_learned(analysis *a, char *err, size_t errsz) {
  if (!a->learned) return AF_OK;
  const int nv = a->labels.n;
  a->learned_ok = calloc((size_t)nv, sizeof *a->learned_ok);
  a->ep_seed = malloc(sizeof *a->ep_seed * (size_t)nv);
  FILE *f = a->learned_ok && a->ep_seed ? open_out(a, "learned.csv") : NULL;
  if (!f) { snprintf(err, errsz, a->learned_ok && a->ep_seed ? "cannot write in %s" : "out of memory", a->out); return AF_ERR_IO; }
  fprintf(f, "variant,step,n,learned_iqm,learned_ci_low,learned_ci_high,success_iqm,success_ci_low,success_ci_high\n");
  int rc = AF_OK;
  for (int v = 0; v < nv && rc == AF_OK; v++) {
    // the members with the columns, and the one with the lowest seed that has an episode
    int nm = 0, ep = -1;
    for (int i = 0; i < a->nr; i++) {
      const run_data *r = &a->runs[i];
      if (strcmp(r->label, a->labels.s[v]) || r->learned.n == 0 || r->truth.n == 0) continue;
      a->members[nm++] = i;
      if (r->ep_learned.n > 0 && r->ep_learned.n == r->ep_truth.n && (ep < 0 || r->seed < a->runs[ep].seed)) ep = i;
    }
    a->ep_seed[v] = -1;
    if (nm == 0) continue;
    char *dn = af_strfmt("learned_%d.dat", v), *en = af_strfmt("classifier_episode_%d.dat", v);
    FILE *df = dn ? open_out(a, dn) : NULL, *ef = en && ep >= 0 ? open_out(a, en) : NULL;
    free(dn);
    free(en);
    if (!df || (ep >= 0 && !ef)) { if (df) fclose(df); if (ef) fclose(ef); rc = AF_ERR_IO; break; }
    const series *s0 = &a->runs[a->members[0]].learned;
    for (int k = 0; k < s0->n; k++) {
      double l, ll, lh, t, tl, th;
      if (!learned_row(a, nm, s0->step[k], 0, &l, &ll, &lh) || !learned_row(a, nm, s0->step[k], 1, &t, &tl, &th)) continue;
      fputc('"', f);
      for (const char *c = a->labels.s[v]; *c; c++) fprintf(f, *c == '"' ? "\"\"" : "%c", *c);
      fprintf(f, "\",%ld,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", s0->step[k], nm, l, ll, lh, t, tl, th);
      fprintf(df, "%ld %.6g %.6g %.6g %.6g %.6g %.6g\n", s0->step[k], l, ll, lh, t, tl, th);
      a->learned_ok[v] = 1;
    }
    if (ep >= 0) {
      const run_data *r = &a->runs[ep];
      for (int k = 0; k < r->ep_learned.n; k++) fprintf(ef, "%ld %.6g %.6g\n", r->ep_learned.step[k], r->ep_learned.val[k], r->ep_truth.val[k]);
      a->ep_seed[v] = r->seed;
    }
    if (fclose(df) || (ef && fclose(ef))) rc = AF_ERR_IO;
  }
  if (fclose(f) || rc) { snprintf(err, errsz, "cannot write in %s", a->out); return AF_ERR_IO; }
  return AF_OK;
}

// a learned reward's plots, per variant: the classifier against the truth over training, and
// over the steps of one episode
static void write_learned_plots(const analysis *a, FILE *gp, const char *const term[2]) {
  if (!a->learned_ok) return;
  fprintf(gp, "set yrange [-0.02:1.02]\nset ylabel 'success'\n");
  for (int v = 0; v < a->labels.n; v++) {
    if (a->learned_ok[v]) {
      char *title = af_strfmt("%s: the classifier's success probability and the true success (IQM, 95%% interval)", a->labels.s[v]);
      fprintf(gp, "set output 'learned_vs_true_%d.%s'\nset xlabel 'environment steps'\nset title ", v, term[1]);
      gp_quoted(gp, title ? title : "");
      free(title);
      fprintf(gp, "\nplot 'learned_%d.dat' using 1:3:4 with filledcurves lc 1 notitle, '' using 1:2 with lines lw 2 lc 1 title 'learned (classifier)', "
                  "'' using 1:6:7 with filledcurves lc 2 notitle, '' using 1:5 with lines lw 2 lc 2 title 'true (environment)'\n", v);
    }
    if (a->ep_seed[v] >= 0) {
      char *title = af_strfmt("%s, seed %ld: one evaluation episode at the end of training", a->labels.s[v], a->ep_seed[v]);
      fprintf(gp, "set output 'classifier_episode_%d.%s'\nset xlabel 'step of the episode'\nset title ", v, term[1]);
      gp_quoted(gp, title ? title : "");
      free(title);
      fprintf(gp, "\nplot 'classifier_episode_%d.dat' using 1:2 with lines lw 2 lc 1 title 'learned success probability', "
                  "'' using 1:3 with steps lw 2 lc 2 title 'true success'\n", v);
    }
  }
  fprintf(gp, "set autoscale y\nset xlabel 'environment steps'\n");
}

// the curriculum's plots: the mean level of every variant over training, and per variant the
// share of episodes at each level
static void write_level_plots(const analysis *a, FILE *gp, const char *const term[2]) {
  if (a->max_level < 0) return;
  fprintf(gp, "set output 'curriculum_levels.%s'\nset title 'curriculum: mean level of the training episodes'\nset ylabel 'level'\nplot ", term[1]);
  for (int v = 0; v < a->labels.n; v++) {
    fprintf(gp, "%s'curriculum_%d.dat' using 1:2 with linespoints title ", v ? ", " : "", v);
    gp_quoted(gp, a->labels.s[v]);
  }
  fprintf(gp, "\nset ylabel 'share of episodes'\nset yrange [0:1]\n");
  for (int v = 0; v < a->labels.n; v++) {
    char *title = af_strfmt("%s: share of the training episodes at each curriculum level", a->labels.s[v]);
    fprintf(gp, "set output 'curriculum_%d.%s'\nset title ", v, term[1]);
    gp_quoted(gp, title ? title : "");
    free(title);
    fprintf(gp, "\nplot ");
    for (int l = 0; l <= a->max_level; l++) fprintf(gp, "%s'curriculum_%d.dat' using 1:%d with lines title 'level %d'", l ? ", " : "", v, l + 3, l);
    fputc('\n', gp);
  }
  fprintf(gp, "set autoscale y\n");
}

// plots.gp: per evaluation setting (variants together), per variant (settings together), PNG and
// SVG; every file is named relative to the output folder, where gnuplot runs
static void write_plot_script(const analysis *a, FILE *gp) {
  static const char *const terms[2][2] = {{"pngcairo size 960,600 font ',11'", "png"}, {"svg size 960,600 dynamic", "svg"}};
  int nv = a->labels.n, ne = a->evals.n, n = nv > ne ? nv : ne;
  int *es = malloc(sizeof(int) * (size_t)n), *vs = malloc(sizeof(int) * (size_t)n);
  if (!es || !vs) { free(es); free(vs); return; }
  const char *metric = a->o->metric;
  for (int t = 0; t < 2; t++) {
    fprintf(gp, "set terminal %s\nset grid\nset key bottom right\nset xlabel 'environment steps'\nset ylabel 'evaluation %s (IQM)'\n", terms[t][0], metric);
    fprintf(gp, "set style fill transparent solid 0.2 noborder\nset termoption noenhanced\n");
    for (int e = 0; e < ne; e++) {
      int any = 0;
      for (int v = 0; v < nv; v++) { any |= a->has_curve[e * nv + v]; es[v] = e; vs[v] = v; }
      if (!any) continue;
      char *output = af_strfmt("curves_%s.%s", a->evals.s[e], terms[t][1]), *title = af_strfmt("%s: %s, IQM and 95%% bootstrap interval", a->evals.s[e], metric);
      fprintf(gp, "set output ");
      gp_quoted(gp, output ? output : "");
      fprintf(gp, "\nset title ");
      gp_quoted(gp, title ? title : "");
      fprintf(gp, "\nplot ");
      free(output);
      free(title);
      plot_line(a, gp, es, vs, nv, 0);
    }
    for (int v = 0; v < nv && ne > 1; v++) {
      for (int e = 0; e < ne; e++) { es[e] = e; vs[e] = v; }
      char *title = af_strfmt("%s: %s per evaluation setting", a->labels.s[v], metric);
      fprintf(gp, "set output 'variant_%d.%s'\nset title ", v, terms[t][1]);
      gp_quoted(gp, title ? title : "");
      fprintf(gp, "\nplot ");
      free(title);
      plot_line(a, gp, es, vs, ne, 1);
    }
    write_level_plots(a, gp, terms[t]);
    write_learned_plots(a, gp, terms[t]);
  }
  free(es);
  free(vs);
}

// gnuplot over plots.gp in the output folder, started without a shell: 1 when it succeeded;
// its first three output lines into rep
static int run_gnuplot(const analysis *a, af_analyze_report *rep) {
  char *argv[] = {"gnuplot", "plots.gp", NULL}, err[400];
  pid_t pid;
  FILE *p = af_spawn_pipe(argv, "r", a->out, &pid, err, sizeof err);
  if (!p) { snprintf(rep->log[rep->nlog++], sizeof rep->log[0], "%s\n", err); return 0; }
  char buf[512];
  while (fgets(buf, sizeof buf, p))
    if (rep->nlog < 3) snprintf(rep->log[rep->nlog++], sizeof rep->log[0], "%s", buf);
  return af_spawn_close(p, pid) == 0;
}

// the script, then gnuplot
static int write_plots(const analysis *a, af_analyze_report *rep, char *err, size_t errsz) {
  FILE *gp = fopen(rep->script, "w");
  if (!gp) { snprintf(err, errsz, "cannot write %s", rep->script); return AF_ERR_IO; }
  write_plot_script(a, gp);
  if (fclose(gp) != 0) { snprintf(err, errsz, "cannot write %s", rep->script); return AF_ERR_IO; }
  rep->plots_ok = run_gnuplot(a, rep);
  return AF_OK;
}

// ---- the analysis ----

static void analysis_free(analysis *a) {
  int cells = a->evals.n * a->labels.n;
  for (int c = 0; a->finals && c < cells; c++) free(a->finals[c]);
  for (int i = 0; i < a->nr; i++) {
    free(a->runs[i].label);
    for (int e = 0; e < a->runs[i].nev; e++) { free(a->runs[i].ev[e].step); free(a->runs[i].ev[e].val); }
    series *extra[] = {&a->runs[i].levels, &a->runs[i].visits, &a->runs[i].learned, &a->runs[i].truth, &a->runs[i].ep_learned, &a->runs[i].ep_truth};
    for (size_t k = 0; k < sizeof extra / sizeof extra[0]; k++) { free(extra[k]->step); free(extra[k]->val); }
    free(a->runs[i].ev);
  }
  for (int e = 0; e < a->evals.n; e++) free(a->evals.s[e]);
  free(a->evals.s);
  free(a->labels.s);
  free(a->runs);
  free(a->finals);
  free(a->nfin);
  free(a->has_curve);
  free(a->learned_ok);
  free(a->ep_seed);
  free(a->members);
  free(a->vals);
  free(a->work);
}

// a metric is a column of the evaluation files other than the step: the common ones
// (return, return_std, success, length, time_s) or an environment's episode metric; its name
// goes into plot scripts, so only letters, digits and underscores
static int metric_name_ok(const char *m) {
  size_t n = m ? strlen(m) : 0;
  if (n == 0 || n > 47 || !strcmp(m, "step")) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)m[i]) && m[i] != '_') return 0;
  return 1;
}

int af_analyze(const af_analyze_opts *o, af_analyze_report *rep, char *err, size_t errsz) {
  memset(rep, 0, sizeof *rep);
  if (!metric_name_ok(o->metric)) {
    snprintf(err, errsz, "bad metric '%.60s': a column of the evaluation files (return, success, length, return_std, or the "
             "environment's episode metrics, e.g. progress)", o->metric ? o->metric : "");
    return AF_ERR_ARG;
  }
  if (!o->dir) { snprintf(err, errsz, "a run folder is required"); return AF_ERR_ARG; }
  if (o->entropy && !metric_name_ok(o->entropy)) {
    snprintf(err, errsz, "bad entropy column '%.60s': a column of progress.csv (an environment's episode metric, e.g. max_angle)", o->entropy);
    return AF_ERR_ARG;
  }
  if (o->entropy && (o->bins < 1 || o->bins > 100000 || !isfinite(o->lo) || !isfinite(o->hi) || o->lo > o->hi)) {
    snprintf(err, errsz, "entropy histogram: bins %d (1 to 100000) over [%g, %g] (lo below hi, or both 0 for the values' range)", o->bins,
             o->lo, o->hi);
    return AF_ERR_ARG;
  }
  analysis a = {.o = o, .max_level = -1};
  af_rng_seed(&a.rng, (uint64_t)o->seed);
  // read, group, then write the tables and the plots
  int rc = read_runs(&a, err, errsz);
  rep->out = o->out ? strdup(o->out) : af_path_join(o->dir, "analysis");
  rep->script = rep->out ? af_path_join(rep->out, "plots.gp") : NULL;
  a.out = rep->out;
  if (rc == AF_OK && (!rep->script || collect_variants(&a) || alloc_results(&a))) { snprintf(err, errsz, "out of memory"); rc = AF_ERR_IO; }
  if (rc == AF_OK) rc = write_tables(&a, err, errsz);
  if (rc == AF_OK) rc = write_entropy(&a, err, errsz);
  if (rc == AF_OK) rc = write_levels(&a, err, errsz);
  if (rc == AF_OK) rc = write_learned(&a, err, errsz);
  if (rc == AF_OK) rc = write_plots(&a, rep, err, errsz);
  rep->runs = a.nr;
  rep->variants = a.labels.n;
  rep->evals = a.evals.n;
  analysis_free(&a);
  return rc;
}

void af_analyze_report_free(af_analyze_report *rep) {
  free(rep->out);
  free(rep->script);
  rep->out = rep->script = NULL;
}
