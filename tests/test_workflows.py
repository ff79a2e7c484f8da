"""Configs, grids, resumable sweeps, worker-count independence, traces, cost."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from hwsim.workflow import config as C
from hwsim.apps.cli import main
from hwsim.workflow.sweep import grid_points, parse_axis, read_store, run_grid
from hwsim.workflow.trace import Trace, TraceError, summary


@pytest.mark.parametrize("sets, message", [
    ({"device.preset": "soft-bounds", "device.dw_min": -0.1}, "device.dw_min: must be a finite number in [1e-09, 1e+06]"),
    ({"device.dwmin": 0.1}, "device.dwmin: unknown parameter"),
    ({"device.preset": "nope"}, "device.preset: unknown device 'nope'"),
    ({"periphery.adc_bits": 1}, "periphery.adc_bits: must be 0 (ideal) or an integer in [2, 24]"),
    ({"periphery.adc": 8}, "periphery.adc: unknown key"),
    ({"periphery.preset": "perfect"}, "periphery.preset: must be one of 'default', 'ideal'"),
    ({"network.hidden": [32, 0]}, "network.hidden: must be a list of 0 to 32 integers in [1, 65536], got [32, 0]"),
    ({"network.activation": "gelu"}, "network.activation: must be one of"),
    ({"network.tile_rows": 0}, "network.tile_rows: must be an integer in [1, 4096], got 0"),
    ({"network.weight_fill": 2.0}, "network.weight_fill: must be none or a finite number in [1e-06, 1]"),
    ({"network.depth": 3}, "network.depth: unknown key"),
    ({"network.rank": 4}, "network.rank: only factorised rules"),
    ({"rule.name": "sgd"}, "rule.name: unknown rule 'sgd'"),
    ({"rule.name": "dfa", "rule.alpha": 1}, "rule.alpha: is not a hyperparameter of rule 'dfa'"),
    ({"rule.name": "enn", "rule.ortho_every": 0}, "rule.ortho_every: must be an integer in [1, 1000000], got 0"),
    ({"rule.name": "dfa_svd", "rule.stiefel": "no"}, "rule.stiefel: must be true or false, got 'no'"),
    ({"rule.name": "bp+center", "rule.center_momentum": 2}, "rule.center_momentum: must be a finite number in [0, 1)"),
    ({"rule.name": "bp+decor", "rule.decor_lr": -1}, "rule.decor_lr: must be a finite number in [0, 10]"),
    ({"update.bl": 65}, "update.bl: must be an integer in [1, 64], got 65"),
    ({"update.rounding": "up"}, "update.rounding: must be one of 'nearest', 'stochastic'"),
    ({"training.epochs": 0}, "training.epochs: must be an integer in [1, 100000], got 0"),
    ({"training.lr": "fast"}, "training.lr: must be a finite number"),
    ({"training.lr": float("inf")}, "training.lr: must be a finite number"),
    ({"training.batch_size": 2.5}, "training.batch_size: must be an integer"),
    ({"dataset.name": "cifar"}, "dataset.name: must be one of"),
    ({"trace.snapshots": "some"}, "trace.snapshots: must be"),
    ({"trace.subsample": 0.0}, "trace.subsample: must be a finite number in (0, 1]"),
    ({"cost.pulse_energy": -1.0}, "cost.pulse_energy: must be a finite number in [0, 1]"),
    ({"cost.t_read": float("nan")}, "cost.t_read: must be a finite number"),
    ({"cost.laser": 1.0}, "cost.laser: unknown coefficient"),
    ({"seed": -1}, "seed: must be an integer in [0, 9223372036854775807]"),
])
def test_config_errors_name_the_key_path(sets, message):
    with pytest.raises(C.ConfigError) as exc:
        C.load(sets=sets)
    assert message in str(exc.value)


def test_config_file_round_trip(tmp_path):
    p = tmp_path / "run.toml"
    p.write_text('seed = 3\n[device]\npreset = "soft-bounds"\ndw_min = 0.01\n[rule]\nname = "dfa+decor"\n'
                 'decor_lr = 0.002\n[training]\nepochs = 2\n')
    cfg = C.load(str(p), {"training.lr": 0.05})
    assert cfg.seed == 3 and cfg.device_model().dw_min == 0.01 and cfg.rule_hyper() == {"decor_lr": 0.002}
    assert cfg.training == {"epochs": 2, "batch_size": 32, "lr": 0.05}
    again = tmp_path / "again.toml"
    again.write_text(cfg.to_toml())
    assert C.load(str(again)).to_dict() == cfg.to_dict()
    p.write_text("[device\n")
    with pytest.raises(C.ConfigError, match="not valid TOML"):
        C.load(str(p))
    p.write_text("[bogus]\nx = 1\n")
    with pytest.raises(C.ConfigError, match="bogus: unknown key"):
        C.load(str(p))


def test_grid_parsing():
    assert parse_axis("device.dw_min=0.001,0.003,0.01") == ("device.dw_min", [0.001, 0.003, 0.01])
    key, vals = parse_axis("device.nonlinearity_ltp=0.5:5:10")
    assert key == "device.nonlinearity_ltp" and len(vals) == 10 and vals[0] == 0.5 and vals[-1] == 5.0
    assert parse_axis("rule.name=bp,dfa")[1] == ["bp", "dfa"]
    assert parse_axis("network.hidden=[16],[32]")[1] == [[16], [32]]
    for bad, msg in (("device.dw_min", "expects key.path"), ("x=1:2", "start:stop:count"),
                     ("x=1:2:a", "whole count"), ("x=1:2:0", r"count must be an integer in \[1, 10000\]")):
        with pytest.raises(ValueError, match=msg):
            parse_axis(bad)
    pts = grid_points([("a", [1, 2]), ("b", ["x", "y", "z"])])
    assert len(pts) == 6 and pts[0] == {"a": 1, "b": "x"} and pts[-1] == {"a": 2, "b": "z"}
    with pytest.raises(ValueError, match="repeated"):
        grid_points([("a", [1]), ("a", [2])])


BASE = {"training": {"epochs": 1, "batch_size": 64}, "network": {"hidden": [16]}}
POINTS = [{"device.preset": d, "training.lr": lr} for d in ("ideal", "soft-bounds") for lr in (0.05, 0.1)]


def _strip(rows):
    return sorted((r["point_id"], r["test_accuracy"], r["pulses"]) for r in rows)


def test_results_do_not_depend_on_worker_count(tmp_path):
    serial = run_grid(BASE, POINTS, str(tmp_path / "w0"), workers=0, progress=False)
    one = run_grid(BASE, POINTS, str(tmp_path / "w1"), workers=1, progress=False)
    two = run_grid(BASE, POINTS, str(tmp_path / "w2"), workers=2, progress=False)
    assert _strip(serial) == _strip(one) == _strip(two)
    assert len({r["test_accuracy"] for r in serial}) > 1


def test_finished_points_are_skipped_and_reading_the_store_changes_nothing(tmp_path):
    out = str(tmp_path / "g")
    rows = run_grid(BASE, POINTS[:2], out, progress=False)
    store = os.path.join(out, "results.sqlite")
    before = open(store, "rb").read()
    assert [r["point_id"] for r in read_store(out)] == [r["point_id"] for r in rows]
    assert open(store, "rb").read() == before                     # a read is side-effect free
    rows2 = run_grid(BASE, POINTS + POINTS[:1], out, progress=False)   # a repeated point runs once
    assert len(rows2) == 4 and len(read_store(out)) == 4
    assert [r["point_id"] for r in read_store(out)][:2] == [r["point_id"] for r in rows]
    view = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
    assert [r["point_id"] for r in view] == [r["point_id"] for r in read_store(out)]
    with pytest.raises(ValueError, match="holds another grid"):
        run_grid(BASE, [{"training.lr": 0.2}], out, progress=False)


def test_sweep_survives_sigkill_and_resumes(tmp_path):
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "hwsim.apps.cli", "sweep", "--grid", "training.lr=0.02,0.04,0.06,0.08,0.1,0.12",
           "--epochs", "3", "--hidden", "32", "--device", "soft-bounds", "-o", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if len(read_store(str(out))) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = read_store(str(out))
    assert 2 <= len(done) < 6, "the sweep should be killed mid-way"
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    rows = read_store(str(out))
    assert len(rows) == 6 and len({r["point_id"] for r in rows}) == 6
    assert [r["point_id"] for r in rows[:len(done)]] == [r["point_id"] for r in done]   # kept, not redone
    assert sorted(float(r["training.lr"]) for r in rows) == [0.02, 0.04, 0.06, 0.08, 0.1, 0.12]


def test_trace_round_trip_of_every_documented_field(tmp_path):
    path = str(tmp_path / "t.h5")
    code = main(["train", "--rule", "bp+unidirectional", "--device", "ag-a-si", "--epochs", "2", "--hidden", "8",
                 "--tile-size", "40", "--set", "trace.snapshots=\"all\"", "--set", "trace.subsample=0.5",
                 "--trace", path, "--quiet"])
    assert code == 0
    with Trace(path) as t:
        f = t.f
        assert f.attrs["format"] == "hwsim-trace" and f.attrs["format_version"] == 3 and f.attrs["seed"] == 0
        toml = f["config"]["toml"][0].decode()
        assert 'name = "bp+unidirectional"' in toml and f["config"].attrs["device.preset"] == "ag-a-si"
        assert {"hwsim", "numpy", "numba", "h5py", "python", "git_commit"} <= set(f["versions"].attrs)
        m = t.metrics()
        np.testing.assert_array_equal(m["epoch"], [1, 2])
        for key in ("train_loss", "test_accuracy", "saturated", "wall_s", "pulses_potentiation",
                    "pulses_depression", "refresh_pulses", "refreshes"):
            assert m[key].shape == (2,), key
        assert m["pulses_potentiation"].sum() > 0 and not t.diverged
        total_pulses = 0
        assert t.matrices() == ["W0", "W1"]
        for name in t.matrices():
            g = f["layers"][name]
            assert g.attrs["rows"] > 0
            for tile in t.tiles(name):
                r = tile.attrs["row_stop"] - tile.attrs["row_start"]
                c = tile.attrs["col_stop"] - tile.attrs["col_start"]
                epochs, gp, gm = t.snapshots(tile)
                np.testing.assert_array_equal(epochs, [0, 1, 2])
                n = len(tile["device_index"][()])
                assert n == round(0.5 * r * c) and gp.shape == (3, n) == gm.shape
                assert tile["G_plus"].compression == "gzip" and tile["G_plus"].fletcher32
                assert tile["pulse_count"].shape == (2, 4, r, c)
                total_pulses += t.pulse_count(tile).sum()
                for side in ("plus", "minus"):
                    assert tile[f"stuck_{side}"].shape == (r, c) and tile[f"saturated_{side}"].shape == (2, r, c)
                    for p in ("w_min", "w_max", "scale_up", "scale_down", "c2c_std", "drift_nu"):
                        assert tile[f"params_{side}"][p].shape == (r, c)
                assert np.all(gp > 0) and np.all(gp < 1e-6)        # Ag:a-Si is ~3–38 nS
        assert total_pulses == m["pulses_potentiation"].sum() + m["pulses_depression"].sum()
        cost = f["cost"]
        for k in ("pulse_energy", "t_read", "dac_energy", "adc_energy", "t_adc", "pulse_width"):
            assert f"coefficient.{k}" in cost.attrs
        tot = t.cost_total()
        assert tot["write_energy_J"] == pytest.approx(total_pulses * cost.attrs["coefficient.pulse_energy"])
        assert tot["energy_J"] == pytest.approx(tot["write_energy_J"] + tot["read_energy_J"] + tot["dac_energy_J"]
                                                + tot["adc_energy_J"] + tot["digital_energy_J"])
        assert tot["digital_energy_J"] == pytest.approx(tot["digital_macs"] * cost.attrs["coefficient.mac_energy"])
        assert cost.attrs["source.pulse_width"] == "device" and cost.attrs["coefficient.pulse_width"] == 300e-6
        assert len(cost["tiles"]) == sum(len(t.tiles(n)) for n in t.matrices())
    assert not os.path.exists(path + ".tmp")


def test_read_energy_is_conductance_times_voltage_squared():
    from hwsim import devices
    from hwsim.hardware.periphery import Periphery
    from hwsim.hardware.tile import Tile
    per = Periphery(dac_bits=0, adc_bits=0, input_scaling="none", output_noise=0.0, read_voltage=0.3)
    t = Tile(3, 4, devices.ideal_device(), per, random_state=0)
    x = np.array([[1.0, 0.0, -0.5, 0.25], [0.2, 0.2, 0.2, 0.2]])
    t.forward(x)
    gp, gm = t.conductances()
    want = sum(((gp + gm) * (0.3 * xb) ** 2).sum() for xb in x)
    assert t.read_power_sum == pytest.approx(want)
    assert t.dac_conversions == 8 and t.adc_conversions == 6 and t.read_vectors == 2


def test_inspect_and_plot(tmp_path, capsys):
    path = str(tmp_path / "t.h5")
    assert main(["train", "--epochs", "1", "--hidden", "8", "--trace", path, "--quiet"]) == 0
    assert main(["inspect", path]) == 0
    out = capsys.readouterr().out
    assert "rule bp on ideal" in out and "1 epochs" in out
    for what in ("curves", "conductance", "pulses"):
        png = str(tmp_path / f"{what}.png")
        assert main(["plot", path, "--what", what, "-o", png]) == 0
        assert open(png, "rb").read(4) == b"\x89PNG"
    assert summary(path)["epochs"] == 1


def test_corrupt_or_foreign_traces_give_clear_errors(tmp_path, capsys):
    path = str(tmp_path / "t.h5")
    main(["train", "--epochs", "1", "--hidden", "8", "--trace", path, "--quiet"])
    data = open(path, "rb").read()
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(data[: len(data) // 3])
    assert main(["inspect", str(trunc)]) == 2
    assert "not a readable HDF5 file" in capsys.readouterr().err
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = 1
    with pytest.raises(TraceError, match="not an hwsim trace"):
        Trace(str(foreign))
    assert main(["inspect", str(tmp_path / "none.h5")]) == 2


def test_compare_writes_results_traces_and_figure(tmp_path):
    out = str(tmp_path / "cmp")
    assert main(["compare", "--rules", "bp,dfa", "--devices", "ideal,ecram-ibm", "--epochs", "1", "--hidden", "8",
                 "-o", out, "--quiet"]) == 0
    rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
    assert {(r["rule.name"], r["device.preset"]) for r in rows} == {(a, b) for a in ("bp", "dfa")
                                                                   for b in ("ideal", "ecram-ibm")}
    assert all(os.path.exists(r["trace"]) for r in rows)
    assert os.path.getsize(os.path.join(out, "compare.png")) > 1000


def test_validation_split_is_carved_from_the_training_set():
    from hwsim.workflow.datasets import load
    data = load("digits")
    d = data.with_validation(0.2)
    assert len(d.x_train) + len(d.x_val) == len(data.x_train)
    assert d.x_test is data.x_test and d.y_test is data.y_test
    train_rows = {r.tobytes() for r in data.x_train}
    assert all(r.tobytes() in train_rows for r in d.x_val)
    assert not {r.tobytes() for r in d.x_val} & {r.tobytes() for r in d.x_train}
    assert abs(len(d.x_val) / len(data.x_train) - 0.2) < 0.01
    np.testing.assert_array_equal(data.with_validation(0.2).y_val, d.y_val)     # the same split every time


def test_the_choice_uses_validation_accuracy_never_test_accuracy():
    from hwsim.workflow.compare import summarize
    rows = []
    for lr, val, test in ((0.1, 0.9, 0.5), (0.3, 0.5, 0.99)):        # the test set would pick 0.3
        for seed in (0, 1, 2):
            rows.append({"point_id": f"{lr}-{seed}", "rule.name": "bp", "device.preset": "ideal", "training.lr": lr,
                         "seed": seed, "val_accuracy": val + 0.01 * seed, "test_accuracy": test + 0.01 * seed,
                         "diverged": False, "pulses": 1, "energy_J": 1.0, "wall_s": 1.0})
    (cell,) = summarize(rows, ["training.lr"])
    assert cell["training.lr"] == 0.1 and cell["test_mean"] == pytest.approx(0.51)
    assert cell["test_std"] == pytest.approx(np.std([0.5, 0.51, 0.52])) and cell["seeds"] == 3
    rows[0]["diverged"] = rows[1]["diverged"] = rows[2]["diverged"] = True       # diverged runs score 0
    assert summarize(rows, ["training.lr"])[0]["training.lr"] == 0.3


def test_compare_tunes_per_cell_and_reports_mean_and_std(tmp_path, capsys):
    out = str(tmp_path / "cmp")
    assert main(["compare", "--rules", "bp,dfa", "--devices", "ideal", "--epochs", "1", "--hidden", "8",
                 "--tune", "lr=0.05,0.2", "--seeds", "2", "-o", out, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert len(res["runs"]) == 2 * 2 * 2 and len(res["summary"]) == 2
    rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
    assert {"val_accuracy", "chosen", "training.lr", "seed"} <= set(rows[0])
    for cell in res["summary"]:
        chosen = [r for r in rows if r["rule.name"] == cell["rule.name"] and r["chosen"] == "True"]
        assert len(chosen) == 2 and {float(r["training.lr"]) for r in chosen} == {cell["training.lr"]}
        accs = [float(r["test_accuracy"]) for r in chosen]
        assert cell["test_mean"] == pytest.approx(np.mean(accs)) and cell["test_std"] == pytest.approx(np.std(accs))
        with Trace(chosen[0]["trace"]) as t:
            assert t.f["config"].attrs["tune.chosen"] and "training.lr=0.05" in t.f["config"].attrs[
                "tune.validation_scores"]
            assert t.config.dataset["validation"] == 0.2 and np.all(np.isfinite(t.metrics()["val_accuracy"]))
    assert os.path.exists(os.path.join(out, "summary.csv")) and os.path.getsize(os.path.join(out, "compare.png"))


def test_compare_takes_keys_that_only_its_rules_accept(tmp_path):
    """`--set network.rank=…` belongs to factorised rules: the base config (rule bp) alone would refuse it, the
    compared rules take it; a rank for a dense rule in the list is still refused before anything runs."""
    out = str(tmp_path / "cmp")
    assert main(["compare", "--rules", "dfa_svd", "--devices", "ideal", "--epochs", "1", "--hidden", "8",
                 "--set", "network.rank=4", "-o", out, "--quiet"]) == 0
    rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
    assert len(rows) == 1 and rows[0]["rule.name"] == "dfa_svd"
    assert main(["compare", "--rules", "dfa_svd,bp", "--devices", "ideal", "--epochs", "1", "--hidden", "8",
                 "--set", "network.rank=4", "-o", str(tmp_path / "bad"), "--quiet"]) == 2
    assert not os.path.exists(os.path.join(str(tmp_path / "bad"), "results.csv"))


def test_kernel_warm_up_runs_once_per_kernel_signature(tmp_path, monkeypatch):
    """The parent's warm-up runs one tiny step per distinct (rule, periphery, update, sizes): device models share
    the kernels, rules do not. It writes no trace, even when the configs ask for one."""
    from hwsim.workflow import config as config_mod
    from hwsim.workflow.warmup import warm
    monkeypatch.chdir(tmp_path)
    sets = [{"device.preset": "ideal"}, {"device.preset": "reram-sb"}, {"device.preset": "reram-sb", "seed": 3},
            {"rule.name": "dfa"}]
    cfgs = [config_mod.load(None, {**s, "trace.path": "t.h5"}) for s in sets]
    assert warm(cfgs[:3], progress=False) == 1
    assert warm(cfgs, progress=False) == 2
    assert warm([], progress=False) == 0
    assert os.listdir(tmp_path) == []


def _warm_up_in_subprocess(processes, env=None):
    import subprocess
    import sys
    code = ("from hwsim.workflow import config as C; from hwsim.workflow.warmup import warm; "
            "from hwsim.learning_rules.pulses import _batch_update, _cell_update, _pulse_update; "
            f"warm([C.load(None, {{}})], progress=False, processes={processes}); "
            "print(len(_pulse_update.signatures), len(_batch_update.signatures), len(_cell_update.signatures), "
            "sum(_batch_update.stats.cache_misses.values()))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=env).stdout.split()


def test_warm_up_compiles_the_stochastic_update_kernels_of_training():
    """Sparse and dense trains take different kernels; the warm-up compiles the list walk and the batch update
    whatever the configs' data, not the device-by-device update (dense trains on other devices: not training's)."""
    assert _warm_up_in_subprocess(1)[:3] == ["1", "1", "0"]


@pytest.mark.slow
def test_warm_up_with_two_processes_compiles_the_dense_kernel_in_its_helper(tmp_path):
    """On an empty cache (≈ 1 min), with 2 processes the helper compiles the dense kernel and the caller loads
    it from the cache: it has the kernel without a compile of its own (no cache miss)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    assert _warm_up_in_subprocess(2, env) == ["1", "1", "0", "0"]
    assert _warm_up_in_subprocess(1, {**env, "NUMBA_CACHE_DIR": str(tmp_path / "numba1")}) == ["1", "1", "0", "1"]
