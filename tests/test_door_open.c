// Door opening: the scripted opener proves the task and its success test, latched or not;
// the hinge's mass, damping and friction act as their closed forms say; the latch holds a
// shut door until the lever turns; the drawn width moves the handle and changes the inertia
// as MuJoCo's own compiler would; rewards are recomputed by hand from the observation.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envs/env_impl.h"
#include "tests/env_test.h"

// observation layout
#define O_HAND 0
#define O_GRIP 9
#define O_ANGLE 12
#define O_RATE 13
#define O_LEVER 14
#define O_LOCKED 15
#define O_HINGE 16
#define O_ACH 20
#define O_DES 21

static af_env *make(const char *cfg) { return test_env("door_open", cfg); }

static int door_dof(const af_env *e) { return e->m->jnt_dofadr[mj_name2id(e->m, mjOBJ_JOINT, "door")]; }
static int lever_dof(const af_env *e) { return e->m->jnt_dofadr[mj_name2id(e->m, mjOBJ_JOINT, "lever")]; }

// `steps` control steps with a constant torque on the door (and on the lever), the arm still
static void push(af_env *e, double door_torque, double lever_torque, int steps, float *obs) {
  float a[5] = {0, 0, 0, 0, 1}, r;
  int te, tr;
  for (int t = 0; t < steps; t++) {
    e->d->qfrc_applied[door_dof(e)] = door_torque;
    e->d->qfrc_applied[lever_dof(e)] = lever_torque;
    cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, NULL), AF_OK);
  }
}

Test(door_open, scripted_opener_succeeds_with_randomization_on) {
  // the goal task, unlatched and latched, 20 seeded episodes each
  for (int latch = 0; latch <= 1; latch++) {
    af_env *e = make(latch ? "{\"latch\": true}" : NULL);
    cr_assert(e->dr.enabled && e->dr.group_on[AF_DR_PHYSICS] && e->dr.group_on[AF_DR_ACTUATION]);
    int wins = 0, unlatched = 0;
    for (int ep = 0; ep < 20; ep++) {
      af_info info = scripted_episode(e, af_seed_derive(2024, (uint64_t)ep));
      cr_assert_eq(info.episode.diverged, 0);
      wins += info.episode.success > 0;
      unlatched += info.episode.metrics[2] > 0;
    }
    cr_assert_geq(wins, 16, "scripted opener (latch %d): %d/20 successes, need at least 80%%", latch, wins);
    cr_assert_eq(unlatched, 20, "the opener always frees the latch");
    af_env_free(e);
  }
}

Test(door_open, scripted_opener_in_fixed_mode) {
  af_env *e = make("{\"goal_mode\": \"fixed\", \"latch\": true}");
  int wins = 0;
  for (int ep = 0; ep < 10; ep++) wins += scripted_episode(e, af_seed_derive(99, (uint64_t)ep)).episode.success > 0;
  cr_assert_geq(wins, 8, "fixed mode: %d/10", wins);
  af_env_free(e);
}

Test(door_open, no_success_in_the_initial_state_or_standing_still) {
  for (int fixed = 0; fixed <= 1; fixed++) {
    af_env *e = make(fixed ? "{\"goal_mode\": \"fixed\", \"reward\": \"sparse\"}" : "{\"reward\": \"sparse\"}");
    float obs[64], a[5] = {0, 0, 0, 0, 1}, r;
    int te = 0, tr = 0;
    af_info info;
    for (int ep = 0; ep < 5; ep++) {
      af_env_reset(e, (uint64_t)ep, obs);
      // shut door, goal at least min_goal away (fixed: the 0.3 rad threshold)
      cr_assert_float_eq(obs[O_ACH], 0, 1e-6);
      cr_assert(fixed ? obs[O_DES] == 0.3f : obs[O_DES] >= 0.2f - 1e-6, "desired %g", obs[O_DES]);
      cr_assert_eq(af_env_compute_reward(e, obs + O_ACH, obs + O_DES), -1.0f);
      te = tr = 0;
      while (!te && !tr) {
        af_env_step(e, a, obs, &r, &te, &tr, &info);
        cr_assert_eq(info.success, 0);
        cr_assert_eq(r, -1.0f);
      }
    }
    af_env_free(e);
  }
}

