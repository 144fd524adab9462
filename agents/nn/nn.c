// The neural-network core on oneDNN: MLP forward and backward as matmul primitives planned
// per batch size, Adam, clipping, Polyak averaging and checkpoint files.
#include "agents/nn/nn.h"
#include "agents/nn/nn_private.h"
#include "agents/nn/gemm.h"

#include <math.h>    // sqrtf, sqrt, tanhf
#include <stdio.h>   // FILE, snprintf
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy, memset, strlen, strncmp
#include <sys/stat.h>  // fstat: the size of a checkpoint before it is read

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>  // oneDNN's CPU runtime here is OpenMP

// ---- errors: oneDNN statuses in one place ----
static const char *dnnl_reason(dnnl_status_t s) {
  switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "no implementation for these shapes";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    default: return "unknown oneDNN error";
  }
}

int af_dnnl_check(int status, const char *what, char *err, size_t errsz) {
  if (status == dnnl_success) return 0;
  snprintf(err, errsz, "oneDNN: %s: %s", what, dnnl_reason((dnnl_status_t)status));
  return -1;
}

struct af_nn_ctx {
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  int threads;     // OpenMP threads of this context's primitives
  int flush;       // flush-to-zero and denormals-are-zero during network calls
  int depth;       // nesting of enter/leave
  int saved_threads;
  unsigned *saved_csr;  // (threads) each thread's own MXCSR, restored at leave
  int failed;      // a primitive failed since make (sticky)
  int kernels;     // AF_NN_KERNELS_AUTO or AF_NN_KERNELS_ONEDNN, for networks made later
  char error[128];
};

// a failure at run time is recorded in the context, never fatal: callers check
// af_nn_ctx_error after a forward, backward or update
static void fail(af_nn_ctx *c, const char *msg) {
  if (c->failed) return;
  c->failed = 1;
  snprintf(c->error, sizeof c->error, "%s", msg);
}

static void exec(af_nn_ctx *c, dnnl_primitive_t p, int nargs, const dnnl_exec_arg_t *args) {
  dnnl_status_t st = dnnl_primitive_execute(p, c->stream, nargs, args);
  if (st != dnnl_success) {
    char msg[128];
    af_dnnl_check(st, "primitive execution", msg, sizeof msg);
    fail(c, msg);
  }
}

// ---- numerics settings for the duration of a call ----
// OpenMP's thread count and the x86 MXCSR (flush-to-zero, denormals-are-zero) are per-thread
// settings: the context's are applied on entry and the caller's own restored on leaving, on
// the calling thread and, with more than one thread, on the OpenMP workers that run the
// primitives. Denormal floats appear in Adam's second moments late in training and cost
// some CPUs (Intel's) a hundred cycles per operation.
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>  // _mm_getcsr, _mm_setcsr
#define CSR_FLUSH 0x8040u  // FTZ (bit 15) and DAZ (bit 6)
static unsigned csr_get(void) { return _mm_getcsr(); }
static void csr_set(unsigned v) { _mm_setcsr(v); }
#else
#define CSR_FLUSH 0u
static unsigned csr_get(void) { return 0; }
static void csr_set(unsigned v) { (void)v; }
#endif

void af_nn_ctx_enter(af_nn_ctx *c) {
  if (c->depth++ > 0) return;
  c->saved_threads = omp_get_max_threads();
  if (c->saved_threads != c->threads) omp_set_num_threads(c->threads);
  if (!c->flush) return;
  if (c->threads == 1) {
    c->saved_csr[0] = csr_get();
    csr_set(c->saved_csr[0] | CSR_FLUSH);
    return;
  }
#pragma omp parallel num_threads(c->threads)
  {
    int t = omp_get_thread_num();
    c->saved_csr[t] = csr_get();
    csr_set(c->saved_csr[t] | CSR_FLUSH);
  }
}

void af_nn_ctx_leave(af_nn_ctx *c) {
  if (--c->depth > 0) return;
  if (c->flush && c->threads == 1) csr_set(c->saved_csr[0]);
  else if (c->flush) {
#pragma omp parallel num_threads(c->threads)
    csr_set(c->saved_csr[omp_get_thread_num()]);
  }
  if (c->saved_threads != c->threads) omp_set_num_threads(c->saved_threads);
}

af_nn_ctx *af_nn_ctx_make(int threads, int flush_denormals, char *err, size_t errsz) {
  if (threads < 1 || threads > 1024) { snprintf(err, errsz, "network threads %d out of range [1, 1024]", threads); return NULL; }
  af_nn_ctx *c = calloc(1, sizeof *c);
  if (!c || !(c->saved_csr = calloc((size_t)threads, sizeof *c->saved_csr))) { free(c); snprintf(err, errsz, "out of memory"); return NULL; }
  c->threads = threads;
  c->flush = flush_denormals != 0;
  if (af_dnnl_check(dnnl_engine_create(&c->engine, dnnl_cpu, 0), "engine", err, errsz) ||
      af_dnnl_check(dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags), "stream", err, errsz)) {
    af_nn_ctx_free(c);
    return NULL;
  }
  return c;
}

