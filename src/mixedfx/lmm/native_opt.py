"""A small model's optimization without a Python call per evaluation.

One compiled evaluation of a small model's profiled deviance takes 1–2 µs; calling it from
NLopt through Python (the `nlopt` package's callback, the driver's guard, the objective's
`__call__`) costs twice that again, for every one of the 40–60 evaluations of a fit and the
18 of lme4's finite-difference convergence check. Two entry points of the compiled kernel
(`mixedfx._native.lmm`) remove these calls:

- `deviance_many`: the deviance at each row of a matrix of θ values, in one call;
- `minimize`: NLopt's optimizer (BOBYQA by default) run from C with the kernel's deviance as
  its objective. NLopt is the C library inside the `nlopt` package's extension module; the
  addresses of its C functions are looked up there once per process (`_bind`). The optimizer
  sees the same values in the same order as through the Python callback, so it takes the
  same path and returns the same bits. When the extension does not export them (a build
  without visible symbols) `minimize` returns None and the Python callback serves.

Both evaluate exactly as `Evaluator.deviance` does; `RunRecord` carries what the driver's
guard would have seen (`mixedfx.optimize.native_run`).
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from types import ModuleType

import nlopt._nlopt as _nlopt_extension  # the extension module holding NLopt's C library
import numpy as np

from mixedfx.native import kernel
from mixedfx.optimize.native_run import RunRecord

# the NLopt functions `minimize` calls, in the order `bind_nlopt` takes their addresses
_NLOPT_FUNCTIONS = ("nlopt_create", "nlopt_destroy", "nlopt_set_lower_bounds",
                    "nlopt_set_upper_bounds", "nlopt_set_min_objective", "nlopt_set_xtol_abs1",
                    "nlopt_set_ftol_abs", "nlopt_set_maxeval", "nlopt_set_initial_step",
                    "nlopt_optimize", "nlopt_force_stop")


@lru_cache(maxsize=1)
def _bind() -> ModuleType | None:
    """The lmm kernel with NLopt's C functions bound, or None when they cannot be found."""
    mod = kernel("lmm")
    if mod is None or not hasattr(mod, "minimize"):
        return None
    try:
        lib = ctypes.CDLL(_nlopt_extension.__file__)
        addresses = tuple(ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
                          for name in _NLOPT_FUNCTIONS)
    except (OSError, AttributeError, TypeError):
        return None
    if any(a is None for a in addresses):
        return None
    mod.bind_nlopt(addresses)
    return mod


def deviance_many(ev: object, X: np.ndarray, workspace: np.ndarray, reml: bool,
                  ldW: float) -> np.ndarray | None:
    """The deviance at each row of X (m × nθ) in one compiled call, or None when the kernel
    lacks the entry point."""
    mod = kernel("lmm")
    if mod is None or not hasattr(mod, "deviance_many"):
        return None
    out = np.empty(X.shape[0])
    mod.deviance_many(ev, np.ascontiguousarray(X, dtype=float), workspace, reml, ldW, out)
    return out


def minimize(ev: object, workspace: np.ndarray, reml: bool, ldW: float, algorithm: int,
             x0: np.ndarray, lower: np.ndarray, upper: np.ndarray, xtol: float, ftol: float,
             maxeval: int, step: np.ndarray | None, inf_limit: int) -> RunRecord | None:
    """NLopt's `algorithm` from x0 within [lower, upper] on the evaluator's deviance, with
    the driver's settings (absolute x and f tolerances, evaluation budget, initial step or
    NLopt's default); None when NLopt's C functions are not available."""
    mod = _bind()
    if mod is None:
        return None
    x = np.array(x0, dtype=float)
    best, bad = np.empty_like(x), np.empty_like(x)
    code, fx, evals, best_f, stop = mod.minimize(
        ev, workspace, reml, ldW, algorithm, x, np.ascontiguousarray(lower, dtype=float),
        np.ascontiguousarray(upper, dtype=float), float(xtol), float(ftol), int(maxeval),
        None if step is None else np.ascontiguousarray(step, dtype=float), int(inf_limit),
        best, bad)
    return RunRecord(code=code, x=x, fx=fx, best_x=best if best_f < np.inf else None,
                     best_f=best_f, stop=stop, bad_x=bad, evaluations=evals)


def newton(ev: object, workspace: np.ndarray, reml: bool, ldW: float, x0: np.ndarray,
           lower: np.ndarray, upper: np.ndarray, delta: float, ftol: float, maxiter: int
           ) -> tuple[int, np.ndarray, float, np.ndarray, np.ndarray, float, int] | None:
    """Newton's method with lme4's finite-difference derivatives from x0, in one compiled
    call (`_native/lmm_newton.h`): (status, x, f, g, H, trace(H⁻¹), evaluations), status 0
    when the predicted decrease ½gᵀH⁻¹g at x is at most `ftol` (g, H: `deriv12`'s numbers at
    x; trace(H⁻¹) then finite); None when the kernel lacks the entry point."""
    mod = kernel("lmm")
    if mod is None or not hasattr(mod, "newton"):
        return None
    x = np.array(x0, dtype=float)
    g, H = np.empty_like(x), np.empty((len(x), len(x)))
    status, fx, evals, _, trinv = mod.newton(ev, workspace, reml, ldW, x,
                                      np.ascontiguousarray(lower, dtype=float),
                                      np.ascontiguousarray(upper, dtype=float), float(delta),
                                      float(ftol), int(maxiter), g, H)
    return status, x, fx, g, H, trinv, evals
