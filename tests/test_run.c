// The experiment runner end to end: a 2 x 3 sweep with two jobs and its analysis; a sweep
// killed with SIGKILL (runner and children) and resumed writes the same curves as an
// uninterrupted one; malformed experiment files fail with one line and exit 2, leaving
// existing output alone.
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

static char errbuf[4096];

static int sh(const char *cmd) {
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int armfarm(const char *args) {
  cr_assert(getenv("ARMFARM_BIN"), "ARMFARM_BIN must point at the armfarm program (ctest sets it)");
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "%s %s >run_out.txt 2>run_err.txt </dev/null", getenv("ARMFARM_BIN"), args);
  int rc = sh(cmd);
  FILE *f = fopen("run_err.txt", "r");
  size_t k = f ? fread(errbuf, 1, sizeof errbuf - 1, f) : 0;
  errbuf[k] = 0;
  if (f) fclose(f);
  return rc;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  cr_assert(f);
  fputs(text, f);
  fclose(f);
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

#define SWEEP(steps) \
  "{\"name\": \"t\", \"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\", \"hidden\": 48, \"batch\": 48, \"warmup\": 300}," \
  " \"train\": {\"steps\": " #steps ", \"eval_every\": 500, \"eval_episodes\": 2, \"checkpoint_every\": 400}," \
  " \"eval_envs\": {\"heavy\": {\"randomize\": {\"pole_mass\": [1.2, 1.2]}}}," \
  " \"sweep\": {\"seeds\": 3, \"grid\": {\"agent.lr\": [0.001, 0.0003]}}, \"jobs\": 2}"

Test(run, sweep_two_variants_three_seeds_and_analysis, .timeout = 300) {
  sh("rm -rf run_a");
  write_file("run_sweep.json", SWEEP(1500));
  cr_assert_eq(armfarm("run run_sweep.json --out run_a --jobs 2"), 0, "%s", errbuf);
  // six run folders, each finished with its files
  DIR *d = opendir("run_a");
  struct dirent *e;
  int runs = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || strlen(e->d_name) != 12) continue;
    char p[512];
    const char *files[] = {"config.json", "progress.csv", "eval.csv", "eval_heavy.csv", "status.json", "manifest.json", "checkpoint.bin"};
    for (int i = 0; i < 7; i++) {
      snprintf(p, sizeof p, "run_a/%s/%s", e->d_name, files[i]);
      cr_assert(exists(p), "%s missing", p);
    }
    runs++;
  }
  closedir(d);
  cr_assert_eq(runs, 6);
  cr_assert_eq(armfarm("analyze run_a --final-reps 2000"), 0, "%s", errbuf);
  const char *outs[] = {"summary.md", "summary.csv", "curves_train.csv", "curves_heavy.csv", "curves_train.png",
                        "curves_train.svg", "curves_heavy.png", "variant_0.png", "variant_1.svg"};
  for (int i = 0; i < 9; i++) {
    char p[256];
    snprintf(p, sizeof p, "run_a/analysis/%s", outs[i]);
    cr_assert(exists(p), "%s missing", p);
  }
  // the table: one row per variant and evaluation setting, three runs each
  FILE *f = fopen("run_a/analysis/summary.csv", "r");
  char line[512];
  int rows = 0;
  cr_assert(fgets(line, sizeof line, f));
  cr_assert_str_eq(line, "variant,eval,n,iqm,mean,median,ci_low,ci_high\n");
  while (fgets(line, sizeof line, f)) {
    cr_assert(strstr(line, ",3,") != NULL, "n = 3: %s", line);
    rows++;
  }
  fclose(f);
  cr_assert_eq(rows, 4);
}

// the CSVs of every run without their wall-clock columns, concatenated in run order
static void curves(const char *dir, char *out, size_t n) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "cd %s && for r in $(ls | grep -E '^[0-9a-f]{12}$'); do for f in progress.csv eval.csv eval_heavy.csv; do "
           "echo $r/$f; cut -d, -f1-9 $r/$f | sed 's/,[0-9.]*$//' ; done; done > ../run_curves.txt", dir);
  cr_assert_eq(sh(cmd), 0);
  FILE *f = fopen("run_curves.txt", "r");
  size_t k = fread(out, 1, n - 1, f);
  out[k] = 0;
  fclose(f);
}

Test(run, killed_and_resumed_equals_uninterrupted, .timeout = 600) {
  sh("rm -rf run_b run_c");
  write_file("run_kill.json", SWEEP(3000));
  cr_assert_eq(armfarm("run run_kill.json --out run_b --jobs 2"), 0, "%s", errbuf);
  // the same sweep, killed with SIGKILL (runner and children) once some checkpoints exist
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    int nul = open("/dev/null", 1);
    dup2(nul, 1);
    dup2(nul, 2);
    execl(getenv("ARMFARM_BIN"), "armfarm", "run", "run_kill.json", "--out", "run_c", "--jobs", "2", (char *)NULL);
    _exit(127);
  }
  setpgid(pid, pid);
  int killed = 0;
  for (int i = 0; i < 3000 && !killed; i++) {
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (sh("ls run_c/*/resume/latest >/dev/null 2>&1") == 0) {
      kill(-pid, SIGKILL);
      killed = 1;
    }
  }
  int st;
  waitpid(pid, &st, 0);
  cr_assert(killed, "the sweep ended before any checkpoint");
  cr_assert(WIFSIGNALED(st));
  // some runs are unfinished now; resume completes them
  cr_assert_neq(sh("grep -l finished run_c/*/status.json 2>/dev/null | wc -l | grep -qx 6"), 0, "nothing was interrupted");
  cr_assert_eq(armfarm("run run_kill.json --out run_c --resume"), 0, "%s", errbuf);
  static char a[1 << 20], b[1 << 20];
  curves("run_b", a, sizeof a);
  curves("run_c", b, sizeof b);
  cr_assert(strlen(a) > 1000);
  cr_assert_str_eq(a, b, "the resumed sweep's curves differ from the uninterrupted sweep's");
}

