"""Every noise knob on its own against its closed form (fixed seeds).

Tolerances are k = 5 standard errors of the estimator: a sample mean of N draws of std σ has standard error
σ/√N; a sample std has relative standard error 1/√(2N) (Gaussian draws); a sample correlation of independent
variables has standard error 1/√N.
"""
import numpy as np
import pytest

from hwsim import devices
from hwsim.devices import kernels as K
from hwsim.devices.base import nominal
from hwsim.hardware.periphery import Periphery
from hwsim.hardware.tile import Tile
from hwsim.learning_rules import dfa
from hwsim.learning_rules.interface import UpdateParameters

N = 20_000
K_SIGMA = 5.0
NO_DTOD = dict(w_min_dtod=0.0, w_max_dtod=0.0)
PULSED_NO_DTOD = dict(NO_DTOD, dw_min_dtod=0.0, up_down_dtod=0.0)

# model, start state w0; each with c2c noise on and every device-to-device spread off
C2C_CASES = {
    "constant-step": (devices.ConstantStep(dw_min=0.01, dw_min_std=0.3, up_down=0.2, **PULSED_NO_DTOD), 0.1),
    "linear-step-mult": (devices.LinearStep(dw_min=0.01, dw_min_std=0.3, gamma_up=0.8, gamma_down=0.6,
                                            gamma_up_dtod=0.0, gamma_down_dtod=0.0, **PULSED_NO_DTOD), 0.3),
    "linear-step-additive": (devices.LinearStep(dw_min=0.01, dw_min_std=0.3, gamma_up=0.8, gamma_down=0.6,
                                                gamma_up_dtod=0.0, gamma_down_dtod=0.0, mult_noise=False,
                                                **PULSED_NO_DTOD), 0.3),
    "soft-bounds": (devices.SoftBounds(dw_min=0.01, dw_min_std=0.3, **PULSED_NO_DTOD), -0.25),
    "exp-step": (devices.ExpStep(dw_min=0.01, dw_min_std=0.3, **PULSED_NO_DTOD), 0.1),
    "exp-step-add": (devices.ExpStep(dw_min=0.01, dw_min_std=0.3, dw_min_std_add=0.008, **PULSED_NO_DTOD), 0.1),
    "exp-step-slope": (devices.ExpStep(dw_min=0.01, dw_min_std=0.3, dw_min_std_slope=0.05, **PULSED_NO_DTOD),
                       -0.3),
    "exp-step-add-slope": (devices.ExpStep(dw_min=0.01, dw_min_std=0.3, dw_min_std_add=0.004,
                                           dw_min_std_slope=0.03, **PULSED_NO_DTOD), 0.2),
    "pow-step": (devices.PowStep(dw_min=0.01, dw_min_std=0.3, pow_gamma=1.7, pow_gamma_dtod=0.0,
                                 pow_up_down=0.3, **PULSED_NO_DTOD), 0.15),
    "neurosim": (devices.NeuroSim(c2c_std=0.01, nonlinearity_ltp=2.0, nonlinearity_ltd=-3.0, **NO_DTOD), 0.2),
    "piecewise": (devices.Piecewise(c2c_std=0.005, **NO_DTOD), -0.2),
}


def step_std(model, w0, sign):
    """Std of one pulse's weight change from w0 given the documented equations (no device variation)."""
    m0 = nominal(model)
    dw = float(m0.expected(1, sign, w0)[1] - w0)          # the noiseless step
    if isinstance(model, (devices.NeuroSim, devices.Piecewise)):
        return model.c2c_std * (model.w_max - model.w_min)         # additive, a fraction of the range
    sigma = model.dw_min_std
    if isinstance(model, devices.LinearStep) and not model.mult_noise:
        s_up, s_down = model.nominal_scales()
        return sigma * (s_up if sign > 0 else s_down)               # noise on the constant part only
    if isinstance(model, devices.ExpStep) and (model.dw_min_std_add or model.dw_min_std_slope):
        return sigma * (abs(dw) + model.dw_min_std_add + model.dw_min_std_slope * abs(w0))
    return sigma * abs(dw)                                          # multiplicative: (1 + σξ)


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("name", list(C2C_CASES))
def test_one_pulse_step_has_the_documented_mean_and_variance(name, sign):
    model, w0 = C2C_CASES[name]
    params = model.sample((N,), 11)
    assert np.ptp(params.values, axis=1).max() == 0          # identical devices: only c2c noise differs
    w = np.full(N, w0)
    model.step(w, 1, sign, params, 12)
    dw = w - w0
    mean = float(nominal(model).expected(1, sign, w0)[1] - w0)
    std = step_std(model, w0, sign)
    assert abs(mean) > 3 * std / np.sqrt(N)                  # the step itself is resolved
    lo, hi = params["w_min"][0], params["w_max"][0]
    assert min(w0 + mean - lo, hi - w0 - mean) > 6 * std     # no clipping at the bounds
    assert abs(dw.mean() - mean) < K_SIGMA * std / np.sqrt(N), (dw.mean(), mean)
    assert abs(dw.std() / std - 1) < K_SIGMA / np.sqrt(2 * N), (dw.std(), std)


