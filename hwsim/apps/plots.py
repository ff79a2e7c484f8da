"""Figures. matplotlib is imported inside each function (Agg backend), never at import time."""
from __future__ import annotations

import json

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
    """sweep.png: final test accuracy over the grid — a heatmap of the first two axes with every cell's mean ±
    std over seeds written in it (further axes averaged, said in the title), or a line with error bars for one
    axis; diverged points are marked and left out of the means."""
    import os
    plt = _pyplot()
    from hwsim.workflow.sweep import METRICS
    keys = [k for k in rows[0] if k not in ("point_id", "seed", "chosen") and k not in METRICS]
    keys = keys or [k for k in rows[0] if k == "seed"]        # a grid of seeds only: one point per seed
    cells = {}
    for r in rows:
        cells.setdefault(tuple(json.dumps(r[k]) for k in keys[:2]), []).append(r)
    axes = [list(dict.fromkeys(json.dumps(r[k]) for r in rows)) for k in keys[:2]]

    def stats(group):
        acc = [_accuracy(r) for r in group if not r.get("diverged")]
        acc = [a for a in acc if np.isfinite(a)]
        return (100 * np.mean(acc) if acc else np.nan, 100 * np.std(acc) if acc else np.nan, len(group),
                sum(bool(r.get("diverged")) for r in group))
    seeds = max(len(g) for g in cells.values())
    fig, ax = plt.subplots(figsize=(7, 5))
    if len(keys) == 1:
        xs = axes[0]
        st = [stats(cells[(x,)]) for x in xs]
        ax.errorbar(range(len(xs)), [s[0] for s in st], yerr=[s[1] for s in st], fmt="o-", capsize=3)
        for i, s in enumerate(st):
            if s[3]:
                ax.annotate(f"{s[3]} diverged", (i, s[0] if np.isfinite(s[0]) else 0), fontsize=7, color="r")
        ax.set_xticks(range(len(xs)), [json.loads(x) for x in xs], rotation=30, fontsize=8)
        ax.set_xlabel(keys[0])
        ax.set_ylabel("final test accuracy [%]")
        ax.set_ylim(0, 100)
    else:
        a, b = axes
        mean = np.full((len(a), len(b)), np.nan)
        for i, x in enumerate(a):
            for j, y in enumerate(b):
                if (x, y) not in cells:
                    continue
                m, sd, n, div = stats(cells[(x, y)])
                mean[i, j] = m
                label = "diverged" if not np.isfinite(m) else f"{m:.1f}" + (f"\n±{sd:.1f}" if n > 1 else "")
                if div and np.isfinite(m):
                    label += f"\n({div} div.)"
                ax.text(j, i, label, ha="center", va="center", fontsize=7,
                        color="r" if not np.isfinite(m) else ("w" if m < 60 else "k"))
        im = ax.imshow(mean, vmin=0, vmax=100, cmap="viridis", aspect="auto", origin="lower")
        ax.set_yticks(range(len(a)), [json.loads(x) for x in a], fontsize=8)
        ax.set_xticks(range(len(b)), [json.loads(x) for x in b], rotation=30, fontsize=8)
        ax.set_ylabel(keys[0])
        ax.set_xlabel(keys[1])
        fig.colorbar(im, label="final test accuracy [%]")
    rest = f"; averaged over {', '.join(keys[2:])}" if len(keys) > 2 else ""
    ax.set_title(f"sweep of {' × '.join(keys[:2])}: mean ± std over {seeds} run(s) per cell{rest}", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "sweep.png"), dpi=120)
    plt.close(fig)


def trace_figure(path, what, out):
    """From a trace: 'curves' (loss, test and validation accuracy per epoch), 'conductance' (histograms of G+
    and G− at every snapshot, coloured by epoch), 'pulses' (pulses per device, potentiation and depression
    apart: endurance). Titles name the rule, the device and the epochs."""
    from matplotlib.ticker import MaxNLocator

    from hwsim.workflow.trace import Trace
    plt = _pyplot()
    with Trace(path) as t:
        s = t.summary()
        title = f"{s['rule']} on {s['device']}, {s['epochs']} epoch(s)" + ("  (diverged)" if s["diverged"] else "")
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        if what == "curves":
            m = t.metrics()
            axes[0].plot(m["epoch"], m["train_loss"], "o-")
            axes[0].set_ylabel("training loss [nats]")
            axes[1].plot(m["epoch"], 100 * m["test_accuracy"], "o-", label="test")
            if np.isfinite(m["val_accuracy"]).any():
                axes[1].plot(m["epoch"], 100 * m["val_accuracy"], "s--", label="validation")
            axes[1].set_ylabel("accuracy [%]")
            axes[1].legend(fontsize=8)
            for a in axes:
                a.set_xlabel("epoch")
                a.xaxis.set_major_locator(MaxNLocator(integer=True))
        elif what == "conductance":
            snaps = {}
            for name in t.matrices():
                for tile in t.tiles(name):
                    epochs, gp, gm = t.snapshots(tile)
                    for k, e in enumerate(epochs):
                        acc = snaps.setdefault(int(e), ([], []))
                        acc[0].append(gp[k].ravel())
                        acc[1].append(gm[k].ravel())
            if not snaps:
                for a in axes:
                    a.text(0.5, 0.5, "no conductance snapshots (trace.snapshots)", ha="center",
                           transform=a.transAxes)
            cmap = plt.get_cmap("viridis")
            order = sorted(snaps)
            for k, e in enumerate(order):
                color = cmap(k / max(len(order) - 1, 1))
                for a, values in zip(axes, snaps[e]):
                    a.hist(1e6 * np.concatenate(values), bins=60, histtype="step", color=color,
                           label=f"epoch {e}")
            for a, side in zip(axes, ("G+", "G−")):
                a.set_xlabel(f"{side} [µS]")
                a.set_ylabel("devices")
            if order:
                axes[0].legend(fontsize=7, ncol=1 + len(order) // 12)
        else:
            counts = np.zeros(4, object)
            parts = [[], [], [], []]
            for name in t.matrices():
                for tile in t.tiles(name):
                    pc = t.pulse_count(tile).reshape(4, -1)
                    for k in range(4):
                        parts[k].append(pc[k])
            counts = [np.concatenate(p) for p in parts]
            for a, (pot, dep, side) in zip(axes, ((0, 1, "G+"), (2, 3, "G−"))):
                top = max(1, int(max(counts[pot].max(initial=0), counts[dep].max(initial=0))))
                bins = np.linspace(0, top, 50)
                a.hist(counts[pot], bins=bins, histtype="step", label=f"potentiation ({counts[pot].sum():.3g})")
                a.hist(counts[dep], bins=bins, histtype="step", label=f"depression ({counts[dep].sum():.3g})")
                a.set_xlabel(f"pulses per {side} device")
                a.set_ylabel("devices")
                a.set_yscale("log")
                a.legend(fontsize=8)
        fig.suptitle(f"{title}: {what}", fontsize=10)
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
