// armfarm view and armfarm record: watch a policy act in a window, or record it to an MP4
// (ffmpeg fed raw frames over a pipe) or a folder of PNG frames. The policy is a training
// checkpoint (its run's config.json gives the agent and environment settings), or random,
// zero or the environment's scripted controller.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <GLFW/glfw3.h>
#include <cjson/cJSON.h>
#include <mujoco/mujoco.h>
#include "agents/agent.h"
#include "base/rng.h"
#include "envs/render.h"
#include "experiments/cli.h"

// ---- the policy being watched ----
typedef struct {
  int kind;  // 0 random, 1 zero, 2 scripted, 3 checkpoint
  af_agent *ag;
  af_rng rng;
} policy;

// the options view and record share: what to watch and in which environment
typedef struct {
  const char *env_name, *pol, *ckpt;
  long seed;
  char **sets;  // the --set values (argc entries)
  int nsets;
} watch_opts;

// --set edits on top of the environment config (*cfg may be NULL: an empty one)
static int apply_sets(char **cfg, char **sets, int nsets, char *err, size_t errsz) {
  if (!nsets) return 0;
  cJSON *c = *cfg ? cJSON_Parse(*cfg) : cJSON_CreateObject();
  for (int i = 0; i < nsets; i++) {
    char *eq = strchr(sets[i], '=');
    if (!eq) { snprintf(err, errsz, "--set expects key=value, got '%s'", sets[i]); cJSON_Delete(c); return -1; }
    *eq = 0;
    int bad = af_json_set_path(c, sets[i], eq + 1, err, errsz);
    *eq = '=';
    if (bad) { cJSON_Delete(c); return -1; }
  }
  free(*cfg);
  *cfg = cJSON_PrintUnformatted(c);
  cJSON_Delete(c);
  return 0;
}

// the fixed policy named by --policy (default: scripted when the environment has one)
static int choose_policy(af_env *env, const char *env_name, const char *pol, policy *p, char *err, size_t errsz) {
  if (!pol || !strcmp(pol, "scripted")) {
    float *probe = calloc((size_t)af_env_get_spec(env)->act_dim + 1, sizeof *probe);
    p->kind = probe && af_env_scripted_action(env, probe) == AF_OK ? 2 : 0;
    free(probe);
    if (pol && p->kind != 2) { snprintf(err, errsz, "%s has no scripted controller (use random or zero)", env_name); return -1; }
  } else if (!strcmp(pol, "random")) p->kind = 0;
  else if (!strcmp(pol, "zero")) p->kind = 1;
  else { snprintf(err, errsz, "unknown policy '%s' (random, zero or scripted)", pol); return -1; }
  return 0;
}

// the environment and policy from the options; the checkpoint's run folder supplies the
// environment config and the agent's hyperparameters
static int setup(const watch_opts *o, af_env **env, policy *p, char *err, size_t errsz) {
  memset(p, 0, sizeof *p);
  af_rng_seed(&p->rng, 0xF1E);
  *env = NULL;
  af_run_config rc = {0};
  if (o->ckpt && af_cli_read_run_config(o->ckpt, &rc, err, errsz)) return -1;
  const char *env_name = o->env_name ? o->env_name : rc.env_name;
  int bad = 0;
  if (!env_name) { snprintf(err, errsz, "--env NAME (or --checkpoint) is required"); bad = 1; }
  // the environment, then the checkpoint's agent or a fixed policy
  else if (apply_sets(&rc.env_cfg, o->sets, o->nsets, err, errsz) || !(*env = af_env_make(env_name, rc.env_cfg, err, errsz))) bad = 1;
  else if (o->ckpt) {
    p->kind = 3;
    p->ag = af_agent_make(rc.agent_name, rc.agent_cfg, &(af_agent_setup){.spec = af_env_get_spec(*env), .num_envs = 1, .env = *env}, err, errsz);
    bad = !p->ag || af_agent_load(p->ag, o->ckpt, err, errsz);
  } else bad = choose_policy(*env, env_name, o->pol, p, err, errsz) != 0;
  if (bad) { af_agent_free(p->ag); p->ag = NULL; af_env_free(*env); *env = NULL; }
  af_cli_run_config_free(&rc);
  return bad ? -1 : 0;
}

