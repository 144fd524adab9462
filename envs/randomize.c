// Domain randomization: resolve a declarative table against a model, restore nominal values
// and draw new ones at each reset. Each parameter draws from its own stream derived from the
// reset seed, so switching a group on or off never shifts the draws of the others.
#include "envs/randomize.h"

#include "base/config.h"  // af_edit_distance

#include <math.h>    // exp, log, sqrt, round, isfinite
#include <stdlib.h>  // calloc, free
#include <string.h>  // strcmp, strlen, memcpy

static const char *group_names[AF_DR_NGROUP] = {"physics", "visual", "sensor", "actuation", "task"};

// per field: element type of its targets, components per target, arrays written
static const struct { int objtype, dim; const char *name, *arrays; } fields[AF_F_COUNT] = {
  [AF_F_BODY_MASS]     = {mjOBJ_BODY, 1, "body mass", "body_mass,body_inertia"},
  [AF_F_GEOM_FRICTION] = {mjOBJ_GEOM, 1, "geom friction", "geom_friction"},
  [AF_F_GEOM_SIZE]     = {mjOBJ_GEOM, 1, "geom size", "geom_size,geom_rbound"},
  [AF_F_DOF_DAMPING]   = {mjOBJ_JOINT, 1, "joint damping", "dof_damping"},
  [AF_F_DOF_ARMATURE]  = {mjOBJ_JOINT, 1, "joint armature", "dof_armature"},
  [AF_F_DOF_FRICTIONLOSS] = {mjOBJ_JOINT, 1, "joint friction loss", "dof_frictionloss"},
  [AF_F_BODY_IPOS]     = {mjOBJ_BODY, 3, "centre of mass", "body_ipos"},
  [AF_F_INIT_QPOS]     = {mjOBJ_JOINT, 1, "initial joint position", ""},
  [AF_F_ACT_GAIN]      = {mjOBJ_ACTUATOR, 1, "actuator gain", "actuator_gainprm,actuator_biasprm"},
  [AF_F_GEOM_RGBA]     = {mjOBJ_GEOM, 3, "geom colour", "geom_rgba"},
  [AF_F_MAT_RGBA]      = {mjOBJ_MATERIAL, 3, "material colour", "mat_rgba"},
  [AF_F_LIGHT_POS]     = {mjOBJ_LIGHT, 3, "light position", "light_pos"},
  [AF_F_LIGHT_DIFFUSE] = {mjOBJ_LIGHT, 3, "light colour", "light_diffuse"},
  [AF_F_CAM_POS]       = {mjOBJ_CAMERA, 3, "camera position", "cam_pos"},
  [AF_F_CAM_ROT]       = {mjOBJ_CAMERA, 3, "camera orientation", "cam_quat"},
  [AF_F_CAM_FOVY]      = {mjOBJ_CAMERA, 1, "camera field of view", "cam_fovy"},
  [AF_F_OBS_NOISE]     = {-1, 1, "observation noise std", ""},
  [AF_F_ACT_NOISE]     = {-1, 1, "action noise std", ""},
  [AF_F_ACT_DELAY]     = {-1, 1, "action delay (steps)", ""},
  [AF_F_TASK]          = {-1, 1, "task quantity", ""},
  [AF_F_BODY_VALUE]    = {mjOBJ_BODY, 1, "value per body", ""},
  [AF_F_BODY_VEC3]     = {mjOBJ_BODY, 3, "3 values per body", ""},
};

const char *af_dr_group_name(af_dr_group g) { return g < AF_DR_NGROUP ? group_names[g] : "?"; }
const char *af_dr_field_name(af_dr_field f) { return f < AF_F_COUNT ? fields[f].name : "?"; }
const char *af_dr_field_arrays(af_dr_field f) { return f < AF_F_COUNT ? fields[f].arrays : ""; }

