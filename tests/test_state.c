// State snapshots (af_env_state_size, af_env_get_state, af_env_set_state), for every
// registered environment: a snapshot taken mid-episode, with every randomization group on
// (noise and action delay included), restores into the same environment, a fresh one and one
// that has run another episode, and stepping on with the same actions gives bit for bit the
// same observations, rewards, flags and info; the restored model equals the snapshot's
// model byte for byte, and a snapshot of the restored state equals the snapshot. Snapshots of
// another environment or config, truncated or corrupted ones are refused with AF_ERR_ARG.
#include <criterion/criterion.h>
#include <stdio.h>   // snprintf
#include <stdlib.h>  // malloc, free
#include <string.h>  // memcmp, strstr

#include "envs/env_impl.h"
#include "base/rng.h"
#include "tests/env_test.h"

#define MAXD 1024
#define MAXA 16
#define REPLAY 8         // steps recorded after a snapshot
#define RELEASE_STEP 15  // cloth_drape: the gripper opens from this step on (the clips let go)

// what the steps after a snapshot gave
typedef struct {
  int n;                       // steps recorded (fewer if the episode ended)
  float act[REPLAY][MAXA];     // the actions taken
  float obs[REPLAY][MAXD];
  float rew[REPLAY];
  int term[REPLAY], trunc[REPLAY];
  af_info info[REPLAY];
} record;

// the config of the test: the physics, visual and actuation groups on, and with `sensor` the
// sensor group too, with a delay of at least one step where the table has one; door_open's
// latch, the quadruped on the mixed terrain with its height scan
static void test_config(const char *name, int sensor, char *cfg, size_t n) {
  af_env *e = test_env(name, NULL);
  int has_delay = 0;
  for (int i = 0; af_env_randomization_param(e, i, NULL, NULL, NULL); i++)
    has_delay |= strcmp(af_env_randomization_param(e, i, NULL, NULL, NULL), "act_delay") == 0;
  af_env_free(e);
  const char *extra = !strcmp(name, "door_open") ? ", \"latch\": true"
                    : !strcmp(name, "quadruped") ? ", \"terrain\": \"mix\", \"height_scan\": true" : "";
  snprintf(cfg, n,
           "{\"randomize\": {\"enabled\": true, \"physics\": true, \"visual\": true, \"actuation\": true, \"sensor\": %s%s}%s}",
           sensor ? "true" : "false", sensor && has_delay ? ", \"act_delay\": [1, 2]" : "", extra);
}

// the action at step t: the scripted controller's when there is one (else seeded random),
// cloth_drape's gripper opened from RELEASE_STEP on. *scripted says whether it was scripted.
static void policy(af_env *e, int t, uint64_t seed, float *a, int *scripted) {
  const af_env_spec *s = af_env_get_spec(e);
  *scripted = af_env_scripted_action(e, a) == AF_OK;
  if (!*scripted) {
    af_rng rng;
    af_rng_seed(&rng, af_seed_derive(seed, 100 + (uint64_t)t));
    for (int k = 0; k < s->act_dim; k++) a[k] = (float)af_rng_range(&rng, -1, 1);
  }
  if (!strcmp(s->name, "cloth_drape") && t >= RELEASE_STEP) a[s->act_dim - 1] = 1;
}

// REPLAY steps of the policy from the current state (step t0 of the episode), recorded
static void run(af_env *e, int t0, uint64_t seed, record *r) {
  int scripted;
  memset(r, 0, sizeof *r);
  for (int t = 0; t < REPLAY; t++) {
    policy(e, t0 + t, seed, r->act[t], &scripted);
    cr_assert_eq(af_env_step(e, r->act[t], r->obs[t], &r->rew[t], &r->term[t], &r->trunc[t], &r->info[t]), AF_OK,
                 "%s: %s", af_env_get_spec(e)->name, af_env_last_error(e));
    r->n = t + 1;
    if (r->term[t] || r->trunc[t]) break;
  }
}

