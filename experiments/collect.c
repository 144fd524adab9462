// armfarm collect: episodes of an environment's scripted controller and of uniform random
// actions, in a configured mix, into an episode dataset (agents/dataset.h) for offline
// learning (QT-Opt's offline mode: agent.dataset). Episode j is seeded from the collection
// seed (af_seed_derive(seed, 11) + j), and it is scripted when
// floor((j + 1) p) > floor(j p) for the scripted share p: floor(N p) scripted episodes spread
// evenly, the rest random. Scripted actions can get Gaussian noise (--noise, clipped to
// [-1, 1]), so that the data also holds near misses, from episode j's own noise stream. With
// --threads K, K environments run K episodes at a time and the episodes are written in order:
// the file is the same for every K. The file is written under a temporary name and renamed
// when complete.
#include <math.h>    // floor
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>  // calloc, free
#include <string.h>  // strcmp, memcpy
#include <unistd.h>  // isatty

#include "agents/dataset.h"
#include "base/rng.h"
#include "envs/env.h"
#include "experiments/cli.h"

static void collect_usage(FILE *f) {
  fprintf(f,
    "usage: armfarm collect --env NAME --episodes N --out FILE [--seed S] [--scripted P] [--noise SD]\n"
    "                       [--threads K] [--config FILE] [--set key=value]...\n"
    "  writes N episodes to an episode dataset (README.md, \"Episode datasets\"): a share P of them\n"
    "  (default 0.5) by the environment's scripted controller, with Gaussian noise of std SD on its\n"
    "  actions (default 0), the rest by uniform random actions; prints the success rate of each kind\n"
    "  --threads   K environments run K episodes at a time (default 1); the file is the same for any K\n"
    "  observations with stacked frames (--set obs=proprio+pixels --set frame_stack=K, ...) are stored\n"
    "  as dataset version 2, each frame once as bytes; rendering needs a display (xvfb-run -a armfarm ...)\n");
}

typedef struct {
  const char *env_name, *out, *config_file;
  long episodes, seed, threads;
  double scripted, noise;
  char **sets;
  int nsets;
} collect_opts;

static int parse_collect_opts(int argc, char **argv, collect_opts *o) {
  *o = (collect_opts){.episodes = -1, .threads = 1, .scripted = 0.5, .sets = calloc((size_t)argc + 1, sizeof(char *))};
  if (!o->sets) { fprintf(stderr, "armfarm collect: out of memory\n"); return AF_EXIT_FAIL; }
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) { collect_usage(stdout); return AF_EXIT_OK; }
    static const char *takes[] = {"--env", "--episodes", "--seed", "--out", "--set", "--config", "--scripted", "--noise", "--threads"};
    int k = 0;
    while (k < 9 && strcmp(opt, takes[k])) k++;
    if (k == 9) { fprintf(stderr, "armfarm collect: unknown option '%s' (try --help)\n", opt); return AF_EXIT_USAGE; }
    if (!val) { fprintf(stderr, "armfarm collect: %s needs a value\n", opt); return AF_EXIT_USAGE; }
    i++;
    if (k == 0) o->env_name = val;
    else if (k == 3) o->out = val;
    else if (k == 4) o->sets[o->nsets++] = (char *)val;
    else if (k == 5) o->config_file = val;
    else if (k == 1) { if ((o->episodes = af_cli_long(opt, val, 1, 10000000)) < 0) return AF_EXIT_USAGE; }
    else if (k == 2) { if ((o->seed = af_cli_long(opt, val, 0, 0x7fffffffffffffffL)) < 0) return AF_EXIT_USAGE; }
    else if (k == 8) { if ((o->threads = af_cli_long(opt, val, 1, 256)) < 0) return AF_EXIT_USAGE; }
    else if (af_parse_double(val, 0, k == 6 ? 1 : 10, k == 6 ? &o->scripted : &o->noise)) {
      fprintf(stderr, "armfarm collect: %s expects a number in [0, %d], got '%s'\n", opt, k == 6 ? 1 : 10, val);
      return AF_EXIT_USAGE;
    }
  }
  if (!o->env_name || !o->out || o->episodes < 0) { fprintf(stderr, "armfarm collect: --env, --episodes and --out are required (try --help)\n"); return AF_EXIT_USAGE; }
  return AF_CLI_GO_ON;
}

static float clampf(float x) { return x < -1 ? -1 : x > 1 ? 1 : x; }

// one worker: its environment, and the rows of the episode it ran (horizon rows at most)
typedef struct {
  const collect_opts *o;
  af_env *env;
  int od, ad, horizon;
  long j;                // the episode to run
  float *obs, *act, *rew, *next;
  uint8_t *te, *tr;
  int len, scripted, success, rc;
  af_info last;          // the info of the episode's last step
  char err[512];
} worker;

