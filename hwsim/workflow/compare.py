"""The fair comparison protocol of ``hwsim compare``: per (rule, device) a hyperparameter is tuned on a
validation split carved from the training set, and test accuracy is reported at the chosen value over several
seeds as mean ± std.

Every run of the grid trains on the training set minus the validation split (``dataset.validation``, 0.2 when
tuning and not set) and records its final validation and test accuracy. For each (rule, device) the chosen
value is the one with the highest mean validation accuracy over the seeds (a diverged run counts as 0); the
cell reports the test accuracy of the runs at that value — the test set never takes part in the choice.
"""
from __future__ import annotations

import itertools
import json

import numpy as np

DEFAULT_VALIDATION = 0.2


def points(rules, devices, tune: dict, seeds: list[int]) -> list[dict]:
    """Every run: rule × device × tuned values × seed (key path → value); a name or value given twice, or more
    than ``sweep.MAX_POINTS`` runs, is an error."""
    from hwsim.workflow.sweep import MAX_POINTS, _same
    keys = list(tune)
    for what, values in (("--rules", rules), ("--devices", devices), *((f"tune {k}", tune[k]) for k in keys)):
        for i, x in enumerate(values):
            if any(_same(x, y) for y in values[:i]):
                raise ValueError(f"{what}: {x!r} is given twice (give each once)")
    total = len(rules) * len(devices) * len(seeds) * int(np.prod([len(tune[k]) for k in keys], dtype=object))
    if total > MAX_POINTS:
        raise ValueError(f"compare: {total} runs (rules × devices × tuned values × seeds); the limit is {MAX_POINTS}")
    out = []
    for device in devices:
        for rule in rules:
            for combo in itertools.product(*(tune[k] for k in keys)):
                for seed in seeds:
                    out.append({"rule.name": rule, "device.preset": device, **dict(zip(keys, combo)),
                                "seed": seed})
    return out


def _value(row, key):
    return json.dumps(row[key], sort_keys=True)


def summarize(rows: list[dict], tune_keys: list[str]) -> list[dict]:
    """One row per (rule, device): the chosen values, the validation score of every value (mean ± std over
    seeds), and test accuracy at the chosen values (mean ± std, seeds, diverged runs)."""
    cells = {}
    for r in rows:
        cells.setdefault((r["rule.name"], r["device.preset"]), []).append(r)
    out = []
    for (rule, device), runs in cells.items():
        groups = {}
        for r in runs:
            groups.setdefault(tuple(_value(r, k) for k in tune_keys), []).append(r)

        def val(r):
            return 0.0 if r["diverged"] or r.get("val_accuracy") is None else float(r["val_accuracy"])
        scores = {combo: (float(np.mean([val(r) for r in g])), float(np.std([val(r) for r in g])))
                  for combo, g in groups.items()}
        best = max(scores, key=lambda c: scores[c][0]) if tune_keys else next(iter(groups))
        chosen = groups[best]
        tests = [float(r["test_accuracy"]) for r in chosen if not r["diverged"] and r["test_accuracy"] is not None]
        from hwsim.workflow.config import device_label
        cell = {"rule.name": rule, "device.preset": device, "device": device_label(device),
                **{k: json.loads(v) for k, v in zip(tune_keys, best)},
                "test_mean": float(np.mean(tests)) if tests else None,
                "test_std": float(np.std(tests)) if tests else None,
                "seeds": len(chosen), "diverged": sum(bool(r["diverged"]) for r in chosen),
                "pulses": float(np.mean([r["pulses"] or 0 for r in chosen])),
                "energy_J": float(np.mean([r["energy_J"] or 0 for r in chosen])),
                "wall_s": float(np.mean([r["wall_s"] or 0 for r in chosen])),
                "validation": {" ".join(f"{k}={json.loads(v)}" for k, v in zip(tune_keys, combo)) or "-":
                               f"{m:.4f}±{s:.4f}" for combo, (m, s) in scores.items()},
                "chosen_points": [r["point_id"] for r in chosen]}
        out.append(cell)
    return out


def mark_traces(rows: list[dict], summary: list[dict], tune_keys: list[str]) -> None:
    """Write the tuning outcome into every run's trace (attributes of /config: tune.keys, tune.chosen,
    tune.validation_scores)."""
    import h5py
    by_cell = {(c["rule.name"], c["device.preset"]): c for c in summary}
    for r in rows:
        path = r.get("trace")
        if not path:
            continue
        cell = by_cell[(r["rule.name"], r["device.preset"])]
        try:
            with h5py.File(path, "r+") as f:
                f["config"].attrs["tune.keys"] = json.dumps(tune_keys)
                f["config"].attrs["tune.chosen"] = bool(r["point_id"] in cell["chosen_points"])
                f["config"].attrs["tune.chosen_values"] = json.dumps({k: cell[k] for k in tune_keys})
                f["config"].attrs["tune.validation_scores"] = json.dumps(cell["validation"])
        except OSError:
            continue                                 # a trace another process holds open: the CSV still says it


def format_cell(cell, tune_keys) -> str:
    if cell["test_mean"] is None:
        return "diverged"
    text = f"{100 * cell['test_mean']:.1f} ± {100 * cell['test_std']:.1f}"
    if tune_keys:
        text += " (" + ", ".join(f"{k.split('.')[-1]} {cell[k]}" for k in tune_keys) + ")"
    if cell["diverged"]:
        text += f" [{cell['diverged']} diverged]"
    return text


def write_summary(path: str, summary: list[dict], tune_keys: list[str]) -> None:
    """summary.csv: one row per (rule, device) — chosen values, validation scores, test mean ± std."""
    from hwsim.workflow.sweep import write_csv
    fields = ["rule.name", "device.preset", *tune_keys, "test_mean", "test_std", "seeds", "diverged", "pulses",
              "energy_J", "wall_s", "validation"]
    write_csv(path, [dict(c, validation=json.dumps(c["validation"], ensure_ascii=False)) for c in summary], fields)