// the recorded actions replayed from a restored state; everything must match bit for bit,
// the scripted controller's own actions included (its state is in the snapshot)
static void replay_matches(af_env *e, int t0, uint64_t seed, const record *r, const char *what) {
  const af_env_spec *s = af_env_get_spec(e);
  float obs[MAXD], a[MAXA], rew;
  int te, tr, scripted;
  af_info info;
  for (int t = 0; t < r->n; t++) {
    policy(e, t0 + t, seed, a, &scripted);
    if (scripted) cr_assert(!memcmp(a, r->act[t], sizeof(float) * s->act_dim), "%s %s: scripted action differs at step %d", s->name, what, t0 + t);
    cr_assert_eq(af_env_step(e, r->act[t], obs, &rew, &te, &tr, &info), AF_OK, "%s %s: %s", s->name, what, af_env_last_error(e));
    cr_assert(!memcmp(obs, r->obs[t], sizeof(float) * s->obs_dim), "%s %s: observation differs at step %d", s->name, what, t0 + t);
    cr_assert(!memcmp(&rew, &r->rew[t], sizeof rew), "%s %s: reward differs at step %d (%.9g vs %.9g)", s->name, what, t0 + t, rew, r->rew[t]);
    cr_assert(te == r->term[t] && tr == r->trunc[t], "%s %s: flags differ at step %d", s->name, what, t0 + t);
    cr_assert(!memcmp(&info, &r->info[t], sizeof info), "%s %s: info differs at step %d", s->name, what, t0 + t);
  }
}

// the model now equals the one kept at the snapshot, every array byte for byte
static void model_matches(const af_env *e, const mjModel *kept, const char *what) {
  const mjModel *m = af_env_model(e);
  cr_assert_eq(m->nbuffer, kept->nbuffer);
  cr_assert(!memcmp(m->buffer, kept->buffer, (size_t)m->nbuffer), "%s %s: the restored model differs", af_env_get_spec(e)->name, what);
  cr_assert(!memcmp(&m->opt, &kept->opt, sizeof m->opt), "%s %s: the restored options differ", af_env_get_spec(e)->name, what);
}

// restore into e, then: a snapshot of e equals the snapshot, the model equals the kept one
static void restore(af_env *e, const unsigned char *snap, size_t size, const mjModel *kept, const char *what) {
  cr_assert_eq(af_env_set_state(e, snap, size), AF_OK, "%s %s: %s", af_env_get_spec(e)->name, what, af_env_last_error(e));
  cr_assert_eq(af_env_state_size(e), size);
  unsigned char *again = malloc(size);
  cr_assert(again);
  cr_assert_eq(af_env_get_state(e, again, size), AF_OK);
  cr_assert(!memcmp(again, snap, size), "%s %s: a snapshot of the restored state differs", af_env_get_spec(e)->name, what);
  free(again);
  model_matches(e, kept, what);
}

// every environment, snapshots at steps 3, 12 and 24 (those before the horizon's end)
static void every_environment(int sensor) {
  for (int i = 0; i < af_env_count(); i++) {
    const char *name = af_env_name(i);
    char cfg[512];
    test_config(name, sensor, cfg, sizeof cfg);
    af_env *e = test_env(name, cfg);
    const af_env_spec *s = af_env_get_spec(e);
    cr_assert(s->obs_dim <= MAXD && s->act_dim <= MAXA);
    const size_t size = af_env_state_size(e);
    unsigned char *snap = malloc(size);
    cr_assert(snap);
    const uint64_t seed = 1234 + (uint64_t)i;
    const int points[3] = {3, 12, 24};
    int taken = 0;
    for (int p = 0; p < 3; p++) {
      int k = points[p];
      if (k + REPLAY > s->horizon) continue;
      // k steps from a seeded reset, then the snapshot and the model as it is then
      float obs[MAXD], a[MAXA], rew;
      int te = 0, tr = 0, scripted;
      cr_assert_eq(af_env_reset(e, seed, obs), AF_OK, "%s: %s", name, af_env_last_error(e));
      int t = 0;
      for (; t < k && !te && !tr; t++) {
        policy(e, t, seed, a, &scripted);
        cr_assert_eq(af_env_step(e, a, obs, &rew, &te, &tr, NULL), AF_OK, "%s: %s", name, af_env_last_error(e));
      }
      if (te || tr) continue;  // the episode ended before the snapshot point
      cr_assert_eq(af_env_state_size(e), size, "%s: the snapshot size changed with the steps", name);
      cr_assert_eq(af_env_get_state(e, snap, size), AF_OK, "%s: %s", name, af_env_last_error(e));
      mjModel *kept = mj_copyModel(NULL, af_env_model(e));
      cr_assert(kept);
      // without noise the scripted opener frees door_open's latch between steps 12 and 24:
      // the replay from 12 crosses it, the snapshot at 24 holds the freed hinge
      if (!sensor && !strcmp(name, "door_open") && k >= 12) {
        int dj = mj_name2id(kept, mjOBJ_JOINT, "door");
        cr_assert(k == 12 ? kept->jnt_range[2 * dj + 1] < 0.1 : kept->jnt_range[2 * dj + 1] > 0.1, "door_open: latch at step %d", k);
      }
      record r;
      run(e, k, seed, &r);

      // (a) the same environment, which has stepped on
      restore(e, snap, size, kept, "same");
      replay_matches(e, k, seed, &r, "same");
      // (b) a freshly made one
      af_env *f = test_env(name, cfg);
      restore(f, snap, size, kept, "fresh");
      replay_matches(f, k, seed, &r, "fresh");
      af_env_free(f);
      // (c) one in another episode: other seed, randomization switched off, another level
      af_env *g = test_env(name, cfg);
      af_env_set_randomize(g, 0);
      af_env_set_difficulty(g, 0.9);  // AF_ERR_UNSUP without levels: nothing to set
      cr_assert_eq(af_env_reset(g, seed + 77, obs), AF_OK, "%s: %s", name, af_env_last_error(g));
      for (int q = 0; q < 3 && !te; q++) {
        policy(g, q, seed + 77, a, &scripted);
        cr_assert_eq(af_env_step(g, a, obs, &rew, &te, &tr, NULL), AF_OK);
      }
      restore(g, snap, size, kept, "used");
      cr_assert_eq(af_env_randomize_enabled(g), 1, "%s: the randomization switch is the snapshot's", name);
      replay_matches(g, k, seed, &r, "used");
      af_env_free(g);
      mj_deleteModel(kept);
      taken++;
    }
    cr_assert_geq(taken, 1, "%s: no snapshot point reached", name);
    cr_log_info("%s (sensor group %s): snapshot of %zu bytes, %d points", name, sensor ? "on" : "off", size, taken);
    free(snap);
    af_env_free(e);
  }
}

