// The reward classifier of VICE and VICE-RAQ (see vice.h): a table, the positives and the
// visited states, mixup batches under the binary cross-entropy, the hook, the queries.
#include "agents/vice.h"

#include <math.h>    // exp, log1p, fabs, pow
#include <stdio.h>   // snprintf
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy, strcmp

#include "agents/nn/nn.h"
#include "base/base.h"
#include "base/rng.h"

// ---- the table ----
const af_param af_vice_params[] = {
  {"mode", AF_P_ENUM, offsetof(af_vice_cfg, mode), 1, 0, 3, "naive|vice|vice_raq|hand_distance",
   "naive: trained on the first states, then frozen; vice: keeps training on visited states; vice_raq: also queries the true label; hand_distance: no classifier, minus the hand's distance to the nearest example's hand position"},
  {"examples", AF_P_INT, offsetof(af_vice_cfg, examples), 80, 1, 100000, NULL, "success examples (positives) given"},
  {"examples_file", AF_P_STRING, offsetof(af_vice_cfg, examples_file), 0, 0, 0, "", "a CSV of armfarm examples (header obs_0,...) with at least `examples` rows; \"\": the environment's solver"},
  {"hidden", AF_P_INT, offsetof(af_vice_cfg, hidden), 256, 1, 4096, NULL, "units per hidden layer of the classifier"},
  {"layers", AF_P_INT, offsetof(af_vice_cfg, layers), 2, 1, 6, NULL, "hidden layers of the classifier"},
  {"lr", AF_P_DOUBLE, offsetof(af_vice_cfg, lr), 1e-4, 1e-7, 1, NULL, "Adam step size of the classifier"},
  {"updates_per_1k", AF_P_INT, offsetof(af_vice_cfg, updates_per_1k), 10, 0, 100000, NULL, "classifier updates per 1,000 environment steps (vice, vice_raq)"},
  {"batch", AF_P_INT, offsetof(af_vice_cfg, batch), 128, 1, 4096, NULL, "positives per update, and as many negatives"},
  {"mixup_alpha", AF_P_DOUBLE, offsetof(af_vice_cfg, mixup_alpha), 1, 0, 100, NULL, "mixup's Beta(alpha, alpha) mixing weight (0: no mixup)"},
  {"naive_steps", AF_P_INT, offsetof(af_vice_cfg, naive_steps), 5000, 1, 100000000, NULL, "naive: the first steps, whose states are the negatives"},
  {"naive_updates", AF_P_INT, offsetof(af_vice_cfg, naive_updates), 1000, 1, 10000000, NULL, "naive: updates made after naive_steps, before freezing"},
  {"query_every", AF_P_INT, offsetof(af_vice_cfg, query_every), 1, 1, 1000000, NULL, "vice_raq: epochs of 1,000 steps between queries"},
  {"max_queries", AF_P_INT, offsetof(af_vice_cfg, max_queries), 75, 0, 100000, NULL, "vice_raq: the oracle's budget of queries"},
  {"reward_clip", AF_P_DOUBLE, offsetof(af_vice_cfg, reward_clip), 20, 0.01, 1e6, NULL, "the reward is the logit clipped to [-reward_clip, reward_clip]"},
  {"capacity", AF_P_INT, offsetof(af_vice_cfg, capacity), 1000000, 1000, 10000000, NULL, "visited states kept for negatives (a ring)"},
  {"hand_offset", AF_P_INT, offsetof(af_vice_cfg, hand_offset), 0, 0, 100000, NULL, "hand_distance: the observation entries hand_offset.. +2 are the hand position"},
  {"hand_success_dist", AF_P_DOUBLE, offsetof(af_vice_cfg, hand_success_dist), 0.02, 1e-4, 10, NULL,
   "hand_distance: the hand counts as at a success (learned_success) within this distance (m) of an example's hand position"},
};
const int af_vice_nparams = (int)(sizeof af_vice_params / sizeof af_vice_params[0]);

