"""The fixed corpus of issue 12, items 8–12: one test per quoted case of bad or damaged files, output faults
and paths. Each asserts the documented outcome — exit 2 with a one-line message naming the file and the field
(or a result without NaN) — and no traceback, no hang (SIGALRM), no leftover .tmp."""
import gzip
import io
import json
import os
import shutil
import struct

import h5py
import numpy as np
import pytest



from .cli_run import run_cli as run  # noqa: E402


def refused(argv, *words):
    """Exit 2, one line, naming every one of ``words``."""
    code, out, err = run(argv)
    assert code == 2, (code, out[-500:], err[-2000:])
    assert err.count("\n") == 1 and err.startswith("hwsim"), err            # one line: "hwsim[ command]: error: …"
    assert ": error: " in err, err
    for w in words:
        assert w in err, (w, err)
    return err


# ---- 8. devices fit -------------------------------------------------------------------------------------------
def _csv(path, rows, header="pulse,conductance,direction"):
    with open(path, "w") as f:
        f.write(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return str(path)


def _curve(n=20, lo=1e-6, hi=1e-5, gap=1):
    rows = []
    for d in ("up", "down"):
        for k in range(n):
            frac = 1 - np.exp(-3 * k / n)
            rows.append((k * gap, repr(float(lo + (hi - lo) * (frac if d == "up" else 1 - frac))), d))
    return rows


FIT_CASES = {
    "conductance-1e300": ([(k, 1e300 * (1 + k), d) for d in ("up", "down") for k in range(5)],
                          ["'conductance'", "siemens", "[1e-15, 1] S"]),
    "pulse-1e300": ([(0, 1e-6, "up"), (10 ** 300, 2e-6, "up"), (0, 2e-6, "down"), (1, 1e-6, "down")],
                    ["'pulse'", "[0, 1000000]"]),
    "pulse-2e6": ([(0, 1e-6, "up"), (2 * 10 ** 6, 2e-6, "up"), (0, 2e-6, "down"), (2 * 10 ** 6, 1e-6, "down")],
                  ["'pulse'", "[0, 1000000]"]),
    "flat": ([(k, 1e-6, d) for d in ("up", "down") for k in range(10)], ["'conductance'", "no pulse response"]),
    "wrong-direction": ([(k, 1e-6 * (10 - k) if d == "up" else 1e-6 * (1 + k), d) for d in ("up", "down")
                         for k in range(10)], ["cannot fit soft-bounds", "dw_min_std"]),
}


@pytest.mark.parametrize("case", sorted(FIT_CASES))
def test_fit_refuses_absurd_or_unfittable_data(tmp_path, case):
    rows, words = FIT_CASES[case]
    path = _csv(tmp_path / f"{case}.csv", rows)
    refused(["devices", "fit", path, "--model", "soft-bounds", "--json"], path, *words)


@pytest.mark.parametrize("model", ["neurosim", "exp-step", "pow-step", "piecewise"])
def test_fit_without_consecutive_pulses_gives_finite_json(tmp_path, model):
    """Pulses sampled every 500: no single steps to estimate c2c noise from (was: 'need at least one array to
    concatenate'); the fit itself works, and nothing in the JSON is NaN."""
    path = _csv(tmp_path / "gapped.csv", _curve(12, gap=500))
    code, out, err = run(["devices", "fit", path, "--model", model, "--json", "-o", str(tmp_path / "f.png")])
    assert code == 0, err
    assert "NaN" not in out and "Infinity" not in out
    res = json.loads(out)
    assert all(np.isfinite(v) for v in res["parameters"].values()) and np.isfinite(res["r2"])


# ---- 9. datasets ---------------------------------------------------------------------------------------------
X = np.random.default_rng(0).integers(0, 255, (12, 3, 3)).astype(np.uint8)
Y = np.arange(12) % 3


def _npz(path, **changes):
    arrays = dict(x_train=X, y_train=Y, x_test=X, y_test=Y)
    arrays.update(changes)
    np.savez(path, **arrays)
    return str(path)


def _idx(arr):
    arr = np.asarray(arr)
    return bytes([0, 0, 8, arr.ndim]) + b"".join(struct.pack(">I", s) for s in arr.shape) + arr.astype(">u1").tobytes()


def _dataset_case(tmp_path, case):
    """(path given to --dataset-path, words the error must contain)."""
    if case == "truncated-gz":
        folder = tmp_path / "idx"
        folder.mkdir()
        for stem, a in (("train-images-idx3-ubyte", X), ("train-labels-idx1-ubyte", Y),
                        ("t10k-images-idx3-ubyte", X), ("t10k-labels-idx1-ubyte", Y)):
            raw = gzip.compress(_idx(a))
            (folder / (stem + ".gz")).write_bytes(raw[: len(raw) // 2] if stem.startswith("train-images") else raw)
        return str(folder), ["train-images-idx3-ubyte.gz", "truncated"]
    p = tmp_path / "d.npz"
    if case == "truncated-npz":
        raw = open(_npz(p), "rb").read()
        p.write_bytes(raw[: len(raw) // 2])
        return str(p), ["not a readable .npz"]
    if case == "npy-named-npz":
        buf = io.BytesIO()
        np.save(buf, X)
        p.write_bytes(buf.getvalue())
        return str(p), ["single .npy array"]
    if case == "text-npz":
        p.write_text("x_train,y_train\n1,2\n")
        return str(p), ["not an .npz archive"]
    changes, words = {
        "labels-0d": ({"y_train": np.array(3)}, ["y_train", "1-D"]),
        "labels-2d": ({"y_train": np.stack([Y, Y], 1)}, ["y_train", "1-D"]),
        "labels-nan": ({"y_train": np.where(Y == 1, np.nan, Y)}, ["y_train", "whole numbers"]),
        "labels-negative": ({"y_train": Y - 1}, ["y_train", "[0, 9999]"]),
        "labels-float": ({"y_test": Y + 0.5}, ["y_test", "whole numbers"]),
        "labels-1e9": ({"y_train": np.where(Y == 1, 10 ** 9, Y)}, ["y_train", "[0, 9999]"]),
        "complex-images": ({"x_train": X + 1j}, ["x_train", "real numbers"]),
        "nan-images": ({"x_test": np.full(X.shape, np.nan)}, ["x_test", "not finite"]),
        "zero-samples": ({"x_train": X[:0], "y_train": Y[:0]}, ["x_train", "empty"]),
        "feature-mismatch": ({"x_test": np.zeros((12, 4, 4), np.uint8)}, ["9 pixels", "test images 16"]),
    }[case]
    return _npz(p, **changes), words


DATASET_CASES = ["truncated-gz", "truncated-npz", "npy-named-npz", "text-npz", "labels-0d", "labels-2d",
                 "labels-nan", "labels-negative", "labels-float", "labels-1e9", "complex-images", "nan-images",
                 "zero-samples", "feature-mismatch"]


@pytest.mark.parametrize("case", DATASET_CASES)
def test_bad_dataset_files_exit_2_naming_file_and_field(tmp_path, case):
    path, words = _dataset_case(tmp_path, case)
    refused(["train", "--dataset", "mnist", "--dataset-path", path, "--epochs", "1", "--hidden", "4", "--quiet"],
            path, *words)


# ---- 10. traces ----------------------------------------------------------------------------------------------
@pytest.fixture
def trace_copy(tiny_trace, tmp_path):
    path = str(tmp_path / "t.h5")
    shutil.copy(tiny_trace["path"], path)
    return path


def _delete(path, where, attr=None):
    with h5py.File(path, "r+") as f:
        if attr is None:
            del f[where]
        else:
            del (f[where] if where else f).attrs[attr]


TRACE_DELETIONS = [("metrics/epoch", None, "/metrics/epoch"), ("", "format_version", "format_version"),
                   ("", "seed", "attribute seed"), ("cost/total", None, "/cost/total"),
                   ("layers/W0", "rows", "attribute rows of /layers/W0"),
                   ("layers/W0", "digital_scale", "attribute digital_scale of /layers/W0"),
                   ("layers/W0/tiles/0/G_plus", None, "/layers/W0/tiles/0/G_plus"),
                   ("config/toml", None, "/config/toml"), ("state/slot1", None, "/state/slot1"),
                   ("metrics/test_accuracy", None, "/metrics/test_accuracy")]


@pytest.mark.parametrize("where, attr, named", TRACE_DELETIONS)
def test_trace_missing_items_are_named(trace_copy, where, attr, named):
    _delete(trace_copy, where, attr)
    refused(["inspect", trace_copy], trace_copy, named)


def test_unknown_format_version_is_refused(trace_copy):
    with h5py.File(trace_copy, "r+") as f:
        f.attrs["format_version"] = 99
    refused(["inspect", trace_copy], trace_copy, "version 99")


def _flip_in_chunk(path, dataset):
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(0)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        b = fh.read(1)
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(bytes([b[0] ^ 0x10]))


@pytest.mark.parametrize("dataset", ["layers/W0/tiles/0/stuck_plus", "config/toml", "metrics/diverged",
                                     "state/slot1/matrices/W0/tiles/#0/w_plus"])
def test_bit_flip_is_reported_with_file_and_dataset(trace_copy, dataset):
    _flip_in_chunk(trace_copy, dataset)
    refused(["inspect", trace_copy], trace_copy, f"/{dataset}", "checksum")


def _nan(path, where, attr=None):
    with h5py.File(path, "r+") as f:
        if attr:
            f[where].attrs[attr] = np.nan
        else:
            d = f[where]
            d[(0,) * d.ndim] = np.nan


@pytest.mark.parametrize("where, attr", [("state/slot1/matrices/W0/tiles/#0/w_plus", None),
                                         ("state/slot1/matrices/W0/scale", None),
                                         ("layers/W0", "digital_scale"),
                                         ("layers/W0/tiles/0/G_plus", None)])
@pytest.mark.parametrize("command", ["spiking", "infer", "plot", "inspect", "report"])
def test_nan_conductances_or_scales_are_refused_by_consumers(tiny_trace, trace_copy, tmp_path, where, attr,
                                                             command):
    _nan(trace_copy, where, attr)
    extra = {"spiking": ["--codegen", "numpy", "--samples", "2", "--duration", "10ms",
                         "--dataset-path", tiny_trace["data"]],
             "infer": ["--draws", "1", "--times", "1s", "--program", "ideal", "--quiet",
                       "--dataset-path", tiny_trace["data"], "-o", str(tmp_path / "i.png")],
             "plot": ["--what", "conductance", "-o", str(tmp_path / "p.png")],
             "report": ["-o", str(tmp_path / "r.png")], "inspect": []}[command]
    refused([command, trace_copy, *extra], trace_copy, "finite", where.split("/")[-1] if not attr else attr)


@pytest.mark.parametrize("value", [np.nan, -1.0])
def test_report_refuses_a_damaged_cost_coefficient(trace_copy, tmp_path, value):
    """Cost coefficients are attributes (no checksum): a NaN or negative one is refused, naming file and
    coefficient, instead of a report of NaN areas (found by test_fuzz_damaged_traces_slow)."""
    _nan(trace_copy, "cost", "coefficient.adc_area")
    if value == -1.0:
        with h5py.File(trace_copy, "r+") as f:
            f["cost"].attrs["coefficient.adc_area"] = value
    refused(["report", trace_copy, "--json", "-o", str(tmp_path / "r.png")], trace_copy, "adc_area", ">= 0")


@pytest.mark.parametrize("args, words", [(["--read-noise", "nan"], ["--read-noise", "finite"]),
                                         (["--read-noise", "inf"], ["--read-noise", "finite"]),
                                         (["--read-noise", "11"], ["--read-noise", "[0, 10]"]),
                                         (["--duration", "1e9s"], ["1e+13 time steps", "--force"]),
                                         (["--dt", "1e-12ms"], ["1e+14 time steps", "--force"])])
def test_spiking_refuses_nan_noise_and_runaway_step_counts(tiny_trace, args, words):
    refused(["spiking", tiny_trace["path"], "--codegen", "numpy", "--samples", "2",
             "--dataset-path", tiny_trace["data"], *args], *words)


# ---- 11. output faults ---------------------------------------------------------------------------------------
TRAIN = ["train", "--epochs", "1", "--hidden", "4", "--quiet"]


def test_trace_into_a_folder_is_refused_before_training(tmp_path, monkeypatch):
    import hwsim.workflow.experiment as experiment

    def no_training(*a, **k):
        raise AssertionError("trained although the trace path is a folder")
    monkeypatch.setattr(experiment, "train", no_training)
    refused([*TRAIN, "--trace", str(tmp_path)], str(tmp_path), "is a folder")


def test_full_disk_up_front_is_a_clear_error_without_tmp(tmp_path, monkeypatch):
    import shutil as shutil_mod
    real = shutil_mod.disk_usage
    monkeypatch.setattr(shutil_mod, "disk_usage", lambda p: real(p)._replace(free=1000))
    path = str(tmp_path / "t.h5")
    refused([*TRAIN, "--trace", path], path, "MB free")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("when", ["create", "epoch"])
def test_disk_full_while_writing_is_a_clear_error_without_tmp(tmp_path, monkeypatch, when):
    from hwsim.workflow import trace as trace_mod
    real = trace_mod._grow if when == "create" else trace_mod._append
    calls = {"n": 0}

    def failing(*a, **k):
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(28, "No space left on device") if when == "epoch" else RuntimeError(
                "Can't write data (file write failed: errno = 28, error message = 'No space left on device')")
        return real(*a, **k)
    monkeypatch.setattr(trace_mod, "_grow" if when == "create" else "_append", failing)
    path = str(tmp_path / "t.h5")
    refused([*TRAIN, "--trace", path], path, "no space left")
    assert not os.path.exists(path + ".tmp")
    if when == "epoch":                  # the trace is still readable up to its last committed epoch (none)
        from hwsim.workflow.trace import Trace
        with Trace(path) as t:
            assert t.epochs == 0


def test_tmp_name_is_refused_without_tmp_tmp(tmp_path):
    path = str(tmp_path / "x.h5.tmp")
    err = refused([*TRAIN, "--trace", path], path, "ends in .tmp")
    assert ".tmp.tmp" not in err


def test_trace_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append(("replace", str(a))), real_replace(a, b)))
    path = str(tmp_path / "t.h5")
    assert run([*TRAIN, "--trace", path])[0] == 0
    i = calls.index(("replace", path + ".tmp"))
    assert ("fsync", os.path.realpath(path + ".tmp")) in calls[:i]


def test_results_view_is_never_truncated_in_place(tmp_path, monkeypatch):
    """The store is SQLite (one committed transaction per point); results.csv is rewritten by temporary file
    and rename: a failure (or kill) before the rename leaves the previous view whole and no .tmp."""
    from hwsim.workflow import sweep
    path = str(tmp_path / "results.csv")
    sweep.write_csv(path, [{"a": 1}, {"a": 2}], ["a"])
    before = open(path).read()

    def killed(a, b):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(OSError):
        sweep.write_csv(path, [{"a": 3}], ["a"])
    assert open(path).read() == before and os.listdir(tmp_path) == ["results.csv"]


# ---- 12. paths -----------------------------------------------------------------------------------------------
def test_config_trace_path_does_not_overwrite_other_files(tmp_path, monkeypatch):
    other = tmp_path / "other"
    other.mkdir()
    notes = other / "notes.txt"
    notes.write_text("my notes\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    refused([*TRAIN, "--set", 'trace.path="../other/notes.txt"'], "../other/notes.txt", "not an hwsim trace",
            "--force")
    assert notes.read_text() == "my notes\n"
    assert run([*TRAIN, "--set", 'trace.path="../other/notes.txt"', "--force"])[0] == 0
    assert open(notes, "rb").read(8) == b"\x89HDF\r\n\x1a\n"


def test_plot_of_a_trace_in_a_dotted_folder_writes_beside_it(tiny_trace, tmp_path):
    folder = tmp_path / "run.d"
    folder.mkdir()
    shutil.copy(tiny_trace["path"], folder / "trace")
    code, out, err = run(["plot", str(folder / "trace")])
    assert code == 0, err
    assert os.path.exists(folder / "trace_curves.png") and not os.path.exists(tmp_path / "run_curves.png")


@pytest.mark.parametrize("command", ["spiking", "infer"])
def test_a_trace_cannot_make_hwsim_open_its_stored_dataset_path(tiny_trace, tmp_path, monkeypatch, command):
    """The tiny trace was trained on an .npz path stored in its config: without --dataset-path that path is
    not opened (a trace from elsewhere could name any file)."""
    from hwsim.workflow import datasets
    opened = []
    real = datasets._from_path
    monkeypatch.setattr(datasets, "_from_path", lambda name, path: (opened.append(path), real(name, path))[1])
    extra = ["--codegen", "numpy", "--samples", "2"] if command == "spiking" else ["--quiet", "--draws", "1"]
    refused([command, tiny_trace["path"], *extra], tiny_trace["path"], "--dataset-path")
    assert opened == []
    if command == "infer":
        code, out, err = run([command, tiny_trace["path"], *extra, "--times", "1s", "--program", "ideal",
                              "--dataset-path", tiny_trace["data"], "-o", str(tmp_path / "i.png")])
        assert code == 0, err
        assert opened == [tiny_trace["data"]]


@pytest.mark.parametrize("command", ["fit-toml", "fit-png", "plot", "report", "infer"])
def test_figures_and_device_files_do_not_overwrite_other_files(tiny_trace, tmp_path, command):
    notes = tmp_path / ("notes.toml" if command == "fit-toml" else "notes.png")      # text named like an output
    notes.write_text("my notes\n")
    csv = _csv(tmp_path / "m.csv", _curve(8))
    argv = {"fit-toml": ["devices", "fit", csv, "--model", "piecewise", "--toml", str(notes),
                         "-o", str(tmp_path / "f.png")],
            "fit-png": ["devices", "fit", csv, "--model", "piecewise", "-o", str(notes)],
            "plot": ["plot", tiny_trace["path"], "-o", str(notes)],
            "report": ["report", tiny_trace["path"], "-o", str(notes)],
            "infer": ["infer", tiny_trace["path"], "--dataset-path", tiny_trace["data"], "--draws", "1", "--times",
                      "1s", "--program", "ideal", "--quiet", "-o", str(notes)]}[command]
    refused(argv, str(notes), "refusing to overwrite", "--force")
    assert notes.read_text() == "my notes\n"
    code, out, err = run([*argv, "--force"])
    assert code == 0, err
    assert notes.read_bytes()[:4] in (b"\x89PNG", b"# fi")
