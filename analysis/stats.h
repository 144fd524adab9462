// Statistics for reporting across seeds, as rliable defines them: the interquartile mean
// (25% trimmed mean), the median, percentile bootstrap confidence intervals, and the
// probability of improvement (the Mann-Whitney U statistic over nx * ny).
// Pure functions of their arguments: thread-safe, inputs read only, no NULL pointers, n >= 1
// (the mean and quantiles of no values are 0); `work` is the caller's scratch memory.
#ifndef AF_STATS_H
#define AF_STATS_H

#include "base/rng.h"

typedef enum { AF_STAT_IQM, AF_STAT_MEAN, AF_STAT_MEDIAN } af_stat;

double af_stats_mean(const double *x, int n);
// median and IQM sort a copy in `work` (n doubles)
double af_stats_median(const double *x, int n, double *work);
// mean of what remains after cutting floor(n / 4) values from each end (scipy's trim_mean(x, 0.25))
double af_stats_iqm(const double *x, int n, double *work);
double af_stats(af_stat s, const double *x, int n, double *work);

// the q-quantile (0..1) of sorted values with linear interpolation (numpy's default)
double af_stats_quantile_sorted(const double *sorted, int n, double q);

// 95% percentile-bootstrap interval of statistic s: `reps` resamples of the n runs with
// replacement drawn from rng; work holds 2n + reps doubles
void af_stats_bootstrap_ci(double *lo, double *hi, af_stat s, const double *x, int n, int reps, af_rng *rng, double *work);

// P(X > Y) + P(X = Y) / 2 over all pairs
double af_stats_prob_improvement(const double *x, int nx, const double *y, int ny);

// the Shannon entropy (in nats) of the histogram of x over `bins` (>= 1) equal bins of
// [lo, hi] (lo < hi): values below lo count in the first bin, values above hi in the last,
// NaNs not at all; counts holds `bins` doubles of scratch. 0 when no value counts. Uniform
// over k of the bins gives ln k.
double af_stats_hist_entropy(const double *x, int n, int bins, double lo, double hi, double *counts);

#endif
