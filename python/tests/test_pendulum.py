# armfarm's pendulum against an independent NumPy implementation of Gym's Pendulum-v1,
# written here from its equations (gymnasium/envs/classic_control/pendulum.py):
#   u = clip(u, -2, 2); cost = angle_normalize(th)^2 + 0.1 thdot^2 + 0.001 u^2 (before the step)
#   thdot' = clip(thdot + (3 g / (2 l) sin th + 3 / (m l^2) u) dt, -8, 8); th' = th + thdot' dt
#   obs = (cos th, sin th, thdot) as float32; 200 steps, then truncated; never terminated
# with g = 10, m = 1, l = 1, dt = 0.05. Two documented differences are accounted for:
# - armfarm's actions are normalized: a in [-1, 1] is the torque u = 2 a (clipped first);
# - armfarm draws the start (theta uniform in [-pi, pi], theta_dot in [-1, 1], Gym's ranges)
#   from its own seeded stream, not NumPy's: the reference starts from the drawn values,
#   which reset's info gives exactly (info["randomization"]).
import math

import numpy as np

import armfarm

G, M, L, DT, MAX_SPEED, MAX_TORQUE = 10.0, 1.0, 1.0, 0.05, 8.0, 2.0


def angle_normalize(x):
    return ((x + np.pi) % (2 * np.pi)) - np.pi


class GymPendulum:
    """Pendulum-v1's step, in float64 as Gym computes it."""

    def __init__(self, th, thdot):
        self.th, self.thdot = th, thdot

    def obs(self):
        return np.array([np.cos(self.th), np.sin(self.th), self.thdot], dtype=np.float32)

    def step(self, u):
        u = float(np.clip(u, -MAX_TORQUE, MAX_TORQUE))
        th, thdot = self.th, self.thdot
        cost = angle_normalize(th) ** 2 + 0.1 * thdot ** 2 + 0.001 * u ** 2
        newthdot = thdot + (3 * G / (2 * L) * np.sin(th) + 3.0 / (M * L ** 2) * u) * DT
        newthdot = float(np.clip(newthdot, -MAX_SPEED, MAX_SPEED))
        self.th, self.thdot = th + newthdot * DT, newthdot
        return self.obs(), -cost


def test_steps_equal_gym_pendulum_v1(rng):
    env = armfarm.make("pendulum")
    assert env.armfarm_spec["horizon"] == 200
    assert math.isclose(1.0 / env.armfarm_spec["control_hz"], DT)
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        th0, thdot0 = info["randomization"]["theta0"], info["randomization"]["theta_dot0"]
        assert -np.pi <= th0 <= np.pi and -1 <= thdot0 <= 1  # Gym's start distribution's support
        ref = GymPendulum(th0, thdot0)
        np.testing.assert_allclose(obs, ref.obs(), rtol=0, atol=1e-6)
        for t in range(200):
            a = rng.uniform(-1.3, 1.3, size=1).astype(np.float32)
            u = MAX_TORQUE * float(np.clip(a[0], -1, 1))  # the documented scaling
            want_obs, want_r = ref.step(u)
            obs, r, terminated, truncated, _ = env.step(a)
            np.testing.assert_allclose(obs, want_obs, rtol=0, atol=2e-6, err_msg=f"seed {seed} step {t}")
            assert abs(r - want_r) <= 1e-5 * (1 + abs(want_r)), (seed, t, r, want_r)
            assert terminated is False
            assert truncated is (t == 199)
    env.close()


def test_speed_clip_is_gyms():
    # full torque along the motion pumps energy in until the speed reaches the limit of 8
    env = armfarm.make("pendulum")
    obs, info = env.reset(seed=0)
    ref = GymPendulum(info["randomization"]["theta0"], info["randomization"]["theta_dot0"])
    hit = False
    for _ in range(200):
        a = np.array([1.0 if obs[2] >= 0 else -1.0], np.float32)
        obs, r, *_ = env.step(a)
        want, want_r = ref.step(MAX_TORQUE * a[0])
        np.testing.assert_allclose(obs, want, atol=2e-6)
        hit |= abs(obs[2]) == np.float32(MAX_SPEED)
    assert hit
