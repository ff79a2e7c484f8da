"""The ``hwsim`` command line. Exit codes: 0 ok, 1 run failed, 2 bad usage or parameters."""
from __future__ import annotations

import argparse
import errno
import json
import math
import sys


class UsageError(Exception):
    """Bad command-line input (exit 2)."""


def _failed(reason: str) -> int:
    """A run that failed (not the input's fault): one line on stderr, exit 1."""
    print(f"hwsim: run failed: {reason}", file=sys.stderr)
    return 1


def _device(name: str, sets=None):
    from hwsim.workflow.config import parse_sets, resolve_device
    return resolve_device(name, parse_sets(sets))


# ---- hwsim devices ---------------------------------------------------------------------------------------
def cmd_devices_list(args) -> int:
    from hwsim.devices import MODELS
    from hwsim.devices.presets import PRESETS
    rows = [(p.name, p.device.name, p.device.levels_label(), f"{p.device.on_off_ratio:g}",
             p.device.nonlinearity_label(), p.source) for p in PRESETS.values()]
    if args.json:
        keys = ("name", "model", "levels", "on_off", "nonlinearity", "source")
        print(json.dumps({"presets": [dict(zip(keys, r)) for r in rows], "models": list(MODELS)}, indent=1))
        return 0
    widths = [max(len(r[i]) for r in rows + [("name", "model", "levels", "on/off", "nonlinearity", "")])
              for i in range(5)]
    head = ("name", "model", "levels", "on/off", "nonlinearity", "source")
    print("  ".join(h.ljust(w) for h, w in zip(head, widths + [0])))
    for r in rows:
        src = r[5] if len(r[5]) <= 90 else r[5][:87] + "..."
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + src)
    print(f"\nmodels (defaults: hwsim devices show MODEL): {', '.join(MODELS)}")
    print("levels: pulses from G_min to G_max (NeuroSim), n_states, or ~ range/step; on/off: G_max/G_min")
    return 0


def cmd_devices_show(args) -> int:
    from hwsim.devices.presets import PRESETS
    dev = _device(args.name, args.set)
    params = dev.parameters()
    if args.json:
        print(json.dumps({"name": args.name, "model": dev.name, "parameters": params}, indent=1, default=str))
        return 0
    from hwsim.workflow.config import device_label, is_device_file
    print(f"{device_label(args.name)}  (model: {dev.name}" + (f", from {args.name})" if is_device_file(args.name)
                                                            else ")"))
    if args.name in PRESETS:
        p = PRESETS[args.name]
        print(f"source: {p.source}")
        print("figures behind the preset:")
        for k, v in p.figures.items():
            print(f"  {k}: {v}")
        if p.notes:
            print(f"notes: {p.notes}")
    print(f"g_min (= g_max/on_off_ratio): {dev.g_min:.6g} S")
    width = max(len(k) for k in params)
    for k, v in params.items():
        val = ", ".join(f"{x:.5g}" for x in v) if isinstance(v, tuple) else (f"{v:.6g}" if isinstance(v, float) else v)
        print(f"  {k.ljust(width)}  {val}  {dev.unit(k)}".rstrip())
    return 0


def cmd_devices_curve(args) -> int:
    from hwsim.devices.response import pulse_response
    dev = _device(args.name, args.set)
    w = pulse_response(dev, args.pulses, args.devices, args.seed)[1:]
    mean, std = w.mean(axis=1), w.std(axis=1)
    if args.json:
        print(json.dumps({"device": args.name, "model": dev.name, "pulses": args.pulses, "devices": args.devices,
                          "seed": args.seed, "mean": mean.tolist(), "std": std.tolist()}))
        return 0
    print(f"# {args.name} ({dev.name}): {args.pulses} potentiation then {args.pulses} depression pulses, "
          f"{args.devices} devices, seed {args.seed}; weight in normalised units")
    print(f"{'pulse':>6} {'dir':>4} {'mean':>12} {'std':>12}")
    for k in range(2 * args.pulses):
        print(f"{k + 1:6d} {'up' if k < args.pulses else 'down':>4} {mean[k]:12.6f} {std[k]:12.6f}")
    return 0


