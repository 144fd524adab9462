// armfarm bench envs: control steps per second of each environment, single-threaded, beside
// a bare loop of mj_step on the same model with the same frame skip replaying the very same
// controls (the physical limit), and the vectorized runner's speed-up from 1 to 2 threads.
#include <stdio.h>
#include <stdlib.h>  // calloc, free
#include <string.h>  // strcmp, memcpy

#include <cjson/cJSON.h>
#include <mujoco/mujoco.h>  // the bare mj_step replay
#include "envs/env.h"
#include "envs/vecenv.h"
#include "base/base.h"
#include "base/rng.h"
#include "bench/bench.h"

#define BENCH_STEPS 3000   // control steps per measured round
#define BENCH_HORIZON 150  // episodes are cut here so that several fit in a round
#define BENCH_ROUNDS 3

// rows beyond each environment's defaults: the quadruped on every kind of terrain
static const struct { const char *env, *label, *cfg; } extra_rows[] = {
  {"quadruped", "quadruped/ramp_up", "\"terrain\": \"ramp_up\""},
  {"quadruped", "quadruped/ramp_down", "\"terrain\": \"ramp_down\""},
  {"quadruped", "quadruped/stairs_up", "\"terrain\": \"stairs_up\""},
  {"quadruped", "quadruped/stairs_down", "\"terrain\": \"stairs_down\""},
  {"quadruped", "quadruped/rough", "\"terrain\": \"rough\""},
  {"quadruped", "quadruped/mix", "\"terrain\": \"mix\""},
};

typedef struct { double env_sps, bare_sps, vec1_sps, vec2_sps; int replay_match; } bench_result;

// random actions from a fixed stream
static void random_actions(af_rng *r, float *a, int n) {
  for (int i = 0; i < n; i++) a[i] = (float)af_rng_range(r, -1, 1);
}

// the environment's step loop (its scripted policy when it has one, else random actions; one
// seed, so seed-dependent terrain is the same in the replay), recording the initial states,
// controls and episode lengths for the replay
static double time_env(af_env *e, int episodes, mjtNum *init, mjtNum *ctrl, mjtNum *frc, int *lens, long *nsteps) {
  const af_env_spec *s = af_env_get_spec(e);
  const mjModel *m = af_env_model(e);
  const mjData *d = af_env_data(e);
  int nstate = m->nq + m->nv + 3 * m->nmocap + m->nv;
  float *obs = calloc((size_t)s->obs_dim + 1, sizeof(float)), *a = calloc((size_t)s->act_dim, sizeof(float)), r;
  int term, trunc;
  af_rng rng;
  af_rng_seed(&rng, 7);
  long t = 0;
  double total = 0;
  int scripted = af_env_scripted_action(e, a) == AF_OK;
  for (int ep = 0; ep < episodes; ep++) {
    af_env_reset(e, 1, obs);
    lens[ep] = 0;
    mjtNum *st = init + (size_t)ep * nstate;
    mju_copy(st, d->qpos, m->nq);
    mju_copy(st + m->nq, d->qvel, m->nv);
    mju_copy(st + m->nq + m->nv, d->mocap_pos, 3 * m->nmocap);
    mju_copy(st + m->nq + m->nv + 3 * m->nmocap, d->qacc_warmstart, m->nv);
    for (int k = 0; k < s->horizon; k++) {
      if (scripted) af_env_scripted_action(e, a);
      else random_actions(&rng, a, s->act_dim);
      double t0 = af_now();
      af_env_step(e, a, obs, &r, &term, &trunc, NULL);
      total += af_now() - t0;
      // what the step applied (ctrl and forces are held through the step)
      mju_copy(ctrl + (size_t)t * m->nu, d->ctrl, m->nu);
      mju_copy(frc + (size_t)t * m->nv, d->qfrc_applied, m->nv);
      t++;
      lens[ep]++;
      if (term || trunc) break;
    }
  }
  *nsteps = t;
  free(obs);
  free(a);
  return total;
}

