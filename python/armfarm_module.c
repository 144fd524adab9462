// The `armfarm` Python module: Gymnasium-style environments (env.c), the vectorized runner
// (vecenv.c) and spaces (space.c) over libarmfarm's public header. This file holds the
// module itself: its functions (make, envs, vecenv_seed, the C runner's benchmark), the
// exceptions, and the helpers the other files share (config to JSON, seeds, actions, specs).
#define AF_PY_MAIN
#include "armfarm_py.h"

#include <string.h>  // strlen

PyObject *af_py_error, *af_py_arg_error, *af_py_state_error, *af_py_unsup_error, *af_py_io_error, *af_py_numeric_error;

PyObject *af_py_raise(int rc, const char *msg) {
  PyObject *type = rc == AF_ERR_ARG      ? af_py_arg_error
                   : rc == AF_ERR_STATE  ? af_py_state_error
                   : rc == AF_ERR_UNSUP  ? af_py_unsup_error
                   : rc == AF_ERR_IO     ? af_py_io_error
                   : rc == AF_ERR_NUMERIC ? af_py_numeric_error
                                         : af_py_error;
  PyErr_SetString(type, msg && *msg ? msg : "armfarm: unknown error");
  return NULL;
}

// json.dumps(kwargs), so that nested dicts, lists, booleans and numbers reach the library's
// config parser as JSON; NumPy scalars are converted through their item()
PyObject *af_py_config_json(PyObject *kwargs) {
  if (!kwargs || PyDict_Size(kwargs) == 0) return PyBytes_FromString("");
  PyObject *json = PyImport_ImportModule("json");
  if (!json) return NULL;
  PyObject *dumps = PyObject_GetAttrString(json, "dumps");
  Py_DECREF(json);
  if (!dumps) return NULL;
  PyObject *args = PyTuple_Pack(1, kwargs), *kw = Py_BuildValue("{s:O}", "default", Py_None);
  PyObject *item = PyObject_GetAttrString((PyObject *)&PyGenericArrType_Type, "item");
  PyObject *s = NULL;
  if (args && kw && item && PyDict_SetItemString(kw, "default", item) == 0) s = PyObject_Call(dumps, args, kw);
  Py_XDECREF(item);
  Py_XDECREF(args);
  Py_XDECREF(kw);
  Py_DECREF(dumps);
  if (!s) {
    // a value JSON cannot hold: the config is bad, say which way
    if (PyErr_ExceptionMatches(PyExc_TypeError)) {
      PyObject *t, *v, *tb;
      PyErr_Fetch(&t, &v, &tb);
      PyErr_Format(af_py_arg_error, "config values must be JSON values (numbers, strings, booleans, lists, dicts): %S", v);
      Py_XDECREF(t);
      Py_XDECREF(v);
      Py_XDECREF(tb);
    }
    return NULL;
  }
  PyObject *b = PyUnicode_AsUTF8String(s);
  Py_DECREF(s);
  return b;
}

PyObject *af_py_json_loads(const char *s) {
  PyObject *json = PyImport_ImportModule("json");
  if (!json) return NULL;
  PyObject *r = PyObject_CallMethod(json, "loads", "s", s);
  Py_DECREF(json);
  return r;
}

int af_py_seed_arg(PyObject *o, uint64_t *seed, int *given) {
  *given = 0;
  if (!o || o == Py_None) return 0;
  if (!PyLong_Check(o) && !PyIndex_Check(o)) {
    PyErr_SetString(PyExc_TypeError, "seed must be None or an int");
    return -1;
  }
  PyObject *i = PyNumber_Index(o);
  if (!i) return -1;
  unsigned long long v = PyLong_AsUnsignedLongLong(i);
  Py_DECREF(i);
  if (PyErr_Occurred()) {
    PyErr_Clear();
    PyErr_SetString(af_py_arg_error, "seed must be an int in [0, 2**64)");
    return -1;
  }
  *seed = (uint64_t)v;
  *given = 1;
  return 0;
}

