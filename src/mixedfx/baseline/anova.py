"""Sequential (type I) analysis-of-variance tables of the baselines: R's `anova(lm)` and
`anova(glm, test=)`.

`anova(lm)`: with √w X = QR (columns in formula order, linearly dependent ones already
dropped by the model frame) the effects e = Qᵀ√w(y − o) split the regression sum of squares by
term: SS_term = Σ_{j ∈ term} e_j², on as many df as the term has columns; the residual row is
the RSS on n − p df; F = MS_term/MS_res, p = P(F_{df, n−p} > F).

`anova(glm)`: the terms are added one at a time (the null model has the intercept, or
nothing, plus the offset) and each model is refitted by IRLS; `Deviance` is the decrease of
the residual deviance, `Resid. Df` / `Resid. Dev` those of the model so far. `test="Chisq"`
(or `"LRT"`): p = P(χ²_df > Deviance/φ); `test="F"`: F = Deviance/(df φ), p = P(F_{df, d} > F)
with φ the dispersion of the full model (1 for binomial and Poisson, d = ∞; else Pearson's
estimate on d = its residual df).
"""

from __future__ import annotations

import numpy as np

from mixedfx.baseline.base import FixedEffectsModel
from mixedfx.baseline.irls import irls
from mixedfx.errors import ArgumentError
from mixedfx.inference.contrasts import term_columns
from mixedfx.inference.fixed_anova import AnovaTable, make_table
from mixedfx.lazy import lazy_module
from mixedfx.warn import warn

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here

LM_COLUMNS = ["Df", "Sum Sq", "Mean Sq", "F value", "Pr(>F)"]
GLM_COLUMNS = ["Df", "Deviance", "Resid. Df", "Resid. Dev"]
GLM_TESTS = {"chisq": "Chisq", "lrt": "Chisq", "f": "F"}


def _terms(model: FixedEffectsModel) -> list[tuple[str, list[int]]]:
    """(term label, its columns of X) in formula order, the intercept left out."""
    return [(t, cols) for t, cols in term_columns(model.frame).items() if t != "(Intercept)"]


def lm_anova(model: FixedEffectsModel) -> AnovaTable:
    """R's `anova(lm)` (see the module docstring)."""
    fr = model.frame
    sw = np.sqrt(model.prior_weights)
    Q, _ = np.linalg.qr(fr.X * sw[:, None])
    effects = Q.T @ ((fr.y - model._offset) * sw)
    df_res = model.df_residual
    ms_res = model.rss / df_res if df_res > 0 else np.nan
    rows, names = [], []
    for label, cols in _terms(model):
        ss = float(np.sum(effects[cols] ** 2))
        df = len(cols)
        f = (ss / df) / ms_res
        rows.append({"Df": df, "Sum Sq": ss, "Mean Sq": ss / df, "F value": f,
                     "Pr(>F)": float(stats.f.sf(f, df, df_res))})
        names.append(label)
    rows.append({"Df": df_res, "Sum Sq": model.rss, "Mean Sq": ms_res})
    names.append("Residuals")
    return make_table(rows, names, LM_COLUMNS, ["Analysis of Variance Table", "",
                                                f"Response: {fr.formula.response}"])


def glm_anova(model: FixedEffectsModel, test: str | None = None) -> AnovaTable:
    """R's `anova(glm, test=)`: `test` None (no test column, R 4.2's default), `"Chisq"` /
    `"LRT"` or `"F"` (see the module docstring)."""
    kind = None
    if test is not None:
        kind = GLM_TESTS.get(str(test).lower())
        if kind is None:
            raise ArgumentError(f"test must be None, 'Chisq', 'LRT' or 'F', got {test!r}")
    fr = model.frame
    resp, fam, off = model._resp, model.family, model._offset
    n = int(np.sum(resp.wt != 0))
    cols = [0] if model.has_intercept else []
    null_dev = model.null_deviance
    rows = [{"Resid. Df": n - len(cols), "Resid. Dev": null_dev}]
    names = ["NULL"]
    prev = null_dev
    for label, term_cols in _terms(model):
        cols = cols + term_cols
        dev = irls(fr.X[:, cols], resp, fam, off).deviance
        rows.append({"Df": len(term_cols), "Deviance": prev - dev,
                     "Resid. Df": n - len(cols), "Resid. Dev": dev})
        names.append(label)
        prev = dev
    columns = list(GLM_COLUMNS)
    if kind == "F" and not fam.has_dispersion:
        warn(f"using F test with a '{fam.name}' family is inappropriate", UserWarning)
    if kind is not None:
        phi = model.dispersion
        df_phi = np.inf if not fam.has_dispersion else model.df_residual
        for row in rows[1:]:
            df, d = row["Df"], row["Deviance"]
            ok = df > 0 and d >= 0
            if kind == "Chisq":
                row["Pr(>Chi)"] = float(stats.chi2.sf(d / phi, df)) if ok else np.nan
            else:
                f = d / df / phi if ok else np.nan
                row["F"] = f
                # F_{df, ∞} = χ²_df / df (R's pf(F, df, Inf); scipy's f.sf gives NaN there)
                p = stats.f.sf(f, df, df_phi) if np.isfinite(df_phi) else stats.chi2.sf(f * df, df)
                row["Pr(>F)"] = float(p) if ok else np.nan
        columns += ["Pr(>Chi)"] if kind == "Chisq" else ["F", "Pr(>F)"]
    heading = ["Analysis of Deviance Table", "", f"Model: {fam.name}, link: {fam.link.name}",
               "", f"Response: {fr.formula.response}", "",
               "Terms added sequentially (first to last)", "", ""]
    return make_table(rows, names, columns, heading)