Test(door_open, heavier_door_opens_slower_under_the_same_torque) {
  // same torque, same damping and friction: the angle after 0.5 s falls with the mass
  double angle[2];
  const double scale[2] = {0.5, 2.0};
  for (int k = 0; k < 2; k++) {
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"randomize\": {\"door_mass\": [%g, %g], \"hinge_damping\": [1, 1], \"hinge_friction\": [1, 1], \"door_width\": [0.3, 0.3]}}", scale[k], scale[k]);
    af_env *e = make(cfg);
    float obs[64];
    af_env_reset(e, 3, obs);
    int b = mj_name2id(e->m, mjOBJ_BODY, "door");
    cr_assert_float_eq(e->m->body_mass[b], 2 * scale[k], 1e-12);
    push(e, 0.6, 0, 5, obs);
    angle[k] = obs[O_ANGLE];
    af_env_free(e);
  }
  cr_assert_gt(angle[0], 1.5 * angle[1], "1 kg door opened %g rad, 4 kg door %g rad", angle[0], angle[1]);
  cr_assert_gt(angle[1], 0.01, "the heavy door still moves");
}

Test(door_open, hinge_damping_and_friction_give_the_closed_form_speed) {
  // a constant torque tau against dry friction f and damping b settles at (tau - f) / b;
  // below the friction the door does not move at all
  const double tau = 0.5, scales[3][2] = {{1, 1}, {2, 1}, {1, 2}};
  for (int k = 0; k < 3; k++) {
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"randomize\": {\"hinge_damping\": [%g, %g], \"hinge_friction\": [%g, %g]}}", scales[k][0], scales[k][0], scales[k][1], scales[k][1]);
    af_env *e = make(cfg);
    float obs[64];
    af_env_reset(e, 4, obs);
    int dof = door_dof(e);
    double b = e->m->dof_damping[dof], f = e->m->dof_frictionloss[dof];
    cr_assert_float_eq(b, 0.5 * scales[k][0], 1e-12);
    cr_assert_float_eq(f, 0.1 * scales[k][1], 1e-12);
    push(e, tau, 0, 8, obs);
    double want = (tau - f) / b;
    cr_assert_float_eq(obs[O_RATE], want, 0.05 * want, "b %g f %g: %g rad/s, closed form %g", b, f, obs[O_RATE], want);
    af_env_free(e);
  }
  af_env *e = make("{\"randomize\": {\"hinge_friction\": [1, 1]}}");
  float obs[64];
  af_env_reset(e, 4, obs);
  push(e, 0.05, 0, 5, obs);
  cr_assert_lt(fabs(obs[O_ANGLE]), 1e-3, "0.05 N m against 0.1 N m of friction moved the door %g rad", obs[O_ANGLE]);
  af_env_free(e);
}

Test(door_open, latch_holds_the_door_until_the_lever_turns) {
  af_env *e = make("{\"latch\": true}");
  float obs[64];
  int j = mj_name2id(e->m, mjOBJ_JOINT, "door");
  af_env_reset(e, 6, obs);
  cr_assert_eq(obs[O_LOCKED], 1.0f);
  // pulled hard with the lever up: it only rattles within the latch's play
  push(e, 1.0, 0, 5, obs);
  cr_assert_lt(obs[O_ANGLE], 0.02, "a latched door opened to %g rad", obs[O_ANGLE]);
  cr_assert_eq(obs[O_LOCKED], 1.0f);
  // the lever pressed past latch_angle frees it
  push(e, 1.0, 0.5, 5, obs);
  cr_assert_gt(obs[O_LEVER], 0.35);
  cr_assert_eq(obs[O_LOCKED], 0.0f);
  cr_assert_gt(obs[O_ANGLE], 0.2, "the freed door opened only %g rad", obs[O_ANGLE]);
  // an open door stays free when the lever springs back
  push(e, 0.3, 0, 5, obs);
  cr_assert_lt(obs[O_LEVER], 0.05, "the lever springs back up");
  cr_assert_eq(obs[O_LOCKED], 0.0f);
  // the next reset latches the door again; without the latch the hinge is the model's
  af_env_reset(e, 6, obs);
  cr_assert_eq(obs[O_LOCKED], 1.0f);
  cr_assert_float_eq(e->m->jnt_range[2 * j + 1], 0.01, 0);
  af_env_free(e);
  e = make(NULL);
  af_env_reset(e, 6, obs);
  cr_assert_eq(obs[O_LOCKED], 0.0f);
  cr_assert_eq(e->m->jnt_range[2 * j + 1], e->m0->jnt_range[2 * j + 1]);
  push(e, 1.0, 0, 5, obs);
  cr_assert_gt(obs[O_ANGLE], 0.2, "without the latch the same pull opens the door");
  af_env_free(e);
}

