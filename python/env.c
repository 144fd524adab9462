// armfarm.Env: one environment with Gymnasium's semantics over af_env. Observations are new
// arrays (copies) at every call, so a caller may keep them; the action and observation
// buffers the library writes into are allocated once at make. The GIL is released while
// the library resets, steps and renders; an environment used from a second thread while
// it steps raises instead of racing.
// Seeding: reset(seed=S) starts the episode af_env_reset(S); each reset() after it starts
// the next episode j = 1, 2, ... of S with armfarm.vecenv_seed(S, 1, 0, j), exactly the
// episodes VectorEnv(name, 1) runs; the first reset() without any seed draws S from
// os.urandom.
#include "armfarm_py.h"

#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy

#define RENDER_SIZE 256  // render()'s default width and height

typedef struct {
  PyObject_HEAD
  af_env *env;
  const af_env_spec *spec;
  int obs_state, obs_pixels;    // what an observation holds
  float *obs;                   // (obs_dim) the library writes here
  unsigned char *pix;           // (pixel_height, pixel_width, 3)
  af_render *render;            // render()'s renderer, made at the first call
  int render_w, render_h;
  uint64_t seed;                // the last seed given to reset
  long episode;                 // episodes started since then
  int seeded, started, busy;
  PyObject *observation_space, *action_space, *spec_dict, *metadata, *render_mode;
  PyObject *randomization;      // the current episode's draws (dict), or None
} env_object;

static void env_release(env_object *o) {
  af_render_free(o->render);
  o->render = NULL;
  af_env_free(o->env);
  o->env = NULL;
  free(o->obs);
  free(o->pix);
  o->obs = NULL;
  o->pix = NULL;
}

static void env_dealloc(env_object *o) {
  env_release(o);
  Py_XDECREF(o->observation_space);
  Py_XDECREF(o->action_space);
  Py_XDECREF(o->spec_dict);
  Py_XDECREF(o->metadata);
  Py_XDECREF(o->render_mode);
  Py_XDECREF(o->randomization);
  Py_TYPE(o)->tp_free((PyObject *)o);
}

// the observation space: a Box of the state, of the image, or a dict of both
static PyObject *observation_space(const af_env_spec *s, int state, int pixels) {
  npy_intp sd[1] = {s->obs_dim}, pd[3] = {s->pixel_height, s->pixel_width, 3};
  if (!pixels) return af_py_box(1, sd, -INFINITY, INFINITY, NPY_FLOAT32);
  if (!state) return af_py_box(3, pd, 0, 255, NPY_UINT8);
  PyObject *d = Py_BuildValue("{s:N,s:N}", "state", af_py_box(1, sd, -INFINITY, INFINITY, NPY_FLOAT32), "pixels",
                              af_py_box(3, pd, 0, 255, NPY_UINT8));
  if (!d) return NULL;
  // gymnasium's Dict space when gymnasium is there, else the plain dict of Boxes
  PyObject *spaces = PyObject_TypeCheck(PyDict_GetItemString(d, "state"), &af_py_box_type) ? NULL
                     : PyImport_ImportModule("gymnasium.spaces");
  if (!spaces) { PyErr_Clear(); return d; }
  PyObject *r = PyObject_CallMethod(spaces, "Dict", "O", d);
  Py_DECREF(spaces);
  Py_DECREF(d);
  return r;
}

// pop an optional keyword the binding itself takes (not an environment config key)
static PyObject *pop_kw(PyObject *kwargs, const char *key) {
  if (!kwargs) return NULL;
  PyObject *v = PyDict_GetItemString(kwargs, key);
  if (!v) return NULL;
  Py_INCREF(v);
  PyDict_DelItemString(kwargs, key);
  return v;
}