int af_vice_configure(af_vice_cfg *c, const cJSON *section, char *err, size_t errsz) {
  af_params_default(c, af_vice_params, af_vice_nparams);
  if (section && !cJSON_IsObject(section)) { snprintf(err, errsz, "reward: expected an object (reward-learning keys)"); return -1; }
  for (const cJSON *it = section ? section->child : NULL; it; it = it->next) {
    const af_param *p = af_params_find(af_vice_params, af_vice_nparams, it->string);
    if (!p) {
      const char *sg = af_params_suggest(af_vice_params, af_vice_nparams, it->string);
      snprintf(err, errsz, "reward.%s: unknown key%s%s%s", it->string, sg ? " (did you mean '" : "", sg ? sg : "", sg ? "'?)" : "");
      return -1;
    }
    if (af_param_set(c, p, it, "reward", err, errsz)) return -1;
  }
  return 0;
}

// ---- the learner ----
#define EPOCH 1000  // environment steps per epoch (updates and queries are counted in them)

struct af_vice {
  af_vice_cfg c;
  int od, B2, hook_batch, n_envs;
  af_nn_ctx *ctx;
  af_mlp *net;
  af_adam adam;
  af_rng rng;
  // positives (examples, then confirmed queries) and the ring of visited states
  float *pos, *vis;
  uint8_t *vis_ok;
  int npos, cap_pos;
  long nvis, head;   // states held; the next slot
  // counters
  long steps, updates, skipped;
  int queries, confirmed, frozen;
  float loss;
  // one update's batch as drawn (raw, yraw), mixed (x, y), mixing weights, logit gradients,
  // the partners
  float *raw, *yraw, *x, *y, *lam, *dz;
  int *perm;
  char err[256];
  int failed;
};

// Gamma(a, 1) by Marsaglia and Tsang (a < 1 through Gamma(a + 1) U^(1/a))
static double gamma_draw(af_rng *r, double a) {
  if (a < 1) return gamma_draw(r, a + 1) * pow(af_rng_uniform(r), 1 / a);
  double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
  for (;;) {
    double x = af_rng_normal(r), v = 1 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    double u = af_rng_uniform(r);
    if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) return d * v;
  }
}

static double beta_draw(af_rng *r, double a) {
  double x = gamma_draw(r, a), y = gamma_draw(r, a);
  return x + y > 0 ? x / (x + y) : 0.5;
}

// the positives: the environment's solver, or the rows of an examples file
static int load_examples(af_vice *v, af_env *env, uint64_t seed, char *err, size_t errsz) {
  const int K = v->c.examples, od = v->od;
  if (!v->c.examples_file[0]) {
    if (!env) { snprintf(err, errsz, "reward: no environment to draw success examples from"); return -1; }
    int rc = af_env_success_examples(env, seed, K, v->pos);
    if (rc) { snprintf(err, errsz, "reward: success examples: %s", af_env_last_error(env)); return -1; }
    v->npos = K;
    return 0;
  }
  char *text = af_read_file(v->c.examples_file);
  if (!text) { snprintf(err, errsz, "reward.examples_file: cannot read %s", v->c.examples_file); return -1; }
  int rc = -1, row = 0;
  char *save = NULL, *line = strtok_r(text, "\n", &save);  // the header
  for (line = line ? strtok_r(NULL, "\n", &save) : NULL; line && row < K; line = strtok_r(NULL, "\n", &save), row++) {
    char *fs = NULL, *f = strtok_r(line, ",\r", &fs);
    int k = 0;
    for (; f && k < od; f = strtok_r(NULL, ",\r", &fs), k++) {
      double x;
      if (af_parse_double(f, -1e30, 1e30, &x)) { snprintf(err, errsz, "reward.examples_file: %s: row %d, column %d: '%.40s' is no number", v->c.examples_file, row + 1, k, f); goto done; }
      v->pos[(size_t)row * od + k] = (float)x;
    }
    if (k != od || f) { snprintf(err, errsz, "reward.examples_file: %s: row %d has %s than the %d observation entries", v->c.examples_file, row + 1, f ? "more" : "fewer", od); goto done; }
  }
  if (row < K) { snprintf(err, errsz, "reward.examples_file: %s: %d examples, %d asked for", v->c.examples_file, row, K); goto done; }
  v->npos = K;
  rc = 0;
done:
  free(text);
  return rc;
}

