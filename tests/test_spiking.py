"""Spiking deployment with brian2 (numpy code generation: no compilation in tests)."""
import json

import numpy as np
import pytest

from hwsim.apps import spiking
from hwsim.apps.cli import main

DT = 1e-4


def hand_net(bias, w2):
    """1 silent input → 3 neurons driven by biases only → 1 neuron fed by them with weights w2."""
    W1 = np.zeros((3, 1))
    W2 = np.array([w2])
    return spiking.SpikingNet([W1, W2], [np.asarray(bias, float), np.zeros(1)])


def test_integrate_and_fire_counts_match_the_closed_form():
    """No leak (τ ≫ T), reset by subtraction, constant drive I = b·max_rate: n = floor(I·T) (±1 for the
    time step); the second layer integrates w per input spike: n₂ = floor(w·Σn₁)."""
    bias, rate, T = [0.2, 0.37, 0.55], 200.0, 0.5
    net = hand_net(bias, [0.5, 0.25, 0.125])
    res = spiking.simulate(net, np.zeros((1, 1)), T, DT, rate, tau_m=1e6, input_mode="regular", target="numpy",
                           record_raster=True)
    t1, i1 = res["raster"][1]
    n1 = np.bincount(i1, minlength=3)
    expected = np.floor(np.array(bias) * rate * T)
    assert np.all(np.abs(n1 - expected) <= 1), (n1, expected)
    n2 = res["counts"][0, 0]
    assert abs(n2 - np.floor(n1 @ [0.5, 0.25, 0.125])) <= 1


def test_leaky_neuron_counts_match_the_closed_form():
    """Leak τ, reset to zero, constant drive I: each interval is t* = −τ·ln(1 − 1/(I·τ)), n = floor(T/t*);
    with I·τ <= 1 the membrane settles below threshold and never fires."""
    bias, rate, T, tau = [0.2, 0.37, 0.55], 200.0, 0.5, 0.02
    net = hand_net(bias, [0.0, 0.0, 0.0])
    res = spiking.simulate(net, np.zeros((1, 1)), T, DT, rate, tau_m=tau, reset="zero", input_mode="regular",
                           target="numpy", record_raster=True)
    n1 = np.bincount(res["raster"][1][1], minlength=3)
    I = np.array(bias) * rate
    with np.errstate(invalid="ignore", divide="ignore"):
        tstar = -tau * np.log(1 - 1 / (I * tau))
    expected = np.where(I * tau > 1, np.floor(T / tstar), 0)
    assert expected[0] == 0
    assert np.all(np.abs(n1 - expected) <= 1), (n1, expected)
    assert n1[0] < n1[1] < n1[2]


def test_normalisation_keeps_decisions_and_scales_to_one():
    rng = np.random.default_rng(0)
    net = spiking.SpikingNet([rng.normal(0, 1, (6, 4)), rng.normal(0, 1, (3, 6))], [rng.normal(0, 0.1, 6), np.zeros(3)])
    x = rng.uniform(0, 1, (500, 4))
    norm = net.normalised(x)
    np.testing.assert_array_equal(norm.analog_forward(x).argmax(1), net.analog_forward(x).argmax(1))
    h = np.maximum(x @ norm.weights[0].T + norm.biases[0], 0)
    assert np.percentile(h, 99.9) == pytest.approx(1.0, rel=1e-6)
    logits = norm.analog_forward(x)
    assert np.mean(logits.max(1) > 0) >= 0.99


@pytest.fixture(scope="module")
def trained_trace(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("snn") / "digits.h5")
    assert main(["train", "--epochs", "10", "--trace", path, "--quiet"]) == 0
    return path


def test_converted_digits_network_is_within_3_points(trained_trace, capsys):
    assert main(["spiking", trained_trace, "--duration", "300ms", "--dt", "0.1ms", "--samples", "200",
                 "--input", "regular", "--codegen", "numpy", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["analog_accuracy"] > 0.9
    assert out["spiking_accuracy"] >= out["analog_accuracy"] - 0.03
    assert out["spikes_per_inference"] > 0 and out["synaptic_events_per_inference"] > out["spikes_per_inference"]
    assert 0 < out["latency_first_correct_s"] < 0.3


def test_plot_and_table(trained_trace, tmp_path, capsys):
    png = str(tmp_path / "s.png")
    assert main(["spiking", trained_trace, "--duration", "50ms", "--samples", "20", "--codegen", "numpy",
                 "--plot", png]) == 0
    assert "spiking accuracy" in capsys.readouterr().out and open(png, "rb").read(4) == b"\x89PNG"


@pytest.mark.parametrize("args, message", [
    (["--duration", "0ms"], "--duration must be > 0"),
    (["--duration", "abc"], "--duration must be a time like 100ms"),
    (["--dt=-1ms"], "--dt must be > 0"),
    (["--duration", "5ms", "--dt", "1ms"], "at most a tenth of the duration"),
    (["--dt", "2ms", "--duration", "1s"], "dt must be <= 1 ms"),
])
def test_invalid_times(trained_trace, capsys, args, message):
    assert main(["spiking", trained_trace, "--codegen", "numpy", "--samples", "2", *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("rule", ["dfa_svd", "enn", "bp+center+decor"])
def test_every_layer_form_converts(tmp_path, rule):
    """Factorised and decorrelated networks convert: the float layers of the spiking net compute what the
    reloaded network computes through its tiles (ideal device and periphery)."""
    from hwsim.workflow.trace import Trace
    path = str(tmp_path / "t.h5")
    assert main(["train", "--rule", rule, "--epochs", "1", "--periphery", "ideal", "--trace", path, "--quiet"]) == 0
    net, _ = spiking.from_trace(path)
    x = np.random.default_rng(0).uniform(0, 1, (20, 64))
    with Trace(path) as t:
        analog = t.network()
    np.testing.assert_allclose(net.analog_forward(x), analog.forward(x), rtol=2e-3, atol=2e-3)


