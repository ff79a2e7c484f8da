"""Transfer-based training, the Tiki-Taka family, as schemes after a gradient rule: ``bp+tt1``, ``bp+tt2``,
``bp+ctt2``, ``bp+agad``, ``dfa+ctt2`` … (docs/rules.md has the equations, defaults, choices and costs).

Every scheme asks for layers of form ``transfer`` (``hwsim.hardware.layers.Transfer``): W = γ·A + C with a
fast array A, which takes every update request of the base rule (its gradient, pulsed), and a slow array C,
which only the transfers write. After each step, each layer reads one column of A per ``transfer_every``
training samples of the step (at most every column once), in cyclic order — one-hot forward reads a_k = A[:, k]
through the periphery, counted as reads — and writes what it read into the same columns of C:

- ``+tt1`` (Gokmen & Haensch, Front. Neurosci. 2020, TT-v1): ΔC[:, k] = λ·a_k by a stochastic pulsed
  outer-product update (x = e_k, d = −a_k, learning rate λ = ``transfer_lr``, pulse trains of ``rule.update``).
- ``+tt2`` (Gokmen, Front. Artif. Intell. 2021, TT-v2): the reads go into a digital buffer H (a low-pass filter):
  H[:, k] += λ·a_k; where |H| reaches θ = ``buffer_threshold``·g_C (g_C: one pulse of C), n = trunc(H/θ)
  pulses (at most ``max_transfer_pulses``) go to C by a counted update and H[:, k] −= n·θ.
- ``+ctt2`` (Rasch et al., Nat. Commun. 2024, chopped TT-v2): as ``+tt2`` with A's inputs multiplied by a
  chopper c_k = ±1 (in A's updates and reads, so A accumulates c ⊙ gradient) and the reads sign-corrected,
  H[:, k] += λ·c_k·a_k; c_k flips after a read of column k with probability ``chop_prob`` (or every
  ⌈1/chop_prob⌉ reads when ``chop_random`` is off). A constant offset of A (asymmetry, a reference off the
  symmetry point) then enters H with alternating signs and averages out.
- ``+agad`` (Rasch et al. 2024, AGAD): chopped, with the reference computed on the fly per device: a running
  mean m of A's reads (tail-weighted, β = min(``tail_weight``/n, 1), n = reads per chopper period) becomes the
  reference p when the chopper of the column flips, and H[:, k] += λ·c_k·(a_k − p[:, k]) — the change of A since
  the last flip, whatever A's offset; no calibrated reference.

``+tt1`` and ``+tt2`` calibrate A's reference before training (``calibrate``: alternating pulses until A's
devices settle at their symmetry points, G− set there; ``AnalogMatrix.calibrate_symmetry_point``); its pulses
and reads are counted in the tiles and reported once as ``calibration_pulses``/``calibration_reads`` (not in
the per-step pulses, which count training). Per step the schemes report ``transfer_pulses`` (pulses on C) and
``transfer_reads`` (columns read) and add their pulses to the step's; their digital operations per step are
reported as ``transfer_ops``. All state (γ, chopper signs, H, references, counters) lives in the layers'
``buffers``, so ``Network.state()`` and traces keep it. Random draws (random choppers) come from the rule's
stream.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from hwsim.devices import validation as v

from .base import Param, Scheme, register_scheme

_COMMON = {
    "gamma": Param(0.0, v.Real(0.0, 1e3), "γ: the weight the network reads is γ·A + C"),
    "transfer_every": Param(1, v.Integer(1, 10**6), "training samples per column of A read and transferred "
                                                   "(the columns of a step are read after it, in cyclic order)"),
}


class _Transfer(Scheme):
    """The transfer mechanics shared by the four schemes; subclasses say how a column read becomes a write."""

    group = "transfer"
    requires = {"factorization": "transfer", "pair": "plus"}
    params = dict(_COMMON, transfer_lr=Param(0.1, v.Real(0.0, 1e6, lo_open=True), "λ: the transfer's rate"),
                  calibrate=Param(True, v.Boolean(), "calibrate A's reference at its symmetry point first"))
    chopped = False
    #: digital operations per element of a read column (docs/rules.md)
    ops_per_element = 0

    def __init__(self, network, lr, rng, update, **hyper):
        super().__init__(network, lr, rng, update, **hyper)
        if network.pair != "plus":
            raise ValueError(f"the transfer scheme {self.name!r} needs pair mode 'plus' (A's G− is its reference), "
                             f"got {network.pair!r}")
        self.layers = list(network.layers)
        for layer in self.layers:
            if set(layer.matrices) != {"A", "C"} or "chop" not in layer.buffers:
                raise ValueError(f"the transfer scheme {self.name!r} needs layers of form 'transfer' (arrays A and "
                                 f"C); layer {layer.index} has {sorted(layer.matrices)}")
            A = layer.matrices["A"]
            layer.buffers["gamma"] = np.float64(self.gamma)
            layer.buffers["chop"] = np.ones(A.cols)
            layer.buffers["next"] = np.int64(0)
            self.setup_layer(layer, A.rows, A.cols)
        self.pending = {}
        self.samples = self.events = 0              # training samples seen, columns read per layer
        if self.calibrate:
            pulses = reads = 0
            for layer in self.layers:
                res = layer.matrices["A"].calibrate_symmetry_point()
                pulses += res["pulses"]
                reads += res["cell_reads"]
            self.pending = {"calibration_pulses": pulses, "calibration_reads": reads}

    def setup_layer(self, layer, rows, cols) -> None:
        """Create the scheme's buffers of a layer (fixed shapes: traces store them from the start)."""

    def after_step(self, network, rule):
        self.steps += 1
        stats, self.pending = self.pending, {}
        self.samples += len(network.layers[0].cache.x)
        n = self.samples // self.transfer_every - self.events
        if n <= 0:
            return stats
        self.events += n
        pulses = reads = ops = 0
        for layer in self.layers:
            p, r, o = self.transfer(layer, n)
            pulses, reads, ops = pulses + p, reads + r, ops + o
        stats.update({"scheme_pulses": pulses, "transfer_pulses": pulses, "transfer_reads": reads,
                      "transfer_ops": ops})
        return stats

    def transfer(self, layer, n) -> tuple[int, int, int]:
        """Read the next ``n`` columns of a layer's A (at most all of them, once each) and write them into C.
        Returns (pulses on C, columns read, digital operations)."""
        A = layer.matrices["A"]
        k0 = int(layer.buffers["next"])
        n = min(n, A.cols)
        cols = (k0 + np.arange(n)) % A.cols
        layer.buffers["next"] = np.int64((k0 + n) % A.cols)
        onehot = np.zeros((n, A.cols), np.float32)
        onehot[np.arange(n), cols] = 1.0
        reads = A.forward(onehot).astype(np.float64)            # (n, rows): A[:, k] as the periphery reads it
        pulses = self.write(layer, cols, reads)
        if self.chopped:
            self.switch_choppers(layer, cols)
        return pulses, n, self.ops_per_element * n * A.rows

    def write(self, layer, cols, reads) -> int:
        raise NotImplementedError

    # ---- helpers of the buffered schemes ----
    def buffered_write(self, layer, cols, signal) -> int:
        """H[:, cols] += λ·signal; n = trunc(H/θ) (capped) pulses into C's columns by a counted update; H −= n·θ.
        ``signal``: (n, rows)."""
        C = layer.matrices["C"]
        theta = self.buffer_threshold * C.granularity
        H = layer.buffers["H"]
        h = H[:, cols] + self.transfer_lr * signal.T
        steps = np.clip(np.trunc(h / theta), -self.max_transfer_pulses, self.max_transfer_pulses)
        h = np.where(steps != 0, 0.0, h) if self.forget_buffer else h - steps * theta
        H[:, cols] = h
        if not steps.any():
            return 0
        delta = np.zeros((C.rows, C.cols))
        delta[:, cols] = steps * C.granularity
        params = dataclasses.replace(self.update, rounding="nearest", max_pulses=self.max_transfer_pulses)
        return C.counted_update(delta, params)

    def switch_choppers(self, layer, cols) -> None:
        """After a read of each column in ``cols``: flip its chopper with probability ``chop_prob`` (random), or
        every ⌈1/chop_prob⌉ reads of that column (regular)."""
        if not self.chop_prob:
            return
        chop, count = layer.buffers["chop"], layer.buffers["col_reads"]
        count[cols] += 1
        if self.chop_random:
            flip = cols[self.rng.random(len(cols)) < self.chop_prob]
        else:
            flip = cols[count[cols] % self.period == 0]
        chop[flip] *= -1.0
        if "switched" in layer.buffers:
            layer.buffers["switched"][flip] = 1

    @property
    def period(self) -> int:
        """Reads of a column per chopper sign when switching regularly: max(⌈1/chop_prob⌉, 2)."""
        return max(int(np.ceil(1.0 / self.chop_prob)), 2)


