// Image-based Soft Actor-Critic (the SAC-AE / DrQ design): observations carry stacked frames
// (an environment's "frame_stack": the last K frames, planar floats 0-255, after the state
// entries), a convolutional encoder (a 3x3 stride-2 convolution, then conv_layers - 1 3x3
// stride-1 convolutions of `filters` channels, a dense layer to `features`, LayerNorm, tanh)
// is shared by the twin critics and trained by the critic loss alone; the actor reads the
// encoder's features detached; both see the state entries beside the features when
// `proprio` is on. DrQ's random shift (pad `shift_pad` by replication, crop) is applied to
// each sampled observation and next observation; the target critics read a Polyak-averaged
// copy of the encoder (encoder_tau) and of the critics (tau), updated every target_every
// updates; the actor and temperature step every actor_every updates. Frames are kept once in
// an image replay (agents/image_replay.h: uint8, one copy of each frame).
#ifndef AF_PIXEL_SAC_H
#define AF_PIXEL_SAC_H

#include "agents/agent.h"
#include "agents/image_replay.h"
#include "agents/nn/conv.h"
#include "agents/nn/nn.h"

typedef struct {
  double lr, gamma, tau, encoder_tau, init_alpha, log_std_min, log_std_max;
  int batch, hidden, layers, buffer, warmup, updates_per_step, update_every, actor_every, target_every;
  int filters, conv_layers, features, shift_pad, proprio, learn_alpha;
} af_pixel_sac_cfg;

typedef struct {
  float critic_loss, actor_loss, entropy;
  int skipped;  // 1 the critic step was not taken (non-finite), 2 the actor's or temperature's
} af_pixel_sac_losses;

typedef struct af_pixel_sac {
  af_pixel_sac_cfg cfg;
  int od, ad, B, N;
  int K, H, W, C;          // frames stacked, their size, encoder input channels (3 K)
  int pd;                  // state entries fed beside the features (0 without proprio)
  int poff;                // where the frames start in an observation (the state entries' count)
  int fd;                  // encoder features
  int xd;                  // encoder input floats: C H W
  float target_entropy;
  af_nn_ctx *ctx;
  af_conv *enc, *enc_t;    // encoder and its target
  af_mlp *actor, *q1, *q2, *q1t, *q2t;
  af_adam opt_enc, opt_actor, opt_q1, opt_q2, opt_alpha;
  float log_alpha, log_alpha_grad;
  af_image_replay replay;
  af_rng rng;
  long observed, iterations;
  int due;
  // the update's batch: frames as sampled and shifted, their floats, the rest
  uint8_t *u_obs, *u_next, *u_tmp;          // (B, C, H, W)
  float *x_obs, *x_next;                    // (B, C, H, W) / 255
  float *prop, *prop_next, *act, *rew, *done;
  float *feat, *feat_next, *feat_t;         // (B, fd) copies of the encoder outputs
  float *ain, *ain_next;                    // actor inputs (B, fd + pd)
  float *qin, *qin_next;                    // critic inputs (B, fd + pd + ad)
  float *eps_next, *eps_pi, *a_pi, *work_pi, *sd_pi, *logp, *logp_next, *y, *dq1, *dq2, *dqin1, *dqin2, *dact, *dfeat;
  // acting (N rows), and the transition's newest frames as HWC uint8
  float *act_x, *act_in, *act_eps, *act_work, *act_sd, *act_logp;
  uint8_t *frame_obs, *frame_next;
} af_pixel_sac;

// one update's gradients and (apply) steps for a batch already in the agent's buffers
// (x_obs, x_next, prop, prop_next, act, rew, done) with the given standard-normal draws
// (eps_next, eps_pi); do_actor: the actor and temperature step too; do_targets: Polyak. For
// the update and the gradient checks.
void af_pixel_sac_grads(af_pixel_sac *s, int apply, int do_actor, int do_targets, af_pixel_sac_losses *out);

// the encoder's input floats for n observations (n, od) into x (n, C, H, W): the frames / 255
void af_pixel_sac_frames(const af_pixel_sac *s, float *x, const float *obs, int n);

// `updates` updates on sampled batches, whatever the schedule says; AF_OK or AF_ERR_NUMERIC
int af_pixel_sac_learn(af_pixel_sac *s, int updates, af_agent_stats *stats);

// floating-point operations of one update with the actor step (for GFLOP/s figures)
double af_pixel_sac_update_flops(const af_pixel_sac *s);

#endif
