// The vectorized runner: a fixed pool of worker threads, each owning a contiguous slice of
// the environments; the caller's thread works the first slice, after the side task when there
// is one. A thread done with its slice takes environments from the others' (each slice has an
// atomic cursor), so a slow slice or the side task does not leave a core idle. Two barriers
// per batch step.
#include "envs/vecenv.h"

#include <math.h>     // isfinite
#include <pthread.h>  // worker threads and barriers
#include <sched.h>    // sched_yield
#include <stdatomic.h>  // the barrier's counters
#include <stdio.h>    // snprintf
#include <stdlib.h>   // calloc, free
#include <string.h>   // memcpy

#include "envs/env_impl.h"
#include "base/rng.h"
#include "envs/curriculum.h"
#include "envs/render.h"

// a reusable barrier whose party count can shrink if a worker fails to start. Waiters spin
// briefly on the generation counter before sleeping: a batch step is a fraction of a
// millisecond, and a sleeping thread takes tens of microseconds to wake. The spin yields the
// CPU every few rounds, so that on a machine with more busy threads than cores the waiter
// does not hold up the very thread it waits for.
#define BARRIER_SPIN 4096
#define BARRIER_YIELD_EVERY 32

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int parties;
  atomic_int arrived;
  atomic_uint gen;
} barrier;

static void barrier_init(barrier *b, int parties) {
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->cv, NULL);
  b->parties = parties;
  atomic_init(&b->arrived, 0);
  atomic_init(&b->gen, 0);
}

static void barrier_destroy(barrier *b) {
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->cv);
}

static void barrier_wait(barrier *b) {
  unsigned g = atomic_load(&b->gen);
  if (atomic_fetch_add(&b->arrived, 1) + 1 >= b->parties) {
    // the last to arrive opens the next generation
    atomic_store(&b->arrived, 0);
    pthread_mutex_lock(&b->mu);
    atomic_fetch_add(&b->gen, 1);
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return;
  }
  for (int i = 0; i < BARRIER_SPIN; i++) {
    if (atomic_load_explicit(&b->gen, memory_order_acquire) != g) return;
    if (i % BARRIER_YIELD_EVERY == BARRIER_YIELD_EVERY - 1) sched_yield();
#if defined(__x86_64__) || defined(__i386__)
    else __builtin_ia32_pause();
#endif
  }
  pthread_mutex_lock(&b->mu);
  while (atomic_load(&b->gen) == g) pthread_cond_wait(&b->cv, &b->mu);
  pthread_mutex_unlock(&b->mu);
}

struct af_vecenv;

typedef struct {
  struct af_vecenv *v;
  int lo, hi;      // environments [lo, hi)
  atomic_int cur;  // the next environment of the slice to step in this batch
  int index;       // this worker's slice
  pthread_t thread;
} worker;

struct af_vecenv {
  int n, k;
  af_env **envs;
  long *episode;        // episodes started per environment
  uint64_t seed;
  worker *w;
  barrier start, done;
  int started;          // worker threads running (excluding the caller)
  int quit;
  // the batch being stepped
  const float *actions;
  float *obs, *final_obs, *rewards;
  uint8_t *term, *trunc;
  af_info *infos;
  unsigned char *rgb;   // a pixel pass (not NULL): (n, H, W, 3) instead of a step
  int rc;
  int failed;  // an environment whose step or reset failed in the last batch
  pthread_mutex_t fail_mu;  // guards rc and failed
  // the difficulty curriculum (has_cur) and each environment's level
  af_curriculum cur;
  int has_cur;
  int *level;
};

uint64_t af_vecenv_seed(uint64_t seed, int n, int i, long episode) {
  return af_seed_derive(af_seed_derive(seed, 11), (uint64_t)episode * (uint64_t)n + (uint64_t)i);
}

// the first failure of the batch is the one reported
static void record_failure(af_vecenv *v, int rc, int i) {
  pthread_mutex_lock(&v->fail_mu);
  if (v->rc == AF_OK) { v->rc = rc; v->failed = i; }
  pthread_mutex_unlock(&v->fail_mu);
}

