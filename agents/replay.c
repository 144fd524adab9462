// Replay buffer: one allocation carved into per-field arrays, a ring over `cap` transitions.
#include "agents/replay.h"

#include <stdio.h>   // snprintf
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy

#include "agents/nn/nn.h"

int af_replay_init(af_replay *r, long cap, int od, int ad, int gd, char *err, size_t errsz) {
  memset(r, 0, sizeof *r);
  if (cap < 1 || cap > AF_REPLAY_MAX) { snprintf(err, errsz, "replay capacity %ld out of range [1, %d]", cap, AF_REPLAY_MAX); return -1; }
  size_t row = (size_t)2 * od + ad + 2 + 2 * (size_t)gd;
  r->mem = calloc((size_t)cap * row, sizeof(float));
  if (!r->mem) { snprintf(err, errsz, "replay: cannot allocate %ld transitions (%.1f MB)", cap, cap * row * 4.0 / 1e6); return -1; }
  r->cap = cap;
  r->obs_dim = od;
  r->act_dim = ad;
  r->goal_dim = gd;
  float *p = r->mem;
  r->obs = p; p += (size_t)cap * od;
  r->next_obs = p; p += (size_t)cap * od;
  r->act = p; p += (size_t)cap * ad;
  r->rew = p; p += cap;
  r->done = p; p += cap;
  r->ag = p; p += (size_t)cap * gd;
  r->dg = p;
  return 0;
}

void af_replay_free(af_replay *r) {
  free(r->mem);
  r->mem = NULL;
}

void af_replay_add(af_replay *r, const float *obs, const float *act, float rew, const float *next_obs, int terminated,
                   const float *ag, const float *dg) {
  long i = r->pos;
  memcpy(r->obs + i * r->obs_dim, obs, sizeof(float) * r->obs_dim);
  memcpy(r->next_obs + i * r->obs_dim, next_obs, sizeof(float) * r->obs_dim);
  memcpy(r->act + i * r->act_dim, act, sizeof(float) * r->act_dim);
  r->rew[i] = rew;
  r->done[i] = terminated ? 1.0f : 0.0f;
  if (r->goal_dim && ag) memcpy(r->ag + i * r->goal_dim, ag, sizeof(float) * r->goal_dim);
  if (r->goal_dim && dg) memcpy(r->dg + i * r->goal_dim, dg, sizeof(float) * r->goal_dim);
  r->pos = (r->pos + 1) % r->cap;
  if (r->size < r->cap) r->size++;
}

void af_replay_sample(const af_replay *r, af_rng *rng, int B, float *obs, float *act, float *rew, float *next_obs, float *done) {
  for (int b = 0; b < B; b++) {
    long i = (long)(af_rng_next(rng) % (uint64_t)r->size);
    memcpy(obs + (size_t)b * r->obs_dim, r->obs + i * r->obs_dim, sizeof(float) * r->obs_dim);
    memcpy(next_obs + (size_t)b * r->obs_dim, r->next_obs + i * r->obs_dim, sizeof(float) * r->obs_dim);
    memcpy(act + (size_t)b * r->act_dim, r->act + i * r->act_dim, sizeof(float) * r->act_dim);
    rew[b] = r->rew[i];
    done[b] = r->done[i];
  }
}

// the file: a header tensor (cap, size, pos, dims), then the filled rows of each field
int af_replay_save(const af_replay *r, const char *path, char *err, size_t errsz) {
  float head[6] = {(float)r->cap, (float)r->size, (float)r->pos, (float)r->obs_dim, (float)r->act_dim, (float)r->goal_dim};
  size_t n = (size_t)r->size;
  af_tensor t[8] = {{"replay", head, 6}, {"obs", r->obs, n * r->obs_dim}, {"next_obs", r->next_obs, n * r->obs_dim},
                    {"act", r->act, n * r->act_dim}, {"rew", r->rew, n}, {"done", r->done, n},
                    {"ag", r->ag, n * r->goal_dim}, {"dg", r->dg, n * r->goal_dim}};
  return af_nn_save(path, t, 8, err, errsz);
}

int af_replay_load(af_replay *r, const char *path, char *err, size_t errsz) {
  float head[6];
  af_tensor h = {"replay", head, 6};
  if (af_nn_load_first(path, &h, 1, err, errsz)) return -1;
  if ((long)head[0] != r->cap || (int)head[3] != r->obs_dim || (int)head[4] != r->act_dim || (int)head[5] != r->goal_dim) {
    snprintf(err, errsz, "%s: a replay buffer of capacity %ld and sizes %d/%d/%d, this one has %ld and %d/%d/%d", path,
             (long)head[0], (int)head[3], (int)head[4], (int)head[5], r->cap, r->obs_dim, r->act_dim, r->goal_dim);
    return -1;
  }
  size_t n = (size_t)head[1];
  if ((long)n > r->cap || head[2] < 0 || (long)head[2] >= r->cap) { snprintf(err, errsz, "%s: inconsistent replay counters", path); return -1; }
  af_tensor t[8] = {{"replay", head, 6}, {"obs", r->obs, n * r->obs_dim}, {"next_obs", r->next_obs, n * r->obs_dim},
                    {"act", r->act, n * r->act_dim}, {"rew", r->rew, n}, {"done", r->done, n},
                    {"ag", r->ag, n * r->goal_dim}, {"dg", r->dg, n * r->goal_dim}};
  if (af_nn_load(path, t, 8, err, errsz)) return -1;
  r->size = (long)n;
  r->pos = (long)head[2];
  return 0;
}
