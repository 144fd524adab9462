// Episode datasets on disk (agents/dataset.h): a streaming writer with a running checksum,
// and a strict reader.
#include "agents/dataset.h"

#include <errno.h>     // errno
#include <math.h>      // isfinite
#include <stdio.h>
#include <stdlib.h>    // calloc, free
#include <string.h>    // memcpy, strerror
#include <sys/stat.h>  // stat
#include <unistd.h>    // getpid

#include "base/base.h"  // af_strfmt

#define HEADER_BYTES 128
#define REC_BYTES 16
#define MAX_DIM 65536
#define MAX_LEN 1000000
#define MAX_CHANNELS 64
#define MAX_SIDE 4096
#define MAX_FRAME (1u << 26)

static const unsigned char MAGIC[4] = {'A', 'F', 'D', 'S'};

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001b3ull; }
  return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

static void put16(unsigned char *p, uint32_t x) { p[0] = (unsigned char)x; p[1] = (unsigned char)(x >> 8); }
static void put32(unsigned char *p, uint32_t x) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(x >> (8 * i)); }
static void put64(unsigned char *p, uint64_t x) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(x >> (8 * i)); }
static uint32_t get16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t get32(const unsigned char *p) { uint32_t x = 0; for (int i = 3; i >= 0; i--) x = x << 8 | p[i]; return x; }
static uint64_t get64(const unsigned char *p) { uint64_t x = 0; for (int i = 7; i >= 0; i--) x = x << 8 | p[i]; return x; }

static size_t pad4(size_t n) { return (4 - n % 4) % 4; }

af_dataset_frames af_dataset_frames_of(const af_env_spec *spec, int *ok) {
  af_dataset_frames f = {0};
  *ok = spec->goal_image_offset <= 0;
  if (spec->pixel_stack > 0)
    f = (af_dataset_frames){.state_dim = spec->pixel_offset, .C = 3, .H = spec->pixel_height, .W = spec->pixel_width, .stack = spec->pixel_stack};
  return f;
}

// sizes a frames description must have (stack 0: none); 0 when good
static int frames_bad(const af_dataset_frames *f, int obs_dim) {
  if (f->stack == 0) return 0;
  if (f->stack < 1 || f->stack > AF_IMAGE_MAX_STACK || f->C < 1 || f->C > MAX_CHANNELS || f->H < 1 || f->H > MAX_SIDE || f->W < 1 ||
      f->W > MAX_SIDE || f->state_dim < 0 || f->state_dim > MAX_DIM)
    return 1;
  uint64_t F = (uint64_t)f->C * f->H * f->W;
  return F > MAX_FRAME || (uint64_t)obs_dim != (uint64_t)f->state_dim + F * f->stack;
}

// ---- writing ----
struct af_dataset_writer {
  FILE *f;
  char *path, *tmp;
  char env[48];
  int od, ad, streams, max_len, row;  // row: floats per stored transition
  af_dataset_frames fr;               // stack 0: version 1
  size_t F;                           // bytes of a frame (version 2)
  uint64_t seed, fnv, body, episodes, transitions;
  float *buf;       // (streams, max_len, row)
  float *states;    // version 2: (streams, max_len + 1, state_dim)
  uint8_t *frames;  // version 2: (streams, max_len + 1, F)
  int *len;         // per stream: rows kept of its running episode
};

