"""One crossbar array: rows × cols differential pairs (G+, G−) of simulated devices, its periphery, and
pulsed updates.

Weights are normalised: W = w(G+) − w(G−), with each device's state w mapped to conductance by its model
(``DeviceModel.conductance``). A device has a stored state (``w_plus``, ``w_minus``: what its next pulse acts
on) and an apparent one, stored + its write-noise offset (``offset_plus``, ``offset_minus``; zero for devices
without write noise): reads, ``get_weights`` and ``conductances`` see the apparent state. ``forward(x)`` computes y = W·x (batch × cols → batch × rows) through the
periphery, ``backward(d)`` the transpose read dᵀ·W, ``update(x, d, lr)`` the stochastic pulsed update
ΔW ≈ −lr·Σ_b d_b·x_bᵀ, ``update_pulses`` a deterministic per-cell pulse count. The update kernels are the
rules' (``hwsim.learning_rules.pulses``): the tile hands them arrays — device states, parameters, trains.

Random streams come from the tile's seed (``random_state``; in a network, the seed tree's child
("tile", tile_id)): device sampling (G+ and G− apart), pulse noise keyed by (update step), read noise keyed by
(read number), stochastic rounding — so results never depend on thread counts or on other tiles.
"""
from __future__ import annotations

import numbers
from contextlib import contextmanager

import numpy as np
from numba import njit

from hwsim.devices import DeviceModel
from hwsim.devices.base import DeviceParameters, settle_states
from hwsim.devices.rng import as_seed_sequence, check_random_state, child, kernel_key, stream_key
from hwsim.hardware import ir_drop
from hwsim.hardware.periphery import Periphery, adc, dac
from hwsim.learning_rules.interface import UpdateParameters
from hwsim.learning_rules.pulses import (D_TRAINS, DEVICE_NOISE, PAIR_MODES, WRITE_NOISE, X_TRAINS,
                                         alternating_update, counted_update, pulse_trains,
                                         stochastic_update)

DEFAULT_UPDATE = UpdateParameters()
_ADC_NOISE, _DEVICE_NOISE = 0, 1           # the two noise sources of one read: sub-streams of the read's key


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


@njit(cache=True)
def _apparent_sums(w_p, o_p, w_m, o_m, w32, offsets):
    """One pass over a tile's apparent states (stored + offset, rows × cols): W = w(G+) − w(G−) into ``w32``
    (float32), and the sums of w(G+) + w(G−) along columns (cols,) and along rows (rows,), returned. Serial: one
    pass is memory-bound (256 × 256: 82 µs; two parallel passes took 175 µs on two threads, 230 µs on one).
    ``offsets`` False: the offsets are all 0 and not read (half the memory)."""
    rows, cols = w_p.shape
    by_row = np.empty(rows)
    by_col = np.zeros(cols)
    for i in range(rows):
        s = 0.0
        for j in range(cols):
            a = w_p[i, j] + o_p[i, j] if offsets else w_p[i, j]
            b = w_m[i, j] + o_m[i, j] if offsets else w_m[i, j]
            w32[i, j] = a - b
            s += a + b
            by_col[j] += a + b
        by_row[i] = s
    return by_col, by_row


@njit(cache=True)
def _squared_inputs_dot(xq, g):
    """Σ_j g_j·Σ_b xq_bj² (float64) of converted inputs xq (batch, n) float32 and line conductances g (n,)."""
    batch, n = xq.shape
    acc = np.zeros(n)
    for b in range(batch):
        for j in range(n):
            v = np.float64(xq[b, j])
            acc[j] += v * v
    total = 0.0
    for j in range(n):
        total += acc[j] * g[j]
    return total


_BLAS = []          # NumPy's BLAS libraries (threadpoolctl's controllers), found at the first read


@contextmanager
def _one_blas_thread():
    """NumPy's BLAS on one thread for a tile's matrix products, its thread count restored after (≈ 5 µs).
    The products are tile-sized, and BLAS threads spinning beside Numba's (which spin ≈ 1 ms after a kernel,
    ``devices.__init__``) slowed them: bench_tile's 512 × 512 forward read took 9.8 ms with two BLAS threads
    against 0.7 ms with one. Training already runs on one BLAS thread (``trainer.train``)."""
    if not _BLAS:
        from threadpoolctl import ThreadpoolController
        _BLAS.append(ThreadpoolController().select(user_api="blas").lib_controllers)
    libs = _BLAS[0]
    before = [lib.num_threads for lib in libs]
    for lib in libs:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(libs, before):
            lib.set_num_threads(n)