def cmd_devices_plot(args) -> int:
    from hwsim.apps import plots
    from hwsim.devices.response import pulse_response
    curves = {}
    for name in args.names:
        dev = _device(name, args.set)
        pulses = args.pulses or min(2000, int(1.25 * dev.full_sweep_pulses()) + 1)
        from hwsim.workflow.config import device_label
        curves[device_label(name)] = (dev, pulse_response(dev, pulses, args.devices, args.seed))
    import os
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    plots.device_responses(curves, args.output)
    print(f"wrote {args.output} ({len(curves)} panels)")
    return 0


def cmd_devices_fit(args) -> int:
    import os
    from hwsim.apps import plots
    from hwsim.devices.fit import fit_measurement, read_csv
    from hwsim.workflow.outputs import check_output
    base = os.path.splitext(args.data)[0]
    toml_path = args.toml or base + f"_{args.model}.toml"
    png = args.output or base + f"_{args.model}.png"
    check_output(toml_path, "fit-toml", args.force)
    check_output(png, "figure", args.force)
    res = fit_measurement(args.model, read_csv(args.data))
    with open(toml_path, "w") as f:
        f.write(res.to_toml(label=os.path.splitext(os.path.basename(toml_path))[0]))
    plots.fit_figure(res, png)
    if args.json:
        print(json.dumps({"model": args.model, "parameters": dict(zip(res.names, res.values.tolist())),
                          "errors": dict(zip(res.names, res.errors.tolist())), "r2": res.r2, "rmse_S": res.rmse,
                          "variability": {k: {"value": v, "error": e} for k, (v, e) in res.variability.items()},
                          "devices": res.curves.devices, "toml": toml_path, "plot": png}))
    else:
        print(f"{args.model} fitted to {args.data}")
        print(res.table())
        print(f"wrote {toml_path} (usable as a config: hwsim train {toml_path}) and {png}")
    return 0


def cmd_spiking(args) -> int:
    import numpy as np
    from hwsim.apps import spiking
    from hwsim.workflow.datasets import for_trace
    duration = spiking.parse_time(args.duration, "--duration")
    dt = spiking.parse_time(args.dt, "--dt")
    tau = spiking.parse_time(args.tau, "--tau")
    spiking.check_run(duration, dt, args.read_noise, args.force)
    if args.plot:
        from hwsim.workflow.outputs import check_output
        check_output(args.plot if isinstance(args.plot, str) else _beside(args.trace, "_spiking.png"), "figure",
                     args.force)
    net, cfg = spiking.from_trace(args.trace)
    data = for_trace(cfg, args.trace, args.dataset_path)
    n = min(args.samples, len(data.x_test))
    x, y = data.x_test[:n], data.y_test[:n]
    analog = float(np.mean(net.analog_forward(x).argmax(axis=1) == y))
    snn = net.normalised(data.x_train)
    res = spiking.simulate(snn, x, duration, dt, args.max_rate, tau, args.input, args.reset, args.read_noise,
                           args.seed, record_raster=args.plot, target=args.codegen, force=args.force)
    acc = float(np.mean(res["predicted"] == y))
    lat = spiking.first_correct_latency(res, y)
    out = {"trace": args.trace, "samples": n, "duration_s": duration, "dt_s": dt, "analog_accuracy": analog,
           "spiking_accuracy": acc, "spikes_per_inference": res["spikes_per_inference"],
           "synaptic_events_per_inference": res["synaptic_events_per_inference"],
           "latency_first_correct_s": float(np.nanmedian(lat)) if np.isfinite(lat).any() else None,
           "never_correct_fraction": float(np.mean(np.isnan(lat))), "simulation_wall_s": res["sim_wall_s"]}
    if args.plot:
        from hwsim.apps import plots
        times = np.linspace(duration / 50, duration, 50)
        png = args.plot if isinstance(args.plot, str) else _beside(args.trace, "_spiking.png")
        plots.spiking_figure(res, times, spiking.accuracy_over_time(res, y, times), analog, png)
        out["plot"] = png
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{n} test samples, {duration * 1e3:g} ms at dt {dt * 1e3:g} ms, {args.input} inputs up to "
              f"{args.max_rate:g} Hz")
        print(f"  analog accuracy   {analog:.4f}   (float network from the trace's conductances)")
        print(f"  spiking accuracy  {acc:.4f}")
        print(f"  spikes per inference {out['spikes_per_inference']:.1f}, synaptic events per inference "
              f"{out['synaptic_events_per_inference']:.0f}")
        if out["latency_first_correct_s"] is not None:
            print(f"  latency to first correct decision: median {out['latency_first_correct_s'] * 1e3:.1f} ms "
                  f"({100 * out['never_correct_fraction']:.1f} % never correct)")
        if args.plot:
            print(f"wrote {out['plot']}")
    return 0


