// Pixel observations under Xvfb (the test command provides a display): every environment
// renders a non-uniform frame of the configured shape, the same seed renders the same image,
// a colour drawn by randomization changes the pixels where the object is seen and only
// there (the segmentation render finds the object at those pixels), and without a display
// the renderer says what to do instead of crashing; a video named with shell characters is
// written under exactly that name and runs nothing.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <math.h>  // NAN
#include <cjson/cJSON.h>
#include "agents/sac.h"
#include "base/rng.h"
#include "envs/env_impl.h"
#include "envs/render.h"
#include "envs/vecenv.h"

static af_env *make(const char *name, const char *cfg) {
  cr_assert(getenv("DISPLAY"), "rendering tests need a display: run them under xvfb-run (scripts/setup.sh test does)");
  char err[512] = "";
  af_env *e = af_env_make(name, cfg, err, sizeof err);
  cr_assert(e, "%s", err);
  return e;
}

Test(render, every_environment_renders_a_real_frame_of_the_configured_shape) {
  for (int i = 0; i < af_env_count(); i++) {
    af_env *e = make(af_env_name(i), "{\"obs\": \"state+pixels\", \"image_width\": 48, \"image_height\": 32}");
    const af_env_spec *s = af_env_get_spec(e);
    cr_assert_eq(s->pixel_width, 48);
    cr_assert_eq(s->pixel_height, 32);
    cr_assert_gt(s->obs_dim, 0, "state+pixels keeps the state");
    // a guard after the image must stay untouched
    static unsigned char img[48 * 32 * 3 + 16];
    memset(img, 0xA5, sizeof img);
    float obs[512];
    af_env_reset(e, 3, obs);
    cr_assert_eq(af_env_pixels(e, img), AF_OK);
    for (int k = 0; k < 16; k++) cr_assert_eq(img[48 * 32 * 3 + k], 0xA5, "%s wrote past the image", s->name);
    // not uniform: the brightest and darkest pixels differ a lot
    int lo = 255, hi = 0;
    for (int k = 0; k < 48 * 32 * 3; k++) { lo = img[k] < lo ? img[k] : lo; hi = img[k] > hi ? img[k] : hi; }
    cr_assert_gt(hi - lo, 60, "%s: a nearly uniform frame (%d..%d)", s->name, lo, hi);
    af_env_free(e);
  }
}

Test(render, same_seed_same_image_and_pixels_only_mode) {
  af_env *a = make("puck_push", "{\"obs\": \"pixels\"}"), *b = make("puck_push", "{\"obs\": \"pixels\"}");
  cr_assert_eq(af_env_get_spec(a)->obs_dim, 0, "pixels only: no state vector");
  static unsigned char ia[64 * 64 * 3], ib[64 * 64 * 3];
  float none[1], act[4] = {0.5f, 0.2f, -0.3f, 0}, r;
  int te, tr;
  af_env_reset(a, 9, none);
  af_env_reset(b, 9, none);
  for (int t = 0; t < 3; t++) {
    af_env_step(a, act, none, &r, &te, &tr, NULL);
    af_env_step(b, act, none, &r, &te, &tr, NULL);
  }
  af_env_pixels(a, ia);
  af_env_pixels(b, ib);
  cr_assert(memcmp(ia, ib, sizeof ia) == 0, "the same seed and actions render differently");
  // visual randomization: another seed moves lights and camera
  af_env_reset(b, 10, none);
  af_env_pixels(b, ib);
  cr_assert(memcmp(ia, ib, sizeof ia) != 0);
  af_env_free(a);
  af_env_free(b);
}

Test(render, a_drawn_colour_changes_the_pixels_where_the_object_is_seen) {
  // two environments identical but for the puck's colour offset
  const char *base = "{\"obs\": \"pixels\", \"image_width\": 96, \"image_height\": 96, \"camera\": \"top\", "
                     "\"randomize\": {\"physics\": false, \"actuation\": false, \"visual\": true, \"table_rgb\": [0, 0], "
                     "\"light_pos\": [0, 0], \"light_rgb\": [0, 0], \"camera_pos\": [0, 0], \"camera_rot\": [0, 0], \"camera_fovy\": [0, 0], "
                     "\"puck_rgb\": [%s, %s]}}";
  char c1[1024], c2[1024];
  snprintf(c1, sizeof c1, base, "-0.6", "-0.6");
  snprintf(c2, sizeof c2, base, "0.15", "0.15");
  af_env *a = make("puck_push", c1), *b = make("puck_push", c2);
  float none[1];
  af_env_reset(a, 4, none);
  af_env_reset(b, 4, none);
  static unsigned char ia[96 * 96 * 3], ib[96 * 96 * 3];
  af_env_pixels(a, ia);
  af_env_pixels(b, ib);
  // the pixels that differ form one small blob: the puck
  int n = 0, x0 = 96, x1 = -1, y0 = 96, y1 = -1;
  for (int y = 0; y < 96; y++)
    for (int x = 0; x < 96; x++) {
      int k = (y * 96 + x) * 3;
      if (abs(ia[k] - ib[k]) + abs(ia[k + 1] - ib[k + 1]) + abs(ia[k + 2] - ib[k + 2]) > 30) {
        n++;
        x0 = x < x0 ? x : x0; x1 = x > x1 ? x : x1;
        y0 = y < y0 ? y : y0; y1 = y > y1 ? y : y1;
      }
    }
  cr_assert_gt(n, 4, "the colour change is not visible");
  cr_assert_lt(n, 96 * 96 / 20, "%d pixels changed: more than the puck", n);
  cr_assert_leq(x1 - x0, 20, "the changed pixels are spread over %d columns", x1 - x0);
  cr_assert_leq(y1 - y0, 20);
  // segmentation: the pixels of the puck's body are the ones its colour changed
  static int body[96 * 96];
  af_render_segment(a->render, a->m, a->d, a->render_camera, body);
  const int puck = mj_name2id(a->m, mjOBJ_BODY, "puck");
  cr_assert_geq(puck, 0);
  int seg = 0, both = 0, other = 0;
  for (int y = 0; y < 96; y++)
    for (int x = 0; x < 96; x++) {
      int k = (y * 96 + x) * 3, changed = abs(ia[k] - ib[k]) + abs(ia[k + 1] - ib[k + 1]) + abs(ia[k + 2] - ib[k + 2]) > 30;
      seg += body[y * 96 + x] == puck;
      both += changed && body[y * 96 + x] == puck;
      other += body[y * 96 + x] >= 0 && body[y * 96 + x] != puck;
    }
  cr_assert_geq(both, n * 9 / 10, "%d of the %d changed pixels are the puck's in the segmentation (%d puck pixels)", both, n, seg);
  cr_assert_leq(seg, n + n / 3 + 4, "%d puck pixels against %d changed", seg, n);
  cr_assert_gt(other, 96 * 96 / 2, "the table and the arm are bodies too: %d pixels", other);
  af_env_free(a);
  af_env_free(b);
}

