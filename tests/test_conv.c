// Convolutional encoders: oneDNN forward and backward against an independent double-precision
// reference (tests/ref_conv.h) differentiated by central finite differences, on small odd
// shapes with stride 2 and padding; repeated calls and two batch sizes planned at once; the
// pixel-SAC encoder at batch 128; refused shapes; uint8 frames to floats.
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>   // remove
#include <stdlib.h>
#include <string.h>

#include "agents/nn/conv.h"
#include "tests/ref_conv.h"

// ---- counting heap allocations: the test program's malloc family forwards to glibc's and
// counts the calls made on a thread while it sets `counting` (not under AddressSanitizer,
// which owns the allocator) ----
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);
void *memalign(size_t align, size_t n);
static _Thread_local int counting;
static _Thread_local long n_alloc, n_large, n_free;  // n_large: from 4 KiB
static void count(size_t n) {
  if (counting) n_alloc++, n_large += n >= 4096;
}
void *malloc(size_t n) { count(n); return __libc_malloc(n); }
void *calloc(size_t k, size_t n) { count(k * n); return __libc_calloc(k, n); }
void *realloc(void *p, size_t n) { count(n); return __libc_realloc(p, n); }
void *memalign(size_t align, size_t n) { count(n); return __libc_memalign(align, n); }
void *aligned_alloc(size_t align, size_t n) { count(n); return __libc_memalign(align, n); }
int posix_memalign(void **p, size_t align, size_t n) {
  count(n);
  void *q = __libc_memalign(align, n);
  if (!q) return 12;  // ENOMEM
  *p = q;
  return 0;
}
void free(void *p) {
  if (counting && p) n_free++;
  __libc_free(p);
}
#endif

static af_nn_ctx *ctx;
static void setup(void) {
  char err[256];
  ctx = af_nn_ctx_make(1, 1, err, sizeof err);
  cr_assert(ctx, "%s", err);
}
static void teardown(void) { af_nn_ctx_free(ctx); }

TestSuite(conv, .init = setup, .fini = teardown);

typedef struct {
  const af_conv_layer *ls;
  int nl, C, H, W, B;
  int every;  // finite differences for every `every`-th parameter and input (0: all of them)
} net_shape;

// loss = sum c .* net(x), in double
static double ref_loss(const net_shape *s, const double *p, const double *x, const double *c, int nout) {
  double *y = malloc(sizeof(double) * s->B * 4096), l = 0;
  ref_conv_net(y, p, x, s->B, s->ls, s->nl, s->C, s->H, s->W);
  for (int i = 0; i < s->B * nout; i++) l += c[i] * y[i];
  free(y);
  return l;
}

