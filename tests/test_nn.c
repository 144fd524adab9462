// The network core: oneDNN forward and backward against an independent double-precision MLP
// differentiated by central finite differences; Adam against its formula; clipping, Polyak
// averaging; checkpoint files and every way a load can fail.
#include <criterion/criterion.h>
#include <float.h>  // FLT_MAX, FLT_MIN
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <omp.h>     // omp_get_max_threads
#include <unistd.h>  // truncate

#include "agents/nn/gemm.h"
#include "agents/nn/nn.h"
#include "tests/ref_nn.h"

static af_nn_ctx *ctx;
static void setup(void) {
  char err[256];
  ctx = af_nn_ctx_make(1, 1, err, sizeof err);
  cr_assert(ctx, "%s", err);
}
static void teardown(void) { af_nn_ctx_free(ctx); }

// loss = sum c .* y, in double
static double ref_loss(const double *p, const double *x, const double *c, int B, int L, const int *sz, af_act hid, af_act out) {
  double y[64 * 16], s = 0;
  ref_mlp(y, p, x, B, L, sz, hid, out);
  for (int i = 0; i < B * sz[L]; i++) s += c[i] * y[i];
  return s;
}

// on oneDNN, or on the own small-layer product where this CPU has it (kernels as in
// af_nn_ctx_set_kernels)
static void grad_check(af_act hid, af_act out, int kernels) {
  enum { B = 4, L = 3 };
  const int sz[L + 1] = {5, 7, 6, 3}, bs[2] = {B, 1};
  char err[256];
  af_nn_ctx_set_kernels(ctx, kernels);
  af_mlp *n = af_mlp_make(ctx, L, sz, hid, out, bs, 2, err, sizeof err);
  cr_assert(n, "%s", err);
  cr_assert_eq(af_mlp_own_kernel(n), kernels == AF_NN_KERNELS_AUTO && af_gemm_available() ? L : 0);
  af_rng rng;
  af_rng_seed(&rng, 17);
  af_mlp_init(n, &rng);
  int np = af_mlp_nparams(n);
  cr_assert_eq(np, 5 * 7 + 7 + 7 * 6 + 6 + 6 * 3 + 3);
  // inputs and loss weights
  float x[B * 5], c[B * 3], dx[B * 5];
  double xd[B * 5], cd[B * 3], pd[256], yd[B * 3];
  for (int i = 0; i < B * 5; i++) xd[i] = x[i] = (float)af_rng_range(&rng, -2, 2);
  for (int i = 0; i < B * 3; i++) cd[i] = c[i] = (float)af_rng_range(&rng, -1, 1);
  float *p = af_mlp_params(n);
  for (int i = 0; i < np; i++) pd[i] = p[i];
  // forward agrees with the reference
  const float *y = af_mlp_forward(n, B, x);
  ref_mlp(yd, pd, xd, B, L, sz, hid, out);
  for (int i = 0; i < B * 3; i++) cr_assert_float_eq(y[i], yd[i], 1e-5, "output %d: %g vs %g", i, y[i], yd[i]);
  // the single-row plan gives the same row
  const float *y1 = af_mlp_forward(n, 1, x + 2 * 5);
  for (int j = 0; j < 3; j++) cr_assert_float_eq(y1[j], yd[2 * 3 + j], 1e-5);
  af_mlp_forward(n, B, x);
  af_mlp_backward(n, B, c, dx, 1, 0);
  const float *g = af_mlp_grads(n);
  // every parameter against central differences of the double-precision loss
  const double h = 1e-6;
  for (int i = 0; i < np; i++) {
    double keep = pd[i];
    pd[i] = keep + h;
    double lp = ref_loss(pd, xd, cd, B, L, sz, hid, out);
    pd[i] = keep - h;
    double lm = ref_loss(pd, xd, cd, B, L, sz, hid, out);
    pd[i] = keep;
    double fd = (lp - lm) / (2 * h);
    cr_assert(fabs(g[i] - fd) <= 1e-4 * fmax(fabs(fd), 1.0), "param %d: analytic %.7g, finite difference %.7g", i, g[i], fd);
  }
  // and every input
  for (int i = 0; i < B * 5; i++) {
    double keep = xd[i];
    xd[i] = keep + h;
    double lp = ref_loss(pd, xd, cd, B, L, sz, hid, out);
    xd[i] = keep - h;
    double lm = ref_loss(pd, xd, cd, B, L, sz, hid, out);
    xd[i] = keep;
    double fd = (lp - lm) / (2 * h);
    cr_assert(fabs(dx[i] - fd) <= 1e-4 * fmax(fabs(fd), 1.0), "input %d: analytic %.7g, finite difference %.7g", i, dx[i], fd);
  }
  // accumulating a second identical backward doubles the gradients
  float g1[256];
  memcpy(g1, g, sizeof(float) * np);
  af_mlp_backward(n, B, c, NULL, 1, 1);
  for (int i = 0; i < np; i++) cr_assert_float_eq(g[i], 2 * g1[i], 1e-6 * (1 + fabs(g1[i])));
  af_mlp_free(n);
}

