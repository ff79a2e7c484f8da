"""Run configuration: the one schema of a run — sections, keys, types, ranges, defaults — and everything that
turns text into a validated ``Config``: TOML files, ``--set key.path=value``, command-line flags, bare keys,
device and periphery resolution, rule hyperparameters. Every error names its key path.

    seed = 0
    [dataset]    name ["digits"], path [""], validation [0.0]: fraction of the training set held out for
                 model selection (stratified, fixed split; the test set is never used to choose)
    [network]    hidden [[32]], activation ["relu"], rank [none: full], tile_rows [256], tile_cols [256],
                 shared_basis [false], weight_fill [none]
    [device]     preset ["ideal"] — a preset, model name or "ideal"; any other key overrides that device's field
    [periphery]  preset ["default"] — "default" (8-bit converters, output noise; hwsim.hardware.periphery) or
                 "ideal" (no quantisation, noise or saturation); any other key overrides a periphery field
    [rule]       name ["bp"] — a rule with schemes ("bp+decor"); other keys are its hyperparameters
    [update]     bl [31], update_management [true], max_pulses [31], rounding ["stochastic"]
    [training]   epochs [30], batch_size [32], lr [0.1]
    [trace]      path ["": no trace], snapshots ["last"]: "all", "last" or a list of epochs; subsample [1.0];
                 events [false]: record every pulse (hwsim.workflow.events) from events_first_step [0] to
                 events_last_step [-1: the end] on a fraction events_subsample [1.0] of the devices
    [cost]       overrides of the cost coefficients (hwsim.hardware.cost.COEFFICIENTS)
    [compare]    seeds [1], tune [{}]: the comparison protocol of ``hwsim compare`` (hwsim.workflow.compare): runs
                 per cell, and the values tried per key path, chosen on the validation split (``train`` ignores it)

The device and the periphery are separate choices: the ``ideal`` device keeps the default periphery unless
``periphery.preset = "ideal"`` says otherwise.
"""
from __future__ import annotations

import copy
import dataclasses
import tomllib

import numpy as np

from hwsim import devices, learning_rules
from hwsim.devices import validation as v
from hwsim.hardware.cost import COEFFICIENTS
from hwsim.hardware.layers import FORMS, LayerSpec, mlp
from hwsim.hardware.periphery import Periphery
from hwsim.learning_rules.interface import UpdateParameters
from hwsim.workflow.datasets import DATASETS, dataset_shape


class ConfigError(ValueError):
    """A config problem; the message starts with the key path."""


class _Snapshots(v.Constraint):
    def describe(self):
        return '"last", "all" or a list of epochs (integers >= 0; 0 = before training)'

    def __call__(self, value):
        if value in ("last", "all") and isinstance(value, str):
            return value
        return v.IntList(0, 10**7, 0, 10**5)(value)


class _TuneTable(v.Constraint):
    def describe(self):
        return 'a table of key paths to non-empty lists of values, e.g. {"training.lr" = [0.03, 0.1, 0.3]}'

    def __call__(self, value):
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(x, list) and 0 < len(x) <= 1000
                                                  for k, x in value.items()):
            self._fail(value)
        return value


PERIPHERY_PRESETS = {"default": Periphery, "ideal": Periphery.ideal}

