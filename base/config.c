// Config tables: defaults, JSON parsing with range checks, printing and suggestions.
#include "base/config.h"

#include <limits.h>  // INT_MIN, INT_MAX
#include <math.h>    // isfinite, floor
#include <stdlib.h>  // strtod
#include <string.h>  // strcmp, strlen, strchr

// the choice at `index` of "a|b|c" copied into buf; 0 if it exists
static int choice_at(const char *choices, int index, char *buf, size_t bufsz) {
  const char *s = choices;
  for (int i = 0; s; i++) {
    const char *bar = strchr(s, '|');
    size_t len = bar ? (size_t)(bar - s) : strlen(s);
    if (i == index) {
      if (len >= bufsz) len = bufsz - 1;
      memcpy(buf, s, len);
      buf[len] = 0;
      return 0;
    }
    s = bar ? bar + 1 : NULL;
  }
  return -1;
}

// index of `name` among "a|b|c", or -1
static int choice_index(const char *choices, const char *name) {
  char buf[64];
  for (int i = 0; choice_at(choices, i, buf, sizeof buf) == 0; i++)
    if (strcmp(buf, name) == 0) return i;
  return -1;
}

static int *int_field(void *cfg, const af_param *p) { return (int *)((char *)cfg + p->offset); }
static double *dbl_field(void *cfg, const af_param *p) { return (double *)((char *)cfg + p->offset); }

static char *str_field(void *cfg, const af_param *p) { return (char *)cfg + p->offset; }

void af_params_default(void *cfg, const af_param *p, int n) {
  for (int i = 0; i < n; i++) {
    if (p[i].type == AF_P_STRING) snprintf(str_field(cfg, &p[i]), AF_P_STRING_MAX, "%s", p[i].choices ? p[i].choices : "");
    else if (p[i].type == AF_P_DOUBLE) *dbl_field(cfg, &p[i]) = p[i].def;
    else *int_field(cfg, &p[i]) = (int)p[i].def;
  }
}

const af_param *af_params_find(const af_param *p, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(p[i].name, name) == 0) return &p[i];
  return NULL;
}

double af_param_get(const void *cfg, const af_param *p) {
  if (p->type == AF_P_STRING) return 0;
  if (p->type == AF_P_DOUBLE) return *dbl_field((void *)cfg, p);
  return *int_field((void *)cfg, p);
}

int af_param_set(void *cfg, const af_param *p, const cJSON *v, const char *ctx, char *err, size_t errsz) {
  const char *sep = (ctx && *ctx) ? "." : "";
  if (!ctx) ctx = "";
  switch (p->type) {
    case AF_P_STRING:
      if (!cJSON_IsString(v) || strlen(v->valuestring) >= AF_P_STRING_MAX) {
        snprintf(err, errsz, "%s%s%s: expected a string of fewer than %d characters", ctx, sep, p->name, AF_P_STRING_MAX);
        return -1;
      }
      snprintf(str_field(cfg, p), AF_P_STRING_MAX, "%s", v->valuestring);
      return 0;
    case AF_P_BOOL:
      if (!cJSON_IsBool(v)) {
        snprintf(err, errsz, "%s%s%s: expected true or false", ctx, sep, p->name);
        return -1;
      }
      *int_field(cfg, p) = cJSON_IsTrue(v);
      return 0;
    case AF_P_ENUM: {
      int k = cJSON_IsString(v) ? choice_index(p->choices, v->valuestring) : -1;
      if (k < 0) {
        snprintf(err, errsz, "%s%s%s: expected one of %s", ctx, sep, p->name, p->choices);
        return -1;
      }
      *int_field(cfg, p) = k;
      return 0;
    }
    case AF_P_INT:
    case AF_P_DOUBLE: {
      if (cJSON_IsString(v)) {
        snprintf(err, errsz, "%s%s%s: expected a number, got \"%.40s\"", ctx, sep, p->name, v->valuestring);
        return -1;
      }
      if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        snprintf(err, errsz, "%s%s%s: expected a number", ctx, sep, p->name);
        return -1;
      }
      double x = v->valuedouble;
      if (p->type == AF_P_INT && x != floor(x)) {
        snprintf(err, errsz, "%s%s%s: expected a whole number, got %g", ctx, sep, p->name, x);
        return -1;
      }
      // an int field holds what an int holds, whatever range the table gives
      double lo = p->lo, hi = p->hi;
      if (p->type == AF_P_INT) { lo = fmax(lo, INT_MIN); hi = fmin(hi, INT_MAX); }
      if (x < lo || x > hi) {
        snprintf(err, errsz, "%s%s%s: %g is out of range [%g, %g]", ctx, sep, p->name, x, lo, hi);
        return -1;
      }
      if (p->type == AF_P_INT) *int_field(cfg, p) = (int)x;
      else *dbl_field(cfg, p) = x;
      return 0;
    }
  }
  return -1;
}

