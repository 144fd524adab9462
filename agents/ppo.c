// Proximal Policy Optimization on the oneDNN network core. Acting samples a clipped Gaussian
// action for each of the N environments and keeps its log-probability and value; observing
// stores the N transitions as one step of the rollout; when T steps are stored the update
// computes advantages (GAE) and takes epochs of shuffled minibatch steps on the clipped
// surrogate, the (optionally clipped) value loss and the entropy bonus.
#include "agents/ppo.h"

#include <math.h>    // expf, logf
#include <stdlib.h>  // calloc, free
#include <string.h>  // memcpy, memcmp

#define LOG_2PI_HALF 0.91893853320467274  // log(2 pi) / 2
#define ROLLOUT_TOTAL 2048                // the default rollout over all environments

// ---- hyperparameters (defaults as in ../shared/AGENTS.md, CleanRL and SB3) ----
static const af_param ppo_params[] = {
  {"lr", AF_P_DOUBLE, offsetof(af_ppo_cfg, lr), 3e-4, 1e-7, 1, NULL, "Adam step size of actor, critic and log std (annealed to 0 with anneal_lr)"},
  {"rollout", AF_P_INT, offsetof(af_ppo_cfg, rollout), 0, 0, 1000000, NULL,
   "steps per environment per rollout, T (0: 2048 over all environments, ceil(2048 / num_envs))"},
  {"minibatch", AF_P_INT, offsetof(af_ppo_cfg, minibatch), 64, 1, 1 << 20, NULL,
   "transitions per minibatch; floor(T num_envs / minibatch) minibatches an epoch, the rest sit that epoch out"},
  {"epochs", AF_P_INT, offsetof(af_ppo_cfg, epochs), 10, 1, 1000, NULL, "passes over the rollout per update"},
  {"hidden", AF_P_INT, offsetof(af_ppo_cfg, hidden), 64, 1, 4096, NULL, "units per hidden layer (actor and critic)"},
  {"layers", AF_P_INT, offsetof(af_ppo_cfg, layers), 2, 1, 6, NULL, "hidden layers"},
  {"activation", AF_P_ENUM, offsetof(af_ppo_cfg, activation), 0, 0, 1, "tanh|relu", "activation of the hidden layers"},
  {"gamma", AF_P_DOUBLE, offsetof(af_ppo_cfg, gamma), 0.99, 0, 1, NULL, "discount"},
  {"lam", AF_P_DOUBLE, offsetof(af_ppo_cfg, lam), 0.95, 0, 1, NULL, "GAE lambda"},
  {"clip", AF_P_DOUBLE, offsetof(af_ppo_cfg, clip), 0.2, 0, 10, NULL, "the surrogate's ratio is clipped to [1 - clip, 1 + clip]"},
  {"value_clip", AF_P_DOUBLE, offsetof(af_ppo_cfg, value_clip), 0, 0, 1e6, NULL,
   "clip the value's change from its acting-time estimate to this in the value loss (0: unclipped loss)"},
  {"vf_coef", AF_P_DOUBLE, offsetof(af_ppo_cfg, vf_coef), 0.5, 0, 1000, NULL, "weight of the value loss"},
  {"ent_coef", AF_P_DOUBLE, offsetof(af_ppo_cfg, ent_coef), 0, 0, 10, NULL, "weight of the entropy bonus"},
  {"max_grad_norm", AF_P_DOUBLE, offsetof(af_ppo_cfg, max_grad_norm), 0.5, 0, 1e6, NULL,
   "clip the norm of all gradients (actor, critic, log std) together (0: off)"},
  {"norm_adv", AF_P_BOOL, offsetof(af_ppo_cfg, norm_adv), 1, 0, 1, NULL, "normalize advantages to mean 0, std 1 per minibatch"},
  {"anneal_lr", AF_P_BOOL, offsetof(af_ppo_cfg, anneal_lr), 1, 0, 1, NULL, "anneal the step size linearly to 0 over anneal_steps"},
  {"anneal_steps", AF_P_INT, offsetof(af_ppo_cfg, anneal_steps), 0, 0, 1e9, NULL,
   "environment steps the step size anneals over (0: the run's budget, train.steps; constant when neither is known)"},
  {"init_log_std", AF_P_DOUBLE, offsetof(af_ppo_cfg, init_log_std), 0, -5, 2, NULL, "initial log standard deviation of the policy"},
  {"reward_scale", AF_P_DOUBLE, offsetof(af_ppo_cfg, reward_scale), 1, 1e-6, 1e6, NULL, "rewards are multiplied by this before learning"},
  {"target_kl", AF_P_DOUBLE, offsetof(af_ppo_cfg, target_kl), 0, 0, 10, NULL,
   "end an update early when a minibatch's approximate KL exceeds 1.5 target_kl (0: never)"},
  {"adam_eps", AF_P_DOUBLE, offsetof(af_ppo_cfg, adam_eps), 1e-5, 1e-12, 1, NULL, "Adam's epsilon"},
  // observation normalization, on by default for PPO (VecNormalize's clip of 10)
  {"obs_norm", AF_P_BOOL, offsetof(af_ppo_cfg, norm.obs_norm), 1, 0, 1, NULL,
   "normalize observations (goals included) by running mean and std before the networks"},
  {"obs_clip", AF_P_DOUBLE, offsetof(af_ppo_cfg, norm.obs_clip), 10, 0.1, 1000, NULL,
   "normalized observations are clipped to [-obs_clip, obs_clip]"},
};