af_dataset_writer *af_dataset_open(const char *path, const char *env, int obs_dim, int act_dim, const af_dataset_frames *frames,
                                   int streams, int max_len, uint64_t seed, char *err, size_t errsz) {
  af_dataset_frames fr = frames ? *frames : (af_dataset_frames){0};
  if (obs_dim < 1 || obs_dim > (fr.stack ? INT32_MAX : MAX_DIM) || act_dim < 1 || act_dim > MAX_DIM || streams < 1 || max_len < 1 ||
      max_len > MAX_LEN || frames_bad(&fr, obs_dim)) {
    snprintf(err, errsz, "%s: bad dataset sizes (obs %d, act %d, streams %d, episode length %d, frames %d of %dx%dx%d after %d entries)", path,
             obs_dim, act_dim, streams, max_len, fr.stack, fr.C, fr.H, fr.W, fr.state_dim);
    return NULL;
  }
  af_dataset_writer *w = calloc(1, sizeof *w);
  if (!w) { snprintf(err, errsz, "out of memory"); return NULL; }
  snprintf(w->env, sizeof w->env, "%s", env);
  w->od = obs_dim;
  w->ad = act_dim;
  w->fr = fr;
  w->F = (size_t)fr.C * fr.H * fr.W;
  w->streams = streams;
  w->max_len = max_len;
  w->row = fr.stack ? act_dim + 2 : 2 * obs_dim + act_dim + 2;
  w->seed = seed;
  w->fnv = FNV_INIT;
  w->path = af_strfmt("%s", path);
  w->tmp = af_strfmt("%s.tmp.%ld", path, (long)getpid());
  w->buf = calloc((size_t)streams * max_len * w->row, sizeof(float));
  w->len = calloc((size_t)streams, sizeof(int));
  int ok = w->path && w->tmp && w->buf && w->len;
  if (ok && fr.stack) {
    size_t slots = (size_t)streams * ((size_t)max_len + 1);
    w->states = calloc(slots * (size_t)(fr.state_dim ? fr.state_dim : 1), sizeof(float));
    w->frames = malloc(slots * w->F);
    ok = w->states && w->frames;
  }
  if (!ok) { snprintf(err, errsz, "out of memory"); af_dataset_abort(w); return NULL; }
  unsigned char zero[HEADER_BYTES] = {0};
  if (!(w->f = fopen(w->tmp, "wb")) || fwrite(zero, 1, HEADER_BYTES, w->f) != HEADER_BYTES) {
    snprintf(err, errsz, "%s: cannot write: %s", w->tmp, strerror(errno));
    af_dataset_abort(w);
    return NULL;
  }
  return w;
}

// bytes into the body, checksummed
static int put(af_dataset_writer *w, const void *p, size_t n) {
  w->fnv = fnv1a(w->fnv, p, n);
  w->body += n;
  return fwrite(p, 1, n, w->f) == n ? 0 : -1;
}

// a frame's planar floats as bytes; 0, or -1 when a value is not a whole number in [0, 255]
static int frame_bytes(uint8_t *dst, const float *src, size_t n) {
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    float v = src[i];
    int q = v >= 0 && v <= 255 ? (int)v : 0;
    bad |= (float)q != v;
    dst[i] = (uint8_t)q;
  }
  return bad ? -1 : 0;
}

// 1 when the planar floats are the frame's bytes
static int frame_is(const uint8_t *bytes, const float *src, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((float)bytes[i] != src[i]) return 0;
  return 1;
}

// version 2: observation k (0 the episode's first, from obs; k + 1 from next) of stream i into
// its slots, with the checks that make the stored frames give back every observation
static int keep_frames(af_dataset_writer *w, int i, int k, const float *obs, const float *next, char *err, size_t errsz) {
  const int sd = w->fr.state_dim, K = w->fr.stack;
  const size_t F = w->F, slot = (size_t)i * ((size_t)w->max_len + 1);
  float *st = w->states + slot * (size_t)sd;
  uint8_t *fr = w->frames + slot * F;
  const float *of = obs + sd, *nf = next + sd;  // the stacks, oldest frame first
  if (k == 0) {
    for (int j = 1; j < K; j++)
      if (memcmp(of, of + (size_t)j * F, F * sizeof(float))) {
        snprintf(err, errsz, "%s: stream %d: an episode's first observation is not one frame repeated (each frame is stored once)", w->path, i);
        return -1;
      }
    memcpy(st, obs, sizeof(float) * (size_t)sd);
    if (frame_bytes(fr, of + (size_t)(K - 1) * F, F)) { snprintf(err, errsz, "%s: stream %d: frame values are not whole numbers in [0, 255]", w->path, i); return -1; }
  } else if (memcmp(obs, st + (size_t)k * sd, sizeof(float) * (size_t)sd) || !frame_is(fr + (size_t)k * F, of + (size_t)(K - 1) * F, F)) {
    snprintf(err, errsz, "%s: stream %d: an observation is not the previous step's next observation", w->path, i);
    return -1;
  }
  // the next observation's older frames are the observation's newer ones
  if (memcmp(nf, of + F, (size_t)(K - 1) * F * sizeof(float))) {
    snprintf(err, errsz, "%s: stream %d: the frames of an observation and the next one do not chain", w->path, i);
    return -1;
  }
  memcpy(st + (size_t)(k + 1) * sd, next, sizeof(float) * (size_t)sd);
  if (frame_bytes(fr + (size_t)(k + 1) * F, nf + (size_t)(K - 1) * F, F)) {
    snprintf(err, errsz, "%s: stream %d: frame values are not whole numbers in [0, 255]", w->path, i);
    return -1;
  }
  return 0;
}