def _scalar(state, name):
    """``state[name]`` as a NumPy scalar; a saved state whose field holds an array is refused by name."""
    value = np.asarray(state[name])
    if value.ndim != 0:
        raise ValueError(f"tile state field {name} must be a scalar, got an array of shape {value.shape}")
    return value[()]


#: most pulse pairs per calibration round (0.1 of the range in steps): beyond, a calibration is refused
MAX_CALIBRATION_PAIRS = 10_000


def calibration_pairs(device: DeviceModel) -> int:
    """Pulse pairs per round of a symmetry-point calibration: a tenth of the device's range in nominal steps."""
    return max(1, int(np.ceil(0.1 * (device.w_max - device.w_min) / device.nominal_step())))


class Tile:
    """A crossbar tile.

    Args:
        rows, cols: array size (outputs × inputs).
        device: the device model of every cell (both devices of a pair).
        periphery: converters and wires (default ``Periphery()``).
        random_state: None, int, SeedSequence or Generator: the tile's seed (device sampling, pulse noise,
            read noise, rounding).
        tile_id: index of this tile in a network (its position in the trace and the cost account).
        pair: how pulses reach the pair: "plus" (G− is a fixed reference; default), "unidirectional"
            (potentiation only: G+ for growth, G− for decrease) or "both" (opposite pulses on both).
    """

    def __init__(self, rows: int, cols: int, device: DeviceModel, periphery: Periphery | None = None,
                 random_state=None, tile_id: int = 0, pair: str = "plus", *, _state: dict | None = None):
        _positive_int("rows", rows)
        _positive_int("cols", cols)
        if not isinstance(device, DeviceModel):
            raise ValueError(f"device must be a DeviceModel (e.g. hwsim.devices.get_device('soft-bounds')), "
                             f"got {device!r}")
        periphery = Periphery() if periphery is None else periphery
        if not isinstance(periphery, Periphery):
            raise ValueError(f"periphery must be a Periphery, got {periphery!r}")
        if pair not in PAIR_MODES:
            raise ValueError(f"pair must be one of {tuple(PAIR_MODES)}, got {pair!r}")
        if isinstance(tile_id, bool) or not isinstance(tile_id, (int, np.integer)) or tile_id < 0:
            raise ValueError(f"tile_id must be an integer >= 0, got {tile_id!r}")
        self.rows, self.cols = int(rows), int(cols)
        self.device, self.periphery, self.pair, self.tile_id = device, periphery, pair, int(tile_id)
        #: weight change of one pulse on the nominal device at w = 0
        self.dw_nominal = device.nominal_step()
        #: weight change of one coincidence: in "both" mode G+ and G− each take a pulse, so W moves 2·dw
        self.dw_pair = self.dw_nominal * (2 if pair == "both" else 1)
        self._w32 = self._solvers = self._gsum = None
        #: a pulse-event recorder (hwsim.workflow.events), told after every call that fires pulses; None: off
        self.recorder = None
        #: True: step every device pulse by pulse, the reference that the kernels' fast paths for runs of
        #: pulses are tested against (``devices.kernels.masked_run``); False (default): take them
        self.per_pulse = False
        if _state is not None:
            self._restore(_state)
            self._note_faults()
            return
        seq = as_seed_sequence(random_state)
        self.params_plus = device.sample((rows, cols), check_random_state(child(seq, "devices", 0)))
        self.params_minus = device.sample((rows, cols), check_random_state(child(seq, "devices", 1)))
        self.w_plus = device.initial_state(self.params_plus)
        self.w_minus = device.initial_state(self.params_minus)
        self.offset_plus = np.zeros((rows, cols))
        self.offset_minus = np.zeros((rows, cols))
        if pair == "plus":
            self.w_minus[...] = self.reference_state()
            settle_states(self.params_minus, self.w_minus)
        if pair == "unidirectional":        # both devices start at the bottom of their range
            self.w_plus[...] = self.params_plus["w_min"]
            self.w_minus[...] = self.params_minus["w_min"]
            settle_states(self.params_plus, self.w_plus)
            settle_states(self.params_minus, self.w_minus)
        #: kernel keys of the tile's streams
        self.keys = {name: kernel_key(child(seq, name)) for name in ("pulses", "reads", "rounding")}
        #: calls so far: pulsed and counted updates ("steps"), reads (forward, backward, read-backs)
        self.steps = self.reads = 0
        # cost counters (hwsim.hardware.cost): input vectors read, conversions, Σ G·V² over reads [W],
        # pulse slots, devices read back by verify reads
        self.read_vectors = self.dac_conversions = self.adc_conversions = self.update_slots = 0
        self.cell_reads = 0
        self.read_power_sum = 0.0
        #: pulses delivered per device: [potentiation G+, depression G+, potentiation G−, depression G−]
        self.pulse_counts = np.zeros((4, rows, cols), np.int64)
        self._note_faults()

    def _note_faults(self) -> None:
        """Whether any device of the tile has write noise (else its offsets stay 0 and reads skip them) or is
        stuck or has write noise (else the list walk does not look for them), from the sampled parameters, which
        are fixed from here on."""
        pp, pm = self.params_plus, self.params_minus
        self._write_noise = bool((pp["write_noise"] != 0).any() or (pm["write_noise"] != 0).any())
        self._faults = self._write_noise or bool((pp["stuck"] != 0).any() or (pm["stuck"] != 0).any())

    # ---- state -------------------------------------------------------------------------------------------
    _COUNTERS = ("steps", "reads", "read_vectors", "dac_conversions", "adc_conversions", "update_slots",
                 "cell_reads")

    def state(self) -> dict:
        """Everything that makes this tile what it is now (arrays and scalars): device states and sampled
        parameters of both devices, pulse counters, stream keys and call counters. ``Tile.from_state``
        rebuilds it exactly."""
        out = {"w_plus": self.w_plus.copy(), "w_minus": self.w_minus.copy(),
               "offset_plus": self.offset_plus.copy(), "offset_minus": self.offset_minus.copy(),
               "params_plus": self.params_plus.values.copy(), "params_minus": self.params_minus.values.copy(),
               "pulse_counts": self.pulse_counts.copy(), "read_power_sum": self.read_power_sum,
               **{f"key_{k}": np.uint64(v) for k, v in self.keys.items()}}
        out.update({k: int(getattr(self, k)) for k in self._COUNTERS})
        return out

    @classmethod
    def from_state(cls, state: dict, device: DeviceModel, periphery: Periphery | None = None, tile_id: int = 0,
                   pair: str = "plus") -> "Tile":
        """The tile saved by ``state()`` (same device model, periphery and pair mode)."""
        rows, cols = np.shape(state["w_plus"])
        return cls(rows, cols, device, periphery, tile_id=tile_id, pair=pair, _state=state)

    def _restore(self, state):
        shape = (self.rows, self.cols)
        template = self.device.sample((1,), 0)
        for side in ("plus", "minus"):
            values = np.array(state[f"params_{side}"], dtype=np.float64, order="C")
            if values.shape != (template.values.shape[0], self.rows * self.cols):
                raise ValueError(f"params_{side} has shape {values.shape}, expected "
                                 f"{(template.values.shape[0], self.rows * self.cols)}")
            setattr(self, f"params_{side}", DeviceParameters(template.model_id, template.n_states, values,
                                                             template.consts, shape, template.names))
        self.w_plus = np.array(state["w_plus"], dtype=np.float64).reshape(shape)
        self.w_minus = np.array(state["w_minus"], dtype=np.float64).reshape(shape)
        self.offset_plus = np.array(state["offset_plus"], dtype=np.float64).reshape(shape)
        self.offset_minus = np.array(state["offset_minus"], dtype=np.float64).reshape(shape)
        self.pulse_counts = np.array(state["pulse_counts"], dtype=np.int64).reshape(4, *shape)
        self.read_power_sum = float(_scalar(state, "read_power_sum"))
        self.keys = {k: np.uint64(_scalar(state, f"key_{k}")) for k in ("pulses", "reads", "rounding")}
        for k in self._COUNTERS:
            setattr(self, k, int(_scalar(state, k)))

    def reference_state(self) -> np.ndarray:
        """The fixed G− state of "plus" mode: 0 (the middle of a signed range), or mid-range for one-sided
        devices (w_min >= 0) so that W takes both signs."""
        if self.device.w_min < 0:
            return np.zeros((self.rows, self.cols))
        return 0.5 * (self.params_minus["w_min"] + self.params_minus["w_max"])

    def weight_reach(self) -> float:
        """Largest |W| of the nominal device that every sign can reach under this pair mode."""
        dev = self.device
        if self.pair == "plus":
            ref = 0.0 if dev.w_min < 0 else 0.5 * (dev.w_min + dev.w_max)
            return min(dev.w_max - ref, ref - dev.w_min)
        return dev.w_max - dev.w_min

    # ---- weights -----------------------------------------------------------------------------------------
    def get_weights(self) -> np.ndarray:
        """W = w(G+) − w(G−), rows × cols, from the apparent device states (write noise included, no read
        noise, no read cost)."""
        return (self.w_plus + self.offset_plus) - (self.w_minus + self.offset_minus)

    def conductances(self) -> tuple[np.ndarray, np.ndarray]:
        """(G+, G−) [S] of the apparent device states."""
        return (self.device.conductance(self.w_plus + self.offset_plus),
                self.device.conductance(self.w_minus + self.offset_minus))

    def weight_range(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-weight (lowest, highest) representable W under this pair mode."""
        pp, pm = self.params_plus, self.params_minus
        if self.pair == "plus":
            return pp["w_min"] - self.w_minus, pp["w_max"] - self.w_minus
        return pp["w_min"] - pm["w_max"], pp["w_max"] - pm["w_min"]

    def set_weights(self, W, clip: bool = False) -> None:
        """Set W ideally (no pulses; for tests and initialisation). "plus": G+ = W + w(G−); "both": ±W/2
        around the centre closest to 0 that fits both devices; "unidirectional": both devices as low as their
        ranges allow. Discretised devices round to their levels. Out-of-range W is an error, unless
        ``clip`` (weight initialisation: each pair is written as far as it goes)."""
        W = self._check_matrix("W", W, (self.rows, self.cols))
        lo, hi = self.weight_range()
        if clip:
            W = np.clip(W, lo, hi)
        bad = (W < lo - 1e-12) | (W > hi + 1e-12)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(f"W[{i}, {j}] = {W[i, j]:.4g} is outside the representable range "
                             f"[{lo[i, j]:.4g}, {hi[i, j]:.4g}] of that pair ({bad.sum()} entries out of range)")
        pp, pm = self.params_plus, self.params_minus
        if self.pair == "plus":
            self.w_plus[...] = W + self.w_minus
        elif self.pair == "both":
            # w+ = c + W/2, w− = c − W/2 with the centre c closest to 0 that keeps both devices in range
            half = W / 2
            lo_c = np.maximum(pp["w_min"] - half, pm["w_min"] + half)
            hi_c = np.minimum(pp["w_max"] - half, pm["w_max"] + half)
            c = np.clip(0.0, lo_c, np.maximum(lo_c, hi_c))
            self.w_plus[...] = c + half
            self.w_minus[...] = c - half
        else:   # unidirectional: both devices as low as possible (headroom for potentiation)
            self.w_plus[...] = np.maximum(pp["w_min"], pm["w_min"] + W)
            self.w_minus[...] = self.w_plus - W
        settle_states(self.params_plus, self.w_plus)
        settle_states(self.params_minus, self.w_minus)
        self.offset_plus[...] = 0.0
        self.offset_minus[...] = 0.0
        self._changed()

    def _changed(self, pulsed: bool = False) -> None:
        if pulsed and self.recorder is not None:
            self.recorder.record(self)
        self._w32 = None
        self._solvers = None
        self._gsum = None

    # ---- reads ---------------------------------------------------------------------------------------------
    def forward(self, x) -> np.ndarray:
        """y = W·x through the periphery: (batch, cols) → (batch, rows)."""
        return self._read(x, transpose=False)

    def backward(self, d) -> np.ndarray:
        """Transpose read Wᵀ·d through the periphery: (batch, rows) → (batch, cols)."""
        return self._read(d, transpose=True)

    def _read_generator(self, noise: int) -> np.random.Generator:
        return np.random.default_rng(int(stream_key(self.keys["reads"], self.reads, noise)))

    def _read(self, x, transpose: bool) -> np.ndarray:
        per = self.periphery
        n_in = self.rows if transpose else self.cols
        x = self._check_matrix("d" if transpose else "x", x, (None, n_in), squeeze=True)
        single = x.ndim == 1
        xq, scales = dac(np.atleast_2d(x), per.dac_bits, per.input_range, per.input_scaling == "abs-max")
        y = self._mvm(xq, transpose)
        self._count_read(xq, transpose)
        adc(y, scales, per.adc_bits, per.output_range, per.output_noise,
            stream_key(self.keys["reads"], self.reads, _ADC_NOISE))
        self.reads += 1
        return y[0] if single else y

    def _count_read(self, xq, transpose):
        n, n_in = xq.shape
        self.read_vectors += n
        self.dac_conversions += n * n_in
        self.adc_conversions += n * (self.cols if transpose else self.rows)
        self._refresh()
        volts_per_unit = self.periphery.read_voltage / self.periphery.input_range
        self.read_power_sum += volts_per_unit ** 2 * _squared_inputs_dot(xq, self._gsum[1 if transpose else 0])

    def _refresh(self) -> None:
        """After a change of the states: the float32 W that ideal reads multiply by, and Σ (G+ + G−) [S]
        along columns and rows that read power needs (G = g_min + k·(w − w_min) per device), in one pass."""
        if self._gsum is not None:
            return
        dev = self.device
        k = dev.siemens_per_weight()
        off = 2 * (dev.g_min - k * dev.w_min)
        self._w32 = np.empty((self.rows, self.cols), np.float32)
        by_col, by_row = _apparent_sums(*map(np.ascontiguousarray, (self.w_plus, self.offset_plus, self.w_minus,
                                                                     self.offset_minus)), self._w32,
                                        self._write_noise)
        self._gsum = (k * by_col + off * self.rows, k * by_row + off * self.cols)

    def _mvm(self, x: np.ndarray, transpose: bool) -> np.ndarray:
        """Analog MVM of the (DAC'd) inputs: ideal, or with device read noise and IR drop. Its matrix products
        run on one BLAS thread (``_one_blas_thread``)."""
        per, dev = self.periphery, self.device
        solver = per.solver_for(self.rows * self.cols)
        with _one_blas_thread():
            if solver is None:
                self._refresh()
                y = x @ self._w32 if transpose else x @ self._w32.T
            else:
                y = self._ir_drop_mvm(x, transpose, solver)
            if dev.read_noise:
                # per read, each device's conductance is G·(1 + σξ): the output noise is Gaussian with variance
                # σ²·Σ_j (G+_ij² + G−_ij²)·x_j², conductances in weight units (G / siemens_per_weight)
                g2 = self._w_abs2(transpose)
                std = dev.read_noise * np.sqrt((x * x) @ g2)
        if dev.read_noise:
            y += std * self._read_generator(_DEVICE_NOISE).standard_normal(y.shape, dtype=np.float32)
        return y

    def _w_abs2(self, transpose):
        gp, gm = (g / self.device.siemens_per_weight() for g in self.conductances())
        g2 = (gp * gp + gm * gm).astype(np.float32)
        return g2 if transpose else g2.T

    def _ir_drop_mvm(self, x, transpose, solver):
        per = self.periphery
        volts = x.astype(np.float64) * (per.read_voltage / per.input_range)
        gp, gm = self.conductances()
        if transpose:
            gp, gm = gp.T, gm.T
        r = per.wire_resistance
        if solver == "exact":
            if self._solvers is None or self._solvers[0] != transpose:
                self._solvers = (transpose, ir_drop.ExactSolver(gp, r), ir_drop.ExactSolver(gm, r))
            i_p, i_m = self._solvers[1].currents(volts), self._solvers[2].currents(volts)
        else:
            i_p = ir_drop.first_order_currents(np.ascontiguousarray(gp), volts, r)
            i_m = ir_drop.first_order_currents(np.ascontiguousarray(gm), volts, r)
        y = (i_p - i_m) * (per.input_range / (per.read_voltage * self.device.siemens_per_weight()))
        return y.astype(np.float32)

    def read_back(self) -> np.ndarray:
        """W as verify reads see it: each device read once, with its read noise. Costed as reading the array
        with one one-hot input vector per column (its conversions, cell read energy and latency) and counted
        in ``cell_reads`` (two devices per weight); the values are the device states with read noise (the
        converters' resolution is not applied)."""
        dev = self.device
        self.cell_reads += 2 * self.rows * self.cols
        self._count_read(np.eye(self.cols, dtype=np.float32) * self.periphery.input_range, transpose=False)
        if not dev.read_noise:
            self.reads += 1
            return self.get_weights()
        rng = self._read_generator(_DEVICE_NOISE)
        self.reads += 1
        g_unit = dev.siemens_per_weight()
        ap, am = self.w_plus + self.offset_plus, self.w_minus + self.offset_minus
        gp = dev.read(ap, rng) - dev.conductance(ap)
        gm = dev.read(am, rng) - dev.conductance(am)
        return self.get_weights() + (gp - gm) / g_unit

    # ---- updates -------------------------------------------------------------------------------------------
    def _step_key(self) -> np.uint64:
        key = stream_key(self.keys["pulses"], self.steps)
        self.steps += 1
        return key

    def update(self, x, d, lr: float, params: UpdateParameters = DEFAULT_UPDATE) -> dict:
        """Stochastic pulsed update for a batch: ΔW ≈ −lr·Σ_b d_b·x_bᵀ (Gokmen & Vlasov 2016), trains of
        ``params.bl`` bits, with update management (x and d scaled to equal maximal probabilities) unless
        ``params.update_management`` is off. Returns statistics of the call: pulses fired and the fraction of
        saturated (clipped to 1) probabilities."""
        if not isinstance(params, UpdateParameters):
            raise ValueError(f"params must be an UpdateParameters, got {params!r}")
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (np.isfinite(lr) and lr >= 0):
            raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
        lr, bl = float(lr), params.bl
        x = self._check_matrix("x", x, (None, self.cols))
        d = self._check_matrix("d", d, (x.shape[0], self.rows))
        x_max, d_max = float(np.abs(x).max(initial=0)), float(np.abs(d).max(initial=0))
        if lr == 0 or x_max == 0 or d_max == 0:
            return {"pulses": 0, "saturated": 0.0}
        gain = lr / (bl * self.dw_pair)                      # c_x·c_d
        if params.update_management:
            c_x, c_d = np.sqrt(gain * d_max / x_max), np.sqrt(gain * x_max / d_max)
        else:
            c_x = c_d = np.sqrt(gain)
        key = self._step_key()
        # one argument type for the train kernel (float32 or strided inputs would each compile another)
        x, d = np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(d, dtype=np.float64)
        cols_bits, cols_neg, sat_x = pulse_trains(x, c_x, bl, stream_key(key, X_TRAINS), False)
        rows_bits, rows_neg, sat_d = pulse_trains(d, c_d, bl, stream_key(key, D_TRAINS), True)
        self.update_slots += bl * x.shape[0]
        plus, minus = self.params_plus, self.params_minus
        fired = stochastic_update(plus.model_id, plus.n_states, plus.values, minus.values, plus.consts,
                                  self.w_plus.reshape(-1), self.w_minus.reshape(-1), self.offset_plus.reshape(-1),
                                  self.offset_minus.reshape(-1), self.pulse_counts.reshape(4, -1), rows_bits, rows_neg,
                                  cols_bits, cols_neg, bl, PAIR_MODES[self.pair],
                                  stream_key(key, DEVICE_NOISE), stream_key(key, WRITE_NOISE), not self.per_pulse,
                                  self._faults)
        self._changed(pulsed=True)
        saturated = (sat_x + sat_d) / (x.size + d.size)
        return {"pulses": int(fired), "saturated": float(saturated)}

    def update_pulses(self, n_pulses) -> int:
        """Deterministic update: a signed pulse count per cell (> 0: the weight must grow), rows × cols; in
        "both" mode each device of the pair takes the count. Returns the device pulses fired."""
        n = np.asarray(n_pulses)
        if n.shape != (self.rows, self.cols) or not np.issubdtype(n.dtype, np.integer):
            raise ValueError(f"n_pulses must be an integer array of shape {(self.rows, self.cols)}, got "
                             f"{n.dtype} array of shape {n.shape}")
        self.update_slots += int(np.abs(n).max(initial=0))
        key = self._step_key()
        plus, minus = self.params_plus, self.params_minus
        counted_update(plus.model_id, plus.n_states, plus.values, minus.values, plus.consts,
                       self.w_plus.reshape(-1), self.w_minus.reshape(-1), self.offset_plus.reshape(-1),
                       self.offset_minus.reshape(-1), self.pulse_counts.reshape(4, -1),
                       np.ascontiguousarray(n, dtype=np.int64).reshape(-1), PAIR_MODES[self.pair],
                       stream_key(key, DEVICE_NOISE), stream_key(key, WRITE_NOISE), not self.per_pulse)
        self._changed(pulsed=True)
        return int(np.abs(n).sum()) * (2 if self.pair == "both" else 1)

    def update_delta(self, delta_w, params: UpdateParameters = DEFAULT_UPDATE) -> int:
        """Counted update for rules that compute ΔW: ΔW/dw_pair pulses per cell (dw_pair: the weight change
        of one pulse — of both devices in "both" mode — on the nominal device at w = 0), rounded as
        ``params.rounding`` says and capped at ±``params.max_pulses``. Returns the device pulses fired."""
        if not isinstance(params, UpdateParameters):
            raise ValueError(f"params must be an UpdateParameters, got {params!r}")
        dW = self._check_matrix("delta_w", delta_w, (self.rows, self.cols))
        ratio = dW / self.dw_pair
        if params.rounding == "nearest":
            n = np.rint(ratio)
        else:
            rng = np.random.default_rng(int(stream_key(self.keys["rounding"], self.steps)))
            n = np.floor(ratio + rng.random(ratio.shape))
        n = np.clip(n, -params.max_pulses, params.max_pulses).astype(np.int64)
        return self.update_pulses(n)

    def program(self, W, tolerance: float = 0.01, max_iterations: int = 20, mask=None) -> dict:
        """Closed-loop write-and-verify with real pulses. Each iteration reads W back (``read_back``: read
        noise, counted) and pulses every weight that is off by more than ``tolerance`` towards its target by
        round(error/step) pulses (at least one). ``step`` starts at the nominal dw_pair and adapts per weight
        to the response seen so far (geometric mean of the old estimate and the last measured move per pulse,
        the latter trusted within a factor 2 of the estimate; overall within [dw/20, 20·dw]), so devices with
        a large or small step neither oscillate nor crawl, and cycle-to-cycle noise cannot make the loop
        diverge. Returns the residual error (max and rms of |W_read − W|, and max of the exact state),
        iterations, pulses spent and whether it converged. ``mask`` (bool, rows × cols) restricts programming
        and the residual to some cells."""
        if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) or not (
                np.isfinite(tolerance) and tolerance > 0):
            raise ValueError(f"tolerance must be a finite number > 0, got {tolerance!r}")
        _positive_int("max_iterations", max_iterations)
        target = self._check_matrix("W", W, (self.rows, self.cols))
        sel = np.ones(target.shape, bool) if mask is None else np.asarray(mask, bool)
        dw = self.dw_pair
        step = np.full(target.shape, dw)
        spent, it = 0, 0
        read = self.read_back()
        for it in range(1, max_iterations + 1):
            err = target - read
            off = (np.abs(err) > tolerance) & sel
            if not off.any():
                it -= 1
                break
            n = np.where(off, np.rint(err / step), 0)
            n = np.where(off & (n == 0), np.sign(err), n).astype(np.int64)
            spent += self.update_pulses(n)
            new = self.read_back()
            moved = (new - read) * np.sign(n)
            seen = (n != 0) & (moved > 0)
            est = np.clip(moved[seen] / np.abs(n[seen]), step[seen] / 2, 2 * step[seen])
            step[seen] = np.clip(np.sqrt(step[seen] * est), dw / 20, 20 * dw)
            read = new
        err = (target - read)[sel]
        exact = (target - self.get_weights())[sel]
        if not err.size:
            return {"max_error": 0.0, "rms_error": 0.0, "max_error_exact": 0.0, "iterations": 0, "pulses": 0,
                    "converged": True}
        return {"max_error": float(np.abs(err).max()), "rms_error": float(np.sqrt(np.mean(err ** 2))),
                "max_error_exact": float(np.abs(exact).max()), "iterations": it, "pulses": spent,
                "converged": bool(np.abs(err).max() <= tolerance)}

    def refresh(self, threshold: float = 0.9, tolerance: float | None = None, max_iterations: int = 10) -> dict:
        """Reset-and-rewrite the pairs in which a device passed ``threshold`` of its range: both devices are
        reset to their lowest state (one reset pulse each, counted as depression) and the weight is written
        back by write-and-verify (``tolerance`` defaults to one nominal step). Returns refreshed pairs and
        pulses (resets included)."""
        pp, pm = self.params_plus, self.params_minus
        level_p = (self.w_plus - pp["w_min"]) / np.maximum(pp["w_max"] - pp["w_min"], 1e-12)
        level_m = (self.w_minus - pm["w_min"]) / np.maximum(pm["w_max"] - pm["w_min"], 1e-12)
        full = ((level_p > threshold) | (level_m > threshold)) & (pp["stuck"] == 0) & (pm["stuck"] == 0)
        n = int(full.sum())
        if not n:
            return {"refreshed": 0, "pulses": 0}
        target = self.get_weights()
        self.w_plus[full] = pp["w_min"][full]
        self.w_minus[full] = pm["w_min"][full]
        self.offset_plus[full] = self.offset_minus[full] = 0.0
        self.pulse_counts[1][full] += 1
        self.pulse_counts[3][full] += 1
        self._changed(pulsed=True)
        res = self.program(target, tolerance or self.dw_nominal, max_iterations, mask=full)
        return {"refreshed": n, "pulses": 2 * n + res["pulses"]}

    def calibrate_symmetry_point(self, pairs_per_round: int | None = None, max_rounds: int = 50, reads: int = 8,
                                 set_reference: bool = True) -> dict:
        """Symmetry-point calibration (the reference of Tiki-Taka's fast array A; Kim et al.'s "zero shifting"):
        every G+ device takes alternating potentiation/depression pulses, in rounds of ``pairs_per_round``
        pairs (default: a tenth of the nominal range in nominal steps), each round followed by a read-back of
        the array. A device whose up and down steps change with its state (soft bounds, exp-step …) drifts to
        the state where they are equal, its symmetry point, and then jitters around it (cycle-to-cycle and
        write noise). The loop stops when a round moves the reads no less than 0.9 × what the round before did
        (the mean |Δ| over the devices has stopped falling: only noise is left) or after ``max_rounds``; then
        ``reads`` more rounds, each read back, and the reference is the mean of those reads: the pair's
        weight G+ − G− at the symmetry point of G+ (averaging over rounds averages the jitter and the write
        noise). With ``set_reference`` the reference device G− is then programmed to that state (G− +=
        reference; modelled as exact and without pulses — the estimate's own error, from read noise, write
        noise and jitter, is the reference error), so that the pair reads 0 at the symmetry point. Pulses and
        reads are counted like any other (``pulse_counts``, ``cell_reads``, ``update_slots``: every device of
        the array is pulsed at once). Pair mode "plus" only (G− is the reference). Returns
        {"reference": (rows, cols) array, "pulses": device pulses, "cell_reads": devices read, "rounds": n}."""
        if self.pair != "plus":
            raise ValueError(f"symmetry-point calibration needs pair mode 'plus' (G− is the reference), got "
                             f"{self.pair!r}")
        if pairs_per_round is None:
            pairs_per_round = calibration_pairs(self.device)
        _positive_int("pairs_per_round", pairs_per_round)
        _positive_int("max_rounds", max_rounds)
        _positive_int("reads", reads)
        counts = self.pulse_counts.reshape(4, -1)[:2]          # G+ potentiation and depression rows (a view)
        reads_before = self.cell_reads

        def one_round():
            key = self._step_key()
            w, off = self.w_plus.reshape(-1), self.offset_plus.reshape(-1)
            plus = self.params_plus
            alternating_update(plus.model_id, plus.n_states, plus.values, plus.consts, w, off, counts,
                               pairs_per_round, stream_key(key, DEVICE_NOISE), stream_key(key, WRITE_NOISE))
            self.update_slots += 2 * pairs_per_round
            self._changed()
            return self.read_back()

        last, change, rounds = self.read_back(), None, 0
        while rounds < max_rounds:
            now = one_round()
            rounds += 1
            new_change = float(np.mean(np.abs(now - last)))
            last = now
            if change is not None and new_change >= 0.9 * change:
                break
            change = new_change
        total = np.zeros((self.rows, self.cols))
        for _ in range(reads):
            total += one_round()
            rounds += 1
        pulses = 2 * pairs_per_round * rounds * self.rows * self.cols
        reference = total / reads
        if set_reference:
            self.w_minus += reference
            settle_states(self.params_minus, self.w_minus)
            self._changed()
        return {"reference": reference, "pulses": pulses, "cell_reads": self.cell_reads - reads_before,
                "rounds": rounds}

    # ---- checks --------------------------------------------------------------------------------------------
    @staticmethod
    def _check_matrix(name, a, shape, squeeze=False):
        a = np.asarray(a, dtype=float) if not isinstance(a, np.ndarray) else a
        if squeeze and a.ndim == 1:
            want = shape[1]
            if a.shape[0] != want:
                raise ValueError(f"{name} has shape {a.shape}, expected ({want},) or (batch, {want})")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{name} contains NaN or inf")
            return a
        if a.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, a.shape)):
            exp = "(" + ", ".join("batch" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} has shape {a.shape}, expected {exp}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or inf")
        return a

