"""Transfer-based training (Tiki-Taka family: ``+tt1``, ``+tt2``, ``+ctt2``, ``+agad``) against plain ``bp`` and
the local rules on soft-bounds devices — the table of docs/rules.md ("Transfer rules: measured").

Protocol (the one ``hwsim compare --tune`` implements on main, done here by hand until it reaches this branch):
digits; 20 % of the training set (stratified, fixed: seed 0) is held out for validation and every run trains on
the other 80 %; per (setting, device, rule) each learning rate of the rule's grid is run with seeds 0, 1, 2; the
chosen lr has the best mean final validation accuracy (a diverged run counts 0); the cell is the test accuracy
of the three runs at that lr, mean ± std — the test set never takes part in the choice. Pulses: mean over the
three runs of the training pulses (gradient + transfers; the calibration before training is reported apart).

Settings: ``aihwkit`` (its MNIST example's setting: 64-32-10, sigmoid, batch 10, 15 epochs) and ``relu``
(hwsim's defaults: 64-32-10 ReLU, batch 32, 30 epochs). Writes out/transfer_rules.json (every run) and prints
the Markdown tables.

    python examples/transfer_rules.py [--workers 2] [--settings aihwkit,relu] [--devices soft-bounds,reram-sb]
        [--rules bp,bp+tt2,...] [--seeds 0,1,2] [--ablations]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

SETTINGS = {"aihwkit": dict(hidden=[32], activation="sigmoid", batch_size=10, epochs=15),
            "relu": dict(hidden=[32], activation="relu", batch_size=32, epochs=30)}
LR_GRID = {"bp": [0.01, 0.03, 0.1, 0.3, 1.0], "dfa": [0.03, 0.1, 0.3, 1.0], "bp+decor": [0.03, 0.1, 0.3, 1.0],
           "transfer": [0.1, 0.3, 1.0, 3.0]}
RULES = ["bp", "bp+tt1", "bp+tt2", "bp+ctt2", "bp+agad", "dfa", "dfa+ctt2"]
DEVICES = ["soft-bounds", "reram-sb"]
# ablations at the chosen lr of the rule they modify: (label, rule, hyperparameters)
ABLATIONS = [("bp+tt2, no calibration", "bp+tt2", {"calibrate": False}),
             ("bp+ctt2, no chopper (= tt2 uncalibrated)", "bp+ctt2", {"chop_prob": 0.0}),
             ("bp+tt2, max_transfer_pulses 1", "bp+tt2", {"max_transfer_pulses": 1}),
             ("bp+tt2, forget_buffer", "bp+tt2", {"forget_buffer": True})]
VALIDATION = 0.2


def grid(rule):
    return LR_GRID.get(rule, LR_GRID["transfer"] if "+" in rule and rule.split("+")[-1] in
                       ("tt1", "tt2", "ctt2", "agad") else LR_GRID["bp"])


def split(data, fraction=VALIDATION, seed=0):
    """(training data with the validation part as its 'test' set, x_test, y_test): a stratified hold-out."""
    from hwsim.workflow.datasets import Dataset
    rng = np.random.default_rng(seed)
    val = np.zeros(len(data.y_train), bool)
    for c in np.unique(data.y_train):
        idx = np.nonzero(data.y_train == c)[0]
        val[rng.choice(idx, size=int(round(fraction * len(idx))), replace=False)] = True
    return (Dataset(data.name, data.x_train[~val], data.y_train[~val], data.x_train[val], data.y_train[val]),
            data.x_test, data.y_test)


def one(job):
    """Train one (setting, device, rule, lr, seed, hyper): final validation and test accuracy, pulses."""
    from hwsim import learning_rules
    from hwsim.devices.rng import child
    from hwsim.workflow import config as C
    from hwsim.workflow.datasets import load
    from hwsim.workflow.experiment import build_network
    from hwsim.workflow.trainer import evaluate, train
    s = SETTINGS[job["setting"]]
    sets = {"rule.name": job["rule"], "device.preset": job["device"], "network.hidden": s["hidden"],
            "network.activation": s["activation"], "training.batch_size": s["batch_size"],
            "training.epochs": s["epochs"], "training.lr": job["lr"], "seed": job["seed"],
            **{f"rule.{k}": v for k, v in job.get("hyper", {}).items()}}
    cfg = C.load(sets=sets)
    data, x_test, y_test = split(load("digits"))
    root = np.random.SeedSequence(cfg.seed)
    net = build_network(cfg, data.n_features, data.n_classes, root)
    t0 = time.perf_counter()
    rule = learning_rules.build(cfg.rule["name"], net, cfg.training["lr"], child(root, "rule"),
                                cfg.update_parameters(), **cfg.rule_hyper())
    hist = train(net, rule, data, cfg.training["epochs"], cfg.training["batch_size"],
                 random_state=child(root, "data"), progress=False)
    ok = not hist["diverged"]
    return dict(job, val=hist["test_accuracy"][-1] if ok else 0.0, test=evaluate(net, x_test, y_test) if ok else 0.0,
                diverged=hist["diverged"], pulses=int(sum(hist["pulses"])), wall_s=time.perf_counter() - t0,
                transfer_pulses=int(hist["extra"].get("transfer_pulses", 0)),
                transfer_reads=int(hist["extra"].get("transfer_reads", 0)),
                calibration_pulses=int(hist["extra"].get("calibration_pulses", 0)))


def choose(runs):
    """{lr: runs} → (chosen lr, its runs, {lr: mean validation accuracy})."""
    by_lr = {}
    for r in runs:
        by_lr.setdefault(r["lr"], []).append(r)
    scores = {lr: float(np.mean([r["val"] for r in rs])) for lr, rs in by_lr.items()}
    best = max(scores, key=scores.get)
    return best, by_lr[best], scores


def cell(runs):
    t = [100 * r["test"] for r in runs]
    return f"{np.mean(t):.1f} ± {np.std(t):.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--settings", default="aihwkit,relu")
    ap.add_argument("--devices", default=",".join(DEVICES))
    ap.add_argument("--rules", default=",".join(RULES))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--ablations", action="store_true", help="also run the ablations at the chosen lr")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "out"))
    args = ap.parse_args()
    settings, devs, rules = args.settings.split(","), args.devices.split(","), args.rules.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [{"setting": st, "device": d, "rule": r, "lr": lr, "seed": s}
            for st in settings for d in devs for r in rules for lr in grid(r) for s in seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(one, jobs))
    chosen = {}
    for st in settings:
        for d in devs:
            for r in rules:
                runs = [x for x in results if (x["setting"], x["device"], x["rule"]) == (st, d, r)]
                chosen[(st, d, r)] = choose(runs)
    ablation_results = []
    if args.ablations:
        ab_jobs = [{"setting": st, "device": d, "rule": rule, "lr": chosen[(st, d, rule)][0], "seed": s,
                    "hyper": hyper, "label": label}
                   for st in settings for d in devs for label, rule, hyper in ABLATIONS if (st, d, rule) in chosen
                   for s in seeds]
        with ProcessPoolExecutor(args.workers) as pool:
            ablation_results = list(pool.map(one, ab_jobs))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "transfer_rules.json"), "w") as f:
        json.dump({"runs": results, "ablations": ablation_results}, f, indent=1)
    for st in settings:
        s = SETTINGS[st]
        print(f"\n### {st}: 64-{s['hidden'][0]}-10 {s['activation']}, batch {s['batch_size']}, {s['epochs']} epochs\n")
        print("| rule | " + " | ".join(f"{d}: test % (lr) · pulses" for d in devs) + " |")
        print("|---|" + "---|" * len(devs))
        for r in rules:
            cells = []
            for d in devs:
                lr, runs, _ = chosen[(st, d, r)]
                tp = np.mean([x["transfer_pulses"] for x in runs])
                extra = f" ({tp / 1e6:.2g} M transfer)" if tp else ""
                cells.append(f"{cell(runs)} (lr {lr:g}) · {np.mean([x['pulses'] for x in runs]) / 1e6:.2g} M{extra}")
            print(f"| {r} | " + " | ".join(cells) + " |")
        print("\nvalidation accuracy per lr (mean of the seeds):")
        for d in devs:
            for r in rules:
                _, _, scores = chosen[(st, d, r)]
                print(f"  {d} {r}: " + ", ".join(f"{lr:g}: {100 * v:.1f}" for lr, v in sorted(scores.items())))
    if ablation_results:
        print("\n### ablations (at the chosen lr of the rule they modify)\n")
        print("| setting | device | ablation | test % | reference (unablated) |")
        print("|---|---|---|---|---|")
        for st in settings:
            for d in devs:
                for label, rule, _ in ABLATIONS:
                    runs = [x for x in ablation_results if (x["setting"], x["device"], x.get("label")) ==
                            (st, d, label)]
                    if runs:
                        print(f"| {st} | {d} | {label} | {cell(runs)} | {cell(chosen[(st, d, rule)][1])} |")


if __name__ == "__main__":
    main()