def test_two_level_device_takes_only_its_bounds():
    """n_states = 2: the levels are w_min and w_max; a pulse of more than half the range flips the device."""
    model = devices.ConstantStep(dw_min=0.7, dw_min_std=0.0, n_states=2, **PULSED_NO_DTOD)
    params = model.sample((4,), 0)
    w = model.initial_state(params)
    assert set(np.round(w, 12)) <= {-0.6, 0.6}
    model.step(w, 1, 1, params, 0)
    np.testing.assert_array_equal(w, 0.6)
    model.step(w, 1, -1, params, 0)
    np.testing.assert_array_equal(w, -0.6)


def test_consecutive_pulses_draw_independent_noise():
    """Two pulses of a constant step: Var = 2·(σ·s)² (independent draws), not 4·(σ·s)² (one draw reused)."""
    model, w0 = C2C_CASES["constant-step"]
    params = model.sample((N,), 13)
    w = np.full(N, w0)
    model.step(w, 2, 1, params, 14)
    std = np.sqrt(2) * model.dw_min_std * model.dw_min
    assert abs((w - w0).std() / std - 1) < K_SIGMA / np.sqrt(2 * N)


# ---- G+ and G− ---------------------------------------------------------------------------------------------
NOISY_CONSTANT = devices.ConstantStep(dw_min=0.01, dw_min_std=0.3, **PULSED_NO_DTOD)


def _pair_residuals(tile, before_p, before_m, pulses):
    """Per cell, the noise part of the G+ and G− changes (steps of ±s·(1 + σξ) each): Δ/s − (±pulses)."""
    s = NOISY_CONSTANT.dw_min
    dp = (tile.w_plus - before_p).ravel() / s
    dm = (tile.w_minus - before_m).ravel() / s
    return dp - pulses, dm + pulses


@pytest.mark.parametrize("pulses", [1, 3])
def test_counted_update_noise_of_g_plus_and_g_minus_is_independent(pulses):
    """"both" mode, every cell pulsed: G+ potentiated, G− depressed. Their noise terms σ·Σξ must be
    uncorrelated (|r| < 5/√n); one shared stream would give r = −1."""
    tile = Tile(100, 100, NOISY_CONSTANT, Periphery.ideal(), random_state=15, pair="both")
    n = tile.rows * tile.cols
    before_p, before_m = tile.w_plus.copy(), tile.w_minus.copy()
    tile.update_pulses(np.full((100, 100), pulses, np.int64))
    rp, rm = _pair_residuals(tile, before_p, before_m, pulses)
    want_std = NOISY_CONSTANT.dw_min_std * np.sqrt(pulses)
    for r in (rp, rm):
        assert abs(r.std() / want_std - 1) < K_SIGMA / np.sqrt(2 * n)
    assert abs(np.corrcoef(rp, rm)[0, 1]) < K_SIGMA / np.sqrt(n)
    # neighbouring cells are independent too
    assert abs(np.corrcoef(rp[1:], rp[:-1])[0, 1]) < K_SIGMA / np.sqrt(n)


@pytest.mark.parametrize("bl", [7, 64])
def test_stochastic_update_noise_of_g_plus_and_g_minus_is_independent(bl):
    """Probabilities exactly 1 (not saturated: nothing clipped): every cell takes BL coincidences, G+ and G−
    one pulse each per coincidence; BL = 64 uses every bit of the train word."""
    tile = Tile(100, 100, NOISY_CONSTANT.replace(w_min=-2.0, w_max=2.0), Periphery.ideal(), random_state=16,
                pair="both")
    n = tile.rows * tile.cols
    before_p, before_m = tile.w_plus.copy(), tile.w_minus.copy()
    lr = bl * tile.dw_pair                     # c_x·c_d = 1: all probabilities exactly 1
    stats = tile.update(np.ones((1, 100)), -np.ones((1, 100)), lr, UpdateParameters(bl=bl))
    assert stats["pulses"] == 2 * bl * n and stats["saturated"] == 0.0
    np.testing.assert_array_equal(tile.pulse_counts[0], bl)      # G+ potentiated BL times
    np.testing.assert_array_equal(tile.pulse_counts[3], bl)      # G− depressed BL times
    rp, rm = _pair_residuals(tile, before_p, before_m, bl)
    want_std = NOISY_CONSTANT.dw_min_std * np.sqrt(bl)
    for r in (rp, rm):
        assert abs(r.std() / want_std - 1) < K_SIGMA / np.sqrt(2 * n)
    assert abs(np.corrcoef(rp, rm)[0, 1]) < K_SIGMA / np.sqrt(n)