int af_dr_init(af_dr *dr, const af_dr_entry *table, int n, const mjModel *m, char *err, size_t errsz) {
  memset(dr, 0, sizeof *dr);
  dr->p = calloc((size_t)(n > 0 ? n : 1), sizeof *dr->p);
  if (!dr->p) { snprintf(err, errsz, "out of memory"); return -1; }
  dr->n = n;
  dr->enabled = 1;
  for (int g = 0; g < AF_DR_NGROUP; g++) dr->group_on[g] = g != AF_DR_SENSOR;
  for (int i = 0; i < n; i++) {
    af_dr_param *p = &dr->p[i];
    const af_dr_entry *e = &table[i];
    p->e = e;
    p->dim = fields[e->field].dim;
    p->lo = e->lo; p->hi = e->hi; p->eval_lo = e->eval_lo; p->eval_hi = e->eval_hi;
    int objtype = fields[e->field].objtype;
    if (objtype < 0) { p->ntarget = 1; p->ids[0] = -1; continue; }
    // resolve comma-separated names to element ids (dof ids for joints)
    const char *s = e->targets;
    while (s && *s) {
      const char *comma = strchr(s, ',');
      size_t len = comma ? (size_t)(comma - s) : strlen(s);
      char name[128];
      if (len >= sizeof name || p->ntarget >= 16) { snprintf(err, errsz, "randomization '%s': too many or too long targets", e->name); return -1; }
      memcpy(name, s, len);
      name[len] = 0;
      int id = mj_name2id(m, objtype, name);
      if (id < 0) { snprintf(err, errsz, "randomization '%s': no %s named '%s' in the model", e->name, fields[e->field].name, name); return -1; }
      if (objtype == mjOBJ_JOINT) id = m->jnt_dofadr[id];
      if (e->field == AF_F_ACT_GAIN && m->actuator_biasprm[id * mjNBIAS + 1] != -m->actuator_gainprm[id * mjNGAIN]) {
        snprintf(err, errsz, "randomization '%s': actuator '%s' is not a position actuator", e->name, name);
        return -1;
      }
      p->ids[p->ntarget++] = id;
      s = comma ? comma + 1 : NULL;
    }
    if (p->ntarget == 0) { snprintf(err, errsz, "randomization '%s': no targets", e->name); return -1; }
    // each field of each element belongs to one entry: draws are applied to nominal values
    // (fields the environment reads back write no array, so they cannot collide)
    for (int k = 0; k < i; k++) {
      const af_dr_param *q = &dr->p[k];
      if (q->e->field != e->field || fields[e->field].objtype < 0 || !*fields[e->field].arrays) continue;
      for (int a = 0; a < p->ntarget; a++)
        for (int b = 0; b < q->ntarget; b++)
          if (p->ids[a] == q->ids[b]) {
            snprintf(err, errsz, "randomization '%s' and '%s' both change the %s of one element", q->e->name, e->name, fields[e->field].name);
            return -1;
          }
    }
  }
  return 0;
}

void af_dr_free(af_dr *dr) {
  if (!dr) return;
  free(dr->p);
  dr->p = NULL;
  dr->n = 0;
}

// a [lo, hi] pair from JSON, checked against what the parameter allows
static int parse_range(const af_dr_param *p, const cJSON *v, const char *what, double *lo, double *hi, char *err, size_t errsz) {
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(v, 0)) ||
      !cJSON_IsNumber(cJSON_GetArrayItem(v, 1))) {
    snprintf(err, errsz, "randomize.%s%s: expected [lo, hi]", p->e->name, what);
    return -1;
  }
  double a = cJSON_GetArrayItem(v, 0)->valuedouble, b = cJSON_GetArrayItem(v, 1)->valuedouble;
  const char *why = NULL;
  if (!isfinite(a) || !isfinite(b)) why = "bounds must be finite";
  else if (a > b) why = "lo is greater than hi";
  else if (p->e->dist == AF_DR_LOGUNIFORM && a <= 0) why = "a log-uniform range must be positive";
  else if (p->e->mode == AF_DR_SCALE && a < 0) why = "a scale must not be negative";
  else if ((p->e->field == AF_F_OBS_NOISE || p->e->field == AF_F_ACT_NOISE) && a < 0) why = "a noise std must not be negative";
  else if (p->e->field == AF_F_ACT_DELAY && (a < 0 || b > 16 || a != floor(a) || b != floor(b))) why = "a delay is a whole number of steps in [0, 16]";
  else if (p->e->field == AF_F_CAM_FOVY && (p->e->mode == AF_DR_ABSOLUTE) && (a <= 0 || b >= 180)) why = "a field of view lies in (0, 180)";
  if (why) {
    snprintf(err, errsz, "randomize.%s%s: [%g, %g]: %s", p->e->name, what, a, b, why);
    return -1;
  }
  *lo = a; *hi = b;
  return 0;
}

