// Door opening: the shared arm opens a hinged door by its lever handle to a goal angle.
// Goal-conditioned: achieved goal = door angle, desired goal = a target angle drawn per
// episode (or, with goal_mode "fixed", success once the door is past fixed_angle). With the
// latch on, the door stays shut until the lever has been pressed past latch_angle.
//
// The latch is the door hinge's upper limit: while the door is shut and the lever up, act()
// sets it to LOCK_PLAY so the door can only rattle; otherwise it is the model's. Door width
// and handle height are geometry MuJoCo 2.2.2 cannot rescale by itself: reset writes the
// panel, frame and lever positions, the door's centre of mass and inertia from the nominal
// model (e->m0) and the drawn values. The frame is a mocap body, so its pose is state.
#include "envs/env_impl.h"

#include <math.h>    // sqrt, fabs, atan2
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy

#include "envs/arm.h"

#define LOCK_PLAY 0.01    // how far a latched door can move (rad)
#define LOCK_ANGLE 0.03   // a door open less than this is shut: the latch can catch it (rad)
#define GRIP_BELOW 0.015  // the grip site sits this far below the lever bar's centre (m)

static const double start_hand[3] = {0.32, 0.0, 0.3};

// ---- config ----
typedef struct {
  int goal_mode;    // 0 goal, 1 fixed
  int reward;       // 0 dense, 1 sparse
  int latch;
  double latch_angle;
  double success_tol;
  double fixed_angle;
  double min_goal;
  double action_cost;
  int hand_start;   // 0 front, 1 handle
  int workspace;    // 0 full, 1 door
} door_cfg;

static const af_param door_params[] = {
  {"goal_mode", AF_P_ENUM, offsetof(door_cfg, goal_mode), 0, 0, 1, "goal|fixed", "goal: reach a drawn door angle; fixed: open past fixed_angle"},
  {"reward", AF_P_ENUM, offsetof(door_cfg, reward), 0, 0, 1, "dense|sparse", "dense shaping or sparse -1/0"},
  {"latch", AF_P_BOOL, offsetof(door_cfg, latch), 0, 0, 1, NULL, "the door stays shut until the lever is pressed past latch_angle"},
  {"latch_angle", AF_P_DOUBLE, offsetof(door_cfg, latch_angle), 0.35, 0.05, 0.8, NULL, "lever angle that frees the latch (rad)"},
  {"success_tol", AF_P_DOUBLE, offsetof(door_cfg, success_tol), 0.1, 0.01, 0.5, NULL, "goal mode: success within this of the goal angle (rad)"},
  {"fixed_angle", AF_P_DOUBLE, offsetof(door_cfg, fixed_angle), 0.3, 0.05, 1.5, NULL, "fixed mode: success past this angle (rad)"},
  {"min_goal", AF_P_DOUBLE, offsetof(door_cfg, min_goal), 0.2, 0, 1, NULL, "goal mode: goals below this are raised to it, so a shut door is no success (rad)"},
  {"action_cost", AF_P_DOUBLE, offsetof(door_cfg, action_cost), 0.01, 0, 10, NULL, "dense reward: weight of |a|^2"},
  {"hand_start", AF_P_ENUM, offsetof(door_cfg, hand_start), 0, 0, 1, "front|handle",
   "front: the hand starts 30 cm in front of the door; handle: around the lever's bar, fingers open (Skew-Fit's door starts at its handle)"},
  {"workspace", AF_P_ENUM, offsetof(door_cfg, workspace), 0, 0, 1, "full|door",
   "full: the hand's target moves in the arm's whole box before the door; door: in a box round the handle's arc (door angles 0 to 1.2 rad), 6 cm beyond it and from 4 cm below the grip point to 6 cm above (Skew-Fit's door confines its hand so)"},
};

