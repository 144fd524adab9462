// The replay buffer: the ring keeps the newest transitions in order, sampling is uniform over
// what is stored (a chi-square goodness-of-fit test), save and load reproduce a wrapped
// buffer's samples, and files of another shape are refused.
#include <criterion/criterion.h>
#include <math.h>    // exp, fabs
#include <stdio.h>   // remove
#include <string.h>  // memcmp, strstr

#include "agents/nn/nn.h"  // af_nn_save, af_tensor: a file of the wrong kind
#include "agents/replay.h"
#include "base/rng.h"

enum { OD = 3, AD = 2, GD = 2 };

// transition number k, every field a function of k so a stored row tells which one it is
static void transition(int k, float obs[OD], float act[AD], float *rew, float next[OD], int *term, float ag[GD], float dg[GD]) {
  for (int j = 0; j < OD; j++) { obs[j] = 10.0f * k + j; next[j] = 10.0f * k + j + 0.5f; }
  for (int j = 0; j < AD; j++) act[j] = -(float)k - 0.25f * j;
  *rew = (float)k;
  *term = k % 3 == 0;
  for (int j = 0; j < GD; j++) { ag[j] = 100.0f * k + j; dg[j] = -100.0f * k - j; }
}

static void add_n(af_replay *r, int first, int n) {
  float obs[OD], act[AD], next[OD], ag[GD], dg[GD], rew;
  int term;
  for (int k = first; k < first + n; k++) {
    transition(k, obs, act, &rew, next, &term, ag, dg);
    af_replay_add(r, obs, act, rew, next, term, ag, dg);
  }
}

static void make(af_replay *r, long cap) {
  char err[256];
  cr_assert_eq(af_replay_init(r, cap, OD, AD, GD, err, sizeof err), 0, "%s", err);
}

// row i of the buffer holds transition k in every field
static void assert_row(const af_replay *r, long i, int k) {
  float obs[OD], act[AD], next[OD], ag[GD], dg[GD], rew;
  int term;
  transition(k, obs, act, &rew, next, &term, ag, dg);
  cr_assert_arr_eq(r->obs + i * OD, obs, sizeof obs, "row %ld: obs is not transition %d's", i, k);
  cr_assert_arr_eq(r->next_obs + i * OD, next, sizeof next, "row %ld: next_obs is not transition %d's", i, k);
  cr_assert_arr_eq(r->act + i * AD, act, sizeof act, "row %ld: act is not transition %d's", i, k);
  cr_assert_eq(r->rew[i], rew, "row %ld: reward %g, transition %d has %g", i, r->rew[i], k, rew);
  cr_assert_eq(r->done[i], term ? 1.0f : 0.0f);
  cr_assert_arr_eq(r->ag + i * GD, ag, sizeof ag);
  cr_assert_arr_eq(r->dg + i * GD, dg, sizeof dg);
}

Test(replay, wrap_around_keeps_the_last_transitions_in_order) {
  af_replay r;
  make(&r, 5);
  // part full: rows 0..2 are transitions 0..2
  add_n(&r, 0, 3);
  cr_assert_eq(r.size, 3);
  cr_assert_eq(r.pos, 3);
  for (int i = 0; i < 3; i++) assert_row(&r, i, i);
  // 12 in all: the last 5 (7..11), oldest at the write position, in the order they came
  add_n(&r, 3, 9);
  cr_assert_eq(r.size, 5);
  cr_assert_eq(r.pos, 12 % 5);
  for (int j = 0; j < 5; j++) assert_row(&r, (r.pos + j) % 5, 7 + j);
  af_replay_free(&r);
}

// P(X > x) for a chi-square variable with 2m degrees of freedom, in closed form:
// exp(-x/2) * sum_{j<m} (x/2)^j / j!
static double chi2_survival_even(double x, int m) {
  double term = 1, sum = 0, h = x / 2;
  for (int j = 0; j < m; j++) { sum += term; term *= h / (j + 1); }
  return exp(-h) * sum;
}

