// armfarm train end to end: SAC learns the pendulum within a small budget with a fixed seed,
// two runs with the same seed write identical curves apart from the wall-clock columns, and
// a run folder that already holds a run is refused.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int run(const char *args) {
  const char *bin = getenv("ARMFARM_BIN");
  cr_assert(bin, "ARMFARM_BIN must point at the armfarm program (ctest sets it)");
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s %s >train_out.txt 2>train_err.txt </dev/null", bin, args);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// the value of column `col` in the last line of a CSV
static double last_value(const char *path, int col) {
  FILE *f = fopen(path, "r");
  cr_assert(f, "%s missing", path);
  char line[1024], last[1024] = "";
  while (fgets(line, sizeof line, f)) strcpy(last, line);
  fclose(f);
  char *p = last;
  for (int i = 0; i < col; i++) p = strchr(p, ',') + 1;
  return atof(p);
}

// a CSV without its wall-clock columns (named time_s and steps_per_s)
static void strip_clock(const char *path, char *out, size_t n) {
  FILE *f = fopen(path, "r");
  cr_assert(f, "%s missing", path);
  char line[1024];
  int drop[32] = {0}, first = 1;
  out[0] = 0;
  while (fgets(line, sizeof line, f)) {
    int col = 0;
    for (char *tok = strtok(line, ",\n"); tok; tok = strtok(NULL, ",\n"), col++) {
      if (first) drop[col] = !strcmp(tok, "time_s") || !strcmp(tok, "steps_per_s");
      if (!drop[col]) { strncat(out, tok, n - strlen(out) - 1); strncat(out, ",", n - strlen(out) - 1); }
    }
    strncat(out, "\n", n - strlen(out) - 1);
    first = 0;
  }
  fclose(f);
}

Test(train, sac_learns_the_pendulum, .timeout = 300) {
  // the RLtools configuration (64-64, batch 100, Adam 1e-3), 10,000 steps, seed 0:
  // a random policy scores about -1200, a solved pendulum about -150
  cr_assert_eq(system("rm -rf train_learn"), 0);
  int rc = run("train --config " AF_TEST_SOURCE "/experiments/sac_pendulum_rltools.json --seed 0 --out train_learn");
  cr_assert_eq(rc, 0, "armfarm train failed");
  double final = last_value("train_learn/eval.csv", 1);
  cr_assert_gt(final, -200, "final deterministic evaluation %g, needs > -200", final);
}

Test(train, same_seed_same_curves_and_existing_runs_are_kept, .timeout = 300) {
  cr_assert_eq(system("rm -rf train_a train_b"), 0);
  const char *args = "train --env pendulum --agent sac --steps 1500 --eval-every 500 --eval-episodes 2 --seed 4 "
                     "--set agent.hidden=32 --set agent.batch=32 --set agent.warmup=300 --out ";
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%strain_a", args);
  cr_assert_eq(run(cmd), 0);
  snprintf(cmd, sizeof cmd, "%strain_b", args);
  cr_assert_eq(run(cmd), 0);
  static char a[1 << 16], b[1 << 16];
  strip_clock("train_a/progress.csv", a, sizeof a);
  strip_clock("train_b/progress.csv", b, sizeof b);
  cr_assert(strlen(a) > 100 && strchr(a, '\n'));
  cr_assert_str_eq(a, b, "progress.csv differs between two runs with the same seed");
  strip_clock("train_a/eval.csv", a, sizeof a);
  strip_clock("train_b/eval.csv", b, sizeof b);
  cr_assert_str_eq(a, b, "eval.csv differs between two runs with the same seed");
  // a different seed gives different curves
  snprintf(cmd, sizeof cmd, "train --env pendulum --agent sac --steps 1500 --eval-every 500 --eval-episodes 2 --seed 5 "
                            "--set agent.hidden=32 --set agent.batch=32 --set agent.warmup=300 --out train_c");
  cr_assert_eq(system("rm -rf train_c"), 0);
  cr_assert_eq(run(cmd), 0);
  strip_clock("train_c/progress.csv", b, sizeof b);
  strip_clock("train_a/progress.csv", a, sizeof a);
  cr_assert_str_neq(a, b);
  // an existing run is refused and left alone
  snprintf(cmd, sizeof cmd, "%strain_a", args);
  cr_assert_eq(run(cmd), 2);
  strip_clock("train_a/progress.csv", b, sizeof b);
  cr_assert_str_eq(a, b);
  // bad input: unknown hyperparameter, unknown agent, unknown train key
  cr_assert_eq(run("train --env pendulum --agent sac --steps 10 --out train_x --set agent.lrr=1"), 2);
  cr_assert_eq(run("train --env pendulum --agent dqn --steps 10 --out train_x"), 2);
  cr_assert_eq(run("train --env pendulum --agent sac --steps 10 --out train_x --set train.stpes=5"), 2);
}

