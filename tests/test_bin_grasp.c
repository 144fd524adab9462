// Bin grasping: the scripted grasp proves the task and its success test; the clutter really
// differs per seed and stays in the bin; object inertias agree with MuJoCo's own compiler;
// a heavier object really is harder to lift; rewards are recomputed by hand from the
// observation and the contact list; the disturbance fires when asked, and in the nearest mode
// pushes the object by the fingers before they close; the open-loop observation stays the first.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envs/env_impl.h"
#include "tests/env_test.h"

#define OBS_HAND 6
#define OBS_SLOT 16
#define MAX_OBJ 8

static af_env *make(const char *cfg) { return test_env("bin_grasp", cfg); }

// the geom of slot i that is switched on (contact enabled), or -1
static int slot_geom(const af_env *e, int i) {
  char name[32];
  static const char *suffix[5] = {"box", "cyl", "cap", "sph", "ell"};
  int found = -1;
  for (int k = 0; k < 5; k++) {
    snprintf(name, sizeof name, "obj%d_%s", i, suffix[k]);
    int g = mj_name2id(e->m, mjOBJ_GEOM, name);
    cr_assert_geq(g, 0);
    if (e->m->geom_contype[g]) {
      cr_assert_eq(found, -1, "slot %d has two shapes switched on", i);
      found = g;
    }
  }
  return found;
}

Test(bin_grasp, scripted_grasp_succeeds_with_randomization_on) {
  af_env *e = make(NULL);
  cr_assert(e->dr.enabled && e->dr.group_on[AF_DR_PHYSICS] && e->dr.group_on[AF_DR_ACTUATION]);
  int wins = 0;
  for (int ep = 0; ep < 50; ep++) {
    af_info info = scripted_episode(e, af_seed_derive(2024, (uint64_t)ep));
    cr_assert_eq(info.episode.diverged, 0);
    wins += info.episode.success > 0;
    // success ends the episode early; a failure runs to the horizon
    cr_assert(info.episode.success > 0 ? info.episode.length < 20 : info.episode.length == 20);
  }
  cr_assert_geq(wins, 30, "scripted grasp: %d/50 successes, need at least 60%%", wins);
  af_env_free(e);
}

Test(bin_grasp, no_success_in_the_initial_state_or_without_a_grasp) {
  // standing still with the fingers open never counts, nor does the random policy's flailing
  af_env *e = make(NULL);
  float obs[256], a[5] = {0, 0, 0, 0, 1}, r;
  int te = 0, tr = 0;
  af_info info;
  for (int ep = 0; ep < 4; ep++) {
    af_env_reset(e, (uint64_t)ep, obs);
    cr_assert_float_eq(obs[5], 0.08, 2e-3, "the episode starts with the gripper open");
    te = tr = 0;
    int t = 0;
    while (!te && !tr) {
      af_env_step(e, a, obs, &r, &te, &tr, &info);
      cr_assert_eq(info.success, 0, "success at step %d without a grasp", t++);
      cr_assert_eq(r, 0.0f);
    }
    cr_assert_eq(info.episode.success, 0);
    cr_assert_eq(info.episode.metrics[1], 0, "nothing was held");
  }
  af_env_free(e);
}

Test(bin_grasp, clutter_differs_per_seed_and_settles_inside_the_bin) {
  af_env *e = make(NULL);
  float obs[256];
  int shapes_seen[5] = {0};
  double first_size = -1;
  int sizes_differ = 0;
  for (uint64_t seed = 0; seed < 8; seed++) {
    af_env_reset(e, seed, obs);
    int present = 0;
    for (int i = 0; i < MAX_OBJ; i++) {
      const float *p = obs + OBS_HAND + OBS_SLOT * i;
      int g = slot_geom(e, i);
      present += p[15] == 1;
      if (i >= 5) {
        // absent: no shape switched on, all zeros in the observation
        cr_assert_eq(g, -1);
        for (int k = 0; k < OBS_SLOT; k++) cr_assert_eq(p[k], 0.0f);
        continue;
      }
      cr_assert_geq(g, 0, "slot %d has no shape", i);
      cr_assert_float_eq(e->m->geom_rgba[4 * g + 3], 1, 0);
      for (int k = 0; k < 5; k++) shapes_seen[k] |= p[10 + k] == 1;
      // at rest on the bin floor or on other objects, inside the walls
      cr_assert(p[0] > 0.36 && p[0] < 0.60 && p[1] > -0.15 && p[1] < 0.15, "seed %llu slot %d at (%g, %g)", (unsigned long long)seed, i, p[0], p[1]);
      cr_assert(p[2] > 0.01 && p[2] < 0.3, "slot %d height %g", i, p[2]);
      if (i == 0) {
        if (first_size < 0) first_size = p[7];
        else sizes_differ |= p[7] != first_size;
      }
    }
    cr_assert_eq(present, 5);
  }
  int kinds = 0;
  for (int k = 0; k < 5; k++) kinds += shapes_seen[k];
  cr_assert_geq(kinds, 4, "eight seeds of five objects show only %d of the five shapes", kinds);
  cr_assert(sizes_differ, "object sizes never change");
  af_env_free(e);
}

