// The image replay: frame stacks across episode boundaries of interleaved streams against a
// hand-built expectation, the ring against a naive replay that stores whole stacks (wrapped,
// with short episodes dropping transitions), save and load reproducing a wrapped buffer
// bit for bit, files of another shape or corrupted refused, the memory figure, and DrQ's
// random shift against hand-computed shifts.
#include <criterion/criterion.h>
#include <stdio.h>   // FILE, remove
#include <stdlib.h>  // malloc, free
#include <string.h>  // memcmp, memset

#include "agents/image_replay.h"
#include "base/rng.h"

// frames of 2 channels, 2x3 pixels, each pixel of a frame the frame's code (channel 1: code + 100)
enum { C = 2, H = 2, W = 3, FB = C * H * W, AD = 1, PD = 2 };

static void frame(int code, uint8_t hwc[FB]) {
  for (int p = 0; p < H * W; p++) { hwc[p * C] = (uint8_t)code; hwc[p * C + 1] = (uint8_t)(code + 100); }
}

// a stack of frame codes as the replay returns it: planar, oldest first
static void expect_stack(const int *codes, int K, uint8_t *out) {
  for (int k = 0; k < K; k++)
    for (int c = 0; c < C; c++) memset(out + (size_t)k * FB + (size_t)c * H * W, codes[k] + 100 * c, H * W);
}

static void add(af_image_replay *r, int s, int obs_code, int next_code, int term, int ended) {
  uint8_t o[FB], n[FB];
  float a = (float)next_code, po[PD] = {(float)obs_code, -1}, pn[PD] = {(float)next_code, -1};
  frame(obs_code, o);
  frame(next_code, n);
  af_image_replay_add(r, s, o, po, &a, 0.5f * next_code, n, pn, term, ended);
}

static void assert_held(const af_image_replay *r, long i, const int *obs_codes, const int *next_codes) {
  const int K = r->stack;
  uint8_t got_o[16 * FB], got_n[16 * FB], want_o[16 * FB], want_n[16 * FB];
  af_image_replay_get(r, i, got_o, got_n);
  expect_stack(obs_codes, K, want_o);
  expect_stack(next_codes, K, want_n);
  cr_assert(memcmp(got_o, want_o, (size_t)K * FB) == 0, "transition %ld: obs stack differs (first byte %d, expected %d)", i, got_o[0], want_o[0]);
  cr_assert(memcmp(got_n, want_n, (size_t)K * FB) == 0, "transition %ld: next_obs stack differs", i);
}

