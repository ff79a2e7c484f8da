"""HDF5 traces of a run (schema: docs/trace-format.md).

The writer rewrites the whole file after every epoch into ``<path>.tmp`` and renames it over ``path``
(atomic on POSIX): a killed run leaves the last complete epoch or nothing, never a half-written file.
"""
from __future__ import annotations

import os
import platform
import subprocess
import time

import numpy as np

FORMAT = "hwsim-trace"
FORMAT_VERSION = 1
PARAM_ROWS = ("w_min", "w_max", "scale_up", "scale_down", "c2c_std", "drift_nu")


class TraceError(ValueError):
    """A file that is not a readable hwsim trace."""


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


class TraceWriter:
    """Collects snapshots during training and writes the trace after every epoch."""

    def __init__(self, path, config, network, coeff, epochs: int, seed: int = 0):
        self.path, self.config, self.network, self.coeff = path, config, network, coeff
        snaps = config.trace["snapshots"]
        self.snap_epochs = set(range(epochs + 1)) if snaps == "all" else ({epochs} if snaps == "last" else set(snaps))
        self.subsample = config.trace["subsample"]
        rng = np.random.default_rng(seed)
        self.index = {}                            # tile key → recorded flat device indices (None: all)
        for name, m in network.matrices.items():
            for i, t in enumerate(m.all_tiles()):
                n = t.rows * t.cols
                k = max(1, int(round(self.subsample * n)))
                self.index[(name, i)] = None if k >= n else np.sort(rng.choice(n, k, replace=False))
        self.snapshots = {key: [] for key in self.index}
        self.snapshot_epochs = []
        self.versions = versions()
        if 0 in self.snap_epochs:
            self._snapshot(0)

    def _snapshot(self, epoch):
        self.snapshot_epochs.append(epoch)
        for name, m in self.network.matrices.items():
            for i, t in enumerate(m.all_tiles()):
                gp, gm = t.conductances()
                idx = self.index[(name, i)]
                if idx is not None:
                    gp, gm = gp.ravel()[idx], gm.ravel()[idx]
                self.snapshots[(name, i)].append((gp.astype(np.float32), gm.astype(np.float32)))

    def on_epoch(self, history):
        epoch = history["epoch"][-1] if history["epoch"] else 0
        if epoch in self.snap_epochs and epoch not in self.snapshot_epochs:
            self._snapshot(epoch)
        self.write(history)

    def write(self, history):
        import h5py
        from hwsim.hardware.cost import network_cost
        tmp = self.path + ".tmp"
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with h5py.File(tmp, "w") as f:
            f.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, seed=self.config.seed,
                           created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            cfg = f.create_group("config")
            cfg.create_dataset("toml", data=self.config.to_toml())
            for section, values in self.config.to_dict().items():
                if isinstance(values, dict):
                    for k, v in values.items():
                        cfg.attrs[f"{section}.{k}"] = "" if v is None else (str(v) if isinstance(v, (list, dict)) else v)
                else:
                    cfg.attrs[section] = values
            ver = f.create_group("versions")
            ver.attrs.update(self.versions)
            met = f.create_group("metrics")
            n = len(history["epoch"])
            met.create_dataset("epoch", data=np.asarray(history["epoch"], np.int64))
            for key in ("train_loss", "test_accuracy", "saturated", "wall_s"):
                met.create_dataset(key, data=np.asarray(history[key], np.float64))
            for key in ("pulses_potentiation", "pulses_depression", "refresh_pulses", "refreshes"):
                met.create_dataset(key, data=np.asarray(history.get(key, [0] * n), np.int64))
            met.attrs["diverged"] = bool(history["diverged"])
            met.create_dataset("diverged", data=np.uint8(history["diverged"]))
            lay = f.create_group("layers")
            for name, m in self.network.matrices.items():
                g = lay.create_group(name)
                g.attrs.update(rows=m.rows, cols=m.cols, digital_scale=m.scale)
                tiles = g.create_group("tiles")
                for i, ((r0, r1), (c0, c1), t) in enumerate(_positions(m)):
                    tg = tiles.create_group(str(i))
                    tg.attrs.update(row_start=r0, row_stop=r1, col_start=c0, col_stop=c1, tile_id=t.tile_id,
                                    pair=t.pair, device_model=t.device.name)
                    self._tile(tg, (name, i), t)
            cost = network_cost(self.network, self.coeff)
            cg = f.create_group("cost")
            for k, v in self.coeff.items():
                cg.attrs[f"coefficient.{k}"] = v
            tot = cg.create_group("total")
            for k, v in cost["total"].items():
                tot.attrs[k] = v
            per = cg.create_group("tiles")
            for key, vals in cost["tiles"].items():
                pg = per.create_group(key.replace("/", "."))
                for k, v in vals.items():
                    pg.attrs[k] = v
        os.replace(tmp, self.path)

    def _tile(self, tg, key, t):
        idx = self.index[key]
        tg.create_dataset("snapshot_epochs", data=np.asarray(self.snapshot_epochs, np.int64))
        snaps = self.snapshots[key]
        shape = (len(snaps),) + ((t.rows, t.cols) if idx is None else (len(idx),))
        for side, j in (("G_plus", 0), ("G_minus", 1)):
            data = np.stack([s[j] for s in snaps]).reshape(shape) if snaps else np.zeros((0,) + shape[1:], np.float32)
            tg.create_dataset(side, data=data, chunks=(1,) + shape[1:] if snaps else None,
                              compression="gzip" if snaps else None)
        if idx is not None:
            tg.create_dataset("device_index", data=idx)
        tg.create_dataset("pulse_count", data=t.pulse_counts, compression="gzip")
        for side, params, w in (("plus", t.params_plus, t.w_plus), ("minus", t.params_minus, t.w_minus)):
            tg.create_dataset(f"stuck_{side}", data=params["stuck"].astype(np.int8))
            lo, hi = params["w_min"], params["w_max"]
            span = np.maximum(hi - lo, 1e-12)
            tg.create_dataset(f"saturated_{side}", data=((w - lo < 0.01 * span) | (hi - w < 0.01 * span)).astype(np.uint8))
            pg = tg.create_group(f"params_{side}")
            for row in PARAM_ROWS:
                pg.create_dataset(row, data=params[row], compression="gzip")