// forward against the reference, then every parameter gradient and every input gradient
// against central differences of the reference's loss
static void grad_check(const net_shape *s, int expect_out, int expect_params) {
  char err[256];
  const int bs[2] = {s->B, 1};
  af_conv *n = af_conv_make(ctx, s->ls, s->nl, s->C, s->H, s->W, bs, 2, err, sizeof err);
  cr_assert(n, "%s", err);
  cr_assert_eq(af_conv_out(n), expect_out);
  cr_assert_eq(af_conv_nparams(n), expect_params);
  af_rng rng;
  af_rng_seed(&rng, 11);
  af_conv_init(n, &rng);
  int np = af_conv_nparams(n), nin = s->C * s->H * s->W, nout = af_conv_out(n);
  float *p = af_conv_params(n);
  for (int l = 0; l < s->nl; l++)
    cr_log_info("layer %d: %s, %s, %s", l, af_conv_impl(n, l, s->B, 0), af_conv_impl(n, l, s->B, 1), af_conv_impl(n, l, s->B, 2));
  cr_log_info("%d reorders planned", af_conv_reorders(n, s->B));
  // layernorm scale and shift away from 1 and 0, so that their gradients are checked in general
  for (int l = 0; l < s->nl; l++)
    if (s->ls[l].kind == AF_LAYER_LAYERNORM) {
      int wo, nw, bo, nb;
      af_conv_layer_params(n, l, &wo, &nw, &bo, &nb);
      for (int i = 0; i < nw; i++) p[wo + i] = (float)af_rng_range(&rng, 0.5, 1.5);
      for (int i = 0; i < nb; i++) p[bo + i] = (float)af_rng_range(&rng, -0.5, 0.5);
    }
  float *x = malloc(sizeof(float) * s->B * nin), *dx = malloc(sizeof(float) * s->B * nin), *c = malloc(sizeof(float) * s->B * nout);
  double *xd = malloc(sizeof(double) * s->B * nin), *cd = malloc(sizeof(double) * s->B * nout), *pd = malloc(sizeof(double) * np);
  double *yd = malloc(sizeof(double) * s->B * 4096);
  for (int i = 0; i < s->B * nin; i++) xd[i] = x[i] = (float)af_rng_range(&rng, -1, 1);
  for (int i = 0; i < s->B * nout; i++) cd[i] = c[i] = (float)af_rng_range(&rng, -1, 1);
  for (int i = 0; i < np; i++) pd[i] = p[i];

  // forward
  const float *y = af_conv_forward(n, s->B, x);
  cr_assert(y, "%s", af_nn_ctx_error(ctx));
  cr_assert_eq(ref_conv_net(yd, pd, xd, s->B, s->ls, s->nl, s->C, s->H, s->W), nout);
  for (int i = 0; i < s->B * nout; i++) cr_assert(fabs(y[i] - yd[i]) <= 1e-5 * fmax(1, fabs(yd[i])), "output %d: %.7g vs %.7g", i, y[i], yd[i]);
  // the single-sample plan gives the same row
  const float *y1 = af_conv_forward(n, 1, x + (size_t)(s->B - 1) * nin);
  for (int j = 0; j < nout; j++) cr_assert(fabs(y1[j] - yd[(s->B - 1) * nout + j]) <= 1e-5 * fmax(1, fabs(y1[j])), "batch-1 output %d", j);

  // backward
  af_conv_forward(n, s->B, x);
  af_conv_backward(n, s->B, c, dx, 1, 0);
  cr_assert_null(af_nn_ctx_error(ctx), "%s", af_nn_ctx_error(ctx));
  const float *g = af_conv_grads(n);
  const double h = 1e-6;
  const int step = s->every > 0 ? s->every : 1;
  for (int i = 0; i < np; i += step) {
    double keep = pd[i];
    pd[i] = keep + h;
    double lp = ref_loss(s, pd, xd, cd, nout);
    pd[i] = keep - h;
    double lm = ref_loss(s, pd, xd, cd, nout);
    pd[i] = keep;
    double fd = (lp - lm) / (2 * h);
    cr_assert(fabs(g[i] - fd) <= 1e-4 * fmax(fabs(fd), 1.0), "param %d: analytic %.7g, finite difference %.7g", i, g[i], fd);
  }
  for (int i = 0; i < s->B * nin; i += step) {
    double keep = xd[i];
    xd[i] = keep + h;
    double lp = ref_loss(s, pd, xd, cd, nout);
    xd[i] = keep - h;
    double lm = ref_loss(s, pd, xd, cd, nout);
    xd[i] = keep;
    double fd = (lp - lm) / (2 * h);
    cr_assert(fabs(dx[i] - fd) <= 1e-4 * fmax(fabs(fd), 1.0), "input %d: analytic %.7g, finite difference %.7g", i, dx[i], fd);
  }

  // a second identical backward accumulated doubles the gradients; without dx, the same
  // parameter gradients
  float *g1 = malloc(sizeof(float) * np);
  memcpy(g1, g, sizeof(float) * np);
  af_conv_backward(n, s->B, c, NULL, 1, 1);
  for (int i = 0; i < np; i++) cr_assert_float_eq(g[i], 2 * g1[i], 1e-6 * (1 + fabs(g1[i])), "accumulated param %d", i);
  af_conv_backward(n, s->B, c, NULL, 1, 0);
  cr_assert(memcmp(g, g1, sizeof(float) * np) == 0, "parameter gradients without dx");
  cr_assert_null(af_nn_ctx_error(ctx));
  free(g1), free(x), free(dx), free(c), free(xd), free(cd), free(pd), free(yd);
  af_conv_free(n);
}