int af_dataset_add(af_dataset_writer *w, const af_batch *b, const uint8_t *source, char *err, size_t errsz) {
  if (b->n != w->streams) { snprintf(err, errsz, "%s: %d transitions for a dataset of %d streams", w->path, b->n, w->streams); return -1; }
  const int od = w->od, ad = w->ad, R = w->row, v2 = w->fr.stack > 0;
  for (int i = 0; i < b->n; i++) {
    if (w->len[i] >= w->max_len) { snprintf(err, errsz, "%s: an episode is longer than %d steps", w->path, w->max_len); return -1; }
    const int k = w->len[i];
    const float *obs = b->obs + (size_t)i * od, *next = b->next_obs + (size_t)i * od;
    if (v2 && keep_frames(w, i, k, obs, next, err, errsz)) return -1;
    float *r = w->buf + ((size_t)i * w->max_len + w->len[i]++) * R;
    int diverged = b->info && b->info[i].diverged, term = b->terminated[i] || diverged;
    // the row: version 1 with both observations, version 2 with the action on (the
    // observations are in the state and frame slots); a non-finite action (an episode ended
    // for it) is stored as 0, as the replay does
    float *a = r;
    if (!v2) { memcpy(r, obs, sizeof(float) * od); a = r + od; }
    for (int j = 0; j < ad; j++) { float x = b->act[(size_t)i * ad + j]; a[j] = isfinite(x) ? x : 0; }
    a[ad] = diverged ? 0 : b->reward[i];
    if (!v2) memcpy(a + ad + 1, next, sizeof(float) * od);
    r[R - 1] = (float)term;
    if (!(term || b->truncated[i])) continue;
    // the episode ended: its record
    const int L = w->len[i];
    unsigned char h[REC_BYTES] = {0};
    put32(h, (uint32_t)L);
    put32(h + 4, source ? source[i] : AF_SRC_POLICY);
    put32(h + 8, b->info && b->info[i].success && !diverged);
    int bad = put(w, h, REC_BYTES);
    if (v2) {
      const size_t slot = (size_t)i * ((size_t)w->max_len + 1), frames = (size_t)(L + 1) * w->F;
      static const unsigned char zero[4] = {0};
      bad = bad || put(w, w->states + slot * (size_t)w->fr.state_dim, sizeof(float) * (size_t)w->fr.state_dim * (size_t)(L + 1)) ||
            put(w, w->buf + (size_t)i * w->max_len * R, sizeof(float) * R * L) || put(w, w->frames + slot * w->F, frames) ||
            put(w, zero, pad4(frames));
    } else
      bad = bad || put(w, w->buf + (size_t)i * w->max_len * R, sizeof(float) * R * L);
    if (bad) { snprintf(err, errsz, "%s: cannot write: %s", w->tmp, strerror(errno)); return -1; }
    w->episodes++;
    w->transitions += (uint64_t)L;
    w->len[i] = 0;
  }
  return 0;
}

long af_dataset_episodes(const af_dataset_writer *w) { return (long)w->episodes; }
long af_dataset_transitions(const af_dataset_writer *w) { return (long)w->transitions; }