// ---- randomization table ----
#define ARM_JOINTS "arm_pan,arm_shoulder,arm_elbow,arm_wrist,arm_roll"
static const af_dr_entry door_dr[] = {
  // name            group            field                  targets     mode            dist              nom   train          eval
  {"door_mass",      AF_DR_PHYSICS,   AF_F_BODY_MASS,        "door",     AF_DR_SCALE,    AF_DR_LOGUNIFORM, 1,    0.5, 2,        0.35, 3, "door mass and inertia (nominal 2 kg)"},
  {"door_width",     AF_DR_PHYSICS,   AF_F_TASK,             NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0.3,  0.26, 0.34,    0.22, 0.38, "door width (m); the frame, handle and inertia follow"},
  {"hinge_damping",  AF_DR_PHYSICS,   AF_F_DOF_DAMPING,      "door",     AF_DR_SCALE,    AF_DR_LOGUNIFORM, 1,    0.5, 2,        0.3, 3, "door hinge damping (nominal 0.5 N m s)"},
  {"hinge_friction", AF_DR_PHYSICS,   AF_F_DOF_FRICTIONLOSS, "door",     AF_DR_SCALE,    AF_DR_LOGUNIFORM, 1,    0.5, 2,        0.3, 3, "door hinge dry friction (nominal 0.1 N m)"},
  {"handle_height",  AF_DR_PHYSICS,   AF_F_TASK,             NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0.18, 0.15, 0.21,    0.13, 0.23, "height of the lever's axis (m)"},
  {"arm_damping",    AF_DR_ACTUATION, AF_F_DOF_DAMPING,      ARM_JOINTS, AF_DR_SCALE,    AF_DR_UNIFORM,    1,    0.8, 1.2,      0.6, 1.5, "arm joint damping"},
  {"arm_armature",   AF_DR_PHYSICS,   AF_F_DOF_ARMATURE,     ARM_JOINTS, AF_DR_SCALE,    AF_DR_UNIFORM,    1,    0.9, 1.1,      0.8, 1.25, "arm joint armature (rotor inertia)"},
  {"arm_gain",       AF_DR_ACTUATION, AF_F_ACT_GAIN,         ARM_JOINTS, AF_DR_SCALE,    AF_DR_UNIFORM,    1,    0.8, 1.2,      0.6, 1.5, "arm servo stiffness kp"},
  {"door_rgb",       AF_DR_VISUAL,    AF_F_MAT_RGBA,         "door",     AF_DR_OFFSET,   AF_DR_UNIFORM,    0,    -0.15, 0.15,   -0.3, 0.3, "door colour"},
  {"frame_rgb",      AF_DR_VISUAL,    AF_F_MAT_RGBA,         "frame",    AF_DR_OFFSET,   AF_DR_UNIFORM,    0,    -0.1, 0.1,     -0.25, 0.25, "frame colour"},
  {"handle_rgb",     AF_DR_VISUAL,    AF_F_MAT_RGBA,         "handle",   AF_DR_OFFSET,   AF_DR_UNIFORM,    0,    -0.15, 0.15,   -0.3, 0.3, "handle colour"},
  {"light_pos",      AF_DR_VISUAL,    AF_F_LIGHT_POS,        "top",      AF_DR_OFFSET,   AF_DR_UNIFORM,    0,    -0.2, 0.2,     -0.4, 0.4, "top light position (m)"},
  {"light_rgb",      AF_DR_VISUAL,    AF_F_LIGHT_DIFFUSE,    "top",      AF_DR_OFFSET,   AF_DR_UNIFORM,    0,    -0.15, 0.15,   -0.3, 0.2, "top light colour"},
  {"camera_pos",     AF_DR_VISUAL,    AF_F_CAM_POS,          "overview,learn", AF_DR_OFFSET,   AF_DR_UNIFORM,    0,    -0.02, 0.02,   -0.05, 0.05, "camera position (m)"},
  {"camera_rot",     AF_DR_VISUAL,    AF_F_CAM_ROT,          "overview,learn", AF_DR_OFFSET,   AF_DR_UNIFORM,    0,    -0.05, 0.05,   -0.1, 0.1, "camera orientation (axis-angle, rad)"},
  {"camera_fovy",    AF_DR_VISUAL,    AF_F_CAM_FOVY,         "overview,learn", AF_DR_OFFSET,   AF_DR_UNIFORM,    0,    -4, 4,         -8, 8, "camera field of view (deg)"},
  {"obs_noise",      AF_DR_SENSOR,    AF_F_OBS_NOISE,        NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0,    0, 0.005,      0, 0.01, "observation noise std"},
  {"act_noise",      AF_DR_SENSOR,    AF_F_ACT_NOISE,        NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0,    0, 0.05,       0, 0.1, "action noise std"},
  {"act_delay",      AF_DR_SENSOR,    AF_F_ACT_DELAY,        NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0,    0, 1,          0, 2, "action delay (control steps)"},
  {"frame_x",        AF_DR_TASK,      AF_F_TASK,             NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0.3,  0.27, 0.33,    0.25, 0.35, "hinge x (m)"},
  {"frame_y",        AF_DR_TASK,      AF_F_TASK,             NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0.3,  0.27, 0.33,    0.25, 0.35, "hinge y (m)"},
  {"frame_yaw",      AF_DR_TASK,      AF_F_TASK,             NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0,    -0.15, 0.15,   -0.25, 0.25, "frame yaw about the hinge (rad)"},
  {"goal_angle",     AF_DR_TASK,      AF_F_TASK,             NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0.6,  0, 1.2,        0, 1.2, "desired door angle (rad), raised to min_goal"},
};

// ---- state ----
enum { PH_APPROACH, PH_DESCEND, PH_CLOSE, PH_PRESS, PH_PULL };

