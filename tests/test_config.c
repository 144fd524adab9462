// Config tables: parsing with range and type checks, defaults, suggestions, dotted --set paths.
#include <criterion/criterion.h>
#include <math.h>    // NAN, INFINITY
#include <string.h>

#include "base/base.h"    // af_parse_long, af_parse_double
#include "base/config.h"
#include "base/rng.h"

typedef struct { int flag, count, mode; double rate; } demo_cfg;

static const af_param demo[] = {
  {"flag", AF_P_BOOL, offsetof(demo_cfg, flag), 1, 0, 1, NULL, "a switch"},
  {"count", AF_P_INT, offsetof(demo_cfg, count), 3, 1, 10, NULL, "a count"},
  {"mode", AF_P_ENUM, offsetof(demo_cfg, mode), 1, 0, 2, "fast|slow|exact", "a mode"},
  {"rate", AF_P_DOUBLE, offsetof(demo_cfg, rate), 0.5, 0, 1, NULL, "a rate"},
};

static int set(demo_cfg *c, const char *name, const char *json, char *err) {
  cJSON *v = cJSON_Parse(json);
  int rc = af_param_set(c, af_params_find(demo, 4, name), v, "agent", err, 256);
  cJSON_Delete(v);
  return rc;
}

Test(config, defaults_and_valid_values) {
  demo_cfg c;
  char err[256];
  af_params_default(&c, demo, 4);
  cr_assert_eq(c.flag, 1);
  cr_assert_eq(c.count, 3);
  cr_assert_eq(c.mode, 1);
  cr_assert_eq(c.rate, 0.5);
  cr_assert_eq(set(&c, "count", "10", err), 0);
  cr_assert_eq(c.count, 10);
  cr_assert_eq(set(&c, "mode", "\"exact\"", err), 0);
  cr_assert_eq(c.mode, 2);
  cr_assert_eq(set(&c, "flag", "false", err), 0);
  cr_assert_eq(c.flag, 0);
  cr_assert_eq(set(&c, "rate", "0.25", err), 0);
  cr_assert_eq(c.rate, 0.25);
}

Test(config, bad_values_name_the_path_and_the_problem) {
  demo_cfg c;
  char err[256];
  af_params_default(&c, demo, 4);
  cr_assert_eq(set(&c, "count", "11", err), -1);
  cr_assert_str_eq(err, "agent.count: 11 is out of range [1, 10]");
  cr_assert_eq(set(&c, "count", "2.5", err), -1);
  cr_assert_str_eq(err, "agent.count: expected a whole number, got 2.5");
  cr_assert_eq(set(&c, "rate", "\"high\"", err), -1);
  cr_assert_str_eq(err, "agent.rate: expected a number, got \"high\"");
  cr_assert_eq(set(&c, "mode", "\"quick\"", err), -1);
  cr_assert_str_eq(err, "agent.mode: expected one of fast|slow|exact");
  cr_assert_eq(set(&c, "flag", "1", err), -1);
  cr_assert_str_eq(err, "agent.flag: expected true or false");
  // the struct is unchanged by refused values
  cr_assert_eq(c.count, 3);
  cr_assert_eq(c.rate, 0.5);
}

// an int field whose table range is wider than an int
typedef struct { int big; } wide_cfg;
static const af_param wide[] = {{"big", AF_P_INT, offsetof(wide_cfg, big), 0, 0, 1e12, NULL, "a wide count"}};

Test(config, numbers_are_strict) {
  demo_cfg c;
  wide_cfg w = {0};
  char err[256];
  af_params_default(&c, demo, 4);
  // a --set value with trailing text stays a string, and a string is no number
  cJSON *o = cJSON_CreateObject();
  cr_assert_eq(af_json_set_path(o, "count", "7oops", err, sizeof err), 0);
  cr_assert_eq(af_json_set_path(o, "rate", "1e3x", err, sizeof err), 0);
  cr_assert_eq(af_json_set_path(o, "range", "[0.5,2]x", err, sizeof err), 0);
  cr_assert_eq(af_json_set_path(o, "spaced", " 7 ", err, sizeof err), 0);
  char *s = cJSON_PrintUnformatted(o);
  cr_assert_str_eq(s, "{\"count\":\"7oops\",\"rate\":\"1e3x\",\"range\":\"[0.5,2]x\",\"spaced\":7}");
  cJSON_free(s);
  cr_assert_eq(af_param_set(&c, &demo[1], cJSON_GetObjectItem(o, "count"), "agent", err, sizeof err), -1);
  cr_assert_str_eq(err, "agent.count: expected a number, got \"7oops\"");
  cr_assert_eq(af_param_set(&c, &demo[3], cJSON_GetObjectItem(o, "rate"), "agent", err, sizeof err), -1);
  cr_assert_str_eq(err, "agent.rate: expected a number, got \"1e3x\"");
  cJSON_Delete(o);
  // integers beyond what an int holds are refused even when the table allows them
  cr_assert_eq(af_param_set(&w, &wide[0], (o = cJSON_CreateNumber(3e9)), "", err, sizeof err), -1);
  cr_assert_str_eq(err, "big: 3e+09 is out of range [0, 2.14748e+09]");
  cJSON_Delete(o);
  cr_assert_eq(af_param_set(&w, &wide[0], (o = cJSON_CreateNumber(2147483647.0)), "", err, sizeof err), 0, "%s", err);
  cr_assert_eq(w.big, 2147483647);
  cJSON_Delete(o);
  // non-integral, NaN and infinite values
  cr_assert_eq(af_param_set(&c, &demo[1], (o = cJSON_CreateNumber(3.000001)), "agent", err, sizeof err), -1);
  cr_assert(strstr(err, "expected a whole number"), "%s", err);
  cJSON_Delete(o);
  cr_assert_eq(af_param_set(&c, &demo[1], (o = cJSON_CreateNumber(NAN)), "agent", err, sizeof err), -1);
  cr_assert_str_eq(err, "agent.count: expected a number");
  cJSON_Delete(o);
  cr_assert_eq(af_param_set(&c, &demo[3], (o = cJSON_CreateNumber(INFINITY)), "agent", err, sizeof err), -1);
  cr_assert_str_eq(err, "agent.rate: expected a number");
  cJSON_Delete(o);
  cr_assert_eq(c.count, 3);
  cr_assert_eq(c.rate, 0.5);
  // the strict parsers of the base layer
  long l;
  double d;
  cr_assert_eq(af_parse_long("12", 0, 100, &l), 0);
  cr_assert_eq(l, 12);
  cr_assert_eq(af_parse_long("12x", 0, 100, &l), -1);
  cr_assert_eq(af_parse_long("1e3", 0, 10000, &l), -1);
  cr_assert_eq(af_parse_long("", 0, 100, &l), -1);
  cr_assert_eq(af_parse_long("99999999999999999999", 0, 0x7fffffffffffffffL, &l), -1);
  cr_assert_eq(af_parse_double("1e3", 0, 1e4, &d), 0);
  cr_assert_eq(d, 1000);
  cr_assert_eq(af_parse_double("1e3x", 0, 1e4, &d), -1);
  cr_assert_eq(af_parse_double("nan", -1e9, 1e9, &d), -1);
  cr_assert_eq(af_parse_double("1e999", -INFINITY, INFINITY, &d), -1);
}

