// Episode datasets on disk: what the writer is given comes back from the reader episode by
// episode, bit for bit (streams interleaved, a running episode dropped at close, a diverged
// end stored as terminated); truncated, extended, corrupted and foreign files are refused
// with one line naming the file and the problem; a dataset fills a replay buffer; armfarm
// collect and train.record write them.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>  // WIFEXITED

#include "agents/dataset.h"
#include "base/rng.h"   // af_seed_derive: collect's episode seeds
#include "envs/env.h"

enum { OD = 3, AD = 2, N = 2, R = 2 * OD + AD + 2 };

// stream i's step t: values that say where they came from
static float val(int i, int t, int k) { return (float)(100 * i + t) + 0.01f * k; }

// 2 streams: stream 0 episodes of 3 steps (terminated on success), stream 1 of 5 (truncated),
// 11 steps, so stream 0 finishes 3 episodes and stream 1 two, and both have one running
static void write_file(const char *path) {
  char err[256];
  af_dataset_writer *w = af_dataset_open(path, "toy", OD, AD, NULL, N, 8, 42, err, sizeof err);
  cr_assert(w, "%s", err);
  for (int t = 0; t < 11; t++) {
    float obs[N * OD], next[N * OD], act[N * AD], rew[N];
    uint8_t te[N], tr[N], src[N] = {AF_SRC_SCRIPTED, AF_SRC_RANDOM};
    af_info info[N] = {{0}};
    for (int i = 0; i < N; i++) {
      for (int k = 0; k < OD; k++) { obs[i * OD + k] = val(i, t, k); next[i * OD + k] = val(i, t + 1, k); }
      for (int k = 0; k < AD; k++) act[i * AD + k] = -val(i, t, k);
      int L = i == 0 ? 3 : 5, last = t % L == L - 1;
      rew[i] = i == 0 && last;
      te[i] = i == 0 && last;
      tr[i] = i == 1 && last;
      info[i].success = te[i];
    }
    af_batch b = {.n = N, .obs = obs, .act = act, .reward = rew, .next_obs = next, .terminated = te, .truncated = tr, .info = info};
    cr_assert_eq(af_dataset_add(w, &b, src, err, sizeof err), 0, "%s", err);
  }
  cr_assert_eq(af_dataset_episodes(w), 5);
  cr_assert_eq(af_dataset_close(w, err, sizeof err), 0, "%s", err);
}

Test(dataset, write_and_read_round_trip) {
  write_file("d.afds");
  af_dataset d;
  char err[256];
  cr_assert_eq(af_dataset_read("d.afds", &d, err, sizeof err), 0, "%s", err);
  cr_assert_eq(d.episodes, 5);
  cr_assert_eq(d.transitions, 3 * 3 + 2 * 5);
  cr_assert_str_eq(d.env, "toy");
  cr_assert_eq(d.seed, 42);
  cr_assert_eq(d.obs_dim, OD);
  cr_assert_eq(d.act_dim, AD);
  // episodes in the order they ended: stream 0 at t = 2, stream 1 at 4, stream 0 at 5 and 8, stream 1 at 9
  const int stream[5] = {0, 1, 0, 0, 1}, start[5] = {0, 0, 3, 6, 5};
  for (int e = 0; e < 5; e++) {
    int i = stream[e];
    af_dataset_episode ep = af_dataset_get(&d, e);
    int L = ep.len, src = ep.source, succ = ep.success;
    const float *x = ep.rows;
    cr_assert_eq(L, i == 0 ? 3 : 5);
    cr_assert_eq(src, i == 0 ? AF_SRC_SCRIPTED : AF_SRC_RANDOM);
    cr_assert_eq(succ, i == 0);
    for (int k = 0; k < L; k++, x += R) {
      int t = start[e] + k;
      for (int j = 0; j < OD; j++) cr_assert(x[j] == val(i, t, j) && x[OD + AD + 1 + j] == val(i, t + 1, j));
      for (int j = 0; j < AD; j++) cr_assert(x[OD + j] == -val(i, t, j));
      cr_assert(x[OD + AD] == (float)(i == 0 && k == L - 1));
      cr_assert(x[R - 1] == (float)(i == 0 && k == L - 1));
    }
  }
  // into a replay for an environment of the same name and sizes, and refused for another
  af_replay r;
  af_env_spec spec = {.name = "toy", .obs_dim = OD, .act_dim = AD};
  cr_assert_eq(af_dataset_to_replay("d.afds", &spec, &r, err, sizeof err), 0, "%s", err);
  cr_assert_eq(r.size, 19);
  cr_assert(r.obs[0] == val(0, 0, 0) && r.done[2] == 1 && r.done[3 + 4] == 0);
  af_replay_free(&r);
  spec.name = "pendulum";
  cr_assert_eq(af_dataset_to_replay("d.afds", &spec, &r, err, sizeof err), -1);
  cr_assert(strstr(err, "a dataset of toy, not pendulum"), "%s", err);
  spec = (af_env_spec){.name = "toy", .obs_dim = OD + 1, .act_dim = AD};
  cr_assert_eq(af_dataset_to_replay("d.afds", &spec, &r, err, sizeof err), -1);
  cr_assert(strstr(err, "sizes obs 3"), "%s", err);
  af_dataset_free(&d);
}

