"""The update kernels' fast paths against the per-pulse reference (``devices.kernels.pulse_run``).

Fast paths that use other random draws than pulse-by-pulse stepping (one draw per run for additive-noise
affine devices; one draw per batch for constant-step devices, ``learning_rules.pulses._row_constant``) are
compared in distribution: many devices with identical parameters take the same pulses on both paths, and the
mean and variance of their final states must agree within 5 standard errors (SE of a mean: sd/√N; of a
variance: var·√(2/N)), and with the closed form where there is one. Paths that use the same draws (the
multiplicative one; runs near a bound, which fall back to pulse-by-pulse) must agree to rounding.
"""
import numpy as np
import pytest
from numba import njit

from hwsim import devices
from hwsim.devices.kernels import S_DOWN, S_UP, run
from hwsim.devices.rng import subkey
from hwsim.hardware.periphery import Periphery
from hwsim.hardware.tile import Tile

N = 40_000                      # devices per comparison


@njit(cache=True)
def _runs(model, n_states, prm, consts, w, up, n, key, fast):
    out = np.empty(w.size)
    for i in range(w.size):
        out[i] = run(model, n_states, prm, consts, i, w[i], up, n, subkey(key, i), 0, fast)
    return out


def _uniform(device, w0):
    """N devices with the nominal parameters (no device-to-device spread) at state w0."""
    params = device.sample((N,), 0)
    nominal = device.sample((1,), 0)
    params.values[:] = nominal.values[:, :1]
    return params, np.full(N, w0)


def _nominal(device):
    return device.__class__(**{**device.__dict__, "dw_min_dtod": 0.0, "up_down_dtod": 0.0, "w_min_dtod": 0.0,
                               "w_max_dtod": 0.0})


def _agree(a, b, what):
    se_mean = np.sqrt(a.var() / a.size + b.var() / b.size)
    assert abs(a.mean() - b.mean()) < 5 * se_mean + 1e-15, f"{what}: mean {a.mean()} vs {b.mean()}"
    se_var = np.sqrt(2 / a.size) * max(a.var(), b.var())
    assert abs(a.var() - b.var()) < 5 * se_var + 1e-30, f"{what}: variance {a.var()} vs {b.var()}"


AFFINE = {
    "constant-step": devices.ConstantStep(dw_min=0.002, dw_min_std=0.3, up_down=0.2),
    "linear-additive": devices.LinearStep(dw_min=0.002, gamma_up=0.5, gamma_down=0.3, mult_noise=False),
    "soft-bounds": devices.SoftBounds(dw_min=0.002, dw_min_std=0.5),
}


@pytest.mark.parametrize("n", [1, 3, 17, 64, 150])
@pytest.mark.parametrize("up", [True, False])
@pytest.mark.parametrize("name", list(AFFINE))
def test_fast_run_has_the_per_pulse_distribution(name, up, n):
    device = _nominal(AFFINE[name])
    params, w = _uniform(device, 0.05)
    args = (params.model_id, params.n_states, params.values, params.consts, w, up, n)
    fast = _runs(*args, np.uint64(11), True)
    slow = _runs(*args, np.uint64(12), False)
    _agree(fast, slow, f"{name} n={n}")
    if name == "constant-step":            # closed form: mean n·s, variance n·(σ·s)²
        s = params.values[S_UP if up else S_DOWN, 0] * (1 if up else -1)
        sigma = device.dw_min_std
        assert abs(fast.mean() - (0.05 + n * s)) < 5 * np.sqrt(n / N) * sigma * abs(s)
        assert abs(fast.var() - n * (sigma * s) ** 2) < 5 * np.sqrt(2 / N) * n * (sigma * s) ** 2


@pytest.mark.parametrize("name", list(AFFINE))
def test_fast_run_uses_the_per_pulse_draws_where_it_must(name):
    """Multiplicative noise: the same draws as pulse by pulse, so the same states to rounding. Near a bound
    every device falls back to pulse-by-pulse stepping (clipped), so again the same states."""
    device = _nominal(AFFINE[name])
    for w0, n in ((0.05, 20), (device.w_max - 0.004, 40)):
        params, w = _uniform(device, w0)
        args = (params.model_id, params.n_states, params.values, params.consts, w, True, n, np.uint64(3))
        fast, slow = _runs(*args, True), _runs(*args, False)
        if name == "soft-bounds" or w0 > 0.5:
            np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
        else:
            assert not np.allclose(fast, slow)       # one draw per run: other draws


