// Cloth draping: the scripted drape proves the task and its success test; coverage and hang
// are checked against values worked out by hand on constructed cloth poses; the clips carry
// the drawn cloth mass; releasing lets go of the cloth; solved states stay solved.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "envs/env_impl.h"
#include "tests/env_test.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define N 7                   // nodes per side in the asset
#define SIDE 0.28             // cloth side at cloth_size's default (m)
#define S (SIDE / (N - 1))    // node spacing (m)
#define R 0.008               // node sphere radius (m)

// the box of the constructed states: centre (0.56, 0), half sizes 5 cm, 6 cm tall
#define FIXED_BOX "\"box_x\": [0.56, 0.56], \"box_y\": [0, 0], \"box_hx\": [0.05, 0.05], \"box_hy\": [0.05, 0.05], \"box_hz\": [0.03, 0.03]"
#define TOP 0.06

static af_env *make(const char *cfg) { return test_env("cloth_drape", cfg); }

Test(cloth_drape, scripted_drape_succeeds_with_randomization_on) {
  af_env *e = make(NULL);
  cr_assert(e->dr.enabled && e->dr.group_on[AF_DR_PHYSICS] && e->dr.group_on[AF_DR_ACTUATION] && e->dr.group_on[AF_DR_VISUAL]);
  int wins = 0;
  for (int ep = 0; ep < 20; ep++) {
    af_info info = scripted_episode(e, af_seed_derive(2024, (uint64_t)ep));
    cr_assert_eq(info.episode.diverged, 0, "episode %d diverged: %s", ep, af_env_last_error(e));
    wins += info.episode.success > 0;
  }
  cr_assert_geq(wins, 14, "scripted drape: %d/20 successes, need at least 70%%", wins);
  af_env_free(e);
}

// the cloth's root (node CB3_3, the centre) at (x, y, z), level, turned by yaw about z; every
// hinge straight, nothing moving; positions follow by kinematics
static void pose_cloth(af_env *e, double x, double y, double z, double yaw) {
  int root = mj_name2id(e->m, mjOBJ_JOINT, "cloth");
  cr_assert_geq(root, 0);
  mjtNum *q = e->d->qpos + e->m->jnt_qposadr[root];
  q[0] = x; q[1] = y; q[2] = z;
  q[3] = cos(yaw / 2); q[4] = 0; q[5] = 0; q[6] = sin(yaw / 2);
  for (int j = 0; j < e->m->njnt; j++)
    if (e->m->jnt_type[j] == mjJNT_HINGE && mj_id2name(e->m, mjOBJ_JOINT, j)[0] == 'C') e->d->qpos[e->m->jnt_qposadr[j]] = 0;
  mju_zero(e->d->qvel, e->m->nv);
  mj_kinematics(e->m, e->d);
}

static const mjtNum *node(const af_env *e, int i, int j) {
  char name[16];
  snprintf(name, sizeof name, "CB%d_%d", i, j);
  int b = mj_name2id(e->m, mjOBJ_BODY, name);
  cr_assert_geq(b, 0);
  return e->d->xpos + 3 * b;
}

// the environment's verdict on the current state: reward, success, coverage and hang
static float judge(af_env *e, int *success, double *coverage, double *hang) {
  float a[4] = {0}, m[AF_MAX_METRICS];
  int term;
  float r = e->def->reward(e, a, success, &term);
  e->def->metrics(e, m);
  *coverage = m[0];
  *hang = m[2];
  return r;
}

