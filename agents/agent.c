// The agent registry, the keys every agent shares, and the config handling all agents share.
#include "agents/agent.h"

#include "agents/nn/nn.h"  // af_mlp_layer

#include <stdio.h>   // snprintf
#include <stdlib.h>  // calloc, free
#include <string.h>  // strcmp

// the registry: one line per agent in agents/registry.h
#define AF_AGENT(name) extern const af_agent_def af_##name##_def;
#include "agents/registry.h"
#undef AF_AGENT
#define AF_AGENT(name) &af_##name##_def,
static const af_agent_def *const agents[] = {
#include "agents/registry.h"
};
#undef AF_AGENT
#define N_AGENTS ((int)(sizeof agents / sizeof agents[0]))

// keys every agent has
typedef af_agent_common common_cfg;
static const af_param common_params[] = {
  {"threads", AF_P_INT, offsetof(common_cfg, threads), 1, 1, 1024, NULL,
   "threads of the network numerics (1: fastest at these sizes, and bit-reproducible)"},
  {"flush_denormals", AF_P_BOOL, offsetof(common_cfg, flush_denormals), 1, 0, 1, NULL,
   "flush denormal floats to zero in the numerics (x86 FTZ/DAZ; slow on some CPUs otherwise)"},
  {"small_kernel", AF_P_BOOL, offsetof(common_cfg, small_kernel), 1, 0, 1, NULL,
   "networks with at most 128 units a layer on armfarm's own AVX-512 product where the CPU has it (false: oneDNN throughout)"},
};
#define N_COMMON ((int)(sizeof common_params / sizeof common_params[0]))

struct af_agent {
  const af_agent_def *def;
  void *impl;
  void *cfg;
  common_cfg common;
  char *cfg_json;
  char err[256];
};

int af_agent_count(void) { return N_AGENTS; }

af_nn_ctx *af_agent_nn_ctx(const af_agent_common *common, char *err, size_t errsz) {
  af_nn_ctx *c = af_nn_ctx_make(common->threads, common->flush_denormals, err, errsz);
  if (c) af_nn_ctx_set_kernels(c, common->small_kernel ? AF_NN_KERNELS_AUTO : AF_NN_KERNELS_ONEDNN);
  return c;
}
const char *af_agent_name(int i) { return i >= 0 && i < N_AGENTS ? agents[i]->name : NULL; }

const char *af_agent_names(void) {
  static char list[512];
  if (!list[0])
    for (int i = 0; i < N_AGENTS; i++) {
      strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
      strncat(list, agents[i]->name, sizeof list - strlen(list) - 1);
    }
  return list;
}

static const af_agent_def *find(const char *name) {
  for (int i = 0; i < N_AGENTS; i++)
    if (name && strcmp(agents[i]->name, name) == 0) return agents[i];
  return NULL;
}

// hyperparameters from JSON, each checked against the common table and the agent's own
static int parse_config(af_agent *a, const char *name, const char *json, char *err, size_t errsz) {
  const af_agent_def *def = a->def;
  af_params_default(a->cfg, def->params, def->nparams);
  af_params_default(&a->common, common_params, N_COMMON);
  if (!json || !*json) return 0;
  cJSON *root = cJSON_Parse(json);
  int rc = 0;
  if (!root || !cJSON_IsObject(root)) { snprintf(err, errsz, "%s: config must be a JSON object", name); rc = -1; }
  for (cJSON *it = root && cJSON_IsObject(root) ? root->child : NULL; it && rc == 0; it = it->next) {
    const af_param *p = af_params_find(def->params, def->nparams, it->string);
    if (p) { rc = af_param_set(a->cfg, p, it, "agent", err, errsz); continue; }
    if ((p = af_params_find(common_params, N_COMMON, it->string))) { rc = af_param_set(&a->common, p, it, "agent", err, errsz); continue; }
    const char *s = af_params_suggest(def->params, def->nparams, it->string);
    if (!s) s = af_params_suggest(common_params, N_COMMON, it->string);
    if (s) snprintf(err, errsz, "agent.%s: unknown %s hyperparameter (did you mean '%s'?)", it->string, name, s);
    else snprintf(err, errsz, "agent.%s: unknown %s hyperparameter (see 'armfarm train --agent %s --help')", it->string, name, name);
    rc = -1;
  }
  cJSON_Delete(root);
  return rc;
}