int af_dr_configure(af_dr *dr, const cJSON *cfg, char *err, size_t errsz) {
  if (!cfg) return 0;
  if (cJSON_IsBool(cfg)) { dr->enabled = cJSON_IsTrue(cfg); return 0; }
  if (!cJSON_IsObject(cfg)) { snprintf(err, errsz, "randomize: expected true, false or an object"); return -1; }
  for (const cJSON *it = cfg->child; it; it = it->next) {
    const char *k = it->string;
    int *flag = NULL;
    if (strcmp(k, "enabled") == 0) flag = &dr->enabled;
    else if (strcmp(k, "eval") == 0) flag = &dr->eval;
    for (int g = 0; g < AF_DR_TASK; g++)
      if (strcmp(k, group_names[g]) == 0) flag = &dr->group_on[g];
    if (flag) {
      if (!cJSON_IsBool(it)) { snprintf(err, errsz, "randomize.%s: expected true or false", k); return -1; }
      *flag = cJSON_IsTrue(it);
      continue;
    }
    // a per-parameter range override
    af_dr_param *p = NULL;
    for (int i = 0; i < dr->n; i++)
      if (strcmp(dr->p[i].e->name, k) == 0) p = &dr->p[i];
    if (!p) {
      const char *best = NULL;
      int bestd = 1 << 30;
      for (int i = 0; i < dr->n; i++) {
        int d = af_edit_distance(k, dr->p[i].e->name);
        if (d < bestd) { bestd = d; best = dr->p[i].e->name; }
      }
      if (best && bestd <= (int)strlen(k) / 3 + 1) snprintf(err, errsz, "randomize.%s: unknown key (did you mean '%s'?)", k, best);
      else snprintf(err, errsz, "randomize.%s: unknown key (groups: physics, visual, sensor, actuation; see 'armfarm envs NAME')", k);
      return -1;
    }
    if (cJSON_IsArray(it)) {
      if (parse_range(p, it, "", &p->lo, &p->hi, err, errsz)) return -1;
    } else if (cJSON_IsObject(it)) {
      for (const cJSON *r = it->child; r; r = r->next) {
        if (strcmp(r->string, "train") == 0) { if (parse_range(p, r, ".train", &p->lo, &p->hi, err, errsz)) return -1; }
        else if (strcmp(r->string, "eval") == 0) { if (parse_range(p, r, ".eval", &p->eval_lo, &p->eval_hi, err, errsz)) return -1; }
        else { snprintf(err, errsz, "randomize.%s.%s: unknown key (expected train or eval)", k, r->string); return -1; }
      }
    } else {
      snprintf(err, errsz, "randomize.%s: expected [lo, hi] or {\"train\": [lo, hi], \"eval\": [lo, hi]}", k);
      return -1;
    }
  }
  return 0;
}

int af_dr_active(const af_dr *dr, const af_dr_param *p) {
  if (p->e->group == AF_DR_TASK) return 1;
  return dr->enabled && dr->group_on[p->e->group];
}

// new value of a field from its nominal value and a draw
static double transform(af_dr_mode mode, double nominal, double draw) {
  switch (mode) {
    case AF_DR_SCALE: return nominal * draw;
    case AF_DR_OFFSET: return nominal + draw;
    default: return draw;
  }
}

