// Episode datasets on disk: what QT-Opt's collectors write and its offline mode trains from.
// A file holds whole episodes of one environment, each with where it came from (the scripted
// controller, random actions, a policy) and whether it succeeded.
//
// Format, version 1 (all integers unsigned little-endian, floats IEEE-754 binary32 in the
// machine's order, which is little-endian on every machine armfarm builds for):
//   header, 128 bytes:
//     0  "AFDS"         magic
//     4  u32 version    1
//     8  u32 header     128 (bytes of the header)
//    12  u32 obs_dim, 16 u32 act_dim, 20 u32 reserved (0)
//    24  u64 episodes, 32 u64 transitions, 40 u64 body_bytes
//    48  u64 body_fnv   FNV-1a 64 of the body
//    56  char env[48]   the environment's name, NUL-padded
//   104  u64 seed       the collection seed (informative)
//   112  u64 reserved (0)
//   120  u64 header_fnv FNV-1a 64 of bytes 0..119
//   body: the episodes one after another, each
//     u32 length L (>= 1), u32 source (0 scripted, 1 random, 2 policy), u32 success (0/1), u32 reserved (0)
//     L rows of (obs[obs_dim], act[act_dim], reward, next_obs[obs_dim], terminated) floats:
//     terminated is 0 or 1 and can be 1 only in the last row; an episode whose last row is
//     not terminated was truncated (horizon or divergence: no bootstrap is implied beyond it,
//     the loader marks a diverged end as terminated already).
// Loading trusts nothing: the header's checksum, magic, version, sizes and counts first
// (body_bytes must equal what the counts imply and what the file holds), then the body's
// checksum, then every record (lengths summing to the count, sources, flags, finite values);
// errors are one line "PATH: what is wrong". Files are written to a temporary name and renamed
// when closed, so a reader never sees a part.
#ifndef AF_DATASET_H
#define AF_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "agents/agent.h"   // af_batch
#include "agents/replay.h"

#define AF_DATASET_VERSION 1
enum { AF_SRC_SCRIPTED, AF_SRC_RANDOM, AF_SRC_POLICY };

// ---- writing ----
typedef struct af_dataset_writer af_dataset_writer;

// a writer of episodes of `env` (obs_dim, act_dim) coming from `streams` environments that
// step together, each episode at most max_len steps; NULL with a message
af_dataset_writer *af_dataset_open(const char *path, const char *env, int obs_dim, int act_dim, int streams, int max_len,
                                   uint64_t seed, char *err, size_t errsz);
// one step of every stream (batch->n == streams); source[i] is stream i's current episode's
// source (NULL: all AF_SRC_POLICY). Each stream's episode is kept until it ends (terminated,
// truncated, diverged), then appended. Allocates nothing. 0, or -1 with a message (a write
// failed, or an episode longer than max_len)
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
  int obs_dim, act_dim;
  long episodes, transitions;
  char env[48];
  uint64_t seed;
  size_t *off;             // per episode: where its record starts in mem
  unsigned char *mem;      // the whole file
  size_t size;
} af_dataset;

// read and check a whole file; 0, or -1 with a one-line message (nothing to free then)
int af_dataset_read(const char *path, af_dataset *d, char *err, size_t errsz);
void af_dataset_free(af_dataset *d);
// episode e's rows (L rows of 2 obs_dim + act_dim + 2 floats), length, source and success
const float *af_dataset_rows(const af_dataset *d, long e, int *len, int *source, int *success);

// a dataset of spec's environment into a replay buffer r made here with room for all of it,
// one stream; 0, or -1 with a message (another environment or other sizes are refused)
int af_dataset_to_replay(const char *path, const af_env_spec *spec, af_replay *r, char *err, size_t errsz);

#endif
