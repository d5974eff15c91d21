"""The blocked Cholesky factor of the penalized system for one value of θ.

With Λ = blockdiag(Λ₁, Λ_r) (Λ_r acting on the Z_rest rows only; X and y rows unscaled), the
lower Cholesky factor L of

    [ Λ₁ᵀA₁₁Λ₁ + I     Λ₁ᵀBᵀΛ_r        ]
    [ Λ_rᵀBΛ₁          Λ_rᵀA_rrΛ_r + I_z ]

is built in two steps:

1. L₁₁ = chol(Λ₁ᵀA₁₁Λ₁ + I), one k₁×k₁ factor per level (a square root when k₁ = 1);
2. the Schur complement S = Λ_rᵀ(A_rr − B W Bᵀ)Λ_r + I_z with
   W = Λ₁(Λ₁ᵀA₁₁Λ₁ + I)⁻¹Λ₁ᵀ block diagonal, and its dense Cholesky L_rr.

L_rr's last diagonal element squared is the penalized weighted residual sum of squares, its
X-block diagonal gives log|R_X|², and log|L_Z|² = log|L₁₁|² + log|L_zz|².
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack

from mixedfx.frame.terms import RandomEffectsTerm
from mixedfx.lazy import lazy_module
from mixedfx.lmm import compiled, sliced
from mixedfx.lmm.crossproducts import CrossProducts
from mixedfx.lmm.sliced import SlicedB, SlicedGram, level_rows
from mixedfx.lmm.tiled_cholesky import factor_in_place
from mixedfx.native import kernel

sp = lazy_module("scipy.sparse")  # ~0.1 s at import (with scipy.sparse.linalg); only here


@dataclass
class Factorization:
    """L₁₁ pieces and the dense L_rr for one θ, plus the log-determinants.

    M₁₁ and L₁₁ are computed on first access (`BlockedCholesky.first_block`, the numbers
    of an eager factorization) when the compiled kernel gave the rest: a fit's optimum
    needs only L_rr for β, σ and the criterion."""

    theta: np.ndarray
    templates: list[np.ndarray]
    Lrr: np.ndarray          # (r, r) lower Cholesky factor of the Schur complement
    ldL2: float              # log|L_Z|²
    ldRX2: float             # log|R_X|²
    pwrss: float             # penalized weighted residual sum of squares
    first: tuple[np.ndarray, np.ndarray] | BlockedCholesky | None = None
    # (M11, L11), or the factorization to compute them from

    @property
    def M11(self) -> np.ndarray:
        """(n₁, k₁, k₁) Λ₁ᵀA₁₁Λ₁ + I."""
        return self._first()[0]

    @property
    def L11(self) -> np.ndarray:
        """(n₁, k₁, k₁) lower Cholesky factors of M11."""
        return self._first()[1]

    def _first(self) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(self.first, tuple):
            M11, L11, _, _ = self.first.first_block(self.templates[0])
            self.first = (M11, L11)
        return self.first


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


def congruence(T: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Tᵀ A_j T for every level j of A (n, k, k): for k ≤ 3 and many levels as 2k³
    vectorized products over the levels (a three-operand einsum or a stacked matmul of k×k
    matrices costs 3–15× more for the 100,000s of levels of a large grouping factor)."""
    k = T.shape[0]
    if k > 3 or len(A) < 1000:
        return np.einsum("ba,jbc,cd->jad", T, A, T)
    C = np.empty_like(A)
    for b in range(k):                      # C = A T
        for d in range(k):
            C[:, b, d] = A[:, b, 0] * T[0, d]
            for c in range(1, k):
                C[:, b, d] += A[:, b, c] * T[c, d]
    M = np.empty_like(A)
    for a in range(k):                      # M = Tᵀ C
        for d in range(k):
            M[:, a, d] = T[0, a] * C[:, 0, d]
            for b in range(1, k):
                M[:, a, d] += T[b, a] * C[:, b, d]
    return M


