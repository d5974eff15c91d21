"""Contrast matrices for the F tests of fixed-effects terms, as lmerTest builds them.

* type I (`get_contrasts_type1`): the rows of the term's columns in Uᵀ, where XᵀX = LU is
  the Doolittle factorization (sequential tests);
* type III (`get_contrasts_type3`): with treatment coding X and the "full" indicator design
  X̄ = [1, model.matrix(~ 0 + term) for every term], L = zapsmall((X⁺X̄)ᵀ); then, from the
  highest-order term down, the columns of each term are replaced by their residuals after
  regressing on the columns of the terms that contain it (containing = all its variables
  and more, the same numeric variables). The term's hypothesis is the nonzero rows of the
  transposed columns, rows picked by X's column names. Other codings (contr.poly) are mapped
  back through zapsmall(X⁺X_orig);
* marginal (`get_contrasts_marginal`, used by drop1): rows of the identity for the term's
  columns.
A model with at most one column or one term gets the type I contrasts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.formula import build_design
from mixedfx.rformat import zapsmall

if TYPE_CHECKING:
    from mixedfx.frame.model_frame import ModelFrame


def doolittle(x: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """lmerTest's Doolittle LU factorization (unit lower L), with |·| < eps set to 0."""
    n = x.shape[0]
    L = np.eye(n)
    U = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            U[i, j] = x[i, j] - L[i, :i] @ U[:i, j]
        for j in range(i + 1, n):
            v = x[j, i] - L[j, :i] @ U[:i, i]
            L[j, i] = 0.0 if abs(U[i, i]) < eps else v / U[i, i]
    L[np.abs(L) < eps] = 0.0
    U[np.abs(U) < eps] = 0.0
    return L, U


def fixed_terms(frame: ModelFrame) -> list[str]:
    """R's `attr(terms, "term.labels")` of the fixed part."""
    return list(frame.fixed_design.term_names)


def term_columns(frame: ModelFrame) -> dict[str, list[int]]:
    """Term label -> indices of its columns among the kept columns of X."""
    col_terms = [frame.fixed_design.column_terms[j] for j in frame.kept_columns]
    out: dict[str, list[int]] = {}
    for j, t in enumerate(col_terms):
        out.setdefault(t, []).append(j)
    return out


def term_variables(frame: ModelFrame) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per term: its variables and its numeric variables (lmerTest's `containment`)."""
    spec: Any = frame.fixed_design
    labels = fixed_terms(frame)
    allv: dict[str, set[str]] = {}
    numv: dict[str, set[str]] = {}
    for label, term in zip(labels, spec.term_variables, strict=True):
        vs = [spec.encoded_variables[v] for v in term]
        allv[label] = {v.label for v in vs}
        numv[label] = {v.label for v in vs if v.kind == "numeric"}
    return allv, numv


def containment(frame: ModelFrame) -> dict[str, list[str]]:
    """For each term, the terms that contain it."""
    allv, numv = term_variables(frame)
    out = {}
    for t in allv:
        out[t] = [u for u in allv if allv[t] <= allv[u] and allv[u] - allv[t]
                  and numv[t] == numv[u]]
    return out


def marginal_terms(frame: ModelFrame) -> list[str]:
    """R's `drop.scope`: terms not contained (as variable sets) in another term."""
    allv, _ = term_variables(frame)
    return [t for t in allv if not any(allv[t] < allv[u] for u in allv if u != t)]


def type1_contrasts(frame: ModelFrame) -> dict[str, np.ndarray]:
    """Sequential (type I) contrasts from the Doolittle factorization of XᵀX."""
    X = frame.X
    p = X.shape[1]
    cols = term_columns(frame)
    labels = fixed_terms(frame)
    if p == 0:
        return {t: np.zeros((0, 0)) for t in labels}
    if p == 1 and frame.fixed_design.intercept:
        return {t: np.zeros((0, 1)) for t in labels}
    Lt = np.ones((1, 1)) if p == 1 else doolittle(X.T @ X)[0].T
    return {t: Lt[cols.get(t, []), :] for t in labels}


def marginal_contrasts(frame: ModelFrame) -> dict[str, np.ndarray]:
    """Identity rows of each term's columns (lmerTest's marginal contrasts)."""
    p = frame.X.shape[1]
    labels = fixed_terms(frame)
    if p <= 1 or len(labels) <= 1:
        return type1_contrasts(frame)
    cols = term_columns(frame)
    return {t: np.eye(p)[cols.get(t, []), :] for t in labels}


def _treatment_frame(data: pd.DataFrame) -> pd.DataFrame:
    """The data with ordered factors made unordered (so they get contr.treatment)."""
    out = data.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype) and out[c].cat.ordered:
            out[c] = out[c].cat.as_unordered()
    return out


