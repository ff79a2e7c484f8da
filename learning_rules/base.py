"""The rule registry, the base classes and composition by '+'.

A rule holds its own state (feedback matrices, heads …), computes per-layer learning signals in NumPy from
what the layers cached in the forward pass, and hands them back to the layers as update requests, which the
hardware pulses into its tiles. Rules see the hardware only through ``learning_rules.interface`` (layers,
matrices, update parameters) and never import it.

Every hyperparameter is declared with its default and its constraint (``Param``), so ``--set rule.X=…`` is
checked with the allowed range before anything runs.

Names: a base rule, optionally followed by schemes joined with '+': ``bp``, ``bp+center``,
``dfa+center+decor``, ``bp+unidirectional``, ``dfa+decor+unidirectional``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.devices import validation as v
from hwsim.devices.rng import check_random_state

from .interface import Signal, UpdateParameters

RULES: dict[str, type] = {}
SCHEMES: dict[str, type] = {}


@dataclass(frozen=True)
class Param:
    """A hyperparameter: default, constraint, one line of meaning."""

    default: object
    constraint: v.Constraint
    doc: str = ""


def _register(table: dict, name: str):
    def deco(cls):
        cls.name = name
        table[name] = cls
        return cls
    return deco


def register_rule(name: str):
    """Class decorator: make a ``Rule`` available by ``name``."""
    return _register(RULES, name)


def register_scheme(name: str):
    """Class decorator: make a ``Scheme`` available after '+' by ``name``."""
    return _register(SCHEMES, name)


def parse(name: str) -> tuple[str, list[str]]:
    """'dfa+decor' → ('dfa', ['decor']), with clear errors."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"rule must be a name like 'bp' or 'dfa+decor', got {name!r}")
    base, *schemes = name.split("+")
    if base not in RULES:
        raise ValueError(f"unknown rule {base!r}; rules: {', '.join(RULES)}; schemes (after '+'): "
                         f"{', '.join(SCHEMES)}")
    for s in schemes:
        if s not in SCHEMES:
            raise ValueError(f"unknown scheme {s!r} in {name!r}; schemes: {', '.join(SCHEMES)}")
    if len(set(schemes)) != len(schemes):
        raise ValueError(f"scheme repeated in {name!r}")
    groups = {}
    for s in schemes:
        group = SCHEMES[s].group
        if group and group in groups:
            raise ValueError(f"schemes {groups[group]!r} and {s!r} in {name!r} are alternatives ({group} "
                             "schemes): give one")
        groups[group] = s
    _merge(base, schemes, name)
    return base, schemes


def _merge(base, schemes, name) -> dict:
    """The requirements of a base rule and its schemes; a layer form or pair mode asked for twice, differently,
    is an error."""
    req = {"factorization": RULES[base].factorization, "center": False, "decorrelate": False, "pair": "plus"}
    who = {"factorization": base if req["factorization"] else None, "pair": None}     # who asked, if anyone
    for s in schemes:
        for key, value in SCHEMES[s].requires.items():
            if key in who and who[key] is not None and req[key] != value:
                raise ValueError(f"{name!r}: {s!r} needs {key} {value!r} but {who[key]!r} needs {req[key]!r}")
            if key in who:
                who[key] = s
            req[key] = value
    return req


def requirements(name: str) -> dict:
    """What the network must provide for this rule: factorization, center, decorrelate, pair."""
    base, schemes = parse(name)
    return _merge(base, schemes, name)


def hyperparameters(name: str) -> dict[str, Param]:
    """Every hyperparameter of the rule and its schemes, by name."""
    base, schemes = parse(name)
    out = dict(RULES[base].params)
    for s in schemes:
        out.update(SCHEMES[s].params)
    return out


def check_hyperparameters(name: str, given: dict) -> dict:
    """``given`` checked against the declared constraints (unknown names and bad values are errors naming the
    parameter and its range), completed with the defaults."""
    known = hyperparameters(name)
    out = {}
    for key, value in given.items():
        if key not in known:
            raise ValueError(f"{key} is not a hyperparameter of rule {name!r}; known: "
                             f"{', '.join(sorted(known)) or 'none'}")
        out[key] = v.check(key, value, known[key].constraint)
    return {k: out.get(k, p.default) for k, p in known.items()}


