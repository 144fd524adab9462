// The agent registry and the config handling all agents share.
#include "agents/agent.h"

#include <stdlib.h>  // calloc, free
#include <string.h>  // strcmp

static const af_agent_def *const agents[] = {
  &af_sac_def,
};
#define N_AGENTS ((int)(sizeof agents / sizeof agents[0]))

struct af_agent {
  const af_agent_def *def;
  void *impl;
  void *cfg;
  char *cfg_json;
};

int af_agent_count(void) { return N_AGENTS; }
const char *af_agent_name(int i) { return i >= 0 && i < N_AGENTS ? agents[i]->name : NULL; }

static const af_agent_def *find(const char *name) {
  for (int i = 0; i < N_AGENTS; i++)
    if (name && strcmp(agents[i]->name, name) == 0) return agents[i];
  return NULL;
}

af_agent *af_agent_make(const char *name, const char *config_json, const af_env_spec *spec, uint64_t seed, char *err, size_t errsz) {
  const af_agent_def *def = find(name);
  if (!def) {
    snprintf(err, errsz, "unknown agent '%s' (available: sac)", name ? name : "(null)");
    return NULL;
  }
  af_agent *a = calloc(1, sizeof *a);
  if (!a) { snprintf(err, errsz, "out of memory"); return NULL; }
  a->def = def;
  a->cfg = calloc(1, def->cfg_size);
  af_params_default(a->cfg, def->params, def->nparams);
  // hyperparameters from JSON, each checked against the table
  if (config_json && *config_json) {
    cJSON *root = cJSON_Parse(config_json);
    int rc = 0;
    if (!root || !cJSON_IsObject(root)) { snprintf(err, errsz, "%s: config must be a JSON object", name); rc = -1; }
    for (cJSON *it = root && cJSON_IsObject(root) ? root->child : NULL; it && rc == 0; it = it->next) {
      const af_param *p = af_params_find(def->params, def->nparams, it->string);
      if (p) { rc = af_param_set(a->cfg, p, it, "agent", err, errsz); continue; }
      const char *s = af_params_suggest(def->params, def->nparams, it->string);
      if (s) snprintf(err, errsz, "agent.%s: unknown %s hyperparameter (did you mean '%s'?)", it->string, name, s);
      else snprintf(err, errsz, "agent.%s: unknown %s hyperparameter (see 'armfarm train --agent %s --help')", it->string, name, name);
      rc = -1;
    }
    cJSON_Delete(root);
    if (rc) { af_agent_free(a); return NULL; }
  }
  cJSON *o = cJSON_CreateObject();
  af_params_to_json(o, a->cfg, def->params, def->nparams);
  a->cfg_json = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  a->impl = def->make(a->cfg, spec, seed, err, errsz);
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

void af_agent_act(af_agent *a, const float *obs, int det, float *act) { a->def->act(a->impl, obs, det, act); }
void af_agent_observe(af_agent *a, const float *o, const float *act, float r, const float *no, int term) {
  a->def->observe(a->impl, o, act, r, no, term);
}
void af_agent_update(af_agent *a, af_agent_stats *s) { a->def->update(a->impl, s); }
int af_agent_save(af_agent *a, const char *path, char *err, size_t errsz) { return a->def->save(a->impl, path, err, errsz); }
int af_agent_load(af_agent *a, const char *path, char *err, size_t errsz) { return a->def->load(a->impl, path, err, errsz); }
int af_agent_save_replay(af_agent *a, const char *path, char *err, size_t errsz) {
  return a->def->save_replay ? a->def->save_replay(a->impl, path, err, errsz) : 0;
}
int af_agent_load_replay(af_agent *a, const char *path, char *err, size_t errsz) {
  return a->def->load_replay ? a->def->load_replay(a->impl, path, err, errsz) : 0;
}
const char *af_agent_config_json(af_agent *a) { return a->cfg_json; }
void *af_agent_impl(af_agent *a) { return a->impl; }

int af_agent_describe(FILE *f, const char *name) {
  const af_agent_def *def = find(name);
  if (!def) return -1;
  fprintf(f, "%s: %s\n  hyperparameters (agent.KEY):\n", def->name, def->description);
  af_params_print(f, def->params, def->nparams, "    ");
  return 0;
}
