// Skew-Fit and RIG (agents/skewfit.h): a β-VAE, goal-conditioned SAC on its latents, goals
// from its prior or the skewed replay, relabelling, and the skewed sampling of the VAE's
// training images.
#include "agents/skewfit.h"

#include <math.h>    // sqrtf, lrintf, isfinite
#include <stdlib.h>  // calloc, free
#include <stdio.h>   // snprintf
#include <string.h>  // memcpy, memset

#include "base/base.h"     // af_path_join
#include "envs/render.h"  // af_write_png

// ---- hyperparameters (Skew-Fit's door settings in ../shared/AGENTS.md where they apply) ----
static const af_param skewfit_params[] = {
  {"lr", AF_P_DOUBLE, offsetof(af_skewfit_cfg, lr), 3e-4, 1e-6, 1, NULL, "Adam step size of SAC's actor, critics and temperature"},
  {"batch", AF_P_INT, offsetof(af_skewfit_cfg, batch), 128, 2, 4096, NULL, "minibatch of SAC and of the VAE"},
  {"hidden", AF_P_INT, offsetof(af_skewfit_cfg, hidden), 256, 1, 4096, NULL, "units per hidden layer of actor and critics"},
  {"layers", AF_P_INT, offsetof(af_skewfit_cfg, layers), 2, 1, 6, NULL, "hidden layers"},
  {"gamma", AF_P_DOUBLE, offsetof(af_skewfit_cfg, gamma), 0.99, 0, 1, NULL, "discount"},
  {"tau", AF_P_DOUBLE, offsetof(af_skewfit_cfg, tau), 0.005, 0, 1, NULL, "Polyak factor of the target critics"},
  {"buffer", AF_P_INT, offsetof(af_skewfit_cfg, buffer), 100000, 16, AF_IMAGE_REPLAY_MAX, NULL, "replay capacity (transitions)"},
  {"warmup", AF_P_INT, offsetof(af_skewfit_cfg, warmup), 1000, 0, 10000000, NULL, "uniform random actions for this many steps before learning"},
  {"updates_per_step", AF_P_INT, offsetof(af_skewfit_cfg, updates_per_step), 1, 0, 64, NULL, "updates every update_every environment steps"},
  {"update_every", AF_P_INT, offsetof(af_skewfit_cfg, update_every), 1, 1, 1000000, NULL, "environment steps between rounds of updates"},
  {"init_alpha", AF_P_DOUBLE, offsetof(af_skewfit_cfg, init_alpha), 1.0, 1e-6, 100, NULL, "initial entropy temperature"},
  {"learn_alpha", AF_P_BOOL, offsetof(af_skewfit_cfg, learn_alpha), 1, 0, 1, NULL, "learn the temperature towards entropy -|A|"},
  {"latent", AF_P_INT, offsetof(af_skewfit_cfg, latent), 16, 1, 256, NULL, "VAE latent size (16 for the door, 4 for pushing)"},
  {"beta", AF_P_DOUBLE, offsetof(af_skewfit_cfg, beta), 20, 0, 1e4, NULL, "weight of the VAE's KL term"},
  {"vae_lr", AF_P_DOUBLE, offsetof(af_skewfit_cfg, vae_lr), 1e-3, 1e-6, 1, NULL, "Adam step size of the VAE"},
  {"skew_alpha", AF_P_DOUBLE, offsetof(af_skewfit_cfg, skew_alpha), -0.5, -10, 0, NULL,
   "Skew-Fit's exponent: VAE images drawn with weights p(x)^alpha (-0.5 door, -1 pushing; 0 is RIG: uniform)"},
  {"skew_every", AF_P_INT, offsetof(af_skewfit_cfg, skew_every), 1000, 1, 10000000, NULL, "environment steps between rescorings of the sampling set"},
  {"skew_set", AF_P_INT, offsetof(af_skewfit_cfg, skew_set), 512, 1, 100000, NULL, "replay frames scored for the skewed sampling"},
  {"skew_draws", AF_P_INT, offsetof(af_skewfit_cfg, skew_draws), 10, 1, 10000, NULL, "importance-sampling draws per frame for log p(x)"},
  {"relabel_future", AF_P_DOUBLE, offsetof(af_skewfit_cfg, relabel_future), 0.2, 0, 1, NULL, "share of goals relabelled to a future achieved frame"},
  {"relabel_prior", AF_P_DOUBLE, offsetof(af_skewfit_cfg, relabel_prior), 0.5, 0, 1, NULL, "share of goals relabelled to a draw of the goal model (the VAE prior)"},
  {"future_horizon", AF_P_INT, offsetof(af_skewfit_cfg, future_horizon), 50, 1, 100000, NULL, "future goals come from at most this many steps on"},
  {"explore_goals", AF_P_ENUM, offsetof(af_skewfit_cfg, explore_goals), 0, 0, 1, "prior|replay",
   "an exploration episode's goal: a draw of the VAE's prior, or the encoding of a replay frame drawn with the skewed weights (rlkit's Skew-Fit)"},
  {"relabel_goals", AF_P_ENUM, offsetof(af_skewfit_cfg, relabel_goals), 0, 0, 1, "prior|replay",
   "the relabel_prior share's goals: draws of the VAE's prior, or encodings of replay frames drawn with the skewed weights (rlkit's Skew-Fit)"},
  {"vae_pretrain", AF_P_INT, offsetof(af_skewfit_cfg, vae_pretrain), 0, 0, 1000000, NULL,
   "VAE steps on the warm-up's frames before the first update (0: none)"},
};

