"""Fitting a linear mixed model: build the objective from the model frame, optimize θ, and
recover every estimate at the optimum (lme4's mkLmerDevfun -> optimizeLmer -> mkMerMod)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixedfx.errors import ArgumentError, DataError, FitError
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.frame.terms import dense_block_rows
from mixedfx.lmm.crossproducts import CrossProducts, compute_crossproducts
from mixedfx.lmm.deviance import ProfiledDeviance, deviance_from_factor, profiled_sigma
from mixedfx.lmm.factorization import BlockedCholesky, Factorization
from mixedfx.lmm.solution import Solution, solve
from mixedfx.lmm.terms_plan import terms_plan
from mixedfx.optimize import Control, OptimizationResult, optimize_theta
from mixedfx.optimize.convergence import (
    ConvergenceWarning,
    SingularFitWarning,
    convergence_messages,
    emit,
)


@dataclass
class LmmFit:
    """The state of a converged fit: objective, optimizer record, factor and solution."""

    chol: BlockedCholesky
    objective: ProfiledDeviance
    optimization: OptimizationResult
    factor: Factorization
    solution: Solution
    theta: np.ndarray
    lower: np.ndarray
    sigma: float
    reml: bool
    criterion: float
    messages: list[str]
    residual: Any = None          # residual.ResidualStructure of an nlme-structured fit
    psi: np.ndarray | None = None  # its unconstrained parameters at the optimum
    structured: Any = None        # lmm.structured.StructuredDeviance over (θ, ψ)


def check_finite_fit(criterion: float, beta: np.ndarray, theta: np.ndarray, sigma: float
                     ) -> None:
    """Never hand back a fit with non-finite numbers."""
    isfinite = math.isfinite
    values = (beta.ravel().tolist() if type(beta) is np.ndarray else np.ravel(beta).tolist(),
              theta.ravel().tolist() if type(theta) is np.ndarray else np.ravel(theta).tolist())
    if isfinite(criterion) and isfinite(sigma) and sigma > 0 and \
            all(map(isfinite, values[0])) and all(map(isfinite, values[1])):
        return
    bad = [name for name, v in (("deviance", criterion), ("sigma", sigma))
           if not isfinite(v)]
    bad += [name for name, v in zip(("beta", "theta"), values, strict=True)
            if not all(map(isfinite, v))]
    if bad or sigma <= 0:
        what = ", ".join(bad) or "sigma = 0"
        raise FitError(f"the fit has non-finite or degenerate estimates ({what}): the "
                       "response is fitted exactly or the data are numerically degenerate "
                       "(rescale the response and covariates)")


def lower_bounds(frame: ModelFrame) -> np.ndarray:
    """Lower bounds of θ: 0 for the standard deviations (lme4's Cholesky diagonals)."""
    return terms_plan(frame.terms).lower.copy()


def dense_block_size(frame: ModelFrame) -> int:
    """Rows of the dense trailing block: all random effects but the largest term's, X and y
    (`frame.terms.dense_block_rows`); it sets the BLAS threads of a fit."""
    return dense_block_rows(frame.terms, frame.X.shape[1])


def upper_bounds(frame: ModelFrame) -> np.ndarray:
    """Upper bounds of θ: +∞ except for the correlation parameters of structured terms."""
    return terms_plan(frame.terms).upper.copy()


def unstructured_blocks(frame: ModelFrame) -> list[tuple[int, int]]:
    """(offset into θ, k) of each term with lme4's unstructured (Cholesky) covariance."""
    return list(terms_plan(frame.terms).blocks)


def start_values(frame: ModelFrame) -> np.ndarray:
    """lme4's start of θ: 1 on the Cholesky diagonals, 0 off them."""
    return terms_plan(frame.terms).start.copy()


def theta_setup(frame: ModelFrame
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """(lower bounds, upper bounds, start values, unstructured blocks) of θ, fresh copies
    of what the terms' covariance structures give (computed once per set of structures:
    `lmm.terms_plan`)."""
    plan = terms_plan(frame.terms)
    return plan.lower.copy(), plan.upper.copy(), plan.start.copy(), list(plan.blocks)


def log_weights_sum(weights: np.ndarray | None) -> float:
    """Σ log wᵢ (0 without prior weights), exactly rounded (math.fsum), so independent of
    the row order (see lmm.row_order)."""
    return 0.0 if weights is None else math.fsum(np.log(weights))


def build_objective(frame: ModelFrame, reml: bool, y: np.ndarray | None = None
                    ) -> ProfiledDeviance:
    """The profiled deviance (ML) or REML criterion for this model frame and response."""
    yy = frame.y if y is None else y
    if frame.offset is not None:
        yy = yy - frame.offset
    sqrt_w = None if frame.weights is None else np.sqrt(frame.weights)
    xp = compute_crossproducts(frame.terms, frame.X, yy, sqrt_w)
    chol = BlockedCholesky(frame.terms, xp, compiled=True)
    ldW = log_weights_sum(frame.weights)
    return ProfiledDeviance(chol, reml, ldW)


def _convergence_messages(opt: OptimizationResult, theta: np.ndarray, lower: np.ndarray,
                          control: Control) -> tuple[list[str], list[str]]:
    return convergence_messages(theta, lower, opt.messages, opt.gradient, opt.hessian, control)


def fit_lmm(frame: ModelFrame, reml: bool, control: Control, start: np.ndarray | None = None,
            y: np.ndarray | None = None, warn: bool = True,
            initial_step: np.ndarray | None = None) -> LmmFit:
    """Optimize θ and recover β, u, σ at the optimum (`initial_step`: the optimizer's
    initial trust region, NLopt's default unless given; see `lmm.refit.refit_step`)."""
    n_obs, p_fixed = len(frame.y), frame.X.shape[1]
    if reml and n_obs <= p_fixed:
        raise DataError(f"REML needs more observations than fixed effects (n = {n_obs}, "
                        f"p = {p_fixed}): the residual degrees of freedom n - p are "
                        f"{n_obs - p_fixed}; fit with REML=False or simplify the fixed effects")
    return fit_lmm_objective(frame, build_objective(frame, reml, y), control, start, warn,
                             initial_step)


def fit_lmm_crossproducts(frame: ModelFrame, xp: CrossProducts, reml: bool, control: Control,
                          ldW: float = 0.0, start: np.ndarray | None = None,
                          warn: bool = True) -> LmmFit:
    """`fit_lmm` from cross-products computed elsewhere (e.g. reduced over the partitions of
    a distributed data set): `xp` holds the blocks of [Z X y]ᵀ W [Z X y] for `frame.terms`
    (offset already subtracted from y), `ldW` = Σ log wᵢ; no row of the data is touched."""
    objective = ProfiledDeviance(BlockedCholesky(frame.terms, xp, compiled=True), reml, ldW)
    return fit_lmm_objective(frame, objective, control, start, warn)


def fit_lmm_objective(frame: ModelFrame, objective: ProfiledDeviance, control: Control,
                      start: np.ndarray | None = None, warn: bool = True,
                      initial_step: np.ndarray | None = None) -> LmmFit:
    """Optimize θ for a built profiled deviance and recover β, u, σ at the optimum."""
    chol = objective.chol
    plan = chol.terms_plan()
    lower = plan.lower.copy()
    x0 = plan.start if start is None else np.asarray(start, dtype=float)
    if x0.shape != lower.shape:
        raise ArgumentError(f"start must have {len(lower)} theta values, got {x0.shape}")
    presolve = control.presolve == "always" or (
        control.presolve == "auto" and chol.xp.Arr.shape[0] >= control.presolve_min_block)
    opt = optimize_theta(objective, x0, lower, control, objective.n,
                         counter=lambda: objective.evaluations, presolve=presolve,
                         initial_step=initial_step, upper=plan.upper, blocks=plan.blocks)
    theta = opt.x
    try:
        factor = chol.factorize(theta, objective.release_workspace())
    except (np.linalg.LinAlgError, ValueError):
        factor = None
    if factor is None:
        raise FitError("the penalized system is not positive definite at the optimum theta = "
                       f"{np.array2string(theta, precision=4, threshold=8)}: the fixed-effects "
                       "model matrix is numerically rank deficient for these random effects "
                       "(rescale or drop nearly collinear predictors)")
    singular, conv = _convergence_messages(opt, theta, lower, control)
    fit = fit_record(frame, objective, factor, theta, opt, singular + conv, lower)
    check_finite_fit(fit.criterion, fit.solution.beta, theta, fit.sigma)
    if warn:
        emit(singular, SingularFitWarning)
        emit(conv, ConvergenceWarning)
    return fit


def fit_record(frame: ModelFrame, objective: ProfiledDeviance, factor: Factorization,
               theta: np.ndarray, optimization: OptimizationResult | None,
               messages: list[str], lower: np.ndarray | None = None) -> LmmFit:
    """The record of a fit at θ from its factorization: β and u (`solve`), σ̂ =
    √(pwrss / (n − p)) (REML) or √(pwrss / n) (ML) and the criterion. The one place an
    unstructured LMM's record is assembled: by the fit at its optimum and, at the stored θ,
    by `mixedfx.load`, so that a loaded model cannot drift from a fitted one (`lower`: θ's
    lower bounds when the caller has them)."""
    n, p, reml = objective.n, objective.p, objective.reml
    return LmmFit(chol=objective.chol, objective=objective, optimization=optimization,
                  factor=factor, solution=solve(objective.chol, factor), theta=theta,
                  lower=lower_bounds(frame) if lower is None else lower,
                  sigma=profiled_sigma(factor.pwrss, n, p, reml),
                  reml=reml, criterion=deviance_from_factor(factor, n, p, reml, objective.ldW),
                  messages=messages)
