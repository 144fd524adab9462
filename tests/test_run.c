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
