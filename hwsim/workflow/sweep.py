"""Grids of runs — rule × device comparisons and parameter sweeps — with a resumable results store and
optional dask.distributed execution.

Store: ``<out>/results.csv``, one row per finished point, appended and fsync'ed as each point completes
(the main process writes; workers only compute). A point is identified by ``point_id``, a hash of its
resolved config; re-running the same command skips points already in the file and redoes the others, so a
crash or SIGKILL loses nothing that was finished and duplicates nothing. A torn last line (killed while
writing) is dropped on reading.

Parallelism: ``workers=0`` runs points in this process, one after another; ``workers=N`` starts a local
dask cluster of N single-threaded worker processes; ``scheduler="tcp://host:port"`` submits to an existing
cluster. Each point's result depends only on its config (its own seed), not on where or when it runs.
"""
from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os

import numpy as np

from hwsim.workflow import config as config_mod

METRICS = ("test_accuracy", "best_accuracy", "epochs_run", "diverged", "pulses", "energy_J", "write_energy_J",
           "wall_s", "trainable_parameters", "trace")


def parse_axis(spec: str) -> tuple[str, list]:
    """'device.dw_min=0.001,0.003' or 'device.nonlinearity_ltp=0.5:5:10' (start:stop:count, inclusive,
    linear) → (key path, values)."""
    key, sep, values = spec.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise ValueError(f"--grid expects key.path=v1,v2,… or key.path=start:stop:count, got {spec!r}")
    if ":" in values:
        parts = values.split(":")
        if len(parts) != 3:
            raise ValueError(f"--grid {key}: a range is start:stop:count, got {values!r}")
        try:
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(f"--grid {key}: a range is start:stop:count with a whole count, got {values!r}") from None
        if count < 1:
            raise ValueError(f"--grid {key}: count must be >= 1, got {count}")
        return key, [float(v) for v in np.linspace(start, stop, count)]
    from hwsim.apps.cli import parse_value
    return key, [parse_value(v.strip()) for v in values.split(",") if v.strip()]


def grid_points(axes: list[tuple[str, list]]) -> list[dict]:
    """Cartesian product of the axes, first axis slowest."""
    keys = [k for k, _ in axes]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a grid axis is repeated: {keys}")
    return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in axes))]


def point_id(cfg: config_mod.Config) -> str:
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_store(path) -> list[dict]:
    """Rows of results.csv; a torn last line is dropped."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        text = f.read()
    if text and not text.endswith("\n"):
        text = text[:text.rfind("\n") + 1]
    rows = list(csv.DictReader(text.splitlines()))
    if rows and text:
        with open(path, "w", newline="") as f:     # heal the file: drop the torn line for good
            f.write(text)
    return rows


def _append(path, fields, row):
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        if new:
            w.writeheader()
        w.writerow({k: row.get(k, "") for k in fields})
        f.flush()
        os.fsync(f.fileno())


def _run_point(cfg_dict, trace_path):
    """Worker side: validate the config again (workers are separate processes) and run it."""
    from hwsim.workflow.experiment import run_config
    cfg = config_mod.validate(cfg_dict)
    res = run_config(cfg, trace_path, progress=False)
    acc = res["accuracy_per_epoch"]
    res["best_accuracy"] = max(acc) if acc else None
    res["epochs_run"] = len(acc)
    return res


def run_grid(base: dict, points: list[dict], out: str, workers: int = 0, scheduler: str | None = None,
             progress: bool = True, label_keys=None) -> list[dict]:
    """Run every point (key path → value, applied over ``base`` raw config) into ``out``; returns all rows
    (finished earlier and now), in point order."""
    os.makedirs(out, exist_ok=True)
    store = os.path.join(out, "results.csv")
    keys = label_keys or (list(points[0]) if points else [])
    fields = ["point_id", *keys, *METRICS]
    configs = []
    for p in points:
        raw = json.loads(json.dumps(base))
        for k, v in p.items():
            config_mod.set_path(raw, k, v)
        cfg = config_mod.validate(raw)
        configs.append((p, cfg, point_id(cfg)))
    done = {r["point_id"]: r for r in read_store(store)}
    if done and os.path.exists(store):
        with open(store, newline="") as f:
            header = next(csv.reader(f), [])
        if header and header != fields:
            raise ValueError(f"{store} holds another grid (columns {header}); use another --out")
    todo = [(p, cfg, pid) for p, cfg, pid in configs if pid not in done]
    traces = os.path.join(out, "traces")

    def finish(p, pid, res):
        row = {"point_id": pid, **{k: p[k] for k in keys}, **{m: res.get(m) for m in METRICS}}
        _append(store, fields, row)
        done[pid] = {k: str(v) for k, v in row.items()}

    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), desc="points", unit="run")
    if todo and (workers or scheduler):
        from dask.distributed import Client, LocalCluster, as_completed
        cluster = None
        if not scheduler:
            # one core per worker process: Numba threads inside workers would only fight each other
            saved = os.environ.get("NUMBA_NUM_THREADS")
            os.environ["NUMBA_NUM_THREADS"] = "1"
            try:
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
            finally:
                if saved is None:
                    os.environ.pop("NUMBA_NUM_THREADS")
                else:
                    os.environ["NUMBA_NUM_THREADS"] = saved
        with Client(scheduler or cluster) as client:
            futures = {client.submit(_run_point, cfg.to_dict(), os.path.join(traces, f"{pid}.h5"), pure=False):
                       (p, pid) for p, cfg, pid in todo}
            for fut in as_completed(futures):
                p, pid = futures[fut]
                finish(p, pid, fut.result())
                if bar:
                    bar.update(1)
        if cluster:
            cluster.close()
    else:
        for p, cfg, pid in todo:
            finish(p, pid, _run_point(cfg.to_dict(), os.path.join(traces, f"{pid}.h5")))
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    return [done[pid] for _, _, pid in configs]
