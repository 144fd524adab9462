// The shared arm (assets/arm.xml): end-effector displacement commands (dx, dy, dz, optional
// yaw) plus a gripper command, turned into joint targets by damped least squares on the grip
// site's Jacobian (mj_jacSite), within joint limits, tracked by position servos with gravity
// feed-forward. The manipulation environments reuse it unchanged.
#ifndef AF_ARM_H
#define AF_ARM_H

#include <mujoco/mujoco.h>

#define AF_ARM_NJ 5

typedef struct {
  // workspace and command scaling (set by the environment before af_arm_init)
  double ws_lo[3], ws_hi[3];  // box the Cartesian target stays in (m)
  double max_step;            // displacement for an action of 1 (m per control step)
  double max_lead;            // how far the target may run ahead of the hand (m)
  int use_yaw;                // action carries a yaw rate
  double max_yaw_step;        // yaw change for an action of 1 (rad per control step)
  // resolved from the model
  int qadr[AF_ARM_NJ], dadr[AF_ARM_NJ], act[AF_ARM_NJ];
  int finger_qadr[2], finger_dadr[2], finger_act[2];
  int site;
  double lo[AF_ARM_NJ], hi[AF_ARM_NJ];
  double finger_max;
  // per-run state
  double q_cmd[AF_ARM_NJ];    // joint targets
  double target[3];           // Cartesian target of the grip site
  double yaw;                 // target yaw of the finger axis about world z (0: fingers along y)
  mjData *scratch;            // kinematics-only copy for the IK iterations
  mjtNum *jacp, *jacr;        // (3, nv) each
} af_arm;

// resolve names, allocate scratch; -1 with a message if the model lacks the arm
int af_arm_init(af_arm *arm, const mjModel *m, char *err, size_t errsz);
void af_arm_free(af_arm *arm);

// number of action entries: 3 (+1 with yaw) + 1 gripper
int af_arm_act_dim(const af_arm *arm);

// place the arm with its grip site at pos (yaw, gripper opening in [0, 1]); sets qpos and ctrl
void af_arm_reset(af_arm *arm, const mjModel *m, mjData *d, const double pos[3], double yaw, double opening);

// apply a normalized action: moves the target, solves IK, writes ctrl and feed-forward
void af_arm_act(af_arm *arm, const mjModel *m, mjData *d, const float *a);

// the displacement action (a[0..2], clipped to [-1, 1]) that moves the Cartesian command from
// `from` (the hand, or arm->target) towards `to` in one control step; for scripted controllers
void af_arm_action_towards(const af_arm *arm, const double from[3], const double to[3], float *a);

// the arm's per-run state (joint targets, Cartesian target, yaw) for a state snapshot: sized,
// saved or loaded by the walker (envs/env_impl.h)
struct af_state_io;
void af_arm_state(af_arm *arm, struct af_state_io *io);

// grip site position and finger opening (m, sum of both fingers)
const mjtNum *af_arm_hand(const af_arm *arm, const mjData *d);
double af_arm_opening(const af_arm *arm, const mjData *d);

#endif
