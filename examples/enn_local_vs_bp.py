"""Claim (Cheng et al. 2025): ENN-ℓ, the backprop-free layer-local variant of the Eigen Neural Network, trains
as well as end-to-end backprop while its layers update in parallel.

Digits, 64-64-32-10 ReLU MLP (three weight layers, so layer parallelism matters), 30 epochs, seeds 0–2.
Accuracy and wall time of bp, enn (backprop on the eigenbasis form) and enn_local. Also the time of one
training step on the simulated hardware split by layer: backprop's errors must cross the layers one after
another (forward, then each layer's transpose reads, then updates), while ENN-ℓ's layers need only their own
output, so their updates can run at once: its step time is forward + the slowest layer, not the sum.
Writes out/enn_local_vs_bp.png.
"""
import os
import sys
import time

import numpy as np
from _common import OUT, curves, mean, run_many, seed_groups

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

SEEDS = (0, 1, 2)
jobs = [dict(rule=r, hidden=(64, 32), seed=s) for r in ("bp", "enn", "enn_local") for s in SEEDS]
res = run_many(jobs)
print(f"{'rule':10s} {'accuracy':>9s} {'wall [s]':>9s}")
for job, g in seed_groups(jobs, res, len(SEEDS)):
    print(f"{job['rule']:10s} {100 * mean(g, 'test_accuracy'):8.1f}% {mean(g, 'wall_s'):9.2f}")


def step_profile(rule_name):
    """Seconds per step: forward, and per layer its signal + update (timed one layer at a time)."""
    from hwsim import devices
    from hwsim import learning_rules as LR
    from hwsim.hardware.layers import mlp
    from hwsim.workflow.datasets import load
    from hwsim.hardware.network import Network
    from hwsim.hardware.periphery import Periphery
    from hwsim.workflow.trainer import one_hot
    data = load("digits")
    req = LR.requirements(rule_name)
    net = Network(mlp([64, 64, 32, 10], "relu", req["factorization"] or "dense"), devices.ideal_device(),
                  Periphery.ideal(), random_state=0)
    rule = LR.build(rule_name, net, 0.1, random_state=0)
    x, y = data.x_train[:32], one_hot(data.y_train[:32], 10)
    rule.step(net, x, y)
    fwd, per_layer = [], np.zeros(len(net.layers))
    for i, layer in enumerate(net.layers):          # time each layer's signals (transpose reads included)
        def timed(delta, input_grad=True, _orig=layer.signals, _i=i):
            t0 = time.perf_counter()
            out = _orig(delta, input_grad)
            per_layer[_i] += time.perf_counter() - t0
            return out
        layer.signals = timed
    for _ in range(50):
        t0 = time.perf_counter()
        logits = net.forward(x)
        fwd.append(time.perf_counter() - t0)
        _, e = LR.base.cross_entropy(logits, y)
        signals = rule.layer_signals(net, e, y)
        for i, (layer, (sig, dig)) in enumerate(zip(net.layers, signals)):
            t0 = time.perf_counter()
            for s in sig:
                rule.apply_signal(layer, s, len(x))
            per_layer[i] += time.perf_counter() - t0
    return float(np.median(fwd)), per_layer / 50


print("\nstep time on the simulated hardware (batch 32): forward + per layer (signals + update)")
for name in ("bp", "enn_local"):
    f, layers = step_profile(name)
    par = f + layers.max() if name == "enn_local" else f + layers.sum()     # bp's chain is sequential
    print(f"{name:10s} forward {1e3 * f:.2f} ms; layers {', '.join(f'{1e3 * t:.2f}' for t in layers)} ms; "
          f"one layer after another {1e3 * (f + layers.sum()):.2f} ms; "
          f"{'layers in parallel' if name == 'enn_local' else 'no layer parallelism possible'} {1e3 * par:.2f} ms")
curves([res[0], res[3], res[6]], ["bp", "enn", "enn_local"], "ENN-ℓ vs backprop (digits, 64-64-32-10, seed 0)",
       f"{OUT}/enn_local_vs_bp.png")
