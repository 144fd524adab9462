// The convolutional β-VAE (agents/vae.h): two af_conv stacks, the reparameterization and the
// two loss terms written out, their gradients chained by hand between the networks.
#include "agents/vae.h"

#include <math.h>    // expf, exp, log, isfinite
#include <stdio.h>   // snprintf
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy

#define ENC_LAYERS 4
#define DEC_LAYERS 5

struct af_vae {
  af_vae_cfg cfg;
  af_nn_ctx *ctx;
  af_conv *enc, *dec;
  af_adam opt_enc, opt_dec;
  int L, D, B;  // latent, pixels C H W, batch
  // per-batch buffers, (B, .) each: the draws, latents, their gradients, images
  float *draw, *stats, *z, *dz, *dstats, *xhat, *dout;
};

// the reference architecture (rlkit's ConvVAE, imsize 48)
static void layers(const af_vae_cfg *c, af_conv_layer *enc, af_conv_layer *dec) {
  enc[0] = (af_conv_layer){AF_LAYER_CONV, .out = 16, .k = 5, .stride = 3, .act = AF_ACT_RELU};
  enc[1] = (af_conv_layer){AF_LAYER_CONV, .out = 32, .k = 3, .stride = 2, .act = AF_ACT_RELU};
  enc[2] = (af_conv_layer){AF_LAYER_CONV, .out = 64, .k = 3, .stride = 2, .act = AF_ACT_RELU};
  enc[3] = (af_conv_layer){AF_LAYER_DENSE, .out = 2 * c->latent, .act = AF_ACT_NONE};
  dec[0] = (af_conv_layer){AF_LAYER_DENSE, .out = 64 * 3 * 3, .act = AF_ACT_RELU};
  dec[1] = (af_conv_layer){AF_LAYER_UNFLATTEN, .out = 64, .h = 3, .w = 3};
  dec[2] = (af_conv_layer){AF_LAYER_DECONV, .out = 32, .k = 3, .stride = 2, .act = AF_ACT_RELU};
  dec[3] = (af_conv_layer){AF_LAYER_DECONV, .out = 16, .k = 3, .stride = 2, .act = AF_ACT_RELU};
  dec[4] = (af_conv_layer){AF_LAYER_DECONV, .out = c->C, .k = 6, .stride = 3, .act = AF_ACT_NONE};
}

af_vae *af_vae_make(af_nn_ctx *ctx, const af_vae_cfg *c, char *err, size_t errsz) {
  if (c->H != 48 || c->W != 48 || c->C < 1 || c->C > 64) {
    snprintf(err, errsz, "vae: images of %dx%dx%d (the architecture takes 48x48, 1 to 64 channels)", c->C, c->H, c->W);
    return NULL;
  }
  if (c->latent < 1 || c->latent > 256 || c->batch < 1 || c->batch > 4096 || !(c->beta >= 0) || !(c->lr > 0)) {
    snprintf(err, errsz, "vae: latent %d (1-256), batch %d (1-4096), beta %g (>= 0), lr %g (> 0)", c->latent, c->batch, c->beta, c->lr);
    return NULL;
  }
  af_vae *v = calloc(1, sizeof *v);
  if (!v) { snprintf(err, errsz, "out of memory"); return NULL; }
  v->cfg = *c;
  v->ctx = ctx;
  v->L = c->latent, v->D = c->C * c->H * c->W, v->B = c->batch;
  af_conv_layer enc[ENC_LAYERS], dec[DEC_LAYERS];
  layers(c, enc, dec);
  int bs[2] = {c->batch, 1}, nb = c->batch == 1 ? 1 : 2;
  size_t B = (size_t)c->batch, L = (size_t)v->L;
  if (!(v->enc = af_conv_make(ctx, enc, ENC_LAYERS, c->C, c->H, c->W, bs, nb, err, errsz)) ||
      !(v->dec = af_conv_make(ctx, dec, DEC_LAYERS, v->L, 1, 1, bs, nb, err, errsz)) ||
      af_adam_init(&v->opt_enc, af_conv_nparams(v->enc), (float)c->lr, err, errsz) ||
      af_adam_init(&v->opt_dec, af_conv_nparams(v->dec), (float)c->lr, err, errsz)) {
    af_vae_free(v);
    return NULL;
  }
  float *p = calloc(B * (5 * L + 2 * L + 2 * (size_t)v->D), sizeof(float));
  if (!p) { snprintf(err, errsz, "out of memory"); af_vae_free(v); return NULL; }
  v->draw = p, p += B * L;
  v->z = p, p += B * L;
  v->dz = p, p += B * L;
  v->stats = p, p += 2 * B * L;
  v->dstats = p, p += 2 * B * L;
  v->xhat = p, p += B * (size_t)v->D;
  v->dout = p;
  return v;
}

