// The tanh-Gaussian policy head of SAC and image-based SAC: sampling with its log-density and
// the backward pass of the actor loss mean(alpha log pi(a|s) - min Q(s, a)) through the
// squashing and the reparameterization. The actor's output rows are (mean (ad), log std
// (ad)); the log std is clipped to [lo, hi] and gets no gradient where it was clipped.
#ifndef AF_TANH_GAUSS_H
#define AF_TANH_GAUSS_H

#include <math.h>  // expf

#include "agents/nn/nn.h"  // af_nn_tanh_log1m

#define AF_LOG_2PI_HALF 0.91893853320467274f  // log(2 pi) / 2

// a = tanh(u), u = mu + std eps for each of B rows of out (B, 2 ad); std kept for the backward
// pass, work (B ad floats) overwritten; logp = sum_i -eps^2/2 - ls - log(2 pi)/2 - log(1 - a^2).
// The squashing and its log-density term run in one vectorized pass (af_nn_tanh_log1m).
static inline void af_tanh_gauss_sample(int B, int ad, float lo, float hi, const float *out, const float *eps, float *a, float *work,
                                        float *sd_out, float *logp) {
  // u = mu + std eps (into a), with the Gaussian part of each row's log-density
  for (int b = 0; b < B; b++) {
    float lp = 0;
    for (int i = 0; i < ad; i++) {
      float mu = out[b * 2 * ad + i], l = out[b * 2 * ad + ad + i];
      l = l < lo ? lo : l > hi ? hi : l;
      float e = eps[b * ad + i], sd = expf(l);
      a[b * ad + i] = mu + sd * e;
      sd_out[b * ad + i] = sd;
      lp += -0.5f * e * e - l - AF_LOG_2PI_HALF;
    }
    logp[b] = lp;
  }
  // a = tanh(u) in place, work = log(1 - a^2), then the rows' sums of the correction
  af_nn_tanh_log1m(a, work, B * ad);
  for (int b = 0; b < B; b++)
    for (int i = 0; i < ad; i++) logp[b] -= work[b * ad + i];
}

// dact (B, 2 ad) = d loss / d out, given the loss's gradient in the actions through both
// critics (dqin1, dqin2: rows of qd floats, the actions from entry aoff on) and the
// entropy term's alpha / B: d logp / du = 2 tanh(u), d u / d ls = std eps
static inline void af_tanh_gauss_backward(float *dact, int B, int ad, float lo, float hi, float alpha, float invB, const float *out,
                                          const float *a_pi, const float *sd, const float *eps, const float *dqin1, const float *dqin2,
                                          int qd, int aoff) {
  for (int b = 0; b < B; b++)
    for (int i = 0; i < ad; i++) {
      int k = b * ad + i;
      float a = a_pi[k], da = dqin1[b * qd + aoff + i] + dqin2[b * qd + aoff + i];
      float du = da * (1 - a * a) + alpha * invB * 2 * a;
      float raw = out[b * 2 * ad + ad + i];
      dact[b * 2 * ad + i] = du;
      dact[b * 2 * ad + ad + i] = (raw < lo || raw > hi) ? 0 : du * sd[k] * eps[k] - alpha * invB;
    }
}

#endif
