"""Property-based fuzzing of the config side of every entry point: ``--set`` values, TOML configs, rule
hyperparameters, ``hwsim map`` configs, grids, numeric flags and network sizes.

Everything runs in-process through ``hwsim.apps.cli.main`` (or the validation functions) and never trains
for real: ``config show`` and ``map`` validate and print; sweeps run with the training step stubbed out (the store, the view and the figure are real); an
accepted ``--set`` value of the device, periphery, rule, update or cost is also run for two steps of a
64-2-10 network on 8 samples (milliseconds), which must end finite or cleanly diverged. Each case must
end in exit 0 (with no NaN or infinity in the output) or exit 2 with one line naming the key path, file or flag
— never a traceback, another exit code or a slow answer. The default run generates ~710 cases; the ``slow``
variants ~7 100.
"""
import contextlib
import dataclasses
import functools
import io
import json
import math
import os
import tempfile
import time
import zlib
import warnings
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hwsim import devices, learning_rules
from hwsim.apps.cli import main
from hwsim.devices.validation import MEMORY_LIMIT
from hwsim.hardware.cost import COEFFICIENTS
from hwsim.hardware.periphery import Periphery
from hwsim.workflow import config as C
from hwsim.workflow import sweep
from hwsim.workflow.datasets import Dataset
from hwsim.workflow.datasets import load as load_dataset
from hwsim.workflow.experiment import run_config

COMMON = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))


def fast(n):
    return settings(max_examples=n, derandomize=True, **COMMON)


def slow(n):
    return settings(max_examples=n, **COMMON)


SECONDS = 10.0          # no validation may take longer (a hang, or an allocation, shows up here)

# ---- the CLI, in-process -----------------------------------------------------------------------------------


def cli(*argv):
    """(exit code, stdout, stderr, seconds) of ``hwsim ARGV``; any exception other than SystemExit fails."""
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:               # argparse: usage errors exit 2
            code = exc.code
    return code, out.getvalue(), err.getvalue(), time.perf_counter() - t0


def _no_nan(text):
    def refuse(token):
        raise AssertionError(f"{token} in the output")
    return json.loads(text, parse_constant=refuse)


def check_outcome(code, out, err, seconds, names, json_out=True):
    """The contract: exit 0 with finite JSON, or exit 2 with one line naming one of ``names``."""
    event(f"exit {code}")
    assert "Traceback" not in err, err
    assert seconds < SECONDS, f"took {seconds:.1f} s"
    assert code in (0, 2), (code, err)
    if code == 0:
        if json_out:
            _no_nan(out)
        return None
    last = err.strip().splitlines()[-1]
    assert last.startswith(("hwsim: error: ", "hwsim ")) and "error:" in last, err
    if last.startswith("hwsim: error: "):
        assert len(err.strip().splitlines()) == 1, err              # one line
    assert any(n in last for n in names), f"none of {names} named in {last!r}"
    return last


# ---- values -------------------------------------------------------------------------------------------------
ODD_FLOATS = ["nan", "inf", "-inf", "+inf", "5e-324", "-5e-324", "1e-300", "1e308", "-1e308", "1e30", "-0.0",
              "0", "-1", "0.5", "2.5", "1e-9", "1e-6", "1e6", "1e9"]
ODD_OTHER = ["true", "false", "'x'", "''", "\"yes\"", "'no'", "[]", "[1]", "[true]", "[nan]", "[1, 'a']",
             "{a = 1}", "{}", "[[1]]", "9223372036854775808", "-9223372036854775809", "10000000000", "x",
             "1979-05-27", "0x10", "1_000", "'\\u0000'", "[" * 40 + "]" * 40]


def _toml_number(x):
    return repr(x) if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))


