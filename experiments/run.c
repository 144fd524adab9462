// armfarm run: an experiment file expanded into runs (variants x seeds), each run an
// `armfarm train` process, N at a time, each single-threaded. Validation happens before
// anything runs; failures are recorded and the others go on; --resume skips finished runs
// and continues the others from their checkpoints. Run folders stay inside the output folder;
// SIGINT and SIGTERM stop the training processes before the runner ends, and no trainer
// outlives its runner; a run that another process trains (its lock is held) is left alone.
#include <errno.h>
#include <fcntl.h>     // open
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>   // flock
#include <sys/prctl.h>  // prctl(PR_SET_PDEATHSIG)
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>    // fork, execv, isatty, gethostname

#include <cjson/cJSON.h>
#include <mujoco/mujoco.h>
#include <oneapi/dnnl/dnnl.h>
#include "base/config.h"
#include "base/rng.h"
#include "experiments/cli.h"
#include "experiments/run.h"

#ifndef AF_GIT_COMMIT
#define AF_GIT_COMMIT "unknown"
#endif
#ifndef AF_VERSION
#define AF_VERSION "0.0.0"
#endif

// the most runs (variants x seeds) one experiment may expand to
#define AF_RUN_MAX_RUNS 100000

// one run: a variant's document with one seed
typedef struct {
  char id[16], variant[16];  // hex digests of the run's and the variant's documents
  char *label;  // "agent.lr=0.001 agent.batch=128" or "default"
  char *doc;    // the run document (JSON)
  char *dir;    // OUT/ID
  int seed;
  long steps;
  int state;    // 0 pending, 1 running, 2 finished, 3 failed or interrupted, 4 in use elsewhere
  pid_t pid;
  double start;
  double timeout;   // train.timeout_s (0: none): past it (and a grace) the runner kills the run
  int killed;       // 0, 1 sent SIGTERM for the time limit, 2 also SIGKILL
} run_t;

// SIGINT or SIGTERM to the runner, 0 before one came (set by the handler, read by the loop)
static volatile sig_atomic_t stop_signal;

static uint64_t fnv1a(const char *s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (; *s; s++) { h ^= (unsigned char)*s; h *= 0x100000001B3ull; }
  return h;
}

// ---- reading and checking the experiment file ----

// the nearest of `names` to `key`, if it is plausibly a typo
static const char *nearest(const char *key, const char *const *names, int n) {
  const char *best = NULL;
  int bd = 1 << 20;
  for (int i = 0; i < n; i++) {
    int d = af_edit_distance(key, names[i]);
    if (d < bd) { bd = d; best = names[i]; }
  }
  return bd <= (int)strlen(key) / 3 + 1 ? best : NULL;
}

static int is_whole(const cJSON *v, double lo, double hi) {
  return cJSON_IsNumber(v) && v->valuedouble == (double)(long)v->valuedouble && v->valuedouble >= lo && v->valuedouble <= hi;
}

// set `path` (a.b.c) in doc to a copy of v, creating objects on the way; -1 when a step of the
// path is no object
static int set_value(cJSON *doc, const char *path, const cJSON *v) {
  char *buf = strdup(path);
  if (!buf) return -1;
  cJSON *cur = doc;
  char *s = buf;
  int rc = 0;
  for (char *dot; rc == 0 && (dot = strchr(s, '.')); s = dot + 1) {
    *dot = 0;
    cJSON *next = cJSON_GetObjectItemCaseSensitive(cur, s);
    if (!next) next = cJSON_AddObjectToObject(cur, s);
    if (cJSON_IsObject(next)) cur = next;
    else rc = -1;
  }
  if (rc == 0 && cJSON_GetObjectItemCaseSensitive(cur, s)) cJSON_ReplaceItemInObjectCaseSensitive(cur, s, cJSON_Duplicate(v, 1));
  else if (rc == 0) cJSON_AddItemToObject(cur, s, cJSON_Duplicate(v, 1));
  free(buf);
  return rc;
}

// ---- the sweep: seeds, a grid and random draws, expanded into variants ----

// a grid axis: a path and its list of values, both inside the experiment document
typedef struct { const char *path; const cJSON *values; } grid_axis;

// a variant: the (path, value) pairs it sets; paths inside the experiment document, values owned
typedef struct { int n; const char **path; cJSON **value; } variant;

// the sweep as the file gives it
typedef struct {
  int *seeds, nseeds;
  grid_axis *axes;
  int naxes;
  const cJSON *rparams;  // the random sweep's params (path: range), NULL without one
  int nparams, nrand;    // their count, and the number of draws (0: no random sweep)
  af_rng rng;
} sweep;

// only seeds, grid and random
static int check_sweep_keys(const cJSON *sw, char *err, size_t errsz) {
  static const char *const keys[] = {"seeds", "grid", "random"};
  if (!cJSON_IsObject(sw)) { snprintf(err, errsz, "sweep: expected an object with seeds, grid or random"); return -1; }
  for (const cJSON *it = sw->child; it; it = it->next) {
    if (!strcmp(it->string, "seeds") || !strcmp(it->string, "grid") || !strcmp(it->string, "random")) continue;
    const char *n = nearest(it->string, keys, 3);
    snprintf(err, errsz, "sweep.%s: unknown key%s%s%s", it->string, n ? " (did you mean '" : " (seeds, grid, random)", n ? n : "", n ? "'?)" : "");
    return -1;
  }
  return 0;
}