_BUFFERED = {
    "buffer_threshold": Param(1.0, v.Real(1e-6, 1e6),
                              "θ in pulses of C: H writes one pulse per θ·(one pulse of C) it holds"),
    "max_transfer_pulses": Param(4, v.Integer(1, 10**6), "largest pulse count per device in one transfer write"),
    "forget_buffer": Param(False, v.Boolean(), "after a write, H ← 0 there (aihwkit's forget_buffer) instead of "
                                               "H − n·θ"),
}


@register_scheme("tt1")
class TikiTaka(_Transfer):
    """TT-v1: ΔC[:, k] = λ·a_k by a stochastic pulsed update (pulse trains of ``rule.update``)."""

    def write(self, layer, cols, reads):
        C = layer.matrices["C"]
        onehot = np.zeros((len(cols), C.cols), np.float32)
        onehot[np.arange(len(cols)), cols] = 1.0
        d = -(reads * layer.buffers["chop"][cols, None]).astype(np.float32)   # ΔC = −λ·dᵀx = λ·a ⊗ e_k
        return C.pulsed_update(onehot, d, self.transfer_lr, self.update)


@register_scheme("tt2")
class TikiTakaV2(_Transfer):
    """TT-v2: the reads filtered by the digital buffer H; C pulsed where |H| crosses θ, H decremented."""

    params = dict(_Transfer.params, **_BUFFERED)
    ops_per_element = 4                        # λ·a, H + …, trunc(H/θ), H − n·θ

    def setup_layer(self, layer, rows, cols):
        layer.buffers["H"] = np.zeros((rows, cols))

    def write(self, layer, cols, reads):
        return self.buffered_write(layer, cols, reads * layer.buffers["chop"][cols, None])


