#!/usr/bin/python3
"""Soft Actor-Critic in PyTorch on armfarm's pendulum, through the Python binding.

The settings of experiments/sac_pendulum.json (the C agent): twin 256-256 critics, a
tanh-Gaussian 256-256 actor, Adam 1e-3, batch 256, gamma 0.99, Polyak 0.005, a learned
temperature towards entropy -|A|, 1,000 uniform warm-up steps, one update per step. One
torch thread, seeded. Every --eval-every steps it prints the mean return of deterministic
episodes on fixed seeds (the figure the README quotes is the last one).

    PYTHONPATH=build/python /usr/bin/python3 examples/python/sac_pendulum.py [--steps 20000] [--seed 0]
"""
import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one thread in the BLAS under torch too

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import armfarm


def mlp(i, o, h=256):
    return nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, o))


class Actor(nn.Module):
    def __init__(self, od, ad):
        super().__init__()
        self.net = mlp(od, 2 * ad)

    def forward(self, obs, deterministic=False):
        mu, log_std = self.net(obs).chunk(2, dim=-1)
        std = log_std.clamp(-20, 2).exp()
        u = mu if deterministic else mu + std * torch.randn_like(mu)
        a = torch.tanh(u)
        # log-density of the squashed sample: the Gaussian's, minus log |d tanh / du|
        logp = (-0.5 * ((u - mu) / std) ** 2 - std.log() - 0.5 * np.log(2 * np.pi)).sum(-1)
        logp -= (2 * (np.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return a, logp


def evaluate(actor, episodes, seed):
    env = armfarm.make("pendulum")
    total = 0.0
    for k in range(episodes):
        obs, _ = env.reset(seed=10_000 + seed * 100 + k)  # fixed seeds, apart from training's
        done = False
        while not done:
            with torch.no_grad():
                a, _ = actor(torch.as_tensor(obs)[None], deterministic=True)
            obs, r, te, tr, _ = env.step(a[0].numpy())
            total += r
            done = te or tr
    return total / episodes


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=2_000)
    p.add_argument("--eval-episodes", type=int, default=10)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    env = armfarm.make("pendulum")
    od, ad = env.observation_space.shape[0], env.action_space.shape[0]
    actor, q1, q2 = Actor(od, ad), mlp(od + ad, 1), mlp(od + ad, 1)
    q1_t, q2_t = mlp(od + ad, 1), mlp(od + ad, 1)
    q1_t.load_state_dict(q1.state_dict())
    q2_t.load_state_dict(q2.state_dict())
    log_alpha = torch.zeros(1, requires_grad=True)
    opt_pi = torch.optim.Adam(actor.parameters(), lr=1e-3)
    opt_q = torch.optim.Adam(list(q1.parameters()) + list(q2.parameters()), lr=1e-3)
    opt_alpha = torch.optim.Adam([log_alpha], lr=1e-3)
    gamma, tau, batch, warmup, target_entropy = 0.99, 0.005, 256, 1_000, -float(ad)

    # the replay buffer: preallocated arrays
    B = {"o": np.zeros((a.steps, od), np.float32), "a": np.zeros((a.steps, ad), np.float32),
         "r": np.zeros(a.steps, np.float32), "o2": np.zeros((a.steps, od), np.float32), "d": np.zeros(a.steps, np.float32)}
    obs, _ = env.reset(seed=a.seed)
    t0, ret, last = time.time(), 0.0, None
    for t in range(a.steps):
        # act: uniform during warm-up, then a sample of the policy
        if t < warmup:
            act = rng.uniform(-1, 1, ad).astype(np.float32)
        else:
            with torch.no_grad():
                act = actor(torch.as_tensor(obs)[None])[0][0].numpy()
        obs2, r, te, tr, info = env.step(act)
        for k, v in (("o", obs), ("a", act), ("r", r), ("o2", obs2), ("d", float(te))):
            B[k][t] = v
        obs, ret = obs2, ret + r
        if te or tr:
            obs, _ = env.reset()  # the next episode of the seeded sequence
            ret = 0.0

        if t >= warmup:
            idx = rng.integers(0, t + 1, batch)
            o, u, rr, o2, d = (torch.as_tensor(B[k][idx]) for k in ("o", "a", "r", "o2", "d"))
            alpha = log_alpha.exp().detach()
            # critics: soft Bellman targets from the target critics (terminated ends the bootstrap)
            with torch.no_grad():
                a2, logp2 = actor(o2)
                x2 = torch.cat([o2, a2], -1)
                y = rr + gamma * (1 - d) * (torch.min(q1_t(x2), q2_t(x2)).squeeze(-1) - alpha * logp2)
            x = torch.cat([o, u], -1)
            loss_q = F.mse_loss(q1(x).squeeze(-1), y) + F.mse_loss(q2(x).squeeze(-1), y)
            opt_q.zero_grad()
            loss_q.backward()
            opt_q.step()
            # actor: maximize the soft value of its own action; then the temperature
            an, logp = actor(o)
            xn = torch.cat([o, an], -1)
            loss_pi = (alpha * logp - torch.min(q1(xn), q2(xn)).squeeze(-1)).mean()
            opt_pi.zero_grad()
            loss_pi.backward()
            opt_pi.step()
            loss_alpha = -(log_alpha * (logp.detach() + target_entropy)).mean()
            opt_alpha.zero_grad()
            loss_alpha.backward()
            opt_alpha.step()
            with torch.no_grad():
                for net, tgt in ((q1, q1_t), (q2, q2_t)):
                    for w, wt in zip(net.parameters(), tgt.parameters()):
                        wt.mul_(1 - tau).add_(tau * w)

        if (t + 1) % a.eval_every == 0:
            last = evaluate(actor, a.eval_episodes, a.seed)
            print(f"step {t + 1:6d}  eval return {last:8.1f}  alpha {log_alpha.exp().item():.3f}  {time.time() - t0:6.0f} s",
                  flush=True)
    print(f"final deterministic return {last:.1f} over {a.eval_episodes} episodes after {a.steps} steps, "
          f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
