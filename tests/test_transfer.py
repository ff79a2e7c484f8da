"""Transfer-based training (the Tiki-Taka family, learning_rules/transfer.py) and its hardware: the layer form
W = γ·A + C, the symmetry-point calibration of a tile, the transfers against their closed forms, the chopper's
cancellation of a constant offset, composition with the other rules and schemes, state and traces."""
import dataclasses

import numpy as np
import pytest

from hwsim import devices
from hwsim import learning_rules as LR
from hwsim.hardware.assembler import map_report, plan
from hwsim.hardware.layers import LayerSpec, mlp
from hwsim.hardware.network import Network
from hwsim.hardware.periphery import Periphery
from hwsim.hardware.tile import Tile
from hwsim.workflow import config as C
from hwsim.workflow.trainer import one_hot

IDEAL = devices.ideal_device()                                  # constant step 1e-4, ±1, no variation, no noise


def net_for(rule, device=IDEAL, periphery=None, sizes=(6, 5, 3), seed=0, activation="tanh"):
    req = LR.requirements(rule)
    return Network(mlp(list(sizes), activation, req["factorization"] or "dense"), device, periphery or Periphery.ideal(),
                   tile_rows=4, tile_cols=4, random_state=seed, pair=req["pair"], center=req["center"],
                   decorrelate=req["decorrelate"])


def batch(n=8, features=6, classes=3, seed=3):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, features)).astype(np.float32), one_hot(rng.integers(0, classes, n), classes)


# ---- the symmetry-point calibration ---------------------------------------------------------------------------
def test_calibration_reaches_the_closed_form_symmetry_point_and_counts_its_pulses():
    """Soft bounds without noise: a pair of pulses maps w to D(U(w)) with U(w) = a_u·w + s_u, a_u = 1 − s_u/w_max
    and D(w) = a_d·w − s_d, a_d = 1 − s_d/|w_min| (per device), whose fixed point is
    w* = (a_d·s_u − s_d)/(1 − a_d·a_u) — where alternating pulses leave each device. The reference is that
    state (G− = 0); after it is set, the pair reads 0. Every round pulses every device 2·pairs times; every
    round and the start read every device once."""
    dev = devices.SoftBounds(dw_min=0.01, up_down=0.3, dw_min_std=0.0, write_noise_std=0.0)
    tile = Tile(5, 7, dev, Periphery.ideal(), random_state=2)
    p = tile.params_plus
    a_u, a_d = 1 - p["scale_up"] / p["w_max"], 1 - p["scale_down"] / np.abs(p["w_min"])
    want = (a_d * p["scale_up"] - p["scale_down"]) / (1 - a_d * a_u)
    res = tile.calibrate_symmetry_point(pairs_per_round=50, max_rounds=100, reads=3)
    np.testing.assert_allclose(res["reference"], want, atol=1e-9)
    assert np.abs(want).max() > 10 * dev.dw_min                 # the asymmetry moved the symmetry point
    np.testing.assert_allclose(tile.get_weights(), 0.0, atol=1e-12)
    cells = tile.rows * tile.cols
    assert res["pulses"] == 2 * 50 * res["rounds"] * cells == tile.pulse_counts.sum()
    np.testing.assert_array_equal(tile.pulse_counts[0], tile.pulse_counts[1])     # up, down alternately
    assert res["cell_reads"] == tile.cell_reads == 2 * cells * (res["rounds"] + 1)
    assert res["rounds"] < 100                                   # it settled


def test_calibration_needs_the_reference_pair_mode():
    with pytest.raises(ValueError, match="pair mode 'plus'"):
        Tile(2, 2, IDEAL, pair="both").calibrate_symmetry_point()


