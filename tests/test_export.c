// Policy export: a SAC (with observation normalization), a TD3 and a PPO checkpoint, trained
// a little on puck pushing, exported as C and as ONNX. The C export compiles with gcc -std=c99
// -Wall -Wextra -Werror and its actions match armfarm policy within 1e-6; the ONNX file
// passes onnx.checker and an independent NumPy evaluation of its graph (tests/onnx_eval.py)
// matches within 1e-5. Bad observations, formats and broken checkpoints are refused.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>  // chdir

#include "agents/sac.h"
#include "armfarm.h"
#include "base/rng.h"

static int sh(const char *cmd) {
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// `armfarm ARGS`, output to out.txt and err.txt
static int armfarm(const char *args) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "%s %s >out.txt 2>err.txt </dev/null", getenv("ARMFARM_BIN"), args);
  return sh(cmd);
}

// n rows of d observation values: the environment's scale and far beyond it (the clip)
static void write_obs(const char *path, int n, int d, uint64_t seed) {
  af_rng r;
  af_rng_seed(&r, seed);
  FILE *f = fopen(path, "w");
  cr_assert(f);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++) fprintf(f, "%.9g%s", af_rng_range(&r, -1, 1) * (i % 10 == 0 ? 50 : 1), j + 1 < d ? "," : "\n");
  fclose(f);
}

// the numbers of a CSV (a first line of names skipped); the count
static int read_csv(const char *path, double *x, int cap) {
  FILE *f = fopen(path, "r");
  cr_assert(f, "%s missing", path);
  char line[65536];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == 'a') continue;
    for (char *p = line, *end; n < cap; p = end + (*end == ',')) {
      double v = strtod(p, &end);
      if (end == p) break;
      x[n++] = v;
    }
  }
  fclose(f);
  return n;
}

static void assert_close(const char *a, const char *b, double tol) {
  static double x[1 << 16], y[1 << 16];
  int n = read_csv(a, x, 1 << 16), m = read_csv(b, y, 1 << 16);
  cr_assert(n > 100 && n == m, "%s has %d numbers, %s %d", a, n, b, m);
  double worst = 0;
  for (int i = 0; i < n; i++) worst = fmax(worst, fabs(x[i] - y[i]));
  cr_assert(worst <= tol, "%s and %s differ by up to %g (tolerance %g)", a, b, worst, tol);
  cr_assert(worst < 1e-3 || tol >= 1e-3);
}

// train a little, then compare both exports against armfarm policy (in a folder of the
// agent's own: Criterion may run the tests at once)
static void export_and_compare(const char *agent, const char *extra) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "mkdir -p %s", agent);
  cr_assert_eq(sh(cmd), 0);
  cr_assert_eq(chdir(agent), 0);
  snprintf(cmd, sizeof cmd, "train --env puck_push --agent %s --steps 1200 --eval-every 1200 --eval-episodes 1 --seed 3 --set agent.hidden=24 "
                            "%s --out run", agent, extra);
  cr_assert_eq(armfarm(cmd), 0, "training failed");
  write_obs("obs.csv", 200, 17, 7);
  cr_assert_eq(armfarm("policy --checkpoint run/checkpoint.bin --obs obs.csv --out ref.csv"), 0, "armfarm policy failed");
  // C99: compiled strictly by gcc, run on the same observations
  cr_assert_eq(armfarm("export --checkpoint run/checkpoint.bin --format c --out pol.c"), 0, "export --format c failed");
  cr_assert_eq(sh("gcc -std=c99 -Wall -Wextra -Werror -pedantic -O2 -I. -o drv " AF_TEST_SOURCE "/tests/export_driver.c pol.c -lm 2>gcc.txt"), 0,
               "the exported C does not compile cleanly (gcc.txt)");
  cr_assert_eq(sh("./drv < obs.csv > c.csv"), 0);
  assert_close("ref.csv", "c.csv", 1e-6);
  // ONNX: checked and evaluated independently
  cr_assert_eq(armfarm("export --checkpoint run/checkpoint.bin --format onnx --out pol.onnx"), 0, "export --format onnx failed");
  cr_assert_eq(sh("/usr/bin/python3 " AF_TEST_SOURCE "/tests/onnx_eval.py pol.onnx obs.csv > onnx.csv 2>py.txt"), 0, "onnx check or evaluation failed (py.txt)");
  assert_close("ref.csv", "onnx.csv", 1e-5);
  cr_assert_eq(chdir(".."), 0);
}

