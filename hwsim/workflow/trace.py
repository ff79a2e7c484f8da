"""HDF5 traces of a run (schema: docs/trace-format.md): written by ``TraceWriter``, read by ``Trace``.

The file is created whole before training (every dataset that grows is chunked, resizable and checksummed)
and then only appended to, in HDF5's single-writer/multiple-reader (SWMR) mode, which keeps the file
consistent at every moment: a run killed at any point leaves a readable trace. An epoch is *committed* by
appending its number to ``/metrics/epoch``, after every other row of that epoch has been written and flushed;
readers use the committed epochs only. The network's full state (for ``Network.from_state``) lives in two
alternating slots, ``/state/slot0`` and ``/state/slot1``: epoch k writes slot k mod 2 before committing, so
the slot of the last committed epoch is never the one being written.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time

import numpy as np

FORMAT = "hwsim-trace"
FORMAT_VERSION = 3
READABLE_VERSIONS = (2, 3)      # 3: every dataset checksummed (scalars and text stored as one-element arrays)
PARAM_ROWS = ("w_min", "w_max", "scale_up", "scale_down", "c2c_std", "drift_nu")
EPOCH_METRICS = {"train_loss": np.float64, "test_accuracy": np.float64, "val_accuracy": np.float64,
                 "saturated": np.float64, "steps": np.int64,
                 "pulses_potentiation": np.int64, "pulses_depression": np.int64, "refresh_pulses": np.int64,
                 "refreshes": np.int64, "transfer_pulses": np.int64, "transfer_reads": np.int64}
TIMING = ("wall_s",)                          # the only non-deterministic data (excluded from comparisons)
STATIC_STATE = ("params_plus", "params_minus", "key_pulses", "key_reads", "key_rounding", "kind")


class TraceError(ValueError):
    """A file that is not a readable hwsim trace."""


def check_output(path: str, force: bool = False) -> None:
    """Refuse a trace path before any work starts: a folder, a name ending in .tmp (hwsim's temporary
    name while writing), a parent that is a file, or an existing file that is not an hwsim trace (unless
    ``force``: then it is replaced). An existing trace is replaced (a rerun)."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"trace path must be a file name, got {path!r}")
    if path.endswith(".tmp"):
        raise ValueError(f"trace path {path!r} ends in .tmp, the name hwsim writes to before renaming; choose "
                         "another name (e.g. .h5)")
    if os.path.isdir(path):
        raise ValueError(f"trace path {path!r} is a folder; give a file name (e.g. {os.path.join(path, 'trace.h5')})")
    parent = os.path.dirname(os.path.abspath(path))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent) if os.path.dirname(parent) != parent else ""
    if parent and not os.path.isdir(parent):
        raise ValueError(f"trace path {path!r}: {parent} is a file, not a folder")
    if os.path.exists(path) and not force and not _is_trace(path):
        raise ValueError(f"{path} exists and is not an hwsim trace; refusing to overwrite it (give --force to "
                         "replace it)")


def _is_trace(path) -> bool:
    import h5py
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == FORMAT
    except Exception:                               # noqa: BLE001 — anything unreadable is not a trace
        try:
            with h5py.File(path, "r", swmr=True) as f:
                return f.attrs.get("format") == FORMAT
        except Exception:                           # noqa: BLE001
            return False


def estimate_bytes(network, config, epochs: int) -> int:
    """An upper bound of a trace's size (uncompressed) for ``epochs`` epochs: the free-space check."""
    snaps = config.trace["snapshots"]
    n_snap = epochs + 1 if snaps == "all" else (1 if snaps == "last" else len(snaps))
    total = 1 << 20                                  # config, attributes, metadata
    for m in network.matrices.values():
        for t in m.all_tiles():
            n = t.rows * t.cols
            recorded = max(1, int(round(config.trace["subsample"] * n)))
            total += n * (2 * 8 * len(PARAM_ROWS) + 2 + 2 * 8 * 11 + 2 * 2 * 8)    # params, stuck, static, slots
            total += epochs * n * (4 * 8 + 2) + n_snap * recorded * 8
    return int(total)


def _write_error(path, exc) -> OSError:
    reason = getattr(exc, "strerror", None) or str(exc)
    if isinstance(exc, OSError) and exc.errno == 28 or "No space" in str(exc):
        reason = "no space left on the device"
    return OSError(f"{path}: cannot write the trace ({reason})")


def _git_commit():
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def versions() -> dict:
    import h5py
    import numba
    from importlib.metadata import PackageNotFoundError, version
    try:
        hw = version("hwsim")
    except PackageNotFoundError:
        hw = "unknown"
    return {"hwsim": hw, "numpy": np.__version__, "numba": numba.__version__, "h5py": h5py.__version__,
            "python": platform.python_version(), "git_commit": _git_commit()}


