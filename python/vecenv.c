// armfarm.VectorEnv: N environments stepped by K threads (af_vecenv) into batched arrays
// allocated once. Every array step and reset return is a NumPy view over those buffers, the
// same array objects at every call: the next step overwrites them (copy what you keep).
// The buffers belong to a capsule the views hold, so a view outlives close() safely.
// Autoreset, Gymnasium's "same-step" mode: an environment whose episode ends is reset within
// the same step; obs then holds the new episode's first observation, info["final_obs"] the
// ended episode's last one (rows where info["_final_obs"] is True; other rows are stale).
// Seeding: reset(seed=S) starts environment i's first episode with seed S + i (Gymnasium's
// convention, so environment i's first episode is make(name).reset(seed=S + i)'s); its later
// episodes j = 1, 2, ... (automatic resets, or reset() without a seed) are seeded
// armfarm.vecenv_seed(S, N, i, j), the runner's own scheme.
// The GIL is released while the environments step.
#include "armfarm_py.h"

#include <stdlib.h>  // calloc, free
#include <string.h>  // memset

// the batch buffers, freed with the capsule that owns them
typedef struct {
  float *obs, *final_obs, *rewards;  // (n, obs_dim), (n, obs_dim), (n)
  uint8_t *term, *trunc, *done;      // (n): done = term | trunc, the mask of final_obs and episode
  uint8_t *success, *diverged;       // (n) this step's
  float *ep_ret, *ep_metrics;        // (n), (n_metrics, n) of the episodes that ended
  int32_t *ep_len;                   // (n)
  uint8_t *ep_success, *ep_diverged; // (n)
  af_info *infos;                    // (n)
  long *episodes;                    // (n) for reset() without a seed
  uint64_t *seeds;                   // (n) the seeds of the episodes reset started
} batch;

static void batch_free(batch *b) {
  if (!b) return;
  free(b->obs); free(b->final_obs); free(b->rewards);
  free(b->term); free(b->trunc); free(b->done); free(b->success); free(b->diverged);
  free(b->ep_ret); free(b->ep_metrics); free(b->ep_len); free(b->ep_success); free(b->ep_diverged);
  free(b->infos); free(b->episodes); free(b->seeds);
  free(b);
}

static void batch_capsule_free(PyObject *cap) { batch_free(PyCapsule_GetPointer(cap, "armfarm.batch")); }

static batch *batch_new(int n, int od, int nm) {
  batch *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  size_t N = (size_t)n;
  b->obs = calloc(N * (size_t)od + 1, sizeof(float));
  b->final_obs = calloc(N * (size_t)od + 1, sizeof(float));
  b->rewards = calloc(N, sizeof(float));
  b->term = calloc(N, 1); b->trunc = calloc(N, 1); b->done = calloc(N, 1);
  b->success = calloc(N, 1); b->diverged = calloc(N, 1);
  b->ep_ret = calloc(N, sizeof(float));
  b->ep_metrics = calloc(N * (size_t)nm + 1, sizeof(float));
  b->ep_len = calloc(N, sizeof(int32_t));
  b->ep_success = calloc(N, 1); b->ep_diverged = calloc(N, 1);
  b->infos = calloc(N, sizeof(af_info));
  b->episodes = calloc(N, sizeof(long));
  b->seeds = calloc(N, sizeof(uint64_t));
  if (!b->obs || !b->final_obs || !b->rewards || !b->term || !b->trunc || !b->done || !b->success || !b->diverged ||
      !b->ep_ret || !b->ep_metrics || !b->ep_len || !b->ep_success || !b->ep_diverged || !b->infos || !b->episodes || !b->seeds) {
    batch_free(b);
    return NULL;
  }
  return b;
}

typedef struct {
  PyObject_HEAD
  af_vecenv *v;
  const af_env_spec *spec;
  int n;
  batch *b;            // owned by cap
  PyObject *cap;       // the capsule every view holds
  // the views, made once: obs, final_obs, rewards, terminated, truncated, the masks and info
  PyObject *obs, *final_obs, *rewards, *term, *trunc, *done, *success, *diverged;
  PyObject *ep_r, *ep_l, *ep_success, *ep_diverged, *ep_metrics;  // ep_metrics: a tuple of (n) views
  PyObject *seeds;
  uint64_t seed;
  int seeded, busy;
  PyObject *single_obs_space, *single_act_space, *obs_space, *act_space, *spec_dict, *metadata;
} vec_object;

static void vec_release(vec_object *o) {
  af_vecenv_free(o->v);
  o->v = NULL;
}