// the file as bytes, and a copy changed by `edit` written back
static unsigned char *slurp(const char *path, long *n) {
  FILE *f = fopen(path, "rb");
  cr_assert(f);
  fseek(f, 0, SEEK_END);
  *n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)*n + 64);
  cr_assert_eq(fread(b, 1, (size_t)*n, f), (size_t)*n);
  fclose(f);
  return b;
}
static void spit(const char *path, const unsigned char *b, long n) {
  FILE *f = fopen(path, "wb");
  cr_assert(f);
  cr_assert_eq(fwrite(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
}
static uint64_t fnv(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001b3ull; }
  return h;
}
// rewrite both checksums, so that a test reaches the checks behind them
static void reseal(unsigned char *b, long n) {
  uint64_t h = fnv(b + 128, (size_t)n - 128);
  memcpy(b + 48, &h, 8);
  h = fnv(b, 120);
  memcpy(b + 120, &h, 8);
}

static void refused(const char *path, const char *want) {
  af_dataset d;
  char err[256] = "";
  cr_assert_eq(af_dataset_read(path, &d, err, sizeof err), -1, "%s was read (wanted: %s)", path, want);
  cr_assert(strstr(err, want), "'%s', expected '%s'", err, want);
  cr_assert(strstr(err, path) && !strchr(err, '\n'), "not one line naming the file: '%s'", err);
}

Test(dataset, bad_files_are_refused_with_one_line) {
  write_file("d.afds");
  long n;
  unsigned char *b = slurp("d.afds", &n), *c = malloc((size_t)n + 64);
  struct { long at; unsigned char v; int seal; long len; const char *want; } cases[] = {
    {0, 'X', 0, 0, "bad magic"},
    {4, 3, 1, 0, "dataset version 3"},
    {30, 1, 0, 0, "header checksum"},
    {200, 0x55, 0, 0, "checksum mismatch (corrupted)"},
    {-1, 0, 0, -7, "truncated or extended"},
    {-1, 0, 0, 16, "truncated or extended"},
    {24, 6, 1, 0, "do not make"},                // 6 episodes claimed
    {128, 30, 1, 0, "bad length"},              // first episode 30 steps long
    {128 + 4, 7, 1, 0, "bad source or flags"},
    {-1, 0, 1, 0, "bad terminated flag"},       // step 0's terminated flag made 0.5 below
    {-1, 0, 1, 0, "not finite"},                // obs[0] made NaN below
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    memcpy(c, b, (size_t)n);
    long len = n + cases[k].len;
    if (cases[k].len > 0) memset(c + n, 0, (size_t)cases[k].len);
    if (cases[k].at >= 0) c[cases[k].at] = cases[k].v;
    if (k == 10) { c[128 + 16 + 3] = 0x7f; c[128 + 16 + 2] = 0xc0; }  // a NaN
    if (k == 9) { float one = 0.5f; memcpy(c + 128 + 16 + 4 * (R - 1), &one, 4); }
    if (cases[k].seal) reseal(c, len);
    spit("bad.afds", c, len);
    refused("bad.afds", cases[k].want);
  }
  spit("bad.afds", b, 100);
  refused("bad.afds", "truncated (100 bytes");
  refused("missing.afds", "cannot read");
  free(b);
  free(c);
}

// armfarm collect writes the mix it is asked for, scripted episodes succeed, and a training
// run with train.record leaves its episodes in OUT/episodes.afds
Test(dataset, collect_and_train_record_write_datasets) {
  const char *bin = getenv("ARMFARM_BIN");
  cr_assert(bin, "ARMFARM_BIN must point at the armfarm program (ctest sets it)");
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s collect --env bin_grasp --episodes 6 --seed 3 --scripted 0.5 --out c.afds >out.txt 2>err.txt </dev/null", bin);
  cr_assert_eq(system(cmd), 0, "armfarm collect failed");
  af_dataset d;
  char err[256];
  cr_assert_eq(af_dataset_read("c.afds", &d, err, sizeof err), 0, "%s", err);
  cr_assert_eq(d.episodes, 6);
  cr_assert_str_eq(d.env, "bin_grasp");
  int n[3] = {0}, wins = 0;
  for (long e = 0; e < d.episodes; e++) {
    af_dataset_episode ep = af_dataset_get(&d, e);
    int L = ep.len, src = ep.source, succ = ep.success;
    n[src]++;
    wins += src == AF_SRC_SCRIPTED && succ;
    cr_assert(L >= 1 && L <= 20);
  }
  cr_assert(n[AF_SRC_SCRIPTED] == 3 && n[AF_SRC_RANDOM] == 3, "scripted %d, random %d", n[0], n[1]);
  cr_assert(wins >= 2, "%d of 3 scripted grasps succeeded", wins);
  af_dataset_free(&d);
  // three threads write the very same file (episodes run three at a time, written in order;
  // noisy scripted actions from each episode's own stream), into a folder made for it; a
  // thread count of 0 is refused
  snprintf(cmd, sizeof cmd, "%s collect --env bin_grasp --episodes 7 --seed 4 --noise 0.3 --out t1.afds >out.txt 2>err.txt </dev/null && "
           "%s collect --env bin_grasp --episodes 7 --seed 4 --noise 0.3 --threads 3 --out made/here/t3.afds >out.txt 2>err.txt </dev/null && cmp -s t1.afds made/here/t3.afds",
           bin, bin);
  cr_assert_eq(system(cmd), 0, "one and three threads wrote different files");
  snprintf(cmd, sizeof cmd, "%s collect --env bin_grasp --episodes 7 --seed 5 --noise 0.3 --threads 3 --out t5.afds >out.txt 2>err.txt </dev/null && cmp -s t1.afds t5.afds", bin);
  cr_assert_neq(system(cmd), 0, "another seed wrote the same file");
  snprintf(cmd, sizeof cmd, "%s collect --env bin_grasp --episodes 2 --threads 0 --out x.afds >out.txt 2>err.txt </dev/null", bin);
  int st0 = system(cmd);
  cr_assert(WIFEXITED(st0) && WEXITSTATUS(st0) == 2);
  // a bad share is named
  snprintf(cmd, sizeof cmd, "%s collect --env bin_grasp --episodes 2 --scripted 1.5 --out x.afds >out.txt 2>err.txt </dev/null", bin);
  int st = system(cmd);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
  // a recording training run (qtopt from the dataset just written, 2 environments)
  snprintf(cmd, sizeof cmd,
           "%s train --env bin_grasp --agent qtopt --steps 60 --eval-every 60 --eval-episodes 1 --seed 0 --set train.num_envs=2 "
           "--set train.record=true --set agent.dataset=c.afds --set agent.warmup=20 --set agent.batch=16 --set agent.hidden=16 "
           "--out run >out.txt 2>err.txt </dev/null", bin);
  cr_assert_eq(system(cmd), 0, "armfarm train with train.record failed");
  cr_assert_eq(af_dataset_read("run/episodes.afds", &d, err, sizeof err), 0, "%s", err);
  cr_assert(d.episodes >= 2 && d.transitions <= 60, "%ld episodes, %ld transitions", d.episodes, d.transitions);
  for (long e = 0; e < d.episodes; e++) {
    cr_assert_eq(af_dataset_get(&d, e).source, AF_SRC_POLICY);
  }
  af_dataset_free(&d);
}

// the closed and open loops of bin grasping, collected with one seed, record the same
// episodes (actions, rewards, ends) and differ only in what they observe: the live state, or
// the first observation with the elapsed fraction of the horizon
Test(dataset, the_two_loops_record_the_same_episodes) {
  const char *bin = getenv("ARMFARM_BIN");
  cr_assert(bin, "ARMFARM_BIN must point at the armfarm program (ctest sets it)");
  const char *keys = "--set object_frame=hand --set auto_grasp=true --set disturb_prob=0.5 --set disturb_mode=nearest";
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "%s collect --env bin_grasp --episodes 40 --seed 6 --noise 0.3 --scripted 0.9 %s --out lc.afds >out.txt 2>err.txt </dev/null && "
           "%s collect --env bin_grasp --episodes 40 --seed 6 --noise 0.3 --scripted 0.9 %s --set loop=open --out lo.afds >out.txt 2>err.txt </dev/null",
           bin, keys, bin, keys);
  cr_assert_eq(system(cmd), 0, "armfarm collect failed");
  af_dataset c, o;
  char err[256];
  cr_assert_eq(af_dataset_read("lc.afds", &c, err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_dataset_read("lo.afds", &o, err, sizeof err), 0, "%s", err);
  cr_assert_eq(o.obs_dim, c.obs_dim + 1);
  cr_assert_eq(o.episodes, c.episodes);
  cr_assert_eq(o.transitions, c.transitions);
  int od = c.obs_dim, ad = c.act_dim, moved = 0;
  for (long e = 0; e < c.episodes; e++) {
    af_dataset_episode ec = af_dataset_get(&c, e), eo = af_dataset_get(&o, e);
    int lc = ec.len, lo = eo.len, sc = ec.source, so = eo.source, wc = ec.success, wo = eo.success;
    const float *rc = ec.rows, *ro = eo.rows;
    cr_assert(lc == lo && sc == so && wc == wo, "episode %ld: length %d/%d, source %d/%d, success %d/%d", e, lc, lo, sc, so, wc, wo);
    for (int t = 0; t < lc; t++) {
      const float *a = rc + (size_t)t * (2 * od + ad + 2), *b = ro + (size_t)t * (2 * (od + 1) + ad + 2);
      // same action, reward and end
      cr_assert_eq(memcmp(a + od, b + od + 1, sizeof(float) * (ad + 1)), 0, "episode %ld step %d: action or reward differ", e, t);
      cr_assert_eq(a[2 * od + ad + 1], b[2 * (od + 1) + ad + 1]);
      // open loop: the first observation, then the time; it equals the closed loop's first
      cr_assert_eq(memcmp(b, ro, sizeof(float) * od), 0, "episode %ld step %d: the open-loop observation changed", e, t);
      cr_assert_eq(memcmp(b + od + 1 + ad + 1, ro, sizeof(float) * od), 0);
      cr_assert_float_eq(b[od], (float)t / 20.0f, 1e-6);
      cr_assert_float_eq(b[od + 1 + ad + 1 + od], (float)(t + 1) / 20.0f, 1e-6);
      if (t == 0) cr_assert_eq(memcmp(a, b, sizeof(float) * od), 0, "episode %ld: the first observations differ", e);
      moved += memcmp(a + od + ad + 1, b + od + 1 + ad + 1, sizeof(float) * od) != 0;
    }
  }
  cr_assert(moved > c.transitions / 2, "the closed loop's next observations changed in only %d of %ld rows", moved, c.transitions);
  af_dataset_free(&c);
  af_dataset_free(&o);
}

// ---- version 2: observations with stacked frames, each frame stored once ----
enum { SD = 2, FC = 3, FH = 3, FW = 2, FS = 3, FF = FC * FH * FW, FOD = SD + FS * FF };

// stream i's frame number t (of its own episode) and state: values that say where they came from
static float pix(int i, int ep, int t, int p) { return (float)((37 * i + 11 * ep + 5 * t + p) % 256); }
// the observation of stream i at step t of its episode ep, stacked as an environment does
// (the first frame repeated before it)
static void frame_obs(float *o, int i, int ep, int t) {
  o[0] = (float)(100 * i + t) + 0.5f;
  o[1] = (float)ep - 0.25f;
  for (int j = 0; j < FS; j++) {
    int src = t - (FS - 1) + j;
    for (int p = 0; p < FF; p++) o[SD + j * FF + p] = pix(i, ep, src < 0 ? 0 : src, p);
  }
}

// 2 streams, episodes of 4 (terminated) and 3 (truncated) steps, 9 steps: 3 + 2 episodes end
static void write_frames(const char *path) {
  char err[256];
  af_dataset_frames fr = {.state_dim = SD, .C = FC, .H = FH, .W = FW, .stack = FS};
  af_dataset_writer *w = af_dataset_open(path, "toy", FOD, AD, &fr, N, 8, 7, err, sizeof err);
  cr_assert(w, "%s", err);
  for (int t = 0; t < 9; t++) {
    float obs[N * FOD], next[N * FOD], act[N * AD], rew[N];
    uint8_t te[N], tr[N];
    af_info info[N] = {{0}};
    for (int i = 0; i < N; i++) {
      int L = i == 0 ? 4 : 3, ep = t / L, k = t % L, last = k == L - 1;
      frame_obs(obs + i * FOD, i, ep, k);
      frame_obs(next + i * FOD, i, ep, k + 1);
      for (int j = 0; j < AD; j++) act[i * AD + j] = -val(i, t, j);
      rew[i] = (float)k;
      te[i] = i == 0 && last;
      tr[i] = i == 1 && last;
      info[i].success = te[i];
    }
    af_batch b = {.n = N, .obs = obs, .act = act, .reward = rew, .next_obs = next, .terminated = te, .truncated = tr, .info = info};
    cr_assert_eq(af_dataset_add(w, &b, NULL, err, sizeof err), 0, "%s", err);
  }
  cr_assert_eq(af_dataset_episodes(w), 5);
  cr_assert_eq(af_dataset_close(w, err, sizeof err), 0, "%s", err);
}

Test(dataset, frames_are_stored_once_and_give_back_every_observation) {
  write_frames("f.afds");
  long n;
  unsigned char *b = slurp("f.afds", &n);
  // version 2, and each observation's state and newest frame once: 16 + 4 ((L + 1) SD + L (AD + 2))
  // + (L + 1) FF bytes per episode, the frames padded to a multiple of 4 (5 x 18 = 90: 2 bytes)
  cr_assert_eq(b[4], 2);
  long want = 128;
  const int lens[5] = {3, 4, 3, 4, 3};  // in the order they end: stream 1 at t = 2, stream 0 at 3, 1 at 5, 0 at 7, 1 at 8
  for (int e = 0; e < 5; e++) want += 16 + 4 * ((lens[e] + 1) * SD + lens[e] * (AD + 2)) + (lens[e] + 1) * FF + (lens[e] == 4 ? 2 : 0);
  cr_assert_eq(n, want, "%ld bytes, %ld expected", n, want);
  af_dataset d;
  char err[256];
  cr_assert_eq(af_dataset_read("f.afds", &d, err, sizeof err), 0, "%s", err);
  cr_assert(d.version == 2 && d.obs_dim == FOD && d.frames.stack == FS && d.frames.state_dim == SD && d.frames.C == FC && d.frames.H == FH && d.frames.W == FW);
  cr_assert_eq(d.transitions, 2 * 4 + 3 * 3);
  const int stream[5] = {1, 0, 1, 0, 1}, epn[5] = {0, 0, 1, 1, 2};
  for (int e = 0; e < 5; e++) {
    af_dataset_episode ep = af_dataset_get(&d, e);
    int i = stream[e];
    cr_assert_eq(ep.len, lens[e]);
    cr_assert_eq(ep.success, i == 0);
    for (int k = 0; k <= ep.len; k++) {
      float got[FOD], exp[FOD];
      af_dataset_obs(&d, e, k, got);
      frame_obs(exp, i, epn[e], k);
      cr_assert_eq(memcmp(got, exp, sizeof got), 0, "episode %d observation %d differs", e, k);
    }
    for (int k = 0; k < ep.len; k++) {
      const float *r = ep.rows + k * (AD + 2);
      cr_assert(r[0] == -val(i, epn[e] * ep.len + k, 0) && r[AD] == (float)k && r[AD + 1] == (float)(i == 0 && k == ep.len - 1));
    }
  }
  // into an image replay: the same stacks, as bytes, transition by transition in file order
  af_env_spec spec = {.name = "toy", .obs_dim = FOD, .act_dim = AD, .pixel_stack = FS, .pixel_offset = SD, .pixel_width = FW, .pixel_height = FH};
  af_image_replay r;
  cr_assert_eq(af_dataset_to_image_replay("f.afds", &spec, &r, err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_image_replay_size(&r), 17);
  long at = 0;
  for (int e = 0; e < 5; e++)
    for (int k = 0; k < lens[e]; k++, at++) {
      uint8_t o[FS * FF], nx[FS * FF];
      float eo[FOD], en[FOD];
      af_image_replay_get(&r, at, o, nx);
      frame_obs(eo, stream[e], epn[e], k);
      frame_obs(en, stream[e], epn[e], k + 1);
      for (int p = 0; p < FS * FF; p++) cr_assert(o[p] == eo[SD + p] && nx[p] == en[SD + p], "transition %ld byte %d", at, p);
    }
  af_image_replay_free(&r);
  // a state replay and an environment with other frames refuse it
  af_replay sr;
  cr_assert_eq(af_dataset_to_replay("f.afds", &spec, &sr, err, sizeof err), -1);
  cr_assert(strstr(err, "image observations"), "%s", err);
  spec.pixel_stack = 2;
  spec.obs_dim = SD + 2 * FF;
  cr_assert_eq(af_dataset_to_image_replay("f.afds", &spec, &r, err, sizeof err), -1);
  cr_assert(strstr(err, "sizes obs"), "%s", err);
  spec.obs_dim = FOD;
  cr_assert_eq(af_dataset_to_image_replay("f.afds", &spec, &r, err, sizeof err), -1);
  cr_assert(strstr(err, "frames 3 of 3x3x2 after 2 entries (the environment's: 2 of"), "%s", err);
  // a state dataset does not fill an image replay
  write_file("d.afds");
  spec = (af_env_spec){.name = "toy", .obs_dim = OD, .act_dim = AD};
  cr_assert_eq(af_dataset_to_image_replay("d.afds", &spec, &r, err, sizeof err), -1);
  cr_assert(strstr(err, "frames 0 of"), "%s", err);
  af_dataset_free(&d);
  free(b);
}

// one step of stream 0 of a 1-stream frames writer; the writer's answer
static int add_one(af_dataset_writer *w, const float *obs, const float *next, char *err, size_t errsz) {
  float act[AD] = {0}, rew = 0;
  uint8_t te = 0, tr = 0;
  af_batch b = {.n = 1, .obs = obs, .act = act, .reward = &rew, .next_obs = next, .terminated = &te, .truncated = &tr};
  return af_dataset_add(w, &b, NULL, err, errsz);
}

Test(dataset, frames_that_would_not_come_back_are_refused) {
  char err[256];
  af_dataset_frames fr = {.state_dim = SD, .C = FC, .H = FH, .W = FW, .stack = FS};
  cr_assert_null(af_dataset_open("x.afds", "toy", FOD + 1, AD, &fr, 1, 8, 0, err, sizeof err));
  cr_assert(strstr(err, "bad dataset sizes"), "%s", err);
  float o0[FOD], o1[FOD], o2[FOD], bad[FOD];
  frame_obs(o0, 0, 0, 0);
  frame_obs(o1, 0, 0, 1);
  frame_obs(o2, 0, 0, 2);
  struct { int which; const char *want; } cases[] = {
    {0, "not one frame repeated"}, {1, "do not chain"}, {2, "whole numbers"}, {3, "not the previous step's next observation"}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    af_dataset_writer *w = af_dataset_open("x.afds", "toy", FOD, AD, &fr, 1, 8, 0, err, sizeof err);
    cr_assert(w, "%s", err);
    int rc;
    if (cases[c].which == 0) {  // the first observation's oldest frame is another
      memcpy(bad, o0, sizeof bad);
      bad[SD] += 1;
      rc = add_one(w, bad, o1, err, sizeof err);
    } else if (cases[c].which == 1) {  // the next observation's oldest frame is not the observation's second
      memcpy(bad, o1, sizeof bad);
      bad[SD + 1] += 1;
      rc = add_one(w, o0, bad, err, sizeof err);
    } else if (cases[c].which == 2) {  // a newest-frame value of 3.5
      memcpy(bad, o1, sizeof bad);
      bad[SD + (FS - 1) * FF] = 3.5f;
      rc = add_one(w, o0, bad, err, sizeof err);
    } else {  // the second step starts from a state other than the first step's next one
      cr_assert_eq(add_one(w, o0, o1, err, sizeof err), 0, "%s", err);
      memcpy(bad, o1, sizeof bad);
      bad[0] += 1;
      rc = add_one(w, bad, o2, err, sizeof err);
    }
    cr_assert_eq(rc, -1, "case %zu was taken", c);
    cr_assert(strstr(err, cases[c].want), "case %zu: '%s'", c, err);
    af_dataset_abort(w);
  }
}

Test(dataset, bad_frame_files_are_refused_with_one_line) {
  write_frames("f.afds");
  long n;
  unsigned char *b = slurp("f.afds", &n), *c = malloc((size_t)n);
  // the second episode (stream 0, 4 steps) ends with 2 bytes of padding
  const long second = 128 + 16 + 4 * (4 * SD + 3 * (AD + 2)) + 4 * FF;
  const long pad = second + 16 + 4 * (5 * SD + 4 * (AD + 2)) + 5 * FF;
  struct { long at; unsigned char v; const char *want; } cases[] = {
    {118, 0, "bad sizes"},                      // stack 0 in a version 2 file
    {112, 4, "bad sizes"},                      // 4 channels: obs_dim no longer adds up
    {pad, 9, "padding is not zero"},
    {128 + 16 + 3, 0x7f, "not finite"},         // the first state made a NaN
    {24, 9, "do not make"},                     // 9 episodes claimed
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    memcpy(c, b, (size_t)n);
    c[cases[k].at] = cases[k].v;
    if (k == 3) c[128 + 16 + 2] = 0xc0;
    reseal(c, n);
    spit("bad.afds", c, n);
    refused("bad.afds", cases[k].want);
  }
  free(b);
  free(c);
}

// armfarm collect of pixel observations writes version 2, and every observation it stored is
// the one the environment gives when its episode is replayed from the same reset seed with the
// stored actions (state entries and every frame of the stack)
Test(dataset, collect_stores_the_frames_the_environment_rendered) {
  const char *bin = getenv("ARMFARM_BIN");
  cr_assert(bin, "ARMFARM_BIN must point at the armfarm program (ctest sets it)");
  const char *keys = "--set obs=proprio+pixels --set frame_stack=3 --set image_width=32 --set image_height=24 --set object_frame=hand --set auto_grasp=true";
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s collect --env bin_grasp --episodes 4 --seed 9 --noise 0.3 --scripted 0.5 --threads 2 %s --out p.afds >out.txt 2>err.txt </dev/null", bin, keys);
  cr_assert_eq(system(cmd), 0, "armfarm collect of pixels failed");
  af_dataset d;
  char err[512];
  cr_assert_eq(af_dataset_read("p.afds", &d, err, sizeof err), 0, "%s", err);
  cr_assert(d.version == 2 && d.frames.stack == 3 && d.frames.C == 3 && d.frames.H == 24 && d.frames.W == 32, "version %d", d.version);
  af_env *env = af_env_make("bin_grasp", "{\"obs\": \"proprio+pixels\", \"frame_stack\": 3, \"image_width\": 32, \"image_height\": 24, "
                                          "\"object_frame\": \"hand\", \"auto_grasp\": true}", err, sizeof err);
  cr_assert(env, "%s", err);
  const af_env_spec *s = af_env_get_spec(env);
  cr_assert_eq(s->obs_dim, d.obs_dim);
  cr_assert_eq(d.frames.state_dim, s->pixel_offset);
  const int od = s->obs_dim, ad = s->act_dim;
  float *live = malloc(sizeof(float) * od), *got = malloc(sizeof(float) * od);
  long steps = 0;
  for (long e = 0; e < d.episodes; e++) {
    af_dataset_episode ep = af_dataset_get(&d, e);
    cr_assert_eq(af_env_reset(env, af_seed_derive(9, 11) + (uint64_t)e, live), 0);
    for (int k = 0; k <= ep.len; k++) {
      af_dataset_obs(&d, e, k, got);
      cr_assert_eq(memcmp(got, live, sizeof(float) * od), 0, "episode %ld, observation %d differs from the environment's", e, k);
      if (k == ep.len) break;
      float r;
      int te, tr;
      af_info info;
      cr_assert_eq(af_env_step(env, ep.rows + (size_t)k * (ad + 2), live, &r, &te, &tr, &info), 0);
      cr_assert(r == ep.rows[(size_t)k * (ad + 2) + ad]);
      steps++;
    }
  }
  cr_assert_eq(steps, d.transitions);
  free(live);
  free(got);
  af_env_free(env);
  af_dataset_free(&d);
}
