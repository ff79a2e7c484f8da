"""aihwkit's pulsed step models: constant-step, linear-step, soft-bounds, exp-step and pow-step.

Parameter names, meanings and defaults equal aihwkit's (``PulsedDevice`` and its subclasses in
``aihwkit.simulator.configs.devices``; update equations from its ``rpucuda`` sources), so configs port across.
Device-to-device sampling follows aihwkit: per device a gain g = 1 + dw_min_dtod·ξ and an asymmetry draw
r = up_down_dtod·ξ give

    scale_up   = dw_min · (g + min(up_down, 0) + r)
    scale_down = dw_min · (g − max(up_down, 0) − r)          (absolute values taken)

so a positive ``up_down`` shrinks only depression steps. Cycle-to-cycle noise multiplies each pulse's step
by (1 + dw_min_std·ξ), ξ fresh per pulse; the weight is clipped to the device's bounds after every pulse.
Not modelled from aihwkit's PulsedDevice: reset, diffusion, lifetime (decay), perfect_bias. Write noise:
``DeviceModel.write_noise_std``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numba

import numpy as np

from . import kernels as K
from . import validation as v
from .base import DeviceModel


@dataclass(frozen=True, kw_only=True)
class PulsedModel(DeviceModel):
    """aihwkit ``PulsedDevice`` fields (weights in normalised units).

    Attributes:
        dw_min: mean weight change of one pulse at w = 0.
        dw_min_dtod: relative device-to-device spread of dw_min.
        dw_min_std: relative cycle-to-cycle std of each pulse's step.
        up_down: up/down asymmetry in units of dw_min (> 0: depression steps smaller).
        up_down_dtod: device-to-device spread of up_down.
    """

    dw_min: float = 0.001
    dw_min_dtod: float = 0.3
    dw_min_std: float = 0.3
    up_down: float = 0.0
    up_down_dtod: float = 0.01

    def _check(self) -> None:
        v.in_range("dw_min", self.dw_min, 1e-9, 1e6)      # 5e-324 divided by zero in pow-step
        v.in_range("dw_min_dtod", self.dw_min_dtod, 0.0, 10.0)
        v.in_range("dw_min_std", self.dw_min_std, 0.0, 10.0)
        v.in_range("up_down", self.up_down, -1.0, 1.0, lo_open=True, hi_open=True)
        v.in_range("up_down_dtod", self.up_down_dtod, 0.0, 10.0)
        super()._check()

    def _c2c(self) -> float:
        return self.dw_min_std

    def nominal_scales(self) -> tuple[float, float]:
        """(scale_up, scale_down) of the nominal device."""
        return self.dw_min * (1.0 + min(self.up_down, 0.0)), self.dw_min * (1.0 - max(self.up_down, 0.0))

    def nominal_step(self) -> float:
        return self.nominal_scales()[0]

    def write_noise_unit(self) -> float:
        return self.dw_min

    def _sample_scales(self, values, rng) -> None:
        n = values.shape[1]
        gain = 1.0 + self.dw_min_dtod * rng.standard_normal(n)
        r = self.up_down_dtod * rng.standard_normal(n)
        values[K.S_UP] = np.abs(self.dw_min * (gain + min(self.up_down, 0.0) + r))
        values[K.S_DOWN] = np.abs(self.dw_min * (gain - max(self.up_down, 0.0) - r))

    def _sample_model(self, values, rng) -> None:
        self._sample_scales(values, rng)


@dataclass(frozen=True, kw_only=True)
class ConstantStep(PulsedModel):
    """Constant step: each pulse changes w by ±scale·(1 + dw_min_std·ξ), hard bounds (aihwkit ConstantStepDevice)."""

    name: ClassVar[str] = "constant-step"
    model_id: ClassVar[int] = K.CONSTANT

    def nonlinearity_label(self) -> str:
        return "linear"

    def expected(self, n, sign, w0=0.0):
        s_up, s_down = self.nominal_scales()
        k = np.arange(n + 1)
        return np.clip(w0 + (s_up * k if sign > 0 else -s_down * k), self.w_min, self.w_max)


@dataclass(frozen=True, kw_only=True)
class LinearStep(PulsedModel):
    """Step changing linearly with the weight (aihwkit LinearStepDevice)::

        up:   Δw = +(scale_up   + a_up·w)·(1 + dw_min_std·ξ),   a_up = −γ_up·scale_up / w_max
        down: Δw = −(scale_down + a_dn·w)·(1 + dw_min_std·ξ),   a_dn = −γ_down·scale_down / w_min

    γ is the relative decrease of the step at the bound (γ = 1: soft bounds). γ per device =
    |gamma + gamma_dtod·ξ|. ``mean_bound_reference``: slopes refer to the nominal bounds (True) or the
    device's own. ``mult_noise`` False makes the noise additive on scale only.
    """

    name: ClassVar[str] = "linear-step"
    model_id: ClassVar[int] = K.LINEAR
    extra_rows: ClassVar[dict] = {"slope_up": K.P0, "slope_down": K.P1}

    def nonlinearity_label(self) -> str:
        return f"γ {self.gamma_up:g}/{self.gamma_down:g}"

    gamma_up: float = 0.0
    gamma_down: float = 0.0
    gamma_up_dtod: float = 0.05
    gamma_down_dtod: float = 0.05
    mean_bound_reference: bool = True
    mult_noise: bool = True

    def _check(self) -> None:
        v.in_range("gamma_up", self.gamma_up, 0.0, 100.0)
        v.in_range("gamma_down", self.gamma_down, 0.0, 100.0)
        v.in_range("gamma_up_dtod", self.gamma_up_dtod, 0.0, 100.0)
        v.in_range("gamma_down_dtod", self.gamma_down_dtod, 0.0, 100.0)
        for name in ("mean_bound_reference", "mult_noise"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        super()._check()

    def _consts(self):
        return np.array([1.0 if self.mult_noise else 0.0])

    def _gammas(self, n, rng):
        return (np.abs(self.gamma_up + self.gamma_up_dtod * rng.standard_normal(n)),
                np.abs(self.gamma_down + self.gamma_down_dtod * rng.standard_normal(n)))

    def _sample_model(self, values, rng) -> None:
        self._sample_scales(values, rng)
        g_up, g_down = self._gammas(values.shape[1], rng)
        ref_up = self.w_max if self.mean_bound_reference else values[K.W_MAX]
        ref_dn = self.w_min if self.mean_bound_reference else values[K.W_MIN]
        with np.errstate(divide="ignore", invalid="ignore"):     # a bound at 0 has no slope (aihwkit)
            values[K.P0] = np.where(ref_up != 0, -g_up * values[K.S_UP] / ref_up, 0.0)
            values[K.P1] = np.where(ref_dn != 0, -g_down * values[K.S_DOWN] / ref_dn, 0.0)

    def expected(self, n, sign, w0=0.0):
        # w_{k+1} = (1 + a)·w_k + s is affine: w_k = w* + (w0 − w*)(1 + a)^k, w* = −s/a; clipping at the
        # bound is absorbing because the map is increasing and does not point back inside.
        s_up, s_down = self.nominal_scales()
        k = np.arange(n + 1)
        if sign > 0:
            a, s = (-self.gamma_up * s_up / self.w_max if self.w_max else 0.0), s_up
        else:
            a, s = (self.gamma_down * s_down / self.w_min if self.w_min else 0.0), -s_down  # w ← (1 − a_dn)w − s
        w = w0 + s * k if a == 0.0 else -s / a + (w0 + s / a) * (1.0 + a) ** k
        return np.clip(w, self.w_min, self.w_max)


@dataclass(frozen=True, kw_only=True)
class SoftBounds(LinearStep):
    """Soft bounds: the step shrinks linearly to zero at the device's own bounds (aihwkit SoftBoundsDevice:
    LinearStep with γ = 1, no γ spread, per-device bound reference)::

        up:   Δw = +scale_up·(1 − w/w_max,dev)·(1 + dw_min_std·ξ)
        down: Δw = −scale_down·(1 − w/w_min,dev)·(1 + dw_min_std·ξ)
    """

    name: ClassVar[str] = "soft-bounds"
    gamma_up: float = 1.0
    gamma_down: float = 1.0
    gamma_up_dtod: float = 0.0
    gamma_down_dtod: float = 0.0
    mean_bound_reference: bool = False

    def nonlinearity_label(self) -> str:
        return "soft bounds"

    def _check(self) -> None:
        fixed = {"gamma_up": 1.0, "gamma_down": 1.0, "gamma_up_dtod": 0.0, "gamma_down_dtod": 0.0,
                 "mean_bound_reference": False}
        for key, val in fixed.items():
            if getattr(self, key) != val:
                raise ValueError(f"{key} is fixed to {val} for soft-bounds (use linear-step to change it), "
                                 f"got {getattr(self, key)}")
        super()._check()


@dataclass(frozen=True, kw_only=True)
class ExpStep(PulsedModel):
    """Exponential step (aihwkit ExpStepDevice), with z = 2·a·w/(w_max,dev − w_min,dev) + b::

        up:   Δw = +scale_up·max(1 − A_up·e^(γ_up·z), 0)·(1 + dw_min_std·ξ)
        down: Δw = −scale_down·max(1 − A_down·e^(−γ_down·z), 0)·(1 + dw_min_std·ξ)

    With dw_min_std > 0 and dw_min_std_add or dw_min_std_slope ≠ 0 the noise is instead additive:
    Δw + dw_min_std·(|Δw| + dw_min_std_add + dw_min_std_slope·|w|)·ξ. Defaults are aihwkit's (a fit to a
    measured device).
    """

    name: ClassVar[str] = "exp-step"
    model_id: ClassVar[int] = K.EXP
    step_fields: ClassVar[tuple] = ("A_up", "gamma_up", "a", "b")

    def nonlinearity_label(self) -> str:
        return "exponential"

    A_up: float = 0.00081
    A_down: float = 0.36833
    gamma_up: float = 12.44625
    gamma_down: float = 12.78785
    a: float = 0.244
    b: float = 0.2425
    dw_min_std_add: float = 0.0
    dw_min_std_slope: float = 0.0

    def _check(self) -> None:
        v.in_range("A_up", self.A_up, -1e6, 1e6)
        v.in_range("A_down", self.A_down, -1e6, 1e6)
        v.in_range("gamma_up", self.gamma_up, 0.0, 1000.0)
        v.in_range("gamma_down", self.gamma_down, 0.0, 1000.0)
        v.in_range("a", self.a, -1000.0, 1000.0)
        v.in_range("b", self.b, -1000.0, 1000.0)
        v.non_negative("dw_min_std_add", self.dw_min_std_add)
        v.non_negative("dw_min_std_slope", self.dw_min_std_slope)
        super()._check()

    def _consts(self):
        return np.array([self.A_up, self.A_down, self.gamma_up, self.gamma_down, self.a, self.b,
                         self.dw_min_std_add, self.dw_min_std_slope])

    def _shape(self, w, sign):
        z = 2.0 * self.a * w / (self.w_max - self.w_min) + self.b
        if sign > 0:
            return np.maximum(1.0 - self.A_up * np.exp(self.gamma_up * z), 0.0)
        return np.maximum(1.0 - self.A_down * np.exp(-self.gamma_down * z), 0.0)

    def nominal_step(self) -> float:
        return self.nominal_scales()[0] * float(self._shape(0.0, 1))

    def expected(self, n, sign, w0=0.0):
        # The map has no closed form for discrete pulses: this is its plain NumPy recursion. The
        # continuum limit has one (``continuum_pulses``), against which tests check this recursion.
        s_up, s_down = self.nominal_scales()
        if sign > 0:
            return _exp_recursion(int(n), float(w0), s_up, self.A_up, self.gamma_up, self.a, self.b,
                                  self.w_min, self.w_max)
        return _exp_recursion(int(n), float(w0), -s_down, self.A_down, -self.gamma_down, self.a, self.b,
                              self.w_min, self.w_max)

    def continuum_pulses(self, w, sign, w0=0.0):
        """Pulses needed to go from w0 to w in the small-step limit dw/dn = ±s·(1 − A·e^(±γ·z(w))).

        With c = 2a/(w_max − w_min): n(w) = [w − ln|1 − A·e^(κ(c·w + b))|/(κ·c)] / s evaluated from w0,
        κ = γ_up (potentiation) or −γ_down (depression), s the signed scale.
        """
        c = 2.0 * self.a / (self.w_max - self.w_min)
        s_up, s_down = self.nominal_scales()
        s, A, kap = (s_up, self.A_up, self.gamma_up) if sign > 0 else (-s_down, self.A_down, -self.gamma_down)

        def F(x):
            return x - np.log(np.abs(1.0 - A * np.exp(kap * (c * x + self.b)))) / (kap * c)

        return (F(np.asarray(w, float)) - F(w0)) / s


@dataclass(frozen=True, kw_only=True)
class PowStep(PulsedModel):
    """Power step (aihwkit PowStepDevice), R = w_max,dev − w_min,dev::

        up:   Δw = +scale_up·((w_max,dev − w)/R)^γ_up·(1 + dw_min_std·ξ)
        down: Δw = −scale_down·((w − w_min,dev)/R)^γ_down·(1 + dw_min_std·ξ)

    Exponents per device as the scales: g = 1 + pow_gamma_dtod·ξ, r = pow_up_down_dtod·ξ,
    γ_up = pow_gamma·(g + min(pow_up_down, 0) + r), γ_down = pow_gamma·(g − max(pow_up_down, 0) − r).
    """

    name: ClassVar[str] = "pow-step"
    model_id: ClassVar[int] = K.POW
    extra_rows: ClassVar[dict] = {"gamma_up": K.P0, "gamma_down": K.P1}

    def nonlinearity_label(self) -> str:
        return f"power γ {self.pow_gamma:g}"

    pow_gamma: float = 1.0
    pow_gamma_dtod: float = 0.1
    pow_up_down: float = 0.0
    pow_up_down_dtod: float = 0.0

    def _check(self) -> None:
        v.in_range("pow_gamma", self.pow_gamma, 0.0, 100.0, lo_open=True)
        v.in_range("pow_gamma_dtod", self.pow_gamma_dtod, 0.0, 10.0)
        v.in_range("pow_up_down", self.pow_up_down, -1.0, 1.0, lo_open=True, hi_open=True)
        v.in_range("pow_up_down_dtod", self.pow_up_down_dtod, 0.0, 10.0)
        super()._check()

    def _gammas(self):
        return (self.pow_gamma * (1.0 + min(self.pow_up_down, 0.0)),
                self.pow_gamma * (1.0 - max(self.pow_up_down, 0.0)))

    def nominal_step(self) -> float:
        return self.nominal_scales()[0] * (self.w_max / (self.w_max - self.w_min)) ** self._gammas()[0]

    def _sample_model(self, values, rng) -> None:
        self._sample_scales(values, rng)
        n = values.shape[1]
        g = 1.0 + self.pow_gamma_dtod * rng.standard_normal(n)
        r = self.pow_up_down_dtod * rng.standard_normal(n)
        values[K.P0] = np.abs(self.pow_gamma * (g + min(self.pow_up_down, 0.0) + r))
        values[K.P1] = np.abs(self.pow_gamma * (g - max(self.pow_up_down, 0.0) - r))

    def expected(self, n, sign, w0=0.0):
        # No closed form for discrete pulses: plain recursion; ``continuum`` is the closed-form limit.
        s_up, s_down = self.nominal_scales()
        g_up, g_down = self._gammas()
        return _pow_recursion(int(n), int(sign), float(w0), s_up, s_down, g_up, g_down, self.w_min,
                              self.w_max)

    def continuum(self, n, sign, w0=0.0):
        """Closed-form small-step limit: with x the distance to the approached bound over R,
        dx/dn = −(s/R)·x^γ ⇒ x(n) = (x0^(1−γ) − (1−γ)·s·n/R)^(1/(1−γ)) (γ ≠ 1), x0·e^(−s·n/R) (γ = 1)."""
        s_up, s_down = self.nominal_scales()
        g_up, g_down = self._gammas()
        R = self.w_max - self.w_min
        s, g = (s_up, g_up) if sign > 0 else (s_down, g_down)
        x0 = (self.w_max - w0) / R if sign > 0 else (w0 - self.w_min) / R
        n = np.asarray(n, float)
        if abs(g - 1.0) < 1e-12:
            x = x0 * np.exp(-s * n / R)
        else:
            x = np.maximum(x0 ** (1 - g) - (1 - g) * s * n / R, 0.0) ** (1 / (1 - g))
        return self.w_max - x * R if sign > 0 else self.w_min + x * R


# The discrete recursions of exp-step and pow-step (``expected``), compiled: a fit evaluates them many times on
# curves of up to 10⁵ pulses (devices/fit.py), which a Python loop makes minutes long.
@numba.njit(cache=True)
def _exp_recursion(n, w0, s, A, gamma, a, b, w_min, w_max):
    out = np.empty(n + 1)
    out[0] = w = w0
    for k in range(1, n + 1):
        z = 2.0 * a * w / (w_max - w_min) + b
        w = w + s * max(1.0 - A * math.exp(gamma * z), 0.0)
        w = min(max(w, w_min), w_max)
        out[k] = w
    return out


@numba.njit(cache=True)
def _pow_recursion(n, sign, w0, s_up, s_down, g_up, g_down, w_min, w_max):
    rng_w = w_max - w_min
    out = np.empty(n + 1)
    out[0] = w = w0
    for k in range(1, n + 1):
        if sign > 0:
            w = w + s_up * ((w_max - w) / rng_w) ** g_up
        else:
            w = w - s_down * ((w - w_min) / rng_w) ** g_down
        w = min(max(w, w_min), w_max)
        out[k] = w
    return out
