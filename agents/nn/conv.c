// Convolutional encoders on oneDNN: convolution, max-pooling, inner-product and layer
// normalization primitives, planned per batch size with the memory formats oneDNN prefers
// (format "any") and the reorders those formats need, all at make time.
//
// Each layer reads its input `in` as the previous layer left it (the caller's plain NCHW x
// for the first); when the forward primitive wants another format, a planned reorder copies it
// into `src`. Its output y and the gradient g = dL/dy share one format, so the activation's
// backward (an eltwise primitive, in place on g) reads them as the forward wrote them. The
// backward-data and backward-weights primitives choose their own formats too (they need not
// be the forward's: the first layer's nchw input has a jit forward but no jit backward in
// nchw); g and the input are reordered for them when they differ, and their data gradient into
// the previous layer's g. Weights stay plain in the parameter array; a reorder copies them into
// the primitive's format at each forward (and backward-data, if that wants another), and
// weight gradients come back through a reorder into plain scratch, then into grads (copied or
// added). Every primitive runs with a user scratchpad: one buffer per network, sized at make
// to the largest any primitive needs, so oneDNN allocates no scratchpad per call.
#include "agents/nn/conv.h"

#include <math.h>    // sqrtf
#include <stdio.h>   // snprintf
#include <stdlib.h>  // aligned_alloc, calloc, realloc, free
#include <string.h>  // memcpy, memset

#include "agents/nn/nn_private.h"

#define LN_EPS 1e-5f
#define IMPL_LEN 64

// a primitive with its arguments bound at make time (p NULL: nothing to run)
typedef struct {
  dnnl_primitive_t p;
  int n;
  dnnl_exec_arg_t a[10];
} op;

typedef struct {
  af_conv_layer s;
  int ic, ih, iw, oc, oh, ow;
  int flat_in, flat_out;  // 2-D (B, features) rather than (B, C, H, W): after a dense layer
  int woff, nw, boff, nb;
} layer;

// one layer at one batch size
typedef struct {
  dnnl_memory_t in, src;  // the input as left by the previous layer; as the primitive reads it
  op r_src;               // in -> src
  dnnl_memory_t wp;       // plain weights (or scale) inside the parameter array
  op r_w;                 // wp -> the forward primitive's weights
  op fwd, act_fwd;        // the layer; layernorm's activation (others fuse it as a post-op)
  dnnl_memory_t y, g;     // output and dL/d(output), one format
  op act_bwd;             // g = g * act'(y), in place
  op r_wd;                // wp -> the backward-data primitive's weights
  op r_gd, r_gw;          // g -> the backward-data and backward-weights primitives' format
  int g_shared;           // backward weights reads r_gd's copy
  op r_bsrc;              // in -> the backward-weights primitive's src format
  op bwd_w, r_dw;         // weight and bias gradients; diff weights -> plain scratch
  float *dw, *db;         // plain gradients of this layer's W and b (or scale and shift)
  op bwd_d, r_dsrc;       // dL/d(src); its reorder into the previous layer's g (or dx)
  char impl[3][IMPL_LEN]; // forward, backward data, backward weights
} lplan;

typedef struct {
  int B;
  lplan lp[AF_CONV_MAX_LAYERS];
  dnnl_memory_t x, dx, dout;  // the caller's buffers, bound at each call
  float *out, *glast;         // plain output; the last g when it is plain (else r_dout)
  op r_out, r_dout;
} plan;

// everything a network owns from oneDNN and the heap, released together
typedef struct {
  void **p;
  int n, cap;
} plist;

struct af_conv {
  af_nn_ctx *ctx;
  int L, C, H, W;
  layer ly[AF_CONV_MAX_LAYERS];
  int nparams;
  float *params, *grads;
  int nplan;
  plan plans[AF_NN_MAX_PLANS];
  plist mems, prims, bufs, scratch;  // scratch: the memory objects of the shared scratchpad
  size_t scratch_size;
};

// ---- resources ----
static int track(plist *l, void *p) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 64;
    void **q = realloc(l->p, sizeof *q * (size_t)cap);
    if (!q) return -1;
    l->p = q;
    l->cap = cap;
  }
  l->p[l->n++] = p;
  return 0;
}

// a zeroed buffer of at least `bytes`, 64-byte aligned, owned by the network
static void *buf(af_conv *n, size_t bytes, char *err, size_t errsz) {
  size_t r = (bytes + 63) / 64 * 64;
  void *p = aligned_alloc(64, r ? r : 64);
  if (!p || track(&n->bufs, p)) { free(p); snprintf(err, errsz, "out of memory"); return NULL; }
  memset(p, 0, r ? r : 64);
  return p;
}

// a memory object of md over data, or over a zeroed buffer of its own when data is NULL
static dnnl_memory_t mem(af_conv *n, const dnnl_memory_desc_t *md, void *data, char *err, size_t errsz) {
  if (!data && !(data = buf(n, dnnl_memory_desc_get_size(md), err, errsz))) return NULL;
  dnnl_memory_t m;
  if (af_dnnl_check(dnnl_memory_create(&m, md, af_nn_ctx_engine(n->ctx), data), "memory", err, errsz)) return NULL;
  if (track(&n->mems, m)) { dnnl_memory_destroy(m); snprintf(err, errsz, "out of memory"); return NULL; }
  return m;
}

static const dnnl_memory_desc_t *md_of(dnnl_memory_t m) {
  const dnnl_memory_desc_t *md = NULL;
  dnnl_memory_get_memory_desc(m, &md);
  return md;
}

static void *data_of(dnnl_memory_t m) {
  void *p = NULL;
  dnnl_memory_get_data_handle(m, &p);
  return p;
}

// dims (d0, d1[, d2, d3]) as format `tag`, or plain row-major when tag is dnnl_format_tag_undef
static int md_init(dnnl_memory_desc_t *md, int nd, const dnnl_dim_t *dims, dnnl_format_tag_t tag, char *err, size_t errsz) {
  static const dnnl_format_tag_t plain[5] = {dnnl_format_tag_undef, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd};
  dnnl_dims_t d;
  memcpy(d, dims, sizeof(dnnl_dim_t) * (size_t)nd);
  return af_dnnl_check(dnnl_memory_desc_init_by_tag(md, nd, d, dnnl_f32, tag == dnnl_format_tag_undef ? plain[nd] : tag),
                       "memory desc", err, errsz);
}

// 1 when md is plain row-major (any shape): the layout the caller's arrays have
static int is_plain(const dnnl_memory_desc_t *md) {
  dnnl_memory_desc_t p;
  char e[8];
  if (md->ndims < 1 || md->ndims > 4) return 0;
  return md_init(&p, md->ndims, md->dims, dnnl_format_tag_undef, e, sizeof e) == 0 && dnnl_memory_desc_equal(&p, md);
}

// ---- primitives ----
static void arg(op *o, int a, dnnl_memory_t m) { o->a[o->n++] = (dnnl_exec_arg_t){a, m}; }

