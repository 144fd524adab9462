// Terrain for legged robots, rebuilt at each reset by editing the model: 40 box slots (steps,
// ramps, platforms) and one height field (rough ground). Never reloads XML; deterministic for
// a seed. Each kind has a difficulty in [0, 1] mapped to its parameters.
#ifndef AF_TERRAIN_H
#define AF_TERRAIN_H

#include <mujoco/mujoco.h>
#include "base/rng.h"

typedef enum {
  AF_TERRAIN_FLAT, AF_TERRAIN_RAMP_UP, AF_TERRAIN_RAMP_DOWN, AF_TERRAIN_STAIRS_UP,
  AF_TERRAIN_STAIRS_DOWN, AF_TERRAIN_ROUGH, AF_TERRAIN_MIX, AF_TERRAIN_COUNT
} af_terrain_kind;

#define AF_TERRAIN_KINDS "flat|ramp_up|ramp_down|stairs_up|stairs_down|rough|mix"
#define AF_TERRAIN_BOXES 40

typedef struct {
  // the slots in the model
  int box[AF_TERRAIN_BOXES];
  int hgeom, hfield;
  // what was built
  af_terrain_kind kind;
  double difficulty;
  double rise, tread;   // stairs: step height and depth (m)
  double slope;         // ramps: rise over run
  double roughness;     // rough: peak-to-peak bump height (m)
  double start_height;  // ground height where the robot starts (x = 0)
  int nbox;             // box slots in use
} af_terrain;

// resolve the slots (geoms tb0..tb39 and the height field "rough")
int af_terrain_init(af_terrain *t, const mjModel *m, char *err, size_t errsz);

// restore the slots from the nominal model m0, then lay out `kind` at `difficulty`
// (stairs rise 0.02-0.18 m, slopes 0-0.4, bumps 0.01-0.10 m); rng draws the bumps
void af_terrain_build(af_terrain *t, mjModel *m, const mjModel *m0, af_terrain_kind kind, double difficulty,
                      double tread, af_rng *rng);

// the arrays af_terrain_build writes
#define AF_TERRAIN_ARRAYS "geom_pos,geom_quat,geom_size,geom_rbound,hfield_data"

// terrain height under (x, y), by a ray against terrain geoms (group 0) only
double af_terrain_height(const mjModel *m, mjData *d, double x, double y);

#endif
