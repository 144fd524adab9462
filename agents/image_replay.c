// Image replay: a ring of frames stored once each, a ring of transitions holding frame ids,
// and DrQ's random shift. See image_replay.h for the layout and the episode rules.
#include "agents/image_replay.h"

#include <math.h>    // floorf, lrintf
#include <stdio.h>   // snprintf
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy, memset

#include "agents/nn/nn.h"  // af_nn_save, af_nn_load: the checked file format

// frames are stored at a stride of whole floats, so that the ring travels in float tensors
static size_t frame_stride(size_t fbytes) { return (fbytes + 3) & ~(size_t)3; }

// how far back (in frames written) a stream's stack may reach when the streams add in turn:
// a stack spans stack - 1 of the stream's steps, and one round of the streams writes at most
// 2 frames each (a first frame and a next frame)
static int64_t reach(int streams, int stack) { return 2 * (int64_t)streams * (stack + 1); }

static long frames_for(long cap, int stack, int streams) { return cap + cap / 16 + 2 * (long)reach(streams, stack) + 4; }

size_t af_image_replay_bytes(long cap, int C, int H, int W, int stack, int pd, int ad, int streams) {
  size_t fcap = (size_t)frames_for(cap, stack, streams), fb = frame_stride((size_t)C * H * W);
  return fcap * (fb + sizeof(float) * (size_t)pd) + (size_t)cap * (sizeof(int64_t) * (size_t)(stack + 1) + sizeof(float) * (size_t)(ad + 2)) +
         (size_t)streams * (sizeof(int64_t) * (size_t)stack + 1);
}

void af_image_replay_free(af_image_replay *r) {
  free(r->frames);
  free(r->prop);
  free(r->fid);
  free(r->act);
  free(r->rew);
  free(r->done);
  free(r->cur);
  free(r->running);
  memset(r, 0, sizeof *r);
}

int af_image_replay_init(af_image_replay *r, long cap, int C, int H, int W, int stack, int pd, int ad, int streams, char *err,
                         size_t errsz) {
  memset(r, 0, sizeof *r);
  if (cap < 1 || cap > AF_IMAGE_REPLAY_MAX || C < 1 || H < 1 || W < 1 || (long)C * H * W > (1L << 26) || stack < 1 ||
      stack > AF_IMAGE_MAX_STACK || pd < 0 || pd > 4096 || ad < 1 || ad > 4096 || streams < 1 || streams > 4096) {
    snprintf(err, errsz, "image replay: sizes out of range (capacity %ld, frame %dx%dx%d, stack %d, proprioception %d, action %d, streams %d)",
             cap, C, H, W, stack, pd, ad, streams);
    return -1;
  }
  r->cap = cap;
  r->fcap = frames_for(cap, stack, streams);
  r->C = C; r->H = H; r->W = W; r->stack = stack;
  r->pd = pd; r->ad = ad; r->streams = streams;
  r->fbytes = (size_t)C * H * W;
  // zeroed (calloc: pages are touched only when frames arrive), so that a frame's padding
  // bytes, which files carry, are always 0
  r->frames = calloc((size_t)r->fcap, frame_stride(r->fbytes));
  r->prop = pd ? calloc((size_t)r->fcap * pd, sizeof(float)) : NULL;
  r->fid = calloc((size_t)cap * (stack + 1), sizeof(int64_t));
  r->act = calloc((size_t)cap * ad, sizeof(float));
  r->rew = calloc((size_t)cap, sizeof(float));
  r->done = calloc((size_t)cap, sizeof(float));
  r->cur = calloc((size_t)streams * stack, sizeof(int64_t));
  r->running = calloc((size_t)streams, 1);
  if (!r->frames || (pd && !r->prop) || !r->fid || !r->act || !r->rew || !r->done || !r->cur || !r->running) {
    snprintf(err, errsz, "image replay: out of memory for %ld transitions (%.2f GB)", cap,
             af_image_replay_bytes(cap, C, H, W, stack, pd, ad, streams) / 1e9);
    af_image_replay_free(r);
    return -1;
  }
  return 0;
}

