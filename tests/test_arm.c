// The shared arm: the Jacobian we steer with agrees with finite differences, displacement
// commands move the hand by the commanded amount, limits hold, the arm holds still under
// gravity, and the gripper opens and closes.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "envs/arm.h"
#include "envs/env_impl.h"

static af_env *make(const char *cfg) {
  char err[512] = "";
  af_env *e = af_env_make("puck_push", cfg, err, sizeof err);
  cr_assert(e, "%s", err);
  return e;
}

// the arm lives first in the environment state
static af_arm *arm_of(af_env *e) { return (af_arm *)e->state; }

Test(arm, site_jacobian_matches_finite_differences) {
  af_env *e = make("{\"randomize\": false}");
  float obs[64];
  af_env_reset(e, 0, obs);
  const mjModel *m = e->m;
  af_arm *arm = arm_of(e);
  mjData *d = mj_makeData(m);
  mju_copy(d->qpos, e->d->qpos, m->nq);
  mj_kinematics(m, d);
  mj_comPos(m, d);
  mjtNum *jacp = calloc((size_t)(3 * m->nv), sizeof(mjtNum));
  mj_jacSite(m, d, jacp, NULL, arm->site);
  // central differences of the site position in each arm joint (hinges: qpos = dof)
  const double h = 1e-6;
  for (int i = 0; i < AF_ARM_NJ; i++) {
    double plus[3], minus[3];
    double q0 = d->qpos[arm->qadr[i]];
    d->qpos[arm->qadr[i]] = q0 + h;
    mj_kinematics(m, d);
    mju_copy3(plus, d->site_xpos + 3 * arm->site);
    d->qpos[arm->qadr[i]] = q0 - h;
    mj_kinematics(m, d);
    mju_copy3(minus, d->site_xpos + 3 * arm->site);
    d->qpos[arm->qadr[i]] = q0;
    for (int k = 0; k < 3; k++) {
      double fd = (plus[k] - minus[k]) / (2 * h), an = jacp[k * m->nv + arm->dadr[i]];
      cr_assert_float_eq(an, fd, 1e-7, "joint %d axis %d: jacobian %g, finite difference %g", i, k, an, fd);
    }
  }
  free(jacp);
  mj_deleteData(d);
  af_env_free(e);
}

Test(arm, reset_places_the_hand_pointing_down) {
  af_env *e = make(NULL);
  float obs[64];
  af_env_reset(e, 0, obs);
  af_arm *arm = arm_of(e);
  const mjtNum *p = af_arm_hand(arm, e->d), *R = e->d->site_xmat + 9 * arm->site;
  cr_assert_float_eq(p[0], 0.3, 1e-3);
  cr_assert_float_eq(p[1], 0.0, 1e-3);
  cr_assert_float_eq(p[2], 0.12, 1e-3);
  // the site's z axis (third column) points down, its y axis (finger axis) along world y
  cr_assert_float_eq(R[8], -1.0, 1e-3);
  cr_assert_float_eq(R[4], 1.0, 1e-3);
  af_env_free(e);
}

Test(arm, displacement_commands_move_the_hand_by_the_commanded_amount) {
  af_env *e = make("{\"randomize\": false}");
  float obs[64], r;
  int te, tr;
  // each axis: 3 steps of +0.5 (2.5 cm per step) then 6 steps still, from the start pose
  for (int axis = 0; axis < 3; axis++) {
    af_env_reset(e, 0, obs);
    double start[3] = {obs[0], obs[1], obs[2]};
    float a[4] = {0, 0, 0, -1};
    a[axis] = 0.5f;
    for (int t = 0; t < 3; t++) af_env_step(e, a, obs, &r, &te, &tr, NULL);
    a[axis] = 0;
    for (int t = 0; t < 6; t++) af_env_step(e, a, obs, &r, &te, &tr, NULL);
    for (int k = 0; k < 3; k++) {
      double want = start[k] + (k == axis ? 3 * 0.5 * 0.05 : 0);
      cr_assert_float_eq(obs[k], want, 3e-3, "axis %d: hand[%d] %g, expected %g", axis, k, obs[k], want);
    }
  }
  af_env_free(e);
}

