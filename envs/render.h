// One renderer for every environment: MuJoCo's mjv_/mjr_ pipeline on an OpenGL context from
// GLFW (a hidden window), drawing offscreen into a framebuffer sized to the image. Works
// headless under Xvfb; without any display it fails with a one-line message.
#ifndef AF_RENDER_H
#define AF_RENDER_H

#include <stddef.h>
#include <mujoco/mujoco.h>

typedef struct af_render af_render;

// a renderer for images of width x height; samples 0 and shadows 0 for observations
af_render *af_render_make(const mjModel *m, int width, int height, int samples, int shadows, char *err, size_t errsz);
void af_render_free(af_render *r);

// the scene of d seen from camera `camera` (-1: a free camera looking at the model's centre)
// into rgb (height, width, 3), top row first; `overlay` (or NULL) is text drawn top left,
// lines separated by '\n', with labels and values separated by '\t'
void af_render_frame(af_render *r, const mjModel *m, mjData *d, int camera, const char *overlay, unsigned char *rgb);

// a PNG file of an rgb (height, width, 3) image: 8-bit RGB, rows filtered and deflated
// through zlib, written atomically (a temporary file, then a rename); 0 or -1
int af_write_png(const char *path, const unsigned char *rgb, int width, int height);

#endif