# section → key → (default, constraint); [device], [periphery] and [rule] take further keys, checked by the
# device model, the Periphery and the rule's declared hyperparameters.
SCHEMA = {
    "dataset": {"name": ("digits", v.Options(DATASETS)), "path": ("", v.Text()),
                "validation": (0.0, v.Real(0.0, 0.9))},
    "network": {"hidden": ([32], v.IntList(1, 1 << 16, 0, 32)),
                "activation": ("relu", v.Options(("relu", "sigmoid", "tanh"))),
                "rank": (None, v.Optional(v.Integer(1, 1 << 16))),
                "tile_rows": (256, v.Integer(1, 4096)), "tile_cols": (256, v.Integer(1, 4096)),
                "shared_basis": (False, v.Boolean()),
                "weight_fill": (None, v.Optional(v.Real(1e-6, 1.0)))},
    "device": {"preset": ("ideal", v.Text(4096)), "label": ("", v.Text(256))},
    "periphery": {"preset": ("default", v.Options(tuple(PERIPHERY_PRESETS)))},
    "rule": {"name": ("bp", v.Text(256))},
    "update": {f.name: (f.default, UpdateParameters.CONSTRAINTS[f.name])
               for f in dataclasses.fields(UpdateParameters)},
    "training": {"epochs": (30, v.Integer(1, 100_000)), "batch_size": (32, v.Integer(1, 1 << 20)),
                 "lr": (0.1, v.Real(0.0, 1e6, lo_open=True))},
    "trace": {"path": ("", v.Text()), "snapshots": ("last", _Snapshots()),
              "subsample": (1.0, v.Real(0.0, 1.0, lo_open=True)), "events": (False, v.Boolean()),
              "events_first_step": (0, v.Integer(0, 2**62)), "events_last_step": (-1, v.Integer(-1, 2**62)),
              "events_subsample": (1.0, v.Real(0.0, 1.0, lo_open=True))},
    "cost": {},
    "compare": {"seeds": (1, v.Integer(1, 1000)), "tune": ({}, _TuneTable())},
}
TOP = {"seed": (0, v.Integer(0, 2**63 - 1))}
OPEN_SECTIONS = ("device", "periphery", "rule", "cost")     # sections with keys beyond the schema's

# command-line flags → key paths (hwsim train/compare/sweep/config show)
FLAGS = {"rule": "rule.name", "device": "device.preset", "periphery": "periphery.preset",
         "hidden": "network.hidden", "activation": "network.activation", "epochs": "training.epochs",
         "batch_size": "training.batch_size", "lr": "training.lr", "seed": "seed", "dataset": "dataset.name",
         "dataset_path": "dataset.path", "rank": "network.rank", "tile_size": ("network.tile_rows",
                                                                              "network.tile_cols")}


def _err(path, message):
    return ConfigError(f"{path}: {message}")


def _prefixed(section, exc):
    """'dw_min must be > 0 …' from a model → 'device.dw_min: must be > 0 …'."""
    msg = str(exc)
    head, _, rest = msg.partition(" ")
    if head.isidentifier() and rest:
        return ConfigError(f"{section}.{head}: {rest}")
    return ConfigError(f"{section}: {msg}")


# ---- values from text ---------------------------------------------------------------------------------------
def parse_value(text: str, key: str | None = None):
    """A TOML value (``0.01``, ``64``, ``true``, ``[1, 2]``, ``"x"``); bare words are strings. ``key``: the key
    path the value is for (named in errors)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise ConfigError(f"{key + ': ' if key else ''}value nested too deeply: {text[:40]}…") from None


def parse_sets(items) -> dict:
    """['key=value', …] → {key: parsed value}."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = parse_value(value.strip(), key.strip())
    return out


# ---- devices and periphery -----------------------------------------------------------------------------------
def is_device_file(name) -> bool:
    return isinstance(name, str) and name.endswith(".toml")


def device_file(path: str) -> tuple[str, dict, str]:
    """A device file (as ``hwsim devices fit`` writes: a ``[device]`` table with ``preset``, optional
    ``label`` and field values): (preset, fields, label — the file's label or its stem)."""
    import os
    raw = read_toml(path)
    section = raw.get("device")
    if not isinstance(section, dict) or "preset" not in section:
        raise ConfigError(f"{path}: a device file needs a [device] table with preset = \"<model>\" (as hwsim "
                          "devices fit writes)")
    fields = {k: x for k, x in section.items() if k not in ("preset", "label")}
    if is_device_file(section["preset"]):
        raise ConfigError(f"{path}: device.preset must name a preset or model, not another file")
    label = section.get("label") or os.path.splitext(os.path.basename(path))[0]
    return section["preset"], fields, str(label)


def device_label(name) -> str:
    """How a device is named in results, traces and plots: a preset's name, or a device file's label."""
    if is_device_file(name):
        try:
            return device_file(name)[2]
        except ConfigError:
            return name
    return str(name)


def resolve_device(name: str, overrides: dict | None = None) -> devices.DeviceModel:
    """A preset, a model with its defaults, ``ideal``, or a device file (``*.toml``), with field overrides
    (ints given for real fields are fine: ``dw_min = 1``)."""
    if is_device_file(name):
        preset, fields, _ = device_file(name)
        return resolve_device(preset, {**fields, **(overrides or {})})
    base = devices.get_device(name)
    overrides = overrides or {}
    defaults = {f.name: f.default for f in dataclasses.fields(base)}
    coerced = {k: float(x) if isinstance(defaults.get(k), float) and isinstance(x, int) and not isinstance(x, bool)
               else x for k, x in overrides.items()}
    return base.replace(**coerced)


