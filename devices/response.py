"""The standard pulse-response measurement: N potentiation then N depression pulses on sampled devices."""
from __future__ import annotations

import numpy as np

from . import validation as v
from .base import DeviceModel
from .rng import check_random_state


MAX_PULSES, MAX_DEVICES = 10**6, 10**6      # per direction; sampled devices


def pulse_response(device: DeviceModel, pulses: int = 200, n_devices: int = 256, random_state=None) -> np.ndarray:
    """Weights of ``n_devices`` sampled devices, starting at weight 0, after each of ``pulses`` potentiation
    then ``pulses`` depression pulses: array (2·pulses + 1, n_devices), row 0 the initial state."""
    pulses = v.check("pulses", pulses, v.Integer(1, MAX_PULSES))
    n_devices = v.check("n_devices", n_devices, v.Integer(1, MAX_DEVICES))
    v.check_memory("pulses", 8 * 3 * (2 * pulses + 1) * n_devices,
                   f"{2 * pulses + 1} × {n_devices} weights (the curve, its mean and its spread)")
    rng = check_random_state(random_state)
    params = device.sample((n_devices,), rng)
    w = device.initial_state(params)
    out = np.empty((2 * pulses + 1, n_devices))
    out[0] = w
    for k in range(2 * pulses):
        device.step(w, 1, 1 if k < pulses else -1, params, rng)
        out[k + 1] = w
    return out
