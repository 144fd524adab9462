// armfarm: the one public header over the base layer, the environments, the agents and the
// statistics, like mujoco.h. A program outside the tree includes this (compiled with
// `pkg-config --cflags --libs armfarm`); the module headers keep their "envs/env.h" paths.
// Environment internals (envs/env_impl.h, randomize.h, arm.h, terrain.h) are not part of it.
#ifndef ARMFARM_H
#define ARMFARM_H

#include "base/base.h"      // return codes, time, files, strict numbers
#include "base/config.h"    // config tables (name, type, default, range, help)
#include "base/rng.h"       // explicit random state
#include "envs/env.h"       // environments by name: make, reset, step, success, metrics
#include "envs/curriculum.h"  // difficulty levels moved by episode metrics (legged_gym)
#include "envs/vecenv.h"    // N environments on K threads into batched arrays
#include "envs/render.h"    // offscreen rendering and PNG files
#include "agents/agent.h"   // the agent interface
#include "agents/nn/nn.h"   // the network core on oneDNN
#include "agents/nn/conv.h" // convolutional encoders on oneDNN
#include "agents/replay.h"  // the replay buffer, with hindsight relabelling
#include "agents/image_replay.h"  // uint8 frame stacks stored once, DrQ random shift
#include "agents/normalizer.h"  // running observation normalization
#include "agents/sac.h"     // Soft Actor-Critic
#include "agents/td3.h"     // TD3
#include "agents/vice.h"    // rewards learned from success examples (VICE, VICE-RAQ)
#include "agents/ppo.h"     // PPO
#include "agents/cem.h"     // the cross-entropy method over actions, batched over states
#include "agents/dataset.h" // episode datasets on disk (armfarm collect)
#include "agents/qtopt.h"   // QT-Opt
#include "analysis/stats.h" // statistics across seeds

#endif
