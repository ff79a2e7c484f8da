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
b·lines + line of its train key; in the stochastic update, the pulse at bit t of sample b on device
(cell, side) draws at counter (2·cell + side)·2³² + b·bl + t of the device-noise key; in the counted update,
its k-th pulse at counter k of sub-stream 2·cell + side. Results do not depend on the thread count.

A device takes the pulses of one sample (or of one counted update) as a run; constant- and linear-step
devices take runs on fast paths that are exact in distribution (``devices.kernels.affine_run``;
constant-step ones a whole batch at once, ``_row_constant``); ``fast=False`` steps every pulse.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from hwsim.devices.kernels import (C2C, CONSTANT, EXCURSION, LINEAR, S_DOWN, S_UP, STUCK, W_MAX, W_MIN, WNOISE,
                                   affine_run, lowest_bit, popcount, pulse_run, run)
from hwsim.devices.rng import _GOLDEN, mix64, normal, subkey

PAIR_MODES = {"plus": 0, "unidirectional": 1, "both": 2}
D_TRAINS, X_TRAINS, DEVICE_NOISE, WRITE_NOISE = 0, 1, 2, 3          # sub-streams of an update's key
ROWS_PER_CHUNK = 16          # rows per parallel task of the stochastic update (they share its scratch arrays)
SPARSE_BITS = 4              # input trains with at most this many bits on average are applied pulse by pulse


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
    (pointer (batch·bl + 1,), index), so that a row can visit just the lines that coincide with its bits."""
    batch, lines = bits.shape
    ptr = np.zeros(batch * bl + 1, np.int64)
    for b in range(batch):
        for j in range(lines):
            m = bits[b, j]
            while m:
                t = lowest_bit(m)
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
                t = lowest_bit(m)
                idx[fill[b * bl + t]] = j
                fill[b * bl + t] += 1
                m &= m - uint64(1)
    return ptr, idx


@njit(cache=True, inline="always")
def _gather(a, b, bl, x_bits, bit_ptr, bit_idx, runs, touched):
    """The runs of one row in sample b (row train a): for every input line j whose train meets a, its
    coincidence mask runs[j] = a ∧ x_bits[j] (uint64; one pulse per set bit) and j in touched[:k]; returns k.
    Visits the lines listed for the bits of a (work ∝ pulses) or, when that is longer, every line."""
    listed = 0
    m = a
    while m:
        t = lowest_bit(m)
        m &= m - uint64(1)
        listed += bit_ptr[b * bl + t + 1] - bit_ptr[b * bl + t]
    k = 0
    cols = x_bits.shape[0]
    if listed < cols:
        m = a
        while m:
            t = lowest_bit(m)
            m &= m - uint64(1)
            for q in range(bit_ptr[b * bl + t], bit_ptr[b * bl + t + 1]):
                j = bit_idx[q]
                if runs[j] == 0:
                    touched[k] = j
                    k += 1
                runs[j] |= uint64(1) << uint64(t)
        return k
    for j in range(cols):
        m = a & x_bits[j]
        if m != 0:
            runs[j] = m
            touched[k] = j
            k += 1
    return k


@njit(cache=True, inline="always")
def _write_noise(prm, cell, w, key, counter):
    """Write noise of a device just pulsed: the offset of its apparent state from its stored state w, a fresh
    N(0, σ_w²) draw (σ_w = ``prm[WNOISE]``) with the apparent state kept within the device's bounds."""
    s = prm[WNOISE, cell]
    if s == 0.0:
        return 0.0
    v = w + s * normal(key, counter)
    return min(max(v, prm[W_MIN, cell]), prm[W_MAX, cell]) - w


@njit(cache=True, inline="always")
def _routes(pair_mode, up):
    """Which devices a coincidence of direction ``up`` pulses (G+, G−) and G−'s direction."""
    return pair_mode != 1 or up, pair_mode == 2 or (pair_mode == 1 and not up), pair_mode == 1 or not up


@njit(cache=True, inline="always")
def _mark(pulsed, cells, n_cells, side, j):
    """Flag device (side, j) as pulsed; list column j the first time; returns the new list length."""
    if not (pulsed[0, j] or pulsed[1, j]):
        cells[n_cells] = j
        n_cells += 1
    pulsed[side, j] = True
    return n_cells


