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
