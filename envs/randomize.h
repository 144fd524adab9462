// Domain randomization: a declarative table per environment. Each entry names a parameter,
// the model fields it changes, how (scale, offset, absolute), the distribution, the nominal
// value, a training range and a held-out evaluation range. Each reset restores the nominal
// model and draws afresh from the reset seed.
#ifndef AF_RANDOMIZE_H
#define AF_RANDOMIZE_H

#include <stdio.h>  // FILE
#include <mujoco/mujoco.h>
#include <cjson/cJSON.h>
#include "base/rng.h"

typedef enum { AF_DR_PHYSICS, AF_DR_VISUAL, AF_DR_SENSOR, AF_DR_ACTUATION, AF_DR_TASK, AF_DR_NGROUP } af_dr_group;

typedef enum {
  AF_F_BODY_MASS,      // body_mass and body_inertia, scaled together (targets: bodies)
  AF_F_GEOM_FRICTION,  // geom_friction[0], sliding (geoms)
  AF_F_GEOM_SIZE,      // geom_size of the horizontal extent and geom_rbound (geoms)
  AF_F_DOF_DAMPING,    // dof_damping (joints)
  AF_F_DOF_ARMATURE,   // dof_armature (joints)
  AF_F_DOF_FRICTIONLOSS, // dof_frictionloss (joints)
  AF_F_BODY_IPOS,      // body_ipos: centre-of-mass offset (bodies)
  AF_F_INIT_QPOS,      // offset of the initial joint position the environment reads back (joints)
  AF_F_ACT_GAIN,       // position-actuator kp: actuator_gainprm[0] and -actuator_biasprm[1]
  AF_F_GEOM_RGBA,      // geom_rgba[0..2] (geoms)
  AF_F_MAT_RGBA,       // mat_rgba[0..2] (materials)
  AF_F_LIGHT_POS,      // light_pos (lights)
  AF_F_LIGHT_DIFFUSE,  // light_diffuse (lights)
  AF_F_CAM_POS,        // cam_pos (cameras)
  AF_F_CAM_ROT,        // cam_quat, rotated by a small axis-angle vector (cameras)
  AF_F_CAM_FOVY,       // cam_fovy (cameras)
  AF_F_OBS_NOISE,      // std of Gaussian noise added to observations (no targets)
  AF_F_ACT_NOISE,      // std of Gaussian noise added to actions (no targets)
  AF_F_ACT_DELAY,      // action delay in control steps, a whole number (no targets)
  AF_F_TASK,           // a task quantity the environment reads back (initial positions...)
  AF_F_BODY_VALUE,     // one value per body that the environment reads back and applies itself (bodies)
  AF_F_BODY_VEC3,      // three values per body, likewise (e.g. object shapes and sizes rebuilt at reset)
  AF_F_COUNT
} af_dr_field;

typedef enum { AF_DR_SCALE, AF_DR_OFFSET, AF_DR_ABSOLUTE } af_dr_mode;
typedef enum { AF_DR_UNIFORM, AF_DR_LOGUNIFORM } af_dr_dist;

typedef struct {
  const char *name;
  af_dr_group group;
  af_dr_field field;
  const char *targets;      // comma-separated element names; NULL for fields without targets
  af_dr_mode mode;
  af_dr_dist dist;
  double nominal;           // the draw that leaves the model as written (1 scale, 0 offset)
  double lo, hi;            // training range of the draw
  double eval_lo, eval_hi;  // held-out evaluation range of the draw
  const char *help;
} af_dr_entry;

// one entry resolved against a model, with its effective ranges and this episode's draws
typedef struct {
  const af_dr_entry *e;
  int ntarget, dim;
  int ids[16];              // element ids
  double lo, hi, eval_lo, eval_hi;
  double draw[16 * 3];      // this episode's draws, (ntarget, dim)
} af_dr_param;

typedef struct {
  int n;
  af_dr_param *p;
  int enabled;                  // master switch
  int group_on[AF_DR_NGROUP];   // per group
  int eval;                     // draw from the held-out evaluation ranges
  int spread_i, spread_k, spread_n;  // spread_n >= 2: entry spread_i at point spread_k of n evenly spaced over its range
} af_dr;

const char *af_dr_group_name(af_dr_group g);
const char *af_dr_field_name(af_dr_field f);
// the names of the mjModel arrays a field writes (comma-separated)
const char *af_dr_field_arrays(af_dr_field f);

// resolve a table against a model; -1 with a message if a target name is unknown
int af_dr_init(af_dr *dr, const af_dr_entry *table, int n, const mjModel *m, char *err, size_t errsz);
void af_dr_free(af_dr *dr);

// apply a "randomize" config: true/false, or an object of group switches, "eval",
// and per-parameter ranges ([lo, hi] or {"train": [lo, hi], "eval": [lo, hi]})
int af_dr_configure(af_dr *dr, const cJSON *cfg, char *err, size_t errsz);

// whether a parameter is drawn this episode (its group on, or a task parameter)
int af_dr_active(const af_dr *dr, const af_dr_param *p);

// restore the nominal values from m0 into m for every field of the table, draw new values
// from rng and write them; returns 1 if physics-derived constants need mj_setConst
int af_dr_apply(af_dr *dr, mjModel *m, const mjModel *m0, uint64_t seed);

// the draw for a task or noise parameter by name (its nominal if inactive); NAN if unknown
double af_dr_value(const af_dr *dr, const char *name, int target, int comp);

// the draws of this episode as a JSON object {name: value or [values]}
cJSON *af_dr_to_json(const af_dr *dr);

// the table printed for `armfarm envs NAME`
void af_dr_print(FILE *f, const af_dr *dr);

#endif
