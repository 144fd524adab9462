// Fuzz target: the bytes as a checkpoint file, loaded three ways: into a fixed table of two
// tensors (af_nn_load, af_nn_load_first), into a small SAC agent with observation
// normalization (af_agent_load, then one deterministic act), and into a replay buffer with
// two streams and hindsight relabelling (af_replay_load, then samples that relabel); then
// all of it again with the file's checksum made right, since a mutation rarely keeps it. The
// file lives in a temporary folder of its own, removed at exit; nothing else is written.
#include "tests/fuzz/fuzz.h"

#include <math.h>    // fabsf
#include <stdio.h>   // FILE, snprintf
#include <stdlib.h>  // getenv, mkdtemp, atexit, malloc
#include <string.h>  // memcpy
#include <unistd.h>  // rmdir

#include "agents/agent.h"
#include "agents/nn/nn.h"
#include "agents/replay.h"

enum { OD = 3, AD = 1, R_OD = 5, R_AD = 1, R_GD = 2, R_CAP = 16, R_STREAMS = 2 };

// ---- what the bytes are loaded into, made once ----
static char dir[4096], input[4200];
static af_agent *agent;
static af_replay replay;
static af_env_spec spec = {.obs_dim = OD, .act_dim = AD};

// the distance-threshold reward of the goal tasks, on the replay's 2-D goals
static float goal_reward(const void *ctx, const float *ag, const float *dg) {
  (void)ctx;
  return fabsf(ag[0] - dg[0]) + fabsf(ag[1] - dg[1]) < 0.05f ? 0.0f : -1.0f;
}

static void cleanup(void) {
  af_agent_free(agent);
  af_replay_free(&replay);
  if (input[0]) remove(input);
  if (dir[0]) rmdir(dir);
}

static int make_targets(char *err, size_t errsz) {
  agent = af_agent_make("sac", "{\"hidden\": 8, \"batch\": 4, \"buffer\": 16, \"obs_norm\": true}",
                        &(af_agent_setup){.spec = &spec, .num_envs = 1, .seed = 1}, err, errsz);
  af_her_cfg her = {.strategy = AF_HER_FUTURE, .k = 4, .streams = R_STREAMS, .achieved_offset = 1, .desired_offset = 3,
                    .reward = goal_reward};
  return agent && !af_replay_init(&replay, R_CAP, R_OD, R_AD, R_GD, err, errsz) && !af_replay_set_her(&replay, &her, err, errsz) ? 0 : -1;
}

// the temporary folder and the targets, once per process
static int ready(void) {
  static int state;  // 0 not yet, 1 ready, -1 failed
  if (state) return state > 0;
  char err[256];
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/af_fuzz_ckpt_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  state = mkdtemp(dir) && make_targets(err, sizeof err) == 0 ? 1 : -1;
  if (state < 0) fprintf(stderr, "fuzz_checkpoint: cannot set up: %s\n", dir[0] ? err : "no temporary folder");
  snprintf(input, sizeof input, "%s/input.bin", dir);
  atexit(cleanup);
  return state > 0;
}

// the bytes as the file, loaded every way; which ways loaded it
static int load_all(const uint8_t *data, size_t size) {
  FILE *f = fopen(input, "wb");
  if (!f) return 0;
  int ok = fwrite(data, 1, size, f) == size;
  if (fclose(f) != 0 || !ok) return 0;
  char err[512];
  // a fixed table, exactly and as the first tensors of a longer file
  float a[4], b[3];
  af_tensor t[2] = {{"a", a, 4}, {"b", b, 3}};
  int loaded = af_nn_load(input, t, 2, err, sizeof err) == 0 ? AF_FUZZ_TABLE : 0;
  af_nn_load_first(input, t, 1, err, sizeof err);
  // the agent, which then acts on what it loaded
  float obs[OD] = {0.5f, -0.5f, 0}, act[AD];
  if (af_agent_load(agent, input, err, sizeof err) == 0) {
    loaded |= AF_FUZZ_AGENT;
    af_agent_act(agent, act, obs, 1, 1);
  }
  // the replay buffer, sampled with relabelling
  if (af_replay_load(&replay, input, err, sizeof err) == 0) {
    loaded |= AF_FUZZ_REPLAY;
    float so[8 * R_OD], sa[8 * R_AD], sr[8], sn[8 * R_OD], sd[8];
    af_rng rng;
    af_rng_seed(&rng, 3);
    af_replay_sample(&replay, &rng, 8, so, sa, sr, sn, sd);
  }
  return loaded;
}

// the checksum the format ends with (64-bit FNV-1a of everything before it), written here
// on its own
static uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001B3ull; }
  return h;
}

int af_fuzz_checkpoint(const uint8_t *data, size_t size) {
  if (!ready()) return 0;
  int loaded = load_all(data, size);
  // again with the checksum made right, so that mutations reach the checks behind it
  uint8_t *fixed = size >= 20 ? malloc(size) : NULL;
  if (fixed) {
    memcpy(fixed, data, size);
    uint64_t h = fnv1a(fixed, size - 8);
    memcpy(fixed + size - 8, &h, 8);
    loaded |= load_all(fixed, size);
    free(fixed);
  }
  return loaded;
}

int af_fuzz_checkpoint_seeds(const char *out) {
  if (!ready()) return -1;
  char err[512], path[4200];
  // the table
  float a[4] = {1, 2, 3, 4}, b[3] = {-1, 0, 1};
  af_tensor t[2] = {{"a", a, 4}, {"b", b, 3}};
  snprintf(path, sizeof path, "%s/nn.bin", out);
  if (af_nn_save(path, t, 2, err, sizeof err)) return -1;
  snprintf(path, sizeof path, "%s/agent.bin", out);
  if (af_agent_save(agent, path, err, sizeof err)) return -1;
  // two streams' episodes of 3 to 6 steps, every other one terminated, wrapping the ring
  float o[R_STREAMS][R_OD] = {{0}}, n[R_OD], ac[R_AD] = {0.25f};
  int len[R_STREAMS] = {0};
  for (int k = 0; k < 40; k++) {
    int s = k % R_STREAMS, end = ++len[s] >= 3 + (k / R_STREAMS) % 4;
    for (int j = 0; j < R_OD; j++) n[j] = o[s][j] + 0.1f * (float)(j + 1);
    af_replay_add(&replay, o[s], ac, -1, n, end && (k / 7) % 2, n + 1, n + 3);
    memcpy(o[s], n, sizeof n);
    if (end) { len[s] = 0; for (int j = 0; j < R_OD; j++) o[s][j] = (float)k; }
  }
  snprintf(path, sizeof path, "%s/replay.bin", out);
  return af_replay_save(&replay, path, err, sizeof err);
}

#ifdef AF_FUZZ_TARGET
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  af_fuzz_checkpoint(data, size);
  return 0;
}
#endif