def resolve_periphery(preset: str, overrides: dict | None = None) -> Periphery:
    """The "default" or "ideal" periphery with field overrides."""
    base = PERIPHERY_PRESETS[preset]()
    return dataclasses.replace(base, **(overrides or {}))


# ---- the config ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Config:
    """A validated run configuration (plain sections of values)."""

    seed: int
    dataset: dict
    network: dict
    device: dict
    periphery: dict
    rule: dict
    update: dict
    training: dict
    trace: dict
    cost: dict
    compare: dict

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def resolved(self) -> dict:
        """The config with everything filled in: every field of the device and of the periphery, every
        hyperparameter of the rule, every cost coefficient (what ``hwsim config show`` prints)."""
        from hwsim.hardware.cost import coefficients
        out = self.to_dict()
        dev = self.device_model()
        out["device"] = {"preset": self.device["preset"], "label": self.device_label(), **dev.parameters()}
        out["periphery"] = {"preset": self.periphery["preset"], **dataclasses.asdict(self.periphery_model())}
        out["rule"] = {"name": self.rule["name"],
                       **learning_rules.check_hyperparameters(self.rule["name"], self.rule_hyper())}
        out["cost"] = coefficients(dev, self.cost)
        return out

    def to_toml(self) -> str:
        return dumps(self.to_dict())

    # ---- built objects -----------------------------------------------------------------------------------
    def device_model(self) -> devices.DeviceModel:
        return resolve_device(self.device["preset"],
                              {k: x for k, x in self.device.items() if k not in ("preset", "label")})

    def device_label(self) -> str:
        """The device's name in results and plots: ``device.label``, a device file's label, or the preset."""
        return self.device["label"] or device_label(self.device["preset"])

    def periphery_model(self) -> Periphery:
        return resolve_periphery(self.periphery["preset"],
                                 {k: x for k, x in self.periphery.items() if k != "preset"})

    def update_parameters(self) -> UpdateParameters:
        return UpdateParameters(**self.update)

    def rule_hyper(self) -> dict:
        """The rule's hyperparameters as given (the rule fills in its defaults)."""
        return {k: x for k, x in self.rule.items() if k != "name"}

    def requirements(self) -> dict:
        """What the rule needs of the network (factorization, center, decorrelate, pair)."""
        return learning_rules.requirements(self.rule["name"])

    def layer_specs(self, n_features: int | None = None, n_classes: int | None = None) -> list[LayerSpec]:
        """The network's layers: the dataset's input and class counts around ``network.hidden``, in the form
        the rule needs (``hwsim map`` and ``hwsim train`` both build from here)."""
        if n_features is None or n_classes is None:
            n_features, n_classes = dataset_shape(self.dataset["name"])
        sizes = [n_features, *self.network["hidden"], n_classes]
        return mlp(sizes, self.network["activation"], self.requirements()["factorization"] or "dense",
                   self.network["rank"])

    def check_size(self, n_features: int | None = None, n_classes: int | None = None) -> None:
        """Refuse a run whose network and batches would not fit the memory limit (an estimate, before anything
        is allocated; ``hwsim.hardware.assembler.check_size``)."""
        from hwsim.hardware.assembler import check_size
        net = self.network
        check_size(self.layer_specs(n_features, n_classes), net["tile_rows"], net["tile_cols"],
                   net["shared_basis"], self.requirements()["decorrelate"], self.training["batch_size"])


def defaults() -> dict:
    out = {k: copy.deepcopy(d) for k, (d, _) in TOP.items()}
    for section, keys in SCHEMA.items():
        out[section] = {k: copy.deepcopy(d) for k, (d, _) in keys.items()}
    return out


def set_path(data: dict, path: str, value) -> None:
    """Set ``section.key`` (or a top-level key) in a raw config dict."""
    parts = path.split(".")
    if len(parts) == 1:
        if parts[0] not in TOP:
            raise _err(path, f"unknown key; top-level keys: {', '.join(TOP)}; sections: {', '.join(SCHEMA)}")
        data[parts[0]] = value
        return
    if len(parts) != 2 or parts[0] not in SCHEMA or not parts[1]:
        raise _err(path, f"unknown key path; sections: {', '.join(SCHEMA)}")
    section = data.setdefault(parts[0], {})
    if not isinstance(section, dict):
        raise _err(parts[0], f"must be a table ([{parts[0]}]), got {section!r}")
    section[parts[1]] = value