af_vice *af_vice_make(const af_vice_cfg *c, const af_env_spec *spec, af_env *env, uint64_t seed, int hook_batch, int n_envs,
                      char *err, size_t errsz) {
  af_vice *v = calloc(1, sizeof *v);
  if (!v) { snprintf(err, errsz, "out of memory"); return NULL; }
  v->c = *c;
  v->od = spec->obs_dim;
  v->B2 = 2 * c->batch;
  v->hook_batch = hook_batch;
  v->n_envs = n_envs;
  v->cap_pos = c->examples + (c->mode == AF_VICE_RAQ ? c->max_queries : 0);
  if (c->mode == AF_VICE_HAND && c->hand_offset + 3 > v->od) {
    snprintf(err, errsz, "reward.hand_offset: %d, but the hand's 3 entries must fit in the observation's %d", c->hand_offset, v->od);
    free(v);
    return NULL;
  }
  af_rng_seed(&v->rng, af_seed_derive(seed, 31));
  // the classifier: observation -> hidden layers (ReLU) -> logit, planned for the update's
  // batch, the agent's batch, single observations and a step's states
  int sizes[AF_NN_MAX_LAYERS + 1], L = c->layers + 1, bs[4], nb = 0;
  sizes[0] = v->od;
  for (int l = 1; l < L; l++) sizes[l] = c->hidden;
  sizes[L] = 1;
  const int want[4] = {v->B2, hook_batch, 1, n_envs};
  for (int i = 0; i < 4; i++) {
    int dup = want[i] < 1;
    for (int k = 0; k < nb; k++) dup |= bs[k] == want[i];
    if (!dup) bs[nb++] = want[i];
  }
  size_t od = (size_t)v->od;
  v->pos = calloc((size_t)v->cap_pos * od, sizeof(float));
  v->vis = calloc((size_t)c->capacity * od, sizeof(float));
  v->vis_ok = calloc((size_t)c->capacity, 1);
  v->raw = calloc((size_t)v->B2 * (2 * od + 4), sizeof(float));
  v->perm = calloc((size_t)v->B2, sizeof(int));
  if (!v->pos || !v->vis || !v->vis_ok || !v->raw || !v->perm) { snprintf(err, errsz, "out of memory"); af_vice_free(v); return NULL; }
  v->x = v->raw + (size_t)v->B2 * od;
  v->yraw = v->x + (size_t)v->B2 * od;
  v->y = v->yraw + v->B2;
  v->lam = v->y + v->B2;
  v->dz = v->lam + v->B2;
  if (!(v->ctx = af_nn_ctx_make(1, 1, err, errsz)) ||
      !(v->net = af_mlp_make(v->ctx, L, sizes, AF_ACT_RELU, AF_ACT_NONE, bs, nb, err, errsz)) ||
      af_adam_init(&v->adam, af_mlp_nparams(v->net), (float)c->lr, err, errsz)) {
    af_vice_free(v);
    return NULL;
  }
  af_mlp_init(v->net, &v->rng);
  if (load_examples(v, env, af_seed_derive(seed, 32), err, errsz)) { af_vice_free(v); return NULL; }
  return v;
}

void af_vice_free(af_vice *v) {
  if (!v) return;
  af_adam_free(&v->adam);
  af_mlp_free(v->net);
  af_nn_ctx_free(v->ctx);
  free(v->pos);
  free(v->vis);
  free(v->vis_ok);
  free(v->raw);
  free(v->perm);
  free(v);
}

// a sticky failure of the classifier, reported by the next observe
static void fail(af_vice *v, const char *what) {
  if (v->failed) return;
  v->failed = 1;
  const char *e = af_nn_ctx_error(v->ctx);
  snprintf(v->err, sizeof v->err, "reward classifier: %s%s%s", what, e ? ": " : "", e ? e : "");
}

// logits of n observations (n a planned batch size), or NULL after a failure
static const float *logits(af_vice *v, int n, const float *obs) {
  af_nn_ctx_enter(v->ctx);
  const float *z = af_mlp_forward(v->net, n, obs);
  af_nn_ctx_leave(v->ctx);
  if (!z) fail(v, "a forward pass failed");
  return z;
}

// hand_distance: the distance of an observation's hand to the nearest example's hand position
static double hand_distance(const af_vice *v, const float *obs) {
  const int o = v->c.hand_offset;
  double best = INFINITY;
  for (int k = 0; k < v->npos; k++) {
    const float *p = v->pos + (size_t)k * v->od + o;
    double dx = obs[o] - p[0], dy = obs[o + 1] - p[1], dz = obs[o + 2] - p[2], d2 = dx * dx + dy * dy + dz * dz;
    if (d2 < best) best = d2;
  }
  return sqrt(best);
}

