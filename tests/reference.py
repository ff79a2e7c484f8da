"""Plain NumPy references for the device kernels: the counter-based RNG and one pulse of every model.

Written independently of ``devices.kernels`` (vectorised over devices, no Numba) so that tests compare two
implementations on the same random draws.
"""
import numpy as np

from hwsim.devices import kernels as K

G = np.uint64(0x9E3779B97F4A7C15)


def mix64(z):
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def subkey(key, index):
    with np.errstate(over="ignore"):
        return mix64(np.uint64(key) ^ mix64(np.asarray(index, np.uint64) * G + G))


def uniform(key, counter):
    with np.errstate(over="ignore"):
        r = mix64(np.asarray(key, np.uint64) + np.asarray(counter, np.uint64) * G)
    return ((r >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0 ** 53


def _tail(r):
    """Marsaglia's tail method, scalar (rare: 1 draw in 2048)."""
    from hwsim.devices.rng import _TAIL
    k = np.uint64(r)
    while True:
        with np.errstate(over="ignore"):
            k = mix64(k + G)
            u1 = (float(k >> np.uint64(11)) + 0.5) / 2.0 ** 53
            k = mix64(k + G)
            u2 = (float(k >> np.uint64(11)) + 0.5) / 2.0 ** 53
        x = -np.log(u1) / _TAIL
        if -2.0 * np.log(u2) > x * x:
            return _TAIL + x


def normal(key, counter):
    """Inverse-CDF table normal: 4096 equiprobable bins, linear inside, exact tails."""
    from statistics import NormalDist
    edges = np.array([0.0] + [NormalDist().inv_cdf(k / 4096) for k in range(1, 4096)] + [0.0])
    with np.errstate(over="ignore"):
        r = mix64(np.asarray(key, np.uint64) + np.asarray(counter, np.uint64) * G)
    r = np.atleast_1d(r)
    b = (r >> np.uint64(52)).astype(np.int64)
    f = ((r >> np.uint64(20)) & np.uint64(0xFFFFFFFF)).astype(np.float64) / 2.0 ** 32
    inner = np.clip(b, 1, 4094)
    z = edges[inner] + f * (edges[inner + 1] - edges[inner])
    for i in np.nonzero((b == 0) | (b == 4095))[0]:
        z[i] = _tail(r[i]) * (1 if b[i] == 4095 else -1)
    return z


def normal32(u):
    """Normal from 32-bit words u (12 bits of bin, 20 inside it; tails from a hash of u alone)."""
    from statistics import NormalDist
    edges = np.array([0.0] + [NormalDist().inv_cdf(k / 4096) for k in range(1, 4096)] + [0.0])
    u = np.atleast_1d(np.asarray(u, np.uint64))
    b = (u >> np.uint64(20)).astype(np.int64)
    f = (u & np.uint64(0xFFFFF)).astype(np.float64) / 2.0 ** 20
    inner = np.clip(b, 1, 4094)
    z = edges[inner] + f * (edges[inner + 1] - edges[inner])
    for i in np.nonzero((b == 0) | (b == 4095))[0]:
        z[i] = _tail(mix64(u[i])) * (1 if b[i] == 4095 else -1)
    return z


def pulse_normals(key, stream, p, shift=40):
    """Normals of device pulses p (array) of a pulse stream: half p % 2 of hash stream·2^shift + p // 2 of key."""
    p = np.asarray(p, np.uint64)
    counter = (np.asarray(stream, np.uint64) << np.uint64(shift)) + (p >> np.uint64(1))
    with np.errstate(over="ignore"):
        r = mix64(np.uint64(key) + counter * G)
    return normal32(np.where(p % np.uint64(2) == 0, r & np.uint64(0xFFFFFFFF), r >> np.uint64(32)))


def _curve_x(p, a, pmax):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a == 0, p / pmax, np.expm1(-p / a) / np.expm1(-pmax / a))


def _curve_p(x, a, pmax):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a == 0, x * pmax, -a * np.log1p(x * np.expm1(-pmax / a)))