def build(name: str, network, lr: float, random_state=None, update: UpdateParameters | None = None,
          **hyper) -> "Rule":
    """The rule ``name`` (with its schemes) for ``network``; ``hyper`` are hyperparameters of the rule or its
    schemes (checked), ``update`` how its updates become pulses, ``random_state`` its own random stream (None,
    int, SeedSequence or Generator)."""
    base, schemes = parse(name)
    lr = v.check("lr", lr, v.Real(0.0, lo_open=True))
    update = update or UpdateParameters()
    if not isinstance(update, UpdateParameters):
        raise ValueError(f"update must be an UpdateParameters, got {update!r}")
    values = check_hyperparameters(name, hyper)
    rng = check_random_state(random_state)
    rule = RULES[base](network, lr, rng, update, **{k: values[k] for k in RULES[base].params})
    rule.schemes = [SCHEMES[s](network, lr, rng, update, **{k: values[k] for k in SCHEMES[s].params})
                    for s in schemes]
    rule.full_name = name
    return rule


def cross_entropy(logits, y_onehot):
    """Mean softmax cross-entropy and its gradient w.r.t. the logits, e = (softmax − y)/B."""
    with np.errstate(invalid="ignore", over="ignore"):       # overflowing logits: loss nan → diverged
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = float(-(y_onehot * logp).sum(axis=1).mean())
    return loss, (np.exp(logp) - y_onehot) / len(logits)


class _Configurable:
    params: dict = {}

    def __init__(self, network, lr, rng, update, **hyper):
        self.lr, self.rng, self.update = float(lr), rng, update
        self.hyper = {k: hyper.get(k, p.default) for k, p in self.params.items()}
        for key, value in self.hyper.items():
            setattr(self, key, value)
        self.steps = 0


class Rule(_Configurable):
    """Base of the learning rules.

    Subclasses implement ``layer_signals(network, e, y)`` after a forward pass: per layer, the update
    requests and digital gradients it learns from. The base class applies them (``step``) or returns their
    ideal float ΔW (``update_float``); ``apply_signal`` and ``transform_delta`` are the hooks for rules whose
    updates are not plain pulsed outer products.
    """

    name = ""
    factorization = None          # required layer form, or None for any

    def __init__(self, network, lr, rng, update, **hyper):
        super().__init__(network, lr, rng, update, **hyper)
        self.schemes = []
        self.full_name = self.name
        req = self.factorization
        if req and any(spec.factorization != req for spec in network.specs):
            raise ValueError(f"rule {self.name!r} needs every layer in factorization {req!r}")
        self.setup(network)

    def setup(self, network):
        """Create rule state (feedback matrices, heads)."""

    def collect(self, network, x, y):
        """Forward pass, loss, and every layer's (signals, digital grads)."""
        logits = network.forward(x)
        loss, e = cross_entropy(logits, y)
        network.count_digital(3 * logits.size)            # softmax and its gradient
        if not np.isfinite(loss):
            return loss, None                     # diverged: nothing to learn from
        return loss, self.layer_signals(network, e, y)

    def layer_signals(self, network, e, y):
        raise NotImplementedError

    def apply_signal(self, layer, signal, batch: int) -> int:
        """Apply one update request to its matrix; default: a pulsed outer-product update."""
        return layer.matrices[signal.role].pulsed_update(signal.x, signal.d, self.lr, self.update)

    def transform_delta(self, layer, signal, delta):
        """The float ΔM this rule applies for a request (default: the request's own −lr·dᵀx)."""
        return delta

    def step(self, network, x, y) -> dict:
        """One training step on batch (x, y one-hot): returns loss and pulses."""
        loss, per_layer = self.collect(network, x, y)
        if per_layer is None:
            return {"loss": loss, "pulses": 0}
        pulses = 0
        for layer, (signals, digital) in zip(network.layers, per_layer):
            for s in signals:
                pulses += self.apply_signal(layer, s, len(x))
            for key, g in digital.items():        # SGD in the digital periphery
                layer.digital[key] -= self.lr * g
                network.count_digital(g.size)
        stats = {"loss": loss, "pulses": pulses}
        self.after_updates(network, stats)
        return self.finish_step(network, stats)

    def after_updates(self, network, stats) -> None:
        """Rule-specific work after the updates of a step (e.g. orthogonality corrections)."""

    def finish_step(self, network, stats) -> dict:
        """After a rule's own updates: run the schemes, count their pulses, advance the step counter."""
        for scheme in self.schemes:
            for key, val in scheme.after_step(network, self).items():
                stats[key] = stats.get(key, 0) + val
        stats["pulses"] += stats.get("scheme_pulses", 0)
        self.steps += 1
        return stats

    def update_float(self, network, x, y) -> dict:
        """The ideal ΔW of every analog matrix for batch (x, y) — the float reference of ``step`` (no state
        changes): {matrix name: ΔW}."""
        _, per_layer = self.collect(network, x, y)
        out = {}
        for layer, (signals, _) in zip(network.layers, per_layer):
            for s in signals:
                name = layer.matrices[s.role].name
                out[name] = out.get(name, 0) + self.transform_delta(layer, s, s.delta(self.lr))
        return out


