"""The standard pulse-response measurement: N potentiation then N depression pulses on sampled devices."""
from __future__ import annotations

import numpy as np

from .base import DeviceModel
from .rng import check_random_state


def pulse_response(device: DeviceModel, pulses: int = 200, n_devices: int = 256, random_state=None) -> np.ndarray:
    """Weights of ``n_devices`` sampled devices, starting at weight 0, after each of ``pulses`` potentiation
    then ``pulses`` depression pulses: array (2·pulses + 1, n_devices), row 0 the initial state."""
    if isinstance(pulses, bool) or not isinstance(pulses, (int, np.integer)) or pulses < 1:
        raise ValueError(f"pulses must be an integer >= 1, got {pulses!r}")
    if isinstance(n_devices, bool) or not isinstance(n_devices, (int, np.integer)) or n_devices < 1:
        raise ValueError(f"n_devices must be an integer >= 1, got {n_devices!r}")
    rng = check_random_state(random_state)
    params = device.sample((n_devices,), rng)
    w = device.initial_state(params)
    out = np.empty((2 * pulses + 1, n_devices))
    out[0] = w
    for k in range(2 * pulses):
        device.step(w, 1, 1 if k < pulses else -1, params, rng)
        out[k + 1] = w
    return out
