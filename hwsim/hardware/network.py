"""A network of analog layers built from ``LayerSpec``s: forward through the tiles, per-layer learning
signals for the rules, float views for references.

Every layer computes a = W·x̃ + b, h = f(a), with x̃ = R·x when the layer has a decorrelation matrix R
(on its own tiles) and W in the layer's factorised form (``hwsim.hardware.assembler``). Rules (``learning_rules``)
never touch tiles: they ask a layer for its ``signals`` and hand them back to ``apply``.
"""
from __future__ import annotations

import numpy as np

from hwsim.devices import DeviceModel
from hwsim.devices.rng import check_random_state

from hwsim.hardware.assembler import LayerSpec, TiledMatrix, logical_matrices
from hwsim.hardware.periphery import Periphery


def activate(a, kind):
    if kind == "relu":
        return np.maximum(a, 0)
    if kind == "sigmoid":
        return 1.0 / (1.0 + np.exp(-np.clip(a, -60, 60)))
    if kind == "tanh":
        return np.tanh(a)
    return a


def activation_grad(a, h, kind):
    """f'(a), using h = f(a)."""
    if kind == "relu":
        return (a > 0).astype(a.dtype)
    if kind == "sigmoid":
        return h * (1 - h)
    if kind == "tanh":
        return 1 - h * h
    return np.ones_like(a)


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Signal:
    """An outer-product update request: ΔM = −lr·Σ_b d_b·x_bᵀ on matrix ``name`` (d: rows side, x: cols side)."""

    __slots__ = ("name", "x", "d")

    def __init__(self, name, x, d):
        self.name, self.x, self.d = name, x, d

    def delta(self, lr):
        return -lr * (self.d.T.astype(np.float64) @ self.x.astype(np.float64))