// principal inertia and centre of mass MuJoCo's compiler gives a box door of this size
static void compiler_door(double w, double mass, double I[3], double com[3]) {
  char path[] = "af_test_door_XXXXXX", err[512];
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  FILE *f = fdopen(fd, "w");
  fprintf(f, "<mujoco><worldbody><body><joint type=\"hinge\"/><geom type=\"box\" pos=\"%.17g 0.01 0.18\" size=\"%.17g 0.01 0.175\" mass=\"%.17g\"/></body></worldbody></mujoco>",
          w / 2 + 0.005, w / 2, mass);
  fclose(f);
  mjModel *m = mj_loadXML(path, NULL, err, sizeof err);
  remove(path);
  cr_assert(m, "%s", err);
  for (int k = 0; k < 3; k++) { I[k] = m->body_inertia[3 + k]; com[k] = m->body_ipos[3 + k]; }
  mj_deleteModel(m);
}

Test(door_open, width_and_handle_height_move_the_handle_and_inertia_follows) {
  const double widths[2] = {0.26, 0.36}, heights[2] = {0.15, 0.21};
  for (int k = 0; k < 2; k++) {
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"randomize\": {\"door_width\": [%g, %g], \"handle_height\": [%g, %g], \"door_mass\": [1.5, 1.5]}}", widths[k], widths[k], heights[k], heights[k]);
    af_env *e = make(cfg);
    float obs[64];
    af_env_reset(e, 2, obs);
    // the grip point: the lever axis 5 cm in from the free edge, 8 cm back along the lever,
    // 7 cm out from the face
    double dx = obs[O_GRIP] - obs[O_HINGE], dy = obs[O_GRIP + 1] - obs[O_HINGE + 1];
    double want = hypot(widths[k] + 0.005 - 0.05 - 0.08, 0.07);
    cr_assert_float_eq(hypot(dx, dy), want, 1e-5, "width %g: grip %g m from the hinge, expected %g", widths[k], hypot(dx, dy), want);
    cr_assert_float_eq(obs[O_GRIP + 2], heights[k], 1e-5);
    // the door body as the compiler would build it at this width and mass
    int b = mj_name2id(e->m, mjOBJ_BODY, "door");
    double I[3], com[3];
    compiler_door(widths[k], 3.0, I, com);
    for (int c = 0; c < 3; c++) {
      cr_assert_float_eq(e->m->body_inertia[3 * b + c], I[c], 1e-12, "I[%d] %g, compiler %g", c, e->m->body_inertia[3 * b + c], I[c]);
      cr_assert_float_eq(e->m->body_ipos[3 * b + c], com[c], 1e-12);
    }
    af_env_free(e);
  }
}

Test(door_open, dense_reward_and_relabelling_match_hand_computation) {
  af_env *e = make("{\"action_cost\": 0.2}");
  float obs[64], a[5] = {0.3f, 0.6f, -0.2f, 0.1f, -0.5f}, r;
  int te, tr;
  af_env_reset(e, 8, obs);
  for (int t = 0; t < 6; t++) {
    af_env_step(e, a, obs, &r, &te, &tr, NULL);
    // -|angle - goal| - 0.5 d(hand, handle) - 0.2 |a|^2, from the observation alone
    double dh = sqrt(pow(obs[0] - obs[O_GRIP], 2) + pow(obs[1] - obs[O_GRIP + 1], 2) + pow(obs[2] - obs[O_GRIP + 2], 2));
    double a2 = 0.09 + 0.36 + 0.04 + 0.01 + 0.25;
    cr_assert_float_eq(r, -fabs(obs[O_ACH] - obs[O_DES]) - 0.5 * dh - 0.2 * a2, 1e-5, "step %d: reward %g", t, r);
    cr_assert_eq(obs[O_ACH], obs[O_ANGLE]);
    // relabelling with another goal
    float g2 = obs[O_ACH] + 0.25f;
    float rel = r - af_env_compute_reward(e, obs + O_ACH, obs + O_DES) + af_env_compute_reward(e, obs + O_ACH, &g2);
    cr_assert_float_eq(rel, -0.25 - 0.5 * dh - 0.2 * a2, 1e-5);
  }
  af_env_free(e);
}

