"""The rules' per-tile update kernels, fused in Numba: pulse trains in, device steps applied, no ΔW matrix.
They take plain arrays (device states, sampled parameters, trains); the hardware (``hwsim.hardware.tile``)
drives them, and the rules reach them only through the interface (``learning_rules.interface``).

Stochastic pulse trains (Gokmen & Vlasov, Front. Neurosci. 2016). For sample b, input line j carries a train
of BL bits, each 1 with probability q_bj = min(1, c_x·|x_bj|); output line i carries one with
p_bi = min(1, c_d·|d_bi|). A device fires one pulse per coincidence of ones, n_bij = popcount(A_bi ∧ B_bj),
of the sign that lowers the loss: potentiation when d_bi·x_bj < 0 (ΔW = −lr·d·xᵀ). Then
E[n_bij]·dw = BL·p·q·dw = lr·|d_bi·x_bj| when c_x·c_d = lr/(BL·dw) and no probability saturates.

Pair modes (how a signed pulse reaches the differential pair G+ − G−):
    0 "plus"            G+ potentiated or depressed; G− is a fixed reference (aihwkit's single device).
    1 "unidirectional"  potentiation only: ΔW > 0 potentiates G+, ΔW < 0 potentiates G−.
    2 "both"            G+ and G− move oppositely, one pulse each.
Random numbers (counter-based): an update's key has three sub-streams, ``D_TRAINS`` (output lines),
``X_TRAINS`` (input lines) and ``DEVICE_NOISE``; the bits of the train of (sample b, line) come from sub-stream
b·lines + line of its train key; the stochastic update's
pulse at (sample b, bit t) on device (cell, side) draws at counter (2·cell + side)·2³² + b·bl + t of the
cell key; the counted update's k-th pulse from sub-stream 2·cell + side. Results do not depend on the
thread count.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from hwsim.devices.kernels import C2C, STUCK, W_MAX, W_MIN, WNOISE, pulse, settle
from hwsim.devices.rng import _GOLDEN, mix64, normal, subkey

PAIR_MODES = {"plus": 0, "unidirectional": 1, "both": 2}
D_TRAINS, X_TRAINS, DEVICE_NOISE, WRITE_NOISE = 0, 1, 2, 3          # sub-streams of an update's key


@njit(cache=True, inline="always")
def popcount(m):
    m = uint64(m)
    m = m - ((m >> uint64(1)) & uint64(0x5555555555555555))
    m = (m & uint64(0x3333333333333333)) + ((m >> uint64(2)) & uint64(0x3333333333333333))
    m = (m + (m >> uint64(4))) & uint64(0x0F0F0F0F0F0F0F0F)
    return int((m * uint64(0x0101010101010101)) >> uint64(56))


@njit(cache=True, parallel=True)
def pulse_trains(v, scale, bl, key, by_line=False):
    """Bit trains (batch, lines) uint64 for values v (batch, lines): bit t is 1 with probability
    min(1, scale·|v|); plus the sign flags (batch, lines) (True where v < 0) and the number of saturated
    probabilities (scale·|v| > 1). Bit t compares the 16-bit uniform number t % 4 of draw t // 4 (one hash
    gives four) with the probability, which is resolved to 1/65536. ``by_line``: return (lines, batch)
    arrays instead (the layout the update kernel reads the output lines in)."""
    batch, lines = v.shape
    bits = np.zeros((lines, batch) if by_line else (batch, lines), np.uint64)
    neg = np.zeros((lines, batch) if by_line else (batch, lines), np.bool_)
    full = (uint64(1) << uint64(bl)) - uint64(1) if bl < 64 else ~uint64(0)
    chunks = (bl + 3) // 4
    saturated = np.zeros(batch, np.int64)
    for b in prange(batch):
        for line in range(lines):
            p = min(1.0, scale * abs(v[b, line]))
            if by_line:
                neg[line, b] = v[b, line] < 0.0
            else:
                neg[b, line] = v[b, line] < 0.0
            if p == 0.0:
                continue
            if p >= 1.0:
                if by_line:
                    bits[line, b] = full
                else:
                    bits[b, line] = full
                if scale * abs(v[b, line]) > 1.0:
                    saturated[b] += 1
                continue
            threshold = uint64(p * 65536.0 + 0.5)
            k = subkey(key, b * lines + line)
            m = uint64(0)
            for c in range(chunks):
                r = mix64(k + uint64(c + 1) * _GOLDEN)
                for q in range(4):
                    bit = uint64(1) if ((r >> uint64(16 * q)) & uint64(0xFFFF)) < threshold else uint64(0)
                    m |= bit << uint64(4 * c + q)
            m &= full
            if by_line:
                bits[line, b] = m
            else:
                bits[b, line] = m
    return bits, neg, saturated.sum()


@njit(cache=True)
def bit_lists(bits, bl):
    """For every (sample b, bit t): the input lines whose train has bit t set, as CSR over b·bl + t
    (pointer (batch·bl + 1,), index). The update visits exactly these lines: its work is the number of
    pulses, not rows × cols × batch."""
    batch, lines = bits.shape
    ptr = np.zeros(batch * bl + 1, np.int64)
    for b in range(batch):
        for j in range(lines):
            m = bits[b, j]
            while m:
                t = popcount((m & (~m + uint64(1))) - uint64(1))     # index of the lowest set bit
                ptr[b * bl + t + 1] += 1
                m &= m - uint64(1)
    for k in range(batch * bl):
        ptr[k + 1] += ptr[k]
    idx = np.empty(ptr[batch * bl], np.int64)
    fill = ptr[:-1].copy()
    for b in range(batch):
        for j in range(lines):
            m = bits[b, j]
            while m:
                t = popcount((m & (~m + uint64(1))) - uint64(1))
                idx[fill[b * bl + t]] = j
                fill[b * bl + t] += 1
                m &= m - uint64(1)
    return ptr, idx


@njit(cache=True, inline="always")
def _fire(model, n_states, prm, consts, w, cell, up, n, key, counter):
    """n pulses of one sign on one device; returns its new state. Noise draws at counters counter…+n−1."""
    sigma = prm[C2C, cell]
    for k in range(n):
        z = normal(key, counter + k) if sigma != 0.0 else 0.0
        w = settle(prm, cell, pulse(model, prm, consts, cell, w, up, z), n_states)
    return w


@njit(cache=True, inline="always")
def _write_noise(prm, cell, w, key, counter):
    """Write noise of a device just pulsed: the offset of its apparent state from its stored state w, a fresh
    N(0, σ_w²) draw (σ_w = ``prm[WNOISE]``) with the apparent state kept within the device's bounds."""
    s = prm[WNOISE, cell]
    if s == 0.0:
        return 0.0
    v = w + s * normal(key, counter)
    return min(max(v, prm[W_MIN, cell]), prm[W_MAX, cell]) - w


