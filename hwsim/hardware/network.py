"""A network of analog layers built from ``LayerSpec``s by the assembler's plan: forward through the tiles,
the layers the rules ask for learning signals (``learning_rules.interface``), and its full state.

Random streams: one seed (``random_state``) is the root of the network's seed tree; tile k takes the child
("tile", k), the initial weights the child ("weights"). ``state()`` / ``from_state()`` round-trip everything:
every tile's devices, sampled parameters, counters and stream keys, the digital gains, the layers' digital
parameters (s, λ, biases) and buffers (γ, chopper signs, transfer buffers …) and the input stages (μ; R is a
matrix).
"""
from __future__ import annotations

import numpy as np

from hwsim.devices import DeviceModel
from hwsim.devices.rng import as_seed_sequence, check_random_state, child
from hwsim.devices.validation import Options, Real, check
from hwsim.hardware.assembler import check_size, plan
from hwsim.hardware.layers import FORMS, Center, Decorrelation, LayerSpec
from hwsim.hardware.matrix import TiledMatrix
from hwsim.hardware.periphery import Periphery
from hwsim.learning_rules.pulses import PAIR_MODES


class Network:
    """Layers on tiles.

    Args:
        layers: the layer specs (sizes must chain).
        device, periphery: the device model of every cell and the periphery of every tile.
        tile_rows, tile_cols: the physical array size.
        random_state: root of the seed tree (None, int, SeedSequence or Generator).
        pair: pair mode of every tile ("plus", "unidirectional", "both").
        shared_basis: eigen layers share one basis array per width.
        center: every layer centres its input (digital running mean μ).
        decorrelate: every layer decorrelates its (centred) input with an analog R (starts at I).
        weight_fill: each analog matrix gets a digital gain so that its largest initial weight uses this fraction
            of the device range (None: gain 1, weights written as they are).
    """

    def __init__(self, layers: list[LayerSpec], device: DeviceModel, periphery: Periphery | None = None,
                 tile_rows: int = 256, tile_cols: int = 256, random_state=None, pair: str = "plus",
                 shared_basis: bool = False, center: bool = False, decorrelate: bool = False,
                 weight_fill: float | None = None, *, _state: dict | None = None):
        if not layers:
            raise ValueError("layers must not be empty")
        for a, b in zip(layers[:-1], layers[1:]):
            if a.out_features != b.in_features:
                raise ValueError(f"layer sizes do not chain: {a.out_features} outputs feed {b.in_features} inputs")
        check("pair", pair, Options(tuple(PAIR_MODES)))
        if weight_fill is not None:
            check("weight_fill", weight_fill, Real(1e-6, 1.0))   # 1e-300 made the loss NaN
        check_size(layers, tile_rows, tile_cols, shared_basis, decorrelate)      # before allocating anything
        periphery = periphery or Periphery()
        self.specs, self.device, self.periphery = list(layers), device, periphery
        self.tile_rows, self.tile_cols, self.pair = tile_rows, tile_cols, pair
        self.shared_basis, self.center, self.decorrelate, self.weight_fill = \
            shared_basis, center, decorrelate, weight_fill
        seq = as_seed_sequence(random_state)
        self._macs = 0 if _state is None else int(_state.get("digital_macs", 0))
        #: training steps so far (the trainer advances it after every batch; pulse events are stamped with it)
        self.step = 0 if _state is None else int(_state.get("step", 0))
        self.plan = plan(self.specs, tile_rows, tile_cols, shared_basis, decorrelate)
        self.matrices: dict[str, TiledMatrix] = {}
        for mp in self.plan:
            if _state is None:
                m = TiledMatrix(mp.name, mp.rows, mp.cols, device, periphery, tile_rows, tile_cols, seq,
                                mp.first_tile_id, pair)
            else:
                m = TiledMatrix.from_state(_state["matrices"][mp.name], mp.name, mp.rows, mp.cols, device,
                                           periphery, tile_rows, tile_cols, mp.first_tile_id, pair)
            self.matrices[mp.name] = m
        self.layers = []
        for i, spec in enumerate(self.specs):
            form = FORMS[spec.factorization]
            mats = {role: self.matrices[name] for name, role, _ in form.logical_matrices(spec, i, shared_basis)}
            stages = []
            if center:
                stages.append(Center(spec.in_features))
            if decorrelate:
                stages.append(Decorrelation(self.matrices[f"R{i}"]))
            self.layers.append(form(spec, i, mats, stages, shared_basis))
        if _state is not None:
            self._restore_layers(_state)
            return
        init = check_random_state(child(seq, "weights"))
        written: set = set()
        for layer in self.layers:
            spec = layer.spec
            bound = np.sqrt(6.0 / (spec.in_features + spec.out_features))        # Glorot-uniform
            layer.initialise(init.uniform(-bound, bound, (spec.out_features, spec.in_features)), weight_fill,
                             written)
        for stage in self.stages("decorrelation"):
            stage.matrix.set_weights(np.eye(stage.matrix.rows), clip=True, fill=weight_fill)

    # ---- running -------------------------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits (batch, classes) through every tile."""
        h = np.asarray(x, np.float32)
        for layer in self.layers:
            h = layer.forward(h)
        return h

    def predict(self, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        return np.concatenate([self.forward(x[i:i + batch_size]).argmax(axis=1)
                               for i in range(0, len(x), batch_size)])

    # ---- what rules and reports see -------------------------------------------------------------------------
    def analog_matrices(self) -> list[TiledMatrix]:
        """Every analog matrix once, in plan order."""
        return list(self.matrices.values())

    def stages(self, kind: str) -> list:
        """The input stages of ``kind`` ("center", "decorrelation") of every layer, in layer order."""
        return [s for layer in self.layers for s in layer.stages if s.kind == kind]

    def all_tiles(self):
        return [t for m in self.matrices.values() for t in m.all_tiles()]

    def count_digital(self, macs: int) -> None:
        """Record digital multiply-accumulates done outside the arrays (rules report theirs here)."""
        self._macs += int(macs)

    @property
    def digital_macs(self) -> int:
        """Digital operations so far: the rules' and those of the layers and their centring stages."""
        return self._macs + sum(layer.macs + sum(getattr(s, "macs", 0) for s in layer.stages)
                                for layer in self.layers)

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
        """Parameters of the layers' forms plus the weights of the decorrelation matrices."""
        return sum(spec.params for spec in self.specs) + sum(s.matrix.rows * s.matrix.cols
                                                             for s in self.stages("decorrelation"))

    def effective_layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per layer the float (W, b) that maps the layer's raw input x to its pre-activation, input stages
        folded in: a = W·(R·(x − μ)) + b = (W·R)·x + (b − W·R·μ). From the exact device states."""
        out = []
        for layer in self.layers:
            W, b = layer.effective_weight(), layer.effective_bias().astype(np.float64)
            for stage in reversed(layer.stages):
                W, b = stage.fold(W, b)
            out.append((W, b))
        return out

    # ---- state -----------------------------------------------------------------------------------------------
    def state(self) -> dict:
        """The network's full state as nested dicts of arrays and scalars (``from_state`` rebuilds it)."""
        return {"build": {"layers": [s.to_dict() for s in self.specs], "tile_rows": self.tile_rows,
                          "tile_cols": self.tile_cols, "pair": self.pair, "shared_basis": self.shared_basis,
                          "center": self.center, "decorrelate": self.decorrelate,
                          "weight_fill": self.weight_fill},
                "digital_macs": self.digital_macs, "step": self.step,
                "matrices": {name: m.state() for name, m in self.matrices.items()},
                "layers": [{"digital": {k: np.array(v, dtype=np.float64) for k, v in layer.digital.items()},
                            "buffers": {k: np.array(v) for k, v in layer.buffers.items()},
                            "stages": [s.state() for s in layer.stages]} for layer in self.layers]}

    @classmethod
    def from_state(cls, state: dict, device: DeviceModel, periphery: Periphery | None = None) -> "Network":
        """The network saved by ``state()``, on the same device model and periphery."""
        b = state["build"]
        return cls([LayerSpec(**d) for d in b["layers"]], device, periphery, b["tile_rows"], b["tile_cols"],
                   pair=b["pair"], shared_basis=b["shared_basis"], center=b["center"],
                   decorrelate=b["decorrelate"], weight_fill=b["weight_fill"], _state=state)

    def _restore_layers(self, state):
        for layer, ls in zip(self.layers, state.get("layers", [{}] * len(self.layers))):
            layer.digital = {k: np.array(v, dtype=np.float64) for k, v in ls.get("digital", {}).items()}
            for k, v in ls.get("buffers", {}).items():        # the form's defaults stay for absent buffers
                layer.buffers[k] = np.array(v)
            stages = ls.get("stages", [])
            if [s["kind"] for s in stages] != [s.kind for s in layer.stages]:
                raise ValueError(f"layer {layer.index}: the state's input stages "
                                 f"{[s['kind'] for s in stages]} do not match the network's "
                                 f"{[s.kind for s in layer.stages]}")
            for stage, ss in zip(layer.stages, stages):
                stage.restore(ss)
