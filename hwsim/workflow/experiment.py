"""Running one configured training: the shared path of ``hwsim train``, ``compare``, ``sweep``, the examples
and the benchmarks.

One seed tree per run: the config's seed is the root SeedSequence; the network takes it whole (tiles are its
children ("tile", k), initial weights ("weights")), the rule the child ("rule"), the order of the training
data ("data") and the trace's subsampling ("trace").
"""
from __future__ import annotations

import time

import numpy as np

from hwsim import learning_rules
from hwsim.devices.rng import child
from hwsim.hardware.cost import coefficients, network_cost
from hwsim.hardware.network import Network
from hwsim.workflow import config as config_mod
from hwsim.workflow.datasets import load
from hwsim.workflow.trainer import train


def build_network(cfg: config_mod.Config, n_features: int | None = None, n_classes: int | None = None,
                  random_state=None) -> Network:
    """The network ``cfg`` describes (layers for the dataset's sizes, in the form the rule needs)."""
    req = cfg.requirements()
    net = cfg.network
    return Network(cfg.layer_specs(n_features, n_classes), cfg.device_model(), cfg.periphery_model(),
                   net["tile_rows"], net["tile_cols"],
                   random_state=np.random.SeedSequence(cfg.seed) if random_state is None else random_state,
                   pair=req["pair"], shared_basis=net["shared_basis"], center=req["center"],
                   decorrelate=req["decorrelate"], weight_fill=net["weight_fill"])


def run_config(cfg: config_mod.Config, trace_path: str | None = None, progress: bool = True, data=None,
               force: bool = False) -> dict:
    """Train as ``cfg`` says; write a trace to ``trace_path`` (or cfg.trace.path) if given; return a summary.
    The trace path is checked before the data is loaded (``trace.check_output``; ``force`` replaces a file
    that is not a trace)."""
    trace_path = trace_path or cfg.trace["path"] or None
    if trace_path:
        from hwsim.workflow.trace import check_output
        check_output(trace_path, force)
    root = np.random.SeedSequence(cfg.seed)
    if data is None:
        cfg.check_size()                          # with the documented dataset shape, before loading anything
    data = (data or load(cfg.dataset["name"], cfg.dataset["path"] or None)).with_validation(cfg.dataset["validation"])
    try:
        cfg.check_size(data.n_features, data.n_classes)  # the data's own shape (a label of 1e9: 1e9 classes)
    except ValueError as exc:
        raise ValueError(f"{exc} (dataset {data.name}: {data.n_features} features, {data.n_classes} classes = "
                         "its largest label + 1)") from None
    net = build_network(cfg, data.n_features, data.n_classes, root)
    tr = cfg.training
    rule = cfg.rule["name"]
    learner = learning_rules.build(rule, net, tr["lr"], random_state=child(root, "rule"),
                                   update=cfg.update_parameters(), **cfg.rule_hyper())
    coeff = coefficients(net.device, cfg.cost)
    trace_path = trace_path or cfg.trace["path"] or None
    writer = None
    if trace_path:
        from hwsim.workflow.trace import TraceWriter
        writer = TraceWriter(trace_path, cfg, net, coeff, tr["epochs"], child(root, "trace"), force=force)
    t0 = time.perf_counter()
    hist = train(net, learner, data, tr["epochs"], tr["batch_size"], random_state=child(root, "data"),
                 progress=progress, on_epoch=writer.on_epoch if writer else None)
    wall = time.perf_counter() - t0
    if writer:
        writer.finish(hist)
    acc, val = hist["test_accuracy"], hist["val_accuracy"]
    sizes = [data.n_features, *cfg.network["hidden"], data.n_classes]
    cost = network_cost(net, coeff)["total"]
    return {"rule": rule, "device": cfg.device_label(), "dataset": data.name, "sizes": sizes,
            "activation": cfg.network["activation"], "epochs": tr["epochs"], "batch_size": tr["batch_size"],
            "lr": tr["lr"], "seed": cfg.seed, "test_accuracy": acc[-1] if acc else None,
            "accuracy_per_epoch": acc, "val_accuracy": val[-1] if val else None, "val_accuracy_per_epoch": val,
            "train_loss_per_epoch": hist["train_loss"], "pulses": int(sum(hist["pulses"])),
            "pulses_per_epoch": hist["pulses"], "saturated_per_epoch": hist["saturated"],
            "diverged": hist["diverged"], "diverged_reason": hist["diverged_reason"], "wall_s": wall, "trainable_parameters": net.trainable_parameters(),
            "dense_parameters": sum(s.dense_params for s in net.specs), "tiles": len(net.all_tiles()),
            "energy_J": cost["energy_J"], "write_energy_J": cost["write_energy_J"],
            "read_energy_J": cost["read_energy_J"], "digital_energy_J": cost["digital_energy_J"],
            "digital_macs": cost["digital_macs"], "cell_reads": cost["cell_reads"], "latency_s": cost["latency_s"],
            "trace": trace_path or "",
            **{k: val for k, val in hist["extra"].items()}}


def run(rule: str = "bp", device: str = "ideal", hidden=(32,), activation: str = "relu", epochs: int = 30,
        batch_size: int = 32, lr: float = 0.1, seed: int = 0, dataset: str = "digits", dataset_path=None,
        rank=None, tile_size: int = 256, sets: dict | None = None, progress: bool = True, data=None,
        trace_path=None) -> dict:
    """Train ``rule`` on ``device`` from plain arguments (``sets``: key paths, e.g. ``device.dw_min``, or bare
    keys resolved as ``--set`` resolves them)."""
    flags = {"rule": rule, "device": device, "hidden": tuple(hidden), "activation": activation, "epochs": epochs,
             "batch_size": batch_size, "lr": lr, "seed": seed, "dataset": dataset, "dataset_path": dataset_path,
             "rank": rank, "tile_size": tile_size}
    cfg = config_mod.from_flags(None, flags, sets)
    return run_config(cfg, trace_path, progress, data)