Test(cloth_drape, coverage_and_hang_match_hand_computation) {
  af_env *e = make("{\"randomize\": {\"physics\": false, \"actuation\": false, " FIXED_BOX "}}");
  float obs[64];
  int success;
  double cov, hang;
  af_env_reset(e, 1, obs);
  // the box as drawn: top face x in [0.51, 0.61], y in [-0.05, 0.05] at z = 0.06; samples at
  // the centres of 5 x 5 cells: x in {0.52, 0.54, 0.56, 0.58, 0.60}, y in {-0.04, ..., 0.04}
  cr_assert_float_eq(obs[11], 0.56, 1e-6);
  cr_assert_float_eq(obs[13], TOP, 1e-6);
  cr_assert_float_eq(obs[14], 0.05, 1e-6);

  // the initial state: flat on the table on the arm's side, nothing covered, nothing hangs
  float r = judge(e, &success, &cov, &hang);
  cr_assert_eq(cov, 0);
  cr_assert_eq(hang, 0);
  cr_assert_eq(success, 0);
  cr_assert_eq(r, 0);

  // A: lying level on the top (node centres one radius above it), centred: footprint x in
  // [0.42, 0.70], y in [-0.14, 0.14] holds every sample; the nodes past the far face are level
  // with the top, not hanging
  pose_cloth(e, 0.56, 0, TOP + R, 0);
  cr_assert_float_eq(node(e, 0, 0)[0], 0.42, 1e-9);
  cr_assert_float_eq(node(e, 6, 6)[1], 0.14, 1e-9);
  r = judge(e, &success, &cov, &hang);
  cr_assert_float_eq(cov, 1.0, 1e-6);
  cr_assert_float_eq(hang, 0, 1e-6);
  cr_assert_eq(success, 0, "no cloth hangs on the far side");
  cr_assert_float_eq(r, 1.0, 1e-6, "dense reward: the coverage gained (1)");

  // B: its far edge at x = 0.57: the samples at x = 0.52, 0.54, 0.56 are covered: 15/25
  pose_cloth(e, 0.57 - 3 * S, 0, TOP + R, 0);
  r = judge(e, &success, &cov, &hang);
  cr_assert_float_eq(cov, 0.6, 1e-6);
  cr_assert_float_eq(r, -0.4, 1e-6, "dense reward: the coverage lost");

  // C: as B, and its near side edge at y = -0.03: 3 columns x 4 rows (y = -0.02 ... 0.04)
  pose_cloth(e, 0.57 - 3 * S, -0.03 + 3 * S, TOP + R, 0);
  judge(e, &success, &cov, &hang);
  cr_assert_float_eq(cov, 12.0 / 25, 1e-6);

  // D: turned 45 degrees about the box's centre: a diamond reaching 0.198 m from it holds
  // the whole face (its corners are 0.071 m from the centre)
  pose_cloth(e, 0.56, 0, TOP + R, M_PI / 4);
  judge(e, &success, &cov, &hang);
  cr_assert_float_eq(cov, 1.0, 1e-6);

  // E: hovering 4 cm above the top: not resting on it, so nothing is covered
  pose_cloth(e, 0.56, 0, TOP + 0.04, 0);
  judge(e, &success, &cov, &hang);
  cr_assert_eq(cov, 0);

  // F: flat on the table beside the box (y from 0.07), its edge row i = 6 alone beyond the
  // far face (x = 0.62): 7 nodes hang, 7/7; 2 cm back (x = 0.60) none
  pose_cloth(e, 0.62 - 3 * S, 0.07 + 3 * S, R, 0);
  judge(e, &success, &cov, &hang);
  cr_assert_float_eq(hang, 1.0, 1e-6);
  cr_assert_eq(cov, 0);
  cr_assert_eq(success, 0, "hanging without covering is no success");
  pose_cloth(e, 0.60 - 3 * S, 0.07 + 3 * S, R, 0);
  judge(e, &success, &cov, &hang);
  cr_assert_eq(hang, 0);
  // ... and turned by 0.25 rad about its centre node: node (i, j) at x = 0.48 + (i - 3) S cos
  // 0.25 - (j - 3) S sin 0.25, so row 6 reaches 0.650, 0.639, 0.627, 0.616 for j = 0..3 and
  // 0.604 for j = 4, row 5 at most 0.605: 4 nodes beyond x = 0.61, 4/7
  pose_cloth(e, 0.62 - 3 * S, 0.09 + 3 * S, R, 0.25);
  int beyond = 0;
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      double x = 0.62 - 3 * S + (i - 3) * S * cos(0.25) - (j - 3) * S * sin(0.25);
      cr_assert_float_eq(node(e, i, j)[0], x, 1e-9);
      beyond += x > 0.61;
    }
  cr_assert_eq(beyond, 4);
  judge(e, &success, &cov, &hang);
  cr_assert_float_eq(hang, 4.0 / 7, 1e-6);

  // G: draped: rows 0..5 level on the top with row 5 at x = 0.615 just past the far edge,
  // row 6 folded straight down about row 5 (CB6_3's spine hinge, at CB5_3, to +pi/2), to
  // z = 0.068 - S = 0.0213, below half the box's height: covered 25/25, 7 nodes hang: success
  pose_cloth(e, 0.615 - 2 * S, 0, TOP + R, 0);
  int fold = mj_name2id(e->m, mjOBJ_JOINT, "CJ0_6_3");
  cr_assert_geq(fold, 0);
  cr_assert_float_eq(e->m->jnt_axis[3 * fold + 1], 1, 1e-12, "CJ0_6_3 turns about y");
  e->d->qpos[e->m->jnt_qposadr[fold]] = M_PI / 2;
  mj_kinematics(e->m, e->d);
  for (int j = 0; j < N; j++) {
    cr_assert_float_eq(node(e, 6, j)[0], 0.615, 1e-9);
    cr_assert_float_eq(node(e, 6, j)[2], TOP + R - S, 1e-9);
  }
  judge(e, &success, &cov, &hang);
  cr_assert_float_eq(cov, 1.0, 1e-6);
  cr_assert_float_eq(hang, 1.0, 1e-6);
  cr_assert_eq(success, 1);
  af_env_free(e);
}

