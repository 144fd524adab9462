# Gymnasium's environment-checker rules (gymnasium.utils.env_checker), for every environment:
# the spaces, reset's (obs, info), observations inside the observation space with its dtype,
# the 5-tuple's types, determinism for a seed, truncation at the horizon, and no step after
# the end of an episode. Written out here, as gymnasium itself is not a Debian 12 package.
import numpy as np
import pytest

import armfarm
from conftest import NAMES, random_actions


def check_space(space, shape, dtype):
    assert tuple(space.shape) == shape
    assert np.dtype(space.dtype) == dtype
    assert np.shape(space.low) == shape and np.shape(space.high) == shape


def check_obs(env, obs):
    assert isinstance(obs, np.ndarray)
    assert obs.dtype == np.float32 and obs.shape == env.observation_space.shape
    assert np.all(np.isfinite(obs))
    assert env.observation_space.contains(obs)


def rollout(env, seed, actions):
    """(observations, rewards, flags) of an episode from reset(seed) under fixed actions."""
    obs, _ = env.reset(seed=seed)
    out_obs, out_r, out_f = [obs], [], []
    for a in actions:
        obs, r, te, tr, _ = env.step(a)
        out_obs.append(obs)
        out_r.append(r)
        out_f.append((te, tr))
        if te or tr:
            break
    return np.array(out_obs), np.array(out_r), out_f


@pytest.mark.parametrize("name", NAMES)
def test_spaces_reset_and_step_types(name, rng):
    env = armfarm.make(name)
    spec = env.armfarm_spec
    check_space(env.action_space, (spec["act_dim"],), np.float32)
    check_space(env.observation_space, (spec["obs_dim"],), np.float32)
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    out = env.reset(seed=0)
    assert isinstance(out, tuple) and len(out) == 2
    obs, info = out
    check_obs(env, obs)
    assert isinstance(info, dict) and info["seed"] == 0
    assert isinstance(info["randomization"], dict) and env.randomization == info["randomization"]
    for _ in range(5):
        a = env.action_space.sample()
        assert env.action_space.contains(a)
        out = env.step(a)
        assert isinstance(out, tuple) and len(out) == 5
        obs, r, te, tr, info = out
        check_obs(env, obs)
        assert isinstance(r, float) and np.isfinite(r)
        assert isinstance(te, bool) and isinstance(tr, bool)
        assert isinstance(info, dict) and isinstance(info["success"], bool)
        if te or tr:
            break
    env.close()


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_for_a_seed(name, rng):
    env, other = armfarm.make(name), armfarm.make(name)
    actions = random_actions(rng, (15, env.action_space.shape[0]))
    o1, r1, f1 = rollout(env, 7, actions)
    o2, r2, f2 = rollout(env, 7, actions)  # the same environment again
    o3, r3, f3 = rollout(other, 7, actions)  # another one
    for o, r, f in ((o2, r2, f2), (o3, r3, f3)):
        assert o.tobytes() == o1.tobytes() and r.tobytes() == r1.tobytes() and f == f1
    # another seed starts elsewhere (every environment randomizes its start or its task)
    o4, _ = env.reset(seed=8)
    assert o4.tobytes() != o1[0].tobytes()


@pytest.mark.parametrize("name", NAMES)
def test_truncated_at_the_horizon(name, rng):
    for horizon in (None, 6):
        env = armfarm.make(name) if horizon is None else armfarm.make(name, horizon=horizon)
        H = env.armfarm_spec["horizon"]
        env.reset(seed=3)
        for t in range(1, H + 1):
            _, _, te, tr, info = env.step(env.action_space.sample())
            if te:
                assert not tr and "episode" in info and info["episode"]["l"] == t
                break
            assert tr is (t == H), (name, t, H)
            if tr:
                assert info["episode"]["l"] == H
        # the episode is over: stepping on is refused with the library's message
        with pytest.raises(armfarm.StateError, match="reset"):
            env.step(env.action_space.sample())
        env.close()


@pytest.mark.parametrize("name", NAMES)
def test_reset_without_seed_continues_the_seeded_sequence(name):
    env = armfarm.make(name)
    env.reset(seed=11)
    _, info1 = env.reset()
    _, info2 = env.reset()
    assert info1["seed"] == armfarm.vecenv_seed(11, 1, 0, 1)
    assert info2["seed"] == armfarm.vecenv_seed(11, 1, 0, 2)
    fresh = armfarm.make(name)
    _, info = fresh.reset()  # unseeded: a seed from os.urandom, reported in info
    assert isinstance(info["seed"], int)


def test_envs_lists_every_environment_with_its_spec():
    specs = armfarm.envs()
    assert [s["name"] for s in specs] == NAMES and len(NAMES) >= 6
    for s in specs:
        assert s["obs_dim"] > 0 and s["act_dim"] > 0 and s["horizon"] > 0
        assert isinstance(s["config"], dict) and s["config"]["horizon"] == s["horizon"]
        assert len(s["metric_names"]) >= 0 and isinstance(s["success"], str)
    goal = {s["name"]: s for s in specs if s["goal_dim"] > 0}
    assert {"puck_push", "door_open"} <= set(goal)
