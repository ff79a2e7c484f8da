"""Restorable networks, the seed tree and bit-identical runs whatever the thread or worker count."""
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from hwsim import learning_rules
from hwsim.devices.rng import child
from hwsim.hardware.cost import coefficients
from hwsim.hardware.network import Network
from hwsim.workflow import config as C
from hwsim.workflow.datasets import load
from hwsim.workflow.experiment import build_network, run_config
from hwsim.workflow.trace import Trace, TraceWriter
from hwsim.workflow.trainer import train

KINDS = {"dense": {"rule.name": "bp"}, "svd": {"rule.name": "dfa_svd", "network.rank": 8},
         "eigen": {"rule.name": "enn"}, "eigen-shared": {"rule.name": "enn_local", "network.shared_basis": True},
         "decorrelated": {"rule.name": "bp+center+decor"}, "unidirectional": {"rule.name": "bp+unidirectional",
                                                                      "rule.refresh_every": 2},
         "transfer": {"rule.name": "bp+agad", "rule.gamma": 0.1, "rule.chop_random": True}}


def _trained(kind, tmp_path, epochs=2):
    """A network trained on a noisy device through the default periphery, its config, and its trace."""
    sets = {"device.preset": "reram-sb", "device.read_noise": 0.01, "training.epochs": epochs,
            "network.hidden": [16], "trace.snapshots": "all", **KINDS[kind]}
    cfg = C.load(sets=sets)
    root = np.random.SeedSequence(cfg.seed)
    data = load("digits")
    net = build_network(cfg, data.n_features, data.n_classes, root)
    rule = learning_rules.build(cfg.rule["name"], net, cfg.training["lr"], child(root, "rule"),
                                cfg.update_parameters(), **cfg.rule_hyper())
    path = str(tmp_path / f"{kind}.h5")
    writer = TraceWriter(path, cfg, net, coefficients(net.device, cfg.cost), epochs, child(root, "trace"))
    hist = train(net, rule, data, epochs, 64, random_state=child(root, "data"), progress=False,
                 on_epoch=writer.on_epoch)
    writer.finish(hist)
    return net, cfg, path, data


@pytest.mark.parametrize("kind", list(KINDS))
def test_state_round_trip_gives_identical_outputs(kind, tmp_path):
    net, cfg, path, data = _trained(kind, tmp_path)
    x = data.x_test[:50]
    copy = Network.from_state(net.state(), cfg.device_model(), cfg.periphery_model())
    with Trace(path) as t:
        reloaded = t.network()
    want = net.forward(x)                       # noisy reads: identical only with identical read counters
    np.testing.assert_array_equal(copy.forward(x), want)
    np.testing.assert_array_equal(reloaded.forward(x), want)
    for name, m in net.matrices.items():
        np.testing.assert_array_equal(reloaded.matrices[name].get_weights(), m.get_weights())
        for a, b in zip(reloaded.matrices[name].all_tiles(), m.all_tiles()):
            np.testing.assert_array_equal(a.pulse_counts, b.pulse_counts)
    for a, b in zip(reloaded.layers, net.layers):
        assert a.digital.keys() == b.digital.keys()
        for k in a.digital:
            np.testing.assert_array_equal(a.digital[k], b.digital[k])
        assert a.buffers.keys() == b.buffers.keys()
        for k in a.buffers:
            np.testing.assert_array_equal(a.buffers[k], b.buffers[k])
        for sa, sb in zip(a.stages, b.stages):
            assert sa.state().keys() == sb.state().keys()


def test_a_killed_run_reloads_at_its_last_finished_epoch(tmp_path):
    """The trace of a run stopped after epoch 1 of 2 (its writer never finished) holds epoch 1's state."""
    cfg = C.load(sets={"device.preset": "reram-sb", "training.epochs": 2, "network.hidden": [8]})
    root = np.random.SeedSequence(0)
    data = load("digits")
    net = build_network(cfg, data.n_features, data.n_classes, root)
    rule = learning_rules.build("bp", net, 0.1, child(root, "rule"))
    path = str(tmp_path / "k.h5")
    writer = TraceWriter(path, cfg, net, coefficients(net.device, cfg.cost), 2, child(root, "trace"))
    train(net, rule, data, 1, 64, random_state=child(root, "data"), progress=False, on_epoch=writer.on_epoch)
    weights = {name: m.get_weights() for name, m in net.matrices.items()}
    train(net, rule, data, 1, 64, random_state=1, progress=False)        # more training, never written
    writer.f.flush()                                                     # (no commit, no finish)
    with Trace(path) as t:
        assert t.epochs == 1
        reloaded = t.network()
    for name, w in weights.items():
        np.testing.assert_array_equal(reloaded.matrices[name].get_weights(), w)


