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
#include <sys/wait.h>

#include <GLFW/glfw3.h>
#include <cjson/cJSON.h>
#include "agents/agent.h"
#include "envs/env_impl.h"
#include "envs/render.h"
#include "experiments/cli.h"

// ---- the policy being watched ----
typedef struct {
  int kind;  // 0 random, 1 zero, 2 scripted, 3 checkpoint
  af_agent *ag;
  af_rng rng;
} policy;

// the environment and policy from the options; the checkpoint's run folder supplies the
// environment config and the agent's hyperparameters
static int setup(const char *env_name, const char *pol, const char *ckpt, char **sets, int nsets, af_env **env, policy *p,
                 char *err, size_t errsz) {
  memset(p, 0, sizeof *p);
  af_rng_seed(&p->rng, 0xF1E);
  char *cfg = NULL;
  cJSON *run = NULL;
  const char *agent_name = NULL;
  char *agent_cfg = NULL;
  if (ckpt) {
    // <run>/checkpoint.bin next to <run>/config.json
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s", ckpt);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *txt = af_read_file(path);
    run = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    cJSON *re = cJSON_GetObjectItemCaseSensitive(run, "env"), *ra = cJSON_GetObjectItemCaseSensitive(run, "agent");
    if (!cJSON_IsObject(re) || !cJSON_IsObject(ra)) { snprintf(err, errsz, "checkpoint %s: no run config.json beside it", ckpt); cJSON_Delete(run); return -1; }
    // the names are copied: the items are removed before the rest becomes the configs
    static char env_buf[64], agent_buf[64];
    const char *en = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(re, "name"));
    const char *an = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ra, "name"));
    snprintf(env_buf, sizeof env_buf, "%s", en ? en : "");
    snprintf(agent_buf, sizeof agent_buf, "%s", an ? an : "");
    if (!env_name && en) env_name = env_buf;
    agent_name = agent_buf;
    cJSON_DeleteItemFromObjectCaseSensitive(re, "name");
    cJSON_DeleteItemFromObjectCaseSensitive(ra, "name");
    cfg = cJSON_PrintUnformatted(re);
    agent_cfg = cJSON_PrintUnformatted(ra);
    p->kind = 3;
  }
  if (!env_name) { snprintf(err, errsz, "--env NAME (or --checkpoint) is required"); cJSON_Delete(run); free(cfg); free(agent_cfg); return -1; }
  // --set edits on top
  if (nsets) {
    cJSON *c = cfg ? cJSON_Parse(cfg) : cJSON_CreateObject();
    for (int i = 0; i < nsets; i++) {
      char *eq = strchr(sets[i], '=');
      if (!eq) { snprintf(err, errsz, "--set expects key=value, got '%s'", sets[i]); cJSON_Delete(c); cJSON_Delete(run); free(cfg); free(agent_cfg); return -1; }
      *eq = 0;
      int bad = af_json_set_path(c, sets[i], eq + 1, err, errsz);
      *eq = '=';
      if (bad) { cJSON_Delete(c); cJSON_Delete(run); free(cfg); free(agent_cfg); return -1; }
    }
    free(cfg);
    cfg = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
  }
  *env = af_env_make(env_name, cfg, err, errsz);
  free(cfg);
  if (!*env) { cJSON_Delete(run); free(agent_cfg); return -1; }
  if (p->kind == 3) {
    p->ag = af_agent_make(agent_name, agent_cfg, af_env_get_spec(*env), 0, err, errsz);
    if (!p->ag || af_agent_load(p->ag, ckpt, err, errsz)) { cJSON_Delete(run); free(agent_cfg); af_env_free(*env); return -1; }
  } else if (!pol || !strcmp(pol, "scripted")) {
    float probe[16];
    p->kind = af_env_scripted_action(*env, probe) == AF_OK ? 2 : 0;
    if (pol && p->kind != 2) { snprintf(err, errsz, "%s has no scripted controller (use random or zero)", env_name); af_env_free(*env); free(agent_cfg); cJSON_Delete(run); return -1; }
  } else if (!strcmp(pol, "random")) p->kind = 0;
  else if (!strcmp(pol, "zero")) p->kind = 1;
  else { snprintf(err, errsz, "unknown policy '%s' (random, zero or scripted)", pol); af_env_free(*env); free(agent_cfg); cJSON_Delete(run); return -1; }
  cJSON_Delete(run);
  free(agent_cfg);
  return 0;
}