def pulse(model, prm, consts, w, up, z):
    """One pulse on every device (vector form of the documented update equations)."""
    lo, hi, sig = prm[K.W_MIN], prm[K.W_MAX], prm[K.C2C]
    su, sd = prm[K.S_UP], prm[K.S_DOWN]
    if model == K.CONSTANT:
        return w + su * (1 + sig * z) if up else w - sd * (1 + sig * z)
    if model == K.LINEAR:
        if consts[0]:
            return w + (prm[K.P0] * w + su) * (1 + sig * z) if up else w - (prm[K.P1] * w + sd) * (1 + sig * z)
        return w + prm[K.P0] * w + su * (1 + sig * z) if up else w - (prm[K.P1] * w + sd * (1 + sig * z))
    if model == K.EXP:
        A_up, A_dn, g_up, g_dn, a, b, add, slope = consts
        zz = 2 * a * w / (hi - lo) + b
        dw = np.maximum(1 - A_up * np.exp(g_up * zz), 0) * su if up else \
            -np.maximum(1 - A_dn * np.exp(-g_dn * zz), 0) * sd
        if add or slope:
            return w + dw + np.where(sig > 0, sig * (np.abs(dw) + add + slope * np.abs(w)) * z, 0.0)
        return w + dw * (1 + sig * z)
    if model == K.POW:
        r = hi - lo
        return w + su * ((hi - w) / r) ** prm[K.P0] * (1 + sig * z) if up else \
            w - sd * ((w - lo) / r) ** prm[K.P1] * (1 + sig * z)
    x = (w - lo) / (hi - lo)
    if model == K.NEUROSIM:
        if up:
            a, pm = prm[K.P0], prm[K.P2]
            p = np.minimum(_curve_p(x, a, pm) + su, pm)
        else:
            a, pm = prm[K.P1], prm[K.P3]
            p = np.maximum(_curve_p(x, a, pm) - sd, 0.0)
        x = _curve_x(p, a, pm)
    else:
        n_up, n_dn = int(consts[0]), int(consts[1])
        tab = consts[2:]
        if up:
            pp, xx, inc = tab[:n_up], tab[n_up:2 * n_up], su
            p = np.interp(x, xx, pp)
        else:
            pp, xx, inc = tab[2 * n_up:2 * n_up + n_dn], tab[2 * n_up + n_dn:], sd
            p = np.interp(x, xx[::-1], pp[::-1])
        x = np.interp(np.minimum(p + inc, pp[-1]), pp, xx)
    return lo + (x + sig * z) * (hi - lo)


def settle(prm, w, n_states):
    lo, hi, stuck = prm[K.W_MIN], prm[K.W_MAX], prm[K.STUCK]
    w = np.clip(w, lo, hi)
    if n_states >= 2:
        step = (hi - lo) / (n_states - 1)
        w = np.minimum(lo + np.floor((w - lo) / step + 0.5) * step, hi)
    return np.where(stuck < 0, lo, np.where(stuck > 0, hi, w))


def apply_pulses(params, w, counts, key):
    """Reference of ``kernels.apply_pulses``: same draws (key, cell, pulse), NumPy arithmetic."""
    prm, w = params.values, w.copy()
    keys = subkey(key, np.arange(w.size))
    active = (counts != 0) & (prm[K.STUCK] == 0)
    for j in range(int(np.abs(counts).max(initial=0))):
        z = np.where(prm[K.C2C] != 0, normal(keys, np.full(w.size, j)), 0.0)
        for up in (True, False):
            sel = active & (np.abs(counts) > j) & ((counts > 0) == up)
            if sel.any():
                new = settle(prm, pulse(params.model_id, prm, params.consts, w, up, z), params.n_states)
                w = np.where(sel, new, w)
    return np.where(prm[K.STUCK] != 0, settle(prm, w, 0), w)


