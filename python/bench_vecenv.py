#!/usr/bin/python3
"""VectorEnv stepped from Python beside the C vectorized runner stepped from C.

Both sides step the same environments (default: 16 quadrupeds with randomization off and
episodes cut at 150 steps, as `armfarm bench envs` does) with random actions in [-1, 1] and
fill final observations and infos. The C side is armfarm.bench_c, a loop over af_vecenv_step
in C with the GIL released; the Python side is a loop over VectorEnv.step with actions
drawn ahead of time (64 batches, cycled), so what differs is the binding's cost per call.
Rounds alternate between the two so that load from other processes hits both alike; the
ratio printed is the median of the rounds' ratios. Prints figures, never asserts a time.

    PYTHONPATH=build/python /usr/bin/python3 python/bench_vecenv.py [--envs 16] [--threads 2]
"""
import argparse
import json
import statistics
import time

import numpy as np

import armfarm


def time_python(name, n, threads, batches, config, actions):
    vec = armfarm.VectorEnv(name, n, threads=threads, **config)
    vec.reset(seed=1)
    t0 = time.perf_counter()
    for b in range(batches):
        vec.step(actions[b % len(actions)])
    el = time.perf_counter() - t0
    vec.close()
    return n * batches / el


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="quadruped")
    p.add_argument("--envs", type=int, default=16)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batches", type=int, default=300, help="batch steps per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    config = {"randomize": False, "horizon": 150}
    act_dim = armfarm.make(a.env).action_space.shape[0]
    actions = np.random.default_rng(11).uniform(-1, 1, size=(64, a.envs, act_dim)).astype(np.float32)
    rows = []
    for threads in a.threads:
        c, py = [], []
        for _ in range(a.rounds):
            c.append(armfarm.bench_c(a.env, a.envs, threads=threads, batches=a.batches, config=json.dumps(config)))
            py.append(time_python(a.env, a.envs, threads, a.batches, config, actions))
        ratio = statistics.median(x / y for x, y in zip(py, c))
        rows.append({"env": a.env, "num_envs": a.envs, "threads": threads, "c_steps_per_s": statistics.median(c),
                     "python_steps_per_s": statistics.median(py), "ratio": ratio})
    if a.json:
        print(json.dumps(rows))
        return
    print(f"{'env':<10} {'envs':>4} {'threads':>7} {'C runner':>12} {'VectorEnv':>12} {'ratio':>6}   (env steps/s, median of {a.rounds} alternating rounds)")
    for r in rows:
        print(f"{r['env']:<10} {r['num_envs']:>4} {r['threads']:>7} {r['c_steps_per_s']:>12,.0f} {r['python_steps_per_s']:>12,.0f} {r['ratio']:>6.3f}")


if __name__ == "__main__":
    main()
