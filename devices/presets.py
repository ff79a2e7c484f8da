"""Published synapse devices, each with its source and the measured figures it was fitted to.

NeuroSim-style devices take the figures of the NeuroSim device table (Chen, Peng & Yu, IEEE TCAD 2018,
Table I; MLP+NeuroSim V3 device settings; Peng et al., DNN+NeuroSim, IEDM 2019, Table 1) with the original
device paper named. aihwkit-style devices take the parameters of aihwkit's presets
(``aihwkit.simulator.presets.devices``), which are fits to the cited papers.

``pulse_energy`` is the energy of one write pulse into the cell. Where the source reports it, that value;
otherwise V²·G·t_pulse at the mid-range conductance (G_min + G_max)/2 for the potentiation pulse (NeuroSim's
cell write-energy term, wires and half-selected cells excluded) — an estimate, marked ``derived``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .base import DeviceModel
from .curves import NeuroSim
from .pulsed import ExpStep, LinearStep, SoftBounds


@dataclass(frozen=True)
class Preset:
    name: str
    device: DeviceModel
    source: str
    figures: dict = field(default_factory=dict)   # the measured figures behind the fit, with units
    notes: str = ""


def _energy(v_pulse: float, t_pulse: float, g_max: float, on_off: float) -> float:
    """V²·G_mid·t [J], G_mid = (G_min + G_max)/2."""
    return v_pulse ** 2 * 0.5 * (g_max + g_max / on_off) * t_pulse


def _neurosim(name, source, *, levels, levels_ltd=0, nl, r_on, on_off, c2c, v_ltp, t_ltp, figures, notes=""):
    g_max = 1.0 / r_on
    dev = NeuroSim(n_states=levels, n_states_ltd=levels_ltd, nonlinearity_ltp=nl[0], nonlinearity_ltd=nl[1],
                   g_max=g_max, on_off_ratio=on_off, c2c_std=c2c, pulse_width=t_ltp, pulse_voltage=abs(v_ltp),
                   pulse_energy=_energy(v_ltp, t_ltp, g_max, on_off))
    figs = dict(levels=f"{levels}" + (f"/{levels_ltd}" if levels_ltd else ""), nonlinearity=f"{nl[0]}/{nl[1]}",
                R_on=f"{r_on:.4g} Ω", on_off=on_off, c2c=f"{100 * c2c:g} %",
                pulse_energy="derived: V²·G_mid·t", **figures)
    return Preset(name, dev, source, figs, notes)


_NEUROSIM_TABLE = ("as tabulated by NeuroSim (Chen, Peng & Yu, IEEE TCAD 37(12), 2018, Table I; "
                   "MLP+NeuroSim V3 device settings)")

PRESETS: dict[str, Preset] = {}

# the choice of on/off ratio where the source gives none (aihwkit's presets carry no conductances)
_SPREAD_NOTE = ("the largest ratio whose G_min leaves room for the preset's device-to-device spread of the lower "
                "bound down to 3σ, on_off = 1 + (w_max − w_min)/(3·w_min_dtod·|w_min|); a device would otherwise "
                "map below 0 S (draws beyond 0 S are redrawn: docs/devices.md)")


def _add(preset: Preset) -> None:
    PRESETS[preset.name] = preset


_add(_neurosim(
    "ag-a-si", f"S. H. Jo et al., 'Nanoscale memristor device as synapse in neuromorphic systems', Nano Letters "
               f"10(4):1297, 2010; {_NEUROSIM_TABLE}",
    levels=97, levels_ltd=100, nl=(2.4, -4.88), r_on=26e6, on_off=12.5, c2c=0.035, v_ltp=3.2, t_ltp=300e-6,
    figures=dict(pulse_ltp="+3.2 V / 300 µs", pulse_ltd="−2.8 V / 300 µs", MNIST_online_learning="≈73 % (NeuroSim)")))
_add(_neurosim(
    "taox-tio2", f"B. Gao et al., 'Fully parallel write/read in resistive synaptic array for accelerating on-chip "
                 f"learning', Nanotechnology 26(45):455204, 2015; {_NEUROSIM_TABLE}",
    levels=102, nl=(1.85, -1.79), r_on=5e6, on_off=2.0, c2c=0.01, v_ltp=3.0, t_ltp=40e-3,
    figures=dict(pulse_ltp="+3 V / 40 ms", pulse_ltd="−3 V / 10 ms"),
    notes="Labels 1.85/−1.79 from the TCAD table (Jerry et al. 2017 list 0.66/−0.69); c2c reported as <1 %: "
          "1 % used."))
_add(_neurosim(
    "pcmo", f"S. Park et al., 'Neuromorphic speech systems using advanced ReRAM-based synapse', IEDM 2013; "
            f"{_NEUROSIM_TABLE}",
    levels=50, nl=(3.68, -6.76), r_on=23e6, on_off=6.84, c2c=0.01, v_ltp=2.0, t_ltp=1e-3,
    figures=dict(pulse_ltp="−2 V / 1 ms", pulse_ltd="+2 V / 1 ms"),
    notes="c2c reported as <1 %: 1 % used."))
_add(_neurosim(
    "alox-hfo2", f"J. Woo et al., 'Improved synaptic behavior under identical pulses using AlOx/HfO2 bilayer RRAM "
                 f"array for neuromorphic systems', IEEE EDL 37(8):994, 2016; {_NEUROSIM_TABLE}",
    levels=40, nl=(1.94, -0.61), r_on=16.9e3, on_off=4.43, c2c=0.05, v_ltp=0.9, t_ltp=100e-6,
    figures=dict(pulse_ltp="+0.9 V / 100 µs", pulse_ltd="−1 V / 100 µs")))
_add(_neurosim(
    "taox-hfox", "W. Wu et al., 'A methodology to improve linearity of analog RRAM for neuromorphic computing', "
                 "VLSI Technology 2018; as tabulated by DNN+NeuroSim (Peng et al., IEDM 2019)",
    levels=128, nl=(0.04, -0.63), r_on=100e3, on_off=10.0, c2c=0.037, v_ltp=1.6, t_ltp=50e-9,
    figures=dict(pulse="±1.6 V / 50 ns")))
_add(_neurosim(
    "epiram", "S. Choi et al., 'SiGe epitaxial memory for neuromorphic computing with reproducible high "
              f"performance based on engineered dislocations', Nature Materials 17:335, 2018; {_NEUROSIM_TABLE}",
    levels=64, nl=(0.5, -0.5), r_on=81e3, on_off=50.2, c2c=0.02, v_ltp=5.0, t_ltp=5e-6,
    figures=dict(pulse_ltp="+5 V / 5 µs", pulse_ltd="−3 V / 5 µs")))
_add(_neurosim(
    "fefet", "M. Jerry et al., 'Ferroelectric FET analog synapse for acceleration of deep neural network "
             "training', IEDM 2017",
    levels=32, nl=(1.75, 1.46), r_on=559.28e3, on_off=45.0, c2c=0.005, v_ltp=3.65, t_ltp=75e-9,
    figures=dict(pulse_ltp="+3.65 V (mean, amplitude-stepped) / 75 ns", pulse_ltd="−2.95 V (mean) / 75 ns",
                 MNIST_online_learning="≈90 %"),
    notes="Hf0.5Zr0.5O2 FeFET, partial polarisation switching; both labels positive (symmetric update). "
          "c2c reported as <0.5 %. The derived pulse energy counts channel conduction only; NeuroSim's "
          "gate-charge estimate V²·C_gate is ≈2.9e-17 J."))

_add(Preset(
    "ecram-ibm", LinearStep(dw_min=0.002, up_down=0.0, w_max=1.1724, w_min=-0.8276, gamma_up=0.1153,
                            gamma_down=0.5085, dw_min_dtod=0.1, up_down_dtod=0.01, w_max_dtod=0.05,
                            w_min_dtod=0.05, gamma_up_dtod=0.05, gamma_down_dtod=0.05, dw_min_std=0.3,
                            mean_bound_reference=True, mult_noise=True, g_max=2e-9, on_off_ratio=40.0,
                            pulse_energy=1e-15, pulse_width=5e-9),
    "J. Tang et al., 'ECRAM as scalable synaptic cell for high-speed, low-power neuromorphic computing', "
    "IEDM 2018; parameters of aihwkit's EcRamPresetDevice (a fit to that paper)",
    dict(states="≈1000 (reported)", pulse="gate current pulse, down to 5 ns", pulse_energy="≈1 fJ (projected)",
         R_on="500 MΩ, on/off 40 (DNN+NeuroSim table)"),
    "Li-ion WO3 three-terminal ECRAM: near-linear, near-symmetric updates. With on/off 40 the cited lower-bound "
    "spread (5 %) would put 11 % of devices below 0 S: those draws are redrawn (the spread is truncated at 0 S)."))
_add(Preset(
    "pcm-ibm", ExpStep(dw_min=0.01, up_down=0.0, w_max=2.0, w_min=0.0, a=-1.0, b=0.0, gamma_up=2.5,
                       gamma_down=2.5, A_up=-27.235, A_down=-2.235, dw_min_dtod=0.2, up_down_dtod=0.05,
                       w_max_dtod=0.1, w_min_dtod=0.0, dw_min_std=0.6, dw_min_std_add=0.042,
                       dw_min_std_slope=0.108, g_max=25e-6, drift_nu=0.05, drift_nu_dtod=0.01, drift_t0=20.0),
    "S. R. Nandakumar et al., 'Mixed-precision deep learning based on computational memory', Front. Neurosci. "
    "14:406, 2020 (aihwkit's PCMPresetDevice); drift from V. Joshi et al., Nat. Commun. 11:2473, 2020 "
    "(as in aihwkit's PCMLikeNoiseModel)",
    dict(material="doped Ge2Sb2Te5", drift="ν ≈ 0.05 at mid/high conductance, spread ≈ 0.01, t0 = 20 s",
         g_max="25 µS (aihwkit's reference)"),
    "Gradual SET only (w_min = 0): a one-sided device, used in pairs. on/off is hwsim's default (not in "
    "the source); pulse energy not reported."))
_add(Preset(
    "reram-sb", SoftBounds(dw_min=0.002, up_down=0.0, w_max=1.25, w_min=-0.75, mult_noise=False,
                           dw_min_dtod=0.3, up_down_dtod=0.01, w_max_dtod=0.24, w_min_dtod=0.4, dw_min_std=3.75,
                           write_noise_std=56.0, on_off_ratio=3.2),
    "N. Gong et al., 'Signal and noise extraction from analog memory elements for neuromorphic computing', "
    "Nat. Commun. 9:2102, 2018 (aihwkit's ReRamSBPresetDevice, a loose fit)",
    dict(material="HfO2 ReRAM", c2c="large: dw_min_std 3.75 (additive)", write_noise="56·dw_min (aihwkit's preset)"),
    f"g_max is hwsim's default; on/off 3.2 is hwsim's choice: {_SPREAD_NOTE}"))
_add(Preset(
    "reram-es", ExpStep(dw_min=0.00135, up_down=0.259359, w_max=1.0, w_min=-1.0, a=-0.5, b=-0.5, gamma_up=5.0,
                        gamma_down=5.0, A_up=-1.18445, A_down=-0.081404, dw_min_dtod=0.2, up_down_dtod=0.05,
                        w_max_dtod=0.3, w_min_dtod=0.3, dw_min_std=5.0, write_noise_std=75.0, on_off_ratio=3.2),
    "N. Gong et al., Nat. Commun. 9:2102, 2018 (aihwkit's ReRamESPresetDevice)",
    dict(material="HfO2 ReRAM", asymmetry="up_down 0.26", write_noise="75·dw_min (aihwkit's preset)"),
    f"g_max is hwsim's default; on/off 3.2 is hwsim's choice: {_SPREAD_NOTE}"))
_add(Preset(
    "ecram-mo", LinearStep(dw_min=2.8214e-4, up_down=0.0, w_max=1.1714, w_min=-0.8286, gamma_up=0.4152,
                           gamma_down=0.7342, dw_min_dtod=0.1, up_down_dtod=0.01, w_max_dtod=0.05, w_min_dtod=0.05,
                           gamma_up_dtod=0.05, gamma_down_dtod=0.05, dw_min_std=2.0, mean_bound_reference=True,
                           mult_noise=True, on_off_ratio=17.0),
    "S. Kim et al., 'Metal-oxide based, CMOS-compatible ECRAM for deep learning accelerator', IEDM 2019 "
    "(aihwkit's EcRamMOPresetDevice)",
    dict(states="≈7000 over the range (dw_min 2.8e-4)"),
    f"g_max is hwsim's default; on/off 17 is hwsim's choice: {_SPREAD_NOTE}"))
_add(Preset(
    "targeted-envm", NeuroSim(), f"NeuroSim's 'targeted eNVM' specification, {_NEUROSIM_TABLE}",
    dict(levels=64, nonlinearity="1/−1", R_on="200 kΩ", on_off=50, c2c="2 %"),
    "A device specification, not a measured device."))