// episode j into the worker's rows: its seed, kind and noise stream come from j alone
static void *run_episode(void *p) {
  worker *w = p;
  const collect_opts *o = w->o;
  const int od = w->od, ad = w->ad;
  const long j = w->j;
  w->scripted = floor((double)(j + 1) * o->scripted) > floor((double)j * o->scripted);
  w->len = 0;
  w->rc = AF_EXIT_FAIL;
  af_rng rng;
  af_rng_seed(&rng, af_seed_derive(af_seed_derive((uint64_t)o->seed, 0xC011), (uint64_t)j));
  if (af_env_reset(w->env, af_seed_derive((uint64_t)o->seed, 11) + (uint64_t)j, w->obs)) {
    snprintf(w->err, sizeof w->err, "episode %ld: reset failed: %s", j, af_env_last_error(w->env));
    return NULL;
  }
  int te = 0, tr = 0;
  while (!te && !tr && w->len < w->horizon) {
    float *obs = w->obs + (size_t)w->len * od, *act = w->act + (size_t)w->len * ad, *next = w->next + (size_t)w->len * od;
    if (w->len > 0) memcpy(obs, w->next + (size_t)(w->len - 1) * od, sizeof(float) * od);
    if (w->scripted) {
      int r = af_env_scripted_action(w->env, act);
      if (r) { snprintf(w->err, sizeof w->err, "%s: %s", o->env_name, af_env_last_error(w->env)); w->rc = r == AF_ERR_UNSUP ? AF_EXIT_USAGE : AF_EXIT_FAIL; return NULL; }
      for (int k = 0; k < ad && o->noise > 0; k++) act[k] = clampf(act[k] + (float)(o->noise * af_rng_normal(&rng)));
    } else {
      for (int k = 0; k < ad; k++) act[k] = (float)af_rng_range(&rng, -1, 1);
    }
    if (af_env_step(w->env, act, next, w->rew + w->len, &te, &tr, &w->last)) {
      snprintf(w->err, sizeof w->err, "step: %s", af_env_last_error(w->env));
      return NULL;
    }
    w->te[w->len] = (uint8_t)te;
    w->tr[w->len] = (uint8_t)tr;
    w->len++;
  }
  if (!te && !tr) { snprintf(w->err, sizeof w->err, "episode %ld: no end after the horizon (%d steps)", j, w->horizon); return NULL; }
  w->success = w->last.episode.success > 0;
  w->rc = AF_EXIT_OK;
  return NULL;
}

// the worker's rows into the file; 0 or -1 with the message printed
static int write_episode(af_dataset_writer *dw, worker *w) {
  char err[512];
  uint8_t src = w->scripted ? AF_SRC_SCRIPTED : AF_SRC_RANDOM;
  for (int t = 0; t < w->len; t++) {
    af_info info = t == w->len - 1 ? w->last : (af_info){0};
    af_batch b = {.n = 1, .obs = w->obs + (size_t)t * w->od, .act = w->act + (size_t)t * w->ad, .reward = w->rew + t,
                  .next_obs = w->next + (size_t)t * w->od, .terminated = w->te + t, .truncated = w->tr + t, .info = &info};
    if (af_dataset_add(dw, &b, &src, err, sizeof err)) { fprintf(stderr, "armfarm collect: %s\n", err); return -1; }
  }
  return 0;
}

static void workers_free(worker *ws, int K) {
  for (int k = 0; ws && k < K; k++) {
    af_env_free(ws[k].env);
    free(ws[k].obs);
  }
  free(ws);
}

// K workers, each with its environment and rows for one episode; NULL with the message printed
static worker *workers_make(const collect_opts *o, const char *cfg, int K) {
  worker *ws = calloc((size_t)K, sizeof *ws);
  if (!ws) { fprintf(stderr, "armfarm collect: out of memory\n"); return NULL; }
  for (int k = 0; k < K; k++) {
    worker *w = ws + k;
    char err[512];
    w->o = o;
    if (!(w->env = af_env_make(o->env_name, cfg, err, sizeof err))) {
      fprintf(stderr, "armfarm collect: %s\n", err);
      workers_free(ws, K);
      return NULL;
    }
    const af_env_spec *s = af_env_get_spec(w->env);
    w->od = s->obs_dim, w->ad = s->act_dim, w->horizon = s->horizon;
    size_t H = (size_t)w->horizon, floats = H * (2 * (size_t)w->od + (size_t)w->ad + 1), bytes = floats * sizeof(float) + 2 * H;
    char *mem = calloc(1, bytes);
    if (!mem) { fprintf(stderr, "armfarm collect: out of memory\n"); workers_free(ws, K); return NULL; }
    w->obs = (float *)mem;
    w->next = w->obs + H * w->od;
    w->act = w->next + H * w->od;
    w->rew = w->act + H * w->ad;
    w->te = (uint8_t *)(w->rew + H);
    w->tr = w->te + H;
  }
  return ws;
}