// bare mj_step replaying the recorded episodes
static double time_bare(const mjModel *m, mjData *d, int episodes, const int *lens, int skip, const mjtNum *init,
                        const mjtNum *ctrl, const mjtNum *frc, mjtNum *final_qpos) {
  int nstate = m->nq + m->nv + 3 * m->nmocap + m->nv;
  long t = 0;
  double total = 0;
  for (int ep = 0; ep < episodes; ep++) {
    mj_resetData(m, d);
    const mjtNum *st = init + (size_t)ep * nstate;
    mju_copy(d->qpos, st, m->nq);
    mju_copy(d->qvel, st + m->nq, m->nv);
    mju_copy(d->mocap_pos, st + m->nq + m->nv, 3 * m->nmocap);
    mju_copy(d->qacc_warmstart, st + m->nq + m->nv + 3 * m->nmocap, m->nv);
    double t0 = af_now();
    for (int k = 0; k < lens[ep]; k++, t++) {
      mju_copy(d->ctrl, ctrl + (size_t)t * m->nu, m->nu);
      mju_copy(d->qfrc_applied, frc + (size_t)t * m->nv, m->nv);
      for (int j = 0; j < skip; j++) mj_step(m, d);
    }
    total += af_now() - t0;
  }
  mju_copy(final_qpos, d->qpos, m->nq);
  return total;
}

// the vectorized runner: batch steps per second with `threads` workers
static double time_vec(const char *name, const char *cfg, int n, int threads, int batches) {
  char err[256];
  af_vecenv *v = af_vecenv_make(name, cfg, n, threads, err, sizeof err);
  if (!v) { fprintf(stderr, "armfarm bench: %s\n", err); return 0; }
  const af_env_spec *s = af_vecenv_spec(v);
  float *obs = calloc((size_t)n * s->obs_dim, sizeof(float)), *act = calloc((size_t)n * s->act_dim, sizeof(float));
  float *rew = calloc((size_t)n, sizeof(float));
  uint8_t *te = calloc((size_t)n, 1), *tr = calloc((size_t)n, 1);
  af_info *info = calloc((size_t)n, sizeof *info);
  af_rng rng;
  af_rng_seed(&rng, 11);
  af_vecenv_reset(v, 1, obs);
  double t0 = af_now();
  for (int b = 0; b < batches; b++) {
    random_actions(&rng, act, n * s->act_dim);
    af_vecenv_step(v, act, obs, NULL, rew, te, tr, info);
  }
  double el = af_now() - t0;
  free(obs); free(act); free(rew); free(te); free(tr); free(info);
  af_vecenv_free(v);
  return (double)n * batches / el;
}

static int bench_env(const char *name, const char *extra, int vec, bench_result *res) {
  char err[256], cfg[512];
  // randomization off, episodes cut at BENCH_HORIZON
  af_env *e = af_env_make(name, NULL, err, sizeof err);
  if (!e) { fprintf(stderr, "armfarm bench: %s\n", err); return -1; }
  int H = af_env_get_spec(e)->horizon < BENCH_HORIZON ? af_env_get_spec(e)->horizon : BENCH_HORIZON;
  af_env_free(e);
  snprintf(cfg, sizeof cfg, "{\"randomize\": false, \"horizon\": %d%s%s}", H, extra ? ", " : "", extra ? extra : "");
  e = af_env_make(name, cfg, err, sizeof err);
  if (!e) { fprintf(stderr, "armfarm bench: %s\n", err); return -1; }
  const mjModel *m = af_env_model(e);
  int skip = af_env_get_spec(e)->frame_skip, episodes = (BENCH_STEPS + H - 1) / H;
  int nstate = m->nq + m->nv + 3 * m->nmocap + m->nv;
  mjtNum *init = calloc((size_t)episodes * nstate, sizeof(mjtNum));
  mjtNum *ctrl = calloc((size_t)episodes * H * m->nu, sizeof(mjtNum));
  mjtNum *frc = calloc((size_t)episodes * H * m->nv, sizeof(mjtNum));
  mjtNum *fq = calloc((size_t)m->nq, sizeof(mjtNum));
  int *lens = calloc((size_t)episodes, sizeof(int));
  mjData *bare = mj_makeData(m);
  // alternate env and bare rounds, keep the best of each
  double best_env = 1e30, best_bare = 1e30;
  long steps = 0;
  for (int r = 0; r < BENCH_ROUNDS; r++) {
    double te = time_env(e, episodes, init, ctrl, frc, lens, &steps);
    double tb = time_bare(m, bare, episodes, lens, skip, init, ctrl, frc, fq);
    if (te < best_env) best_env = te;
    if (tb < best_bare) best_bare = tb;
  }
  // the replay is the same trajectory when it ends where the environment ended
  double diff = 0;
  for (int i = 0; i < m->nq; i++) diff = fmax(diff, fabs(fq[i] - af_env_data(e)->qpos[i]));
  res->replay_match = diff < 1e-6;
  res->env_sps = steps / best_env;
  res->bare_sps = steps / best_bare;
  mj_deleteData(bare);
  free(init); free(ctrl); free(frc); free(fq); free(lens);
  af_env_free(e);
  // vectorized: 8 environments, 1 then 2 threads
  res->vec1_sps = res->vec2_sps = 0;
  if (vec) {
    int batches = 2 * BENCH_STEPS / 8;
    res->vec1_sps = time_vec(name, cfg, 8, 1, batches);
    res->vec2_sps = time_vec(name, cfg, 8, 2, batches);
  }
  return 0;
}

