"""Unidirectional (potentiation-only) updates for differential pairs (after Lim et al., "Adaptive learning
rule for hardware-based deep neural networks using electronic synapse devices", arXiv 1707.06381, 2017).
A scheme: ``bp+unidirectional``, ``dfa+unidirectional``.

Every pulse potentiates: a weight that must grow potentiates G+, one that must shrink potentiates G−, so
the device's (usually worse) depression never acts. Both devices only climb; when either device of a pair
passes ``refresh_threshold`` of its range, the pair is refreshed: both are reset to their lowest state
(one reset pulse each) and the weight is written back with potentiation pulses by write-and-verify
(tolerance ``refresh_tolerance``). Refreshes are checked every ``refresh_every`` steps; their pulses are
counted apart (``refresh_pulses``) and in the total. Only the abstract of Lim et al. is reachable: the
device model, threshold and the reset-and-rewrite procedure are our modelling choices.
"""
from __future__ import annotations

from hwsim.devices import validation as v

from .base import Param, Scheme, register_scheme


@register_scheme("unidirectional")
class Unidirectional(Scheme):
    requires = {"pair": "unidirectional"}
    params = {
        "refresh_threshold": Param(0.9, v.Real(0.0, 1.0, lo_open=True),
                                   "fraction of a device's range that triggers a refresh of its pair"),
        "refresh_every": Param(10, v.Integer(1, 10**6), "steps between refresh checks"),
        "refresh_tolerance": Param(None, v.Optional(v.Real(0.0, lo_open=True)),
                                   "write-and-verify tolerance of a refresh (none: one device step)"),
    }

    def __init__(self, network, lr, rng, update, **hyper):
        super().__init__(network, lr, rng, update, **hyper)
        if network.pair != "unidirectional":
            raise ValueError("the unidirectional scheme needs a network built with pair='unidirectional'")
        self.refreshes = 0

    def after_step(self, network, rule):
        self.steps += 1
        if self.steps % self.refresh_every:
            return {}
        pulses = refreshed = 0
        for matrix in network.analog_matrices():
            res = matrix.refresh(self.refresh_threshold, self.refresh_tolerance)
            pulses += res["pulses"]
            refreshed += res["refreshed"]
        self.refreshes += refreshed
        return {"scheme_pulses": pulses, "refresh_pulses": pulses, "refreshes": refreshed}