// ---- training over the vectorized runner ----
#include <signal.h>    // kill
#include <sys/stat.h>  // stat
#include <time.h>      // nanosleep
#include <unistd.h>    // fork, execl, mkdtemp

// armfarm train with `args` in a private folder, its output in log files there
static int train_in(const char *dir, const char *args) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "cd %s && %s %s >out.txt 2>err.txt </dev/null", dir, getenv("ARMFARM_BIN"), args);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void curves_of(const char *dir, const char *run, const char *file, char *out, size_t n) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s/%s", dir, run, file);
  strip_clock(path, out, n);
}

// eight puck pushers with 40-step episodes, checkpoints mid-episode (every 280 steps, 35
// steps of each environment, while the horizon has 5 to go)
#define VEC_ARGS "train --env puck_push --agent sac --steps 2400 --eval-every 800 --eval-episodes 2 --seed 11 " \
                 "--checkpoint-every 280 --set env.horizon=40 --set train.num_envs=8 --set agent.hidden=32 " \
                 "--set agent.batch=32 --set agent.warmup=400 --set agent.update_every=4"

static void killed_and_resumed_with(const char *dir, const char *base, const char *extra, const char *ref);
static void killed_and_resumed(const char *dir, const char *extra, const char *ref) { killed_and_resumed_with(dir, VEC_ARGS, extra, ref); }

// a run killed (SIGKILL) after its first checkpoint, then resumed, in DIR/k: its curves must
// be those of the uninterrupted run DIR/REF made with the same arguments
static void killed_and_resumed_with(const char *dir, const char *base, const char *extra, const char *ref) {
  static char a[1 << 17], b[1 << 17];
  const char *files[2] = {"progress.csv", "eval.csv"};
  char run_dir[1024], latest[1100], args[4200], all[2048];
  snprintf(run_dir, sizeof run_dir, "%s/k", dir);
  snprintf(latest, sizeof latest, "%s/resume/latest", run_dir);
  snprintf(all, sizeof all, "%s%s", base, extra);
  pid_t pid = fork();
  if (pid == 0) {
    cr_assert(freopen("/dev/null", "w", stdout) && freopen("/dev/null", "w", stderr));
    execl("/bin/sh", "sh", "-c", "cd \"$0\" && exec \"$1\" $2 --out k", dir, getenv("ARMFARM_BIN"), all, (char *)NULL);
    _exit(127);
  }
  struct stat st;
  for (int i = 0; i < 6000 && stat(latest, &st) != 0; i++) nanosleep(&(struct timespec){0, 5000000}, NULL);
  cr_assert_eq(stat(latest, &st), 0, "no checkpoint appeared");
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  cr_assert(WIFSIGNALED(status), "the run ended before it was killed; the test did not test resuming");
  snprintf(args, sizeof args, "%s --out k --resume", all);
  cr_assert_eq(train_in(dir, args), 0);
  for (int i = 0; i < 2; i++) {
    curves_of(dir, ref, files[i], a, sizeof a);
    curves_of(dir, "k", files[i], b, sizeof b);
    cr_assert_str_eq(a, b, "%s differs after SIGKILL and --resume", files[i]);
  }
  snprintf(args, sizeof args, "rm -rf %s", run_dir);
  cr_assert_eq(system(args), 0);
}