class BlockedCholesky:
    """Factorizes the penalized system for any θ from precomputed cross-products."""

    def __init__(self, terms: list[RandomEffectsTerm], xp: CrossProducts,
                 gram: WeightedGram | None = None, compiled: bool = False) -> None:
        """`gram`: a WeightedGram already holding this xp's B (reused across PIRLS steps).
        `compiled`: evaluate and factor through the compiled kernel when it is built (the
        LMM's objective, called for many θ; PIRLS factors once per step, where building
        the evaluator costs more than it saves)."""
        self.terms = terms
        self.xp = xp
        self.theta_slices = []
        start = 0
        for term in terms:
            self.theta_slices.append(slice(start, start + term.n_theta))
            start += term.n_theta
        self.n_theta = start
        first = terms[0]
        if gram is None:
            gram = SlicedGram(xp.B, first.k, first.n_levels) if isinstance(xp.B, SlicedB) \
                else WeightedGram(xp.B, first.k, first.n_levels, A11=xp.A11)
        self.gram = gram
        self._diag_idx = np.arange(xp.q_rest)
        self._all_scalar_rest = all(t.k == 1 for t in terms[1:])
        self.compiled = compiled
        self._native: tuple | None = None      # (C evaluator, template map), built lazily
        self._native_built = False

    def __getstate__(self) -> dict:
        """Pickled and copied without the compiled evaluator (rebuilt on first use)."""
        state = self.__dict__.copy()
        state["_native"], state["_native_built"] = None, False
        return state

    def native(self) -> tuple | None:
        """(the compiled evaluator, the template map or None), or None when the NumPy path
        serves (kernel not built, or a model form the kernel does not take)."""
        if not self.compiled:
            return None
        if not self._native_built:
            self._native = compiled.evaluator(self)
            self._native_built = True
        return self._native

    def templates(self, theta: np.ndarray) -> list[np.ndarray]:
        return [t.covariance.template(theta[s]) for t, s in zip(self.terms, self.theta_slices,
                                                                  strict=True)]

    def first_block(self, T1: np.ndarray, need_w: bool = True
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, float]:
        """M₁₁ = T₁ᵀA₁₁T₁ + I per level, its Cholesky factors, W = T₁M₁₁⁻¹T₁ᵀ (None unless
        `need_w`), log|L₁₁|²."""
        A11 = self.xp.A11
        k1 = T1.shape[0]
        if k1 == 1:
            t2 = T1[0, 0] ** 2
            m = t2 * A11[:, 0, 0] + 1.0
            M11 = m[:, None, None]
            L11 = np.sqrt(M11)
            return M11, L11, t2 / m, float(np.sum(np.log(m)))
        M11 = congruence(T1, A11)
        M11[:, np.arange(k1), np.arange(k1)] += 1.0
        L11 = np.linalg.cholesky(M11)
        W = congruence(T1.T, np.linalg.inv(M11)) if need_w else None
        logdet = 2.0 * float(np.sum(np.log(np.diagonal(L11, axis1=1, axis2=2))))
        return M11, L11, W, logdet

    def scale_rest(self, P: np.ndarray, templates: list[np.ndarray]) -> None:
        """In place: P ← Λ_rᵀ P Λ_r (X and y rows/columns are left unscaled)."""
        xp = self.xp
        r = P.shape[0]
        if not xp.q_rest:
            return
        if self._all_scalar_rest:
            s = np.ones(r)
            for term, T, off in zip(self.terms[1:], templates[1:], xp.rest_offsets[:-1],
                                    strict=True):
                s[off:off + term.q] = T[0, 0]
            P *= s[:, None]
            P *= s[None, :]
            return
        for term, T, off in zip(self.terms[1:], templates[1:], xp.rest_offsets[:-1],
                                strict=True):
            sl = slice(off, off + term.q)
            if term.k == 1:
                P[sl, :] *= T[0, 0]
                P[:, sl] *= T[0, 0]
            else:
                rows = P[sl, :].reshape(term.n_levels, term.k, r)
                P[sl, :] = np.einsum("ba,lbr->lar", T, rows).reshape(term.q, r)
                cols = P[:, sl].reshape(r, term.n_levels, term.k)
                P[:, sl] = np.einsum("rlb,ba->rla", cols, T).reshape(r, term.q)

    def scale_rest_rows(self, N: np.ndarray, templates: list[np.ndarray]) -> None:
        """In place: N ← Λ_zᵀ N for an array whose rows are the Z_rest random effects."""
        for term, T, off in zip(self.terms[1:], templates[1:], self.xp.rest_offsets[:-1],
                                strict=True):
            sl = slice(off, off + term.q)
            if term.k == 1:
                N[sl] *= T[0, 0]
            else:
                rows = N[sl].reshape(term.n_levels, term.k, -1)
                N[sl] = np.einsum("ba,lbr->lar", T, rows).reshape(term.q, -1)

    def deviance_terms(self, theta: np.ndarray, workspace: np.ndarray
                       ) -> tuple[float, float, float] | None:
        """(log|L_Z|², log|R_X|², pwrss) at θ, as `factorize` computes them, without keeping
        the per-level factors (the profiled deviance needs only these three numbers)."""
        theta = np.asarray(theta, dtype=float)
        nat = self.native()
        if nat is not None:
            parts = compiled.factor(self, nat, theta, workspace, clean=False)
            return None if parts is None else parts[1:]
        templates = self.templates(theta)
        _, _, W, ld1 = self.first_block(templates[0])
        parts = self._schur(W, ld1, templates, workspace)
        return None if parts is None else parts[1:]

    def _schur(self, W: np.ndarray, ld1: float, templates: list[np.ndarray],
               workspace: np.ndarray | None) -> tuple[np.ndarray, float, float, float] | None:
        """Factor the Schur complement: (L_rr, log|L_Z|², log|R_X|², pwrss) or None."""
        if workspace is None:
            P = self.xp.Arr.copy()
        else:
            P = workspace
            np.copyto(P, self.xp.Arr)
        self.gram.subtract_from(P, W)
        if not (self._all_scalar_rest or self.gram.dense):
            # the sparse forms update the upper triangle only, and a vector-valued term's
            # Λ_t mixes rows (and columns) across its diagonal blocks: take the lower
            # triangle from the upper one first
            il = np.tril_indices(P.shape[0], -1)
            P[il] = P.T[il]
        self.scale_rest(P, templates)
        if self.xp.q_rest:
            P[self._diag_idx, self._diag_idx] += 1.0
        return self.factor_schur(P, ld1)

    def factor_schur(self, P: np.ndarray, ld1: float, clean: bool = True
                      ) -> tuple[np.ndarray, float, float, float] | None:
        """LAPACK's Cholesky factor of S (upper triangle of the C-ordered P, in place) and
        (L_rr, log|L_Z|², log|R_X|², pwrss), or None when S is not positive definite.
        Without `clean` L_rr's other triangle keeps what P held (the deviance reads only
        its diagonal)."""
        # P is symmetric, so its transpose is a Fortran-ordered view LAPACK factors in place;
        # a large one is factored in tiles on several threads (`lmm.tiled_cholesky`)
        info = factor_in_place(P, clean)
        if info is None:
            Lrr, info = lapack.dpotrf(P.T, lower=1, clean=int(clean), overwrite_a=1)
        else:
            Lrr = P.T
        if info != 0:
            return None
        d = np.diagonal(Lrr)
        q, p = self.xp.q_rest, self.xp.p
        if (d[: q + p] <= 0).any():
            return None
        ldL2 = ld1 + 2.0 * float(np.log(d[:q]).sum()) if q else ld1
        ldRX2 = 2.0 * float(np.log(d[q:q + p]).sum())
        return Lrr, ldL2, ldRX2, float(d[-1] ** 2)

    def factorize(self, theta: np.ndarray, workspace: np.ndarray | None = None
                  ) -> Factorization | None:
        """The blocked factor at θ, or None when the Schur complement is not positive definite.

        With a `workspace` (an r×r C-ordered array) no large array is allocated; the returned
        factor's `Lrr` then lives in the workspace and is overwritten by the next call.
        """
        theta = np.asarray(theta, dtype=float)
        templates = self.templates(theta)
        nat = self.native()
        if nat is not None:
            ws = np.empty(self.xp.Arr.shape) if workspace is None else workspace
            parts = compiled.factor(self, nat, theta, ws)
            first: tuple | BlockedCholesky = self          # M₁₁, L₁₁ on first access
        else:
            M11, L11, W, ld1 = self.first_block(templates[0])
            parts = self._schur(W, ld1, templates, workspace)
            first = (M11, L11)
        if parts is None:
            return None
        Lrr, ldL2, ldRX2, pwrss = parts
        return Factorization(theta=theta, templates=templates, Lrr=Lrr, ldL2=ldL2,
                             ldRX2=ldRX2, pwrss=pwrss, first=first)