int af_dataset_close(af_dataset_writer *w, char *err, size_t errsz) {
  unsigned char h[HEADER_BYTES] = {0};
  memcpy(h, MAGIC, 4);
  put32(h + 4, w->fr.stack ? AF_DATASET_VERSION_FRAMES : AF_DATASET_VERSION);
  put32(h + 8, HEADER_BYTES);
  put32(h + 12, (uint32_t)w->od);
  put32(h + 16, (uint32_t)w->ad);
  put32(h + 20, (uint32_t)w->fr.state_dim);
  put64(h + 24, w->episodes);
  put64(h + 32, w->transitions);
  put64(h + 40, w->body);
  put64(h + 48, w->fnv);
  memcpy(h + 56, w->env, strnlen(w->env, 47));
  put64(h + 104, w->seed);
  put16(h + 112, (uint32_t)w->fr.C);
  put16(h + 114, (uint32_t)w->fr.H);
  put16(h + 116, (uint32_t)w->fr.W);
  put16(h + 118, (uint32_t)w->fr.stack);
  put64(h + 120, fnv1a(FNV_INIT, h, 120));
  int rc = fseek(w->f, 0, SEEK_SET) || fwrite(h, 1, HEADER_BYTES, w->f) != HEADER_BYTES || fflush(w->f) || fsync(fileno(w->f));
  rc |= fclose(w->f) != 0;
  w->f = NULL;
  if (rc || rename(w->tmp, w->path)) {
    snprintf(err, errsz, "%s: cannot write: %s", w->path, strerror(errno));
    af_dataset_abort(w);
    return -1;
  }
  free(w->tmp);
  w->tmp = NULL;
  af_dataset_abort(w);
  return 0;
}

void af_dataset_abort(af_dataset_writer *w) {
  if (!w) return;
  if (w->f) fclose(w->f);
  if (w->tmp) remove(w->tmp);
  free(w->tmp);
  free(w->path);
  free(w->buf);
  free(w->states);
  free(w->frames);
  free(w->len);
  free(w);
}

// ---- reading ----
#define FAIL(...) do { snprintf(err, errsz, __VA_ARGS__); goto fail; } while (0)

// the header's sizes into d; 0, or -1 with the message
static int read_header(const char *path, const unsigned char *m, size_t size, af_dataset *d, char *err, size_t errsz) {
  if (size < HEADER_BYTES) { snprintf(err, errsz, "%s: truncated (%zu bytes, less than the %d-byte header)", path, size, HEADER_BYTES); return -1; }
  if (memcmp(m, MAGIC, 4)) { snprintf(err, errsz, "%s: not an armfarm dataset (bad magic)", path); return -1; }
  uint32_t version = get32(m + 4);
  if (version != AF_DATASET_VERSION && version != AF_DATASET_VERSION_FRAMES) {
    snprintf(err, errsz, "%s: dataset version %u (this build reads %d and %d)", path, version, AF_DATASET_VERSION, AF_DATASET_VERSION_FRAMES);
    return -1;
  }
  if (get64(m + 120) != fnv1a(FNV_INIT, m, 120)) { snprintf(err, errsz, "%s: header checksum mismatch (corrupted)", path); return -1; }
  if (get32(m + 8) != HEADER_BYTES) { snprintf(err, errsz, "%s: header size %u (expected %d)", path, get32(m + 8), HEADER_BYTES); return -1; }
  uint32_t od = get32(m + 12), ad = get32(m + 16), sd = get32(m + 20);
  af_dataset_frames f = {.state_dim = (int)(sd > MAX_DIM ? MAX_DIM + 1 : sd), .C = (int)get16(m + 112), .H = (int)get16(m + 114),
                         .W = (int)get16(m + 116), .stack = (int)get16(m + 118)};
  int v2 = version == AF_DATASET_VERSION_FRAMES;
  if (ad < 1 || ad > MAX_DIM || od < 1 || od > (v2 ? INT32_MAX : MAX_DIM) || (v2 ? f.stack < 1 || frames_bad(&f, (int)od) : sd || f.C || f.H || f.W || f.stack)) {
    snprintf(err, errsz, "%s: bad sizes (obs %u, act %u, frames %d of %dx%dx%d after %u entries)", path, od, ad, f.stack, f.C, f.H, f.W, sd);
    return -1;
  }
  if (memchr(m + 56, 0, 48) == NULL) { snprintf(err, errsz, "%s: the environment name is not terminated", path); return -1; }
  d->version = (int)version;
  d->obs_dim = (int)od;
  d->act_dim = (int)ad;
  d->frames = v2 ? f : (af_dataset_frames){0};
  memcpy(d->env, m + 56, 48);
  d->seed = get64(m + 104);
  return 0;
}