static float clampf(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }

// are a network's gradients all finite?
static int net_finite(af_mlp *net) { return af_nn_finite(af_mlp_grads(net), (size_t)af_mlp_nparams(net)); }

void af_ppo_gae(float *adv, float *ret, const float *rew, const float *val, const float *done, const float *last_val, int T,
                int N, float gamma, float lam) {
  for (int i = 0; i < N; i++) {
    double a = 0, next_v = last_val[i];
    for (int t = T - 1; t >= 0; t--) {
      const int k = t * N + i;
      const double keep = 1.0 - done[k];
      const double delta = rew[k] + gamma * keep * next_v - val[k];
      a = delta + (double)gamma * lam * keep * a;
      adv[k] = (float)a;
      ret[k] = (float)(a + val[k]);
      next_v = val[k];
    }
  }
}

// log pi(u | obs) of a diagonal Gaussian given the mean (B, ad) and the log std (ad)
static void gauss_logp(float *logp, const float *u, const float *mu, const float *log_std, int B, int ad) {
  for (int b = 0; b < B; b++) {
    double lp = 0;
    for (int i = 0; i < ad; i++) {
      double z = (u[b * ad + i] - mu[b * ad + i]) * exp(-(double)log_std[i]);
      lp += -0.5 * z * z - log_std[i] - LOG_2PI_HALF;
    }
    logp[b] = (float)lp;
  }
}

// the policy's entropy, the same for every state: sum log std + ad (1 + log 2 pi) / 2
static double entropy(const af_ppo *p) {
  double h = 0;
  for (int i = 0; i < p->ad; i++) h += p->log_std[i] + 0.5 + LOG_2PI_HALF;
  return h;
}