long af_image_replay_size(const af_image_replay *r) { return r->size; }

static uint8_t *frame_at(const af_image_replay *r, int64_t id) { return r->frames + (size_t)(id % r->fcap) * frame_stride(r->fbytes); }
static const int64_t *ids_of(const af_image_replay *r, long slot) { return r->fid + (size_t)slot * (r->stack + 1); }

// the next frame (id r->written) from an interleaved (H, W, C) image, first dropping the
// transitions that reach back to the frame it overwrites: every held transition's frames lie
// within reach() of its next frame, and next frames grow with the order of addition
static int64_t write_frame(af_image_replay *r, const uint8_t *hwc, const float *prop) {
  const int64_t g = r->written, R = reach(r->streams, r->stack);
  while (r->size > 0 && ids_of(r, r->head)[r->stack] - R <= g - r->fcap) {
    r->head = (r->head + 1) % r->cap;
    r->size--;
  }
  uint8_t *dst = frame_at(r, g);
  const int C = r->C, HW = r->H * r->W;
  for (int p = 0; p < HW; p++)
    for (int c = 0; c < C; c++) dst[(size_t)c * HW + p] = hwc[(size_t)p * C + c];
  if (r->pd) memcpy(r->prop + (size_t)(g % r->fcap) * r->pd, prop, sizeof(float) * r->pd);
  r->written++;
  return g;
}

void af_image_replay_add(af_image_replay *r, int s, const uint8_t *obs_frame, const float *obs_prop, const float *act, float rew,
                         const uint8_t *next_frame, const float *next_prop, int terminated, int ended) {
  const int K = r->stack;
  int64_t *cur = r->cur + (size_t)s * K;
  // a new episode, or one whose frames the ring no longer holds: the obs frame fills the stack
  if (!r->running[s] || cur[0] < r->written - reach(r->streams, K)) {
    int64_t first = write_frame(r, obs_frame, obs_prop);
    for (int k = 0; k < K; k++) cur[k] = first;
    r->running[s] = 1;
  }
  int64_t next = write_frame(r, next_frame, next_prop);
  if (r->size == r->cap) {
    r->head = (r->head + 1) % r->cap;
    r->size--;
  }
  long slot = (r->head + r->size) % r->cap;
  int64_t *ids = r->fid + (size_t)slot * (K + 1);
  memcpy(ids, cur, sizeof(int64_t) * K);
  ids[K] = next;
  memcpy(r->act + (size_t)slot * r->ad, act, sizeof(float) * r->ad);
  r->rew[slot] = rew;
  r->done[slot] = terminated ? 1.0f : 0.0f;
  r->size++;
  r->added++;
  // the stream's stack moves on by the new frame
  memmove(cur, cur + 1, sizeof(int64_t) * (K - 1));
  cur[K - 1] = next;
  if (ended) r->running[s] = 0;
}

// the frames ids[0 .. stack) into out (stack C, H, W)
static void gather(const af_image_replay *r, const int64_t *ids, uint8_t *out) {
  for (int k = 0; k < r->stack; k++) memcpy(out + (size_t)k * r->fbytes, frame_at(r, ids[k]), r->fbytes);
}

void af_image_replay_get(const af_image_replay *r, long i, uint8_t *obs, uint8_t *next_obs) {
  const int64_t *ids = ids_of(r, (r->head + i) % r->cap);
  if (obs) gather(r, ids, obs);
  if (next_obs) gather(r, ids + 1, next_obs);
}