# ---- hwsim train / map -------------------------------------------------------------------------------------
def _hidden(text: str) -> tuple:
    try:
        sizes = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be sizes like 32 or 64,32, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be >= 1, got {text!r}")
    return sizes


def _config_from_args(args):
    """The config file (if any), then the flags given, then --set: later wins (hwsim.workflow.config)."""
    from hwsim.workflow import config as config_mod
    flags = {flag: getattr(args, flag, None) for flag in config_mod.FLAGS}
    given = config_mod.parse_sets(args.set)
    if getattr(args, "events", False):
        given = {"trace.events": True, **given}
    return config_mod.from_flags(args.config, flags, given)


def cmd_train(args) -> int:
    import os
    from hwsim.workflow.experiment import run_config
    cfg = _config_from_args(args)
    trace = args.trace or (os.path.join(args.out, "trace.h5") if args.out else None) or cfg.trace["path"] or None
    if trace:
        from hwsim.workflow.trace import check_output
        check_output(trace, args.force)            # before the data is loaded and anything is trained
    res = run_config(cfg, trace, progress=not (args.json or args.quiet), force=args.force)
    if args.json:
        print(json.dumps(res))
    elif not args.quiet:
        print(f"rule {res['rule']} on {res['device']} — {res['dataset']} {'-'.join(map(str, res['sizes']))} "
              f"{res['activation']}, {res['trainable_parameters']} trainable parameters on {res['tiles']} tiles")
        print(f"{'epoch':>5} {'train loss':>11} {'test acc':>9} {'pulses':>12} {'saturated':>10}")
        for i, acc in enumerate(res["accuracy_per_epoch"]):
            print(f"{i + 1:5d} {res['train_loss_per_epoch'][i]:11.4f} {acc:9.4f} {res['pulses_per_epoch'][i]:12d} "
                  f"{res['saturated_per_epoch'][i]:10.4f}")
        if res["test_accuracy"] is not None:
            print(f"final test accuracy {res['test_accuracy']:.4f}, {res['pulses']:.3e} pulses, "
                  f"{res['energy_J']:.3e} J, {res['wall_s']:.1f} s")
        if res["diverged"]:
            print(f"DIVERGED: {res['diverged_reason']} — training stopped")
        if trace:
            print(f"trace: {trace}")
    return _failed(f"diverged: {res['diverged_reason']}") if res["diverged"] else 0


def cmd_config_show(args) -> int:
    from hwsim.workflow.config import dumps
    cfg = _config_from_args(args)
    full = cfg.resolved()
    print(json.dumps(full, indent=1, default=str) if args.json else dumps(full), end="" if not args.json else "\n")
    return 0


def _base_config(args, file_device=True, point=None):
    """The raw config every point of a grid starts from, and its validated form — with ``point`` (key path →
    value) applied when the base alone is not a run (compare: the rule and device come from the points)."""
    from hwsim.workflow import config as config_mod
    flags = {flag: getattr(args, flag, None) for flag in config_mod.FLAGS}
    base = config_mod.raw_from_flags(args.config, flags, config_mod.parse_sets(args.set), file_device)
    raw = json.loads(json.dumps(base))
    for key, value in (point or {}).items():
        config_mod.set_path(raw, key, value)
    return base, config_mod.validate(raw)       # checked before any point runs (run_grid checks every point)


def _grid_run(args, points, label_keys, plot, base=None):
    from hwsim.workflow.sweep import run_grid
    if base is None:
        base, _ = _base_config(args)
    rows = run_grid(base, points, args.out, args.workers, args.scheduler,
                    progress=not (args.json or args.quiet), label_keys=label_keys)
    plot(rows, args.out)
    if args.json:
        print(json.dumps(rows))
    elif not args.quiet:
        print(f"{len(rows)} points in {args.out}/results.csv")
        for r in rows:
            label = ", ".join(f"{k}={r[k]}" for k in label_keys)
            acc = r["test_accuracy"]
            print(f"  {label:50s} accuracy {'—' if acc is None else format(acc, '.4f')}  pulses {r['pulses']}"
                  + ("  DIVERGED" if r["diverged"] else ""))
    n = sum(bool(r["diverged"]) for r in rows)
    return _failed(f"{n} of {len(rows)} points diverged (results.csv: diverged_reason)") if n else 0


