"""Likelihood profiles and profile confidence intervals, as lme4's `profile.merMod` and
`confint.thpr`.

The profile is taken on the ML deviance (a REML fit is refitted by ML first, as lme4's
`devfun2` does) over φ = (sd/cor of every term, σ) and the fixed effects β. For one parameter
ψ held at a value, the deviance is minimized over the others and the signed square root

    ζ(ψ) = sign(ψ − ψ̂) √(d(ψ) − d̂)

is recorded. The deviances d are in `mixedfx.inference.profile_deviance`, the sd/cor <-> θ
conversions in `mixedfx.inference.profile_scale`, the grid walk shared by the LMM and GLMM
profilers here in `mixedfx.inference.profile_grid`. LMM variance parameters: the others are
optimized by BOBYQA within their bounds (sd ≥ 0, −1 ≤ cor ≤ 1, σ ≥ 0), starting from the
previous grid point; LMM fixed effects: θ is re-optimized with βⱼ held. GLMMs (no scale
parameter), as lme4 does for glmerMod: every parameter — fixed effects included — is profiled
by holding it and minimizing d over all the others (the first grid step is ψ̂·1.01 for fixed
effects too). Grid: lme4's `nextpar` steps (δ = √χ²_{0.99, npar}/8 in ζ, at most 10 × the last
step) from ψ̂·1.01 (or 0.001) away from ψ̂ in both directions until |ζ| > √χ²_{0.99, npar}, a
bound, or 100 points.

Intervals interpolate ψ(ζ) with the inverse (`splines.back_spline`) of the natural cubic spline
ζ(ψ) at ζ = Φ⁻¹(α/2), Φ⁻¹(1 − α/2); a non-monotone profile falls back to linear
interpolation, and a limit outside the profiled range is the parameter's bound (NaN for LMM
fixed effects, ∓∞ for GLMM fixed effects), as lme4.

Points on a parameter's bound (a correlation of ±1, an sd of 0) are minimized from the
neighbouring point and then restarted from that result and from the estimates (the feasible
set of the other correlations is degenerate there: ρ₁₂ = −1 forces ρ₁₃ = −ρ₂₃), keeping the
lowest deviance; a side whose deviance falls going outward (a warm-started point left in a
worse local minimum) is minimized again inwards from each point's outer neighbour
(`_sweep_back`); an interval end the spline bends outside the two points whose ζ bracket ±z
is replaced by linear interpolation between them. lme4 evaluates indefinite correlation
vectors through a pivoted Cholesky factor, so its rows at ±1 of a three-column term are
not correlation matrices and differ from these (tests/inference/
test_inference_profile_boundary.py).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError
from mixedfx.inference.profile_deviance import (
    STEP_FIXEF,
    STEP_VARPAR,
    XTOL_ABS,
    FixedEffectDeviance,
    GlmmDeviance,
    VarparDeviance,
    bobyqa,
)
from mixedfx.inference.profile_grid import Profiler
from mixedfx.inference.profile_result import ParameterProfile, Profile
from mixedfx.inference.profile_scale import cv_to_sv
from mixedfx.inference.profile_scale import sv_to_cv as sv_to_cv  # re-exported
from mixedfx.lmm.deviance import profiled_sigma
from mixedfx.unknown_arguments import check_keywords

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import GeneralizedMixedFit, LinearMixedFit, MixedModel


def _variance_bounds(theta_lower: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lme4's bounds of sd (≥ 0) and cor ([−1, 1]) from θ's lower bounds."""
    return np.maximum(theta_lower, -1.0), np.where(theta_lower == 0, np.inf, 1.0)


