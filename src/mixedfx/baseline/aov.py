"""Analysis of variance with error strata: R's `summary(aov(y ~ terms + Error(strata), data))`.

The Error() formula (`subject / (A * B)` = subject + subject:A + subject:B + subject:A:B,
with an intercept) is fitted first: its columns, in term order with linearly dependent ones
dropped, are orthonormalized (E = QR); the columns belonging to one error term span that
term's stratum, the intercept's column the "(Intercept)" stratum (not printed), and the
orthogonal complement of E the "Within" stratum (when it is not empty). In each stratum S
with orthonormal basis Q_S the treatment model is projected, y_S = Q_Sᵀy and X_S = Q_SᵀX
(the Within stratum uses the residual projection (I − QQᵀ), which gives the same sums of
squares); columns of X_S with squared norm ≤ 1e-5 are dropped, the rest enter in order, a
column whose norm falls below 1e-7 of its own once the earlier ones are projected out is
aliased (`lm.fit`'s rule). A term's sum of squares is Σ e_j² over its columns' effects
e = Q_Xᵀ y_S, on as many df as those columns; the residual is what is left, on
n_S − rank df; F = MS_term/MS_res as `summary.aov`.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.baseline.base import baseline_frame
from mixedfx.errors import ArgumentError, DataError, FormulaError
from mixedfx.fitted.varcorr_print import html_pre
from mixedfx.formula import parse_formula
from mixedfx.frame.model_frame import MissingDataWarning, as_pandas
from mixedfx.frame.rank import orthonormal_basis
from mixedfx.inference.contrasts import term_columns
from mixedfx.inference.fixed_anova import AnovaTable, make_table
from mixedfx.lazy import lazy_module
from mixedfx.rformat import print_anova
from mixedfx.warn import warn

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here

ERROR_TERM = re.compile(r"(\+\s*)?\bError\s*\(")
ZERO_COLUMN = 1e-5            # aov: colSums(xi^2) > 1e-5


class AovStrata(dict):
    """{"Error: subject": table, ...}: one `AnovaTable` per stratum (`Df`, `Sum Sq`,
    `Mean Sq`, `F value`, `Pr(>F)`), printed as R prints `summary(aov(...))`."""

    def __str__(self) -> str:
        parts = []
        for name, table in self.items():          # print.summary.aov: digits = 7 − 3
            parts += ["", name, print_anova(pd.DataFrame(table), [], digits=4)]
        return "\n".join(parts)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return html_pre(str(self))


def split_error(formula: str) -> tuple[str, str]:
    """("y ~ A * B", "subject / (A * B)") from "y ~ A * B + Error(subject / (A * B))"."""
    matches = list(ERROR_TERM.finditer(formula))
    if len(matches) != 1:
        raise FormulaError(f"aov formulas need exactly one Error(...) term, got {formula!r}; "
                           "without error strata use mfx.anova(mfx.lm(formula, data))")
    m = matches[0]
    depth, end = 1, m.end()
    while end < len(formula) and depth:
        depth += {"(": 1, ")": -1}.get(formula[end], 0)
        end += 1
    if depth:
        raise FormulaError(f"unbalanced parentheses in Error(...) of {formula!r}")
    inner = formula[m.end():end - 1].strip()
    rest = (formula[:m.start()] + formula[end:]).strip()
    if rest.endswith("~"):
        rest += " 1"
    return rest, inner


def _stratum_table(y: np.ndarray, X: np.ndarray, col_term: list[str],
                   n_rows: int | None = None) -> AnovaTable:
    """`summary.aov` of the projected model in one stratum of dimension `n_rows` (the rows
    of y by default); the intercept row is left out."""
    use = np.flatnonzero(np.sum(X * X, axis=0) > ZERO_COLUMN)
    Q, kept = orthonormal_basis(X[:, use])
    effects = Q.T @ y
    rdf = (len(y) if n_rows is None else n_rows) - len(kept)
    rows, names = [], []
    for term in dict.fromkeys(col_term[use[j]] for j in kept):
        idx = [i for i, j in enumerate(kept) if col_term[use[j]] == term]
        if term == "(Intercept)":
            continue
        ss = float(np.sum(effects[idx] ** 2))
        rows.append({"Df": len(idx), "Sum Sq": ss, "Mean Sq": ss / len(idx)})
        names.append(term)
    columns = ["Df", "Sum Sq", "Mean Sq"]
    if rdf > 0:
        rss = max(float(y @ y - effects @ effects), 0.0)
        ms_res = rss / rdf
        for row in rows:
            f = row["Mean Sq"] / ms_res
            row["F value"], row["Pr(>F)"] = f, float(stats.f.sf(f, row["Df"], rdf))
        rows.append({"Df": rdf, "Sum Sq": rss, "Mean Sq": ms_res})
        names.append("Residuals")
        columns += ["F value", "Pr(>F)"]
    return make_table(rows, names, columns, [])


def _complete_rows(data: pd.DataFrame, formulas: list[str], na_action: str) -> pd.DataFrame:
    """The rows without missing values in any variable of the formulas (R's na.omit of the
    model frame of the treatment and Error() variables together)."""
    if na_action not in ("omit", "fail"):
        raise ArgumentError(f"na_action must be 'omit' or 'fail', got {na_action!r}")
    columns = list(map(str, data.columns))
    used = list(dict.fromkeys(v for f in formulas for v in parse_formula(f, columns).variables))
    missing = data[used].isna().any(axis=1).to_numpy()
    n = int(missing.sum())
    if n == 0:
        return data
    if na_action == "fail":
        raise DataError(f"missing values in {n} row(s) of the model's variables "
                        "(na_action='fail')")
    warn(f"{n} observation(s) deleted due to missingness", MissingDataWarning)
    return data.loc[~missing]


def aov(formula: str, data: Any, na_action: str = "omit") -> AovStrata:
    """R's `summary(aov(formula, data))` for a formula with an `Error()` term: a dict of
    ANOVA tables by stratum, keyed "Error: subject", "Error: subject:A", ..., "Error: Within"
    (see the module docstring)."""
    if not isinstance(formula, str):
        raise ArgumentError(f"formula must be a string, got {type(formula).__name__}")
    treatment, error = split_error(formula)
    lhs = treatment.split("~", 1)[0].strip()
    if not lhs:
        raise FormulaError(f"aov needs a response on the left of '~', got {formula!r}")
    error_formula = f"{lhs} ~ {error}"
    variables = _complete_rows(as_pandas(data), [treatment, error_formula], na_action)
    frame = baseline_frame(treatment, variables, None, None, na_action, glm=False, what="aov")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # the error model's aliased columns are dropped
        eframe = baseline_frame(error_formula, variables, None, None, na_action, glm=False,
                                what="aov Error()")
    col_term = [frame.fixed_design.column_terms[j] for j in frame.kept_columns]
    e_terms = [(t, cols) for t, cols in term_columns(eframe).items()]
    Qe, kept = orthonormal_basis(eframe.X)
    if eframe.dropped_columns or len(kept) < eframe.X.shape[1]:
        warn("Error() model is singular", UserWarning)
    y, X = frame.y, frame.X
    out = AovStrata()
    for name, cols in e_terms:
        idx = [i for i, j in enumerate(kept) if j in set(cols)]
        if not idx or name == "(Intercept)":
            continue
        Qs = Qe[:, idx]
        out[f"Error: {name}"] = _stratum_table(Qs.T @ y, Qs.T @ X, col_term)
    if Qe.shape[1] < frame.n:
        resid_y = y - Qe @ (Qe.T @ y)
        resid_X = X - Qe @ (Qe.T @ X)
        out["Error: Within"] = _stratum_table(resid_y, resid_X, col_term, frame.n - Qe.shape[1])
    return out