// a primitive descriptor with a user scratchpad and an optional eltwise post-op
static int pd_make(af_conv *n, dnnl_primitive_desc_t *pd, const void *desc, af_act post, const_dnnl_primitive_desc_t hint,
                   const char *what, char *err, size_t errsz) {
  dnnl_primitive_attr_t attr;
  if (af_dnnl_check(dnnl_primitive_attr_create(&attr), "attr", err, errsz)) return -1;
  int rc = af_dnnl_check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode", err, errsz);
  if (rc == 0 && post != AF_ACT_NONE) {
    dnnl_post_ops_t po;
    rc = af_dnnl_check(dnnl_post_ops_create(&po), "post ops", err, errsz);
    if (rc == 0) {
      rc = af_dnnl_check(dnnl_post_ops_append_eltwise(po, 1.0f, post == AF_ACT_RELU ? dnnl_eltwise_relu : dnnl_eltwise_tanh, 0, 0),
                         "post op", err, errsz) ||
           af_dnnl_check(dnnl_primitive_attr_set_post_ops(attr, po), "post ops", err, errsz);
      dnnl_post_ops_destroy(po);
    }
  }
  if (rc == 0) rc = af_dnnl_check(dnnl_primitive_desc_create(pd, desc, attr, af_nn_ctx_engine(n->ctx), hint), what, err, errsz);
  dnnl_primitive_attr_destroy(attr);
  return rc;
}

// the primitive of pd, with its scratchpad argument (bound to the shared buffer after
// planning) and its implementation's name copied into impl (when not NULL)
static int prim(af_conv *n, op *o, const_dnnl_primitive_desc_t pd, char *impl, char *err, size_t errsz) {
  if (af_dnnl_check(dnnl_primitive_create(&o->p, pd), "primitive", err, errsz)) { o->p = NULL; return -1; }
  if (track(&n->prims, o->p)) { dnnl_primitive_destroy(o->p); o->p = NULL; snprintf(err, errsz, "out of memory"); return -1; }
  if (impl) {
    const char *s = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s);
    snprintf(impl, IMPL_LEN, "%s", s ? s : "?");
  }
  const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  size_t sz = sp ? dnnl_memory_desc_get_size(sp) : 0;
  if (sz > 0) {
    dnnl_memory_t m;
    if (af_dnnl_check(dnnl_memory_create(&m, sp, af_nn_ctx_engine(n->ctx), DNNL_MEMORY_NONE), "scratchpad memory", err, errsz)) return -1;
    if (track(&n->mems, m)) { dnnl_memory_destroy(m); snprintf(err, errsz, "out of memory"); return -1; }
    if (track(&n->scratch, m)) { snprintf(err, errsz, "out of memory"); return -1; }
    arg(o, DNNL_ARG_SCRATCHPAD, m);
    if (sz > n->scratch_size) n->scratch_size = sz;
  }
  return 0;
}

// a primitive from an op descriptor in one call; pd is kept (for queries and as a hint) when
// keep is not NULL
static int prim_desc(af_conv *n, op *o, const void *desc, af_act post, const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *keep,
                     char *impl, const char *what, char *err, size_t errsz) {
  dnnl_primitive_desc_t pd;
  if (pd_make(n, &pd, desc, post, hint, what, err, errsz)) return -1;
  int rc = prim(n, o, pd, impl, err, errsz);
  if (keep && rc == 0) *keep = pd;
  else dnnl_primitive_desc_destroy(pd);
  return rc;
}

// a reorder from src's format into dst's
static int reorder(af_conv *n, op *o, dnnl_memory_t src, dnnl_memory_t dst, char *err, size_t errsz) {
  dnnl_engine_t e = af_nn_ctx_engine(n->ctx);
  dnnl_primitive_attr_t attr;
  dnnl_primitive_desc_t pd;
  if (af_dnnl_check(dnnl_primitive_attr_create(&attr), "attr", err, errsz)) return -1;
  int rc = af_dnnl_check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode", err, errsz) ||
           af_dnnl_check(dnnl_reorder_primitive_desc_create(&pd, md_of(src), e, md_of(dst), e, attr), "reorder", err, errsz);
  dnnl_primitive_attr_destroy(attr);
  if (rc) return -1;
  rc = prim(n, o, pd, NULL, err, errsz);
  dnnl_primitive_desc_destroy(pd);
  if (rc) return -1;
  arg(o, DNNL_ARG_FROM, src);
  arg(o, DNNL_ARG_TO, dst);
  return 0;
}

// `have` as the primitive wants it (md): have itself, or a buffer of its own that `r` fills
static dnnl_memory_t as_wanted(af_conv *n, op *r, dnnl_memory_t have, const dnnl_memory_desc_t *md, char *err, size_t errsz) {
  if (dnnl_memory_desc_equal(md_of(have), md)) return have;
  dnnl_memory_t m = mem(n, md, NULL, err, errsz);
  if (!m || reorder(n, r, have, m, err, errsz)) return NULL;
  return m;
}

// the eltwise forward descriptor of act on md, the hint its backward needs
static dnnl_alg_kind_t act_alg(af_act a) { return a == AF_ACT_RELU ? dnnl_eltwise_relu_use_dst_for_bwd : dnnl_eltwise_tanh_use_dst_for_bwd; }

// the activation's backward in place on g, from y (and its forward, in place on y, when fwd
// is not NULL: layernorm's activation is not fused)
static int act_ops(af_conv *n, lplan *lp, const layer *ly, dnnl_memory_t y, dnnl_memory_t g, op *fwd, char *err, size_t errsz) {
  if (ly->s.act == AF_ACT_NONE) return 0;
  dnnl_eltwise_desc_t fd, bd;
  dnnl_primitive_desc_t fpd;
  if (af_dnnl_check(dnnl_eltwise_forward_desc_init(&fd, dnnl_forward_training, act_alg(ly->s.act), md_of(y), 0, 0), "eltwise desc", err, errsz) ||
      pd_make(n, &fpd, &fd, AF_ACT_NONE, NULL, "eltwise primitive desc", err, errsz))
    return -1;
  int rc = 0;
  if (fwd) {
    rc = prim(n, fwd, fpd, NULL, err, errsz);
    if (rc == 0) { arg(fwd, DNNL_ARG_SRC, y); arg(fwd, DNNL_ARG_DST, y); }
  }
  rc = rc || af_dnnl_check(dnnl_eltwise_backward_desc_init(&bd, act_alg(ly->s.act), md_of(g), md_of(y), 0, 0), "eltwise backward desc", err, errsz) ||
       prim_desc(n, &lp->act_bwd, &bd, AF_ACT_NONE, fpd, NULL, NULL, "eltwise backward primitive desc", err, errsz);
  dnnl_primitive_desc_destroy(fpd);
  if (rc) return -1;
  arg(&lp->act_bwd, DNNL_ARG_DST, y);
  arg(&lp->act_bwd, DNNL_ARG_DIFF_DST, g);
  arg(&lp->act_bwd, DNNL_ARG_DIFF_SRC, g);
  return 0;
}

