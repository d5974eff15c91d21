"""The fitted generalized least squares model (`mixedfx.gls`, nlme's `gls`).

β̂ = (X̃ᵀX̃)⁻¹X̃ᵀỹ on the whitened rows, vcov(β̂) = σ̂²(X̃ᵀX̃)⁻¹, σ̂² = RSS/(n − p) (REML) or
RSS/n (ML); t tests with n − p degrees of freedom, as nlme's `summary.gls`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import solve_triangular

from mixedfx.errors import ArgumentError
from mixedfx.fitted.predict import fixed_matrix, prepare_newdata
from mixedfx.fitted.saving import Saveable
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.gls_engine.fit import GlsFit, fit_gls
from mixedfx.lazy import lazy_module
from mixedfx.optimize import Control
from mixedfx.results.accessors import CriterionLikelihood, FitAccessors
from mixedfx.results.call import r_call
from mixedfx.results.gls_ddf import GlsDdfMethods
from mixedfx.results.html import model_html
from mixedfx.results.residual_structures import ResidualStructureAccess, structure_lines
from mixedfx.rformat import format_real, print_coefmat, print_named_vector
from mixedfx.validate import check_level

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here


class GlsModel(Saveable, FitAccessors, CriterionLikelihood, ResidualStructureAccess,
               GlsDdfMethods):
    """A model fitted by generalized least squares (nlme's `gls` object)."""

    kind = "gls"    # fitted-model contract (mixedfx.fitted.protocol): a GLS fit

    def __init__(self, frame: ModelFrame, fit: GlsFit, control: Control,
                 data_name: str | None = None,
                 fitted_by: Callable[..., Any] | None = None) -> None:
        self._frame, self._fit, self._control = frame, fit, control
        self.data_name = data_name
        self.fitted_by = fitted_by
        """The function that fitted the model (`mixedfx.gls`)."""

    # == fitted-model contract (mixedfx.fitted.protocol.GlsFit) =============================
    @property
    def frame(self) -> ModelFrame:
        """The model frame (rows used, X, y, weights)."""
        return self._frame

    @property
    def engine_fit(self) -> Any:
        """The engine's fit record (`gls_engine.fit.GlsFit`): β, σ, the criterion, the
        residual structure's fitted parameters and the optimizer's record."""
        return self._fit

    @property
    def control(self) -> Any:
        """The optimizer `Control` the model was fitted with (refits reuse it)."""
        return self._control

    # ----- identification ---------------------------------------------------------------
    @property
    def call(self) -> str:
        """The call as nlme prints `m$call`: `gls(model = ..., data = ..., method = "ML")`
        (see `mixedfx.results.call`)."""
        return r_call("gls", self.formula, self.data_name, reml=self.REML)

    @property
    def REML(self) -> bool:
        return self._fit.reml

    @property
    def npar(self) -> int:
        """Coefficients, structure parameters and σ (nlme's logLik df)."""
        return len(self.beta) + len(self._fit.psi) + 1

    @property
    def df_residual(self) -> int:
        return self.nobs - len(self.beta)

    # ----- estimates ----------------------------------------------------------------------
    @property
    def beta(self) -> np.ndarray:
        return self._fit.solution.beta.copy()

    coef = FitAccessors.fixef

    @property
    def sigma(self) -> float:
        return self._fit.sigma

    @property
    def vcov(self) -> pd.DataFrame:
        """σ̃²(X̃ᵀX̃)⁻¹ with σ̃² = RSS/(n − p) for REML and ML fits alike (nlme's `varBeta`:
        an ML fit reports σ̂² = RSS/n but scales the coefficients' covariance by n/(n − p))."""
        R = self._fit.solution.R
        p = R.shape[0]
        Ri = solve_triangular(R, np.eye(p)) if p else np.zeros((0, 0))
        names = self._frame.fixef_names
        s2 = self._fit.solution.rss / (self.nobs - p)
        return pd.DataFrame(s2 * (Ri @ Ri.T), index=names, columns=names)

    # ----- likelihood ---------------------------------------------------------------------
    @property
    def bic(self) -> float:
        """nlme's BIC: the number of observations is n − p for REML fits."""
        n = self.nobs - (len(self.beta) if self.REML else 0)
        return -2.0 * self.loglik + self.npar * math.log(n)

    # ----- fitted values, residuals, predictions ------------------------------------------
    def _fitted_values(self) -> np.ndarray:
        eta = self._frame.X @ self.beta
        return eta if self._frame.offset is None else eta + self._frame.offset

    def fitted(self) -> pd.Series:
        """Xβ̂ (plus offsets): a Series indexed by the data's rows used (with
        na_action="exclude": every row, NaN at the dropped ones)."""
        return self._frame.rowwise(self._fitted_values())

    def residuals(self, type: str = "response") -> pd.Series:
        """`response` y − Xβ̂, `pearson` (y − Xβ̂)/(σ sᵢ), `normalized` σ⁻¹L⁻¹(y − Xβ̂); a
        Series indexed as `fitted()`."""
        return self._frame.rowwise(self._residual_values(type))

    def _residual_values(self, type: str) -> np.ndarray:
        r = self._frame.y - self._fitted_values()
        w = self._frame.weights
        if type == "response":
            return r
        if w is not None:
            r = r * np.sqrt(w)
        res = self._fit.residual
        if type == "pearson":
            s = res.sd_multipliers(self._fit.psi)
            return (r if s is None else r / s) / self.sigma
        if type == "normalized":
            return self._whiten_rows(r) / self.sigma
        raise ArgumentError("type must be 'response', 'pearson' or 'normalized'")

    def predict(self, newdata: object = None) -> pd.Series:
        """Xβ̂ (plus offsets) for the fitted rows or new data."""
        if newdata is None:
            return self.fitted()
        new = prepare_newdata(self._frame, newdata)
        return self._frame.prediction(newdata, fixed_matrix(self._frame, new) @ self.beta
                                      + self._frame.new_offset(new.raw))

    def refit_ml(self) -> GlsModel:
        if not self.REML:
            return self
        fit = fit_gls(self._frame, False, self._control, self._fit.residual,
                      start=self._fit.psi)
        return GlsModel(self._frame, fit, self._control, self.data_name,
                        fitted_by=self.fitted_by)

    # ----- tables -------------------------------------------------------------------------
    @property
    def coefficients(self) -> pd.DataFrame:
        """nlme's `summary(m)$tTable`: Value, Std.Error, t-value, p-value."""
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        t = self.beta / se
        p = 2.0 * stats.t.sf(np.abs(t), self.df_residual)
        return pd.DataFrame({"Value": self.beta, "Std.Error": se, "t-value": t,
                             "p-value": p}, index=self._frame.fixef_names)

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """t intervals of the coefficients (nlme's `intervals(m, which = "coef")`)."""
        level = check_level(level)
        q = stats.t.ppf(0.5 + level / 2, self.df_residual)
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        return pd.DataFrame({"lower": self.beta - q * se, "upper": self.beta + q * se},
                            index=self._frame.fixef_names)

    def summary(self, ddf: str | None = None) -> str:
        """nlme's `summary.gls` printout; with `ddf` ("Satterthwaite", "Residual") the
        coefficient table is `coef_table(ddf)` (Estimate, Std. Error, df, t value, Pr(>|t|))."""
        method = "REML" if self.REML else "maximum likelihood"
        out = [f"Generalized least squares fit by {method}", f"  Model: {self.formula} "]
        if self.data_name:
            out.append(f"  Data: {self.data_name} ")
        cells = [c.strip() for c in format_real(np.array([self.aic, self.bic, self.loglik]),
                                                7)]
        out.append(print_named_vector(["AIC", "BIC", "logLik"], cells))
        lines = structure_lines(self.var_struct, self.cor_struct)
        if lines:
            out += ["", *lines]
        table = self.coefficients if ddf is None else self.coef_table(ddf)
        out += ["", "Coefficients:", print_coefmat(table, 4).rstrip("\n")]
        z = self._residual_values("pearson")
        q = np.quantile(z, [0, 0.25, 0.5, 0.75, 1])
        out += ["", "Standardized residuals:",
                print_named_vector(["Min", "Q1", "Med", "Q3", "Max"],
                                   [c.strip() for c in format_real(q, 7)]),
                "", f"Residual standard error: {format_real([self.sigma], 7)[0].strip()} ",
                f"Degrees of freedom: {self.nobs} total; {self.df_residual} residual"]
        return "\n".join(out) + "\n"

    def to_dict(self) -> dict[str, Any]:
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        return {"formula": self.formula, "REML": self.REML, "nobs": self.nobs,
                "fixef": {k: float(v) for k, v in self.fixef.items()},
                "fixef_se": dict(zip(self._frame.fixef_names, map(float, se), strict=True)),
                "sigma": self.sigma, "loglik": self.loglik, "aic": self.aic, "bic": self.bic,
                "var_struct": None if self.var_struct is None else
                self.var_struct.params.to_dict(),
                "cor_struct": None if self.cor_struct is None else
                self.cor_struct.params.to_dict()}

    def _repr_html_(self) -> str:
        """Notebook display: the fit statistics, structure parameters and nlme's t table as
        HTML (`mixedfx.results.html`)."""
        method = "REML" if self.REML else "maximum likelihood"
        return model_html(self, f"Generalized least squares fit by {method}",
                          self.coefficients)

    def __repr__(self) -> str:
        return (f"<GlsModel {self.formula!r} fit by {'REML' if self.REML else 'ML'}; "
                f"logLik {self.loglik:.4f}; nobs {self.nobs}>")

    def __str__(self) -> str:
        return self.summary()
