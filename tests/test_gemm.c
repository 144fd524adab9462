// The small-layer matrix product (agents/nn/gemm.c) against a double-precision triple loop, on
// shapes that cross every tile edge (rows 1..6 and beyond, partial vectors, several column
// panels and k blocks), with A read row-major and transposed, with and without accumulation,
// bias and ReLU; the columns outside N left alone; a NaN kept through ReLU; and a whole MLP on
// the own product against the same MLP on oneDNN.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agents/nn/gemm.h"
#include "agents/nn/nn.h"
#include "base/rng.h"

static void need_kernel(void) {
  if (!af_gemm_available()) cr_skip_test("this CPU has no AVX-512: the MLP runs on oneDNN only");
}

// fill with uniform(-1, 1)
static void fill(float *x, size_t n, af_rng *r) {
  for (size_t i = 0; i < n; i++) x[i] = (float)af_rng_range(r, -1, 1);
}

// one product checked: C = op(A) B (+C) (+bias) (ReLU), A transposed when ta; via af_gemm, or
// af_gemm_nt (B given as its transpose) when nt
static void check(int M, int N, int K, int ta, int nt, int bias_on, int relu, int accumulate, af_rng *r) {
  // a padded C (columns past N must stay), except a transposed A into one column, the
  // weight-gradient case the product turns into one row
  const int pad = N == 1 && ta ? 0 : 3, ldc = N + pad;
  float *a = malloc(sizeof(float) * (size_t)(M * K + 1)), *b = malloc(sizeof(float) * (size_t)(K * N + 1));
  float *bias = malloc(sizeof(float) * (size_t)N), *c = malloc(sizeof(float) * (size_t)(M * ldc));
  double *want = malloc(sizeof(double) * (size_t)(M * N));
  cr_assert(a && b && bias && c && want);
  fill(a, (size_t)M * K, r);
  fill(b, (size_t)K * N, r);
  fill(bias, (size_t)N, r);
  fill(c, (size_t)M * ldc, r);
  // the reference, in double, from the logical matrices; bt is b read as B' (N x K)
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = 0;
      for (int k = 0; k < K; k++) {
        double aik = ta ? a[(size_t)k * M + i] : a[(size_t)i * K + k];
        double bkj = nt ? b[(size_t)j * K + k] : b[(size_t)k * N + j];
        s += aik * bkj;
      }
      if (accumulate) s += c[(size_t)i * ldc + j];
      if (bias_on) s += bias[j];
      want[(size_t)i * N + j] = relu && s < 0 ? 0 : s;
    }
  float keep[8 * 1024];
  cr_assert((size_t)M * ldc <= sizeof keep / sizeof keep[0]);
  memcpy(keep, c, sizeof(float) * (size_t)(M * ldc));
  if (nt) af_gemm_nt(c, ldc, a, K, b, K, M, N, K, bias_on ? bias : NULL, relu, accumulate);
  else if (ta) af_gemm(c, ldc, a, 1, M, b, N, M, N, K, bias_on ? bias : NULL, relu, accumulate);
  else af_gemm(c, ldc, a, K, 1, b, N, M, N, K, bias_on ? bias : NULL, relu, accumulate);
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      double w = want[(size_t)i * N + j], tol = 1e-5 * (K + 2);
      cr_assert(fabs(c[(size_t)i * ldc + j] - w) <= tol, "M %d N %d K %d ta %d nt %d bias %d relu %d acc %d: c[%d][%d] = %.7g, want %.7g",
                M, N, K, ta, nt, bias_on, relu, accumulate, i, j, c[(size_t)i * ldc + j], w);
    }
    for (int j = N; j < ldc; j++)
      cr_assert(c[(size_t)i * ldc + j] == keep[(size_t)i * ldc + j], "M %d N %d K %d: column %d outside N was written", M, N, K, j);
  }
  free(a);
  free(b);
  free(bias);
  free(c);
  free(want);
}

Test(gemm, tiles_match_a_double_triple_loop_on_every_edge) {
  need_kernel();
  af_rng r;
  af_rng_seed(&r, 5);
  const int Ms[] = {1, 4, 5, 6, 7, 13, 37}, Ns[] = {1, 2, 15, 16, 17, 48, 64, 65, 100}, Ks[] = {0, 1, 3, 16, 17, 64, 129, 260};
  for (size_t m = 0; m < sizeof Ms / sizeof *Ms; m++)
    for (size_t n = 0; n < sizeof Ns / sizeof *Ns; n++)
      for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++)
        for (int mode = 0; mode < 8; mode++)
          check(Ms[m], Ns[n], Ks[k], mode & 1, 0, (mode >> 1) & 1, (mode >> 2) & 1, ((mode + (int)k) >> 1) & 1, &r);
}

Test(gemm, dot_products_match_a_double_triple_loop) {
  need_kernel();
  af_rng r;
  af_rng_seed(&r, 6);
  const int Ms[] = {1, 3, 4, 5, 9, 100}, Ns[] = {1, 2, 3, 8, 15}, Ks[] = {1, 4, 15, 16, 17, 64, 100};
  for (size_t m = 0; m < sizeof Ms / sizeof *Ms; m++)
    for (size_t n = 0; n < sizeof Ns / sizeof *Ns; n++)
      for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++)
        for (int mode = 0; mode < 8; mode++) check(Ms[m], Ns[n], Ks[k], 0, 1, mode & 1, (mode >> 1) & 1, (mode >> 2) & 1, &r);
}