Test(config, edit_distance_and_suggestions) {
  // classic hand-computed distances
  cr_assert_eq(af_edit_distance("kitten", "sitting"), 3);
  cr_assert_eq(af_edit_distance("flaw", "lawn"), 2);
  cr_assert_eq(af_edit_distance("", "abc"), 3);
  cr_assert_eq(af_edit_distance("same", "same"), 0);
  cr_assert_str_eq(af_params_suggest(demo, 4, "cuont"), "count");
  cr_assert_str_eq(af_params_suggest(demo, 4, "rat"), "rate");
  cr_assert_null(af_params_suggest(demo, 4, "temperature"));
}

Test(config, to_json_round_trips) {
  demo_cfg c, d;
  char err[256];
  af_params_default(&c, demo, 4);
  c.count = 7; c.mode = 0; c.rate = 0.125; c.flag = 0;
  cJSON *o = cJSON_CreateObject();
  af_params_to_json(o, &c, demo, 4);
  af_params_default(&d, demo, 4);
  for (int i = 0; i < 4; i++) cr_assert_eq(af_param_set(&d, &demo[i], cJSON_GetObjectItem(o, demo[i].name), "", err, sizeof err), 0, "%s", err);
  cr_assert(c.flag == d.flag && c.count == d.count && c.mode == d.mode && c.rate == d.rate);
  cJSON_Delete(o);
}

Test(config, dotted_set_paths) {
  cJSON *o = cJSON_CreateObject();
  char err[256];
  cr_assert_eq(af_json_set_path(o, "randomize.eval", "true", err, sizeof err), 0);
  cr_assert_eq(af_json_set_path(o, "randomize.puck_mass", "[0.5,2]", err, sizeof err), 0);
  cr_assert_eq(af_json_set_path(o, "reward", "sparse", err, sizeof err), 0);
  cr_assert_eq(af_json_set_path(o, "horizon", "30", err, sizeof err), 0);
  cr_assert_eq(af_json_set_path(o, "horizon", "40", err, sizeof err), 0);
  char *s = cJSON_PrintUnformatted(o);
  cr_assert_str_eq(s, "{\"randomize\":{\"eval\":true,\"puck_mass\":[0.5,2]},\"reward\":\"sparse\",\"horizon\":40}");
  cJSON_free(s);
  cr_assert_eq(af_json_set_path(o, "reward.x", "1", err, sizeof err), -1);
  cr_assert(strstr(err, "'reward' is not an object") != NULL);
  cr_assert_eq(af_json_set_path(o, "a..b", "1", err, sizeof err), -1);
  cJSON_Delete(o);
}

Test(config, rng_streams_are_reproducible_and_uniform) {
  af_rng a, b;
  af_rng_seed(&a, 123);
  af_rng_seed(&b, 123);
  for (int i = 0; i < 100; i++) cr_assert_eq(af_rng_next(&a), af_rng_next(&b));
  // mean and variance of U(0,1) and N(0,1) over 200k draws: 1/2, 1/12 and 0, 1
  double s = 0, s2 = 0, n1 = 0, n2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; i++) {
    double u = af_rng_uniform(&a), z = af_rng_normal(&a);
    cr_assert(u >= 0 && u < 1);
    s += u; s2 += u * u; n1 += z; n2 += z * z;
  }
  cr_assert_float_eq(s / n, 0.5, 0.003);
  cr_assert_float_eq(s2 / n - (s / n) * (s / n), 1.0 / 12, 0.001);
  cr_assert_float_eq(n1 / n, 0, 0.01);
  cr_assert_float_eq(n2 / n, 1, 0.01);
  // integers cover their inclusive range
  int hit[3] = {0};
  for (int i = 0; i < 300; i++) hit[af_rng_int(&a, 0, 2)]++;
  cr_assert(hit[0] && hit[1] && hit[2]);
  cr_assert_neq(af_seed_derive(1, 0), af_seed_derive(1, 1));
}