static void act(policy *p, af_env *e, const float *obs, float *a) {
  int n = af_env_get_spec(e)->act_dim;
  // a policy that fails gives no action: NaN ends the episode as diverged (step_or_end)
  int rc = AF_OK;
  if (p->kind == 3) rc = af_agent_act(p->ag, a, obs, 1, 1);
  else if (p->kind == 2) rc = af_env_scripted_action(e, a);
  if (rc != AF_OK)
    for (int i = 0; i < n; i++) a[i] = NAN;
  if (p->kind >= 2) return;
  for (int i = 0; i < n; i++) a[i] = p->kind == 0 ? (float)af_rng_range(&p->rng, -1, 1) : 0.0f;
}

// the environment's data for MuJoCo's scene update, which takes it non-const for its scratch
// stack only (see af_env_data)
static mjData *scene_data(const af_env *e) { return (mjData *)af_env_data(e); }

// the overlay: step, return, success, speed, and this episode's randomization draws
static void overlay_text(char *buf, size_t n, af_env *e, int t, double ret, int success, double fps, int show_dr) {
  snprintf(buf, n, "step\t%d\nreturn\t%.2f\nsuccess\t%s\nframes/s\t%.0f", t, ret, success ? "yes" : "no", fps);
  if (!show_dr) return;
  const char *name;
  int active, count;
  double first;
  for (int i = 0; (name = af_env_randomization_param(e, i, &active, &first, &count)) && strlen(buf) < n - 200; i++) {
    if (!active) continue;
    snprintf(buf + strlen(buf), n - strlen(buf), "\n%s\t%.3g%s", name, first, count > 1 ? " ..." : "");
  }
}

// ---- the viewer ----
typedef struct {
  mjvCamera cam;
  int paused, step_once, reset, redraw, toggle_dr, cycle_cam, help;
  double speed;
  int button_left, button_right;
  double lastx, lasty;
  const mjModel *m;
  mjvScene *scn;
} view_state;

static view_state *vs;

static void on_key(GLFWwindow *w, int key, int sc, int action, int mods) {
  (void)w; (void)sc; (void)mods;
  if (action != GLFW_PRESS && action != GLFW_REPEAT) return;
  switch (key) {
    case GLFW_KEY_SPACE: vs->paused = !vs->paused; break;
    case GLFW_KEY_RIGHT: vs->step_once = 1; break;
    case GLFW_KEY_BACKSPACE: vs->reset = 1; break;
    case GLFW_KEY_R: vs->redraw = 1; break;
    case GLFW_KEY_D: vs->toggle_dr = 1; break;
    case GLFW_KEY_C: vs->cycle_cam = 1; break;
    case GLFW_KEY_H: vs->help = !vs->help; break;
    case GLFW_KEY_LEFT_BRACKET: vs->speed = fmax(0.0625, vs->speed / 2); break;
    case GLFW_KEY_RIGHT_BRACKET: vs->speed = fmin(16, vs->speed * 2); break;
    case GLFW_KEY_ESCAPE: glfwSetWindowShouldClose(w, 1); break;
    default: break;
  }
}

static void on_button(GLFWwindow *w, int button, int action, int mods) {
  (void)mods;
  vs->button_left = glfwGetMouseButton(w, GLFW_MOUSE_BUTTON_LEFT) == GLFW_PRESS;
  vs->button_right = glfwGetMouseButton(w, GLFW_MOUSE_BUTTON_RIGHT) == GLFW_PRESS;
  glfwGetCursorPos(w, &vs->lastx, &vs->lasty);
  (void)button; (void)action;
}