void af_image_replay_sample(const af_image_replay *r, af_rng *rng, int B, uint8_t *obs, float *obs_prop, float *act, float *rew,
                            uint8_t *next_obs, float *next_prop, float *done) {
  if (r->size == 0) return;
  const size_t ob = r->fbytes * r->stack;
  const int K = r->stack, pd = r->pd;
  for (int b = 0; b < B; b++) {
    long slot = (r->head + af_rng_int(rng, 0, (int)(r->size - 1))) % r->cap;
    const int64_t *ids = ids_of(r, slot);
    gather(r, ids, obs + (size_t)b * ob);
    gather(r, ids + 1, next_obs + (size_t)b * ob);
    if (pd && obs_prop) memcpy(obs_prop + (size_t)b * pd, r->prop + (size_t)(ids[K - 1] % r->fcap) * pd, sizeof(float) * pd);
    if (pd && next_prop) memcpy(next_prop + (size_t)b * pd, r->prop + (size_t)(ids[K] % r->fcap) * pd, sizeof(float) * pd);
    memcpy(act + (size_t)b * r->ad, r->act + (size_t)slot * r->ad, sizeof(float) * r->ad);
    rew[b] = r->rew[slot];
    done[b] = r->done[slot];
  }
}

// ---- files: a header tensor, then each ring's held part in order as two tensors (the part
// up to the ring's end, and the part that wrapped to its start); 64-bit ids and uint8 frames
// travel as raw bytes in float tensors, checked by size and checksum, then by value here ----
enum { H_CAP, H_FCAP, H_C, H_H, H_W, H_STACK, H_PD, H_AD, H_STREAMS, H_SIZE, H_NFRAMES, H_WRITTEN, H_ADDED = H_WRITTEN + 4,
       HEAD = H_ADDED + 4 };

// elements [start, start + count) of a ring of len elements of elem_bytes (a multiple of 4),
// in order, as tensors a and b
static void ring_tensors(af_tensor *t, const char *na, const char *nb, void *base, size_t elem_bytes, long len, long start,
                         long count) {
  long first = count < len - start ? count : len - start;
  size_t fl = elem_bytes / sizeof(float);
  t[0] = (af_tensor){na, (float *)((char *)base + (size_t)start * elem_bytes), (size_t)first * fl};
  t[1] = (af_tensor){nb, (float *)base, (size_t)(count - first) * fl};
}

// the tensors of a buffer whose counters are as given (the header first)
static int file_tensors(af_image_replay *r, af_tensor *t, float *head, int64_t written, long head_slot, long size) {
  long nframes = written < r->fcap ? (long)written : r->fcap, fstart = (long)((written - nframes) % r->fcap);
  int k = 0;
  t[k++] = (af_tensor){"image_replay", head, HEAD};
  ring_tensors(t + k, "frames", "frames_wrapped", r->frames, frame_stride(r->fbytes), r->fcap, fstart, nframes);
  k += 2;
  if (r->pd) {
    ring_tensors(t + k, "prop", "prop_wrapped", r->prop, sizeof(float) * r->pd, r->fcap, fstart, nframes);
    k += 2;
  }
  ring_tensors(t + k, "ids", "ids_wrapped", r->fid, sizeof(int64_t) * (r->stack + 1), r->cap, head_slot, size);
  k += 2;
  ring_tensors(t + k, "act", "act_wrapped", r->act, sizeof(float) * r->ad, r->cap, head_slot, size);
  k += 2;
  ring_tensors(t + k, "rew", "rew_wrapped", r->rew, sizeof(float), r->cap, head_slot, size);
  k += 2;
  ring_tensors(t + k, "done", "done_wrapped", r->done, sizeof(float), r->cap, head_slot, size);
  k += 2;
  t[k++] = (af_tensor){"stream_ids", (float *)r->cur, (size_t)r->streams * r->stack * 2};
  // the running flags, one float each
  return k;
}

static void fill_head(const af_image_replay *r, float *h) {
  long nframes = r->written < r->fcap ? (long)r->written : r->fcap;
  float v[H_WRITTEN] = {(float)r->cap, (float)r->fcap, (float)r->C, (float)r->H, (float)r->W, (float)r->stack, (float)r->pd,
                        (float)r->ad, (float)r->streams, (float)r->size, (float)nframes};
  memcpy(h, v, sizeof v);
  af_nn_pack_u64(h + H_WRITTEN, (uint64_t)r->written);
  af_nn_pack_u64(h + H_ADDED, (uint64_t)r->added);
}

