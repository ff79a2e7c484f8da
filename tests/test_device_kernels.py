"""The Numba pulse kernel against the plain NumPy reference, bounds, levels, faults, threads."""
import os
import subprocess
import sys

import numpy as np
import pytest

from hwsim import devices
from hwsim.devices import kernels as K
from hwsim.devices.rng import kernel_key

from . import reference as ref

NOISY = {  # every model with device-to-device variation and cycle-to-cycle noise on
    "constant-step": devices.ConstantStep(dw_min=0.01, up_down=0.1),
    "linear-step": devices.LinearStep(dw_min=0.01, gamma_up=0.3, gamma_down=0.6),
    "linear-step-additive": devices.LinearStep(dw_min=0.01, gamma_up=0.3, mult_noise=False,
                                               mean_bound_reference=False),
    "soft-bounds": devices.SoftBounds(dw_min=0.01),
    "exp-step": devices.ExpStep(dw_min=0.01),
    "exp-step-complex-noise": devices.ExpStep(dw_min=0.01, dw_min_std_add=0.01, dw_min_std_slope=0.05),
    "pow-step": devices.PowStep(dw_min=0.01, pow_gamma=1.5, pow_up_down=0.2, pow_up_down_dtod=0.05),
    "neurosim": devices.NeuroSim(nonlinearity_dtod=0.5, c2c_std=0.01),
    "piecewise": devices.Piecewise(step_dtod=0.2, c2c_std=0.01),
    "discrete": devices.ConstantStep(dw_min=0.08, n_states=16, dw_min_std=0.1),
    "faulty": devices.SoftBounds(dw_min=0.01, stuck_min_frac=0.1, stuck_max_frac=0.1),
}


@pytest.mark.parametrize("name", list(NOISY))
def test_kernel_equals_numpy_reference(name):
    model = NOISY[name]
    params = model.sample((40, 25), 1)
    rng = np.random.default_rng(2)
    w = model.initial_state(params)
    w_ref = w.ravel().copy()
    for step in range(6):
        counts = rng.integers(-7, 8, size=w.size)
        key = np.uint64(rng.integers(0, 2**63))
        K.apply_pulses(params.model_id, params.n_states, params.values, params.consts, w.reshape(-1),
                       counts.astype(np.int64), key)
        w_ref = ref.apply_pulses(params, w_ref, counts, key)
        np.testing.assert_allclose(w.ravel(), w_ref, rtol=1e-12, atol=1e-12, err_msg=f"step {step}")


def test_rng_kernel_equals_reference_and_is_standard_normal():
    from numba import njit
    from hwsim.devices.rng import normal, uniform

    @njit
    def draws(key, n):
        out = np.empty((2, n))
        for i in range(n):
            out[0, i] = uniform(key, i)
            out[1, i] = normal(key, i)
        return out

    u, z = draws(np.uint64(12345), 200_000)
    np.testing.assert_array_equal(u, ref.uniform(np.uint64(12345), np.arange(200_000)))   # bit-exact
    # log/cos may differ by an ulp between LLVM and NumPy's libm
    np.testing.assert_allclose(z, ref.normal(np.uint64(12345), np.arange(200_000)), rtol=1e-14, atol=1e-15)
    # moments of N(0,1) within 5 standard errors
    se = 1 / np.sqrt(z.size)
    assert abs(z.mean()) < 5 * se
    assert abs(z.var() - 1) < 5 * np.sqrt(2) * se
    assert abs((z ** 4).mean() - 3) < 5 * np.sqrt(96) * se


def test_paired_normals_equal_reference_and_are_independent_standard_normals():
    """``normal32`` of both halves of a hash (the stochastic update's draws): equal to the NumPy reference; the
    moments of N(0, 1), the tail mass 2/4096 and the tail's mean E[|z| | |z| > a] = φ(a)/(1 − Φ(a)) within 5
    standard errors; the two halves of one hash uncorrelated (also in their squares)."""
    from statistics import NormalDist

    from numba import njit, uint64
    from hwsim.devices.rng import _GOLDEN, mix64, normal32

    @njit
    def pairs(key, n):
        out = np.empty((2, n))
        for i in range(n):
            r = mix64(key + uint64(i) * _GOLDEN)
            out[0, i] = normal32(r & uint64(0xFFFFFFFF))
            out[1, i] = normal32(r >> uint64(32))
        return out

    n = 1_000_000
    z = pairs(np.uint64(777), n)
    p = np.arange(2 * n)
    want = ref.pulse_normals(np.uint64(777), 0, p)
    np.testing.assert_allclose(z.T.ravel(), want, rtol=1e-14, atol=1e-15)
    flat = z.ravel()
    se = 1 / np.sqrt(flat.size)
    assert abs(flat.mean()) < 5 * se
    assert abs(flat.var() - 1) < 5 * np.sqrt(2) * se
    assert abs((flat ** 4).mean() - 3) < 5 * np.sqrt(96) * se
    a = NormalDist().inv_cdf(4095 / 4096)
    tail = np.abs(flat)[np.abs(flat) > a]
    mass = 2 / 4096
    assert abs(tail.size / flat.size - mass) < 5 * np.sqrt(mass / flat.size)
    tail_mean = NormalDist().pdf(a) / (1 - NormalDist().cdf(a))
    assert abs(tail.mean() - tail_mean) < 5 * tail.std() / np.sqrt(tail.size)
    for f in (lambda v: v, np.square):
        assert abs(np.corrcoef(f(z[0]), f(z[1]))[0, 1]) < 5 / np.sqrt(n)