// conv stride 2 padding 1 (odd input 9x7), conv padding 1 with tanh, a padded max-pool,
// layernorm over (C, H, W), dense, layernorm with tanh
Test(conv, gradients_conv_pool_layernorm_dense) {
  const af_conv_layer ls[] = {
      {AF_LAYER_CONV, .out = 4, .k = 3, .stride = 2, .pad = 1, .act = AF_ACT_RELU},
      {AF_LAYER_CONV, .out = 5, .k = 3, .stride = 1, .pad = 1, .act = AF_ACT_TANH},
      {AF_LAYER_MAXPOOL, .k = 2, .stride = 2, .pad = 1},
      {AF_LAYER_LAYERNORM, .act = AF_ACT_NONE},
      {AF_LAYER_DENSE, .out = 6, .act = AF_ACT_NONE},
      {AF_LAYER_LAYERNORM, .act = AF_ACT_TANH},
  };
  net_shape s = {ls, 6, 3, 9, 7, 3, 0};
  // 9x7 -> 5x4 -> 5x4 -> 3x3: 45 features into the dense layer
  grad_check(&s, 6, (4 * 3 * 9 + 4) + (5 * 4 * 9 + 5) + 2 * 45 + (45 * 6 + 6) + 2 * 6);
}

// the SAC-AE/DrQ shape, small: conv stride 2 without padding, stride-1 convs, an overlapping
// max-pool, dense with ReLU, layernorm and tanh
Test(conv, gradients_encoder_shape) {
  const af_conv_layer ls[] = {
      {AF_LAYER_CONV, .out = 3, .k = 3, .stride = 2, .pad = 0, .act = AF_ACT_RELU},
      {AF_LAYER_CONV, .out = 4, .k = 3, .stride = 1, .pad = 1, .act = AF_ACT_RELU},
      {AF_LAYER_MAXPOOL, .k = 3, .stride = 1, .pad = 0},
      {AF_LAYER_CONV, .out = 3, .k = 2, .stride = 1, .pad = 0, .act = AF_ACT_NONE},
      {AF_LAYER_DENSE, .out = 5, .act = AF_ACT_RELU},
      {AF_LAYER_DENSE, .out = 4, .act = AF_ACT_NONE},
      {AF_LAYER_LAYERNORM, .act = AF_ACT_TANH},
  };
  net_shape s = {ls, 7, 2, 11, 10, 2, 0};
  // 11x10 -> 5x4 -> 5x4 -> 3x2 -> 2x1: 6 features into the dense layers
  grad_check(&s, 4, (3 * 2 * 9 + 3) + (4 * 3 * 9 + 4) + (3 * 4 * 4 + 3) + (6 * 5 + 5) + (5 * 4 + 4) + 2 * 4);
}

// channels enough for oneDNN's blocked formats and its jit kernels: 9 input channels (3
// stacked RGB frames: a plain-input forward, blocked backward), 16-channel convolutions
Test(conv, gradients_blocked_formats) {
  const af_conv_layer ls[] = {
      {AF_LAYER_CONV, .out = 16, .k = 3, .stride = 2, .pad = 1, .act = AF_ACT_RELU},
      {AF_LAYER_CONV, .out = 16, .k = 3, .stride = 1, .pad = 0, .act = AF_ACT_RELU},
      {AF_LAYER_MAXPOOL, .k = 2, .stride = 1, .pad = 0},
      {AF_LAYER_DENSE, .out = 4, .act = AF_ACT_NONE},
      {AF_LAYER_LAYERNORM, .act = AF_ACT_TANH},
  };
  net_shape s = {ls, 5, 9, 9, 9, 2, 0};
  // 9x9 -> 5x5 -> 3x3 -> 2x2: 64 features into the dense layer
  grad_check(&s, 4, (16 * 9 * 9 + 16) + (16 * 16 * 9 + 16) + (64 * 4 + 4) + 2 * 4);
}

// a decoder: dense with tanh, its features unflattened to 3x2x2, a stride-2 transposed
// convolution with padding and ReLU, another with an even kernel (4) and padding 1
Test(conv, gradients_decoder_deconv_unflatten) {
  const af_conv_layer ls[] = {
      {AF_LAYER_DENSE, .out = 12, .act = AF_ACT_TANH},
      {AF_LAYER_UNFLATTEN, .out = 3, .h = 2, .w = 2},
      {AF_LAYER_DECONV, .out = 4, .k = 3, .stride = 2, .pad = 1, .act = AF_ACT_RELU},
      {AF_LAYER_DECONV, .out = 2, .k = 4, .stride = 2, .pad = 1, .act = AF_ACT_NONE},
  };
  net_shape s = {ls, 4, 2, 3, 3, 3, 0};
  // 18 inputs -> 12 -> 3x2x2 -> 4x3x3 -> 2x6x6
  grad_check(&s, 72, (18 * 12 + 12) + (3 * 4 * 9 + 4) + (4 * 2 * 16 + 2));
}

