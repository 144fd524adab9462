// Pendulum: every step equals Gym Pendulum-v1's update written out by hand:
// thdot' = clip(thdot + (3 g / (2 l) sin th + 3 u / (m l^2)) dt, -8, 8), th' = th + thdot' dt,
// reward -(norm(th)^2 + 0.1 thdot^2 + 0.001 u^2) before the update.
#include <criterion/criterion.h>
#define _USE_MATH_DEFINES
#include <math.h>
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#include "envs/env_impl.h"

Test(pendulum, steps_equal_gyms_update) {
  char err[256];
  af_env *e = af_env_make("pendulum", NULL, err, sizeof err);
  cr_assert(e, "%s", err);
  const af_env_spec *s = af_env_get_spec(e);
  cr_assert_eq(s->obs_dim, 3);
  cr_assert_eq(s->act_dim, 1);
  cr_assert_eq(s->horizon, 200);
  cr_assert_float_eq(1.0 / s->control_hz, 0.05, 1e-12);
  af_rng rng;
  af_rng_seed(&rng, 3);
  for (int ep = 0; ep < 3; ep++) {
    float obs[3], r;
    int te, tr;
    af_env_reset(e, (uint64_t)ep, obs);
    double th = e->d->qpos[0], thd = e->d->qvel[0];
    cr_assert(th >= -M_PI && th <= M_PI && thd >= -1 && thd <= 1);
    cr_assert_float_eq(obs[0], cos(th), 1e-6);
    cr_assert_float_eq(obs[1], sin(th), 1e-6);
    for (int t = 0; t < 200; t++) {
      float a = (float)af_rng_range(&rng, -1.2, 1.2);  // beyond the bounds: clipped
      double u = 2.0 * (a > 1 ? 1 : a < -1 ? -1 : a);
      double thn = fmod(th + M_PI, 2 * M_PI);
      if (thn < 0) thn += 2 * M_PI;
      thn -= M_PI;
      double cost = thn * thn + 0.1 * thd * thd + 0.001 * u * u;
      double nthd = thd + (3 * 10.0 / 2 * sin(th) + 3.0 * u) * 0.05;
      nthd = nthd > 8 ? 8 : nthd < -8 ? -8 : nthd;
      th += nthd * 0.05;
      thd = nthd;
      cr_assert_eq(af_env_step(e, &a, obs, &r, &te, &tr, NULL), AF_OK);
      cr_assert_float_eq(r, -cost, 1e-5 * (1 + cost), "step %d: reward %g, Gym %g", t, r, -cost);
      cr_assert_float_eq(e->d->qpos[0], th, 1e-9, "step %d: angle", t);
      cr_assert_float_eq(obs[2], thd, 1e-5);
      cr_assert_eq(tr, t == 199);
      cr_assert_eq(te, 0);
    }
  }
  af_env_free(e);
}