typedef struct {
  af_arm arm;
  af_arm goal_arm;             // a second arm, with scratch of its own, that poses the goal image
  int door_jnt, door_qadr, door_dadr, lever_qadr, lever_dadr;
  int door_body, lever_body, frame_mocap, grip_site;
  int panel, strike, lintel;   // geoms that follow the width
  double width0, height0;      // nominal door width and lever height (from the model)
  double grip_len;             // lever axis to grip point (m)
  int geometry_dirty;          // this or the last episode changed the geometry
  double goal, frame_yaw;
  int locked;
  double max_angle, prev_hand[3];
  int unlatched;
  // scripted controller
  int phase, phase_steps;
  double press;                // lever angle commanded while holding it
} door_state;

// the arm's whole workspace before the door (m)
static const double ws_full_lo[3] = {0.15, -0.25, 0.04}, ws_full_hi[3] = {0.75, 0.45, 0.45};

static int door_init(af_env *e, char *err, size_t errsz) {
  door_state *s = calloc(1, sizeof *s);
  if (!s) { snprintf(err, errsz, "out of memory"); return -1; }
  e->state = s;
  af_arm *arm = &s->arm;
  memcpy(arm->ws_lo, ws_full_lo, sizeof ws_full_lo);
  memcpy(arm->ws_hi, ws_full_hi, sizeof ws_full_hi);
  arm->max_step = 0.05;
  arm->max_lead = 0.06;
  arm->use_yaw = 1;  // the fingers follow the handle round as the door swings
  arm->max_yaw_step = 0.3;
  if (af_arm_init(arm, e->m, err, errsz)) return -1;
  // the goal image's arm: the same settings, its own IK scratch (the episode's is never used)
  s->goal_arm = *arm;
  s->goal_arm.scratch = NULL;
  s->goal_arm.jacp = s->goal_arm.jacr = NULL;
  if (af_arm_init(&s->goal_arm, e->m, err, errsz)) return -1;
  const mjModel *m = e->m;
  s->door_jnt = mj_name2id(m, mjOBJ_JOINT, "door");
  int lj = mj_name2id(m, mjOBJ_JOINT, "lever"), fb = mj_name2id(m, mjOBJ_BODY, "frame");
  s->door_body = mj_name2id(m, mjOBJ_BODY, "door");
  s->lever_body = mj_name2id(m, mjOBJ_BODY, "lever");
  s->grip_site = mj_name2id(m, mjOBJ_SITE, "lever_grip");
  s->panel = mj_name2id(m, mjOBJ_GEOM, "door");
  s->strike = mj_name2id(m, mjOBJ_GEOM, "frame_strike");
  s->lintel = mj_name2id(m, mjOBJ_GEOM, "frame_lintel");
  if (s->door_jnt < 0 || lj < 0 || fb < 0 || m->body_mocapid[fb] < 0 || s->door_body < 0 || s->lever_body < 0 ||
      s->grip_site < 0 || s->panel < 0 || s->strike < 0 || s->lintel < 0) {
    snprintf(err, errsz, "door_open model lacks the door and lever joints, the frame mocap body, the lever_grip site or the door, frame_strike and frame_lintel geoms");
    return -1;
  }
  s->door_qadr = m->jnt_qposadr[s->door_jnt];
  s->door_dadr = m->jnt_dofadr[s->door_jnt];
  s->lever_qadr = m->jnt_qposadr[lj];
  s->lever_dadr = m->jnt_dofadr[lj];
  s->frame_mocap = m->body_mocapid[fb];
  // the nominal geometry the table's nominal values must describe
  s->width0 = 2 * m->geom_size[3 * s->panel];
  s->height0 = m->body_pos[3 * s->lever_body + 2];
  s->grip_len = -m->site_pos[3 * s->grip_site];
  for (int i = 0; i < (int)(sizeof door_dr / sizeof door_dr[0]); i++) {
    double want = !strcmp(door_dr[i].name, "door_width") ? s->width0 : !strcmp(door_dr[i].name, "handle_height") ? s->height0 : NAN;
    if (!isnan(want) && fabs(door_dr[i].nominal - want) > 1e-12) {
      snprintf(err, errsz, "door_open: randomization '%s' nominal %g differs from the model's %g", door_dr[i].name, door_dr[i].nominal, want);
      return -1;
    }
  }
  af_env_spec *sp = &e->spec;
  sp->obs_dim = 22;
  sp->act_dim = af_arm_act_dim(arm);
  sp->goal_dim = 1;
  sp->proprio_dim = 9;  // hand, its velocity, yaw, opening
  sp->achieved_offset = 20;
  sp->desired_offset = 21;
  sp->n_metrics = 5;
  sp->metric_names[0] = "final_error";
  sp->metric_names[1] = "max_angle";
  sp->metric_names[2] = "unlatched";
  sp->metric_names[3] = "hand_handle_dist";
  sp->metric_names[4] = "final_angle";
  return 0;
}

