// Terrain: box slots laid out as stairs, ramps and platforms along +x, and a height field of
// smooth random bumps, rebuilt at each reset from the nominal model.
#include "envs/terrain.h"

#include <math.h>    // atan, cos, sin, sqrt, floor
#include <stdio.h>   // snprintf
#include <string.h>  // memcpy

#define HALF_WIDTH 2.4  // terrain half-width in y (m), as the height field
#define FEATURE_X 1.0   // features start 1 m ahead of the robot
#define END_X 26.0      // platforms run to here
#define RAMP_LEN 3.0
#define N_STEPS 12
#define BUMP_CELL 0.4   // bump wavelength (m)

int af_terrain_init(af_terrain *t, const mjModel *m, char *err, size_t errsz) {
  memset(t, 0, sizeof *t);
  for (int i = 0; i < AF_TERRAIN_BOXES; i++) {
    char name[16];
    snprintf(name, sizeof name, "tb%d", i);
    t->box[i] = mj_name2id(m, mjOBJ_GEOM, name);
    if (t->box[i] < 0 || m->geom_type[t->box[i]] != mjGEOM_BOX) { snprintf(err, errsz, "terrain: model lacks box geom '%s'", name); return -1; }
  }
  t->hgeom = mj_name2id(m, mjOBJ_GEOM, "rough");
  t->hfield = mj_name2id(m, mjOBJ_HFIELD, "rough");
  if (t->hgeom < 0 || t->hfield < 0) { snprintf(err, errsz, "terrain: model lacks the height field 'rough'"); return -1; }
  return 0;
}

// the next free box slot: centre, half sizes, pitch about y
static void put_box(af_terrain *t, mjModel *m, double cx, double cz, double hx, double hz, double pitch) {
  if (t->nbox >= AF_TERRAIN_BOXES) return;
  int g = t->box[t->nbox++];
  mjtNum *p = m->geom_pos + 3 * g, *s = m->geom_size + 3 * g, *q = m->geom_quat + 4 * g;
  p[0] = cx; p[1] = 0; p[2] = cz;
  s[0] = hx; s[1] = HALF_WIDTH; s[2] = hz;
  q[0] = cos(pitch / 2); q[1] = 0; q[2] = sin(pitch / 2); q[3] = 0;
  m->geom_rbound[g] = sqrt(hx * hx + HALF_WIDTH * HALF_WIDTH + hz * hz);
}

// a solid block from the floor up to height h between x0 and x1
static void platform(af_terrain *t, mjModel *m, double x0, double x1, double h) {
  if (h > 1e-9) put_box(t, m, 0.5 * (x0 + x1), 0.5 * h, 0.5 * (x1 - x0), 0.5 * h, 0);
}

// steps of `rise` (negative: down) and `tread` from height h0; returns the final height
static double stairs(af_terrain *t, mjModel *m, double x0, int n, double rise, double tread, double h0) {
  double h = h0;
  for (int i = 0; i < n; i++) {
    double top = h0 + (i + 1) * rise;
    if (top <= 1e-9) return 0;
    platform(t, m, x0 + i * tread, x0 + (i + 1) * tread, top);
    h = top;
  }
  return h;
}

// a ramp whose top surface runs from (x0, h0) to (x0 + len, h0 + slope * len): a box 1 m
// thick tilted about y; returns the final height
static double ramp(af_terrain *t, mjModel *m, double x0, double len, double slope, double h0) {
  double a = atan(slope), T = 0.5;
  double mx = x0 + 0.5 * len, mz = h0 + 0.5 * slope * len;
  // centre = middle of the top face minus T along the face normal (-sin a, 0, cos a)
  put_box(t, m, mx + T * sin(a), mz - T * cos(a), 0.5 * len / cos(a), T, -a);
  return h0 + slope * len;
}

// smooth bumps of peak-to-peak height `amp` on [x0, x1] (world x), zero elsewhere
static void bumps(af_terrain *t, mjModel *m, double x0, double x1, double amp, af_rng *rng) {
  int nrow = m->hfield_nrow[t->hfield], ncol = m->hfield_ncol[t->hfield];
  float *data = m->hfield_data + m->hfield_adr[t->hfield];
  const mjtNum *sz = m->hfield_size + 4 * t->hfield;
  const mjtNum *gp = m->geom_pos + 3 * t->hgeom;
  // a coarse lattice of random heights, bilinearly interpolated
  enum { LX = 80, LY = 16 };
  double lat[LY][LX];
  for (int j = 0; j < LY; j++)
    for (int i = 0; i < LX; i++) lat[j][i] = af_rng_uniform(rng);
  for (int r = 0; r < nrow; r++) {
    double y = gp[1] - sz[1] + 2 * sz[1] * r / (nrow - 1);
    for (int c = 0; c < ncol; c++) {
      double x = gp[0] - sz[0] + 2 * sz[0] * c / (ncol - 1);
      double v = 0;
      if (x >= x0 && x <= x1) {
        double u = (x - x0) / BUMP_CELL, w = (y + HALF_WIDTH) / BUMP_CELL;
        int iu = (int)floor(u), iw = (int)floor(w);
        if (iu > LX - 2) iu = LX - 2;
        if (iw > LY - 2) iw = LY - 2;
        if (iw < 0) iw = 0;
        double fu = u - iu, fw = w - iw;
        v = (1 - fu) * (1 - fw) * lat[iw][iu] + fu * (1 - fw) * lat[iw][iu + 1] + (1 - fu) * fw * lat[iw + 1][iu] +
            fu * fw * lat[iw + 1][iu + 1];
      }
      // data in [0, 1] scales the field's elevation size
      data[r * ncol + c] = (float)(v * amp / sz[2]);
    }
  }
}

