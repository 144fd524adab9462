// armfarm — the small-layer matrix product: AVX-512 register tiles of up to 6 rows by 64
// columns (24 accumulators), B walked in blocks of 128 rows so that its 128 x 64 slice stays
// in L1 across the row tiles. See gemm.h for the contract.
#include "gemm.h"

#include <stddef.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AF_GEMM_X86 1
#endif

enum { MR = 6, NV = 4, NC = 16 * NV, KC = 128 };

static int imin(int a, int b) { return a < b ? a : b; }

// the portable transpose, in 16 x 16 blocks so that both sides are walked a cache line at a time
static void transpose_blocks(float *t, const float *s, int rows, int cols) {
  for (int i0 = 0; i0 < rows; i0 += 16)
    for (int j0 = 0; j0 < cols; j0 += 16)
      for (int i = i0; i < imin(i0 + 16, rows); i++)
        for (int j = j0; j < imin(j0 + 16, cols); j++) t[(size_t)j * rows + i] = s[(size_t)i * cols + j];
}

#ifdef AF_GEMM_X86
int af_gemm_available(void) { return __builtin_cpu_supports("avx512f") != 0; }

// 16 rows of s at a time: each column of the block is one gather, stored as 16 floats of a
// row of t (a third of the time of the blocked loop at 64 x 64)
__attribute__((target("avx512f"))) static void transpose_gather(float *t, const float *s, int rows, int cols) {
  const __m512i step = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(cols));
  for (int i0 = 0; i0 < rows; i0 += 16) {
    int n = imin(16, rows - i0);
    __mmask16 m = n == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    const float *si = s + (size_t)i0 * cols;
    for (int j = 0; j < cols; j++) {
      __m512 col = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, step, si + j, 4);
      _mm512_mask_storeu_ps(t + (size_t)j * rows + i0, m, col);
    }
  }
}

void af_gemm_transpose(float *t, const float *s, int rows, int cols) {
  // the gather's offsets are 32-bit: larger matrices take the blocked loop
  if (af_gemm_available() && (size_t)rows * cols < (1u << 28)) transpose_gather(t, s, rows, cols);
  else transpose_blocks(t, s, rows, cols);
}

// one tile's work: rows i0.., columns j0.., k from k0 for kc steps
typedef struct {
  float *c;
  const float *a, *b, *bias;  // already offset to the tile; bias NULL unless this is the first k block
  int ldc, rsa, csa, ldb, kc;
  int load, relu;             // start from c; ReLU at the store (last k block only)
  __mmask16 mk[NV];           // the columns of each 16-wide vector that are inside N
} tile_args;

// the tile for mr rows and nv vectors (constants once inlined into the instances below)
#define LOAD(p) (tail && v == nv - 1 ? _mm512_maskz_loadu_ps(mk[v], (p)) : _mm512_loadu_ps(p))
__attribute__((target("avx512f"), always_inline)) static inline void tile_body(int mr, int nv, int tail, const tile_args *t) {
  // the arguments in locals and the loops over rows and vectors unrolled, so that the
  // accumulators live in registers; only a partial last vector (tail) is loaded and stored
  // under a mask (masked loads in the k loop cost a sixth of the rate)
  float *c = t->c;
  const float *a = t->a, *b = t->b, *bias = t->bias;
  const size_t ldc = (size_t)t->ldc, rsa = (size_t)t->rsa, csa = (size_t)t->csa, ldb = (size_t)t->ldb;
  const int kc = t->kc, load = t->load, relu = t->relu;
  __mmask16 mk[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; v++) mk[v] = t->mk[v];
  __m512 acc[MR][NV];
  // start: the previous partial sums or zero, plus the bias row
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) {
      __m512 x = load ? LOAD(c + r * ldc + 16 * v) : _mm512_setzero_ps();
      if (bias) x = _mm512_add_ps(x, LOAD(bias + 16 * v));
      acc[r][v] = x;
    }
  // the k loop: a row of B against a broadcast element of each row of A
  for (int k = 0; k < kc; k++) {
    const float *bk = b + k * ldb, *ak = a + k * csa;
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) bv[v] = LOAD(bk + 16 * v);
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
      __m512 av = _mm512_set1_ps(ak[r * rsa]);
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  // store, through ReLU (max(0, x) keeps a NaN a NaN)
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) {
      __m512 x = relu ? _mm512_max_ps(_mm512_setzero_ps(), acc[r][v]) : acc[r][v];
      if (tail && v == nv - 1) _mm512_mask_storeu_ps(c + r * ldc + 16 * v, mk[v], x);
      else _mm512_storeu_ps(c + r * ldc + 16 * v, x);
    }
}

