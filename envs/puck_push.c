// Puck pushing: the shared arm pushes a puck across a table to a goal marker.
// Goal-conditioned: achieved goal = puck xy, desired goal = goal xy. Success: puck within
// 5 cm of the goal. Dense reward: -d(puck, goal) - 0.5 d(hand, puck) - c |a|^2; sparse: -1/0.
#include "envs/env_impl.h"

#include <math.h>    // sqrt, atan2
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy

#include "envs/arm.h"

// ---- config ----
typedef struct {
  int reward;          // 0 dense, 1 sparse
  double action_cost;
  double success_dist;
  double min_goal_dist;
} puck_cfg;

static const af_param puck_params[] = {
  {"reward", AF_P_ENUM, offsetof(puck_cfg, reward), 0, 0, 1, "dense|sparse", "dense shaping or sparse -1/0"},
  {"action_cost", AF_P_DOUBLE, offsetof(puck_cfg, action_cost), 0.01, 0, 10, NULL, "dense reward: weight of |a|^2"},
  {"success_dist", AF_P_DOUBLE, offsetof(puck_cfg, success_dist), 0.05, 0.005, 0.5, NULL, "success: puck-goal distance below this (m)"},
  {"min_goal_dist", AF_P_DOUBLE, offsetof(puck_cfg, min_goal_dist), 0.1, 0, 0.4, NULL, "goals start at least this far from the puck (m)"},
};

