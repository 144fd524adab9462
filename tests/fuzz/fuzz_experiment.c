// Fuzz target: experiment files through armfarm run's checker (parse, name, jobs, sweep,
// expansion into runs) and af_train_check of the variants' run documents. Making what a
// document names is the checker's design, so sizes that only cost time and memory
// (environments, threads, buffers, network widths, evaluation settings) are clamped before
// the check: the harness looks for crashes, not for slow valid experiments.
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>  // malloc, free
#include <string.h>  // memcpy

#include <cjson/cJSON.h>
#include "experiments/cli.h"  // af_train_check
#include "experiments/run.h"  // af_run_check_text

// variants made per input: the rest are expanded and labelled but not made
#define MAX_MADE 2
static int made;

// a number above hi becomes hi (anything else is left to the checker)
static void clamp(cJSON *obj, const char *key, double hi) {
  cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
  if (cJSON_IsNumber(v) && v->valuedouble > hi) cJSON_SetNumberValue(v, hi);
}

static void clamp_env(cJSON *env) {
  clamp(env, "image_width", 16);
  clamp(env, "image_height", 16);
}

// af_train_check of the document with its costly sizes clamped, for the first MAX_MADE variants
static int check_bounded(const char *doc_json, char *err, size_t errsz) {
  if (made++ >= MAX_MADE) return 0;
  cJSON *doc = cJSON_Parse(doc_json);
  if (!doc) return af_train_check(doc_json, err, errsz);
  cJSON *tr = cJSON_GetObjectItemCaseSensitive(doc, "train"), *ag = cJSON_GetObjectItemCaseSensitive(doc, "agent");
  clamp(tr, "num_envs", 2);
  clamp(tr, "threads", 2);
  clamp(ag, "threads", 1);
  clamp(ag, "buffer", 1000);
  clamp(ag, "hidden", 16);
  clamp(ag, "batch", 16);
  clamp_env(cJSON_GetObjectItemCaseSensitive(doc, "env"));
  // at most two evaluation settings, each with small images
  cJSON *ee = cJSON_GetObjectItemCaseSensitive(doc, "eval_envs");
  while (cJSON_IsObject(ee) && cJSON_GetArraySize(ee) > 2) cJSON_DeleteItemFromArray(ee, 2);
  for (cJSON *it = cJSON_IsObject(ee) ? ee->child : NULL; it; it = it->next) clamp_env(it);
  char *bounded = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  int rc = bounded ? af_train_check(bounded, err, errsz) : 0;
  cJSON_free(bounded);
  return rc;
}

int af_fuzz_experiment(const uint8_t *data, size_t size) {
  // the bytes as a NUL-terminated text (a NUL inside ends it, as for a file read as text)
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  made = 0;
  af_run_check_text("fuzz.json", text, check_bounded);
  free(text);
  return 0;
}

#ifdef AF_FUZZ_TARGET
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return af_fuzz_experiment(data, size); }
#endif