#define ART_N 8  // images per row of the VAE's pictures

// ---- the replay's frames and the VAE's encodings ----

// the stream's newest frame of an observation as HWC uint8 (the image replay's input)
static void frame_of(const af_skewfit *s, uint8_t *hwc, const float *obs) {
  af_image_from_planar(hwc, obs + s->poff, s->C, s->H * s->W);
}

static const uint8_t *frame_at(const af_skewfit *s, int64_t id) {
  return s->replay.frames + (size_t)(id % s->replay.fcap) * s->replay.fbytes;
}
static int64_t obs_id(const af_skewfit *s, long slot) { return s->replay.fid[(size_t)slot * 2]; }
// a replay action row: [action (ad), the goal pursued (L), its frame id (2 floats holding an
// int64's bits, -1 for a prior draw)]
#define ROW(s) ((size_t)(s)->ad + (size_t)(s)->L + 2)
static int64_t row_goal_id(const af_skewfit *s, long slot) {
  int64_t id;
  memcpy(&id, s->replay.act + (size_t)slot * ROW(s) + s->ad + s->L, sizeof id);
  return id;
}
// is frame id still in the replay's frame ring?
static int frame_held(const af_skewfit *s, int64_t id) {
  return id >= 0 && id < s->replay.written && id >= s->replay.written - s->replay.fcap;
}
static int64_t next_id(const af_skewfit *s, long slot) { return s->replay.fid[(size_t)slot * 2 + 1]; }

// B planar uint8 images into s->x as floats in [0, 1]
static void to_floats(af_skewfit *s, const uint8_t *u, int B) {
  for (size_t i = 0; i < (size_t)B * s->D; i++) s->x[i] = u[i] * (1.0f / 255);
}

// the VAE's mean encodings of the B images in s->x into z (B, L); 0 or -1
static int encode(af_skewfit *s, float *z, int B) {
  const float *st = af_vae_encode(s->vae, B, s->x);
  if (!st) return -1;
  for (int b = 0; b < B; b++) memcpy(z + (size_t)b * s->L, st + (size_t)b * 2 * s->L, sizeof(float) * s->L);
  return 0;
}

// the one image in s->x encoded into z (L); 0 or -1
static int encode_obs_x(af_skewfit *s, float *z) {
  const float *st = af_vae_encode(s->vae, 1, s->x);
  if (!st) return -1;
  memcpy(z, st, sizeof(float) * s->L);
  return 0;
}

// one observation's planar frame (floats 0-255 at off) encoded into z (L); 0 or -1
static int encode_obs(af_skewfit *s, float *z, const float *obs, int off) {
  for (int i = 0; i < s->D; i++) s->x[i] = obs[off + i] * (1.0f / 255);
  return encode_obs_x(s, z);
}

// ---- make and free ----

static void skewfit_free(void *p) {
  af_skewfit *s = p;
  if (!s) return;
  af_vae_free(s->vae);
  if (s->sac) af_sac_def.free(s->sac);  // the numerics context goes with it
  af_image_replay_free(&s->replay);
  free(s->goal);
  free(s->skew_id);
  free(s->goal_id);
  free(s->skew_cdf);
  free(s->logp);
  free(s->x_set);
  free(s->u_obs);
  free(s->x);
  free(s->slot);
  free(s->kind);
  free(s->pic);
  free(s);
}

// what the agent needs of the environment: one 48x48 RGB frame and the goal image; 0 or -1
static int check_spec(const af_env_spec *sp, char *err, size_t errsz) {
  if (sp->pixel_stack != 1 || sp->pixel_width != 48 || sp->pixel_height != 48) {
    snprintf(err, errsz, "skewfit: needs one 48x48 frame in the observation (env obs \"pixels\", frame_stack 1, pixel_width and "
             "pixel_height 48; got frame_stack %d, %dx%d)", sp->pixel_stack, sp->pixel_width, sp->pixel_height);
    return -1;
  }
  if (sp->goal_image_offset <= 0) {
    snprintf(err, errsz, "skewfit: needs the environment's goal image (env \"goal_image\": true) to be evaluated on goals shown in pictures");
    return -1;
  }
  if (sp->act_dim < 1) { snprintf(err, errsz, "skewfit: needs an action"); return -1; }
  return 0;
}