@njit(cache=True, inline="always")
def _device_run(affine, model, n_states, prm, consts, cell, w, up, n, mask, linear, mult, key, counter):
    """The run of one device in one sample, n = popcount(mask) pulses (one per set bit of its coincidence
    mask): ``affine_run`` when ``affine``, else ``pulse_run``."""
    if affine:
        return affine_run(prm, cell, w, up, n, linear, mult, key, counter, mask)
    return pulse_run(model, n_states, prm, consts, cell, w, up, n, key, counter, mask)


@njit(cache=True)
def _row_runs(i, affine, model, n_states, prm_p, prm_m, consts, w_p, w_m, counts, rows_bits, rows_neg, cols_bits,
              cols_neg, bit_ptr, bit_idx, bl, pair_mode, key, pulsed, cells, runs, touched):
    """Row i of a stochastic update, run by run (one run per device and sample): ``affine_run`` when
    ``affine``, else ``pulse_run``. Marks the devices pulsed in ``pulsed`` (2, cols) and lists their columns
    in ``cells``; ``runs``, ``touched``: scratch (cols,), runs zero. Returns (pulses fired, columns listed)."""
    batch = rows_bits.shape[1]
    cols = cols_neg.shape[1]
    base = i * cols
    linear = model == LINEAR
    mult = linear and consts[0] != 0.0
    n_fired = 0
    n_cells = 0
    for b in range(batch):
        a = rows_bits[i, b]
        if a == 0:
            continue
        neg_d = rows_neg[i, b]
        for q in range(_gather(a, b, bl, cols_bits[b], bit_ptr, bit_idx, runs, touched)):
            j = touched[q]
            mask = runs[j]
            runs[j] = 0
            n = popcount(mask)
            cell = base + j
            up = neg_d != cols_neg[b, j]                # d·x < 0: the weight must grow
            to_p, to_m, up_m = _routes(pair_mode, up)
            if to_p:
                if prm_p[STUCK, cell] == 0.0:
                    w_p[cell] = _device_run(affine, model, n_states, prm_p, consts, cell, w_p[cell], up, n, mask,
                                            linear, mult, key, ((2 * cell) << 32) + b * bl)
                    n_cells = _mark(pulsed, cells, n_cells, 0, j)
                counts[0 if up else 1, cell] += n
                n_fired += n
            if to_m:
                if prm_m[STUCK, cell] == 0.0:
                    w_m[cell] = _device_run(affine, model, n_states, prm_m, consts, cell, w_m[cell], up_m, n,
                                            mask, linear, mult, key, ((2 * cell + 1) << 32) + b * bl)
                    n_cells = _mark(pulsed, cells, n_cells, 1, j)
                counts[2 if up_m else 3, cell] += n
                n_fired += n
    return n_fired, n_cells


@njit(cache=True, inline="always")
def _path(acc, j, n, up, s_up, s_down):
    """Add a run of n constant steps (up: +s_up, else −s_down) to device j's mean path; acc rows:
    displacement, its maximum and minimum so far, Σ n·s², potentiation and depression pulses."""
    s = s_up if up else -s_down
    m = acc[0, j] + n * s
    acc[0, j] = m
    acc[1, j] = max(acc[1, j], m)
    acc[2, j] = min(acc[2, j], m)
    acc[3, j] += n * s * s
    if up:
        acc[4, j] += n
    else:
        acc[5, j] += n


