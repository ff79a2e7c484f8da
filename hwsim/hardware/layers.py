"""Network layers on analog matrices: the layer forms (dense, SVD, eigen), registered by name, and the input
stages (centring, decorrelation) that schemes ask for.

A layer computes a = W·x̃ + b, h = f(a), where x̃ is its input after its input stages and W is in the layer's
factorised form:

- ``dense``: W (out × in, plus a bias column) on one logical array.
- ``svd``: W = U·diag(s)·Vᵀ of rank r; Vᵀ (r × in) and U (out × r) on arrays, s and the bias digital.
  s stays digital: r multiplications per input vector cost nothing next to the arrays, a diagonal on an
  array would waste r² − r devices, and s, the factor the rules rescale most, keeps full precision.
- ``eigen``: W = Q·diag(λ)·Pᵀ in orthonormal eigenbases (ENN); λ and the bias digital, Q and P on arrays (P
  read transposed). With ``shared_basis`` the basis of a width-n space is one n × n array shared by the layer
  that writes that space (as Q) and the one that reads it (as P).
- ``transfer``: W = γ·A + C (the Tiki-Taka family, ``learning_rules.transfer``): a fast array A that takes the
  gradient's pulses and a slow array C that takes the transfers, both of the dense shape (bias column
  included), read together and summed digitally; γ and A's input chopper signs are digital buffers.

Each form is a ``Layer`` subclass registered with ``@register_form`` (nengo's builder registry): it names its
matrices, counts its parameters, initialises itself from a float W, runs forward, turns an error into update
requests (``learning_rules.interface.Signal``) and reports the float W it computes. Nothing outside this
module branches on the form's name.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.devices.validation import Integer, Options, check
from hwsim.learning_rules.interface import Signal

ACTIVATIONS = ("relu", "sigmoid", "tanh", "linear")
FORMS: dict[str, type] = {}


def register_form(name: str):
    """Class decorator: make a ``Layer`` subclass the builder of layers of factorization ``name``."""
    def deco(cls):
        cls.factorization = name
        FORMS[name] = cls
        return cls
    return deco


# ---- specs ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerSpec:
    """One fully connected layer: out = f(W·in + b)."""

    in_features: int
    out_features: int
    activation: str = "relu"
    bias: bool = True
    factorization: str = "dense"
    rank: int | None = None          # svd/eigen: default min(in, out)

    def __post_init__(self):
        check("in_features", self.in_features, Integer(1))
        check("out_features", self.out_features, Integer(1))
        check("activation", self.activation, Options(ACTIVATIONS))
        check("factorization", self.factorization, Options(tuple(FORMS)))
        if self.rank is not None:
            top = min(self.in_features, self.out_features)
            if not FORMS[self.factorization].takes_rank:
                ranked = ", ".join(repr(n) for n, f in FORMS.items() if f.takes_rank)
                raise ValueError(f"rank is only for factorization {ranked}")
            check("rank", self.rank, Integer(1, top))

    @property
    def r(self) -> int:
        return self.rank or min(self.in_features, self.out_features)

    @property
    def dense_params(self) -> int:
        return self.out_features * (self.in_features + self.bias)

    @property
    def params(self) -> int:
        """Trainable parameters of this layer's form (shared bases counted in full by each user)."""
        return FORMS[self.factorization].parameter_count(self)

    def to_dict(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features, "activation": self.activation,
                "bias": self.bias, "factorization": self.factorization, "rank": self.rank}


def mlp(sizes, activation="relu", factorization="dense", rank=None, bias=True) -> list[LayerSpec]:
    """Layers of a multilayer perceptron ``sizes = [in, hidden…, out]``; the output layer is linear (logits for
    softmax cross-entropy); ``rank`` is capped at each layer's min(in, out)."""
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least input and output, got {sizes}")
    n = len(sizes) - 1
    ranked = FORMS[factorization].takes_rank if factorization in FORMS else False
    return [LayerSpec(sizes[i], sizes[i + 1], activation if i < n - 1 else "linear", bias, factorization,
                      min(rank, sizes[i], sizes[i + 1]) if ranked and rank else None)
            for i in range(n)]


# ---- activations ----------------------------------------------------------------------------------------------
def activate(a, kind):
    if kind == "relu":
        return np.maximum(a, 0)
    if kind == "sigmoid":
        return 1.0 / (1.0 + np.exp(-np.clip(a, -60, 60)))
    if kind == "tanh":
        return np.tanh(a)
    return a