static void act(policy *p, af_env *e, const float *obs, float *a) {
  int n = af_env_get_spec(e)->act_dim;
  if (p->kind == 3) af_agent_act(p->ag, obs, 1, a);
  else if (p->kind == 2) af_env_scripted_action(e, a);
  else for (int i = 0; i < n; i++) a[i] = p->kind == 0 ? (float)af_rng_range(&p->rng, -1, 1) : 0.0f;
}

// the overlay: step, return, success, speed, and this episode's randomization draws
static void overlay_text(char *buf, size_t n, af_env *e, int t, double ret, int success, double fps, int show_dr) {
  snprintf(buf, n, "step\t%d\nreturn\t%.2f\nsuccess\t%s\nframes/s\t%.0f", t, ret, success ? "yes" : "no", fps);
  if (!show_dr) return;
  for (int i = 0; i < e->dr.n && strlen(buf) < n - 200; i++) {
    const af_dr_param *p = &e->dr.p[i];
    if (!af_dr_active(&e->dr, p)) continue;
    snprintf(buf + strlen(buf), n - strlen(buf), "\n%s\t%.3g%s", p->e->name, p->draw[0], p->ntarget * p->dim > 1 ? " ..." : "");
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

int af_cmd_view(int argc, char **argv) {
  const char *env_name = NULL, *pol = NULL, *ckpt = NULL, *shot = NULL;
  long frames = -1, seed = 0;
  char **sets = calloc((size_t)argc + 1, sizeof *sets), err[512];
  int nsets = 0, rc = AF_EXIT_USAGE;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) { view_usage(stdout); free(sets); return AF_EXIT_OK; }
    int takes = !strcmp(o, "--env") || !strcmp(o, "--policy") || !strcmp(o, "--checkpoint") || !strcmp(o, "--frames") ||
                !strcmp(o, "--screenshot") || !strcmp(o, "--set") || !strcmp(o, "--seed");
    if (!takes) { fprintf(stderr, "armfarm view: unknown option '%s' (try --help)\n", o); free(sets); return AF_EXIT_USAGE; }
    if (!v) { fprintf(stderr, "armfarm view: %s needs a value\n", o); free(sets); return AF_EXIT_USAGE; }
    i++;
    if (!strcmp(o, "--env")) env_name = v;
    else if (!strcmp(o, "--policy")) pol = v;
    else if (!strcmp(o, "--checkpoint")) ckpt = v;
    else if (!strcmp(o, "--screenshot")) shot = v;
    else if (!strcmp(o, "--set")) sets[nsets++] = (char *)v;
    else if (!strcmp(o, "--seed")) { if ((seed = af_cli_long(o, v, 0, 2147483647)) < 0) { free(sets); return AF_EXIT_USAGE; } }
    else if ((frames = af_cli_long(o, v, 1, 100000000)) < 0) { free(sets); return AF_EXIT_USAGE; }
  }
  if ((shot != NULL) != (frames > 0)) { fprintf(stderr, "armfarm view: --frames and --screenshot go together\n"); free(sets); return AF_EXIT_USAGE; }
  af_env *e = NULL;
  policy p;
  if (setup(env_name, pol, ckpt, sets, nsets, &e, &p, err, sizeof err)) { fprintf(stderr, "armfarm view: %s\n", err); free(sets); return AF_EXIT_USAGE; }
  free(sets);
  // a window: the display is checked here, with the same message as the renderer's
  if (!glfwInit()) {
    fprintf(stderr, "armfarm view: cannot open a display%s: run under Xvfb (xvfb-run -a armfarm view ...) or set DISPLAY\n",
            getenv("DISPLAY") ? "" : " (DISPLAY is not set)");
    af_env_free(e);
    af_agent_free(p.ag);
    return AF_EXIT_FAIL;
  }
  GLFWwindow *win = glfwCreateWindow(960, 640, "armfarm", NULL, NULL);
  if (!win) { fprintf(stderr, "armfarm view: cannot create a window\n"); af_env_free(e); af_agent_free(p.ag); return AF_EXIT_FAIL; }
  glfwMakeContextCurrent(win);
  glfwSwapInterval(shot ? 0 : 1);
  static view_state st;
  vs = &st;
  mjvScene scn;
  mjrContext con;
  mjvOption opt;
  mjv_defaultScene(&scn);
  mjr_defaultContext(&con);
  mjv_defaultOption(&opt);
  mjv_defaultCamera(&st.cam);
  mjv_makeScene(e->m, &scn, 4000);
  mjr_makeContext(e->m, &con, mjFONTSCALE_150);
  // height fields follow the model: a reset may rewrite the ground after this upload (when
  // out of memory here, the first upload finds no copy and sends every height field)
  af_hfield_sync hf;
  af_hfield_sync_init(&hf, e->m);
  st.m = e->m;
  st.scn = &scn;
  st.speed = 1;
  st.cam.type = e->m->ncam > 0 ? mjCAMERA_FIXED : mjCAMERA_FREE;
  st.cam.fixedcamid = 0;
  for (int k = 0; k < 3; k++) st.cam.lookat[k] = e->m->stat.center[k];
  st.cam.distance = 1.5 * e->m->stat.extent;
  glfwSetKeyCallback(win, on_key);
  glfwSetMouseButtonCallback(win, on_button);
  glfwSetCursorPosCallback(win, on_move);
  glfwSetScrollCallback(win, on_scroll);

  const af_env_spec *s = af_env_get_spec(e);
  float obs[1024], a[16], r = 0;
  int te = 0, tr = 0, t = 0, success = 0;
  double ret = 0, fps = 0, last_frame = af_now(), next_step = af_now();
  uint64_t ep_seed = (uint64_t)seed;
  af_info info;
  af_env_reset(e, ep_seed, obs);
  for (long frame = 0; !glfwWindowShouldClose(win); frame++) {
    // keys: new episodes, randomization, cameras
    if (st.reset || st.redraw || st.toggle_dr) {
      if (st.toggle_dr) e->dr.enabled = !e->dr.enabled;
      ep_seed = st.reset || st.redraw ? ep_seed + 1 : ep_seed;
      st.reset = st.redraw = st.toggle_dr = 0;
      af_env_reset(e, ep_seed, obs);
      t = 0; ret = 0; te = tr = 0;
    }
    if (st.cycle_cam) {
      st.cycle_cam = 0;
      if (st.cam.type == mjCAMERA_FREE && e->m->ncam > 0) { st.cam.type = mjCAMERA_FIXED; st.cam.fixedcamid = 0; }
      else if (st.cam.type == mjCAMERA_FIXED && st.cam.fixedcamid + 1 < e->m->ncam) st.cam.fixedcamid++;
      else st.cam.type = mjCAMERA_FREE;
    }
    // one control step when due (or every frame when taking a screenshot)
    int due = shot ? 1 : (!st.paused && af_now() >= next_step) || st.step_once;
    if (due) {
      st.step_once = 0;
      next_step = af_now() + 1.0 / (s->control_hz * st.speed);
      if (te || tr) { af_env_reset(e, ++ep_seed, obs); t = 0; ret = 0; te = tr = 0; }
      act(&p, e, obs, a);
      af_env_step(e, a, obs, &r, &te, &tr, &info);
      t++;
      ret += r;
      success = info.success;
    }
    // draw
    int w, h;
    glfwGetFramebufferSize(win, &w, &h);
    mjrRect vp = {0, 0, w, h};
    af_hfield_sync_upload(&hf, e->m, &con);
    mjv_updateScene(e->m, e->d, &opt, NULL, &st.cam, mjCAT_ALL, &scn);
    mjr_render(vp, &scn, &con);
    double now = af_now();
    fps = 0.9 * fps + 0.1 / fmax(1e-6, now - last_frame);
    last_frame = now;
    char text[4096], left[4096] = "", right[4096] = "";
    if (st.help) snprintf(text, sizeof text, "%s", help_text);
    else overlay_text(text, sizeof text, e, t, ret, success, fps, 1);
    for (const char *q = text; *q;) {
      const char *nl = strchr(q, '\n'), *end = nl ? nl : q + strlen(q), *tab = memchr(q, '\t', (size_t)(end - q));
      snprintf(left + strlen(left), sizeof left - strlen(left), "%.*s\n", (int)((tab ? tab : end) - q), q);
      snprintf(right + strlen(right), sizeof right - strlen(right), "%.*s\n", tab ? (int)(end - tab - 1) : 0, tab ? tab + 1 : "");
      q = nl ? nl + 1 : end;
    }
    mjr_overlay(mjFONT_NORMAL, mjGRID_TOPLEFT, vp, left, right, &con);
    if (shot && frame + 1 >= frames) {
      // the last frame, read back before it is shown
      unsigned char *rows = malloc((size_t)w * h * 3), *img = malloc((size_t)w * h * 3);
      mjr_readPixels(rows, NULL, vp, &con);
      for (int y = 0; y < h; y++) memcpy(img + (size_t)y * w * 3, rows + (size_t)(h - 1 - y) * w * 3, (size_t)w * 3);
      int bad = af_write_png(shot, img, w, h);
      free(rows);
      free(img);
      if (bad) { fprintf(stderr, "armfarm view: cannot write %s\n", shot); rc = AF_EXIT_FAIL; }
      else { printf("%ld frames of %s; the last one in %s (%dx%d)\n", frames, s->name, shot, w, h); rc = AF_EXIT_OK; }
      break;
    }
    glfwSwapBuffers(win);
    glfwPollEvents();
    rc = AF_EXIT_OK;
  }
  af_hfield_sync_free(&hf);
  mjr_freeContext(&con);
  mjv_freeScene(&scn);
  glfwDestroyWindow(win);
  // no glfwTerminate: it unloads the OpenGL driver, whose lifetime allocations would then be
  // reported as leaks from unknown modules; the process ends here anyway
  af_agent_free(p.ag);
  af_env_free(e);
  return rc;
}