static void on_move(GLFWwindow *w, double x, double y) {
  if (!vs->button_left && !vs->button_right) return;
  double dx = x - vs->lastx, dy = y - vs->lasty;
  vs->lastx = x;
  vs->lasty = y;
  int width, height;
  glfwGetWindowSize(w, &width, &height);
  int action = vs->button_right ? mjMOUSE_MOVE_V : mjMOUSE_ROTATE_V;
  mjv_moveCamera(vs->m, action, dx / height, dy / height, vs->scn, &vs->cam);
}

static void on_scroll(GLFWwindow *w, double xo, double yo) {
  (void)w; (void)xo;
  mjv_moveCamera(vs->m, mjMOUSE_ZOOM, 0, -0.05 * yo, vs->scn, &vs->cam);
}

static const char *help_text =
    "space\tpause\nright\tone step\nbackspace\treset, new seed\nR\tredraw randomization\nD\ttoggle randomization\n"
    "C\tcycle cameras\n[ ]\tslower, faster\nH\tthis help\nmouse\tleft rotate, right move, wheel zoom\nescape\tquit";

static void view_usage(FILE *f) {
  fprintf(f, "usage: armfarm view --env NAME [--checkpoint PATH | --policy random|zero|scripted] [--seed S] [--set key=value]...\n"
             "                    [--frames N --screenshot FILE.png]\n"
             "  a window with the scene; mouse: left rotate, right move, wheel zoom; keys: space pause, right step,\n"
             "  backspace reset (new seed), R redraw randomization, D toggle randomization, C cycle cameras,\n"
             "  [ and ] slower or faster, H help, escape quit. --frames N --screenshot renders N frames, saves\n"
             "  the last one and exits. Needs a display (or xvfb-run -a armfarm view ...).\n");
}

// the options of armfarm view
typedef struct {
  watch_opts w;
  const char *shot;  // --screenshot FILE.png after --frames N, else NULL
  long frames;
} view_opts;

// the options into o; AF_CLI_GO_ON, or the exit code to stop with
static int parse_view_opts(int argc, char **argv, view_opts *o) {
  *o = (view_opts){.frames = -1, .w.sets = calloc((size_t)argc + 1, sizeof(char *))};
  if (!o->w.sets) { fprintf(stderr, "armfarm view: out of memory\n"); return AF_EXIT_FAIL; }
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) { view_usage(stdout); return AF_EXIT_OK; }
    int takes = !strcmp(opt, "--env") || !strcmp(opt, "--policy") || !strcmp(opt, "--checkpoint") || !strcmp(opt, "--frames") ||
                !strcmp(opt, "--screenshot") || !strcmp(opt, "--set") || !strcmp(opt, "--seed");
    if (!takes) { fprintf(stderr, "armfarm view: unknown option '%s' (try --help)\n", opt); return AF_EXIT_USAGE; }
    if (!v) { fprintf(stderr, "armfarm view: %s needs a value\n", opt); return AF_EXIT_USAGE; }
    i++;
    if (!strcmp(opt, "--env")) o->w.env_name = v;
    else if (!strcmp(opt, "--policy")) o->w.pol = v;
    else if (!strcmp(opt, "--checkpoint")) o->w.ckpt = v;
    else if (!strcmp(opt, "--screenshot")) o->shot = v;
    else if (!strcmp(opt, "--set")) o->w.sets[o->w.nsets++] = (char *)v;
    else if (!strcmp(opt, "--seed")) { if ((o->w.seed = af_cli_long(opt, v, 0, 2147483647)) < 0) return AF_EXIT_USAGE; }
    else if ((o->frames = af_cli_long(opt, v, 1, 100000000)) < 0) return AF_EXIT_USAGE;
  }
  if ((o->shot != NULL) != (o->frames > 0)) { fprintf(stderr, "armfarm view: --frames and --screenshot go together\n"); return AF_EXIT_USAGE; }
  return AF_CLI_GO_ON;
}

// the window and what draws into it
typedef struct {
  GLFWwindow *win;
  mjvScene scn;
  mjrContext con;
  mjvOption opt;
  af_hfield_sync hf;  // height fields as last uploaded to con
} viewer;

