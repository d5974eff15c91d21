"""B W Bᵀ for the Schur complement of the blocked Cholesky factor (lmm/factorization.py).

W = blockdiag(W_j) has one k₁×k₁ block per level of the first grouping factor, and B is the
cross-product of the Z_rest, X and y rows with the first term's columns, so

    (B W Bᵀ)[a, b] = Σ_j Σ_{c,d} B[a, j·k₁+c] W_j[c, d] B[b, j·k₁+d]

is linear in W. `WeightedGram` keeps what serves each shape of B: B itself when it is dense,
the products B[a, ·] B[b, ·] of each level's entries stored once per model (by target, and
merged by class of equal A₁₁ⱼ when W_j is a function of A₁₁ⱼ), or B level by level when the
stored products would pass `PAIR_BYTES_BUDGET`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np

from mixedfx.lazy import lazy_module
from mixedfx.lmm import sliced
from mixedfx.lmm.sliced import level_rows
from mixedfx.native import kernel

sp = lazy_module("scipy.sparse")  # ~0.1 s at import (with scipy.sparse.linalg); only here


def _pair_chunks(indptr: np.ndarray, max_pairs: int = 1 << 20
                 ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """All index pairs (a ≤ b) of entries within each level's segment, in chunks.

    Yields (positions of the pairs in level order, first entry index, second entry index);
    the positions of all chunks together are 0 .. P−1, P the total number of pairs.
    """
    m = np.diff(indptr)
    npairs = m * (m + 1) // 2
    pair_ptr = np.concatenate([[0], np.cumsum(npairs)])
    for size in np.unique(m[m > 0]):
        levels = np.flatnonzero(m == size)
        ta, tb = np.triu_indices(size)
        step = max(1, max_pairs // len(ta))
        for start in range(0, len(levels), step):
            lv = levels[start:start + step]
            pos = (pair_ptr[lv][:, None] + np.arange(len(ta))[None, :]).ravel()
            yield (pos, (indptr[lv][:, None] + ta[None, :]).ravel(),
                   (indptr[lv][:, None] + tb[None, :]).ravel())


PAIR_BYTES_BUDGET = 1024**3   # memory for the stored pair products Q of WeightedGram
PAIR_MAP_ROWS = 3000          # rows of B up to which the compiled builder's r×r map serves


class WeightedGram:
    """Computes B W Bᵀ for a block-diagonal W (one k₁×k₁ block per level of Z₁).

    (B W Bᵀ)[a, b] = Σ_j Σ_{c,d} B[a, j·k₁+c] W_j[c, d] B[b, j·k₁+d] is linear in W, so the
    products of every pair of nonzero rows (a ≤ b) sharing a level j are stored once, as a
    sparse matrix Q (CSC, one column per (j, c, d), one row per distinct position (a, b)).
    Each θ then costs the mat-vec Q·vec(W). Only positions a ≤ b (upper triangle in C order)
    are filled: the lower triangle LAPACK reads from the Fortran-ordered transpose. A dense path
    serves the common case where B holds only the X and y rows.
    """

    rep: np.ndarray | None = None   # Q's columns are classes of levels: each one's level

    def __init__(self, B: sp.csr_matrix | np.ndarray, k1: int, n1: int,
                 refreshable: bool = False, A11: np.ndarray | None = None) -> None:
        """`A11`: the first term's diagonal blocks; given (with a scalar first term, a
        compiled kernel, at most `PAIR_MAP_ROWS` rows of B and no refreshes), Q is built by
        target in C with its columns merged by class of equal A₁₁ⱼ (`_build_compiled`)."""
        self.r = r = B.shape[0]
        self.k1 = k1
        self.n1 = n1
        self.dense = isinstance(B, np.ndarray)
        self._pairs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self.direct = False
        if self.dense:
            # C order whatever B's layout: the products' rounding follows the memory layout,
            # and a pickled copy of a strided view comes back C-contiguous (same numbers)
            self.B3 = np.ascontiguousarray(B).reshape(r, n1, k1)
            return
        indptr, rows, vals = level_rows(B, k1, n1)
        m = np.diff(indptr)
        npairs = m * (m + 1) // 2
        total = int(npairs.sum())
        kk = k1 * k1
        # the stored pair products take ~12 bytes each (value + row index); past the budget
        # B W Bᵀ is computed per evaluation from the sparse B instead (memory O(nnz(B) + r²))
        self.direct = total * kk * 12 > PAIR_BYTES_BUDGET
        if self.direct:
            self._set_direct(B)
            return
        if (A11 is not None and k1 == 1 and not refreshable and r <= PAIR_MAP_ROWS
                and self._build_compiled(indptr, rows, vals, A11)):
            return
        # pass 1: which flat positions (a, b) occur
        mark = np.zeros(r * r, dtype=bool)
        for _, ia, ib in _pair_chunks(indptr):
            mark[rows[ia] * r + rows[ib]] = True
        self.targets = np.flatnonzero(mark)
        del mark
        if r * r < 2**31:                   # positions in P
            self.targets = self.targets.astype(np.int32)
        idx_type = np.int32 if len(self.targets) < 2**31 else np.int64
        lookup = np.zeros(r * r, dtype=idx_type)
        lookup[self.targets] = np.arange(len(self.targets), dtype=idx_type)
        # pass 2: the products, written straight into Q's CSC arrays
        data = np.empty(total * kk)
        indices = np.empty(total * kk, dtype=idx_type)
        level_of_pair = np.repeat(np.arange(n1), npairs) if k1 > 1 else None
        pair_ptr = np.concatenate([[0], np.cumsum(npairs)])
        keep = refreshable and k1 == 1
        if keep:
            first = np.empty(total, dtype=idx_type)
            second = np.empty(total, dtype=idx_type)
        for pos, ia, ib in _pair_chunks(indptr):
            row_ids = lookup[rows[ia] * r + rows[ib]]
            if k1 == 1:
                data[pos] = vals[ia, 0] * vals[ib, 0]
                indices[pos] = row_ids
                if keep:
                    first[pos], second[pos] = ia, ib
                continue
            # column (j, c, d) holds level j's pairs: data vals[a, c] * vals[b, d]
            lev = level_of_pair[pos]
            base = pair_ptr[lev] * kk + (pos - pair_ptr[lev])
            for cd in range(kk):
                c, d = divmod(cd, k1)
                out = base + cd * npairs[lev]
                data[out] = vals[ia, c] * vals[ib, d]
                indices[out] = row_ids
        del lookup
        col_ptr = np.concatenate([[0], np.cumsum(np.repeat(npairs, kk))])
        self.Q = sp.csc_matrix((data, indices, col_ptr), shape=(len(self.targets), n1 * kk))
        del data, indices
        if not keep:
            # by target (columns sorted within a row: each target's sum runs in the same
            # order): Q·vec(W) then gathers from the small W instead of scattering into a
            # vector of every target (G's 6.8M targets: 3× faster)
            self.Q = self.Q.tocsr()
            if not self.Q.has_sorted_indices:
                self.Q.sort_indices()
        if keep:
            Bc = B.tocsc()
            Bc.sort_indices()
            self._pairs = (Bc.indptr.copy(), Bc.indices.copy(), first, second)

    def _build_compiled(self, indptr: np.ndarray, rows: np.ndarray, vals: np.ndarray,
                        A11: np.ndarray) -> bool:
        """Q by target from the compiled `build_pair_rows` (False: kernel not built). Its
        columns are classes of levels with equal A₁₁ⱼ: W_j = t²/(t²A₁₁ⱼ + 1) is equal within
        a class, so (B W Bᵀ)_t = Σ_j Q[t, j] W_j = Σ_c Q'[t, c] W_c with Q'[t, c] the sum
        of Q[t, j] over the class's levels, in level order (unweighted data: A₁₁ⱼ is the
        level's row count; InstEval's 2,972 students fall in 86 classes and Q' keeps 55% of
        the 2.1M products). `rep` names the level standing for each class."""
        mod = kernel("lmm")
        if mod is None or not hasattr(mod, "build_pair_rows"):
            return False
        _, first, classes = np.unique(A11[:, 0, 0], return_index=True, return_inverse=True)
        if len(first) == self.n1:           # no two levels alike: the columns are levels
            first, classes = np.arange(self.n1), np.arange(self.n1)
        targets, ptr, cols, data = (np.frombuffer(b, dtype=t) for b, t in zip(
            mod.build_pair_rows(indptr.astype(np.int64, copy=False),
                                np.ascontiguousarray(rows, dtype=np.int64),
                                np.ascontiguousarray(vals[:, 0], dtype=float), self.r,
                                classes.astype(np.int64).ravel(), len(first)),
            (np.int64, np.int64, np.int32, np.float64), strict=True))
        self.targets = targets
        self.Q = sp.csr_matrix((data, cols, ptr), shape=(len(targets), len(first)))
        self.rep = first.astype(np.int64) if len(first) < self.n1 else None
        return True

    def _by_column(self, W: np.ndarray) -> np.ndarray:
        """W as Q's columns index it: by level, or by class (`rep`)."""
        w = W.ravel()
        return w if self.rep is None else w[self.rep]

    def refresh(self, B: sp.csr_matrix | np.ndarray) -> bool:
        """Take new values of a B with the same sparsity structure (PIRLS: new weights):
        only Q's values are recomputed, from the pair indices kept at construction.
        Returns False (nothing changed) when that is not possible."""
        if getattr(self, "direct", False) and sp.issparse(B) and B.shape == self.B.shape:
            self._set_direct(B)
            return True
        if self._pairs is None or isinstance(B, np.ndarray):
            return False
        indptr, indices, first, second = self._pairs
        Bc = B.tocsc()
        Bc.sort_indices()
        if not (np.array_equal(Bc.indptr, indptr) and np.array_equal(Bc.indices, indices)):
            return False
        vals = Bc.data
        np.multiply(vals[first], vals[second], out=self.Q.data)
        return True

    def refreshed(self, B: sp.csr_matrix | np.ndarray) -> WeightedGram | None:
        """`refresh` into a new Gram, leaving this one as it is (a refit's objective keeps
        its own B while later refits take new ones): Q's structure and the pair indices are
        shared, Q's values are the new ones. None when `refresh` could not take B."""
        new = copy.copy(self)
        if not getattr(self, "direct", False) and self._pairs is not None:
            Q = self.Q
            new.Q = type(Q)((np.empty_like(Q.data), Q.indices, Q.indptr), shape=Q.shape,
                            copy=False)
        return new if new.refresh(B) else None

    def __call__(self, W: np.ndarray) -> np.ndarray:
        """B W Bᵀ as a dense r×r array (upper triangle in C order at least); W is (n₁,) when
        k₁ = 1, else (n₁, k₁, k₁)."""
        if self.dense:
            if self.k1 == 1:
                B2 = self.B3[:, :, 0]
                return (B2 * W) @ B2.T
            BW = np.einsum("rja,jab->rjb", self.B3, W).reshape(self.r, -1)
            return BW @ self.B3.reshape(self.r, -1).T
        if self.direct:
            return self._direct(W)
        G = np.zeros(self.r * self.r)
        G[self.targets] = self.Q @ self._by_column(W)
        return G.reshape(self.r, self.r)

    def kernel_arrays(self) -> tuple | None:
        """The arrays the compiled evaluator (`lmm.compiled`) reads B W Bᵀ from:
        ('dense', B3), ('pair_rows', Q's data, columns, row pointers, targets) (Q by
        target; with a sixth array, the level of each class when Q's columns are classes),
        ('pairs', Q's data, indices, indptr, targets) (Q by column, kept for refreshes) or
        ('slice', indptr, rows, vals); None when B is kept for scipy's sparse product."""
        if self.dense:
            return ("dense", self.B3)
        if self.direct:
            s = self._slice
            return None if s is None else ("slice", s.indptr, s.rows, s.vals)
        if self.rep is not None:            # by class, with the level of each class
            return ("pair_rows", self.Q.data, self.Q.indices, self.Q.indptr, self.targets,
                    self.rep)
        if sp.isspmatrix_csr(self.Q):       # (int32 or int64 index arrays, no copies)
            return ("pair_rows", self.Q.data, self.Q.indices, self.Q.indptr, self.targets)
        return ("pairs", self.Q.data, self.Q.indices, self.Q.indptr.astype(np.int64),
                self.targets.astype(np.int64, copy=False))

    def _set_direct(self, B: sp.spmatrix) -> None:
        """Keep B for per-evaluation products: level-major (`sliced.LevelSlice`) for the
        compiled kernel when it is built, else as CSR for scipy's sparse product."""
        self.B = B.tocsr()
        self._slice = None
        if sliced.compiled_kernel() is not None:
            self._slice = sliced.LevelSlice.from_matrix(self.B, self.k1, 0, self.n1)

    def _direct(self, W: np.ndarray) -> np.ndarray:
        """B W Bᵀ from the sparse B (W block diagonal: a diagonal or a BSR matrix)."""
        if self._slice is not None:
            P = np.zeros((self.r, self.r))
            self._subtract_compiled(P, W)
            np.negative(P, out=P)
            return P
        if self.k1 == 1:
            Wm = sp.diags(np.asarray(W, dtype=float).ravel())
        else:
            idx = np.arange(self.n1, dtype=np.int32)
            Wm = sp.bsr_matrix((np.asarray(W, dtype=float), idx,
                                np.arange(self.n1 + 1, dtype=np.int32)),
                               shape=(self.n1 * self.k1, self.n1 * self.k1))
        return np.asarray((self.B @ Wm @ self.B.T).toarray())

    def subtract_from(self, P: np.ndarray, W: np.ndarray) -> None:
        """In place: P ← P − B W Bᵀ (upper triangle in C order for the sparse path)."""
        if self.direct and self._slice is not None and P.flags.c_contiguous:
            self._subtract_compiled(P, W)
        elif self.dense or self.direct:
            P -= self(W)
        else:
            P.ravel()[self.targets] -= self.Q @ self._by_column(W)


    def _subtract_compiled(self, P: np.ndarray, W: np.ndarray) -> None:
        """P ← P − B W Bᵀ on the upper triangle with the compiled level-major kernel
        (O(Σ_j m_j² k₁) for m_j rows of B at level j)."""
        s = self._slice
        W3 = np.ascontiguousarray(np.asarray(W, dtype=float).reshape(self.n1, self.k1,
                                                                      self.k1))
        sliced.compiled_kernel()(s.indptr, s.rows, s.vals, 0, W3, P)
