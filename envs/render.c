// The renderer: an OpenGL context on a GLX pixel buffer (pbuffer) of its own, MuJoCo renders
// offscreen into its own framebuffer of the requested size, mjr_readPixels reads it back.
#include "envs/render.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>  // abs, malloc
#include <string.h>

#include <GL/glx.h>
#include <X11/Xlib.h>
#include <zlib.h>    // compress2, crc32: the PNG writer

#include "base/base.h"  // af_write_file_atomic

struct af_render {
  Display *dpy;  // one of the pool's connections (not owned)
  GLXContext ctx;
  GLXPbuffer pb;
  int made;      // MuJoCo's scene and context made (freed with the renderer)
  mjvScene scn;
  mjrContext con;
  mjvOption opt;
  mjvCamera cam;
  int width, height;
  unsigned char *rows;  // (height, width, 3) as read, bottom row first
  af_hfield_sync hf;    // height fields as the GPU has them
};

int af_hfield_sync_init(af_hfield_sync *s, const mjModel *m) {
  s->n = m->nhfielddata;
  s->data = s->n ? malloc(sizeof(float) * (size_t)s->n) : NULL;
  if (s->n && !s->data) { s->n = 0; return -1; }
  if (s->n) memcpy(s->data, m->hfield_data, sizeof(float) * (size_t)s->n);
  return 0;
}

int af_hfield_sync_upload(af_hfield_sync *s, const mjModel *m, const mjrContext *con) {
  // a model of another size: start over, every field is new
  if (s->n != m->nhfielddata) {
    af_hfield_sync_free(s);
    if (af_hfield_sync_init(s, m)) return 0;
    for (int h = 0; h < m->nhfield; h++) mjr_uploadHField(m, con, h);
    return m->nhfield;
  }
  // a field whose data differ from the uploaded copy goes up again (a few 10 kB compared)
  int up = 0;
  for (int h = 0; h < m->nhfield; h++) {
    size_t adr = (size_t)m->hfield_adr[h], n = (size_t)m->hfield_nrow[h] * m->hfield_ncol[h];
    if (memcmp(s->data + adr, m->hfield_data + adr, sizeof(float) * n) == 0) continue;
    memcpy(s->data + adr, m->hfield_data + adr, sizeof(float) * n);
    mjr_uploadHField(m, con, h);
    up++;
  }
  return up;
}

void af_hfield_sync_free(af_hfield_sync *s) {
  free(s->data);
  s->data = NULL;
  s->n = 0;
}

// ---- X connections: a pool, renderer i on connection i mod AF_RENDER_DISPLAYS ----
// Mesa's llvmpipe keeps one rasterizer per screen, and a screen per X connection: contexts on
// one connection rasterize one frame at a time whatever the thread count, contexts on
// different connections in parallel. The pool bounds the connections an X server must take
// (Xvfb's default limit is 256 clients) while renderers made one after another, which the
// vectorized runner's workers take in turn, sit on different ones.
#define AF_RENDER_DISPLAYS 16
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static Display *pool[AF_RENDER_DISPLAYS];
static unsigned pool_next;

// X protocol errors (a refused context or pbuffer), kept for the message instead of exiting
static char x_error[256];
static int on_x_error(Display *dpy, XErrorEvent *ev) {
  char text[160] = "";
  XGetErrorText(dpy, ev->error_code, text, sizeof text);
  snprintf(x_error, sizeof x_error, "X error %s (request %d)", text, ev->request_code);
  return 0;
}

// the next connection of the pool, opened on first use; NULL with the message in err
static Display *pool_display(char *err, size_t errsz) {
  pthread_mutex_lock(&pool_lock);
  static int ready = 0;
  if (!ready) {
    XInitThreads();  // the workers draw on shared connections at once
    XSetErrorHandler(on_x_error);
    // Mesa's llvmpipe rasterizes in threads of its own; for frames of observation size they
    // only add hand-offs, and the runner's workers already render in parallel: rasterize in
    // the thread that draws, unless the user chose otherwise
    setenv("LP_NUM_THREADS", "0", 0);
    ready = 1;
  }
  unsigned i = pool_next % AF_RENDER_DISPLAYS;
  if (!pool[i]) pool[i] = XOpenDisplay(NULL);
  Display *d = pool[i];
  if (d) pool_next++;
  pthread_mutex_unlock(&pool_lock);
  if (!d) {
    const char *disp = getenv("DISPLAY");
    snprintf(err, errsz, "cannot open a display for rendering%s%s: run under Xvfb (xvfb-run -a armfarm ...) or set DISPLAY",
             disp ? " at DISPLAY=" : " (DISPLAY is not set)", disp ? disp : "");
  }
  return d;
}