// a window on the environment's scene with the mouse and key callbacks; the display is
// checked here, with the same message as the renderer's
static int open_viewer(viewer *v, af_env *e, int fast) {
  static view_state st;
  if (!glfwInit()) {
    fprintf(stderr, "armfarm view: cannot open a display%s: run under Xvfb (xvfb-run -a armfarm view ...) or set DISPLAY\n",
            getenv("DISPLAY") ? "" : " (DISPLAY is not set)");
    return AF_EXIT_FAIL;
  }
  if (!(v->win = glfwCreateWindow(960, 640, "armfarm", NULL, NULL))) { fprintf(stderr, "armfarm view: cannot create a window\n"); return AF_EXIT_FAIL; }
  glfwMakeContextCurrent(v->win);
  glfwSwapInterval(fast ? 0 : 1);
  // the scene, the context and a camera on the model's first one (or looking at its centre)
  vs = &st;
  mjv_defaultScene(&v->scn);
  mjr_defaultContext(&v->con);
  mjv_defaultOption(&v->opt);
  mjv_defaultCamera(&st.cam);
  mjv_makeScene(af_env_model(e), &v->scn, 4000);
  mjr_makeContext(af_env_model(e), &v->con, mjFONTSCALE_150);
  // height fields follow the model: a reset may rewrite the ground after this upload (when
  // out of memory here, the first upload finds no copy and sends every height field)
  af_hfield_sync_init(&v->hf, af_env_model(e));
  st.m = af_env_model(e);
  st.scn = &v->scn;
  st.speed = 1;
  st.cam.type = af_env_model(e)->ncam > 0 ? mjCAMERA_FIXED : mjCAMERA_FREE;
  st.cam.fixedcamid = 0;
  for (int k = 0; k < 3; k++) st.cam.lookat[k] = af_env_model(e)->stat.center[k];
  st.cam.distance = 1.5 * af_env_model(e)->stat.extent;
  glfwSetKeyCallback(v->win, on_key);
  glfwSetMouseButtonCallback(v->win, on_button);
  glfwSetCursorPosCallback(v->win, on_move);
  glfwSetScrollCallback(v->win, on_scroll);
  return AF_EXIT_OK;
}

// no glfwTerminate: it unloads the OpenGL driver, whose lifetime allocations would then be
// reported as leaks from unknown modules; the process ends soon anyway
static void close_viewer(viewer *v) {
  af_hfield_sync_free(&v->hf);
  mjr_freeContext(&v->con);
  mjv_freeScene(&v->scn);
  glfwDestroyWindow(v->win);
}

// the episode being watched
typedef struct {
  float *obs, *a, r;
  int te, tr, t, success;
  double ret;
  uint64_t seed;
} episode;

// one step; a non-finite action (a policy gone NaN) ends the episode as diverged instead of
// being refused for ever. The code of the step, or of ending it
static int step_or_end(af_env *e, const float *a, float *obs, float *r, int *te, int *tr, af_info *info) {
  int rc = af_env_step(e, a, obs, r, te, tr, info);
  return rc == AF_ERR_ARG ? af_env_end_diverged(e, obs, r, te, tr, info) : rc;
}

static void episode_reset(af_env *e, episode *ep, uint64_t seed) {
  ep->seed = seed;
  int rc = af_env_reset(e, seed, ep->obs);
  if (rc) fprintf(stderr, "armfarm view: %s\n", af_env_last_error(e));
  ep->t = 0;
  ep->ret = 0;
  // a reset that failed leaves nothing to step: the next step due tries the next seed
  ep->te = ep->tr = rc != 0;
}

// keys: new episodes, randomization, cameras
static void handle_keys(af_env *e, episode *ep) {
  view_state *st = vs;
  if (st->reset || st->redraw || st->toggle_dr) {
    if (st->toggle_dr) af_env_set_randomize(e, !af_env_randomize_enabled(e));
    uint64_t seed = st->reset || st->redraw ? ep->seed + 1 : ep->seed;
    st->reset = st->redraw = st->toggle_dr = 0;
    episode_reset(e, ep, seed);
  }
  if (st->cycle_cam) {
    st->cycle_cam = 0;
    if (st->cam.type == mjCAMERA_FREE && af_env_model(e)->ncam > 0) { st->cam.type = mjCAMERA_FIXED; st->cam.fixedcamid = 0; }
    else if (st->cam.type == mjCAMERA_FIXED && st->cam.fixedcamid + 1 < af_env_model(e)->ncam) st->cam.fixedcamid++;
    else st->cam.type = mjCAMERA_FREE;
  }
}