void af_nn_ctx_free(af_nn_ctx *c) {
  if (!c) return;
  if (c->stream) dnnl_stream_destroy(c->stream);
  if (c->engine) dnnl_engine_destroy(c->engine);
  free(c->saved_csr);
  free(c);
}

const char *af_nn_ctx_error(const af_nn_ctx *c) { return c->failed ? c->error : NULL; }

void af_nn_ctx_set_kernels(af_nn_ctx *c, int kernels) { c->kernels = kernels == AF_NN_KERNELS_ONEDNN ? kernels : AF_NN_KERNELS_AUTO; }

dnnl_engine_t af_nn_ctx_engine(const af_nn_ctx *c) { return c->engine; }
dnnl_stream_t af_nn_ctx_stream(const af_nn_ctx *c) { return c->stream; }
void af_nn_ctx_fail(af_nn_ctx *c, const char *msg) { fail(c, msg); }

// the element-wise loops of the update (activation and bias gradients, Adam, Polyak, the
// finiteness check) in AVX-512 and AVX2 versions beside the baseline one, chosen at load
// time for the CPU: the library itself is built for baseline x86-64
#if defined(__x86_64__) && defined(__GNUC__)
#define AF_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define AF_CLONES
#endif

// ---- MLP ----
// per layer and batch size: forward, backward-data and backward-weights matmuls with their
// memory objects bound to our buffers and their argument lists prebuilt
typedef struct {
  dnnl_primitive_t fwd, bwd_data, bwd_w, bwd_w_acc;
  dnnl_memory_t src, w, b, dst;       // forward: dst = act(src W + b)
  dnnl_memory_t ddst, wt, dsrc;       // data: dsrc = ddst W'
  dnnl_memory_t srct, dw;             // weights: dW = src' ddst
  dnnl_exec_arg_t a_fwd[4], a_data[3], a_w[3];
} layer_plan;

typedef struct {
  int B;
  float *acts[AF_NN_MAX_LAYERS + 1];  // acts[0] is the caller's input
  float *dz[AF_NN_MAX_LAYERS];        // dL/d(pre-activation) of each layer's output, (B, out)
  layer_plan lp[AF_NN_MAX_LAYERS];
} plan;

struct af_mlp {
  af_nn_ctx *ctx;
  int L, sizes[AF_NN_MAX_LAYERS + 1];
  af_act hidden, out;
  int nparams;
  float *params, *grads;
  int woff[AF_NN_MAX_LAYERS], boff[AF_NN_MAX_LAYERS];
  int own[AF_NN_MAX_LAYERS];  // layer l runs on af_gemm (small or narrow, AVX-512), not on oneDNN
  float *wt;   // an own layer's W transposed (the largest fits), for narrow outputs and dx
  int nplan;
  plan plans[AF_NN_MAX_PLANS];
};

int af_mlp_nparams(const af_mlp *n) { return n->nparams; }
int af_mlp_in(const af_mlp *n) { return n->sizes[0]; }
int af_mlp_out(const af_mlp *n) { return n->sizes[n->L]; }
float *af_mlp_params(af_mlp *n) { return n->params; }
float *af_mlp_grads(af_mlp *n) { return n->grads; }

static af_act layer_act(const af_mlp *n, int l) { return l == n->L - 1 ? n->out : n->hidden; }

int af_mlp_layers(const af_mlp *n) { return n->L; }
int af_mlp_own_kernel(const af_mlp *n) {
  int k = 0;
  for (int l = 0; l < n->L; l++) k += n->own[l];
  return k;
}
int af_mlp_layer(const af_mlp *n, int l, int *in, int *out, af_act *act, const float **w, const float **b) {
  if (l < 0 || l >= n->L) return -1;
  *in = n->sizes[l];
  *out = n->sizes[l + 1];
  *act = layer_act(n, l);
  *w = n->params + n->woff[l];
  *b = n->params + n->boff[l];
  return 0;
}

// a 2-D float memory object over `data`, logical dims (r, c), plain or transposed storage
static int mem2d(dnnl_memory_t *m, dnnl_memory_desc_t *md, af_nn_ctx *c, int r, int cols, int transposed, void *data,
                 char *err, size_t errsz) {
  dnnl_dims_t dims = {r, cols};
  if (af_dnnl_check(dnnl_memory_desc_init_by_tag(md, 2, dims, dnnl_f32, transposed ? dnnl_ba : dnnl_ab), "memory desc", err, errsz))
    return -1;
  return af_dnnl_check(dnnl_memory_create(m, md, c->engine, data), "memory", err, errsz);
}

