// Spaces: gymnasium.spaces.Box when gymnasium can be imported, else armfarm.Box, a small
// stand-in with Gymnasium's attributes (shape, dtype, low, high) and methods (sample, contains,
// seed) and its sampling rule: uniform where both bounds are finite, normal where neither
// is, exponential from the finite bound where one is; uint8 boxes draw integers.
#include "armfarm_py.h"

#include <math.h>    // isfinite, log
#include <stdlib.h>  // getenv, malloc, free

typedef struct {
  PyObject_HEAD
  PyObject *shape;         // tuple
  PyArray_Descr *dtype;    // float32 or uint8
  PyArrayObject *low, *high;  // arrays of shape and dtype
  npy_intp n;              // elements
  double *lo, *hi;         // (n) the bounds as doubles, for sample and contains
  af_rng rng;
} box_object;

static void box_dealloc(box_object *b) {
  Py_XDECREF(b->shape);
  Py_XDECREF(b->dtype);
  Py_XDECREF(b->low);
  Py_XDECREF(b->high);
  free(b->lo);
  free(b->hi);
  Py_TYPE(b)->tp_free((PyObject *)b);
}

// a uniform bound array of the box's shape and dtype
static PyArrayObject *bound_array(int ndim, const npy_intp *shape, int dtype, double v) {
  PyArrayObject *a = (PyArrayObject *)PyArray_SimpleNew(ndim, (npy_intp *)shape, dtype);
  if (!a) return NULL;
  npy_intp n = PyArray_SIZE(a);
  for (npy_intp k = 0; k < n; k++) {
    if (dtype == NPY_FLOAT32) ((float *)PyArray_DATA(a))[k] = (float)v;
    else ((npy_uint8 *)PyArray_DATA(a))[k] = (npy_uint8)v;
  }
  return a;
}

static box_object *box_new(int ndim, const npy_intp *shape, double lo, double hi, int dtype) {
  box_object *b = PyObject_New(box_object, &af_py_box_type);
  if (!b) return NULL;
  b->shape = NULL;
  b->dtype = NULL;
  b->low = b->high = NULL;
  b->lo = b->hi = NULL;
  b->n = 1;
  for (int k = 0; k < ndim; k++) b->n *= shape[k];
  b->shape = PyTuple_New(ndim);
  for (int k = 0; b->shape && k < ndim; k++) PyTuple_SET_ITEM(b->shape, k, PyLong_FromSsize_t(shape[k]));
  b->dtype = PyArray_DescrFromType(dtype);
  b->low = bound_array(ndim, shape, dtype, lo);
  b->high = bound_array(ndim, shape, dtype, hi);
  b->lo = malloc(sizeof(double) * (size_t)(b->n + 1));
  b->hi = malloc(sizeof(double) * (size_t)(b->n + 1));
  if (!b->shape || !b->dtype || !b->low || !b->high || !b->lo || !b->hi) {
    Py_DECREF(b);
    return (box_object *)PyErr_NoMemory();
  }
  for (npy_intp k = 0; k < b->n; k++) { b->lo[k] = lo; b->hi[k] = hi; }
  af_rng_seed(&b->rng, 0);
  return b;
}

// seed(seed=None): the sampling stream from seed (None: from the operating system)
static PyObject *box_seed(box_object *b, PyObject *args, PyObject *kwargs) {
  static char *kwlist[] = {"seed", NULL};
  PyObject *so = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:seed", kwlist, &so)) return NULL;
  uint64_t seed;
  int given;
  if (af_py_seed_arg(so, &seed, &given)) return NULL;
  if (!given && af_py_entropy_seed(&seed)) return NULL;
  af_rng_seed(&b->rng, seed);
  return Py_BuildValue("[K]", (unsigned long long)seed);
}

static PyObject *box_sample(box_object *b, PyObject *noargs) {
  (void)noargs;
  int ndim = (int)PyTuple_GET_SIZE(b->shape);
  npy_intp dims[NPY_MAXDIMS];
  for (int k = 0; k < ndim; k++) dims[k] = PyLong_AsSsize_t(PyTuple_GET_ITEM(b->shape, k));
  PyArrayObject *a = (PyArrayObject *)PyArray_SimpleNew(ndim, dims, b->dtype->type_num);
  if (!a) return NULL;
  for (npy_intp k = 0; k < b->n; k++) {
    double lo = b->lo[k], hi = b->hi[k], x;
    if (b->dtype->type_num == NPY_UINT8) {
      ((npy_uint8 *)PyArray_DATA(a))[k] = (npy_uint8)af_rng_int(&b->rng, (int)lo, (int)hi);
      continue;
    }
    if (isfinite(lo) && isfinite(hi)) x = af_rng_range(&b->rng, lo, hi);
    else if (isfinite(lo)) x = lo - log(1.0 - af_rng_uniform(&b->rng));
    else if (isfinite(hi)) x = hi + log(1.0 - af_rng_uniform(&b->rng));
    else x = af_rng_normal(&b->rng);
    ((float *)PyArray_DATA(a))[k] = (float)x;
  }
  return (PyObject *)a;
}