Test(render, without_a_display_the_error_says_what_to_do) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "env -u DISPLAY -u WAYLAND_DISPLAY %s rollout --env puck_push --episodes 1 --set obs=pixels >render_out.txt 2>render_err.txt",
           getenv("ARMFARM_BIN"));
  int st = system(cmd);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "exit %d", WEXITSTATUS(st));
  FILE *f = fopen("render_err.txt", "r");
  char buf[1024] = "";
  size_t k = fread(buf, 1, sizeof buf - 1, f);
  buf[k] = 0;
  fclose(f);
  cr_assert(strstr(buf, "cannot open a display") && strstr(buf, "xvfb-run"), "%s", buf);
  cr_assert(strchr(buf, '\n') == buf + strlen(buf) - 1, "one line: %s", buf);
}

Test(render, png_files_round_trip_their_header) {
  unsigned char img[4 * 3 * 3];
  for (int k = 0; k < 36; k++) img[k] = (unsigned char)(k * 7);
  cr_assert_eq(af_write_png("render_test.png", img, 4, 3), 0);
  FILE *f = fopen("render_test.png", "rb");
  unsigned char h[24];
  cr_assert_eq(fread(h, 1, 24, f), 24);
  fclose(f);
  cr_assert(memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0);
  cr_assert(memcmp(h + 12, "IHDR", 4) == 0);
  cr_assert_eq(h[19], 4);  // width
  cr_assert_eq(h[23], 3);  // height
}

// where e's camera sees geom g: the pixels that change when g is painted pure red
static int seen_mask(af_env *e, int g, const unsigned char *img, unsigned char *mask, int npix) {
  static unsigned char red[160 * 120 * 3];
  mjModel *m = e->m;
  float rgba[4];
  memcpy(rgba, m->geom_rgba + 4 * g, sizeof rgba);
  int mat = m->geom_matid[g];
  m->geom_matid[g] = -1;
  m->geom_rgba[4 * g] = 1; m->geom_rgba[4 * g + 1] = 0; m->geom_rgba[4 * g + 2] = 0; m->geom_rgba[4 * g + 3] = 1;
  cr_assert_eq(af_env_pixels(e, red), AF_OK);
  m->geom_matid[g] = mat;
  memcpy(m->geom_rgba + 4 * g, rgba, sizeof rgba);
  int n = 0;
  for (int k = 0; k < npix; k++) {
    mask[k] = memcmp(img + 3 * k, red + 3 * k, 3) != 0;
    n += mask[k];
  }
  return n;
}

Test(render, rough_ground_seen_is_the_ground_simulated) {
  // the robot's tracking camera over rough ground at the highest bumps, nothing else drawn
  enum { W = 160, H = 120, NP = W * H };
  const char *cfg = "{\"terrain\": \"rough\", \"obs\": \"pixels\", \"image_width\": 160, \"image_height\": 120, "
                    "\"randomize\": {\"physics\": false, \"visual\": false, \"sensor\": false, \"actuation\": false, "
                    "\"difficulty\": [1, 1]}}";
  af_env *a = make("quadruped", cfg), *b = make("quadruped", cfg);
  int g = mj_name2id(a->m, mjOBJ_GEOM, "rough");
  cr_assert_geq(g, 0);
  static unsigned char ia[NP * 3], ib[NP * 3], ma[NP], mb[NP];
  float none[1];
  // seeds 1 and 2 lay different bumps into the height field
  af_env_reset(a, 1, none);
  af_env_reset(b, 2, none);
  int hadr = a->m->hfield_adr[a->m->geom_dataid[g]], hn = a->m->hfield_nrow[0] * a->m->hfield_ncol[0];
  cr_assert(memcmp(a->m->hfield_data + hadr, b->m->hfield_data + hadr, sizeof(float) * hn) != 0, "the seeds give the same ground");
  cr_assert_eq(af_env_pixels(a, ia), AF_OK);
  cr_assert_eq(af_env_pixels(b, ib), AF_OK);
  // where both cameras see the height field, the images must differ as the ground does
  int na = seen_mask(a, g, ia, ma, NP), nb = seen_mask(b, g, ib, mb, NP), both = 0, differ = 0;
  for (int k = 0; k < NP; k++) {
    if (!ma[k] || !mb[k]) continue;
    both++;
    differ += memcmp(ia + 3 * k, ib + 3 * k, 3) != 0;
  }
  cr_assert_gt(both, NP / 4, "the height field fills %d and %d of %d pixels, %d in both", na, nb, NP, both);
  cr_assert_gt(differ, both / 8, "different ground, but only %d of the %d ground pixels differ: the renderer shows old ground", differ, both);
  // a second reset of the same renderer follows too: a at seed 2 looks exactly like b at seed 2
  af_env_reset(a, 2, none);
  cr_assert_eq(af_env_pixels(a, ia), AF_OK);
  cr_assert(memcmp(ia, ib, sizeof ia) == 0, "after a second reset the image is not the one of its ground");
  af_env_free(a);
  af_env_free(b);
}