// the curriculum's move for environment i after the episode that info ends, applied to the
// following episodes; the draw comes from the run's seed and the episode, not the thread
static int next_level(af_vecenv *v, int i, const af_info *info) {
  uint64_t draw = af_seed_derive(af_seed_derive(v->seed, 13), (uint64_t)v->episode[i] * (uint64_t)v->n + (uint64_t)i);
  v->level[i] = af_curriculum_next(&v->cur, v->level[i], info->episode.metrics[v->cur.metric_index], draw);
  return af_env_set_difficulty(v->envs[i], af_curriculum_difficulty(&v->cur, v->level[i]));
}

// step environment i of the current batch, and reset it when its episode ended
static void step_one(af_vecenv *v, int i) {
  const af_env_spec *s = &v->envs[0]->spec;
  int term = 0, trunc = 0;
  float *o = v->obs + (size_t)i * s->obs_dim;
  af_info local, *info = v->infos ? &v->infos[i] : v->has_cur ? &local : NULL;
  const float *a = v->actions + (size_t)i * s->act_dim;
  // a non-finite action ends this environment's episode as diverged; the others step on
  int finite = 1;
  for (int k = 0; k < s->act_dim; k++) finite &= isfinite(a[k]) != 0;
  int rc = finite ? af_env_step(v->envs[i], a, o, &v->rewards[i], &term, &trunc, info)
                  : af_env_end_diverged(v->envs[i], o, &v->rewards[i], &term, &trunc, info);
  if (rc) { record_failure(v, rc, i); return; }
  v->term[i] = (uint8_t)term;
  v->trunc[i] = (uint8_t)trunc;
  if (term || trunc) {
    // keep the last observation, start the next episode
    if (v->final_obs) memcpy(v->final_obs + (size_t)i * s->obs_dim, o, sizeof(float) * (size_t)s->obs_dim);
    if (v->has_cur && (rc = next_level(v, i, info))) { record_failure(v, rc, i); return; }
    int rr = af_env_reset(v->envs[i], af_vecenv_seed(v->seed, v->n, i, v->episode[i]++), o);
    if (rr) record_failure(v, rr, i);
  }
}

// environment i's pixel observation of the current pass: its renderer's context made current
// in whichever thread takes it, and released after the frame for the next pass's taker
static void render_one(af_vecenv *v, int i) {
  const af_env_spec *s = &v->envs[0]->spec;
  int rc = af_env_pixels(v->envs[i], v->rgb + (size_t)i * s->pixel_width * s->pixel_height * 3);
  af_render_release();
  if (rc) record_failure(v, rc, i);
}

// worker `self`'s slice first, then whatever is left of the others', one environment at a time
static void step_slices(af_vecenv *v, int self) {
  for (int k = 0; k < v->k; k++) {
    worker *w = &v->w[(self + k) % v->k];
    for (int i; (i = w->lo + atomic_fetch_add(&w->cur, 1)) < w->hi;) {
      if (v->rgb) render_one(v, i);
      else {
        step_one(v, i);
        // stacked frames were rendered: the context goes back for whichever thread steps i next
        if (v->envs[0]->spec.pixel_stack > 0) af_render_release();
      }
    }
  }
}

static void *worker_main(void *arg) {
  worker *w = arg;
  af_vecenv *v = w->v;
  for (;;) {
    barrier_wait(&v->start);
    if (v->quit) break;
    step_slices(v, w->index);
    barrier_wait(&v->done);
  }
  return NULL;
}

