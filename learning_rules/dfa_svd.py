"""DFA on SVD factors — our reading of SSA, "SVD-space alignment" (Roy, Apolinario, Das Biswas & Roy,
"Feedback Alignment Meets Low-Rank Manifolds", arXiv 2510.25594, 2025).

Each layer is W = U·diag(s)·Vᵀ of rank r (U, V on arrays, s digital). Its local loss, per layer l:

    L_l = ⟨a_l, stopgrad(f_l)⟩·(DFA error)  +  β·mean_b[1 − cos(a_lb, −f_lb)]  +  γ·(‖UᵀU − I‖² + ‖VVᵀ − I‖²)

with the feedback signal f_l = e·B_l, B_l = B_U·diag(b_S)·B_Vᵀ (classes × n_l): B_U (classes × r_B) and
B_V (n_l × r_B) fixed random with orthonormal columns, b_S ~ U(0.5, 1.5), r_B = min(classes, n_l) — the
feedback has the SVD structure of the forward weights. The error at the pre-activation is
δ_l = f_l ⊙ f′(a_l) + β·∂(1 − cos)/∂a_l; U, s, V receive it by the layer's own chain rule (a transpose read
of U inside the layer, nothing across layers). With ``stiefel`` (default) the updates of U and V are projected
on the tangent space of the Stiefel manifold, ΔU − U·sym(UᵀΔU), so that the factors keep their norms and
the scale is learnt in s ("stable updates on the Stiefel manifold"; without it, DFA's bilinear factor
updates grow the factors until the devices saturate — measured: rank 8 collapses to chance after ~5
epochs); this needs a read-back of U and V and is applied as counted pulses. The orthogonality gradient
4·U(UᵀU − I) corrects the remaining drift every ``ortho_every`` steps. The last layer learns from e
directly.

Choices where the paper is not explicit (see docs/rules.md): the alignment is to the descent direction −f
(aligning with +f would oppose the DFA step); cosine per sample, averaged; no Hoyer sparsity term and no
rank schedule (the rank is fixed, set by ``rank`` in the network).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from hwsim.devices import validation as v

from .base import FactorRule, Param, orthogonality_step, register_rule


def _orthonormal(rng, n, k):
    q, _ = np.linalg.qr(rng.standard_normal((n, k)))
    return q[:, :k]


@register_rule("dfa_svd")
class DFASVD(FactorRule):
    factorization = "svd"
    params = {
        "align_weight": Param(0.1, v.Real(0.0, 1e3), "β, weight of the cosine alignment to the feedback"),
        "ortho_weight": Param(0.01, v.Real(0.0, 1e3), "γ, weight of the orthogonality penalty (0: off)"),
        "ortho_every": Param(10, v.Integer(1, 10**6), "steps between orthogonality corrections"),
        "feedback_scale": Param(1.0, v.Real(0.0, 1e6, lo_open=True), "scale of the random feedback B"),
        "stiefel": Param(True, v.Boolean(), "project factor updates on the Stiefel manifold"),
        "scale_aware": Param(True, v.Boolean(), "scale the k-th factor's update by its norm² (FactorRule)"),
    }

    def setup(self, network):
        super().setup(network)
        classes = network.specs[-1].out_features
        self.B = []
        for spec in network.specs[:-1]:
            rb = min(classes, spec.out_features)
            bu, bv = _orthonormal(self.rng, classes, rb), _orthonormal(self.rng, spec.out_features, rb)
            bs = self.rng.uniform(0.5, 1.5, rb)
            self.B.append((self.feedback_scale * (bu * bs) @ bv.T).astype(np.float32))

    def layer_signals(self, network, e, y):
        out = []
        last = len(network.layers) - 1
        for i, layer in enumerate(network.layers):
            if i == last:
                delta = e
            else:
                f = e @ self.B[i]
                delta = f * layer.dact()
                network.count_digital(e.shape[0] * self.B[i].size + delta.size)
                if self.align_weight:
                    delta = delta + self.align_weight * align_grad(layer.cache.a, -f)
                    network.count_digital(8 * delta.size)
            signals, digital, _ = layer.signals(delta, input_grad=False)
            out.append((signals, digital))
        return out

    def transform_delta(self, layer, signal, delta):
        delta = super().transform_delta(layer, signal, delta)
        if not self.stiefel:
            return delta
        return stiefel_project(layer.matrices[signal.role].get_weights(), delta, signal.role == "V")

    def apply_signal(self, layer, signal, batch):
        if not self.stiefel:
            return super().apply_signal(layer, signal, batch)
        M = self.read_factor(layer, signal.role)             # read back for the projection (notes the norms)
        delta = self.scale_signal(layer, signal).delta(self.lr)
        proj = stiefel_project(M, delta, signal.role == "V")
        m, r = (M.shape[1], M.shape[0]) if signal.role == "V" else M.shape
        self.network.count_digital(signal.x.shape[0] * M.size + 2 * m * r * r + M.size)   # ΔM, projection
        # the pulse budget of the stochastic update it replaces: BL per sample
        budget = dataclasses.replace(self.update, max_pulses=self.update.bl * batch)
        return layer.matrices[signal.role].counted_update(proj, budget)

    def after_updates(self, network, stats):
        if self.ortho_weight and (self.steps + 1) % self.ortho_every == 0:
            p = 0
            for layer in network.layers:
                p += orthogonality_step(self, layer, "U")
                p += orthogonality_step(self, layer, "V", rows_orthonormal=True)
            stats["pulses"] += p
            stats["ortho_pulses"] = p


def stiefel_project(M, delta, rows_orthonormal=False):
    """ΔM projected on the tangent space of the Stiefel manifold at M (orthonormal columns, or rows):
    ΔM − M·sym(MᵀΔM)."""
    if rows_orthonormal:
        return stiefel_project(M.T, delta.T).T
    A = M.T @ delta
    return delta - M @ (0.5 * (A + A.T))


def align_grad(a, target):
    """∂/∂a of mean_b [1 − cos(a_b, target_b)]."""
    B = len(a)
    na = np.linalg.norm(a, axis=1, keepdims=True) + 1e-12
    nt = np.linalg.norm(target, axis=1, keepdims=True) + 1e-12
    cos = (a * target).sum(axis=1, keepdims=True) / (na * nt)
    return -(target / (na * nt) - cos * a / (na * na)) / B