class _LmmProfiler(Profiler):
    """An LMM (refitted by ML): `dd` over (sd, cor, σ) with β profiled out (β completes each
    row); each fixed effect profiled by refitting θ with it held fixed."""

    def __init__(self, model: LinearMixedFit, **kwargs: Any) -> None:
        fm = model.refit_ml() if model.REML else model
        self.fm = fm
        obj = fm.engine_fit.objective
        self.chol = obj.chol
        self.ldW = obj.ldW
        self.ks = [t.k for t in fm.frame.terms]
        self.thopt = fm.theta
        self.theta_lower = fm.lower
        self.stderr = np.sqrt(np.diag(fm.vcov.to_numpy()))
        vp = cv_to_sv(fm.theta, self.ks, fm.sigma)
        p = len(fm.beta)
        lo, up = _variance_bounds(self.theta_lower)
        super().__init__(
            VarparDeviance(self.chol, self.ks, self.ldW), np.concatenate([vp, fm.beta]),
            [*model.parameter_names(), *fm.fixef.index], len(vp), len(vp),
            np.concatenate([lo, [0.0], np.full(p, -np.inf)]),
            np.concatenate([up, [np.inf], np.full(p, np.inf)]), -2.0 * fm.loglik, **kwargs)

    def _complete(self, full: np.ndarray) -> np.ndarray:
        return self.dd.beta(full)

    def _fixef_zeta(self, j: int) -> tuple[Any, float]:
        dev = FixedEffectDeviance(self.chol, j, self.ldW)
        est = self.opt[self.nvp + j]
        n = self.chol.xp.n

        def zeta(fw: float, start: np.ndarray | None = None) -> np.ndarray:
            dev.value = fw
            th, fv = bobyqa(dev, self.thopt, self.theta_lower,
                            np.full(len(self.thopt), np.inf))
            pwrss, beta = dev.solution(th)
            sig = profiled_sigma(pwrss, n, 0, reml=False)
            zz = math.copysign(math.sqrt(max(0.0, fv - self.base)), fw - est) \
                if fw != est else 0.0
            return np.concatenate([[zz], cv_to_sv(th, self.ks, sig), np.insert(beta, j, fw)])

        return zeta, est + self.delta * self.stderr[j]


class _GlmmProfiler(Profiler):
    """A GLMM: every parameter (sd/cor and β) profiled through `dd`, the others re-optimized,
    as lme4 does for glmerMod (npar1 = all parameters; the first step is ψ̂·1.01 for fixed
    effects too)."""

    def __init__(self, model: GeneralizedMixedFit, objective: Any = None,
                 **kwargs: Any) -> None:
        """`objective`: the deviance of (θ, β) (default: the fit's own objective)."""
        if model.nAGQ == 0:
            raise ArgumentError("profiling needs the Laplace or adaptive Gauss-Hermite objective "
                                "(nAGQ >= 1)")
        if model.has_scale:
            raise ArgumentError("can't (yet) profile GLMMs with non-fixed scale parameters")
        # the fit's objective is shared by every call on the model: profile a copy, whose
        # warm start each evaluation moves
        self.objective = model.engine_fit.objective.detached() if objective is None \
            else objective
        ks = [t.k for t in model.frame.terms]
        vp = cv_to_sv(model.theta, ks, 1.0)[:-1]
        nvp, p = len(vp), len(model.beta)
        lo, up = _variance_bounds(model.lower)
        opt = np.concatenate([vp, model.beta])
        # BOBYQA's initial steps: nlopt's default (a quarter of |x|, or of the distance to a
        # bound) stalls when a standard deviation is near its bound 0
        se = np.sqrt(np.diag(model.vcov.to_numpy()))
        se = np.where(np.isfinite(se) & (se > 0), se, np.maximum(np.abs(model.beta), 1.0))
        self.steps = np.concatenate([STEP_VARPAR * np.maximum(np.abs(vp), 0.1),
                                     STEP_FIXEF * se])
        self.ftol_abs, self.xtol_abs = 0.0, XTOL_ABS
        with self._restoring_objective():
            super().__init__(
                GlmmDeviance(self.objective, ks, nvp), opt,
                [*model.parameter_names(), *model.fixef.index], nvp, len(opt),
                np.concatenate([lo, np.full(p, -np.inf)]),
                np.concatenate([up, np.full(p, np.inf)]), -2.0 * model.loglik, **kwargs)

    def _minimize(self, fn: Any, start: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                  w: int) -> tuple[np.ndarray, float]:
        return bobyqa(fn, start, lower, upper, initial_step=np.delete(self.steps, w),
                      ftol_abs=self.ftol_abs, xtol_abs=self.xtol_abs)

    @contextlib.contextmanager
    def _restoring_objective(self) -> Iterator[None]:
        """The objective warm-starts PIRLS from its last evaluation: leave it as found."""
        obj = self.objective
        saved = obj.state, obj.evaluations
        try:
            yield
        finally:
            obj.state, obj.evaluations = saved

    def profile_param(self, w: int) -> ParameterProfile:
        with self._restoring_objective():
            return super().profile_param(w)