// a matmul primitive, with an optional eltwise post-op and an optional sum (accumulate)
static int matmul(dnnl_primitive_t *p, af_nn_ctx *c, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *w,
                  const dnnl_memory_desc_t *b, const dnnl_memory_desc_t *dst, af_act act, int accumulate, char *err, size_t errsz) {
  dnnl_matmul_desc_t d;
  if (af_dnnl_check(dnnl_matmul_desc_init(&d, src, w, b, dst), "matmul desc", err, errsz)) return -1;
  dnnl_primitive_attr_t attr;
  dnnl_post_ops_t po;
  if (af_dnnl_check(dnnl_primitive_attr_create(&attr), "attr", err, errsz)) return -1;
  dnnl_post_ops_create(&po);
  if (accumulate) dnnl_post_ops_append_sum(po, 1.0f);
  if (act == AF_ACT_RELU) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
  if (act == AF_ACT_TANH) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_tanh, 0.0f, 0.0f);
  dnnl_primitive_attr_set_post_ops(attr, po);
  // oneDNN's first choice, except for matrix-vector products (a critic's single output
  // column): there its gemm kernel takes a third to a sixth of the time of the brgemm one
  // (measured at 64-64/batch 100 and 256-256/batch 256, see PERF_NOTES.md)
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_desc_iterator_t it;
  int rc = af_dnnl_check(dnnl_primitive_desc_iterator_create(&it, &d, attr, c->engine, NULL), "matmul primitive desc", err, errsz);
  if (rc == 0) {
    int gemv = dst->dims[dst->ndims - 1] == 1;
    do {
      dnnl_primitive_desc_t cand = dnnl_primitive_desc_iterator_fetch(it);
      const char *impl = NULL;
      if (cand) dnnl_primitive_desc_query(cand, dnnl_query_impl_info_str, 0, &impl);
      int is_gemm = impl && strncmp(impl, "gemm", 4) == 0;
      if (!pd || (gemv && is_gemm)) {
        if (pd) dnnl_primitive_desc_destroy(pd);
        pd = cand;
        if (!gemv || is_gemm) break;
      } else if (cand) dnnl_primitive_desc_destroy(cand);
    } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
    dnnl_primitive_desc_iterator_destroy(it);
    rc = pd ? 0 : af_dnnl_check(dnnl_runtime_error, "matmul primitive desc", err, errsz);
  }
  if (rc == 0) {
    rc = af_dnnl_check(dnnl_primitive_create(p, pd), "matmul primitive", err, errsz);
    dnnl_primitive_desc_destroy(pd);
  }
  dnnl_post_ops_destroy(po);
  dnnl_primitive_attr_destroy(attr);
  return rc;
}

static int make_plan(af_mlp *n, plan *pl, int B, char *err, size_t errsz) {
  af_nn_ctx *c = n->ctx;
  pl->B = B;
  for (int l = 0; l < n->L; l++) {
    int out = n->sizes[l + 1];
    pl->acts[l + 1] = calloc((size_t)B * out, sizeof(float));
    pl->dz[l] = calloc((size_t)B * out, sizeof(float));
    if (!pl->acts[l + 1] || !pl->dz[l]) { snprintf(err, errsz, "out of memory"); return -1; }
  }
  for (int l = 0; l < n->L; l++) {
    if (n->own[l]) continue;  // the own product needs the buffers only
    int in = n->sizes[l], out = n->sizes[l + 1];
    layer_plan *lp = &pl->lp[l];
    float *W = n->params + n->woff[l], *b = n->params + n->boff[l], *dW = n->grads + n->woff[l];
    // input buffers: the previous layer's output, or the caller's input (bound per call)
    float *x = l == 0 ? NULL : pl->acts[l];
    float *dx = l == 0 ? NULL : pl->dz[l - 1];
    dnnl_memory_desc_t msrc, mw, mb, mdst, mddst, mwt, mdsrc, msrct, mdw;
    if (mem2d(&lp->src, &msrc, c, B, in, 0, x ? x : (void *)W, err, errsz) ||
        mem2d(&lp->w, &mw, c, in, out, 0, W, err, errsz) || mem2d(&lp->b, &mb, c, 1, out, 0, b, err, errsz) ||
        mem2d(&lp->dst, &mdst, c, B, out, 0, pl->acts[l + 1], err, errsz) ||
        mem2d(&lp->ddst, &mddst, c, B, out, 0, pl->dz[l], err, errsz) ||
        mem2d(&lp->wt, &mwt, c, out, in, 1, W, err, errsz) ||
        mem2d(&lp->dsrc, &mdsrc, c, B, in, 0, dx ? dx : (void *)W, err, errsz) ||
        mem2d(&lp->srct, &msrct, c, in, B, 1, x ? x : (void *)W, err, errsz) ||
        mem2d(&lp->dw, &mdw, c, in, out, 0, dW, err, errsz))
      return -1;
    if (matmul(&lp->fwd, c, &msrc, &mw, &mb, &mdst, layer_act(n, l), 0, err, errsz) ||
        matmul(&lp->bwd_data, c, &mddst, &mwt, NULL, &mdsrc, AF_ACT_NONE, 0, err, errsz) ||
        matmul(&lp->bwd_w, c, &msrct, &mddst, NULL, &mdw, AF_ACT_NONE, 0, err, errsz) ||
        matmul(&lp->bwd_w_acc, c, &msrct, &mddst, NULL, &mdw, AF_ACT_NONE, 1, err, errsz))
      return -1;
    lp->a_fwd[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, lp->src};
    lp->a_fwd[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, lp->w};
    lp->a_fwd[2] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, lp->b};
    lp->a_fwd[3] = (dnnl_exec_arg_t){DNNL_ARG_DST, lp->dst};
    lp->a_data[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, lp->ddst};
    lp->a_data[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, lp->wt};
    lp->a_data[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, lp->dsrc};
    lp->a_w[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, lp->srct};
    lp->a_w[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, lp->ddst};
    lp->a_w[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, lp->dw};
  }
  return 0;
}

