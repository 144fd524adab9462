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

enum { OD = 3, AD = 2, N = 2, R = 2 * OD + AD + 2 };

// stream i's step t: values that say where they came from
static float val(int i, int t, int k) { return (float)(100 * i + t) + 0.01f * k; }

// 2 streams: stream 0 episodes of 3 steps (terminated on success), stream 1 of 5 (truncated),
// 11 steps, so stream 0 finishes 3 episodes and stream 1 two, and both have one running
static void write_file(const char *path) {
  char err[256];
  af_dataset_writer *w = af_dataset_open(path, "toy", OD, AD, N, 8, 42, err, sizeof err);
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
    int L, src, succ, i = stream[e];
    const float *x = af_dataset_rows(&d, e, &L, &src, &succ);
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
    {4, 2, 1, 0, "dataset version 2"},
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
    int L, src, succ;
    af_dataset_rows(&d, e, &L, &src, &succ);
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
    int src;
    af_dataset_rows(&d, e, NULL, &src, NULL);
    cr_assert_eq(src, AF_SRC_POLICY);
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
    int lc, lo, sc, so, wc, wo;
    const float *rc = af_dataset_rows(&c, e, &lc, &sc, &wc), *ro = af_dataset_rows(&o, e, &lo, &so, &wo);
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
