"""The assembler: from layer specs to the analog matrices a network needs and the tiles they occupy.

``plan`` is the one place that decides which logical matrices exist (each layer form names its own,
``hwsim.hardware.layers``; decorrelating networks add one R per layer), in which order, and which network-wide
tile ids they take — a logical matrix larger than a tile is split over a grid of ``tile_rows × tile_cols``
tiles whose partial sums are accumulated digitally. ``Network`` builds from the plan; ``map_report``
summarises it without sampling a single device (``hwsim map``).
"""
from __future__ import annotations

from dataclasses import dataclass

from hwsim.devices.validation import Integer, check, check_memory
from hwsim.hardware.layers import FORMS, LayerSpec


@dataclass(frozen=True)
class MatrixPlan:
    """One logical matrix: its name, the layer and role that first use it, its shape and its tiles."""

    name: str
    layer: int
    role: str                 # "W", "U", "V", "Q", "P" or "R"
    rows: int
    cols: int
    tile_rows: int
    tile_cols: int
    first_tile_id: int

    @property
    def n_tiles(self) -> int:
        return -(-self.rows // self.tile_rows) * -(-self.cols // self.tile_cols)


def plan(specs: list[LayerSpec], tile_rows: int, tile_cols: int, shared_basis: bool = False,
         decorrelate: bool = False) -> list[MatrixPlan]:
    """Every analog matrix of the network once, in build order (per layer: its R, then its form's matrices),
    with consecutive tile ids."""
    check("tile_rows", tile_rows, Integer(1, 1 << 20))
    check("tile_cols", tile_cols, Integer(1, 1 << 20))
    out, seen, next_id = [], set(), 0
    for i, spec in enumerate(specs):
        mats = [(f"R{i}", "R", (spec.in_features, spec.in_features))] if decorrelate else []
        mats += FORMS[spec.factorization].logical_matrices(spec, i, shared_basis)
        for name, role, (r, c) in mats:
            if name in seen:
                continue
            seen.add(name)
            mp = MatrixPlan(name, i, role, r, c, tile_rows, tile_cols, next_id)
            next_id += mp.n_tiles
            out.append(mp)
    return out


def map_report(specs: list[LayerSpec], tile_rows: int, tile_cols: int, shared_basis: bool = False,
               decorrelate: bool = False) -> list[dict]:
    """Per logical matrix: tiles, devices, utilisation, the weights it holds; per layer: trainable parameters
    of the layer's form versus the dense form (R counted with the layer that uses it)."""
    rows = []
    for mp in plan(specs, tile_rows, tile_cols, shared_basis, decorrelate):
        spec = specs[mp.layer]
        rows.append({"layer": mp.layer, "matrix": mp.name, "role": mp.role, "shape": (mp.rows, mp.cols),
                     "tiles": mp.n_tiles, "devices": 2 * mp.rows * mp.cols, "weights": mp.rows * mp.cols,
                     "utilization": mp.rows * mp.cols / (mp.n_tiles * tile_rows * tile_cols),
                     "params": spec.params if mp.role != "R" else mp.rows * mp.cols,
                     "dense_params": spec.dense_params if mp.role != "R" else 0})
    return rows


#: memory per device and per tile, measured on built networks (states, sampled parameters, counters, the
#: tile objects) with a margin for training buffers
BYTES_PER_DEVICE, BYTES_PER_TILE = 160, 4096


def check_size(specs: list[LayerSpec], tile_rows: int, tile_cols: int, shared_basis: bool = False,
               decorrelate: bool = False, batch_size: int = 0) -> None:
    """Refuse a network whose estimated memory — devices, tiles and a batch's activations — exceeds the limit
    (``hwsim.devices.validation.MEMORY_LIMIT``), before anything is allocated."""
    plans = plan(specs, tile_rows, tile_cols, shared_basis, decorrelate)
    devices = sum(2 * mp.rows * mp.cols for mp in plans)
    tiles = sum(mp.n_tiles for mp in plans)
    widths = sum(s.in_features + s.out_features for s in specs)
    need = devices * BYTES_PER_DEVICE + tiles * BYTES_PER_TILE + 4 * 8 * batch_size * widths
    sizes = "-".join(str(s.in_features) for s in specs) + f"-{specs[-1].out_features}"
    check_memory("network", need, f"{sizes} ({devices:.3g} devices on {tiles:.3g} tiles"
                 + (f", batches of {batch_size}" if batch_size else "") + ")")
