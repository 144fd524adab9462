// The shared arm: Cartesian displacement commands to joint targets by damped least squares.
#include "envs/arm.h"
#include "envs/env_impl.h"  // af_state_io: snapshots

#include <math.h>    // cos, sin, sqrt
#include <stdio.h>   // snprintf
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy

static const char *joint_names[AF_ARM_NJ] = {"arm_pan", "arm_shoulder", "arm_elbow", "arm_wrist", "arm_roll"};
static const char *finger_names[2] = {"arm_finger_l", "arm_finger_r"};
// a pose with the hand in front of the base pointing down, the IK's starting point
static const double q_home[AF_ARM_NJ] = {0, 0.45, 1.7, 0.99, 0};

#define IK_LAMBDA 0.02     // damping of the least-squares step
#define IK_ROT_WEIGHT 0.3  // metres per radian: orientation matters less than position
#define IK_MAX_DQ 0.4      // largest joint change per iteration (rad)

int af_arm_init(af_arm *arm, const mjModel *m, char *err, size_t errsz) {
  for (int i = 0; i < AF_ARM_NJ; i++) {
    int j = mj_name2id(m, mjOBJ_JOINT, joint_names[i]);
    int a = mj_name2id(m, mjOBJ_ACTUATOR, joint_names[i]);
    if (j < 0 || a < 0) { snprintf(err, errsz, "model has no arm joint and actuator '%s'", joint_names[i]); return -1; }
    arm->qadr[i] = m->jnt_qposadr[j];
    arm->dadr[i] = m->jnt_dofadr[j];
    arm->act[i] = a;
    // keep targets a little inside the limits so the servos never press on them
    arm->lo[i] = m->jnt_range[2 * j] + 0.02;
    arm->hi[i] = m->jnt_range[2 * j + 1] - 0.02;
  }
  for (int i = 0; i < 2; i++) {
    int j = mj_name2id(m, mjOBJ_JOINT, finger_names[i]);
    int a = mj_name2id(m, mjOBJ_ACTUATOR, finger_names[i]);
    if (j < 0 || a < 0) { snprintf(err, errsz, "model has no finger joint and actuator '%s'", finger_names[i]); return -1; }
    arm->finger_qadr[i] = m->jnt_qposadr[j];
    arm->finger_dadr[i] = m->jnt_dofadr[j];
    arm->finger_act[i] = a;
    arm->finger_max = m->jnt_range[2 * j + 1];
  }
  arm->site = mj_name2id(m, mjOBJ_SITE, "arm_grip");
  if (arm->site < 0) { snprintf(err, errsz, "model has no site 'arm_grip'"); return -1; }
  arm->scratch = mj_makeData(m);
  arm->jacp = calloc((size_t)(6 * m->nv), sizeof(mjtNum));
  if (!arm->scratch || !arm->jacp) { snprintf(err, errsz, "out of memory"); return -1; }
  arm->jacr = arm->jacp + 3 * m->nv;
  return 0;
}

void af_arm_free(af_arm *arm) {
  if (!arm) return;
  if (arm->scratch) mj_deleteData(arm->scratch);
  free(arm->jacp);
  arm->scratch = NULL;
  arm->jacp = NULL;
}

int af_arm_act_dim(const af_arm *arm) { return 3 + (arm->use_yaw ? 1 : 0) + 1; }

const mjtNum *af_arm_hand(const af_arm *arm, const mjData *d) { return d->site_xpos + 3 * arm->site; }

double af_arm_opening(const af_arm *arm, const mjData *d) {
  return d->qpos[arm->finger_qadr[0]] + d->qpos[arm->finger_qadr[1]];
}

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

void af_arm_action_towards(const af_arm *arm, const double from[3], const double to[3], float *a) {
  for (int k = 0; k < 3; k++) a[k] = (float)clampd((to[k] - from[k]) / arm->max_step, -1, 1);
}

