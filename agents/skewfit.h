// Skew-Fit (Pong et al. 2019) and RIG (Nair et al. 2018): goal-conditioned SAC in the latent
// space of a convolutional β-VAE (agents/vae.h) trained online on the images the robot saw,
// with goals the robot sets itself. No task reward and no environment state are used for
// training: the observation is one 48x48 frame (obs "pixels", frame_stack 1) and, for
// evaluation, the environment's goal image (env "goal_image": true), both planar floats 0-255.
//
// Acting: z = the VAE's mean encoding of the frame; the actor reads [z, z_goal]. During
// training z_goal is set at the start of each episode: with explore_goals "replay" (rlkit's
// Skew-Fit) the encoding of a replay frame drawn with the skewed weights (uniformly for RIG
// and before the first scoring), with "prior" a draw of the VAE's prior N(0, I) (the goal
// model: the VAE is fitted on the skewed replay, so its prior covers rare states too); a
// deterministic action (evaluation) encodes the observation's goal image instead. With
// vae_pretrain > 0 the first update first trains the VAE that many steps on the warm-up's
// frames (rlkit pretrains on random-exploration images).
// Learning, per update: a batch of transitions from an image replay (agents/image_replay.h,
// uint8, each frame once; the action row also keeps the goal pursued and its frame), each
// relabelled with probability relabel_future to a future achieved frame of the same episode
// (up to future_horizon steps on), relabel_prior to a goal the goal model proposes (a prior
// draw, or with relabel_goals replay a skewed replay frame's encoding), else the goal pursued (a
// replay frame's goal encoded again by the VAE as it is now, as rlkit refreshes its latents;
// a prior draw as stored); reward
// -|z' - z_goal| on the VAE's mean encodings; one SAC step (agents/sac.h's af_sac_grads) on
// [z, z_goal] -> [z', z_goal]; one VAE step on a batch of replay frames drawn with Skew-Fit's
// weights p(x)^skew_alpha (importance-sampled log p(x), af_vae_log_prob with skew_draws draws,
// over skew_set frames rescored every skew_every environment steps), or uniformly when
// skew_alpha is 0 (RIG).
#ifndef AF_SKEWFIT_H
#define AF_SKEWFIT_H
#include "agents/agent.h"
#include "agents/image_replay.h"
#include "agents/sac.h"
#include "agents/vae.h"
typedef struct {
  double lr, gamma, tau, init_alpha, vae_lr, beta, skew_alpha, relabel_future, relabel_prior;
  int batch, hidden, layers, buffer, warmup, updates_per_step, update_every, learn_alpha;
  int latent, skew_every, skew_set, skew_draws, future_horizon, explore_goals, relabel_goals, vae_pretrain;
} af_skewfit_cfg;
typedef struct af_skewfit {
  af_skewfit_cfg cfg;
  int od, ad, B, N, L;     // observation, action, batch, environments, latent
  int C, H, W, D;          // one frame, D = C H W
  int poff, goff;          // the frame's and the goal image's offsets in an observation
  af_env_spec lspec;       // the inner SAC's spec: observation [z, z_goal], the action
  af_sac *sac;             // made through af_sac_def, holds the numerics context
  af_vae *vae;
  af_image_replay replay;  // stack 1; action rows [action (ad), goal pursued (L), its frame id (2)]
  af_rng rng;
  long observed, last_skew;
  int pretrained;          // the VAE's pretraining on the warm-up frames is done
  int due;
  float *goal;             // (N, L) the goal each environment pursues
  float *need_goal;        // (N) 1: draw a new goal at the next act (episode start)
  int64_t *goal_id;        // (N) the goal's replay frame id, -1 for a prior draw
  // Skew-Fit's sampling set: frame ids and the cumulative weights (skew_n of skew_set)
  int skew_n;
  int64_t *skew_id;
  double *skew_cdf, *logp;
  float *x_set;            // (skew_set, D) the set's images
  // the update's batch
  uint8_t *u_obs, *u_next, *u_goal;       // (B, D) planar frames
  float *x;                               // (B, D) one image batch / 255
  float *z_obs, *z_next, *z_goal;         // (B, L)
  float *sobs, *snext, *act, *rew, *done, *eps_next, *eps_pi;
  int64_t *slot;                          // (B) sampled transitions' slots
  uint8_t *kind;                          // (B) 0 pursued (as stored), 1 future, 2 prior, 3 pursued (its frame
                                          // encoded again), 4 proposed (a skewed replay frame's encoding)
  // acting
  float *act_in;                          // (N, 2L)
  float *arow;                            // (ad + L)
  uint8_t *frame_obs, *frame_next;        // (H W C)
  float vae_recon, vae_kl;                // the last VAE step's loss terms
  uint8_t *pic;                           // the pictures of the VAE (2 H, 8 W, 3)
} af_skewfit;
// `updates` updates on sampled batches, whatever the schedule says; AF_OK or AF_ERR_NUMERIC
int af_skewfit_learn(af_skewfit *s, int updates, af_agent_stats *stats);
// rescore the sampling set now (the update does it every skew_every steps); AF_OK or
// AF_ERR_NUMERIC
int af_skewfit_rescore(af_skewfit *s);
// the transitions' latent goals of one batch after relabelling, for tests: fills s->z_goal
// and s->kind for the slots in s->slot; AF_OK or AF_ERR_NUMERIC
int af_skewfit_relabel(af_skewfit *s);
#endif
