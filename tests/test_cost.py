"""The cost account: every read, write and digital operation a chip would pay for, and latency as a critical
path."""
import numpy as np
import pytest

from hwsim import devices, learning_rules
from hwsim.hardware.cost import coefficients, network_cost, sources
from hwsim.hardware.layers import mlp
from hwsim.hardware.network import Network
from hwsim.hardware.periphery import Periphery
from hwsim.workflow.trainer import one_hot


def _batch(n=16, features=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, features)).astype(np.float32), one_hot(rng.integers(0, classes, n), classes)


def _net(rule, device=None, sizes=(8, 6, 3), tile=16):
    req = learning_rules.requirements(rule)
    return Network(mlp(list(sizes), "tanh", req["factorization"] or "dense"), device or devices.ideal_device(),
                   Periphery(), tile, tile, random_state=0, pair=req["pair"], center=req["center"],
                   decorrelate=req["decorrelate"])


def test_read_backs_are_counted_as_one_hot_reads():
    net = _net("bp")
    m = net.matrices["W0"]
    t = m.all_tiles()[0]
    before = (t.read_vectors, t.adc_conversions, t.read_power_sum)
    m.read_back()
    gp, gm = t.conductances()
    volts = Periphery().read_voltage
    assert t.cell_reads == 2 * t.rows * t.cols
    assert t.read_vectors - before[0] == t.cols and t.adc_conversions - before[1] == t.rows * t.cols
    assert t.read_power_sum - before[2] == pytest.approx(((gp + gm) * volts ** 2).sum())


@pytest.mark.parametrize("transpose", [False, True])
def test_read_power_of_a_batch_is_the_sum_over_devices_of_g_v_squared(transpose):
    """After pulses (write-noise offsets nonzero), one read costs Σ_b Σ_ij (G+_ij + G−_ij)·V_bj² with V the
    DAC'd inputs in volts on the lines they drive (columns forward, rows backward)."""
    from hwsim.hardware.periphery import dac
    from hwsim.hardware.tile import Tile
    per = Periphery()
    t = Tile(5, 7, devices.get_device("reram-sb"), per, random_state=3)
    rng = np.random.default_rng(1)
    t.update(rng.uniform(0, 1, (4, 7)), rng.uniform(-1, 1, (4, 5)), lr=0.5)
    assert np.abs(t.offset_plus).max() > 0                  # the apparent states differ from the stored ones
    x = rng.uniform(-1, 1, (3, 5 if transpose else 7))
    before = t.read_power_sum
    t.backward(x) if transpose else t.forward(x)
    xq, _ = dac(x, per.dac_bits, per.input_range, per.input_scaling == "abs-max")
    volts = xq.astype(np.float64) * per.read_voltage / per.input_range
    gp, gm = t.conductances()
    g = (gp + gm).T if transpose else gp + gm               # (lines driven) along the last axis
    want = sum((g * v ** 2).sum() for v in volts)
    assert t.read_power_sum - before == pytest.approx(want, rel=1e-12)


def test_unidirectional_verify_reads_appear_in_the_read_count():
    net = _net("bp+unidirectional")
    rule = learning_rules.build("bp+unidirectional", net, 0.5, 1, refresh_every=1, refresh_threshold=0.05)
    x, y = _batch()
    stats = {}
    for _ in range(3):
        stats = rule.step(net, x, y)
    assert rule.schemes[0].refreshes > 0 and stats["refresh_pulses"] > 0
    assert sum(t.cell_reads for t in net.all_tiles()) > 0
    coeff = coefficients(net.device, {})
    assert network_cost(net, coeff)["total"]["cell_reads"] == sum(t.cell_reads for t in net.all_tiles())


def test_decorrelation_counts_its_read_backs_and_digital_operations():
    net = _net("bp+decor")
    rule = learning_rules.build("bp+decor", net, 0.1, 1)
    x, y = _batch(n=16)
    net.forward(x)
    macs = net.digital_macs
    reads = {s.matrix.name: sum(t.cell_reads for t in s.matrix.all_tiles()) for s in net.stages("decorrelation")}
    rule.schemes[0].after_step(net, rule)
    want = sum(16 * n * n + n ** 3 + 3 * n * n for n in (8, 6))        # C = zᵀz/B, C·R, κ term and scaling
    assert net.digital_macs - macs == want
    for s in net.stages("decorrelation"):
        n = s.matrix.rows
        assert sum(t.cell_reads for t in s.matrix.all_tiles()) - reads[s.matrix.name] == 2 * n * n
    assert net.trainable_parameters() == sum(sp.params for sp in net.specs) + 8 * 8 + 6 * 6


