"""Numba kernels: one pulse on one device, and n pulses on arrays of devices.

Per-device parameters reach the kernels as rows of one float64 array ``prm[row, cell]`` (rows below); the
parameters shared by all devices of a model (e.g. ExpStep's ``A_up``) as a 1-D float64 array ``consts``.
``pulse`` is the single place where device physics happens; tile kernels call it directly (fused updates),
and ``apply_pulses`` calls it for whole arrays.

Weights are in normalised units (see ``DeviceModel``); ``up`` means potentiation (weight increases).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types, uint64
from numba.extending import intrinsic

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
        return w - prm[P1, i] * w - prm[S_DOWN, i] * (1.0 + sigma * z)
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


# Runs of pulses: the n pulses of one sign that one device takes in one go (a counted update; one sample of a
# constant-step batch replayed near a bound). Pulse k of a run starting at counter ``base`` draws its noise at
# counter base + k, or, given the run's coincidence mask (the replay), at base + t for the bit t it fires at.
# Constant- and linear-step devices without levels ("affine" models: a pulse maps w ← w + (c·w + s)·(1 + σz),
# or w + c·w + s·(1 + σz) with additive noise) take fast paths (``affine_run``) when the run cannot reach a
# bound, so that no clipping happens between pulses: a pulse moves the state by at most F·(1 + EXCURSION·σ)
# (F the largest |c·w + s| over the bounds) unless its draw is beyond EXCURSION standard deviations, which has
# probability 1.2e-15. The fast paths, per noise form:
#   additive (constant-step; linear-step with mult_noise false): the state after n pulses is exactly Gaussian,
#       mean m_n and variance σ²·v_n from m ← (1 + c)·m + s, v ← (1 + c)²·v + s²: one draw (at the run's
#       first counter).
#   multiplicative (soft-bounds, linear-step): w_n = w_0 + (c·w_0 + s)·r_n, r ← r + (1 + σz_k)·(1 + c·r): the
#       per-pulse draws, without clipping or re-reading the state at every pulse.
EXCURSION = 8.0


@intrinsic
def _bit_count(typingctx, m):
    """LLVM's ctpop of a uint64 (one instruction where the CPU has it)."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return types.uint64(types.uint64), codegen


@intrinsic
def _trailing_zeros(typingctx, m):
    """LLVM's cttz of a uint64."""
    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))
    return types.uint64(types.uint64), codegen


@njit(cache=True, inline="always")
def popcount(m):
    """Number of set bits of a uint64."""
    return int(_bit_count(uint64(m)))


@njit(cache=True, inline="always")
def lowest_bit(m):
    """Index of the lowest set bit of a non-zero uint64."""
    return int(_trailing_zeros(uint64(m)))


@njit(cache=True, inline="always")
def pulse_counter(base, k, m):
    """Counter of the k-th pulse of a run starting at ``base``: base + k, or, given the run's coincidence mask
    m ≠ 0 (bit t set: a pulse at bit t of the sample's train) with its first k bits cleared (``m &= m - 1``
    after every pulse), base + t of its lowest set bit."""
    return base + (lowest_bit(m) if m else k)


@njit(cache=True, inline="always")
def affine_step(prm, i, up, linear):
    """(c, s) of a constant-step (``linear`` False) or linear-step pulse: w ← w + (c·w + s)·(1 + σz)."""
    if up:
        return (prm[P0, i] if linear else 0.0), prm[S_UP, i]
    return (-prm[P1, i] if linear else 0.0), -prm[S_DOWN, i]


@njit(cache=True, inline="always")
def pulse_run(model, n_states, prm, consts, i, w, up, n, key, base):
    """Device i after n pulses in direction ``up`` from state w, pulse by pulse (``pulse``, ``settle``); the
    k-th pulse draws at counter base + k. Constant- and linear-step devices step through
    ``affine_step`` (the same arithmetic as ``pulse``): kept apart from the other models, their loop compiles
    without Numba's reference counting of ``consts`` at every pulse (measured: 32 → 17–19 ns per pulse)."""
    sigma = prm[C2C, i]
    mult = consts[0] != 0.0           # read before any branch (see above); linear-step's multiplicative noise
    if model == CONSTANT or model == LINEAR:
        linear = model == LINEAR
        mult = linear and mult
        for k in range(n):
            z = normal(key, base + k) if sigma != 0.0 else 0.0
            c, s = affine_step(prm, i, up, linear)
            if mult:
                w = w + (c * w + s) * (1.0 + sigma * z)
            else:
                w = w + c * w + s * (1.0 + sigma * z)
            w = settle(prm, i, w, n_states)
        return w
    for k in range(n):
        z = normal(key, base + k) if sigma != 0.0 else 0.0
        w = pulse_settled(model, n_states, prm, consts, i, w, up, z)
    return w