@njit(cache=True)
def _row_constant(i, prm_p, prm_m, w_p, w_m, counts, rows_bits, rows_neg, cols_bits, cols_neg, bit_ptr, bit_idx,
                  bl, pair_mode, key, pulsed, cells, runs, touched, acc):
    """Row i of a stochastic update on constant-step devices without levels, the whole batch at once: a
    device's pulses over the batch sum to a Gaussian step (mean Σ n_b·s_b, variance σ²·Σ n_b·s_b²; one draw
    at counter (2·cell + side)·2³² + batch·bl) unless its path can reach a bound: its mean path stays
    EXCURSION standard deviations of the final noise inside both bounds (by Lévy's inequality the noise's
    running maximum exceeds that with probability ≤ 2·Φ(−EXCURSION) = 1.2e-15). Other devices replay their
    runs (``affine_run``). Arguments from ``pulsed`` on and the result as in ``_row_runs``; ``acc``
    (2, 6, cols): scratch."""
    batch = rows_bits.shape[1]
    cols = cols_neg.shape[1]
    base = i * cols
    acc_p, acc_m = acc[0], acc[1]
    sup_p, sdn_p = prm_p[S_UP, base:base + cols], prm_p[S_DOWN, base:base + cols]
    sup_m, sdn_m = prm_m[S_UP, base:base + cols], prm_m[S_DOWN, base:base + cols]
    n_cells = 0
    for b in range(batch):
        a = rows_bits[i, b]
        if a == 0:
            continue
        neg_d = rows_neg[i, b]
        x_neg = cols_neg[b]
        k = _gather(a, b, bl, cols_bits[b], bit_ptr, bit_idx, runs, touched)
        for q in range(k):                              # first run of a device in this call: clear its path
            j = touched[q]
            if not pulsed[0, j]:
                pulsed[0, j] = True
                acc[:, :, j] = 0.0
                cells[n_cells] = j
                n_cells += 1
        if pair_mode == 0:                              # G+ only: the common case, kept branch-light
            for q in range(k):
                j = touched[q]
                _path(acc_p, j, popcount(runs[j]), neg_d != x_neg[j], sup_p[j], sdn_p[j])
                runs[j] = 0
            continue
        for q in range(k):
            j = touched[q]
            n = popcount(runs[j])
            runs[j] = 0
            to_p, to_m, dir_m = _routes(pair_mode, neg_d != x_neg[j])
            if to_p:
                _path(acc_p, j, n, neg_d != x_neg[j], sup_p[j], sdn_p[j])
            if to_m:
                _path(acc_m, j, n, dir_m, sup_m[j], sdn_m[j])
    for q in range(n_cells):                            # from here on: devices that moved
        pulsed[0, cells[q]] = False
    n_fired = 0
    for side in range(2):
        prm = prm_p if side == 0 else prm_m
        w = w_p if side == 0 else w_m
        for q in range(n_cells):
            j = cells[q]
            n_up = int(acc[side, 4, j])
            n_dn = int(acc[side, 5, j])
            if n_up + n_dn == 0:
                continue
            cell = base + j
            counts[2 * side, cell] += n_up
            counts[2 * side + 1, cell] += n_dn
            n_fired += n_up + n_dn
            if prm[STUCK, cell] != 0.0:
                continue
            pulsed[side, j] = True
            c = ((2 * cell + side) << 32)
            sd = prm[C2C, cell] * np.sqrt(acc[side, 3, j])
            w0 = w[cell]
            if (w0 + acc[side, 2, j] - EXCURSION * sd > prm[W_MIN, cell]
                    and w0 + acc[side, 1, j] + EXCURSION * sd < prm[W_MAX, cell]):
                w[cell] = w0 + acc[side, 0, j] + (sd * normal(key, c + batch * bl) if sd != 0.0 else 0.0)
                continue
            for b in range(batch):                    # near a bound: replay the runs
                mask = rows_bits[i, b] & cols_bits[b, j]
                if mask == 0:
                    continue
                n = popcount(mask)
                up = rows_neg[i, b] != cols_neg[b, j]
                to_p, to_m, up_m = _routes(pair_mode, up)
                if side == 0 and to_p:
                    w0 = affine_run(prm, cell, w0, up, n, False, False, key, c + b * bl, mask)
                elif side == 1 and to_m:
                    w0 = affine_run(prm, cell, w0, up_m, n, False, False, key, c + b * bl, mask)
            w[cell] = w0
    return n_fired, n_cells