void af_ppo_grads(af_ppo *p, const float *obs, const float *act, const float *logp_old, const float *v_old, const float *adv,
                  const float *ret, af_ppo_losses *out) {
  const int M = p->M, ad = p->ad;
  const double c = p->cfg.clip, vc = p->cfg.value_clip, vf = p->cfg.vf_coef, invM = 1.0 / M;
  memset(out, 0, sizeof *out);
  const float *mu = af_mlp_forward(p->actor, M, obs), *v = af_mlp_forward(p->critic, M, obs);
  if (!mu || !v) return;  // the context's error says why

  // ---- advantages, normalized over the minibatch (torch's unbiased std, as CleanRL) ----
  double am = 0, as = 1;
  if (p->cfg.norm_adv && M > 1) {
    double s = 0, s2 = 0;
    for (int b = 0; b < M; b++) s += adv[b];
    am = s / M;
    for (int b = 0; b < M; b++) s2 += (adv[b] - am) * (adv[b] - am);
    as = sqrt(s2 / (M - 1)) + 1e-8;
  }
  for (int b = 0; b < M; b++) p->m_nadv[b] = (float)((adv[b] - am) / as);

  // ---- surrogate: dL/dlogp = -(1/M) ratio A where the unclipped term is the smaller ----
  double pl = 0, vl = 0, kl = 0, clipped = 0;
  for (int i = 0; i < ad; i++) p->log_std_grad[i] = 0;
  for (int b = 0; b < M; b++) {
    double lp = 0;
    for (int i = 0; i < ad; i++) {
      double z = (act[b * ad + i] - mu[b * ad + i]) * exp(-(double)p->log_std[i]);
      lp += -0.5 * z * z - p->log_std[i] - LOG_2PI_HALF;
    }
    const double lr = lp - logp_old[b], ratio = exp(lr), A = p->m_nadv[b];
    const double s1 = ratio * A, s2 = fmin(fmax(ratio, 1 - c), 1 + c) * A;
    pl -= fmin(s1, s2) * invM;
    kl += (ratio - 1 - lr) * invM;
    clipped += (fabs(ratio - 1) > c) * invM;
    const double g = s1 <= s2 ? -A * ratio * invM : 0;
    // d logp / d mu = z / std, d logp / d log std = z^2 - 1
    for (int i = 0; i < ad; i++) {
      const double isd = exp(-(double)p->log_std[i]), z = (act[b * ad + i] - mu[b * ad + i]) * isd;
      p->d_mu[b * ad + i] = (float)(g * z * isd);
      p->log_std_grad[i] += (float)(g * (z * z - 1));
    }
    // ---- value: 0.5 (V - R)^2, or the larger of it and the clipped estimate's ----
    const double d = v[b] - ret[b];
    double dv = d, l = 0.5 * d * d;
    if (vc > 0) {
      const double dc = v_old[b] + fmin(fmax(v[b] - v_old[b], -vc), vc) - ret[b];
      if (dc * dc > d * d) l = 0.5 * dc * dc, dv = fabs(v[b] - v_old[b]) < vc ? dc : 0;
    }
    vl += l * invM;
    p->d_v[b] = (float)(vf * dv * invM);
  }
  // ---- entropy bonus: -ent_coef H, dH / d log std = 1 ----
  const double h = entropy(p);
  for (int i = 0; i < ad; i++) p->log_std_grad[i] -= (float)p->cfg.ent_coef;
  af_mlp_backward(p->actor, M, p->d_mu, NULL, 1, 0);
  af_mlp_backward(p->critic, M, p->d_v, NULL, 1, 0);
  *out = (af_ppo_losses){.policy_loss = (float)pl, .value_loss = (float)vl, .entropy = (float)h, .approx_kl = (float)kl,
                         .clip_frac = (float)clipped, .loss = (float)(pl + vf * vl - p->cfg.ent_coef * h)};
}

// one clip of the joint gradient norm, then the three Adam steps
static void apply_step(af_ppo *p) {
  float *g[3] = {af_mlp_grads(p->actor), af_mlp_grads(p->critic), p->log_std_grad};
  const int n[3] = {af_mlp_nparams(p->actor), af_mlp_nparams(p->critic), p->ad};
  if (p->cfg.max_grad_norm > 0) {
    double s = 0;
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < n[j]; k++) s += (double)g[j][k] * g[j][k];
    const double norm = sqrt(s), mx = p->cfg.max_grad_norm;
    if (norm > mx) {
      const float f = (float)(mx / (norm + 1e-6));
      for (int j = 0; j < 3; j++)
        for (int k = 0; k < n[j]; k++) g[j][k] *= f;
    }
  }
  af_adam_step(&p->opt_actor, af_mlp_params(p->actor), g[0]);
  af_adam_step(&p->opt_critic, af_mlp_params(p->critic), g[1]);
  af_adam_step(&p->opt_log_std, p->log_std, g[2]);
}

static void ppo_free(void *a) {
  af_ppo *p = a;
  if (!p) return;
  af_mlp_free(p->actor);
  af_mlp_free(p->critic);
  af_adam_free(&p->opt_actor);
  af_adam_free(&p->opt_critic);
  af_adam_free(&p->opt_log_std);
  af_normalizer_free(&p->norm);
  af_nn_ctx_free(p->ctx);
  free(p->log_std);
  free(p->r_obs);
  free(p->perm);
  free(p);
}