static void vec_dealloc(vec_object *o) {
  vec_release(o);
  PyObject **refs[] = {&o->obs, &o->final_obs, &o->rewards, &o->term, &o->trunc, &o->done, &o->success, &o->diverged,
                       &o->ep_r, &o->ep_l, &o->ep_success, &o->ep_diverged, &o->ep_metrics, &o->seeds, &o->cap,
                       &o->single_obs_space, &o->single_act_space, &o->obs_space, &o->act_space, &o->spec_dict, &o->metadata};
  for (size_t k = 0; k < sizeof refs / sizeof refs[0]; k++) Py_CLEAR(*refs[k]);
  Py_TYPE(o)->tp_free((PyObject *)o);
}

// a view of ndim dims over data, kept alive by the capsule
static PyObject *view(vec_object *o, int ndim, npy_intp d0, npy_intp d1, int type, void *data) {
  npy_intp dims[2] = {d0, d1};
  PyObject *a = PyArray_SimpleNewFromData(ndim, dims, type, data);
  if (!a) return NULL;
  Py_INCREF(o->cap);
  if (PyArray_SetBaseObject((PyArrayObject *)a, o->cap)) { Py_DECREF(a); return NULL; }
  return a;
}

static int vec_init(vec_object *o, PyObject *args, PyObject *kwargs) {
  const char *name;
  int n, threads = 1;
  // name and num_envs positional or by keyword, threads by keyword; the rest is the config
  PyObject *kw = kwargs ? PyDict_Copy(kwargs) : PyDict_New();
  if (!kw) return -1;
  PyObject *to = PyDict_GetItemString(kw, "threads");
  if (to) {
    threads = (int)PyLong_AsLong(to);
    PyDict_DelItemString(kw, "threads");
    if (PyErr_Occurred()) { Py_DECREF(kw); return -1; }
  }
  static char *kwlist[] = {"name", "num_envs", NULL};
  PyObject *pos = PyDict_New();
  if (!pos) { Py_DECREF(kw); return -1; }
  for (int k = 0; kwlist[k]; k++) {
    PyObject *v = PyDict_GetItemString(kw, kwlist[k]);
    if (v) { PyDict_SetItemString(pos, kwlist[k], v); PyDict_DelItemString(kw, kwlist[k]); }
  }
  int ok = PyArg_ParseTupleAndKeywords(args, pos, "si:VectorEnv", kwlist, &name, &n);
  Py_DECREF(pos);
  if (!ok) { Py_DECREF(kw); return -1; }
  if (o->v) { Py_DECREF(kw); PyErr_SetString(af_py_state_error, "VectorEnv: already made"); return -1; }
  PyObject *json = af_py_config_json(kw);
  Py_DECREF(kw);
  if (!json) return -1;
  char err[512];
  af_vecenv *v;
  const char *cfg = PyBytes_AS_STRING(json);
  Py_BEGIN_ALLOW_THREADS
  v = af_vecenv_make(name, cfg, n, threads, err, sizeof err);
  Py_END_ALLOW_THREADS
  Py_DECREF(json);
  if (!v) { af_py_raise(AF_ERR_ARG, err); return -1; }
  o->v = v;
  o->n = n;
  const af_env_spec *s = o->spec = af_vecenv_spec(v);
  if (s->pixel_width > 0) {
    PyErr_SetString(af_py_unsup_error, "VectorEnv: pixel observations are not batched by the binding (use obs='state')");
    goto fail;
  }
  // the buffers, their capsule and the views over them
  o->b = batch_new(n, s->obs_dim, s->n_metrics);
  if (!o->b) { PyErr_NoMemory(); goto fail; }
  o->cap = PyCapsule_New(o->b, "armfarm.batch", batch_capsule_free);
  if (!o->cap) { batch_free(o->b); o->b = NULL; goto fail; }
  batch *b = o->b;
  o->obs = view(o, 2, n, s->obs_dim, NPY_FLOAT32, b->obs);
  o->final_obs = view(o, 2, n, s->obs_dim, NPY_FLOAT32, b->final_obs);
  o->rewards = view(o, 1, n, 0, NPY_FLOAT32, b->rewards);
  o->term = view(o, 1, n, 0, NPY_BOOL, b->term);
  o->trunc = view(o, 1, n, 0, NPY_BOOL, b->trunc);
  o->done = view(o, 1, n, 0, NPY_BOOL, b->done);
  o->success = view(o, 1, n, 0, NPY_BOOL, b->success);
  o->diverged = view(o, 1, n, 0, NPY_BOOL, b->diverged);
  o->ep_r = view(o, 1, n, 0, NPY_FLOAT32, b->ep_ret);
  o->ep_l = view(o, 1, n, 0, NPY_INT32, b->ep_len);
  o->ep_success = view(o, 1, n, 0, NPY_BOOL, b->ep_success);
  o->ep_diverged = view(o, 1, n, 0, NPY_BOOL, b->ep_diverged);
  o->seeds = view(o, 1, n, 0, NPY_UINT64, b->seeds);
  o->ep_metrics = PyTuple_New(s->n_metrics);
  for (int k = 0; o->ep_metrics && k < s->n_metrics; k++)
    PyTuple_SET_ITEM(o->ep_metrics, k, view(o, 1, n, 0, NPY_FLOAT32, b->ep_metrics + (size_t)k * n));
  if (!o->obs || !o->final_obs || !o->rewards || !o->term || !o->trunc || !o->done || !o->success || !o->diverged ||
      !o->ep_r || !o->ep_l || !o->ep_success || !o->ep_diverged || !o->seeds || !o->ep_metrics)
    goto fail;
  for (int k = 0; k < s->n_metrics; k++)
    if (!PyTuple_GET_ITEM(o->ep_metrics, k)) goto fail;
  // spaces: one environment's, and the batch's
  npy_intp od[2] = {n, s->obs_dim}, ad[2] = {n, s->act_dim};
  o->single_obs_space = af_py_box(1, od + 1, -INFINITY, INFINITY, NPY_FLOAT32);
  o->single_act_space = af_py_box(1, ad + 1, -1, 1, NPY_FLOAT32);
  o->obs_space = af_py_box(2, od, -INFINITY, INFINITY, NPY_FLOAT32);
  o->act_space = af_py_box(2, ad, -1, 1, NPY_FLOAT32);
  o->spec_dict = af_py_spec_dict(s, af_env_config_json(af_vecenv_env(v, 0)));
  o->metadata = Py_BuildValue("{s:s,s:d}", "autoreset_mode", "same-step", "render_fps", s->control_hz);
  if (!o->single_obs_space || !o->single_act_space || !o->obs_space || !o->act_space || !o->spec_dict || !o->metadata) goto fail;
  return 0;
fail:
  // a half-made runner is closed, so no method reaches it
  vec_release(o);
  return -1;
}