// the principal inertia and bounding radius MuJoCo's compiler gives a single geom of this
// shape, size and mass
static void compiler_inertia(int type, const mjtNum *size, double mass, double I[3], double *rbound) {
  const char *tname = type == mjGEOM_BOX ? "box" : type == mjGEOM_CYLINDER ? "cylinder" : type == mjGEOM_CAPSULE ? "capsule"
                      : type == mjGEOM_SPHERE ? "sphere" : "ellipsoid";
  char path[] = "af_test_inertia_XXXXXX", err[512];
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  FILE *f = fdopen(fd, "w");
  fprintf(f, "<mujoco><worldbody><body><freejoint/><geom type=\"%s\" size=\"%.17g %.17g %.17g\" mass=\"%.17g\"/></body></worldbody></mujoco>",
          tname, size[0], size[1] > 0 ? size[1] : size[0], size[2] > 0 ? size[2] : size[0], mass);
  fclose(f);
  mjModel *m = mj_loadXML(path, NULL, err, sizeof err);
  remove(path);
  cr_assert(m, "%s", err);
  for (int k = 0; k < 3; k++) I[k] = m->body_inertia[3 + k];
  *rbound = m->geom_rbound[0];
  mj_deleteModel(m);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

Test(bin_grasp, object_inertia_matches_mujocos_compiler) {
  // each object's inertia is written by hand at reset; MuJoCo's compiler, given the same
  // shape, size and mass, must agree (principal moments, in any order)
  af_env *e = make("{\"objects\": 8}");
  float obs[256];
  int checked[5] = {0};
  for (uint64_t seed = 0; seed < 6; seed++) {
    af_env_reset(e, seed, obs);
    for (int i = 0; i < MAX_OBJ; i++) {
      int g = slot_geom(e, i), b = e->m->geom_bodyid[g], type = e->m->geom_type[g];
      double want[3], got[3], rbound;
      compiler_inertia(type, e->m->geom_size + 3 * g, e->m->body_mass[b], want, &rbound);
      for (int k = 0; k < 3; k++) got[k] = e->m->body_inertia[3 * b + k];
      qsort(want, 3, sizeof(double), cmp_double);
      qsort(got, 3, sizeof(double), cmp_double);
      for (int k = 0; k < 3; k++) cr_assert_float_eq(got[k], want[k], 1e-9 * want[k], "type %d: I[%d] %g, compiler %g", type, k, got[k], want[k]);
      // and the bounding radius the broad phase relies on
      cr_assert_float_eq(e->m->geom_rbound[g], rbound, 1e-12, "type %d: rbound %g, compiler %g", type, e->m->geom_rbound[g], rbound);
      checked[type == mjGEOM_BOX ? 0 : type == mjGEOM_CYLINDER ? 1 : type == mjGEOM_CAPSULE ? 2 : type == mjGEOM_SPHERE ? 3 : 4] = 1;
    }
  }
  for (int k = 0; k < 5; k++) cr_assert(checked[k], "shape %d never drawn", k);
  af_env_free(e);
}

Test(bin_grasp, heavier_objects_slip_out_of_the_same_grasp) {
  // the grip force is fixed by the finger servos: the same grasp that lifts 50-200 g objects
  // cannot hold 2 kg ones, which are grasped but slip back
  af_env *light = make("{\"randomize\": {\"object_mass\": [1, 1]}}");
  af_env *heavy = make("{\"randomize\": {\"object_mass\": [20, 20]}}");
  int wins_light = 0, wins_heavy = 0, grasped_heavy = 0;
  for (int ep = 0; ep < 8; ep++) {
    uint64_t seed = af_seed_derive(77, (uint64_t)ep);
    wins_light += scripted_episode(light, seed).episode.success > 0;
    af_info h = scripted_episode(heavy, seed);
    wins_heavy += h.episode.success > 0;
    grasped_heavy += h.episode.metrics[1] > 0;
    int g = slot_geom(heavy, 0);
    cr_assert_float_eq(heavy->m->body_mass[heavy->m->geom_bodyid[g]], 2.0, 1e-12);
  }
  cr_assert_geq(wins_light, 6, "light objects: %d/8 lifted", wins_light);
  cr_assert_eq(wins_heavy, 0, "2 kg objects: %d/8 lifted", wins_heavy);
  cr_assert_geq(grasped_heavy, 4, "the heavy objects were grasped (%d/8) but slipped", grasped_heavy);
  af_env_free(light);
  af_env_free(heavy);
}

// is slot i held between both fingers, from the contact list?
static int held_by_hand(const af_env *e, int i) {
  int g = slot_geom(e, i), fl = mj_name2id(e->m, mjOBJ_GEOM, "arm_finger_l"), fr = mj_name2id(e->m, mjOBJ_GEOM, "arm_finger_r");
  int l = 0, r = 0;
  for (int c = 0; c < e->d->ncon; c++) {
    int g1 = e->d->contact[c].geom1, g2 = e->d->contact[c].geom2;
    l |= (g1 == fl && g2 == g) || (g2 == fl && g1 == g);
    r |= (g1 == fr && g2 == g) || (g2 == fr && g1 == g);
  }
  return l && r;
}

Test(bin_grasp, shaped_and_sparse_rewards_match_hand_computation) {
  for (int sparse = 0; sparse <= 1; sparse++) {
    af_env *e = make(sparse ? NULL : "{\"reward\": \"shaped\"}");
    float obs[256], z0[MAX_OBJ], a[16], r;
    int te = 0, tr = 0, saw_held = 0;
    af_info info;
    af_env_reset(e, af_seed_derive(2024, 0), obs);
    for (int i = 0; i < 5; i++) z0[i] = obs[OBS_HAND + OBS_SLOT * i + 2];
    while (!te && !tr) {
      af_env_scripted_action(e, a);
      af_env_step(e, a, obs, &r, &te, &tr, &info);
      // by hand: the nearest object, the held one and its lift above where it rested
      double dmin = 1e9, lift = 0;
      int held = 0;
      for (int i = 0; i < 5; i++) {
        const float *p = obs + OBS_HAND + OBS_SLOT * i;
        double dd = sqrt(pow(obs[0] - p[0], 2) + pow(obs[1] - p[1], 2) + pow(obs[2] - p[2], 2));
        dmin = fmin(dmin, dd);
        if (held_by_hand(e, i)) { held = 1; lift = fmax(lift, p[2] - z0[i]); }
      }
      int success = held && lift >= 0.1;
      saw_held |= held;
      cr_assert_eq(info.success, success);
      cr_assert_eq(te, success, "the episode ends exactly on success");
      double want = success ? 1 : sparse ? 0 : 0.25 * (1 - tanh(10 * dmin)) + 0.25 * held + 0.5 * fmin(fmax(lift / 0.1, 0), 1);
      cr_assert_float_eq(r, want, 2e-5, "step: reward %g, by hand %g", r, want);
    }
    cr_assert(saw_held && info.episode.success > 0, "this seed's scripted grasp succeeds");
    af_env_free(e);
  }
}

Test(bin_grasp, disturbance_kicks_one_object_when_asked) {
  // the same seed and actions with the disturbance off and on: identical until one step, at
  // which an object the hand does not touch jumps; the episode metric records it
  af_env *off = make("{\"disturb_prob\": 0}"), *on = make("{\"disturb_prob\": 1, \"disturb_speed\": 0.8}");
  float o1[256], o2[256], a[5] = {0, 0, 1, 0, 1}, r1, r2;  // the hand rises away from the clutter
  int te1 = 0, tr1 = 0, te2 = 0, tr2 = 0;
  af_info i1, i2;
  for (uint64_t seed = 5; seed < 8; seed++) {
    af_env_reset(off, seed, o1);
    af_env_reset(on, seed, o2);
    cr_assert(memcmp(o1, o2, sizeof(float) * (OBS_HAND + OBS_SLOT * MAX_OBJ)) == 0, "the kick draws shift nothing else");
    int kick_step = -1;
    te1 = tr1 = te2 = tr2 = 0;
    for (int t = 0; !tr1 && !tr2; t++) {
      af_env_step(off, a, o1, &r1, &te1, &tr1, &i1);
      af_env_step(on, a, o2, &r2, &te2, &tr2, &i2);
      if (kick_step < 0 && memcmp(o1, o2, sizeof(float) * (OBS_HAND + OBS_SLOT * MAX_OBJ)) != 0) {
        kick_step = t;
        cr_assert(memcmp(o1, o2, sizeof(float) * OBS_HAND) == 0, "the hand is not disturbed");
        double jump = 0;
        for (int i = 0; i < 5; i++)
          jump = fmax(jump, hypot(o2[OBS_HAND + OBS_SLOT * i] - o1[OBS_HAND + OBS_SLOT * i], o2[OBS_HAND + OBS_SLOT * i + 1] - o1[OBS_HAND + OBS_SLOT * i + 1]));
        cr_assert_gt(jump, 0.005, "a kick of 0.8 m/s moves an object by %g m in a step", jump);
      }
    }
    cr_assert(kick_step >= 0 && kick_step < 19, "seed %llu: no kick", (unsigned long long)seed);
    cr_assert_eq(i1.episode.metrics[2], 0.0f);
    cr_assert_eq(i2.episode.metrics[2], 1.0f);
  }
  af_env_free(off);
  af_env_free(on);
}

// the nearest mode, under the scripted grasp: the push comes before the gripper closes and hits
// the object nearest the fingers, within disturb_radius of the grip site; without the push the
// same episode runs on undisturbed up to that step
Test(bin_grasp, the_nearest_disturbance_pushes_the_object_by_the_fingers_before_they_close) {
  af_env *off = make("{\"randomize\": false, \"disturb_prob\": 0}");
  af_env *on = make("{\"randomize\": false, \"disturb_prob\": 1, \"disturb_mode\": \"nearest\", \"disturb_speed\": 0.8}");
  float o1[256], o2[256], a1[5], a2[5], r1, r2;
  int kicked_episodes = 0;
  for (uint64_t seed = 11; seed < 19; seed++) {
    af_env_reset(off, seed, o1);
    af_env_reset(on, seed, o2);
    int te1 = 0, tr1 = 0, te2 = 0, tr2 = 0, kick = -1;
    af_info i1, i2;
    for (int t = 0; !(te2 || tr2); t++) {
      float before[256];
      memcpy(before, o2, sizeof before);
      cr_assert_eq(af_env_scripted_action(on, a2), AF_OK);
      cr_assert_eq(af_env_step(on, a2, o2, &r2, &te2, &tr2, &i2), AF_OK);
      if (kick >= 0) continue;
      cr_assert_eq(af_env_scripted_action(off, a1), AF_OK);
      cr_assert(memcmp(a1, a2, sizeof a1) == 0, "seed %llu: the controllers differ before any push", (unsigned long long)seed);
      cr_assert_eq(af_env_step(off, a1, o1, &r1, &te1, &tr1, &i1), AF_OK);
      if (memcmp(o1, o2, sizeof(float) * (OBS_HAND + OBS_SLOT * MAX_OBJ)) == 0) continue;
      // the pushed object (the largest jump) is the one nearest the grip site before the step,
      // within 5 cm of it, and the gripper was still commanded open
      kick = t;
      int moved = -1, nearest = -1;
      double jump = 0, best = 1e9;
      for (int i = 0; i < 5; i++) {
        const float *p1 = o1 + OBS_HAND + OBS_SLOT * i, *p2 = o2 + OBS_HAND + OBS_SLOT * i, *p0 = before + OBS_HAND + OBS_SLOT * i;
        double j = hypot(p2[0] - p1[0], p2[1] - p1[1]), r = hypot(p0[0] - before[0], p0[1] - before[1]);
        if (j > jump) jump = j, moved = i;
        if (r < best) best = r, nearest = i;
      }
      cr_assert_gt(jump, 0.005, "seed %llu: the push moved an object %g m", (unsigned long long)seed, jump);
      cr_assert_eq(moved, nearest, "seed %llu: object %d pushed, %d nearest the fingers", (unsigned long long)seed, moved, nearest);
      cr_assert_lt(best, 0.05 + 1e-4, "seed %llu: the nearest object was %g m away", (unsigned long long)seed, best);
      cr_assert_gt(a2[4], 0.0f, "seed %llu: the push came after the gripper closed", (unsigned long long)seed);
    }
    kicked_episodes += kick >= 0;
    cr_assert_eq(i2.episode.metrics[2], kick >= 0 ? 1.0f : 0.0f);
  }
  // the scripted grasp reaches for an object in every episode, so the push comes in most
  cr_assert_geq(kicked_episodes, 6, "%d of 8 scripted episodes pushed", kicked_episodes);
  af_env_free(off);
  af_env_free(on);
}

// open loop: every observation is the first one, the live state at reset, with the elapsed
// fraction of the horizon appended; a snapshot taken mid-episode brings the first one back
Test(bin_grasp, the_open_loop_observation_is_the_first_state_and_the_time) {
  af_env *closed = make("{\"randomize\": false}"), *open = make("{\"randomize\": false, \"loop\": \"open\"}");
  const int n = af_env_get_spec(closed)->obs_dim;
  cr_assert_eq(n, OBS_HAND + OBS_SLOT * MAX_OBJ);
  cr_assert_eq(af_env_get_spec(open)->obs_dim, n + 1);
  float oc[256], oo[256], first[256], a[5] = {0.5f, -0.3f, -1, 0.2f, 1}, r;
  int te = 0, tr = 0;
  af_info info;
  af_env_reset(closed, 21, oc);
  af_env_reset(open, 21, oo);
  cr_assert(memcmp(oc, oo, sizeof(float) * (size_t)n) == 0, "the first observation is the live one");
  cr_assert_eq(oo[n], 0.0f);
  memcpy(first, oo, sizeof(float) * (size_t)n);
  size_t sz = af_env_state_size(open);
  unsigned char *snap = malloc(sz);
  cr_assert(snap);
  float later[256];
  for (int t = 1; t <= 6; t++) {
    cr_assert_eq(af_env_step(closed, a, oc, &r, &te, &tr, &info), AF_OK);
    cr_assert_eq(af_env_step(open, a, oo, &r, &te, &tr, &info), AF_OK);
    cr_assert(memcmp(oo, first, sizeof(float) * (size_t)n) == 0, "step %d: the open-loop observation changed", t);
    cr_assert_float_eq(oo[n], t / 20.0f, 1e-7f);
    if (t == 3) cr_assert_eq(af_env_get_state(open, snap, sz), AF_OK);
    if (t == 4) memcpy(later, oo, sizeof(float) * (size_t)(n + 1));
  }
  cr_assert(memcmp(oc, first, sizeof(float) * OBS_HAND) != 0, "the hand moved in the closed-loop observation");
  // another episode, then back to step 3: the next step observes the first episode's start
  af_env_reset(open, 99, oo);
  cr_assert(memcmp(oo, first, sizeof(float) * (size_t)n) != 0, "another seed, another start");
  cr_assert_eq(af_env_set_state(open, snap, sz), AF_OK);
  cr_assert_eq(af_env_step(open, a, oo, &r, &te, &tr, &info), AF_OK);
  cr_assert(memcmp(oo, later, sizeof(float) * (size_t)(n + 1)) == 0, "the snapshot did not restore the first observation");
  free(snap);
  af_env_free(closed);
  af_env_free(open);
}

Test(bin_grasp, the_hand_frame_gives_object_positions_relative_to_the_grip_site) {
  af_env *world = make(NULL), *hand = make("{\"object_frame\": \"hand\"}");
  const int n = af_env_get_spec(world)->obs_dim;
  cr_assert_eq(af_env_get_spec(hand)->obs_dim, n);
  float ow[256], oh[256], a[5] = {0.6f, -0.4f, -0.8f, 0.3f, 0.5f}, r;
  int te = 0, tr = 0;
  af_info info;
  af_env_reset(world, 33, ow);
  af_env_reset(hand, 33, oh);
  for (int t = 0; t < 5; t++) {
    // the grip site and each object's free-joint position, read off MuJoCo's data
    const mjtNum *grip = hand->d->site_xpos + 3 * mj_name2id(hand->m, mjOBJ_SITE, "arm_grip");
    for (int i = 0; i < MAX_OBJ; i++) {
      const float *pw = ow + OBS_HAND + OBS_SLOT * i, *ph = oh + OBS_HAND + OBS_SLOT * i;
      char name[16];
      snprintf(name, sizeof name, "obj%d", i);
      int body = mj_name2id(hand->m, mjOBJ_BODY, name);
      cr_assert_geq(body, 0);
      const mjtNum *q = hand->d->qpos + hand->m->jnt_qposadr[hand->m->body_jntadr[body]];
      for (int k = 0; k < 3; k++) {
        float want = i < 5 ? (float)(q[k] - grip[k]) : 0.0f;
        cr_assert_float_eq(ph[k], want, 1e-6f, "step %d slot %d axis %d: %g, object minus hand %g", t, i, k, ph[k], want);
        if (i < 5) cr_assert_float_eq(pw[k], (float)q[k], 1e-6f);
      }
      cr_assert(memcmp(pw + 3, ph + 3, sizeof(float) * (OBS_SLOT - 3)) == 0, "slot %d: only the position changes", i);
    }
    cr_assert(memcmp(ow, oh, sizeof(float) * OBS_HAND) == 0, "the hand's own entries are the same");
    cr_assert_eq(af_env_step(world, a, ow, &r, &te, &tr, &info), AF_OK);
    cr_assert_eq(af_env_step(hand, a, oh, &r, &te, &tr, &info), AF_OK);
  }
  af_env_free(world);
  af_env_free(hand);
}

// nearest first: the same object blocks as in slot order, permuted so that their horizontal
// distances from the hand never decrease
Test(bin_grasp, the_nearest_order_lists_the_objects_by_distance_from_the_hand) {
  af_env *slot = make("{\"object_frame\": \"hand\"}"), *near = make("{\"object_frame\": \"hand\", \"object_order\": \"nearest\"}");
  float os[256], on[256], a[5] = {0.8f, 0.5f, -0.6f, 0.2f, 1}, r;
  int te = 0, tr = 0, reordered = 0;
  af_info info;
  af_env_reset(slot, 8, os);
  af_env_reset(near, 8, on);
  for (int t = 0; t < 6; t++) {
    cr_assert(memcmp(os, on, sizeof(float) * OBS_HAND) == 0);
    int used[MAX_OBJ] = {0};
    double last = -1;
    for (int k = 0; k < MAX_OBJ; k++) {
      const float *pn = on + OBS_HAND + OBS_SLOT * k;
      if (k >= 5) {
        for (int j = 0; j < OBS_SLOT; j++) cr_assert_eq(pn[j], 0.0f);
        continue;
      }
      double dk = hypot(pn[0], pn[1]);
      cr_assert_geq(dk, last, "step %d: block %d at %g after %g", t, k, dk, last);
      last = dk;
      // the slot this block came from, used once
      int from = -1;
      for (int i = 0; i < 5; i++)
        if (!used[i] && memcmp(os + OBS_HAND + OBS_SLOT * i, pn, sizeof(float) * OBS_SLOT) == 0) from = i;
      cr_assert_geq(from, 0, "step %d: block %d is no slot's", t, k);
      used[from] = 1;
      reordered += from != k;
    }
    cr_assert_eq(af_env_step(slot, a, os, &r, &te, &tr, &info), AF_OK);
    cr_assert_eq(af_env_step(near, a, on, &r, &te, &tr, &info), AF_OK);
  }
  cr_assert_gt(reordered, 0, "the order never differed from the slots'");
  af_env_free(slot);
  af_env_free(near);
}

// auto_grasp: the scripted approach with the gripper always commanded open succeeds only when
// the environment closes and lifts by itself; a hand that stays high never triggers it, and a
// hand driven straight down ends the episode at the first step that leaves it low, closed and
// lifted at least lift_height
Test(bin_grasp, the_automatic_close_and_lift_grasps_what_the_open_hand_reaches) {
  af_env *plain = make(NULL), *autog = make("{\"auto_grasp\": true}");
  af_env *envs[2] = {plain, autog};
  int wins[2] = {0, 0};
  for (int k = 0; k < 2; k++)
    for (int ep = 0; ep < 20; ep++) {
      float obs[256], a[5], r;
      int te = 0, tr = 0;
      af_info info;
      af_env_reset(envs[k], af_seed_derive(77, (uint64_t)ep), obs);
      while (!te && !tr) {
        cr_assert_eq(af_env_scripted_action(envs[k], a), AF_OK);
        a[4] = 1;  // never close
        cr_assert_eq(af_env_step(envs[k], a, obs, &r, &te, &tr, &info), AF_OK);
      }
      wins[k] += info.episode.success > 0;
      // with auto_grasp every episode the hand went low in ends terminated, failed or not
      if (k == 1 && !info.episode.success) cr_assert(te || info.episode.length == 20);
    }
  cr_assert_eq(wins[0], 0, "the open hand lifted something %d times without the automatic grasp", wins[0]);
  cr_assert_geq(wins[1], 14, "automatic close-and-lift: %d/20 successes", wins[1]);
  // a hand kept high: the whole horizon, never terminated
  float obs[256], r, hold[5] = {0, 0, 0, 0, 1}, down[5] = {0, 0, -1, 0, 1};
  int te = 0, tr = 0, t = 0;
  af_info info;
  af_env_reset(autog, 5, obs);
  while (!te && !tr) { af_env_step(autog, hold, obs, &r, &te, &tr, &info); t++; }
  cr_assert(!te && tr && t == 20);
  // straight down: ends at the first step that leaves the grip site at or below 3 cm
  af_env_reset(autog, 5, obs);
  te = tr = 0;
  float z_before = obs[2];
  for (t = 0; !te && !tr; t++) {
    z_before = obs[2];
    af_env_step(autog, down, obs, &r, &te, &tr, &info);
    if (!te) cr_assert_gt(obs[2], 0.03f, "step %d left the hand at %g without a grasp", t, obs[2]);
  }
  cr_assert(te && t < 20, "terminated %d at step %d", te, t);
  cr_assert_gt(z_before, 0.03f);
  // after the grasp: the fingers closed (or on an object) and the hand lifted
  cr_assert_lt(obs[5], 0.07f, "opening %g", obs[5]);
  cr_assert_gt(obs[2], 0.03f + 0.1f - 0.02f, "the hand rose to %g", obs[2]);
  af_env_free(plain);
  af_env_free(autog);
}

Test(bin_grasp, config_and_spaces) {
  af_env *e = make("{\"objects\": 3}");
  const af_env_spec *s = af_env_get_spec(e);
  cr_assert_eq(s->obs_dim, OBS_HAND + OBS_SLOT * MAX_OBJ);
  cr_assert_eq(s->act_dim, 5, "dx, dy, dz, yaw rate, gripper");
  cr_assert_eq(s->goal_dim, 0);
  cr_assert_eq(s->horizon, 20);
  cr_assert_float_eq(s->control_hz, 10, 0);
  float obs[256];
  af_env_reset(e, 1, obs);
  int present = 0;
  for (int i = 0; i < MAX_OBJ; i++) present += obs[OBS_HAND + OBS_SLOT * i + 15] == 1;
  cr_assert_eq(present, 3);
  af_env_free(e);
  char err[256];
  cr_assert_null(af_env_make("bin_grasp", "{\"objects\": 9}", err, sizeof err));
  cr_assert(strstr(err, "objects: 9 is out of range") != NULL, "%s", err);
  cr_assert_null(af_env_make("bin_grasp", "{\"reward\": \"dense\"}", err, sizeof err));
  cr_assert(strstr(err, "sparse|shaped") != NULL, "%s", err);
}

// half-extent of a slot along world direction u, from its observation alone: quaternion,
// half-extents along its own axes and shape one-hot (box, cylinder, capsule, sphere, ellipsoid)
static double obs_extent(const float *p, const double u[3]) {
  double q[4] = {p[3], p[4], p[5], p[6]}, v[3];
  double nq = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  for (int k = 0; k < 4; k++) q[k] /= nq;
  // v = R' u, R from the unit quaternion (w, x, y, z)
  double R[9] = {1 - 2 * (q[2] * q[2] + q[3] * q[3]), 2 * (q[1] * q[2] - q[0] * q[3]), 2 * (q[1] * q[3] + q[0] * q[2]),
                 2 * (q[1] * q[2] + q[0] * q[3]), 1 - 2 * (q[1] * q[1] + q[3] * q[3]), 2 * (q[2] * q[3] - q[0] * q[1]),
                 2 * (q[1] * q[3] - q[0] * q[2]), 2 * (q[2] * q[3] + q[0] * q[1]), 1 - 2 * (q[1] * q[1] + q[2] * q[2])};
  for (int k = 0; k < 3; k++) v[k] = R[k] * u[0] + R[3 + k] * u[1] + R[6 + k] * u[2];
  const float *s = p + 7;
  if (p[10]) return s[0] * fabs(v[0]) + s[1] * fabs(v[1]) + s[2] * fabs(v[2]);
  if (p[11]) return s[0] * sqrt(fmax(0, 1 - v[2] * v[2])) + s[2] * fabs(v[2]);
  if (p[12]) return s[0] + (s[2] - s[0]) * fabs(v[2]);
  if (p[13]) return s[0];
  return sqrt(s[0] * s[0] * v[0] * v[0] + s[1] * s[1] * v[1] * v[1] + s[2] * s[2] * v[2] * v[2]);
}

Test(bin_grasp, success_examples_are_settled_grasps) {
  af_env *e = make(NULL), *ref = make(NULL);
  enum { K = 10, N = OBS_HAND + OBS_SLOT * MAX_OBJ };
  float ex[K * N], obs0[N];
  cr_assert_eq(af_env_success_examples(e, 5, K, ex), AF_OK, "%s", af_env_last_error(e));
  int held = -1;
  for (int k = 0; k < K; k++) {
    const float *o = ex + k * N;
    // the held object: the one whose centre is between the pads, in the hand's frame (the
    // fingers close along (-sin yaw, cos yaw), the grip site 1 cm above the fingertips)
    double across_dir[3] = {-o[3], o[4], 0}, along_dir[3] = {-o[4], -o[3], 0};
    held = -1;
    for (int i = 0; i < 5; i++) {
      const float *p = o + OBS_HAND + OBS_SLOT * i;
      double r[3] = {p[0] - o[0], p[1] - o[1], p[2] - o[2]};
      double across = r[0] * across_dir[0] + r[1] * across_dir[1], along = r[0] * along_dir[0] + r[1] * along_dir[1];
      if (fabs(across) < 0.01 && fabs(along) < 0.02 && r[2] > -0.045 && r[2] < 0.06) {
        cr_assert_eq(held, -1, "example %d: two objects in the hand", k);
        held = i;
      }
    }
    cr_assert_geq(held, 0, "example %d: no object between the pads", k);
    // the pads closed on it: the opening is its width across them, less the give of the soft
    // contacts (1-13 mm, most for a cylinder, which turns a little in the grip)
    const float *p = o + OBS_HAND + OBS_SLOT * held;
    double width = 2 * obs_extent(p, across_dir);
    cr_assert(o[5] < width && o[5] > width - 0.016, "example %d: opening %g, object %g wide", k, o[5], width);
    // lifted 10 cm above where it rested: the reset this example came from (the first of its
    // draws with the same clutter) has it at rest
    int found = 0;
    for (int t = 0; t < 20 && !found; t++) {
      af_env_reset(ref, af_seed_derive(af_seed_derive(5, 0xE8A3), (uint64_t)(k * 64 + t)), obs0);
      found = 1;
      for (int i = 0; i < 5 && found; i++) found = memcmp(obs0 + OBS_HAND + OBS_SLOT * i + 7, o + OBS_HAND + OBS_SLOT * i + 7, 8 * sizeof(float)) == 0;
    }
    cr_assert(found, "example %d: no reset has this clutter", k);
    double rest = obs0[OBS_HAND + OBS_SLOT * held + 2];
    cr_assert_geq(p[2] - rest, 0.1, "example %d: lifted %g", k, p[2] - rest);
    // the rest of the clutter stays in the bin
    for (int i = 0; i < 5; i++) {
      const float *q = o + OBS_HAND + OBS_SLOT * i;
      if (i != held) cr_assert(q[0] > 0.36 && q[0] < 0.60 && q[1] > -0.15 && q[1] < 0.15 && q[2] < 0.1, "example %d: slot %d left the bin", k, i);
    }
    if (k > 0) cr_assert(memcmp(o, o - N, sizeof(float) * N) != 0);
  }
  // the last example's state: both finger pads touch the held object, which at most creeps
  // down the pads (the soft contacts let a cylinder slip up to about 3 cm/s)
  cr_assert(held_by_hand(e, held));
  int b = e->m->geom_bodyid[slot_geom(e, held)];
  const mjtNum *v = e->d->qvel + e->m->jnt_dofadr[e->m->body_jntadr[b]];
  cr_assert_lt(sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]), 0.05, "the held object moves at %g m/s", sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]));
  // reproducibility and the reset that follows: tests/test_env.c, for every environment
  af_env_free(e);
  af_env_free(ref);
}

