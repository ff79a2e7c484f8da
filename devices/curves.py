"""Curve-following models: NeuroSim's exponential fit and a measured lookup table.

The state moves along a potentiation or depression curve of normalised conductance x = (w − w_min)/(w_max −
w_min) ∈ [0, 1] versus pulse number: a pulse finds the device's position p on the curve of its direction
(the curve's inverse at the present x), moves it by one pulse and reads the curve there. Cycle-to-cycle
noise is additive, Gaussian with std ``c2c_std``·(w_max − w_min) per pulse (NeuroSim's σ_C2C, a fraction of
the whole conductance range).
"""
from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from . import kernels as K
from . import validation as v
from .base import DeviceModel

# NeuroSim's nonlinearity label NL: the normalised curve g(p) = (1 − e^(−p/a))/(1 − e^(−1/a)), p ∈ [0, 1],
# deviates from the straight line by at most max_p[g(p) − p] = 0.07·√2·|NL|. This reproduces NeuroSim's
# tabulated a(NL) (formula.cpp, getParamA; MLP+NeuroSim V3) to 1e-5; the table itself states no rule.
_NL_DEVIATION = 0.07 * np.sqrt(2.0)
NL_MAX = 9.0
MAX_TABLE = 100_000       # points per branch of a piecewise table


def _max_deviation(a: np.ndarray) -> np.ndarray:
    """max_p [g(p) − p] of the normalised NeuroSim curve with normalised constant a > 0."""
    d = -np.expm1(-1.0 / a)                      # 1 − e^(−1/a)
    p = np.clip(-a * np.log(a * d), 0.0, 1.0)    # where g'(p) = 1
    return -np.expm1(-p / a) / d - p


@functools.lru_cache(maxsize=1)
def _nl_table() -> tuple[np.ndarray, np.ndarray]:
    """|NL| → log(a) on a fine grid, by bisection (vectorised), for interpolation."""
    nl = np.linspace(0.002, NL_MAX, 4500)
    lo, hi = np.full_like(nl, np.log(1e-4)), np.full_like(nl, np.log(1e6))
    target = _NL_DEVIATION * nl
    for _ in range(80):                          # deviation decreases with a
        mid = 0.5 * (lo + hi)
        big = _max_deviation(np.exp(mid)) > target
        lo, hi = np.where(big, mid, lo), np.where(big, hi, mid)
    return nl, 0.5 * (lo + hi)


def nonlinearity_to_a(nl, pmax) -> np.ndarray:
    """NeuroSim's curve constant A [pulses] for nonlinearity label(s) ``nl`` and ``pmax`` pulses.

    The sign follows the label (negative: convex curve); |nl| below 0.002 is linear, encoded as A = 0.
    """
    nl = np.asarray(nl, dtype=float)
    grid, log_a = _nl_table()
    mag = np.abs(nl)
    if np.any(mag > NL_MAX):
        raise ValueError(f"nonlinearity labels must be within ±{NL_MAX}, got {nl[mag > NL_MAX].ravel()[0]}")
    a = np.exp(np.interp(mag, grid, log_a)) * pmax
    return np.where(mag < grid[0], 0.0, np.sign(nl) * a)


def curve_x(p, a, pmax):
    """Normalised conductance at pulse p of a NeuroSim curve (NumPy twin of ``kernels._curve_x``)."""
    p = np.asarray(p, float)
    return p / pmax if a == 0.0 else np.expm1(-p / a) / np.expm1(-pmax / a)


def curve_p(x, a, pmax):
    """Pulse number at which a NeuroSim curve reaches normalised conductance x."""
    x = np.asarray(x, float)
    return x * pmax if a == 0.0 else -a * np.log1p(x * np.expm1(-pmax / a))