// Gauss-Newton steps with damping from q_cmd towards the target pose, on the scratch data:
// dq = (J'J + l^2 I)^-1 J' e, with e = [position error; w * orientation error]
static void ik(af_arm *arm, const mjModel *m, int iters) {
  mjData *s = arm->scratch;
  // the desired frame: tool axis (site z) down, fingers (site y) along yaw
  double c = cos(arm->yaw), sn = sin(arm->yaw);
  const double xd[3] = {-c, -sn, 0}, yd[3] = {-sn, c, 0}, zd[3] = {0, 0, -1};
  for (int it = 0; it < iters; it++) {
    for (int i = 0; i < AF_ARM_NJ; i++) s->qpos[arm->qadr[i]] = arm->q_cmd[i];
    mj_kinematics(m, s);
    mj_comPos(m, s);
    const mjtNum *p = s->site_xpos + 3 * arm->site, *R = s->site_xmat + 9 * arm->site;
    // orientation error 0.5 * sum_i (current axis i x desired axis i), in the world frame
    double e[6], er[3] = {0, 0, 0};
    const double *des[3] = {xd, yd, zd};
    for (int k = 0; k < 3; k++) {
      double cur[3] = {R[k], R[3 + k], R[6 + k]};  // column k of the site frame
      double cr[3];
      mju_cross(cr, cur, des[k]);
      for (int j = 0; j < 3; j++) er[j] += 0.5 * cr[j];
    }
    for (int j = 0; j < 3; j++) {
      e[j] = arm->target[j] - p[j];
      e[3 + j] = IK_ROT_WEIGHT * er[j];
    }
    // J (6, 5): the arm's columns of the site Jacobian
    mj_jacSite(m, s, arm->jacp, arm->jacr, arm->site);
    double J[6][AF_ARM_NJ];
    for (int i = 0; i < AF_ARM_NJ; i++)
      for (int j = 0; j < 3; j++) {
        J[j][i] = arm->jacp[j * m->nv + arm->dadr[i]];
        J[3 + j][i] = IK_ROT_WEIGHT * arm->jacr[j * m->nv + arm->dadr[i]];
      }
    // A = J'J + l^2 I (5, 5), b = J'e (5)
    mjtNum A[AF_ARM_NJ * AF_ARM_NJ], b[AF_ARM_NJ], dq[AF_ARM_NJ];
    for (int i = 0; i < AF_ARM_NJ; i++) {
      b[i] = 0;
      for (int r = 0; r < 6; r++) b[i] += J[r][i] * e[r];
      for (int k = 0; k < AF_ARM_NJ; k++) {
        double sum = i == k ? IK_LAMBDA * IK_LAMBDA : 0;
        for (int r = 0; r < 6; r++) sum += J[r][i] * J[r][k];
        A[i * AF_ARM_NJ + k] = sum;
      }
    }
    mju_cholFactor(A, AF_ARM_NJ, 1e-12);
    mju_cholSolve(dq, A, b, AF_ARM_NJ);
    // bounded step, then the joint limits
    double norm = 0;
    for (int i = 0; i < AF_ARM_NJ; i++) norm += dq[i] * dq[i];
    norm = sqrt(norm);
    double scale = norm > IK_MAX_DQ ? IK_MAX_DQ / norm : 1;
    for (int i = 0; i < AF_ARM_NJ; i++) arm->q_cmd[i] = clampd(arm->q_cmd[i] + scale * dq[i], arm->lo[i], arm->hi[i]);
  }
}

// gravity (and Coriolis) feed-forward from the last computed bias forces, as a real arm's
// controller compensates its own weight
static void feed_forward(const af_arm *arm, mjData *d) {
  for (int i = 0; i < AF_ARM_NJ; i++) d->qfrc_applied[arm->dadr[i]] = d->qfrc_bias[arm->dadr[i]];
  for (int i = 0; i < 2; i++) d->qfrc_applied[arm->finger_dadr[i]] = d->qfrc_bias[arm->finger_dadr[i]];
}

void af_arm_reset(af_arm *arm, const mjModel *m, mjData *d, const double pos[3], double yaw, double opening) {
  mju_copy(arm->scratch->qpos, m->qpos0, m->nq);
  memcpy(arm->q_cmd, q_home, sizeof q_home);
  memcpy(arm->target, pos, 3 * sizeof(double));
  arm->yaw = yaw;
  ik(arm, m, 60);
  double f = clampd(opening, 0, 1) * arm->finger_max;
  for (int i = 0; i < AF_ARM_NJ; i++) {
    d->qpos[arm->qadr[i]] = arm->q_cmd[i];
    d->qvel[arm->dadr[i]] = 0;
    d->ctrl[arm->act[i]] = arm->q_cmd[i];
  }
  for (int i = 0; i < 2; i++) {
    d->qpos[arm->finger_qadr[i]] = f;
    d->ctrl[arm->finger_act[i]] = f;
  }
  // the hand as placed (the IK may stop short of an unreachable request)
  mj_kinematics(m, d);
  memcpy(arm->target, d->site_xpos + 3 * arm->site, 3 * sizeof(double));
  mj_forward(m, d);
  feed_forward(arm, d);
}

void af_arm_act(af_arm *arm, const mjModel *m, mjData *d, const float *a) {
  // move the target, keep it in the workspace and within reach of the hand
  const mjtNum *hand = af_arm_hand(arm, d);
  for (int k = 0; k < 3; k++) {
    double t = arm->target[k] + a[k] * arm->max_step;
    t = clampd(t, hand[k] - arm->max_lead, hand[k] + arm->max_lead);
    arm->target[k] = clampd(t, arm->ws_lo[k], arm->ws_hi[k]);
  }
  if (arm->use_yaw) arm->yaw = clampd(arm->yaw + a[3] * arm->max_yaw_step, -1.5, 1.5);
  // joint targets from the warm-started IK
  ik(arm, m, 2);
  for (int i = 0; i < AF_ARM_NJ; i++) d->ctrl[arm->act[i]] = arm->q_cmd[i];
  // gripper: -1 closed, +1 fully open
  double g = a[3 + (arm->use_yaw ? 1 : 0)];
  double f = 0.5 * (g + 1) * arm->finger_max;
  for (int i = 0; i < 2; i++) d->ctrl[arm->finger_act[i]] = f;
  feed_forward(arm, d);
}

// the command the next action starts from; the scratch data is a function of it and the model
void af_arm_state(af_arm *arm, af_state_io *io) {
  AF_STATE_FIELD(io, arm->q_cmd);
  AF_STATE_FIELD(io, arm->target);
  AF_STATE_FIELD(io, arm->yaw);
}
