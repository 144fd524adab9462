// Config tables: each field is listed once (name, type, default, range, help) and that table
// drives defaults, JSON parsing, validation, --help text and the saved config copy.
// Tables are static and read-only; each function touches only the config struct it is given,
// so different structs may be used from different threads. Messages go to err (errsz bytes).
#ifndef AF_CONFIG_H
#define AF_CONFIG_H

#include <stddef.h>  // size_t, offsetof
#include <stdio.h>   // FILE
#include <cjson/cJSON.h>

typedef enum { AF_P_BOOL, AF_P_INT, AF_P_DOUBLE, AF_P_ENUM, AF_P_STRING } af_param_type;

#define AF_P_STRING_MAX 64  // a string field is char[AF_P_STRING_MAX]; its default is `choices`

typedef struct {
  const char *name;
  af_param_type type;
  size_t offset;        // offset of the int/double field in the config struct
  double def, lo, hi;   // default and inclusive range (enum: index of the default choice)
  const char *choices;  // enums: "dense|sparse"; the field stores the index
  const char *help;
} af_param;

// fill every field of cfg with its default
void af_params_default(void *cfg, const af_param *p, int n);

// look up a parameter by name; NULL when absent (the returned entry points into p)
const af_param *af_params_find(const af_param *p, int n, const char *name);

// parse one JSON value into its field; 0, or -1 with "ctx.name: reason" in err and the field
// unchanged (ctx may be "" but not NULL)
int af_param_set(void *cfg, const af_param *p, const cJSON *v, const char *ctx, char *err, size_t errsz);

// the field's value as a double (bool and enum as 0/1 and index)
double af_param_get(const void *cfg, const af_param *p);

// add each field of cfg to obj under its name (enum as its choice string); obj keeps owning them
void af_params_to_json(cJSON *obj, const void *cfg, const af_param *p, int n);

// one line per field: name, type, default, range and help
void af_params_print(FILE *f, const af_param *p, int n, const char *indent);

// the closest name in the table to a misspelt one (edit distance), or NULL if none is close;
// the name returned is the table's (static)
const char *af_params_suggest(const af_param *p, int n, const char *name);

// edit distance between two short strings, capped at 64 characters
int af_edit_distance(const char *a, const char *b);

// set "a.b.c" = value (parsed as JSON when it parses, else taken as a string) inside obj,
// creating the objects on the way; 0, or -1 with a message when the path has an empty or
// over-long part or a step of it is not an object
int af_json_set_path(cJSON *obj, const char *path, const char *value, char *err, size_t errsz);

#endif
