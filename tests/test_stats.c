// Statistics against values computed by hand or in closed form: IQM and median of small
// sets (as scipy.stats.trim_mean(x, 0.25) and numpy.median give them), numpy's linear
// quantiles, the bootstrap distribution's spread against its closed form, and the
// probability of improvement against a hand count of pairs.
#include <criterion/criterion.h>
#include <math.h>

#include "analysis/stats.h"

Test(stats, iqm_median_mean_by_hand) {
  double w[16];
  const double a[8] = {8, 1, 7, 2, 6, 3, 5, 4};
  // cut 2 from each end of 1..8: mean(3, 4, 5, 6) = 4.5
  cr_assert_float_eq(af_stats_iqm(a, 8, w), 4.5, 1e-12);
  cr_assert_float_eq(af_stats_median(a, 8, w), 4.5, 1e-12);
  cr_assert_float_eq(af_stats_mean(a, 8), 4.5, 1e-12);
  // 5 values: cut floor(5/4) = 1 from each end: mean(2, 3, 4) = 3, robust to the outlier
  const double b[5] = {100, 2, 1, 4, 3};
  cr_assert_float_eq(af_stats_iqm(b, 5, w), 3.0, 1e-12);
  cr_assert_float_eq(af_stats_median(b, 5, w), 3.0, 1e-12);
  cr_assert_float_eq(af_stats_mean(b, 5), 22.0, 1e-12);
  // 3 values: nothing cut
  const double c[3] = {1, 2, 9};
  cr_assert_float_eq(af_stats_iqm(c, 3, w), 4.0, 1e-12);
}

Test(stats, quantiles_interpolate_like_numpy) {
  const double v[4] = {1, 2, 3, 4};
  // numpy.quantile([1,2,3,4], 0.025) = 1.075; 0.975 -> 3.925; 0.5 -> 2.5
  cr_assert_float_eq(af_stats_quantile_sorted(v, 4, 0.025), 1.075, 1e-12);
  cr_assert_float_eq(af_stats_quantile_sorted(v, 4, 0.975), 3.925, 1e-12);
  cr_assert_float_eq(af_stats_quantile_sorted(v, 4, 0.5), 2.5, 1e-12);
  cr_assert_float_eq(af_stats_quantile_sorted(v, 4, 1.0), 4, 1e-12);
}

Test(stats, bootstrap_of_the_mean_has_the_closed_form_spread) {
  // the bootstrap mean of n values has variance s^2 / n with s^2 the plug-in variance;
  // for 10 values 0..9 that is 8.25 / 10, so the 95% interval is about mean +- 1.96 sqrt(0.825)
  double x[10], work[20 + 50000];
  for (int i = 0; i < 10; i++) x[i] = i;
  af_rng rng;
  af_rng_seed(&rng, 0);
  double lo, hi;
  af_stats_bootstrap_ci(&lo, &hi, AF_STAT_MEAN, x, 10, 50000, &rng, work);
  double half = 1.959964 * sqrt(0.825);
  cr_assert_float_eq(lo, 4.5 - half, 0.1, "lo %g", lo);
  cr_assert_float_eq(hi, 4.5 + half, 0.1, "hi %g", hi);
  // constant data: a point interval
  double k[5] = {3, 3, 3, 3, 3};
  af_stats_bootstrap_ci(&lo, &hi, AF_STAT_IQM, k, 5, 2000, &rng, work);
  cr_assert_eq(lo, 3);
  cr_assert_eq(hi, 3);
  // the same seed, the same interval
  af_rng r1, r2;
  double l1, h1, l2, h2;
  af_rng_seed(&r1, 9);
  af_rng_seed(&r2, 9);
  af_stats_bootstrap_ci(&l1, &h1, AF_STAT_IQM, x, 10, 2000, &r1, work);
  af_stats_bootstrap_ci(&l2, &h2, AF_STAT_IQM, x, 10, 2000, &r2, work);
  cr_assert(l1 == l2 && h1 == h2);
}

Test(stats, probability_of_improvement_by_hand) {
  // X = {1, 2, 3}, Y = {2, 2}: pairs won 0 + 0 / ties 2 x 0.5 / won 2 -> 3 of 6 = 0.5
  const double x[3] = {1, 2, 3}, y[2] = {2, 2};
  cr_assert_float_eq(af_stats_prob_improvement(x, 3, y, 2), 0.5, 1e-12);
  // disjoint: 1 and 0
  const double hi[2] = {10, 11}, lo[3] = {1, 2, 3};
  cr_assert_float_eq(af_stats_prob_improvement(hi, 2, lo, 3), 1.0, 1e-12);
  cr_assert_float_eq(af_stats_prob_improvement(lo, 3, hi, 2), 0.0, 1e-12);
  // P(X > Y) + P(Y > X) = 1
  const double p[4] = {0.1, 0.5, 0.9, 0.5}, q[3] = {0.5, 0.2, 0.7};
  cr_assert_float_eq(af_stats_prob_improvement(p, 4, q, 3) + af_stats_prob_improvement(q, 3, p, 4), 1.0, 1e-12);
}
