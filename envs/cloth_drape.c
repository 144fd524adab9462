// Cloth draping: the shared arm holds a bar with two corners of a square cloth clipped to it
// and lays the cloth over a box of random size and position on the table.
//
// The cloth is MuJoCo 2.2.2's composite cloth (assets/cloth_drape.xml): an n x n grid of
// sphere nodes joined as a tree of hinges with fixed-length tendons closing its loops. Its
// held edge (i = n-1) starts under the bar, the cloth lying flat on the table between the
// arm and the box. Opening the gripper switches the two clips (equality connects, the
// model's eq_active) off for the rest of the episode; each reset switches them on again.
//
// Coverage: the box's top face is sampled at the centres of a 5 x 5 grid of cells; a sample
// is covered when it lies under a cloth triangle (each cell of the node grid split along a
// diagonal) that lies on the top face: no vertex more than 3 cm above the face and one at
// least level with it. Success: coverage at least success_coverage (0.8) and at least n
// nodes (one row's worth) hanging on the far side: beyond the box's far face (+x, away from
// the arm) and below half the box's height.
//
// MuJoCo 2.2.2 cannot resize a composite, and the randomization table reaches at most 16
// elements per entry, so the cloth's mass, damping, bending stiffness, friction and size
// are physics-group task draws that reset writes into the model itself: every array it
// writes is first restored from the nominal model (e->m0), and the derived constants
// (tendon rest lengths, inverse weights) follow through mj_setConst.
#include "envs/env_impl.h"

#include <math.h>    // sqrt, fabs, fmin, fmax
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy

#include "envs/arm.h"

#define MAX_SIDE 12          // largest node count per side the state is sized for
#define COVER_GRID 5         // the top face is sampled at COVER_GRID x COVER_GRID cell centres
#define COVER_HEIGHT 0.03    // a cloth triangle with a node higher than this above the top face does not cover it (m)
#define GRIP_ABOVE_BAR 0.02  // the grip site sits this far above the bar's axis (m)
#define BAR_X 0.42           // the bar's x at the start: the held edge of the flat cloth
#define N_OBS_NODES 9        // observed nodes: 4 corners, 4 edge midpoints, centre

// ---- config ----
typedef struct {
  int reward;               // 0 dense, 1 sparse
  double cloth_size;        // side of the square cloth (m), before the size draw
  double success_coverage;  // coverage needed for success
  int observe_cloth;        // the 9 cloth nodes in the observation (off: the no-vision baseline's state)
} cloth_cfg;

static const af_param cloth_params[] = {
  {"reward", AF_P_ENUM, offsetof(cloth_cfg, reward), 0, 0, 1, "dense|sparse", "dense: gain in coverage + 0.5 hang; sparse: 1 while the success test holds, else 0"},
  {"cloth_size", AF_P_DOUBLE, offsetof(cloth_cfg, cloth_size), 0.28, 0.2, 0.34, NULL, "side of the square cloth (m); the node count (7 x 7) is the asset's"},
  {"success_coverage", AF_P_DOUBLE, offsetof(cloth_cfg, success_coverage), 0.8, 0.1, 1, NULL, "success: fraction of the box's top face covered by the cloth"},
  {"observe_cloth", AF_P_BOOL, offsetof(cloth_cfg, observe_cloth), 1, 0, 1, NULL,
   "the 9 cloth nodes (27 entries) end the observation; false: hand and box only (17), the state of the talk's no-vision baseline"},
};

