// The convolutional β-VAE (agents/vae.h): its loss terms and gradients at parameters set by
// hand (values worked out on paper), every gradient sampled against central differences of a
// double-precision reference of the whole model (tests/ref_conv.h for both networks, the
// reparameterization and both terms written again here), and learning: reconstructions of a
// small set of images much better than their mean image.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agents/vae.h"
#include "tests/ref_conv.h"

enum { L = 16, C = 3, S = 48, D = C * S * S };

static af_nn_ctx *ctx;
static void setup(void) {
  char err[256];
  ctx = af_nn_ctx_make(1, 1, err, sizeof err);
  cr_assert(ctx, "%s", err);
}
static void teardown(void) { af_nn_ctx_free(ctx); }
TestSuite(vae, .init = setup, .fini = teardown);

static af_vae *make(int batch, double beta) {
  char err[256];
  af_vae_cfg c = {.C = C, .H = S, .W = S, .latent = L, .beta = beta, .lr = 1e-3, .batch = batch};
  af_vae *v = af_vae_make(ctx, &c, err, sizeof err);
  cr_assert(v, "%s", err);
  return v;
}

// the architecture as ../shared/AGENTS.md states it (rlkit's ConvVAE at 48x48)
static const af_conv_layer enc_ref[] = {
    {AF_LAYER_CONV, .out = 16, .k = 5, .stride = 3, .act = AF_ACT_RELU},
    {AF_LAYER_CONV, .out = 32, .k = 3, .stride = 2, .act = AF_ACT_RELU},
    {AF_LAYER_CONV, .out = 64, .k = 3, .stride = 2, .act = AF_ACT_RELU},
    {AF_LAYER_DENSE, .out = 2 * L},
};
static const af_conv_layer dec_ref[] = {
    {AF_LAYER_DENSE, .out = 576, .act = AF_ACT_RELU},
    {AF_LAYER_UNFLATTEN, .out = 64, .h = 3, .w = 3},
    {AF_LAYER_DECONV, .out = 32, .k = 3, .stride = 2, .act = AF_ACT_RELU},
    {AF_LAYER_DECONV, .out = 16, .k = 3, .stride = 2, .act = AF_ACT_RELU},
    {AF_LAYER_DECONV, .out = C, .k = 6, .stride = 3},
};

// every parameter zero, then q(z|x) = N(mu, exp(lv)) whatever the image (the encoder's last
// biases) and the decoder's image sigmoid(b_c) everywhere (its last biases)
static void set_by_hand(af_vae *v, float mu, float lv, float b) {
  af_conv *e = af_vae_encoder(v), *d = af_vae_decoder(v);
  memset(af_conv_params(e), 0, sizeof(float) * af_conv_nparams(e));
  memset(af_conv_params(d), 0, sizeof(float) * af_conv_nparams(d));
  int wo, nw, bo, nb;
  af_conv_layer_params(e, 3, &wo, &nw, &bo, &nb);
  for (int j = 0; j < L; j++) af_conv_params(e)[bo + j] = mu, af_conv_params(e)[bo + L + j] = lv;
  af_conv_layer_params(d, 4, &wo, &nw, &bo, &nb);
  for (int c = 0; c < C; c++) af_conv_params(d)[bo + c] = b;
}

Test(vae, the_reference_architecture) {
  af_vae *v = make(4, 20);
  af_conv *e = af_vae_encoder(v), *d = af_vae_decoder(v);
  int c, h, w;
  af_conv_shape(e, 2, &c, &h, &w);
  cr_assert(c == 64 && h == 3 && w == 3, "encoder features %dx%dx%d", c, h, w);
  af_conv_shape(d, 2, &c, &h, &w);
  cr_assert(c == 32 && h == 7 && w == 7, "first deconvolution %dx%dx%d", c, h, w);
  af_conv_shape(d, 3, &c, &h, &w);
  cr_assert(c == 16 && h == 15 && w == 15, "second deconvolution %dx%dx%d", c, h, w);
  cr_assert_eq(af_conv_out(d), D);
  cr_assert_eq(af_conv_nparams(e), (16 * 3 * 25 + 16) + (32 * 16 * 9 + 32) + (64 * 32 * 9 + 64) + (576 * 32 + 32));
  cr_assert_eq(af_conv_nparams(d), (16 * 576 + 576) + (64 * 32 * 9 + 32) + (32 * 16 * 9 + 16) + (16 * 3 * 36 + 3));
  // sizes the architecture does not take
  char err[256];
  af_vae_cfg bad = {.C = 3, .H = 64, .W = 64, .latent = 16, .beta = 20, .lr = 1e-3, .batch = 4};
  cr_assert_null(af_vae_make(ctx, &bad, err, sizeof err));
  cr_assert(strstr(err, "48x48"), "%s", err);
  bad.H = bad.W = 48, bad.latent = 0;
  cr_assert_null(af_vae_make(ctx, &bad, err, sizeof err));
  af_vae_free(v);
  af_vae_free(NULL);
}

