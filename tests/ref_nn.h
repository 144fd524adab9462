// Independent double-precision references for the gradient checks: a plain-loop MLP with the
// parameter layout of agents/nn (W (in, out) row-major, then b, per layer).
#ifndef AF_TEST_REF_NN_H
#define AF_TEST_REF_NN_H

#include <math.h>
#include <string.h>

#include "agents/nn/nn.h"

#define REF_MAX 4096

static inline void ref_mlp(double *y, const double *p, const double *x, int B, int L, const int *sz, af_act hid, af_act out) {
  static double a[REF_MAX], z[REF_MAX];
  memcpy(a, x, sizeof(double) * B * sz[0]);
  int off = 0;
  for (int l = 0; l < L; l++) {
    int in = sz[l], o = sz[l + 1];
    const double *W = p + off, *bb = p + off + in * o;
    af_act act = l == L - 1 ? out : hid;
    for (int b = 0; b < B; b++)
      for (int j = 0; j < o; j++) {
        double s = bb[j];
        for (int i = 0; i < in; i++) s += a[b * in + i] * W[i * o + j];
        z[b * o + j] = act == AF_ACT_RELU ? (s > 0 ? s : 0) : act == AF_ACT_TANH ? tanh(s) : s;
      }
    memcpy(a, z, sizeof(double) * B * o);
    off += in * o + o;
  }
  memcpy(y, a, sizeof(double) * B * sz[L]);
}

#endif
