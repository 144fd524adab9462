// Bin grasping: the shared arm picks one object out of a bin of clutter. Each reset draws the
// clutter afresh (shape, size, mass, friction and colour of every object from the
// randomization table, its drop pose from the initial-state stream), drops it into the bin
// and lets it settle. Sparse reward 1 (and the episode ends) when an object
// is held between both fingers and lifted at least lift_height above where it rested.
//
// MuJoCo 2.2.2 cannot add geoms at run time, so assets/bin_grasp.xml declares 8 object slots,
// each a free body with one geom of every shape; reset enables one geom per slot and writes
// its size, bounding radius, colour and friction, and the body inertia for that shape. Every
// array reset writes is first restored from the nominal model (e->m0), so nothing leaks from
// one episode into the next.
#include "envs/env_impl.h"

#include <math.h>    // sqrt, fabs, atan2, ceil, floor, fmax
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy, strcmp

#include "envs/arm.h"

#define BIN_MAX_OBJ 8
#define BIN_NSHAPE 5

// the shapes a slot can take, in the order of the slot's geoms in the asset
static const int shape_type[BIN_NSHAPE] = {mjGEOM_BOX, mjGEOM_CYLINDER, mjGEOM_CAPSULE, mjGEOM_SPHERE, mjGEOM_ELLIPSOID};
static const char *shape_suffix[BIN_NSHAPE] = {"box", "cyl", "cap", "sph", "ell"};

// object sizes (m) are clamped to this much at least, whatever range a config gives
#define SIZE_MIN 0.002

// the bin (assets/bin_grasp.xml): inside, floor top and wall top
#define BIN_X0 0.36
#define BIN_X1 0.60
#define BIN_Y0 -0.15
#define BIN_Y1 0.15
#define BIN_FLOOR_Z 0.0
#define BIN_WALL_Z 0.08

#define SETTLE_TAU 0.05     // time constant of the spin damping while the clutter settles (s)
#define SETTLE_DAMPED 0.7   // fraction of the settling time with that damping

// where the hand waits while the clutter settles, and where each episode starts
static const double park_hand[3] = {0.25, 0.0, 0.32};
static const double start_hand[3] = {0.48, 0.0, 0.22};

// ---- config ----
typedef struct {
  int objects;
  int reward;  // 0 sparse, 1 shaped
  double lift_height;
  double disturb_prob;
  double disturb_speed;
  double settle_time;
  int disturb_mode;  // 0 random (object and step), 1 nearest (the object by the fingers, before they close)
  double disturb_radius;
  int loop;          // 0 closed (the live state), 1 open (the episode's first observation and the time)
  int object_frame;  // 0 world: object positions as they are; 1 hand: relative to the grip site
  int object_order;  // 0 slot: objects in slot order; 1 nearest: by horizontal distance to the hand
  int auto_grasp;    // close and lift by itself once the hand is low, ending the episode
  double auto_height;
} bin_cfg;

static const af_param bin_params[] = {
  {"objects", AF_P_INT, offsetof(bin_cfg, objects), 5, 1, BIN_MAX_OBJ, NULL, "objects dropped into the bin"},
  {"reward", AF_P_ENUM, offsetof(bin_cfg, reward), 0, 0, 1, "sparse|shaped", "sparse 1 on a lift, or shaped (reach, grasp, lift stages)"},
  {"lift_height", AF_P_DOUBLE, offsetof(bin_cfg, lift_height), 0.1, 0.02, 0.3, NULL, "success: held object this far above its resting height (m)"},
  {"disturb_prob", AF_P_DOUBLE, offsetof(bin_cfg, disturb_prob), 0, 0, 1, NULL, "probability per episode that one object is kicked at a random step"},
  {"disturb_speed", AF_P_DOUBLE, offsetof(bin_cfg, disturb_speed), 0.5, 0, 3, NULL, "speed of that kick (m/s, horizontal)"},
  {"settle_time", AF_P_DOUBLE, offsetof(bin_cfg, settle_time), 1.0, 0.1, 3, NULL, "simulated seconds the dropped clutter settles before the episode"},
  {"disturb_mode", AF_P_ENUM, offsetof(bin_cfg, disturb_mode), 0, 0, 1, "random|nearest",
   "random: a random object at a random step; nearest: the object nearest the fingers, once they come within disturb_radius of it while the gripper is still commanded open"},
  {"disturb_radius", AF_P_DOUBLE, offsetof(bin_cfg, disturb_radius), 0.05, 0.005, 0.3, NULL,
   "nearest mode: horizontal distance (m) from the grip site to an object's centre that sets the push off, with the grip site less than 0.15 m above it"},
  {"loop", AF_P_ENUM, offsetof(bin_cfg, loop), 0, 0, 1, "closed|open",
   "closed: every observation is the live state; open: every observation is the episode's first one (hand and objects) with the elapsed fraction of the horizon appended, so a policy plans its whole grasp from the first state and executes it without feedback"},
  {"object_frame", AF_P_ENUM, offsetof(bin_cfg, object_frame), 0, 0, 1, "world|hand",
   "state observation's object positions: world coordinates, or relative to the grip site (object minus hand, as Fetch's object_rel_pos)"},
  {"object_order", AF_P_ENUM, offsetof(bin_cfg, object_order), 0, 0, 1, "slot|nearest",
   "order of the objects in the state observation: by slot, or nearest first (horizontal distance from the grip site to the object's centre; ties by slot)"},
  {"auto_grasp", AF_P_BOOL, offsetof(bin_cfg, auto_grasp), 0, 0, 1, NULL,
   "once a step leaves the grip site within auto_height of the bin floor, the environment closes the gripper and lifts (Quillen et al. 2018's automatic close-and-lift) and the episode ends, a success or not: the policy places the open hand"},
  {"auto_height", AF_P_DOUBLE, offsetof(bin_cfg, auto_height), 0.03, 0.01, 0.2, NULL, "auto_grasp: grip-site height above the bin floor (m) at or below which the grasp is made"},
};