static void free_plan(af_mlp *n, plan *pl) {
  for (int l = 0; l < n->L; l++) {
    layer_plan *lp = &pl->lp[l];
    dnnl_primitive_t ps[] = {lp->fwd, lp->bwd_data, lp->bwd_w, lp->bwd_w_acc};
    for (int i = 0; i < 4; i++) if (ps[i]) dnnl_primitive_destroy(ps[i]);
    dnnl_memory_t ms[] = {lp->src, lp->w, lp->b, lp->dst, lp->ddst, lp->wt, lp->dsrc, lp->srct, lp->dw};
    for (int i = 0; i < 9; i++) if (ms[i]) dnnl_memory_destroy(ms[i]);
    free(pl->acts[l + 1]);
    free(pl->dz[l]);
  }
}

af_mlp *af_mlp_make(af_nn_ctx *ctx, int nlayers, const int *sizes, af_act hidden, af_act out, const int *batch_sizes,
                    int nbatch, char *err, size_t errsz) {
  if (nlayers < 1 || nlayers > AF_NN_MAX_LAYERS || nbatch < 1 || nbatch > AF_NN_MAX_PLANS) {
    snprintf(err, errsz, "network: %d layers and %d batch sizes (at most %d and %d)", nlayers, nbatch, AF_NN_MAX_LAYERS, AF_NN_MAX_PLANS);
    return NULL;
  }
  for (int l = 0; l <= nlayers; l++)
    if (sizes[l] < 1 || sizes[l] > 65536) { snprintf(err, errsz, "network: layer size %d out of range", sizes[l]); return NULL; }
  af_mlp *n = calloc(1, sizeof *n);
  if (!n) { snprintf(err, errsz, "out of memory"); return NULL; }
  n->ctx = ctx;
  n->L = nlayers;
  memcpy(n->sizes, sizes, sizeof(int) * (size_t)(nlayers + 1));
  n->hidden = hidden;
  n->out = out;
  // one array of parameters, one of gradients: W then b for each layer
  int off = 0;
  for (int l = 0; l < nlayers; l++) {
    n->woff[l] = off;
    off += sizes[l] * sizes[l + 1];
    n->boff[l] = off;
    off += sizes[l + 1];
  }
  n->nparams = off;
  n->params = calloc((size_t)off, sizeof(float));
  n->grads = calloc((size_t)off, sizeof(float));
  // small networks and narrow layers on the own product (see af_nn_ctx_set_kernels), with
  // room for the largest own layer's W'
  int small = 1, wmax = 0;
  for (int l = 0; l < nlayers; l++) small = small && sizes[l] <= AF_NN_SMALL && sizes[l + 1] <= AF_NN_SMALL;
  int own_ok = ctx->kernels == AF_NN_KERNELS_AUTO && af_gemm_available();
  for (int l = 0; l < nlayers; l++) {
    int narrow = sizes[l] < AF_NN_NARROW || sizes[l + 1] < AF_NN_NARROW;
    n->own[l] = own_ok && (small || narrow);
    if (n->own[l] && sizes[l] * sizes[l + 1] > wmax) wmax = sizes[l] * sizes[l + 1];
  }
  if (wmax) n->wt = calloc((size_t)wmax, sizeof(float));
  if (!n->params || !n->grads || (wmax && !n->wt)) { snprintf(err, errsz, "out of memory"); af_mlp_free(n); return NULL; }
  // primitives are planned for the thread count they will run with
  int rc = 0;
  af_nn_ctx_enter(ctx);
  for (int i = 0; i < nbatch && rc == 0; i++) {
    if (batch_sizes[i] < 1) { snprintf(err, errsz, "network: batch size %d", batch_sizes[i]); rc = -1; break; }
    n->nplan++;
    rc = make_plan(n, &n->plans[i], batch_sizes[i], err, errsz);
  }
  af_nn_ctx_leave(ctx);
  if (rc) { af_mlp_free(n); return NULL; }
  return n;
}

void af_mlp_free(af_mlp *n) {
  if (!n) return;
  for (int i = 0; i < n->nplan; i++) free_plan(n, &n->plans[i]);
  free(n->params);
  free(n->grads);
  free(n->wt);
  free(n);
}

void af_mlp_init(af_mlp *n, af_rng *rng) {
  for (int l = 0; l < n->L; l++) {
    int in = n->sizes[l], out = n->sizes[l + 1];
    float bound = 1.0f / sqrtf((float)in);
    for (int i = 0; i < in * out; i++) n->params[n->woff[l] + i] = (float)af_rng_range(rng, -bound, bound);
    for (int i = 0; i < out; i++) n->params[n->boff[l] + i] = (float)af_rng_range(rng, -bound, bound);
  }
}

