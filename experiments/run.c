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
#include "experiments/slurm.h"

#include "af_git_commit.h"  // AF_GIT_COMMIT, written at every build (scripts/git_commit.cmake)
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
  const cJSON *list;     // the listed variants (objects of path: value), NULL without them
  int nlist, maxlist;    // their count, and the most settings one of them has
  af_rng rng;
} sweep;

// only seeds, grid, random and variants
static int check_sweep_keys(const cJSON *sw, char *err, size_t errsz) {
  static const char *const keys[] = {"seeds", "grid", "random", "variants"};
  if (!cJSON_IsObject(sw)) { snprintf(err, errsz, "sweep: expected an object with seeds, grid, random or variants"); return -1; }
  for (const cJSON *it = sw->child; it; it = it->next) {
    int known = 0;
    for (int k = 0; k < 4; k++) known |= !strcmp(it->string, keys[k]);
    if (known) continue;
    const char *n = nearest(it->string, keys, 4);
    snprintf(err, errsz, "sweep.%s: unknown key%s%s%s", it->string, n ? " (did you mean '" : " (seeds, grid, random, variants)", n ? n : "", n ? "'?)" : "");
    return -1;
  }
  return 0;
}

// a sweep path starts with one of the documents' sections
static int sweep_path_ok(const char *p) {
  return !strncmp(p, "env.", 4) || !strncmp(p, "agent.", 6) || !strncmp(p, "train.", 6) || !strncmp(p, "reward.", 7) ||
         !strncmp(p, "curriculum.", 11);
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
    if (!sweep_path_ok(it->string)) {
      snprintf(err, errsz, "sweep.grid.%s: a path must start with env., agent., train., reward. or curriculum.", it->string);
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

// variants: a non-empty list of objects, each setting several paths together (settings that
// belong together, such as an environment mode and the dataset recorded in it); a path set
// by the grid or the random sweep cannot also be listed
static int read_list(const cJSON *sw, sweep *sp, char *err, size_t errsz) {
  const cJSON *ls = cJSON_GetObjectItemCaseSensitive(sw, "variants");
  if (!ls) return 0;
  if (!cJSON_IsArray(ls) || cJSON_GetArraySize(ls) == 0) {
    snprintf(err, errsz, "sweep.variants: expected a non-empty list of objects of path: value");
    return -1;
  }
  const cJSON *gr = cJSON_GetObjectItemCaseSensitive(sw, "grid");
  int i = 0;
  for (const cJSON *o = ls->child; o; o = o->next, i++) {
    if (!cJSON_IsObject(o) || !o->child) { snprintf(err, errsz, "sweep.variants[%d]: expected an object of path: value with at least one path", i); return -1; }
    int n = 0;
    for (const cJSON *it = o->child; it; it = it->next, n++) {
      if (!sweep_path_ok(it->string)) {
        snprintf(err, errsz, "sweep.variants[%d].%s: a path must start with env., agent., train., reward. or curriculum.", i, it->string);
        return -1;
      }
      if (cJSON_GetObjectItemCaseSensitive(gr, it->string) || (sp->rparams && cJSON_GetObjectItemCaseSensitive(sp->rparams, it->string))) {
        snprintf(err, errsz, "sweep.variants[%d].%s: the path is also swept by %s", i, it->string,
                 cJSON_GetObjectItemCaseSensitive(gr, it->string) ? "sweep.grid" : "sweep.random");
        return -1;
      }
      for (const cJSON *jt = o->child; jt != it; jt = jt->next)
        if (!strcmp(jt->string, it->string)) { snprintf(err, errsz, "sweep.variants[%d].%s: the path is set twice", i, it->string); return -1; }
    }
    if (n > sp->maxlist) sp->maxlist = n;
  }
  sp->list = ls;
  sp->nlist = i;
  return 0;
}

// variant v of the product: its listed variant (slowest), its grid combination (last axis
// fastest), then its random draws
static int fill_variant(sweep *sp, int v, variant *var) {
  int cap = sp->naxes + (sp->nrand ? sp->nparams : 0) + sp->maxlist;
  var->path = calloc((size_t)cap + 1, sizeof *var->path);
  var->value = calloc((size_t)cap + 1, sizeof *var->value);
  if (!var->path || !var->value) return -1;
  int c = v / (sp->nrand ? sp->nrand : 1), grid = 1;
  for (int a = 0; a < sp->naxes; a++) grid *= cJSON_GetArraySize(sp->axes[a].values);
  for (const cJSON *it = sp->list ? cJSON_GetArrayItem(sp->list, c / grid)->child : NULL; it; it = it->next) {
    var->path[var->n] = it->string;
    var->value[var->n++] = cJSON_Duplicate(it, 1);
  }
  c %= grid;
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
  double total = (sp->nrand ? sp->nrand : 1) * (sp->nlist ? sp->nlist : 1);
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
  if (read_seeds(sw, sp, err, errsz) || read_grid(sw, sp, err, errsz) || read_random(sw, sp, err, errsz) ||
      read_list(sw, sp, err, errsz))
    return -1;
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

// where a Slurm run is: its array job and task; the task's own job id and node once it runs
// (job empty: a local run)
typedef struct { char job[32], job_id[32], node[256]; int task; } slurm_info;

// the Slurm fields as an object: job and task, and job_id and node when known
static cJSON *slurm_json(const slurm_info *si) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "job", si->job);
  cJSON_AddNumberToObject(o, "task", si->task);
  if (si->job_id[0]) cJSON_AddStringToObject(o, "job_id", si->job_id);
  if (si->node[0]) cJSON_AddStringToObject(o, "node", si->node);
  return o;
}

// the Slurm fields of a status.json or manifest.json object (si->job empty when it has none)
static void slurm_from_json(const cJSON *o, slurm_info *si) {
  *si = (slurm_info){0};
  const cJSON *sl = cJSON_GetObjectItemCaseSensitive(o, "slurm");
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(sl, "job"), *t = cJSON_GetObjectItemCaseSensitive(sl, "task");
  const cJSON *ji = cJSON_GetObjectItemCaseSensitive(sl, "job_id"), *nd = cJSON_GetObjectItemCaseSensitive(sl, "node");
  if (!cJSON_IsString(j) || !is_whole(t, 0, 1e9)) return;
  snprintf(si->job, sizeof si->job, "%s", j->valuestring);
  si->task = (int)t->valuedouble;
  if (cJSON_IsString(ji)) snprintf(si->job_id, sizeof si->job_id, "%s", ji->valuestring);
  if (cJSON_IsString(nd)) snprintf(si->node, sizeof si->node, "%s", nd->valuestring);
}

// manifest.json: versions, host, the run, its start and end (0: not yet), and for a Slurm
// run its job, task and node
static void manifest(const char *dir, const run_t *r, time_t start, time_t end, const slurm_info *si) {
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
  cJSON_AddStringToObject(o, "backend", si && si->job[0] ? "slurm" : "local");
  if (si && si->job[0]) cJSON_AddItemToObject(o, "slurm", slurm_json(si));
  if (start) { iso_time(ts, sizeof ts, start); cJSON_AddStringToObject(o, "start", ts); }
  else cJSON_AddNullToObject(o, "start");
  if (end) { iso_time(ts, sizeof ts, end); cJSON_AddStringToObject(o, "end", ts); }
  else cJSON_AddNullToObject(o, "end");
  write_json(dir, "manifest.json", o);
  cJSON_Delete(o);
}

// status.json: the state, its time, the exit status (-1: none yet), the tail of the error
// output, and for a Slurm run its job and task
static void status(const char *dir, const char *state, int exit_status, const char *tail, const slurm_info *si) {
  cJSON *o = cJSON_CreateObject();
  char ts[64];
  iso_time(ts, sizeof ts, time(NULL));
  cJSON_AddStringToObject(o, "state", state);
  cJSON_AddStringToObject(o, "time", ts);
  if (exit_status >= 0) cJSON_AddNumberToObject(o, "exit_status", exit_status);
  if (tail) cJSON_AddStringToObject(o, "error_tail", tail);
  if (si && si->job[0]) cJSON_AddItemToObject(o, "slurm", slurm_json(si));
  write_json(dir, "status.json", o);
  cJSON_Delete(o);
}

// a run folder's status.json: its state into state ("" without one) and its Slurm fields
static void read_status(const char *dir, char *state, size_t n, slurm_info *si) {
  char *path = af_path_join(dir, "status.json");
  char *t = path ? af_read_file(path) : NULL;
  cJSON *o = t ? cJSON_Parse(t) : NULL;
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "state");
  snprintf(state, n, "%s", cJSON_IsString(s) ? s->valuestring : "");
  slurm_from_json(o, si);
  cJSON_Delete(o);
  free(t);
  free(path);
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
// the runner or task that started it ended before recording that: then it is recorded now,
// keeping its Slurm job and task), else 0
static int recorded_state(const char *dir) {
  char state[32];
  slurm_info si;
  read_status(dir, state, sizeof state, &si);
  int finished = !strcmp(state, "finished");
  if (!finished && trainer_completed(dir)) {
    status(dir, "finished", 0, NULL, &si);
    finished = 1;
  }
  return finished ? 2 : 0;
}

// another process trains in run folder dir: the lock that `armfarm train` holds on DIR/lock
// is taken; tried `tries` times 0.1 s apart (20: the 2 s a trainer of a killed runner needs
// to stop)
static int run_in_use(const char *dir, int tries) {
  char *path = af_path_join(dir, "lock");
  int fd = path ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1, busy = 0;
  free(path);
  if (fd < 0) return 0;
  for (int k = 0; k < tries && !stop_signal && (busy = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK); k++) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  close(fd);  // our probe's lock, if it got one, goes with it
  return busy;
}

// the lock of run folder dir is held, seen without taking it (which could make a trainer
// starting at that moment find its folder in use): an flock on the lock file's inode in
// /proc/locks. 0 also when that cannot be read
static int lock_held(const char *dir) {
  char *path = af_path_join(dir, "lock");
  struct stat st;
  int have = path && lstat(path, &st) == 0 && S_ISREG(st.st_mode);
  free(path);
  FILE *f = have ? fopen("/proc/locks", "r") : NULL;
  if (!f) return 0;
  // lines such as "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (device numbers in
  // hex; compared by inode only, since a stacked file system shows its lower device)
  char line[256];
  int held = 0;
  while (!held && fgets(line, sizeof line, f)) {
    char kind[16], dev[64];
    unsigned long long ino;
    if (sscanf(line, "%*s %15s %*s %*s %*s %63s", kind, dev) != 2 || strcmp(kind, "FLOCK")) continue;
    char *c = strrchr(dev, ':');
    held = c && sscanf(c + 1, "%llu", &ino) == 1 && ino == (unsigned long long)st.st_ino;
  }
  fclose(f);
  return held;
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
    "                        [--backend local|slurm] [--partition P] [--time T] [--cpus-per-run C] [--requeue]\n"
    "  runs every (variant, seed) of an experiment file as its own 'armfarm train' process,\n"
    "  N at a time (default: the file's jobs, else the number of cores), each single-threaded.\n"
    "  --out DIR   output folder (default runs/NAME); one folder per run inside\n"
    "  --dry-run   check the file and print the runs it expands to, then stop\n"
    "  --resume    skip finished runs, continue the others from their last checkpoint\n"
    "  --backend   local (default; the file's \"backend\" otherwise): processes on this machine;\n"
    "              slurm: submit the runs as one sbatch job array (a task per run) and return;\n"
    "              each task runs the same 'armfarm train --resume' into DIR/RUN/train.log\n"
    "  with --backend slurm (also in the file: \"slurm\": {\"partition\", \"time\", \"cpus_per_run\",\n"
    "  \"requeue\"}; the command line wins):\n"
    "    --jobs K          tasks at a time (the array's %%K, 1 to 10000; default: no limit)\n"
    "    --partition P     sbatch --partition\n"
    "    --time T          each task's time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS\n"
    "    --cpus-per-run C  cores per task (sbatch --cpus-per-task, 1 to 256; default 1)\n"
    "    --requeue         let Slurm requeue a preempted or failed-node task (sbatch --requeue);\n"
    "                      a requeued task continues from its run's last checkpoint\n"
    "    --resume          submits only runs neither finished nor waiting or running in the\n"
    "                      queue (squeue); a task Slurm ended continues from its checkpoint\n"
    "  armfarm status DIR shows every run, its state and its Slurm job_task. Without sbatch on\n"
    "  the PATH --backend slurm exits 2.\n"
    "  at most 100000 runs (variants x seeds). Run folders stay inside the output folder: the\n"
    "  name is one folder name, never '.' or '..', and a run folder that is a symbolic link is refused.\n"
    "  A run another process trains (armfarm train holds DIR/RUN/lock) is skipped. SIGINT or\n"
    "  SIGTERM stops every training process first (--resume continues them); a trainer never\n"
    "  outlives the runner. The schema: experiments/README.md. Exit status: 0 all runs finished,\n"
    "  1 some failed, were interrupted or in use elsewhere (after SIGINT or SIGTERM the runner\n"
    "  ends by that signal; with Slurm: sbatch failed), 2 a bad file, folder or option (nothing\n"
    "  is run or overwritten then)\n");
}