// ---- randomization table. Object shape, size, friction and colour are drawn here per slot
// (value-per-body fields) and applied by reset, which rebuilds the slot's geom; shape and size
// are task parameters (always drawn, like the drop poses), friction follows the physics
// switch and colour the visual one. Training half-widths stay within what the 8 cm gripper
// closes around; the held-out ranges go beyond them. ----
#define OBJ_BODIES "obj0,obj1,obj2,obj3,obj4,obj5,obj6,obj7"
#define ARM_JOINTS "arm_pan,arm_shoulder,arm_elbow,arm_wrist,arm_roll"
#define BIN_GEOMS "table,bin_wall_near,bin_wall_far,bin_wall_left,bin_wall_right"
static const af_dr_entry bin_dr[] = {
  // name            group            field               targets      mode            dist              nom  train          eval
  {"object_shape",   AF_DR_TASK,      AF_F_BODY_VALUE,    OBJ_BODIES,  AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0, 0, 5,         0, 5, "object shape, the draw's whole part: 0 box, 1 cylinder, 2 capsule, 3 sphere, 4 ellipsoid (all five in training)"},
  {"object_size",    AF_DR_TASK,      AF_F_BODY_VEC3,     OBJ_BODIES,  AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0.02, 0.015, 0.028, 0.012, 0.034, "object half-widths (m): box and ellipsoid x y z, radius of cylinder, capsule and sphere x"},
  {"object_length",  AF_DR_TASK,      AF_F_BODY_VALUE,    OBJ_BODIES,  AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0.02, 0.012, 0.032, 0.008, 0.04, "cylinder half-height and capsule half-length (m)"},
  {"object_friction", AF_DR_PHYSICS,  AF_F_BODY_VALUE,    OBJ_BODIES,  AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0.9, 0.6, 1.2,   0.4, 1.5, "object sliding friction (nominal: the asset's 0.9)"},
  {"object_rgb",     AF_DR_VISUAL,    AF_F_BODY_VEC3,     OBJ_BODIES,  AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0.5, 0.1, 0.95,  0.02, 1, "object colour per channel (off: each object keeps the asset's colour)"},
  {"object_mass",    AF_DR_PHYSICS,   AF_F_BODY_MASS,     OBJ_BODIES,  AF_DR_SCALE,    AF_DR_LOGUNIFORM, 1, 0.5, 2,       0.35, 3, "object mass (nominal 0.1 kg; inertia follows shape and size)"},
  {"bin_friction",   AF_DR_PHYSICS,   AF_F_GEOM_FRICTION, BIN_GEOMS,   AF_DR_SCALE,    AF_DR_UNIFORM,    1, 0.7, 1.3,     0.5, 1.6, "bin (walls and table) sliding friction"},
  {"arm_damping",    AF_DR_ACTUATION, AF_F_DOF_DAMPING,   ARM_JOINTS,  AF_DR_SCALE,    AF_DR_UNIFORM,    1, 0.8, 1.2,     0.6, 1.5, "arm joint damping"},
  {"arm_armature",   AF_DR_PHYSICS,   AF_F_DOF_ARMATURE,  ARM_JOINTS,  AF_DR_SCALE,    AF_DR_UNIFORM,    1, 0.9, 1.1,     0.8, 1.25, "arm joint armature (rotor inertia)"},
  {"arm_gain",       AF_DR_ACTUATION, AF_F_ACT_GAIN,      ARM_JOINTS,  AF_DR_SCALE,    AF_DR_UNIFORM,    1, 0.8, 1.2,     0.6, 1.5, "arm servo stiffness kp"},
  {"finger_gain",    AF_DR_ACTUATION, AF_F_ACT_GAIN,      "arm_finger_l,arm_finger_r", AF_DR_SCALE, AF_DR_UNIFORM, 1, 0.8, 1.2, 0.6, 1.4, "finger servo stiffness kp (grip force)"},
  {"bin_rgb",        AF_DR_VISUAL,    AF_F_MAT_RGBA,      "bin",       AF_DR_OFFSET,   AF_DR_UNIFORM,    0, -0.15, 0.15,  -0.3, 0.3, "bin colour"},
  {"table_rgb",      AF_DR_VISUAL,    AF_F_MAT_RGBA,      "table",     AF_DR_OFFSET,   AF_DR_UNIFORM,    0, -0.1, 0.1,    -0.25, 0.25, "table colour"},
  {"light_pos",      AF_DR_VISUAL,    AF_F_LIGHT_POS,     "top",       AF_DR_OFFSET,   AF_DR_UNIFORM,    0, -0.2, 0.2,    -0.4, 0.4, "top light position (m)"},
  {"light_rgb",      AF_DR_VISUAL,    AF_F_LIGHT_DIFFUSE, "top",       AF_DR_OFFSET,   AF_DR_UNIFORM,    0, -0.15, 0.15,  -0.3, 0.2, "top light colour"},
  {"camera_pos",     AF_DR_VISUAL,    AF_F_CAM_POS,       "shoulder,learn", AF_DR_OFFSET,   AF_DR_UNIFORM,    0, -0.02, 0.02,  -0.05, 0.05, "shoulder camera position (m)"},
  {"camera_rot",     AF_DR_VISUAL,    AF_F_CAM_ROT,       "shoulder,learn", AF_DR_OFFSET,   AF_DR_UNIFORM,    0, -0.05, 0.05,  -0.1, 0.1, "shoulder camera orientation (axis-angle, rad)"},
  {"camera_fovy",    AF_DR_VISUAL,    AF_F_CAM_FOVY,      "shoulder,learn", AF_DR_OFFSET,   AF_DR_UNIFORM,    0, -4, 4,        -8, 8, "shoulder camera field of view (deg)"},
  {"obs_noise",      AF_DR_SENSOR,    AF_F_OBS_NOISE,     NULL,        AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0, 0, 0.005,     0, 0.01, "observation noise std"},
  {"act_noise",      AF_DR_SENSOR,    AF_F_ACT_NOISE,     NULL,        AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0, 0, 0.05,      0, 0.1, "action noise std"},
  {"act_delay",      AF_DR_SENSOR,    AF_F_ACT_DELAY,     NULL,        AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0, 0, 1,         0, 2, "action delay (control steps)"},
};

// ---- state ----
enum { PH_APPROACH, PH_DESCEND, PH_CLOSE, PH_LIFT };

#define OBS_HAND 6
#define OBS_SLOT 16  // pos 3, quat 4, half-extents 3, shape one-hot 5, mask 1
#define OBS_STATE (OBS_HAND + OBS_SLOT * BIN_MAX_OBJ)

// a top-down grasp of one object: finger yaw, the object's half-width across the fingers,
// the free space left each side of it, how badly the fingers would clash, overall score
typedef struct { double yaw, width, gap, clash, score; } grasp_plan;

typedef struct {
  af_arm arm;
  int body[BIN_MAX_OBJ], qadr[BIN_MAX_OBJ], dadr[BIN_MAX_OBJ];
  int geom[BIN_MAX_OBJ][BIN_NSHAPE];
  int finger_geom[2];
  int n;                      // objects this episode (the config's count)
  int shape[BIN_MAX_OBJ];     // chosen shape per slot
  double rest_z[BIN_MAX_OBJ]; // height of each object after settling
  // disturbance: at control step disturb_t, object disturb_obj gets disturb_v added; in the
  // nearest mode disturb_t >= 0 only arms it and the object is the one by the fingers
  int disturb_t, disturb_obj, disturbed;
  double disturb_v[3];
  // episode statistics
  double max_lift;
  int grasped;
  // scripted controller
  int phase, target, phase_steps, excluded;
  double last_z;
  grasp_plan plan;           // the grasp being executed
  float first[OBS_STATE];    // loop open: the episode's first observation
  // auto_grasp: physics steps taken in this control step, and whether the grasp was made (the
  // episode then ends, so neither outlives a step in a snapshot)
  int substeps, auto_tried;
} bin_state;

