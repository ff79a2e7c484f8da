"""Random numbers: the ``random_state`` helper and a counter-based generator for kernels.

Kernels never hold generator state. Each random number is a pure function of a 64-bit *key* and a *counter*
(SplitMix64's output function applied to ``key + counter·φ``; Steele, Lea & Flood, "Fast splittable
pseudorandom number generators", OOPSLA 2014). A cell's draws therefore do not depend on which thread handles
it, so results are bit-identical for any ``NUMBA_NUM_THREADS``.

Normal draws use one 64-bit hash each: its top 12 bits pick one of 4096 equiprobable bins of N(0, 1), the
next 32 bits place the draw linearly inside the bin (the CDF is exact at all 4097 bin edges); the two outer
bins (|z| > 3.49, probability 1/2048) are sampled exactly with Marsaglia's exponential-rejection tail method.
This costs ~3 ns instead of ~20 ns for Box–Muller, which matters at one draw per programming pulse. The
stochastic update draws two normals per hash (``normal32``: 12 bits of bin, 20 inside it, from each half).
"""
from __future__ import annotations

from statistics import NormalDist

import numpy as np
from numba import njit, uint64

_GOLDEN = uint64(0x9E3779B97F4A7C15)
_M1 = uint64(0xBF58476D1CE4E5B9)
_M2 = uint64(0x94D049BB133111EB)
_INV_2_53 = 1.0 / 9007199254740992.0


# The seed tree: every random stream of a run is a named child of one SeedSequence (nengo-style per-object
# seeds). A child is addressed, not spawned in order, so it does not depend on which streams were drawn
# before it: SeedSequence(entropy, spawn_key=parent.spawn_key + (stream, index…)).
STREAMS = ("devices", "pulses", "reads", "rounding", "weights", "rule", "data", "trace", "tile", "validation",
           "programming")


def as_seed_sequence(random_state) -> np.random.SeedSequence:
    """``random_state`` (None, int >= 0, SeedSequence or Generator) as a SeedSequence. A Generator is advanced
    by one draw (its state decides the result, as with any other draw)."""
    if random_state is None:
        return np.random.SeedSequence()
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(0, 2**63)))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be >= 0, got {random_state}")
        return np.random.SeedSequence(int(random_state))
    raise ValueError("random_state must be None, an int >= 0, a numpy SeedSequence or a numpy Generator, got "
                     f"{random_state!r}")


def child(seq: np.random.SeedSequence, stream: str, *index: int) -> np.random.SeedSequence:
    """The child ``stream`` (a name of ``STREAMS``), optionally indexed (e.g. by tile id), of ``seq``."""
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; streams: {', '.join(STREAMS)}")
    return np.random.SeedSequence(seq.entropy, spawn_key=tuple(seq.spawn_key) + (STREAMS.index(stream),
                                                                              *(int(i) for i in index)))