// the table entry `name` of e, failing the test when there is none
static const af_dr_param *dr_param(const af_env *e, const char *name) {
  for (int i = 0; i < e->dr.n; i++)
    if (strcmp(e->dr.p[i].e->name, name) == 0) return &e->dr.p[i];
  cr_assert_fail("no randomization entry '%s'", name);
  return NULL;
}

Test(bin_grasp, object_shape_size_friction_and_colour_are_listed_in_the_table) {
  const char *bin = getenv("ARMFARM_BIN");
  cr_assert(bin, "ARMFARM_BIN must point at the armfarm program (ctest sets it)");
  char cmd[1024], line[512];
  snprintf(cmd, sizeof cmd, "%s envs bin_grasp", bin);
  FILE *p = popen(cmd, "r");
  cr_assert(p);
  // each object entry on one line: its name, group, training and held-out ranges
  const char *want[5][4] = {{"object_shape", "task", "[0, 5]", "[0, 5]"},
                            {"object_size", "task", "[0.015, 0.028]", "[0.012, 0.034]"},
                            {"object_length", "task", "[0.012, 0.032]", "[0.008, 0.04]"},
                            {"object_friction", "physics", "[0.6, 1.2]", "[0.4, 1.5]"},
                            {"object_rgb", "visual", "[0.1, 0.95]", "[0.02, 1]"}};
  int found[5] = {0};
  while (fgets(line, sizeof line, p))
    for (int k = 0; k < 5; k++) {
      char name[40];
      snprintf(name, sizeof name, " %s ", want[k][0]);
      if (!strstr(line, name)) continue;
      const char *tr = strstr(line, want[k][2]), *ev = tr ? strstr(tr + strlen(want[k][2]), want[k][3]) : NULL;
      cr_assert(strstr(line, want[k][1]) && tr && ev && strstr(line, "obj0,obj1"), "%s: %s", want[k][0], line);
      found[k] = 1;
    }
  cr_assert_eq(pclose(p), 0);
  for (int k = 0; k < 5; k++) cr_assert(found[k], "armfarm envs bin_grasp does not list %s", want[k][0]);
}

