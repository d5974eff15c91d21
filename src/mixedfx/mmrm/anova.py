"""Contrast matrices of the fixed-effects terms for the MMRM's F tests.

Type III: lmerTest's construction (`mixedfx.inference.contrasts.type3_contrasts`), which for
treatment-coded factors gives SAS's Type III hypotheses (each term tested with the terms
containing it orthogonalized away).

Type II (SAS's, as mmrm's `h_type2_contrast`): for term T with columns X₁, L has the
identity on X₁; for every term U containing T's variables (its extra variables all
factors), with X₂ its columns and X₀ the remaining columns, M = I − X₀X₀⁺,
L[:, U] = (X₁ᵀMX₁)⁻¹X₁ᵀMX₂ (M X₁ computed as a least-squares residual, never n × n).
Models with an intercept (terms without one: Type III).
"""

from __future__ import annotations

import numpy as np

from mixedfx.errors import ArgumentError
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.inference.contrasts import term_columns, term_variables, type3_contrasts


def term_contrasts(frame: ModelFrame, type: int | str = 3) -> dict[str, np.ndarray]:
    """One contrast matrix per term (R's term labels, in formula order)."""
    key = str(type).upper()
    if key in ("3", "III"):
        return type3_contrasts(frame)
    if key in ("2", "II"):
        if not frame.fixed_design.intercept:
            raise ArgumentError("type=2 needs a model with an intercept; use type=3")
        return type2_contrasts(frame)
    raise ArgumentError(f"type must be 2 or 3 (or 'II', 'III'), got {type!r}")


def type2_contrasts(frame: ModelFrame, tol: float = 1.5e-8) -> dict[str, np.ndarray]:
    """SAS's Type II contrasts, one (rows × p) matrix per term (see the module docstring)."""
    X = frame.X
    p = X.shape[1]
    allv, numv = term_variables(frame)
    cols = {t: c for t, c in term_columns(frame).items() if t in allv}
    out = {}
    for t, ct in cols.items():
        L = np.zeros((len(ct), p))
        L[:, ct] = np.eye(len(ct))
        for u, cu in cols.items():
            extra = allv[u] - allv[t]
            if u == t or not allv[t] <= allv[u] or (extra & numv[u]):
                continue
            rest = [j for j in range(p) if j not in ct and j not in cu]
            X1, X2, X0 = X[:, ct], X[:, cu], X[:, rest]
            MX1 = X1 - X0 @ np.linalg.lstsq(X0, X1, rcond=None)[0]
            L[:, cu] = np.linalg.solve(MX1.T @ MX1, MX1.T @ X2)
        L[np.abs(L) < tol] = 0.0
        out[t] = L
    return out
