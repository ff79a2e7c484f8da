"""Figures. matplotlib is imported inside each function (Agg backend), never at import time."""
from __future__ import annotations

import numpy as np


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def device_responses(curves: dict, path: str) -> None:
    """One panel per device: conductance [µS] versus pulse number, N up then N down; mean line, ±1σ band
    and the 5–95 % envelope over the sampled devices.

    ``curves`` maps a title to ``(device, weights)``, weights of shape (2·pulses + 1, n_devices).
    """
    plt = _pyplot()
    n = len(curves)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False)
    for ax, (title, (device, w)) in zip(axes.flat, curves.items()):
        pulses = (w.shape[0] - 1) // 2
        x = np.arange(2 * pulses + 1)
        g = device.conductance(w) * 1e6
        mean, std = g.mean(axis=1), g.std(axis=1)
        lo, hi = np.percentile(g, [5, 95], axis=1)
        ax.fill_between(x, lo, hi, color="tab:blue", alpha=0.15, lw=0, label="5–95 %")
        ax.fill_between(x, mean - std, mean + std, color="tab:blue", alpha=0.3, lw=0, label="±1σ")
        ax.plot(x, mean, color="tab:blue", lw=1.2, label="mean")
        ax.axvline(pulses, color="0.5", lw=0.6, ls=":")
        ax.set_title(f"{title} ({device.name})", fontsize=9)
        ax.set_xlabel("pulse number (up, then down)", fontsize=8)
        ax.set_ylabel("conductance [µS]", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="lower center")
    fig.suptitle(f"Pulse response: N potentiation then N depression pulses from weight 0, "
                 f"{curves[next(iter(curves))][1].shape[1]} devices each (dotted: turn-around)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _curves_from_traces(rows, out):
    import os

    from hwsim.workflow.trace import Trace, TraceError
    curves = {}
    for r in rows:
        path = r.get("trace") or ""
        if path and os.path.exists(path):
            try:
                with Trace(path) as t:
                    curves[r["point_id"]] = t.metrics()["test_accuracy"]
            except TraceError:
                continue
    return curves


def _accuracy(row) -> float:
    acc = row.get("test_accuracy")
    return float(acc) if acc not in ("", None, "None") else np.nan


def compare(rows, summary, tune_keys, out):
    """compare.png: the rule × device matrix of test accuracy (mean ± std over seeds at the chosen values,
    diverged cells marked), the learning curves of the chosen runs (mean over seeds), and accuracy against
    energy (the cost question: each (rule, device) at its chosen values, seed error bars)."""
    import os
    plt = _pyplot()
    rules = list(dict.fromkeys(c["rule.name"] for c in summary))
    devs = list(dict.fromkeys(c["device.preset"] for c in summary))
    by = {(c["rule.name"], c["device.preset"]): c for c in summary}
    acc = np.array([[np.nan if by[(r, d)]["test_mean"] is None else 100 * by[(r, d)]["test_mean"] for d in devs]
                    for r in rules])
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(18, 0.45 * len(rules) + 4.5),
                                     gridspec_kw={"width_ratios": [1.1, 1.2, 1.2]})
    im = ax.imshow(acc, vmin=0, vmax=100, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(devs)), [by[(rules[0], d)]["device"] for d in devs], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rules)), rules, fontsize=8)
    for i, r in enumerate(rules):
        for j, d in enumerate(devs):
            c = by[(r, d)]
            if c["test_mean"] is None:
                ax.text(j, i, "diverged", ha="center", va="center", color="r", fontsize=7)
                continue
            label = f"{100 * c['test_mean']:.1f}±{100 * c['test_std']:.1f}"
            if tune_keys:
                label += "\n" + ",".join(f"{c[k]:g}" if isinstance(c[k], float) else str(c[k]) for k in tune_keys)
            ax.text(j, i, label, ha="center", va="center", fontsize=6.5,
                    color="w" if acc[i, j] < 60 else "k")
    fig.colorbar(im, ax=ax, label="test accuracy [%]")
    seeds = max(c["seeds"] for c in summary)
    ax.set_title(f"test accuracy, mean ± std over {seeds} seed(s)"
                 + (f"\n(tuned: {', '.join(tune_keys)})" if tune_keys else ""), fontsize=9)
    curves = _curves_from_traces(rows, out)
    colors = plt.get_cmap("tab20" if len(summary) <= 20 else "turbo")
    for k, c in enumerate(summary):
        runs = [curves[p] for p in c["chosen_points"] if p in curves and len(curves[p])]
        if not runs:
            continue
        n = min(len(x) for x in runs)
        mean = 100 * np.mean([x[:n] for x in runs], axis=0)
        color = colors(k / max(len(summary) - 1, 1)) if len(summary) > 20 else colors(k % 20)
        bx.plot(range(1, n + 1), mean, lw=1, color=color, label=f"{c['rule.name']} / {c['device']}")
        e = c["energy_J"]
        if c["test_mean"] is not None:
            cx.errorbar(e, 100 * c["test_mean"], yerr=100 * c["test_std"], fmt="o", ms=4, color=color, capsize=2)
    bx.set_xlabel("epoch")
    bx.set_ylabel("test accuracy [%] (mean of the chosen runs)")
    bx.set_title("learning curves", fontsize=9)
    bx.legend(fontsize=6, ncol=1 + len(summary) // 16, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    cx.set_xscale("log")
    cx.set_xlabel("energy per training run [J]")
    cx.set_ylabel("test accuracy [%]")
    cx.set_title("accuracy against energy (colours as in the curves)", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "compare.png"), dpi=120)
    plt.close(fig)