// ---- randomization table ----
static const af_dr_entry puck_dr[] = {
  // name            group            field               targets          mode           dist              nom  train          eval
  {"puck_mass",      AF_DR_PHYSICS,   AF_F_BODY_MASS,     "puck",          AF_DR_SCALE,   AF_DR_LOGUNIFORM, 1, 0.6, 1.6,     0.4, 2.5, "puck mass and inertia"},
  {"puck_size",      AF_DR_PHYSICS,   AF_F_GEOM_SIZE,     "puck",          AF_DR_SCALE,   AF_DR_UNIFORM,    1, 0.85, 1.15,   0.7, 1.3, "puck radius"},
  {"puck_friction",  AF_DR_PHYSICS,   AF_F_GEOM_FRICTION, "puck",          AF_DR_SCALE,   AF_DR_UNIFORM,    1, 0.7, 1.3,     0.5, 1.6, "puck sliding friction"},
  {"table_friction", AF_DR_PHYSICS,   AF_F_GEOM_FRICTION, "table",         AF_DR_SCALE,   AF_DR_UNIFORM,    1, 0.7, 1.3,     0.5, 1.6, "table sliding friction"},
  {"arm_damping",    AF_DR_ACTUATION, AF_F_DOF_DAMPING,   "arm_pan,arm_shoulder,arm_elbow,arm_wrist,arm_roll", AF_DR_SCALE, AF_DR_UNIFORM, 1, 0.8, 1.2, 0.6, 1.5, "arm joint damping"},
  {"arm_armature",   AF_DR_PHYSICS,   AF_F_DOF_ARMATURE,  "arm_pan,arm_shoulder,arm_elbow,arm_wrist,arm_roll", AF_DR_SCALE, AF_DR_UNIFORM, 1, 0.9, 1.1, 0.8, 1.25, "arm joint armature (rotor inertia)"},
  {"arm_gain",       AF_DR_ACTUATION, AF_F_ACT_GAIN,      "arm_pan,arm_shoulder,arm_elbow,arm_wrist,arm_roll", AF_DR_SCALE, AF_DR_UNIFORM, 1, 0.8, 1.2, 0.6, 1.5, "arm servo stiffness kp"},
  {"puck_rgb",       AF_DR_VISUAL,    AF_F_GEOM_RGBA,     "puck",          AF_DR_OFFSET,  AF_DR_UNIFORM,    0, -0.15, 0.15,  -0.3, 0.3, "puck colour"},
  {"table_rgb",      AF_DR_VISUAL,    AF_F_MAT_RGBA,      "table",         AF_DR_OFFSET,  AF_DR_UNIFORM,    0, -0.1, 0.1,    -0.25, 0.25, "table colour"},
  {"light_pos",      AF_DR_VISUAL,    AF_F_LIGHT_POS,     "top",           AF_DR_OFFSET,  AF_DR_UNIFORM,    0, -0.2, 0.2,    -0.4, 0.4, "top light position (m)"},
  {"light_rgb",      AF_DR_VISUAL,    AF_F_LIGHT_DIFFUSE, "top",           AF_DR_OFFSET,  AF_DR_UNIFORM,    0, -0.15, 0.15,  -0.3, 0.2, "top light colour"},
  {"camera_pos",     AF_DR_VISUAL,    AF_F_CAM_POS,       "overview,learn",      AF_DR_OFFSET,  AF_DR_UNIFORM,    0, -0.02, 0.02,  -0.05, 0.05, "camera position (m)"},
  {"camera_rot",     AF_DR_VISUAL,    AF_F_CAM_ROT,       "overview,learn",      AF_DR_OFFSET,  AF_DR_UNIFORM,    0, -0.05, 0.05,  -0.1, 0.1, "camera orientation (axis-angle, rad)"},
  {"camera_fovy",    AF_DR_VISUAL,    AF_F_CAM_FOVY,      "overview,learn",      AF_DR_OFFSET,  AF_DR_UNIFORM,    0, -4, 4,        -8, 8, "camera field of view (deg)"},
  {"obs_noise",      AF_DR_SENSOR,    AF_F_OBS_NOISE,     NULL,            AF_DR_ABSOLUTE, AF_DR_UNIFORM,   0, 0, 0.005,     0, 0.01, "observation noise std (m, m/s)"},
  {"act_noise",      AF_DR_SENSOR,    AF_F_ACT_NOISE,     NULL,            AF_DR_ABSOLUTE, AF_DR_UNIFORM,   0, 0, 0.05,      0, 0.1, "action noise std"},
  {"act_delay",      AF_DR_SENSOR,    AF_F_ACT_DELAY,     NULL,            AF_DR_ABSOLUTE, AF_DR_UNIFORM,   0, 0, 1,         0, 2, "action delay (control steps)"},
  {"puck_x",         AF_DR_TASK,      AF_F_TASK,          NULL,            AF_DR_ABSOLUTE, AF_DR_UNIFORM,   0.5, 0.4, 0.6,   0.35, 0.65, "initial puck x (m)"},
  {"puck_y",         AF_DR_TASK,      AF_F_TASK,          NULL,            AF_DR_ABSOLUTE, AF_DR_UNIFORM,   0, -0.15, 0.15,  -0.2, 0.2, "initial puck y (m)"},
  {"goal_x",         AF_DR_TASK,      AF_F_TASK,          NULL,            AF_DR_ABSOLUTE, AF_DR_UNIFORM,   0.55, 0.4, 0.65, 0.35, 0.7, "goal x (m)"},
  {"goal_y",         AF_DR_TASK,      AF_F_TASK,          NULL,            AF_DR_ABSOLUTE, AF_DR_UNIFORM,   0, -0.2, 0.2,    -0.25, 0.25, "goal y (m)"},
};

// ---- state ----
typedef struct {
  af_arm arm;
  int puck_qadr, puck_dadr, puck_geom, goal_mocap;
  double goal[2], start[2], min_dist, prev_hand[3];
  int pushing;  // scripted controller: 1 once lined up behind the puck
} puck_state;

#define HAND_START_X 0.3
#define HAND_START_Z 0.12
#define PUSH_Z 0.025   // grip site height while pushing: fingertips 1.5 cm above the table
#define SAFE_Z 0.08    // grip site height for moving over the puck

