"""Centring and decorrelation of every layer's input, as two schemes so that each effect can be measured on
its own (Ahmad, "Correlations are ruining your gradient descent", arXiv 2407.10780, 2024; Dalm, Ahmad,
Ambrogioni & van Gerven, "Efficient deep learning with decorrelated backpropagation", 2024).

``+center``: each layer subtracts a digital running mean μ of its input, x − μ (momentum ``center_momentum``;
the first step sets μ to the batch mean) — the centring of Ahmad's code, digital, no devices.

``+decor``: each layer computes x̃ = R·x before its weights (after centring when ``+center`` is also given:
``bp+center+decor`` is Ahmad's method); R (n × n, on its own tiles) starts at I. After every step, from the
batch's x̃:

    C = offdiag(x̃ᵀx̃)/B,   v = mean_b(x̃²) − 1,   ΔR = −η_d·[(1 − κ)·C·R + κ·diag(v)·R]

(Dalm et al.'s rule; κ = 0 pure decorrelation, κ > 0 also whitens). ΔR is computed digitally from x̃ and a
read-back of R and applied as a counted update; ``decor_lr = 0`` freezes R at I (the ablation that separates
the effect of R from that of the extra array). The forward weights learn from x̃, and backprop's error passes
through R by a transposed read (x̃ = R·x ⇒ ∂L/∂x = Rᵀ·∂L/∂x̃).
"""
from __future__ import annotations

import numpy as np

from hwsim.devices import validation as v

from .base import Param, Scheme, register_scheme


@register_scheme("center")
class Centering(Scheme):
    requires = {"center": True}
    params = {"center_momentum": Param(0.99, v.Real(0.0, 1.0, hi_open=True), "momentum of the running mean μ")}

    def after_step(self, network, rule):
        for stage in network.stages("center"):
            stage.update(self.center_momentum)
        self.steps += 1
        return {}


@register_scheme("decor")
class Decorrelation(Scheme):
    requires = {"decorrelate": True}
    params = {
        "decor_lr": Param(1e-3, v.Real(0.0, 10.0), "η_d, learning rate of R (0: R frozen at I)"),
        "decor_kappa": Param(0.0, v.Real(0.0, 1.0), "κ: 0 decorrelates, > 0 also whitens"),
    }

    def after_step(self, network, rule):
        self.steps += 1
        if not self.decor_lr:
            return {}
        pulses = 0
        for stage in network.stages("decorrelation"):
            z = stage.out.astype(np.float64)
            C = z.T @ z / len(z)
            v_ = np.diag(C) - 1.0
            np.fill_diagonal(C, 0.0)
            R = stage.matrix.read_back()
            dR = -self.decor_lr * ((1 - self.decor_kappa) * C @ R + self.decor_kappa * v_[:, None] * R)
            n = len(R)
            network.count_digital(z.shape[0] * n * n + n ** 3 + 3 * n * n)     # C, C·R, κ term and scaling
            pulses += stage.matrix.counted_update(dR, rule.update)
        return {"scheme_pulses": pulses, "decor_pulses": pulses}
