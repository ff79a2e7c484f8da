"""hwsim: training neural networks on simulated analog crossbar hardware.

Packages, from the physics up (docs/architecture.md):

- ``hwsim.devices``         one synapse device: response models, variation, presets, fitting
- ``hwsim.learning_rules``  learning rules, their per-tile update kernels and the rule–hardware interface
- ``hwsim.hardware``        tiles, periphery, IR drop, the assembler, networks on tiles, cost
- ``hwsim.workflow``        configs, seeds, datasets, training, experiments, sweeps, traces
- ``hwsim.apps``            the ``hwsim`` command, plots, spiking deployment

The names below are the small public API; they are imported on first use, so ``import hwsim.devices`` stays
light.
"""
from __future__ import annotations

import importlib

__all__ = ["get_device", "Periphery", "Tile", "Network", "LayerSpec", "mlp", "load_config", "run_config",
           "Trace"]

_API = {
    "get_device": ("hwsim.devices", "get_device"),
    "Periphery": ("hwsim.hardware.periphery", "Periphery"),
    "Tile": ("hwsim.hardware.tile", "Tile"),
    "Network": ("hwsim.hardware.network", "Network"),
    "LayerSpec": ("hwsim.hardware.assembler", "LayerSpec"),
    "mlp": ("hwsim.hardware.assembler", "mlp"),
    "load_config": ("hwsim.workflow.config", "load"),
    "run_config": ("hwsim.workflow.experiment", "run_config"),
    "Trace": ("hwsim.workflow.trace", "Trace"),
}


def __getattr__(name):
    if name in _API:
        module, attr = _API[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hwsim' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