def popcount(m):
    m = np.asarray(m, np.uint64)
    with np.errstate(over="ignore"):
        m = m - ((m >> np.uint64(1)) & np.uint64(0x5555555555555555))
        m = (m & np.uint64(0x3333333333333333)) + ((m >> np.uint64(2)) & np.uint64(0x3333333333333333))
        m = (m + (m >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
        return ((m * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.int64)


def pulse_trains(v, scale, bl, key):
    """(batch, lines) bit trains and sign flags, as ``learning_rules.pulses.pulse_trains``."""
    batch, lines = v.shape
    p = np.minimum(1.0, scale * np.abs(v))
    keys = subkey(key, np.arange(batch * lines)).reshape(batch, lines)
    threshold = np.floor(p * 65536.0 + 0.5).astype(np.uint64)
    bits = np.zeros((batch, lines), np.uint64)
    for t in range(bl):
        with np.errstate(over="ignore"):
            r = mix64(keys + np.uint64(t // 4 + 1) * G)
        u16 = (r >> np.uint64(16 * (t % 4))) & np.uint64(0xFFFF)
        fire = (u16 < threshold) & (p > 0)
        bits |= np.where(fire, np.uint64(1) << np.uint64(t), np.uint64(0))
    return bits, v < 0


def fire_one(params, w, cells, up, z):
    """One pulse of direction up[c] on each of cells[c] with draws z[c]."""
    prm = params.values
    w = w.copy()
    sub = prm[:, cells]
    for direction in (True, False):
        sel = up == direction
        if sel.any():
            s2 = sub[:, sel]
            new = pulse(params.model_id, s2, params.consts, w[cells[sel]], direction, z[sel])
            w[cells[sel]] = settle(s2, new, params.n_states)
    return w


def _draws(params, cells, keys, k):
    """The counted update's draws: counter k of each cell's sub-stream key, none (0) without c2c noise."""
    return np.where(params.values[K.C2C, cells] != 0, normal(keys, np.full(cells.size, k, np.uint64)), 0.0)


def write_noise(params, w, cells, key, counters):
    """The write-noise offsets of cells just pulsed: clip(w + σ_w·z, bounds) − w, z at counters[c] of key."""
    prm = params.values[:, cells]
    v = np.clip(w[cells] + prm[K.WNOISE] * normal(key, counters), prm[K.W_MIN], prm[K.W_MAX])
    return np.where(prm[K.WNOISE] != 0, v - w[cells], 0.0)


def stochastic_update(tile, x, d, lr, bl, key, kernel="lists"):
    """Reference of ``Tile.update`` after key derivation: returns (w_plus, w_minus, counts, offset_plus,
    offset_minus). Pulses go sample by sample, bit by bit. Their normals, by ``kernel``: "lists", on side s
    (0: G+, 1: G−) of row i the p-th device pulse in order (sample, bit, column) draws half p % 2 of hash
    (2·i + s)·2⁴⁰ + p // 2 of the device-noise key; "cells", a device's k-th pulse in the call draws half k % 2
    of hash (2·cell + s)·2³² + k // 2 (stuck devices' pulses count in p and k). A device pulsed in the call draws
    its write noise after its last pulse at counter (2·cell + side)·2³² + batch·bl of the write-noise key."""
    from hwsim.devices.rng import stream_key
    pp, pm = tile.params_plus, tile.params_minus
    x_max, d_max = np.abs(x).max(), np.abs(d).max()
    gain = lr / (bl * tile.dw_pair)
    cx, cd = np.sqrt(gain * d_max / x_max), np.sqrt(gain * x_max / d_max)
    from hwsim.learning_rules.pulses import D_TRAINS, DEVICE_NOISE, WRITE_NOISE, X_TRAINS
    cbits, cneg = pulse_trains(x, cx, bl, stream_key(key, X_TRAINS))
    rbits, rneg = pulse_trains(d, cd, bl, stream_key(key, D_TRAINS))
    ckey, wkey = stream_key(key, DEVICE_NOISE), stream_key(key, WRITE_NOISE)
    R, C = tile.rows, tile.cols
    cells = np.arange(R * C)
    rows = cells // C
    base_p = (2 * cells).astype(np.uint64) << np.uint64(32)
    base_m = (2 * cells + 1).astype(np.uint64) << np.uint64(32)
    wp, wm = tile.w_plus.ravel().copy(), tile.w_minus.ravel().copy()
    op, om = tile.offset_plus.ravel().copy(), tile.offset_minus.ravel().copy()
    counts = tile.pulse_counts.reshape(4, -1).copy()
    mode = tile.pair
    free_p, free_m = pp.values[K.STUCK] == 0, pm.values[K.STUCK] == 0
    pulsed_p, pulsed_m = np.zeros(R * C, bool), np.zeros(R * C, bool)
    fired = np.zeros((2, R), np.int64)                 # device pulses so far per side and row
    fired_cell = np.zeros((2, R * C), np.int64)        # and per side and device
    for b in range(x.shape[0]):
        up = (rneg[b][:, None] != cneg[b][None, :]).ravel()
        up_m = np.full(up.shape, True) if mode == "unidirectional" else ~up
        common = (rbits[b][:, None] & cbits[b][None, :]).ravel()
        for t in range(bl):
            bit = np.uint64(1) << np.uint64(t)
            hit = (common & bit) != 0
            to_p = hit & ((mode != "unidirectional") | up)
            to_m = hit & (((mode == "unidirectional") & ~up) | (mode == "both"))
            for side, routed, params, free, dirs in ((0, to_p, pp, free_p, up), (1, to_m, pm, free_m, up_m)):
                rank = np.cumsum(routed.reshape(R, C), axis=1).ravel() - 1      # order within the row
                p = fired[side, rows] + rank
                k = fired_cell[side].copy()
                fired[side] += routed.reshape(R, C).sum(axis=1)
                fired_cell[side] += routed
                sel = routed & free
                if sel.any():
                    if kernel == "lists":
                        z = pulse_normals(ckey, 2 * rows[sel] + side, p[sel])
                    else:
                        z = pulse_normals(ckey, 2 * cells[sel] + side, k[sel], shift=32)
                    if side == 0:
                        wp = fire_one(params, wp, cells[sel], dirs[sel], z)
                        pulsed_p |= sel
                    else:
                        wm = fire_one(params, wm, cells[sel], dirs[sel], z)
                        pulsed_m |= sel
            np.add.at(counts, (np.where(up, 0, 1)[to_p], cells[to_p]), 1)
            np.add.at(counts, (np.where(up_m, 2, 3)[to_m], cells[to_m]), 1)
    last = np.uint64(x.shape[0] * bl)
    op[pulsed_p] = write_noise(pp, wp, cells[pulsed_p], wkey, base_p[pulsed_p] + last)
    om[pulsed_m] = write_noise(pm, wm, cells[pulsed_m], wkey, base_m[pulsed_m] + last)
    return wp.reshape(R, C), wm.reshape(R, C), counts.reshape(4, R, C), op.reshape(R, C), om.reshape(R, C)


def counted_update(tile, n_pulses, key):
    """Reference of ``learning_rules.pulses.counted_update`` (``Tile.update_pulses`` after key derivation):
    returns (w_plus, w_minus, counts, offset_plus, offset_minus). Cell c with signed count n fires |n| pulses;
    G+'s k-th pulse draws its noise at counter k of sub-stream 2·c of the device-noise key, G−'s at counter k of
    sub-stream 2·c + 1; after its last pulse a device's write noise is drawn at counter 0 of the same
    sub-stream of the write-noise key. Pair modes:
    "plus" G+ only; "unidirectional" potentiation of G+ (n > 0) or of G− (n < 0); "both" G+ with the sign of
    n and G− against it. Stuck devices do not move but their pulses are counted."""
    pp, pm = tile.params_plus, tile.params_minus
    n = np.asarray(n_pulses, np.int64).ravel()
    mode = tile.pair
    cells = np.arange(n.size)
    up = n > 0
    mag = np.abs(n)
    to_p = (n != 0) & ((mode != "unidirectional") | up)
    to_m = (n != 0) & (((mode == "unidirectional") & ~up) | (mode == "both"))
    up_m = np.full(up.shape, True) if mode == "unidirectional" else ~up
    from hwsim.devices.rng import stream_key
    from hwsim.learning_rules.pulses import DEVICE_NOISE, WRITE_NOISE
    ckey, wkey = stream_key(key, DEVICE_NOISE), stream_key(key, WRITE_NOISE)
    keys_p, keys_m = subkey(ckey, 2 * cells), subkey(ckey, 2 * cells + 1)
    wkeys_p, wkeys_m = subkey(wkey, 2 * cells), subkey(wkey, 2 * cells + 1)
    wp, wm = tile.w_plus.ravel().copy(), tile.w_minus.ravel().copy()
    op, om = tile.offset_plus.ravel().copy(), tile.offset_minus.ravel().copy()
    free_p, free_m = pp.values[K.STUCK] == 0, pm.values[K.STUCK] == 0
    for k in range(int(mag.max(initial=0))):
        sel = to_p & free_p & (mag > k)
        if sel.any():
            wp = fire_one(pp, wp, cells[sel], up[sel], _draws(pp, cells[sel], keys_p[sel], k))
        sel = to_m & free_m & (mag > k)
        if sel.any():
            wm = fire_one(pm, wm, cells[sel], up_m[sel], _draws(pm, cells[sel], keys_m[sel], k))
    zero = np.zeros(n.size, np.uint64)
    sel = to_p & free_p
    op[sel] = write_noise(pp, wp, cells[sel], wkeys_p[sel], zero[sel])
    sel = to_m & free_m
    om[sel] = write_noise(pm, wm, cells[sel], wkeys_m[sel], zero[sel])
    counts = tile.pulse_counts.reshape(4, -1).copy()
    np.add.at(counts, (np.where(up, 0, 1)[to_p], cells[to_p]), mag[to_p])
    np.add.at(counts, (np.where(up_m, 2, 3)[to_m], cells[to_m]), mag[to_m])
    R, C = tile.rows, tile.cols
    return wp.reshape(R, C), wm.reshape(R, C), counts.reshape(4, R, C), op.reshape(R, C), om.reshape(R, C)


# ---- periphery ------------------------------------------------------------------------------------------
def converter_step(bits, full_scale):
    """Level spacing of a symmetric b-bit converter: levels k·step, |k| <= 2^(b−1) − 1, the outermost at
    ±full_scale (2^b − 1 levels); 0 bits: continuous (step 0)."""
    return full_scale / (2.0 ** (bits - 1) - 1.0) if bits else 0.0


def _convert(v, bits, full_scale):
    v = np.clip(v, -full_scale, full_scale)
    step = converter_step(bits, full_scale)
    return np.rint(v / step) * step if step else v


def dac(x, bits, full_scale, abs_max):
    """Reference of ``periphery.dac``: per sample scale s = max|x|/full_scale (abs-max; 1 for an all-zero
    row or without abs-max), then x/s clipped to ±full_scale and rounded to the levels; float32 out."""
    x = np.asarray(x, np.float64)
    if abs_max:
        m = np.abs(x).max(axis=1)
        s = np.where(m > 0, m / full_scale, 1.0)
    else:
        s = np.ones(x.shape[0])
    return _convert(x / s[:, None], bits, full_scale).astype(np.float32), s


def adc(y, scales, bits, full_scale, noise, key):
    """Reference of ``periphery.adc`` (not in place): y + noise·z, z of sample b and output i drawn at
    counter i of sub-stream b of ``key``, clipped to ±full_scale, rounded to the levels, times the sample's
    input scale; float32 out."""
    y = np.asarray(y, np.float64)
    batch, n = y.shape
    if noise > 0:
        keys = np.repeat(subkey(key, np.arange(batch)), n)
        y = y + noise * normal(keys, np.tile(np.arange(n, dtype=np.uint64), batch)).reshape(batch, n)
    return (_convert(y, bits, full_scale) * np.asarray(scales)[:, None]).astype(np.float32)
