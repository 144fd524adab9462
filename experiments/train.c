// armfarm train: one training run. A run document {"env": {"name", ...config}, "agent":
// {"name", ...hyperparameters}, "train": {...}} from --config, --set edits and flags; writes
// config.json, progress.csv (one row per episode), eval.csv (deterministic evaluation),
// checkpoint.bin, and prints where the time went.
#include <errno.h>     // errno
#include <math.h>      // sqrt
#include <stdio.h>
#include <stdlib.h>    // calloc, free
#include <string.h>    // strcmp
#include <sys/stat.h>  // mkdir, stat
#include <unistd.h>    // isatty

#include <cjson/cJSON.h>
#include "agents/agent.h"
#include "agents/nn/nn.h"  // checkpoint files
#include "envs/env.h"
#include "base/rng.h"
#include "experiments/cli.h"

typedef struct { int steps, seed, eval_every, eval_episodes, checkpoint_every; } train_cfg;

static const af_param train_params[] = {
  {"steps", AF_P_INT, offsetof(train_cfg, steps), 100000, 1, 1e9, NULL, "environment steps"},
  {"seed", AF_P_INT, offsetof(train_cfg, seed), 0, 0, 2147483647, NULL, "run seed: every random draw derives from it"},
  {"eval_every", AF_P_INT, offsetof(train_cfg, eval_every), 5000, 1, 1e9, NULL, "steps between deterministic evaluations"},
  {"eval_episodes", AF_P_INT, offsetof(train_cfg, eval_episodes), 10, 1, 10000, NULL, "episodes per evaluation"},
  {"checkpoint_every", AF_P_INT, offsetof(train_cfg, checkpoint_every), 50000, 1, 1e9, NULL, "steps between checkpoints"},
};
#define N_TRAIN ((int)(sizeof train_params / sizeof train_params[0]))

static void train_usage(FILE *f) {
  fprintf(f,
    "usage: armfarm train --env NAME --agent NAME [--config FILE] [--set key=value]... --steps N --seed S --out DIR\n"
    "                     [--eval-every K] [--eval-episodes E] [--checkpoint-every C] [--resume]\n"
    "  --config    a run document: {\"env\": {\"name\": ..., env keys}, \"agent\": {\"name\": ..., hyperparameters},\n"
    "              \"train\": {train keys}}; flags and --set (dotted paths such as agent.lr=0.001,\n"
    "              env.reward=sparse, train.eval_every=2000) override it\n"
    "  --out       run folder (created; refused if it already holds a run)\n"
    "  --resume    continue the run in --out from its last checkpoint (same configuration only);\n"
    "              the curves come out as if it had never stopped\n"
    "  writes config.json, progress.csv (per episode), eval.csv (per evaluation), checkpoint.bin\n"
    "  single-threaded unless OMP_NUM_THREADS says otherwise\n"
    "train keys:\n");
  af_params_print(f, train_params, N_TRAIN, "  ");
  fprintf(f, "agents (--agent NAME --help for hyperparameters):");
  for (int i = 0; i < af_agent_count(); i++) fprintf(f, " %s", af_agent_name(i));
  fprintf(f, "\n");
}

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

static int mkdirs(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') { *p = 0; if (mkdir(buf, 0755) && errno != EEXIST) return -1; *p = '/'; }
  return mkdir(buf, 0755) && errno != EEXIST ? -1 : 0;
}