// ---- planning one layer ----
// shapes of layer l's input, weights and output at batch B
static void dims_of(const layer *ly, int B, dnnl_dim_t *src, int *nsrc, dnnl_dim_t *w, int *nw, dnnl_dim_t *dst, int *ndst) {
  src[0] = B;
  src[1] = ly->ic;
  src[2] = ly->ih;
  src[3] = ly->iw;
  *nsrc = ly->flat_in ? 2 : 4;
  w[0] = ly->oc;
  w[1] = ly->ic;
  int kern = ly->s.kind == AF_LAYER_CONV || ly->s.kind == AF_LAYER_DECONV;
  w[2] = kern ? ly->s.k : ly->ih;
  w[3] = kern ? ly->s.k : ly->iw;
  *nw = ly->flat_in ? 2 : 4;
  dst[0] = B;
  dst[1] = ly->oc;
  dst[2] = ly->oh;
  dst[3] = ly->ow;
  *ndst = ly->flat_out ? 2 : 4;
}

// parameter gradients: the primitive's diff weights (md) as plain scratch lp->dw, through a
// reorder when md is not plain; bias gradients straight into plain scratch lp->db
static int grad_mems(af_conv *n, lplan *lp, const layer *ly, const dnnl_memory_desc_t *dwmd, dnnl_memory_t *dw, dnnl_memory_t *db,
                     char *err, size_t errsz) {
  dnnl_dim_t nb = ly->nb;
  dnnl_memory_desc_t bmd;
  if (!(lp->dw = buf(n, sizeof(float) * (size_t)ly->nw, err, errsz)) || !(lp->db = buf(n, sizeof(float) * (size_t)ly->nb, err, errsz)) ||
      md_init(&bmd, 1, &nb, dnnl_format_tag_undef, err, errsz) || !(*db = mem(n, &bmd, lp->db, err, errsz)))
    return -1;
  dnnl_memory_t plain = mem(n, md_of(lp->wp), lp->dw, err, errsz);
  if (!plain) return -1;
  if (dnnl_memory_desc_equal(dwmd, md_of(lp->wp))) { *dw = plain; return 0; }
  if (!(*dw = mem(n, dwmd, NULL, err, errsz))) return -1;
  return reorder(n, &lp->r_dw, *dw, plain, err, errsz);
}

// the convolution algorithm: oneDNN's own choice. On AVX-512 it runs 3x3 stride-1 layers of
// 16k channels at batches from 16 with its Winograd F(4x4, 3x3) kernels (forward, backward
// data and weights), elsewhere direct convolution. Measured on the pixel-SAC encoder (batch
// 128, 9x64x64, 32 filters; Intel Xeon, one thread, beside the same 77.9 GFLOP/s matmul):
// forward + backward 192 ms against 247 ms for direct, with the same results within float
// rounding (tests/test_conv.c checks the Winograd shape against the direct double reference)
#define CONV_ALG dnnl_convolution_auto

// the instruction set an implementation's name ends with ("jit:avx512_core": "avx512_core")
static const char *isa_of(const_dnnl_primitive_desc_t pd) {
  const char *s = NULL;
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s);
  const char *c = s ? strrchr(s, ':') : NULL;
  return c ? c + 1 : s ? s : "";
}

// the weight gradient's primitive descriptor, in the formats oneDNN prefers, unless those put
// a convolution on a lesser instruction set than its forward: then channels-last (nhwc) when
// that matches the forward's. Measured at batch 128 for 9 input channels (3 stacked RGB
// frames): oneDNN's choice is jit:avx2 on nChw8c, 16 ms and two reorders of 1-2 ms; in nhwc,
// jit:avx512_core takes 7 ms (and the reorders 1-1.5 ms)
static int bwd_weights_pd(af_conv *n, dnnl_primitive_desc_t *pd, af_layer_kind kind, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *w,
                          const dnnl_memory_desc_t *b, const dnnl_memory_desc_t *dst, const dnnl_dim_t *st, const dnnl_dim_t *pad,
                          const_dnnl_primitive_desc_t fpd, char *err, size_t errsz) {
  dnnl_convolution_desc_t cd;
  dnnl_deconvolution_desc_t dcd;
  dnnl_inner_product_desc_t id;
  int conv = kind == AF_LAYER_CONV;
  if (kind == AF_LAYER_CONV ? af_dnnl_check(dnnl_convolution_backward_weights_desc_init(&cd, CONV_ALG, src, w, b, dst, st, pad, pad),
                                            "convolution backward weights desc", err, errsz)
      : kind == AF_LAYER_DECONV
          ? af_dnnl_check(dnnl_deconvolution_backward_weights_desc_init(&dcd, dnnl_deconvolution_direct, src, w, b, dst, st, pad, pad),
                          "deconvolution backward weights desc", err, errsz)
          : af_dnnl_check(dnnl_inner_product_backward_weights_desc_init(&id, src, w, b, dst), "inner product backward weights desc", err, errsz))
    return -1;
  const void *desc = conv ? (const void *)&cd : kind == AF_LAYER_DECONV ? (const void *)&dcd : (const void *)&id;
  if (pd_make(n, pd, desc, AF_ACT_NONE, fpd, "backward weights", err, errsz)) return -1;
  if (!conv || !strcmp(isa_of(*pd), isa_of(fpd))) return 0;
  dnnl_memory_desc_t s2, d2;
  dnnl_primitive_desc_t alt;
  char e[64];
  if (md_init(&s2, 4, src->dims, dnnl_nhwc, e, sizeof e) || md_init(&d2, 4, dst->dims, dnnl_nhwc, e, sizeof e) ||
      af_dnnl_check(dnnl_convolution_backward_weights_desc_init(&cd, CONV_ALG, &s2, w, b, &d2, st, pad, pad), "", e, sizeof e) ||
      pd_make(n, &alt, &cd, AF_ACT_NONE, fpd, "", e, sizeof e))
    return 0;
  if (strcmp(isa_of(alt), isa_of(fpd)) != 0) { dnnl_primitive_desc_destroy(alt); return 0; }
  dnnl_primitive_desc_destroy(*pd);
  *pd = alt;
  return 0;
}