// a PNG read back by an independent decoder (tests/png_decode.py: Python's zlib and struct)
// that checks every chunk's CRC and the zlib stream; 0 and the pixels, or -1. `idat` (or NULL)
// receives the size of the compressed data.
static int read_png(const char *path, unsigned char *rgb, int *w, int *h, size_t cap, long *idat) {
  char cmd[2048], line[128] = "", out[1100];
  snprintf(out, sizeof out, "%s.rgb", path);
  snprintf(cmd, sizeof cmd, "python3 %s/tests/png_decode.py '%s' '%s'", AF_TEST_SOURCE, path, out);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  int got = fgets(line, sizeof line, p) != NULL;
  int st = pclose(p);
  long n = 0;
  if (!got || st != 0 || sscanf(line, "%d %d %ld", w, h, &n) != 3) return -1;
  if (idat) *idat = n;
  size_t need = (size_t)*w * *h * 3;
  FILE *f = fopen(out, "rb");
  int ok = f && need <= cap && fread(rgb, 1, need, f) == need;
  if (f) fclose(f);
  remove(out);
  return ok ? 0 : -1;
}

Test(render, png_files_are_compressed_and_decode_with_valid_crcs) {
  // a rendered frame: the same pixels back, in much less than the raw size
  af_env *e = make("puck_push", "{\"obs\": \"pixels\", \"image_width\": 320, \"image_height\": 240}");
  static unsigned char img[320 * 240 * 3], back[320 * 240 * 3];
  float none[1];
  af_env_reset(e, 5, none);
  cr_assert_eq(af_env_pixels(e, img), AF_OK);
  af_env_free(e);
  cr_assert_eq(af_write_png("render_frame.png", img, 320, 240), 0);
  int w = 0, h = 0;
  long idat = 0;
  cr_assert_eq(read_png("render_frame.png", back, &w, &h, sizeof back, &idat), 0, "the decoder refused our PNG");
  cr_assert(w == 320 && h == 240);
  cr_assert(memcmp(img, back, sizeof img) == 0, "decoded pixels differ from the written ones");
  FILE *f = fopen("render_frame.png", "rb");
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fclose(f);
  const long raw = 240L * (320 * 3 + 1);
  cr_assert_lt(size, raw / 4, "a %ld-byte PNG of %ld bytes of scanlines: not compressed", size, raw);
  cr_assert_lt(idat, size);
  // noise does not compress but must round-trip, at odd sizes and at one pixel
  static unsigned char noise[37 * 23 * 3];
  af_rng rng;
  af_rng_seed(&rng, 77);
  for (size_t k = 0; k < sizeof noise; k++) noise[k] = (unsigned char)(af_rng_next(&rng) >> 56);
  cr_assert_eq(af_write_png("render_noise.png", noise, 37, 23), 0);
  cr_assert_eq(read_png("render_noise.png", back, &w, &h, sizeof back, NULL), 0);
  cr_assert(w == 37 && h == 23 && memcmp(noise, back, sizeof noise) == 0);
  cr_assert_eq(af_write_png("render_one.png", noise, 1, 1), 0);
  cr_assert_eq(read_png("render_one.png", back, &w, &h, sizeof back, NULL), 0);
  cr_assert(w == 1 && h == 1 && memcmp(noise, back, 3) == 0);
  cr_assert_eq(af_write_png("render_bad.png", noise, 0, 5), -1);
  // the decoder does check: one flipped byte inside IDAT fails its CRC
  static unsigned char file[1 << 20];
  f = fopen("render_frame.png", "rb");
  size_t n = fread(file, 1, sizeof file, f);
  fclose(f);
  file[8 + 25 + 8 + 10] ^= 0x40;
  f = fopen("render_flipped.png", "wb");
  cr_assert_eq(fwrite(file, 1, n, f), n);
  fclose(f);
  cr_assert_eq(read_png("render_flipped.png", back, &w, &h, sizeof back, NULL), -1, "a corrupted PNG was accepted");
}