// Gymnasium's rule: a castable dtype, the same shape, every element within the bounds
static int box_contains_x(box_object *b, PyObject *x) {
  PyArrayObject *a;
  if (PyArray_Check(x)) {
    Py_INCREF(x);
    a = (PyArrayObject *)x;
  } else {
    Py_INCREF(b->dtype);
    a = (PyArrayObject *)PyArray_FromAny(x, b->dtype, 0, 0, NPY_ARRAY_FORCECAST, NULL);
    if (!a) { PyErr_Clear(); return 0; }
  }
  int ok = PyArray_CanCastTo(PyArray_DESCR(a), b->dtype) && PyArray_SIZE(a) == b->n &&
           PyArray_NDIM(a) == (int)PyTuple_GET_SIZE(b->shape);
  for (int k = 0; ok && k < PyArray_NDIM(a); k++) ok = PyArray_DIM(a, k) == PyLong_AsSsize_t(PyTuple_GET_ITEM(b->shape, k));
  PyArrayObject *d = ok ? (PyArrayObject *)PyArray_FROM_OTF((PyObject *)a, NPY_FLOAT64, NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST) : NULL;
  Py_DECREF(a);
  if (!ok) return 0;
  if (!d) { PyErr_Clear(); return 0; }
  const double *v = PyArray_DATA(d);
  for (npy_intp k = 0; ok && k < b->n; k++) ok = v[k] >= b->lo[k] && v[k] <= b->hi[k];  // NaN fails both
  Py_DECREF(d);
  return ok;
}

static PyObject *box_contains(box_object *b, PyObject *x) { return PyBool_FromLong(box_contains_x(b, x)); }
static int box_sq_contains(PyObject *b, PyObject *x) { return box_contains_x((box_object *)b, x); }

static PyObject *box_repr(box_object *b) {
  double lo = b->n ? b->lo[0] : 0, hi = b->n ? b->hi[0] : 0;
  PyObject *l = PyFloat_FromDouble(lo), *h = PyFloat_FromDouble(hi);
  PyObject *r = l && h ? PyUnicode_FromFormat("Box(%R, %R, %R, %S)", l, h, b->shape, (PyObject *)b->dtype) : NULL;
  Py_XDECREF(l);
  Py_XDECREF(h);
  return r;
}

static PyObject *box_get_shape(box_object *b, void *c) { (void)c; Py_INCREF(b->shape); return b->shape; }
static PyObject *box_get_dtype(box_object *b, void *c) { (void)c; Py_INCREF(b->dtype); return (PyObject *)b->dtype; }
static PyObject *box_get_low(box_object *b, void *c) { (void)c; Py_INCREF(b->low); return (PyObject *)b->low; }
static PyObject *box_get_high(box_object *b, void *c) { (void)c; Py_INCREF(b->high); return (PyObject *)b->high; }

static PyGetSetDef box_getset[] = {
  {"shape", (getter)box_get_shape, NULL, "the shape (tuple)", NULL},
  {"dtype", (getter)box_get_dtype, NULL, "the dtype (float32, or uint8 for images)", NULL},
  {"low", (getter)box_get_low, NULL, "the lower bounds (array of shape and dtype)", NULL},
  {"high", (getter)box_get_high, NULL, "the upper bounds (array of shape and dtype)", NULL},
  {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef box_methods[] = {
  {"sample", (PyCFunction)box_sample, METH_NOARGS, "sample() -> array: a random element (the rule of gymnasium's Box)"},
  {"contains", (PyCFunction)box_contains, METH_O, "contains(x) -> bool: x has the shape, a castable dtype, and lies within the bounds"},
  {"seed", (PyCFunction)(void (*)(void))box_seed, METH_VARARGS | METH_KEYWORDS, "seed(seed=None) -> [seed]: seed sample()'s stream"},
  {NULL, NULL, 0, NULL},
};

static PySequenceMethods box_as_sequence = {.sq_contains = box_sq_contains};

PyTypeObject af_py_box_type = {
  PyVarObject_HEAD_INIT(NULL, 0)
  .tp_name = "armfarm.Box",
  .tp_doc = "a box of float32 (or uint8) values with Gymnasium's Box interface, used when gymnasium is not installed",
  .tp_basicsize = sizeof(box_object),
  .tp_flags = Py_TPFLAGS_DEFAULT,
  .tp_dealloc = (destructor)box_dealloc,
  .tp_repr = (reprfunc)box_repr,
  .tp_as_sequence = &box_as_sequence,
  .tp_methods = box_methods,
  .tp_getset = box_getset,
};

// gymnasium.spaces.Box, looked up once: NULL before the first call, Py_None when gymnasium
// cannot be imported (or ARMFARM_NO_GYMNASIUM is set, for tests of the stand-in)
static PyObject *gym_box;

PyObject *af_py_box(int ndim, const npy_intp *shape, double lo, double hi, int dtype) {
  if (!gym_box) {
    const char *off = getenv("ARMFARM_NO_GYMNASIUM");
    PyObject *spaces = off && *off ? NULL : PyImport_ImportModule("gymnasium.spaces");
    if (spaces) {
      gym_box = PyObject_GetAttrString(spaces, "Box");
      Py_DECREF(spaces);
    }
    if (!gym_box) {
      PyErr_Clear();
      Py_INCREF(Py_None);
      gym_box = Py_None;
    }
  }
  if (gym_box == Py_None) return (PyObject *)box_new(ndim, shape, lo, hi, dtype);
  PyObject *shp = PyTuple_New(ndim);
  if (!shp) return NULL;
  for (int k = 0; k < ndim; k++) PyTuple_SET_ITEM(shp, k, PyLong_FromSsize_t(shape[k]));
  PyObject *dt = (PyObject *)PyArray_DescrFromType(dtype);
  PyObject *kw = Py_BuildValue("{s:d,s:d,s:N,s:N}", "low", lo, "high", hi, "shape", shp, "dtype", dt);
  PyObject *args = PyTuple_New(0);
  PyObject *r = kw && args ? PyObject_Call(gym_box, args, kw) : NULL;
  Py_XDECREF(kw);
  Py_XDECREF(args);
  return r;
}
