// Skew-Fit on the door from images: specs without the frame or the goal image are refused;
// relabelled goals come in their configured shares, future ones from a later frame of the same
// episode and pursued ones as stored; the reward is minus the latent distance; a saved and
// loaded agent (with a scored sampling set) continues bit for bit; the VAE learns the door's
// frames; rescoring skews the VAE's images towards the rare ones. Frames come from the real
// door_open environment, rendered at 48x48 (the test runs under a display or xvfb-run).
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agents/skewfit.h"
#include "envs/env.h"

#define ENV_CFG "{\"obs\": \"pixels\", \"frame_stack\": 1, \"goal_image\": true, \"image_width\": 48, \"image_height\": 48, " \
                "\"latch\": false, \"min_goal\": 0.1, \"randomize\": {\"enabled\": false, \"goal_angle\": [0.1, 1.0]}}"

static af_env *door(void) {
  char err[256];
  af_env *e = af_env_make("door_open", ENV_CFG, err, sizeof err);
  cr_assert(e, "%s", err);
  return e;
}

static af_agent *make(af_env *e, const char *cfg, uint64_t seed) {
  char err[256];
  af_agent *a = af_agent_make("skewfit", cfg, &(af_agent_setup){.spec = af_env_get_spec(e), .num_envs = 1, .seed = seed}, err, sizeof err);
  cr_assert(a, "%s", err);
  return a;
}

// `steps` transitions of the door into the agent, episodes alternating between the scripted
// opener and the agent's own (random, before warm-up) actions; updates after each when `learn`
static void feed(af_agent *a, af_env *e, int steps, int learn, uint64_t seed) {
  const af_env_spec *sp = af_env_get_spec(e);
  float *obs = malloc(sizeof(float) * sp->obs_dim), *next = malloc(sizeof(float) * sp->obs_dim), act[8], rew;
  cr_assert(obs && next);
  int ep = 0, term, trunc;
  cr_assert_eq(af_env_reset(e, seed, obs), AF_OK);
  for (int k = 0; k < steps; k++) {
    if (ep % 2 == 0) cr_assert_eq(af_env_scripted_action(e, act), AF_OK);
    else cr_assert_eq(af_agent_act(a, act, obs, 1, 0), AF_OK, "%s", af_agent_last_error(a));
    af_info info;
    cr_assert_eq(af_env_step(e, act, next, &rew, &term, &trunc, &info), AF_OK);
    uint8_t te = (uint8_t)term, tr = (uint8_t)trunc;
    af_batch b = {.n = 1, .obs = obs, .act = act, .reward = &rew, .next_obs = next, .terminated = &te, .truncated = &tr, .info = &info};
    cr_assert_eq(af_agent_observe(a, &b), AF_OK);
    if (learn) {
      af_agent_stats st;
      cr_assert_eq(af_agent_update(a, &st), AF_OK, "%s", af_agent_last_error(a));
    }
    memcpy(obs, next, sizeof(float) * sp->obs_dim);
    if (term || trunc) {
      ep++;
      cr_assert_eq(af_env_reset(e, seed + (uint64_t)ep, obs), AF_OK);
    }
  }
  free(obs);
  free(next);
}

Test(skewfit, specs_without_the_frame_or_the_goal_image_are_refused) {
  char err[256] = "";
  af_env_spec state = {.name = "t", .obs_dim = 22, .act_dim = 5};
  cr_assert_null(af_agent_make("skewfit", NULL, &(af_agent_setup){.spec = &state, .num_envs = 1, .seed = 1}, err, sizeof err));
  cr_assert(strstr(err, "48x48 frame"), "%s", err);
  af_env_spec nogoal = {.name = "t", .obs_dim = 6912, .act_dim = 5, .pixel_width = 48, .pixel_height = 48, .pixel_stack = 1};
  cr_assert_null(af_agent_make("skewfit", NULL, &(af_agent_setup){.spec = &nogoal, .num_envs = 1, .seed = 1}, err, sizeof err));
  cr_assert(strstr(err, "goal_image"), "%s", err);
  af_env_spec big = {.name = "t", .obs_dim = 2 * 12288, .act_dim = 5, .pixel_width = 64, .pixel_height = 64, .pixel_stack = 1, .goal_image_offset = 12288};
  cr_assert_null(af_agent_make("skewfit", NULL, &(af_agent_setup){.spec = &big, .num_envs = 1, .seed = 1}, err, sizeof err));
  cr_assert(strstr(err, "48x48"), "%s", err);
  af_env_spec ok = {.name = "t", .obs_dim = 2 * 6912, .act_dim = 5, .pixel_width = 48, .pixel_height = 48, .pixel_stack = 1, .goal_image_offset = 6912};
  cr_assert_null(af_agent_make("skewfit", "{\"relabel_future\": 0.6, \"relabel_prior\": 0.5}", &(af_agent_setup){.spec = &ok, .num_envs = 1, .seed = 1},
                               err, sizeof err));
  cr_assert(strstr(err, "relabel_future + agent.relabel_prior"), "%s", err);
  cr_assert_null(af_agent_make("skewfit", "{\"skew_alpha\": 0.5}", &(af_agent_setup){.spec = &ok, .num_envs = 1, .seed = 1}, err, sizeof err));
  cr_assert(strstr(err, "skew_alpha"), "%s", err);
}

