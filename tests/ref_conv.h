// An independent double-precision reference for the convolutional encoders of agents/nn:
// direct loops over plain NCHW arrays, with the parameter layout of agents/nn/conv.h (conv
// W (out, C, k, k) then b; deconv W (C, out, k, k) then b; dense W (out, C H W) then b;
// layernorm scale then shift; unflatten: nothing). A transposed convolution is written as
// the scatter that defines it: input pixel (y, x) adds W[c][o] to the k x k outputs from
// (y stride - pad, x stride - pad).
#ifndef AF_TEST_REF_CONV_H
#define AF_TEST_REF_CONV_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agents/nn/conv.h"

static inline double ref_act(double v, af_act a) { return a == AF_ACT_RELU ? (v > 0 ? v : 0) : a == AF_ACT_TANH ? tanh(v) : v; }

static inline int ref_out_size(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }
static inline int ref_deconv_size(int in, int k, int s, int p) { return (in - 1) * s - 2 * p + k; }

// y (B, C', H', W') = net(x (B, C, H, W)); returns the number of outputs per sample. The
// caller's y holds at least B times the largest activation of any layer.
static inline int ref_conv_net(double *y, const double *p, const double *x, int B, const af_conv_layer *ls, int nl, int C, int H, int W) {
  size_t cap = (size_t)B * C * H * W;
  for (int l = 0, c = C, h = H, w = W; l < nl; l++) {
    const af_conv_layer *s = &ls[l];
    int oc = s->kind == AF_LAYER_MAXPOOL || s->kind == AF_LAYER_LAYERNORM ? c : s->out;
    int oh = s->kind == AF_LAYER_DENSE ? 1 : s->kind == AF_LAYER_LAYERNORM ? h : s->kind == AF_LAYER_UNFLATTEN ? s->h
             : s->kind == AF_LAYER_DECONV ? ref_deconv_size(h, s->k, s->stride, s->pad) : ref_out_size(h, s->k, s->stride, s->pad);
    int ow = s->kind == AF_LAYER_DENSE ? 1 : s->kind == AF_LAYER_LAYERNORM ? w : s->kind == AF_LAYER_UNFLATTEN ? s->w
             : s->kind == AF_LAYER_DECONV ? ref_deconv_size(w, s->k, s->stride, s->pad) : ref_out_size(w, s->k, s->stride, s->pad);
    if ((size_t)B * oc * oh * ow > cap) cap = (size_t)B * oc * oh * ow;
    c = oc, h = oh, w = ow;
  }
  double *a = malloc(sizeof(double) * cap), *z = malloc(sizeof(double) * cap);
  memcpy(a, x, sizeof(double) * B * C * H * W);
  int c = C, h = H, w = W;
  const double *pp = p;
  for (int l = 0; l < nl; l++) {
    const af_conv_layer *s = &ls[l];
    int n = c * h * w;
    if (s->kind == AF_LAYER_CONV || s->kind == AF_LAYER_MAXPOOL) {
      int k = s->k, st = s->stride, pd = s->pad;
      int oc = s->kind == AF_LAYER_CONV ? s->out : c, oh = ref_out_size(h, k, st, pd), ow = ref_out_size(w, k, st, pd);
      const double *Wt = pp, *bb = pp + (size_t)oc * c * k * k;
      for (int b = 0; b < B; b++)
        for (int o = 0; o < oc; o++)
          for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
              double v = s->kind == AF_LAYER_CONV ? bb[o] : -INFINITY;
              for (int ki = 0; ki < k; ki++)
                for (int kj = 0; kj < k; kj++) {
                  int yi = i * st - pd + ki, xj = j * st - pd + kj;
                  if (yi < 0 || yi >= h || xj < 0 || xj >= w) continue;
                  if (s->kind == AF_LAYER_MAXPOOL) {
                    double u = a[((size_t)(b * c + o) * h + yi) * w + xj];
                    if (u > v) v = u;
                  } else
                    for (int ci = 0; ci < c; ci++)
                      v += Wt[((size_t)(o * c + ci) * k + ki) * k + kj] * a[((size_t)(b * c + ci) * h + yi) * w + xj];
                }
              z[((size_t)(b * oc + o) * oh + i) * ow + j] = ref_act(v, s->act);
            }
      if (s->kind == AF_LAYER_CONV) pp += (size_t)oc * c * k * k + oc;
      c = oc, h = oh, w = ow;
    } else if (s->kind == AF_LAYER_DECONV) {
      int k = s->k, st = s->stride, pd = s->pad, oc = s->out;
      int oh = ref_deconv_size(h, k, st, pd), ow = ref_deconv_size(w, k, st, pd);
      const double *Wt = pp, *bb = pp + (size_t)c * oc * k * k;
      for (int b = 0; b < B; b++)
        for (int o = 0; o < oc; o++)
          for (int i = 0; i < oh * ow; i++) z[(size_t)(b * oc + o) * oh * ow + i] = bb[o];
      for (int b = 0; b < B; b++)
        for (int ci = 0; ci < c; ci++)
          for (int yi = 0; yi < h; yi++)
            for (int xj = 0; xj < w; xj++) {
              double v = a[((size_t)(b * c + ci) * h + yi) * w + xj];
              for (int o = 0; o < oc; o++)
                for (int ki = 0; ki < k; ki++)
                  for (int kj = 0; kj < k; kj++) {
                    int i = yi * st - pd + ki, j = xj * st - pd + kj;
                    if (i < 0 || i >= oh || j < 0 || j >= ow) continue;
                    z[((size_t)(b * oc + o) * oh + i) * ow + j] += Wt[((size_t)(ci * oc + o) * k + ki) * k + kj] * v;
                  }
            }
      for (size_t i = 0; i < (size_t)B * oc * oh * ow; i++) z[i] = ref_act(z[i], s->act);
      pp += (size_t)c * oc * k * k + oc;
      c = oc, h = oh, w = ow;
    } else if (s->kind == AF_LAYER_UNFLATTEN) {
      memcpy(z, a, sizeof(double) * (size_t)B * n);
      c = s->out, h = s->h, w = s->w;
    } else if (s->kind == AF_LAYER_DENSE) {
      const double *Wt = pp, *bb = pp + (size_t)s->out * n;
      for (int b = 0; b < B; b++)
        for (int o = 0; o < s->out; o++) {
          double v = bb[o];
          for (int f = 0; f < n; f++) v += Wt[(size_t)o * n + f] * a[(size_t)b * n + f];
          z[(size_t)b * s->out + o] = ref_act(v, s->act);
        }
      pp += (size_t)s->out * n + s->out;
      c = s->out, h = w = 1;
    } else {
      // layernorm: biased variance, eps 1e-5, as torch.nn.LayerNorm
      const double *g = pp, *be = pp + n;
      for (int b = 0; b < B; b++) {
        const double *r = a + (size_t)b * n;
        double m = 0, v = 0;
        for (int f = 0; f < n; f++) m += r[f];
        m /= n;
        for (int f = 0; f < n; f++) v += (r[f] - m) * (r[f] - m);
        v /= n;
        double inv = 1 / sqrt(v + 1e-5);
        for (int f = 0; f < n; f++) z[(size_t)b * n + f] = ref_act((r[f] - m) * inv * g[f] + be[f], s->act);
      }
      pp += 2 * (size_t)n;
    }
    double *t = a;
    a = z;
    z = t;
  }
  memcpy(y, a, sizeof(double) * B * c * h * w);
  free(a);
  free(z);
  return c * h * w;
}

#endif