// bytes of an episode of L steps (floats first, then the frames and their padding)
static uint64_t episode_bytes(const af_dataset *d, uint64_t L) {
  const uint64_t od = (uint64_t)d->obs_dim, ad = (uint64_t)d->act_dim;
  if (d->version == AF_DATASET_VERSION) return REC_BYTES + L * (2 * od + ad + 2) * 4;
  const af_dataset_frames *f = &d->frames;
  uint64_t F = (uint64_t)f->C * f->H * f->W, fb = (L + 1) * F;
  return REC_BYTES + ((L + 1) * (uint64_t)f->state_dim + L * (ad + 2)) * 4 + fb + pad4((size_t)fb);
}

int af_dataset_read(const char *path, af_dataset *d, char *err, size_t errsz) {
  *d = (af_dataset){0};
  size_t size = 0;
  unsigned char *m = (unsigned char *)af_read_file_len(path, &size);
  if (!m) { snprintf(err, errsz, "%s: cannot read: %s", path, strerror(errno)); return -1; }
  d->mem = m;
  d->size = size;
  if (read_header(path, m, size, d, err, errsz)) goto fail;
  uint64_t eps = get64(m + 24), trans = get64(m + 32), body = get64(m + 40);
  // counts against the file's size before anything is allocated by them: the episodes take
  // eps per_ep + trans per_step bytes, and up to 3 bytes of padding each in version 2
  const int v2 = d->version == AF_DATASET_VERSION_FRAMES;
  const uint64_t F = (uint64_t)d->frames.C * d->frames.H * d->frames.W, sd = (uint64_t)d->frames.state_dim, ad = (uint64_t)d->act_dim;
  const uint64_t per_ep = v2 ? REC_BYTES + 4 * sd + F : REC_BYTES, per_step = v2 ? 4 * (sd + ad + 2) + F : 4 * (2 * (uint64_t)d->obs_dim + ad + 2);
  if (body != size - HEADER_BYTES)
    FAIL("%s: truncated or extended (%zu body bytes, the header says %llu)", path, size - HEADER_BYTES, (unsigned long long)body);
  if (eps > body / REC_BYTES || trans > body / per_step || trans < eps || eps * per_ep + trans * per_step > body ||
      body - (eps * per_ep + trans * per_step) > (v2 ? 3 * eps : 0))
    FAIL("%s: %llu episodes of %llu transitions do not make %llu bytes", path, (unsigned long long)eps, (unsigned long long)trans,
         (unsigned long long)body);
  if (get64(m + 48) != fnv1a(FNV_INIT, m + HEADER_BYTES, body)) FAIL("%s: checksum mismatch (corrupted)", path);
  d->episodes = (long)eps;
  d->transitions = (long)trans;
  if (eps && !(d->off = calloc(eps, sizeof(size_t)))) FAIL("out of memory");
  // every record inside the body, lengths adding up, flags and values as the format says
  const size_t R = v2 ? (size_t)d->act_dim + 2 : 2 * (size_t)d->obs_dim + d->act_dim + 2;
  size_t at = HEADER_BYTES;
  uint64_t seen = 0;
  for (uint64_t e = 0; e < eps; e++) {
    if (size - at < REC_BYTES) FAIL("%s: episode %llu: record beyond the end", path, (unsigned long long)e);
    uint32_t L = get32(m + at), src = get32(m + at + 4), succ = get32(m + at + 8);
    if (L < 1 || L > MAX_LEN || L > trans - seen || episode_bytes(d, L) > size - at) FAIL("%s: episode %llu: bad length %u", path, (unsigned long long)e, L);
    if (src > AF_SRC_POLICY || succ > 1 || get32(m + at + 12)) FAIL("%s: episode %llu: bad source or flags", path, (unsigned long long)e);
    d->off[e] = at;
    af_dataset_episode ep = af_dataset_get(d, (long)e);
    size_t nf = (size_t)L * R + (v2 ? ((size_t)L + 1) * (size_t)d->frames.state_dim : 0);
    const float *x = v2 ? ep.states : ep.rows;  // the states come right before the rows
    for (size_t k = 0; k < nf; k++)
      if (!isfinite(x[k])) FAIL("%s: episode %llu: a value is not finite", path, (unsigned long long)e);
    for (uint32_t k = 0; k < L; k++) {
      float te = ep.rows[k * R + R - 1];
      if (!(te == 0 || (te == 1 && k == L - 1))) FAIL("%s: episode %llu: bad terminated flag at step %u", path, (unsigned long long)e, k);
    }
    size_t next = at + (size_t)episode_bytes(d, L);
    for (const unsigned char *p = v2 ? ep.frames + ((size_t)L + 1) * d->frames.C * d->frames.H * d->frames.W : m + next; p < m + next; p++)
      if (*p) FAIL("%s: episode %llu: padding is not zero", path, (unsigned long long)e);
    seen += L;
    at = next;
  }
  if (seen != trans || at != size) FAIL("%s: the episodes hold %llu transitions, the header says %llu", path, (unsigned long long)seen, (unsigned long long)trans);
  return 0;
fail:
  af_dataset_free(d);
  return -1;
}

