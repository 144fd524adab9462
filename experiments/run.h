// The experiment-file checker of armfarm run, for the fuzz harness and its regression test
// (tests/fuzz/): internal to the program, not part of the library's API.
#ifndef AF_RUN_H
#define AF_RUN_H

#include <stddef.h>  // size_t

// checks one variant's run document; 0, or -1 with a one-line message (af_train_check)
typedef int (*af_run_check_fn)(const char *doc_json, char *err, size_t errsz);

// an experiment file's text checked as `armfarm run` checks it before it runs anything: the
// JSON, name, jobs and sweep, every variant expanded into its runs, and each variant's run
// document passed to check (NULL: af_train_check, which makes what it names). `file` names
// the text in messages; nothing is run or written. 0, or -1 after one line on stderr
int af_run_check_text(const char *file, const char *text, af_run_check_fn check);

#endif