class FactorRule(Rule):
    """Base of the rules that train factorised layers (W = A·diag(s)·Bᵀ with s digital): scale-aware factor
    updates.

    Plain SGD on the factors makes W's effective learning rate depend on how the scale is split between the
    analog factors and the digital s: with u_k = a_k·û_k, v_k = b_k·v̂_k and σ_k = s_k·a_k·b_k, the change of W
    that the update of u_k causes is −η·s_k²·b_k²·G·v̂_k·v̂_kᵀ = −η·(σ_k²/a_k²)·G·v̂_k·v̂_kᵀ — it grows like 1/a_k²
    when the devices pull the factor in (soft bounds: towards their symmetry point) and s grows to compensate.
    Scaling the k-th factor's update by a_k² (by b_k² for v_k) makes it −η·σ_k²·G·v̂_k·v̂_kᵀ, the update of the
    canonical split (unit factors, σ_k digital), whatever the split (docs/rules.md). a_k, b_k are the factor
    norms of the rule's latest read-back of the matrix (Stiefel projection, orthogonality step); before the
    first read-back they are 1 (the factors start orthonormal). ``scale_aware = false`` gives plain SGD."""

    def setup(self, network):
        self.norms = {}                        # matrix name → factor norms of its latest read-back
        self.network = network

    def read_factor(self, layer, role):
        """Read a factor matrix back (counted) and note its factor norms."""
        M = layer.matrices[role].read_back()
        self.norms[layer.matrices[role].name] = layer.factor_norms(role, M)
        return M

    def _gains(self, layer, role, width):
        norms = self.norms.get(layer.matrices[role].name)
        if not self.scale_aware or norms is None:
            return None
        g = np.ones(width)
        g[:len(norms)] = norms ** 2
        return g

    def scale_signal(self, layer, signal):
        """The request with the k-th factor's part scaled by its norm² (``scale_aware``)."""
        side, _ = layer.rank_axes[signal.role]
        vec = signal.x if side == "x" else signal.d
        g = self._gains(layer, signal.role, vec.shape[1])
        if g is None:
            return signal
        scaled = (vec * g).astype(vec.dtype)
        self.network.count_digital(vec.size)
        return Signal(signal.role, scaled, signal.d) if side == "x" else Signal(signal.role, signal.x, scaled)

    def apply_signal(self, layer, signal, batch):
        return super().apply_signal(layer, self.scale_signal(layer, signal), batch)

    def transform_delta(self, layer, signal, delta):
        return self.scale_signal(layer, signal).delta(self.lr)


class Scheme(_Configurable):
    """An update scheme composed after a rule with '+': ``requires`` what the network must build for it,
    ``after_step`` runs after every step of the rule. Schemes of one ``group`` are alternatives (at most one
    per rule name)."""

    name = ""
    requires: dict = {}
    group = ""

    def after_step(self, network, rule) -> dict:
        return {}


def orthogonality_step(rule, layer, role, rows_orthonormal=False) -> int:
    """One gradient step of ortho_weight·‖MᵀM − I‖²_F on a layer's factor M (columns orthonormal; rows if
    ``rows_orthonormal``), every ``ortho_every`` steps: ΔM = −lr·ortho_every·ortho_weight·4·M(MᵀM − I), from a
    read-back of M (which also notes its factor norms), applied as a counted update. Returns the pulses fired."""
    M = rule.read_factor(layer, role)
    if rows_orthonormal:
        M = M.T
    delta = -rule.lr * rule.ortho_every * rule.ortho_weight * 4.0 * M @ (M.T @ M - np.eye(M.shape[1]))
    rule.network.count_digital(2 * M.shape[0] * M.shape[1] ** 2 + M.size)
    return layer.matrices[role].counted_update(delta.T if rows_orthonormal else delta, rule.update)