Test(train, vectorized_curves_do_not_depend_on_threads_and_resume_bit_for_bit, .timeout = 300) {
  char dir[] = "af_vectrain_XXXXXX";  // inside the test program's own temporary folder
  cr_assert(mkdtemp(dir));
  cr_assert_eq(train_in(dir, VEC_ARGS " --set train.threads=1 --out t1"), 0);
  cr_assert_eq(train_in(dir, VEC_ARGS " --set train.threads=2 --out t2"), 0);
  static char a[1 << 17], b[1 << 17];
  const char *files[2] = {"progress.csv", "eval.csv"};
  for (int i = 0; i < 2; i++) {
    curves_of(dir, "t1", files[i], a, sizeof a);
    curves_of(dir, "t2", files[i], b, sizeof b);
    cr_assert(strlen(a) > (i ? 80u : 1000u), "%s is nearly empty", files[i]);
    cr_assert_str_eq(a, b, "%s differs between 1 and 2 threads", files[i]);
  }
  // 8 environments x 300 steps: at most 7 full episodes each (fewer when the pushes that
  // succeed end theirs early and leave the last ones unfinished)
  curves_of(dir, "t1", "progress.csv", a, sizeof a);
  int rows = 0;
  for (char *p = a; *p; p++) rows += *p == '\n';
  cr_assert(rows > 1 + 40 && rows <= 1 + 8 * 300 / 5, "progress.csv has %d rows", rows);

  // killed after its first checkpoint, then resumed: the same curves as uninterrupted
  killed_and_resumed(dir, " --set train.threads=2", "t2");
  char rm[1100];
  snprintf(rm, sizeof rm, "rm -rf %s", dir);
  cr_assert_eq(system(rm), 0);
}

// train.overlap (the updates made while the environments step): the curves still do not
// depend on the threads, a killed run resumes to the same curves (the checkpoint makes the
// pending updates, as the uninterrupted run does at that point), and they differ from the
// curves without overlap (the policy acts one round of updates behind)
Test(train, overlapped_updates_keep_curves_thread_independent_and_resumable, .timeout = 300) {
  char dir[] = "af_overlap_XXXXXX";
  cr_assert(mkdtemp(dir));
  cr_assert_eq(train_in(dir, VEC_ARGS " --set train.overlap=true --set train.threads=1 --out o1"), 0);
  cr_assert_eq(train_in(dir, VEC_ARGS " --set train.overlap=true --set train.threads=2 --out o2"), 0);
  cr_assert_eq(train_in(dir, VEC_ARGS " --set train.threads=2 --out plain"), 0);
  static char a[1 << 17], b[1 << 17];
  const char *files[2] = {"progress.csv", "eval.csv"};
  for (int i = 0; i < 2; i++) {
    curves_of(dir, "o1", files[i], a, sizeof a);
    curves_of(dir, "o2", files[i], b, sizeof b);
    cr_assert(strlen(a) > (i ? 80u : 1000u), "%s is nearly empty", files[i]);
    cr_assert_str_eq(a, b, "%s differs between 1 and 2 threads with overlap", files[i]);
  }
  curves_of(dir, "plain", "progress.csv", b, sizeof b);
  curves_of(dir, "o1", "progress.csv", a, sizeof a);
  cr_assert_str_neq(a, b, "overlap changed nothing: the updates were not moved");
  killed_and_resumed(dir, " --set train.overlap=true --set train.threads=2", "o2");
  char rm[1100];
  snprintf(rm, sizeof rm, "rm -rf %s", dir);
  cr_assert_eq(system(rm), 0);
}

// ---- runs whose numbers go bad ----
#include <cjson/cJSON.h>
#include <math.h>  // NAN

#include "armfarm.h"
#include "agents/sac.h"