Test(gemm, relu_keeps_a_nan_and_zeroes_negatives) {
  need_kernel();
  // rows: x = (NaN, 1) and (-2, 1), W = identity, no bias: the NaN reaches every output of
  // its row (NaN times 0 is NaN) and ReLU keeps it; the other row gives 0, 1
  float x[2 * 16] = {0}, w[16 * 16] = {0}, y[2 * 16];
  for (int i = 0; i < 16; i++) w[i * 16 + i] = 1;
  x[0] = NAN, x[1] = 1, x[16] = -2, x[17] = 1;
  af_gemm(y, 16, x, 16, 1, w, 16, 2, 16, 16, NULL, 1, 0);
  cr_assert(isnan(y[0]) && isnan(y[1]));
  cr_assert_eq(y[16], 0.0f);
  cr_assert_eq(y[17], 1.0f);
  float yn[2];
  af_gemm_nt(yn, 1, x, 16, w, 16, 2, 1, 16, NULL, 1, 0);  // column 0 only
  cr_assert(isnan(yn[0]));
  cr_assert_eq(yn[1], 0.0f);
}

// shapes with whole 16-row gathers, a partial one, and fewer rows than one
Test(gemm, transpose_is_exact) {
  static const int shapes[][2] = {{19, 33}, {16, 16}, {48, 64}, {64, 35}, {35, 64}, {5, 3}, {1, 40}, {256, 27}};
  static float s[256 * 64], t[256 * 64];
  for (size_t q = 0; q < sizeof shapes / sizeof shapes[0]; q++) {
    int R = shapes[q][0], C = shapes[q][1];
    for (int i = 0; i < R * C; i++) s[i] = (float)i;
    for (int i = 0; i < R * C; i++) t[i] = -1;
    af_gemm_transpose(t, s, R, C);
    for (int i = 0; i < R; i++)
      for (int j = 0; j < C; j++) cr_assert_eq(t[j * R + i], s[i * C + j], "%d x %d: element (%d, %d)", R, C, i, j);
  }
}

// a network on the automatic choice of products against the same network on oneDNN alone:
// forward, parameter and input gradients (a second backward accumulated) agree to float
// rounding; `own` layers run on the own product
static void agrees_with_onednn(int B, int L, const int *sz, int own_layers) {
  need_kernel();
  char err[256];
  af_nn_ctx *c_own = af_nn_ctx_make(1, 1, err, sizeof err), *c_dnn = af_nn_ctx_make(1, 1, err, sizeof err);
  cr_assert(c_own && c_dnn, "%s", err);
  af_nn_ctx_set_kernels(c_dnn, AF_NN_KERNELS_ONEDNN);
  af_mlp *own = af_mlp_make(c_own, L, sz, AF_ACT_RELU, AF_ACT_TANH, &B, 1, err, sizeof err);
  af_mlp *dnn = af_mlp_make(c_dnn, L, sz, AF_ACT_RELU, AF_ACT_TANH, &B, 1, err, sizeof err);
  cr_assert(own && dnn, "%s", err);
  cr_assert_eq(af_mlp_own_kernel(own), own_layers);
  cr_assert_eq(af_mlp_own_kernel(dnn), 0);
  af_rng r;
  af_rng_seed(&r, 7);
  af_mlp_init(own, &r);
  int np = af_mlp_nparams(own), in = sz[0], out = sz[L];
  memcpy(af_mlp_params(dnn), af_mlp_params(own), sizeof(float) * (size_t)np);
  float *x = malloc(sizeof(float) * (size_t)(B * in)), *g = malloc(sizeof(float) * (size_t)(B * out));
  float *dx1 = malloc(sizeof(float) * (size_t)(B * in)), *dx2 = malloc(sizeof(float) * (size_t)(B * in));
  cr_assert(x && g && dx1 && dx2);
  fill(x, (size_t)(B * in), &r);
  fill(g, (size_t)(B * out), &r);
  const float *y1 = af_mlp_forward(own, B, x), *y2 = af_mlp_forward(dnn, B, x);
  for (int i = 0; i < B * out; i++) cr_assert_float_eq(y1[i], y2[i], 1e-5, "output %d: %g vs %g", i, y1[i], y2[i]);
  for (int pass = 0; pass < 2; pass++) {
    af_mlp_backward(own, B, g, dx1, 1, pass);
    af_mlp_backward(dnn, B, g, dx2, 1, pass);
    const float *g1 = af_mlp_grads(own), *g2 = af_mlp_grads(dnn);
    for (int i = 0; i < np; i++)
      cr_assert(fabsf(g1[i] - g2[i]) <= 1e-4f * (1 + fabsf(g2[i])), "pass %d, parameter gradient %d: %g vs %g", pass, i, g1[i], g2[i]);
    for (int i = 0; i < B * in; i++) cr_assert(fabsf(dx1[i] - dx2[i]) <= 1e-4f * (1 + fabsf(dx2[i])), "input gradient %d", i);
  }
  cr_assert_null(af_nn_ctx_error(c_own));
  free(x); free(g); free(dx1); free(dx2);
  af_mlp_free(own);
  af_mlp_free(dnn);
  af_nn_ctx_free(c_own);
  af_nn_ctx_free(c_dnn);
}

// the RLtools-sized network (64-64, batch 100, 5 inputs, 3 outputs): every layer on the own product
Test(gemm, an_mlp_on_the_own_product_agrees_with_onednn) {
  const int sz[4] = {5, 64, 64, 3};
  agrees_with_onednn(100, 3, sz, 3);
}

// a standard SAC critic (35 inputs, 256-256, one output) and actor (27 inputs, 16 outputs):
// the narrow first and last layers on the own product, the 256 x 256 layer on oneDNN
Test(gemm, narrow_layers_on_the_own_product_beside_onednn_agree_with_onednn) {
  const int critic[4] = {35, 256, 256, 1}, actor[4] = {27, 256, 256, 16};
  agrees_with_onednn(64, 3, critic, 2);
  agrees_with_onednn(64, 3, actor, 2);
}
