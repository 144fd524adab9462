// armfarm bench rltools: the whole Pendulum SAC training run in RLtools' configuration, ours
// (experiments/sac_pendulum_rltools.json) beside RLtools' own program built from a folder the
// user gives, in the same invocation: the two interleaved, 5 runs each, every process pinned
// to one core. Prints min, median and max wall time of each, the ratio of the medians (how many
// times faster ours is) and the final returns. A third contestant, ours with
// agent.small_kernel=false (oneDNN for every layer), shows what the own small-layer product
// gives, in the same run.
#define _GNU_SOURCE    // sched_setaffinity, CPU_SET
#include <errno.h>
#include <fcntl.h>     // open
#include <sched.h>     // sched_setaffinity
#include <stdio.h>
#include <stdlib.h>    // mkdtemp, setenv
#include <string.h>
#include <sys/stat.h>  // stat
#include <sys/wait.h>  // waitpid
#include <unistd.h>    // fork, execv, dup2

#include <cjson/cJSON.h>
#include "agents/nn/gemm.h"  // af_gemm_available
#include "base/base.h"
#include "bench/bench.h"

#define RUNS 5

typedef struct {
  const char *peer_dir, *config;
  int json, runs;
} rl_opts;

// run argv[0] with argv pinned to CPU 0, its output into `out`; the wall time in seconds, or
// -1 when it cannot be started or does not exit with 0
static double timed_run(char *const argv[], const char *out) {
  double t0 = af_now();
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || sched_setaffinity(0, sizeof one, &one)) _exit(126);
    setenv("OMP_NUM_THREADS", "1", 1);
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    execv(argv[0], argv);
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return -1;
  double el = af_now() - t0;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? el : -1;
}

// the peer's build script on its folder into tmp/rltools_sac; 0 or -1 after a message
static int build_peer(const char *dir, const char *tmp, char **bin) {
  char *script = af_path_join(dir, "build.sh"), *log = af_path_join(tmp, "build.log");
  *bin = af_path_join(tmp, "rltools_sac");
  struct stat st;
  int rc = -1;
  if (!script || !log || !*bin) fprintf(stderr, "armfarm bench rltools: out of memory\n");
  else if (stat(script, &st) != 0) fprintf(stderr, "armfarm bench rltools: %s has no build.sh (give the RLtools peer folder, e.g. ../shared/peers/rltools)\n", dir);
  else {
    char *argv[] = {"/bin/bash", script, *bin, NULL};
    if (timed_run(argv, log) < 0) fprintf(stderr, "armfarm bench rltools: building the peer failed (needs g++ and libopenblas-dev); see %s\n", log);
    else rc = 0;
  }
  free(script);
  free(log);
  return rc;
}

// the last "Mean return: X" the peer printed
static double peer_final_return(const char *out) {
  char *t = af_read_file(out), *p = t, *last = NULL;
  while (p && (p = strstr(p, "Mean return:"))) last = p++;
  double r = last ? strtod(last + 12, NULL) : 0;
  free(t);
  return r;
}

// the return column of the last row of a run's eval.csv
static double our_final_return(const char *run) {
  char *path = af_path_join(run, "eval.csv"), *t = path ? af_read_file(path) : NULL;
  double r = 0;
  char *nl = t ? strrchr(t, '\n') : NULL;
  if (nl) {
    *nl = 0;
    char *row = strrchr(t, '\n'), *comma = row ? strchr(row, ',') : NULL;
    if (comma) r = strtod(comma + 1, NULL);
  }
  free(path);
  free(t);
  return r;
}

static void summary(double *t, int n, double out[3]) {
  out[1] = af_bench_median(t, n);
  out[0] = t[0];
  out[2] = t[n - 1];
}

static int parse(rl_opts *o, int argc, char **argv) {
  o->config = AF_SOURCE_DIR "/experiments/sac_pendulum_rltools.json";
  o->runs = RUNS;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--json")) o->json = 1;
    else if (!strcmp(a, "--peer-dir") && v) { o->peer_dir = v; i++; }
    else if (!strcmp(a, "--config") && v) { o->config = v; i++; }
    else if (!strcmp(a, "--runs") && v) { if ((o->runs = (int)af_cli_long(a, v, 1, 100)) < 0) return AF_EXIT_USAGE; i++; }
    else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      printf("usage: armfarm bench rltools --peer-dir DIR [--config FILE] [--runs N] [--json]\n"
             "  builds RLtools' Pendulum SAC from DIR (its build.sh; ../shared/peers/rltools here, or your checkout),\n"
             "  then times the whole training run of both, interleaved, N runs each (default %d), pinned to one core:\n"
             "  ours is 'armfarm train --config FILE' (default experiments/sac_pendulum_rltools.json) with seeds 0..N-1.\n"
             "  Prints min, median and max seconds, the ratio of the medians (RLtools / ours: above 1 we are faster;\n"
             "  target 1.2) and the final returns. Ours also runs with agent.small_kernel=false (oneDNN for every layer),\n"
             "  interleaved too, to show what the own small-layer product gives.\n", RUNS);
      return AF_EXIT_OK;
    } else { fprintf(stderr, "armfarm bench rltools: unknown option or missing value '%s' (try --help)\n", a); return AF_EXIT_USAGE; }
  }
  if (!o->peer_dir) {
    fprintf(stderr, "armfarm bench rltools: no peer: give --peer-dir DIR, a folder with RLtools' Pendulum SAC and build.sh (../shared/peers/rltools)\n");
    return AF_EXIT_USAGE;
  }
  return -1;
}