def test_dfa_feedback_and_softmax_are_digital_operations():
    net = _net("dfa")
    rule = learning_rules.build("dfa", net, 0.1, 1)
    x, y = _batch(n=16)
    rule.layer_signals(net, *_logits_error(net, x, y), y)
    # one hidden layer of 6: e·B (16·3·6) and δ = (e·B) ⊙ f′ (16·6)
    assert net.digital_macs == 16 * 3 * 6 + 16 * 6


def _logits_error(net, x, y):
    from hwsim.learning_rules.base import cross_entropy
    _, e = cross_entropy(net.forward(x), y)
    return (e,)


def test_stiefel_projection_reads_back_the_factors():
    net = _net("dfa_svd")
    rule = learning_rules.build("dfa_svd", net, 0.1, 1, ortho_every=1000)
    x, y = _batch()
    rule.step(net, x, y)
    for name in ("U0", "V0", "U1", "V1"):
        t = net.matrices[name].all_tiles()[0]
        assert t.cell_reads == 2 * t.rows * t.cols, name              # one read-back per step


def test_latency_of_a_slow_preset_is_at_least_its_pulse_width_per_update_step():
    dev = devices.get_device("ag-a-si")
    assert dev.pulse_width == 300e-6
    net = _net("bp", dev)
    rule = learning_rules.build("bp", net, 0.1, 1)
    x, y = _batch()
    steps = 4
    for _ in range(steps):
        rule.step(net, x, y)
    coeff = coefficients(dev, {})
    assert coeff["pulse_width"] == 300e-6 and sources(dev, {})["pulse_width"] == "device"
    total = network_cost(net, coeff)["total"]
    assert total["update_latency_s"] / steps >= 300e-6
    # BL slots per sample per update, layers one after another: 2 matrices × 31 × 16 slots per step
    assert total["update_latency_s"] == pytest.approx(steps * 2 * 31 * 16 * 300e-6)
    src = sources(devices.get_device("reram-sb"), {"pulse_energy": 1e-13})
    assert src["pulse_energy"] == "config" and src["pulse_width"] == "default"
    assert set(src.values()) == {"config", "default"}


def test_tiles_of_a_matrix_work_in_parallel():
    """A 20 × 30 matrix on 8 × 16 tiles (3 × 2 grid): its latency is one tile's, its energy the sum."""
    one = _net("bp", sizes=(29, 20), tile=64)        # W0 is 20 × 30 (bias column) on one tile
    many = _net("bp", sizes=(29, 20), tile=16)       # … on 2 × 2 tiles
    x, y = _batch(n=8, features=29, classes=20)
    for net in (one, many):
        learning_rules.build("bp", net, 0.1, 1).step(net, x, y)
    coeff = coefficients(devices.ideal_device(), {})
    a, b = network_cost(one, coeff)["total"], network_cost(many, coeff)["total"]
    assert len(many.all_tiles()) == 4
    assert b["update_latency_s"] == pytest.approx(a["update_latency_s"])
    assert b["read_latency_s"] == pytest.approx(a["read_latency_s"])
    assert b["adc_conversions"] > a["adc_conversions"]        # every tile converts its own outputs


def test_report_totals_equal_the_cost_account(tmp_path, capsys):
    """`hwsim report` sums per layer to exactly the trace's energy and latency account; areas follow the
    coefficients (an 8-line ADC share, 16 F² cells at 32 nm)."""
    import json

    from hwsim.apps.cli import main
    from hwsim.hardware.cost import tile_area
    path = str(tmp_path / "t.h5")
    assert main(["train", "--rule", "bp+center+decor", "--device", "ag-a-si", "--epochs", "2", "--hidden", "16",
                 "--tile-size", "40", "--set", "cost.adc_share=8", "--trace", path, "--quiet"]) == 0
    assert main(["report", path, "--json", "-o", str(tmp_path / "r.png")]) == 0
    rep = json.loads(capsys.readouterr().out)
    total = rep["total"]
    assert total["energy_J"] == pytest.approx(rep["account_energy_J"], rel=1e-9)
    assert total["latency_s"] == pytest.approx(rep["account_latency_s"], rel=1e-9)
    assert [r["layer"] for r in rep["layers"]] == [0, 1] and rep["digital"]["energy_J"] > 0
    coeff = rep["coefficients"]
    one = tile_area(40, 40, coeff)
    assert one["array_area_m2"] == pytest.approx(2 * 40 * 40 * 16 * (32e-9) ** 2)
    assert one["adc_area_m2"] == pytest.approx(2 * 5 * 1.5e-9)
    assert total["area_m2"] == pytest.approx(total["tiles"] * one["area_m2"])
    assert rep["layers"][0]["energy_per_inference_J"] > 0 and rep["steps"] == 2 * 45
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
