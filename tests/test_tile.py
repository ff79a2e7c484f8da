"""The crossbar tile: fused pulsed updates against a NumPy reference, update statistics, periphery, IR
drop, write-and-verify, thread independence and argument checks."""
import os
import subprocess
import sys

import numpy as np
import pytest

from hwsim import devices
from hwsim.devices.rng import stream_key
from hwsim.hardware import ir_drop
from hwsim.hardware.periphery import Periphery, quantize
from hwsim.hardware.tile import Tile
from hwsim.learning_rules.interface import UpdateParameters

from . import reference as ref

IDEAL_DEVICE = devices.ConstantStep(dw_min=1e-4, dw_min_dtod=0, dw_min_std=0, up_down_dtod=0, w_min_dtod=0,
                                    w_max_dtod=0, w_min=-10.0, w_max=10.0)


@pytest.mark.parametrize("pair", ["plus", "unidirectional", "both"])
@pytest.mark.parametrize("device", [devices.SoftBounds(dw_min=0.01, stuck_min_frac=0.05, write_noise_std=5.0),
                                    devices.ConstantStep(dw_min=0.01, up_down=0.2, write_noise_std=2.0),
                                    devices.NeuroSim(nonlinearity_dtod=0.3, c2c_std=0.01),
                                    devices.ExpStep(dw_min=0.01, n_states=0),
                                    devices.ConstantStep(dw_min=0.01, w_min=-0.03, w_max=0.03, w_max_dtod=0,
                                                         w_min_dtod=0),
                                    devices.LinearStep(dw_min=0.01, gamma_up=0.5, gamma_down=0.3, mult_noise=False)],
                         ids=["soft-bounds", "constant-step", "neurosim", "exp", "clipped", "linear-additive"])