def cmd_compare(args) -> int:
    import os

    from hwsim.apps import plots
    from hwsim.workflow import compare
    from hwsim.workflow.sweep import parse_axis, run_grid, write_view
    rules = [r for r in args.rules.split(",") if r]
    devs = [d for d in args.devices.split(",") if d]
    if not rules or not devs:
        raise UsageError("--rules and --devices need at least one name each")
    base, cfg = _base_config(args, file_device=False,      # --devices replaces the file's device
                             point={"rule.name": rules[0], "device.preset": devs[0]})
    from hwsim.workflow.config import resolve_key
    tune = dict(cfg.compare["tune"])
    tune.update(dict(parse_axis(t) for t in args.tune or []))
    tune = {resolve_key(k, cfg.device["preset"]): vals for k, vals in tune.items()}
    seeds = args.seeds or cfg.compare["seeds"]
    base.pop("compare", None)                  # the protocol is not part of a run's config (nor of its point id)
    if tune:
        validation = cfg.dataset["validation"] or compare.DEFAULT_VALIDATION
        base.setdefault("dataset", {})["validation"] = validation
    points = compare.points(rules, devs, tune, [cfg.seed + k for k in range(seeds)])
    keys = ["rule.name", "device.preset", *tune, "seed"]
    rows = run_grid(base, points, args.out, args.workers, args.scheduler,
                    progress=not (args.json or args.quiet), label_keys=keys)
    summary = compare.summarize(rows, list(tune))
    chosen = {pid for c in summary for pid in c["chosen_points"]}
    write_view(args.out, rows, keys + ["chosen"], {r["point_id"]: {"chosen": r["point_id"] in chosen}
                                                   for r in rows})
    compare.write_summary(os.path.join(args.out, "summary.csv"), summary, list(tune))
    compare.mark_traces(rows, summary, list(tune))
    plots.compare(rows, summary, list(tune), args.out)
    if args.json:
        print(json.dumps({"summary": summary, "runs": rows}))
    elif not args.quiet:
        print(f"{len(rows)} runs in {args.out}/results.csv; per (rule, device) in {args.out}/summary.csv")
        print(f"test accuracy %, mean ± std over {seeds} seed(s)"
              + (f", {', '.join(tune)} chosen on a validation split of "
                 f"{100 * base['dataset']['validation']:.0f} % of the training set" if tune else ""))
        width = max(len(r) for r in rules) + 2
        print(" " * width + "".join(f"{d:>28s}" for d in devs))
        by = {(c["rule.name"], c["device.preset"]): c for c in summary}
        for r in rules:
            print(f"{r:<{width}s}" + "".join(f"{compare.format_cell(by[(r, d)], list(tune)):>28s}" for d in devs))
    n = sum(c["diverged"] == c["seeds"] for c in summary)
    return _failed(f"every run of {n} of {len(summary)} (rule, device) cells diverged") if n else 0


def cmd_sweep(args) -> int:
    from hwsim.apps import plots
    from hwsim.workflow.sweep import grid_points, parse_axis
    if not args.grid:
        raise UsageError("sweep needs at least one --grid key.path=values")
    from hwsim.workflow.config import resolve_key
    base, cfg = _base_config(args)
    axes = [parse_axis(g) for g in args.grid]
    axes = [(resolve_key(k, cfg.device["preset"]), v) for k, v in axes]
    seeds = args.seeds or cfg.compare["seeds"]
    if seeds > 1:
        if any(k == "seed" for k, _ in axes):
            raise UsageError("give either --seeds or a seed grid axis, not both")
        axes.append(("seed", [cfg.seed + k for k in range(seeds)]))
    base.pop("compare", None)
    return _grid_run(args, grid_points(axes), [k for k, _ in axes], plots.sweep, base)


