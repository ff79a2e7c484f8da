"""Learning rules: each against a float-precision version of itself, on an ideal device.

1. The signals (what each layer learns from) equal an independent NumPy implementation of the rule's
   equations on the float weights: finite differences of the loss for backprop, the published formulas for
   DFA, DFA-SVD, ENN-ℓ and decorrelation.
2. The pulsed update of a step equals the rule's float ΔW (``update_float``) within the statistics of the
   pulse trains (fine dw_min; no saturation).
"""
import numpy as np
import pytest

from hwsim import devices
from hwsim import learning_rules as LR
from hwsim.hardware.layers import mlp
from hwsim.hardware.network import Network
from hwsim.hardware.periphery import Periphery
from hwsim.workflow.trainer import one_hot

FINE = devices.ideal_device(dw_min=1e-5)


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def make(rule, sizes=(8, 6, 5, 3), activation="tanh", rank=None, **kw):
    req = LR.requirements(rule)
    specs = mlp(list(sizes), activation, req["factorization"] or "dense", rank)
    net = Network(specs, FINE, Periphery.ideal(), tile_rows=4, tile_cols=5, random_state=0, pair=req["pair"],
                  center=req["center"], decorrelate=req["decorrelate"])
    return net, LR.build(rule, net, 0.01, random_state=1, **kw)


def batch(n=16, features=8, classes=3, seed=3):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, features)).astype(np.float32), one_hot(rng.integers(0, classes, n), classes)


def float_forward(net, x, params=None):
    """Float64 forward from read-back matrices: logits and per-layer (x, x̃, a, h)."""
    params = params or {name: m.get_weights() for name, m in net.matrices.items()}
    h = x.astype(np.float64)
    cache = []
    for layer in net.layers:
        xin = h
        for stage in layer.stages:
            if stage.kind == "decorrelation":
                h = h @ params[stage.matrix.name].T
            elif stage.updates:
                h = h - stage.mu
        M = {k: params[m.name] for k, m in layer.matrices.items()}
        r = layer.spec.r
        if layer.factorization == "dense":
            a = h @ M["W"][:, :-1].T + M["W"][:, -1]
        elif layer.factorization == "svd":
            a = ((h @ M["V"].T) * layer.digital["s"]) @ M["U"].T + layer.digital["b"]
        else:
            a = ((h @ M["P"][:, :r]) * layer.digital["lam"]) @ M["Q"][:, :r].T + layer.digital["b"]
        out = np.tanh(a) if layer.spec.activation == "tanh" else a
        cache.append((xin, h, a, out))
        h = out
    return h, cache


def loss_of(net, x, y, params):
    logits, _ = float_forward(net, x, params)
    p = softmax(logits)
    return -np.mean(np.log((p * y).sum(axis=1)))


@pytest.mark.parametrize("rule, kw", [("bp", {}), ("enn", {}), ("bp+center+decor", {})])
@pytest.mark.parametrize("sizes", [(8, 6, 5, 3)])
def test_backprop_gradients_equal_finite_differences(rule, kw, sizes):
    if rule == "enn":
        kw = {"ortho_weight": 0.0}
    net, r = make(rule, sizes, **kw)
    x, y = batch()
    grads = r.update_float(net, x, y)            # = −lr·∂L/∂M for every analog matrix
    params = {name: m.get_weights() for name, m in net.matrices.items()}
    rng = np.random.default_rng(0)
    for name, g in grads.items():
        if name.startswith("R"):
            continue                             # R learns by its own rule, not by the loss
        for _ in range(6):
            i, j = rng.integers(g.shape[0]), rng.integers(g.shape[1])
            eps = 1e-5
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][i, j] += eps
            minus[name][i, j] -= eps
            fd = (loss_of(net, x, y, plus) - loss_of(net, x, y, minus)) / (2 * eps)
            np.testing.assert_allclose(-g[i, j] / r.lr, fd, rtol=2e-3, atol=2e-5, err_msg=f"{rule} {name}[{i},{j}]")


