"""Detecting and dropping linearly dependent fixed-effects columns, as lme4 does.

lme4 keeps the columns R's pivoting QR (tolerance 1e-7) puts first; R's LINPACK QR moves a
column to the end only when its residual norm, after projecting out the columns kept before
it, is negligible relative to its original norm. The same sequential rule is applied here.
"""

from __future__ import annotations

import numpy as np


def independent_columns(X: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Indices of the columns kept: each kept column is not (nearly) in the span of earlier ones."""
    n, p = X.shape
    keep: list[int] = []
    Q = np.zeros((n, 0))
    for j in range(p):
        x = X[:, j]
        norm = np.linalg.norm(x)
        if norm == 0:
            continue
        resid = x - Q @ (Q.T @ x)
        resid = resid - Q @ (Q.T @ resid)
        rnorm = np.linalg.norm(resid)
        if rnorm > tol * norm:
            keep.append(j)
            Q = np.column_stack([Q, resid / rnorm])
    return np.asarray(keep, dtype=np.int64)
