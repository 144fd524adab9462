// The Slurm backend of armfarm run, the parts that need no run folder: strict checks of the
// time and partition strings, the sbatch argument vector, the array task's script and the
// queue read through squeue. Slurm's programs are started from argument vectors
// (af_spawn_pipe), never through a shell.
#include "experiments/slurm.h"

#include <stdio.h>     // snprintf, getline
#include <stdlib.h>    // calloc, free, getenv
#include <string.h>    // strspn, strcmp
#include <unistd.h>    // access

#include "base/base.h"  // af_spawn_pipe, af_strfmt, af_parse_long

// ---- the options ----

// a field of digits only (1 to maxd of them) into *v; 0 or -1
static int digits(const char *s, size_t n, size_t maxd, long *v) {
  if (n == 0 || n > maxd) return -1;
  *v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    *v = *v * 10 + (s[i] - '0');
  }
  return 0;
}

int af_slurm_check_time(const char *s) {
  if (!s || !*s) return -1;
  // an optional "days-" before hours, then up to three fields separated by ':'
  const char *dash = strchr(s, '-');
  long days = -1, f[3] = {0, 0, 0};
  if (dash && digits(s, (size_t)(dash - s), 5, &days)) return -1;
  const char *p = dash ? dash + 1 : s;
  int n = 0;
  for (;;) {
    const char *c = strchr(p, ':');
    size_t len = c ? (size_t)(c - p) : strlen(p);
    if (n == 3 || digits(p, len, n == 0 && !dash ? 7 : 2, &f[n])) return -1;
    n++;
    if (!c) break;
    p = c + 1;
  }
  long total;
  if (dash) {
    // days-hours[:minutes[:seconds]]
    if (f[0] > 23 || (n > 1 && f[1] > 59) || (n > 2 && f[2] > 59)) return -1;
    total = days * 86400 + f[0] * 3600 + f[1] * 60 + f[2];
  } else if (n == 1) {
    total = f[0] * 60;  // minutes
  } else if (n == 2) {
    if (f[1] > 59) return -1;  // minutes:seconds
    total = f[0] * 60 + f[1];
  } else {
    if (f[1] > 59 || f[2] > 59) return -1;  // hours:minutes:seconds
    total = f[0] * 3600 + f[1] * 60 + f[2];
  }
  return total > 0 ? 0 : -1;
}

int af_slurm_check_partition(const char *s) {
  static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 64 || s[0] == ',' || s[n - 1] == ',' || strstr(s, ",,")) return -1;
  for (const char *c = s; *c; c++)
    if (*c != ',' && !strchr(ok, *c)) return -1;
  return 0;
}

int af_slurm_on_path(const char *prog) {
  const char *path = getenv("PATH");
  if (!path || !*path) return 0;
  for (const char *p = path;;) {
    const char *c = strchr(p, ':');
    size_t n = c ? (size_t)(c - p) : strlen(p);
    char *f = n ? af_strfmt("%.*s/%s", (int)n, p, prog) : NULL;
    int found = f && access(f, X_OK) == 0;
    free(f);
    if (found) return 1;
    if (!c) return 0;
    p = c + 1;
  }
}

// ---- the submission ----

const char af_slurm_script[] =
  "#!/bin/sh\n"
  "# armfarm run --backend slurm: one array task trains one run of the sweep.\n"
  "# Arguments (from sbatch, as they are): the armfarm program, the output folder, the list\n"
  "# of run ids of this submission; line N + 1 of the list is array task N's run. The task's\n"
  "# step records the run's status and manifest (job, task, node) and runs\n"
  "#   armfarm train --config OUT/ID/run.json --out OUT/ID --resume   (into OUT/ID/train.log)\n"
  "# so a task that Slurm ends and starts again continues from the run's last checkpoint.\n"
  "# Written by armfarm run.\n"
  "set -u\n"
  "id=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" \"$3\")\n"
  "case \"$id\" in\n"
  "  [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]) ;;\n"
  "  *) echo \"armfarm: no run for array task $SLURM_ARRAY_TASK_ID in $3\" >&2; exit 2 ;;\n"
  "esac\n"
  "exec \"$1\" run --slurm-task \"$2/$id\"\n";

void af_slurm_argv_free(char **argv) {
  for (int i = 0; argv && argv[i]; i++) free(argv[i]);
  free(argv);
}