void af_dataset_free(af_dataset *d) {
  free(d->mem);
  free(d->off);
  *d = (af_dataset){0};
}

af_dataset_episode af_dataset_get(const af_dataset *d, long e) {
  const unsigned char *h = d->mem + d->off[e];
  af_dataset_episode ep = {.len = (int)get32(h), .source = (int)get32(h + 4), .success = (int)get32(h + 8)};
  const float *x = (const float *)(h + REC_BYTES);
  if (d->version == AF_DATASET_VERSION) { ep.rows = x; return ep; }
  ep.states = x;
  ep.rows = x + ((size_t)ep.len + 1) * (size_t)d->frames.state_dim;
  ep.frames = (const uint8_t *)(ep.rows + (size_t)ep.len * ((size_t)d->act_dim + 2));
  return ep;
}

void af_dataset_obs(const af_dataset *d, long e, int k, float *obs) {
  af_dataset_episode ep = af_dataset_get(d, e);
  const int od = d->obs_dim, ad = d->act_dim;
  if (d->version == AF_DATASET_VERSION) {
    const float *r = ep.rows + (size_t)(k < ep.len ? k : ep.len - 1) * (2 * (size_t)od + ad + 2);
    memcpy(obs, k < ep.len ? r : r + od + ad + 1, sizeof(float) * od);
    return;
  }
  // the state entries, then the stack oldest first, the first frame standing in before it
  const af_dataset_frames *f = &d->frames;
  const size_t F = (size_t)f->C * f->H * f->W;
  memcpy(obs, ep.states + (size_t)k * f->state_dim, sizeof(float) * (size_t)f->state_dim);
  for (int j = 0; j < f->stack; j++) {
    int src = k - (f->stack - 1) + j;
    const uint8_t *fr = ep.frames + (size_t)(src < 0 ? 0 : src) * F;
    float *out = obs + f->state_dim + (size_t)j * F;
    for (size_t i = 0; i < F; i++) out[i] = fr[i];
  }
}

