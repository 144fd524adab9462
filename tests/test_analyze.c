// armfarm analyze over experiment folders written here by hand: evaluation settings with long
// names keep them whole, more settings and variants than the old fixed tables held are all
// reported, and a folder deeper than PATH_MAX (reached by relative paths) is analysed like
// any other; an output folder named with a space, quotes, $(...), ';' and a newline gets
// exactly that name and runs nothing; a learned reward's classifier is tabled and plotted beside
// the true success. Everything is written into a temporary folder that is removed afterwards.
#include <criterion/criterion.h>
#include <limits.h>  // PATH_MAX
#include <math.h>    // fabs
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

static char root[64], out[1 << 16], errbuf[1 << 14];

// a fresh temporary folder as the working directory (the test's init)
static void enter_tmp(void) {
  snprintf(root, sizeof root, "/tmp/af_test_analyze_XXXXXX");
  cr_assert(mkdtemp(root), "mkdtemp");
  cr_assert_eq(chdir(root), 0);
}

// removed also after a failed assertion (it runs as the test's fini)
static void leave_tmp(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (chdir("/") != 0 || system(cmd) != 0) cr_log_error("cannot remove %s", root);
}

static void slurp(const char *path, char *buf, size_t n) {
  FILE *f = fopen(path, "r");
  size_t k = f ? fread(buf, 1, n - 1, f) : 0;
  buf[k] = 0;
  if (f) fclose(f);
}

// `armfarm ARGS` in the working directory; stdout and stderr captured; the exit status
static int armfarm(const char *args) {
  const char *bin = getenv("ARMFARM_BIN");
  cr_assert(bin, "ARMFARM_BIN must point at the armfarm program (ctest sets it)");
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "%s %s >an_out.txt 2>an_err.txt </dev/null", bin, args);
  int st = system(cmd);
  slurp("an_out.txt", out, sizeof out);
  slurp("an_err.txt", errbuf, sizeof errbuf);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  cr_assert(f, "cannot write %s", path);
  fputs(text, f);
  fclose(f);
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

// a finished run folder exp/RUN with a variant label and evaluation files eval.csv and
// eval_NAME.csv for each name; returns rise with the step, offset by `level`
static void make_run(const char *exp, const char *run, const char *label, const char *const *evals, int nevals, double level) {
  char dir[512], path[1024], text[1024];
  mkdir(exp, 0755);
  snprintf(dir, sizeof dir, "%s/%s", exp, run);
  cr_assert_eq(mkdir(dir, 0755), 0);
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  snprintf(text, sizeof text, "{\"variant\": \"%s\"}", label);
  write_file(path, text);
  snprintf(path, sizeof path, "%s/status.json", dir);
  write_file(path, "{\"state\": \"finished\"}");
  for (int e = -1; e < nevals; e++) {
    if (e < 0) snprintf(path, sizeof path, "%s/eval.csv", dir);
    else snprintf(path, sizeof path, "%s/eval_%s.csv", dir, evals[e]);
    snprintf(text, sizeof text, "step,return,return_std,success,length,time_s\n0,%g,1,0,200,1\n500,%g,1,0.5,200,2\n1000,%g,1,1,200,3\n",
             level, level + 1, level + 2);
    write_file(path, text);
  }
}

// lines of a file that contain `needle`
static int count_lines(const char *path, const char *needle) {
  FILE *f = fopen(path, "r");
  cr_assert(f, "%s missing", path);
  static char line[1 << 16];
  int n = 0;
  while (fgets(line, sizeof line, f)) n += strstr(line, needle) != NULL;
  fclose(f);
  return n;
}