// a malformed file: exit 2, one line naming the problem, nothing written into `out`
static void refused(const char *text, const char *needle) {
  write_file("run_bad.json", text);
  sh("rm -rf run_d && mkdir run_d && echo keep > run_d/sentinel");
  cr_assert_eq(armfarm("run run_bad.json --out run_d"), 2, "%s: expected exit 2; stderr: %s", needle, errbuf);
  cr_assert(strstr(errbuf, needle) != NULL, "stderr '%s' lacks '%s'", errbuf, needle);
  char *nl = strchr(errbuf, '\n');
  cr_assert(nl && nl[1] == 0, "one line: '%s'", errbuf);
  cr_assert_eq(sh("test \"$(ls run_d)\" = sentinel && grep -qx keep run_d/sentinel"), 0, "the output folder was touched");
}

Test(run, malformed_experiment_files_are_refused) {
  const char *ok_env = "\"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\"}";
  char t[1024];
  refused("{\n  \"name\": \"x\",\n  \"env\": {\"name\": \"pendulum\"\n  \"agent\": {}\n}\n", "run_bad.json:4:");
  snprintf(t, sizeof t, "{%s, \"trian\": {}}", ok_env);
  refused(t, "trian: unknown key (did you mean 'train'?)");
  snprintf(t, sizeof t, "{%s, \"train\": {\"steps\": \"many\"}}", ok_env);
  refused(t, "train.steps: expected a number");
  snprintf(t, sizeof t, "{%s, \"train\": {\"steps\": -5}}", ok_env);
  refused(t, "train.steps: -5 is out of range");
  refused("{\"env\": {\"name\": \"pendlum\"}, \"agent\": {\"name\": \"sac\"}}", "env: unknown environment 'pendlum'");
  refused("{\"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"ppo9\"}}", "unknown agent 'ppo9'");
  snprintf(t, sizeof t, "{%s, \"sweep\": {\"seeds\": []}}", ok_env);
  refused(t, "sweep.seeds: the list is empty");
  snprintf(t, sizeof t, "{%s, \"sweep\": {\"grid\": {\"agent.lr\": [0.001, 7]}}}", ok_env);
  refused(t, "variant agent.lr=7: agent.lr: 7 is out of range");
  snprintf(t, sizeof t, "{%s, \"agent\": {\"name\": \"sac\", \"lrr\": 1}}", "\"env\": {\"name\": \"pendulum\"}");
  refused(t, "agent.lrr: unknown sac hyperparameter (did you mean 'lr'?)");
  // a folder that belongs to another experiment
  sh("rm -rf run_e");
  snprintf(t, sizeof t, "{\"name\": \"one\", %s, \"train\": {\"steps\": 200, \"eval_every\": 100, \"eval_episodes\": 1}}", ok_env);
  write_file("run_one.json", t);
  cr_assert_eq(armfarm("run run_one.json --out run_e"), 0, "%s", errbuf);
  sh("cp -r run_e run_e_before");
  snprintf(t, sizeof t, "{\"name\": \"two\", %s, \"train\": {\"steps\": 300, \"eval_every\": 100, \"eval_episodes\": 1}}", ok_env);
  write_file("run_two.json", t);
  cr_assert_eq(armfarm("run run_two.json --out run_e"), 2);
  cr_assert(strstr(errbuf, "holds a different experiment") != NULL, "%s", errbuf);
  cr_assert_eq(armfarm("run run_one.json --out run_e"), 2);
  cr_assert(strstr(errbuf, "add --resume") != NULL, "%s", errbuf);
  cr_assert_eq(sh("diff -r run_e run_e_before >/dev/null"), 0, "the existing output changed");
  sh("rm -rf run_e_before");
}

// ---- names and counts the old fixed buffers cut or capped ----

// a fresh temporary folder as the working directory (init), and back out of it, removed (fini)
static char tmp_root[64];
static void enter_tmp(void) {
  snprintf(tmp_root, sizeof tmp_root, "/tmp/af_test_run_XXXXXX");
  cr_assert(mkdtemp(tmp_root), "mkdtemp");
  cr_assert_eq(chdir(tmp_root), 0);
}
static void leave_tmp(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
  if (chdir("/") != 0 || sh(cmd) != 0) cr_log_error("cannot remove %s", tmp_root);
}

Test(run, a_long_experiment_name_is_kept_whole, .init = enter_tmp, .fini = leave_tmp) {
  // 300 characters: the old name buffer held 255
  char name[301], t[1024], line[800];
  memset(name, 'x', 300);
  name[300] = 0;
  snprintf(t, sizeof t, "{\"name\": \"%s\", \"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\"}}", name);
  write_file("long.json", t);
  cr_assert_eq(armfarm("run long.json --dry-run --jobs 1"), 0, "%s", errbuf);
  FILE *f = fopen("run_out.txt", "r");
  static char first[4096];
  cr_assert(f && fgets(first, sizeof first, f));
  fclose(f);
  snprintf(line, sizeof line, "experiment %s: 1 variant x 1 seed = 1 runs -> runs/%s (1 at a time)\n", name, name);
  cr_assert_str_eq(first, line);
}

Test(run, a_note_for_readers_changes_no_run, .init = enter_tmp, .fini = leave_tmp) {
  // the same experiment with and without "about": the same run ids; about must be a string
  static char a[1 << 14], b[1 << 14];
  write_file("plain.json", "{\"name\": \"e\", \"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\"}, \"sweep\": {\"seeds\": 2}}");
  write_file("noted.json", "{\"name\": \"e\", \"about\": \"why 2 seeds: a test\", \"env\": {\"name\": \"pendulum\"}, "
                           "\"agent\": {\"name\": \"sac\"}, \"sweep\": {\"seeds\": 2}}");
  char *bufs[2] = {a, b};
  const char *files[2] = {"run plain.json --dry-run", "run noted.json --dry-run"};
  for (int k = 0; k < 2; k++) {
    cr_assert_eq(armfarm(files[k]), 0, "%s", errbuf);
    FILE *f = fopen("run_out.txt", "r");
    cr_assert(f);
    size_t n = fread(bufs[k], 1, sizeof a - 1, f);
    bufs[k][n] = 0;
    fclose(f);
  }
  cr_assert(strstr(a, " 2 runs "), "%s", a);
  cr_assert_str_eq(a, b);
  write_file("bad.json", "{\"about\": 3, \"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\"}}");
  cr_assert_eq(armfarm("run bad.json --dry-run"), 2, "%s", errbuf);
  cr_assert(strstr(errbuf, "about: expected a string"), "%s", errbuf);
}