void af_vae_free(af_vae *v) {
  if (!v) return;
  af_conv_free(v->enc);
  af_conv_free(v->dec);
  af_adam_free(&v->opt_enc);
  af_adam_free(&v->opt_dec);
  free(v->draw);
  free(v);
}

void af_vae_init(af_vae *v, af_rng *rng) {
  af_conv_init(v->enc, rng);
  af_conv_init(v->dec, rng);
}

af_conv *af_vae_encoder(af_vae *v) { return v->enc; }
af_conv *af_vae_decoder(af_vae *v) { return v->dec; }
int af_vae_latent(const af_vae *v) { return v->L; }

const float *af_vae_encode(af_vae *v, int B, const float *x) { return af_conv_forward(v->enc, B, x); }

const float *af_vae_decode(af_vae *v, int B, const float *z) {
  const float *o = af_conv_forward(v->dec, B, z);
  if (!o) return NULL;
  for (size_t i = 0; i < (size_t)B * v->D; i++) v->xhat[i] = 1 / (1 + expf(-o[i]));
  return v->xhat;
}

int af_vae_grads(af_vae *v, int B, const float *x, const float *eps, af_vae_losses *out) {
  const int L = v->L, D = v->D;
  const float beta = (float)v->cfg.beta, invB = 1.0f / B;
  af_vae_losses l = {0};

  // ---- q(z|x) and the reparameterized latents ----
  const float *st = af_conv_forward(v->enc, B, x);
  if (!st) return -1;
  for (int b = 0; b < B; b++) {
    double kl = 0;
    for (int j = 0; j < L; j++) {
      float mu = st[b * 2 * L + j], lv = st[b * 2 * L + L + j], sd = expf(0.5f * lv);
      v->stats[b * 2 * L + j] = mu;
      v->stats[b * 2 * L + L + j] = lv;
      v->z[b * L + j] = mu + sd * eps[b * L + j];
      kl += 0.5 * ((double)mu * mu + (double)sd * sd - 1 - lv);
    }
    l.kl += kl / B;
  }

  // ---- the reconstruction, and its gradient through the sigmoid ----
  const float *xh = af_vae_decode(v, B, v->z);
  if (!xh) return -1;
  for (int b = 0; b < B; b++) {
    double r = 0;
    for (int i = 0; i < D; i++) {
      size_t k = (size_t)b * D + i;
      float d = xh[k] - x[k];
      r += (double)d * d;
      v->dout[k] = 2 * d * invB * xh[k] * (1 - xh[k]);
    }
    l.recon += r / B;
  }
  af_conv_backward(v->dec, B, v->dout, v->dz, 1, 0);

  // ---- into the mean and log-variance: the reconstruction's path and the KL's ----
  for (int b = 0; b < B; b++)
    for (int j = 0; j < L; j++) {
      float mu = v->stats[b * 2 * L + j], lv = v->stats[b * 2 * L + L + j], e = eps[b * L + j], sd = expf(0.5f * lv);
      float dz = v->dz[b * L + j];
      v->dstats[b * 2 * L + j] = dz + beta * invB * mu;
      v->dstats[b * 2 * L + L + j] = dz * 0.5f * sd * e + beta * invB * 0.5f * (sd * sd - 1);
    }
  af_conv_backward(v->enc, B, v->dstats, NULL, 1, 0);
  if (af_nn_ctx_error(v->ctx)) return -1;
  l.loss = l.recon + v->cfg.beta * l.kl;
  if (out) *out = l;
  return 0;
}

int af_vae_train(af_vae *v, int B, const float *x, af_rng *rng, af_vae_losses *out) {
  af_rng_normal_fill(rng, v->draw, B * v->L);
  af_vae_losses l;
  if (af_vae_grads(v, B, x, v->draw, &l)) return -1;
  if (out) *out = l;
  float *ge = af_conv_grads(v->enc), *gd = af_conv_grads(v->dec);
  if (!isfinite(l.loss) || !af_nn_finite(ge, (size_t)af_conv_nparams(v->enc)) || !af_nn_finite(gd, (size_t)af_conv_nparams(v->dec))) return 1;
  af_adam_step(&v->opt_enc, af_conv_params(v->enc), ge);
  af_adam_step(&v->opt_dec, af_conv_params(v->dec), gd);
  return 0;
}