// deterministic evaluation over E episodes with fixed seeds; mean return, std, success, length
static void evaluate(af_env *env, af_agent *ag, const train_cfg *tc, float *obs, float *act, double *ret, double *sd,
                     double *succ, double *len) {
  double s = 0, s2 = 0, sc = 0, sl = 0;
  for (int k = 0; k < tc->eval_episodes; k++) {
    af_env_reset(env, af_seed_derive(af_seed_derive((uint64_t)tc->seed, 12), (uint64_t)k), obs);
    af_info info;
    float r;
    int te = 0, tr = 0;
    while (!te && !tr) {
      af_agent_act(ag, obs, 1, act);
      af_env_step(env, act, obs, &r, &te, &tr, &info);
    }
    s += info.episode.ret;
    s2 += (double)info.episode.ret * info.episode.ret;
    sc += info.episode.success;
    sl += info.episode.length;
  }
  int E = tc->eval_episodes;
  *ret = s / E;
  *sd = E > 1 ? sqrt(fmax(0, (s2 - s * s / E) / (E - 1))) : 0;
  *succ = sc / E;
  *len = sl / E;
}

// ---- resuming ----
// At an episode boundary the environment holds nothing worth saving (the next episode resets
// from a seed derived from its index) and evaluation uses fixed seeds and the deterministic
// policy, so the agent, its replay buffer, the counters and the lengths of the two CSV files
// are the whole state of a run. A checkpoint goes to resume/step_N/, then resume/latest is
// renamed into place, then the previous one is removed: a kill at any point leaves a
// complete checkpoint.
#define MAX_EVAL_ENVS 8

typedef struct {
  long step, episode, prog_len, eval_len;
  long extra_len[MAX_EVAL_ENVS];  // eval_<name>.csv lengths
  af_agent_stats last;
  double last_eval, elapsed;
} trainer_state;

static char *read_file(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return af_read_file(path);
}

static int trainer_file(const char *path, trainer_state *ts, int save, char *err, size_t errsz) {
  float words[16 + 4 * MAX_EVAL_ENVS], stats[7];
  af_tensor t[2] = {{"trainer", words, 16 + 4 * MAX_EVAL_ENVS}, {"trainer_stats", stats, 7}};
  if (save) {
    af_nn_pack_u64(words, (uint64_t)ts->step);
    af_nn_pack_u64(words + 4, (uint64_t)ts->episode);
    af_nn_pack_u64(words + 8, (uint64_t)ts->prog_len);
    af_nn_pack_u64(words + 12, (uint64_t)ts->eval_len);
    for (int i = 0; i < MAX_EVAL_ENVS; i++) af_nn_pack_u64(words + 16 + 4 * i, (uint64_t)ts->extra_len[i]);
    float v[7] = {ts->last.critic_loss, ts->last.actor_loss, ts->last.alpha, ts->last.entropy, (float)ts->last_eval,
                  (float)ts->elapsed, (float)ts->last.updates};
    memcpy(stats, v, sizeof v);
    return af_nn_save(path, t, 2, err, errsz);
  }
  if (af_nn_load(path, t, 2, err, errsz)) return -1;
  ts->step = (long)af_nn_unpack_u64(words);
  ts->episode = (long)af_nn_unpack_u64(words + 4);
  ts->prog_len = (long)af_nn_unpack_u64(words + 8);
  ts->eval_len = (long)af_nn_unpack_u64(words + 12);
  for (int i = 0; i < MAX_EVAL_ENVS; i++) ts->extra_len[i] = (long)af_nn_unpack_u64(words + 16 + 4 * i);
  ts->last = (af_agent_stats){.critic_loss = stats[0], .actor_loss = stats[1], .alpha = stats[2], .entropy = stats[3], .updates = (int)stats[6]};
  ts->last_eval = stats[4];
  ts->elapsed = stats[5];
  return 0;
}

// cut a CSV back to the length a checkpoint recorded; it must be at least that long
static int cut_back(const char *path, long len) {
  struct stat st;
  if (stat(path, &st) != 0 || st.st_size < len) return -1;
  return truncate(path, (off_t)len);
}

