// The benchmark commands: each prints its figures with the peer's beside it, measured in the
// same run.
#ifndef AF_BENCH_H
#define AF_BENCH_H

// armfarm bench envs|render|sac|train|ppo|qtopt|rltools|conv-encoder ...: exit code
int af_cmd_bench(int argc, char **argv);
int af_cmd_bench_sac(int argc, char **argv);
int af_cmd_bench_train(int argc, char **argv);
int af_cmd_bench_ppo(int argc, char **argv);
int af_cmd_bench_qtopt(int argc, char **argv);
int af_cmd_bench_rltools(int argc, char **argv);
int af_cmd_bench_conv_encoder(int argc, char **argv);

// oneDNN's f32 matmul at 1024^3 on the calling thread, in GFLOP/s: the machine's practical peak
double af_bench_matmul_gflops(void);

#endif
