// Running observation statistics and the normalization the networks see.
#include "agents/normalizer.h"

#include <math.h>    // sqrt, floor, isfinite
#include <stdint.h>  // uint64_t
#include <stdio.h>   // snprintf
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy

int af_normalizer_init(af_normalizer *z, int n, float clip, float eps, char *err, size_t errsz) {
  memset(z, 0, sizeof *z);
  if (n < 1 || !(clip > 0) || !(eps > 0)) { snprintf(err, errsz, "normalizer: needs n >= 1, clip > 0, eps > 0"); return -1; }
  // statistics in double, the applied copy and the packed form in float
  z->mean = calloc(2 * (size_t)n, sizeof(double));
  z->fmean = calloc(2 * (size_t)n + (1 + 2 * (size_t)n) * 4, sizeof(float));
  if (!z->mean || !z->fmean) { af_normalizer_free(z); snprintf(err, errsz, "normalizer: out of memory"); return -1; }
  z->m2 = z->mean + n;
  z->fstd = z->fmean + n;
  z->packed = z->fstd + n;
  z->n = n;
  z->clip = clip;
  z->eps = eps;
  for (int i = 0; i < n; i++) z->fstd[i] = 1;
  return 0;
}

void af_normalizer_free(af_normalizer *z) {
  free(z->mean);
  free(z->fmean);
  memset(z, 0, sizeof *z);
}

double af_normalizer_std(const af_normalizer *z, int i) {
  double var = z->count > 0 ? z->m2[i] / z->count : 1.0, e2 = (double)z->eps * z->eps;
  return sqrt(var > e2 ? var : e2);
}

static void refresh(af_normalizer *z) {
  for (int i = 0; i < z->n; i++) {
    z->fmean[i] = (float)z->mean[i];
    z->fstd[i] = (float)af_normalizer_std(z, i);
  }
}

void af_normalizer_update(af_normalizer *z, const float *x, int B) {
  if (B < 1) return;
  const int n = z->n;
  const double nb = B, na = z->count, nt = na + nb;
  for (int i = 0; i < n; i++) {
    // the batch's mean and squared deviations, two passes over its B rows
    double s = 0, q = 0;
    for (int b = 0; b < B; b++) s += x[(size_t)b * n + i];
    double mb = s / nb;
    for (int b = 0; b < B; b++) { double d = x[(size_t)b * n + i] - mb; q += d * d; }
    // combined with what was seen before
    double delta = mb - z->mean[i];
    z->mean[i] += delta * nb / nt;
    z->m2[i] += q + delta * delta * na * nb / nt;
  }
  z->count = nt;
  refresh(z);
}

void af_normalizer_apply(const af_normalizer *z, float *out, const float *x, int B) {
  const int n = z->n;
  const float c = z->clip;
  for (int b = 0; b < B; b++)
    for (int i = 0; i < n; i++) {
      float v = (x[(size_t)b * n + i] - z->fmean[i]) / z->fstd[i];
      out[(size_t)b * n + i] = v < -c ? -c : v > c ? c : v;
    }
}

// a double's bit pattern in four exact 16-bit float pieces
static void pack_double(float *out, double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  af_nn_pack_u64(out, u);
}

static double unpack_double(const float *in) {
  uint64_t u = af_nn_unpack_u64(in);
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
}

af_tensor af_normalizer_tensor(af_normalizer *z, const char *name) {
  return (af_tensor){name, z->packed, (size_t)(1 + 2 * z->n) * 4};
}

void af_normalizer_pack(af_normalizer *z) {
  pack_double(z->packed, z->count);
  for (int i = 0; i < z->n; i++) {
    pack_double(z->packed + 4 * (1 + i), z->mean[i]);
    pack_double(z->packed + 4 * (1 + z->n + i), z->m2[i]);
  }
}

int af_normalizer_unpack(af_normalizer *z, char *err, size_t errsz) {
  // every word a packed double, and statistics a real run can have: a count of rows,
  // finite means, non-negative sums of squares
  const int n = z->n;
  if (!af_nn_packed_ok(z->packed, 1 + 2 * n)) { snprintf(err, errsz, "normalizer: the statistics are not packed doubles"); return -1; }
  double count = unpack_double(z->packed);
  if (!(count >= 0 && count <= 9.007199254740992e15 && count == floor(count))) { snprintf(err, errsz, "normalizer: a row count of %g", count); return -1; }
  for (int i = 0; i < n; i++) {
    double mean = unpack_double(z->packed + 4 * (1 + i)), m2 = unpack_double(z->packed + 4 * (1 + n + i));
    if (!isfinite(mean) || !(m2 >= 0 && isfinite(m2))) { snprintf(err, errsz, "normalizer: entry %d has mean %g and squared deviations %g", i, mean, m2); return -1; }
  }
  // checked: into place
  z->count = count;
  for (int i = 0; i < n; i++) {
    z->mean[i] = unpack_double(z->packed + 4 * (1 + i));
    z->m2[i] = unpack_double(z->packed + 4 * (1 + n + i));
  }
  refresh(z);
  return 0;
}