static int save_resume(const char *out, af_agent *ag, trainer_state *ts, char *err, size_t errsz) {
  char dir[4096], path[4200], old[256] = "";
  char *prev = read_file(out, "resume/latest");
  if (prev) { snprintf(old, sizeof old, "%.*s", (int)strcspn(prev, "\n"), prev); free(prev); }
  snprintf(dir, sizeof dir, "%s/resume/step_%ld", out, ts->step);
  if (mkdirs(dir)) { snprintf(err, errsz, "cannot create %.300s", dir); return -1; }
  snprintf(path, sizeof path, "%s/agent.bin", dir);
  if (af_agent_save(ag, path, err, errsz)) return -1;
  snprintf(path, sizeof path, "%s/replay.bin", dir);
  if (af_agent_save_replay(ag, path, err, errsz)) return -1;
  snprintf(path, sizeof path, "%s/trainer.bin", dir);
  if (trainer_file(path, ts, 1, err, errsz)) return -1;
  // publish: the pointer names the newest complete checkpoint
  char tmp[4200], latest[4200];
  snprintf(tmp, sizeof tmp, "%s/resume/latest.tmp", out);
  snprintf(latest, sizeof latest, "%s/resume/latest", out);
  FILE *f = fopen(tmp, "w");
  if (!f || fprintf(f, "step_%ld\n", ts->step) < 0 || fclose(f) != 0 || rename(tmp, latest) != 0) {
    snprintf(err, errsz, "cannot write %.300s", latest);
    return -1;
  }
  // the previous checkpoint is no longer needed
  if (old[0] && strcmp(old, dir + strlen(out) + 8) != 0) {
    const char *files[3] = {"agent.bin", "replay.bin", "trainer.bin"};
    for (int i = 0; i < 3; i++) {
      snprintf(path, sizeof path, "%s/resume/%s/%s", out, old, files[i]);
      remove(path);
    }
    snprintf(path, sizeof path, "%s/resume/%s", out, old);
    rmdir(path);
  }
  return 0;
}

// 1 when a checkpoint was loaded, 0 when there is none (start over), -1 on error
static int load_resume(const char *out, af_agent *ag, trainer_state *ts, char *err, size_t errsz) {
  char *latest = read_file(out, "resume/latest");
  if (!latest) return 0;
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s/resume/%.*s", out, (int)strcspn(latest, "\n"), latest);
  free(latest);
  snprintf(path, sizeof path, "%s/agent.bin", dir);
  if (af_agent_load(ag, path, err, errsz)) return -1;
  snprintf(path, sizeof path, "%s/replay.bin", dir);
  if (af_agent_load_replay(ag, path, err, errsz)) return -1;
  snprintf(path, sizeof path, "%s/trainer.bin", dir);
  if (trainer_file(path, ts, 0, err, errsz)) return -1;
  return 1;
}

// ---- a run document made real: checked sections, environments, agent ----
typedef struct {
  train_cfg tc;
  const char *env_name, *agent_name;  // inside the document
  char *env_cfg, *agent_cfg;
  af_env *env, *eval_env, *extra_env[MAX_EVAL_ENVS];
  char extra_name[MAX_EVAL_ENVS][32];
  int n_extra;
  af_agent *ag;
} run_setup;

static void setup_free(run_setup *r) {
  free(r->env_cfg);
  free(r->agent_cfg);
  af_env_free(r->env);
  af_env_free(r->eval_env);
  for (int i = 0; i < r->n_extra; i++) af_env_free(r->extra_env[i]);
  af_agent_free(r->ag);
  memset(r, 0, sizeof *r);
}

