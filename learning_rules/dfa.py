"""Direct feedback alignment (Nøkland, NeurIPS 2016).

δ_L = e;  δ_l = (e·B_l) ⊙ f′(a_l) with B_l (classes × n_l) fixed and random;  ΔW_l = −η·δ_lᵀ h_{l−1}.
Every layer needs only e and its own cache: no transpose reads, all layers update in parallel.
B_l ~ U(−1/√n_l, 1/√n_l)·feedback_scale, n_l the width of the layer that receives the signal (as in
Nøkland's code; the paper's text on the distribution was not reachable).
"""
from __future__ import annotations

import numpy as np

from hwsim.devices import validation as v

from .base import Param, Rule, register_rule


def feedback(rng, classes, width, scale):
    bound = scale / np.sqrt(width)
    return rng.uniform(-bound, bound, (classes, width)).astype(np.float32)


@register_rule("dfa")
class DFA(Rule):
    params = {"feedback_scale": Param(1.0, v.Real(0.0, 1e6, lo_open=True), "scale of the random feedback B")}

    def setup(self, network):
        classes = network.specs[-1].out_features
        self.B = [feedback(self.rng, classes, spec.out_features, self.feedback_scale) for spec in network.specs[:-1]]

    def layer_signals(self, network, e, y):
        out = []
        last = len(network.layers) - 1
        for i, layer in enumerate(network.layers):
            delta = e if i == last else (e @ self.B[i]) * layer.dact()
            if i != last:
                network.count_digital(e.shape[0] * self.B[i].size + delta.size)
            signals, digital, _ = layer.signals(delta, input_grad=False)
            out.append((signals, digital))
        return out
