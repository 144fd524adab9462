// Image replay: transitions whose observations are stacks of the last `stack` uint8 frames,
// with each frame stored once. Frames live in a ring of their own (planar C, H, W, as the
// convolutional encoder reads them), each with an optional proprioceptive float vector of
// the same step; a transition keeps the ids of the stack + 1 frames it spans (oldest first:
// obs is ids [0, stack), next_obs is ids [1, stack]) and its action, reward and done flag.
// An episode's first frame is repeated to fill the stack, as DrQ's and SAC-AE's frame
// stacking does at a reset: the first transition of an episode has obs (f0, f0, f0) and
// next_obs (f0, f0, f1), the second (f0, f0, f1) and (f0, f1, f2).
//
// Memory: an episode of L steps stores L + 1 frames. The frame ring holds
// cap + cap/16 + 2 R + 4 frames (R = 2 streams (stack + 1), the span a stack can reach back
// over streams stepping in turn), enough for cap transitions when episodes last 16 steps or
// more; with shorter ones the oldest transitions are dropped before the capacity is reached
// (af_image_replay_size tells how many are held). See af_image_replay_bytes.
//
// Episodes run per stream (the agent's environments): the first add of a stream, and the
// first after a transition that ended its episode (terminated or truncated), starts an
// episode from the add's obs frame; the others take their obs from the stream's previous
// next frame (the obs frame given is not read). A stream whose frames the ring has dropped
// meanwhile (a stream left unstepped while the others went on) starts afresh the same way.
// Not thread-safe; add, sample and shift allocate nothing.
#ifndef AF_IMAGE_REPLAY_H
#define AF_IMAGE_REPLAY_H

#include <stddef.h>  // size_t
#include <stdint.h>  // uint8_t, int64_t

#include "base/rng.h"

#define AF_IMAGE_REPLAY_MAX 10000000L
#define AF_IMAGE_MAX_STACK 16

typedef struct {
  long cap;                  // transitions at most
  long fcap;                 // frames in the frame ring
  int C, H, W, stack;        // one frame (C, H, W); frames per observation
  int pd, ad, streams;       // proprioception per step (0: none), action size, streams
  size_t fbytes;             // C * H * W
  uint8_t *frames;           // (fcap, C, H, W)
  float *prop;               // (fcap, pd), NULL when pd is 0
  int64_t *fid;              // (cap, stack + 1) frame ids (frame id g sits at g % fcap)
  float *act, *rew, *done;   // (cap, ad), (cap), (cap): done 1 = terminated (no bootstrap)
  long head, size;           // the oldest transition's slot, transitions held
  int64_t written;           // frames written ever (the next frame's id)
  int64_t added;             // transitions added ever
  int64_t *cur;              // (streams, stack): each stream's last stack frame ids
  uint8_t *running;          // (streams): 1 while the stream's episode goes on
} af_image_replay;

// bytes a buffer of cap transitions takes (frames, proprioception, ids, actions, rewards):
// e.g. 64x64 RGB, 3 stacked, 1 stream, 1e6 transitions: 13.10 GB
size_t af_image_replay_bytes(long cap, int C, int H, int W, int stack, int pd, int ad, int streams);

// a buffer of cap (1..AF_IMAGE_REPLAY_MAX) transitions of frames (C, H, W) stacked `stack`
// (1..AF_IMAGE_MAX_STACK) deep, pd proprioceptive floats per step (0: none), ad action
// floats, `streams` environments (>= 1); 0, or -1 with a message (sizes, out of memory)
int af_image_replay_init(af_image_replay *r, long cap, int C, int H, int W, int stack, int pd, int ad, int streams,
                         char *err, size_t errsz);
void af_image_replay_free(af_image_replay *r);  // safe on a zeroed or freed buffer

// one transition of stream s: frames as rendered, (H, W, C) interleaved (af_env_pixels'
// layout); obs_frame and obs_prop are read only when the transition starts an episode;
// prop arguments may be NULL when pd is 0. ended: the episode ended here (terminated or
// truncated); terminated: it ended in a terminal state (stored as done)
void af_image_replay_add(af_image_replay *r, int s, const uint8_t *obs_frame, const float *obs_prop, const float *act, float rew,
                         const uint8_t *next_frame, const float *next_prop, int terminated, int ended);

// transitions held
long af_image_replay_size(const af_image_replay *r);

// B transitions drawn uniformly with replacement (af_rng_int per sample) into the caller's
// buffers: obs and next_obs (B, stack C, H, W) uint8, oldest frame first; obs_prop and
// next_prop (B, pd) (NULL: not copied); act (B, ad), rew and done (B). Nothing is written
// when the buffer is empty.
void af_image_replay_sample(const af_image_replay *r, af_rng *rng, int B, uint8_t *obs, float *obs_prop, float *act, float *rew,
                            uint8_t *next_obs, float *next_prop, float *done);

// the stacked observation of held transition i (0: the oldest) into obs (stack C, H, W) and
// next_obs (either may be NULL): for tests and tools
void af_image_replay_get(const af_image_replay *r, long i, uint8_t *obs, uint8_t *next_obs);

// the held transitions, their frames and the streams' running episodes to a checkpoint file
// (the af_nn format: checked sizes, names and checksum; frames and ids travel as raw bytes
// in its tensors), atomically; 0 or -1 with a message
int af_image_replay_save(const af_image_replay *r, const char *path, char *err, size_t errsz);
// into a buffer made with the same sizes, capacity and streams; every id is checked against
// the counters (each transition's frames held in the ring, in order, ids of streams running
// among the frames held) and done flags are 0 or 1; 0, or -1 with a message. A file refused
// for its header leaves the buffer as it was; a later refusal leaves it empty.
int af_image_replay_load(af_image_replay *r, const char *path, char *err, size_t errsz);

// an observation's planar frame (C, H W floats 0-255, as frame_stack carries it) as the
// interleaved uint8 (H W, C) that af_image_replay_add takes, rounded and clamped
void af_image_from_planar(uint8_t *hwc, const float *planar, int C, int HW);

// ---- DrQ's random shift (Kostrikov et al. 2020): pad by replicating the border, crop back ----
// out (C, H, W) = in shifted by (dx, dy) in [-pad, pad]: out[c][y][x] =
// in[c][clamp(y + dy, 0, H - 1)][clamp(x + dx, 0, W - 1)], i.e. the crop at offset
// (pad + dx, pad + dy) of in padded by pad replicated pixels; out must not overlap in
void af_image_shift(uint8_t *out, const uint8_t *in, int C, int H, int W, int dx, int dy);
// B images (B, C, H, W), each shifted by its own draw: dx = af_rng_int(rng, -pad, pad), then
// dy the same way; pad 0 copies
void af_image_random_shift(uint8_t *out, const uint8_t *in, int B, int C, int H, int W, int pad, af_rng *rng);

#endif