// every error names its place in the document (env..., agent.KEY, train.KEY, eval_envs.NAME)
static int setup(cJSON *doc, run_setup *r, char *err, size_t errsz) {
  memset(r, 0, sizeof *r);
  static const char *top[] = {"name", "env", "agent", "train", "eval_envs", "sweep", "jobs"};
  for (cJSON *it = doc->child; it; it = it->next) {
    int known = 0;
    for (int i = 0; i < 7; i++) known |= !strcmp(it->string, top[i]);
    if (!known) {
      const char *best = NULL;
      int bd = 99;
      for (int i = 0; i < 7; i++) {
        int d = af_edit_distance(it->string, top[i]);
        if (d < bd) { bd = d; best = top[i]; }
      }
      if (bd <= (int)strlen(it->string) / 3 + 1) snprintf(err, errsz, "%s: unknown key (did you mean '%s'?)", it->string, best);
      else snprintf(err, errsz, "%s: unknown key (name, env, agent, train, eval_envs, sweep, jobs)", it->string);
      return -1;
    }
  }
  cJSON *es = section(doc, "env"), *as = section(doc, "agent"), *ts = section(doc, "train");
  const char *which = !cJSON_IsObject(es) ? "env" : !cJSON_IsObject(as) ? "agent" : !cJSON_IsObject(ts) ? "train" : NULL;
  if (which) { snprintf(err, errsz, "%s: expected an object", which); return -1; }
  cJSON *en = cJSON_GetObjectItemCaseSensitive(es, "name"), *an = cJSON_GetObjectItemCaseSensitive(as, "name");
  if (!cJSON_IsString(en)) { snprintf(err, errsz, "env.name: expected the environment's name (see 'armfarm envs')"); return -1; }
  if (!cJSON_IsString(an)) { snprintf(err, errsz, "agent.name: expected the agent's name (sac)"); return -1; }
  r->env_name = en->valuestring;
  r->agent_name = an->valuestring;
  // train keys
  af_params_default(&r->tc, train_params, N_TRAIN);
  for (cJSON *it = ts->child; it; it = it->next) {
    const af_param *p = af_params_find(train_params, N_TRAIN, it->string);
    if (!p) {
      const char *sg = af_params_suggest(train_params, N_TRAIN, it->string);
      snprintf(err, errsz, "train.%s: unknown key%s%s%s", it->string, sg ? " (did you mean '" : "", sg ? sg : "", sg ? "'?)" : "");
      return -1;
    }
    if (af_param_set(&r->tc, p, it, "train", err, errsz)) return -1;
  }
  // environments and agent
  char e2[400];
  r->env_cfg = without_name(es);
  r->agent_cfg = without_name(as);
  if (!(r->env = af_env_make(r->env_name, r->env_cfg, e2, sizeof e2)) ||
      !(r->eval_env = af_env_make(r->env_name, r->env_cfg, e2, sizeof e2))) {
    snprintf(err, errsz, "env: %s", e2);
    return -1;
  }
  if (!(r->ag = af_agent_make(r->agent_name, r->agent_cfg, af_env_get_spec(r->env), (uint64_t)r->tc.seed, e2, sizeof e2))) {
    snprintf(err, errsz, "%s%s", strncmp(e2, "agent.", 6) ? "agent: " : "", e2);
    return -1;
  }
  // named evaluation settings: the training environment with overrides
  cJSON *ee = cJSON_GetObjectItemCaseSensitive(doc, "eval_envs");
  if (ee && !cJSON_IsObject(ee)) { snprintf(err, errsz, "eval_envs: expected an object of name: environment overrides"); return -1; }
  for (cJSON *it = ee ? ee->child : NULL; it; it = it->next) {
    if (r->n_extra == MAX_EVAL_ENVS) { snprintf(err, errsz, "eval_envs: at most %d settings", MAX_EVAL_ENVS); return -1; }
    int okname = *it->string != 0 && strlen(it->string) < 32;
    for (const char *c = it->string; *c; c++) okname &= (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
    if (!okname || !cJSON_IsObject(it)) { snprintf(err, errsz, "eval_envs.%s: expected a name of [a-z0-9_] holding an object of environment keys", it->string); return -1; }
    cJSON *merged = cJSON_Parse(r->env_cfg);
    merge(merged, it);
    char *mc = cJSON_PrintUnformatted(merged);
    cJSON_Delete(merged);
    r->extra_env[r->n_extra] = af_env_make(r->env_name, mc, e2, sizeof e2);
    free(mc);
    if (!r->extra_env[r->n_extra]) { snprintf(err, errsz, "eval_envs.%s: %s", it->string, e2); return -1; }
    snprintf(r->extra_name[r->n_extra], sizeof r->extra_name[0], "%s", it->string);
    r->n_extra++;
  }
  return 0;
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

int af_cmd_train(int argc, char **argv) {
  const char *env_name = NULL, *agent_name = NULL, *config_file = NULL, *out = NULL;
  long steps = -1, seed = -1, eval_every = -1, eval_eps = -1, ckpt_every = -1;
  char **sets = calloc((size_t)argc + 1, sizeof *sets);
  int nsets = 0, rc = AF_EXIT_USAGE, show_help = 0, resume = 0;
  char *docs = NULL;
  cJSON *doc = NULL;
  run_setup rs;
  memset(&rs, 0, sizeof rs);
  FILE *prog = NULL, *evf = NULL, *extra_f[MAX_EVAL_ENVS] = {0};
  float *obs = NULL, *next = NULL, *act = NULL;
  char err[512];

  // ---- options ----
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) { show_help = 1; continue; }
    if (!strcmp(o, "--resume")) { resume = 1; continue; }
    int takes = !strcmp(o, "--env") || !strcmp(o, "--agent") || !strcmp(o, "--config") || !strcmp(o, "--set") ||
                !strcmp(o, "--steps") || !strcmp(o, "--seed") || !strcmp(o, "--out") || !strcmp(o, "--eval-every") ||
                !strcmp(o, "--eval-episodes") || !strcmp(o, "--checkpoint-every");
    if (!takes) { fprintf(stderr, "armfarm train: unknown option '%s' (try --help)\n", o); goto done; }
    if (!val) { fprintf(stderr, "armfarm train: %s needs a value\n", o); goto done; }
    i++;
    if (!strcmp(o, "--env")) env_name = val;
    else if (!strcmp(o, "--agent")) agent_name = val;
    else if (!strcmp(o, "--config")) config_file = val;
    else if (!strcmp(o, "--set")) sets[nsets++] = (char *)val;
    else if (!strcmp(o, "--out")) out = val;
    else if (!strcmp(o, "--steps")) { if ((steps = af_cli_long(o, val, 1, 1000000000)) < 0) goto done; }
    else if (!strcmp(o, "--seed")) { if ((seed = af_cli_long(o, val, 0, 2147483647)) < 0) goto done; }
    else if (!strcmp(o, "--eval-every")) { if ((eval_every = af_cli_long(o, val, 1, 1000000000)) < 0) goto done; }
    else if (!strcmp(o, "--eval-episodes")) { if ((eval_eps = af_cli_long(o, val, 1, 10000)) < 0) goto done; }
    else if ((ckpt_every = af_cli_long(o, val, 1, 1000000000)) < 0) goto done;
  }
  if (show_help) {
    if (agent_name && af_agent_describe(stdout, agent_name) == 0) { rc = AF_EXIT_OK; goto done; }
    train_usage(stdout);
    rc = AF_EXIT_OK;
    goto done;
  }

  // ---- the run document: file, then flags, then --set ----
  if (!(docs = af_cli_env_config(config_file, sets, 0))) goto done;
  doc = cJSON_Parse(docs);
  if (!doc || !cJSON_IsObject(doc)) { fprintf(stderr, "armfarm train: the run document must be a JSON object\n"); goto done; }
  // flags and --set edit the document before it is checked
  cJSON *es = section(doc, "env"), *as = section(doc, "agent"), *ts = section(doc, "train");
  if (env_name && cJSON_IsObject(es)) { cJSON_DeleteItemFromObject(es, "name"); cJSON_AddStringToObject(es, "name", env_name); }
  if (agent_name && cJSON_IsObject(as)) { cJSON_DeleteItemFromObject(as, "name"); cJSON_AddStringToObject(as, "name", agent_name); }
  const struct { const char *key; long v; } flags[] = {{"steps", steps}, {"seed", seed}, {"eval_every", eval_every},
                                                       {"eval_episodes", eval_eps}, {"checkpoint_every", ckpt_every}};
  for (int i = 0; i < 5 && cJSON_IsObject(ts); i++)
    if (flags[i].v >= 0) { cJSON_DeleteItemFromObject(ts, flags[i].key); cJSON_AddNumberToObject(ts, flags[i].key, (double)flags[i].v); }
  for (int i = 0; i < nsets; i++) {
    char *eq = strchr(sets[i], '=');
    if (!eq) { fprintf(stderr, "armfarm train: --set expects key=value, got '%s'\n", sets[i]); goto done; }
    *eq = 0;
    int bad = af_json_set_path(doc, sets[i], eq + 1, err, sizeof err);
    *eq = '=';
    if (bad) { fprintf(stderr, "armfarm train: --set %s\n", err); goto done; }
  }
  if (!out) { fprintf(stderr, "armfarm train: --out DIR is required\n"); goto done; }
  if (setup(doc, &rs, err, sizeof err)) { fprintf(stderr, "armfarm train: %s\n", err); goto done; }
  const train_cfg tc = rs.tc;
  af_env *env = rs.env, *eval_env = rs.eval_env;
  af_agent *ag = rs.ag;
  const af_env_spec *sp = af_env_get_spec(env);
  int n_extra = rs.n_extra;
  cJSON *ee = cJSON_GetObjectItemCaseSensitive(doc, "eval_envs");

  // ---- the run folder: a new one, or with --resume the same run continued ----
  rc = AF_EXIT_FAIL;
  char path[4096];
  struct stat stt;
  char *resolved = NULL;
  {
    cJSON *res = cJSON_CreateObject(), *re = cJSON_Parse(af_env_config_json(env)), *ra = cJSON_Parse(af_agent_config_json(ag));
    cJSON_AddItemToObject(re, "name", cJSON_CreateString(rs.env_name));
    cJSON_AddItemToObject(ra, "name", cJSON_CreateString(rs.agent_name));
    cJSON *rt = cJSON_CreateObject();
    af_params_to_json(rt, &tc, train_params, N_TRAIN);
    cJSON_AddItemToObject(res, "env", re);
    cJSON_AddItemToObject(res, "agent", ra);
    cJSON_AddItemToObject(res, "train", rt);
    if (ee) cJSON_AddItemToObject(res, "eval_envs", cJSON_Duplicate(ee, 1));
    resolved = cJSON_Print(res);
    cJSON_Delete(res);
  }
  snprintf(path, sizeof path, "%s/progress.csv", out);
  int existing = stat(path, &stt) == 0;
  trainer_state ts0 = {0};
  int resuming = 0;
  if (existing && !resume) {
    fprintf(stderr, "armfarm train: %s already holds a run (choose another --out, or --resume it)\n", out);
    rc = AF_EXIT_USAGE;
    cJSON_free(resolved);
    goto done;
  }
  if (existing) {
    // the same run only: its resolved configuration must be this one, to the letter
    char *saved = read_file(out, "config.json");
    int same = saved && strcmp(saved, resolved) == 0;
    free(saved);
    if (!same) {
      fprintf(stderr, "armfarm train: %s holds a different run (its config.json differs); not resuming\n", out);
      rc = AF_EXIT_USAGE;
      cJSON_free(resolved);
      goto done;
    }
    int lr = load_resume(out, ag, &ts0, err, sizeof err);
    if (lr < 0) { fprintf(stderr, "armfarm train: cannot resume %s: %s\n", out, err); cJSON_free(resolved); goto done; }
    resuming = lr == 1;
  }
  if (mkdirs(out)) { fprintf(stderr, "armfarm train: cannot create %s\n", out); cJSON_free(resolved); goto done; }
  if (!resuming) {
    snprintf(path, sizeof path, "%s/config.json", out);
    FILE *f = fopen(path, "w");
    int ok = f && fputs(resolved, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) { fprintf(stderr, "armfarm train: cannot write %s\n", path); cJSON_free(resolved); goto done; }
  }
  cJSON_free(resolved);
  // the curves: new, or cut back to where the checkpoint left them and continued
  snprintf(path, sizeof path, "%s/progress.csv", out);
  if (resuming && cut_back(path, ts0.prog_len) != 0) { fprintf(stderr, "armfarm train: %s is shorter than its checkpoint says\n", path); goto done; }
  prog = fopen(path, resuming ? "a" : "w");
  snprintf(path, sizeof path, "%s/eval.csv", out);
  if (resuming && cut_back(path, ts0.eval_len) != 0) { fprintf(stderr, "armfarm train: %s is shorter than its checkpoint says\n", path); goto done; }
  evf = fopen(path, resuming ? "a" : "w");
  for (int i = 0; i < n_extra; i++) {
    snprintf(path, sizeof path, "%s/eval_%s.csv", out, rs.extra_name[i]);
    if (resuming && cut_back(path, ts0.extra_len[i]) != 0) { fprintf(stderr, "armfarm train: %s is shorter than its checkpoint says\n", path); goto done; }
    if (!(extra_f[i] = fopen(path, resuming ? "a" : "w"))) { fprintf(stderr, "armfarm train: cannot write %s\n", path); goto done; }
    if (!resuming) fprintf(extra_f[i], "step,return,return_std,success,length,time_s\n");
  }
  if (!prog || !evf) { fprintf(stderr, "armfarm train: cannot write in %s\n", out); goto done; }
  if (!resuming) {
    fprintf(prog, "step,episode,return,length,success,critic_loss,actor_loss,alpha,entropy,time_s,steps_per_s\n");
    fprintf(evf, "step,return,return_std,success,length,time_s\n");
  }

  // ---- the loop ----
  obs = calloc((size_t)sp->obs_dim, sizeof(float));
  next = calloc((size_t)sp->obs_dim, sizeof(float));
  act = calloc((size_t)sp->act_dim, sizeof(float));
  int tty = isatty(2);
  double t0 = af_now() - ts0.elapsed, t_env = 0, t_act = 0, t_upd = 0, t_eval = 0, t_log = 0, last_show = 0;
  long episode = ts0.episode, last_ckpt = ts0.step;
  af_agent_stats st = {0}, last = ts0.last;
  double last_eval = ts0.last_eval;
  if (resuming) fprintf(stderr, "armfarm train: resuming %s at step %ld, episode %ld\n", out, ts0.step, episode);
  af_env_reset(env, af_seed_derive(af_seed_derive((uint64_t)tc.seed, 11), (uint64_t)episode), obs);
  for (long step = ts0.step + 1; step <= tc.steps; step++) {
    double a0 = af_now();
    af_agent_act(ag, obs, 0, act);
    double a1 = af_now();
    float r;
    int te, tr;
    af_info info;
    af_env_step(env, act, next, &r, &te, &tr, &info);
    double a2 = af_now();
    af_agent_observe(ag, obs, act, r, next, te);
    af_agent_update(ag, &st);
    if (st.updates) last = st;
    double a3 = af_now();
    t_act += a1 - a0;
    t_env += a2 - a1;
    t_upd += a3 - a2;
    memcpy(obs, next, sizeof(float) * sp->obs_dim);
    int episode_end = te || tr;
    if (episode_end) {
      double el = af_now() - t0;
      fprintf(prog, "%ld,%ld,%.6g,%d,%d,%.6g,%.6g,%.6g,%.6g,%.3f,%.1f\n", step, episode, info.episode.ret, (int)info.episode.length,
              (int)info.episode.success, last.critic_loss, last.actor_loss, last.alpha, last.entropy, el, step / el);
      episode++;
      af_env_reset(env, af_seed_derive(af_seed_derive((uint64_t)tc.seed, 11), (uint64_t)episode), obs);
    }
    if (step % tc.eval_every == 0 || step == tc.steps) {
      double e0 = af_now(), ret, sd, succ, len;
      evaluate(eval_env, ag, &tc, next, act, &ret, &sd, &succ, &len);
      fprintf(evf, "%ld,%.6g,%.6g,%.4g,%.6g,%.3f\n", step, ret, sd, succ, len, af_now() - t0);
      fflush(evf);
      // every named evaluation setting at the same point
      for (int i = 0; i < n_extra; i++) {
        double r2, sd2, succ2, len2;
        evaluate(rs.extra_env[i], ag, &tc, next, act, &r2, &sd2, &succ2, &len2);
        fprintf(extra_f[i], "%ld,%.6g,%.6g,%.4g,%.6g,%.3f\n", step, r2, sd2, succ2, len2, af_now() - t0);
        fflush(extra_f[i]);
      }
      t_eval += af_now() - e0;
      last_eval = ret;
      if (!tty) fprintf(stderr, "armfarm train: step %ld/%d  eval return %.1f  success %.2f  %.0f steps/s\n", step, tc.steps, ret, succ, step / (af_now() - t0));
    }
    // checkpoints: the policy file, and at an episode boundary everything needed to resume
    if (step % tc.checkpoint_every == 0 || step == tc.steps) {
      double c0 = af_now();
      snprintf(path, sizeof path, "%s/checkpoint.bin", out);
      if (af_agent_save(ag, path, err, sizeof err)) { fprintf(stderr, "armfarm train: %s\n", err); goto done; }
      t_log += af_now() - c0;
    }
    if (episode_end && step - last_ckpt >= tc.checkpoint_every && step < tc.steps) {
      double c0 = af_now();
      trainer_state ts = {.step = step, .episode = episode, .last = last, .last_eval = last_eval, .elapsed = af_now() - t0};
      fflush(prog);
      fflush(evf);
      ts.prog_len = ftell(prog);
      ts.eval_len = ftell(evf);
      for (int i = 0; i < n_extra; i++) {
        fflush(extra_f[i]);
        ts.extra_len[i] = ftell(extra_f[i]);
      }
      if (save_resume(out, ag, &ts, err, sizeof err)) { fprintf(stderr, "armfarm train: %s\n", err); goto done; }
      last_ckpt = step;
      t_log += af_now() - c0;
    }
    // a live status line on a terminal
    if (tty && af_now() - last_show > 0.25) {
      double el = af_now() - t0;
      last_show = af_now();
      fprintf(stderr, "\r  step %ld/%d  episodes %ld  eval %.1f  alpha %.3f  %.0f steps/s  ETA %.0f s   ", step, tc.steps, episode,
              last_eval, last.alpha, step / el, (tc.steps - step) * el / step);
    }
  }
  if (tty) fprintf(stderr, "\n");
  double total = af_now() - t0;
  printf("trained %s on %s for %d steps (seed %d) in %.2f s: environment %.2f s, acting %.2f s, updates %.2f s, "
         "evaluation %.2f s, checkpoints %.2f s, other %.2f s; final eval return %.2f -> %s\n",
         rs.agent_name, rs.env_name, tc.steps, tc.seed, total, t_env, t_act, t_upd, t_eval, t_log,
         total - t_env - t_act - t_upd - t_eval - t_log, last_eval, out);
  rc = AF_EXIT_OK;

done:
  if (prog && fclose(prog) != 0) rc = AF_EXIT_FAIL;
  if (evf && fclose(evf) != 0) rc = AF_EXIT_FAIL;
  for (int i = 0; i < MAX_EVAL_ENVS; i++)
    if (extra_f[i] && fclose(extra_f[i]) != 0) rc = AF_EXIT_FAIL;
  free(sets);
  free(docs);
  setup_free(&rs);
  cJSON_Delete(doc);
  free(obs);
  free(next);
  free(act);
  return rc;
}
