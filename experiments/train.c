// armfarm train: one training run. A run document {"env": {"name", ...config}, "agent":
// {"name", ...hyperparameters}, "train": {...}, "eval_envs": {...}} from --config, --set
// edits and flags. N environments (train.num_envs) are stepped by K threads (train.threads)
// through the vectorized runner; the agent acts on all N at once and observes N transitions
// per step. Writes config.json, progress.csv (one row per finished episode), eval.csv
// (deterministic evaluation) and eval_NAME.csv per evaluation setting, checkpoint.bin, and
// resume/ checkpoints; prints where the time went.
#include <errno.h>     // errno
#include <fcntl.h>     // open
#include <math.h>      // sqrt
#include <stdio.h>
#include <stdlib.h>    // calloc, free
#include <string.h>    // strcmp
#include <sys/file.h>  // flock
#include <sys/stat.h>  // mkdir, stat
#include <unistd.h>    // isatty, truncate

#include <dirent.h>     // opendir
#include <cjson/cJSON.h>
#include "agents/agent.h"
#include "agents/dataset.h"  // train.record
#include "agents/nn/nn.h"  // checkpoint files
#include "agents/vice.h"
#include "base/rng.h"
#include "envs/curriculum.h"
#include "envs/env.h"
#include "envs/render.h"  // af_write_png
#include "envs/vecenv.h"
#include "experiments/cli.h"

typedef struct { int steps, seed, eval_every, eval_episodes, checkpoint_every, num_envs, threads, overlap, record; double timeout_s; char eval_spread[AF_P_STRING_MAX]; } train_cfg;

static const af_param train_params[] = {
  {"steps", AF_P_INT, offsetof(train_cfg, steps), 100000, 1, 1e9, NULL, "environment steps over all environments (rounded up to a multiple of num_envs)"},
  {"seed", AF_P_INT, offsetof(train_cfg, seed), 0, 0, 2147483647, NULL, "run seed: every random draw derives from it"},
  {"eval_every", AF_P_INT, offsetof(train_cfg, eval_every), 5000, 1, 1e9, NULL, "steps between deterministic evaluations"},
  {"eval_episodes", AF_P_INT, offsetof(train_cfg, eval_episodes), 10, 1, 10000, NULL, "episodes per evaluation"},
  {"eval_spread", AF_P_STRING, offsetof(train_cfg, eval_spread), 0, 0, 0, "",
   "a task entry of the environment's randomization table (a door's goal_angle): evaluation episode k of E sets it to point k of E evenly spaced from its range's low end to its high end (\"\": drawn)"},
  {"checkpoint_every", AF_P_INT, offsetof(train_cfg, checkpoint_every), 50000, 1, 1e9, NULL, "steps between checkpoints"},
  {"num_envs", AF_P_INT, offsetof(train_cfg, num_envs), 1, 1, 4096, NULL, "environments stepped together; the agent acts on all of them at once"},
  {"threads", AF_P_INT, offsetof(train_cfg, threads), 1, 1, 256, NULL, "threads stepping the environments (the curves do not depend on it)"},
  {"overlap", AF_P_BOOL, offsetof(train_cfg, overlap), 0, 0, 1, NULL,
   "act before the updates that are due and make them while the environments step (the policy acts one round of updates behind; the curves still do not depend on threads)"},
  {"record", AF_P_BOOL, offsetof(train_cfg, record), 0, 0, 1, NULL,
   "append every finished training episode to OUT/episodes.afds, an episode dataset (written when the run ends; such a run cannot be resumed)"},
  {"timeout_s", AF_P_DOUBLE, offsetof(train_cfg, timeout_s), 0, 0, 1e9, NULL,
   "wall-time limit of one invocation in seconds (0: none); past it the run stops with an error (armfarm run records it failed)"},
};
#define N_TRAIN ((int)(sizeof train_params / sizeof train_params[0]))

static void train_usage(FILE *f) {
  fprintf(f,
    "usage: armfarm train --env NAME --agent NAME [--config FILE] [--set key=value]... --steps N --seed S --out DIR\n"
    "                     [--eval-every K] [--eval-episodes E] [--checkpoint-every C] [--resume]\n"
    "  --config    a run document: {\"env\": {\"name\": ..., env keys}, \"agent\": {\"name\": ..., hyperparameters},\n"
    "              \"train\": {train keys}}; flags and --set (dotted paths such as agent.lr=0.001,\n"
    "              env.reward=sparse, train.num_envs=8) override it\n"
    "  --out       run folder (created; refused if it already holds a run)\n"
    "  --resume    continue the run in --out from its last checkpoint (same configuration only);\n"
    "              the curves come out as if it had never stopped\n"
    "  writes config.json, progress.csv (per episode), eval.csv (per evaluation), checkpoint.bin\n"
    "  network numerics run on agent.threads threads (default 1)\n"
    "train keys:\n");
  af_params_print(f, train_params, N_TRAIN, "  ");
  fprintf(f, "agents (--agent NAME --help for hyperparameters): %s\n", af_agent_names());
}

// ---- the run document ----
// a section of the run document as its own object (created if absent)
static cJSON *section(cJSON *doc, const char *name) {
  cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, name);
  if (!s) s = cJSON_AddObjectToObject(doc, name);
  return s;
}

// the section without its "name", as a JSON string for the env or agent maker
static char *without_name(const cJSON *s) {
  cJSON *c = cJSON_Duplicate(s, 1);
  cJSON_DeleteItemFromObjectCaseSensitive(c, "name");
  char *out = cJSON_PrintUnformatted(c);
  cJSON_Delete(c);
  return out;
}

// dst's keys overridden by src's, recursively for objects
static void merge(cJSON *dst, const cJSON *src) {
  for (const cJSON *it = src->child; it; it = it->next) {
    cJSON *d = cJSON_GetObjectItemCaseSensitive(dst, it->string);
    if (d && cJSON_IsObject(d) && cJSON_IsObject(it)) merge(d, it);
    else if (d) cJSON_ReplaceItemInObjectCaseSensitive(dst, it->string, cJSON_Duplicate(it, 1));
    else cJSON_AddItemToObject(dst, it->string, cJSON_Duplicate(it, 1));
  }
}

// ---- a run document made real: checked sections, environments, agent ----
typedef struct {
  train_cfg tc;
  const char *env_name, *agent_name;  // inside the document
  char *env_cfg, *agent_cfg;
  af_vecenv *vec;      // the N training environments
  af_env *eval_env;    // deterministic evaluation; also the agent's environment
  af_env **extra_env;  // named evaluation settings
  char **extra_name;
  int n_extra;
  af_agent *ag;
  int has_cur;         // a difficulty curriculum over the training environments
  af_curriculum cur;
  int has_vice;        // a learned reward (the "reward" section), made when training starts
  af_vice_cfg vcfg;
  af_vice *vice;
} run_setup;

static void setup_free(run_setup *r) {
  free(r->env_cfg);
  free(r->agent_cfg);
  af_vecenv_free(r->vec);
  af_env_free(r->eval_env);
  for (int i = 0; i < r->n_extra; i++) {
    af_env_free(r->extra_env[i]);
    free(r->extra_name[i]);
  }
  free(r->extra_env);
  free(r->extra_name);
  af_agent_free(r->ag);
  af_vice_free(r->vice);
  memset(r, 0, sizeof *r);
}

// top-level keys of a run document, with a suggestion for a misspelt one
static int check_top_keys(const cJSON *doc, char *err, size_t errsz) {
  // backend and slurm: how armfarm run runs an experiment file's runs (train ignores them);
  // about: a note for readers of the file (why the budget, what it reproduces), a string
  static const char *top[] = {"name", "env", "agent", "train", "eval_envs", "curriculum", "reward", "sweep", "jobs", "backend", "slurm", "about"};
  for (const cJSON *it = doc->child; it; it = it->next) {
    int known = 0, bd = 99;
    const char *best = NULL;
    if (!strcmp(it->string, "about") && !cJSON_IsString(it)) { snprintf(err, errsz, "about: expected a string"); return -1; }
    for (int i = 0; i < 12; i++) {
      known |= !strcmp(it->string, top[i]);
      int d = af_edit_distance(it->string, top[i]);
      if (d < bd) { bd = d; best = top[i]; }
    }
    if (known) continue;
    if (bd <= (int)strlen(it->string) / 3 + 1) snprintf(err, errsz, "%s: unknown key (did you mean '%s'?)", it->string, best);
    else snprintf(err, errsz, "%s: unknown key (name, env, agent, train, eval_envs, curriculum, reward, sweep, jobs, backend, slurm, about)", it->string);
    return -1;
  }
  return 0;
}

