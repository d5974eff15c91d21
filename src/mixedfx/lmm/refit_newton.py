"""A refit's optimization: Newton's method from the fitted θ, in one compiled call.

A refit (a bootstrap replicate, a simulated response) starts at the fitted θ̂, a few
standard errors from its own optimum, where the profiled deviance is a smooth convex bowl.
There Newton's method with lme4's finite-difference derivatives (`deriv12`, step δ = 1e-4),

    θ ← θ − t H⁻¹g   (t = 1, ½, ¼, … the first that lowers the deviance),

stopped when the predicted decrease ½gᵀH⁻¹g is at most `NEWTON_FTOL` (1e-10, a hundredth
of BOBYQA's `ftol_abs`), converges quadratically. While stepping, H's off-diagonal entries are
forward differences (1 + 2n + n(n − 1)/2 evaluations per iteration, n = number of θ); where
the test passes they are completed to `deriv12`'s central ones (3n(n − 1)/2 more) and the
test is repeated. From θ̂ three to five iterations reach the optimum: about 55 evaluations for
sleepstudy, where BOBYQA from the same start needs ~40 plus the 18 of lme4's convergence
check. The g and H returned with θ are `deriv12`'s derivatives there, bit for bit, which the
convergence check uses (bounds on H's eigenvalues skip the check's LAPACK calls when they
show it passes: `checks_pass`). The optimum is that of a fresh fit (`lmm.fit.fit_lmm` from
lme4's start) to BOBYQA's tolerance, and closer to the exact minimum than BOBYQA's.

Newton gives way to the derivative-free path (`fit_lmm_objective`, BOBYQA with the refit's
small trust region, its restarts and boundary checks) whenever it cannot vouch for the
answer: the fitted θ̂ or the refit's optimum is singular (a θ at or near its bound, where
lme4's boundary handling applies), the Hessian is not positive definite, a step would cross a
bound, a value is not finite, or `NEWTON_MAXITER` iterations do not converge. It runs only for
the models whose deviance the compiled kernel evaluates from θ cheaply
(`ProfiledDeviance.newton_natively`) and with at most `NEWTON_MAX_THETA` θ values (past that
the stencil's cost grows as 2n² and BOBYQA is cheaper).
"""

from __future__ import annotations

import math

import numpy as np

from mixedfx.frame.model_frame import ModelFrame
from mixedfx.lmm.deviance import ProfiledDeviance
from mixedfx.lmm.fit import LmmFit, fit_record, lower_bounds, upper_bounds
from mixedfx.optimize import Control, OptimizationResult
from mixedfx.optimize.convergence import (
    ConvergenceWarning,
    check_gradient,
    check_hessian,
    emit,
)

NEWTON_FTOL = 1e-10      # stop when the predicted decrease ½gᵀH⁻¹g is at most this
NEWTON_MAXITER = 8       # Newton iterations before giving way to BOBYQA
NEWTON_MAX_THETA = 6     # θ values beyond which BOBYQA serves (stencil: 1 + 2n + 2n(n−1))
NEWTON_DELTA = 1e-4      # deriv12's step
NEWTON_OPTIMIZER = "newton"
NEWTON_RETURN_CODE = "NEWTON_CONVERGED"


SCREEN_MARGIN = 1e-6     # relative room for rounding in `checks_pass`'s bounds