int af_image_replay_save(const af_image_replay *r, const char *path, char *err, size_t errsz) {
  float head[HEAD], *running = calloc((size_t)r->streams, sizeof(float));
  if (!running) { snprintf(err, errsz, "out of memory"); return -1; }
  for (int s = 0; s < r->streams; s++) running[s] = r->running[s];
  fill_head(r, head);
  af_tensor t[20];
  int k = file_tensors((af_image_replay *)r, t, head, r->written, r->head, r->size);
  t[k++] = (af_tensor){"running", running, (size_t)r->streams};
  int rc = af_nn_save(path, t, k, err, errsz);
  free(running);
  return rc;
}

static int is_count(float v, float hi) { return v >= 0 && v <= hi && v == floorf(v); }

// every held id inside the frames held, stacks in order, next frames new and growing, each
// transition within reach of its next frame, done flags 0 or 1; running streams' stacks held
static int check_ids(const af_image_replay *r, const float *running, char *msg, size_t msgsz) {
  const int K = r->stack;
  const int64_t lo = r->written - (r->written < r->fcap ? r->written : r->fcap), R = reach(r->streams, K);
  int64_t prev_next = -1;
  for (long i = 0; i < r->size; i++) {
    long slot = (r->head + i) % r->cap;
    const int64_t *ids = ids_of(r, slot);
    for (int k = 0; k <= K; k++) {
      if (ids[k] < lo || ids[k] >= r->written || ids[k] < ids[K] - R) { snprintf(msg, msgsz, "transition %ld refers to a frame not held", i); return -1; }
      if (k > 0 && ids[k] < ids[k - 1]) { snprintf(msg, msgsz, "transition %ld: frames out of order", i); return -1; }
    }
    if (ids[K] == ids[K - 1] || ids[K] <= prev_next) { snprintf(msg, msgsz, "transition %ld: its next frame is not a new one", i); return -1; }
    prev_next = ids[K];
    if (r->done[slot] != 0 && r->done[slot] != 1) { snprintf(msg, msgsz, "transition %ld: done flag %g", i, r->done[slot]); return -1; }
  }
  for (int s = 0; s < r->streams; s++) {
    if (running[s] != 0 && running[s] != 1) { snprintf(msg, msgsz, "stream %d: running flag %g", s, running[s]); return -1; }
    if (!running[s]) continue;
    const int64_t *cur = r->cur + (size_t)s * K;
    for (int k = 0; k < K; k++)
      if (cur[k] < lo || cur[k] >= r->written || (k > 0 && cur[k] < cur[k - 1])) { snprintf(msg, msgsz, "stream %d refers to a frame not held", s); return -1; }
  }
  return 0;
}

