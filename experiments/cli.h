// The armfarm command-line program: shared helpers of its subcommands.
#ifndef AF_CLI_H
#define AF_CLI_H

#include <cjson/cJSON.h>
#include "agents/agent.h"
#include "base/base.h"  // exit codes, af_now, af_read_file, af_cli_long
#include "envs/env.h"

// the commands, one file each
int af_cmd_envs(int argc, char **argv);
int af_cmd_rollout(int argc, char **argv);
int af_cmd_examples(int argc, char **argv);
int af_cmd_collect(int argc, char **argv);
int af_cmd_train(int argc, char **argv);
int af_cmd_run(int argc, char **argv);
int af_cmd_status(int argc, char **argv);
int af_cmd_analyze(int argc, char **argv);
int af_cmd_view(int argc, char **argv);
int af_cmd_record(int argc, char **argv);
int af_cmd_policy(int argc, char **argv);
int af_cmd_export(int argc, char **argv);

// what a command's option parser returns to let the command go on (else it returns the exit
// code to stop with: AF_EXIT_OK after --help, AF_EXIT_USAGE after a bad option)
#define AF_CLI_GO_ON (-1)

// check a run document (env, agent, train, eval_envs) by making what it names; 0, or -1
// with a one-line message naming the JSON path
int af_train_check(const char *doc_json, char *err, size_t errsz);

// an environment config from --config FILE and --set key=value pairs (owned string, or
// NULL with a message on stderr)
char *af_cli_env_config(const char *file, char **sets, int nsets);

// what a checkpoint's run folder says (<run>/config.json beside <run>/checkpoint.bin): the
// environment and agent names, and the rest of each section as its config (all owned)
typedef struct { char *env_name, *agent_name, *env_cfg, *agent_cfg; } af_run_config;
int af_cli_read_run_config(const char *ckpt, af_run_config *rc, char *err, size_t errsz);
void af_cli_run_config_free(af_run_config *rc);

// the checkpoint's environment, made from its run's config, and its agent, made for one
// environment and loaded; 0, or -1 with a message (nothing to free then)
int af_cli_load_checkpoint(const char *ckpt, af_env **env, af_agent **ag, char *err, size_t errsz);

#endif