// mu = 0.5 and lv = ln 2 in every latent: kl = 1/2 16 (0.25 + 2 - 1 - ln 2) = 8 (1.25 - ln 2);
// the image sigmoid(ln 3) = 0.75 against x = 0.5 everywhere: recon = 6912 / 16 = 432. The
// gradients, with the decoder's weights zero (so no gradient reaches z): the last decoder
// bias of a channel 2304 pixels x 2 (0.75 - 0.5) x 0.75 x 0.25 = 216; the encoder's mean
// biases beta mu = 10, its log-variance biases beta (exp(lv) - 1) / 2 = 10
Test(vae, loss_and_gradients_at_parameters_set_by_hand) {
  enum { B = 4 };
  af_vae *v = make(B, 20);
  set_by_hand(v, 0.5f, logf(2), logf(3));
  float *x = malloc(sizeof(float) * B * D), eps[B * L];
  for (int i = 0; i < B * D; i++) x[i] = 0.5f;
  af_rng r;
  af_rng_seed(&r, 3);
  af_rng_normal_fill(&r, eps, B * L);
  af_vae_losses l;
  cr_assert_eq(af_vae_grads(v, B, x, eps, &l), 0, "%s", af_nn_ctx_error(ctx));
  double kl = 8 * (1.25 - log(2));
  cr_assert(fabs(l.kl - kl) < 1e-5, "kl %.7g, by hand %.7g", l.kl, kl);
  cr_assert(fabs(l.recon - 432) < 1e-3, "recon %.7g, by hand 432", l.recon);
  cr_assert(fabs(l.loss - (432 + 20 * kl)) < 1e-3, "loss %.7g", l.loss);
  const float *xh = af_vae_decode(v, 1, eps);
  for (int i = 0; i < D; i++) cr_assert(fabsf(xh[i] - 0.75f) < 1e-6f, "pixel %d: %g", i, xh[i]);
  int wo, nw, bo, nb;
  af_conv_layer_params(af_vae_decoder(v), 4, &wo, &nw, &bo, &nb);
  for (int c = 0; c < C; c++) cr_assert(fabsf(af_conv_grads(af_vae_decoder(v))[bo + c] - 216) < 1e-2f, "decoder bias %d", c);
  af_conv_layer_params(af_vae_encoder(v), 3, &wo, &nw, &bo, &nb);
  for (int j = 0; j < 2 * L; j++) cr_assert(fabsf(af_conv_grads(af_vae_encoder(v))[bo + j] - 10) < 1e-4f, "encoder bias %d", j);
  free(x);
  af_vae_free(v);
}

// the whole model in double: encoder, reparameterization, decoder, sigmoid, both terms
static double ref_loss(const double *pe, const double *pd, const double *x, const double *eps, int B, double beta) {
  double *st = malloc(sizeof(double) * B * 16 * 15 * 15), *z = malloc(sizeof(double) * B * L);
  double *o = malloc(sizeof(double) * B * 32 * 7 * 7 * 4 + sizeof(double) * B * D);
  ref_conv_net(st, pe, x, B, enc_ref, 4, C, S, S);
  double kl = 0, rec = 0;
  for (int b = 0; b < B; b++)
    for (int j = 0; j < L; j++) {
      double mu = st[b * 2 * L + j], lv = st[b * 2 * L + L + j];
      z[b * L + j] = mu + exp(0.5 * lv) * eps[b * L + j];
      kl += 0.5 * (mu * mu + exp(lv) - 1 - lv);
    }
  ref_conv_net(o, pd, z, B, dec_ref, 5, L, 1, 1);
  for (int i = 0; i < B * D; i++) {
    double xh = 1 / (1 + exp(-o[i])), d = xh - x[i];
    rec += d * d;
  }
  free(st), free(z), free(o);
  return (rec + beta * kl) / B;
}

