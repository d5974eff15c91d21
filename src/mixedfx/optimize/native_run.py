"""The record of an optimizer run made by the objective itself, from compiled code.

An objective may offer `minimize_natively(algorithm, x0, lower, upper, xtol, ftol, maxeval,
step, inf_limit)`: it runs NLopt's `algorithm` over itself without a Python call per
evaluation (a small LMM's profiled deviance: `mixedfx.lmm.native_opt`) and returns a
`RunRecord`, or None when it cannot (then the driver calls NLopt from Python). The objective
applies the driver's guard (`optimize.driver._Guard`) itself: a NaN or −∞ value, or +∞ at
every one of the first `inf_limit` points, stops the run and is reported in `stop`.
"""

from __future__ import annotations

from dataclasses import dataclass

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