Test(run, more_than_sixteen_settings_per_variant, .init = enter_tmp, .fini = leave_tmp) {
  // 17 grid axes of one value each and a random parameter: the old variants held 16 settings
  const char *axes[17] = {"env.horizon", "env.control_hz", "env.timestep", "env.image_width", "env.image_height", "agent.lr",
                          "agent.batch", "agent.hidden", "agent.layers", "agent.gamma", "agent.tau", "agent.buffer",
                          "agent.warmup", "agent.updates_per_step", "agent.init_alpha", "agent.grad_clip", "agent.log_std_min"};
  const char *vals[17] = {"200", "20", "0", "64", "64", "0.001", "64", "32", "2", "0.99", "0.005", "5000", "100", "1", "1", "0", "-20"};
  static char t[4096];
  int n = snprintf(t, sizeof t, "{\"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\"}, \"sweep\": {\"grid\": {");
  for (int i = 0; i < 17; i++) n += snprintf(t + n, sizeof t - n, "%s\"%s\": [%s]", i ? ", " : "", axes[i], vals[i]);
  snprintf(t + n, sizeof t - n, "}, \"random\": {\"count\": 1, \"params\": {\"agent.log_std_max\": [1, 1]}}}}");
  write_file("many.json", t);
  cr_assert_eq(armfarm("run many.json --dry-run"), 0, "%s", errbuf);
  static char o[1 << 14];
  FILE *f = fopen("run_out.txt", "r");
  size_t k = fread(o, 1, sizeof o - 1, f);
  o[k] = 0;
  fclose(f);
  for (int i = 0; i < 17; i++) {
    char kv[64];
    snprintf(kv, sizeof kv, "%s=%s", axes[i], vals[i]);
    cr_assert(strstr(o, kv), "the settings lack %s: %s", kv, o);
  }
  cr_assert(strstr(o, "agent.log_std_max=1"), "the random draw is missing: %s", o);
}

Test(run, a_long_sweep_path_is_named_whole, .init = enter_tmp, .fini = leave_tmp) {
  // a 150-character key: the old axis held 127 characters, and named a key the file lacks
  char key[151], t[1024], needle[200];
  memset(key, 'k', 150);
  key[150] = 0;
  snprintf(t, sizeof t, "{\"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\"}, \"sweep\": {\"grid\": {\"env.%s\": [1]}}}", key);
  write_file("key.json", t);
  cr_assert_eq(armfarm("run key.json --dry-run"), 2, "%s", errbuf);
  snprintf(needle, sizeof needle, "variant env.%s=1: ", key);
  cr_assert(strstr(errbuf, needle), "stderr lacks the whole key: %s", errbuf);
  char *nl = strchr(errbuf, '\n');
  cr_assert(nl && nl[1] == 0, "one line: '%s'", errbuf);
}

// ---- hardening: the run limit, names and folders, the lock, signals, finished sweeps ----

#include <errno.h>
#include <sys/prctl.h>

// a file's text into buf (empty when missing)
static void slurp(const char *path, char *buf, size_t n) {
  FILE *f = fopen(path, "r");
  size_t k = f ? fread(buf, 1, n - 1, f) : 0;
  buf[k] = 0;
  if (f) fclose(f);
}

Test(run, the_manifest_names_the_commit_the_program_was_built_from, .init = enter_tmp, .fini = leave_tmp) {
  // the source tree's commit as git tells it now, "-dirty" with changed tracked files
  // (the program under test is built from this tree); "unknown" outside git
  char cmd[1024], want[64], got[4096];
  snprintf(cmd, sizeof cmd,
           "c=$(git -C '%s' rev-parse --short=12 HEAD 2>/dev/null) || c=unknown; "
           "if [ \"$c\" != unknown ] && [ -n \"$(git -C '%s' status --porcelain --untracked-files=no)\" ]; then c=$c-dirty; fi; "
           "printf '%%s' \"$c\" > want.txt", AF_TEST_SOURCE, AF_TEST_SOURCE);
  cr_assert_eq(sh(cmd), 0);
  slurp("want.txt", want, sizeof want);
  write_file("one.json", "{\"name\": \"m\", \"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\", \"hidden\": 16, \"warmup\": 50},"
                         " \"train\": {\"steps\": 100, \"eval_every\": 100, \"eval_episodes\": 1}}");
  cr_assert_eq(armfarm("run one.json --out m"), 0, "%s", errbuf);
  cr_assert_eq(sh("cat m/*/manifest.json > got.txt"), 0);
  slurp("got.txt", got, sizeof got);
  char needle[128];
  snprintf(needle, sizeof needle, "\"git_commit\":\t\"%s\"", want);
  cr_assert(strlen(want) >= 7 && strstr(got, needle), "the manifest lacks %s: %s", needle, got);
}

Test(run, listed_variants_set_their_paths_together, .init = enter_tmp, .fini = leave_tmp) {
  // two listed variants (two paths each) times a grid of two: 4 variants, each pair kept whole
  write_file("list.json",
             "{\"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\"}, \"sweep\": {\"seeds\": 2,"
             " \"variants\": [{\"env.horizon\": 150, \"agent.hidden\": 40}, {\"env.horizon\": 250, \"agent.hidden\": 24}],"
             " \"grid\": {\"agent.lr\": [0.001, 0.0003]}}}");
  cr_assert_eq(armfarm("run list.json --dry-run"), 0, "%s", errbuf);
  static char o[1 << 14];
  slurp("run_out.txt", o, sizeof o);
  cr_assert(strstr(o, "4 variants x 2 seeds = 8 runs"), "%s", o);
  const char *want[4] = {"env.horizon=150 agent.hidden=40 agent.lr=0.001", "env.horizon=150 agent.hidden=40 agent.lr=0.0003",
                         "env.horizon=250 agent.hidden=24 agent.lr=0.001", "env.horizon=250 agent.hidden=24 agent.lr=0.0003"};
  for (int i = 0; i < 4; i++) cr_assert(strstr(o, want[i]), "the settings lack '%s': %s", want[i], o);
  // never a mixed pair
  cr_assert(!strstr(o, "env.horizon=150 agent.hidden=24") && !strstr(o, "env.horizon=250 agent.hidden=40"), "%s", o);
  // refusals, one line each
  const char *bad[][2] = {
    {"\"variants\": []", "sweep.variants: expected a non-empty list"},
    {"\"variants\": [3]", "sweep.variants[0]: expected an object"},
    {"\"variants\": [{\"env.horizon\": 100}, {}]", "sweep.variants[1]: expected an object of path: value with at least one path"},
    {"\"variants\": [{\"horizon\": 100}]", "sweep.variants[0].horizon: a path must start with env."},
    {"\"variants\": [{\"agent.lr\": 0.01}], \"grid\": {\"agent.lr\": [0.001]}", "sweep.variants[0].agent.lr: the path is also swept by sweep.grid"},
    {"\"variants\": [{\"env.horizon\": 100, \"env.horizon\": 120}]", "sweep.variants[0].env.horizon: the path is set twice"},
    {"\"variants\": [{\"env.horizon\": -3}]", "variant env.horizon=-3: env: horizon: -3 is out of range"},
    {"\"variant\": []", "sweep.variant: unknown key (did you mean 'variants'?)"},
  };
  for (int i = 0; i < 8; i++) {
    char t[1024];
    snprintf(t, sizeof t, "{\"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\"}, \"sweep\": {%s}}", bad[i][0]);
    write_file("bad.json", t);
    cr_assert_eq(armfarm("run bad.json --dry-run"), 2, "%s: %s", bad[i][0], errbuf);
    cr_assert(strstr(errbuf, bad[i][1]), "stderr '%s' lacks '%s'", errbuf, bad[i][1]);
    char *nl = strchr(errbuf, '\n');
    cr_assert(nl && nl[1] == 0, "one line: '%s'", errbuf);
  }
}