static float clamp01(double x) { return (float)(x < 0 ? 0 : x > 1 ? 1 : x); }

// radius of the bounding sphere, as MuJoCo's compiler computes it per geom type
static double geom_rbound(int type, const mjtNum *s) {
  switch (type) {
    case mjGEOM_SPHERE: return s[0];
    case mjGEOM_CAPSULE: return s[0] + s[1];
    case mjGEOM_CYLINDER: return sqrt(s[0] * s[0] + s[1] * s[1]);
    case mjGEOM_BOX: return sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]);
    case mjGEOM_ELLIPSOID: return fmax(fmax(s[0], s[1]), s[2]);
    default: return -1;
  }
}

// copy the nominal values of a parameter's targets from m0 into m
static void restore(const af_dr_param *p, mjModel *m, const mjModel *m0) {
  for (int t = 0; t < p->ntarget; t++) {
    int id = p->ids[t];
    switch (p->e->field) {
      case AF_F_BODY_MASS:
        m->body_mass[id] = m0->body_mass[id];
        memcpy(m->body_inertia + 3 * id, m0->body_inertia + 3 * id, 3 * sizeof(mjtNum));
        break;
      case AF_F_GEOM_FRICTION: m->geom_friction[3 * id] = m0->geom_friction[3 * id]; break;
      case AF_F_GEOM_SIZE:
        memcpy(m->geom_size + 3 * id, m0->geom_size + 3 * id, 3 * sizeof(mjtNum));
        m->geom_rbound[id] = m0->geom_rbound[id];
        break;
      case AF_F_DOF_DAMPING: m->dof_damping[id] = m0->dof_damping[id]; break;
      case AF_F_DOF_ARMATURE: m->dof_armature[id] = m0->dof_armature[id]; break;
      case AF_F_DOF_FRICTIONLOSS: m->dof_frictionloss[id] = m0->dof_frictionloss[id]; break;
      case AF_F_BODY_IPOS: memcpy(m->body_ipos + 3 * id, m0->body_ipos + 3 * id, 3 * sizeof(mjtNum)); break;
      case AF_F_ACT_GAIN:
        m->actuator_gainprm[id * mjNGAIN] = m0->actuator_gainprm[id * mjNGAIN];
        m->actuator_biasprm[id * mjNBIAS + 1] = m0->actuator_biasprm[id * mjNBIAS + 1];
        break;
      case AF_F_GEOM_RGBA: memcpy(m->geom_rgba + 4 * id, m0->geom_rgba + 4 * id, 3 * sizeof(float)); break;
      case AF_F_MAT_RGBA: memcpy(m->mat_rgba + 4 * id, m0->mat_rgba + 4 * id, 3 * sizeof(float)); break;
      case AF_F_LIGHT_POS: memcpy(m->light_pos + 3 * id, m0->light_pos + 3 * id, 3 * sizeof(mjtNum)); break;
      case AF_F_LIGHT_DIFFUSE: memcpy(m->light_diffuse + 3 * id, m0->light_diffuse + 3 * id, 3 * sizeof(float)); break;
      case AF_F_CAM_POS: memcpy(m->cam_pos + 3 * id, m0->cam_pos + 3 * id, 3 * sizeof(mjtNum)); break;
      case AF_F_CAM_ROT: memcpy(m->cam_quat + 4 * id, m0->cam_quat + 4 * id, 4 * sizeof(mjtNum)); break;
      case AF_F_CAM_FOVY: m->cam_fovy[id] = m0->cam_fovy[id]; break;
      default: break;
    }
  }
}

