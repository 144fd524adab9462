// Fuzz target: environment configs through af_env_make (the JSON, every key of the common and
// the environment's own table, the randomization block), then one reset and one step of a
// made environment, where the configured ranges and sizes take effect. The three cheapest
// environments to load, chosen by the first byte.
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>  // malloc, calloc, free
#include <string.h>  // memcpy

#include "envs/env.h"

int af_fuzz_env_config(const uint8_t *data, size_t size) {
  static const char *names[3] = {"pendulum", "door_open", "puck_push"};
  if (size < 1) return 0;
  // the config: the bytes after the first as a NUL-terminated text
  char *cfg = malloc(size);
  if (!cfg) return 0;
  memcpy(cfg, data + 1, size - 1);
  cfg[size - 1] = 0;
  char err[512];
  af_env *e = af_env_make(names[data[0] % 3], cfg, err, sizeof err);
  free(cfg);
  if (!e) return 0;
  // a made environment resets and steps with a zero action (its errors are answers too)
  const af_env_spec *s = af_env_get_spec(e);
  float *obs = calloc((size_t)s->obs_dim + 1, sizeof(float)), *act = calloc((size_t)s->act_dim + 1, sizeof(float)), r;
  int te = 0, tr = 0;
  if (obs && act && af_env_reset(e, 1, obs) == 0) af_env_step(e, act, obs, &r, &te, &tr, NULL);
  free(obs);
  free(act);
  af_env_free(e);
  return 0;
}

#ifdef AF_FUZZ_TARGET
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return af_fuzz_env_config(data, size); }
#endif