TestSuite(nn, .init = setup, .fini = teardown);

Test(nn, gradients_relu_linear_output) { grad_check(AF_ACT_RELU, AF_ACT_NONE, AF_NN_KERNELS_AUTO); }
Test(nn, gradients_tanh_tanh_output) { grad_check(AF_ACT_TANH, AF_ACT_TANH, AF_NN_KERNELS_AUTO); }
Test(nn, gradients_relu_tanh_output) { grad_check(AF_ACT_RELU, AF_ACT_TANH, AF_NN_KERNELS_AUTO); }
Test(nn, gradients_relu_linear_output_on_onednn) { grad_check(AF_ACT_RELU, AF_ACT_NONE, AF_NN_KERNELS_ONEDNN); }
Test(nn, gradients_tanh_tanh_output_on_onednn) { grad_check(AF_ACT_TANH, AF_ACT_TANH, AF_NN_KERNELS_ONEDNN); }
Test(nn, gradients_relu_tanh_output_on_onednn) { grad_check(AF_ACT_RELU, AF_ACT_TANH, AF_NN_KERNELS_ONEDNN); }

Test(nn, init_is_seeded_and_bounded) {
  const int sz[3] = {16, 8, 2}, bs[1] = {1};
  char err[256];
  af_mlp *a = af_mlp_make(ctx, 2, sz, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, sizeof err);
  af_mlp *b = af_mlp_make(ctx, 2, sz, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, sizeof err);
  af_rng r1, r2;
  af_rng_seed(&r1, 5);
  af_rng_seed(&r2, 5);
  af_mlp_init(a, &r1);
  af_mlp_init(b, &r2);
  cr_assert(memcmp(af_mlp_params(a), af_mlp_params(b), sizeof(float) * af_mlp_nparams(a)) == 0);
  // first layer within 1/sqrt(16), second within 1/sqrt(8)
  for (int i = 0; i < 16 * 8 + 8; i++) cr_assert_leq(fabs(af_mlp_params(a)[i]), 0.25);
  af_rng_seed(&r2, 6);
  af_mlp_init(b, &r2);
  cr_assert(memcmp(af_mlp_params(a), af_mlp_params(b), sizeof(float) * af_mlp_nparams(a)) != 0);
  af_mlp_free(a);
  af_mlp_free(b);
}

Test(nn, bad_shapes_are_refused) {
  char err[256];
  const int sz[2] = {4, 0}, bs[1] = {1};
  cr_assert_null(af_mlp_make(ctx, 1, sz, AF_ACT_RELU, AF_ACT_NONE, bs, 1, err, sizeof err));
  cr_assert(strstr(err, "layer size 0") != NULL);
}