@njit(cache=True, parallel=True)
def stochastic_update(model, n_states, prm_p, prm_m, consts, w_p, w_m, off_p, off_m, counts, rows_bits,
                      rows_neg, cols_neg, bit_ptr, bit_idx, bl, pair_mode, key, wkey):
    """Apply the coincidence pulses of a batch to a tile, in place; returns the pulses fired.

    rows_bits/rows_neg: (rows, batch) trains and signs of d; cols_neg: (batch, cols) signs of x;
    bit_ptr/bit_idx: per (sample, bit) the input lines carrying that bit (``bit_lists``).
    w_p, w_m: stored device states (rows·cols,) of G+ and G−; off_p, off_m: their write-noise offsets
    (apparent state = stored + offset), redrawn at every pulse from ``wkey`` at the pulse's counter; counts
    (4, rows·cols) int64: potentiation and depression pulses of G+, then of G−. A device sees its pulses sample after sample, bit after bit (all
    of one sign within a sample): the result of n_bij = popcount(A_bi ∧ B_bj) consecutive pulses per
    sample. The pulse at (sample b, bit t) draws its cycle-to-cycle noise at counter
    (2·cell + side)·2³² + b·bl + t of ``key``: every device owns a disjoint block of 2³² counters of one
    SplitMix64 sequence. Rows run in parallel; the work is proportional to the pulses fired.
    """
    rows, batch = rows_bits.shape
    cols = cols_neg.shape[1]
    fired = np.zeros(rows, np.int64)
    for i in prange(rows):
        base = i * cols
        n_fired = 0
        for b in range(batch):
            a = rows_bits[i, b]
            neg_d = rows_neg[i, b]
            while a:
                t = popcount((a & (~a + uint64(1))) - uint64(1))
                a &= a - uint64(1)
                counter = b * bl + t
                for q in range(bit_ptr[b * bl + t], bit_ptr[b * bl + t + 1]):
                    j = bit_idx[q]
                    cell = base + j
                    up = neg_d != cols_neg[b, j]                # d·x < 0: the weight must grow
                    if pair_mode == 0 or (pair_mode == 1 and up) or pair_mode == 2:
                        if prm_p[STUCK, cell] == 0.0:
                            c = ((2 * cell) << 32) + counter
                            w_p[cell] = _fire(model, n_states, prm_p, consts, w_p[cell], cell, up, 1, key, c)
                            off_p[cell] = _write_noise(prm_p, cell, w_p[cell], wkey, c)
                        counts[0 if up else 1, cell] += 1
                        n_fired += 1
                    if (pair_mode == 1 and not up) or pair_mode == 2:
                        mup = pair_mode == 1 or not up            # G− moves against G+
                        if prm_m[STUCK, cell] == 0.0:
                            c = ((2 * cell + 1) << 32) + counter
                            w_m[cell] = _fire(model, n_states, prm_m, consts, w_m[cell], cell, mup, 1, key, c)
                            off_m[cell] = _write_noise(prm_m, cell, w_m[cell], wkey, c)
                        counts[2 if mup else 3, cell] += 1
                        n_fired += 1
        fired[i] = n_fired
    return fired.sum()