static void *ppo_make(const void *cfgp, const af_agent_setup *setup, const af_agent_common *common, char *err, size_t errsz) {
  const af_ppo_cfg *c = cfgp;
  const af_env_spec *spec = setup->spec;
  if (spec->obs_dim < 1 || spec->act_dim < 1) { snprintf(err, errsz, "ppo: needs a state observation and an action (obs %d, act %d)", spec->obs_dim, spec->act_dim); return NULL; }
  const int N = setup->num_envs, T = c->rollout ? c->rollout : (ROLLOUT_TOTAL + N - 1) / N;
  if ((long)T * N > (1L << 26)) { snprintf(err, errsz, "agent.rollout: %d steps of %d environments is more than 2^26 transitions", T, N); return NULL; }
  if (c->minibatch > T * N) {
    snprintf(err, errsz, "agent.minibatch: %d is more than the rollout's %d transitions (rollout %d x %d environments)", c->minibatch, T * N, T, N);
    return NULL;
  }
  af_ppo *p = calloc(1, sizeof *p);
  if (!p) { snprintf(err, errsz, "out of memory"); return NULL; }
  p->cfg = *c;
  p->od = spec->obs_dim;
  p->ad = spec->act_dim;
  p->N = N;
  p->T = T;
  p->S = T * N;
  p->M = c->minibatch;
  p->lr0 = (float)c->lr;
  p->budget = !c->anneal_lr ? 0 : c->anneal_steps ? c->anneal_steps : setup->total_steps;
  af_rng_seed(&p->rng, af_seed_derive(setup->seed, 0x990));
  // networks: actor obs -> mean (ad), critic obs -> value; both planned for the minibatch
  // and the N environments, the actor for one row as well (evaluation)
  int asz[8], vsz[8], L = c->layers + 1;
  asz[0] = vsz[0] = p->od;
  for (int l = 1; l < L; l++) asz[l] = vsz[l] = c->hidden;
  asz[L] = p->ad;
  vsz[L] = 1;
  int bs[3] = {p->M}, nb = 1;
  if (N != p->M) bs[nb++] = N;
  const int nbv = nb;
  if (N != 1 && p->M != 1) bs[nb++] = 1;
  const af_act hid = c->activation == 1 ? AF_ACT_RELU : AF_ACT_TANH;
  if (!(p->ctx = af_agent_nn_ctx(common, err, errsz)) ||
      !(p->actor = af_mlp_make(p->ctx, L, asz, hid, AF_ACT_NONE, bs, nb, err, errsz)) ||
      !(p->critic = af_mlp_make(p->ctx, L, vsz, hid, AF_ACT_NONE, bs, nbv, err, errsz))) {
    ppo_free(p);
    return NULL;
  }
  // initial parameters from their own stream; the mean's output layer scaled by 0.01 so the
  // first policy is close to N(0, std) in every state (CleanRL's std 0.01 output layer)
  af_rng init;
  af_rng_seed(&init, af_seed_derive(setup->seed, 0x1417));
  af_mlp_init(p->actor, &init);
  af_mlp_init(p->critic, &init);
  const int last = (c->hidden + 1) * p->ad;
  float *w = af_mlp_params(p->actor) + af_mlp_nparams(p->actor) - last;
  for (int k = 0; k < last; k++) w[k] = k < c->hidden * p->ad ? 0.01f * w[k] : 0;
  // log std and its gradient (ad each)
  if (!(p->log_std = calloc(2 * (size_t)p->ad, sizeof(float)))) { snprintf(err, errsz, "out of memory"); ppo_free(p); return NULL; }
  p->log_std_grad = p->log_std + p->ad;
  for (int i = 0; i < p->ad; i++) p->log_std[i] = (float)c->init_log_std;
  if (af_adam_init(&p->opt_actor, af_mlp_nparams(p->actor), p->lr0, err, errsz) ||
      af_adam_init(&p->opt_critic, af_mlp_nparams(p->critic), p->lr0, err, errsz) ||
      af_adam_init(&p->opt_log_std, p->ad, p->lr0, err, errsz) ||
      (c->norm.obs_norm && af_normalizer_init(&p->norm, p->od, (float)c->norm.obs_clip, 0.01f, err, errsz))) {
    ppo_free(p);
    return NULL;
  }
  p->opt_actor.eps = p->opt_critic.eps = p->opt_log_std.eps = (float)c->adam_eps;
  // the rollout, a minibatch, the acting cache and scratch in one allocation
  const size_t S = (size_t)p->S, M = (size_t)p->M, od = (size_t)p->od, ad = (size_t)p->ad, n = (size_t)N;
  size_t total = S * (od + ad + 6) + n + M * (od + 2 * ad + 6) + n * (2 * od + 2 * ad + 2) + n * (2 * od + ad);
  float *q = p->r_obs = calloc(total, sizeof(float));
  p->perm = calloc(S, sizeof(int));
  if (!q || !p->perm) { snprintf(err, errsz, "out of memory"); ppo_free(p); return NULL; }
  p->r_obs = q; q += S * od;
  p->r_act = q; q += S * ad;
  p->r_logp = q; q += S;
  p->r_val = q; q += S;
  p->r_rew = q; q += S;
  p->r_done = q; q += S;
  p->r_adv = q; q += S;
  p->r_ret = q; q += S;
  p->last_val = q; q += n;
  p->m_obs = q; q += M * od;
  p->m_act = q; q += M * ad;
  p->m_logp = q; q += M;
  p->m_val = q; q += M;
  p->m_adv = q; q += M;
  p->m_ret = q; q += M;
  p->m_nadv = q; q += M;
  p->d_mu = q; q += M * ad;
  p->d_v = q; q += M;
  p->c_raw_obs = q; q += n * od;
  p->c_obs = q; q += n * od;
  p->c_act = q; q += n * ad;
  p->c_u = q; q += n * ad;
  p->c_logp = q; q += n;
  p->c_val = q; q += n;
  p->act_obs = q; q += n * od;
  p->act_eps = q; q += n * ad;
  p->next_obs = q;
  return p;
}

