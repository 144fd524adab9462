# The rest of the API: compute_reward for relabelling (vectorized, equal to the sparse
# reward of a step), success examples, randomization draws in info, the Box stand-in, and
# rendering (only with a display: the test command runs under Xvfb).
import os

import numpy as np
import pytest

import armfarm
from conftest import random_actions

needs_display = pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="rendering needs a display (xvfb-run -a)")


@pytest.mark.parametrize("name", ["puck_push", "door_open"])
def test_compute_reward_is_the_sparse_reward_and_vectorized(name, rng):
    env = armfarm.make(name, reward="sparse")
    s = env.armfarm_spec
    g, ao, do = s["goal_dim"], s["achieved_offset"], s["desired_offset"]
    env.reset(seed=2)
    obs_list = []
    for a in random_actions(rng, (10, s["act_dim"])):
        obs, r, te, tr, _ = env.step(a)
        # the step's sparse reward is exactly the goal reward of its observation's goals
        assert r == env.compute_reward(obs[ao:ao + g], obs[do:do + g], {})
        obs_list.append(obs)
        if te or tr:
            break
    obs = np.array(obs_list)
    ag, dg = obs[:, ao:ao + g], obs[:, do:do + g]
    batch = env.compute_reward(ag, dg, {})
    assert batch.shape == (len(obs),) and batch.dtype == np.float32
    assert [env.compute_reward(x, y, {}) for x, y in zip(ag, dg)] == list(batch)
    # relabelling: every achieved goal against itself is a success (0), and broadcasting works
    assert np.all(env.compute_reward(ag, ag, None) == 0)
    assert env.compute_reward(ag[None], dg[:1], None).shape == (1, len(obs))
    with pytest.raises(armfarm.ArgumentError, match="goal_dim"):
        env.compute_reward(np.zeros((3, g + 1)), np.zeros((3, g + 1)))


def test_success_examples():
    env = armfarm.make("door_open")
    ex = env.success_examples(4, seed=0)
    assert ex.shape == (4, env.armfarm_spec["obs_dim"]) and ex.dtype == np.float32
    assert np.all(np.isfinite(ex))
    assert np.array_equal(ex, env.success_examples(4, seed=0))  # deterministic for a seed
    with pytest.raises(armfarm.StateError):
        env.step(np.zeros(5, np.float32))  # it needs a reset afterwards


def test_randomization_draws_in_info():
    env = armfarm.make("puck_push")
    _, i1 = env.reset(seed=1)
    _, i2 = env.reset(seed=2)
    assert set(i1["randomization"]) == set(i2["randomization"]) and i1["randomization"] != i2["randomization"]
    _, i3 = env.reset(seed=1)
    assert i3["randomization"] == i1["randomization"]
    _, off = env.reset(seed=1, options={"randomize": False})
    assert off["randomization"] != i1["randomization"]
    vec = armfarm.VectorEnv("puck_push", 2)
    _, vi = vec.reset(seed=1)
    assert vi["randomization"][0] == i1["randomization"] and vi["randomization"][1] == i2["randomization"]


def test_box_stand_in():
    space = armfarm.make("quadruped").action_space
    if not isinstance(space, armfarm.Box):
        pytest.skip("gymnasium is installed: its Box is used")
    space.seed(3)
    xs = [space.sample() for _ in range(50)]
    assert all(x.dtype == np.float32 and x.shape == (12,) and space.contains(x) for x in xs)
    space.seed(3)
    assert np.array_equal(space.sample(), xs[0])
    assert np.zeros(12, np.float32) in space
    assert not space.contains(np.zeros(11, np.float32))
    assert not space.contains(np.full(12, 1.5, np.float32))
    assert not space.contains(np.full(12, np.nan, np.float32))
    assert not space.contains(np.zeros(12, np.float64))  # float64 does not cast safely to float32
    assert space.contains([0.0] * 12)  # a list is taken in the space's dtype
    obs_space = armfarm.make("quadruped").observation_space
    assert np.isinf(obs_space.low).all() and np.isfinite(obs_space.sample()).all()
    assert "Box(" in repr(space)


@needs_display
def test_render_is_an_image():
    env = armfarm.make("pendulum", render_mode="rgb_array", render_width=96, render_height=64)
    env.reset(seed=0)
    img = env.render()
    assert img.shape == (64, 96, 3) and img.dtype == np.uint8 and img.std() > 0
    assert np.array_equal(img, env.render())
    env.step(np.ones(1, np.float32))
    for _ in range(5):
        env.step(np.ones(1, np.float32))
    assert not np.array_equal(img, env.render())
    env.close()


@needs_display
def test_pixel_observations():
    env = armfarm.make("puck_push", obs="pixels", image_width=32, image_height=24)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (24, 32, 3) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs)
    both = armfarm.make("puck_push", obs="state+pixels")
    obs, _ = both.reset(seed=0)
    assert obs["state"].shape == (17,) and obs["pixels"].shape == (64, 64, 3)
