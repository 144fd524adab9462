// The cross-entropy method over a box of continuous actions, batched over states: for each of
// B states a diagonal Gaussian over [-1, 1]^A is refined for `iterations` rounds; each round
// draws `samples` actions per state (clipped to the box), scores the whole population of
// B x samples actions in ONE call of the caller's score function (one batched forward pass of
// a Q network), and refits mean and std to the `elites` best of that state. The answer per
// state is the best action scored in any round, with its score. QT-Opt (Kalashnikov et al.
// 2018) uses it to maximize Q(s, a) over a for acting and for the Bellman targets.
// Everything is sized at init for at most max_states states; run allocates nothing.
#ifndef AF_CEM_H
#define AF_CEM_H

#include <stddef.h>  // size_t

#include "base/rng.h"

typedef struct {
  int samples;       // actions drawn per state and round (QT-Opt: 64)
  int elites;        // best ones the Gaussian is refitted to (QT-Opt: 6 in the grasping paper's text, 10 in dql_grasping)
  int iterations;    // rounds (QT-Opt: 2)
  float init_std;    // std of the first round's Gaussian, centred at 0 (0.5)
  float min_std;     // floor of the refitted std (keeps later rounds exploring a little)
} af_cem_cfg;

// scores (n) of actions (n, act_dim), n = states x samples, row k belonging to state
// k / samples; 0, or nonzero to stop (the network failed)
typedef int (*af_cem_score_fn)(void *ctx, const float *actions, int n, float *scores);

typedef struct {
  af_cem_cfg cfg;
  int act_dim, max_states;
  float *pop;        // (max_states * samples, act_dim): the population being scored
  float *score;      // (max_states * samples)
  float *mean, *std; // (max_states, act_dim)
  int *order;        // (samples): one state's samples best first (the elites)
  float *best;       // (max_states): the best score so far per state
} af_cem;

// a CEM for up to max_states states of act_dim actions; 0, or -1 with a message naming the
// bad setting (elites must be in [1, samples], iterations >= 1, stds finite and positive)
int af_cem_init(af_cem *c, const af_cem_cfg *cfg, int act_dim, int max_states, char *err, size_t errsz);
void af_cem_free(af_cem *c);  // safe on a zeroed or freed one

// maximize score over [-1, 1]^act_dim for B states (B <= max_states): best (B, act_dim) and
// best_score (B, may be NULL). Draws from rng only: the same rng state gives the same answer. 0, or the score function's nonzero code.
int af_cem_run(af_cem *c, int B, af_cem_score_fn fn, void *ctx, af_rng *rng, float *best, float *best_score);

#endif