static plan *find_plan(af_mlp *n, int B) {
  for (int i = 0; i < n->nplan; i++)
    if (n->plans[i].B == B) return &n->plans[i];
  char msg[96];
  snprintf(msg, sizeof msg, "network used with batch size %d, not planned at make", B);
  fail(n->ctx, msg);
  return NULL;
}

// one layer's forward pass on the own product: act(x W + b) (ReLU fused, tanh after)
static void own_forward(af_mlp *n, plan *pl, int l) {
  int in = n->sizes[l], out = n->sizes[l + 1];
  af_act act = layer_act(n, l);
  float *y = pl->acts[l + 1];
  const float *W = n->params + n->woff[l], *b = n->params + n->boff[l];
  if (out < 16) {  // narrow: dot products against W's columns
    af_gemm_transpose(n->wt, W, in, out);
    af_gemm_nt(y, out, pl->acts[l], in, n->wt, in, pl->B, out, in, b, act == AF_ACT_RELU, 0);
  } else
    af_gemm(y, out, pl->acts[l], in, 1, W, out, pl->B, out, in, b, act == AF_ACT_RELU, 0);
  if (act == AF_ACT_TANH)
    for (size_t i = 0; i < (size_t)pl->B * out; i++) y[i] = tanhf(y[i]);
}

const float *af_mlp_forward(af_mlp *n, int B, const float *x) {
  plan *pl = find_plan(n, B);
  if (!pl) return NULL;
  af_nn_ctx_enter(n->ctx);
  pl->acts[0] = (float *)x;
  if (!n->own[0]) {
    dnnl_memory_set_data_handle(pl->lp[0].src, (void *)x);
    dnnl_memory_set_data_handle(pl->lp[0].srct, (void *)x);
  }
  // layer by layer, each on its product; an own layer reads what oneDNN finished writing
  for (int l = 0; l < n->L; l++) {
    if (n->own[l]) own_forward(n, pl, l);
    else {
      exec(n->ctx, pl->lp[l].fwd, 4, pl->lp[l].a_fwd);
      if (l == n->L - 1 || n->own[l + 1]) dnnl_stream_wait(n->ctx->stream);
    }
  }
  af_nn_ctx_leave(n->ctx);
  return pl->acts[n->L];
}

// dz (B, out) = g (B, out) * act'(y), y the activation's output, and with db (out) not NULL
// the bias gradient, the column sums of dz, overwritten or added to: one pass over memory
AF_CLONES static void act_bias_backward(float *dz, float *db, const float *g, const float *y, int B, int out, af_act act, int accumulate) {
  if (db && !accumulate) memset(db, 0, sizeof(float) * (size_t)out);
  for (int b = 0; b < B; b++) {
    float *d = dz + (size_t)b * out;
    const float *gr = g + (size_t)b * out, *yr = y + (size_t)b * out;
    // in place, so that the select vectorizes
    if (d != gr) memcpy(d, gr, sizeof(float) * (size_t)out);
    if (act == AF_ACT_RELU)
      for (int j = 0; j < out; j++) d[j] = yr[j] > 0 ? d[j] : 0;
    else if (act == AF_ACT_TANH)
      for (int j = 0; j < out; j++) d[j] *= 1 - yr[j] * yr[j];
    if (db)
      for (int j = 0; j < out; j++) db[j] += d[j];
  }
}

// one layer's weight gradient on the own product: dW = x' dz (x read transposed: the rows
// of x' are its columns)
static void own_weights(af_mlp *n, plan *pl, int l, int accumulate) {
  int in = n->sizes[l], out = n->sizes[l + 1];
  af_gemm(n->grads + n->woff[l], out, pl->acts[l], 1, in, pl->dz[l], out, in, out, pl->B, NULL, 0, accumulate);
}

// one layer's gradient into its input on the own product: dx = dz W'; narrow (a small input),
// dot products against W's rows; else with W' laid out row-major first
static void own_data(af_mlp *n, plan *pl, int l, float *dx) {
  int in = n->sizes[l], out = n->sizes[l + 1];
  const float *W = n->params + n->woff[l];
  if (in < 16) af_gemm_nt(dx, in, pl->dz[l], out, W, out, pl->B, in, out, NULL, 0, 0);
  else {
    af_gemm_transpose(n->wt, W, in, out);
    af_gemm(dx, in, pl->dz[l], out, 1, n->wt, in, pl->B, in, out, NULL, 0, 0);
  }
}

