// Replay buffer: one allocation carved into per-field arrays, a ring over `cap` transitions,
// the episodes each transition belongs to, and hindsight relabelling at sampling time.
#include "agents/replay.h"

#include <math.h>    // isfinite, floorf
#include <stdio.h>   // snprintf
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy, memcmp

#include "agents/nn/nn.h"
#include "envs/env.h"  // af_env_compute_reward

// per-stream episode state for `streams` environments: running lengths and last next_obs
static int alloc_streams(af_replay *r, int streams, char *err, size_t errsz) {
  int *len = calloc((size_t)streams, sizeof *len);
  float *nx = calloc((size_t)streams * (r->obs_dim > 0 ? r->obs_dim : 1), sizeof *nx);
  if (!len || !nx) {
    free(len);
    free(nx);
    snprintf(err, errsz, "replay: out of memory for %d streams", streams);
    return -1;
  }
  free(r->cur_len);
  free(r->last_next);
  r->cur_len = len;
  r->last_next = nx;
  r->her.streams = streams;
  return 0;
}

int af_replay_init(af_replay *r, long cap, int od, int ad, int gd, char *err, size_t errsz) {
  memset(r, 0, sizeof *r);
  if (cap < 1 || cap > AF_REPLAY_MAX) { snprintf(err, errsz, "replay capacity %ld out of range [1, %d]", cap, AF_REPLAY_MAX); return -1; }
  size_t row = (size_t)2 * od + ad + 4 + 2 * (size_t)gd;
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
  r->ep_pos = p; p += cap;
  r->ep_len = p; p += cap;
  r->ag = p; p += (size_t)cap * gd;
  r->dg = p;
  // no relabelling, one stream, until configured
  r->her = (af_her_cfg){.strategy = AF_HER_NONE, .k = 4, .achieved_offset = -1, .desired_offset = -1};
  if (alloc_streams(r, 1, err, errsz)) { af_replay_free(r); return -1; }
  return 0;
}

void af_replay_free(af_replay *r) {
  free(r->mem);
  free(r->cur_len);
  free(r->last_next);
  r->mem = NULL;
  r->cur_len = NULL;
  r->last_next = NULL;
}

int af_replay_set_her(af_replay *r, const af_her_cfg *c, char *err, size_t errsz) {
  // a configuration that can relabel: goals, a layout inside obs, a reward
  if (c->streams < 1 || c->k < 1) { snprintf(err, errsz, "replay: streams (%d) and k (%d) must be at least 1", c->streams, c->k); return -1; }
  if (c->strategy < AF_HER_NONE || c->strategy > AF_HER_EPISODE) { snprintf(err, errsz, "replay: unknown relabelling strategy %d", c->strategy); return -1; }
  if (c->strategy != AF_HER_NONE) {
    const int gd = r->goal_dim, od = r->obs_dim;
    if (gd < 1) { snprintf(err, errsz, "hindsight relabelling needs a goal-conditioned environment (this one has goal_dim 0)"); return -1; }
    if (c->achieved_offset < 0 || c->achieved_offset + gd > od || c->desired_offset < 0 || c->desired_offset + gd > od) {
      snprintf(err, errsz, "replay: goal layout (achieved at %d, desired at %d, %d floats) outside the %d-float observation",
               c->achieved_offset, c->desired_offset, gd, od);
      return -1;
    }
    if (!c->reward) { snprintf(err, errsz, "hindsight relabelling needs the environment's reward function"); return -1; }
  }
  if (r->added) { snprintf(err, errsz, "replay: configure relabelling before the first transition"); return -1; }
  af_her_cfg keep = *c;
  if (alloc_streams(r, c->streams, err, errsz)) return -1;
  r->her = keep;
  return 0;
}

// the episode of stream s whose last transition was added as number `last` is over: every
// transition of it still in the buffer learns the episode's length
static void end_episode(af_replay *r, int s, uint64_t last) {
  const int L = r->cur_len[s], S = r->her.streams;
  const uint64_t oldest = r->added - (uint64_t)r->size;
  for (int p = L - 1; p >= 0; p--) {
    uint64_t c = last - (uint64_t)(L - 1 - p) * (uint64_t)S;
    if (last < (uint64_t)(L - 1 - p) * (uint64_t)S || c < oldest) break;
    r->ep_len[c % (uint64_t)r->cap] = (float)L;
  }
  r->cur_len[s] = 0;
}

