"""Fit a device model to a measured pulse response.

Data: a CSV with columns ``pulse`` (pulse number within its branch), ``conductance`` [S], optionally
``direction`` (up/down, potentiation/depression or +1/−1) and ``device`` (id). Without ``direction`` the
series is split at its maximum into a potentiation and a depression branch. Several devices are averaged
per (direction, pulse) first; the model's nominal response (no variation, no noise) is then fitted to the
mean curves by least squares (scipy.optimize.least_squares). Parameter uncertainties are the square roots
of the diagonal of s²·(JᵀJ)⁻¹ at the optimum (s² = residual variance); goodness of fit is R² and RMSE.

Fitted parameters per model (the rest keep their defaults; the conductance range is fitted where the model
approaches its bounds asymptotically, else taken from the data's extremes):

- ``soft-bounds``: per-pulse fractions α_up, α_down of the distance to the bound, G_min, G_max →
  dw_min, up_down (w range ±0.6: scale = 0.6·α), g_max, on_off_ratio.
- ``neurosim``: nonlinearity_ltp, nonlinearity_ltd, G_min, G_max; n_states (n_states_ltd) = pulses in the
  potentiation (depression) branch.
- ``exp-step``: dw_min, A_up, A_down, gamma_up, gamma_down (a, b at their defaults).
- ``pow-step``: dw_min, pow_gamma, pow_up_down, G_min, G_max.
- ``piecewise``: the mean curves themselves, made monotone (running max / min).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from .base import nominal
from .curves import NeuroSim, Piecewise
from .pulsed import ExpStep, PowStep, SoftBounds

FIT_MODELS = ("neurosim", "soft-bounds", "exp-step", "pow-step", "piecewise")
_UP = {"up": 1, "potentiation": 1, "+1": 1, "1": 1, "ltp": 1, "set": 1,
       "down": -1, "depression": -1, "-1": -1, "ltd": -1, "reset": -1}


@dataclass
class Curves:
    """Mean measured branches: pulse numbers and conductances [S] for potentiation and depression."""

    p_up: np.ndarray
    g_up: np.ndarray
    p_down: np.ndarray
    g_down: np.ndarray
    devices: int


def read_csv(path: str) -> Curves:
    """Read and average a pulse-response CSV; errors name the line and column."""
    try:
        f = open(path, newline="")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None
    with f:
        reader = csv.reader(f)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise ValueError(f"{path}: empty file") from None
        for col in ("pulse", "conductance"):
            if col not in header:
                raise ValueError(f"{path}: line 1: missing column {col!r} (columns: pulse, conductance, "
                                 f"optional direction, device); found {header}")
        ip, ig = header.index("pulse"), header.index("conductance")
        idr = header.index("direction") if "direction" in header else None
        idv = header.index("device") if "device" in header else None
        rows = []
        for line, rec in enumerate(reader, start=2):
            if not rec or all(not c.strip() for c in rec):
                continue
            if len(rec) != len(header):
                raise ValueError(f"{path}: line {line}: {len(rec)} fields, header has {len(header)}")
            try:
                p = float(rec[ip])
            except ValueError:
                raise ValueError(f"{path}: line {line}, column 'pulse': not a number: {rec[ip]!r}") from None
            try:
                g = float(rec[ig])
            except ValueError:
                raise ValueError(f"{path}: line {line}, column 'conductance': not a number: {rec[ig]!r}") from None
            if not np.isfinite(g) or g <= 0:
                raise ValueError(f"{path}: line {line}, column 'conductance': must be > 0 S, got {rec[ig]}")
            if not np.isfinite(p) or p < 0 or p != int(p):
                raise ValueError(f"{path}: line {line}, column 'pulse': must be a whole number >= 0, got {rec[ip]}")
            d = 0
            if idr is not None:
                key = rec[idr].strip().lower()
                if key not in _UP:
                    raise ValueError(f"{path}: line {line}, column 'direction': {rec[idr]!r} is not one of "
                                     "up/down, potentiation/depression, +1/-1")
                d = _UP[key]
            rows.append((int(p), g, d, rec[idv].strip() if idv is not None else ""))
    if len(rows) < 4:
        raise ValueError(f"{path}: needs at least 4 data lines, got {len(rows)}")
    return _average(rows, path)


def _average(rows, path) -> Curves:
    devices = sorted({r[3] for r in rows})
    if all(r[2] == 0 for r in rows):                 # split each device's series at its maximum
        split = []
        for dev in devices:
            seq = [r for r in rows if r[3] == dev]
            top = int(np.argmax([r[1] for r in seq]))
            for k, r in enumerate(seq):
                split.append((r[0] if k <= top else k - top, r[1], 1 if k <= top else -1, dev))
        rows = split
    out = []
    for direction in (1, -1):
        sel = [(p, g) for p, g, d, _ in rows if d == direction]
        if len(sel) < 2:
            raise ValueError(f"{path}: the {'potentiation' if direction > 0 else 'depression'} branch needs "
                             f"at least 2 points, got {len(sel)}")
        pulses = np.array(sorted({p for p, _ in sel}))
        mean = np.array([np.mean([g for p, g in sel if p == q]) for q in pulses])
        out += [pulses - pulses[0], mean]
    return Curves(*out, devices=len(devices))


@dataclass
class FitResult:
    model: object                    # the fitted DeviceModel
    names: list
    values: np.ndarray
    errors: np.ndarray
    r2: float
    rmse: float                      # S
    curves: Curves

    def predicted(self):
        return predict(self.model, self.curves)

    def table(self) -> str:
        lines = [f"{'parameter':18s} {'value':>12s} {'± 1σ':>12s}"]
        lines += [f"{n:18s} {v:12.5g} {e:12.3g}" for n, v, e in zip(self.names, self.values, self.errors)]
        lines.append(f"R² = {self.r2:.5f}, RMSE = {self.rmse:.4g} S over "
                     f"{len(self.curves.g_up) + len(self.curves.g_down)} points ({self.curves.devices} device(s))")
        return "\n".join(lines)

    def to_toml(self) -> str:
        lines = ["# fitted by hwsim devices fit", "[device]", f'preset = "{self.model.name}"']
        for k, v in self.model.parameters().items():
            if isinstance(v, tuple):
                v = "[" + ", ".join(repr(float(x)) for x in v) + "]"
            elif isinstance(v, (bool, np.bool_)):
                v = "true" if v else "false"
            elif isinstance(v, (int, np.integer)):
                v = str(int(v))
            else:
                v = repr(float(v))
            u = self.model.unit(k)
            lines.append(f"{k} = {v}" + (f"   # {u}" if u else ""))
        return "\n".join(lines) + "\n"


def predict(model, c: Curves):
    """Nominal conductances along both measured branches, each starting at its first measured point."""
    m = nominal(model)
    out = []
    for p, g, sign in ((c.p_up, c.g_up, 1), (c.p_down, c.g_down, -1)):
        w0 = float(np.clip(m.weight(g[0]), m.w_min, m.w_max))
        traj = m.expected(int(p[-1]), sign, w0)
        out.append(m.conductance(traj[p]))
    return out


def _soft_bounds(theta, c):
    a_up, a_dn, g_lo, g_hi = theta
    s_up, s_dn = 0.6 * a_up, 0.6 * a_dn
    dw = max(s_up, s_dn)
    ud = 1 - s_dn / dw if s_dn < s_up else s_up / dw - 1
    return SoftBounds(dw_min=dw, up_down=float(np.clip(ud, -0.999, 0.999)), g_max=g_hi,
                      on_off_ratio=g_hi / g_lo, w_min=-0.6, w_max=0.6)


def _neurosim(theta, c):
    nl_up, nl_dn, g_lo, g_hi = theta
    return NeuroSim(n_states=int(c.p_up[-1]), n_states_ltd=int(c.p_down[-1]), nonlinearity_ltp=nl_up,
                    nonlinearity_ltd=nl_dn, g_max=g_hi, on_off_ratio=g_hi / g_lo, c2c_std=0.0)


def _extremes(c):
    lo = min(c.g_up.min(), c.g_down.min())
    hi = max(c.g_up.max(), c.g_down.max())
    return lo, hi


def _exp(theta, c):
    lo, hi = _extremes(c)
    dw, a_up, a_dn, g_up, g_dn = theta
    return ExpStep(dw_min=dw, A_up=a_up, A_down=a_dn, gamma_up=g_up, gamma_down=g_dn, g_max=hi, on_off_ratio=hi / lo)


def _pow(theta, c):
    dw, gamma, ud, lo, hi = theta
    return PowStep(dw_min=dw, pow_gamma=gamma, pow_up_down=ud, g_max=hi, on_off_ratio=hi / lo)


def _setup(name, c):
    lo, hi = _extremes(c)
    n = max(c.p_up[-1], c.p_down[-1])
    if name == "soft-bounds":
        return (["alpha_up", "alpha_down", "g_min", "g_max"], [3.0 / n, 3.0 / n, lo * 0.98, hi * 1.02],
                ([1e-6, 1e-6, lo * 0.2, hi], [0.9, 0.9, lo, hi * 5]), _soft_bounds)
    if name == "neurosim":
        return (["nonlinearity_ltp", "nonlinearity_ltd", "g_min", "g_max"], [1.0, -1.0, lo, hi],
                ([-8.9, -8.9, lo * 0.5, hi * 0.9], [8.9, 8.9, lo * 1.1, hi * 1.5]), _neurosim)
    if name == "exp-step":
        return (["dw_min", "A_up", "A_down", "gamma_up", "gamma_down"], [1.2 / n, 0.01, 0.3, 5.0, 5.0],
                ([1e-5, -50, -50, 0.0, 0.0], [1.0, 50, 50, 50, 50]), _exp)
    if name == "pow-step":
        return (["dw_min", "pow_gamma", "pow_up_down", "g_min", "g_max"], [2.4 / n, 1.0, 0.0, lo * 0.98, hi * 1.02],
                ([1e-5, 0.01, -0.99, lo * 0.2, hi], [1.0, 20.0, 0.99, lo, hi * 5]), _pow)
    raise ValueError(f"model must be one of {FIT_MODELS}, got {name!r}")


def fit(name: str, c: Curves) -> FitResult:
    """Fit model ``name`` to the mean curves ``c``."""
    data = np.concatenate([c.g_up, c.g_down])
    scale = data.max()
    if name == "piecewise":
        up = np.maximum.accumulate(c.g_up)
        down = np.minimum.accumulate(c.g_down)
        up = up + np.arange(len(up)) * 1e-12 * scale          # strictly rising / falling for the table
        down = down - np.arange(len(down)) * 1e-12 * scale
        model = Piecewise(pulses_up=tuple(c.p_up), conductance_up=tuple(up), pulses_down=tuple(c.p_down),
                          conductance_down=tuple(down))
        pred = np.concatenate(predict(model, c))
        res = pred - data
        return FitResult(model, ["points"], np.array([len(up) + len(down)]), np.array([0.0]),
                         1 - np.sum(res ** 2) / np.sum((data - data.mean()) ** 2), float(np.sqrt(np.mean(res ** 2))), c)
    names, x0, bounds, build = _setup(name, c)

    def residual(theta):
        try:
            pred = np.concatenate(predict(build(theta, c), c))
        except ValueError:
            return np.full(len(data), 10.0)
        return (pred - data) / scale

    x0 = np.clip(x0, bounds[0], bounds[1])
    best = None
    starts = [x0] + [np.clip(np.array(x0) * f, bounds[0], bounds[1]) for f in (0.3, 3.0)]
    if name == "neurosim":
        starts += [np.array([a, b, x0[2], x0[3]]) for a in (-3.0, 3.0) for b in (-3.0, 3.0)]
    for start in starts:
        r = least_squares(residual, start, bounds=bounds, x_scale="jac")
        if best is None or r.cost < best.cost:
            best = r
    res = best.fun * scale
    dof = max(len(data) - len(names), 1)
    s2 = np.sum(res ** 2) / dof
    J = best.jac * scale
    try:
        cov = np.linalg.pinv(J.T @ J) * s2
        err = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        err = np.full(len(names), np.nan)
    r2 = 1 - np.sum(res ** 2) / np.sum((data - data.mean()) ** 2)
    return FitResult(build([float(v) for v in best.x], c), names, best.x, err, float(r2),
                     float(np.sqrt(np.mean(res ** 2))), c)