// the buffers of an update, of acting and of the sampling set; 0 or -1
static int alloc_buffers(af_skewfit *s) {
  const size_t B = (size_t)s->B, D = (size_t)s->D, L = (size_t)s->L, ad = (size_t)s->ad, N = (size_t)s->N, S = (size_t)s->cfg.skew_set;
  size_t nf = N * L + N + B * (3 * L + 4 * L + ad + 2 + 2 * ad) + N * 2 * L + ad + L + 2;
  float *p = s->goal = calloc(nf, sizeof(float));
  uint8_t *u = s->u_obs = calloc(3 * B * D + 2 * D, 1);
  s->x = calloc(B * D, sizeof(float));
  s->x_set = calloc(S * D, sizeof(float));
  s->skew_id = calloc(S, sizeof *s->skew_id);
  s->goal_id = calloc(N, sizeof *s->goal_id);
  s->skew_cdf = calloc(S, sizeof *s->skew_cdf);
  s->logp = calloc(S, sizeof *s->logp);
  s->slot = calloc(B, sizeof *s->slot);
  s->kind = calloc(B, 1);
  s->pic = calloc((size_t)2 * s->H * ART_N * s->W * 3, 1);
  if (!s->pic || !s->goal_id || !p || !u || !s->x || !s->x_set || !s->skew_id || !s->skew_cdf || !s->logp || !s->slot || !s->kind) return -1;
  p += N * L;
  s->need_goal = p, p += N;
  s->z_obs = p, p += B * L;
  s->z_next = p, p += B * L;
  s->z_goal = p, p += B * L;
  s->sobs = p, p += B * 2 * L;
  s->snext = p, p += B * 2 * L;
  s->act = p, p += B * ad;
  s->rew = p, p += B;
  s->done = p, p += B;
  s->eps_next = p, p += B * ad;
  s->eps_pi = p, p += B * ad;
  s->act_in = p, p += N * 2 * L;
  s->arow = p;
  s->u_next = u + B * D;
  s->u_goal = u + 2 * B * D;
  s->frame_obs = u + 3 * B * D;
  s->frame_next = s->frame_obs + D;
  for (size_t i = 0; i < N; i++) s->need_goal[i] = 1, s->goal_id[i] = -1;
  return 0;
}

static void *skewfit_make(const void *cfgp, const af_agent_setup *setup, const af_agent_common *common, char *err, size_t errsz) {
  const af_skewfit_cfg *c = cfgp;
  const af_env_spec *sp = setup->spec;
  if (check_spec(sp, err, errsz)) return NULL;
  if (c->relabel_future + c->relabel_prior > 1) {
    snprintf(err, errsz, "agent.relabel_future + agent.relabel_prior is %g, at most 1", c->relabel_future + c->relabel_prior);
    return NULL;
  }
  af_skewfit *s = calloc(1, sizeof *s);
  if (!s) { snprintf(err, errsz, "out of memory"); return NULL; }
  s->cfg = *c;
  s->od = sp->obs_dim, s->ad = sp->act_dim, s->B = c->batch, s->N = setup->num_envs, s->L = c->latent;
  s->C = 3, s->H = sp->pixel_height, s->W = sp->pixel_width, s->D = s->C * s->H * s->W;
  s->poff = sp->pixel_offset, s->goff = sp->goal_image_offset;
  af_rng_seed(&s->rng, af_seed_derive(setup->seed, 0x5CE3));
  // the inner SAC on [z, z_goal]: its own replay is never filled (one slot), no warm-up of
  // its own (acting before warmup is uniform here)
  s->lspec = (af_env_spec){.name = "skewfit latent", .obs_dim = 2 * s->L, .act_dim = s->ad, .achieved_offset = -1, .desired_offset = -1};
  af_sac_cfg sc = {.lr = c->lr, .gamma = c->gamma, .tau = c->tau, .init_alpha = c->init_alpha, .grad_clip = 0, .log_std_min = -20,
                   .log_std_max = 2, .batch = c->batch, .hidden = c->hidden, .layers = c->layers, .buffer = 1, .warmup = 0,
                   .updates_per_step = 1, .update_every = 1, .learn_alpha = c->learn_alpha, .her = {.her = 0, .her_k = 1}};
  af_agent_setup ls = {.spec = &s->lspec, .num_envs = s->N, .seed = af_seed_derive(setup->seed, 0x5AC5), .total_steps = setup->total_steps};
  if (!(s->sac = af_sac_def.make(&sc, &ls, common, err, errsz))) { skewfit_free(s); return NULL; }
  // the VAE on the same numerics, its batch SAC's
  af_vae_cfg vc = {.C = s->C, .H = s->H, .W = s->W, .latent = s->L, .beta = c->beta, .lr = c->vae_lr, .batch = c->batch};
  char verr[256];
  if (!(s->vae = af_vae_make(s->sac->ctx, &vc, verr, sizeof verr))) { snprintf(err, errsz, "skewfit: %s", verr); skewfit_free(s); return NULL; }
  af_rng init;
  af_rng_seed(&init, af_seed_derive(setup->seed, 0x7AE));
  af_vae_init(s->vae, &init);
  if (af_image_replay_init(&s->replay, c->buffer, s->C, s->H, s->W, 1, 0, (int)ROW(s), s->N, err, errsz)) { skewfit_free(s); return NULL; }
  if (alloc_buffers(s)) { snprintf(err, errsz, "out of memory"); skewfit_free(s); return NULL; }
  return s;
}