#undef LOAD

// the instances: rows 1..6 by vectors 1..4, with and without a partial last vector
#define TILE(R, V) \
  __attribute__((target("avx512f"))) static void tile_##R##_##V(const tile_args *t) { tile_body(R, V, 0, t); } \
  __attribute__((target("avx512f"))) static void tail_##R##_##V(const tile_args *t) { tile_body(R, V, 1, t); }
#define TILE_ROW(R) TILE(R, 1) TILE(R, 2) TILE(R, 3) TILE(R, 4)
TILE_ROW(1) TILE_ROW(2) TILE_ROW(3) TILE_ROW(4) TILE_ROW(5) TILE_ROW(6)
#define TILE_PTRS(P, R) {P##_##R##_1, P##_##R##_2, P##_##R##_3, P##_##R##_4}
#define TILE_TABLE(P) {TILE_PTRS(P, 1), TILE_PTRS(P, 2), TILE_PTRS(P, 3), TILE_PTRS(P, 4), TILE_PTRS(P, 5), TILE_PTRS(P, 6)}
static void (*const tiles[2][MR][NV])(const tile_args *) = {TILE_TABLE(tile), TILE_TABLE(tail)};

// C = A Bt' from a row-major A and Bt (N x K, the columns of B as rows): dot products along
// k, 16 wide, four rows of A at a time. For narrow outputs (a critic's value, an actor's mean
// and spread, a small first layer's input gradient), where the tiles would fill few lanes.
__attribute__((target("avx512f"))) static float dot_finish(__m512 s, float c, const float *bias, int relu, int accumulate) {
  float x = _mm512_reduce_add_ps(s);
  if (accumulate) x = c + x;
  if (bias) x += *bias;
  return relu && x < 0 ? 0 : x;  // a NaN stays a NaN
}

__attribute__((target("avx512f"))) void af_gemm_nt(float *c, int ldc, const float *a, int lda, const float *bt, int ldbt, int M,
                                                   int N, int K, const float *bias, int relu, int accumulate) {
  const int kfull = K & ~15;
  const __mmask16 mt = (__mmask16)((1u << (K & 15)) - 1);
  const size_t la = (size_t)lda, lc = (size_t)ldc;
  int i = 0;
  for (; i + 4 <= M; i += 4) {
    const float *a0 = a + i * la, *a1 = a0 + la, *a2 = a1 + la, *a3 = a2 + la;
    for (int j = 0; j < N; j++) {
      const float *bj = bt + (size_t)j * ldbt;
      __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
      for (int k = 0; k < kfull; k += 16) {
        __m512 bv = _mm512_loadu_ps(bj + k);
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a0 + k), bv, s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a1 + k), bv, s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a2 + k), bv, s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a3 + k), bv, s3);
      }
      if (K & 15) {
        __m512 bv = _mm512_maskz_loadu_ps(mt, bj + kfull);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mt, a0 + kfull), bv, s0);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mt, a1 + kfull), bv, s1);
        s2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mt, a2 + kfull), bv, s2);
        s3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mt, a3 + kfull), bv, s3);
      }
      float *cj = c + i * lc + j;
      const float *bb = bias ? bias + j : NULL;
      cj[0] = dot_finish(s0, cj[0], bb, relu, accumulate);
      cj[lc] = dot_finish(s1, cj[lc], bb, relu, accumulate);
      cj[2 * lc] = dot_finish(s2, cj[2 * lc], bb, relu, accumulate);
      cj[3 * lc] = dot_finish(s3, cj[3 * lc], bb, relu, accumulate);
    }
  }
  for (; i < M; i++) {
    const float *ai = a + i * la;
    for (int j = 0; j < N; j++) {
      const float *bj = bt + (size_t)j * ldbt;
      __m512 s0 = _mm512_setzero_ps();
      for (int k = 0; k < kfull; k += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(ai + k), _mm512_loadu_ps(bj + k), s0);
      if (K & 15) s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mt, ai + kfull), _mm512_maskz_loadu_ps(mt, bj + kfull), s0);
      float *cj = c + i * lc + j;
      cj[0] = dot_finish(s0, cj[0], bias ? bias + j : NULL, relu, accumulate);
    }
  }
}