// a convolution, a transposed convolution or a dense layer: forward, backward data, backward
// weights
static int plan_linear(af_conv *n, lplan *lp, const layer *ly, int B, dnnl_memory_t gin, char *err, size_t errsz) {
  const af_layer_kind kind = ly->s.kind;
  int conv = kind == AF_LAYER_CONV, deconv = kind == AF_LAYER_DECONV;
  dnnl_dim_t ds[4], dw[4], dd[4], nb = ly->oc;
  int ns, nw, nd;
  dims_of(ly, B, ds, &ns, dw, &nw, dd, &nd);
  dnnl_memory_desc_t sany, wany, dany, wplain, bmd;
  if (md_init(&sany, ns, ds, dnnl_format_tag_any, err, errsz) || md_init(&wany, nw, dw, dnnl_format_tag_any, err, errsz) ||
      md_init(&dany, nd, dd, dnnl_format_tag_any, err, errsz) ||
      md_init(&wplain, nw, dw, deconv ? dnnl_iohw : dnnl_format_tag_undef, err, errsz) ||
      md_init(&bmd, 1, &nb, dnnl_format_tag_undef, err, errsz))
    return -1;
  dnnl_dims_t st = {ly->s.stride, ly->s.stride}, pad = {ly->s.pad, ly->s.pad};
  float *P = n->params;
  dnnl_memory_t b;
  if (!(lp->wp = mem(n, &wplain, P + ly->woff, err, errsz)) || !(b = mem(n, &bmd, P + ly->boff, err, errsz))) return -1;

  // forward, in the formats oneDNN prefers
  dnnl_convolution_desc_t cd;
  dnnl_deconvolution_desc_t dcd;
  dnnl_inner_product_desc_t id;
  const void *desc = conv ? (const void *)&cd : deconv ? (const void *)&dcd : (const void *)&id;
  const char *what = conv ? "convolution" : deconv ? "deconvolution" : "inner product";
  if (conv ? af_dnnl_check(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, CONV_ALG, &sany, &wany, &bmd,
                                                              &dany, st, pad, pad), "convolution desc", err, errsz)
      : deconv ? af_dnnl_check(dnnl_deconvolution_forward_desc_init(&dcd, dnnl_forward_training, dnnl_deconvolution_direct, &sany, &wany,
                                                                    &bmd, &dany, st, pad, pad), "deconvolution desc", err, errsz)
               : af_dnnl_check(dnnl_inner_product_forward_desc_init(&id, dnnl_forward_training, &sany, &wany, &bmd, &dany),
                               "inner product desc", err, errsz))
    return -1;
  dnnl_primitive_desc_t fpd = NULL;
  if (prim_desc(n, &lp->fwd, desc, deconv ? AF_ACT_NONE : ly->s.act, NULL, &fpd, lp->impl[0], what, err, errsz)) return -1;
  int rc = -1;
  dnnl_memory_t wf, wd;
  const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(fpd, dnnl_query_src_md, 0);
  const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0);
  const dnnl_memory_desc_t *dmd = dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0);
  if (!(lp->src = as_wanted(n, &lp->r_src, lp->in, smd, err, errsz)) || !(wf = as_wanted(n, &lp->r_w, lp->wp, wmd, err, errsz)) ||
      !(lp->y = mem(n, dmd, NULL, err, errsz)) || !(lp->g = mem(n, dmd, NULL, err, errsz)))
    goto done;
  arg(&lp->fwd, DNNL_ARG_SRC, lp->src);
  arg(&lp->fwd, DNNL_ARG_WEIGHTS, wf);
  arg(&lp->fwd, DNNL_ARG_BIAS, b);
  arg(&lp->fwd, DNNL_ARG_DST, lp->y);
  if (act_ops(n, lp, ly, lp->y, lp->g, deconv ? &lp->act_fwd : NULL, err, errsz)) goto done;

  // backward data and weights, in the formats oneDNN prefers for them, which need not be the
  // forward's (the first layer's nchw input has a jit forward but no jit backward in nchw):
  // g and the input are reordered for them when they differ, and dsrc into gin
  if (conv ? af_dnnl_check(dnnl_convolution_backward_data_desc_init(&cd, CONV_ALG, &sany, &wany, &dany, st, pad, pad),
                           "convolution backward data desc", err, errsz)
      : deconv ? af_dnnl_check(dnnl_deconvolution_backward_data_desc_init(&dcd, dnnl_deconvolution_direct, &sany, &wany, &dany, st, pad, pad),
                               "deconvolution backward data desc", err, errsz)
               : af_dnnl_check(dnnl_inner_product_backward_data_desc_init(&id, &sany, &wany, &dany), "inner product backward data desc", err, errsz))
    goto done;
  dnnl_primitive_desc_t dpd = NULL;
  if (prim_desc(n, &lp->bwd_d, desc, AF_ACT_NONE, fpd, &dpd, lp->impl[1], "backward data", err, errsz)) goto done;
  const dnnl_memory_desc_t *wdmd = dnnl_primitive_desc_query_md(dpd, dnnl_query_weights_md, 0);
  wd = dnnl_memory_desc_equal(wdmd, wmd) ? wf : as_wanted(n, &lp->r_wd, lp->wp, wdmd, err, errsz);
  dnnl_memory_t gd = as_wanted(n, &lp->r_gd, lp->g, dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_dst_md, 0), err, errsz);
  const dnnl_memory_desc_t *dsmd = dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_src_md, 0);
  dnnl_memory_t dsrc = dnnl_memory_desc_equal(dsmd, md_of(gin)) ? gin : mem(n, dsmd, NULL, err, errsz);
  dnnl_primitive_desc_destroy(dpd);
  if (!wd || !gd || !dsrc || (dsrc != gin && reorder(n, &lp->r_dsrc, dsrc, gin, err, errsz))) goto done;
  arg(&lp->bwd_d, DNNL_ARG_DIFF_DST, gd);
  arg(&lp->bwd_d, DNNL_ARG_WEIGHTS, wd);
  arg(&lp->bwd_d, DNNL_ARG_DIFF_SRC, dsrc);

  dnnl_primitive_desc_t wpd = NULL;
  if (bwd_weights_pd(n, &wpd, kind, &sany, &wany, &bmd, &dany, st, pad, fpd, err, errsz)) goto done;
  if (prim(n, &lp->bwd_w, wpd, lp->impl[2], err, errsz)) { dnnl_primitive_desc_destroy(wpd); goto done; }
  dnnl_memory_t dwm, dbm, bsrc, gw;
  const dnnl_memory_desc_t *bsmd = dnnl_primitive_desc_query_md(wpd, dnnl_query_src_md, 0);
  const dnnl_memory_desc_t *gwmd = dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_dst_md, 0);
  bsrc = dnnl_memory_desc_equal(bsmd, md_of(lp->src)) ? lp->src : as_wanted(n, &lp->r_bsrc, lp->in, bsmd, err, errsz);
  lp->g_shared = gd != lp->g && dnnl_memory_desc_equal(gwmd, md_of(gd));
  gw = lp->g_shared ? gd : as_wanted(n, &lp->r_gw, lp->g, gwmd, err, errsz);
  int grc = !bsrc || !gw || grad_mems(n, lp, ly, dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0), &dwm, &dbm, err, errsz);
  dnnl_primitive_desc_destroy(wpd);
  if (grc) goto done;
  arg(&lp->bwd_w, DNNL_ARG_SRC, bsrc);
  arg(&lp->bwd_w, DNNL_ARG_DIFF_DST, gw);
  arg(&lp->bwd_w, DNNL_ARG_DIFF_WEIGHTS, dwm);
  arg(&lp->bwd_w, DNNL_ARG_DIFF_BIAS, dbm);
  rc = 0;
done:
  dnnl_primitive_desc_destroy(fpd);
  return rc;
}