// the train section against its table
static int parse_train(const cJSON *ts, train_cfg *tc, char *err, size_t errsz) {
  af_params_default(tc, train_params, N_TRAIN);
  for (const cJSON *it = ts->child; it; it = it->next) {
    const af_param *p = af_params_find(train_params, N_TRAIN, it->string);
    if (!p) {
      const char *sg = af_params_suggest(train_params, N_TRAIN, it->string);
      snprintf(err, errsz, "train.%s: unknown key%s%s%s", it->string, sg ? " (did you mean '" : "", sg ? sg : "", sg ? "'?)" : "");
      return -1;
    }
    if (af_param_set(tc, p, it, "train", err, errsz)) return -1;
  }
  if (tc->eval_spread[0] && tc->eval_episodes < 2) {
    snprintf(err, errsz, "train.eval_spread: needs at least 2 eval_episodes to spread the tasks over (got %d)", tc->eval_episodes);
    return -1;
  }
  return 0;
}

// named evaluation settings: the training environment with overrides
static int make_eval_envs(run_setup *r, const cJSON *ee, char *err, size_t errsz) {
  if (ee && !cJSON_IsObject(ee)) { snprintf(err, errsz, "eval_envs: expected an object of name: environment overrides"); return -1; }
  int n = cJSON_GetArraySize(ee);
  r->extra_env = calloc((size_t)n + 1, sizeof *r->extra_env);
  r->extra_name = calloc((size_t)n + 1, sizeof *r->extra_name);
  if (!r->extra_env || !r->extra_name) { snprintf(err, errsz, "out of memory"); return -1; }
  char e2[400];
  for (const cJSON *it = ee ? ee->child : NULL; it; it = it->next) {
    int okname = *it->string != 0 && strlen(it->string) < 64;
    for (const char *c = it->string; *c; c++) okname &= (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
    if (!okname || !cJSON_IsObject(it)) { snprintf(err, errsz, "eval_envs.%.64s: expected a name of [a-z0-9_] (under 64 characters) holding an object of environment keys", it->string); return -1; }
    cJSON *merged = cJSON_Parse(r->env_cfg);
    merge(merged, it);
    char *mc = cJSON_PrintUnformatted(merged);
    cJSON_Delete(merged);
    af_env *e = af_env_make(r->env_name, mc, e2, sizeof e2);
    free(mc);
    if (!e) { snprintf(err, errsz, "eval_envs.%s: %s", it->string, e2); return -1; }
    r->extra_env[r->n_extra] = e;
    r->extra_name[r->n_extra++] = strdup(it->string);
  }
  return 0;
}

// every error names its place in the document (env..., agent.KEY, train.KEY, eval_envs.NAME)
// an agent's progress line from long work inside one call (qtopt's pretraining), on stderr
static void agent_progress(void *ctx, const char *line) {
  (void)ctx;
  fprintf(stderr, "armfarm train: %s\n", line);
}

static int setup(cJSON *doc, run_setup *r, char *err, size_t errsz) {
  memset(r, 0, sizeof *r);
  if (check_top_keys(doc, err, errsz)) return -1;
  cJSON *es = section(doc, "env"), *as = section(doc, "agent"), *ts = section(doc, "train");
  const char *which = !cJSON_IsObject(es) ? "env" : !cJSON_IsObject(as) ? "agent" : !cJSON_IsObject(ts) ? "train" : NULL;
  if (which) { snprintf(err, errsz, "%s: expected an object", which); return -1; }
  cJSON *en = cJSON_GetObjectItemCaseSensitive(es, "name"), *an = cJSON_GetObjectItemCaseSensitive(as, "name");
  if (!cJSON_IsString(en)) { snprintf(err, errsz, "env.name: expected the environment's name (see 'armfarm envs')"); return -1; }
  if (!cJSON_IsString(an)) { snprintf(err, errsz, "agent.name: expected the agent's name (%s)", af_agent_names()); return -1; }
  r->env_name = en->valuestring;
  r->agent_name = an->valuestring;
  if (parse_train(ts, &r->tc, err, errsz)) return -1;
  // the training environments, the evaluation environment, the agent
  char e2[400];
  r->env_cfg = without_name(es);
  r->agent_cfg = without_name(as);
  if (!(r->vec = af_vecenv_make(r->env_name, r->env_cfg, r->tc.num_envs, r->tc.threads, e2, sizeof e2)) ||
      !(r->eval_env = af_env_make(r->env_name, r->env_cfg, e2, sizeof e2))) {
    snprintf(err, errsz, "env: %s", e2);
    return -1;
  }
  // train.eval_spread names a task entry of the evaluation environment (checked, then off
  // until an evaluation)
  if (r->tc.eval_spread[0] && af_env_set_task_spread(r->eval_env, r->tc.eval_spread, 0, r->tc.eval_episodes)) {
    snprintf(err, errsz, "train.eval_spread: %s", af_env_last_error(r->eval_env));
    return -1;
  }
  af_env_set_task_spread(r->eval_env, NULL, 0, 0);
  // the curriculum: checked against the environment; its levels are set when training starts
  const cJSON *cs = cJSON_GetObjectItemCaseSensitive(doc, "curriculum");
  if (cs && af_curriculum_configure(&r->cur, cs, af_vecenv_spec(r->vec), err, errsz)) return -1;
  // a negative level leaves the difficulty drawn: a probe that changes nothing
  if (cs && af_env_set_difficulty(r->eval_env, -1)) { snprintf(err, errsz, "curriculum: %s", af_env_last_error(r->eval_env)); return -1; }
  r->has_cur = cs != NULL;
  // the budget as the loop runs it: steps rounded up to a multiple of num_envs
  long total = ((long)r->tc.steps + r->tc.num_envs - 1) / r->tc.num_envs * r->tc.num_envs;
  af_agent_setup as_ = {.spec = af_env_get_spec(r->eval_env), .num_envs = r->tc.num_envs, .seed = (uint64_t)r->tc.seed,
                        .env = r->eval_env, .total_steps = total, .progress = agent_progress};
  if (!(r->ag = af_agent_make(r->agent_name, r->agent_cfg, &as_, e2, sizeof e2))) {
    snprintf(err, errsz, "%s%s", strncmp(e2, "agent.", 6) ? "agent: " : "", e2);
    return -1;
  }
  // a learned reward: checked here, made when training starts (its examples take a while)
  const cJSON *vs = cJSON_GetObjectItemCaseSensitive(doc, "reward");
  if (vs && af_vice_configure(&r->vcfg, vs, err, errsz)) return -1;
  if (vs && af_agent_set_reward_hook(r->ag, NULL, NULL, e2, sizeof e2)) { snprintf(err, errsz, "reward: %s", e2); return -1; }
  r->has_vice = vs != NULL;
  return make_eval_envs(r, cJSON_GetObjectItemCaseSensitive(doc, "eval_envs"), err, errsz);
}

// the reward learner, its positives drawn, attached to the agent; 0, or -1 with a message
static int make_reward_learner(run_setup *r, char *err, size_t errsz) {
  if (!r->has_vice) return 0;
  // the hook's batch is the agent's
  cJSON *ac = cJSON_Parse(af_agent_config_json(r->ag));
  const cJSON *bj = cJSON_GetObjectItemCaseSensitive(ac, "batch");
  int hb = cJSON_IsNumber(bj) ? (int)bj->valuedouble : 0;
  cJSON_Delete(ac);
  char e2[400];
  if (hb < 1) { snprintf(err, errsz, "reward: agent %s has no batch size to plan the classifier for", r->agent_name); return -1; }
  if (!(r->vice = af_vice_make(&r->vcfg, af_env_get_spec(r->eval_env), r->eval_env, af_seed_derive((uint64_t)r->tc.seed, 14), hb,
                               r->tc.num_envs, e2, sizeof e2))) {
    snprintf(err, errsz, "%s", e2);
    return -1;
  }
  return af_agent_set_reward_hook(r->ag, af_vice_reward_hook, r->vice, err, errsz) ? -1 : 0;
}

int af_train_check(const char *doc_json, char *err, size_t errsz) {
  cJSON *doc = cJSON_Parse(doc_json);
  if (!doc || !cJSON_IsObject(doc)) { snprintf(err, errsz, "the run document is not a JSON object"); cJSON_Delete(doc); return -1; }
  run_setup r;
  int rc = setup(doc, &r, err, errsz);
  setup_free(&r);
  cJSON_Delete(doc);
  return rc;
}

// the resolved run: every default filled in (owned string)
static char *resolved_config(const run_setup *rs, cJSON *doc) {
  cJSON *res = cJSON_CreateObject(), *re = cJSON_Parse(af_env_config_json(rs->eval_env)), *ra = cJSON_Parse(af_agent_config_json(rs->ag));
  cJSON_AddItemToObject(re, "name", cJSON_CreateString(rs->env_name));
  cJSON_AddItemToObject(ra, "name", cJSON_CreateString(rs->agent_name));
  cJSON *rt = cJSON_CreateObject();
  af_params_to_json(rt, &rs->tc, train_params, N_TRAIN);
  // the time limit is no part of what the run is: a run resumed with another limit is the same
  cJSON_DeleteItemFromObjectCaseSensitive(rt, "timeout_s");
  cJSON_AddItemToObject(res, "env", re);
  cJSON_AddItemToObject(res, "agent", ra);
  cJSON_AddItemToObject(res, "train", rt);
  if (rs->has_cur) {
    cJSON *rc = cJSON_CreateObject();
    af_params_to_json(rc, &rs->cur, af_curriculum_params, af_curriculum_nparams);
    cJSON_AddItemToObject(res, "curriculum", rc);
  }
  if (rs->has_vice) {
    cJSON *rv = cJSON_CreateObject();
    af_params_to_json(rv, &rs->vcfg, af_vice_params, af_vice_nparams);
    cJSON_AddItemToObject(res, "reward", rv);
  }
  cJSON *ee = cJSON_GetObjectItemCaseSensitive(doc, "eval_envs");
  if (ee) cJSON_AddItemToObject(res, "eval_envs", cJSON_Duplicate(ee, 1));
  char *s = cJSON_Print(res);
  cJSON_Delete(res);
  return s;
}

// ---- the trainer: batch buffers, the curves, counters and the episodes in progress ----
typedef struct {
  int N, od, ad, gd, horizon, n_extra;
  const af_env_spec *spec;
  // one batch: observations before and after, the episode's last observation for ended
  // episodes, and what the agent observes
  float *obs, *next, *final_obs, *seen, *act, *rew, *ag, *dg, *eval_obs, *eval_act;
  uint8_t *te, *tr;
  af_info *info;
  // the actions of each environment's episode in progress (N, horizon, ad) and their count:
  // replayed from the episode's seed, they give back its state when resuming; the episodes
  // each environment has started (the vectorized runner's counters, kept for checkpoints)
  float *log;
  int *log_len;
  long *episodes;
  // with a curriculum: each environment's level, and the level of the episodes just stepped
  int has_cur, *levels, *ep_levels;
  // with a learned reward: the learner (the setup's) and each step's true success for it
  af_vice *vice;
  uint8_t *succ;
  // counters and the last figures; episodes ended by a non-finite action, in a row; agent
  // updates skipped for a non-finite loss or gradient, in all and in a row
  long step, episode, nonfinite_run, skipped, skipped_run;
  double last_eval;
  af_agent_stats last;
  // the curves
  FILE *prog, *evf, **extra_f;
  long prog_len, eval_len, *extra_len;
  // where the time went
  double t0, t_env, t_act, t_upd, t_eval, t_log, last_show;
  // train.record: the finished episodes into a dataset
  af_dataset_writer *rec;
  // the evaluation's episode metrics (eval_episodes, n_metrics) for their medians, and with
  // goal images a picture of each episode's goal over its final frame (2 H, E W, 3)
  float *ep_metrics, *sort_buf;
  int n_eval;
  uint8_t *goals_png;
  char *goals_path;
} trainer;

static void trainer_free(trainer *t) {
  af_dataset_abort(t->rec);
  if (t->prog) fclose(t->prog);
  if (t->evf) fclose(t->evf);
  for (int i = 0; i < t->n_extra && t->extra_f; i++)
    if (t->extra_f[i]) fclose(t->extra_f[i]);
  free(t->extra_f);
  free(t->extra_len);
  free(t->obs);
  free(t->te);
  free(t->info);
  free(t->log);
  free(t->log_len);
  free(t->episodes);
  free(t->levels);
  free(t->succ);
  free(t->ep_metrics);
  free(t->goals_png);
  free(t->goals_path);
  memset(t, 0, sizeof *t);
}

// every buffer sized once from the spec: the loop allocates nothing
static int trainer_make(trainer *t, const run_setup *rs) {
  memset(t, 0, sizeof *t);
  const af_env_spec *s = af_vecenv_spec(rs->vec);
  t->spec = s;
  t->N = rs->tc.num_envs;
  t->od = s->obs_dim;
  t->ad = s->act_dim;
  t->gd = s->goal_dim;
  t->horizon = s->horizon;
  t->n_extra = rs->n_extra;
  size_t N = (size_t)t->N, od = (size_t)t->od, ad = (size_t)t->ad, gd = (size_t)t->gd;
  size_t n = N * (4 * od + ad + 1 + 2 * gd) + od + ad;
  float *p = t->obs = calloc(n, sizeof(float));
  t->te = calloc(2 * N, 1);
  t->info = calloc(N, sizeof *t->info);
  t->log = calloc(N * (size_t)t->horizon * ad + 1, sizeof(float));
  t->log_len = calloc(N, sizeof *t->log_len);
  t->episodes = calloc(N, sizeof *t->episodes);
  t->has_cur = rs->has_cur;
  t->levels = calloc(2 * N, sizeof *t->levels);
  t->succ = calloc(N, 1);
  t->extra_f = calloc((size_t)t->n_extra + 1, sizeof *t->extra_f);
  t->extra_len = calloc((size_t)t->n_extra + 1, sizeof *t->extra_len);
  if (!p || !t->te || !t->info || !t->log || !t->log_len || !t->episodes || !t->levels || !t->succ || !t->extra_f || !t->extra_len) return -1;
  t->ep_levels = t->levels + N;
  for (int i = 0; i < t->N; i++) t->levels[i] = rs->has_cur ? rs->cur.start : -1;
  t->tr = t->te + N;
  p += N * od;  // obs is the first block
  t->next = p; p += N * od;
  t->final_obs = p; p += N * od;
  t->seen = p; p += N * od;
  t->act = p; p += N * ad;
  t->rew = p; p += N;
  t->ag = p; p += N * gd;
  t->dg = p; p += N * gd;
  t->eval_obs = p; p += od;
  t->eval_act = p;
  // the evaluation's per-episode metrics, and its goal pictures when the observation has them
  const size_t E = (size_t)rs->tc.eval_episodes, nm = (size_t)s->n_metrics;
  if (!(t->ep_metrics = calloc(E * (nm + 1) + 1, sizeof(float)))) return -1;
  t->sort_buf = t->ep_metrics + E * nm;
  t->n_eval = (int)E;
  if (s->goal_image_offset > 0 && s->pixel_stack > 0 &&
      !(t->goals_png = calloc(E * 2 * (size_t)s->pixel_width * s->pixel_height * 3, 1)))
    return -1;
  return 0;
}

// ---- resuming ----
// The state of a run is the agent, its replay buffer, the counters, the lengths of the CSV
// files, and each environment's episode in progress, which is its episode number and the
// actions taken so far: reset from the episode's seed and replayed, an environment is where
// it was, bit for bit. Evaluation uses fixed seeds and the deterministic policy. A checkpoint
// goes to resume/step_N/, then resume/latest is renamed into place, then the previous one is
// removed: a kill at any point leaves a complete checkpoint.
enum { T_WORDS = 4, T_STATS = 7 };

// 1 when each of the n packed words fits a long
static int counts_fit(const float *words, int n) {
  for (int i = 0; i < n; i++)
    if (af_nn_unpack_u64(words + T_WORDS * i) > INT64_MAX) return 0;
  return 1;
}

static int trainer_file(const char *path, trainer *t, int save, char *err, size_t errsz) {
  const int N = t->N, ne = t->n_extra;
  size_t nw = (size_t)(5 + ne) * T_WORDS, nact = 0;
  for (int i = 0; i < N; i++) nact += (size_t)t->log_len[i] * t->ad;
  float *words = calloc(nw + (size_t)N * T_WORDS + 2 * (size_t)N, sizeof(float)), stats[T_STATS];
  float *eps = words ? words + nw : NULL, *lens = eps ? eps + (size_t)N * T_WORDS : NULL, *lv = lens ? lens + N : NULL;
  float *acts = calloc(N * (size_t)t->horizon * t->ad + 1, sizeof(float));
  int rc = -1;
  if (!words || !acts) { snprintf(err, errsz, "out of memory"); goto done; }
  // with a curriculum, each environment's level follows the actions
  af_tensor tt[6] = {{"trainer", words, nw}, {"trainer_stats", stats, T_STATS}, {"episodes", eps, (size_t)N * T_WORDS},
                     {"episode_lengths", lens, (size_t)N}, {"episode_actions", acts, 0}, {"curriculum_levels", lv, (size_t)N}};
  const int ntt = t->has_cur ? 6 : 5;
  if (save) {
    long v[5] = {t->step, t->episode, t->prog_len, t->eval_len, N};
    for (int i = 0; i < 5; i++) af_nn_pack_u64(words + T_WORDS * i, (uint64_t)v[i]);
    for (int i = 0; i < ne; i++) af_nn_pack_u64(words + T_WORDS * (5 + i), (uint64_t)t->extra_len[i]);
    float sv[T_STATS] = {t->last.critic_loss, t->last.actor_loss, t->last.alpha, t->last.entropy, (float)t->last_eval,
                         (float)(af_now() - t->t0), (float)t->last.updates};
    memcpy(stats, sv, sizeof sv);
    size_t k = 0;
    for (int i = 0; i < N; i++) {
      af_nn_pack_u64(eps + T_WORDS * i, (uint64_t)t->episodes[i]);
      lens[i] = (float)t->log_len[i];
      size_t m = (size_t)t->log_len[i] * t->ad;
      memcpy(acts + k, t->log + (size_t)i * t->horizon * t->ad, m * sizeof(float));
      k += m;
      lv[i] = (float)t->levels[i];
    }
    tt[4].n = nact;
    rc = af_nn_save(path, tt, ntt, err, errsz);
    goto done;
  }
  // the header tensors first: they say how many actions follow; every counter a packed
  // count that fits a long, every episode length a whole number below the horizon
  if (af_nn_load_first(path, tt, 4, err, errsz)) goto done;
  if (!af_nn_packed_ok(words, 5 + ne) || !af_nn_packed_ok(eps, N) || !counts_fit(words, 5 + ne) || !counts_fit(eps, N)) {
    snprintf(err, errsz, "%s: the counters are not packed 64-bit counts", path);
    goto done;
  }
  if (af_nn_unpack_u64(words + T_WORDS * 4) != (uint64_t)N) { snprintf(err, errsz, "%s: saved with another number of environments", path); goto done; }
  if (!(stats[6] >= 0 && stats[6] <= 1e9f && stats[6] == (float)(int)stats[6])) { snprintf(err, errsz, "%s: an update count of %g", path, stats[6]); goto done; }
  nact = 0;
  for (int i = 0; i < N; i++) {
    if (!(lens[i] >= 0 && lens[i] < t->horizon && lens[i] == (float)(int)lens[i])) {
      snprintf(err, errsz, "%s: environment %d's episode length %g is no whole number below the horizon %d", path, i, lens[i], t->horizon);
      goto done;
    }
    nact += (size_t)lens[i] * t->ad;
  }
  tt[4].n = nact;
  if (af_nn_load(path, tt, ntt, err, errsz)) goto done;
  for (int i = 0; i < N && t->has_cur; i++)
    if (!(lv[i] >= 0 && lv[i] < AF_CURRICULUM_MAX_LEVELS && lv[i] == (float)(int)lv[i])) {
      snprintf(err, errsz, "%s: environment %d's curriculum level %g is no level", path, i, lv[i]);
      goto done;
    }
  t->step = (long)af_nn_unpack_u64(words);
  t->episode = (long)af_nn_unpack_u64(words + T_WORDS);
  t->prog_len = (long)af_nn_unpack_u64(words + 2 * T_WORDS);
  t->eval_len = (long)af_nn_unpack_u64(words + 3 * T_WORDS);
  for (int i = 0; i < ne; i++) t->extra_len[i] = (long)af_nn_unpack_u64(words + T_WORDS * (5 + i));
  t->last = (af_agent_stats){.critic_loss = stats[0], .actor_loss = stats[1], .alpha = stats[2], .entropy = stats[3], .updates = (int)stats[6]};
  t->last_eval = stats[4];
  t->t0 = af_now() - stats[5];
  size_t k = 0;
  for (int i = 0; i < N; i++) {
    t->episodes[i] = (long)af_nn_unpack_u64(eps + T_WORDS * i);
    t->log_len[i] = (int)lens[i];
    size_t m = (size_t)t->log_len[i] * t->ad;
    memcpy(t->log + (size_t)i * t->horizon * t->ad, acts + k, m * sizeof(float));
    k += m;
    if (t->has_cur) t->levels[i] = (int)lv[i];
  }
  rc = 0;
done:
  free(words);
  free(acts);
  return rc;
}

// what resume/latest may name: step_N, a folder of resume/ (never "..", "" or a path)
static int is_step_name(const char *s) {
  if (strncmp(s, "step_", 5) != 0 || !s[5]) return 0;
  for (s += 5; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

// a file of the run folder, as an owned path
static char *run_path(const char *out, const char *name) { return af_path_join(out, name); }

static int save_resume(const char *out, af_agent *ag, trainer *t, char *err, size_t errsz) {
  // the folder of this checkpoint, and the one it replaces
  char stepname[64];
  snprintf(stepname, sizeof stepname, "resume/step_%ld", t->step);
  char *latest = run_path(out, "resume/latest"), *dir = run_path(out, stepname), *prev = af_read_file(latest);
  char *pa = af_path_join(dir, "agent.bin"), *pr = af_path_join(dir, "replay.bin"), *pt = af_path_join(dir, "trainer.bin");
  char *pw = af_path_join(dir, "reward.bin");
  int rc = -1;
  if (!latest || !dir || !pa || !pr || !pt || !pw) { snprintf(err, errsz, "out of memory"); goto done; }
  if (af_mkdirs(dir)) { snprintf(err, errsz, "cannot create %.300s", dir); goto done; }
  if (af_agent_save(ag, pa, err, errsz) || af_agent_save_replay(ag, pr, err, errsz) || trainer_file(pt, t, 1, err, errsz) ||
      (t->vice && af_vice_save(t->vice, pw, err, errsz)))
    goto done;
  // publish: the pointer names the newest complete checkpoint
  char line[80];
  int n = snprintf(line, sizeof line, "step_%ld\n", t->step);
  if (af_write_file_atomic(latest, line, (size_t)n, err, errsz)) goto done;
  // the previous checkpoint is no longer needed
  if (prev) {
    prev[strcspn(prev, "\n")] = 0;
    if (is_step_name(prev) && strcmp(prev, stepname + 7) != 0) {
      char *old = af_path_join(out, "resume"), *od = old ? af_path_join(old, prev) : NULL;
      const char *files[4] = {"agent.bin", "replay.bin", "trainer.bin", "reward.bin"};
      for (int i = 0; i < 4 && od; i++) {
        char *f = af_path_join(od, files[i]);
        if (f) remove(f);
        free(f);
      }
      if (od) rmdir(od);
      free(old);
      free(od);
    }
  }
  rc = 0;
done:
  free(latest); free(dir); free(prev); free(pa); free(pr); free(pt); free(pw);
  return rc;
}

// 1 when a checkpoint was loaded, 0 when there is none (start over), -1 on error
static int load_resume(const char *out, af_agent *ag, trainer *t, char *err, size_t errsz) {
  char *lp = run_path(out, "resume/latest"), *latest = lp ? af_read_file(lp) : NULL;
  free(lp);
  if (!latest) return 0;
  latest[strcspn(latest, "\n")] = 0;
  char *res = run_path(out, "resume"), *dir = res ? af_path_join(res, latest) : NULL;
  char *pa = dir ? af_path_join(dir, "agent.bin") : NULL, *pr = dir ? af_path_join(dir, "replay.bin") : NULL;
  char *pt = dir ? af_path_join(dir, "trainer.bin") : NULL, *pw = dir ? af_path_join(dir, "reward.bin") : NULL;
  int rc = -1;
  if (!pa || !pr || !pt || !pw) snprintf(err, errsz, "out of memory");
  else if (!is_step_name(latest)) snprintf(err, errsz, "resume/latest names '%.100s', not a checkpoint of this folder", latest);
  else if (!af_agent_load(ag, pa, err, errsz) && !af_agent_load_replay(ag, pr, err, errsz) && !trainer_file(pt, t, 0, err, errsz) &&
           (!t->vice || !af_vice_load(t->vice, pw, err, errsz)))
    rc = 1;
  free(latest); free(res); free(dir); free(pa); free(pr); free(pt); free(pw);
  return rc;
}

// each environment where the checkpoint left it: its episode reset and its actions replayed
static int replay_episodes(trainer *t, const run_setup *rs, char *err, size_t errsz) {
  if (af_vecenv_restore(rs->vec, (uint64_t)rs->tc.seed, t->episodes, t->obs)) {
    snprintf(err, errsz, "cannot restart the environments' episodes");
    return -1;
  }
  for (int i = 0; i < t->N; i++) {
    af_env *e = af_vecenv_env(rs->vec, i);
    float r, *o = t->obs + (size_t)i * t->od;
    int te = 0, tr = 0;
    for (int k = 0; k < t->log_len[i]; k++) {
      if (af_env_step(e, t->log + ((size_t)i * t->horizon + k) * t->ad, o, &r, &te, &tr, NULL) || te || tr) {
        snprintf(err, errsz, "environment %d: the replayed episode ended early at step %d", i, k + 1);
        return -1;
      }
    }
  }
  return 0;
}

// ---- the run folder and its curves ----
// cut a CSV back to the length a checkpoint recorded; it must be at least that long
static int cut_back(const char *path, long len) {
  struct stat st;
  if (stat(path, &st) != 0 || st.st_size < len) return -1;
  return truncate(path, (off_t)len);
}

// a curve file: new with its header, or cut back to the checkpoint's length and continued
static FILE *open_curve(const char *out, const char *name, const char *header, int resuming, long len) {
  char *path = run_path(out, name);
  FILE *f = NULL;
  if (!path) return NULL;
  if (resuming && cut_back(path, len) != 0) fprintf(stderr, "armfarm train: %s is shorter than its checkpoint says\n", path);
  else if (!(f = fopen(path, resuming ? "a" : "w"))) fprintf(stderr, "armfarm train: cannot write %s\n", path);
  else if (!resuming && fputs(header, f) < 0) { fclose(f); f = NULL; fprintf(stderr, "armfarm train: cannot write %s\n", path); }
  free(path);
  return f;
}

static int open_curves(trainer *t, const run_setup *rs, const char *out, int resuming) {
  // the evaluation files' columns: the common ones, then the environment's episode metrics
  char ev_head[128 + AF_MAX_METRICS * 140] = "step,return,return_std,success,length,time_s";
  for (int m = 0; m < t->spec->n_metrics; m++) {
    size_t l = strlen(ev_head);
    snprintf(ev_head + l, sizeof ev_head - l, ",%s", t->spec->metric_names[m]);
  }
  // and their medians over the evaluation's episodes
  for (int m = 0; m < t->spec->n_metrics; m++) {
    size_t l = strlen(ev_head);
    snprintf(ev_head + l, sizeof ev_head - l, ",%s_median", t->spec->metric_names[m]);
  }
  // with a learned reward: its mean success probability at the episodes' ends, the oracle's
  // queries so far and the positives
  if (t->vice) strcat(ev_head, ",learned_success,queries,positives");
  strcat(ev_head, "\n");
  // the training episodes' columns: the common ones, the environment's episode metrics and,
  // with a curriculum, each episode's level last
  char pr_head[128 + AF_MAX_METRICS * 64] = "step,episode,return,length,success,critic_loss,actor_loss,alpha,entropy,time_s,steps_per_s";
  for (int m = 0; m < t->spec->n_metrics; m++) {
    size_t l = strlen(pr_head);
    snprintf(pr_head + l, sizeof pr_head - l, ",%s", t->spec->metric_names[m]);
  }
  strcat(pr_head, t->has_cur ? ",level\n" : "\n");
  t->prog = open_curve(out, "progress.csv", pr_head, resuming, t->prog_len);
  t->evf = t->prog ? open_curve(out, "eval.csv", ev_head, resuming, t->eval_len) : NULL;
  if (!t->evf) return -1;
  if (t->goals_png && !(t->goals_path = run_path(out, "eval_goals.png"))) return -1;
  for (int i = 0; i < rs->n_extra; i++) {
    char name[96];
    snprintf(name, sizeof name, "eval_%s.csv", rs->extra_name[i]);
    if (!(t->extra_f[i] = open_curve(out, name, ev_head, resuming, t->extra_len[i]))) return -1;
  }
  return 0;
}

// the run folder locked for this process: an exclusive flock on OUT/lock, held until the
// process ends, so that no two processes (runners, train --resume) ever write one run; 0, or
// -1 after one line when another process holds it or the lock cannot be taken
static int lock_run_folder(const char *out) {
  char *path = af_mkdirs(out) ? NULL : run_path(out, "lock");
  int fd = path ? open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644) : -1;
  int rc = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : -1;
  if (rc && fd >= 0 && errno == EWOULDBLOCK) fprintf(stderr, "armfarm train: %s is in use by another process (it holds %s); not touching it\n", out, path);
  else if (rc) fprintf(stderr, "armfarm train: cannot lock %s: %s\n", path ? path : out, strerror(errno));
  if (rc && fd >= 0) close(fd);
  free(path);
  return rc;  // on success fd stays open: the lock lasts as long as the process
}

// is DIR/NAME a symbolic link? (with a message naming it)
static int is_link(const char *dir, const char *name) {
  char *p = af_path_join(dir, name);
  struct stat st;
  int link = p && lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
  if (link) fprintf(stderr, "armfarm train: %s is a symbolic link; a run folder's files are never written through links\n", p);
  free(p);
  return link;
}

// nothing the trainer writes in the run folder may be a symbolic link (a link planted there
// would send the curves, checkpoints or resume files outside it): the files it writes, the
// resume folder and everything in it. 0, or -1 after a message
static int refuse_links(const char *out, const run_setup *rs) {
  static const char *const names[] = {"progress.csv", "eval.csv", "checkpoint.bin", "config.json", "lock", "resume", "train.log",
                                      "classifier_episode.csv", "eval_goals.png"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (is_link(out, names[i])) return -1;
  for (int i = 0; i < rs->n_extra; i++) {
    char name[128];
    snprintf(name, sizeof name, "eval_%s.csv", rs->extra_name[i]);
    if (is_link(out, name)) return -1;
  }
  char *res = af_path_join(out, "resume");
  DIR *d = res ? opendir(res) : NULL;
  int rc = 0;
  for (struct dirent *e; d && rc == 0 && (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && is_link(res, e->d_name)) rc = -1;
  if (d) closedir(d);
  free(res);
  return rc;
}

// the run folder: a new one, or with --resume the same run continued. 1 resuming, 0 new,
// -1 refused (usage), -2 failed
static int open_run_folder(const char *out, const char *resolved, int resume, trainer *t, af_agent *ag) {
  char *prog = run_path(out, "progress.csv"), *cfg = run_path(out, "config.json"), err[512];
  struct stat st;
  int existing = prog && stat(prog, &st) == 0, rc = 0;
  if (existing && !resume) {
    fprintf(stderr, "armfarm train: %s already holds a run (choose another --out, or --resume it)\n", out);
    rc = -1;
  } else if (existing) {
    // the same run only: its resolved configuration must be this one, to the letter
    char *saved = af_read_file(cfg);
    int same = saved && strcmp(saved, resolved) == 0;
    free(saved);
    if (!same) {
      fprintf(stderr, "armfarm train: %s holds a different run (its config.json differs); not resuming\n", out);
      rc = -1;
    } else if ((rc = load_resume(out, ag, t, err, sizeof err)) < 0) {
      fprintf(stderr, "armfarm train: cannot resume %s: %s\n", out, err);
      rc = -2;
    }
  }
  if (rc == 0 && af_mkdirs(out)) { fprintf(stderr, "armfarm train: cannot create %s\n", out); rc = -2; }
  if (rc == 0 && af_write_file_atomic(cfg, resolved, strlen(resolved), err, sizeof err)) { fprintf(stderr, "armfarm train: %s\n", err); rc = -2; }
  free(prog);
  free(cfg);
  return rc;
}

// ---- the loop ----
// one evaluation's means over its episodes, and the environment's episode metrics
typedef struct {
  double ret, ret_std, success, length;
  int nm;
  double metrics[AF_MAX_METRICS], median[AF_MAX_METRICS];  // means and medians over the episodes
  int has_learned;
  double learned;              // the reward learner's success probability at the end, mean
  int queries, positives;
} eval_result;

// the median over the E evaluation episodes of metric m
static double median_of(trainer *t, int m, int nm, int E) {
  float *v = t->sort_buf;
  for (int k = 0; k < E; k++) v[k] = t->ep_metrics[(size_t)k * nm + m];
  for (int i = 1; i < E; i++)  // insertion sort: E is an evaluation's episode count
    for (int j = i; j > 0 && v[j - 1] > v[j]; j--) { float x = v[j]; v[j] = v[j - 1]; v[j - 1] = x; }
  return E % 2 ? v[E / 2] : 0.5 * ((double)v[E / 2 - 1] + v[E / 2]);
}

// episode k's goal image (the observation's goal frame) over its final frame (the newest of
// the stack), as tile k of the evaluation's picture
static void goal_tiles(trainer *t, int k, int E) {
  const af_env_spec *s = t->spec;
  const int W = s->pixel_width, H = s->pixel_height, HW = W * H;
  const float *src[2] = {t->eval_obs + s->goal_image_offset, t->eval_obs + s->pixel_offset + (size_t)(s->pixel_stack - 1) * 3 * HW};
  for (int row = 0; row < 2; row++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++)
        for (int c = 0; c < 3; c++) {
          float v = src[row][(size_t)c * HW + y * W + x];
          t->goals_png[(((size_t)(row * H + y) * E + k) * W + x) * 3 + c] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : lrintf(v));
        }
}

// deterministic evaluation over E episodes with fixed seeds: the means of return (and its
// std), success, length and every episode metric of the environment, and the metrics'
// medians; with pics, the goal and final frame of every episode into t->goals_png
static int evaluate(af_env *env, af_agent *ag, const train_cfg *tc, trainer *t, int pics, eval_result *res, char *err, size_t errsz) {
  double s = 0, s2 = 0, sc = 0, sl = 0, sm[AF_MAX_METRICS] = {0}, sp = 0;
  const int nm = af_env_get_spec(env)->n_metrics;
  for (int k = 0; k < tc->eval_episodes; k++) {
    if (tc->eval_spread[0] && af_env_set_task_spread(env, tc->eval_spread, k, tc->eval_episodes)) {
      snprintf(err, errsz, "evaluation: %s", af_env_last_error(env));
      return -1;
    }
    if (af_env_reset(env, af_seed_derive(af_seed_derive((uint64_t)tc->seed, 12), (uint64_t)k), t->eval_obs)) {
      snprintf(err, errsz, "evaluation: %s", af_env_last_error(env));
      return -1;
    }
    af_info info;
    float r;
    int te = 0, tr = 0;
    while (!te && !tr) {
      if (af_agent_act(ag, t->eval_act, t->eval_obs, 1, 1)) { snprintf(err, errsz, "evaluation: %s", af_agent_last_error(ag)); return -1; }
      // a non-finite action ends the episode as diverged, as in training
      int rc = af_env_step(env, t->eval_act, t->eval_obs, &r, &te, &tr, &info);
      if (rc == AF_ERR_ARG) rc = af_env_end_diverged(env, t->eval_obs, &r, &te, &tr, &info);
      if (rc) { snprintf(err, errsz, "evaluation: %s", af_env_last_error(env)); return -1; }
    }
    s += info.episode.ret;
    s2 += (double)info.episode.ret * info.episode.ret;
    sc += info.episode.success;
    sl += info.episode.length;
    for (int m = 0; m < nm; m++) {
      sm[m] += info.episode.metrics[m];
      t->ep_metrics[(size_t)k * nm + m] = info.episode.metrics[m];
    }
    if (pics) goal_tiles(t, k, tc->eval_episodes);
    if (tc->eval_spread[0]) af_env_set_task_spread(env, NULL, 0, 0);  // n = 0 cannot fail
    // what the learned reward thinks of the episode's last state
    if (t->vice) sp += af_vice_prob(t->vice, t->eval_obs);
  }
  int E = tc->eval_episodes;
  *res = (eval_result){.ret = s / E, .ret_std = E > 1 ? sqrt(fmax(0, (s2 - s * s / E) / (E - 1))) : 0, .success = sc / E,
                       .length = sl / E, .nm = nm};
  for (int m = 0; m < nm; m++) {
    res->metrics[m] = sm[m] / E;
    res->median[m] = median_of(t, m, nm, E);
  }
  if (t->vice) {
    af_vice_stats vs;
    af_vice_get_stats(t->vice, &vs);
    res->has_learned = 1;
    res->learned = sp / E;
    res->queries = vs.queries;
    res->positives = vs.positives;
  }
  return 0;
}

// the batch the agent observes: each ended episode's last observation, and the goals in it
static void assemble_batch(trainer *t, af_batch *b) {
  const size_t od = (size_t)t->od, gd = (size_t)t->gd;
  for (int i = 0; i < t->N; i++) {
    const float *src = (t->te[i] || t->tr[i]) ? t->final_obs : t->next;
    memcpy(t->seen + i * od, src + i * od, od * sizeof(float));
    if (gd) {
      memcpy(t->ag + i * gd, t->seen + i * od + t->spec->achieved_offset, gd * sizeof(float));
      memcpy(t->dg + i * gd, t->seen + i * od + t->spec->desired_offset, gd * sizeof(float));
    }
  }
  *b = (af_batch){.n = t->N, .obs = t->obs, .act = t->act, .reward = t->rew, .next_obs = t->seen, .terminated = t->te,
                  .truncated = t->tr, .info = t->info, .achieved = gd ? t->ag : NULL, .desired = gd ? t->dg : NULL};
}

// an episode's environment metrics as columns; -1 when the write failed
static int episode_metrics(FILE *f, const af_episode *ep, int nm) {
  for (int m = 0; m < nm; m++)
    if (fprintf(f, ",%.6g", ep->metrics[m]) < 0) return -1;
  return 0;
}

// ended episodes become rows of progress.csv; the others extend their action logs
static int log_episodes(trainer *t, long step0) {
  for (int i = 0; i < t->N; i++) {
    if (t->te[i] || t->tr[i]) {
      const af_episode *ep = &t->info[i].episode;
      long step = step0 + i + 1;
      double el = af_now() - t->t0;
      if (fprintf(t->prog, "%ld,%ld,%.6g,%d,%d,%.6g,%.6g,%.6g,%.6g,%.3f,%.1f", step, t->episode, ep->ret, (int)ep->length,
                  (int)ep->success, t->last.critic_loss, t->last.actor_loss, t->last.alpha, t->last.entropy, el, step / el) < 0 ||
          episode_metrics(t->prog, ep, t->spec->n_metrics) ||
          (t->has_cur && fprintf(t->prog, ",%d", t->ep_levels[i]) < 0) || fputc('\n', t->prog) == EOF)
        return -1;
      t->episode++;
      t->log_len[i] = 0;
    } else if (t->log_len[i] < t->horizon) {
      memcpy(t->log + ((size_t)i * t->horizon + t->log_len[i]) * t->ad, t->act + (size_t)i * t->ad, sizeof(float) * t->ad);
      t->log_len[i]++;
    }
  }
  return 0;
}

// episodes that a non-finite action ended (the runner ends them as diverged), in a row; 1
// when there have been too many to go on
#define MAX_NONFINITE_EPISODES 100
static int count_nonfinite(trainer *t) {
  for (int i = 0; i < t->N; i++) {
    if (!t->te[i] && !t->tr[i]) continue;
    int finite = 1;
    for (int k = 0; k < t->ad; k++) finite &= isfinite(t->act[(size_t)i * t->ad + k]) != 0;
    t->nonfinite_run = finite ? 0 : t->nonfinite_run + 1;
  }
  return t->nonfinite_run >= MAX_NONFINITE_EPISODES;
}

// updates the agent skipped for a non-finite loss or gradient (a run of them is only broken
// by a batch step whose updates were all taken); 1 when there have been too many in a row
#define MAX_SKIPPED_UPDATES 1000
static int count_skipped(trainer *t, const af_agent_stats *st) {
  t->skipped += st->skipped;
  if (st->updates) t->skipped_run = st->skipped ? t->skipped_run + st->skipped : 0;
  return t->skipped_run >= MAX_SKIPPED_UPDATES;
}

// the agent's due updates as a task beside the environments' step (train.overlap)
typedef struct { af_agent *ag; af_agent_stats st; } update_job;
static int run_update(void *p) {
  update_job *j = p;
  return af_agent_update(j->ag, &j->st);
}

// one batch step: act on N observations, step N environments, observe, learn (with
// train.overlap: act, then learn while the environments step, then observe)
static int train_step(trainer *t, run_setup *rs, char *err, size_t errsz) {
  double a0 = af_now();
  if (t->has_cur) af_vecenv_levels(rs->vec, t->ep_levels);
  if (af_agent_act(rs->ag, t->act, t->obs, t->N, 0)) { snprintf(err, errsz, "%s", af_agent_last_error(rs->ag)); return -1; }
  double a1 = af_now();
  update_job job = {.ag = rs->ag};
  int urc = AF_OK, rc = rs->tc.overlap ? af_vecenv_step_with(rs->vec, run_update, &job, &urc, t->act, t->next, t->final_obs, t->rew, t->te, t->tr, t->info)
                                       : af_vecenv_step(rs->vec, t->act, t->next, t->final_obs, t->rew, t->te, t->tr, t->info);
  if (rc) { snprintf(err, errsz, "environment step failed: %s", af_vecenv_last_error(rs->vec)); return -1; }
  if (urc) { snprintf(err, errsz, "%s", af_agent_last_error(rs->ag)); return -1; }
  double a2 = af_now();
  if (count_nonfinite(t)) {
    snprintf(err, errsz, "the policy keeps producing non-finite actions (%ld episodes in a row ended by one); stopping", t->nonfinite_run);
    return -1;
  }
  af_batch b;
  assemble_batch(t, &b);
  if (t->rec && af_dataset_add(t->rec, &b, NULL, err, errsz)) return -1;
  if (af_agent_observe(rs->ag, &b) || (!rs->tc.overlap && run_update(&job))) { snprintf(err, errsz, "%s", af_agent_last_error(rs->ag)); return -1; }
  // the reward learner sees the states reached (their true success kept for its queries)
  if (t->vice) {
    for (int i = 0; i < t->N; i++) t->succ[i] = (uint8_t)(t->info[i].success != 0);
    if (af_vice_observe(t->vice, t->seen, t->succ, t->N, err, errsz)) return -1;
  }
  af_agent_stats st = job.st;
  if (st.updates) t->last = st;
  if (count_skipped(t, &st)) {
    snprintf(err, errsz, "the agent's updates keep failing (the last %ld had a non-finite loss or gradient and were skipped); stopping",
             t->skipped_run);
    return -1;
  }
  double a3 = af_now();
  t->t_act += a1 - a0;
  t->t_env += a2 - a1;
  t->t_upd += a3 - a2;
  long step0 = t->step;
  t->step += t->N;
  if (log_episodes(t, step0)) { snprintf(err, errsz, "cannot write progress.csv"); return -1; }
  memcpy(t->obs, t->next, sizeof(float) * (size_t)t->N * t->od);
  return 0;
}

// "  (N updates skipped: non-finite)" when there were any, else "" (static storage)
static const char *skipped_note(const trainer *t) {
  static char note[64];
  note[0] = 0;
  if (t->skipped) snprintf(note, sizeof note, "  (%ld updates skipped: non-finite)", t->skipped);
  return note;
}

static int write_eval_row(FILE *f, long step, const eval_result *r, double el) {
  int bad = fprintf(f, "%ld,%.6g,%.6g,%.4g,%.6g,%.3f", step, r->ret, r->ret_std, r->success, r->length, el) < 0;
  for (int m = 0; m < r->nm && !bad; m++) bad = fprintf(f, ",%.6g", r->metrics[m]) < 0;
  for (int m = 0; m < r->nm && !bad; m++) bad = fprintf(f, ",%.6g", r->median[m]) < 0;
  if (r->has_learned && !bad) bad = fprintf(f, ",%.4g,%d,%d", r->learned, r->queries, r->positives) < 0;
  bad = bad || fputc('\n', f) == EOF;
  return bad || fflush(f) ? -1 : 0;
}

// the latest evaluation's goals over its final frames, eval_goals.png in the run folder
// (af_write_png writes atomically)
static int write_goals(trainer *t, char *err, size_t errsz) {
  const af_env_spec *s = t->spec;
  if (af_write_png(t->goals_path, t->goals_png, t->n_eval * s->pixel_width, 2 * s->pixel_height) == 0) return 0;
  snprintf(err, errsz, "cannot write %.300s", t->goals_path);
  return -1;
}

// the deterministic evaluation and every named evaluation setting at the same point
static int evaluate_all(trainer *t, run_setup *rs, char *err, size_t errsz) {
  double e0 = af_now();
  eval_result r;
  if (evaluate(rs->eval_env, rs->ag, &rs->tc, t, t->goals_png != NULL, &r, err, errsz)) return -1;
  if (write_eval_row(t->evf, t->step, &r, af_now() - t->t0)) { snprintf(err, errsz, "cannot write eval.csv"); return -1; }
  if (t->goals_png && write_goals(t, err, errsz)) return -1;
  t->last_eval = r.ret;
  double main_succ = r.success;
  for (int i = 0; i < rs->n_extra; i++) {
    if (evaluate(rs->extra_env[i], rs->ag, &rs->tc, t, 0, &r, err, errsz)) return -1;
    if (write_eval_row(t->extra_f[i], t->step, &r, af_now() - t->t0)) { snprintf(err, errsz, "cannot write eval_%s.csv", rs->extra_name[i]); return -1; }
  }
  t->t_eval += af_now() - e0;
  if (!isatty(2))
    fprintf(stderr, "armfarm train: step %ld/%d  eval return %.1f  success %.2f  %.0f steps/s%s\n", t->step, rs->tc.steps, t->last_eval,
            main_succ, t->step / (af_now() - t->t0), skipped_note(t));
  return 0;
}

// with a learned reward, classifier_episode.csv: the classifier's success probability and the
// true success at every step of one deterministic episode of the final policy (the talk's
// graph of what the learner exploits)
static int classifier_episode(trainer *t, run_setup *rs, const char *out, char *err, size_t errsz) {
  if (!t->vice) return 0;
  char *path = run_path(out, "classifier_episode.csv"), *tmp = path ? af_strfmt("%s.tmp", path) : NULL;
  FILE *f = tmp ? fopen(tmp, "w") : NULL;
  int rc = -1, te = 0, tr = 0, step = 0;
  if (!f) { snprintf(err, errsz, "cannot write %s", path ? path : out); goto done; }
  fprintf(f, "step,learned_success,success\n");
  if (af_env_reset(rs->eval_env, af_seed_derive((uint64_t)rs->tc.seed, 15), t->eval_obs)) { snprintf(err, errsz, "%s", af_env_last_error(rs->eval_env)); goto done; }
  fprintf(f, "0,%.4f,0\n", af_vice_prob(t->vice, t->eval_obs));
  while (!te && !tr) {
    af_info info;
    float r;
    if (af_agent_act(rs->ag, t->eval_act, t->eval_obs, 1, 1)) { snprintf(err, errsz, "%s", af_agent_last_error(rs->ag)); goto done; }
    int sr = af_env_step(rs->eval_env, t->eval_act, t->eval_obs, &r, &te, &tr, &info);
    if (sr == AF_ERR_ARG) sr = af_env_end_diverged(rs->eval_env, t->eval_obs, &r, &te, &tr, &info);
    if (sr) { snprintf(err, errsz, "%s", af_env_last_error(rs->eval_env)); goto done; }
    if (fprintf(f, "%d,%.4f,%d\n", ++step, af_vice_prob(t->vice, t->eval_obs), info.success != 0) < 0) { snprintf(err, errsz, "cannot write %s", tmp); goto done; }
  }
  if (fclose(f)) { f = NULL; snprintf(err, errsz, "cannot write %s", tmp); goto done; }
  f = NULL;
  if (rename(tmp, path)) { snprintf(err, errsz, "cannot write %s", path); goto done; }
  rc = 0;
done:
  if (f) fclose(f);
  free(path);
  free(tmp);
  return rc;
}

// the policy file, and everything needed to resume. With train.overlap the updates that are
// due are made first, so that the agent is saved with none pending (an uninterrupted run
// makes them at the same point: the curves of a resumed run are still the same)
static int checkpoint(trainer *t, run_setup *rs, const char *out, int resumable, char *err, size_t errsz) {
  double c0 = af_now();
  update_job job = {.ag = rs->ag};
  if (rs->tc.overlap && run_update(&job)) { snprintf(err, errsz, "%s", af_agent_last_error(rs->ag)); return -1; }
  if (job.st.updates) t->last = job.st;
  if (count_skipped(t, &job.st)) { snprintf(err, errsz, "the agent's updates keep failing; stopping"); return -1; }
  char *path = run_path(out, "checkpoint.bin");
  int rc = path ? af_agent_save(rs->ag, path, err, errsz) : -1;
  free(path);
  // and what the agent shows of itself beside it
  if (rc == 0) rc = af_agent_write_artifacts(rs->ag, out, err, errsz) ? -1 : 0;
  if (rc == 0 && resumable) {
    FILE *fs[2] = {t->prog, t->evf};
    long *ls[2] = {&t->prog_len, &t->eval_len};
    for (int i = 0; i < 2 && rc == 0; i++) rc = fflush(fs[i]) || (*ls[i] = ftell(fs[i])) < 0 ? -1 : 0;
    for (int i = 0; i < rs->n_extra && rc == 0; i++) rc = fflush(t->extra_f[i]) || (t->extra_len[i] = ftell(t->extra_f[i])) < 0 ? -1 : 0;
    if (rc) snprintf(err, errsz, "cannot write the curves in %s", out);
    af_vecenv_episodes(rs->vec, t->episodes);
    af_vecenv_levels(rs->vec, t->levels);
    if (rc == 0) rc = save_resume(out, rs->ag, t, err, errsz);
  }
  t->t_log += af_now() - c0;
  return rc;
}

// a live status line on a terminal
static void show_status(trainer *t, const train_cfg *tc) {
  double el = af_now() - t->t0;
  if (af_now() - t->last_show < 0.25) return;
  t->last_show = af_now();
  fprintf(stderr, "\r  step %ld/%d  episodes %ld  eval %.1f  alpha %.3f  %.0f steps/s  ETA %.0f s   ", t->step, tc->steps, t->episode,
          t->last_eval, t->last.alpha, t->step / el, (tc->steps - t->step) * el / t->step);
}

// did the last batch step cross a multiple of k (or reach the end)?
static int crossed(const trainer *t, long k, long total) {
  return t->step / k != (t->step - t->N) / k || t->step >= total;
}

static int train_loop(trainer *t, run_setup *rs, const char *out, char *err, size_t errsz) {
  const train_cfg *tc = &rs->tc;
  long total = ((long)tc->steps + t->N - 1) / t->N * t->N;
  int tty = isatty(2);
  double start = af_now();
  while (t->step < total) {
    if (tc->timeout_s > 0 && af_now() - start > tc->timeout_s) {
      snprintf(err, errsz, "train.timeout_s: still running after %g s, at step %ld; stopping (the last checkpoint is kept)", tc->timeout_s, t->step);
      return -1;
    }
    if (train_step(t, rs, err, errsz)) return -1;
    if (crossed(t, tc->eval_every, total) && evaluate_all(t, rs, err, errsz)) return -1;
    if (crossed(t, tc->checkpoint_every, total) && checkpoint(t, rs, out, t->step < total, err, errsz)) return -1;
    if (tty) show_status(t, tc);
  }
  if (tty) fprintf(stderr, "\n");
  return 0;
}

// ---- the command ----
typedef struct {
  const char *env_name, *agent_name, *config_file, *out;
  long steps, seed, eval_every, eval_eps, ckpt_every;
  char **sets;
  int nsets, help, resume;
} train_opts;

// 0, or an exit code
static int parse_options(train_opts *o, int argc, char **argv) {
  static const char *takes[] = {"--env", "--agent", "--config", "--set", "--steps", "--seed", "--out", "--eval-every",
                                "--eval-episodes", "--checkpoint-every"};
  o->steps = o->seed = o->eval_every = o->eval_eps = o->ckpt_every = -1;
  if (!(o->sets = calloc((size_t)argc + 1, sizeof *o->sets))) return AF_EXIT_FAIL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { o->help = 1; continue; }
    if (!strcmp(a, "--resume")) { o->resume = 1; continue; }
    int k = 0;
    while (k < 10 && strcmp(a, takes[k])) k++;
    if (k == 10) { fprintf(stderr, "armfarm train: unknown option '%s' (try --help)\n", a); return AF_EXIT_USAGE; }
    if (!val) { fprintf(stderr, "armfarm train: %s needs a value\n", a); return AF_EXIT_USAGE; }
    i++;
    const char **str[] = {&o->env_name, &o->agent_name, &o->config_file, NULL, NULL, NULL, &o->out};
    long *num[] = {NULL, NULL, NULL, NULL, &o->steps, &o->seed, NULL, &o->eval_every, &o->eval_eps, &o->ckpt_every};
    static const long hi[] = {0, 0, 0, 0, 1000000000, 2147483647, 0, 1000000000, 10000, 1000000000};
    if (k == 3) o->sets[o->nsets++] = (char *)val;
    else if (k < 7 && str[k]) *str[k] = val;
    else if ((*num[k] = af_cli_long(a, val, k == 5 ? 0 : 1, hi[k])) < 0) return AF_EXIT_USAGE;
  }
  return 0;
}

// the run document: file, then flags, then --set; NULL after a message on stderr
static cJSON *build_document(const train_opts *o) {
  char *docs = af_cli_env_config(o->config_file, o->sets, 0), err[512];
  cJSON *doc = docs ? cJSON_Parse(docs) : NULL;
  int parsed = docs != NULL;
  free(docs);
  if (!doc || !cJSON_IsObject(doc)) {
    if (parsed) fprintf(stderr, "armfarm train: the run document must be a JSON object\n");
    cJSON_Delete(doc);
    return NULL;
  }
  cJSON *es = section(doc, "env"), *as = section(doc, "agent"), *ts = section(doc, "train");
  if (o->env_name && cJSON_IsObject(es)) { cJSON_DeleteItemFromObject(es, "name"); cJSON_AddStringToObject(es, "name", o->env_name); }
  if (o->agent_name && cJSON_IsObject(as)) { cJSON_DeleteItemFromObject(as, "name"); cJSON_AddStringToObject(as, "name", o->agent_name); }
  const struct { const char *key; long v; } flags[] = {{"steps", o->steps}, {"seed", o->seed}, {"eval_every", o->eval_every},
                                                       {"eval_episodes", o->eval_eps}, {"checkpoint_every", o->ckpt_every}};
  for (int i = 0; i < 5 && cJSON_IsObject(ts); i++)
    if (flags[i].v >= 0) { cJSON_DeleteItemFromObject(ts, flags[i].key); cJSON_AddNumberToObject(ts, flags[i].key, (double)flags[i].v); }
  for (int i = 0; i < o->nsets; i++) {
    char *eq = strchr(o->sets[i], '=');
    if (!eq) { fprintf(stderr, "armfarm train: --set expects key=value, got '%s'\n", o->sets[i]); cJSON_Delete(doc); return NULL; }
    *eq = 0;
    int bad = af_json_set_path(doc, o->sets[i], eq + 1, err, sizeof err);
    *eq = '=';
    if (bad) { fprintf(stderr, "armfarm train: --set %s\n", err); cJSON_Delete(doc); return NULL; }
  }
  return doc;
}

static void report(const trainer *t, const run_setup *rs, const char *out) {
  double total = af_now() - t->t0;
  printf("trained %s on %s for %ld steps (seed %d) in %.2f s: environment %.2f s, acting %.2f s, updates %.2f s, "
         "evaluation %.2f s, checkpoints %.2f s, other %.2f s%s; final eval return %.2f -> %s\n",
         rs->agent_name, rs->env_name, t->step, rs->tc.seed, total, t->t_env, t->t_act, t->t_upd, t->t_eval, t->t_log,
         total - t->t_env - t->t_act - t->t_upd - t->t_eval - t->t_log, skipped_note(t), t->last_eval, out);
}

int af_cmd_train(int argc, char **argv) {
  train_opts o = {0};
  run_setup rs = {0};
  trainer t = {0};
  cJSON *doc = NULL;
  char *resolved = NULL, err[512];
  int rc = parse_options(&o, argc, argv), folder;
  // help, the document, the setup
  if (rc) goto done;
  if (o.help) {
    if (!o.agent_name || af_agent_describe(stdout, o.agent_name) != 0) train_usage(stdout);
    goto done;
  }
  rc = AF_EXIT_USAGE;
  if (!(doc = build_document(&o))) goto done;
  if (!o.out) { fprintf(stderr, "armfarm train: --out DIR is required\n"); goto done; }
  if (setup(doc, &rs, err, sizeof err)) { fprintf(stderr, "armfarm train: %s\n", err); goto done; }
  // the run folder, the trainer and the curves; a resumed run's environments replayed
  rc = AF_EXIT_FAIL;
  if (!(resolved = resolved_config(&rs, doc)) || trainer_make(&t, &rs)) { fprintf(stderr, "armfarm train: out of memory\n"); goto done; }
  if (make_reward_learner(&rs, err, sizeof err)) { fprintf(stderr, "armfarm train: %s\n", err); goto done; }
  t.vice = rs.vice;
  if (refuse_links(o.out, &rs)) { rc = AF_EXIT_USAGE; goto done; }
  if (lock_run_folder(o.out)) goto done;
  if ((folder = open_run_folder(o.out, resolved, o.resume, &t, rs.ag)) < 0) { rc = folder == -1 ? AF_EXIT_USAGE : AF_EXIT_FAIL; goto done; }
  if (open_curves(&t, &rs, o.out, folder == 1)) goto done;
  // the curriculum's levels (the start, or the checkpoint's) before the first episodes begin
  if (t.has_cur && af_vecenv_set_curriculum(rs.vec, &rs.cur, t.levels)) {
    fprintf(stderr, "armfarm train: curriculum: %s\n", af_vecenv_last_error(rs.vec)[0] ? af_vecenv_last_error(rs.vec) : "a level out of range");
    goto done;
  }
  // train.record: the episodes go to a dataset written when the run ends
  if (rs.tc.record) {
    if (folder == 1) { fprintf(stderr, "armfarm train: train.record: a recording run cannot be resumed (its dataset is written when it ends)\n"); rc = AF_EXIT_USAGE; goto done; }
    char *path = af_path_join(o.out, "episodes.afds");
    const af_env_spec *es = af_vecenv_spec(rs.vec);
    int fr_ok;
    af_dataset_frames fr = af_dataset_frames_of(es, &fr_ok);
    if (!fr_ok) snprintf(err, sizeof err, "observations with a goal image cannot be stored in a dataset");
    t.rec = path && fr_ok ? af_dataset_open(path, rs.env_name, es->obs_dim, es->act_dim, &fr, t.N, es->horizon, (uint64_t)rs.tc.seed, err, sizeof err) : NULL;
    int named = path != NULL || !fr_ok;
    free(path);
    if (!t.rec) { fprintf(stderr, "armfarm train: train.record: %s\n", named ? err : "out of memory"); goto done; }
  }
  if (folder == 1) {
    fprintf(stderr, "armfarm train: resuming %s at step %ld, episode %ld\n", o.out, t.step, t.episode);
    if (replay_episodes(&t, &rs, err, sizeof err)) { fprintf(stderr, "armfarm train: cannot resume: %s\n", err); goto done; }
  } else {
    t.t0 = af_now();
    if (af_vecenv_reset(rs.vec, (uint64_t)rs.tc.seed, t.obs)) { fprintf(stderr, "armfarm train: cannot reset the environments\n"); goto done; }
  }
  // train, then say where the time went
  if (train_loop(&t, &rs, o.out, err, sizeof err) || classifier_episode(&t, &rs, o.out, err, sizeof err)) {
    fprintf(stderr, "armfarm train: %s\n", err);
    goto done;
  }
  if (t.rec) {
    af_dataset_writer *w = t.rec;
    long eps = af_dataset_episodes(w);
    t.rec = NULL;
    if (af_dataset_close(w, err, sizeof err)) { fprintf(stderr, "armfarm train: train.record: %s\n", err); goto done; }
    printf("recorded %ld episodes in %s/episodes.afds\n", eps, o.out);
  }
  report(&t, &rs, o.out);
  rc = AF_EXIT_OK;
done:
  if (t.prog && fclose(t.prog) != 0) rc = AF_EXIT_FAIL;
  if (t.evf && fclose(t.evf) != 0) rc = AF_EXIT_FAIL;
  t.prog = t.evf = NULL;
  trainer_free(&t);
  free(o.sets);
  cJSON_free(resolved);
  setup_free(&rs);
  cJSON_Delete(doc);
  return rc;
}
