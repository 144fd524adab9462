// Domain randomization: every mjModel array is compared with the nominal model, so a reset
// may change exactly the fields the table names (plus the constants mj_setConst derives from
// them), each within its range, and a reset with randomization off restores the nominal
// model bit for bit.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <mujoco/mjxmacro.h>

#include "envs/env_impl.h"

// constants mj_setConst recomputes from masses, inertias and camera poses at qpos0
static const char *derived = ",body_subtreemass,body_invweight0,dof_invweight0,dof_M0,tendon_invweight0,tendon_length0,"
                             "actuator_length0,actuator_acc0,cam_pos0,cam_poscom0,cam_mat0,light_pos0,light_poscom0,light_dir0,";

// names of the mjModel arrays that differ between a and b, as ",a,b,"
static void differing_arrays(const mjModel *a, const mjModel *b, char *out, size_t outsz) {
  snprintf(out, outsz, ",");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
  MJMODEL_POINTERS_PREAMBLE(a)
#pragma GCC diagnostic pop
#define X(type, name, nr, nc)                                                        \
  if (a->nr * (nc) > 0 && memcmp(a->name, b->name, sizeof(type) * a->nr * (nc))) { \
    strncat(out, #name ",", outsz - strlen(out) - 1);                                \
  }
  MJMODEL_POINTERS
#undef X
}

// The arrays an environment declares its reset writes beyond its table (af_env_def.rebuilds):
// terrain, object slots, door geometry, since MuJoCo 2.2.2 cannot add or resize geoms at run
// time. When they include body inertias or positions, the constants mj_setConst derives
// from them follow. Each environment restores them from the nominal model first
// (resets_restore_the_model_whatever_came_before).
static void add_rebuilds(char *allowed, size_t n, const char *rebuilds) {
  if (!rebuilds) return;
  strncat(allowed, rebuilds, n - strlen(allowed) - 1);
  strncat(allowed, ",", n - strlen(allowed) - 1);
  if (strstr(rebuilds, "body_")) strncat(allowed, derived + 1, n - strlen(allowed) - 1);
}

// is every array in `list` in `allowed` (both ",a,b,")?
static void assert_subset(const char *list, const char *allowed, const char *env, const char *what) {
  char buf[8192];
  snprintf(buf, sizeof buf, "%s", list + 1);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    char key[128];
    snprintf(key, sizeof key, ",%s,", tok);
    cr_assert(strstr(allowed, key) != NULL, "%s: %s changed %s", env, what, tok);
  }
}

// is every array in `list` one the table names, mj_setConst derives or the reset rebuilds?
static void assert_only_named(const char *list, const af_dr *dr, const char *env, const char *rebuilds) {
  char allowed[4096] = ",";
  strncat(allowed, derived, sizeof allowed - strlen(allowed) - 1);
  add_rebuilds(allowed, sizeof allowed, rebuilds);
  for (int i = 0; i < dr->n; i++) {
    strncat(allowed, af_dr_field_arrays(dr->p[i].e->field), sizeof allowed - strlen(allowed) - 1);
    strncat(allowed, ",", sizeof allowed - strlen(allowed) - 1);
  }
  assert_subset(list, allowed, env, "randomization, which no table entry names,");
}

static af_env *make(const char *name, const char *cfg) {
  char err[512] = "";
  af_env *e = af_env_make(name, cfg, err, sizeof err);
  cr_assert(e, "%s", err);
  return e;
}