@dataclass(frozen=True, kw_only=True)
class NeuroSim(DeviceModel):
    """NeuroSim's nonlinear model (Chen, Peng & Yu, IEEE TCAD 2018, Eqs. 8–10)::

        potentiation  G(P) = B·(1 − e^(−P/A_LTP)) + G_min,   B = (G_max − G_min)/(1 − e^(−P_max/A_LTP))
        depression    the same form with A_LTD, walked backwards (P → P − 1)

    A from the nonlinearity labels (``nonlinearity_to_a``); a negative LTD label gives the usual mirrored
    curve (large steps near G_max), a positive one the LTP shape. Defaults: NeuroSim's "targeted eNVM"
    (64 levels, NL 1/−1, on/off 50, σ_C2C 2 %, R_on 200 kΩ).

    Attributes:
        n_states: pulses from G_min to G_max on the potentiation curve (NeuroSim's maxNumLevelLTP).
        n_states_ltd: pulses from G_max to G_min on the depression curve (0: same as n_states).
        nonlinearity_ltp, nonlinearity_ltd: NeuroSim nonlinearity labels, |NL| <= 9.
        nonlinearity_dtod: device-to-device std of each label (label units; independent draws for LTP/LTD).
        c2c_std: cycle-to-cycle std of each pulse's conductance change, as a fraction of G_max − G_min.
    """

    name: ClassVar[str] = "neurosim"
    model_id: ClassVar[int] = K.NEUROSIM
    extra_rows: ClassVar[dict] = {"A_ltp": K.P0, "A_ltd": K.P1, "pmax_ltp": K.P2, "pmax_ltd": K.P3}

    w_min: float = -1.0
    w_max: float = 1.0
    w_min_dtod: float = 0.0
    w_max_dtod: float = 0.0
    g_max: float = 5e-6
    on_off_ratio: float = 50.0
    n_states: int = 64
    n_states_ltd: int = 0
    nonlinearity_ltp: float = 1.0
    nonlinearity_ltd: float = -1.0
    nonlinearity_dtod: float = 0.0
    c2c_std: float = 0.02

    def _check(self) -> None:
        if isinstance(self.n_states, bool) or not isinstance(self.n_states, int) or self.n_states < 1:
            raise ValueError(f"n_states must be an integer >= 1 (pulses from G_min to G_max), got {self.n_states!r}")
        if isinstance(self.n_states_ltd, bool) or not isinstance(self.n_states_ltd, int) or self.n_states_ltd < 0:
            raise ValueError(f"n_states_ltd must be 0 (same as n_states) or an integer >= 1, got {self.n_states_ltd!r}")
        v.in_range("nonlinearity_ltp", self.nonlinearity_ltp, -NL_MAX, NL_MAX)
        v.in_range("nonlinearity_ltd", self.nonlinearity_ltd, -NL_MAX, NL_MAX)
        v.in_range("nonlinearity_dtod", self.nonlinearity_dtod, 0.0, NL_MAX)
        v.in_range("c2c_std", self.c2c_std, 0.0, 1.0)
        super()._check()

    @property
    def pmax(self) -> tuple[int, int]:
        """(pulses LTP, pulses LTD) for a full sweep."""
        return self.n_states, self.n_states_ltd or self.n_states

    def _kernel_states(self) -> int:
        return 0            # levels are the curve's own points

    def full_sweep_pulses(self) -> int:
        return max(self.pmax)

    def levels_label(self) -> str:
        p_ltp, p_ltd = self.pmax
        return f"{p_ltp}" if p_ltp == p_ltd else f"{p_ltp}/{p_ltd}"

    def nonlinearity_label(self) -> str:
        return f"NL {self.nonlinearity_ltp:g}/{self.nonlinearity_ltd:g}"

    def unit(self, field: str) -> str:
        return "pulses G_min→G_max" if field == "n_states" else super().unit(field)

    def _c2c(self) -> float:
        return self.c2c_std

    def nominal_a(self) -> tuple[float, float]:
        p_ltp, p_ltd = self.pmax
        return float(nonlinearity_to_a(self.nonlinearity_ltp, p_ltp)), \
            float(nonlinearity_to_a(self.nonlinearity_ltd, p_ltd))

    def nominal_step(self) -> float:
        a, _ = self.nominal_a()
        x0 = -self.w_min / (self.w_max - self.w_min)
        p = curve_p(x0, a, self.pmax[0])
        return float(curve_x(min(p + 1, self.pmax[0]), a, self.pmax[0]) - x0) * (self.w_max - self.w_min)

    def _sample_model(self, values, rng) -> None:
        n = values.shape[1]
        p_ltp, p_ltd = self.pmax
        nl_ltp = self.nonlinearity_ltp + self.nonlinearity_dtod * rng.standard_normal(n)
        nl_ltd = self.nonlinearity_ltd + self.nonlinearity_dtod * rng.standard_normal(n)
        values[K.P0] = nonlinearity_to_a(np.clip(nl_ltp, -NL_MAX, NL_MAX), p_ltp)
        values[K.P1] = nonlinearity_to_a(np.clip(nl_ltd, -NL_MAX, NL_MAX), p_ltd)
        values[K.P2], values[K.P3] = p_ltp, p_ltd
        values[K.S_UP] = values[K.S_DOWN] = 1.0

    def expected(self, n, sign, w0=0.0):
        a_ltp, a_ltd = self.nominal_a()
        a, pmax = (a_ltp, self.pmax[0]) if sign > 0 else (a_ltd, self.pmax[1])
        span = self.w_max - self.w_min
        p0 = curve_p((w0 - self.w_min) / span, a, pmax)
        p = np.clip(p0 + sign * np.arange(n + 1), 0, pmax)
        return self.w_min + curve_x(p, a, pmax) * span