static int bin_init(af_env *e, char *err, size_t errsz) {
  bin_state *s = calloc(1, sizeof *s);
  if (!s) { snprintf(err, errsz, "out of memory"); return -1; }
  e->state = s;
  af_arm *arm = &s->arm;
  const double lo[3] = {0.25, -0.3, BIN_FLOOR_Z + 0.008}, hi[3] = {0.7, 0.3, 0.4};
  memcpy(arm->ws_lo, lo, sizeof lo);
  memcpy(arm->ws_hi, hi, sizeof hi);
  arm->max_step = 0.05;
  arm->max_lead = 0.06;
  arm->use_yaw = 1;  // grasps need the fingers across the object's narrow side
  arm->max_yaw_step = 0.4;
  if (af_arm_init(arm, e->m, err, errsz)) return -1;
  const mjModel *m = e->m;
  // the object slots: body, free joint and one geom per shape, all named objK[_shape]
  for (int i = 0; i < BIN_MAX_OBJ; i++) {
    char name[32];
    snprintf(name, sizeof name, "obj%d", i);
    int b = mj_name2id(m, mjOBJ_BODY, name), j = mj_name2id(m, mjOBJ_JOINT, name);
    if (b < 0 || j < 0 || m->jnt_type[j] != mjJNT_FREE) {
      snprintf(err, errsz, "bin_grasp model lacks body and free joint '%s'", name);
      return -1;
    }
    s->body[i] = b;
    s->qadr[i] = m->jnt_qposadr[j];
    s->dadr[i] = m->jnt_dofadr[j];
    for (int k = 0; k < BIN_NSHAPE; k++) {
      snprintf(name, sizeof name, "obj%d_%s", i, shape_suffix[k]);
      int g = mj_name2id(m, mjOBJ_GEOM, name);
      if (g < 0 || m->geom_type[g] != shape_type[k] || m->geom_bodyid[g] != b) {
        snprintf(err, errsz, "bin_grasp model lacks geom '%s' of the right type on body obj%d", name, i);
        return -1;
      }
      s->geom[i][k] = g;
    }
  }
  s->finger_geom[0] = mj_name2id(m, mjOBJ_GEOM, "arm_finger_l");
  s->finger_geom[1] = mj_name2id(m, mjOBJ_GEOM, "arm_finger_r");
  if (s->finger_geom[0] < 0 || s->finger_geom[1] < 0) { snprintf(err, errsz, "bin_grasp model lacks the finger geoms"); return -1; }
  af_env_spec *sp = &e->spec;
  sp->obs_dim = OBS_STATE + (((const bin_cfg *)e->cfg)->loop == 1);
  // closed loop: the hand's pose and opening (open loop observes the first state only)
  sp->proprio_dim = ((const bin_cfg *)e->cfg)->loop == 0 ? OBS_HAND : 0;
  sp->act_dim = af_arm_act_dim(arm);
  sp->n_metrics = 4;
  sp->metric_names[0] = "max_lift";
  sp->metric_names[1] = "grasped";
  sp->metric_names[2] = "disturbed";
  sp->metric_names[3] = "objects";
  return 0;
}

static void bin_free(af_env *e) {
  bin_state *s = e->state;
  af_arm_free(&s->arm);
  free(s);
  e->state = NULL;
}

// ---- shapes ----

// the geom size a shape takes from drawn half-widths w (3) and half-length len
static void shape_size(int k, const double w[3], double len, mjtNum size[3]) {
  double a = fmax(w[0], SIZE_MIN), b = fmax(w[1], SIZE_MIN), c = fmax(w[2], SIZE_MIN);
  len = fmax(len, SIZE_MIN);
  size[0] = size[1] = size[2] = 0;
  switch (shape_type[k]) {
    case mjGEOM_BOX: case mjGEOM_ELLIPSOID: size[0] = a; size[1] = b; size[2] = c; break;
    case mjGEOM_CYLINDER: case mjGEOM_CAPSULE: size[0] = a; size[1] = len; break;
    default: size[0] = a; break;  // sphere
  }
}

// radius of the bounding sphere, as MuJoCo's compiler computes it
static double shape_rbound(int type, const mjtNum *s) {
  switch (type) {
    case mjGEOM_SPHERE: return s[0];
    case mjGEOM_CAPSULE: return s[0] + s[1];
    case mjGEOM_CYLINDER: return sqrt(s[0] * s[0] + s[1] * s[1]);
    case mjGEOM_BOX: return sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]);
    default: return fmax(fmax(s[0], s[1]), s[2]);  // ellipsoid
  }
}

// principal inertia of a solid shape of mass m about its centre, axes along the geom's
// (the formulas of MuJoCo's compiler; a capsule is a cylinder plus two hemispheres)
static void shape_inertia(int type, const mjtNum *s, double m, mjtNum I[3]) {
  double a = s[0], b = s[1], c = s[2];
  switch (type) {
    case mjGEOM_BOX:
      I[0] = m / 3 * (b * b + c * c); I[1] = m / 3 * (a * a + c * c); I[2] = m / 3 * (a * a + b * b);
      break;
    case mjGEOM_ELLIPSOID:
      I[0] = m / 5 * (b * b + c * c); I[1] = m / 5 * (a * a + c * c); I[2] = m / 5 * (a * a + b * b);
      break;
    case mjGEOM_SPHERE: I[0] = I[1] = I[2] = 0.4 * m * a * a; break;
    case mjGEOM_CYLINDER:
      I[0] = I[1] = m * (3 * a * a + 4 * b * b) / 12; I[2] = m * a * a / 2;
      break;
    default: {
      // capsule: radius a, cylinder half-length b; mass split by volume
      double h = 2 * b, vc = mjPI * a * a * h, vs = 4.0 / 3 * mjPI * a * a * a;
      double mc = m * vc / (vc + vs), ms = m * vs / (vc + vs);
      I[0] = I[1] = mc * (3 * a * a + h * h) / 12 + ms * (0.4 * a * a + h * h / 4 + 3 * h * a / 8);
      I[2] = mc * a * a / 2 + ms * 0.4 * a * a;
    }
  }
}

// half-extent of a shape along unit direction v given in its own frame
static double shape_extent(int type, const mjtNum *s, const double v[3]) {
  switch (type) {
    case mjGEOM_BOX: return s[0] * fabs(v[0]) + s[1] * fabs(v[1]) + s[2] * fabs(v[2]);
    case mjGEOM_SPHERE: return s[0];
    case mjGEOM_CAPSULE: return s[0] + s[1] * fabs(v[2]);
    case mjGEOM_CYLINDER: return s[0] * sqrt(fmax(0, 1 - v[2] * v[2])) + s[1] * fabs(v[2]);
    default: return sqrt(s[0] * s[0] * v[0] * v[0] + s[1] * s[1] * v[1] * v[1] + s[2] * s[2] * v[2] * v[2]);
  }
}