// seeds: none (seed 0), a count n (seeds 0 to n - 1) or a list of distinct whole numbers
static int read_seeds(const cJSON *sw, sweep *sp, char *err, size_t errsz) {
  const cJSON *sd = cJSON_GetObjectItemCaseSensitive(sw, "seeds");
  int list = cJSON_IsArray(sd);
  int n = !sd ? 1 : is_whole(sd, 1, 10000) ? (int)sd->valuedouble : list ? cJSON_GetArraySize(sd) : -1;
  if (n < 0) { snprintf(err, errsz, "sweep.seeds: expected a count (1 to 10000) or a list of whole numbers"); return -1; }
  if (n == 0) { snprintf(err, errsz, "sweep.seeds: the list is empty"); return -1; }
  if (!(sp->seeds = calloc((size_t)n, sizeof(int)))) { snprintf(err, errsz, "out of memory"); return -1; }
  sp->nseeds = n;
  if (!list) {
    for (int i = 0; i < n; i++) sp->seeds[i] = i;
    return 0;
  }
  int i = 0;
  for (const cJSON *v = sd->child; v; v = v->next, i++) {
    if (!is_whole(v, 0, 2147483647)) { snprintf(err, errsz, "sweep.seeds[%d]: expected a whole number >= 0", i); return -1; }
    sp->seeds[i] = (int)v->valuedouble;
    for (int j = 0; j < i; j++)
      if (sp->seeds[j] == sp->seeds[i]) { snprintf(err, errsz, "sweep.seeds[%d]: seed %d is listed twice", i, sp->seeds[i]); return -1; }
  }
  return 0;
}

// grid: path -> non-empty list of values, as many axes as the file has
static int read_grid(const cJSON *sw, sweep *sp, char *err, size_t errsz) {
  const cJSON *gr = cJSON_GetObjectItemCaseSensitive(sw, "grid");
  if (!gr) return 0;
  if (!cJSON_IsObject(gr)) { snprintf(err, errsz, "sweep.grid: expected an object of path: [values]"); return -1; }
  if (!(sp->axes = calloc((size_t)cJSON_GetArraySize(gr) + 1, sizeof *sp->axes))) { snprintf(err, errsz, "out of memory"); return -1; }
  for (const cJSON *it = gr->child; it; it = it->next) {
    if (strncmp(it->string, "env.", 4) && strncmp(it->string, "agent.", 6) && strncmp(it->string, "train.", 6)) {
      snprintf(err, errsz, "sweep.grid.%s: a path must start with env., agent. or train.", it->string);
      return -1;
    }
    if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) == 0) { snprintf(err, errsz, "sweep.grid.%s: expected a non-empty list of values", it->string); return -1; }
    sp->axes[sp->naxes++] = (grid_axis){it->string, it};
  }
  return 0;
}

// a random parameter's range: [lo, hi] (uniform) or {"log_uniform": [lo, hi]}
static const cJSON *param_range(const cJSON *it) { return cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "log_uniform") : it; }

// random: count draws of every parameter's range, from the sweep's own seed
static int read_random(const cJSON *sw, sweep *sp, char *err, size_t errsz) {
  const cJSON *rd = cJSON_GetObjectItemCaseSensitive(sw, "random");
  af_rng_seed(&sp->rng, 0);
  if (!rd) return 0;
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(rd, "count"), *s = cJSON_GetObjectItemCaseSensitive(rd, "seed");
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(rd, "params");
  if (!cJSON_IsObject(rd) || !is_whole(c, 1, 10000)) { snprintf(err, errsz, "sweep.random.count: expected a whole number from 1 to 10000"); return -1; }
  if (s && !is_whole(s, 0, 2147483647)) { snprintf(err, errsz, "sweep.random.seed: expected a whole number >= 0"); return -1; }
  if (!cJSON_IsObject(params) || !params->child) { snprintf(err, errsz, "sweep.random.params: expected an object of path: [lo, hi] or {\"log_uniform\": [lo, hi]}"); return -1; }
  sp->nrand = (int)c->valuedouble;
  sp->rparams = params;
  af_rng_seed(&sp->rng, s ? (uint64_t)s->valuedouble : 0);
  for (const cJSON *it = params->child; it; it = it->next, sp->nparams++) {
    const cJSON *r = param_range(it);
    int ok = cJSON_IsArray(r) && cJSON_GetArraySize(r) == 2 && cJSON_IsNumber(r->child) && cJSON_IsNumber(r->child->next) &&
             r->child->valuedouble <= r->child->next->valuedouble && (r == it || r->child->valuedouble > 0);
    if (!ok) { snprintf(err, errsz, "sweep.random.params.%s: expected [lo, hi] or {\"log_uniform\": [lo, hi]} with 0 < lo <= hi for log", it->string); return -1; }
  }
  return 0;
}

// variant v of the product: its grid combination (last axis fastest), then its random draws
static int fill_variant(sweep *sp, int v, variant *var) {
  int cap = sp->naxes + (sp->nrand ? sp->nparams : 0);
  var->path = calloc((size_t)cap + 1, sizeof *var->path);
  var->value = calloc((size_t)cap + 1, sizeof *var->value);
  if (!var->path || !var->value) return -1;
  int c = v / (sp->nrand ? sp->nrand : 1);
  for (int a = sp->naxes - 1; a >= 0; a--) {
    int k = cJSON_GetArraySize(sp->axes[a].values);
    var->path[var->n] = sp->axes[a].path;
    var->value[var->n++] = cJSON_Duplicate(cJSON_GetArrayItem(sp->axes[a].values, c % k), 1);
    c /= k;
  }
  for (const cJSON *it = sp->nrand ? sp->rparams->child : NULL; it; it = it->next) {
    const cJSON *r = param_range(it);
    double lo = r->child->valuedouble, hi = r->child->next->valuedouble;
    double x = r == it ? af_rng_range(&sp->rng, lo, hi) : exp(af_rng_range(&sp->rng, log(lo), log(hi)));
    var->path[var->n] = it->string;
    var->value[var->n++] = cJSON_CreateNumber(x);
  }
  return 0;
}