// armfarm with these arguments in the background, in a process group of its own, killed
// with this test's process; its output into bg_out.txt
static pid_t start_bg(const char *const *args) {
  char *argv[32] = {"armfarm"};
  for (int i = 0; args[i] && i < 30; i++) argv[i + 1] = (char *)args[i];
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open("bg_out.txt", O_WRONLY | O_CREAT | O_APPEND, 0644), nul = open("/dev/null", O_RDONLY);
    if (fd < 0 || nul < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || dup2(nul, 0) < 0) _exit(126);
    execv(getenv("ARMFARM_BIN"), argv);
    _exit(127);
  }
  setpgid(pid, pid);
  return pid;
}

// a process that is alive (not gone and not a zombie)
static int alive(pid_t pid) {
  char path[64], text[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  slurp(path, text, sizeof text);
  char *rp = strrchr(text, ')');
  return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

// the `armfarm train` processes working in this test's folder: their pids into out; the count
static int trainers_here(pid_t *out, int cap) {
  char here[4096];
  cr_assert(getcwd(here, sizeof here));
  DIR *d = opendir("/proc");
  cr_assert(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) && n < cap;) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char path[300], cmd[4096] = "", cwd[4096];
    snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
    FILE *f = fopen(path, "r");
    size_t k = f ? fread(cmd, 1, sizeof cmd - 1, f) : 0;
    if (f) fclose(f);
    cmd[k] = 0;
    snprintf(path, sizeof path, "/proc/%s/cwd", e->d_name);
    ssize_t m = readlink(path, cwd, sizeof cwd - 1);
    if (m <= 0) continue;
    cwd[m] = 0;
    // argv[1] is "train", and the process works here
    size_t a0 = strlen(cmd);
    if (a0 + 1 < k && !strcmp(cmd + a0 + 1, "train") && !strcmp(cwd, here) && alive(atoi(e->d_name))) out[n++] = atoi(e->d_name);
  }
  closedir(d);
  return n;
}

