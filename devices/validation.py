"""Parameter checks: declarative constraints, shared by device models, rule hyperparameters and configs.

A constraint checks one value and returns it normalised (an int given for a real becomes a float), or raises
``ValueError`` whose message says what is allowed and what was given: ``must be in [1, 1000000], got 0``.
``check(name, value, constraint)`` prefixes the parameter's name (``ortho_every must be …``); configs prefix
the key path instead (``rule.ortho_every: must be …``). So a bad value never reaches a kernel.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass


class Constraint:
    """Base: ``__call__(value)`` returns the normalised value or raises ValueError("must be …, got …")."""

    def __call__(self, value):
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def _fail(self, value):
        raise ValueError(f"must be {self.describe()}, got {value!r}")


def _num(x) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _interval(lo, hi, lo_open, hi_open) -> str:
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f"{'>' if lo_open else '>='} {_num(lo)}"
    if lo is None:
        return f"{'<' if hi_open else '<='} {_num(hi)}"
    return f"in {'(' if lo_open else '['}{_num(lo)}, {_num(hi)}{')' if hi_open else ']'}"


@dataclass(frozen=True)
class Real(Constraint):
    """A finite real number (ints accepted, returned as float), optionally within an interval."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def describe(self) -> str:
        rng = _interval(self.lo, self.hi, self.lo_open, self.hi_open)
        return "a finite number" + (f" {rng}" if rng else "")

    def __call__(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            self._fail(value)
        value = float(value)
        if not math.isfinite(value):
            self._fail(value)
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            self._fail(value)
        if self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi)):
            self._fail(value)
        return value


@dataclass(frozen=True)
class Integer(Constraint):
    """A whole number (bools refused), optionally within [lo, hi]."""

    lo: int | None = None
    hi: int | None = None

    def describe(self) -> str:
        rng = _interval(self.lo, self.hi, False, False)
        return "an integer" + (f" {rng}" if rng else "")

    def __call__(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            self._fail(value)
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            self._fail(value)
        return int(value)


@dataclass(frozen=True)
class Boolean(Constraint):
    """true or false (no 'yes', no 0/1)."""

    def describe(self) -> str:
        return "true or false"

    def __call__(self, value):
        if not isinstance(value, bool):
            self._fail(value)
        return value


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of values."""

    values: tuple

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def __call__(self, value):
        if isinstance(value, (list, dict)) or value not in self.values or (isinstance(value, bool) and not any(
                isinstance(v, bool) for v in self.values)):
            self._fail(value)
        return value


@dataclass(frozen=True)
class Optional(Constraint):
    """None, or a value of the inner constraint."""

    inner: Constraint

    def describe(self) -> str:
        return f"none or {self.inner.describe()}"

    def __call__(self, value):
        if value is None:
            return None
        try:
            return self.inner(value)
        except ValueError:
            self._fail(value)


@dataclass(frozen=True)
class Text(Constraint):
    """A string of at most ``max_len`` characters."""

    max_len: int = 4096

    def describe(self) -> str:
        return f"a string of at most {self.max_len} characters"

    def __call__(self, value):
        if not isinstance(value, str) or len(value) > self.max_len or "\x00" in value:
            self._fail(value)
        return value


@dataclass(frozen=True)
class IntList(Constraint):
    """A list of integers, each within [lo, hi], of length in [min_len, max_len]."""

    lo: int = 1
    hi: int | None = None
    min_len: int = 0
    max_len: int = 64

    def describe(self) -> str:
        return (f"a list of {self.min_len} to {self.max_len} integers "
                f"{_interval(self.lo, self.hi, False, False)}").rstrip()

    def __call__(self, value):
        if not isinstance(value, (list, tuple)) or not self.min_len <= len(value) <= self.max_len:
            self._fail(value)
        item = Integer(self.lo, self.hi)
        try:
            return [item(v) for v in value]
        except ValueError:
            self._fail(value)


@dataclass(frozen=True)
class Either(Constraint):
    """A value of the first constraint, else of the second: ``Either(Zero(), Real(1e-6, 1.0))`` is
    "0 (off) or a number in [1e-06, 1]"."""

    first: Constraint
    second: Constraint

    def describe(self) -> str:
        return f"{self.first.describe()} or {self.second.describe()}"

    def __call__(self, value):
        for inner in (self.first, self.second):
            try:
                return inner(value)
            except ValueError:
                pass
        self._fail(value)


@dataclass(frozen=True)
class Zero(Constraint):
    """Exactly 0 (returned as 0.0): the "off" value of a real parameter, used as ``Either(Zero(), Real(…))``
    where tiny non-zero values only overflow (a denormal 5e-324 Ω is no wire)."""

    def describe(self) -> str:
        return "0"

    def __call__(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != 0:
            self._fail(value)
        return 0.0


def check(name: str, value, constraint: Constraint):
    """``constraint(value)`` with the parameter's name in the message: ``dw_min must be > 0 …, got -0.1``."""
    try:
        return constraint(value)
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None


# ---- sizes --------------------------------------------------------------------------------------------------
#: the most memory one request (a network, a response curve, a grid) may ask for before hwsim refuses it with an
#: estimate, instead of failing in the allocator (docs/cli.md, "Limits")
MEMORY_LIMIT = 8 << 30


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError


def check_memory(name: str, n_bytes: float, what: str, limit: int = MEMORY_LIMIT) -> None:
    """Refuse a request whose estimated memory exceeds ``limit``: ``name: <what> would need ~N GiB of memory;
    the limit is 8 GiB``."""
    if n_bytes > limit:
        raise ValueError(f"{name}: {what} would need ~{human_bytes(n_bytes)} of memory; the limit is "
                         f"{human_bytes(limit)}")


# ---- the short forms used by the device models ------------------------------------------------------------
def positive(name: str, value) -> None:
    check(name, value, Real(0.0, lo_open=True))


def non_negative(name: str, value) -> None:
    check(name, value, Real(0.0))


def in_range(name: str, value, lo: float, hi: float, *, lo_open=False, hi_open=False) -> None:
    check(name, value, Real(lo, hi, lo_open, hi_open))


def levels(name: str, value) -> None:
    """``n_states``: 0 (continuous) or an integer >= 2."""
    if isinstance(value, bool) or not isinstance(value, int) or (value != 0 and not 2 <= value <= 10**9):
        raise ValueError(f"{name} must be 0 (continuous) or an integer in [2, 1e9], got {value!r}")


def ordered(lo_name: str, lo, hi_name: str, hi) -> None:
    if not float(lo) < float(hi):
        raise ValueError(f"{lo_name} must be < {hi_name}, got {lo_name}={lo}, {hi_name}={hi}")
