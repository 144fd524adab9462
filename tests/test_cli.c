// The armfarm program: exit codes, one-line errors naming the problem, and the JSON output
// of rollout checked against itself (mean of the listed returns).
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cjson/cJSON.h>

static char out[1 << 16], errbuf[1 << 14];

static void slurp(const char *path, char *buf, size_t n) {
  FILE *f = fopen(path, "r");
  size_t k = f ? fread(buf, 1, n - 1, f) : 0;
  buf[k] = 0;
  if (f) fclose(f);
}

// run `armfarm ARGS`, capture stdout and stderr, return the exit status
static int run(const char *args) {
  const char *bin = getenv("ARMFARM_BIN");
  cr_assert(bin, "ARMFARM_BIN must point at the armfarm program (ctest sets it)");
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s %s >cli_out.txt 2>cli_err.txt </dev/null", bin, args);
  int st = system(cmd);
  slurp("cli_out.txt", out, sizeof out);
  slurp("cli_err.txt", errbuf, sizeof errbuf);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// exit status 2 and a single stderr line containing `needle`
static void usage_error(const char *args, const char *needle) {
  cr_assert_eq(run(args), 2, "armfarm %s: expected exit 2; stderr: %s", args, errbuf);
  cr_assert(strstr(errbuf, needle) != NULL, "armfarm %s: stderr '%s' lacks '%s'", args, errbuf, needle);
  char *nl = strchr(errbuf, '\n');
  cr_assert(nl && nl[1] == 0, "armfarm %s: error must be one line: '%s'", args, errbuf);
}

Test(cli, help_and_envs) {
  cr_assert_eq(run("--help"), 0);
  cr_assert(strstr(out, "rollout") && strstr(out, "envs") && strstr(out, "bench"));
  cr_assert_eq(run("envs"), 0);
  cr_assert(strstr(out, "puck_push"));
  cr_assert_eq(run("envs puck_push"), 0);
  cr_assert(strstr(out, "randomization table") && strstr(out, "puck_mass") && strstr(out, "success:"));
  cr_assert_eq(run("rollout --help"), 0);
}

Test(cli, bad_usage_exits_2_with_one_line) {
  usage_error("frobnicate", "unknown command 'frobnicate'");
  usage_error("envs no_such_env", "unknown environment 'no_such_env'");
  usage_error("rollout --env no_such_env", "unknown environment 'no_such_env'");
  usage_error("rollout --env puck_push --bogus", "unknown option '--bogus'");
  usage_error("rollout --env puck_push --policy clever", "unknown policy 'clever'");
  usage_error("rollout --env puck_push --episodes -4", "--episodes expects a whole number");
  usage_error("rollout --env puck_push --episodes 3x", "--episodes expects a whole number");
  usage_error("rollout --env puck_push --set rewrad=sparse", "unknown config key 'rewrad' (did you mean 'reward'?)");
  usage_error("rollout --env puck_push --set horizon=0", "horizon: 0 is out of range");
  usage_error("rollout --env puck_push --set noequals", "--set expects key=value");
  usage_error("rollout --policy zero", "--env NAME is required");
  usage_error("bench frobs", "unknown benchmark 'frobs'");
  usage_error("examples --env puck_push --count 3", "--env, --count and --out are required");
  usage_error("examples --env quadruped --count 3 --out cli_ex.csv", "quadruped cannot produce success examples");
  int st = system("printf '{\\n  \"reward\": \"dense\",\\n  oops\\n}\\n' > cli_bad.json");
  cr_assert_eq(st, 0);
  usage_error("rollout --env puck_push --config cli_bad.json", "cli_bad.json:3:");
  usage_error("rollout --env puck_push --config /nonexistent.json", "cannot open config file /nonexistent.json");
}

Test(cli, numbers_with_trailing_text_or_out_of_range_are_refused) {
  // --set values: JSON only when the whole value is JSON
  usage_error("rollout --env puck_push --set horizon=7oops", "horizon: expected a number, got \"7oops\"");
  usage_error("rollout --env puck_push --set horizon=7.5", "horizon: expected a whole number");
  usage_error("rollout --env puck_push --set horizon=3000000000", "horizon: 3e+09 is out of range");
  usage_error("rollout --env puck_push --set image_width=64px", "image_width: expected a number");
  usage_error("rollout --env puck_push --set randomize.puck_mass=[0.5,2]x", "randomize.puck_mass: expected [lo, hi]");
  usage_error("rollout --env puck_push --set horizon=1e3x", "horizon: expected a number");
  // a config file with text after its object
  int st = system("printf '{\"horizon\": 7} 8\\n' > cli_trailing.json");
  cr_assert_eq(st, 0);
  usage_error("rollout --env puck_push --config cli_trailing.json", "cli_trailing.json:1:");
  // options of the commands
  usage_error("rollout --env puck_push --episodes 1e3x", "--episodes expects a whole number");
  usage_error("rollout --env puck_push --seed 99999999999999999999", "--seed expects a whole number");
  usage_error("examples --env puck_push --count 2x --out cli_ex.csv", "--count expects a whole number");
  usage_error("examples --env puck_push --count 2 --seed -1 --out cli_ex.csv", "--seed expects a whole number");
  usage_error("view --env puck_push --frames 3e2 --screenshot cli.png", "--frames expects a whole number");
  usage_error("view --env puck_push --seed 4294967296", "--seed expects a whole number");
  usage_error("record --env puck_push --width 64x --out cli.mp4", "--width expects a whole number");
  usage_error("record --env puck_push --episodes 1.5 --out cli.mp4", "--episodes expects a whole number");
  usage_error("train --env pendulum --agent sac --steps 1e3x --out cli_train", "--steps expects a whole number");
  usage_error("train --env pendulum --agent sac --steps 10 --out cli_train --set train.seed=5x", "seed: expected a number");
  usage_error("bench envs --frobs 3", "unknown option '--frobs'");
  usage_error("bench conv --updates 0", "--updates takes a whole number from 1 to 10000, not '0'");
  usage_error("bench conv --updates 8x", "--updates takes a whole number from 1 to 10000, not '8x'");
  usage_error("bench conv --frobs", "unknown option '--frobs'");
}

Test(cli, examples_file_has_a_header_and_one_row_per_example) {
  cr_assert_eq(run("examples --env puck_push --count 7 --seed 2 --out cli_ex.csv"), 0, "%s", errbuf);
  FILE *f = fopen("cli_ex.csv", "r");
  cr_assert(f);
  char line[4096];
  int rows = 0;
  cr_assert(fgets(line, sizeof line, f));
  cr_assert(strncmp(line, "obs_0,obs_1,", 12) == 0 && strstr(line, "obs_16\n"));
  while (fgets(line, sizeof line, f)) {
    int commas = 0;
    for (char *p = line; *p; p++) commas += *p == ',';
    cr_assert_eq(commas, 16);
    rows++;
  }
  fclose(f);
  cr_assert_eq(rows, 7);
  // a failing run leaves an existing file untouched
  cr_assert_eq(run("examples --env quadruped --count 3 --out cli_ex.csv"), 2);
  f = fopen("cli_ex.csv", "r");
  rows = 0;
  while (fgets(line, sizeof line, f)) rows++;
  fclose(f);
  cr_assert_eq(rows, 8);
}

Test(cli, rollout_json_reports_consistent_figures) {
  cr_assert_eq(run("rollout --env puck_push --policy scripted --episodes 4 --seed 3 --json --set reward=sparse"), 0, "%s", errbuf);
  cJSON *o = cJSON_Parse(out);
  cr_assert(o, "stdout is one JSON object: %s", out);
  cr_assert_eq(cJSON_GetObjectItem(o, "episodes")->valueint, 4);
  cJSON *rets = cJSON_GetObjectItem(o, "returns"), *succ = cJSON_GetObjectItem(o, "successes");
  cr_assert_eq(cJSON_GetArraySize(rets), 4);
  double sum = 0, ssum = 0;
  for (int i = 0; i < 4; i++) {
    double r = cJSON_GetArrayItem(rets, i)->valuedouble;
    // sparse returns are minus the number of unsuccessful steps: whole numbers in [-50, 0]
    cr_assert(r <= 0 && r >= -50 && r == (double)(long)r, "return %g", r);
    sum += r;
    ssum += cJSON_GetArrayItem(succ, i)->valuedouble;
  }
  cr_assert_float_eq(cJSON_GetObjectItem(o, "mean_return")->valuedouble, sum / 4, 1e-6);
  cr_assert_float_eq(cJSON_GetObjectItem(o, "success_rate")->valuedouble, ssum / 4, 1e-9);
  cr_assert_gt(cJSON_GetObjectItem(o, "steps_per_s")->valuedouble, 0);
  cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "config"), "reward")->valuestring, "sparse");
  cJSON_Delete(o);
  // the same command twice gives the same returns
  char first[1 << 12];
  cr_assert_eq(run("rollout --env puck_push --policy random --episodes 2 --seed 9 --json"), 0);
  cJSON *a = cJSON_Parse(out);
  char *ra = cJSON_PrintUnformatted(cJSON_GetObjectItem(a, "returns"));
  snprintf(first, sizeof first, "%s", ra);
  cJSON_free(ra);
  cJSON_Delete(a);
  cr_assert_eq(run("rollout --env puck_push --policy random --episodes 2 --seed 9 --json"), 0);
  cJSON *b = cJSON_Parse(out);
  char *rb = cJSON_PrintUnformatted(cJSON_GetObjectItem(b, "returns"));
  cr_assert_str_eq(first, rb);
  cJSON_free(rb);
  cJSON_Delete(b);
}