// the variants: grid combinations times random draws, at most 10000, and at most
// AF_RUN_MAX_RUNS runs with the seeds; counted in floating point, which cannot wrap around
static int make_variants(sweep *sp, variant **vars, int *nvars, char *err, size_t errsz) {
  double total = sp->nrand ? sp->nrand : 1;
  for (int a = 0; a < sp->naxes; a++) total *= cJSON_GetArraySize(sp->axes[a].values);
  if (total * sp->nseeds > AF_RUN_MAX_RUNS) {
    snprintf(err, errsz, "sweep: %.4g variants x %d seeds is more than the limit of %d runs", total, sp->nseeds, AF_RUN_MAX_RUNS);
    return -1;
  }
  if (total > 10000) { snprintf(err, errsz, "sweep: %.0f variants is more than 10000", total); return -1; }
  *nvars = (int)total;
  if (!(*vars = calloc((size_t)*nvars, sizeof **vars))) { snprintf(err, errsz, "out of memory"); return -1; }
  for (int v = 0; v < *nvars; v++)
    if (fill_variant(sp, v, &(*vars)[v])) { snprintf(err, errsz, "out of memory"); return -1; }
  return 0;
}

// the sweep (may be NULL: one variant, seed 0), checked and expanded
static int check_sweep(const cJSON *sw, sweep *sp, variant **vars, int *nvars, char *err, size_t errsz) {
  if (sw && check_sweep_keys(sw, err, errsz)) return -1;
  if (read_seeds(sw, sp, err, errsz) || read_grid(sw, sp, err, errsz) || read_random(sw, sp, err, errsz)) return -1;
  return make_variants(sp, vars, nvars, err, errsz);
}

static char *variant_label(const variant *v) {
  if (v->n == 0) return strdup("default");
  char *s = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&s, &n);
  if (!f) return NULL;
  for (int i = 0; i < v->n; i++) {
    char *val = cJSON_PrintUnformatted(v->value[i]);
    fprintf(f, "%s%s=%s", i ? " " : "", v->path[i], val);
    cJSON_free(val);
  }
  fclose(f);
  return s;
}

// ---- files the runner writes for each run ----
static void iso_time(char *buf, size_t n, time_t t) { strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t)); }

// text into path, atomically; 0 or -1
static int write_text(const char *path, const char *text) {
  char err[256];
  return af_write_file_atomic(path, text, strlen(text), err, sizeof err);
}

static void write_json(const char *dir, const char *name, cJSON *o) {
  char *path = af_path_join(dir, name), *t = cJSON_Print(o);
  if (path && t) write_text(path, t);
  cJSON_free(t);
  free(path);
}

static void manifest(const char *dir, const run_t *r, time_t start, time_t end) {
  cJSON *o = cJSON_CreateObject();
  char host[256] = "", ts[64];
  gethostname(host, sizeof host - 1);
  const dnnl_version_t *dv = dnnl_version();
  char dnnl[64];
  snprintf(dnnl, sizeof dnnl, "%d.%d.%d", dv->major, dv->minor, dv->patch);
  cJSON_AddStringToObject(o, "project", "armfarm");
  cJSON_AddStringToObject(o, "version", AF_VERSION);
  cJSON_AddStringToObject(o, "git_commit", AF_GIT_COMMIT);
  cJSON_AddStringToObject(o, "mujoco", mj_versionString());
  cJSON_AddStringToObject(o, "onednn", dnnl);
  cJSON_AddStringToObject(o, "host", host);
  cJSON_AddStringToObject(o, "run", r->id);
  cJSON_AddStringToObject(o, "variant", r->label);
  cJSON_AddNumberToObject(o, "seed", r->seed);
  iso_time(ts, sizeof ts, start);
  cJSON_AddStringToObject(o, "start", ts);
  if (end) { iso_time(ts, sizeof ts, end); cJSON_AddStringToObject(o, "end", ts); }
  else cJSON_AddNullToObject(o, "end");
  write_json(dir, "manifest.json", o);
  cJSON_Delete(o);
}

static void status(const char *dir, const char *state, int exit_status, const char *tail) {
  cJSON *o = cJSON_CreateObject();
  char ts[64];
  iso_time(ts, sizeof ts, time(NULL));
  cJSON_AddStringToObject(o, "state", state);
  cJSON_AddStringToObject(o, "time", ts);
  if (exit_status >= 0) cJSON_AddNumberToObject(o, "exit_status", exit_status);
  if (tail) cJSON_AddStringToObject(o, "error_tail", tail);
  write_json(dir, "status.json", o);
  cJSON_Delete(o);
}

// the last `lines` lines of a file, joined with " | "
static char *tail_of(const char *path, int lines) {
  char *t = af_read_file(path);
  if (!t) return strdup("");
  size_t n = strlen(t);
  while (n && (t[n - 1] == '\n')) t[--n] = 0;
  char *p = t + n;
  for (int k = 0; p > t && k < lines; ) if (*--p == '\n') k++;
  if (*p == '\n') p++;
  char *out = strdup(p);
  for (char *c = out; c && *c; c++) if (*c == '\n') *c = '|';
  free(t);
  return out;
}

// the trainer completed the run: the last line of its log is its closing report, "trained
// ... -> DIR" (printed only after the last evaluation and the final checkpoint)
static int trainer_completed(const char *dir) {
  char *logp = af_path_join(dir, "train.log"), *last = logp ? tail_of(logp, 1) : NULL, *end = af_strfmt(" -> %s", dir);
  size_t n = last ? strlen(last) : 0, k = end ? strlen(end) : 0;
  int done = last && end && !strncmp(last, "trained ", 8) && n > k && !strcmp(last + n - k, end);
  free(end);
  free(last);
  free(logp);
  return done;
}

