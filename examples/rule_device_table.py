"""The rule × device table of README and docs/rules.md: every rule on digits (64-32-10 ReLU MLP, 30 epochs,
batch 32, lr 0.1, seed 0; dfa_svd at rank 8) on the ideal device and three measured devices. Prints a Markdown table and
writes out/rule_device_table.json and out/rule_device_table.png (final test accuracy heatmap).

    python examples/rule_device_table.py [--epochs 30] [--workers 2]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

RULES = ["bp", "dfa", "bp+decor", "dfa+decor", "dfa_svd", "enn", "enn_local", "bp+unidirectional",
         "dfa+unidirectional"]
DEVICES = ["ideal", "reram-sb", "ag-a-si", "ecram-ibm"]


def one(args):
    rule, device, epochs = args
    from hwsim.workflow.experiment import run
    res = run(rule, device, epochs=epochs, progress=False, rank=8 if rule == "dfa_svd" else None)
    return {k: res[k] for k in ("rule", "device", "test_accuracy", "accuracy_per_epoch", "wall_s", "pulses",
                                "trainable_parameters", "diverged")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="out")
    args = ap.parse_args()
    jobs = [(r, d, args.epochs) for d in DEVICES for r in RULES]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(one, jobs))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "rule_device_table.json"), "w") as f:
        json.dump(results, f, indent=1)
    table = {(r["rule"], r["device"]): r for r in results}
    print("| rule | params | " + " | ".join(DEVICES) + " |")
    print("|---|---|" + "---|" * len(DEVICES))
    for rule in RULES:
        cells = []
        for dev in DEVICES:
            r = table[(rule, dev)]
            best = max(r["accuracy_per_epoch"]) if r["accuracy_per_epoch"] else float("nan")
            cells.append(f"{100 * r['test_accuracy']:.1f} ({100 * best:.1f}) · {r['wall_s']:.1f} s · "
                         f"{r['pulses'] / 1e6:.2g} M")
        print(f"| {rule} | {table[(rule, DEVICES[0])]['trainable_parameters']} | " + " | ".join(cells) + " |")
    print(f"\ncells: final test accuracy % after {args.epochs} epochs (best epoch) · wall time · pulses")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    acc = np.array([[table[(r, d)]["test_accuracy"] for d in DEVICES] for r in RULES])
    fig, ax = plt.subplots(figsize=(7, 5))
    im = ax.imshow(acc, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(DEVICES)), DEVICES)
    ax.set_yticks(range(len(RULES)), RULES)
    for i in range(len(RULES)):
        for j in range(len(DEVICES)):
            ax.text(j, i, f"{100 * acc[i, j]:.0f}", ha="center", va="center", color="w" if acc[i, j] < 0.6 else "k")
    fig.colorbar(im, label="test accuracy")
    ax.set_title(f"digits, 64-32-10 ReLU, {args.epochs} epochs")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "rule_device_table.png"), dpi=120)


if __name__ == "__main__":
    main()
