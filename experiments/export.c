// Policy export: ONNX through a small protocol-buffer writer (onnx.proto's field numbers,
// nothing else of protobuf is needed), and C99 source through a memory stream.
#include "experiments/export.h"

#include <math.h>    // isfinite
#include <stdint.h>
#include <stdio.h>   // open_memstream, fprintf
#include <stdlib.h>  // malloc, realloc, free
#include <string.h>  // memcpy, strlen

#include "base/base.h"  // af_write_file_atomic, AF_OK

// ---- checks every export makes ----
static int all_finite(const float *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return 0;
  return 1;
}

int af_export_check(const af_policy *p, char *err, size_t errsz) {
  int width = p->obs_dim;
  if (p->nlayers < 1 || p->nlayers > AF_POLICY_MAX_LAYERS) { snprintf(err, errsz, "the policy has %d layers", p->nlayers); return -1; }
  if (p->mean && (!all_finite(p->mean, (size_t)p->obs_dim) || !all_finite(p->std, (size_t)p->obs_dim) || !(p->clip > 0))) {
    snprintf(err, errsz, "the policy's observation normalization is not finite");
    return -1;
  }
  for (int l = 0; l < p->nlayers; l++) {
    const af_policy_layer *y = &p->layer[l];
    if (y->in != width || y->out < 1) { snprintf(err, errsz, "layer %d takes %d inputs, the one before gives %d", l, y->in, width); return -1; }
    if (!all_finite(y->w, (size_t)y->in * y->out) || !all_finite(y->b, (size_t)y->out)) {
      snprintf(err, errsz, "layer %d has non-finite weights: the policy is broken, nothing to export", l);
      return -1;
    }
    width = y->out;
  }
  if (width < p->act_dim) { snprintf(err, errsz, "the policy gives %d outputs for %d actions", width, p->act_dim); return -1; }
  return 0;
}

// ---- a protocol-buffer message being written ----
typedef struct {
  uint8_t *d;
  size_t n, cap;
  int oom;
} pb;

static void pb_raw(pb *b, const void *data, size_t n) {
  if (b->oom) return;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n) cap *= 2;
    uint8_t *d = realloc(b->d, cap);
    if (!d) { b->oom = 1; return; }
    b->d = d;
    b->cap = cap;
  }
  memcpy(b->d + b->n, data, n);
  b->n += n;
}

static void pb_varint(pb *b, uint64_t v) {
  uint8_t buf[10];
  int k = 0;
  do {
    buf[k] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) buf[k] |= 0x80;
    k++;
  } while (v);
  pb_raw(b, buf, (size_t)k);
}

// field numbers and wire types: 0 varint, 2 length-delimited
static void pb_int(pb *b, int field, int64_t v) {
  pb_varint(b, (uint64_t)field << 3);
  pb_varint(b, (uint64_t)v);  // negative values as ten bytes, as protobuf does
}
static void pb_bytes(pb *b, int field, const void *data, size_t n) {
  pb_varint(b, (uint64_t)field << 3 | 2);
  pb_varint(b, n);
  pb_raw(b, data, n);
}
static void pb_str(pb *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }
// a finished sub-message as a field, then freed
static void pb_msg(pb *b, int field, pb *sub) {
  if (sub->oom) b->oom = 1;
  pb_bytes(b, field, sub->d, sub->n);
  free(sub->d);
  *sub = (pb){0};
}

// ---- ONNX messages (onnx.proto) ----
enum { ONNX_FLOAT = 1, ONNX_INT64 = 7 };

// TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little-endian)
static void tensor_f32(pb *graph, const char *name, const int64_t *dims, int ndims, const float *x) {
  pb t = {0};
  size_t n = 1;
  for (int i = 0; i < ndims; i++) { pb_int(&t, 1, dims[i]); n *= (size_t)dims[i]; }
  pb_int(&t, 2, ONNX_FLOAT);
  pb_str(&t, 8, name);
  uint8_t *raw = malloc(4 * n + 1);
  if (!raw) t.oom = 1;
  for (size_t i = 0; raw && i < n; i++) {
    uint32_t u;
    memcpy(&u, &x[i], 4);
    for (int k = 0; k < 4; k++) raw[4 * i + (size_t)k] = (uint8_t)(u >> (8 * k));
  }
  if (raw) pb_bytes(&t, 9, raw, 4 * n);
  free(raw);
  pb_msg(graph, 5, &t);  // GraphProto.initializer
}