af_vecenv *af_vecenv_make(const char *name, const char *config_json, int n, int threads, char *err, size_t errsz) {
  if (n < 1 || n > 4096) { snprintf(err, errsz, "number of environments %d is out of range [1, 4096]", n); return NULL; }
  if (threads < 1 || threads > 256) { snprintf(err, errsz, "number of threads %d is out of range [1, 256]", threads); return NULL; }
  if (threads > n) threads = n;
  af_vecenv *v = calloc(1, sizeof *v);
  if (!v) { snprintf(err, errsz, "out of memory"); return NULL; }
  v->n = n;
  pthread_mutex_init(&v->fail_mu, NULL);
  v->envs = calloc((size_t)n, sizeof *v->envs);
  v->episode = calloc((size_t)n, sizeof *v->episode);
  v->level = calloc((size_t)n, sizeof *v->level);
  if (!v->envs || !v->episode || !v->level) { snprintf(err, errsz, "out of memory"); af_vecenv_free(v); return NULL; }
  for (int i = 0; i < n; i++) {
    v->envs[i] = af_env_make(name, config_json, err, errsz);
    if (!v->envs[i]) { af_vecenv_free(v); return NULL; }
  }
  // workers 1..k-1 run in threads; slice 0 belongs to the caller
  v->k = threads;
  v->w = calloc((size_t)threads, sizeof *v->w);
  if (!v->w) { snprintf(err, errsz, "out of memory"); af_vecenv_free(v); return NULL; }
  for (int t = 0; t < threads; t++) {
    v->w[t].v = v;
    v->w[t].index = t;
    v->w[t].lo = (int)((long)n * t / threads);
    v->w[t].hi = (int)((long)n * (t + 1) / threads);
  }
  barrier_init(&v->start, threads);
  barrier_init(&v->done, threads);
  for (int t = 1; t < threads; t++) {
    if (pthread_create(&v->w[t].thread, NULL, worker_main, &v->w[t])) {
      // release the workers that did start, then fail cleanly
      snprintf(err, errsz, "cannot start worker thread %d of %d", t, threads);
      pthread_mutex_lock(&v->start.mu);
      v->start.parties = t;
      pthread_mutex_unlock(&v->start.mu);
      af_vecenv_free(v);
      return NULL;
    }
    v->started++;
  }
  return v;
}

void af_vecenv_free(af_vecenv *v) {
  if (!v) return;
  if (v->w) {
    // wake the workers with quit set and wait for them to leave
    v->quit = 1;
    if (v->started > 0) barrier_wait(&v->start);
    for (int t = 1; t <= v->started; t++) pthread_join(v->w[t].thread, NULL);
    barrier_destroy(&v->start);
    barrier_destroy(&v->done);
  }
  if (v->envs)
    for (int i = 0; i < v->n; i++) af_env_free(v->envs[i]);
  free(v->envs);
  free(v->episode);
  free(v->level);
  free(v->w);
  pthread_mutex_destroy(&v->fail_mu);
  free(v);
}

int af_vecenv_size(const af_vecenv *v) { return v->n; }
const af_env_spec *af_vecenv_spec(const af_vecenv *v) { return &v->envs[0]->spec; }
af_env *af_vecenv_env(af_vecenv *v, int i) { return i >= 0 && i < v->n ? v->envs[i] : NULL; }

int af_vecenv_reset(af_vecenv *v, uint64_t seed, float *obs) {
  const af_env_spec *s = &v->envs[0]->spec;
  v->seed = seed;
  for (int i = 0; i < v->n; i++) {
    v->episode[i] = 1;
    int rc = af_env_reset(v->envs[i], af_vecenv_seed(seed, v->n, i, 0), obs + (size_t)i * s->obs_dim);
    if (rc) return rc;
  }
  return AF_OK;
}

int af_vecenv_set_curriculum(af_vecenv *v, const af_curriculum *c, const int *levels) {
  // check everything, then set every environment's difficulty for its next reset
  if (c) {
    if (c->levels < 2 || c->levels > AF_CURRICULUM_MAX_LEVELS || c->metric_index < 0 || c->metric_index >= v->envs[0]->spec.n_metrics)
      return AF_ERR_ARG;
    for (int i = 0; i < v->n; i++)
      if (levels[i] < 0 || levels[i] >= c->levels) return AF_ERR_ARG;
  }
  for (int i = 0; i < v->n; i++) {
    int rc = af_env_set_difficulty(v->envs[i], c ? af_curriculum_difficulty(c, levels[i]) : -1);
    if (rc) { v->rc = rc; v->failed = i; return rc; }
  }
  v->has_cur = c != NULL;
  if (c) {
    v->cur = *c;
    memcpy(v->level, levels, sizeof(int) * (size_t)v->n);
  }
  return AF_OK;
}

