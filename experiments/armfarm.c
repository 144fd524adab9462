// armfarm: the command-line front end: one small file per command (see usage below).
#include <stdio.h>   // printf, fprintf
#include <stdlib.h>  // strtol
#include <string.h>  // strcmp

#include "base/config.h"
#include "envs/env.h"
#include "bench/bench.h"
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
    "  train --env NAME --agent NAME --steps N --seed S --out DIR [--config FILE] [--set key=value]...\n"
    "                         one training run: progress.csv, eval.csv, checkpoints (train --help)\n"
    "  run FILE [--jobs N] [--out DIR] [--dry-run] [--resume] [--backend local|slurm]\n"
    "      [--partition P] [--time T] [--cpus-per-run C] [--requeue]\n"
    "                         an experiment: every variant and seed as its own training process,\n"
    "                         here or as a Slurm job array (run --help)\n"
    "  status DIR             every run of a sweep folder: state, steps, Slurm job and task\n"
    "  analyze DIR [--metric return|success] [--out DIR]\n"
    "                         IQM, bootstrap intervals, probability of improvement, plots\n"
    "  view --env NAME [--checkpoint PATH | --policy P] [--frames N --screenshot FILE.png]\n"
    "                         watch a policy in a window (keys: H for help)\n"
    "  record --env NAME [--checkpoint PATH | --policy P] --episodes N --out FILE.mp4|DIR\n"
    "                         record episodes to an MP4 (ffmpeg) or PNG frames\n"
    "  examples --env NAME --count K --out FILE [--seed S]\n"
    "                         write K observations of successful outcomes (CSV) for reward learning\n"
    "  collect --env NAME --episodes N --out FILE [--seed S] [--scripted P] [--noise SD]\n"
    "                         scripted and random episodes into an episode dataset (offline QT-Opt)\n"
    "  policy --checkpoint PATH --obs IN.csv --out OUT.csv\n"
    "                         a checkpoint's deterministic actions for given observations\n"
    "  export --checkpoint PATH --format onnx|c --out PATH\n"
    "                         the policy as an ONNX model or dependency-free C99 for a robot\n"
    "  bench envs [--json]    environment throughput beside bare mj_step, and 1 -> 2 thread scaling\n"
    "  bench sac [--json]     SAC updates/s beside PyTorch's in the same run, GFLOP/s beside oneDNN's matmul\n"
    "  bench render [--json]  pixel observations per second at 64x64 (needs a display or Xvfb)\n"
    "  bench train [--json]   training steps per second over the vectorized runner, 1 and 2 threads\n"
    "  bench ppo [--json]     PPO training steps per second on 64 quadrupeds, updates included, 1 and 2 threads\n"
    "  bench qtopt [--json]   QT-Opt's CEM: actions per second on one state, Bellman targets per second (batch 256)\n"
    "  bench rltools --peer-dir DIR [--json]\n"
    "                         the whole RLtools-configuration Pendulum SAC run beside RLtools', side by side\n"
    "  bench conv-encoder [--json]\n"
    "                         the pixel-SAC conv encoder's forward+backward at batch 128, one thread, GFLOP/s\n"
    "\n"
    "environment config: JSON; --set takes dotted keys, e.g. --set reward=sparse\n"
    "  --set randomize=false  --set randomize.eval=true  --set randomize.puck_mass=[0.5,2]\n"
    "exit status: 0 success, 1 failure while running, 2 bad usage (unknown command, option,\n"
    "environment, key or value)\n");
}

int main(int argc, char **argv) {
  if (argc < 2) { usage(stderr); return AF_EXIT_USAGE; }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) { usage(stdout); return AF_EXIT_OK; }
  if (!strcmp(cmd, "envs")) return af_cmd_envs(argc - 1, argv + 1);
  if (!strcmp(cmd, "rollout")) return af_cmd_rollout(argc - 1, argv + 1);
  if (!strcmp(cmd, "bench")) return af_cmd_bench(argc - 1, argv + 1);
  if (!strcmp(cmd, "train")) return af_cmd_train(argc - 1, argv + 1);
  if (!strcmp(cmd, "run")) return af_cmd_run(argc - 1, argv + 1);
  if (!strcmp(cmd, "status")) return af_cmd_status(argc - 1, argv + 1);
  if (!strcmp(cmd, "analyze")) return af_cmd_analyze(argc - 1, argv + 1);
  if (!strcmp(cmd, "view")) return af_cmd_view(argc - 1, argv + 1);
  if (!strcmp(cmd, "record")) return af_cmd_record(argc - 1, argv + 1);
  if (!strcmp(cmd, "examples")) return af_cmd_examples(argc - 1, argv + 1);
  if (!strcmp(cmd, "collect")) return af_cmd_collect(argc - 1, argv + 1);
  if (!strcmp(cmd, "policy")) return af_cmd_policy(argc - 1, argv + 1);
  if (!strcmp(cmd, "export")) return af_cmd_export(argc - 1, argv + 1);
  fprintf(stderr, "armfarm: unknown command '%s' (try 'armfarm --help')\n", cmd);
  return AF_EXIT_USAGE;
}