af_agent *af_agent_make(const char *name, const char *config_json, const af_agent_setup *setup, char *err, size_t errsz) {
  const af_agent_def *def = find(name);
  if (!def) {
    snprintf(err, errsz, "unknown agent '%s' (available: %s)", name ? name : "(null)", af_agent_names());
    return NULL;
  }
  if (!setup || !setup->spec || setup->num_envs < 1) {
    snprintf(err, errsz, "%s: the setup needs an environment spec and at least one environment", name);
    return NULL;
  }
  af_agent *a = calloc(1, sizeof *a);
  if (!a || !(a->cfg = calloc(1, def->cfg_size))) { free(a); snprintf(err, errsz, "out of memory"); return NULL; }
  a->def = def;
  if (parse_config(a, name, config_json, err, errsz)) { af_agent_free(a); return NULL; }
  // the resolved configuration: the agent's table, then the common keys
  cJSON *o = cJSON_CreateObject();
  af_params_to_json(o, a->cfg, def->params, def->nparams);
  af_params_to_json(o, &a->common, common_params, N_COMMON);
  a->cfg_json = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  a->impl = def->make(a->cfg, setup, &a->common, err, errsz);
  if (!a->impl) { af_agent_free(a); return NULL; }
  return a;
}

void af_agent_free(af_agent *a) {
  if (!a) return;
  if (a->impl) a->def->free(a->impl);
  free(a->cfg);
  cJSON_free(a->cfg_json);
  free(a);
}

int af_agent_act(af_agent *a, float *actions, const float *obs, int n, int det) {
  return a->def->act(a->impl, actions, obs, n, det, a->err, sizeof a->err);
}
int af_agent_observe(af_agent *a, const af_batch *b) { return a->def->observe(a->impl, b, a->err, sizeof a->err); }
int af_agent_update(af_agent *a, af_agent_stats *s) { return a->def->update(a->impl, s, a->err, sizeof a->err); }
const char *af_agent_last_error(const af_agent *a) { return a->err; }

int af_agent_save(af_agent *a, const char *path, char *err, size_t errsz) { return a->def->save(a->impl, path, err, errsz); }
int af_agent_load(af_agent *a, const char *path, char *err, size_t errsz) { return a->def->load(a->impl, path, err, errsz); }
int af_agent_save_replay(af_agent *a, const char *path, char *err, size_t errsz) {
  return a->def->save_replay ? a->def->save_replay(a->impl, path, err, errsz) : 0;
}
int af_agent_load_replay(af_agent *a, const char *path, char *err, size_t errsz) {
  return a->def->load_replay ? a->def->load_replay(a->impl, path, err, errsz) : 0;
}
int af_policy_from_mlp(af_policy *p, int obs_dim, int act_dim, af_mlp *net, const float *mean, const float *std, float clip,
                       int squash, char *err, size_t errsz) {
  memset(p, 0, sizeof *p);
  int L = af_mlp_layers(net);
  if (L > AF_POLICY_MAX_LAYERS) { snprintf(err, errsz, "the policy has %d layers (at most %d export)", L, AF_POLICY_MAX_LAYERS); return AF_ERR_ARG; }
  *p = (af_policy){.obs_dim = obs_dim, .act_dim = act_dim, .mean = mean, .std = std, .clip = clip, .nlayers = L, .squash = squash};
  for (int l = 0; l < L; l++) {
    af_policy_layer *y = &p->layer[l];
    af_act act;
    af_mlp_layer(net, l, &y->in, &y->out, &act, &y->w, &y->b);
    y->act = (int)act;
  }
  return AF_OK;
}

int af_agent_policy(af_agent *a, af_policy *out, char *err, size_t errsz) {
  if (a->def->policy) return a->def->policy(a->impl, out, err, errsz);
  snprintf(err, errsz, "agent %s has no policy of dense layers to export", a->def->name);
  return AF_ERR_ARG;
}
int af_agent_set_reward_hook(af_agent *a, af_reward_hook hook, void *ctx, char *err, size_t errsz) {
  if (!a->def->set_reward_hook) {
    snprintf(err, errsz, "agent %s cannot learn from a learned reward (it has no replay to apply it to)", a->def->name);
    return AF_ERR_UNSUP;
  }
  a->def->set_reward_hook(a->impl, hook, ctx);
  return AF_OK;
}
int af_agent_write_artifacts(af_agent *a, const char *dir, char *err, size_t errsz) {
  return a->def->write_artifacts ? a->def->write_artifacts(a->impl, dir, err, errsz) : AF_OK;
}
const char *af_agent_config_json(const af_agent *a) { return a->cfg_json; }
void *af_agent_impl(af_agent *a) { return a->impl; }

int af_agent_describe(FILE *f, const char *name) {
  const af_agent_def *def = find(name);
  if (!def) return -1;
  fprintf(f, "%s: %s\n  hyperparameters (agent.KEY):\n", def->name, def->description);
  af_params_print(f, def->params, def->nparams, "    ");
  af_params_print(f, common_params, N_COMMON, "    ");
  return 0;
}