// the run's recorded state: 2 finished (status.json says so, or its trainer completed it and
// the runner that started it ended before recording that: then it is recorded now), else 0
static int recorded_state(const char *dir) {
  char *path = af_path_join(dir, "status.json");
  char *t = path ? af_read_file(path) : NULL;
  cJSON *o = t ? cJSON_Parse(t) : NULL;
  const cJSON *s = o ? cJSON_GetObjectItemCaseSensitive(o, "state") : NULL;
  int finished = cJSON_IsString(s) && !strcmp(s->valuestring, "finished");
  cJSON_Delete(o);
  free(t);
  free(path);
  if (!finished && trainer_completed(dir)) {
    status(dir, "finished", 0, NULL);
    finished = 1;
  }
  return finished ? 2 : 0;
}

// another process trains in run folder dir: the lock that `armfarm train` holds on DIR/lock
// is taken; waited for up to 2 s, the time a trainer of a killed runner needs to stop
static int run_in_use(const char *dir) {
  char *path = af_path_join(dir, "lock");
  int fd = path ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1, busy = 0;
  free(path);
  if (fd < 0) return 0;
  for (int k = 0; k < 20 && !stop_signal && (busy = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK); k++) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  close(fd);  // our probe's lock, if it got one, goes with it
  return busy;
}

// steps a run has done: the step of its last progress row
static long steps_done(const char *dir) {
  char *path = af_path_join(dir, "progress.csv");
  FILE *f = path ? fopen(path, "rb") : NULL;
  free(path);
  if (!f) return 0;
  // the last 512 bytes hold the last row
  fseek(f, 0, SEEK_END);
  long size = ftell(f), off = size > 512 ? size - 512 : 0;
  fseek(f, off, SEEK_SET);
  char buf[600];
  size_t k = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[k] = 0;
  char *last = NULL;
  for (char *p = buf; (p = strchr(p, '\n')); p++)
    if (p[1] >= '0' && p[1] <= '9') last = p + 1;
  return last ? atol(last) : 0;
}

// ---- the command ----

static void usage(FILE *f) {
  fprintf(f,
    "usage: armfarm run FILE [--jobs N] [--out DIR] [--dry-run] [--resume]\n"
    "  runs every (variant, seed) of an experiment file as its own 'armfarm train' process,\n"
    "  N at a time (default: the file's jobs, else the number of cores), each single-threaded.\n"
    "  --out DIR   output folder (default runs/NAME); one folder per run inside\n"
    "  --dry-run   check the file and print the runs it expands to, then stop\n"
    "  --resume    skip finished runs, continue the others from their last checkpoint\n"
    "  at most 100000 runs (variants x seeds). Run folders stay inside the output folder: the\n"
    "  name is one folder name, never '.' or '..', and a run folder that is a symbolic link is refused.\n"
    "  A run another process trains (armfarm train holds DIR/RUN/lock) is skipped. SIGINT or\n"
    "  SIGTERM stops every training process first (--resume continues them); a trainer never\n"
    "  outlives the runner. The schema: experiments/README.md. Exit status: 0 all runs finished,\n"
    "  1 some failed, were interrupted or in use elsewhere (after SIGINT or SIGTERM the runner\n"
    "  ends by that signal), 2 a bad file or folder (nothing is run or overwritten then)\n");
}

// the options of armfarm run
typedef struct {
  const char *file, *out;  // the experiment file; the output folder (NULL: runs/NAME)
  long jobs;               // runs at a time (-1: the file's jobs, else the number of cores)
  int dry, resume;
} run_opts;

// the experiment: the file's text and document, its name and folder, the sweep and the runs
typedef struct {
  const char *file;
  char *text, *name, *out;
  int default_out;  // out is runs/NAME, named by the file (else --out, named by the user)
  cJSON *exp;
  long jobs;
  sweep sw;
  variant *vars;
  int nvars;
  run_t *runs;
  int nruns;
  af_run_check_fn check;  // how each variant's run document is checked (af_train_check)
} experiment;

// the options into o; AF_CLI_GO_ON, or the exit code to stop with
static int parse_run_opts(int argc, char **argv, run_opts *o) {
  *o = (run_opts){.jobs = -1};
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) { usage(stdout); return AF_EXIT_OK; }
    if (!strcmp(opt, "--dry-run")) o->dry = 1;
    else if (!strcmp(opt, "--resume")) o->resume = 1;
    else if (!strcmp(opt, "--jobs")) { if (!val || (o->jobs = af_cli_long(opt, val, 1, 256)) < 0) { if (!val) fprintf(stderr, "armfarm run: --jobs needs a value\n"); return AF_EXIT_USAGE; } i++; }
    else if (!strcmp(opt, "--out")) { if (!val) { fprintf(stderr, "armfarm run: --out needs a value\n"); return AF_EXIT_USAGE; } o->out = val; i++; }
    else if (opt[0] == '-') { fprintf(stderr, "armfarm run: unknown option '%s' (try --help)\n", opt); return AF_EXIT_USAGE; }
    else if (!o->file) o->file = opt;
    else { fprintf(stderr, "armfarm run: one experiment file only ('%s')\n", opt); return AF_EXIT_USAGE; }
  }
  if (!o->file) { fprintf(stderr, "armfarm run: an experiment FILE is required (try --help)\n"); return AF_EXIT_USAGE; }
  return AF_CLI_GO_ON;
}