static void report(const rl_opts *o, double *ours, double *dnn, double *peer, const double *our_ret, const double *peer_ret) {
  double so[3], sd[3], sp[3];
  summary(ours, o->runs, so);
  summary(dnn, o->runs, sd);
  summary(peer, o->runs, sp);
  double ratio = sp[1] / so[1], gain = sd[1] / so[1];
  if (o->json) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "ours_s", cJSON_CreateDoubleArray(so, 3));
    cJSON_AddItemToObject(j, "onednn_only_s", cJSON_CreateDoubleArray(sd, 3));
    cJSON_AddItemToObject(j, "rltools_s", cJSON_CreateDoubleArray(sp, 3));
    cJSON_AddNumberToObject(j, "ratio", ratio);
    cJSON_AddNumberToObject(j, "small_kernel_gain", gain);
    cJSON_AddBoolToObject(j, "small_kernel", af_gemm_available());
    cJSON_AddItemToObject(j, "ours_final_return", cJSON_CreateDoubleArray(our_ret, o->runs));
    cJSON_AddItemToObject(j, "rltools_final_return", cJSON_CreateDoubleArray(peer_ret, o->runs));
    char *s = cJSON_PrintUnformatted(j);
    printf("%s\n", s);
    cJSON_free(s);
    cJSON_Delete(j);
    return;
  }
  printf("Pendulum SAC, RLtools' configuration, whole training run, one core, %d runs each, interleaved\n", o->runs);
  printf("  %-12s min %6.2f s  median %6.2f s  max %6.2f s%s\n", "armfarm", so[0], so[1], so[2],
         af_gemm_available() ? "  (own small-layer product)" : "  (no AVX-512: oneDNN throughout)");
  printf("  %-12s min %6.2f s  median %6.2f s  max %6.2f s  (agent.small_kernel=false)\n", "armfarm-dnnl", sd[0], sd[1], sd[2]);
  printf("  %-12s min %6.2f s  median %6.2f s  max %6.2f s\n", "RLtools", sp[0], sp[1], sp[2]);
  printf("  ratio of medians (RLtools / armfarm): %.2fx (target >= 1.2x); oneDNN-only / armfarm: %.2fx\n  final returns: armfarm",
         ratio, gain);
  for (int i = 0; i < o->runs; i++) printf(" %.1f", our_ret[i]);
  printf("; RLtools");
  for (int i = 0; i < o->runs; i++) printf(" %.1f", peer_ret[i]);
  printf("\n");
}

int af_cmd_bench_rltools(int argc, char **argv) {
  rl_opts o = {0};
  int rc = parse(&o, argc, argv);
  if (rc >= 0) return rc;
  // a private folder for the peer's binary and every run
  char tmp[] = "/tmp/af_bench_rltools_XXXXXX", *peer_bin = NULL, *self = af_self_exe();
  if (!mkdtemp(tmp) || !self) { fprintf(stderr, "armfarm bench rltools: cannot make a temporary folder\n"); free(self); return AF_EXIT_FAIL; }
  double ours[100], dnn[100], peer[100], our_ret[100], dnn_ret[100], peer_ret[100];
  rc = AF_EXIT_FAIL;
  if (build_peer(o.peer_dir, tmp, &peer_bin)) goto done;
  // interleaved: ours, ours on oneDNN only, then the peer, run after run
  for (int i = 0; i < o.runs; i++) {
    char seed[16], *run = af_strfmt("%s/ours_%d", tmp, i), *out = af_strfmt("%s/ours_%d.log", tmp, i);
    char *drun = af_strfmt("%s/dnnl_%d", tmp, i), *dout = af_strfmt("%s/dnnl_%d.log", tmp, i);
    char *pout = af_strfmt("%s/peer_%d.log", tmp, i);
    snprintf(seed, sizeof seed, "%d", i);
    char *a_ours[] = {self, "train", "--config", (char *)o.config, "--seed", seed, "--out", run, NULL};
    char *a_dnn[] = {self, "train", "--config", (char *)o.config, "--seed", seed, "--set", "agent.small_kernel=false",
                     "--out", drun, NULL};
    char *a_peer[] = {peer_bin, NULL};
    ours[i] = run && out ? timed_run(a_ours, out) : -1;
    dnn[i] = drun && dout ? timed_run(a_dnn, dout) : -1;
    peer[i] = pout ? timed_run(a_peer, pout) : -1;
    if (ours[i] >= 0) our_ret[i] = our_final_return(run);
    if (dnn[i] >= 0) dnn_ret[i] = our_final_return(drun);
    if (peer[i] >= 0) peer_ret[i] = peer_final_return(pout);
    const char *failed = ours[i] < 0 ? "armfarm train" : dnn[i] < 0 ? "armfarm train on oneDNN" : peer[i] < 0 ? "the peer" : NULL;
    if (failed) fprintf(stderr, "armfarm bench rltools: run %d failed (%s); see %s\n", i, failed, ours[i] < 0 ? out : dnn[i] < 0 ? dout : pout);
    else if (!o.json)
      fprintf(stderr, "  run %d: armfarm %.2f s (return %.1f), on oneDNN only %.2f s (%.1f), RLtools %.2f s\n", i, ours[i], our_ret[i],
              dnn[i], dnn_ret[i], peer[i]);
    free(run);
    free(out);
    free(drun);
    free(dout);
    free(pout);
    if (failed) goto done;
  }
  report(&o, ours, dnn, peer, our_ret, peer_ret);
  rc = AF_EXIT_OK;
done:
  {
    char *argv_rm[] = {"/bin/rm", "-rf", tmp, NULL};
    timed_run(argv_rm, "/dev/null");
  }
  free(peer_bin);
  free(self);
  return rc;
}