// max-pooling: the input's format kept, the argmax in a workspace
static int plan_pool(af_conv *n, lplan *lp, const layer *ly, int B, dnnl_memory_t gin, char *err, size_t errsz) {
  dnnl_dim_t ds[4], dw[4], dd[4];
  int ns, nw, nd;
  dims_of(ly, B, ds, &ns, dw, &nw, dd, &nd);
  dnnl_memory_desc_t dany;
  if (md_init(&dany, 4, dd, dnnl_format_tag_any, err, errsz)) return -1;
  dnnl_dims_t st = {ly->s.stride, ly->s.stride}, k = {ly->s.k, ly->s.k}, pad = {ly->s.pad, ly->s.pad};
  dnnl_pooling_desc_t pd;
  lp->src = lp->in;
  if (af_dnnl_check(dnnl_pooling_forward_desc_init(&pd, dnnl_forward_training, dnnl_pooling_max, md_of(lp->in), &dany, st, k, pad, pad),
                    "pooling desc", err, errsz))
    return -1;
  dnnl_primitive_desc_t fpd = NULL;
  if (prim_desc(n, &lp->fwd, &pd, AF_ACT_NONE, NULL, &fpd, lp->impl[0], "pooling", err, errsz)) return -1;
  int rc = -1;
  const dnnl_memory_desc_t *dmd = dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0);
  const dnnl_memory_desc_t *wsmd = dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0);
  dnnl_memory_t ws = NULL;
  if (!(lp->y = mem(n, dmd, NULL, err, errsz)) || !(lp->g = mem(n, dmd, NULL, err, errsz)) || (wsmd && wsmd->ndims > 0 && !(ws = mem(n, wsmd, NULL, err, errsz))))
    goto done;
  arg(&lp->fwd, DNNL_ARG_SRC, lp->in);
  arg(&lp->fwd, DNNL_ARG_DST, lp->y);
  if (ws) arg(&lp->fwd, DNNL_ARG_WORKSPACE, ws);
  if (af_dnnl_check(dnnl_pooling_backward_desc_init(&pd, dnnl_pooling_max, md_of(lp->in), dmd, st, k, pad, pad), "pooling backward desc",
                    err, errsz) ||
      prim_desc(n, &lp->bwd_d, &pd, AF_ACT_NONE, fpd, NULL, lp->impl[1], "pooling backward", err, errsz))
    goto done;
  arg(&lp->bwd_d, DNNL_ARG_DIFF_DST, lp->g);
  if (ws) arg(&lp->bwd_d, DNNL_ARG_WORKSPACE, ws);
  arg(&lp->bwd_d, DNNL_ARG_DIFF_SRC, gin);
  rc = 0;
done:
  dnnl_primitive_desc_destroy(fpd);
  return rc;
}

// layer normalization over each sample's features: plain data seen as (B, C H W)
static int plan_norm(af_conv *n, lplan *lp, const layer *ly, int B, dnnl_memory_t gin, char *err, size_t errsz) {
  dnnl_dim_t ds[4], dw[4], dd[4], d2[2] = {B, (dnnl_dim_t)ly->ic * ly->ih * ly->iw}, nf = d2[1];
  int ns, nw, nd;
  dims_of(ly, B, ds, &ns, dw, &nw, dd, &nd);
  dnnl_memory_desc_t plain, flat, vec;
  if (md_init(&plain, ns, ds, dnnl_format_tag_undef, err, errsz) || md_init(&flat, 2, d2, dnnl_format_tag_undef, err, errsz) ||
      md_init(&vec, 1, &nf, dnnl_format_tag_undef, err, errsz))
    return -1;
  float *P = n->params;
  dnnl_memory_t src2, y2, g2, dsrc, dsrc2, shift;
  if (!(lp->src = as_wanted(n, &lp->r_src, lp->in, &plain, err, errsz)) || !(lp->y = mem(n, &plain, NULL, err, errsz)) ||
      !(lp->g = mem(n, &plain, NULL, err, errsz)) || !(src2 = mem(n, &flat, data_of(lp->src), err, errsz)) ||
      !(y2 = mem(n, &flat, data_of(lp->y), err, errsz)) || !(g2 = mem(n, &flat, data_of(lp->g), err, errsz)) ||
      !(lp->wp = mem(n, &vec, P + ly->woff, err, errsz)) || !(shift = mem(n, &vec, P + ly->boff, err, errsz)))
    return -1;
  const unsigned flags = dnnl_use_scale | dnnl_use_shift;
  dnnl_layer_normalization_desc_t d;
  dnnl_primitive_desc_t fpd = NULL;
  if (af_dnnl_check(dnnl_layer_normalization_forward_desc_init(&d, dnnl_forward_training, &flat, NULL, LN_EPS, flags), "layer norm desc", err, errsz) ||
      prim_desc(n, &lp->fwd, &d, AF_ACT_NONE, NULL, &fpd, lp->impl[0], "layer norm", err, errsz))
    return -1;
  int rc = -1;
  dnnl_memory_t mean, var;
  if (!(mean = mem(n, dnnl_primitive_desc_query_md(fpd, dnnl_query_exec_arg_md, DNNL_ARG_MEAN), NULL, err, errsz)) ||
      !(var = mem(n, dnnl_primitive_desc_query_md(fpd, dnnl_query_exec_arg_md, DNNL_ARG_VARIANCE), NULL, err, errsz)))
    goto done;
  arg(&lp->fwd, DNNL_ARG_SRC, src2);
  arg(&lp->fwd, DNNL_ARG_DST, y2);
  arg(&lp->fwd, DNNL_ARG_MEAN, mean);
  arg(&lp->fwd, DNNL_ARG_VARIANCE, var);
  arg(&lp->fwd, DNNL_ARG_SCALE, lp->wp);
  arg(&lp->fwd, DNNL_ARG_SHIFT, shift);
  if (act_ops(n, lp, ly, y2, g2, &lp->act_fwd, err, errsz)) goto done;
  // backward: data, scale and shift in one primitive; dsrc plain, then into gin's format
  dnnl_memory_t dscale, dshift;
  if (!(dsrc = lp->src == lp->in ? gin : mem(n, &plain, NULL, err, errsz)) || !(dsrc2 = mem(n, &flat, data_of(dsrc), err, errsz)) ||
      (dsrc != gin && reorder(n, &lp->r_dsrc, dsrc, gin, err, errsz)) || !(lp->dw = buf(n, sizeof(float) * (size_t)nf, err, errsz)) ||
      !(lp->db = buf(n, sizeof(float) * (size_t)nf, err, errsz)) || !(dscale = mem(n, &vec, lp->dw, err, errsz)) ||
      !(dshift = mem(n, &vec, lp->db, err, errsz)))
    goto done;
  if (af_dnnl_check(dnnl_layer_normalization_backward_desc_init(&d, dnnl_backward, &flat, &flat, NULL, LN_EPS, flags), "layer norm backward desc",
                    err, errsz) ||
      prim_desc(n, &lp->bwd_d, &d, AF_ACT_NONE, fpd, NULL, lp->impl[1], "layer norm backward", err, errsz))
    goto done;
  arg(&lp->bwd_d, DNNL_ARG_SRC, src2);
  arg(&lp->bwd_d, DNNL_ARG_MEAN, mean);
  arg(&lp->bwd_d, DNNL_ARG_VARIANCE, var);
  arg(&lp->bwd_d, DNNL_ARG_DIFF_DST, g2);
  arg(&lp->bwd_d, DNNL_ARG_SCALE, lp->wp);
  arg(&lp->bwd_d, DNNL_ARG_SHIFT, shift);
  arg(&lp->bwd_d, DNNL_ARG_DIFF_SRC, dsrc2);
  arg(&lp->bwd_d, DNNL_ARG_DIFF_SCALE, dscale);
  arg(&lp->bwd_d, DNNL_ARG_DIFF_SHIFT, dshift);
  rc = 0;
done:
  dnnl_primitive_desc_destroy(fpd);
  return rc;
}