static int numeric_error(const af_ppo *p, char *err, size_t errsz) {
  const char *e = af_nn_ctx_error(p->ctx);
  if (!e) return AF_OK;
  snprintf(err, errsz, "ppo: %s", e);
  return AF_ERR_NUMERIC;
}

// the deterministic policy: the actor's mean clipped to [-1, 1], as act gives it
static int ppo_policy(void *a, af_policy *out, char *err, size_t errsz) {
  af_ppo *p = a;
  int norm = p->cfg.norm.obs_norm;
  return af_policy_from_mlp(out, p->od, p->ad, p->actor, norm ? p->norm.fmean : NULL, norm ? p->norm.fstd : NULL,
                            norm ? p->norm.clip : 0, 2, err, errsz);
}

// observations as the networks see them: normalized when normalization is on
static const float *normalized(const af_ppo *p, float *dst, const float *obs, int n) {
  if (!p->cfg.norm.obs_norm) return obs;
  af_normalizer_apply(&p->norm, dst, obs, n);
  return dst;
}

static int ppo_act(void *a, float *action, const float *obs, int n, int deterministic, char *err, size_t errsz) {
  af_ppo *p = a;
  if (n != 1 && n != p->N) { snprintf(err, errsz, "ppo: act on %d observations (made for 1 or %d)", n, p->N); return AF_ERR_ARG; }
  const int ad = p->ad, k = n * ad;
  const float *x = normalized(p, p->act_obs, obs, n);
  af_nn_ctx_enter(p->ctx);
  const float *mu = af_mlp_forward(p->actor, n, x);
  if (mu && deterministic) {
    for (int j = 0; j < k; j++) action[j] = clampf(mu[j], -1, 1);
  } else if (mu) {
    // u = mu + std eps, given to the environment clipped; log-probabilities are of u
    const int keep = n == p->N;
    af_rng_normal_fill(&p->rng, p->act_eps, k);
    for (int b = 0; b < n; b++) {
      double lp = 0;
      for (int i = 0; i < ad; i++) {
        const int j = b * ad + i;
        const float e = p->act_eps[j], u = mu[j] + expf(p->log_std[i]) * e;
        action[j] = clampf(u, -1, 1);
        if (keep) p->c_u[j] = u;
        lp += -0.5 * e * e - p->log_std[i] - LOG_2PI_HALF;
      }
      if (keep) p->c_logp[b] = (float)lp;
    }
    // what observe needs of this step, when it is a training step of the N environments
    if (keep) {
      const float *v = af_mlp_forward(p->critic, n, x);
      if (v) {
        memcpy(p->c_val, v, sizeof(float) * n);
        memcpy(p->c_raw_obs, obs, sizeof(float) * n * p->od);
        memcpy(p->c_obs, x, sizeof(float) * n * p->od);
        memcpy(p->c_act, action, sizeof(float) * k);
        p->cached = 1;
      }
    }
  }
  af_nn_ctx_leave(p->ctx);
  int rc = numeric_error(p, err, errsz);
  if (rc) p->cached = 0;
  return rc;
}

