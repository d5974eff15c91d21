"""Detecting and dropping linearly dependent fixed-effects columns, as lme4 does.

lme4 keeps the columns R's pivoting QR (tolerance 1e-7) puts first; R's LINPACK QR moves a
column to the end only when its residual norm, after projecting out the columns kept before
it, is negligible relative to its original norm. The same sequential rule is applied here.
"""

from __future__ import annotations

import math
from itertools import chain

import numpy as np

from mixedfx.native import kernel


def independent_columns(X: np.ndarray, tol: float = 1e-7, gram: np.ndarray | None = None,
                        clear: bool | None = None) -> np.ndarray:
    """Indices of the columns kept: each kept column is not (nearly) in the span of earlier
    ones. `gram`: XᵀX, if the caller has it; `clear`: `_clearly_independent(X)` if the
    caller has it (`clear_pivots`)."""
    n, p = X.shape
    if 0 < p <= n and tol <= _CLEAR and (
            clear if clear is not None else _clearly_independent(X, gram)):
        return np.arange(p, dtype=np.int64)
    return np.asarray(orthonormal_basis(X, tol)[1], dtype=np.int64)


_CLEAR = 1e-3


def _clearly_independent(X: np.ndarray, G: np.ndarray | None = None) -> bool:
    """Whether every column is far from the span of the earlier ones, read from the p × p
    Gram matrix in one pass over X: the Cholesky pivot L_jj of G = XᵀX is column j's
    residual norm after projecting out columns 0..j-1. All L_jj > 10⁻³·‖x_j‖ means the
    sequential rule keeps every column: Cholesky's error is invariant to column scaling and,
    with every pivot that large, about p·ε·10⁶ ≪ 10⁻⁶ in these squared ratios, so no
    decision at the rule's 10⁻⁷ can differ. Otherwise (nearly dependent, zero or non-finite
    columns) the caller runs Gram–Schmidt. `G`: XᵀX, if computed already."""
    G = X.T @ X if G is None else G
    if X.shape[1] <= _SMALL_P:
        return _clear_pivots(G.tolist())
    d = np.sqrt(np.diag(G))
    if not (np.all(np.isfinite(G)) and np.all(d > 0)):
        return False
    try:
        L = np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        return False
    return bool(np.all(np.diag(L) > _CLEAR * d))


_SMALL_P = 6


def clear_pivots(X: np.ndarray) -> bool | None:
    """`_clearly_independent(X)` for X of 1..6 columns and at least as many rows, by the
    compiled kernel (`frame.clear_pivots`: XᵀX summed row by row, then `_clear_pivots`'
    elimination), which spares NumPy's product and the Python loop; None when it does not
    apply (the kernel not built, X not a C-ordered float64 array of that shape) or XᵀX has
    a diagonal entry above 1e300: a product NumPy forms might then overflow, which it warns
    about (with every diagonal entry at most 1e300, no partial sum of XᵀX, in any order, is
    larger: Cauchy–Schwarz). The decision keeps every column only when the pivots clear the
    10⁻³ margin, which rounding in another summation order cannot move across the rule's
    10⁻⁷ (see `_clearly_independent`): the kept columns are the same either way."""
    n, p = X.shape
    k = kernel("frame")
    if k is None or not 0 < p <= min(n, _SMALL_P) or X.dtype != np.float64 \
            or not X.flags.c_contiguous:
        return None
    found = k.clear_pivots(X)
    return None if found < 0 else found == 1


def _clear_pivots(G: list[list[float]]) -> bool:
    """`_clearly_independent`'s test for a small Gram matrix (given as lists), in Python
    floats (for a few columns NumPy's per-call overhead costs more than the arithmetic): the
    pivots of Gaussian elimination on a symmetric positive definite G are the squared
    Cholesky pivots L_jj², so the test is pivot_j > 10⁻⁶·G_jj. A pivot that is not positive
    (or not a number) fails it, as LAPACK's Cholesky does; the 10⁻³ margin makes the
    decision insensitive to rounding order. Only the upper triangle is updated."""
    if not all(map(math.isfinite, chain.from_iterable(G))):
        return False
    p = len(G)
    A = [row[:] for row in G]
    for j in range(p):
        gjj = G[j][j]
        Aj = A[j]
        pivot = Aj[j]
        if not (gjj > 0 and pivot > _CLEAR * _CLEAR * gjj):
            return False
        for i in range(j + 1, p):
            f = Aj[i] / pivot
            if f:
                Ai = A[i]
                for k in range(i, p):
                    Ai[k] -= f * Aj[k]
    return True


def orthonormal_basis(X: np.ndarray, tol: float = 1e-7) -> tuple[np.ndarray, list[int]]:
    """(Q, kept): the kept columns (the rule above) and an orthonormal basis Q of their span
    whose first k columns span the first k kept columns (Gram–Schmidt, reorthogonalized).

    The columns are processed as contiguous rows of Xᵀ (a tall X's columns are strided)."""
    n, p = X.shape
    Xt = np.array(X.T, dtype=float, order="C")
    Qt = np.empty((min(n, p), n))
    keep: list[int] = []
    for j in range(p):
        if len(keep) == n:      # the kept columns span R^n: every later column is dependent
            break
        x = Xt[j]
        norm = np.linalg.norm(x)
        if norm == 0:
            continue
        k = len(keep)
        resid = x
        if k:
            B = Qt[:k]
            resid = x - (B @ x) @ B
            resid -= (B @ resid) @ B
        rnorm = np.linalg.norm(resid)
        if rnorm > tol * norm:
            Qt[k] = resid / rnorm
            keep.append(j)
    return Qt[:len(keep)].T, keep