static void door_free(af_env *e) {
  door_state *s = e->state;
  af_arm_free(&s->arm);
  af_arm_free(&s->goal_arm);
  free(s);
  e->state = NULL;
}

// radius of a box's bounding sphere
static double box_rbound(const mjtNum *size) { return sqrt(size[0] * size[0] + size[1] * size[1] + size[2] * size[2]); }

// the door's geometry for width w and lever height h, written over the nominal model; the
// door's mass (perhaps randomized) is already in m. A thin panel of mass M, width w,
// thickness t and height H about its centre: Ix = M (t^2 + H^2) / 12, Iy = M (w^2 + H^2) / 12,
// Iz = M (w^2 + t^2) / 12, so a width change adds M (w^2 - w0^2) / 12 to Iy and Iz.
static void set_geometry(door_state *s, mjModel *m, const mjModel *m0, double w, double h) {
  const int pa = s->panel, st = s->strike, li = s->lintel, db = s->door_body, lb = s->lever_body;
  mju_copy(m->geom_size + 3 * pa, m0->geom_size + 3 * pa, 3);
  mju_copy(m->geom_pos + 3 * pa, m0->geom_pos + 3 * pa, 3);
  m->geom_rbound[pa] = m0->geom_rbound[pa];
  mju_copy(m->geom_pos + 3 * st, m0->geom_pos + 3 * st, 3);
  mju_copy(m->geom_size + 3 * li, m0->geom_size + 3 * li, 3);
  mju_copy(m->geom_pos + 3 * li, m0->geom_pos + 3 * li, 3);
  m->geom_rbound[li] = m0->geom_rbound[li];
  mju_copy(m->body_pos + 3 * lb, m0->body_pos + 3 * lb, 3);
  mju_copy(m->body_ipos + 3 * db, m0->body_ipos + 3 * db, 3);
  double dw = w - s->width0, dh = h - s->height0;
  if (dw != 0) {
    // the panel grows away from the hinge; the strike post, lintel and lever follow
    m->geom_size[3 * pa] += dw / 2;
    m->geom_pos[3 * pa] += dw / 2;
    m->geom_rbound[pa] = box_rbound(m->geom_size + 3 * pa);
    m->geom_pos[3 * st] += dw;
    m->geom_size[3 * li] += dw / 2;
    m->geom_pos[3 * li] += dw / 2;
    m->geom_rbound[li] = box_rbound(m->geom_size + 3 * li);
    m->body_pos[3 * lb] += dw;
    m->body_ipos[3 * db] += dw / 2;
    double add = m->body_mass[db] * (w * w - s->width0 * s->width0) / 12;
    m->body_inertia[3 * db + 1] += add;
    m->body_inertia[3 * db + 2] += add;
  }
  if (dh != 0) m->body_pos[3 * lb + 2] += dh;
}

static void grip_point(const door_state *s, const mjModel *m, const mjData *d, double angle, double lever, double p[3]);
static void arc_box(const door_state *s, const mjModel *m, const mjData *d, double lo[3], double hi[3]);

static void door_reset(af_env *e, af_rng *rng) {
  (void)rng;  // every draw of this task is in the randomization table
  door_state *s = e->state;
  const door_cfg *c = e->cfg;
  mjModel *m = e->m;
  mjData *d = e->d;
  // geometry from the drawn width and handle height (nominal when physics is off); the
  // derived constants follow whenever this or the last episode changed it
  double w = af_dr_value(&e->dr, "door_width", 0, 0), h = af_dr_value(&e->dr, "handle_height", 0, 0);
  // ranges set in a config can ask for the impossible: keep the lever on the door
  w = fmin(fmax(w, 0.15), 0.5);
  h = fmin(fmax(h, 0.06), 0.3);
  set_geometry(s, m, e->m0, w, h);
  int changed = w != s->width0 || h != s->height0;
  if (changed || s->geometry_dirty) mj_setConst(m, d);
  s->geometry_dirty = changed;
  // the latch: the hinge's upper limit restored, then closed if the latch is on
  m->jnt_range[2 * s->door_jnt + 1] = e->m0->jnt_range[2 * s->door_jnt + 1];
  s->locked = 0;
  if (c->latch) {
    m->jnt_range[2 * s->door_jnt + 1] = LOCK_PLAY;
    s->locked = 1;
  }
  // the frame's pose (mocap), door shut, lever up
  s->frame_yaw = af_dr_value(&e->dr, "frame_yaw", 0, 0);
  d->mocap_pos[3 * s->frame_mocap] = af_dr_value(&e->dr, "frame_x", 0, 0);
  d->mocap_pos[3 * s->frame_mocap + 1] = af_dr_value(&e->dr, "frame_y", 0, 0);
  d->mocap_pos[3 * s->frame_mocap + 2] = 0;
  mjtNum *q = d->mocap_quat + 4 * s->frame_mocap;
  q[0] = cos(s->frame_yaw / 2); q[1] = 0; q[2] = 0; q[3] = sin(s->frame_yaw / 2);
  d->qpos[s->door_qadr] = 0;
  d->qpos[s->lever_qadr] = 0;
  // the goal
  s->goal = c->goal_mode == 1 ? c->fixed_angle : fmax(af_dr_value(&e->dr, "goal_angle", 0, 0), c->min_goal);
  // the hand's box: the whole workspace, or round the handle's arc
  if (c->workspace == 1 || c->hand_start == 1) mj_kinematics(m, d);
  if (c->workspace == 1) arc_box(s, m, d, s->arm.ws_lo, s->arm.ws_hi);
  else memcpy(s->arm.ws_lo, ws_full_lo, sizeof ws_full_lo), memcpy(s->arm.ws_hi, ws_full_hi, sizeof ws_full_hi);
  // hand in front of the door, or around the lever's bar (where the opener closes its
  // fingers), fingers open
  if (c->hand_start == 1) {
    double g[3];
    grip_point(s, m, d, 0, 0, g);
    g[2] -= GRIP_BELOW;
    af_arm_reset(&s->arm, m, d, g, s->frame_yaw, 1);
  } else af_arm_reset(&s->arm, m, d, start_hand, 0, 1);
  memcpy(s->prev_hand, af_arm_hand(&s->arm, d), sizeof s->prev_hand);
  s->max_angle = 0;
  s->unlatched = !c->latch;
  s->phase = c->hand_start == 1 ? PH_CLOSE : PH_APPROACH;
  s->phase_steps = 0;
  s->press = 0;
}