static int env_init(env_object *o, PyObject *args, PyObject *kwargs) {
  const char *name;
  if (!PyArg_ParseTuple(args, "s:Env", &name)) return -1;
  if (o->env) { PyErr_SetString(af_py_state_error, "Env: already made"); return -1; }
  // the binding's own keywords, then the rest as the environment's JSON config
  PyObject *kw = kwargs ? PyDict_Copy(kwargs) : PyDict_New();
  if (!kw) return -1;
  PyObject *mode = pop_kw(kw, "render_mode"), *rw = pop_kw(kw, "render_width"), *rh = pop_kw(kw, "render_height");
  o->render_w = rw ? (int)PyLong_AsLong(rw) : RENDER_SIZE;
  o->render_h = rh ? (int)PyLong_AsLong(rh) : RENDER_SIZE;
  Py_XDECREF(rw);
  Py_XDECREF(rh);
  if (PyErr_Occurred() || o->render_w < 1 || o->render_h < 1 || o->render_w > 4096 || o->render_h > 4096) {
    PyErr_Clear();
    PyErr_SetString(af_py_arg_error, "render_width and render_height must be ints in [1, 4096]");
    Py_XDECREF(mode);
    Py_DECREF(kw);
    return -1;
  }
  if (mode && mode != Py_None && !(PyUnicode_Check(mode) && PyUnicode_CompareWithASCIIString(mode, "rgb_array") == 0)) {
    PyErr_Format(af_py_arg_error, "render_mode %R is not offered (None or 'rgb_array')", mode);
    Py_DECREF(mode);
    Py_DECREF(kw);
    return -1;
  }
  o->render_mode = mode ? mode : (Py_INCREF(Py_None), Py_None);
  PyObject *json = af_py_config_json(kw);
  Py_DECREF(kw);
  if (!json) return -1;
  char err[512];
  o->env = af_env_make(name, PyBytes_AS_STRING(json), err, sizeof err);
  Py_DECREF(json);
  if (!o->env) { af_py_raise(AF_ERR_ARG, err); return -1; }
  // buffers sized from the spec, once
  const af_env_spec *s = o->spec = af_env_get_spec(o->env);
  o->obs_pixels = s->pixel_width > 0;
  o->obs_state = s->obs_dim > 0 || !o->obs_pixels;
  o->obs = calloc((size_t)s->obs_dim + 1, sizeof(float));
  o->pix = o->obs_pixels ? calloc((size_t)s->pixel_width * (size_t)s->pixel_height * 3, 1) : NULL;
  if (!o->obs || (o->obs_pixels && !o->pix)) { PyErr_NoMemory(); goto fail; }
  npy_intp ad[1] = {s->act_dim};
  o->action_space = af_py_box(1, ad, -1, 1, NPY_FLOAT32);
  o->observation_space = observation_space(s, o->obs_state, o->obs_pixels);
  o->spec_dict = af_py_spec_dict(s, af_env_config_json(o->env));
  o->metadata = Py_BuildValue("{s:[s],s:d}", "render_modes", "rgb_array", "render_fps", s->control_hz);
  Py_INCREF(Py_None);
  o->randomization = Py_None;
  if (!o->action_space || !o->observation_space || !o->spec_dict || !o->metadata) goto fail;
  return 0;
fail:
  // a half-made environment is closed, so no method reaches it
  env_release(o);
  return -1;
}

// the environment is open and not in use by another thread
static int usable(env_object *o) {
  if (!o->env) { PyErr_SetString(af_py_state_error, "Env: the environment is closed"); return 0; }
  if (o->busy) { PyErr_SetString(af_py_state_error, "Env: used from two threads at once"); return 0; }
  return 1;
}