def stochastic_update(model, n_states, prm_p, prm_m, consts, w_p, w_m, off_p, off_m, counts, rows_bits,
                      rows_neg, cols_bits, cols_neg, bit_ptr, bit_idx, bl, pair_mode, key, wkey, fast=True):
    """Apply the coincidence pulses of a batch to a tile, in place; returns the pulses fired.

    rows_bits/rows_neg: (rows, batch) trains and signs of d; cols_bits/cols_neg: (batch, cols) trains and
    signs of x; bit_ptr/bit_idx: ``bit_lists`` of cols_bits. w_p, w_m: stored device states (rows·cols,) of G+
    and G−; off_p, off_m: their write-noise offsets (apparent state = stored + offset); counts (4, rows·cols)
    int64: potentiation and depression pulses of G+, then of G−. A device sees its pulses sample after sample:
    in sample b one pulse of one sign for every bit t set in both A_bi and B_bj, drawing its cycle-to-cycle
    noise at counter (2·cell + side)·2³² + b·bl + t of ``key`` (every device owns a disjoint block of 2³²
    counters of one SplitMix64 sequence). A device pulsed in the call ends with the write noise drawn at counter
    (2·cell + side)·2³² + batch·bl of ``wkey`` from its final state (an offset depends only on the device's
    last pulse, so this equals a fresh draw at every pulse in distribution).

    Two kernels, one result: sparse input trains (at most ``SPARSE_BITS`` bits per train on average, as on
    MNIST) go pulse by pulse over the listed coincidences (``_sparse_update``); others as runs, one per device
    and sample (``_run_update``), where ``fast`` lets constant-step devices without levels take the whole batch
    at once away from the bounds (``_row_constant``) and linear-step ones the fast paths of
    ``devices.kernels.affine_run`` (``fast`` False: every run steps pulse by pulse, the reference).
    """
    batch, cols = cols_neg.shape
    if bit_ptr[-1] <= SPARSE_BITS * batch * cols:
        return _sparse_update(model, n_states, prm_p, prm_m, consts, w_p, w_m, off_p, off_m, counts, rows_bits,
                              rows_neg, cols_neg, bit_ptr, bit_idx, bl, pair_mode, key, wkey)
    return _run_update(model, n_states, prm_p, prm_m, consts, w_p, w_m, off_p, off_m, counts, rows_bits,
                       rows_neg, cols_bits, cols_neg, bit_ptr, bit_idx, bl, pair_mode, key, wkey, fast)


@njit(cache=True, parallel=True)
def _sparse_update(model, n_states, prm_p, prm_m, consts, w_p, w_m, off_p, off_m, counts, rows_bits, rows_neg,
                   cols_neg, bit_ptr, bit_idx, bl, pair_mode, key, wkey):
    """``stochastic_update`` pulse by pulse over the coincidences listed in ``bit_ptr``/``bit_idx`` (sample by
    sample, bit by bit): work ∝ pulses. A pulsed device redraws its write noise after every pulse, at the one
    counter of the call (so its final offset is that of its final state). Rows run in parallel."""
    rows, batch = rows_bits.shape
    cols = cols_neg.shape[1]
    last = batch * bl
    fired = np.zeros(rows, np.int64)
    for i in prange(rows):
        base = i * cols
        n_fired = 0
        for b in range(batch):
            a = rows_bits[i, b]
            neg_d = rows_neg[i, b]
            while a:
                t = lowest_bit(a)
                a &= a - uint64(1)
                counter = b * bl + t
                for q in range(bit_ptr[counter], bit_ptr[counter + 1]):
                    j = bit_idx[q]
                    cell = base + j
                    up = neg_d != cols_neg[b, j]                # d·x < 0: the weight must grow
                    to_p, to_m, up_m = _routes(pair_mode, up)
                    if to_p:
                        if prm_p[STUCK, cell] == 0.0:
                            c = (2 * cell) << 32
                            w_p[cell] = pulse_run(model, n_states, prm_p, consts, cell, w_p[cell], up, 1, key,
                                                  c + counter)
                            if prm_p[WNOISE, cell] != 0.0:      # (an offset stays 0 without write noise)
                                off_p[cell] = _write_noise(prm_p, cell, w_p[cell], wkey, c + last)
                        counts[0 if up else 1, cell] += 1
                        n_fired += 1
                    if to_m:
                        if prm_m[STUCK, cell] == 0.0:
                            c = (2 * cell + 1) << 32
                            w_m[cell] = pulse_run(model, n_states, prm_m, consts, cell, w_m[cell], up_m, 1, key,
                                                  c + counter)
                            if prm_m[WNOISE, cell] != 0.0:
                                off_m[cell] = _write_noise(prm_m, cell, w_m[cell], wkey, c + last)
                        counts[2 if up_m else 3, cell] += 1
                        n_fired += 1
        fired[i] = n_fired
    return fired.sum()