int af_py_entropy_seed(uint64_t *seed) {
  PyObject *os = PyImport_ImportModule("os");
  if (!os) return -1;
  PyObject *b = PyObject_CallMethod(os, "urandom", "i", 8);
  Py_DECREF(os);
  if (!b) return -1;
  uint64_t s = 0;
  const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(b);
  for (int k = 0; k < 8; k++) s = s << 8 | p[k];
  Py_DECREF(b);
  *seed = s;
  return 0;
}

PyObject *af_py_spec_dict(const af_env_spec *s, const char *config_json) {
  PyObject *metrics = PyTuple_New(s->n_metrics);
  if (!metrics) return NULL;
  for (int k = 0; k < s->n_metrics; k++) {
    PyObject *m = PyUnicode_FromString(s->metric_names[k]);
    if (!m) { Py_DECREF(metrics); return NULL; }
    PyTuple_SET_ITEM(metrics, k, m);
  }
  PyObject *cfg = config_json ? af_py_json_loads(config_json) : (Py_INCREF(Py_None), Py_None);
  if (!cfg) { Py_DECREF(metrics); return NULL; }
  PyObject *d = Py_BuildValue("{s:s,s:i,s:i,s:i,s:i,s:i,s:d,s:d,s:i,s:i,s:s,s:s,s:i,s:i,s:N,s:N}", "name", s->name,
                              "obs_dim", s->obs_dim, "act_dim", s->act_dim, "goal_dim", s->goal_dim, "achieved_offset",
                              s->achieved_offset, "desired_offset", s->desired_offset, "control_hz", s->control_hz,
                              "timestep", s->timestep, "frame_skip", s->frame_skip, "horizon", s->horizon, "success",
                              s->success ? s->success : "", "reward", s->reward ? s->reward : "", "pixel_width",
                              s->pixel_width, "pixel_height", s->pixel_height, "metric_names", metrics, "config", cfg);
  return d;
}