// the draped pose G of the test above, moved sideways so that the cloth's side edge lies at
// y = 0.03: the samples at y = 0.04 are bare (20/25 covered), the folded row still hangs
static void draped_short(af_env *e) {
  pose_cloth(e, 0.615 - 2 * S, 0.03 - 3 * S, TOP + R, 0);
  e->d->qpos[e->m->jnt_qposadr[mj_name2id(e->m, mjOBJ_JOINT, "CJ0_6_3")]] = M_PI / 2;
  mj_kinematics(e->m, e->d);
}

Test(cloth_drape, success_needs_the_coverage_threshold) {
  float obs[64];
  int success;
  double cov, hang;
  for (int k = 0; k < 2; k++) {
    // success_coverage 0.8 (the default) and 0.9, sparse rewards
    af_env *e = make(k == 0 ? "{\"reward\": \"sparse\", \"randomize\": {\"physics\": false, " FIXED_BOX "}}"
                            : "{\"reward\": \"sparse\", \"success_coverage\": 0.9, \"randomize\": {\"physics\": false, " FIXED_BOX "}}");
    af_env_reset(e, 1, obs);
    draped_short(e);
    float r = judge(e, &success, &cov, &hang);
    cr_assert_float_eq(cov, 20.0 / 25, 1e-6, "coverage %g", cov);
    cr_assert_float_eq(hang, 1, 1e-6);
    cr_assert_eq(success, k == 0, "coverage 0.8 against success_coverage %s", k == 0 ? "0.8" : "0.9");
    cr_assert_eq(r, k == 0 ? 1.0f : 0.0f, "sparse: 1 with success, else 0");
    af_env_free(e);
  }
}

Test(cloth_drape, no_success_in_the_initial_state_or_standing_still) {
  af_env *e = make(NULL);
  float obs[64], a[4] = {0, 0, 0, -1}, r;
  int te, tr;
  af_info info;
  for (int ep = 0; ep < 3; ep++) {
    af_env_reset(e, (uint64_t)ep, obs);
    int success;
    double cov, hang;
    judge(e, &success, &cov, &hang);
    cr_assert_eq(success, 0);
    cr_assert_eq(cov, 0);
    // the whole cloth starts on the arm's side of the box
    for (int k = 0; k < 9; k++) cr_assert_lt(obs[17 + 3 * k], obs[11] - obs[14]);
    for (int t = 0; t < 8; t++) {
      af_env_step(e, a, obs, &r, &te, &tr, &info);
      cr_assert_eq(info.success, 0);
      cr_assert_eq(r, 0.0f, "nothing changes, no reward");
    }
  }
  af_env_free(e);
}

