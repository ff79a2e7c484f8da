"""Mapping logical matrices onto tiles: split invariance, reports, factorised layers."""
import numpy as np
import pytest

from hwsim import devices
from hwsim.hardware.assembler import map_report
from hwsim.hardware.layers import LayerSpec, mlp
from hwsim.hardware.matrix import TiledMatrix
from hwsim.hardware.network import Network
from hwsim.hardware.periphery import Periphery

IDEAL = devices.ideal_device()


def test_split_does_not_change_the_forward_output():
    """A 300×300 layer on 128×128 tiles equals one 512×512 tile on an ideal device."""
    rng = np.random.default_rng(0)
    W = rng.uniform(-0.5, 0.5, (300, 300))
    x = rng.uniform(-1, 1, (7, 300))
    small = TiledMatrix("W", 300, 300, IDEAL, Periphery.ideal(), 128, 128, 0)
    big = TiledMatrix("W", 300, 300, IDEAL, Periphery.ideal(), 512, 512, 1)
    assert small.n_tiles == 9 and big.n_tiles == 1
    for m in (small, big):
        m.set_weights(W)
    np.testing.assert_allclose(small.forward(x), big.forward(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(small.backward(x[:, :300]), big.backward(x[:, :300]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(big.forward(x), x @ W.T, rtol=1e-4, atol=1e-4)


def test_split_updates_reach_every_tile():
    m = TiledMatrix("W", 20, 30, IDEAL, Periphery.ideal(), 8, 16, 0)
    before = m.get_weights()
    rng = np.random.default_rng(1)
    m.pulsed_update(rng.uniform(0, 1, (4, 30)), rng.uniform(-1, 1, (4, 20)), lr=0.01)
    changed = m.get_weights() != before
    for a in range(3):
        for b in range(2):
            assert changed[a * 8:(a + 1) * 8, b * 16:(b + 1) * 16].any()


def test_map_report_counts():
    rows = map_report(mlp([784, 256, 10]), 256, 256)
    w0 = rows[0]
    assert w0["shape"] == (256, 785) and w0["tiles"] == 4 and w0["devices"] == 2 * 256 * 785
    assert w0["utilization"] == pytest.approx(256 * 785 / (4 * 256 * 256))
    svd = map_report(mlp([64, 32, 10], factorization="svd", rank=8), 32, 32)
    names = [r["matrix"] for r in svd]
    assert names == ["V0", "U0", "V1", "U1"]
    assert svd[0]["params"] == 8 * (64 + 32 + 1) + 32 and svd[0]["dense_params"] == 32 * 65
    shared = map_report(mlp([32, 32, 32, 10], factorization="eigen"), 64, 64, shared_basis=True)
    assert [r["matrix"] for r in shared] == ["E32", "E10"]


def test_layer_spec_validation():
    with pytest.raises(ValueError, match="rank must be an integer in \\[1, 10\\]"):
        LayerSpec(64, 10, factorization="svd", rank=11)
    with pytest.raises(ValueError, match="activation must be one of"):
        LayerSpec(4, 4, activation="gelu")
    with pytest.raises(ValueError, match="do not chain"):
        Network([LayerSpec(4, 5), LayerSpec(6, 2)], IDEAL)


@pytest.mark.parametrize("factorization, shared", [("dense", False), ("svd", False), ("eigen", False),
                                                    ("eigen", True)])
def test_network_forward_equals_float_forward(factorization, shared):
    """Through the tiles (ideal device and periphery) = the float layers of ``effective_layers``, with centring
    (μ ≠ 0) and decorrelation folded into W and b."""
    specs = mlp([12, 9, 9, 4], "tanh", factorization)
    net = Network(specs, IDEAL, Periphery.ideal(), tile_rows=5, tile_cols=7, random_state=0,
                  shared_basis=shared, center=True, decorrelate=True)
    rng = np.random.default_rng(2)
    for stage in net.stages("center"):
        stage.mu, stage.updates = rng.uniform(0, 0.5, stage.mu.shape), 1
    for stage in net.stages("decorrelation"):      # an R that is not I
        stage.matrix.set_weights(0.9 * np.eye(stage.matrix.rows) + 0.08 * rng.uniform(-1, 1, stage.matrix.shape))
    x = rng.uniform(0, 1, (6, 12)).astype(np.float32)
    h = x.astype(np.float64)
    for layer, (W, b) in zip(net.layers, net.effective_layers()):
        a = h @ W.T + b
        h = np.tanh(a) if layer.spec.activation == "tanh" else a
    np.testing.assert_allclose(net.forward(x), h, rtol=1e-4, atol=1e-4)


def test_weight_fill_sets_a_digital_gain():
    m = TiledMatrix("W", 4, 4, IDEAL, Periphery.ideal(), 4, 4, 0)
    W = np.diag([0.1, -0.2, 0.05, 0.0])
    m.set_weights(W, fill=0.5)
    assert m.scale == pytest.approx(0.2 / 0.5)
    np.testing.assert_allclose(m.get_weights(), W, atol=1e-12)
    np.testing.assert_allclose(m.tiles[0][0].get_weights().max(), 0.25, atol=1e-12)
    np.testing.assert_allclose(m.forward(np.eye(4)), W.T, atol=1e-6)
