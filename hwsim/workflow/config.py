"""Run configuration: one TOML file, validated on load into a ``Config``; every error names its key path.

Sections and keys (defaults in brackets):

    seed = 0
    [dataset]    name ["digits"], path [""]
    [network]    hidden [[32]], activation ["relu"], rank [none: full], tile_rows [256], tile_cols [256],
                 shared_basis [false], weight_fill [none]
    [device]     preset ["ideal"] — a preset, model name or "ideal"; any other key overrides that device's field
    [periphery]  any field of hwsim.hardware.periphery.Periphery (default: ideal periphery for the ideal device,
                 else Periphery())
    [rule]       name ["bp"] — rule with schemes ("bp+decor"); other keys are the rule's hyperparameters
    [training]   epochs [30], batch_size [32], lr [0.1]
    [trace]      path ["": no trace], snapshots ["last"], every epoch list, "all" or "last"; subsample [1.0]
    [cost]       overrides of the cost coefficients (hwsim.hardware.cost.COEFFICIENTS)

``--set key.path=value`` overrides any key (``device.dw_min=0.01``, ``training.epochs=5``).
"""
from __future__ import annotations

import copy
import dataclasses
import tomllib

from hwsim import devices
from hwsim import learning_rules

from hwsim.hardware.periphery import Periphery

SECTIONS = {
    "dataset": {"name": "digits", "path": ""},
    "network": {"hidden": [32], "activation": "relu", "rank": None, "tile_rows": 256, "tile_cols": 256,
                "shared_basis": False, "weight_fill": None},
    "device": {"preset": "ideal"},
    "periphery": {},
    "rule": {"name": "bp"},
    "training": {"epochs": 30, "batch_size": 32, "lr": 0.1},
    "trace": {"path": "", "snapshots": "last", "subsample": 1.0},
    "cost": {},
}
TOP = {"seed": 0}


class ConfigError(ValueError):
    """A config problem; the message starts with the key path."""


def _err(path, message):
    return ConfigError(f"{path}: {message}")


def _check_type(path, value, kind):
    ok = {"int": isinstance(value, int) and not isinstance(value, bool),
          "num": isinstance(value, (int, float)) and not isinstance(value, bool),
          "str": isinstance(value, str), "bool": isinstance(value, bool)}[kind]
    if not ok:
        names = {"int": "an integer", "num": "a number", "str": "a string", "bool": "true or false"}
        raise _err(path, f"must be {names[kind]}, got {value!r}")


def _range(path, value, lo=None, hi=None, strict_lo=False):
    if lo is not None and (value < lo or (strict_lo and value == lo)):
        raise _err(path, f"must be {'>' if strict_lo else '>='} {lo}, got {value}")
    if hi is not None and value > hi:
        raise _err(path, f"must be <= {hi}, got {value}")


def _prefixed(section, exc):
    """'dw_min must be > 0 …' from a model → 'device.dw_min: must be > 0 …'."""
    msg = str(exc)
    head, _, rest = msg.partition(" ")
    if head.isidentifier() and rest:
        return ConfigError(f"{section}.{head}: {rest}")
    return ConfigError(f"{section}: {msg}")


@dataclasses.dataclass
class Config:
    """A validated run configuration (plain sections of values)."""

    seed: int
    dataset: dict
    network: dict
    device: dict
    periphery: dict
    rule: dict
    training: dict
    trace: dict
    cost: dict

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return dumps(self.to_dict())

    # ---- built objects -----------------------------------------------------------------------------------
    def device_model(self):
        over = {k: v for k, v in self.device.items() if k != "preset"}
        return devices.get_device(self.device["preset"], **over)

    def periphery_model(self) -> Periphery:
        base = Periphery.ideal() if self.device["preset"] == "ideal" else Periphery()
        return dataclasses.replace(base, **self.periphery)

    def rule_hyper(self) -> dict:
        return {k: v for k, v in self.rule.items() if k != "name"}


def defaults() -> dict:
    out = copy.deepcopy(TOP)
    out.update(copy.deepcopy(SECTIONS))
    return out


def set_path(data: dict, path: str, value) -> None:
    """Set ``section.key`` (or a top-level key) in a raw config dict."""
    parts = path.split(".")
    if len(parts) == 1:
        if parts[0] not in TOP:
            raise _err(path, f"unknown key; top-level keys: {', '.join(TOP)}; sections: {', '.join(SECTIONS)}")
        data[parts[0]] = value
        return
    if len(parts) != 2 or parts[0] not in SECTIONS:
        raise _err(path, f"unknown key path; sections: {', '.join(SECTIONS)}")
    data.setdefault(parts[0], {})[parts[1]] = value


def load(path: str | None = None, sets: dict | None = None) -> Config:
    """Read a TOML file (or start from defaults), apply ``sets`` (key path → value), validate."""
    raw = {}
    if path:
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    for key, value in (sets or {}).items():
        set_path(raw, key, value)
    return validate(raw)


def loads(text: str) -> Config:
    """A config from TOML text (e.g. the one stored in a trace)."""
    try:
        return validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})") from None