void af_terrain_build(af_terrain *t, mjModel *m, const mjModel *m0, af_terrain_kind kind, double difficulty,
                      double tread, af_rng *rng) {
  // nominal slots first: what the XML says (all parked below the floor)
  for (int i = 0; i < AF_TERRAIN_BOXES; i++) {
    int g = t->box[i];
    memcpy(m->geom_pos + 3 * g, m0->geom_pos + 3 * g, 3 * sizeof(mjtNum));
    memcpy(m->geom_quat + 4 * g, m0->geom_quat + 4 * g, 4 * sizeof(mjtNum));
    memcpy(m->geom_size + 3 * g, m0->geom_size + 3 * g, 3 * sizeof(mjtNum));
    m->geom_rbound[g] = m0->geom_rbound[g];
  }
  int g = t->hgeom;
  memcpy(m->geom_pos + 3 * g, m0->geom_pos + 3 * g, 3 * sizeof(mjtNum));
  int hn = m->hfield_nrow[t->hfield] * m->hfield_ncol[t->hfield];
  memcpy(m->hfield_data + m->hfield_adr[t->hfield], m0->hfield_data + m0->hfield_adr[t->hfield], sizeof(float) * hn);

  // difficulty to parameters
  double d = difficulty < 0 ? 0 : difficulty > 1 ? 1 : difficulty;
  t->kind = kind;
  t->difficulty = d;
  t->rise = 0.02 + 0.16 * d;
  t->tread = tread;
  t->slope = 0.4 * d;
  t->roughness = 0.01 + 0.09 * d;
  t->start_height = 0;
  t->nbox = 0;
  const double x0 = FEATURE_X;
  double h;
  switch (kind) {
    case AF_TERRAIN_RAMP_UP:
      h = ramp(t, m, x0, RAMP_LEN, t->slope, 0);
      platform(t, m, x0 + RAMP_LEN, END_X, h);
      break;
    case AF_TERRAIN_RAMP_DOWN:
      t->start_height = t->slope * RAMP_LEN;
      platform(t, m, -3, x0, t->start_height);
      ramp(t, m, x0, RAMP_LEN, -t->slope, t->start_height);
      break;
    case AF_TERRAIN_STAIRS_UP:
      h = stairs(t, m, x0, N_STEPS, t->rise, tread, 0);
      platform(t, m, x0 + N_STEPS * tread, END_X, h);
      break;
    case AF_TERRAIN_STAIRS_DOWN:
      t->start_height = N_STEPS * t->rise;
      platform(t, m, -3, x0, t->start_height);
      stairs(t, m, x0, N_STEPS, -t->rise, tread, t->start_height);
      break;
    case AF_TERRAIN_ROUGH:
      m->geom_pos[3 * g] = 12;  // the field covers x in [-1, 25]
      m->geom_pos[3 * g + 2] = 0;
      bumps(t, m, 0.7, END_X, t->roughness, rng);
      break;
    case AF_TERRAIN_MIX: {
      // rough patch, stairs up, landing, stairs down, ramp up, landing, ramp down
      m->geom_pos[3 * g] = 12;
      m->geom_pos[3 * g + 2] = 0;
      bumps(t, m, x0, x0 + 3, t->roughness, rng);
      double x = x0 + 3.5;
      h = stairs(t, m, x, 5, t->rise, tread, 0);
      x += 5 * tread;
      platform(t, m, x, x + 1, h);
      x += 1;
      stairs(t, m, x, 5, -t->rise, tread, h);
      x += 5 * tread;
      h = ramp(t, m, x, 2, t->slope, 0);
      x += 2;
      platform(t, m, x, x + 1, h);
      x += 1;
      ramp(t, m, x, 2, -t->slope, h);
      break;
    }
    default:
      break;
  }
}

double af_terrain_height(const mjModel *m, mjData *d, double x, double y) {
  const mjtByte terrain_only[mjNGROUP] = {1, 0, 0, 0, 0, 0};
  mjtNum from[3] = {x, y, 20}, down[3] = {0, 0, -1};
  int id;
  mjtNum dist = mj_ray(m, d, from, down, terrain_only, 1, -1, &id);
  return dist < 0 ? 0 : 20 - dist;
}
