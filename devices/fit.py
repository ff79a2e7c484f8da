"""Fit a device model to a measured pulse response, with its device-to-device and cycle-to-cycle variation.

Data: a CSV with columns ``pulse`` (pulse number within its branch), ``conductance`` [S], optionally
``direction`` (up/down, potentiation/depression or +1/−1) and ``device`` (id). Without ``direction`` each
device's series is split where its pulse index restarts (falls back, e.g. to 0): the first branch is
potentiation, the second depression; a series that does not restart is an error (say which is which with a
``direction`` column). Conductances must be in siemens (values above 1 S or below 1 fS are refused: µS data
needs ×1e-6).

The nominal response (no variation, no noise) is fitted by least squares (scipy.optimize.least_squares) to
the mean curves over devices; uncertainties are the square roots of the diagonal of s²·(JᵀJ)⁻¹ at the optimum
(s² = residual variance); goodness of fit is R² and RMSE. Fitted parameters per model (the rest keep their
defaults; the conductance range is fitted where the model approaches its bounds asymptotically, else taken
from the data's extremes):

- ``soft-bounds``: per-pulse fractions α_up, α_down of the distance to the bound, G_min, G_max →
  dw_min, up_down (w range ±0.6: scale = 0.6·α), g_max, on_off_ratio.
- ``neurosim``: nonlinearity_ltp, nonlinearity_ltd, G_min, G_max; n_states (n_states_ltd) = pulses in the
  potentiation (depression) branch.
- ``exp-step``: dw_min, A_up, A_down, gamma_up, gamma_down (a, b at their defaults).
- ``pow-step``: dw_min, pow_gamma, pow_up_down, G_min, G_max.
- ``piecewise``: the mean curves themselves, made monotone (running max / min).

Variation (``fit_measurement``):
- cycle-to-cycle, from the residuals of single steps: every measured step G_k → G_k+1 is compared with the
  fitted model's one-pulse step from G_k, r_k = G_k+1 − Ĝ_k+1; for the curve models (neurosim, piecewise)
  ``c2c_std`` = σ(r)/(G_max − G_min) (additive noise), for aihwkit's step models ``dw_min_std`` = σ(r/ΔĜ)
  (multiplicative). σ is a robust std (1.4826·MAD); its 1σ error 1.65·σ/√(2(m − 1)) for m steps. Read noise of
  the measurement is included (it cannot be told apart from c2c noise without repeated reads).
- device-to-device (two or more devices): each device's curves are fitted on their own; the spread of the
  fitted parameters gives ``nonlinearity_dtod`` (absolute std of the labels), ``dw_min_dtod`` (relative),
  ``up_down_dtod`` / ``pow_gamma_dtod``, and the spread of each device's G_min, G_max gives ``w_min_dtod``,
  ``w_max_dtod`` (the spread of each device's extreme conductances, as weights: a saturating device sits at
  its bound). Noise alone spreads per-device fits of the shape too (c2c noise makes each curve a random
  walk): 8 devices are simulated from the fitted model with its c2c noise and no d2d variation, fitted
  alike (their extremes too), and their variance is subtracted (floored at 0); the 1σ error comes from both
  variance estimates (the standard error of a variance, 2σ⁴/(n − 1)).
  With a handful of devices these spreads are rough: their errors say how rough.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from .base import nominal
from .curves import NeuroSim, Piecewise
from .pulsed import ExpStep, PowStep, SoftBounds

FIT_MODELS = ("neurosim", "soft-bounds", "exp-step", "pow-step", "piecewise")
_UP = {"up": 1, "potentiation": 1, "+1": 1, "1": 1, "ltp": 1, "set": 1,
       "down": -1, "depression": -1, "-1": -1, "ltd": -1, "reset": -1}
G_LIMITS = (1e-15, 1.0)          # plausible conductances [S]: outside, the column is not in siemens
MAX_PULSE = 1_000_000            # pulse numbers in [0, MAX_PULSE]: a fit evaluates curves that long, many times
MIN_SPAN = 1e-3                  # the conductances must vary by more than 0.1 % (max/min − 1) to be fitted


@dataclass
class Curves:
    """Measured branches (one device, or the mean over devices): pulse numbers and conductances [S] for
    potentiation and depression."""

    p_up: np.ndarray
    g_up: np.ndarray
    p_down: np.ndarray
    g_down: np.ndarray
    devices: int


@dataclass
class Measurement:
    """A pulse-response CSV: the curves of every device, and their mean."""

    per_device: dict
    mean: Curves
    path: str = ""                   # the CSV it was read from (named in errors)

    @property
    def devices(self) -> int:
        return len(self.per_device)


def read_csv(path: str) -> Measurement:
    """Read a pulse-response CSV; errors name the line and column. Linear in the number of rows."""
    try:
        f = open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None
    try:
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
                rows.append(_row(path, line, rec, header, ip, ig, idr, idv))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if len(rows) < 4:
        raise ValueError(f"{path}: needs at least 4 data lines, got {len(rows)}")
    g = np.array([r[1] for r in rows])
    if g.max() > G_LIMITS[1] or g.min() < G_LIMITS[0]:
        raise ValueError(f"{path}: column 'conductance' must be in siemens; values from {g.min():.3g} to "
                         f"{g.max():.3g} are outside [{G_LIMITS[0]:g}, {G_LIMITS[1]:g}] S (µS data: multiply by "
                         "1e-6; nS: by 1e-9)")
    if g.max() <= g.min() * (1 + MIN_SPAN):
        raise ValueError(f"{path}: column 'conductance' varies from {g.min():.6g} to {g.max():.6g} S, by less than "
                         f"{100 * MIN_SPAN:g} %: no pulse response to fit")
    meas = _branches(rows, path, idr is not None)
    meas.path = path
    return meas


def _row(path, line, rec, header, ip, ig, idr, idv):
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
    if not np.isfinite(p) or p < 0 or p != int(p) or p > MAX_PULSE:
        raise ValueError(f"{path}: line {line}, column 'pulse': must be a whole number in [0, {MAX_PULSE}], got "
                         f"{rec[ip][:40]}")
    d = 0
    if idr is not None:
        key = rec[idr].strip().lower()
        if key not in _UP:
            raise ValueError(f"{path}: line {line}, column 'direction': {rec[idr]!r} is not one of "
                             "up/down, potentiation/depression, +1/-1")
        d = _UP[key]
    return int(p), g, d, (rec[idv].strip() if idv is not None else "")


def _branches(rows, path, has_direction) -> Measurement:
    by_device: dict = {}
    for p, g, d, dev in rows:
        by_device.setdefault(dev, []).append((p, g, d))
    per = {}
    for dev, seq in by_device.items():
        if not has_direction:
            pulses = np.array([r[0] for r in seq])
            restart = np.nonzero(np.diff(pulses) < 0)[0]
            name = f"device {dev!r}" if dev else "the series"
            if len(restart) != 1:
                raise ValueError(f"{path}: cannot tell potentiation from depression in {name}: its pulse index "
                                 f"{'never restarts' if not len(restart) else f'restarts {len(restart)} times'}; "
                                 "restart it once (at 0) where depression begins, or add a 'direction' column "
                                 "(up/down)")
            cut = restart[0] + 1
            seq = [(p, g, 1 if k < cut else -1) for k, (p, g, _) in enumerate(seq)]
        branches = []
        for direction in (1, -1):
            sel = np.array([(p, g) for p, g, d in seq if d == direction], float).reshape(-1, 2)
            if len(sel) < 2:
                raise ValueError(f"{path}: the {'potentiation' if direction > 0 else 'depression'} branch of "
                                 f"{('device ' + repr(dev)) if dev else 'the series'} needs at least 2 points, "
                                 f"got {len(sel)}")
            branches.append(_mean_by_pulse(sel[:, 0], sel[:, 1]))
        per[dev] = Curves(*branches[0], *branches[1], devices=1)
    mean = []
    for k in (0, 2):
        p = np.concatenate([np.asarray(getattr(c, ("p_up", "p_down")[k // 2])) for c in per.values()])
        g = np.concatenate([np.asarray(getattr(c, ("g_up", "g_down")[k // 2])) for c in per.values()])
        mean += list(_mean_by_pulse(p, g))
    return Measurement(per, Curves(*mean, devices=len(per)))


def _mean_by_pulse(p, g):
    """Pulse numbers (from 0) and the mean conductance at each, in O(n log n)."""
    pulses, inverse = np.unique(p.astype(np.int64), return_inverse=True)
    mean = np.bincount(inverse, weights=g) / np.bincount(inverse)
    return pulses - pulses[0], mean


@dataclass
class FitResult:
    model: object                    # the fitted DeviceModel
    names: list
    values: np.ndarray
    errors: np.ndarray
    r2: float
    rmse: float                      # S
    curves: Curves
    variability: dict = field(default_factory=dict)    # field → (value, 1σ error), already in ``model``

    def predicted(self):
        return predict(self.model, self.curves)

    def table(self) -> str:
        lines = [f"{'parameter':18s} {'value':>12s} {'± 1σ':>12s}"]
        lines += [f"{n:18s} {v:12.5g} {e:12.3g}" for n, v, e in zip(self.names, self.values, self.errors)]
        lines.append(f"R² = {self.r2:.5f}, RMSE = {self.rmse:.4g} S over "
                     f"{len(self.curves.g_up) + len(self.curves.g_down)} points ({self.curves.devices} device(s))")
        if self.variability:
            lines.append("variation (device-to-device from per-device fits, cycle-to-cycle from step residuals):")
            lines += [f"{n:18s} {v:12.5g} {e:12.3g}" for n, (v, e) in self.variability.items()]
        return "\n".join(lines)

    def to_toml(self, label: str = "") -> str:
        """A device file: a ``[device]`` table (preset = the model, every field) that any config can use and
        that ``--device FILE.toml`` accepts; ``label`` names it in results and plots."""
        lines = ["# fitted by hwsim devices fit", "[device]", f'preset = "{self.model.name}"']
        if label:
            lines.append(f'label = "{label}"')
        for k, v in self.model.parameters().items():
            if k == "pulse_energy" and not v:
                lines.append("# pulse_energy: not in the data; the cost model uses 1 pJ until you set it here [J]")
                continue
            if k in ("pulse_width", "pulse_voltage") and not v:
                lines.append(f"# {k}: not in the data" + ("; the cost model uses 10 ns" if k == "pulse_width"
                                                             else "") + f" [{self.model.unit(k)}]")
                continue
            if isinstance(v, tuple):
                v = "[" + ", ".join(repr(float(x)) for x in v) + "]"
            elif isinstance(v, (bool, np.bool_)):
                v = "true" if v else "false"
            elif isinstance(v, (int, np.integer)):
                v = str(int(v))
            else:
                v = repr(float(v))
            u = self.model.unit(k)
            note = f"   # {u}" if u else ""
            if k in self.variability:
                note += f"{'' if note else '   #'} ± {self.variability[k][1]:.3g} (fitted variation)"
            lines.append(f"{k} = {v}" + note)
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


def fit(name: str, c: Curves, start=None) -> FitResult:
    """Fit model ``name`` to the mean curves ``c`` (from several starting points, or from ``start`` alone:
    the per-device fits start at the fit of the mean curves)."""
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
    if start is not None:
        starts = [np.clip(np.asarray(start, float), bounds[0], bounds[1])]
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


# ---- variation -----------------------------------------------------------------------------------------------
_ADDITIVE = ("neurosim", "piecewise")        # c2c noise additive on the normalised conductance
_C2C_FIELD = {"neurosim": "c2c_std", "piecewise": "c2c_std"}
_SPREAD = {"neurosim": {"nonlinearity_ltp": "nonlinearity_dtod", "nonlinearity_ltd": "nonlinearity_dtod"},
           "soft-bounds": {"dw_min": "dw_min_dtod", "up_down": "up_down_dtod"},
           "exp-step": {"dw_min": "dw_min_dtod", "up_down": "up_down_dtod"},
           "pow-step": {"dw_min": "dw_min_dtod", "pow_gamma": "pow_gamma_dtod", "pow_up_down": "pow_up_down_dtod"}}
_RELATIVE = ("dw_min_dtod", "pow_gamma_dtod")


def _robust_std(x):
    x = np.asarray(x, float)
    return 1.4826 * float(np.median(np.abs(x - np.median(x))))


def step_residuals(model, c: Curves):
    """Per measured step G_k → G_k+1 (consecutive pulses of a branch): the residual G_k+1 − Ĝ_k+1 of the
    fitted model's one-pulse step from G_k, and the predicted step ΔĜ_k. Vectorised (one kernel call)."""
    m = nominal(model)
    res, step = [], []
    for p, g, sign in ((c.p_up, c.g_up, 1), (c.p_down, c.g_down, -1)):
        p, g = np.asarray(p), np.asarray(g)
        k = np.nonzero(np.diff(p) == 1)[0]
        if not len(k):
            continue
        params = m.sample((len(k),), 0)
        w = np.clip(m.weight(g[k]), params["w_min"], params["w_max"])
        w = np.ascontiguousarray(w, dtype=np.float64)
        w0 = w.copy()
        m.step(w, 1, sign, params, 0)
        res.append(g[k + 1] - m.conductance(w))
        step.append(m.conductance(w) - m.conductance(w0))
    if not res:                               # no consecutive pulses measured: no single steps
        return np.zeros(0), np.zeros(0)
    return np.concatenate(res), np.concatenate(step)