// the β-VAE decoder's pattern at channel counts with oneDNN's blocked formats: dense to
// 16x3x3, a 16-channel stride-2 transposed convolution (7x7), then to 3 channels at 14x14
Test(conv, gradients_decoder_blocked_formats) {
  const af_conv_layer ls[] = {
      {AF_LAYER_DENSE, .out = 144, .act = AF_ACT_RELU},
      {AF_LAYER_UNFLATTEN, .out = 16, .h = 3, .w = 3},
      {AF_LAYER_DECONV, .out = 16, .k = 3, .stride = 2, .pad = 0, .act = AF_ACT_RELU},
      {AF_LAYER_DECONV, .out = 3, .k = 4, .stride = 2, .pad = 1, .act = AF_ACT_NONE},
  };
  net_shape s = {ls, 4, 2, 2, 2, 2, 0};
  grad_check(&s, 3 * 14 * 14, (8 * 144 + 144) + (16 * 16 * 9 + 16) + (16 * 3 * 16 + 3));
}

// the shape oneDNN runs as a Winograd F(4x4, 3x3) convolution on AVX-512 (3x3 stride 1, 16
// channels in and out, a batch of 16, ReLU: oneDNN's Winograd takes no tanh post-op): forward, backward data and backward weights checked
// against the direct double reference like every other layer (the planner asks oneDNN for
// its choice of algorithm; Winograd's transforms round differently from direct summation)
Test(conv, gradients_winograd_shape) {
  const af_conv_layer ls[] = {
      {AF_LAYER_CONV, .out = 16, .k = 3, .stride = 1, .pad = 1, .act = AF_ACT_RELU},
      {AF_LAYER_CONV, .out = 16, .k = 3, .stride = 1, .pad = 1, .act = AF_ACT_RELU},
      {AF_LAYER_DENSE, .out = 3, .act = AF_ACT_NONE},
  };
  // every 41st parameter and input (a step prime to every layer's size): 150 and 400 of them
  net_shape s = {ls, 3, 16, 8, 8, 16, 41};
  char err[256];
  const int bs[1] = {s.B};
  af_conv *n = af_conv_make(ctx, ls, 3, s.C, s.H, s.W, bs, 1, err, sizeof err);
  cr_assert(n, "%s", err);
  // oneDNN 2.6 weighs Winograd against direct convolution with Intel's core-topology query:
  // on Intel AVX-512 cores it takes Winograd for this shape; on an AMD EPYC (Zen 4) it takes
  // direct convolution here (and Winograd for the pixel encoder's larger shapes: bench
  // conv-encoder), so the kernels are asserted on Intel only and the gradients everywhere
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_is("intel"))
    for (int l = 0; l < 2; l++)
      for (int pass = 0; pass < 3; pass++)
        cr_assert(strstr(af_conv_impl(n, l, s.B, pass), "wino"), "layer %d pass %d: %s, not Winograd", l, pass, af_conv_impl(n, l, s.B, pass));
  af_conv_free(n);
  // 8x8 -> 8x8 -> 8x8: 1024 features into the dense layer
  grad_check(&s, 3, (16 * 16 * 9 + 16) + (16 * 16 * 9 + 16) + (1024 * 3 + 3));
}