def cmd_inspect(args) -> int:
    from hwsim.workflow.trace import summary
    s = summary(args.trace)
    if args.json:
        print(json.dumps(s, default=str))
        return 0
    print(f"{s['path']}: hwsim trace v{s['format_version']}, rule {s['rule']} on {s['device']}, seed {s['seed']}")
    acc = s["final_test_accuracy"]
    print(f"  {s['epochs']} epochs, final test accuracy {acc if acc is None else format(acc, '.4f')}"
          + (f"  DIVERGED: {s['diverged_reason']}" if s["diverged"] else ""))
    print(f"  {len(s['matrices'])} matrices on {s['tiles']} tiles: {', '.join(s['matrices'])}")
    print(f"  pulses {s['pulses']:.3e}; energy {s['energy_J']:.3e} J (writes {s['write_energy_J']:.3e} J)")
    print("  versions: " + ", ".join(f"{k} {v}" for k, v in s["versions"].items() if v))
    return 0


def cmd_events(args) -> int:
    from hwsim.workflow.events import to_csv
    from hwsim.workflow.trace import Trace
    with Trace(args.trace) as t:
        events = t.events()
        recorded = bool(t.config.trace["events"])
    n = len(events["step"])
    if args.csv:
        to_csv(events, args.csv)
    if args.json:
        print(json.dumps({"trace": args.trace, "events": n, "pulses": int(events["count"].sum()),
                          "csv": args.csv or None, "recorded": recorded}))
    else:
        if not recorded:
            print(f"{args.trace}: no events recorded (train with --events)")
        else:
            print(f"{args.trace}: {n} events, {int(events['count'].sum())} pulses"
                  + (f", steps {int(events['step'].min())}–{int(events['step'].max())}" if n else ""))
        if args.csv:
            print(f"wrote {args.csv} (columns: step, tile, row, col, side 0=G+ 1=G−, polarity, count)")
    return 0


def cmd_infer(args) -> int:
    from hwsim.apps import plots
    from hwsim.workflow.infer import infer, parse_times
    from hwsim.workflow.outputs import check_output
    check_output(args.output or _beside(args.trace, "_infer.png"), "figure", args.force)
    res = infer(args.trace, parse_times(args.times), args.draws, args.program, args.seed,
                progress=not (args.json or args.quiet), dataset_path=args.dataset_path)
    png = args.output or _beside(args.trace, "_infer.png")
    plots.infer_figure(res, png)
    res["figure"] = png
    if args.json:
        print(json.dumps(res))
    elif not args.quiet:
        print(f"{args.trace}: programmed by {args.program} onto {args.draws} fresh draws of {res['device']} "
              f"({res['programming_pulses_mean']:.3g} pulses each); drift ν = {res['drift_nu']:g} ± "
              f"{res['drift_nu_dtod']:g}, t0 = {res['drift_t0_s']:g} s")
        print(f"{'time':>12s} {'accuracy':>16s} {'mean G/G(t0)':>13s}")
        for t, m, s, g in zip(res["times_s"], res["accuracy_mean"], res["accuracy_std"],
                              res["conductance_ratio_mean"]):
            print(f"{t:12.4g} {100 * m:9.2f} ± {100 * s:4.2f} {g:13.4f}")
        print(f"wrote {png}")
    return 0


def _beside(path: str, suffix: str) -> str:
    """A default output next to ``path``: its name without the extension, plus ``suffix`` (run.d/trace →
    run.d/trace_curves.png; a dot in a folder's name is not an extension)."""
    import os
    return os.path.splitext(path)[0] + suffix


def cmd_report(args) -> int:
    from hwsim.apps import report
    from hwsim.workflow.outputs import check_output
    from hwsim.workflow.trace import Trace
    png = args.output or _beside(args.trace, "_report.png")
    check_output(png, "figure", args.force)
    with Trace(args.trace) as t:
        rep = report.build(t)
    report.figure(rep, png)
    if args.json:
        print(json.dumps(dict(rep, figure=png)))
    else:
        print(report.table(rep))
        print(f"wrote {png}")
    return 0


def cmd_plot(args) -> int:
    from hwsim.apps import plots
    out = args.output or _beside(args.trace, f"_{args.what}.png")
    from hwsim.workflow.outputs import check_output
    check_output(out, "figure", args.force)
    plots.trace_figure(args.trace, args.what, out)
    print(f"wrote {out}")
    return 0