def fit_measurement(name: str, meas: Measurement) -> FitResult:
    """Fit model ``name`` to the mean curves, then estimate its variation (module docstring): cycle-to-cycle
    from step residuals of every device, device-to-device from per-device fits (two or more devices). The
    returned model carries the estimates; ``variability`` holds them with their 1σ errors. A fit that fails
    or gives a number that is not finite raises ValueError naming the CSV (never NaN in the result)."""
    where = meas.path or "the measurement"
    if name not in FIT_MODELS:
        raise ValueError(f"model must be one of {FIT_MODELS}, got {name!r}")
    try:
        with np.errstate(all="ignore"):
            out = _fit_measurement(name, meas)
    except ValueError as exc:
        raise ValueError(f"{where}: cannot fit {name}: {exc}") from None
    numbers = {"parameters": out.values, "errors": out.errors, "R²": [out.r2], "RMSE": [out.rmse],
               **{k: list(v) for k, v in out.variability.items()},
               **{k: [v] for k, v in out.model.parameters().items() if isinstance(v, float)}}
    for label, vals in numbers.items():
        if not np.all(np.isfinite(np.asarray(vals, float))):
            raise ValueError(f"{where}: the {name} fit gives {label} that is not finite ({np.asarray(vals)}); the "
                             "data do not determine this model (try another --model)")
    return out