def _positions(m):
    for a, row in enumerate(m.tiles):
        for b, tile in enumerate(row):
            yield (m.row_edges[a], m.row_edges[a + 1]), (m.col_edges[b], m.col_edges[b + 1]), tile


def open_trace(path):
    """Open a trace for reading; a missing, truncated or foreign file raises TraceError."""
    import h5py
    if not os.path.exists(path):
        raise TraceError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise TraceError(f"{path}: not a readable HDF5 file ({exc}); a run killed mid-write leaves "
                         f"{path}.tmp, never a partial {os.path.basename(path)}") from None
    if f.attrs.get("format") != FORMAT:
        f.close()
        raise TraceError(f"{path}: an HDF5 file but not an hwsim trace (attribute format = {FORMAT!r} missing)")
    for group in ("config", "versions", "metrics", "layers", "cost"):
        if group not in f:
            f.close()
            raise TraceError(f"{path}: hwsim trace without /{group}")
    return f


def summary(path) -> dict:
    with open_trace(path) as f:
        met = f["metrics"]
        tiles = sum(len(f["layers"][m]["tiles"]) for m in f["layers"])
        acc = met["test_accuracy"][()]
        return {"path": path, "format_version": int(f.attrs["format_version"]), "seed": int(f.attrs["seed"]),
                "rule": f["config"].attrs.get("rule.name", ""), "device": f["config"].attrs.get("device.preset", ""),
                "epochs": int(len(met["epoch"])), "final_test_accuracy": float(acc[-1]) if len(acc) else None,
                "diverged": bool(met.attrs["diverged"]), "matrices": list(f["layers"]), "tiles": tiles,
                "pulses": int(met["pulses_potentiation"][()].sum() + met["pulses_depression"][()].sum()),
                "energy_J": float(f["cost"]["total"].attrs["energy_J"]),
                "write_energy_J": float(f["cost"]["total"].attrs["write_energy_J"]),
                "versions": dict(f["versions"].attrs)}