values = st.one_of(
    st.sampled_from(ODD_FLOATS + ODD_OTHER),
    st.floats(-2, 2).map(repr), st.integers(0, 64).map(str),         # plausible: mostly accepted
    st.integers(-2**70, 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(_toml_number),
    st.lists(st.integers(-3, 70000), max_size=4).map(lambda xs: "[" + ", ".join(map(str, xs)) + "]"),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
)


def _keys():
    out = [f"{s}.{k}" for s, ks in C.SCHEMA.items() for k in ks] + list(C.TOP)
    out += [f"periphery.{f.name}" for f in dataclasses.fields(Periphery)]
    out += [f"cost.{k}" for k in COEFFICIENTS]
    out += ["network.bias", "network.sizes", "rule.decor_momentum", "bogus", "device.", ".x", "a.b.c", "seed.x"]
    return out


KEYS = _keys()
DEVICES = ["ideal", "soft-bounds", "reram-sb", "neurosim", "pcm-ibm", "pow-step", "piecewise", "ecram-ibm",
           "fefet"]
RULES = ["bp", "dfa", "dfa_svd+decor", "enn+decor", "enn_local", "bp+unidirectional+center", "bp+ctt2",
         "dfa+agad", "bp+tt1", "bp+tt2"]


@st.composite
def set_cases(draw):
    """(rule, device, key, value text): a key of the schema, a device field of the device, a hyperparameter of
    the rule, a bare key or a made-up one, with an odd value."""
    rule, device = draw(st.sampled_from(RULES)), draw(st.sampled_from(DEVICES))
    dev_fields = [f.name for f in dataclasses.fields(devices.get_device(device))]
    hyper = list(learning_rules.hyperparameters(rule))
    key = draw(st.one_of(
        st.sampled_from(KEYS),
        st.sampled_from(dev_fields).map(lambda k: f"device.{k}"),
        st.sampled_from(hyper or ["x"]).map(lambda k: f"rule.{k}"),
        st.sampled_from(dev_fields + hyper + ["bl", "seed", "adc_bits"]),       # bare keys
        st.text("abcdefghijklmnopqrstuvwxyz_.", min_size=1, max_size=12),
    ))
    return rule, device, key, draw(values)


# a device field may be refused by a check across fields, which names the other field of the pair
CROSS = ["device.table", "device.pulses_", "device.conductance_", "device.w_min", "device.w_max",
         "device.n_states", "device.stuck_", "device.on_off_ratio", "device.g_max", "rule.calibrate"]


def _named(key, device):
    """Names an error about ``--set key=…`` must carry one of: its key path (a bare key resolved as --set
    resolves it), a field it is checked against, or the key as given when it is no key path at all."""
    path = C.resolve_bare({key: None}, device).popitem()[0] if "." not in key else key
    names = [path, f"--set expects key=value, got '{key}"]
    if path.startswith("device."):
        last = path.split(".", 1)[1]
        names += CROSS + [f"device: {last},", f" {last},", f" {last}:", f"{last}="]   # fields listed, this one in it
    if path == "network.rank":
        names.append("network.rank")
    return names


@functools.cache
def _tiny_data():
    d = load_dataset("digits")
    return Dataset("digits", d.x_train[:8], d.y_train[:8], d.x_test[:4], d.y_test[:4])


def _finite(x):
    if isinstance(x, float):
        return math.isfinite(x)
    if isinstance(x, dict):
        return all(_finite(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return all(_finite(v) for v in x)
    return True


def _two_steps(rule, device, key, value):
    """An accepted value must also run: two steps of a 64-2-10 network on 8 samples end finite, or diverged
    (a legitimate outcome of e.g. a huge learning rate) — never an exception or NaN in the results."""
    if key.split(".")[0] in ("network", "training", "trace", "dataset", "compare"):
        return                                     # sizes, files, lengths: validated, not worth running here
    flags = {f: None for f in C.FLAGS}
    flags.update(rule=rule, device=device, hidden=(2,), epochs=1, batch_size=4)
    cfg = C.from_flags(None, flags, C.parse_sets([f"{key}={value}"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = run_config(cfg, None, progress=False, data=_tiny_data())
    event("diverged" if res["diverged"] else "ran")
    assert res["diverged"] or _finite(res), {k: v for k, v in res.items() if not _finite(v)}


def _check_set(case):
    rule, device, key, value = case
    code, out, err, t = cli("config", "show", "--json", "--rule", rule, "--device", device, "--set",
                            f"{key}={value}")
    check_outcome(code, out, err, t, _named(key, device))
    if code == 0:
        _two_steps(rule, device, key, value)


@fast(250)
@given(set_cases())
def test_fuzz_set_values(case):
    _check_set(case)


@pytest.mark.slow
@slow(2500)
@given(set_cases())
def test_fuzz_set_values_slow(case):
    _check_set(case)


# ---- non-finite numbers are never accepted -------------------------------------------------------------------
def _numeric_keys():
    """Every key path whose default is a float."""
    cfg = C.load()
    out = [f"{s}.{k}" for s, ks in cfg.resolved().items() if isinstance(ks, dict)
           for k, x in ks.items() if isinstance(x, float) and s not in ("device",)]
    return out + [f"device.{f.name}" for f in dataclasses.fields(devices.get_device("soft-bounds"))
                  if isinstance(f.default, float)]


NUMERIC = _numeric_keys()


def _check_not_finite(key, text):
    code, out, err, t = cli("config", "show", "--json", "--device", "soft-bounds", "--set", f"{key}={text}")
    assert code == 2, f"{key}={text} accepted"
    check_outcome(code, out, err, t, [key])


@fast(60)
@given(st.sampled_from(NUMERIC), st.sampled_from(["nan", "inf", "-inf", "[nan]", "'1.0'", "true"]))
def test_fuzz_non_finite_numbers_are_refused(key, text):
    _check_not_finite(key, text)


@pytest.mark.slow
@slow(600)
@given(st.sampled_from(NUMERIC), st.sampled_from(["nan", "inf", "-inf", "[nan]", "'1.0'", "true"]))
def test_fuzz_non_finite_numbers_are_refused_slow(key, text):
    _check_not_finite(key, text)


# ---- command-line flags -------------------------------------------------------------------------------------
FLAG_TEXT = st.one_of(st.sampled_from(ODD_FLOATS + ["x", "", "1,2", "0,5", "64,32", "100000000", "-0", "1e3",
                                                    "0x10", " 3", "3 ", "+2", "1_0"]),
                      st.integers(-3, 300).map(str), st.floats(0.001, 10).map(repr))
RUN_FLAGS = ["--lr", "--epochs", "--batch-size", "--seed", "--hidden", "--rank", "--tile-size", "--rule",
             "--device", "--dataset", "--activation", "--periphery"]


def _check_flags(pairs, curve):
    if curve:                                  # devices curve: small valid requests run, so keep them small
        argv = ["devices", "curve", "soft-bounds", "--json"]
        for flag, text in pairs:
            if flag in ("--pulses", "--devices") and text.strip().lstrip("+").isdigit() and int(text) > 50:
                text = str(10**6 + int(text))          # beyond the limit: refused, never run
            argv += [flag, text]
        names = [f for f, _ in pairs] + ["pulses", "n_devices", "seed"]
    else:
        argv = ["config", "show", "--json"]
        for flag, text in pairs:
            argv += [flag, text]
        keys = [C.FLAGS[f[2:].replace("-", "_")] for f, _ in pairs]
        names = [f for f, _ in pairs] + [k for key in keys for k in (key if isinstance(key, tuple) else (key,))]
        names += ["rule.name", "network.rank", "device.preset"]
    check_outcome(*cli(*argv), names)


flag_pairs = st.lists(st.tuples(st.sampled_from(RUN_FLAGS), FLAG_TEXT), min_size=1, max_size=3,
                      unique_by=lambda p: p[0])
curve_pairs = st.lists(st.tuples(st.sampled_from(["--pulses", "--devices", "--seed"]), FLAG_TEXT), min_size=1,
                       max_size=3, unique_by=lambda p: p[0])


@fast(60)
@given(st.one_of(flag_pairs.map(lambda p: (p, False)), curve_pairs.map(lambda p: (p, True))))
def test_fuzz_flags(case):
    _check_flags(*case)


@pytest.mark.slow
@slow(600)
@given(st.one_of(flag_pairs.map(lambda p: (p, False)), curve_pairs.map(lambda p: (p, True))))
def test_fuzz_flags_slow(case):
    _check_flags(*case)


# ---- TOML configs --------------------------------------------------------------------------------------------
scalar_toml = st.one_of(st.sampled_from(ODD_FLOATS + ODD_OTHER), st.integers(-2**64, 2**64).map(str),
                        st.floats().map(_toml_number))


@st.composite
def toml_configs(draw):
    """TOML text: known and unknown sections and keys with odd values, sometimes damaged (not UTF-8, deep
    nesting, a truncated line)."""
    lines = []
    if draw(st.booleans()):
        lines.append(f"seed = {draw(scalar_toml)}")
    for section in draw(st.lists(st.sampled_from([*C.SCHEMA, "bogus", "network.sub"]), max_size=4, unique=True)):
        lines.append(f"[{section}]")
        known = list(C.SCHEMA.get(section, {})) + ["preset", "name", "x", "bias", "dw_min", "decor_lr"]
        for key in draw(st.lists(st.sampled_from(known), max_size=4, unique=True)):
            lines.append(f"{key} = {draw(scalar_toml)}")
    text = "\n".join(lines) + "\n"
    damage = draw(st.sampled_from(["none"] * 6 + ["latin1", "deep", "truncate", "nul"]))
    data = text.encode()
    if damage == "latin1":
        data = data + b"# caf\xe9 \xff\n"
    elif damage == "deep":
        data = data + ("[network]\nhidden = " + "[" * 600 + "]" * 600 + "\n").encode()
    elif damage == "truncate":
        data = data[:max(1, len(data) // 2)]
    elif damage == "nul":
        data = data + b"x = \"a\x00\"\n"
    return data


def _check_file(data, command):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "run.toml")
        with open(path, "wb") as f:
            f.write(data)
        code, out, err, t = cli(*command, path, "--json")
    text = data.decode("utf-8", "replace")
    names = [path, "run.toml"] + [line.split("=")[0].strip() for line in text.splitlines() if "=" in line]
    names += [s.strip("[]") for s in text.splitlines() if s.startswith("[")] + ["rule.name", "network.rank"]
    check_outcome(code, out, err, t, [n for n in names if n])
    return code, out


@fast(120)
@given(toml_configs())
def test_fuzz_toml_configs(data):
    _check_file(data, ("config", "show"))


@pytest.mark.slow
@slow(1200)
@given(toml_configs())
def test_fuzz_toml_configs_slow(data):
    _check_file(data, ("config", "show"))


# ---- hwsim map ---------------------------------------------------------------------------------------------
network_value = st.one_of(st.sampled_from(["-1", "0", "2.5", "'x'", "'no'", "'yes'", "2", "true", "false", "5",
                                           "[5]", "[]", "[0]", "[65537]", "nan", "4097", "[1, 2, 3]"]),
                          st.integers(-5, 5000).map(str),
                          st.lists(st.integers(-1, 70000), max_size=3).map(lambda xs: str(xs)),
                          st.lists(st.integers(1, 300), max_size=3).map(lambda xs: str(xs)))


@st.composite
def map_configs(draw):
    keys = ["hidden", "hidden", "rank", "tile_rows", "tile_cols", "shared_basis", "weight_fill"]
    if draw(st.integers(0, 9)) == 0:
        keys += ["bias", "sizes"]                 # keys of no network: refused by name
    lines = ["[network]"] + [f"{k} = {draw(network_value)}" for k in draw(st.lists(st.sampled_from(keys),
                                                                                    max_size=4, unique=True))]
    lines += ["[rule]", f"name = \"{draw(st.sampled_from(RULES))}\""]
    return ("\n".join(lines) + "\n").encode()


def _check_map(data):
    code, out = _check_file(data, ("map",))
    if code == 0:
        rows = json.loads(out)
        assert rows and all(r["tiles"] >= 1 and r["devices"] >= 2 and 0 < r["utilization"] <= 1 for r in rows)


@fast(100)
@given(map_configs())
def test_fuzz_map_configs(data):
    _check_map(data)


@pytest.mark.slow
@slow(1000)
@given(map_configs())
def test_fuzz_map_configs_slow(data):
    _check_map(data)


# ---- grids (sweep, with the training step stubbed out) -------------------------------------------------------
grid_values = st.one_of(
    st.sampled_from(["", ",", ",,,", "0,0", "1,1.0", "true,1", "0,,1", "1:2:0", "1:2:-1", "1:1:3", "nan:1:2",
                     "0:inf:2", "1:2:99999999999", "1:2:x", "1:2", "1:2:3:4", "a,b", "[1],[1]", "0.1,0.2"]),
    st.lists(st.sampled_from(["0", "1", "2", "0.1", "0.2", "nan", "x", "true", "-1", "1e9"]), min_size=1,
             max_size=4).map(",".join),
    st.lists(st.sampled_from(["1", "2", "3", "0.1", "0.3"]), min_size=1, max_size=3, unique=True).map(",".join),
)
grid_keys = st.sampled_from(["seed", "seed", "training.lr", "lr", "device.dw_min", "dw_min", "rule.name",
                             "network.hidden", "training.epochs", "bogus", "device.bogus", ""])


grid_specs = st.one_of(
    st.sampled_from(["seed=0,1", "training.lr=0.1,0.3", "lr=0.05:0.2:3", "device.dw_min=0.001,0.01",
                     "dw_min=0.002", "rule.name=bp,dfa", "network.hidden=[8],[16]", "training.epochs=1,2"]),
    st.tuples(grid_keys, grid_values).map("=".join))


def _fake_run(cfg_dict, trace_path):
    """The training step of a grid point, stubbed: a result of the right shape, seeded by the config."""
    acc = float(np.random.default_rng(zlib.crc32(json.dumps(cfg_dict, sort_keys=True).encode())).random())
    return dict({m: 0 for m in sweep.METRICS}, diverged=False, diverged_reason="", trace="", test_accuracy=acc)


def _check_grid(specs, workers):
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(sweep, "_run_point", _fake_run):
        argv = ["sweep", "--device", "soft-bounds", "-o", os.path.join(tmp, "out"), "--json", "--workers",
                str(workers)]
        for spec in specs:
            argv += ["--grid", spec]
        code, out, err, t = cli(*argv)
        names = ["--grid", "workers"] + [C.resolve_key(s.split("=")[0], "soft-bounds") for s in specs
                                         if s.split("=")[0]]
        check_outcome(code, out, err, t, names)
        if code == 0:
            rows = json.loads(out)
            assert len({r["point_id"] for r in rows}) == len(rows)        # no point twice
            again = cli(*argv)                                           # the same grid resumes
            assert again[0] == 0 and json.loads(again[1]) == rows
            other = cli(*argv, "--epochs", "7")                          # another grid is refused
            assert other[0] == 2 and "holds another grid" in other[2] and "training.epochs" in other[2]


@fast(80)
@given(st.lists(grid_specs, min_size=1, max_size=3), st.sampled_from([0, 0, 0, 1000]))
def test_fuzz_grids(specs, workers):
    _check_grid(specs, workers)


@pytest.mark.slow
@slow(800)
@given(st.lists(grid_specs, min_size=1, max_size=3), st.sampled_from([0, 0, 0, 1000]))
def test_fuzz_grids_slow(specs, workers):
    _check_grid(specs, workers)


# ---- sizes: refused with an estimate, never allocated -------------------------------------------------------
@st.composite
def sizes(draw):
    hidden = draw(st.lists(st.integers(1, 1 << 16), min_size=0, max_size=4))
    tile = draw(st.sampled_from([1, 2, 16, 256, 4096]))
    batch = draw(st.sampled_from([1, 32, 4096, 1 << 20]))
    return hidden, tile, batch, draw(st.sampled_from(RULES))


def _check_size(case):
    hidden, tile, batch, rule = case
    cfg = C.load(sets={"network.hidden": hidden, "network.tile_rows": tile, "network.tile_cols": tile,
                       "training.batch_size": batch, "rule.name": rule})
    t0 = time.perf_counter()
    try:
        cfg.check_size()
    except ValueError as exc:
        assert str(exc).startswith("network: ") and "would need ~" in str(exc) and "the limit is 8 GiB" in str(exc)
    else:                                 # accepted: the weights alone are well within the limit
        n = [64, *hidden, 10]
        assert 2 * sum(a * b for a, b in zip(n, n[1:])) * 8 < MEMORY_LIMIT
    assert time.perf_counter() - t0 < SECONDS


@fast(40)
@given(sizes())
def test_fuzz_network_sizes(case):
    _check_size(case)


@pytest.mark.slow
@slow(400)
@given(sizes())
def test_fuzz_network_sizes_slow(case):
    _check_size(case)
