// armfarm bench conv-encoder: the pixel-SAC convolutional encoder (SAC-AE, DrQ: 3 stacked RGB
// 64x64 frames, a 3x3 stride-2 conv and three 3x3 stride-1 convs of 32 filters, dense 50,
// LayerNorm, tanh) forward and backward (parameter gradients, no image gradient) at batch 128
// on one thread: milliseconds and GFLOP/s, beside oneDNN's own large-matmul GFLOP/s on this
// machine, with the oneDNN implementation of every layer.
#include <stdio.h>
#include <stdlib.h>  // malloc, free
#include <string.h>  // strcmp

#include <cjson/cJSON.h>
#include "agents/nn/conv.h"
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
      printf("pixel-SAC encoder, 9x64x64 -> 32x25x25 -> 50, batch %d, one thread (best of %d)\n", BATCH, rounds);
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
