// armfarm collect: episodes of an environment's scripted controller and of uniform random
// actions, in a configured mix, into an episode dataset (agents/dataset.h) for offline
// learning (QT-Opt's offline mode: agent.dataset). Episode j is seeded from the collection
// seed (af_seed_derive(seed, 11) + j), and it is scripted when
// floor((j + 1) p) > floor(j p) for the scripted share p: floor(N p) scripted episodes spread
// evenly, the rest random. Scripted actions can get Gaussian noise (--noise, clipped to
// [-1, 1]), so that the data also holds near misses. The file is written under a temporary
// name and renamed when complete.
#include <math.h>    // floor
#include <stdio.h>
#include <stdlib.h>  // calloc, free
#include <string.h>  // strcmp

#include "agents/dataset.h"
#include "base/rng.h"
#include "envs/env.h"
#include "experiments/cli.h"

static void collect_usage(FILE *f) {
  fprintf(f,
    "usage: armfarm collect --env NAME --episodes N --out FILE [--seed S] [--scripted P] [--noise SD]\n"
    "                       [--config FILE] [--set key=value]...\n"
    "  writes N episodes to an episode dataset (README.md, \"Episode datasets\"): a share P of them\n"
    "  (default 0.5) by the environment's scripted controller, with Gaussian noise of std SD on its\n"
    "  actions (default 0), the rest by uniform random actions; prints the success rate of each\n");
}

typedef struct {
  const char *env_name, *out, *config_file;
  long episodes, seed;
  double scripted, noise;
  char **sets;
  int nsets;
} collect_opts;

static int parse_collect_opts(int argc, char **argv, collect_opts *o) {
  *o = (collect_opts){.episodes = -1, .scripted = 0.5, .sets = calloc((size_t)argc + 1, sizeof(char *))};
  if (!o->sets) { fprintf(stderr, "armfarm collect: out of memory\n"); return AF_EXIT_FAIL; }
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) { collect_usage(stdout); return AF_EXIT_OK; }
    static const char *takes[] = {"--env", "--episodes", "--seed", "--out", "--set", "--config", "--scripted", "--noise"};
    int k = 0;
    while (k < 8 && strcmp(opt, takes[k])) k++;
    if (k == 8) { fprintf(stderr, "armfarm collect: unknown option '%s' (try --help)\n", opt); return AF_EXIT_USAGE; }
    if (!val) { fprintf(stderr, "armfarm collect: %s needs a value\n", opt); return AF_EXIT_USAGE; }
    i++;
    if (k == 0) o->env_name = val;
    else if (k == 3) o->out = val;
    else if (k == 4) o->sets[o->nsets++] = (char *)val;
    else if (k == 5) o->config_file = val;
    else if (k == 1) { if ((o->episodes = af_cli_long(opt, val, 1, 10000000)) < 0) return AF_EXIT_USAGE; }
    else if (k == 2) { if ((o->seed = af_cli_long(opt, val, 0, 0x7fffffffffffffffL)) < 0) return AF_EXIT_USAGE; }
    else if (af_parse_double(val, 0, k == 6 ? 1 : 10, k == 6 ? &o->scripted : &o->noise)) {
      fprintf(stderr, "armfarm collect: %s expects a number in [0, %d], got '%s'\n", opt, k == 6 ? 1 : 10, val);
      return AF_EXIT_USAGE;
    }
  }
  if (!o->env_name || !o->out || o->episodes < 0) { fprintf(stderr, "armfarm collect: --env, --episodes and --out are required (try --help)\n"); return AF_EXIT_USAGE; }
  return AF_CLI_GO_ON;
}

static float clampf(float x) { return x < -1 ? -1 : x > 1 ? 1 : x; }