static void door_act(af_env *e, const float *a) {
  door_state *s = e->state;
  const door_cfg *c = e->cfg;
  mjData *d = e->d;
  // the latch catches a shut door whose lever is up, and lets go once the lever is down
  if (c->latch) {
    double lever = d->qpos[s->lever_qadr], angle = d->qpos[s->door_qadr];
    if (lever >= c->latch_angle) s->unlatched = 1;
    int locked = lever < c->latch_angle && angle < LOCK_ANGLE;
    if (locked != s->locked) {
      e->m->jnt_range[2 * s->door_jnt + 1] = locked ? LOCK_PLAY : e->m0->jnt_range[2 * s->door_jnt + 1];
      s->locked = locked;
    }
  }
  memcpy(s->prev_hand, af_arm_hand(&s->arm, d), sizeof s->prev_hand);
  af_arm_act(&s->arm, e->m, d, a);
}

// yaw of the finger axis (the grip site's y axis) about world z
static double hand_yaw(const door_state *s, const mjData *d) {
  const mjtNum *R = d->site_xmat + 9 * s->arm.site;
  return atan2(-R[1], R[4]);
}

static void door_observe(const af_env *e, float *o) {
  const door_state *s = e->state;
  const mjData *d = e->d;
  const mjtNum *h = af_arm_hand(&s->arm, d), *g = d->site_xpos + 3 * s->grip_site;
  double hz = e->spec.control_hz, yaw = hand_yaw(s, d);
  // hand (3), its velocity over the last control step (3), yaw as sin, cos (2), opening (1)
  for (int k = 0; k < 3; k++) o[k] = (float)h[k];
  for (int k = 0; k < 3; k++) o[3 + k] = (float)((h[k] - s->prev_hand[k]) * hz);
  o[6] = (float)sin(yaw);
  o[7] = (float)cos(yaw);
  o[8] = (float)af_arm_opening(&s->arm, d);
  // the lever's grip point (3), door angle and rate (2), lever angle (1), latched (1)
  for (int k = 0; k < 3; k++) o[9 + k] = (float)g[k];
  o[12] = (float)d->qpos[s->door_qadr];
  o[13] = (float)d->qvel[s->door_dadr];
  o[14] = (float)d->qpos[s->lever_qadr];
  o[15] = (float)s->locked;
  // the frame: hinge position (2), yaw as sin, cos (2)
  o[16] = (float)d->mocap_pos[3 * s->frame_mocap];
  o[17] = (float)d->mocap_pos[3 * s->frame_mocap + 1];
  o[18] = (float)sin(s->frame_yaw);
  o[19] = (float)cos(s->frame_yaw);
  // achieved goal (door angle), desired goal
  o[20] = (float)d->qpos[s->door_qadr];
  o[21] = (float)s->goal;
}

// goal mode: within success_tol of the goal; fixed mode: past the fixed angle (the goal)
static int door_success(const door_cfg *c, double achieved, double desired) {
  return c->goal_mode == 1 ? achieved > desired : fabs(achieved - desired) < c->success_tol;
}

