// armfarm bench conv-encoder: the pixel-SAC convolutional encoder (SAC-AE, DrQ: 3 stacked RGB
// 64x64 frames, a 3x3 stride-2 conv and three 3x3 stride-1 convs of 32 filters, dense 50,
// LayerNorm, tanh) forward and backward (parameter gradients, no image gradient) at batch 128
// on one thread: milliseconds and GFLOP/s, beside oneDNN's own large-matmul GFLOP/s on this
// machine, with the oneDNN implementation of every layer.
// armfarm bench conv: the whole image-SAC update of agent pixel_sac (encoder, twin critics,
// actor, temperature, targets; batch 128, 3 stacked 64x64 frames) on one thread beside the
// same update in PyTorch (bench/peers/pixel_sac_update_torch.py) run in the same invocation.
#include <stdio.h>
#include <stdlib.h>  // malloc, free
#include <string.h>  // strcmp

#include <cjson/cJSON.h>
#include "agents/agent.h"
#include "agents/nn/conv.h"
#include "agents/pixel_sac.h"
#include "base/base.h"
#include "bench/bench.h"

#define BATCH 128
#define NL 6

static const af_conv_layer encoder[NL] = {
    {AF_LAYER_CONV, .out = 32, .k = 3, .stride = 2, .pad = 0, .act = AF_ACT_RELU},
    {AF_LAYER_CONV, .out = 32, .k = 3, .stride = 1, .pad = 0, .act = AF_ACT_RELU},
    {AF_LAYER_CONV, .out = 32, .k = 3, .stride = 1, .pad = 0, .act = AF_ACT_RELU},
    {AF_LAYER_CONV, .out = 32, .k = 3, .stride = 1, .pad = 0, .act = AF_ACT_RELU},
    {AF_LAYER_DENSE, .out = 50, .act = AF_ACT_NONE},
    {AF_LAYER_LAYERNORM, .act = AF_ACT_TANH},
};

typedef struct {
  double fwd_ms, bwd_ms, step_ms;  // best of the rounds
  double flops;                     // forward + weight gradients + hidden data gradients
  int reorders;
} result;

// best-of-`rounds` times of forward, backward and both, after a warm-up
static int measure(af_conv *n, af_nn_ctx *ctx, const float *x, const float *dout, int rounds, result *r) {
  for (int i = 0; i < 2; i++) {
    af_conv_forward(n, BATCH, x);
    af_conv_backward(n, BATCH, dout, NULL, 1, 0);
  }
  r->fwd_ms = r->bwd_ms = r->step_ms = 1e30;
  for (int i = 0; i < rounds; i++) {
    double t0 = af_now();
    af_conv_forward(n, BATCH, x);
    double t1 = af_now();
    af_conv_backward(n, BATCH, dout, NULL, 1, 0);
    double t2 = af_now();
    if (1e3 * (t1 - t0) < r->fwd_ms) r->fwd_ms = 1e3 * (t1 - t0);
    if (1e3 * (t2 - t1) < r->bwd_ms) r->bwd_ms = 1e3 * (t2 - t1);
    if (1e3 * (t2 - t0) < r->step_ms) r->step_ms = 1e3 * (t2 - t0);
  }
  r->flops = af_conv_flops(n, BATCH, AF_FLOPS_FORWARD) + af_conv_flops(n, BATCH, AF_FLOPS_WEIGHTS) +
             af_conv_flops(n, BATCH, AF_FLOPS_DATA_HIDDEN);
  r->reorders = af_conv_reorders(n, BATCH);
  return af_nn_ctx_error(ctx) ? -1 : 0;
}