// the half-extent of slot i along world direction u (its body frame from mjData)
static double object_extent(const bin_state *s, const mjModel *m, const mjData *d, int i, const double u[3]) {
  const mjtNum *R = d->xmat + 9 * s->body[i];
  double v[3];
  for (int k = 0; k < 3; k++) v[k] = R[k] * u[0] + R[3 + k] * u[1] + R[6 + k] * u[2];  // R' u
  int g = s->geom[i][s->shape[i]];
  return shape_extent(m->geom_type[g], m->geom_size + 3 * g, v);
}

// a slot's geom for this episode and where the slot's body is
static int active_geom(const bin_state *s, int i) { return s->geom[i][s->shape[i]]; }

// unused slots wait here, apart from each other and from everything else, contact off
static void park_slot(const bin_state *s, mjData *d, int i) {
  mjtNum *q = d->qpos + s->qadr[i];
  q[0] = 3.0 + 0.5 * i; q[1] = 3.0; q[2] = 1.0;
  q[3] = 1; q[4] = q[5] = q[6] = 0;
  for (int k = 0; k < 6; k++) d->qvel[s->dadr[i] + k] = 0;
}

// whether the table entry `name` was drawn this episode (its group switched on)
static int dr_on(const af_dr *dr, const char *name) {
  for (int i = 0; i < dr->n; i++)
    if (strcmp(dr->p[i].e->name, name) == 0) return af_dr_active(dr, &dr->p[i]);
  return 0;
}

static void observe_state(const af_env *e, float *o);

static void bin_reset(af_env *e, af_rng *rng) {
  bin_state *s = e->state;
  const bin_cfg *c = e->cfg;
  mjModel *m = e->m;
  const mjModel *m0 = e->m0;
  mjData *d = e->d;
  const af_dr *dr = &e->dr;
  int friction_on = dr_on(dr, "object_friction"), rgb_on = dr_on(dr, "object_rgb");
  s->n = c->objects;

  // shape, size, friction and colour per slot from the table (each parameter its own stream);
  // the drop poses from the initial-state stream, drawn for all slots in a fixed order, so
  // switching groups or changing the object count never shifts the other draws
  double w[BIN_MAX_OBJ][3], len[BIN_MAX_OBJ], fric[BIN_MAX_OBJ], rgb[BIN_MAX_OBJ][3], pos[BIN_MAX_OBJ][3], quat[BIN_MAX_OBJ][4];
  int shape[BIN_MAX_OBJ];
  for (int i = 0; i < BIN_MAX_OBJ; i++) {
    int k = (int)floor(af_dr_value(dr, "object_shape", i, 0));
    shape[i] = k < 0 ? 0 : k >= BIN_NSHAPE ? BIN_NSHAPE - 1 : k;
    for (int j = 0; j < 3; j++) w[i][j] = af_dr_value(dr, "object_size", i, j);
    len[i] = af_dr_value(dr, "object_length", i, 0);
    fric[i] = fmax(0, af_dr_value(dr, "object_friction", i, 0));
    for (int j = 0; j < 3; j++) rgb[i][j] = fmin(1, fmax(0, af_dr_value(dr, "object_rgb", i, j)));
  }
  for (int i = 0; i < BIN_MAX_OBJ; i++) {
    // dropped above the bin, inside its walls, staggered in height; uniform random orientation
    pos[i][0] = af_rng_range(rng, BIN_X0 + 0.035, BIN_X1 - 0.035);
    pos[i][1] = af_rng_range(rng, BIN_Y0 + 0.035, BIN_Y1 - 0.035);
    pos[i][2] = BIN_FLOOR_Z + 0.05 + 0.065 * i;
    double a = af_rng_uniform(rng), b = af_rng_uniform(rng), g = af_rng_uniform(rng);
    quat[i][0] = sqrt(1 - a) * sin(2 * mjPI * b);
    quat[i][1] = sqrt(1 - a) * cos(2 * mjPI * b);
    quat[i][2] = sqrt(a) * sin(2 * mjPI * g);
    quat[i][3] = sqrt(a) * cos(2 * mjPI * g);
  }
  double disturb_u = af_rng_uniform(rng);
  int disturb_obj = af_rng_int(rng, 0, BIN_MAX_OBJ - 1);
  int disturb_t = af_rng_int(rng, 1, e->spec.horizon > 2 ? e->spec.horizon - 1 : 1);
  double disturb_dir = af_rng_range(rng, -mjPI, mjPI);

  // the model: restore every array this function writes, then write this episode's clutter
  for (int i = 0; i < BIN_MAX_OBJ; i++) {
    int b = s->body[i];
    mju_copy(m->body_inertia + 3 * b, m0->body_inertia + 3 * b, 3);
    for (int k = 0; k < BIN_NSHAPE; k++) {
      int g = s->geom[i][k];
      mju_copy(m->geom_size + 3 * g, m0->geom_size + 3 * g, 3);
      m->geom_rbound[g] = m0->geom_rbound[g];
      m->geom_contype[g] = 0;
      m->geom_conaffinity[g] = 0;
      memcpy(m->geom_rgba + 4 * g, m0->geom_rgba + 4 * g, 4 * sizeof(float));
      m->geom_rgba[4 * g + 3] = 0;
      mju_copy(m->geom_friction + 3 * g, m0->geom_friction + 3 * g, 3);
    }
    s->shape[i] = shape[i];
    if (i >= s->n) continue;
    int g = active_geom(s, i);
    mjtNum *size = m->geom_size + 3 * g;
    shape_size(shape[i], w[i], len[i], size);
    m->geom_rbound[g] = shape_rbound(m->geom_type[g], size);
    m->geom_contype[g] = 1;
    m->geom_conaffinity[g] = 1;
    m->geom_rgba[4 * g + 3] = 1;
    if (rgb_on)
      for (int k = 0; k < 3; k++) m->geom_rgba[4 * g + k] = (float)rgb[i][k];
    if (friction_on) m->geom_friction[3 * g] = fric[i];
    // inertia of the chosen shape at the (possibly randomized) body mass
    shape_inertia(m->geom_type[g], size, m->body_mass[b], m->body_inertia + 3 * b);
  }
  // derived constants (invweight, subtree mass) follow the new inertias
  mj_setConst(m, d);

  // the clutter above the bin, the arm parked out of the way, then let everything settle
  for (int i = 0; i < BIN_MAX_OBJ; i++) {
    if (i >= s->n) { park_slot(s, d, i); continue; }
    mjtNum *q = d->qpos + s->qadr[i];
    for (int k = 0; k < 3; k++) q[k] = pos[i][k];
    for (int k = 0; k < 4; k++) q[3 + k] = quat[i][k];
    mju_normalize4(q + 3);
    for (int k = 0; k < 6; k++) d->qvel[s->dadr[i] + k] = 0;
  }
  af_arm_reset(&s->arm, m, d, park_hand, 0, 0);
  // for the first part of the settling the objects' spin is damped (time constant
  // SETTLE_TAU): round shapes stop rolling and rocking; the undamped rest lets anything
  // balanced on a slope roll off before the episode starts
  int settle = (int)(c->settle_time / m->opt.timestep + 0.5), damped = (int)(SETTLE_DAMPED * settle);
  for (int k = 0; k < settle; k++) {
    for (int i = 0; i < s->n; i++)
      for (int j = 3; j < 6; j++) {
        int v = s->dadr[i] + j;
        d->qfrc_applied[v] = k < damped ? -m->dof_M0[v] / SETTLE_TAU * d->qvel[v] : 0;
      }
    mj_step(m, d);
  }
  for (int i = 0; i < s->n; i++)
    for (int j = 3; j < 6; j++) d->qfrc_applied[s->dadr[i] + j] = 0;

  // the episode starts from rest: object velocities cleared, the arm above the bin, open
  for (int i = 0; i < s->n; i++) {
    for (int k = 0; k < 6; k++) d->qvel[s->dadr[i] + k] = 0;
    s->rest_z[i] = d->qpos[s->qadr[i] + 2];
  }
  for (int i = s->n; i < BIN_MAX_OBJ; i++) park_slot(s, d, i);
  mju_zero(d->qacc_warmstart, m->nv);
  d->time = 0;
  af_arm_reset(&s->arm, m, d, start_hand, 0, 1);

  // the disturbance of this episode, if any
  s->disturbed = 0;
  s->disturb_t = disturb_u < c->disturb_prob ? disturb_t : -1;
  s->disturb_obj = disturb_obj % s->n;
  s->disturb_v[0] = c->disturb_speed * cos(disturb_dir);
  s->disturb_v[1] = c->disturb_speed * sin(disturb_dir);
  s->disturb_v[2] = 0;
  s->max_lift = 0;
  s->grasped = 0;
  s->phase = PH_APPROACH;
  s->target = -1;
  s->phase_steps = 0;
  s->excluded = 0;
  s->auto_tried = 0;
  // the first observation, which open loop keeps for the whole episode; taken in both loops,
  // so that both run the very same physics (an extra mj_forward changes the next step's
  // numerics in the last bits)
  mj_forward(m, d);
  observe_state(e, s->first);
}

