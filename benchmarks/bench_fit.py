"""`hwsim devices fit` on a 500 000-row CSV (issue 12, item 8): wall time of the whole command.

Two shapes of 500 000 rows: 1000 devices × 2 branches × 250 pulses, and one device × 2 branches × 250 000
pulses; a soft saturating response (1 − e^(−3k/n)) from 1 µS to ~10 µS, 5 % device-to-device spread of
G_max, 1 % multiplicative noise per point. One run each (a fit takes seconds to minutes); ``--json`` prints
one JSON object. Measured on 2 shared cores (issue 12): 1000 devices 357 s before, 29 s after; one device
39 s before, 19 s after (neurosim).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def write_csv(path: str, devices: int, pulses: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    k = np.arange(pulses)
    frac = 1 - np.exp(-3 * k / pulses)
    with open(path, "w") as f:
        f.write("pulse,conductance,direction,device\n")
        for d in range(devices):
            g_max = 1e-5 * (1 + 0.05 * rng.standard_normal())
            for direction, shape in (("up", frac), ("down", 1 - frac)):
                g = (1e-6 + (g_max - 1e-6) * shape) * (1 + 0.01 * rng.standard_normal(pulses))
                f.write("".join(f"{p},{x:.6e},{direction},{d}\n" for p, x in zip(k, g)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="neurosim")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = {"model": args.model, "rows": 500_000}
    with tempfile.TemporaryDirectory() as tmp:
        for label, devices, pulses in (("1000_devices", 1000, 250), ("1_device", 1, 250_000)):
            path = os.path.join(tmp, f"{label}.csv")
            write_csv(path, devices, pulses)
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-m", "hwsim.apps.cli", "devices", "fit", path, "--model",
                                  args.model, "--json"], capture_output=True, text=True)
            out[f"{label}_s"] = round(time.perf_counter() - t0, 1)
            out[f"{label}_exit"] = res.returncode
    print(json.dumps(out) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