// the N transitions as the rollout's next step: the acting step's figures when the batch is
// that step (its observations and actions), else the current policy's for the batch's
// actions; rewards scaled, truncated steps bootstrapped with V(last observation)
static int ppo_observe(void *a, const af_batch *b, char *err, size_t errsz) {
  af_ppo *p = a;
  const int N = p->N, od = p->od, ad = p->ad, t = p->step;
  if (b->n != N) { snprintf(err, errsz, "ppo: observe %d transitions (made for %d environments)", b->n, N); return AF_ERR_ARG; }
  if (t >= p->T) { snprintf(err, errsz, "ppo: the rollout is full (update before observing more)"); return AF_ERR_STATE; }
  float *o = p->r_obs + (size_t)t * N * od, *u = p->r_act + (size_t)t * N * ad;
  float *logp = p->r_logp + (size_t)t * N, *val = p->r_val + (size_t)t * N, *rew = p->r_rew + (size_t)t * N, *done = p->r_done + (size_t)t * N;
  const int hit = p->cached && !memcmp(p->c_raw_obs, b->obs, sizeof(float) * N * od) && !memcmp(p->c_act, b->act, sizeof(float) * N * ad);
  p->cached = 0;
  af_nn_ctx_enter(p->ctx);
  if (hit) {
    memcpy(o, p->c_obs, sizeof(float) * N * od);
    memcpy(u, p->c_u, sizeof(float) * N * ad);
    memcpy(logp, p->c_logp, sizeof(float) * N);
    memcpy(val, p->c_val, sizeof(float) * N);
  } else {
    // actions not from act: taken as given, under the current policy and critic
    const float *x = normalized(p, o, b->obs, N);
    if (x != o) memcpy(o, x, sizeof(float) * N * od);
    memcpy(u, b->act, sizeof(float) * N * ad);
    const float *mu = af_mlp_forward(p->actor, N, o), *v = af_mlp_forward(p->critic, N, o);
    if (mu && v) {
      gauss_logp(logp, u, mu, p->log_std, N, ad);
      memcpy(val, v, sizeof(float) * N);
    }
  }
  // rewards and ends; V of the next observations for truncations and after the last step
  int need = t == p->T - 1;
  for (int i = 0; i < N; i++) {
    rew[i] = (float)(b->reward[i] * p->cfg.reward_scale);
    done[i] = b->terminated[i] || b->truncated[i];
    need |= b->truncated[i] && !b->terminated[i];
  }
  if (need) {
    const float *x = normalized(p, p->next_obs, b->next_obs, N);
    const float *vn = af_mlp_forward(p->critic, N, x);
    for (int i = 0; vn && i < N; i++) {
      if (b->truncated[i] && !b->terminated[i]) rew[i] += (float)p->cfg.gamma * vn[i];
      if (t == p->T - 1) p->last_val[i] = vn[i];
    }
  }
  af_nn_ctx_leave(p->ctx);
  int rc = numeric_error(p, err, errsz);
  if (rc) return rc;
  if (p->cfg.norm.obs_norm) af_normalizer_update(&p->norm, b->obs, N);
  p->step++;
  p->observed += N;
  return AF_OK;
}

int af_ppo_learn(af_ppo *p, af_agent_stats *st) {
  memset(st, 0, sizeof *st);
  const int S = p->S, M = p->M, od = p->od, ad = p->ad, nmb = S / M;
  af_ppo_gae(p->r_adv, p->r_ret, p->r_rew, p->r_val, p->r_done, p->last_val, p->T, p->N, (float)p->cfg.gamma, (float)p->cfg.lam);
  // the step size: linear from lr at step 0 to 0 at the budget, by the steps before this rollout
  float lr = p->lr0;
  if (p->budget > 0) {
    double frac = 1.0 - (double)(p->observed - p->step * (long)p->N) / (double)p->budget;
    lr = (float)(p->lr0 * (frac < 0 ? 0 : frac > 1 ? 1 : frac));
  }
  p->opt_actor.lr = p->opt_critic.lr = p->opt_log_std.lr = lr;
  double pl = 0, vl = 0, ent = 0;
  int stop = 0;
  af_ppo_losses l;
  af_nn_ctx_enter(p->ctx);
  for (int e = 0; e < p->cfg.epochs && !stop; e++) {
    // a fresh shuffle of the rollout each epoch (Fisher-Yates from the identity)
    for (int k = 0; k < S; k++) p->perm[k] = k;
    for (int k = S - 1; k > 0; k--) {
      int j = af_rng_int(&p->rng, 0, k), x = p->perm[k];
      p->perm[k] = p->perm[j];
      p->perm[j] = x;
    }
    for (int mb = 0; mb < nmb; mb++) {
      for (int r = 0; r < M; r++) {
        const int k = p->perm[mb * M + r];
        memcpy(p->m_obs + (size_t)r * od, p->r_obs + (size_t)k * od, sizeof(float) * od);
        memcpy(p->m_act + (size_t)r * ad, p->r_act + (size_t)k * ad, sizeof(float) * ad);
        p->m_logp[r] = p->r_logp[k];
        p->m_val[r] = p->r_val[k];
        p->m_adv[r] = p->r_adv[k];
        p->m_ret[r] = p->r_ret[k];
      }
      af_ppo_grads(p, p->m_obs, p->m_act, p->m_logp, p->m_val, p->m_adv, p->m_ret, &l);
      if (p->cfg.target_kl > 0 && l.approx_kl > 1.5 * p->cfg.target_kl) { stop = 1; break; }
      // a non-finite loss or gradient: this step is skipped, nothing changes
      const int ok = isfinite(l.loss) && net_finite(p->actor) && net_finite(p->critic) && af_nn_finite(p->log_std_grad, (size_t)ad);
      if (ok) apply_step(p);
      st->updates++;
      st->skipped += !ok;
      pl += l.policy_loss;
      vl += l.value_loss;
      ent += l.entropy;
    }
  }
  af_nn_ctx_leave(p->ctx);
  p->step = 0;
  p->rollouts++;
  if (st->updates) {
    st->actor_loss = (float)(pl / st->updates);
    st->critic_loss = (float)(vl / st->updates);
    st->entropy = (float)(ent / st->updates);
  }
  st->alpha = (float)p->cfg.ent_coef;
  return af_nn_ctx_error(p->ctx) ? AF_ERR_NUMERIC : AF_OK;
}