// the observation the library just wrote, as new arrays: the state, the image, or a dict
static PyObject *make_obs(env_object *o, const float *state) {
  const af_env_spec *s = o->spec;
  PyObject *st = NULL, *px = NULL;
  if (o->obs_state) {
    npy_intp d[1] = {s->obs_dim};
    st = PyArray_SimpleNew(1, d, NPY_FLOAT32);
    if (!st) return NULL;
    memcpy(PyArray_DATA((PyArrayObject *)st), state, sizeof(float) * (size_t)s->obs_dim);
  }
  if (o->obs_pixels) {
    npy_intp d[3] = {s->pixel_height, s->pixel_width, 3};
    px = PyArray_SimpleNew(3, d, NPY_UINT8);
    if (!px) { Py_XDECREF(st); return NULL; }
    memcpy(PyArray_DATA((PyArrayObject *)px), o->pix, (size_t)d[0] * (size_t)d[1] * 3);
  }
  if (st && px) return Py_BuildValue("{s:N,s:N}", "state", st, "pixels", px);
  return st ? st : px;
}

// the episode statistics of a step that ended it, Gymnasium's "episode" entry and armfarm's
static PyObject *episode_dict(const af_env_spec *s, const af_episode *ep) {
  PyObject *d = Py_BuildValue("{s:d,s:i,s:O,s:O}", "r", (double)ep->ret, "l", (int)ep->length, "success",
                              ep->success > 0 ? Py_True : Py_False, "diverged", ep->diverged > 0 ? Py_True : Py_False);
  for (int k = 0; d && k < s->n_metrics; k++) {
    PyObject *v = PyFloat_FromDouble(ep->metrics[k]);
    if (!v || PyDict_SetItemString(d, s->metric_names[k], v)) { Py_XDECREF(v); Py_DECREF(d); return NULL; }
    Py_DECREF(v);
  }
  return d;
}

// the info of a step: success and divergence, and the episode's statistics when it ended
static PyObject *step_info(const af_env_spec *s, const af_info *info) {
  PyObject *d = Py_BuildValue("{s:O,s:O}", "success", info->success ? Py_True : Py_False, "diverged",
                              info->diverged ? Py_True : Py_False);
  if (d && info->episode.n > 0) {
    PyObject *ep = episode_dict(s, &info->episode);
    if (!ep || PyDict_SetItemString(d, "episode", ep)) { Py_XDECREF(ep); Py_DECREF(d); return NULL; }
    Py_DECREF(ep);
  }
  return d;
}

// reset options: {"randomize": bool} switches randomization for this and later resets,
// {"difficulty": level} fixes the curriculum level (negative: drawn again)
static int apply_options(env_object *o, PyObject *options) {
  if (!options || options == Py_None) return 0;
  if (!PyDict_Check(options)) { PyErr_SetString(PyExc_TypeError, "reset: options must be None or a dict"); return -1; }
  PyObject *k, *v;
  Py_ssize_t pos = 0;
  while (PyDict_Next(options, &pos, &k, &v)) {
    if (PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "randomize") == 0) {
      int on = PyObject_IsTrue(v);
      if (on < 0) return -1;
      af_env_set_randomize(o->env, on);
    } else if (PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "difficulty") == 0) {
      double level = PyFloat_AsDouble(v);
      if (PyErr_Occurred()) return -1;
      int rc = af_env_set_difficulty(o->env, level);
      if (rc) { af_py_raise(rc, af_env_last_error(o->env)); return -1; }
    } else {
      PyErr_Format(af_py_arg_error, "reset: unknown option %R (randomize, difficulty)", k);
      return -1;
    }
  }
  return 0;
}

