"""Local learning rules, their per-tile update kernels (``pulses``) and the rule–hardware interface
(``interface``); rules and schemes registered by name (``RULES``, ``SCHEMES``)."""
from . import bp, decorrelation, dfa, dfa_svd, enn, transfer, unidirectional  # noqa: F401  (registration)
from .base import (RULES, SCHEMES, Param, Rule, Scheme, build, check_hyperparameters, hyperparameters, parse,
                   register_rule, register_scheme, requirements)
from .interface import UpdateParameters

__all__ = ["RULES", "SCHEMES", "Param", "Rule", "Scheme", "UpdateParameters", "build", "check_hyperparameters",
           "hyperparameters", "parse", "register_rule", "register_scheme", "requirements"]
