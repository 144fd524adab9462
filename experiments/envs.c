// armfarm envs: the environments, their spaces, config keys and randomization tables.
#include <stdio.h>   // printf
#include <string.h>  // strcmp

#include "envs/env.h"
#include "experiments/cli.h"

int af_cmd_envs(int argc, char **argv) {
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