static int usable(vec_object *o) {
  if (!o->v || !o->b) { PyErr_SetString(af_py_state_error, "VectorEnv: closed"); return 0; }
  if (o->busy) { PyErr_SetString(af_py_state_error, "VectorEnv: used from two threads at once"); return 0; }
  return 1;
}

// the error of environment i (or of the batch) as an exception
static PyObject *env_error(vec_object *o, int rc, int i) {
  return af_py_raise(rc, i >= 0 ? af_env_last_error(af_vecenv_env(o->v, i)) : af_vecenv_last_error(o->v));
}

static PyObject *vec_reset(vec_object *o, PyObject *args, PyObject *kwargs) {
  static char *kwlist[] = {"seed", "options", NULL};
  PyObject *so = Py_None, *options = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$OO:reset", kwlist, &so, &options)) return NULL;
  if (!usable(o)) return NULL;
  uint64_t seed;
  int given;
  if (af_py_seed_arg(so, &seed, &given)) return NULL;
  // options as Env.reset takes them, applied to every environment
  if (options != Py_None) {
    if (!PyDict_Check(options)) { PyErr_SetString(PyExc_TypeError, "reset: options must be None or a dict"); return NULL; }
    PyObject *k, *val;
    Py_ssize_t pos = 0;
    while (PyDict_Next(options, &pos, &k, &val)) {
      int is_r = PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "randomize") == 0;
      int is_d = PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "difficulty") == 0;
      if (!is_r && !is_d) return PyErr_Format(af_py_arg_error, "reset: unknown option %R (randomize, difficulty)", k);
      int on = is_r ? PyObject_IsTrue(val) : 0;
      double level = is_d ? PyFloat_AsDouble(val) : 0;
      if (PyErr_Occurred()) return NULL;
      for (int i = 0; i < o->n; i++) {
        af_env *e = af_vecenv_env(o->v, i);
        if (is_r) af_env_set_randomize(e, on);
        int rc = is_d ? af_env_set_difficulty(e, level) : AF_OK;
        if (rc) return env_error(o, rc, i);
      }
    }
  }
  if (!given && !o->seeded && af_py_entropy_seed(&seed)) return NULL;
  const af_env_spec *s = o->spec;
  batch *b = o->b;
  int rc = AF_OK, bad = -1;
  o->busy = 1;
  Py_BEGIN_ALLOW_THREADS
  if (given || !o->seeded) {
    // the runner's bookkeeping (seed S, first episodes done), then environment i from S + i
    rc = af_vecenv_reset(o->v, seed, b->obs);
    for (int i = 0; i < o->n && rc == AF_OK; i++) {
      b->seeds[i] = seed + (uint64_t)i;
      rc = af_env_reset(af_vecenv_env(o->v, i), b->seeds[i], b->obs + (size_t)i * s->obs_dim);
      if (rc) bad = i;
    }
  } else {
    // each environment's next episode of the same run
    af_vecenv_episodes(o->v, b->episodes);
    for (int i = 0; i < o->n; i++) {
      b->seeds[i] = af_vecenv_seed(o->seed, o->n, i, b->episodes[i]);
      b->episodes[i]++;
    }
    rc = af_vecenv_restore(o->v, o->seed, b->episodes, b->obs);
  }
  Py_END_ALLOW_THREADS
  o->busy = 0;
  if (given || !o->seeded) { o->seed = seed; o->seeded = rc == AF_OK; }
  if (rc) {
    // af_vecenv_reset and restore stop at the first failing environment
    for (int i = 0; bad < 0 && i < o->n; i++)
      if (af_env_last_error(af_vecenv_env(o->v, i))[0]) bad = i;
    return bad >= 0 ? env_error(o, rc, bad) : af_py_raise(rc, "VectorEnv: reset failed");
  }
  memset(b->done, 0, (size_t)o->n);
  // each environment's randomization draws
  PyObject *draws = PyList_New(o->n);
  if (!draws) return NULL;
  for (int i = 0; i < o->n; i++) {
    PyObject *d = af_py_json_loads(af_env_randomization_json(af_vecenv_env(o->v, i)));
    if (!d) { Py_DECREF(draws); return NULL; }
    PyList_SET_ITEM(draws, i, d);
  }
  PyObject *info = Py_BuildValue("{s:O,s:N}", "seed", o->seeds, "randomization", draws);
  if (!info) return NULL;
  return Py_BuildValue("(ON)", o->obs, info);
}