static int puck_init(af_env *e, char *err, size_t errsz) {
  puck_state *s = calloc(1, sizeof *s);
  if (!s) { snprintf(err, errsz, "out of memory"); return -1; }
  e->state = s;
  af_arm *arm = &s->arm;
  const double lo[3] = {0.2, -0.4, 0.015}, hi[3] = {0.8, 0.4, 0.35};
  memcpy(arm->ws_lo, lo, sizeof lo);
  memcpy(arm->ws_hi, hi, sizeof hi);
  arm->max_step = 0.05;
  arm->max_lead = 0.06;
  arm->use_yaw = 0;
  if (af_arm_init(arm, e->m, err, errsz)) return -1;
  int j = mj_name2id(e->m, mjOBJ_JOINT, "puck"), b = mj_name2id(e->m, mjOBJ_BODY, "goal");
  s->puck_geom = mj_name2id(e->m, mjOBJ_GEOM, "puck");
  if (j < 0 || b < 0 || s->puck_geom < 0 || e->m->body_mocapid[b] < 0) {
    snprintf(err, errsz, "puck_push model lacks the puck joint, puck geom or goal mocap body");
    return -1;
  }
  s->puck_qadr = e->m->jnt_qposadr[j];
  s->puck_dadr = e->m->jnt_dofadr[j];
  s->goal_mocap = e->m->body_mocapid[b];
  af_env_spec *sp = &e->spec;
  sp->obs_dim = 17;
  sp->act_dim = af_arm_act_dim(arm);
  sp->goal_dim = 2;
  sp->proprio_dim = 7;  // hand, its velocity, opening
  sp->achieved_offset = 13;
  sp->desired_offset = 15;
  sp->n_metrics = 4;
  sp->metric_names[0] = "final_dist";
  sp->metric_names[1] = "min_dist";
  sp->metric_names[2] = "puck_moved";
  sp->metric_names[3] = "hand_puck_dist";
  return 0;
}

static void puck_free(af_env *e) {
  puck_state *s = e->state;
  af_arm_free(&s->arm);
  free(s);
  e->state = NULL;
}

static double dist2(const double *a, const double *b) {
  return sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]));
}

static void puck_reset(af_env *e, af_rng *rng) {
  (void)rng;  // every draw of this task is in the randomization table
  puck_state *s = e->state;
  const puck_cfg *c = e->cfg;
  mjData *d = e->d;
  // puck resting on the table at its drawn position, yaw from the table too
  double px = af_dr_value(&e->dr, "puck_x", 0, 0), py = af_dr_value(&e->dr, "puck_y", 0, 0);
  double half_h = e->m->geom_size[3 * s->puck_geom + 1];
  double *q = d->qpos + s->puck_qadr;
  q[0] = px; q[1] = py; q[2] = half_h;
  q[3] = 1; q[4] = q[5] = q[6] = 0;
  // goal at its drawn position, pushed out to at least min_goal_dist from the puck
  double g[2] = {af_dr_value(&e->dr, "goal_x", 0, 0), af_dr_value(&e->dr, "goal_y", 0, 0)};
  double dx = g[0] - px, dy = g[1] - py, dd = sqrt(dx * dx + dy * dy);
  if (dd < c->min_goal_dist) {
    if (dd < 1e-9) { dx = 1; dy = 0; dd = 1; }
    g[0] = px + dx / dd * c->min_goal_dist;
    g[1] = py + dy / dd * c->min_goal_dist;
  }
  memcpy(s->goal, g, sizeof g);
  s->start[0] = px; s->start[1] = py;
  d->mocap_pos[3 * s->goal_mocap] = g[0];
  d->mocap_pos[3 * s->goal_mocap + 1] = g[1];
  // hand above the table behind the work area, fingers closed
  const double hand[3] = {HAND_START_X, 0, HAND_START_Z};
  af_arm_reset(&s->arm, e->m, d, hand, 0, 0);
  memcpy(s->prev_hand, af_arm_hand(&s->arm, d), sizeof s->prev_hand);
  s->min_dist = dist2(q, g);
  s->pushing = 0;
}

static void puck_act(af_env *e, const float *a) {
  puck_state *s = e->state;
  memcpy(s->prev_hand, af_arm_hand(&s->arm, e->d), sizeof s->prev_hand);
  af_arm_act(&s->arm, e->m, e->d, a);
}

