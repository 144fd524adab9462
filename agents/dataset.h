// Episode datasets on disk: what QT-Opt's collectors write and its offline mode trains from.
// A file holds whole episodes of one environment, each with where it came from (the scripted
// controller, random actions, a policy) and whether it succeeded.
//
// Format, version 1 (state observations) and version 2 (observations with stacked image frames)
// (all integers unsigned little-endian, floats IEEE-754 binary32 in the machine's order, which is
// little-endian on every machine armfarm builds for):
//   header, 128 bytes:
//     0  "AFDS"         magic
//     4  u32 version    1 or 2
//     8  u32 header     128 (bytes of the header)
//    12  u32 obs_dim, 16 u32 act_dim
//    20  u32 state_dim  version 2: the state entries before the frames (0 for version 1)
//    24  u64 episodes, 32 u64 transitions, 40 u64 body_bytes
//    48  u64 body_fnv   FNV-1a 64 of the body
//    56  char env[48]   the environment's name, NUL-padded
//   104  u64 seed       the collection seed (informative)
//   112  u16 C, H, W, stack   version 2: one frame's channels, height, width, frames per
//                     observation (obs_dim = state_dim + stack C H W); 0 for version 1
//   120  u64 header_fnv FNV-1a 64 of bytes 0..119
//   body: the episodes one after another, each
//     u32 length L (>= 1), u32 source (0 scripted, 1 random, 2 policy), u32 success (0/1), u32 reserved (0)
//     version 1: L rows of (obs[obs_dim], act[act_dim], reward, next_obs[obs_dim], terminated) floats;
//     version 2: each observation stored once and each frame once: L + 1 state vectors
//       (state_dim floats: observation k's, k = 0 the reset's), L rows of (act[act_dim], reward,
//       terminated) floats, then L + 1 frames (C H W bytes, planar, values 0-255: observation
//       k's newest frame) and zero bytes up to a multiple of 4. Observation k's stack is
//       frames k - stack + 1 .. k, the first frame standing in for those before it (the
//       environment fills its stack so at a reset); row k goes from observation k to k + 1.
//     terminated is 0 or 1 and can be 1 only in the last row; an episode whose last row is
//     not terminated was truncated (horizon or divergence: no bootstrap is implied beyond it,
//     the loader marks a diverged end as terminated already).
// Loading trusts nothing: the header's checksum, magic, version, sizes and counts first
// (body_bytes must equal what the counts imply and what the file holds), then the body's
// checksum, then every record (lengths summing to the count, sources, flags, finite values,
// zero padding); errors are one line "PATH: what is wrong". Files are written to a temporary
// name and renamed when closed, so a reader never sees a part. The writer of a version 2 file
// checks that the observations it is given chain (each next observation's older frames are
// the observation's newer ones, each episode starts from one frame repeated, each row's
// observation is the previous row's next one, frame values are whole numbers 0-255), so that
// the stored frames give back every observation exactly.
#ifndef AF_DATASET_H
#define AF_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "agents/agent.h"   // af_batch
#include "agents/image_replay.h"
#include "agents/replay.h"

#define AF_DATASET_VERSION 1         // state observations
#define AF_DATASET_VERSION_FRAMES 2  // observations with stacked frames
enum { AF_SRC_SCRIPTED, AF_SRC_RANDOM, AF_SRC_POLICY };

// the frames of an observation: state_dim floats, then stack frames of (C, H, W) values 0-255
// (stack 0: a state observation, version 1)
typedef struct {
  int state_dim, C, H, W, stack;
} af_dataset_frames;

// an environment's (stack 0 when its observation vector holds no frames); a goal image after
// the stack is not a frame of the stack: *ok is 0 then (such observations are not stored)
af_dataset_frames af_dataset_frames_of(const af_env_spec *spec, int *ok);

// ---- writing ----
typedef struct af_dataset_writer af_dataset_writer;

// a writer of episodes of `env` (obs_dim, act_dim; frames NULL or stack 0: state observations,
// version 1; else version 2 with obs_dim = state_dim + stack C H W) coming from `streams`
// environments that step together, each episode at most max_len steps; NULL with a message
af_dataset_writer *af_dataset_open(const char *path, const char *env, int obs_dim, int act_dim, const af_dataset_frames *frames,
                                   int streams, int max_len, uint64_t seed, char *err, size_t errsz);
// one step of every stream (batch->n == streams); source[i] is stream i's current episode's
// source (NULL: all AF_SRC_POLICY). Each stream's episode is kept until it ends (terminated,
// truncated, diverged), then appended. Allocates nothing. 0, or -1 with a message (a write
// failed, an episode longer than max_len, frames that do not chain)
int af_dataset_add(af_dataset_writer *w, const af_batch *b, const uint8_t *source, char *err, size_t errsz);
// the finished episodes so far
long af_dataset_episodes(const af_dataset_writer *w);
long af_dataset_transitions(const af_dataset_writer *w);
// write the header and rename the file into place (episodes still running are dropped);
// frees w either way. 0, or -1 with a message
int af_dataset_close(af_dataset_writer *w, char *err, size_t errsz);
// drop the temporary file and free w (NULL: no-op)
void af_dataset_abort(af_dataset_writer *w);

// ---- reading ----
typedef struct {
  int version, obs_dim, act_dim;
  af_dataset_frames frames;  // stack 0 for version 1
  long episodes, transitions;
  char env[48];
  uint64_t seed;
  size_t *off;             // per episode: where its record starts in mem
  unsigned char *mem;      // the whole file
  size_t size;
} af_dataset;

// one episode of a dataset, pointing into its memory
typedef struct {
  int len, source, success;
  const float *rows;       // version 1: len rows of (obs, act, reward, next_obs, terminated);
                           // version 2: len rows of (act, reward, terminated)
  const float *states;     // version 2: len + 1 state vectors (state_dim floats); else NULL
  const uint8_t *frames;   // version 2: len + 1 planar frames (C H W bytes); else NULL
} af_dataset_episode;

// read and check a whole file; 0, or -1 with a one-line message (nothing to free then)
int af_dataset_read(const char *path, af_dataset *d, char *err, size_t errsz);
void af_dataset_free(af_dataset *d);
// episode e (0 <= e < episodes)
af_dataset_episode af_dataset_get(const af_dataset *d, long e);
// observation k (0 <= k <= len: k = len is the last row's next observation) of episode e,
// obs_dim floats, as the environment gave it
void af_dataset_obs(const af_dataset *d, long e, int k, float *obs);

// a version 1 dataset of spec's environment into a replay buffer r made here with room for
// all of it, one stream; 0, or -1 with a message (another environment, other sizes, or frames
// are refused)
int af_dataset_to_replay(const char *path, const af_env_spec *spec, af_replay *r, char *err, size_t errsz);
// a version 2 dataset of spec's environment (the same frames) into an image replay r made
// here with room for all of it (proprioception: the state entries), one stream; 0, or -1 with
// a message
int af_dataset_to_image_replay(const char *path, const af_env_spec *spec, af_image_replay *r, char *err, size_t errsz);

#endif
