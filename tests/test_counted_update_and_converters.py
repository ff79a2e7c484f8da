"""The counted update and the converters against plain NumPy references on the same random draws.

``counted_update`` (every pair mode, stuck devices, cycle-to-cycle noise on G+ and G− from their own
streams) and ``dac``/``adc`` (abs-max scaling on and off, input and output ranges other than 1, bit depths
including 0 = ideal) are compared with ``tests.reference`` to 1e-12 (device states) or exactly up to float32
(converters; the normal draws agree to 1e-14, see test_device_kernels), and ``Tile.forward`` on an ideal
device is compared with reference DAC → float32 MVM → reference ADC.
"""
import numpy as np
import pytest

from hwsim import devices
from hwsim.devices.rng import stream_key
from hwsim.hardware.periphery import Periphery, adc, dac, quantize
from hwsim.hardware.tile import Tile

from . import reference as ref

IDEAL_DEVICE = devices.ConstantStep(dw_min=1e-4, dw_min_dtod=0, dw_min_std=0, up_down_dtod=0, w_min_dtod=0,
                                    w_max_dtod=0, w_min=-10.0, w_max=10.0)

COUNTED_DEVICES = {
    # stuck devices on both sides of the pair, device-to-device spread, c2c noise
    "soft-bounds-stuck": devices.SoftBounds(dw_min=0.01, stuck_min_frac=0.1, stuck_max_frac=0.1),
    "linear-additive": devices.LinearStep(dw_min=0.01, gamma_up=0.4, gamma_down=0.2, mult_noise=False),
    "exp-add-noise": devices.ExpStep(dw_min=0.01, dw_min_std_add=0.005),
    "exp-slope-noise": devices.ExpStep(dw_min=0.01, dw_min_std_slope=0.02),
    "pow": devices.PowStep(dw_min=0.01, pow_gamma=1.5, pow_up_down=0.2),
    "neurosim": devices.NeuroSim(nonlinearity_dtod=0.3, c2c_std=0.01),
    "piecewise": devices.Piecewise(step_dtod=0.2, c2c_std=0.01),
    "discrete": devices.ConstantStep(dw_min=0.08, n_states=16, dw_min_std=0.1),
    "write-noise": devices.SoftBounds(dw_min=0.01, write_noise_std=0.5),
}


@pytest.mark.parametrize("pair", ["plus", "unidirectional", "both"])
@pytest.mark.parametrize("name", list(COUNTED_DEVICES))
def test_counted_update_equals_numpy_reference(pair, name):
    device = COUNTED_DEVICES[name]
    tile = Tile(9, 11, device, Periphery.ideal(), random_state=5, tile_id=1, pair=pair)
    # the additive fast path draws once per run (same distribution, other draws: tests/test_fast_runs.py)
    tile.per_pulse = name == "linear-additive"
    if name == "write-noise":
        assert (tile.params_plus["write_noise"] > 0).all()
    if name == "soft-bounds-stuck":
        assert (tile.params_plus["stuck"] != 0).any() and (tile.params_minus["stuck"] != 0).any()
    rng = np.random.default_rng(6)
    for step in range(4):
        n = rng.integers(-6, 7, size=(9, 11))
        key = stream_key(tile.keys["pulses"], tile.steps)
        want = ref.counted_update(tile, n, key)
        fired = tile.update_pulses(n)
        np.testing.assert_allclose(tile.w_plus, want[0], rtol=1e-12, atol=1e-12, err_msg=f"G+ step {step}")
        np.testing.assert_allclose(tile.w_minus, want[1], rtol=1e-12, atol=1e-12, err_msg=f"G- step {step}")
        np.testing.assert_array_equal(tile.pulse_counts, want[2])
        np.testing.assert_allclose(tile.offset_plus, want[3], rtol=1e-12, atol=1e-12, err_msg=f"off+ {step}")
        np.testing.assert_allclose(tile.offset_minus, want[4], rtol=1e-12, atol=1e-12, err_msg=f"off- {step}")
        assert fired == np.abs(n).sum() * (2 if pair == "both" else 1)
    moved_m = not np.array_equal(tile.w_minus, Tile(9, 11, device, Periphery.ideal(), random_state=5,
                                                        pair=pair).w_minus)
    assert moved_m == (pair != "plus")       # G− is the fixed reference only in "plus" mode


