// Policy export: a deterministic policy (af_policy: normalization, dense layers, tanh squash)
// written as an ONNX model or as dependency-free C99, so that it runs without the harness.
//
// ONNX (opset 13, IR version 7): input "obs" float [batch, obs_dim], output "action" float
// [batch, act_dim]; the graph is Sub/Div/Clip for the normalization, MatMul/Add and
// Relu/Tanh per layer, then Slice of the first act_dim outputs and Tanh when the policy
// squashes. Actions are in [-1, 1], the harness's action space.
//
// C: NAME.h declares `int policy_act(const float *obs, float *action)` and the sizes
// (POLICY_OBS_DIM, POLICY_ACT_DIM); NAME.c holds the weights as exact float literals and sums
// in double. policy_act returns 0, or -1 (and no action) for a non-finite observation.
#ifndef AF_EXPORT_H
#define AF_EXPORT_H

#include <stddef.h>

#include "agents/agent.h"

// a policy whose numbers are all finite and whose layers chain from obs_dim to at least
// act_dim outputs (both exports check it first); 0, or -1 with a message
int af_export_check(const af_policy *p, char *err, size_t errsz);

// both write atomically; 0, or -1 with a message
int af_export_onnx(const af_policy *p, const char *path, char *err, size_t errsz);
// base: the path without its extension; writes base.h and base.c
int af_export_c(const af_policy *p, const char *base, char *err, size_t errsz);

#endif