// the mean upward force the clips put on a cloth hanging from the raised bar (N)
static double clip_load(const char *cfg, double *mass) {
  af_env *e = make(cfg);
  float obs[64], a[4] = {0, 0, 0, -1}, r;
  int te, tr;
  af_env_reset(e, 1, obs);
  int clip[2] = {mj_name2id(e->m, mjOBJ_EQUALITY, "clip_a"), mj_name2id(e->m, mjOBJ_EQUALITY, "clip_b")};
  *mass = 0;
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      char name[16];
      snprintf(name, sizeof name, "CB%d_%d", i, j);
      *mass += e->m->body_mass[mj_name2id(e->m, mjOBJ_BODY, name)];
    }
  // raise the hand to 0.4 m (the cloth hangs clear of the table), hold 2 s, average 1 s
  double sum = 0;
  for (int t = 0; t < 30; t++) {
    double dz = (0.4 - obs[2]) / 0.05;
    a[2] = (float)(dz > 1 ? 1 : dz < -1 ? -1 : dz);
    af_env_step(e, a, obs, &r, &te, &tr, NULL);
    if (t < 20) continue;
    // a connect's three rows are the world x, y, z of the force on the cloth's corner
    for (int i = 0; i + 2 < e->d->nefc; i++)
      if (e->d->efc_type[i] == mjCNSTR_EQUALITY && (e->d->efc_id[i] == clip[0] || e->d->efc_id[i] == clip[1])) {
        sum += e->d->efc_force[i + 2];
        i += 2;
      }
  }
  cr_assert(obs[17 + 3 * 4 + 2] > 0.02, "the cloth hangs clear of the table");
  af_env_free(e);
  return sum / 10;
}

Test(cloth_drape, drawn_cloth_mass_is_the_weight_on_the_clips) {
  // 49 nodes of 1 g at scales 0.5 and 2: the clips hold the hanging cloth's weight, m g
  double m1, m2;
  double f1 = clip_load("{\"randomize\": {\"cloth_mass\": [0.5, 0.5]}}", &m1);
  double f2 = clip_load("{\"randomize\": {\"cloth_mass\": [2, 2]}}", &m2);
  cr_assert_float_eq(m1, 0.5 * 0.049, 1e-9);
  cr_assert_float_eq(m2, 2 * 0.049, 1e-9);
  cr_assert_float_eq(f1, m1 * 9.81, 0.02 * m1 * 9.81, "clip load %g N, weight %g N", f1, m1 * 9.81);
  cr_assert_float_eq(f2, m2 * 9.81, 0.02 * m2 * 9.81, "clip load %g N, weight %g N", f2, m2 * 9.81);
}

// how far out the ends of the cloth's middle rib (nodes CB3_0 and CB3_6) stand after the
// cloth, released level over the middle of an 8 x 10 x 8 cm box, settles for 2 s: the flaps
// over the box's sides fold about the ribs' hinges
static double flap_reach(const char *bending) {
  char cfg[512];
  snprintf(cfg, sizeof cfg, "{\"randomize\": {\"cloth_bending\": [%s, %s], \"cloth_mass\": [1, 1], \"cloth_damping\": [1, 1], "
           "\"cloth_friction\": [1, 1], \"cloth_size\": [1, 1], \"box_x\": [0.56, 0.56], \"box_y\": [0, 0], \"box_hx\": [0.04, 0.04], "
           "\"box_hy\": [0.05, 0.05], \"box_hz\": [0.04, 0.04]}}", bending, bending);
  af_env *e = make(cfg);
  float obs[44], r, a[4] = {0, 0, 1, 1};
  int te, tr;
  af_env_reset(e, 1, obs);
  pose_cloth(e, 0.56, 0, 0.08 + R + 0.001, 0);
  for (int t = 0; t < 20; t++) {
    af_env_step(e, a, obs, &r, &te, &tr, NULL);
    a[2] = 0;  // the hand rises once, the gripper stays open
  }
  double y = 0.5 * (node(e, 3, N - 1)[1] - node(e, 3, 0)[1]);
  af_env_free(e);
  return y;
}

Test(cloth_drape, drawn_bending_stiffness_holds_the_flaps_out) {
  // a softer cloth's flaps fall against the box's sides, a stiffer one's stand out
  double soft = flap_reach("0.5"), stiff = flap_reach("2");
  cr_assert_gt(stiff - soft, 0.006, "flap ends %g m (bending x0.5) and %g m (x2) from the middle", soft, stiff);
}