Test(state, every_environment_restores_bit_for_bit) { every_environment(0); }
Test(state, every_environment_restores_bit_for_bit_with_noise_and_delay) { every_environment(1); }

// door_open's latch and cloth_drape's clips, the model edits of an episode, are restored
Test(state, latch_and_clips_restored) {
  // door_open: a snapshot with the latch closed restores it into a fresh environment
  char cfg[512];
  test_config("door_open", 1, cfg, sizeof cfg);
  af_env *d = test_env("door_open", cfg);
  const af_env_spec *s;
  float obs[MAXD], a[MAXA] = {0}, rew;
  int te, tr;
  cr_assert_eq(af_env_reset(d, 5, obs), AF_OK);
  cr_assert_eq(af_env_step(d, a, obs, &rew, &te, &tr, NULL), AF_OK);
  int dj = mj_name2id(af_env_model(d), mjOBJ_JOINT, "door");
  cr_assert_lt(af_env_model(d)->jnt_range[2 * dj + 1], 0.1, "the latch is closed");
  size_t size = af_env_state_size(d);
  unsigned char *snap = malloc(size);
  cr_assert_eq(af_env_get_state(d, snap, size), AF_OK);
  af_env *f = test_env("door_open", cfg);
  cr_assert_eq(af_env_set_state(f, snap, size), AF_OK, "%s", af_env_last_error(f));
  cr_assert_eq(af_env_model(f)->jnt_range[2 * dj + 1], af_env_model(d)->jnt_range[2 * dj + 1]);
  cr_assert_lt(af_env_model(f)->jnt_range[2 * dj + 1], 0.1, "the restored hinge is latched");
  free(snap);
  af_env_free(f);
  af_env_free(d);

  // cloth_drape: clips released before the snapshot stay released in a fresh environment
  test_config("cloth_drape", 1, cfg, sizeof cfg);
  af_env *c = test_env("cloth_drape", cfg);
  s = af_env_get_spec(c);
  cr_assert_eq(af_env_reset(c, 6, obs), AF_OK);
  for (int k = 0; k < s->act_dim; k++) a[k] = 0;
  a[s->act_dim - 1] = 1;  // open: the clips let go (after the action delay, at most 2 steps)
  for (int k = 0; k < 3; k++) cr_assert_eq(af_env_step(c, a, obs, &rew, &te, &tr, NULL), AF_OK);
  int clip = mj_name2id(af_env_model(c), mjOBJ_EQUALITY, "clip_a");
  cr_assert_eq(af_env_model(c)->eq_active[clip], 0, "released");
  size = af_env_state_size(c);
  snap = malloc(size);
  cr_assert_eq(af_env_get_state(c, snap, size), AF_OK);
  f = test_env("cloth_drape", cfg);
  cr_assert_eq(af_env_set_state(f, snap, size), AF_OK, "%s", af_env_last_error(f));
  cr_assert_eq(af_env_model(f)->eq_active[clip], 0, "the restored clips are open");
  free(snap);
  af_env_free(f);
  af_env_free(c);
}

