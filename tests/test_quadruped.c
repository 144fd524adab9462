// Quadruped: stands under randomized masses and gains, the scripted trot walks (so actuators
// and friction allow walking), reward and progress recomputed by hand, the curriculum hook,
// pushes and the height scan.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "envs/env_impl.h"
#include "envs/terrain.h"

static af_env *make(const char *cfg) {
  char err[512] = "";
  af_env *e = af_env_make("quadruped", cfg, err, sizeof err);
  cr_assert(e, "%s", err);
  return e;
}

static int root_q(af_env *e) { return e->m->jnt_qposadr[mj_name2id(e->m, mjOBJ_JOINT, "root")]; }

// steps of a policy (zero or scripted); returns steps taken before a termination
static int run(af_env *e, int steps, int scripted, af_info *info) {
  float obs[256], a[16] = {0}, r;
  int te = 0, tr = 0, t = 0;
  for (; t < steps && !te && !tr; t++) {
    if (scripted) af_env_scripted_action(e, a);
    af_env_step(e, a, obs, &r, &te, &tr, info);
  }
  return te ? t : steps;
}

Test(quadruped, stands_for_5_s_with_zero_action_under_randomization) {
  // masses, payload, centre of mass, damping, gains, initial pose drawn; no pushes
  af_env *e = make("{\"randomize\": {\"push_speed\": [0, 0]}}");
  float obs[256];
  af_info info;
  for (int seed = 0; seed < 8; seed++) {
    af_env_reset(e, (uint64_t)seed, obs);
    int steps = run(e, 250, 0, &info);
    cr_assert_eq(steps, 250, "seed %d: fell after %d steps (%s)", seed, steps, af_env_randomization_json(e));
    double z = e->d->qpos[root_q(e) + 2];
    cr_assert_gt(z, 0.22, "seed %d: torso sank to %g m", seed, z);
  }
  af_env_free(e);
}

Test(quadruped, trot_walks_further_than_standing) {
  af_env *e = make(NULL);
  float obs[256];
  af_info info;
  double walked[2];
  for (int scripted = 0; scripted <= 1; scripted++) {
    af_env_reset(e, 4, obs);
    double x0 = e->d->qpos[root_q(e)];
    cr_assert_eq(run(e, 250, scripted, &info), 250, "no fall in 5 s");
    walked[scripted] = e->d->qpos[root_q(e)] - x0;
  }
  cr_assert_lt(fabs(walked[0]), 0.3, "standing drifted %g m", walked[0]);
  cr_assert_gt(walked[1], 1.5, "the trot covered only %g m in 5 s", walked[1]);
  af_env_free(e);
}

Test(quadruped, reward_and_progress_match_hand_computation) {
  af_env *e = make("{\"randomize\": false}");
  float obs[256], a[16], r;
  int te, tr;
  af_info info;
  af_env_reset(e, 2, obs);
  float prev[12] = {0};
  for (int t = 0; t < 20; t++) {
    af_env_scripted_action(e, a);
    af_env_step(e, a, obs, &r, &te, &tr, &info);
    // from the observation: body velocity (30..32), gravity (24..26), command (45)
    double ev = obs[30] - obs[45], tau2 = 0, rate = 0;
    for (int i = 0; i < 12; i++) {
      tau2 += e->d->actuator_force[i] * e->d->actuator_force[i];
      rate += (a[i] - prev[i]) * (a[i] - prev[i]);
      prev[i] = a[i];
      cr_assert_eq(obs[33 + i], a[i], "previous action in the observation");
    }
    double want = exp(-ev * ev / 0.25) - 0.5 * obs[31] * obs[31] - 2.0 * obs[32] * obs[32] -
                  (obs[24] * obs[24] + obs[25] * obs[25]) - 2e-4 * tau2 - 0.01 * rate;
    cr_assert_float_eq(r, want, 1e-4, "step %d: reward %g, hand %g", t, r, want);
  }
  // progress = distance / (command * the episode's duration), at the end of a short episode
  af_env *s = make("{\"randomize\": false, \"horizon\": 100}");
  af_env_reset(s, 2, obs);
  double cmd = obs[45], x0 = s->d->qpos[root_q(s)];
  run(s, 100, 1, &info);
  double dist = s->d->qpos[root_q(s)] - x0;
  cr_assert_eq(info.episode.n, 1);
  cr_assert_float_eq(info.episode.metrics[1], dist, 1e-5);
  cr_assert_float_eq(info.episode.metrics[0], dist / (cmd * 2.0), 1e-5);  // 100 steps of 20 ms
  af_env_free(s);
  af_env_free(e);
}

Test(quadruped, falls_terminate_the_episode) {
  af_env *e = make("{\"randomize\": false}");
  float obs[256], a[16], r;
  int te = 0, tr = 0;
  af_env_reset(e, 0, obs);
  double cmd = obs[45], x0 = e->d->qpos[root_q(e)];
  // roll the robot onto its back, a metre ahead
  mjtNum *q = e->d->qpos + root_q(e);
  q[0] += 1.0;
  q[2] = 0.5;
  q[3] = 0; q[4] = 1; q[5] = 0; q[6] = 0;
  for (int i = 0; i < 12; i++) a[i] = 0;
  int t = 0;
  af_info info;
  while (!te && !tr && t < 100) { af_env_step(e, a, obs, &r, &te, &tr, &info); t++; }
  cr_assert_eq(te, 1, "upside down must terminate");
  cr_assert_eq(t, 1, "at once");
  // its progress is the metre or so over what the whole episode commands (1000 steps of
  // 20 ms), not over the 20 ms it lasted (which would be about 100)
  double dist = e->d->qpos[root_q(e)] - x0;
  cr_assert_eq(info.episode.n, 1);
  cr_assert(dist > 0.9);
  cr_assert_float_eq(info.episode.metrics[0], dist / (cmd * 20.0), 1e-5);
  cr_assert(info.episode.metrics[0] < 0.2, "a fall at once made progress %g", info.episode.metrics[0]);
  af_env_free(e);
}