def test_random_state_accepts_every_kind():
    """None, int, SeedSequence and Generator everywhere (train(random_state=Generator) was a TypeError); an
    int seeds exactly as its SeedSequence, and equal Generators give equal runs."""
    cfg = C.load(sets={"network.hidden": [16]})
    data = load("digits")

    def run(rs):
        net = build_network(cfg, data.n_features, data.n_classes, rs)
        rule = learning_rules.build("bp", net, 0.1, rs)
        return train(net, rule, data, 2, 32, random_state=rs, progress=False)["test_accuracy"]
    seeded = [run(rs) for rs in (5, np.random.SeedSequence(5))]
    generated = [run(np.random.default_rng(7)) for _ in range(2)]
    assert seeded[0] == seeded[1] and generated[0] == generated[1]
    assert min(seeded[0][-1], generated[0][-1], run(None)[-1]) > 0.5


def test_ideal_device_keeps_the_default_periphery():
    cfg = C.load(sets={"device.preset": "ideal"})
    per = cfg.periphery_model()
    assert per.adc_bits == 8 and per.output_noise == 0.06          # the default periphery
    ideal = C.load(sets={"device.preset": "ideal", "periphery.preset": "ideal"}).periphery_model()
    assert ideal.adc_bits == 0 and ideal.output_noise == 0.0
    assert C.load(sets={"periphery.preset": "ideal", "periphery.output_noise": 0.1}).periphery_model() \
        .output_noise == 0.1


def _content(path) -> dict:
    """Every dataset and attribute of a trace but the wall-clock ones (/timing, creation time, versions)."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if name.startswith(("timing", "versions")):
                return
            for k, v in obj.attrs.items():
                out[f"{name}@{k}"] = np.asarray(v).tobytes() if not isinstance(v, str) else v
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()].tobytes() if obj.shape != () or obj.dtype.kind != "O" else obj[()]
        f.visititems(visit)
        out.update({f"@{k}": str(v) for k, v in f.attrs.items() if k != "created"})
    return out


_RUN = [sys.executable, "-m", "hwsim.apps.cli", "train", "--rule", "bp+center+decor", "--device", "reram-sb",
        "--epochs", "2", "--hidden", "16", "--set", "trace.snapshots=\"all\"", "--set", "device.read_noise=0.01",
        "--quiet"]


def test_runs_are_bit_identical_with_one_or_two_threads(tmp_path):
    paths = []
    for threads in ("1", "2"):
        path = str(tmp_path / f"t{threads}.h5")
        subprocess.run(_RUN + ["--trace", path], check=True, env=dict(os.environ, NUMBA_NUM_THREADS=threads))
        paths.append(path)
    a, b = _content(paths[0]), _content(paths[1])
    assert a.keys() == b.keys() and len(a) > 50
    assert [k for k in a if a[k] != b[k]] == []


def test_sweep_traces_are_bit_identical_with_zero_or_two_workers(tmp_path):
    from hwsim.workflow.sweep import run_grid
    base = {"training": {"epochs": 1, "batch_size": 64}, "network": {"hidden": [16]},
            "device": {"preset": "soft-bounds"}, "trace": {"snapshots": "all"}}
    points = [{"rule.name": r, "training.lr": lr} for r in ("bp", "dfa") for lr in (0.05, 0.1)]
    serial = run_grid(base, points, str(tmp_path / "w0"), workers=0, progress=False)
    two = run_grid(base, points, str(tmp_path / "w2"), workers=2, progress=False)
    strip = [{k: v for k, v in r.items() if k not in ("wall_s", "trace")} for r in serial]
    assert strip == [{k: v for k, v in r.items() if k not in ("wall_s", "trace")} for r in two]
    for r0, r2 in zip(serial, two):
        assert _content(r0["trace"]) == _content(r2["trace"])


def test_installed_wheel_exposes_only_the_hwsim_namespace(tmp_path):
    """Built and installed as a wheel (no dependencies), hwsim.devices and hwsim.learning_rules import and no
    top-level 'devices' or 'learning_rules' is installed."""
    import shutil
    root = tmp_path / "src"                       # a copy: building writes build/ next to the sources
    shutil.copytree(os.path.join(os.path.dirname(__file__), ".."), root, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "out", "*.egg-info", "__pycache__", "mutants"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(root)], check=True, capture_output=True)
    target = tmp_path / "site"
    wheel = next(wheels.glob("hwsim-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    assert sorted(p.name for p in target.iterdir() if not p.name.endswith((".dist-info", "bin"))) == ["hwsim"]
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import hwsim.devices, hwsim.learning_rules; "
            "assert hwsim.devices.__file__.startswith(sys.argv[1]), hwsim.devices.__file__; "
            "import importlib.util as u; assert u.find_spec('devices') is None and u.find_spec('learning_rules') "
            "is None; print('ok')")
    res = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True,
                         cwd=str(tmp_path))
    assert res.stdout.strip() == "ok", res.stderr
