"""Diagnostics behind the transfer ablations in docs/rules.md (TT-v2's shortfall at hwsim's ReLU setting on
soft-bounds).

    python examples/transfer_diagnostics.py offset [--set device.dw_min_std=0.0 …]
    python examples/transfer_diagnostics.py buffer out/tables/transfer-default out/tables/tt2-relu-forget-buffer …

``offset``: the reference error that the symmetry-point calibration leaves on A, for `bp+tt2` on soft-bounds at
hwsim's setting (64-32-10 ReLU), seeds 0–2. The network and the rule are built as ``run_config`` builds them
(the calibration runs in the scheme's constructor); for every device of A the residual offset is the pair's
weight when G+ sits at its noise-free symmetry point w* = (a_d·s_u − s_d)/(1 − a_d·a_u) (docs/rules.md), in
pulses of A (its granularity). With ``--set rule.calibrate=false``: the offset without calibration.

``buffer``: from the traces of finished `hwsim compare` folders (transfer rules), per learning rate, means over
the seeds at the end of training: final validation accuracy, mean |H| of each layer in pulses of C (how far the
buffer has wound up: a decrementing H grows when the reads ask for more than `max_transfer_pulses` per read),
C's pulses per device read in the last epoch (at most `max_transfer_pulses`), the share of C's G+ devices
beyond 2/3 of the nominal bound, and the mean weight of the output layer's C.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import tomllib
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def _value(text):
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        return float(text)


def offset(sets):
    from hwsim import learning_rules
    from hwsim.devices.rng import child
    from hwsim.workflow import config as config_mod
    from hwsim.workflow.datasets import load
    from hwsim.workflow.experiment import build_network

    data = load("digits", None)
    for seed in (0, 1, 2):
        flags = {"rule": "bp+tt2", "device": "soft-bounds", "hidden": (32,), "activation": "relu", "epochs": 30,
                 "batch_size": 32, "lr": 3.0, "seed": seed, "dataset": "digits", "dataset_path": None,
                 "rank": None, "tile_size": 256}
        cfg = config_mod.from_flags(None, flags, sets)
        root = np.random.SeedSequence(cfg.seed)
        d = data.with_validation(cfg.dataset["validation"])
        net = build_network(cfg, d.n_features, d.n_classes, root)
        wstar = {}
        for layer in net.layers:
            for t in layer.matrices["A"].all_tiles():
                p = t.params_plus
                a_u, a_d = 1 - p["scale_up"] / p["w_max"], 1 - p["scale_down"] / np.abs(p["w_min"])
                wstar[id(t)] = (a_d * p["scale_up"] - p["scale_down"]) / (1 - a_d * a_u)
        learning_rules.build(cfg.rule["name"], net, cfg.training["lr"], random_state=child(root, "rule"),
                             update=cfg.update_parameters(), **cfg.rule_hyper())
        for li, layer in enumerate(net.layers):
            A = layer.matrices["A"]
            off = np.concatenate([A.scale * ((wstar[id(t)] + t.offset_plus) - (t.w_minus + t.offset_minus)).ravel()
                                  for t in A.all_tiles()]) / A.granularity
            print(f"seed {seed} layer {li}: residual offset of A at its symmetry point, in pulses of A: "
                  f"mean |b| {np.abs(off).mean():.2f}, median {np.median(np.abs(off)):.2f}, "
                  f"99th percentile {np.percentile(np.abs(off), 99):.1f}, max {np.abs(off).max():.0f}")


def buffer(folders):
    for folder in folders:
        rows = defaultdict(list)
        for path in sorted(glob.glob(os.path.join(folder, "traces", "*.h5"))):
            import h5py
            with h5py.File(path, "r") as f:
                text = f["config/resolved_toml"][0]
                cfg = tomllib.loads(text.decode() if isinstance(text, bytes) else str(text))
                slots = [k for k in f["state"] if k.startswith("slot")]
                s = f["state"][max(slots, key=lambda k: int(f["state"][k]["step"][0]))]   # the last state
                if "layers/#0/buffers/H" not in s:
                    continue
                bound = 2 / 3 * cfg["device"]["w_max"]
                names = sorted((k for k in s["matrices"] if k.startswith("C")), key=lambda k: int(k[1:]))
                g = [s[f"matrices/{n}/scale"][0] * cfg["device"]["dw_min"] for n in names]   # one pulse of C
                H = [np.abs(s[f"layers/#{i}/buffers/H"][:]).mean() / g[i] for i in range(len(names))]
                near = [np.mean([(np.abs(s[f"matrices/{n}/tiles/{t}/w_plus"][:]) > bound).mean()
                                 for t in s[f"matrices/{n}/tiles"]]) for n in names]
                last = s[f"matrices/{names[-1]}/tiles/#0"]
                # C's pulses per device read in the last epoch (at most max_transfer_pulses): the columns read per
                # step split over the layers as min(samples per step / transfer_every, columns)
                shapes = [s[f"layers/#{i}/buffers/H"].shape for i in range(len(names))]
                per_step = cfg["training"]["batch_size"] / cfg["rule"]["transfer_every"]
                share = np.array([min(per_step, c) for _, c in shapes])
                device_reads = f["metrics/transfer_reads"][-1] * (share * [r for r, _ in shapes]).sum() / share.sum()
                rows[(cfg["rule"]["name"], cfg["training"]["lr"])].append(
                    [f["metrics/val_accuracy"][-1], f["metrics/transfer_pulses"][-1] / device_reads, *H, *near,
                     (last["w_plus"][:] - last["w_minus"][:]).mean()])
        for (rule, lr), r in sorted(rows.items()):
            r = np.mean(r, axis=0)
            n = (len(r) - 3) // 2
            print(f"{os.path.basename(folder.rstrip('/'))}: {rule} lr {lr:g} ({len(rows[(rule, lr)])} seeds): "
                  f"val {r[0]:.3f}; C pulses per device read {r[1]:.2f}; mean |H| "
                  + ", ".join(f"L{i} {r[2 + i]:.0f}" for i in range(n))
                  + " pulses of C; C beyond 2/3 of bound " + ", ".join(f"L{i} {r[2 + n + i]:.2f}" for i in range(n))
                  + f"; output C mean weight {r[-1]:+.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    o = sub.add_parser("offset", help="A's reference error after calibration (bp+tt2, soft-bounds, ReLU setting)")
    o.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    b = sub.add_parser("buffer", help="H, C's bounds and val accuracy from the traces of compare folders")
    b.add_argument("folders", nargs="+")
    args = ap.parse_args()
    if args.what == "offset":
        offset({k: _value(v) for k, v in (item.split("=", 1) for item in args.set)})
    else:
        buffer(args.folders)


if __name__ == "__main__":
    main()
