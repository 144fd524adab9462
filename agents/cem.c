// The cross-entropy method, batched over states (agents/cem.h).
#include "agents/cem.h"

#include <math.h>    // sqrt, isfinite
#include <stdio.h>   // snprintf
#include <stdlib.h>  // calloc, free

int af_cem_init(af_cem *c, const af_cem_cfg *cfg, int act_dim, int max_states, char *err, size_t errsz) {
  *c = (af_cem){0};
  if (cfg->samples < 1 || cfg->elites < 1 || cfg->elites > cfg->samples) {
    snprintf(err, errsz, "cem: elites (%d) must be between 1 and samples (%d)", cfg->elites, cfg->samples);
    return -1;
  }
  if (cfg->iterations < 1) { snprintf(err, errsz, "cem: iterations must be at least 1 (got %d)", cfg->iterations); return -1; }
  if (!(cfg->init_std > 0) || !isfinite(cfg->init_std) || !(cfg->min_std >= 0) || !isfinite(cfg->min_std)) {
    snprintf(err, errsz, "cem: init_std must be positive and min_std non-negative");
    return -1;
  }
  if (act_dim < 1 || max_states < 1) { snprintf(err, errsz, "cem: needs act_dim and max_states of at least 1"); return -1; }
  c->cfg = *cfg;
  c->act_dim = act_dim;
  c->max_states = max_states;
  size_t n = (size_t)max_states * cfg->samples;
  c->pop = calloc(n * act_dim, sizeof(float));
  c->score = calloc(n, sizeof(float));
  c->mean = calloc((size_t)max_states * act_dim, sizeof(float));
  c->std = calloc((size_t)max_states * act_dim, sizeof(float));
  c->order = calloc((size_t)cfg->samples, sizeof(int));
  c->best = calloc((size_t)max_states, sizeof(float));
  if (!c->pop || !c->score || !c->mean || !c->std || !c->order || !c->best) {
    af_cem_free(c);
    snprintf(err, errsz, "out of memory");
    return -1;
  }
  return 0;
}

void af_cem_free(af_cem *c) {
  free(c->pop);
  free(c->score);
  free(c->mean);
  free(c->std);
  free(c->order);
  free(c->best);
  *c = (af_cem){0};
}

static float clampf(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }

// the indices of the k largest of s (n) into order[0..k-1], best first: insertion into a
// sorted prefix (k is a handful, n 64). A NaN score never counts as better.
static void top_k(const float *s, int n, int k, int *order) {
  int m = 0;
  for (int i = 0; i < n; i++) {
    if (m == k && !(s[i] > s[order[k - 1]])) continue;
    int j = m < k ? m++ : k - 1;
    while (j > 0 && s[i] > s[order[j - 1]]) { order[j] = order[j - 1]; j--; }
    order[j] = i;
  }
}

int af_cem_run(af_cem *c, int B, af_cem_score_fn fn, void *ctx, af_rng *rng, float *best, float *best_score) {
  const int S = c->cfg.samples, E = c->cfg.elites, A = c->act_dim;
  for (int i = 0; i < B * A; i++) { c->mean[i] = 0; c->std[i] = c->cfg.init_std; }
  for (int it = 0; it < c->cfg.iterations; it++) {
    // the population: S draws per state from its Gaussian, clipped to the box
    af_rng_normal_fill(rng, c->pop, B * S * A);
    for (int b = 0; b < B; b++)
      for (int k = 0; k < S; k++) {
        float *a = c->pop + ((size_t)b * S + k) * A;
        for (int j = 0; j < A; j++) a[j] = clampf(c->mean[b * A + j] + c->std[b * A + j] * a[j], -1, 1);
      }
    // all of it scored at once
    int rc = fn(ctx, c->pop, B * S, c->score);
    if (rc) return rc;
    // per state: the best so far, then the Gaussian refitted to the elites
    for (int b = 0; b < B; b++) {
      const float *sc = c->score + (size_t)b * S, *pb = c->pop + (size_t)b * S * A;
      top_k(sc, S, E, c->order);
      float top = sc[c->order[0]];
      if (it == 0 || top > c->best[b]) {
        for (int j = 0; j < A; j++) best[b * A + j] = pb[(size_t)c->order[0] * A + j];
        c->best[b] = top;
      }
      for (int j = 0; j < A; j++) {
        double m = 0, v = 0;
        for (int e = 0; e < E; e++) m += pb[(size_t)c->order[e] * A + j];
        m /= E;
        for (int e = 0; e < E; e++) { double d = pb[(size_t)c->order[e] * A + j] - m; v += d * d; }
        float sd = (float)sqrt(v / E);
        c->mean[b * A + j] = (float)m;
        c->std[b * A + j] = sd > c->cfg.min_std ? sd : c->cfg.min_std;
      }
    }
  }
  if (best_score)
    for (int b = 0; b < B; b++) best_score[b] = c->best[b];
  return 0;
}