// slot i's geom agrees with the table's draws (shape, size, friction, colour); its shape out
static void check_slot(const af_env *e, int i, int *shape_out) {
  const char *names[4] = {"object_shape", "object_size", "object_length", "object_friction"};
  int g = slot_geom(e, i);
  cr_assert_geq(g, 0);
  const mjtNum *sz = e->m->geom_size + 3 * g;
  double kd = af_dr_value(&e->dr, names[0], i, 0), w[3], len = af_dr_value(&e->dr, names[2], i, 0);
  for (int j = 0; j < 3; j++) w[j] = af_dr_value(&e->dr, names[1], i, j);
  cr_assert(!isnan(kd) && !isnan(w[0]) && !isnan(len), "slot %d: shape and size are not drawn from the table", i);
  static const int types[5] = {mjGEOM_BOX, mjGEOM_CYLINDER, mjGEOM_CAPSULE, mjGEOM_SPHERE, mjGEOM_ELLIPSOID};
  int k = (int)floor(kd);
  cr_assert_eq(e->m->geom_type[g], types[k], "slot %d: shape draw %g, geom type %d", i, kd, e->m->geom_type[g]);
  *shape_out = k;
  cr_assert_float_eq(sz[0], w[0], 1e-12);
  if (k == 0 || k == 4) { cr_assert_float_eq(sz[1], w[1], 1e-12); cr_assert_float_eq(sz[2], w[2], 1e-12); }
  if (k == 1 || k == 2) cr_assert_float_eq(sz[1], len, 1e-12);
  cr_assert_float_eq(e->m->geom_friction[3 * g], af_dr_value(&e->dr, names[3], i, 0), 1e-12);
  for (int j = 0; j < 3; j++) cr_assert_float_eq(e->m->geom_rgba[4 * g + j], af_dr_value(&e->dr, "object_rgb", i, j), 1e-6);
}

