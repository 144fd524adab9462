# Snapshots through the binding: get_state() mid-episode, then set_state() into the same
# environment (after it ran on into another episode) and into a fresh one replays the rest of
# the episode bit for bit; a bad snapshot is refused with the library's message.
import numpy as np
import pytest

import armfarm
from conftest import NAMES, random_actions


def run(env, actions):
    out = []
    for a in actions:
        obs, r, te, tr, info = env.step(a)
        out.append((obs.tobytes(), r, te, tr, info["success"]))
        if te or tr:
            break
    return out


@pytest.mark.parametrize("name", NAMES)
def test_restored_snapshot_replays_bit_for_bit(name, rng):
    env = armfarm.make(name)
    na = env.action_space.shape[0]
    env.reset(seed=5)
    for a in random_actions(rng, (4, na)):
        _, _, te, tr, _ = env.step(a)
        assert not (te or tr)
    snap = env.get_state()
    assert isinstance(snap, bytes) and len(snap) > 0
    draws = env.randomization
    later = random_actions(rng, (8, na))
    want = run(env, later)
    # the same environment after another episode, then a fresh one
    env.reset(seed=99)
    run(env, random_actions(rng, (3, na)))
    env.set_state(snap)
    assert run(env, later) == want
    assert env.randomization == draws
    fresh = armfarm.make(name)
    fresh.set_state(snap)
    assert run(fresh, later) == want


def test_bad_snapshots_are_refused(rng):
    env = armfarm.make("pendulum")
    with pytest.raises(armfarm.StateError):
        env.get_state()  # no episode yet
    env.reset(seed=1)
    snap = env.get_state()
    with pytest.raises(armfarm.ArgumentError, match="pendulum"):
        env.set_state(snap[:-10])
    bad = bytearray(snap)
    bad[len(bad) // 2] ^= 0xFF
    with pytest.raises(armfarm.ArgumentError, match="checksum"):
        env.set_state(bytes(bad))
    other = armfarm.make("pendulum", horizon=50)
    with pytest.raises(armfarm.ArgumentError, match="config"):
        other.set_state(snap)
    with pytest.raises(ValueError):
        armfarm.make("quadruped").set_state(snap)
    env.set_state(bytearray(snap))  # any bytes-like object
    env.step(np.zeros(1, np.float32))