// the x with P(X > x) = alpha for 2m degrees of freedom, by bisection (the survival falls in x)
static double chi2_quantile_even(double alpha, int m) {
  double lo = 0, hi = 1000;
  for (int it = 0; it < 200; it++) {
    double mid = 0.5 * (lo + hi);
    if (chi2_survival_even(mid, m) > alpha) lo = mid; else hi = mid;
  }
  return 0.5 * (lo + hi);
}

static double chi2_statistic(const long *count, int K, double N) {
  double x2 = 0, e = N / K;
  for (int i = 0; i < K; i++) x2 += (count[i] - e) * (count[i] - e) / e;
  return x2;
}

Test(replay, sampling_is_uniform_over_the_stored_transitions) {
  // K = 51 rows, so the statistic has 50 degrees of freedom (even: the closed form above)
  enum { K = 51, B = 500, ROUNDS = 200 };
  const double alpha = 1e-3, N = (double)B * ROUNDS;
  double crit = chi2_quantile_even(alpha, (K - 1) / 2);
  // the derived quantile against a tabulated one (chi2(50) at 0.999: 86.661) and its definition
  cr_assert(fabs(crit - 86.661) < 0.01, "chi-square 0.999 quantile for 50 df: %.4f", crit);
  cr_assert(fabs(chi2_survival_even(crit, 25) - alpha) < 1e-9);
  // a wrapped buffer: 80 transitions added, 29..79 remain; which one a sample is shows in its reward
  af_replay r;
  make(&r, K);
  add_n(&r, 0, 80);
  static float obs[B * OD], act[B * AD], rew[B], next[B * OD], done[B];
  long count[K] = {0};
  af_rng rng;
  af_rng_seed(&rng, 20240607);
  for (int round = 0; round < ROUNDS; round++) {
    af_replay_sample(&r, &rng, B, obs, act, rew, next, done);
    for (int b = 0; b < B; b++) {
      int k = (int)rew[b];
      cr_assert(k >= 80 - K && k < 80, "sampled transition %d is not among the stored ones", k);
      // the sample is a whole stored row, not fields of different rows
      cr_assert_eq(obs[b * OD + 1], 10.0f * k + 1);
      cr_assert_eq(next[b * OD + 2], 10.0f * k + 2.5f);
      cr_assert_eq(act[b * AD + 1], -(float)k - 0.25f);
      cr_assert_eq(done[b], k % 3 == 0 ? 1.0f : 0.0f);
      count[k - (80 - K)]++;
    }
  }
  // with a fixed seed the outcome is fixed; a uniform sampler fails it with probability alpha
  double x2 = chi2_statistic(count, K, N);
  cr_assert(x2 < crit, "chi-square %.2f over %d rows is beyond the %.2f of p = %g: sampling is not uniform", x2, K, crit, alpha);
  // the test has power: a sampler that missed one row (an off-by-one) would fail it
  long skewed[K] = {0};
  for (int i = 0; i < N; i++) skewed[af_rng_next(&rng) % (K - 1)]++;
  cr_assert_gt(chi2_statistic(skewed, K, N), crit);
  // a part-full buffer samples only what it holds
  af_replay p;
  make(&p, K);
  add_n(&p, 0, 7);
  af_replay_sample(&p, &rng, B, obs, act, rew, next, done);
  for (int b = 0; b < B; b++) {
    cr_assert(rew[b] >= 0 && rew[b] < 7, "sampled reward %g from 7 stored", rew[b]);
    cr_assert_eq(obs[b * OD + 1], 10.0f * rew[b] + 1, "sample %d is an empty row", b);
  }
  af_replay_free(&p);
  af_replay_free(&r);
}

