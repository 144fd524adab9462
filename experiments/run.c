// armfarm run: an experiment file expanded into runs (variants x seeds), each run an
// `armfarm train` process, N at a time, each single-threaded. Validation happens before
// anything runs; failures are recorded and the others go on; --resume skips finished runs
// and continues the others from their checkpoints.
#include <errno.h>
#include <fcntl.h>     // open
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#ifndef AF_GIT_COMMIT
#define AF_GIT_COMMIT "unknown"
#endif
#ifndef AF_VERSION
#define AF_VERSION "0.0.0"
#endif

typedef struct {
  char id[16], variant[16];
  char *label;  // "agent.lr=0.001 agent.batch=128" or "default"
  char *doc;    // the run document (JSON)
  int seed;
  long steps;
  int state;    // 0 pending, 1 running, 2 finished, 3 failed
  pid_t pid;
  double start;
} run_t;

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

// set `path` (a.b.c) in doc to a copy of v, creating objects on the way
static int set_value(cJSON *doc, const char *path, const cJSON *v) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  cJSON *cur = doc;
  char *s = buf;
  for (char *dot; (dot = strchr(s, '.')); s = dot + 1) {
    *dot = 0;
    cJSON *next = cJSON_GetObjectItemCaseSensitive(cur, s);
    if (!next) next = cJSON_AddObjectToObject(cur, s);
    if (!cJSON_IsObject(next)) return -1;
    cur = next;
  }
  if (cJSON_GetObjectItemCaseSensitive(cur, s)) cJSON_ReplaceItemInObjectCaseSensitive(cur, s, cJSON_Duplicate(v, 1));
  else cJSON_AddItemToObject(cur, s, cJSON_Duplicate(v, 1));
  return 0;
}

typedef struct { char path[128]; cJSON *values; } grid_axis;

// the variants: grid combinations times random samples, as lists of (path, value)
typedef struct { int n; char path[16][128]; cJSON *value[16]; } variant;