// one control step when due (or every frame when taking a screenshot)
static void step_when_due(af_env *e, policy *p, episode *ep, int every_frame, double *next_step) {
  if (!(every_frame || (!vs->paused && af_now() >= *next_step) || vs->step_once)) return;
  vs->step_once = 0;
  *next_step = af_now() + 1.0 / (af_env_get_spec(e)->control_hz * vs->speed);
  if (ep->te || ep->tr) episode_reset(e, ep, ep->seed + 1);
  act(p, e, ep->obs, ep->a);
  af_info info = {0};
  if (step_or_end(e, ep->a, ep->obs, &ep->r, &ep->te, &ep->tr, &info)) {
    fprintf(stderr, "armfarm view: %s\n", af_env_last_error(e));
    ep->te = 1;  // the episode cannot go on: the next step due starts another
  }
  ep->t++;
  ep->ret += ep->r;
  ep->success = info.success;
}

// the scene and the overlay (help, or step, return, success, speed and randomization draws)
static mjrRect draw(viewer *v, af_env *e, const episode *ep, double fps) {
  int w, h;
  glfwGetFramebufferSize(v->win, &w, &h);
  mjrRect vp = {0, 0, w, h};
  af_hfield_sync_upload(&v->hf, af_env_model(e), &v->con);
  mjv_updateScene(af_env_model(e), scene_data(e), &v->opt, NULL, &vs->cam, mjCAT_ALL, &v->scn);
  mjr_render(vp, &v->scn, &v->con);
  char text[4096], left[4096] = "", right[4096] = "";
  if (vs->help) snprintf(text, sizeof text, "%s", help_text);
  else overlay_text(text, sizeof text, e, ep->t, ep->ret, ep->success, fps, 1);
  // "name\tvalue" lines into a left and a right column
  for (const char *q = text; *q;) {
    const char *nl = strchr(q, '\n'), *end = nl ? nl : q + strlen(q), *tab = memchr(q, '\t', (size_t)(end - q));
    snprintf(left + strlen(left), sizeof left - strlen(left), "%.*s\n", (int)((tab ? tab : end) - q), q);
    snprintf(right + strlen(right), sizeof right - strlen(right), "%.*s\n", tab ? (int)(end - tab - 1) : 0, tab ? tab + 1 : "");
    q = nl ? nl + 1 : end;
  }
  mjr_overlay(mjFONT_NORMAL, mjGRID_TOPLEFT, vp, left, right, &v->con);
  return vp;
}

// the frame just drawn, read back before it is shown, into a PNG; the exit code
static int save_screenshot(viewer *v, mjrRect vp, const char *shot, long frames, const char *env) {
  int w = vp.width, h = vp.height;
  unsigned char *rows = malloc((size_t)w * h * 3), *img = malloc((size_t)w * h * 3);
  int bad = !rows || !img;
  if (!bad) {
    mjr_readPixels(rows, NULL, vp, &v->con);
    for (int y = 0; y < h; y++) memcpy(img + (size_t)y * w * 3, rows + (size_t)(h - 1 - y) * w * 3, (size_t)w * 3);
    bad = af_write_png(shot, img, w, h);
  }
  free(rows);
  free(img);
  if (bad) { fprintf(stderr, "armfarm view: cannot write %s\n", shot); return AF_EXIT_FAIL; }
  printf("%ld frames of %s; the last one in %s (%dx%d)\n", frames, env, shot, w, h);
  return AF_EXIT_OK;
}