@pytest.mark.parametrize("name", list(NOISY))
def test_random_pulses_never_leave_bounds(name):
    model = NOISY[name]
    params = model.sample((100_000,), 3)
    w = model.initial_state(params)
    rng = np.random.default_rng(4)
    lo, hi = params["w_min"], params["w_max"]
    for _ in range(5):
        n = rng.integers(0, 40, size=w.size)
        model.step(w, n, int(rng.choice([-1, 1])), params, rng)
        assert np.all(w >= lo) and np.all(w <= hi)


def test_discrete_devices_take_only_their_levels():
    model = NOISY["discrete"]
    params = model.sample((20_000,), 5)
    w = model.initial_state(params)
    rng = np.random.default_rng(6)
    lo, hi = params["w_min"], params["w_max"]
    step = (hi - lo) / (model.n_states - 1)
    for _ in range(10):
        model.step(w, rng.integers(0, 5, size=w.size), int(rng.choice([-1, 1])), params, rng)
        level = (w - lo) / step
        np.testing.assert_allclose(level, np.round(level), atol=1e-9)
        assert level.min() >= -1e-9 and level.max() <= model.n_states - 1 + 1e-9
    assert len(np.unique(np.round((w - lo) / step))) > 2


def test_stuck_devices_never_move():
    model = NOISY["faulty"]
    params = model.sample((50_000,), 7)
    w = model.initial_state(params)
    stuck = params["stuck"]
    lo, hi = params["w_min"], params["w_max"]
    assert np.all(w[stuck < 0] == lo[stuck < 0]) and np.all(w[stuck > 0] == hi[stuck > 0])
    before = w.copy()
    rng = np.random.default_rng(8)
    for sign in (1, -1, 1):
        model.step(w, rng.integers(1, 30, size=w.size), sign, params, rng)
    np.testing.assert_array_equal(w[stuck != 0], before[stuck != 0])
    assert np.mean(w[stuck == 0] != before[stuck == 0]) > 0.99


def test_same_seed_same_result_and_different_seed_differs():
    model = NOISY["soft-bounds"]
    out = []
    for seed in (11, 11, 12):
        params = model.sample((300,), seed)
        w = model.initial_state(params)
        model.step(w, 17, 1, params, seed)
        out.append(w)
    np.testing.assert_array_equal(out[0], out[1])
    assert not np.array_equal(out[0], out[2])


_THREAD_SCRIPT = """
import hashlib, numba, numpy as np
from hwsim.devices import NeuroSim, SoftBounds
numba.set_num_threads({threads})
h = hashlib.sha256()
for model in (SoftBounds(dw_min=0.01), NeuroSim(nonlinearity_dtod=0.3)):
    params = model.sample((257, 129), 21)
    w = model.initial_state(params)
    rng = np.random.default_rng(22)
    for _ in range(5):
        model.step(w, rng.integers(0, 9, size=w.shape), int(rng.choice([-1, 1])), params, rng)
    h.update(w.tobytes())
print(h.hexdigest())
"""


def test_identical_results_for_one_and_two_threads():
    digests = []
    for threads in (1, 2):
        res = subprocess.run([sys.executable, "-c", _THREAD_SCRIPT.format(threads=threads)], capture_output=True,
                             text=True, env=dict(os.environ, NUMBA_NUM_THREADS="2"), check=True)
        digests.append(res.stdout.strip())
    assert digests[0] == digests[1] and len(digests[0]) == 64


def test_step_validates_its_inputs():
    model = devices.SoftBounds()
    params = model.sample((4,), 0)
    w = model.initial_state(params)
    with pytest.raises(ValueError, match="sign"):
        model.step(w, 1, 0, params)
    with pytest.raises(ValueError, match="n_pulses must be >= 0"):
        model.step(w, -1, 1, params)
    with pytest.raises(ValueError, match="n_pulses must be integers"):
        model.step(w, 1.5, 1, params)
    with pytest.raises(ValueError, match=r"shape \(5,\).*\(4,\)"):
        model.step(np.zeros(5), 1, 1, params)
    with pytest.raises(ValueError, match="does not broadcast"):
        model.step(w, np.ones(3, int), 1, params)
    with pytest.raises(ValueError, match="float64"):
        model.step(np.zeros(4, np.float32), 1, 1, params)
    assert isinstance(kernel_key(3), np.uint64)


@pytest.mark.parametrize("env, expect", [({}, "100000"), ({"GOMP_SPINCOUNT": "7"}, "7"),
                                         ({"OMP_WAIT_POLICY": "PASSIVE"}, "None")])
def test_openmp_threads_spin_about_a_millisecond_unless_the_user_chose(env, expect):
    """``devices`` sets GOMP_SPINCOUNT (a sleeping OpenMP thread took ≈ 0.1 ms to wake at every kernel call);
    a user's GOMP_SPINCOUNT or OMP_WAIT_POLICY wins."""
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", "import os, hwsim.devices; print(os.environ.get('GOMP_SPINCOUNT'))"],
                         env={**base, **env}, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expect