Test(bin_grasp, evaluation_mode_draws_objects_from_the_held_out_ranges) {
  const char *names[4] = {"object_size", "object_length", "object_friction", "object_rgb"};
  for (int eval = 0; eval <= 1; eval++) {
    af_env *e = make(eval ? "{\"randomize\": {\"eval\": true}}" : NULL);
    float obs[256];
    int outside[4] = {0}, shapes[5] = {0};
    for (uint64_t seed = 0; seed < 24; seed++) {
      af_env_reset(e, seed, obs);
      for (int i = 0; i < 5; i++) {
        int k;
        check_slot(e, i, &k);
        shapes[k]++;
        for (int n = 0; n < 4; n++) {
          const af_dr_param *p = dr_param(e, names[n]);
          double lo = eval ? p->eval_lo : p->lo, hi = eval ? p->eval_hi : p->hi;
          for (int c = 0; c < p->dim; c++) {
            double x = af_dr_value(&e->dr, names[n], i, c);
            cr_assert(x >= lo && x <= hi, "%s %s draw %g outside [%g, %g]", eval ? "eval" : "train", names[n], x, lo, hi);
            outside[n] += x < p->lo || x > p->hi;
          }
        }
      }
    }
    for (int n = 0; n < 4; n++) {
      const af_dr_param *p = dr_param(e, names[n]);
      cr_assert(p->eval_lo < p->lo && p->eval_hi > p->hi, "%s: the held-out range is not wider than the training one", names[n]);
      if (eval) cr_assert_gt(outside[n], 0, "evaluation mode never drew %s outside its training range", names[n]);
      else cr_assert_eq(outside[n], 0);
    }
    for (int k = 0; k < 5; k++) cr_assert_gt(shapes[k], 0, "shape %d never drawn", k);
    af_env_free(e);
  }
}