// the episodes into the file, K at a time; the exit code
static int collect(const collect_opts *o) {
  char err[512], *cfg = af_cli_env_config(o->config_file, o->sets, o->nsets);
  if (!cfg) return AF_EXIT_USAGE;
  const int K = (int)(o->threads < o->episodes ? o->threads : o->episodes);
  worker *ws = workers_make(o, cfg, K);
  free(cfg);
  if (!ws) return AF_EXIT_USAGE;
  const af_env_spec *s = af_env_get_spec(ws[0].env);
  // the file's folder is made when missing (as train makes --out)
  const char *slash = strrchr(o->out, '/');
  if (slash && slash != o->out) {
    char dir[4096];
    int len = (int)(slash - o->out);
    if (len >= (int)sizeof dir || (snprintf(dir, sizeof dir, "%.*s", len, o->out), af_mkdirs(dir))) {
      fprintf(stderr, "armfarm collect: cannot make the folder of %s\n", o->out);
      workers_free(ws, K);
      return AF_EXIT_FAIL;
    }
  }
  // observations with stacked frames are stored a frame once (version 2); a goal image is not
  int rc = AF_EXIT_FAIL, tty = isatty(2), fr_ok;
  af_dataset_frames fr = af_dataset_frames_of(s, &fr_ok);
  af_dataset_writer *dw = NULL;
  if (!fr_ok) { fprintf(stderr, "armfarm collect: %s: observations with a goal image cannot be stored in a dataset\n", o->env_name); rc = AF_EXIT_USAGE; goto done; }
  dw = af_dataset_open(o->out, o->env_name, s->obs_dim, s->act_dim, &fr, 1, s->horizon, (uint64_t)o->seed, err, sizeof err);
  if (!dw) { fprintf(stderr, "armfarm collect: %s\n", err); goto done; }
  long n[2] = {0, 0}, wins[2] = {0, 0};
  double t0 = af_now();
  pthread_t th[256];
  for (long j0 = 0; j0 < o->episodes; j0 += K) {
    // a round: K episodes at once (the first on this thread), then written in order
    int m = (int)(o->episodes - j0 < K ? o->episodes - j0 : K), started = 1;
    for (int k = 0; k < m; k++) ws[k].j = j0 + k;
    for (int k = 1; k < m; k++, started++)
      if (pthread_create(th + k, NULL, run_episode, ws + k)) { fprintf(stderr, "armfarm collect: cannot start a thread\n"); break; }
    run_episode(ws);
    int joined = 1;
    for (int k = 1; k < started; k++) joined &= pthread_join(th[k], NULL) == 0;
    if (started < m || !joined) { if (joined) fprintf(stderr, "armfarm collect: a thread could not be joined\n"); goto done; }
    for (int k = 0; k < m; k++) {
      if (ws[k].rc) { fprintf(stderr, "armfarm collect: %s\n", ws[k].err); rc = ws[k].rc; goto done; }
      if (write_episode(dw, ws + k)) goto done;
      n[!ws[k].scripted]++;
      wins[!ws[k].scripted] += ws[k].success;
    }
    if (tty) fprintf(stderr, "\r  %ld/%ld episodes", j0 + m, o->episodes);
  }
  if (tty) fprintf(stderr, "\n");
  long eps = af_dataset_episodes(dw), trans = af_dataset_transitions(dw);
  af_dataset_writer *done_w = dw;
  dw = NULL;
  if (af_dataset_close(done_w, err, sizeof err)) { fprintf(stderr, "armfarm collect: %s\n", err); goto done; }
  printf("%ld episodes (%ld transitions) of %s in %s (seed %ld, %d thread%s, %.1f s): scripted %ld, success %.3f; random %ld, success %.3f\n", eps,
         trans, o->env_name, o->out, o->seed, K, K == 1 ? "" : "s", af_now() - t0, n[0], n[0] ? (double)wins[0] / n[0] : 0, n[1], n[1] ? (double)wins[1] / n[1] : 0);
  rc = AF_EXIT_OK;
done:
  af_dataset_abort(dw);
  workers_free(ws, K);
  return rc;
}

int af_cmd_collect(int argc, char **argv) {
  collect_opts o;
  int rc = parse_collect_opts(argc, argv, &o);
  if (rc == AF_CLI_GO_ON) rc = collect(&o);
  free(o.sets);
  return rc;
}
