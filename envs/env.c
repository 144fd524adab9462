// The common layer of every environment: registry, config parsing, model loading, nominal
// model restore and randomization at reset, the action pipeline (checks, clipping, noise,
// delay), the physics loop with blow-up detection, truncation and episode statistics.
#define _GNU_SOURCE  // dladdr: where the loaded library lies, for its installed assets
#include "envs/env_impl.h"
#include "envs/render.h"

#include <mujoco/mjxmacro.h>  // MJDATA_POINTERS: the mjData arrays a snapshot copies

#include <dlfcn.h>     // dladdr
#include <limits.h>    // PATH_MAX
#include <math.h>      // isfinite
#include <pthread.h>   // pthread_once: MuJoCo's handlers are installed once
#include <setjmp.h>    // jmp_buf: recover from mju_error inside armfarm calls
#include <stdint.h>    // uint64_t: snapshot header
#include <stdlib.h>    // calloc, getenv
#include <string.h>    // strcmp, memcpy
#include <sys/stat.h>  // stat: which asset folders exist

// the registry: one line per environment in envs/registry.h
static const af_env_def *const registry[] = {
#define AF_ENV(name) &af_##name##_def,
#include "envs/registry.h"
#undef AF_ENV
};
#define N_ENVS ((int)(sizeof registry / sizeof registry[0]))

int af_env_count(void) { return N_ENVS; }
const char *af_env_name(int i) { return i >= 0 && i < N_ENVS ? registry[i]->name : NULL; }

static const af_env_def *find_def(const char *name) {
  for (int i = 0; i < N_ENVS; i++)
    if (strcmp(registry[i]->name, name) == 0) return registry[i];
  return NULL;
}

// ---- MuJoCo's error and warning handlers, routed in one place ----
// mju_error inside an armfarm call longjmps back to the guard around it (mj_guard), which
// turns it into a return code; outside any armfarm call it goes to the handler installed
// before ours, or is fatal with one line as MuJoCo's default is. Warnings inside armfarm
// calls are kept per thread for the log; outside, they too go to the previous handler.
static _Thread_local jmp_buf *mj_error_jmp;
static _Thread_local char mj_last_warning[256];
static void (*prev_error)(const char *), (*prev_warning)(const char *);
static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

static void on_mujoco_error(const char *msg) {
  if (mj_error_jmp) {
    snprintf(mj_last_warning, sizeof mj_last_warning, "mujoco error: %s", msg);
    longjmp(*mj_error_jmp, 1);
  }
  if (prev_error) { prev_error(msg); return; }
  fprintf(stderr, "armfarm: fatal MuJoCo error outside any armfarm call: %s\n", msg);
  exit(1);
}

static void on_mujoco_warning(const char *msg) {
  if (!mj_error_jmp && prev_warning) { prev_warning(msg); return; }
  snprintf(mj_last_warning, sizeof mj_last_warning, "%s", msg);
  if (getenv("ARMFARM_VERBOSE")) fprintf(stderr, "armfarm: mujoco warning: %s\n", msg);
}

// the handlers before ours are kept for chaining (never our own, if installed twice)
static void install_handlers(void) {
  if (mju_user_error != on_mujoco_error) prev_error = mju_user_error;
  if (mju_user_warning != on_mujoco_warning) prev_warning = mju_user_warning;
  mju_user_error = on_mujoco_error;
  mju_user_warning = on_mujoco_warning;
}

void af_mujoco_handlers_install(void) { pthread_once(&handlers_once, install_handlers); }

// fn(e, arg) with MuJoCo errors caught: AF_OK, or AF_ERR_NUMERIC with "what: mujoco error:
// MSG" in err. Nested guards restore the outer one. After an error, MuJoCo's state is only
// good for mj_resetData (its stack may still be marked).
static int mj_guard(af_env *e, void (*fn)(af_env *e, void *arg), void *arg, const char *what, char *err,
                    size_t errsz) {
  jmp_buf jb;
  jmp_buf *volatile saved = mj_error_jmp;
  if (setjmp(jb)) {
    mj_error_jmp = saved;
    snprintf(err, errsz, "%s: %s", what, mj_last_warning);
    return AF_ERR_NUMERIC;
  }
  mj_error_jmp = &jb;
  fn(e, arg);
  mj_error_jmp = saved;
  return AF_OK;
}

// ---- config: keys every environment shares ----
typedef struct {
  int horizon;
  double control_hz;
  double timestep;
  int obs;  // 0 state, 1 pixels, 2 state+pixels, 3 proprio+pixels
  int image_width, image_height;
  char camera[AF_P_STRING_MAX];
  int frame_stack;  // frames in the observation vector (0: pixels through af_env_pixels only)
  int goal_image;   // one more frame after the stack: the episode's goal reached
} common_cfg;

static const af_param common_params[] = {
  {"horizon", AF_P_INT, offsetof(common_cfg, horizon), 0, 1, 100000, NULL, "control steps before truncation"},
  {"control_hz", AF_P_DOUBLE, offsetof(common_cfg, control_hz), 0, 1, 1000, NULL, "control steps per simulated second"},
  {"timestep", AF_P_DOUBLE, offsetof(common_cfg, timestep), 0, 0, 0.01, NULL, "physics timestep in seconds (0 = the model's)"},
  {"obs", AF_P_ENUM, offsetof(common_cfg, obs), 0, 0, 3, "state|pixels|state+pixels|proprio+pixels", "observation: state vector, uint8 HWC image (af_env_pixels), both, or the image beside the robot's own sensing only (the state's first proprio_dim entries: no object, door or goal state)"},
  {"image_width", AF_P_INT, offsetof(common_cfg, image_width), 64, 8, 1024, NULL, "pixel observation width"},
  {"image_height", AF_P_INT, offsetof(common_cfg, image_height), 64, 8, 1024, NULL, "pixel observation height"},
  {"camera", AF_P_STRING, offsetof(common_cfg, camera), 0, 0, 0, "", "camera of pixel observations (a named camera; \"\" = the environment's learning camera, or the model's first where it has none)"},
  {"frame_stack", AF_P_INT, offsetof(common_cfg, frame_stack), 0, 0, AF_MAX_FRAME_STACK, NULL, "pixels in the observation vector: the last K frames (C, H, W, values 0-255) after the state entries; 0 = through af_env_pixels only"},
  {"goal_image", AF_P_BOOL, offsetof(common_cfg, goal_image), 0, 0, 1, NULL, "one more frame after the stack (spec.goal_image_offset): the episode's goal reached, same camera and format; needs pixels, frame_stack >= 1 and an environment that can show its goal (door_open)"},
};
#define N_COMMON ((int)(sizeof common_params / sizeof common_params[0]))