def validate(raw: dict) -> Config:
    data = defaults()
    for key, value in raw.items():
        if key in TOP:
            data[key] = value
        elif key in SECTIONS:
            if not isinstance(value, dict):
                raise _err(key, f"must be a table ([{key}]), got {value!r}")
            data[key].update(value)
        else:
            raise _err(key, f"unknown key; top-level keys: {', '.join(TOP)}; sections: {', '.join(SECTIONS)}")
    _check_type("seed", data["seed"], "int")
    _range("seed", data["seed"], 0)

    ds = data["dataset"]
    _known("dataset", ds, SECTIONS["dataset"])
    from hwsim.workflow.datasets import DATASETS
    if ds["name"] not in DATASETS:
        raise _err("dataset.name", f"must be one of {DATASETS}, got {ds['name']!r}")
    _check_type("dataset.path", ds["path"], "str")

    net = data["network"]
    _known("network", net, SECTIONS["network"])
    if not isinstance(net["hidden"], list) or not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1
                                                       for h in net["hidden"]):
        raise _err("network.hidden", f"must be a list of integers >= 1, got {net['hidden']!r}")
    from hwsim.hardware.assembler import ACTIVATIONS
    if net["activation"] not in ACTIVATIONS[:3]:
        raise _err("network.activation", f"must be one of {ACTIVATIONS[:3]}, got {net['activation']!r}")
    if net["rank"] is not None:
        _check_type("network.rank", net["rank"], "int")
        _range("network.rank", net["rank"], 1)
    for key in ("tile_rows", "tile_cols"):
        _check_type(f"network.{key}", net[key], "int")
        _range(f"network.{key}", net[key], 1)
    _check_type("network.shared_basis", net["shared_basis"], "bool")
    if net["weight_fill"] is not None:
        _check_type("network.weight_fill", net["weight_fill"], "num")
        _range("network.weight_fill", net["weight_fill"], 0, 1, strict_lo=True)

    dev = data["device"]
    _check_type("device.preset", dev["preset"], "str")
    cfg = Config(**data)
    try:
        cfg.device_model()
    except ValueError as exc:
        if str(exc).startswith("unknown device"):
            raise _err("device.preset", str(exc)) from None
        if str(exc).startswith("unknown parameter"):
            key = str(exc).split("'")[1]
            raise _err(f"device.{key}", str(exc)) from None
        raise _prefixed("device", exc) from None

    unknown = set(data["periphery"]) - {f.name for f in dataclasses.fields(Periphery)}
    if unknown:
        raise _err(f"periphery.{sorted(unknown)[0]}", "unknown key; known: "
                   + ", ".join(f.name for f in dataclasses.fields(Periphery)))
    try:
        cfg.periphery_model()
    except ValueError as exc:
        raise _prefixed("periphery", exc) from None

    rule = data["rule"]
    try:
        learning_rules.parse(rule["name"])
    except ValueError as exc:
        raise _err("rule.name", str(exc)) from None
    base, schemes = learning_rules.parse(rule["name"])
    known = set(learning_rules.RULES[base].defaults).union(*(learning_rules.SCHEMES[s].defaults for s in schemes))
    for key in rule:
        if key != "name" and key not in known:
            raise _err(f"rule.{key}", f"unknown hyperparameter for {rule['name']!r}; known: "
                       f"{', '.join(sorted(known)) or 'none'}")

    tr = data["training"]
    _known("training", tr, SECTIONS["training"])
    for key in ("epochs", "batch_size"):
        _check_type(f"training.{key}", tr[key], "int")
        _range(f"training.{key}", tr[key], 1)
    _check_type("training.lr", tr["lr"], "num")
    _range("training.lr", tr["lr"], 0, strict_lo=True)

    trace = data["trace"]
    _known("trace", trace, SECTIONS["trace"])
    _check_type("trace.path", trace["path"], "str")
    snaps = trace["snapshots"]
    if not (snaps in ("last", "all") or (isinstance(snaps, list) and all(isinstance(e, int) and e >= 0
                                                                       for e in snaps))):
        raise _err("trace.snapshots", f"must be \"last\", \"all\" or a list of epochs (0 = before training), "
                   f"got {snaps!r}")
    _check_type("trace.subsample", trace["subsample"], "num")
    _range("trace.subsample", trace["subsample"], 0, 1, strict_lo=True)

    from hwsim.hardware.cost import COEFFICIENTS
    for key, value in data["cost"].items():
        if key not in COEFFICIENTS:
            raise _err(f"cost.{key}", f"unknown coefficient; known: {', '.join(COEFFICIENTS)}")
        _check_type(f"cost.{key}", value, "num")
        _range(f"cost.{key}", value, 0)
    return cfg


def _known(section, values, schema):
    for key in values:
        if key not in schema:
            raise _err(f"{section}.{key}", f"unknown key; known: {', '.join(schema)}")


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} to TOML")


def dumps(data: dict) -> str:
    """Resolved config as TOML (None values are written as comments)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, values in data.items():
        if isinstance(values, dict):
            lines.append(f"\n[{section}]")
            for k, v in values.items():
                lines.append(f"# {k} = (default)" if v is None else f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"