// waits up to `sec` seconds until `cond` holds (a shell test) and at least `want` trainers run here
static int wait_for(const char *cond, int want, double sec) {
  pid_t p[16];
  for (int i = 0; i < sec * 50; i++) {
    if ((!cond || sh(cond) == 0) && trainers_here(p, 16) >= want) return 1;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

// the trainers of pids[] that are still alive are killed; their count
static int kill_survivors(const pid_t *pids, int n) {
  int left = 0;
  for (int i = 0; i < n; i++)
    if (alive(pids[i])) { left++; kill(pids[i], SIGKILL); }
  return left;
}

// a sweep too large: exit 2 with one line naming the limit, also in --dry-run (so that a
// runner without the limit prints its plan instead of starting the runs)
static void too_many(const char *text) {
  write_file("big.json", text);
  cr_assert_eq(armfarm("run big.json --dry-run"), 2, "expected exit 2; stderr: %s", errbuf);
  cr_assert(strstr(errbuf, "is more than the limit of 100000 runs"), "%s", errbuf);
  char *nl = strchr(errbuf, '\n');
  cr_assert(nl && nl[1] == 0, "one line: '%s'", errbuf);
}

Test(run, sweeps_past_the_run_limit_are_refused, .init = enter_tmp, .fini = leave_tmp) {
  const char *base = "\"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\"}";
  char t[2048];
  // 11 variants x 10000 seeds = 110000 runs: past the limit of 100000
  snprintf(t, sizeof t, "{%s, \"sweep\": {\"seeds\": 10000, \"grid\": {\"agent.lr\": [1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3]}}}", base);
  too_many(t);
  // 8 axes of 16 values (2^32 variants) and of 17: a count that would wrap an int
  for (int k = 16; k <= 17; k++) {
    const char *axes[8] = {"agent.lr", "agent.batch", "agent.hidden", "agent.gamma", "agent.tau", "agent.warmup", "agent.buffer", "agent.init_alpha"};
    int n = snprintf(t, sizeof t, "{%s, \"sweep\": {\"grid\": {", base);
    for (int a = 0; a < 8; a++) {
      n += snprintf(t + n, sizeof t - n, "%s\"%s\": [", a ? ", " : "", axes[a]);
      for (int v = 0; v < k; v++) n += snprintf(t + n, sizeof t - n, "%s1", v ? ", " : "");
      n += snprintf(t + n, sizeof t - n, "]");
    }
    snprintf(t + n, sizeof t - n, "}}}");
    too_many(t);
  }
}

#define TINY(name) \
  "{\"name\": \"" name "\", \"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\", \"hidden\": 16, \"batch\": 16, \"warmup\": 50}," \
  " \"train\": {\"steps\": 400, \"eval_every\": 200, \"eval_episodes\": 1, \"checkpoint_every\": 200}, \"sweep\": {\"seeds\": 2}, \"jobs\": 2}"

// nothing but the experiment files here: no runs/ folder, no run folder, no experiment.json
static void nothing_written(void) {
  cr_assert_eq(sh("test -z \"$(ls | grep -v -e '\\.json$' -e '^run_out.txt$' -e '^run_err.txt$')\""), 0, "something was written");
}

Test(run, names_and_folders_never_leave_the_output_folder, .init = enter_tmp, .fini = leave_tmp) {
  // names that are no single folder name: refused with exit 2 before anything is written
  const char *bad[] = {"..", ".", "../up", "a/b", "/tmp/abs"};
  for (int i = 0; i < 5; i++) {
    char t[1024];
    snprintf(t, sizeof t, TINY("%s"), bad[i]);
    write_file("n.json", t);
    cr_assert_eq(armfarm("run n.json"), 2, "name '%s': %s", bad[i], errbuf);
    cr_assert(strstr(errbuf, "name: expected one folder name"), "name '%s': %s", bad[i], errbuf);
    nothing_written();
  }
  // a file name that gives '.' as the name
  write_file("..json", "{\"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\"}}");
  cr_assert_eq(armfarm("run ..json"), 2, "%s", errbuf);
  cr_assert(strstr(errbuf, "no valid experiment name"), "%s", errbuf);
  nothing_written();
  sh("rm ..json");
  // a run folder replaced by a symbolic link elsewhere: refused, the elsewhere untouched
  write_file("e.json", TINY("e"));
  cr_assert_eq(armfarm("run e.json --out o"), 0, "%s", errbuf);
  cr_assert_eq(sh("mkdir elsewhere && r=$(ls o | grep -E '^[0-9a-f]{12}$' | head -1) && rm -rf o/$r && ln -s ../elsewhere o/$r"), 0);
  cr_assert_eq(armfarm("run e.json --out o --resume"), 2, "%s", errbuf);
  cr_assert(strstr(errbuf, "is a symbolic link") && strchr(errbuf, '\n')[1] == 0, "%s", errbuf);
  cr_assert_eq(sh("test -z \"$(ls -A elsewhere)\""), 0, "a run was written through the link");
  // runs/NAME, which the file names, as a link elsewhere: refused too
  cr_assert_eq(sh("mkdir runs elsewhere2 && ln -s ../elsewhere2 runs/e"), 0);
  cr_assert_eq(armfarm("run e.json"), 2, "%s", errbuf);
  cr_assert(strstr(errbuf, "runs/e is a symbolic link"), "%s", errbuf);
  cr_assert_eq(sh("test -z \"$(ls -A elsewhere2)\""), 0, "a run was written through the link");
}

#define LONG_TRAIN "--env", "pendulum", "--agent", "sac", "--steps", "150000", "--eval-every", "100000", "--eval-episodes", "1", \
  "--checkpoint-every", "400", "--set", "agent.hidden=16", "--set", "agent.batch=16", "--set", "agent.warmup=50"

Test(run, a_run_folder_is_trained_by_one_process_at_a_time, .init = enter_tmp, .fini = leave_tmp, .timeout = 240) {
  // a trainer at work, then a second one on its folder: refused with one line
  const char *first[] = {"train", LONG_TRAIN, "--out", "tr", NULL};
  pid_t a = start_bg(first);
  cr_assert(wait_for("test -e tr/resume/latest", 1, 60), "the first trainer did not start");
  int rc = armfarm("train " "--env pendulum --agent sac --steps 150000 --eval-every 100000 --eval-episodes 1 --checkpoint-every 400 "
                   "--set agent.hidden=16 --set agent.batch=16 --set agent.warmup=50 --out tr --resume");
  kill(-a, SIGKILL);
  waitpid(a, NULL, 0);
  cr_assert_neq(rc, 0, "a second trainer ran in a folder in use");
  cr_assert(strstr(errbuf, "tr is in use by another process"), "%s", errbuf);
  cr_assert(strchr(errbuf, '\n')[1] == 0, "one line: %s", errbuf);
  // a runner at work, then a second runner on its folder: the busy run is skipped, not started
  write_file("l.json", "{\"name\": \"l\", \"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\", \"hidden\": 16, \"batch\": 16, \"warmup\": 50},"
                       " \"train\": {\"steps\": 150000, \"eval_every\": 100000, \"eval_episodes\": 1, \"checkpoint_every\": 400}, \"jobs\": 1}");
  const char *runner[] = {"run", "l.json", "--out", "lo", NULL};
  pid_t r = start_bg(runner);
  cr_assert(wait_for("test -e lo/*/resume/latest", 1, 60), "the first runner's trainer did not start");
  pid_t before[16];
  int nb = trainers_here(before, 16);
  rc = armfarm("run l.json --out lo --resume");
  pid_t after[16];
  int na = trainers_here(after, 16);
  kill(r, SIGTERM);
  int st;
  waitpid(r, &st, 0);
  cr_assert_eq(rc, 1, "the second runner: %s", errbuf);
  cr_assert(strstr(errbuf, "is in use by another process") && !strstr(errbuf, "started"), "%s", errbuf);
  cr_assert_eq(na, nb, "the second runner started a trainer");
  cr_assert_eq(kill_survivors(before, nb), 0, "a trainer outlived its runner");
}

Test(run, sigterm_stops_the_trainers_and_resume_gives_the_same_curves, .init = enter_tmp, .fini = leave_tmp, .timeout = 600) {
  write_file("s.json", SWEEP(3000));
  cr_assert_eq(armfarm("run s.json --out whole --jobs 2"), 0, "%s", errbuf);
  // the same sweep, SIGTERM to the runner alone while runs are in progress past a checkpoint
  const char *args[] = {"run", "s.json", "--out", "cut", "--jobs", "2", NULL};
  pid_t pid = start_bg(args);
  cr_assert(wait_for("ls cut/*/resume/latest >/dev/null 2>&1", 1, 120), "no run reached a checkpoint");
  pid_t kids[16];
  int nk = trainers_here(kids, 16);
  cr_assert_gt(nk, 0);
  kill(pid, SIGTERM);
  int st;
  waitpid(pid, &st, 0);
  int left = kill_survivors(kids, nk);
  cr_assert_eq(left, 0, "%d of %d trainers outlived the runner", left, nk);
  cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the runner ends by the signal it got");
  cr_assert_eq(sh("grep -l interrupted cut/*/status.json >/dev/null"), 0, "no run is recorded as interrupted");
  // --resume continues the folder to the uninterrupted curves
  cr_assert_eq(armfarm("run s.json --out cut --resume"), 0, "%s", errbuf);
  static char a[1 << 20], b[1 << 20];
  curves("whole", a, sizeof a);
  curves("cut", b, sizeof b);
  cr_assert(strlen(a) > 1000);
  cr_assert_str_eq(a, b, "the resumed sweep's curves differ from the uninterrupted sweep's");
}

Test(run, no_trainer_outlives_a_sigkilled_runner, .init = enter_tmp, .fini = leave_tmp, .timeout = 240) {
  write_file("k.json", "{\"name\": \"k\", \"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\", \"hidden\": 16, \"batch\": 16, \"warmup\": 50},"
                       " \"train\": {\"steps\": 150000, \"eval_every\": 100000, \"eval_episodes\": 1}, \"sweep\": {\"seeds\": 2}, \"jobs\": 2}");
  const char *args[] = {"run", "k.json", "--out", "ko", NULL};
  pid_t pid = start_bg(args);
  cr_assert(wait_for(NULL, 2, 60), "the trainers did not start");
  pid_t kids[16];
  int nk = trainers_here(kids, 16);
  kill(pid, SIGKILL);  // the runner alone, not its group
  waitpid(pid, NULL, 0);
  int gone = 0;
  for (int i = 0; i < 250 && !gone; i++) {
    gone = 1;
    for (int k = 0; k < nk; k++) gone &= !alive(kids[k]);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  int left = kill_survivors(kids, nk);
  cr_assert_eq(left, 0, "%d of %d trainers outlived a SIGKILLed runner by 5 s", left, nk);
}

// every file and folder under dir with its size, modification time and checksum
static void snapshot(const char *dir, const char *skip, char *out, size_t n) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "find %s %s -printf '%%p %%s %%T@\\n' | sort > snap.txt && find %s -type f %s | sort | xargs md5sum >> snap.txt", dir, skip, dir, skip);
  cr_assert_eq(sh(cmd), 0);
  slurp("snap.txt", out, n);
}

// two runners on one folder: the first lists both runs and trains the long one; the second
// (--resume) skips that one (in use) and trains the short one to the end. When the first is
// free again it must leave the short run alone: before the fix it started it again from its
// last checkpoint, rewriting its curves and marking it running until that ended
Test(run, a_run_finished_by_another_runner_is_not_trained_again, .init = enter_tmp, .fini = leave_tmp, .timeout = 300) {
  write_file("two.json", "{\"name\": \"two\", \"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\", \"hidden\": 16, \"batch\": 16,"
                         " \"warmup\": 50}, \"train\": {\"eval_every\": 200, \"eval_episodes\": 1, \"checkpoint_every\": 200},"
                         " \"sweep\": {\"grid\": {\"train.steps\": [150000, 600]}}, \"jobs\": 1}");
  const char *first[] = {"run", "two.json", "--out", "tw", NULL};
  pid_t a = start_bg(first);
  char log[8192];
  int started = wait_for("test -n \"$(ls tw/*/resume/latest 2>/dev/null)\"", 1, 60);
  slurp("bg_out.txt", log, sizeof log);
  cr_assert(started, "the first runner's trainer did not start: %s", log);
  cr_assert_eq(armfarm("run two.json --out tw --resume"), 1, "the second runner: %s", errbuf);
  cr_assert(strstr(errbuf, "finished") && strstr(errbuf, "in use by another process"), "%s", errbuf);
  // the short run as the second runner left it
  cr_assert_eq(sh("d=$(dirname $(grep -l '\"steps\":600' tw/*/run.json)) && grep -q '\"finished\"' $d/status.json && echo $d > short.txt"), 0,
               "the short run is not finished");
  static char before[1 << 16], after[1 << 16];
  char dir[256];
  slurp("short.txt", dir, sizeof dir);
  dir[strcspn(dir, "\n")] = 0;
  snapshot(dir, "", before, sizeof before);
  int st;
  cr_assert_eq(waitpid(a, &st, 0), a);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the first runner exited with %d", st);
  char out[8192];
  slurp("bg_out.txt", out, sizeof out);
  cr_assert(strstr(out, "finished by another process"), "the first runner's report: %s", out);
  snapshot(dir, "", after, sizeof after);
  cr_assert_str_eq(before, after, "the first runner changed the run the second one finished");
}

Test(run, resuming_a_finished_sweep_trains_nothing, .init = enter_tmp, .fini = leave_tmp, .timeout = 120) {
  write_file("f.json", TINY("f"));
  cr_assert_eq(armfarm("run f.json --out fo"), 0, "%s", errbuf);
  static char a[1 << 16], b[1 << 16];
  // finished: nothing started, nothing written, not even experiment.json
  snapshot("fo", "", a, sizeof a);
  sleep(1);
  cr_assert_eq(armfarm("run f.json --out fo --resume"), 0, "%s", errbuf);
  cr_assert(!strstr(errbuf, "started"), "%s", errbuf);
  snapshot("fo", "", b, sizeof b);
  cr_assert_str_eq(a, b, "a second --resume of a finished sweep changed its files");
  // a run its trainer completed, but whose runner was killed before recording that: its
  // trainer's closing report in train.log marks it finished; nothing is trained again
  cr_assert_eq(sh("r=$(ls fo | grep -E '^[0-9a-f]{12}$' | head -1) && echo '{\"state\": \"running\"}' > fo/$r/status.json"), 0);
  snapshot("fo", "-type f ! -name status.json", a, sizeof a);
  cr_assert_eq(armfarm("run f.json --out fo --resume"), 0, "%s", errbuf);
  cr_assert(!strstr(errbuf, "started"), "a completed run was trained again: %s", errbuf);
  snapshot("fo", "-type f ! -name status.json", b, sizeof b);
  cr_assert_str_eq(a, b, "resuming a completed run changed its files");
  cr_assert_eq(sh("test $(grep -l '\"finished\"' fo/*/status.json | wc -l) -eq 2"), 0, "the completed run is not recorded as finished");
}

// train.timeout_s: four runs, one of them quick. A run still training at the limit stops
// itself with an error; the two stuck in a long evaluation (10,000 episodes of 100,000 steps:
// hours on any machine; with the pendulum's 200 steps a fast core finished them within the
// limit) are killed by the runner 5 s past it; all three are recorded as failed, naming the limit, and the quick
// run finishes. Before the limit existed the slow runs went on for hours.
Test(run, runs_past_their_time_limit_fail_while_the_others_finish, .init = enter_tmp, .fini = leave_tmp, .timeout = 120) {
  write_file("to.json",
             "{\"name\": \"to\", \"env\": {\"name\": \"pendulum\", \"horizon\": 100000}, \"agent\": {\"name\": \"sac\", \"hidden\": 16, \"batch\": 16, \"warmup\": 10000000},"
             " \"train\": {\"timeout_s\": 3, \"eval_every\": 5000},"
             " \"sweep\": {\"grid\": {\"train.steps\": [200, 100000000], \"train.eval_episodes\": [1, 10000]}}, \"jobs\": 4}");
  double t0 = (double)time(NULL);
  cr_assert_eq(armfarm("run to.json --out too"), 1, "%s", errbuf);
  double took = (double)time(NULL) - t0;
  cr_assert(took < 40, "the sweep took %.0f s", took);
  cr_assert_eq(sh("test $(grep -l '\"finished\"' too/*/status.json | wc -l) -eq 1"), 0, "the quick run did not finish: %s", errbuf);
  cr_assert_eq(sh("test $(grep -l '\"failed\"' too/*/status.json | wc -l) -eq 3"), 0, "%s", errbuf);
  // the one in the training loop stopped itself, the ones in their evaluation were killed
  cr_assert_eq(sh("test $(grep -l 'train.timeout_s: still running after 3 s' too/*/status.json | wc -l) -eq 1"), 0, "%s", errbuf);
  cr_assert_eq(sh("test $(grep -l 'timed out: killed after train.timeout_s = 3 s' too/*/status.json | wc -l) -eq 2"), 0, "%s", errbuf);
  cr_assert(strstr(errbuf, "FAILED"), "%s", errbuf);
  // the limit is checked like every key
  write_file("tb.json", "{\"name\": \"tb\", \"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\"}, \"train\": {\"timeout_s\": -1}}");
  cr_assert_eq(armfarm("run tb.json --out tbo"), 2, "%s", errbuf);
  cr_assert(strstr(errbuf, "timeout_s"), "%s", errbuf);
}

// ---- the Slurm backend where there is no Slurm, and armfarm status ----

// armfarm with PATH set to `path` (a folder without sbatch), output into run_out/run_err.txt
static int armfarm_with_path(const char *path, const char *args) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "PATH='%s' %s %s >run_out.txt 2>run_err.txt </dev/null", path, getenv("ARMFARM_BIN"), args);
  int rc = sh(cmd);
  slurp("run_err.txt", errbuf, sizeof errbuf);
  return rc;
}

