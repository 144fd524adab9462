// armfarm — the small-layer matrix product (private to agents/nn)
//
// C (M x N, row stride ldc) = A (M x K) B (K x N), optionally + C, + a bias row, then ReLU.
// A's element (i, k) is read at a[i * rsa + k * csa], so A may be a row-major matrix
// (rsa = lda, csa = 1) or the transpose of one (rsa = 1, csa = lda); B is row-major with row
// stride ldb. The sums run over k in order for every element, on one thread, so results are
// deterministic and independent of the thread count.
//
// Used by the MLP for networks whose layers are all small (see af_gemm_small_ok), where
// oneDNN's per-call cost and short accumulation loops leave its kernels at about half of
// their large-matrix rate. AVX-512 only: af_gemm_available() says whether this CPU has it.
#ifndef AF_NN_GEMM_H
#define AF_NN_GEMM_H

// 1 when this CPU runs the AVX-512 kernel (checked once)
int af_gemm_available(void);

// c = a b (+ c if accumulate) (+ bias broadcast over rows if bias) (ReLU if relu); the
// output may not overlap the inputs. Requires af_gemm_available().
void af_gemm(float *c, int ldc, const float *a, int rsa, int csa, const float *b, int ldb, int M, int N, int K,
             const float *bias, int relu, int accumulate);

// c = a bt' (+ c if accumulate) (+ bias) (ReLU if relu), with a (M x K, row stride lda) and
// bt (N x K, row stride ldbt) row-major: dot products, for narrow outputs (N below 16).
// The sum is formed in full before c is added. Requires af_gemm_available().
void af_gemm_nt(float *c, int ldc, const float *a, int lda, const float *bt, int ldbt, int M, int N, int K,
                const float *bias, int relu, int accumulate);

// t (cols x rows, row-major) = the transpose of s (rows x cols, row-major)
void af_gemm_transpose(float *t, const float *s, int rows, int cols);

#endif