void af_vecenv_levels(const af_vecenv *v, int *levels) {
  for (int i = 0; i < v->n; i++) levels[i] = v->has_cur ? v->level[i] : -1;
}

void af_vecenv_episodes(const af_vecenv *v, long *episodes) {
  memcpy(episodes, v->episode, sizeof(long) * (size_t)v->n);
}

int af_vecenv_restore(af_vecenv *v, uint64_t seed, const long *episodes, float *obs) {
  const af_env_spec *s = &v->envs[0]->spec;
  for (int i = 0; i < v->n; i++)
    if (episodes[i] < 1) return AF_ERR_ARG;
  v->seed = seed;
  for (int i = 0; i < v->n; i++) {
    v->episode[i] = episodes[i];
    int rc = af_env_reset(v->envs[i], af_vecenv_seed(seed, v->n, i, episodes[i] - 1), obs + (size_t)i * s->obs_dim);
    if (rc) return rc;
  }
  return AF_OK;
}

int af_vecenv_step(af_vecenv *v, const float *actions, float *obs, float *final_obs, float *rewards,
                   uint8_t *terminated, uint8_t *truncated, af_info *infos) {
  return af_vecenv_step_with(v, NULL, NULL, NULL, actions, obs, final_obs, rewards, terminated, truncated, infos);
}

int af_vecenv_step_with(af_vecenv *v, af_vecenv_task task, void *arg, int *task_rc, const float *actions, float *obs, float *final_obs,
                        float *rewards, uint8_t *terminated, uint8_t *truncated, af_info *infos) {
  // the batch, the slices' cursors rewound; the workers go, the caller runs the task, then
  // steps its slice and helps the others
  v->actions = actions;
  v->obs = obs;
  v->final_obs = final_obs;
  v->rewards = rewards;
  v->term = terminated;
  v->trunc = truncated;
  v->infos = infos;
  v->rgb = NULL;
  v->rc = AF_OK;
  v->failed = 0;
  for (int t = 0; t < v->k; t++) atomic_store(&v->w[t].cur, 0);
  // a context this thread rendered with outside the step (a reset) is released for the workers
  if (v->envs[0]->spec.pixel_stack > 0) af_render_release();
  if (v->k > 1) barrier_wait(&v->start);
  int trc = task ? task(arg) : AF_OK;
  if (task_rc) *task_rc = trc;
  step_slices(v, 0);
  if (v->k > 1) barrier_wait(&v->done);
  return v->rc;
}

int af_vecenv_pixels(af_vecenv *v, unsigned char *rgb) {
  const af_env_spec *s = &v->envs[0]->spec;
  if (s->pixel_width <= 0) {
    snprintf(v->envs[0]->err, sizeof v->envs[0]->err, "%s: pixel observations are off (set obs to pixels or state+pixels)", s->name);
    v->failed = 0;
    return AF_ERR_UNSUP;
  }
  // a pass of the workers over the environments, as a step's but rendering; the context this
  // thread drew with last (outside a pass) released first, so that a worker may take it
  af_render_release();
  v->rgb = rgb;
  v->rc = AF_OK;
  v->failed = 0;
  for (int t = 0; t < v->k; t++) atomic_store(&v->w[t].cur, 0);
  if (v->k > 1) barrier_wait(&v->start);
  step_slices(v, 0);
  if (v->k > 1) barrier_wait(&v->done);
  v->rgb = NULL;
  return v->rc;
}

const char *af_vecenv_last_error(const af_vecenv *v) { return af_env_last_error(v->envs[v->failed]); }
