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


MAX_AXIS_VALUES, MAX_POINTS = 10_000, 100_000      # values per axis, points per grid (docs/cli.md, "Limits")


def parse_axis(spec: str) -> tuple[str, list]:
    """'device.dw_min=0.001,0.003' or 'device.nonlinearity_ltp=0.5:5:10' (start:stop:count, inclusive,
    linear) → (key path, values). At most ``MAX_AXIS_VALUES`` values, none twice."""
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
        if not (np.isfinite(start) and np.isfinite(stop)):
            raise ValueError(f"--grid {key}: start and stop must be finite numbers, got {values!r}")
        if not 1 <= count <= MAX_AXIS_VALUES:
            raise ValueError(f"--grid {key}: count must be an integer in [1, {MAX_AXIS_VALUES}], got {count}")
        if count > 1 and start == stop:
            raise ValueError(f"--grid {key}: start = stop gives the same value {count} times, got {values!r}")
        items = [float(v) for v in np.linspace(start, stop, count)]
    else:
        texts = [v.strip() for v in values.split(",")]
        if not any(texts):
            raise ValueError(f"--grid {key}: no values in {values!r}")
        if not all(texts):
            raise ValueError(f"--grid {key}: an empty value in {values!r} (values are separated by single commas)")
        if len(texts) > MAX_AXIS_VALUES:
            raise ValueError(f"--grid {key}: at most {MAX_AXIS_VALUES} values, got {len(texts)}")
        items = [config_mod.parse_value(v, key) for v in texts]
    for i, item in enumerate(items):
        if any(_same(item, x) for x in items[:i]):
            raise ValueError(f"--grid {key}: value {item!r} is given twice (give each value once)")
    return key, items


def _same(a, b) -> bool:
    """The same grid value: 1 and 1.0 are, True and 1 are not."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def grid_points(axes: list[tuple[str, list]]) -> list[dict]:
    """Cartesian product of the axes, first axis slowest (at most ``MAX_POINTS`` points)."""
    keys = [k for k, _ in axes]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a grid axis is repeated: {keys}")
    total = int(np.prod([len(v) for _, v in axes], dtype=object)) if axes else 0
    if total > MAX_POINTS:
        raise ValueError(f"--grid: {' × '.join(str(len(v)) for _, v in axes)} = {total} points; the limit is "
                         f"{MAX_POINTS}")
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


def _flat(d, prefix=""):
    out = {}
    for k, x in d.items():
        if isinstance(x, dict):
            out.update(_flat(x, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = x
    return out


def _same_base(con, base, path):
    """The config every point starts from is part of a grid: a store filled from another base is another
    sweep, and is refused (docs/cli.md: another grid in the same folder is refused)."""
    text = json.dumps(base, sort_keys=True, default=str)
    row = con.execute("SELECT value FROM meta WHERE key = 'base'").fetchone()
    if row is None:
        con.execute("INSERT INTO meta VALUES ('base', ?)", (text,))
        con.commit()
    elif row[0] != text:
        old, new = _flat(json.loads(row[0])), _flat(json.loads(text))
        keys = sorted(k for k in set(old) | set(new) if old.get(k, "—") != new.get(k, "—"))
        diff = ", ".join(f"{k} {old.get(k, '(unset)')!r} → {new.get(k, '(unset)')!r}" for k in keys[:5])
        raise ValueError(f"{path} holds another grid (base config differs: {diff}); use another --out")


def available_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_workers(workers, scheduler) -> int:
    """Local worker processes: at most the available cores (each is single-threaded; more only oversubscribe
    the machine), any number of tasks for an existing cluster (``scheduler``)."""
    from hwsim.devices import validation as v
    hi = None if scheduler else available_cores()
    try:
        return v.Integer(0, hi)(workers)
    except ValueError as exc:
        raise ValueError(f"workers: {exc}" + ("" if scheduler else " (the cores available; --scheduler "
                                                               "for a cluster)")) from None


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
    workers = check_workers(workers, scheduler)
    os.makedirs(out, exist_ok=True)
    keys = label_keys or (list(points[0]) if points else [])
    fields = ["point_id", *keys, *METRICS]
    configs = {}
    for p in points:
        raw = json.loads(json.dumps(base))
        for k, v in p.items():
            config_mod.set_path(raw, k, v)
        cfg = config_mod.validate(raw)
        cfg.check_size()                                     # every point fits before the first runs
        configs.setdefault(point_id(cfg), (p, cfg))          # the same point twice runs once
    store = os.path.join(out, STORE)
    con = _connect(store)
    try:
        _columns(con, fields, store)
        _same_base(con, base, store)
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
            warm([cfg for _, cfg, _ in todo], progress, processes=workers or 1)   # compile here, not in every worker
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