// ---- where the models are: ARMFARM_ASSETS, the installed folder, the source tree ----
static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *af_env_asset_dir(char *buf, size_t n) {
  // an explicit folder is taken as it is (a missing asset is then reported by make)
  const char *env = getenv("ARMFARM_ASSETS");
  if (env && *env) { snprintf(buf, n, "%s", env); return buf; }
  // installed: beside the loaded library (wherever the prefix was moved), then where it was configured
  Dl_info info;
  if (dladdr((void *)af_env_asset_dir, &info) && info.dli_fname && strchr(info.dli_fname, '/')) {
    snprintf(buf, n, "%s", info.dli_fname);
    *strrchr(buf, '/') = 0;
    size_t len = strlen(buf);
    snprintf(buf + len, n - len, "/%s", AF_ASSETS_FROM_LIBDIR);
    char real[PATH_MAX];
    if (is_dir(buf) && realpath(buf, real) && strlen(real) < n) { memcpy(buf, real, strlen(real) + 1); return buf; }
  }
  if (is_dir(AF_INSTALL_ASSET_DIR)) { snprintf(buf, n, "%s", AF_INSTALL_ASSET_DIR); return buf; }
  // the build tree: the source tree's assets
  if (is_dir(AF_SOURCE_ASSET_DIR)) { snprintf(buf, n, "%s", AF_SOURCE_ASSET_DIR); return buf; }
  return NULL;
}