// ---- randomization table ----
#define ARM_JOINTS "arm_pan,arm_shoulder,arm_elbow,arm_wrist,arm_roll"
static const af_dr_entry cloth_dr[] = {
  // name            group            field               targets     mode            dist              nom    train          eval
  {"cloth_mass",     AF_DR_PHYSICS,   AF_F_TASK,          NULL,       AF_DR_SCALE,    AF_DR_LOGUNIFORM, 1,     0.5, 2,        0.35, 3, "cloth node masses and inertias (nominal 49 x 1 g)"},
  {"cloth_damping",  AF_DR_PHYSICS,   AF_F_TASK,          NULL,       AF_DR_SCALE,    AF_DR_LOGUNIFORM, 1,     0.5, 2,        0.3, 3, "cloth joint damping (nominal 5e-4 N m s)"},
  {"cloth_bending",  AF_DR_PHYSICS,   AF_F_TASK,          NULL,       AF_DR_SCALE,    AF_DR_LOGUNIFORM, 1,     0.5, 2,        0.3, 3, "cloth bending stiffness: joint stiffness (nominal 1e-3 N m/rad)"},
  {"cloth_friction", AF_DR_PHYSICS,   AF_F_TASK,          NULL,       AF_DR_SCALE,    AF_DR_UNIFORM,    1,     0.7, 1.3,      0.5, 1.6, "cloth sliding friction (nominal 0.6)"},
  {"cloth_size",     AF_DR_PHYSICS,   AF_F_TASK,          NULL,       AF_DR_SCALE,    AF_DR_UNIFORM,    1,     0.92, 1.08,    0.85, 1.15, "cloth side, as a scale of the cloth_size key (node spacing; the bar follows)"},
  {"table_friction", AF_DR_PHYSICS,   AF_F_GEOM_FRICTION, "table",    AF_DR_SCALE,    AF_DR_UNIFORM,    1,     0.7, 1.3,      0.5, 1.6, "table sliding friction"},
  {"box_friction",   AF_DR_PHYSICS,   AF_F_GEOM_FRICTION, "box",      AF_DR_SCALE,    AF_DR_UNIFORM,    1,     0.7, 1.3,      0.5, 1.6, "box sliding friction"},
  {"arm_damping",    AF_DR_ACTUATION, AF_F_DOF_DAMPING,   ARM_JOINTS, AF_DR_SCALE,    AF_DR_UNIFORM,    1,     0.8, 1.2,      0.6, 1.5, "arm joint damping"},
  {"arm_armature",   AF_DR_PHYSICS,   AF_F_DOF_ARMATURE,  ARM_JOINTS, AF_DR_SCALE,    AF_DR_UNIFORM,    1,     0.9, 1.1,      0.8, 1.25, "arm joint armature (rotor inertia)"},
  {"arm_gain",       AF_DR_ACTUATION, AF_F_ACT_GAIN,      ARM_JOINTS, AF_DR_SCALE,    AF_DR_UNIFORM,    1,     0.8, 1.2,      0.6, 1.5, "arm servo stiffness kp"},
  {"cloth_rgb",      AF_DR_VISUAL,    AF_F_MAT_RGBA,      "cloth",    AF_DR_OFFSET,   AF_DR_UNIFORM,    0,     -0.2, 0.2,     -0.35, 0.35, "cloth colour"},
  {"box_rgb",        AF_DR_VISUAL,    AF_F_MAT_RGBA,      "box",      AF_DR_OFFSET,   AF_DR_UNIFORM,    0,     -0.15, 0.15,   -0.3, 0.3, "box colour"},
  {"table_rgb",      AF_DR_VISUAL,    AF_F_MAT_RGBA,      "table",    AF_DR_OFFSET,   AF_DR_UNIFORM,    0,     -0.1, 0.1,     -0.25, 0.25, "table colour"},
  {"light_pos",      AF_DR_VISUAL,    AF_F_LIGHT_POS,     "top",      AF_DR_OFFSET,   AF_DR_UNIFORM,    0,     -0.2, 0.2,     -0.4, 0.4, "top light position (m)"},
  {"light_rgb",      AF_DR_VISUAL,    AF_F_LIGHT_DIFFUSE, "top",      AF_DR_OFFSET,   AF_DR_UNIFORM,    0,     -0.15, 0.15,   -0.3, 0.2, "top light colour"},
  {"camera_pos",     AF_DR_VISUAL,    AF_F_CAM_POS,       "overview,learn", AF_DR_OFFSET,   AF_DR_UNIFORM,    0,     -0.02, 0.02,   -0.05, 0.05, "camera position (m)"},
  {"camera_rot",     AF_DR_VISUAL,    AF_F_CAM_ROT,       "overview,learn", AF_DR_OFFSET,   AF_DR_UNIFORM,    0,     -0.05, 0.05,   -0.1, 0.1, "camera orientation (axis-angle, rad)"},
  {"camera_fovy",    AF_DR_VISUAL,    AF_F_CAM_FOVY,      "overview,learn", AF_DR_OFFSET,   AF_DR_UNIFORM,    0,     -4, 4,         -8, 8, "camera field of view (deg)"},
  {"obs_noise",      AF_DR_SENSOR,    AF_F_OBS_NOISE,     NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0,     0, 0.005,      0, 0.01, "observation noise std (m)"},
  {"act_noise",      AF_DR_SENSOR,    AF_F_ACT_NOISE,     NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0,     0, 0.05,       0, 0.1, "action noise std"},
  {"act_delay",      AF_DR_SENSOR,    AF_F_ACT_DELAY,     NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0,     0, 1,          0, 2, "action delay (control steps)"},
  {"box_x",          AF_DR_TASK,      AF_F_TASK,          NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0.56,  0.52, 0.6,     0.5, 0.62, "box centre x (m)"},
  {"box_y",          AF_DR_TASK,      AF_F_TASK,          NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0,     -0.1, 0.1,     -0.14, 0.14, "box centre y (m)"},
  {"box_hx",         AF_DR_TASK,      AF_F_TASK,          NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0.045, 0.035, 0.055,  0.03, 0.06, "box half-length along x (m)"},
  {"box_hy",         AF_DR_TASK,      AF_F_TASK,          NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0.045, 0.035, 0.055,  0.03, 0.06, "box half-width along y (m)"},
  {"box_hz",         AF_DR_TASK,      AF_F_TASK,          NULL,       AF_DR_ABSOLUTE, AF_DR_UNIFORM,    0.03,  0.02, 0.04,    0.015, 0.045, "box half-height (m)"},
};
#define N_DR ((int)(sizeof cloth_dr / sizeof cloth_dr[0]))

