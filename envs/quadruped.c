// Quadruped locomotion: walk forward at a commanded speed on flat ground, ramps, stairs, rough
// ground or a mix of them. Actions are joint-target offsets around a standing pose; 50 Hz.
#include "envs/env_impl.h"

#include <math.h>    // exp, sqrt, cos, sin
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy, memset

#include "envs/terrain.h"

#define NJ 12
#define PI 3.14159265358979323846
#define SCAN_X 11  // height scan: 11 x 7 points, 10 cm apart, around the torso
#define SCAN_Y 7

// ---- config ----
typedef struct {
  int terrain;            // af_terrain_kind
  char terrains[AF_P_STRING_MAX];  // "" or kinds separated by commas, one drawn per episode
  double tread;
  int height_scan;
  double action_scale;
  double w_track, w_lateral, w_vertical, w_tilt, w_torque, w_rate;
  double fall_tilt;
} quad_cfg;

static const af_param quad_params[] = {
  {"terrain", AF_P_ENUM, offsetof(quad_cfg, terrain), 0, 0, 6, AF_TERRAIN_KINDS, "ground to walk on"},
  {"terrains", AF_P_STRING, offsetof(quad_cfg, terrains), 0, 0, 0, "",
   "kinds separated by commas (e.g. \"stairs_up,stairs_down,rough\"): each episode draws one of them uniformly, in place of terrain"},
  {"tread", AF_P_DOUBLE, offsetof(quad_cfg, tread), 0.3, 0.2, 0.6, NULL, "stair depth (m)"},
  {"height_scan", AF_P_BOOL, offsetof(quad_cfg, height_scan), 0, 0, 1, NULL, "add 11x7 terrain heights around the torso to the observation"},
  {"action_scale", AF_P_DOUBLE, offsetof(quad_cfg, action_scale), 0.5, 0.05, 1.5, NULL, "joint-target offset for an action of 1 (rad)"},
  {"w_track", AF_P_DOUBLE, offsetof(quad_cfg, w_track), 1.0, 0, 100, NULL, "weight of exp(-(v_x - v_cmd)^2 / 0.25)"},
  {"w_lateral", AF_P_DOUBLE, offsetof(quad_cfg, w_lateral), 0.5, 0, 100, NULL, "penalty on sideways velocity^2"},
  {"w_vertical", AF_P_DOUBLE, offsetof(quad_cfg, w_vertical), 2.0, 0, 100, NULL, "penalty on vertical velocity^2"},
  {"w_tilt", AF_P_DOUBLE, offsetof(quad_cfg, w_tilt), 1.0, 0, 100, NULL, "penalty on body tilt (gravity x^2 + y^2 in the body frame)"},
  {"w_torque", AF_P_DOUBLE, offsetof(quad_cfg, w_torque), 2e-4, 0, 1, NULL, "penalty on the sum of squared joint torques"},
  {"w_rate", AF_P_DOUBLE, offsetof(quad_cfg, w_rate), 0.01, 0, 10, NULL, "penalty on the squared change of action"},
  {"fall_tilt", AF_P_DOUBLE, offsetof(quad_cfg, fall_tilt), 1.0, 0.2, 1.6, NULL, "fallen past this tilt (rad), or when the torso touches ground"},
};

#define LEGS "fl_abd,fl_hip,fl_knee,fr_abd,fr_hip,fr_knee,hl_abd,hl_hip,hl_knee,hr_abd,hr_hip,hr_knee"
#define LINKS "fl_hip,fl_thigh,fl_calf,fr_hip,fr_thigh,fr_calf,hl_hip,hl_thigh,hl_calf,hr_hip,hr_thigh,hr_calf"