// the slot of transition i (0: the oldest)
static long slot_of(const af_skewfit *s, long i) { return (s->replay.head + i) % s->replay.cap; }

Test(skewfit, relabelled_goals_come_in_their_shares_and_from_the_episode, .timeout = 120) {
  af_env *e = door();
  af_agent *a = make(e, "{\"batch\": 50, \"warmup\": 1000000, \"relabel_future\": 0.3, \"relabel_prior\": 0.2, \"future_horizon\": 10}", 3);
  feed(a, e, 200, 0, 5);  // four episodes of 50 steps
  af_skewfit *s = af_agent_impl(a);
  cr_assert_eq(af_image_replay_size(&s->replay), 200);
  const int L = s->L, B = s->B;
  // the encodings of every transition's next frame, one at a time
  static float zn[200][16];
  static float x[6912];
  for (long i = 0; i < 200; i++) {
    const uint8_t *f = s->replay.frames + (size_t)(s->replay.fid[slot_of(s, i) * 2 + 1] % s->replay.fcap) * s->replay.fbytes;
    for (int p = 0; p < 6912; p++) x[p] = f[p] / 255.0f;
    const float *st = af_vae_encode(s->vae, 1, x);
    cr_assert(st);
    memcpy(zn[i], st, sizeof(float) * L);
  }
  int count[3] = {0}, n = 0;
  for (int round = 0; round < 40; round++) {
    for (int b = 0; b < B; b++) s->slot[b] = slot_of(s, (round * B + b * 7) % 200);
    cr_assert_eq(af_skewfit_relabel(s), AF_OK);
    for (int b = 0; b < B; b++, n++) {
      long i = (round * B + b * 7) % 200;
      const float *zg = s->z_goal + (size_t)b * L;
      count[s->kind[b]]++;
      if (s->kind[b] == 0) {  // the goal pursued, as the replay holds it
        cr_assert(memcmp(zg, s->replay.act + (size_t)s->slot[b] * (s->ad + L + 2) + s->ad, sizeof(float) * L) == 0);
      } else if (s->kind[b] == 1) {  // a next frame of the same episode, 0 to 9 steps on
        int found = -1;
        for (long j = i; j < 200 && j < i + 10 && j / 50 == i / 50 && found < 0; j++) {
          double d = 0;
          for (int k = 0; k < L; k++) d = fmax(d, fabs(zg[k] - zn[j][k]));
          if (d < 1e-4) found = (int)j;
        }
        cr_assert(found >= 0, "future goal of transition %ld is no later frame of its episode", i);
      }
    }
  }
  // shares 0.5 / 0.3 / 0.2 of 2000 draws: within 4.5 standard deviations
  const double p[3] = {0.5, 0.3, 0.2};
  for (int k = 0; k < 3; k++) {
    double sd = sqrt(n * p[k] * (1 - p[k]));
    cr_assert(fabs(count[k] - n * p[k]) < 4.5 * sd, "kind %d: %d of %d, expected %.0f", k, count[k], n, n * p[k]);
  }
  af_agent_free(a);
  af_env_free(e);
}

