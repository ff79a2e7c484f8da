"""Backpropagation (analog SGD): errors travel back through the tiles' transpose reads.

δ_L = e = (softmax − y)/B;  δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ f′(a_l);  ΔW_l = −η·δ_lᵀ h_{l−1}
(Rumelhart et al. 1986; hardware form Gokmen & Vlasov 2016: the backward product is a transpose read of the
same array, through its periphery, and the update is a stochastic pulse-train outer product).
Works for every factorisation (the layer's own chain rule inside factorised layers).
"""
from __future__ import annotations

from .base import Rule, register_rule


def backprop_signals(network, e):
    out = [None] * len(network.layers)
    delta = e
    for i in range(len(network.layers) - 1, -1, -1):
        layer = network.layers[i]
        signals, digital, gx = layer.signals(delta, input_grad=i > 0)
        out[i] = (signals, digital)
        if i > 0:
            delta = gx * network.layers[i - 1].dact()
            network.count_digital(gx.size)
    return out


@register_rule("bp")
class Backprop(Rule):
    def layer_signals(self, network, e, y):
        return backprop_signals(network, e)