// the newest checkpoint in DIR/resume with NaN written into the actor (all of it) or the
// first critic's output bias, through the agent API
static void poison(const char *dir, int actor) {
  char path[2048], err[256], latest[64] = "";
  snprintf(path, sizeof path, "%s/resume/latest", dir);
  FILE *lf = fopen(path, "r");
  cr_assert(lf && fgets(latest, sizeof latest, lf), "%s missing", path);
  fclose(lf);
  latest[strcspn(latest, "\n")] = 0;
  snprintf(path, sizeof path, "%s/config.json", dir);
  FILE *f = fopen(path, "r");
  cr_assert(f, "%s missing", path);
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  cJSON *doc = cJSON_Parse(buf), *ag = cJSON_GetObjectItem(doc, "agent");
  cr_assert(ag);
  cJSON_DeleteItemFromObject(ag, "name");
  char *cfg = cJSON_PrintUnformatted(ag);
  af_env *e = af_env_make("pendulum", NULL, err, sizeof err);
  cr_assert(e, "%s", err);
  af_agent *a = af_agent_make("sac", cfg, &(af_agent_setup){.spec = af_env_get_spec(e), .num_envs = 1}, err, sizeof err);
  cr_assert(a, "%s", err);
  snprintf(path, sizeof path, "%s/resume/%s/agent.bin", dir, latest);
  cr_assert_eq(af_agent_load(a, path, err, sizeof err), 0, "%s", err);
  af_sac *s = af_agent_impl(a);
  if (actor)
    for (int i = 0; i < af_mlp_nparams(s->actor); i++) af_mlp_params(s->actor)[i] = NAN;
  else
    af_mlp_params(s->q1)[af_mlp_nparams(s->q1) - 1] = NAN;
  cr_assert_eq(af_agent_save(a, path, err, sizeof err), 0, "%s", err);
  af_agent_free(a);
  af_env_free(e);
  cJSON_free(cfg);
  cJSON_Delete(doc);
}

// a run resumed from a checkpoint with a NaN critic skips every update (the actor stays
// finite) and stops after 1,000 of them in a row with one line and exit 1; with a NaN actor
// every episode ends at its first step as diverged, and the run stops after 100 of them.
// Before, the NaN critic spread into the actor and the run went on to its end.
Test(train, a_run_that_keeps_going_non_finite_stops_with_one_line, .timeout = 300) {
  char dir[] = "af_nantrain_XXXXXX";
  cr_assert(mkdtemp(dir));
  const char *args = "train --env pendulum --agent sac --steps 6000 --eval-every 1000 --eval-episodes 1 --checkpoint-every 2000 "
                     "--seed 2 --set agent.hidden=16 --set agent.batch=16 --set agent.warmup=200";
  const char *which[2] = {"critic", "actor"};
  const char *says[2] = {"the agent's updates keep failing (the last 1000 had a non-finite loss or gradient",
                         "the policy keeps producing non-finite actions (100 episodes in a row"};
  for (int k = 0; k < 2; k++) {
    char cmd[1024], run_dir[1024];
    snprintf(cmd, sizeof cmd, "%s --out %s", args, which[k]);
    cr_assert_eq(train_in(dir, cmd), 0, "the clean run failed");
    snprintf(run_dir, sizeof run_dir, "%s/%s", dir, which[k]);
    poison(run_dir, k);
    snprintf(cmd, sizeof cmd, "%s --out %s --resume", args, which[k]);
    cr_assert_eq(train_in(dir, cmd), 1, "the poisoned %s run did not fail", which[k]);
    static char said[1 << 16];
    snprintf(cmd, sizeof cmd, "%s/err.txt", dir);
    FILE *f = fopen(cmd, "r");
    cr_assert(f);
    said[fread(said, 1, sizeof said - 1, f)] = 0;
    fclose(f);
    cr_assert(strstr(said, says[k]), "the %s run did not say why it stopped: %s", which[k], said);
  }
}

// a link planted in a run folder (the curves, or the resume folder) is refused with exit 2
// and the file it points at is left alone; before, the trainer wrote through it
Test(train, links_in_a_run_folder_are_refused) {
  char dir[] = "af_links_XXXXXX";
  cr_assert(mkdtemp(dir));
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "cd %s && mkdir r1 r2 && echo keep > outside.txt && ln -s ../outside.txt r1/progress.csv && "
                            "mkdir elsewhere && ln -s ../elsewhere r2/resume", dir);
  cr_assert_eq(system(cmd), 0);
  const char *args = "train --env pendulum --agent sac --steps 400 --eval-every 200 --eval-episodes 1 --checkpoint-every 200 "
                     "--set agent.hidden=8 --set agent.batch=8 --set agent.warmup=100 --out ";
  for (int k = 1; k <= 2; k++) {
    snprintf(cmd, sizeof cmd, "%sr%d", args, k);
    cr_assert_eq(train_in(dir, cmd), 2, "a run folder with a link was used");
    snprintf(cmd, sizeof cmd, "grep -q 'is a symbolic link' %s/err.txt", dir);
    cr_assert_eq(system(cmd), 0, "no message naming the link");
  }
  snprintf(cmd, sizeof cmd, "test \"$(cat %s/outside.txt)\" = keep && test -z \"$(ls %s/elsewhere)\"", dir, dir);
  cr_assert_eq(system(cmd), 0, "a file outside the run folder was written");
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