// unflatten: the previous layer's plain (B, F) output and its gradient seen as (B, C, H, W);
// nothing runs (the next layer's data gradient lands in the previous layer's g)
static int plan_unflatten(af_conv *n, lplan *lp, const layer *ly, int B, dnnl_memory_t gin, char *err, size_t errsz) {
  if (!is_plain(md_of(lp->in)) || !is_plain(md_of(gin))) {
    snprintf(err, errsz, "conv network: the dense layer before an unflatten has a blocked output");
    return -1;
  }
  dnnl_dim_t d[4] = {B, ly->oc, ly->oh, ly->ow};
  dnnl_memory_desc_t md;
  if (md_init(&md, 4, d, dnnl_format_tag_undef, err, errsz) || !(lp->y = mem(n, &md, data_of(lp->in), err, errsz)) ||
      !(lp->g = mem(n, &md, data_of(gin), err, errsz)))
    return -1;
  lp->src = lp->in;
  snprintf(lp->impl[0], IMPL_LEN, "view");
  return 0;
}

// ---- planning a batch size ----
static int make_plan(af_conv *n, plan *pl, int B, char *err, size_t errsz) {
  pl->B = B;
  // the caller's buffers: x and dx plain (B, C, H, W), bound at each call
  dnnl_dim_t din[4] = {B, n->C, n->H, n->W};
  dnnl_memory_desc_t xmd;
  if (md_init(&xmd, 4, din, dnnl_format_tag_undef, err, errsz) || !(pl->x = mem(n, &xmd, n->params, err, errsz)) ||
      !(pl->dx = mem(n, &xmd, n->params, err, errsz)))
    return -1;
  for (int l = 0; l < n->L; l++) {
    lplan *lp = &pl->lp[l];
    const layer *ly = &n->ly[l];
    lp->in = l == 0 ? pl->x : pl->lp[l - 1].y;
    dnnl_memory_t gin = l == 0 ? pl->dx : pl->lp[l - 1].g;
    int rc = ly->s.kind == AF_LAYER_MAXPOOL ? plan_pool(n, lp, ly, B, gin, err, errsz)
             : ly->s.kind == AF_LAYER_LAYERNORM ? plan_norm(n, lp, ly, B, gin, err, errsz)
             : ly->s.kind == AF_LAYER_UNFLATTEN ? plan_unflatten(n, lp, ly, B, gin, err, errsz)
                                                : plan_linear(n, lp, ly, B, gin, err, errsz);
    if (rc) return -1;
  }
  // the output, plain: the last y itself, or a reorder of it (and of dout into the last g)
  lplan *last = &pl->lp[n->L - 1];
  if (is_plain(md_of(last->y))) {
    pl->out = data_of(last->y);
    pl->glast = data_of(last->g);
    return 0;
  }
  dnnl_dim_t dd[4];
  int nd = 0;
  const layer *ly = &n->ly[n->L - 1];
  dd[nd++] = B;
  dd[nd++] = ly->oc;
  if (!ly->flat_out) { dd[nd++] = ly->oh; dd[nd++] = ly->ow; }
  dnnl_memory_desc_t omd;
  dnnl_memory_t outm;
  if (md_init(&omd, nd, dd, dnnl_format_tag_undef, err, errsz) || !(outm = mem(n, &omd, NULL, err, errsz)) ||
      !(pl->dout = mem(n, &omd, n->params, err, errsz)) || reorder(n, &pl->r_out, last->y, outm, err, errsz) ||
      reorder(n, &pl->r_dout, pl->dout, last->g, err, errsz))
    return -1;
  pl->out = data_of(outm);
  return 0;
}

// ---- shapes and make ----
static int out_size(int in, int k, int s, int p) { return in + 2 * p < k ? 0 : (in + 2 * p - k) / s + 1; }
static long long deconv_size(int in, int k, int s, int p) { return (long long)(in - 1) * s - 2 * p + k; }