def test_dfa_signals_are_the_published_formula():
    net, r = make("dfa")
    x, y = batch()
    grads = r.update_float(net, x, y)
    logits, cache = float_forward(net, x)
    e = (softmax(logits) - y) / len(x)
    for i, layer in enumerate(net.layers):
        xin, _, a, h = cache[i]
        delta = e if i == len(net.layers) - 1 else (e @ r.B[i]) * (1 - h ** 2)
        xb = np.concatenate([xin, np.ones((len(x), 1))], axis=1)
        np.testing.assert_allclose(grads[f"W{i}"], -r.lr * delta.T @ xb, rtol=1e-3, atol=1e-9)


def test_enn_local_learns_from_fixed_random_heads():
    net, r = make("enn_local", ortho_weight=0.0)
    x, y = batch()
    grads = r.update_float(net, x, y)
    logits, cache = float_forward(net, x)
    # hidden layer 0: δ = ((softmax(h H_0ᵀ) − y)/B · H_0) ⊙ f′(a); Q0 gets δ ⊗ (λ ⊙ P0ᵀx)
    xin, xt, a, h = cache[0]
    e0 = (softmax(h @ r.heads[0].T) - y) / len(x)
    delta = (e0 @ r.heads[0]) * (1 - h ** 2)
    layer = net.layers[0]
    zs = (xt @ layer.matrices["P"].get_weights()[:, :layer.spec.r]) * layer.digital["lam"]
    np.testing.assert_allclose(grads["Q0"], -r.lr * delta.T @ zs, rtol=1e-3, atol=1e-9)
    # nothing crosses a layer: the hidden layer's update does not depend on the output layer's weights
    net.matrices["Q2"].set_weights(np.zeros_like(net.matrices["Q2"].get_weights()))
    np.testing.assert_allclose(r.update_float(net, x, y)["Q0"], grads["Q0"], rtol=1e-6, atol=1e-12)


def test_dfa_svd_feedback_has_svd_structure_and_alignment_gradient():
    from hwsim.learning_rules.dfa_svd import align_grad
    net, r = make("dfa_svd", align_weight=0.0)
    for B, spec in zip(r.B, net.specs[:-1]):
        assert B.shape == (3, spec.out_features)
        assert np.linalg.matrix_rank(B) == min(3, spec.out_features)
    rng = np.random.default_rng(4)
    a, t = rng.standard_normal((5, 6)), rng.standard_normal((5, 6))

    def L(aa):
        cos = (aa * t).sum(1) / np.linalg.norm(aa, axis=1) / np.linalg.norm(t, axis=1)
        return np.mean(1 - cos)
    g = align_grad(a, t)
    for i, j in [(0, 0), (2, 3), (4, 5)]:
        d = np.zeros_like(a)
        d[i, j] = 1e-6
        np.testing.assert_allclose(g[i, j], (L(a + d) - L(a - d)) / 2e-6, rtol=1e-5)


def test_decorrelation_rule_and_effect():
    """ΔR = −η·offdiag(x̃ᵀx̃/B)·R; on correlated inputs the off-diagonal covariance of x̃ falls."""
    net, r = make("dfa+center+decor", decor_lr=0.05)
    rng = np.random.default_rng(5)
    mix = np.eye(8) + 0.8 * rng.uniform(0, 1, (8, 8))
    decor = r.schemes[-1]
    x0, y0 = batch()
    net.forward(x0)
    layer = net.layers[0]
    z = layer.cache.xt.astype(np.float64)
    R_matrix = net.stages("decorrelation")[0].matrix
    R = R_matrix.get_weights()
    C = z.T @ z / len(z)
    np.fill_diagonal(C, 0)
    decor.decor_lr = 5e-4                       # small enough that no cell hits the 31-pulse cap
    expected = -5e-4 * C @ R
    before = R.copy()
    decor.after_step(net, r)
    # stochastic rounding: each cell within one pulse of the exact update
    np.testing.assert_allclose(R_matrix.get_weights() - before, expected, atol=1.001 * FINE.dw_min)
    # the effect, on a coarser device so that the 31-pulse cap per step does not bind
    net = Network(mlp([8, 6, 3], "tanh"), devices.ideal_device(dw_min=1e-3), Periphery.ideal(), 4, 5,
                  random_state=0, decorrelate=True)
    r = LR.build("dfa+decor", net, 0.01, random_state=1, decor_lr=0.05)
    decor = r.schemes[0]

    def offdiag_corr():
        xs = (rng.standard_normal((512, 8)) @ mix.T).astype(np.float32)
        net.forward(xs)
        c = np.corrcoef(net.layers[0].cache.xt.T)
        return np.abs(c[~np.eye(8, dtype=bool)]).mean()
    start = offdiag_corr()
    for _ in range(150):
        xs = (rng.standard_normal((64, 8)) @ mix.T).astype(np.float32)
        net.forward(xs)
        decor.after_step(net, r)
    assert offdiag_corr() < 0.5 * start