static int check_sweep(const cJSON *sw, int **seeds, int *nseeds, variant **vars, int *nvars, char *err, size_t errsz) {
  static const char *const keys[] = {"seeds", "grid", "random"};
  *nseeds = 1;
  *seeds = calloc(1, sizeof(int));
  *nvars = 1;
  *vars = calloc(1, sizeof(variant));
  if (!sw) return 0;
  if (!cJSON_IsObject(sw)) { snprintf(err, errsz, "sweep: expected an object with seeds, grid or random"); return -1; }
  for (const cJSON *it = sw->child; it; it = it->next) {
    int known = !strcmp(it->string, "seeds") || !strcmp(it->string, "grid") || !strcmp(it->string, "random");
    if (!known) {
      const char *n = nearest(it->string, keys, 3);
      snprintf(err, errsz, "sweep.%s: unknown key%s%s%s", it->string, n ? " (did you mean '" : " (seeds, grid, random)", n ? n : "", n ? "'?)" : "");
      return -1;
    }
  }
  // seeds: a count or a list
  const cJSON *sd = cJSON_GetObjectItemCaseSensitive(sw, "seeds");
  if (sd) {
    if (is_whole(sd, 1, 10000)) {
      *nseeds = (int)sd->valuedouble;
      *seeds = realloc(*seeds, sizeof(int) * (size_t)*nseeds);
      for (int i = 0; i < *nseeds; i++) (*seeds)[i] = i;
    } else if (cJSON_IsArray(sd)) {
      *nseeds = cJSON_GetArraySize(sd);
      if (*nseeds == 0) { snprintf(err, errsz, "sweep.seeds: the list is empty"); return -1; }
      *seeds = realloc(*seeds, sizeof(int) * (size_t)*nseeds);
      int i = 0;
      for (const cJSON *v = sd->child; v; v = v->next, i++) {
        if (!is_whole(v, 0, 2147483647)) { snprintf(err, errsz, "sweep.seeds[%d]: expected a whole number >= 0", i); return -1; }
        (*seeds)[i] = (int)v->valuedouble;
        for (int j = 0; j < i; j++)
          if ((*seeds)[j] == (*seeds)[i]) { snprintf(err, errsz, "sweep.seeds[%d]: seed %d is listed twice", i, (*seeds)[i]); return -1; }
      }
    } else {
      snprintf(err, errsz, "sweep.seeds: expected a count (1 to 10000) or a list of whole numbers");
      return -1;
    }
  }
  // grid: path -> list of values
  const cJSON *gr = cJSON_GetObjectItemCaseSensitive(sw, "grid");
  grid_axis axes[16];
  int naxes = 0;
  if (gr) {
    if (!cJSON_IsObject(gr)) { snprintf(err, errsz, "sweep.grid: expected an object of path: [values]"); return -1; }
    for (const cJSON *it = gr->child; it; it = it->next) {
      if (naxes == 16) { snprintf(err, errsz, "sweep.grid: at most 16 axes"); return -1; }
      if (strncmp(it->string, "env.", 4) && strncmp(it->string, "agent.", 6) && strncmp(it->string, "train.", 6)) {
        snprintf(err, errsz, "sweep.grid.%s: a path must start with env., agent. or train.", it->string);
        return -1;
      }
      if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) == 0) { snprintf(err, errsz, "sweep.grid.%s: expected a non-empty list of values", it->string); return -1; }
      snprintf(axes[naxes].path, sizeof axes[0].path, "%s", it->string);
      axes[naxes++].values = (cJSON *)it;
    }
  }
  // random: count samples of ranges
  const cJSON *rd = cJSON_GetObjectItemCaseSensitive(sw, "random");
  int nrand = 0;
  const cJSON *rparams = NULL;
  af_rng rng;
  af_rng_seed(&rng, 0);
  if (rd) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(rd, "count"), *s = cJSON_GetObjectItemCaseSensitive(rd, "seed");
    rparams = cJSON_GetObjectItemCaseSensitive(rd, "params");
    if (!cJSON_IsObject(rd) || !is_whole(c, 1, 10000)) { snprintf(err, errsz, "sweep.random.count: expected a whole number from 1 to 10000"); return -1; }
    if (s && !is_whole(s, 0, 2147483647)) { snprintf(err, errsz, "sweep.random.seed: expected a whole number >= 0"); return -1; }
    if (!cJSON_IsObject(rparams) || !rparams->child) { snprintf(err, errsz, "sweep.random.params: expected an object of path: [lo, hi] or {\"log_uniform\": [lo, hi]}"); return -1; }
    nrand = (int)c->valuedouble;
    af_rng_seed(&rng, s ? (uint64_t)s->valuedouble : 0);
    for (const cJSON *it = rparams->child; it; it = it->next) {
      const cJSON *r = cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "log_uniform") : it;
      int ok = cJSON_IsArray(r) && cJSON_GetArraySize(r) == 2 && cJSON_IsNumber(r->child) && cJSON_IsNumber(r->child->next) &&
               r->child->valuedouble <= r->child->next->valuedouble && (r == it || r->child->valuedouble > 0);
      if (!ok) { snprintf(err, errsz, "sweep.random.params.%s: expected [lo, hi] or {\"log_uniform\": [lo, hi]} with 0 < lo <= hi for log", it->string); return -1; }
    }
  }
  // the product
  int ncomb = 1;
  for (int a = 0; a < naxes; a++) ncomb *= cJSON_GetArraySize(axes[a].values);
  int total = ncomb * (nrand ? nrand : 1);
  if (total > 10000) { snprintf(err, errsz, "sweep: %d variants is more than 10000", total); return -1; }
  *nvars = total;
  *vars = realloc(*vars, sizeof(variant) * (size_t)total);
  memset(*vars, 0, sizeof(variant) * (size_t)total);
  for (int v = 0; v < total; v++) {
    variant *var = &(*vars)[v];
    int c = v / (nrand ? nrand : 1);
    for (int a = naxes - 1; a >= 0; a--) {
      int k = cJSON_GetArraySize(axes[a].values);
      snprintf(var->path[var->n], sizeof var->path[0], "%s", axes[a].path);
      var->value[var->n++] = cJSON_Duplicate(cJSON_GetArrayItem(axes[a].values, c % k), 1);
      c /= k;
    }
    for (const cJSON *it = rparams && nrand ? rparams->child : NULL; it && var->n < 16; it = it->next) {
      const cJSON *r = cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "log_uniform") : it;
      double lo = r->child->valuedouble, hi = r->child->next->valuedouble;
      double x = r == it ? af_rng_range(&rng, lo, hi) : exp(af_rng_range(&rng, log(lo), log(hi)));
      snprintf(var->path[var->n], sizeof var->path[0], "%s", it->string);
      var->value[var->n++] = cJSON_CreateNumber(x);
    }
  }
  return 0;
}