class Layer:
    """One layer: its analog matrices (``TiledMatrix``, possibly shared), digital parameters and cache."""

    def __init__(self, spec: LayerSpec, index: int, matrices: dict, digital: dict, decor: TiledMatrix | None,
                 shared_basis: bool):
        self.spec, self.index = spec, index
        self.matrices = matrices          # role → TiledMatrix: "W" | "U","V" | "Q","P" (+ "R")
        self.digital = digital            # "b", "s" (svd) or "lam" (eigen)
        if decor is not None:
            self.matrices["R"] = decor
        self.shared_basis = shared_basis
        self.cache = {}

    @property
    def kind(self):
        return self.spec.factorization

    # ---- forward ---------------------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """h = f(W·x̃ + b); caches what the rules need."""
        c = self.cache = {"x": x}
        if "R" in self.matrices:
            mu = self.digital.get("mu")
            x = self.matrices["R"].forward(x - mu if mu is not None else x)
            c["xt"] = x
        m, r = self.matrices, self.spec.r
        if self.kind == "dense":
            xb = np.concatenate([x, np.ones((x.shape[0], 1), x.dtype)], axis=1) if self.spec.bias else x
            c["xb"] = xb
            a = m["W"].forward(xb)
        else:
            if self.kind == "svd":
                z = m["V"].forward(x)
            else:                                     # Pᵀx by a transpose read
                z = m["P"].backward(x)[:, :r]
            scale = self.digital["s" if self.kind == "svd" else "lam"]
            zs = (z * scale).astype(np.float32)
            c["z"], c["zs"] = z, zs
            a = m["U"].forward(zs) if self.kind == "svd" else m["Q"].forward(self._pad(zs, m["Q"].cols))
            if self.spec.bias:
                a = a + self.digital["b"]
        h = activate(a, self.spec.activation)
        c["a"], c["h"] = a, h
        return h

    @staticmethod
    def _pad(v, width):
        if v.shape[1] == width:
            return v
        out = np.zeros((v.shape[0], width), v.dtype)
        out[:, :v.shape[1]] = v
        return out

    def dact(self):
        return activation_grad(self.cache["a"], self.cache["h"], self.spec.activation)

    # ---- learning signals --------------------------------------------------------------------------------
    def signals(self, delta: np.ndarray, input_grad: bool = True):
        """For an error ``delta`` = ∂L/∂a (batch, out): the outer-product updates of this layer's matrices,
        the gradients of its digital parameters, and (if ``input_grad``) ∂L/∂x by transpose reads."""
        c, m, r = self.cache, self.matrices, self.spec.r
        delta = delta.astype(np.float32)
        sig, dig = [], {}
        if self.spec.bias and self.kind != "dense":
            dig["b"] = delta.sum(axis=0)
        if self.kind == "dense":
            sig.append(Signal("W", c["xb"], delta))
            gx = m["W"].backward(delta)[:, :self.spec.in_features] if input_grad else None
        else:
            key = "s" if self.kind == "svd" else "lam"
            if self.kind == "svd":
                g_zs = m["U"].backward(delta)
                sig.append(Signal("U", c["zs"], delta))
            else:
                g_zs = m["Q"].backward(delta)[:, :r]
                sig.append(Signal("Q", self._pad(c["zs"], m["Q"].cols), delta))
            dig[key] = (g_zs * c["z"]).sum(axis=0)
            g_z = (g_zs * self.digital[key]).astype(np.float32)
            xt = c.get("xt", c["x"])
            if self.kind == "svd":
                sig.append(Signal("V", xt, g_z))
                gx = m["V"].backward(g_z) if input_grad else None
            else:                                     # P is (in × r): ΔP = −lr·x ⊗ g_z
                sig.append(Signal("P", self._pad(g_z, m["P"].cols), xt.astype(np.float32)))
                gx = m["P"].forward(self._pad(g_z, m["P"].cols)) if input_grad else None
        if input_grad and "R" in m:
            gx = m["R"].backward(gx)
        return sig, dig, gx

    def apply(self, signals, digital_grads, lr: float, bl: int = 31) -> int:
        """Pulse the outer-product updates into the tiles, SGD on digital parameters; returns pulses."""
        pulses = 0
        for s in signals:
            pulses += self.matrices[s.name].update(s.x, s.d, lr, bl)
        for key, g in digital_grads.items():       # SGD in the digital periphery
            self.digital[key] -= lr * g
        return pulses

    def effective_weight(self) -> np.ndarray:
        """The float W (out × in) this layer currently computes (bias excluded, R excluded)."""
        m, r = self.matrices, self.spec.r
        if self.kind == "dense":
            return m["W"].get_weights()[:, :self.spec.in_features]
        if self.kind == "svd":
            return m["U"].get_weights() @ np.diag(self.digital["s"]) @ m["V"].get_weights()
        return m["Q"].get_weights()[:, :r] @ np.diag(self.digital["lam"]) @ m["P"].get_weights()[:, :r].T