// the options of armfarm run
typedef struct {
  const char *file, *out;  // the experiment file; the output folder (NULL: runs/NAME)
  long jobs;               // runs at a time (-1: the file's jobs, else the number of cores)
  int dry, resume;
  // the backend and its options (NULL, -1 or 0: the file's, else the default)
  const char *backend, *partition, *time;
  long cpus;
  int requeue;
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
  int slurm;              // the backend: 0 local (processes here), 1 Slurm (a job array)
  af_slurm_opts so;       // the Slurm backend's options (file and command line merged)
} experiment;

// the options into o; AF_CLI_GO_ON, or the exit code to stop with
static int parse_run_opts(int argc, char **argv, run_opts *o) {
  *o = (run_opts){.jobs = -1, .cpus = -1};
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) { usage(stdout); return AF_EXIT_OK; }
    if (!strcmp(opt, "--dry-run")) o->dry = 1;
    else if (!strcmp(opt, "--resume")) o->resume = 1;
    else if (!strcmp(opt, "--requeue")) o->requeue = 1;
    else if (!strcmp(opt, "--jobs")) { if (!val || (o->jobs = af_cli_long(opt, val, 1, 10000)) < 0) { if (!val) fprintf(stderr, "armfarm run: --jobs needs a value\n"); return AF_EXIT_USAGE; } i++; }
    else if (!strcmp(opt, "--cpus-per-run")) { if (!val || (o->cpus = af_cli_long(opt, val, 1, 256)) < 0) { if (!val) fprintf(stderr, "armfarm run: --cpus-per-run needs a value\n"); return AF_EXIT_USAGE; } i++; }
    else if (!strcmp(opt, "--out") || !strcmp(opt, "--backend") || !strcmp(opt, "--partition") || !strcmp(opt, "--time")) {
      if (!val) { fprintf(stderr, "armfarm run: %s needs a value\n", opt); return AF_EXIT_USAGE; }
      *(opt[2] == 'o' ? &o->out : opt[2] == 'b' ? &o->backend : opt[2] == 'p' ? &o->partition : &o->time) = val;
      i++;
    }
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

