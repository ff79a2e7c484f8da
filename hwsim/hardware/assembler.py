"""The network assembler: describe layers as data, then map every logical matrix onto fixed-size tiles.

A layer is a ``LayerSpec`` (sizes, activation, bias, factorisation):

- ``dense``: W (out × in, plus a bias column) on one logical array.
- ``svd``: W = U·diag(s)·Vᵀ with rank r; Vᵀ (r × in) and U (out × r) on their own arrays, s and the bias
  digital.
  s stays digital: r multiplications per input vector cost nothing next to the arrays, a diagonal on an
  array would waste r² − r devices, and s, the factor the rules rescale most, keeps full precision.
- ``eigen``: W = Q·diag(λ)·Pᵀ in orthonormal eigenbases (ENN); λ and the bias digital, Q and P on arrays
  (P read transposed). With
  ``shared_basis`` the basis of a width-n space is one n × n array shared by the layer that writes that space
  (as Q) and the one that reads it (as P, by a transpose read); otherwise each layer has its own.

A logical matrix larger than a tile is split over a grid of ``tile_rows × tile_cols`` tiles; partial sums
of a row of tiles are accumulated digitally, so results do not depend on the split on an ideal device.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.devices import DeviceModel
from hwsim.devices.rng import check_random_state

from hwsim.hardware.periphery import Periphery
from hwsim.hardware.tile import Tile

ACTIVATIONS = ("relu", "sigmoid", "tanh", "linear")
FACTORIZATIONS = ("dense", "svd", "eigen")


@dataclass(frozen=True)
class LayerSpec:
    """One fully connected layer: out = f(W·in + b)."""

    in_features: int
    out_features: int
    activation: str = "relu"
    bias: bool = True
    factorization: str = "dense"
    rank: int | None = None          # svd/eigen: default min(in, out)

    def __post_init__(self):
        for name in ("in_features", "out_features"):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {val!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.factorization not in FACTORIZATIONS:
            raise ValueError(f"factorization must be one of {FACTORIZATIONS}, got {self.factorization!r}")
        if self.rank is not None:
            top = min(self.in_features, self.out_features)
            if isinstance(self.rank, bool) or not isinstance(self.rank, (int, np.integer)) or not 1 <= self.rank <= top:
                raise ValueError(f"rank must be an integer in [1, {top}] (min of the layer's sizes), got {self.rank!r}")
            if self.factorization == "dense":
                raise ValueError("rank is only for factorization 'svd' or 'eigen'")

    @property
    def r(self) -> int:
        return self.rank or min(self.in_features, self.out_features)

    @property
    def dense_params(self) -> int:
        return self.out_features * (self.in_features + self.bias)

    @property
    def params(self) -> int:
        """Trainable parameters of this layer's form (shared bases counted in full by each user)."""
        if self.factorization == "dense":
            return self.dense_params
        return self.r * (self.in_features + self.out_features + 1) + self.out_features * int(self.bias)


def mlp(sizes, activation="relu", factorization="dense", rank=None, bias=True) -> list[LayerSpec]:
    """Layers of a multilayer perceptron ``sizes = [in, hidden…, out]``; the output layer is linear
    (logits for softmax cross-entropy)."""
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least input and output, got {sizes}")
    n = len(sizes) - 1
    return [LayerSpec(sizes[i], sizes[i + 1], activation if i < n - 1 else "linear", bias, factorization,
                      None if factorization == "dense" else (min(rank, sizes[i], sizes[i + 1]) if rank else None))
            for i in range(n)]


