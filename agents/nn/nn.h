// The neural-network core: multi-layer perceptrons on oneDNN's C API (matmul primitives with
// bias and activation fused as post-ops), or for small networks on an own AVX-512 product
// (af_nn_ctx_set_kernels), Adam, gradient clipping, Polyak averaging, and a
// checked binary format for parameters and optimizer state. Primitives and memory objects are
// created at make time for each batch size in use; forward, backward and update allocate
// nothing. All math is float32.
#ifndef AF_NN_H
#define AF_NN_H

#include <stddef.h>  // size_t
#include <stdint.h>  // uint64_t

#include "base/rng.h"

#define AF_NN_MAX_LAYERS 8
#define AF_NN_MAX_PLANS 4

typedef enum { AF_ACT_NONE, AF_ACT_RELU, AF_ACT_TANH } af_act;

// a oneDNN CPU engine and stream shared by the networks of one agent, with its numerics
// settings: the number of OpenMP threads its primitives run with (1 is the fastest and
// reproducible setting for these sizes), and whether denormal floats are flushed to zero
// (x86 flush-to-zero and denormals-are-zero; on by default in the agents: denormals arise in
// Adam's moments and some CPUs process them very slowly; no effect elsewhere). The settings
// hold for the duration of each network call, on the calling thread and on the OpenMP workers,
// and each thread's own are restored after it, so nothing process-wide changes. Not
// thread-safe: one context, and its networks, are used by one thread at a time.
// NULL with a message when threads is outside [1, 1024] or oneDNN fails.
typedef struct af_nn_ctx af_nn_ctx;
af_nn_ctx *af_nn_ctx_make(int threads, int flush_denormals, char *err, size_t errsz);
void af_nn_ctx_free(af_nn_ctx *ctx);  // NULL is a no-op

// the context's settings on the calling thread (and its workers) until the matching leave;
// nestable. Network calls enter and leave by themselves; an agent wraps a whole act or update
// in one pair so that its own loops (Adam, Polyak, the losses) run under the same settings.
void af_nn_ctx_enter(af_nn_ctx *ctx);
void af_nn_ctx_leave(af_nn_ctx *ctx);

// which matrix products a context's networks run on. AF_NN_KERNELS_AUTO (the default), where
// the CPU has AVX-512: a network whose layers all have at most AF_NN_SMALL inputs and outputs
// runs on armfarm's own AVX-512 product (agents/nn/gemm.h), where oneDNN's per-call cost and
// short accumulation loops leave it at about half its large-matrix rate; in every other
// network the narrow layers (fewer than AF_NN_NARROW inputs or outputs: a critic's 35-wide
// input and its value column, an actor's 16-wide head) run on the own product and the rest on
// oneDNN. AF_NN_KERNELS_ONEDNN: every layer on oneDNN (for measuring the two side by side).
// It applies to networks made after it; af_mlp_own_kernel tells which a network got.
#define AF_NN_SMALL 128
#define AF_NN_NARROW 64
enum { AF_NN_KERNELS_AUTO, AF_NN_KERNELS_ONEDNN };
void af_nn_ctx_set_kernels(af_nn_ctx *ctx, int kernels);

// the first run-time failure of a network of this context (a primitive that failed to
// execute, or a batch size that was not planned), or NULL when there was none. Failures are
// sticky: a forward or backward after one leaves its outputs unspecified, and the agent that
// owns the context reports the message as an error code instead of continuing silently.
const char *af_nn_ctx_error(const af_nn_ctx *ctx);

// the one place oneDNN statuses become armfarm errors: 0, or -1 with "what: reason" in err
int af_dnnl_check(int status, const char *what, char *err, size_t errsz);

// ---- multi-layer perceptron ----
// sizes[0] inputs, sizes[nlayers] outputs; hidden layers use `hidden`, the last `out`.
// Parameters live in one float array: for each layer W (in, out) row-major, then b (out).
typedef struct af_mlp af_mlp;

af_mlp *af_mlp_make(af_nn_ctx *ctx, int nlayers, const int *sizes, af_act hidden, af_act out,
                    const int *batch_sizes, int nbatch, char *err, size_t errsz);
void af_mlp_free(af_mlp *net);

int af_mlp_nparams(const af_mlp *net);
int af_mlp_in(const af_mlp *net);
int af_mlp_out(const af_mlp *net);
float *af_mlp_params(af_mlp *net);
// layer l (0 .. af_mlp_layers - 1): its weights W (in, out) row-major and bias b (out) inside
// af_mlp_params, its sizes and activation (for export: nothing else may rely on the layout);
// 0, or -1 when l is out of range
int af_mlp_layers(const af_mlp *net);
int af_mlp_layer(const af_mlp *net, int l, int *in, int *out, af_act *act, const float **w, const float **b);
float *af_mlp_grads(af_mlp *net);

