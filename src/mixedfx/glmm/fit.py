"""Fitting a GLMM as lme4's `glmer`: stage 1 optimizes θ with β updated inside PIRLS
(the nAGQ = 0 objective); stage 2 optimizes (θ, β) jointly with the Laplace or adaptive
Gauss–Hermite objective, starting from stage 1. Finite-difference derivatives at the optimum
feed lme4's convergence checks and the Hessian-based vcov(β)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from mixedfx.errors import ArgumentError, PirlsError
from mixedfx.families import Family
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.glmm import native_loop
from mixedfx.glmm.objective import GlmmObjective, Lme4Devfun
from mixedfx.glmm.pirls import Pirls, PirlsState
from mixedfx.glmm.response import GlmResponse
from mixedfx.glmm.state import CanonicalState
from mixedfx.glmm.theta_templates import ThetaTemplates
from mixedfx.glmm.whitening import Whitened, whitening
from mixedfx.lmm.fit import theta_setup
from mixedfx.native import kernel
from mixedfx.optimize import Control, OptimizationResult, optimize_theta
from mixedfx.optimize.convergence import (
    SINGULAR_MESSAGE,
    ConvergenceWarning,
    HessianChecks,
    SingularFitWarning,
    emit,
    hessian_factor,
    is_singular,
    scaled_gradient,
    scaled_gradient_messages,
)
from mixedfx.optimize.derivatives import central_gradient, central_hessian, forward_hessian

STAGE1_STEP_TOL = 1e-7   # PIRLS step tolerance in stage 1 ...
STAGE2_STEP_TOL = 1e-9   # ... and for the final objective
STAGE1_XTOL = 1e-3       # stage-1 trust-region radius at which BOBYQA stops
POLISH_TOL = 1e-4        # Newton-polish when lme4's scaled gradient exceeds this
STEP_THETA = 0.1    # stage-2 initial trust region: 10 % of each θ ...
STEP_GAMMA = 0.1    # ... and a tenth of a standard error for each fixed effect
# both scaled by Control.warm_step when the start gives θ and β (a nearby fit)
# a singular fit is restarted (optimize.restart) in its final stage, and a restart replaces
# it when it lowers the deviance by more than this, relative: lme4's glmer does not restart
# (its optimizeGlmer has no restart_edge), and BOBYQA's end point at the stage's trust-region
# radius (1e-4) is within about this of the optimum, so fits that match lme4 keep its numbers
GLMM_RESTART_GAIN = 1e-7


@dataclass
class GlmmFit:
    """A converged GLMM: parameters, the final PIRLS state and the optimizer records."""

    theta: np.ndarray
    beta: np.ndarray
    lower: np.ndarray
    state: PirlsState
    objective_value: float
    nagq: int
    stage1: OptimizationResult
    stage2: OptimizationResult | None
    gradient: np.ndarray | None
    hessian: np.ndarray | None
    messages: list[str]
    pirls: Pirls
    objective: GlmmObjective
    dispersion: float | None = None   # φ̂ when estimated by maximum likelihood (glmmTMB)


def check_nagq(frame: ModelFrame, nagq: int) -> None:
    if nagq < 0:
        raise ArgumentError("nAGQ must be a non-negative integer")
    if nagq > 1 and (len(frame.terms) != 1 or frame.terms[0].k != 1):
        raise ArgumentError(f"nAGQ={nagq} (adaptive Gauss-Hermite quadrature) is only "
                            "available for models with a single, scalar random-effects term "
                            "such as (1 | g), as in lme4; use nAGQ=1 (Laplace) or nAGQ=0")
    if nagq > 1 and any(t.covariance.structured for t in frame.terms):
        raise ArgumentError("nAGQ > 1 is not available with a structured covariance term "
                            "(diag, cs, homcs, ar1, toep): use the Laplace approximation, nAGQ=1")


def fit_glmm(frame: ModelFrame, family: Family, resp: GlmResponse, nagq: int,
             control: Control, start: dict | None = None, warn: bool = True,
             pirls: Pirls | None = None) -> GlmmFit:
    """`pirls`: a PIRLS engine built elsewhere (e.g. over the partitions of Dask data)."""
    check_nagq(frame, nagq)
    terms = frame.terms
    if pirls is None:
        pirls = Pirls(frame.X, terms, family, resp, frame.offset)
    lower, upper, theta0, blocks = theta_setup(frame)
    structured = any(t.covariance.structured for t in terms)
    if start and "theta" in start:
        theta0 = np.asarray(start["theta"], dtype=float)

    templates = ThetaTemplates(terms)

    # the compiled PIRLS starts from u and β alone: the start is not evaluated for it (and
    # needs no templates)
    init = pirls.initial_state(None, evaluate=False) if pirls.native is not None else \
        pirls.initial_state(templates(theta0))
    n_theta = len(theta0)
    # start = {"theta": ..., "fixef": ...} (lme4's glmer start list): stage 2 starts at
    # (θ, β) with a fifth of the usual trust region, and stage 1 is skipped
    warm = nagq > 0 and start is not None and "theta" in start and "fixef" in start
    # stage 1 only supplies stage 2's start: looser PIRLS steps and trust-region radius
    pirls.step_tol = STAGE1_STEP_TOL
    stage1_obj = GlmmObjective(pirls, templates, n_theta, 0, init)
    if not warm:
        # the compiled run also evaluates its optimum again at stage 2's step tolerance, with
        # the whitening's L_XX⁻ᵀ there (`stage1_obj(stage1.x)` below, without the call)
        stage1_obj.end_request = (STAGE2_STEP_TOL, nagq > 0)
    if warm:
        stage1 = OptimizationResult(x=np.clip(theta0, lower, upper), fun=math.nan,
                                    evaluations=0, optimizer=control.optimizer,
                                    return_code="skipped (start fixef given)", converged=True)
    else:
        # nAGQ = 0 ends here: a singular fit is restarted (stage 2 restarts its own)
        stage1 = optimize_theta(stage1_obj, theta0, lower,
                                _stage_control(control, False, STAGE1_XTOL),
                                frame.n, counter=lambda: stage1_obj.evaluations, upper=upper,
                                blocks=blocks if nagq == 0 else None,
                                restart_gain=GLMM_RESTART_GAIN)
    pirls.step_tol = STAGE2_STEP_TOL
    end = None
    if warm:
        stage1.fun = stage1_obj(stage1.x)
    else:
        end = native_loop.take_end(stage1_obj, stage1.x)
        if end is None:
            stage1_obj(stage1.x)
    # with the whitening's M from the run, stage 2 reads stage 1's state from the kernel's
    # buffer (β, u, η in the canonical order: `loop_state.DeferredState`), built only if
    # something reads it in full (a Python evaluation, η in the data's order)
    state1 = end.pending() if end is not None and nagq > 0 and end.M is not None \
        else stage1_obj.state
    if nagq == 0:
        obj, stage2 = stage1_obj, None
        theta, beta = stage1.x, state1.beta
        x_final = theta
    else:
        obj = GlmmObjective(pirls, templates, n_theta, nagq, state1)
        if end is not None:
            end.lend(obj)           # its compiled run starts from the kernel's buffer
        center = np.asarray(start["fixef"], dtype=float) if warm else None
        to_x = whitening(pirls, state1, stage1.x, n_theta, center, templates,
                         None if end is None else end.M)
        p = len(state1.beta)
        # stage 2's bounds (θ's, then none for γ), start (θ₁, 0) and initial trust region,
        # the rows of one array (each a C-contiguous float64 vector, elementwise the values
        # of `lower2_of` and `stage2_step`)
        theta1 = stage1.x.tolist()
        lower2, upper2, z0, step = np.array([
            lower.tolist() + [-np.inf] * p, upper.tolist() + [np.inf] * p,
            theta1 + [0.0] * p, _stage2_step_list(theta1, p)])
        if warm:
            step = control.warm_step * step
        stage2 = optimize_theta(Whitened(obj, to_x), z0, lower2,
                                _stage_control(control, False), frame.n,
                                counter=lambda: obj.evaluations, initial_step=step,
                                upper=upper2,
                                blocks=blocks, restart_gain=GLMM_RESTART_GAIN,
                                restart_step=lambda z: stage2_step(z[:n_theta], len(z) - n_theta))
        x_final = to_x(stage2.x)
        theta, beta = x_final[:n_theta], x_final[n_theta:]
    calc = control.calc_derivs if control.calc_derivs is not None else frame.n < 10_000
    g = H = mingrad = checks = None
    with obj.precise():
        # the value and state at the final point: evaluated once (the derivatives' points
        # move the objective's warm start, and their value there would be this one again)
        # lme4's SEs come from the Hessian of its devfun; with structured terms the
        # reference is glmmTMB, whose SEs come from the exact Laplace objective
        devfun = Lme4Devfun(obj, state1) if calc and nagq > 0 and not structured else None
        post = None if devfun is None else native_loop.post_optimum(obj, devfun, x_final)
        # `carried()`: the objective takes the warm start its derivative points left
        # (built only when another evaluation follows)
        carried = _done
        if post is not None:
            value, at_optimum, g, H, carried = post
        else:
            value = obj(x_final)
            at_optimum = obj.state
        if calc and nagq > 0:
            if post is None:
                g = central_gradient(obj, x_final)
                H = central_hessian(obj, x_final) if devfun is None else \
                    forward_hessian(devfun, x_final, many=devfun.evaluate_many)
            # H stays: its factor, eigenvalues and the scaled gradient, found once, serve
            # every check below (the scaled gradient at both tolerances)
            checks = HessianChecks(H, g, n_theta)
            mingrad = checks.mingrad
            if scaled_gradient_messages(mingrad, POLISH_TOL):
                # the gradient is recomputed after the step only when lme4's check would
                # fail at BOBYQA's point; otherwise the step just sharpens the estimates
                recheck = bool(scaled_gradient_messages(mingrad, control.check_conv_grad_tol))
                carried()
                carried = _done
                x_new, value, g = newton_polish(obj, x_final, value, g, H,
                                                lower2_of(lower, beta), False,
                                                lower2_of(upper, beta, np.inf))
                if x_new is not x_final:       # the step was taken: its state is the fit's
                    x_final, at_optimum = x_new, obj.state
                    if recheck:
                        g = central_gradient(obj, x_final)
                mingrad = scaled_gradient(g, hessian_factor(H))
            theta, beta = x_final[:n_theta], x_final[n_theta:]
        if math.isfinite(value):
            obj.state = at_optimum
        else:
            # PIRLS warm-starts from the last evaluation: from the derivatives' last point it
            # can converge where it diverged from the optimizer's own state
            carried()
            value = obj(x_final)
    state = obj.state
    # μ in the kernel's row order while the state still holds it (the same values: the
    # scatter into the data's order waits until μ is read)
    rows = state.canonical_rows() if isinstance(state, CanonicalState) else None
    mu = rows[1] if rows is not None else \
        getattr(state, "mu", None)        # row-sized: None / remote for a distributed fit
    mu_finite = not isinstance(mu, np.ndarray) or _finite_entries(mu)
    if not (math.isfinite(value) and _all_finite(theta, beta) and mu_finite):
        raise PirlsError(f"PIRLS loop resulted in NaN value (the {family.name} GLMM with "
                         f"{family.link.name} link has no finite likelihood at the estimates"
                         f"{'; ' + stage1.return_code if not stage1.converged else ''}); the "
                         "link may not suit the response (e.g. a log link for binomial "
                         "probabilities near 1) or the model is too complex for the data")
    messages = [SINGULAR_MESSAGE] if is_singular(theta, lower, control.check_singular_tol) \
        else []
    conv: list[str] = list(stage1.messages) + (list(stage2.messages) if stage2 else [])
    if control.check_conv and checks is not None:
        conv += scaled_gradient_messages(mingrad, control.check_conv_grad_tol)
        conv += checks.messages(control.check_conv_hess_tol)
    if warn:
        emit(messages, SingularFitWarning)
        emit(conv, ConvergenceWarning)
    return GlmmFit(theta=np.asarray(theta), beta=np.asarray(beta), lower=lower, state=state,
                   objective_value=value, nagq=nagq, stage1=stage1, stage2=stage2, gradient=g,
                   hessian=H, messages=messages + conv, pirls=pirls, objective=obj)


def _done() -> None:
    """`carried` once the objective holds its last state."""


def _finite_entries(a: np.ndarray) -> bool:
    """np.isfinite(a).all(): in one compiled pass (the frame kernel's `bounded`: > 0 when
    every entry is finite) for a C-contiguous float64 vector when that kernel is built (a
    ufunc and its reduction cost several times more at the end of a fit), else by NumPy."""
    k = kernel("frame")
    if k is not None and a.dtype == np.float64 and a.ndim == 1 and a.flags.c_contiguous:
        return k.bounded(a) > 0
    return bool(np.isfinite(a).all())


def _all_finite(*arrays: np.ndarray) -> bool:
    """Whether every entry of a few values is finite (as Python floats: no ufunc calls)."""
    vals: list[float] = []
    for a in arrays:
        vals += a.tolist() if type(a) is np.ndarray and a.ndim == 1 and a.dtype == np.float64 \
            else np.asarray(a, dtype=float).ravel().tolist()
    return all(map(math.isfinite, vals))


def stage2_step(theta: np.ndarray, p: int) -> np.ndarray:
    """Stage 2's initial trust region over (θ, γ): 10 % of each θ (at least 0.005) and a tenth
    of a standard error for each (whitened) fixed effect. (A few entries: Python floats,
    the IEEE operations of NumPy's elementwise ones; max keeps a NaN θ as np.maximum does.)"""
    return np.array(_stage2_step_list(np.asarray(theta).tolist(), p))


def _stage2_step_list(theta: list[float], p: int) -> list[float]:
    """`stage2_step` as a list, from θ as a list."""
    return [STEP_THETA * max(abs(t), 0.05) for t in theta] + [STEP_GAMMA] * p


def lower2_of(lower: np.ndarray, beta: np.ndarray, fill: float = -np.inf) -> np.ndarray:
    """θ's bounds followed by `fill` for each fixed effect."""
    return np.array(lower.tolist() + [fill] * len(beta))


def newton_polish(fn, x: np.ndarray, fx: float, g: np.ndarray, H: np.ndarray,
                  lower: np.ndarray, recompute_gradient: bool = True,
                  upper: np.ndarray | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """One Newton step x − H⁻¹g from BOBYQA's end point, kept when it stays feasible and
    lowers the objective (then the gradient is recomputed there). H is within about 1 % of
    the objective's Hessian, so the step shrinks the gradient about a hundredfold."""
    try:
        step = -np.linalg.solve(H, g)
    except np.linalg.LinAlgError:
        return x, fx, g
    trial = x + step
    if not np.all(np.isfinite(trial)) or np.any(trial < lower) or \
            (upper is not None and np.any(trial > upper)):
        return x, fx, g
    f_trial = fn(trial)
    if not f_trial < fx:
        return x, fx, g
    return trial, f_trial, central_gradient(fn, trial) if recompute_gradient else g


@lru_cache(maxsize=32)
def _stage_control(control: Control, calc_derivs: bool, xtol: float | None = None) -> Control:
    """Stage settings: stop on the trust-region radius only. nlopt's ftol test compares
    consecutive evaluations, which in 5+ dimensions can end BOBYQA far from the optimum.
    Cached: a Control is frozen, and each fit asks for the same two."""
    return replace(control, calc_derivs=calc_derivs, presolve="never", ftol_abs=0.0,
                   xtol_abs=control.glmm_xtol_abs if xtol is None else xtol)