// ---- crafted files in a run folder ----
#include <math.h>  // NAN

#include "tests/ckpt_edit.h"  // crafted checkpoint files

#define CRAFT_ARGS "train --env pendulum --agent sac --steps 300 --eval-every 300 --eval-episodes 1 --checkpoint-every 250 " \
                   "--seed 1 --set agent.hidden=8 --set agent.batch=8 --set agent.warmup=100 --out train_cr"

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  cr_assert(f && fputs(text, f) >= 0);
  fclose(f);
}

Test(train, crafted_resume_files_are_refused, .timeout = 120) {
  cr_assert_eq(system("rm -rf train_cr"), 0);
  cr_assert_eq(run(CRAFT_ARGS), 0);
  cr_assert_eq(run(CRAFT_ARGS " --resume"), 0, "the honest checkpoint does not resume");
  // the trainer's state: counters, episode lengths, the stats, each environment's episode
  const char *ckpt = "train_cr/resume/step_250/trainer.bin";
  struct { const char *tensor; size_t at; float v; const char *want; } cases[] = {
    {"trainer", 0, 0.5f, "counters are not packed"},
    {"trainer", 3, 65535, "counters are not packed"},  // a step count beyond a long
    {"episodes", 1, -1, "counters are not packed"},
    {"episode_lengths", 0, 2.5f, "episode length 2.5 is no whole number"},
    {"episode_lengths", 0, 1e9f, "is no whole number below the horizon"},
    {"trainer_stats", 6, NAN, "update count"},
  };
  cr_assert_eq(system("cp train_cr/resume/step_250/trainer.bin trainer_honest.bin"), 0);
  for (int c = 0; c < 6; c++) {
    cr_assert_eq(system("cp trainer_honest.bin train_cr/resume/step_250/trainer.bin"), 0);
    cr_assert_eq(ckpt_edit(ckpt, cases[c].tensor, cases[c].at, cases[c].v), 0, "case %d: no tensor %s", c, cases[c].tensor);
    cr_assert_neq(run(CRAFT_ARGS " --resume"), 0, "case %d: a crafted trainer.bin was resumed", c);
    char *msg = NULL;
    size_t n = 0;
    FILE *f = fopen("train_err.txt", "r");
    cr_assert(f && getdelim(&msg, &n, 0, f) > 0);
    fclose(f);
    cr_assert(strstr(msg, cases[c].want), "case %d: '%s', expected '%s'", c, msg, cases[c].want);
    free(msg);
  }
  // resume/latest naming something other than a checkpoint folder of resume/
  cr_assert_eq(system("cp trainer_honest.bin train_cr/resume/step_250/trainer.bin"), 0);
  const char *names[3] = {"..\n", "\n", "step_25x\n"};
  for (int i = 0; i < 3; i++) {
    write_text("train_cr/resume/latest", names[i]);
    cr_assert_neq(run(CRAFT_ARGS " --resume"), 0, "resume/latest '%s' was followed", names[i]);
  }
  write_text("train_cr/resume/latest", "step_250\n");
  cr_assert_eq(run(CRAFT_ARGS " --resume"), 0);
  cr_assert_eq(system("rm -rf train_cr trainer_honest.bin"), 0);
}

// the n-th comma-separated field of a line (0-based), as a number
static double field(const char *line, int n) {
  const char *p = line;
  for (int i = 0; i < n && p; i++) p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
  cr_assert(p, "no field %d in %s", n, line);
  return atof(p);
}

