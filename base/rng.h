// Explicit random state: xoshiro256** seeded through splitmix64.
// Every draw in armfarm goes through an af_rng passed by the caller; nothing is global. The
// functions are inline and keep no state of their own: an af_rng is used by one thread at a
// time, and none of them takes NULL.
#ifndef AF_RNG_H
#define AF_RNG_H

#include <math.h>    // log, sqrt, cos
#include <stdint.h>  // uint64_t

typedef struct { uint64_t s[4]; } af_rng;

// one splitmix64 step: used for seeding and for deriving stream seeds
static inline uint64_t af_splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// a seed for stream `stream` of `seed` (e.g. randomization vs initial state vs noise)
static inline uint64_t af_seed_derive(uint64_t seed, uint64_t stream) {
  uint64_t x = seed ^ (0xD1B54A32D192ED03ull * (stream + 1));
  af_splitmix64(&x);
  return af_splitmix64(&x);
}

static inline void af_rng_seed(af_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = af_splitmix64(&x);
}

static inline uint64_t af_rng_next(af_rng *r) {
  uint64_t *s = r->s;
  uint64_t x = s[1] * 5, result = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;
  s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
  s[2] ^= t; s[3] = (s[3] << 45) | (s[3] >> 19);
  return result;
}

// uniform in [0, 1) with 53 random bits
static inline double af_rng_uniform(af_rng *r) {
  return (double)(af_rng_next(r) >> 11) * 0x1.0p-53;
}

static inline double af_rng_range(af_rng *r, double lo, double hi) {
  return lo + (hi - lo) * af_rng_uniform(r);
}

// uniform integer in [lo, hi] (inclusive); the tiny modulo bias is irrelevant at these ranges
static inline int af_rng_int(af_rng *r, int lo, int hi) {
  return lo + (int)(af_rng_next(r) % (uint64_t)(hi - lo + 1));
}

// standard normal by Box-Muller (no cached second value, so the state alone defines the stream)
static inline double af_rng_normal(af_rng *r) {
  double u1 = 1.0 - af_rng_uniform(r), u2 = af_rng_uniform(r);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// n standard normals, both Box-Muller outputs used (twice as fast as n af_rng_normal calls)
static inline void af_rng_normal_fill(af_rng *r, float *x, int n) {
  for (int i = 0; i < n; i += 2) {
    double u1 = 1.0 - af_rng_uniform(r), u2 = af_rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
    x[i] = (float)(rad * cos(th));
    if (i + 1 < n) x[i + 1] = (float)(rad * sin(th));
  }
}

#endif
