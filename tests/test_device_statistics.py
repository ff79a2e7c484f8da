"""Device-to-device and cycle-to-cycle statistics match the requested spreads (10^5 devices, fixed seeds).

Tolerances: a sample std over N = 10^5 draws has relative standard error 1/sqrt(2N) ≈ 0.22 %; means have
standard error σ/sqrt(N). Checks allow 5 standard errors (plus the stated model effects).
"""
import numpy as np
import pytest
from scipy import stats

from hwsim import devices
from hwsim.devices import kernels as K
from hwsim.devices.curves import nonlinearity_to_a

N = 100_000
STD_TOL = 5 / np.sqrt(2 * N)


def test_step_scale_dtod_and_asymmetry():
    """scale_up = dw_min(g + r), scale_down = dw_min(g − up_down − r): std dw_min·sqrt(dtod² + ud²)."""
    m = devices.ConstantStep(dw_min=0.01, dw_min_dtod=0.1, up_down=0.2, up_down_dtod=0.05)
    p = m.sample((N,), 0)
    up, down = p["scale_up"], p["scale_down"]
    expected_std = 0.01 * np.hypot(0.1, 0.05)
    assert abs(up.std() / expected_std - 1) < STD_TOL
    assert abs(down.std() / expected_std - 1) < STD_TOL
    assert abs(up.mean() - 0.01) < 5 * expected_std / np.sqrt(N)
    assert abs(down.mean() - 0.008) < 5 * expected_std / np.sqrt(N)
    # the shared gain correlates up and down: corr = (dtod² − ud²)/(dtod² + ud²) = 0.6
    assert abs(np.corrcoef(up, down)[0, 1] - 0.6) < 0.01


def test_bound_dtod():
    # on/off 2: G_min leaves room for the whole lower-bound spread (no draw is truncated at 0 S)
    m = devices.SoftBounds(w_max=0.8, w_min=-0.5, w_max_dtod=0.1, w_min_dtod=0.2, on_off_ratio=2.0)
    p = m.sample((N,), 1)
    assert abs(p["w_max"].std() / (0.8 * 0.1) - 1) < STD_TOL
    assert abs(p["w_min"].std() / (0.5 * 0.2) - 1) < STD_TOL
    assert abs(p["w_max"].mean() - 0.8) < 5 * 0.08 / np.sqrt(N)
    # the slope of a soft-bounds device refers to its own bound
    np.testing.assert_allclose(p["slope_up"], -p["scale_up"] / p["w_max"])


def test_cycle_to_cycle_std_of_one_pulse():
    """One pulse from w = 0 on identical devices: Δw = scale·(1 + dw_min_std·ξ)."""
    m = devices.ConstantStep(dw_min=0.01, dw_min_std=0.3, dw_min_dtod=0.0, up_down_dtod=0.0, w_max_dtod=0,
                             w_min_dtod=0)
    p = m.sample((N,), 2)
    w = m.initial_state(p)
    m.step(w, 1, 1, p, 3)
    assert abs(w.std() / (0.01 * 0.3) - 1) < STD_TOL
    assert abs(w.mean() - 0.01) < 5 * 0.003 / np.sqrt(N)
    assert stats.normaltest(w).pvalue > 1e-4


def test_neurosim_c2c_is_a_fraction_of_the_range():
    m = devices.NeuroSim(c2c_std=0.02, nonlinearity_ltp=0.0, nonlinearity_ltd=0.0, n_states=50)
    p = m.sample((N,), 4)
    w = m.initial_state(p)
    m.step(w, 1, 1, p, 5)
    # linear curve: step = range/50 = 0.04; noise std = 0.02 · range = 0.04
    assert abs(w.mean() - 0.04) < 5 * 0.04 / np.sqrt(N)
    assert abs(w.std() / 0.04 - 1) < STD_TOL


def test_neurosim_dtod_acts_on_the_label():
    """A per device = A(NL + σ·ξ): its quantiles are the label's normal quantiles mapped through A(NL)."""
    m = devices.NeuroSim(n_states=64, nonlinearity_ltp=3.0, nonlinearity_ltd=-3.0, nonlinearity_dtod=0.5)
    p = m.sample((N,), 6)
    q = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    for row, nl in (("A_ltp", 3.0), ("A_ltd", -3.0)):
        got = np.quantile(p[row], q)
        want = nonlinearity_to_a(nl + 0.5 * stats.norm.ppf(1 - q), 64)   # A decreases with NL
        np.testing.assert_allclose(got, want, rtol=0.01)
    assert abs(np.corrcoef(p["A_ltp"], p["A_ltd"])[0, 1]) < 0.02   # independent draws


def test_stuck_fractions():
    m = devices.ConstantStep(stuck_min_frac=0.05, stuck_max_frac=0.02)
    s = m.sample((N,), 7)["stuck"]
    for value, frac in ((-1, 0.05), (1, 0.02)):
        got = np.mean(s == value)
        assert abs(got - frac) < 5 * np.sqrt(frac * (1 - frac) / N)


def test_pow_step_exponent_dtod():
    m = devices.PowStep(pow_gamma=2.0, pow_gamma_dtod=0.1, pow_up_down=0.0, pow_up_down_dtod=0.0)
    p = m.sample((N,), 8)
    assert abs(p["gamma_up"].std() / 0.2 - 1) < STD_TOL
    np.testing.assert_array_equal(p["gamma_up"], p["gamma_down"])


def test_read_noise_is_relative():
    m = devices.ConstantStep(read_noise=0.05)
    g = m.read(np.full(N, 0.3), random_state=9)
    g0 = m.conductance(0.3)
    assert abs(g.mean() / g0 - 1) < 5 * 0.05 / np.sqrt(N)
    assert abs(g.std() / (0.05 * g0) - 1) < STD_TOL


def test_drift_follows_the_power_law():
    m = devices.ConstantStep(drift_nu=0.05, drift_nu_dtod=0.01, drift_t0=20.0)
    p = m.sample((N,), 10)
    assert abs(p["drift_nu"].std() / 0.01 - 1) < STD_TOL
    g0 = m.conductance(np.full(N, 0.2))
    t = np.array([20.0, 200.0, 2e4, 2e7])
    g = np.stack([m.drift(g0, ti, p) for ti in t])
    np.testing.assert_array_equal(g[0], g0)
    # log G is linear in log t with slope −ν for every device
    slope = np.polyfit(np.log(t / 20.0), np.log(g / g0), 1)[0]
    np.testing.assert_allclose(slope, -p["drift_nu"], atol=1e-12)
    # one decade of time: G drops by 10^(−ν)
    np.testing.assert_allclose(g[1] / g0, 10.0 ** -p["drift_nu"], rtol=1e-12)
    with pytest.raises(ValueError, match="drift_t0"):
        m.drift(g0, 10.0, p)


def test_conductance_map():
    m = devices.ConstantStep(g_max=20e-6, on_off_ratio=10.0)
    np.testing.assert_allclose(m.conductance([m.w_min, m.w_max]), [2e-6, 20e-6])
    w = np.linspace(m.w_min, m.w_max, 7)
    np.testing.assert_allclose(m.weight(m.conductance(w)), w, atol=1e-15)


def test_rows_are_the_documented_ones():
    p = devices.ExpStep().sample((3, 2), 0)
    assert p.values.shape == (K.N_ROWS, 6) and p["w_max"].shape == (3, 2)
    with pytest.raises(KeyError, match="known"):
        p["nope"]