// the same inputs give bitwise the same outputs and gradients, call after call, whatever ran
// at the other batch size in between
Test(conv, repeated_calls_and_two_plans_are_identical) {
  const af_conv_layer ls[] = {
      {AF_LAYER_CONV, .out = 16, .k = 3, .stride = 2, .pad = 1, .act = AF_ACT_RELU},
      {AF_LAYER_CONV, .out = 16, .k = 3, .stride = 1, .pad = 0, .act = AF_ACT_RELU},
      {AF_LAYER_MAXPOOL, .k = 2, .stride = 2},
      {AF_LAYER_DENSE, .out = 8, .act = AF_ACT_NONE},
      {AF_LAYER_LAYERNORM, .act = AF_ACT_TANH},
  };
  enum { B = 5, C = 6, H = 17, W = 15 };
  const int bs[2] = {B, 2};
  char err[256];
  af_conv *n = af_conv_make(ctx, ls, 5, C, H, W, bs, 2, err, sizeof err);
  cr_assert(n, "%s", err);
  af_rng rng;
  af_rng_seed(&rng, 3);
  af_conv_init(n, &rng);
  int np = af_conv_nparams(n), nout = af_conv_out(n);
  static float x[B * C * H * W], dx1[B * C * H * W], dx2[B * C * H * W], c[B * 8], y1[B * 8], x2[2 * C * H * W], c2[2 * 8];
  for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = (float)af_rng_range(&rng, 0, 1);
  for (int i = 0; i < B * nout; i++) c[i] = (float)af_rng_range(&rng, -1, 1);
  for (size_t i = 0; i < sizeof x2 / sizeof *x2; i++) x2[i] = (float)af_rng_range(&rng, 0, 1);
  for (int i = 0; i < 2 * nout; i++) c2[i] = (float)af_rng_range(&rng, -1, 1);
  float *g1 = malloc(sizeof(float) * np);
  memcpy(y1, af_conv_forward(n, B, x), sizeof(float) * B * nout);
  af_conv_backward(n, B, c, dx1, 1, 0);
  memcpy(g1, af_conv_grads(n), sizeof(float) * np);
  for (int rep = 0; rep < 3; rep++) {
    // the other plan, with other data
    af_conv_forward(n, 2, x2);
    af_conv_backward(n, 2, c2, NULL, 1, 0);
    const float *y = af_conv_forward(n, B, x);
    cr_assert(memcmp(y, y1, sizeof(float) * B * nout) == 0, "forward, repetition %d", rep);
    af_conv_backward(n, B, c, dx2, 1, 0);
    cr_assert(memcmp(af_conv_grads(n), g1, sizeof(float) * np) == 0, "parameter gradients, repetition %d", rep);
    cr_assert(memcmp(dx2, dx1, sizeof dx1) == 0, "input gradients, repetition %d", rep);
  }
  // want_params 0 leaves the gradients alone
  memset(af_conv_grads(n), 0, sizeof(float) * np);
  af_conv_forward(n, B, x);
  af_conv_backward(n, B, c, dx2, 0, 0);
  for (int i = 0; i < np; i++) cr_assert_eq(af_conv_grads(n)[i], 0);
  cr_assert(memcmp(dx2, dx1, sizeof dx1) == 0);
  cr_assert_null(af_nn_ctx_error(ctx));
  free(g1);
  af_conv_free(n);
}

// the pixel-SAC encoder (SAC-AE, DrQ): 3 stacked RGB 64x64 frames, a 3x3 stride-2 conv and
// three 3x3 stride-1 convs of 32 filters, dense 50, layernorm, tanh; at batch 128, two samples
// against the reference
Test(conv, pixel_sac_encoder_at_batch_128) {
  const af_conv_layer ls[] = {
      {AF_LAYER_CONV, .out = 32, .k = 3, .stride = 2, .act = AF_ACT_RELU},
      {AF_LAYER_CONV, .out = 32, .k = 3, .stride = 1, .act = AF_ACT_RELU},
      {AF_LAYER_CONV, .out = 32, .k = 3, .stride = 1, .act = AF_ACT_RELU},
      {AF_LAYER_CONV, .out = 32, .k = 3, .stride = 1, .act = AF_ACT_RELU},
      {AF_LAYER_DENSE, .out = 50},
      {AF_LAYER_LAYERNORM, .act = AF_ACT_TANH},
  };
  enum { B = 128, C = 9, H = 64, W = 64 };
  const int bs[2] = {B, 1};
  char err[256];
  af_conv *n = af_conv_make(ctx, ls, 6, C, H, W, bs, 2, err, sizeof err);
  cr_assert(n, "%s", err);
  int c, h, w;
  af_conv_shape(n, 3, &c, &h, &w);
  cr_assert(c == 32 && h == 25 && w == 25, "conv output %dx%dx%d", c, h, w);
  cr_assert_eq(af_conv_out(n), 50);
  cr_assert_eq(af_conv_nparams(n), (32 * 9 * 9 + 32) + 3 * (32 * 32 * 9 + 32) + (32 * 25 * 25 * 50 + 50) + 100);
  for (int l = 0; l < 6; l++)
    cr_log_info("layer %d: forward %s, backward data %s, backward weights %s", l, af_conv_impl(n, l, B, 0), af_conv_impl(n, l, B, 1),
                af_conv_impl(n, l, B, 2));
  af_rng rng;
  af_rng_seed(&rng, 9);
  af_conv_init(n, &rng);
  size_t nin = (size_t)C * H * W;
  uint8_t *frames = malloc(B * nin);
  float *x = malloc(sizeof(float) * B * nin), dout[B * 50];
  for (size_t i = 0; i < B * nin; i++) frames[i] = (uint8_t)af_rng_int(&rng, 0, 255);
  af_conv_from_u8(x, frames, B * nin);
  for (int i = 0; i < B * 50; i++) dout[i] = (float)af_rng_range(&rng, -1, 1);
  const float *y = af_conv_forward(n, B, x);
  cr_assert(y, "%s", af_nn_ctx_error(ctx));
  // two samples through the reference
  int np = af_conv_nparams(n);
  double *pd = malloc(sizeof(double) * np), *xd = malloc(sizeof(double) * nin), *yd = malloc(sizeof(double) * 32 * 31 * 31);
  for (int i = 0; i < np; i++) pd[i] = af_conv_params(n)[i];
  const int check[2] = {0, B - 1};
  for (int k = 0; k < 2; k++) {
    for (size_t i = 0; i < nin; i++) xd[i] = x[check[k] * nin + i];
    ref_conv_net(yd, pd, xd, 1, ls, 6, C, H, W);
    for (int j = 0; j < 50; j++) cr_assert(fabs(y[check[k] * 50 + j] - yd[j]) <= 1e-4, "sample %d feature %d: %.7g vs %.7g", check[k], j, y[check[k] * 50 + j], yd[j]);
  }
  af_conv_backward(n, B, dout, NULL, 1, 0);
  cr_assert_null(af_nn_ctx_error(ctx), "%s", af_nn_ctx_error(ctx));
  cr_assert(af_nn_finite(af_conv_grads(n), (size_t)np));
  // every layer's weights got a gradient
  for (int l = 0; l < 6; l++) {
    int wo, nw, bo, nb;
    af_conv_layer_params(n, l, &wo, &nw, &bo, &nb);
    double s = 0;
    for (int i = 0; i < nw; i++) s += fabs(af_conv_grads(n)[wo + i]);
    cr_assert_gt(s, 0, "layer %d", l);
  }
  free(frames), free(x), free(pd), free(xd), free(yd);
  af_conv_free(n);
}

