// Convolutional encoders and decoders on oneDNN: a stack of 2-D convolutions (stride,
// padding, bias, activation), max-pooling, dense layers over the flattened features, LayerNorm
// with a learned scale and shift (and an optional tanh after it, as SAC-AE's encoder head),
// and for decoders an unflatten (dense features seen as an image) and transposed convolutions. The
// input and the output are plain NCHW floats; inside, each primitive works in the memory
// format oneDNN prefers for it (e.g. channel-blocked activations and weights), with the
// reorders between formats planned at make time. Each convolution runs the algorithm oneDNN
// picks for its shape: Winograd F(4x4, 3x3) for 3x3 stride-1 layers of 16k channels at
// batches from 16 on AVX-512, direct convolution elsewhere. Like af_mlp: primitives, memory objects,
// every buffer and one shared scratchpad are created at make time for each batch size in use;
// forward and backward allocate nothing. Parameters and gradients live in one float array
// each, so Adam, clipping, Polyak averaging and the checkpoint files apply unchanged.
#ifndef AF_CONV_H
#define AF_CONV_H

#include <stddef.h>  // size_t
#include <stdint.h>  // uint8_t

#include "agents/nn/nn.h"
#include "base/rng.h"

#define AF_CONV_MAX_LAYERS 12

typedef enum {
  AF_LAYER_CONV,       // out channels, k x k kernel, stride, zero padding on every side, act
  AF_LAYER_MAXPOOL,    // k x k window, stride, padding (padded cells never win)
  AF_LAYER_DENSE,      // out features over the flattened (C, H, W) input, act
  AF_LAYER_LAYERNORM,  // over each sample's (C, H, W), learned scale and shift, then act
  AF_LAYER_DECONV,     // transposed convolution (a decoder's upsampling): out channels, k x k
                       // kernel, stride, padding; output (in - 1) stride - 2 pad + k; act
  AF_LAYER_UNFLATTEN,  // after a dense layer: its features seen as (out, h, w); no parameters
} af_layer_kind;

typedef struct {
  af_layer_kind kind;
  int out;               // conv, deconv, unflatten: output channels; dense: output features
  int k, stride, pad;    // conv, deconv and max-pool
  af_act act;            // conv, deconv, dense and layernorm (max-pool, unflatten: AF_ACT_NONE)
  int h, w;              // unflatten: the output's height and width (out h w = the features)
} af_conv_layer;

// Parameter layout, layer after layer (PyTorch's, for export and peers):
//   conv       W (out, C, k, k), then b (out)
//   deconv     W (C, out, k, k) (torch.nn.ConvTranspose2d's), then b (out)
//   dense      W (out, C * H * W) with the input flattened in (C, H, W) order, then b (out)
//   layernorm  scale (C * H * W), then shift (C * H * W)
//   max-pool, unflatten   nothing
// LayerNorm normalizes with the biased variance and eps 1e-5, as torch.nn.LayerNorm.
typedef struct af_conv af_conv;

// a stack of nlayers layers over inputs (C, H, W), planned for each of the nbatch batch sizes
// (at most AF_NN_MAX_PLANS). Refused with a message: a layer whose output would be empty, a
// convolution, transposed convolution or pooling after a dense layer without an unflatten
// between, an unflatten anywhere else or of the wrong size, a first layer that is a
// layernorm, sizes out of range, or shapes oneDNN has no implementation for.
af_conv *af_conv_make(af_nn_ctx *ctx, const af_conv_layer *layers, int nlayers, int C, int H, int W,
                      const int *batch_sizes, int nbatch, char *err, size_t errsz);
void af_conv_free(af_conv *net);  // NULL is a no-op

int af_conv_nparams(const af_conv *net);
float *af_conv_params(af_conv *net);
float *af_conv_grads(af_conv *net);
int af_conv_in(const af_conv *net);   // C * H * W of the input
int af_conv_out(const af_conv *net);  // C * H * W of the output: the features a dense net reads
// the output shape of layer l (-1 for the input, nlayers - 1 for the network's output);
// 0, or -1 when l is out of range
int af_conv_shape(const af_conv *net, int l, int *C, int *H, int *W);
// layer l's parameters inside af_conv_params: offset and count of W (or scale) and of b (or
// shift); 0 and 0 for a max-pool; 0, or -1 when l is out of range
int af_conv_layer_params(const af_conv *net, int l, int *woff, int *nw, int *boff, int *nb);

// PyTorch's default initialization: weights and biases of convolutions and dense layers
// uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C k k or C H W; layernorm scale 1,
// shift 0
void af_conv_init(af_conv *net, af_rng *rng);

// out (B, C', H', W') = net(x (B, C, H, W)), both plain NCHW; B must be one of the batch sizes
// given at make (else NULL, recorded as the context's error). The returned buffer belongs to
// the network and holds until the next forward with the same B; x must stay valid until the
// matching backward.
const float *af_conv_forward(af_conv *net, int B, const float *x);

// gradients of a loss given dout (B, out) = dL/d(output) of the last forward with B:
// parameter gradients into grads (overwritten, or added when accumulate) if want_params,
// and dx (B, C, H, W) = dL/dx if dx is not NULL (an encoder of images passes NULL: the first
// layer's data gradient is then not computed at all)
void af_conv_backward(af_conv *net, int B, const float *dout, float *dx, int want_params, int accumulate);

// floating-point operations of one pass at batch B (AF_FLOPS_FORWARD, AF_FLOPS_WEIGHTS,
// AF_FLOPS_DATA_HIDDEN: the data gradient without the first layer's, AF_FLOPS_DATA_ALL),
// counting convolutions and dense layers (multiply-adds as 2)
double af_conv_flops(const af_conv *net, int B, int pass);

// the oneDNN implementation chosen for layer l at batch B: pass 0 forward, 1 backward data,
// 2 backward weights ("" when the layer has none); NULL when l or B is not planned. For
// benchmarks and notes.
const char *af_conv_impl(const af_conv *net, int l, int B, int pass);

// the number of format conversions (reorders) planned at batch B, of data and of weights,
// forward and backward; -1 when B is not planned
int af_conv_reorders(const af_conv *net, int B);

// the image encoder of SAC-AE / DrQ into L (at least conv_layers + 2 entries): a 3x3 stride-2
// convolution, conv_layers - 1 3x3 stride-1 convolutions, all of `filters` channels with ReLU,
// a dense layer to `features`, LayerNorm and tanh; the number of layers
int af_conv_encoder_layers(af_conv_layer *L, int filters, int conv_layers, int features);

// x (n) = frames (n) / 255: uint8 pixels to the floats an encoder reads
void af_conv_from_u8(float *x, const uint8_t *frames, size_t n);

#endif