// ---- randomization table (ranges near the Go1 set-ups in shared/ENVS.md) ----
static const af_dr_entry quad_dr[] = {
  {"foot_friction",  AF_DR_PHYSICS,   AF_F_GEOM_FRICTION, "fl_foot,fr_foot,hl_foot,hr_foot", AF_DR_ABSOLUTE, AF_DR_UNIFORM, 0.8, 0.4, 1.0, 0.25, 1.25, "foot-ground friction (terrain friction is lower, so this rules)"},
  {"link_mass",      AF_DR_PHYSICS,   AF_F_BODY_MASS,     LINKS,    AF_DR_SCALE,  AF_DR_UNIFORM, 1, 0.9, 1.1, 0.8, 1.2, "leg link masses"},
  {"payload",        AF_DR_PHYSICS,   AF_F_BODY_MASS,     "torso",  AF_DR_OFFSET, AF_DR_UNIFORM, 0, -1, 1, -1.5, 2.5, "torso payload (kg)"},
  {"com_offset",     AF_DR_PHYSICS,   AF_F_BODY_IPOS,     "torso",  AF_DR_OFFSET, AF_DR_UNIFORM, 0, -0.05, 0.05, -0.08, 0.08, "torso centre of mass (m)"},
  {"joint_damping",  AF_DR_PHYSICS,   AF_F_DOF_DAMPING,   LEGS,     AF_DR_SCALE,  AF_DR_UNIFORM, 1, 0.9, 1.1, 0.8, 1.3, "joint damping"},
  {"armature",       AF_DR_PHYSICS,   AF_F_DOF_ARMATURE,  LEGS,     AF_DR_SCALE,  AF_DR_UNIFORM, 1, 1.0, 1.05, 1.0, 1.2, "joint armature"},
  {"frictionloss",   AF_DR_PHYSICS,   AF_F_DOF_FRICTIONLOSS, LEGS,  AF_DR_SCALE,  AF_DR_UNIFORM, 1, 0.9, 1.1, 0.7, 1.4, "joint friction loss"},
  {"init_qpos",      AF_DR_PHYSICS,   AF_F_INIT_QPOS,     LEGS,     AF_DR_OFFSET, AF_DR_UNIFORM, 0, -0.05, 0.05, -0.1, 0.1, "initial joint positions around the standing pose (rad)"},
  {"push_speed",     AF_DR_PHYSICS,   AF_F_TASK,          NULL,     AF_DR_ABSOLUTE, AF_DR_UNIFORM, 0, 0, 0.5, 0.5, 1.0, "torso velocity kicks (m/s)"},
  {"push_interval",  AF_DR_PHYSICS,   AF_F_TASK,          NULL,     AF_DR_ABSOLUTE, AF_DR_UNIFORM, 15, 5, 15, 3, 8, "seconds between kicks"},
  {"kp",             AF_DR_ACTUATION, AF_F_ACT_GAIN,      LEGS,     AF_DR_SCALE,  AF_DR_UNIFORM, 1, 0.9, 1.1, 0.8, 1.2, "servo stiffness"},
  {"obs_noise",      AF_DR_SENSOR,    AF_F_OBS_NOISE,     NULL,     AF_DR_ABSOLUTE, AF_DR_UNIFORM, 0, 1, 1, 1, 1.5, "observation noise, times the per-channel std (joints 0.03, vel 1.5, gravity 0.05, gyro 0.2)"},
  {"act_delay",      AF_DR_SENSOR,    AF_F_ACT_DELAY,     NULL,     AF_DR_ABSOLUTE, AF_DR_UNIFORM, 0, 0, 1, 0, 2, "action delay (control steps)"},
  {"body_rgb",       AF_DR_VISUAL,    AF_F_MAT_RGBA,      "body",   AF_DR_OFFSET, AF_DR_UNIFORM, 0, -0.15, 0.15, -0.3, 0.3, "body colour"},
  {"terrain_rgb",    AF_DR_VISUAL,    AF_F_MAT_RGBA,      "terrain", AF_DR_OFFSET, AF_DR_UNIFORM, 0, -0.1, 0.1, -0.25, 0.25, "terrain colour"},
  {"light_rgb",      AF_DR_VISUAL,    AF_F_LIGHT_DIFFUSE, "sun",    AF_DR_OFFSET, AF_DR_UNIFORM, 0, -0.15, 0.15, -0.3, 0.2, "light colour"},
  {"light_pos",      AF_DR_VISUAL,    AF_F_LIGHT_POS,     "sun",    AF_DR_OFFSET, AF_DR_UNIFORM, 0, -1, 1, -2, 2, "light position (m)"},
  {"command_vel",    AF_DR_TASK,      AF_F_TASK,          NULL,     AF_DR_ABSOLUTE, AF_DR_UNIFORM, 0.5, 0.3, 1.0, 0.2, 1.2, "commanded forward velocity (m/s)"},
  {"difficulty",     AF_DR_TASK,      AF_F_TASK,          NULL,     AF_DR_ABSOLUTE, AF_DR_UNIFORM, 0.5, 0, 0.7, 0.7, 1.0, "terrain difficulty (stairs rise 0.02-0.18 m, slope 0-0.4, bumps 0.01-0.1 m)"},
};