# ---- the layer form ---------------------------------------------------------------------------------------------
def test_forward_reads_gamma_a_plus_c_and_updates_go_to_a():
    """W = γ·A·diag(chop) + C is what the forward and transposed reads compute; the form's only update request
    is A's, with the chopped input."""
    net = net_for("bp+tt2", sizes=(6, 5, 3))
    rule = LR.build("bp+tt2", net, 0.01, random_state=0, gamma=0.5, calibrate=False)
    rng = np.random.default_rng(1)
    layer = net.layers[0]
    A, Cm = layer.matrices["A"], layer.matrices["C"]
    A.set_weights(rng.uniform(-0.5, 0.5, A.shape))
    Cm.set_weights(rng.uniform(-0.5, 0.5, Cm.shape))
    layer.buffers["chop"][[1, 4]] = -1.0
    W = 0.5 * A.get_weights() * layer.buffers["chop"] + Cm.get_weights()
    x, y = batch()
    h = layer.forward(x)
    np.testing.assert_allclose(layer.cache.a, np.c_[x, np.ones(len(x))] @ W.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.effective_weight(), W[:, :-1])
    np.testing.assert_allclose(layer.effective_bias(), W[:, -1])
    delta = rng.uniform(-1, 1, h.shape).astype(np.float32)
    signals, digital, gx = layer.signals(delta)
    np.testing.assert_allclose(gx, delta @ W[:, :-1], rtol=1e-5, atol=1e-6)
    assert [s.role for s in signals] == ["A"] and digital == {}
    np.testing.assert_allclose(signals[0].x, np.c_[x, np.ones(len(x))] * layer.buffers["chop"], rtol=1e-6)
    assert rule.schemes[0].gamma == 0.5


def test_gamma_zero_reads_only_c():
    net = net_for("bp+tt2")
    LR.build("bp+tt2", net, 0.01, random_state=0, calibrate=False)
    before = [t.read_vectors for t in net.matrices["A0"].all_tiles()]
    net.forward(batch()[0])
    assert [t.read_vectors for t in net.matrices["A0"].all_tiles()] == before


def test_plan_and_map_list_a_and_c_of_the_dense_shape():
    specs = mlp([64, 32, 10], factorization=LR.requirements("bp+ctt2")["factorization"])
    names = [(m.name, m.role, m.rows, m.cols) for m in plan(specs, 32, 32)]
    assert names == [("A0", "A", 32, 65), ("C0", "C", 32, 65), ("A1", "A", 10, 33), ("C1", "C", 10, 33)]
    rows = map_report(specs, 32, 32)
    assert [r["params"] for r in rows] == [2080, 2080, 330, 330] == [r["dense_params"] for r in rows]
    with pytest.raises(ValueError, match="rank is only for factorization"):
        LayerSpec(8, 4, factorization="transfer", rank=2)


# ---- the transfers ----------------------------------------------------------------------------------------------
def test_tt1_transfer_moves_a_column_into_c_with_mean_lambda_a():
    """TT-v1 on the ideal device: a transfer of column k is a stochastic pulsed update of C with x = e_k and
    d = −a_k, so E[ΔC[:, k]] = λ·A[:, k] and the other columns stay. Pulse counts are sums of independent
    coincidences (binomial, BL = 31 trains): over K transfers the error of the mean is ≤ 4σ with
    σ = sqrt(K·BL·p·(1 − p))·dw per device."""
    net = net_for("bp+tt1", sizes=(6, 16, 3))
    lam, K, k = 0.004, 60, 2
    rule = LR.build("bp+tt1", net, 0.01, random_state=0, transfer_lr=lam, calibrate=False)
    layer = net.layers[0]
    A, Cm = layer.matrices["A"], layer.matrices["C"]
    a = np.linspace(-0.5, 0.5, A.rows)
    M = np.zeros(A.shape)
    M[:, k] = a
    A.set_weights(M)
    C0 = Cm.get_weights()
    pulses = 0
    for _ in range(K):
        layer.buffers["next"] = np.int64(k)
        p, reads, _ = rule.schemes[0].transfer(layer, 1)
        pulses += p
        assert reads == 1
    dC = Cm.get_weights() - C0
    want = K * lam * a
    dw, bl = IDEAL.dw_min, rule.update.bl
    gain = lam / (bl * dw)
    prob = gain * np.abs(a)                           # p_x·p_d under update management (x_max = 1, d_max = max|a|)
    sigma = np.sqrt(K * bl * prob * (1 - prob)) * dw
    assert np.all(np.abs(dC[:, k] - want) <= 4 * sigma + 1e-12), (dC[:, k] - want) / np.maximum(sigma, 1e-12)
    np.testing.assert_array_equal(np.delete(dC, k, axis=1), 0.0)
    assert pulses == int(round(np.abs(dC).sum() / dw)) == sum(t.pulse_counts.sum() for t in Cm.all_tiles())
    np.testing.assert_array_equal(A.get_weights(), M)                # reading A leaves it as it was