// after a first call at each batch size, forward and backward (with and without dx, gradients
// overwritten and accumulated) keep no memory: what is allocated inside a call is freed by its
// end, and every repetition allocates the same. That is oneDNN's own doing: its execute builds
// a small argument map per primitive, and its gemm kernel (the dense layer's) allocates its
// packing buffers; our code allocates nothing (buffers, scratchpad and plans are made at make)
Test(conv, calls_keep_no_memory) {
#ifndef COUNT_ALLOCS
  cr_skip_test("counting allocations needs glibc's allocator (not under AddressSanitizer)");
#else
  const af_conv_layer ls[] = {
      {AF_LAYER_CONV, .out = 16, .k = 3, .stride = 2, .pad = 1, .act = AF_ACT_RELU},
      {AF_LAYER_CONV, .out = 16, .k = 3, .stride = 1, .pad = 0, .act = AF_ACT_RELU},
      {AF_LAYER_MAXPOOL, .k = 2, .stride = 2},
      {AF_LAYER_DENSE, .out = 8, .act = AF_ACT_NONE},
      {AF_LAYER_LAYERNORM, .act = AF_ACT_TANH},
  };
  enum { B = 4, C = 9, H = 17, W = 15 };
  const int bs[2] = {B, 1};
  static float x[B * C * H * W], dx[B * C * H * W], dout[B * 8];
  char err[256];
  counting = 1;
  af_conv *n = af_conv_make(ctx, ls, 5, C, H, W, bs, 2, err, sizeof err);
  counting = 0;
  cr_assert(n, "%s", err);
  cr_assert_gt(n_alloc, 0, "the counter sees make's allocations");
  af_rng rng;
  af_rng_seed(&rng, 2);
  af_conv_init(n, &rng);
  for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = (float)af_rng_range(&rng, 0, 1);
  for (int i = 0; i < B * 8; i++) dout[i] = (float)af_rng_range(&rng, -1, 1);
  for (int b = 0; b < 2; b++) {
    af_conv_forward(n, bs[b], x);
    af_conv_backward(n, bs[b], dout, dx, 1, 0);
  }
  long per_rep[3] = {0};
  for (int rep = 0; rep < 3; rep++) {
    n_alloc = n_large = n_free = 0;
    counting = 1;
    for (int b = 0; b < 2; b++) {
      af_conv_forward(n, bs[b], x);
      af_conv_backward(n, bs[b], dout, dx, 1, 0);
      af_conv_forward(n, bs[b], x);
      af_conv_backward(n, bs[b], dout, NULL, 1, 1);
      af_conv_backward(n, bs[b], dout, NULL, 0, 0);
    }
    counting = 0;
    per_rep[rep] = n_alloc;
    cr_log_info("10 calls: %ld allocations (%ld from 4 KiB), %ld frees", n_alloc, n_large, n_free);
    cr_assert_eq(n_free, n_alloc, "repetition %d: %ld allocations, %ld frees", rep, n_alloc, n_free);
  }
  cr_assert(per_rep[1] == per_rep[0] && per_rep[2] == per_rep[0], "allocations per repetition: %ld, %ld, %ld", per_rep[0], per_rep[1], per_rep[2]);
  cr_assert_null(af_nn_ctx_error(ctx));
  af_conv_free(n);
#endif
}