// ---- recording ----
static void record_usage(FILE *f) {
  fprintf(f, "usage: armfarm record --env NAME [--checkpoint PATH | --policy random|zero|scripted] --episodes N --out FILE\n"
             "                      [--seed S] [--width W] [--height H] [--camera NAME] [--overlay] [--set key=value]...\n"
             "  FILE.mp4: H.264 through ffmpeg (raw frames over a pipe); any other FILE: a folder of PNG frames.\n"
             "  One frame per control step, at the control rate; multisampling and shadows on. Needs a display or Xvfb.\n");
}

int af_cmd_record(int argc, char **argv) {
  const char *env_name = NULL, *pol = NULL, *ckpt = NULL, *out = NULL, *camera = NULL;
  long episodes = 1, seed = 0, width = 640, height = 480;
  int overlay = 0, nsets = 0;
  char **sets = calloc((size_t)argc + 1, sizeof *sets), err[512];
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) { record_usage(stdout); free(sets); return AF_EXIT_OK; }
    if (!strcmp(o, "--overlay")) { overlay = 1; continue; }
    int takes = !strcmp(o, "--env") || !strcmp(o, "--policy") || !strcmp(o, "--checkpoint") || !strcmp(o, "--episodes") ||
                !strcmp(o, "--out") || !strcmp(o, "--seed") || !strcmp(o, "--width") || !strcmp(o, "--height") ||
                !strcmp(o, "--camera") || !strcmp(o, "--set");
    if (!takes) { fprintf(stderr, "armfarm record: unknown option '%s' (try --help)\n", o); free(sets); return AF_EXIT_USAGE; }
    if (!v) { fprintf(stderr, "armfarm record: %s needs a value\n", o); free(sets); return AF_EXIT_USAGE; }
    i++;
    long x = 0;
    if (!strcmp(o, "--env")) env_name = v;
    else if (!strcmp(o, "--policy")) pol = v;
    else if (!strcmp(o, "--checkpoint")) ckpt = v;
    else if (!strcmp(o, "--out")) out = v;
    else if (!strcmp(o, "--camera")) camera = v;
    else if (!strcmp(o, "--set")) sets[nsets++] = (char *)v;
    else if ((x = af_cli_long(o, v, 0, 100000000)) < 0) { free(sets); return AF_EXIT_USAGE; }
    else if (!strcmp(o, "--episodes")) episodes = x;
    else if (!strcmp(o, "--seed")) seed = x;
    else if (!strcmp(o, "--width")) width = x;
    else height = x;
  }
  if (!out) { fprintf(stderr, "armfarm record: --out FILE is required (FILE.mp4, or a folder for PNG frames)\n"); free(sets); return AF_EXIT_USAGE; }
  if (episodes < 1 || width < 16 || height < 16 || width > 4096 || height > 4096 || (width % 2) || (height % 2)) {
    fprintf(stderr, "armfarm record: --episodes >= 1 and an even --width/--height in [16, 4096]\n");
    free(sets);
    return AF_EXIT_USAGE;
  }
  af_env *e = NULL;
  policy p;
  if (setup(env_name, pol, ckpt, sets, nsets, &e, &p, err, sizeof err)) { fprintf(stderr, "armfarm record: %s\n", err); free(sets); return AF_EXIT_USAGE; }
  free(sets);
  int cam = camera ? mj_name2id(e->m, mjOBJ_CAMERA, camera) : (e->m->ncam > 0 ? 0 : -1);
  if (camera && cam < 0) { fprintf(stderr, "armfarm record: no camera named '%s'\n", camera); af_env_free(e); af_agent_free(p.ag); return AF_EXIT_USAGE; }
  af_render *rd = af_render_make(e->m, (int)width, (int)height, 4, 1, err, sizeof err);
  if (!rd) { fprintf(stderr, "armfarm record: %s\n", err); af_env_free(e); af_agent_free(p.ag); return AF_EXIT_FAIL; }
  const af_env_spec *s = af_env_get_spec(e);
  size_t n = strlen(out);
  int mp4 = n > 4 && !strcmp(out + n - 4, ".mp4");
  FILE *pipe = NULL;
  if (mp4) {
    char cmd[4600];
    snprintf(cmd, sizeof cmd, "ffmpeg -loglevel error -y -f rawvideo -pix_fmt rgb24 -s %ldx%ld -r %g -i - -c:v libx264 -pix_fmt yuv420p '%s'",
             width, height, s->control_hz, out);
    pipe = popen(cmd, "w");
    if (!pipe) { fprintf(stderr, "armfarm record: cannot start ffmpeg (install ffmpeg, or give a folder for PNG frames)\n"); af_render_free(rd); af_env_free(e); af_agent_free(p.ag); return AF_EXIT_FAIL; }
  } else if (mkdir(out, 0755) && errno != EEXIST) {
    fprintf(stderr, "armfarm record: cannot create %s\n", out);
    af_render_free(rd); af_env_free(e); af_agent_free(p.ag);
    return AF_EXIT_FAIL;
  }
  unsigned char *img = malloc((size_t)width * height * 3);
  float obs[1024], a[16], r;
  int te, tr, ok = 1;
  long frame = 0;
  double ret;
  af_info info;
  char text[4096];
  // one frame at each reset and after each control step
  for (long ep = 0; ep < episodes && ok; ep++) {
    af_env_reset(e, af_seed_derive((uint64_t)seed, (uint64_t)ep), obs);
    te = tr = 0;
    ret = 0;
    int t = 0, success = 0;
    for (;;) {
      overlay_text(text, sizeof text, e, t, ret, success, s->control_hz, 0);
      af_render_frame(rd, e->m, e->d, cam, overlay ? text : NULL, img);
      if (mp4) ok = fwrite(img, 1, (size_t)width * height * 3, pipe) == (size_t)width * height * 3;
      else {
        char path[4600];
        snprintf(path, sizeof path, "%s/frame_%06ld.png", out, frame);
        ok = af_write_png(path, img, (int)width, (int)height) == 0;
      }
      frame++;
      if (!ok || te || tr) break;
      act(&p, e, obs, a);
      af_env_step(e, a, obs, &r, &te, &tr, &info);
      ret += r;
      t++;
      success = info.success;
    }
  }
  if (pipe) {
    int st = pclose(pipe);
    ok = ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  }
  if (ok) printf("%ld frames (%ld episodes of %s at %g frames/s) -> %s\n", frame, episodes, s->name, s->control_hz, out);
  else fprintf(stderr, "armfarm record: writing %s failed%s\n", out, mp4 ? " (ffmpeg)" : "");
  free(img);
  af_render_free(rd);
  af_agent_free(p.ag);
  af_env_free(e);
  return ok ? AF_EXIT_OK : AF_EXIT_FAIL;
}