void af_params_to_json(cJSON *obj, const void *cfg, const af_param *p, int n) {
  for (int i = 0; i < n; i++) {
    double x = af_param_get(cfg, &p[i]);
    if (p[i].type == AF_P_STRING) cJSON_AddStringToObject(obj, p[i].name, str_field((void *)cfg, &p[i]));
    else if (p[i].type == AF_P_BOOL) cJSON_AddBoolToObject(obj, p[i].name, x != 0);
    else if (p[i].type == AF_P_ENUM) {
      char buf[64];
      choice_at(p[i].choices, (int)x, buf, sizeof buf);
      cJSON_AddStringToObject(obj, p[i].name, buf);
    } else cJSON_AddNumberToObject(obj, p[i].name, x);
  }
}

void af_params_print(FILE *f, const af_param *p, int n, const char *indent) {
  for (int i = 0; i < n; i++) {
    char def[64];
    if (p[i].type == AF_P_STRING) snprintf(def, sizeof def, "\"%s\"", p[i].choices ? p[i].choices : "");
    else if (p[i].type == AF_P_BOOL) snprintf(def, sizeof def, "%s", p[i].def != 0 ? "true" : "false");
    else if (p[i].type == AF_P_ENUM) choice_at(p[i].choices, (int)p[i].def, def, sizeof def);
    else snprintf(def, sizeof def, "%g", p[i].def);
    char range[96] = "";
    if (p[i].type == AF_P_INT || p[i].type == AF_P_DOUBLE)
      snprintf(range, sizeof range, " [%g, %g]", p[i].lo, p[i].hi);
    else if (p[i].type == AF_P_ENUM)
      snprintf(range, sizeof range, " {%s}", p[i].choices);
    fprintf(f, "%s%-18s = %-8s%s  %s\n", indent, p[i].name, def, range, p[i].help);
  }
}

int af_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64) la = 64;
  if (lb > 64) lb = 64;
  int row[65];
  for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int prev = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int cur = row[j];
      int sub = prev + (a[i - 1] != b[j - 1]);
      int del = row[j] + 1, ins = row[j - 1] + 1;
      row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
      prev = cur;
    }
  }
  return row[lb];
}

const char *af_params_suggest(const af_param *p, int n, const char *name) {
  const char *best = NULL;
  int bestd = 1 << 30;
  for (int i = 0; i < n; i++) {
    int d = af_edit_distance(name, p[i].name);
    if (d < bestd) { bestd = d; best = p[i].name; }
  }
  // only suggest what is plausibly a typo: at most a third of the name wrong
  int limit = (int)strlen(name) / 3 + 1;
  return bestd <= limit ? best : NULL;
}

int af_json_set_path(cJSON *obj, const char *path, const char *value, char *err, size_t errsz) {
  char key[256];
  const char *s = path;
  cJSON *cur = obj;
  for (;;) {
    const char *dot = strchr(s, '.');
    size_t len = dot ? (size_t)(dot - s) : strlen(s);
    if (len == 0 || len >= sizeof key) {
      snprintf(err, errsz, "bad key path '%s'", path);
      return -1;
    }
    memcpy(key, s, len);
    key[len] = 0;
    if (!dot) break;
    // descend, creating objects on the way
    cJSON *next = cJSON_GetObjectItemCaseSensitive(cur, key);
    if (!next) next = cJSON_AddObjectToObject(cur, key);
    else if (!cJSON_IsObject(next)) {
      snprintf(err, errsz, "'%s': '%s' is not an object", path, key);
      return -1;
    }
    cur = next;
    s = dot + 1;
  }
  // the value: JSON when the whole of it parses as JSON, a plain string otherwise (plain
  // cJSON_Parse reads "7oops" as 7 and drops the rest; a string is refused where a number goes)
  cJSON *v = cJSON_ParseWithOpts(value, NULL, 1);
  if (!v) v = cJSON_CreateString(value);
  if (cJSON_GetObjectItemCaseSensitive(cur, key)) cJSON_ReplaceItemInObjectCaseSensitive(cur, key, v);
  else cJSON_AddItemToObject(cur, key, v);
  return 0;
}