// an encoder feeding an MLP head (the flattened features are the MLP's input; its input
// gradient is the encoder's output gradient), trained by Adam on a toy regression: the mean
// brightness of an image's top-left quarter. Then the parameters through a checkpoint file into
// a second encoder, which computes the same features bit for bit.
Test(conv, learns_through_an_mlp_head_and_checkpoints) {
  const af_conv_layer ls[] = {
      {AF_LAYER_CONV, .out = 8, .k = 3, .stride = 2, .pad = 1, .act = AF_ACT_RELU},
      {AF_LAYER_CONV, .out = 8, .k = 3, .stride = 1, .pad = 1, .act = AF_ACT_RELU},
  };
  enum { B = 32, H = 9, F = 8 * 5 * 5 };
  const int bs[1] = {B}, sizes[3] = {F, 32, 1};
  char err[256];
  af_conv *enc = af_conv_make(ctx, ls, 2, 1, H, H, bs, 1, err, sizeof err);
  cr_assert(enc, "%s", err);
  af_mlp *head = af_mlp_make(ctx, 2, sizes, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, sizeof err);
  cr_assert(head, "%s", err);
  cr_assert_eq(af_conv_out(enc), F);
  af_rng rng;
  af_rng_seed(&rng, 4);
  af_conv_init(enc, &rng);
  af_mlp_init(head, &rng);
  af_adam ae, ah;
  cr_assert_eq(af_adam_init(&ae, af_conv_nparams(enc), 1e-3f, err, sizeof err), 0);
  cr_assert_eq(af_adam_init(&ah, af_mlp_nparams(head), 1e-3f, err, sizeof err), 0);
  static float x[B * H * H], t[B], dy[B], df[B * F];
  double first = 0, last = 0;
  for (int step = 0; step < 400; step++) {
    for (int b = 0; b < B; b++) {
      double m = 0;
      for (int i = 0; i < H * H; i++) x[b * H * H + i] = (float)af_rng_uniform(&rng);
      for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) m += x[b * H * H + r * H + c];
      t[b] = (float)(m / 16 - 0.5) * 4;
    }
    const float *f = af_conv_forward(enc, B, x);
    const float *y = af_mlp_forward(head, B, f);
    double loss = 0;
    for (int b = 0; b < B; b++) {
      loss += (y[b] - t[b]) * (y[b] - t[b]) / B;
      dy[b] = 2 * (y[b] - t[b]) / B;
    }
    if (step < 20) first += loss / 20;
    if (step >= 380) last += loss / 20;
    af_mlp_backward(head, B, dy, df, 1, 0);
    af_conv_backward(enc, B, df, NULL, 1, 0);
    af_adam_step(&ae, af_conv_params(enc), af_conv_grads(enc));
    af_adam_step(&ah, af_mlp_params(head), af_mlp_grads(head));
  }
  cr_log_info("mean squared error: %.4f over the first 20 steps, %.4f over the last 20", first, last);
  cr_assert_lt(last, first / 5, "the loss fell from %.4f to %.4f only", first, last);
  cr_assert_null(af_nn_ctx_error(ctx));
  // a checkpoint of the encoder's parameters, loaded into another encoder
  af_tensor out[1] = {{"encoder", af_conv_params(enc), (size_t)af_conv_nparams(enc)}};
  cr_assert_eq(af_nn_save("conv_ckpt.bin", out, 1, err, sizeof err), 0, "%s", err);
  af_conv *enc2 = af_conv_make(ctx, ls, 2, 1, H, H, bs, 1, err, sizeof err);
  cr_assert(enc2, "%s", err);
  af_tensor in[1] = {{"encoder", af_conv_params(enc2), (size_t)af_conv_nparams(enc2)}};
  cr_assert_eq(af_nn_load("conv_ckpt.bin", in, 1, err, sizeof err), 0, "%s", err);
  remove("conv_ckpt.bin");
  static float f1[B * F];
  memcpy(f1, af_conv_forward(enc, B, x), sizeof f1);
  cr_assert(memcmp(af_conv_forward(enc2, B, x), f1, sizeof f1) == 0);
  af_adam_free(&ae);
  af_adam_free(&ah);
  af_mlp_free(head);
  af_conv_free(enc);
  af_conv_free(enc2);
}