def sweep(rows, out):
    """sweep.png: heatmap of final accuracy over the first two axes (others averaged), or a line for one."""
    import os
    plt = _pyplot()
    from hwsim.workflow.sweep import METRICS
    keys = [k for k in rows[0] if k != "point_id" and k not in METRICS]
    acc = np.array([_accuracy(r) for r in rows])
    fig, ax = plt.subplots(figsize=(6, 4.5))
    if len(keys) == 1:
        xs = [r[keys[0]] for r in rows]
        ax.plot(range(len(xs)), 100 * acc, "o-")
        ax.set_xticks(range(len(xs)), xs, rotation=30, fontsize=8)
        ax.set_xlabel(keys[0])
        ax.set_ylabel("final test accuracy [%]")
    else:
        a = list(dict.fromkeys(r[keys[0]] for r in rows))
        b = list(dict.fromkeys(r[keys[1]] for r in rows))
        grid = np.full((len(a), len(b)), np.nan)
        cnt = np.zeros_like(grid)
        for r, v in zip(rows, acc):
            i, j = a.index(r[keys[0]]), b.index(r[keys[1]])
            grid[i, j] = np.nansum([0 if np.isnan(grid[i, j]) else grid[i, j], v])
            cnt[i, j] += 1
        grid = grid / np.maximum(cnt, 1)
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto", origin="lower")
        ax.set_yticks(range(len(a)), a, fontsize=8)
        ax.set_xticks(range(len(b)), b, rotation=30, fontsize=8)
        ax.set_ylabel(keys[0])
        ax.set_xlabel(keys[1])
        fig.colorbar(im, label="final test accuracy" + (" (mean over other axes)" if len(keys) > 2 else ""))
    ax.set_title("sweep", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "sweep.png"), dpi=120)
    plt.close(fig)