# ---- converters ---------------------------------------------------------------------------------------------
CONVERTER_CASES = [  # bits, full scale, abs-max
    (0, 1.0, False), (0, 0.5, True), (2, 1.0, False), (4, 0.5, False), (6, 3.0, False), (8, 0.5, True),
    (8, 3.0, True), (5, 1.0, True), (12, 2.0, False),
]


@pytest.mark.parametrize("bits, full_scale, abs_max", CONVERTER_CASES)
def test_dac_equals_numpy_reference(bits, full_scale, abs_max):
    rng = np.random.default_rng(bits)
    x = rng.uniform(-4, 4, (40, 17)) * rng.uniform(0.001, 1, (40, 1))     # rows of very different sizes
    x[3] = 0.0                                                             # an all-zero row keeps scale 1
    got, scales = dac(x, bits, full_scale, abs_max)
    want, want_scales = ref.dac(x, bits, full_scale, abs_max)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(scales, want_scales)
    np.testing.assert_array_equal(got, want)
    # the levels: at most 2^b − 1 distinct values, all within ±full_scale
    assert np.abs(got).max() <= np.float32(full_scale)
    if bits:
        assert len(np.unique(got)) <= 2 ** bits - 1
        np.testing.assert_array_equal(got, quantize(x / scales[:, None], bits, full_scale).astype(np.float32))
    if abs_max:      # every nonzero row reaches full scale exactly (its abs-max element)
        np.testing.assert_allclose(np.abs(got[np.arange(40) != 3]).max(axis=1), full_scale, rtol=1e-7)
        np.testing.assert_allclose(scales[np.arange(40) != 3], np.abs(x).max(axis=1)[np.arange(40) != 3]
                                   / full_scale, rtol=1e-15)
    else:            # inputs beyond the range saturate
        assert np.all(scales == 1.0) and np.isclose(np.abs(got).max(), full_scale)


@pytest.mark.parametrize("bits, full_scale, noise", [(0, 1.0, 0.0), (0, 12.0, 0.3), (3, 1.0, 0.0),
                                                    (6, 0.5, 0.05), (8, 3.0, 0.2), (10, 12.0, 0.06)])
def test_adc_equals_numpy_reference(bits, full_scale, noise):
    rng = np.random.default_rng(10 + bits)
    y = (rng.normal(0, 1, (30, 23)) * full_scale).astype(np.float32)     # some beyond ±full_scale
    scales = rng.uniform(0.1, 3, 30)
    key = np.uint64(rng.integers(0, 2**63))
    want = ref.adc(y, scales, bits, full_scale, noise, key)
    got = adc(y.copy(), scales, bits, full_scale, noise, key)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7 * full_scale)
    if not noise:
        assert np.isclose(np.abs(got / scales[:, None]).max(), full_scale)      # saturation
    if bits:
        k = got / scales[:, None] / ref.converter_step(bits, full_scale)
        np.testing.assert_allclose(k, np.rint(k), atol=1e-4)


@pytest.mark.parametrize("per", [
    Periphery(dac_bits=0, adc_bits=0, input_scaling="none", output_noise=0.0, output_range=1e9),
    Periphery(dac_bits=6, adc_bits=7, input_range=0.5, input_scaling="none", output_range=3.0, output_noise=0.0),
    Periphery(dac_bits=6, adc_bits=7, input_range=3.0, input_scaling="none", output_range=5.0, output_noise=0.1),
    Periphery(dac_bits=8, adc_bits=8, input_range=0.5, input_scaling="abs-max", output_range=4.0),
    Periphery(dac_bits=5, adc_bits=0, input_range=3.0, input_scaling="abs-max", output_range=12.0,
              output_noise=0.02),
    Periphery(dac_bits=0, adc_bits=9, input_range=1.0, input_scaling="abs-max", output_range=2.0),
], ids=["ideal", "r0.5-none", "r3-none-noise", "r0.5-absmax", "r3-absmax-noise", "r1-absmax-dac0"])
def test_forward_equals_reference_converters(per):
    """Tile.forward on an ideal device = reference DAC → x_q·Wᵀ in float32 → reference ADC (same noise
    key: the read's sub-stream 0); backward likewise with Wᵀ."""
    rng = np.random.default_rng(7)
    tile = Tile(12, 10, IDEAL_DEVICE, per, random_state=0)
    W = rng.uniform(-1, 1, (12, 10))
    tile.set_weights(W)
    W32 = tile.get_weights().astype(np.float32)
    for transpose, n_in in ((False, 10), (True, 12)):
        x = rng.uniform(-2, 2, (25, n_in)) * rng.uniform(0.01, 1.5, (25, 1))
        key = stream_key(tile.keys["reads"], tile.reads, 0)
        xq, s = ref.dac(x, per.dac_bits, per.input_range, per.input_scaling == "abs-max")
        y = xq @ W32 if transpose else xq @ W32.T
        want = ref.adc(y, s, per.adc_bits, per.output_range, per.output_noise, key)
        got = tile.backward(x) if transpose else tile.forward(x)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("input_range", [0.5, 1.0, 3.0])