def cmd_map(args) -> int:
    from hwsim.hardware.assembler import map_report
    cfg = _config_from_args(args)
    req = cfg.requirements()
    specs = cfg.layer_specs()
    rows = map_report(specs, cfg.network["tile_rows"], cfg.network["tile_cols"], cfg.network["shared_basis"],
                      req["decorrelate"])
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{cfg.rule['name']} on {cfg.dataset['name']}: {'-'.join(str(s.in_features) for s in specs)}-"
          f"{specs[-1].out_features} {cfg.network['activation']}, {specs[0].factorization} layers, "
          f"{cfg.network['tile_rows']}×{cfg.network['tile_cols']} tiles")
    print(f"{'layer':>5} {'matrix':>7} {'shape':>11} {'tiles':>6} {'devices':>9} {'util':>6}")
    for r in rows:
        print(f"{r['layer']:5d} {r['matrix']:>7} {str(r['shape'][0]) + '×' + str(r['shape'][1]):>11} {r['tiles']:6d} "
              f"{r['devices']:9d} {r['utilization']:6.1%}")
    params = sum(s.params for s in specs) + sum(r["weights"] for r in rows if r["role"] == "R")
    dense = sum(s.dense_params for s in specs)
    print(f"total: {sum(r['tiles'] for r in rows)} tiles, {sum(r['devices'] for r in rows)} devices, "
          f"{params} trainable parameters ({params / dense:.0%} of the dense network's {dense})")
    return 0


# ---- parser ----------------------------------------------------------------------------------------------
def _number(kind, low, strict=False, high=None):
    """An argparse type: a finite ``kind`` (int or float) >= low (> low when strict) and <= high, with a message
    naming the range."""
    kind_name = "an integer" if kind is int else "a finite number"
    want = (f"{kind_name} in [{low}, {high}]" if high is not None and not strict
            else f"{kind_name} {'>' if strict else '>='} {low}" + (f" and <= {high}" if high is not None else ""))

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {want}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (strict and value == low) or (high is not None
                                                                                    and value > high):
            raise argparse.ArgumentTypeError(f"must be {want}, got {value}")
        return value
    return parse


