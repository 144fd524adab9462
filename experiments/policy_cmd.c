// armfarm policy and armfarm export: a checkpoint's deterministic actions for given
// observations (the reference an exported policy is checked against), and the policy
// written as ONNX or C99 for a robot.
#include <float.h>   // FLT_MAX
#include <stdio.h>
#include <stdlib.h>  // free, calloc
#include <string.h>  // strcmp, strtok_r

#include "experiments/cli.h"
#include "experiments/export.h"

// ---- the options both commands take: --checkpoint, --out, and one of their own ----
typedef struct {
  const char *ckpt, *out, *extra;  // extra: --obs (policy) or --format (export)
  int help;
} policy_opts;

// 0 to go on, else the exit code
static int parse(policy_opts *o, int argc, char **argv, const char *cmd, const char *extra_flag) {
  *o = (policy_opts){0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { o->help = 1; return 0; }
    const char **dst = !strcmp(a, "--checkpoint") ? &o->ckpt : !strcmp(a, "--out") ? &o->out : !strcmp(a, extra_flag) ? &o->extra : NULL;
    if (!dst) { fprintf(stderr, "armfarm %s: unknown option '%s' (try --help)\n", cmd, a); return AF_EXIT_USAGE; }
    if (i + 1 >= argc) { fprintf(stderr, "armfarm %s: %s needs a value\n", cmd, a); return AF_EXIT_USAGE; }
    *dst = argv[++i];
  }
  if (!o->ckpt || !o->out || !o->extra) {
    fprintf(stderr, "armfarm %s: --checkpoint, %s and --out are required (try --help)\n", cmd, extra_flag);
    return AF_EXIT_USAGE;
  }
  return 0;
}

// ---- armfarm policy ----
// one CSV line of numbers into row (at most n of them); the count, or -1 when a field is no
// finite number
static int parse_row(char *line, float *row, int n) {
  int k = 0;
  char *save = NULL;
  for (char *tok = strtok_r(line, ",", &save); tok; tok = strtok_r(NULL, ",", &save), k++) {
    while (*tok == ' ') tok++;
    double v;
    if (af_parse_double(tok, -FLT_MAX, FLT_MAX, &v)) return -1;
    if (k < n) row[k] = (float)v;
  }
  return k;
}

// every row of the observations file through the policy, into a CSV text; 0, or -1 with a
// message naming the line
static int act_rows(af_agent *ag, const af_env_spec *s, char *text, FILE *out, const char *path, char *err, size_t errsz) {
  float *obs = calloc((size_t)s->obs_dim + (size_t)s->act_dim, sizeof(float)), *act = obs ? obs + s->obs_dim : NULL;
  if (!obs) { snprintf(err, errsz, "out of memory"); return -1; }
  for (int i = 0; i < s->act_dim; i++) fprintf(out, "%sa%d", i ? "," : "", i);
  fprintf(out, "\n");
  int line = 0, rows = 0, rc = 0;
  char *save = NULL;
  for (char *l = strtok_r(text, "\n", &save); l && rc == 0; l = strtok_r(NULL, "\n", &save)) {
    line++;
    l[strcspn(l, "\r")] = 0;
    if (!*l) continue;
    // a first line that is not numbers is a header
    int k = parse_row(l, obs, s->obs_dim);
    if (k < 0 && rows == 0 && line == 1) continue;
    if (k != s->obs_dim) {
      snprintf(err, errsz, "%s line %d: %s (the policy takes %d observation values per row)", path, line, k < 0 ? "a value is no finite number" : "wrong number of values", s->obs_dim);
      rc = -1;
    } else if (af_agent_act(ag, act, obs, 1, 1) != AF_OK) {
      snprintf(err, errsz, "%s line %d: %s", path, line, af_agent_last_error(ag));
      rc = -1;
    } else {
      for (int i = 0; i < s->act_dim; i++) fprintf(out, "%s%.9g", i ? "," : "", (double)act[i]);
      fprintf(out, "\n");
      rows++;
    }
  }
  if (rc == 0 && rows == 0) { snprintf(err, errsz, "%s holds no observations", path); rc = -1; }
  free(obs);
  return rc;
}