def test_abs_max_scaling_is_undone_digitally(input_range):
    """With abs-max scaling the result is W·x for any input range: the DAC sees x/s, s = max|x|/range, and
    the ADC multiplies by s. Error bound per output: s·(Σ_j |W_ij|·dac_step/2 + adc_step/2)."""
    per = Periphery(dac_bits=8, adc_bits=10, input_range=input_range, input_scaling="abs-max",
                    output_range=4.0 * input_range, output_noise=0.0)
    rng = np.random.default_rng(8)
    tile = Tile(6, 9, IDEAL_DEVICE, per, random_state=0)
    W = rng.uniform(-0.5, 0.5, (6, 9))
    tile.set_weights(W)
    x = rng.uniform(-1, 1, (30, 9)) * 10.0 ** rng.uniform(-3, 1, (30, 1))
    s = np.abs(x).max(axis=1) / input_range
    bound = s[:, None] * (np.abs(W).sum(axis=1)[None, :] * ref.converter_step(8, input_range) / 2
                          + ref.converter_step(10, 4.0 * input_range) / 2) * 1.001 + 1e-9
    err = np.abs(tile.forward(x) - x @ W.T)
    assert np.all(err <= bound)
    assert err.max() > 0                        # the converters do quantise


def test_periphery_bounds_and_solver_choice():
    """Bit depths 0 and 2…24 are valid, 1 and 25 (and bools) are not; "auto" solves exactly up to
    exact_max_cells devices (inclusive); no wire resistance, no solver."""
    for bits in (0, 2, 24):
        Periphery(dac_bits=bits, adc_bits=bits)
    for bits in (1, 25, True, 2.0):
        with pytest.raises(ValueError, match="dac_bits"):
            Periphery(dac_bits=bits)
        with pytest.raises(ValueError, match="adc_bits"):
            Periphery(adc_bits=bits)
    for field, bad in (("input_range", 0.0), ("output_range", -1.0), ("output_noise", -0.1), ("read_voltage", 0.0),
                       ("wire_resistance", -1.0), ("input_scaling", "max"), ("ir_drop_solver", "spice")):
        with pytest.raises(ValueError, match=field):
            Periphery(**{field: bad})
    Periphery(output_noise=0.0, wire_resistance=0.0)
    Periphery(exact_max_cells=1, output_noise=0.0)
    with pytest.raises(ValueError, match="exact_max_cells"):
        Periphery(exact_max_cells=True)
    per = Periphery(wire_resistance=1.0, exact_max_cells=100)
    assert per.solver_for(100) == "exact" and per.solver_for(101) == "first-order"
    assert Periphery(wire_resistance=1.0, ir_drop_solver="first-order").solver_for(4) == "first-order"
    assert Periphery(wire_resistance=1.0, ir_drop_solver="exact").solver_for(10**6) == "exact"
    assert Periphery().solver_for(4) is None
    ideal = Periphery.ideal()
    assert (ideal.dac_bits, ideal.adc_bits, ideal.output_noise, ideal.input_scaling) == (0, 0, 0.0, "none")
    assert ideal.input_range >= 1e30 and ideal.output_range >= 1e30