static char *variant_label(const variant *v) {
  if (v->n == 0) return strdup("default");
  char buf[2048] = "";
  for (int i = 0; i < v->n; i++) {
    char *val = cJSON_PrintUnformatted(v->value[i]);
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s=%s", i ? " " : "", v->path[i], val);
    cJSON_free(val);
  }
  return strdup(buf);
}

// ---- files the runner writes for each run ----
static void iso_time(char *buf, size_t n, time_t t) { strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t)); }

static int write_atomic(const char *path, const char *text) {
  char tmp[4700];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  int ok = fputs(text, f) >= 0;
  if (fclose(f) != 0) ok = 0;
  if (!ok || rename(tmp, path) != 0) { remove(tmp); return -1; }
  return 0;
}

static void write_json(const char *dir, const char *name, cJSON *o) {
  char path[4400];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char *t = cJSON_Print(o);
  write_atomic(path, t);
  cJSON_free(t);
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

// the run's recorded state: 2 finished, anything else unfinished
static int recorded_state(const char *dir) {
  char path[4400];
  snprintf(path, sizeof path, "%s/status.json", dir);
  char *t = af_read_file(path);
  cJSON *o = t ? cJSON_Parse(t) : NULL;
  const cJSON *s = o ? cJSON_GetObjectItemCaseSensitive(o, "state") : NULL;
  int finished = cJSON_IsString(s) && !strcmp(s->valuestring, "finished");
  cJSON_Delete(o);
  free(t);
  return finished ? 2 : 0;
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
  for (char *c = out; *c; c++) if (*c == '\n') *c = '|';
  free(t);
  return out;
}

// steps a run has done: the step of its last progress row
static long steps_done(const char *dir) {
  char path[4400];
  snprintf(path, sizeof path, "%s/progress.csv", dir);
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
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

static void usage(FILE *f) {
  fprintf(f,
    "usage: armfarm run FILE [--jobs N] [--out DIR] [--dry-run] [--resume]\n"
    "  runs every (variant, seed) of an experiment file as its own 'armfarm train' process,\n"
    "  N at a time (default: the file's jobs, else the number of cores), each single-threaded.\n"
    "  --out DIR   output folder (default runs/NAME); one folder per run inside\n"
    "  --dry-run   check the file and print the runs it expands to, then stop\n"
    "  --resume    skip finished runs, continue the others from their last checkpoint\n"
    "  the schema: experiments/README.md. Exit status: 0 all runs finished, 1 some failed,\n"
    "  2 a bad file or folder (nothing is run or overwritten then)\n");
}

int af_cmd_run(int argc, char **argv) {
  const char *file = NULL, *out = NULL;
  long jobs = -1;
  int dry = 0, resume = 0, rc = AF_EXIT_USAGE, nruns = 0, nseeds = 0, nvars = 0;
  char err[512], *text = NULL, *canon = NULL;
  cJSON *exp = NULL;
  run_t *runs = NULL;
  int *seeds = NULL;
  variant *vars = NULL;
  char outbuf[4096];

  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) { usage(stdout); return AF_EXIT_OK; }
    if (!strcmp(o, "--dry-run")) dry = 1;
    else if (!strcmp(o, "--resume")) resume = 1;
    else if (!strcmp(o, "--jobs")) { if (!val || (jobs = af_cli_long(o, val, 1, 256)) < 0) { if (!val) fprintf(stderr, "armfarm run: --jobs needs a value\n"); return AF_EXIT_USAGE; } i++; }
    else if (!strcmp(o, "--out")) { if (!val) { fprintf(stderr, "armfarm run: --out needs a value\n"); return AF_EXIT_USAGE; } out = val; i++; }
    else if (o[0] == '-') { fprintf(stderr, "armfarm run: unknown option '%s' (try --help)\n", o); return AF_EXIT_USAGE; }
    else if (!file) file = o;
    else { fprintf(stderr, "armfarm run: one experiment file only ('%s')\n", o); return AF_EXIT_USAGE; }
  }
  if (!file) { fprintf(stderr, "armfarm run: an experiment FILE is required (try --help)\n"); return AF_EXIT_USAGE; }

  // ---- parse: syntax errors with line and column ----
  if (!(text = af_read_file(file))) { fprintf(stderr, "armfarm run: cannot read %s\n", file); return AF_EXIT_USAGE; }
  exp = cJSON_Parse(text);
  if (!exp) {
    const char *at = cJSON_GetErrorPtr();
    int line = 1, col = 1;
    for (const char *p = text; at && p < at && *p; p++) { if (*p == '\n') { line++; col = 1; } else col++; }
    fprintf(stderr, "armfarm run: %s:%d:%d: JSON syntax error\n", file, line, col);
    goto done;
  }
  if (!cJSON_IsObject(exp)) { fprintf(stderr, "armfarm run: %s: the experiment must be a JSON object\n", file); goto done; }

  // ---- the top level, the sweep, jobs ----
  const cJSON *nm = cJSON_GetObjectItemCaseSensitive(exp, "name"), *jb = cJSON_GetObjectItemCaseSensitive(exp, "jobs");
  if (nm && (!cJSON_IsString(nm) || !*nm->valuestring || strspn(nm->valuestring, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(nm->valuestring))) {
    fprintf(stderr, "armfarm run: %s: name: expected a name of letters, digits, '_', '.' and '-'\n", file);
    goto done;
  }
  if (jb && !is_whole(jb, 1, 256)) { fprintf(stderr, "armfarm run: %s: jobs: expected a whole number from 1 to 256\n", file); goto done; }
  if (check_sweep(cJSON_GetObjectItemCaseSensitive(exp, "sweep"), &seeds, &nseeds, &vars, &nvars, err, sizeof err)) {
    fprintf(stderr, "armfarm run: %s: %s\n", file, err);
    goto done;
  }
  if (jobs < 0) jobs = jb ? (long)jb->valuedouble : sysconf(_SC_NPROCESSORS_ONLN);
  if (jobs < 1) jobs = 1;
  char name[256];
  if (nm) snprintf(name, sizeof name, "%s", nm->valuestring);
  else {
    const char *b = strrchr(file, '/');
    snprintf(name, sizeof name, "%s", b ? b + 1 : file);
    char *dot = strrchr(name, '.');
    if (dot) *dot = 0;
  }
  if (!out) { snprintf(outbuf, sizeof outbuf, "runs/%s", name); out = outbuf; }

  // ---- every variant checked by making what it names; the runs with their ids ----
  nruns = nvars * nseeds;
  runs = calloc((size_t)nruns, sizeof *runs);
  for (int v = 0; v < nvars; v++) {
    cJSON *base = cJSON_Duplicate(exp, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(base, "sweep");
    cJSON_DeleteItemFromObjectCaseSensitive(base, "jobs");
    cJSON_DeleteItemFromObjectCaseSensitive(base, "name");
    for (int k = 0; k < vars[v].n; k++)
      if (set_value(base, vars[v].path[k], vars[v].value[k])) {
        fprintf(stderr, "armfarm run: %s: sweep: %s does not lead into an object\n", file, vars[v].path[k]);
        cJSON_Delete(base);
        goto done;
      }
    char *label = variant_label(&vars[v]);
    char *bt = cJSON_PrintUnformatted(base);
    if (af_train_check(bt, err, sizeof err)) {
      if (vars[v].n) fprintf(stderr, "armfarm run: %s: variant %s: %s\n", file, label, err);
      else fprintf(stderr, "armfarm run: %s: %s\n", file, err);
      cJSON_free(bt);
      free(label);
      cJSON_Delete(base);
      goto done;
    }
    char vid[16];
    snprintf(vid, sizeof vid, "%08llx", (unsigned long long)(fnv1a(bt) & 0xFFFFFFFFull));
    cJSON_free(bt);
    for (int si = 0; si < nseeds; si++) {
      run_t *r = &runs[v * nseeds + si];
      cJSON *d = cJSON_Duplicate(base, 1);
      cJSON *tr = cJSON_GetObjectItemCaseSensitive(d, "train");
      if (!tr) tr = cJSON_AddObjectToObject(d, "train");
      cJSON_DeleteItemFromObjectCaseSensitive(tr, "seed");
      cJSON_AddNumberToObject(tr, "seed", seeds[si]);
      const cJSON *st = cJSON_GetObjectItemCaseSensitive(tr, "steps");
      r->steps = cJSON_IsNumber(st) ? (long)st->valuedouble : 100000;
      r->doc = cJSON_PrintUnformatted(d);
      cJSON_Delete(d);
      r->seed = seeds[si];
      r->label = strdup(label);
      snprintf(r->variant, sizeof r->variant, "%s", vid);
      snprintf(r->id, sizeof r->id, "%012llx", (unsigned long long)(fnv1a(r->doc) & 0xFFFFFFFFFFFFull));
    }
    free(label);
    cJSON_Delete(base);
  }

  if (dry) {
    printf("experiment %s: %d variant%s x %d seed%s = %d runs -> %s (%ld at a time)\n", name, nvars, nvars > 1 ? "s" : "", nseeds,
           nseeds > 1 ? "s" : "", nruns, out, jobs);
    printf("%-14s %-10s %6s %10s  %s\n", "run", "variant", "seed", "steps", "settings");
    for (int i = 0; i < nruns; i++) printf("%-14s %-10s %6d %10ld  %s\n", runs[i].id, runs[i].variant, runs[i].seed, runs[i].steps, runs[i].label);
    rc = AF_EXIT_OK;
    goto done;
  }

  // ---- the output folder belongs to this experiment, or is new ----
  canon = cJSON_PrintUnformatted(exp);
  char path[4400];
  snprintf(path, sizeof path, "%s/experiment.json", out);
  char *prev = af_read_file(path);
  if (prev) {
    int same = strcmp(prev, canon) == 0;
    free(prev);
    if (!same) { fprintf(stderr, "armfarm run: %s holds a different experiment (experiment.json differs); choose another --out\n", out); goto done; }
    if (!resume) { fprintf(stderr, "armfarm run: %s already holds this experiment; add --resume to continue it\n", out); goto done; }
  }
  char mk[4200];
  snprintf(mk, sizeof mk, "%s", out);
  for (char *p = mk + 1; *p; p++) if (*p == '/') { *p = 0; mkdir(mk, 0755); *p = '/'; }
  if ((mkdir(out, 0755) && errno != EEXIST) || write_atomic(path, canon)) { fprintf(stderr, "armfarm run: cannot write %s\n", path); rc = AF_EXIT_FAIL; goto done; }

  // ---- run them, N at a time ----
  char self[4096];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  if (sl <= 0) { fprintf(stderr, "armfarm run: cannot find the armfarm program\n"); rc = AF_EXIT_FAIL; goto done; }
  self[sl] = 0;
  long total_steps = 0, base_steps = 0;
  int done_n = 0, failed = 0, skipped = 0;
  for (int i = 0; i < nruns; i++) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", out, runs[i].id);
    total_steps += runs[i].steps;
    if (resume && recorded_state(dir) == 2) { runs[i].state = 2; done_n++; skipped++; base_steps += runs[i].steps; }
  }
  for (int i = 0; i < nruns; i++) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", out, runs[i].id);
    if (runs[i].state == 0) base_steps += steps_done(dir);
  }
  int tty = isatty(2), running = 0, next = 0;
  double t0 = af_now(), last_show = 0;
  if (!tty) fprintf(stderr, "armfarm run: %s: %d runs (%d finished before) -> %s, %ld at a time\n", name, nruns, skipped, out, jobs);
  while (done_n < nruns) {
    // start runs while there are free slots
    while (running < jobs && next < nruns) {
      run_t *r = &runs[next++];
      if (r->state == 2) continue;
      char dir[4200], cfg[4300], logp[4300];
      snprintf(dir, sizeof dir, "%s/%s", out, r->id);
      mkdir(dir, 0755);
      snprintf(cfg, sizeof cfg, "%s/run.json", dir);
      snprintf(logp, sizeof logp, "%s/train.log", dir);
      if (write_atomic(cfg, r->doc)) { fprintf(stderr, "armfarm run: cannot write %s\n", cfg); rc = AF_EXIT_FAIL; goto done; }
      status(dir, "running", -1, NULL);
      manifest(dir, r, time(NULL), 0);
      r->start = af_now();
      pid_t pid = fork();
      if (pid == 0) {
        // the child: one single-threaded training process, its output in train.log
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644), nul = open("/dev/null", O_RDONLY);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
        if (nul >= 0) dup2(nul, 0);
        setenv("OMP_NUM_THREADS", "1", 1);
        execl(self, "armfarm", "train", "--config", cfg, "--out", dir, "--resume", (char *)NULL);
        _exit(127);
      }
      if (pid < 0) { fprintf(stderr, "armfarm run: cannot start a process\n"); rc = AF_EXIT_FAIL; goto done; }
      r->pid = pid;
      r->state = 1;
      running++;
      if (!tty) fprintf(stderr, "armfarm run: started %s (%s, seed %d)\n", r->id, r->label, r->seed);
    }
    // collect the ones that ended
    int st;
    pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid > 0) {
      for (int i = 0; i < nruns; i++) {
        run_t *r = &runs[i];
        if (r->state != 1 || r->pid != pid) continue;
        char dir[4200], logp[4300];
        snprintf(dir, sizeof dir, "%s/%s", out, r->id);
        snprintf(logp, sizeof logp, "%s/train.log", dir);
        int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        char *tail = ok ? NULL : tail_of(logp, 3);
        status(dir, ok ? "finished" : "failed", code, tail);
        manifest(dir, r, (time_t)(time(NULL) - (long)(af_now() - r->start)), time(NULL));
        r->state = ok ? 2 : 3;
        running--;
        done_n++;
        failed += !ok;
        if (!tty || !ok) fprintf(stderr, "%sarmfarm run: %s %s (%s, seed %d) in %.0f s%s%s\n", tty ? "\n" : "", ok ? "finished" : "FAILED", r->id,
                                 r->label, r->seed, af_now() - r->start, ok ? "" : ": ", ok ? "" : tail);
        free(tail);
      }
      continue;
    }
    // progress on a terminal
    if (tty && af_now() - last_show > 0.5) {
      long sum = 0;
      for (int i = 0; i < nruns; i++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", out, runs[i].id);
        sum += runs[i].state == 2 ? runs[i].steps : steps_done(dir);
      }
      double el = af_now() - t0, rate = el > 0 ? (sum - base_steps) / el : 0;
      fprintf(stderr, "\r  runs %d/%d done, %d running, %d failed  |  %.0f env steps/s  |  ETA %.0f s   ", done_n, nruns, running, failed,
              rate, rate > 0 ? (total_steps - sum) / rate : 0);
      last_show = af_now();
    }
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (tty) fprintf(stderr, "\n");
  printf("%s: %d runs, %d finished, %d failed, in %.0f s -> %s (analyse with: armfarm analyze %s)\n", name, nruns, nruns - failed, failed,
         af_now() - t0, out, out);
  rc = failed ? AF_EXIT_FAIL : AF_EXIT_OK;

done:
  for (int i = 0; runs && i < nruns; i++) { free(runs[i].doc); free(runs[i].label); }
  free(runs);
  for (int v = 0; vars && v < nvars; v++)
    for (int k = 0; k < vars[v].n; k++) cJSON_Delete(vars[v].value[k]);
  free(vars);
  free(seeds);
  free(text);
  cJSON_free(canon);
  cJSON_Delete(exp);
  return rc;
}