// the nearest mode's trigger: the gripper still commanded open (grip > 0) and the grip site
// within disturb_radius (horizontally) of an object's centre and less than 0.15 m above it;
// that object, the nearest one, becomes the one pushed
static int nearest_to_push(bin_state *s, const bin_cfg *c, const mjData *d, float grip) {
  if (grip <= 0) return 0;
  const mjtNum *h = af_arm_hand(&s->arm, d);
  int best = -1;
  double best_r = c->disturb_radius;
  for (int i = 0; i < s->n; i++) {
    const mjtNum *x = d->xpos + 3 * s->body[i];
    double r = hypot(h[0] - x[0], h[1] - x[1]);
    if (r < best_r && h[2] - x[2] < 0.15) best = i, best_r = r;
  }
  if (best < 0) return 0;
  s->disturb_obj = best;
  return 1;
}

static void bin_act(af_env *e, const float *a) {
  bin_state *s = e->state;
  mjData *d = e->d;
  // unused slots fall freely without contact: put them back each step
  for (int i = s->n; i < BIN_MAX_OBJ; i++) park_slot(s, d, i);
  // the disturbance: a sudden push of one object
  const bin_cfg *c = e->cfg;
  if (!s->disturbed && s->disturb_t >= 0 && (c->disturb_mode == 1 ? nearest_to_push(s, c, d, a[e->spec.act_dim - 1]) : e->t == s->disturb_t)) {
    for (int k = 0; k < 3; k++) d->qvel[s->dadr[s->disturb_obj] + k] += s->disturb_v[k];
    s->disturbed = 1;
  }
  af_arm_act(&s->arm, e->m, d, a);
  s->substeps = 0;
}

// auto_grasp: the fingers close where the hand is (AUTO_CLOSE control periods), then the
// hand rises lift_height and a margin (5 cm a period), with the environment's own commands
#define AUTO_CLOSE 3
#define AUTO_MARGIN 0.03
static void auto_close_and_lift(af_env *e) {
  bin_state *s = e->state;
  const bin_cfg *c = e->cfg;
  float a[5] = {0, 0, 0, 0, -1};
  int lift_periods = (int)ceil((c->lift_height + AUTO_MARGIN) / s->arm.max_step);
  for (int p = 0; p < AUTO_CLOSE + lift_periods; p++) {
    a[2] = p < AUTO_CLOSE ? 0.0f : 1.0f;
    for (int i = s->n; i < BIN_MAX_OBJ; i++) park_slot(s, e->d, i);
    af_arm_act(&s->arm, e->m, e->d, a);
    for (int k = 0; k < e->spec.frame_skip; k++) mj_step(e->m, e->d);
  }
  s->auto_tried = 1;
}

// one physics step; with auto_grasp, after the control step's last one, the grasp when the
// hand is low
static void bin_physics(af_env *e) {
  bin_state *s = e->state;
  const bin_cfg *c = e->cfg;
  mj_step(e->m, e->d);
  if (!c->auto_grasp || ++s->substeps < e->spec.frame_skip || s->auto_tried) return;
  if (af_arm_hand(&s->arm, e->d)[2] <= BIN_FLOOR_Z + c->auto_height) auto_close_and_lift(e);
}

// yaw of the finger axis (the grip site's y axis) about world z
static double hand_yaw(const bin_state *s, const mjData *d) {
  const mjtNum *R = d->site_xmat + 9 * s->arm.site;
  return atan2(-R[1], R[4]);
}