char **af_slurm_sbatch_argv(const af_slurm_opts *o, const char *name, int ntasks, int sub, const char *script, const char *armfarm,
                            const char *out, const char *list) {
  char **a = calloc(20, sizeof *a);
  if (!a) return NULL;
  int n = 0, bad = 0;
  // each element is checked once the vector is made: a NULL in the middle means out of memory
  const int want = 13 + (o->partition != NULL) + (o->time != NULL);
  a[n++] = strdup("sbatch");
  a[n++] = strdup("--parsable");
  a[n++] = strdup("--hold");
  a[n++] = af_strfmt("--job-name=armfarm-%s", name);
  a[n++] = o->throttle > 0 ? af_strfmt("--array=0-%d%%%ld", ntasks - 1, o->throttle) : af_strfmt("--array=0-%d", ntasks - 1);
  a[n++] = af_strfmt("--cpus-per-task=%ld", o->cpus > 0 ? o->cpus : 1);
  if (o->partition) a[n++] = af_strfmt("--partition=%s", o->partition);
  if (o->time) a[n++] = af_strfmt("--time=%s", o->time);
  a[n++] = strdup(o->requeue ? "--requeue" : "--no-requeue");
  a[n++] = af_strfmt("--output=%s/slurm/sub_%d_%%a.out", out, sub);
  a[n++] = strdup("--open-mode=append");
  a[n++] = strdup(script);
  a[n++] = strdup(armfarm);
  a[n++] = strdup(out);
  a[n++] = strdup(list);
  for (int i = 0; i < want; i++) bad |= a[i] == NULL;
  if (bad) {
    for (int i = 0; i < want; i++) free(a[i]);
    free(a);
    return NULL;
  }
  return a;
}

int af_slurm_parse_job(const char *output, char *id, size_t idsz) {
  for (const char *line = output; line && *line;) {
    size_t n = strcspn(line, "\n"), d = strspn(line, "0123456789");
    if (d > 0 && d < idsz && (d == n || line[d] == ';')) {
      memcpy(id, line, d);
      id[d] = 0;
      return 0;
    }
    line += n;
    if (*line) line++;
  }
  return -1;
}

// ---- running Slurm's programs ----

int af_slurm_capture(char *const argv[], char **out) {
  char err[512];
  pid_t pid;
  *out = NULL;
  FILE *f = af_spawn_pipe(argv, "r", NULL, &pid, err, sizeof err);
  if (!f) { *out = strdup(err); return -1; }
  size_t n = 0;
  FILE *m = open_memstream(out, &n);
  char buf[4096];
  for (size_t k; (k = fread(buf, 1, sizeof buf, f)) > 0;)
    if (m) fwrite(buf, 1, k, m);
  if (m) fclose(m);
  int rc = af_spawn_close(f, pid);
  return m ? rc : -1;
}

// ---- the queue ----

void af_slurm_queue_free(af_slurm_queue *q) {
  for (int i = 0; i < q->n; i++) free(q->task[i]);
  free(q->task);
  free(q->state);
  *q = (af_slurm_queue){0};
}

// a squeue state: waiting, running (or about to end), or neither
static int queue_state_of(const char *s) {
  static const char *const waiting[] = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"};
  static const char *const running[] = {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT"};
  for (int i = 0; i < 6; i++) {
    if (!strcmp(s, waiting[i])) return AF_SLURM_PENDING;
    if (!strcmp(s, running[i])) return AF_SLURM_RUNNING;
  }
  return AF_SLURM_GONE;
}

int af_slurm_queue_read(af_slurm_queue *q) {
  *q = (af_slurm_queue){0};
  char *argv[] = {"squeue", "-h", "-r", "--me", "-o", "%i %T", NULL}, *out = NULL;
  if (af_slurm_capture(argv, &out) != 0) { free(out); return -1; }
  // lines "JOB_TASK STATE"; anything else (a warning) is passed over
  int cap = 0, bad = 0;
  char *save = NULL;
  for (char *line = strtok_r(out, "\n", &save); line && !bad; line = strtok_r(NULL, "\n", &save)) {
    char task[64], state[64];
    if (sscanf(line, "%63s %63s", task, state) != 2 || !strchr(task, '_')) continue;
    if (q->n == cap) {
      cap = cap ? 2 * cap : 64;
      char **t = realloc(q->task, (size_t)cap * sizeof *t);
      if (t) q->task = t;
      int *st = realloc(q->state, (size_t)cap * sizeof *st);
      if (st) q->state = st;
      if (!t || !st) { bad = 1; break; }
    }
    if (!(q->task[q->n] = strdup(task))) { bad = 1; break; }
    q->state[q->n++] = queue_state_of(state);
  }
  free(out);
  if (bad) { af_slurm_queue_free(q); return -1; }
  return 0;
}

int af_slurm_queue_state(const af_slurm_queue *q, const char *job, int task) {
  char key[96];
  snprintf(key, sizeof key, "%s_%d", job, task);
  for (int i = 0; i < q->n; i++)
    if (!strcmp(q->task[i], key)) return q->state[i];
  return AF_SLURM_GONE;
}