def check_random_state(random_state) -> np.random.Generator:
    """Turn None / int / SeedSequence / Generator into a Generator (scikit-learn's convention; a Generator is
    used as it is)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(as_seed_sequence(random_state))


def kernel_key(random_state) -> np.uint64:
    """A 64-bit key for the counter-based kernels: the first word of a SeedSequence's state, or one draw of
    a Generator."""
    if isinstance(random_state, np.random.Generator):
        return np.uint64(random_state.integers(0, 2**63, dtype=np.int64))
    return np.uint64(as_seed_sequence(random_state).generate_state(1, np.uint64)[0])


@njit(cache=True, inline="always")
def mix64(z):
    """SplitMix64 finaliser: a bijective avalanche of a uint64."""
    z = uint64(z)
    z = (z ^ (z >> uint64(30))) * _M1
    z = (z ^ (z >> uint64(27))) * _M2
    return z ^ (z >> uint64(31))


@njit(cache=True, inline="always")
def subkey(key, index):
    """Key of sub-stream ``index`` of ``key`` (e.g. one per cell, per tile or per step)."""
    return mix64(uint64(key) ^ mix64(uint64(index) * _GOLDEN + _GOLDEN))


@njit(cache=True, inline="always")
def uniform(key, counter):
    """Uniform float64 in (0, 1) for (key, counter)."""
    r = mix64(uint64(key) + uint64(counter) * _GOLDEN)
    return (float(r >> uint64(11)) + 0.5) * _INV_2_53


_NBINS = 4096
# bin edges Φ⁻¹(k/4096), k = 0..4096 (the infinite ends are never read)
NORMAL_EDGES = np.array([0.0] + [NormalDist().inv_cdf(k / _NBINS) for k in range(1, _NBINS)] + [0.0])
_TAIL = float(NORMAL_EDGES[_NBINS - 1])          # ≈ 3.4895
_INV_2_32 = 1.0 / 4294967296.0


@njit(cache=True)
def _normal_tail(r):
    """|z| beyond _TAIL given the bin draw r (Marsaglia 1964: exponential proposal, rejection)."""
    k = r
    while True:
        k = mix64(k + _GOLDEN)
        u1 = (float(k >> uint64(11)) + 0.5) * _INV_2_53
        k = mix64(k + _GOLDEN)
        u2 = (float(k >> uint64(11)) + 0.5) * _INV_2_53
        x = -np.log(u1) / _TAIL
        if -2.0 * np.log(u2) > x * x:
            return _TAIL + x


@njit(cache=True, inline="always")
def normal(key, counter):
    """Standard normal for (key, counter): one hash, inverse-CDF table (see module docstring)."""
    r = mix64(uint64(key) + uint64(counter) * _GOLDEN)
    b = int(r >> uint64(52))
    if b == 0:
        return -_normal_tail(r)
    if b == _NBINS - 1:
        return _normal_tail(r)
    f = float((r >> uint64(20)) & uint64(0xFFFFFFFF)) * _INV_2_32
    lo = NORMAL_EDGES[b]
    return lo + f * (NORMAL_EDGES[b + 1] - lo)


_INV_2_20 = 1.0 / 1048576.0


@njit(cache=True, inline="always")
def normal32_tail(u):
    """Whether ``normal32(u)`` falls in an outer bin (probability 2/4096), which calls ``_normal_tail``."""
    return (u >> uint64(20)) - uint64(1) >= uint64(_NBINS - 2)


@njit(cache=True, inline="always")
def normal32_inner(u):
    """``normal32(u)`` for u outside the outer bins (``normal32_tail`` false): the table lookup alone. A loop
    that takes these and leaves the rare outer bins to another loop has no function call in it (the call
    made LLVM keep registers free around it: 15 % of the device-by-device update)."""
    b = u >> uint64(20)
    f = float(u & uint64(0xFFFFF)) * _INV_2_20
    lo = NORMAL_EDGES[b]
    return lo + f * (NORMAL_EDGES[b + uint64(1)] - lo)


@njit(cache=True, inline="always")
def normal32(u):
    """Standard normal from 32 random bits u (a uint64 below 2³²): the top 12 bits pick the bin, the low 20
    place the draw linearly inside it; the two outer bins take the exact tail (``_normal_tail``) from a hash of
    u alone, so the two halves of one 64-bit hash give two independent normals."""
    if normal32_tail(u):
        t = _normal_tail(mix64(u))
        return -t if u >> uint64(20) == 0 else t
    return normal32_inner(u)


_MASK = (1 << 64) - 1


def _mix64_py(z: int) -> int:
    z &= _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def stream_key(key, *indices) -> np.uint64:
    """Key of the nested sub-stream ``key → index₁ → index₂ …`` (pure-Python twin of ``subkey``), e.g.
    ``stream_key(seed, tile_id, step)``; no compilation."""
    k = int(key) & _MASK
    for index in indices:
        k = _mix64_py(k ^ _mix64_py((int(index) * 0x9E3779B97F4A7C15 + 0x9E3779B97F4A7C15) & _MASK))
    return np.uint64(k)
