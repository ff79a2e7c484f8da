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


def write_csv(path, c, direction=True, devices_=1, restart=False):
    """Without ``direction`` the depression branch continues the pulse count, or with ``restart`` starts again
    at 0."""
    lines = ["pulse,conductance" + (",direction" if direction else "") + (",device" if devices_ > 1 else "")]
    for d in range(devices_):
        for branch, p, g in (("up", c.p_up, c.g_up), ("down", c.p_down, c.g_down)):
            for pi, gi in zip(p, g):
                if not direction and not restart and branch == "down" and pi == 0:
                    continue
                shift = c.p_up[-1] if not direction and not restart and branch == "down" else 0
                row = [str(int(pi) + shift), f"{gi:.6e}"]
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
    assert back.devices == 3 and len(back.mean.p_up) == 41
    write_csv(p, c, direction=False)
    with pytest.raises(ValueError, match="cannot tell potentiation from depression.*never restarts"):
        read_csv(str(p))
    write_csv(p, c, direction=False, restart=True)
    back = read_csv(str(p))
    np.testing.assert_allclose(back.mean.g_up, c.g_up, rtol=1e-5)
    np.testing.assert_allclose(back.mean.g_down, c.g_down, rtol=1e-5)
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
    ("pulse,conductance\n0,1\n1,2\n0,2\n1,1\n", "must be in siemens; values from 1 to 2"),
    ("pulse,conductance\n0,1e-6\n1,2e-6\n2,3e-6\n3,4e-6\n", "cannot tell potentiation from depression"),
    ("", "empty file"),
])
def test_malformed_csv_errors_name_line_and_column(tmp_path, capsys, content, message):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    assert main(["devices", "fit", str(p), "--model", "neurosim"]) == 2
    assert message in capsys.readouterr().err


def _four_devices(path, true, n, seed=0):
    """A CSV of 4 devices sampled from ``true`` (its d2d spread), each pulsed n times up from its lowest
    state and n times down with its c2c noise; the pulse index restarts at 0 where depression begins."""
    rng = np.random.default_rng(seed)
    params = true.sample((4,), rng)
    w = np.ascontiguousarray(params["w_min"].copy())
    lines = ["pulse,conductance,device"]
    for sign in (1, -1):
        for k in range(n + 1):
            if k:
                true.step(w, 1, sign, params, rng)
            for d in range(4):
                lines.append(f"{k},{true.conductance(w[d]):.9e},dev{d}")
    path.write_text("\n".join(lines) + "\n")


def test_fit_measures_variation_and_the_file_works_like_a_preset(tmp_path, capsys):
    """4 devices with a 5 % spread of the upper bound and 2 % c2c noise: both come back within 3 of their
    stated 1σ errors; the written device file runs in `compare --devices FILE,ideal`, labelled by its name."""
    true = devices.NeuroSim(n_states=80, nonlinearity_ltp=2.0, nonlinearity_ltd=-2.0, g_max=5e-6, on_off_ratio=10,
                            w_max_dtod=0.05, c2c_std=0.02)
    csv_path = tmp_path / "meas.csv"
    _four_devices(csv_path, true, 80)
    toml = tmp_path / "mydev.toml"
    assert main(["devices", "fit", str(csv_path), "--model", "neurosim", "--json", "--toml", str(toml),
                 "-o", str(tmp_path / "fit.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    var = out["variability"]
    assert out["devices"] == 4
    c2c, wmax = var["c2c_std"], var["w_max_dtod"]
    assert abs(c2c["value"] - 0.02) < 3 * c2c["error"] + 0.002, c2c
    assert abs(wmax["value"] - 0.05) < 3 * wmax["error"], wmax
    from hwsim.workflow.config import resolve_device
    fitted = resolve_device(str(toml))             # (the labels of 4 devices with 2 % c2c noise are rough)
    assert fitted.c2c_std == pytest.approx(c2c["value"]) and fitted.w_max_dtod == pytest.approx(wmax["value"])
    text = toml.read_text()
    assert "pulse_energy: not in the data; the cost model uses 1 pJ" in text and 'label = "mydev"' in text
    assert main(["devices", "show", str(toml)]) == 0
    assert "mydev" in capsys.readouterr().out
    out_dir = tmp_path / "cmp"
    assert main(["compare", str(toml), "--devices", f"{toml},ideal", "--rules", "bp", "--epochs", "1",
                 "--hidden", "8", "-o", str(out_dir), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {c["device"] for c in res["summary"]} == {"mydev", "ideal"}
    assert all(r["test_accuracy"] is not None for r in res["runs"])
