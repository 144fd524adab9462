// The private header of the Python binding (python/*.c): the types, the exceptions and the
// helpers the binding's files share. Every file includes this first: it pulls in Python.h
// (which must precede the system headers) and NumPy's C API with one shared function table.
#ifndef AF_PY_H
#define AF_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

// one NumPy API table for the whole module: armfarm_module.c imports it, the others use it
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL af_py_numpy_api
#ifndef AF_PY_MAIN
#define NO_IMPORT_ARRAY
#endif
#include <numpy/arrayobject.h>

#include <stdint.h>  // uint64_t

#include "armfarm.h"  // the library, through its public header only

// the exceptions: armfarm.Error and one subclass per library code, each also a subclass of
// the matching built-in (ArgumentError is a ValueError, StateError a RuntimeError, ...)
extern PyObject *af_py_error, *af_py_arg_error, *af_py_state_error, *af_py_unsup_error, *af_py_io_error,
    *af_py_numeric_error;

// raise the exception of library code `rc` with the library's one-line message; returns NULL
PyObject *af_py_raise(int rc, const char *msg);

// the JSON text of a dict of config values (json.dumps), as a new bytes object, or NULL with
// an exception set; kwargs NULL or empty gives b""
PyObject *af_py_config_json(PyObject *kwargs);

// json.loads of a C string: a new reference, or NULL with an exception set
PyObject *af_py_json_loads(const char *s);

// a seed argument: None (*given = 0) or an int in [0, 2^64); 0, or -1 with ValueError set
int af_py_seed_arg(PyObject *o, uint64_t *seed, int *given);

// a fresh seed from the operating system's entropy (os.urandom), for reset(seed=None) before
// any seed was given; 0, or -1 with an exception set
int af_py_entropy_seed(uint64_t *seed);

// the spec of an environment as a dict (name, sizes, goal layout, rates, horizon, texts,
// metric names) plus "config", the resolved configuration; a new reference or NULL
PyObject *af_py_spec_dict(const af_env_spec *s, const char *config_json);

// an action argument as a float32 C-contiguous array of exactly the given shape (ndim 1 or
// 2): a new reference (the object itself when it already is one), or NULL with TypeError
// (not real numbers) or ValueError (another shape) naming `who`
PyArrayObject *af_py_action_array(PyObject *o, int ndim, npy_intp rows, npy_intp cols, const char *who);

// ---- spaces (space.c) ----
// the fallback Box type (armfarm.Box) used when gymnasium cannot be imported
extern PyTypeObject af_py_box_type;
// a Box of `shape` (ndim dims) with bounds lo and hi everywhere and dtype NPY_FLOAT32 or
// NPY_UINT8: a gymnasium.spaces.Box when gymnasium is importable, else an armfarm.Box
PyObject *af_py_box(int ndim, const npy_intp *shape, double lo, double hi, int dtype);

// ---- the environment types (env.c, vecenv.c) ----
extern PyTypeObject af_py_env_type;
extern PyTypeObject af_py_vecenv_type;

#endif