int af_cmd_bench_conv_encoder(int argc, char **argv) {
  int json = 0, rounds = 10;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: armfarm bench conv-encoder [--json]\n"
             "  the pixel-SAC encoder (9x64x64 input: conv 32 3x3/2, 3x conv 32 3x3/1, dense 50, LayerNorm, tanh)\n"
             "  forward and backward (parameter gradients) at batch %d on one thread, best of %d rounds:\n"
             "  milliseconds, GFLOP/s beside oneDNN's 1024^3 matmul GFLOP/s, and each layer's oneDNN kernels\n", BATCH, rounds);
      return AF_EXIT_OK;
    } else { fprintf(stderr, "armfarm bench conv-encoder: unknown option '%s'\n", argv[i]); return AF_EXIT_USAGE; }
  }
  char err[256];
  af_nn_ctx *ctx = af_nn_ctx_make(1, 1, err, sizeof err);
  const int bs[1] = {BATCH};
  af_conv *n = ctx ? af_conv_make(ctx, encoder, NL, 9, 64, 64, bs, 1, err, sizeof err) : NULL;
  if (!n) { fprintf(stderr, "armfarm bench conv-encoder: %s\n", err); af_nn_ctx_free(ctx); return AF_EXIT_FAIL; }
  af_rng rng;
  af_rng_seed(&rng, 1);
  af_conv_init(n, &rng);
  // random frames, as the replay would hold them, and a random output gradient
  size_t nin = (size_t)BATCH * af_conv_in(n), nout = (size_t)BATCH * af_conv_out(n);
  uint8_t *frames = malloc(nin);
  float *x = malloc(sizeof(float) * nin), *dout = malloc(sizeof(float) * nout);
  int rc = AF_EXIT_FAIL;
  result r;
  if (frames && x && dout) {
    for (size_t i = 0; i < nin; i++) frames[i] = (uint8_t)af_rng_int(&rng, 0, 255);
    af_conv_from_u8(x, frames, nin);
    for (size_t i = 0; i < nout; i++) dout[i] = (float)af_rng_range(&rng, -1, 1);
    if (measure(n, ctx, x, dout, rounds, &r) == 0) rc = AF_EXIT_OK;
    else fprintf(stderr, "armfarm bench conv-encoder: %s\n", af_nn_ctx_error(ctx));
  } else fprintf(stderr, "armfarm bench conv-encoder: out of memory\n");
  if (rc == AF_EXIT_OK) {
    double gflops = r.flops / (r.step_ms * 1e-3) / 1e9, mm = af_bench_matmul_gflops();
    if (json) {
      cJSON *o = cJSON_CreateObject(), *impl = cJSON_CreateArray();
      cJSON_AddNumberToObject(o, "batch", BATCH);
      cJSON_AddNumberToObject(o, "forward_ms", r.fwd_ms);
      cJSON_AddNumberToObject(o, "backward_ms", r.bwd_ms);
      cJSON_AddNumberToObject(o, "step_ms", r.step_ms);
      cJSON_AddNumberToObject(o, "flops_per_step", r.flops);
      cJSON_AddNumberToObject(o, "gflops", gflops);
      cJSON_AddNumberToObject(o, "matmul_gflops", mm);
      cJSON_AddNumberToObject(o, "reorders", r.reorders);
      for (int l = 0; l < NL; l++) {
        cJSON *a = cJSON_CreateArray();
        for (int p = 0; p < 3; p++) cJSON_AddItemToArray(a, cJSON_CreateString(af_conv_impl(n, l, BATCH, p)));
        cJSON_AddItemToArray(impl, a);
      }
      cJSON_AddItemToObject(o, "kernels", impl);
      char *s = cJSON_PrintUnformatted(o);
      printf("%s\n", s);
      cJSON_free(s);
      cJSON_Delete(o);
    } else {
      printf("pixel-SAC encoder, 9x64x64 -> 32x25x25 -> 50, batch %d, one thread (best of %d; FLOPs counted as direct convolution)\n", BATCH, rounds);
      printf("  forward              %8.2f ms\n", r.fwd_ms);
      printf("  backward (params)    %8.2f ms\n", r.bwd_ms);
      printf("  forward + backward   %8.2f ms  %6.1f GFLOP/s (%.2f GFLOP per step, %d reorders planned)\n", r.step_ms, gflops, r.flops / 1e9,
             r.reorders);
      printf("  oneDNN matmul 1024^3 %8.1f GFLOP/s    encoder at %.0f%% of it\n", mm, mm > 0 ? 100 * gflops / mm : 0);
      for (int l = 0; l < NL; l++)
        printf("  layer %d: forward %s, backward data %s, backward weights %s\n", l, af_conv_impl(n, l, BATCH, 0), af_conv_impl(n, l, BATCH, 1),
               af_conv_impl(n, l, BATCH, 2)[0] ? af_conv_impl(n, l, BATCH, 2) : "-");
    }
  }
  free(frames);
  free(x);
  free(dout);
  af_conv_free(n);
  af_nn_ctx_free(ctx);
  return rc;
}

// ---- armfarm bench conv: the whole image-SAC update beside PyTorch's ----
#define UPD_ACT 4
#define UPD_SIZE 64
#define UPD_STACK 3
#define UPD_REPLAY 2000
#define ROUNDS 5