// frames until the window closes, or until the screenshot; the exit code
static int view_loop(viewer *v, af_env *e, policy *p, const view_opts *o) {
  const af_env_spec *s = af_env_get_spec(e);
  episode ep = {.obs = calloc((size_t)s->obs_dim, sizeof(float)), .a = calloc((size_t)s->act_dim, sizeof(float))};
  if (!ep.obs || !ep.a) { free(ep.obs); free(ep.a); fprintf(stderr, "armfarm view: out of memory\n"); return AF_EXIT_FAIL; }
  int rc = AF_EXIT_USAGE;
  double fps = 0, last_frame = af_now(), next_step = af_now();
  episode_reset(e, &ep, (uint64_t)o->w.seed);
  for (long frame = 0; !glfwWindowShouldClose(v->win); frame++) {
    // keys, a step, a frame; the screenshot ends it
    handle_keys(e, &ep);
    step_when_due(e, p, &ep, o->shot != NULL, &next_step);
    double now = af_now();
    fps = 0.9 * fps + 0.1 / fmax(1e-6, now - last_frame);
    last_frame = now;
    mjrRect vp = draw(v, e, &ep, fps);
    if (o->shot && frame + 1 >= o->frames) { rc = save_screenshot(v, vp, o->shot, o->frames, s->name); break; }
    glfwSwapBuffers(v->win);
    glfwPollEvents();
    rc = AF_EXIT_OK;
  }
  free(ep.obs);
  free(ep.a);
  return rc;
}

// the environment and policy, a window, the frames; the exit code
static int view(const view_opts *o) {
  char err[512];
  af_env *e;
  policy p;
  if (setup(&o->w, &e, &p, err, sizeof err)) { fprintf(stderr, "armfarm view: %s\n", err); return AF_EXIT_USAGE; }
  viewer v;
  int rc = open_viewer(&v, e, o->shot != NULL);
  if (rc == AF_EXIT_OK) {
    rc = view_loop(&v, e, &p, o);
    close_viewer(&v);
  }
  af_agent_free(p.ag);
  af_env_free(e);
  return rc;
}

int af_cmd_view(int argc, char **argv) {
  view_opts o;
  int rc = parse_view_opts(argc, argv, &o);
  if (rc == AF_CLI_GO_ON) rc = view(&o);
  free(o.w.sets);
  return rc;
}

// ---- recording ----
static void record_usage(FILE *f) {
  fprintf(f, "usage: armfarm record --env NAME [--checkpoint PATH | --policy random|zero|scripted] --episodes N --out FILE\n"
             "                      [--seed S] [--width W] [--height H] [--camera NAME] [--overlay] [--set key=value]...\n"
             "  FILE.mp4: H.264 through ffmpeg (raw frames over a pipe); any other FILE: a folder of PNG frames.\n"
             "  One frame per control step, at the control rate; multisampling and shadows on. Needs a display or Xvfb.\n");
}

// the options of armfarm record
typedef struct {
  watch_opts w;
  const char *out, *camera;  // FILE.mp4 or a folder of PNG frames; a camera name or NULL
  long episodes, width, height;
  int overlay;
} record_opts;