def activation_grad(a, h, kind):
    """f'(a), using h = f(a)."""
    if kind == "relu":
        return (a > 0).astype(a.dtype)
    if kind == "sigmoid":
        return h * (1 - h)
    if kind == "tanh":
        return 1 - h * h
    return np.ones_like(a)


# ---- input stages -----------------------------------------------------------------------------------------------
class Center:
    """Digital centring of a layer's input: x − μ, μ a running mean of x (momentum ``m``; the first update
    sets μ to the batch mean). Updated by the schemes that use it (``+decor``, ``+center``)."""

    kind = "center"

    def __init__(self, n: int):
        self.mu = np.zeros(n)
        self.updates = 0
        self.macs = 0                       # digital operations done (hwsim.hardware.cost)
        self.x = self.out = None

    def forward(self, x):
        self.x = x
        if self.updates:
            self.macs += x.size
        self.out = (x - self.mu).astype(np.float32) if self.updates else x
        return self.out

    def backward(self, g):
        return g

    def fold(self, W, b):
        """The float layer (W, b) seen from the stage's input: W·(x − μ) + b = W·x + (b − W·μ)."""
        return (W, b - W @ self.mu) if self.updates else (W, b)

    def update(self, momentum: float) -> None:
        self.macs += self.x.size + 2 * self.x.shape[1]
        mean = self.x.astype(np.float64).mean(axis=0)
        self.mu = mean if not self.updates else momentum * self.mu + (1 - momentum) * mean
        self.updates += 1

    def state(self) -> dict:
        return {"kind": self.kind, "mu": self.mu.copy(), "updates": self.updates}

    def restore(self, state) -> None:
        self.mu = np.array(state["mu"], dtype=np.float64)
        self.updates = int(state["updates"])


class Decorrelation:
    """Analog decorrelation x̃ = R·x, R (n × n) on its own tiles, written I at the start; learnt by ``+decor``.
    The error passes back through Rᵀ by a transposed read."""

    kind = "decorrelation"

    def __init__(self, matrix):
        self.matrix = matrix
        self.x = self.out = None

    def forward(self, x):
        self.x = x
        self.out = self.matrix.forward(x)
        return self.out

    def backward(self, g):
        return self.matrix.backward(g)

    def fold(self, W, b):
        """The float layer (W, b) seen from the stage's input: W·(R·x) + b = (W·R)·x + b."""
        return W @ self.matrix.get_weights(), b

    def state(self) -> dict:
        return {"kind": self.kind}         # R is a matrix of the network: it keeps its own state

    def restore(self, state) -> None:
        pass


# ---- layers -----------------------------------------------------------------------------------------------------
@dataclass
class LayerCache:
    """What one forward pass leaves for the learning rules."""

    x: np.ndarray | None = None       # input as given
    xt: np.ndarray | None = None      # input after the input stages (what the matrices see)
    xb: np.ndarray | None = None      # dense: xt with the bias column of ones
    z: np.ndarray | None = None       # factorised: projection on the input factor (Vᵀx̃ or Pᵀx̃)
    zs: np.ndarray | None = None      # factorised: z scaled by the digital s / λ
    a: np.ndarray | None = None       # pre-activation
    h: np.ndarray | None = None       # output f(a)