def test_tt2_buffer_accumulates_and_writes_only_past_the_threshold():
    """TT-v2: H[:, k] += λ·a_k; nothing is written while |H| < θ (θ = one pulse of C); at the crossing trunc(H/θ)
    pulses go to C and H keeps the remainder. λ·a = 0.4θ: reads 1 and 2 write nothing (H = 0.4θ, 0.8θ), read 3
    writes one pulse (H = 0.2θ); λ·a = −2.3θ writes −2 pulses at every read (max_transfer_pulses 4) and H
    holds −0.3θ, −0.6θ, −0.9θ."""
    net = net_for("bp+tt2", sizes=(6, 4, 3))
    lam = 0.1
    rule = LR.build("bp+tt2", net, 0.01, random_state=0, transfer_lr=lam, calibrate=False, max_transfer_pulses=4)
    scheme, layer = rule.schemes[0], net.layers[0]
    A, Cm = layer.matrices["A"], layer.matrices["C"]
    theta = Cm.granularity
    k = 3
    M = np.zeros(A.shape)
    M[:, k] = np.array([0.4, -2.3, 0.0, 0.4]) * theta / lam
    A.set_weights(M)
    C0 = Cm.get_weights()
    written = []
    for _ in range(3):
        layer.buffers["next"] = np.int64(k)
        written.append(scheme.transfer(layer, 1)[0])
        if len(written) == 1:
            np.testing.assert_allclose(layer.buffers["H"][:, k] / theta, [0.4, -0.3, 0.0, 0.4], atol=1e-6)
            np.testing.assert_allclose((Cm.get_weights() - C0)[:, k] / theta, [0, -2, 0, 0], atol=1e-6)
    np.testing.assert_allclose(layer.buffers["H"][:, k] / theta, [0.2, -0.9, 0.0, 0.2], atol=1e-6)
    np.testing.assert_allclose((Cm.get_weights() - C0)[:, k] / theta, [1, -6, 0, 1], atol=1e-6)
    assert written == [2, 2, 4]                                   # pulses on C per transfer
    np.testing.assert_array_equal(np.delete(layer.buffers["H"], k, axis=1), 0.0)


@pytest.mark.parametrize("rule", ["bp+ctt2", "bp+tt2"])
def test_chopper_cancels_the_drift_of_a_constant_asymmetry(rule):
    """A's devices are asymmetric (soft bounds, up_down = 0.3: their symmetry point sits off the reference), and
    A takes zero-mean random updates, so it hovers at a constant offset b from its reference. Without a
    chopper the transfers carry that offset into C: per chopper period of 2·P reads a device drifts by
    ≈ 2·P·λ·b/θ pulses (tt2). With regular choppers (P reads per sign) the offset enters H with alternating
    signs and the net drift over a period — net pulses written into C plus the change of H, in pulses (C's
    own asymmetric response is not the question here) — is zero in expectation. Statistical test over the 32 × 17 devices of A and C and 8 periods: |mean drift| ≤ 4 standard
    errors for ctt2; for tt2 the drift is > 10 standard errors, of the sign of b, and within 4 standard errors
    of 2·P·λ·b/θ (b: A's mean offset after the settling updates)."""
    dev = devices.SoftBounds(dw_min=0.002, up_down=0.3, dw_min_std=0.3, write_noise_std=0.0)
    net = net_for(rule, dev, Periphery(), sizes=(16, 32, 3))
    lam, P = 0.05, 2
    extra = {"chop_prob": 1.0 / P, "chop_random": False} if rule == "bp+ctt2" else {}
    r = LR.build(rule, net, 0.05, random_state=0, transfer_lr=lam, calibrate=False, max_transfer_pulses=64,
                 **extra)
    scheme, layer = r.schemes[0], net.layers[0]
    A, Cm = layer.matrices["A"], layer.matrices["C"]
    rng = np.random.default_rng(5)

    def random_updates(n):
        for _ in range(n):                                       # zero-mean updates onto A, chopped inputs
            x = rng.uniform(-1, 1, (8, A.cols)).astype(np.float32) * layer.buffers["chop"].astype(np.float32)
            A.pulsed_update(x, rng.uniform(-1, 1, (8, A.rows)).astype(np.float32), 0.05, r.update)

    def written():                                               # net pulses on C: potentiation − depression
        out = np.zeros(Cm.shape)
        for rs, cs, t in Cm.blocks():
            out[rs, cs] = t.pulse_counts[0] - t.pulse_counts[1]
        return out

    random_updates(300)                                           # A settles at its offset b
    b = A.get_weights().mean()
    theta = Cm.granularity
    state = written() + layer.buffers["H"] / theta
    periods = 8
    for _ in range(periods * 2 * P):                              # every column read 2·P times per period
        random_updates(1)
        scheme.transfer(layer, A.cols)
    drift = (written() + layer.buffers["H"] / theta - state) / periods
    se = drift.std() / np.sqrt(drift.size)
    assert abs(b) > 10 * dev.dw_min
    if rule == "bp+ctt2":
        assert abs(drift.mean()) <= 4 * se, (drift.mean(), se)
    else:
        assert drift.mean() * np.sign(b) > 10 * se, (drift.mean(), se, b)
        assert abs(drift.mean() - 2 * P * lam * b / theta) <= 4 * se, (drift.mean(), 2 * P * lam * b / theta, se)


