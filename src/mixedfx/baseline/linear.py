"""R's `lm`: weighted least squares through a QR decomposition.

With prior weights w, offset o and √W X = QR: β̂ = R⁻¹Qᵀ√W(y − o), residuals e = y − Xβ̂ − o,
σ̂² = Σ wᵢeᵢ² / (n − p), vcov = σ̂² (RᵀR)⁻¹; the log-likelihood (R's `logLik.lm`) is
½(Σ log wᵢ − n(log 2π + 1 − log n + log Σ wᵢeᵢ²)) with p + 1 parameters, or with `REML=True`
the restricted version on n − p observations minus log|det R|.
R² = MSS / (MSS + RSS) with MSS the weighted sum of squares of the fitted values about their
weighted mean (about 0 without an intercept); F = (MSS / (p − int)) / σ̂².
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.baseline.anova import lm_anova
from mixedfx.baseline.base import FixedEffectsModel, baseline_frame
from mixedfx.baseline.base import data_name as data_name_of
from mixedfx.baseline.summary import LmSummary
from mixedfx.errors import ArgumentError
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.lazy import lazy_module
from mixedfx.unknown_arguments import refuse_unknown_arguments
from mixedfx.validate import check_choice, check_level

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here


class LinearModel(FixedEffectsModel):
    """A linear model fitted by (weighted) least squares (R's `lm`)."""

    kind = "lm"     # fitted-model contract (mixedfx.fitted.protocol): an lm fit

    def __init__(self, frame: ModelFrame, name: str | None, call: str) -> None:
        self._frame = frame
        self.data_name = name
        self._call = call
        p = frame.X.shape[1]
        w = self.prior_weights
        sw = np.sqrt(w)
        y = frame.y - self._offset
        Q, R = np.linalg.qr(frame.X * sw[:, None])
        self.beta = np.linalg.solve(R, Q.T @ (y * sw)) if p else np.zeros(0)
        Ri = np.linalg.inv(R) if p else np.zeros((0, 0))
        self._unscaled = Ri @ Ri.T
        self._logdet_r = float(np.sum(np.log(np.abs(np.diag(R))))) if p else 0.0
        self._rank = p

    @property
    def prior_weights(self) -> np.ndarray:
        fr = self._frame
        return fr.weights if fr.weights is not None else np.ones(fr.n)

    @property
    def nobs(self) -> int:
        return int(np.sum(self.prior_weights != 0))

    @property
    def df_residual(self) -> int:
        return self._frame.n - self._rank

    def _fitted_values(self) -> np.ndarray:
        return self._frame.X @ self.beta + self._offset

    def fitted(self) -> pd.Series:
        """ŷ = Xβ̂ (+ offset): a Series indexed by the data's rows used (with
        na_action="exclude": every row, NaN at the dropped ones)."""
        return self._frame.rowwise(self._fitted_values())

    def residuals(self, type: str = "response") -> pd.Series:
        """`response` (y − ŷ, R's default) or `pearson` / `working` (√w (y − ŷ) and y − ŷ);
        a Series indexed as `fitted()`."""
        return self._frame.rowwise(self._residual_values(type))

    def _residual_values(self, type: str) -> np.ndarray:
        e = self._frame.y - self._fitted_values()
        if type in ("response", "working"):
            return e
        if type in ("pearson", "deviance"):
            return e * np.sqrt(self.prior_weights)
        raise ArgumentError("type must be 'response', 'pearson', 'deviance' or 'working'")

    @property
    def rss(self) -> float:
        e = self._residual_values("response")
        return float(np.sum(self.prior_weights * e * e))

    @property
    def sigma(self) -> float:
        return math.sqrt(self.rss / self.df_residual)

    @property
    def dispersion(self) -> float:
        return self.sigma**2

    @property
    def deviance(self) -> float:
        """The weighted residual sum of squares (R's `deviance.lm`)."""
        return self.rss

    @property
    def npar(self) -> int:
        return self._rank + 1

    @property
    def loglik(self) -> float:
        return self.loglik_at(reml=False)

    def loglik_at(self, reml: bool = False) -> float:
        """R's `logLik(fit, REML=)`."""
        w = self.prior_weights
        keep = w != 0
        lw = float(np.sum(np.log(w[keep])))
        if reml:
            N = self.df_residual
            return 0.5 * (lw - N * (math.log(2 * math.pi) + 1 - math.log(N)
                                    + math.log(self.rss))) - self._logdet_r
        n = int(keep.sum())
        return 0.5 * (lw - n * (math.log(2 * math.pi) + 1 - math.log(n) + math.log(self.rss)))

    # -- R² and F -----------------------------------------------------------------------
    def _mss(self) -> float:
        f = self._fitted_values()
        f = f - self._offset if self._frame.offset is not None else f
        w = self.prior_weights
        if self.has_intercept:
            m = float(np.sum(w * f) / np.sum(w))
            return float(np.sum(w * (f - m) ** 2))
        return float(np.sum(w * f * f))

    @property
    def r_squared(self) -> float:
        mss = self._mss()
        return mss / (mss + self.rss)

    @property
    def adj_r_squared(self) -> float:
        df_int = 1 if self.has_intercept else 0
        n = self.df_residual + self._rank
        return 1 - (1 - self.r_squared) * ((n - df_int) / self.df_residual)

    @property
    def fstatistic(self) -> tuple[float, int, int] | None:
        """(F, numerator df, denominator df); None for an intercept-only model."""
        df_int = 1 if self.has_intercept else 0
        if self._rank == df_int:
            return None
        num = self._rank - df_int
        return (self._mss() / num) / self.dispersion, num, self.df_residual

    # -- predictions ----------------------------------------------------------------------
    def predict(self, newdata: Any = None, se_fit: bool = False, interval: str = "none",
                level: float = 0.95) -> np.ndarray | pd.DataFrame:
        """R's `predict.lm`: the fit, or with `se_fit` / `interval="confidence"` /
        `"prediction"` a frame `fit, se.fit, lwr, upr` (prediction intervals add σ̂² to the
        variance: ŷ ± t SE√(1 + ...) as R, assuming unit weights for new observations)."""
        check_choice(interval, "interval", ("none", "confidence", "prediction"))
        level = check_level(level)
        fit, se = self._linear_predictor_new(newdata)
        if not se_fit and interval == "none":
            return self._frame.prediction(newdata, fit)
        out = pd.DataFrame({"fit": fit})
        if se_fit:
            out["se.fit"] = se
        if interval != "none":
            t = stats.t.ppf(0.5 + level / 2, self.df_residual)
            var = se**2 + (self.dispersion if interval == "prediction" else 0.0)
            out["lwr"] = fit - t * np.sqrt(var)
            out["upr"] = fit + t * np.sqrt(var)
        return self._frame.prediction_frame(newdata, out)

    def anova(self) -> Any:
        """R's `anova(lm)`: sequential sums of squares and F tests by term."""
        return lm_anova(self)

    def summary(self) -> Any:
        """R's `summary.lm` (coefficients with t tests, σ̂, R², F)."""
        return LmSummary(self)

    def __repr__(self) -> str:
        return (f"<LinearModel {self.formula!r}; sigma {self.sigma:.4f}; nobs {self.nobs}; "
                f"logLik {self.loglik:.4f}>")


def call_text(fn: str, formula: str, data: Any, name: str | None, **extra: Any) -> str:
    """The R call a summary prints: `lm(formula = y ~ x, data = name, weights = w)`."""
    parts = [f"formula = {formula}", f"data = {name or 'data'}"]
    parts += [f"{k} = {v}" for k, v in extra.items() if isinstance(v, str)]
    return f"{fn}({', '.join(parts)})"


@refuse_unknown_arguments
def lm(formula: str, data: Any, weights: Any = None, offset: Any = None,
       na_action: str = "omit", data_name: str | None = None) -> LinearModel:
    """Fit a linear model by least squares (R's `lm`), with the formula engine of `lmer`
    (factors, interactions, transformations, `offset()`); `weights` and `offset` are column
    names or arrays. Linearly dependent columns are dropped with a warning (R keeps them as
    NA coefficients). `data_name` names the data in `m.call` (as lmer's; default: the data's
    `attrs["name"]`, else `data`)."""
    frame = baseline_frame(formula, data, weights, offset, na_action, glm=False, what="lm")
    name = data_name_of(data, data_name)
    return LinearModel(frame, name, call_text("lm", formula, data, name, weights=weights,
                                              offset=offset))