Test(vae, gradients_against_central_differences_of_a_double_reference, .timeout = 300) {
  enum { B = 2 };
  const double beta = 20;
  af_vae *v = make(B, beta);
  af_rng r;
  af_rng_seed(&r, 21);
  af_vae_init(v, &r);
  af_conv *e = af_vae_encoder(v), *d = af_vae_decoder(v);
  int ne = af_conv_nparams(e), nd = af_conv_nparams(d);
  float *x = malloc(sizeof(float) * B * D), eps[B * L];
  double *xd = malloc(sizeof(double) * B * D), epsd[B * L], *pe = malloc(sizeof(double) * ne), *pd = malloc(sizeof(double) * nd);
  // an image with structure (a bright disc on a dim gradient) and some noise
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++)
      for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
          double dx = j - 16 - 12 * b, dy = i - 24, v0 = 0.2 + 0.3 * j / S + (dx * dx + dy * dy < 64 ? 0.5 : 0);
          size_t k = ((size_t)(b * C + c) * S + i) * S + j;
          x[k] = (float)(v0 + af_rng_range(&r, -0.05, 0.05));
          xd[k] = x[k];
        }
  af_rng_normal_fill(&r, eps, B * L);
  for (int i = 0; i < B * L; i++) epsd[i] = eps[i];
  for (int i = 0; i < ne; i++) pe[i] = af_conv_params(e)[i];
  for (int i = 0; i < nd; i++) pd[i] = af_conv_params(d)[i];
  af_vae_losses l;
  cr_assert_eq(af_vae_grads(v, B, x, eps, &l), 0, "%s", af_nn_ctx_error(ctx));
  double ref = ref_loss(pe, pd, xd, epsd, B, beta);
  cr_assert(fabs(l.loss - ref) <= 1e-4 * fabs(ref), "loss %.8g against the reference's %.8g", l.loss, ref);
  // every 193rd parameter of each network (a step prime to every layer's size)
  const double h = 1e-5;
  int checked = 0;
  for (int net = 0; net < 2; net++) {
    double *p = net ? pd : pe;
    const float *g = af_conv_grads(net ? d : e);
    for (int i = net; i < (net ? nd : ne); i += 193, checked++) {
      double keep = p[i];
      p[i] = keep + h;
      double lp = ref_loss(pe, pd, xd, epsd, B, beta);
      p[i] = keep - h;
      double lm = ref_loss(pe, pd, xd, epsd, B, beta);
      p[i] = keep;
      double fd = (lp - lm) / (2 * h);
      cr_assert(fabs(g[i] - fd) <= 2e-3 * fmax(fabs(fd), 1.0), "%s parameter %d: analytic %.7g, finite difference %.7g",
                net ? "decoder" : "encoder", i, g[i], fd);
    }
  }
  cr_assert_gt(checked, 350);
  free(x), free(xd), free(pe), free(pd);
  af_vae_free(v);
}

// 16 images of a bright square at 16 places on a dark ground: after 800 steps of batch 16 the
// reconstructions are far better than the best image that ignores its input (the mean image):
// measured 1,087 at the first step; after 800 steps 10.4 (after 1,000: 7.6) against the mean
// image's 180
Test(vae, learns_to_reconstruct_a_small_image_set, .timeout = 300) {
  enum { N = 16 };
  af_vae *v = make(N, 1);
  af_rng r;
  af_rng_seed(&r, 5);
  af_vae_init(v, &r);
  float *x = malloc(sizeof(float) * N * D), *mean = calloc(D, sizeof(float));
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++)
      for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
          int y0 = 4 + 10 * (n / 4), x0 = 4 + 10 * (n % 4), in = i >= y0 && i < y0 + 10 && j >= x0 && j < x0 + 10;
          float val = in ? 0.9f : 0.1f;
          x[((size_t)(n * C + c) * S + i) * S + j] = val;
          mean[(c * S + i) * S + j] += val / N;
        }
  double base = 0;
  for (int n = 0; n < N; n++)
    for (int i = 0; i < D; i++) base += (x[(size_t)n * D + i] - mean[i]) * (x[(size_t)n * D + i] - mean[i]) / N;
  af_vae_losses l = {0}, first = {0};
  for (int step = 0; step < 800; step++) {
    cr_assert_geq(af_vae_train(v, N, x, &r, &l), 0, "%s", af_nn_ctx_error(ctx));
    if (step == 0) first = l;
  }
  // the reconstruction of each image from its mean latent
  const float *st = af_vae_encode(v, N, x);
  cr_assert(st);
  float z[N * L];
  for (int n = 0; n < N; n++) memcpy(z + n * L, st + n * 2 * L, sizeof(float) * L);
  const float *xh = af_vae_decode(v, N, z);
  double rec = 0;
  for (int i = 0; i < N * D; i++) rec += (xh[i] - x[i]) * (xh[i] - x[i]) / N;
  cr_log_info("recon: first step %.1f, last %.1f (kl %.2f); from the mean latents %.1f; the mean image's %.1f", first.recon, l.recon, l.kl,
              rec, base);
  cr_assert_lt(rec, 0.2 * base, "reconstruction error %.1f against the mean image's %.1f", rec, base);
  free(x), free(mean);
  af_vae_free(v);
}