// the options into o; AF_CLI_GO_ON, or the exit code to stop with
static int parse_record_opts(int argc, char **argv, record_opts *o) {
  *o = (record_opts){.episodes = 1, .width = 640, .height = 480, .w.sets = calloc((size_t)argc + 1, sizeof(char *))};
  if (!o->w.sets) { fprintf(stderr, "armfarm record: out of memory\n"); return AF_EXIT_FAIL; }
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) { record_usage(stdout); return AF_EXIT_OK; }
    if (!strcmp(opt, "--overlay")) { o->overlay = 1; continue; }
    int takes = !strcmp(opt, "--env") || !strcmp(opt, "--policy") || !strcmp(opt, "--checkpoint") || !strcmp(opt, "--episodes") ||
                !strcmp(opt, "--out") || !strcmp(opt, "--seed") || !strcmp(opt, "--width") || !strcmp(opt, "--height") ||
                !strcmp(opt, "--camera") || !strcmp(opt, "--set");
    if (!takes) { fprintf(stderr, "armfarm record: unknown option '%s' (try --help)\n", opt); return AF_EXIT_USAGE; }
    if (!v) { fprintf(stderr, "armfarm record: %s needs a value\n", opt); return AF_EXIT_USAGE; }
    i++;
    long x = 0;
    if (!strcmp(opt, "--env")) o->w.env_name = v;
    else if (!strcmp(opt, "--policy")) o->w.pol = v;
    else if (!strcmp(opt, "--checkpoint")) o->w.ckpt = v;
    else if (!strcmp(opt, "--out")) o->out = v;
    else if (!strcmp(opt, "--camera")) o->camera = v;
    else if (!strcmp(opt, "--set")) o->w.sets[o->w.nsets++] = (char *)v;
    else if ((x = af_cli_long(opt, v, 0, 100000000)) < 0) return AF_EXIT_USAGE;
    else if (!strcmp(opt, "--episodes")) o->episodes = x;
    else if (!strcmp(opt, "--seed")) o->w.seed = x;
    else if (!strcmp(opt, "--width")) o->width = x;
    else o->height = x;
  }
  if (!o->out) { fprintf(stderr, "armfarm record: --out FILE is required (FILE.mp4, or a folder for PNG frames)\n"); return AF_EXIT_USAGE; }
  if (o->episodes < 1 || o->width < 16 || o->height < 16 || o->width > 4096 || o->height > 4096 || (o->width % 2) || (o->height % 2)) {
    fprintf(stderr, "armfarm record: --episodes >= 1 and an even --width/--height in [16, 4096]\n");
    return AF_EXIT_USAGE;
  }
  return AF_CLI_GO_ON;
}

// where the frames go: ffmpeg's stdin for FILE.mp4, else PNG files in a folder
typedef struct {
  const char *out;
  int mp4;
  FILE *pipe;
  pid_t ffmpeg;
  long width, height, frame;  // frame: frames written so far
} frame_sink;

// ffmpeg reading raw frames on stdin into exactly the file `out` (no shell: "file:" keeps a
// name that looks like an option or a protocol a plain file); the stream, or NULL after a message
static FILE *start_ffmpeg(const record_opts *o, double hz, pid_t *pid) {
  char *size = af_strfmt("%ldx%ld", o->width, o->height), *rate = af_strfmt("%g", hz), *target = af_strfmt("file:%s", o->out);
  char err[512] = "out of memory";
  FILE *f = NULL;
  if (size && rate && target) {
    char *argv[] = {"ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size, "-r", rate, "-i", "-",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mp4", target, NULL};
    f = af_spawn_pipe(argv, "w", NULL, pid, err, sizeof err);
  }
  if (!f) fprintf(stderr, "armfarm record: %s (install ffmpeg, or give a folder for PNG frames)\n", err);
  free(size);
  free(rate);
  free(target);
  return f;
}

// the sink opened: ffmpeg started, or the folder made; the exit code
static int open_sink(frame_sink *k, const record_opts *o, double hz) {
  size_t n = strlen(o->out);
  *k = (frame_sink){.out = o->out, .mp4 = n > 4 && !strcmp(o->out + n - 4, ".mp4"), .width = o->width, .height = o->height};
  if (k->mp4) {
    if (!(k->pipe = start_ffmpeg(o, hz, &k->ffmpeg))) return AF_EXIT_FAIL;
  } else if (mkdir(o->out, 0755) && errno != EEXIST) {
    fprintf(stderr, "armfarm record: cannot create %s\n", o->out);
    return AF_EXIT_FAIL;
  }
  return AF_EXIT_OK;
}

// one frame into the sink; 1 when it was written
static int write_frame(frame_sink *k, const unsigned char *img) {
  size_t bytes = (size_t)k->width * k->height * 3;
  int ok;
  if (k->mp4) ok = fwrite(img, 1, bytes, k->pipe) == bytes;
  else {
    char *path = af_strfmt("%s/frame_%06ld.png", k->out, k->frame);
    ok = path && af_write_png(path, img, (int)k->width, (int)k->height) == 0;
    free(path);
  }
  k->frame++;
  return ok;
}

