// Statistics across seeds: interquartile mean, median, bootstrap intervals, probability of
// improvement.
#include "analysis/stats.h"

#include <math.h>    // log, isnan
#include <stdlib.h>  // qsort
#include <string.h>  // memcpy

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double af_stats_mean(const double *x, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += x[i];
  return n ? s / n : 0;
}

double af_stats_quantile_sorted(const double *v, int n, double q) {
  if (n == 0) return 0;
  double pos = q * (n - 1);
  int i = (int)pos;
  if (i >= n - 1) return v[n - 1];
  return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

double af_stats_median(const double *x, int n, double *w) {
  memcpy(w, x, sizeof(double) * (size_t)n);
  qsort(w, (size_t)n, sizeof(double), cmp);
  return af_stats_quantile_sorted(w, n, 0.5);
}

double af_stats_iqm(const double *x, int n, double *w) {
  memcpy(w, x, sizeof(double) * (size_t)n);
  qsort(w, (size_t)n, sizeof(double), cmp);
  int k = n / 4;
  return af_stats_mean(w + k, n - 2 * k);
}

double af_stats(af_stat s, const double *x, int n, double *w) {
  return s == AF_STAT_IQM ? af_stats_iqm(x, n, w) : s == AF_STAT_MEDIAN ? af_stats_median(x, n, w) : af_stats_mean(x, n);
}

void af_stats_bootstrap_ci(double *lo, double *hi, af_stat s, const double *x, int n, int reps, af_rng *rng, double *work) {
  double *sample = work, *scratch = work + n, *dist = work + 2 * n;
  for (int r = 0; r < reps; r++) {
    for (int i = 0; i < n; i++) sample[i] = x[af_rng_next(rng) % (uint64_t)n];
    dist[r] = af_stats(s, sample, n, scratch);
  }
  qsort(dist, (size_t)reps, sizeof(double), cmp);
  *lo = af_stats_quantile_sorted(dist, reps, 0.025);
  *hi = af_stats_quantile_sorted(dist, reps, 0.975);
}

double af_stats_prob_improvement(const double *x, int nx, const double *y, int ny) {
  double s = 0;
  for (int i = 0; i < nx; i++)
    for (int j = 0; j < ny; j++) s += x[i] > y[j] ? 1 : x[i] == y[j] ? 0.5 : 0;
  return nx && ny ? s / ((double)nx * ny) : 0;
}

double af_stats_hist_entropy(const double *x, int n, int bins, double lo, double hi, double *counts) {
  // the counts, the out-of-range values in the edge bins
  memset(counts, 0, sizeof *counts * (size_t)bins);
  double total = 0;
  for (int i = 0; i < n; i++) {
    if (isnan(x[i])) continue;
    double f = (x[i] - lo) / (hi - lo) * bins;
    int b = f < 0 ? 0 : f >= bins ? bins - 1 : (int)f;
    counts[b] += 1;
    total += 1;
  }
  // -sum p ln p over the bins that hold something
  double h = 0;
  for (int b = 0; b < bins && total > 0; b++)
    if (counts[b] > 0) h -= counts[b] / total * log(counts[b] / total);
  return h;
}