Test(train, evaluation_files_carry_the_environments_episode_metrics, .timeout = 300) {
  // the quadruped on stairs up at a fixed difficulty 0.6 and a fixed command of 0.5 m/s,
  // evaluated on the training setting and on a second one at difficulty 0.3: every row ends in
  // progress, distance, mean_speed and difficulty; difficulty is the one set, and since each
  // episode's progress is its distance over (0.5 m/s x its duration) and its mean speed that
  // distance over the duration, the means over episodes obey progress = mean_speed / 0.5
  cr_assert_eq(system("rm -rf train_metrics train_metrics.json"), 0);
  FILE *f = fopen("train_metrics.json", "w");
  cr_assert(f);
  fputs("{\"env\": {\"name\": \"quadruped\", \"terrain\": \"stairs_up\", \"randomize\": {\"difficulty\": [0.6, 0.6], \"command_vel\": [0.5, 0.5]}},\n"
        " \"agent\": {\"name\": \"sac\", \"hidden\": 32, \"batch\": 32, \"warmup\": 200},\n"
        " \"train\": {\"steps\": 600, \"eval_every\": 300, \"eval_episodes\": 3},\n"
        " \"eval_envs\": {\"easy\": {\"randomize\": {\"difficulty\": [0.3, 0.3]}}}}\n", f);
  cr_assert_eq(fclose(f), 0);
  cr_assert_eq(run("train --config train_metrics.json --seed 5 --out train_metrics"), 0, "armfarm train failed");
  const char *files[2] = {"train_metrics/eval.csv", "train_metrics/eval_easy.csv"};
  const double level[2] = {0.6, 0.3};
  for (int k = 0; k < 2; k++) {
    FILE *e = fopen(files[k], "r");
    cr_assert(e, "%s missing", files[k]);
    char line[1024];
    cr_assert(fgets(line, sizeof line, e));
    cr_assert_str_eq(line, "step,return,return_std,success,length,time_s,progress,distance,mean_speed,difficulty,"
                           "progress_median,distance_median,mean_speed_median,difficulty_median\n");
    int rows = 0;
    while (fgets(line, sizeof line, e)) {
      double prog = field(line, 6), dist = field(line, 7), speed = field(line, 8), diff = field(line, 9);
      cr_assert_float_eq(diff, level[k], 1e-6, "%s: %s", files[k], line);
      cr_assert_float_eq(prog, speed / 0.5, 1e-4 + 1e-4 * fabs(prog), "%s: %s", files[k], line);
      // the medians over the 3 episodes: progress is mean speed / 0.5 episode by episode, an
      // increasing map, so the medians obey it too; the difficulty is the same in all
      double mprog = field(line, 10), mspeed = field(line, 12), mdiff = field(line, 13);
      cr_assert_float_eq(mdiff, level[k], 1e-6, "%s: %s", files[k], line);
      cr_assert_float_eq(mprog, mspeed / 0.5, 1e-4 + 1e-4 * fabs(mprog), "%s: %s", files[k], line);
      cr_assert(isfinite(dist), "%s: %s", files[k], line);
      rows++;
    }
    fclose(e);
    cr_assert_eq(rows, 2, "%s: %d evaluation rows", files[k], rows);
  }
  cr_assert_eq(system("rm -rf train_metrics train_metrics.json"), 0);
}

