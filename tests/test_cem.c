// The cross-entropy method: it finds the maximum of a known function of the action (a
// concave quadratic per state, with its argmax inside the box, and one outside it, where the
// answer is the nearest corner of the box), each round scoring the whole population of
// states x samples in one call; bad settings are refused with a message naming them.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "agents/cem.h"

enum { A = 3, B = 4 };
static const float peak[B][A] = {{0.3f, -0.5f, 0.1f}, {-0.8f, 0.6f, 0.0f}, {0.0f, 0.0f, 0.9f}, {1.6f, -2.0f, 0.2f}};

typedef struct { int calls, last_n, samples; } counter;

// -(a - peak)^2 with weights per dimension; row k belongs to state k / samples
static int quad(void *ctx, const float *a, int n, float *s) {
  counter *c = ctx;
  c->calls++;
  c->last_n = n;
  for (int k = 0; k < n; k++) {
    int b = k / c->samples;
    double v = 0;
    for (int j = 0; j < A; j++) { double d = a[k * A + j] - peak[b][j]; v -= (1 + j) * d * d; }
    s[k] = (float)v;
  }
  return 0;
}

static void run(const af_cem_cfg *cfg, double tol) {
  af_cem c;
  char err[128];
  cr_assert_eq(af_cem_init(&c, cfg, A, B, err, sizeof err), 0, "%s", err);
  af_rng rng;
  af_rng_seed(&rng, 5);
  float best[B * A], score[B];
  counter cnt = {0, 0, cfg->samples};
  cr_assert_eq(af_cem_run(&c, B, quad, &cnt, &rng, best, score), 0);
  // one batched call per round, the whole population each time
  cr_assert_eq(cnt.calls, cfg->iterations);
  cr_assert_eq(cnt.last_n, B * cfg->samples);
  for (int b = 0; b < B; b++)
    for (int j = 0; j < A; j++) {
      double want = fmax(-1, fmin(1, peak[b][j]));  // the box's nearest point for the outside peak
      cr_assert(fabs(best[b * A + j] - want) < tol, "state %d dim %d: %g, max at %g", b, j, best[b * A + j], want);
      cr_assert(best[b * A + j] >= -1 && best[b * A + j] <= 1);
    }
  // the score returned is the function's value at the answer
  for (int b = 0; b < B; b++) {
    double v = 0;
    for (int j = 0; j < A; j++) { double d = best[b * A + j] - peak[b][j]; v -= (1 + j) * d * d; }
    cr_assert_float_eq(score[b], v, 1e-5);
  }
  af_cem_free(&c);
}

Test(cem, finds_the_maximum_of_a_quadratic) {
  // QT-Opt's defaults: 64 samples, 6 elites, 2 rounds, std 0.5: close
  run(&(af_cem_cfg){64, 6, 2, 0.5f, 0.01f}, 0.25);
  // more rounds: as close as wanted
  run(&(af_cem_cfg){64, 6, 8, 0.5f, 0.0f}, 0.02);
}

Test(cem, the_same_rng_state_gives_the_same_answer) {
  af_cem c;
  char err[128];
  af_cem_cfg cfg = {64, 6, 2, 0.5f, 0.01f};
  cr_assert_eq(af_cem_init(&c, &cfg, A, B, err, sizeof err), 0, "%s", err);
  float x[B * A], y[B * A];
  counter cnt = {0, 0, 64};
  af_rng r1, r2;
  af_rng_seed(&r1, 9);
  af_rng_seed(&r2, 9);
  cr_assert_eq(af_cem_run(&c, B, quad, &cnt, &r1, x, NULL), 0);
  cr_assert_eq(af_cem_run(&c, B, quad, &cnt, &r2, y, NULL), 0);
  cr_assert(memcmp(x, y, sizeof x) == 0);
  // and another state another answer
  cr_assert_eq(af_cem_run(&c, B, quad, &cnt, &r2, y, NULL), 0);
  cr_assert(memcmp(x, y, sizeof x) != 0);
  af_cem_free(&c);
}

Test(cem, bad_settings_are_named) {
  af_cem c;
  char err[128];
  cr_assert_eq(af_cem_init(&c, &(af_cem_cfg){8, 9, 2, 0.5f, 0}, A, B, err, sizeof err), -1);
  cr_assert(strstr(err, "elites"), "%s", err);
  cr_assert_eq(af_cem_init(&c, &(af_cem_cfg){8, 2, 0, 0.5f, 0}, A, B, err, sizeof err), -1);
  cr_assert(strstr(err, "iterations"), "%s", err);
  cr_assert_eq(af_cem_init(&c, &(af_cem_cfg){8, 2, 2, 0, 0}, A, B, err, sizeof err), -1);
  cr_assert(strstr(err, "init_std"), "%s", err);
}