Test(image_replay, stacks_repeat_the_first_frame_across_episode_boundaries) {
  af_image_replay r;
  char err[256];
  cr_assert_eq(af_image_replay_init(&r, 100, C, H, W, 3, PD, AD, 2, err, sizeof err), 0, "%s", err);
  // stream 0: episode a0 a1 a2 (terminated), then b0 b1 (truncated), then c0 c1 (running);
  // stream 1 interleaved: episode x0 x1 x2 x3 x4; frame codes: a 10.., b 20.., c 30.., x 50..
  add(&r, 0, 10, 11, 0, 0); add(&r, 1, 50, 51, 0, 0);
  add(&r, 0, 11, 12, 1, 1); add(&r, 1, 51, 52, 0, 0);
  add(&r, 0, 20, 21, 0, 1); add(&r, 1, 52, 53, 0, 0);
  add(&r, 0, 30, 31, 0, 0); add(&r, 1, 53, 54, 0, 0);
  // the obs frame of a running episode is not read: 99 must not appear
  add(&r, 0, 99, 32, 0, 0);
  cr_assert_eq(af_image_replay_size(&r), 9);
  static const int want[9][2][3] = {
      {{10, 10, 10}, {10, 10, 11}}, {{50, 50, 50}, {50, 50, 51}}, {{10, 10, 11}, {10, 11, 12}},
      {{50, 50, 51}, {50, 51, 52}}, {{20, 20, 20}, {20, 20, 21}}, {{50, 51, 52}, {51, 52, 53}},
      {{30, 30, 30}, {30, 30, 31}}, {{51, 52, 53}, {52, 53, 54}}, {{30, 30, 31}, {30, 31, 32}},
  };
  for (long i = 0; i < 9; i++) assert_held(&r, i, want[i][0], want[i][1]);
  // frames stored once: 3 + 2 + 3 first/next frames of stream 0's episodes, 5 of stream 1
  cr_assert_eq(r.written, 13);
  // sampled rows agree with the transition they came from: proprioception of the newest
  // frames, the action and reward (both a function of the next frame), done of a terminal
  uint8_t o[64 * 3 * FB], n[64 * 3 * FB];
  float po[64 * PD], pn[64 * PD], a[64], rw[64], d[64];
  af_rng rng;
  af_rng_seed(&rng, 7);
  af_image_replay_sample(&r, &rng, 64, o, po, a, rw, n, pn, d);
  for (int b = 0; b < 64; b++) {
    int newest = n[(size_t)b * 3 * FB + 2 * FB], before = o[(size_t)b * 3 * FB + 2 * FB];
    cr_assert_eq(pn[b * PD], (float)newest);
    cr_assert_eq(po[b * PD], (float)before);
    cr_assert_eq(a[b], (float)newest);
    cr_assert_eq(rw[b], 0.5f * newest);
    cr_assert_eq(d[b], newest == 12 ? 1.0f : 0.0f, "sample %d (next frame %d): done %g", b, newest, d[b]);
  }
  af_image_replay_free(&r);
}

// a naive model: every transition's obs and next codes in full, as the stacking rule says
typedef struct { int o[4], n[4]; } naive;

// streams S adding in turn, episodes of length len (stream s's t-th step of episode e has
// code 1 + (e * 7 + s * 3 + t) % 200); the replay r and the model m (all transitions ever)
static long run(af_image_replay *r, naive *m, int S, int K, int steps, int len) {
  int t[8] = {0}, e[8] = {0}, st[8][4];
  long n = 0;
  for (int k = 0; k < steps; k++)
    for (int s = 0; s < S; s++) {
      int oc = 1 + (e[s] * 7 + s * 3 + t[s]) % 200, nc = 1 + (e[s] * 7 + s * 3 + t[s] + 1) % 200;
      if (t[s] == 0) for (int j = 0; j < K; j++) st[s][j] = oc;
      int end = t[s] + 1 == len;
      for (int j = 0; j < K; j++) { m[n].o[j] = st[s][j]; m[n].n[j] = j + 1 < K ? st[s][j + 1] : nc; }
      add(r, s, oc, nc, 0, end);
      for (int j = 0; j + 1 < K; j++) st[s][j] = st[s][j + 1];
      st[s][K - 1] = nc;
      n++;
      if (end) { t[s] = 0; e[s]++; } else t[s]++;
    }
  return n;
}

static void assert_matches(const af_image_replay *r, const naive *m, long total) {
  long size = af_image_replay_size(r);
  for (long i = 0; i < size; i++) assert_held(r, i, m[total - size + i].o, m[total - size + i].n);
}

Test(image_replay, the_ring_wraps_and_keeps_the_newest_transitions) {
  char err[256];
  naive *m = malloc(sizeof(naive) * 20000);
  // long episodes: the capacity is reached and held
  af_image_replay r;
  cr_assert_eq(af_image_replay_init(&r, 50, C, H, W, 3, PD, AD, 2, err, sizeof err), 0, "%s", err);
  long total = run(&r, m, 2, 3, 400, 40);
  cr_assert_eq(af_image_replay_size(&r), 50);
  assert_matches(&r, m, total);
  af_image_replay_free(&r);
  // episodes of one step store two frames each: the oldest transitions go before the capacity
  cr_assert_eq(af_image_replay_init(&r, 64, C, H, W, 4, PD, AD, 3, err, sizeof err), 0, "%s", err);
  total = run(&r, m, 3, 4, 300, 1);
  cr_assert(af_image_replay_size(&r) < 64 && af_image_replay_size(&r) > 20, "held %ld", af_image_replay_size(&r));
  assert_matches(&r, m, total);
  af_image_replay_free(&r);
  // stack 1 (no stacking) and one stream
  cr_assert_eq(af_image_replay_init(&r, 17, C, H, W, 1, 0, AD, 1, err, sizeof err), 0, "%s", err);
  total = run(&r, m, 1, 1, 100, 5);
  cr_assert_eq(af_image_replay_size(&r), 17);
  assert_matches(&r, m, total);
  af_image_replay_free(&r);
  free(m);
}