def _batch_tiles(device, pair, w0):
    """Two tiles, fast and per-pulse, of 200 × 200 identical devices at state w0 (same seed: same trains)."""
    tiles = []
    for per_pulse in (False, True):
        t = Tile(200, 200, device, Periphery.ideal(), random_state=7, pair=pair)
        nominal = device.sample((1,), 0).values[:, :1]
        t.params_plus.values[:] = nominal
        t.params_minus.values[:] = nominal
        t.w_plus[...] = w0
        if pair != "plus":
            t.w_minus[...] = 0.0
        t.per_pulse = per_pulse
        tiles.append(t)
    return tiles


@pytest.mark.parametrize("pair", ["plus", "unidirectional", "both"])
def test_constant_step_batches_have_the_per_pulse_distribution(pair):
    """Every device sees the same input statistics (x and d constant across lines; d changes sign from
    sample to sample, so runs of both signs alternate): across devices the final states are i.i.d. on each
    path. Counts are identical (the trains are the same); states agree in distribution."""
    device = _nominal(devices.ConstantStep(dw_min=0.002, dw_min_std=0.4, up_down=0.1))
    fast, slow = _batch_tiles(device, pair, 0.0)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = np.full((20, 200), 0.7)
        d = np.repeat(rng.choice([-1.0, 0.6], 20)[:, None], 200, axis=1)
        for t in (fast, slow):
            t.update(x, d, 0.01)
    np.testing.assert_array_equal(fast.pulse_counts, slow.pulse_counts)
    for side in ("w_plus", "w_minus"):
        _agree(getattr(fast, side).ravel(), getattr(slow, side).ravel(), f"{pair} {side}")


def test_constant_step_batches_replay_near_a_bound():
    """Devices whose mean path comes within reach of a bound replay their runs pulse by pulse (clipped):
    with no cycle-to-cycle noise, both paths give the same states exactly, clipped at the bound."""
    device = _nominal(devices.ConstantStep(dw_min=0.01, dw_min_std=0.0))
    fast, slow = _batch_tiles(device, "plus", device.w_max - 0.05)
    x = np.full((10, 200), 1.0)
    d = -np.ones((10, 200))                    # all potentiation: the devices run into w_max
    for t in (fast, slow):
        t.update(x, d, 0.5)
    np.testing.assert_array_equal(fast.pulse_counts, slow.pulse_counts)
    np.testing.assert_allclose(fast.w_plus, slow.w_plus, rtol=0, atol=1e-12)
    assert (fast.w_plus == device.w_max).mean() > 0.5


@pytest.mark.parametrize("pair", ["plus", "both"])
def test_constant_step_batches_draw_write_noise_at_the_documented_counters(pair):
    """On the whole-batch path a device pulsed in the call ends with its write noise drawn from its final state
    at counter (2·cell + side)·2³² + batch·BL of the update's write-noise key (G+ and G− on their own
    counters: independent offsets); devices not pulsed keep theirs."""
    from hwsim.devices.rng import stream_key
    from hwsim.learning_rules.pulses import SPARSE_BITS, WRITE_NOISE
    from . import reference as ref
    tile = Tile(6, 40, devices.ConstantStep(dw_min=0.01, write_noise_std=3.0), Periphery.ideal(), random_state=2,
                pair=pair)
    rng = np.random.default_rng(7)
    x, d = rng.uniform(-1, 1, (8, 40)), rng.uniform(-1, 1, (8, 6))
    tile.update(x, d, 0.2)                                  # offsets from an earlier call
    before = (tile.offset_plus.copy(), tile.offset_minus.copy())
    counts0 = tile.pulse_counts.copy()
    x[:, :10] = 0.0                                         # lines 0–9 carry no pulses
    wkey = stream_key(stream_key(tile.keys["pulses"], tile.steps), WRITE_NOISE)
    tile.update(x, d, 0.2)
    c_x = np.sqrt(0.2 / (31 * tile.dw_pair) * np.abs(d).max() / np.abs(x).max())    # update management
    assert 31 * np.minimum(1, c_x * np.abs(x)).mean() > SPARSE_BITS + 2             # dense: the batch path
    cells = np.arange(tile.rows * tile.cols, dtype=np.uint64)
    for side, (params, w, off) in enumerate(((tile.params_plus, tile.w_plus, tile.offset_plus),
                                             (tile.params_minus, tile.w_minus, tile.offset_minus))):
        pulsed = (tile.pulse_counts[2 * side:2 * side + 2] != counts0[2 * side:2 * side + 2]).any(axis=0).ravel()
        want = ref.write_noise(params, w.ravel(), cells.astype(np.int64), wkey,
                               ((2 * cells + np.uint64(side)) << np.uint64(32)) + np.uint64(8 * 31))
        np.testing.assert_allclose(off.ravel()[pulsed], want[pulsed], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(off.ravel()[~pulsed], before[side].ravel()[~pulsed])
        if side == 1 and pair == "plus":
            assert not pulsed.any()                         # the fixed reference
        else:
            assert pulsed.any() and (~pulsed).any()