int af_vae_log_prob(af_vae *v, double *logp, int n, const float *x, int K, af_rng *rng) {
  const int L = v->L, D = v->D, B = v->B;
  const double log2pi = 1.8378770664093453;
  // the (image, draw) pairs in order, B to a decoder batch: row b of a batch holds draw k of
  // image i; each image's log-mean-exp runs over its K draws as they come
  double lq[4096];  // log p(z) - log q(z|x) of each row (B <= 4096)
  int img[4096];    // the image of each row
  char last[4096];  // the row is its image's last draw
  double mx = -INFINITY, sum = 0;
  int i = 0, k = 0;
  while (i < n) {
    int m = 0;
    for (; m < B && i < n; m++) {
      // a new image: its q(z|x), kept in stats' row m
      if (k == 0 || m == 0) {
        const float *st = af_conv_forward(v->enc, 1, x + (size_t)i * D);
        if (!st) return -1;
        memcpy(v->stats + (size_t)m * 2 * L, st, sizeof(float) * 2 * L);
      } else memcpy(v->stats + (size_t)m * 2 * L, v->stats + (size_t)(m - 1) * 2 * L, sizeof(float) * 2 * L);
      const float *mu = v->stats + (size_t)m * 2 * L, *lv = mu + L;
      double acc = 0;
      for (int j = 0; j < L; j++) {
        float e = (float)af_rng_normal(rng), z = mu[j] + expf(0.5f * lv[j]) * e;
        v->z[m * L + j] = z;
        // log N(z; 0, 1) - log N(z; mu, exp(lv)) = -z^2/2 + e^2/2 + lv/2
        acc += -0.5 * (double)z * z + 0.5 * (double)e * e + 0.5 * lv[j];
      }
      lq[m] = acc;
      img[m] = i;
      last[m] = ++k == K;
      if (last[m]) { k = 0; i++; }
    }
    for (int b = m; b < B; b++) memset(v->z + (size_t)b * L, 0, sizeof(float) * L);  // a partly filled last batch
    const float *xh = af_vae_decode(v, B, v->z);
    if (!xh) return -1;
    for (int b = 0; b < m; b++) {
      const float *xi = x + (size_t)img[b] * D;
      double r = 0;
      for (int p = 0; p < D; p++) {
        double d = (double)xh[(size_t)b * D + p] - xi[p];
        r += d * d;
      }
      double lw = -0.5 * r - 0.5 * D * log2pi + lq[b];
      if (lw > mx) { sum = sum * exp(mx - lw) + 1; mx = lw; }
      else sum += exp(lw - mx);
      // the image's last draw: its estimate, and a fresh sum for the next
      if (last[b]) {
        logp[img[b]] = mx + log(sum / K);
        mx = -INFINITY, sum = 0;
      }
    }
  }
  return 0;
}

int af_vae_tensors(af_vae *v, af_tensor *t, float *words) {
  t[0] = (af_tensor){"vae_enc", af_conv_params(v->enc), (size_t)af_conv_nparams(v->enc)};
  t[1] = (af_tensor){"vae_dec", af_conv_params(v->dec), (size_t)af_conv_nparams(v->dec)};
  t[2] = (af_tensor){"vae_enc_m", v->opt_enc.m, (size_t)v->opt_enc.n};
  t[3] = (af_tensor){"vae_enc_v", v->opt_enc.v, (size_t)v->opt_enc.n};
  t[4] = (af_tensor){"vae_dec_m", v->opt_dec.m, (size_t)v->opt_dec.n};
  t[5] = (af_tensor){"vae_dec_v", v->opt_dec.v, (size_t)v->opt_dec.n};
  t[6] = (af_tensor){"vae_steps", words, AF_VAE_WORDS};
  return AF_VAE_TENSORS;
}

void af_vae_pack(const af_vae *v, float *words) {
  af_nn_pack_u64(words, (uint64_t)v->opt_enc.t);
  af_nn_pack_u64(words + 4, (uint64_t)v->opt_dec.t);
}

int af_vae_unpack(af_vae *v, const float *words) {
  if (!af_nn_packed_ok(words, 2)) return -1;
  v->opt_enc.t = (double)af_nn_unpack_u64(words);
  v->opt_dec.t = (double)af_nn_unpack_u64(words + 4);
  return 0;
}

void af_skew_weights(double *w, const double *logp, int n, double alpha) {
  double mx = -INFINITY, sum = 0;
  for (int i = 0; i < n; i++) mx = fmax(mx, alpha * logp[i]);
  for (int i = 0; i < n; i++) sum += (w[i] = exp(alpha * logp[i] - mx));
  for (int i = 0; i < n; i++) w[i] /= sum;
}
