// Terrain: the geometry built matches the request, measured independently by casting rays at
// the built model (stair rise and tread, ramp slope, bump height), and it is deterministic.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "envs/env_impl.h"
#include "envs/terrain.h"

static af_env *make(const char *terrain, double difficulty) {
  char cfg[256], err[512] = "";
  snprintf(cfg, sizeof cfg, "{\"terrain\": \"%s\", \"randomize\": {\"difficulty\": [%g, %g]}}", terrain, difficulty, difficulty);
  af_env *e = af_env_make("quadruped", cfg, err, sizeof err);
  cr_assert(e, "%s", err);
  float obs[256];
  af_env_reset(e, 1, obs);
  return e;
}

// ground height under (x, 0.7): off the robot's line, so the ray meets only terrain
static double ground(af_env *e, double x) { return af_terrain_height(e->m, e->d, x, 0.7); }

Test(terrain, stairs_have_the_requested_rise_and_tread) {
  const double tread = 0.3;
  for (int up = 0; up <= 1; up++)
    for (double d = 0; d <= 1.0; d += 0.5) {
      af_env *e = make(up ? "stairs_up" : "stairs_down", d);
      double rise = 0.02 + 0.16 * d;
      // the middle of each tread; the first step starts 1 m ahead
      for (int i = 0; i < 6; i++) {
        double x = 1.0 + (i + 0.5) * tread;
        double want = up ? (i + 1) * rise : 12 * rise - (i + 1) * rise;
        cr_assert_float_eq(ground(e, x), want, 1e-6, "%s d=%g step %d: height %g, expected %g", up ? "up" : "down", d, i, ground(e, x), want);
        // the edge lies exactly one tread after the previous one
        double before = ground(e, 1.0 + (i + 1) * tread - 0.005), after = ground(e, 1.0 + (i + 1) * tread + 0.005);
        cr_assert_float_eq(after - before, up ? rise : -rise, 1e-6);
      }
      // the robot starts on the ground under it
      cr_assert_float_eq(ground(e, 0), up ? 0 : 12 * rise, 1e-6);
      af_env_free(e);
    }
}

Test(terrain, ramps_have_the_requested_slope) {
  for (int up = 0; up <= 1; up++)
    for (double d = 0.25; d <= 1.0; d += 0.25) {
      af_env *e = make(up ? "ramp_up" : "ramp_down", d);
      double slope = 0.4 * d;
      // rise over run between two points on the ramp (it spans x in [1, 4])
      double h1 = ground(e, 1.5), h2 = ground(e, 3.5);
      cr_assert_float_eq((h2 - h1) / 2.0, up ? slope : -slope, 1e-6, "d=%g: measured slope %g", d, (h2 - h1) / 2);
      // flat before and after, continuous at both ends
      cr_assert_float_eq(ground(e, 0.5), up ? 0 : 3 * slope, 1e-6);
      cr_assert_float_eq(ground(e, 5.0), up ? 3 * slope : 0, 1e-6);
      cr_assert_float_eq(ground(e, 1.001), ground(e, 0.999), 1e-3);
      af_env_free(e);
    }
}

Test(terrain, rough_ground_has_bumps_of_the_requested_height) {
  for (double d = 0; d <= 1.0; d += 0.5) {
    af_env *e = make("rough", d);
    double amp = 0.01 + 0.09 * d, lo = 1e9, hi = -1e9;
    for (double x = 1.0; x < 20; x += 0.05) {
      double h = ground(e, x);
      lo = fmin(lo, h);
      hi = fmax(hi, h);
    }
    // bumps span most of [0, amp] and never leave it
    cr_assert(lo >= -1e-6 && hi <= amp + 1e-6, "d=%g: heights [%g, %g] outside [0, %g]", d, lo, hi, amp);
    cr_assert_gt(hi - lo, 0.6 * amp, "d=%g: bumps only %g high", d, hi - lo);
    // the start area is flat
    cr_assert_float_eq(ground(e, 0), 0, 1e-9);
    af_env_free(e);
  }
}

Test(terrain, same_seed_same_ground_and_flat_restores_nominal) {
  af_env *a = make("mix", 0.6), *b = make("mix", 0.6);
  for (double x = 0; x < 15; x += 0.1) cr_assert_eq(ground(a, x), ground(b, x));
  // a different seed changes the bumps but not the stairs
  float obs[256];
  af_env_reset(b, 2, obs);
  int differ = 0;
  for (double x = 1.0; x < 4; x += 0.1) differ |= ground(a, x) != ground(b, x);
  cr_assert(differ, "bumps must depend on the seed");
  cr_assert_eq(ground(a, 4.5 + 0.15), ground(b, 4.5 + 0.15));
  // the mix holds stairs up and down and ramps: it climbs and comes back to the ground
  double top = 0;
  for (double x = 4.5; x < 12; x += 0.05) top = fmax(top, ground(a, x));
  cr_assert_float_eq(top, 5 * (0.02 + 0.16 * 0.6), 1e-6);
  cr_assert_float_eq(ground(a, 14), 0, 1e-6);
  af_env_free(b);
  // back to flat: every terrain slot as the XML has it
  char err[256];
  af_env *f = af_env_make("quadruped", "{\"randomize\": false}", err, sizeof err);
  af_terrain t;
  cr_assert_eq(af_terrain_init(&t, a->m, err, sizeof err), 0);
  af_rng rng;
  af_rng_seed(&rng, 3);
  af_terrain_build(&t, a->m, a->m0, AF_TERRAIN_FLAT, 0.5, 0.3, &rng);
  cr_assert(memcmp(a->m->geom_pos, a->m0->geom_pos, sizeof(mjtNum) * 3 * a->m->ngeom) == 0);
  cr_assert(memcmp(a->m->geom_size, a->m0->geom_size, sizeof(mjtNum) * 3 * a->m->ngeom) == 0);
  cr_assert(memcmp(a->m->hfield_data, a->m0->hfield_data, sizeof(float) * a->m->nhfielddata) == 0);
  af_env_free(f);
  af_env_free(a);
}