Test(skewfit, a_loaded_agent_continues_bit_for_bit, .timeout = 240) {
  const char *cfg = "{\"batch\": 16, \"hidden\": 32, \"warmup\": 60, \"skew_every\": 40, \"skew_set\": 24, \"skew_draws\": 3}";
  af_env *e = door(), *e2 = door();
  af_agent *a = make(e, cfg, 11), *b = make(e2, cfg, 12);
  feed(a, e, 120, 1, 7);
  af_skewfit *sa = af_agent_impl(a), *sb = af_agent_impl(b);
  cr_assert_gt(sa->skew_n, 0, "no sampling set was scored");
  char err[256];
  cr_assert_eq(af_agent_save(a, "sf.ckpt", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_save_replay(a, "sf.replay", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_load(b, "sf.ckpt", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_load_replay(b, "sf.replay", err, sizeof err), 0, "%s", err);
  // both go on with the same episodes (the environments start from the same seed)
  feed(a, e, 60, 1, 99);
  feed(b, e2, 60, 1, 99);
  af_conv *va = af_vae_encoder(sa->vae), *vb = af_vae_encoder(sb->vae);
  cr_assert(memcmp(af_conv_params(va), af_conv_params(vb), sizeof(float) * af_conv_nparams(va)) == 0, "VAE encoders differ");
  af_conv *da = af_vae_decoder(sa->vae), *db = af_vae_decoder(sb->vae);
  cr_assert(memcmp(af_conv_params(da), af_conv_params(db), sizeof(float) * af_conv_nparams(da)) == 0, "VAE decoders differ");
  cr_assert(memcmp(af_mlp_params(sa->sac->actor), af_mlp_params(sb->sac->actor), sizeof(float) * af_mlp_nparams(sa->sac->actor)) == 0, "actors differ");
  cr_assert(memcmp(af_mlp_params(sa->sac->q1), af_mlp_params(sb->sac->q1), sizeof(float) * af_mlp_nparams(sa->sac->q1)) == 0, "critics differ");
  cr_assert(sa->skew_n == sb->skew_n && memcmp(sa->skew_cdf, sb->skew_cdf, sizeof(double) * (size_t)sa->skew_n) == 0, "sampling sets differ");
  // a fresh agent of the same seed differs: the parameters did move
  af_env *e3 = door();
  af_agent *f = make(e3, cfg, 11);
  af_skewfit *sf = af_agent_impl(f);
  cr_assert(memcmp(af_conv_params(va), af_conv_params(af_vae_encoder(sf->vae)), sizeof(float) * af_conv_nparams(va)) != 0, "the VAE never moved");
  // a checkpoint whose sampling set does not rise to 1 is refused, and says why
  sa->skew_cdf[sa->skew_n - 1] = 0.5;
  cr_assert_eq(af_agent_save(a, "bad.ckpt", err, sizeof err), 0, "%s", err);
  cr_assert_neq(af_agent_load(f, "bad.ckpt", err, sizeof err), 0);
  cr_assert(strstr(err, "out of range"), "%s", err);
  remove("sf.ckpt");
  remove("sf.replay");
  remove("bad.ckpt");
  af_agent_free(a);
  af_agent_free(b);
  af_agent_free(f);
  af_env_free(e);
  af_env_free(e2);
  af_env_free(e3);
}

Test(skewfit, the_vae_learns_the_doors_frames_and_the_set_is_scored, .timeout = 300) {
  af_env *e = door();
  af_agent *a = make(e, "{\"batch\": 32, \"hidden\": 32, \"warmup\": 1000000, \"skew_alpha\": -1, \"skew_set\": 200, \"skew_draws\": 4}", 5);
  feed(a, e, 200, 0, 21);
  af_skewfit *s = af_agent_impl(a);
  af_agent_stats st;
  // the first VAE step (it scores the set first), then 400 more: the reconstruction error
  // per image falls by half
  cr_assert_eq(af_skewfit_learn(s, 1, &st), AF_OK);
  double first = s->vae_recon;
  cr_assert_eq(af_skewfit_learn(s, 400, &st), AF_OK);
  cr_assert_lt(s->vae_recon, 0.5 * first, "reconstruction error %g after 400 steps, %g at the first", s->vae_recon, first);
  // the set: frames the replay holds, cumulative weights rising to 1, and not uniform (-1 / p)
  cr_assert_eq(af_skewfit_rescore(s), AF_OK);
  cr_assert_eq(s->skew_n, 200);
  int64_t lo = s->replay.written > s->replay.fcap ? s->replay.written - s->replay.fcap : 0;
  double wmax = 0, wmin = 1;
  for (int k = 0; k < 200; k++) {
    double w = s->skew_cdf[k] - (k ? s->skew_cdf[k - 1] : 0);
    cr_assert(s->skew_id[k] >= lo && s->skew_id[k] < s->replay.written, "frame %lld not held", (long long)s->skew_id[k]);
    cr_assert(w >= 0);
    wmax = fmax(wmax, w), wmin = fmin(wmin, w);
  }
  cr_assert_float_eq(s->skew_cdf[199], 1.0, 1e-12);
  cr_assert_gt(wmax, 2 * wmin, "the weights are uniform (%g to %g)", wmin, wmax);
  af_agent_free(a);
  af_env_free(e);
}

// is z (L) the VAE's mean encoding of one of the frames the replay holds (to 1e-5: batches of
// other sizes may round differently)?
static int encodes_a_replay_frame(af_skewfit *s, const float *z) {
  const af_image_replay *r = &s->replay;
  float *x = malloc(sizeof(float) * r->fbytes);
  cr_assert(x);
  int found = 0;
  af_nn_ctx_enter(s->sac->ctx);
  for (int64_t id = r->written > r->fcap ? r->written - r->fcap : 0; id < r->written && !found; id++) {
    const uint8_t *f = r->frames + (size_t)(id % r->fcap) * r->fbytes;
    for (size_t i = 0; i < r->fbytes; i++) x[i] = f[i] * (1.0f / 255);
    const float *st = af_vae_encode(s->vae, 1, x);
    cr_assert(st);
    double d = 0;
    for (int j = 0; j < s->L; j++) d = fmax(d, fabs(st[j] - z[j]));
    found = d < 1e-5;
  }
  af_nn_ctx_leave(s->sac->ctx);
  free(x);
  return found;
}

// the VAE's Adam steps so far (the encoder's step count in its packed words)
static long vae_steps(const af_skewfit *s) {
  float w[AF_VAE_WORDS];
  af_vae_pack(s->vae, w);
  return (long)af_nn_unpack_u64(w);
}

Test(skewfit, exploration_goals_encode_replay_frames_and_the_vae_is_pretrained_once, .timeout = 120) {
  // explore_goals replay: a new episode's goal is the mean encoding of a frame the replay
  // holds; prior: a prior draw, no frame's encoding. vae_pretrain 30: the first update makes
  // 30 VAE steps on the warm-up's frames before its own one, later updates only their own
  const char *cfg[2] = {"{\"batch\": 16, \"hidden\": 32, \"warmup\": 40, \"skew_alpha\": 0, \"explore_goals\": \"replay\", \"vae_pretrain\": 30, "
                        "\"relabel_future\": 0, \"relabel_prior\": 0}",
                        "{\"batch\": 16, \"hidden\": 32, \"warmup\": 40, \"skew_alpha\": 0, \"explore_goals\": \"prior\"}"};
  for (int m = 0; m < 2; m++) {
    af_env *e = door();
    af_agent *a = make(e, cfg[m], 3);
    feed(a, e, 40, 0, 8);
    af_skewfit *s = af_agent_impl(a);
    af_agent_stats st;
    cr_assert_eq(vae_steps(s), 0);
    cr_assert_eq(af_skewfit_learn(s, 1, &st), AF_OK);
    cr_assert_eq(vae_steps(s), m == 0 ? 31 : 1);
    cr_assert_eq(af_skewfit_learn(s, 2, &st), AF_OK);
    cr_assert_eq(vae_steps(s), m == 0 ? 33 : 3);
    // the next episode's goal
    const af_env_spec *sp = af_env_get_spec(e);
    float *obs = malloc(sizeof(float) * sp->obs_dim), act[8];
    cr_assert(obs);
    cr_assert_eq(af_env_reset(e, 5, obs), AF_OK);
    s->need_goal[0] = 1;
    cr_assert_eq(af_agent_act(a, act, obs, 1, 0), AF_OK, "%s", af_agent_last_error(a));
    cr_assert_eq(s->need_goal[0], 0);
    cr_assert_eq(encodes_a_replay_frame(s, s->goal), m == 0, "mode %d: the goal %s a replay frame's encoding", m, m ? "is" : "is not");
    if (m == 0) {
      // one transition pursuing that goal; relabelled as pursued (no future, no prior shares)
      // its goal is the goal frame encoded by the VAE as it is now: the stored latent while
      // the VAE is unchanged, a new one after VAE steps
      int64_t gid = s->goal_id[0];
      cr_assert(gid >= 0);
      static float next[13824];
      float rew, stored[16], fresh[16];
      cr_assert(sp->obs_dim <= 13824);
      af_info info;
      int term, trunc;
      cr_assert_eq(af_env_step(e, act, next, &rew, &term, &trunc, &info), AF_OK);
      uint8_t te = 0, tr = 0;
      af_batch b = {.n = 1, .obs = obs, .act = act, .reward = &rew, .next_obs = next, .terminated = &te, .truncated = &tr, .info = &info};
      cr_assert_eq(af_agent_observe(a, &b), AF_OK);
      memcpy(stored, s->goal, sizeof(float) * (size_t)s->L);
      long last = (s->replay.head + s->replay.size - 1) % s->replay.cap;
      for (int round = 0; round < 2; round++) {
        for (int k = 0; k < s->B; k++) s->slot[k] = last;
        af_nn_ctx_enter(s->sac->ctx);
        cr_assert_eq(af_skewfit_relabel(s), AF_OK);
        float *x = malloc(sizeof(float) * s->replay.fbytes);
        const uint8_t *f = s->replay.frames + (size_t)(gid % s->replay.fcap) * s->replay.fbytes;
        for (size_t i = 0; i < s->replay.fbytes; i++) x[i] = f[i] * (1.0f / 255);
        memcpy(fresh, af_vae_encode(s->vae, 1, x), sizeof(float) * (size_t)s->L);
        af_nn_ctx_leave(s->sac->ctx);
        free(x);
        double dfresh = 0, dstored = 0;
        cr_assert_eq(s->kind[0], 3);
        for (int j = 0; j < s->L; j++) {
          dfresh = fmax(dfresh, fabs(s->z_goal[j] - fresh[j]));
          dstored = fmax(dstored, fabs(s->z_goal[j] - stored[j]));
        }
        cr_assert_lt(dfresh, 1e-4, "round %d: the relabelled goal is not the goal frame's encoding now", round);
        if (round == 0) cr_assert_lt(dstored, 1e-4);
        else cr_assert_gt(dstored, 1e-3, "the pursued goal was not encoded again after the VAE moved");
        cr_assert_eq(af_skewfit_learn(s, 5, &st), AF_OK);  // the VAE moves
      }
      // relabel_goals replay with the whole share proposed: every goal the encoding of a
      // replay frame (kind 4)
      s->cfg.relabel_prior = 1, s->cfg.relabel_goals = 1;
      cr_assert_eq(af_skewfit_relabel(s), AF_OK);
      for (int k = 0; k < s->B; k++) {
        cr_assert_eq(s->kind[k], 4);
        cr_assert(encodes_a_replay_frame(s, s->z_goal + (size_t)k * s->L), "proposed goal %d is no replay frame's encoding", k);
      }
    }
    free(obs);
    af_agent_free(a);
    af_env_free(e);
  }
}

// the width and height a PNG's header gives; 0 when the file is missing or not a PNG
static void png_size(const char *path, unsigned *w, unsigned *h) {
  unsigned char hd[24] = {0};
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(hd, 1, sizeof hd, f) : 0;
  if (f) fclose(f);
  *w = *h = 0;
  if (n == sizeof hd && !memcmp(hd + 1, "PNG", 3)) {
    *w = (unsigned)hd[16] << 24 | (unsigned)hd[17] << 16 | (unsigned)hd[18] << 8 | hd[19];
    *h = (unsigned)hd[20] << 24 | (unsigned)hd[21] << 16 | (unsigned)hd[22] << 8 | hd[23];
  }
}

Test(skewfit, a_training_run_writes_its_pictures_and_the_median_error, .timeout = 300) {
  const char *bin = getenv("ARMFARM_BIN");
  cr_assert(bin, "ARMFARM_BIN must point at the armfarm program (ctest sets it)");
  FILE *f = fopen("sf.json", "w");
  cr_assert(f);
  // the environment's keys (ENV_CFG without its opening brace) as the file's env object
  fprintf(f, "{\"env\": {\"name\": \"door_open\", %s,\n \"agent\": {\"name\": \"skewfit\", \"batch\": 16, \"hidden\": 32, \"warmup\": 100, "
             "\"skew_every\": 100, \"skew_set\": 16}}\n", ENV_CFG + 1);
  cr_assert_eq(fclose(f), 0);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s train --config sf.json --steps 200 --seed 2 --set train.eval_every=100 --set train.eval_episodes=3 --out sfrun >sf.log 2>&1", bin);
  cr_assert_eq(system(cmd), 0, "armfarm train failed (sf.log)");
  unsigned w, h;
  png_size("sfrun/eval_goals.png", &w, &h);
  cr_assert(w == 3 * 48 && h == 2 * 48, "eval_goals.png is %ux%u", w, h);
  png_size("sfrun/vae_reconstructions.png", &w, &h);
  cr_assert(w == 8 * 48 && h == 2 * 48, "vae_reconstructions.png is %ux%u", w, h);
  png_size("sfrun/vae_samples.png", &w, &h);
  cr_assert(w == 8 * 48 && h == 2 * 48, "vae_samples.png is %ux%u", w, h);
  cr_assert_eq(system("head -1 sfrun/eval.csv | grep -q ',final_error_median,'"), 0, "eval.csv has no final_error_median");
  cr_assert_eq(system("rm -rf sfrun sf.json sf.log"), 0);
}