void af_replay_add(af_replay *r, const float *obs, const float *act, float rew, const float *next_obs, int terminated,
                   const float *ag, const float *dg) {
  const int od = r->obs_dim, S = r->her.streams;
  const uint64_t c = r->added;
  const int s = (int)(c % (uint64_t)S);
  float *last = r->last_next + (size_t)s * od;
  // a stream's episode goes on while obs is its previous next_obs; else that one was cut
  if (r->cur_len[s] > 0 && memcmp(obs, last, sizeof(float) * od) != 0) end_episode(r, s, c - (uint64_t)S);
  // the transition, and where it sits in its episode
  long i = r->pos;
  memcpy(r->obs + i * od, obs, sizeof(float) * od);
  memcpy(r->next_obs + i * od, next_obs, sizeof(float) * od);
  memcpy(r->act + i * r->act_dim, act, sizeof(float) * r->act_dim);
  r->rew[i] = rew;
  r->done[i] = terminated ? 1.0f : 0.0f;
  r->ep_pos[i] = (float)r->cur_len[s];
  r->ep_len[i] = 0;
  if (r->goal_dim && ag) memcpy(r->ag + i * r->goal_dim, ag, sizeof(float) * r->goal_dim);
  if (r->goal_dim && dg) memcpy(r->dg + i * r->goal_dim, dg, sizeof(float) * r->goal_dim);
  r->cur_len[s]++;
  memcpy(last, next_obs, sizeof(float) * od);
  // the ring moves on; a terminal transition closes its episode
  r->pos = (r->pos + 1) % r->cap;
  if (r->size < r->cap) r->size++;
  r->added++;
  if (terminated) end_episode(r, s, c);
}

// the ring index of a transition whose goal relabels transition i, or -1 for none
static long relabel_source(const af_replay *r, af_rng *rng, long i) {
  const af_her_cfg *h = &r->her;
  if (h->strategy == AF_HER_NONE || af_rng_uniform(rng) * (h->k + 1) >= h->k) return -1;
  // i's number among all transitions added, its stream, position and episode length
  const uint64_t S = (uint64_t)h->streams, cap = (uint64_t)r->cap;
  const uint64_t c = r->added - 1 - (uint64_t)((r->pos - 1 - i + r->cap) % r->cap);
  const int t = (int)r->ep_pos[i];
  const int L = r->ep_len[i] > 0 ? (int)r->ep_len[i] : r->cur_len[c % S];
  int lo = t;
  if (h->strategy == AF_HER_EPISODE) {
    // the episode's transitions still in the buffer
    uint64_t back = (c - (r->added - (uint64_t)r->size)) / S;
    lo = back >= (uint64_t)t ? 0 : t - (int)back;
  }
  int p = h->strategy == AF_HER_FINAL ? L - 1 : af_rng_int(rng, lo, L - 1);
  uint64_t cj = p >= t ? c + (uint64_t)(p - t) * S : c - (uint64_t)(t - p) * S;
  return (long)(cj % cap);
}

void af_replay_sample_ex(const af_replay *r, af_rng *rng, int B, float *obs, float *act, float *rew, float *next_obs,
                         float *done, long *index, long *goal_from) {
  const int od = r->obs_dim, gd = r->goal_dim;
  if (r->size < 1) return;  // nothing to draw from: the outputs are left as they are
  for (int b = 0; b < B; b++) {
    long i = (long)(af_rng_next(rng) % (uint64_t)r->size);
    float *o = obs + (size_t)b * od, *no = next_obs + (size_t)b * od;
    memcpy(o, r->obs + i * od, sizeof(float) * od);
    memcpy(no, r->next_obs + i * od, sizeof(float) * od);
    memcpy(act + (size_t)b * r->act_dim, r->act + i * r->act_dim, sizeof(float) * r->act_dim);
    rew[b] = r->rew[i];
    done[b] = r->done[i];
    // hindsight: another goal of the episode, the reward corrected for it
    long j = relabel_source(r, rng, i);
    if (j >= 0) {
      const float *ag = r->ag + i * gd, *g_old = r->dg + i * gd, *g = r->ag + j * gd;
      const int doff = r->her.desired_offset;
      rew[b] = rew[b] - r->her.reward(r->her.reward_ctx, ag, g_old) + r->her.reward(r->her.reward_ctx, ag, g);
      memcpy(o + doff, g, sizeof(float) * gd);
      memcpy(no + doff, g, sizeof(float) * gd);
    }
    if (index) index[b] = i;
    if (goal_from) goal_from[b] = j;
  }
  // a learned reward over the whole batch
  if (r->hook) r->hook(r->hook_ctx, B, obs, act, next_obs, rew);
}

void af_replay_set_reward_hook(af_replay *r, af_reward_hook hook, void *ctx) {
  r->hook = hook;
  r->hook_ctx = ctx;
}

