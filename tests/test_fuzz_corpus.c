// The fuzz targets' seeds and every input they found a problem with (tests/fuzz/corpus/NAME/,
// tests/fuzz/regressions/NAME/), run through the same entry points as the libFuzzer targets
// (tests/fuzz/fuzz_NAME.c): each must come back, so that the sanitizer build of this suite
// catches any crash, leak or undefined behaviour again. The checkpoint target's seeds are
// also checked to be what the loaders accept, so that the corpus keeps its valid files.
#include <criterion/criterion.h>
#include <dirent.h>  // opendir, readdir
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/nn/nn.h"
#include "base/base.h"  // af_read_file_len
#include "tests/fuzz/fuzz.h"

// every regular file of tests/fuzz/KIND/NAME through fn; the number run
static int run_folder(const char *kind, const char *name, af_fuzz_fn fn) {
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/fuzz/%s/%s", AF_TEST_SOURCE, kind, name);
  DIR *d = opendir(path);
  if (!d) return 0;
  int n = 0;
  for (struct dirent *de; (de = readdir(d));) {
    if (de->d_name[0] == '.') continue;
    char file[8192];
    snprintf(file, sizeof file, "%s/%s", path, de->d_name);
    size_t len = 0;
    char *data = af_read_file_len(file, &len);
    cr_assert(data, "cannot read %s", file);
    cr_log_info("%s", file);
    fn((const uint8_t *)data, len);
    free(data);
    n++;
  }
  closedir(d);
  return n;
}

static void run_target(const char *name, af_fuzz_fn fn, int min_seeds) {
  int seeds = run_folder("corpus", name, fn);
  run_folder("regressions", name, fn);
  cr_assert_geq(seeds, min_seeds, "tests/fuzz/corpus/%s holds %d seeds", name, seeds);
}

Test(fuzz_corpus, experiment, .timeout = 300) { run_target("experiment", af_fuzz_experiment, 3); }
Test(fuzz_corpus, env_config, .timeout = 300) { run_target("env_config", af_fuzz_env_config, 3); }
Test(fuzz_corpus, checkpoint, .timeout = 300) { run_target("checkpoint", af_fuzz_checkpoint, 3); }

// the valid seeds are still valid: written again by the harness, they are the same bytes
// up to the format, and each loads where the harness loads it
Test(fuzz_corpus, checkpoint_seeds_are_current) {
  // AF_FUZZ_SEEDS_OUT=tests/fuzz/corpus/checkpoint writes them there instead, once
  const char *out = getenv("AF_FUZZ_SEEDS_OUT");
  if (out && *out) {
    cr_assert_eq(af_fuzz_checkpoint_seeds(out), 0);
    return;
  }
  cr_assert_eq(af_fuzz_checkpoint_seeds("."), 0);
  const char *files[3] = {"nn.bin", "agent.bin", "replay.bin"};
  for (int i = 0; i < 3; i++) {
    char committed[4096];
    snprintf(committed, sizeof committed, "%s/tests/fuzz/corpus/checkpoint/%s", AF_TEST_SOURCE, files[i]);
    size_t a = 0, b = 0;
    char *x = af_read_file_len(files[i], &a), *y = af_read_file_len(committed, &b);
    cr_assert(x && y, "%s missing", files[i]);
    cr_assert(a == b && memcmp(x, y, a) == 0, "tests/fuzz/corpus/checkpoint/%s is not what the harness writes now "
              "(write them again: AF_FUZZ_SEEDS_OUT=$PWD/tests/fuzz/corpus/checkpoint build/test_fuzz_corpus)", files[i]);
    // and each is what its loader takes
    const int want[3] = {AF_FUZZ_TABLE, AF_FUZZ_AGENT, AF_FUZZ_REPLAY};
    cr_assert(af_fuzz_checkpoint((const uint8_t *)y, b) & want[i], "the harness does not load its own %s", files[i]);
    free(x);
    free(y);
    remove(files[i]);
  }
}