_CHOPPED = {
    "chop_prob": Param(0.1, v.Either(v.Zero(), v.Real(1e-6, 1.0)), "probability (random) or frequency "
                       "(regular) of a chopper flip after a column's read (0: off)"),
    "chop_random": Param(True, v.Boolean(), "flip choppers at random (true) or regularly (false)"),
}


@register_scheme("ctt2")
class ChoppedTikiTaka(TikiTakaV2):
    """Chopped TT-v2: A's inputs chopped, the reads sign-corrected before H."""

    params = dict(_Transfer.params, **_BUFFERED, **_CHOPPED, calibrate=Param(
        False, v.Boolean(), "calibrate A's reference at its symmetry point first"))
    chopped = True
    ops_per_element = 5                        # + the chopper's sign

    def setup_layer(self, layer, rows, cols):
        super().setup_layer(layer, rows, cols)
        layer.buffers["col_reads"] = np.zeros(cols, np.int64)


@register_scheme("agad")
class AGAD(ChoppedTikiTaka):
    """AGAD: the reference of every device of A is the tail-weighted mean of its reads over the previous chopper
    period; H takes c·(a − p), regular choppers."""

    params = dict(ChoppedTikiTaka.params, chop_random=Param(False, v.Boolean(), "flip choppers at random (true) "
                                                                                 "or regularly (false)"),
                  chop_prob=Param(0.1, v.Real(1e-6, 1.0), "frequency (regular) or probability (random) "
                                  "of a chopper flip after a column's read; n = max(⌈1/chop_prob⌉, 2) reads per "
                                  "period"),
                  tail_weight=Param(5.0, v.Real(0.0, 1e6, lo_open=True),
                                    "weight of a period's tail in the running mean: β = min(tail_weight/n, 1)"))
    ops_per_element = 10                       # + a − p, the running mean (3), the reference copy at a flip

    def setup_layer(self, layer, rows, cols):
        super().setup_layer(layer, rows, cols)
        layer.buffers["mean"] = np.zeros((rows, cols))
        layer.buffers["ref"] = np.zeros((rows, cols))
        layer.buffers["switched"] = np.zeros(cols, np.int8)

    def write(self, layer, cols, reads):
        b = layer.buffers
        switched = cols[b["switched"][cols] == 1]
        b["ref"][:, switched] = b["mean"][:, switched]            # a new chopper period: the reference moves
        b["switched"][switched] = 0
        signal = (reads - b["ref"][:, cols].T) * b["chop"][cols, None]
        warm = b["col_reads"][cols] >= self.period                # the first period has no reference yet
        pulses = self.buffered_write(layer, cols[warm], signal[warm]) if warm.any() else 0
        beta = min(self.tail_weight / self.period, 1.0)
        b["mean"][:, cols] = (1.0 - beta) * b["mean"][:, cols] + beta * reads.T
        return pulses
