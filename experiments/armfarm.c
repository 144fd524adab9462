// armfarm: the command-line front end. Subcommands: envs, rollout, bench.
#include <stdio.h>   // printf, fprintf
#include <stdlib.h>  // strtol
#include <string.h>  // strcmp
#include <time.h>    // clock_gettime
#include <errno.h>   // errno

#include "envs/config.h"
#include "agents/nn/nn.h"
#include "envs/env.h"
#include "experiments/cli.h"

static void usage(FILE *f) {
  fprintf(f,
    "usage: armfarm COMMAND [options]\n"
    "\n"
    "MuJoCo robot-learning benchmark and research harness.\n"
    "\n"
    "commands:\n"
    "  envs [NAME]            list environments; with NAME, its spaces, config keys and\n"
    "                         randomization table\n"
    "  rollout --env NAME     run episodes with a fixed policy and print return, success and speed\n"
    "          [--policy random|zero|scripted] [--episodes N] [--seed S]\n"
    "          [--config FILE] [--set key=value]... [--json]\n"
    "  train --env NAME --agent sac --steps N --seed S --out DIR [--config FILE] [--set key=value]...\n"
    "                         one training run: progress.csv, eval.csv, checkpoints (train --help)\n"
    "  run FILE [--jobs N] [--out DIR] [--dry-run] [--resume]\n"
    "                         an experiment: every variant and seed as its own training process\n"
    "  analyze DIR [--metric return|success] [--out DIR]\n"
    "                         IQM, bootstrap intervals, probability of improvement, plots\n"
    "  view --env NAME [--checkpoint PATH | --policy P] [--frames N --screenshot FILE.png]\n"
    "                         watch a policy in a window (keys: H for help)\n"
    "  record --env NAME [--checkpoint PATH | --policy P] --episodes N --out FILE.mp4|DIR\n"
    "                         record episodes to an MP4 (ffmpeg) or PNG frames\n"
    "  examples --env NAME --count K --out FILE [--seed S]\n"
    "                         write K observations of successful outcomes (CSV) for reward learning\n"
    "  bench envs [--json]    environment throughput beside bare mj_step, and 1 -> 2 thread scaling\n"
    "  bench sac [--json]     SAC updates/s beside PyTorch's in the same run, GFLOP/s beside oneDNN's matmul\n"
    "  bench render [--json]  pixel observations per second at 64x64 (needs a display or Xvfb)\n"
    "\n"
    "environment config: JSON; --set takes dotted keys, e.g. --set reward=sparse\n"
    "  --set randomize=false  --set randomize.eval=true  --set randomize.puck_mass=[0.5,2]\n"
    "exit status: 0 success, 1 failure while running, 2 bad usage (unknown command, option,\n"
    "environment, key or value)\n");
}

double af_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

char *af_read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
  if (buf) buf[n] = 0;
  fclose(f);
  return buf;
}

long af_cli_long(const char *opt, const char *s, long lo, long hi) {
  char *end;
  errno = 0;
  long x = s ? strtol(s, &end, 10) : 0;
  if (!s || !*s || *end || errno || x < lo || x > hi) {
    fprintf(stderr, "armfarm: %s expects a whole number in [%ld, %ld], got '%s'\n", opt, lo, hi, s ? s : "");
    return -1;
  }
  return x;
}

char *af_cli_env_config(const char *file, char **sets, int nsets) {
  cJSON *cfg = NULL;
  if (file) {
    char *buf = af_read_file(file);
    if (!buf) { fprintf(stderr, "armfarm: cannot open config file %s\n", file); return NULL; }
    cfg = cJSON_Parse(buf);
    if (!cfg || !cJSON_IsObject(cfg)) {
      // line and column of the syntax error
      const char *at = cJSON_GetErrorPtr();
      int line = 1, col = 1;
      for (const char *p = buf; at && p < at && *p; p++) { if (*p == '\n') { line++; col = 1; } else col++; }
      fprintf(stderr, "armfarm: %s:%d:%d: %s\n", file, line, col, cfg ? "config must be a JSON object" : "invalid JSON");
      cJSON_Delete(cfg);
      free(buf);
      return NULL;
    }
    free(buf);
  } else {
    cfg = cJSON_CreateObject();
  }
  for (int i = 0; i < nsets; i++) {
    char *eq = strchr(sets[i], '=');
    char err[256];
    if (!eq) { fprintf(stderr, "armfarm: --set expects key=value, got '%s'\n", sets[i]); cJSON_Delete(cfg); return NULL; }
    *eq = 0;
    int rc = af_json_set_path(cfg, sets[i], eq + 1, err, sizeof err);
    *eq = '=';
    if (rc) { fprintf(stderr, "armfarm: --set %s\n", err); cJSON_Delete(cfg); return NULL; }
  }
  char *s = cJSON_PrintUnformatted(cfg);
  cJSON_Delete(cfg);
  return s;
}

static int cmd_envs(int argc, char **argv) {
  if (argc > 2 || (argc == 2 && argv[1][0] == '-' && strcmp(argv[1], "--help") && strcmp(argv[1], "-h"))) {
    fprintf(stderr, "armfarm: usage: armfarm envs [NAME]\n");
    return AF_EXIT_USAGE;
  }
  if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    printf("usage: armfarm envs [NAME]\n  lists the environments; with NAME, its spaces, config keys and randomization table\n");
    return AF_EXIT_OK;
  }
  if (argc == 2) return af_env_describe(stdout, argv[1], 1) ? AF_EXIT_USAGE : AF_EXIT_OK;
  for (int i = 0; i < af_env_count(); i++)
    if (af_env_describe(stdout, af_env_name(i), 0)) return AF_EXIT_FAIL;
  return AF_EXIT_OK;
}

int main(int argc, char **argv) {
  // single-threaded numerics unless OMP_NUM_THREADS says otherwise: reproducible, fastest
  // for these network sizes, and the experiment runner's unit of parallelism
  af_nn_set_threads(0);
  if (argc < 2) { usage(stderr); return AF_EXIT_USAGE; }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) { usage(stdout); return AF_EXIT_OK; }
  if (!strcmp(cmd, "envs")) return cmd_envs(argc - 1, argv + 1);
  if (!strcmp(cmd, "rollout")) return af_cmd_rollout(argc - 1, argv + 1);
  if (!strcmp(cmd, "bench")) return af_cmd_bench(argc - 1, argv + 1);
  if (!strcmp(cmd, "train")) return af_cmd_train(argc - 1, argv + 1);
  if (!strcmp(cmd, "run")) return af_cmd_run(argc - 1, argv + 1);
  if (!strcmp(cmd, "analyze")) return af_cmd_analyze(argc - 1, argv + 1);
  if (!strcmp(cmd, "view")) return af_cmd_view(argc - 1, argv + 1);
  if (!strcmp(cmd, "record")) return af_cmd_record(argc - 1, argv + 1);
  if (!strcmp(cmd, "examples")) return af_cmd_examples(argc - 1, argv + 1);
  fprintf(stderr, "armfarm: unknown command '%s' (try 'armfarm --help')\n", cmd);
  return AF_EXIT_USAGE;
}
