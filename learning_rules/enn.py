"""Eigen Neural Network (Cheng, Yin, Cheng, Duan, Nazarian & Bogdan, arXiv 2508.01219, 2025).

Each layer is W = Q·diag(λ)·Pᵀ with Q (out × r) and P (in × r) orthonormal at the start (from the SVD of the
Glorot initial W), λ and the bias digital; P is read transposed. Orthonormality is kept by the soft penalty
μ·(‖QᵀQ − I‖²_F + ‖PᵀP − I‖²_F) as in the authors' code, applied on hardware as a local rule: every
``ortho_every`` steps Q and P are read back and pulsed by ΔM = −η·k·μ·4·M(MᵀM − I) (counted pulses,
stochastic rounding; the pulses are counted in ``ortho_pulses``). With ``shared_basis`` a width-n space has
one basis array, written by one layer as Q and read by the next as P.

``enn``: trained by backprop through the tiles.
``enn_local`` (ENN-ℓ): gradient-isolated layers — each hidden layer l learns from the cross-entropy of a
fixed random linear head H_l (classes × n_l) on its own output, δ_l = ((softmax(h_l H_lᵀ) − y)/B · H_l) ⊙
f′(a_l), plus the penalty; the last layer learns from the network's own cross-entropy. No error crosses a
layer boundary, so all layers can update in parallel on hardware. (The paper's modules are residual blocks
with backprop inside; for MLPs a module is one layer — our reading.)
"""
from __future__ import annotations

import numpy as np

from hwsim.devices import validation as v

from .base import FactorRule, Param, cross_entropy, orthogonality_step, register_rule
from .bp import backprop_signals


class _Eigen(FactorRule):
    factorization = "eigen"
    params = {
        "ortho_weight": Param(0.01, v.Real(0.0, 1e3), "μ, weight of the orthogonality penalty (0: off)"),
        "ortho_every": Param(10, v.Integer(1, 10**6), "steps between orthogonality corrections"),
        "scale_aware": Param(True, v.Boolean(), "scale the k-th factor's update by its norm² (FactorRule)"),
    }

    def after_updates(self, network, stats):
        if self.ortho_weight and (self.steps + 1) % self.ortho_every == 0:
            p = 0
            done = set()
            for layer in network.layers:
                for role in ("Q", "P"):
                    m = layer.matrices[role]
                    if m.name not in done:
                        done.add(m.name)
                        p += orthogonality_step(self, layer, role)
            stats["pulses"] += p
            stats["ortho_pulses"] = p


@register_rule("enn")
class ENN(_Eigen):
    def layer_signals(self, network, e, y):
        return backprop_signals(network, e)


@register_rule("enn_local")
class ENNLocal(_Eigen):
    params = dict(_Eigen.params, head_scale=Param(1.0, v.Real(0.0, 1e6, lo_open=True),
                                                  "scale of the fixed random heads"))

    def setup(self, network):
        super().setup(network)
        classes = network.specs[-1].out_features
        self.heads = []
        for spec in network.specs[:-1]:
            bound = self.head_scale * np.sqrt(6.0 / (classes + spec.out_features))
            self.heads.append(self.rng.uniform(-bound, bound, (classes, spec.out_features)).astype(np.float32))

    def layer_signals(self, network, e, y):
        out = []
        last = len(network.layers) - 1
        for i, layer in enumerate(network.layers):
            if i == last:
                delta = e
            else:
                _, e_l = cross_entropy(layer.cache.h @ self.heads[i].T, y)
                delta = (e_l @ self.heads[i]) * layer.dact()
                network.count_digital(2 * y.shape[0] * self.heads[i].size + 3 * e_l.size + delta.size)
            signals, digital, _ = layer.signals(delta, input_grad=False)
            out.append((signals, digital))
        return out
