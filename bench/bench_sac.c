// armfarm bench sac: Soft Actor-Critic updates per second on one thread (observation 27,
// action 8, batch 256, 256-256 networks) beside the same update in PyTorch
// (bench/peers/sac_update_torch.py) run in the same invocation; the update's GFLOP/s beside
// oneDNN's own large-matmul GFLOP/s on this machine, measured around each round of updates.
#include <stdio.h>
#include <stdlib.h>  // calloc, free, getenv
#include <string.h>  // strcmp, strstr

#include <cjson/cJSON.h>
#include <oneapi/dnnl/dnnl.h>
#include "agents/nn/nn_private.h"  // af_nn_ctx_engine, af_nn_ctx_stream
#include "agents/sac.h"
#include "base/base.h"
#include "bench/bench.h"

#define OBS 27
#define ACT 8

#define ROUNDS 5

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double af_bench_median(double *x, int n) {
  qsort(x, (size_t)n, sizeof *x, cmp_double);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

// the figures of our rounds: each round times `updates` SAC updates between two measurements of
// oneDNN's 1024^3 matmul and keeps the higher of those two as the round's reference, so that a
// change in the (virtual) machine's speed falls on both sides of the round's share
typedef struct {
  double ups[ROUNDS], mm[ROUNDS], share[ROUNDS];
  double flops;  // per update
} rounds;

// 0, or -1 with the reason printed
static int time_ours(rounds *out, int updates) {
  af_env_spec spec = {.obs_dim = OBS, .act_dim = ACT};
  char err[256];
  af_agent *ag = af_agent_make("sac", "{\"batch\": 256, \"hidden\": 256, \"buffer\": 10000, \"warmup\": 0}",
                               &(af_agent_setup){.spec = &spec, .num_envs = 1, .seed = 1}, err, sizeof err);
  if (!ag) { fprintf(stderr, "armfarm bench: %s\n", err); return -1; }
  // a replay of random transitions
  af_rng r;
  af_rng_seed(&r, 3);
  af_sac *sac = af_agent_impl(ag);
  float o[OBS], a[ACT], no[OBS];
  for (int i = 0; i < 10000; i++) {
    for (int k = 0; k < OBS; k++) { o[k] = (float)af_rng_normal(&r); no[k] = (float)af_rng_normal(&r); }
    for (int k = 0; k < ACT; k++) a[k] = (float)af_rng_range(&r, -1, 1);
    af_replay_add(&sac->replay, o, a, (float)af_rng_normal(&r), no, af_rng_uniform(&r) < 0.05, NULL, NULL);
  }
  out->flops = af_sac_update_flops(sac);
  // updates back to back, whatever the schedule would say, after a warm-up
  af_agent_stats st;
  int rc = af_sac_learn(sac, 10, &st);
  for (int round = 0; round < ROUNDS && rc == 0; round++) {
    double before = af_bench_matmul_gflops(), t0 = af_now();
    rc = af_sac_learn(sac, updates, &st);
    double ups = updates / (af_now() - t0), after = af_bench_matmul_gflops();
    out->ups[round] = ups;
    out->mm[round] = before > after ? before : after;
    out->share[round] = out->mm[round] > 0 ? ups * out->flops / 1e9 / out->mm[round] : 0;
  }
  if (rc) fprintf(stderr, "armfarm bench: sac update failed\n");
  af_agent_free(ag);
  return rc ? -1 : 0;
}

double af_bench_matmul_gflops(void) {
  const int n = 1024;
  // on one thread, as the updates it is set beside (oneDNN's default is every core)
  char err[128];
  af_nn_ctx *ctx = af_nn_ctx_make(1, 1, err, sizeof err);
  if (!ctx) return 0;
  af_nn_ctx_enter(ctx);
  dnnl_engine_t eng = af_nn_ctx_engine(ctx);
  dnnl_stream_t st = af_nn_ctx_stream(ctx);
  dnnl_dims_t d = {n, n};
  dnnl_memory_desc_t md;
  dnnl_memory_desc_init_by_tag(&md, 2, d, dnnl_f32, dnnl_ab);
  float *A = calloc((size_t)n * n, sizeof(float)), *B = calloc((size_t)n * n, sizeof(float)), *C = calloc((size_t)n * n, sizeof(float));
  for (int i = 0; i < n * n; i++) { A[i] = (float)(i % 7) * 0.1f; B[i] = (float)(i % 5) * 0.1f; }
  dnnl_memory_t ma, mb, mc;
  dnnl_memory_create(&ma, &md, eng, A);
  dnnl_memory_create(&mb, &md, eng, B);
  dnnl_memory_create(&mc, &md, eng, C);
  dnnl_matmul_desc_t desc;
  dnnl_matmul_desc_init(&desc, &md, &md, NULL, &md);
  dnnl_primitive_desc_t pd;
  dnnl_primitive_t p;
  double best = 0;
  if (dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL) == dnnl_success && dnnl_primitive_create(&p, pd) == dnnl_success) {
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
    for (int i = 0; i < 6; i++) {
      double t0 = af_now();
      dnnl_primitive_execute(p, st, 3, args);
      dnnl_stream_wait(st);
      double g = 2.0 * n * n * n / (af_now() - t0) / 1e9;
      if (i > 0 && g > best) best = g;
    }
    dnnl_primitive_destroy(p);
    dnnl_primitive_desc_destroy(pd);
  }
  dnnl_memory_destroy(ma);
  dnnl_memory_destroy(mb);
  dnnl_memory_destroy(mc);
  free(A); free(B); free(C);
  af_nn_ctx_leave(ctx);
  af_nn_ctx_free(ctx);
  return best;
}