// an update when the rollout is full; none otherwise
static int ppo_update(void *a, af_agent_stats *st, char *err, size_t errsz) {
  af_ppo *p = a;
  if (p->step < p->T) { memset(st, 0, sizeof *st); return AF_OK; }
  if (af_ppo_learn(p, st)) return numeric_error(p, err, errsz);
  return AF_OK;
}

// ---- checkpoints: networks, log std, optimizer moments, the exact counters and RNG state,
// the observation statistics; the rollout in progress goes to the replay file ----
enum { N_WORDS = 9 };  // adam steps (3), observed, rollouts, rng words (4)
typedef struct { float words[4 * N_WORDS]; } packed_state;

static int tensors(af_ppo *p, af_tensor *t, packed_state *ps) {
  af_adam *opts[3] = {&p->opt_actor, &p->opt_critic, &p->opt_log_std};
  static const char *on[6] = {"actor_m", "actor_v", "critic_m", "critic_v", "log_std_m", "log_std_v"};
  int k = 0;
  t[k++] = (af_tensor){"actor", af_mlp_params(p->actor), (size_t)af_mlp_nparams(p->actor)};
  t[k++] = (af_tensor){"critic", af_mlp_params(p->critic), (size_t)af_mlp_nparams(p->critic)};
  t[k++] = (af_tensor){"log_std", p->log_std, (size_t)p->ad};
  for (int i = 0; i < 3; i++) {
    t[k++] = (af_tensor){on[2 * i], opts[i]->m, (size_t)opts[i]->n};
    t[k++] = (af_tensor){on[2 * i + 1], opts[i]->v, (size_t)opts[i]->n};
  }
  t[k++] = (af_tensor){"counters", ps->words, 4 * N_WORDS};
  if (p->cfg.norm.obs_norm) t[k++] = af_normalizer_tensor(&p->norm, "obs_norm");
  return k;
}

static void pack(const af_ppo *p, packed_state *ps) {
  const af_adam *opts[3] = {&p->opt_actor, &p->opt_critic, &p->opt_log_std};
  for (int i = 0; i < 3; i++) af_nn_pack_u64(ps->words + 4 * i, (uint64_t)opts[i]->t);
  af_nn_pack_u64(ps->words + 12, (uint64_t)p->observed);
  af_nn_pack_u64(ps->words + 16, (uint64_t)p->rollouts);
  for (int i = 0; i < 4; i++) af_nn_pack_u64(ps->words + 20 + 4 * i, p->rng.s[i]);
}