// parse the JSON config into the common and environment-specific structs and randomization
static int parse_config(af_env *e, common_cfg *cc, const char *json, char *err, size_t errsz) {
  const af_env_def *def = e->def;
  af_params_default(cc, common_params, N_COMMON);
  cc->horizon = def->horizon;
  cc->control_hz = def->control_hz;
  af_params_default(e->cfg, def->params, def->nparams);
  if (!json || !*json) return 0;
  cJSON *root = cJSON_Parse(json);
  if (!root) {
    snprintf(err, errsz, "%s: config is not valid JSON near '%.20s'", def->name, cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
    return -1;
  }
  int rc = 0;
  if (!cJSON_IsObject(root)) { snprintf(err, errsz, "%s: config must be a JSON object", def->name); rc = -1; }
  for (cJSON *it = cJSON_IsObject(root) ? root->child : NULL; it && rc == 0; it = it->next) {
    const af_param *p;
    if (strcmp(it->string, "randomize") == 0) rc = af_dr_configure(&e->dr, it, err, errsz);
    else if ((p = af_params_find(common_params, N_COMMON, it->string))) rc = af_param_set(cc, p, it, "", err, errsz);
    else if ((p = af_params_find(def->params, def->nparams, it->string))) rc = af_param_set(e->cfg, p, it, "", err, errsz);
    else {
      // suggest the nearest valid key
      const char *s = af_params_suggest(def->params, def->nparams, it->string);
      if (!s) s = af_params_suggest(common_params, N_COMMON, it->string);
      if (!s && af_edit_distance(it->string, "randomize") <= 3) s = "randomize";
      if (s) snprintf(err, errsz, "%s: unknown config key '%s' (did you mean '%s'?)", def->name, it->string, s);
      else snprintf(err, errsz, "%s: unknown config key '%s' (see 'armfarm envs %s')", def->name, it->string, def->name);
      rc = -1;
    }
  }
  cJSON_Delete(root);
  return rc;
}

// the resolved config as JSON, kept with the environment
static char *config_to_json(const af_env *e, const common_cfg *cc) {
  cJSON *o = cJSON_CreateObject();
  af_params_to_json(o, cc, common_params, N_COMMON);
  af_params_to_json(o, e->cfg, e->def->params, e->def->nparams);
  cJSON *r = cJSON_AddObjectToObject(o, "randomize");
  cJSON_AddBoolToObject(r, "enabled", e->dr.enabled);
  cJSON_AddBoolToObject(r, "eval", e->dr.eval);
  for (int g = 0; g < AF_DR_TASK; g++) cJSON_AddBoolToObject(r, af_dr_group_name(g), e->dr.group_on[g]);
  for (int i = 0; i < e->dr.n; i++) {
    const af_dr_param *p = &e->dr.p[i];
    cJSON *pr = cJSON_AddObjectToObject(r, p->e->name);
    double tr[2] = {p->lo, p->hi}, ev[2] = {p->eval_lo, p->eval_hi};
    cJSON_AddItemToObject(pr, "train", cJSON_CreateDoubleArray(tr, 2));
    cJSON_AddItemToObject(pr, "eval", cJSON_CreateDoubleArray(ev, 2));
  }
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

// ---- the MuJoCo calls of make, each under the guard ----
typedef struct { const char *path; char *msg; size_t msgsz; } load_args;

static void load_model(af_env *e, void *arg) {
  load_args *a = arg;
  e->m0 = mj_loadXML(a->path, NULL, a->msg, (int)a->msgsz);
}

// this environment's model and data, then the environment's own init
typedef struct { char *err; size_t errsz; int rc; } init_args;

static void init_physics(af_env *e, void *arg) {
  init_args *a = arg;
  e->m = mj_copyModel(NULL, e->m0);
  e->d = e->m ? mj_makeData(e->m) : NULL;
  if (!e->m || !e->d) { snprintf(a->err, a->errsz, "%s: out of memory", e->def->name); a->rc = AF_ERR_NUMERIC; return; }
  a->rc = e->def->init(e, a->err, a->errsz);
}

typedef struct { int width, height; char *err; size_t errsz; } render_args;

// the data the goal image is posed on: the model's sizes, filled from e->d when it is drawn
static void make_goal_data(af_env *e, void *arg) {
  (void)arg;
  e->goal_d = mj_makeData(e->m);
}

static void make_render(af_env *e, void *arg) {
  render_args *a = arg;
  e->render = af_render_make(e->m, a->width, a->height, 0, 0, a->err, a->errsz);
}

af_env *af_env_make(const char *name, const char *config_json, char *err, size_t errsz) {
  af_mujoco_handlers_install();
  const af_env_def *def = name ? find_def(name) : NULL;
  if (!def) {
    char list[1024] = "";
    for (int i = 0; i < N_ENVS; i++) {
      strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
      strncat(list, registry[i]->name, sizeof list - strlen(list) - 1);
    }
    snprintf(err, errsz, "unknown environment '%s' (available: %s)", name ? name : "(null)", list);
    return NULL;
  }
  af_env *e = calloc(1, sizeof *e);
  if (!e) { snprintf(err, errsz, "out of memory"); return NULL; }
  e->def = def;
  e->need_reset = 1;
  e->cfg = calloc(1, def->cfg_size ? def->cfg_size : 1);

  // load the model; MuJoCo's compiler message is passed on as it is
  char path[1024], dir[900], lerr[512] = "";
  if (!af_env_asset_dir(dir, sizeof dir)) {
    snprintf(err, errsz, "%s: no assets folder found (set ARMFARM_ASSETS to the assets folder)", def->name);
    af_env_free(e);
    return NULL;
  }
  snprintf(path, sizeof path, "%s/%s", dir, def->asset);
  FILE *probe = fopen(path, "r");
  if (!probe) {
    snprintf(err, errsz, "%s: missing asset %s (set ARMFARM_ASSETS to the assets folder)", def->name, path);
    af_env_free(e);
    return NULL;
  }
  fclose(probe);
  load_args la = {path, lerr, sizeof lerr};
  if (mj_guard(e, load_model, &la, def->name, err, errsz)) { af_env_free(e); return NULL; }
  if (!e->m0) {
    snprintf(err, errsz, "%s: cannot load %s: %s", def->name, path, lerr);
    af_env_free(e);
    return NULL;
  }
  if (af_dr_init(&e->dr, def->dr, def->ndr, e->m0, err, errsz)) { af_env_free(e); return NULL; }

  // config, then the model's timestep and the frame skip it implies
  common_cfg cc;
  if (parse_config(e, &cc, config_json, err, errsz)) { af_env_free(e); return NULL; }
  // a goal image needs frames in the vector to follow and an environment that can pose its goal
  if (cc.goal_image && !def->show_goal) {
    snprintf(err, errsz, "%s: goal_image: this environment cannot show its goal (no show_goal hook; door_open has one)", def->name);
    af_env_free(e);
    return NULL;
  }
  if (cc.goal_image && (cc.obs == 0 || cc.frame_stack < 1)) {
    snprintf(err, errsz, "%s: goal_image needs pixels in the observation vector (obs pixels, state+pixels or proprio+pixels, and frame_stack >= 1)", def->name);
    af_env_free(e);
    return NULL;
  }
  if (cc.timestep > 0) e->m0->opt.timestep = cc.timestep;
  double dt = e->m0->opt.timestep;
  // the frame skip as a double first: a tiny timestep gives more steps than an int holds
  double steps = floor(1.0 / (cc.control_hz * dt) + 0.5);
  int skip = steps >= 1 && steps <= 1e6 ? (int)steps : 0;
  if (!(dt > 0) || skip < 1) {
    snprintf(err, errsz, "%s: control_hz %g with %g s physics steps is not 1 to 1e6 physics steps per control step", def->name, cc.control_hz, dt);
    af_env_free(e);
    return NULL;
  }
  if (fabs(skip * dt * cc.control_hz - 1) > 1e-6) {
    snprintf(err, errsz, "%s: control_hz %g is not a whole number of %g s physics steps", def->name, cc.control_hz, dt);
    af_env_free(e);
    return NULL;
  }
  af_env_spec *s = &e->spec;
  s->name = def->name;
  s->control_hz = cc.control_hz;
  s->timestep = dt;
  s->frame_skip = skip;
  s->horizon = cc.horizon;
  s->success = def->success;
  s->reward = def->reward_text;
  s->achieved_offset = s->desired_offset = -1;
  // the model copy, its data and the environment's init (which fills the spec's sizes)
  init_args ia = {err, errsz, AF_OK};
  if (mj_guard(e, init_physics, &ia, def->name, err, errsz) || ia.rc) { af_env_free(e); return NULL; }
  if (s->act_dim < 1 || s->obs_dim < 0 || s->n_metrics < 0 || s->n_metrics > AF_MAX_METRICS) {
    snprintf(err, errsz, "%s: bad sizes (action %d, observation %d, metrics %d of at most %d)", def->name, s->act_dim,
             s->obs_dim, s->n_metrics, AF_MAX_METRICS);
    af_env_free(e);
    return NULL;
  }
  // the action pipeline's buffers, sized once from the spec (step allocates nothing)
  e->act_tmp = calloc((size_t)s->act_dim, sizeof(float));
  e->hold = calloc((size_t)s->act_dim, sizeof(float));
  e->delay_buf = calloc((size_t)(AF_MAX_DELAY + 1) * (size_t)s->act_dim, sizeof(float));
  if (!e->act_tmp || !e->hold || !e->delay_buf) { snprintf(err, errsz, "%s: out of memory", def->name); af_env_free(e); return NULL; }
  e->cfg_json = config_to_json(e, &cc);
  // pixel observations: the renderer now, so a missing display is reported at make
  if (cc.obs != 0) {
    const char *cam = cc.camera[0] ? cc.camera : def->camera;
    e->render_camera = cam ? mj_name2id(e->m, mjOBJ_CAMERA, cam) : (e->m->ncam > 0 ? 0 : -1);
    if (cam && e->render_camera < 0) {
      snprintf(err, errsz, "%s: camera: no camera named '%s' in the model", def->name, cam);
      af_env_free(e);
      return NULL;
    }
    char rerr[400] = "";
    render_args ra = {cc.image_width, cc.image_height, rerr, sizeof rerr};
    if (mj_guard(e, make_render, &ra, "renderer", rerr, sizeof rerr) || !e->render) {
      snprintf(err, errsz, "%s: pixel observations: %s", def->name, rerr);
      af_env_free(e);
      return NULL;
    }
    s->pixel_width = cc.image_width;
    s->pixel_height = cc.image_height;
    if (cc.obs == 1) s->obs_dim = 0;
    if (cc.obs == 3) {
      // the robot's own entries only: the environment observes into a scratch vector
      if (s->proprio_dim < 1 || s->proprio_dim > s->obs_dim) {
        snprintf(err, errsz, "%s: obs proprio+pixels: this environment names no proprioceptive entries (use pixels or state+pixels)", def->name);
        af_env_free(e);
        return NULL;
      }
      e->full_state = calloc((size_t)s->obs_dim, sizeof(float));
      if (!e->full_state) { snprintf(err, errsz, "%s: out of memory", def->name); af_env_free(e); return NULL; }
      s->obs_dim = s->proprio_dim;
    }
    // a goal the state entries no longer hold is not in the observation
    if (cc.obs == 1 || cc.obs == 3) {
      s->goal_dim = 0;
      s->achieved_offset = s->desired_offset = -1;
    }
  }
  // stacked frames in the observation vector, after the state entries; their ring
  e->state_dim = s->obs_dim;
  if (cc.frame_stack > 0) {
    if (cc.obs == 0) {
      snprintf(err, errsz, "%s: frame_stack needs pixel observations (obs pixels, state+pixels or proprio+pixels)", def->name);
      af_env_free(e);
      return NULL;
    }
    size_t frame = (size_t)cc.image_width * cc.image_height * 3;
    e->stack = cc.frame_stack;
    e->frames = malloc(frame * (size_t)e->stack);
    if (!e->frames) { snprintf(err, errsz, "%s: out of memory", def->name); af_env_free(e); return NULL; }
    s->pixel_stack = e->stack;
    s->pixel_offset = e->state_dim;
    s->obs_dim = e->state_dim + (int)(frame * (size_t)e->stack);
  }
  // the goal frame after the stack, and the data and image it is rendered from
  if (cc.goal_image) {
    size_t frame = (size_t)cc.image_width * cc.image_height * 3;
    if (mj_guard(e, make_goal_data, NULL, def->name, err, errsz)) { af_env_free(e); return NULL; }
    e->goal_frame = malloc(frame);
    if (!e->goal_d || !e->goal_frame) { snprintf(err, errsz, "%s: out of memory", def->name); af_env_free(e); return NULL; }
    s->goal_image_offset = s->obs_dim;
    s->obs_dim += (int)frame;
  }
  return e;
}

void af_env_free(af_env *e) {
  if (!e) return;
  af_render_free(e->render);
  free(e->frames);
  free(e->full_state);
  if (e->goal_d) mj_deleteData(e->goal_d);
  free(e->goal_frame);
  if (e->state && e->def->free) e->def->free(e);
  af_dr_free(&e->dr);
  if (e->d) mj_deleteData(e->d);
  if (e->m) mj_deleteModel(e->m);
  if (e->m0) mj_deleteModel(e->m0);
  free(e->cfg);
  free(e->act_tmp);
  free(e->hold);
  free(e->delay_buf);
  cJSON_free(e->cfg_json);
  cJSON_free(e->dr_json);
  free(e);
}

const af_env_spec *af_env_get_spec(const af_env *e) { return &e->spec; }
const char *af_env_last_error(const af_env *e) { return e->err; }
long af_env_diverged_count(const af_env *e) { return e->diverged_count; }
const char *af_env_config_json(af_env *e) { return e->cfg_json; }
const mjModel *af_env_model(const af_env *e) { return e->m; }
const mjData *af_env_data(const af_env *e) { return e->d; }
void af_env_set_randomize(af_env *e, int enabled) { e->dr.enabled = enabled != 0; }
int af_env_randomize_enabled(const af_env *e) { return e->dr.enabled; }

int af_env_set_task_spread(af_env *e, const char *name, int k, int n) {
  if (n == 0) {
    e->dr.spread_n = 0;
    return AF_OK;
  }
  int at = -1;
  for (int i = 0; i < e->dr.n && name; i++)
    if (strcmp(e->dr.p[i].e->name, name) == 0 && e->dr.p[i].e->group == AF_DR_TASK) at = i;
  if (at < 0) {
    snprintf(e->err, sizeof e->err, "%s: '%.64s' is not a task entry of the randomization table (see armfarm envs %s)", e->def->name,
             name ? name : "", e->def->name);
    return AF_ERR_ARG;
  }
  if (n < 2 || k < 0 || k >= n) {
    snprintf(e->err, sizeof e->err, "%s: task spread point %d of %d (needs n >= 2 and 0 <= k < n)", e->def->name, k, n);
    return AF_ERR_ARG;
  }
  e->dr.spread_i = at, e->dr.spread_k = k, e->dr.spread_n = n;
  return AF_OK;
}

const char *af_env_randomization_param(const af_env *e, int i, int *active, double *first, int *count) {
  if (i < 0 || i >= e->dr.n) return NULL;
  const af_dr_param *p = &e->dr.p[i];
  if (active) *active = af_dr_active(&e->dr, p);
  if (first) *first = p->draw[0];
  if (count) *count = p->ntarget * p->dim;
  return p->e->name;
}

const char *af_env_randomization_json(af_env *e) {
  cJSON_free(e->dr_json);
  cJSON *o = af_dr_to_json(&e->dr);
  e->dr_json = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return e->dr_json;
}

static void render_pixels(af_env *e, void *rgb) { af_render_frame(e->render, e->m, e->d, e->render_camera, NULL, rgb); }

int af_env_pixels(af_env *e, unsigned char *rgb) {
  if (!e->render) {
    snprintf(e->err, sizeof e->err, "%s: pixel observations are off (set obs to pixels, state+pixels or proprio+pixels)", e->def->name);
    return AF_ERR_UNSUP;
  }
  return mj_guard(e, render_pixels, rgb, e->def->name, e->err, sizeof e->err);
}

// an (H, W, 3) image as planar (3, H, W) floats 0-255
static void to_planar(float *out, const unsigned char *hwc, int W, int H) {
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < W * H; i++) out[(size_t)c * W * H + i] = (float)hwc[(size_t)i * 3 + c];
}

// the stacked frames after the state entries: the current frame rendered into the ring (into
// every slot when the stack starts afresh: a reset, an example), then the ring, oldest first,
// as planar (C, H, W) floats 0-255; AF_OK or the renderer's error
static int observe_frames(af_env *e, float *out, int fresh) {
  const int W = e->spec.pixel_width, H = e->spec.pixel_height;
  const size_t frame = (size_t)W * H * 3;
  if (fresh) e->frame_head = 0;
  unsigned char *cur = e->frames + (size_t)e->frame_head * frame;
  int rc = af_env_pixels(e, cur);
  if (rc) return rc;
  if (fresh)
    for (int k = 1; k < e->stack; k++) memcpy(e->frames + (size_t)k * frame, cur, frame);
  e->frame_head = (e->frame_head + 1) % e->stack;
  for (int k = 0; k < e->stack; k++) {
    // the head now names the oldest frame
    const unsigned char *f = e->frames + (size_t)((e->frame_head + k) % e->stack) * frame;
    to_planar(out + (size_t)k * frame, f, W, H);
  }
  return AF_OK;
}

// the goal on its own data: the episode's state copied, posed by the environment, forward,
// rendered from the observation camera; e->d is only read
static void render_goal(af_env *e, void *arg) {
  (void)arg;
  mj_copyData(e->goal_d, e->m, e->d);
  e->def->show_goal(e, e->goal_d);
  mj_forward(e->m, e->goal_d);
  af_render_frame(e->render, e->m, e->goal_d, e->render_camera, NULL, e->goal_frame);
}

// the goal frame after the stack, rendered at the first observation of an episode (or of a
// restored state) and kept for the others; AF_OK or the renderer's error
static int observe_goal(af_env *e, float *out) {
  if (!e->goal_fresh) {
    char what[96];
    snprintf(what, sizeof what, "%s: goal image", e->def->name);
    int rc = mj_guard(e, render_goal, NULL, what, e->err, sizeof e->err);
    if (rc) return rc;
    e->goal_fresh = 1;
  }
  to_planar(out, e->goal_frame, e->spec.pixel_width, e->spec.pixel_height);
  return AF_OK;
}

// the state entries with observation noise on the leading ones (the desired goal, last, stays
// exact), then the stacked frames and the goal frame if any; AF_OK or the renderer's error
static int observe(af_env *e, float *obs, int fresh) {
  if (e->state_dim > 0) {
    if (e->full_state) {
      e->def->observe(e, e->full_state);
      memcpy(obs, e->full_state, (size_t)e->state_dim * sizeof(float));
    } else {
      e->def->observe(e, obs);
    }
    if (e->obs_noise > 0) {
      int n = e->state_dim - (e->spec.desired_offset >= 0 ? e->spec.goal_dim : 0);
      for (int i = 0; i < n; i++) {
        double z = af_rng_normal(&e->noise_rng);
        obs[i] += (float)(e->obs_noise * (e->noise_scale ? e->noise_scale[i] : 1.0) * z);
      }
    }
  }
  if (e->stack > 0) {
    int rc = observe_frames(e, obs + e->state_dim, fresh || e->stack_fresh);
    e->stack_fresh = 0;
    if (rc) return rc;
  }
  // the goal frame last
  if (e->goal_d) return observe_goal(e, obs + e->spec.goal_image_offset);
  return AF_OK;
}

// the body of a reset, under the guard: model, constants, the action pipeline's draws, the
// environment's initial state, forward
static void reset_physics(af_env *e, void *arg) {
  uint64_t seed = *(const uint64_t *)arg;
  // nominal model restored and randomization drawn from the seed alone
  // derived constants follow the drawn masses, and return to nominal after a drawn episode
  e->ep_randomize = e->dr.enabled;
  int physics = af_dr_apply(&e->dr, e->m, e->m0, af_seed_derive(seed, 1));
  mj_resetData(e->m, e->d);
  if (physics || e->const_dirty) mj_setConst(e->m, e->d);
  e->const_dirty = physics;
  e->obs_noise = af_dr_value(&e->dr, "obs_noise", 0, 0);
  e->act_noise = af_dr_value(&e->dr, "act_noise", 0, 0);
  double delay = af_dr_value(&e->dr, "act_delay", 0, 0);
  if (!(e->obs_noise >= 0)) e->obs_noise = 0;  // NaN when the table has no such entry
  if (!(e->act_noise >= 0)) e->act_noise = 0;
  // checked before the conversion: a NaN or out-of-range double has no int value
  e->delay = delay >= 0 && delay <= AF_MAX_DELAY ? (int)delay : 0;
  memset(e->delay_buf, 0, sizeof(float) * (size_t)(AF_MAX_DELAY + 1) * (size_t)e->spec.act_dim);
  af_rng_seed(&e->noise_rng, af_seed_derive(seed, 3));

  // the environment's initial state from its own stream
  af_rng init;
  af_rng_seed(&init, af_seed_derive(seed, 2));
  e->def->reset(e, &init);
  mj_forward(e->m, e->d);
}

int af_env_reset(af_env *e, uint64_t seed, float *obs) {
  e->seed = seed;
  e->need_reset = 1;
  e->t = 0;
  e->ep_return = 0;
  e->err[0] = 0;
  // a MuJoCo error leaves the episode unstarted, and the next reset recomputes the constants
  char what[96];
  snprintf(what, sizeof what, "%s: reset (seed %llu)", e->def->name, (unsigned long long)seed);
  e->started = 0;
  e->goal_fresh = 0;
  if (mj_guard(e, reset_physics, &seed, what, e->err, sizeof e->err)) {
    e->const_dirty = 1;
    return AF_ERR_NUMERIC;
  }
  e->started = 1;
  e->need_reset = 0;
  e->stack_fresh = 1;
  return obs ? observe(e, obs, 1) : AF_OK;
}

// ---- state snapshots: header, common layer, mjData, then the environment's own ----
#define STATE_MAGIC "AFSTATE"  // 8 bytes with its terminator
#define STATE_VERSION 1u
#define STATE_NAME 32
#define STATE_SUMMED 28  // the checksum covers the bytes from here on: magic 8, version 4, size 8, checksum 8
enum { D_MJVER, D_NQ, D_NV, D_NA, D_NU, D_NBODY, D_NMOCAP, D_NUSER, D_NEQ, D_NJNT, D_OBS, D_ACT, D_NDR, D_COUNT };

typedef struct {
  char magic[8];
  uint32_t version;
  uint64_t size, checksum;
  char name[STATE_NAME];
  uint64_t config_hash;
  int32_t dims[D_COUNT];
  uint64_t env_bytes;  // the environment's own section
} state_header;

// FNV-1a, 64 bits
static uint64_t fnv1a(const void *p, size_t n) {
  const unsigned char *b = p;
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

static void walk_header(state_header *h, af_state_io *io) {
  AF_STATE_FIELD(io, h->magic);
  AF_STATE_FIELD(io, h->version);
  AF_STATE_FIELD(io, h->size);
  AF_STATE_FIELD(io, h->checksum);
  AF_STATE_FIELD(io, h->name);
  AF_STATE_FIELD(io, h->config_hash);
  AF_STATE_FIELD(io, h->dims);
  AF_STATE_FIELD(io, h->env_bytes);
}

// the environment's own section, sized by its hook (0 without one)
static size_t env_bytes(const af_env *e) {
  if (!e->def->state) return 0;
  af_state_io io = {NULL, 0, 0, 0};
  e->def->state((af_env *)e, &io);  // sizing reads nothing
  return io.pos;
}

// what this environment expects a snapshot's header to say (size and checksum aside)
static void expected_header(const af_env *e, state_header *h) {
  const mjModel *m = e->m;
  memset(h, 0, sizeof *h);
  memcpy(h->magic, STATE_MAGIC, sizeof h->magic);
  h->version = STATE_VERSION;
  snprintf(h->name, sizeof h->name, "%s", e->def->name);
  h->config_hash = fnv1a(e->cfg_json, strlen(e->cfg_json));
  const int32_t dims[D_COUNT] = {mj_version(), m->nq, m->nv, m->na, m->nu, m->nbody, m->nmocap, m->nuserdata,
                                 m->neq, m->njnt, e->spec.obs_dim, e->spec.act_dim, e->dr.n};
  memcpy(h->dims, dims, sizeof dims);
  h->env_bytes = env_bytes(e);
}

// the common layer's episode state. The seed and the randomization switch of the reset come
// first: loading reads them before it repeats the reset. The draws are checked on loading.
typedef struct { int randomize; int draws_differ; } common_extra;

static void walk_common(af_env *e, af_state_io *io, common_extra *x) {
  AF_STATE_FIELD(io, e->seed);
  AF_STATE_FIELD(io, e->ep_randomize);
  AF_STATE_FIELD(io, x->randomize);
  AF_STATE_FIELD(io, e->t);
  AF_STATE_FIELD(io, e->need_reset);
  AF_STATE_FIELD(io, e->const_dirty);
  AF_STATE_FIELD(io, e->ep_return);
  AF_STATE_FIELD(io, e->noise_rng);
  AF_STATE_FIELD(io, e->obs_noise);
  AF_STATE_FIELD(io, e->act_noise);
  AF_STATE_FIELD(io, e->delay);
  af_state_bytes(io, e->delay_buf, sizeof(float) * (size_t)(AF_MAX_DELAY + 1) * (size_t)e->spec.act_dim);
  // this episode's draws: saved, and on loading compared with the repeated reset's
  for (int i = 0; i < e->dr.n; i++) {
    af_dr_param *p = &e->dr.p[i];
    size_t n = sizeof(double) * (size_t)(p->ntarget * p->dim);
    if (io->load && io->buf && io->pos + n <= io->size && memcmp(io->buf + io->pos, p->draw, n)) x->draws_differ = 1;
    if (io->load) io->pos += n;
    else af_state_bytes(io, p->draw, n);
  }
}

// mjData: every array of MuJoCo's list sized by the model (state, and what the last step
// computed from it), none sized by nconmax or njmax (contacts and constraint rows, which the
// next step recomputes); time, warnings, energy
static void walk_data(af_env *e, af_state_io *io) {
  const mjModel *m = e->m;
  mjData *d = e->d;
  MJDATA_POINTERS_PREAMBLE(m)
  (void)njmax;
#define X(type, name, nr, nc)                                                   \
  if (strcmp(#nr, "njmax") && strcmp(#nr, "nconmax") && !strstr(#nc, "njmax")) \
    af_state_bytes(io, d->name, sizeof(type) * (size_t)m->nr * (size_t)(nc));
  MJDATA_POINTERS
#undef X
  AF_STATE_FIELD(io, d->time);
  AF_STATE_FIELD(io, d->warning);
  AF_STATE_FIELD(io, d->energy);
  if (io->load && io->buf) d->ncon = d->ne = d->nf = d->nefc = 0;
}

static size_t state_size(const af_env *e) {
  state_header h;
  common_extra x = {0, 0};
  af_state_io io = {NULL, 0, 0, 0};
  memset(&h, 0, sizeof h);
  walk_header(&h, &io);
  walk_common((af_env *)e, &io, &x);  // sizing reads nothing
  walk_data((af_env *)e, &io);
  return io.pos + env_bytes(e);
}

size_t af_env_state_size(const af_env *e) { return state_size(e); }

int af_env_get_state(const af_env *env, void *buf, size_t size) {
  // saving walks the same lists as loading, reading the environment only
  af_env *e = (af_env *)env;
  size_t need = state_size(e);
  if (!e->started) {
    snprintf(e->err, sizeof e->err, "%s: no episode to snapshot (reset first)", e->def->name);
    return AF_ERR_STATE;
  }
  if (!buf || size < need) {
    snprintf(e->err, sizeof e->err, "%s: a snapshot needs %zu bytes, the buffer has %zu", e->def->name, need, buf ? size : 0);
    return AF_ERR_ARG;
  }
  state_header h;
  expected_header(e, &h);
  h.size = need;
  common_extra x = {e->dr.enabled, 0};
  af_state_io io = {buf, 0, need, 0};
  walk_header(&h, &io);
  walk_common(e, &io, &x);
  walk_data(e, &io);
  if (e->def->state) {
    int rc = e->def->state(e, &io);
    if (rc) return rc;
  }
  // the checksum of everything after it, written in its place
  h.checksum = fnv1a((unsigned char *)buf + STATE_SUMMED, need - STATE_SUMMED);
  memcpy((unsigned char *)buf + STATE_SUMMED - sizeof h.checksum, &h.checksum, sizeof h.checksum);
  return AF_OK;
}

// the header of a snapshot checked against this environment; AF_ERR_ARG with the reason
static int check_header(af_env *e, const unsigned char *buf, size_t size, size_t need) {
  const char *name = e->def->name;
  state_header h, want;
  if (!buf || size < STATE_SUMMED) {
    snprintf(e->err, sizeof e->err, "%s: snapshot truncated (%zu bytes)", name, buf ? size : 0);
    return AF_ERR_ARG;
  }
  memset(&h, 0, sizeof h);
  af_state_io io = {(unsigned char *)buf, 0, size, 1};
  walk_header(&h, &io);
  if (memcmp(h.magic, STATE_MAGIC, sizeof h.magic)) { snprintf(e->err, sizeof e->err, "%s: not an armfarm snapshot", name); return AF_ERR_ARG; }
  if (h.version != STATE_VERSION) {
    snprintf(e->err, sizeof e->err, "%s: snapshot version %u, this build reads %u", name, (unsigned)h.version, STATE_VERSION);
    return AF_ERR_ARG;
  }
  if (size < h.size || io.pos > size) {
    snprintf(e->err, sizeof e->err, "%s: snapshot truncated (%zu of %llu bytes)", name, size, (unsigned long long)h.size);
    return AF_ERR_ARG;
  }
  if (h.size < STATE_SUMMED || fnv1a(buf + STATE_SUMMED, (size_t)h.size - STATE_SUMMED) != h.checksum) {
    snprintf(e->err, sizeof e->err, "%s: snapshot corrupted (checksum mismatch)", name);
    return AF_ERR_ARG;
  }
  expected_header(e, &want);
  h.name[STATE_NAME - 1] = 0;
  if (strcmp(h.name, want.name)) {
    snprintf(e->err, sizeof e->err, "%s: snapshot of environment '%s'", name, h.name);
    return AF_ERR_ARG;
  }
  if (h.config_hash != want.config_hash) {
    snprintf(e->err, sizeof e->err, "%s: snapshot of another config (make the environment with the snapshot's config)", name);
    return AF_ERR_ARG;
  }
  static const char *dim_names[D_COUNT] = {"MuJoCo version", "nq", "nv", "na", "nu", "nbody", "nmocap", "nuserdata",
                                           "neq", "njnt", "obs_dim", "act_dim", "randomization entries"};
  for (int i = 0; i < D_COUNT; i++)
    if (h.dims[i] != want.dims[i]) {
      snprintf(e->err, sizeof e->err, "%s: snapshot has %s %d, this environment %d", name, dim_names[i], (int)h.dims[i], (int)want.dims[i]);
      return AF_ERR_ARG;
    }
  if (h.size != need || h.env_bytes != want.env_bytes) {
    snprintf(e->err, sizeof e->err, "%s: snapshot of %llu bytes, this environment's are %zu", name, (unsigned long long)h.size, need);
    return AF_ERR_ARG;
  }
  return AF_OK;
}

// the body of a restore, under the guard: the episode's reset repeated from its seed and
// switch, then the common layer, mjData and the environment's own state loaded over it
typedef struct { af_state_io io; common_extra x; int rc; } restore_args;

static void restore_physics(af_env *e, void *arg) {
  restore_args *a = arg;
  size_t start = a->io.pos;
  // the reset's inputs first
  af_state_io peek = a->io;
  AF_STATE_FIELD(&peek, e->seed);
  AF_STATE_FIELD(&peek, e->dr.enabled);
  uint64_t seed = e->seed;
  reset_physics(e, &seed);
  a->io.pos = start;
  walk_common(e, &a->io, &a->x);
  if (a->x.draws_differ) { a->rc = AF_ERR_ARG; return; }
  walk_data(e, &a->io);
  if (e->def->state) a->rc = e->def->state(e, &a->io);
}

int af_env_set_state(af_env *e, const void *buf, size_t size) {
  size_t need = state_size(e);
  int rc = check_header(e, buf, size, need);
  if (rc) return rc;
  // from here on the environment changes: a failure leaves it needing a reset
  int enabled = e->dr.enabled;
  e->goal_fresh = 0;
  restore_args ra = {{(unsigned char *)buf, 0, need, 1}, {enabled, 0}, AF_OK};
  state_header h;
  walk_header(&h, &ra.io);
  char what[96];
  snprintf(what, sizeof what, "%s: set_state", e->def->name);
  e->err[0] = 0;
  rc = mj_guard(e, restore_physics, &ra, what, e->err, sizeof e->err);
  if (rc || ra.rc) {
    if (ra.x.draws_differ)
      snprintf(e->err, sizeof e->err, "%s: set_state: the repeated reset (seed %llu) drew other values than the snapshot's; reset needed",
               e->def->name, (unsigned long long)e->seed);
    e->dr.enabled = enabled;
    e->const_dirty = 1;
    e->need_reset = 1;
    e->started = 0;
    return rc ? rc : ra.rc;
  }
  e->dr.enabled = ra.x.randomize;
  e->started = 1;
  // the frames before the snapshot are not in it: the next observation's stack starts afresh
  e->stack_fresh = 1;
  return AF_OK;
}

// blow-up warnings MuJoCo counts in mjData (it resets the state itself when they fire)
static int bad_count(const mjData *d) {
  return d->warning[mjWARN_BADQPOS].number + d->warning[mjWARN_BADQVEL].number +
         d->warning[mjWARN_BADQACC].number + d->warning[mjWARN_BADCTRL].number;
}

// the physics of one control step; 1 if it diverged (warning, mju_error or non-finite state)
static int physics(af_env *e) {
  const mjModel *m = e->m;
  mjData *d = e->d;
  int before = bad_count(d);
  jmp_buf jb;
  jmp_buf *volatile saved = mj_error_jmp;
  if (setjmp(jb)) {
    mj_error_jmp = saved;
    mj_resetData(m, d);
    return 1;
  }
  mj_error_jmp = &jb;
  if (e->def->physics)
    for (int k = 0; k < e->spec.frame_skip; k++) e->def->physics(e);
  else
    for (int k = 0; k < e->spec.frame_skip; k++) mj_step(m, d);
  mj_error_jmp = saved;
  int bad = bad_count(d) != before;
  for (int i = 0; i < m->nv && !bad; i++) bad = !isfinite(d->qvel[i]) || fabs(d->qvel[i]) > 1e4;
  for (int i = 0; i < m->nq && !bad; i++) bad = !isfinite(d->qpos[i]);
  // MuJoCo resets the state on its own warnings; do the same for what only we detect
  if (bad) mj_resetData(m, d);
  return bad;
}

static void forward(af_env *e, void *arg) {
  (void)arg;
  mj_forward(e->m, e->d);
}

int af_env_step(af_env *e, const float *action, float *obs, float *reward, int *terminated, int *truncated, af_info *info) {
  const int na = e->spec.act_dim;
  if (e->need_reset) {
    snprintf(e->err, sizeof e->err, "%s: step called before reset or after the episode ended", e->def->name);
    return AF_ERR_STATE;
  }
  // refuse non-finite actions before touching anything
  for (int i = 0; i < na; i++) {
    if (!isfinite(action[i])) {
      snprintf(e->err, sizeof e->err, "%s: action[%d] is %s; step refused", e->def->name, i, isnan(action[i]) ? "NaN" : "infinite");
      return AF_ERR_ARG;
    }
  }
  // clip, add actuation noise, delay by k steps
  float *a = e->act_tmp;
  for (int i = 0; i < na; i++) {
    double x = action[i];
    if (e->act_noise > 0) x += e->act_noise * af_rng_normal(&e->noise_rng);
    a[i] = (float)(x < -1 ? -1 : x > 1 ? 1 : x);
  }
  if (e->delay > 0) {
    // delay_buf (AF_MAX_DELAY + 1, na): row 0 the newest action
    memmove(e->delay_buf + na, e->delay_buf, sizeof(float) * (size_t)na * (size_t)e->delay);
    memcpy(e->delay_buf, a, sizeof(float) * (size_t)na);
    a = e->delay_buf + (size_t)na * (size_t)e->delay;
  }
  e->def->act(e, a);

  af_info local;
  if (!info) info = &local;
  memset(info, 0, sizeof *info);
  int diverged = physics(e);
  int success = 0, term = 0;
  float r = 0;
  if (diverged) {
    // the state is not to be trusted: end the episode, count it, observe the reset state
    e->diverged_count++;
    if (mj_guard(e, forward, NULL, e->def->name, e->err, sizeof e->err)) {
      e->need_reset = 1;
      return AF_ERR_NUMERIC;
    }
    snprintf(e->err, sizeof e->err, "%s: physics diverged at step %d (seed %llu)%s%.150s", e->def->name, e->t + 1,
             (unsigned long long)e->seed, mj_last_warning[0] ? ": " : "", mj_last_warning);
  } else {
    r = e->def->reward(e, a, &success, &term);
  }
  e->t++;
  e->ep_return += r;
  int trunc = diverged || (!term && e->t >= e->spec.horizon);
  int orc = obs ? observe(e, obs, 0) : AF_OK;
  *reward = r;
  *terminated = term;
  *truncated = trunc;
  info->success = success;
  info->diverged = diverged;
  if (term || trunc) {
    e->need_reset = 1;
    af_episode *ep = &info->episode;
    ep->ret = (float)e->ep_return;
    ep->length = (float)e->t;
    ep->success = (float)success;
    ep->diverged = (float)diverged;
    if (e->def->metrics) e->def->metrics(e, ep->metrics);
    ep->n = 1;
  }
  return orc;
}

int af_env_end_diverged(af_env *e, float *obs, float *reward, int *terminated, int *truncated, af_info *info) {
  if (e->need_reset) {
    snprintf(e->err, sizeof e->err, "%s: no episode to end (reset first)", e->def->name);
    return AF_ERR_STATE;
  }
  // the episode ends where it is, as a blow-up would end it: truncated, diverged, counted
  af_info local;
  if (!info) info = &local;
  memset(info, 0, sizeof *info);
  e->diverged_count++;
  e->need_reset = 1;
  int orc = obs ? observe(e, obs, 0) : AF_OK;
  *reward = 0;
  *terminated = 0;
  *truncated = 1;
  info->diverged = 1;
  af_episode *ep = &info->episode;
  ep->ret = (float)e->ep_return;
  ep->length = (float)e->t;
  ep->diverged = 1;
  if (e->def->metrics) e->def->metrics(e, ep->metrics);
  ep->n = 1;
  return orc;
}

float af_env_compute_reward(const af_env *e, const float *achieved, const float *desired) {
  return e->def->goal_reward ? e->def->goal_reward(e, achieved, desired) : 0.0f;
}

// a solved state for success examples, under the guard
typedef struct { af_rng *rng; } solve_args;

static void solve(af_env *e, void *arg) {
  e->def->solve(e, ((solve_args *)arg)->rng, e->hold);
  mj_forward(e->m, e->d);
}

int af_env_success_examples(af_env *e, uint64_t seed, int count, float *obs) {
  if (!e->def->solve) {
    snprintf(e->err, sizeof e->err, "%s cannot produce success examples", e->def->name);
    return AF_ERR_UNSUP;
  }
  const int na = e->spec.act_dim, settle = (int)ceil(e->spec.control_hz);
  float *hold = e->hold, r;
  int te, tr, success = 0, rc;
  af_info info;
  for (int k = 0; k < count; k++) {
    // a few draws per example: a solved state that does not stay solved is drawn again
    int tries = 0;
    for (;; tries++) {
      if (tries == 20) {
        snprintf(e->err, sizeof e->err, "%s: example %d: the solved state did not stay successful in 20 draws", e->def->name, k);
        return AF_ERR_STATE;
      }
      uint64_t s = af_seed_derive(af_seed_derive(seed, 0xE8A3), (uint64_t)(k * 64 + tries));
      if ((rc = af_env_reset(e, s, NULL))) return rc;
      af_rng rng;
      af_rng_seed(&rng, af_seed_derive(s, 4));
      for (int i = 0; i < na; i++) hold[i] = 0;
      solve_args sa = {&rng};
      char what[96];
      snprintf(what, sizeof what, "%s: example %d: solve", e->def->name, k);
      if ((rc = mj_guard(e, solve, &sa, what, e->err, sizeof e->err))) { e->need_reset = 1; return rc; }
      // a delayed actuator has been holding already
      for (int j = 0; j <= e->delay; j++) memcpy(e->delay_buf + (size_t)j * na, hold, sizeof(float) * (size_t)na);
      // settle with the solver's holding action
      memset(&info, 0, sizeof info);
      for (int t = 0; t < settle && !e->need_reset; t++)
        if ((rc = af_env_step(e, hold, NULL, &r, &te, &tr, &info))) { e->need_reset = 1; return rc; }
      success = info.success && !info.diverged;
      if (success) break;
    }
    // an example is one state: its stack (if any) is its frame repeated
    if ((rc = observe(e, obs + (size_t)k * e->spec.obs_dim, 1))) { e->need_reset = 1; return rc; }
  }
  e->need_reset = 1;
  return AF_OK;
}

// the optional hooks, under the guard
typedef struct { double level; float *action; int rc; } hook_args;

static void difficulty(af_env *e, void *arg) {
  hook_args *a = arg;
  a->rc = e->def->set_difficulty(e, a->level);
}

static void scripted(af_env *e, void *arg) {
  hook_args *a = arg;
  a->rc = e->def->scripted(e, a->action);
}

int af_env_set_difficulty(af_env *e, double level) {
  if (!e->def->set_difficulty) {
    snprintf(e->err, sizeof e->err, "%s has no difficulty levels", e->def->name);
    return AF_ERR_UNSUP;
  }
  if (!(level <= 1)) {
    snprintf(e->err, sizeof e->err, "%s: difficulty %g is out of range [0, 1] (negative: draw it)", e->def->name, level);
    return AF_ERR_ARG;
  }
  hook_args ha = {level, NULL, AF_OK};
  int rc = mj_guard(e, difficulty, &ha, e->def->name, e->err, sizeof e->err);
  return rc ? rc : ha.rc;
}

int af_env_scripted_action(af_env *e, float *action) {
  if (!e->def->scripted) {
    snprintf(e->err, sizeof e->err, "%s has no scripted controller", e->def->name);
    return AF_ERR_UNSUP;
  }
  hook_args ha = {0, action, AF_OK};
  int rc = mj_guard(e, scripted, &ha, e->def->name, e->err, sizeof e->err);
  return rc ? rc : ha.rc;
}

int af_env_describe(FILE *f, const char *name, int verbose) {
  char err[256];
  af_env *e = af_env_make(name, NULL, err, sizeof err);
  if (!e) { fprintf(stderr, "armfarm: %s\n", err); return -1; }
  const af_env_spec *s = &e->spec;
  fprintf(f, "%s: %s\n", s->name, e->def->description);
  fprintf(f, "  observation %d floats, action %d in [-1, 1]", s->obs_dim, s->act_dim);
  if (s->proprio_dim > 0) fprintf(f, ", the first %d the robot's own (obs proprio+pixels keeps them)", s->proprio_dim);
  if (s->goal_dim) fprintf(f, ", goal %d (achieved at obs[%d], desired at obs[%d])", s->goal_dim, s->achieved_offset, s->desired_offset);
  fprintf(f, "\n  control %g Hz (%d x %g s physics steps), horizon %d steps\n", s->control_hz, s->frame_skip, s->timestep, s->horizon);
  fprintf(f, "  success: %s\n  reward: %s\n", s->success, s->reward);
  if (verbose) {
    fprintf(f, "  config keys:\n");
    // the shared keys with this environment's defaults
    af_param common[N_COMMON];
    memcpy(common, common_params, sizeof common);
    common[0].def = e->def->horizon;
    common[1].def = e->def->control_hz;
    af_params_print(f, common, N_COMMON, "    ");
    af_params_print(f, e->def->params, e->def->nparams, "    ");
    fprintf(f, "    %-18s   on: physics visual actuation; off: sensor. {\"enabled\": bool, \"eval\": bool, GROUP: bool, NAME: [lo, hi] | {\"train\": [..], \"eval\": [..]}}\n", "randomize");
    fprintf(f, "  randomization table:\n");
    af_dr_print(f, &e->dr);
    if (s->n_metrics) {
      fprintf(f, "  episode metrics:");
      for (int i = 0; i < s->n_metrics; i++) fprintf(f, " %s", s->metric_names[i]);
      fprintf(f, "\n");
    }
  }
  af_env_free(e);
  return 0;
}