_positive_int, _seed, _positive_float = _number(int, 1), _number(int, 0, high=2**63 - 1), _number(float, 0, True)
_count = _number(int, 1, high=1000)         # --seeds, --draws: runs, not a size
_MAX_PULSES = _MAX_DEVICES = 10**6          # hwsim.devices.response.MAX_PULSES, MAX_DEVICES (not imported here:
                                            # the parser starts without Numba)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2): ``hwsim spiking: error: argument --dt: …``; ``-h``
    shows the usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hwsim", description="Train neural networks on simulated analog "
                                     "crossbar hardware: devices, tiles, local learning rules.")
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("devices", help="synapse device models and published presets")
    dsub = dev.add_subparsers(dest="action", required=True)

    p = dsub.add_parser("list", help="presets with their source, and the model names")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_devices_list)

    p = dsub.add_parser("show", help="every parameter of a preset or model, with units")
    p.add_argument("name", help="preset or model name")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_devices_show)

    p = dsub.add_parser("curve", help="mean/std weight per pulse: N up then N down pulses from weight 0")
    p.add_argument("name", help="preset or model name")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter (repeatable)")
    p.add_argument("--pulses", type=_number(int, 1, high=_MAX_PULSES), default=100,
                   help=f"N (default 100, at most {_MAX_PULSES})")
    p.add_argument("--devices", type=_number(int, 1, high=_MAX_DEVICES), default=256,
                   help=f"sampled devices M (default 256, at most {_MAX_DEVICES})")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--json", action="store_true", help="one JSON object with 'mean' and 'std' (length 2N)")
    p.set_defaults(func=cmd_devices_curve)

    p = dsub.add_parser("plot", help="the standard response figure, one panel per device")
    p.add_argument("names", nargs="+", help="preset or model names")
    p.add_argument("-o", "--output", required=True, help="PNG file")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter of every device")
    p.add_argument("--pulses", type=_number(int, 1, high=_MAX_PULSES), default=None,
                   help="N (default: 1.25× a full sweep of each device, at most 2000)")
    p.add_argument("--devices", type=_number(int, 1, high=_MAX_DEVICES), default=256)
    p.add_argument("--seed", type=_seed, default=0)
    p.set_defaults(func=cmd_devices_plot)

    p = dsub.add_parser("fit", help="fit a model to a measured pulse response (CSV: pulse, conductance[, "
                        "direction, device])")
    p.add_argument("data", help="CSV file")
    p.add_argument("--model", required=True, choices=("neurosim", "soft-bounds", "exp-step", "pow-step", "piecewise"))
    p.add_argument("--toml", help="device file to write (default: next to the data)")
    p.add_argument("-o", "--output", help="plot of data versus fit (default: next to the data)")
    p.add_argument("--force", action="store_true", help="replace output files of another kind")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_devices_fit)
    def run_flags(p):
        p.add_argument("config", nargs="?", help="TOML run config (docs/cli.md); flags override it")
        p.add_argument("--rule", help="bp, dfa, dfa_svd, enn, enn_local, with schemes: bp+decor, dfa+decor, "
                       "bp+unidirectional … (default bp)")
        p.add_argument("--device", help="preset, model name, or ideal (default)")
        p.add_argument("--periphery", choices=("default", "ideal"),
                       help="default (8-bit DAC/ADC, output noise) or ideal; fields via --set periphery.X=…")
        p.add_argument("--hidden", type=_hidden, help="hidden sizes, e.g. 32 or 64,32 (default 32)")
        p.add_argument("--activation", choices=("relu", "sigmoid", "tanh"), help="default relu")
        p.add_argument("--epochs", type=_positive_int, help="default 30")
        p.add_argument("--batch-size", type=_positive_int, help="default 32")
        p.add_argument("--lr", type=_positive_float, help="default 0.1")
        p.add_argument("--seed", type=_seed, help="default 0")
        p.add_argument("--dataset", choices=("digits", "mnist", "fashion-mnist"), help="default digits")
        p.add_argument("--dataset-path", help="folder of IDX files or .npz (mnist, fashion-mnist)")
        p.add_argument("--rank", type=_positive_int, help="rank of svd/eigen layers (default: full)")
        p.add_argument("--tile-size", type=_positive_int, help="tile rows = cols (default 256)")
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override any key path (device.dw_min=0.01, training.epochs=5); bare keys go to "
                       "the device, the periphery or the rule")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("train", help="train a network on simulated tiles with a learning rule")
    run_flags(p)
    p.add_argument("--events", action="store_true",
                   help="record every pulse in the trace (trace.events; window and subsample: trace.events_*)")
    p.add_argument("--trace", help="write the HDF5 trace here (docs/trace-format.md)")
    p.add_argument("-o", "--out", help="output folder (trace.h5 goes there unless --trace)")
    p.add_argument("--force", action="store_true", help="replace an existing file that is not an hwsim trace")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("config", help="run configs")
    csub = p.add_subparsers(dest="action", required=True)
    p = csub.add_parser("show", help="print the fully resolved config")
    run_flags(p)
    p.set_defaults(func=cmd_config_show)

    for name, helptext in (("compare", "the rule × device matrix"), ("sweep", "a Cartesian grid of parameters")):
        p = sub.add_parser(name, help=helptext)
        run_flags(p)
        if name == "compare":
            p.add_argument("--rules", required=True, help="comma-separated, e.g. bp,dfa,bp+center+decor")
            p.add_argument("--devices", required=True, help="comma-separated presets or models")
            p.add_argument("--tune", action="append", metavar="KEY=VALUES",
                           help="tune key.path over values (v1,v2,… or start:stop:count) per (rule, device) on a "
                                "validation split of the training set (repeatable; config: [compare] tune)")
            p.add_argument("--seeds", type=_count,
                           help="runs per cell, seeds seed … seed+N−1 (config: [compare] seeds; default 1)")
        else:
            p.add_argument("--grid", action="append", metavar="KEY=VALUES",
                           help="axis: key.path=v1,v2,… or key.path=start:stop:count (repeatable)")
            p.add_argument("--seeds", type=_count,
                           help="runs per grid point (seeds seed … seed+N−1), shown as mean ± std")
        p.add_argument("-o", "--out", default="out", help="folder for results.csv, traces/ and the figure")
        p.add_argument("--workers", type=_number(int, 0), default=0,
                       help="local dask worker processes, at most the available cores (0: in-process)")
        p.add_argument("--scheduler", help="tcp://HOST:PORT of an existing dask scheduler")
        p.set_defaults(func=cmd_compare if name == "compare" else cmd_sweep)

    p = sub.add_parser("inspect", help="summary of a trace")
    p.add_argument("trace")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("events", help="the pulse events a trace recorded (train --events), e.g. as CSV")
    p.add_argument("trace")
    p.add_argument("--csv", help="write every event to this CSV file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("infer", help="deployment over time: program the trained weights onto fresh devices, "
                       "let them drift, read them with noise; accuracy at each time")
    p.add_argument("trace")
    p.add_argument("--times", default="1s,1h,1d,1y", help="times after programming: 1s,10min,1h,1d,1w,1y")
    p.add_argument("--program", choices=("verify", "ideal"), default="verify",
                   help="write-and-verify with real pulses (default) or ideal states")
    p.add_argument("--draws", type=_count, default=3, help="device draws (default 3)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--dataset-path", help="the dataset's files (a path stored in the trace is not opened)")
    p.add_argument("-o", "--output", help="figure (default: next to the trace)")
    p.add_argument("--force", action="store_true", help="replace an output file that is not a PNG")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_infer)

    p = sub.add_parser("report", help="what the chip costs, per layer: area, energy and latency per inference "
                       "and per training step (NeuroSim-style)")
    p.add_argument("trace")
    p.add_argument("-o", "--output", help="figure (default: next to the trace)")
    p.add_argument("--force", action="store_true", help="replace an output file that is not a PNG")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("plot", help="figures from a trace")
    p.add_argument("trace")
    p.add_argument("--what", choices=("conductance", "pulses", "curves"), default="curves")
    p.add_argument("-o", "--output", help="PNG file (default: next to the trace)")
    p.add_argument("--force", action="store_true", help="replace an output file that is not a PNG")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("spiking", help="run a trained network (from a trace) as a spiking network (brian2)")
    p.add_argument("trace", help="trace of a dense ReLU network (hwsim train --trace)")
    p.add_argument("--duration", default="100ms", help="presentation time per sample (default 100ms)")
    p.add_argument("--dt", default="0.1ms", help="simulation time step (default 0.1ms)")
    p.add_argument("--samples", type=_positive_int, default=200, help="test samples (default 200)")
    p.add_argument("--input", choices=("poisson", "regular"), default="poisson")
    p.add_argument("--max-rate", type=_positive_float, default=200.0, help="input rate of x = 1 [Hz]")
    p.add_argument("--tau", default="1s", help="membrane time constant (default 1s: nearly no leak)")
    p.add_argument("--reset", choices=("subtract", "zero"), default="subtract")
    p.add_argument("--read-noise", type=_number(float, 0), default=0.0, help="relative synaptic read noise")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--codegen", choices=("cython", "numpy"), default="cython",
                   help="brian2 target (cython compiles ~20 s per new network; numpy starts at once)")
    p.add_argument("--plot", nargs="?", const=True, default=False, metavar="FILE.png",
                   help="raster and accuracy-versus-time figure")
    p.add_argument("--dataset-path", help="the dataset's files (a path stored in the trace is not opened)")
    p.add_argument("--force", action="store_true",
                   help="run more than the step limit (docs/spiking.md: duration/dt <= 1e6) and replace a --plot "
                   "file that is not a PNG")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_spiking)

    p = sub.add_parser("map", help="tiles, devices, utilisation and parameters of a run config (the configs "
                       "train accepts)")
    run_flags(p)
    p.set_defaults(func=cmd_map)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 500 else text[:497] + "..."