// one row of the table and of the JSON
static void report(cJSON *arr, const char *label, const bench_result *r, int json) {
  double ratio = r->env_sps / r->bare_sps, speedup = r->vec1_sps > 0 ? r->vec2_sps / r->vec1_sps : 0;
  if (!json) {
    printf("%-22s %10.0f %12.0f %7.3f %8s", label, r->env_sps, r->bare_sps, ratio, r->replay_match ? "same" : "differs");
    if (r->vec1_sps > 0) printf(" %10.0f %10.0f %7.2fx", r->vec1_sps, r->vec2_sps, speedup);
    printf("\n");
    fflush(stdout);
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "env", label);
  cJSON_AddNumberToObject(o, "steps_per_s", r->env_sps);
  cJSON_AddNumberToObject(o, "bare_steps_per_s", r->bare_sps);
  cJSON_AddNumberToObject(o, "ratio", ratio);
  cJSON_AddBoolToObject(o, "replay_match", r->replay_match);
  if (r->vec1_sps > 0) {
    cJSON_AddNumberToObject(o, "vec_1thread_steps_per_s", r->vec1_sps);
    cJSON_AddNumberToObject(o, "vec_2thread_steps_per_s", r->vec2_sps);
    cJSON_AddNumberToObject(o, "vec_speedup", speedup);
  }
  cJSON_AddItemToArray(arr, o);
}

// the vectorized runner's pixel pass: n environments of `name` at 64 x 64 rendered by
// `threads` workers; the environments take a random step between passes (not timed). Frames
// per second over `passes` passes, or a negative value with a message
#define RENDER_VEC_N 8
static double time_vec_render(const char *name, int threads, int passes, char *err, size_t errsz) {
  af_vecenv *v = af_vecenv_make(name, "{\"obs\": \"state+pixels\", \"randomize\": false}", RENDER_VEC_N, threads, err, errsz);
  if (!v) return -1;
  const af_env_spec *sp = af_vecenv_spec(v);
  size_t n = RENDER_VEC_N;
  float *obs = calloc(n * (size_t)sp->obs_dim + 1, sizeof *obs), *a = calloc(n * (size_t)sp->act_dim + 1, sizeof *a);
  float *rew = calloc(n, sizeof *rew);
  uint8_t *te = calloc(n, 1), *tr = calloc(n, 1);
  unsigned char *rgb = malloc(n * (size_t)sp->pixel_width * sp->pixel_height * 3);
  af_rng rng;
  af_rng_seed(&rng, 7);
  double t = 0, fps = -1;
  int bad = !obs || !a || !rew || !te || !tr || !rgb;
  if (bad) snprintf(err, errsz, "out of memory");
  else if ((bad = af_vecenv_reset(v, 1, obs) != AF_OK || af_vecenv_pixels(v, rgb) != AF_OK))
    snprintf(err, errsz, "%s", af_vecenv_last_error(v));
  for (int p = 0; p < passes && !bad; p++) {
    random_actions(&rng, a, (int)n * sp->act_dim);
    if ((bad = af_vecenv_step(v, a, obs, NULL, rew, te, tr, NULL) != AF_OK)) { snprintf(err, errsz, "%s", af_vecenv_last_error(v)); break; }
    double t0 = af_now();
    if ((bad = af_vecenv_pixels(v, rgb) != AF_OK)) { snprintf(err, errsz, "%s", af_vecenv_last_error(v)); break; }
    t += af_now() - t0;
  }
  if (!bad) fps = passes * (double)n / t;
  free(obs);
  free(a);
  free(rew);
  free(te);
  free(tr);
  free(rgb);
  af_vecenv_free(v);
  return fps;
}

