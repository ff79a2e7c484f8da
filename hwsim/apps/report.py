"""``hwsim report TRACE``: what the chip a trace describes costs, per layer — a NeuroSim-style table of area
(arrays, ADCs, DACs and line drivers), energy and latency, per inference and per training step.

Everything comes from the trace: the network's plan (which matrices, on which physical tiles, for which
layer), the cost account of the whole run (hwsim/hardware/cost.py: its energies and latencies, summed here per
layer), the cost coefficients the run used, and the number of training steps and reads. Per layer:

- area: every physical tile of the layer's matrices (``tile_area``: 2 devices per cell of the whole array at
  ``cell_area_f2``·F², one ADC per ``adc_share`` lines in each direction, one driver/DAC per line);
- energy of the run: the layer's tiles' energy (writes, reads, conversions); the network's digital operations
  form a row of their own; the column totals equal the trace's cost account (tested);
- latency of the run: the critical path of each matrix (its slowest tile), summed over the layer's matrices;
- per training step: the run's energy and update latency divided by the number of training steps;
- per inference: one forward read of each of the layer's matrices — the mean energy and latency of one input
  vector read, as measured over the run's reads (forward and transposed alike).
"""
from __future__ import annotations

import json

import numpy as np

from hwsim.hardware.cost import tile_area

QUANTITIES = ("area_m2", "array_area_m2", "adc_area_m2", "dac_area_m2", "energy_J", "latency_s",
              "energy_per_step_J", "latency_per_step_s", "energy_per_inference_J", "latency_per_inference_s")


def build(trace) -> dict:
    """The report of an open ``Trace``: {"layers": [rows], "digital": row, "total": row, "coefficients": …}.
    A damaged trace raises TraceError naming the file."""
    from hwsim.workflow.trace import TraceError, _reason
    try:
        return _build(trace)
    except TraceError:
        raise
    except Exception as exc:                        # noqa: BLE001 — a damaged file fails in many ways
        raise TraceError(f"{trace.path}: damaged trace: the report cannot be built ({_reason(exc)})") from None


def _build(trace) -> dict:
    from hwsim.hardware.assembler import plan
    from hwsim.hardware.layers import LayerSpec
    from hwsim.workflow.trace import TraceError
    state_build = json.loads(trace.f["state"].attrs["build"])
    specs = [LayerSpec(**d) for d in state_build["layers"]]
    tr, tc = state_build["tile_rows"], state_build["tile_cols"]
    matrices = plan(specs, tr, tc, state_build["shared_basis"], state_build["decorrelate"])
    cg = trace.f["cost"]
    coeff = {k.split(".", 1)[1]: float(v) for k, v in cg.attrs.items() if k.startswith("coefficient.")}
    for k, v in coeff.items():                      # (attributes carry no checksum: a damaged one is refused here)
        if not (np.isfinite(v) and v >= 0):
            raise TraceError(f"{trace.path}: damaged trace: cost coefficient {k} must be a finite number >= 0, "
                             f"got {v}")
    e = trace.epochs
    steps = int(trace.metrics()["steps"].sum()) if e else 0

    def tile_value(name, i, key):
        group = cg["tiles"][f"{name}.{i}"]
        return float(group[key][e - 1]) if e else 0.0
    rows = []
    for layer, spec in enumerate(specs):
        mats = [m for m in matrices if m.layer == layer]
        row = {"layer": layer, "matrices": ", ".join(m.name for m in mats),
               "shape": f"{spec.in_features}→{spec.out_features}", "tiles": sum(m.n_tiles for m in mats)}
        area = {k: 0.0 for k in ("area_m2", "array_area_m2", "adc_area_m2", "dac_area_m2")}
        energy = latency = update_latency = inference_e = inference_t = 0.0
        for m in mats:
            n = m.n_tiles
            for k, v in tile_area(tr, tc, coeff).items():
                area[k] += n * v
            energy += sum(tile_value(m.name, i, "energy_J") for i in range(n))
            reads = [tile_value(m.name, i, "read_latency_s") for i in range(n)]
            updates = [tile_value(m.name, i, "update_latency_s") for i in range(n)]
            latency += max(reads) + max(updates)
            update_latency += max(updates)
            vectors = sum(tile_value(m.name, i, "read_vectors") for i in range(n))
            read_e = sum(tile_value(m.name, i, k) for i in range(n)
                         for k in ("read_energy_J", "dac_energy_J", "adc_energy_J"))
            if vectors:
                inference_e += read_e / (vectors / n)          # every tile of the matrix reads each vector
                inference_t += coeff["adc_share"] * (coeff["t_read"] + coeff["t_adc"])
        row.update(area)
        row.update(energy_J=energy, latency_s=latency, energy_per_step_J=energy / steps if steps else 0.0,
                   latency_per_step_s=update_latency / steps if steps else 0.0,
                   energy_per_inference_J=inference_e, latency_per_inference_s=inference_t)
        rows.append(row)
    total = trace.cost_total()
    digital = {"layer": "digital", "matrices": "", "shape": "", "tiles": 0,
               **{k: 0.0 for k in QUANTITIES}, "energy_J": total.get("digital_energy_J", 0.0),
               "energy_per_step_J": total.get("digital_energy_J", 0.0) / steps if steps else 0.0}
    tot = {"layer": "total", "matrices": "", "shape": "", "tiles": sum(r["tiles"] for r in rows)}
    for k in QUANTITIES:
        tot[k] = sum(r[k] for r in rows) + digital[k]
    return {"trace": trace.path, "rule": trace.config.rule["name"], "device": trace.summary()["device"],
            "epochs": e, "steps": steps, "tile": f"{tr}×{tc}", "coefficients": coeff, "layers": rows,
            "digital": digital, "total": tot, "account_energy_J": total.get("energy_J", 0.0),
            "account_latency_s": total.get("latency_s", 0.0)}