Test(randomize, changes_exactly_the_named_fields_and_restores_nominal) {
  char list[8192];
  for (int i = 0; i < af_env_count(); i++) {
    const char *name = af_env_name(i);
    af_env *e = make(name, "{\"randomize\": {\"sensor\": true}}");
    float obs[512];
    af_env_reset(e, 11, obs);
    differing_arrays(e->m, e->m0, list, sizeof list);
    assert_only_named(list, &e->dr, name, e->def->rebuilds);
    // every named field of every active parameter with a real range did change
    for (int k = 0; k < e->dr.n; k++) {
      const af_dr_param *p = &e->dr.p[k];
      const char *arrays = af_dr_field_arrays(p->e->field);
      if (!*arrays || !af_dr_active(&e->dr, p) || p->lo == p->hi) continue;
      char first[64];
      snprintf(first, sizeof first, ",%.*s,", (int)strcspn(arrays, ","), arrays);
      cr_assert(strstr(list, first) != NULL, "%s: %s did not change %s", name, p->e->name, first);
    }
    af_env_free(e);

    // randomization off: the model equals the nominal one, bit for bit, even after a
    // randomized episode on the same environment
    e = make(name, NULL);
    af_env_reset(e, 11, obs);
    e->dr.enabled = 0;
    af_env_reset(e, 12, obs);
    differing_arrays(e->m, e->m0, list, sizeof list);
    char task[4096] = ",";
    add_rebuilds(task, sizeof task, e->def->rebuilds);
    if (strlen(task) == 1) cr_assert_str_eq(list, ",", "%s: nominal not restored: %s", name, list);
    else assert_subset(list, task, name, "a reset with randomization off (nominal not restored)");
    af_env_free(e);
  }
}

Test(randomize, resets_restore_the_model_whatever_came_before) {
  // the model after a reset depends on that reset's seed alone: every array equals the one
  // left by the same seed on a fresh environment, after other randomized episodes
  char list[8192];
  for (int i = 0; i < af_env_count(); i++) {
    const char *name = af_env_name(i);
    af_env *e = make(name, "{\"randomize\": {\"sensor\": true}}");
    float obs[512];
    af_env_reset(e, 11, obs);
    mjModel *first = mj_copyModel(NULL, e->m);
    af_env_reset(e, 12, obs);
    af_env_reset(e, 13, obs);
    af_env_reset(e, 11, obs);
    differing_arrays(e->m, first, list, sizeof list);
    cr_assert_str_eq(list, ",", "%s: the model after seed 11 depends on earlier episodes: %s", name, list);
    mj_deleteModel(first);
    af_env_free(e);
  }
}

// the value of a parameter's first affected field, for target t and component c
static double field_value(const mjModel *m, const af_dr_param *p, int t, int c) {
  int id = p->ids[t];
  switch (p->e->field) {
    case AF_F_BODY_MASS: return m->body_mass[id];
    case AF_F_GEOM_FRICTION: return m->geom_friction[3 * id];
    case AF_F_GEOM_SIZE: return m->geom_size[3 * id];
    case AF_F_DOF_DAMPING: return m->dof_damping[id];
    case AF_F_DOF_ARMATURE: return m->dof_armature[id];
    case AF_F_DOF_FRICTIONLOSS: return m->dof_frictionloss[id];
    case AF_F_ACT_GAIN: return m->actuator_gainprm[id * mjNGAIN];
    case AF_F_GEOM_RGBA: return m->geom_rgba[4 * id + c];
    case AF_F_MAT_RGBA: return m->mat_rgba[4 * id + c];
    case AF_F_LIGHT_POS: return m->light_pos[3 * id + c];
    case AF_F_LIGHT_DIFFUSE: return m->light_diffuse[3 * id + c];
    case AF_F_CAM_POS: return m->cam_pos[3 * id + c];
    case AF_F_CAM_FOVY: return m->cam_fovy[id];
    default: return NAN;
  }
}