def test_agad_reference_follows_the_reads_and_removes_an_offset():
    """AGAD with regular choppers (n = 2 reads per sign, β = min(tail_weight/n, 1) = 1): the reference p of a
    column becomes its last read when its chopper flips; H takes c·(a − p). A constant A (no updates) therefore
    gives zero signal once the first period is over, whatever A's offset: nothing is written."""
    net = net_for("bp+agad", sizes=(6, 4, 3), periphery=Periphery.ideal())
    r = LR.build("bp+agad", net, 0.01, random_state=0, chop_prob=0.5, transfer_lr=1.0)
    scheme, layer = r.schemes[0], net.layers[0]
    A, Cm = layer.matrices["A"], layer.matrices["C"]
    A.set_weights(np.full(A.shape, 0.3))
    C0 = Cm.get_weights()
    for i in range(12):
        scheme.transfer(layer, A.cols)
    np.testing.assert_allclose(layer.buffers["ref"], 0.3, atol=1e-6)
    np.testing.assert_allclose(layer.buffers["H"], 0.0, atol=1e-6)
    np.testing.assert_array_equal(Cm.get_weights(), C0)
    assert set(np.unique(layer.buffers["col_reads"])) == {12}
    # a step of A (below the threshold) after the warm-up shows up in H as λ·c·Δa
    step = 0.5 * Cm.granularity
    A.set_weights(np.full(A.shape, 0.3 + step))
    H0 = layer.buffers["H"].copy()
    chop = layer.buffers["chop"].copy()
    scheme.transfer(layer, A.cols)
    np.testing.assert_allclose(layer.buffers["H"] - H0, np.broadcast_to(step * chop, H0.shape), atol=1e-7)
    np.testing.assert_array_equal(Cm.get_weights(), C0)


# ---- composition, errors, configs -------------------------------------------------------------------------------
def test_requirements_and_conflicts():
    assert LR.requirements("dfa+ctt2") == {"factorization": "transfer", "center": False, "decorrelate": False,
                                           "pair": "plus"}
    assert LR.requirements("bp+decor+agad")["decorrelate"]
    with pytest.raises(ValueError, match="alternatives"):
        LR.parse("bp+tt1+tt2")
    with pytest.raises(ValueError, match="factorization"):
        LR.parse("dfa_svd+tt2")
    with pytest.raises(ValueError, match="pair"):
        LR.parse("bp+tt2+unidirectional")
    with pytest.raises(ValueError, match="form 'transfer'"):
        LR.build("bp+tt2", net_for("bp"), 0.1)