// set_state refuses what it cannot restore, with AF_ERR_ARG, a message, and no change
static void refused(af_env *e, const void *buf, size_t size, const char *want) {
  size_t n = af_env_state_size(e);
  unsigned char *before = malloc(n), *after = malloc(n);
  cr_assert(before && after);
  cr_assert_eq(af_env_get_state(e, before, n), AF_OK);
  cr_assert_eq(af_env_set_state(e, buf, size), AF_ERR_ARG, "%s: expected a refusal (%s)", af_env_get_spec(e)->name, want);
  cr_assert(strstr(af_env_last_error(e), want), "message '%s' lacks '%s'", af_env_last_error(e), want);
  cr_assert_eq(af_env_get_state(e, after, n), AF_OK);
  cr_assert(!memcmp(before, after, n), "a refused snapshot changed the environment");
  free(before);
  free(after);
}

Test(state, mismatched_truncated_corrupted_refused) {
  char cfg[512];
  test_config("door_open", 1, cfg, sizeof cfg);
  af_env *d = test_env("door_open", cfg);
  float obs[MAXD], a[MAXA] = {0}, rew;
  int te, tr;
  size_t size = af_env_state_size(d);
  unsigned char *snap = malloc(size + 16), *bad = malloc(size + 16);
  cr_assert(snap && bad);

  // no episode yet; a buffer too small or NULL
  cr_assert_eq(af_env_get_state(d, snap, size), AF_ERR_STATE);
  cr_assert(strstr(af_env_last_error(d), "reset first"));
  cr_assert_eq(af_env_reset(d, 9, obs), AF_OK);
  cr_assert_eq(af_env_step(d, a, obs, &rew, &te, &tr, NULL), AF_OK);
  cr_assert_eq(af_env_get_state(d, snap, size - 1), AF_ERR_ARG);
  cr_assert(strstr(af_env_last_error(d), "needs"));
  cr_assert_eq(af_env_get_state(d, NULL, size), AF_ERR_ARG);
  cr_assert_eq(af_env_get_state(d, snap, size), AF_OK);

  // targets with an episode of their own (refusals must leave them as they are)
  af_env *other = test_env("puck_push", NULL), *nolatch = test_env("door_open", "{\"latch\": false}");
  af_env *same = test_env("door_open", cfg);
  cr_assert_eq(af_env_reset(other, 1, obs), AF_OK);
  cr_assert_eq(af_env_reset(nolatch, 1, obs), AF_OK);
  cr_assert_eq(af_env_reset(same, 1, obs), AF_OK);
  refused(other, snap, size, "snapshot of environment 'door_open'");
  refused(nolatch, snap, size, "another config");
  refused(same, NULL, size, "truncated");
  refused(same, snap, 10, "truncated");
  refused(same, snap, size - 1, "truncated");
  // corrupted: one byte in the middle, the magic, the version
  memcpy(bad, snap, size);
  bad[size / 2] ^= 0x40;
  refused(same, bad, size, "checksum");
  memcpy(bad, snap, size);
  bad[0] = 'X';
  refused(same, bad, size, "not an armfarm snapshot");
  memcpy(bad, snap, size);
  bad[8] ^= 0x7;
  refused(same, bad, size, "version");
  // a snapshot of the other environment into door_open
  size_t osize = af_env_state_size(other);
  unsigned char *osnap = malloc(osize);
  cr_assert_eq(af_env_get_state(other, osnap, osize), AF_OK);
  refused(same, osnap, osize, "snapshot of environment 'puck_push'");
  // a longer buffer holding a good snapshot is fine
  memcpy(bad, snap, size);
  cr_assert_eq(af_env_set_state(same, bad, size + 16), AF_OK, "%s", af_env_last_error(same));
  free(osnap);

  // a snapshot of an ended episode restores an ended episode: step refuses until a reset
  af_env *p = test_env("pendulum", NULL);
  cr_assert_eq(af_env_reset(p, 3, obs), AF_OK);
  do cr_assert_eq(af_env_step(p, a, obs, &rew, &te, &tr, NULL), AF_OK);
  while (!te && !tr);
  size_t psize = af_env_state_size(p);
  unsigned char *psnap = malloc(psize);
  cr_assert_eq(af_env_get_state(p, psnap, psize), AF_OK);
  af_env *q = test_env("pendulum", NULL);
  cr_assert_eq(af_env_set_state(q, psnap, psize), AF_OK);
  cr_assert_eq(af_env_step(q, a, obs, &rew, &te, &tr, NULL), AF_ERR_STATE);
  free(psnap);
  af_env_free(q);
  af_env_free(p);

  free(snap);
  free(bad);
  af_env_free(other);
  af_env_free(nolatch);
  af_env_free(same);
  af_env_free(d);
}
