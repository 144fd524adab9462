// Crafted checkpoint files for the loader tests: one value of a named tensor changed in place
// and the checksum written again, so that the file passes the format's own checks and only
// what it says is wrong. The format (agents/nn/nn.h) is parsed here on its own: magic,
// version, count, a table of 48-byte names and 64-bit sizes, the data, 64-bit FNV-1a.
#ifndef AF_TEST_CKPT_EDIT_H
#define AF_TEST_CKPT_EDIT_H

#include <criterion/criterion.h>
#include <stdint.h>  // uint32_t, uint64_t
#include <stdio.h>   // FILE
#include <stdlib.h>  // malloc, free
#include <string.h>  // memcpy, strcmp

#include "agents/agent.h"

// value `index` of tensor `name` set to v; 0, or -1 when the file or the tensor is not there
static inline int ckpt_edit(const char *path, const char *name, size_t index, float v) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)size);
  int rc = -1;
  if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) { fclose(f); free(buf); return -1; }
  fclose(f);
  f = NULL;
  // the tensor's place: the table entries before it give its offset in the data
  uint32_t count;
  memcpy(&count, buf + 8, 4);
  size_t data = 12 + (size_t)count * 56;
  for (uint32_t i = 0; i < count && rc; i++) {
    uint64_t n;
    memcpy(&n, buf + 12 + (size_t)i * 56 + 48, 8);
    if (strcmp((const char *)buf + 12 + (size_t)i * 56, name) == 0 && index < n) {
      memcpy(buf + data + 4 * index, &v, 4);
      rc = 0;
    }
    data += 4 * n;
  }
  // the checksum of everything before it, again
  uint64_t h = 0xCBF29CE484222325ull;
  for (long i = 0; i < size - 8; i++) { h ^= buf[i]; h *= 0x100000001B3ull; }
  memcpy(buf + size - 8, &h, 8);
  if (rc == 0 && (!(f = fopen(path, "wb")) || fwrite(buf, 1, (size_t)size, f) != (size_t)size)) rc = -1;
  if (f) fclose(f);
  free(buf);
  return rc;
}

// an agent's checkpoint whose counters or observation statistics a file cannot hold is
// refused with a message naming them (SAC and TD3 share the layout: nine packed words, the
// RNG state in words 5 to 8, and the normalizer's count, means, squared deviations)
static inline void ckpt_crafted_agent_refused(const char *agent) {
  af_env_spec spec = {.obs_dim = 3, .act_dim = 1};
  char err[256];
  af_agent *a = af_agent_make(agent, "{\"hidden\": 8, \"batch\": 4, \"buffer\": 10, \"obs_norm\": true}",
                              &(af_agent_setup){.spec = &spec, .num_envs = 1, .seed = 1}, err, sizeof err);
  cr_assert(a, "%s", err);
  struct { const char *tensor; size_t at; int n; float v[4]; const char *want; } cases[] = {
    {"counters", 0, 1, {0.5f}, "counters are not packed"},
    {"counters", 19, 1, {65535}, "counters are not packed"},  // an observed count beyond a long
    {"counters", 20, 4, {0, 0, 0, 0}, NULL},                  // then words 6 to 8 as well
    {"obs_norm", 0, 1, {-3}, "not packed doubles"},
    {"obs_norm", 16, 4, {0, 0, 0, 0xBFF0}, "squared deviations -1"},  // entry 0's m2 = -1.0
  };
  for (int c = 0; c < 5; c++) {
    cr_assert_eq(af_agent_save(a, "crafted.bin", err, sizeof err), 0, "%s", err);
    for (int k = 0; k < cases[c].n; k++) cr_assert_eq(ckpt_edit("crafted.bin", cases[c].tensor, cases[c].at + (size_t)k, cases[c].v[k]), 0);
    if (!cases[c].want)  // the whole random state zero
      for (size_t k = 24; k < 36; k++) cr_assert_eq(ckpt_edit("crafted.bin", "counters", k, 0), 0);
    err[0] = 0;
    cr_assert_eq(af_agent_load(a, "crafted.bin", err, sizeof err), -1, "%s: case %d was loaded", agent, c);
    const char *want = cases[c].want ? cases[c].want : "random state is all zero";
    cr_assert(strstr(err, want), "%s: case %d: '%s', expected '%s'", agent, c, err, want);
  }
  // the honest file still loads
  cr_assert_eq(af_agent_save(a, "crafted.bin", err, sizeof err), 0, "%s", err);
  cr_assert_eq(af_agent_load(a, "crafted.bin", err, sizeof err), 0, "%s", err);
  remove("crafted.bin");
  af_agent_free(a);
}

#endif