Test(quadruped, curriculum_hook_sets_the_difficulty) {
  af_env *e = make("{\"terrain\": \"stairs_up\"}");
  float obs[256];
  af_info info;
  cr_assert_eq(af_env_set_difficulty(e, 0.9), AF_OK);
  for (int seed = 0; seed < 3; seed++) {
    af_env_reset(e, (uint64_t)seed, obs);
    double rise = af_terrain_height(e->m, e->d, 1.15, 0.7);
    cr_assert_float_eq(rise, 0.02 + 0.16 * 0.9, 1e-9);
  }
  run(e, 10, 0, &info);
  // back to drawing from the table: training range [0, 0.7]
  cr_assert_eq(af_env_set_difficulty(e, -1), AF_OK);
  af_env_reset(e, 0, obs);
  double rise = af_terrain_height(e->m, e->d, 1.15, 0.7);
  cr_assert(rise >= 0.02 && rise <= 0.02 + 0.16 * 0.7 + 1e-9);
  cr_assert_eq(af_env_set_difficulty(e, 1.5), AF_ERR_ARG);
  af_env_free(e);
  char err[256];
  af_env *p = af_env_make("puck_push", NULL, err, sizeof err);
  cr_assert_eq(af_env_set_difficulty(p, 0.5), AF_ERR_UNSUP);
  af_env_free(p);
}

Test(quadruped, pushes_kick_the_torso) {
  af_env *calm = make("{\"randomize\": {\"physics\": false}}");
  af_env *kick = make("{\"randomize\": {\"physics\": false, \"push_speed\": {\"train\": [0.8, 0.8]}, \"push_interval\": [0.5, 0.5]}}");
  // physics off leaves pushes off: enable only the push entries on the second
  kick->dr.group_on[AF_DR_PHYSICS] = 1;
  for (int i = 0; i < kick->dr.n; i++) {
    af_dr_param *p = &kick->dr.p[i];
    if (p->e->group == AF_DR_PHYSICS && strncmp(p->e->name, "push", 4)) p->lo = p->hi = p->e->nominal;
  }
  float o1[256], o2[256], a[16] = {0}, r;
  int te, tr;
  af_env_reset(calm, 1, o1);
  af_env_reset(kick, 1, o2);
  double max_dv = 0;
  for (int t = 0; t < 50; t++) {
    af_env_step(calm, a, o1, &r, &te, &tr, NULL);
    af_env_step(kick, a, o2, &r, &te, &tr, NULL);
    double dv = hypot(o2[30] - o1[30], o2[31] - o1[31]);
    if (t < 24) cr_assert_float_eq(dv, 0, 1e-9, "no kick before 0.5 s");
    max_dv = fmax(max_dv, dv);
  }
  cr_assert_gt(max_dv, 0.4, "a 0.8 m/s kick changed the velocity by %g only", max_dv);
  af_env_free(calm);
  af_env_free(kick);
}

Test(quadruped, height_scan_sees_the_steps_ahead) {
  af_env *e = make("{\"terrain\": \"stairs_up\", \"height_scan\": true, \"randomize\": {\"difficulty\": [1, 1]}}");
  cr_assert_eq(af_env_get_spec(e)->obs_dim, 46 + 77);
  float obs[256];
  af_env_reset(e, 0, obs);
  // walk the torso to just before the first step (x = 0.8) without physics
  e->d->qpos[root_q(e)] = 0.8;
  mj_forward(e->m, e->d);
  e->def->observe(e, obs);
  double z = e->d->xpos[3 * mj_name2id(e->m, mjOBJ_BODY, "torso") + 2];
  // scan rows run along x from -0.5 to +0.5: behind is ground (0), 0.3 m ahead is the first step
  int behind = 46 + 0 * 7 + 3, ahead = 46 + 8 * 7 + 3;
  cr_assert_float_eq(obs[behind], -z, 1e-4);
  cr_assert_float_eq(obs[ahead], 0.18 - z, 1e-4);
  af_env_free(e);
}

Test(quadruped, deterministic_with_terrain_and_full_randomization) {
  // rough bumps, stairs and ramps, every group on (noise, delay, pushes): bitwise repeatable
  const char *cfg = "{\"terrain\": \"mix\", \"height_scan\": true, \"randomize\": {\"sensor\": true, \"push_interval\": [0.3, 0.6]}}";
  af_env *e1 = make(cfg), *e2 = make(cfg);
  float o1[256], o2[256], a[16], r1, r2;
  int te1, tr1, te2, tr2;
  for (int pass = 0; pass < 2; pass++) {
    af_env_reset(e1, 77, o1);
    af_env_reset(e2, pass ? 78 : 77, o2);
    int same = memcmp(o1, o2, sizeof(float) * 123) == 0;
    for (int t = 0; t < 60; t++) {
      af_env_scripted_action(e1, a);
      af_env_step(e1, a, o1, &r1, &te1, &tr1, NULL);
      af_env_step(e2, a, o2, &r2, &te2, &tr2, NULL);
      same &= memcmp(o1, o2, sizeof(float) * 123) == 0 && r1 == r2;
      if (te1 || te2) break;
    }
    // same seed: identical; another seed: different
    cr_assert_eq(same, pass == 0, "pass %d", pass);
  }
  af_env_free(e1);
  af_env_free(e2);
}