// a network pass failed: the numerics' message
static int numeric_error(const af_skewfit *s, char *err, size_t errsz) {
  const char *e = af_nn_ctx_error(s->sac->ctx);
  snprintf(err, errsz, "skewfit: %s", e ? e : "a network pass failed");
  return AF_ERR_NUMERIC;
}

// a replay frame for the VAE or an exploration goal: drawn by the skewed weights once a set
// is scored, else uniformly (RIG, and before the first scoring); its id
static int64_t draw_frame(af_skewfit *s) {
  const af_image_replay *r = &s->replay;
  if (s->skew_n == 0) return next_id(s, (r->head + af_rng_int(&s->rng, 0, (int)r->size - 1)) % r->cap);
  double u = af_rng_uniform(&s->rng);
  int lo = 0, hi = s->skew_n - 1;  // the first set member whose cumulative weight exceeds u
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (s->skew_cdf[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return s->skew_id[lo];
}

// environment i's goal for its new episode (under the numerics context): a prior draw, or
// with explore_goals replay and frames in the replay a drawn frame's encoding; 0 or -1
static int new_goal(af_skewfit *s, int i) {
  float *g = s->goal + (size_t)i * s->L;
  s->goal_id[i] = -1;
  if (s->cfg.explore_goals == 0 || s->replay.size == 0) {
    for (int j = 0; j < s->L; j++) g[j] = (float)af_rng_normal(&s->rng);
    return 0;
  }
  const uint8_t *f = frame_at(s, s->goal_id[i] = draw_frame(s));
  for (int k = 0; k < s->D; k++) s->x[k] = f[k] * (1.0f / 255);
  return encode_obs_x(s, g);
}

// ---- acting ----

// exploration: each environment's goal drawn from the prior when its episode starts;
// deterministic (evaluation): the observation's goal image encoded. The actor reads [z, z_goal].
static int skewfit_act(void *p, float *action, const float *obs, int n, int deterministic, char *err, size_t errsz) {
  af_skewfit *s = p;
  if (n != 1 && n != s->N) { snprintf(err, errsz, "skewfit: act on %d observations (made for 1 or %d)", n, s->N); return AF_ERR_ARG; }
  const int L = s->L;
  af_nn_ctx_enter(s->sac->ctx);
  int bad = 0;
  for (int i = 0; i < n && !deterministic && !bad; i++)
    if (s->need_goal[i]) {
      bad = new_goal(s, i);
      s->need_goal[i] = 0;
    }
  if (!bad && !deterministic && s->observed < s->cfg.warmup) {
    af_nn_ctx_leave(s->sac->ctx);
    for (int i = 0; i < n * s->ad; i++) action[i] = (float)af_rng_range(&s->rng, -1, 1);
    return AF_OK;
  }
  for (int i = 0; i < n && !bad; i++) {
    const float *o = obs + (size_t)i * s->od;
    float *row = s->act_in + (size_t)i * 2 * L;
    bad = encode_obs(s, row, o, s->poff) || (deterministic ? encode_obs(s, row + L, o, s->goff) : 0);
    if (!deterministic) memcpy(row + L, s->goal + (size_t)i * L, sizeof(float) * L);
  }
  af_nn_ctx_leave(s->sac->ctx);
  if (bad) return numeric_error(s, err, errsz);
  return af_sac_def.act(s->sac, action, s->act_in, n, deterministic, err, errsz);
}

// each transition's frames into the image replay, with the action and the goal pursued; an
// ended episode draws a new goal at the next act
static int skewfit_observe(void *p, const af_batch *b, char *err, size_t errsz) {
  af_skewfit *s = p;
  if (b->n != s->N) { snprintf(err, errsz, "skewfit: observe %d transitions (made for %d environments)", b->n, s->N); return AF_ERR_ARG; }
  for (int i = 0; i < b->n; i++) {
    frame_of(s, s->frame_obs, b->obs + (size_t)i * s->od);
    frame_of(s, s->frame_next, b->next_obs + (size_t)i * s->od);
    memcpy(s->arow, b->act + (size_t)i * s->ad, sizeof(float) * s->ad);
    memcpy(s->arow + s->ad, s->goal + (size_t)i * s->L, sizeof(float) * s->L);
    memcpy(s->arow + s->ad + s->L, &s->goal_id[i], sizeof(int64_t));
    int ended = b->terminated[i] || b->truncated[i];
    af_image_replay_add(&s->replay, i, s->frame_obs, NULL, s->arow, 0, s->frame_next, NULL, b->terminated[i] != 0, ended);
    if (ended) s->need_goal[i] = 1;
    s->observed++;
    if (s->observed >= s->cfg.warmup && s->observed % s->cfg.update_every == 0) s->due += s->cfg.updates_per_step;
  }
  return AF_OK;
}

// ---- relabelling ----

// a future achieved frame of slot's episode: its stream's transitions follow every N slots
// while each one's first frame is the previous one's next; up to k steps on (0: its own
// next frame); the frame id
static int64_t future_frame(const af_skewfit *s, long i, int k) {
  const af_image_replay *r = &s->replay;
  long slot = (r->head + i) % r->cap;
  for (int m = 0; m < k; m++) {
    long j = i + s->N;
    if (j >= r->size) break;
    long sj = (r->head + j) % r->cap;
    if (obs_id(s, sj) != next_id(s, slot)) break;
    i = j, slot = sj;
  }
  return next_id(s, slot);
}

int af_skewfit_relabel(af_skewfit *s) {
  const int B = s->B, L = s->L, ad = s->ad;
  const af_image_replay *r = &s->replay;
  int nfut = 0;
  for (int b = 0; b < B; b++) {
    double u = af_rng_uniform(&s->rng);
    long slot = (long)s->slot[b], i = (slot - r->head + r->cap) % r->cap;
    float *zg = s->z_goal + (size_t)b * L;
    if (u < s->cfg.relabel_future) {
      int64_t id = future_frame(s, i, af_rng_int(&s->rng, 0, s->cfg.future_horizon - 1));
      memcpy(s->u_goal + (size_t)b * s->D, frame_at(s, id), (size_t)s->D);
      s->kind[b] = 1;
      nfut++;
    } else if (u < s->cfg.relabel_future + s->cfg.relabel_prior) {
      // a goal the goal model proposes: a prior draw, or a replay frame drawn with the skewed
      // weights (relabel_goals replay, as rlkit's Skew-Fit relabels)
      if (s->cfg.relabel_goals == 1) {
        memcpy(s->u_goal + (size_t)b * s->D, frame_at(s, draw_frame(s)), (size_t)s->D);
        s->kind[b] = 4;
        nfut++;
      } else {
        for (int j = 0; j < L; j++) zg[j] = (float)af_rng_normal(&s->rng);
        s->kind[b] = 2;
      }
    } else {
      // the goal pursued: a replay frame's, encoded again by the VAE as it is now while the
      // frame is held; a prior draw (or a frame gone) as stored
      int64_t gid = row_goal_id(s, slot);
      s->kind[b] = frame_held(s, gid) ? 3 : 0;
      if (s->kind[b] == 3) memcpy(s->u_goal + (size_t)b * s->D, frame_at(s, gid), (size_t)s->D), nfut++;
      else memcpy(zg, r->act + (size_t)slot * ROW(s) + ad, sizeof(float) * L);
    }
    if (s->kind[b] == 0 || s->kind[b] == 2) memset(s->u_goal + (size_t)b * s->D, 0, (size_t)s->D);
  }
  // the goal frames encoded, one batch
  if (!nfut) return AF_OK;
  to_floats(s, s->u_goal, B);
  if (encode(s, s->sobs, B)) return AF_ERR_NUMERIC;  // sobs as scratch (filled after this)
  for (int b = 0; b < B; b++)
    if (s->kind[b] != 0 && s->kind[b] != 2) memcpy(s->z_goal + (size_t)b * L, s->sobs + (size_t)b * L, sizeof(float) * L);
  return AF_OK;
}

// ---- learning ----

// B transitions drawn uniformly: slots, frames, actions, done flags
static void sample(af_skewfit *s) {
  const af_image_replay *r = &s->replay;
  const int ad = s->ad;
  for (int b = 0; b < s->B; b++) {
    long i = af_rng_int(&s->rng, 0, (int)r->size - 1), slot = (r->head + i) % r->cap;
    s->slot[b] = slot;
    memcpy(s->u_obs + (size_t)b * s->D, frame_at(s, obs_id(s, slot)), (size_t)s->D);
    memcpy(s->u_next + (size_t)b * s->D, frame_at(s, next_id(s, slot)), (size_t)s->D);
    memcpy(s->act + (size_t)b * ad, r->act + (size_t)slot * ROW(s), sizeof(float) * ad);
    s->done[b] = r->done[slot];
  }
}

// one SAC step on the relabelled batch in the latent space
static int sac_step(af_skewfit *s, af_sac_losses *l) {
  const int B = s->B, L = s->L;
  to_floats(s, s->u_obs, B);
  if (encode(s, s->z_obs, B)) return -1;
  to_floats(s, s->u_next, B);
  if (encode(s, s->z_next, B) || af_skewfit_relabel(s)) return -1;
  for (int b = 0; b < B; b++) {
    const float *zn = s->z_next + (size_t)b * L, *zg = s->z_goal + (size_t)b * L;
    double d2 = 0;
    for (int j = 0; j < L; j++) d2 += (double)(zn[j] - zg[j]) * (zn[j] - zg[j]);
    s->rew[b] = -(float)sqrt(d2);
    memcpy(s->sobs + (size_t)b * 2 * L, s->z_obs + (size_t)b * L, sizeof(float) * L);
    memcpy(s->sobs + (size_t)b * 2 * L + L, zg, sizeof(float) * L);
    memcpy(s->snext + (size_t)b * 2 * L, zn, sizeof(float) * L);
    memcpy(s->snext + (size_t)b * 2 * L + L, zg, sizeof(float) * L);
  }
  af_rng_normal_fill(&s->rng, s->eps_next, B * s->ad);
  af_rng_normal_fill(&s->rng, s->eps_pi, B * s->ad);
  af_sac_grads(s->sac, s->sobs, s->act, s->rew, s->snext, s->done, s->eps_next, s->eps_pi, 1, l);
  return 0;
}

// one VAE step on B replay frames: drawn by the skewed weights once a set is scored, else
// uniformly (RIG, and before the first scoring)
static int vae_step(af_skewfit *s, af_vae_losses *vl) {
  for (int b = 0; b < s->B; b++) memcpy(s->u_goal + (size_t)b * s->D, frame_at(s, draw_frame(s)), (size_t)s->D);
  to_floats(s, s->u_goal, s->B);
  return af_vae_train(s->vae, s->B, s->x, &s->rng, vl) < 0 ? -1 : 0;
}

int af_skewfit_rescore(af_skewfit *s) {
  const af_image_replay *r = &s->replay;
  if (r->size == 0 || s->cfg.skew_alpha == 0) return AF_OK;
  const int S = s->cfg.skew_set;
  af_nn_ctx_enter(s->sac->ctx);
  // the set: frames of transitions drawn uniformly, their log p(x), weights p^alpha
  for (int k = 0; k < S; k++) {
    s->skew_id[k] = next_id(s, (r->head + af_rng_int(&s->rng, 0, (int)r->size - 1)) % r->cap);
    const uint8_t *f = frame_at(s, s->skew_id[k]);
    for (int i = 0; i < s->D; i++) s->x_set[(size_t)k * s->D + i] = f[i] * (1.0f / 255);
  }
  int bad = af_vae_log_prob(s->vae, s->logp, S, s->x_set, s->cfg.skew_draws, &s->rng);
  af_nn_ctx_leave(s->sac->ctx);
  if (bad) return AF_ERR_NUMERIC;
  af_skew_weights(s->logp, s->logp, S, s->cfg.skew_alpha);
  double acc = 0;
  for (int k = 0; k < S; k++) s->skew_cdf[k] = acc += s->logp[k];
  s->skew_cdf[S - 1] = 1;
  s->skew_n = S;
  s->last_skew = s->observed;
  return AF_OK;
}

int af_skewfit_learn(af_skewfit *s, int updates, af_agent_stats *st) {
  memset(st, 0, sizeof *st);
  if (s->replay.size == 0) return AF_OK;
  af_vae_losses vl = {0};
  // the VAE pretrained once on what the warm-up saw (uniform draws: no set is scored yet)
  if (!s->pretrained && s->cfg.vae_pretrain > 0) {
    af_nn_ctx_enter(s->sac->ctx);
    int bad = 0;
    for (int k = 0; k < s->cfg.vae_pretrain && !bad; k++) bad = vae_step(s, &vl);
    af_nn_ctx_leave(s->sac->ctx);
    if (bad) return AF_ERR_NUMERIC;
  }
  s->pretrained = 1;
  if (s->cfg.skew_alpha != 0 && (s->skew_n == 0 || s->observed - s->last_skew >= s->cfg.skew_every) && af_skewfit_rescore(s))
    return AF_ERR_NUMERIC;
  af_sac_losses l;
  af_nn_ctx_enter(s->sac->ctx);
  int bad = 0;
  for (int k = 0; k < updates && !bad; k++) {
    sample(s);
    bad = sac_step(s, &l) || vae_step(s, &vl);
    st->updates++;
    st->skipped += l.skipped != 0;
    st->critic_loss = l.critic_loss;
    st->actor_loss = l.actor_loss;
    st->entropy = l.entropy;
  }
  af_nn_ctx_leave(s->sac->ctx);
  s->vae_recon = (float)vl.recon, s->vae_kl = (float)vl.kl;
  st->alpha = expf(s->sac->log_alpha);
  return bad || af_nn_ctx_error(s->sac->ctx) ? AF_ERR_NUMERIC : AF_OK;
}

static int skewfit_update(void *p, af_agent_stats *st, char *err, size_t errsz) {
  af_skewfit *s = p;
  int due = s->due;
  s->due = 0;
  if (af_skewfit_learn(s, due, st)) return numeric_error(s, err, errsz);
  return AF_OK;
}

// ---- checkpoints: SAC's tensors, the VAE's, and the agent's own ----

#define OWN_WORDS 4 * 8  // observed, last_skew, skew_n, 4 rng words, pretrained
#define MAX_TENSORS (AF_SAC_MAX_TENSORS + AF_VAE_TENSORS + 6)
typedef struct { float sac[AF_SAC_WORDS], vae[AF_VAE_WORDS], own[OWN_WORDS]; } packed_state;

static int tensors(af_skewfit *s, af_tensor *t, packed_state *ps) {
  int k = af_sac_tensors(s->sac, t, ps->sac);
  k += af_vae_tensors(s->vae, t + k, ps->vae);
  const size_t S = (size_t)s->cfg.skew_set;
  t[k++] = (af_tensor){"sf_counters", ps->own, OWN_WORDS};
  t[k++] = (af_tensor){"sf_goals", s->goal, (size_t)s->N * s->L};
  t[k++] = (af_tensor){"sf_need_goal", s->need_goal, (size_t)s->N};
  t[k++] = (af_tensor){"sf_goal_id", (float *)s->goal_id, (size_t)s->N * 2};  // int64 as raw bytes
  // the sampling set's ids (int64) and cumulative weights (double) as raw bytes
  t[k++] = (af_tensor){"sf_skew_id", (float *)s->skew_id, S * 2};
  t[k++] = (af_tensor){"sf_skew_cdf", (float *)s->skew_cdf, S * 2};
  return k;
}

static void pack(af_skewfit *s, packed_state *ps) {
  af_sac_pack(s->sac, ps->sac);
  af_vae_pack(s->vae, ps->vae);
  memset(ps->own, 0, sizeof ps->own);
  af_nn_pack_u64(ps->own, (uint64_t)s->observed);
  af_nn_pack_u64(ps->own + 4, (uint64_t)s->last_skew);
  af_nn_pack_u64(ps->own + 8, (uint64_t)s->skew_n);
  for (int i = 0; i < 4; i++) af_nn_pack_u64(ps->own + 12 + 4 * i, s->rng.s[i]);
  af_nn_pack_u64(ps->own + 28, (uint64_t)s->pretrained);
}

// the loaded state checked: packed counters, a random state that is not all zero, a set of
// frame ids >= 0 with cumulative weights rising to 1, goals finite; 0, or -1 with a message
static int unpack(af_skewfit *s, const packed_state *ps, const char *path, char *err, size_t errsz) {
  if (af_sac_unpack(s->sac, ps->sac, path, err, errsz)) return -1;
  if (af_vae_unpack(s->vae, ps->vae) || !af_nn_packed_ok(ps->own, OWN_WORDS / 4)) {
    snprintf(err, errsz, "%s: the counters are not packed 64-bit counts", path);
    return -1;
  }
  uint64_t observed = af_nn_unpack_u64(ps->own), last = af_nn_unpack_u64(ps->own + 4), n = af_nn_unpack_u64(ps->own + 8);
  uint64_t pretrained = af_nn_unpack_u64(ps->own + 28);
  af_rng rng;
  for (int i = 0; i < 4; i++) rng.s[i] = af_nn_unpack_u64(ps->own + 12 + 4 * i);
  int ok = observed <= INT64_MAX && last <= observed && n <= (uint64_t)s->cfg.skew_set && pretrained <= 1 && (rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3]);
  for (uint64_t k = 0; ok && k < n; k++)
    ok = s->skew_id[k] >= 0 && isfinite(s->skew_cdf[k]) && s->skew_cdf[k] >= (k ? s->skew_cdf[k - 1] : 0) && s->skew_cdf[k] <= 1;
  ok = ok && (n == 0 || s->skew_cdf[n - 1] == 1) && af_nn_finite(s->goal, (size_t)s->N * s->L);
  for (int i = 0; ok && i < s->N; i++) ok = (s->need_goal[i] == 0 || s->need_goal[i] == 1) && s->goal_id[i] >= -1;
  if (!ok) { snprintf(err, errsz, "%s: the agent's counters, goals or sampling set are out of range", path); return -1; }
  s->observed = (long)observed, s->last_skew = (long)last, s->skew_n = (int)n, s->rng = rng, s->pretrained = (int)pretrained;
  return 0;
}

static int skewfit_save(void *p, const char *path, char *err, size_t errsz) {
  af_skewfit *s = p;
  af_tensor t[MAX_TENSORS];
  packed_state ps;
  pack(s, &ps);
  return af_nn_save(path, t, tensors(s, t, &ps), err, errsz);
}

static int skewfit_load(void *p, const char *path, char *err, size_t errsz) {
  af_skewfit *s = p;
  af_tensor t[MAX_TENSORS];
  packed_state ps;
  int n = tensors(s, t, &ps);
  return af_nn_load(path, t, n, err, errsz) || unpack(s, &ps, path, err, errsz) ? -1 : 0;
}

static int skewfit_save_replay(void *p, const char *path, char *err, size_t errsz) {
  return af_image_replay_save(&((af_skewfit *)p)->replay, path, err, errsz);
}

static int skewfit_load_replay(void *p, const char *path, char *err, size_t errsz) {
  return af_image_replay_load(&((af_skewfit *)p)->replay, path, err, errsz);
}

// ---- pictures of the VAE: reconstructions and samples ----


// planar floats in [0, 1] (C, H, W) as tile (row, col) of an HWC picture ART_N tiles wide
static void put_tile(const af_skewfit *s, uint8_t *pic, int row, int col, const float *img) {
  const int H = s->H, W = s->W, HW = H * W;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      for (int c = 0; c < s->C; c++) {
        float v = img[(size_t)c * HW + y * W + x] * 255;
        pic[(((size_t)(row * H + y) * ART_N + col) * W + x) * 3 + c] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : lrintf(v));
      }
}