static int sh(const char *cmd) {
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(render, viewer_screenshot_and_recorded_video) {
  cr_assert(getenv("DISPLAY"), "needs a display: run under xvfb-run (scripts/setup.sh test does)");
  char cmd[2048];
  remove("render_view.png");
  snprintf(cmd, sizeof cmd, "%s view --env puck_push --frames 60 --screenshot render_view.png >/dev/null 2>render_err.txt", getenv("ARMFARM_BIN"));
  cr_assert_eq(sh(cmd), 0, "armfarm view failed");
  static unsigned char img[960 * 640 * 3];
  int w, h;
  cr_assert_eq(read_png("render_view.png", img, &w, &h, sizeof img, NULL), 0, "not a PNG we can read");
  cr_assert_eq(w, 960);
  cr_assert_eq(h, 640);
  // the scene: many distinct colours, not a blank window
  int lo = 255, hi = 0;
  for (int k = 0; k < w * h * 3; k++) { lo = img[k] < lo ? img[k] : lo; hi = img[k] > hi ? img[k] : hi; }
  cr_assert_gt(hi - lo, 100);
  // 2 episodes of 50 steps: a frame at each reset and after each step = 102 frames
  remove("render_rec.mp4");
  snprintf(cmd, sizeof cmd, "%s record --env puck_push --episodes 2 --width 160 --height 120 --out render_rec.mp4 >/dev/null 2>render_err.txt",
           getenv("ARMFARM_BIN"));
  cr_assert_eq(sh(cmd), 0, "armfarm record failed");
  FILE *p = popen("ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height -of csv=p=0 render_rec.mp4", "r");
  char line[128] = "";
  cr_assert(p && fgets(line, sizeof line, p));
  pclose(p);
  cr_assert_str_eq(line, "160,120,102\n", "ffprobe says %s", line);
  // a folder of PNG frames
  sh("rm -rf render_frames");
  snprintf(cmd, sizeof cmd, "%s record --env pendulum --policy zero --episodes 1 --width 64 --height 64 --out render_frames >/dev/null 2>&1",
           getenv("ARMFARM_BIN"));
  cr_assert_eq(sh(cmd), 0);
  cr_assert_eq(sh("test $(ls render_frames | grep -c 'frame_.*png') -eq 201"), 0, "one PNG per frame");
  // a policy from a training checkpoint (its run's config.json gives env and agent)
  snprintf(cmd, sizeof cmd, "rm -rf render_ck && %s train --env pendulum --agent sac --steps 300 --eval-every 300 --eval-episodes 1 "
           "--set agent.hidden=16 --set agent.batch=16 --set agent.warmup=50 --out render_ck >/dev/null 2>&1 && "
           "%s view --checkpoint render_ck/checkpoint.bin --frames 5 --screenshot render_ck.png >/dev/null 2>&1",
           getenv("ARMFARM_BIN"), getenv("ARMFARM_BIN"));
  cr_assert_eq(sh(cmd), 0, "viewing a checkpoint failed");
  cr_assert_eq(read_png("render_ck.png", img, &w, &h, sizeof img, NULL), 0);
  // the same checkpoint with NaN actor weights: every episode ends at its first step as
  // diverged, and the recording finishes (it looped for ever before)
  {
    char *cfg = NULL, err[256];
    FILE *f = fopen("render_ck/config.json", "r");
    cr_assert(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *doc = cJSON_Parse(buf), *ag = cJSON_GetObjectItem(doc, "agent");
    cJSON_DeleteItemFromObject(ag, "name");
    cfg = cJSON_PrintUnformatted(ag);
    af_env *pe = af_env_make("pendulum", NULL, err, sizeof err);
    cr_assert(pe, "%s", err);
    af_agent *a = af_agent_make("sac", cfg, &(af_agent_setup){.spec = af_env_get_spec(pe), .num_envs = 1}, err, sizeof err);
    cr_assert(a, "%s", err);
    cr_assert_eq(af_agent_load(a, "render_ck/checkpoint.bin", err, sizeof err), 0, "%s", err);
    af_sac *sac = af_agent_impl(a);
    for (int i = 0; i < af_mlp_nparams(sac->actor); i++) af_mlp_params(sac->actor)[i] = NAN;
    cr_assert_eq(af_agent_save(a, "render_ck/checkpoint.bin", err, sizeof err), 0, "%s", err);
    af_agent_free(a);
    af_env_free(pe);
    cJSON_free(cfg);
    cJSON_Delete(doc);
    snprintf(cmd, sizeof cmd, "rm -rf render_nan && timeout 60 %s record --checkpoint render_ck/checkpoint.bin --episodes 2 --width 32 "
             "--height 32 --out render_nan >/dev/null 2>&1", getenv("ARMFARM_BIN"));
    cr_assert_eq(sh(cmd), 0, "recording a NaN policy did not finish cleanly");
    cr_assert_eq(sh("test $(ls render_nan | grep -c 'frame_.*png') -eq 4"), 0, "two frames per one-step episode");
  }
  // without a display: a clear message and a failing exit, no crash
  snprintf(cmd, sizeof cmd, "env -u DISPLAY %s view --env puck_push 2>render_err.txt; test $? -eq 1 && grep -q 'xvfb-run' render_err.txt", getenv("ARMFARM_BIN"));
  cr_assert_eq(sh(cmd), 0);
  snprintf(cmd, sizeof cmd, "env -u DISPLAY %s record --env puck_push --out x.mp4 2>render_err.txt; test $? -eq 1 && grep -q 'xvfb-run' render_err.txt", getenv("ARMFARM_BIN"));
  cr_assert_eq(sh(cmd), 0);
}

// a fresh temporary folder as the working directory, and back out of it, removed
static char tmp_root[64];
static void enter_tmp(void) {
  snprintf(tmp_root, sizeof tmp_root, "/tmp/af_test_render_XXXXXX");
  cr_assert(mkdtemp(tmp_root), "mkdtemp");
  cr_assert_eq(chdir(tmp_root), 0);
}
static void leave_tmp(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
  if (chdir("/") != 0 || sh(cmd) != 0) cr_log_error("cannot remove %s", tmp_root);
}

// a program with an argument vector, no shell, its output into out.txt; the exit status
static int run_argv(char *const argv[]) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open("out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(126);
    execvp(argv[0], argv);
    _exit(127);
  }
  int st;
  cr_assert(pid > 0 && waitpid(pid, &st, 0) == pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(render, a_video_path_with_shell_characters_is_just_a_name, .init = enter_tmp, .fini = leave_tmp) {
  cr_assert(getenv("DISPLAY"), "needs a display: run under xvfb-run (scripts/setup.sh test does)");
  // a folder and a file named with a space, both quotes, $(...), ';' and a newline
  const char *hostile = "v id'q\"$(touch pwned);touch pwned;\nx";
  char path[256], probe[300];
  cr_assert_eq(mkdir(hostile, 0755), 0);
  snprintf(path, sizeof path, "%s/%s.mp4", hostile, hostile);
  char *rec[] = {getenv("ARMFARM_BIN"), "record", "--env", "puck_push", "--episodes", "1", "--width", "64", "--height", "48", "--out", path, NULL};
  int rc = run_argv(rec);
  cr_assert_eq(sh("test -z \"$(find . -name 'pwned*')\""), 0, "a shell ran part of the path");
  cr_assert_eq(rc, 0, "armfarm record failed");
  struct stat st;
  cr_assert(stat(path, &st) == 0 && st.st_size > 0, "the video is not under its exact name");
  // a real video of 51 frames (a reset and 50 steps) at that name
  snprintf(probe, sizeof probe, "file:%s", path);
  char *ff[] = {"ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames,width,height",
                "-of", "csv=p=0", probe, NULL};
  cr_assert_eq(run_argv(ff), 0, "ffprobe failed");
  char line[128] = "";
  FILE *f = fopen("out.txt", "r");
  cr_assert(f && fgets(line, sizeof line, f));
  fclose(f);
  cr_assert_str_eq(line, "64,48,51\n", "ffprobe says %s", line);
}

// a learning camera (the default of pixel observations) shows what matters to the task,
// measured by segmentation over 3 scripted episodes: for each group of bodies (names that
// start with one of a group's comma-separated prefixes; "@obj" is the body starting with "obj"
// nearest the hand, the object being grasped), the share of frames where it covers at least
// 4 pixels of 64 x 64, and the pixels it covers on average
static int starts(const char *name, const char *prefixes) {
  char buf[128];
  snprintf(buf, sizeof buf, "%s", prefixes);
  for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
    if (name && !strncmp(name, t, strlen(t))) return 1;
  return 0;
}

static void visible_share(const char *env, const char *camera, int ng, const char *const *groups, double *share, double *pixels) {
  char cfg[128];
  snprintf(cfg, sizeof cfg, "{\"obs\": \"state+pixels\"%s%s%s}", camera ? ", \"camera\": \"" : "", camera ? camera : "", camera ? "\"" : "");
  af_env *e = make(env, cfg);
  const int hand = mj_name2id(e->m, mjOBJ_BODY, "arm_hand");
  cr_assert_geq(hand, 0);
  static int body[64 * 64];
  float obs[2048], a[16], r;
  int te, tr, frames = 0, seen[4] = {0};
  af_info info;
  cr_assert_leq(ng, 4);
  cr_assert_leq(af_env_get_spec(e)->obs_dim, 2048);
  for (int k = 0; k < ng; k++) pixels[k] = 0;
  for (int ep = 0; ep < 3; ep++) {
    af_env_reset(e, 100 + (uint64_t)ep, obs);
    te = tr = 0;
    while (!te && !tr) {
      // "@obj": the object nearest the hand now
      int nearest = -1;
      double best = 1e9;
      for (int b = 0; b < e->m->nbody; b++)
        if (starts(mj_id2name(e->m, mjOBJ_BODY, b), "obj")) {
          double d2 = 0;
          for (int k = 0; k < 3; k++) d2 += pow(e->d->xpos[3 * b + k] - e->d->xpos[3 * hand + k], 2);
          if (d2 < best) { best = d2; nearest = b; }
        }
      af_render_segment(e->render, e->m, e->d, e->render_camera, body);
      int n[4] = {0};
      for (int i = 0; i < 64 * 64; i++) {
        int b = body[i];
        const char *name = b >= 0 ? mj_id2name(e->m, mjOBJ_BODY, b) : NULL;
        for (int k = 0; k < ng; k++) n[k] += !strcmp(groups[k], "@obj") ? b >= 0 && b == nearest : starts(name, groups[k]);
      }
      for (int k = 0; k < ng; k++) { seen[k] += n[k] >= 4; pixels[k] += n[k]; }
      frames++;
      cr_assert_eq(af_env_scripted_action(e, a), AF_OK);
      cr_assert_eq(af_env_step(e, a, obs, &r, &te, &tr, &info), AF_OK);
    }
  }
  for (int k = 0; k < ng; k++) { share[k] = (double)seen[k] / frames; pixels[k] /= frames; }
  af_env_free(e);
}

// each environment's learning camera against the camera that was used before it: every group
// seen in at least min_share of frames (0.95 unless the task covers it) over 15 pixels on
// average, and the group the old camera lost most often seen more often (measured at 64 x 64:
// puck `top` 72% of frames for the puck; bin `shoulder` 0% for the gripper, 65% for the
// objects; cloth `top` 39% for the box)
static void check_learning_camera(const char *env, const char *old, int ng, const char *const *groups, const double *min_share,
                                  int worst) {
  double learn[4], lp[4], prev[4], pp[4];
  visible_share(env, NULL, ng, groups, learn, lp);
  if (old) visible_share(env, old, ng, groups, prev, pp);
  for (int k = 0; k < ng; k++) {
    cr_assert_geq(learn[k], min_share[k], "%s: the learning camera shows %s in %.0f%% of frames", env, groups[k], 100 * learn[k]);
    cr_assert_geq(lp[k], 15, "%s: %s covers %.1f pixels of 4096 on average", env, groups[k], lp[k]);
  }
  if (old) cr_assert_gt(learn[worst], prev[worst], "%s, %s: learning camera %.2f, %s %.2f", env, groups[worst], learn[worst], old, prev[worst]);
}

static const double all[3] = {0.95, 0.95, 0.95};

Test(render, the_learning_camera_shows_puck_goal_and_gripper) {
  const char *const g[3] = {"puck", "goal", "arm_hand,arm_finger"};
  check_learning_camera("puck_push", "top", 3, g, all, 0);
}

Test(render, the_learning_camera_shows_bin_grasped_object_and_gripper) {
  const char *const g[3] = {"bin", "@obj", "arm_hand,arm_finger"};
  check_learning_camera("bin_grasp", "shoulder", 3, g, all, 2);
}

Test(render, the_learning_camera_shows_door_lever_and_gripper) {
  const char *const g[3] = {"door", "lever", "arm_hand,arm_finger"};
  check_learning_camera("door_open", NULL, 3, g, all, 0);
}

// the box is seen until the drape covers it (success hides most of it: 59% of frames measured)
Test(render, the_learning_camera_shows_cloth_box_and_gripper) {
  const char *const g[3] = {"CB", "box", "arm_hand,arm_finger,bar"};
  const double share[3] = {0.95, 0.5, 0.95};
  check_learning_camera("cloth_drape", "top", 3, g, share, 1);
}

// the vectorized runner's workers render every environment's own frame: with 3 threads over
// 5 environments (each stepped differently) the pixel pass gives, byte for byte, the images
// of rendering the same environments one by one on this thread, pass after pass
Test(render, the_workers_pixel_pass_is_rendering_one_by_one) {
  cr_assert(getenv("DISPLAY"), "rendering tests need a display: run them under xvfb-run (scripts/setup.sh test does)");
  enum { N = 5, P = 32 * 24 * 3 };
  const char *cfg = "{\"obs\": \"state+pixels\", \"image_width\": 32, \"image_height\": 24}";
  char err[512] = "";
  af_vecenv *v = af_vecenv_make("puck_push", cfg, N, 3, err, sizeof err);
  cr_assert(v, "%s", err);
  const af_env_spec *s = af_vecenv_spec(v);
  static float obs[N * 64], act[N * 4], rew[N];
  static uint8_t te[N], tr[N];
  static unsigned char par[N * P], one[N * P];
  cr_assert_leq(s->obs_dim, 64);
  cr_assert_eq(af_vecenv_reset(v, 21, obs), AF_OK);
  af_rng rng;
  af_rng_seed(&rng, 5);
  for (int pass = 0; pass < 4; pass++) {
    for (int k = 0; k < N * s->act_dim; k++) act[k] = (float)af_rng_range(&rng, -1, 1);
    cr_assert_eq(af_vecenv_step(v, act, obs, NULL, rew, te, tr, NULL), AF_OK);
    memset(par, 0, sizeof par);
    cr_assert_eq(af_vecenv_pixels(v, par), AF_OK, "%s", af_vecenv_last_error(v));
    for (int i = 0; i < N; i++) cr_assert_eq(af_env_pixels(af_vecenv_env(v, i), one + (size_t)i * P), AF_OK);
    cr_assert(memcmp(par, one, sizeof par) == 0, "pass %d: the workers' images differ from one-by-one rendering", pass);
    // the environments differ, so each image is its own environment's
    cr_assert(memcmp(par, par + P, P) != 0, "environments 0 and 1 rendered the same image");
  }
  af_vecenv_free(v);
  // without pixel observations the pass is refused with a reason
  v = af_vecenv_make("puck_push", "{}", 2, 2, err, sizeof err);
  cr_assert(v, "%s", err);
  cr_assert_eq(af_vecenv_pixels(v, par), AF_ERR_UNSUP);
  cr_assert(strstr(af_vecenv_last_error(v), "pixel observations are off"), "%s", af_vecenv_last_error(v));
  af_vecenv_free(v);
}

// "frame_stack": the observation vector carries the last K frames after the state entries, as
// planar floats of the very pixels af_env_pixels renders: at a reset K copies of the first
// frame, after each step the newest frame last and the others moved up by one; the state
// entries are those of the same environment without frames
static void planar(float *out, const unsigned char *hwc, int W, int H) {
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < W * H; i++) out[(size_t)c * W * H + i] = hwc[(size_t)i * 3 + c];
}

Test(render, frame_stack_puts_the_last_frames_in_the_observation) {
  enum { W = 24, H = 16, K = 3, F = 3 * W * H };
  af_env *e = make("puck_push", "{\"obs\": \"state+pixels\", \"image_width\": 24, \"image_height\": 16, \"frame_stack\": 3}");
  af_env *ref = make("puck_push", "{}");
  const af_env_spec *s = af_env_get_spec(e);
  const int sd = af_env_get_spec(ref)->obs_dim;
  cr_assert_eq(s->pixel_stack, K);
  cr_assert_eq(s->pixel_offset, sd);
  cr_assert_eq(s->obs_dim, sd + K * F);
  static float obs[64 + K * F], robs[64], want[K][F];
  static unsigned char img[F];
  float act[4] = {0.6f, -0.4f, 0.2f, 0}, r;
  int te, tr;
  cr_assert_eq(af_env_reset(e, 4, obs), AF_OK);
  cr_assert_eq(af_env_reset(ref, 4, robs), AF_OK);
  cr_assert(memcmp(obs, robs, sizeof(float) * sd) == 0, "the state entries are the state observation");
  cr_assert_eq(af_env_pixels(e, img), AF_OK);
  for (int k = 0; k < K; k++) planar(want[k], img, W, H);
  cr_assert(memcmp(obs + sd, want, sizeof want) == 0, "at a reset the stack is the first frame %d times", K);
  for (int t = 0; t < 4; t++) {
    cr_assert_eq(af_env_step(e, act, obs, &r, &te, &tr, NULL), AF_OK);
    cr_assert_eq(af_env_step(ref, act, robs, &r, &te, &tr, NULL), AF_OK);
    cr_assert(memcmp(obs, robs, sizeof(float) * sd) == 0, "step %d: the state entries", t);
    memmove(want[0], want[1], sizeof(float) * F * (K - 1));
    cr_assert_eq(af_env_pixels(e, img), AF_OK);
    planar(want[K - 1], img, W, H);
    cr_assert(memcmp(obs + sd, want, sizeof want) == 0, "step %d: the stack is the last %d frames, oldest first", t, K);
  }
  cr_assert(memcmp(want[0], want[K - 1], sizeof(float) * F) != 0, "the arm moved: the frames differ");
  af_env_free(e);
  af_env_free(ref);
  // refused without pixels, and beyond the limit
  char err[256] = "";
  cr_assert_null(af_env_make("puck_push", "{\"frame_stack\": 2}", err, sizeof err));
  cr_assert(strstr(err, "frame_stack needs pixel observations"), "%s", err);
  cr_assert_null(af_env_make("puck_push", "{\"obs\": \"pixels\", \"frame_stack\": 17}", err, sizeof err));
}

// obs proprio+pixels: the robot's own entries (door_open: hand, its velocity, yaw, opening)
// and the frames, nothing of the door or the goal; the same entries and frames as the state
// observation and state+pixels of the same seed and actions (sensor noise off: the noise
// draws per state entry would differ). Refused where no entries are named
Test(render, proprio_pixels_keeps_the_robots_entries_and_the_frames) {
  enum { W = 24, H = 16, K = 2, F = 3 * W * H, P = 9 };
  const char *rnd = "\"randomize\": {\"sensor\": false}";
  char cp[256], cs[256];
  snprintf(cp, sizeof cp, "{\"obs\": \"proprio+pixels\", \"image_width\": %d, \"image_height\": %d, \"frame_stack\": %d, %s}", W, H, K, rnd);
  snprintf(cs, sizeof cs, "{\"obs\": \"state+pixels\", \"image_width\": %d, \"image_height\": %d, \"frame_stack\": %d, %s}", W, H, K, rnd);
  af_env *e = make("door_open", cp), *ref = make("door_open", cs);
  const af_env_spec *s = af_env_get_spec(e), *rs = af_env_get_spec(ref);
  cr_assert_eq(s->obs_dim, P + K * F);
  cr_assert_eq(s->pixel_offset, P);
  cr_assert_eq(rs->pixel_offset, 22);
  cr_assert_eq(s->goal_dim, 0, "the door angle and the goal are not observed");
  cr_assert_eq(s->achieved_offset, -1);
  static float obs[P + K * F], robs[22 + K * F];
  float act[8] = {0}, r, rr;
  int te, tr, rte, rtr;
  cr_assert_eq(af_env_reset(e, 31, obs), AF_OK);
  cr_assert_eq(af_env_reset(ref, 31, robs), AF_OK);
  int moved = 0;
  for (int t = 0; t < 40; t++) {
    cr_assert(memcmp(obs, robs, sizeof(float) * P) == 0, "step %d: the proprioceptive entries are the state's first %d", t, P);
    cr_assert(memcmp(obs + P, robs + 22, sizeof(float) * K * F) == 0, "step %d: the frames are those of state+pixels", t);
    cr_assert_eq(af_env_scripted_action(ref, act), AF_OK);
    cr_assert_eq(af_env_step(e, act, obs, &r, &te, &tr, NULL), AF_OK);
    cr_assert_eq(af_env_step(ref, act, robs, &rr, &rte, &rtr, NULL), AF_OK);
    cr_assert(r == rr && te == rte && tr == rtr, "step %d: the reward is the environment's, whatever it observes", t);
    moved |= fabsf(robs[12]) > 0.01f;
  }
  cr_assert(moved, "the scripted opener moved the door within 40 steps");
  af_env_free(e);
  af_env_free(ref);
  // open-loop grasping observes the episode's first state only: no entries named
  char err[256] = "";
  cr_assert_null(af_env_make("bin_grasp", "{\"loop\": \"open\", \"obs\": \"proprio+pixels\"}", err, sizeof err));
  cr_assert(strstr(err, "no proprioceptive entries"), "%s", err);
}

// stacked-frame observations from the vectorized runner: with 3 threads (environments taken
// by whichever worker is free, each rendering with its own context) the observations are
// those of 1 thread, byte for byte, through resets at episode ends
Test(render, frame_stacked_observations_from_workers_are_those_of_one_thread) {
  enum { N = 4 };
  const char *cfg = "{\"obs\": \"pixels\", \"image_width\": 16, \"image_height\": 16, \"frame_stack\": 2, \"horizon\": 5}";
  char err[512] = "";
  af_vecenv *a = af_vecenv_make("puck_push", cfg, N, 1, err, sizeof err), *b = af_vecenv_make("puck_push", cfg, N, 3, err, sizeof err);
  cr_assert(a && b, "%s", err);
  const int od = af_vecenv_spec(a)->obs_dim;
  cr_assert_eq(od, 2 * 3 * 16 * 16, "pixels only: the frames are the whole observation");
  static float oa[N * 1536], ob[N * 1536], fa[N * 1536], fb[N * 1536], act[N * 4], ra[N], rb[N];
  static uint8_t ta[N], tb[N], ua[N], ub[N];
  cr_assert_eq(af_vecenv_reset(a, 8, oa), AF_OK);
  cr_assert_eq(af_vecenv_reset(b, 8, ob), AF_OK);
  cr_assert(memcmp(oa, ob, sizeof(float) * N * od) == 0);
  af_rng rng;
  af_rng_seed(&rng, 3);
  int ends = 0;
  for (int t = 0; t < 12; t++) {
    for (int k = 0; k < N * 4; k++) act[k] = (float)af_rng_range(&rng, -1, 1);
    cr_assert_eq(af_vecenv_step(a, act, oa, fa, ra, ta, ua, NULL), AF_OK, "%s", af_vecenv_last_error(a));
    cr_assert_eq(af_vecenv_step(b, act, ob, fb, rb, tb, ub, NULL), AF_OK, "%s", af_vecenv_last_error(b));
    cr_assert(memcmp(oa, ob, sizeof(float) * N * od) == 0, "step %d: observations differ", t);
    for (int i = 0; i < N; i++)
      if (ua[i] || ta[i]) {
        ends++;
        cr_assert(memcmp(fa + (size_t)i * od, fb + (size_t)i * od, sizeof(float) * od) == 0, "step %d: final observations differ", t);
      }
  }
  cr_assert_geq(ends, N, "episodes ended and restarted");
  af_vecenv_free(a);
  af_vecenv_free(b);
}

// "goal_image": the frame after the stack shows the episode's goal reached (door_open: the door
// at the goal angle, the hand over the handle), rendered on a copy of the data: stepping is byte
// for byte that of the same environment without it (state, frames, rewards, the scripted
// opener's actions), the goal frame is far from the first frame and near a solved state of the
// same episode, and it is rendered once per episode (reset and set_state render it again)
static double mean_abs_diff(const float *a, const float *b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += fabs((double)a[i] - b[i]);
  return s / n;
}

static double drawn_value(const af_env *e, const char *name) {
  double v = NAN;
  const char *n;
  for (int i = 0; (n = af_env_randomization_param(e, i, NULL, &v, NULL)); i++)
    if (!strcmp(n, name)) return v;
  return NAN;
}

Test(render, goal_image_shows_the_door_at_the_goal_and_leaves_the_episode_alone) {
  enum { W = 48, H = 48, F = 3 * W * H, T = 40 };
  const char *cg = "{\"obs\": \"pixels\", \"image_width\": 48, \"image_height\": 48, \"frame_stack\": 1, \"goal_image\": true}";
  const char *cr = "{\"obs\": \"pixels\", \"image_width\": 48, \"image_height\": 48, \"frame_stack\": 1}";
  af_env *e = make("door_open", cg), *ref = make("door_open", cr);
  const af_env_spec *s = af_env_get_spec(e), *rs = af_env_get_spec(ref);
  cr_assert_eq(s->pixel_stack, 1);
  cr_assert_eq(s->pixel_offset, 0);
  cr_assert_eq(s->goal_image_offset, F, "the goal frame follows the stack");
  cr_assert_eq(s->obs_dim, 2 * F);
  cr_assert_eq(rs->goal_image_offset, 0, "no goal image unless asked for");
  cr_assert_eq(rs->obs_dim, F);
  cr_assert_eq(af_env_state_size(e), af_env_state_size(ref), "the goal frame is not in a snapshot");
  // an episode whose goal opens the door well (the goal is drawn per seed)
  uint64_t seed = 1;
  for (; seed < 100; seed++) {
    cr_assert_eq(af_env_reset(ref, seed, NULL), AF_OK);
    double g = drawn_value(ref, "goal_angle");
    if (g >= 0.6 && g <= 1.0) break;
  }
  cr_assert_lt(seed, 100, "no seed draws a goal in [0.6, 1]");
  static float obs[2 * F], robs[F], goal[F], first[F], solved[F];
  static unsigned char img[F];
  cr_assert_eq(af_env_reset(e, seed, obs), AF_OK);
  cr_assert_eq(af_env_reset(ref, seed, robs), AF_OK);
  cr_assert(memcmp(obs, robs, sizeof(float) * F) == 0, "the stack frame is the same environment's");
  memcpy(goal, obs + F, sizeof goal);
  memcpy(first, obs, sizeof first);
  double d_first = mean_abs_diff(goal, first, F);
  cr_assert_gt(d_first, 8, "the goal frame is not the first frame (mean difference %.2f of 255)", d_first);
  // the episode goes on as without the goal image, byte for byte
  const mjData *d = af_env_data(e), *rd = af_env_data(ref);
  const mjModel *m = af_env_model(e);
  float act[8], ract[8], r, rr;
  int te, tr, rte, rtr, na = s->act_dim;
  for (int t = 0; t < T; t++) {
    cr_assert_eq(af_env_scripted_action(e, act), AF_OK);
    cr_assert_eq(af_env_scripted_action(ref, ract), AF_OK);
    cr_assert(memcmp(act, ract, sizeof(float) * na) == 0, "step %d: the opener's actions", t);
    cr_assert_eq(af_env_step(e, act, obs, &r, &te, &tr, NULL), AF_OK, "%s", af_env_last_error(e));
    cr_assert_eq(af_env_step(ref, act, robs, &rr, &rte, &rtr, NULL), AF_OK);
    cr_assert(r == rr && te == rte && tr == rtr, "step %d: reward and flags", t);
    cr_assert(d->time == rd->time, "step %d: time", t);
    cr_assert(memcmp(d->qpos, rd->qpos, sizeof(mjtNum) * m->nq) == 0, "step %d: qpos", t);
    cr_assert(memcmp(d->qvel, rd->qvel, sizeof(mjtNum) * m->nv) == 0, "step %d: qvel", t);
    cr_assert(memcmp(d->qacc_warmstart, rd->qacc_warmstart, sizeof(mjtNum) * m->nv) == 0, "step %d: warm start", t);
    cr_assert(memcmp(d->ctrl, rd->ctrl, sizeof(mjtNum) * m->nu) == 0, "step %d: ctrl", t);
    cr_assert(memcmp(d->qfrc_applied, rd->qfrc_applied, sizeof(mjtNum) * m->nv) == 0, "step %d: applied forces", t);
    cr_assert(memcmp(obs, robs, sizeof(float) * F) == 0, "step %d: the stack frame", t);
    cr_assert(memcmp(obs + F, goal, sizeof goal) == 0, "step %d: the goal frame stays the episode's", t);
    cr_assert(memcmp(obs, obs + F, sizeof(float) * F) != 0, "step %d: the goal frame is not the current frame", t);
  }
  const int dj = mj_name2id(m, mjOBJ_JOINT, "door");
  cr_assert_geq(dj, 0);
  cr_assert_gt(fabs(d->qpos[m->jnt_qposadr[dj]]), 0.01, "the opener moved the door");
  // cached: a frame marked by hand is what the next steps observe, until set_state renders it again
  static unsigned char snap[1 << 20];
  size_t ss = af_env_state_size(e);
  cr_assert_leq(ss, sizeof snap);
  cr_assert_eq(af_env_get_state(e, snap, ss), AF_OK);
  memset(e->goal_frame, 7, F);
  cr_assert_eq(af_env_step(e, act, obs, &r, &te, &tr, NULL), AF_OK);
  for (int i = 0; i < F; i++) cr_assert_eq(obs[F + i], 7.0f, "the goal frame was rendered again within the episode");
  cr_assert_eq(af_env_set_state(e, snap, ss), AF_OK, "%s", af_env_last_error(e));
  cr_assert_eq(af_env_step(e, act, obs, &r, &te, &tr, NULL), AF_OK);
  cr_assert(memcmp(obs + F, goal, sizeof goal) == 0, "after set_state the goal frame is rendered again, the same");
  // the same episode solved (the solver's door within 0.08 rad of the goal, the hand 5-10 cm
  // over the handle) looks like the goal frame; a reset renders the goal again
  memset(e->goal_frame, 7, F);
  cr_assert_eq(af_env_reset(e, seed, obs), AF_OK);
  cr_assert(memcmp(obs + F, goal, sizeof goal) == 0, "a reset renders the goal frame again, the same");
  af_rng rng;
  af_rng_seed(&rng, 5);
  e->def->solve(e, &rng, e->hold);
  mj_forward(e->m, e->d);
  cr_assert_eq(af_env_pixels(e, img), AF_OK);
  planar(solved, img, W, H);
  double d_solved = mean_abs_diff(goal, solved, F);
  cr_log_info("goal image: mean absolute difference %.2f to the solved frame, %.2f to the first frame (of 255)", d_solved, d_first);
  cr_assert_lt(d_solved, 0.5 * d_first, "the goal frame (%.2f from the solved frame) is not nearer the solved state than the first frame (%.2f)",
               d_solved, d_first);
  af_env_free(e);
  af_env_free(ref);
}

// refused where no goal can be pictured: an environment without the hook, no pixels, no stack
Test(render, goal_image_is_refused_without_a_goal_picture_or_pixels) {
  const char *bad[][2] = {
    {"puck_push", "{\"obs\": \"pixels\", \"frame_stack\": 1, \"goal_image\": true}"},
    {"pendulum", "{\"obs\": \"pixels\", \"frame_stack\": 2, \"goal_image\": true}"},
    {"door_open", "{\"goal_image\": true}"},
    {"door_open", "{\"obs\": \"pixels\", \"goal_image\": true}"},
  };
  for (int i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
    char err[256] = "";
    af_env *e = af_env_make(bad[i][0], bad[i][1], err, sizeof err);
    cr_assert_null(e, "%s %s was accepted", bad[i][0], bad[i][1]);
    cr_assert(strstr(err, "goal_image"), "%s: %s", bad[i][0], err);
    cr_assert(!strchr(err, '\n'), "one line: %s", err);
  }
  char err[256] = "";
  af_env *e = af_env_make("door_open", "{\"obs\": \"state+pixels\", \"image_width\": 16, \"image_height\": 16, \"frame_stack\": 2, \"goal_image\": false}", err, sizeof err);
  cr_assert(e, "%s", err);
  cr_assert_eq(af_env_get_spec(e)->goal_image_offset, 0);
  af_env_free(e);
}
