"""Compiling the Numba kernels once, before the work that needs them.

Numba compiles a kernel at its first call and caches the machine code beside the sources (``cache=True``):
later processes load it in milliseconds. Without a warm cache, every worker process of a sweep would compile
the same kernels at the same time (minutes on a 2-core machine) while the progress bar sits at zero.
``warm`` runs, in the calling process, one tiny training step of every distinct (rule, periphery, update
scheme) among the configs — kernels are compiled per argument types, not per device model — so that the
workers start with the cache filled. With ``processes`` > 1 a helper process compiles the constant-step
batch update and the devices' pulse kernel while the caller compiles the others. The device-by-device update
(dense trains on other devices) is left out: training steps' trains are sparse (every demo point and the MNIST
epoch take the list walk or the constant-step batch update), and it compiles at its first use on a machine
(≈ 7 s).
"""
from __future__ import annotations

import json

import numpy as np


def _kernel_signature(cfg) -> str:
    """What decides which kernels a run calls, and with which argument types."""
    return json.dumps([cfg.rule, cfg.periphery, cfg.update, cfg.network.get("rank"), cfg.network["tile_rows"],
                       cfg.network["tile_cols"]], sort_keys=True, default=str)


def warm(configs, progress: bool = True, processes: int = 1) -> int:
    """Run one step of a tiny network for each distinct kernel signature among ``configs``; returns how many
    were run. Quick when the cache is warm (a fraction of a second each). ``processes``: see
    ``warm_tile_kernels``."""
    from hwsim.workflow import config as config_mod
    from hwsim.workflow.datasets import Dataset, dataset_shape
    from hwsim.workflow.experiment import run_config

    todo = {}
    for cfg in configs:
        todo.setdefault(_kernel_signature(cfg), cfg)
    if not todo:
        return 0
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), desc="compiling kernels (cached after the first run on a machine)",
                   unit="rule", leave=False)
    warm_tile_kernels(processes)
    rng = np.random.default_rng(0)
    for cfg in todo.values():
        raw = cfg.to_dict()
        raw["training"].update(epochs=1, batch_size=4)
        raw["trace"]["path"] = ""
        raw["dataset"]["validation"] = 0.0
        tiny = config_mod.validate(raw)
        features, classes = dataset_shape(cfg.dataset["name"])
        data = Dataset("warm-up", rng.uniform(0, 1, (8, features)), np.arange(8) % classes,
                       rng.uniform(0, 1, (4, features)), np.arange(4) % classes)
        run_config(tiny, None, progress=False, data=data)
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    return len(todo)


def warm_tile_kernels(processes: int = 1, calibration: bool = False, cells: bool = False) -> None:
    """Compile (or load) the tile kernels whose use a tiny random step does not decide: the stochastic update
    kernels (which one a step takes depends on the device model and on how dense its trains are; the
    device-by-device one only with ``cells``), the counted
    update, the reads, the devices' own pulse kernel, and with ``calibration`` the symmetry-point calibration's.
    Argument types are the same for every device model, so one tiny tile compiles them for all. ``processes``
    > 1: a helper process compiles the kernels of dense trains and the device kernel, and with ``calibration``
    the counted update, while this one compiles the rest."""
    helper = _start_helper(calibration, cells) if processes > 1 and not _dense_kernel_cached() else None
    helper_counts = helper is not None and calibration      # the helper takes the counted update too
    try:
        _warm_tile_kernels(False, calibration, counted=not helper_counts)
    finally:
        if helper is not None:
            helper.wait()                               # its kernels are in the cache now (or compile below)
    _warm_tile_kernels(True, False, counted=True, cells=cells)


def _dense_kernel_cached() -> bool:
    """Whether Numba's cache holds the batch update kernel for the current sources (its index, read through
    Numba's private API; False when that cannot be read)."""
    from hwsim.learning_rules.pulses import _batch_update
    try:
        return bool(_batch_update.signatures or _batch_update._cache._cache_file._load_index())
    except Exception:                                   # noqa: BLE001 — another Numba version: start the helper
        return False


def _start_helper(counted: bool, cells: bool):
    """A helper process that compiles (or loads) the dense half of the kernels; None if it cannot start."""
    import subprocess
    import sys
    code = f"from hwsim.workflow.warmup import _warm_tile_kernels; _warm_tile_kernels(True, False, {counted}, {cells})"
    try:
        return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None


def _warm_tile_kernels(dense: bool, calibration: bool, counted: bool, cells: bool = False) -> None:
    """A part of ``warm_tile_kernels``: ``dense``, the kernels of dense trains (the constant-step batch update,
    with ``cells`` the device-by-device update) and the devices' pulse kernel; otherwise the update through bit
    lists and the reads (and the calibration);
    ``counted``: the counted update."""
    from hwsim import devices
    from hwsim.hardware.tile import Tile
    from hwsim.learning_rules.pulses import _batch_update, _cell_update, _pulse_update

    model = devices.get_device("constant-step")
    tile = Tile(4, 4, model, random_state=0)
    if counted:
        tile.update_pulses(np.eye(4, dtype=np.int64))
    if dense:
        if not _batch_update.signatures:
            tile.update(np.ones((4, 4)), np.full((4, 4), 0.5), 10.0)   # saturated trains: BL bits each, dense
        if cells and not _cell_update.signatures:
            tile.per_pulse = True                       # the same trains pulse by pulse: device by device
            tile.update(np.ones((4, 4)), np.full((4, 4), 0.5), 10.0)
        params = model.sample((4,), 0)
        model.step(model.initial_state(params), 1, 1, params, 0)
        return
    if not _pulse_update.signatures:
        x = np.zeros((4, 4))
        x[0, 0] = 1e-3                                  # about one bit per train: sparse
        tile.update(x, np.full((4, 4), 0.5), 0.01)
    tile.forward(np.ones((2, 4)))
    tile.backward(np.ones((2, 4)))
    if calibration:
        tile.calibrate_symmetry_point(pairs_per_round=1, max_rounds=1, reads=1)