static int check_layers(af_conv *n, const af_conv_layer *layers, char *err, size_t errsz) {
  int c = n->C, h = n->H, w = n->W, flat = 0, off = 0;
  for (int l = 0; l < n->L; l++) {
    const af_conv_layer *s = &layers[l];
    layer *ly = &n->ly[l];
    ly->s = *s;
    ly->ic = c, ly->ih = h, ly->iw = w, ly->flat_in = flat;
    int spatial = s->kind == AF_LAYER_CONV || s->kind == AF_LAYER_MAXPOOL || s->kind == AF_LAYER_DECONV;
    int has_out = s->kind == AF_LAYER_CONV || s->kind == AF_LAYER_DENSE || s->kind == AF_LAYER_DECONV || s->kind == AF_LAYER_UNFLATTEN;
    if (s->kind < AF_LAYER_CONV || s->kind > AF_LAYER_UNFLATTEN) { snprintf(err, errsz, "conv layer %d: unknown kind %d", l, (int)s->kind); return -1; }
    if (spatial && flat) { snprintf(err, errsz, "conv layer %d: a convolution or pooling after a dense layer (unflatten first)", l); return -1; }
    if (s->kind == AF_LAYER_UNFLATTEN && !flat) { snprintf(err, errsz, "conv layer %d: an unflatten must follow a dense layer", l); return -1; }
    if (s->kind == AF_LAYER_LAYERNORM && l == 0) { snprintf(err, errsz, "conv layer 0: a layernorm cannot be the first layer"); return -1; }
    if (spatial && (s->k < 1 || s->k > 64 || s->stride < 1 || s->stride > 64 || s->pad < 0 || s->pad >= s->k)) {
      snprintf(err, errsz, "conv layer %d: kernel %d, stride %d, padding %d (kernel and stride in [1, 64], padding in [0, kernel))", l, s->k,
               s->stride, s->pad);
      return -1;
    }
    if (has_out && (s->out < 1 || s->out > 65536)) {
      snprintf(err, errsz, "conv layer %d: %d outputs (in [1, 65536])", l, s->out);
      return -1;
    }
    if (s->act < AF_ACT_NONE || s->act > AF_ACT_TANH || ((s->kind == AF_LAYER_MAXPOOL || s->kind == AF_LAYER_UNFLATTEN) && s->act != AF_ACT_NONE)) {
      snprintf(err, errsz, "conv layer %d: activation %d", l, (int)s->act);
      return -1;
    }
    long long fan = (long long)c * h * w, np = 0;
    if (s->kind == AF_LAYER_DECONV) {
      long long oh = deconv_size(h, s->k, s->stride, s->pad), ow = deconv_size(w, s->k, s->stride, s->pad);
      if (oh < 1 || ow < 1 || oh > 4096 || ow > 4096) {
        snprintf(err, errsz, "conv layer %d: deconvolution output %lldx%lld (from %dx%d, kernel %d, stride %d, padding %d)", l, oh, ow, h, w, s->k,
                 s->stride, s->pad);
        return -1;
      }
      np = (long long)c * s->out * s->k * s->k + s->out;
      c = s->out, h = (int)oh, w = (int)ow;
    } else if (s->kind == AF_LAYER_UNFLATTEN) {
      if (s->h < 1 || s->w < 1 || (long long)s->out * s->h * s->w != fan) {
        snprintf(err, errsz, "conv layer %d: unflatten %d features into %dx%dx%d", l, (int)fan, s->out, s->h, s->w);
        return -1;
      }
      c = s->out, h = s->h, w = s->w, flat = 0;
    } else if (spatial) {
      h = out_size(h, s->k, s->stride, s->pad);
      w = out_size(w, s->k, s->stride, s->pad);
      if (s->kind == AF_LAYER_CONV) { np = (long long)s->out * c * s->k * s->k + s->out; c = s->out; }
      if (h < 1 || w < 1) { snprintf(err, errsz, "conv layer %d: no output (%dx%d input, kernel %d, padding %d)", l, ly->ih, ly->iw, s->k, s->pad); return -1; }
    } else if (s->kind == AF_LAYER_DENSE) {
      np = fan * s->out + s->out;
      c = s->out, h = w = 1, flat = 1;
    } else np = 2 * fan;
    if (np > (1 << 28) || off + np > (1 << 28)) { snprintf(err, errsz, "conv layer %d: too many parameters", l); return -1; }
    ly->oc = c, ly->oh = h, ly->ow = w, ly->flat_out = flat;
    ly->woff = off;
    ly->nw = s->kind == AF_LAYER_CONV || s->kind == AF_LAYER_DECONV ? s->out * ly->ic * s->k * s->k
             : s->kind == AF_LAYER_DENSE                          ? (int)(fan * s->out)
             : s->kind == AF_LAYER_LAYERNORM                      ? (int)fan
                                                                  : 0;
    ly->boff = off + ly->nw;
    ly->nb = (int)np - ly->nw;
    off += (int)np;
  }
  n->nparams = off;
  return 0;
}

af_conv *af_conv_make(af_nn_ctx *ctx, const af_conv_layer *layers, int nlayers, int C, int H, int W, const int *batch_sizes, int nbatch,
                      char *err, size_t errsz) {
  if (nlayers < 1 || nlayers > AF_CONV_MAX_LAYERS || nbatch < 1 || nbatch > AF_NN_MAX_PLANS) {
    snprintf(err, errsz, "conv network: %d layers and %d batch sizes (at most %d and %d)", nlayers, nbatch, AF_CONV_MAX_LAYERS, AF_NN_MAX_PLANS);
    return NULL;
  }
  if (C < 1 || H < 1 || W < 1 || (long long)C * H * W > (1 << 24)) { snprintf(err, errsz, "conv network: input %dx%dx%d", C, H, W); return NULL; }
  af_conv *n = calloc(1, sizeof *n);
  if (!n) { snprintf(err, errsz, "out of memory"); return NULL; }
  n->ctx = ctx;
  n->L = nlayers, n->C = C, n->H = H, n->W = W;
  if (check_layers(n, layers, err, errsz)) { af_conv_free(n); return NULL; }
  if (!(n->params = buf(n, sizeof(float) * (size_t)n->nparams, err, errsz)) || !(n->grads = buf(n, sizeof(float) * (size_t)n->nparams, err, errsz))) {
    af_conv_free(n);
    return NULL;
  }
  // primitives are planned for the thread count they will run with
  int rc = 0;
  af_nn_ctx_enter(ctx);
  for (int i = 0; i < nbatch && rc == 0; i++) {
    if (batch_sizes[i] < 1) { snprintf(err, errsz, "conv network: batch size %d", batch_sizes[i]); rc = -1; break; }
    n->nplan++;
    rc = make_plan(n, &n->plans[i], batch_sizes[i], err, errsz);
  }
  af_nn_ctx_leave(ctx);
  // one scratchpad for every primitive: they run one after another on one stream
  void *sp = NULL;
  if (rc == 0 && n->scratch_size > 0 && !(sp = buf(n, n->scratch_size, err, errsz))) rc = -1;
  for (int i = 0; rc == 0 && i < n->scratch.n; i++) rc = af_dnnl_check(dnnl_memory_set_data_handle(n->scratch.p[i], sp), "scratchpad", err, errsz);
  if (rc) { af_conv_free(n); return NULL; }
  return n;
}

void af_conv_free(af_conv *n) {
  if (!n) return;
  for (int i = 0; i < n->prims.n; i++) dnnl_primitive_destroy(n->prims.p[i]);
  for (int i = 0; i < n->mems.n; i++) dnnl_memory_destroy(n->mems.p[i]);
  for (int i = 0; i < n->bufs.n; i++) free(n->bufs.p[i]);
  free(n->prims.p);
  free(n->mems.p);
  free(n->bufs.p);
  free(n->scratch.p);
  free(n);
}

int af_conv_nparams(const af_conv *n) { return n->nparams; }
float *af_conv_params(af_conv *n) { return n->params; }
float *af_conv_grads(af_conv *n) { return n->grads; }
int af_conv_in(const af_conv *n) { return n->C * n->H * n->W; }
int af_conv_out(const af_conv *n) {
  const layer *ly = &n->ly[n->L - 1];
  return ly->oc * ly->oh * ly->ow;
}

int af_conv_shape(const af_conv *n, int l, int *C, int *H, int *W) {
  if (l < -1 || l >= n->L) return -1;
  if (l == -1) { *C = n->C, *H = n->H, *W = n->W; return 0; }
  *C = n->ly[l].oc, *H = n->ly[l].oh, *W = n->ly[l].ow;
  return 0;
}

int af_conv_layer_params(const af_conv *n, int l, int *woff, int *nw, int *boff, int *nb) {
  if (l < 0 || l >= n->L) return -1;
  *woff = n->ly[l].woff, *nw = n->ly[l].nw, *boff = n->ly[l].boff, *nb = n->ly[l].nb;
  return 0;
}