Test(analyze, an_episode_metric_column_is_a_metric, .init = enter_tmp, .fini = leave_tmp) {
  // evaluation files with the quadruped's metric columns after time_s; final progress 0.2,
  // 0.4, 0.9 in three runs: mean 0.5 and median 0.4, worked by hand
  const double prog[3] = {0.2, 0.4, 0.9};
  for (int r = 0; r < 3; r++) {
    char dir[64], path[128], text[512];
    snprintf(dir, sizeof dir, "exp/run%d", r);
    mkdir("exp", 0755);
    cr_assert_eq(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    write_file(path, "{\"variant\": \"default\"}");
    snprintf(path, sizeof path, "%s/status.json", dir);
    write_file(path, "{\"state\": \"finished\"}");
    snprintf(path, sizeof path, "%s/eval.csv", dir);
    snprintf(text, sizeof text, "step,return,return_std,success,length,time_s,progress,distance\n0,1,0,0,10,1,0,0\n1000,5,0,1,10,2,%g,3\n", prog[r]);
    write_file(path, text);
  }
  cr_assert_eq(armfarm("analyze exp --metric progress --reps 100 --final-reps 100"), 0, "%s", errbuf);
  FILE *f = fopen("exp/analysis/summary.csv", "r");
  cr_assert(f);
  char line[512];
  cr_assert(fgets(line, sizeof line, f));
  cr_assert(fgets(line, sizeof line, f));
  fclose(f);
  char variant[64], ev[64];
  int n;
  double iqm, mean, median;
  cr_assert_eq(sscanf(line, "%63[^,],%63[^,],%d,%lf,%lf,%lf", variant, ev, &n, &iqm, &mean, &median), 6, "%s", line);
  cr_assert_eq(n, 3);
  cr_assert_float_eq(mean, 0.5, 1e-9, "%s", line);
  cr_assert_float_eq(median, 0.4, 1e-9, "%s", line);
  // a column no file has, and a name that is not a column name
  cr_assert_neq(armfarm("analyze exp --metric mean_speed --reps 100 --final-reps 100"), 0);
  cr_assert(strstr(errbuf, "no column 'mean_speed'"), "%s", errbuf);
  cr_assert_eq(armfarm("analyze exp --metric 'pro;gress' --reps 100"), 2);
  cr_assert(strstr(errbuf, "bad metric"), "%s", errbuf);
}

// runs with a learned reward: the classifier's probability beside the true success per
// evaluation, and one episode of the variant's lowest seed
Test(analyze, a_learned_reward_is_set_beside_the_true_success, .init = enter_tmp, .fini = leave_tmp) {
  // four runs, seeds 3, 1, 2 and 5; at step 1000 learned 0.1, 0.2, 0.3, 0.9 and true 0, 0, 0.5,
  // 1: the IQM (the middle two of four) is 0.25 for both, worked by hand
  const double learned[4] = {0.1, 0.2, 0.3, 0.9}, truth[4] = {0, 0, 0.5, 1};
  const int seeds[4] = {3, 1, 2, 5};
  mkdir("exp", 0755);
  for (int r = 0; r < 4; r++) {
    char dir[64], path[128], text[512];
    snprintf(dir, sizeof dir, "exp/run%d", r);
    cr_assert_eq(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    snprintf(text, sizeof text, "{\"variant\": \"naive\", \"seed\": %d}", seeds[r]);
    write_file(path, text);
    snprintf(path, sizeof path, "%s/status.json", dir);
    write_file(path, "{\"state\": \"finished\"}");
    snprintf(path, sizeof path, "%s/eval.csv", dir);
    snprintf(text, sizeof text, "step,return,return_std,success,length,time_s,learned_success,queries,positives\n0,1,0,0,10,1,0.05,0,80\n1000,5,0,%g,10,2,%g,0,80\n",
             truth[r], learned[r]);
    write_file(path, text);
    snprintf(path, sizeof path, "%s/classifier_episode.csv", dir);
    snprintf(text, sizeof text, "step,learned_success,success\n0,0.01,0\n1,0.%d,0\n2,0.97,1\n", seeds[r]);
    write_file(path, text);
  }
  // a variant without a learned reward gets no such plot
  make_run("exp", "plain", "plain", NULL, 0, 0);
  cr_assert_eq(armfarm("analyze exp --metric success --reps 200 --final-reps 100"), 0, "%s", errbuf);
  FILE *f = fopen("exp/analysis/learned.csv", "r");
  cr_assert(f, "no learned.csv");
  char line[512];
  int rows = 0;
  cr_assert(fgets(line, sizeof line, f));
  while (fgets(line, sizeof line, f)) {
    char variant[64];
    long step;
    int n;
    double l, ll, lh, t, tl, th;
    cr_assert_eq(sscanf(line, "%63[^,],%ld,%d,%lf,%lf,%lf,%lf,%lf,%lf", variant, &step, &n, &l, &ll, &lh, &t, &tl, &th), 9, "%s", line);
    cr_assert_str_eq(variant, "\"naive\"");
    cr_assert_eq(n, 4);
    if (step == 0) cr_assert(fabs(l - 0.05) < 1e-9 && t == 0, "%s", line);
    else {
      cr_assert_eq(step, 1000);
      cr_assert(fabs(l - 0.25) < 1e-9 && fabs(t - 0.25) < 1e-9, "%s", line);
      cr_assert(ll <= l && l <= lh && tl <= t && t <= th, "%s", line);
    }
    rows++;
  }
  fclose(f);
  cr_assert_eq(rows, 2);
  // the episode is seed 1's (its second probability 0.1), plotted; the plain variant has none
  slurp("exp/analysis/classifier_episode_0.dat", out, sizeof out);
  cr_assert_str_eq(out, "0 0.01 0\n1 0.1 0\n2 0.97 1\n");
  cr_assert(exists("exp/analysis/learned_vs_true_0.png") && exists("exp/analysis/classifier_episode_0.png"));
  cr_assert(!exists("exp/analysis/learned_vs_true_1.png") && !exists("exp/analysis/learned_1.dat"));
}

Test(analyze, curriculum_levels_are_tabled_per_twentieth_of_training, .init = enter_tmp, .fini = leave_tmp) {
  // two runs of one variant whose episodes ended at steps 100 and 200 (levels 0 and 1) and
  // 100 and 2000 (levels 2 and 1): the twentieths of 2000 steps end at 100, 200, ..., so by
  // hand: up to 100 two episodes at levels 0 and 2 (mean 1, shares 0.5, 0, 0.5), up to 200
  // one at level 1, up to 2000 one at level 1
  const char *const evals[1] = {NULL};
  make_run("exp", "r0", "cur", evals, 0, 0);
  make_run("exp", "r1", "cur", evals, 0, 1);
  write_file("exp/r0/progress.csv", "step,episode,return,level\n100,0,1,0\n200,1,1,1\n");
  write_file("exp/r1/progress.csv", "step,episode,return,level\n100,0,1,2\n2000,1,1,1\n");
  cr_assert_eq(armfarm("analyze exp --reps 100 --final-reps 100"), 0, "%s", errbuf);
  static char text[4096];
  FILE *f = fopen("exp/analysis/curriculum.csv", "r");
  cr_assert(f, "curriculum.csv missing");
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = 0;
  fclose(f);
  cr_assert_str_eq(text, "variant,step,episodes,mean_level,share_0,share_1,share_2\n"
                         "\"cur\",100,2,1.0000,0.5000,0.0000,0.5000\n"
                         "\"cur\",200,1,1.0000,0.0000,1.0000,0.0000\n"
                         "\"cur\",2000,1,1.0000,0.0000,1.0000,0.0000\n");
  // without a level column there is no curriculum table
  make_run("exp2", "r0", "plain", evals, 0, 0);
  cr_assert_eq(armfarm("analyze exp2 --reps 100 --final-reps 100"), 0, "%s", errbuf);
  cr_assert(!exists("exp2/analysis/curriculum.csv"));
}

// a run of `label` and `seed` whose training episodes reached the values `vals` of max_angle
static void visits_run(const char *run, const char *label, int seed, const char *vals) {
  const char *const evals[1] = {NULL};
  char path[256], text[1024];
  make_run("exp", run, label, evals, 0, 0);
  snprintf(path, sizeof path, "exp/%s/manifest.json", run);
  snprintf(text, sizeof text, "{\"variant\": \"%s\", \"seed\": %d}", label, seed);
  write_file(path, text);
  // progress.csv as train writes it: the step first, the metric among other columns
  int n = snprintf(text, sizeof text, "step,episode,return,max_angle,level\n"), k = 0;
  for (const char *v = vals; *v; k++) {
    const char *c = strchr(v, ' ');
    size_t l = c ? (size_t)(c - v) : strlen(v);
    n += snprintf(text + n, sizeof text - (size_t)n, "%d,%d,-1,%.*s,0\n", 50 * (k + 1), k, (int)l, v);
    v += l + (c != NULL);
  }
  snprintf(path, sizeof path, "exp/%s/progress.csv", run);
  write_file(path, text);
}

Test(analyze, the_entropy_of_the_states_reached_in_training, .init = enter_tmp, .fini = leave_tmp) {
  // 4 bins over [0, 1]; entropies by hand: one value per bin ln 4 = 1.386294; two bins of two
  // ln 2 = 0.693147; one bin 0; three and one (-0.3 counts in the first bin, 1.7 in the
  // last) -(0.75 ln 0.75 + 0.25 ln 0.25) = 0.562335
  visits_run("s0", "skew", 0, "0.1 0.3 0.6 0.9");
  visits_run("s1", "skew", 1, "0.1 0.1 0.6 0.6");
  visits_run("r0", "rig", 0, "0.05 0.1 0.2 0.2");
  visits_run("r1", "rig", 1, "0.1 0.1 -0.3 1.7");
  cr_assert_eq(armfarm("analyze exp --reps 100 --final-reps 100 --entropy max_angle --bins 4 --range 0:1"), 0, "%s", errbuf);
  static char text[4096];
  slurp("exp/analysis/entropy.csv", text, sizeof text);
  cr_assert_str_eq(text, "variant,seed,episodes,entropy\n\"rig\",0,4,0\n\"rig\",1,4,0.562335\n\"skew\",0,4,1.38629\n\"skew\",1,4,0.693147\n");
  // per variant: the IQM of two runs is their mean; every skew run above every rig run
  slurp("exp/analysis/summary.md", text, sizeof text);
  cr_assert(strstr(text, "| rig | 2 | 0.2812 |") && strstr(text, "| skew | 2 | 1.04 |"), "%s", text);
  cr_assert(strstr(text, "| rig | - | 0.000 |") && strstr(text, "| skew | 1.000 | - |"), "%s", text);
  // the default range is the values' own, [-0.3, 1.7]: bins from -0.3, 0.2, 0.7 and 1.2, so
  // rig 0 splits two and two (ln 2), skew 0 is one, two and one (1.5 ln 2 = 1.039721)
  cr_assert_eq(armfarm("analyze exp --reps 100 --final-reps 100 --entropy max_angle --bins 4"), 0, "%s", errbuf);
  slurp("exp/analysis/entropy.csv", text, sizeof text);
  cr_assert_str_eq(text, "variant,seed,episodes,entropy\n\"rig\",0,4,0.693147\n\"rig\",1,4,0.562335\n\"skew\",0,4,1.03972\n\"skew\",1,4,0.693147\n");
  // a column no run has, and bad histograms, are refused with one line and exit 2
  cr_assert_eq(armfarm("analyze exp --entropy door_angle"), 2);
  cr_assert(strstr(errbuf, "no column 'door_angle'"), "%s", errbuf);
  const char *bad[] = {"--range 1:0", "--range 0:1x", "--range 0", "--range nan:1", "--bins 0", "--bins 3.5"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char args[128];
    snprintf(args, sizeof args, "analyze exp --entropy max_angle %s", bad[i]);
    cr_assert_eq(armfarm(args), 2, "%s was accepted", bad[i]);
    cr_assert(strchr(errbuf, '\n') == errbuf + strlen(errbuf) - 1, "not one line: %s", errbuf);
  }
}

Test(analyze, long_evaluation_names_are_kept_whole, .init = enter_tmp, .fini = leave_tmp) {
  // a 60-character name: the old table kept 39 characters of it
  const char *name = "held_out_heavy_pole_and_long_arm_with_sensor_noise_at_0_05x_";
  cr_assert_eq(strlen(name), 60);
  const char *evals[1] = {name};
  for (int s = 0; s < 3; s++) {
    char run[16];
    snprintf(run, sizeof run, "run%d", s);
    make_run("exp", run, "default", evals, 1, s);
  }
  cr_assert_eq(armfarm("analyze exp --reps 100 --final-reps 100"), 0, "%s", errbuf);
  char path[256];
  snprintf(path, sizeof path, "exp/analysis/curves_%s.csv", name);
  cr_assert(exists(path), "%s missing", path);
  char row[128];
  snprintf(row, sizeof row, ",%s,3,", name);
  cr_assert_eq(count_lines("exp/analysis/summary.csv", row), 1, "summary.csv lacks the whole name");
}

Test(analyze, more_evaluation_settings_than_nine, .init = enter_tmp, .fini = leave_tmp) {
  // two variants with twelve settings between them (train and eleven named ones)
  const char *a[6] = {"a1", "a2", "a3", "a4", "a5", "a6"}, *b[5] = {"b1", "b2", "b3", "b4", "b5"};
  make_run("exp", "r0", "lr=1", a, 6, 0);
  make_run("exp", "r1", "lr=1", a, 6, 1);
  make_run("exp", "r2", "lr=2", b, 5, 2);
  make_run("exp", "r3", "lr=2", b, 5, 3);
  cr_assert_eq(armfarm("analyze exp --reps 100 --final-reps 100"), 0, "%s", errbuf);
  cr_assert(strstr(out, "4 runs in 2 variants and 12 evaluation settings"), "%s", out);
  const char *all[12] = {"train", "a1", "a2", "a3", "a4", "a5", "a6", "b1", "b2", "b3", "b4", "b5"};
  for (int e = 0; e < 12; e++) {
    char path[128];
    snprintf(path, sizeof path, "exp/analysis/curves_%s.csv", all[e]);
    cr_assert(exists(path), "%s missing", path);
  }
  // one summary row per (variant, setting) it has: 2 x train, 6 a*, 5 b*
  cr_assert_eq(count_lines("exp/analysis/summary.csv", ",2,"), 13);
}

Test(analyze, more_variants_than_256, .init = enter_tmp, .fini = leave_tmp, .timeout = 120) {
  // 300 variants, one run each
  for (int v = 0; v < 300; v++) {
    char run[16], label[32];
    snprintf(run, sizeof run, "r%03d", v);
    snprintf(label, sizeof label, "agent.lr=%d", v);
    make_run("exp", run, label, NULL, 0, v);
  }
  cr_assert_eq(armfarm("analyze exp --reps 100 --final-reps 100"), 0, "%s", errbuf);
  cr_assert(strstr(out, "300 runs in 300 variants"), "%s", out);
  cr_assert_eq(count_lines("exp/analysis/summary.csv", ",train,1,"), 300);
}

Test(analyze, a_folder_deeper_than_path_max, .init = enter_tmp, .fini = leave_tmp) {
  // 24 levels of 200-character names: the absolute path is longer than PATH_MAX, and every
  // path the program builds from the relative folder given to it stays short
  char comp[201];
  memset(comp, 'd', 200);
  comp[200] = 0;
  for (int k = 0; k < 24; k++) {
    cr_assert_eq(mkdir(comp, 0755), 0);
    cr_assert_eq(chdir(comp), 0);
  }
  cr_assert_gt(24 * 201, PATH_MAX);
  const char *evals[1] = {"heavy"};
  make_run("exp", "r0", "default", evals, 1, 0);
  make_run("exp", "r1", "default", evals, 1, 1);
  cr_assert_eq(armfarm("analyze exp --reps 100 --final-reps 100"), 0, "%s", errbuf);
  cr_assert(exists("exp/analysis/summary.md") && exists("exp/analysis/curves_heavy.csv") && exists("exp/analysis/curves_heavy.png"));
  cr_assert_eq(count_lines("exp/analysis/summary.csv", "\"default\","), 2);
}

// ARMFARM_BIN with these arguments, no shell, output into an_err.txt; the exit status
static int armfarm_argv(const char *const *args, int n) {
  const char *bin = getenv("ARMFARM_BIN");
  cr_assert(bin, "ARMFARM_BIN must point at the armfarm program (ctest sets it)");
  char *argv[16] = {"armfarm"};
  for (int i = 0; i < n && i < 14; i++) argv[i + 1] = (char *)args[i];
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open("an_err.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(126);
    execv(bin, argv);
    _exit(127);
  }
  int st;
  cr_assert(pid > 0 && waitpid(pid, &st, 0) == pid);
  slurp("an_err.txt", errbuf, sizeof errbuf);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(analyze, an_output_folder_with_shell_characters_is_just_a_name, .init = enter_tmp, .fini = leave_tmp) {
  // a space, both quotes, a command substitution, ';' and a newline; a label with a quote
  const char *hostile = "out dir'q\"$(touch pwned);touch pwned;\nx";
  make_run("exp", "r0", "agent.note='a'", NULL, 0, 0);
  make_run("exp", "r1", "agent.note='a'", NULL, 0, 1);
  const char *args[] = {"analyze", "exp", "--reps", "100", "--final-reps", "100", "--out", hostile};
  int rc = armfarm_argv(args, 8);
  cr_assert_eq(system("test -z \"$(find . -name 'pwned*')\""), 0, "a shell ran part of the folder's name");
  cr_assert_eq(rc, 0, "%s", errbuf);
  const char *files[] = {"summary.csv", "summary.md", "curves_train.csv", "plots.gp", "curves_train.png", "curves_train.svg"};
  for (int i = 0; i < 6; i++) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", hostile, files[i]);
    cr_assert(exists(path), "%s missing (stderr: %s)", files[i], errbuf);
  }
}