Test(export, sac_with_normalization_exports_to_c_and_onnx, .timeout = 180) {
  export_and_compare("sac", "--set agent.batch=16 --set agent.warmup=300 --set agent.obs_norm=true");
}
Test(export, td3_exports_to_c_and_onnx, .timeout = 180) { export_and_compare("td3", "--set agent.batch=16 --set agent.warmup=300"); }
// PPO's mean clipped to [-1, 1] (its actor has no tanh), with its observation normalization;
// a large constant step size so that the clip is active (about a fifth of the actions)
Test(export, ppo_exports_to_c_and_onnx, .timeout = 180) {
  export_and_compare("ppo", "--set agent.minibatch=16 --set agent.rollout=200 --set agent.lr=0.01 --set agent.anneal_lr=false");
}

Test(export, bad_input_is_refused, .timeout = 120) {
  cr_assert_eq(sh("mkdir -p bad"), 0);
  cr_assert_eq(chdir("bad"), 0);
  cr_assert_eq(armfarm("train --env pendulum --agent sac --steps 300 --eval-every 300 --eval-episodes 1 --set agent.hidden=8 "
                       "--set agent.batch=8 --set agent.warmup=100 --out r"), 0);
  FILE *f = fopen("bad.csv", "w");
  fprintf(f, "th_cos,th_sin,th_dot\n0.1,0.2,0.3\n0.1,nan,0.3\n");
  fclose(f);
  cr_assert_eq(armfarm("policy --checkpoint r/checkpoint.bin --obs bad.csv --out o.csv"), 2);
  cr_assert_eq(sh("grep -q 'bad.csv line 3: a value is no finite number' err.txt"), 0);
  cr_assert_eq(sh("test ! -e o.csv"), 0, "an output was written for bad input");
  f = fopen("short.csv", "w");
  fprintf(f, "0.1,0.2\n");
  fclose(f);
  cr_assert_eq(armfarm("policy --checkpoint r/checkpoint.bin --obs short.csv --out o.csv"), 2);
  cr_assert_eq(sh("grep -q 'wrong number of values' err.txt"), 0);
  cr_assert_eq(armfarm("export --checkpoint r/checkpoint.bin --format tflite --out x"), 2);
  cr_assert_eq(armfarm("export --checkpoint nowhere/checkpoint.bin --format c --out x"), 2);
  cr_assert_eq(armfarm("export --checkpoint r/checkpoint.bin --out x"), 2);
  // a checkpoint whose actor went NaN: nothing to export
  {
    char err[256];
    af_env *e = af_env_make("pendulum", NULL, err, sizeof err);
    cr_assert(e, "%s", err);
    af_agent *a = af_agent_make("sac", "{\"hidden\": 8, \"batch\": 8, \"warmup\": 100}", &(af_agent_setup){.spec = af_env_get_spec(e), .num_envs = 1},
                                err, sizeof err);
    cr_assert(a, "%s", err);
    cr_assert_eq(af_agent_load(a, "r/checkpoint.bin", err, sizeof err), 0, "%s", err);
    af_sac *s = af_agent_impl(a);
    af_mlp_params(s->actor)[3] = NAN;
    cr_assert_eq(af_agent_save(a, "r/checkpoint.bin", err, sizeof err), 0, "%s", err);
    af_agent_free(a);
    af_env_free(e);
    cr_assert_eq(armfarm("export --checkpoint r/checkpoint.bin --format c --out nanpol"), 2);
    cr_assert_eq(sh("grep -q 'non-finite weights' err.txt && test ! -e nanpol.c"), 0);
  }
  cr_assert_eq(sh("truncate -s 100 r/checkpoint.bin"), 0);
  cr_assert_eq(armfarm("export --checkpoint r/checkpoint.bin --format onnx --out x.onnx"), 2);
  cr_assert_eq(sh("test ! -e x.onnx"), 0);
}