static void tensor_i64(pb *graph, const char *name, int64_t v) {
  pb t = {0};
  pb_int(&t, 1, 1);
  pb_int(&t, 2, ONNX_INT64);
  pb_str(&t, 8, name);
  uint8_t raw[8];
  for (int k = 0; k < 8; k++) raw[k] = (uint8_t)((uint64_t)v >> (8 * k));
  pb_bytes(&t, 9, raw, 8);
  pb_msg(graph, 5, &t);
}

// NodeProto: input 1, output 2, name 3, op_type 4; named after its output, which is unique
static void node(pb *graph, const char *op, const char *const *in, int nin, const char *out) {
  char name[48];
  snprintf(name, sizeof name, "%s_%s", op, out);
  pb n = {0};
  for (int i = 0; i < nin; i++) pb_str(&n, 1, in[i]);
  pb_str(&n, 2, out);
  pb_str(&n, 3, name);
  pb_str(&n, 4, op);
  pb_msg(graph, 1, &n);
}

// ValueInfoProto {name 1, type 2: TypeProto {tensor_type 1: {elem_type 1, shape 2: {dim 1:
// {dim_value 1 | dim_param 2}}}}}: a float tensor [batch, width]
static void value_info(pb *graph, int field, const char *name, int width) {
  pb d0 = {0}, d1 = {0}, shape = {0}, tt = {0}, type = {0}, vi = {0};
  pb_str(&d0, 2, "batch");
  pb_int(&d1, 1, width);
  pb_msg(&shape, 1, &d0);
  pb_msg(&shape, 1, &d1);
  pb_int(&tt, 1, ONNX_FLOAT);
  pb_msg(&tt, 2, &shape);
  pb_msg(&type, 1, &tt);
  pb_str(&vi, 1, name);
  pb_msg(&vi, 2, &type);
  pb_msg(graph, field, &vi);
}

// the graph: normalization, the layers, the action head; `cur` names the tensor so far
static void policy_graph(pb *g, const af_policy *p) {
  static const char *const acts[3] = {NULL, "Relu", "Tanh"};
  char cur[32] = "obs", next[32];
  pb_str(g, 2, "armfarm_policy");
  if (p->mean) {
    int64_t d = p->obs_dim;
    float lo = -p->clip, hi = p->clip;
    tensor_f32(g, "norm_mean", &d, 1, p->mean);
    tensor_f32(g, "norm_std", &d, 1, p->std);
    tensor_f32(g, "clip_lo", NULL, 0, &lo);
    tensor_f32(g, "clip_hi", NULL, 0, &hi);
    node(g, "Sub", (const char *const[]){"obs", "norm_mean"}, 2, "centred");
    node(g, "Div", (const char *const[]){"centred", "norm_std"}, 2, "scaled");
    node(g, "Clip", (const char *const[]){"scaled", "clip_lo", "clip_hi"}, 3, "x");
    strcpy(cur, "x");
  }
  for (int l = 0; l < p->nlayers; l++) {
    const af_policy_layer *y = &p->layer[l];
    char w[16], b[16], mm[16];
    int64_t wd[2] = {y->in, y->out}, bd = y->out;
    snprintf(w, sizeof w, "W%d", l);
    snprintf(b, sizeof b, "b%d", l);
    snprintf(mm, sizeof mm, "mm%d", l);
    tensor_f32(g, w, wd, 2, y->w);
    tensor_f32(g, b, &bd, 1, y->b);
    node(g, "MatMul", (const char *const[]){cur, w}, 2, mm);
    snprintf(next, sizeof next, "z%d", l);
    node(g, "Add", (const char *const[]){mm, b}, 2, next);
    strcpy(cur, next);
    if (y->act >= 1 && y->act <= 2) {
      snprintf(next, sizeof next, "h%d", l);
      node(g, acts[y->act], (const char *const[]){cur}, 1, next);
      strcpy(cur, next);
    }
  }
  // the first act_dim outputs, squashed or not, as "action"
  if (p->layer[p->nlayers - 1].out != p->act_dim) {
    tensor_i64(g, "head_start", 0);
    tensor_i64(g, "head_end", p->act_dim);
    tensor_i64(g, "head_axis", 1);
    node(g, "Slice", (const char *const[]){cur, "head_start", "head_end", "head_axis"}, 4, "head");
    strcpy(cur, "head");
  }
  if (p->squash == 2) {
    // clipped to [-1, 1]
    float lo = -1, hi = 1;
    tensor_f32(g, "action_lo", NULL, 0, &lo);
    tensor_f32(g, "action_hi", NULL, 0, &hi);
    node(g, "Clip", (const char *const[]){cur, "action_lo", "action_hi"}, 3, "action");
  } else {
    node(g, p->squash ? "Tanh" : "Identity", (const char *const[]){cur}, 1, "action");
  }
  value_info(g, 11, "obs", p->obs_dim);
  value_info(g, 12, "action", p->act_dim);
}