// the live state: the hand, then every object slot
static void observe_state(const af_env *e, float *o) {
  const bin_state *s = e->state;
  const mjModel *m = e->m;
  const mjData *d = e->d;
  // hand: position (3), yaw as sin and cos (2), finger opening (1)
  const mjtNum *h = af_arm_hand(&s->arm, d);
  double yaw = hand_yaw(s, d);
  for (int k = 0; k < 3; k++) o[k] = (float)h[k];
  o[3] = (float)sin(yaw);
  o[4] = (float)cos(yaw);
  o[5] = (float)af_arm_opening(&s->arm, d);
  // the order of the objects: by slot, or nearest the hand first (insertion sort, stable)
  const bin_cfg *c = e->cfg;
  int order[BIN_MAX_OBJ];
  double dist[BIN_MAX_OBJ];
  for (int i = 0; i < s->n; i++) {
    const mjtNum *q = d->qpos + s->qadr[i];
    dist[i] = c->object_order == 1 ? hypot(q[0] - h[0], q[1] - h[1]) : i;
    int j = i;
    for (; j > 0 && dist[order[j - 1]] > dist[i]; j--) order[j] = order[j - 1];
    order[j] = i;
  }
  // each object: position (3), quaternion (4), half-extents in its own frame (3), shape
  // one-hot (5), present (1); the blocks past the objects are all zero
  for (int r = 0; r < BIN_MAX_OBJ; r++) {
    float *p = o + OBS_HAND + OBS_SLOT * r;
    memset(p, 0, OBS_SLOT * sizeof(float));
    if (r >= s->n) continue;
    const int i = order[r];
    const mjtNum *q = d->qpos + s->qadr[i];
    for (int k = 0; k < 7; k++) p[k] = (float)q[k];
    if (c->object_frame == 1)
      for (int k = 0; k < 3; k++) p[k] = (float)(q[k] - h[k]);
    int g = active_geom(s, i);
    for (int k = 0; k < 3; k++) {
      double axis[3] = {k == 0, k == 1, k == 2};
      p[7 + k] = (float)shape_extent(m->geom_type[g], m->geom_size + 3 * g, axis);
    }
    p[10 + s->shape[i]] = 1;
    p[15] = 1;
  }
}

// closed loop: the live state; open loop: the episode's first observation, taken at reset,
// and the fraction of the horizon elapsed
static void bin_observe(const af_env *e, float *o) {
  const bin_state *s = e->state;
  const bin_cfg *c = e->cfg;
  if (c->loop == 0) { observe_state(e, o); return; }
  memcpy(o, s->first, sizeof s->first);
  o[OBS_STATE] = (float)e->t / (float)e->spec.horizon;
}

// which objects each finger touches: bit i of touch[f] set when finger f touches slot i
static void finger_contacts(const bin_state *s, const mjData *d, int touch[2]) {
  touch[0] = touch[1] = 0;
  for (int c = 0; c < d->ncon; c++) {
    int g1 = d->contact[c].geom1, g2 = d->contact[c].geom2;
    for (int f = 0; f < 2; f++) {
      int other = g1 == s->finger_geom[f] ? g2 : g2 == s->finger_geom[f] ? g1 : -1;
      if (other < 0) continue;
      for (int i = 0; i < s->n; i++)
        if (other == active_geom(s, i)) touch[f] |= 1 << i;
    }
  }
}

static float bin_reward(af_env *e, const float *a, int *success, int *terminated) {
  (void)a;
  bin_state *s = e->state;
  const bin_cfg *c = e->cfg;
  const mjData *d = e->d;
  int touch[2];
  finger_contacts(s, d, touch);
  int held = touch[0] & touch[1];
  // the best lift among held objects
  double lift = 0;
  for (int i = 0; i < s->n; i++)
    if (held & (1 << i)) lift = fmax(lift, d->qpos[s->qadr[i] + 2] - s->rest_z[i]);
  if (held) s->grasped = 1;
  if (lift > s->max_lift) s->max_lift = lift;
  *success = held && lift >= c->lift_height;
  *terminated = *success || s->auto_tried;
  if (c->reward == 0 || *success) return *success ? 1.0f : 0.0f;
  // shaped: reach the nearest object, hold one, lift it (each stage below the success's 1)
  const mjtNum *h = af_arm_hand(&s->arm, d);
  double dmin = 1e9;
  for (int i = 0; i < s->n; i++) {
    const mjtNum *p = d->qpos + s->qadr[i];
    double dd = sqrt((h[0] - p[0]) * (h[0] - p[0]) + (h[1] - p[1]) * (h[1] - p[1]) + (h[2] - p[2]) * (h[2] - p[2]));
    if (dd < dmin) dmin = dd;
  }
  double lift_frac = fmin(fmax(lift / c->lift_height, 0), 1);
  return (float)(0.25 * (1 - tanh(10 * dmin)) + 0.25 * (held != 0) + 0.5 * lift_frac);
}

static void bin_metrics(const af_env *e, float *m) {
  const bin_state *s = e->state;
  m[0] = (float)s->max_lift;
  m[1] = (float)s->grasped;
  m[2] = (float)s->disturbed;
  m[3] = (float)s->n;
}

// ---- scripted grasp ----

#define FINGER_T 0.016     // finger thickness along the closing direction (arm.xml)
#define FINGER_W 0.012     // finger half-width across it
#define MAX_HALF_WIDTH 0.036  // widest half-width the open gripper takes with some room

// how far the fingers, opened to `gap` around object i (half-width w) at `yaw`, would reach
// into the bin walls or onto the other objects (m, summed): the finger pads against the
// walls and the other objects' bounding circles
static double finger_clash(const bin_state *s, const mjModel *m, const mjData *d, int i, double yaw, double w, double gap) {
  const mjtNum *p = d->qpos + s->qadr[i];
  double cx = -sin(yaw), cy = cos(yaw), r = w + gap + FINGER_T / 2, clash = 0;
  double ex = FINGER_T / 2 * fabs(cx) + FINGER_W * fabs(cy), ey = FINGER_T / 2 * fabs(cy) + FINGER_W * fabs(cx);
  for (int f = -1; f <= 1; f += 2) {
    double fx = p[0] + f * r * cx, fy = p[1] + f * r * cy;
    clash += fmax(0, BIN_X0 - (fx - ex)) + fmax(0, fx + ex - BIN_X1) + fmax(0, BIN_Y0 - (fy - ey)) + fmax(0, fy + ey - BIN_Y1);
    for (int j = 0; j < s->n; j++) {
      if (j == i) continue;
      const mjtNum *q = d->qpos + s->qadr[j];
      double dist = sqrt((fx - q[0]) * (fx - q[0]) + (fy - q[1]) * (fy - q[1]));
      clash += 0.3 * fmax(0, m->geom_rbound[active_geom(s, j)] + FINGER_W - dist);
    }
  }
  return clash;
}

// the best grasp of object i: yaw within the arm's +-1.5 rad closing on a narrow side, the
// fingers clear of walls and neighbours (a tighter opening when space is short), small turns
// from `from` preferred
static grasp_plan plan_grasp(const bin_state *s, const mjModel *m, const mjData *d, int i, double from) {
  static const double gaps[2] = {0.015, 0.007};
  grasp_plan best = {from, 0, gaps[0], 0, 1e9};
  for (int k = 0; k <= 30; k++) {
    double yaw = -1.5 + 3.0 * k / 30;
    double u[3] = {-sin(yaw), cos(yaw), 0};
    double w = object_extent(s, m, d, i, u);
    for (int g = 0; g < 2; g++) {
      double clash = finger_clash(s, m, d, i, yaw, w, gaps[g]);
      double score = w + 3 * clash + 0.002 * fabs(yaw - from) + 0.004 * g + (w > MAX_HALF_WIDTH ? 1 : 0);
      if (score < best.score) best = (grasp_plan){yaw, w, gaps[g], clash, score};
    }
  }
  return best;
}