// how many of the network's layers run on armfarm's own small-layer product (the rest on oneDNN)
int af_mlp_own_kernel(const af_mlp *net);

// uniform(-1/sqrt(in), 1/sqrt(in)) weights and biases, as PyTorch's nn.Linear
void af_mlp_init(af_mlp *net, af_rng *rng);

// out (B, out) = net(x (B, in)); B must be one of the batch sizes given at make (else NULL,
// recorded as the context's error). The returned buffer belongs to the network and holds
// until the next forward with the same B; x must stay valid until the matching backward.
const float *af_mlp_forward(af_mlp *net, int B, const float *x);

// gradients of a loss given dout (B, out) = dL/d(output) of the last forward with B:
// parameter gradients into grads (overwritten, or added when accumulate) if want_params,
// and dx (B, in) = dL/dx if dx is not NULL
void af_mlp_backward(af_mlp *net, int B, const float *dout, float *dx, int want_params, int accumulate);

// floating-point operations of one pass at batch B (for GFLOP/s figures): the forward, the
// weight gradients, the input gradients of the hidden layers only or of every layer
enum { AF_FLOPS_FORWARD, AF_FLOPS_WEIGHTS, AF_FLOPS_DATA_HIDDEN, AF_FLOPS_DATA_ALL };
double af_mlp_flops(const af_mlp *net, int B, int pass);

// ---- optimization ----
typedef struct {
  int n;
  float lr, beta1, beta2, eps;
  double t;    // steps taken (for bias correction)
  float *m, *v;
} af_adam;

int af_adam_init(af_adam *a, int n, float lr, char *err, size_t errsz);
void af_adam_free(af_adam *a);
// one step with bias correction: p -= lr * mhat / (sqrt(vhat) + eps)
void af_adam_step(af_adam *a, float *params, const float *grads);

// scale grads so their L2 norm is at most max_norm (no-op if max_norm <= 0); returns the norm
float af_nn_clip_grad_norm(float *grads, int n, float max_norm);

// target = (1 - tau) target + tau src
void af_nn_polyak(float *target, const float *src, int n, float tau);

// x = tanh(x) in place and lg = log(1 - tanh(x)^2), element-wise over n floats, in a loop that
// vectorizes (no libm calls): within a few float ulps of the exact values for every finite x,
// infinities included; NaN in, NaN out. lg is formed stably as -2|x| - 2 log1p(expm1(-2|x|)/2).
void af_nn_tanh_log1m(float *x, float *lg, int n);

// 1 when all n floats are finite (no NaN, no infinity), else 0: the agents test their losses
// and gradients with it before a step, so that nothing non-finite reaches the parameters
int af_nn_finite(const float *x, size_t n);

// ---- checkpoint files ----
// A file holds named float tensors: magic "AFNN", version, a table of names and sizes, the
// data, and a 64-bit FNV-1a checksum of everything before it. Writes go to a temporary file
// that is then renamed. Loading trusts nothing in the file: the count and every size are
// checked against the file's size (a table that does not fit, a size beyond the end, bytes
// beyond the last tensor are refused), then the checksum, then the names and sizes the
// caller expects; nothing is allocated by a count from the file, and the caller's tensors
// are written only once everything is checked. Errors are one line naming the file and the
// problem.
#define AF_NN_FILE_VERSION 1

typedef struct {
  const char *name;  // at most 47 characters
  float *data;
  size_t n;
} af_tensor;

int af_nn_save(const char *path, const af_tensor *t, int nt, char *err, size_t errsz);

// 64-bit counters and RNG words stored exactly in float tensors: four 16-bit pieces each
void af_nn_pack_u64(float out[4], uint64_t x);
uint64_t af_nn_unpack_u64(const float in[4]);
// 1 when the nwords packed words at in are four whole numbers in [0, 65535] each, as
// af_nn_pack_u64 writes them; loaders check this before unpacking what a file gave them
// (af_nn_unpack_u64 reads a bad piece as 0)
int af_nn_packed_ok(const float *in, int nwords);
int af_nn_load(const char *path, af_tensor *t, int nt, char *err, size_t errsz);
// the same for the first nt tensors of a file that may hold more (e.g. a header tensor)
int af_nn_load_first(const char *path, af_tensor *t, int nt, char *err, size_t errsz);

#endif