// the text parsed: syntax errors with line and column
static int parse_experiment(experiment *x) {
  if (!(x->exp = cJSON_Parse(x->text))) {
    const char *at = cJSON_GetErrorPtr();
    int line = 1, col = 1;
    for (const char *p = x->text; at && p < at && *p; p++) { if (*p == '\n') { line++; col = 1; } else col++; }
    fprintf(stderr, "armfarm run: %s:%d:%d: JSON syntax error\n", x->file, line, col);
    return -1;
  }
  if (!cJSON_IsObject(x->exp)) { fprintf(stderr, "armfarm run: %s: the experiment must be a JSON object\n", x->file); return -1; }
  return 0;
}

// the file read and parsed
static int read_experiment(experiment *x) {
  if (!(x->text = af_read_file(x->file))) { fprintf(stderr, "armfarm run: cannot read %s\n", x->file); return -1; }
  return parse_experiment(x);
}

// a name is one path component of [A-Za-z0-9_.-] that is not "." or "..": runs/NAME stays in runs/
static int valid_name(const char *s) {
  static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
  return *s && strspn(s, ok) == strlen(s) && strcmp(s, ".") && strcmp(s, "..");
}

// the experiment's name: its "name", else the file's name without the extension
static char *experiment_name(const cJSON *nm, const char *file) {
  if (nm) return strdup(nm->valuestring);
  const char *b = strrchr(file, '/');
  char *name = strdup(b ? b + 1 : file), *dot = name ? strrchr(name, '.') : NULL;
  if (dot) *dot = 0;
  return name;
}

// the top level, the sweep, jobs, the name and the output folder
static int read_settings(experiment *x, const run_opts *o) {
  char err[512];
  const cJSON *nm = cJSON_GetObjectItemCaseSensitive(x->exp, "name"), *jb = cJSON_GetObjectItemCaseSensitive(x->exp, "jobs");
  if (nm && (!cJSON_IsString(nm) || !valid_name(nm->valuestring))) {
    fprintf(stderr, "armfarm run: %s: name: expected one folder name of letters, digits, '_', '.' and '-' (not . or ..)\n", x->file);
    return -1;
  }
  if (jb && !is_whole(jb, 1, 256)) { fprintf(stderr, "armfarm run: %s: jobs: expected a whole number from 1 to 256\n", x->file); return -1; }
  if (check_sweep(cJSON_GetObjectItemCaseSensitive(x->exp, "sweep"), &x->sw, &x->vars, &x->nvars, err, sizeof err)) {
    fprintf(stderr, "armfarm run: %s: %s\n", x->file, err);
    return -1;
  }
  x->jobs = o->jobs >= 0 ? o->jobs : jb ? (long)jb->valuedouble : sysconf(_SC_NPROCESSORS_ONLN);
  if (x->jobs < 1) x->jobs = 1;
  x->name = experiment_name(nm, x->file);
  x->out = !x->name ? NULL : o->out ? strdup(o->out) : af_strfmt("runs/%s", x->name);
  x->default_out = !o->out;
  if (!x->out) { fprintf(stderr, "armfarm run: out of memory\n"); return -1; }
  if (!valid_name(x->name)) {
    fprintf(stderr, "armfarm run: %s: the file's name gives no valid experiment name ('%s'); set \"name\"\n", x->file, x->name);
    return -1;
  }
  return 0;
}

// variant v's document: the experiment without its runner keys, with the variant's settings;
// NULL after a message when a setting does not lead into an object
static cJSON *variant_doc(const experiment *x, int v) {
  cJSON *base = cJSON_Duplicate(x->exp, 1);
  cJSON_DeleteItemFromObjectCaseSensitive(base, "sweep");
  cJSON_DeleteItemFromObjectCaseSensitive(base, "jobs");
  cJSON_DeleteItemFromObjectCaseSensitive(base, "name");
  const variant *var = &x->vars[v];
  for (int k = 0; k < var->n; k++)
    if (set_value(base, var->path[k], var->value[k])) {
      fprintf(stderr, "armfarm run: %s: sweep: %s does not lead into an object\n", x->file, var->path[k]);
      cJSON_Delete(base);
      return NULL;
    }
  return base;
}

// run r: the variant's document with `seed` in train, and its id and folder
static int make_run(const experiment *x, run_t *r, const cJSON *base, int seed, const char *label, const char *vid) {
  cJSON *d = cJSON_Duplicate(base, 1);
  cJSON *tr = cJSON_GetObjectItemCaseSensitive(d, "train");
  if (!tr) tr = cJSON_AddObjectToObject(d, "train");
  cJSON_DeleteItemFromObjectCaseSensitive(tr, "seed");
  cJSON_AddNumberToObject(tr, "seed", seed);
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(tr, "steps");
  r->steps = cJSON_IsNumber(st) ? (long)st->valuedouble : 100000;
  const cJSON *to = cJSON_GetObjectItemCaseSensitive(tr, "timeout_s");
  r->timeout = cJSON_IsNumber(to) ? to->valuedouble : 0;
  r->doc = cJSON_PrintUnformatted(d);
  cJSON_Delete(d);
  r->seed = seed;
  r->label = strdup(label);
  snprintf(r->variant, sizeof r->variant, "%s", vid);
  if (!r->doc || !r->label) return -1;
  snprintf(r->id, sizeof r->id, "%012llx", (unsigned long long)(fnv1a(r->doc) & 0xFFFFFFFFFFFFull));
  return (r->dir = af_path_join(x->out, r->id)) ? 0 : -1;
}