void af_gemm(float *c, int ldc, const float *a, int rsa, int csa, const float *b, int ldb, int M, int N, int K,
             const float *bias, int relu, int accumulate) {
  if (M <= 0 || N <= 0) return;
  // one output column: from a row-major A, dot products (b is then Bt's one row); from a
  // transposed A (a weight gradient x' dz), the same product as one row, c' = b' a', whose
  // tiles use all 16 lanes
  if (N == 1 && csa == 1 && ldb == 1) {
    af_gemm_nt(c, ldc, a, rsa, b, K, M, 1, K, bias, relu, accumulate);
    return;
  }
  if (N == 1 && rsa == 1 && ldc == 1 && !bias) {
    af_gemm(c, M, b, 0, ldb, a, csa, 1, M, K, NULL, relu, accumulate);
    return;
  }
  tile_args t = {.ldc = ldc, .rsa = rsa, .csa = csa, .ldb = ldb};
  // panels of 64 columns; in each, blocks of KC rows of B; in each, tiles of MR rows
  for (int j0 = 0; j0 < N; j0 += NC) {
    int nc = imin(NC, N - j0), nv = (nc + 15) / 16, tail = nc % 16 != 0;
    for (int v = 0; v < NV; v++) {
      int rem = nc - 16 * v;
      t.mk[v] = rem >= 16 ? (__mmask16)0xFFFF : rem > 0 ? (__mmask16)((1u << rem) - 1) : 0;
    }
    for (int k0 = 0;; k0 += KC) {
      int kc = imin(KC, K - k0 > 0 ? K - k0 : 0), last = k0 + kc >= K;
      t.kc = kc;
      t.load = accumulate || k0 > 0;
      t.bias = bias && k0 == 0 ? bias + j0 : NULL;
      t.relu = relu && last;
      t.b = b + (size_t)k0 * ldb + j0;
      for (int i0 = 0; i0 < M; i0 += MR) {
        int mr = imin(MR, M - i0);
        t.c = c + (size_t)i0 * ldc + j0;
        t.a = a + (size_t)i0 * rsa + (size_t)k0 * csa;
        tiles[tail][mr - 1][nv - 1](&t);
      }
      if (last) break;
    }
  }
}
#else
int af_gemm_available(void) { return 0; }

void af_gemm_transpose(float *t, const float *s, int rows, int cols) { transpose_blocks(t, s, rows, cols); }

// the same contract in plain C, for builds without the x86 kernel (the MLP does not use it
// then)
void af_gemm(float *c, int ldc, const float *a, int rsa, int csa, const float *b, int ldb, int M, int N, int K,
             const float *bias, int relu, int accumulate) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float s = accumulate ? c[(size_t)i * ldc + j] : 0;
      if (bias) s += bias[j];
      for (int k = 0; k < K; k++) s += a[(size_t)i * rsa + (size_t)k * csa] * b[(size_t)k * ldb + j];
      c[(size_t)i * ldc + j] = relu && s < 0 ? 0 : s;
    }
}

void af_gemm_nt(float *c, int ldc, const float *a, int lda, const float *bt, int ldbt, int M, int N, int K, const float *bias,
                int relu, int accumulate) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float s = 0;
      for (int k = 0; k < K; k++) s += a[(size_t)i * lda + k] * bt[(size_t)j * ldbt + k];
      if (accumulate) s = c[(size_t)i * ldc + j] + s;
      if (bias) s += bias[j];
      c[(size_t)i * ldc + j] = relu && s < 0 ? 0 : s;
    }
}
#endif