// the file's "slurm" object: partition, time, cpus_per_run, requeue; 0, or -1 with a message
static int read_slurm_keys(const cJSON *sl, af_slurm_opts *so, char *err, size_t errsz) {
  static const char *const keys[] = {"partition", "time", "cpus_per_run", "requeue"};
  if (!cJSON_IsObject(sl)) { snprintf(err, errsz, "slurm: expected an object with partition, time, cpus_per_run or requeue"); return -1; }
  for (const cJSON *it = sl->child; it; it = it->next) {
    int k = 0;
    while (k < 4 && strcmp(it->string, keys[k])) k++;
    if (k == 4) {
      const char *n = nearest(it->string, keys, 4);
      snprintf(err, errsz, "slurm.%s: unknown key%s%s%s", it->string, n ? " (did you mean '" : " (partition, time, cpus_per_run, requeue)", n ? n : "", n ? "'?)" : "");
      return -1;
    }
    if (k == 0 && (!cJSON_IsString(it) || af_slurm_check_partition(it->valuestring))) {
      snprintf(err, errsz, "slurm.partition: expected a partition name of letters, digits, '_', '.' and '-' (or several, separated by commas)");
      return -1;
    }
    if (k == 1 && (!cJSON_IsString(it) || af_slurm_check_time(it->valuestring))) {
      snprintf(err, errsz, "slurm.time: expected a time limit in one of Slurm's formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS");
      return -1;
    }
    if (k == 2 && !is_whole(it, 1, 256)) { snprintf(err, errsz, "slurm.cpus_per_run: expected a whole number from 1 to 256"); return -1; }
    if (k == 3 && !cJSON_IsBool(it)) { snprintf(err, errsz, "slurm.requeue: expected true or false"); return -1; }
    if (k == 0) so->partition = it->valuestring;
    if (k == 1) so->time = it->valuestring;
    if (k == 2) so->cpus = (long)it->valuedouble;
    if (k == 3) so->requeue = cJSON_IsTrue(it);
  }
  return 0;
}

