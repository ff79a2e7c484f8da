"""Synapse device physics: conductance-response models, variation, faults, drift, and published presets."""
import os as _os

# How long Numba's OpenMP threads spin for the next parallel kernel before they sleep (libgomp reads this when
# the first kernel runs). Asleep, each kernel call waits ≈ 0.1 ms for the other thread to wake: one MNIST epoch
# (≈ 25 small kernel calls per batch) took 7.1–8.0 s with OMP_WAIT_POLICY=PASSIVE and 4.6–4.75 s spinning
# ≈ 1 ms (alternated; docs/tile.md, "Threads"). Training and tile reads keep NumPy's BLAS to one thread, whose
# spinning threads would compete with these. A user's OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in _os.environ:
    _os.environ.setdefault("GOMP_SPINCOUNT", "100000")
from .base import DeviceModel, DeviceParameters, nominal
from .curves import NeuroSim, Piecewise, nonlinearity_to_a
from .pulsed import ConstantStep, ExpStep, LinearStep, PowStep, PulsedModel, SoftBounds
from .rng import check_random_state

MODELS = {cls.name: cls for cls in (ConstantStep, LinearStep, SoftBounds, ExpStep, PowStep, NeuroSim, Piecewise)}


def get_model(name: str, **overrides) -> DeviceModel:
    """A device model by name with its defaults, optionally overridden."""
    if name not in MODELS:
        raise ValueError(f"unknown device model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name]().replace(**overrides)


__all__ = ["get_device", "ideal_device", "DeviceModel", "DeviceParameters", "MODELS", "get_model", "nominal", "check_random_state",
           "ConstantStep", "LinearStep", "SoftBounds", "ExpStep", "PowStep", "PulsedModel",
           "NeuroSim", "Piecewise", "nonlinearity_to_a"]


def ideal_device(**overrides) -> DeviceModel:
    """``ideal``: a constant-step device with a fine step (1e-4), range ±1, no variation, no noise — the
    float limit against which rules are tested."""
    return ConstantStep(dw_min=1e-4, dw_min_dtod=0.0, dw_min_std=0.0, up_down_dtod=0.0, w_min=-1.0, w_max=1.0,
                        w_min_dtod=0.0, w_max_dtod=0.0).replace(**overrides)


def get_device(name: str, **overrides) -> DeviceModel:
    """A preset (``devices.presets``), a model with its defaults, or ``ideal``, by name, optionally overridden."""
    from .presets import PRESETS
    if name == "ideal":
        return ideal_device(**overrides)
    if name in PRESETS:
        return PRESETS[name].device.replace(**overrides)
    if name in MODELS:
        return get_model(name, **overrides)
    raise ValueError(f"unknown device {name!r}; presets: {', '.join(PRESETS)}; models: {', '.join(MODELS)}; "
                     "or 'ideal'")