// the counters as a file gave them: packed words, counts that fit a long, an RNG state that
// is not all zero (xoshiro's one fixed point); 0, or -1 with a message
static int unpack(af_ppo *p, const packed_state *ps, const char *path, char *err, size_t errsz) {
  af_rng rng;
  for (int i = 0; i < 4; i++) rng.s[i] = af_nn_unpack_u64(ps->words + 20 + 4 * i);
  uint64_t observed = af_nn_unpack_u64(ps->words + 12), rollouts = af_nn_unpack_u64(ps->words + 16);
  if (!af_nn_packed_ok(ps->words, N_WORDS) || observed > INT64_MAX || rollouts > INT64_MAX) {
    snprintf(err, errsz, "%s: the counters are not packed 64-bit counts", path);
    return -1;
  }
  if (!(rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3])) { snprintf(err, errsz, "%s: the random state is all zero", path); return -1; }
  af_adam *opts[3] = {&p->opt_actor, &p->opt_critic, &p->opt_log_std};
  for (int i = 0; i < 3; i++) opts[i]->t = (double)af_nn_unpack_u64(ps->words + 4 * i);
  p->observed = (long)observed;
  p->rollouts = (long)rollouts;
  p->rng = rng;
  p->step = 0;  // an empty rollout until load_replay gives one
  p->cached = 0;
  return 0;
}

static int ppo_save(void *a, const char *path, char *err, size_t errsz) {
  af_ppo *p = a;
  af_tensor t[12];
  packed_state ps;
  pack(p, &ps);
  if (p->cfg.norm.obs_norm) af_normalizer_pack(&p->norm);
  int n = tensors(p, t, &ps);
  return af_nn_save(path, t, n, err, errsz);
}

static int ppo_load(void *a, const char *path, char *err, size_t errsz) {
  af_ppo *p = a;
  af_tensor t[12];
  packed_state ps;
  int n = tensors(p, t, &ps);
  if (af_nn_load(path, t, n, err, errsz) || unpack(p, &ps, path, err, errsz)) return -1;
  if (p->cfg.norm.obs_norm && af_normalizer_unpack(&p->norm, err, errsz)) return -1;
  return 0;
}

// the rollout in progress: its step count and the stored rows (what a resumed run needs to
// finish the rollout as the uninterrupted one would)
static int rollout_tensors(af_ppo *p, af_tensor *t, float *words) {
  const size_t S = (size_t)p->S;
  t[0] = (af_tensor){"rollout_step", words, 4};
  t[1] = (af_tensor){"rollout_obs", p->r_obs, S * p->od};
  t[2] = (af_tensor){"rollout_act", p->r_act, S * p->ad};
  t[3] = (af_tensor){"rollout_logp", p->r_logp, S};
  t[4] = (af_tensor){"rollout_value", p->r_val, S};
  t[5] = (af_tensor){"rollout_reward", p->r_rew, S};
  t[6] = (af_tensor){"rollout_done", p->r_done, S};
  t[7] = (af_tensor){"rollout_last_value", p->last_val, (size_t)p->N};
  return 8;
}

static int ppo_save_replay(void *a, const char *path, char *err, size_t errsz) {
  af_ppo *p = a;
  af_tensor t[8];
  float words[4];
  af_nn_pack_u64(words, (uint64_t)p->step);
  int n = rollout_tensors(p, t, words);
  return af_nn_save(path, t, n, err, errsz);
}

// a step count within the rollout and 0/1 ends, else an empty rollout and -1 with a message
static int ppo_load_replay(void *a, const char *path, char *err, size_t errsz) {
  af_ppo *p = a;
  af_tensor t[8];
  float words[4];
  int n = rollout_tensors(p, t, words);
  p->step = 0;
  p->cached = 0;
  if (af_nn_load(path, t, n, err, errsz)) return -1;
  uint64_t step = af_nn_unpack_u64(words);
  if (!af_nn_packed_ok(words, 1) || step > (uint64_t)p->T) { snprintf(err, errsz, "%s: the rollout step is not a count up to %d", path, p->T); return -1; }
  for (size_t k = 0; k < step * (size_t)p->N; k++)
    if (p->r_done[k] != 0 && p->r_done[k] != 1) { snprintf(err, errsz, "%s: an episode end flag of %g", path, p->r_done[k]); return -1; }
  p->step = (int)step;
  return 0;
}

const af_agent_def af_ppo_def = {
  .name = "ppo",
  .description = "Proximal Policy Optimization: clipped surrogate, GAE, Gaussian policy with a learned state-independent log std, "
                 "separate critic, rollouts over the vectorized environments",
  .params = ppo_params,
  .nparams = sizeof ppo_params / sizeof ppo_params[0],
  .cfg_size = sizeof(af_ppo_cfg),
  .make = ppo_make,
  .free = ppo_free,
  .act = ppo_act,
  .observe = ppo_observe,
  .update = ppo_update,
  .save = ppo_save,
  .load = ppo_load,
  .save_replay = ppo_save_replay,
  .load_replay = ppo_load_replay,
  .policy = ppo_policy,
};
