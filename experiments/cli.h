// The armfarm command-line program: shared helpers of its subcommands.
#ifndef AF_CLI_H
#define AF_CLI_H

#include <cjson/cJSON.h>

// exit codes: 0 fine, 1 run-time failure, 2 usage (unknown command, option, name or key)
enum { AF_EXIT_OK = 0, AF_EXIT_FAIL = 1, AF_EXIT_USAGE = 2 };

int af_cmd_rollout(int argc, char **argv);
int af_cmd_bench(int argc, char **argv);
int af_cmd_examples(int argc, char **argv);
int af_cmd_train(int argc, char **argv);
int af_cmd_run(int argc, char **argv);
int af_cmd_analyze(int argc, char **argv);
int af_cmd_view(int argc, char **argv);
int af_cmd_record(int argc, char **argv);
int af_cmd_bench_sac(int argc, char **argv);

// check a run document (env, agent, train, eval_envs) by making what it names; 0, or -1
// with a one-line message naming the JSON path
int af_train_check(const char *doc_json, char *err, size_t errsz);

// parse a whole non-negative number option; -1 with a message on stderr if malformed
long af_cli_long(const char *opt, const char *s, long lo, long hi);

// an environment config from --config FILE and --set key=value pairs (owned string, or
// NULL with a message on stderr)
char *af_cli_env_config(const char *file, char **sets, int nsets);

// a whole file as a NUL-terminated string (owned), or NULL if it cannot be read
char *af_read_file(const char *path);

// monotonic seconds
double af_now(void);

#endif
