"""R's `glm`: iteratively reweighted least squares as `glm.fit` runs it.

From μ₀ = the family's `initialize` value, repeat: η = g(μ), working response
z = η − o + (y − μ)/μ'(η), weights W = w μ'(η)² / V(μ), β = argmin ‖√W (z − Xβ)‖ (QR), new
η = Xβ + o; until |D − D_old| / (|D| + 0.1) < ε (ε = 1e-8, at most 25 iterations; the
deviance step is halved if it becomes non-finite or μ leaves the family's range).
The final W and (XᵀWX)⁻¹ are those of the last least-squares step, as R keeps them.
Dispersion φ = 1 for binomial and Poisson, else Σ Wᵢ rᵢ² / (n − p) with rᵢ the working
residuals; vcov = φ (XᵀWX)⁻¹. AIC = family aic + 2p; logLik = −(aic_family)/2 + [φ estimated].
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedfx.baseline.base import FixedEffectsModel, baseline_frame
from mixedfx.baseline.base import data_name as data_name_of
from mixedfx.baseline.linear import call_text
from mixedfx.errors import ArgumentError
from mixedfx.families import Family, family_from
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.glmm.response import GlmResponse, encode_response
from mixedfx.validate import refuse_unknown_arguments


class IrlsResult:
    """β, η, μ, the final working weights, (XᵀWX)⁻¹, deviance, iterations, convergence."""

    def __init__(self, beta: np.ndarray, eta: np.ndarray, mu: np.ndarray, W: np.ndarray,
                 unscaled: np.ndarray, deviance: float, iterations: int, converged: bool
                 ) -> None:
        self.beta, self.eta, self.mu, self.W = beta, eta, mu, W
        self.unscaled, self.deviance = unscaled, deviance
        self.iterations, self.converged = iterations, converged


def irls(X: np.ndarray, resp: GlmResponse, family: Family, offset: np.ndarray,
         epsilon: float = 1e-8, maxit: int = 25) -> IrlsResult:
    """`glm.fit`'s iteration (see the module docstring)."""
    y, wt = resp.y, resp.wt
    link = family.link
    mu = family.mustart(y, wt)
    eta = link.linkfun(mu)
    dev_old = float(np.sum(family.dev_resids(y, mu, wt)))
    p = X.shape[1]
    beta = np.zeros(p)
    converged = False
    W = np.zeros(len(y))
    unscaled = np.zeros((p, p))
    dev = dev_old
    it = 0
    for it in range(1, maxit + 1):
        mu_eta = link.mu_eta(eta)
        good = (wt > 0) & (mu_eta != 0)
        z = (eta - offset)[good] + (y - mu)[good] / mu_eta[good]
        w = np.sqrt(wt[good] * mu_eta[good] ** 2 / family.variance(mu[good]))
        Q, R = np.linalg.qr(X[good] * w[:, None])
        new_beta = np.linalg.solve(R, Q.T @ (z * w))
        Ri = np.linalg.inv(R)
        new_eta = X @ new_beta + offset
        new_mu = link.linkinv(new_eta)
        dev = float(np.sum(family.dev_resids(y, new_mu, wt)))
        halvings = 0
        while not (math.isfinite(dev) and family.validmu(new_mu)):
            if it == 1 or halvings > maxit:
                raise ArgumentError("IRLS failed: no valid set of coefficients found; please "
                                    "supply starting values")
            new_beta = (new_beta + beta) / 2
            new_eta = X @ new_beta + offset
            new_mu = link.linkinv(new_eta)
            dev = float(np.sum(family.dev_resids(y, new_mu, wt)))
            halvings += 1
        beta, eta, mu = new_beta, new_eta, new_mu
        W = np.zeros(len(y))
        W[good] = w**2
        unscaled = Ri @ Ri.T
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        dev_old = dev
    return IrlsResult(beta, eta, mu, W, unscaled, dev, it, converged)


class GeneralizedLinearModel(FixedEffectsModel):
    """A generalized linear model fitted by IRLS (R's `glm`)."""

    saved_kind = "glm"

    def __init__(self, frame: ModelFrame, family: Family, resp: GlmResponse,
                 name: str | None, call: str) -> None:
        self._frame = frame
        self.family = family
        self._resp = resp
        self.data_name = name
        self._call = call
        self._fit = irls(frame.X, resp, family, self._offset)
        if not self._fit.converged:
            import warnings

            warnings.warn("glm.fit: algorithm did not converge", RuntimeWarning, stacklevel=3)
        self.beta = self._fit.beta
        self._unscaled = self._fit.unscaled
        self._rank = frame.X.shape[1]
        self._t_based = False          # confint.default: normal quantiles

    @property
    def _offset(self) -> np.ndarray:
        fr = self._frame
        return fr.offset if fr.offset is not None else np.zeros(fr.n)

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
        from mixedfx.baseline.anova import glm_anova

        return glm_anova(self, test=test)

    def summary(self) -> Any:
        """R's `summary.glm` (z or t tests, dispersion, deviances, AIC, iterations)."""
        from mixedfx.baseline.summary import GlmSummary

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
    fam_text = fam.name if fam.link.name == _default_link(fam) else \
        f'{fam.name}(link = "{fam.link.name}")'
    call = call_text("glm", formula, data, name, weights=weights, offset=offset).replace(
        ", data =", f", family = {fam_text}, data =", 1)
    return GeneralizedLinearModel(frame, fam, resp, name, call)


def _default_link(fam: Family) -> str:
    return {"binomial": "logit", "poisson": "log", "Gamma": "inverse",
            "inverse.gaussian": "1/mu^2", "gaussian": "identity"}.get(fam.name, "")


def wald_tests(model: GeneralizedLinearModel) -> pd.DataFrame:
    """The coefficient table of `summary.glm`: z tests (φ = 1) or t tests on n − p df."""
    fe = model.fixef
    se = np.sqrt(np.diag(model.vcov.to_numpy()))
    stat = fe.to_numpy() / se
    if model.family.has_dispersion:
        return pd.DataFrame({"Estimate": fe.to_numpy(), "Std. Error": se, "t value": stat,
                             "Pr(>|t|)": 2 * stats.t.sf(np.abs(stat), model.df_residual)},
                            index=fe.index)
    return pd.DataFrame({"Estimate": fe.to_numpy(), "Std. Error": se, "z value": stat,
                         "Pr(>|z|)": 2 * stats.norm.sf(np.abs(stat))}, index=fe.index)