// the pixel pass of RENDER_VEC_N environments on 1 and 2 threads, interleaved over
// RENDER_VEC_ROUNDS rounds: the best of each; 0, or -1 with a message
#define RENDER_VEC_ROUNDS 5
static int bench_render_parallel(const char *name, double *fps1, double *fps2, char *err, size_t errsz) {
  *fps1 = *fps2 = 0;
  for (int r = 0; r < RENDER_VEC_ROUNDS; r++) {
    double f1 = time_vec_render(name, 1, 100, err, errsz), f2 = f1 < 0 ? -1 : time_vec_render(name, 2, 100, err, errsz);
    if (f1 < 0 || f2 < 0) return -1;
    if (f1 > *fps1) *fps1 = f1;
    if (f2 > *fps2) *fps2 = f2;
  }
  return 0;
}

// pixel observations: frames per second at 64 x 64, one thread, the scene moving between
// frames; then the vectorized runner's pixel pass from 1 to 2 threads
static int bench_render(int argc, char **argv) {
  int json = 0;
  const char *par = "puck_push";
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--env") && i + 1 < argc) par = argv[++i];
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: armfarm bench render [--json] [--env NAME]\n"
             "  pixel observations at 64x64 per environment, one thread (target: 300 frames/s on puck_push with llvmpipe);\n"
             "  then %d environments of NAME (default puck_push) rendered by the vectorized runner's workers,\n"
             "  1 and 2 threads interleaved, best of %d rounds each, and the speed-up (target: 1.7; \"speedup\" in the JSON)\n",
             RENDER_VEC_N, RENDER_VEC_ROUNDS);
      return AF_EXIT_OK;
    } else { fprintf(stderr, "armfarm bench render: unknown option '%s'\n", argv[i]); return AF_EXIT_USAGE; }
  }
  int known = 0;
  for (int i = 0; i < af_env_count(); i++) known |= !strcmp(af_env_name(i), par);
  if (!known) { fprintf(stderr, "armfarm bench render: unknown environment '%s' (see armfarm envs)\n", par); return AF_EXIT_USAGE; }
  cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "envs");
  if (!json) printf("%-12s %10s   (64x64 pixel observations, one thread, shadows and multisampling off)\n", "env", "frames/s");
  int rc = AF_EXIT_OK;
  for (int i = 0; i < af_env_count(); i++) {
    char err[512];
    af_env *e = af_env_make(af_env_name(i), "{\"obs\": \"state+pixels\", \"randomize\": false}", err, sizeof err);
    if (!e) { fprintf(stderr, "armfarm bench render: %s\n", err); rc = AF_EXIT_FAIL; break; }
    // buffers from the spec; every call checked
    const af_env_spec *sp = af_env_get_spec(e);
    static unsigned char img[64 * 64 * 3];
    float *obs = calloc((size_t)sp->obs_dim + 1, sizeof *obs), *a = calloc((size_t)sp->act_dim, sizeof *a), r;
    int te = 0, tr = 0, bad = !obs || !a || af_env_reset(e, 1, obs);
    for (int k = 0; k < 5 && !bad; k++) bad = af_env_pixels(e, img) != AF_OK;
    double t = 0;
    int frames = 0;
    for (; frames < 400 && !bad; frames++) {
      if (af_env_scripted_action(e, a) != AF_OK) memset(a, 0, sizeof(float) * (size_t)sp->act_dim);
      if (te || tr) { bad = af_env_reset(e, (uint64_t)frames, obs) != AF_OK; te = tr = 0; }
      bad = bad || af_env_step(e, a, obs, &r, &te, &tr, NULL) != AF_OK;
      double t0 = af_now();
      bad = bad || af_env_pixels(e, img) != AF_OK;
      t += af_now() - t0;
    }
    free(obs);
    free(a);
    if (bad) { fprintf(stderr, "armfarm bench render: %s: %s\n", af_env_name(i), af_env_last_error(e)); af_env_free(e); rc = AF_EXIT_FAIL; break; }
    double fps = frames / t;
    if (!json) printf("%-12s %10.0f\n", af_env_name(i), fps);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "env", af_env_name(i));
    cJSON_AddNumberToObject(o, "frames_per_s", fps);
    cJSON_AddItemToArray(arr, o);
    af_env_free(e);
  }
  // the workers' pixel pass
  double f1 = 0, f2 = 0;
  if (rc == AF_EXIT_OK) {
    char err[512];
    if (bench_render_parallel(par, &f1, &f2, err, sizeof err)) { fprintf(stderr, "armfarm bench render: %s\n", err); rc = AF_EXIT_FAIL; }
    else if (!json)
      printf("\n%d x %s, the vectorized runner's pixel pass: 1 thread %.0f frames/s, 2 threads %.0f frames/s, speed-up %.2fx (target 1.7)\n",
             RENDER_VEC_N, par, f1, f2, f2 / f1);
    cJSON *p = cJSON_AddObjectToObject(out, "parallel");
    cJSON_AddStringToObject(p, "env", par);
    cJSON_AddNumberToObject(p, "envs", RENDER_VEC_N);
    cJSON_AddNumberToObject(p, "frames_per_s_1", f1);
    cJSON_AddNumberToObject(p, "frames_per_s_2", f2);
    cJSON_AddNumberToObject(out, "speedup", f1 > 0 ? f2 / f1 : 0);
  }
  if (json) {
    char *txt = cJSON_PrintUnformatted(out);
    printf("%s\n", txt);
    cJSON_free(txt);
  }
  cJSON_Delete(out);
  return rc;
}