double af_bench_torch_peer(const char *script, const char *const *args, int nargs, char *why, size_t whysz) {
  char *path = af_path_join(AF_SOURCE_DIR, script), *argv[16];
  int n = 0;
  argv[n++] = "/usr/bin/env";
  argv[n++] = "OMP_NUM_THREADS=1";
  argv[n++] = "/usr/bin/python3";
  argv[n++] = path;
  for (int i = 0; i < nargs && n < 15; i++) argv[n++] = (char *)args[i];
  argv[n] = NULL;
  pid_t pid;
  why[0] = 0;
  FILE *f = path ? af_spawn_pipe(argv, "r", NULL, &pid, why, whysz) : NULL;
  free(path);
  if (!f) { if (!path) snprintf(why, whysz, "out of memory"); return 0; }
  // the figure, or the first other line (an import error, say) as the reason
  char line[512];
  double ups = 0;
  while (fgets(line, sizeof line, f)) {
    char *p = strstr(line, "updates_per_s=");
    if (p) ups = atof(p + 14);
    else if (!why[0]) snprintf(why, whysz, "%.*s", (int)strcspn(line, "\n"), line);
  }
  int code = af_spawn_close(f, pid);
  if (code != 0 && !why[0]) snprintf(why, whysz, "the peer exited with status %d", code);
  return code == 0 ? ups : 0;
}

// the PyTorch SAC update at our sizes
static double time_peer(int updates, char *why, size_t whysz) {
  char obs[16], act[16], n[16];
  snprintf(obs, sizeof obs, "%d", OBS);
  snprintf(act, sizeof act, "%d", ACT);
  snprintf(n, sizeof n, "%d", updates);
  const char *args[] = {obs, act, n, "1"};
  return af_bench_torch_peer("bench/peers/sac_update_torch.py", args, 4, why, whysz);
}

int af_cmd_bench_sac(int argc, char **argv) {
  int json = 0;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: armfarm bench sac [--json]\n"
             "  SAC updates/s on one thread (obs %d, act %d, batch 256, 256-256) beside PyTorch's in the same run\n"
             "  (needs python3-torch and libopenblas0-pthread: scripts/setup.sh bench), the update's GFLOP/s\n"
             "  and oneDNN's 1024^3 matmul GFLOP/s on one thread, in %d rounds each timed between two matmul\n"
             "  measurements (the medians printed). Targets: 3x PyTorch, 90%% of the matmul figure.\n", OBS, ACT, ROUNDS);
      return AF_EXIT_OK;
    } else { fprintf(stderr, "armfarm bench sac: unknown option '%s'\n", argv[i]); return AF_EXIT_USAGE; }
  }
  rounds rs;
  if (time_ours(&rs, 150)) return AF_EXIT_FAIL;
  double lo = rs.share[0], hi = rs.share[0];
  for (int i = 1; i < ROUNDS; i++) lo = rs.share[i] < lo ? rs.share[i] : lo, hi = rs.share[i] > hi ? rs.share[i] : hi;
  double flops = rs.flops, ours = af_bench_median(rs.ups, ROUNDS), mm = af_bench_median(rs.mm, ROUNDS), share = af_bench_median(rs.share, ROUNDS);
  double gflops = ours * flops / 1e9;
  char why[256];
  double peer = time_peer(100, why, sizeof why);
  double ratio = peer > 0 ? ours / peer : 0;
  if (json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "updates_per_s", ours);
    if (peer > 0) {
      cJSON_AddNumberToObject(o, "peer_updates_per_s", peer);
      cJSON_AddNumberToObject(o, "ratio", ratio);
    } else {
      cJSON_AddNullToObject(o, "peer_updates_per_s");
      cJSON_AddNullToObject(o, "ratio");
      cJSON_AddStringToObject(o, "peer_error", why);
    }
    cJSON_AddNumberToObject(o, "gflops", gflops);
    cJSON_AddNumberToObject(o, "matmul_gflops", mm);
    cJSON_AddNumberToObject(o, "matmul_share", share);
    cJSON_AddNumberToObject(o, "flops_per_update", flops);
    char *s = cJSON_PrintUnformatted(o);
    printf("%s\n", s);
    cJSON_free(s);
    cJSON_Delete(o);
  } else {
    printf("SAC update, obs %d, act %d, batch 256, 256-256 networks, one thread (medians of %d rounds)\n", OBS, ACT, ROUNDS);
    printf("  armfarm (oneDNN)     %8.1f updates/s  %6.1f GFLOP/s (%.2f GFLOP per update)\n", ours, gflops, flops / 1e9);
    if (peer > 0) printf("  PyTorch (same run)   %8.1f updates/s  ratio %.2fx (target >= 3x)\n", peer, ratio);
    else printf("  PyTorch (same run)   unavailable: %s\n", why[0] ? why : "no output");
    printf("  oneDNN matmul 1024^3 %8.1f GFLOP/s    update at %.1f%% of it (target >= 90%%; rounds %.1f-%.1f%%)\n", mm, 100 * share,
           100 * lo, 100 * hi);
  }
  return peer > 0 ? AF_EXIT_OK : AF_EXIT_FAIL;
}