def checks_pass(g: np.ndarray, H: np.ndarray, trinv: float, control: Control) -> bool:
    """True when lme4's gradient and Hessian checks (`optimize.convergence.check_gradient`,
    `check_hessian`) are sure to pass, from bounds on H's eigenvalues (H positive definite):

        λ_min ≥ 1 / tr(H⁻¹),   λ_max ≤ tr(H),   |(R⁻¹g)ᵢ| ≤ ‖R⁻¹g‖ ≤ ‖g‖ / √λ_min

    (H = RᵀR). The checks complain when max |(R⁻¹g)ᵢ| (or |gᵢ|, the smaller) exceeds the
    gradient tolerance, or an eigenvalue is below the Hessian tolerance, or λ_max·tol > 1,
    or λ_min/λ_max < tol; when the bounds rule all of these out (with `SCREEN_MARGIN` to
    spare for rounding) the checks' LAPACK calls are skipped, and otherwise they run."""
    if not (trinv > 0.0 and math.isfinite(trinv)):
        return False
    lam_min = 1.0 / trinv
    rows = H.tolist()                       # a few values: Python floats are cheaper
    lam_max = math.fsum(rows[i][i] for i in range(len(rows)))
    gg = math.fsum(v * v for v in g.tolist())
    grad_tol, hess_tol = control.check_conv_grad_tol, control.check_conv_hess_tol
    lo, hi = 1.0 - SCREEN_MARGIN, 1.0 + SCREEN_MARGIN
    return (math.sqrt(gg * trinv) * hi <= grad_tol * lo
            and lam_min * lo > hess_tol * hi
            and lam_max * hess_tol * hi <= lo
            and lam_min * lo >= hess_tol * lam_max * hi)


class NewtonRefit:
    """Newton refits of one model frame's model (its bounds computed once)."""

    def __init__(self, frame: ModelFrame) -> None:
        self.frame = frame
        self.lower = lower_bounds(frame)
        self.upper = upper_bounds(frame)
        # the θ lme4's `isSingular` looks at
        self.zero_lower = np.flatnonzero(self.lower == 0.0).tolist()

    def singular(self, theta: np.ndarray, tol: float) -> bool:
        """lme4's `isSingular` (`optimize.convergence.is_singular`): a θ with lower bound 0
        below `tol`."""
        values = theta.tolist()
        return any(values[i] < tol for i in self.zero_lower)

    def fit(self, frame: ModelFrame, objective: ProfiledDeviance, start: np.ndarray,
            control: Control, warn: bool = True) -> LmmFit | None:
        """The fit of `objective` (the model of `frame`, this refitter's frame with a new
        response) by Newton's method from `start` (the fitted θ̂), or None when Newton gives
        way (see the module docstring); the caller then runs the derivative-free path on
        the same objective."""
        start = np.asarray(start, dtype=float)
        if len(start) > NEWTON_MAX_THETA or control.max_time is not None or \
                start.shape != self.lower.shape:
            return None
        tol = control.check_singular_tol
        if self.singular(start, tol):
            return None
        run = objective.newton_natively(start, self.lower, self.upper, NEWTON_DELTA,
                                        NEWTON_FTOL, NEWTON_MAXITER, factor=True)
        if run is None or run[0] != 0:
            return None
        _, theta, fx, g, H, trinv, factor = run    # factor: `chol.factorize(theta)`'s
        if self.singular(theta, tol) or factor is None:
            return None
        calc = control.calc_derivs if control.calc_derivs is not None else \
            objective.n < 10_000
        conv: list[str] = []
        if calc and control.check_conv and not checks_pass(g, H, trinv, control):
            conv = check_gradient(g, H, control.check_conv_grad_tol) + \
                check_hessian(H, control.check_conv_hess_tol)
        elif not calc:
            g = H = None
        opt = OptimizationResult(x=theta, fun=fx, evaluations=objective.evaluations,
                                 optimizer=NEWTON_OPTIMIZER, return_code=NEWTON_RETURN_CODE,
                                 converged=True, gradient=g, hessian=H)
        fit = fit_record(frame, objective, factor, theta, opt, conv, self.lower)
        if not (math.isfinite(fit.criterion) and fit.sigma > 0.0 and math.isfinite(fit.sigma)
                and all(map(math.isfinite, fit.solution.beta.tolist()))):
            return None         # the derivative-free path reports what is wrong
        if warn:
            emit(conv, ConvergenceWarning)
        return fit