void af_replay_sample(const af_replay *r, af_rng *rng, int B, float *obs, float *act, float *rew, float *next_obs, float *done) {
  af_replay_sample_ex(r, rng, B, obs, act, rew, next_obs, done, NULL, NULL);
}

// the file: a header tensor (cap, size, pos, dims, streams), the transitions added ever, the
// filled rows of each field, then each stream's running episode
enum { HEAD = 7 };

static int file_tensors(const af_replay *r, af_tensor *t, float *head, float *added, float *lens, size_t n) {
  const size_t S = (size_t)r->her.streams;
  af_tensor tt[13] = {{"replay", head, HEAD}, {"replay_added", added, 4}, {"obs", r->obs, n * r->obs_dim},
                      {"next_obs", r->next_obs, n * r->obs_dim}, {"act", r->act, n * r->act_dim}, {"rew", r->rew, n},
                      {"done", r->done, n}, {"ep_pos", r->ep_pos, n}, {"ep_len", r->ep_len, n},
                      {"ag", r->ag, n * r->goal_dim}, {"dg", r->dg, n * r->goal_dim}, {"stream_len", lens, S},
                      {"stream_next", r->last_next, S * r->obs_dim}};
  memcpy(t, tt, sizeof tt);
  return 13;
}

int af_replay_save(const af_replay *r, const char *path, char *err, size_t errsz) {
  const int S = r->her.streams;
  float head[HEAD] = {(float)r->cap, (float)r->size, (float)r->pos, (float)r->obs_dim, (float)r->act_dim, (float)r->goal_dim, (float)S};
  float added[4], *lens = calloc((size_t)S, sizeof(float));
  if (!lens) { snprintf(err, errsz, "out of memory"); return -1; }
  af_nn_pack_u64(added, r->added);
  for (int s = 0; s < S; s++) lens[s] = (float)r->cur_len[s];
  af_tensor t[13];
  int nt = file_tensors(r, t, head, added, lens, (size_t)r->size);
  int rc = af_nn_save(path, t, nt, err, errsz);
  free(lens);
  return rc;
}

// episode positions and lengths are saved as floats, exact up to 2^24
#define EP_MAX 16777216.0f

static int is_count(float v, float hi) { return v >= 0 && v <= hi && v == floorf(v); }

// the header of a file against this buffer: whole counts, the same capacity, sizes and
// streams, a size and position within the capacity
static int check_header(const af_replay *r, const float *head, const char *path, char *err, size_t errsz) {
  for (int k = 0; k < HEAD; k++)
    if (!is_count(head[k], (float)AF_REPLAY_MAX)) { snprintf(err, errsz, "%s: replay header entry %d is %g, not a count", path, k, head[k]); return -1; }
  if ((long)head[0] != r->cap || (int)head[3] != r->obs_dim || (int)head[4] != r->act_dim || (int)head[5] != r->goal_dim ||
      (int)head[6] != r->her.streams) {
    snprintf(err, errsz, "%s: a replay buffer of capacity %ld, sizes %d/%d/%d and %d streams, this one has %ld, %d/%d/%d and %d",
             path, (long)head[0], (int)head[3], (int)head[4], (int)head[5], (int)head[6], r->cap, r->obs_dim, r->act_dim,
             r->goal_dim, r->her.streams);
    return -1;
  }
  if ((long)head[1] > r->cap || (long)head[2] >= r->cap) { snprintf(err, errsz, "%s: inconsistent replay counters", path); return -1; }
  return 0;
}

// what the ring's counters must be after `added` transitions: size min(added, cap), the
// write position added % cap
static int check_counters(const af_replay *r, const float *added, long size, long pos, const char *path, char *err, size_t errsz) {
  uint64_t n = af_nn_unpack_u64(added), cap = (uint64_t)r->cap;
  if (!af_nn_packed_ok(added, 1) || (uint64_t)size != (n < cap ? n : cap) || (uint64_t)pos != n % cap) {
    snprintf(err, errsz, "%s: inconsistent replay counters (%ld stored at position %ld after %llu added)", path, size, pos, (unsigned long long)n);
    return -1;
  }
  return 0;
}

