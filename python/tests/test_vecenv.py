# VectorEnv equals single environments stepped one by one: the same observations, rewards,
# flags and episode statistics bit for bit, through automatic resets (same-step mode), with
# the documented seeding (environment i's first episode S + i, its episode j after that
# vecenv_seed(S, N, i, j)), a non-finite action, and reset() without a seed; for 1 and 2
# threads. Also: the arrays are views overwritten in place, and the spaces are batched.
import numpy as np
import pytest

import armfarm
from conftest import random_actions


class Singles:
    """N single environments following VectorEnv's documented conventions by hand."""

    def __init__(self, name, n, seed, **config):
        self.envs = [armfarm.make(name, **config) for _ in range(n)]
        self.n, self.seed = n, seed
        self.episode = [0] * n

    def reset(self, seed=None):
        obs = []
        for i, e in enumerate(self.envs):
            if seed is not None:
                o, _ = e.reset(seed=seed + i)
                self.episode[i] = 1
            else:
                o, _ = e.reset(seed=armfarm.vecenv_seed(self.seed, self.n, i, self.episode[i]))
                self.episode[i] += 1
            obs.append(o)
        return np.array(obs)

    def step(self, actions):
        obs, rew, te, tr, final, ep_r = [], [], [], [], {}, {}
        for i, (e, a) in enumerate(zip(self.envs, actions)):
            if np.all(np.isfinite(a)):
                o, r, t1, t2, info = e.step(a)
            else:
                o, r, t1, t2, info = e.end_diverged()
                assert info["diverged"] and t2
            if t1 or t2:
                final[i], ep_r[i] = o, info["episode"]["r"]
                o, _ = e.reset(seed=armfarm.vecenv_seed(self.seed, self.n, i, self.episode[i]))
                self.episode[i] += 1
            obs.append(o)
            rew.append(r)
            te.append(t1)
            tr.append(t2)
        return np.array(obs), np.array(rew, np.float32), np.array(te), np.array(tr), final, ep_r


@pytest.mark.parametrize("name,config", [("pendulum", {"horizon": 9}), ("quadruped", {"horizon": 12}),
                                         ("puck_push", {"horizon": 7})])
@pytest.mark.parametrize("threads", [1, 2])
def test_vecenv_equals_single_environments(name, config, threads, rng):
    n, seed = 3, 40
    vec = armfarm.VectorEnv(name, n, threads=threads, **config)
    ref = Singles(name, n, seed, **config)
    obs, info = vec.reset(seed=seed)
    assert list(info["seed"]) == [seed + i for i in range(n)]
    assert obs.tobytes() == ref.reset(seed=seed).tobytes()
    ended = 0
    for t in range(30):
        actions = random_actions(rng, (n, vec.single_action_space.shape[0]))
        if t == 5:
            actions[1, 0] = np.nan  # environment 1's episode ends as diverged; the others step on
        obs, rew, te, tr, info = vec.step(actions)
        r_obs, r_rew, r_te, r_tr, r_final, r_ep = ref.step(actions)
        assert obs.tobytes() == r_obs.tobytes(), t
        assert rew.tobytes() == r_rew.tobytes(), t
        assert list(te) == list(r_te) and list(tr) == list(r_tr), t
        mask = info["_final_obs"]
        assert list(np.flatnonzero(mask)) == sorted(r_final), t
        assert list(info["_episode"]) == list(mask)
        for i in r_final:
            assert info["final_obs"][i].tobytes() == r_final[i].tobytes()
            assert info["episode"]["r"][i] == np.float32(r_ep[i])
        if t == 5:
            assert tr[1] and info["diverged"][1] and info["episode"]["diverged"][1] and rew[1] == 0
        ended += int(mask.sum())
        if t == 20:
            # reset without a seed: every environment starts its next episode of the same run
            obs, info = vec.reset()
            assert obs.tobytes() == ref.reset().tobytes()
    assert ended >= n
    vec.close()


def test_arrays_are_views_overwritten_by_the_next_step(rng):
    vec = armfarm.VectorEnv("pendulum", 4, threads=2)
    obs0, _ = vec.reset(seed=0)
    kept = obs0.copy()
    obs1, rew1, te1, tr1, info1 = vec.step(random_actions(rng, (4, 1)))
    assert obs1 is obs0 and obs1.base is not None  # the same buffer, written in place
    assert not np.array_equal(obs1, kept)
    obs2, rew2, *_ = vec.step(np.zeros((4, 1), np.float64))  # float64 actions are converted
    assert obs2 is obs1 and rew2 is rew1
    assert obs1.shape == (4, 3) and obs1.dtype == np.float32
    assert te1.dtype == np.bool_ and tr1.dtype == np.bool_ and rew1.dtype == np.float32
    assert tuple(vec.observation_space.shape) == (4, 3) and tuple(vec.action_space.shape) == (4, 1)
    assert tuple(vec.single_observation_space.shape) == (3,) and vec.num_envs == 4
    assert vec.metadata["autoreset_mode"] == "same-step"
    vec.close()
    # a view outlives the closed runner (the buffers belong to it)
    assert obs1.shape == (4, 3) and np.all(np.isfinite(obs1))
    with pytest.raises(armfarm.StateError, match="closed"):
        vec.step(np.zeros((4, 1), np.float32))


def test_step_releases_the_gil():
    # the main thread keeps running Python while another thread is inside one long step (64
    # quadrupeds on one thread); without the release it could not run until the step returned
    import threading
    vec = armfarm.VectorEnv("quadruped", 64, threads=1)
    vec.reset(seed=0)
    a = np.zeros((64, 12), np.float32)
    started, done = threading.Event(), threading.Event()

    def step():
        started.set()
        vec.step(a)
        done.set()
    th = threading.Thread(target=step)
    th.start()
    started.wait()
    count = 0
    while not done.is_set():
        count += 1
    th.join()
    assert count > 1000
    vec.close()