Test(door_open, sparse_reward_is_compute_reward_and_success) {
  for (int fixed = 0; fixed <= 1; fixed++) {
    af_env *e = make(fixed ? "{\"reward\": \"sparse\", \"goal_mode\": \"fixed\"}" : "{\"reward\": \"sparse\"}");
    float obs[64], a[16], r;
    int te = 0, tr = 0, saw = 0;
    af_info info;
    af_env_reset(e, 12, obs);
    while (!te && !tr) {
      af_env_scripted_action(e, a);
      af_env_step(e, a, obs, &r, &te, &tr, &info);
      cr_assert_eq(r, af_env_compute_reward(e, obs + O_ACH, obs + O_DES));
      cr_assert_eq(r, info.success ? 0.0f : -1.0f);
      // by hand: within 0.1 rad of the goal, or past 0.3 rad
      int want = fixed ? obs[O_ACH] > 0.3f : fabsf(obs[O_ACH] - obs[O_DES]) < 0.1f;
      cr_assert_eq(info.success, want);
      saw |= info.success;
    }
    cr_assert(saw);
    float g = 0.8f, in = 0.89f, out = 0.91f;
    if (!fixed) {
      cr_assert_eq(af_env_compute_reward(e, &in, &g), 0.0f);
      cr_assert_eq(af_env_compute_reward(e, &out, &g), -1.0f);
    }
    af_env_free(e);
  }
}

Test(door_open, spaces_and_goal_layout) {
  af_env *e = make(NULL);
  const af_env_spec *s = af_env_get_spec(e);
  cr_assert_eq(s->obs_dim, 22);
  cr_assert_eq(s->act_dim, 5, "dx, dy, dz, yaw rate, gripper");
  cr_assert_eq(s->goal_dim, 1);
  cr_assert_eq(s->achieved_offset, O_ACH);
  cr_assert_eq(s->desired_offset, O_DES);
  float obs[64];
  af_env_reset(e, 5, obs);
  // the frame pose and goal are the table's task draws
  cr_assert_float_eq(obs[O_HINGE], af_dr_value(&e->dr, "frame_x", 0, 0), 1e-6);
  cr_assert_float_eq(obs[O_HINGE + 1], af_dr_value(&e->dr, "frame_y", 0, 0), 1e-6);
  cr_assert_float_eq(obs[O_DES], fmax(0.2, af_dr_value(&e->dr, "goal_angle", 0, 0)), 1e-6);
  af_env_free(e);
}

// the episode's metrics by name; final_angle is the door's angle in the last observation, and
// final_error its distance to the goal
Test(door_open, final_angle_is_the_door_angle_at_the_episode_end) {
  af_env *e = make(NULL);
  const af_env_spec *s = af_env_get_spec(e);
  cr_assert_eq(s->n_metrics, 5);
  cr_assert_str_eq(s->metric_names[4], "final_angle");
  float obs[64], a[5], r;
  int te = 0, tr = 0;
  af_info info;
  cr_assert_eq(af_env_reset(e, 17, obs), AF_OK);
  while (!te && !tr) {
    cr_assert_eq(af_env_scripted_action(e, a), AF_OK);
    cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, &info), AF_OK);
  }
  cr_assert_eq(info.episode.n, 1);
  cr_assert_gt(obs[O_ANGLE], 0.1f, "the opener opened the door");
  cr_assert_float_eq(info.episode.metrics[4], obs[O_ANGLE], 1e-6);
  cr_assert_float_eq(info.episode.metrics[0], fabsf(obs[O_ANGLE] - obs[O_DES]), 1e-6);
  af_env_free(e);
}