@pytest.mark.parametrize("rule", ["bp", "dfa", "dfa_svd", "enn", "enn_local", "bp+center+decor", "bp+unidirectional"])
def test_pulsed_step_equals_float_update(rule):
    """One step on the fine ideal device, repeated on 32 copies of the network with independent pulse
    streams: the mean move of the tiles equals the rule's float ΔW within the pulse statistics. A cell
    expecting |ΔW|/dw pulses has a count variance of at most that many pulses (Bernoulli coincidences), so
    the mean over K copies is off by σ² <= dw·|ΔW|/K per cell; the test allows 5 σ on the matrix norm."""
    import copy
    kw = {"ortho_every": 10_000} if rule in ("dfa_svd", "enn", "enn_local") else {}
    if rule == "bp+unidirectional":
        kw = {"refresh_every": 10_000}
    net, r = make(rule, **kw)
    x, y = batch(n=64)
    want = r.update_float(net, x, y)
    _, per_layer = r.collect(net, x, y)
    reach = {}                                   # lr·Σ_b |d_b|·|x_b|: the expected pulses × dw per cell
    for layer, (signals, _) in zip(net.layers, per_layer):
        for sig in signals:
            name = layer.matrices[sig.role].name
            reach[name] = reach.get(name, 0) + r.lr * np.abs(sig.d.T.astype(float)) @ np.abs(sig.x.astype(float))
    before = {name: m.get_weights() for name, m in net.matrices.items()}
    mean = {name: 0.0 for name in want}
    copies = 32
    for k in range(copies):
        n2, r2 = copy.deepcopy((net, r))
        for t in n2.all_tiles():
            t.steps += 1000 * (k + 1)            # independent streams per copy
        r2.step(n2, x, y)
        for name in want:
            mean[name] = mean[name] + (n2.matrices[name].get_weights() - before[name]) / copies
    for name, dw in want.items():
        scale = net.matrices[name].scale
        sigma = np.sqrt(np.sum(FINE.dw_min * scale * reach[name]) / copies)
        err = np.linalg.norm(mean[name] - dw)
        assert err < 5 * sigma + 1e-12, f"{rule} {name}: error {err:.3g} vs 5σ = {5 * sigma:.3g}"
        assert err < 0.5 * np.linalg.norm(dw), f"{rule} {name}: the update is lost in noise"


def test_unidirectional_fires_only_potentiation_and_refresh_keeps_weights():
    net, r = make("bp+unidirectional", refresh_every=1, refresh_threshold=0.3)
    x, y = batch(n=64)
    for _ in range(5):
        r.step(net, x, y)
    resets = 0
    for t in net.all_tiles():                     # depression counts hold only the reset pulses
        np.testing.assert_array_equal(t.pulse_counts[1], t.pulse_counts[3])
        resets += t.pulse_counts[1].sum()
    assert sum(t.pulse_counts[0].sum() + t.pulse_counts[2].sum() for t in net.all_tiles()) > 0
    assert r.schemes[0].refreshes > 0 and resets == r.schemes[0].refreshes
    tile = net.all_tiles()[0]
    tile.w_plus[...] = tile.params_plus["w_max"] * 0.95
    target = tile.get_weights()
    res = tile.refresh(0.9)
    assert res["refreshed"] > 0
    assert np.abs(tile.get_weights() - target).max() <= tile.dw_nominal + 1e-12


