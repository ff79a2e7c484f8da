"""Grids of runs — rule × device comparisons and parameter sweeps — with a resumable results store and
optional dask.distributed execution.

Store: ``<out>/results.sqlite`` (SQLite, from Python's standard library) holds one row per finished point,
keyed by ``point_id``, a hash of the point's resolved config; each finished point is one committed
transaction, so a crash or SIGKILL loses nothing that was finished, and a point is never stored twice.
Re-running the same command skips the points already stored. ``<out>/results.csv`` is a view of the store for
people and other tools, rewritten atomically (temporary file, fsync, rename) after every finished point;
hwsim never reads it back. Reading the store (``read_store``) changes nothing; only the process running the
grid writes, the main process, never the workers.

Parallelism: ``workers=0`` runs points in this process, one after another; ``workers=N`` starts a local dask
cluster of N single-threaded worker processes; ``scheduler="tcp://host:port"`` submits to an existing
cluster. Each point's result depends only on its config (its own seed), not on where or when it runs.
"""
from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import sqlite3

import numpy as np

from hwsim.workflow import config as config_mod

METRICS = ("test_accuracy", "val_accuracy", "best_accuracy", "epochs_run", "diverged", "diverged_reason", "pulses",
           "energy_J", "write_energy_J", "read_energy_J", "digital_energy_J", "digital_macs", "cell_reads",
           "latency_s", "wall_s", "trainable_parameters", "trace")
STORE, VIEW = "results.sqlite", "results.csv"


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
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not items:
        raise ValueError(f"--grid {key}: no values in {values!r}")
    return key, [config_mod.parse_value(v) for v in items]


def grid_points(axes: list[tuple[str, list]]) -> list[dict]:
    """Cartesian product of the axes, first axis slowest."""
    keys = [k for k, _ in axes]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a grid axis is repeated: {keys}")
    return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in axes))]


def point_id(cfg: config_mod.Config) -> str:
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---- the store ------------------------------------------------------------------------------------------------
def _connect(path: str, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    con = sqlite3.connect(path, timeout=30)
    con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.execute("CREATE TABLE IF NOT EXISTS points (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                "point_id TEXT UNIQUE NOT NULL, row TEXT NOT NULL)")
    con.commit()
    return con


def read_store(out: str) -> list[dict]:
    """The rows stored in ``out`` (a results folder), in the order they finished; [] when there is none.
    Read-only: the store is not touched."""
    path = os.path.join(out, STORE)
    if not os.path.exists(path):
        return []
    with _connect(path, readonly=True) as con:
        try:
            return [json.loads(r) for (r,) in con.execute("SELECT row FROM points ORDER BY seq")]
        except sqlite3.OperationalError:          # created, tables not yet there
            return []


def _columns(con, fields, path):
    """The store's columns: set by its first grid; another grid is refused."""
    row = con.execute("SELECT value FROM meta WHERE key = 'columns'").fetchone()
    if row is None:
        con.execute("INSERT INTO meta VALUES ('columns', ?)", (json.dumps(fields),))
        con.commit()
    elif json.loads(row[0]) != fields:
        raise ValueError(f"{path} holds another grid (columns {json.loads(row[0])}); use another --out")


def _export(out: str, con, fields) -> None:
    """Rewrite results.csv from the store, atomically."""
    rows = [json.loads(row) for (row,) in con.execute("SELECT row FROM points ORDER BY seq")]
    write_csv(os.path.join(out, VIEW), rows, fields)


def write_view(out: str, rows: list[dict], keys: list[str], extra: dict) -> None:
    """Rewrite results.csv from ``rows`` with further columns per point (``extra``: point_id → {column:
    value}), e.g. which runs a comparison chose."""
    write_csv(os.path.join(out, VIEW), [dict(r, **extra.get(r["point_id"], {})) for r in rows],
              ["point_id", *keys, *METRICS])


def write_csv(path: str, rows: list[dict], fields: list[str]) -> None:
    """A CSV written atomically: temporary file, fsync, rename."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: row.get(k, "") for k in fields})
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):                    # a full disk: the previous view stays whole, no .tmp left
            os.remove(tmp)
        raise


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
    (finished earlier and now), one per distinct point, in point order."""
    os.makedirs(out, exist_ok=True)
    keys = label_keys or (list(points[0]) if points else [])
    fields = ["point_id", *keys, *METRICS]
    configs = {}
    for p in points:
        raw = json.loads(json.dumps(base))
        for k, v in p.items():
            config_mod.set_path(raw, k, v)
        cfg = config_mod.validate(raw)
        configs.setdefault(point_id(cfg), (p, cfg))          # the same point twice runs once
    store = os.path.join(out, STORE)
    con = _connect(store)
    try:
        _columns(con, fields, store)
        done = {r["point_id"]: r for r in read_store(out)}
        _export(out, con, fields)                            # the view catches up with the store
        todo = [(p, cfg, pid) for pid, (p, cfg) in configs.items() if pid not in done]
        traces = os.path.join(out, "traces")

        def finish(p, pid, res):
            row = {"point_id": pid, **{k: p[k] for k in keys}, **{m: res.get(m) for m in METRICS}}
            with con:
                con.execute("INSERT OR IGNORE INTO points (point_id, row) VALUES (?, ?)",
                            (pid, json.dumps(row, default=str)))
            _export(out, con, fields)
            done[pid] = row

        if todo:
            from hwsim.workflow.warmup import warm
            warm([cfg for _, cfg, _ in todo], progress)     # compile once, here, not in every worker
        bar = None
        if progress and todo:
            from tqdm import tqdm
            bar = tqdm(total=len(todo), desc="points", unit="run")
        if todo and (workers or scheduler):
            _run_distributed(todo, traces, workers, scheduler, finish, bar)
        else:
            for p, cfg, pid in todo:
                finish(p, pid, _run_point(cfg.to_dict(), os.path.join(traces, f"{pid}.h5")))
                if bar:
                    bar.update(1)
        if bar:
            bar.close()
    finally:
        con.close()
    return [done[pid] for pid in configs]


def _run_distributed(todo, traces, workers, scheduler, finish, bar):
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
    try:
        with Client(scheduler or cluster) as client:
            futures = {client.submit(_run_point, cfg.to_dict(), os.path.join(traces, f"{pid}.h5"), pure=False):
                       (p, pid) for p, cfg, pid in todo}
            for fut in as_completed(futures):
                p, pid = futures[fut]
                finish(p, pid, fut.result())
                if bar:
                    bar.update(1)
    finally:
        if cluster:
            cluster.close()