Test(randomize, draws_lie_in_their_ranges_and_fields_follow_the_draws) {
  for (int i = 0; i < af_env_count(); i++) {
    for (int eval = 0; eval <= 1; eval++) {
      af_env *e = make(af_env_name(i), eval ? "{\"randomize\": {\"sensor\": true, \"eval\": true}}" : "{\"randomize\": {\"sensor\": true}}");
      float obs[512];
      for (int seed = 0; seed < 20; seed++) {
        af_env_reset(e, (uint64_t)seed, obs);
        for (int k = 0; k < e->dr.n; k++) {
          const af_dr_param *p = &e->dr.p[k];
          double lo = eval ? p->eval_lo : p->lo, hi = eval ? p->eval_hi : p->hi;
          for (int t = 0; t < p->ntarget; t++)
            for (int c = 0; c < p->dim; c++) {
              double x = p->draw[t * p->dim + c];
              cr_assert(x >= lo && x <= hi, "%s %s draw %g outside [%g, %g]", af_env_name(i), p->e->name, x, lo, hi);
              // the field is nominal transformed by the draw (colours clamped to [0, 1])
              double v = field_value(e->m, p, t, c), v0 = field_value(e->m0, p, t, c);
              if (isnan(v)) continue;
              double want = p->e->mode == AF_DR_SCALE ? v0 * x : p->e->mode == AF_DR_OFFSET ? v0 + x : x;
              if (p->e->field == AF_F_GEOM_RGBA || p->e->field == AF_F_MAT_RGBA || p->e->field == AF_F_LIGHT_DIFFUSE)
                want = want < 0 ? 0 : want > 1 ? 1 : want;
              cr_assert_float_eq(v, want, 1e-6 * (1 + fabs(want)), "%s %s: field %g, expected %g", af_env_name(i), p->e->name, v, want);
            }
        }
      }
      af_env_free(e);
    }
  }
}

Test(randomize, mass_scales_inertia_and_size_updates_bounding_radius) {
  af_env *e = make("puck_push", "{\"randomize\": {\"puck_mass\": [2, 2], \"puck_size\": [1.2, 1.2]}}");
  float obs[64];
  af_env_reset(e, 0, obs);
  int b = mj_name2id(e->m, mjOBJ_BODY, "puck"), g = mj_name2id(e->m, mjOBJ_GEOM, "puck");
  cr_assert_float_eq(e->m->body_mass[b], 2 * e->m0->body_mass[b], 1e-12);
  for (int k = 0; k < 3; k++) cr_assert_float_eq(e->m->body_inertia[3 * b + k], 2 * e->m0->body_inertia[3 * b + k], 1e-15);
  // cylinder: radius scaled, half-height kept, rbound = sqrt(r^2 + h^2)
  double r = 1.2 * e->m0->geom_size[3 * g], h = e->m0->geom_size[3 * g + 1];
  cr_assert_float_eq(e->m->geom_size[3 * g], r, 1e-15);
  cr_assert_float_eq(e->m->geom_size[3 * g + 1], h, 0);
  cr_assert_float_eq(e->m->geom_rbound[g], sqrt(r * r + h * h), 1e-12);
  // mj_setConst ran: the subtree mass at the world includes the heavier puck
  cr_assert_float_eq(e->m->body_subtreemass[0] - e->m0->body_subtreemass[0], e->m0->body_mass[b], 1e-9);
  af_env_free(e);
}

Test(randomize, groups_switch_independently_and_do_not_shift_other_draws) {
  af_env *all = make("puck_push", NULL);
  af_env *nophys = make("puck_push", "{\"randomize\": {\"physics\": false}}");
  af_env *none = make("puck_push", "{\"randomize\": false}");
  float obs[64];
  af_env_reset(all, 5, obs);
  af_env_reset(nophys, 5, obs);
  af_env_reset(none, 5, obs);
  for (int k = 0; k < all->dr.n; k++) {
    const af_dr_param *p = &all->dr.p[k], *q = &nophys->dr.p[k], *z = &none->dr.p[k];
    int n = p->ntarget * p->dim;
    int physics = p->e->group == AF_DR_PHYSICS, task = p->e->group == AF_DR_TASK, sensor = p->e->group == AF_DR_SENSOR;
    for (int j = 0; j < n; j++) {
      // physics off: physics draws nominal, the others exactly as with everything on
      cr_assert_eq(q->draw[j], physics ? p->e->nominal : p->draw[j], "%s", p->e->name);
      // everything off: only the task distribution is drawn, identically
      cr_assert_eq(z->draw[j], task ? p->draw[j] : p->e->nominal, "%s", p->e->name);
      // the sensor group is off by default
      if (sensor) cr_assert_eq(p->draw[j], p->e->nominal, "%s", p->e->name);
    }
  }
  af_env_free(all);
  af_env_free(nophys);
  af_env_free(none);
}

