"""A logical matrix on a grid of physical tiles: the hardware side of ``learning_rules.interface.AnalogMatrix``.

Inputs are split by tile columns and the outputs of a row of tiles summed digitally (forward); the transposed
read splits by tile rows. A digital gain ``scale`` (aihwkit's weight scaling) makes the logical matrix
scale × the device weights, so a matrix with small entries can still use the devices' range.
"""
from __future__ import annotations

import numpy as np

from hwsim.devices import DeviceModel
from hwsim.devices.rng import as_seed_sequence, child
from hwsim.devices.validation import Integer, Real, check
from hwsim.hardware.periphery import Periphery
from hwsim.hardware.tile import DEFAULT_UPDATE, Tile
from hwsim.learning_rules.interface import UpdateParameters


class TiledMatrix:
    """A logical matrix (rows × cols) on tiles of at most ``tile_rows × tile_cols``, read and updated as one.

    Args:
        name: the matrix's name in the network (``W0``, ``U1``, ``R0`` …).
        random_state: seed of the matrix; tile k gets the seed tree's child ("tile", first_tile_id + k).
        first_tile_id: network-wide id of the first tile (ids run row-major over the grid).
        pair: pair mode of every tile (``Tile``).
    """

    def __init__(self, name: str, rows: int, cols: int, device: DeviceModel, periphery: Periphery,
                 tile_rows: int, tile_cols: int, random_state=None, first_tile_id: int = 0, pair: str = "plus",
                 *, _tiles: list | None = None):
        for key, val in (("rows", rows), ("cols", cols), ("tile_rows", tile_rows), ("tile_cols", tile_cols)):
            check(key, val, Integer(1))
        seq = as_seed_sequence(random_state)
        self.name, self.rows, self.cols = name, int(rows), int(cols)
        self.row_edges = list(range(0, rows, tile_rows)) + [rows]
        self.col_edges = list(range(0, cols, tile_cols)) + [cols]
        self.tile_rows, self.tile_cols = tile_rows, tile_cols
        #: digital gain: the logical matrix is scale × the device weights (set with ``set_weights(fill=…)``)
        self.scale = 1.0
        if _tiles is not None:
            self.tiles = _tiles
            return
        self.tiles = []
        tid = first_tile_id
        for r0, r1 in zip(self.row_edges[:-1], self.row_edges[1:]):
            row = []
            for c0, c1 in zip(self.col_edges[:-1], self.col_edges[1:]):
                row.append(Tile(r1 - r0, c1 - c0, device, periphery, child(seq, "tile", tid), tile_id=tid,
                                pair=pair))
                tid += 1
            self.tiles.append(row)

    @property
    def n_tiles(self) -> int:
        return sum(len(r) for r in self.tiles)

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.cols

    @property
    def granularity(self) -> float:
        """The logical weight change of one pulse (one coincidence) on the nominal device at w = 0:
        scale × the tiles' dw_pair (aihwkit's weight granularity)."""
        return self.scale * self.tiles[0][0].dw_pair

    def all_tiles(self) -> list[Tile]:
        return [t for row in self.tiles for t in row]

    def blocks(self):
        """(row slice, column slice, tile) of every tile."""
        for a, row in enumerate(self.tiles):
            for b, tile in enumerate(row):
                yield (slice(self.row_edges[a], self.row_edges[a + 1]),
                       slice(self.col_edges[b], self.col_edges[b + 1]), tile)

    # ---- reads -----------------------------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros((x.shape[0], self.rows), np.float32)
        for rs, cs, tile in self.blocks():
            out[:, rs] += tile.forward(x[:, cs])
        return out * self.scale if self.scale != 1.0 else out

    def backward(self, d: np.ndarray) -> np.ndarray:
        out = np.zeros((d.shape[0], self.cols), np.float32)
        for rs, cs, tile in self.blocks():
            out[:, cs] += tile.backward(d[:, rs])
        return out * self.scale if self.scale != 1.0 else out

    def read_back(self) -> np.ndarray:
        """The logical matrix as verify reads see it (``Tile.read_back`` on every tile, counted)."""
        W = np.empty((self.rows, self.cols))
        for rs, cs, tile in self.blocks():
            W[rs, cs] = tile.read_back()
        return W * self.scale

    def get_weights(self) -> np.ndarray:
        """The logical matrix from the exact device states (no read, no cost; for tests and traces)."""
        W = np.empty((self.rows, self.cols))
        for rs, cs, tile in self.blocks():
            W[rs, cs] = tile.get_weights()
        return W * self.scale

    # ---- updates ---------------------------------------------------------------------------------------------
    def pulsed_update(self, x, d, lr: float, params: UpdateParameters = DEFAULT_UPDATE) -> int:
        """Stochastic pulsed update of the logical matrix, ΔW ≈ −lr·dᵀx; returns pulses fired."""
        lr = lr / self.scale
        return sum(tile.update(x[:, cs], d[:, rs], lr, params)["pulses"] for rs, cs, tile in self.blocks())

    def counted_update(self, delta_w, params: UpdateParameters = DEFAULT_UPDATE) -> int:
        """Counted update of the logical matrix, ΔW/(scale·dw) pulses per cell (``Tile.update_delta``)."""
        delta_w = np.asarray(delta_w) / self.scale
        return sum(tile.update_delta(delta_w[rs, cs], params) for rs, cs, tile in self.blocks())

    def refresh(self, threshold: float, tolerance: float | None = None) -> dict:
        """``Tile.refresh`` on every tile (``tolerance`` in logical units); summed report."""
        out = {"refreshed": 0, "pulses": 0}
        for tile in self.all_tiles():
            res = tile.refresh(threshold, None if tolerance is None else tolerance / self.scale)
            out["refreshed"] += res["refreshed"]
            out["pulses"] += res["pulses"]
        return out

    def calibrate_symmetry_point(self, pairs_per_round: int | None = None, max_rounds: int = 50, reads: int = 8,
                                 set_reference: bool = True) -> dict:
        """``Tile.calibrate_symmetry_point`` on every tile: the reference (logical units, rows × cols), the
        pulses and device reads it took (summed), the largest number of rounds a tile took."""
        out = {"reference": np.empty((self.rows, self.cols)), "pulses": 0, "cell_reads": 0, "rounds": 0}
        for rs, cs, tile in self.blocks():
            res = tile.calibrate_symmetry_point(pairs_per_round, max_rounds, reads, set_reference)
            out["reference"][rs, cs] = res["reference"] * self.scale
            out["pulses"] += res["pulses"]
            out["cell_reads"] += res["cell_reads"]
            out["rounds"] = max(out["rounds"], res["rounds"])
        return out

    # ---- writing and state -------------------------------------------------------------------------------------
    def set_weights(self, W, clip: bool = False, fill: float | None = None) -> None:
        """Write the logical matrix W ideally (no pulses). With ``fill`` the digital gain is first chosen so that
        max|W| lands at ``fill`` of the reach of the nominal device's pair (``Tile.weight_reach``); without, the
        present gain is kept."""
        W = np.asarray(W, float)
        if W.shape != (self.rows, self.cols):
            raise ValueError(f"{self.name}: W has shape {W.shape}, expected {(self.rows, self.cols)}")
        if fill is not None:
            check("fill", fill, Real(0.0, 1.0, lo_open=True))
            reach = self.tiles[0][0].weight_reach()
            if not reach > 0:
                raise ValueError(f"{self.name}: the device range leaves no room for weights in pair mode "
                                 f"{self.tiles[0][0].pair!r}")
            top = np.abs(W).max()
            self.scale = top / (fill * reach) if top > 0 else 1.0
        for rs, cs, tile in self.blocks():
            tile.set_weights(W[rs, cs] / self.scale, clip)

    def state(self) -> dict:
        """{"scale": gain, "tiles": [tile states, row-major]} (``Tile.state``)."""
        return {"scale": self.scale, "tiles": [t.state() for t in self.all_tiles()]}

    @classmethod
    def from_state(cls, state: dict, name: str, rows: int, cols: int, device: DeviceModel, periphery: Periphery,
                   tile_rows: int, tile_cols: int, first_tile_id: int = 0, pair: str = "plus") -> "TiledMatrix":
        m = cls(name, rows, cols, device, periphery, tile_rows, tile_cols, first_tile_id=first_tile_id, pair=pair,
                _tiles=[])
        states = iter(state["tiles"])
        tid = first_tile_id
        for _ in m.row_edges[:-1]:
            row = []
            for _ in m.col_edges[:-1]:
                row.append(Tile.from_state(next(states), device, periphery, tile_id=tid, pair=pair))
                tid += 1
            m.tiles.append(row)
        m.scale = float(state["scale"])
        return m