Test(image_replay, save_and_load_reproduce_a_wrapped_buffer) {
  char err[256];
  naive *m = malloc(sizeof(naive) * 2000);
  af_image_replay a, b;
  cr_assert_eq(af_image_replay_init(&a, 40, C, H, W, 3, PD, AD, 2, err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_image_replay_init(&b, 40, C, H, W, 3, PD, AD, 2, err, sizeof err), 0, "%s", err);
  run(&a, m, 2, 3, 57, 9);  // wrapped, streams in mid-episode
  cr_assert_eq(af_image_replay_save(&a, "ir.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_image_replay_load(&b, "ir.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(b.size, a.size);
  cr_assert_eq(b.written, a.written);
  // the same samples from the same RNG state
  enum { B = 32 };
  static uint8_t oa[B * 3 * FB], na[B * 3 * FB], ob[B * 3 * FB], nb[B * 3 * FB];
  float pa[B * PD], qa[B * PD], pb[B * PD], qb[B * PD], aa[B], ab[B], ra[B], rb[B], da[B], db[B];
  af_rng g1, g2;
  af_rng_seed(&g1, 3);
  g2 = g1;
  af_image_replay_sample(&a, &g1, B, oa, pa, aa, ra, na, qa, da);
  af_image_replay_sample(&b, &g2, B, ob, pb, ab, rb, nb, qb, db);
  cr_assert(memcmp(oa, ob, sizeof oa) == 0 && memcmp(na, nb, sizeof na) == 0);
  cr_assert(memcmp(pa, pb, sizeof pa) == 0 && memcmp(qa, qb, sizeof qa) == 0);
  cr_assert(memcmp(aa, ab, sizeof aa) == 0 && memcmp(ra, rb, sizeof ra) == 0 && memcmp(da, db, sizeof da) == 0);
  // both go on alike: the running episodes continue from their stacks
  naive *m2 = malloc(sizeof(naive) * 2000);
  long n1 = run(&a, m, 2, 3, 30, 9), n2 = run(&b, m2, 2, 3, 30, 9);
  cr_assert_eq(n1, n2);
  for (long i = 0; i < a.size; i++) {
    uint8_t x[3 * FB], y[3 * FB];
    af_image_replay_get(&a, i, x, NULL);
    af_image_replay_get(&b, i, y, NULL);
    cr_assert(memcmp(x, y, sizeof x) == 0, "transition %ld differs after loading", i);
  }
  // another shape is refused and leaves the buffer as it was
  af_image_replay c;
  cr_assert_eq(af_image_replay_init(&c, 40, C, H, W, 2, PD, AD, 2, err, sizeof err), 0, "%s", err);
  run(&c, m2, 2, 2, 5, 9);
  long held = c.size;
  cr_assert_neq(af_image_replay_load(&c, "ir.bin", err, sizeof err), 0);
  cr_assert(strstr(err, "stacked 3"), "%s", err);
  cr_assert_eq(c.size, held);
  af_image_replay_free(&c);
  // a flipped byte in the frames: the checksum refuses it
  FILE *f = fopen("ir.bin", "r+b");
  cr_assert(f);
  fseek(f, -200, SEEK_END);
  int ch = fgetc(f);
  fseek(f, -200, SEEK_END);
  fputc(ch ^ 1, f);
  fclose(f);
  cr_assert_neq(af_image_replay_load(&b, "ir.bin", err, sizeof err), 0);
  cr_assert(strstr(err, "checksum"), "%s", err);
  remove("ir.bin");
  af_image_replay_free(&a);
  af_image_replay_free(&b);
  free(m);
  free(m2);
}

Test(image_replay, memory_per_million_transitions) {
  // 64x64 RGB, 3 stacked, one action, one stream: 1 + 1/16 frames per transition, 13.10 GB;
  // storing both stacks whole would take 6 frames a transition, 73.7 GB
  double gb = af_image_replay_bytes(1000000, 3, 64, 64, 3, 0, 1, 1) / 1e9;
  cr_assert(gb > 13.0 && gb < 13.2, "%.3f GB", gb);
  double naive = 1e6 * 6 * 64 * 64 * 3 / 1e9;
  cr_assert(gb < naive / 5.5, "%.2f GB against %.2f GB whole", gb, naive);
  // 48x48 with 8 floats of proprioception: 7.38 GB
  gb = af_image_replay_bytes(1000000, 3, 48, 48, 3, 8, 4, 1) / 1e9;
  cr_assert(gb > 7.3 && gb < 7.5, "%.3f GB", gb);
}

Test(image_replay, random_shift_replicates_the_border) {
  // one 1x3x4 image, values 10 y + x
  uint8_t in[2 * 12], out[2 * 12];
  for (int y = 0; y < 3; y++)
    for (int x = 0; x < 4; x++) { in[y * 4 + x] = (uint8_t)(10 * y + x); in[12 + y * 4 + x] = (uint8_t)(100 + 10 * y + x); }
  // shifted by dx 1, dy -2: out[y][x] = in[clamp(y - 2)][clamp(x + 1)], every row from row 0
  static const uint8_t want[12] = {1, 2, 3, 3, 1, 2, 3, 3, 1, 2, 3, 3};
  af_image_shift(out, in, 1, 3, 4, 1, -2);
  cr_assert(memcmp(out, want, 12) == 0);
  // dy 4 (past the edge: the last row), dx -2 and -9: out[y][x] = in[2][clamp(x + dx)]
  static const uint8_t want2[12] = {20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20};
  static const uint8_t want2b[12] = {20, 20, 20, 21, 20, 20, 20, 21, 20, 20, 20, 21};
  af_image_shift(out, in, 1, 3, 4, -2, 4);
  cr_assert(memcmp(out, want2b, 12) == 0);
  af_image_shift(out, in, 1, 3, 4, -9, 4);
  cr_assert(memcmp(out, want2, 12) == 0);
  // dy 1: rows 1, 2, 2
  static const uint8_t want3[12] = {10, 11, 12, 13, 20, 21, 22, 23, 20, 21, 22, 23};
  af_image_shift(out, in, 1, 3, 4, 0, 1);
  cr_assert(memcmp(out, want3, 12) == 0);
  // no shift is a copy
  af_image_shift(out, in, 2, 3, 4, 0, 0);
  cr_assert(memcmp(out, in, 24) == 0);
  // the random shift draws dx then dy in [-pad, pad] per image, all channels alike
  uint8_t batch[3 * 24], shifted[3 * 24], one[24];
  for (int b = 0; b < 3; b++) memcpy(batch + 24 * b, in, 24);
  af_rng rng, copy;
  af_rng_seed(&rng, 11);
  copy = rng;
  af_image_random_shift(shifted, batch, 3, 2, 3, 4, 4, &rng);
  for (int b = 0; b < 3; b++) {
    int dx = af_rng_int(&copy, -4, 4), dy = af_rng_int(&copy, -4, 4);
    af_image_shift(one, in, 2, 3, 4, dx, dy);
    cr_assert(memcmp(shifted + 24 * b, one, 24) == 0, "image %d (dx %d, dy %d)", b, dx, dy);
  }
  cr_assert(memcmp(&rng, &copy, sizeof rng) == 0, "two draws per image");
}