// a picture into dir/name (af_write_png writes atomically); 0, or -1 with a message
static int write_picture(const char *dir, const char *name, const uint8_t *pic, int w, int h, char *err, size_t errsz) {
  char *path = af_path_join(dir, name);
  int rc = !path || af_write_png(path, pic, w, h);
  if (rc) snprintf(err, errsz, "skewfit: cannot write %.300s", path ? path : name);
  free(path);
  return rc ? -1 : 0;
}

// vae_reconstructions.png: replay frames at evenly spaced transitions over their
// reconstructions (the decoder's image of the mean latent); vae_samples.png: the decoder's
// images of 2 ART_N prior draws of a fixed seed (the same latents at every checkpoint). The
// agent's state is untouched (the pictures use scratch and a random stream of their own).
static int skewfit_artifacts(void *p, const char *dir, char *err, size_t errsz) {
  af_skewfit *s = p;
  const long n = s->replay.size;
  memset(s->pic, 0, (size_t)2 * s->H * ART_N * s->W * 3);
  af_nn_ctx_enter(s->sac->ctx);
  int bad = 0;
  float z[256];
  for (int k = 0; k < ART_N && n > 0 && !bad; k++) {
    const uint8_t *f = frame_at(s, next_id(s, (s->replay.head + k * n / ART_N) % s->replay.cap));
    for (int i = 0; i < s->D; i++) s->x[i] = f[i] * (1.0f / 255);
    put_tile(s, s->pic, 0, k, s->x);
    const float *xh = encode_obs_x(s, z) ? NULL : af_vae_decode(s->vae, 1, z);
    if (!(bad = !xh)) put_tile(s, s->pic, 1, k, xh);
  }
  if (!bad) bad = write_picture(dir, "vae_reconstructions.png", s->pic, ART_N * s->W, 2 * s->H, err, errsz) ? 2 : 0;
  af_rng r;
  af_rng_seed(&r, 0xA47);
  for (int k = 0; k < 2 * ART_N && !bad; k++) {
    for (int j = 0; j < s->L; j++) z[j] = (float)af_rng_normal(&r);
    const float *xh = af_vae_decode(s->vae, 1, z);
    if (!(bad = !xh)) put_tile(s, s->pic, k / ART_N, k % ART_N, xh);
  }
  af_nn_ctx_leave(s->sac->ctx);
  if (!bad) bad = write_picture(dir, "vae_samples.png", s->pic, ART_N * s->W, 2 * s->H, err, errsz) ? 2 : 0;
  if (bad == 1) return numeric_error(s, err, errsz);
  return bad ? AF_ERR_IO : AF_OK;
}

const af_agent_def af_skewfit_def = {
  .name = "skewfit",
  .description = "Skew-Fit / RIG: goal-conditioned SAC in a beta-VAE's latent space, goals set by the robot (skew_alpha 0: RIG)",
  .params = skewfit_params,
  .nparams = sizeof skewfit_params / sizeof skewfit_params[0],
  .cfg_size = sizeof(af_skewfit_cfg),
  .make = skewfit_make,
  .free = skewfit_free,
  .act = skewfit_act,
  .observe = skewfit_observe,
  .update = skewfit_update,
  .save = skewfit_save,
  .load = skewfit_load,
  .save_replay = skewfit_save_replay,
  .load_replay = skewfit_load_replay,
  .write_artifacts = skewfit_artifacts,
};