def resolve_bare(sets: dict, device_name: str = "ideal") -> dict:
    """Bare ``--set`` keys → key paths: a top-level key, else the device's field, the periphery's, the update
    parameters', else a rule hyperparameter."""
    try:
        dev_fields = {f.name for f in dataclasses.fields(resolve_device(device_name))}
    except (ValueError, TypeError):         # a bad device name: validation reports it with its key path
        dev_fields = set()
    owners = (("device", dev_fields), ("periphery", {f.name for f in dataclasses.fields(Periphery)}),
              ("update", set(SCHEMA["update"])))
    out = {}
    for key, value in sets.items():
        if "." in key or key in TOP:
            out[key] = value
            continue
        section = next((name for name, names in owners if key in names), "rule")
        out[f"{section}.{key}"] = value
    return out


def resolve_key(key: str, device_name: str = "ideal") -> str:
    """A key as a user may write it — a key path, a flag name (``lr``, ``batch_size``) or a bare field name —
    as its key path."""
    flag = FLAGS.get(key.replace("-", "_"))
    if isinstance(flag, str):
        return flag
    return next(iter(resolve_bare({key: None}, device_name)))


def load(path: str | None = None, sets: dict | None = None) -> Config:
    """Read a TOML file (or start from defaults), apply ``sets`` (key path → value), validate."""
    raw = read_toml(path) if path else {}
    for key, value in (sets or {}).items():
        set_path(raw, key, value)
    return validate(raw)


def read_toml(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{path}: values nested too deeply") from None


def raw_from_flags(config_path: str | None, flags: dict, given: dict | None = None,
                   file_device: bool = True) -> dict:
    """The raw (unvalidated) config: the file (if any), then the flags given (``FLAGS`` names, None: not
    given), then ``given`` (key paths or bare keys, resolved by ``resolve_bare``; ``parse_sets`` turns
    ``--set`` items into it): later wins. ``file_device=False`` leaves out the file's [device] table (a
    comparison over several devices: its fields describe one device)."""
    raw = read_toml(config_path) if config_path else {}
    if not file_device:
        raw.pop("device", None)
    sets = {}
    for flag, value in flags.items():
        if value is None:
            continue
        keys = FLAGS[flag]
        for key in (keys if isinstance(keys, tuple) else (keys,)):
            sets[key] = list(value) if isinstance(value, tuple) else value
    given = given or {}
    device = given.get("device.preset", sets.get("device.preset"))
    if device is None:
        section = raw.get("device")
        device = section.get("preset") if isinstance(section, dict) else None
    sets.update(resolve_bare(given, device or SCHEMA["device"]["preset"][0]))
    for key, value in sets.items():
        set_path(raw, key, value)
    return raw


def from_flags(config_path: str | None, flags: dict, given: dict | None = None) -> Config:
    """``raw_from_flags`` validated."""
    return validate(raw_from_flags(config_path, flags, given))


def loads(text: str) -> Config:
    """A config from TOML text (e.g. the one stored in a trace)."""
    try:
        return validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})") from None