PyArrayObject *af_py_action_array(PyObject *o, int ndim, npy_intp rows, npy_intp cols, const char *who) {
  // real numbers only: a bool, complex, string or object array is a mistake, not a cast
  PyArrayObject *in = (PyArrayObject *)PyArray_FROM_O(o);
  if (!in) return NULL;
  char kind = PyArray_DESCR(in)->kind;
  if (kind != 'f' && kind != 'i' && kind != 'u') {
    PyErr_Format(PyExc_TypeError, "%s: action must hold real numbers, not dtype %S", who, (PyObject *)PyArray_DESCR(in));
    Py_DECREF(in);
    return NULL;
  }
  int ok = PyArray_NDIM(in) == ndim && (ndim == 1 ? PyArray_DIM(in, 0) == cols
                                                  : PyArray_DIM(in, 0) == rows && PyArray_DIM(in, 1) == cols);
  if (!ok) {
    PyObject *shape = PyObject_GetAttrString((PyObject *)in, "shape");
    if (ndim == 1) PyErr_Format(af_py_arg_error, "%s: action shape %S, expected (%zd,)", who, shape, (Py_ssize_t)cols);
    else PyErr_Format(af_py_arg_error, "%s: actions shape %S, expected (%zd, %zd)", who, shape, (Py_ssize_t)rows, (Py_ssize_t)cols);
    Py_XDECREF(shape);
    Py_DECREF(in);
    return NULL;
  }
  // float32, C order, aligned: the array itself when it is one, else NumPy's converted copy
  PyArrayObject *a = (PyArrayObject *)PyArray_FROM_OTF((PyObject *)in, NPY_FLOAT32, NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
  Py_DECREF(in);
  return a;
}

// ---- module functions ----

static PyObject *py_make(PyObject *self, PyObject *args, PyObject *kwargs) {
  (void)self;
  return PyObject_Call((PyObject *)&af_py_env_type, args, kwargs);
}

// every environment compiled in, each with its spec at the default config
static PyObject *py_envs(PyObject *self, PyObject *noargs) {
  (void)self;
  (void)noargs;
  PyObject *list = PyList_New(0);
  if (!list) return NULL;
  for (int i = 0; i < af_env_count(); i++) {
    char err[512];
    af_env *e = af_env_make(af_env_name(i), NULL, err, sizeof err);
    if (!e) { Py_DECREF(list); return af_py_raise(AF_ERR_ARG, err); }
    PyObject *d = af_py_spec_dict(af_env_get_spec(e), af_env_config_json(e));
    af_env_free(e);
    if (!d || PyList_Append(list, d)) { Py_XDECREF(d); Py_DECREF(list); return NULL; }
    Py_DECREF(d);
  }
  return list;
}

static PyObject *py_vecenv_seed(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *so;
  int n, i;
  long episode;
  if (!PyArg_ParseTuple(args, "Oiil:vecenv_seed", &so, &n, &i, &episode)) return NULL;
  uint64_t seed;
  int given;
  if (af_py_seed_arg(so, &seed, &given)) return NULL;
  if (!given || n < 1 || i < 0 || i >= n || episode < 0) {
    PyErr_SetString(af_py_arg_error, "vecenv_seed(seed, n, i, episode): seed an int, 0 <= i < n, episode >= 0");
    return NULL;
  }
  return PyLong_FromUnsignedLongLong(af_vecenv_seed(seed, n, i, episode));
}

static PyObject *py_asset_dir(PyObject *self, PyObject *noargs) {
  (void)self;
  (void)noargs;
  char buf[4096];
  if (!af_env_asset_dir(buf, sizeof buf)) Py_RETURN_NONE;
  return PyUnicode_DecodeFSDefault(buf);
}

// the C vectorized runner stepped from C, as `armfarm bench envs` steps it: random actions
// in [-1, 1] from a fixed stream, infos and final observations filled; batch steps per
// second times n. The GIL is released for the whole loop.
static PyObject *py_bench_c(PyObject *self, PyObject *args, PyObject *kwargs) {
  (void)self;
  static char *kwlist[] = {"name", "num_envs", "threads", "batches", "config", NULL};
  const char *name, *cfg = NULL;
  int n, threads = 1, batches = 1000;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "si|iiz:bench_c", kwlist, &name, &n, &threads, &batches, &cfg)) return NULL;
  if (batches < 1) { PyErr_SetString(af_py_arg_error, "bench_c: batches must be >= 1"); return NULL; }
  char err[512];
  af_vecenv *v = af_vecenv_make(name, cfg, n, threads, err, sizeof err);
  if (!v) return af_py_raise(AF_ERR_ARG, err);
  const af_env_spec *s = af_vecenv_spec(v);
  size_t no = (size_t)n * (size_t)s->obs_dim, na = (size_t)n * (size_t)s->act_dim;
  float *obs = calloc(no + 1, sizeof(float)), *fin = calloc(no + 1, sizeof(float)), *act = calloc(na, sizeof(float));
  float *rew = calloc((size_t)n, sizeof(float));
  uint8_t *te = calloc((size_t)n, 1), *tr = calloc((size_t)n, 1);
  af_info *info = calloc((size_t)n, sizeof *info);
  int rc = AF_OK;
  double el = 0;
  if (!obs || !fin || !act || !rew || !te || !tr || !info) {
    free(obs); free(fin); free(act); free(rew); free(te); free(tr); free(info);
    af_vecenv_free(v);
    return PyErr_NoMemory();
  }
  {
    Py_BEGIN_ALLOW_THREADS
    af_rng rng;
    af_rng_seed(&rng, 11);
    rc = af_vecenv_reset(v, 1, obs);
    double t0 = af_now();
    for (int b = 0; b < batches && rc == AF_OK; b++) {
      for (size_t k = 0; k < na; k++) act[k] = (float)af_rng_range(&rng, -1, 1);
      rc = af_vecenv_step(v, act, obs, fin, rew, te, tr, info);
    }
    el = af_now() - t0;
    Py_END_ALLOW_THREADS
  }
  PyObject *r = rc == AF_OK ? PyFloat_FromDouble((double)n * batches / el) : af_py_raise(rc, af_vecenv_last_error(v));
  free(obs); free(fin); free(act); free(rew); free(te); free(tr); free(info);
  af_vecenv_free(v);
  return r;
}