void af_mlp_backward(af_mlp *n, int B, const float *dout, float *dx, int want_params, int accumulate) {
  plan *pl = find_plan(n, B);
  if (!pl) return;
  af_nn_ctx_enter(n->ctx);
  dnnl_stream_t s = n->ctx->stream;
  int L = n->L;
  // the output layer's dz, and its bias gradient
  act_bias_backward(pl->dz[L - 1], want_params ? n->grads + n->boff[L - 1] : NULL, dout, pl->acts[L], B, n->sizes[L], n->out,
                    accumulate);
  for (int l = L - 1; l >= 0; l--) {
    layer_plan *lp = &pl->lp[l];
    // dW = x' dz
    if (want_params) {
      if (n->own[l]) own_weights(n, pl, l, accumulate);
      else exec(n->ctx, accumulate ? lp->bwd_w_acc : lp->bwd_w, 3, lp->a_w);
    }
    if (l == 0 && !dx) break;
    // dx = dz W', into the caller's dx or the previous layer's dz
    float *dxl = l > 0 ? pl->dz[l - 1] : dx;
    if (n->own[l]) own_data(n, pl, l, dxl);
    else {
      if (l == 0) dnnl_memory_set_data_handle(lp->dsrc, dx);
      exec(n->ctx, lp->bwd_data, 3, lp->a_data);
      dnnl_stream_wait(s);
    }
    // through the previous layer's activation, with that layer's bias gradient
    if (l > 0)
      act_bias_backward(pl->dz[l - 1], want_params ? n->grads + n->boff[l - 1] : NULL, pl->dz[l - 1], pl->acts[l], B,
                        n->sizes[l], n->hidden, accumulate);
  }
  dnnl_stream_wait(s);
  af_nn_ctx_leave(n->ctx);
}

double af_mlp_flops(const af_mlp *n, int B, int pass) {
  double f = 0;
  for (int l = 0; l < n->L; l++) {
    if (pass == AF_FLOPS_DATA_HIDDEN && l == 0) continue;
    f += 2.0 * B * n->sizes[l] * n->sizes[l + 1];
  }
  return f;
}

// ---- optimization ----
int af_adam_init(af_adam *a, int n, float lr, char *err, size_t errsz) {
  memset(a, 0, sizeof *a);
  a->n = n;
  a->lr = lr;
  a->beta1 = 0.9f;
  a->beta2 = 0.999f;
  a->eps = 1e-8f;
  a->m = calloc((size_t)n, sizeof(float));
  a->v = calloc((size_t)n, sizeof(float));
  if (!a->m || !a->v) { snprintf(err, errsz, "out of memory"); af_adam_free(a); return -1; }
  return 0;
}

void af_adam_free(af_adam *a) {
  free(a->m);
  free(a->v);
  a->m = a->v = NULL;
}

AF_CLONES void af_adam_step(af_adam *a, float *p, const float *g) {
  a->t += 1;
  // bias corrections folded into the step size and epsilon, as in PyTorch
  double bc1 = 1 - pow(a->beta1, a->t), bc2 = 1 - pow(a->beta2, a->t);
  float step = (float)(a->lr / bc1), rbc2 = (float)(1.0 / sqrt(bc2));
  const float b1 = a->beta1, b2 = a->beta2, eps = a->eps;
  float *m = a->m, *v = a->v;
  for (int i = 0; i < a->n; i++) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    p[i] -= step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
  }
}

float af_nn_clip_grad_norm(float *g, int n, float max_norm) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)g[i] * g[i];
  float norm = (float)sqrt(s);
  if (max_norm > 0 && norm > max_norm) {
    float k = max_norm / (norm + 1e-6f);
    for (int i = 0; i < n; i++) g[i] *= k;
  }
  return norm;
}

AF_CLONES void af_nn_polyak(float *t, const float *s, int n, float tau) {
  for (int i = 0; i < n; i++) t[i] += tau * (s[i] - t[i]);
}

// expm1(z) for z <= 0 without branches: a Taylor polynomial where |z| < 0.5, else exp(z) - 1
// with exp(z) = 2^n exp(r), n the nearest whole number to z / log 2 (rounded by adding and
// subtracting 1.5 * 2^23) and |r| <= log(2) / 2 under a degree-7 polynomial
static inline float expm1_neg(float z) {
  float zc = z > -87.0f ? z : -87.0f;  // NaN too: the conversion to int below stays defined
  float n = (zc * 1.44269504f + 12582912.0f) - 12582912.0f;
  float r = (zc - n * 0.693145752f) - n * 1.42860677e-6f;
  float er = 1 + r * (1 + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
  int32_t bits = ((int32_t)n + 127) << 23;
  float two_n;
  memcpy(&two_n, &bits, sizeof two_n);
  float small = z * (1 + z * (0.5f + z * (1.0f / 6 + z * (1.0f / 24 + z * (1.0f / 120 + z * (1.0f / 720 + z * (1.0f / 5040 + z * (1.0f / 40320 + z * (1.0f / 362880)))))))));
  return z <= -0.5f ? er * two_n - 1 : small;  // NaN: the polynomial's NaN
}

// log1p(y) for y in [-0.5, 0]: 2 atanh(s), s = y / (2 + y) in [-1/3, 0], by its odd series to s^17
static inline float log1p_half(float y) {
  float s = y / (2 + y), w = s * s;
  return s * (2 + w * (2.0f / 3 + w * (2.0f / 5 + w * (2.0f / 7 + w * (2.0f / 9 + w * (2.0f / 11 + w * (2.0f / 13 + w * (2.0f / 15 + w * (2.0f / 17)))))))));
}

AF_CLONES void af_nn_tanh_log1m(float *x, float *lg, int n) {
  for (int i = 0; i < n; i++) {
    // tanh |x| = -e / (2 + e), e = expm1(-2|x|): no cancellation near 0
    float xi = x[i], z = -2 * fabsf(xi), e = expm1_neg(z);
    x[i] = copysignf(-e / (2 + e), xi);
    lg[i] = z - 2 * log1p_half(0.5f * e);
  }
}

// a float is not finite when its exponent bits are all ones; an integer OR over the bit
// patterns vectorizes, so the test costs a small fraction of the step it guards
AF_CLONES int af_nn_finite(const float *x, size_t n) {
  uint32_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t b;
    memcpy(&b, x + i, sizeof b);
    bad |= (b & 0x7f800000u) == 0x7f800000u;
  }
  return !bad;
}

