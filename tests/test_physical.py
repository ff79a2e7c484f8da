"""Write noise against its closed form, and conductances that stay physical (never below 0 S) on every preset."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import devices
from hwsim.devices.presets import PRESETS
from hwsim.hardware.periphery import Periphery
from hwsim.hardware.tile import Tile
from hwsim.learning_rules.interface import UpdateParameters

SIGMA_W = 3.0          # write noise in units of dw_min
DW = 0.01


def _device(write_noise):
    return devices.ConstantStep(dw_min=DW, dw_min_dtod=0, dw_min_std=0.2, up_down_dtod=0, w_min_dtod=0,
                                w_max_dtod=0, w_min=-1.0, w_max=1.0, write_noise_std=write_noise)


def test_write_noise_has_its_closed_form_and_leaves_the_stored_state_alone():
    """Pulsed devices: apparent − stored ~ N(0, (σ_w·dw_min)²) (mid-range, so the bounds never clip); devices
    not pulsed keep offset 0; the stored state is the one a device without write noise reaches on the same
    draws. The sample variance of n draws has relative std sqrt(2/n): tolerance 5 of those."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (8, 64)) * (rng.random((8, 64)) < 0.5)
    d = rng.uniform(-1, 1, (8, 64))
    noisy = Tile(64, 64, _device(SIGMA_W), Periphery.ideal(), random_state=3)
    clean = Tile(64, 64, _device(0.0), Periphery.ideal(), random_state=3)
    for t in (noisy, clean):
        t.update(x, d, lr=0.02)
    np.testing.assert_array_equal(noisy.w_plus, clean.w_plus)
    np.testing.assert_array_equal(noisy.pulse_counts, clean.pulse_counts)
    pulsed = noisy.pulse_counts[:2].sum(axis=0) > 0
    assert 500 < pulsed.sum() < pulsed.size                       # some devices pulsed, some not
    off = noisy.offset_plus[pulsed]
    n = off.size
    assert abs(off.var() / (SIGMA_W * DW) ** 2 - 1) < 5 * np.sqrt(2 / n)
    assert abs(off.mean()) < 5 * SIGMA_W * DW / np.sqrt(n)
    assert np.all(noisy.offset_plus[~pulsed] == 0) and np.all(noisy.offset_minus == 0)
    np.testing.assert_allclose(noisy.get_weights(), clean.get_weights() + noisy.offset_plus)


def test_counted_updates_redraw_write_noise_and_reads_see_it():
    t = Tile(32, 32, _device(SIGMA_W), Periphery.ideal(), random_state=1)
    n = np.random.default_rng(2).integers(-3, 4, (32, 32))
    t.update_pulses(n)
    pulsed = n != 0
    off = t.offset_plus[pulsed]
    assert abs(off.var() / (SIGMA_W * DW) ** 2 - 1) < 5 * np.sqrt(2 / off.size)
    assert np.all(t.offset_plus[~pulsed] == 0)
    x = np.random.default_rng(3).uniform(-1, 1, (5, 32))
    np.testing.assert_allclose(t.forward(x), x @ t.get_weights().T, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="write_noise_std must be a finite number in"):
        _device(-1.0)


def test_presets_carry_the_cited_write_noise():
    assert PRESETS["reram-sb"].device.write_noise_std == 56.0
    assert PRESETS["reram-es"].device.write_noise_std == 75.0
    p = devices.get_device("reram-sb").sample((1000,), 0)
    np.testing.assert_allclose(p["write_noise"], 56.0 * 0.002)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_sampled_devices_never_map_below_zero_siemens(name):
    dev = PRESETS[name].device
    p = dev.sample((20000,), 0)
    assert dev.conductance(p["w_min"]).min() >= 0.0
    assert np.all(p["w_min"] <= 0) and np.all(p["w_max"] >= 0)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(name=st.sampled_from(sorted(PRESETS)), pair=st.sampled_from(["plus", "unidirectional", "both"]),
       seed=st.integers(0, 2**31 - 1), data=st.data())
def test_no_negative_conductance_after_random_pulse_sequences(name, pair, seed, data):
    """Every preset, every pair mode, ~10⁴ random pulses per device (stochastic and counted updates mixed):
    every conductance — apparent, write noise included — within its device's [G(w_min), G(w_max)] and >= 0."""
    dev = PRESETS[name].device
    tile = Tile(6, 5, dev, Periphery.ideal(), random_state=seed, pair=pair)
    rng = np.random.default_rng(seed)
    lo_p, hi_p = dev.conductance(tile.params_plus["w_min"]), dev.conductance(tile.params_plus["w_max"])
    lo_m, hi_m = dev.conductance(tile.params_minus["w_min"]), dev.conductance(tile.params_minus["w_max"])
    big = UpdateParameters(bl=64)
    for _ in range(data.draw(st.integers(5, 12), label="steps")):
        if data.draw(st.booleans(), label="counted"):
            tile.update_pulses(rng.integers(-1000, 1001, (6, 5)))
        else:
            tile.update(rng.uniform(-1, 1, (16, 5)), rng.uniform(-1, 1, (16, 6)), lr=1e3, params=big)
        gp, gm = tile.conductances()
        assert gp.min() >= 0 and gm.min() >= 0
        assert np.all((gp >= lo_p - 1e-18) & (gp <= hi_p + 1e-18))
        assert np.all((gm >= lo_m - 1e-18) & (gm <= hi_m + 1e-18))
    assert tile.pulse_counts.sum() > 5000