static PyObject *env_reset(env_object *o, PyObject *args, PyObject *kwargs) {
  static char *kwlist[] = {"seed", "options", NULL};
  PyObject *so = Py_None, *options = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$OO:reset", kwlist, &so, &options)) return NULL;
  if (!usable(o)) return NULL;
  uint64_t seed;
  int given;
  if (af_py_seed_arg(so, &seed, &given) || apply_options(o, options)) return NULL;
  // this episode's seed: the one given, or the next of the last one given
  if (given || !o->seeded) {
    if (!given && af_py_entropy_seed(&seed)) return NULL;
    o->seed = seed;
    o->seeded = 1;
    o->episode = 0;
  }
  uint64_t ep_seed = o->episode == 0 ? o->seed : af_vecenv_seed(o->seed, 1, 0, o->episode);
  o->episode++;
  o->started = 0;
  int rc;
  o->busy = 1;
  Py_BEGIN_ALLOW_THREADS
  rc = af_env_reset(o->env, ep_seed, o->obs);
  if (rc == AF_OK && o->obs_pixels) rc = af_env_pixels(o->env, o->pix);
  Py_END_ALLOW_THREADS
  o->busy = 0;
  if (rc) return af_py_raise(rc, af_env_last_error(o->env));
  o->started = 1;
  // the episode's randomization draws, kept for env.randomization too
  PyObject *draws = af_py_json_loads(af_env_randomization_json(o->env));
  if (!draws) return NULL;
  Py_SETREF(o->randomization, draws);
  PyObject *obs = make_obs(o, o->obs);
  if (!obs) return NULL;
  PyObject *info = Py_BuildValue("{s:K,s:O}", "seed", (unsigned long long)ep_seed, "randomization", draws);
  if (!info) { Py_DECREF(obs); return NULL; }
  return Py_BuildValue("(NN)", obs, info);
}

// the five outputs of a step or of end_diverged
static PyObject *step_result(env_object *o, float r, int term, int trunc, const af_info *info) {
  PyObject *obs = make_obs(o, o->obs);
  if (!obs) return NULL;
  PyObject *inf = step_info(o->spec, info);
  if (!inf) { Py_DECREF(obs); return NULL; }
  return Py_BuildValue("(NdOON)", obs, (double)r, term ? Py_True : Py_False, trunc ? Py_True : Py_False, inf);
}

static PyObject *env_step(env_object *o, PyObject *action) {
  if (!usable(o)) return NULL;
  PyArrayObject *a = af_py_action_array(action, 1, 1, o->spec->act_dim, "step");
  if (!a) return NULL;
  float r = 0;
  int term = 0, trunc = 0, rc;
  af_info info;
  o->busy = 1;
  Py_BEGIN_ALLOW_THREADS
  rc = af_env_step(o->env, PyArray_DATA(a), o->obs, &r, &term, &trunc, &info);
  if (rc == AF_OK && o->obs_pixels) rc = af_env_pixels(o->env, o->pix);
  Py_END_ALLOW_THREADS
  o->busy = 0;
  Py_DECREF(a);
  if (rc) return af_py_raise(rc, af_env_last_error(o->env));
  return step_result(o, r, term, trunc, &info);
}

static PyObject *env_end_diverged(env_object *o, PyObject *noargs) {
  (void)noargs;
  if (!usable(o)) return NULL;
  float r = 0;
  int term = 0, trunc = 0;
  af_info info;
  int rc = af_env_end_diverged(o->env, o->obs, &r, &term, &trunc, &info);
  if (rc == AF_OK && o->obs_pixels) rc = af_env_pixels(o->env, o->pix);
  if (rc) return af_py_raise(rc, af_env_last_error(o->env));
  return step_result(o, r, term, trunc, &info);
}

static PyObject *env_render(env_object *o, PyObject *noargs) {
  (void)noargs;
  if (!usable(o)) return NULL;
  if (!o->started) { PyErr_SetString(af_py_state_error, "render: reset the environment first"); return NULL; }
  const struct mjModel_ *m = af_env_model(o->env);
  if (!o->render) {
    char err[512];
    o->render = af_render_make(m, o->render_w, o->render_h, 0, 0, err, sizeof err);
    if (!o->render) return af_py_raise(AF_ERR_UNSUP, err);
  }
  npy_intp d[3] = {o->render_h, o->render_w, 3};
  PyObject *img = PyArray_SimpleNew(3, d, NPY_UINT8);
  if (!img) return NULL;
  // the model's first camera (each model has one aimed at its task), as pixel observations use
  int camera = m->ncam > 0 ? 0 : -1;
  o->busy = 1;
  Py_BEGIN_ALLOW_THREADS
  af_render_frame(o->render, m, (mjData *)af_env_data(o->env), camera, NULL, PyArray_DATA((PyArrayObject *)img));
  Py_END_ALLOW_THREADS
  o->busy = 0;
  return img;
}