Test(train, a_spread_evaluation_sets_evenly_spaced_tasks, .timeout = 300) {
  // train.eval_spread difficulty over [0.1, 0.9] and 3 episodes: the evaluation's quadrupeds
  // walk at difficulties 0.1, 0.5 and 0.9, whose mean and median are 0.5 in every row (random
  // draws would not give that); the training episodes still draw theirs; a name that is no
  // task entry, and a spread over one episode, are refused with one line and exit 2
  cr_assert_eq(system("rm -rf train_spread train_spread.json"), 0);
  FILE *f = fopen("train_spread.json", "w");
  cr_assert(f);
  fputs("{\"env\": {\"name\": \"quadruped\", \"terrain\": \"stairs_up\", \"randomize\": {\"difficulty\": [0.1, 0.9]}},\n"
        " \"agent\": {\"name\": \"sac\", \"hidden\": 32, \"batch\": 32, \"warmup\": 200},\n"
        " \"train\": {\"steps\": 600, \"eval_every\": 300, \"eval_episodes\": 3, \"eval_spread\": \"difficulty\"}}\n", f);
  cr_assert_eq(fclose(f), 0);
  cr_assert_eq(run("train --config train_spread.json --seed 2 --out train_spread"), 0, "armfarm train failed");
  FILE *e = fopen("train_spread/eval.csv", "r");
  cr_assert(e);
  char line[1024];
  int rows = 0;
  cr_assert(fgets(line, sizeof line, e));
  while (fgets(line, sizeof line, e)) {
    cr_assert_float_eq(field(line, 9), 0.5, 1e-6, "mean difficulty: %s", line);
    cr_assert_float_eq(field(line, 13), 0.5, 1e-6, "median difficulty: %s", line);
    rows++;
  }
  fclose(e);
  cr_assert_eq(rows, 2);
  // the training episodes' levels are drawn: not all three grid points
  FILE *pg = fopen("train_spread/progress.csv", "r");
  cr_assert(pg);
  int off_grid = 0;
  cr_assert(fgets(line, sizeof line, pg));
  while (fgets(line, sizeof line, pg)) {
    const char *last = strrchr(line, ',');
    double d = atof(last + 1);
    off_grid += fabs(d - 0.1) > 1e-9 && fabs(d - 0.5) > 1e-9 && fabs(d - 0.9) > 1e-9;
  }
  fclose(pg);
  cr_assert(off_grid > 0, "the training episodes' difficulties are all grid points");
  cr_assert_eq(run("train --config train_spread.json --seed 2 --out train_spread2 --set train.eval_spread=door_mass"), 2);
  cr_assert_eq(run("train --config train_spread.json --seed 2 --out train_spread2 --set train.eval_episodes=1"), 2);
  cr_assert_eq(system("test ! -e train_spread2 && test $(wc -l < train_err.txt) -eq 1 && grep -q eval_spread train_err.txt"), 0);
  cr_assert_eq(system("rm -rf train_spread train_spread.json"), 0);
}

// a terrain curriculum over six quadrupeds on a mix of stairs and rough ground, starting at
// level 3 of 5: each episode's level is the last column of progress.csv, the curves do not
// depend on the threads, and a run killed mid-way resumes with the same levels and curves
#define CUR_ARGS "train --config cur.json --seed 3 --steps 4800 --eval-every 1600 --eval-episodes 1 --checkpoint-every 900 "
Test(train, a_curriculum_moves_levels_independently_of_threads_and_resumes, .timeout = 300) {
  char dir[] = "af_curtrain_XXXXXX";
  cr_assert(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof path, "%s/cur.json", dir);
  FILE *f = fopen(path, "w");
  cr_assert(f);
  fputs("{\"env\": {\"name\": \"quadruped\", \"terrains\": \"stairs_up,rough\"},\n"
        " \"agent\": {\"name\": \"sac\", \"hidden\": 32, \"batch\": 32, \"warmup\": 600, \"update_every\": 4},\n"
        " \"train\": {\"num_envs\": 6}, \"curriculum\": {\"levels\": 5, \"start\": 3}}\n", f);
  cr_assert_eq(fclose(f), 0);
  cr_assert_eq(train_in(dir, CUR_ARGS "--set train.threads=1 --out c1"), 0);
  cr_assert_eq(train_in(dir, CUR_ARGS "--set train.threads=2 --out c2"), 0);
  static char a[1 << 17], b[1 << 17];
  curves_of(dir, "c1", "progress.csv", a, sizeof a);
  curves_of(dir, "c2", "progress.csv", b, sizeof b);
  cr_assert_str_eq(a, b, "progress.csv differs between 1 and 2 threads");
  // the levels: the first episode to end is a first one, at the start level; every level is
  // in [0, 4], and an untrained policy (progress below 0.5) sends environments down. The
  // quadruped's episode metrics come before the level, and each episode ran at its level's
  // difficulty (levels 0..4 spread over [0, 1])
  const char *head = "step,episode,return,length,success,critic_loss,actor_loss,alpha,entropy,progress,distance,mean_speed,difficulty,level,\n";
  cr_assert(!strncmp(a, head, strlen(head)), "%.200s", a);
  int rows = 0, first3 = 0, below = 0;
  for (char *line = strchr(a, '\n') + 1; *line; line = strchr(line, '\n') + 1, rows++) {
    int level = (int)field(line, 13);  // the wall-clock columns are gone: the level is the 14th
    cr_assert(level >= 0 && level <= 4, "level %d", level);
    cr_assert_float_eq(field(line, 12), level / 4.0, 1e-5, "episode %d at level %d had difficulty %g", rows, level, field(line, 12));
    first3 += rows == 0 && level == 3;
    below += level < 3;
  }
  cr_assert_eq(first3, 1, "the first episode was not at level 3");
  cr_assert(rows > 20 && below > 0, "%d episodes, %d below the start level", rows, below);
  killed_and_resumed_with(dir, CUR_ARGS, "--set train.threads=2", "c2");
  char rm[1100];
  snprintf(rm, sizeof rm, "rm -rf %s", dir);
  cr_assert_eq(system(rm), 0);
}

