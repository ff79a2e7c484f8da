"""The device-model base class and the per-device parameter arrays it samples.

A device's state is its weight ``w`` in normalised units, bounded by ``[w_min, w_max]`` (per device after
device-to-device variation). The nominal range maps linearly onto conductance::

    G = g_min + (w - w_min) / (w_max - w_min) · (g_max - g_min),     g_min = g_max / on_off_ratio   [S]

so ``w_min`` ↔ ``g_min`` and ``w_max`` ↔ ``g_max``. Crossbar tiles pair two devices per weight (G+ − G−).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from . import kernels as K
from . import validation as v
from .rng import check_random_state, kernel_key


@dataclass(frozen=True)
class DeviceParameters:
    """Per-device parameter arrays sampled from a model (device-to-device variation), ready for kernels.

    ``values[row, cell]`` (rows in ``devices.kernels``), stored row by row (C order: a kernel streams only the
    rows its model reads, e.g. 5 of the 12 for a constant-step pulse; stored cell by cell, every pulse pulled in
    the whole 96-byte record of its device, and the MNIST epoch's list walk took 1.57 s instead of 1.20 s),
    ``consts`` the model-wide constants; index by name, e.g. ``params["w_max"]``, to get an array of ``shape``.
    """

    model_id: int
    n_states: int
    values: np.ndarray
    consts: np.ndarray
    shape: tuple
    names: dict

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise KeyError(f"unknown device parameter {name!r}; known: {', '.join(self.names)}")
        return self.values[self.names[name]].reshape(self.shape)

    @property
    def size(self) -> int:
        return self.values.shape[1]


_COMMON_ROWS = {"w_min": K.W_MIN, "w_max": K.W_MAX, "scale_up": K.S_UP, "scale_down": K.S_DOWN,
                "c2c_std": K.C2C, "stuck": K.STUCK, "drift_nu": K.NU, "write_noise": K.WNOISE}


@dataclass(frozen=True, kw_only=True)
class DeviceModel:
    """Fields shared by every model.

    Attributes:
        w_min, w_max: nominal weight bounds (normalised units); w_min <= 0 <= w_max, w_min < w_max.
        w_min_dtod, w_max_dtod: relative device-to-device spread of the bounds, w_b·(1 + dtod·ξ).
        g_max: conductance at w_max [S].
        on_off_ratio: g_max / g_min (>= 1).
        n_states: number of conductance levels, evenly spaced over a device's bounds (0: continuous).
        stuck_min_frac, stuck_max_frac: fractions of devices stuck at g_min / g_max (fixed per device).
        read_noise: relative std of the conductance at each read (Gaussian, cycle to cycle).
        write_noise_std: std of the write noise in units of the step (``write_noise_unit``: dw_min for
            aihwkit's models): each pulse leaves the device's apparent (read) state at its stored state plus a
            fresh N(0, (write_noise_std·unit)²) draw, kept within the device's bounds; the stored state, which
            later pulses act on, evolves without it (aihwkit's write noise / persistent weight).
        drift_nu: mean power-law drift exponent ν, G(t) = G(t0)·(t/t0)^(−ν) (0: no drift).
        drift_nu_dtod: device-to-device std of ν (absolute).
        drift_t0: reference time t0 [s] at which the programmed conductance is read.
        pulse_energy: energy per write pulse [J] (for cost accounting; 0: unknown).
        pulse_width: duration of one write pulse [s] (update latency; 0: unknown).
        pulse_voltage: amplitude of a potentiation pulse [V] (0: unknown; informative).
    """

    name: ClassVar[str] = ""
    model_id: ClassVar[int] = -1
    extra_rows: ClassVar[dict] = {}
    #: fields besides the bounds that shape the step at w = 0 (named when that step is 0)
    step_fields: ClassVar[tuple] = ()

    w_min: float = -0.6
    w_max: float = 0.6
    w_min_dtod: float = 0.3
    w_max_dtod: float = 0.3
    g_max: float = 25e-6
    on_off_ratio: float = 100.0
    n_states: int = 0
    stuck_min_frac: float = 0.0
    stuck_max_frac: float = 0.0
    read_noise: float = 0.0
    write_noise_std: float = 0.0
    drift_nu: float = 0.0
    drift_nu_dtod: float = 0.0
    drift_t0: float = 20.0
    pulse_energy: float = 0.0
    pulse_width: float = 0.0
    pulse_voltage: float = 0.0

    # ---- validation ---------------------------------------------------------------------------------
    def __post_init__(self):
        self._check()

    def _check(self) -> None:
        # bounds: 0 or at least 1e-6 away from it — kernels divide by w_max and by w_max − w_min, and a
        # denormal bound (5e-324) overflowed them
        v.check("w_min", self.w_min, v.Either(v.Zero(), v.Real(-1e6, -1e-6)))
        v.check("w_max", self.w_max, v.Either(v.Zero(), v.Real(1e-6, 1e6)))
        v.ordered("w_min", self.w_min, "w_max", self.w_max)
        v.in_range("w_min_dtod", self.w_min_dtod, 0.0, 10.0)
        v.in_range("w_max_dtod", self.w_max_dtod, 0.0, 10.0)
        v.in_range("g_max", self.g_max, 1e-15, 1.0)          # siemens: 1 fS to 1 S, as devices fit accepts
        v.in_range("on_off_ratio", self.on_off_ratio, 1.0, 1e12, lo_open=True)   # 1: g_min = g_max, no range
        v.levels("n_states", self.n_states)
        v.in_range("stuck_min_frac", self.stuck_min_frac, 0.0, 1.0)
        v.in_range("stuck_max_frac", self.stuck_max_frac, 0.0, 1.0)
        if self.stuck_min_frac + self.stuck_max_frac > 1.0:
            raise ValueError("stuck_min_frac + stuck_max_frac must be <= 1, got "
                             f"{self.stuck_min_frac} + {self.stuck_max_frac}")
        v.in_range("read_noise", self.read_noise, 0.0, 10.0)
        v.in_range("write_noise_std", self.write_noise_std, 0.0, 1000.0)
        v.in_range("drift_nu", self.drift_nu, 0.0, 1.0)
        v.in_range("drift_nu_dtod", self.drift_nu_dtod, 0.0, 1.0)
        v.positive("drift_t0", self.drift_t0)
        v.in_range("pulse_energy", self.pulse_energy, 0.0, 1.0)
        v.in_range("pulse_width", self.pulse_width, 0.0, 10.0)
        v.in_range("pulse_voltage", self.pulse_voltage, 0.0, 100.0)
        try:
            step = float(self.nominal_step())
        except ZeroDivisionError:
            step = 0.0
        if not (np.isfinite(step) and step > 0):
            raise ValueError(f"{', '.join(('w_min', 'w_max') + self.step_fields)}: one potentiation pulse from "
                             f"w = 0 changes nothing in model {self.name!r} (w_min={self.w_min:g}, "
                             f"w_max={self.w_max:g}): no weight could be learnt")
        if self._kernel_states() >= 2:
            spacing = (self.w_max - self.w_min) / (self.n_states - 1)
            step = self.nominal_step()
            if step < spacing / 2:
                n_min = int(np.ceil((self.w_max - self.w_min) / (2 * step))) + 1
                raise ValueError(
                    f"n_states={self.n_states} gives a level spacing of {spacing:.4g} over [w_min, w_max], "
                    f"more than twice the step of one pulse ({step:.4g}): pulses would never change the state; "
                    f"raise n_states to at least {n_min} (or 0: continuous) or raise the step size")

    # ---- model-specific hooks -----------------------------------------------------------------------
    def nominal_step(self) -> float:
        """Magnitude of one potentiation pulse at w = 0 on the nominal device (weight units)."""
        raise NotImplementedError

    def _sample_model(self, values: np.ndarray, rng: np.random.Generator) -> None:
        """Fill the model's rows of ``values`` (bounds already sampled)."""
        raise NotImplementedError

    def _consts(self) -> np.ndarray:
        return np.zeros(1)

    def _kernel_states(self) -> int:
        """n_states passed to the kernels (models whose levels are intrinsic pass 0)."""
        return self.n_states

    def _c2c(self) -> float:
        raise NotImplementedError

    def write_noise_unit(self) -> float:
        """The weight change that ``write_noise_std`` is measured in: the nominal step at w = 0."""
        return self.nominal_step()

    def expected(self, n: int, sign: int, w0: float = 0.0) -> np.ndarray:
        """Closed-form states after 0..n pulses of ``sign`` from ``w0`` on the nominal device (no variation,
        no noise, continuous): shape (n + 1,)."""
        raise NotImplementedError

    # ---- public API -----------------------------------------------------------------------------------
    @property
    def g_min(self) -> float:
        """Conductance at w_min [S]."""
        return self.g_max / self.on_off_ratio

    def replace(self, **changes) -> "DeviceModel":
        """A copy with some fields changed (validated)."""
        known = {f.name for f in fields(self)}
        for key in changes:
            if key not in known:
                raise ValueError(f"unknown parameter {key!r} for device model {self.name!r}; "
                                 f"known: {', '.join(sorted(known))}")
        return dataclasses.replace(self, **changes)

    def sample(self, shape, random_state=None) -> DeviceParameters:
        """Draw per-device parameters for an array of devices of ``shape`` (device-to-device variation)."""
        shape = tuple(int(s) for s in np.atleast_1d(shape)) if not isinstance(shape, tuple) else shape
        if any(s < 0 for s in shape):
            raise ValueError(f"shape must have non-negative sizes, got {shape}")
        rng = check_random_state(random_state)
        n = int(np.prod(shape)) if shape else 1
        values = np.zeros((K.N_ROWS, n))
        bmax = self.w_max * (1.0 + self.w_max_dtod * rng.standard_normal(n))
        bmin = self.w_min * (1.0 + self.w_min_dtod * rng.standard_normal(n))
        # aihwkit's enforce_consistency: a device's range always contains 0
        lo, hi = -np.abs(np.minimum(bmin, bmax)), np.abs(np.maximum(bmin, bmax))
        # a conductance cannot be negative: a device's lower bound is drawn again (the spread truncated)
        # where it would map below 0 S; the draws stay in their order, so results are reproducible
        floor = self.zero_conductance_weight()
        for _ in range(1000):
            low = lo < floor
            if not low.any():
                break
            bmin = self.w_min * (1.0 + self.w_min_dtod * rng.standard_normal(int(low.sum())))
            # an upper bound drawn negative and below the floor keeps its device low whatever the lower bound
            # (w_min = 0, or a large w_max_dtod): draw it again too — only there, other draws are unchanged
            futile = bmax[low] < floor
            if futile.any():
                idx = np.flatnonzero(low)[futile]
                bmax[idx] = self.w_max * (1.0 + self.w_max_dtod * rng.standard_normal(idx.size))
                hi[idx] = np.abs(np.maximum(bmin[futile], bmax[idx]))
            lo[low] = -np.abs(np.minimum(bmin, bmax[low]))
        else:
            raise ValueError(f"w_min_dtod={self.w_min_dtod}, w_max_dtod={self.w_max_dtod} put nearly every device "
                             f"below 0 S (w_min {self.w_min} "
                             f"maps to g_min = {self.g_min:.3g} S); lower the spread or raise g_min")
        values[K.W_MIN], values[K.W_MAX] = lo, hi
        values[K.C2C] = self._c2c()
        self._sample_model(values, rng)
        u = rng.random(n)
        values[K.STUCK] = np.where(u < self.stuck_min_frac, -1.0,
                                   np.where(u < self.stuck_min_frac + self.stuck_max_frac, 1.0, 0.0))
        values[K.NU] = self.drift_nu + self.drift_nu_dtod * rng.standard_normal(n) if self.drift_nu_dtod \
            else self.drift_nu
        values[K.WNOISE] = self.write_noise_std * self.write_noise_unit()
        names = dict(_COMMON_ROWS, **self.extra_rows)
        return DeviceParameters(self.model_id, self._kernel_states(), values, self._consts(),
                                shape, names)

    def initial_state(self, params: DeviceParameters) -> np.ndarray:
        """States at weight 0 (stuck devices at their bound, discretised devices on a level)."""
        w = np.zeros(params.size)
        settle_states(params, w)
        return w.reshape(params.shape)

    def step(self, w: np.ndarray, n_pulses, sign: int, params: DeviceParameters, random_state=None):
        """Apply ``n_pulses`` (int or int array, >= 0) pulses of ``sign`` (+1 potentiation, −1 depression)
        to the device states ``w`` in place; returns ``w``."""
        if sign not in (1, -1):
            raise ValueError(f"sign must be +1 (potentiation) or -1 (depression), got {sign!r}")
        _check_states(w, params)
        n = np.asarray(n_pulses)
        if not np.issubdtype(n.dtype, np.integer):
            raise ValueError(f"n_pulses must be integers, got dtype {n.dtype}")
        if n.size and n.min() < 0:
            raise ValueError(f"n_pulses must be >= 0, got {n.min()}")
        try:
            counts = np.ascontiguousarray(np.broadcast_to(n, params.shape), dtype=np.int64).ravel() * sign
        except ValueError:
            raise ValueError(f"n_pulses of shape {n.shape} does not broadcast to the device array shape "
                             f"{params.shape}") from None
        K.apply_pulses(params.model_id, params.n_states, params.values, params.consts, w.reshape(-1),
                       counts, kernel_key(random_state))
        return w

    def zero_conductance_weight(self) -> float:
        """The weight that maps to 0 S: the lowest bound a device can physically have."""
        return self.w_min - self.g_min / self.siemens_per_weight()

    def siemens_per_weight(self) -> float:
        """Conductance of one weight unit [S]: (g_max − g_min)/(w_max − w_min) of the nominal map."""
        return (self.g_max - self.g_min) / (self.w_max - self.w_min)

    def full_sweep_pulses(self) -> int:
        """Pulses that take the nominal device from w_min to w_max at its step at w = 0."""
        return max(1, int(np.ceil((self.w_max - self.w_min) / self.nominal_step())))

    def levels_label(self) -> str:
        """Levels for tables: n_states, or ~ range/step for continuous devices."""
        if self.n_states:
            return str(self.n_states)
        return f"~{(self.w_max - self.w_min) / self.nominal_step():.0f}"

    def nonlinearity_label(self) -> str:
        """A short description of the response's shape for tables."""
        raise NotImplementedError

    def unit(self, field: str) -> str:
        """Unit of a field, for display."""
        from .units import UNITS
        return UNITS.get(field, "")

    def conductance(self, w) -> np.ndarray:
        """Conductance [S] of states ``w`` (the linear map of the nominal range onto [g_min, g_max])."""
        w = np.asarray(w, dtype=float)
        return self.g_min + (w - self.w_min) / (self.w_max - self.w_min) * (self.g_max - self.g_min)

    def weight(self, g) -> np.ndarray:
        """Inverse of ``conductance``: normalised weight of conductance ``g`` [S]."""
        g = np.asarray(g, dtype=float)
        return self.w_min + (g - self.g_min) / (self.g_max - self.g_min) * (self.w_max - self.w_min)

    def read(self, w, random_state=None) -> np.ndarray:
        """Conductance [S] as read: relative Gaussian read noise of std ``read_noise``, fresh per read."""
        g = self.conductance(w)
        if self.read_noise == 0.0:
            return g
        return g * (1.0 + self.read_noise * check_random_state(random_state).standard_normal(g.shape))

    def drift(self, g0, t, params: DeviceParameters) -> np.ndarray:
        """Conductance [S] at time ``t`` [s] of devices programmed to ``g0`` and read at ``drift_t0``:
        G(t) = G(t0)·(t/t0)^(−ν), with each device's sampled ν."""
        t = float(t)
        if not t >= self.drift_t0:
            raise ValueError(f"t must be >= drift_t0 ({self.drift_t0} s), got {t}")
        return np.asarray(g0, dtype=float) * (t / self.drift_t0) ** (-params["drift_nu"])

    def parameters(self) -> dict:
        """Every field with its value, in declaration order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _check_states(w, params: DeviceParameters) -> None:
    if not isinstance(w, np.ndarray) or w.dtype != np.float64 or not w.flags.c_contiguous:
        raise ValueError("w must be a C-contiguous float64 numpy array (device states), got "
                         f"{type(w).__name__}{'' if not isinstance(w, np.ndarray) else ' of ' + str(w.dtype)}")
    if w.shape != params.shape:
        raise ValueError(f"w has shape {w.shape} but the device parameters have shape {params.shape}")


def settle_states(params: DeviceParameters, w: np.ndarray) -> None:
    """Clip, discretise and pin stuck devices, in place on the flat view of ``w`` (vectorised
    ``kernels.settle``)."""
    w = w.reshape(-1)
    vals = params.values
    lo, hi, stuck = vals[K.W_MIN], vals[K.W_MAX], vals[K.STUCK]
    np.clip(w, lo, hi, out=w)
    if params.n_states >= 2:
        step = (hi - lo) / (params.n_states - 1)
        w[:] = np.minimum(lo + np.floor((w - lo) / step + 0.5) * step, hi)
    w[stuck < 0] = lo[stuck < 0]
    w[stuck > 0] = hi[stuck > 0]


def nominal(model: DeviceModel) -> DeviceModel:
    """The same model with every variation, noise and fault switched off (the closed-form device)."""
    off = {}
    for f in fields(model):
        if f.name.endswith("_dtod") or f.name in ("dw_min_std", "c2c_std", "read_noise", "stuck_min_frac",
                                                   "stuck_max_frac", "dw_min_std_add", "dw_min_std_slope",
                                                   "write_noise_std"):
            off[f.name] = 0.0
    return dataclasses.replace(model, **off)
