"""Notebook display of a fitted model: the summary's tables as HTML (`_repr_html_`).

A fitted `lmer` / `glmer` / `gls` model shows in Jupyter as statsmodels' and mixedlm's
results do: a header (the fit's method, formula, data, observations and groups) and three
tables — fit statistics (AIC, BIC, logLik, deviance, df.resid and, for REML fits, the REML
criterion), random effects (lme4's `Groups | Name | Variance | Std.Dev. | Corr`, residual
structures' parameters) and fixed effects (the summary's coefficient table: lmerTest's
Satterthwaite df and p for LMMs, z tests for GLMMs, nlme's t table for gls). Numbers are
formatted column by column as R's `format` (4 significant digits; p-values as `format.pval`),
so they read as in the printed summary. The printed text stays `str(m.summary())`.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.rformat import format_pval, format_real

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import FittedModel

DIGITS = 4
_STYLE = ("<style>.mixedfx-model table{border-collapse:collapse;margin:0.3em 0 0.8em 0}"
          ".mixedfx-model th,.mixedfx-model td{padding:0.15em 0.7em;text-align:right}"
          ".mixedfx-model caption{text-align:left;font-weight:bold}</style>")


def _cell(text: Any, header: bool = False) -> str:
    tag = "th" if header else "td"
    return f"<{tag}>{html.escape(str(text))}</{tag}>"


def html_table(frame: pd.DataFrame, caption: str, index: bool = True) -> str:
    """`frame` (already formatted as text) as an HTML table with a caption."""
    head = ([""] if index else []) + [str(c) for c in frame.columns]
    rows = ["<tr>" + "".join(_cell(h, True) for h in head) + "</tr>"]
    for label, row in frame.iterrows():
        cells = ([_cell(label, True)] if index else []) + [_cell(v) for v in row]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="mixedfx-table"><caption>{html.escape(caption)}</caption>'
            + "".join(rows) + "</table>")


def format_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Each column as R formats it: p-value columns (`Pr(...)`, `p-value`) by `format.pval`
    with 3 digits, df with 2 decimals at most, the others with 4 significant digits."""
    out = pd.DataFrame(index=table.index)
    for col in table.columns:
        values = table[col].to_numpy(dtype=float)
        if col.startswith("Pr(") or col == "p-value":
            out[col] = format_pval(values, 3)
        elif col in ("df", "DF"):
            out[col] = [c.strip() for c in format_real(np.round(values, 2), 7)]
        else:
            out[col] = [c.strip() for c in format_real(values, DIGITS)]
    return out


def fit_statistics(model: FittedModel) -> pd.DataFrame:
    """One row: AIC, BIC, logLik, then the deviance (ML fits) or the REML criterion at
    convergence (REML fits), and df.resid."""
    vals = {"AIC": model.aic, "BIC": model.bic, "logLik": model.loglik}
    if getattr(model, "REML", False):
        vals["REML criterion"] = -2.0 * model.loglik
    else:
        vals["deviance"] = -2.0 * model.loglik
    cells = {k: format_real([v], 7)[0].strip() for k, v in vals.items()}
    cells["df.resid"] = str(int(model.df_residual))
    return pd.DataFrame([cells], index=[""])


def random_effects(model: FittedModel) -> pd.DataFrame:
    """lme4's VarCorr table: one row per variance, correlations with the earlier terms of
    the same group in the Corr column (as `print(VarCorr(m))` lays them out)."""
    vc = model.varcorr
    variances = vc[vc["var2"].isna()]
    rows, prev = [], None
    for _, r in variances.iterrows():
        grp, name = r["grp"], r["var1"]
        earlier = [] if prev is None or prev[0] != grp else prev[1]
        pair = vc[(vc["grp"] == grp) & vc["var2"].notna()]
        cors = [pair[((pair["var1"] == name) & (pair["var2"] == e))
                     | ((pair["var1"] == e) & (pair["var2"] == name))]["sdcor"]
                for e in earlier]
        cors = [c.iloc[0] for c in cors if len(c)]
        rows.append({"Groups": grp if not earlier else "",
                     "Name": "" if name is None or (isinstance(name, float) and
                                                    np.isnan(name)) else name,
                     "Variance": r["vcov"], "Std.Dev.": r["sdcor"],
                     "Corr": " ".join(f"{c:.2f}" for c in cors)})   # lme4: 2 decimals
        prev = (grp, [*earlier, name])
    frame = pd.DataFrame(rows)
    for col in ("Variance", "Std.Dev."):
        frame[col] = [c.strip() for c in format_real(frame[col].to_numpy(float), DIGITS)]
    if not frame["Corr"].str.len().any():
        frame = frame.drop(columns="Corr")
    return frame


def structure_parameters(model: FittedModel) -> pd.DataFrame | None:
    """nlme's residual structure parameters (variance function, correlation), if any."""
    rows = []
    for label, struct in (("variance", getattr(model, "var_struct", None)),
                          ("correlation", getattr(model, "cor_struct", None))):
        if struct is None:
            continue
        for name, value in struct.params.items():
            rows.append({"Structure": f"{struct.name} ({label})", "Parameter": name,
                         "Estimate": format_real([value], 7)[0].strip()})
    return pd.DataFrame(rows) if rows else None


def model_html(model: FittedModel, title: str, coefficients: pd.DataFrame) -> str:
    """The HTML of a fitted model: header, fit statistics, random effects, fixed effects."""
    head = [f"<b>{html.escape(' '.join(title.split()))}</b>",
            f"Formula: {html.escape(model.formula)}"]
    if model.data_name:
        head.append(f"Data: {html.escape(model.data_name)}")
    groups = getattr(model, "ngrps", None) or {}
    obs = f"Number of obs: {model.nobs}"
    if groups:
        obs += ", groups: " + ", ".join(f"{html.escape(g)}, {n}" for g, n in groups.items())
    head.append(obs)
    parts = [_STYLE, '<div class="mixedfx-model">', "<p>" + "<br>".join(head) + "</p>",
             html_table(fit_statistics(model), "Fit statistics", index=False)]
    if hasattr(model, "varcorr"):
        parts.append(html_table(random_effects(model), "Random effects", index=False))
    structures = structure_parameters(model)
    if structures is not None:
        parts.append(html_table(structures, "Residual structure", index=False))
    parts.append(html_table(format_columns(coefficients), "Fixed effects"))
    parts.append("</div>")
    return "".join(parts)