static float door_goal_reward(const af_env *e, const float *ach, const float *des) {
  const door_cfg *c = e->cfg;
  if (c->reward == 1) return door_success(c, ach[0], des[0]) ? 0.0f : -1.0f;
  double err = c->goal_mode == 1 ? fmax(0, des[0] - ach[0]) : fabs(ach[0] - des[0]);
  return (float)-err;
}

static float door_reward(af_env *e, const float *a, int *success, int *terminated) {
  door_state *s = e->state;
  const door_cfg *c = e->cfg;
  const mjData *d = e->d;
  double angle = d->qpos[s->door_qadr];
  if (angle > s->max_angle) s->max_angle = angle;
  float ach = (float)angle, des = (float)s->goal;
  *success = door_success(c, ach, des);
  *terminated = 0;
  float r = door_goal_reward(e, &ach, &des);
  if (c->reward == 0) {
    // goal-independent shaping: reach the handle, move economically
    const mjtNum *h = af_arm_hand(&s->arm, d), *g = d->site_xpos + 3 * s->grip_site;
    double hg = sqrt((h[0] - g[0]) * (h[0] - g[0]) + (h[1] - g[1]) * (h[1] - g[1]) + (h[2] - g[2]) * (h[2] - g[2]));
    double a2 = 0;
    for (int i = 0; i < e->spec.act_dim; i++) a2 += (double)a[i] * a[i];
    r += (float)(-0.5 * hg - c->action_cost * a2);
  }
  return r;
}

static void door_metrics(const af_env *e, float *m) {
  const door_state *s = e->state;
  const mjData *d = e->d;
  const mjtNum *h = af_arm_hand(&s->arm, d), *g = d->site_xpos + 3 * s->grip_site;
  m[0] = (float)fabs(d->qpos[s->door_qadr] - s->goal);
  m[1] = (float)s->max_angle;
  m[2] = (float)s->unlatched;
  m[3] = (float)sqrt((h[0] - g[0]) * (h[0] - g[0]) + (h[1] - g[1]) * (h[1] - g[1]) + (h[2] - g[2]) * (h[2] - g[2]));
  m[4] = (float)d->qpos[s->door_qadr];
}

// ---- scripted opener ----

// where the lever's grip point is with the door at `angle` and the lever at `lever`
// (world), from the hinge's pose and the lever's place on the door
static void grip_point(const door_state *s, const mjModel *m, const mjData *d, double angle, double lever, double p[3]) {
  const mjtNum *lp = m->body_pos + 3 * s->lever_body;
  // in door coordinates: the lever's axis, the bar turned down by `lever` about the normal
  double x = lp[0] - s->grip_len * cos(lever), y = lp[1], z = lp[2] - s->grip_len * sin(lever);
  // door to world: the frame's yaw less the door angle (the door turns about -z)
  double a = s->frame_yaw - angle, ca = cos(a), sa = sin(a);
  const mjtNum *hinge = d->xpos + 3 * s->door_body;
  p[0] = hinge[0] + ca * x - sa * y;
  p[1] = hinge[1] + sa * x + ca * y;
  p[2] = hinge[2] + z;
}

// workspace door: the box round the grip points of door angles 0 to 1.2 rad (lever up),
// 6 cm beyond them across, 4 cm below and 6 cm above, within the whole workspace (kinematics
// of the episode's frame pose done)
static void arc_box(const door_state *s, const mjModel *m, const mjData *d, double lo[3], double hi[3]) {
  for (int k = 0; k < 3; k++) lo[k] = INFINITY, hi[k] = -INFINITY;
  for (int i = 0; i <= 12; i++) {
    double g[3];
    grip_point(s, m, d, 1.2 * i / 12, 0, g);
    g[2] -= GRIP_BELOW;
    for (int k = 0; k < 3; k++) lo[k] = fmin(lo[k], g[k]), hi[k] = fmax(hi[k], g[k]);
  }
  const double below[3] = {0.06, 0.06, 0.04}, above[3] = {0.06, 0.06, 0.06};
  for (int k = 0; k < 3; k++) {
    lo[k] = fmax(lo[k] - below[k], ws_full_lo[k]);
    hi[k] = fmin(hi[k] + above[k], ws_full_hi[k]);
  }
}

