"""What `lm` and `glm` fits share: the model frame without random effects, coefficient names,
information criteria, predictions for new data and Wald intervals.

Subclasses set `_frame`, `beta`, `_unscaled` ((XᵀWX)⁻¹), `_rank`, and provide `dispersion`,
`loglik`, `npar`, `nobs`, `fitted()`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError, ArgumentTypeError
from mixedfx.fitted.predict import fixed_matrix, prepare_newdata
from mixedfx.fitted.saving import Saveable
from mixedfx.fitted.varcorr_print import html_pre
from mixedfx.formula.dot import expand_dot
from mixedfx.frame.model_frame import ModelFrame, build_model_frame
from mixedfx.lazy import lazy_module
from mixedfx.results.accessors import FitAccessors
from mixedfx.tidy import glance as broom_glance
from mixedfx.tidy import tidy as broom_tidy
from mixedfx.unknown_arguments import RefusesUnknownArguments
from mixedfx.validate import check_level

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here


def baseline_frame(formula: str, data: Any, weights: Any, offset: Any, na_action: str,
                   glm: bool, what: str) -> ModelFrame:
    """The model frame of a formula without random-effects terms. A `.` stands for every
    column the response does not name (R's `terms.formula`: `log(y) ~ .`, `cbind(s, f) ~ .`)."""
    columns = [c for c in getattr(data, "columns", ()) if isinstance(c, str)]
    if isinstance(formula, str):
        formula = expand_dot(formula, columns, stats=True) or formula
    frame = build_model_frame(formula, data, weights=weights, offset=offset,
                              na_action=na_action, require_random=False, glm=glm)
    if frame.terms:
        raise ArgumentError(f"{what} formulas have no random-effects terms: use mixedfx.lmer / "
                            f"mixedfx.glmer for {formula!r}")
    return frame


def data_name(data: Any, given: Any = None) -> str | None:
    """The data's name for `m.call` and the summary: `given` (`data_name=`, a non-empty str)
    if any, else the data's `attrs["name"]` (bundled data sets), else None."""
    if given is not None:
        if not isinstance(given, str) or not given.strip():
            raise ArgumentTypeError(f"data_name must be a non-empty string, got {given!r}")
        return given.strip()
    attrs = getattr(data, "attrs", None)
    name = attrs.get("name") if isinstance(attrs, dict) else None
    return name if isinstance(name, str) and name else None


class FixedEffectsModel(Saveable, FitAccessors, RefusesUnknownArguments):
    """Shared behaviour of `LinearModel` and `GeneralizedLinearModel`."""

    _fixef_name = "coef"            # `fixef` is R's `coef(fit)`

    _frame: ModelFrame
    beta: np.ndarray
    _unscaled: np.ndarray
    data_name: str | None
    _call: str
    REML = False

    # -- structure ----------------------------------------------------------------------
    @property
    def _offset(self) -> np.ndarray:
        """The total offset per row (zeros without one)."""
        fr = self._frame
        return fr.offset if fr.offset is not None else np.zeros(fr.n)

    @property
    def call(self) -> str:
        """The call as R prints it on one line, `lm(formula = y ~ x, data = d)`."""
        return self._call

    def coef(self) -> pd.Series:
        return self.fixef

    @property
    def dispersion(self) -> float:
        raise NotImplementedError

    @property
    def vcov(self) -> pd.DataFrame:
        """φ (XᵀWX)⁻¹ (R's `vcov`)."""
        names = self._frame.fixef_names
        return pd.DataFrame(self.dispersion * self._unscaled, index=names, columns=names)

    @property
    def has_intercept(self) -> bool:
        return "(Intercept)" in self._frame.fixef_names

    # -- predictions ----------------------------------------------------------------------
    def _x_new(self, newdata: Any) -> tuple[np.ndarray, np.ndarray]:
        """(X, offset) for new data (the fit's own rows when None)."""
        fr = self._frame
        if newdata is None:
            off = fr.offset if fr.offset is not None else np.zeros(fr.n)
            return fr.X, off
        new = prepare_newdata(fr, newdata)
        return fixed_matrix(fr, new), fr.new_offset(new.raw)

    def _linear_predictor_new(self, newdata: Any) -> tuple[np.ndarray, np.ndarray]:
        """(η̂, SE(η̂)) with SE = √(xᵀ V x)."""
        X, off = self._x_new(newdata)
        eta = X @ self.beta + off
        V = self.vcov.to_numpy()
        se = np.sqrt(np.einsum("ij,jk,ik->i", X, V, X))
        return eta, se

    def wald_confint(self, level: float = 0.95) -> pd.DataFrame:
        """β̂ ± q SE with q the t quantile on the residual df when the dispersion is
        estimated (R's `confint.lm`), the normal quantile otherwise (`confint.default`)."""
        level = check_level(level)
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        a = 0.5 + level / 2
        q = stats.t.ppf(a, self.df_residual) if self._t_based else stats.norm.ppf(a)
        fe = self.fixef
        return pd.DataFrame({"lower": fe - q * se, "upper": fe + q * se})

    _t_based = True

    def confint(self, level: float = 0.95, method: str = "Wald") -> pd.DataFrame:
        """Intervals of the coefficients: `Wald` (see `wald_confint`)."""
        if str(method).lower() != "wald":
            raise ArgumentError(f"confint of an {type(self).__name__} supports method='Wald' "
                                f"only, got {method!r}")
        return self.wald_confint(level)

    def tidy(self, conf_int: bool = False, conf_level: float = 0.95,
             exponentiate: bool = False) -> pd.DataFrame:
        """broom's `tidy(fit)`: one row per coefficient."""
        return broom_tidy(self, conf_int=conf_int, conf_level=conf_level, exponentiate=exponentiate)

    def glance(self) -> pd.DataFrame:
        """broom's `glance(fit)`: one row of model statistics."""
        return broom_glance(self)

    def refit_ml(self) -> FixedEffectsModel:
        """Already a maximum-likelihood fit (for `mfx.anova`)."""
        return self

    def __str__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return html_pre(repr(self))

    def summary(self) -> Any:
        raise NotImplementedError

    # attributes the subclasses provide
    loglik: float
    npar: int
    nobs: int
    df_residual: int