class Layer:
    """Base of the layer forms. ``matrices``: role → TiledMatrix; ``digital``: name → array (parameters the
    rules train); ``buffers``: name → array (digital state that is not trained — a form's own settings and what
    schemes keep per layer, e.g. transfer buffers; round-tripped by ``Network.state``); ``stages``: the input
    stages, applied in order."""

    factorization = ""
    digital_names: tuple = ()
    takes_rank = False                 # the form has a rank (``LayerSpec.rank``)

    def __init__(self, spec: LayerSpec, index: int, matrices: dict, stages: list, shared_basis: bool = False):
        self.spec, self.index, self.shared_basis = spec, index, shared_basis
        self.matrices = matrices
        self.stages = stages
        self.digital = {}
        if spec.bias and self.digital_names:
            self.digital["b"] = np.zeros(spec.out_features)
        self.buffers: dict = {}
        self.cache = LayerCache()
        self.macs = 0                       # digital operations of the forward and backward passes

    # ---- the form's description (no devices needed) ----
    @classmethod
    def logical_matrices(cls, spec: LayerSpec, index: int, shared_basis: bool = False) -> list:
        """[(matrix name, role, (rows, cols))] of the analog matrices of layer ``index`` (a shared basis may
        serve two roles of one layer)."""
        raise NotImplementedError

    @classmethod
    def parameter_count(cls, spec: LayerSpec) -> int:
        raise NotImplementedError

    # ---- building ----
    def initialise(self, W: np.ndarray, fill, written: set) -> None:
        """Write the float initial weights W (out × in) onto the matrices (each pair as far as its range allows);
        ``written``: names of shared matrices already written by an earlier layer."""
        raise NotImplementedError

    # ---- running ----
    def forward(self, x: np.ndarray) -> np.ndarray:
        """h = f(W·x̃ + b); caches what the rules need."""
        c = self.cache = LayerCache(x=x)
        for stage in self.stages:
            x = stage.forward(x)
        c.xt = x
        c.a = self._pre_activation(x, c)
        c.h = activate(c.a, self.spec.activation)
        return c.h

    def _pre_activation(self, x, c) -> np.ndarray:
        raise NotImplementedError

    def dact(self) -> np.ndarray:
        return activation_grad(self.cache.a, self.cache.h, self.spec.activation)

    def signals(self, delta: np.ndarray, input_grad: bool = True):
        """For an error ``delta`` = ∂L/∂a (batch, out): the update requests for this layer's matrices, the
        gradients of its digital parameters, and (if ``input_grad``) ∂L/∂x by transposed reads."""
        delta = delta.astype(np.float32)
        sig, dig, gx = self._signals(delta, input_grad)
        if input_grad:
            for stage in reversed(self.stages):
                gx = stage.backward(gx)
        return sig, dig, gx

    def _signals(self, delta, input_grad):
        raise NotImplementedError

    def effective_weight(self) -> np.ndarray:
        """The float W (out × in) this layer computes, from the exact device states (bias and stages
        excluded)."""
        raise NotImplementedError

    def effective_bias(self) -> np.ndarray:
        return self.digital["b"] if self.spec.bias else np.zeros(self.spec.out_features)

    @staticmethod
    def _pad(v, width):
        if v.shape[1] == width:
            return v
        out = np.zeros((v.shape[0], width), v.dtype)
        out[:, :v.shape[1]] = v
        return out


@register_form("dense")
class Dense(Layer):
    """W on one logical array, the bias as its last input column (driven with ones)."""

    @classmethod
    def logical_matrices(cls, spec, index, shared_basis=False):
        return [(f"W{index}", "W", (spec.out_features, spec.in_features + int(spec.bias)))]

    @classmethod
    def parameter_count(cls, spec):
        return spec.dense_params

    def initialise(self, W, fill, written):
        full = np.zeros((self.spec.out_features, self.matrices["W"].cols))
        full[:, :self.spec.in_features] = W
        self.matrices["W"].set_weights(full, clip=True, fill=fill)

    def _pre_activation(self, x, c):
        c.xb = np.concatenate([x, np.ones((x.shape[0], 1), x.dtype)], axis=1) if self.spec.bias else x
        return self.matrices["W"].forward(c.xb)

    def _signals(self, delta, input_grad):
        gx = self.matrices["W"].backward(delta)[:, :self.spec.in_features] if input_grad else None
        return [Signal("W", self.cache.xb, delta)], {}, gx

    def effective_weight(self):
        return self.matrices["W"].get_weights()[:, :self.spec.in_features]

    def effective_bias(self):
        if not self.spec.bias:
            return np.zeros(self.spec.out_features)
        return self.matrices["W"].get_weights()[:, -1]


