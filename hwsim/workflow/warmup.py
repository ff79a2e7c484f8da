"""Compiling the Numba kernels once, before the work that needs them.

Numba compiles a kernel at its first call and caches the machine code beside the sources (``cache=True``):
later processes load it in milliseconds. Without a warm cache, every worker process of a sweep would compile
the same kernels at the same time (minutes on a 2-core machine) while the progress bar sits at zero.
``warm`` runs, in the calling process, one tiny training step of every distinct (rule, periphery, update
scheme) among the configs — kernels are compiled per argument types, not per device model — so that the
workers start with the cache filled.
"""
from __future__ import annotations

import json

import numpy as np


def _kernel_signature(cfg) -> str:
    """What decides which kernels a run calls, and with which argument types."""
    return json.dumps([cfg.rule, cfg.periphery, cfg.update, cfg.network.get("rank"), cfg.network["tile_rows"],
                       cfg.network["tile_cols"]], sort_keys=True, default=str)


def warm(configs, progress: bool = True) -> int:
    """Run one step of a tiny network for each distinct kernel signature among ``configs``; returns how many
    were run. Quick when the cache is warm (a fraction of a second each)."""
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
    _warm_update_kernels()
    if bar:
        bar.close()
    return len(todo)


def _warm_update_kernels() -> None:
    """Both kernels of the stochastic update (``learning_rules.pulses``): which one a step takes depends on how
    dense its trains are, which a tiny random step does not decide. Their argument types are the same for every
    device model, so one tiny tile compiles them for all."""
    from hwsim import devices
    from hwsim.hardware.tile import Tile
    from hwsim.learning_rules.pulses import _run_update, _sparse_update

    if _sparse_update.signatures and _run_update.signatures:
        return
    tile = Tile(4, 4, devices.get_device("constant-step"), random_state=0)
    x = np.zeros((4, 4))
    x[0, 0] = 1e-3                                      # about one bit per train: sparse
    tile.update(x, np.full((4, 4), 0.5), 0.01)
    tile.update(np.ones((4, 4)), np.full((4, 4), 0.5), 10.0)   # saturated trains: BL bits each, dense