void af_conv_init(af_conv *n, af_rng *rng) {
  for (int l = 0; l < n->L; l++) {
    const layer *ly = &n->ly[l];
    float *w = n->params + ly->woff, *b = n->params + ly->boff;
    if (ly->s.kind == AF_LAYER_LAYERNORM) {
      for (int i = 0; i < ly->nw; i++) w[i] = 1;
      for (int i = 0; i < ly->nb; i++) b[i] = 0;
      continue;
    }
    if (ly->s.kind == AF_LAYER_MAXPOOL || ly->s.kind == AF_LAYER_UNFLATTEN) continue;
    int fan = ly->nw / ly->oc;
    float bound = 1.0f / sqrtf((float)fan);
    for (int i = 0; i < ly->nw; i++) w[i] = (float)af_rng_range(rng, -bound, bound);
    for (int i = 0; i < ly->nb; i++) b[i] = (float)af_rng_range(rng, -bound, bound);
  }
}

// ---- forward and backward ----
static void run(af_conv *n, const op *o) {
  if (!o->p) return;
  dnnl_status_t st = dnnl_primitive_execute(o->p, af_nn_ctx_stream(n->ctx), o->n, o->a);
  if (st != dnnl_success) {
    char msg[128];
    af_dnnl_check(st, "conv primitive execution", msg, sizeof msg);
    af_nn_ctx_fail(n->ctx, msg);
  }
}

static plan *find_plan(af_conv *n, int B) {
  for (int i = 0; i < n->nplan; i++)
    if (n->plans[i].B == B) return &n->plans[i];
  char msg[96];
  snprintf(msg, sizeof msg, "conv network used with batch size %d, not planned at make", B);
  af_nn_ctx_fail(n->ctx, msg);
  return NULL;
}

const float *af_conv_forward(af_conv *n, int B, const float *x) {
  plan *pl = find_plan(n, B);
  if (!pl) return NULL;
  af_nn_ctx_enter(n->ctx);
  dnnl_memory_set_data_handle(pl->x, (void *)x);
  for (int l = 0; l < n->L; l++) {
    lplan *lp = &pl->lp[l];
    run(n, &lp->r_w);
    run(n, &lp->r_src);
    run(n, &lp->fwd);
    run(n, &lp->act_fwd);
  }
  run(n, &pl->r_out);
  dnnl_stream_wait(af_nn_ctx_stream(n->ctx));
  af_nn_ctx_leave(n->ctx);
  return pl->out;
}

// a layer's plain parameter gradients into grads, overwritten or added
static void put_grads(af_conv *n, const layer *ly, const lplan *lp, int accumulate) {
  float *gw = n->grads + ly->woff, *gb = n->grads + ly->boff;
  if (!accumulate) {
    memcpy(gw, lp->dw, sizeof(float) * (size_t)ly->nw);
    memcpy(gb, lp->db, sizeof(float) * (size_t)ly->nb);
    return;
  }
  for (int i = 0; i < ly->nw; i++) gw[i] += lp->dw[i];
  for (int i = 0; i < ly->nb; i++) gb[i] += lp->db[i];
}

void af_conv_backward(af_conv *n, int B, const float *dout, float *dx, int want_params, int accumulate) {
  plan *pl = find_plan(n, B);
  if (!pl) return;
  af_nn_ctx_enter(n->ctx);
  dnnl_stream_t s = af_nn_ctx_stream(n->ctx);
  if (pl->r_dout.p) {
    dnnl_memory_set_data_handle(pl->dout, (void *)dout);
    run(n, &pl->r_dout);
  } else memcpy(pl->glast, dout, sizeof(float) * (size_t)B * (size_t)af_conv_out(n));
  if (dx) dnnl_memory_set_data_handle(pl->dx, dx);
  for (int l = n->L - 1; l >= 0; l--) {
    const layer *ly = &n->ly[l];
    lplan *lp = &pl->lp[l];
    // the data gradient, except into the input when nobody asked for it (layernorm, never
    // first, computes its scale and shift gradients in the same primitive)
    int data = l > 0 || dx;
    run(n, &lp->act_bwd);
    if (data || (want_params && lp->g_shared)) run(n, &lp->r_gd);
    if (want_params && lp->bwd_w.p) {
      run(n, &lp->r_gw);
      run(n, &lp->r_bsrc);
      run(n, &lp->bwd_w);
      run(n, &lp->r_dw);
    }
    if (data) {
      run(n, &lp->r_wd);
      run(n, &lp->bwd_d);
      run(n, &lp->r_dsrc);
    }
    if (want_params && ly->nw + ly->nb > 0) {
      dnnl_stream_wait(s);
      put_grads(n, ly, lp, accumulate);
    }
  }
  dnnl_stream_wait(s);
  af_nn_ctx_leave(n->ctx);
}

double af_conv_flops(const af_conv *n, int B, int pass) {
  double f = 0;
  for (int l = 0; l < n->L; l++) {
    const layer *ly = &n->ly[l];
    if (pass == AF_FLOPS_DATA_HIDDEN && l == 0) continue;
    if (ly->s.kind == AF_LAYER_CONV) f += 2.0 * B * ly->oc * ly->oh * ly->ow * ly->ic * ly->s.k * ly->s.k;
    else if (ly->s.kind == AF_LAYER_DECONV) f += 2.0 * B * ly->ic * ly->ih * ly->iw * ly->oc * ly->s.k * ly->s.k;
    else if (ly->s.kind == AF_LAYER_DENSE) f += 2.0 * B * ly->oc * ly->ic * ly->ih * ly->iw;
  }
  return f;
}

const char *af_conv_impl(const af_conv *n, int l, int B, int pass) {
  if (l < 0 || l >= n->L || pass < 0 || pass > 2) return NULL;
  for (int i = 0; i < n->nplan; i++)
    if (n->plans[i].B == B) return n->plans[i].lp[l].impl[pass];
  return NULL;
}

int af_conv_reorders(const af_conv *n, int B) {
  for (int i = 0; i < n->nplan; i++) {
    const plan *pl = &n->plans[i];
    if (pl->B != B) continue;
    int k = (pl->r_out.p != NULL) + (pl->r_dout.p != NULL);
    for (int l = 0; l < n->L; l++) {
      const lplan *lp = &pl->lp[l];
      const op *r[] = {&lp->r_src, &lp->r_w, &lp->r_wd, &lp->r_gd, &lp->r_gw, &lp->r_bsrc, &lp->r_dw, &lp->r_dsrc};
      for (size_t j = 0; j < sizeof r / sizeof *r; j++) k += r[j]->p != NULL;
    }
    return k;
  }
  return -1;
}

int af_conv_encoder_layers(af_conv_layer *L, int filters, int conv_layers, int features) {
  int n = 0;
  for (int i = 0; i < conv_layers; i++)
    L[n++] = (af_conv_layer){AF_LAYER_CONV, .out = filters, .k = 3, .stride = i == 0 ? 2 : 1, .pad = 0, .act = AF_ACT_RELU};
  L[n++] = (af_conv_layer){AF_LAYER_DENSE, .out = features, .act = AF_ACT_NONE};
  L[n++] = (af_conv_layer){AF_LAYER_LAYERNORM, .act = AF_ACT_TANH};
  return n;
}

void af_conv_from_u8(float *x, const uint8_t *frames, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = frames[i] / 255.0f;
}
