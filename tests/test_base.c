// The base layer's string helpers: af_strfmt and af_path_join give whole strings of any
// length (what fixed buffers used to cut), checked against a string built by hand; and
// af_spawn_pipe: arguments reach the program as they are, no shell in between.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

Test(base, strfmt_has_no_length_limit) {
  // a 10000-character name in a format: nothing is cut
  char *name = malloc(10001);
  cr_assert(name);
  memset(name, 'n', 10000);
  name[10000] = 0;
  char *s = af_strfmt("%s/%s.%d", "runs", name, 42);
  cr_assert(s);
  cr_assert_eq(strlen(s), 5 + 10000 + 3);
  cr_assert(!strncmp(s, "runs/", 5) && !strcmp(s + 5 + 10000, ".42"));
  free(s);
  // the empty format, and plain numbers
  s = af_strfmt("%s", "");
  cr_assert_str_eq(s, "");
  free(s);
  s = af_strfmt("%08llx-%ld", 0xABCull, -3L);
  cr_assert_str_eq(s, "00000abc--3");
  free(s);
  free(name);
}

Test(base, path_join_keeps_both_parts) {
  char *long_dir = malloc(6001);
  cr_assert(long_dir);
  memset(long_dir, 'd', 6000);
  long_dir[6000] = 0;
  char *p = af_path_join(long_dir, "eval.csv");
  cr_assert_eq(strlen(p), 6000 + 1 + 8);
  cr_assert_str_eq(p + 6000, "/eval.csv");
  free(p);
  free(long_dir);
}

// a fresh temporary folder as the working directory, and back out of it, removed
static char tmp_root[64];
static void enter_tmp(void) {
  snprintf(tmp_root, sizeof tmp_root, "/tmp/af_test_base_XXXXXX");
  cr_assert(mkdtemp(tmp_root), "mkdtemp");
  cr_assert_eq(chdir(tmp_root), 0);
}
static void leave_tmp(void) {
  char *argv[] = {"rm", "-rf", tmp_root, NULL}, err[256];
  pid_t pid;
  FILE *f = chdir("/") == 0 ? af_spawn_pipe(argv, "r", NULL, &pid, err, sizeof err) : NULL;
  if (!f || af_spawn_close(f, pid) != 0) cr_log_error("cannot remove %s", tmp_root);
}

Test(base, spawn_pipe_passes_arguments_untouched, .init = enter_tmp, .fini = leave_tmp) {
  // a name a shell would split, expand and run: printf prints it back as it is
  const char *hostile = "a b'c\"$(touch pwned);d\ne`touch pwned2`";
  char *argv[] = {"printf", "%s|%s", (char *)hostile, "second", NULL}, err[256], got[256];
  pid_t pid;
  FILE *f = af_spawn_pipe(argv, "r", NULL, &pid, err, sizeof err);
  cr_assert(f, "%s", err);
  size_t n = fread(got, 1, sizeof got - 1, f);
  got[n] = 0;
  cr_assert_eq(af_spawn_close(f, pid), 0);
  char want[256];
  snprintf(want, sizeof want, "%s|second", hostile);
  cr_assert_str_eq(got, want);
  struct stat st;
  cr_assert(stat("pwned", &st) != 0 && stat("pwned2", &st) != 0, "a shell ran the argument");
}

Test(base, spawn_pipe_writes_to_stdin_in_a_folder_and_reports_status, .init = enter_tmp, .fini = leave_tmp) {
  // "w": the child's stdin, in the folder given; the text arrives in exactly that file
  cr_assert_eq(mkdir("in here", 0755), 0);
  char *argv[] = {"sh", "-c", "cat > \"$0\"; exit 3", "out $x.txt", NULL}, err[256];
  pid_t pid;
  FILE *f = af_spawn_pipe(argv, "w", "in here", &pid, err, sizeof err);
  cr_assert(f, "%s", err);
  cr_assert_eq(fputs("hello\n", f) >= 0, 1);
  cr_assert_eq(af_spawn_close(f, pid), 3, "the exit status");
  char *t = af_read_file("in here/out $x.txt");
  cr_assert(t, "the file is not where the argument names it");
  cr_assert_str_eq(t, "hello\n");
  free(t);
  // stderr comes with stdout in "r"; a signal is 128 + its number
  char *argv2[] = {"sh", "-c", "echo to-err >&2; kill -TERM $$", NULL}, got[64];
  f = af_spawn_pipe(argv2, "r", NULL, &pid, err, sizeof err);
  cr_assert(f, "%s", err);
  size_t n = fread(got, 1, sizeof got - 1, f);
  got[n] = 0;
  cr_assert_str_eq(got, "to-err\n");
  cr_assert_eq(af_spawn_close(f, pid), 128 + 15);
}

Test(base, spawn_pipe_failures_are_messages) {
  char *argv[] = {"/nonexistent/af-no-such-program", "x", NULL}, err[256] = "";
  pid_t pid = -7;
  cr_assert_null(af_spawn_pipe(argv, "r", NULL, &pid, err, sizeof err));
  cr_assert(strstr(err, "/nonexistent/af-no-such-program") && strstr(err, "No such file"), "%s", err);
  cr_assert_eq(pid, -7, "no pid for a program that did not start");
  char *ok[] = {"true", NULL};
  cr_assert_null(af_spawn_pipe(ok, "r", "/nonexistent/folder", &pid, err, sizeof err));
  cr_assert(strstr(err, "/nonexistent/folder"), "%s", err);
  cr_assert_null(af_spawn_pipe(ok, "rw", NULL, &pid, err, sizeof err));
}
