"""Minimizing the profiled objective over θ as lme4's `optimizeLmer` does.

1. BOBYQA (nlopt) from the start values with lme4's tolerances;
2. `restart_edge`: when some θ sits on its bound and the one-sided slope into the interior is
   negative, optimize again from there;
3. `check.boundary`: θ components within `boundary_tol` of their bound are set to the bound when
   that lowers the objective;
4. finite-difference derivatives for the convergence checks (when requested).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import nlopt
import numpy as np

from mixedfx.optimize.control import Control
from mixedfx.optimize.derivatives import deriv12

_ALGORITHMS = {
    "bobyqa": nlopt.LN_BOBYQA,
    "nelder_mead": nlopt.LN_NELDERMEAD,
    "cobyla": nlopt.LN_COBYLA,
    "sbplx": nlopt.LN_SBPLX,
}

_RETURN_CODES = {
    nlopt.SUCCESS: "NLOPT_SUCCESS",
    nlopt.STOPVAL_REACHED: "NLOPT_STOPVAL_REACHED",
    nlopt.FTOL_REACHED: "NLOPT_FTOL_REACHED",
    nlopt.XTOL_REACHED: "NLOPT_XTOL_REACHED",
    nlopt.MAXEVAL_REACHED: "NLOPT_MAXEVAL_REACHED",
    nlopt.MAXTIME_REACHED: "NLOPT_MAXTIME_REACHED",
}


@dataclass
class OptimizationResult:
    """Where the optimizer stopped and how it got there."""

    x: np.ndarray
    fun: float
    evaluations: int
    optimizer: str
    return_code: str
    converged: bool
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None
    messages: list[str] = field(default_factory=list)


def _run_nlopt(fn: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray,
               upper: np.ndarray, control: Control, initial_step: np.ndarray | None = None,
               ) -> tuple[np.ndarray, float, str]:
    opt = nlopt.opt(_ALGORITHMS[control.optimizer], len(x0))
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(upper)
    opt.set_min_objective(lambda x, grad: fn(x))
    opt.set_xtol_abs(control.xtol_abs)
    opt.set_ftol_abs(control.ftol_abs)
    opt.set_maxeval(control.maxeval)
    if initial_step is not None:
        opt.set_initial_step(initial_step)
    x = opt.optimize(np.clip(x0, lower, upper))
    code = _RETURN_CODES.get(opt.last_optimize_result(), str(opt.last_optimize_result()))
    return np.asarray(x), float(opt.last_optimum_value()), code


LOG_FLOOR = 1e-6


def presolve_log_scale(fn: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray,
                       control: Control, upper: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """A rough optimum from BOBYQA over φ = log θ for the parameters bounded below by 0.

    Returns the point and a trust-region start (initial step) for the final run.
    """
    logged = lower == 0
    start = x0.copy()
    start[logged] = np.log(np.maximum(x0[logged], LOG_FLOOR))

    def to_theta(phi: np.ndarray) -> np.ndarray:
        theta = phi.copy()
        theta[logged] = np.exp(phi[logged])
        return theta

    lo = np.where(logged, np.log(LOG_FLOOR), lower)
    hi = np.where(logged, np.log(1e4), np.inf if upper is None else upper)
    opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
    opt.set_lower_bounds(lo)
    opt.set_upper_bounds(hi)
    opt.set_min_objective(lambda phi, grad: fn(to_theta(phi)))
    opt.set_ftol_abs(1e-2)
    opt.set_xtol_abs(1e-3)
    opt.set_maxeval(control.maxeval)
    opt.set_initial_step(np.where(logged, 1.0, 0.5))
    theta = to_theta(opt.optimize(np.clip(start, lo, hi)))
    theta[logged & (theta <= LOG_FLOOR * 1.0001)] = 0.0
    step = 0.05 * np.maximum(np.abs(theta), 0.02)
    return theta, step


def _restart_if_edge(fn: Callable[[np.ndarray], float], x: np.ndarray, fx: float,
                     lower: np.ndarray, upper: np.ndarray, control: Control,
                     ) -> tuple[np.ndarray, float, str | None]:
    on_bound = np.flatnonzero(x == lower)
    if len(on_bound) == 0:
        return x, fx, None
    btol = 1e-5
    slopes = []
    for i in on_bound:
        xt = x.copy()
        xt[i] = lower[i] + btol
        slopes.append((fn(xt) - fx) / btol)
    if min(slopes) < 0:
        x2, f2, code = _run_nlopt(fn, x, lower, upper, control)
        return x2, f2, code
    return x, fx, None


def _check_boundary(fn: Callable[[np.ndarray], float], x: np.ndarray, fx: float,
                    lower: np.ndarray, tol: float) -> tuple[np.ndarray, float]:
    diff = x - lower
    near = np.flatnonzero((diff > 0) & (diff < tol))
    if len(near) == 0:
        return x, fx
    x = x.copy()
    for i in near:
        trial = x.copy()
        trial[i] = lower[i]
        if fn(trial) < fx:
            x[i] = lower[i]
    return x, fn(x)


def optimize_theta(fn: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray,
                   control: Control, nobs: int, counter: Callable[[], int] | None = None,
                   presolve: bool = False, initial_step: np.ndarray | None = None,
                   upper: np.ndarray | None = None) -> OptimizationResult:
    """Minimize fn over lower ≤ θ ≤ upper (upper +∞ unless given: bounded correlation
    parameters of structured covariances) with lme4's optimizeLmer steps (optionally after a
    log-scale presolve, see `Control.presolve`)."""
    lower = np.asarray(lower, dtype=float)
    upper = np.full_like(lower, np.inf) if upper is None else np.asarray(upper, dtype=float)
    x0 = np.asarray(x0, dtype=float)
    step = initial_step
    if presolve:
        x0, step = presolve_log_scale(fn, x0, lower, control, upper)
    x, fx, code = _run_nlopt(fn, x0, lower, upper, control, step)
    converged = code not in ("NLOPT_MAXEVAL_REACHED", "NLOPT_MAXTIME_REACHED")
    messages = []
    if not converged:
        messages.append(f"convergence code 1 from {control.optimizer}: maximum number of "
                        f"function evaluations ({control.maxeval}) exceeded")
    g = H = None
    calc = control.calc_derivs if control.calc_derivs is not None else nobs < 10_000
    if calc:
        g, H = deriv12(fn, x, fx)
    if control.restart_edge:
        x, fx, code2 = _restart_if_edge(fn, x, fx, lower, upper, control)
        code = code2 or code
    if control.boundary_tol > 0:
        x, fx = _check_boundary(fn, x, fx, lower, control.boundary_tol)
    evaluations = counter() if counter is not None else -1
    return OptimizationResult(x=x, fun=fx, evaluations=evaluations, optimizer=control.optimizer,
                              return_code=code, converged=converged, gradient=g, hessian=H,
                              messages=messages)