static PyObject *vec_step(vec_object *o, PyObject *actions) {
  if (!usable(o)) return NULL;
  const af_env_spec *s = o->spec;
  PyArrayObject *a = af_py_action_array(actions, 2, o->n, s->act_dim, "VectorEnv.step");
  if (!a) return NULL;
  batch *b = o->b;
  const int n = o->n, nm = s->n_metrics;
  int rc;
  o->busy = 1;
  Py_BEGIN_ALLOW_THREADS
  rc = af_vecenv_step(o->v, PyArray_DATA(a), b->obs, b->final_obs, b->rewards, b->term, b->trunc, b->infos);
  // the flat info arrays from the infos
  for (int i = 0; i < n; i++) {
    const af_info *in = &b->infos[i];
    b->done[i] = b->term[i] | b->trunc[i];
    b->success[i] = (uint8_t)(in->success != 0);
    b->diverged[i] = (uint8_t)(in->diverged != 0);
    int ended = in->episode.n > 0;
    b->ep_ret[i] = ended ? in->episode.ret : 0;
    b->ep_len[i] = ended ? (int32_t)in->episode.length : 0;
    b->ep_success[i] = (uint8_t)(ended && in->episode.success > 0);
    b->ep_diverged[i] = (uint8_t)(ended && in->episode.diverged > 0);
    for (int k = 0; k < nm; k++) b->ep_metrics[(size_t)k * n + i] = ended ? in->episode.metrics[k] : 0;
  }
  Py_END_ALLOW_THREADS
  o->busy = 0;
  Py_DECREF(a);
  if (rc) return env_error(o, rc, -1);
  // the info: Gymnasium's masked entries, views over the batch buffers
  PyObject *ep = Py_BuildValue("{s:O,s:O,s:O,s:O}", "r", o->ep_r, "l", o->ep_l, "success", o->ep_success, "diverged",
                               o->ep_diverged);
  for (int k = 0; ep && k < nm; k++)
    if (PyDict_SetItemString(ep, s->metric_names[k], PyTuple_GET_ITEM(o->ep_metrics, k))) Py_CLEAR(ep);
  if (!ep) return NULL;
  PyObject *info = Py_BuildValue("{s:O,s:O,s:O,s:O,s:N,s:O}", "final_obs", o->final_obs, "_final_obs", o->done, "success",
                                 o->success, "diverged", o->diverged, "episode", ep, "_episode", o->done);
  if (!info) return NULL;
  return Py_BuildValue("(OOOON)", o->obs, o->rewards, o->term, o->trunc, info);
}

