"""Accessors every fitted model class shares (mixed models, gls, lm / glm): the model frame,
formula, number of observations, fixed effects and the information criteria
AIC = −2ℓ + 2k and BIC = −2ℓ + k log n (k = `npar`); and, for fits whose engine reports −2ℓ
(ML) or the REML criterion as `criterion` (lmer, gls), the likelihood read off it."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.frame.model_frame import ModelFrame


@lru_cache(maxsize=256)
def names_index(names: tuple[str, ...]) -> pd.Index:
    """The pandas Index of these names, made once per set of names: refits and bootstrap
    replicates share it (building an Index from strings infers its dtype every time, which
    costs more than a small refit)."""
    return pd.Index(list(names))


class FitAccessors:
    """Mixin: `frame`, `formula`, `nobs`, `fixef`, `aic`, `bic` from the class's `_frame`,
    `beta`, `loglik` and `npar` (a class overrides what its R counterpart defines otherwise,
    e.g. nlme's BIC or lm's `nobs` without zero-weight rows)."""

    _frame: ModelFrame
    _fixef_name = "fixef"           # the Series' name (lm / glm: "coef", R's `coef(fit)`)
    beta: np.ndarray
    loglik: float
    npar: int

    @property
    def frame(self) -> ModelFrame:
        """The model frame (rows used, X, y, random-effects terms)."""
        return self._frame

    @property
    def formula(self) -> str:
        return self._frame.formula.text

    @property
    def nobs(self) -> int:
        return self._frame.n

    @property
    def fixef(self) -> pd.Series:
        """The fixed-effects estimates, indexed by R's coefficient names."""
        index = names_index(tuple(self._frame.fixef_names)).copy()    # its name is settable
        return pd.Series(self.beta, index=index, name=self._fixef_name)

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.npar

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + self.npar * math.log(self.nobs)


class CriterionLikelihood:
    """Mixin: the likelihood of a fit whose engine record `_fit` holds `criterion` (−2ℓ for
    ML fits, the REML criterion for REML fits) and the class's `REML`."""

    _fit: Any
    REML: bool

    @property
    def deviance(self) -> float:
        """ML deviance, or the REML criterion for REML fits (as lme4 and nlme report)."""
        return self._fit.criterion

    @property
    def reml_criterion(self) -> float | None:
        return self._fit.criterion if self.REML else None

    @property
    def loglik(self) -> float:
        return -0.5 * self._fit.criterion
