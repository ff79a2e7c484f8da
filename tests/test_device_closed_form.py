"""With variation and noise off, n pulses give the closed-form response of each model."""
import numpy as np
import pytest

from hwsim import devices
from hwsim.devices import nominal
from hwsim.devices.curves import curve_p, curve_x, nonlinearity_to_a

MODEL_NAMES = list(devices.MODELS)


def kernel_trajectory(model, n, sign, w0):
    """States after 0..n single pulses on one nominal device (kernel path)."""
    params = model.sample((1,), 0)
    w = np.array([w0])
    out = [w0]
    for _ in range(n):
        model.step(w, 1, sign, params, 0)
        out.append(w[0])
    return np.array(out)


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("w0", [0.0, 0.3, -0.4])
def test_kernel_matches_expected(name, sign, w0):
    model = nominal(devices.get_model(name, dw_min=0.01) if "dw_min" in devices.get_model(name).parameters()
                    else devices.get_model(name))
    got = kernel_trajectory(model, 300, sign, w0)
    np.testing.assert_allclose(got, model.expected(300, sign, w0), rtol=0, atol=1e-12)


def test_n_pulses_in_one_call_equal_n_single_pulses():
    model = nominal(devices.SoftBounds(dw_min=0.01))
    params = model.sample((3,), 0)
    w = np.zeros(3)
    model.step(w, np.array([5, 50, 500]), 1, params, 0)
    e = model.expected(500, 1)
    np.testing.assert_allclose(w, e[[5, 50, 500]], atol=1e-13)


def test_constant_step_closed_form_values():
    m = nominal(devices.ConstantStep(dw_min=0.01, up_down=0.2))
    # up_down > 0 shrinks depression only (aihwkit): up 0.01, down 0.008
    np.testing.assert_allclose(m.expected(10, 1)[-1], 0.1)
    np.testing.assert_allclose(m.expected(10, -1)[-1], -0.08)
    assert m.expected(1000, 1)[-1] == m.w_max


def test_soft_bounds_closed_form():
    """Soft bounds: w_n = w_max − (w_max − w0)(1 − s/w_max)^n."""
    m = nominal(devices.SoftBounds(dw_min=0.01, w_max=0.6, w_min=-0.6))
    n = np.arange(201)
    np.testing.assert_allclose(kernel_trajectory(m, 200, 1, 0.0), 0.6 - 0.6 * (1 - 0.01 / 0.6) ** n, atol=1e-12)
    np.testing.assert_allclose(kernel_trajectory(m, 200, -1, 0.0), -0.6 + 0.6 * (1 - 0.01 / 0.6) ** n, atol=1e-12)


def test_linear_step_slope_at_bound():
    """γ is the relative decrease of the step at the bound: step(w_max) = dw_min·(1 − γ)."""
    m = nominal(devices.LinearStep(dw_min=0.01, gamma_up=0.4, gamma_down=0.7))
    up = m.expected(1, 1, m.w_max - 1e-9)
    params = m.sample((1,), 0)
    w = np.array([0.5])
    m.step(w, 1, 1, params, 0)
    np.testing.assert_allclose(w[0] - 0.5, 0.01 * (1 - 0.4 * 0.5 / 0.6), rtol=1e-12)
    w = np.array([m.w_min])
    m.step(w, 1, 1, params, 0)
    np.testing.assert_allclose(w[0] - m.w_min, 0.01 * (1 + 0.4), rtol=1e-12)
    assert up[-1] == m.w_max


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("sign", [1, -1])
def test_pow_step_continuum_limit(gamma, sign):
    """Small steps follow the closed-form ODE solution x(n) = (x0^(1−γ) − (1−γ)sn/R)^(1/(1−γ))."""
    m = nominal(devices.PowStep(dw_min=1e-4, pow_gamma=gamma))
    n = np.arange(0, 20001, 1000)
    rec = m.expected(20000, sign)[n]
    np.testing.assert_allclose(rec, m.continuum(n, sign), atol=2e-4)


@pytest.mark.parametrize("sign", [1, -1])
def test_exp_step_continuum_limit(sign):
    """Small steps follow n(w) = [w − ln|1 − A·e^(κ(cw+b))|/(κc)]/s (implicit closed form)."""
    m = nominal(devices.ExpStep(dw_min=1e-4))
    traj = m.expected(4000, sign)
    n = np.arange(0, 4001, 400)
    np.testing.assert_allclose(m.continuum_pulses(traj[n], sign), n, rtol=0.01, atol=2.0)


def test_neurosim_curve_is_the_published_form():
    """G(P) = B(1 − e^(−P/A)) + G_min with B = (G_max − G_min)/(1 − e^(−P_max/A)), from G_min."""
    m = nominal(devices.NeuroSim(n_states=97, nonlinearity_ltp=2.4, nonlinearity_ltd=-4.88, n_states_ltd=100))
    A = float(nonlinearity_to_a(2.4, 97))
    P = np.arange(98)
    B = (m.g_max - m.g_min) / (1 - np.exp(-97 / A))
    g_expected = B * (1 - np.exp(-P / A)) + m.g_min
    traj = kernel_trajectory(m, 97, 1, m.w_min)
    np.testing.assert_allclose(m.conductance(traj), g_expected, rtol=1e-10)
    # depression from G_max walks the LTD curve back: big steps first (negative label)
    down = np.diff(kernel_trajectory(m, 100, -1, m.w_max))
    assert np.all(down < 0) and abs(down[0]) > 5 * abs(down[-1])


@pytest.mark.parametrize("nl, a_norm", [(0.01, 126.268958), (0.1, 12.625807), (1.0, 1.251653),
                                        (2.0, 0.609035), (3.0, 0.386830), (9.0, 0.022810)])
def test_nonlinearity_label_matches_neurosim_table(nl, a_norm):
    """A/P_max from the label equals NeuroSim's tabulated values (MLP+NeuroSim V3 formula.cpp)."""
    np.testing.assert_allclose(nonlinearity_to_a(nl, 1.0), a_norm, rtol=2e-5)
    np.testing.assert_allclose(nonlinearity_to_a(-nl, 50.0), -50 * a_norm, rtol=2e-5)


def test_neurosim_positive_ltd_label_is_symmetric():
    """Same positive label both ways: a depression pulse undoes a potentiation pulse exactly."""
    m = nominal(devices.NeuroSim(n_states=32, nonlinearity_ltp=1.75, nonlinearity_ltd=1.75))
    up = m.expected(10, 1, m.w_min)
    down = m.expected(10, -1, up[-1])
    np.testing.assert_allclose(down[::-1], up, atol=1e-12)


def test_piecewise_interpolates_the_table():
    p = (0, 10, 20, 40)
    g = (1e-6, 5e-6, 8e-6, 10e-6)
    m = nominal(devices.Piecewise(pulses_up=p, conductance_up=g, pulses_down=(), conductance_down=()))
    traj = kernel_trajectory(m, 40, 1, m.w_min)
    np.testing.assert_allclose(m.conductance(traj), np.interp(np.arange(41), p, g), rtol=1e-12)
    # no depression table: depression retraces the potentiation curve
    back = kernel_trajectory(m, 40, -1, m.w_max)
    np.testing.assert_allclose(back, traj[::-1], atol=1e-12)
    assert m.g_max == 10e-6 and m.on_off_ratio == pytest.approx(10.0)


def test_curve_inverse_roundtrip():
    for a in (0.0, 30.0, -12.0):
        x = np.linspace(0, 1, 11)
        np.testing.assert_allclose(curve_x(curve_p(x, a, 64), a, 64), x, atol=1e-12)