void af_vice_reward_hook(void *ctx, int B, const float *obs, const float *act, const float *next_obs, float *rew) {
  (void)obs;
  (void)act;
  af_vice *v = ctx;
  if (v->c.mode == AF_VICE_HAND) {
    for (int b = 0; b < B; b++) rew[b] = (float)-hand_distance(v, next_obs + (size_t)b * v->od);
    return;
  }
  const float *z = logits(v, B, next_obs);
  const float c = (float)v->c.reward_clip;
  for (int b = 0; b < B && z; b++) rew[b] = z[b] > c ? c : z[b] < -c ? -c : z[b];
}

double af_vice_prob(af_vice *v, const float *obs) {
  if (v->c.mode == AF_VICE_HAND) return hand_distance(v, obs) <= v->c.hand_success_dist ? 1.0 : 0.0;
  const float *z = logits(v, 1, obs);
  return z ? 1 / (1 + exp(-(double)z[0])) : NAN;
}

// one step of Adam on a mixed-up batch of positives and negatives
static void classifier_update(af_vice *v) {
  const int B = v->c.batch, B2 = v->B2;
  const size_t od = (size_t)v->od;
  // the batch: B positives (label 1), B visited states (label 0)
  for (int k = 0; k < B2; k++) {
    const float *src = k < B ? v->pos + (size_t)(af_rng_next(&v->rng) % (uint64_t)v->npos) * od
                             : v->vis + (size_t)(af_rng_next(&v->rng) % (uint64_t)v->nvis) * od;
    memcpy(v->raw + k * od, src, od * sizeof(float));
    v->yraw[k] = k < B ? 1.0f : 0.0f;
  }
  // mixup: sample k mixed with its partner perm[k] of a random permutation, by a weight
  // drawn from Beta(alpha, alpha); without mixup the batch as drawn
  for (int k = 0; k < B2; k++) { v->perm[k] = k; v->lam[k] = 1; }
  if (v->c.mixup_alpha > 0) {
    for (int k = B2 - 1; k > 0; k--) {
      int j = (int)(af_rng_next(&v->rng) % (uint64_t)(k + 1)), t = v->perm[k];
      v->perm[k] = v->perm[j];
      v->perm[j] = t;
    }
    for (int k = 0; k < B2; k++) v->lam[k] = (float)beta_draw(&v->rng, v->c.mixup_alpha);
  }
  for (int k = 0; k < B2; k++) {
    const float l = v->lam[k], *a = v->raw + k * od, *b = v->raw + (size_t)v->perm[k] * od;
    for (size_t i = 0; i < od; i++) v->x[k * od + i] = l * a[i] + (1 - l) * b[i];
    v->y[k] = l * v->yraw[k] + (1 - l) * v->yraw[v->perm[k]];
  }
  // the loss and its gradient in the logits
  af_nn_ctx_enter(v->ctx);
  const float *z = af_mlp_forward(v->net, B2, v->x);
  if (!z) { af_nn_ctx_leave(v->ctx); fail(v, "a forward pass failed"); return; }
  double loss = 0;
  for (int k = 0; k < B2; k++) {
    double zk = z[k], yk = v->y[k];
    loss += fmax(zk, 0) - yk * zk + log1p(exp(-fabs(zk)));
    v->dz[k] = (float)((1 / (1 + exp(-zk)) - yk) / B2);
  }
  v->loss = (float)(loss / B2);
  af_mlp_backward(v->net, B2, v->dz, NULL, 1, 0);
  // nothing non-finite reaches the parameters
  const float *g = af_mlp_grads(v->net);
  if (isfinite(v->loss) && af_nn_finite(g, (size_t)af_mlp_nparams(v->net))) af_adam_step(&v->adam, af_mlp_params(v->net), g);
  else v->skipped++;
  af_nn_ctx_leave(v->ctx);
  if (af_nn_ctx_error(v->ctx)) fail(v, "an update failed");
  v->updates++;
}

// ---- visited states, the schedule, queries ----