class TiledMatrix:
    """A logical matrix (rows × cols) on a grid of physical tiles, read and updated as one.

    Inputs are split by tile columns, outputs of a row of tiles summed digitally (forward); the transpose
    read splits by tile rows. Each tile has its own random streams (``tile_id``)."""

    def __init__(self, name: str, rows: int, cols: int, device: DeviceModel, periphery: Periphery,
                 tile_rows: int, tile_cols: int, random_state, first_tile_id: int = 0, pair: str = "plus"):
        for key, val in (("tile_rows", tile_rows), ("tile_cols", tile_cols)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
                raise ValueError(f"{key} must be an integer >= 1, got {val!r}")
        rng = check_random_state(random_state)
        self.name, self.rows, self.cols = name, rows, cols
        self.row_edges = list(range(0, rows, tile_rows)) + [rows]
        self.col_edges = list(range(0, cols, tile_cols)) + [cols]
        self.tile_rows, self.tile_cols = tile_rows, tile_cols
        #: digital gain: the logical matrix is scale × the device weights (set with ``set_weights(fill=…)``)
        self.scale = 1.0
        self.tiles = []
        tid = first_tile_id
        for r0, r1 in zip(self.row_edges[:-1], self.row_edges[1:]):
            row = []
            for c0, c1 in zip(self.col_edges[:-1], self.col_edges[1:]):
                row.append(Tile(r1 - r0, c1 - c0, device, periphery, rng, tile_id=tid, pair=pair))
                tid += 1
            self.tiles.append(row)

    @property
    def n_tiles(self) -> int:
        return sum(len(r) for r in self.tiles)

    def all_tiles(self):
        return [t for row in self.tiles for t in row]

    def _blocks(self):
        for a, row in enumerate(self.tiles):
            for b, tile in enumerate(row):
                yield (slice(self.row_edges[a], self.row_edges[a + 1]),
                       slice(self.col_edges[b], self.col_edges[b + 1]), tile)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros((x.shape[0], self.rows), np.float32)
        for rs, cs, tile in self._blocks():
            out[:, rs] += tile.forward(x[:, cs])
        return out * self.scale if self.scale != 1.0 else out

    def backward(self, d: np.ndarray) -> np.ndarray:
        out = np.zeros((d.shape[0], self.cols), np.float32)
        for rs, cs, tile in self._blocks():
            out[:, cs] += tile.backward(d[:, rs])
        return out * self.scale if self.scale != 1.0 else out

    def update(self, x, d, lr: float, bl: int = 31) -> int:
        """Stochastic pulsed update of the logical matrix, ΔW ≈ −lr·dᵀx; returns pulses fired."""
        lr = lr / self.scale
        return sum(tile.update(x[:, cs], d[:, rs], lr, bl)["pulses"] for rs, cs, tile in self._blocks())

    def update_delta(self, delta_w, max_pulses: int = 31, rounding: str = "nearest") -> int:
        """Counted update of the logical matrix, ΔW/(scale·dw) pulses per cell (``Tile.update_delta``)."""
        delta_w = np.asarray(delta_w) / self.scale
        return sum(tile.update_delta(delta_w[rs, cs], max_pulses, rounding) for rs, cs, tile in self._blocks())

    def get_weights(self) -> np.ndarray:
        """The logical matrix: scale × the device weights."""
        W = np.empty((self.rows, self.cols))
        for rs, cs, tile in self._blocks():
            W[rs, cs] = tile.get_weights()
        return W * self.scale

    def set_weights(self, W, clip: bool = False, fill: float | None = None) -> None:
        """Write the logical matrix W ideally. With ``fill`` the digital gain is first chosen so that
        max|W| lands at ``fill`` of the nominal device range on the pair (aihwkit's weight scaling); without,
        the present gain is kept."""
        W = np.asarray(W, float)
        if W.shape != (self.rows, self.cols):
            raise ValueError(f"{self.name}: W has shape {W.shape}, expected {(self.rows, self.cols)}")
        if fill is not None:
            if not 0 < fill <= 1:
                raise ValueError(f"fill must be in (0, 1], got {fill}")
            t = self.tiles[0][0]
            dev = t.device
            ref = 0.0 if dev.w_min < 0 else 0.5 * (dev.w_min + dev.w_max)     # the "plus" reference
            if t.pair == "plus":
                reach = min(dev.w_max - ref, ref - dev.w_min)
            elif t.pair == "both":
                reach = dev.w_max - dev.w_min
            else:
                reach = dev.w_max - dev.w_min
            if not reach > 0:
                raise ValueError(f"{self.name}: the device range leaves no room for weights in pair mode {t.pair!r}")
            top = np.abs(W).max()
            self.scale = top / (fill * reach) if top > 0 else 1.0
        for rs, cs, tile in self._blocks():
            tile.set_weights(W[rs, cs] / self.scale, clip)


def map_report(layers: list[LayerSpec], tile_rows: int, tile_cols: int, shared_basis: bool = False) -> list[dict]:
    """Per logical matrix: tiles, devices, utilization; per layer: parameters versus the dense form.
    Computed from the specs alone (no devices sampled)."""
    rows = []
    seen = set()
    for i, spec in enumerate(layers):
        for name, (r, c) in logical_matrices(spec, i, shared_basis).items():
            if name in seen:
                continue
            seen.add(name)
            n_tiles = -(-r // tile_rows) * -(-c // tile_cols)
            rows.append({"layer": i, "matrix": name, "shape": (r, c), "tiles": n_tiles, "devices": 2 * r * c,
                         "utilization": r * c / (n_tiles * tile_rows * tile_cols),
                         "params": spec.params, "dense_params": spec.dense_params})
    return rows


def logical_matrices(spec: LayerSpec, index: int, shared_basis: bool = False) -> dict:
    """Names and shapes of the analog matrices of layer ``index`` (bias as an extra input column)."""
    if spec.factorization == "dense":
        return {f"W{index}": (spec.out_features, spec.in_features + int(spec.bias))}
    r = spec.r
    if spec.factorization == "svd":
        return {f"V{index}": (r, spec.in_features), f"U{index}": (spec.out_features, r)}
    if shared_basis:    # E_n: n × n basis of a width-n space; P = E_in[:, :r], Q = E_out[:, :r]
        return {f"E{spec.in_features}": (spec.in_features, spec.in_features),
                f"E{spec.out_features}": (spec.out_features, spec.out_features)}
    return {f"P{index}": (spec.in_features, r), f"Q{index}": (spec.out_features, r)}
