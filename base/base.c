// The base layer: time, files, paths, strict numbers and programs started without a shell.
#include "base/base.h"

#include <errno.h>     // errno
#include <fcntl.h>     // fcntl, FD_CLOEXEC
#include <math.h>      // isfinite
#include <stdarg.h>    // va_list
#include <stdio.h>     // FILE, snprintf, vsnprintf, fdopen
#include <stdlib.h>    // malloc, strtol, strtod
#include <string.h>    // strlen, memcpy
#include <sys/wait.h>  // waitpid
#include <sys/stat.h>  // mkdir, stat
#include <time.h>      // clock_gettime
#include <unistd.h>    // getpid, fork, execvp, pipe, dup2

double af_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

char *af_read_file_len(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  // read in chunks: works for pipes and files that change size, and checks every call
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
    if (n == cap) {
      char *nb = realloc(buf, 2 * cap + 1);
      if (!nb) { free(buf); buf = NULL; break; }
      buf = nb;
      cap *= 2;
    }
  }
  if (buf && ferror(f)) { free(buf); buf = NULL; }
  fclose(f);
  if (!buf) return NULL;
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

char *af_read_file(const char *path) { return af_read_file_len(path, NULL); }

int af_write_file_atomic(const char *path, const void *data, size_t n, char *err, size_t errsz) {
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 32);
  if (!tmp) { snprintf(err, errsz, "out of memory"); return -1; }
  snprintf(tmp, plen + 32, "%s.tmp%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "wb");
  int ok = f && fwrite(data, 1, n, f) == n;
  if (f && fclose(f) != 0) ok = 0;
  if (ok && rename(tmp, path) != 0) ok = 0;
  if (!ok) {
    snprintf(err, errsz, "cannot write %.300s: %s", path, strerror(errno));
    remove(tmp);
  }
  free(tmp);
  return ok ? 0 : -1;
}

int af_mkdirs(const char *path) {
  char *p = strdup(path);
  if (!p) return -1;
  for (char *c = p + 1; *c; c++)
    if (*c == '/') { *c = 0; mkdir(p, 0755); *c = '/'; }
  free(p);
  struct stat st;
  return (mkdir(path, 0755) == 0 || errno == EEXIST) && stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

char *af_path_join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (!p) return NULL;
  memcpy(p, dir, a);
  p[a] = '/';
  memcpy(p + a + 1, name, b + 1);
  return p;
}

char *af_strfmt(const char *fmt, ...) {
  // measure, then print into a string of that size
  va_list ap, aq;
  va_start(ap, fmt);
  va_copy(aq, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s) vsnprintf(s, (size_t)n + 1, fmt, aq);
  va_end(aq);
  return s;
}

int af_parse_long(const char *s, long lo, long hi, long *out) {
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  long x = strtol(s, &end, 10);
  if (*end || errno || x < lo || x > hi) return -1;
  *out = x;
  return 0;
}

int af_parse_double(const char *s, double lo, double hi, double *out) {
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  double x = strtod(s, &end);
  if (*end || errno == ERANGE || !isfinite(x) || x < lo || x > hi) return -1;
  *out = x;
  return 0;
}

long af_cli_long(const char *opt, const char *s, long lo, long hi) {
  long x;
  if (af_parse_long(s, lo, hi, &x)) {
    fprintf(stderr, "armfarm: %s expects a whole number in [%ld, %ld], got '%s'\n", opt, lo, hi, s ? s : "");
    return -1;
  }
  return x;
}

char *af_self_exe(void) {
  for (size_t cap = 256; cap <= ((size_t)1 << 20); cap *= 2) {
    char *b = malloc(cap);
    ssize_t n = b ? readlink("/proc/self/exe", b, cap) : -1;
    if (n > 0 && (size_t)n < cap) { b[n] = 0; return b; }
    free(b);
    if (n <= 0) return NULL;
  }
  return NULL;
}

// a pipe whose two ends close on exec; 0 or -1
static int cloexec_pipe(int fd[2]) {
  if (pipe(fd)) return -1;
  if (fcntl(fd[0], F_SETFD, FD_CLOEXEC) == 0 && fcntl(fd[1], F_SETFD, FD_CLOEXEC) == 0) return 0;
  close(fd[0]);
  close(fd[1]);
  return -1;
}

// the child after fork: the pipe's end on stdin, or on stdout and stderr, the folder, the
// program; when any of it fails, errno goes to the parent through `report` (closed on exec)
static void spawn_child(char *const argv[], int reading, int end, const char *cwd, int report) {
  int ok = reading ? dup2(end, 1) >= 0 && dup2(end, 2) >= 0 : dup2(end, 0) >= 0;
  if (ok && (!cwd || chdir(cwd) == 0)) execvp(argv[0], argv);
  int e = errno;
  ssize_t w = write(report, &e, sizeof e);
  (void)w;  // nothing more to do: the parent sees a short report as an exec failure
  _exit(127);
}

FILE *af_spawn_pipe(char *const argv[], const char *mode, const char *cwd, pid_t *pid, char *err, size_t errsz) {
  int reading = mode && mode[0] == 'r' && !mode[1];
  if (!argv || !argv[0] || !mode || (!reading && strcmp(mode, "w"))) { snprintf(err, errsz, "af_spawn_pipe: a program and mode \"r\" or \"w\""); return NULL; }
  // the data pipe and the report pipe, then the child
  int io[2], rep[2];
  if (cloexec_pipe(io)) { snprintf(err, errsz, "cannot make a pipe: %s", strerror(errno)); return NULL; }
  if (cloexec_pipe(rep)) { snprintf(err, errsz, "cannot make a pipe: %s", strerror(errno)); close(io[0]); close(io[1]); return NULL; }
  pid_t child = fork();
  if (child == 0) spawn_child(argv, reading, reading ? io[1] : io[0], cwd, rep[1]);
  int e = errno;
  close(rep[1]);
  close(reading ? io[1] : io[0]);
  int mine = reading ? io[0] : io[1];
  // the report pipe stays empty when exec worked: it closes with the exec
  ssize_t got = 0;
  if (child > 0) {
    do got = read(rep[0], &e, sizeof e); while (got < 0 && errno == EINTR);
  }
  close(rep[0]);
  FILE *f = child > 0 && got == 0 ? fdopen(mine, mode) : NULL;
  if (f) { *pid = child; return f; }
  // nothing left behind: the pipe closed, the child (if any) collected
  if (child < 0) snprintf(err, errsz, "cannot start %s: %s", argv[0], strerror(e));
  else if (got > 0) snprintf(err, errsz, "cannot run %s%s%s: %s", argv[0], cwd ? " in " : "", cwd ? cwd : "", strerror(e));
  else snprintf(err, errsz, "cannot open the pipe to %s: %s", argv[0], strerror(errno));
  close(mine);
  if (child > 0) {
    int st;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR) {}
  }
  return NULL;
}

int af_spawn_close(FILE *f, pid_t pid) {
  // the stream first, so that a reader sees the end of its input
  int closed = fclose(f) == 0, st;
  pid_t w;
  do w = waitpid(pid, &st, 0); while (w < 0 && errno == EINTR);
  if (w != pid || !closed) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}
