"""Minimizing the profiled objective over θ as lme4's `optimizeLmer` does.

1. BOBYQA (nlopt) from the start values with lme4's tolerances;
2. `restart_edge`: when some θ sits on its bound and the one-sided slope into the interior is
   negative, optimize again from there;
3. `check.boundary`: θ components within `boundary_tol` of their bound are set to the bound when
   that lowers the objective;
4. finite-difference derivatives for the convergence checks (when requested);
5. `restart_singular` (when the caller gives the terms' blocks): a fit that still ends
   singular is optimized again from the boundary point and from the interior with fresh trust
   regions, and the better optimum is kept (see `optimize.restart`).
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import nlopt
import numpy as np

from mixedfx.errors import ConvergenceError
from mixedfx.optimize.control import Control
from mixedfx.optimize.convergence import is_singular
from mixedfx.optimize.derivatives import DERIV12_DELTA, deriv12
from mixedfx.optimize.native_run import STOP_INF_STREAK, STOP_NAN, STOP_NEGINF, RunRecord
from mixedfx.optimize.polish import newton_polish
from mixedfx.optimize.restart import RESTART_GAIN, interior_points, restart_singular

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
    restarts: list[tuple[str, float]] = field(default_factory=list)


COBYLA_INF = 1e100  # COBYLA's stand-in for +Inf before any finite value is known
INF_STREAK = 200   # evaluations at +Inf, with no finite value yet, before giving up
_INF_MESSAGE = ("the objective is +Inf at {n} point(s) tried (the penalized system is singular "
                "or PIRLS fails everywhere): the model does not suit these data (check the "
                "family and link, or simplify the random effects)")


_NEGINF_MESSAGE = ("the objective is -Inf: the model reproduces the data exactly (e.g. a "
                   "constant or perfectly fitted response), so the likelihood is unbounded")


def _nan_message(x: np.ndarray) -> str:
    return ("the objective is NaN at theta/beta = "
            f"{np.array2string(np.asarray(x), precision=4, threshold=8)} (lme4: 'PIRLS loop "
            "resulted in NaN value'); the model may not suit these data (check the family, "
            "link and response, or simplify the random effects)")


class _Guard:
    """The objective as nlopt sees it: stops the run when the time budget is spent
    (nlopt.ForcedStop), refuses NaN and −Inf values with a clear error (lme4: "PIRLS loop
    resulted in NaN value"), and remembers the best point (to return it when nlopt gives up
    with RoundoffLimited or a generic failure). KeyboardInterrupt raised inside the callback
    stops nlopt and propagates, so Ctrl-C always works."""

    def __init__(self, fn: Callable[[np.ndarray], float], control: Control,
                 known: tuple[np.ndarray, float] | None = None) -> None:
        self.fn = fn
        self.known = known      # (x, fn(x)) already evaluated: not evaluated again
        # COBYLA's trust-region step (trstlp) loops forever, inside nlopt's C code where no
        # signal reaches it, once a simplex value is infinite: it gets a large finite one
        self.finite_only = control.optimizer == "cobyla"
        self.deadline = None if control.max_time is None else \
            time.monotonic() + float(control.max_time)
        self.timed_out = False
        self.best_x: np.ndarray | None = None
        self.best_f = math.inf
        self.inf_streak = 0

    def __call__(self, x: np.ndarray, grad: np.ndarray | None = None) -> float:
        if self.deadline is not None and self.best_x is not None and \
                time.monotonic() > self.deadline:
            self.timed_out = True
            raise nlopt.ForcedStop("time budget exhausted")
        if self.known is not None and np.array_equal(x, self.known[0]):
            v = self.known[1]
        else:
            v = float(self.fn(x))
        if math.isnan(v):
            raise ConvergenceError(_nan_message(x))
        if v == -math.inf:
            raise ConvergenceError(_NEGINF_MESSAGE)
        if v < self.best_f:
            self.best_f, self.best_x = v, np.array(x, dtype=float)
        if v == math.inf:
            self.inf_streak += 1
            if self.best_x is None and self.inf_streak >= INF_STREAK:
                raise ConvergenceError(_INF_MESSAGE.format(n=f"the first {INF_STREAK}"))
        else:
            self.inf_streak = 0
        if v == math.inf and self.finite_only:
            return COBYLA_INF if self.best_x is None else \
                self.best_f + 1e10 * (1.0 + abs(self.best_f))
        return v


def _run_nlopt(fn: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray,
               upper: np.ndarray, control: Control, initial_step: np.ndarray | None = None,
               known: tuple[np.ndarray, float] | None = None,
               ) -> tuple[np.ndarray, float, str]:
    """NLopt's run from x0 (`known`: a point and its value, which the Python callback returns
    without evaluating fn again: the presolve's optimum, the run's first point)."""
    native = getattr(fn, "minimize_natively", None)
    if native is not None and control.max_time is None and control.optimizer != "cobyla":
        # the objective runs NLopt from compiled code (same path, no Python call per
        # evaluation); COBYLA's infinite-value stand-in and the time budget stay in _Guard
        run = native(_ALGORITHMS[control.optimizer], _clip(x0, lower, upper), lower, upper,
                     control.xtol_abs, control.ftol_abs, control.budget(len(x0)),
                     initial_step, INF_STREAK)
        if run is not None:
            return _native_outcome(run)
    opt = nlopt.opt(_ALGORITHMS[control.optimizer], len(x0))
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(upper)
    guard = _Guard(fn, control, known)
    opt.set_min_objective(guard)
    opt.set_xtol_abs(control.xtol_abs)
    opt.set_ftol_abs(control.ftol_abs)
    opt.set_maxeval(control.budget(len(x0)))
    if control.max_time is not None:
        opt.set_maxtime(float(control.max_time))
    if initial_step is not None:
        opt.set_initial_step(initial_step)
    return _optimize(opt, guard, _clip(x0, lower, upper))


def _clip(x0: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """np.clip(x0, lower, upper) (the run's start; the runs copy it): x0 itself when each of
    its few entries lies strictly between its bounds (np.clip returns such entries
    unchanged; one equal to a bound becomes the bound's bits, e.g. −0 at a bound of +0),
    else np.clip's result."""
    xs, lo, hi = x0.tolist(), lower.tolist(), upper.tolist()
    if len(xs) == len(lo) == len(hi) and all(map(operator.lt, lo, xs)) and \
            all(map(operator.lt, xs, hi)):
        return x0
    return np.clip(x0, lower, upper)


def _optimize(opt: nlopt.opt, guard: _Guard, x0: np.ndarray) -> tuple[np.ndarray, float, str]:
    """opt.optimize(x0), turning nlopt's stops into return codes (with the best point)."""
    try:
        x = opt.optimize(x0)
        code = _RETURN_CODES.get(opt.last_optimize_result(), str(opt.last_optimize_result()))
        fx = float(opt.last_optimum_value())
        if not math.isfinite(fx) or guard.best_x is None:
            raise ConvergenceError(_INF_MESSAGE.format(n="every"))
        return np.asarray(x), fx, code
    except nlopt.ForcedStop:
        if not guard.timed_out:
            raise
        code = "NLOPT_MAXTIME_REACHED"
    except nlopt.RoundoffLimited:
        code = "NLOPT_ROUNDOFF_LIMITED"
    except RuntimeError as exc:              # nlopt's generic failure
        if isinstance(exc, ConvergenceError):
            raise
        code = "NLOPT_FAILURE"
    return _best_seen(guard.best_x, guard.best_f, code)


def _best_seen(best_x: np.ndarray | None, best_f: float, code: str
               ) -> tuple[np.ndarray, float, str]:
    """(the best point the objective saw, its value, code) after an optimizer stop that is
    not a convergence; an error when no value was finite."""
    if best_x is None or not math.isfinite(best_f):
        raise ConvergenceError(f"the optimizer stopped ({code}) before finding a point with a "
                               "finite objective")
    return best_x, float(best_f), code


def _native_outcome(run: RunRecord) -> tuple[np.ndarray, float, str]:
    """(x, f, return code) of a native run (`minimize_natively`'s record: NLopt's code and
    point, the best point seen, why the objective stopped it), with the errors and the
    fallbacks of `_Guard` and `_optimize`."""
    if run.stop == STOP_NAN:
        raise ConvergenceError(_nan_message(run.bad_x))
    if run.stop == STOP_NEGINF:
        raise ConvergenceError(_NEGINF_MESSAGE)
    if run.stop == STOP_INF_STREAK:
        raise ConvergenceError(_INF_MESSAGE.format(n=f"the first {INF_STREAK}"))
    if run.code > 0:
        if not math.isfinite(run.fx) or run.best_x is None:
            raise ConvergenceError(_INF_MESSAGE.format(n="every"))
        return run.x, float(run.fx), _RETURN_CODES.get(run.code, str(run.code))
    if run.code == nlopt.ROUNDOFF_LIMITED:
        code = "NLOPT_ROUNDOFF_LIMITED"
    elif run.code == nlopt.FAILURE:
        code = "NLOPT_FAILURE"
    elif run.code == nlopt.OUT_OF_MEMORY:
        raise MemoryError("NLopt ran out of memory")
    else:                               # invalid arguments (nlopt raises ValueError)
        raise ValueError(f"NLopt refused the problem (return code {run.code})")
    return _best_seen(run.best_x, run.best_f, code)


_CODE_MESSAGES = {
    "NLOPT_MAXTIME_REACHED": "convergence code 6 from {opt}: time budget (control max_time = "
                             "{max_time} s) exhausted",
    "NLOPT_ROUNDOFF_LIMITED": "convergence code -4 from {opt}: NLOPT_ROUNDOFF_LIMITED: Roundoff "
                              "errors led to a breakdown of the optimization algorithm. In this "
                              "case, the returned minimum may still be useful. (e.g. Nelder-Mead "
                              "detected that it is going to perform an ill-conditioned step)",
    "NLOPT_FAILURE": "convergence code -1 from {opt}: NLOPT_FAILURE: generic failure",
    "NLOPT_MAXEVAL_REACHED": "convergence code 1 from {opt}: maximum number of function "
                             "evaluations ({maxeval}) exceeded",
}


def code_message(code: str, control: Control, n_params: int) -> str | None:
    """lme4's warning text for an optimizer return code that is not a success."""
    tmpl = _CODE_MESSAGES.get(code)
    if tmpl is None:
        return None
    return tmpl.format(opt=control.optimizer, max_time=control.max_time,
                       maxeval=control.budget(n_params))


LOG_FLOOR = 1e-6


def presolve_log_scale(fn: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray,
                       control: Control, upper: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, float] | None]:
    """A rough optimum from BOBYQA over φ = log θ for the parameters bounded below by 0.

    Returns the point, a trust-region start (initial step) for the final run and (the point,
    its value) when fn was evaluated there (not when a θ at the floor was set to 0): the
    final run starts there, and one of G's evaluations takes half a second.
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
    guard = _Guard(lambda phi: fn(to_theta(phi)), control)
    opt.set_min_objective(guard)
    opt.set_ftol_abs(1e-2)
    opt.set_xtol_abs(1e-3)
    opt.set_maxeval(control.budget(len(x0)))
    opt.set_initial_step(np.where(logged, 1.0, 0.5))
    phi, f, _ = _optimize(opt, guard, np.clip(start, lo, hi))
    if guard.best_x is not None and guard.best_f == f:
        # the point evaluated: NLopt returns it recomputed, at times a bit away
        phi = guard.best_x
    theta = to_theta(phi)
    floor = logged & (theta <= LOG_FLOOR * 1.0001)
    known = None if floor.any() or not math.isfinite(f) else (theta.copy(), f)
    theta[floor] = 0.0
    step = 0.05 * np.maximum(np.abs(theta), 0.02)
    return theta, step, known


def _restart_if_edge(fn: Callable[[np.ndarray], float], x: np.ndarray, fx: float,
                     lower: np.ndarray, upper: np.ndarray, control: Control,
                     lows: list[float] | None = None,
                     ) -> tuple[np.ndarray, float, str | None]:
    """lme4's `restart_edge`: when some θ sits on its lower bound and the one-sided slope
    into the interior is negative, optimize again from x (`lows`: lower as a list)."""
    lows = lower.tolist() if lows is None else lows
    on_bound = [i for i, (xi, lo) in enumerate(zip(x.tolist(), lows, strict=True))
                if xi == lo]
    if not on_bound:
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
                    lower: np.ndarray, tol: float, lows: list[float] | None = None
                    ) -> tuple[np.ndarray, float]:
    """lme4's `check.boundary`: θ components within `tol` of their lower bound are set to
    it when that lowers fn (`lows`: lower as a list)."""
    lows = lower.tolist() if lows is None else lows
    near = [i for i, (xi, lo) in enumerate(zip(x.tolist(), lows, strict=True))
            if 0.0 < xi - lo < tol]
    if not near:
        return x, fx
    x = x.copy()
    for i in near:
        trial = x.copy()
        trial[i] = lower[i]
        if fn(trial) < fx:
            x[i] = lower[i]
    return x, fn(x)


def _near_bounds(x: np.ndarray, lows: list[float], tol: float) -> bool:
    """Whether some x sits on its lower bound or within `tol` above it: otherwise
    `_restart_if_edge` and `_check_boundary` have nothing to do."""
    for xi, lo in zip(x.tolist(), lows, strict=True):  # noqa: SIM110 (no generator)
        if xi == lo or 0.0 < xi - lo < tol:
            return True
    return False


def _derivatives(fn: Callable[[np.ndarray], float], x: np.ndarray, fx: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """lme4's finite-difference gradient and Hessian of fn at x, through the objective's
    compiled entry points when it has them (the same values)."""
    native = getattr(fn, "deriv12_natively", None)
    if native is not None:
        out = native(x, fx, DERIV12_DELTA)
        if out is not None:
            return out
    return deriv12(fn, x, fx, DERIV12_DELTA, many=getattr(fn, "evaluate_many", None))


def optimize_theta(fn: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray,
                   control: Control, nobs: int, counter: Callable[[], int] | None = None,
                   presolve: bool = False, initial_step: np.ndarray | None = None,
                   upper: np.ndarray | None = None,
                   blocks: Sequence[tuple[int, int]] | None = None,
                   restart_gain: float = RESTART_GAIN,
                   restart_step: Callable[[np.ndarray], np.ndarray] | None = None,
                   ) -> OptimizationResult:
    """Minimize fn over lower ≤ θ ≤ upper (upper +∞ unless given: bounded correlation
    parameters of structured covariances) with lme4's optimizeLmer steps (optionally after a
    log-scale presolve, see `Control.presolve`).

    `blocks`: (offset, k) of each unstructured term's θ (the first coordinates of x); given,
    a fit that ends singular is restarted (`Control.restart_singular`, see
    `optimize.restart`) and a restart replaces it when it lowers fn by more than
    `restart_gain` relative; `restart_step(x0)`, when given, is each restart's initial
    trust region (nlopt's default otherwise)."""
    lower = np.asarray(lower, dtype=float)
    upper = np.full_like(lower, np.inf) if upper is None else np.asarray(upper, dtype=float)
    x0 = np.asarray(x0, dtype=float)
    step, known = initial_step, None
    if presolve:
        x0, step, known = presolve_log_scale(fn, x0, lower, control, upper)
    x, fx, code = _run_nlopt(fn, x0, lower, upper, control, step, known)
    converged = code not in _CODE_MESSAGES
    messages = []
    if not converged:
        messages.append(code_message(code, control, len(x0)))
    g = H = None
    calc = control.calc_derivs if control.calc_derivs is not None else nobs < 10_000
    if calc:
        g, H = _derivatives(fn, x, fx)
        if control.polish and converged:
            x, fx, g = newton_polish(fn, x, fx, g, H, lower, upper)
    lows = lower.tolist()
    if _near_bounds(x, lows, control.boundary_tol):
        if control.restart_edge:
            x, fx, code2 = _restart_if_edge(fn, x, fx, lower, upper, control, lows)
            code = code2 or code
        if control.boundary_tol > 0:
            x, fx = _check_boundary(fn, x, fx, lower, control.boundary_tol, lows)
    restarts: list[tuple[str, float]] = []
    if blocks is not None and control.restart_singular and \
            is_singular(x, lower, control.check_singular_tol):
        x2, fx2, code2, restarts = restart_singular(
            lambda s: _run_nlopt(fn, s, lower, upper, control,
                                 None if restart_step is None else restart_step(s)), x, fx,
            interior_points(x, lower, blocks), control.ftol_abs, restart_gain)
        if code2 is not None:
            x, fx, code = x2, fx2, code2
            if control.boundary_tol > 0:
                x, fx = _check_boundary(fn, x, fx, lower, control.boundary_tol)
            converged = code not in _CODE_MESSAGES
            messages = [] if converged else [code_message(code, control, len(x0))]
            if calc:
                g, H = _derivatives(fn, x, fx)
    evaluations = counter() if counter is not None else -1
    return OptimizationResult(x=x, fun=fx, evaluations=evaluations, optimizer=control.optimizer,
                              return_code=code, converged=converged, gradient=g, hessian=H,
                              messages=messages, restarts=restarts)