// ---- state ----
enum { PH_LIFT, PH_OVER, PH_LOWER };

typedef struct {
  af_arm arm;
  int n;                                // nodes per side
  int node[MAX_SIDE * MAX_SIDE];        // body id of node (i, j) at i * n + j
  int node_geom[MAX_SIDE * MAX_SIDE];   // its sphere
  int ri, rj;                           // the root node (carries the free joint)
  int root_qadr, bar_qadr, hand_body, bar_body, bar_geom, box_geom, box_mocap;
  int clip[2];                          // equality ids of the two clips
  int skin, cloth_mat;                  // the cloth's surface (-1: none) and its material
  int jnt0, njnt;                       // the cloth's hinges (contiguous ids)
  double spacing0, radius;              // nominal node spacing, node sphere radius
  double spacing;                       // this episode's spacing
  double box[6];                        // centre x, y, top z, half sizes x, y, z
  int model_dirty;                      // this or the last episode changed masses or spacing
  int released;
  double prev_hand[3];
  double phi;                           // progress of the last state: coverage + 0.5 hang
  double coverage, max_coverage, hang;
  int phase;                            // scripted controller
  double pull;                          // how much further it has drawn the cloth (m)
} cloth_state;

static int find_id(const mjModel *m, int type, const char *name, char *err, size_t errsz) {
  int id = mj_name2id(m, type, name);
  if (id < 0) snprintf(err, errsz, "cloth_drape model lacks '%s'", name);
  return id;
}

