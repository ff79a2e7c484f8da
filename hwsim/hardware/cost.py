"""First-order cost accounting: energy and latency of writes, reads, conversions and digital operations.

Coefficients (override any in the config's [cost] section; ``coefficients`` also says where each value came
from — the device, the config, or hwsim's default):

| key | default | unit | meaning, source |
|---|---|---|---|
| pulse_energy | device's `pulse_energy`, else 1e-12 | J | one write pulse into one device; presets cite theirs (docs/devices.md); 1 pJ is hwsim's placeholder where none is known |
| pulse_width | device's `pulse_width`, else 10e-9 | s | one programming pulse slot; a stochastic update of one sample takes BL slots |
| t_read | 10e-9 | s | duration of the read voltage on the array per input vector |
| dac_energy | 0.5e-12 | J | one input conversion (order of an 8-bit current-steering DAC; hwsim's choice) |
| adc_energy | 2e-12 | J | one output conversion (order of an 8-bit SAR ADC in recent ADC surveys; hwsim's choice) |
| t_adc | 10e-9 | s | one conversion; one ADC per output line, all lines in parallel |
| mac_energy | 4.6e-12 | J | one digital multiply-accumulate in 32-bit floating point: 3.7 pJ multiply + 0.9 pJ add at 45 nm (M. Horowitz, "Computing's energy problem", ISSCC 2014) |
| adc_share | 1 | lines | output lines that share one ADC by column multiplexing (NeuroSim's numColMuxed; 1: one ADC per line); a read of one vector takes adc_share conversion cycles |
| tech_node | 32e-9 | m | feature size F of the CMOS process (areas, `hwsim report`) |
| cell_area_f2 | 16 | F² | area of one device's cell: 1T1R 4F × 4F = 16 F² (MLP+NeuroSim V3, Cell.cpp: heightInFeatureSize = widthInFeatureSize = 4 with a CMOS access transistor; 4 F² without) |
| adc_area | 1.5e-9 | m² | one ADC (order of a small 8-bit SAR ADC in 28–65 nm in B. Murmann's ADC performance survey; hwsim's choice) |
| dac_area | 1e-10 | m² | one line driver with its DAC (hwsim's order-of-magnitude choice) |

What is counted:
- Reads: every forward or transposed read through the periphery; every read-back of a matrix by a rule or a
  verify loop (Stiefel projection, orthogonality, decorrelation, write-and-verify, refresh), counted as one
  one-hot input vector per column — its DAC and ADC conversions, the read energy of its cells and its latency.
  Read energy per input vector: t_read · Σ_ij (G+_ij + G−_ij)·V_j² with V_j the line voltages [V].
- Writes: every pulse, pulse_energy each (resets included).
- Digital operations: the multiply-accumulates the rules and the periphery do outside the arrays (feedback
  projections, softmax gradients, ΔR, Stiefel projections, orthogonality gradients, digital scales and biases,
  centring), counted by the network (``Network.digital_macs``), mac_energy each.
- Latency of a step is its critical path: the tiles of a matrix work in parallel (the slowest tile counts), the
  matrices one after another (layers in sequence, and within a layer its input stages and factors in the
  order of the data). Reads: (t_read + t_adc) per input vector; stochastic updates: BL slots per sample;
  counted updates: the largest pulse count; a slot lasts pulse_width; with adc_share lines per ADC a read
  takes adc_share conversion cycles. Digital operations are not timed.
- Area (``tile_area``, ``hwsim report``): per physical tile its devices (2 per cell of the whole array),
  one ADC per adc_share output lines in each direction (forward reads convert rows, transposed reads
  columns), one driver with its DAC per line.
"""
from __future__ import annotations

import numpy as np

COEFFICIENTS = {"pulse_energy": None, "pulse_width": None, "t_read": 10e-9, "dac_energy": 0.5e-12,
                "adc_energy": 2e-12, "t_adc": 10e-9, "mac_energy": 4.6e-12, "adc_share": 1.0, "tech_node": 32e-9,
                "cell_area_f2": 16.0, "adc_area": 1.5e-9, "dac_area": 1e-10}