// the importance-sampled log p(x) with the decoder set by hand (the image 0.75 everywhere,
// whatever z: log p(x|z) = -1/2 6912 0.0625 - 6912/2 log(2 pi) for x = 0.5):
// - q(z|x) the prior (mu 0, lv 0): every weight is 1 and the estimate exact for any K;
// - q(z|x) = N(0.3, 1) in each of the 16 latents: one draw gives log p(x|z) + log p(z)/q(z),
//   whose mean is the exact value minus KL(q || p) = 16 0.3^2 / 2 = 0.72; 2,048 draws get close
//   to the exact value (the weights' variance is e^(16 0.09) - 1 = 3.2)
Test(vae, importance_sampled_log_likelihood_against_values_by_hand) {
  enum { B = 64 };
  af_vae *v = make(B, 20);
  float *x = malloc(sizeof(float) * B * D);
  for (int i = 0; i < B * D; i++) x[i] = 0.5f;
  const double exact = -0.5 * D * 0.0625 - 0.5 * D * log(2 * 3.14159265358979323846);
  af_rng r;
  af_rng_seed(&r, 8);
  double lp[B];
  set_by_hand(v, 0, 0, logf(3));
  cr_assert_eq(af_vae_log_prob(v, lp, 2, x, 5, &r), 0);
  for (int i = 0; i < 2; i++) cr_assert(fabs(lp[i] - exact) < 1e-6 * fabs(exact), "log p %.10g, exact %.10g", lp[i], exact);
  set_by_hand(v, 0.3f, 0, logf(3));
  cr_assert_eq(af_vae_log_prob(v, lp, B, x, 1, &r), 0);
  double mean = 0;
  for (int i = 0; i < B; i++) mean += (lp[i] - exact) / B;
  cr_assert(fabs(mean - (-0.72)) < 0.5, "one draw: mean gap %.3f, by hand -0.72", mean);
  cr_assert_eq(af_vae_log_prob(v, lp, 1, x, 2048, &r), 0);
  cr_assert(fabs(lp[0] - exact) < 0.2 && lp[0] - exact > mean, "2,048 draws: gap %.3f (one draw: %.3f)", lp[0] - exact, mean);
  free(x);
  af_vae_free(v);
}

// p^alpha normalized: log-probabilities log 1 and log 4 with alpha -1/2 give weights
// proportional to 1 and 1/2; alpha 0 is uniform (RIG); huge log-probabilities stay finite
Test(vae, skew_weights_by_hand) {
  double w[3], lp[3] = {0, log(4), -1e4};
  af_skew_weights(w, lp, 2, -0.5);
  cr_assert(fabs(w[0] - 2.0 / 3) < 1e-12 && fabs(w[1] - 1.0 / 3) < 1e-12, "%g %g", w[0], w[1]);
  af_skew_weights(w, lp, 3, 0);
  for (int i = 0; i < 3; i++) cr_assert(fabs(w[i] - 1.0 / 3) < 1e-12);
  af_skew_weights(w, lp, 3, -1);
  cr_assert(isfinite(w[0]) && isfinite(w[2]) && fabs(w[2] - 1) < 1e-12 && w[0] < 1e-300, "%g %g %g", w[0], w[1], w[2]);
}