static int cloth_init(af_env *e, char *err, size_t errsz) {
  cloth_state *s = calloc(1, sizeof *s);
  if (!s) { snprintf(err, errsz, "out of memory"); return -1; }
  e->state = s;
  af_arm *arm = &s->arm;
  const double lo[3] = {0.2, -0.35, 0.02}, hi[3] = {0.75, 0.35, 0.4};
  memcpy(arm->ws_lo, lo, sizeof lo);
  memcpy(arm->ws_hi, hi, sizeof hi);
  arm->max_step = 0.05;
  arm->max_lead = 0.06;
  arm->use_yaw = 0;  // the bar stays along y
  if (af_arm_init(arm, e->m, err, errsz)) return -1;
  const mjModel *m = e->m;

  // the cloth's nodes CBi_j: n of them per side, CB0_0 to CB(n-1)_0
  char name[32];
  int n = 0;
  for (;; n++) {
    snprintf(name, sizeof name, "CB%d_0", n);
    if (mj_name2id(m, mjOBJ_BODY, name) < 0) break;
  }
  if (n < 3 || n > MAX_SIDE) { snprintf(err, errsz, "cloth_drape: the cloth has %d nodes per side (3 to %d supported)", n, MAX_SIDE); return -1; }
  s->n = n;
  s->ri = s->rj = -1;
  s->jnt0 = m->njnt;
  int jend = 0, nhinge = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      snprintf(name, sizeof name, "CB%d_%d", i, j);
      int b = find_id(m, mjOBJ_BODY, name, err, errsz);
      if (b < 0) return -1;
      if (m->body_geomnum[b] != 1 || m->geom_type[m->body_geomadr[b]] != mjGEOM_SPHERE) {
        snprintf(err, errsz, "cloth_drape: node %s must carry one sphere", name);
        return -1;
      }
      s->node[i * n + j] = b;
      s->node_geom[i * n + j] = m->body_geomadr[b];
      // the root carries the free joint, every other node its hinges
      for (int k = 0; k < m->body_jntnum[b]; k++) {
        int jt = m->body_jntadr[b] + k;
        if (m->jnt_type[jt] == mjJNT_FREE) { s->ri = i; s->rj = j; s->root_qadr = m->jnt_qposadr[jt]; continue; }
        if (m->jnt_type[jt] != mjJNT_HINGE) { snprintf(err, errsz, "cloth_drape: node %s has a joint other than a hinge", name); return -1; }
        if (jt < s->jnt0) s->jnt0 = jt;
        if (jt + 1 > jend) jend = jt + 1;
        nhinge++;
      }
    }
  // the hinges are numbered contiguously, so [jnt0, jnt0 + njnt) is the cloth's
  s->njnt = jend - s->jnt0;
  if (s->ri < 0 || nhinge != 2 * (n * n - 1) || s->njnt != nhinge) {
    snprintf(err, errsz, "cloth_drape: the cloth needs a free root and two hinges per other node, numbered contiguously");
    return -1;
  }
  s->radius = m->geom_size[3 * s->node_geom[0]];
  // the surface drawn over the nodes (the asset's skin) takes the cloth material's colour
  s->skin = m->nskin > 0 ? 0 : -1;
  s->cloth_mat = mj_name2id(m, mjOBJ_MATERIAL, "cloth");
  // nominal spacing: the root's neighbour along i sits one spacing from it
  int nb = s->node[(s->ri < n - 1 ? s->ri + 1 : s->ri - 1) * n + s->rj];
  s->spacing0 = fabs(m->body_pos[3 * nb]);

  // the bar, its weld to the hand and the clips
  int bj = find_id(m, mjOBJ_JOINT, "bar", err, errsz);
  if (bj < 0) return -1;
  s->bar_qadr = m->jnt_qposadr[bj];
  if ((s->bar_body = find_id(m, mjOBJ_BODY, "bar", err, errsz)) < 0) return -1;
  if ((s->bar_geom = find_id(m, mjOBJ_GEOM, "bar", err, errsz)) < 0) return -1;
  if ((s->hand_body = find_id(m, mjOBJ_BODY, "arm_hand", err, errsz)) < 0) return -1;
  if ((s->clip[0] = find_id(m, mjOBJ_EQUALITY, "clip_a", err, errsz)) < 0) return -1;
  if ((s->clip[1] = find_id(m, mjOBJ_EQUALITY, "clip_b", err, errsz)) < 0) return -1;
  if ((s->box_geom = find_id(m, mjOBJ_GEOM, "box", err, errsz)) < 0) return -1;
  int bb = find_id(m, mjOBJ_BODY, "box", err, errsz);
  if (bb < 0) return -1;
  s->box_mocap = m->body_mocapid[bb];
  if (s->box_mocap < 0) { snprintf(err, errsz, "cloth_drape: the box must be a mocap body"); return -1; }
  // the clips hold the corners of the held edge
  if (m->eq_obj1id[s->clip[0]] != s->node[(n - 1) * n] || m->eq_obj1id[s->clip[1]] != s->node[(n - 1) * n + n - 1] ||
      m->eq_obj2id[s->clip[0]] != s->bar_body || m->eq_obj2id[s->clip[1]] != s->bar_body) {
    snprintf(err, errsz, "cloth_drape: clip_a and clip_b must join CB%d_0 and CB%d_%d to the bar", n - 1, n - 1, n - 1);
    return -1;
  }
  // the randomization table's nominal box is the model's
  const mjtNum *bs = m->geom_size + 3 * s->box_geom;
  const double want[3] = {bs[0], bs[1], bs[2]};
  const char *names[3] = {"box_hx", "box_hy", "box_hz"};
  for (int i = 0; i < N_DR; i++)
    for (int k = 0; k < 3; k++)
      if (!strcmp(cloth_dr[i].name, names[k]) && fabs(cloth_dr[i].nominal - want[k]) > 1e-12) {
        snprintf(err, errsz, "cloth_drape: randomization '%s' nominal %g differs from the model's %g", names[k], cloth_dr[i].nominal, want[k]);
        return -1;
      }

  af_env_spec *sp = &e->spec;
  sp->obs_dim = 3 + 4 + 3 + 1 + 6 + (((const cloth_cfg *)e->cfg)->observe_cloth ? 3 * N_OBS_NODES : 0);
  sp->proprio_dim = 3 + 4 + 3 + 1;  // hand pose, its velocity, released
  sp->act_dim = af_arm_act_dim(arm);
  sp->n_metrics = 4;
  sp->metric_names[0] = "coverage";
  sp->metric_names[1] = "max_coverage";
  sp->metric_names[2] = "hang";
  sp->metric_names[3] = "released";
  return 0;
}

static void cloth_free(af_env *e) {
  cloth_state *s = e->state;
  af_arm_free(&s->arm);
  free(s);
  e->state = NULL;
}

// ---- coverage ----

