// Helpers the commands of the armfarm program share: configs from files and --set edits.
#include "experiments/cli.h"

#include <stdio.h>   // fprintf
#include <stdlib.h>  // free
#include <string.h>  // strchr

#include "base/config.h"  // af_json_set_path

char *af_cli_env_config(const char *file, char **sets, int nsets) {
  cJSON *cfg = NULL;
  if (file) {
    char *buf = af_read_file(file);
    if (!buf) { fprintf(stderr, "armfarm: cannot open config file %s\n", file); return NULL; }
    // the whole file must be one JSON object: no trailing text after it
    cfg = cJSON_ParseWithOpts(buf, NULL, 1);
    if (!cfg || !cJSON_IsObject(cfg)) {
      // line and column of the syntax error
      const char *at = cJSON_GetErrorPtr();
      int line = 1, col = 1;
      for (const char *p = buf; at && p < at && *p; p++) { if (*p == '\n') { line++; col = 1; } else col++; }
      fprintf(stderr, "armfarm: %s:%d:%d: %s\n", file, line, col, cfg ? "config must be a JSON object" : "invalid JSON");
      cJSON_Delete(cfg);
      free(buf);
      return NULL;
    }
    free(buf);
  } else {
    cfg = cJSON_CreateObject();
  }
  for (int i = 0; i < nsets; i++) {
    char *eq = strchr(sets[i], '=');
    char err[256];
    if (!eq) { fprintf(stderr, "armfarm: --set expects key=value, got '%s'\n", sets[i]); cJSON_Delete(cfg); return NULL; }
    *eq = 0;
    int rc = af_json_set_path(cfg, sets[i], eq + 1, err, sizeof err);
    *eq = '=';
    if (rc) { fprintf(stderr, "armfarm: --set %s\n", err); cJSON_Delete(cfg); return NULL; }
  }
  char *s = cJSON_PrintUnformatted(cfg);
  cJSON_Delete(cfg);
  return s;
}

// ---- checkpoints and their run folders ----

void af_cli_run_config_free(af_run_config *rc) {
  free(rc->env_name);
  free(rc->agent_name);
  free(rc->env_cfg);
  free(rc->agent_cfg);
}

// <run>/config.json beside <run>/checkpoint.bin: the names, and the rest of each section as its config
int af_cli_read_run_config(const char *ckpt, af_run_config *rc, char *err, size_t errsz) {
  *rc = (af_run_config){0};
  char *dir = strdup(ckpt), *slash = dir ? strrchr(dir, '/') : NULL;
  if (slash) *slash = 0;
  char *path = dir ? af_path_join(slash ? dir : ".", "config.json") : NULL;
  char *txt = path ? af_read_file(path) : NULL;
  cJSON *run = txt ? cJSON_Parse(txt) : NULL;
  free(txt);
  free(path);
  free(dir);
  cJSON *re = cJSON_GetObjectItemCaseSensitive(run, "env"), *ra = cJSON_GetObjectItemCaseSensitive(run, "agent");
  if (!cJSON_IsObject(re) || !cJSON_IsObject(ra)) { snprintf(err, errsz, "checkpoint %s: no run config.json beside it", ckpt); cJSON_Delete(run); return -1; }
  // the names are copied: the items are removed before the rest becomes the configs
  const char *en = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(re, "name"));
  const char *an = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ra, "name"));
  rc->env_name = en ? strdup(en) : NULL;
  rc->agent_name = strdup(an ? an : "");
  cJSON_DeleteItemFromObjectCaseSensitive(re, "name");
  cJSON_DeleteItemFromObjectCaseSensitive(ra, "name");
  rc->env_cfg = cJSON_PrintUnformatted(re);
  rc->agent_cfg = cJSON_PrintUnformatted(ra);
  cJSON_Delete(run);
  return 0;
}

// the checkpoint's environment (made from its run's config) and agent (made and loaded)
int af_cli_load_checkpoint(const char *ckpt, af_env **env, af_agent **ag, char *err, size_t errsz) {
  af_run_config rc;
  *env = NULL;
  *ag = NULL;
  if (af_cli_read_run_config(ckpt, &rc, err, errsz)) return -1;
  int bad = !rc.env_name;
  if (bad) snprintf(err, errsz, "checkpoint %s: its config.json names no environment", ckpt);
  else if (!(*env = af_env_make(rc.env_name, rc.env_cfg, err, errsz))) bad = 1;
  else {
    *ag = af_agent_make(rc.agent_name, rc.agent_cfg, &(af_agent_setup){.spec = af_env_get_spec(*env), .num_envs = 1, .env = *env}, err, errsz);
    bad = !*ag || af_agent_load(*ag, ckpt, err, errsz);
  }
  if (bad) { af_agent_free(*ag); af_env_free(*env); *ag = NULL; *env = NULL; }
  af_cli_run_config_free(&rc);
  return bad ? -1 : 0;
}