// ---- checkpoint files ----
#define NAME_LEN 48

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001B3ull; }
  return h;
}
#define FNV_START 0xCBF29CE484222325ull

void af_nn_pack_u64(float out[4], uint64_t x) {
  for (int i = 0; i < 4; i++) out[i] = (float)((x >> (16 * i)) & 0xFFFF);
}

// a piece that is no whole number in [0, 65535] (only in a crafted file) counts as 0: the
// conversion of such a float is undefined
static int piece_ok(float v) { return v >= 0 && v <= 65535 && v == (float)(uint32_t)v; }

uint64_t af_nn_unpack_u64(const float in[4]) {
  uint64_t x = 0;
  for (int i = 0; i < 4; i++) x |= (piece_ok(in[i]) ? (uint64_t)in[i] : 0) << (16 * i);
  return x;
}

int af_nn_packed_ok(const float *in, int nwords) {
  for (int i = 0; i < 4 * nwords; i++)
    if (!piece_ok(in[i])) return 0;
  return 1;
}

int af_nn_save(const char *path, const af_tensor *t, int nt, char *err, size_t errsz) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) { snprintf(err, errsz, "cannot write %s", tmp); return -1; }
  uint64_t h = FNV_START;
  uint32_t head[2] = {AF_NN_FILE_VERSION, (uint32_t)nt};
  int ok = fwrite("AFNN", 1, 4, f) == 4 && fwrite(head, sizeof head, 1, f) == 1;
  h = fnv1a(fnv1a(h, "AFNN", 4), head, sizeof head);
  for (int i = 0; i < nt && ok; i++) {
    char name[NAME_LEN] = {0};
    snprintf(name, sizeof name, "%s", t[i].name);
    uint64_t n = t[i].n;
    ok = fwrite(name, NAME_LEN, 1, f) == 1 && fwrite(&n, sizeof n, 1, f) == 1;
    h = fnv1a(fnv1a(h, name, NAME_LEN), &n, sizeof n);
  }
  for (int i = 0; i < nt && ok; i++) {
    ok = t[i].n == 0 || fwrite(t[i].data, sizeof(float), t[i].n, f) == t[i].n;
    h = fnv1a(h, t[i].data, sizeof(float) * t[i].n);
  }
  ok = ok && fwrite(&h, sizeof h, 1, f) == 1;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    remove(tmp);
    snprintf(err, errsz, "cannot write %s", path);
    return -1;
  }
  return 0;
}

// ---- loading: the file's structure is checked against its size, then its checksum, then
// what the caller expects; only then is anything copied into the caller's tensors ----
#define HEAD_BYTES (4 + 2 * sizeof(uint32_t))
#define ENTRY_BYTES (NAME_LEN + sizeof(uint64_t))

// an open checkpoint: its size, the running checksum of what was read, and the first nt
// entries of its table (names and sizes as the file gives them)
typedef struct {
  FILE *f;
  const char *path;
  uint64_t size, hash;
  uint32_t count;
  char (*names)[NAME_LEN];
  uint64_t *n;
  char *err;
  size_t errsz;
} reader;

// n bytes into dst (NULL: only hashed), added to the checksum; -1 at a short read
static int read_hashed(reader *r, void *dst, size_t n) {
  unsigned char chunk[16384];
  while (n > 0) {
    size_t k = n < sizeof chunk ? n : sizeof chunk;
    unsigned char *p = dst ? dst : chunk;
    if (fread(p, 1, k, r->f) != k) { snprintf(r->err, r->errsz, "%s: cannot read", r->path); return -1; }
    r->hash = fnv1a(r->hash, p, k);
    if (dst) dst = p + k;
    n -= k;
  }
  return 0;
}

// a regular file, opened, with its size
static int open_checkpoint(reader *r) {
  struct stat st;
  if (!(r->f = fopen(r->path, "rb"))) { snprintf(r->err, r->errsz, "cannot open %s", r->path); return -1; }
  if (fstat(fileno(r->f), &st) != 0 || !S_ISREG(st.st_mode)) { snprintf(r->err, r->errsz, "%s: not a regular file", r->path); return -1; }
  r->size = (uint64_t)st.st_size;
  return 0;
}

