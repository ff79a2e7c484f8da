"""Crossbar periphery: DAC and ADC quantisation, output range (saturation), output noise, IR drop.

Units. Inputs and outputs are in normalised units: an input of ``input_range`` drives the line with
``read_voltage`` volts, and an output of 1 is the current of a weight of 1 (one weight unit of conductance
difference) driven by a full-scale input. Conductances and currents in the IR-drop solvers are in siemens and
amperes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from hwsim.devices import validation as v
from hwsim.devices.rng import normal, subkey

IR_DROP_SOLVERS = ("auto", "exact", "first-order")
INPUT_SCALINGS = ("abs-max", "none")


@dataclass(frozen=True, kw_only=True)
class Periphery:
    """Converters and wires around one tile (used for forward and backward reads alike).

    Attributes:
        dac_bits: input DAC resolution (0: ideal, continuous); 2^b − 1 levels symmetric around 0.
        input_range: DAC full scale; inputs beyond ±input_range saturate at it.
        input_scaling: "abs-max" scales each input vector by its max |x| into the DAC range and rescales the
            output digitally (aihwkit's noise management); "none" feeds inputs as they are.
        adc_bits: output ADC resolution (0: ideal); 2^b − 1 levels symmetric around 0.
        output_range: ADC full scale; outputs beyond ±output_range saturate (normalised output units).
        output_noise: std of additive Gaussian noise on each output before the ADC (normalised units;
            default 0.06 as aihwkit's out_noise).
        read_voltage: voltage of a full-scale input [V].
        wire_resistance: resistance of one wire segment between adjacent cells [Ω] (0: no IR drop).
        ir_drop_solver: "exact" (nodal analysis, sparse LU), "first-order" (perturbative), or "auto" (exact
            up to ``exact_max_cells`` devices per array, first-order beyond).
        exact_max_cells: largest array (rows·cols) that "auto" solves exactly.
    """

    dac_bits: int = 8
    input_range: float = 1.0
    input_scaling: str = "abs-max"
    adc_bits: int = 8
    output_range: float = 12.0
    output_noise: float = 0.06
    read_voltage: float = 0.2
    wire_resistance: float = 0.0
    ir_drop_solver: str = "auto"
    exact_max_cells: int = 4096

    def __post_init__(self):
        for name in ("dac_bits", "adc_bits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not (value == 0 or 2 <= value <= 24):
                raise ValueError(f"{name} must be 0 (ideal) or an integer in [2, 24], got {value!r}")
        # ranges: far beyond any real converter or wire, tight enough that V/range, V² and range/(V·G) stay
        # finite (input_range = 5e-324 made reads NaN)
        v.in_range("input_range", self.input_range, 1e-6, 1e30)
        v.in_range("output_range", self.output_range, 1e-6, 1e30)
        v.in_range("output_noise", self.output_noise, 0.0, 1e6)
        v.in_range("read_voltage", self.read_voltage, 1e-6, 1e3)
        v.check("wire_resistance", self.wire_resistance, v.Either(v.Zero(), v.Real(1e-6, 1e6)))
        if self.input_scaling not in INPUT_SCALINGS:
            raise ValueError(f"input_scaling must be one of {INPUT_SCALINGS}, got {self.input_scaling!r}")
        if self.ir_drop_solver not in IR_DROP_SOLVERS:
            raise ValueError(f"ir_drop_solver must be one of {IR_DROP_SOLVERS}, got {self.ir_drop_solver!r}")
        v.check("exact_max_cells", self.exact_max_cells, v.Integer(1, 1 << 24))

    @classmethod
    def ideal(cls) -> "Periphery":
        """No quantisation, no noise, no saturation worth speaking of, no IR drop."""
        return cls(dac_bits=0, adc_bits=0, input_scaling="none", output_range=1e30, input_range=1e30,
                   output_noise=0.0)

    def solver_for(self, cells: int) -> str | None:
        """The IR-drop solver used for an array of ``cells`` devices (None: no IR drop)."""
        if self.wire_resistance == 0.0:
            return None
        if self.ir_drop_solver == "auto":
            return "exact" if cells <= self.exact_max_cells else "first-order"
        return self.ir_drop_solver


@njit(cache=True, inline="always")
def _quantize1(v, step, full_scale):
    if v > full_scale:
        v = full_scale
    elif v < -full_scale:
        v = -full_scale
    if step > 0.0:
        v = np.rint(v / step) * step
    return v


def _step(bits: int, full_scale: float) -> float:
    """Level spacing of a symmetric converter: 2^bits − 1 levels k·step, step = full_scale/(2^(bits−1) − 1)
    (0 when bits = 0: continuous)."""
    return full_scale / (2 ** (bits - 1) - 1) if bits else 0.0


@njit(cache=True, parallel=True)
def _dac(x, out, scales, step, full_scale, abs_max):
    batch, n = x.shape
    for b in prange(batch):
        s = 1.0
        if abs_max:
            m = 0.0
            for j in range(n):
                m = max(m, abs(x[b, j]))
            s = m / full_scale if m > 0.0 else 1.0
        scales[b] = s
        for j in range(n):
            out[b, j] = _quantize1(x[b, j] / s, step, full_scale)


@njit(cache=True, parallel=True)
def _adc(y, scales, step, full_scale, noise, key):
    batch, n = y.shape
    for b in prange(batch):
        k = subkey(key, b)
        for i in range(n):
            v = y[b, i]
            if noise > 0.0:
                v += noise * normal(k, i)
            y[b, i] = _quantize1(v, step, full_scale) * scales[b]


def dac(x: np.ndarray, bits: int, full_scale: float, abs_max: bool) -> tuple[np.ndarray, np.ndarray]:
    """Input conversion: (x_converted float32 (batch, n), per-sample scale (batch,)). With ``abs_max`` each
    row is first divided by max|x|/full_scale (the scale, to be multiplied back digitally after the ADC);
    then values clip to ±full_scale and round to the DAC levels."""
    x = np.ascontiguousarray(x, dtype=np.float64)          # one argument type: one compiled kernel
    out = np.empty(x.shape, np.float32)
    scales = np.empty(x.shape[0], np.float64)
    _dac(x, out, scales, _step(bits, full_scale), full_scale, abs_max)
    return out, scales


def adc(y: np.ndarray, scales: np.ndarray, bits: int, full_scale: float, noise: float, key) -> np.ndarray:
    """Output conversion in place: add N(0, noise²) (counter-based draws from ``key``), clip to ±full_scale,
    round to the ADC levels, multiply each row by its input scale. Returns y."""
    _adc(y, scales, _step(bits, full_scale), full_scale, noise, key)
    return y


def quantize(values: np.ndarray, bits: int, full_scale: float) -> np.ndarray:
    """Clip to ±full_scale and round to the converter's levels (NumPy; for tests and plots)."""
    out = np.clip(values, -full_scale, full_scale)
    step = _step(bits, full_scale)
    return np.rint(out / step) * step if step else out
