"""Running one configured training: the shared path of ``hwsim train``, ``compare``, ``sweep``, the examples
and the benchmarks."""
from __future__ import annotations

import time

from hwsim import learning_rules

from hwsim.workflow import config as config_mod
from hwsim.hardware.assembler import mlp
from hwsim.hardware.cost import coefficients, network_cost
from hwsim.workflow.datasets import load
from hwsim.hardware.network import Network
from hwsim.workflow.trainer import train


def run_config(cfg: config_mod.Config, trace_path: str | None = None, progress: bool = True, data=None) -> dict:
    """Train as ``cfg`` says; write a trace to ``trace_path`` (or cfg.trace.path) if given; return a summary."""
    device = cfg.device_model()
    periphery = cfg.periphery_model()
    rule = cfg.rule["name"]
    req = learning_rules.requirements(rule)
    data = data or load(cfg.dataset["name"], cfg.dataset["path"] or None)
    sizes = [data.n_features, *cfg.network["hidden"], data.n_classes]
    layers = mlp(sizes, cfg.network["activation"], req["factorization"] or "dense", cfg.network["rank"])
    net = Network(layers, device, periphery, cfg.network["tile_rows"], cfg.network["tile_cols"],
                  random_state=cfg.seed, pair=req["pair"], decorrelate=req["decorrelate"],
                  shared_basis=cfg.network["shared_basis"], weight_fill=cfg.network["weight_fill"])
    tr = cfg.training
    learner = learning_rules.build(rule, net, tr["lr"], random_state=cfg.seed, **cfg.rule_hyper())
    coeff = coefficients(device, cfg.cost)
    trace_path = trace_path or cfg.trace["path"] or None
    writer = None
    if trace_path:
        from hwsim.workflow.trace import TraceWriter
        writer = TraceWriter(trace_path, cfg, net, coeff, tr["epochs"], cfg.seed)
    t0 = time.perf_counter()
    hist = train(net, learner, data, tr["epochs"], tr["batch_size"], random_state=cfg.seed, progress=progress,
                 on_epoch=writer.on_epoch if writer else None)
    wall = time.perf_counter() - t0
    if writer and (hist["diverged"] or not hist["epoch"]):
        writer.write(hist)                  # record the divergence too
    acc = hist["test_accuracy"]
    cost = network_cost(net, coeff)["total"]
    return {"rule": rule, "device": cfg.device["preset"], "dataset": data.name, "sizes": sizes,
            "activation": cfg.network["activation"], "epochs": tr["epochs"], "batch_size": tr["batch_size"],
            "lr": tr["lr"], "seed": cfg.seed, "test_accuracy": acc[-1] if acc else None,
            "accuracy_per_epoch": acc, "train_loss_per_epoch": hist["train_loss"], "pulses": int(sum(hist["pulses"])),
            "pulses_per_epoch": hist["pulses"], "saturated_per_epoch": hist["saturated"],
            "diverged": hist["diverged"], "wall_s": wall, "trainable_parameters": net.trainable_parameters(),
            "dense_parameters": sum(s.dense_params for s in layers), "tiles": len(net.all_tiles()),
            "energy_J": cost["energy_J"], "write_energy_J": cost["write_energy_J"], "trace": trace_path or "",
            **{k: v for k, v in hist["extra"].items()}}


def run(rule: str = "bp", device: str = "ideal", hidden=(32,), activation: str = "relu", epochs: int = 30,
        batch_size: int = 32, lr: float = 0.1, seed: int = 0, dataset: str = "digits", dataset_path=None,
        rank=None, tile_size: int = 256, sets: dict | None = None, progress: bool = True, data=None,
        trace_path=None) -> dict:
    """Train ``rule`` on ``device`` from plain arguments (``sets``: key paths, e.g. ``device.dw_min``; bare
    keys go to the device, the periphery or the rule, whichever has them)."""
    cfg = config_mod.load(sets=flag_sets(rule, device, hidden, activation, epochs, batch_size, lr, seed, dataset,
                                         dataset_path, rank, tile_size, sets))
    return run_config(cfg, trace_path, progress, data)


def flag_sets(rule, device, hidden, activation, epochs, batch_size, lr, seed, dataset, dataset_path, rank,
              tile_size, sets) -> dict:
    out = {"rule.name": rule, "device.preset": device, "network.hidden": list(hidden),
           "network.activation": activation, "training.epochs": epochs, "training.batch_size": batch_size,
           "training.lr": lr, "seed": seed, "dataset.name": dataset, "dataset.path": dataset_path or "",
           "network.rank": rank, "network.tile_rows": tile_size, "network.tile_cols": tile_size}
    out.update(resolve_bare(device, sets or {}))
    return out


def resolve_bare(device_name: str, sets: dict) -> dict:
    """Bare ``--set`` keys → key paths: the device's field, else the periphery's, else a rule key."""
    import dataclasses

    from hwsim import devices

    from hwsim.hardware.periphery import Periphery
    dev_fields = {f.name for f in dataclasses.fields(devices.get_device(device_name))}
    per_fields = {f.name for f in dataclasses.fields(Periphery)}
    out = {}
    for key, value in sets.items():
        if "." in key:
            out[key] = value
        elif key in dev_fields:
            out[f"device.{key}"] = value
        elif key in per_fields:
            out[f"periphery.{key}"] = value
        else:
            out[f"rule.{key}"] = value
    return out
