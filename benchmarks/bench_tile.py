"""Tile benchmark (conventions: ../shared/specs/benchmarks.md).

Pulsed update: 512×512 tile, batch 100 rank-1 updates per call, x ~ U(0, 1), d ~ U(−1, 1), lr 0.01,
device defaults (dw_min 0.001), stochastic pulse trains BL = 31 with update management. Forward: 512×512,
batch 100, x ~ U(0, 1), 8-bit DAC and ADC, output noise on; the bare NumPy float32 matmul of the same
shapes is the limit. Medians of >= 5 calls after a warm-up call, at the default thread count and with one
thread. ``--json`` prints one JSON object.
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
from hwsim.hardware.periphery import Periphery  # noqa: E402
from hwsim.hardware.tile import Tile  # noqa: E402
from hwsim.learning_rules import UpdateParameters  # noqa: E402

SIZE, BATCH, LR, BL = 512, 100, 0.01, 31


def median_time(fn, repeats):
    fn()                                         # warm-up (JIT load, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def measure(repeats):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (BATCH, SIZE))
    d = rng.uniform(-1, 1, (BATCH, SIZE))
    out = {}
    for name in ("constant-step", "soft-bounds"):
        tile = Tile(SIZE, SIZE, devices.get_device(name), random_state=0)
        out[f"update_{name.replace('-', '_')}_s"] = median_time(lambda: tile.update(x, d, LR, UpdateParameters(bl=BL)), repeats)
    tile = Tile(SIZE, SIZE, devices.get_device("constant-step"),
                Periphery(dac_bits=8, adc_bits=8, output_noise=0.06), random_state=0)
    x32 = x.astype(np.float32)
    out["forward_s"] = median_time(lambda: tile.forward(x32), 5 * repeats)
    W = rng.uniform(-1, 1, (SIZE, SIZE)).astype(np.float32)
    out["sgemm_s"] = median_time(lambda: x32 @ W.T, 5 * repeats)
    out["cell_updates_per_s"] = SIZE * SIZE * BATCH / out["update_constant_step_s"]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    threads = numba.get_num_threads()
    result = measure(args.repeats)
    numba.set_num_threads(1)
    single = measure(args.repeats)
    numba.set_num_threads(threads)
    result.update({f"{k}_1thread": v for k, v in single.items()})
    result.update(threads=threads, machine=f"{platform.machine()} {os.cpu_count()} cpus", python=platform.python_version(),
                  numpy=np.__version__, numba=numba.__version__)
    if args.json:
        print(json.dumps(result))
        return
    print(f"hwsim tile benchmark — {result['machine']}, numpy {np.__version__}, numba {numba.__version__}")
    print(f"{'':32s}{threads} threads      1 thread")
    for key, label in (("update_constant_step_s", "update constant-step [s]"), ("update_soft_bounds_s",
                       "update soft-bounds [s]"), ("forward_s", "forward 8-bit + noise [ms]"),
                       ("sgemm_s", "numpy sgemm [ms]")):
        scale = 1e3 if "[ms]" in label else 1
        print(f"{label:32s}{result[key] * scale:10.4g}{result[key + '_1thread'] * scale:14.4g}")
    print(f"{'cell updates / s [M]':32s}{result['cell_updates_per_s'] / 1e6:10.4g}"
          f"{result['cell_updates_per_s_1thread'] / 1e6:14.4g}")
    print(f"{'forward / sgemm':32s}{result['forward_s'] / result['sgemm_s']:10.3g}"
          f"{result['forward_s_1thread'] / result['sgemm_s_1thread']:14.3g}")


if __name__ == "__main__":
    main()
