"""Decorrelation of every layer's input (Ahmad, "Correlations are ruining your gradient descent", arXiv
2407.10780, 2024; Dalm, Ahmad, Ambrogioni & van Gerven, "Efficient deep learning with decorrelated
backpropagation", 2024). A scheme: ``bp+decor``, ``dfa+decor``.

Each layer computes x̃ = R·(x − μ) before its weights; R (n × n, on its own tiles) starts at I and μ is a
digital running mean of x (momentum ``decor_momentum``; centring as in Ahmad's code). After every step,
from the cached x̃ of the batch:

    C = offdiag(x̃ᵀx̃)/B,   v = mean_b(x̃²) − 1,   ΔR = −η_d·[(1 − κ)·C·R + κ·diag(v)·R]

(Dalm et al.'s rule; κ = 0 pure decorrelation, κ > 0 also whitens). ΔR is computed digitally from x̃ and a
read-back of R and applied as counted pulses with stochastic rounding. The forward weights learn from x̃,
and backprop's error passes through R by a transpose read (x̃ = R·x ⇒ ∂L/∂x = Rᵀ·∂L/∂x̃).
"""
from __future__ import annotations

import numpy as np

from hwsim.devices import validation as v

from .base import Param, Scheme, register_scheme


@register_scheme("decor")
class Decorrelation(Scheme):
    requires = {"center": True, "decorrelate": True}
    params = {
        "decor_lr": Param(1e-3, v.Real(0.0, 10.0, lo_open=True), "η_d, learning rate of R"),
        "decor_kappa": Param(0.0, v.Real(0.0, 1.0), "κ: 0 decorrelates, > 0 also whitens"),
        "decor_momentum": Param(0.99, v.Real(0.0, 1.0, hi_open=True), "momentum of the running mean μ"),
    }

    def after_step(self, network, rule):
        for stage in network.stages("center"):
            stage.update(self.decor_momentum)
        pulses = 0
        for stage in network.stages("decorrelation"):
            z = stage.out.astype(np.float64)
            C = z.T @ z / len(z)
            v_ = np.diag(C) - 1.0
            np.fill_diagonal(C, 0.0)
            R = stage.matrix.read_back()
            dR = -self.decor_lr * ((1 - self.decor_kappa) * C @ R + self.decor_kappa * v_[:, None] * R)
            pulses += stage.matrix.counted_update(dR, rule.update)
        self.steps += 1
        return {"scheme_pulses": pulses, "decor_pulses": pulses}
