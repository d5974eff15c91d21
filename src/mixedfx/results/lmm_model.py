"""The fitted linear mixed model (the object `mixedfx.lmer` returns).

Holds the model frame and the converged engine state; every quantity of API.md is derived from
them on request: fixed effects and their covariance σ² (R_XᵀR_X)⁻¹, conditional modes b = Λu,
variance components σ² TTᵀ, the likelihood, fitted values, predictions and simulations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.diagnostics.prediction import predict_se
from mixedfx.errors import ArgumentError
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.inference.anova import drop1, ranova
from mixedfx.inference.contrast_tests import ddf_method
from mixedfx.inference.fixed_anova import anova_table
from mixedfx.inference.tmb_vcov import variance_parameter_correction
from mixedfx.lmm.deviance import profiled_sigma
from mixedfx.lmm.fit import LmmFit, dense_block_size, fit_lmm
from mixedfx.lmm.refit import ResponseRefitter
from mixedfx.lmm.solution import conditional_variances
from mixedfx.lmm.structured import fit_structured_lmm
from mixedfx.optimize import Control
from mixedfx.optimize.threads import blas_threads_for
from mixedfx.results.accessors import CriterionLikelihood
from mixedfx.results.base import MixedModelBase
from mixedfx.results.call import r_call
from mixedfx.results.residual_structures import ResidualStructureAccess
from mixedfx.results.summary import LmmSummary
from mixedfx.validate import check_bool, check_design_size, check_positive_int, check_seed


class LinearMixedModel(CriterionLikelihood, ResidualStructureAccess, MixedModelBase):
    """A linear mixed model fitted by REML or ML (lme4's `lmerMod`)."""

    kind = "lmer"   # fitted-model contract (mixedfx.fitted.protocol): a linear mixed fit

    def __init__(self, frame: ModelFrame, fit: LmmFit, control: Control,
                 data_name: str | None = None,
                 fitted_by: Callable[..., Any] | None = None, data: Any = None) -> None:
        self._frame = frame
        self._fit = fit
        self._control = control
        self.data_name = data_name
        self.fitted_by = fitted_by
        self._data = data               # for update(); R re-evaluates the call's data

    # ----- identification -------------------------------------------------------------
    @property
    def REML(self) -> bool:
        return self._fit.reml

    @property
    def npar(self) -> int:
        """Number of estimated parameters: fixed effects, θ, residual-structure parameters
        and σ."""
        psi = self._fit.psi
        return len(self.beta) + len(self.theta) + (0 if psi is None else len(psi)) + 1

    @property
    def bic(self) -> float:
        """−2ℓ + npar·log(n) (lme4). With an nlme residual structure and REML, nlme's
        convention: log(n − p), so that the numbers equal `BIC(lme(...))`."""
        n = self.nobs
        if self._fit.residual is not None and self.REML:
            n -= len(self.beta)
        return -2.0 * self.loglik + self.npar * math.log(n)


    # ----- parameters -----------------------------------------------------------------
    @property
    def beta(self) -> np.ndarray:
        return self._fit.solution.beta.copy()

    def _templates(self) -> list[np.ndarray]:
        return self._fit.factor.templates

    def _random_effects(self) -> list[np.ndarray]:
        return self._fit.solution.b

    def _conditional_variances(self) -> list[np.ndarray]:
        return self._condvar

    @property
    def sigma(self) -> float:
        return self._fit.sigma

    @property
    def vcov(self) -> pd.DataFrame:
        Ri = self._fit.solution.RX_inv
        V = self.sigma**2 * (Ri.T @ Ri)
        if any(t.covariance.structured for t in self._frame.terms):
            # glmmTMB's vcov: plus the variance parameters' uncertainty (inference.tmb_vcov)
            V = V + variance_parameter_correction(self)
        names = self._frame.fixef_names
        return pd.DataFrame(V, index=names, columns=names)

    # ----- likelihood -----------------------------------------------------------------
    @property
    def deviance_ml(self) -> float:
        """-2 × the ML log-likelihood at these estimates (lme4's `deviance(m, REML=FALSE)`)."""
        return self._fit.objective.at(self._fit.theta, reml=False)

    @property
    def devcomp(self) -> dict[str, float]:
        """lme4's `getME(m, "devcomp")$cmp` pieces."""
        f, s = self._fit.factor, self._fit.solution
        n, p = self.nobs, len(self.beta)
        return {"ldL2": f.ldL2, "ldRX2": f.ldRX2, "wrss": s.wrss, "ussq": s.ussq,
                "pwrss": s.pwrss, "sigmaML": profiled_sigma(s.pwrss, n, p, reml=False),
                "sigmaREML": profiled_sigma(s.pwrss, n, p, reml=True)}

    @property
    def optimizer_info(self) -> dict[str, Any]:
        o = self._fit.optimization
        return {"optimizer": o.optimizer, "evaluations": o.evaluations,
                "return_code": o.return_code, "converged": o.converged,
                "messages": list(self._fit.messages)}

    @cached_property
    def _condvar(self) -> list[np.ndarray]:
        return conditional_variances(self._fit.chol, self._fit.factor, self.sigma)

    # ----- fitted values and residuals ------------------------------------------------
    def _linear_predictor(self, include_random: bool = True) -> np.ndarray:
        return self._eta(None if include_random else set())

    def fitted(self) -> pd.Series:
        """Fitted values Xβ̂ + Zb̂ (+ offset), lme4's `fitted()`: a Series indexed by the data's
        rows used (with na_action="exclude": every row, NaN at the dropped ones)."""
        return self._frame.rowwise(self._linear_predictor())

    def residuals(self, type: str = "response", scaled: bool = False) -> pd.Series:
        """Residuals: `response` y − μ, `working` (same for an LMM), `pearson` and `deviance`
        √w (y − μ) / sᵢ (sᵢ: the variance function's SD multiplier, 1 without one), and
        nlme's `normalized` σ⁻¹ L⁻¹ (y − μ), whitened by the fitted residual covariance
        σ²LLᵀ (always scaled); the others are divided by σ when `scaled`. A Series indexed
        as `fitted()`."""
        return self._frame.rowwise(self._residual_values(type, scaled))

    def _residual_values(self, type: str, scaled: bool) -> np.ndarray:
        """`residuals()` as an array over the rows used."""
        r = self._frame.y - self._linear_predictor()
        if type in ("response", "working"):
            out = r
        elif type in ("pearson", "deviance"):
            out = r if self._frame.weights is None else r * np.sqrt(self._frame.weights)
            res = self._fit.residual
            s = None if res is None else res.sd_multipliers(self._fit.psi)
            if s is not None:
                out = out / s
        elif type == "normalized":
            out = r if self._frame.weights is None else r * np.sqrt(self._frame.weights)
            return self._whiten_rows(out) / self.sigma
        else:
            raise ArgumentError("type must be 'response', 'pearson', 'deviance', 'working' or "
                                "'normalized'")
        return out / self.sigma if scaled else out

    def predict(self, newdata: object = None, re_form: str | None = None,
                allow_new_levels: bool = False, type: str = "link", se_fit: bool = False,
                interval: str = "none", level: float = 0.95) -> Any:
        """Predictions (identity link: `link` and `response` agree).

        `re_form=None` includes every random effect, `"NA"` / `"~0"` none; a formula such as
        `"~(1|Subject)"` includes the terms whose grouping factors it names. With
        `se_fit=True` or `interval="confidence"`: a frame with `fit`, `se_fit`, `lower`,
        `upper` (Wald, from vcov; see `mixedfx.diagnostics.prediction`).
        """
        if type not in ("link", "response"):
            raise ArgumentError("type must be 'link' or 'response'")
        if se_fit or interval != "none":
            return predict_se(self, newdata, re_form, allow_new_levels, type, level,
                              "confidence" if interval == "none" else interval)
        return self._frame.prediction(newdata,
                                      self._eta_new(newdata, re_form, allow_new_levels))

    # ----- simulation and refitting ---------------------------------------------------
    def simulate(self, nsim: int = 1, seed: int | None = None,
                 use_u: bool = False) -> np.ndarray:
        """Responses simulated from the fitted model, shape (nobs, nsim).

        y* = Xβ + Z Λ u* + ε*, u* ~ N(0, σ²I) (or the fitted u when `use_u`), ε* ~ N(0, σ²/w).
        """
        nsim = check_positive_int(nsim, "nsim")
        check_design_size(self.nobs, nsim, f"simulate(nsim={nsim})'s result",
                          "simulate in smaller batches of nsim")
        use_u = check_bool(use_u, "use_u")
        rng = check_seed(seed)
        n = self.nobs
        base = self._linear_predictor(include_random=use_u)
        out = np.empty((n, nsim))
        w = self._frame.weights
        for j in range(nsim):
            y = base.copy()
            if not use_u:
                for t, T in zip(self._frame.terms, self._fit.factor.templates, strict=True):
                    u = rng.standard_normal((t.n_levels, t.k)) * self.sigma
                    y += t.row_effects(u @ T.T)
            eps = rng.standard_normal(n) * self.sigma
            if self._fit.residual is not None:
                eps = self._fit.residual.colour(self._fit.psi, eps)
            y += eps if w is None else eps / np.sqrt(w)
            out[:, j] = y
        return out

    def refit(self, y: np.ndarray | pd.Series, REML: bool | None = None) -> LinearMixedModel:
        """The same model fitted to a new response vector (start: these estimates)."""
        y = self._new_response(y)
        if not np.isfinite(y).all():
            raise ArgumentError("new response has non-finite values")
        reml = self.REML if REML is None else REML
        # the BLAS thread count of the fit (`lmer`), so that a refit gives a fit's numbers
        with blas_threads_for(dense_block_size(self._frame)):
            if self._fit.residual is None and type(self)._refit is LinearMixedModel._refit:
                # fast path (subclasses that refit differently, e.g. Dask fits, keep theirs)
                frame, fit = self._refitter.fit(y, reml, self._control, start=self._fit.theta)
                new = self._new(frame, fit)
                new.__dict__["_refitter"] = self._refitter
                return new
            frame = _with_response(self._frame, y)
            return self._new(frame, self._refit(frame, reml))

    @cached_property
    def _refitter(self) -> Any:
        """The `lmm.refit.ResponseRefitter` of this model's frame (built on first refit)."""
        return ResponseRefitter(self._frame)

    def refit_ml(self) -> LinearMixedModel:
        """The model refitted by maximum likelihood (lme4's `refitML`)."""
        if not self.REML:
            return self
        return self._new(self._frame, self._refit(self._frame, False))

    def _refit(self, frame: ModelFrame, reml: bool) -> LmmFit:
        """The engine fit of `frame`, started at these estimates."""
        if self._fit.residual is None:
            return fit_lmm(frame, reml, self._control, start=self._fit.theta)
        start = np.concatenate([self._fit.theta, self._fit.psi])
        return fit_structured_lmm(frame, reml, self._control, self._fit.residual,
                                  start=start)

    def _new(self, frame: ModelFrame, fit: LmmFit) -> LinearMixedModel:
        return type(self)(frame, fit, self._control, self.data_name,
                          fitted_by=self.fitted_by)

    # == fitted-model contract (mixedfx.fitted.protocol.LinearMixedFit) =====================
    @property
    def u(self) -> list[np.ndarray]:
        """Per term the spherical conditional modes u_t (b_t = T_t u_t), (levels, k)."""
        return [x.copy() for x in self._fit.solution.u]

    # ----- inference ------------------------------------------------------------------
    def summary(self, ddf: str | None = "Satterthwaite", correlation: bool = True) -> Any:
        """lme4's summary with lmerTest's t tests: `ddf="Satterthwaite"` (default) or
        `"Kenward-Roger"` add `df` and `Pr(>|t|)` columns; `"none"` gives lme4's Wald t.
        `correlation=False` leaves out the correlation of the fixed effects."""
        plain = ddf is None or (isinstance(ddf, str) and ddf.lower() in ("none", "lme4"))
        return LmmSummary(self, ddf=None if plain else ddf_method(ddf), correlation=correlation)

    def anova(self, type: int | str = 3, ddf: str = "Satterthwaite") -> pd.DataFrame:
        """F tests of the fixed-effects terms (lmerTest's `anova(m)`): columns `Sum Sq`,
        `Mean Sq`, `NumDF`, `DenDF`, `F value`, `Pr(>F)`; type 3 (default) or 1."""
        return anova_table(self, type=type, ddf=ddf)

    def ranova(self, reduce_terms: bool = True) -> pd.DataFrame:
        """Likelihood-ratio tests of the random-effects terms (lmerTest's `ranova`)."""
        return ranova(self, reduce_terms=reduce_terms)

    def drop1(self, test: str = "F", ddf: str = "Satterthwaite") -> pd.DataFrame:
        """Single-term deletions of the marginal fixed-effects terms: F tests (lmerTest's
        `drop1`) or likelihood-ratio tests (`test="Chisq"`, lme4's `drop1`)."""
        return drop1(self, test=test, ddf=ddf)

    def _record(self) -> dict[str, Any]:
        return {"REML": self.REML}

    @property
    def call(self) -> str:
        """The call as R prints `m@call`: `lmer(formula = ..., data = ..., REML = FALSE)`
        (see `mixedfx.results.call`)."""
        return r_call("lmer", self.formula, self.data_name, reml=self.REML)

    def __repr__(self) -> str:
        crit = f"REML criterion {self.deviance:.4f}" if self.REML else \
            f"logLik {self.loglik:.4f}"
        groups = ", ".join(f"{g}: {n}" for g, n in self.ngrps.items())
        return (f"<LinearMixedModel {self.formula!r} fit by {'REML' if self.REML else 'ML'}; "
                f"{crit}; nobs {self.nobs}; groups {groups}>")

    def __str__(self) -> str:
        return str(self.summary())


def _with_response(frame: ModelFrame, y: np.ndarray) -> ModelFrame:
    return replace(frame, y=y)