// a dataset file of spec's environment with these sizes; -1 with the message otherwise
static int dataset_for(const char *path, const af_env_spec *spec, af_dataset *d, int want_frames, char *err, size_t errsz) {
  if (af_dataset_read(path, d, err, errsz)) return -1;
  int ok = 1;
  af_dataset_frames f = af_dataset_frames_of(spec, &ok);
  const af_dataset_frames *g = &d->frames;
  if (spec->name && strcmp(d->env, spec->name)) snprintf(err, errsz, "%s: a dataset of %s, not %s", path, d->env, spec->name);
  else if (d->obs_dim != spec->obs_dim || d->act_dim != spec->act_dim)
    snprintf(err, errsz, "%s: sizes obs %d, act %d (the environment has %d, %d)", path, d->obs_dim, d->act_dim, spec->obs_dim, spec->act_dim);
  else if (!want_frames && g->stack)
    snprintf(err, errsz, "%s: a dataset of image observations (version 2); it fills an image replay, not a state one", path);
  else if (want_frames && (!g->stack || !ok || f.stack != g->stack || f.C != g->C || f.H != g->H || f.W != g->W || f.state_dim != g->state_dim))
    snprintf(err, errsz, "%s: frames %d of %dx%dx%d after %d entries (the environment's: %d of %dx%dx%d after %d)", path, g->stack, g->C, g->H, g->W,
             g->state_dim, f.stack, f.C, f.H, f.W, f.state_dim);
  else if (d->transitions < 1) snprintf(err, errsz, "%s: the dataset holds no transitions", path);
  else if (d->transitions > (want_frames ? AF_IMAGE_REPLAY_MAX / 2 : AF_REPLAY_MAX))
    snprintf(err, errsz, "%s: %ld transitions (at most %ld fit a replay)", path, d->transitions, want_frames ? AF_IMAGE_REPLAY_MAX / 2 : (long)AF_REPLAY_MAX);
  else return 0;
  af_dataset_free(d);
  return -1;
}

int af_dataset_to_replay(const char *path, const af_env_spec *spec, af_replay *r, char *err, size_t errsz) {
  af_dataset d;
  if (dataset_for(path, spec, &d, 0, err, errsz)) return -1;
  int rc = af_replay_init(r, d.transitions, d.obs_dim, d.act_dim, 0, err, errsz);
  const int od = d.obs_dim, ad = d.act_dim, R = 2 * od + ad + 2;
  for (long e = 0; rc == 0 && e < d.episodes; e++) {
    af_dataset_episode ep = af_dataset_get(&d, e);
    const float *x = ep.rows;
    for (int k = 0; k < ep.len; k++, x += R) af_replay_add(r, x, x + od, x[od + ad], x + od + ad + 1, x[R - 1] != 0, NULL, NULL);
  }
  af_dataset_free(&d);
  return rc ? -1 : 0;
}

// a planar (C, H, W) frame as (H, W, C), the layout image replays are given
static void to_hwc(uint8_t *hwc, const uint8_t *planar, int C, int H, int W) {
  const size_t HW = (size_t)H * W;
  for (int c = 0; c < C; c++)
    for (size_t i = 0; i < HW; i++) hwc[i * C + c] = planar[(size_t)c * HW + i];
}

int af_dataset_to_image_replay(const char *path, const af_env_spec *spec, af_image_replay *r, char *err, size_t errsz) {
  af_dataset d;
  if (dataset_for(path, spec, &d, 1, err, errsz)) return -1;
  const af_dataset_frames *f = &d.frames;
  const size_t F = (size_t)f->C * f->H * f->W;
  const int ad = d.act_dim, R = ad + 2;
  // room for every transition and every frame: an episode of L steps holds L + 1 frames, and
  // the ring keeps at least one frame per transition of room
  uint8_t *a = malloc(F), *b = malloc(F);
  int rc = a && b ? af_image_replay_init(r, d.transitions + d.episodes, f->C, f->H, f->W, f->stack, f->state_dim, ad, 1, err, errsz) : -1;
  if (!a || !b) snprintf(err, errsz, "out of memory");
  for (long e = 0; rc == 0 && e < d.episodes; e++) {
    af_dataset_episode ep = af_dataset_get(&d, e);
    to_hwc(b, ep.frames, f->C, f->H, f->W);
    for (int k = 0; k < ep.len; k++) {
      uint8_t *t = a;
      a = b, b = t;  // a: observation k's frame, b: the next one's
      to_hwc(b, ep.frames + (size_t)(k + 1) * F, f->C, f->H, f->W);
      const float *x = ep.rows + (size_t)k * R, *s = ep.states + (size_t)k * f->state_dim;
      af_image_replay_add(r, 0, a, f->state_dim ? s : NULL, x, x[ad], b, f->state_dim ? s + f->state_dim : NULL, x[R - 1] != 0, k == ep.len - 1);
    }
  }
  free(a);
  free(b);
  af_dataset_free(&d);
  return rc ? -1 : 0;
}
