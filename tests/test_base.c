// The base layer's string helpers: af_strfmt and af_path_join give whole strings of any
// length (what fixed buffers used to cut), checked against a string built by hand.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

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