Test(conv, bad_shapes_are_refused) {
  char err[256];
  const int bs[1] = {2};
  const af_conv_layer after_dense[] = {{AF_LAYER_DENSE, .out = 4}, {AF_LAYER_CONV, .out = 2, .k = 1, .stride = 1}};
  cr_assert_null(af_conv_make(ctx, after_dense, 2, 3, 8, 8, bs, 1, err, sizeof err));
  cr_assert(strstr(err, "after a dense layer"), "%s", err);
  const af_conv_layer norm_first[] = {{AF_LAYER_LAYERNORM, .act = AF_ACT_NONE}};
  cr_assert_null(af_conv_make(ctx, norm_first, 1, 3, 8, 8, bs, 1, err, sizeof err));
  cr_assert(strstr(err, "first layer"), "%s", err);
  const af_conv_layer too_big[] = {{AF_LAYER_CONV, .out = 2, .k = 5, .stride = 1}};
  cr_assert_null(af_conv_make(ctx, too_big, 1, 3, 4, 8, bs, 1, err, sizeof err));
  cr_assert(strstr(err, "no output"), "%s", err);
  const af_conv_layer pad[] = {{AF_LAYER_CONV, .out = 2, .k = 3, .stride = 1, .pad = 3}};
  cr_assert_null(af_conv_make(ctx, pad, 1, 3, 8, 8, bs, 1, err, sizeof err));
  cr_assert(strstr(err, "padding 3"), "%s", err);
  // an unflatten that is not after a dense layer, or that does not match its features
  const af_conv_layer unflat_first[] = {{AF_LAYER_CONV, .out = 2, .k = 3, .stride = 1}, {AF_LAYER_UNFLATTEN, .out = 2, .h = 6, .w = 6}};
  cr_assert_null(af_conv_make(ctx, unflat_first, 2, 3, 8, 8, bs, 1, err, sizeof err));
  cr_assert(strstr(err, "must follow a dense layer"), "%s", err);
  const af_conv_layer unflat_size[] = {{AF_LAYER_DENSE, .out = 12}, {AF_LAYER_UNFLATTEN, .out = 2, .h = 2, .w = 2}};
  cr_assert_null(af_conv_make(ctx, unflat_size, 2, 3, 8, 8, bs, 1, err, sizeof err));
  cr_assert(strstr(err, "unflatten 12 features into 2x2x2"), "%s", err);
  // a transposed convolution whose padding leaves no output
  const af_conv_layer deconv_pad[] = {{AF_LAYER_DECONV, .out = 2, .k = 2, .stride = 1, .pad = 1}};
  cr_assert_null(af_conv_make(ctx, deconv_pad, 1, 3, 1, 1, bs, 1, err, sizeof err));
  cr_assert(strstr(err, "deconvolution output 0x0"), "%s", err);
  // a batch size that was not planned
  const af_conv_layer ok[] = {{AF_LAYER_CONV, .out = 2, .k = 3, .stride = 1}};
  af_conv *n = af_conv_make(ctx, ok, 1, 3, 8, 8, bs, 1, err, sizeof err);
  cr_assert(n, "%s", err);
  float x[3 * 3 * 8 * 8] = {0};
  cr_assert_null(af_conv_forward(n, 3, x));
  cr_assert(af_nn_ctx_error(ctx) && strstr(af_nn_ctx_error(ctx), "batch size 3"));
  af_conv_free(n);
  af_conv_free(NULL);
}

Test(conv, frames_to_floats) {
  const uint8_t f[4] = {0, 51, 128, 255};
  float x[4];
  af_conv_from_u8(x, f, 4);
  cr_assert_eq(x[0], 0);
  cr_assert_float_eq(x[1], 0.2f, 1e-7);
  cr_assert_eq(x[2], 128 / 255.0f);
  cr_assert_eq(x[3], 1);
}