// the backend and its options: the file's "backend" and "slurm", the command line over them;
// 0, or -1 after one line
static int read_backend(experiment *x, const run_opts *o) {
  char err[512];
  const cJSON *be = cJSON_GetObjectItemCaseSensitive(x->exp, "backend"), *sl = cJSON_GetObjectItemCaseSensitive(x->exp, "slurm");
  if (be && (!cJSON_IsString(be) || (strcmp(be->valuestring, "local") && strcmp(be->valuestring, "slurm")))) {
    fprintf(stderr, "armfarm run: %s: backend: expected \"local\" or \"slurm\"\n", x->file);
    return -1;
  }
  if (o->backend && strcmp(o->backend, "local") && strcmp(o->backend, "slurm")) {
    fprintf(stderr, "armfarm run: --backend expects local or slurm, got '%s'\n", o->backend);
    return -1;
  }
  x->slurm = o->backend ? !strcmp(o->backend, "slurm") : be && !strcmp(be->valuestring, "slurm");
  x->so = (af_slurm_opts){.cpus = 1};
  if (sl && read_slurm_keys(sl, &x->so, err, sizeof err)) { fprintf(stderr, "armfarm run: %s: %s\n", x->file, err); return -1; }
  // the command line: checked like the file's keys, and only with the Slurm backend
  if (o->partition && af_slurm_check_partition(o->partition)) {
    fprintf(stderr, "armfarm run: --partition expects a partition name of letters, digits, '_', '.' and '-' (or several, separated by commas), got '%s'\n", o->partition);
    return -1;
  }
  if (o->time && af_slurm_check_time(o->time)) {
    fprintf(stderr, "armfarm run: --time expects a time limit in one of Slurm's formats (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS), got '%s'\n", o->time);
    return -1;
  }
  if (!x->slurm && (o->partition || o->time || o->cpus > 0 || o->requeue)) {
    fprintf(stderr, "armfarm run: --partition, --time, --cpus-per-run and --requeue are options of --backend slurm\n");
    return -1;
  }
  if (o->partition) x->so.partition = o->partition;
  if (o->time) x->so.time = o->time;
  if (o->cpus > 0) x->so.cpus = o->cpus;
  if (o->requeue) x->so.requeue = 1;
  return 0;
}