def _fit_measurement(name: str, meas: Measurement) -> FitResult:
    res = fit(name, meas.mean)
    model, var = res.model, {}
    if name in _ADDITIVE or isinstance(model, (SoftBounds, ExpStep, PowStep)):
        per_fit = {dev: (fit(name, c, res.values) if meas.devices > 1 else res) for dev, c in meas.per_device.items()}
        r, d = [], []
        for dev, c in meas.per_device.items():
            ri, di = step_residuals(per_fit[dev].model, c)
            r.append(ri)
            d.append(di)
        r, d = np.concatenate(r), np.concatenate(d)
        if len(r) >= 3:
            # the 1σ error of a MAD-based std: 1.65·σ/√(2(m − 1)) (its efficiency is 37 % of the plain std's)
            if name in _ADDITIVE:
                sigma = _robust_std(r) / (model.g_max - model.g_min)
                var[_C2C_FIELD[name]] = (sigma, 1.65 * sigma / np.sqrt(2 * (len(r) - 1)))
            else:
                ok = np.abs(d) > 1e-3 * np.abs(d).max()
                sigma = _robust_std(r[ok] / d[ok])
                var["dw_min_std"] = (sigma, 1.65 * sigma / np.sqrt(2 * (ok.sum() - 1)))
        central = {}
        if meas.devices > 1:
            fits = [f.model for f in per_fit.values()]
            noisy = model.replace(**{k: float(v) for k, (v, _) in var.items()})
            var.update(_device_spread(name, model, fits, _simulated_fits(name, noisy, meas, start=res.values), meas))
            # the nominal shape is the mean of the devices' shapes (a fit to the mean curve of devices with
            # different ranges distorts it)
            central = {src: float(np.mean([getattr(f, src) for f in fits])) for src in _SPREAD.get(name, {})}
    else:
        central = {}
    if var or central:
        fields = {f: v for f, (v, _) in var.items()}
        fields.update(central)
        if "c2c_std" in fields:
            fields["c2c_std"] = min(fields["c2c_std"], 1.0)
        model = model.replace(**{k: float(v) for k, v in fields.items()})
    return FitResult(model, res.names, res.values, res.errors, res.r2, res.rmse, res.curves, var)


