"""R's `glm`: the model fitted by iteratively reweighted least squares (`baseline.irls`, as
`glm.fit` runs it). Dispersion φ = 1 for binomial and Poisson, else Σ Wᵢ rᵢ² / (n − p) with
rᵢ the working residuals; vcov = φ (XᵀWX)⁻¹. AIC = family aic + 2p;
logLik = −(aic_family)/2 + [φ estimated].
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.baseline.anova import glm_anova
from mixedfx.baseline.base import FixedEffectsModel, baseline_frame
from mixedfx.baseline.base import data_name as data_name_of
from mixedfx.baseline.irls import irls
from mixedfx.baseline.linear import call_text
from mixedfx.baseline.summary import GlmSummary
from mixedfx.errors import ArgumentError
from mixedfx.families import Family, family_from
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.glmm.response import GlmResponse, encode_response
from mixedfx.results.call import DEFAULT_LINK
from mixedfx.unknown_arguments import refuse_unknown_arguments
from mixedfx.warn import warn


class GeneralizedLinearModel(FixedEffectsModel):
    """A generalized linear model fitted by IRLS (R's `glm`)."""

    kind = "glm"    # fitted-model contract (mixedfx.fitted.protocol): a glm fit

    def __init__(self, frame: ModelFrame, family: Family, resp: GlmResponse,
                 name: str | None, call: str) -> None:
        self._frame = frame
        self.family = family
        self._resp = resp
        self.data_name = name
        self._call = call
        self._fit = irls(frame.X, resp, family, self._offset)
        if not self._fit.converged:
            warn("glm.fit: algorithm did not converge", RuntimeWarning)
        self.beta = self._fit.beta
        self._unscaled = self._fit.unscaled
        self._rank = frame.X.shape[1]
        self._t_based = False          # confint.default: normal quantiles

    @property
    def iterations(self) -> int:
        """Fisher scoring iterations (R's `fit$iter`)."""
        return self._fit.iterations

    @property
    def converged(self) -> bool:
        return self._fit.converged

    @property
    def prior_weights(self) -> np.ndarray:
        return self._resp.wt

    @property
    def nobs(self) -> int:
        return int(np.sum(self._resp.wt != 0))

    @property
    def df_residual(self) -> int:
        return int(np.sum(self._resp.wt != 0)) - self._rank

    @property
    def df_null(self) -> int:
        return int(np.sum(self._resp.wt != 0)) - int(self.has_intercept)

    @property
    def deviance(self) -> float:
        return self._fit.deviance

    @property
    def null_deviance(self) -> float:
        """Deviance of the intercept-only model (with the offset), as `glm.fit`."""
        fam, resp = self.family, self._resp
        off = self._frame.offset
        if not self.has_intercept:
            mu0 = fam.link.linkinv(self._offset)
        elif off is None:
            mu0 = np.full(len(resp.y), np.sum(resp.wt * resp.y) / np.sum(resp.wt))
        else:
            mu0 = irls(np.ones((len(resp.y), 1)), resp, fam, off).mu
        return float(np.sum(fam.dev_resids(resp.y, mu0, resp.wt)))

    @property
    def dispersion(self) -> float:
        if not self.family.has_dispersion:
            return 1.0
        W, r = self._fit.W, self._residual_values("working")
        keep = W > 0
        return float(np.sum((W * r * r)[keep]) / self.df_residual)

    @property
    def sigma(self) -> float:
        """√φ (R's `sigma.default` uses √(deviance / df) for glm; this is the dispersion
        the summary uses)."""
        return math.sqrt(self.dispersion)

    @property
    def npar(self) -> int:
        return self._rank + (1 if self.family.has_dispersion else 0)

    @property
    def _family_aic(self) -> float:
        r = self._resp
        return self.family.aic(r.y, r.n, self._fit.mu, r.wt, self.deviance)

    @property
    def aic(self) -> float:
        return self._family_aic + 2 * self._rank

    @property
    def loglik(self) -> float:
        return self.npar - self.aic / 2

    # -- fitted values, residuals, predictions ------------------------------------------
    def fitted(self) -> pd.Series:
        """Fitted means μ̂: a Series indexed by the data's rows used (with
        na_action="exclude": every row, NaN at the dropped ones)."""
        return self._frame.rowwise(self._fit.mu)

    def residuals(self, type: str = "deviance") -> pd.Series:
        """R's `residuals.glm`: `deviance` (default), `pearson`, `working`, `response`; a
        Series indexed as `fitted()`."""
        return self._frame.rowwise(self._residual_values(type))

    def _residual_values(self, type: str) -> np.ndarray:
        y, mu, wt, fam = self._resp.y, self._fit.mu, self._resp.wt, self.family
        if type == "deviance":
            d = fam.dev_resids(y, mu, wt)
            return np.sign(y - mu) * np.sqrt(np.maximum(d, 0))
        if type == "pearson":
            return (y - mu) * np.sqrt(wt) / np.sqrt(fam.variance(mu))
        if type == "working":
            return (y - mu) / fam.link.mu_eta(self._fit.eta)
        if type == "response":
            return y - mu
        raise ArgumentError("type must be 'deviance', 'pearson', 'working' or 'response'")

    def predict(self, newdata: Any = None, type: str = "link", se_fit: bool = False
                ) -> np.ndarray | pd.DataFrame:
        """R's `predict.glm`: link or response scale; with `se_fit` a frame `fit, se.fit`
        (response scale: SE × |μ'(η)|, the delta method as R)."""
        if type not in ("link", "response"):
            raise ArgumentError("type must be 'link' or 'response'")
        eta, se = self._linear_predictor_new(newdata)
        if type == "response":
            d = np.abs(self.family.link.mu_eta(eta))
            eta, se = self.family.link.linkinv(eta), se * d
        if not se_fit:
            return self._frame.prediction(newdata, eta)
        return self._frame.prediction_frame(newdata, pd.DataFrame({"fit": eta, "se.fit": se}))

    def anova(self, test: str | None = None) -> Any:
        """R's `anova(glm, test=)`: sequential analysis of deviance, `test` None, "Chisq" /
        "LRT" or "F"."""
        return glm_anova(self, test=test)

    def summary(self) -> Any:
        """R's `summary.glm` (z or t tests, dispersion, deviances, AIC, iterations)."""
        return GlmSummary(self)

    def __repr__(self) -> str:
        return (f"<GeneralizedLinearModel {self.formula!r} {self.family}; "
                f"deviance {self.deviance:.4f}; nobs {self.nobs}>")


@refuse_unknown_arguments
def glm(formula: str, data: Any, family: str | Family = "gaussian", weights: Any = None,
        offset: Any = None, na_action: str = "omit", link: str | None = None,
        data_name: str | None = None) -> GeneralizedLinearModel:
    """Fit a generalized linear model by IRLS (R's `glm`). `family`: a name ("binomial",
    "poisson", "Gamma", "inverse_gaussian", "gaussian") or a `mixedfx.families` object;
    binomial responses as in `glmer` (0/1, proportions with `weights=` trials, or
    `cbind(successes, failures)`). `data_name` names the data in `m.call` (as glmer's)."""
    fam = family_from(family, link)
    frame = baseline_frame(formula, data, weights, offset, na_action, glm=True, what="glm")
    resp = encode_response(frame.y, fam, frame.weights,
                           frame.formula.response or "response")
    name = data_name_of(data, data_name)
    fam_text = fam.name if fam.link.name == DEFAULT_LINK.get(fam.name, "") else \
        f'{fam.name}(link = "{fam.link.name}")'
    call = call_text("glm", formula, data, name, weights=weights, offset=offset).replace(
        ", data =", f", family = {fam_text}, data =", 1)
    return GeneralizedLinearModel(frame, fam, resp, name, call)