# ---- reads -------------------------------------------------------------------------------------------------
IDEAL = devices.ConstantStep(dw_min=1e-4, dw_min_dtod=0, dw_min_std=0, up_down_dtod=0, w_min_dtod=0,
                             w_max_dtod=0, w_min=-10.0, w_max=10.0)


@pytest.mark.parametrize("input_range, scaling", [(1.0, "none"), (0.5, "abs-max"), (3.0, "abs-max")])
def test_output_noise_on_its_own(input_range, scaling):
    """Output noise σ is added before the ADC, in DAC units: y − W·x ~ N(0, (σ·s_b)²) with s_b the sample's
    input scale (max|x_b|/input_range with abs-max, else 1), independent across outputs."""
    sigma = 0.05
    per = Periphery(dac_bits=0, adc_bits=0, input_range=input_range, input_scaling=scaling, output_noise=sigma,
                    output_range=1e9)
    rng = np.random.default_rng(17)
    tile = Tile(40, 8, IDEAL, per, random_state=18)
    W = rng.uniform(-1, 1, (40, 8))
    tile.set_weights(W)
    x = rng.uniform(-1, 1, (1, 8))
    x /= np.abs(x).max()
    batch = 1000
    groups = (0.2, 1.0, 2.5) if scaling == "abs-max" else (0.1, 0.4, 1.0)   # "none": inside the DAC range
    scale = rng.choice(groups, batch)                                 # three groups of samples
    xs = x * scale[:, None] * (1.0 if scaling == "abs-max" else input_range)
    resid = tile.forward(xs) - xs @ W.T
    s_b = np.abs(xs).max(axis=1) / input_range if scaling == "abs-max" else np.ones(batch)
    z = resid / (sigma * s_b[:, None])
    n = z.size
    assert abs(z.mean()) < K_SIGMA / np.sqrt(n)
    assert abs(z.std() - 1) < K_SIGMA / np.sqrt(2 * n)
    for group in groups:                                              # each scale on its own
        zg = z[scale == group]
        assert abs(zg.std() - 1) < K_SIGMA / np.sqrt(2 * zg.size)
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < K_SIGMA / np.sqrt(batch)


def test_device_read_noise_on_its_own_backward():
    """Transpose read with relative read noise σ: Var(y_j) = σ²·Σ_i (G+_ij² + G−_ij²)·d_i² (weight units)."""
    sigma = 0.03
    dev = IDEAL.replace(read_noise=sigma)
    tile = Tile(4, 3, dev, Periphery.ideal(), random_state=19)
    rng = np.random.default_rng(20)
    tile.set_weights(rng.uniform(-2, 2, (4, 3)))
    d = np.tile([[1.0, -0.5, 0.0, 2.0]], (20_000, 1))
    y = tile.backward(d)
    g_unit = dev.siemens_per_weight()
    gp, gm = (g / g_unit for g in tile.conductances())
    var = sigma ** 2 * ((gp ** 2 + gm ** 2).T @ d[0] ** 2)
    n = d.shape[0]
    np.testing.assert_allclose(y.var(axis=0), var, rtol=K_SIGMA * np.sqrt(2 / n))
    np.testing.assert_allclose(y.mean(axis=0), d[0] @ tile.get_weights(), atol=K_SIGMA * np.sqrt(var.max() / n))


def test_read_back_noise_on_its_own():
    """A verify read sees W + (ε+·G+ − ε−·G−)/g_unit, ε± ~ N(0, σ²) independent: Var = σ²·(G+² + G−²)/g_unit²."""
    sigma = 0.02
    dev = IDEAL.replace(read_noise=sigma)
    tile = Tile(100, 100, dev, Periphery.ideal(), random_state=21)
    rng = np.random.default_rng(22)
    tile.set_weights(rng.uniform(-3, 3, (100, 100)))
    W = tile.get_weights()
    gp, gm = (g / dev.siemens_per_weight() for g in tile.conductances())
    z = (tile.read_back() - W) / (sigma * np.sqrt(gp ** 2 + gm ** 2))
    assert abs(z.mean()) < K_SIGMA / np.sqrt(z.size)
    assert abs(z.std() - 1) < K_SIGMA / np.sqrt(2 * z.size)