// Reach over the handle with the fingers across the bar, descend around it and close; if
// latched, press the lever down past the latch angle; then pull the handle round the
// hinge's arc towards the goal angle, a little at a time, holding the lever down.
static int door_scripted(af_env *e, float *a) {
  door_state *s = e->state;
  const door_cfg *c = e->cfg;
  const mjModel *m = e->m;
  const mjData *d = e->d;
  const mjtNum *h = af_arm_hand(&s->arm, d);
  double angle = d->qpos[s->door_qadr], lever = d->qpos[s->lever_qadr];
  // the angle to open to: the goal, or comfortably past the fixed angle
  double want = c->goal_mode == 1 ? s->goal + 0.2 : s->goal;
  double t[3], cmd_angle = angle, grip = 1;
  s->phase_steps++;
  switch (s->phase) {
    case PH_APPROACH:
      grip_point(s, m, d, angle, 0, t);
      t[2] += 0.06;
      if (fabs(h[0] - t[0]) < 0.012 && fabs(h[1] - t[1]) < 0.012 && fabs(h[2] - t[2]) < 0.02 &&
          fabs(s->arm.yaw - (s->frame_yaw - angle)) < 0.08) { s->phase = PH_DESCEND; s->phase_steps = 0; }
      break;
    case PH_DESCEND:
      grip_point(s, m, d, angle, 0, t);
      t[2] -= GRIP_BELOW;
      if (fabs(h[2] - t[2]) < 0.006 || s->phase_steps > 4) { s->phase = PH_CLOSE; s->phase_steps = 0; }
      break;
    case PH_CLOSE:
      grip_point(s, m, d, angle, 0, t);
      t[2] -= GRIP_BELOW;
      grip = -1;
      if (s->phase_steps >= 2) { s->phase = c->latch ? PH_PRESS : PH_PULL; s->phase_steps = 0; }
      break;
    case PH_PRESS:
      // turn the lever down along its arc, a step at a time
      s->press = fmin(s->press + 0.2, c->latch_angle + 0.2);
      grip_point(s, m, d, angle, s->press, t);
      t[2] -= GRIP_BELOW;
      grip = -1;
      if (!s->locked && lever > c->latch_angle) { s->phase = PH_PULL; s->phase_steps = 0; }
      break;
    default: {
      // the next point on the arc, at most 0.12 rad on from the door's angle
      double step = fmax(-0.12, fmin(0.12, want - angle));
      cmd_angle = angle + step;
      grip_point(s, m, d, cmd_angle, s->press, t);
      t[2] -= GRIP_BELOW;
      grip = -1;
    }
  }
  // the fingers across the bar: along the door's normal
  double yaw = s->frame_yaw - cmd_angle;
  af_arm_action_towards(&s->arm, s->arm.target, t, a);
  double y = (yaw - s->arm.yaw) / s->arm.max_yaw_step;
  a[3] = (float)(y < -1 ? -1 : y > 1 ? 1 : y);
  a[4] = (float)grip;
  return AF_OK;
}

// ---- success examples ----

// A solved configuration: the door at rest at an angle that passes the success test (goal
// mode: within 80% of success_tol of the goal; fixed mode: 0.02 to 0.4 rad past the
// threshold), the latch as door_act would find it (free once the door is open), the lever
// sprung back up, and the hand hovering 5-10 cm over the handle with the fingers open and
// across the bar, as the opener would leave it. Nothing pushes a door at rest (the hinge is
// vertical; damping and dry friction only resist motion), so it stays where it is put.
static void door_solve(af_env *e, af_rng *rng, float *hold) {
  door_state *s = e->state;
  const door_cfg *c = e->cfg;
  mjModel *m = e->m;
  mjData *d = e->d;
  double u = af_rng_uniform(rng), rise = af_rng_range(rng, 0.05, 0.1);
  double jx = af_rng_range(rng, -0.01, 0.01), jy = af_rng_range(rng, -0.01, 0.01), jyaw = af_rng_range(rng, -0.1, 0.1);
  // the angle, inside the hinge's range; with the latch on, past the angle where it catches
  // when the goal window reaches there, else shut within the latch's play
  double top = e->m0->jnt_range[2 * s->door_jnt + 1] - 0.05, lo, hi;
  if (c->goal_mode == 1) {
    lo = s->goal + 0.02;
    hi = fmax(lo, fmin(s->goal + 0.4, top));
  } else {
    lo = fmax(0, s->goal - 0.8 * c->success_tol);
    hi = fmin(top, s->goal + 0.8 * c->success_tol);
  }
  if (c->latch && hi > LOCK_ANGLE) lo = fmax(lo, fmin(LOCK_ANGLE + 0.01, 0.5 * (LOCK_ANGLE + hi)));
  else if (c->latch) hi = fmin(hi, LOCK_PLAY);
  double angle = fmax(0, lo + u * (hi - lo));
  // the latch as door_act would find it: caught only by a shut door with the lever up
  s->locked = c->latch && angle < LOCK_ANGLE;
  m->jnt_range[2 * s->door_jnt + 1] = s->locked ? LOCK_PLAY : e->m0->jnt_range[2 * s->door_jnt + 1];
  if (!s->locked) s->unlatched = 1;
  d->qpos[s->door_qadr] = angle;
  d->qpos[s->lever_qadr] = 0;
  d->qvel[s->door_dadr] = 0;
  d->qvel[s->lever_dadr] = 0;
  s->max_angle = angle;
  // the hand over the handle, fingers across the bar (the arm's yaw stays within +-1.5)
  double g[3];
  grip_point(s, m, d, angle, 0, g);
  double hand[3] = {g[0] + jx, g[1] + jy, g[2] + rise};
  double yaw = fmin(fmax(s->frame_yaw - angle + jyaw, -1.5), 1.5);
  af_arm_reset(&s->arm, m, d, hand, yaw, 1);
  memcpy(s->prev_hand, af_arm_hand(&s->arm, d), sizeof s->prev_hand);
  mju_zero(d->qacc_warmstart, m->nv);
  // hold still with the fingers open
  hold[e->spec.act_dim - 1] = 1;
}