// is (px, py) inside the triangle a, b, c projected on the table (either orientation)?
static int in_triangle(double px, double py, const mjtNum *a, const mjtNum *b, const mjtNum *c) {
  double d1 = (px - b[0]) * (a[1] - b[1]) - (a[0] - b[0]) * (py - b[1]);
  double d2 = (px - c[0]) * (b[1] - c[1]) - (b[0] - c[0]) * (py - c[1]);
  double d3 = (px - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (py - a[1]);
  int neg = d1 < 0 || d2 < 0 || d3 < 0, pos = d1 > 0 || d2 > 0 || d3 > 0;
  return !(neg && pos);
}

// does the cloth triangle a, b, c lie on the top face: no vertex more than COVER_HEIGHT above
// it and one at least level with it (a node resting on the face has its centre a radius
// above it; the vertices of a triangle reaching over an edge or a corner may all lie
// outside the face, some hanging below it)
static int on_top(const double box[6], const mjtNum *a, const mjtNum *b, const mjtNum *c) {
  const mjtNum *v[3] = {a, b, c};
  int level = 0;
  for (int k = 0; k < 3; k++) {
    double dz = v[k][2] - box[2];
    if (dz > COVER_HEIGHT) return 0;
    if (dz >= 0) level = 1;
  }
  return level;
}

// Coverage: the fraction of the top face's sample points (centres of a COVER_GRID x
// COVER_GRID grid of cells) that lie under a cloth triangle on the top face (each cell of
// the node grid split along its (i, j)-(i+1, j+1) diagonal). Hang: the nodes beyond the far
// face (+x) and below half the box's height, over n, at most 1.
// box: centre x, y, top z, half sizes; pos: node positions (n*n, 3), node (i, j) at i*n+j
static void cloth_measure(const double box[6], const mjtNum *pos, int n, double *coverage, double *hang) {
  const double bx = box[0], by = box[1], top = box[2], hx = box[3], hy = box[4];
  int covered = 0, hanging = 0, ntri = 0;
  const mjtNum *tri[2 * (MAX_SIDE - 1) * (MAX_SIDE - 1)][3];
  // the triangles on the top face
  for (int i = 0; i + 1 < n; i++)
    for (int j = 0; j + 1 < n; j++) {
      const mjtNum *p00 = pos + 3 * (i * n + j), *p01 = pos + 3 * (i * n + j + 1);
      const mjtNum *p10 = pos + 3 * ((i + 1) * n + j), *p11 = pos + 3 * ((i + 1) * n + j + 1);
      if (on_top(box, p00, p10, p11)) { tri[ntri][0] = p00; tri[ntri][1] = p10; tri[ntri][2] = p11; ntri++; }
      if (on_top(box, p00, p11, p01)) { tri[ntri][0] = p00; tri[ntri][1] = p11; tri[ntri][2] = p01; ntri++; }
    }
  for (int a = 0; a < COVER_GRID; a++)
    for (int b = 0; b < COVER_GRID; b++) {
      double px = bx + hx * (2 * a + 1 - COVER_GRID) / COVER_GRID, py = by + hy * (2 * b + 1 - COVER_GRID) / COVER_GRID;
      for (int k = 0; k < ntri; k++)
        if (in_triangle(px, py, tri[k][0], tri[k][1], tri[k][2])) { covered++; break; }
    }
  for (int k = 0; k < n * n; k++)
    if (pos[3 * k] > bx + hx && pos[3 * k + 2] < 0.5 * top) hanging++;
  *coverage = (double)covered / (COVER_GRID * COVER_GRID);
  *hang = fmin(1.0, (double)hanging / n);
}

static void measure(const af_env *e, double *coverage, double *hang) {
  const cloth_state *s = e->state;
  mjtNum pos[MAX_SIDE * MAX_SIDE * 3];
  for (int k = 0; k < s->n * s->n; k++) mju_copy3(pos + 3 * k, e->d->xpos + 3 * s->node[k]);
  cloth_measure(s->box, pos, s->n, coverage, hang);
}

static int is_success(const af_env *e, double coverage, double hang) {
  const cloth_cfg *c = e->cfg;
  return coverage >= c->success_coverage - 1e-9 && hang >= 1;
}

// ---- reset ----

// the cloth's and box's model arrays for this episode's draws, over the nominal model;
// returns 1 if masses or spacing differ from nominal (the derived constants must follow)
static int write_model(af_env *e) {
  cloth_state *s = e->state;
  const cloth_cfg *c = e->cfg;
  mjModel *m = e->m;
  const mjModel *m0 = e->m0;
  const int nn = s->n * s->n;
  double ms = af_dr_value(&e->dr, "cloth_mass", 0, 0), ds = af_dr_value(&e->dr, "cloth_damping", 0, 0);
  double ks = af_dr_value(&e->dr, "cloth_bending", 0, 0), fs = af_dr_value(&e->dr, "cloth_friction", 0, 0);
  double size0 = (s->n - 1) * s->spacing0;
  double ratio = (fabs(c->cloth_size - size0) < 1e-6 ? 1.0 : c->cloth_size / size0) * af_dr_value(&e->dr, "cloth_size", 0, 0);
  s->spacing = s->spacing0 * ratio;
  // nodes: mass and inertia, position in the parent (the root's stays), friction
  for (int k = 0; k < nn; k++) {
    int b = s->node[k], g = s->node_geom[k];
    m->body_mass[b] = m0->body_mass[b] * ms;
    for (int q = 0; q < 3; q++) m->body_inertia[3 * b + q] = m0->body_inertia[3 * b + q] * ms;
    for (int q = 0; q < 3; q++) m->body_pos[3 * b + q] = m0->body_pos[3 * b + q] * (k == s->ri * s->n + s->rj ? 1 : ratio);
    mju_copy(m->geom_friction + 3 * g, m0->geom_friction + 3 * g, 3);
    m->geom_friction[3 * g] *= fs;
  }
  // hinges: bending stiffness and damping
  for (int jt = s->jnt0; jt < s->jnt0 + s->njnt; jt++) {
    int dof = m->jnt_dofadr[jt];
    m->jnt_stiffness[jt] = m0->jnt_stiffness[jt] * ks;
    m->dof_damping[dof] = m0->dof_damping[dof] * ds;
  }
  // the cloth's reference pose (qpos0) keeps the held edge's centre where it was: mj_setConst
  // recomputes the clips' anchors on the bar from the reference pose
  mju_copy(m->qpos0 + s->root_qadr, m0->qpos0 + s->root_qadr, 7);
  m->qpos0[s->root_qadr] += (s->n - 1 - s->ri) * (s->spacing0 - s->spacing);
  m->qpos0[s->root_qadr + 1] += (0.5 * (s->n - 1) - s->rj) * (s->spacing0 - s->spacing);
  // the bar and its clip anchors follow the held edge's length
  for (int q = 0; q < 3; q++) m->geom_size[3 * s->bar_geom + q] = m0->geom_size[3 * s->bar_geom + q];
  m->geom_size[3 * s->bar_geom + 1] *= ratio;
  m->geom_rbound[s->bar_geom] = m->geom_size[3 * s->bar_geom] + m->geom_size[3 * s->bar_geom + 1];
  for (int i = 0; i < 2; i++) {
    int q = s->clip[i];
    mju_copy(m->eq_data + mjNEQDATA * q, m0->eq_data + mjNEQDATA * q, mjNEQDATA);
    for (int k = 3; k < 6; k++) m->eq_data[mjNEQDATA * q + k] *= ratio;
  }
  // every equality constraint on (the clips may have been opened last episode)
  memcpy(m->eq_active, m0->eq_active, (size_t)m->neq);
  // the box's size
  double h[3] = {af_dr_value(&e->dr, "box_hx", 0, 0), af_dr_value(&e->dr, "box_hy", 0, 0), af_dr_value(&e->dr, "box_hz", 0, 0)};
  for (int k = 0; k < 3; k++) m->geom_size[3 * s->box_geom + k] = h[k] = fmin(fmax(h[k], 0.01), 0.1);
  m->geom_rbound[s->box_geom] = sqrt(h[0] * h[0] + h[1] * h[1] + h[2] * h[2]);
  return ms != 1 || ratio != 1;
}

// the arm with its grip site at `grip` (fingers closed on the bar, yaw 0), and the bar where
// the weld holds it: the hand's pose composed with the weld's relative pose
static void place_hand(cloth_state *s, const mjModel *m, mjData *d, const double grip[3]) {
  af_arm_reset(&s->arm, m, d, grip, 0, 0);
  const mjtNum *hp = d->xpos + 3 * s->hand_body, *hR = d->xmat + 9 * s->hand_body;
  const mjtNum off[3] = {0, 0, 0.09 + GRIP_ABOVE_BAR};
  mjtNum w[3];
  mju_rotVecMat(w, off, hR);
  mjtNum *bq = d->qpos + s->bar_qadr;
  for (int k = 0; k < 3; k++) bq[k] = hp[k] + w[k];
  mju_copy(bq + 3, d->xquat + 4 * s->hand_body, 4);
  memcpy(s->prev_hand, af_arm_hand(&s->arm, d), sizeof s->prev_hand);
}

static void cloth_reset(af_env *e, af_rng *rng) {
  (void)rng;  // every draw of this task is in the randomization table
  cloth_state *s = e->state;
  mjModel *m = e->m;
  mjData *d = e->d;
  int changed = write_model(e);
  if (changed || s->model_dirty) {
    mj_setConst(m, d);
    mj_resetData(m, d);
  }
  s->model_dirty = changed;
  // the surface in the colour the randomization gave the cloth's material
  if (s->skin >= 0 && s->cloth_mat >= 0) memcpy(m->skin_rgba + 4 * s->skin, m->mat_rgba + 4 * s->cloth_mat, 4 * sizeof(float));

  // the box at its drawn place, resting on the table
  const mjtNum *h = m->geom_size + 3 * s->box_geom;
  double bx = af_dr_value(&e->dr, "box_x", 0, 0), by = af_dr_value(&e->dr, "box_y", 0, 0);
  d->mocap_pos[3 * s->box_mocap] = bx;
  d->mocap_pos[3 * s->box_mocap + 1] = by;
  d->mocap_pos[3 * s->box_mocap + 2] = h[2];
  const double box[6] = {bx, by, 2 * h[2], h[0], h[1], h[2]};
  memcpy(s->box, box, sizeof box);

  // the hand over the held edge, the bar welded under it
  const int n = s->n;
  const double grip[3] = {BAR_X, 0, s->radius + GRIP_ABOVE_BAR};
  place_hand(s, m, d, grip);
  const mjtNum *bq = d->qpos + s->bar_qadr;
  // the cloth flat on the table, its held edge centred under the bar
  mjtNum *rq = d->qpos + s->root_qadr;
  rq[0] = bq[0] - (n - 1 - s->ri) * s->spacing;
  rq[1] = bq[1] - (0.5 * (n - 1) - s->rj) * s->spacing;
  rq[2] = s->radius;
  rq[3] = 1; rq[4] = rq[5] = rq[6] = 0;
  mj_kinematics(m, d);

  s->released = 0;
  measure(e, &s->coverage, &s->hang);
  s->phi = s->coverage + 0.5 * s->hang;
  s->max_coverage = s->coverage;
  s->phase = PH_LIFT;
  s->pull = 0;
}

static void cloth_act(af_env *e, const float *a) {
  cloth_state *s = e->state;
  // opening the gripper lets go of the cloth for the rest of the episode
  if (!s->released && a[e->spec.act_dim - 1] > 0) {
    s->released = 1;
    e->m->eq_active[s->clip[0]] = e->m->eq_active[s->clip[1]] = 0;
  }
  memcpy(s->prev_hand, af_arm_hand(&s->arm, e->d), sizeof s->prev_hand);
  af_arm_act(&s->arm, e->m, e->d, a);
}

// the observed nodes: corners, edge midpoints, centre (node indices i * n + j)
static void observed_nodes(int n, int *k) {
  int c = (n - 1) / 2, l = n - 1;
  const int ij[N_OBS_NODES][2] = {{0, 0}, {0, l}, {l, 0}, {l, l}, {0, c}, {l, c}, {c, 0}, {c, l}, {c, c}};
  for (int q = 0; q < N_OBS_NODES; q++) k[q] = ij[q][0] * n + ij[q][1];
}

static void cloth_observe(const af_env *e, float *o) {
  const cloth_state *s = e->state;
  const mjData *d = e->d;
  const mjtNum *h = af_arm_hand(&s->arm, d), *q = d->xquat + 4 * s->hand_body;
  double hz = e->spec.control_hz;
  // hand position (3), orientation (4), velocity over the last control step (3), released (1)
  for (int k = 0; k < 3; k++) o[k] = (float)h[k];
  for (int k = 0; k < 4; k++) o[3 + k] = (float)q[k];
  for (int k = 0; k < 3; k++) o[7 + k] = (float)((h[k] - s->prev_hand[k]) * hz);
  o[10] = (float)s->released;
  // box: centre x, y, top height, half sizes (6)
  for (int k = 0; k < 6; k++) o[11 + k] = (float)s->box[k];
  // cloth nodes (9 x 3), unless left out
  if (!((const cloth_cfg *)e->cfg)->observe_cloth) return;
  int idx[N_OBS_NODES];
  observed_nodes(s->n, idx);
  for (int i = 0; i < N_OBS_NODES; i++)
    for (int k = 0; k < 3; k++) o[17 + 3 * i + k] = (float)d->xpos[3 * s->node[idx[i]] + k];
}

static float cloth_reward(af_env *e, const float *a, int *success, int *terminated) {
  (void)a;
  cloth_state *s = e->state;
  const cloth_cfg *c = e->cfg;
  measure(e, &s->coverage, &s->hang);
  if (s->coverage > s->max_coverage) s->max_coverage = s->coverage;
  *success = is_success(e, s->coverage, s->hang);
  *terminated = 0;
  double phi = s->coverage + 0.5 * s->hang;
  float r = c->reward == 1 ? (*success ? 1.0f : 0.0f) : (float)(phi - s->phi);
  s->phi = phi;
  return r;
}

static void cloth_metrics(const af_env *e, float *m) {
  const cloth_state *s = e->state;
  m[0] = (float)s->coverage;
  m[1] = (float)s->max_coverage;
  m[2] = (float)s->hang;
  m[3] = (float)s->released;
}

// A solved configuration: the clips open and the hand parked away from the box, the cloth
// flat and level just above the box's top, centred over it a little towards the far side
// (1 to 3 cm), turned by up to 0.2 rad; it falls over the box and settles under a holding
// action that keeps the gripper open.
static void cloth_solve(af_env *e, af_rng *rng, float *hold) {
  cloth_state *s = e->state;
  mjModel *m = e->m;
  mjData *d = e->d;
  const int n = s->n;
  const double *b = s->box;
  const double park[3] = {0.3, 0, 0.3};
  place_hand(s, m, d, park);
  s->released = 1;
  m->eq_active[s->clip[0]] = m->eq_active[s->clip[1]] = 0;
  double cx = b[0] + af_rng_range(rng, 0.01, 0.03), cy = b[1] + af_rng_range(rng, -0.01, 0.01);
  double yaw = af_rng_range(rng, -0.2, 0.2), cs = cos(yaw), sn = sin(yaw);
  double ox = (s->ri - 0.5 * (n - 1)) * s->spacing, oy = (s->rj - 0.5 * (n - 1)) * s->spacing;
  mjtNum *rq = d->qpos + s->root_qadr;
  rq[0] = cx + cs * ox - sn * oy;
  rq[1] = cy + sn * ox + cs * oy;
  rq[2] = b[2] + s->radius + 0.001;
  rq[3] = cos(yaw / 2); rq[4] = 0; rq[5] = 0; rq[6] = sin(yaw / 2);
  for (int jt = s->jnt0; jt < s->jnt0 + s->njnt; jt++) d->qpos[m->jnt_qposadr[jt]] = 0;
  mju_zero(d->qvel, m->nv);
  mj_kinematics(m, d);
  measure(e, &s->coverage, &s->hang);
  s->phi = s->coverage + 0.5 * s->hang;
  hold[e->spec.act_dim - 1] = 1;
}

// ---- scripted drape ----

// Lift the held edge above the box, carry it past the box's far face (the cloth trails over
// the top), lower it to the table there and hold it. While the middle of the held edge (which
// only its corners pin) still rides above half the box's height, draw the bar further out,
// half a centimetre a step, by up to PULL_MAX.
#define FAR_GAP 0.05   // the bar's distance beyond the far face (m)
#define PULL_MAX 0.05  // how much further it may draw the cloth (m)
static int cloth_scripted(af_env *e, float *a) {
  cloth_state *s = e->state;
  const mjData *d = e->d;
  const mjtNum *h = af_arm_hand(&s->arm, d);
  const double *b = s->box;
  const int n = s->n;
  double carry = b[2] + 0.08 + GRIP_ABOVE_BAR, low = s->radius + GRIP_ABOVE_BAR + 0.005;
  double far = b[0] + b[3] + FAR_GAP + s->pull;
  double t[3];
  switch (s->phase) {
    case PH_LIFT:
      t[0] = BAR_X; t[1] = 0; t[2] = carry;
      if (h[2] > carry - 0.015) s->phase = PH_OVER;
      break;
    case PH_OVER:
      t[0] = far; t[1] = b[1]; t[2] = carry;
      if (fabs(h[0] - far) < 0.01 && fabs(h[1] - b[1]) < 0.01) s->phase = PH_LOWER;
      break;
    default: {
      t[0] = far; t[1] = b[1]; t[2] = low;
      const mjtNum *mid = d->xpos + 3 * s->node[(n - 1) * n + (n - 1) / 2];
      if (h[2] < low + 0.005 && mid[2] > 0.4 * b[2] && s->pull < PULL_MAX) s->pull += 0.005;
    }
  }
  af_arm_action_towards(&s->arm, s->arm.target, t, a);
  a[e->spec.act_dim - 1] = -1;
  return AF_OK;
}

// snapshot: the arm's command, the clips (released, and the model's eq_active they edit),
// the episode's spacing and box, coverage and progress, the drape's phase and pull, and
// whether the model was changed (the next reset's constants follow it)
static int cloth_state_io(af_env *e, af_state_io *io) {
  cloth_state *s = e->state;
  af_arm_state(&s->arm, io);
  AF_STATE_FIELD(io, s->released);
  af_state_bytes(io, e->m->eq_active, (size_t)e->m->neq * sizeof *e->m->eq_active);
  AF_STATE_FIELD(io, s->model_dirty);
  AF_STATE_FIELD(io, s->spacing);
  AF_STATE_FIELD(io, s->box);
  AF_STATE_FIELD(io, s->prev_hand);
  AF_STATE_FIELD(io, s->phi);
  AF_STATE_FIELD(io, s->coverage);
  AF_STATE_FIELD(io, s->max_coverage);
  AF_STATE_FIELD(io, s->hang);
  AF_STATE_FIELD(io, s->phase);
  AF_STATE_FIELD(io, s->pull);
  return AF_OK;
}

const af_env_def af_cloth_drape_def = {
  .name = "cloth_drape",
  .camera = "learn",
  .description = "the shared arm lays a cloth (7 x 7 composite, two corners clipped to a held bar) over a box of random size and place",
  .success = "coverage of the box's top face >= success_coverage (0.8) and n nodes hanging beyond the far face below half its height",
  .reward_text = "dense: gain in coverage + 0.5 hang (potential-based); sparse: 1 while the success test holds, else 0",
  .asset = "cloth_drape.xml",
  .horizon = 50,
  .control_hz = 10,
  .params = cloth_params,
  .nparams = sizeof cloth_params / sizeof cloth_params[0],
  .cfg_size = sizeof(cloth_cfg),
  .dr = cloth_dr,
  .ndr = N_DR,
  .init = cloth_init,
  .free = cloth_free,
  .reset = cloth_reset,
  .act = cloth_act,
  .observe = cloth_observe,
  .reward = cloth_reward,
  .metrics = cloth_metrics,
  .scripted = cloth_scripted,
  .solve = cloth_solve,
  // cloth masses, spacing and reference pose, stiffness, damping and friction, the bar's
  // length and clip anchors, the box's size, and the clips switched off by a release
  .rebuilds = "body_mass,body_inertia,body_pos,qpos0,jnt_stiffness,dof_damping,geom_friction,geom_size,geom_rbound,eq_data,eq_active,skin_rgba",
  .state = cloth_state_io,
};
