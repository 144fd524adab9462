// The benchmark commands: each prints its figures with the peer's beside it, measured in the
// same run.
#ifndef AF_BENCH_H
#define AF_BENCH_H

// armfarm bench envs|render|sac|train|ppo ...: exit code
int af_cmd_bench(int argc, char **argv);
int af_cmd_bench_sac(int argc, char **argv);
int af_cmd_bench_train(int argc, char **argv);
int af_cmd_bench_ppo(int argc, char **argv);
int af_cmd_bench_rltools(int argc, char **argv);

#endif