AREA_KEYS = ("tech_node", "cell_area_f2", "adc_area", "dac_area")
DEFAULT_PULSE_ENERGY = 1e-12
DEFAULT_PULSE_WIDTH = 10e-9


def coefficients(device, overrides: dict) -> dict:
    """The cost coefficients of a run: hwsim's defaults, the device's pulse energy and width where it has
    them, then the config's overrides."""
    c = dict(COEFFICIENTS)
    c["pulse_energy"] = device.pulse_energy or DEFAULT_PULSE_ENERGY
    c["pulse_width"] = device.pulse_width or DEFAULT_PULSE_WIDTH
    c.update(overrides)
    return c


def sources(device, overrides: dict) -> dict:
    """Where each coefficient of ``coefficients`` comes from: "config", "device" or "default"."""
    out = {k: "default" for k in COEFFICIENTS}
    if device.pulse_energy:
        out["pulse_energy"] = "device"
    if device.pulse_width:
        out["pulse_width"] = "device"
    out.update({k: "config" for k in overrides})
    return out


def tile_cost(tile, coeff: dict) -> dict:
    """Energy [J] and latency [s] spent by one tile so far."""
    pulses = int(tile.pulse_counts.sum())
    out = {
        "pulses": pulses,
        "write_energy_J": pulses * coeff["pulse_energy"],
        "read_energy_J": tile.read_power_sum * coeff["t_read"],
        "read_vectors": tile.read_vectors,
        "cell_reads": tile.cell_reads,
        "dac_conversions": tile.dac_conversions,
        "adc_conversions": tile.adc_conversions,
        "dac_energy_J": tile.dac_conversions * coeff["dac_energy"],
        "adc_energy_J": tile.adc_conversions * coeff["adc_energy"],
        "read_latency_s": tile.read_vectors * coeff["adc_share"] * (coeff["t_read"] + coeff["t_adc"]),
        "update_latency_s": tile.update_slots * coeff["pulse_width"],
    }
    out["energy_J"] = out["write_energy_J"] + out["read_energy_J"] + out["dac_energy_J"] + out["adc_energy_J"]
    return out


def tile_area(rows: int, cols: int, coeff: dict) -> dict:
    """Area [m²] of one physical array of rows × cols cells (device pairs) and its converters."""
    share = max(1.0, coeff["adc_share"])
    cells = 2 * rows * cols * coeff["cell_area_f2"] * coeff["tech_node"] ** 2
    adcs = (np.ceil(rows / share) + np.ceil(cols / share)) * coeff["adc_area"]
    dacs = (rows + cols) * coeff["dac_area"]
    return {"array_area_m2": float(cells), "adc_area_m2": float(adcs), "dac_area_m2": float(dacs),
            "area_m2": float(cells + adcs + dacs)}


def network_cost(network, coeff: dict) -> dict:
    """Per tile (keyed 'matrix/i') and total: sums over tiles, digital operations, and the latency's critical
    path (max over the tiles of a matrix, summed over matrices)."""
    per = {}
    latency = {"read_latency_s": 0.0, "update_latency_s": 0.0}
    for name, m in network.matrices.items():
        costs = [tile_cost(tile, coeff) for tile in m.all_tiles()]
        for i, c in enumerate(costs):
            per[f"{name}/{i}"] = c
        for key in latency:
            latency[key] += max(c[key] for c in costs)
    total = {k: float(np.sum([v[k] for v in per.values()])) for k in next(iter(per.values()))}
    total.update(latency)
    total["digital_macs"] = float(network.digital_macs)
    total["digital_energy_J"] = network.digital_macs * coeff["mac_energy"]
    total["energy_J"] += total["digital_energy_J"]
    total["latency_s"] = latency["read_latency_s"] + latency["update_latency_s"]
    return {"tiles": per, "total": total}