Test(nn, adam_matches_its_formula) {
  af_adam a;
  char err[256];
  cr_assert_eq(af_adam_init(&a, 3, 0.01f, err, sizeof err), 0);
  float p[3] = {1, -2, 0.5f};
  double pd[3] = {1, -2, 0.5}, m[3] = {0}, v[3] = {0};
  const float gs[4][3] = {{0.5f, -1, 2}, {0.1f, 0.3f, -0.2f}, {-1, 1, 1}, {0, 0.5f, 0.25f}};
  for (int t = 1; t <= 4; t++) {
    af_adam_step(&a, p, gs[t - 1]);
    for (int i = 0; i < 3; i++) {
      double g = gs[t - 1][i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      double mh = m[i] / (1 - pow(0.9, t)), vh = v[i] / (1 - pow(0.999, t));
      pd[i] -= 0.01 * mh / (sqrt(vh) + 1e-8);
      cr_assert_float_eq(p[i], pd[i], 1e-6, "step %d param %d: %g vs %g", t, i, p[i], pd[i]);
    }
  }
  // the first step moves each parameter by lr against its gradient's sign
  af_adam_free(&a);
}

Test(nn, clip_and_polyak) {
  float g[2] = {3, 4};
  cr_assert_float_eq(af_nn_clip_grad_norm(g, 2, 1), 5, 1e-6);
  cr_assert_float_eq(g[0], 0.6, 1e-5);
  cr_assert_float_eq(g[1], 0.8, 1e-5);
  float h[2] = {0.3f, 0.4f};
  cr_assert_float_eq(af_nn_clip_grad_norm(h, 2, 1), 0.5, 1e-6);
  cr_assert_float_eq(h[0], 0.3f, 0);
  float t[2] = {1, 2}, s[2] = {3, -2};
  af_nn_polyak(t, s, 2, 0.25f);
  cr_assert_float_eq(t[0], 1.5, 1e-6);
  cr_assert_float_eq(t[1], 1.0, 1e-6);
}

// flip one byte of a file at `pos` (from the end when negative)
static void poke(const char *path, long pos, int truncate_by) {
  FILE *f = fopen(path, "r+b");
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  if (truncate_by) {
    fclose(f);
    cr_assert_eq(truncate(path, size - truncate_by), 0);
    return;
  }
  fseek(f, pos < 0 ? size + pos : pos, SEEK_SET);
  int c = fgetc(f);
  fseek(f, pos < 0 ? size + pos : pos, SEEK_SET);
  fputc(c ^ 0x5A, f);
  fclose(f);
}

Test(nn, checkpoint_round_trip_and_every_failure) {
  float a[5] = {1, 2, 3, 4, 5}, b[3] = {-1, 0.5f, 9};
  float a2[5], b2[3], big[6];
  af_tensor out[2] = {{"actor", a, 5}, {"alpha", b, 3}};
  af_tensor in[2] = {{"actor", a2, 5}, {"alpha", b2, 3}};
  char err[256];
  const char *path = "nn_ckpt.bin";
  cr_assert_eq(af_nn_save(path, out, 2, err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_nn_load(path, in, 2, err, sizeof err), 0, "%s", err);
  cr_assert(memcmp(a, a2, sizeof a) == 0 && memcmp(b, b2, sizeof b) == 0);
  // a different shape
  af_tensor wrong[2] = {{"actor", big, 6}, {"alpha", b2, 3}};
  cr_assert_eq(af_nn_load(path, wrong, 2, err, sizeof err), -1);
  cr_assert(strstr(err, "'actor' has 5 values, expected 6") != NULL, "%s", err);
  af_tensor renamed[2] = {{"critic", a2, 5}, {"alpha", b2, 3}};
  cr_assert_eq(af_nn_load(path, renamed, 2, err, sizeof err), -1);
  cr_assert(strstr(err, "is 'actor', expected 'critic'") != NULL, "%s", err);
  cr_assert_eq(af_nn_load(path, in, 1, err, sizeof err), -1);
  cr_assert(strstr(err, "holds 2 tensors, expected 1") != NULL, "%s", err);
  // a corrupted data byte
  poke(path, -12, 0);
  memset(a2, 0, sizeof a2);
  cr_assert_eq(af_nn_load(path, in, 2, err, sizeof err), -1);
  cr_assert(strstr(err, "checksum mismatch") != NULL, "%s", err);
  cr_assert_eq(a2[0], 0, "nothing is loaded from a bad file");
  // another version
  af_nn_save(path, out, 2, err, sizeof err);
  poke(path, 4, 0);
  cr_assert_eq(af_nn_load(path, in, 2, err, sizeof err), -1);
  cr_assert(strstr(err, "format version") != NULL, "%s", err);
  // truncated, not ours, missing
  af_nn_save(path, out, 2, err, sizeof err);
  poke(path, 0, 5);
  cr_assert_eq(af_nn_load(path, in, 2, err, sizeof err), -1);
  cr_assert(strstr(err, "truncated") != NULL, "%s", err);
  poke(path, 0, 0);
  cr_assert_eq(af_nn_load(path, in, 2, err, sizeof err), -1);
  cr_assert(strstr(err, "not an armfarm checkpoint") != NULL, "%s", err);
  cr_assert_eq(af_nn_load("no_such_file.bin", in, 2, err, sizeof err), -1);
  cr_assert(strstr(err, "cannot open no_such_file.bin") != NULL, "%s", err);
  // a save into a missing folder fails and leaves nothing behind
  cr_assert_eq(af_nn_save("no_such_dir/x.bin", out, 2, err, sizeof err), -1);
}

// a product whose exact result is a denormal float (about 1e-40)
static float denormal_product(void) {
  volatile float a = 1e-38f, b = 1e-2f;
  return a * b;
}

Test(nn, numerics_settings_hold_inside_a_context_and_are_restored) {
  char err[256];
  int caller = omp_get_max_threads();
  float before = denormal_product();
  cr_assert_gt(before, 0, "denormals are flushed before any context: the test cannot tell");
  // flush on, two threads: both hold inside, the caller's own come back after
  af_nn_ctx *c2 = af_nn_ctx_make(2, 1, err, sizeof err);
  cr_assert(c2, "%s", err);
  af_nn_ctx_enter(c2);
  cr_assert_eq(denormal_product(), 0.0f, "flush-to-zero is off inside a flushing context");
  cr_assert_eq(omp_get_max_threads(), 2);
  af_nn_ctx_enter(c2);  // nested: nothing changes, and the outer leave still restores
  af_nn_ctx_leave(c2);
  cr_assert_eq(denormal_product(), 0.0f);
  af_nn_ctx_leave(c2);
  cr_assert_eq(denormal_product(), before, "the caller's floating-point mode was not restored");
  cr_assert_eq(omp_get_max_threads(), caller, "the caller's OpenMP thread count was not restored");
  af_nn_ctx_free(c2);
  // flush off: denormals survive inside too
  af_nn_ctx *c0 = af_nn_ctx_make(1, 0, err, sizeof err);
  cr_assert(c0, "%s", err);
  af_nn_ctx_enter(c0);
  cr_assert_eq(denormal_product(), before);
  af_nn_ctx_leave(c0);
  af_nn_ctx_free(c0);
  cr_assert_null(af_nn_ctx_make(0, 1, err, sizeof err));
}

// the finiteness test the agents run before each step: NaN and both infinities are caught
// wherever they sit, the largest and the denormal floats are finite
Test(nn, finite_catches_nan_and_infinities) {
  float x[37];
  for (int i = 0; i < 37; i++) x[i] = (float)i - 18.5f;
  x[3] = FLT_MAX;
  x[4] = -FLT_MAX;
  x[5] = FLT_MIN / 8;
  cr_assert(af_nn_finite(x, 37));
  cr_assert(af_nn_finite(x, 0));
  const float bad[3] = {NAN, INFINITY, -INFINITY};
  for (int k = 0; k < 3; k++)
    for (int at = 0; at < 37; at += 12) {
      float keep = x[at];
      x[at] = bad[k];
      cr_assert(!af_nn_finite(x, 37), "value %d at %d", k, at);
      x[at] = keep;
    }
}

// ---- crafted files: a valid checksum over a table that lies ----
// FNV-1a, written out again here so that the test does not borrow the loader's own
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  for (size_t i = 0; i < n; i++) { h ^= ((const unsigned char *)p)[i]; h *= 0x100000001B3ull; }
  return h;
}

// magic, version 1, `count`, the given table entries and data bytes, a correct checksum
static void craft(const char *path, uint32_t count, const char *const *names, const uint64_t *sizes, int nentries,
                  const void *data, size_t ndata) {
  unsigned char buf[4096];
  size_t k = 0;
  uint32_t head[2] = {1, count};
  memcpy(buf, "AFNN", 4);
  memcpy(buf + 4, head, sizeof head);
  k = 12;
  for (int i = 0; i < nentries; i++) {
    char name[48] = {0};
    snprintf(name, sizeof name, "%s", names[i]);
    memcpy(buf + k, name, 48);
    memcpy(buf + k + 48, &sizes[i], 8);
    k += 56;
  }
  if (ndata) memcpy(buf + k, data, ndata);
  k += ndata;
  uint64_t h = fnv(0xCBF29CE484222325ull, buf, k);
  memcpy(buf + k, &h, 8);
  k += 8;
  FILE *f = fopen(path, "wb");
  cr_assert(f && fwrite(buf, 1, k, f) == k);
  fclose(f);
}

Test(nn, crafted_tables_are_refused_before_anything_is_read) {
  float a[5] = {1, 2, 3, 4, 5}, keep[5] = {7, 7, 7, 7, 7}, a2[5];
  af_tensor in = {"actor", a2, 5};
  const char *names[2] = {"actor", "extra"};
  char err[256];
  // a count whose table is beyond the end of the file (20 bytes: header and checksum only)
  craft("nn_lies.bin", 1, names, NULL, 0, NULL, 0);
  cr_assert_eq(af_nn_load("nn_lies.bin", &in, 1, err, sizeof err), -1);
  cr_assert(strstr(err, "does not fit") != NULL, "%s", err);
  craft("nn_lies.bin", 0xFFFFFFFFu, names, NULL, 0, NULL, 0);
  cr_assert_eq(af_nn_load_first("nn_lies.bin", &in, 1, err, sizeof err), -1);
  cr_assert(strstr(err, "does not fit") != NULL, "%s", err);
  // oversized: the right table, then more data than it declares
  float six[6] = {1, 2, 3, 4, 5, 6};
  uint64_t five = 5;
  craft("nn_lies.bin", 1, names, &five, 1, six, sizeof six);
  memcpy(a2, keep, sizeof keep);
  cr_assert_eq(af_nn_load("nn_lies.bin", &in, 1, err, sizeof err), -1, "a file with bytes beyond its tensors was loaded");
  cr_assert(strstr(err, "beyond its tensors") != NULL, "%s", err);
  cr_assert(memcmp(a2, keep, sizeof keep) == 0, "a refused file changed the tensors");
  // the first tensor is right, a later one claims more values than the file holds
  uint64_t lie[2] = {5, 1ull << 40};
  craft("nn_lies.bin", 2, names, lie, 2, a, sizeof a);
  cr_assert_eq(af_nn_load_first("nn_lies.bin", &in, 1, err, sizeof err), -1, "a table beyond the file's end was accepted");
  cr_assert(strstr(err, "tensor 1 ('extra') has 1099511627776 values, more than the file holds") != NULL, "%s", err);
  // sizes whose byte count wraps around 64 bits
  uint64_t wrap[2] = {5, 1ull << 62};
  craft("nn_lies.bin", 2, names, wrap, 2, a, sizeof a);
  cr_assert_eq(af_nn_load_first("nn_lies.bin", &in, 1, err, sizeof err), -1);
  cr_assert(strstr(err, "truncated") != NULL, "%s", err);
  // the honest file loads; a folder is no checkpoint
  craft("nn_lies.bin", 1, names, &five, 1, a, sizeof a);
  cr_assert_eq(af_nn_load("nn_lies.bin", &in, 1, err, sizeof err), 0, "%s", err);
  cr_assert(memcmp(a2, a, sizeof a) == 0);
  cr_assert_eq(af_nn_load(".", &in, 1, err, sizeof err), -1);
  cr_assert(strstr(err, "not a regular file") != NULL, "%s", err);
  remove("nn_lies.bin");
}

Test(nn, packed_words_are_checked) {
  float w[8];
  af_nn_pack_u64(w, 0x0123456789ABCDEFull);
  af_nn_pack_u64(w + 4, UINT64_MAX);
  cr_assert(af_nn_packed_ok(w, 2));
  cr_assert_eq(af_nn_unpack_u64(w + 4), UINT64_MAX);
  const float bad[4] = {-1, 65536, 0.5f, NAN};
  for (int i = 0; i < 4; i++) {
    float v[4] = {0, 0, 0, 0};
    v[i] = bad[i];
    cr_assert(!af_nn_packed_ok(v, 1), "piece %g accepted", bad[i]);
    cr_assert_eq(af_nn_unpack_u64(v), 0, "a bad piece is read as 0");
  }
}

// tanh and log(1 - tanh^2) against double precision (the log term as -2 log cosh x =
// -2 log1p(2 sinh^2(x/2)), accurate at every size): tanh within 4 float ulps, the log term
// within 3e-7 of its size plus 1e-6 |x| (its float form subtracts two numbers near -2|x|), over
// zero, tiny, small, medium and large arguments of both signs; infinities and NaN
Test(nn, tanh_and_its_log_density_term_match_double_precision) {
  enum { N = 4000 };
  static float x[N], t[N], lg[N];
  af_rng r;
  af_rng_seed(&r, 5);
  for (int i = 0; i < N; i++) {
    double mag = pow(10.0, af_rng_range(&r, -9, 1.7));  // 1e-9 .. 50
    x[i] = (float)(i % 2 ? mag : -mag);
  }
  x[0] = 0, x[1] = -0.0f, x[2] = 0.5f, x[3] = -0.25f, x[4] = 0.2499f, x[5] = 88.0f, x[6] = -200.0f;
  memcpy(t, x, sizeof x);
  af_nn_tanh_log1m(t, lg, N);
  for (int i = 0; i < N; i++) {
    double xd = x[i], ax = fabs(xd), th = tanh(xd);
    double sh = sinh(ax / 2), lgd = -2 * log1p(2 * sh * sh);
    cr_assert(fabs(t[i] - th) <= 4 * FLT_EPSILON * fabs(th) + FLT_MIN, "tanh(%.9g): %.9g, exactly %.9g", xd, t[i], th);
    cr_assert(fabs(lg[i] - lgd) <= 3e-7 * fabs(lgd) + 1e-6 * ax, "log(1 - tanh^2(%.9g)): %.9g, exactly %.9g", xd, lg[i], lgd);
  }
  float sp[4] = {INFINITY, -INFINITY, NAN, 1e-30f}, sl[4];
  af_nn_tanh_log1m(sp, sl, 4);
  cr_assert(sp[0] == 1 && sp[1] == -1 && isinf(sl[0]) && sl[0] < 0 && isinf(sl[1]) && sl[1] < 0);
  cr_assert(isnan(sp[2]) && isnan(sl[2]));
  cr_assert(sp[3] == 1e-30f && sl[3] == 0, "tanh(1e-30) %g, log term %g", sp[3], sl[3]);
}
