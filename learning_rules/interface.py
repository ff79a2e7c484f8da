"""The rule–hardware interface: what a learning rule may ask of the hardware, and how updates become pulses.

Rules (``hwsim.learning_rules``) never import the hardware (``hwsim.hardware``); they work through the
Protocols below, which the hardware implements (``TiledMatrix``, ``Layer``, ``Network``). In the other
direction the hardware drives the rules' per-tile kernels (``learning_rules.pulses``) with plain arrays.
docs/architecture.md draws both directions.

A rule may:
- read a matrix forward (y = M·x) or transposed (Mᵀ·d), through the periphery, as a network does;
- read a matrix back (``read_back``: the whole matrix as verify reads see it, counted in the cost);
- ask for a pulsed outer-product update ΔM ≈ −lr·Σ_b d_b x_bᵀ (stochastic pulse trains);
- ask for a counted update ΔM (pulses per device computed from a ΔM it computed digitally);
- ask for a refresh (reset-and-rewrite of pairs whose devices approach saturation);
- ask for a symmetry-point calibration (alternating pulses until the devices settle; the reference device of
  every pair set there) and know the matrix's granularity (the weight change of one pulse);
- change the digital parameters of a layer (scales s/λ, biases) and of its input stages.
Schemes hook in at network level: after each step (``Scheme.after_step``) and through the input stages
(centring μ, decorrelation R) the network builds for them.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping, MutableMapping, Protocol, Sequence, runtime_checkable

import numpy as np

from hwsim.devices import validation as v

ROUNDINGS = ("nearest", "stochastic")


@dataclass(frozen=True)
class UpdateParameters:
    """How an update request becomes pulses (aihwkit's ``PulsedUpdateParameter`` in spirit).

    Attributes:
        bl: length of the stochastic pulse trains, in bits per sample (Gokmen & Vlasov 2016's BL), 1–64.
        update_management: scale the x and d trains to equal maximal probabilities (c_x·c_d fixed by lr);
            off: c_x = c_d = sqrt(lr/(BL·dw)).
        max_pulses: largest pulse count per device in one counted update (larger requests are capped).
        rounding: counted updates round ΔM/dw to whole pulses "nearest", or "stochastic" (down or up with the
            probabilities that make the expected count exact).
    """

    bl: int = 31
    update_management: bool = True
    max_pulses: int = 31
    rounding: str = "stochastic"

    CONSTRAINTS = {"bl": v.Integer(1, 64), "update_management": v.Boolean(), "max_pulses": v.Integer(1, 10**6),
                   "rounding": v.Options(ROUNDINGS)}

    def __post_init__(self):
        for f in fields(self):
            v.check(f.name, getattr(self, f.name), self.CONSTRAINTS[f.name])


@runtime_checkable
class AnalogMatrix(Protocol):
    """A logical matrix on crossbar arrays (implemented by ``hwsim.hardware.matrix.TiledMatrix``)."""

    name: str
    rows: int
    cols: int
    granularity: float                             # logical weight change of one pulse on the nominal device

    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = M·x through the periphery: (batch, cols) → (batch, rows)."""

    def backward(self, d: np.ndarray) -> np.ndarray:
        """Transposed read Mᵀ·d: (batch, rows) → (batch, cols)."""

    def read_back(self) -> np.ndarray:
        """M as verify reads see it (device read noise; counted as one read of every device)."""

    def pulsed_update(self, x: np.ndarray, d: np.ndarray, lr: float, params: UpdateParameters) -> int:
        """ΔM ≈ −lr·Σ_b d_b·x_bᵀ by stochastic pulse trains; returns the device pulses fired."""

    def counted_update(self, delta: np.ndarray, params: UpdateParameters) -> int:
        """ΔM by counted pulses (ΔM/dw per device, rounded and capped by ``params``); returns pulses fired."""

    def refresh(self, threshold: float, tolerance: float | None) -> dict:
        """Reset-and-rewrite the pairs with a device past ``threshold`` of its range; returns
        {"refreshed": pairs, "pulses": pulses}."""

    def calibrate_symmetry_point(self, pairs_per_round: int | None = None, max_rounds: int = 50, reads: int = 8,
                                 set_reference: bool = True) -> dict:
        """Alternating up/down pulses on every pulsed device until the reads settle at the devices' symmetry
        points; the reference devices set there (``set_reference``). Returns {"reference": per-device weight at
        the symmetry point before the reference was set, "pulses", "cell_reads", "rounds"}."""


class AnalogLayer(Protocol):
    """One network layer as a rule sees it (implemented by ``hwsim.hardware.layers``)."""

    spec: object                                   # LayerSpec: in/out features, activation, factorization, rank
    matrices: Mapping[str, AnalogMatrix]            # by role: "W" | "U", "V" | "Q", "P" | "A", "C"
    digital: MutableMapping[str, np.ndarray]        # digital parameters by name: "b", "s", "lam"
    buffers: MutableMapping[str, np.ndarray]        # digital state that is not trained: transfer buffers H,
                                                    # chopper signs, references, counters (round-tripped)
    cache: object                                   # LayerCache of the last forward pass (x, a, h …)

    def dact(self) -> np.ndarray:
        """f′(a) of the last forward pass."""

    def signals(self, delta: np.ndarray, input_grad: bool = True):
        """For ∂L/∂a: (update requests ``[Signal]``, digital gradients {name: g}, ∂L/∂x or None)."""


class AnalogNetwork(Protocol):
    """A network as a rule sees it (implemented by ``hwsim.hardware.network.Network``)."""

    specs: Sequence
    layers: Sequence[AnalogLayer]
    pair: str

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits through every tile."""

    def analog_matrices(self) -> Sequence[AnalogMatrix]:
        """Every analog matrix once (shared bases once, input stages' matrices included)."""

    def stages(self, kind: str) -> Sequence:
        """The input stages of a kind ("center", "decorrelation") of every layer, in layer order."""

    def count_digital(self, macs: int) -> None:
        """Record the digital multiply-accumulates the rule did outside the arrays (cost accounting)."""


@dataclass
class Signal:
    """An outer-product update request: ΔM = −lr·Σ_b d_b·x_bᵀ on the layer's matrix of ``role`` (d: rows
    side, x: cols side)."""

    role: str
    x: np.ndarray
    d: np.ndarray

    def delta(self, lr: float) -> np.ndarray:
        """The float ΔM of this request."""
        return -lr * (self.d.T.astype(np.float64) @ self.x.astype(np.float64))