static PyMethodDef module_methods[] = {
  {"make", (PyCFunction)(void (*)(void))py_make, METH_VARARGS | METH_KEYWORDS,
   "make(name, **config) -> Env: an environment by name; config values are converted to JSON for the library"},
  {"envs", py_envs, METH_NOARGS, "envs() -> list of dicts: every environment compiled in, with its spec and resolved default config"},
  {"vecenv_seed", py_vecenv_seed, METH_VARARGS,
   "vecenv_seed(seed, n, i, episode) -> int: the seed of environment i's episode `episode` among n of a run seeded with seed "
   "(af_vecenv_seed); VectorEnv and Env seed their episodes after the first with it"},
  {"asset_dir", py_asset_dir, METH_NOARGS,
   "asset_dir() -> str or None: the folder models are loaded from ($ARMFARM_ASSETS, the installed share/armfarm/assets, "
   "or the source tree's assets/)"},
  {"bench_c", (PyCFunction)(void (*)(void))py_bench_c, METH_VARARGS | METH_KEYWORDS,
   "bench_c(name, num_envs, threads=1, batches=1000, config=None) -> float: environment steps per second of the C "
   "vectorized runner stepped from C with random actions (for the benchmark beside VectorEnv)"},
  {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
  PyModuleDef_HEAD_INIT, "armfarm",
  "armfarm: MuJoCo robot-learning environments with Gymnasium's semantics, over libarmfarm (C).\n"
  "make(name, **config) -> Env; VectorEnv(name, num_envs, threads=1, **config); envs().",
  -1, module_methods, NULL, NULL, NULL, NULL,
};

// an exception class armfarm.<name> derived from armfarm.Error and a built-in
static PyObject *new_error(PyObject *m, const char *name, PyObject *builtin, const char *doc) {
  char full[64];
  snprintf(full, sizeof full, "armfarm.%s", name);
  PyObject *bases = builtin ? PyTuple_Pack(2, af_py_error, builtin) : NULL;
  PyObject *e = builtin ? (bases ? PyErr_NewExceptionWithDoc(full, doc, bases, NULL) : NULL)
                        : PyErr_NewExceptionWithDoc(full, doc, PyExc_Exception, NULL);
  Py_XDECREF(bases);
  if (!e) return NULL;
  Py_INCREF(e);
  if (PyModule_AddObject(m, name, e)) { Py_DECREF(e); Py_DECREF(e); return NULL; }
  return e;
}

PyMODINIT_FUNC PyInit_armfarm(void) {
  import_array();
  if (PyType_Ready(&af_py_box_type) || PyType_Ready(&af_py_env_type) || PyType_Ready(&af_py_vecenv_type)) return NULL;
  PyObject *m = PyModule_Create(&module_def);
  if (!m) return NULL;
  // the exceptions, each a subclass of armfarm.Error and of the built-in it means
  af_py_error = new_error(m, "Error", NULL, "an armfarm library error; the message is the library's one line");
  if (!af_py_error) goto fail;
  af_py_arg_error = new_error(m, "ArgumentError", PyExc_ValueError, "bad name, config, action, seed or snapshot (AF_ERR_ARG)");
  af_py_state_error = new_error(m, "StateError", PyExc_RuntimeError, "call out of order, e.g. step before reset (AF_ERR_STATE)");
  af_py_unsup_error = new_error(m, "UnsupportedError", PyExc_NotImplementedError, "not offered by this environment (AF_ERR_UNSUP)");
  af_py_io_error = new_error(m, "IOError", PyExc_OSError, "a file could not be read or written (AF_ERR_IO)");
  af_py_numeric_error = new_error(m, "NumericError", PyExc_ArithmeticError, "MuJoCo or a numerical library failed (AF_ERR_NUMERIC)");
  if (!af_py_arg_error || !af_py_state_error || !af_py_unsup_error || !af_py_io_error || !af_py_numeric_error) goto fail;
  // the types
  const struct { PyTypeObject *type; const char *name; } types[] = {
    {&af_py_env_type, "Env"}, {&af_py_vecenv_type, "VectorEnv"}, {&af_py_box_type, "Box"}};
  for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
    Py_INCREF(types[k].type);
    if (PyModule_AddObject(m, types[k].name, (PyObject *)types[k].type)) { Py_DECREF(types[k].type); goto fail; }
  }
  if (PyModule_AddStringConstant(m, "__version__", AF_VERSION)) goto fail;
  return m;
fail:
  Py_DECREF(m);
  return NULL;
}
