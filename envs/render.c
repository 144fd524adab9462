// The renderer: a hidden GLFW window gives the OpenGL context, MuJoCo renders offscreen into
// its own framebuffer of the requested size, mjr_readPixels reads it back.
#include "envs/render.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <GLFW/glfw3.h>

struct af_render {
  GLFWwindow *window;
  mjvScene scn;
  mjrContext con;
  mjvOption opt;
  mjvCamera cam;
  int width, height;
  unsigned char *rows;  // (height, width, 3) as read, bottom row first
};

// GLFW's errors, kept for the message instead of printed
static char glfw_error[256];
static void on_glfw_error(int code, const char *msg) { snprintf(glfw_error, sizeof glfw_error, "%s (GLFW error %d)", msg, code); }

static int glfw_ready(char *err, size_t errsz) {
  static int ready = 0;
  if (ready) return 0;
  glfwSetErrorCallback(on_glfw_error);
  if (!glfwInit()) {
    const char *disp = getenv("DISPLAY");
    snprintf(err, errsz, "cannot open a display for rendering%s%s: run under Xvfb (xvfb-run -a armfarm ...) or set DISPLAY (%s)",
             disp ? " at DISPLAY=" : " (DISPLAY is not set)", disp ? disp : "", glfw_error);
    return -1;
  }
  ready = 1;
  return 0;
}

af_render *af_render_make(const mjModel *m, int width, int height, int samples, int shadows, char *err, size_t errsz) {
  if (width < 1 || height < 1 || width > 4096 || height > 4096) { snprintf(err, errsz, "image size %dx%d out of range", width, height); return NULL; }
  if (glfw_ready(err, errsz)) return NULL;
  af_render *r = calloc(1, sizeof *r);
  if (!r) { snprintf(err, errsz, "out of memory"); return NULL; }
  glfwWindowHint(GLFW_VISIBLE, GLFW_FALSE);
  glfwWindowHint(GLFW_DOUBLEBUFFER, GLFW_FALSE);
  r->window = glfwCreateWindow(64, 64, "armfarm", NULL, NULL);
  glfwDefaultWindowHints();
  if (!r->window) { snprintf(err, errsz, "cannot create an OpenGL context: %s", glfw_error); free(r); return NULL; }
  glfwMakeContextCurrent(r->window);
  // the offscreen buffer takes its size and samples from the model's visual settings
  mjModel *mm = (mjModel *)m;
  int ow = mm->vis.global.offwidth, oh = mm->vis.global.offheight, os = mm->vis.quality.offsamples;
  mm->vis.global.offwidth = width;
  mm->vis.global.offheight = height;
  mm->vis.quality.offsamples = samples;
  mjv_defaultScene(&r->scn);
  mjr_defaultContext(&r->con);
  mjv_defaultOption(&r->opt);
  mjv_defaultCamera(&r->cam);
  mjv_makeScene(m, &r->scn, 2000);
  mjr_makeContext(m, &r->con, mjFONTSCALE_100);
  mm->vis.global.offwidth = ow;
  mm->vis.global.offheight = oh;
  mm->vis.quality.offsamples = os;
  mjr_setBuffer(mjFB_OFFSCREEN, &r->con);
  if (r->con.currentBuffer != mjFB_OFFSCREEN) { snprintf(err, errsz, "offscreen rendering is not supported here"); af_render_free(r); return NULL; }
  r->scn.flags[mjRND_SHADOW] = (mjtByte)(shadows != 0);
  r->width = width;
  r->height = height;
  r->rows = malloc((size_t)width * height * 3);
  // a free camera looking at the model's centre, for models without cameras
  r->cam.type = mjCAMERA_FREE;
  for (int k = 0; k < 3; k++) r->cam.lookat[k] = m->stat.center[k];
  r->cam.distance = 1.5 * m->stat.extent;
  return r;
}

void af_render_free(af_render *r) {
  if (!r) return;
  if (r->window) {
    glfwMakeContextCurrent(r->window);
    mjr_freeContext(&r->con);
    mjv_freeScene(&r->scn);
    glfwDestroyWindow(r->window);
  }
  free(r->rows);
  free(r);
}