static PyObject *env_close(env_object *o, PyObject *noargs) {
  (void)noargs;
  if (o->busy) { PyErr_SetString(af_py_state_error, "Env: used from two threads at once"); return NULL; }
  env_release(o);
  Py_RETURN_NONE;
}

// the goal reward of each (achieved, desired) pair, broadcast over the leading axes
static PyObject *env_compute_reward(env_object *o, PyObject *args, PyObject *kwargs) {
  static char *kwlist[] = {"achieved_goal", "desired_goal", "info", NULL};
  PyObject *ag, *dg, *info = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O:compute_reward", kwlist, &ag, &dg, &info)) return NULL;
  if (!usable(o)) return NULL;
  const int g = o->spec->goal_dim;
  if (g == 0) return af_py_raise(AF_ERR_UNSUP, "compute_reward: the environment is not goal-conditioned (goal_dim 0)");
  PyObject *np = PyImport_ImportModule("numpy");
  if (!np) return NULL;
  PyObject *pair = PyObject_CallMethod(np, "broadcast_arrays", "OO", ag, dg);
  Py_DECREF(np);
  if (!pair) return NULL;
  PyObject *ia = PySequence_GetItem(pair, 0), *id = PySequence_GetItem(pair, 1);
  Py_DECREF(pair);
  const int flags = NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST;
  PyArrayObject *a = ia ? (PyArrayObject *)PyArray_FROM_OTF(ia, NPY_FLOAT32, flags) : NULL;
  PyArrayObject *d = id ? (PyArrayObject *)PyArray_FROM_OTF(id, NPY_FLOAT32, flags) : NULL;
  Py_XDECREF(ia);
  Py_XDECREF(id);
  PyObject *out = NULL;
  if (a && d) {
    int nd = PyArray_NDIM(a);
    if (nd < 1 || PyArray_DIM(a, nd - 1) != g) {
      PyErr_Format(af_py_arg_error, "compute_reward: goals must have a last axis of goal_dim %d", g);
    } else {
      out = PyArray_SimpleNew(nd - 1, PyArray_DIMS(a), NPY_FLOAT32);
      if (out) {
        npy_intp n = PyArray_SIZE((PyArrayObject *)out);
        const float *pa = PyArray_DATA(a), *pd = PyArray_DATA(d);
        float *po = PyArray_DATA((PyArrayObject *)out);
        for (npy_intp k = 0; k < n; k++) po[k] = af_env_compute_reward(o->env, pa + k * g, pd + k * g);
      }
    }
  }
  Py_XDECREF(a);
  Py_XDECREF(d);
  return out ? PyArray_Return((PyArrayObject *)out) : NULL;
}

static PyObject *env_success_examples(env_object *o, PyObject *args, PyObject *kwargs) {
  static char *kwlist[] = {"k", "seed", NULL};
  int k;
  PyObject *so = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iO:success_examples", kwlist, &k, &so)) return NULL;
  if (!usable(o)) return NULL;
  uint64_t seed;
  int given;
  if (af_py_seed_arg(so, &seed, &given)) return NULL;
  if (!given || k < 1) return af_py_raise(AF_ERR_ARG, "success_examples(k, seed): k >= 1 and an int seed");
  npy_intp dims[2] = {k, o->spec->obs_dim};
  PyObject *out = PyArray_SimpleNew(2, dims, NPY_FLOAT32);
  if (!out) return NULL;
  int rc;
  o->busy = 1;
  o->started = 0;  // the environment needs a reset afterwards
  Py_BEGIN_ALLOW_THREADS
  rc = af_env_success_examples(o->env, seed, k, PyArray_DATA((PyArrayObject *)out));
  Py_END_ALLOW_THREADS
  o->busy = 0;
  if (rc) { Py_DECREF(out); return af_py_raise(rc, af_env_last_error(o->env)); }
  return out;
}