static void puck_observe(const af_env *e, float *o) {
  const puck_state *s = e->state;
  const mjData *d = e->d;
  const mjtNum *h = af_arm_hand(&s->arm, d);
  const mjtNum *p = d->qpos + s->puck_qadr, *v = d->qvel + s->puck_dadr;
  double hz = e->spec.control_hz;
  // hand (3), hand velocity over the last control step (3), finger opening (1)
  for (int k = 0; k < 3; k++) o[k] = (float)h[k];
  for (int k = 0; k < 3; k++) o[3 + k] = (float)((h[k] - s->prev_hand[k]) * hz);
  o[6] = (float)af_arm_opening(&s->arm, d);
  // puck position (3) and linear velocity (3, world frame)
  for (int k = 0; k < 3; k++) o[7 + k] = (float)p[k];
  for (int k = 0; k < 3; k++) o[10 + k] = (float)v[k];
  // achieved goal (2), desired goal (2)
  o[13] = (float)p[0]; o[14] = (float)p[1];
  o[15] = (float)s->goal[0]; o[16] = (float)s->goal[1];
}

static float puck_goal_reward(const af_env *e, const float *ach, const float *des) {
  const puck_cfg *c = e->cfg;
  double dx = ach[0] - des[0], dy = ach[1] - des[1], dd = sqrt(dx * dx + dy * dy);
  if (c->reward == 1) return dd < c->success_dist ? 0.0f : -1.0f;
  return (float)-dd;
}

static float puck_reward(af_env *e, const float *a, int *success, int *terminated) {
  puck_state *s = e->state;
  const puck_cfg *c = e->cfg;
  const mjtNum *p = e->d->qpos + s->puck_qadr, *h = af_arm_hand(&s->arm, e->d);
  float ach[2] = {(float)p[0], (float)p[1]}, des[2] = {(float)s->goal[0], (float)s->goal[1]};
  double dd = dist2(p, s->goal);
  if (dd < s->min_dist) s->min_dist = dd;
  *success = dd < c->success_dist;
  *terminated = 0;
  float r = puck_goal_reward(e, ach, des);
  if (c->reward == 0) {
    // goal-independent shaping: reach the puck, move economically
    double hp = sqrt((h[0] - p[0]) * (h[0] - p[0]) + (h[1] - p[1]) * (h[1] - p[1]) + (h[2] - p[2]) * (h[2] - p[2]));
    double a2 = 0;
    for (int i = 0; i < e->spec.act_dim; i++) a2 += (double)a[i] * a[i];
    r += (float)(-0.5 * hp - c->action_cost * a2);
  }
  return r;
}

static void puck_metrics(const af_env *e, float *m) {
  const puck_state *s = e->state;
  const mjtNum *p = e->d->qpos + s->puck_qadr, *h = af_arm_hand(&s->arm, e->d);
  m[0] = (float)dist2(p, s->goal);
  m[1] = (float)s->min_dist;
  m[2] = (float)dist2(p, s->start);
  m[3] = (float)dist2(h, p);
}

// A solved configuration: the puck resting within 60% of the success radius of the goal,
// the hand somewhere above the table nearby, holding still with the fingers closed
static void puck_solve(af_env *e, af_rng *rng, float *hold) {
  puck_state *s = e->state;
  const puck_cfg *c = e->cfg;
  mjData *d = e->d;
  double r = 0.6 * c->success_dist * sqrt(af_rng_uniform(rng)), th = af_rng_range(rng, -3.14159265, 3.14159265);
  double *q = d->qpos + s->puck_qadr;
  q[0] = s->goal[0] + r * cos(th);
  q[1] = s->goal[1] + r * sin(th);
  mju_zero(d->qvel + s->puck_dadr, 6);
  double hand[3] = {s->goal[0] + af_rng_range(rng, -0.15, 0.05), s->goal[1] + af_rng_range(rng, -0.1, 0.1), af_rng_range(rng, 0.08, 0.2)};
  af_arm_reset(&s->arm, e->m, d, hand, 0, 0);
  memcpy(s->prev_hand, af_arm_hand(&s->arm, d), sizeof s->prev_hand);
  hold[e->spec.act_dim - 1] = -1;
}