def table(rep: dict) -> str:
    head = (f"{rep['rule']} on {rep['device']}: {rep['epochs']} epochs, {rep['steps']} training steps, "
            f"{rep['tile']} tiles; F = {rep['coefficients']['tech_node'] * 1e9:g} nm, cell "
            f"{rep['coefficients']['cell_area_f2']:g} F², {rep['coefficients']['adc_share']:g} lines per ADC")
    cols = [("layer", "{}", 8), ("shape", "{}", 9), ("tiles", "{}", 5), ("area_m2", "{:.3g}", 10),
            ("array_area_m2", "{:.3g}", 10), ("adc_area_m2", "{:.3g}", 10), ("energy_J", "{:.3g}", 10),
            ("latency_s", "{:.3g}", 10), ("energy_per_step_J", "{:.3g}", 10), ("energy_per_inference_J", "{:.3g}", 10),
            ("latency_per_inference_s", "{:.3g}", 10)]
    names = {"area_m2": "area m²", "array_area_m2": "arrays", "adc_area_m2": "ADCs", "energy_J": "energy J",
             "latency_s": "latency s", "energy_per_step_J": "J/step", "energy_per_inference_J": "J/infer",
             "latency_per_inference_s": "s/infer"}
    lines = [head, "  ".join(names.get(c, c).rjust(w) for c, _, w in cols)]
    for r in [*rep["layers"], rep["digital"], rep["total"]]:
        lines.append("  ".join(f.format(r[c]).rjust(w) for c, f, w in cols))
    lines.append(f"(run totals; the cost account in the trace: {rep['account_energy_J']:.4g} J, "
                 f"{rep['account_latency_s']:.4g} s)")
    return "\n".join(lines)


def figure(rep: dict, path: str) -> None:
    from hwsim.apps.plots import _pyplot
    plt = _pyplot()
    layers = rep["layers"]
    labels = [f"layer {r['layer']}\n{r['shape']}" for r in layers] + ["digital"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    bottom = np.zeros(len(layers))
    for key, label in (("array_area_m2", "arrays"), ("adc_area_m2", "ADCs"), ("dac_area_m2", "drivers/DACs")):
        vals = np.array([r[key] for r in layers]) * 1e6
        ax.bar(labels[:-1], vals, bottom=bottom, label=label)
        bottom += vals
    ax.set_ylabel("area [mm²]")
    ax.set_title(f"area per layer (F = {rep['coefficients']['tech_node'] * 1e9:g} nm)", fontsize=9)
    ax.legend(fontsize=8)
    energies = [r["energy_J"] for r in layers] + [rep["digital"]["energy_J"]]
    bx.bar(labels, energies, color=["tab:blue"] * len(layers) + ["tab:gray"])
    bx.set_yscale("log")
    bx.set_ylabel("energy of the run [J]")
    bx.set_title(f"{rep['rule']} on {rep['device']}: energy per layer ({rep['epochs']} epochs)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