// ---- state ----
typedef struct {
  af_terrain terrain;
  double level;  // curriculum: fixed difficulty, or < 0 to draw it
  int nkinds;    // the terrains list (0: the terrain key alone)
  af_terrain_kind kinds[16];
  int qadr[NJ], dadr[NJ], act[NJ];
  int torso, torso_geom, root_q, root_d;
  float prev_a[NJ];
  float noise[SCAN_X * SCAN_Y + 64];
  double cmd, start_x, start_height;
  double push_speed, push_interval, next_push;
  af_rng rng;   // pushes, from the reset seed
  af_rng terrain_rng;  // the reset's stream as the terrain build found it (snapshots rebuild it)
  double phase; // scripted trot
} quad_state;

static const double stand[3] = {0.0, 0.8, -1.5};  // abduction, hip, knee
static const char *jn[NJ] = {"fl_abd", "fl_hip", "fl_knee", "fr_abd", "fr_hip", "fr_knee",
                             "hl_abd", "hl_hip", "hl_knee", "hr_abd", "hr_hip", "hr_knee"};

// the terrains list: known kinds separated by commas, at most 16
static int parse_kinds(quad_state *s, const char *list, char *err, size_t errsz) {
  static const char *names[AF_TERRAIN_COUNT] = {"flat", "ramp_up", "ramp_down", "stairs_up", "stairs_down", "rough", "mix"};
  s->nkinds = 0;
  for (const char *p = list; *p;) {
    size_t len = strcspn(p, ",");
    int k = -1;
    for (int i = 0; i < AF_TERRAIN_COUNT; i++)
      if (strlen(names[i]) == len && !strncmp(p, names[i], len)) k = i;
    if (k < 0 || s->nkinds == 16) {
      snprintf(err, errsz, "terrains: %s '%.*s' (a list of %s separated by commas, at most 16)", k < 0 ? "unknown kind" : "too many kinds at",
               (int)len, p, AF_TERRAIN_KINDS);
      return -1;
    }
    s->kinds[s->nkinds++] = (af_terrain_kind)k;
    p += len;
    if (*p == ',' && !*++p) { snprintf(err, errsz, "terrains: the list ends in a comma"); return -1; }
  }
  return 0;
}