class Network:
    """Layers on tiles. ``decorrelate`` gives every layer an input-decorrelation matrix R (starts at I).
    ``weight_fill``: each analog matrix gets a digital gain so that its largest initial weight uses this
    fraction of the device range (None: gain 1, weights written as they are)."""

    def __init__(self, layers: list[LayerSpec], device: DeviceModel, periphery: Periphery | None = None,
                 tile_rows: int = 256, tile_cols: int = 256, random_state=None, pair: str = "plus",
                 shared_basis: bool = False, decorrelate: bool = False, weight_fill: float | None = None):
        if not layers:
            raise ValueError("layers must not be empty")
        for a, b in zip(layers[:-1], layers[1:]):
            if a.out_features != b.in_features:
                raise ValueError(f"layer sizes do not chain: {a.out_features} outputs feed {b.in_features} inputs")
        rng = check_random_state(random_state)
        periphery = periphery or Periphery()
        self.specs, self.device, self.periphery = list(layers), device, periphery
        self.tile_rows, self.tile_cols, self.pair = tile_rows, tile_cols, pair
        self.shared_basis, self.decorrelate, self.weight_fill = shared_basis, decorrelate, weight_fill
        self.matrices: dict[str, TiledMatrix] = {}
        self._next_tile = 0

        def matrix(name, shape):
            if name not in self.matrices:
                tm = TiledMatrix(name, *shape, device, periphery, tile_rows, tile_cols, rng, self._next_tile, pair)
                self._next_tile += tm.n_tiles
                self.matrices[name] = tm
            return self.matrices[name]

        init_rng = np.random.default_rng(rng.integers(2 ** 63))
        self.layers = []
        bases = {}
        for i, spec in enumerate(layers):
            names = logical_matrices(spec, i, shared_basis)
            mats = {}
            for name, shape in names.items():
                role = name[0] if not shared_basis or spec.factorization != "eigen" else None
                mats[role or name] = matrix(name, shape)
            if spec.factorization == "eigen" and shared_basis:
                mats = {"P": self.matrices[f"E{spec.in_features}"], "Q": self.matrices[f"E{spec.out_features}"]}
            decor = matrix(f"R{i}", (spec.in_features, spec.in_features)) if decorrelate else None
            digital = {"b": np.zeros(spec.out_features)} if spec.bias and spec.factorization != "dense" else {}
            layer = Layer(spec, i, mats, digital, decor, shared_basis)
            self._initialise(layer, init_rng, bases)
            self.layers.append(layer)
        if decorrelate:
            for layer in self.layers:
                layer.matrices["R"].set_weights(np.eye(layer.spec.in_features), clip=True, fill=weight_fill)

    def _initialise(self, layer: Layer, rng, bases):
        """Glorot-uniform W (factorised layers: its SVD), written ideally; each pair is written as far as its
        range allows (a device whose sampled bound is below the target holds its bound)."""
        spec = layer.spec
        fan_in, fan_out = spec.in_features, spec.out_features
        bound = np.sqrt(6.0 / (fan_in + fan_out))               # Glorot-uniform
        W = rng.uniform(-bound, bound, (fan_out, fan_in))
        m = layer.matrices
        if spec.factorization == "dense":
            full = np.zeros((fan_out, m["W"].cols))
            full[:, :fan_in] = W
            m["W"].set_weights(full, clip=True, fill=self.weight_fill)
            return
        # factorised forms start from the SVD of the same initial W (as ENN's code does)
        U, s, Vt = np.linalg.svd(W, full_matrices=True)
        r = spec.r
        if spec.factorization == "svd":
            m["U"].set_weights(U[:, :r], clip=True, fill=self.weight_fill)
            m["V"].set_weights(Vt[:r], clip=True, fill=self.weight_fill)
            layer.digital["s"] = s[:r].copy()
            return
        layer.digital["lam"] = s[:r].copy()
        if layer.shared_basis:
            # a width-n basis is written once: by the first layer that uses it
            for key, n, basis in (("Q", fan_out, U), ("P", fan_in, Vt.T)):
                if n not in bases:
                    bases[n] = basis
                    m[key].set_weights(basis, clip=True, fill=self.weight_fill)
        else:
            m["Q"].set_weights(U[:, :r], clip=True, fill=self.weight_fill)
            m["P"].set_weights(Vt[:r].T, clip=True, fill=self.weight_fill)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits (batch, classes) through every tile."""
        h = np.asarray(x, np.float32)
        for layer in self.layers:
            h = layer.forward(h)
        return h

    def predict(self, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        return np.concatenate([self.forward(x[i:i + batch_size]).argmax(axis=1)
                               for i in range(0, len(x), batch_size)])

    def all_tiles(self):
        return [t for m in self.matrices.values() for t in m.all_tiles()]

    def pulse_totals(self) -> tuple[int, int]:
        """(potentiation, depression) pulses delivered so far, all devices."""
        pot = dep = 0
        for t in self.all_tiles():
            c = t.pulse_counts.reshape(4, -1).sum(axis=1)
            pot += int(c[0] + c[2])
            dep += int(c[1] + c[3])
        return pot, dep

    def saturated_fraction(self, margin: float = 0.01) -> float:
        """Fraction of devices within ``margin`` of their range (of either bound)."""
        n = sat = 0
        for t in self.all_tiles():
            for w, p in ((t.w_plus, t.params_plus), (t.w_minus, t.params_minus)):
                lo, hi = p["w_min"], p["w_max"]
                span = np.maximum(hi - lo, 1e-12)
                sat += int(np.sum((w - lo < margin * span) | (hi - w < margin * span)))
                n += w.size
        return sat / max(n, 1)

    def trainable_parameters(self) -> int:
        return sum(spec.params for spec in self.specs)
