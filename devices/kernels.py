"""Numba kernels: one pulse on one device, and n pulses on arrays of devices.

Per-device parameters reach the kernels as rows of one float64 array ``prm[row, cell]`` (rows below); the
parameters shared by all devices of a model (e.g. ExpStep's ``A_up``) as a 1-D float64 array ``consts``.
``pulse`` is the single place where device physics happens; tile kernels call it directly (fused updates),
and ``apply_pulses`` calls it for whole arrays.

Weights are in normalised units (see ``DeviceModel``); ``up`` means potentiation (weight increases).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .rng import normal, subkey

# rows of the per-device parameter array
W_MIN, W_MAX, S_UP, S_DOWN, C2C, STUCK, NU, P0, P1, P2, P3, WNOISE = range(12)
N_ROWS = 12

# model identifiers
CONSTANT, LINEAR, EXP, POW, NEUROSIM, PIECEWISE = range(6)


@njit(cache=True, inline="always")
def _curve_x(p, a, pmax):
    """Normalised conductance after p pulses on NeuroSim's exponential curve (a == 0: linear)."""
    if a == 0.0:
        return p / pmax
    return np.expm1(-p / a) / np.expm1(-pmax / a)


@njit(cache=True, inline="always")
def _curve_p(x, a, pmax):
    """Inverse of ``_curve_x``: the pulse number at which the curve reaches x."""
    if a == 0.0:
        return x * pmax
    return -a * np.log1p(x * np.expm1(-pmax / a))


@njit(cache=True, inline="always")
def _interp(x, xs, ys, start, n):
    """Piecewise-linear interpolation of ys(xs) at x, xs = consts[start:start+n] increasing, clamped."""
    if x <= xs[start]:
        return ys[start]
    last = start + n - 1
    if x >= xs[last]:
        return ys[last]
    lo = start
    hi = last
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xs[mid] <= x:
            lo = mid
        else:
            hi = mid
    t = (x - xs[lo]) / (xs[hi] - xs[lo])
    return ys[lo] + t * (ys[hi] - ys[lo])


@njit(cache=True, inline="always")
def _table_step(x, inc, consts, p_off, x_off, n, rising):
    """Advance by ``inc`` pulses along a measured table (pulse numbers at p_off, normalised conductance at
    x_off, n points; x rising or falling with pulse number)."""
    if rising:
        p = _interp(x, consts[x_off:x_off + n], consts[p_off:p_off + n], 0, n)
    else:
        # falling curve: interpolate on the reversed arrays so that x increases
        p = _interp(x, consts[x_off:x_off + n][::-1], consts[p_off:p_off + n][::-1], 0, n)
    p = min(p + inc, consts[p_off + n - 1])
    return _interp(p, consts[p_off:p_off + n], consts[x_off:x_off + n], 0, n)


