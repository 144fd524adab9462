#!/usr/bin/python3
"""Peer of `armfarm bench conv`: one image-based SAC update (SAC-AE / DrQ design) in PyTorch
on the CPU, the same networks and steps as agents/pixel_sac.c:
  encoder  conv 32 3x3/2, 3 x conv 32 3x3/1 (ReLU), dense 50, LayerNorm, tanh; shared by the
           twin critics and trained by their loss; a Polyak-averaged target copy
  critics  two 256-256 ReLU MLPs on [features, action], with target copies
  actor    256-256 ReLU MLP on the detached features, tanh-Gaussian, learned temperature
  batch    frames sampled from a uint8 replay, DrQ's random shift (pad 4 by replication,
           an integer crop per sample), / 255; Adam 1e-3 everywhere
Each update takes the critic, actor and temperature steps and the Polyak steps.
Prints `updates_per_s=X` (and a description line before it).
usage: pixel_sac_update_torch.py [updates] [threads] [batch] [size] [stack] [act_dim] [rounds]
(defaults 20 1 128 64 3 4 3): `rounds` rounds of `updates` updates after 3 warm-up updates,
the best round's rate."""
import sys, time, torch, torch.nn as nn, torch.nn.functional as F

args = [int(a) for a in sys.argv[1:]]
updates, threads, B, S, K, A, rounds = (args + [20, 1, 128, 64, 3, 4, 3][len(args):])[:7]
torch.set_num_threads(threads)
torch.manual_seed(0)
C, H, FEAT, PAD, N = 3 * K, 256, 50, 4, 2000
GAMMA, TAU, ENC_TAU = 0.99, 0.01, 0.05


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.Sequential(nn.Conv2d(C, 32, 3, 2), nn.ReLU(), nn.Conv2d(32, 32, 3, 1), nn.ReLU(),
                                   nn.Conv2d(32, 32, 3, 1), nn.ReLU(), nn.Conv2d(32, 32, 3, 1), nn.ReLU())
        with torch.no_grad():
            n = self.convs(torch.zeros(1, C, S, S)).numel()
        self.fc, self.ln = nn.Linear(n, FEAT), nn.LayerNorm(FEAT)

    def forward(self, x):
        return torch.tanh(self.ln(self.fc(self.convs(x).flatten(1))))


def mlp(i, o):
    return nn.Sequential(nn.Linear(i, H), nn.ReLU(), nn.Linear(H, H), nn.ReLU(), nn.Linear(H, o))


enc, enc_t = Encoder(), Encoder()
q1, q2, q1t, q2t = mlp(FEAT + A, 1), mlp(FEAT + A, 1), mlp(FEAT + A, 1), mlp(FEAT + A, 1)
for net, tgt in ((enc, enc_t), (q1, q1t), (q2, q2t)):
    tgt.load_state_dict(net.state_dict())
pi = mlp(FEAT, 2 * A)
log_alpha = torch.tensor([0.1]).log().requires_grad_(True)
copt = torch.optim.Adam(list(enc.parameters()) + list(q1.parameters()) + list(q2.parameters()), lr=1e-3)
popt = torch.optim.Adam(pi.parameters(), lr=1e-3)
aopt = torch.optim.Adam([log_alpha], lr=1e-3)

# a replay of random frames: stacked observations and next observations stored as uint8
frames = torch.randint(0, 256, (N + K, 3, S, S), dtype=torch.uint8)
acts, rews, dones = torch.rand(N, A) * 2 - 1, torch.randn(N, 1), (torch.rand(N, 1) < 0.05).float()
stack_idx = torch.arange(K)


def stacked(idx):
    return frames[idx[:, None] + stack_idx[None, :]].reshape(len(idx), C, S, S)


def shift(x):
    # DrQ: replicate-pad by PAD, crop back at a random integer offset per sample
    p = F.pad(x, (PAD, PAD, PAD, PAD), mode="replicate")
    dx, dy = torch.randint(0, 2 * PAD + 1, (B,)), torch.randint(0, 2 * PAD + 1, (B,))
    ar = torch.arange(S)
    rows = (dy[:, None] + ar[None, :])[:, None, :, None].expand(B, C, S, S + 2 * PAD)
    p = p.gather(2, rows)
    cols = (dx[:, None] + ar[None, :])[:, None, None, :].expand(B, C, S, S)
    return p.gather(3, cols)


def sample_pi(feat):
    mu, ls = pi(feat).chunk(2, -1)
    ls = ls.clamp(-10, 2)
    std = ls.exp()
    u = mu + std * torch.randn_like(mu)
    logp = (-0.5 * ((u - mu) / std) ** 2 - ls - 0.9189385332).sum(-1, keepdim=True)
    logp -= (2 * (0.6931471805599453 - u - F.softplus(-2 * u))).sum(-1, keepdim=True)
    return torch.tanh(u), logp


def update():
    idx = torch.randint(0, N, (B,))
    obs = shift(stacked(idx).float()) / 255
    nxt = shift(stacked(idx + 1).float()) / 255
    a, r, d = acts[idx], rews[idx], dones[idx]
    alpha = log_alpha.exp().detach()
    with torch.no_grad():
        a2, lp2 = sample_pi(enc(nxt))
        x2 = torch.cat([enc_t(nxt), a2], -1)
        y = r + GAMMA * (1 - d) * (torch.min(q1t(x2), q2t(x2)) - alpha * lp2)
    feat = enc(obs)
    x = torch.cat([feat, a], -1)
    closs = 0.5 * ((q1(x) - y) ** 2).mean() + 0.5 * ((q2(x) - y) ** 2).mean()
    copt.zero_grad()
    closs.backward()
    copt.step()
    fd = feat.detach()
    an, lp = sample_pi(fd)
    xn = torch.cat([fd, an], -1)
    ploss = (alpha * lp - torch.min(q1(xn), q2(xn))).mean()
    popt.zero_grad()
    ploss.backward()
    popt.step()
    aloss = -(log_alpha * (lp.detach() - A)).mean()
    aopt.zero_grad()
    aloss.backward()
    aopt.step()
    with torch.no_grad():
        for net, tgt, tau in ((q1, q1t, TAU), (q2, q2t, TAU), (enc, enc_t, ENC_TAU)):
            for p, pt in zip(net.parameters(), tgt.parameters()):
                pt.mul_(1 - tau).add_(tau * p)


for _ in range(3):
    update()
best = 0.0
for _ in range(rounds):
    t0 = time.perf_counter()
    for _ in range(updates):
        update()
    best = max(best, updates / (time.perf_counter() - t0))
print(f"torch {torch.__version__} threads={threads} batch={B} frames={K}x{S}x{S} act={A}")
print(f"updates_per_s={best:.3f}")