// a learned reward (VICE-RAQ) over four puck pushers: the evaluation files carry its
// success probability, queries and positives, classifier_episode.csv its output over one
// episode, the curves do not depend on the threads, and a killed run resumes to the same
// curves (the classifier, its positives and visited states are in the checkpoint)
#define VICE_ARGS "train --config vice.json --seed 2 --steps 3200 --eval-every 800 --eval-episodes 2 --checkpoint-every 440 "
Test(train, a_learned_reward_is_logged_and_resumes_bit_for_bit, .timeout = 300) {
  char dir[] = "af_vicetrain_XXXXXX";
  cr_assert(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof path, "%s/vice.json", dir);
  FILE *f = fopen(path, "w");
  cr_assert(f);
  fputs("{\"env\": {\"name\": \"puck_push\", \"reward\": \"sparse\", \"horizon\": 40,\n"
        "         \"randomize\": {\"goal_x\": [0.55, 0.55], \"goal_y\": [0.1, 0.1]}},\n"
        " \"agent\": {\"name\": \"sac\", \"hidden\": 32, \"batch\": 32, \"warmup\": 400, \"update_every\": 4},\n"
        " \"train\": {\"num_envs\": 4},\n"
        " \"reward\": {\"mode\": \"vice_raq\", \"examples\": 12, \"hidden\": 32, \"batch\": 16, \"updates_per_1k\": 40}}\n", f);
  cr_assert_eq(fclose(f), 0);
  cr_assert_eq(train_in(dir, VICE_ARGS "--set train.threads=1 --out v1"), 0);
  cr_assert_eq(train_in(dir, VICE_ARGS "--set train.threads=2 --out v2"), 0);
  static char a[1 << 17], b[1 << 17];
  const char *files[2] = {"progress.csv", "eval.csv"};
  for (int i = 0; i < 2; i++) {
    curves_of(dir, "v1", files[i], a, sizeof a);
    curves_of(dir, "v2", files[i], b, sizeof b);
    cr_assert_str_eq(a, b, "%s differs between 1 and 2 threads", files[i]);
  }
  // eval.csv: the learner's columns last; 3 queries by step 3200 (one per 1,000 steps)
  curves_of(dir, "v1", "eval.csv", a, sizeof a);
  cr_assert(strstr(a, ",learned_success,queries,positives,\n"), "%.300s", a);
  char *last = a + strlen(a) - 2;
  while (last > a && *last != '\n') last--;
  double p = field(last + 1, 13), q = field(last + 1, 14), pos = field(last + 1, 15);  // after 4 metrics and their medians
  cr_assert(p > 0 && p < 1 && q == 3 && pos >= 12 && pos <= 15, "%s", last + 1);
  // the classifier over one episode: a row per step and the first state's
  snprintf(path, sizeof path, "%s/v1/classifier_episode.csv", dir);
  f = fopen(path, "r");
  cr_assert(f, "%s missing", path);
  char line[256];
  int rows = 0;
  cr_assert(fgets(line, sizeof line, f) && !strcmp(line, "step,learned_success,success\n"));
  while (fgets(line, sizeof line, f)) {
    double pr = field(line, 1);
    cr_assert(pr >= 0 && pr <= 1, "%s", line);
    rows++;
  }
  fclose(f);
  cr_assert_eq(rows, 41);
  killed_and_resumed_with(dir, VICE_ARGS, "--set train.threads=2", "v2");
  char rm[1100];
  snprintf(rm, sizeof rm, "rm -rf %s", dir);
  cr_assert_eq(system(rm), 0);
}