@njit(cache=True, inline="always")
def pulse(model, prm, consts, i, w, up, z):
    """State of device ``i`` after one pulse from state ``w``; ``z`` is its N(0,1) cycle-to-cycle draw.

    Bounds, stuck faults and discretisation are applied by the caller (``settle``).
    """
    lo = prm[W_MIN, i]
    hi = prm[W_MAX, i]
    sigma = prm[C2C, i]
    if model == CONSTANT:
        if up:
            return w + prm[S_UP, i] * (1.0 + sigma * z)
        return w - prm[S_DOWN, i] * (1.0 + sigma * z)
    if model == LINEAR:
        mult = consts[0] != 0.0
        if up:
            if mult:
                return w + (prm[P0, i] * w + prm[S_UP, i]) * (1.0 + sigma * z)
            return w + prm[P0, i] * w + prm[S_UP, i] * (1.0 + sigma * z)
        if mult:
            return w - (prm[P1, i] * w + prm[S_DOWN, i]) * (1.0 + sigma * z)
        return w - (prm[P1, i] * w + prm[S_DOWN, i] * (1.0 + sigma * z))
    if model == EXP:
        if hi - lo <= 0.0:
            return w
        zz = 2.0 * consts[4] * w / (hi - lo) + consts[5]
        if up:
            dw = max(1.0 - consts[0] * np.exp(consts[2] * zz), 0.0) * prm[S_UP, i]
        else:
            dw = -max(1.0 - consts[1] * np.exp(-consts[3] * zz), 0.0) * prm[S_DOWN, i]
        if sigma > 0.0 and (consts[6] != 0.0 or consts[7] != 0.0):
            return w + dw + sigma * (abs(dw) + consts[6] + consts[7] * abs(w)) * z
        return w + dw * (1.0 + sigma * z)
    if model == POW:
        r = hi - lo
        if r <= 0.0:
            return w
        if up:
            return w + prm[S_UP, i] * ((hi - w) / r) ** prm[P0, i] * (1.0 + sigma * z)
        return w - prm[S_DOWN, i] * ((w - lo) / r) ** prm[P1, i] * (1.0 + sigma * z)
    # curve-following models: the state moves along a potentiation or depression curve of
    # normalised conductance x in [0, 1]; c2c noise is additive, sigma relative to the full range
    x = (w - lo) / (hi - lo)
    if model == NEUROSIM:
        # NeuroSim: both directions walk one curve x(p) = (1 − e^(−p/A))/(1 − e^(−pmax/A)), A signed per
        # direction (A < 0: convex); potentiation p → p + 1, depression p → p − 1 (scaled per device)
        if up:
            a = prm[P0, i]
            pmax = prm[P2, i]
            p = min(_curve_p(x, a, pmax) + prm[S_UP, i], pmax)
        else:
            a = prm[P1, i]
            pmax = prm[P3, i]
            p = max(_curve_p(x, a, pmax) - prm[S_DOWN, i], 0.0)
        x = _curve_x(p, a, pmax)
    else:  # PIECEWISE: consts = [n_up, n_down, p_up…, x_up…, p_down…, x_down…]
        n_up = int(consts[0])
        n_dn = int(consts[1])
        if up:
            x = _table_step(x, prm[S_UP, i], consts, 2, 2 + n_up, n_up, True)
        else:
            off = 2 + 2 * n_up
            x = _table_step(x, prm[S_DOWN, i], consts, off, off + n_dn, n_dn, False)
    return lo + (x + sigma * z) * (hi - lo)


@njit(cache=True, inline="always")
def settle(prm, i, w, n_states):
    """Clip to the device's bounds, snap to its n_states levels (0: continuous), pin stuck devices."""
    lo = prm[W_MIN, i]
    hi = prm[W_MAX, i]
    stuck = prm[STUCK, i]
    if stuck < 0.0:
        return lo
    if stuck > 0.0:
        return hi
    if w < lo:
        w = lo
    elif w > hi:
        w = hi
    if n_states >= 2 and hi > lo:
        step = (hi - lo) / (n_states - 1)
        w = lo + np.floor((w - lo) / step + 0.5) * step
        if w > hi:
            w = hi
    return w


@njit(cache=True, parallel=True)
def apply_pulses(model, n_states, prm, consts, w, counts, key):
    """Apply ``counts[i]`` pulses to device i (sign: potentiation > 0, depression < 0), in place.

    Pulse j of device i draws its noise from (key, i, j), so the result is independent of thread count.
    """
    for i in prange(w.size):
        n = counts[i]
        wi = w[i]
        if n != 0 and prm[STUCK, i] == 0.0:
            k = subkey(key, i)
            up = n > 0
            sigma = prm[C2C, i]
            for j in range(abs(n)):
                z = normal(k, j) if sigma != 0.0 else 0.0
                wi = settle(prm, i, pulse(model, prm, consts, i, wi, up, z), n_states)
        else:
            wi = settle(prm, i, wi, n_states) if prm[STUCK, i] != 0.0 else wi
        w[i] = wi