# ---- nested state ⇄ flat paths ------------------------------------------------------------------------------
def flatten(tree, prefix="") -> dict:
    """{"a": {"b": [x, y]}} → {"a/b/#0": x, "a/b/#1": y} (lists keep their order as #k; empty containers
    are left out — readers take them as absent)."""
    out = {}
    items = tree.items() if isinstance(tree, dict) else ((f"#{i}", x) for i, x in enumerate(tree))
    for key, value in items:
        path = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, (dict, list)):
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def unflatten(flat: dict):
    """The inverse of ``flatten``."""
    root: dict = {}
    for path, value in flat.items():
        parts = path.split("/")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def fix(node):
        if not isinstance(node, dict):
            return node
        if node and all(k.startswith("#") for k in node):
            return [fix(node[f"#{i}"]) for i in range(len(node))]
        return {k: fix(x) for k, x in node.items()}
    return fix(root)


def _is_static(path):
    return path.rsplit("/", 1)[-1] in STATIC_STATE or path.startswith("build/")


def _dynamic_state(state):
    """The parts of a network state that change while training (pulse counts live in the tiles' rows)."""
    return {p: x for p, x in flatten(state).items() if not _is_static(p) and not p.endswith("/pulse_counts")}


# ---- writing ---------------------------------------------------------------------------------------------------
class TraceWriter:
    """Creates the trace at ``path`` and appends every finished epoch (``on_epoch``); ``finish`` closes it."""

    def __init__(self, path, config, network, coeff, epochs: int, random_state=None, force: bool = False):
        import shutil
        check_output(path, force)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        need = estimate_bytes(network, config, epochs)
        free = shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free
        if free < need:
            raise OSError(f"{path}: {free / 1e6:.1f} MB free on its disk; the trace needs up to {need / 1e6:.1f} MB "
                          "(uncompressed upper bound); free space or write it elsewhere")
        tmp = path + ".tmp"
        self.f = None
        try:
            self._create(path, tmp, config, network, coeff, epochs, random_state)
        except BaseException as exc:
            if self.f is not None:
                try:
                    self.f.close()
                except Exception:                   # noqa: BLE001 — closing a broken file; the error below counts
                    pass
            for leftover in (tmp,) if os.path.exists(tmp) else ():
                os.remove(leftover)
            if isinstance(exc, (OSError, RuntimeError)):
                raise _write_error(path, exc) from None
            raise

    def _create(self, path, tmp, config, network, coeff, epochs, random_state):
        import h5py

        from hwsim.devices.rng import check_random_state
        from hwsim.hardware.cost import network_cost
        self.path, self.config, self.network, self.coeff = path, config, network, coeff
        self._datasets = {}                        # path → open h5py dataset
        snaps = config.trace["snapshots"]
        self.snap_epochs = set(range(epochs + 1)) if snaps == "all" else ({epochs} if snaps == "last" else set(snaps))
        rng = check_random_state(random_state)
        self.index = {}                            # (matrix, i) → recorded flat device indices (None: all)
        self._last_counts = {}                     # (matrix, i) → pulses per kind at the last epoch
        for name, m in network.matrices.items():
            for i, t in enumerate(m.all_tiles()):
                n = t.rows * t.cols
                k = max(1, int(round(config.trace["subsample"] * n)))
                self.index[(name, i)] = None if k >= n else np.sort(rng.choice(n, k, replace=False))
        f = self.f = h5py.File(tmp, "w", libver="latest")
        f.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, seed=config.seed,
                       device_label=config.device_label(), created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        cfg = f.create_group("config")
        _put(cfg, "toml", config.to_toml())
        from hwsim.workflow.config import dumps
        _put(cfg, "resolved_toml", dumps(config.resolved()))
        for section, values in config.to_dict().items():
            if isinstance(values, dict):
                for k, x in values.items():
                    cfg.attrs[f"{section}.{k}"] = "" if x is None else (str(x) if isinstance(x, (list, dict)) else x)
            else:
                cfg.attrs[section] = values
        f.create_group("versions").attrs.update(versions())
        met = f.create_group("metrics")
        _grow(met, "epoch", (), np.int64)
        for key, dtype in EPOCH_METRICS.items():
            _grow(met, key, (), dtype)
        tim = f.create_group("timing")
        for key in TIMING:
            _grow(tim, key, (), np.float64)
        met.create_dataset("diverged", data=np.zeros(1, np.uint8), chunks=(1,), fletcher32=True)
        self.recorder = None
        _grow(met, "events_rows", (), np.int64)
        ev = f.create_group("events")
        from hwsim.workflow.events import FIELDS, EventRecorder
        for key, dtype in FIELDS.items():
            ev.create_dataset(key, (0,), maxshape=(None,), dtype=dtype, chunks=(1 << 16,), compression="gzip",
                              fletcher32=True)
        if config.trace["events"]:
            tr = config.trace
            self.recorder = EventRecorder(network, tr["events_first_step"], tr["events_last_step"],
                                          tr["events_subsample"], rng).attach()
        self._events = 0
        met.create_dataset("diverged_reason", data=np.zeros(1, "S256"), chunks=(1,), fletcher32=True)
        dyn = f.create_group("dynamics", track_order=True)
        for name, m in network.matrices.items():
            _grow(dyn.create_group(name), "singular_values", (min(m.rows, m.cols),), np.float64)
        for i, layer in enumerate(network.layers):
            g = dyn.create_group(f"layer{i}")
            for key, value in layer.digital.items():
                _grow(g, key, np.shape(value), np.float64)
        lay = f.create_group("layers", track_order=True)
        for name, m in network.matrices.items():
            g = lay.create_group(name)
            g.attrs.update(rows=m.rows, cols=m.cols, digital_scale=m.scale)
            tiles = g.create_group("tiles")
            for i, (rs, cs, t) in enumerate(m.blocks()):
                tg = tiles.create_group(str(i))
                tg.attrs.update(row_start=rs.start, row_stop=rs.stop, col_start=cs.start, col_stop=cs.stop,
                                tile_id=t.tile_id, pair=t.pair, device_model=t.device.name)
                idx = self.index[(name, i)]
                snap = (t.rows, t.cols) if idx is None else (len(idx),)
                if idx is not None:
                    _put(tg, "device_index", idx)
                _grow(tg, "snapshot_epochs", (), np.int64)
                _grow(tg, "G_plus", snap, np.float32)
                _grow(tg, "G_minus", snap, np.float32)
                _grow(tg, "pulse_count", (4, t.rows, t.cols), np.int64)
                _grow(tg, "saturated_plus", (t.rows, t.cols), np.uint8)
                _grow(tg, "saturated_minus", (t.rows, t.cols), np.uint8)
                _grow(tg, "pulses_epoch", (4,), np.int64)
                self._last_counts[(name, i)] = t.pulse_counts.reshape(4, -1).sum(axis=1)
                for side, params in (("plus", t.params_plus), ("minus", t.params_minus)):
                    _put(tg, f"stuck_{side}", params["stuck"].astype(np.int8))
                    pg = tg.create_group(f"params_{side}")
                    for row in PARAM_ROWS:
                        pg.create_dataset(row, data=params[row], compression="gzip", fletcher32=True)
        cost = network_cost(network, coeff)
        cg = f.create_group("cost")
        from hwsim.hardware.cost import sources
        for k, x in coeff.items():
            cg.attrs[f"coefficient.{k}"] = x
        for k, x in sources(network.device, config.cost).items():
            cg.attrs[f"source.{k}"] = x
        tot = cg.create_group("total")
        for k in cost["total"]:
            _grow(tot, k, (), np.float64)
        per = cg.create_group("tiles")
        for key, vals in cost["tiles"].items():
            pg = per.create_group(key.replace("/", "."))
            for k in vals:
                _grow(pg, k, (), np.float64)
        state = network.state()
        sg = f.create_group("state")
        sg.attrs["build"] = json.dumps(state["build"])
        static = sg.create_group("static")
        for path_, value in flatten(state).items():
            if _is_static(path_) and not path_.startswith("build/"):
                _put(static, path_, value)
        dynamic = _dynamic_state(state)
        for slot in ("slot0", "slot1"):
            g = sg.create_group(slot)
            for path_, value in dynamic.items():
                _put(g, path_, value)
        f.flush()
        _fsync(tmp)
        os.replace(tmp, path)                       # the empty trace (epoch 0 in slot 0) is complete
        _fsync(os.path.dirname(os.path.abspath(path)))
        f.swmr_mode = True
        if 0 in self.snap_epochs:
            self._snapshot(0)
            f.flush()

    def _dataset(self, path):
        """The open dataset at ``path`` (h5py's lookup through the groups costs ≈ 0.1 ms each time)."""
        d = self._datasets.get(path)
        if d is None:
            d = self._datasets[path] = self.f[path]
        return d

    def _snapshot(self, epoch):
        for name, m in self.network.matrices.items():
            for i, t in enumerate(m.all_tiles()):
                tg = f"layers/{name}/tiles/{i}"
                gp, gm = t.conductances()
                idx = self.index[(name, i)]
                if idx is not None:
                    gp, gm = gp.ravel()[idx], gm.ravel()[idx]
                _append(self._dataset(f"{tg}/G_plus"), gp.astype(np.float32))
                _append(self._dataset(f"{tg}/G_minus"), gm.astype(np.float32))
                _append(self._dataset(f"{tg}/snapshot_epochs"), epoch)

    def on_epoch(self, history):
        """Append the epoch just finished (the last entry of ``history``) and commit it. A write that fails
        (a full disk) closes the file, which keeps its committed epochs, and raises OSError naming it."""
        try:
            self._on_epoch(history)
        except (OSError, RuntimeError) as exc:
            self._abandon()
            raise _write_error(self.path, exc) from None

    def _abandon(self):
        if self.recorder is not None:
            self.recorder.detach()
        try:
            self.f.close()
        except Exception:                           # noqa: BLE001 — the write error is what is reported
            pass

    def _on_epoch(self, history):
        from hwsim.hardware.cost import network_cost
        f, net = self.f, self.network
        epoch = history["epoch"][-1]
        ds = self._dataset
        for key in EPOCH_METRICS:
            values = history.get(key) or [np.nan]
            _append(ds(f"metrics/{key}"), values[-1])
        for key in TIMING:
            _append(ds(f"timing/{key}"), history[key][-1])
        for name, m in net.matrices.items():
            for i, t in enumerate(m.all_tiles()):
                tg = f"layers/{name}/tiles/{i}"
                _append(ds(f"{tg}/pulse_count"), t.pulse_counts)
                counts = t.pulse_counts.reshape(4, -1).sum(axis=1)
                _append(ds(f"{tg}/pulses_epoch"), counts - self._last_counts[(name, i)])
                self._last_counts[(name, i)] = counts
                for side, params, w in (("plus", t.params_plus, t.w_plus), ("minus", t.params_minus, t.w_minus)):
                    lo, hi = params["w_min"], params["w_max"]
                    span = np.maximum(hi - lo, 1e-12)
                    _append(ds(f"{tg}/saturated_{side}"), ((w - lo < 0.01 * span) | (hi - w < 0.01 * span)))
        if epoch in self.snap_epochs:
            self._snapshot(epoch)
        for name, m in net.matrices.items():
            _append(ds(f"dynamics/{name}/singular_values"), np.linalg.svd(m.get_weights(), compute_uv=False))
        for i, layer in enumerate(net.layers):
            for key, value in layer.digital.items():
                _append(ds(f"dynamics/layer{i}/{key}"), value)
        cost = network_cost(net, self.coeff)
        for k, x in cost["total"].items():
            _append(ds(f"cost/total/{k}"), x)
        for key, vals in cost["tiles"].items():
            for k, x in vals.items():
                _append(ds(f"cost/tiles/{key.replace('/', '.')}/{k}"), x)
        if self.recorder is not None:
            events = self.recorder.drain()
            n = len(events["step"])
            for key, values in events.items():
                dset = f["events"][key]
                dset.resize(self._events + n, axis=0)
                dset[self._events:] = values
            self._events += n
        _append(ds("metrics/events_rows"), self._events)
        for path_, value in _dynamic_state(net.state()).items():
            _overwrite(ds(f"state/slot{epoch % 2}/{path_}"), value)
        f.flush()                                   # every row of the epoch is in the file …
        _append(ds("metrics/epoch"), epoch)
        f.flush()                                   # … before the epoch is committed

    def finish(self, history):
        """Record divergence and close the file."""
        if self.recorder is not None:
            self.recorder.detach()
        try:
            self.f["metrics"]["diverged"][0] = np.uint8(bool(history["diverged"]))
            self.f["metrics"]["diverged_reason"][0] = history.get("diverged_reason", "").encode()[:256]
            self.f.flush()
            self.f.close()
        except (OSError, RuntimeError) as exc:
            self._abandon()
            raise _write_error(self.path, exc) from None