Test(run, the_slurm_backend_without_sbatch_exits_2_with_one_line, .init = enter_tmp, .fini = leave_tmp) {
  cr_assert_eq(sh("mkdir nopath"), 0);
  write_file("s.json", TINY("s"));
  cr_assert_eq(armfarm_with_path("nopath", "run s.json --backend slurm --out so"), 2, "%s", errbuf);
  cr_assert_str_eq(errbuf, "armfarm run: --backend slurm needs sbatch on the PATH (Slurm is not installed here)\n");
  // the backend named in the file: the same
  write_file("f.json", "{\"name\": \"f\", \"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\"}, \"backend\": \"slurm\"}");
  cr_assert_eq(armfarm_with_path("nopath", "run f.json --out fo"), 2, "%s", errbuf);
  cr_assert_str_eq(errbuf, "armfarm run: --backend slurm needs sbatch on the PATH (Slurm is not installed here)\n");
  cr_assert(!exists("so") && !exists("fo") && !exists("runs"), "something was written");
}

// a Slurm option refused: exit 2, one line naming it, nothing written
static void slurm_refused(const char *slurm_obj, const char *args, const char *needle) {
  char t[1024], a[512];
  snprintf(t, sizeof t, "{\"name\": \"b\", \"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\"}%s%s}", slurm_obj ? ", " : "", slurm_obj ? slurm_obj : "");
  write_file("b.json", t);
  snprintf(a, sizeof a, "run b.json --dry-run %s", args);
  cr_assert_eq(armfarm(a), 2, "%s / %s: expected exit 2; stderr: %s", slurm_obj, args, errbuf);
  cr_assert(strstr(errbuf, needle), "%s / %s: stderr '%s' lacks '%s'", slurm_obj, args, errbuf, needle);
  char *nl = strchr(errbuf, '\n');
  cr_assert(nl && nl[1] == 0, "one line: '%s'", errbuf);
  cr_assert(!exists("runs"), "something was written");
}

