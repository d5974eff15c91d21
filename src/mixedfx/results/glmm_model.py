"""The fitted generalized linear mixed model (the object `mixedfx.glmer` returns).

Quantities follow lme4's `glmerMod`: `loglik` is −½ × the Laplace/AGQ objective, `deviance` the
sum of the deviance residuals, vcov(β) = (½ H_ββ)⁻¹ from the finite-difference Hessian of the
objective when it was computed (lme4's `use.hessian`: the β block of 2H⁻¹), else
σ² (R_XᵀR_X)⁻¹ at the final
PIRLS weights; conditional variances σ² Λ(ΛᵀZᵀWZΛ + I)⁻¹Λᵀ.
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
from mixedfx.families import Family
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.glmm.dispersion import fit_glmm_ml_dispersion
from mixedfx.glmm.fit import GlmmFit, fit_glmm
from mixedfx.glmm.pirls import Pirls
from mixedfx.glmm.response import GlmResponse, encode_response
from mixedfx.glmm.simulate import draw_response
from mixedfx.lmm.fit import dense_block_size
from mixedfx.lmm.solution import conditional_variances, solve
from mixedfx.optimize import Control
from mixedfx.optimize.threads import blas_threads_for
from mixedfx.results.base import MixedModelBase
from mixedfx.results.call import r_call
from mixedfx.results.glmm_summary import GlmmSummary
from mixedfx.validate import check_bool, check_design_size, check_positive_int, check_seed


class GeneralizedLinearMixedModel(MixedModelBase):
    """A GLMM fitted by maximum likelihood (Laplace or adaptive Gauss–Hermite)."""

    kind = "glmer"  # fitted-model contract (mixedfx.fitted.protocol): a GLMM fit

    def __init__(self, frame: ModelFrame, family: Family, resp: GlmResponse, fit: GlmmFit,
                 control: Control, data_name: str | None = None,
                 fitted_by: Callable[..., Any] | None = None, data: Any = None) -> None:
        self._frame = frame
        self.family = family
        self._resp = resp
        self._fit = fit
        self._control = control
        self.data_name = data_name
        self._has_scale = family.has_dispersion
        self.fitted_by = fitted_by
        self._data = data               # for update(); R re-evaluates the call's data

    # -- parameters ---------------------------------------------------------------------
    @property
    def REML(self) -> bool:
        return False

    @property
    def nAGQ(self) -> int:
        return self._fit.nagq

    @property
    def beta(self) -> np.ndarray:
        return self._fit.beta.copy()

    @property
    def _state(self):
        return self._fit.state

    def _templates(self) -> list[np.ndarray]:
        return self._fit.objective.templates(self._fit.theta)

    @property
    def u(self) -> list[np.ndarray]:
        return [x.copy() for x in self._state.u]

    def _random_effects(self) -> list[np.ndarray]:
        return [u @ T.T for u, T in zip(self._state.u, self._templates(), strict=True)]

    @property
    def dispersion_method(self) -> str:
        """How the dispersion was estimated: "ML" (maximum likelihood, glmmTMB's), "lme4"
        (lme4's estimate after the fit) or "none" (binomial, Poisson, negative binomial)."""
        if self._fit.dispersion is not None:
            return "ML"
        return "lme4" if self.family.has_dispersion else "none"

    @property
    def _re_scale(self) -> float:
        return 1.0 if self._fit.dispersion is not None else self.sigma

    @property
    def sigma(self) -> float:
        """1 for binomial and Poisson; √φ̂ for an ML dispersion (glmmTMB's sigma: for the
        Gamma the coefficient of variation); otherwise lme4's √((Pearson χ² + ‖u‖²)/n)."""
        if not self.family.has_dispersion:
            return 1.0
        if self._fit.dispersion is not None:
            return math.sqrt(self._fit.dispersion)
        mu = self._state.mu
        chi2 = float(np.sum(self._resp.wt * (self._resp.y - mu) ** 2
                            / self.family.variance(mu)))
        return math.sqrt((chi2 + self._state.ussq) / self.nobs)

    @cached_property
    def _rx_vcov(self) -> np.ndarray:
        pirls = self._fit.pirls
        chol, f, _ = pirls.factorize(self._state, self._fit.theta, with_x=True)
        Ri = solve(chol, f).RX_inv
        return self._re_scale**2 * (Ri.T @ Ri)

    @cached_property
    def _vcov_array(self) -> np.ndarray:
        H = self._fit.hessian
        nt = len(self._fit.theta)
        if H is not None and H.shape[0] > nt:
            try:
                V = 2 * np.linalg.inv(H)[nt:nt + len(self._fit.beta), nt:nt + len(self._fit.beta)]
                if np.all(np.isfinite(V)) and np.min(np.linalg.eigvalsh((V + V.T) / 2)) > 0:
                    return (V + V.T) / 2
            except np.linalg.LinAlgError:
                pass
        return self._rx_vcov

    @property
    def vcov(self) -> pd.DataFrame:
        names = self._frame.fixef_names
        return pd.DataFrame(self._vcov_array, index=names, columns=names)

    def _conditional_variances(self) -> list[np.ndarray]:
        st = self._state
        pirls = self._fit.pirls
        chol, f, _ = pirls.factorize(st, self._fit.theta, with_x=False)
        return conditional_variances(chol, f, self._re_scale)

    # == fitted-model contract (mixedfx.fitted.protocol.GeneralizedMixedFit) ================
    @property
    def response(self) -> GlmResponse:
        """The encoded response: `y` (proportions for binomial) and prior weights `wt`."""
        return self._resp

    @property
    def pirls_state(self) -> Any:
        """The converged PIRLS state: `mu`, `u`, `ussq` at (θ̂, β̂)."""
        return self._state

    @property
    def working_weights(self) -> np.ndarray:
        """The final PIRLS working weights W = wt μ'(η)² / V(μ)."""
        W, _ = self._fit.pirls.weights(self._state)
        return np.asarray(W, dtype=float)

    # -- likelihood ---------------------------------------------------------------------
    @property
    def npar(self) -> int:
        """β, θ, and the scale (Gamma, inverse Gaussian) or NB shape when estimated."""
        extra = 1 if self._has_scale or self.family.name == "negative.binomial" else 0
        return len(self.beta) + len(self.theta) + extra

    @property
    def nb_theta(self) -> float | None:
        """The negative binomial shape θ (lme4's `getME(m, "glmer.nb.theta")`)."""
        return self.family.theta

    @property
    def loglik(self) -> float:
        return -0.5 * self._fit.objective_value

    @property
    def deviance(self) -> float:
        """Sum of the deviance residuals (lme4's `deviance()` for glmer fits)."""
        d = self._state.dev_resid_sum
        # with an ML dispersion PIRLS ran at prior weights w/φ̂
        return d * self._fit.dispersion if self._fit.dispersion is not None else d

    @property
    def reml_criterion(self) -> None:
        return None

    @property
    def optimizer_info(self) -> dict[str, Any]:
        s1, s2 = self._fit.stage1, self._fit.stage2
        return {"optimizer": s1.optimizer if s2 is None else f"{s1.optimizer} + {s2.optimizer}",
                "evaluations": self._fit.stage1.evaluations + (s2.evaluations if s2 else 0),
                "converged": self._fit.stage1.converged and (s2 is None or s2.converged),
                "messages": list(self._fit.messages)}

    # -- fitted values, residuals, predictions ------------------------------------------
    def fitted(self) -> pd.Series:
        """Fitted means μ (response scale), as lme4's `fitted()`: a Series indexed by the
        data's rows used (with na_action="exclude": every row, NaN at the dropped ones)."""
        return self._frame.rowwise(self._state.mu)

    def residuals(self, type: str = "deviance", scaled: bool = False) -> pd.Series:
        """Residuals of type `deviance` (lme4's default for GLMMs), `pearson`, `response` or
        `working`: a Series indexed as `fitted()`."""
        return self._frame.rowwise(self._residual_values(type, scaled))

    def _residual_values(self, type: str, scaled: bool) -> np.ndarray:
        """`residuals()` as an array over the rows used."""
        y, mu, wt = self._resp.y, self._state.mu, self._resp.wt
        if type == "response":
            r = y - mu
        elif type == "pearson":
            r = (y - mu) * np.sqrt(wt) / np.sqrt(self.family.variance(mu))
        elif type == "deviance":
            d = self.family.dev_resids(y, mu, wt)
            r = np.sign(y - mu) * np.sqrt(np.maximum(d, 0))
        elif type == "working":
            r = (y - mu) / self.family.link.mu_eta(self._state.eta)
        else:
            raise ArgumentError("type must be 'deviance', 'pearson', 'response' or 'working'")
        return r / self.sigma if scaled else r

    def predict(self, newdata: object = None, re_form: str | None = None,
                allow_new_levels: bool = False, type: str = "link", se_fit: bool = False,
                interval: str = "none", level: float = 0.95) -> Any:
        """Predictions on the link scale (`type="link"`) or the response scale.

        With `se_fit=True` or `interval="confidence"`: a frame with `fit`, `se_fit`, `lower`,
        `upper` (Wald, from vcov; see `mixedfx.diagnostics.prediction`)."""
        if type not in ("link", "response"):
            raise ArgumentError("type must be 'link' or 'response'")
        if se_fit or interval != "none":
            return predict_se(self, newdata, re_form, allow_new_levels, type, level,
                              "confidence" if interval == "none" else interval)
        eta = self._eta_new(newdata, re_form, allow_new_levels)
        return self._frame.prediction(
            newdata, eta if type == "link" else self.family.link.linkinv(eta))

    # -- simulation and refitting ---------------------------------------------------------
    def simulate(self, nsim: int = 1, seed: int | None = None,
                 use_u: bool = False) -> np.ndarray:
        """Responses simulated from the fitted model, shape (nobs, nsim): new random effects
        (or the fitted ones with `use_u`), then the family's distribution. Binomial: 0/1 for
        0/1 data, successes for cbind responses, proportions with trials as weights."""
        nsim = check_positive_int(nsim, "nsim")
        check_design_size(self.nobs, nsim, f"simulate(nsim={nsim})'s result",
                          "simulate in smaller batches of nsim")
        use_u = check_bool(use_u, "use_u")
        rng = check_seed(seed)
        out = np.empty((self.nobs, nsim))
        templates = self._templates()
        for j in range(nsim):
            eta = self._eta(include=set()) if not use_u else self._eta()
            if not use_u:
                for t, T in zip(self._frame.terms, templates, strict=True):
                    u = rng.standard_normal((t.n_levels, t.k))
                    eta = eta + t.row_effects(u @ T.T) * (self._re_scale if self._has_scale
                                                          else 1.0)
            out[:, j] = self._draw(self.family.link.linkinv(eta), rng)
        return out

    def _draw(self, mu: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return draw_response(self.family, mu, self._resp.n, self._frame.y.ndim == 2,
                             self.sigma, rng)

    def refit(self, y: np.ndarray | pd.Series) -> GeneralizedLinearMixedModel:
        """The same model fitted to a new response (successes for cbind responses), starting
        from these estimates."""
        y = self._new_response(y)
        if self._frame.y.ndim == 2:
            trials = self._resp.n
            raw = np.column_stack([y, trials - y])
        else:
            raw = y
        resp = encode_response(raw, self.family, self._frame.weights)
        frame = replace(self._frame, y=raw)
        # the BLAS thread count of the fit (`glmer`): a fit's numbers, and no thread pool
        # woken for a small model's many small products
        with blas_threads_for(dense_block_size(frame)):
            if self.dispersion_method == "ML":
                fit = fit_glmm_ml_dispersion(frame, self.family, resp, self._control,
                                             start={"theta": self._fit.theta})
            else:
                # this fit's PIRLS engine with the new y: its y-free pieces are shared
                pirls = self._fit.pirls
                fit = fit_glmm(frame, self.family, resp, self.nAGQ, self._control,
                               start={"theta": self._fit.theta},
                               pirls=pirls.with_response(resp) if type(pirls) is Pirls
                               else None)
        return GeneralizedLinearMixedModel(frame, self.family, resp, fit, self._control,
                                           self.data_name, fitted_by=self.fitted_by)

    def refit_ml(self) -> GeneralizedLinearMixedModel:
        """GLMMs are already fitted by maximum likelihood."""
        return self

    def summary(self, correlation: bool = True) -> Any:
        """lme4's summary; `correlation=False` leaves out the fixed-effects correlations."""
        return GlmmSummary(self, correlation=correlation)

    @property
    def call(self) -> str:
        """The call as R prints `m@call`: `glmer(formula = ..., data = ..., family = ...)`
        (see `mixedfx.results.call`)."""
        return r_call("glmer", self.formula, self.data_name, family=self.family,
                      nagq=self.nAGQ)

    def _record(self) -> dict[str, Any]:
        return {"family": self.family.name, "link": self.family.link.name, "nAGQ": self.nAGQ,
                "dispersion": self.dispersion_method}

    def __repr__(self) -> str:
        groups = ", ".join(f"{g}: {n}" for g, n in self.ngrps.items())
        return (f"<GeneralizedLinearMixedModel {self.formula!r} {self.family}; "
                f"logLik {self.loglik:.4f}; nobs {self.nobs}; groups {groups}>")

    def __str__(self) -> str:
        return str(self.summary())