GROW_CHUNK_BYTES = 1 << 14
"""Bytes per chunk of a growing dataset (at least one row). Each append rewrites its chunk (decompress, write,
compress, checksum), so chunks stay small: 1 MiB chunks made a 64-32-10 network's epoch cost 0.2 s of writing."""


def _grow(group, name, shape, dtype):
    """An empty dataset that grows along its first axis (gzip, checksummed; rows per chunk: as many as fit in
    ``GROW_CHUNK_BYTES``, at least one, at most 1024)."""
    row = max(1, int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
    rows = max(1, min(1024, GROW_CHUNK_BYTES // row))
    return group.create_dataset(name, (0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=(rows, *shape),
                                compression="gzip", fletcher32=True)


def _append(dset, row):
    """Add ``row`` at the end of a growing dataset, through h5py's low-level calls: the same bytes as
    ``resize`` and item assignment in a third of the time (75–85 µs against 240 µs per row; a demo point appends
    ≈ 1000–1500 rows)."""
    import h5py
    did = dset.id
    shape = did.shape
    n = shape[0]
    arr = np.ascontiguousarray(row, dtype=dset.dtype).reshape((1, *shape[1:]))
    did.set_extent((n + 1, *shape[1:]))
    space = did.get_space()
    space.select_hyperslab((n, *(0,) * (len(shape) - 1)), arr.shape)
    did.write(h5py.h5s.create_simple(arr.shape), space, arr)


def _overwrite(dset, value):
    """Write all of a fixed-shape dataset (low-level, as ``_append``). The state slots are made from the same
    network, so the shapes agree; a mismatch is refused (the low-level write would read past the array)."""
    import h5py
    arr = np.ascontiguousarray(value, dtype=dset.dtype)
    if arr.shape != dset.id.shape:
        raise ValueError(f"{dset.name}: value of shape {arr.shape}, the dataset has {dset.id.shape}")
    dset.id.write(h5py.h5s.ALL, h5py.h5s.ALL, arr)


def _fsync(path):
    """Flush a file (or a folder's entries) to the disk: the rename of a complete trace must not overtake it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass                                        # folders cannot be fsynced on some systems
    finally:
        os.close(fd)


def _put(group, path, value):
    """A fixed dataset, chunked and Fletcher-32 checksummed (format 3): text as one fixed-length byte string
    (attribute ``text``), a scalar as a one-element array (attribute ``scalar``)."""
    if isinstance(value, str):
        data = value.encode()
        d = group.create_dataset(path, data=np.array([data], dtype=f"S{max(1, len(data))}"), chunks=(1,),
                                 fletcher32=True)
        d.attrs["text"] = 1
        return d
    arr = np.asarray(value)
    if arr.ndim == 0:
        d = group.create_dataset(path, data=arr.reshape(1), chunks=(1,), fletcher32=True)
        d.attrs["scalar"] = 1
        return d
    if arr.size == 0:
        return group.create_dataset(path, data=arr)
    return group.create_dataset(path, data=arr, chunks=arr.shape, fletcher32=True)


def _get(dset):
    """The value ``_put`` stored (format 3), or a version-2 plain dataset's value."""
    if dset.shape == ():
        value = dset[()]
    elif dset.attrs.get("text") or dset.attrs.get("scalar"):
        value = dset[0]
    else:
        return dset[()]
    return value.decode() if isinstance(value, bytes) else value


# ---- reading ---------------------------------------------------------------------------------------------------
MAY_BE_NAN = ("metrics/val_accuracy",)        # NaN there means "no validation split"


def _MUST_BE_FINITE(path: str) -> bool:
    """Every float dataset must be finite (conductances, digital scales, device states, metrics, costs): a
    NaN there is a damaged trace. Except ``MAY_BE_NAN``."""
    return path not in MAY_BE_NAN


def _guarded(method):
    """A reading method whose failures on a damaged file (h5py, KeyError, TypeError …) become TraceError
    naming the file, like the checks on open."""
    import functools

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except TraceError:
            raise
        except Exception as exc:                    # noqa: BLE001
            raise TraceError(f"{self.path}: damaged trace: {method.__name__} failed ({_reason(exc)})") from None
    return wrapper


def _reason(exc) -> str:
    text = str(exc) or type(exc).__name__
    if "filter" in text.lower() or "checksum" in text.lower() or "fletcher" in text.lower():
        return f"checksum mismatch, the data is corrupted: {text}"
    return f"{type(exc).__name__}: {text}"[:300]


class Trace:
    """A trace opened for reading: committed epochs only, schema checked on open.

    Use as a context manager: ``with Trace(path) as t: t.metrics(), t.network(), t.config …``."""

    GROUPS = ("config", "versions", "metrics", "timing", "layers", "dynamics", "cost", "state")
    TILE_ATTRS = ("row_start", "row_stop", "col_start", "col_stop", "tile_id")

    def __init__(self, path, verify: bool = True):
        """Open ``path`` and check its schema (every documented group, dataset, attribute, dtype and shape;
        the format version). ``verify`` (default) also reads every dataset once — Fletcher-32 checksums
        catch corrupted data — and refuses non-finite conductances, digital scales and device states."""
        import h5py
        self.path = path
        self.f = None
        self._config = None
        if not os.path.exists(path):
            raise TraceError(f"{path}: no such file")
        if os.path.isdir(path):
            raise TraceError(f"{path}: a folder, not a trace file")
        try:
            self.f = h5py.File(path, "r")
        except OSError as exc:
            if "already open for write" not in str(exc):
                raise TraceError(f"{path}: not a readable HDF5 file ({exc})") from None
            # the writer was killed (or is still running): its consistency flag is set; SWMR reading works
            try:
                self.f = h5py.File(path, "r", swmr=True)
            except OSError as exc2:
                raise TraceError(f"{path}: not a readable HDF5 file ({exc2})") from None
        self._where = ""
        try:
            self._check()
            if verify:
                self._verify()
        except TraceError:
            self.close()
            raise
        except Exception as exc:                    # noqa: BLE001 — a damaged file fails in h5py in many ways
            self.close()
            raise TraceError(f"{path}: damaged trace: {self._where or 'its structure'} cannot be read "
                             f"({_reason(exc)})") from None

    # ---- schema ----
    def _fail(self, what):
        raise TraceError(f"{self.path}: {what}")

    def _dataset(self, where, kinds, ndim=None, shape=None, rows=None):
        """The dataset at ``where`` with a dtype kind in ``kinds``, ``ndim`` dimensions, trailing ``shape``
        and at least ``rows`` rows."""
        import h5py
        self._where = f"dataset /{where}"
        obj = self.f.get(where)
        if obj is None:
            self._fail(f"hwsim trace without dataset /{where}")
        if not isinstance(obj, h5py.Dataset):
            self._fail(f"/{where} must be a dataset, found a group")
        if obj.dtype.kind not in kinds:
            self._fail(f"dataset /{where} has dtype {obj.dtype}, expected "
                       + {"i": "integers", "u": "unsigned integers", "f": "floats", "S": "bytes"}.get(kinds, kinds))
        if ndim is not None and obj.ndim != ndim:
            self._fail(f"dataset /{where} has shape {obj.shape}, expected {ndim} dimension(s)")
        if shape is not None and tuple(obj.shape[1:]) != tuple(shape):
            self._fail(f"dataset /{where} has shape {obj.shape}, expected (rows, {', '.join(map(str, shape))})")
        if rows is not None and obj.shape[0] < rows:
            self._fail(f"dataset /{where} has {obj.shape[0]} rows, the trace committed {rows} epochs")
        return obj

    def _attr(self, obj, name, kind, where):
        self._where = f"attribute {name} of {where}"
        if name not in obj.attrs:
            self._fail(f"hwsim trace without attribute {name} of {where}")
        value = obj.attrs[name]
        ok = {"int": lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)),
              "real": lambda v: isinstance(v, (int, float, np.integer, np.floating)) and np.isfinite(v),
              "str": lambda v: isinstance(v, (str, bytes))}[kind]
        if not ok(value):
            want = {"real": "a finite number", "int": "an integer", "str": "text"}[kind]
            shown = value.item() if isinstance(value, np.generic) else value
            self._fail(f"attribute {name} of {where} must be {want}, got {shown!r}")
        return value

    def _group(self, where):
        import h5py
        self._where = f"group /{where}"
        obj = self.f.get(where)
        if not isinstance(obj, h5py.Group):
            self._fail(f"hwsim trace without group /{where}")
        return obj

    def _check(self):
        f = self.f
        self._where = "the root attributes"
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode(errors="replace")
        if fmt != FORMAT:
            raise TraceError(f"{self.path}: an HDF5 file but not an hwsim trace (attribute format = {FORMAT!r} "
                             "missing)")
        if "format_version" not in f.attrs:
            self._fail("hwsim trace without attribute format_version")
        version = f.attrs["format_version"]
        if not isinstance(version, (int, np.integer)) or int(version) not in READABLE_VERSIONS:
            shown = int(version) if isinstance(version, (int, np.integer)) else repr(version)
            raise TraceError(f"{self.path}: hwsim trace format version {shown}; this hwsim reads versions "
                             f"{', '.join(map(str, READABLE_VERSIONS))}")
        self.version = int(version)
        self._attr(f, "seed", "int", "/")
        if "device_label" in f.attrs:
            self._attr(f, "device_label", "str", "/")
        for group in self.GROUPS:
            self._group(group)
        for key in ("toml", "resolved_toml"):
            self._dataset(f"config/{key}", "SO")
        for key in f["versions"].attrs:
            self._attr(f["versions"], key, "str", "/versions")
        epoch = self._dataset("metrics/epoch", "i", 1)
        self.epochs = E = int(epoch.shape[0])
        for key, dtype in EPOCH_METRICS.items():
            self._dataset(f"metrics/{key}", np.dtype(dtype).kind, 1, rows=E)
        self._dataset("metrics/events_rows", "i", 1, rows=E)
        self._dataset("metrics/diverged", "u", 1, rows=1)
        self._dataset("metrics/diverged_reason", "S", 1, rows=1)
        for key in TIMING:
            self._dataset(f"timing/{key}", "f", 1, rows=E)
        from hwsim.workflow.events import FIELDS
        for key, dtype in FIELDS.items():
            self._dataset(f"events/{key}", np.dtype(dtype).kind, 1)
        self._where = "dataset /config/toml"
        try:
            cfg = self.config
        except ValueError as exc:
            self._fail(f"dataset /config/toml is not a valid run config ({exc})")
        self._where = "group /layers"
        if not len(f["layers"]):
            self._fail("hwsim trace without matrices in /layers")
        for name in f["layers"]:
            where = f"layers/{name}"
            g = self._group(where)
            rows, cols = (int(self._attr(g, k, "int", "/" + where)) for k in ("rows", "cols"))
            self._attr(g, "digital_scale", "real", "/" + where)
            self._dataset(f"dynamics/{name}/singular_values", "f", 2, (min(rows, cols),), rows=E)
            tiles = self._group(f"{where}/tiles")
            for i in range(len(tiles)):
                tw = f"{where}/tiles/{i}"
                tg = self._group(tw)
                a = {k: int(self._attr(tg, k, "int", "/" + tw)) for k in self.TILE_ATTRS}
                r, c = a["row_stop"] - a["row_start"], a["col_stop"] - a["col_start"]
                if not (0 <= a["row_start"] < a["row_stop"] <= rows and 0 <= a["col_start"] < a["col_stop"] <= cols):
                    self._fail(f"/{tw}: rows {a['row_start']}…{a['row_stop']}, columns {a['col_start']}…"
                               f"{a['col_stop']} do not fit the {rows}×{cols} matrix")
                snap = self._dataset(f"{tw}/snapshot_epochs", "i", 1)
                n = snap.shape[0]
                if "device_index" in tg:
                    idx = self._dataset(f"{tw}/device_index", "i", 1)
                    sshape = (idx.shape[0],)
                else:
                    sshape = (r, c)
                for side in ("plus", "minus"):
                    self._dataset(f"{tw}/G_{side}", "f", 1 + len(sshape), sshape, rows=n)
                    self._dataset(f"{tw}/saturated_{side}", "u", 3, (r, c), rows=E)
                    st = self._dataset(f"{tw}/stuck_{side}", "i", 2)
                    if st.shape != (r, c):
                        self._fail(f"dataset /{tw}/stuck_{side} has shape {st.shape}, expected ({r}, {c})")
                    for row in PARAM_ROWS:
                        d = self._dataset(f"{tw}/params_{side}/{row}", "f", 2)
                        if d.shape != (r, c):
                            self._fail(f"dataset /{tw}/params_{side}/{row} has shape {d.shape}, expected ({r}, {c})")
                self._dataset(f"{tw}/pulse_count", "i", 4, (4, r, c), rows=E)
                self._dataset(f"{tw}/pulses_epoch", "i", 2, (4,), rows=E)
                self._dataset(f"cost/tiles/{name}.{i}/energy_J", "f", 1, rows=E)
        self._dataset("cost/total/energy_J", "f", 1, rows=E)
        self._dataset("cost/total/write_energy_J", "f", 1, rows=E)
        for key in list(f["cost"]["total"]):
            self._dataset(f"cost/total/{key}", "f", 1, rows=E)
        sg = self._group("state")
        self._where = "attribute build of /state"
        build = self._attr(sg, "build", "str", "/state")
        try:
            b = json.loads(build)
            if not isinstance(b, dict) or not isinstance(b.get("layers"), list):
                raise ValueError("no layer list")
        except ValueError as exc:
            self._fail(f"attribute build of /state is not the JSON of the layer specs ({exc})")
        for slot in ("static", "slot0", "slot1"):
            self._group(f"state/{slot}")
        if E:
            self._where = "dataset /metrics/events_rows"
            rows_ = int(f["metrics"]["events_rows"][E - 1])
            if not 0 <= rows_ <= f["events"]["step"].shape[0]:
                self._fail(f"dataset /metrics/events_rows says {rows_} event rows, /events holds "
                           f"{f['events']['step'].shape[0]}")
        self._where = ""

    def _verify(self):
        """Read every dataset (checksums) and refuse non-finite conductances, scales and device states."""
        import h5py
        names = []
        self.f.visititems(lambda p, obj: names.append(p) if isinstance(obj, h5py.Dataset) else None)
        for p in names:
            d = self.f[p]
            self._where = f"dataset /{p}"
            try:
                step = max(1, (64 << 20) // max(1, d.dtype.itemsize * int(np.prod(d.shape[1:], dtype=np.int64))))
                if d.ndim == 0 or d.shape[0] <= step:
                    blocks = [d[()]]
                else:
                    blocks = (d[k:k + step] for k in range(0, d.shape[0], step))
                for block in blocks:
                    if _MUST_BE_FINITE(p) and d.dtype.kind == "f" and not np.all(np.isfinite(block)):
                        self._fail(f"dataset /{p} holds values that are not finite (NaN or inf): the trace's "
                                   "network cannot be used")
            except TraceError:
                raise
            except Exception as exc:                # noqa: BLE001
                raise TraceError(f"{self.path}: dataset /{p} cannot be read ({_reason(exc)})") from None
        self._where = ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.f is not None:
            self.f.close()

    # ---- contents ----
    @property
    def config(self):
        from hwsim.workflow import config as config_mod
        if self._config is None:
            self._config = config_mod.loads(_get(self.f["config"]["toml"]))
        return self._config

    @property
    def diverged(self) -> bool:
        return bool(self.f["metrics"]["diverged"][0])

    @property
    def diverged_reason(self) -> str:
        return self.f["metrics"]["diverged_reason"][0].decode()

    @_guarded
    def dynamics(self) -> dict:
        """Per committed epoch: singular values of every analog matrix {name: (E, k)} and the layers' digital
        parameters {"layer<i>/<name>": (E, n)}."""
        out = {}
        self.f["dynamics"].visititems(lambda p, obj: out.__setitem__(p, obj[:self.epochs])
                                      if hasattr(obj, "shape") else None)
        return out

    @_guarded
    def metrics(self) -> dict:
        """Per committed epoch: epoch, train_loss, test_accuracy, … and wall_s."""
        out = {k: self.f["metrics"][k][:self.epochs] for k in ("epoch", *EPOCH_METRICS)}
        out.update({k: self.f["timing"][k][:self.epochs] for k in TIMING})
        return out

    def matrices(self) -> list[str]:
        return list(self.f["layers"])

    def tiles(self, matrix: str) -> list:
        """The tile groups of a matrix, in order."""
        g = self.f["layers"][matrix]["tiles"]
        return [g[str(i)] for i in range(len(g))]

    @_guarded
    def snapshots(self, tile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(epochs, G+, G−) of a tile's snapshots taken at committed epochs."""
        n = tile["snapshot_epochs"].shape[0]
        epochs = tile["snapshot_epochs"][:n]
        keep = int(np.sum(epochs <= self.epochs))
        return epochs[:keep], tile["G_plus"][:keep], tile["G_minus"][:keep]

    @_guarded
    def pulse_count(self, tile) -> np.ndarray:
        """Cumulative pulses per device (4, r, c) after the last committed epoch."""
        if not self.epochs:
            return np.zeros(tile["pulse_count"].shape[1:], np.int64)
        return tile["pulse_count"][self.epochs - 1]

    @_guarded
    def events(self) -> dict:
        """The pulse events of the committed epochs (docs/trace-format.md, /events), as columns."""
        n = int(self.f["metrics"]["events_rows"][self.epochs - 1]) if self.epochs else 0
        return {k: self.f["events"][k][:n] for k in self.f["events"]}

    @_guarded
    def cost_total(self) -> dict:
        """The cost account after the last committed epoch (zeros before the first)."""
        g = self.f["cost"]["total"]
        return {k: float(g[k][self.epochs - 1]) if self.epochs else 0.0 for k in g}

    @_guarded
    def state(self) -> dict:
        """The network's full state after the last committed epoch (``Network.from_state``)."""
        sg = self.f["state"]
        flat = {}

        def take(path, obj):
            if hasattr(obj, "shape"):
                flat[path] = _get(obj)
        sg["static"].visititems(take)
        sg[f"slot{self.epochs % 2}"].visititems(take)
        for name in self.matrices():
            for i, tile in enumerate(self.tiles(name)):
                flat[f"matrices/{name}/tiles/#{i}/pulse_counts"] = self.pulse_count(tile)
        state = unflatten(flat)
        state["build"] = json.loads(sg.attrs["build"])
        return state

    @_guarded
    def network(self):
        """The trained network, rebuilt from the state on the config's device and periphery."""
        from hwsim.hardware.network import Network
        cfg = self.config
        return Network.from_state(self.state(), cfg.device_model(), cfg.periphery_model())

    @_guarded
    def summary(self) -> dict:
        acc = self.f["metrics"]["test_accuracy"][:self.epochs]
        met = self.metrics()
        cost = self.cost_total()
        cfg = self.config
        label = self.f.attrs.get("device_label", cfg.device_label())
        return {"path": self.path, "format_version": int(self.f.attrs["format_version"]),
                "seed": int(self.f.attrs["seed"]), "rule": cfg.rule["name"],
                "device": label.decode(errors="replace") if isinstance(label, bytes) else str(label),
                "epochs": self.epochs,
                "final_test_accuracy": float(acc[-1]) if len(acc) else None, "diverged": self.diverged,
                "diverged_reason": self.diverged_reason,
                "matrices": self.matrices(), "tiles": sum(len(self.tiles(m)) for m in self.matrices()),
                "pulses": int(met["pulses_potentiation"].sum() + met["pulses_depression"].sum()),
                "energy_J": cost.get("energy_J", 0.0), "write_energy_J": cost.get("write_energy_J", 0.0),
                "versions": {k: (v.decode(errors="replace") if isinstance(v, bytes) else str(v))
                             for k, v in self.f["versions"].attrs.items()}}


def summary(path) -> dict:
    with Trace(path) as t:
        return t.summary()
