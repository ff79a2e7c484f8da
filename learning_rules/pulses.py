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
b·lines + line of its train key; in the stochastic update through bit lists, the p-th device pulse on side s
(0: G+, 1: G−) of row i draws its normal from half p % 2 of hash (2·i + s)·2⁴⁰ + p // 2 of the device-noise key
(two normals per hash, ``devices.rng.normal32``), device by device a device's k-th pulse in the call from half
k % 2 of hash (2·cell + s)·2³² + k // 2, and a whole constant-step batch at counter (2·cell + side)·2³² +
batch·bl; in the counted update, its k-th pulse at counter k of sub-stream 2·cell + side. Results do not depend
on the thread count (rows are the parallel unit; a row's draws depend only on the row).

The stochastic update steps every pulse through the device's physics and clipping, through bit lists
(``_pulse_update``, work ∝ pulses) or device by device (``_cell_update``, for dense trains), except that
constant-step devices without levels on dense trains take the whole batch at once, exact in distribution
(``_batch_update``; ``fast=False`` steps them pulse by pulse too). The counted update takes a device's pulses
as a run (``devices.kernels.run``, with the fast paths of ``affine_run``).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from hwsim.devices.kernels import (C2C, CONSTANT, EXCURSION, LINEAR, P0, P1, S_DOWN, S_UP, STUCK, W_MAX, W_MIN,
                                   WNOISE, affine_run, lowest_bit, popcount, pulse_run, pulse_settled, run)
from hwsim.devices.rng import _GOLDEN, mix64, normal, normal32, normal32_inner, normal32_tail, subkey

if P1 != P0 + 1 or S_DOWN != S_UP + 1:           # the pulse loop picks a direction's parameters by index
    raise ImportError("devices.kernels: P1 must follow P0 and S_DOWN follow S_UP in the parameter rows")

PAIR_MODES = {"plus": 0, "unidirectional": 1, "both": 2}
D_TRAINS, X_TRAINS, DEVICE_NOISE, WRITE_NOISE = 0, 1, 2, 3          # sub-streams of an update's key
ROWS_PER_CHUNK = 16          # rows per parallel task of the batch update (they share its scratch arrays)
SPARSE_BITS = 4              # input trains with at most this many bits on average: pulse by pulse (constant-step)
DIRECTION_BLOCK = 256        # columns whose directions the device-by-device update builds at once
CELL_WORK = 0.2              # device by device when the expected pulses exceed this × active rows × batch × columns


_LANES = uint64(0x0001000100010001)          # one 16-bit value repeated in the four lanes of a uint64
_HIGH = uint64(0x8000800080008000)           # the top bit of every lane
_LOW = uint64(0x7FFF7FFF7FFF7FFF)            # the other 15 bits
_GATHER = uint64((1 << 48) | (1 << 33) | (1 << 18) | (1 << 3))   # bits 0, 16, 32, 48 → 48, 49, 50, 51


@njit(cache=True, inline="always")
def _four_bits(r, t4):
    """Bits q = 0…3: lane q (bits 16q…16q+15) of r below the lane of t4, compared in all four lanes at once
    (SWAR): the low 15 bits are subtracted with each lane's top bit set, so no borrow crosses lanes; the top
    bits decide where they differ. The four lane results gather into bits 0…3 with one multiply."""
    ge_low = (r | _HIGH) - (t4 & _LOW)          # lane top bit: low 15 bits of r ≥ those of t4
    lt = ((~r & t4) | (~(r ^ t4) & ~ge_low)) & _HIGH
    return ((lt >> uint64(15)) * _GATHER) >> uint64(48)


@njit(cache=True, parallel=True)
def pulse_trains(v, scale, bl, key, by_line=False):
    """Bit trains (batch, lines) uint64 for values v (batch, lines): bit t is 1 with probability
    min(1, scale·|v|); plus the sign flags (batch, lines) (True where v < 0) and the number of saturated
    probabilities (scale·|v| > 1). Bit t compares the 16-bit uniform number t % 4 of draw t // 4 (one hash
    gives four) with the probability, which is resolved to 1/65536 (four comparisons per hash at once,
    ``_four_bits``). ``by_line``: return (lines, batch) arrays instead (the layout the update kernel reads the
    output lines in)."""
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
            threshold = uint64(p * 65536.0 + 0.5)
            if threshold >= uint64(65536):          # every 16-bit uniform is below: all ones
                m = full
                if scale * abs(v[b, line]) > 1.0:
                    saturated[b] += 1
            else:
                t4 = threshold * _LANES
                k = subkey(key, b * lines + line)
                m = uint64(0)
                for c in range(chunks):
                    m |= _four_bits(mix64(k + uint64(c + 1) * _GOLDEN), t4) << uint64(4 * c)
                m &= full
            if by_line:
                bits[line, b] = m
            else:
                bits[b, line] = m
    return bits, neg, saturated.sum()


@njit(cache=True, parallel=True)
def bit_lists(bits, bl):
    """For every (sample b, bit t): the input lines whose train has bit t set, in increasing order, as CSR over
    b·bl + t (pointer (batch·bl + 1,), index), so that a row can visit just the lines that coincide with its
    bits. Samples run in parallel (each fills its own block; the pointer's prefix sum is serial)."""
    batch, lines = bits.shape
    ptr = np.zeros(batch * bl + 1, np.int64)
    for b in prange(batch):
        for j in range(lines):
            m = bits[b, j]
            while m:
                ptr[b * bl + lowest_bit(m) + 1] += 1
                m &= m - uint64(1)
    for k in range(batch * bl):
        ptr[k + 1] += ptr[k]
    idx = np.empty(ptr[batch * bl], np.int64)
    for b in prange(batch):
        fill = ptr[b * bl:(b + 1) * bl].copy()
        for j in range(lines):
            m = bits[b, j]
            while m:
                t = lowest_bit(m)
                idx[fill[t]] = j
                fill[t] += 1
                m &= m - uint64(1)
    return ptr, idx


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
def _path(acc, j, n, up, s_up, s_down):
    """Add a run of n constant steps (up: s_up, else s_down, which is negative) to device j's mean path; acc rows:
    displacement, its maximum and minimum so far, Σ n·s², potentiation and depression pulses. n may be 0, which
    leaves the path as it is."""
    s = s_up if up else s_down
    m = acc[0, j] + n * s
    acc[0, j] = m
    acc[1, j] = max(acc[1, j], m)
    acc[2, j] = min(acc[2, j], m)
    acc[3, j] += n * s * s
    acc[4, j] += n if up else 0.0
    acc[5, j] += 0.0 if up else n


@njit(cache=True)
def _row_constant(i, prm_p, prm_m, w_p, w_m, counts, rows_bits, rows_neg, cols_bits, cols_neg, bl, pair_mode, key,
                  pulsed, cells, acc, steps):
    """Row i of a stochastic update on constant-step devices without levels, the whole batch at once: a
    device's pulses over the batch sum to a Gaussian step (mean Σ n_b·s_b, variance σ²·Σ n_b·s_b²; one draw
    at counter (2·cell + side)·2³² + batch·bl) unless its path can reach a bound: its mean path stays
    EXCURSION standard deviations of the final noise inside both bounds (by Lévy's inequality the noise's
    running maximum exceeds that with probability ≤ 2·Φ(−EXCURSION) = 1.2e-15). Other devices replay their
    runs (``affine_run``, drawing at counter (2·cell + side)·2³² + b·bl + t for bit t of sample b). The paths
    are summed for every device in every sample with a row bit, in sample order, without a branch (n = 0 leaves
    a path as it is): on bench_tile's inputs 2.3× faster than walking bit lists to the devices that coincide
    (the kernel runs only for dense input trains), with the same sums. ``pulsed`` (2, cols) flags the devices
    pulsed, ``cells`` lists their columns; ``acc`` (2, 6, cols) and ``steps`` (4, cols): scratch. Returns
    (pulses fired, columns listed)."""
    batch = rows_bits.shape[1]
    cols = cols_neg.shape[1]
    base = i * cols
    acc_p, acc_m = acc[0], acc[1]
    sup_p, sdn_p = prm_p[S_UP, base:base + cols], prm_p[S_DOWN, base:base + cols]
    sup_m, sdn_m = prm_m[S_UP, base:base + cols], prm_m[S_DOWN, base:base + cols]
    acc[:, :, :] = 0.0
    for j in range(cols):                               # the row's steps, contiguous (14 % faster)
        steps[0, j], steps[1, j] = sup_p[j], -sdn_p[j]
        steps[2, j], steps[3, j] = sup_m[j], -sdn_m[j]
    for b in range(batch):
        a = rows_bits[i, b]
        if a == 0:
            continue
        neg_d = rows_neg[i, b]
        x_bits, x_neg = cols_bits[b], cols_neg[b]
        if pair_mode == 0:                              # G+ only: the common case, without routes (14 % faster)
            for j in range(cols):
                _path(acc_p, j, np.float64(popcount(a & x_bits[j])), neg_d != x_neg[j], steps[0, j], steps[1, j])
            continue
        for j in range(cols):
            n = np.float64(popcount(a & x_bits[j]))
            up = neg_d != x_neg[j]
            to_p, to_m, up_m = _routes(pair_mode, up)
            _path(acc_p, j, n * to_p, up, steps[0, j], steps[1, j])
            _path(acc_m, j, n * to_m, up_m, steps[2, j], steps[3, j])
    n_cells = 0
    for j in range(cols):
        if acc_p[4, j] + acc_p[5, j] + acc_m[4, j] + acc_m[5, j] > 0.0:
            cells[n_cells] = j
            n_cells += 1
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
                if to_p if side == 0 else to_m:       # one call site: affine_run is inlined at each
                    w0 = affine_run(prm, cell, w0, up if side == 0 else up_m, n, False, False, key, c + b * bl,
                                    mask)
            w[cell] = w0
    return n_fired, n_cells


@njit(cache=True)
def _train_work(rows_bits, cols_bits, bl):
    """What the kernels' work depends on: the bits of the input trains, the expected coincidences
    Σ_b (bits of the output trains)·(bits of the input trains)/bl, and the rows whose output trains have a bit."""
    rows, batch = rows_bits.shape
    d_bits = np.zeros(batch, np.int64)
    active = 0
    for i in range(rows):
        row = 0
        for b in range(batch):
            d_bits[b] += popcount(rows_bits[i, b])
            row |= rows_bits[i, b]
        active += row != 0
    x_bits = 0
    pulses = 0.0
    for b in range(batch):
        xb = 0
        for j in range(cols_bits.shape[1]):
            xb += popcount(cols_bits[b, j])
        x_bits += xb
        pulses += xb * d_bits[b] / bl
    return x_bits, pulses, active


def stochastic_update(model, n_states, prm_p, prm_m, consts, w_p, w_m, off_p, off_m, counts, rows_bits,
                      rows_neg, cols_bits, cols_neg, bl, pair_mode, key, wkey, fast=True, faults=True):
    """Apply the coincidence pulses of a batch to a tile, in place; returns the pulses fired.

    rows_bits/rows_neg: (rows, batch) trains and signs of d; cols_bits/cols_neg: (batch, cols) trains and
    signs of x. w_p, w_m: stored device states (rows·cols,) of G+ and G−; off_p, off_m: their write-noise
    offsets (apparent state = stored + offset); counts (4, rows·cols) int64: potentiation and depression pulses
    of G+, then of G−. A device sees its pulses sample after sample, in sample b one pulse of one sign for every
    bit t set in both A_bi and B_bj. A device pulsed in the call ends with the write noise drawn at counter
    (2·cell + side)·2³² + batch·bl of ``wkey`` from its final state (an offset depends only on the device's last
    pulse, so this equals a fresh draw at every pulse in distribution).

    Three kernels. Pulse by pulse, the same pulses and physics but each with its own draws (module docstring):
    through bit lists (``_pulse_update``, work ∝ pulses) or device by device (``_cell_update``, work ∝ active
    rows × batch × columns + pulses), the second when the expected pulses exceed ``CELL_WORK`` × its visits
    (BL < 64; the choice depends on the trains only, so results stay reproducible). For dense trains (more than
    ``SPARSE_BITS`` bits per input train on average) on constant-step devices without levels with ``fast``: the
    whole batch per device at once (``_batch_update``). ``faults`` False promises that no device is stuck or has
    write noise (the list walk then skips looking for them).
    """
    batch, cols = cols_neg.shape
    x_bits, pulses, active = _train_work(rows_bits, cols_bits, bl)
    if fast and model == CONSTANT and n_states == 0 and x_bits > SPARSE_BITS * batch * cols:
        return _batch_update(prm_p, prm_m, w_p, w_m, off_p, off_m, counts, rows_bits, rows_neg, cols_bits,
                             cols_neg, bl, pair_mode, key, wkey)
    if bl < 64 and pulses > CELL_WORK * active * batch * cols:
        sign = np.uint64(1) << np.uint64(63)
        return _cell_update(model, n_states, prm_p, prm_m, consts, w_p, w_m, off_p, off_m, counts,
                            rows_bits | rows_neg * sign, cols_bits | cols_neg * sign, bl,
                            pair_mode, key, wkey)
    return _pulse_update(model, n_states, prm_p, prm_m, consts, w_p, w_m, off_p, off_m, counts, rows_bits,
                         rows_neg, cols_neg, *bit_lists(cols_bits, bl), bl, pair_mode, key, wkey, faults)


@njit(cache=True, inline="always")
def _draw(row_key, p, spare):
    """The normal of device pulse p of a row: half p % 2 of hash p // 2 of ``row_key`` (``spare``: the high
    half of the last hash). Returns it and the new spare."""
    if p & uint64(1):
        return normal32(spare), spare
    r = mix64(row_key + (p >> uint64(1)) * _GOLDEN)
    return normal32(r & uint64(0xFFFFFFFF)), r >> uint64(32)


@njit(cache=True, inline="always")
def _affine(w, c, s, sigma, lo, hi, mult, z):
    """One pulse of an affine device (constant- or linear-step without levels), clipped: the arithmetic of
    ``devices.kernels.pulse_run``."""
    if mult:
        w = w + (c * w + s) * (1.0 + sigma * z)
    else:
        w = w + c * w + s * (1.0 + sigma * z)
    return min(max(w, lo), hi)


@njit(cache=True)
def _side_pulses(i, side, model, n_states, prm, consts, w, off, counts, rows_bits, rows_neg, cols_neg, bit_ptr,
                 bit_idx, bl, pair_mode, key, wkey, faults):
    """The pulses of row i on one side of its pairs (0: G+, 1: G−; states w, parameters prm), in order (sample b,
    bit t of the row's train, listed column j), device pulse p drawing its normal from half p % 2 of hash
    (2·i + side)·2⁴⁰ + p // 2 of ``key`` (``_draw``). Affine devices step inline, others through
    ``pulse_settled``. Counts into rows 2·side (potentiation) and 2·side + 1 of ``counts``; a device with write
    noise redraws its offset ``off`` after every pulse, at counter (2·cell + side)·2³² + batch·bl of ``wkey``, so
    that it ends with the draw of its final state. ``faults``: the tile may hold stuck devices or write noise
    (else the row is not scanned for them: with the parameters stored row by row, the scan streamed two more
    rows of them, ≈ 10 % of the MNIST epoch's list walk). Returns the pulses fired. (Flat on purpose: helpers
    taking arrays, inlined here, made Numba count references at every pulse; both sides in one loop spilled
    registers: 1.4 and 0.6 s against 0.37 s on bench_tile's soft-bounds update.)"""
    batch = rows_bits.shape[1]
    cols = cols_neg.shape[1]
    base = uint64(i * cols)
    linear = model == LINEAR
    mult = linear and consts[0] != 0.0
    affine = n_states == 0 and (model == CONSTANT or linear)
    row_key = uint64(key) + (uint64(2 * i + side) << uint64(40)) * _GOLDEN
    row_up = np.int64(2 * side)
    last = uint64(batch * bl)
    p = uint64(0)                                       # device pulses so far
    spare = uint64(0)
    stuck = write_noise = False                         # checked per pulse only in rows that have them
    for j in range(cols if faults else 0):
        stuck |= prm[STUCK, base + uint64(j)] != 0.0
        write_noise |= prm[WNOISE, base + uint64(j)] != 0.0
    for b in range(batch):
        a = rows_bits[i, b]
        neg_d = rows_neg[i, b]
        while a:
            t = lowest_bit(a)
            a &= a - uint64(1)
            k = uint64(b * bl + t)
            for q in range(bit_ptr[k], bit_ptr[k + uint64(1)]):
                j = uint64(bit_idx[uint64(q)])
                to_p, to_m, up_m = _routes(pair_mode, neg_d != cols_neg[b, j])   # d·x < 0: W must grow
                if not (to_p if side == 0 else to_m):
                    continue
                up = (neg_d != cols_neg[b, j]) if side == 0 else up_m
                z, spare = _draw(row_key, p, spare)
                p += uint64(1)
                cell = base + j
                down = np.int64(1) - np.int64(up)       # rows and signs picked by index: no branch on the
                counts[row_up + down, cell] += 1        # direction (random: half mispredicted, 30 % slower)
                if stuck and prm[STUCK, cell] != 0.0:
                    continue
                if not affine:
                    w[cell] = pulse_settled(model, n_states, prm, consts, np.int64(cell), w[cell], up, z)
                else:
                    sign = 1.0 - 2.0 * down             # P1 follows P0, S_DOWN follows S_UP
                    c = sign * prm[P0 + down, cell] if linear else 0.0      # (constant step: P0, P1 unread)
                    w[cell] = _affine(w[cell], c, sign * prm[S_UP + down, cell], prm[C2C, cell], prm[W_MIN, cell],
                                      prm[W_MAX, cell], mult, z)
                if write_noise and prm[WNOISE, cell] != 0.0:    # (an offset stays 0 without write noise)
                    at = ((uint64(2) * cell + uint64(side)) << uint64(32)) + last
                    off[cell] = _write_noise(prm, cell, w[cell], wkey, at)
    return int(p)


@njit(cache=True, parallel=True)
def _pulse_update(model, n_states, prm_p, prm_m, consts, w_p, w_m, off_p, off_m, counts, rows_bits, rows_neg,
                  cols_neg, bit_ptr, bit_idx, bl, pair_mode, key, wkey, faults):
    """``stochastic_update`` pulse by pulse: each output line walks, per sample and per bit of its own train,
    the list of input lines carrying that bit (work ∝ pulses) and steps each device it meets through its pulse
    physics and clipping (``_side_pulses``, G+ then G−). Rows run in parallel; a row's draws depend only on the row."""
    rows = rows_bits.shape[0]
    fired = np.zeros(rows, np.int64)
    sides = 1 if pair_mode == 0 else 2
    for r in prange(rows):
        i = np.int64(r)                 # prange's index is unsigned in one of Numba's passes: one signature
        for side in range(sides):                       # (a variable: literal sides compiled twice)
            fired[i] += _side_pulses(i, side, model, n_states, prm_p if side == 0 else prm_m, consts,
                                     w_p if side == 0 else w_m, off_p if side == 0 else off_m, counts, rows_bits,
                                     rows_neg, cols_neg, bit_ptr, bit_idx, bl, pair_mode, key, wkey, faults)
    return fired.sum()


@njit(cache=True, inline="always")
def _affine_free(w, c, s, sigma, mult, z):
    """``_affine`` unclipped and written as a·w + s·g (g = 1 + σ·z; a = 1 + c·g with multiplicative noise, else
    1 + c), which has one multiply and one add on the state's dependency chain (equal to ``_affine``'s
    arithmetic up to rounding)."""
    g = 1.0 + sigma * z
    a = 1.0 + c * g if mult else 1.0 + c
    return a * w + s * g


_LOW32 = uint64(0xFFFFFFFF)
_LOW63 = uint64(0x7FFFFFFFFFFFFFFF)


@njit(cache=True, inline="always")
def _direction(dirs, k):
    """Bit k of the bit string ``dirs``: 1 (potentiation) or 0."""
    return np.int64((dirs[k >> 6] >> uint64(k & 63)) & uint64(1))


@njit(cache=True, inline="always")
def _directions2(dirs, k):
    """Bits k and k + 1 (k even) of the bit string ``dirs``, as an int 0…3."""
    return np.int64((dirs[k >> 6] >> uint64(k & 63)) & uint64(3))


@njit(cache=True, inline="always")
def _cell_pulse(v, up, cu, cd, su, sd, sigma, lo, hi, mult, z, clip):
    """One pulse of direction ``up`` (1: potentiation, 0: depression) of ``_cell_affine``; ``clip``: the same
    value clipped to [lo, hi], so that the replay equals the unclipped pass wherever it stayed inside."""
    v = _affine_free(v, cu if up else cd, su if up else sd, sigma, mult, z)
    return min(max(v, lo), hi) if clip else v


@njit(cache=True, inline="always")
def _cell_affine(v, dirs, start, pos, cell_key, cu, cd, su, sd, sigma, lo, hi, mult, clip):
    """Pulses ``start``…``pos`` − 1 (start even) of an affine device from state v, directions ``dirs``: its k-th
    pulse draws half k % 2 of hash k // 2 of ``cell_key``; unclipped (``_affine_free``) unless ``clip``.
    Returns the state and the lowest and highest values it took. Pairs of pulses whose draws stay out of
    ``normal32``'s outer bins go in an inner loop without a function call; the others, and an odd last pulse,
    outside it."""
    low = high = v
    kk = start >> 1
    while kk < pos >> 1:
        while kk < pos >> 1:                           # pairs of pulses (5 % faster than a test per pulse)
            r = mix64(cell_key + uint64(kk) * _GOLDEN)
            if normal32_tail(r & _LOW32) | normal32_tail(r >> uint64(32)):
                break
            k = 2 * kk
            v = _cell_pulse(v, _direction(dirs, k), cu, cd, su, sd, sigma, lo, hi, mult, normal32_inner(r & _LOW32),
                            clip)
            low = min(low, v)
            high = max(high, v)
            v = _cell_pulse(v, _direction(dirs, k + 1), cu, cd, su, sd, sigma, lo, hi, mult,
                            normal32_inner(r >> uint64(32)), clip)
            low = min(low, v)
            high = max(high, v)
            kk += 1
        if kk < pos >> 1:                               # a pair with a draw in an outer bin
            r = mix64(cell_key + uint64(kk) * _GOLDEN)
            for h in range(2):
                v = _cell_pulse(v, _direction(dirs, 2 * kk + h), cu, cd, su, sd, sigma, lo, hi, mult,
                                normal32((r >> uint64(32 * h)) & _LOW32), clip)
                low = min(low, v)
                high = max(high, v)
            kk += 1
    if pos & 1:
        r = mix64(cell_key + uint64(pos >> 1) * _GOLDEN)
        v = _cell_pulse(v, _direction(dirs, pos - 1), cu, cd, su, sd, sigma, lo, hi, mult, normal32(r & _LOW32), clip)
        low = min(low, v)
        high = max(high, v)
    return v, low, high


@njit(cache=True, inline="always")
def _cell_affine_two(va, da, ka, vb, db, kb, tab, m, mult):
    """``_cell_affine`` (unclipped) of two devices at once over their first m pulses (m even): two independent
    dependency chains in one loop, which the CPU overlaps. ``tab``: each device's step parameters by direction
    bit, (c_down, c_up, s_down, s_up, σ) for device a, then for b: the loop loads them by index (converting the
    bit to a float and interpolating with two multiply-adds per pulse made the kernel 12 % slower). It stops
    before a pair of pulses whose draws fall in an outer bin of ``normal32`` (2 in 4096), which the devices then
    take alone (``_cell_affine``): no function call in this loop. Returns each state with its lowest and highest
    values, and the pulses done."""
    la = ha = va
    lb = hb = vb
    siga, sigb = tab[4], tab[9]
    for kk in range(m >> 1):
        ra = mix64(ka + uint64(kk) * _GOLDEN)
        rb = mix64(kb + uint64(kk) * _GOLDEN)
        ua0, ua1, ub0, ub1 = ra & _LOW32, ra >> uint64(32), rb & _LOW32, rb >> uint64(32)
        if normal32_tail(ua0) | normal32_tail(ua1) | normal32_tail(ub0) | normal32_tail(ub1):
            return va, la, ha, vb, lb, hb, 2 * kk
        fa = _directions2(da, 2 * kk)
        fb = _directions2(db, 2 * kk)
        va = _affine_free(va, tab[fa & 1], tab[2 + (fa & 1)], siga, mult, normal32_inner(ua0))
        vb = _affine_free(vb, tab[5 + (fb & 1)], tab[7 + (fb & 1)], sigb, mult, normal32_inner(ub0))
        la = min(la, va)
        ha = max(ha, va)
        lb = min(lb, vb)
        hb = max(hb, vb)
        va = _affine_free(va, tab[fa >> 1], tab[2 + (fa >> 1)], siga, mult, normal32_inner(ua1))
        vb = _affine_free(vb, tab[5 + (fb >> 1)], tab[7 + (fb >> 1)], sigb, mult, normal32_inner(ub1))
        la = min(la, va)
        ha = max(ha, va)
        lb = min(lb, vb)
        hb = max(hb, vb)
    return va, la, ha, vb, lb, hb, m


@njit(cache=True, inline="always")
def _row_directions(row_s, xs, c0, c1, buf, flags, pos, word, always, if_up, if_down, flip, only_up):
    """The directions of the pulses over the batch of devices c0 … c1 − 1 of a row, all columns at once (the
    loop over columns vectorises: 0.4 against 1.4 ns per visit of a device and sample): device j's bit string
    (bit k: its k-th pulse is a potentiation) is built in ``word[j − c0]`` word by word; in each sample with a
    row bit, ``buf[b, j − c0]`` keeps the word with that sample's bits in it, and bit b % 64 of
    ``flags[b // 64, j − c0]`` says that this word filled (``word`` then holds the spill into the next one).
    ``_gather_directions`` puts a device's string together from its flagged entries of ``buf``; the others,
    and those of samples without a row bit, may be stale and are never read. Routes as bit operations on
    up ∈ {0, 1}: a coincidence pulses this side if always | (up & if_up) | (~up & if_down), in direction
    (up ^ flip) | only_up. ``pos[j − c0]``: the device's pulses. Needs bl < 64 (a sample fills at most one
    word)."""
    batch = xs.shape[0]
    m = c1 - c0
    for q in range(m):
        pos[q] = 0
        word[q] = 0
    for h in range(flags.shape[0]):
        for q in range(m):
            flags[h, q] = 0
    for b in range(batch):
        r = row_s[b]
        if not r & _LOW63:                              # (no pulse in this sample: nothing fills)
            continue
        bit = uint64(b & 63)
        fb = flags[b >> 6]
        xb = xs[b]
        bb = buf[b]
        for q in range(m):
            x = xb[c0 + q]
            up = (r ^ x) >> uint64(63)                 # signs of d and x differ: W must grow
            pulsed = always | (up & if_up) | ((up ^ uint64(1)) & if_down)
            n = uint64(popcount(r & x & _LOW63)) * pulsed
            ones = ((uint64(1) << n) - uint64(1)) & (uint64(0) - ((up ^ flip) | only_up))   # n ≤ 63
            p = pos[q]
            o = p & uint64(63)
            full = uint64(((p + n) >> uint64(6)) != (p >> uint64(6)))
            wd = word[q] | (ones << o)
            bb[q] = wd
            fb[q] |= full << bit
            keep = uint64(0) - full                     # full: the next word starts with the spill
            word[q] = (((ones >> uint64(1)) >> (uint64(63) - o)) & keep) | (wd & ~keep)
            pos[q] = p + n


@njit(cache=True, inline="always")
def _gather_directions(q, buf, flags, word, dirs):
    """Device q's bit string of directions from ``_row_directions``'s scratch into ``dirs``: the words that
    filled, in order, then the one being built."""
    n = 0
    for h in range(flags.shape[0]):
        f = flags[h, q]
        while f:
            dirs[n] = buf[h * 64 + lowest_bit(f), q]
            f &= f - uint64(1)
            n += 1
    dirs[n] = word[q]


@njit(cache=True, fastmath={"contract"})
def _cell_side(i, side, model, n_states, prm, consts, w, off, counts, xs, bl, pair_mode, key, wkey, row_s, dirs, buf,
               flags, lane_pos, lane_word, tab):
    """The pulses of row i on one side of its pairs, device by device (``_cell_update``): for device j, its
    coincidences over the batch (trains with their signs in bit 63: ``row_s`` the row's, ``xs`` (batch, cols)
    the input lines') become one bit string of directions in ``dirs`` (bit k: its k-th pulse in the call is a
    potentiation), built for ``DIRECTION_BLOCK`` columns at once without a branch per sample (``_row_directions``,
    scratch ``buf``, ``flags``, ``lane_pos``, ``lane_word``) and put together per device
    (``_gather_directions``; 0.219 → 0.195 s on bench_tile's soft-bounds update against one device at a time,
    the same strings); then the device takes its pulses in
    order, its state and parameters in registers, its k-th pulse drawing half k % 2 of hash (2·cell + side)·2³² +
    k // 2 of ``key``. An affine device steps unclipped first, with one multiply and one add on the state's
    dependency chain, and again clipped (from the same state, with the same draws) only if a value left its
    bounds: the two agree otherwise (multiplies and adds may fuse: ``contract``, 7 % faster). Affine devices go
    in pairs (``dirs`` (2, ·) holds both strings): their common pulses step in one loop, two independent chains
    that the CPU overlaps (``_cell_affine_two``; 1.57× faster, the same results, since a device's draws depend
    only on its cell). Counts and write noise as ``_side_pulses``. Returns the pulses fired."""
    batch, cols = xs.shape
    linear = model == LINEAR
    mult = linear and consts[0] != 0.0
    affine = n_states == 0 and (model == CONSTANT or linear)
    lin = 1.0 if linear else 0.0
    row_up = np.int64(2 * side)
    last = uint64(batch * bl)
    # routes (``_routes``) as bit operations on up ∈ {0, 1}: pulsed = always | (up & if_up) | (~up & if_down),
    # direction = up ^ flip, or 1 when the side only potentiates
    if side == 0:
        always, if_up, if_down, flip, only_up = pair_mode != 1, 1, 0, 0, 0
    else:
        always, if_up, if_down, flip, only_up = pair_mode == 2, 0, pair_mode == 1, 1, pair_mode == 1
    always, if_up, if_down = uint64(always), uint64(if_up), uint64(if_down)
    flip, only_up = uint64(flip), uint64(only_up)
    fired = 0
    n_q = 0                                             # affine devices queued (≤ 2): columns, pulses
    j_a = j_b = pos_a = pos_b = 0
    block = buf.shape[1]
    for jj in range(cols + 1):                          # (cols: flush the queue)
        if jj < cols:
            j = np.int64(jj)
            lane = j % block
            if lane == 0:                               # the next block of columns
                c1 = min(cols, j + block)
                _row_directions(row_s, xs, j, c1, buf, flags, lane_pos, lane_word, always, if_up, if_down, flip,
                                only_up)                # (one copy for all routes; "plus"'s folded in: 2 % faster)
            pos = np.int64(lane_pos[lane])
            if pos == 0:
                continue
            cell = i * cols + j
            d = dirs[n_q]
            _gather_directions(lane, buf, flags, lane_word, d)
            n_up = 0
            for q in range((pos >> 6) + 1):
                n_up += popcount(d[q])
            fired += pos
            counts[row_up, cell] += n_up
            counts[row_up + 1, cell] += pos - n_up
            if prm[STUCK, cell] != 0.0:
                continue
            if not affine:
                cell_key = uint64(key) + (uint64(2 * cell + side) << uint64(32)) * _GOLDEN
                v = w[cell]
                for k in range(pos):
                    r = mix64(cell_key + uint64(k >> 1) * _GOLDEN)
                    z = normal32((r >> uint64(32 * (k & 1))) & _LOW32)
                    v = pulse_settled(model, n_states, prm, consts, cell, v, _direction(d, k) != 0, z)
                w[cell] = v
                if prm[WNOISE, cell] != 0.0:
                    off[cell] = _write_noise(prm, cell, v, wkey, ((uint64(2) * uint64(cell) + uint64(side))
                                                                  << uint64(32)) + last)
                continue
            if n_q == 0:
                j_a, pos_a = j, pos
            else:
                j_b, pos_b = j, pos
            n_q += 1
            if n_q < 2:
                continue
        elif n_q == 0:
            break
        # the queued devices: both together over their common pulses, then each alone (unclipped, and
        # replayed clipped from its state if a value left its bounds)
        m = min(pos_a, pos_b) & ~1 if n_q == 2 else 0
        c_a, c_b = i * cols + j_a, i * cols + j_b
        k_a = uint64(key) + (uint64(2 * c_a + side) << uint64(32)) * _GOLDEN
        k_b = uint64(key) + (uint64(2 * c_b + side) << uint64(32)) * _GOLDEN
        va, vb = w[c_a], w[c_b]
        la = ha = va
        lb = hb = vb
        if m > 0:
            for q, c in ((0, c_a), (5, c_b)):
                tab[q], tab[q + 1] = -lin * prm[P1, c], lin * prm[P0, c]
                tab[q + 2], tab[q + 3], tab[q + 4] = -prm[S_DOWN, c], prm[S_UP, c], prm[C2C, c]
            if mult:                                    # (mult a constant in each: 9 % faster, a = 1 + c·g fuses)
                va, la, ha, vb, lb, hb, m = _cell_affine_two(va, dirs[0], k_a, vb, dirs[1], k_b, tab, m, True)
            else:
                va, la, ha, vb, lb, hb, m = _cell_affine_two(va, dirs[0], k_a, vb, dirs[1], k_b, tab, m, False)
        for q in range(n_q):
            cell, pos, cell_key = (c_a, pos_a, k_a) if q == 0 else (c_b, pos_b, k_b)
            d = dirs[q]
            v, low, high = (va, la, ha) if q == 0 else (vb, lb, hb)
            cu, cd = lin * prm[P0, cell], -lin * prm[P1, cell]
            su, sd = prm[S_UP, cell], -prm[S_DOWN, cell]
            sigma, lo, hi = prm[C2C, cell], prm[W_MIN, cell], prm[W_MAX, cell]
            first = m
            for clip in range(2):                       # (one call site per value of mult)
                if mult:
                    v, l1, h1 = _cell_affine(v, d, first, pos, cell_key, cu, cd, su, sd, sigma, lo, hi, True, clip == 1)
                else:
                    v, l1, h1 = _cell_affine(v, d, first, pos, cell_key, cu, cd, su, sd, sigma, lo, hi, False,
                                             clip == 1)
                if min(low, l1) >= lo and max(high, h1) <= hi:      # (always once clipped)
                    break
                v = low = high = w[cell]                # a value left the bounds: replay, clipped
                first = 0
            w[cell] = v
            if prm[WNOISE, cell] != 0.0:
                off[cell] = _write_noise(prm, cell, v, wkey, ((uint64(2) * uint64(cell) + uint64(side)) << uint64(32))
                                         + last)
        n_q = 0
    return fired


@njit(cache=True, parallel=True)
def _cell_update(model, n_states, prm_p, prm_m, consts, w_p, w_m, off_p, off_m, counts, rows_s, xs, bl,
                 pair_mode, key, wkey):
    """``stochastic_update`` device by device (``_cell_side``): each row with a pulse visits every device for
    every sample (work ∝ active rows × batch × columns, plus the pulses). rows_s (rows, batch), xs (batch,
    cols): the trains (bl < 64) with their signs in bit 63. Chunks of ``ROWS_PER_CHUNK`` rows run in
    parallel, each with its scratch (``buf``: batch × min(cols, ``DIRECTION_BLOCK``) words, 200 KB at batch
    100)."""
    rows, batch = rows_s.shape
    cols = xs.shape[1]
    block = min(cols, DIRECTION_BLOCK)
    fired = np.zeros(rows, np.int64)
    sides = 1 if pair_mode == 0 else 2
    chunks = (rows + ROWS_PER_CHUNK - 1) // ROWS_PER_CHUNK
    for chunk in prange(chunks):
        dirs = np.zeros((2, batch * bl // 64 + 2), np.uint64)
        buf = np.empty((batch, block), np.uint64)
        flags = np.empty(((batch + 63) // 64, block), np.uint64)
        lane_pos = np.empty(block, np.uint64)
        lane_word = np.empty(block, np.uint64)
        tab = np.empty(10)
        for i in range(np.int64(chunk) * ROWS_PER_CHUNK, min(rows, (np.int64(chunk) + 1) * ROWS_PER_CHUNK)):
            row_s = rows_s[i]
            if not np.any(row_s & _LOW63):
                continue
            for side in range(sides):
                fired[i] += _cell_side(i, side, model, n_states, prm_p if side == 0 else prm_m, consts,
                                       w_p if side == 0 else w_m, off_p if side == 0 else off_m, counts, xs, bl,
                                       pair_mode, key, wkey, row_s, dirs, buf, flags, lane_pos, lane_word, tab)
    return fired.sum()


@njit(cache=True, parallel=True)
def _batch_update(prm_p, prm_m, w_p, w_m, off_p, off_m, counts, rows_bits, rows_neg, cols_bits, cols_neg, bl,
                  pair_mode, key, wkey):
    """``stochastic_update`` of constant-step devices without levels, a row's devices over the whole batch at
    once (``_row_constant``); a device pulsed in the call draws its write noise once, after its last pulse.
    Chunks of rows run in parallel; the work is active rows × batch × cols plus a draw per device pulsed."""
    rows, batch = rows_bits.shape
    cols = cols_neg.shape[1]
    fired = np.zeros(rows, np.int64)
    chunks = (rows + ROWS_PER_CHUNK - 1) // ROWS_PER_CHUNK
    for chunk in prange(chunks):
        # scratch for the chunk's rows: flags, cell lists, constant-step paths, steps
        pulsed = np.zeros((2, cols), np.bool_)
        cells = np.empty(cols, np.int64)
        acc = np.empty((2, 6, cols))
        steps = np.empty((4, cols))
        for i in range(chunk * ROWS_PER_CHUNK, min(rows, (chunk + 1) * ROWS_PER_CHUNK)):
            fired[i], n_cells = _row_constant(i, prm_p, prm_m, w_p, w_m, counts, rows_bits, rows_neg, cols_bits,
                                              cols_neg, bl, pair_mode, key, pulsed, cells, acc, steps)
            for q in range(n_cells):
                j = cells[q]
                cell = i * cols + j
                for side in range(2):                   # (a loop: one inlined copy of the draw)
                    if pulsed[side, j]:
                        v = _write_noise(prm_p if side == 0 else prm_m, cell, (w_p if side == 0 else w_m)[cell],
                                         wkey, ((2 * cell + side) << 32) + batch * bl)
                        if side == 0:                   # (not a conditional tuple of arrays: Numba wrote to
                            off_p[cell] = v             # a copy)
                        else:
                            off_m[cell] = v
                    pulsed[side, j] = False
    return fired.sum()


@njit(cache=True, parallel=True)
def counted_update(model, n_states, prm_p, prm_m, consts, w_p, w_m, off_p, off_m, counts, n_pulses, pair_mode,
                   key, wkey, fast=True):
    """Apply a signed pulse count per cell (> 0: the weight must grow), in place, with the pair mode; a
    device's pulses are one run (``devices.kernels.run``; ``fast`` False: pulse by pulse), its k-th pulse
    drawing its noise at counter k of sub-stream 2·cell + side of ``key``, its write noise (after its last
    pulse) at counter 0 of the same sub-stream of ``wkey``."""
    for c in prange(w_p.size):
        cell = np.int64(c)              # prange's index is unsigned in one of Numba's passes: one signature
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
    for c in prange(w.size):
        cell = np.int64(c)              # (one signature of the physics, as in counted_update)
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
