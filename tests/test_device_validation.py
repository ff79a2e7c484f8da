"""Every invalid parameter of every model raises a ValueError that names it; unknown names list known ones."""
import dataclasses

import pytest

from hwsim import devices
from hwsim.devices.presets import PRESETS

# (field, bad value) pairs beyond the generic non-number check
OUT_OF_RANGE = {
    "w_min": 0.1, "w_max": -0.1, "w_min_dtod": -0.1, "w_max_dtod": -1.0, "g_max": 0.0, "on_off_ratio": 0.5,
    "n_states": 1, "stuck_min_frac": 1.5, "stuck_max_frac": -0.1, "read_noise": -0.01, "write_noise_std": -1.0,
    "drift_nu": -0.1,
    "drift_nu_dtod": -0.1, "drift_t0": 0.0, "pulse_energy": -1e-12, "pulse_width": -1e-9, "pulse_voltage": -1.0,
    "dw_min": -0.1, "dw_min_dtod": -0.3,
    "dw_min_std": -0.3, "up_down": 1.0, "up_down_dtod": -0.01, "gamma_up": -0.5, "gamma_down": -0.5,
    "gamma_up_dtod": -0.05, "gamma_down_dtod": -0.05, "pow_gamma": 0.0, "pow_gamma_dtod": -0.1,
    "pow_up_down": -1.0, "pow_up_down_dtod": -0.1, "dw_min_std_add": -0.1, "dw_min_std_slope": -0.1,
    "A_up": 1e9, "A_down": -1e9, "a": 1e9, "b": -1e9, "n_states_ltd": -1, "nonlinearity_ltp": 9.5,
    "nonlinearity_ltd": -9.5, "nonlinearity_dtod": -0.1, "c2c_std": 1.5, "step_dtod": -0.1,
    "mean_bound_reference": 1, "mult_noise": "yes", "pulses_up": (0, 5, 3), "conductance_up": (1e-6, 2e-6, 1e-6),
    "pulses_down": (1, 2), "conductance_down": (1e-6,),
}
# soft-bounds fixes its gammas: any change is an error naming the field
SOFT_FIXED = {"gamma_up": 0.5, "gamma_down": 0.5, "gamma_up_dtod": 0.1, "gamma_down_dtod": 0.1,
              "mean_bound_reference": True}

CASES = [(name, f.name) for name, cls in devices.MODELS.items() for f in dataclasses.fields(cls)]


@pytest.mark.parametrize("model, field", CASES)
def test_non_number_is_rejected_with_its_name(model, field):
    with pytest.raises(ValueError, match=field):
        devices.get_model(model, **{field: "not-a-number"})


@pytest.mark.parametrize("model, field", CASES)
def test_out_of_range_is_rejected_with_its_name(model, field):
    bad = SOFT_FIXED.get(field, OUT_OF_RANGE[field]) if model == "soft-bounds" else OUT_OF_RANGE[field]
    with pytest.raises(ValueError, match=field):
        devices.get_model(model, **{field: bad})


def test_messages_state_the_allowed_range():
    with pytest.raises(ValueError, match=r"dw_min must be a finite number in \[1e-09, 1e\+06\], got -0.1"):
        devices.ConstantStep(dw_min=-0.1)
    with pytest.raises(ValueError, match=r"nonlinearity_ltp must be a finite number in \[-9, 9\], got 12"):
        devices.NeuroSim(nonlinearity_ltp=12)
    with pytest.raises(ValueError, match="w_min must be < w_max"):
        devices.ConstantStep(w_min=0.0, w_max=0.0)
    with pytest.raises(ValueError, match=r"stuck_min_frac \+ stuck_max_frac must be <= 1"):
        devices.ConstantStep(stuck_min_frac=0.6, stuck_max_frac=0.6)


def test_levels_coarser_than_the_step_are_refused():
    with pytest.raises(ValueError, match="n_states=16 .* pulses would never change the state"):
        devices.ConstantStep(dw_min=0.001, n_states=16)
    devices.ConstantStep(dw_min=0.08, n_states=16)   # one pulse ≈ one level: fine


def test_piecewise_table_errors_name_the_index():
    with pytest.raises(ValueError, match="conductance_up must strictly rise.*index 2"):
        devices.Piecewise(pulses_up=(0, 1, 2), conductance_up=(1e-6, 2e-6, 1.5e-6))
    with pytest.raises(ValueError, match="lie outside"):
        devices.Piecewise(pulses_up=(0, 1), conductance_up=(1e-6, 2e-6), pulses_down=(), conductance_down=(),
                          g_max=1.5e-6)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match="presets: ag-a-si, .*fefet"):
        devices.get_device("agsi")
    with pytest.raises(ValueError, match="presets: .*ecram-ibm.*models: constant-step"):
        devices.get_device("nope")
    with pytest.raises(ValueError, match="unknown parameter 'dwmin'.*dw_min"):
        devices.get_device("soft-bounds", dwmin=0.1)


def test_every_preset_is_cited_and_valid():
    assert len(PRESETS) >= 8
    for name, p in PRESETS.items():
        assert p.name == name and len(p.source) > 30 and any(str(y) in p.source for y in range(2009, 2021))
        assert p.figures, name
        p.device.sample((10,), 0)