// write one target's draw (dim values) into m, from the nominal values in m0
static void write(const af_dr_param *p, int t, const double *x, mjModel *m, const mjModel *m0) {
  int id = p->ids[t];
  af_dr_mode mode = p->e->mode;
  switch (p->e->field) {
    case AF_F_BODY_MASS: {
      // inertia follows mass at fixed shape
      double m1 = transform(mode, m0->body_mass[id], x[0]);
      double ratio = m0->body_mass[id] > 0 ? m1 / m0->body_mass[id] : 1;
      m->body_mass[id] = m1;
      for (int k = 0; k < 3; k++) m->body_inertia[3 * id + k] = m0->body_inertia[3 * id + k] * ratio;
      break;
    }
    case AF_F_GEOM_FRICTION: m->geom_friction[3 * id] = transform(mode, m0->geom_friction[3 * id], x[0]); break;
    case AF_F_GEOM_SIZE: {
      // scale the horizontal extent: radius, or x and y half-sizes of boxes and ellipsoids
      const mjtNum *s0 = m0->geom_size + 3 * id;
      mjtNum *s = m->geom_size + 3 * id;
      double ratio = s0[0] > 0 ? transform(mode, s0[0], x[0]) / s0[0] : 1;
      s[0] = s0[0] * ratio;
      if (m->geom_type[id] == mjGEOM_BOX || m->geom_type[id] == mjGEOM_ELLIPSOID) s[1] = s0[1] * ratio;
      double rb = geom_rbound(m->geom_type[id], s);
      if (rb >= 0) m->geom_rbound[id] = rb;
      break;
    }
    case AF_F_DOF_DAMPING: m->dof_damping[id] = transform(mode, m0->dof_damping[id], x[0]); break;
    case AF_F_DOF_ARMATURE: m->dof_armature[id] = transform(mode, m0->dof_armature[id], x[0]); break;
    case AF_F_DOF_FRICTIONLOSS: m->dof_frictionloss[id] = transform(mode, m0->dof_frictionloss[id], x[0]); break;
    case AF_F_BODY_IPOS:
      for (int k = 0; k < 3; k++) m->body_ipos[3 * id + k] = transform(mode, m0->body_ipos[3 * id + k], x[k]);
      break;
    case AF_F_ACT_GAIN: {
      double kp = transform(mode, m0->actuator_gainprm[id * mjNGAIN], x[0]);
      m->actuator_gainprm[id * mjNGAIN] = kp;
      m->actuator_biasprm[id * mjNBIAS + 1] = -kp;
      break;
    }
    case AF_F_GEOM_RGBA:
      for (int k = 0; k < 3; k++) m->geom_rgba[4 * id + k] = clamp01(transform(mode, m0->geom_rgba[4 * id + k], x[k]));
      break;
    case AF_F_MAT_RGBA:
      for (int k = 0; k < 3; k++) m->mat_rgba[4 * id + k] = clamp01(transform(mode, m0->mat_rgba[4 * id + k], x[k]));
      break;
    case AF_F_LIGHT_POS:
      for (int k = 0; k < 3; k++) m->light_pos[3 * id + k] = transform(mode, m0->light_pos[3 * id + k], x[k]);
      break;
    case AF_F_LIGHT_DIFFUSE:
      for (int k = 0; k < 3; k++) m->light_diffuse[3 * id + k] = clamp01(transform(mode, m0->light_diffuse[3 * id + k], x[k]));
      break;
    case AF_F_CAM_POS:
      for (int k = 0; k < 3; k++) m->cam_pos[3 * id + k] = transform(mode, m0->cam_pos[3 * id + k], x[k]);
      break;
    case AF_F_CAM_ROT: {
      // nominal orientation composed with a small rotation given as an axis-angle vector
      mjtNum v[3] = {x[0], x[1], x[2]}, dq[4] = {1, 0, 0, 0};
      mjtNum angle = mju_normalize3(v);
      if (angle > 0) mju_axisAngle2Quat(dq, v, angle);
      mju_mulQuat(m->cam_quat + 4 * id, m0->cam_quat + 4 * id, dq);
      break;
    }
    case AF_F_CAM_FOVY: m->cam_fovy[id] = transform(mode, m0->cam_fovy[id], x[0]); break;
    default: break;
  }
}