Test(run, slurm_options_are_checked_strictly, .init = enter_tmp, .fini = leave_tmp) {
  // time limits in Slurm's formats only
  const char *bad_times[] = {"0", "abc", "10:60", "1:60:00", "1-24", "1-2:3:4:5", "-5", "5-", "1:2:3:4", ":30", "10:", "1.5", " 10", "0:00:00", "100000000"};
  for (int i = 0; i < 15; i++) {
    char args[128], obj[128];
    snprintf(args, sizeof args, "--backend slurm --time '%s'", bad_times[i]);
    slurm_refused(NULL, args, "--time expects a time limit in one of Slurm's formats");
    snprintf(obj, sizeof obj, "\"backend\": \"slurm\", \"slurm\": {\"time\": \"%s\"}", bad_times[i]);
    slurm_refused(obj, "", "slurm.time: expected a time limit in one of Slurm's formats");
  }
  slurm_refused(NULL, "--backend slurm --partition 'a b'", "--partition expects a partition name");
  slurm_refused(NULL, "--backend slurm --partition ''", "--partition expects a partition name");
  slurm_refused("\"slurm\": {\"partition\": \"x;y\"}", "--backend slurm", "slurm.partition: expected a partition name");
  slurm_refused(NULL, "--backend slurm --cpus-per-run 0", "--cpus-per-run expects a whole number in [1, 256]");
  slurm_refused(NULL, "--backend slurm --cpus-per-run 257", "--cpus-per-run expects a whole number in [1, 256]");
  slurm_refused("\"slurm\": {\"cpus_per_run\": 1.5}", "--backend slurm", "slurm.cpus_per_run: expected a whole number from 1 to 256");
  slurm_refused(NULL, "--backend slurm --jobs 10001", "--jobs expects a whole number in [1, 10000]");
  slurm_refused(NULL, "--jobs 257", "--jobs expects a whole number in [1, 256] with the local backend");
  slurm_refused("\"jobs\": 300", "", "jobs: expected a whole number from 1 to 256");
  slurm_refused("\"slurm\": {\"tme\": \"10\"}", "", "slurm.tme: unknown key (did you mean 'time'?)");
  slurm_refused("\"slurm\": {\"queue\": 1}", "", "slurm.queue: unknown key");
  slurm_refused("\"slurm\": \"fast\"", "", "slurm: expected an object");
  slurm_refused("\"slurm\": {\"requeue\": 1}", "", "slurm.requeue: expected true or false");
  slurm_refused("\"backend\": \"pbs\"", "", "backend: expected \"local\" or \"slurm\"");
  slurm_refused("\"backnd\": \"slurm\"", "", "backnd: unknown key (did you mean 'backend'?)");
  slurm_refused(NULL, "--backend pbs", "--backend expects local or slurm, got 'pbs'");
  slurm_refused(NULL, "--time 10", "are options of --backend slurm");
  slurm_refused(NULL, "--requeue", "are options of --backend slurm");
  slurm_refused("\"backend\": \"slurm\"", "--backend local --partition p", "are options of --backend slurm");
}