def _simulated_fits(name, model, meas: Measurement, count: int = 8, seed: int = 0, start=None) -> list:
    """Per-device fits of ``count`` devices simulated from ``model`` with its cycle-to-cycle noise but no
    device-to-device variation, on the measurement's pulse protocol: how far noise alone spreads the fits."""
    c = meas.mean
    rng = np.random.default_rng(seed)
    m = nominal(model).replace(**{k: getattr(model, k) for k in ("c2c_std", "dw_min_std")
                                 if hasattr(model, k)})
    params = m.sample((count,), rng)
    w = np.ascontiguousarray(params["w_min"].copy())
    branches = []
    for n, sign in ((int(c.p_up[-1]), 1), (int(c.p_down[-1]), -1)):
        g = np.empty((n + 1, count))
        g[0] = m.conductance(w)
        for k in range(1, n + 1):
            m.step(w, 1, sign, params, rng)
            g[k] = m.conductance(w)
        branches.append((np.arange(n + 1), g))
    out = []
    for d in range(count):
        curves = Curves(branches[0][0], branches[0][1][:, d], branches[1][0], branches[1][1][:, d], 1)
        out.append((fit(name, curves, start).model, curves))
    return out


def _device_spread(name, model, fits, noise_fits, meas: Measurement) -> dict:
    """Device-to-device spreads. Of the shape parameters (labels, steps): the variance of the per-device fits
    minus that of simulated devices that differ by noise alone, floored at 0; 1σ error from both variance
    estimates. Of the bounds: each device's extremes (the highest conductance of its potentiation branch, the
    lowest of its depression branch — a saturating device sits at its bound), as weights of the fitted map."""
    n, m_ = len(fits), len(noise_fits)
    out = {}

    def spread(vals, noise):
        v_obs, v_noise = np.var(vals, ddof=1), np.var(noise, ddof=1)
        sd = float(np.sqrt(max(v_obs - v_noise, 0.0)))
        se_var = np.sqrt(2 * v_obs ** 2 / (n - 1) + 2 * v_noise ** 2 / (m_ - 1))
        return sd, float(np.sqrt(sd ** 2 + se_var) - sd)         # 1σ upwards of the variance's error
    for src, dst in _SPREAD.get(name, {}).items():
        vals = np.array([getattr(f, src) for f in fits], float)
        sd, err = spread(vals, np.array([getattr(f, src) for f, _ in noise_fits], float))
        if dst in _RELATIVE:
            scale = max(abs(float(np.mean(vals))), 1e-300)
            sd, err = sd / scale, err / scale
        if dst in out:                    # two labels share one field: the mean of their spreads
            sd, err = 0.5 * (sd + out[dst][0]), 0.5 * (err + out[dst][1])
        out[dst] = (sd, err)
    k = model.siemens_per_weight()
    curves = list(meas.per_device.values())
    for bound, pick in (("w_max", lambda c: np.max(c.g_up)), ("w_min", lambda c: np.min(c.g_down))):
        ref = getattr(model, bound)
        if ref == 0:
            continue
        w = model.w_min + (np.array([pick(c) for c in curves]) - model.g_min) / k
        w_noise = model.w_min + (np.array([pick(c) for _, c in noise_fits]) - model.g_min) / k
        sd, err = spread(w, w_noise)
        out[f"{bound}_dtod"] = (sd / abs(ref), err / abs(ref))
    return out