Test(door_open, success_examples_are_settled_successes) {
  // goal mode and fixed mode, both latched: the door at rest inside the success window, the
  // latch freed as an open door implies, the lever up, the hand still over the handle
  for (int fixed = 0; fixed <= 1; fixed++) {
    af_env *e = make(fixed ? "{\"goal_mode\": \"fixed\", \"latch\": true}" : "{\"latch\": true}");
    enum { K = 12, N = 22 };
    float ex[K * N], ex2[K * N];
    cr_assert_eq(af_env_success_examples(e, 5, K, ex), AF_OK, "%s", af_env_last_error(e));
    int goals_differ = 0;
    for (int k = 0; k < K; k++) {
      const float *o = ex + k * N;
      // the success test by hand: within 0.1 rad of the goal, or past 0.3 rad
      if (fixed) cr_assert(o[O_ACH] > 0.3f && o[O_DES] == 0.3f, "example %d: angle %g", k, o[O_ACH]);
      else cr_assert_lt(fabsf(o[O_ACH] - o[O_DES]), 0.1f, "example %d: angle %g, goal %g", k, o[O_ACH], o[O_DES]);
      cr_assert_eq(o[O_ACH], o[O_ANGLE]);
      // at rest, unlatched, the lever sprung back up
      cr_assert_lt(fabsf(o[O_RATE]), 1e-4, "example %d: the door turns at %g rad/s", k, o[O_RATE]);
      for (int j = 3; j < 6; j++) cr_assert_lt(fabsf(o[j]), 1e-3, "example %d: the hand moves", k);
      cr_assert_eq(o[O_LOCKED], 0.0f);
      cr_assert_lt(fabsf(o[O_LEVER]), 0.01);
      // the hand 4-11 cm over the handle's grip point, fingers open
      double dh = sqrt(pow(o[0] - o[O_GRIP], 2) + pow(o[1] - o[O_GRIP + 1], 2) + pow(o[2] - o[O_GRIP + 2], 2));
      cr_assert(dh > 0.04 && dh < 0.11 && o[2] > o[O_GRIP + 2] + 0.04, "example %d: hand %g m from the handle", k, dh);
      cr_assert_float_eq(o[8], 0.08, 2e-3);
      if (k > 0) {
        cr_assert(memcmp(o, o - N, sizeof(float) * N) != 0);
        goals_differ |= o[O_DES] != o[O_DES - N];
      }
    }
    cr_assert(fixed || goals_differ, "every example has the same goal");
    // the last example's door hinge is the model's again, nothing touches the door or lever
    int j = mj_name2id(e->m, mjOBJ_JOINT, "door"), b = mj_name2id(e->m, mjOBJ_BODY, "door"), l = mj_name2id(e->m, mjOBJ_BODY, "lever");
    cr_assert_eq(e->m->jnt_range[2 * j + 1], e->m0->jnt_range[2 * j + 1]);
    for (int c = 0; c < e->d->ncon; c++) {
      int b1 = e->m->geom_bodyid[e->d->contact[c].geom1], b2 = e->m->geom_bodyid[e->d->contact[c].geom2];
      cr_assert(b1 != b && b2 != b && b1 != l && b2 != l, "something touches the door");
    }
    // the same seed gives the same examples, another seed others
    cr_assert_eq(af_env_success_examples(e, 5, K, ex2), AF_OK);
    cr_assert(memcmp(ex, ex2, sizeof ex) == 0);
    cr_assert_eq(af_env_success_examples(e, 6, K, ex2), AF_OK);
    cr_assert(memcmp(ex, ex2, sizeof ex) != 0);
    // a step afterwards needs a reset first
    float a[5] = {0}, obs[N], r;
    int te, tr;
    cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, NULL), AF_ERR_STATE);
    af_env_free(e);
  }
}

// hand_start "handle": the episode starts with the hand around the lever's bar (the grip
// site within 2 cm of the grip point), the scripted opener still succeeds, and random actions
// move the door far more than from the front start (a random policy from the front almost
// never touches it)
static double random_max_angle(af_env *e, int episodes) {
  af_rng rng;
  af_rng_seed(&rng, 77);
  double sum = 0;
  float obs[64], a[8], r;
  for (int ep = 0; ep < episodes; ep++) {
    int te = 0, tr = 0;
    af_info info;
    cr_assert_eq(af_env_reset(e, af_seed_derive(31, (uint64_t)ep), obs), AF_OK);
    while (!te && !tr) {
      for (int i = 0; i < 5; i++) a[i] = (float)af_rng_range(&rng, -1, 1);
      cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, &info), AF_OK);
    }
    sum += info.episode.metrics[1];  // max_angle
  }
  return sum / episodes;
}

