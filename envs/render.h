// One renderer for every environment: MuJoCo's mjv_/mjr_ pipeline on an OpenGL context of
// its own (GLX, on a small pbuffer), drawing offscreen into a framebuffer sized to the image.
// Works headless under Xvfb; without any display it fails with a one-line message.
// Process-wide effects: the first af_render_make calls XInitThreads, sets an X error handler
// (protocol errors are kept for armfarm's messages instead of ending the process), and sets
// LP_NUM_THREADS=0 unless it is set (Mesa's llvmpipe then rasterizes in the drawing thread:
// faster for small frames, and the vectorized runner's workers render in parallel). Renderers
// take X connections from a pool of 16 in turn (llvmpipe rasterizes the contexts of one
// connection one frame at a time), opened on first use and kept until exit.
// Each call makes the renderer's context current in the calling thread (unless it is already)
// and leaves it current, saving a switch per frame (Mesa's software drivers ask the X server
// for the drawable's size at each). A renderer may draw in another thread once the thread
// that drew last has called af_render_release (the vectorized runner's workers render their
// environments this way). r and m must not be NULL.
#ifndef AF_RENDER_H
#define AF_RENDER_H

#include <stddef.h>
#include <mujoco/mujoco.h>

typedef struct af_render af_render;

// a renderer for images of width x height (1..4096) for model m (read only; the model's
// offscreen size is changed and restored during the call); samples 0 and shadows 0 for
// observations. Owned by the caller (af_render_free), or NULL with a message in err.
// A MuJoCo error inside it is fatal unless the caller guards it (af_env_make does).
af_render *af_render_make(const mjModel *m, int width, int height, int samples, int shadows, char *err, size_t errsz);
// free the renderer and its context; NULL is a no-op
void af_render_free(af_render *r);

// the scene of d seen from camera `camera` (-1: a free camera looking at the model's centre)
// into rgb (height, width, 3), top row first, with height fields the model changed uploaded
// first (af_hfield_sync); `overlay` (or NULL) is text drawn top left,
// lines separated by '\n', with labels and values separated by '\t'. d is read (mjData is
// non-const for MuJoCo's scene update only); rgb must hold width * height * 3 bytes
void af_render_frame(af_render *r, const mjModel *m, mjData *d, int camera, const char *overlay, unsigned char *rgb);

// release whatever context is current in the calling thread, so that another thread may make
// it current (a context is current in one thread at most)
void af_render_release(void);

// segmentation: for each pixel of the scene from `camera` (as af_render_frame, top row first),
// the body id of the model geom drawn there (for a skin, such as the cloth's surface, the body
// of its first bone), or -1 where none is (background, or decor such as contact points); body
// must hold width * height ints
void af_render_segment(af_render *r, const mjModel *m, mjData *d, int camera, int *body);

// height fields as last uploaded to an mjrContext. MuJoCo copies them to the GPU once, in
// mjr_makeContext, so a height field that a reset rewrites (envs/terrain.c: rough ground)
// must be uploaded again or pixels and viewer show the old ground. af_render_frame keeps one
// and does this before every frame; a caller with its own mjrContext (the viewer) keeps one
// too: init right after mjr_makeContext, upload before each mjr_render (its context current).
typedef struct {
  float *data;  // (nhfielddata) the data as uploaded
  int n;
} af_hfield_sync;

// remember m's height fields as mjr_makeContext uploaded them; 0, or -1 when out of memory
int af_hfield_sync_init(af_hfield_sync *s, const mjModel *m);
// upload (mjr_uploadHField) every height field whose data changed since; how many it uploaded
int af_hfield_sync_upload(af_hfield_sync *s, const mjModel *m, const mjrContext *con);
void af_hfield_sync_free(af_hfield_sync *s);

// a PNG file of an rgb (height, width, 3) image: 8-bit RGB, rows filtered and deflated
// through zlib, written atomically (a temporary file, then a rename); 0 or -1
int af_write_png(const char *path, const unsigned char *rgb, int width, int height);

#endif