def _which(which: Any, names: list[str], nvp: int) -> list[int]:
    if which is None:
        return list(range(len(names)))
    items = [which] if isinstance(which, (str, int)) else list(which)
    out: set[int] = set()
    for it in items:
        if it == "theta_":
            out.update(range(nvp))
        elif it == "beta_":
            out.update(range(nvp, len(names)))
        elif isinstance(it, str):
            if it not in names:
                raise ArgumentError(f"unknown parameter {it!r}; parameters: {names}")
            out.add(names.index(it))
        else:
            out.add(int(it))
    return sorted(out)


def _profiler(model: MixedModel, **kwargs: Any) -> Profiler:
    if model.kind == "glmer":
        return _GlmmProfiler(model, **kwargs)
    if model.residual_structure is not None:
        raise ArgumentError("likelihood profiles are not available for models with an nlme "
                            "residual structure (weights= variance function or correlation=); "
                            "use confint(method='Wald') or confint(method='boot')")
    return _LmmProfiler(model, **kwargs)


def profile_model(model: MixedModel, which: Any = None, n_jobs: int = 1,
                  **kwargs: Any) -> Profile:
    """lme4's `profile(m, which=)` for lmer and glmer fits: `which` is None (all), parameter
    names or indices, "theta_" (variance parameters) or "beta_" (fixed effects). `n_jobs` > 1
    profiles the parameters in parallel processes (-1: every core); `alphamax`, `maxpts`,
    `delta_cutoff`, `maxmult`, `devtol`, `devmatchtol` as lme4."""
    check_keywords(kwargs, Profiler.__init__, "profile (confint(method='profile'))",
                   skip=("dd", "opt", "names", "nvp", "npar1", "lower", "upper", "base"))
    structured = [f"{t.covariance.name}({' + '.join(t.term_names)} | {t.group_name})"
                  for t in model.frame.terms if t.covariance.structured]
    if structured:
        raise ArgumentError("likelihood profiles are not available for models with structured "
                            f"covariance terms ({', '.join(structured)}); use "
                            "confint(method='Wald') or confint(method='boot')")
    live = getattr(model, "profile_objective", None)
    if live is None:
        prof = _profiler(model, **kwargs)
        mapper = getattr(model, "cluster_map", None)
        return prof.run(_which(which, prof.names, prof.nvp), n_jobs=n_jobs,
                        mapper=mapper() if mapper is not None and n_jobs == 1 else None)
    # a model whose deviance needs its (distributed) rows: evaluated through the objective
    # the model provides, one parameter after another here
    if n_jobs != 1:
        raise ArgumentError("n_jobs is for in-memory fits: this model's profile evaluates its "
                            "deviance on its Dask cluster")
    with live() as objective:
        prof = _profiler(model, objective=objective, **kwargs)
        return prof.run(_which(which, prof.names, prof.nvp))


def profile(model: MixedModel, which: Any = None, **kwargs: Any) -> pd.DataFrame:
    """The profile as lme4's data frame: `.zeta`, every parameter, `.par` (one block of rows
    per profiled parameter); `attrs` hold the `lower` and `upper` bounds of the parameters
    profiled through the deviance function (LMM: the variance parameters; GLMM: all).
    `profile_model` returns the `Profile` object (splines, `confint`)."""
    pr = profile_model(model, which, **kwargs)
    df = pr.frame()
    df.attrs["lower"] = dict(pr.lower)
    df.attrs["upper"] = dict(pr.upper)
    return df


def profile_confint(model: MixedModel, level: float = 0.95, which: Any = None,
                    **kwargs: Any) -> pd.DataFrame:
    """lme4's `confint(m, method="profile")`."""
    return profile_model(model, which, **kwargs).confint(level)