// the ring index of the j-th most recent visited state (j = 0: the last)
static long recent(const af_vice *v, long j) { return (v->head - 1 - j + v->c.capacity) % v->c.capacity; }

// vice_raq: the latest epoch's visited state with the highest learned reward, labelled by
// its stored true success; a success joins the positives
static void query(af_vice *v) {
  long n = v->nvis < EPOCH ? v->nvis : EPOCH, best = -1;
  float best_z = -INFINITY;
  for (long j = 0; j < n && !v->failed; j += v->B2) {
    // score the states in chunks of the update's batch (copied: the ring may wrap)
    int m = (int)(n - j < v->B2 ? n - j : v->B2);
    for (int k = 0; k < v->B2; k++)
      memcpy(v->raw + (size_t)k * v->od, v->vis + (size_t)recent(v, j + (k < m ? k : 0)) * v->od, sizeof(float) * v->od);
    const float *z = logits(v, v->B2, v->raw);
    for (int k = 0; z && k < m; k++)
      if (z[k] > best_z) { best_z = z[k]; best = recent(v, j + k); }
  }
  if (best < 0) return;
  v->queries++;
  if (v->vis_ok[best] && v->npos < v->cap_pos) {
    memcpy(v->pos + (size_t)v->npos * v->od, v->vis + (size_t)best * v->od, sizeof(float) * v->od);
    v->npos++;
    v->confirmed++;
  }
}

int af_vice_observe(af_vice *v, const float *next_obs, const uint8_t *success, int n, char *err, size_t errsz) {
  for (int i = 0; i < n; i++) {
    // the visited state, and (for queries only) whether it was a success
    memcpy(v->vis + (size_t)v->head * v->od, next_obs + (size_t)i * v->od, sizeof(float) * v->od);
    v->vis_ok[v->head] = success[i] != 0;
    v->head = (v->head + 1) % v->c.capacity;
    if (v->nvis < v->c.capacity) v->nvis++;
    v->steps++;
    // the updates due: naive once, at naive_steps; vice and vice_raq at their rate
    if (v->c.mode == AF_VICE_HAND) continue;  // nothing to train
    if (v->c.mode == AF_VICE_NAIVE) {
      if (!v->frozen && v->steps >= v->c.naive_steps) {
        for (int k = 0; k < v->c.naive_updates && !v->failed; k++) classifier_update(v);
        v->frozen = 1;
      }
    } else {
      while (v->updates < v->steps * v->c.updates_per_1k / EPOCH && !v->failed) classifier_update(v);
      if (v->c.mode == AF_VICE_RAQ && v->steps % EPOCH == 0 && (v->steps / EPOCH) % v->c.query_every == 0 && v->queries < v->c.max_queries)
        query(v);
    }
  }
  if (v->failed) { snprintf(err, errsz, "%s", v->err); return AF_ERR_NUMERIC; }
  return AF_OK;
}

void af_vice_get_stats(const af_vice *v, af_vice_stats *s) {
  *s = (af_vice_stats){.updates = v->updates, .skipped = v->skipped, .positives = v->npos, .queries = v->queries,
                       .confirmed = v->confirmed, .loss = v->loss, .frozen = v->frozen};
}

void af_vice_last_batch(const af_vice *v, const float **x, const float **y, int *n) {
  *x = v->x;
  *y = v->y;
  *n = v->B2;
}

// ---- checkpoints ----
enum { V_WORDS = 9 };

int af_vice_save(const af_vice *v, const char *path, char *err, size_t errsz) {
  float head[4 * V_WORDS + 16], adam_t[4];
  const long w[V_WORDS] = {v->npos, v->nvis, v->head, v->steps, v->updates, v->skipped, v->queries, v->confirmed, v->frozen};
  for (int i = 0; i < V_WORDS; i++) af_nn_pack_u64(head + 4 * i, (uint64_t)w[i]);
  for (int i = 0; i < 4; i++) af_nn_pack_u64(head + 4 * V_WORDS + 4 * i, v->rng.s[i]);
  af_nn_pack_u64(adam_t, (uint64_t)v->adam.t);
  float *ok = malloc(sizeof(float) * (size_t)(v->nvis + 1));
  if (!ok) { snprintf(err, errsz, "out of memory"); return -1; }
  for (long i = 0; i < v->nvis; i++) ok[i] = v->vis_ok[i];
  const size_t np = (size_t)af_mlp_nparams(v->net), od = (size_t)v->od;
  af_tensor t[8] = {{"vice", head, 4 * V_WORDS + 16}, {"vice_params", af_mlp_params(v->net), np}, {"vice_adam_m", v->adam.m, np},
                    {"vice_adam_v", v->adam.v, np}, {"vice_adam_t", adam_t, 4}, {"vice_positives", v->pos, (size_t)v->npos * od},
                    {"vice_visited", v->vis, (size_t)v->nvis * od}, {"vice_visited_ok", ok, (size_t)v->nvis}};
  int rc = af_nn_save(path, t, 8, err, errsz);
  free(ok);
  return rc;
}