int af_cmd_policy(int argc, char **argv) {
  policy_opts o;
  int rc = parse(&o, argc, argv, "policy", "--obs");
  if (o.help) {
    printf("usage: armfarm policy --checkpoint RUN/checkpoint.bin --obs IN.csv --out OUT.csv\n"
           "  the checkpoint's deterministic actions (in [-1, 1]) for the observations in IN.csv, one per row\n"
           "  (comma-separated, obs_dim values; a first line of names is skipped), written to OUT.csv with a\n"
           "  header a0,a1,... The reference that an exported policy (armfarm export) is checked against.\n");
    return AF_EXIT_OK;
  }
  if (rc) return rc;
  // the checkpoint, the observations, the actions
  char err[512], *text = NULL, *buf = NULL;
  size_t n = 0;
  af_env *env = NULL;
  af_agent *ag = NULL;
  FILE *out = NULL;
  rc = AF_EXIT_USAGE;
  if (af_cli_load_checkpoint(o.ckpt, &env, &ag, err, sizeof err)) fprintf(stderr, "armfarm policy: %s\n", err);
  else if (!(text = af_read_file(o.extra))) fprintf(stderr, "armfarm policy: cannot read %s\n", o.extra);
  else if (!(out = open_memstream(&buf, &n))) { fprintf(stderr, "armfarm policy: out of memory\n"); rc = AF_EXIT_FAIL; }
  else if (act_rows(ag, af_env_get_spec(env), text, out, o.extra, err, sizeof err)) fprintf(stderr, "armfarm policy: %s\n", err);
  else rc = AF_EXIT_OK;
  if (out && fclose(out) != 0 && rc == AF_EXIT_OK) { fprintf(stderr, "armfarm policy: out of memory\n"); rc = AF_EXIT_FAIL; }
  if (rc == AF_EXIT_OK && af_write_file_atomic(o.out, buf, n, err, sizeof err)) { fprintf(stderr, "armfarm policy: %s\n", err); rc = AF_EXIT_FAIL; }
  free(buf);
  free(text);
  af_agent_free(ag);
  af_env_free(env);
  return rc;
}

// ---- armfarm export ----
int af_cmd_export(int argc, char **argv) {
  policy_opts o;
  int rc = parse(&o, argc, argv, "export", "--format");
  if (o.help) {
    printf("usage: armfarm export --checkpoint RUN/checkpoint.bin --format onnx|c --out PATH\n"
           "  the checkpoint's deterministic policy, observation normalization and action squashing included,\n"
           "  for running without the harness (actions in [-1, 1]):\n"
           "    onnx  PATH is the model (opset 13): input \"obs\" float [batch, obs_dim], output \"action\" [batch, act_dim]\n"
           "    c     PATH.h and PATH.c (a .c or .h suffix of PATH is dropped): dependency-free C99,\n"
           "          int policy_act(const float *obs, float *action), link with -lm\n"
           "  check an export against the harness with armfarm policy.\n");
    return AF_EXIT_OK;
  }
  if (rc) return rc;
  int onnx = !strcmp(o.extra, "onnx");
  if (!onnx && strcmp(o.extra, "c")) { fprintf(stderr, "armfarm export: unknown format '%s' (onnx or c)\n", o.extra); return AF_EXIT_USAGE; }
  // the checkpoint's policy, then the file
  char err[512];
  af_env *env = NULL;
  af_agent *ag = NULL;
  af_policy pol;
  if (af_cli_load_checkpoint(o.ckpt, &env, &ag, err, sizeof err) || af_agent_policy(ag, &pol, err, sizeof err) ||
      af_export_check(&pol, err, sizeof err)) {
    fprintf(stderr, "armfarm export: %s\n", err);
    rc = AF_EXIT_USAGE;
  } else {
    char *base = onnx ? NULL : strdup(o.out);
    size_t bl = base ? strlen(base) : 0;
    if (bl > 2 && (!strcmp(base + bl - 2, ".c") || !strcmp(base + bl - 2, ".h"))) base[bl - 2] = 0;
    int bad = onnx ? af_export_onnx(&pol, o.out, err, sizeof err) : !base ? (snprintf(err, sizeof err, "out of memory"), -1) : af_export_c(&pol, base, err, sizeof err);
    if (bad) fprintf(stderr, "armfarm export: %s\n", err);
    else printf("exported %s (obs %d, actions %d, %d layers%s) -> %s%s\n", o.ckpt, pol.obs_dim, pol.act_dim, pol.nlayers,
                pol.mean ? ", normalized observations" : "", onnx ? o.out : base, onnx ? "" : ".{h,c}");
    rc = bad ? AF_EXIT_FAIL : AF_EXIT_OK;
    free(base);
  }
  af_agent_free(ag);
  af_env_free(env);
  return rc;
}
