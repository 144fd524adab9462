// Observation normalization: a running mean and standard deviation per entry, combined batch
// by batch (Chan et al.'s parallel update, in double), applied as clip((x - mean) / std,
// -clip, clip) with std floored at eps, as the HER baselines do (clip 5, eps 0.01). The
// statistics save into a checkpoint bit for bit, so a resumed run normalizes exactly as the
// uninterrupted one.
#ifndef AF_NORMALIZER_H
#define AF_NORMALIZER_H

#include <stddef.h>  // size_t, offsetof

#include "agents/nn/nn.h"  // af_tensor
#include "base/config.h"   // af_param

typedef struct {
  int n;               // entries per row
  float clip, eps;
  double count;        // rows seen
  double *mean, *m2;   // (n): mean, sum of squared deviations
  float *fmean, *fstd; // (n): what apply uses, refreshed after each update
  float *packed;       // (1 + 2n) * 4: count, mean, m2 as exact bit patterns for checkpoints
} af_normalizer;

// 0, or -1 with a message; clip > 0, eps > 0
int af_normalizer_init(af_normalizer *z, int n, float clip, float eps, char *err, size_t errsz);
void af_normalizer_free(af_normalizer *z);

// fold B rows x (B, n) into the statistics; allocates nothing
void af_normalizer_update(af_normalizer *z, const float *x, int B);
// out (B, n) = clip((x - mean) / std); out may be x. Before any update: mean 0, std 1
void af_normalizer_apply(const af_normalizer *z, float *out, const float *x, int B);

// the standard deviation in use for entry i: sqrt(max(var, eps^2)), var = m2 / count
double af_normalizer_std(const af_normalizer *z, int i);

// the statistics as one checkpoint tensor (named `name`): pack before saving, unpack after
// loading (which also refreshes the applied mean and std). Unpack checks what a file gave:
// packed doubles, a whole row count, finite means and non-negative squared deviations; 0, or
// -1 with a message and the statistics unchanged
af_tensor af_normalizer_tensor(af_normalizer *z, const char *name);
void af_normalizer_pack(af_normalizer *z);
int af_normalizer_unpack(af_normalizer *z, char *err, size_t errsz);

// ---- the hyperparameters an agent shares: put an af_norm_params in its config struct and
// append AF_NORM_PARAMS(its cfg type, the field) to its af_param table ----
typedef struct {
  int obs_norm;
  double obs_clip;
} af_norm_params;

#define AF_NORM_PARAMS(cfg_type, field)                                                                          \
  {"obs_norm", AF_P_BOOL, offsetof(cfg_type, field.obs_norm), 0, 0, 1, NULL,                                     \
   "normalize observations (goals included) by running mean and std before the networks"},                     \
  {"obs_clip", AF_P_DOUBLE, offsetof(cfg_type, field.obs_clip), 5, 0.1, 1000, NULL,                              \
   "normalized observations are clipped to [-obs_clip, obs_clip]"}

#endif