// each stored transition's episode as relabelling reads it: a done flag of 0 or 1, whole
// positions and lengths, a position inside its episode (the running episode of its stream
// when it has not ended); each stream's running length a whole number
static int check_episodes(const af_replay *r, const float *lens, uint64_t added, long size, long pos, const char *path, char *err,
                          size_t errsz) {
  const uint64_t S = (uint64_t)r->her.streams;
  for (uint64_t k = 0; k < S; k++)
    if (!is_count(lens[k], EP_MAX)) { snprintf(err, errsz, "%s: stream %llu's running episode has length %g", path, (unsigned long long)k, lens[k]); return -1; }
  for (long i = 0; i < size; i++) {
    const float p = r->ep_pos[i], L = r->ep_len[i];
    // transition i's number among all added, and so its stream
    const uint64_t c = added - 1 - (uint64_t)((pos - 1 - i + r->cap) % r->cap);
    const float within = L > 0 ? L : lens[c % S];
    if (!(r->done[i] == 0 || r->done[i] == 1)) { snprintf(err, errsz, "%s: transition %ld has done flag %g", path, i, r->done[i]); return -1; }
    if (!is_count(p, EP_MAX) || !is_count(L, EP_MAX) || !(p < within)) {
      snprintf(err, errsz, "%s: transition %ld has episode position %g and length %g (its stream's running episode: %g)", path, i, p, L,
               lens[c % S]);
      return -1;
    }
  }
  return 0;
}

// an empty buffer, as after init (a refused load leaves no half-loaded rows to sample)
static void clear(af_replay *r) {
  r->size = r->pos = 0;
  r->added = 0;
  memset(r->cur_len, 0, sizeof *r->cur_len * (size_t)r->her.streams);
}

int af_replay_load(af_replay *r, const char *path, char *err, size_t errsz) {
  // the header first: it says how many rows follow
  float head[HEAD];
  af_tensor h = {"replay", head, HEAD};
  if (af_nn_load_first(path, &h, 1, err, errsz) || check_header(r, head, path, err, errsz)) return -1;
  const long size = (long)head[1], pos = (long)head[2];
  const int S = r->her.streams;
  float added[4], *lens = calloc((size_t)S, sizeof(float));
  if (!lens) { snprintf(err, errsz, "out of memory"); return -1; }
  // the rows, then everything they say checked before the buffer takes them
  af_tensor t[13];
  int nt = file_tensors(r, t, head, added, lens, (size_t)size);
  int rc = af_nn_load(path, t, nt, err, errsz) || check_counters(r, added, size, pos, path, err, errsz) ||
           check_episodes(r, lens, af_nn_unpack_u64(added), size, pos, path, err, errsz) ? -1 : 0;
  if (rc) clear(r);
  else {
    r->size = size;
    r->pos = pos;
    r->added = af_nn_unpack_u64(added);
    for (int s = 0; s < S; s++) r->cur_len[s] = (int)lens[s];
  }
  free(lens);
  return rc;
}

// ---- the shared hyperparameters ----
static float env_goal_reward(const void *env, const float *achieved, const float *desired) {
  return af_env_compute_reward(env, achieved, desired);
}

int af_replay_her_setup(af_replay *r, const af_her_params *p, const af_agent_setup *setup, char *err, size_t errsz) {
  static const char *names[] = {"none", "future", "final", "episode"};
  const af_env_spec *spec = setup->spec;
  if (p->her != AF_HER_NONE && spec->goal_dim < 1) {
    snprintf(err, errsz, "agent.her=%s: %s is not goal-conditioned (goal_dim 0); hindsight relabelling needs achieved and desired goals",
             names[p->her], spec->name ? spec->name : "the environment");
    return -1;
  }
  if (p->her != AF_HER_NONE && !setup->env) {
    snprintf(err, errsz, "agent.her=%s: the agent's setup has no environment to compute relabelled rewards with", names[p->her]);
    return -1;
  }
  af_her_cfg c = {.strategy = p->her, .k = p->her_k, .streams = setup->num_envs, .achieved_offset = spec->achieved_offset,
                  .desired_offset = spec->desired_offset, .reward = env_goal_reward, .reward_ctx = setup->env};
  return af_replay_set_her(r, &c, err, errsz);
}

void af_replay_add_batch(af_replay *r, const af_batch *b) {
  const int od = r->obs_dim, ad = r->act_dim, gd = r->goal_dim;
  for (int i = 0; i < b->n; i++) {
    const float *ag = b->achieved ? b->achieved + (size_t)i * gd : NULL, *dg = b->desired ? b->desired + (size_t)i * gd : NULL;
    const float *act = b->act + (size_t)i * ad;
    int diverged = b->info && b->info[i].diverged;
    // a diverged step's action may be what ended it: nothing non-finite enters the buffer
    float clean[ad > 0 ? ad : 1];
    if (diverged) {
      for (int k = 0; k < ad; k++) clean[k] = isfinite(act[k]) ? act[k] : 0.0f;
      act = clean;
    }
    af_replay_add(r, b->obs + (size_t)i * od, act, b->reward[i], b->next_obs + (size_t)i * od, b->terminated[i] || diverged, ag, dg);
  }
}