Test(cloth_drape, cloth_size_sets_the_spacing_and_the_bar_follows) {
  float obs[64];
  const double sides[2] = {0.22, 0.3};
  for (int k = 0; k < 2; k++) {
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"cloth_size\": %g, \"randomize\": {\"cloth_size\": [1.05, 1.05]}}", sides[k]);
    af_env *e = make(cfg);
    af_env_reset(e, 2, obs);
    double side = 1.05 * sides[k];
    // corners (0,0), (0,l), (l,0), (l,l) of the flat cloth
    cr_assert_float_eq(obs[17 + 3 * 2] - obs[17], side, 2e-3);
    cr_assert_float_eq(obs[17 + 3 * 1 + 1] - obs[17 + 1], side, 2e-3);
    // the clips hold at the start: the held corners under the bar's ends, stretched by nothing
    int bar = mj_name2id(e->m, mjOBJ_GEOM, "bar");
    cr_assert_float_eq(e->m->geom_size[3 * bar + 1], side / 2, 1e-9, "bar half-length %g", e->m->geom_size[3 * bar + 1]);
    for (int i = 0; i < e->d->nefc; i++)
      if (e->d->efc_type[i] == mjCNSTR_EQUALITY) cr_assert_lt(fabs(e->d->efc_pos[i]), 1e-4, "equality row %d violated by %g", i, e->d->efc_pos[i]);
    af_env_free(e);
  }
}

Test(cloth_drape, opening_the_gripper_lets_go_until_the_next_reset) {
  af_env *e = make("{\"randomize\": false}");
  float obs[64], r;
  int te, tr;
  for (int rep = 0; rep < 2; rep++) {
    // lift the bar 25 cm, gripper open in the first run, closed in the second
    float a[4] = {0, 0, 1, rep == 0 ? 1.0f : -1.0f};
    af_env_reset(e, 3, obs);
    cr_assert_eq(obs[10], 0, "held at the start");
    for (int t = 0; t < 6; t++) af_env_step(e, a, obs, &r, &te, &tr, NULL);
    cr_assert_gt(obs[2], 0.25);
    int clip = mj_name2id(e->m, mjOBJ_EQUALITY, "clip_a");
    double zc = 0.5 * (obs[17 + 3 * 2 + 2] + obs[17 + 3 * 3 + 2]);
    if (rep == 0) {
      cr_assert_eq(obs[10], 1);
      cr_assert_eq(e->m->eq_active[clip], 0);
      cr_assert_lt(zc, 0.02, "released corners stay on the table (z %g)", zc);
    } else {
      cr_assert_eq(obs[10], 0);
      cr_assert_eq(e->m->eq_active[clip], 1, "the reset clipped the cloth on again");
      cr_assert_gt(zc, 0.2, "held corners rise with the bar (z %g)", zc);
    }
  }
  af_env_free(e);
}