// Scripted pusher: line up behind the puck on the goal line at a safe height, descend, push
// through the puck towards the goal while correcting sideways drift; back off and line up
// again whenever the puck leaves the pushing line.
static int puck_scripted(af_env *e, float *a) {
  puck_state *s = e->state;
  const mjData *d = e->d;
  const mjtNum *p = d->qpos + s->puck_qadr, *h = af_arm_hand(&s->arm, d);
  double R = e->m->geom_size[3 * s->puck_geom];
  double gx = s->goal[0] - p[0], gy = s->goal[1] - p[1], gd = sqrt(gx * gx + gy * gy);
  double ux = gd > 1e-9 ? gx / gd : 1, uy = gd > 1e-9 ? gy / gd : 0;
  // hand relative to the puck: along the push direction and across it
  double rx = h[0] - p[0], ry = h[1] - p[1];
  double along = rx * ux + ry * uy, across = -rx * uy + ry * ux;
  double behind = R + 0.025;  // standoff of the grip site behind the puck centre
  double t[3];
  if (s->pushing && (along > -R * 0.5 || fabs(across) > R * 0.8 || h[2] > PUSH_Z + 0.03)) s->pushing = 0;
  if (!s->pushing && h[2] < PUSH_Z + 0.02 && along < -R && fabs(across) < R * 0.4) s->pushing = 1;
  if (s->pushing) {
    // push: aim the hand at the spot that leaves the puck on the goal, recentre across the
    // line, and slow down near the goal so the puck does not slide past it
    double cx = -across * 0.8;
    t[0] = s->goal[0] - ux * behind - uy * cx;
    t[1] = s->goal[1] - uy * behind + ux * cx;
    t[2] = PUSH_Z;
    double vmax = gd < 0.01 ? 0 : fmin(0.03, 0.005 + 0.5 * gd);
    double mx = t[0] - h[0], my = t[1] - h[1], mn = sqrt(mx * mx + my * my);
    if (mn > vmax) { t[0] = h[0] + mx / mn * vmax; t[1] = h[1] + my / mn * vmax; }
  } else {
    // line up: the approach point behind the puck; go over the puck when near it
    double ax = p[0] - ux * behind, ay = p[1] - uy * behind;
    double off = sqrt((h[0] - ax) * (h[0] - ax) + (h[1] - ay) * (h[1] - ay));
    double near_puck = sqrt(rx * rx + ry * ry) < R + 0.06;
    t[0] = ax; t[1] = ay;
    if (off < 0.015) t[2] = PUSH_Z;
    else if (near_puck && h[2] < SAFE_Z - 0.01) { t[0] = h[0]; t[1] = h[1]; t[2] = SAFE_Z; }
    else t[2] = off < 0.05 ? PUSH_Z : SAFE_Z;
  }
  af_arm_action_towards(&s->arm, h, t, a);
  a[e->spec.act_dim - 1] = -1;  // fingers closed: a blunt pusher
  return AF_OK;
}

// snapshot: the arm's command, the episode's goal, start and closest approach, the hand's
// last position and the scripted pusher's mode
static int puck_state_io(af_env *e, af_state_io *io) {
  puck_state *s = e->state;
  af_arm_state(&s->arm, io);
  AF_STATE_FIELD(io, s->goal);
  AF_STATE_FIELD(io, s->start);
  AF_STATE_FIELD(io, s->min_dist);
  AF_STATE_FIELD(io, s->prev_hand);
  AF_STATE_FIELD(io, s->pushing);
  return AF_OK;
}

const af_env_def af_puck_push_def = {
  .name = "puck_push",
  .description = "the shared arm pushes a puck across a table to a goal (goal-conditioned)",
  .success = "puck centre within success_dist (5 cm) of the goal in the table plane",
  .reward_text = "dense: -d(puck,goal) - 0.5 d(hand,puck) - action_cost |a|^2; sparse: -1 until success, then 0",
  .asset = "puck_push.xml",
  .camera = "learn",
  .horizon = 50,
  .control_hz = 10,
  .params = puck_params,
  .nparams = sizeof puck_params / sizeof puck_params[0],
  .cfg_size = sizeof(puck_cfg),
  .dr = puck_dr,
  .ndr = sizeof puck_dr / sizeof puck_dr[0],
  .init = puck_init,
  .free = puck_free,
  .reset = puck_reset,
  .act = puck_act,
  .observe = puck_observe,
  .reward = puck_reward,
  .goal_reward = puck_goal_reward,
  .metrics = puck_metrics,
  .scripted = puck_scripted,
  .solve = puck_solve,
  .state = puck_state_io,
};