int af_image_replay_load(af_image_replay *r, const char *path, char *err, size_t errsz) {
  // the header against this buffer
  float head[HEAD];
  af_tensor th = {"image_replay", head, HEAD};
  if (af_nn_load_first(path, &th, 1, err, errsz)) return -1;
  for (int k = 0; k < H_WRITTEN; k++)
    if (!is_count(head[k], 2.0f * AF_IMAGE_REPLAY_MAX)) { snprintf(err, errsz, "%s: image replay header entry %d is %g, not a count", path, k, head[k]); return -1; }
  if ((long)head[H_CAP] != r->cap || (long)head[H_FCAP] != r->fcap || (int)head[H_C] != r->C || (int)head[H_H] != r->H ||
      (int)head[H_W] != r->W || (int)head[H_STACK] != r->stack || (int)head[H_PD] != r->pd || (int)head[H_AD] != r->ad ||
      (int)head[H_STREAMS] != r->streams) {
    snprintf(err, errsz, "%s: an image replay of capacity %ld, frames %dx%dx%d stacked %d, sizes %d/%d and %d streams; this one has %ld, %dx%dx%d stacked %d, %d/%d and %d",
             path, (long)head[H_CAP], (int)head[H_C], (int)head[H_H], (int)head[H_W], (int)head[H_STACK], (int)head[H_PD], (int)head[H_AD],
             (int)head[H_STREAMS], r->cap, r->C, r->H, r->W, r->stack, r->pd, r->ad, r->streams);
    return -1;
  }
  uint64_t written = af_nn_unpack_u64(head + H_WRITTEN), added = af_nn_unpack_u64(head + H_ADDED);
  long size = (long)head[H_SIZE], nframes = (long)head[H_NFRAMES];
  if (!af_nn_packed_ok(head + H_WRITTEN, 2) || written > (uint64_t)INT64_MAX / 2 || size > r->cap || (uint64_t)size > added ||
      (uint64_t)nframes != (written < (uint64_t)r->fcap ? written : (uint64_t)r->fcap) || added > written) {
    snprintf(err, errsz, "%s: inconsistent image replay counters", path);
    return -1;
  }
  // the held transitions go back to the slots they came from: the oldest at (added - size) % cap
  long head_slot = (long)((added - (uint64_t)size) % (uint64_t)r->cap);
  float *running = calloc((size_t)r->streams, sizeof(float));
  if (!running) { snprintf(err, errsz, "out of memory"); return -1; }
  af_tensor t[20];
  int k = file_tensors(r, t, head, (int64_t)written, head_slot, size);
  t[k++] = (af_tensor){"running", running, (size_t)r->streams};
  int rc = af_nn_load(path, t, k, err, errsz);
  if (rc == 0) {
    r->written = (int64_t)written;
    r->added = (int64_t)added;
    r->head = head_slot;
    r->size = size;
    char msg[200];
    if (check_ids(r, running, msg, sizeof msg)) {
      snprintf(err, errsz, "%s: %s", path, msg);
      rc = -1;
    } else {
      for (int s = 0; s < r->streams; s++) r->running[s] = running[s] == 1;
    }
  }
  // refused after the header: empty
  if (rc) {
    r->head = r->size = 0;
    r->written = r->added = 0;
    memset(r->running, 0, (size_t)r->streams);
  }
  free(running);
  return rc;
}

// ---- random shift ----
static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

void af_image_shift(uint8_t *out, const uint8_t *in, int C, int H, int W, int dx, int dy) {
  for (int c = 0; c < C; c++) {
    const uint8_t *src = in + (size_t)c * H * W;
    uint8_t *dst = out + (size_t)c * H * W;
    for (int y = 0; y < H; y++) {
      const uint8_t *row = src + (size_t)clampi(y + dy, 0, H - 1) * W;
      uint8_t *o = dst + (size_t)y * W;
      // left border, the shifted middle in one copy, right border
      int x0 = clampi(-dx, 0, W), x1 = clampi(W - dx, 0, W);
      for (int x = 0; x < x0; x++) o[x] = row[0];
      if (x1 > x0) memcpy(o + x0, row + x0 + dx, (size_t)(x1 - x0));
      for (int x = x1 > x0 ? x1 : x0; x < W; x++) o[x] = row[W - 1];
    }
  }
}

void af_image_random_shift(uint8_t *out, const uint8_t *in, int B, int C, int H, int W, int pad, af_rng *rng) {
  const size_t n = (size_t)C * H * W;
  for (int b = 0; b < B; b++) {
    int dx = pad ? af_rng_int(rng, -pad, pad) : 0;
    int dy = pad ? af_rng_int(rng, -pad, pad) : 0;
    af_image_shift(out + (size_t)b * n, in + (size_t)b * n, C, H, W, dx, dy);
  }
}

void af_image_from_planar(uint8_t *hwc, const float *planar, int C, int HW) {
  for (int c = 0; c < C; c++)
    for (int i = 0; i < HW; i++) {
      float v = planar[(size_t)c * HW + i];
      hwc[(size_t)i * C + c] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : lrintf(v));
    }
}