Test(cloth_drape, observation_layout) {
  af_env *e = make(NULL);
  float obs[64];
  af_env_reset(e, 6, obs);
  const af_env_spec *s = af_env_get_spec(e);
  cr_assert_eq(s->obs_dim, 44);
  cr_assert_eq(s->act_dim, 4);
  cr_assert_eq(s->goal_dim, 0);
  // hand: the grip site; orientation pointing down (unit quaternion); at rest; held
  int site = mj_name2id(e->m, mjOBJ_SITE, "arm_grip");
  for (int k = 0; k < 3; k++) cr_assert_float_eq(obs[k], e->d->site_xpos[3 * site + k], 1e-6);
  cr_assert_float_eq(obs[3] * obs[3] + obs[4] * obs[4] + obs[5] * obs[5] + obs[6] * obs[6], 1, 1e-5);
  for (int k = 7; k < 11; k++) cr_assert_eq(obs[k], 0);
  // box: the drawn centre, top at twice the half-height, the drawn half sizes
  cr_assert_float_eq(obs[11], af_dr_value(&e->dr, "box_x", 0, 0), 1e-6);
  cr_assert_float_eq(obs[12], af_dr_value(&e->dr, "box_y", 0, 0), 1e-6);
  cr_assert_float_eq(obs[13], 2 * af_dr_value(&e->dr, "box_hz", 0, 0), 1e-6);
  cr_assert_float_eq(obs[14], af_dr_value(&e->dr, "box_hx", 0, 0), 1e-6);
  cr_assert_float_eq(obs[15], af_dr_value(&e->dr, "box_hy", 0, 0), 1e-6);
  cr_assert_float_eq(obs[16], af_dr_value(&e->dr, "box_hz", 0, 0), 1e-6);
  // nodes: corners, edge midpoints, centre of the flat cloth, the held edge at x = 0.42
  const int ij[9][2] = {{0, 0}, {0, 6}, {6, 0}, {6, 6}, {0, 3}, {6, 3}, {3, 0}, {3, 6}, {3, 3}};
  for (int k = 0; k < 9; k++) {
    const mjtNum *p = node(e, ij[k][0], ij[k][1]);
    for (int c = 0; c < 3; c++) cr_assert_float_eq(obs[17 + 3 * k + c], p[c], 1e-6);
    cr_assert_float_eq(p[2], R, 2e-3);
  }
  cr_assert_float_eq(obs[17 + 3 * 5], 0.42, 2e-3);
  af_env_free(e);
}

Test(cloth_drape, success_examples_are_settled_drapes) {
  af_env *e = make(NULL);
  const int K = 4, n = 44;
  float ex[4 * 44];
  cr_assert_eq(af_env_success_examples(e, 5, K, ex), AF_OK, "%s", af_env_last_error(e));
  for (int k = 0; k < K; k++) {
    const float *o = ex + k * n;
    double bx = o[11], by = o[12], top = o[13], hx = o[14], hy = o[15];
    // the centre node rests on the top face, the far edge's middle hangs beyond the far face
    const float *c = o + 17 + 3 * 8, *f = o + 17 + 3 * 5;
    cr_assert_lt(fabs(c[0] - bx), hx, "example %d", k);
    cr_assert_lt(fabs(c[1] - by), hy, "example %d", k);
    cr_assert_float_eq(c[2], top + R, 0.01, "example %d: centre at z %g", k, c[2]);
    cr_assert_gt(f[0], bx + hx, "example %d", k);
    cr_assert_lt(f[2], 0.5 * top, "example %d", k);
    cr_assert_eq(o[10], 1, "released");
    if (k > 0) cr_assert(memcmp(o, o - n, sizeof(float) * n) != 0);
  }
  // reproducibility and the reset that follows: tests/test_env.c, for every environment
  af_env_free(e);
}

// the no-vision baseline's state: hand and box only, the same entries as the full observation
Test(cloth_drape, without_the_cloth_the_observation_is_hand_and_box) {
  af_env *full = make("{\"randomize\": false}"), *blind = make("{\"randomize\": false, \"observe_cloth\": false}");
  cr_assert_eq(af_env_get_spec(full)->obs_dim, 44);
  cr_assert_eq(af_env_get_spec(blind)->obs_dim, 17);
  float of[64], ob[64], a[4] = {0.4f, 0.2f, 0.5f, -1}, r;
  int te = 0, tr = 0;
  af_info info;
  af_env_reset(full, 3, of);
  af_env_reset(blind, 3, ob);
  for (int t = 0; t < 5; t++) {
    cr_assert(memcmp(of, ob, sizeof(float) * 17) == 0, "step %d: hand and box differ", t);
    cr_assert_eq(af_env_step(full, a, of, &r, &te, &tr, &info), AF_OK);
    cr_assert_eq(af_env_step(blind, a, ob, &r, &te, &tr, &info), AF_OK);
  }
  af_env_free(full);
  af_env_free(blind);
}