int af_vice_load(af_vice *v, const char *path, char *err, size_t errsz) {
  // the header first: the counts it gives are checked before they size anything
  float head[4 * V_WORDS + 16], adam_t[4];
  af_tensor h = {"vice", head, 4 * V_WORDS + 16};
  if (af_nn_load_first(path, &h, 1, err, errsz)) return -1;
  if (!af_nn_packed_ok(head, V_WORDS + 4)) { snprintf(err, errsz, "%s: the reward learner's counters are not packed counts", path); return -1; }
  uint64_t w[V_WORDS];
  for (int i = 0; i < V_WORDS; i++) w[i] = af_nn_unpack_u64(head + 4 * i);
  if (w[0] < 1 || w[0] > (uint64_t)v->cap_pos || w[1] > (uint64_t)v->c.capacity || w[2] >= (uint64_t)v->c.capacity || w[3] > (1ull << 40) ||
      w[4] > (1ull << 40) || w[5] > w[4] || w[6] > (uint64_t)v->c.max_queries || w[7] > w[6] || w[8] > 1 ||
      (w[1] < (uint64_t)v->c.capacity && w[2] != w[1]) || w[0] != (uint64_t)v->c.examples + w[7]) {
    snprintf(err, errsz, "%s: the reward learner's counts do not fit its configuration", path);
    return -1;
  }
  const size_t np = (size_t)af_mlp_nparams(v->net), od = (size_t)v->od;
  float *ok = malloc(sizeof(float) * (size_t)(w[1] + 1)), *params = malloc(sizeof(float) * np * 3);
  int rc = -1;
  if (!ok || !params) { snprintf(err, errsz, "out of memory"); goto done; }
  af_tensor t[8] = {h, {"vice_params", params, np}, {"vice_adam_m", params + np, np}, {"vice_adam_v", params + 2 * np, np},
                    {"vice_adam_t", adam_t, 4}, {"vice_positives", v->pos, (size_t)w[0] * od},
                    {"vice_visited", v->vis, (size_t)w[1] * od}, {"vice_visited_ok", ok, (size_t)w[1]}};
  if (af_nn_load(path, t, 8, err, errsz)) goto done;
  for (uint64_t i = 0; i < w[1]; i++)
    if (ok[i] != 0 && ok[i] != 1) { snprintf(err, errsz, "%s: a visited state's success flag is %g", path, ok[i]); goto done; }
  if (!af_nn_packed_ok(adam_t, 1)) { snprintf(err, errsz, "%s: the optimizer's step count is not a packed count", path); goto done; }
  // everything checked: the learner takes it
  memcpy(af_mlp_params(v->net), params, np * sizeof(float));
  memcpy(v->adam.m, params + np, np * sizeof(float));
  memcpy(v->adam.v, params + 2 * np, np * sizeof(float));
  v->adam.t = (double)af_nn_unpack_u64(adam_t);
  for (uint64_t i = 0; i < w[1]; i++) v->vis_ok[i] = ok[i] != 0;
  v->npos = (int)w[0];
  v->nvis = (long)w[1];
  v->head = (long)w[2];
  v->steps = (long)w[3];
  v->updates = (long)w[4];
  v->skipped = (long)w[5];
  v->queries = (int)w[6];
  v->confirmed = (int)w[7];
  v->frozen = (int)w[8];
  for (int i = 0; i < 4; i++) v->rng.s[i] = af_nn_unpack_u64(head + 4 * V_WORDS + 4 * i);
  rc = 0;
done:
  free(ok);
  free(params);
  return rc;
}
