#!/usr/bin/env python3
"""The Soft Actor-Critic gradient update of agents/sac.c in PyTorch on the CPU, for
'armfarm bench sac' to measure side by side: twin 256-256 critics with Polyak targets, a
256-256 tanh-Gaussian actor, a learned temperature, Adam, minibatches drawn from a replay of
random transitions.

usage: sac_update_torch.py OBS_DIM ACT_DIM UPDATES THREADS [BATCH HIDDEN]
prints one line: updates_per_s=<float>
"""
import math
import sys
import time

import torch
import torch.nn as nn


def mlp(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def main():
    od, ad, updates, threads = (int(x) for x in sys.argv[1:5])
    batch = int(sys.argv[5]) if len(sys.argv) > 5 else 256
    hidden = int(sys.argv[6]) if len(sys.argv) > 6 else 256
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    actor = mlp([od, hidden, hidden, 2 * ad])
    q1, q2 = mlp([od + ad, hidden, hidden, 1]), mlp([od + ad, hidden, hidden, 1])
    q1t, q2t = mlp([od + ad, hidden, hidden, 1]), mlp([od + ad, hidden, hidden, 1])
    q1t.load_state_dict(q1.state_dict())
    q2t.load_state_dict(q2.state_dict())
    log_alpha = torch.zeros(1, requires_grad=True)
    opt_actor = torch.optim.Adam(actor.parameters(), lr=3e-4)
    opt_critic = torch.optim.Adam(list(q1.parameters()) + list(q2.parameters()), lr=3e-4)
    opt_alpha = torch.optim.Adam([log_alpha], lr=3e-4)
    target_entropy, gamma, tau = -float(ad), 0.99, 0.005

    # a replay of random transitions
    n = 10000
    obs, nobs = torch.randn(n, od), torch.randn(n, od)
    act = torch.rand(n, ad) * 2 - 1
    rew, done = torch.randn(n, 1), (torch.rand(n, 1) < 0.05).float()

    def sample_policy(o):
        out = actor(o)
        mu, ls = out[:, :ad], out[:, ad:].clamp(-20, 2)
        eps = torch.randn_like(mu)
        u = mu + ls.exp() * eps
        a = torch.tanh(u)
        logp = (-0.5 * eps ** 2 - ls - 0.5 * math.log(2 * math.pi)).sum(1, keepdim=True)
        logp = logp - (2 * (math.log(2) - u - nn.functional.softplus(-2 * u))).sum(1, keepdim=True)
        return a, logp

    def update():
        idx = torch.randint(0, n, (batch,))
        o, a, r, no, d = obs[idx], act[idx], rew[idx], nobs[idx], done[idx]
        alpha = log_alpha.exp().detach()
        with torch.no_grad():
            na, nlogp = sample_policy(no)
            qn = torch.cat([no, na], 1)
            y = r + gamma * (1 - d) * (torch.min(q1t(qn), q2t(qn)) - alpha * nlogp)
        qi = torch.cat([o, a], 1)
        closs = 0.5 * ((q1(qi) - y) ** 2).mean() + 0.5 * ((q2(qi) - y) ** 2).mean()
        opt_critic.zero_grad()
        closs.backward()
        opt_critic.step()
        pa, logp = sample_policy(o)
        qp = torch.cat([o, pa], 1)
        aloss = (alpha * logp - torch.min(q1(qp), q2(qp))).mean()
        opt_actor.zero_grad()
        aloss.backward()
        opt_actor.step()
        tloss = -(log_alpha * (logp.detach() + target_entropy)).mean()
        opt_alpha.zero_grad()
        tloss.backward()
        opt_alpha.step()
        with torch.no_grad():
            for t, s in ((q1t, q1), (q2t, q2)):
                for pt, ps in zip(t.parameters(), s.parameters()):
                    pt.mul_(1 - tau).add_(ps, alpha=tau)

    for _ in range(5):
        update()
    t0 = time.perf_counter()
    for _ in range(updates):
        update()
    print(f"updates_per_s={updates / (time.perf_counter() - t0):.3f}")


if __name__ == "__main__":
    main()
