// Pendulum swing-up, equal to Gym's Pendulum-v1: mass 1, length 1, g = 10, torque limit 2,
// speed limit 8, dt 0.05, 200 steps, reward -(theta^2 + 0.1 theta_dot^2 + 0.001 u^2) on the
// state before the step, observation (cos theta, sin theta, theta_dot), start uniform in
// theta in [-pi, pi], theta_dot in [-1, 1]. MuJoCo computes the dynamics; the integration is
// Gym's own (clipped semi-implicit Euler), so published figures apply.
#include "envs/env_impl.h"

#include <math.h>    // cos, sin, fmod
#include <stdlib.h>  // calloc, free

#define PI 3.14159265358979323846
#define MAX_SPEED 8.0
#define MAX_TORQUE 2.0

typedef struct { int dummy; } pend_cfg;

typedef struct {
  double cost;  // of the step being taken, from the state before it
} pend_state;

static const af_dr_entry pend_dr[] = {
  {"theta0", AF_DR_TASK, AF_F_TASK, NULL, AF_DR_ABSOLUTE, AF_DR_UNIFORM, 0, -PI, PI, -PI, PI, "initial angle (rad, 0 upright)"},
  {"theta_dot0", AF_DR_TASK, AF_F_TASK, NULL, AF_DR_ABSOLUTE, AF_DR_UNIFORM, 0, -1, 1, -1, 1, "initial angular velocity (rad/s)"},
  {"pole_mass", AF_DR_PHYSICS, AF_F_BODY_MASS, "pole", AF_DR_SCALE, AF_DR_UNIFORM, 1, 1, 1, 0.8, 1.2, "pole mass (off by default: Gym's task)"},
};

static int pend_init(af_env *e, char *err, size_t errsz) {
  e->state = calloc(1, sizeof(pend_state));
  if (!e->state) { snprintf(err, errsz, "out of memory"); return -1; }
  if (e->m->nq != 1 || e->m->nu != 1) { snprintf(err, errsz, "pendulum model must have one joint and one actuator"); return -1; }
  e->spec.obs_dim = 3;
  e->spec.proprio_dim = 3;  // the joint is the whole robot
  e->spec.act_dim = 1;
  return 0;
}

static void pend_free(af_env *e) {
  free(e->state);
  e->state = NULL;
}

static void pend_reset(af_env *e, af_rng *rng) {
  (void)rng;
  e->d->qpos[0] = af_dr_value(&e->dr, "theta0", 0, 0);
  e->d->qvel[0] = af_dr_value(&e->dr, "theta_dot0", 0, 0);
}

static double angle_normalize(double x) { return fmod(x + PI, 2 * PI) - PI + (x + PI < 0 ? 2 * PI : 0); }

static void pend_act(af_env *e, const float *a) {
  pend_state *s = e->state;
  double u = MAX_TORQUE * a[0], th = angle_normalize(e->d->qpos[0]), thd = e->d->qvel[0];
  e->d->ctrl[0] = u;
  s->cost = th * th + 0.1 * thd * thd + 0.001 * u * u;
}

// one physics step as Gym integrates it: MuJoCo's acceleration, then the clipped speed
static void pend_physics(af_env *e) {
  const mjModel *m = e->m;
  mjData *d = e->d;
  mj_forward(m, d);
  double v = d->qvel[0] + d->qacc[0] * m->opt.timestep;
  v = v > MAX_SPEED ? MAX_SPEED : v < -MAX_SPEED ? -MAX_SPEED : v;
  d->qvel[0] = v;
  d->qpos[0] += v * m->opt.timestep;
  d->time += m->opt.timestep;
}

static void pend_observe(const af_env *e, float *o) {
  o[0] = (float)cos(e->d->qpos[0]);
  o[1] = (float)sin(e->d->qpos[0]);
  o[2] = (float)e->d->qvel[0];
}

static float pend_reward(af_env *e, const float *a, int *success, int *terminated) {
  (void)a;
  const pend_state *s = e->state;
  *terminated = 0;
  // "success": upright within 0.2 rad and nearly still
  double th = angle_normalize(e->d->qpos[0]);
  *success = fabs(th) < 0.2 && fabs(e->d->qvel[0]) < 1.0;
  return (float)-s->cost;
}

// snapshot: the cost of the step being taken (act writes it before reward reads it; kept so
// a snapshot holds the whole state)
static int pend_state_io(af_env *e, af_state_io *io) {
  pend_state *s = e->state;
  AF_STATE_FIELD(io, s->cost);
  return AF_OK;
}

const af_env_def af_pendulum_def = {
  .name = "pendulum",
  .description = "pendulum swing-up with Gym Pendulum-v1's dynamics, limits, reward and horizon",
  .success = "upright within 0.2 rad and slower than 1 rad/s at the end (the return is the real measure)",
  .reward_text = "-(theta^2 + 0.1 theta_dot^2 + 0.001 u^2), u in [-2, 2] N m",
  .asset = "pendulum.xml",
  .horizon = 200,
  .control_hz = 20,
  .cfg_size = sizeof(pend_cfg),
  .dr = pend_dr,
  .ndr = sizeof pend_dr / sizeof pend_dr[0],
  .init = pend_init,
  .free = pend_free,
  .reset = pend_reset,
  .act = pend_act,
  .physics = pend_physics,
  .observe = pend_observe,
  .reward = pend_reward,
  .state = pend_state_io,
};