Test(randomize, range_overrides_and_readback) {
  af_env *e = make("puck_push", "{\"randomize\": {\"puck_friction\": {\"train\": [1.5, 1.5], \"eval\": [0.25, 0.25]}, \"act_delay\": [2, 2], \"sensor\": true}}");
  float obs[64];
  af_env_reset(e, 3, obs);
  int g = mj_name2id(e->m, mjOBJ_GEOM, "puck");
  cr_assert_float_eq(e->m->geom_friction[3 * g], 1.5 * e->m0->geom_friction[3 * g], 1e-12);
  cr_assert_eq(e->delay, 2);
  // read back as JSON
  cJSON *o = cJSON_Parse(af_env_randomization_json(e));
  cr_assert(o);
  cr_assert_float_eq(cJSON_GetObjectItem(o, "puck_friction")->valuedouble, 1.5, 1e-12);
  cr_assert_float_eq(cJSON_GetObjectItem(o, "act_delay")->valuedouble, 2, 0);
  cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "arm_gain")), 5);
  cJSON_Delete(o);
  af_env_free(e);
  // the held-out range is used in evaluation mode
  e = make("puck_push", "{\"randomize\": {\"puck_friction\": {\"train\": [1.5, 1.5], \"eval\": [0.25, 0.25]}, \"eval\": true}}");
  af_env_reset(e, 3, obs);
  cr_assert_float_eq(e->m->geom_friction[3 * g], 0.25 * e->m0->geom_friction[3 * g], 1e-12);
  af_env_free(e);
}

// evaluation over spread tasks: point k of n of the task's range, ends included, while every
// other draw stays what the seed gives; n = 0 draws the task again; bad points are refused
Test(randomize, a_task_spread_sets_evenly_spaced_goals_and_leaves_other_draws) {
  af_env *e = make("door_open", "{\"randomize\": {\"goal_angle\": [0.1, 1.0]}, \"min_goal\": 0}");
  af_env *ref = make("door_open", "{\"randomize\": {\"goal_angle\": [0.1, 1.0]}, \"min_goal\": 0}");
  float obs[256];
  int gi = -1;
  for (int i = 0; i < e->dr.n; i++)
    if (strcmp(e->dr.p[i].e->name, "goal_angle") == 0) gi = i;
  cr_assert(gi >= 0);
  for (int k = 0; k < 10; k++) {
    cr_assert_eq(af_env_set_task_spread(e, "goal_angle", k, 10), AF_OK);
    cr_assert_eq(af_env_reset(e, 40 + k, obs), AF_OK);
    cr_assert_eq(af_env_reset(ref, 40 + k, obs), AF_OK);
    cr_assert_float_eq(e->dr.p[gi].draw[0], 0.1 + 0.1 * k, 1e-12, "point %d: %g", k, e->dr.p[gi].draw[0]);
    for (int i = 0; i < e->dr.n; i++)
      for (int j = 0; i != gi && j < e->dr.p[i].ntarget * e->dr.p[i].dim; j++)
        cr_assert_eq(e->dr.p[i].draw[j], ref->dr.p[i].draw[j], "%s", e->dr.p[i].e->name);
  }
  // off again: the seed's draw, as the reference's
  cr_assert_eq(af_env_set_task_spread(e, NULL, 0, 0), AF_OK);
  af_env_reset(e, 77, obs);
  af_env_reset(ref, 77, obs);
  cr_assert_eq(e->dr.p[gi].draw[0], ref->dr.p[gi].draw[0]);
  cr_assert(fabs(e->dr.p[gi].draw[0] - 0.1 * round(e->dr.p[gi].draw[0] * 10)) > 1e-9);
  // refused: one point, k past the end, a negative k
  cr_assert_eq(af_env_set_task_spread(e, "goal_angle", 0, 1), AF_ERR_ARG);
  cr_assert_eq(af_env_set_task_spread(e, "goal_angle", 3, 3), AF_ERR_ARG);
  cr_assert_eq(af_env_set_task_spread(e, "goal_angle", -1, 4), AF_ERR_ARG);
  cr_assert(strstr(af_env_last_error(e), "spread") != NULL);
  cr_assert_eq(af_env_set_task_spread(e, "door_mass", 0, 4), AF_ERR_ARG);  // not a task entry
  cr_assert_eq(af_env_set_task_spread(e, "goal_angel", 0, 4), AF_ERR_ARG);
  cr_assert(strstr(af_env_last_error(e), "goal_angel") != NULL);
  af_env_free(e);
  af_env_free(ref);
}

