"""Deployment over time (``hwsim infer``): the trained weights of a trace programmed onto fresh devices, left
to drift, and read with their read noise — aihwkit's inference workflow, on hwsim's devices.

For each of ``draws`` device draws (new device-to-device samples: the seed tree's child ("programming", k)):
1. a network of the trace's shape is built on fresh devices; the trace's digital parameters and input stages
   are copied;
2. every analog matrix is programmed to the trained weights — by closed-loop write-and-verify with real
   pulses (``program="verify"``: ``Tile.program``, tolerance one nominal step, pulses counted), or ideally
   (``program="ideal"``: the states set exactly, the upper bound of what programming can reach);
3. at each time t after programming (t ≥ the device's ``drift_t0``) every device's conductance is
   G(t) = G(t0)·(t/t0)^(−ν) with its own ν (``DeviceModel.drift``), and the test set is read through the
   periphery (read noise and all).
Accuracy at each time is reported as mean ± std over the draws.
"""
from __future__ import annotations

import numpy as np

from hwsim.devices.rng import child

UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0, "y": 365.25 * 86400.0}
PROGRAMS = ("verify", "ideal")


def parse_times(text: str) -> list[float]:
    """'1s,1h,1d,1y' (units s, min, h, d, w, y; a bare number is seconds) → seconds, increasing."""
    out = []
    for item in str(text).split(","):
        item = item.strip().lower()
        if not item:
            continue
        unit = next((u for u in sorted(UNITS, key=len, reverse=True) if item.endswith(u)), "")
        number = item[:len(item) - len(unit)] if unit else item
        try:
            value = float(number) * UNITS.get(unit, 1.0)
        except ValueError:
            raise ValueError(f"--times: {item!r} is not a time like 1s, 10min, 1h, 1d, 1w or 1y") from None
        if not np.isfinite(value) or value <= 0 or value > 1e3 * UNITS["y"]:
            raise ValueError(f"--times: {item!r} must be > 0 and at most 1000 years")
        out.append(value)
    if not out:
        raise ValueError("--times needs at least one time, e.g. 1s,1h,1d,1y")
    return sorted(set(out))


def drift_tile(tile, t: float) -> None:
    """Let a programmed tile's devices drift to time t [s] after programming (t0 = the device's drift_t0)."""
    dev = tile.device
    for side in ("plus", "minus"):
        w = getattr(tile, f"w_{side}") + getattr(tile, f"offset_{side}")
        params = getattr(tile, f"params_{side}")
        g = dev.drift(dev.conductance(w), t, params)
        getattr(tile, f"w_{side}")[...] = dev.weight(g)
        getattr(tile, f"offset_{side}")[...] = 0.0
    tile._changed()


def deploy(net, random_state, program: str = "verify"):
    """A copy of ``net`` on freshly sampled devices, programmed to its weights; returns (network, pulses)."""
    from hwsim.hardware.network import Network
    if program not in PROGRAMS:
        raise ValueError(f"program must be one of {PROGRAMS}, got {program!r}")
    fresh = Network(net.specs, net.device, net.periphery, net.tile_rows, net.tile_cols, random_state=random_state,
                    pair=net.pair, shared_basis=net.shared_basis, center=net.center, decorrelate=net.decorrelate,
                    weight_fill=net.weight_fill)
    pulses = 0
    for name, m in net.matrices.items():
        target = fresh.matrices[name]
        target.scale = m.scale
        for (rs, cs, t_new), (_, _, t_old) in zip(target.blocks(), m.blocks()):
            W = t_old.get_weights()
            if program == "ideal":
                lo, hi = t_new.weight_range()
                t_new.set_weights(np.clip(W, lo, hi))
            else:
                pulses += t_new.program(W, tolerance=t_new.dw_pair, max_iterations=30)["pulses"]
    for new, old in zip(fresh.layers, net.layers):
        new.digital = {k: np.array(v) for k, v in old.digital.items()}
        for s_new, s_old in zip(new.stages, old.stages):
            s_new.restore(s_old.state())
    return fresh, pulses


def infer(trace_path: str, times: list[float], draws: int = 3, program: str = "verify", seed: int = 0,
          data=None, progress: bool = True, dataset_path: str | None = None) -> dict:
    """Accuracy of the trace's network at each time after programming, over ``draws`` device draws."""
    from hwsim.workflow.datasets import for_trace
    from hwsim.workflow.trace import Trace
    from hwsim.workflow.trainer import evaluate
    with Trace(trace_path) as t:
        cfg = t.config
        net = t.network()
    dev = net.device
    times = [max(x, dev.drift_t0) for x in times]
    data = data or for_trace(cfg, trace_path, dataset_path)
    root = np.random.SeedSequence(seed)
    acc = np.zeros((draws, len(times)))
    pulses, g_ratio = [], np.zeros((draws, len(times)))
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=draws * len(times), desc="infer", unit="read", leave=False)
    for k in range(draws):
        fresh, p = deploy(net, child(root, "programming", k), program)
        pulses.append(p)
        g0 = {id(tile): tile.conductances() for tile in fresh.all_tiles()}
        base = {id(tile): (tile.w_plus + tile.offset_plus, tile.w_minus + tile.offset_minus)
                for tile in fresh.all_tiles()}
        for j, t in enumerate(times):
            num = den = 0.0
            for tile in fresh.all_tiles():          # drift from the programmed state, not the previous time
                tile.w_plus[...], tile.w_minus[...] = base[id(tile)]
                tile.offset_plus[...] = tile.offset_minus[...] = 0.0
                drift_tile(tile, t)
                gp, gm = tile.conductances()
                num += gp.sum() + gm.sum()
                den += g0[id(tile)][0].sum() + g0[id(tile)][1].sum()
            g_ratio[k, j] = num / den
            acc[k, j] = evaluate(fresh, data.x_test, data.y_test)
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    return {"trace": trace_path, "device": dev.name, "program": program, "draws": draws, "times_s": times,
            "accuracy_mean": acc.mean(axis=0).tolist(), "accuracy_std": acc.std(axis=0).tolist(),
            "accuracy": acc.tolist(), "programming_pulses_mean": float(np.mean(pulses)),
            "conductance_ratio_mean": g_ratio.mean(axis=0).tolist(), "drift_t0_s": dev.drift_t0,
            "drift_nu": dev.drift_nu, "drift_nu_dtod": dev.drift_nu_dtod}