int af_export_onnx(const af_policy *p, const char *path, char *err, size_t errsz) {
  if (af_export_check(p, err, errsz)) return -1;
  // ModelProto: ir_version 1, producer_name 2, producer_version 3, graph 7, opset_import 8
  pb model = {0}, graph = {0}, opset = {0};
  pb_int(&model, 1, 7);
  pb_str(&model, 2, "armfarm");
  pb_str(&model, 3, "1");
  policy_graph(&graph, p);
  pb_msg(&model, 7, &graph);
  pb_str(&opset, 1, "");
  pb_int(&opset, 2, 13);
  pb_msg(&model, 8, &opset);
  int rc = -1;
  if (model.oom) snprintf(err, errsz, "out of memory");
  else rc = af_write_file_atomic(path, model.d, model.n, err, errsz) == AF_OK ? 0 : -1;
  free(model.d);
  return rc;
}

// ---- C99 ----
// float arrays as exact literals (9 significant digits)
static void c_array(FILE *f, const char *name, const float *x, size_t n) {
  fprintf(f, "static const float %s[%zu] = {", name, n);
  for (size_t i = 0; i < n; i++) fprintf(f, "%s%s%.8ef", i ? "," : "", i % 6 ? " " : "\n  ", (double)x[i]);
  fprintf(f, "\n};\n");
}

// the header: the sizes and the one function
static void c_header(FILE *f, const af_policy *p, const char *guard) {
  fprintf(f, "/* A policy exported by armfarm: actions in [-1, 1] for observations, as the harness gives\n"
             "   them. Dependency-free C99 (link with -lm). */\n"
             "#ifndef %s\n#define %s\n\n#define POLICY_OBS_DIM %d\n#define POLICY_ACT_DIM %d\n\n"
             "/* action[POLICY_ACT_DIM] for obs[POLICY_OBS_DIM]; 0, or -1 (action untouched) when an\n"
             "   observation is not finite */\nint policy_act(const float *obs, float *action);\n\n#endif\n",
          guard, guard, p->obs_dim, p->act_dim);
}

