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

static const unsigned char MAGIC[4] = {'A', 'F', 'D', 'S'};

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001b3ull; }
  return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

static void put32(unsigned char *p, uint32_t x) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(x >> (8 * i)); }
static void put64(unsigned char *p, uint64_t x) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(x >> (8 * i)); }
static uint32_t get32(const unsigned char *p) { uint32_t x = 0; for (int i = 3; i >= 0; i--) x = x << 8 | p[i]; return x; }
static uint64_t get64(const unsigned char *p) { uint64_t x = 0; for (int i = 7; i >= 0; i--) x = x << 8 | p[i]; return x; }

// ---- writing ----
struct af_dataset_writer {
  FILE *f;
  char *path, *tmp;
  char env[48];
  int od, ad, streams, max_len, row;  // row: floats per transition
  uint64_t seed, fnv, body, episodes, transitions;
  float *buf;   // (streams, max_len, row)
  int *len;     // per stream: rows kept of its running episode
};

af_dataset_writer *af_dataset_open(const char *path, const char *env, int obs_dim, int act_dim, int streams, int max_len,
                                   uint64_t seed, char *err, size_t errsz) {
  if (obs_dim < 1 || obs_dim > MAX_DIM || act_dim < 1 || act_dim > MAX_DIM || streams < 1 || max_len < 1 || max_len > MAX_LEN) {
    snprintf(err, errsz, "%s: bad dataset sizes (obs %d, act %d, streams %d, episode length %d)", path, obs_dim, act_dim, streams, max_len);
    return NULL;
  }
  af_dataset_writer *w = calloc(1, sizeof *w);
  if (!w) { snprintf(err, errsz, "out of memory"); return NULL; }
  snprintf(w->env, sizeof w->env, "%s", env);
  w->od = obs_dim;
  w->ad = act_dim;
  w->streams = streams;
  w->max_len = max_len;
  w->row = 2 * obs_dim + act_dim + 2;
  w->seed = seed;
  w->fnv = FNV_INIT;
  w->path = af_strfmt("%s", path);
  w->tmp = af_strfmt("%s.tmp.%ld", path, (long)getpid());
  w->buf = calloc((size_t)streams * max_len * w->row, sizeof(float));
  w->len = calloc((size_t)streams, sizeof(int));
  if (!w->path || !w->tmp || !w->buf || !w->len) { snprintf(err, errsz, "out of memory"); af_dataset_abort(w); return NULL; }
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

int af_dataset_add(af_dataset_writer *w, const af_batch *b, const uint8_t *source, char *err, size_t errsz) {
  if (b->n != w->streams) { snprintf(err, errsz, "%s: %d transitions for a dataset of %d streams", w->path, b->n, w->streams); return -1; }
  const int od = w->od, ad = w->ad, R = w->row;
  for (int i = 0; i < b->n; i++) {
    if (w->len[i] >= w->max_len) { snprintf(err, errsz, "%s: an episode is longer than %d steps", w->path, w->max_len); return -1; }
    float *r = w->buf + ((size_t)i * w->max_len + w->len[i]++) * R;
    int diverged = b->info && b->info[i].diverged, term = b->terminated[i] || diverged;
    memcpy(r, b->obs + (size_t)i * od, sizeof(float) * od);
    // a non-finite action (an episode ended for it) is stored as 0, as the replay does
    for (int j = 0; j < ad; j++) { float a = b->act[(size_t)i * ad + j]; r[od + j] = isfinite(a) ? a : 0; }
    r[od + ad] = diverged ? 0 : b->reward[i];
    memcpy(r + od + ad + 1, b->next_obs + (size_t)i * od, sizeof(float) * od);
    r[R - 1] = (float)term;
    if (!(term || b->truncated[i])) continue;
    // the episode ended: its record
    unsigned char h[REC_BYTES] = {0};
    put32(h, (uint32_t)w->len[i]);
    put32(h + 4, source ? source[i] : AF_SRC_POLICY);
    put32(h + 8, b->info && b->info[i].success && !diverged);
    if (put(w, h, REC_BYTES) || put(w, w->buf + (size_t)i * w->max_len * R, sizeof(float) * R * w->len[i])) {
      snprintf(err, errsz, "%s: cannot write: %s", w->tmp, strerror(errno));
      return -1;
    }
    w->episodes++;
    w->transitions += (uint64_t)w->len[i];
    w->len[i] = 0;
  }
  return 0;
}

long af_dataset_episodes(const af_dataset_writer *w) { return (long)w->episodes; }
long af_dataset_transitions(const af_dataset_writer *w) { return (long)w->transitions; }

int af_dataset_close(af_dataset_writer *w, char *err, size_t errsz) {
  unsigned char h[HEADER_BYTES] = {0};
  memcpy(h, MAGIC, 4);
  put32(h + 4, AF_DATASET_VERSION);
  put32(h + 8, HEADER_BYTES);
  put32(h + 12, (uint32_t)w->od);
  put32(h + 16, (uint32_t)w->ad);
  put64(h + 24, w->episodes);
  put64(h + 32, w->transitions);
  put64(h + 40, w->body);
  put64(h + 48, w->fnv);
  memcpy(h + 56, w->env, strnlen(w->env, 47));
  put64(h + 104, w->seed);
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
  free(w->len);
  free(w);
}

// ---- reading ----
#define FAIL(...) do { snprintf(err, errsz, __VA_ARGS__); goto fail; } while (0)

int af_dataset_read(const char *path, af_dataset *d, char *err, size_t errsz) {
  *d = (af_dataset){0};
  size_t size = 0;
  unsigned char *m = (unsigned char *)af_read_file_len(path, &size);
  if (!m) { snprintf(err, errsz, "%s: cannot read: %s", path, strerror(errno)); return -1; }
  d->mem = m;
  d->size = size;
  if (size < HEADER_BYTES) FAIL("%s: truncated (%zu bytes, less than the %d-byte header)", path, size, HEADER_BYTES);
  if (memcmp(m, MAGIC, 4)) FAIL("%s: not an armfarm dataset (bad magic)", path);
  if (get32(m + 4) != AF_DATASET_VERSION) FAIL("%s: dataset version %u (this build reads %d)", path, get32(m + 4), AF_DATASET_VERSION);
  if (get64(m + 120) != fnv1a(FNV_INIT, m, 120)) FAIL("%s: header checksum mismatch (corrupted)", path);
  if (get32(m + 8) != HEADER_BYTES) FAIL("%s: header size %u (expected %d)", path, get32(m + 8), HEADER_BYTES);
  uint32_t od = get32(m + 12), ad = get32(m + 16);
  if (od < 1 || od > MAX_DIM || ad < 1 || ad > MAX_DIM) FAIL("%s: bad sizes (obs %u, act %u)", path, od, ad);
  if (memchr(m + 56, 0, 48) == NULL) FAIL("%s: the environment name is not terminated", path);
  uint64_t eps = get64(m + 24), trans = get64(m + 32), body = get64(m + 40);
  const uint64_t row = (2 * (uint64_t)od + ad + 2) * 4;
  // counts against the file's size before anything is allocated by them
  if (body != size - HEADER_BYTES)
    FAIL("%s: truncated or extended (%zu body bytes, the header says %llu)", path, size - HEADER_BYTES, (unsigned long long)body);
  if (eps > body / REC_BYTES || trans > body / row || eps * REC_BYTES + trans * row != body)
    FAIL("%s: %llu episodes of %llu transitions do not make %llu bytes", path, (unsigned long long)eps, (unsigned long long)trans,
         (unsigned long long)body);
  if (trans < eps) FAIL("%s: fewer transitions than episodes", path);
  if (get64(m + 48) != fnv1a(FNV_INIT, m + HEADER_BYTES, body)) FAIL("%s: checksum mismatch (corrupted)", path);
  d->obs_dim = (int)od;
  d->act_dim = (int)ad;
  d->episodes = (long)eps;
  d->transitions = (long)trans;
  memcpy(d->env, m + 56, 48);
  d->seed = get64(m + 104);
  if (eps && !(d->off = calloc(eps, sizeof(size_t)))) FAIL("out of memory");
  // every record inside the body, lengths adding up, flags and values as the format says
  size_t at = HEADER_BYTES;
  uint64_t seen = 0;
  for (uint64_t e = 0; e < eps; e++) {
    if (size - at < REC_BYTES) FAIL("%s: episode %llu: record beyond the end", path, (unsigned long long)e);
    uint32_t L = get32(m + at), src = get32(m + at + 4), succ = get32(m + at + 8);
    if (L < 1 || L > MAX_LEN || L > trans - seen || (size - at - REC_BYTES) / row < L) FAIL("%s: episode %llu: bad length %u", path, (unsigned long long)e, L);
    if (src > AF_SRC_POLICY || succ > 1 || get32(m + at + 12)) FAIL("%s: episode %llu: bad source or flags", path, (unsigned long long)e);
    d->off[e] = at;
    const float *r = (const float *)(m + at + REC_BYTES);
    const size_t R = (size_t)(row / 4);
    for (size_t k = 0; k < (size_t)L * R; k++)
      if (!isfinite(r[k])) FAIL("%s: episode %llu: a value is not finite", path, (unsigned long long)e);
    for (uint32_t k = 0; k < L; k++) {
      float te = r[k * R + R - 1];
      if (!(te == 0 || (te == 1 && k == L - 1))) FAIL("%s: episode %llu: bad terminated flag at step %u", path, (unsigned long long)e, k);
    }
    seen += L;
    at += REC_BYTES + (size_t)L * row;
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

const float *af_dataset_rows(const af_dataset *d, long e, int *len, int *source, int *success) {
  const unsigned char *h = d->mem + d->off[e];
  if (len) *len = (int)get32(h);
  if (source) *source = (int)get32(h + 4);
  if (success) *success = (int)get32(h + 8);
  return (const float *)(h + REC_BYTES);
}

int af_dataset_to_replay(const char *path, const af_env_spec *spec, af_replay *r, char *err, size_t errsz) {
  af_dataset d;
  if (af_dataset_read(path, &d, err, errsz)) return -1;
  int rc = -1;
  if (spec->name && strcmp(d.env, spec->name)) snprintf(err, errsz, "%s: a dataset of %s, not %s", path, d.env, spec->name);
  else if (d.obs_dim != spec->obs_dim || d.act_dim != spec->act_dim)
    snprintf(err, errsz, "%s: sizes obs %d, act %d (the environment has %d, %d)", path, d.obs_dim, d.act_dim, spec->obs_dim, spec->act_dim);
  else if (d.transitions < 1) snprintf(err, errsz, "%s: the dataset holds no transitions", path);
  else if (d.transitions > AF_REPLAY_MAX) snprintf(err, errsz, "%s: %ld transitions (at most %d fit a replay)", path, d.transitions, AF_REPLAY_MAX);
  else if (!af_replay_init(r, d.transitions, d.obs_dim, d.act_dim, 0, err, errsz)) {
    const int od = d.obs_dim, ad = d.act_dim, R = 2 * od + ad + 2;
    for (long e = 0; e < d.episodes; e++) {
      int L;
      const float *x = af_dataset_rows(&d, e, &L, NULL, NULL);
      for (int k = 0; k < L; k++, x += R) af_replay_add(r, x, x + od, x[od + ad], x + od + ad + 1, x[R - 1] != 0, NULL, NULL);
    }
    rc = 0;
  }
  af_dataset_free(&d);
  return rc;
}
