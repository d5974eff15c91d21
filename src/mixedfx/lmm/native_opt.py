"""A small model's optimization without a Python call per evaluation.

One compiled evaluation of a small model's profiled deviance takes 1–2 µs; calling it from
NLopt through Python (the `nlopt` package's callback, the driver's guard, the objective's
`__call__`) costs twice that again, for every one of the 40–60 evaluations of a fit and the
18 of lme4's finite-difference convergence check. Two entry points of the compiled kernel
(`mixedfx._native.lmm`) remove these calls:

- `deviance_many`: the deviance at each row of a matrix of θ values, in one call;
- `deriv12`: lme4's finite-difference gradient and Hessian (18 evaluations for three θ), in
  one call;
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

from functools import lru_cache
from types import ModuleType

import numpy as np

from mixedfx.native import kernel
from mixedfx.optimize.native_run import RunRecord, nlopt_addresses


@lru_cache(maxsize=1)
def _bind() -> ModuleType | None:
    """The lmm kernel with NLopt's C functions bound, or None when they cannot be found."""
    mod = kernel("lmm")
    if mod is None or not hasattr(mod, "minimize"):
        return None
    addresses = nlopt_addresses()
    if addresses is None:
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


def deriv12(ev: object, x: np.ndarray, fx: float, delta: float, workspace: np.ndarray,
            reml: bool, ldW: float) -> tuple[np.ndarray, np.ndarray, int] | None:
    """lme4's central-difference gradient and Hessian at x (`optimize.derivatives.deriv12`,
    the same bits) with every evaluation in one compiled call: (g, H, evaluations), or None
    when the kernel lacks the entry point."""
    mod = kernel("lmm")
    deriv = getattr(mod, "deriv12", None)
    if deriv is None:
        return None
    n = len(x)
    g, H = np.zeros(n), np.zeros((n, n))
    evaluations = deriv(ev, np.ascontiguousarray(x, dtype=float), float(fx), float(delta),
                        workspace, reml, ldW, g, H)
    return g, H, evaluations


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
    n = len(x)
    best, bad = np.empty(n), np.empty(n)
    code, fx, evals, best_f, stop = mod.minimize(
        ev, workspace, reml, ldW, algorithm, x, np.ascontiguousarray(lower, dtype=float),
        np.ascontiguousarray(upper, dtype=float), float(xtol), float(ftol), int(maxeval),
        None if step is None else np.ascontiguousarray(step, dtype=float), int(inf_limit),
        best, bad)
    return RunRecord(code=code, x=x, fx=fx, best_x=best if best_f < np.inf else None,
                     best_f=best_f, stop=stop, bad_x=bad, evaluations=evals)


def newton(ev: object, workspace: np.ndarray, reml: bool, ldW: float, x0: np.ndarray,
           lower: np.ndarray, upper: np.ndarray, delta: float, ftol: float, maxiter: int,
           fac: np.ndarray | None = None
           ) -> tuple[int, np.ndarray, float, np.ndarray, np.ndarray, float, int] | None:
    """Newton's method with lme4's finite-difference derivatives from x0, in one compiled
    call (`_native/lmm_newton.h`): (status, x, f, g, H, trace(H⁻¹), evaluations), status 0
    when the predicted decrease ½gᵀH⁻¹g at x is at most `ftol` (g, H: `deriv12`'s numbers at
    x; trace(H⁻¹) then finite); None when the kernel lacks the entry point. With `fac` (3
    values) and status 0, the workspace receives the factor at x and `fac` (log|L_Z|²,
    log|R_X|², pwrss), as the evaluator's `factor` gives them (NaN: not positive definite)."""
    mod = kernel("lmm")
    if mod is None or not hasattr(mod, "newton"):
        return None
    x = np.array(x0, dtype=float)
    g, H = np.empty_like(x), np.empty((len(x), len(x)))
    status, fx, evals, _, trinv = mod.newton(ev, workspace, reml, ldW, x,
                                      np.ascontiguousarray(lower, dtype=float),
                                      np.ascontiguousarray(upper, dtype=float), float(delta),
                                      float(ftol), int(maxiter), g, H, fac)
    return status, x, fx, g, H, trinv, evals