// ffmpeg's end; 1 when everything was written
static int close_sink(frame_sink *k, int ok) {
  if (!k->pipe) return ok;
  int code = af_spawn_close(k->pipe, k->ffmpeg);
  k->pipe = NULL;
  return ok && code == 0;
}

// every episode: one frame at its reset and one after each control step; 1 when all were written
static int record_episodes(af_env *e, policy *p, af_render *rd, int cam, const record_opts *o, frame_sink *k, unsigned char *img) {
  const af_env_spec *s = af_env_get_spec(e);
  float *obs = calloc((size_t)s->obs_dim, sizeof *obs), *a = calloc((size_t)s->act_dim, sizeof *a), r;
  int ok = obs && a && img;
  char text[4096];
  af_info info;
  for (long ep = 0; ep < o->episodes && ok; ep++) {
    if (af_env_reset(e, af_seed_derive((uint64_t)o->w.seed, (uint64_t)ep), obs)) {
      fprintf(stderr, "armfarm record: %s\n", af_env_last_error(e));
      ok = 0;
      break;
    }
    int te = 0, tr = 0, t = 0, success = 0;
    double ret = 0;
    for (;;) {
      overlay_text(text, sizeof text, e, t, ret, success, s->control_hz, 0);
      af_render_frame(rd, af_env_model(e), scene_data(e), cam, o->overlay ? text : NULL, img);
      ok = write_frame(k, img);
      if (!ok || te || tr) break;
      act(p, e, obs, a);
      if (step_or_end(e, a, obs, &r, &te, &tr, &info)) {
        fprintf(stderr, "armfarm record: %s\n", af_env_last_error(e));
        ok = 0;
        break;
      }
      ret += r;
      t++;
      success = info.success;
    }
  }
  free(obs);
  free(a);
  return ok;
}

// the environment and policy, the camera, the renderer and the sink, then the episodes; the exit code
static int record(const record_opts *o) {
  char err[512];
  af_env *e;
  policy p;
  if (setup(&o->w, &e, &p, err, sizeof err)) { fprintf(stderr, "armfarm record: %s\n", err); return AF_EXIT_USAGE; }
  const af_env_spec *s = af_env_get_spec(e);
  int cam = o->camera ? mj_name2id(af_env_model(e), mjOBJ_CAMERA, o->camera) : (af_env_model(e)->ncam > 0 ? 0 : -1);
  af_render *rd = NULL;
  frame_sink k = {0};
  int rc = AF_EXIT_FAIL;
  if (o->camera && cam < 0) { fprintf(stderr, "armfarm record: no camera named '%s'\n", o->camera); rc = AF_EXIT_USAGE; }
  else if (!(rd = af_render_make(af_env_model(e), (int)o->width, (int)o->height, 4, 1, err, sizeof err))) fprintf(stderr, "armfarm record: %s\n", err);
  else if (open_sink(&k, o, s->control_hz) == AF_EXIT_OK) {
    unsigned char *img = malloc((size_t)o->width * o->height * 3);
    int ok = close_sink(&k, record_episodes(e, &p, rd, cam, o, &k, img));
    free(img);
    if (ok) printf("%ld frames (%ld episodes of %s at %g frames/s) -> %s\n", k.frame, o->episodes, s->name, s->control_hz, o->out);
    else fprintf(stderr, "armfarm record: writing %s failed%s\n", o->out, k.mp4 ? " (ffmpeg)" : "");
    rc = ok ? AF_EXIT_OK : AF_EXIT_FAIL;
  }
  af_render_free(rd);
  af_agent_free(p.ag);
  af_env_free(e);
  return rc;
}

int af_cmd_record(int argc, char **argv) {
  record_opts o;
  int rc = parse_record_opts(argc, argv, &o);
  if (rc == AF_CLI_GO_ON) rc = record(&o);
  free(o.w.sets);
  return rc;
}