static int quad_init(af_env *e, char *err, size_t errsz) {
  const quad_cfg *c = e->cfg;
  quad_state *s = calloc(1, sizeof *s);
  if (!s) { snprintf(err, errsz, "out of memory"); return -1; }
  e->state = s;
  s->level = -1;
  if (parse_kinds(s, c->terrains, err, errsz)) return -1;
  if (af_terrain_init(&s->terrain, e->m, err, errsz)) return -1;
  for (int i = 0; i < NJ; i++) {
    int j = mj_name2id(e->m, mjOBJ_JOINT, jn[i]), a = mj_name2id(e->m, mjOBJ_ACTUATOR, jn[i]);
    if (j < 0 || a < 0) { snprintf(err, errsz, "quadruped model lacks joint/actuator %s", jn[i]); return -1; }
    s->qadr[i] = e->m->jnt_qposadr[j];
    s->dadr[i] = e->m->jnt_dofadr[j];
    s->act[i] = a;
  }
  s->torso = mj_name2id(e->m, mjOBJ_BODY, "torso");
  s->torso_geom = mj_name2id(e->m, mjOBJ_GEOM, "torso");
  int root = mj_name2id(e->m, mjOBJ_JOINT, "root");
  if (s->torso < 0 || s->torso_geom < 0 || root < 0) { snprintf(err, errsz, "quadruped model lacks torso or root"); return -1; }
  s->root_q = e->m->jnt_qposadr[root];
  s->root_d = e->m->jnt_dofadr[root];
  // observation: joints (12) and velocities (12), gravity (3), gyro (3), velocity (3),
  // previous action (12), command (1), then the optional height scan
  af_env_spec *sp = &e->spec;
  sp->act_dim = NJ;
  sp->obs_dim = 46 + (c->height_scan ? SCAN_X * SCAN_Y : 0);
  // per-channel noise std
  for (int i = 0; i < sp->obs_dim; i++) {
    double sd = i < 12 ? 0.03 : i < 24 ? 1.5 : i < 27 ? 0.05 : i < 30 ? 0.2 : i < 33 ? 0.1 : i < 46 ? 0 : 0.02;
    s->noise[i] = (float)sd;
  }
  e->noise_scale = s->noise;
  sp->n_metrics = 4;
  sp->metric_names[0] = "progress";
  sp->metric_names[1] = "distance";
  sp->metric_names[2] = "mean_speed";
  sp->metric_names[3] = "difficulty";
  return 0;
}

static void quad_free(af_env *e) {
  free(e->state);
  e->state = NULL;
}

static int quad_set_difficulty(af_env *e, double level) {
  ((quad_state *)e->state)->level = level;
  return AF_OK;
}

// the episode's terrain kind: the terrain key, or one of the terrains list drawn from the
// reset's stream without advancing it (the other draws stay those of a single kind)
static af_terrain_kind episode_kind(const quad_state *s, const quad_cfg *c, const af_rng *rng) {
  if (s->nkinds == 0) return (af_terrain_kind)c->terrain;
  af_rng k = *rng;
  return s->kinds[af_seed_derive(af_rng_next(&k), 17) % (uint64_t)s->nkinds];
}

static void quad_reset(af_env *e, af_rng *rng) {
  quad_state *s = e->state;
  const quad_cfg *c = e->cfg;
  mjModel *m = e->m;
  mjData *d = e->d;
  // terrain at the drawn (or imposed) difficulty
  double diff = s->level >= 0 ? s->level : af_dr_value(&e->dr, "difficulty", 0, 0);
  s->terrain_rng = *rng;
  af_terrain_build(&s->terrain, m, e->m0, episode_kind(s, c, rng), diff, c->tread, rng);
  // standing pose (plus drawn offsets), feet just above the ground
  for (int i = 0; i < NJ; i++) {
    double q = stand[i % 3] + af_dr_value(&e->dr, "init_qpos", i, 0);
    d->qpos[s->qadr[i]] = q;
    d->ctrl[s->act[i]] = stand[i % 3];
  }
  s->start_height = s->terrain.start_height;
  d->qpos[s->root_q + 2] = s->start_height + 0.305;
  s->start_x = 0;
  memset(s->prev_a, 0, sizeof s->prev_a);
  s->cmd = af_dr_value(&e->dr, "command_vel", 0, 0);
  s->push_speed = af_dr_value(&e->dr, "push_speed", 0, 0);
  s->push_interval = af_dr_value(&e->dr, "push_interval", 0, 0);
  s->next_push = s->push_interval;
  s->rng = *rng;
  s->phase = 0;
}

static void quad_act(af_env *e, const float *a) {
  quad_state *s = e->state;
  const quad_cfg *c = e->cfg;
  mjData *d = e->d;
  for (int i = 0; i < NJ; i++) d->ctrl[s->act[i]] = stand[i % 3] + c->action_scale * a[i];
  // a velocity kick to the torso at random intervals
  if (s->push_speed > 0 && d->time >= s->next_push) {
    double th = af_rng_range(&s->rng, -PI, PI);
    d->qvel[s->root_d] += s->push_speed * cos(th);
    d->qvel[s->root_d + 1] += s->push_speed * sin(th);
    s->next_push += s->push_interval;
  }
}

