// Every test program runs in a fresh folder of its own under TMPDIR (or /tmp) and removes it
// when it ends, so tests that write files (checkpoints, CSVs, PNGs, whole runs) leave no trace
// in the checkout or the build folder. Linked into every test program by CMakeLists.txt; the
// Criterion runner moves into the folder before it starts the test workers, which inherit it.
#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include <dirent.h>    // opendir, readdir
#include <stdio.h>     // snprintf, fprintf, remove
#include <stdlib.h>    // getenv, mkdtemp
#include <string.h>    // strcmp
#include <sys/stat.h>  // lstat
#include <unistd.h>    // chdir, rmdir

static char af_test_dir[4096];

// remove a file or a whole folder below it (links are removed, never followed)
static void af_test_remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (d) {
      struct dirent *de;
      char sub[4096];
      while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        af_test_remove_tree(sub);
      }
      closedir(d);
    }
    rmdir(path);
  } else {
    remove(path);
  }
}

// before any test: a fresh folder, and the working directory moves into it
ReportHook(PRE_ALL)(struct criterion_test_set *set) {
  (void)set;
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  snprintf(af_test_dir, sizeof af_test_dir, "%s/armfarm_test_XXXXXX", base);
  if (!mkdtemp(af_test_dir) || chdir(af_test_dir) != 0) {
    fprintf(stderr, "tests: cannot make or enter a temporary folder under %s\n", base);
    exit(1);
  }
}

// after the last test: leave the folder and remove it with everything the tests wrote
ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
  (void)stats;
  if (!af_test_dir[0] || chdir("/") != 0) return;
  af_test_remove_tree(af_test_dir);
  af_test_dir[0] = 0;
}