static PyObject *vec_close(vec_object *o, PyObject *noargs) {
  (void)noargs;
  if (o->busy) { PyErr_SetString(af_py_state_error, "VectorEnv: used from two threads at once"); return NULL; }
  vec_release(o);
  Py_RETURN_NONE;
}

static PyObject *vec_enter(PyObject *o, PyObject *noargs) { (void)noargs; Py_INCREF(o); return o; }
static PyObject *vec_exit(vec_object *o, PyObject *args) { (void)args; return vec_close(o, NULL); }

static PyMethodDef vec_methods[] = {
  {"reset", (PyCFunction)(void (*)(void))vec_reset, METH_VARARGS | METH_KEYWORDS,
   "reset(*, seed=None, options=None) -> (obs, info): environment i starts with seed S + i (S = seed); without a seed each "
   "starts its next episode, seeded vecenv_seed(S, N, i, j). info: seed (N,), randomization (list of N dicts)"},
  {"step", (PyCFunction)vec_step, METH_O,
   "step(actions (N, act_dim)) -> (obs, rewards, terminated, truncated, info), views overwritten by the next step. "
   "Same-step autoreset: obs holds new first observations where an episode ended, info['final_obs'] the last ones "
   "(mask info['_final_obs']); info['episode'] the ended episodes' r, l, success, diverged, metrics (mask '_episode'). "
   "A non-finite action ends that environment's episode as diverged (truncated, info['diverged'])"},
  {"close", (PyCFunction)vec_close, METH_NOARGS, "close(): stop the workers and free the environments"},
  {"__enter__", vec_enter, METH_NOARGS, NULL},
  {"__exit__", (PyCFunction)vec_exit, METH_VARARGS, NULL},
  {NULL, NULL, 0, NULL},
};

static PyObject *get_obj(PyObject *v) { if (!v) v = Py_None; Py_INCREF(v); return v; }
static PyObject *get_n(vec_object *o, void *c) { (void)c; return PyLong_FromLong(o->n); }
static PyObject *get_sos(vec_object *o, void *c) { (void)c; return get_obj(o->single_obs_space); }
static PyObject *get_sas(vec_object *o, void *c) { (void)c; return get_obj(o->single_act_space); }
static PyObject *get_os(vec_object *o, void *c) { (void)c; return get_obj(o->obs_space); }
static PyObject *get_as(vec_object *o, void *c) { (void)c; return get_obj(o->act_space); }
static PyObject *get_spec(vec_object *o, void *c) { (void)c; return get_obj(o->spec_dict); }
static PyObject *get_meta(vec_object *o, void *c) { (void)c; return get_obj(o->metadata); }

static PyGetSetDef vec_getset[] = {
  {"num_envs", (getter)get_n, NULL, "N", NULL},
  {"single_observation_space", (getter)get_sos, NULL, "one environment's observation space", NULL},
  {"single_action_space", (getter)get_sas, NULL, "one environment's action space", NULL},
  {"observation_space", (getter)get_os, NULL, "the batch's: Box (N, obs_dim)", NULL},
  {"action_space", (getter)get_as, NULL, "the batch's: Box (N, act_dim) in [-1, 1]", NULL},
  {"armfarm_spec", (getter)get_spec, NULL, "the library's spec of one environment (dict)", NULL},
  {"metadata", (getter)get_meta, NULL, "autoreset_mode 'same-step', render_fps", NULL},
  {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject af_py_vecenv_type = {
  PyVarObject_HEAD_INIT(NULL, 0)
  .tp_name = "armfarm.VectorEnv",
  .tp_doc = "VectorEnv(name, num_envs, *, threads=1, **config): num_envs environments stepped by `threads` threads "
            "into batched NumPy views (overwritten by the next step), with same-step autoreset",
  .tp_basicsize = sizeof(vec_object),
  .tp_flags = Py_TPFLAGS_DEFAULT,
  .tp_new = PyType_GenericNew,
  .tp_init = (initproc)vec_init,
  .tp_dealloc = (destructor)vec_dealloc,
  .tp_methods = vec_methods,
  .tp_getset = vec_getset,
};