// the source: the weights, one dense-layer routine, and policy_act
static void c_source(FILE *f, const af_policy *p, const char *header) {
  int width = p->obs_dim;
  for (int l = 0; l < p->nlayers; l++) width = p->layer[l].out > width ? p->layer[l].out : width;
  fprintf(f, "/* A policy exported by armfarm (see %s). */\n#include \"%s\"\n\n#include <math.h>\n\n", header, header);
  if (p->mean) {
    c_array(f, "norm_mean", p->mean, (size_t)p->obs_dim);
    c_array(f, "norm_std", p->std, (size_t)p->obs_dim);
  }
  for (int l = 0; l < p->nlayers; l++) {
    char w[16], b[16];
    snprintf(w, sizeof w, "w%d", l);
    snprintf(b, sizeof b, "b%d", l);
    c_array(f, w, p->layer[l].w, (size_t)p->layer[l].in * p->layer[l].out);
    c_array(f, b, p->layer[l].b, (size_t)p->layer[l].out);
  }
  fprintf(f, "\n/* y = act(x W + b), W (in, out) row-major, summed in double; act 0 none, 1 relu, 2 tanh */\n"
             "static void dense(float *y, const float *x, int in, int out, const float *w, const float *b, int act) {\n"
             "  int i, j;\n  for (j = 0; j < out; j++) {\n    double s = b[j];\n"
             "    for (i = 0; i < in; i++) s += (double)x[i] * w[i * out + j];\n"
             "    y[j] = (float)(act == 1 ? (s > 0 ? s : 0) : act == 2 ? tanh(s) : s);\n  }\n}\n\n");
  fprintf(f, "int policy_act(const float *obs, float *action) {\n  float a[%d], z[%d];\n  int i;\n", width, width);
  fprintf(f, "  for (i = 0; i < %d; i++) {\n    if (!isfinite(obs[i])) return -1;\n", p->obs_dim);
  if (p->mean)
    fprintf(f, "    a[i] = (obs[i] - norm_mean[i]) / norm_std[i];\n    a[i] = a[i] < %.8ef ? %.8ef : a[i] > %.8ef ? %.8ef : a[i];\n",
            -(double)p->clip, -(double)p->clip, (double)p->clip, (double)p->clip);
  else
    fprintf(f, "    a[i] = obs[i];\n");
  fprintf(f, "  }\n");
  for (int l = 0; l < p->nlayers; l++) {
    const af_policy_layer *y = &p->layer[l];
    const char *src = l % 2 ? "z" : "a", *dst = l % 2 ? "a" : "z";
    fprintf(f, "  dense(%s, %s, %d, %d, w%d, b%d, %d);\n", dst, src, y->in, y->out, l, l, y->act);
  }
  // the last layer wrote z after an odd count of layers, a after an even one
  const char *last = p->nlayers % 2 ? "z" : "a";
  if (p->squash == 2)
    fprintf(f, "  for (i = 0; i < %d; i++) action[i] = %s[i] < -1 ? -1.0f : %s[i] > 1 ? 1.0f : %s[i];\n  return 0;\n}\n", p->act_dim, last, last, last);
  else if (p->squash) fprintf(f, "  for (i = 0; i < %d; i++) action[i] = (float)tanh(%s[i]);\n  return 0;\n}\n", p->act_dim, last);
  else fprintf(f, "  for (i = 0; i < %d; i++) action[i] = %s[i];\n  return 0;\n}\n", p->act_dim, last);
}

// text from a writer into a file, atomically; 0, or -1 with a message
static int write_text(const char *path, void (*fill)(FILE *, const af_policy *, const char *), const af_policy *p, const char *arg,
                      char *err, size_t errsz) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) { snprintf(err, errsz, "out of memory"); return -1; }
  fill(f, p, arg);
  int bad = ferror(f);
  if (fclose(f) != 0 || bad) { free(buf); snprintf(err, errsz, "out of memory"); return -1; }
  int rc = af_write_file_atomic(path, buf, n, err, errsz) == AF_OK ? 0 : -1;
  free(buf);
  return rc;
}

int af_export_c(const af_policy *p, const char *base, char *err, size_t errsz) {
  if (af_export_check(p, err, errsz)) return -1;
  // the header's name without its folder, and a guard made of it
  char *h = af_strfmt("%s.h", base), *c = af_strfmt("%s.c", base);
  const char *hname = h ? strrchr(h, '/') : NULL;
  hname = hname ? hname + 1 : h;
  char guard[80];
  size_t k = 0;
  for (const char *s = hname; s && *s && k + 2 < sizeof guard; s++)
    guard[k++] = (char)((*s >= 'a' && *s <= 'z') ? *s - 32 : ((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')) ? *s : '_');
  guard[k] = 0;
  if (k == 0 || (guard[0] >= '0' && guard[0] <= '9')) snprintf(guard, sizeof guard, "ARMFARM_POLICY_H");
  int rc = !h || !c ? (snprintf(err, errsz, "out of memory"), -1)
                    : write_text(h, c_header, p, guard, err, errsz) || write_text(c, c_source, p, hname, err, errsz) ? -1 : 0;
  free(h);
  free(c);
  return rc;
}