// variant v checked by making what it names, then its runs, one per seed
static int expand_variant(experiment *x, int v) {
  cJSON *base = variant_doc(x, v);
  if (!base) return -1;
  char err[512], vid[16], *label = variant_label(&x->vars[v]), *bt = cJSON_PrintUnformatted(base);
  int rc = label && bt ? 0 : -1;
  if (rc) fprintf(stderr, "armfarm run: out of memory\n");
  else if ((rc = (x->check ? x->check : af_train_check)(bt, err, sizeof err))) {
    if (x->vars[v].n) fprintf(stderr, "armfarm run: %s: variant %s: %s\n", x->file, label, err);
    else fprintf(stderr, "armfarm run: %s: %s\n", x->file, err);
  } else {
    snprintf(vid, sizeof vid, "%08llx", (unsigned long long)(fnv1a(bt) & 0xFFFFFFFFull));
    for (int si = 0; si < x->sw.nseeds && rc == 0; si++) rc = make_run(x, &x->runs[v * x->sw.nseeds + si], base, x->sw.seeds[si], label, vid);
    if (rc) fprintf(stderr, "armfarm run: out of memory\n");
  }
  cJSON_free(bt);
  free(label);
  cJSON_Delete(base);
  return rc;
}

// every variant times every seed
static int expand_runs(experiment *x) {
  x->nruns = x->nvars * x->sw.nseeds;
  if (!(x->runs = calloc((size_t)x->nruns, sizeof *x->runs))) { fprintf(stderr, "armfarm run: out of memory\n"); return -1; }
  for (int v = 0; v < x->nvars; v++)
    if (expand_variant(x, v)) return -1;
  return 0;
}

// --dry-run: the plan
static int print_runs(const experiment *x) {
  printf("experiment %s: %d variant%s x %d seed%s = %d runs -> %s (%ld at a time)\n", x->name, x->nvars, x->nvars > 1 ? "s" : "",
         x->sw.nseeds, x->sw.nseeds > 1 ? "s" : "", x->nruns, x->out, x->jobs);
  printf("%-14s %-10s %6s %10s  %s\n", "run", "variant", "seed", "steps", "settings");
  for (int i = 0; i < x->nruns; i++) {
    const run_t *r = &x->runs[i];
    printf("%-14s %-10s %6d %10ld  %s\n", r->id, r->variant, r->seed, r->steps, r->label);
  }
  return AF_EXIT_OK;
}

// path is absent or a folder of its own, not a symbolic link; else 0 after a message
static int own_folder(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0 ? errno == ENOENT : S_ISDIR(st.st_mode)) return 1;
  fprintf(stderr, "armfarm run: %s is a symbolic link or not a folder; run folders are never followed elsewhere (remove it)\n", path);
  return 0;
}

// every run folder inside the output folder is its own (and runs/NAME, which the file names)
static int own_folders(const experiment *x) {
  if (x->default_out && !own_folder(x->out)) return 0;
  for (int i = 0; i < x->nruns; i++)
    if (!own_folder(x->runs[i].dir)) return 0;
  return 1;
}

// the output folder belongs to this experiment, or is new: then it gets experiment.json
static int claim_out(const experiment *x, int resume) {
  char *canon = cJSON_PrintUnformatted(x->exp), *path = af_path_join(x->out, "experiment.json");
  char *prev = path ? af_read_file(path) : NULL;
  int rc = AF_EXIT_OK;
  if (!canon || !path) { fprintf(stderr, "armfarm run: out of memory\n"); rc = AF_EXIT_FAIL; }
  else if (!own_folders(x)) rc = AF_EXIT_USAGE;
  else if (prev && strcmp(prev, canon)) { fprintf(stderr, "armfarm run: %s holds a different experiment (experiment.json differs); choose another --out\n", x->out); rc = AF_EXIT_USAGE; }
  else if (prev && !resume) { fprintf(stderr, "armfarm run: %s already holds this experiment; add --resume to continue it\n", x->out); rc = AF_EXIT_USAGE; }
  else if (af_mkdirs(x->out) || (!prev && write_text(path, canon))) { fprintf(stderr, "armfarm run: cannot write %s\n", path); rc = AF_EXIT_FAIL; }
  free(prev);
  free(path);
  cJSON_free(canon);
  return rc;
}

// ---- running the runs, N at a time ----

// the runner's state while the runs go
typedef struct {
  experiment *x;
  char *self;                      // this program, started as `armfarm train` for each run
  int tty, running, next, done_n, failed, skipped, busy;
  int stopping;                    // a signal came: runs that end now are interrupted, not failed
  long total_steps, base_steps;    // steps of all runs; steps done before this invocation
  double t0, last_show;
} runner;

static void on_stop_signal(int sig) { stop_signal = sig; }

// the handler for SIGINT and SIGTERM, without SA_RESTART so the loop's sleep ends at once; 0 or -1
static int catch_stop_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  return sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL) ? -1 : 0;
}

// with --resume, the finished runs count as done; the steps done before, for the speed
static void count_done(runner *s, int resume) {
  experiment *x = s->x;
  for (int i = 0; i < x->nruns; i++) {
    s->total_steps += x->runs[i].steps;
    if (resume && recorded_state(x->runs[i].dir) == 2) { x->runs[i].state = 2; s->done_n++; s->skipped++; s->base_steps += x->runs[i].steps; }
  }
  for (int i = 0; i < x->nruns; i++)
    if (x->runs[i].state == 0) s->base_steps += steps_done(x->runs[i].dir);
}