static int make_context_locked(af_render *r, char *err, size_t errsz) {
  const int attr[] = {GLX_DRAWABLE_TYPE, GLX_PBUFFER_BIT, GLX_RENDER_TYPE, GLX_RGBA_BIT, GLX_RED_SIZE, 8,
                      GLX_GREEN_SIZE, 8, GLX_BLUE_SIZE, 8, GLX_DEPTH_SIZE, 24, None};
  const int pattr[] = {GLX_PBUFFER_WIDTH, 64, GLX_PBUFFER_HEIGHT, 64, None};
  int n = 0;
  x_error[0] = 0;
  GLXFBConfig *cfg = glXChooseFBConfig(r->dpy, DefaultScreen(r->dpy), attr, &n);
  if (!cfg || n < 1) {
    if (cfg) XFree(cfg);
    snprintf(err, errsz, "cannot create an OpenGL context: the X server has no GLX configuration with 8-bit RGB, a depth buffer and pbuffers");
    return -1;
  }
  r->pb = glXCreatePbuffer(r->dpy, cfg[0], pattr);
  r->ctx = glXCreateNewContext(r->dpy, cfg[0], GLX_RGBA_TYPE, NULL, True);
  XFree(cfg);
  XSync(r->dpy, False);
  if (!r->pb || !r->ctx || x_error[0] || !glXMakeContextCurrent(r->dpy, r->pb, r->pb, r->ctx)) {
    snprintf(err, errsz, "cannot create an OpenGL context: %s", x_error[0] ? x_error : "GLX refused the pbuffer or the context");
    return -1;
  }
  return 0;
}

// a context on a small pbuffer of dpy's default screen, current in the calling thread; under
// the pool's lock, as the X error text it reads is the process's
static int make_context(af_render *r, char *err, size_t errsz) {
  pthread_mutex_lock(&pool_lock);
  int rc = make_context_locked(r, err, errsz);
  pthread_mutex_unlock(&pool_lock);
  return rc;
}

af_render *af_render_make(const mjModel *m, int width, int height, int samples, int shadows, char *err, size_t errsz) {
  if (width < 1 || height < 1 || width > 4096 || height > 4096) { snprintf(err, errsz, "image size %dx%d out of range", width, height); return NULL; }
  af_render *r = calloc(1, sizeof *r);
  if (!r) { snprintf(err, errsz, "out of memory"); return NULL; }
  if (!(r->dpy = pool_display(err, errsz)) || make_context(r, err, errsz)) { af_render_free(r); return NULL; }
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
  r->made = 1;
  mm->vis.global.offwidth = ow;
  mm->vis.global.offheight = oh;
  mm->vis.quality.offsamples = os;
  mjr_setBuffer(mjFB_OFFSCREEN, &r->con);
  if (r->con.currentBuffer != mjFB_OFFSCREEN) { snprintf(err, errsz, "offscreen rendering is not supported here"); af_render_free(r); return NULL; }
  r->scn.flags[mjRND_SHADOW] = (mjtByte)(shadows != 0);
  r->width = width;
  r->height = height;
  r->rows = malloc((size_t)width * height * 3);
  if (!r->rows || af_hfield_sync_init(&r->hf, m)) { snprintf(err, errsz, "out of memory"); af_render_free(r); return NULL; }
  // a free camera looking at the model's centre, for models without cameras
  r->cam.type = mjCAMERA_FREE;
  for (int k = 0; k < 3; k++) r->cam.lookat[k] = m->stat.center[k];
  r->cam.distance = 1.5 * m->stat.extent;
  return r;
}

void af_render_free(af_render *r) {
  if (!r) return;
  if (r->made && glXMakeContextCurrent(r->dpy, r->pb, r->pb, r->ctx)) {
    mjr_freeContext(&r->con);
    mjv_freeScene(&r->scn);
  }
  if (r->ctx && glXGetCurrentContext() == r->ctx) glXMakeContextCurrent(r->dpy, None, None, NULL);
  if (r->ctx) glXDestroyContext(r->dpy, r->ctx);
  if (r->pb) glXDestroyPbuffer(r->dpy, r->pb);
  af_hfield_sync_free(&r->hf);
  free(r->rows);
  free(r);
}

// the context current, the camera set, the ground a reset rewrote on the GPU, the scene of d
// updated; the viewport of the whole image
static mjrRect prepare_scene(af_render *r, const mjModel *m, mjData *d, int camera) {
  if (glXGetCurrentContext() != r->ctx) glXMakeContextCurrent(r->dpy, r->pb, r->pb, r->ctx);
  if (camera >= 0) {
    r->cam.type = mjCAMERA_FIXED;
    r->cam.fixedcamid = camera;
  } else {
    r->cam.type = mjCAMERA_FREE;
  }
  af_hfield_sync_upload(&r->hf, m, &r->con);
  mjv_updateScene(m, d, &r->opt, NULL, &r->cam, mjCAT_ALL, &r->scn);
  return (mjrRect){0, 0, r->width, r->height};
}