int af_cmd_bench(int argc, char **argv) {
  int json = 0;
  if (argc >= 2 && !strcmp(argv[1], "sac")) return af_cmd_bench_sac(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "render")) return bench_render(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "train")) return af_cmd_bench_train(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "ppo")) return af_cmd_bench_ppo(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "qtopt")) return af_cmd_bench_qtopt(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "rltools")) return af_cmd_bench_rltools(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "conv")) return af_cmd_bench_conv(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "conv-encoder")) return af_cmd_bench_conv_encoder(argc, argv);
  if (argc < 2 || strcmp(argv[1], "envs")) {
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
      printf("usage: armfarm bench envs|sac|render|train|ppo|qtopt|rltools|conv|conv-encoder [--json]\n");
      return AF_EXIT_OK;
    }
    fprintf(stderr, "armfarm bench: unknown benchmark '%s' (available: envs, sac, render, train, ppo, qtopt, rltools, conv, conv-encoder)\n", argc >= 2 ? argv[1] : "");
    return AF_EXIT_USAGE;
  }
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: armfarm bench envs [--json]\n"
             "  per environment (randomization off; scripted policy, else random actions): control steps/s single-threaded,\n"
             "  a bare mj_step loop replaying the same controls with the same frame skip, their ratio\n"
             "  (target >= 0.95), and the vectorized runner (8 envs) from 1 to 2 threads (target >= 1.7x)\n");
      return AF_EXIT_OK;
    } else { fprintf(stderr, "armfarm bench envs: unknown option '%s'\n", argv[i]); return AF_EXIT_USAGE; }
  }
  cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "envs");
  if (!json) printf("%-22s %10s %12s %7s %8s %10s %10s %8s\n", "env", "steps/s", "bare mj_step", "ratio", "replay",
                    "vec 1 thr", "vec 2 thr", "speedup");
  int rc = AF_EXIT_OK;
  bench_result r;
  for (int i = 0; i < af_env_count(); i++) {
    if (bench_env(af_env_name(i), NULL, 1, &r)) { rc = AF_EXIT_FAIL; continue; }
    report(arr, af_env_name(i), &r, json);
  }
  for (size_t i = 0; i < sizeof extra_rows / sizeof extra_rows[0]; i++) {
    if (bench_env(extra_rows[i].env, extra_rows[i].cfg, 0, &r)) { rc = AF_EXIT_FAIL; continue; }
    report(arr, extra_rows[i].label, &r, json);
  }
  if (json) {
    char *s = cJSON_PrintUnformatted(out);
    printf("%s\n", s);
    cJSON_free(s);
  } else {
    printf("targets: ratio >= 0.95 with randomization off (quadruped: on flat ground), 1 -> 2 thread speed-up >= 1.7x,\n"
           "         quadruped on flat ground >= 6000 control steps/s on one core\n");
  }
  cJSON_Delete(out);
  return rc;
}