Test(run, the_slurm_dry_run_prints_its_sbatch_command_and_the_same_runs, .init = enter_tmp, .fini = leave_tmp) {
  static char local[1 << 14], slurm[1 << 14];
  write_file("d.json", TINY("d"));
  cr_assert_eq(armfarm("run d.json --dry-run"), 0, "%s", errbuf);
  slurp("run_out.txt", local, sizeof local);
  // every time format, the file's options and the command line over them
  const char *good[] = {"30", "10:00", "1:00:00", "48:00:00", "2-12", "2-12:30", "2-12:30:15"};
  for (int i = 0; i < 7; i++) {
    char t[1024], a[256], want[128];
    snprintf(t, sizeof t, "{\"name\": \"d\", \"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\", \"hidden\": 16, \"batch\": 16, \"warmup\": 50},"
             " \"train\": {\"steps\": 400, \"eval_every\": 200, \"eval_episodes\": 1, \"checkpoint_every\": 200}, \"sweep\": {\"seeds\": 2}, \"jobs\": 2,"
             " \"backend\": \"slurm\", \"slurm\": {\"partition\": \"debug\", \"time\": \"5\", \"cpus_per_run\": 2}}");
    write_file("ds.json", t);
    snprintf(a, sizeof a, "run ds.json --dry-run --time %s --jobs 3 --requeue", good[i]);
    cr_assert_eq(armfarm(a), 0, "%s: %s", good[i], errbuf);
    slurp("run_out.txt", slurm, sizeof slurm);
    snprintf(want, sizeof want, " --time=%s ", good[i]);
    cr_assert(strstr(slurm, want) && strstr(slurm, " --array=0-1%3 ") && strstr(slurm, " --partition=debug ") && strstr(slurm, " --cpus-per-task=2 ") &&
              strstr(slurm, " --requeue ") && strstr(slurm, "backend slurm: sbatch --parsable --hold "), "%s", slurm);
  }
  // the same runs with the same ids: how a run is run is no part of what it is
  char *tab = strstr(local, "\nrun "), *tab2 = strstr(slurm, "\nrun "), *end2 = strstr(slurm, "backend slurm:");
  cr_assert(tab && tab2 && end2);
  *end2 = 0;
  cr_assert_str_eq(tab, tab2, "the Slurm backend's runs differ from the local backend's");
}

Test(run, status_shows_every_run_of_a_local_sweep, .init = enter_tmp, .fini = leave_tmp, .timeout = 120) {
  write_file("st.json", TINY("st"));
  cr_assert_eq(armfarm("run st.json --out sto"), 0, "%s", errbuf);
  cr_assert_eq(armfarm("status sto"), 0, "%s", errbuf);
  static char o[1 << 14];
  slurp("run_out.txt", o, sizeof o);
  cr_assert(strstr(o, "st: 2 runs in sto: 0 pending, 0 running, 2 finished, 0 failed, 0 interrupted"), "%s", o);
  int lines = 0;
  for (char *p = o; (p = strstr(p, " finished ")); p++) lines++;
  cr_assert_eq(lines, 2, "%s", o);
  cr_assert(strstr(o, "400/400") && strstr(o, " - "), "%s", o);
  // a run cut short by SIGKILL (its status still says running, nothing holds its lock): interrupted
  cr_assert_eq(sh("r=$(ls sto | grep -E '^[0-9a-f]{12}$' | head -1) && echo '{\"state\": \"running\"}' > sto/$r/status.json && "
                  "head -c 0 /dev/null > sto/$r/train.log"), 0);
  cr_assert_eq(armfarm("status sto"), 0, "%s", errbuf);
  slurp("run_out.txt", o, sizeof o);
  cr_assert(strstr(o, "1 finished, 0 failed, 1 interrupted"), "%s", o);
  // the Slurm options may change between submissions: the folder holds the same experiment
  write_file("st.json", "{\"name\": \"st\", \"env\": {\"name\": \"pendulum\"}, \"agent\": {\"name\": \"sac\", \"hidden\": 16, \"batch\": 16, \"warmup\": 50},"
                        " \"train\": {\"steps\": 400, \"eval_every\": 200, \"eval_episodes\": 1, \"checkpoint_every\": 200}, \"sweep\": {\"seeds\": 2}, \"jobs\": 2,"
                        " \"slurm\": {\"time\": \"30\"}}");
  cr_assert_eq(armfarm("run st.json --out sto --resume"), 0, "%s", errbuf);
  // no sweep there: exit 2, one line
  cr_assert_eq(armfarm("status nowhere"), 2);
  cr_assert_str_eq(errbuf, "armfarm status: nowhere holds no sweep (no nowhere/experiment.json)\n");
  cr_assert_eq(armfarm("status"), 2);
  cr_assert(strchr(errbuf, '\n')[1] == 0, "%s", errbuf);
}