def trace_figure(path, what, out):
    """From a trace: 'curves' (loss and accuracy per epoch), 'conductance' (histograms of G+ and G− at the
    last snapshot), 'pulses' (cumulative pulses per device: endurance)."""
    from hwsim.workflow.trace import Trace
    plt = _pyplot()
    with Trace(path) as t:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        if what == "curves":
            m = t.metrics()
            axes[0].plot(m["epoch"], m["train_loss"], "o-")
            axes[0].set_ylabel("train loss")
            axes[1].plot(m["epoch"], 100 * m["test_accuracy"], "o-")
            axes[1].set_ylabel("test accuracy [%]")
            for a in axes:
                a.set_xlabel("epoch")
        else:
            for name in t.matrices():
                for tile in t.tiles(name):
                    if what == "conductance":
                        epochs, gp, gm = t.snapshots(tile)
                        if len(epochs):
                            axes[0].hist(1e6 * gp[-1].ravel(), bins=60, histtype="step", label=name)
                            axes[1].hist(1e6 * gm[-1].ravel(), bins=60, histtype="step", label=name)
                    else:
                        pc = t.pulse_count(tile)
                        axes[0].hist((pc[0] + pc[1]).ravel(), bins=60, histtype="step", label=name)
                        axes[1].hist((pc[2] + pc[3]).ravel(), bins=60, histtype="step", label=name)
            labels = ("G+ [µS]", "G− [µS]") if what == "conductance" else ("pulses per G+ device", "pulses per G− device")
            for a, lab in zip(axes, labels):
                a.set_xlabel(lab)
                a.set_ylabel("devices")
                a.set_yscale("log")
            axes[0].legend(fontsize=7)
        fig.suptitle(f"{path}: {what}", fontsize=9)
        fig.tight_layout()
        fig.savefig(out, dpi=120)
        plt.close(fig)


def fit_figure(result, path):
    """Measured mean curves and the fitted model's response, conductance versus pulse number."""
    plt = _pyplot()
    c = result.curves
    up, down = result.predicted()
    n_up = len(c.p_up)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    x_up, x_dn = c.p_up, c.p_up[-1] + c.p_down
    ax.plot(x_up, 1e6 * c.g_up, ".", ms=3, color="tab:blue", label="measured, potentiation")
    ax.plot(x_dn, 1e6 * c.g_down, ".", ms=3, color="tab:orange", label="measured, depression")
    ax.plot(x_up, 1e6 * up, "-", color="k", lw=1, label=f"{result.model.name} fit")
    ax.plot(x_dn, 1e6 * down, "-", color="k", lw=1)
    ax.set_xlabel("pulse number")
    ax.set_ylabel("conductance [µS]")
    ax.set_title(f"{result.model.name}: R² = {result.r2:.4f}, RMSE = {result.rmse:.3g} S ({n_up} + {len(c.p_down)} points)",
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def spiking_figure(res, times, acc, analog, path):
    """Raster of the first sample (every layer) and accuracy versus presentation time."""
    plt = _pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    offset = 0
    for layer, ((t, i), size) in enumerate(zip(res["raster"], res["layer_sizes"])):
        sel = i < size                                   # sample 0 occupies the first `size` neurons
        ax.plot(1e3 * t[sel], offset + i[sel], "|", ms=3, label=f"layer {layer} ({size})")
        offset += size
    ax.set_xlabel("time [ms]")
    ax.set_ylabel("neuron (layers stacked)")
    ax.set_title("spikes of test sample 0", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    bx.plot(1e3 * times, 100 * acc, "-", label="spiking")
    bx.axhline(100 * analog, color="k", ls=":", label="analog")
    bx.set_xlabel("presentation time [ms]")
    bx.set_ylabel("test accuracy [%]")
    bx.set_title("accuracy versus duration", fontsize=10)
    bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def infer_figure(res, path):
    """Accuracy after programming against time (log), mean ± std over device draws, and the mean conductance
    relative to the programmed one."""
    plt = _pyplot()
    t = np.array(res["times_s"])
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.errorbar(t, 100 * np.array(res["accuracy_mean"]), yerr=100 * np.array(res["accuracy_std"]), fmt="o-",
                capsize=3, label=f"test accuracy ({res['draws']} device draws)")
    ax.set_xscale("log")
    ax.set_xlabel("time after programming [s]")
    ax.set_ylabel("test accuracy [%]")
    bx = ax.twinx()
    bx.plot(t, res["conductance_ratio_mean"], "s--", color="tab:orange", label="mean G / G(t0)")
    bx.set_ylabel("mean conductance / programmed")
    ax.set_title(f"{res['device']}: programmed by {res['program']}, drift ν = {res['drift_nu']:g} ± "
                 f"{res['drift_nu_dtod']:g}", fontsize=9)
    lines = ax.get_legend_handles_labels()
    more = bx.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