# ---- DFA feedback --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width, scale", [(16, 1.0), (300, 1.0), (64, 2.5)])
def test_dfa_feedback_is_uniform_with_the_receiving_width(width, scale):
    """B_l ~ U(−s/√n_l, s/√n_l): entries within the bounds, reaching them, variance s²/(3·n_l), mean 0.
    The sample variance of n uniform draws on [−b, b] has standard error √((μ₄ − σ⁴)/n), μ₄ = b⁴/5."""
    classes = 20_000 // width
    B = dfa.feedback(np.random.default_rng(23), classes, width, scale)
    assert B.shape == (classes, width) and B.dtype == np.float32
    b = scale / np.sqrt(width)
    n = B.size
    assert np.abs(B).max() <= b * (1 + 1e-6)
    assert np.abs(B).max() > b * (1 - 20 / n)              # the largest of n draws is within ~1/n of b
    var = b * b / 3
    se_var = np.sqrt((b ** 4 / 5 - var ** 2) / n)
    assert abs(B.astype(np.float64).var() - var) < K_SIGMA * se_var
    assert abs(B.mean()) < K_SIGMA * np.sqrt(var / n)


def test_dfa_feedback_of_each_layer_uses_that_layers_width():
    from hwsim import learning_rules as LR
    from hwsim.hardware.layers import mlp
    from hwsim.hardware.network import Network
    sizes = (10, 400, 25, 4)
    net = Network(mlp(list(sizes), "tanh", "dense", None), devices.ideal_device(), Periphery.ideal(),
                  random_state=0)
    rule = LR.build("dfa", net, 0.01, random_state=24, feedback_scale=1.5)
    assert [B.shape for B in rule.B] == [(4, 400), (4, 25)]
    for B, width in zip(rule.B, (400, 25)):
        b = 1.5 / np.sqrt(width)
        assert np.abs(B).max() <= b * (1 + 1e-6) and np.abs(B).max() > 0.8 * b
    B = rule.B[0].astype(np.float64)
    var = 1.5 ** 2 / 400 / 3
    assert abs(B.var() - var) < K_SIGMA * np.sqrt((1.5 ** 4 / 400 ** 2 / 5 - var ** 2) / B.size)


def test_stuck_devices_are_pinned_by_any_step():
    """A step pins stuck devices to their bound whatever state they were handed, pulsed or not; devices
    that are not stuck and get no pulse keep their state exactly."""
    model = devices.SoftBounds(dw_min=0.01, stuck_min_frac=0.3, stuck_max_frac=0.3)
    params = model.sample((3000,), 25)
    stuck = params["stuck"]
    lo, hi = params["w_min"], params["w_max"]
    for n in (0, 2):
        w = np.full(3000, 0.123)
        model.step(w, np.where(np.arange(3000) % 2 == 0, n, 0), 1, params, 26)
        np.testing.assert_array_equal(w[stuck < 0], lo[stuck < 0])
        np.testing.assert_array_equal(w[stuck > 0], hi[stuck > 0])
        idle = (stuck == 0) & ((np.arange(3000) % 2 == 1) | (n == 0))
        np.testing.assert_array_equal(w[idle], 0.123)


def test_dfa_makes_no_transposed_reads(monkeypatch):
    """DFA's signals need only e and each layer's cache: a step reads no matrix backwards (backprop does)."""
    from hwsim import learning_rules as LR
    from hwsim.hardware.layers import mlp
    from hwsim.hardware.network import Network
    from hwsim.hardware.tile import Tile
    from hwsim.workflow.trainer import one_hot
    rng = np.random.default_rng(27)
    x = rng.uniform(0, 1, (8, 8)).astype(np.float32)
    y = one_hot(rng.integers(0, 3, 8), 3)

    def no_backward(self, d):
        raise AssertionError("transposed read")

    monkeypatch.setattr(Tile, "backward", no_backward)
    for name in ("dfa", "bp"):
        net = Network(mlp([8, 6, 5, 3], "tanh", "dense", None), devices.ideal_device(), Periphery.ideal(),
                      tile_rows=4, tile_cols=5, random_state=0)
        rule = LR.build(name, net, 0.01, random_state=1)
        if name == "dfa":
            assert rule.step(net, x, y)["pulses"] > 0
        else:
            with pytest.raises(AssertionError, match="transposed read"):
                rule.step(net, x, y)