// the top level, the sweep, jobs, the name and the output folder
static int read_settings(experiment *x, const run_opts *o) {
  char err[512];
  const cJSON *nm = cJSON_GetObjectItemCaseSensitive(x->exp, "name"), *jb = cJSON_GetObjectItemCaseSensitive(x->exp, "jobs");
  if (nm && (!cJSON_IsString(nm) || !valid_name(nm->valuestring))) {
    fprintf(stderr, "armfarm run: %s: name: expected one folder name of letters, digits, '_', '.' and '-' (not . or ..)\n", x->file);
    return -1;
  }
  const cJSON *ab = cJSON_GetObjectItemCaseSensitive(x->exp, "about");
  if (ab && !cJSON_IsString(ab)) { fprintf(stderr, "armfarm run: %s: about: expected a string (a note for readers)\n", x->file); return -1; }
  if (read_backend(x, o)) return -1;
  // jobs: processes at a time here, or the array's %K throttle on Slurm
  long max_jobs = x->slurm ? 10000 : 256;
  if (jb && !is_whole(jb, 1, (double)max_jobs)) { fprintf(stderr, "armfarm run: %s: jobs: expected a whole number from 1 to %ld\n", x->file, max_jobs); return -1; }
  if (o->jobs > max_jobs) {
    fprintf(stderr, "armfarm run: --jobs expects a whole number in [1, 256] with the local backend (up to 10000 with --backend slurm), got '%ld'\n", o->jobs);
    return -1;
  }
  if (check_sweep(cJSON_GetObjectItemCaseSensitive(x->exp, "sweep"), &x->sw, &x->vars, &x->nvars, err, sizeof err)) {
    fprintf(stderr, "armfarm run: %s: %s\n", x->file, err);
    return -1;
  }
  x->jobs = o->jobs >= 0 ? o->jobs : jb ? (long)jb->valuedouble : x->slurm ? 0 : sysconf(_SC_NPROCESSORS_ONLN);
  if (x->jobs < 1 && !x->slurm) x->jobs = 1;
  x->so.throttle = x->slurm ? x->jobs : 0;
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
  // a note for readers: editing it changes no run
  cJSON_DeleteItemFromObjectCaseSensitive(base, "about");
  // how the runs are run is no part of what they are: a run has one id on every backend
  cJSON_DeleteItemFromObjectCaseSensitive(base, "backend");
  cJSON_DeleteItemFromObjectCaseSensitive(base, "slurm");
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
  char at[64];
  if (x->jobs > 0) snprintf(at, sizeof at, "%ld at a time", x->jobs);
  else snprintf(at, sizeof at, "as many at a time as Slurm gives");
  printf("experiment %s: %d variant%s x %d seed%s = %d runs -> %s (%s)\n", x->name, x->nvars, x->nvars > 1 ? "s" : "",
         x->sw.nseeds, x->sw.nseeds > 1 ? "s" : "", x->nruns, x->out, at);
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

// an experiment document without the keys that say how it is run (backend, slurm): what
// makes a folder hold the same experiment (owned string, NULL when text is no JSON)
static char *identity(const char *text) {
  cJSON *d = cJSON_Parse(text);
  cJSON_DeleteItemFromObjectCaseSensitive(d, "backend");
  cJSON_DeleteItemFromObjectCaseSensitive(d, "slurm");
  char *s = d ? cJSON_PrintUnformatted(d) : NULL;
  cJSON_Delete(d);
  return s;
}

// the output folder belongs to this experiment (the same file, but for its backend and
// Slurm options, which may change between submissions), or is new: then it gets experiment.json
static int claim_out(const experiment *x, int resume) {
  char *canon = cJSON_PrintUnformatted(x->exp), *path = af_path_join(x->out, "experiment.json");
  char *prev = path ? af_read_file(path) : NULL, *id_now = canon ? identity(canon) : NULL, *id_prev = prev ? identity(prev) : NULL;
  int rc = AF_EXIT_OK;
  if (!canon || !path || !id_now) { fprintf(stderr, "armfarm run: out of memory\n"); rc = AF_EXIT_FAIL; }
  else if (!own_folders(x)) rc = AF_EXIT_USAGE;
  else if (prev && (!id_prev || strcmp(id_prev, id_now))) { fprintf(stderr, "armfarm run: %s holds a different experiment (experiment.json differs); choose another --out\n", x->out); rc = AF_EXIT_USAGE; }
  else if (prev && !resume) { fprintf(stderr, "armfarm run: %s already holds this experiment; add --resume to continue it\n", x->out); rc = AF_EXIT_USAGE; }
  else if (af_mkdirs(x->out) || (!prev && write_text(path, canon))) { fprintf(stderr, "armfarm run: cannot write %s\n", path); rc = AF_EXIT_FAIL; }
  free(prev);
  free(path);
  cJSON_free(canon);
  cJSON_free(id_now);
  cJSON_free(id_prev);
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
  status(r->dir, "running", -1, NULL, NULL);
  manifest(r->dir, r, time(NULL), 0, NULL);
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
    if (run_in_use(r->dir, 20)) {
      r->state = 4;
      s->done_n++;
      s->busy++;
      fprintf(stderr, "%sarmfarm run: skipped %s (%s, seed %d): %s is in use by another process (its lock is held)\n", s->tty ? "\n" : "", r->id,
              r->label, r->seed, r->dir);
      continue;
    }
    // finished since this runner listed its runs (by another runner on the folder): left as
    // it is, not trained again from its last checkpoint
    if (recorded_state(r->dir) == 2) {
      r->state = 2;
      s->done_n++;
      s->skipped++;
      fprintf(stderr, "%sarmfarm run: skipped %s (%s, seed %d): finished by another process\n", s->tty ? "\n" : "", r->id, r->label, r->seed);
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
  status(r->dir, ok ? "finished" : interrupted ? "interrupted" : "failed", code, tail, NULL);
  manifest(r->dir, r, (time_t)(time(NULL) - (long)(af_now() - r->start)), time(NULL), NULL);
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

// ---- the Slurm backend: the runs as one job array ----
// The runner submits and returns: each array task runs `armfarm run --slurm-task OUT/ID`
// (through OUT/slurm/array.sh and the submission's list of run ids), which records the run's
// status and manifest and runs the same `armfarm train ... --resume` as the local backend.

// path as an absolute path (owned), or NULL
static char *absolute(const char *path) {
  if (path[0] == '/') return strdup(path);
  char cwd[4096];
  return getcwd(cwd, sizeof cwd) ? af_path_join(cwd, path) : NULL;
}

// OUT/slurm/sub_N.list for the first N not taken: this submission's number, or -1
static int next_submission(const char *sdir) {
  for (int n = 1; n < 1000000; n++) {
    char *p = af_strfmt("%s/sub_%d.list", sdir, n);
    struct stat st;
    int taken = !p || lstat(p, &st) == 0 || errno != ENOENT;
    free(p);
    if (!p) return -1;
    if (!taken) return n;
  }
  return -1;
}

// the last line of a program's output, for a one-line message (static storage)
static const char *last_line(const char *out) {
  static char line[512];
  const char *end = out ? out + strlen(out) : NULL;
  while (end && end > out && end[-1] == '\n') end--;
  const char *beg = end;
  while (beg && beg > out && beg[-1] != '\n') beg--;
  snprintf(line, sizeof line, "%.*s", end ? (int)(end - beg) : 0, beg ? beg : "");
  return line[0] ? line : "(no output)";
}

// which runs go into the array: not finished, not waiting or running in the queue, not
// trained by another process; their indices into pick, their count
static int pick_runs(experiment *x, int resume, const af_slurm_queue *q, int *pick, int *finished, int *queued, int *busy) {
  int n = 0;
  for (int i = 0; i < x->nruns; i++) {
    run_t *r = &x->runs[i];
    if (resume && recorded_state(r->dir) == 2) { (*finished)++; continue; }
    if (resume) {
      char st[32];
      slurm_info si;
      read_status(r->dir, st, sizeof st, &si);
      int qs = si.job[0] ? af_slurm_queue_state(q, si.job, si.task) : AF_SLURM_GONE;
      if (qs != AF_SLURM_GONE) {
        (*queued)++;
        fprintf(stderr, "armfarm run: %s (%s, seed %d) is %s as task %d of Slurm job %s: left alone\n", r->id, r->label, r->seed,
                qs == AF_SLURM_RUNNING ? "running" : "waiting", si.task, si.job);
        continue;
      }
    }
    if (run_in_use(r->dir, 1)) {
      (*busy)++;
      fprintf(stderr, "armfarm run: skipped %s (%s, seed %d): %s is in use by another process (its lock is held)\n", r->id, r->label, r->seed, r->dir);
      continue;
    }
    pick[n++] = i;
  }
  return n;
}

// the submission's files: OUT/slurm/array.sh, OUT/slurm/sub_N.list (a run id per line, line
// k + 1 for array task k) and each run's folder and run.json; 0, or an exit code after a line
static int write_submission(experiment *x, const char *sdir, int sub, const int *pick, int n, char **script, char **list) {
  *script = af_path_join(sdir, "array.sh");
  *list = af_strfmt("%s/sub_%d.list", sdir, sub);
  char *ids = calloc((size_t)n * 13 + 1, 1);
  if (!*script || !*list || !ids) { free(ids); fprintf(stderr, "armfarm run: out of memory\n"); return AF_EXIT_FAIL; }
  for (int k = 0; k < n; k++) { strcat(ids, x->runs[pick[k]].id); strcat(ids, "\n"); }
  int bad = write_text(*script, af_slurm_script) || chmod(*script, 0755) || write_text(*list, ids);
  free(ids);
  if (bad) { fprintf(stderr, "armfarm run: cannot write %s\n", *list); return AF_EXIT_FAIL; }
  for (int k = 0; k < n; k++) {
    run_t *r = &x->runs[pick[k]];
    if (mkdir(r->dir, 0755) != 0 && errno != EEXIST) { fprintf(stderr, "armfarm run: cannot create %s: %s\n", r->dir, strerror(errno)); return AF_EXIT_FAIL; }
    if (!own_folder(r->dir)) return AF_EXIT_USAGE;
    char *cfg = af_path_join(r->dir, "run.json");
    bad = !cfg || write_text(cfg, r->doc);
    free(cfg);
    if (bad) { fprintf(stderr, "armfarm run: cannot write %s/run.json\n", r->dir); return AF_EXIT_FAIL; }
  }
  return AF_EXIT_OK;
}

// the runs not finished (with --resume: nor queued) as one held job array; their status
// (pending, with the job and task) and manifest; then the array released. 0 submitted (or
// nothing left to do), 1 sbatch or scontrol failed or a run is in use elsewhere
static int submit_slurm(experiment *x, int resume) {
  af_slurm_queue q = {0};
  if (resume && af_slurm_queue_read(&q)) {
    fprintf(stderr, "armfarm run: --resume with --backend slurm needs squeue, to leave alone the runs that wait or run in the queue\n");
    return AF_EXIT_FAIL;
  }
  int *pick = calloc((size_t)x->nruns + 1, sizeof *pick), finished = 0, queued = 0, busy = 0;
  if (!pick) { af_slurm_queue_free(&q); fprintf(stderr, "armfarm run: out of memory\n"); return AF_EXIT_FAIL; }
  int n = pick_runs(x, resume, &q, pick, &finished, &queued, &busy);
  af_slurm_queue_free(&q);
  if (n == 0) {
    printf("%s: %d runs, %d finished, %d waiting or running in the queue, %d in use by another process: nothing to submit -> %s\n", x->name,
           x->nruns, finished, queued, busy, x->out);
    free(pick);
    return busy ? AF_EXIT_FAIL : AF_EXIT_OK;
  }
  // absolute paths: the tasks may start in another folder, on another node
  char *out = absolute(x->out), *sdir = out ? af_path_join(out, "slurm") : NULL, *self = af_self_exe(), *script = NULL, *list = NULL;
  char **argv = NULL, *sb_out = NULL, job[32] = "";
  int sub = -1, rc = AF_EXIT_FAIL;
  if (!out || !sdir || !self) fprintf(stderr, "armfarm run: cannot resolve %s or find the armfarm program\n", x->out);
  else if (af_mkdirs(sdir) || !own_folder(sdir)) fprintf(stderr, "armfarm run: cannot create %s\n", sdir);
  else if ((sub = next_submission(sdir)) < 0) fprintf(stderr, "armfarm run: no free submission number in %s\n", sdir);
  else if ((rc = write_submission(x, sdir, sub, pick, n, &script, &list)) != AF_EXIT_OK) {}
  else if (!(argv = af_slurm_sbatch_argv(&x->so, x->name, n, sub, script, self, out, list))) { fprintf(stderr, "armfarm run: out of memory\n"); rc = AF_EXIT_FAIL; }
  else {
    // submitted held, so that no task starts (and records itself running) before every run
    // is recorded pending with its job and task
    int st = af_slurm_capture(argv, &sb_out);
    if (st != 0 || af_slurm_parse_job(sb_out, job, sizeof job)) {
      fprintf(stderr, "armfarm run: sbatch failed (exit status %d): %s\n", st, last_line(sb_out));
      rc = AF_EXIT_FAIL;
    } else {
      char *jobf = af_strfmt("%s/sub_%d.job", sdir, sub), *jt = af_strfmt("%s\n", job);
      if (!jobf || !jt || write_text(jobf, jt)) fprintf(stderr, "armfarm run: cannot write %s\n", jobf ? jobf : sdir);
      free(jobf);
      free(jt);
      for (int k = 0; k < n; k++) {
        slurm_info si = {.task = k};
        snprintf(si.job, sizeof si.job, "%s", job);
        status(x->runs[pick[k]].dir, "pending", -1, NULL, &si);
        manifest(x->runs[pick[k]].dir, &x->runs[pick[k]], 0, 0, &si);
      }
      char *rel[] = {"scontrol", "release", job, NULL}, *rel_out = NULL;
      if ((st = af_slurm_capture(rel, &rel_out)) != 0) {
        fprintf(stderr, "armfarm run: Slurm job %s is held: scontrol release failed (exit status %d): %s; release it with: scontrol release %s\n", job, st,
                last_line(rel_out), job);
        rc = AF_EXIT_FAIL;
      } else {
        printf("%s: %d runs submitted as Slurm job %s (array 0-%d", x->name, n, job, n - 1);
        if (x->so.throttle > 0) printf("%%%ld", x->so.throttle);
        printf("), %d finished before, %d in the queue -> %s (follow with: armfarm status %s)\n", finished, queued, x->out, x->out);
        rc = busy ? AF_EXIT_FAIL : AF_EXIT_OK;
      }
      free(rel_out);
    }
  }
  af_slurm_argv_free(argv);
  free(sb_out);
  free(script);
  free(list);
  free(self);
  free(sdir);
  free(out);
  free(pick);
  return rc;
}

// --dry-run with the Slurm backend: the sbatch command it would run
static void print_sbatch(const experiment *x) {
  char **argv = af_slurm_sbatch_argv(&x->so, x->name, x->nruns, 1, "OUT/slurm/array.sh", "ARMFARM", "OUT", "OUT/slurm/sub_1.list");
  printf("backend slurm:");
  for (int i = 0; argv && argv[i]; i++) printf(" %s", argv[i]);
  printf("\n");
  af_slurm_argv_free(argv);
}

// ---- a Slurm array task: one run trained where Slurm placed it ----

// the task's place from Slurm's environment: the array job and task, its own job id, the node
static void slurm_from_env(slurm_info *si) {
  const char *aj = getenv("SLURM_ARRAY_JOB_ID"), *at = getenv("SLURM_ARRAY_TASK_ID"), *j = getenv("SLURM_JOB_ID");
  const char *node = getenv("SLURMD_NODENAME");
  if (!node) node = getenv("SLURM_JOB_NODELIST");
  long t = 0;
  *si = (slurm_info){0};
  snprintf(si->job, sizeof si->job, "%s", aj ? aj : j ? j : "unknown");
  si->task = at && af_parse_long(at, 0, 1000000000, &t) == 0 ? (int)t : 0;
  snprintf(si->job_id, sizeof si->job_id, "%s", j ? j : "");
  if (node) snprintf(si->node, sizeof si->node, "%s", node);
  else gethostname(si->node, sizeof si->node - 1);
}

// the run of folder dir as its files say: id (the folder's name), seed (run.json) and
// settings (the manifest written at submission); -1 when dir is no run folder
static int run_of_folder(const char *dir, run_t *r) {
  const char *b = strrchr(dir, '/');
  b = b ? b + 1 : dir;
  if (strlen(b) != 12 || strspn(b, "0123456789abcdef") != 12) return -1;
  snprintf(r->id, sizeof r->id, "%s", b);
  char *rp = af_path_join(dir, "run.json"), *mp = af_path_join(dir, "manifest.json");
  char *rt = rp ? af_read_file(rp) : NULL, *mt = mp ? af_read_file(mp) : NULL;
  cJSON *rd = rt ? cJSON_Parse(rt) : NULL, *md = mt ? cJSON_Parse(mt) : NULL;
  const cJSON *seed = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rd, "train"), "seed");
  const cJSON *var = cJSON_GetObjectItemCaseSensitive(md, "variant");
  int ok = rd && is_whole(seed, 0, 2147483647);
  r->seed = ok ? (int)seed->valuedouble : 0;
  r->label = strdup(cJSON_IsString(var) ? var->valuestring : "unknown");
  cJSON_Delete(rd);
  cJSON_Delete(md);
  free(rt);
  free(mt);
  free(rp);
  free(mp);
  return ok && r->label ? 0 : -1;
}

// `armfarm run --slurm-task OUT/ID`: the run recorded running (with its job, task and node),
// its `armfarm train` started exactly as the local backend starts it, and its end recorded:
// finished, failed, or interrupted when Slurm ended it (scancel, time limit, preemption:
// SIGTERM, then SIGKILL). SIGINT and SIGTERM are passed on to the trainer. Exit status 0
// finished, 1 not, 2 not a run folder (nothing written then)
static int slurm_task(const char *dir) {
  run_t r = {0};
  if (!own_folder(dir) || run_of_folder(dir, &r)) {
    fprintf(stderr, "armfarm run: --slurm-task %s: not a run folder of a submitted sweep (OUT/ID with run.json)\n", dir);
    free(r.label);
    return AF_EXIT_USAGE;
  }
  // a trainer elsewhere (the task's earlier run, not yet ended): leave the folder to it
  if (run_in_use(dir, 20)) {
    fprintf(stderr, "armfarm run: %s is in use by another process (its lock is held)\n", dir);
    free(r.label);
    return AF_EXIT_FAIL;
  }
  slurm_info si;
  slurm_from_env(&si);
  char *self = af_self_exe(), *cfg = af_path_join(dir, "run.json"), *logp = af_path_join(dir, "train.log");
  if (!self || !cfg || !logp || catch_stop_signals()) {
    fprintf(stderr, "armfarm run: cannot start the task for %s\n", dir);
    free(self); free(cfg); free(logp); free(r.label);
    return AF_EXIT_FAIL;
  }
  time_t start = time(NULL);
  status(dir, "running", -1, NULL, &si);
  manifest(dir, &r, start, 0, &si);
  fprintf(stderr, "armfarm run: task %d of Slurm job %s on %s: %s (%s, seed %d)\n", si.task, si.job, si.node, r.id, r.label, r.seed);
  pid_t me = getpid(), pid = fork();
  if (pid == 0) exec_train(me, self, cfg, logp, dir);
  int st = 0, forwarded = 0;
  if (pid > 0) setpgid(pid, pid);
  // wait, passing a stop signal on to the trainer's group once
  for (pid_t w = 0; pid > 0 && w != pid;) {
    w = waitpid(pid, &st, WNOHANG);
    if (w < 0 && errno != EINTR) break;
    if (stop_signal && !forwarded) {
      if (kill(-pid, stop_signal) != 0) kill(pid, stop_signal);
      forwarded = 1;
    }
    struct timespec ts = {0, 50 * 1000 * 1000};
    if (w == 0) nanosleep(&ts, NULL);
  }
  int ok = pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  int by_slurm = WIFSIGNALED(st) && (WTERMSIG(st) == SIGTERM || WTERMSIG(st) == SIGKILL || WTERMSIG(st) == SIGINT);
  int interrupted = !ok && pid > 0 && (stop_signal || by_slurm);
  int code = pid <= 0 ? 126 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  char *tail = ok || interrupted ? NULL : pid <= 0 ? strdup("cannot start a process") : tail_of(logp, 3);
  status(dir, ok ? "finished" : interrupted ? "interrupted" : "failed", code, tail, &si);
  manifest(dir, &r, start, time(NULL), &si);
  fprintf(stderr, "armfarm run: %s %s (exit status %d)%s%s\n", ok ? "finished" : interrupted ? "interrupted" : "FAILED", r.id, code, tail ? ": " : "",
          tail ? tail : "");
  free(tail);
  free(self);
  free(cfg);
  free(logp);
  free(r.label);
  return ok ? AF_EXIT_OK : AF_EXIT_FAIL;
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

// ---- armfarm status: every run of a sweep folder and where it is ----

static void status_usage(FILE *f) {
  fprintf(f,
    "usage: armfarm status DIR\n"
    "  every run of the sweep in DIR (an armfarm run output folder), one line each: its id,\n"
    "  seed, state (pending, running, finished, failed, interrupted), steps done of its total,\n"
    "  its Slurm job_task (- for the local backend) and its settings. A Slurm run's waiting or\n"
    "  running comes from squeue when it is on the PATH; otherwise, and for local runs, from\n"
    "  the run folder (status.json, and the lock that a training process holds).\n"
    "  Exit status: 0, or 2 when DIR holds no sweep\n");
}

// a run's state as the folder and the queue tell it, and its Slurm job and task into si
static const char *state_of(const run_t *r, const af_slurm_queue *q, int have_q, slurm_info *si) {
  char st[32];
  read_status(r->dir, st, sizeof st, si);
  if (!strcmp(st, "finished") || trainer_completed(r->dir)) return "finished";
  // the queue first: a task that Slurm requeued after recording it interrupted is waiting
  int qs = si->job[0] && have_q ? af_slurm_queue_state(q, si->job, si->task) : AF_SLURM_GONE;
  if (qs == AF_SLURM_RUNNING) return "running";
  if (qs == AF_SLURM_PENDING) return "pending";
  if (lock_held(r->dir)) return "running";
  if (!strcmp(st, "failed") || !strcmp(st, "interrupted")) return !strcmp(st, "failed") ? "failed" : "interrupted";
  // recorded waiting or running, but nothing trains it and the queue no longer holds it: it
  // was ended without a record (SIGKILL, a node lost). Without squeue a Slurm run's record stands
  if (!strcmp(st, "pending") || !strcmp(st, "running")) return si->job[0] && !have_q ? (st[0] == 'p' ? "pending" : "running") : "interrupted";
  return "pending";  // never started
}

// a check that accepts every run document: the folder's experiment was checked when it ran
static int accept_doc(const char *doc, char *err, size_t errsz) {
  (void)doc, (void)err, (void)errsz;
  return 0;
}

int af_cmd_status(int argc, char **argv) {
  const char *dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { status_usage(stdout); return AF_EXIT_OK; }
    if (argv[i][0] == '-') { fprintf(stderr, "armfarm status: unknown option '%s' (try --help)\n", argv[i]); return AF_EXIT_USAGE; }
    if (dir) { fprintf(stderr, "armfarm status: one folder only ('%s')\n", argv[i]); return AF_EXIT_USAGE; }
    dir = argv[i];
  }
  if (!dir) { fprintf(stderr, "armfarm status: a sweep folder DIR is required (try --help)\n"); return AF_EXIT_USAGE; }
  // the sweep as it was run: the folder's experiment.json expanded again
  char *path = af_path_join(dir, "experiment.json");
  experiment x = {.file = path, .check = accept_doc};
  run_opts o = {.file = path, .out = dir, .jobs = -1, .cpus = -1};
  if (!path || !(x.text = af_read_file(path))) {
    fprintf(stderr, "armfarm status: %s holds no sweep (no %s)\n", dir, path ? path : "experiment.json");
    free(path);
    return AF_EXIT_USAGE;
  }
  if (parse_experiment(&x) || read_settings(&x, &o) || expand_runs(&x)) { experiment_free(&x); free(path); return AF_EXIT_USAGE; }
  // Slurm's queue only for a sweep that was submitted to it (its slurm/ folder exists)
  af_slurm_queue q = {0};
  char *sdir = af_path_join(dir, "slurm");
  struct stat sst;
  int submitted = sdir && stat(sdir, &sst) == 0 && S_ISDIR(sst.st_mode);
  free(sdir);
  int have_q = submitted && af_slurm_on_path("squeue") && af_slurm_queue_read(&q) == 0;
  // the lines, then the counts
  const char *names[] = {"pending", "running", "finished", "failed", "interrupted"};
  int count[5] = {0};
  printf("%-12s  %6s  %-11s  %13s  %-12s  %s\n", "run", "seed", "state", "steps", "slurm", "settings");
  for (int i = 0; i < x.nruns; i++) {
    const run_t *r = &x.runs[i];
    slurm_info si;
    const char *state = state_of(r, &q, have_q, &si);
    for (int k = 0; k < 5; k++) count[k] += !strcmp(state, names[k]);
    char steps[64], where[64];
    snprintf(steps, sizeof steps, "%ld/%ld", !strcmp(state, "finished") ? r->steps : steps_done(r->dir), r->steps);
    if (si.job[0]) snprintf(where, sizeof where, "%s_%d", si.job, si.task);
    else snprintf(where, sizeof where, "-");
    printf("%-12s  %6d  %-11s  %13s  %-12s  %s\n", r->id, r->seed, state, steps, where, r->label);
  }
  printf("%s: %d runs in %s: %d pending, %d running, %d finished, %d failed, %d interrupted%s\n", x.name, x.nruns, dir, count[0], count[1], count[2],
         count[3], count[4], have_q || !submitted ? "" : af_slurm_on_path("squeue") ? " (squeue failed: Slurm states from the run folders)" : "");
  af_slurm_queue_free(&q);
  experiment_free(&x);
  free(path);
  return AF_EXIT_OK;
}

int af_run_check_text(const char *file, const char *text, af_run_check_fn check) {
  experiment x = {.file = file, .check = check, .text = strdup(text)};
  run_opts o = {.file = file, .jobs = -1, .cpus = -1};
  int rc = x.text && !parse_experiment(&x) && !read_settings(&x, &o) && !expand_runs(&x) ? 0 : -1;
  if (!x.text) fprintf(stderr, "armfarm run: out of memory\n");
  experiment_free(&x);
  return rc;
}

int af_cmd_run(int argc, char **argv) {
  // an array task of the Slurm backend (OUT/slurm/array.sh runs it)
  if (argc == 3 && !strcmp(argv[1], "--slurm-task")) return slurm_task(argv[2]);
  // the options
  run_opts o;
  int rc = parse_run_opts(argc, argv, &o);
  if (rc != AF_CLI_GO_ON) return rc;
  // the file read, checked and expanded into runs: nothing is run or written before that
  experiment x = {.file = o.file};
  rc = AF_EXIT_USAGE;
  if (!read_experiment(&x) && !read_settings(&x, &o) && !expand_runs(&x)) {
    // the plan only, or the runs in a folder of their own
    if (o.dry) {
      rc = print_runs(&x);
      if (x.slurm) print_sbatch(&x);
    } else if (x.slurm && !af_slurm_on_path("sbatch")) {
      fprintf(stderr, "armfarm run: --backend slurm needs sbatch on the PATH (Slurm is not installed here)\n");
    } else if ((rc = claim_out(&x, o.resume)) == AF_EXIT_OK) {
      rc = x.slurm ? submit_slurm(&x, o.resume) : run_all(&x, o.file, o.resume);
    }
  }
  experiment_free(&x);
  // stopped by a signal: the runner ends by it too, once its runs have stopped
  if (stop_signal) {
    signal(stop_signal, SIG_DFL);
    raise(stop_signal);
  }
  return rc;
}