def test_rule_names_and_hyperparameters_are_checked():
    net, _ = make("bp")
    with pytest.raises(ValueError, match="unknown rule 'sgd'; rules: bp, .*schemes"):
        LR.build("sgd", net, 0.1)
    with pytest.raises(ValueError, match="unknown scheme 'decorr'"):
        LR.build("bp+decorr", net, 0.1)
    with pytest.raises(ValueError, match="alpha is not a hyperparameter of rule 'dfa'"):
        LR.build("dfa", net, 0.1, alpha=1)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        LR.build("bp", net, -1.0)
    with pytest.raises(ValueError, match="needs every layer in factorization 'eigen'"):
        LR.build("enn", net, 0.1)
    assert LR.requirements("dfa+decor+unidirectional") == {"factorization": None, "center": False,
                                                           "decorrelate": True, "pair": "unidirectional"}
    assert LR.requirements("bp+center")["center"] and not LR.requirements("bp+center")["decorrelate"]


def test_training_on_digits_learns():
    """A short run on the ideal device learns far above chance (fixed seed; full targets: slow test)."""
    from hwsim.workflow.experiment import run
    res = run("bp", "ideal", epochs=3, progress=False)
    assert res["test_accuracy"] > 0.8 and not res["diverged"]
    assert len(res["accuracy_per_epoch"]) == 3 and res["pulses"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("rule, target", [("bp", 0.95), ("dfa", 0.90), ("dfa_svd", 0.90), ("bp+center+decor", 0.90),
                                          ("dfa+center+decor", 0.90), ("enn", 0.90), ("enn_local", 0.90)])
def test_accuracy_targets_on_the_ideal_device(rule, target):
    """The float limit: ideal device and ideal periphery. Since a1cb4ba the ideal device keeps the default
    periphery (8-bit DAC/ADC, output noise) unless asked; with it dfa reached 0.875 and enn_local 0.797
    (bisected 2026-12-04). enn_local also lost accuracy when scale-aware factor updates became its default
    (de106f9): 0.735 here, 0.914 with rule.scale_aware=False — an open finding, not a tuned-away one."""
    from hwsim.workflow.experiment import run
    res = run(rule, "ideal", epochs=30, progress=False, sets={"periphery.preset": "ideal"})
    assert res["test_accuracy"] >= target


@pytest.mark.parametrize("rule", ["dfa_svd+center+decor", "dfa_svd+unidirectional", "enn+center+decor"])
def test_schemes_run_after_every_base_rule(rule):
    net, r = make(rule, **({"refresh_every": 1, "refresh_threshold": 0.05} if "unidirectional" in rule else {}))
    x, y = batch(n=32)
    before = {n: m.get_weights() for n, m in net.matrices.items()}
    stats = {}
    for _ in range(3):
        stats = r.step(net, x, y)
    if "decor" in rule:
        assert net.stages("center")[0].updates == 3 and stats["decor_pulses"] > 0
        assert net.stages("center")[0].mu.any()
        assert not np.array_equal(net.matrices["R0"].get_weights(), before["R0"])
    else:
        assert r.schemes[0].refreshes > 0
    assert r.steps == 3


@pytest.mark.parametrize("scale_aware", [True, False])
def test_scale_aware_factor_updates_do_not_depend_on_the_split(scale_aware):
    """W = U·diag(s)·Vᵀ is unchanged when U → c·U, s → s/c; the change of W that the U-update causes,
    ΔU·diag(s)·Vᵀ, is then the same with scale-aware updates and 1/c² times larger without (docs/rules.md)."""
    net, r = make("dfa_svd", (8, 6, 3), stiefel=False, ortho_weight=0.0, align_weight=0.0, scale_aware=scale_aware)
    x, y = batch()
    layer = net.layers[0]
    U, V = layer.matrices["U"], layer.matrices["V"]

    def dW_from_U():
        r.read_factor(layer, "U")
        dU = r.update_float(net, x, y)[U.name]
        return dU @ np.diag(layer.digital["s"]) @ V.get_weights()
    before, W = dW_from_U(), layer.effective_weight()
    c = 0.5
    U.set_weights(U.get_weights() * c)
    layer.digital["s"] = layer.digital["s"] / c
    after = dW_from_U()
    np.testing.assert_allclose(layer.effective_weight(), W, atol=1e-12)          # the same W, another split
    ratio = np.linalg.norm(after) / np.linalg.norm(before)
    if scale_aware:
        assert ratio == pytest.approx(1.0, rel=1e-3)
    else:
        assert ratio == pytest.approx(1 / c ** 2, rel=1e-3)
