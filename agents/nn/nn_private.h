// What the network modules of agents/nn share behind the public nn.h: a context's oneDNN
// engine and stream, and its sticky run-time failure. Only files of agents/nn include this.
#ifndef AF_NN_PRIVATE_H
#define AF_NN_PRIVATE_H

#include <oneapi/dnnl/dnnl.h>

#include "agents/nn/nn.h"

dnnl_engine_t af_nn_ctx_engine(const af_nn_ctx *ctx);
dnnl_stream_t af_nn_ctx_stream(const af_nn_ctx *ctx);
// record msg as the context's error unless one is recorded already
void af_nn_ctx_fail(af_nn_ctx *ctx, const char *msg);

#endif
