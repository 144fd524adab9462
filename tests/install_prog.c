// A program outside the source tree, as a user writes one: built against the installed
// library with `pkg-config --cflags --libs armfarm`, it runs one puck_push episode of the
// scripted policy from the installed assets. Usage: prog [EXPECTED_ASSET_DIR]; exit 0 when
// the assets came from the expected folder and the episode succeeded.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "armfarm.h"

int main(int argc, char **argv) {
  // where the library loads its models from
  char dir[1024], err[512];
  if (!af_env_asset_dir(dir, sizeof dir)) { fprintf(stderr, "prog: no assets folder\n"); return 1; }
  printf("assets %s\n", dir);
  if (argc > 1 && strcmp(dir, argv[1]) != 0) { fprintf(stderr, "prog: expected the assets in %s\n", argv[1]); return 1; }

  // one scripted episode
  af_env *e = af_env_make("puck_push", NULL, err, sizeof err);
  if (!e) { fprintf(stderr, "prog: %s\n", err); return 1; }
  const af_env_spec *s = af_env_get_spec(e);
  float *obs = calloc((size_t)s->obs_dim, sizeof(float)), *a = calloc((size_t)s->act_dim, sizeof(float)), r;
  int te = 0, tr = 0, rc = af_env_reset(e, 1, obs);
  af_info info = {0};
  while (rc == AF_OK && !te && !tr) {
    rc = af_env_scripted_action(e, a);
    if (rc == AF_OK) rc = af_env_step(e, a, obs, &r, &te, &tr, &info);
  }
  if (rc != AF_OK) fprintf(stderr, "prog: %s\n", af_env_last_error(e));
  printf("puck_push scripted: return %.3f, length %.0f, success %.0f\n", info.episode.ret, info.episode.length,
         info.episode.success);
  int ok = rc == AF_OK && info.episode.n == 1 && isfinite(info.episode.ret) && info.episode.success == 1;
  free(obs);
  free(a);
  af_env_free(e);
  return ok ? 0 : 1;
}