static PyObject *env_get_state(env_object *o, PyObject *noargs) {
  (void)noargs;
  if (!usable(o)) return NULL;
  size_t n = af_env_state_size(o->env);
  PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
  if (!b) return NULL;
  int rc = af_env_get_state(o->env, PyBytes_AS_STRING(b), n);
  if (rc) { Py_DECREF(b); return af_py_raise(rc, af_env_last_error(o->env)); }
  return b;
}

static PyObject *env_set_state(env_object *o, PyObject *arg) {
  if (!usable(o)) return NULL;
  Py_buffer view;
  if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE)) return NULL;
  int rc;
  o->busy = 1;
  Py_BEGIN_ALLOW_THREADS
  rc = af_env_set_state(o->env, view.buf, (size_t)view.len);
  Py_END_ALLOW_THREADS
  o->busy = 0;
  PyBuffer_Release(&view);
  if (rc) {
    // a refused snapshot leaves env as it was (the library's step refuses if it needs a reset)
    if (rc == AF_ERR_NUMERIC) o->started = 0;
    return af_py_raise(rc, af_env_last_error(o->env));
  }
  o->started = 1;
  PyObject *draws = af_py_json_loads(af_env_randomization_json(o->env));
  if (!draws) return NULL;
  Py_SETREF(o->randomization, draws);
  Py_RETURN_NONE;
}

static PyObject *env_scripted_action(env_object *o, PyObject *noargs) {
  (void)noargs;
  if (!usable(o)) return NULL;
  npy_intp d[1] = {o->spec->act_dim};
  PyObject *a = PyArray_SimpleNew(1, d, NPY_FLOAT32);
  if (!a) return NULL;
  int rc = af_env_scripted_action(o->env, PyArray_DATA((PyArrayObject *)a));
  if (rc) { Py_DECREF(a); return af_py_raise(rc, af_env_last_error(o->env)); }
  return a;
}

static PyObject *env_enter(PyObject *o, PyObject *noargs) { (void)noargs; Py_INCREF(o); return o; }
static PyObject *env_exit(env_object *o, PyObject *args) { (void)args; return env_close(o, NULL); }

static PyMethodDef env_methods[] = {
  {"reset", (PyCFunction)(void (*)(void))env_reset, METH_VARARGS | METH_KEYWORDS,
   "reset(*, seed=None, options=None) -> (obs, info): start an episode; info holds its seed and randomization draws. "
   "options: {'randomize': bool, 'difficulty': float}"},
  {"step", (PyCFunction)env_step, METH_O,
   "step(action) -> (obs, reward, terminated, truncated, info): action of shape (act_dim,) in [-1, 1] (clipped); a NaN "
   "raises ArgumentError and changes nothing. info: success, diverged, and episode (r, l, success, diverged, metrics) at the end"},
  {"end_diverged", (PyCFunction)env_end_diverged, METH_NOARGS,
   "end_diverged() -> step's 5-tuple: end the episode as a blow-up would (reward 0, truncated, info['diverged'])"},
  {"render", (PyCFunction)env_render, METH_NOARGS, "render() -> uint8 array (render_height, render_width, 3) from the model's first camera"},
  {"close", (PyCFunction)env_close, METH_NOARGS, "close(): free the environment (later calls raise StateError)"},
  {"compute_reward", (PyCFunction)(void (*)(void))env_compute_reward, METH_VARARGS | METH_KEYWORDS,
   "compute_reward(achieved_goal, desired_goal, info=None) -> float32 array of the broadcast leading shape: the goal "
   "reward of each pair (..., goal_dim), for relabelling"},
  {"success_examples", (PyCFunction)(void (*)(void))env_success_examples, METH_VARARGS | METH_KEYWORDS,
   "success_examples(k, seed) -> (k, obs_dim) float32: observations of solved states; reset afterwards"},
  {"get_state", (PyCFunction)env_get_state, METH_NOARGS, "get_state() -> bytes: a snapshot of the episode's whole state"},
  {"set_state", (PyCFunction)env_set_state, METH_O,
   "set_state(snapshot): restore a snapshot of an environment made with the same name and config; stepping on replays bit for bit"},
  {"scripted_action", (PyCFunction)env_scripted_action, METH_NOARGS,
   "scripted_action() -> (act_dim,) float32: the environment's scripted controller's action (UnsupportedError if none)"},
  {"__enter__", env_enter, METH_NOARGS, NULL},
  {"__exit__", (PyCFunction)env_exit, METH_VARARGS, NULL},
  {NULL, NULL, 0, NULL},
};

