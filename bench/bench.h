// The benchmark commands: each prints its figures with the peer's beside it, measured in the
// same run.
#ifndef AF_BENCH_H
#define AF_BENCH_H

// armfarm bench envs|render|sac|train|ppo|qtopt|rltools|conv|conv-encoder ...: exit code
int af_cmd_bench(int argc, char **argv);
int af_cmd_bench_sac(int argc, char **argv);
int af_cmd_bench_train(int argc, char **argv);
int af_cmd_bench_ppo(int argc, char **argv);
int af_cmd_bench_qtopt(int argc, char **argv);
int af_cmd_bench_rltools(int argc, char **argv);
int af_cmd_bench_conv_encoder(int argc, char **argv);
int af_cmd_bench_conv(int argc, char **argv);

// the median of n figures, which are sorted in place (ascending)
double af_bench_median(double *x, int n);

// oneDNN's f32 matmul at 1024^3 on the calling thread, in GFLOP/s: the machine's practical peak
double af_bench_matmul_gflops(void);

// a PyTorch peer (script under the source folder, bench/peers/...) run on one thread in a
// child process without a shell: the figure it prints as `updates_per_s=X`, or 0 with the
// reason in why (no torch, the script's error, its exit status)
double af_bench_torch_peer(const char *script, const char *const *args, int nargs, char *why, size_t whysz);

#endif