def _ag_a_si_table():
    """Default table: the NeuroSim fit of Ag:a-Si (Jo et al., Nano Lett. 2010; NL 2.4/−4.88, 97/100
    pulses, 3.08–38.5 nS), sampled at 13 points per direction."""
    g_max, g_min = 3.8462e-8, 3.0769e-9
    up_p = np.linspace(0, 97, 13)
    dn_p = np.linspace(0, 100, 13)
    a_up = float(nonlinearity_to_a(2.4, 97))
    a_dn = float(nonlinearity_to_a(-4.88, 100))
    up_g = g_min + curve_x(up_p, a_up, 97) * (g_max - g_min)
    dn_g = g_min + curve_x(100 - dn_p, a_dn, 100) * (g_max - g_min)
    return tuple(np.round(up_p, 6)), tuple(float(f"{g:.5g}") for g in up_g), \
        tuple(np.round(dn_p, 6)), tuple(float(f"{g:.5g}") for g in dn_g)


_DEFAULT_TABLE = _ag_a_si_table()


@dataclass(frozen=True, kw_only=True)
class Piecewise(DeviceModel):
    """Measured pulse response as a lookup table, linearly interpolated.

    ``pulses_up``/``conductance_up``: potentiation, pulse number → conductance [S], conductance strictly
    rising; ``pulses_down``/``conductance_down``: depression from the top, conductance strictly falling
    (empty: depression retraces the potentiation curve). A pulse moves the device one pulse number (times a
    per-device gain 1 + step_dtod·ξ) along the curve of its direction. ``g_max``/``on_off_ratio`` default
    to the table's extremes. Default table: NeuroSim's fit of Ag:a-Si (Jo et al., Nano Lett. 2010).
    """

    name: ClassVar[str] = "piecewise"
    step_fields: ClassVar[tuple] = ("g_max", "on_off_ratio", "pulses_up", "conductance_up")
    model_id: ClassVar[int] = K.PIECEWISE

    w_min: float = -1.0
    w_max: float = 1.0
    w_min_dtod: float = 0.0
    w_max_dtod: float = 0.0
    g_max: float = None
    on_off_ratio: float = None
    pulses_up: tuple = _DEFAULT_TABLE[0]
    conductance_up: tuple = _DEFAULT_TABLE[1]
    pulses_down: tuple = _DEFAULT_TABLE[2]
    conductance_down: tuple = _DEFAULT_TABLE[3]
    step_dtod: float = 0.0
    c2c_std: float = 0.0

    def __post_init__(self):
        for name in ("pulses_up", "conductance_up", "pulses_down", "conductance_down"):
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                value = value.tolist()
            if not isinstance(value, (list, tuple)) or len(value) > MAX_TABLE or not all(
                    isinstance(x, numbers.Real) and not isinstance(x, bool) for x in value):
                raise ValueError(f"{name} must be a list of at most {MAX_TABLE} numbers, got "
                                 f"{str(value)[:80]}") from None
            object.__setattr__(self, name, tuple(float(x) for x in value))
        g_all = self.conductance_up + self.conductance_down
        if self.g_max is None and g_all:
            object.__setattr__(self, "g_max", max(g_all))
        if self.on_off_ratio is None and g_all and min(g_all) > 0:
            object.__setattr__(self, "on_off_ratio", max(g_all) / min(g_all))
        super().__post_init__()

    def nonlinearity_label(self) -> str:
        return "measured table"

    def _check(self) -> None:
        self._check_table("up", self.pulses_up, self.conductance_up, +1, required=True)
        self._check_table("down", self.pulses_down, self.conductance_down, -1, required=False)
        v.in_range("step_dtod", self.step_dtod, 0.0, 10.0)
        v.in_range("c2c_std", self.c2c_std, 0.0, 1.0)
        super()._check()
        tol = 1e-9 * self.g_max
        g_all = np.array(self.conductance_up + self.conductance_down)
        if g_all.min() < self.g_min - tol or g_all.max() > self.g_max + tol:
            raise ValueError(f"table conductances [{g_all.min():.4g}, {g_all.max():.4g}] S lie outside "
                             f"[g_min, g_max] = [{self.g_min:.4g}, {self.g_max:.4g}] S")

    @staticmethod
    def _check_table(direction, pulses, conductance, slope, required):
        pn, gn = f"pulses_{direction}", f"conductance_{direction}"
        if len(pulses) != len(conductance):
            raise ValueError(f"{gn} must have as many values as {pn} ({len(pulses)}), got {len(conductance)}")
        if not pulses and not required:
            return
        if len(pulses) < 2:
            raise ValueError(f"{pn} needs at least 2 points, got {len(pulses)}")
        p, g = np.array(pulses), np.array(conductance)
        if not np.all(np.isfinite(p)) or not np.all(np.isfinite(g)) or g.min() <= 0:
            raise ValueError(f"{pn}/{gn} must be finite with conductances > 0 S")
        if p[0] != 0 or np.any(np.diff(p) <= 0):
            raise ValueError(f"{pn} must start at 0 and strictly increase, got {tuple(p)}")
        bad = np.nonzero(np.diff(g) * slope <= 0)[0]
        if bad.size:
            word = "rise" if slope > 0 else "fall"
            raise ValueError(f"{gn} must strictly {word} with pulse number; it does not at index {bad[0] + 1} "
                             f"({g[bad[0]]:.4g} → {g[bad[0] + 1]:.4g} S)")

    def _tables(self):
        """(p_up, x_up, p_down, x_down) with x normalised to the nominal range."""
        span = self.g_max - self.g_min
        p_up, x_up = np.array(self.pulses_up), (np.array(self.conductance_up) - self.g_min) / span
        if self.pulses_down:
            p_dn, x_dn = np.array(self.pulses_down), (np.array(self.conductance_down) - self.g_min) / span
        else:   # retrace the potentiation curve
            p_dn, x_dn = p_up[-1] - p_up[::-1], x_up[::-1]
        return p_up, x_up, p_dn, x_dn

    def _consts(self):
        p_up, x_up, p_dn, x_dn = self._tables()
        return np.concatenate([[len(p_up), len(p_dn)], p_up, x_up, p_dn, x_dn])

    def _c2c(self) -> float:
        return self.c2c_std

    def _sample_model(self, values, rng) -> None:
        values[K.S_UP] = values[K.S_DOWN] = np.abs(1.0 + self.step_dtod * rng.standard_normal(values.shape[1]))

    def nominal_step(self) -> float:
        e = self.expected(1, 1)
        return float(e[1] - e[0])

    def expected(self, n, sign, w0=0.0):
        p_up, x_up, p_dn, x_dn = self._tables()
        span = self.w_max - self.w_min
        x0 = (w0 - self.w_min) / span
        if sign > 0:
            p = np.minimum(np.interp(x0, x_up, p_up) + np.arange(n + 1), p_up[-1])
            x = np.interp(p, p_up, x_up)
        else:
            p = np.minimum(np.interp(x0, x_dn[::-1], p_dn[::-1]) + np.arange(n + 1), p_dn[-1])
            x = np.interp(p, p_dn, x_dn)
        return self.w_min + x * span
