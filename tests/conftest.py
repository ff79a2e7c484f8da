"""Shared fixtures."""
import os

import h5py
import numpy as np
import pytest

from hwsim.apps.cli import main


def pytest_configure(config):
    """Compile the tile kernels in two processes before the tests start (≈ 75 s instead of ≈ 170 s on one core
    with an empty cache; ≈ 1 s when cached). Under pytest-xdist only its controller does, before the workers."""
    if hasattr(config, "workerinput"):
        return
    from hwsim.workflow.warmup import warm_tile_kernels
    warm_tile_kernels(processes=2, calibration=True, cells=True)


@pytest.fixture(scope="module")
def tiny_trace(tmp_path_factory):
    """One small trace per module: a tiny network, one epoch, a handful of samples (an .npz dataset)."""
    folder = tmp_path_factory.mktemp("fuzz-trace")
    rng = np.random.default_rng(0)
    data = str(folder / "tiny.npz")
    np.savez(data, x_train=rng.integers(0, 255, (24, 3, 3)).astype(np.uint8), y_train=np.arange(24) % 3,
             x_test=rng.integers(0, 255, (9, 3, 3)).astype(np.uint8), y_test=np.arange(9) % 3)
    path = str(folder / "tiny.h5")
    code = main(["train", "--dataset", "mnist", "--dataset-path", data, "--epochs", "1", "--hidden", "4",
                 "--batch-size", "8", "--device", "reram-sb", "--set", 'trace.snapshots="all"', "--trace", path,
                 "--quiet"])
    assert code == 0
    with h5py.File(path, "r") as f:
        datasets, attrs = [], []
        f.visititems(lambda p, o: datasets.append(p) if isinstance(o, h5py.Dataset) else None)
        f.visititems(lambda p, o: attrs.extend((p, a) for a in o.attrs))
        attrs.extend(("", a) for a in f.attrs)
    return {"path": path, "data": data, "datasets": sorted(datasets), "attrs": sorted(attrs),
            "size": os.path.getsize(path)}