class _Factorised(Layer):
    """W = A·diag(scale)·Bᵀ with the input factor B read first and the digital scale between.

    ``rank_axes``: per factor role, the side of its update requests that runs along the rank (``"x"`` or
    ``"d"``) and the axis of the matrix that does (0: rows, 1: columns) — what a rule needs to scale the k-th
    factor's update (``factor_norms``)."""

    scale_name = ""
    rank_axes: dict = {}

    def factor_norms(self, role: str, M: np.ndarray) -> np.ndarray:
        """Norms of the factors of matrix ``M`` (a read-back of the role's matrix) along the rank: column norms
        (U, Q, P; all n columns of a shared n × n basis) or row norms (V)."""
        return np.linalg.norm(M, axis=1 - self.rank_axes[role][1])
    takes_rank = True

    @classmethod
    def parameter_count(cls, spec):
        return spec.r * (spec.in_features + spec.out_features + 1) + spec.out_features * int(spec.bias)

    def _project(self, x):                 # z = Bᵀx̃ (batch, r)
        raise NotImplementedError

    def _expand(self, zs):                 # a = A·zs (batch, out)
        raise NotImplementedError

    def _pre_activation(self, x, c):
        c.z = self._project(x)
        c.zs = (c.z * self.digital[self.scale_name]).astype(np.float32)
        a = self._expand(c.zs)
        self.macs += c.z.size + (a.size if self.spec.bias else 0)
        return a + self.digital["b"] if self.spec.bias else a

    def _signals(self, delta, input_grad):
        c = self.cache
        dig = {"b": delta.sum(axis=0)} if self.spec.bias else {}
        out_signal, g_zs = self._output_signal(delta)
        dig[self.scale_name] = (g_zs * c.z).sum(axis=0)
        g_z = (g_zs * self.digital[self.scale_name]).astype(np.float32)
        self.macs += 2 * g_zs.size + (delta.size if self.spec.bias else 0)
        in_signal, gx = self._input_signal(g_z, input_grad)
        return [out_signal, in_signal], dig, gx


@register_form("svd")
class SVD(_Factorised):
    """W = U·diag(s)·Vᵀ: Vᵀ (r × in) and U (out × r) on arrays, s digital."""

    digital_names = ("s", "b")
    scale_name = "s"
    rank_axes = {"U": ("x", 1), "V": ("d", 0)}

    @classmethod
    def logical_matrices(cls, spec, index, shared_basis=False):
        return [(f"V{index}", "V", (spec.r, spec.in_features)), (f"U{index}", "U", (spec.out_features, spec.r))]

    def initialise(self, W, fill, written):
        U, s, Vt = np.linalg.svd(W, full_matrices=True)
        r = self.spec.r
        self.matrices["U"].set_weights(U[:, :r], clip=True, fill=fill)
        self.matrices["V"].set_weights(Vt[:r], clip=True, fill=fill)
        self.digital["s"] = s[:r].copy()

    def _project(self, x):
        return self.matrices["V"].forward(x)

    def _expand(self, zs):
        return self.matrices["U"].forward(zs)

    def _output_signal(self, delta):
        return Signal("U", self.cache.zs, delta), self.matrices["U"].backward(delta)

    def _input_signal(self, g_z, input_grad):
        gx = self.matrices["V"].backward(g_z) if input_grad else None
        return Signal("V", self.cache.xt, g_z), gx

    def effective_weight(self):
        return self.matrices["U"].get_weights() @ np.diag(self.digital["s"]) @ self.matrices["V"].get_weights()


@register_form("eigen")
class Eigen(_Factorised):
    """W = Q·diag(λ)·Pᵀ: Q (out × r) and P (in × r) on arrays (P read transposed), λ digital. With a shared
    basis, Q and P are the first r columns of the n × n basis arrays of their widths."""

    digital_names = ("lam", "b")
    scale_name = "lam"
    rank_axes = {"Q": ("x", 1), "P": ("x", 1)}

    @classmethod
    def logical_matrices(cls, spec, index, shared_basis=False):
        if shared_basis:    # E_n: n × n basis of a width-n space; P = E_in[:, :r], Q = E_out[:, :r]
            return [(f"E{spec.in_features}", "P", (spec.in_features, spec.in_features)),
                    (f"E{spec.out_features}", "Q", (spec.out_features, spec.out_features))]
        return [(f"P{index}", "P", (spec.in_features, spec.r)), (f"Q{index}", "Q", (spec.out_features, spec.r))]

    def initialise(self, W, fill, written):
        U, s, Vt = np.linalg.svd(W, full_matrices=True)
        r = self.spec.r
        self.digital["lam"] = s[:r].copy()
        if self.shared_basis:
            # a width-n basis is written once: by the first layer that uses it
            for role, basis in (("Q", U), ("P", Vt.T)):
                m = self.matrices[role]
                if m.name not in written:
                    written.add(m.name)
                    m.set_weights(basis, clip=True, fill=fill)
        else:
            self.matrices["Q"].set_weights(U[:, :r], clip=True, fill=fill)
            self.matrices["P"].set_weights(Vt[:r].T, clip=True, fill=fill)

    def _project(self, x):                      # Pᵀx̃ by a transposed read
        return self.matrices["P"].backward(x)[:, :self.spec.r]

    def _expand(self, zs):
        return self.matrices["Q"].forward(self._pad(zs, self.matrices["Q"].cols))

    def _output_signal(self, delta):
        Q = self.matrices["Q"]
        return Signal("Q", self._pad(self.cache.zs, Q.cols), delta), Q.backward(delta)[:, :self.spec.r]

    def _input_signal(self, g_z, input_grad):
        P = self.matrices["P"]                   # P is (in × r): ΔP = −lr·x̃ ⊗ g_z
        gx = P.forward(self._pad(g_z, P.cols)) if input_grad else None
        return Signal("P", self._pad(g_z, P.cols), self.cache.xt.astype(np.float32)), gx

    def effective_weight(self):
        r = self.spec.r
        return (self.matrices["Q"].get_weights()[:, :r] @ np.diag(self.digital["lam"])
                @ self.matrices["P"].get_weights()[:, :r].T)