Test(door_open, the_hand_can_start_at_the_handle) {
  af_env *h = make("{\"hand_start\": \"handle\", \"latch\": false}"), *f = make("{\"latch\": false}");
  float obs[64];
  for (int ep = 0; ep < 5; ep++) {
    cr_assert_eq(af_env_reset(h, af_seed_derive(5, (uint64_t)ep), obs), AF_OK);
    const mjtNum *hand = h->d->site_xpos + 3 * mj_name2id(h->m, mjOBJ_SITE, "arm_grip");
    const mjtNum *g = h->d->site_xpos + 3 * mj_name2id(h->m, mjOBJ_SITE, "lever_grip");
    double dist = sqrt((hand[0] - g[0]) * (hand[0] - g[0]) + (hand[1] - g[1]) * (hand[1] - g[1]) + (hand[2] - g[2]) * (hand[2] - g[2]));
    cr_assert_lt(dist, 0.03, "episode %d: the hand starts %.3f m from the grip point", ep, dist);
    cr_assert_eq(af_env_reset(f, af_seed_derive(5, (uint64_t)ep), obs), AF_OK);
    const mjtNum *fh = f->d->site_xpos + 3 * mj_name2id(f->m, mjOBJ_SITE, "arm_grip");
    cr_assert_gt(fabs(fh[0] - g[0]) + fabs(fh[1] - g[1]), 0.1, "the front start is at the handle too");
    cr_assert_gt(scripted_episode(h, af_seed_derive(5, (uint64_t)ep)).episode.success, 0, "the opener fails from the handle (episode %d)", ep);
  }
  double mh = random_max_angle(h, 20), mf = random_max_angle(f, 20);
  cr_assert(mh > 0.05 && mh > 5 * mf, "random actions open the door to %.3f rad from the handle, %.3f from the front", mh, mf);
  af_env_free(h);
  af_env_free(f);
}

// the hand's distance to the handle's arc: the grip point of the shut door (g0, lever up)
// turned about the hinge's vertical axis (through hinge) by door angles 0 to 1.2 rad
static double arc_distance(const mjtNum *hand, const double g0[3], const mjtNum *hinge) {
  double best = INFINITY;
  for (int i = 0; i <= 120; i++) {
    double a = -1.2 * i / 120, x = g0[0] - hinge[0], y = g0[1] - hinge[1];
    double p[3] = {hinge[0] + cos(a) * x - sin(a) * y, hinge[1] + sin(a) * x + cos(a) * y, g0[2]};
    best = fmin(best, sqrt((hand[0] - p[0]) * (hand[0] - p[0]) + (hand[1] - p[1]) * (hand[1] - p[1]) + (hand[2] - p[2]) * (hand[2] - p[2])));
  }
  return best;
}

// workspace door: under random actions the hand stays in the box round the handle's arc (the
// box's corners lie up to about 8 cm off the arc, its margins add 6 cm across and 6 cm up,
// and the hand may trail its target by 6 cm: under 20 cm), where the whole workspace lets it
// wander off; the opener still succeeds
Test(door_open, the_door_workspace_keeps_the_hand_round_the_handle) {
  af_env *e[2] = {make("{\"hand_start\": \"handle\", \"latch\": false, \"workspace\": \"door\"}"),
                  make("{\"hand_start\": \"handle\", \"latch\": false}")};
  double far[2] = {0, 0};
  for (int w = 0; w < 2; w++) {
    af_rng rng;
    af_rng_seed(&rng, 12);
    float obs[64], a[8], r;
    int site = mj_name2id(e[w]->m, mjOBJ_SITE, "arm_grip"), grip = mj_name2id(e[w]->m, mjOBJ_SITE, "lever_grip");
    int door = mj_name2id(e[w]->m, mjOBJ_BODY, "door");
    for (int ep = 0; ep < 6; ep++) {
      int te = 0, tr = 0;
      af_info info;
      cr_assert_eq(af_env_reset(e[w], af_seed_derive(8, (uint64_t)ep), obs), AF_OK);
      const mjtNum *gs = e[w]->d->site_xpos + 3 * grip;
      double g0[3] = {gs[0], gs[1], gs[2] - 0.015}, hinge[3];  // the grip point, 1.5 cm under the bar
      memcpy(hinge, e[w]->d->xpos + 3 * door, sizeof hinge);
      while (!te && !tr) {
        for (int i = 0; i < 5; i++) a[i] = (float)af_rng_range(&rng, -1, 1);
        cr_assert_eq(af_env_step(e[w], a, obs, &r, &te, &tr, &info), AF_OK);
        far[w] = fmax(far[w], arc_distance(e[w]->d->site_xpos + 3 * site, g0, hinge));
      }
    }
    cr_assert_gt(scripted_episode(e[w], af_seed_derive(9, 0)).episode.success, 0, "the opener fails (workspace %s)", w ? "full" : "door");
  }
  cr_log_info("the hand's farthest from the handle's arc: %.3f m (door), %.3f m (full)", far[0], far[1]);
  cr_assert(far[0] < 0.2 && far[1] > far[0] + 0.05, "the hand went %.3f m from the handle's arc in the door's box, %.3f in the whole workspace",
            far[0], far[1]);
  af_env_free(e[0]);
  af_env_free(e[1]);
}