@njit(cache=True)
def pulse_settled(model, n_states, prm, consts, i, w, up, z):
    """``settle(pulse(…))``: one pulse of any model, compiled once, as a function of its own that the kernels
    call instead of inlining every model's physics at each of their call sites (measured, single thread: the
    three update kernels compiled in 167 s inlined, 78–81 s called; a pulse of exp-step costs ≈ 20 ns more)."""
    return settle(prm, i, pulse(model, prm, consts, i, w, up, z), n_states)


@njit(cache=True, inline="always")
def affine_run(prm, i, w, up, n, linear, mult, key, base, mask=0):
    """``pulse_run`` of a constant-step or linear-step device without levels (``mult``: multiplicative noise,
    ``consts[0]`` of linear-step), with the fast paths above (the one draw of the additive path at the run's
    first counter)."""
    c, s = affine_step(prm, i, up, linear)
    sigma = prm[C2C, i]
    lo = prm[W_MIN, i]
    hi = prm[W_MAX, i]
    reach = max(abs(c * lo + s), abs(c * hi + s)) * n * (1.0 + EXCURSION * sigma)
    if w - reach > lo and w + reach < hi:
        if not mult:
            z = normal(key, pulse_counter(base, 0, uint64(mask))) if sigma != 0.0 else 0.0
            if c == 0.0:
                return w + s * (n + sigma * np.sqrt(n) * z)
            a = 1.0 + c
            m = w
            v = 0.0
            for _ in range(n):
                m = a * m + s
                v = a * a * v + s * s
            return m + sigma * np.sqrt(v) * z
        r = 0.0
        m = uint64(mask)
        for k in range(n):
            at = pulse_counter(base, k, m)
            m &= m - uint64(1)
            z = normal(key, at) if sigma != 0.0 else 0.0
            r = r + (1.0 + sigma * z) * (1.0 + c * r)
        return w + (c * w + s) * r
    m = uint64(mask)
    for k in range(n):                # near a bound: pulse by pulse, clipped (as ``pulse`` and ``settle``)
        at = pulse_counter(base, k, m)
        m &= m - uint64(1)
        z = normal(key, at) if sigma != 0.0 else 0.0
        if mult:
            w = w + (c * w + s) * (1.0 + sigma * z)
        else:
            w = w + c * w + s * (1.0 + sigma * z)
        w = min(max(w, lo), hi)
    return w


@njit(cache=True)
def run(model, n_states, prm, consts, i, w, up, n, key, base, fast):
    """Device i after n pulses in direction ``up`` from state w: ``affine_run`` where it applies and ``fast``,
    else ``pulse_run``."""
    if fast and n_states == 0 and (model == CONSTANT or model == LINEAR):
        return affine_run(prm, i, w, up, n, model == LINEAR, model == LINEAR and consts[0] != 0.0, key, base)
    return pulse_run(model, n_states, prm, consts, i, w, up, n, key, base)


@njit(cache=True, parallel=True)
def apply_pulses(model, n_states, prm, consts, w, counts, key):
    """Apply ``counts[i]`` pulses to device i (sign: potentiation > 0, depression < 0), in place.

    Pulse j of device i draws its noise from (key, i, j), so the result is independent of thread count.
    """
    for c in prange(w.size):
        i = np.int64(c)                 # prange's index is unsigned in one of Numba's passes: one signature
        n = counts[i]
        wi = w[i]
        if n != 0 and prm[STUCK, i] == 0.0:
            wi = pulse_run(model, n_states, prm, consts, i, wi, n > 0, abs(n), subkey(key, i), 0)
        else:
            wi = settle(prm, i, wi, n_states) if prm[STUCK, i] != 0.0 else wi
        w[i] = wi
