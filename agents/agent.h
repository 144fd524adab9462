// The agent interface every agent implements: make from a JSON config and an environment
// spec, act (stochastic or deterministic), observe a transition, update, save, load, free.
// Each agent's hyperparameters are one table of fields (envs/config.h) with defaults and
// ranges, validated with clear errors and printed by --help.
#ifndef AF_AGENT_H
#define AF_AGENT_H

#include <stdint.h>
#include <stdio.h>

#include "base/config.h"
#include "envs/env.h"

typedef struct {
  int updates;        // gradient updates done by this call
  float critic_loss;  // of the last update
  float actor_loss;
  float alpha;        // entropy temperature
  float entropy;      // minus the mean log-probability of the policy's actions
} af_agent_stats;

typedef struct af_agent_def {
  const char *name, *description;
  const af_param *params;
  int nparams;
  size_t cfg_size;
  void *(*make)(const void *cfg, const af_env_spec *spec, uint64_t seed, char *err, size_t errsz);
  void (*free)(void *a);
  void (*act)(void *a, const float *obs, int deterministic, float *action);
  void (*observe)(void *a, const float *obs, const float *act, float reward, const float *next_obs, int terminated);
  void (*update)(void *a, af_agent_stats *stats);
  int (*save)(void *a, const char *path, char *err, size_t errsz);
  int (*load)(void *a, const char *path, char *err, size_t errsz);
  // the replay buffer, for resuming (optional)
  int (*save_replay)(void *a, const char *path, char *err, size_t errsz);
  int (*load_replay)(void *a, const char *path, char *err, size_t errsz);
} af_agent_def;

typedef struct af_agent af_agent;

int af_agent_count(void);
const char *af_agent_name(int i);

// NULL with a one-line message naming the bad agent, key or value
af_agent *af_agent_make(const char *name, const char *config_json, const af_env_spec *spec, uint64_t seed, char *err,
                        size_t errsz);
void af_agent_free(af_agent *a);

void af_agent_act(af_agent *a, const float *obs, int deterministic, float *action);
void af_agent_observe(af_agent *a, const float *obs, const float *act, float reward, const float *next_obs, int terminated);
void af_agent_update(af_agent *a, af_agent_stats *stats);
int af_agent_save(af_agent *a, const char *path, char *err, size_t errsz);
int af_agent_load(af_agent *a, const char *path, char *err, size_t errsz);
// the agent's experience (replay buffer) for resuming; 0 and nothing written if it has none
int af_agent_save_replay(af_agent *a, const char *path, char *err, size_t errsz);
int af_agent_load_replay(af_agent *a, const char *path, char *err, size_t errsz);

// the resolved hyperparameters as JSON (owned by the agent)
const char *af_agent_config_json(af_agent *a);
// the agent's own state, for agent-specific tools and tests
void *af_agent_impl(af_agent *a);

// the hyperparameter table of an agent, for --help; -1 if unknown
int af_agent_describe(FILE *f, const char *name);

extern const af_agent_def af_sac_def;

#endif