def validate(raw: dict) -> Config:
    """Raw sections → a Config; the first problem raises ConfigError naming its key path."""
    if not isinstance(raw, dict):
        raise ConfigError(f"a config is a table of sections, got {raw!r}")
    data = defaults()
    for key, value in raw.items():
        if key in TOP:
            data[key] = value
        elif key in SCHEMA:
            if not isinstance(value, dict):
                raise _err(key, f"must be a table ([{key}]), got {value!r}")
            data[key].update(value)
        else:
            raise _err(key, f"unknown key; top-level keys: {', '.join(TOP)}; sections: {', '.join(SCHEMA)}")
    for key, (_, constraint) in TOP.items():
        data[key] = _checked(key, data[key], constraint)
    for section, keys in SCHEMA.items():
        values = data[section]
        for key in values:
            if key not in keys and section not in OPEN_SECTIONS:
                raise _err(f"{section}.{key}", f"unknown key; known: {', '.join(keys)}")
            if isinstance(values[key], dict) and not isinstance(keys.get(key, (None, None))[1], _TuneTable):
                raise _err(f"{section}.{key}", f"must be a value, not a table, got {values[key]!r}")
        for key, (_, constraint) in keys.items():
            values[key] = _checked(f"{section}.{key}", values[key], constraint)
    cfg = Config(**data)

    try:
        # a sample of devices too: spreads that leave no device a valid conductance range show only there
        cfg.device_model().sample((256,), np.random.default_rng(0))
    except ValueError as exc:
        msg = str(exc)
        if msg.startswith("unknown device"):
            raise _err("device.preset", msg) from None
        if msg.startswith("unknown parameter"):
            raise _err(f"device.{msg.split(chr(39))[1]}", msg) from None
        raise _prefixed("device", exc) from None
    except TypeError as exc:
        raise _err("device", f"a field has a value of the wrong type ({exc})") from None

    fields = {f.name for f in dataclasses.fields(Periphery)}
    for key in cfg.periphery:
        if key != "preset" and key not in fields:
            raise _err(f"periphery.{key}", f"unknown key; known: preset, {', '.join(sorted(fields))}")
    try:
        cfg.periphery_model()
    except (ValueError, TypeError) as exc:
        raise _prefixed("periphery", exc) from None

    try:
        learning_rules.parse(cfg.rule["name"])
    except ValueError as exc:
        raise _err("rule.name", str(exc)) from None
    try:
        given = {k: x for k, x in cfg.rule.items() if k != "name"}
        checked = learning_rules.check_hyperparameters(cfg.rule["name"], given)
    except ValueError as exc:
        raise _prefixed("rule", exc) from None
    cfg.rule.update({k: checked[k] for k in given})
    if checked.get("calibrate"):
        from hwsim.hardware.tile import MAX_CALIBRATION_PAIRS, calibration_pairs
        dev = cfg.device_model()
        pairs = calibration_pairs(dev)
        if pairs > MAX_CALIBRATION_PAIRS:
            raise _err("rule.calibrate", f"a symmetry-point calibration on this device takes {pairs:.3g} pulse pairs "
                       f"per round (a tenth of device.w_max − device.w_min = {dev.w_max - dev.w_min:g} in steps of "
                       f"{dev.nominal_step():.3g}, the device's first pulse); the limit is {MAX_CALIBRATION_PAIRS}: "
                       "set rule.calibrate = false, or a narrower range or larger step")

    for key, values in cfg.compare["tune"].items():
        probe = defaults()
        try:
            set_path(probe, key, values[0])
        except ConfigError as exc:
            raise _err(f"compare.tune.{key}", str(exc)) from None
    for key, value in cfg.cost.items():
        if key not in COEFFICIENTS:
            raise _err(f"cost.{key}", f"unknown coefficient; known: {', '.join(COEFFICIENTS)}")
        limit = v.Real(1.0, 4096.0) if key in ("adc_share", "cell_area_f2") else v.Real(0.0, 1.0)
        cfg.cost[key] = _checked(f"cost.{key}", value, limit)
    if cfg.network["rank"] is not None and not FORMS[cfg.requirements()["factorization"] or "dense"].takes_rank:
        raise _err("network.rank", f"only factorised rules (dfa_svd, enn, enn_local) take a rank; rule "
                   f"{cfg.rule['name']!r} trains {cfg.requirements()['factorization'] or 'dense'} layers")
    return cfg


def _checked(path, value, constraint):
    try:
        return constraint(value)
    except ValueError as exc:
        raise _err(path, str(exc)) from None


def _toml_value(x):
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, (int, float)):
        return repr(x)
    if isinstance(x, str):
        return '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_toml_value(e) for e in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{_toml_value(str(k))} = {_toml_value(e)}" for k, e in x.items()) + "}"
    raise TypeError(f"cannot write {x!r} to TOML")


def dumps(data: dict) -> str:
    """Resolved config as TOML (None values are written as comments)."""
    lines = [f"{k} = {_toml_value(x)}" for k, x in data.items() if not isinstance(x, dict)]
    for section, values in data.items():
        if isinstance(values, dict):
            lines.append(f"\n[{section}]")
            for k, x in values.items():
                lines.append(f"# {k} = (default)" if x is None else f"{k} = {_toml_value(x)}")
    return "\n".join(lines) + "\n"
