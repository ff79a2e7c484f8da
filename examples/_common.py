"""Shared by the example scripts: run trainings in worker processes, plot learning curves."""
from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(os.path.dirname(__file__), "..", "out")


def _one(kw):
    from hwsim.workflow.experiment import run
    return run(progress=False, **kw)


def run_many(jobs: list[dict], workers: int = 2) -> list[dict]:
    """``hwsim.workflow.experiment.run(**job)`` for every job, in ``workers`` processes (results in job order)."""
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_one, jobs))


def seed_groups(jobs, results, seeds):
    """(first job, its results over the seeds) for consecutive runs of ``seeds`` jobs."""
    for k in range(0, len(jobs), seeds):
        yield jobs[k], results[k:k + seeds]


def mean(group, key):
    """Mean of ``key`` over a group of results (missing keys count as 0)."""
    import numpy as np
    return float(np.mean([r.get(key) or 0 for r in group]))


def epochs_to(acc_per_epoch, level):
    """First epoch (1-based) at which test accuracy reaches ``level``, or None."""
    return next((i + 1 for i, a in enumerate(acc_per_epoch) if a >= level), None)


def curves(results, labels, title, path, level=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for res, label in zip(results, labels):
        acc = res["accuracy_per_epoch"]
        ax.plot(range(1, len(acc) + 1), [100 * a for a in acc], label=f"{label} ({100 * acc[-1]:.1f} %)")
    if level:
        ax.axhline(100 * level, color="0.6", ls=":", lw=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy [%]")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {os.path.relpath(path)}")