# Errors that are the input's fault: exit 2. OSError is the input's fault when a file cannot be found, read or
# is the wrong kind of file; the machine's (a full disk, an I/O error, no memory) is a failed run.
_RUN_ERRNOS = {errno.ENOSPC, errno.EIO, errno.ENOMEM, errno.EDQUOT, errno.EROFS}


def main(argv=None) -> int:
    """Exit codes: 0 ok; 1 the run failed (diverged, or an error that is not the input's fault: one line, the
    traceback with --debug); 2 bad usage, config or input (one line naming the key path or file and the allowed
    range)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv                      # anywhere on the command line
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    parser.add_argument("--debug", action="store_true", help="on an error, print the traceback too (may be "
                        "given anywhere on the command line)")
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("hwsim: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:                      # noqa: BLE001 — every failure ends in one line and a code
        bad_input = isinstance(exc, (UsageError, ValueError)) or (
            isinstance(exc, OSError) and exc.errno not in _RUN_ERRNOS)
        if debug:
            import traceback
            traceback.print_exc()
        if bad_input:
            print(f"hwsim: error: {_one_line(exc)}", file=sys.stderr)
            return 2
        what = "out of memory" if isinstance(exc, MemoryError) else type(exc).__name__
        print(f"hwsim: run failed: {what}: {_one_line(exc)}" + ("" if debug else " (--debug for the "
                                                                  "traceback)"), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
