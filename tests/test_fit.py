"""Device fitting recovers known parameters from synthetic data made by the device models."""
import json

import numpy as np
import pytest

from hwsim import devices
from hwsim.devices.base import nominal
from hwsim.devices.fit import Curves, fit, read_csv
from hwsim.apps.cli import main

RNG = np.random.default_rng(0)


def synth(model, n, noise=0.002):
    """Nominal response from g_min: n up then n down pulses, with Gaussian noise (fraction of g_max)."""
    m = nominal(model)
    up = m.expected(n, 1, m.w_min)
    dn = m.expected(n, -1, up[-1])
    s = noise * m.g_max
    return Curves(np.arange(n + 1), m.conductance(up) + RNG.normal(0, s, n + 1),
                  np.arange(n + 1), m.conductance(dn) + RNG.normal(0, s, n + 1), 1)


def test_neurosim_labels_are_recovered():
    """Tolerance: 0.05 in label units and 2 % on the conductance range (noise 0.2 % of g_max)."""
    true = devices.NeuroSim(n_states=64, nonlinearity_ltp=2.4, nonlinearity_ltd=-3.0, g_max=5e-6, on_off_ratio=20)
    r = fit("neurosim", synth(true, 64))
    got = dict(zip(r.names, r.values))
    assert abs(got["nonlinearity_ltp"] - 2.4) < 0.05 and abs(got["nonlinearity_ltd"] + 3.0) < 0.05
    assert got["g_max"] == pytest.approx(5e-6, rel=0.02) and got["g_min"] == pytest.approx(2.5e-7, rel=0.02)
    assert r.r2 > 0.999 and all(e > 0 for e in r.errors)
    # the quoted 1σ is honest: the truth lies within 5σ
    assert abs(got["nonlinearity_ltp"] - 2.4) < 5 * r.errors[0] + 1e-3


def test_soft_bounds_steps_and_asymmetry_are_recovered():
    true = devices.SoftBounds(dw_min=0.01, up_down=0.2, g_max=1e-5, on_off_ratio=10, w_min_dtod=0, w_max_dtod=0)
    r = fit("soft-bounds", synth(true, 300))
    assert r.model.dw_min == pytest.approx(0.01, rel=0.03)
    assert r.model.up_down == pytest.approx(0.2, abs=0.03)
    assert r.model.g_max == pytest.approx(1e-5, rel=0.01)


def test_pow_and_exp_step_are_recovered():
    true = devices.PowStep(dw_min=0.01, pow_gamma=2.0, w_min_dtod=0, w_max_dtod=0)
    r = fit("pow-step", synth(true, 300))
    assert r.model.pow_gamma == pytest.approx(2.0, abs=0.1) and r.model.dw_min == pytest.approx(0.01, rel=0.05)
    true = devices.ExpStep(dw_min=0.01, w_min_dtod=0, w_max_dtod=0)
    r = fit("exp-step", synth(true, 300))
    assert r.model.dw_min == pytest.approx(0.01, rel=0.05) and r.r2 > 0.999


def test_piecewise_reproduces_the_curves():
    c = synth(devices.NeuroSim(), 64, noise=0.0)
    r = fit("piecewise", c)
    up, down = r.predicted()
    np.testing.assert_allclose(up, c.g_up, rtol=1e-6)
    np.testing.assert_allclose(down, c.g_down, rtol=1e-6)


def write_csv(path, c, direction=True, devices_=1):
    lines = ["pulse,conductance" + (",direction" if direction else "") + (",device" if devices_ > 1 else "")]
    for d in range(devices_):
        for branch, p, g in (("up", c.p_up, c.g_up), ("down", c.p_down, c.g_down)):
            for pi, gi in zip(p, g):
                if not direction and branch == "down" and pi == 0:
                    continue
                row = [str(int(pi) + (c.p_up[-1] if not direction and branch == "down" else 0)), f"{gi:.6e}"]
                row += [branch] if direction else []
                row += [f"d{d}"] if devices_ > 1 else []
                lines.append(",".join(row))
    path.write_text("\n".join(lines) + "\n")


def test_csv_and_cli(tmp_path, capsys):
    true = devices.NeuroSim(n_states=40, nonlinearity_ltp=1.5, nonlinearity_ltd=-2.0, g_max=2e-6, on_off_ratio=10)
    c = synth(true, 40, noise=0.001)
    p = tmp_path / "meas.csv"
    write_csv(p, c, devices_=3)
    back = read_csv(str(p))
    assert back.devices == 3 and len(back.p_up) == 41
    write_csv(p, c, direction=False)
    back = read_csv(str(p))
    np.testing.assert_allclose(back.g_up, c.g_up, rtol=1e-5)
    assert main(["devices", "fit", str(p), "--model", "neurosim", "--json", "--toml", str(tmp_path / "d.toml"),
                 "-o", str(tmp_path / "fit.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert abs(out["parameters"]["nonlinearity_ltp"] - 1.5) < 0.1 and out["r2"] > 0.99
    assert (tmp_path / "fit.png").read_bytes()[:4] == b"\x89PNG"
    # the device file is a usable config
    from hwsim.workflow import config
    cfg = config.load(str(tmp_path / "d.toml"))
    assert cfg.device_model().name == "neurosim" and abs(cfg.device_model().nonlinearity_ltp - 1.5) < 0.1


@pytest.mark.parametrize("content, message", [
    ("pulse,g\n0,1e-6\n", "line 1: missing column 'conductance'"),
    ("pulse,conductance\n0,1e-6\n1,abc\n", "line 3, column 'conductance': not a number: 'abc'"),
    ("pulse,conductance\n0,1e-6\nx,2e-6\n", "line 3, column 'pulse': not a number"),
    ("pulse,conductance\n0,1e-6\n1,-2e-6\n", "line 3, column 'conductance': must be > 0 S"),
    ("pulse,conductance,direction\n0,1e-6,up\n1,2e-6,sideways\n", "line 3, column 'direction'"),
    ("pulse,conductance\n0,1e-6,7\n", "line 2: 3 fields, header has 2"),
    ("pulse,conductance\n0,1e-6\n", "at least 4 data lines"),
    ("", "empty file"),
])
def test_malformed_csv_errors_name_line_and_column(tmp_path, capsys, content, message):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    assert main(["devices", "fit", str(p), "--model", "neurosim"]) == 2
    assert message in capsys.readouterr().err