// Top-down grasp: pick the highest object that can be grasped cleanly, move above it at a
// safe height while turning the fingers across its narrow side and opening just enough,
// descend, close, lift. Fingers stopped on something well above the grasp height mean the
// way is blocked: go back up and try another object.
static int bin_scripted(af_env *e, float *a) {
  bin_state *s = e->state;
  const mjModel *m = e->m;
  const mjData *d = e->d;
  const mjtNum *h = af_arm_hand(&s->arm, d);
  const double up[3] = {0, 0, 1};
  // while approaching: the object with the best height less clash (with some hysteresis)
  double top_max = BIN_WALL_Z, best_val = -1e9, target_val = -1e9;
  int best = -1;
  grasp_plan plan = {0}, best_plan = {0};
  if ((s->excluded & ((1 << s->n) - 1)) == (1 << s->n) - 1) s->excluded = 0;
  for (int i = 0; i < s->n; i++) {
    double top = d->qpos[s->qadr[i] + 2] + object_extent(s, m, d, i, up);
    if (top > top_max) top_max = top;
    if (s->phase != PH_APPROACH || (s->excluded & (1 << i))) continue;
    grasp_plan pl = plan_grasp(s, m, d, i, s->arm.yaw);
    double val = top - 3 * pl.clash - (pl.width > MAX_HALF_WIDTH ? 1 : 0);
    if (val > best_val) { best_val = val; best = i; best_plan = pl; }
    if (i == s->target) { target_val = val; plan = pl; }
  }
  if (s->phase == PH_APPROACH && best >= 0 && (s->target < 0 || best_val > target_val + 0.01)) {
    s->target = best;
    plan = best_plan;
  }
  int i = s->target;
  const mjtNum *p = d->qpos + s->qadr[i];
  if (s->phase != PH_APPROACH) plan = s->plan;  // fixed from the descent on
  // grasp a little below the object's centre, fingertips clear of the bin floor
  double gz = fmax(p[2] - 0.008, BIN_FLOOR_Z + 0.012);
  double t[3] = {p[0], p[1], h[2]}, yaw = plan.yaw;
  // open just wide enough: the object's width plus the gap each side
  double grip = fmin(1, 2 * (plan.width + plan.gap) / s->arm.finger_max - 1);
  s->phase_steps++;
  switch (s->phase) {
    case PH_APPROACH: {
      double safe = top_max + 0.035;
      t[2] = safe;
      double dxy = sqrt((h[0] - p[0]) * (h[0] - p[0]) + (h[1] - p[1]) * (h[1] - p[1]));
      if (dxy < 0.015 && fabs(s->arm.yaw - yaw) < 0.1 && h[2] < safe + 0.03) {
        s->phase = PH_DESCEND;
        s->phase_steps = 0;
        s->plan = plan;
      }
      break;
    }
    case PH_DESCEND:
      t[2] = gz;
      // down; or stopped by something: close if near the grasp height, else try elsewhere
      if (h[2] < gz + 0.006 || (s->phase_steps > 1 && s->last_z - h[2] < 0.002)) {
        if (h[2] < gz + 0.02) s->phase = PH_CLOSE;
        else { s->phase = PH_APPROACH; s->excluded |= 1 << i; }
        s->phase_steps = 0;
      }
      break;
    case PH_CLOSE:
      t[0] = s->arm.target[0]; t[1] = s->arm.target[1]; t[2] = s->arm.target[2];
      grip = -1;
      if (s->phase_steps >= 2) { s->phase = PH_LIFT; s->phase_steps = 0; }
      break;
    default:
      t[0] = s->arm.target[0]; t[1] = s->arm.target[1]; t[2] = s->arm.target[2] + s->arm.max_step;
      grip = -1;
      break;
  }
  s->last_z = h[2];
  // displacements of the arm's Cartesian target and yaw, in units of their steps
  af_arm_action_towards(&s->arm, s->arm.target, t, a);
  double y = (yaw - s->arm.yaw) / s->arm.max_yaw_step;
  a[3] = (float)(y < -1 ? -1 : y > 1 ? 1 : y);
  a[4] = (float)grip;
  return AF_OK;
}

// ---- success examples ----

// the hand in the grip site's frame (z down the fingers, y across the pads): the pads run
// from the palm and finger roots at PALM_Z to the fingertips at TIP_Z
#define PALM_Z -0.06
#define TIP_Z 0.01
#define HOLD_PEN 0.0005   // the pads start this far into the held object: contact at once
#define HOLD_MAX_W 0.034  // widest half-width the solver puts between the pads
#define CLEARANCE 0.02    // gap between the held object or fingertips and the clutter below