@njit(cache=True, parallel=True)
def counted_update(model, n_states, prm_p, prm_m, consts, w_p, w_m, off_p, off_m, counts, n_pulses, pair_mode,
                   key, wkey):
    """Apply a signed pulse count per cell (> 0: the weight must grow), in place, with the pair mode; a
    device's k-th pulse draws its noise at counter k of sub-stream 2·cell + side of ``key``, its write noise
    (after its last pulse) at counter 0 of the same sub-stream of ``wkey``."""
    for cell in prange(w_p.size):
        n = n_pulses[cell]
        if n == 0:
            continue
        up = n > 0
        n = abs(n)
        if pair_mode == 0 or (pair_mode == 1 and up) or pair_mode == 2:
            if prm_p[STUCK, cell] == 0.0:
                w_p[cell] = _fire(model, n_states, prm_p, consts, w_p[cell], cell, up, n, subkey(key, 2 * cell), 0)
                off_p[cell] = _write_noise(prm_p, cell, w_p[cell], subkey(wkey, 2 * cell), 0)
            counts[0 if up else 1, cell] += n
        if (pair_mode == 1 and not up) or pair_mode == 2:
            mup = pair_mode == 1 or not up
            if prm_m[STUCK, cell] == 0.0:
                w_m[cell] = _fire(model, n_states, prm_m, consts, w_m[cell], cell, mup, n,
                                  subkey(key, 2 * cell + 1), 0)
                off_m[cell] = _write_noise(prm_m, cell, w_m[cell], subkey(wkey, 2 * cell + 1), 0)
            counts[2 if mup else 3, cell] += n


@njit(cache=True, parallel=True)
def alternating_update(model, n_states, prm, consts, w, off, counts, pairs, key, wkey):
    """``pairs`` pulse pairs (one potentiation, then one depression) on every device of one side of a tile,
    in place: the symmetry-point calibration (``Tile.calibrate_symmetry_point``). w, off: stored states and
    write-noise offsets of that side (cells,); counts (2, cells): its potentiation and depression rows. The
    k-th pulse of a device draws its noise at counter k of sub-stream ``cell`` of ``key``, its write noise
    (after its last pulse) at counter 0 of the same sub-stream of ``wkey``. Stuck devices take the pulses
    (counted) without moving."""
    for cell in prange(w.size):
        counts[0, cell] += pairs
        counts[1, cell] += pairs
        if prm[STUCK, cell] != 0.0:
            continue
        k = subkey(key, cell)
        v = w[cell]
        for p in range(pairs):
            v = _fire(model, n_states, prm, consts, v, cell, True, 1, k, 2 * p)
            v = _fire(model, n_states, prm, consts, v, cell, False, 1, k, 2 * p + 1)
        w[cell] = v
        off[cell] = _write_noise(prm, cell, v, subkey(wkey, cell), 0)
