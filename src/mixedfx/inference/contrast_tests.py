"""t and F tests of linear contrasts of the fixed effects (lmerTest's `contest1D` and
`contestMD`), with Satterthwaite or Kenward–Roger denominator df.

One row l:  estimate lᵀβ̂, SE √(lᵀVl) (V = vcov(β̂), or pbkrtest's adjusted Φ_A for KR),
t = lᵀβ̂/SE, p = 2 P(T_ν > |t|).
q rows L (Satterthwaite): with LVLᵀ = P diag(d) Pᵀ (eigenvalues > 1.5e-8·d₁ kept),
F = Σ_m (p_mᵀLβ̂)²/d_m / q and ν from the per-row df (`satterthwaite.fstat_ddf`); a one-row
problem is the squared t test. KR: pbkrtest's scaled F (`KenwardRoger.ftest`).
The F table reports Mean Sq = F σ̂² and Sum Sq = Mean Sq · NumDF, as lmerTest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError, ArgumentTypeError
from mixedfx.inference.kenward_roger import kenward_roger
from mixedfx.inference.satterthwaite import fstat_ddf, satterthwaite_state
from mixedfx.lazy import lazy_module
from mixedfx.validate import short_repr

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import LinearMixedFit

# stdtr / fdtrc are what scipy.stats' t.sf / f.sf evaluate, without importing scipy.stats
special = lazy_module("scipy.special")  # ~50 ms at import (scipy.stats ~0.4 s); only here

DDF_METHODS = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger",
               "kenward_roger": "Kenward-Roger", "kr": "Kenward-Roger"}
F_COLUMNS = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]


def ddf_method(ddf: str) -> str:
    """Normalize a ddf name to "Satterthwaite" or "Kenward-Roger"."""
    if not isinstance(ddf, str):
        raise ArgumentTypeError(f"ddf must be one of 'Satterthwaite', 'Kenward-Roger' (or 'none' "
                                f"in summary), got {short_repr(ddf)}")
    key = ddf.lower()
    if key not in DDF_METHODS:
        raise ArgumentError(f"ddf must be 'Satterthwaite' or 'Kenward-Roger', got {ddf!r}")
    return DDF_METHODS[key]


def contest1d(model: LinearMixedFit, contrast: np.ndarray, ddf: str = "Satterthwaite"
              ) -> dict[str, float]:
    """Estimate, SE, df, t and p of the contrast lᵀβ (H₀: lᵀβ = 0).

    With Satterthwaite's df the statistic is taken at the polished optimum of the
    Satterthwaite state (lᵀβ* / SE*, see `satterthwaite.optimum`), so that t, F and p do not
    depend on where the optimizer stopped; `Estimate` is the fit's lᵀβ̂."""
    l = np.asarray(contrast, dtype=float).ravel()  # noqa: E741
    method = ddf_method(ddf)
    est = float(l @ model.beta)
    if method == "Kenward-Roger":
        kr = kenward_roger(model)
        var = float(l @ kr.vcov_adj @ l)
        df = kr.df(l[None, :])
        centre = est
    else:
        st = satterthwaite_state(model)
        var = float(l @ st.vcov_beta @ l)
        df = st.df(l)
        centre = float(l @ st.beta)
    se = float(np.sqrt(var))
    t = centre / se
    return {"Estimate": est, "Std. Error": se, "df": df, "t value": t,
            "Pr(>|t|)": float(2.0 * special.stdtr(df, -abs(t)))}


def coefficient_table(model: LinearMixedFit, ddf: str = "Satterthwaite") -> pd.DataFrame:
    """lmerTest's `get_coefmat`: one t test per coefficient."""
    p = len(model.beta)
    rows = [contest1d(model, np.eye(p)[i], ddf) for i in range(p)]
    return pd.DataFrame(rows, index=model.fixef.index,
                        columns=["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"])


def _ftable(F: float, ndf: float, ddf: float, sigma: float, scale: float = 1.0
            ) -> dict[str, float]:
    ms = F * sigma**2
    Fv = F * scale
    return {"Sum Sq": ms * ndf, "Mean Sq": ms, "NumDF": ndf, "DenDF": ddf, "F value": Fv,
            "Pr(>F)": float(special.fdtrc(ndf, ddf, Fv))}


def contest_md(model: LinearMixedFit, L: np.ndarray, ddf: str = "Satterthwaite",
               eps: float = float(np.sqrt(np.finfo(float).eps))) -> dict[str, float]:
    """F test of H₀: Lβ = 0 (lmerTest's `contestMD`), one row of an anova table."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    method = ddf_method(ddf)
    sigma = model.sigma
    if L.shape[0] == 0:
        return dict.fromkeys(F_COLUMNS, np.nan)
    if method == "Kenward-Roger":
        r = kenward_roger(model).ftest(L, model.beta)
        return _ftable(r["F_unscaled"], r["ndf"], r["ddf"], sigma, r["scaling"])
    if L.shape[0] == 1:
        res = contest1d(model, L[0], method)
        return _ftable(res["t value"] ** 2, 1, res["df"], sigma)
    st = satterthwaite_state(model)
    VL = L @ st.vcov_beta @ L.T
    d, P = np.linalg.eigh(0.5 * (VL + VL.T))
    d, P = d[::-1], P[:, ::-1]
    pos = d > max(eps * d[0], 0.0)
    q = int(pos.sum())
    if q == 0:
        return dict.fromkeys(F_COLUMNS, np.nan)
    PtL = P[:, :q].T @ L
    if q == 1:
        res = contest1d(model, PtL[0], method)
        return _ftable(res["t value"] ** 2, q, res["df"], sigma)
    t2 = (PtL @ st.beta) ** 2 / d[:q]
    F = float(np.sum(t2) / q)
    nu = np.array([2.0 * d[i] ** 2 / float(st.variance_gradient(PtL[i]) @ st.vcov_varpar
                                              @ st.variance_gradient(PtL[i]))
                   for i in range(q)])
    return _ftable(F, q, fstat_ddf(nu), sigma)