// the pixel_sac agent at the benchmark's sizes over a replay of random frames (episodes of
// 100 steps); NULL with a message
static af_agent *update_agent(char *err, size_t errsz) {
  static af_env_spec spec = {.obs_dim = UPD_STACK * 3 * UPD_SIZE * UPD_SIZE, .act_dim = UPD_ACT, .pixel_width = UPD_SIZE,
                             .pixel_height = UPD_SIZE, .pixel_stack = UPD_STACK, .pixel_offset = 0, .achieved_offset = -1,
                             .desired_offset = -1};
  char cfg[256];
  snprintf(cfg, sizeof cfg, "{\"batch\": %d, \"buffer\": %d, \"warmup\": 0, \"actor_every\": 1, \"target_every\": 1, \"proprio\": false}",
           BATCH, UPD_REPLAY);
  af_agent *ag = af_agent_make("pixel_sac", cfg, &(af_agent_setup){.spec = &spec, .num_envs = 1, .seed = 1}, err, errsz);
  if (!ag) return NULL;
  af_pixel_sac *s = af_agent_impl(ag);
  const size_t fr = (size_t)UPD_SIZE * UPD_SIZE * 3;
  uint8_t *f = malloc(2 * fr);
  if (!f) { snprintf(err, errsz, "out of memory"); af_agent_free(ag); return NULL; }
  af_rng r;
  af_rng_seed(&r, 5);
  float act[UPD_ACT];
  for (int i = 0; i < UPD_REPLAY; i++) {
    for (size_t k = 0; k < 2 * fr; k++) f[k] = (uint8_t)af_rng_int(&r, 0, 255);
    for (int k = 0; k < UPD_ACT; k++) act[k] = (float)af_rng_range(&r, -1, 1);
    af_image_replay_add(&s->replay, 0, f, NULL, act, (float)af_rng_normal(&r), f + fr, NULL, 0, i % 100 == 99);
  }
  free(f);
  return ag;
}

// updates per second of one round of `updates`; 0 on a numeric failure
static double time_update(af_pixel_sac *s, int updates) {
  af_agent_stats st;
  double t0 = af_now();
  if (af_pixel_sac_learn(s, updates, &st)) return 0;
  return updates / (af_now() - t0);
}

