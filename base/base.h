// The base layer under environments, agents and analysis: return and exit codes, monotonic
// time, whole-file reading and atomic writing, path joining, allocating formatting, strict
// number parsing, and programs started with a pipe but without a shell. No MuJoCo and no oneDNN here; nothing in it knows about environments
// or agents.
// Every function here is thread-safe (none keeps state) and none accepts NULL strings unless
// it says so.
#ifndef AF_BASE_H
#define AF_BASE_H

#include <stddef.h>     // size_t
#include <stdio.h>      // FILE
#include <sys/types.h>  // pid_t

// return codes of library functions (0 is success); messages go to a caller's buffer
enum {
  AF_OK = 0,
  AF_ERR_ARG = -1,     // bad argument (e.g. NaN or infinite action); state untouched
  AF_ERR_STATE = -2,   // call out of order (e.g. step before reset, or after the episode ended)
  AF_ERR_UNSUP = -3,   // not offered (e.g. no scripted policy)
  AF_ERR_IO = -4,      // a file could not be read or written
  AF_ERR_NUMERIC = -5, // a numerical library or a physics engine failed
};

// process exit codes of the command-line program: 0 fine, 1 run-time failure, 2 usage
// (unknown command, option, name or key, or a malformed value)
enum { AF_EXIT_OK = 0, AF_EXIT_FAIL = 1, AF_EXIT_USAGE = 2 };

// monotonic seconds (thread-safe)
double af_now(void);

// a whole file as a NUL-terminated string, owned by the caller (free); NULL if it cannot be
// read (errno tells why) or memory runs out. When len is not NULL it receives the byte count
// (the file may hold NUL bytes).
char *af_read_file(const char *path);
char *af_read_file_len(const char *path, size_t *len);

// write n bytes to path through a temporary file in the same folder and a rename, so a
// reader sees the old file or the new one, never a part; 0, or -1 with a message in err
// (errsz bytes); the temporary file is removed on failure. Two processes may write the same
// path at once (the temporary name holds the process id); two threads of one process may not.
int af_write_file_atomic(const char *path, const void *data, size_t n, char *err, size_t errsz);

// mkdir -p: path and every folder above it (0755); 0, or -1 when path is no folder afterwards
int af_mkdirs(const char *path);

// "a/b" from "a" and "b", owned by the caller (free); NULL only when out of memory
char *af_path_join(const char *dir, const char *name);

// printf into a new string of whatever length it needs, owned by the caller (free); NULL only
// when out of memory. For paths and commands built from user input, which must not be cut.
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
char *af_strfmt(const char *fmt, ...);

// this program's own path (Linux: /proc/self/exe), owned by the caller (free), or NULL
char *af_self_exe(void);

// a program started from an argument vector, never through a shell (argv[0] is looked up in
// PATH when it holds no '/'; argv ends with NULL), with a pipe to it: mode "w" gives the
// stream of its standard input (its output goes where this process's goes), "r" the stream
// of its standard output and standard error together. cwd: the child's working folder, or
// NULL for this one. The stream, with the child's id in *pid; or NULL with a message in err
// (errsz bytes) when the pipe, the process, the folder or the program fails (nothing is left
// running then). Every argument reaches the program as it is: spaces, quotes, '$', ';' and
// newlines mean nothing here. Close the stream with af_spawn_close, not fclose.
FILE *af_spawn_pipe(char *const argv[], const char *mode, const char *cwd, pid_t *pid, char *err, size_t errsz);

// close a stream of af_spawn_pipe and wait for its program: its exit status (0 to 255),
// 128 + the signal's number when a signal ended it, or -1 when closing or waiting failed
int af_spawn_close(FILE *f, pid_t pid);

// strict numbers: the whole string must be the number (no trailing text, no empty string),
// within [lo, hi]; 0 with *out set, or -1 (out untouched) when malformed, out of range or s
// is NULL
int af_parse_long(const char *s, long lo, long hi, long *out);
int af_parse_double(const char *s, double lo, double hi, double *out);

// an integer option of a command: the value, or -1 after one line on stderr naming the option
// and its range (lo must be >= 0); s may be NULL (reported as missing)
long af_cli_long(const char *opt, const char *s, long lo, long hi);

#endif