def test_config_validates_the_transfer_hyperparameters():
    cfg = C.load(sets={"rule.name": "bp+ctt2", "rule.chop_prob": 0.2, "rule.transfer_lr": 0.5})
    assert cfg.rule["chop_prob"] == 0.2
    with pytest.raises(C.ConfigError, match="rule.chop_prob"):
        C.load(sets={"rule.name": "bp+ctt2", "rule.chop_prob": 1.5})
    with pytest.raises(C.ConfigError, match="rule.tail_weight"):
        C.load(sets={"rule.name": "bp+ctt2", "rule.tail_weight": 2.0})     # an AGAD parameter
    with pytest.raises(C.ConfigError, match="network.rank"):
        C.load(sets={"rule.name": "bp+tt2", "network.rank": 4})
    assert [s.factorization for s in cfg.layer_specs()] == ["transfer", "transfer"]


@pytest.mark.parametrize("rule", ["bp+tt1", "bp+tt2", "bp+ctt2", "bp+agad", "dfa+ctt2", "bp+decor+ctt2"])
def test_every_transfer_rule_steps_and_reports_its_transfers(rule):
    net = net_for(rule, devices.get_device("soft-bounds"), Periphery(), sizes=(6, 5, 3))
    r = LR.build(rule, net, 0.1, random_state=0, transfer_every=2)
    A0 = net.matrices["A0"].get_weights()
    x, y = batch()
    stats = [r.step(net, x, y) for _ in range(3)]
    assert all(np.isfinite(s["loss"]) for s in stats)
    assert not np.allclose(net.matrices["A0"].get_weights(), A0)          # the gradient went to A
    reads = sum(s.get("transfer_reads", 0) for s in stats)
    assert reads == 3 * 2 * (len(x) // 2)          # per step batch/transfer_every columns of each layer's A
    pulses = sum(s.get("transfer_pulses", 0) for s in stats)
    c_pulses = sum(t.pulse_counts.sum() for m in ("C0", "C1") for t in net.matrices[m].all_tiles())
    assert pulses == c_pulses                                    # C is written by the transfers only
    cal = stats[0].get("calibration_pulses", 0)
    a_calibrated = LR.hyperparameters(rule)["calibrate"].default
    assert (cal > 0) == a_calibrated


def test_calibration_pulses_are_in_the_tiles_and_the_cost():
    from hwsim.hardware.cost import coefficients, network_cost
    dev = devices.get_device("reram-sb")
    net = net_for("bp+tt2", dev, Periphery(), sizes=(6, 5, 3))
    before = network_cost(net, coefficients(dev, {}))["total"]["pulses"]
    r = LR.build("bp+tt2", net, 0.1, random_state=0)
    cal = r.schemes[0].pending["calibration_pulses"]
    after = sum(t.pulse_counts.sum() for t in net.all_tiles())
    assert cal > 0 and after - before == cal
    assert sum(t.pulse_counts.sum() for m in ("C0", "C1") for t in net.matrices[m].all_tiles()) == 0
    stats = r.step(net, *batch())
    assert stats["calibration_pulses"] == cal and stats["calibration_reads"] > 0
    assert "calibration_pulses" not in r.step(net, *batch())     # reported once


def test_training_and_traces_report_transfers_per_epoch(tmp_path):
    """digits, batch 64, one column per sample: 22 steps of 64 samples and one of 30 per epoch; a step reads
    min(batch, columns) columns of A0 (65 columns) and of A1 (9)."""
    from hwsim.workflow.experiment import run
    from hwsim.workflow.trace import Trace
    path = str(tmp_path / "t.h5")
    res = run("bp+ctt2", "soft-bounds", hidden=(8,), epochs=2, batch_size=64, lr=0.5, progress=False,
              trace_path=path)
    per_epoch = 22 * (64 + 9) + (30 + 9)
    assert res["transfer_reads"] == 2 * per_epoch
    with Trace(path) as t:
        met = t.metrics()
        assert list(met["transfer_reads"]) == [per_epoch, per_epoch]
        assert met["transfer_pulses"].sum() == res["transfer_pulses"] > 0
        assert {"A0", "C0", "A1", "C1"} <= set(t.matrices())
        cost = t.f["cost"]["tiles"]
        assert cost["C0.0"]["pulses"][-1] == res["transfer_pulses"] - sum(
            cost[k]["pulses"][-1] for k in cost if k.startswith("C") and k != "C0.0")
        net = t.network()
        assert net.layers[0].buffers["H"].shape == (8, 65)
