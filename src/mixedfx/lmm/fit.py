"""Fitting a linear mixed model: build the objective from the model frame, optimize θ, and
recover every estimate at the optimum (lme4's mkLmerDevfun -> optimizeLmer -> mkMerMod)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixedfx.frame.model_frame import ModelFrame
from mixedfx.lmm.crossproducts import CrossProducts, compute_crossproducts
from mixedfx.lmm.deviance import ProfiledDeviance, deviance_from_factor
from mixedfx.lmm.factorization import BlockedCholesky, Factorization
from mixedfx.lmm.solution import Solution, solve
from mixedfx.optimize import Control, OptimizationResult, optimize_theta
from mixedfx.optimize.convergence import (
    SINGULAR_MESSAGE,
    ConvergenceWarning,
    SingularFitWarning,
    check_gradient,
    check_hessian,
    emit,
    is_singular,
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


def lower_bounds(frame: ModelFrame) -> np.ndarray:
    return np.concatenate([t.covariance.lower_bounds() for t in frame.terms])


def start_values(frame: ModelFrame) -> np.ndarray:
    return np.concatenate([t.covariance.start() for t in frame.terms])


def build_objective(frame: ModelFrame, reml: bool, y: np.ndarray | None = None
                    ) -> ProfiledDeviance:
    """The profiled deviance (ML) or REML criterion for this model frame and response."""
    yy = frame.y if y is None else y
    if frame.offset is not None:
        yy = yy - frame.offset
    sqrt_w = None if frame.weights is None else np.sqrt(frame.weights)
    xp = compute_crossproducts(frame.terms, frame.X, yy, sqrt_w)
    chol = BlockedCholesky(frame.terms, xp)
    ldW = 0.0 if frame.weights is None else float(np.sum(np.log(frame.weights)))
    return ProfiledDeviance(chol, reml, ldW)


def _convergence_messages(opt: OptimizationResult, theta: np.ndarray, lower: np.ndarray,
                          control: Control) -> tuple[list[str], list[str]]:
    singular = [SINGULAR_MESSAGE] if is_singular(theta, lower, control.check_singular_tol) \
        else []
    conv = list(opt.messages)
    if control.check_conv and opt.gradient is not None and opt.hessian is not None:
        conv += check_gradient(opt.gradient, opt.hessian, control.check_conv_grad_tol)
        conv += check_hessian(opt.hessian, control.check_conv_hess_tol)
    return singular, conv


def fit_lmm(frame: ModelFrame, reml: bool, control: Control, start: np.ndarray | None = None,
            y: np.ndarray | None = None, warn: bool = True) -> LmmFit:
    """Optimize θ and recover β, u, σ at the optimum."""
    return fit_lmm_objective(frame, build_objective(frame, reml, y), control, start, warn)


def fit_lmm_crossproducts(frame: ModelFrame, xp: CrossProducts, reml: bool, control: Control,
                          ldW: float = 0.0, start: np.ndarray | None = None,
                          warn: bool = True) -> LmmFit:
    """`fit_lmm` from cross-products computed elsewhere (e.g. reduced over the partitions of
    a distributed data set): `xp` holds the blocks of [Z X y]ᵀ W [Z X y] for `frame.terms`
    (offset already subtracted from y), `ldW` = Σ log wᵢ; no row of the data is touched."""
    objective = ProfiledDeviance(BlockedCholesky(frame.terms, xp), reml, ldW)
    return fit_lmm_objective(frame, objective, control, start, warn)


def fit_lmm_objective(frame: ModelFrame, objective: ProfiledDeviance, control: Control,
                      start: np.ndarray | None = None, warn: bool = True) -> LmmFit:
    """Optimize θ for a built profiled deviance and recover β, u, σ at the optimum."""
    reml = objective.reml
    lower = lower_bounds(frame)
    x0 = start_values(frame) if start is None else np.asarray(start, dtype=float)
    if x0.shape != lower.shape:
        raise ValueError(f"start must have {len(lower)} theta values, got {x0.shape}")
    presolve = control.presolve == "always" or (
        control.presolve == "auto" and objective.chol.xp.r >= control.presolve_min_block)
    opt = optimize_theta(objective, x0, lower, control, objective.n,
                         counter=lambda: objective.evaluations, presolve=presolve)
    theta = opt.x
    factor = objective.chol.factorize(theta, objective.release_workspace())
    if factor is None:
        raise np.linalg.LinAlgError("the penalized system is not positive definite at the "
                                    "optimum; is the fixed-effects model matrix rank deficient?")
    solution = solve(objective.chol, factor)
    n, p = objective.n, objective.p
    sigma = math.sqrt(factor.pwrss / (n - p if reml else n))
    criterion = deviance_from_factor(factor, n, p, reml, objective.ldW)
    singular, conv = _convergence_messages(opt, theta, lower, control)
    if warn:
        emit(singular, SingularFitWarning)
        emit(conv, ConvergenceWarning)
    return LmmFit(chol=objective.chol, objective=objective, optimization=opt, factor=factor,
                  solution=solution, theta=theta, lower=lower, sigma=sigma, reml=reml,
                  criterion=criterion, messages=singular + conv)
