// Helpers the environment tests share: make an environment or fail the test with its
// message, and run one episode of its scripted controller.
#ifndef AF_TEST_ENV_TEST_H
#define AF_TEST_ENV_TEST_H

#include <criterion/criterion.h>
#include "envs/env.h"

static inline af_env *test_env(const char *name, const char *cfg) {
  char err[512] = "";
  af_env *e = af_env_make(name, cfg, err, sizeof err);
  cr_assert(e, "%s", err);
  return e;
}

// one episode of the environment's scripted controller from `seed`; the final info
static inline af_info scripted_episode(af_env *e, uint64_t seed) {
  float obs[1024], a[16], r;
  int te = 0, tr = 0;
  af_info info;
  af_env_reset(e, seed, obs);
  while (!te && !tr) {
    cr_assert_eq(af_env_scripted_action(e, a), AF_OK);
    cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, &info), AF_OK);
  }
  return info;
}

#endif
