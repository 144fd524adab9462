// A convolutional β-VAE on images (Skew-Fit's and RIG's generative model; Kingma & Welling
// 2014, Higgins et al. 2017), on the network core's af_conv. The reference architecture of
// rlkit's ConvVAE for 48x48 images (../shared/AGENTS.md):
//   encoder  conv 16 5x5/3, conv 32 3x3/2, conv 64 3x3/2 (ReLU): 64x3x3; dense to the mean
//            and log-variance of q(z|x) (2 latent)
//   decoder  dense latent -> 576 (ReLU), unflatten 64x3x3, deconv 32 3x3/2, deconv 16 3x3/2
//            (ReLU), deconv C 6x6/3, sigmoid: the image's mean
// The loss of a batch, per image and averaged over the batch:
//   recon = sum over pixels (x_hat - x)^2   (a Gaussian decoder of identity variance, up to
//           its constant and a factor 1/2, as rlkit's gaussian_identity_variance)
//   kl    = 1/2 sum_j (mu_j^2 + exp(lv_j) - 1 - lv_j)
//   loss  = recon + beta kl,  z = mu + exp(lv / 2) eps  (the reparameterization)
// Images are floats in [0, 1], planar (B, C, H, W).
#ifndef AF_VAE_H
#define AF_VAE_H

#include <stddef.h>  // size_t

#include "agents/nn/conv.h"
#include "agents/nn/nn.h"
#include "base/rng.h"

typedef struct {
  int C, H, W;   // image size: the reference architecture needs 48x48 (any channel count)
  int latent;    // 16 for the door in Skew-Fit, 4 for pushing
  double beta;   // weight of the KL term (20)
  double lr;     // Adam (1e-3)
  int batch;     // the training batch size (planned at make; 1 is planned too)
} af_vae_cfg;

typedef struct {
  double recon, kl, loss;  // means over the batch
} af_vae_losses;

typedef struct af_vae af_vae;

// NULL with a message (sizes the architecture does not fit, out of memory, oneDNN)
af_vae *af_vae_make(af_nn_ctx *ctx, const af_vae_cfg *cfg, char *err, size_t errsz);
void af_vae_free(af_vae *v);  // NULL is a no-op
void af_vae_init(af_vae *v, af_rng *rng);

// the networks, for tests, checkpoints and the goal sampler
af_conv *af_vae_encoder(af_vae *v);
af_conv *af_vae_decoder(af_vae *v);
int af_vae_latent(const af_vae *v);

// q(z|x) of B images (B is 1 or the configured batch): rows (mean (latent), log-variance
// (latent)); NULL on a oneDNN failure (af_nn_ctx_error says why)
const float *af_vae_encode(af_vae *v, int B, const float *x);
// the decoder's mean images (B, C, H, W) in [0, 1] for latents z (B, latent)
const float *af_vae_decode(af_vae *v, int B, const float *z);

// the loss of B images x with the standard normal draws eps (B, latent), and the gradients of
// the loss in both networks' parameters (overwritten); 0, or -1 on a oneDNN failure
int af_vae_grads(af_vae *v, int B, const float *x, const float *eps, af_vae_losses *out);

// one step of Adam on a batch (its draws from rng); skipped (1) when the loss or a gradient is
// not finite; 0 after a step, -1 on a oneDNN failure
int af_vae_train(af_vae *v, int B, const float *x, af_rng *rng, af_vae_losses *out);

// log p(x) of n images, estimated by importance sampling with q(z|x) as the proposal (Burda
// et al. 2016): log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x), with the decoder's
// Gaussian of identity variance, log p(x|z) = -1/2 sum (x - x_hat)^2 - D/2 log(2 pi). The
// K draws of an image are decoded a batch at a time. Into logp (n); 0, or -1 on a oneDNN
// failure. Skew-Fit weights the replay's images by p(x)^alpha from these.
int af_vae_log_prob(af_vae *v, double *logp, int n, const float *x, int K, af_rng *rng);

// the VAE's state for a checkpoint (agents/nn/nn.h's file format): both networks' parameters
// and Adam moments (6 tensors "vae_enc", "vae_dec", "vae_enc_m", ...) and the Adam step counts
// in `words` (AF_VAE_WORDS floats, packed); af_vae_pack fills words before a save,
// af_vae_unpack takes them after a load (0, or -1 when they are not packed counts)
#define AF_VAE_TENSORS 7
#define AF_VAE_WORDS 8
int af_vae_tensors(af_vae *v, af_tensor *t, float *words);
void af_vae_pack(const af_vae *v, float *words);
int af_vae_unpack(af_vae *v, const float *words);
// Skew-Fit's sampling weights w_i = p_i^alpha / sum_j p_j^alpha from log-probabilities (n),
// computed stably; alpha 0 gives uniform weights (RIG)
void af_skew_weights(double *w, const double *logp, int n, double alpha);

#endif