def _full_rank_columns(X: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Columns kept by R's `qr(X, tol)` pivoting (LINPACK keeps the leading independent ones)."""
    keep: list[int] = []
    for j in range(X.shape[1]):
        trial = X[:, [*keep, j]]
        if np.linalg.matrix_rank(trial, tol=tol * max(1.0, np.abs(trial).max())) == \
                len(keep) + 1:
            keep.append(j)
    return np.array(keep, dtype=int)


def _residualize(L: np.ndarray, cols: list[int], by: list[int]) -> None:
    """In place: L[:, cols] <- zapsmall(residuals of regressing them on L[:, by])."""
    Xb = L[:, by]
    Y = L[:, cols]
    coef = np.linalg.lstsq(Xb, Y, rcond=None)[0]
    L[:, cols] = zapsmall(Y - Xb @ coef)


def _extract_type3(frame: ModelFrame, X: np.ndarray, xnames: list[str],
                   cols: dict[str, list[int]]) -> dict[str, np.ndarray]:
    labels = fixed_terms(frame)
    data = frame.frame
    blocks, names = [], []
    if frame.fixed_design.intercept:
        blocks.append(np.ones((len(data), 1)))
        names.append("(Intercept)")
    for t in labels:
        M, spec = build_design("0 + " + t, data)
        blocks.append(np.asarray(M, dtype=float))
        names.extend(spec.names)
    rdX = np.column_stack(blocks)
    L = zapsmall((np.linalg.pinv(X) @ rdX).T)           # (ncol rdX) × p
    contained = containment(frame)
    order = [len(v) for v in term_variables(frame)[0].values()]
    orthog = [labels[i] for i in sorted(range(len(labels)), key=lambda i: -order[i])]
    for t in orthog:
        if contained[t]:
            by = [j for u in contained[t] for j in cols.get(u, [])]
            if cols.get(t) and by:
                _residualize(L, cols[t], by)
    first = {}
    for i, nm in enumerate(names):
        first.setdefault(nm, i)
    rows = [first[nm] for nm in xnames]
    Lsel = L[rows, :]                                    # p × p
    out = {}
    for t in labels:
        Lt = Lsel[:, cols.get(t, [])].T
        out[t] = Lt[np.sum(np.abs(Lt), axis=1) > 1e-8, :]
    return out


def type3_contrasts(frame: ModelFrame) -> dict[str, np.ndarray]:
    """lmerTest's type III contrasts, one (rows × p) matrix per term."""
    labels = fixed_terms(frame)
    Xorig = frame.X
    if Xorig.shape[1] <= 1 or len(labels) <= 1:
        return type1_contrasts(frame)
    codings = set(frame.fixed_design.contrasts.values())
    xnames = list(frame.fixef_names)
    cols = term_columns(frame)
    if codings and codings <= {"contr.treatment"}:
        return _extract_type3(frame, Xorig, xnames, cols)
    tdata = _treatment_frame(frame.frame)
    Xt_full, spec = build_design(frame.formula.fixed_rhs, tdata)
    Xt_full = np.asarray(Xt_full, dtype=float)
    keep = _full_rank_columns(Xt_full)
    Xt = Xt_full[:, keep]
    tnames = [spec.names[j] for j in keep]
    tcols: dict[str, list[int]] = {}
    for j, k in enumerate(keep):
        tcols.setdefault(spec.column_terms[k], []).append(j)
    ctr = _extract_type3(frame, Xt, tnames, tcols)
    mapping = zapsmall(np.linalg.pinv(Xt) @ Xorig)
    return {t: ctr[t] @ mapping for t in labels}
