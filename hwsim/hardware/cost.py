"""First-order cost accounting: energy and latency of writes, reads and conversions.

Coefficients (override any in the config's [cost] section):

| key | default | unit | meaning, source |
|---|---|---|---|
| pulse_energy | device's `pulse_energy`, else 1e-12 | J | one write pulse into one device; presets cite theirs (docs/devices.md); 1 pJ is hwsim's placeholder where none is known |
| t_read | 10e-9 | s | duration of the read voltage on the array per input vector |
| dac_energy | 0.5e-12 | J | one input conversion (order of an 8-bit current-steering DAC; hwsim's choice) |
| adc_energy | 2e-12 | J | one output conversion (order of an 8-bit SAR ADC in recent ADC surveys; hwsim's choice) |
| t_adc | 10e-9 | s | one conversion; one ADC per output line, all lines in parallel |
| pulse_width | 10e-9 | s | one programming pulse slot; a stochastic update of one sample takes BL slots |

Read energy per input vector: t_read · Σ_ij (G+_ij + G−_ij)·V_j² with V_j the line voltages [V]; the tile
accumulates Σ G·V² [W] over its reads. Write energy: pulses × pulse_energy. Latency: reads (t_read + t_adc)
per input vector; stochastic updates BL · pulse_width per sample; counted updates (max pulses) · pulse_width.
"""
from __future__ import annotations

import numpy as np

COEFFICIENTS = {"pulse_energy": None, "t_read": 10e-9, "dac_energy": 0.5e-12, "adc_energy": 2e-12,
                "t_adc": 10e-9, "pulse_width": 10e-9}
DEFAULT_PULSE_ENERGY = 1e-12


def coefficients(device, overrides: dict) -> dict:
    c = dict(COEFFICIENTS)
    c["pulse_energy"] = device.pulse_energy or DEFAULT_PULSE_ENERGY
    c.update(overrides)
    return c


def tile_cost(tile, coeff: dict) -> dict:
    """Energy [J] and latency [s] spent by one tile so far."""
    pulses = int(tile.pulse_counts.sum())
    out = {
        "pulses": pulses,
        "write_energy_J": pulses * coeff["pulse_energy"],
        "read_energy_J": tile.read_power_sum * coeff["t_read"],
        "dac_conversions": tile.dac_conversions,
        "adc_conversions": tile.adc_conversions,
        "dac_energy_J": tile.dac_conversions * coeff["dac_energy"],
        "adc_energy_J": tile.adc_conversions * coeff["adc_energy"],
        "read_latency_s": tile.read_vectors * (coeff["t_read"] + coeff["t_adc"]),
        "update_latency_s": tile.update_slots * coeff["pulse_width"],
    }
    out["energy_J"] = out["write_energy_J"] + out["read_energy_J"] + out["dac_energy_J"] + out["adc_energy_J"]
    return out


def network_cost(network, coeff: dict) -> dict:
    """Per tile (keyed 'matrix/i') and total."""
    per = {}
    for name, m in network.matrices.items():
        for i, tile in enumerate(m.all_tiles()):
            per[f"{name}/{i}"] = tile_cost(tile, coeff)
    total = {k: float(np.sum([v[k] for v in per.values()])) for k in next(iter(per.values()))}
    return {"tiles": per, "total": total}