Test(replay, save_and_load_of_a_wrapped_buffer_reproduce_its_samples) {
  char err[256];
  af_replay a, b;
  make(&a, 5);
  add_n(&a, 0, 12);
  cr_assert_eq(af_replay_save(&a, "replay.bin", err, sizeof err), 0, "%s", err);
  make(&b, 5);
  cr_assert_eq(af_replay_load(&b, "replay.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(b.size, a.size);
  cr_assert_eq(b.pos, a.pos);
  for (int j = 0; j < 5; j++) assert_row(&b, (b.pos + j) % 5, 7 + j);
  // the same seed draws the same samples from both
  enum { B = 64 };
  float oa[B * OD], aa[B * AD], ra[B], na[B * OD], da[B], ob[B * OD], ab[B * AD], rb[B], nb[B * OD], db[B];
  af_rng ga, gb;
  af_rng_seed(&ga, 9);
  af_rng_seed(&gb, 9);
  af_replay_sample(&a, &ga, B, oa, aa, ra, na, da);
  af_replay_sample(&b, &gb, B, ob, ab, rb, nb, db);
  cr_assert_arr_eq(oa, ob, sizeof oa);
  cr_assert_arr_eq(aa, ab, sizeof aa);
  cr_assert_arr_eq(ra, rb, sizeof ra);
  cr_assert_arr_eq(na, nb, sizeof na);
  cr_assert_arr_eq(da, db, sizeof da);
  // and the loaded ring goes on where the saved one stopped: one more add evicts transition 7
  add_n(&a, 12, 1);
  add_n(&b, 12, 1);
  for (int j = 0; j < 5; j++) assert_row(&b, (b.pos + j) % 5, 8 + j);
  cr_assert_eq(memcmp(a.mem, b.mem, sizeof(float) * 5 * (2 * OD + AD + 2 + 2 * GD)), 0);
  // a part-full buffer round-trips too
  af_replay c, d;
  make(&c, 5);
  add_n(&c, 0, 2);
  cr_assert_eq(af_replay_save(&c, "replay_part.bin", err, sizeof err), 0, "%s", err);
  make(&d, 5);
  add_n(&d, 50, 5);  // whatever was there is replaced
  cr_assert_eq(af_replay_load(&d, "replay_part.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(d.size, 2);
  cr_assert_eq(d.pos, 2);
  for (int i = 0; i < 2; i++) assert_row(&d, i, i);
  af_replay_free(&a);
  af_replay_free(&b);
  af_replay_free(&c);
  af_replay_free(&d);
  remove("replay.bin");
  remove("replay_part.bin");
}

Test(replay, files_of_another_shape_are_refused) {
  char err[256];
  af_replay a;
  make(&a, 5);
  add_n(&a, 0, 12);
  cr_assert_eq(af_replay_save(&a, "replay.bin", err, sizeof err), 0, "%s", err);
  // another capacity, observation, action or goal size
  const long caps[4] = {6, 5, 5, 5};
  const int ods[4] = {OD, OD + 1, OD, OD}, ads[4] = {AD, AD, AD - 1, AD}, gds[4] = {GD, GD, GD, 0};
  for (int c = 0; c < 4; c++) {
    af_replay b;
    cr_assert_eq(af_replay_init(&b, caps[c], ods[c], ads[c], gds[c], err, sizeof err), 0, "%s", err);
    err[0] = 0;
    cr_assert_eq(af_replay_load(&b, "replay.bin", err, sizeof err), -1, "case %d: a file of another shape was loaded", c);
    cr_assert(strstr(err, "replay.bin") && strstr(err, "capacity"), "case %d: %s", c, err);
    cr_assert_eq(b.size, 0, "case %d: a refused file changed the buffer", c);
    af_replay_free(&b);
  }
  // a header that matches but rows that do not: the file's tensors disagree with it (the
  // format of agents/replay.c: header, transitions added, the fields, each stream's episode)
  float head[7] = {5, 5, 0, OD, AD, GD, 1}, added[4] = {0}, few[4 * OD] = {0}, z[5 * OD] = {0}, one = 0;
  af_tensor t[13] = {{"replay", head, 7}, {"replay_added", added, 4}, {"obs", few, 4 * OD}, {"next_obs", z, 5 * OD},
                     {"act", z, 5 * AD}, {"rew", z, 5}, {"done", z, 5}, {"ep_pos", z, 5}, {"ep_len", z, 5},
                     {"ag", z, 5 * GD}, {"dg", z, 5 * GD}, {"stream_len", &one, 1}, {"stream_next", z, OD}};
  cr_assert_eq(af_nn_save("replay_lies.bin", t, 13, err, sizeof err), 0, "%s", err);
  af_replay b;
  make(&b, 5);
  cr_assert_eq(af_replay_load(&b, "replay_lies.bin", err, sizeof err), -1, "rows of the wrong size were loaded");
  cr_assert_eq(b.size, 0);
  // counters beyond the capacity
  head[1] = 6;
  t[2].data = z;
  t[2].n = 5 * OD;
  cr_assert_eq(af_nn_save("replay_lies.bin", t, 13, err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_replay_load(&b, "replay_lies.bin", err, sizeof err), -1);
  cr_assert(strstr(err, "inconsistent replay counters"), "%s", err);
  // a header entry that is no count (NaN, negative, fractional)
  const float bad[3] = {NAN, -1, 2.5f};
  for (int k = 0; k < 3; k++) {
    head[1] = bad[k];
    cr_assert_eq(af_nn_save("replay_lies.bin", t, 13, err, sizeof err), 0, "%s", err);
    cr_assert_eq(af_replay_load(&b, "replay_lies.bin", err, sizeof err), -1);
    cr_assert(strstr(err, "not a count"), "%s", err);
  }
  // episode positions beyond the ring (the counters of five added, as the header says)
  head[1] = 5;
  af_nn_pack_u64(added, 5);
  one = 5;
  float pos[5] = {0, 1, 2, 99, 4};
  t[7].data = pos;
  cr_assert_eq(af_nn_save("replay_lies.bin", t, 13, err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_replay_load(&b, "replay_lies.bin", err, sizeof err), -1);
  cr_assert(strstr(err, "episode position"), "%s", err);
  cr_assert_eq(b.size, 0);
  // a file of another kind (network weights) and no file at all
  af_tensor w = {"weights", z, 5};
  cr_assert_eq(af_nn_save("replay_other.bin", &w, 1, err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_replay_load(&b, "replay_other.bin", err, sizeof err), -1);
  cr_assert_eq(af_replay_load(&b, "replay_missing.bin", err, sizeof err), -1);
  cr_assert_eq(b.size, 0);
  af_replay_free(&a);
  af_replay_free(&b);
  remove("replay.bin");
  remove("replay_lies.bin");
  remove("replay_other.bin");
}

// a batch of three: a plain step, a horizon truncation and a diverged step whose action was
// NaN. The truncation bootstraps (done 0), the diverged step never does (done 1: its next
// observation is a reset state or a blown-up one), and its NaN action is stored as 0
Test(replay, diverged_steps_never_bootstrap_and_store_no_nan) {
  af_replay r;
  make(&r, 8);
  float obs[3 * OD] = {0}, next[3 * OD] = {0}, act[3 * AD] = {0.5f, -0.5f, 0.25f, 0.75f, NAN, 0.1f}, rew[3] = {1, 2, 0};
  float ag[3 * GD] = {0}, dg[3 * GD] = {0};
  uint8_t te[3] = {0, 0, 0}, tr[3] = {0, 1, 1};
  af_info info[3] = {{0}};
  info[2].diverged = 1;
  af_batch b = {.n = 3, .obs = obs, .act = act, .reward = rew, .next_obs = next, .terminated = te, .truncated = tr, .info = info,
                .achieved = ag, .desired = dg};
  af_replay_add_batch(&r, &b);
  cr_assert_eq(r.size, 3);
  cr_assert_eq(r.done[0], 0.0f, "a plain step bootstraps");
  cr_assert_eq(r.done[1], 0.0f, "a truncation at the horizon bootstraps");
  cr_assert_eq(r.done[2], 1.0f, "a diverged step must not bootstrap");
  cr_assert(af_nn_finite(r.act, (size_t)3 * AD), "a NaN action entered the buffer");
  cr_assert_eq(r.act[2 * AD], 0.0f);
  cr_assert_eq(r.act[2 * AD + 1], 0.1f, "the finite part of the action is kept");
  af_replay_free(&r);
}

// one stream's episode of n transitions, each obs the previous next_obs, never terminated
static void add_chain(af_replay *r, int n) {
  float obs[OD] = {0}, next[OD], act[AD] = {0}, ag[GD] = {0}, dg[GD] = {0};
  for (int k = 0; k < n; k++) {
    for (int j = 0; j < OD; j++) next[j] = obs[j] + 1;
    af_replay_add(r, obs, act, 0, next, 0, ag, dg);
    memcpy(obs, next, sizeof obs);
  }
}

Test(replay, an_episode_longer_than_the_buffer_saves_and_loads) {
  char err[256];
  af_replay a, b;
  make(&a, 4);
  make(&b, 4);
  add_chain(&a, 10);
  cr_assert_eq(a.ep_pos[(a.pos + 3) % 4], 9, "the newest transition is the episode's tenth");
  cr_assert_eq(af_replay_save(&a, "replay_long.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_replay_load(&b, "replay_long.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(b.size, 4);
  cr_assert_eq(b.added, 10);
  cr_assert_eq(b.cur_len[0], 10);
  cr_assert(memcmp(a.mem, b.mem, sizeof(float) * 4 * (2 * OD + AD + 4 + 2 * GD)) == 0);
  af_replay_free(&a);
  af_replay_free(&b);
  remove("replay_long.bin");
}

// a file of five transitions of one stream with the given counters, positions, lengths, done
// flags and running length, as agents/replay.c writes it, with a valid checksum
static void lying_file(uint64_t added_n, const float pos[5], const float len[5], const float done[5], float running) {
  char err[256];
  float head[7] = {5, 5, 0, OD, AD, GD, 1}, added[4], z[5 * OD] = {0}, z2[5 * OD] = {0};
  af_nn_pack_u64(added, added_n);
  af_tensor t[13] = {{"replay", head, 7}, {"replay_added", added, 4}, {"obs", z, 5 * OD}, {"next_obs", z2, 5 * OD},
                     {"act", z, 5 * AD}, {"rew", z, 5}, {"done", (float *)done, 5}, {"ep_pos", (float *)pos, 5},
                     {"ep_len", (float *)len, 5}, {"ag", z, 5 * GD}, {"dg", z, 5 * GD}, {"stream_len", &running, 1},
                     {"stream_next", z, OD}};
  cr_assert_eq(af_nn_save("replay_lies.bin", t, 13, err, sizeof err), 0, "%s", err);
}

Test(replay, crafted_counters_and_episodes_are_refused_and_leave_it_empty) {
  char err[256];
  af_replay b;
  make(&b, 5);
  const float pos[5] = {0, 1, 2, 3, 4}, len[5] = {5, 5, 5, 5, 5}, zero[5] = {0}, done[5] = {0, 0, 0, 0, 1};
  // the honest file: one episode of five that ended
  lying_file(5, pos, len, done, 0);
  cr_assert_eq(af_replay_load(&b, "replay_lies.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(b.size, 5);
  struct { uint64_t added; const float *pos, *len, *done; float running; const char *want; } cases[] = {
    {3, pos, len, done, 0, "inconsistent replay counters"},   // five stored after three added
    {7, pos, len, done, 0, "inconsistent replay counters"},   // the position would be 2
    {5, zero, zero, done, 0, "episode position 0 and length 0"},  // running episodes of length 0
    {5, pos, zero, done, 3, "episode position 3"},            // beyond its running episode
    {5, pos, (const float[5]){5, 5, 5, 5, 2}, done, 0, "episode position 4 and length 2"},
    {5, pos, len, (const float[5]){0, 0, 2, 0, 1}, 0, "done flag 2"},
    {5, pos, len, done, 0.5f, "running episode has length 0.5"},
  };
  for (int c = 0; c < 7; c++) {
    lying_file(cases[c].added, cases[c].pos, cases[c].len, cases[c].done, cases[c].running);
    err[0] = 0;
    cr_assert_eq(af_replay_load(&b, "replay_lies.bin", err, sizeof err), -1, "case %d was loaded", c);
    cr_assert(strstr(err, cases[c].want), "case %d: '%s', expected '%s'", c, err, cases[c].want);
    cr_assert_eq(b.size, 0, "case %d: a refused file left rows to sample", c);
    cr_assert_eq(b.added, 0);
  }
  af_replay_free(&b);
  remove("replay_lies.bin");
}