// the episodes into the file; the exit code
static int collect(const collect_opts *o) {
  char err[512], *cfg = af_cli_env_config(o->config_file, o->sets, o->nsets);
  if (!cfg) return AF_EXIT_USAGE;
  af_env *env = af_env_make(o->env_name, cfg, err, sizeof err);
  free(cfg);
  if (!env) { fprintf(stderr, "armfarm collect: %s\n", err); return AF_EXIT_USAGE; }
  const af_env_spec *s = af_env_get_spec(env);
  const int od = s->obs_dim, ad = s->act_dim;
  float *buf = calloc((size_t)2 * od + ad, sizeof(float));
  af_dataset_writer *w = buf ? af_dataset_open(o->out, o->env_name, od, ad, 1, s->horizon, (uint64_t)o->seed, err, sizeof err) : NULL;
  int rc = AF_EXIT_FAIL;
  if (!w) { fprintf(stderr, "armfarm collect: %s\n", buf ? err : "out of memory"); goto done; }
  float *obs = buf, *next = buf + od, *act = buf + 2 * od;
  af_rng rng;
  af_rng_seed(&rng, af_seed_derive((uint64_t)o->seed, 0xC011));
  long n[2] = {0, 0}, wins[2] = {0, 0};
  double t0 = af_now();
  for (long j = 0; j < o->episodes; j++) {
    int scripted = floor((double)(j + 1) * o->scripted) > floor((double)j * o->scripted);
    uint8_t src = scripted ? AF_SRC_SCRIPTED : AF_SRC_RANDOM;
    if (af_env_reset(env, af_seed_derive((uint64_t)o->seed, 11) + (uint64_t)j, obs)) {
      fprintf(stderr, "armfarm collect: episode %ld: reset failed: %s\n", j, af_env_last_error(env));
      goto done;
    }
    int te = 0, tr = 0;
    af_info info;
    while (!te && !tr) {
      if (scripted) {
        int r = af_env_scripted_action(env, act);
        if (r) { fprintf(stderr, "armfarm collect: %s: %s\n", o->env_name, af_env_last_error(env)); rc = r == AF_ERR_UNSUP ? AF_EXIT_USAGE : AF_EXIT_FAIL; goto done; }
        for (int k = 0; k < ad && o->noise > 0; k++) act[k] = clampf(act[k] + (float)(o->noise * af_rng_normal(&rng)));
      } else {
        for (int k = 0; k < ad; k++) act[k] = (float)af_rng_range(&rng, -1, 1);
      }
      float r;
      if (af_env_step(env, act, next, &r, &te, &tr, &info)) { fprintf(stderr, "armfarm collect: step: %s\n", af_env_last_error(env)); goto done; }
      uint8_t te8 = (uint8_t)te, tr8 = (uint8_t)tr;
      af_batch b = {.n = 1, .obs = obs, .act = act, .reward = &r, .next_obs = next, .terminated = &te8, .truncated = &tr8, .info = &info};
      if (af_dataset_add(w, &b, &src, err, sizeof err)) { fprintf(stderr, "armfarm collect: %s\n", err); goto done; }
      memcpy(obs, next, sizeof(float) * od);
    }
    n[!scripted]++;
    wins[!scripted] += info.episode.success > 0;
  }
  long eps = af_dataset_episodes(w), trans = af_dataset_transitions(w);
  af_dataset_writer *done_w = w;
  w = NULL;
  if (af_dataset_close(done_w, err, sizeof err)) { fprintf(stderr, "armfarm collect: %s\n", err); goto done; }
  printf("%ld episodes (%ld transitions) of %s in %s (seed %ld, %.1f s): scripted %ld, success %.3f; random %ld, success %.3f\n", eps,
         trans, o->env_name, o->out, o->seed, af_now() - t0, n[0], n[0] ? (double)wins[0] / n[0] : 0, n[1], n[1] ? (double)wins[1] / n[1] : 0);
  rc = AF_EXIT_OK;
done:
  af_dataset_abort(w);
  free(buf);
  af_env_free(env);
  return rc;
}

int af_cmd_collect(int argc, char **argv) {
  collect_opts o;
  int rc = parse_collect_opts(argc, argv, &o);
  if (rc == AF_CLI_GO_ON) rc = collect(&o);
  free(o.sets);
  return rc;
}
