// The fuzz harness's entry points: one per target, each taking any bytes and never failing
// on them (a crash, a sanitizer report, a leak or a hang is the finding; what they return is
// for the corpus test, libFuzzer's entry always returns 0). Each tests/fuzz/
// fuzz_<name>.c defines af_fuzz_<name>, and with AF_FUZZ_TARGET also libFuzzer's entry
// calling it; the same files link into tests/test_fuzz_corpus.c, which runs every seed and
// every saved crash through them in the normal suite.
#ifndef AF_FUZZ_H
#define AF_FUZZ_H

#include <stddef.h>  // size_t
#include <stdint.h>  // uint8_t

// an experiment file (armfarm run's checker: JSON, sweep, each variant's run document)
int af_fuzz_experiment(const uint8_t *data, size_t size);
// byte 0 chooses pendulum, door_open or puck_push; the rest is its JSON config
int af_fuzz_env_config(const uint8_t *data, size_t size);
// the bytes as a checkpoint file: a tensor table, a SAC agent, a replay buffer with
// relabelling; returns which of them loaded it (AF_FUZZ_TABLE | AF_FUZZ_AGENT | AF_FUZZ_REPLAY)
enum { AF_FUZZ_TABLE = 1, AF_FUZZ_AGENT = 2, AF_FUZZ_REPLAY = 4 };
int af_fuzz_checkpoint(const uint8_t *data, size_t size);

// the checkpoint target's valid seeds written into dir (nn.bin, agent.bin, replay.bin); 0 or -1
int af_fuzz_checkpoint_seeds(const char *dir);

// the targets by name, for the corpus test
typedef int (*af_fuzz_fn)(const uint8_t *data, size_t size);

#endif