Test(arm, joint_targets_stay_in_limits_and_the_workspace_holds) {
  af_env *e = make(NULL);
  af_arm *arm = arm_of(e);
  float obs[64], r;
  int te, tr;
  // push against every corner of the workspace for a while
  for (int corner = 0; corner < 8; corner++) {
    af_env_reset(e, (uint64_t)corner, obs);
    float a[4] = {corner & 1 ? 1.f : -1.f, corner & 2 ? 1.f : -1.f, corner & 4 ? 1.f : -1.f, 1};
    for (int t = 0; t < 30 && !tr; t++) {
      af_env_step(e, a, obs, &r, &te, &tr, NULL);
      for (int i = 0; i < AF_ARM_NJ; i++) {
        cr_assert(arm->q_cmd[i] >= arm->lo[i] && arm->q_cmd[i] <= arm->hi[i], "joint %d target %g outside [%g, %g]", i, arm->q_cmd[i], arm->lo[i], arm->hi[i]);
        int j = mj_name2id(e->m, mjOBJ_JOINT, i == 0 ? "arm_pan" : i == 1 ? "arm_shoulder" : i == 2 ? "arm_elbow" : i == 3 ? "arm_wrist" : "arm_roll");
        double q = e->d->qpos[arm->qadr[i]];
        cr_assert(q >= e->m->jnt_range[2 * j] - 0.02 && q <= e->m->jnt_range[2 * j + 1] + 0.02, "joint %d at %g", i, q);
      }
      for (int k = 0; k < 3; k++) cr_assert(arm->target[k] >= arm->ws_lo[k] - 1e-12 && arm->target[k] <= arm->ws_hi[k] + 1e-12);
    }
    tr = 0;
    // the hand never goes through the table
    cr_assert_gt(obs[2], 0.0);
  }
  af_env_free(e);
}

Test(arm, holds_still_under_gravity_with_zero_action) {
  af_env *e = make(NULL);
  float obs[64], r, a[4] = {0, 0, 0, -1};
  int te, tr;
  for (int seed = 0; seed < 5; seed++) {
    af_env_reset(e, (uint64_t)seed, obs);
    double start[3] = {obs[0], obs[1], obs[2]};
    for (int t = 0; t < 30; t++) af_env_step(e, a, obs, &r, &te, &tr, NULL);
    double drift = sqrt((obs[0] - start[0]) * (obs[0] - start[0]) + (obs[1] - start[1]) * (obs[1] - start[1]) + (obs[2] - start[2]) * (obs[2] - start[2]));
    cr_assert_lt(drift, 0.003, "seed %d: the hand drifted %g m in 3 s", seed, drift);
  }
  af_env_free(e);
}

Test(arm, gripper_command_sets_the_finger_opening) {
  af_env *e = make("{\"randomize\": false}");
  af_arm *arm = arm_of(e);
  float obs[64], r;
  int te, tr;
  af_env_reset(e, 0, obs);
  cr_assert_float_eq(obs[6], 0, 1e-3);
  // fully open: both fingers at their limit; half: halfway
  float open[4] = {0, 0, 0, 1}, half[4] = {0, 0, 0, 0};
  for (int t = 0; t < 5; t++) af_env_step(e, open, obs, &r, &te, &tr, NULL);
  cr_assert_float_eq(obs[6], 2 * arm->finger_max, 2e-3);
  for (int t = 0; t < 5; t++) af_env_step(e, half, obs, &r, &te, &tr, NULL);
  cr_assert_float_eq(obs[6], arm->finger_max, 2e-3);
  af_env_free(e);
}

Test(arm, yaw_command_turns_the_fingers_about_the_vertical) {
  // the arm on its own, with the optional yaw action enabled
  char err[512], path[1024];
  const char *dir = getenv("ARMFARM_ASSETS");
  snprintf(path, sizeof path, "%s/puck_push.xml", dir && *dir ? dir : AF_TEST_ASSETS);
  mjModel *m = mj_loadXML(path, NULL, err, sizeof err);
  cr_assert(m, "%s", err);
  mjData *d = mj_makeData(m);
  af_arm arm = {.ws_lo = {0.2, -0.4, 0.02}, .ws_hi = {0.8, 0.4, 0.4}, .max_step = 0.05, .max_lead = 0.06,
                .use_yaw = 1, .max_yaw_step = 0.2};
  cr_assert_eq(af_arm_init(&arm, m, err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_arm_act_dim(&arm), 5);
  const double pos[3] = {0.5, 0.1, 0.15};
  af_arm_reset(&arm, m, d, pos, 0, 0.5);
  // three steps of yaw +1 (0.2 rad each), then hold: the finger axis (site y) turns 0.6 rad
  float a[5] = {0, 0, 0, 1, 0};
  for (int t = 0; t < 5; t++) {
    if (t == 3) a[3] = 0;
    af_arm_act(&arm, m, d, a);
    for (int k = 0; k < 50; k++) mj_step(m, d);
  }
  const mjtNum *R = d->site_xmat + 9 * arm.site;
  double yaw = atan2(-R[1], R[4]);  // site y axis = (-sin yaw, cos yaw, 0)
  cr_assert_float_eq(yaw, 0.6, 0.02, "yaw %g", yaw);
  cr_assert_float_eq(R[8], -1.0, 2e-3, "still pointing down");
  const mjtNum *h = af_arm_hand(&arm, d);
  for (int k = 0; k < 3; k++) cr_assert_float_eq(h[k], pos[k], 3e-3, "the hand stays put while turning");
  af_arm_free(&arm);
  mj_deleteData(d);
  mj_deleteModel(m);
}