@njit(cache=True, parallel=True)
def _run_update(model, n_states, prm_p, prm_m, consts, w_p, w_m, off_p, off_m, counts, rows_bits, rows_neg,
                cols_bits, cols_neg, bit_ptr, bit_idx, bl, pair_mode, key, wkey, fast):
    """``stochastic_update`` run by run (``_row_runs``, ``_row_constant``); a device pulsed in the call draws
    its write noise once, after its last pulse. Chunks of rows run in parallel; the work is rows × batch ×
    cols bit tests plus the runs."""
    rows, batch = rows_bits.shape
    cols = cols_neg.shape[1]
    affine = fast and n_states == 0 and (model == CONSTANT or model == LINEAR)
    fired = np.zeros(rows, np.int64)
    chunks = (rows + ROWS_PER_CHUNK - 1) // ROWS_PER_CHUNK
    for chunk in prange(chunks):
        # scratch for the chunk's rows: flags, cell lists, coincidence masks, constant-step paths
        pulsed = np.zeros((2, cols), np.bool_)
        cells = np.empty(cols, np.int64)
        touched = np.empty(cols, np.int64)
        runs = np.zeros(cols, np.uint64)
        acc = np.empty((2, 6, cols) if affine and model == CONSTANT else (2, 6, 0))
        for i in range(chunk * ROWS_PER_CHUNK, min(rows, (chunk + 1) * ROWS_PER_CHUNK)):
            if affine and model == CONSTANT:
                fired[i], n_cells = _row_constant(i, prm_p, prm_m, w_p, w_m, counts, rows_bits, rows_neg, cols_bits,
                                                  cols_neg, bit_ptr, bit_idx, bl, pair_mode, key, pulsed, cells, runs,
                                                  touched, acc)
            else:
                fired[i], n_cells = _row_runs(i, affine, model, n_states, prm_p, prm_m, consts, w_p, w_m, counts,
                                              rows_bits, rows_neg, cols_bits, cols_neg, bit_ptr, bit_idx, bl,
                                              pair_mode, key, pulsed, cells, runs, touched)
            for q in range(n_cells):
                j = cells[q]
                cell = i * cols + j
                if pulsed[0, j]:
                    off_p[cell] = _write_noise(prm_p, cell, w_p[cell], wkey, ((2 * cell) << 32) + batch * bl)
                if pulsed[1, j]:
                    off_m[cell] = _write_noise(prm_m, cell, w_m[cell], wkey, ((2 * cell + 1) << 32) + batch * bl)
                pulsed[0, j] = False
                pulsed[1, j] = False
    return fired.sum()


@njit(cache=True, parallel=True)
def counted_update(model, n_states, prm_p, prm_m, consts, w_p, w_m, off_p, off_m, counts, n_pulses, pair_mode,
                   key, wkey, fast=True):
    """Apply a signed pulse count per cell (> 0: the weight must grow), in place, with the pair mode; a
    device's pulses are one run (``devices.kernels.run``; ``fast`` False: pulse by pulse), its k-th pulse
    drawing its noise at counter k of sub-stream 2·cell + side of ``key``, its write noise (after its last
    pulse) at counter 0 of the same sub-stream of ``wkey``."""
    for cell in prange(w_p.size):
        n = n_pulses[cell]
        if n == 0:
            continue
        up = n > 0
        n = abs(n)
        to_p, to_m, up_m = _routes(pair_mode, up)
        if to_p:
            if prm_p[STUCK, cell] == 0.0:
                w_p[cell] = run(model, n_states, prm_p, consts, cell, w_p[cell], up, n, subkey(key, 2 * cell), 0,
                                fast)
                off_p[cell] = _write_noise(prm_p, cell, w_p[cell], subkey(wkey, 2 * cell), 0)
            counts[0 if up else 1, cell] += n
        if to_m:
            if prm_m[STUCK, cell] == 0.0:
                w_m[cell] = run(model, n_states, prm_m, consts, cell, w_m[cell], up_m, n, subkey(key, 2 * cell + 1),
                                0, fast)
                off_m[cell] = _write_noise(prm_m, cell, w_m[cell], subkey(wkey, 2 * cell + 1), 0)
            counts[2 if up_m else 3, cell] += n


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
        for p in range(2 * pairs):                      # one call site: the physics is compiled once here
            v = pulse_run(model, n_states, prm, consts, cell, v, p % 2 == 0, 1, k, p)
        w[cell] = v
        off[cell] = _write_noise(prm, cell, v, subkey(wkey, cell), 0)