Test(bin_grasp, object_draws_follow_group_switches_and_overrides) {
  // physics and visual off: the asset's friction and colours, shapes and sizes still drawn
  // (task parameters), and exactly as with everything on
  af_env *on = make(NULL), *off = make("{\"randomize\": {\"physics\": false, \"visual\": false}}");
  float obs[256];
  af_env_reset(on, 3, obs);
  af_env_reset(off, 3, obs);
  for (int i = 0; i < 5; i++) {
    int g = slot_geom(off, i);
    cr_assert_eq(slot_geom(on, i), g);
    cr_assert_eq(off->m->geom_friction[3 * g], off->m0->geom_friction[3 * g]);
    cr_assert_eq(off->m->geom_friction[3 * g], 0.9);
    cr_assert(memcmp(off->m->geom_rgba + 4 * g, off->m0->geom_rgba + 4 * g, 3 * sizeof(float)) == 0);
    cr_assert(memcmp(off->m->geom_size + 3 * g, on->m->geom_size + 3 * g, 3 * sizeof(mjtNum)) == 0);
  }
  af_env_free(on);
  af_env_free(off);
  // a range given in the config rules: only spheres of radius 2.5 cm, friction 0.5
  af_env *e = make("{\"randomize\": {\"object_shape\": [3, 3.5], \"object_size\": [0.025, 0.025], \"object_friction\": [0.5, 0.5]}}");
  af_env_reset(e, 1, obs);
  for (int i = 0; i < 5; i++) {
    int g = slot_geom(e, i);
    cr_assert_eq(e->m->geom_type[g], mjGEOM_SPHERE);
    cr_assert_float_eq(e->m->geom_size[3 * g], 0.025, 1e-15);
    cr_assert_float_eq(e->m->geom_friction[3 * g], 0.5, 1e-15);
  }
  af_env_free(e);
}