// torso frame quantities: gravity direction, angular and linear velocity in the body frame
static void body_frame(const af_env *e, double g[3], double w[3], double v[3]) {
  const quad_state *s = e->state;
  const mjData *d = e->d;
  const mjtNum *R = d->xmat + 9 * s->torso, *qv = d->qvel + s->root_d;
  for (int i = 0; i < 3; i++) {
    g[i] = -R[6 + i];  // R' (0, 0, -1)
    v[i] = R[i] * qv[0] + R[3 + i] * qv[1] + R[6 + i] * qv[2];
    w[i] = qv[3 + i];  // free-joint angular velocity is in the body frame
  }
}

static void quad_observe(const af_env *e, float *o) {
  const quad_state *s = e->state;
  const quad_cfg *c = e->cfg;
  const mjData *d = e->d;
  double g[3], w[3], v[3];
  body_frame(e, g, w, v);
  for (int i = 0; i < NJ; i++) {
    o[i] = (float)(d->qpos[s->qadr[i]] - stand[i % 3]);
    o[12 + i] = (float)d->qvel[s->dadr[i]];
    o[33 + i] = s->prev_a[i];
  }
  for (int k = 0; k < 3; k++) {
    o[24 + k] = (float)g[k];
    o[27 + k] = (float)w[k];
    o[30 + k] = (float)v[k];
  }
  o[45] = (float)s->cmd;
  if (c->height_scan) {
    // terrain heights around the torso in its heading frame, relative to the torso
    const mjtNum *p = d->xpos + 3 * s->torso, *R = d->xmat + 9 * s->torso;
    double hx = R[0], hy = R[3], hn = sqrt(hx * hx + hy * hy);
    if (hn < 1e-9) { hx = 1; hy = 0; hn = 1; }
    hx /= hn; hy /= hn;
    int k = 46;
    for (int i = 0; i < SCAN_X; i++)
      for (int j = 0; j < SCAN_Y; j++) {
        double fx = 0.1 * (i - SCAN_X / 2), fy = 0.1 * (j - SCAN_Y / 2);
        double x = p[0] + fx * hx - fy * hy, y = p[1] + fx * hy + fy * hx;
        o[k++] = (float)(af_terrain_height(e->m, (mjData *)d, x, y) - p[2]);
      }
  }
}

// fallen: tilted past fall_tilt, or the torso touching anything
static int fallen(const af_env *e, const double g[3]) {
  const quad_state *s = e->state;
  const quad_cfg *c = e->cfg;
  if (-g[2] < cos(c->fall_tilt)) return 1;
  for (int i = 0; i < e->d->ncon; i++)
    if (e->d->contact[i].geom1 == s->torso_geom || e->d->contact[i].geom2 == s->torso_geom) return 1;
  return 0;
}

static float quad_reward(af_env *e, const float *a, int *success, int *terminated) {
  quad_state *s = e->state;
  const quad_cfg *c = e->cfg;
  double g[3], w[3], v[3];
  body_frame(e, g, w, v);
  double ev = v[0] - s->cmd, tau2 = 0, rate = 0;
  for (int i = 0; i < NJ; i++) {
    double f = e->d->actuator_force[s->act[i]];
    tau2 += f * f;
    rate += (a[i] - s->prev_a[i]) * (a[i] - s->prev_a[i]);
    s->prev_a[i] = a[i];
  }
  double r = c->w_track * exp(-ev * ev / 0.25) - c->w_lateral * v[1] * v[1] - c->w_vertical * v[2] * v[2] -
             c->w_tilt * (g[0] * g[0] + g[1] * g[1]) - c->w_torque * tau2 - c->w_rate * rate;
  *terminated = fallen(e, g);
  // success: on its feet and at least half the commanded distance so far
  double dist = e->d->qpos[s->root_q] - s->start_x;
  *success = !*terminated && dist >= 0.5 * s->cmd * e->d->time;
  return (float)r;
}

