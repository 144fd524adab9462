// Pixel observations under Xvfb (the test command provides a display): every environment
// renders a non-uniform frame of the configured shape, the same seed renders the same image,
// a colour drawn by randomization changes the pixels where the object is seen and only
// there, and without a display the renderer says what to do instead of crashing; a video
// named with shell characters is written under exactly that name and runs nothing.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "envs/env_impl.h"
#include "envs/render.h"

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

// our own PNGs are stored deflate: read the pixels back (IDAT holds zlib with stored blocks)
static int read_png(const char *path, unsigned char *rgb, int *w, int *h, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  static unsigned char buf[1 << 23];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  *w = (buf[16] << 24) | (buf[17] << 16) | (buf[18] << 8) | buf[19];
  *h = (buf[20] << 24) | (buf[21] << 16) | (buf[22] << 8) | buf[23];
  size_t line = (size_t)*w * 3 + 1, raw = 0, need = line * (size_t)*h;
  static unsigned char data[1 << 23];
  // IDAT starts after signature (8) + IHDR chunk (25) + length and type (8), then zlib's 2 bytes
  size_t p = 8 + 25 + 8 + 2;
  while (p + 5 <= n && raw < need) {
    int last = buf[p] & 1;
    size_t len = buf[p + 1] | (buf[p + 2] << 8);
    memcpy(data + raw, buf + p + 5, len);
    raw += len;
    p += 5 + len;
    if (last) break;
  }
  if (raw != need || need - *h > cap) return -1;
  for (int y = 0; y < *h; y++) memcpy(rgb + (size_t)y * *w * 3, data + y * line + 1, (size_t)*w * 3);
  return 0;
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
  cr_assert_eq(read_png("render_view.png", img, &w, &h, sizeof img), 0, "not a PNG we can read");
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
  cr_assert_eq(read_png("render_ck.png", img, &w, &h, sizeof img), 0);
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