// the child: one single-threaded training process in a process group of its own, ended by
// SIGTERM when the runner dies (also by SIGKILL; getppid closes the race with a runner that
// died before the request), its output in train.log (never through a symbolic link)
static void exec_train(pid_t runner_pid, const char *self, const char *cfg, const char *logp, const char *dir) {
  if (setpgid(0, 0) != 0 || prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != runner_pid) _exit(126);
  int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0644), nul = open("/dev/null", O_RDONLY);
  if (fd < 0 || nul < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || dup2(nul, 0) < 0) _exit(126);
  if (setenv("OMP_NUM_THREADS", "1", 1) != 0) _exit(126);
  execl(self, "armfarm", "train", "--config", cfg, "--out", dir, "--resume", (char *)NULL);
  _exit(127);
}

// run r: its folder (its own, not a link), document, status and manifest, then its training process
static int start_run(runner *s, run_t *r) {
  if (mkdir(r->dir, 0755) != 0 && errno != EEXIST) { fprintf(stderr, "armfarm run: cannot create %s: %s\n", r->dir, strerror(errno)); return AF_EXIT_FAIL; }
  if (!own_folder(r->dir)) return AF_EXIT_USAGE;
  char *cfg = af_path_join(r->dir, "run.json"), *logp = af_path_join(r->dir, "train.log");
  if (!cfg || !logp || write_text(cfg, r->doc)) {
    fprintf(stderr, "armfarm run: cannot write %s\n", cfg ? cfg : r->dir);
    free(cfg);
    free(logp);
    return AF_EXIT_FAIL;
  }
  status(r->dir, "running", -1, NULL);
  manifest(r->dir, r, time(NULL), 0);
  r->start = af_now();
  pid_t me = getpid(), pid = fork();
  if (pid == 0) exec_train(me, s->self, cfg, logp, r->dir);
  free(cfg);
  free(logp);
  if (pid < 0) { fprintf(stderr, "armfarm run: cannot start a process\n"); return AF_EXIT_FAIL; }
  // the group set from this side too, so that a signal to it reaches the child from the start
  // (EACCES: the child has set it and started the trainer already)
  if (setpgid(pid, pid) != 0 && errno != EACCES && errno != ESRCH) fprintf(stderr, "armfarm run: %s: cannot set the process group: %s\n", r->id, strerror(errno));
  r->pid = pid;
  r->state = 1;
  s->running++;
  if (!s->tty) fprintf(stderr, "armfarm run: started %s (%s, seed %d)\n", r->id, r->label, r->seed);
  return AF_EXIT_OK;
}

// start runs while there are free slots; a run another process trains is left alone
static int start_runs(runner *s) {
  experiment *x = s->x;
  while (!stop_signal && s->running < x->jobs && s->next < x->nruns) {
    run_t *r = &x->runs[s->next++];
    if (r->state == 2) continue;
    if (run_in_use(r->dir)) {
      r->state = 4;
      s->done_n++;
      s->busy++;
      fprintf(stderr, "%sarmfarm run: skipped %s (%s, seed %d): %s is in use by another process (its lock is held)\n", s->tty ? "\n" : "", r->id,
              r->label, r->seed, r->dir);
      continue;
    }
    int rc = start_run(s, r);
    if (rc != AF_EXIT_OK) return rc;
  }
  return AF_EXIT_OK;
}

// run r ended with wait status st: its status (interrupted when the runner is stopping and
// a signal ended it), manifest and a line
static void finish_run(runner *s, run_t *r, int st) {
  char *logp = af_path_join(r->dir, "train.log");
  int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0, interrupted = !ok && s->stopping && WIFSIGNALED(st);
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  char *tail = ok || interrupted || !logp ? NULL : r->killed ? af_strfmt("timed out: killed after train.timeout_s = %g s", r->timeout) : tail_of(logp, 3);
  status(r->dir, ok ? "finished" : interrupted ? "interrupted" : "failed", code, tail);
  manifest(r->dir, r, (time_t)(time(NULL) - (long)(af_now() - r->start)), time(NULL));
  r->state = ok ? 2 : 3;
  s->running--;
  s->done_n++;
  s->failed += !ok;
  if (!interrupted && (!s->tty || !ok))
    fprintf(stderr, "%sarmfarm run: %s %s (%s, seed %d) in %.0f s%s%s\n", s->tty ? "\n" : "", ok ? "finished" : "FAILED", r->id, r->label, r->seed,
            af_now() - r->start, ok ? "" : ": ", ok ? "" : tail ? tail : "");
  free(tail);
  free(logp);
}

// a process that ended, if any: 1 when one was collected
static int collect_ended(runner *s) {
  int st;
  pid_t pid = waitpid(-1, &st, WNOHANG);
  if (pid <= 0) return 0;
  for (int i = 0; i < s->x->nruns; i++) {
    run_t *r = &s->x->runs[i];
    if (r->state == 1 && r->pid == pid) finish_run(s, r, st);
  }
  return 1;
}

// runs past their time limit: the trainer stops itself at train.timeout_s; one that does not
// (stuck in a long evaluation, say) gets SIGTERM 5 s later and SIGKILL 10 s after that
#define TIMEOUT_GRACE_S 5
static void kill_overdue(runner *s) {
  for (int i = 0; i < s->x->nruns; i++) {
    run_t *r = &s->x->runs[i];
    double over = af_now() - r->start - r->timeout - TIMEOUT_GRACE_S;
    if (r->state != 1 || r->timeout <= 0 || over < 0 || (r->killed == 1 && over < 10) || r->killed == 2) continue;
    int sig = r->killed ? SIGKILL : SIGTERM;
    if (kill(-r->pid, sig) != 0) kill(r->pid, sig);
    r->killed++;
  }
}