void af_render_frame(af_render *r, const mjModel *m, mjData *d, int camera, const char *overlay, unsigned char *rgb) {
  mjrRect vp = prepare_scene(r, m, d, camera);
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

void af_render_release(void) {
  Display *d = glXGetCurrentDisplay();
  if (d) glXMakeContextCurrent(d, None, None, NULL);
}

void af_render_segment(af_render *r, const mjModel *m, mjData *d, int camera, int *body) {
  mjrRect vp = prepare_scene(r, m, d, camera);
  // each scene geom drawn in the colour of its segmentation id + 1 (0: nothing drawn)
  r->scn.flags[mjRND_SEGMENT] = 1;
  r->scn.flags[mjRND_IDCOLOR] = 1;
  mjr_render(vp, &r->scn, &r->con);
  r->scn.flags[mjRND_SEGMENT] = 0;
  r->scn.flags[mjRND_IDCOLOR] = 0;
  mjr_readPixels(r->rows, NULL, vp, &r->con);
  for (int y = 0; y < r->height; y++)
    for (int x = 0; x < r->width; x++) {
      const unsigned char *px = r->rows + ((size_t)(r->height - 1 - y) * r->width + x) * 3;
      int id = px[0] + (px[1] << 8) + (px[2] << 16) - 1, b = -1;
      // the segmentation id names a scene geom; a model geom's body, a skin's first bone's
      // body (a cloth surface: one of the cloth's nodes), or -1 for decor
      const mjvGeom *g = id >= 0 && id < r->scn.ngeom ? &r->scn.geoms[id] : NULL;
      if (g && g->objtype == mjOBJ_GEOM && g->objid >= 0 && g->objid < m->ngeom) b = m->geom_bodyid[g->objid];
      else if (g && g->objtype == mjOBJ_SKIN && g->objid >= 0 && g->objid < m->nskin && m->skin_bonenum[g->objid] > 0)
        b = m->skin_bonebodyid[m->skin_boneadr[g->objid]];
      body[(size_t)y * r->width + x] = b;
    }
}

// ---- PNG: each row gets the one of PNG's five filters whose output has the smallest sum
// of absolute values (libpng's heuristic), then zlib deflates the rows into one IDAT ----

// the Paeth predictor of PNG's filter type 4
static int paeth(int a, int b, int c) {
  int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

// row `cur` under filter `type` into out (n bytes, 3 bytes a pixel); prev is the row above
static void png_filter(unsigned char *out, int type, const unsigned char *cur, const unsigned char *prev, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int a = i >= 3 ? cur[i - 3] : 0, b = prev[i], c = i >= 3 ? prev[i - 3] : 0, pred = 0;
    if (type == 1) pred = a;
    else if (type == 2) pred = b;
    else if (type == 3) pred = (a + b) / 2;
    else if (type == 4) pred = paeth(a, b, c);
    out[i] = (unsigned char)(cur[i] - pred);
  }
}

static void put32(unsigned char *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

// a chunk whose n data bytes are already at start + 8: length and type before, CRC after;
// returns the end of the chunk
static unsigned char *png_chunk(unsigned char *start, const char *type, size_t n) {
  put32(start, (uint32_t)n);
  memcpy(start + 4, type, 4);
  put32(start + 8 + n, (uint32_t)crc32(0L, start + 4, (uInt)(n + 4)));
  return start + 12 + n;
}

int af_write_png(const char *path, const unsigned char *rgb, int w, int h) {
  if (w < 1 || h < 1 || w > 65536 || h > 65536) return -1;
  size_t stride = (size_t)w * 3, line = stride + 1, raw_n = line * h;
  uLong zmax = compressBound((uLong)raw_n);
  size_t file_n = 8 + 25 + 12 + zmax + 12;
  unsigned char *raw = malloc(raw_n), *zero = calloc(stride, 1), *trial = malloc(stride), *file = malloc(file_n);
  int ok = raw && zero && trial && file;
  // the filtered scanlines, each led by its filter type
  for (int y = 0; ok && y < h; y++) {
    const unsigned char *cur = rgb + (size_t)y * stride, *prev = y ? cur - stride : zero;
    unsigned long best = (unsigned long)-1;
    for (int t = 0; t < 5; t++) {
      png_filter(trial, t, cur, prev, stride);
      unsigned long cost = 0;
      for (size_t i = 0; i < stride; i++) cost += (unsigned long)abs((signed char)trial[i]);
      if (cost < best) { best = cost; raw[y * line] = (unsigned char)t; memcpy(raw + y * line + 1, trial, stride); }
    }
  }
  // signature, IHDR (8-bit RGB, no interlace), IDAT deflated in place, IEND
  unsigned char *p = file;
  uLongf zn = zmax;
  if (ok) {
    memcpy(p, "\x89PNG\r\n\x1a\n", 8);
    p += 8;
    unsigned char *ihdr = p + 8;
    put32(ihdr, (uint32_t)w);
    put32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
    p = png_chunk(p, "IHDR", 13);
    ok = compress2(p + 8, &zn, raw, (uLong)raw_n, Z_DEFAULT_COMPRESSION) == Z_OK;
  }
  if (ok) {
    p = png_chunk(p, "IDAT", zn);
    p = png_chunk(p, "IEND", 0);
    char err[512];
    ok = af_write_file_atomic(path, file, (size_t)(p - file), err, sizeof err) == 0;
  }
  free(raw);
  free(zero);
  free(trial);
  free(file);
  return ok ? 0 : -1;
}
