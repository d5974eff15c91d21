"""Cross-products of the augmented matrix [Z X y], computed once per model.

Partition the columns as (Z₁ | Z_rest, X, y) where Z₁ is the term with the most levels.
Stored pieces (with √w applied to every row when prior weights are present):

* `A11`  (n₁, k₁, k₁)   the block-diagonal Z₁ᵀZ₁, one k₁×k₁ block per level;
* `B`    (r × q₁)       [Z_rest X y]ᵀ Z₁, sparse (CSR) — X and y rows are dense in it;
* `Arr`  (r × r)        [Z_rest X y]ᵀ [Z_rest X y], dense.

Everything the profiled deviance needs for any θ is a function of these: no later step touches
the n rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mixedfx.frame.terms import RandomEffectsTerm


@dataclass
class CrossProducts:
    """The blocks of [Z X y]ᵀ W [Z X y] needed by the blocked Cholesky."""

    A11: np.ndarray
    B: sp.csr_matrix
    Arr: np.ndarray
    q_rest: int
    p: int
    n: int
    rest_offsets: list[int]

    @property
    def r(self) -> int:
        """Size of the dense trailing block: rest random effects + p + 1."""
        return self.Arr.shape[0]


def _term_columns(term: RandomEffectsTerm) -> tuple[np.ndarray, np.ndarray]:
    """Column index and value of every nonzero of Z_t, each (n, k)."""
    k = term.k
    cols = term.codes[:, None] * k + np.arange(k)[None, :]
    return cols, term.values


def _sparse_z(term: RandomEffectsTerm, n: int) -> sp.csr_matrix:
    cols, vals = _term_columns(term)
    rows = np.repeat(np.arange(n), term.k)
    return sp.csr_matrix((vals.ravel(), (rows, cols.ravel())), shape=(n, term.q))


def compute_crossproducts(
    terms: list[RandomEffectsTerm], X: np.ndarray, y: np.ndarray, sqrt_w: np.ndarray | None
) -> CrossProducts:
    """Blocks of [Z X y]ᵀ W [Z X y] for terms already ordered by decreasing number of levels."""
    n, p = X.shape
    Xy = np.column_stack([X, y])
    first, rest = terms[0], terms[1:]
    V1 = first.values
    if sqrt_w is not None:
        Xy = Xy * sqrt_w[:, None]
        V1 = V1 * sqrt_w[:, None]
    k1, n1 = first.k, first.n_levels

    A11 = np.empty((n1, k1, k1))
    for a in range(k1):
        for b in range(a, k1):
            s = np.bincount(first.codes, weights=V1[:, a] * V1[:, b], minlength=n1)
            A11[:, a, b] = s
            A11[:, b, a] = s

    # X̃ᵀZ₁ : dense (p+1) × q₁
    XyZ1 = np.empty((p + 1, n1 * k1))
    for c in range(p + 1):
        for b in range(k1):
            XyZ1[c, b::k1] = np.bincount(first.codes, weights=Xy[:, c] * V1[:, b], minlength=n1)

    Z1 = _sparse_z(first, n)
    if sqrt_w is not None:
        Z1 = sp.diags(sqrt_w) @ Z1
    rest_offsets = [0]
    z_blocks = []
    for term in rest:
        Zt = _sparse_z(term, n)
        if sqrt_w is not None:
            Zt = sp.diags(sqrt_w) @ Zt
        z_blocks.append(Zt.tocsc())
        rest_offsets.append(rest_offsets[-1] + term.q)
    q_rest = rest_offsets[-1]

    if z_blocks:
        Zr = sp.hstack(z_blocks, format="csc")
        Bz = (Zr.T @ Z1).tocsr()
        B = sp.vstack([Bz, sp.csr_matrix(XyZ1)], format="csr")
        ZrZr = (Zr.T @ Zr).toarray()
        ZrXy = np.asarray(Zr.T @ Xy)
        Arr = np.block([[ZrZr, ZrXy], [ZrXy.T, Xy.T @ Xy]])
    else:
        B = sp.csr_matrix(XyZ1)
        Arr = Xy.T @ Xy
    B.sum_duplicates()
    B.sort_indices()
    return CrossProducts(A11=A11, B=B, Arr=np.ascontiguousarray(Arr), q_rest=q_rest, p=p, n=n,
                         rest_offsets=rest_offsets)