void af_render_frame(af_render *r, const mjModel *m, mjData *d, int camera, const char *overlay, unsigned char *rgb) {
  glfwMakeContextCurrent(r->window);
  if (camera >= 0) {
    r->cam.type = mjCAMERA_FIXED;
    r->cam.fixedcamid = camera;
  } else {
    r->cam.type = mjCAMERA_FREE;
  }
  mjrRect vp = {0, 0, r->width, r->height};
  mjv_updateScene(m, d, &r->opt, NULL, &r->cam, mjCAT_ALL, &r->scn);
  mjr_render(vp, &r->scn, &r->con);
  if (overlay) {
    // labels and values in two columns
    char left[2048] = "", right[2048] = "";
    for (const char *p = overlay; *p;) {
      const char *nl = strchr(p, '\n'), *end = nl ? nl : p + strlen(p), *tab = memchr(p, '\t', (size_t)(end - p));
      snprintf(left + strlen(left), sizeof left - strlen(left), "%.*s\n", (int)((tab ? tab : end) - p), p);
      snprintf(right + strlen(right), sizeof right - strlen(right), "%.*s\n", tab ? (int)(end - tab - 1) : 0, tab ? tab + 1 : "");
      p = nl ? nl + 1 : end;
    }
    mjr_overlay(mjFONT_NORMAL, mjGRID_TOPLEFT, vp, left, right, &r->con);
  }
  mjr_readPixels(r->rows, NULL, vp, &r->con);
  // OpenGL's first row is the bottom one
  size_t row = (size_t)r->width * 3;
  for (int y = 0; y < r->height; y++) memcpy(rgb + (size_t)y * row, r->rows + (size_t)(r->height - 1 - y) * row, row);
}

// ---- PNG: stored (uncompressed) deflate blocks inside zlib, CRC-32 and Adler-32 by hand ----
static uint32_t crc_table[256];
static void crc_init(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[n] = c;
  }
}
static uint32_t crc(uint32_t c, const unsigned char *b, size_t n) {
  for (size_t i = 0; i < n; i++) c = crc_table[(c ^ b[i]) & 0xFF] ^ (c >> 8);
  return c;
}
static void put32(unsigned char *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

static int chunk(FILE *f, const char *type, const unsigned char *data, size_t n) {
  unsigned char hdr[8];
  put32(hdr, (uint32_t)n);
  memcpy(hdr + 4, type, 4);
  uint32_t c = crc(0xFFFFFFFFu, (const unsigned char *)type, 4);
  c = crc(c, data, n) ^ 0xFFFFFFFFu;
  unsigned char tail[4];
  put32(tail, c);
  return fwrite(hdr, 1, 8, f) == 8 && (n == 0 || fwrite(data, 1, n, f) == n) && fwrite(tail, 1, 4, f) == 4 ? 0 : -1;
}

int af_write_png(const char *path, const unsigned char *rgb, int w, int h) {
  crc_init();
  // raw scanlines, each with filter byte 0
  size_t line = (size_t)w * 3 + 1, raw_n = line * h;
  unsigned char *raw = malloc(raw_n);
  if (!raw) return -1;
  for (int y = 0; y < h; y++) { raw[y * line] = 0; memcpy(raw + y * line + 1, rgb + (size_t)y * w * 3, (size_t)w * 3); }
  // zlib stream of stored blocks of at most 65535 bytes
  size_t nblocks = raw_n / 65535 + 1, z_n = 2 + raw_n + 5 * nblocks + 4;
  unsigned char *z = malloc(z_n), *p = z;
  if (!z) { free(raw); return -1; }
  *p++ = 0x78; *p++ = 0x01;
  uint32_t a = 1, b = 0;
  for (size_t off = 0; off < raw_n || off == 0;) {
    size_t k = raw_n - off > 65535 ? 65535 : raw_n - off;
    *p++ = off + k == raw_n ? 1 : 0;
    *p++ = k & 0xFF; *p++ = k >> 8; *p++ = ~k & 0xFF; *p++ = (~k >> 8) & 0xFF;
    memcpy(p, raw + off, k);
    for (size_t i = 0; i < k; i++) { a = (a + raw[off + i]) % 65521; b = (b + a) % 65521; }
    p += k;
    off += k;
    if (off == raw_n) break;
  }
  put32(p, (b << 16) | a);
  p += 4;
  unsigned char ihdr[13];
  put32(ihdr, (uint32_t)w);
  put32(ihdr + 4, (uint32_t)h);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  int ok = f && fwrite("\x89PNG\r\n\x1a\n", 1, 8, f) == 8 && chunk(f, "IHDR", ihdr, 13) == 0 &&
           chunk(f, "IDAT", z, (size_t)(p - z)) == 0 && chunk(f, "IEND", NULL, 0) == 0;
  if (f && fclose(f) != 0) ok = 0;
  if (ok) ok = rename(tmp, path) == 0;
  if (!ok) remove(tmp);
  free(raw);
  free(z);
  return ok ? 0 : -1;
}
