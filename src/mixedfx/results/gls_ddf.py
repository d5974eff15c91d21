"""Degrees-of-freedom methods for `gls` fits (`ddf=`): "Residual" (n − p, nlme's t tests and
emmeans' `mode = "df.error"`), "Satterthwaite" (`mixedfx.gls_engine.ddf`; emmeans'
`mode = "satterthwaite"`, SAS's DDFM=SATTERTHWAITE), "Kenward-Roger-Linear" (SAS's
DDFM=KR(LINEARCOVARIANCE): adjusted standard errors, REML fits, any structure) and
"Kenward-Roger" (SAS's DDFM=KR, for the structures SAS has: `gls_engine.kenward_roger`).
Used by `coef_table`, `anova` and `mfx.emmeans(m, ..., lmer_df=...)`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError
from mixedfx.gls_engine.ddf import GlsKenwardRogerLinear, GlsSatterthwaite
from mixedfx.gls_engine.kenward_roger import GlsKenwardRoger
from mixedfx.inference.contrasts import type3_contrasts
from mixedfx.inference.satterthwaite import fstat_ddf
from mixedfx.lazy import lazy_module

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here

DDF = {"residual": "Residual", "df.error": "Residual", "satterthwaite": "Satterthwaite",
       "kenward-roger-linear": "Kenward-Roger-Linear", "kenward-roger": "Kenward-Roger"}
KR = ("Kenward-Roger", "Kenward-Roger-Linear")


def ddf_choice(ddf: str | None) -> str:
    """The canonical name of a gls df method (None: nlme's residual df)."""
    if ddf is None:
        return "Residual"
    key = str(ddf).lower()
    if key not in DDF:
        raise ArgumentError("ddf for gls must be 'Residual', 'Satterthwaite', "
                            f"'Kenward-Roger' or 'Kenward-Roger-Linear', got {ddf!r}")
    return DDF[key]


class GlsDdfMethods:
    """Mixin for GlsModel: t and F tests with a chosen df method."""

    _frame: Any
    _fit: Any
    formula: str

    @cached_property
    def _satterthwaite(self) -> Any:
        return GlsSatterthwaite(self._frame, self._fit)

    @cached_property
    def _kenward_roger(self) -> Any:
        return GlsKenwardRogerLinear(self._satterthwaite)

    @cached_property
    def _kenward_roger_full(self) -> Any:
        return GlsKenwardRoger(self.formula, self._frame, self._fit)

    def _kr(self, method: str) -> Any:
        return self._kenward_roger if method == "Kenward-Roger-Linear" \
            else self._kenward_roger_full

    def _df(self, c: np.ndarray, method: str) -> float:
        if method == "Residual":
            return float(self.df_residual)
        if method in KR:
            return self._kr(method).df(np.asarray(c, float))[0]
        return self._satterthwaite.df(np.asarray(c, float))

    def _vcov_for(self, method: str) -> np.ndarray:
        if method in KR:
            return self._kr(method).vcov
        return self.vcov.to_numpy()

    def contrast_se_df(self, L: np.ndarray, ddf: str | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """SE and df of the rows of L (used by `mfx.emmeans`)."""
        method = ddf_choice(ddf)
        V = self._vcov_for(method)
        se = np.sqrt(np.einsum("ij,jk,ik->i", L, V, L))
        return se, np.array([self._df(row, method) for row in L])

    def coef_table(self, ddf: str | None = "Satterthwaite") -> pd.DataFrame:
        """Estimate, Std. Error, df, t value, Pr(>|t|) with the chosen df method."""
        method = ddf_choice(ddf)
        p = len(self.beta)
        se, df = self.contrast_se_df(np.eye(p), method)
        t = self.beta / se
        return pd.DataFrame({"Estimate": self.beta, "Std. Error": se, "df": df, "t value": t,
                             "Pr(>|t|)": 2.0 * stats.t.sf(np.abs(t), df)},
                            index=self._frame.fixef_names)

    def anova(self, type: int | str = 3, ddf: str | None = "Satterthwaite") -> pd.DataFrame:
        """F tests of the terms (Type III as lmerTest / SAS): NumDF, DenDF, F value, Pr(>F).
        The denominator df combine the per-row df of the orthogonalized rows (lmerTest)."""
        if str(type).upper() not in ("3", "III"):
            raise ArgumentError(f"gls anova supports type=3, got {type!r}")
        method = ddf_choice(ddf)
        V, beta = self._vcov_for(method), self.beta
        out = {}
        for term, L in type3_contrasts(self._frame).items():
            vals, vecs = np.linalg.eigh(L @ V @ L.T)
            keep = vals > max(np.sqrt(np.finfo(float).eps) * vals.max(), 0.0)
            rows = (vecs[:, keep].T @ L)
            F = float(np.sum((rows @ beta) ** 2 / vals[keep]) / rows.shape[0])
            if method in KR:
                ddf_, scale = self._kr(method).df(rows)
                F *= scale
            else:
                ddf_ = fstat_ddf(np.array([self._df(r, method) for r in rows]))
            out[term] = {"NumDF": rows.shape[0], "DenDF": ddf_, "F value": F,
                         "Pr(>F)": float(stats.f.sf(F, rows.shape[0], ddf_))}
        return pd.DataFrame.from_dict(out, orient="index")
