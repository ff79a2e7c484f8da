"""`hwsim devices …` end to end (in-process through ``main``, and once as the installed script)."""
import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from hwsim import devices
from hwsim.devices.presets import PRESETS
from hwsim.apps.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_shows_every_preset_with_source(capsys):
    code, out, _ = run(capsys, "devices", "list")
    assert code == 0
    for name, p in PRESETS.items():
        line = next(l for l in out.splitlines() if l.startswith(name + " "))
        assert p.device.name in line and p.source[:20] in line
    code, out, _ = run(capsys, "devices", "list", "--json")
    data = json.loads(out)
    assert len(data["presets"]) == len(PRESETS) >= 8
    assert {"name", "model", "levels", "on_off", "nonlinearity", "source"} <= set(data["presets"][0])


def test_show_prints_every_parameter_with_units(capsys):
    code, out, _ = run(capsys, "devices", "show", "pcm-ibm")
    assert code == 0
    for f in dataclasses.fields(devices.ExpStep):
        assert f"  {f.name} " in out
    assert "g_max" in out and " S\n" in out and "Nandakumar" in out
    code, out, _ = run(capsys, "devices", "show", "soft-bounds", "--set", "dw_min=0.02", "--json")
    assert json.loads(out)["parameters"]["dw_min"] == 0.02


def test_curve_json_matches_closed_form(capsys):
    n = 25
    code, out, _ = run(capsys, "devices", "curve", "soft-bounds", "--pulses", str(n), "--devices", "4", "--json",
                       "--set", "dw_min=0.02", "--set", "dw_min_dtod=0", "--set", "dw_min_std=0",
                       "--set", "up_down_dtod=0", "--set", "w_max_dtod=0", "--set", "w_min_dtod=0")
    assert code == 0
    data = json.loads(out)
    assert len(data["mean"]) == len(data["std"]) == 2 * n
    model = devices.nominal(devices.SoftBounds(dw_min=0.02))
    up = model.expected(n, 1)
    down = model.expected(n, -1, up[-1])
    np.testing.assert_allclose(data["mean"], np.concatenate([up[1:], down[1:]]), atol=1e-12)
    np.testing.assert_allclose(data["std"], 0.0, atol=1e-12)


def test_curve_is_reproducible_and_spreads_with_variation(capsys):
    args = ("devices", "curve", "ag-a-si", "--pulses", "10", "--devices", "64", "--seed", "3", "--json")
    _, a, _ = run(capsys, *args)
    _, b, _ = run(capsys, *args)
    assert a == b
    assert min(json.loads(a)["std"]) > 0
    code, out, _ = run(capsys, "devices", "curve", "ag-a-si", "--pulses", "3", "--devices", "8")
    assert code == 0 and len([l for l in out.splitlines() if l.strip()[:1].isdigit()]) == 6


@pytest.mark.parametrize("argv, message", [
    (("devices", "curve", "nope"), "unknown device 'nope'; presets: ag-a-si"),
    (("devices", "curve", "soft-bounds", "--set", "dw_min=-0.1"), "dw_min must be a finite number in [1e-09, 1e+06], got -0.1"),
    (("devices", "show", "soft-bounds", "--set", "dw_min"), "--set expects key=value"),
    (("devices", "show", "fefet", "--set", "nonlinearity_ltp=10"), "nonlinearity_ltp must be a finite number in [-9, 9], got 10.0"),
])
def test_bad_input_exits_2_with_a_clear_message(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_bad_pulse_count_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["devices", "curve", "soft-bounds", "--pulses", "0"])
    assert exc.value.code == 2
    assert "must be an integer in [1, 1000000], got 0" in capsys.readouterr().err


def test_plot_writes_a_png(tmp_path, capsys):
    path = tmp_path / "sub" / "resp.png"
    code, out, _ = run(capsys, "devices", "plot", "fefet", "soft-bounds", "-o", str(path), "--devices", "16",
                       "--pulses", "20")
    assert code == 0 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "2 panels" in out


def test_help_compiles_nothing():
    """Importing the CLI and the device package triggers no Numba compilation."""
    code = ("import hwsim.apps.cli, hwsim.devices, hwsim.devices.kernels as K; "
            "assert not K.apply_pulses.signatures, K.apply_pulses.signatures; "
            "import numba; print(len(K.apply_pulses.signatures))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "0", res.stderr
    exe = shutil.which("hwsim") or os.path.join(os.path.dirname(sys.executable), "hwsim")
    res = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "devices" in res.stdout