int af_dr_apply(af_dr *dr, mjModel *m, const mjModel *m0, uint64_t seed) {
  int physics = 0;
  for (int i = 0; i < dr->n; i++) {
    af_dr_param *p = &dr->p[i];
    restore(p, m, m0);
    int k = p->ntarget * p->dim;
    if (!af_dr_active(dr, p)) {
      for (int j = 0; j < k; j++) p->draw[j] = p->e->nominal;
      continue;
    }
    // this parameter's own stream: independent of which other groups are on
    af_rng rng;
    af_rng_seed(&rng, af_seed_derive(seed, 1000 + (uint64_t)i));
    double lo = dr->eval ? p->eval_lo : p->lo, hi = dr->eval ? p->eval_hi : p->hi;
    // the spread entry: point spread_k of spread_n from lo to hi, both ends included (evenly
    // in the logarithm for a log-uniform entry), every component alike
    double at = dr->spread_n >= 2 && dr->spread_i == i ? (double)dr->spread_k / (dr->spread_n - 1) : -1;
    for (int j = 0; j < k; j++) {
      if (at >= 0)
        p->draw[j] = p->e->dist == AF_DR_LOGUNIFORM ? exp(log(lo) + at * (log(hi) - log(lo))) : lo + at * (hi - lo);
      else if (p->e->field == AF_F_ACT_DELAY) p->draw[j] = af_rng_int(&rng, (int)round(lo), (int)round(hi));
      else if (p->e->dist == AF_DR_LOGUNIFORM) p->draw[j] = exp(af_rng_range(&rng, log(lo), log(hi)));
      else p->draw[j] = af_rng_range(&rng, lo, hi);
    }
    for (int t = 0; t < p->ntarget; t++) write(p, t, p->draw + t * p->dim, m, m0);
    af_dr_field f = p->e->field;
    if (f == AF_F_BODY_MASS || f == AF_F_BODY_IPOS || f == AF_F_DOF_ARMATURE || f == AF_F_CAM_POS || f == AF_F_CAM_ROT) physics = 1;
  }
  return physics;
}

double af_dr_value(const af_dr *dr, const char *name, int target, int comp) {
  for (int i = 0; i < dr->n; i++) {
    const af_dr_param *p = &dr->p[i];
    if (strcmp(p->e->name, name) == 0) {
      if (target < 0 || target >= p->ntarget || comp < 0 || comp >= p->dim) return NAN;
      return p->draw[target * p->dim + comp];
    }
  }
  return NAN;
}

cJSON *af_dr_to_json(const af_dr *dr) {
  cJSON *o = cJSON_CreateObject();
  for (int i = 0; i < dr->n; i++) {
    const af_dr_param *p = &dr->p[i];
    int k = p->ntarget * p->dim;
    if (k == 1) cJSON_AddNumberToObject(o, p->e->name, p->draw[0]);
    else cJSON_AddItemToObject(o, p->e->name, cJSON_CreateDoubleArray(p->draw, k));
  }
  return o;
}

void af_dr_print(FILE *f, const af_dr *dr) {
  static const char *modes[] = {"scale", "offset", "absolute"};
  fprintf(f, "  %-16s %-9s %-22s %-8s %-5s %8s %17s %17s  %s\n", "name", "group", "field", "mode", "dist",
          "nominal", "train", "eval", "targets");
  for (int i = 0; i < dr->n; i++) {
    const af_dr_param *p = &dr->p[i];
    char tr[40], ev[40];
    snprintf(tr, sizeof tr, "[%g, %g]", p->lo, p->hi);
    snprintf(ev, sizeof ev, "[%g, %g]", p->eval_lo, p->eval_hi);
    fprintf(f, "  %-16s %-9s %-22s %-8s %-5s %8g %17s %17s  %s\n", p->e->name, group_names[p->e->group],
            fields[p->e->field].name, modes[p->e->mode], p->e->dist == AF_DR_LOGUNIFORM ? "log" : "unif",
            p->e->nominal, tr, ev, p->e->targets ? p->e->targets : "-");
  }
}