// magic, version and a tensor count whose table fits in the file
static int read_header(reader *r) {
  unsigned char head[HEAD_BYTES];
  if (r->size < HEAD_BYTES + sizeof(uint64_t) || read_hashed(r, head, sizeof head) || memcmp(head, "AFNN", 4) != 0) {
    snprintf(r->err, r->errsz, "%s: not an armfarm checkpoint", r->path);
    return -1;
  }
  uint32_t version;
  memcpy(&version, head + 4, 4);
  memcpy(&r->count, head + 8, 4);
  if (version != AF_NN_FILE_VERSION) { snprintf(r->err, r->errsz, "%s: format version %u, this program reads version %d", r->path, version, AF_NN_FILE_VERSION); return -1; }
  if (r->count > (r->size - HEAD_BYTES - sizeof(uint64_t)) / ENTRY_BYTES) {
    snprintf(r->err, r->errsz, "%s: a table of %u tensors does not fit in its %llu bytes", r->path, r->count, (unsigned long long)r->size);
    return -1;
  }
  return 0;
}

// the table: each size within what the file has left, all of them together exactly the data
// the file holds (no less: truncated; no more: trailing bytes); the first nt entries kept
static int read_table(reader *r, int nt) {
  const uint64_t data = r->size - HEAD_BYTES - sizeof(uint64_t) - (uint64_t)r->count * ENTRY_BYTES;
  uint64_t used = 0;
  for (uint32_t i = 0; i < r->count; i++) {
    char name[NAME_LEN];
    uint64_t n;
    if (read_hashed(r, name, NAME_LEN) || read_hashed(r, &n, sizeof n)) return -1;
    name[NAME_LEN - 1] = 0;
    if (n > (data - used) / sizeof(float)) {
      snprintf(r->err, r->errsz, "%s: truncated: tensor %u ('%s') has %llu values, more than the file holds", r->path, i, name, (unsigned long long)n);
      return -1;
    }
    used += n * sizeof(float);
    if ((int64_t)i < nt) { memcpy(r->names[i], name, NAME_LEN); r->n[i] = n; }
  }
  if (used != data) {
    snprintf(r->err, r->errsz, "%s: %llu bytes beyond its tensors (not a checkpoint of this format)", r->path, (unsigned long long)(data - used));
    return -1;
  }
  return 0;
}

// the data hashed, then compared with the stored checksum
static int check_sum(reader *r) {
  uint64_t stored, data = r->size - HEAD_BYTES - sizeof(uint64_t) - (uint64_t)r->count * ENTRY_BYTES;
  if (read_hashed(r, NULL, (size_t)data)) return -1;
  uint64_t h = r->hash;
  if (read_hashed(r, &stored, sizeof stored)) return -1;
  if (h != stored) { snprintf(r->err, r->errsz, "%s: checksum mismatch (corrupted file)", r->path); return -1; }
  return 0;
}

// the count, names and sizes the caller expects
static int check_expected(reader *r, const af_tensor *t, int nt, int exact) {
  if (exact ? (int64_t)r->count != nt : (int64_t)r->count < nt) {
    snprintf(r->err, r->errsz, "%s: holds %u tensors, expected %d", r->path, r->count, nt);
    return -1;
  }
  for (int i = 0; i < nt; i++) {
    if (strcmp(r->names[i], t[i].name) != 0) { snprintf(r->err, r->errsz, "%s: tensor %d is '%s', expected '%s'", r->path, i, r->names[i], t[i].name); return -1; }
    if (r->n[i] != t[i].n) {
      snprintf(r->err, r->errsz, "%s: '%s' has %llu values, expected %zu (different network shape?)", r->path, r->names[i], (unsigned long long)r->n[i], t[i].n);
      return -1;
    }
  }
  return 0;
}

// everything checked: the first nt tensors read into place (writers rename files into place,
// so the open file is the one that was checked)
static int read_data(reader *r, af_tensor *t, int nt) {
  long off = (long)(HEAD_BYTES + (uint64_t)r->count * ENTRY_BYTES);
  if (fseek(r->f, off, SEEK_SET) != 0) { snprintf(r->err, r->errsz, "%s: cannot read", r->path); return -1; }
  for (int i = 0; i < nt; i++)
    if (t[i].n > 0 && fread(t[i].data, sizeof(float), t[i].n, r->f) != t[i].n) { snprintf(r->err, r->errsz, "%s: cannot read", r->path); return -1; }
  return 0;
}

static int load(const char *path, af_tensor *t, int nt, int exact, char *err, size_t errsz) {
  if (nt < 0) { snprintf(err, errsz, "%s: %d tensors asked for", path, nt); return -1; }
  reader r = {.path = path, .hash = FNV_START, .err = err, .errsz = errsz};
  r.names = calloc((size_t)nt + 1, NAME_LEN);
  r.n = calloc((size_t)nt + 1, sizeof *r.n);
  int rc = -1;
  if (!r.names || !r.n) snprintf(err, errsz, "out of memory");
  else rc = open_checkpoint(&r) || read_header(&r) || read_table(&r, nt) || check_sum(&r) || check_expected(&r, t, nt, exact) ||
            read_data(&r, t, nt) ? -1 : 0;
  if (r.f) fclose(r.f);
  free(r.names);
  free(r.n);
  return rc;
}

int af_nn_load(const char *path, af_tensor *t, int nt, char *err, size_t errsz) { return load(path, t, nt, 1, err, errsz); }
int af_nn_load_first(const char *path, af_tensor *t, int nt, char *err, size_t errsz) { return load(path, t, nt, 0, err, errsz); }