Test(randomize, action_delay_delays_by_k_steps) {
  // with a delay of 2, the hand moves only from the third step on
  af_env *e = make("puck_push", "{\"randomize\": {\"enabled\": true, \"physics\": false, \"actuation\": false, \"visual\": false, \"sensor\": true, \"act_delay\": [2, 2], \"obs_noise\": [0, 0], \"act_noise\": [0, 0]}}");
  af_env *ref = make("puck_push", "{\"randomize\": false}");
  float o[64], o2[64], r, a[4] = {0, 1, 0, -1}, zero[4] = {0, 0, 0, 0};
  int te, tr;
  af_env_reset(e, 1, o);
  af_env_reset(ref, 1, o2);
  // ref: two zero actions, then the real one; e: the real one from the start
  af_env_step(ref, zero, o2, &r, &te, &tr, NULL);
  af_env_step(ref, zero, o2, &r, &te, &tr, NULL);
  af_env_step(e, a, o, &r, &te, &tr, NULL);
  af_env_step(e, a, o, &r, &te, &tr, NULL);
  cr_assert(memcmp(o, o2, 7 * sizeof(float)) == 0, "nothing may move during the delay");
  af_env_step(ref, a, o2, &r, &te, &tr, NULL);
  af_env_step(e, a, o, &r, &te, &tr, NULL);
  cr_assert(memcmp(o, o2, 13 * sizeof(float)) == 0, "the delayed action acts on step 3");
  af_env_free(e);
  af_env_free(ref);
}

Test(randomize, observation_noise_has_the_drawn_std) {
  af_env *e = make("puck_push", "{\"randomize\": {\"physics\": false, \"actuation\": false, \"sensor\": true, \"obs_noise\": [0.01, 0.01], \"act_noise\": [0, 0], \"act_delay\": [0, 0]}}");
  af_env *ref = make("puck_push", "{\"randomize\": false}");
  float o[64], o2[64];
  double s2 = 0;
  int n = 0;
  for (int seed = 0; seed < 200; seed++) {
    af_env_reset(e, (uint64_t)seed, o);
    af_env_reset(ref, (uint64_t)seed, o2);
    for (int k = 0; k < 15; k++) { s2 += (o[k] - o2[k]) * (o[k] - o2[k]); n++; }
    // the desired goal is exact
    cr_assert_eq(o[15], o2[15]);
    cr_assert_eq(o[16], o2[16]);
  }
  // std of 3000 samples: within 5% of 0.01
  cr_assert_float_eq(sqrt(s2 / n), 0.01, 0.0005);
  af_env_free(e);
  af_env_free(ref);
}