// progress: the distance walked over the distance the whole episode commands (command times
// the horizon's duration), so that a fall ends with the little it covered; over the time
// elapsed instead, a robot that lurched forward and fell at once scored as if it walked
static void quad_metrics(const af_env *e, float *mt) {
  const quad_state *s = e->state;
  double dist = e->d->qpos[s->root_q] - s->start_x, T = e->d->time;
  double T_episode = e->spec.horizon / e->spec.control_hz;
  mt[0] = (float)(T_episode > 0 && s->cmd > 0 ? dist / (s->cmd * T_episode) : 0);
  mt[1] = (float)dist;
  mt[2] = (float)(T > 0 ? dist / T : 0);
  mt[3] = (float)s->terrain.difficulty;
}

// open-loop trot: diagonal pairs in antiphase; the hip swings and the knee lifts the foot in
// the swing half of each cycle
static int quad_scripted(af_env *e, float *a) {
  quad_state *s = e->state;
  const quad_cfg *c = e->cfg;
  const double freq = 2.5, hip_amp = 0.4, knee_amp = 0.5;
  s->phase += 2 * PI * freq / e->spec.control_hz;
  for (int leg = 0; leg < 4; leg++) {
    double ph = s->phase + ((leg == 0 || leg == 3) ? 0 : PI);
    double hip = hip_amp * cos(ph), knee = -knee_amp * fmax(0, sin(ph));
    a[3 * leg] = 0;
    a[3 * leg + 1] = (float)(hip / c->action_scale);
    a[3 * leg + 2] = (float)(knee / c->action_scale);
  }
  for (int i = 0; i < NJ; i++) a[i] = a[i] > 1 ? 1 : a[i] < -1 ? -1 : a[i];
  return AF_OK;
}

// snapshot: the curriculum level, the terrain as built (difficulty and the stream its bumps
// came from), the command, start, pushes and their stream, the previous action and the trot's
// phase. Loading rebuilds the terrain, height field included, from what it read: the
// repeated reset built it at the target's level, which may differ from the snapshot's.
static int quad_state_io(af_env *e, af_state_io *io) {
  quad_state *s = e->state;
  const quad_cfg *c = e->cfg;
  AF_STATE_FIELD(io, s->level);
  AF_STATE_FIELD(io, s->terrain.difficulty);
  AF_STATE_FIELD(io, s->terrain_rng);
  AF_STATE_FIELD(io, s->prev_a);
  AF_STATE_FIELD(io, s->cmd);
  AF_STATE_FIELD(io, s->start_x);
  AF_STATE_FIELD(io, s->start_height);
  AF_STATE_FIELD(io, s->push_speed);
  AF_STATE_FIELD(io, s->push_interval);
  AF_STATE_FIELD(io, s->next_push);
  AF_STATE_FIELD(io, s->rng);
  AF_STATE_FIELD(io, s->phase);
  if (io->load && io->buf) {
    af_rng r = s->terrain_rng;
    af_terrain_build(&s->terrain, e->m, e->m0, s->terrain.kind, s->terrain.difficulty, c->tread, &r);
  }
  return AF_OK;
}

const af_env_def af_quadruped_def = {
  .name = "quadruped",
  .description = "a 12-joint quadruped walks forward at a commanded speed on flat ground, ramps, stairs or rough ground",
  .success = "still standing (tilt below fall_tilt, torso off the ground) and at least half the commanded distance covered",
  .reward_text = "exp(-(v_x - v_cmd)^2/0.25) - 0.5 v_y^2 - 2 v_z^2 - tilt^2 - 2e-4 |tau|^2 - 0.01 |a - a_prev|^2; terminated on a fall",
  .asset = "quadruped.xml",
  .horizon = 1000,
  .control_hz = 50,
  .params = quad_params,
  .nparams = sizeof quad_params / sizeof quad_params[0],
  .cfg_size = sizeof(quad_cfg),
  .dr = quad_dr,
  .ndr = sizeof quad_dr / sizeof quad_dr[0],
  .init = quad_init,
  .free = quad_free,
  .reset = quad_reset,
  .act = quad_act,
  .observe = quad_observe,
  .reward = quad_reward,
  .metrics = quad_metrics,
  .scripted = quad_scripted,
  .set_difficulty = quad_set_difficulty,
  .rebuilds = AF_TERRAIN_ARRAYS,
  .state = quad_state_io,
};