// ---- goal image ----

// The goal reached, posed on d (a copy of the episode's data): the door at rest at the goal
// angle (fixed mode: 0.2 rad past the threshold, as the opener aims), inside the hinge's range,
// the lever up, and the hand 7.5 cm over the lever's grip point with the fingers open and
// across the bar, as a solved state leaves it (door_solve: 5-10 cm); with hand_start
// "handle", the hand around the bar, where it started. The IK runs on the goal
// arm, so the episode's arm command and scratch are untouched.
static void door_show_goal(const af_env *e, mjData *d) {
  door_state *s = e->state;
  const door_cfg *c = e->cfg;
  const mjModel *m = e->m;
  double top = e->m0->jnt_range[2 * s->door_jnt + 1] - 0.05;
  double angle = fmin(fmax(c->goal_mode == 1 ? s->goal + 0.2 : s->goal, 0), top);
  // the door and lever at rest
  d->qpos[s->door_qadr] = angle;
  d->qpos[s->lever_qadr] = 0;
  d->qvel[s->door_dadr] = 0;
  d->qvel[s->lever_dadr] = 0;
  // the hand over the handle, fingers across the bar (the arm's yaw stays within +-1.5); with
  // hand_start "handle" around the bar, as an episode that pulls the door from there ends
  double g[3];
  grip_point(s, m, d, angle, 0, g);
  double hand[3] = {g[0], g[1], c->hand_start == 1 ? g[2] - GRIP_BELOW : g[2] + 0.075};
  double yaw = fmin(fmax(s->frame_yaw - angle, -1.5), 1.5);
  af_arm_reset(&s->goal_arm, m, d, hand, yaw, 1);
}

// snapshot: the arm's command, the latch (its state and the hinge limit it edits in the
// model), the goal and frame yaw, the episode's statistics, the opener's phase, and whether
// the geometry was changed (the next reset's constants follow it)
static int door_state_io(af_env *e, af_state_io *io) {
  door_state *s = e->state;
  af_arm_state(&s->arm, io);
  AF_STATE_FIELD(io, s->arm.ws_lo);
  AF_STATE_FIELD(io, s->arm.ws_hi);
  AF_STATE_FIELD(io, s->locked);
  AF_STATE_FIELD(io, e->m->jnt_range[2 * s->door_jnt + 1]);
  AF_STATE_FIELD(io, s->unlatched);
  AF_STATE_FIELD(io, s->geometry_dirty);
  AF_STATE_FIELD(io, s->goal);
  AF_STATE_FIELD(io, s->frame_yaw);
  AF_STATE_FIELD(io, s->max_angle);
  AF_STATE_FIELD(io, s->prev_hand);
  AF_STATE_FIELD(io, s->phase);
  AF_STATE_FIELD(io, s->phase_steps);
  AF_STATE_FIELD(io, s->press);
  return AF_OK;
}

const af_env_def af_door_open_def = {
  .name = "door_open",
  .camera = "learn",
  .description = "the shared arm opens a hinged door by its lever handle to a goal angle (goal-conditioned; optional latch)",
  .success = "goal mode: door angle within success_tol (0.1 rad) of the goal; fixed mode: door past fixed_angle (0.3 rad)",
  .reward_text = "dense: -|angle - goal| - 0.5 d(hand, handle) - action_cost |a|^2; sparse: -1 until success, then 0",
  .asset = "door_open.xml",
  .horizon = 50,
  .control_hz = 10,
  .params = door_params,
  .nparams = sizeof door_params / sizeof door_params[0],
  .cfg_size = sizeof(door_cfg),
  .dr = door_dr,
  .ndr = sizeof door_dr / sizeof door_dr[0],
  .init = door_init,
  .free = door_free,
  .reset = door_reset,
  .act = door_act,
  .observe = door_observe,
  .reward = door_reward,
  .goal_reward = door_goal_reward,
  .metrics = door_metrics,
  .scripted = door_scripted,
  .solve = door_solve,
  .show_goal = door_show_goal,
  // the drawn door width and handle height move and resize the panel, posts and lever
  .rebuilds = "geom_size,geom_pos,geom_rbound,body_pos,body_ipos",
  .state = door_state_io,
};