int af_cmd_bench_conv(int argc, char **argv) {
  int json = 0, updates = 8;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--updates") && i + 1 < argc) {
      long v;
      if (af_parse_long(argv[++i], 1, 10000, &v)) {
        fprintf(stderr, "armfarm bench conv: --updates takes a whole number from 1 to 10000, not '%s'\n", argv[i]);
        return AF_EXIT_USAGE;
      }
      updates = (int)v;
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: armfarm bench conv [--updates N] [--json]\n"
             "  the image-SAC update (agent pixel_sac: encoder, twin critics, actor, temperature, targets; batch %d,\n"
             "  %d stacked %dx%d frames, action %d, DrQ shift) on one thread beside the same update in PyTorch\n"
             "  (bench/peers/pixel_sac_update_torch.py, one thread, python3-torch: scripts/setup.sh bench) in\n"
             "  the same run, 5 rounds of N updates each (default 8) interleaved, medians; the update's GFLOP/s beside\n"
             "  oneDNN's 1024^3 matmul on one thread. Target: 2x PyTorch. With --json, the ratio as \"ratio\".\n",
             BATCH, UPD_STACK, UPD_SIZE, UPD_SIZE, UPD_ACT);
      return AF_EXIT_OK;
    } else { fprintf(stderr, "armfarm bench conv: unknown option '%s'\n", argv[i]); return AF_EXIT_USAGE; }
  }
  char err[256], why[256] = "", n[16], b[16], sz[16], k[16], a[16];
  af_agent *ag = update_agent(err, sizeof err);
  if (!ag) { fprintf(stderr, "armfarm bench conv: %s\n", err); return AF_EXIT_FAIL; }
  af_pixel_sac *s = af_agent_impl(ag);
  double flops = af_pixel_sac_update_flops(s), mm = af_bench_matmul_gflops();
  snprintf(n, sizeof n, "%d", updates);
  snprintf(b, sizeof b, "%d", BATCH);
  snprintf(sz, sizeof sz, "%d", UPD_SIZE);
  snprintf(k, sizeof k, "%d", UPD_STACK);
  snprintf(a, sizeof a, "%d", UPD_ACT);
  const char *args[] = {n, "1", b, sz, k, a, "1"};
  // rounds interleaved, ours then the peer's (one round of as many updates after its own
  // warm-up), so that a change in the machine's speed falls on both; medians of the rounds
  double mine[ROUNDS] = {0}, theirs[ROUNDS] = {0};
  int ok = time_update(s, 2) > 0;
  for (int r = 0; ok && r < ROUNDS; r++) {
    ok = (mine[r] = time_update(s, updates)) > 0;
    if (!ok) break;
    theirs[r] = af_bench_torch_peer("bench/peers/pixel_sac_update_torch.py", args, 7, why, sizeof why);
    if (!json) fprintf(stderr, "armfarm bench conv: round %d of %d: armfarm %.3f, PyTorch %.3f updates/s\n", r + 1, ROUNDS, mine[r], theirs[r]);
    if (theirs[r] <= 0) break;  // no peer: the reason is reported below
  }
  af_agent_free(ag);
  if (!ok) { fprintf(stderr, "armfarm bench conv: the update failed (non-finite numbers)\n"); return AF_EXIT_FAIL; }
  int peer_ok = 1;
  for (int r = 0; r < ROUNDS; r++) peer_ok = peer_ok && theirs[r] > 0;
  if (!peer_ok)  // our rounds not run after the peer failed
    for (int r = 1; r < ROUNDS; r++)
      if (mine[r] <= 0) mine[r] = mine[0];
  double ours = af_bench_median(mine, ROUNDS), peer = peer_ok ? af_bench_median(theirs, ROUNDS) : 0, gflops = ours * flops / 1e9;
  double ratio = peer > 0 ? ours / peer : 0;
  if (json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "batch", BATCH);
    cJSON_AddNumberToObject(o, "updates_per_s", ours);
    cJSON_AddNumberToObject(o, "updates_per_s_min", mine[0]);
    cJSON_AddNumberToObject(o, "updates_per_s_max", mine[ROUNDS - 1]);
    if (peer > 0) {
      cJSON_AddNumberToObject(o, "peer_updates_per_s", peer);
      cJSON_AddNumberToObject(o, "peer_updates_per_s_min", theirs[0]);
      cJSON_AddNumberToObject(o, "peer_updates_per_s_max", theirs[ROUNDS - 1]);
      cJSON_AddNumberToObject(o, "ratio", ratio);
    } else {
      cJSON_AddNullToObject(o, "peer_updates_per_s");
      cJSON_AddNullToObject(o, "ratio");
      cJSON_AddStringToObject(o, "peer_error", why);
    }
    cJSON_AddNumberToObject(o, "flops_per_update", flops);
    cJSON_AddNumberToObject(o, "gflops", gflops);
    cJSON_AddNumberToObject(o, "matmul_gflops", mm);
    char *str = cJSON_PrintUnformatted(o);
    printf("%s\n", str);
    cJSON_free(str);
    cJSON_Delete(o);
  } else {
    printf("image-SAC update, batch %d, %d stacked %dx%d frames, action %d, one thread (median of %d interleaved rounds of %d)\n", BATCH,
           UPD_STACK, UPD_SIZE, UPD_SIZE, UPD_ACT, ROUNDS, updates);
    printf("  armfarm (oneDNN)     %8.3f updates/s %8.1f ms  (rounds %.3f-%.3f)  %6.1f GFLOP/s (%.2f GFLOP per update)\n", ours, 1e3 / ours,
           mine[0], mine[ROUNDS - 1], gflops, flops / 1e9);
    if (peer > 0)
      printf("  PyTorch (same run)   %8.3f updates/s %8.1f ms  (rounds %.3f-%.3f)  ratio of medians %.2fx (target >= 2x)\n", peer, 1e3 / peer,
             theirs[0], theirs[ROUNDS - 1], ratio);
    else printf("  PyTorch (same run)   unavailable: %s\n", why[0] ? why : "no output");
    printf("  oneDNN matmul 1024^3 %8.1f GFLOP/s    update at %.0f%% of it\n", mm, mm > 0 ? 100 * gflops / mm : 0);
    printf("  (FLOPs counted as for direct convolution: the Winograd layers do fewer multiplications)\n");
  }
  return peer > 0 ? AF_EXIT_OK : AF_EXIT_FAIL;
}