static PyObject *get_obj(PyObject *v) { if (!v) v = Py_None; Py_INCREF(v); return v; }
static PyObject *env_get_observation_space(env_object *o, void *c) { (void)c; return get_obj(o->observation_space); }
static PyObject *env_get_action_space(env_object *o, void *c) { (void)c; return get_obj(o->action_space); }
static PyObject *env_get_spec(env_object *o, void *c) { (void)c; return get_obj(o->spec_dict); }
static PyObject *env_get_metadata(env_object *o, void *c) { (void)c; return get_obj(o->metadata); }
static PyObject *env_get_render_mode(env_object *o, void *c) { (void)c; return get_obj(o->render_mode); }
static PyObject *env_get_randomization(env_object *o, void *c) { (void)c; return get_obj(o->randomization); }
static PyObject *env_get_unwrapped(PyObject *o, void *c) { (void)c; Py_INCREF(o); return o; }
static PyObject *env_get_none(PyObject *o, void *c) { (void)o; (void)c; Py_RETURN_NONE; }
static PyObject *env_get_diverged(env_object *o, void *c) {
  (void)c;
  return o->env ? PyLong_FromLong(af_env_diverged_count(o->env)) : PyLong_FromLong(0);
}

static PyGetSetDef env_getset[] = {
  {"observation_space", (getter)env_get_observation_space, NULL, "Box of float32 (obs_dim,) (uint8 images, or a dict, with pixel observations)", NULL},
  {"action_space", (getter)env_get_action_space, NULL, "Box of float32 (act_dim,) in [-1, 1]", NULL},
  {"armfarm_spec", (getter)env_get_spec, NULL, "the library's spec as a dict (sizes, goal layout, rates, horizon, texts, resolved config)", NULL},
  {"metadata", (getter)env_get_metadata, NULL, "render modes and the control rate as render_fps", NULL},
  {"render_mode", (getter)env_get_render_mode, NULL, "None or 'rgb_array' (render() works either way)", NULL},
  {"randomization", (getter)env_get_randomization, NULL, "the current episode's randomization draws (dict), None before a reset", NULL},
  {"diverged_count", (getter)env_get_diverged, NULL, "physics blow-ups since make", NULL},
  {"unwrapped", (getter)env_get_unwrapped, NULL, "the environment itself", NULL},
  {"spec", (getter)env_get_none, NULL, "None: the environment is not in gymnasium's registry (see armfarm_spec)", NULL},
  {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject af_py_env_type = {
  PyVarObject_HEAD_INIT(NULL, 0)
  .tp_name = "armfarm.Env",
  .tp_doc = "Env(name, *, render_mode=None, render_width=256, render_height=256, **config): an armfarm environment with "
            "Gymnasium's reset/step semantics; config values are converted to JSON (armfarm.make is the same)",
  .tp_basicsize = sizeof(env_object),
  .tp_flags = Py_TPFLAGS_DEFAULT,
  .tp_new = PyType_GenericNew,
  .tp_init = (initproc)env_init,
  .tp_dealloc = (destructor)env_dealloc,
  .tp_methods = env_methods,
  .tp_getset = env_getset,
};