// A solved configuration: one of the objects squeezed between the finger pads, lifted
// lift_height plus a margin above where it rested and clear of the rest of the clutter, which
// stays in the bin. The object sits in the hand with a narrow side across the pads, its
// longest other side along the pads' width, turned a little about the finger axis. Success
// ends a bin_grasp episode, so the common layer's settling second would stop after its first
// step: the grasp settles here for the rest of the second under the holding action.
static void bin_solve(af_env *e, af_rng *rng, float *hold) {
  bin_state *s = e->state;
  const bin_cfg *c = e->cfg;
  const mjModel *m = e->m;
  mjData *d = e->d;
  // the draws, all made and in a fixed order; the lift margin covers the slip of the grip
  // while it settles (the contacts creep: a few mm for boxes, up to 5 cm for cylinders)
  int i = af_rng_int(rng, 0, s->n - 1);
  double u_axis = af_rng_uniform(rng), tilt = af_rng_range(rng, -0.6, 0.6), u_z = af_rng_uniform(rng);
  double yaw = af_rng_range(rng, -1.2, 1.2), margin = af_rng_range(rng, 0.04, 0.09);
  double off_x = af_rng_range(rng, -0.03, 0.03), off_y = af_rng_range(rng, -0.03, 0.03);

  // the object's half-extents along its own axes; one that fits goes across the pads (ky),
  // the longer of the other two along the pads' width (kx), the shorter up the fingers (kz).
  // Cylinders and capsules are held across their round side: MuJoCo 2.2.2 gives a box and a
  // cylinder one contact point, which on a flat end can sit anywhere and lets it turn out
  int g = active_geom(s, i), type = m->geom_type[g];
  const mjtNum *size = m->geom_size + 3 * g;
  int round = type == mjGEOM_CYLINDER || type == mjGEOM_CAPSULE;
  double ext[3];
  int fit[3], nfit = 0, ky = 0;
  for (int k = 0; k < 3; k++) {
    double v[3] = {k == 0, k == 1, k == 2};
    ext[k] = shape_extent(type, size, v);
    if (ext[k] <= HOLD_MAX_W && !(round && k == 2)) fit[nfit++] = k;
    if (ext[k] < ext[ky]) ky = k;
  }
  if (nfit) ky = fit[(int)(u_axis * nfit)];
  int kx = (ky + 1) % 3, kz = (ky + 2) % 3;
  if (ext[kx] < ext[kz]) { int t = kx; kx = kz; kz = t; }
  // body to site frame: P puts the body axes on the site's, Ry turns it about the finger axis
  mjtNum P[9] = {0}, M[9];
  P[0 * 3 + kx] = 1;
  P[1 * 3 + ky] = 1;
  P[2 * 3 + kz] = 1;
  mjtNum cr[3];
  mju_cross(cr, P, P + 3);
  if (mju_dot3(cr, P + 6) < 0) P[2 * 3 + kz] = -1;  // a rotation, not a reflection
  // the object's centre on the pads, its top clear of the palm; no tilt if that cannot be
  double zc_lo = 0, zc_hi = -0.005, ext_z = 0;
  for (int attempt = 0; attempt < 2; attempt++) {
    double t = attempt ? 0 : tilt, ct = cos(t), st = sin(t);
    const mjtNum Ry[9] = {ct, 0, st, 0, 1, 0, -st, 0, ct};
    mju_mulMatMat(M, Ry, P, 3, 3, 3);
    double v[3] = {M[6], M[7], M[8]};  // the site's z axis in the body frame (row 2 of M)
    ext_z = shape_extent(type, size, v);
    zc_lo = fmax(-0.045, PALM_Z + 0.004 + ext_z);
    if (zc_lo <= zc_hi) break;
  }
  double zc = zc_lo < zc_hi ? zc_lo + u_z * (zc_hi - zc_lo) : zc_hi, w = ext[ky];

  // the hand: over where the object rested, high enough for the lift and above the clutter
  const double up[3] = {0, 0, 1};
  const mjtNum *p0 = d->qpos + s->qadr[i];
  double top = BIN_WALL_Z;
  for (int j = 0; j < s->n; j++)
    if (j != i) top = fmax(top, d->qpos[s->qadr[j] + 2] + object_extent(s, m, d, j, up));
  double z = fmax(s->rest_z[i] + c->lift_height + margin, top + CLEARANCE + fmax(ext_z, TIP_Z - zc));
  double hand[3] = {
    fmin(fmax(p0[0] + off_x, BIN_X0 + 0.03), BIN_X1 - 0.03),
    fmin(fmax(p0[1] + off_y, BIN_Y0 + 0.03), BIN_Y1 - 0.03),
    fmin(z + zc, s->arm.ws_hi[2]),
  };
  af_arm_reset(&s->arm, m, d, hand, yaw, (w - HOLD_PEN) / s->arm.finger_max);
  for (int f = 0; f < 2; f++) d->ctrl[s->arm.finger_act[f]] = 0;

  // the object in the hand as placed: centre zc along the site's z, orientation R_site M
  const mjtNum *hp = d->site_xpos + 3 * s->arm.site, *R = d->site_xmat + 9 * s->arm.site;
  mjtNum *q = d->qpos + s->qadr[i], Rw[9];
  for (int k = 0; k < 3; k++) q[k] = hp[k] + R[3 * k + 2] * zc;
  mju_mulMatMat(Rw, R, M, 3, 3, 3);
  mju_mat2Quat(q + 3, Rw);
  mju_zero(d->qvel + s->dadr[i], 6);
  mju_zero(d->qacc_warmstart, m->nv);
  s->disturb_t = -1;  // no kick while it settles

  // hold still, gripper closed; settle for all but the last control step of the second (a
  // blow-up here makes MuJoCo reset the state, which then fails the success test)
  hold[e->spec.act_dim - 1] = -1;
  int steps = (int)ceil(e->spec.control_hz) - 1;
  mj_forward(m, d);
  for (int t = 0; t < steps; t++) {
    for (int j = s->n; j < BIN_MAX_OBJ; j++) park_slot(s, d, j);
    af_arm_act(&s->arm, m, d, hold);
    for (int k = 0; k < e->spec.frame_skip; k++) mj_step(m, d);
  }
}

// snapshot: the arm's command, the episode's objects (count, shapes, resting heights; the
// model's clutter follows from the repeated reset), the disturbance, the statistics and the
// scripted grasp's phase, target and plan
static int bin_state_io(af_env *e, af_state_io *io) {
  bin_state *s = e->state;
  af_arm_state(&s->arm, io);
  AF_STATE_FIELD(io, s->n);
  AF_STATE_FIELD(io, s->shape);
  AF_STATE_FIELD(io, s->rest_z);
  AF_STATE_FIELD(io, s->disturb_t);
  AF_STATE_FIELD(io, s->disturb_obj);
  AF_STATE_FIELD(io, s->disturbed);
  AF_STATE_FIELD(io, s->disturb_v);
  AF_STATE_FIELD(io, s->max_lift);
  AF_STATE_FIELD(io, s->grasped);
  AF_STATE_FIELD(io, s->phase);
  AF_STATE_FIELD(io, s->target);
  AF_STATE_FIELD(io, s->phase_steps);
  AF_STATE_FIELD(io, s->excluded);
  AF_STATE_FIELD(io, s->last_z);
  AF_STATE_FIELD(io, s->plan);
  if (((const bin_cfg *)e->cfg)->loop == 1) AF_STATE_FIELD(io, s->first);
  return AF_OK;
}

const af_env_def af_bin_grasp_def = {
  .name = "bin_grasp",
  .camera = "learn",
  .description = "the shared arm grasps and lifts one object out of a bin of random clutter",
  .success = "an object held between both fingers and lifted lift_height (10 cm) above its resting height",
  .reward_text = "sparse: 1 on success (the episode ends), else 0; shaped: 0.25 reach + 0.25 grasp + 0.5 lift fraction, 1 on success",
  .asset = "bin_grasp.xml",
  .horizon = 20,
  .control_hz = 10,
  .params = bin_params,
  .nparams = sizeof bin_params / sizeof bin_params[0],
  .cfg_size = sizeof(bin_cfg),
  .dr = bin_dr,
  .ndr = sizeof bin_dr / sizeof bin_dr[0],
  .init = bin_init,
  .free = bin_free,
  .reset = bin_reset,
  .act = bin_act,
  .physics = bin_physics,
  .observe = bin_observe,
  .reward = bin_reward,
  .goal_reward = NULL,
  .metrics = bin_metrics,
  .scripted = bin_scripted,
  .solve = bin_solve,
  // each reset switches on one shape per object slot and sizes it, randomization on or off
  .rebuilds = "geom_size,geom_rbound,geom_contype,geom_conaffinity,geom_rgba,geom_friction,body_inertia",
  .state = bin_state_io,
};
