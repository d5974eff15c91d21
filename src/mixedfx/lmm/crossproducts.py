"""Cross-products of the augmented matrix [Z X y], computed once per model.

Partition the columns as (Z₁ | Z_rest, X, y) where Z₁ is the term with the most levels.
Stored pieces (with √w applied to every row when prior weights are present):

* `A11`  (n₁, k₁, k₁)   the block-diagonal Z₁ᵀZ₁, one k₁×k₁ block per level;
* `B`    (r × q₁)       [Z_rest X y]ᵀ Z₁: dense when small, else sparse (CSR; X and y rows
                         are dense in it);
* `Arr`  (r × r)        [Z_rest X y]ᵀ [Z_rest X y], dense.

Everything the profiled deviance needs for any θ is a function of these: no later step touches
the n rows.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from mixedfx.frame.terms import RandomEffectsTerm
from mixedfx.lazy import lazy_module
from mixedfx.lmm.row_order import CanonicalOrder, permuted_terms
from mixedfx.native import kernel

sp = lazy_module("scipy.sparse")  # ~0.1 s at import (with scipy.sparse.linalg); only here


@dataclass
class CrossProducts:
    """The blocks of [Z X y]ᵀ W [Z X y] needed by the blocked Cholesky."""

    A11: np.ndarray
    B: sp.csr_matrix | np.ndarray
    Arr: np.ndarray
    q_rest: int
    p: int
    n: int
    rest_offsets: list[int]

    @property
    def r(self) -> int:
        """Size of the dense trailing block: rest random effects + p + 1."""
        return self.Arr.shape[0]


DENSE_B_LIMIT = 20_000_000   # r·r·q₁ (flops of B W Bᵀ) below which B is kept dense


def dense_b(q: int, p: int, q1: int) -> bool:
    """Whether B (r × q₁, r = q + p + 1) is kept dense: always without other terms (q = 0),
    else while B W Bᵀ costs at most `DENSE_B_LIMIT` flops and Z_restᵀZ₁ has at most 5·10⁶
    entries."""
    r = q + p + 1
    return q == 0 or (r * r * q1 <= DENSE_B_LIMIT and q * q1 <= 5_000_000)


class CrossProductBuilder:
    """Precomputed index structure of [Z X y]ᵀ W [Z X y] for fixed Z and X.

    Everything that depends only on the grouping codes and the term values (positions of
    each row's products in every block) is computed once; `compute(y, sqrt_w)` then needs a
    handful of `bincount`s and one sparse-dense product per call. PIRLS calls it at every
    iteration with new weights and working response.
    """

    def __init__(self, terms: list[RandomEffectsTerm], X: np.ndarray) -> None:
        self.terms = terms
        self.X = X
        n, p = X.shape
        self.n, self.p = n, p
        first, rest = terms[0], terms[1:]
        self.k1, self.n1 = first.k, first.n_levels
        self.q1 = first.q
        self.rest_offsets = [0]
        for t in rest:
            self.rest_offsets.append(self.rest_offsets[-1] + t.q)
        q = self.q_rest = self.rest_offsets[-1]
        self.dense_B = dense_b(q, p, self.q1)
        # Z₁ᵀ as CSR (q₁ × n) for Z₁ᵀ W [X y]
        self.Z1T = _sparse_zt(first, n)[0]
        # rows of B from Z_rest: every (row i, a, b) product's position in B
        pos, vals = [], []
        for t, off in zip(rest, self.rest_offsets[:-1], strict=True):
            for a in range(t.k):
                for b in range(self.k1):
                    row = off + t.codes * t.k + a
                    col = first.codes * self.k1 + b
                    pos.append(row.astype(np.int64) * self.q1 + col)
                    vals.append(t.values[:, a] * first.values[:, b])
        if q:
            key = np.concatenate(pos)
            self.B_vals = _unless_ones(np.concatenate(vals))
            self.B_rowidx = None if len(pos) == 1 else np.tile(np.arange(n), len(pos))
            if self.dense_B:
                self.B_pos = key
            else:
                ukey, self.B_pos = np.unique(key, return_inverse=True)
                self.B_rows = ukey // self.q1
                self.B_cols = ukey % self.q1
                self.B_nnz = len(ukey)
            # Z_rest ᵀ Z_rest (dense q × q) positions
            zz_pos, zz_vals = [], []
            for t, ot in zip(rest, self.rest_offsets[:-1], strict=True):
                for s_, os_ in zip(rest, self.rest_offsets[:-1], strict=True):
                    for a in range(t.k):
                        for b in range(s_.k):
                            ra = ot + t.codes * t.k + a
                            cb = os_ + s_.codes * s_.k + b
                            zz_pos.append(ra.astype(np.int64) * q + cb)
                            zz_vals.append(t.values[:, a] * s_.values[:, b])
            self.ZZ_pos = np.concatenate(zz_pos)
            self.ZZ_vals = _unless_ones(np.concatenate(zz_vals))
            self.ZZ_rowidx = None if len(zz_pos) == 1 else np.tile(np.arange(n), len(zz_pos))
            self.ZrT = _stack_rows([_sparse_zt(t, n)[0] for t in rest], n)
        # A₁₁ products
        self.A11_vals = [(a, b, _unless_ones(first.values[:, a] * first.values[:, b]))
                         for a in range(self.k1) for b in range(a, self.k1)]

    def with_values(self, terms: list[RandomEffectsTerm], X: np.ndarray) -> CrossProductBuilder:
        """A builder for the same grouping codes with new term values and X (rows whitened
        within groups that are nested in every grouping factor): the positions of every
        product are reused, only the products and the sparse matrices' values are new."""
        new = copy.copy(self)
        new.terms, new.X = terms, X
        first, rest = terms[0], terms[1:]
        # where each stored value of Zᵀ comes from in the terms' raveled values (computed
        # here, not at construction: only structured fits need it)
        _, z1_order = _sparse_zt(self.terms[0], self.n)
        new.Z1T = _with_data(self.Z1T, first.values.ravel()[z1_order])
        if self.q_rest:
            vals = [t.values[:, a] * first.values[:, b]
                    for t in rest for a in range(t.k) for b in range(self.k1)]
            new.B_vals = np.concatenate(vals)
            zz = [t.values[:, a] * s_.values[:, b]
                  for t in rest for s_ in rest for a in range(t.k) for b in range(s_.k)]
            new.ZZ_vals = np.concatenate(zz)
            flat = np.concatenate([t.values.ravel() for t in rest])
            _, zr_order = _sparse_zt_rest(self.terms[1:], self.n)
            new.ZrT = _with_data(self.ZrT, flat[zr_order])
        new.A11_vals = [(a, b, first.values[:, a] * first.values[:, b])
                        for a in range(self.k1) for b in range(a, self.k1)]
        return new

    def compute(self, y: np.ndarray, sqrt_w: np.ndarray | None) -> CrossProducts:
        n, p, q, q1, k1, n1 = self.n, self.p, self.q_rest, self.q1, self.k1, self.n1
        first = self.terms[0]
        w = np.ones(n) if sqrt_w is None else sqrt_w * sqrt_w
        Xy = np.empty((n, p + 1))
        Xy[:, :p] = self.X
        Xy[:, p] = y
        WXy = Xy * w[:, None]
        A11 = np.empty((n1, k1, k1))
        for a, b, v in self.A11_vals:
            s = np.bincount(first.codes, weights=w if v is None else w * v, minlength=n1)
            A11[:, a, b] = s
            A11[:, b, a] = s
        XyZ1 = np.asarray(self.Z1T @ WXy).T                      # (p+1) × q₁
        if q:
            bw = _weighted(w, self.B_rowidx, self.B_vals)
            Arr = np.empty((q + p + 1, q + p + 1))
            Arr[:q, :q] = np.bincount(self.ZZ_pos,
                                      weights=_weighted(w, self.ZZ_rowidx, self.ZZ_vals),
                                      minlength=q * q).reshape(q, q)
            ZrXy = self.ZrT @ WXy
            Arr[:q, q:] = ZrXy
            Arr[q:, :q] = ZrXy.T
            Arr[q:, q:] = Xy.T @ WXy
            if self.dense_B:
                Bz = np.bincount(self.B_pos, weights=bw, minlength=q * q1).reshape(q, q1)
                B = np.vstack([Bz, XyZ1])
            else:
                data = np.bincount(self.B_pos, weights=bw, minlength=self.B_nnz)
                Bz = sp.csr_matrix((data, (self.B_rows, self.B_cols)), shape=(q, q1))
                B = sp.vstack([Bz, sp.csr_matrix(XyZ1)], format="csr")
                B.sort_indices()
        else:
            Arr = Xy.T @ WXy
            B = XyZ1
        return CrossProducts(A11=A11, B=B, Arr=Arr, q_rest=q, p=p, n=n,
                             rest_offsets=self.rest_offsets)


    def compute_response(self, base: CrossProducts, y: np.ndarray, sqrt_w: np.ndarray | None
                         ) -> CrossProducts:
        """`compute(y, sqrt_w)` for a new response, from the cross-products `base` this
        builder computed with the same weights: the blocks without y (A₁₁, Z_restᵀWZ_rest
        and Z_restᵀWZ₁) are shared with `base` (never modified), and every block with y is
        computed by the same operations as `compute`, so the numbers are the same bits."""
        if not isinstance(base.B, np.ndarray) or not (self.dense_B or not self.q_rest):
            return self.compute(y, sqrt_w)
        n, p, q = self.n, self.p, self.q_rest
        w = np.ones(n) if sqrt_w is None else sqrt_w * sqrt_w
        Xy = np.empty((n, p + 1))
        Xy[:, :p] = self.X
        Xy[:, p] = y
        WXy = Xy * w[:, None]
        XyZ1 = np.asarray(self.Z1T @ WXy).T                      # (p+1) × q₁
        if q:
            Arr = np.empty((q + p + 1, q + p + 1))
            Arr[:q, :q] = base.Arr[:q, :q]
            ZrXy = self.ZrT @ WXy
            Arr[:q, q:] = ZrXy
            Arr[q:, :q] = ZrXy.T
            Arr[q:, q:] = Xy.T @ WXy
            B = np.vstack([base.B[:q], XyZ1])
        else:
            Arr = Xy.T @ WXy
            B = XyZ1
        return CrossProducts(A11=base.A11, B=B, Arr=Arr, q_rest=q, p=p, n=n,
                             rest_offsets=self.rest_offsets)


def _unless_ones(values: np.ndarray) -> np.ndarray | None:
    """None for an all-ones product vector (intercept terms), so it is never multiplied."""
    return None if np.all(values == 1.0) else values


def _weighted(w: np.ndarray, rowidx: np.ndarray | None, values: np.ndarray | None
              ) -> np.ndarray:
    """w gathered to each stored product (rows repeat once per product block) times the
    products' values."""
    wr = w if rowidx is None else w[rowidx]
    return wr if values is None else wr * values


def _with_data(m: sp.csr_matrix, data: np.ndarray) -> sp.csr_matrix:
    """The same sparsity pattern with new values."""
    return sp.csr_matrix((data, m.indices, m.indptr), shape=m.shape)


def _sparse_zt(term: RandomEffectsTerm, n: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Z_tᵀ as CSR and, for each stored value, its index in `term.values.ravel()`.

    Built directly in CSR form (no COO → CSR → transpose → CSR conversions, which cost more
    than the whole cross-product computation of a small model): row j·k + a of Z_tᵀ holds
    values[i, a] of the rows i at level j in increasing i, zeros included, which is exactly
    what `_sparse_z(term, n).T.tocsr()` stores."""
    k, codes = term.k, term.codes
    rows = np.argsort(codes, kind="stable")            # the rows level by level, i ascending
    counts = np.bincount(codes, minlength=term.n_levels)
    starts = np.cumsum(counts) - counts                # first position of each level in rows
    level = codes[rows]
    within = np.arange(n) - starts[level]
    # entry (rows[p], a) goes to slot k·start(level) + a·count(level) + its place in the level
    slot = (k * starts[level] + within)[:, None] + counts[level][:, None] * np.arange(k)
    order = np.empty(n * k, dtype=np.int64)
    order[slot.ravel()] = (rows[:, None] * k + np.arange(k)).ravel()
    indices = np.empty(n * k, dtype=np.int32 if n < 2**31 else np.int64)
    indices[slot.ravel()] = np.repeat(rows, k)
    indptr = np.zeros(term.q + 1, dtype=indices.dtype)
    np.cumsum(np.repeat(counts, k), out=indptr[1:])
    ZT = sp.csr_matrix((term.values.ravel()[order], indices, indptr), shape=(term.q, n))
    return ZT, order


def _stack_rows(blocks: list[sp.csr_matrix], n: int) -> sp.csr_matrix:
    """The CSR matrices (n columns each) stacked by rows, their stored entries kept in
    order (what `sp.vstack` gives, without its format conversions)."""
    if len(blocks) == 1:
        return blocks[0]
    offsets = np.cumsum([0] + [b.nnz for b in blocks[:-1]])
    indptr = np.concatenate([blocks[0].indptr[:1]] +
                            [b.indptr[1:] + off for b, off in zip(blocks, offsets, strict=True)])
    data = np.concatenate([b.data for b in blocks])
    indices = np.concatenate([b.indices for b in blocks])
    return sp.csr_matrix((data, indices, indptr.astype(indices.dtype)),
                         shape=(sum(b.shape[0] for b in blocks), n))


def _sparse_zt_rest(rest: list[RandomEffectsTerm], n: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """[Z_2 … Z_m]ᵀ as CSR and each stored value's index in the concatenated raveled
    values of the terms."""
    ZrT = sp.hstack([_sparse_z(t, n) for t in rest], format="csc").T.tocsr()
    offsets = np.cumsum([0] + [n * t.k for t in rest])
    labelled = [_sparse_z(t, n, off + np.arange(1, n * t.k + 1, dtype=float))
                for t, off in zip(rest, offsets[:-1], strict=True)]
    order = sp.hstack(labelled, format="csc").T.tocsr().data
    return ZrT, order.astype(np.int64) - 1


def _sparse_z(term: RandomEffectsTerm, n: int, data: np.ndarray | None = None
              ) -> sp.csr_matrix:
    k = term.k
    cols = term.codes[:, None] * k + np.arange(k)[None, :]
    rows = np.repeat(np.arange(n), k)
    values = term.values.ravel() if data is None else data
    return sp.csr_matrix((values, (rows, cols.ravel())), shape=(n, term.q))


def compute_crossproducts(
    terms: list[RandomEffectsTerm], X: np.ndarray, y: np.ndarray, sqrt_w: np.ndarray | None
) -> CrossProducts:
    """Blocks of [Z X y]ᵀ W [Z X y] for terms already ordered by decreasing number of levels,
    accumulated over the rows in the model's canonical order (`lmm.row_order`), so that the
    blocks do not depend on the order of the data's rows. A dense B comes from the compiled
    kernel (`direct_crossproducts`), the same bits as the builder's."""
    xp = direct_crossproducts(terms, X, y, sqrt_w)
    if xp is not None:
        return xp
    canon = CanonicalOrder(terms, X, sqrt_w)
    return canonical_builder(terms, X, canon).compute(
        *canonical_response(canon, y, sqrt_w))


MAX_COMPILED_TERMS = 64     # terms the compiled cross-products take


def int_codes(codes: np.ndarray) -> np.ndarray:
    """Grouping codes as a C-contiguous int32 or int64 array (what the kernel reads)."""
    codes = np.ascontiguousarray(codes)
    return codes if codes.dtype in (np.int32, np.int64) else codes.astype(np.int64)


def direct_crossproducts(terms: list[RandomEffectsTerm], X: np.ndarray, y: np.ndarray,
                         sqrt_w: np.ndarray | None) -> CrossProducts | None:
    """`compute_crossproducts` in one pass over the rows from the grouping codes (no Z as a
    sparse matrix, no builder), when B is dense (`dense_b`) and the lmm kernel is built;
    None otherwise. The kernel forms every product and sum as the builder's `compute` does,
    over the rows in the canonical order (found in C when the rows already are in it, by
    `CanonicalOrder` otherwise), and Xᵀ W X with y is the same BLAS product, so the blocks
    are the same bits."""
    cross = getattr(kernel("lmm"), "crossproducts", None)
    n, p = X.shape
    if cross is None or len(terms) > MAX_COMPILED_TERMS or n == 0:
        return None
    first = terms[0]
    k1, n1 = first.values.shape[1], len(first.levels)
    offsets = [0]
    for t in terms[1:]:
        offsets.append(offsets[-1] + t.values.shape[1] * len(t.levels))
    q = offsets[-1]
    if not dense_b(q, p, n1 * k1):
        return None
    codes, values, levels = [], [], []
    for t in terms:             # (a loop: a few terms, no comprehensions' calls)
        codes.append(int_codes(t.codes))
        values.append(np.ascontiguousarray(t.values, dtype=float))
        levels.append(len(t.levels))
    args = (tuple(codes), tuple(values), tuple(levels), np.ascontiguousarray(X, dtype=float),
            np.ascontiguousarray(y, dtype=float),
            None if sqrt_w is None else np.ascontiguousarray(sqrt_w, dtype=float))
    r = q + p + 1
    A11, B, Arr = np.empty((n1, k1, k1)), np.empty((r, n1 * k1)), np.empty((r, r))
    Xy, WXy = np.empty((n, p + 1)), np.empty((n, p + 1))
    if not cross(*args, None, A11, B, Arr, Xy, WXy):
        order = CanonicalOrder(terms, X, sqrt_w).with_response(y)
        cross(*args, np.asarray(order, dtype=np.int64), A11, B, Arr, Xy, WXy)
    Arr[q:, q:] = Xy.T @ WXy
    # without other terms the builder's B is (Z₁ᵀ W [X y])ᵀ, Fortran-ordered: later BLAS
    # products with B (`solution.random_effects`) see the same layout
    return CrossProducts(A11=A11, B=np.asfortranarray(B) if q == 0 else B, Arr=Arr, q_rest=q,
                         p=p, n=n, rest_offsets=offsets)


def canonical_builder(terms: list[RandomEffectsTerm], X: np.ndarray, canon: CanonicalOrder
                      ) -> CrossProductBuilder:
    """The builder over the rows in the canonical order (valid for every response)."""
    return CrossProductBuilder(permuted_terms(terms, canon.order), X[canon.order])


def canonical_response(canon: CanonicalOrder, y: np.ndarray, sqrt_w: np.ndarray | None
                       ) -> tuple[np.ndarray, np.ndarray | None]:
    """(y, √w) in the canonical order for this response, for `canonical_builder`'s
    `compute`."""
    perm = canon.with_response(y)
    return np.asarray(y)[perm], None if sqrt_w is None else sqrt_w[perm]