// every training process stopped: sig to each one's group, up to 10 s for them to end, then
// SIGKILL; all of them collected, so none outlives the runner
static void stop_runs(runner *s, int sig) {
  experiment *x = s->x;
  s->stopping = 1;
  for (int i = 0; i < x->nruns; i++)
    if (x->runs[i].state == 1 && kill(-x->runs[i].pid, sig) != 0) kill(x->runs[i].pid, sig);
  double until = af_now() + 10;
  while (s->running > 0) {
    if (collect_ended(s)) continue;
    if (af_now() > until) {
      for (int i = 0; i < x->nruns; i++)
        if (x->runs[i].state == 1 && kill(-x->runs[i].pid, SIGKILL) != 0) kill(x->runs[i].pid, SIGKILL);
      until = af_now() + 3600;
    }
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

// progress on a terminal, twice a second: runs, speed and the time left
static void show_progress(runner *s) {
  const experiment *x = s->x;
  if (!s->tty || af_now() - s->last_show <= 0.5) return;
  long sum = 0;
  for (int i = 0; i < x->nruns; i++) sum += x->runs[i].state == 2 ? x->runs[i].steps : steps_done(x->runs[i].dir);
  double el = af_now() - s->t0, rate = el > 0 ? (sum - s->base_steps) / el : 0;
  fprintf(stderr, "\r  runs %d/%d done, %d running, %d failed  |  %.0f env steps/s  |  ETA %.0f s   ", s->done_n, x->nruns, s->running, s->failed,
          rate, rate > 0 ? (s->total_steps - sum) / rate : 0);
  s->last_show = af_now();
}

// every run not finished before, N at a time; 0 all finished, 1 some failed or in use
// elsewhere; after SIGINT or SIGTERM (stop_signal says which) the runs are stopped first
static int run_all(experiment *x, const char *file, int resume) {
  runner s = {.x = x, .tty = isatty(2)};
  if (catch_stop_signals()) { fprintf(stderr, "armfarm run: cannot install the signal handlers\n"); return AF_EXIT_FAIL; }
  if (!(s.self = af_self_exe())) { fprintf(stderr, "armfarm run: cannot find the armfarm program\n"); return AF_EXIT_FAIL; }
  count_done(&s, resume);
  s.t0 = af_now();
  if (!s.tty) fprintf(stderr, "armfarm run: %s: %d runs (%d finished before) -> %s, %ld at a time\n", x->name, x->nruns, s.skipped, x->out, x->jobs);
  // start what fits, collect what ended, else show progress and wait a little
  int rc = AF_EXIT_OK;
  while (rc == AF_EXIT_OK && !stop_signal && s.done_n < x->nruns) {
    rc = start_runs(&s);
    if (rc != AF_EXIT_OK || collect_ended(&s)) continue;
    kill_overdue(&s);
    show_progress(&s);
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  // a signal or an error: the training processes end before the runner does
  int interrupted = s.running;
  if (s.running) stop_runs(&s, stop_signal ? stop_signal : SIGTERM);
  free(s.self);
  if (stop_signal) {
    fprintf(stderr, "%sarmfarm run: stopped by %s: %d runs interrupted; continue with: armfarm run %s --out %s --resume\n", s.tty ? "\n" : "",
            stop_signal == SIGINT ? "SIGINT" : "SIGTERM", interrupted, file, x->out);
    return AF_EXIT_FAIL;
  }
  if (rc != AF_EXIT_OK) return rc;
  if (s.tty) fprintf(stderr, "\n");
  printf("%s: %d runs, %d finished, %d failed, %d in use by another process, in %.0f s -> %s (analyse with: armfarm analyze %s)\n", x->name,
         x->nruns, x->nruns - s.failed - s.busy, s.failed, s.busy, af_now() - s.t0, x->out, x->out);
  return s.failed || s.busy ? AF_EXIT_FAIL : AF_EXIT_OK;
}

static void experiment_free(experiment *x) {
  for (int i = 0; x->runs && i < x->nruns; i++) { free(x->runs[i].doc); free(x->runs[i].label); free(x->runs[i].dir); }
  for (int v = 0; x->vars && v < x->nvars; v++) {
    for (int k = 0; k < x->vars[v].n; k++) cJSON_Delete(x->vars[v].value[k]);
    free(x->vars[v].path);
    free(x->vars[v].value);
  }
  free(x->runs);
  free(x->vars);
  free(x->sw.seeds);
  free(x->sw.axes);
  free(x->text);
  free(x->name);
  free(x->out);
  cJSON_Delete(x->exp);
}

int af_run_check_text(const char *file, const char *text, af_run_check_fn check) {
  experiment x = {.file = file, .check = check, .text = strdup(text)};
  run_opts o = {.file = file, .jobs = -1};
  int rc = x.text && !parse_experiment(&x) && !read_settings(&x, &o) && !expand_runs(&x) ? 0 : -1;
  if (!x.text) fprintf(stderr, "armfarm run: out of memory\n");
  experiment_free(&x);
  return rc;
}

int af_cmd_run(int argc, char **argv) {
  // the options
  run_opts o;
  int rc = parse_run_opts(argc, argv, &o);
  if (rc != AF_CLI_GO_ON) return rc;
  // the file read, checked and expanded into runs: nothing is run or written before that
  experiment x = {.file = o.file};
  rc = AF_EXIT_USAGE;
  if (!read_experiment(&x) && !read_settings(&x, &o) && !expand_runs(&x)) {
    // the plan only, or the runs in a folder of their own
    if (o.dry) rc = print_runs(&x);
    else if ((rc = claim_out(&x, o.resume)) == AF_EXIT_OK) rc = run_all(&x, o.file, o.resume);
  }
  experiment_free(&x);
  // stopped by a signal: the runner ends by it too, once its runs have stopped
  if (stop_signal) {
    signal(stop_signal, SIG_DFL);
    raise(stop_signal);
  }
  return rc;
}