@pytest.mark.parametrize("lr", [0.05, 0.004], ids=["dense-trains", "sparse-trains"])
@pytest.mark.parametrize("kernel", ["lists", "cells"])
def test_stochastic_update_equals_numpy_reference(pair, device, lr, kernel, monkeypatch):
    """The two pulse-by-pulse kernels (``_pulse_update`` through bit lists, ``_cell_update`` device by device;
    affine devices inline, others through ``pulse_settled``), each forced, on dense and sparse trains.
    Constant-step tiles are set ``per_pulse``: otherwise dense trains take the whole-batch path, other draws
    (pinned in distribution in test_fast_runs)."""
    from hwsim.learning_rules import pulses
    monkeypatch.setattr(pulses, "CELL_WORK", 0.0 if kernel == "cells" else np.inf)
    tile = Tile(7, 9, device, Periphery.ideal(), random_state=3, tile_id=2, pair=pair)
    tile.per_pulse = True
    rng = np.random.default_rng(4)
    for step in range(4):
        x = rng.uniform(-1, 1, (5, 9))
        d = rng.uniform(-1, 1, (5, 7))
        key = stream_key(tile.keys["pulses"], tile.steps)
        want = ref.stochastic_update(tile, x, d, lr, 31, key, kernel)
        tile.update(x, d, lr=lr)
        np.testing.assert_allclose(tile.w_plus, want[0], rtol=1e-12, atol=1e-12, err_msg=f"G+ step {step}")
        np.testing.assert_allclose(tile.w_minus, want[1], rtol=1e-12, atol=1e-12, err_msg=f"G- step {step}")
        np.testing.assert_array_equal(tile.pulse_counts, want[2])
        np.testing.assert_allclose(tile.offset_plus, want[3], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(tile.offset_minus, want[4], rtol=1e-12, atol=1e-12)
    assert tile.pulse_counts.sum() > 0
    if device.w_max == 0.03 and lr == 0.05:            # the cell kernel's clipped replay is exercised
        assert np.any(np.abs(tile.w_plus) == 0.03)


def _cell_update_equals_reference(tile, x, d, lr):
    """One device-by-device update (BL 31) of ``tile`` against the NumPy reference; returns its key."""
    key = stream_key(tile.keys["pulses"], tile.steps)
    want = ref.stochastic_update(tile, x, d, lr, 31, key, "cells")
    tile.update(x, d, lr=lr)
    np.testing.assert_allclose(tile.w_plus, want[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tile.w_minus, want[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(tile.pulse_counts, want[2])
    return key


@pytest.mark.parametrize("pair", ["plus", "both"])
def test_device_by_device_update_with_draws_in_the_outer_bins_equals_the_reference(pair, monkeypatch):
    """Enough pulses per device (≈ 180) that some draws fall in ``normal32``'s outer bins (2 in 4096), which the
    device-by-device kernel takes outside its inner loops (pairs of devices stop there, single devices step
    them apart): against the NumPy reference, and the outer bins were drawn."""
    from hwsim.learning_rules import pulses
    monkeypatch.setattr(pulses, "CELL_WORK", 0.0)
    tile = Tile(12, 16, devices.SoftBounds(dw_min=0.001), Periphery.ideal(), random_state=5, pair=pair)
    rng = np.random.default_rng(6)
    key = _cell_update_equals_reference(tile, rng.uniform(0, 1, (24, 16)), rng.uniform(-1, 1, (24, 12)), 0.2)
    fired = tile.pulse_counts[0] + tile.pulse_counts[1]           # G+'s pulses per device
    dkey = stream_key(key, pulses.DEVICE_NOISE)
    outer = sum(int(np.sum(np.abs(ref.pulse_normals(dkey, 2 * cell, np.arange(n), shift=32)) >= 3.4895))
                for cell, n in enumerate(fired.reshape(-1)))
    assert fired.mean() > 150 and outer >= 5


def test_device_by_device_update_over_several_column_blocks_equals_the_reference(monkeypatch):
    """A row longer than ``DIRECTION_BLOCK`` builds its directions block by block, over 70 samples (two words of
    fill flags): against the NumPy reference."""
    from hwsim.learning_rules import pulses
    monkeypatch.setattr(pulses, "CELL_WORK", 0.0)
    cols = 2 * pulses.DIRECTION_BLOCK + 9
    tile = Tile(3, cols, devices.SoftBounds(), Periphery.ideal(), random_state=5, pair="both")
    rng = np.random.default_rng(7)
    _cell_update_equals_reference(tile, rng.uniform(-1, 1, (70, cols)), rng.uniform(-1, 1, (70, 3)), 0.01)
    assert np.all(tile.pulse_counts[:2, :, -9:].sum(axis=0) > 0)


@pytest.mark.parametrize("routes", [(1, 0, 0, 0, 0), (1, 1, 0, 0, 0), (0, 1, 0, 0, 0), (0, 0, 1, 1, 1),
                                    (1, 0, 0, 1, 0)],
                         ids=["always", "plus-or-both-G+", "unidirectional-G+", "unidirectional-G-", "both-G-"])
def test_direction_strings_equal_numpy_reference(routes):
    """The device-by-device kernel's bit strings of directions, built for a block of columns at once
    (``_row_directions``, vectorised) and put together per device (``_gather_directions``), against the
    concatenated runs of a plain reference: 130 samples (three words of fill flags), a block starting mid-row,
    dense and empty trains, for the routes of every pair mode and side."""
    from hwsim.learning_rules.pulses import _LOW63, _gather_directions, _row_directions
    always, if_up, if_down, flip, only_up = (np.uint64(v) for v in routes)
    rng = np.random.default_rng(9)
    batch, cols, c0, c1, bl = 130, 300, 37, 300, 31
    sign = np.uint64(1) << np.uint64(63)
    xs = rng.integers(0, 2**bl, (batch, cols), dtype=np.uint64) | rng.integers(0, 2, (batch, cols), np.uint64) * sign
    xs[:, 50] = 0                                       # an input line without a bit
    row = rng.integers(0, 2**bl, batch, dtype=np.uint64) | rng.integers(0, 2, batch, np.uint64) * sign
    row[5:9] &= sign                                    # samples without a row bit
    m = c1 - c0
    buf = np.empty((batch, m), np.uint64)
    flags = np.empty((3, m), np.uint64)
    pos, word = np.empty(m, np.uint64), np.empty(m, np.uint64)
    _row_directions(row, xs, c0, c1, buf, flags, pos, word, always, if_up, if_down, flip, only_up)
    dirs = np.zeros(batch * bl // 64 + 2, np.uint64)
    longest = 0
    for q in range(m):
        want = []
        for b in range(batch):
            up = int((row[b] ^ xs[b, c0 + q]) >> np.uint64(63))
            n = bin(int(row[b] & xs[b, c0 + q] & _LOW63)).count("1")
            if always | (up & if_up) | ((1 - up) & if_down):
                want += [(up ^ int(flip)) | int(only_up)] * n
        dirs[:] = 0
        _gather_directions(q, buf, flags, word, dirs)
        bits = [int(dirs[k >> 6] >> np.uint64(k & 63)) & 1 for k in range(64 * (len(want) // 64 + 1))]
        assert int(pos[q]) == len(want)
        assert bits == want + [0] * (len(bits) - len(want)), q
        longest = max(longest, len(want))
    assert longest > 3 * 64                             # strings of several words


@pytest.mark.parametrize("pair", ["plus", "unidirectional", "both"])
def test_mean_stochastic_update_is_the_sgd_step(pair):
    """Ideal constant step, every pair mode: E[ΔW] = −lr·dᵀx. A coincidence moves W by dw_pair (dw, or 2·dw
    when both devices of the pair move), so a cell sees n ~ lr·|d·x|/dw_pair coincidences per update, a sum of
    independent Bernoulli draws: over K updates the error of the mean is ≲ sqrt(E[n])·dw_pair; tolerance 5σ.
    Devices fired: n per coincidence, 2n in "both"."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (4, 12))
    d = rng.uniform(-1, 1, (4, 10))
    lr, K = 0.002, 400
    tile = Tile(10, 12, IDEAL_DEVICE, Periphery.ideal(), random_state=1, pair=pair)
    W0 = tile.get_weights()
    dw_pair = IDEAL_DEVICE.dw_min * (2 if pair == "both" else 1)
    for _ in range(K):
        tile.update(x, d, lr)
    want = -K * lr * d.T @ x
    coincidences = K * lr * np.abs(d).T @ np.abs(x) / dw_pair
    sigma = np.sqrt(coincidences) * dw_pair
    assert np.all(np.abs(tile.get_weights() - W0 - want) < 5 * sigma + 1e-12)
    fired = coincidences.sum() * (2 if pair == "both" else 1)
    assert abs(tile.pulse_counts.sum() - fired) < 5 * np.sqrt(fired) * (2 if pair == "both" else 1)


@pytest.mark.parametrize("pair", ["plus", "unidirectional", "both"])
def test_update_delta_writes_the_requested_change_in_every_pair_mode(pair):
    tile = Tile(2, 2, IDEAL_DEVICE, Periphery.ideal(), random_state=0, pair=pair)
    W0 = tile.get_weights()
    k = 2 if pair == "both" else 1
    delta = np.array([[3e-4, -6e-4], [0.0, 2e-3]]) * k
    fired = tile.update_delta(delta, UpdateParameters(max_pulses=50, rounding="nearest"))
    np.testing.assert_allclose(tile.get_weights() - W0, delta, atol=1e-12)
    assert fired == int(round(np.abs(delta).sum() / 1e-4))       # devices pulsed, each moving W by dw


def test_pair_modes_route_pulses():
    x = np.ones((1, 3))
    d = np.array([[1.0, -1.0]])           # row 0 must shrink, row 1 grow
    for pair, grow, shrink in (("plus", (0, 0), (1, 0)), ("unidirectional", (0, 0), (2, 0)),
                               ("both", (0, 3), (1, 2))):
        tile = Tile(2, 3, IDEAL_DEVICE, Periphery.ideal(), random_state=0, pair=pair)
        tile.update(x, d, lr=0.01)
        c = tile.pulse_counts
        assert c[grow[0], 1].sum() > 0 and c[shrink[0], 0].sum() > 0, pair
        if pair == "both":
            assert c[grow[1], 1].sum() == c[0, 1].sum() and c[shrink[1], 0].sum() == c[1, 0].sum()
        assert np.all(np.diff(tile.get_weights(), axis=0) > 0)


def test_update_delta_rounds_and_caps():
    tile = Tile(2, 2, IDEAL_DEVICE, Periphery.ideal(), random_state=0)
    fired = tile.update_delta(np.array([[3.4e-4, -2.6e-4], [0.0, 1.0]]),
                              UpdateParameters(max_pulses=10, rounding="nearest"))
    np.testing.assert_allclose(tile.get_weights(), [[3e-4, -3e-4], [0.0, 1e-3]], atol=1e-15)
    assert fired == 3 + 3 + 10


def test_forward_and_backward_on_ideal_periphery():
    rng = np.random.default_rng(0)
    tile = Tile(6, 5, IDEAL_DEVICE, Periphery.ideal(), random_state=0)
    W = rng.uniform(-1, 1, (6, 5))
    tile.set_weights(W)
    x, d = rng.uniform(-1, 1, (3, 5)), rng.uniform(-1, 1, (3, 6))
    np.testing.assert_allclose(tile.forward(x), x @ W.T, rtol=1e-5)
    np.testing.assert_allclose(tile.backward(d), d @ W, rtol=1e-5)
    np.testing.assert_allclose(tile.forward(x[0]), x[0] @ W.T, rtol=1e-5)


def test_forward_output_takes_only_adc_levels_and_saturates():
    per = Periphery(dac_bits=6, adc_bits=5, input_scaling="none", output_range=2.0, output_noise=0.0)
    tile = Tile(20, 30, IDEAL_DEVICE, per, random_state=0)
    rng = np.random.default_rng(1)
    tile.set_weights(rng.uniform(-0.5, 0.5, (20, 30)))
    y = tile.forward(rng.uniform(-1, 1, (50, 30)))
    step = 2.0 / (2 ** 4 - 1)
    np.testing.assert_allclose(y / step, np.round(y / step), atol=1e-4)
    assert np.abs(y).max() <= 2.0 + 1e-6 and np.isclose(np.abs(y).max(), 2.0)    # some outputs saturate
    # the DAC rounds inputs: x and its quantised version give the same output
    x = rng.uniform(-1, 1, (1, 30))
    xq = quantize(x, 6, 1.0)
    np.testing.assert_array_equal(tile.forward(x), tile.forward(xq))


def test_abs_max_scaling_keeps_small_inputs_resolved():
    per = Periphery(dac_bits=8, adc_bits=0, output_noise=0.0, input_scaling="abs-max")
    tile = Tile(4, 8, IDEAL_DEVICE, per, random_state=0)
    W = np.random.default_rng(2).uniform(-1, 1, (4, 8))
    tile.set_weights(W)
    x = np.random.default_rng(3).uniform(-1e-3, 1e-3, (2, 8))
    y_true = x @ W.T
    assert np.linalg.norm(tile.forward(x) - y_true) < 0.02 * np.linalg.norm(y_true)
    # without scaling these inputs are below half a DAC step: the array sees nothing
    plain = Tile(4, 8, IDEAL_DEVICE, Periphery(dac_bits=8, adc_bits=0, output_noise=0.0, input_scaling="none"),
                 random_state=0)
    plain.set_weights(W)
    assert np.all(plain.forward(x) == 0)


def test_output_noise_statistics():
    per = Periphery(dac_bits=0, adc_bits=0, input_scaling="none", output_noise=0.1)
    tile = Tile(50, 10, IDEAL_DEVICE, per, random_state=0)
    y = tile.forward(np.zeros((2000, 10)))
    assert abs(y.std() / 0.1 - 1) < 5 / np.sqrt(2 * y.size) and abs(y.mean()) < 5 * 0.1 / np.sqrt(y.size)


def test_device_read_noise_output_variance():
    """Relative read noise σ on every device: Var(y_i) = σ²·Σ_j (G+² + G−²)·x_j² (weight units)."""
    dev = IDEAL_DEVICE.replace(read_noise=0.02)
    tile = Tile(3, 4, dev, Periphery.ideal(), random_state=0)
    tile.set_weights(np.full((3, 4), 0.5))
    x = np.tile([[1.0, -0.5, 0.25, 0.0]], (20000, 1))
    y = tile.forward(x)
    g_unit = (dev.g_max - dev.g_min) / (dev.w_max - dev.w_min)
    gp, gm = (g / g_unit for g in tile.conductances())
    var = 0.02 ** 2 * ((gp ** 2 + gm ** 2) @ (x[0] ** 2))
    np.testing.assert_allclose(y.var(axis=0), var, rtol=5 * np.sqrt(2 / 20000))
    np.testing.assert_allclose(y.mean(axis=0), x[0] @ tile.get_weights().T, atol=5 * np.sqrt(var.max() / 20000))


def _solver_case(r=1.0, R=8, C=6, seed=0):
    rng = np.random.default_rng(seed)
    G = rng.uniform(1e-6, 1e-4, (R, C))
    V = rng.uniform(-0.2, 0.2, (3, C))
    return G, V, r


def test_exact_ir_drop_obeys_kirchhoff():
    G, V, r = _solver_case(r=50.0)
    s = ir_drop.ExactSolver(G, r)
    u, v = s.node_voltages(V)
    i_in = (V - u[:, 0, :]) / r                      # driver currents into each input line
    i_out = s.currents(V)
    np.testing.assert_allclose(i_in.sum(axis=1), i_out.sum(axis=1), rtol=1e-10)
    # each device's current leaves its input line and enters its output line: line balances
    dev = G * (u - v)
    np.testing.assert_allclose(i_in, dev.sum(axis=1), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(i_out, dev.sum(axis=2), rtol=1e-9, atol=1e-15)
    # drops reduce the current below the ideal one
    assert np.linalg.norm(i_out - V @ G.T) > 1e-3 * np.linalg.norm(V @ G.T)


def test_exact_ir_drop_vanishes_with_the_wire_resistance():
    G, V, _ = _solver_case()
    np.testing.assert_allclose(ir_drop.ExactSolver(G, 1e-6).currents(V), V @ G.T, rtol=1e-7)


@pytest.mark.parametrize("r", [0.2, 0.5])
def test_first_order_matches_exact_where_valid(r):
    """With r·G·N²/2 ≪ 1 the first-order current error is second order: < 10 % of the IR-drop effect."""
    G, V, _ = _solver_case(R=24, C=24, seed=1)
    assert r * G.max() * 24 ** 2 / 2 < 0.02
    exact = ir_drop.ExactSolver(G, r).currents(V)
    first = ir_drop.first_order_currents(G, V, r)
    ideal = V @ G.T
    assert np.abs(first - exact).max() < 0.1 * np.abs(ideal - exact).max()


def test_tile_ir_drop_paths_agree_and_reduce_to_ideal():
    rng = np.random.default_rng(5)
    W = rng.uniform(-1, 1, (16, 16))
    x = rng.uniform(-1, 1, (4, 16))
    out = {}
    for solver in ("exact", "first-order"):
        per = Periphery(dac_bits=0, adc_bits=0, input_scaling="none", output_noise=0.0, output_range=1e9,
                        wire_resistance=1.0, ir_drop_solver=solver)
        tile = Tile(16, 16, IDEAL_DEVICE, per, random_state=0)
        tile.set_weights(W)
        out[solver] = tile.forward(x)
    ideal = x @ W.T
    assert 0 < np.abs(out["exact"] - ideal).max()
    assert np.abs(out["first-order"] - out["exact"]).max() < 0.1 * np.abs(out["exact"] - ideal).max()


def test_program_reaches_tolerance_on_an_ideal_device():
    rng = np.random.default_rng(6)
    dev = devices.ConstantStep(dw_min=0.002, dw_min_dtod=0, dw_min_std=0, up_down_dtod=0, w_min_dtod=0,
                               w_max_dtod=0)
    tile = Tile(8, 8, dev, Periphery.ideal(), random_state=0)
    W = rng.uniform(-0.5, 0.5, (8, 8))
    res = tile.program(W, tolerance=0.002, max_iterations=5)
    assert res["converged"] and res["max_error"] <= 0.002 and res["pulses"] > 0.9 * np.abs(W).sum() / 0.002


def test_program_reports_the_residual_on_a_noisy_device():
    rng = np.random.default_rng(7)
    tile = Tile(16, 16, devices.get_device("reram-sb").replace(read_noise=0.01), Periphery.ideal(), random_state=0)
    W = rng.uniform(-0.4, 0.4, (16, 16))
    res = tile.program(W, tolerance=0.001, max_iterations=10)
    assert not res["converged"] and res["iterations"] == 10
    exact_err = np.abs(W - tile.get_weights()).max()
    assert res["max_error_exact"] == pytest.approx(exact_err) and 0.001 < res["max_error"]
    assert res["pulses"] == tile.pulse_counts.sum()


_THREADS = """
import hashlib, numba, numpy as np
from hwsim import devices
from hwsim.hardware.tile import Tile
numba.set_num_threads({threads})
t = Tile(40, 30, devices.get_device("soft-bounds"), random_state=5, pair="both")
rng = np.random.default_rng(6)
for lr in [0.0005] * 50 + [0.3] * 50:                # sparse trains (bit lists), then dense (device by device)
    t.update(rng.uniform(0, 1, (8, 30)), rng.uniform(-1, 1, (8, 40)), lr=lr)
y = t.forward(rng.uniform(0, 1, (8, 30)))
from hwsim.learning_rules.pulses import _cell_update, _pulse_update
print(hashlib.sha256(t.w_plus.tobytes() + t.w_minus.tobytes() + t.pulse_counts.tobytes() + y.tobytes()).hexdigest(),
      len(_pulse_update.signatures), len(_cell_update.signatures))
"""


def test_same_state_with_one_and_two_threads():
    """Both pulse-by-pulse kernels, 100 updates, one and two threads: the same states, counts and reads."""
    out = [subprocess.run([sys.executable, "-c", _THREADS.format(threads=n)], capture_output=True, text=True,
                          env=dict(os.environ, NUMBA_NUM_THREADS="2"), check=True).stdout.split() for n in (1, 2)]
    assert out[0] == out[1] and len(out[0][0]) == 64 and out[0][1:] == ["1", "1"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(rows=0), "rows must be an integer >= 1, got 0"),
    (dict(cols=2.5), "cols must be an integer >= 1"),
    (dict(device="soft-bounds"), "device must be a DeviceModel"),
    (dict(pair="left"), "pair must be one of"),
    (dict(periphery=3), "periphery must be a Periphery"),
])
def test_invalid_tile_arguments(kwargs, message):
    args = dict(rows=4, cols=4, device=IDEAL_DEVICE)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Tile(**args)


@pytest.mark.parametrize("kwargs, field", [
    (dict(dac_bits=1), "dac_bits"), (dict(adc_bits=30), "adc_bits"), (dict(input_range=0), "input_range"),
    (dict(output_range=-1), "output_range"), (dict(output_noise=-0.1), "output_noise"),
    (dict(read_voltage=0), "read_voltage"), (dict(wire_resistance=-1), "wire_resistance"),
    (dict(ir_drop_solver="spice"), "ir_drop_solver"), (dict(input_scaling="max"), "input_scaling"),
    (dict(exact_max_cells=0), "exact_max_cells"),
])
def test_invalid_periphery(kwargs, field):
    with pytest.raises(ValueError, match=field):
        Periphery(**kwargs)


def test_shape_mismatches_name_both_shapes():
    tile = Tile(4, 3, IDEAL_DEVICE, random_state=0)
    with pytest.raises(ValueError, match=r"x has shape \(2, 4\), expected \(batch, 3\)"):
        tile.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"d has shape \(2, 5\), expected \(2, 4\)"):
        tile.update(np.zeros((2, 3)), np.zeros((2, 5)), lr=0.1)
    with pytest.raises(ValueError, match=r"W has shape \(3, 4\), expected \(4, 3\)"):
        tile.set_weights(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="outside the representable range"):
        tile.set_weights(np.full((4, 3), 100.0))
    with pytest.raises(ValueError, match="bl must be"):
        tile.update(np.zeros((2, 3)), np.zeros((2, 4)), lr=0.1, params=UpdateParameters(bl=65))
    with pytest.raises(ValueError, match="contains NaN"):
        tile.forward(np.full((1, 3), np.nan))


def test_saved_state_round_trips_and_refuses_array_scalars():
    tile = Tile(4, 3, devices.get_device("reram-sb"), random_state=0)
    tile.update(np.full((2, 3), 0.5), np.full((2, 4), 0.5), lr=0.1)
    state = tile.state()
    copy = Tile.from_state(state, tile.device)
    np.testing.assert_array_equal(copy.get_weights(), tile.get_weights())
    assert (copy.steps, copy.keys) == (tile.steps, tile.keys)
    with pytest.raises(ValueError, match=r"field steps must be a scalar, got an array of shape \(2,\)"):
        Tile.from_state({**state, "steps": np.array([1, 2])}, tile.device)


@pytest.mark.parametrize("device", [devices.get_device("constant-step"), devices.get_device("pcm-ibm")],
                         ids=["signed", "one-sided"])
@pytest.mark.parametrize("pair", ["plus", "both", "unidirectional"])
def test_set_weights_reaches_every_representable_weight(device, pair):
    """Any W inside weight_range() is written exactly, up to its edges, in every pair mode; one-sided
    devices (w_min = 0) still represent negative weights (their fixed reference sits mid-range)."""
    tile = Tile(30, 30, device, Periphery.ideal(), random_state=4, pair=pair)
    lo, hi = tile.weight_range()
    assert np.all(lo < 0) and np.all(hi > 0)
    rng = np.random.default_rng(5)
    for W in (lo, hi, lo + rng.random(lo.shape) * (hi - lo)):
        tile.set_weights(W)
        np.testing.assert_allclose(tile.get_weights(), W, atol=1e-12)


def test_reference_test_covers_sparse_and_dense_trains():
    """The two learning rates of test_stochastic_update_equals_numpy_reference give trains on both sides of
    the batch update's density threshold (``SPARSE_BITS``)."""
    from hwsim.learning_rules.pulses import SPARSE_BITS, pulse_trains
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (5, 9))
    d = rng.uniform(-1, 1, (5, 7))
    dw = devices.SoftBounds(dw_min=0.01).nominal_step()
    bits = {}
    for lr in (0.05, 0.004):
        gain = lr / (31 * dw)
        c_x = np.sqrt(gain * np.abs(d).max() / np.abs(x).max())
        trains = pulse_trains(x, c_x, 31, np.uint64(1), False)[0]
        bits[lr] = np.mean([bin(int(v)).count("1") for v in trains.ravel()])
    assert bits[0.05] > SPARSE_BITS >= bits[0.004]


@pytest.mark.parametrize("bl", [1, 31, 64])
def test_bit_lists_list_the_lines_of_every_sample_and_bit_in_order(bl):
    """The CSR lists of ``bit_lists`` against a plain loop over (sample, bit, line), on trains with empty and
    full lines; the same lists at one and two threads is pinned by test_same_state_with_one_and_two_threads."""
    from hwsim.learning_rules.pulses import bit_lists
    rng = np.random.default_rng(bl)
    full = (1 << bl) - 1
    bits = rng.integers(0, 2 ** 63, (6, 11), dtype=np.int64).astype(np.uint64) & np.uint64(full)
    bits[rng.random(bits.shape) < 0.3] = 0
    bits[0, 3] = np.uint64(full)
    ptr, idx = bit_lists(bits, bl)
    want = [[j for j in range(11) if int(bits[b, j]) >> t & 1] for b in range(6) for t in range(bl)]
    assert ptr[0] == 0 and len(ptr) == 6 * bl + 1
    assert [list(idx[ptr[k]:ptr[k + 1]]) for k in range(6 * bl)] == want


def test_reads_run_on_one_blas_thread_and_restore_the_count(monkeypatch):
    """A tile's matrix products run on one BLAS thread (BLAS threads spinning beside Numba's made a 512 × 512
    read 10× slower), and the caller's thread count comes back afterwards."""
    import contextlib

    from threadpoolctl import ThreadpoolController, threadpool_limits

    from hwsim.hardware import tile as tile_mod
    seen = []
    real = tile_mod._one_blas_thread

    @contextlib.contextmanager
    def spy():
        with real():
            seen.append([i["num_threads"] for i in ThreadpoolController().select(user_api="blas").info()])
            yield
    monkeypatch.setattr(tile_mod, "_one_blas_thread", spy)
    tile = Tile(8, 6, IDEAL_DEVICE, Periphery.ideal(), random_state=0)
    with threadpool_limits(limits=2, user_api="blas"):
        tile.forward(np.ones((3, 6)))
        tile.backward(np.ones((3, 8)))
        after = [i["num_threads"] for i in ThreadpoolController().select(user_api="blas").info()]
    assert len(seen) == 2 and all(n == [1] * len(n) for n in seen) and seen[0]
    assert after == [2] * len(after)
