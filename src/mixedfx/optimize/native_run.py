"""The record of an optimizer run made by the objective itself, from compiled code.

An objective may offer `minimize_natively(algorithm, x0, lower, upper, xtol, ftol, maxeval,
step, inf_limit)`: it runs NLopt's `algorithm` over itself without a Python call per
evaluation (a small LMM's profiled deviance: `mixedfx.lmm.native_opt`) and returns a
`RunRecord`, or None when it cannot (then the driver calls NLopt from Python). The objective
applies the driver's guard (`optimize.driver._Guard`) itself: a NaN or −∞ value, or +∞ at
every one of the first `inf_limit` points, stops the run and is reported in `stop`.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from functools import lru_cache

import nlopt._nlopt as _nlopt_extension  # the extension module holding NLopt's C library
import numpy as np

#: why a run was stopped by its objective
STOP_NONE, STOP_NAN, STOP_NEGINF, STOP_INF_STREAK = 0, 1, 2, 3


@dataclass
class RunRecord:
    """NLopt's return code, point and value; the best point the objective saw (None when no
    value was finite) and its value; why the objective stopped the run (`STOP_*`), with the
    point of a NaN or −∞ value; the number of evaluations."""

    code: int
    x: np.ndarray
    fx: float
    best_x: np.ndarray | None
    best_f: float
    stop: int
    bad_x: np.ndarray
    evaluations: int


# the NLopt functions a compiled optimizer loop calls, in the order its binder takes them
NLOPT_FUNCTIONS = ("nlopt_create", "nlopt_destroy", "nlopt_set_lower_bounds",
                   "nlopt_set_upper_bounds", "nlopt_set_min_objective", "nlopt_set_xtol_abs1",
                   "nlopt_set_ftol_abs", "nlopt_set_maxeval", "nlopt_set_initial_step",
                   "nlopt_optimize", "nlopt_force_stop")


@lru_cache(maxsize=1)
def nlopt_addresses() -> tuple[int, ...] | None:
    """The addresses of `NLOPT_FUNCTIONS` in the C library inside the `nlopt` package's
    extension module (the NLopt the Python callback path runs), or None when that module
    does not export them."""
    try:
        lib = ctypes.CDLL(_nlopt_extension.__file__)
        addresses = tuple(ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
                          for name in NLOPT_FUNCTIONS)
    except (OSError, AttributeError, TypeError):
        return None
    return None if any(a is None for a in addresses) else addresses
