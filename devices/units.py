"""Units of device-model fields, for display (``hwsim devices show``)."""

UNITS = {
    "g_max": "S", "drift_t0": "s", "pulse_energy": "J", "pulse_width": "s", "pulse_voltage": "V",
    "write_noise_std": "write-noise unit (dw_min)", "on_off_ratio": "G_max/G_min",
    "w_min": "weight", "w_max": "weight", "dw_min": "weight", "dw_min_std_add": "weight",
    "w_min_dtod": "relative", "w_max_dtod": "relative", "dw_min_dtod": "relative", "dw_min_std": "relative",
    "up_down": "dw_min", "up_down_dtod": "dw_min", "gamma_up_dtod": "absolute", "gamma_down_dtod": "absolute",
    "n_states": "levels", "n_states_ltd": "pulses", "read_noise": "relative", "drift_nu": "1",
    "drift_nu_dtod": "absolute", "stuck_min_frac": "fraction", "stuck_max_frac": "fraction",
    "nonlinearity_ltp": "NeuroSim label", "nonlinearity_ltd": "NeuroSim label",
    "nonlinearity_dtod": "NeuroSim label", "c2c_std": "of G_max − G_min", "pulses_up": "pulses",
    "pulses_down": "pulses", "conductance_up": "S", "conductance_down": "S", "step_dtod": "relative",
    "dw_min_std_slope": "relative", "pow_gamma_dtod": "relative", "pow_up_down_dtod": "absolute",
}