// the cloth is drawn as a surface (the asset's skin over the nodes), and the surface follows
// the nodes whatever the drawn size: for the smallest and largest sides of the held-out range,
// flat and in the middle of a scripted drape, every skin vertex (as MuJoCo's scene update
// computes them for drawing) lies within 1 cm of the nodes' bounding box (the node radius is
// 8 mm; inflation and the subgrid's smoothing reach 8.4 mm here), the box's extent is the
// nodes' (within 1 cm), and every node has a vertex within 1 cm, where a surface made for
// another size would be centimetres off (the sides differ by 22 cm); the skin takes the
// cloth material's colour that the randomization drew
Test(cloth_drape, the_surface_follows_the_nodes_at_every_drawn_size) {
  const double sizes[2] = {0.2 * 0.85, 0.34 * 1.15};
  const char *cfgs[2] = {"{\"cloth_size\": 0.2, \"randomize\": {\"cloth_size\": [0.85, 0.85]}}",
                         "{\"cloth_size\": 0.34, \"randomize\": {\"cloth_size\": [1.15, 1.15]}}"};
  for (int k = 0; k < 2; k++) {
    af_env *e = make(cfgs[k]);
    cr_assert_eq(e->m->nskin, 1, "the cloth has one skin");
    mjvScene scn;
    mjvOption opt;
    mjvCamera cam;
    mjv_defaultScene(&scn);
    mjv_defaultOption(&opt);
    mjv_defaultCamera(&cam);
    mjv_makeScene(e->m, &scn, 2000);
    float obs[64], a[8], r;
    int te = 0, tr = 0;
    af_env_reset(e, 7 + (uint64_t)k, obs);
    // the material's drawn colour is the surface's
    int mat = mj_name2id(e->m, mjOBJ_MATERIAL, "cloth");
    for (int c = 0; c < 4; c++) cr_assert_float_eq(e->m->skin_rgba[c], e->m->mat_rgba[4 * mat + c], 1e-7);
    for (int t = 0; t <= 40 && !te && !tr; t++) {
      if (t == 0 || t == 40) {
        mjv_updateScene(e->m, e->d, &opt, NULL, &cam, mjCAT_ALL, &scn);
        double lo[3] = {1e9, 1e9, 1e9}, hi[3] = {-1e9, -1e9, -1e9}, vlo[3] = {1e9, 1e9, 1e9}, vhi[3] = {-1e9, -1e9, -1e9};
        for (int i = 0; i < N; i++)
          for (int j = 0; j < N; j++) {
            char name[16];
            snprintf(name, sizeof name, "CB%d_%d", i, j);
            const mjtNum *p = e->d->xpos + 3 * mj_name2id(e->m, mjOBJ_BODY, name);
            double near = 1e9;
            for (int v = 0; v < e->m->nskinvert; v++) {
              double d2 = 0;
              for (int c = 0; c < 3; c++) d2 += pow(scn.skinvert[3 * v + c] - p[c], 2);
              near = fmin(near, sqrt(d2));
            }
            cr_assert_lt(near, 0.01, "size %g, step %d: node %s is %g m from the surface", sizes[k], t, name, near);
            for (int c = 0; c < 3; c++) { lo[c] = fmin(lo[c], p[c]); hi[c] = fmax(hi[c], p[c]); }
          }
        for (int v = 0; v < e->m->nskinvert; v++)
          for (int c = 0; c < 3; c++) {
            vlo[c] = fmin(vlo[c], scn.skinvert[3 * v + c]);
            vhi[c] = fmax(vhi[c], scn.skinvert[3 * v + c]);
            cr_assert(scn.skinvert[3 * v + c] >= lo[c] - 0.01 && scn.skinvert[3 * v + c] <= hi[c] + 0.01,
                      "size %g, step %d: skin vertex %d axis %d at %g outside the nodes' [%g, %g]", sizes[k], t, v, c,
                      scn.skinvert[3 * v + c], lo[c], hi[c]);
          }
        for (int c = 0; c < 2; c++)
          cr_assert_float_eq(vhi[c] - vlo[c], hi[c] - lo[c], 0.01, "size %g, step %d, axis %d: surface %g m, nodes %g m", sizes[k], t, c,
                             vhi[c] - vlo[c], hi[c] - lo[c]);
        if (t == 0) cr_assert_float_eq(hi[0] - lo[0], sizes[k], 2e-3, "flat: the nodes span the drawn side");
      }
      cr_assert_eq(af_env_scripted_action(e, a), AF_OK);
      cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, NULL), AF_OK);
    }
    mjv_freeScene(&scn);
    af_env_free(e);
  }
}