@register_form("transfer")
class Transfer(Layer):
    """W = γ·A + C (Gokmen & Haensch 2020): A, the fast array, takes the gradient's pulses; C, the slow array,
    takes the transfers that the Tiki-Taka schemes (``+tt1``, ``+tt2``, ``+ctt2``, ``+agad``) make from A. Both
    are logical arrays of the dense shape (out × (in + 1), the bias as the last input column driven with ones),
    each on its own tiles with its own device draws. Forward: γ·(A read) + (C read), summed digitally (A is not
    read when γ = 0); transposed reads of both likewise; every update request goes to A.

    Buffers: ``gamma`` (γ, set by the scheme) and ``chop`` (A's input chopper, ±1 per column of A, all +1
    unless a chopped scheme flips them): A sees its inputs multiplied by the chopper — in its reads and in its
    updates — so A's contribution is A·diag(chop) and A accumulates chop ⊙ the gradient."""

    @classmethod
    def logical_matrices(cls, spec, index, shared_basis=False):
        shape = (spec.out_features, spec.in_features + int(spec.bias))
        return [(f"A{index}", "A", shape), (f"C{index}", "C", shape)]

    @classmethod
    def parameter_count(cls, spec):
        return spec.dense_params                    # one weight per (out, in + 1); A is its fast accumulator

    def __init__(self, spec, index, matrices, stages, shared_basis=False):
        super().__init__(spec, index, matrices, stages, shared_basis)
        self.buffers = {"gamma": np.float64(0.0), "chop": np.ones(self.matrices["A"].cols)}

    @property
    def gamma(self) -> float:
        return float(self.buffers["gamma"])

    def initialise(self, W, fill, written):
        """C takes the initial weights (as the dense form's W); A starts at 0 with C's digital gain."""
        full = np.zeros((self.spec.out_features, self.matrices["C"].cols))
        full[:, :self.spec.in_features] = W
        self.matrices["C"].set_weights(full, clip=True, fill=fill)
        A = self.matrices["A"]
        A.scale = self.matrices["C"].scale
        A.set_weights(np.zeros((A.rows, A.cols)), clip=True)

    def _chopped(self, x):
        """x with A's input chopper applied (x itself when no sign is flipped)."""
        chop = self.buffers["chop"]
        return x if np.all(chop > 0) else (x * chop).astype(x.dtype)

    def _pre_activation(self, x, c):
        c.xb = np.concatenate([x, np.ones((x.shape[0], 1), x.dtype)], axis=1) if self.spec.bias else x
        a = self.matrices["C"].forward(c.xb)
        if self.gamma:
            a = a + np.float32(self.gamma) * self.matrices["A"].forward(self._chopped(c.xb))
        return a

    def _signals(self, delta, input_grad):
        gx = None
        if input_grad:
            gx = self.matrices["C"].backward(delta)
            if self.gamma:
                gx = gx + np.float32(self.gamma) * self._chopped(self.matrices["A"].backward(delta))
            gx = gx[:, :self.spec.in_features]
        return [Signal("A", self._chopped(self.cache.xb), delta)], {}, gx

    def _effective(self):
        W = self.matrices["C"].get_weights()
        if self.gamma:
            W = W + self.gamma * self.matrices["A"].get_weights() * self.buffers["chop"]
        return W

    def effective_weight(self):
        return self._effective()[:, :self.spec.in_features]

    def effective_bias(self):
        if not self.spec.bias:
            return np.zeros(self.spec.out_features)
        return self._effective()[:, -1]
