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

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack

from mixedfx.frame.terms import RandomEffectsTerm
from mixedfx.lmm import compiled
from mixedfx.lmm.crossproducts import CrossProducts
from mixedfx.lmm.sliced import SlicedB, SlicedGram
from mixedfx.lmm.terms_plan import TermsPlan, terms_plan
from mixedfx.lmm.tiled_cholesky import factor_in_place
from mixedfx.lmm.weighted_gram import WeightedGram


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

    # (class defaults: an instance pickled before these existed reads them)
    _layout: compiled.Layout | bool | None = False
    _tgather: tuple[np.ndarray, list[int]] | None = None
    _plan: TermsPlan | None = None

    def __init__(self, terms: list[RandomEffectsTerm], xp: CrossProducts,
                 gram: WeightedGram | None = None, compiled: bool = False) -> None:
        """`gram`: a WeightedGram already holding this xp's B (reused across PIRLS steps).
        `compiled`: evaluate and factor through the compiled kernel when it is built (the
        LMM's objective, called for many θ; PIRLS factors once per step, where building
        the evaluator costs more than it saves)."""
        self.terms = terms
        self.xp = xp
        plan = self._plan = terms_plan(terms)
        self.theta_slices = plan.theta_slices
        self.n_theta = plan.n_theta
        if gram is None:
            first = terms[0]
            gram = SlicedGram(xp.B, first.k, first.n_levels) if isinstance(xp.B, SlicedB) \
                else WeightedGram(xp.B, first.k, first.n_levels, A11=xp.A11)
        self.gram = gram
        self._all_scalar_rest = plan.all_scalar_rest
        self.compiled = compiled
        self._native: tuple | None = None      # (C evaluator, template map), built lazily
        self._native_built = False
        # the evaluator's layout (`compiled.layout`; False until computed) and the template
        # map's gather of θ, once known (the same for every set of cross-products of these
        # terms)
        self._layout = False
        self._tgather = None

    def with_products(self, xp: CrossProducts, gram: WeightedGram) -> BlockedCholesky:
        """The factorization of these terms for other cross-products of the same shapes (a
        refit's response): θ's slices and the compiled evaluator's layout are reused, the
        evaluator itself is built for the new arrays on first use."""
        new = object.__new__(BlockedCholesky)
        new.__dict__.update(self.__dict__)
        new.xp, new.gram = xp, gram
        new._native, new._native_built = None, False
        return new

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
            if self._tgather is None and self._native is not None and \
                    self._native[1] is not None:
                plan = self.terms_plan()
                self._tgather = (plan.gather, list(plan.ks))
        return self._native

    def terms_plan(self) -> TermsPlan:
        """The data-free set-up of these terms (`lmm.terms_plan`; shared, read-only)."""
        if self._plan is None:
            self._plan = terms_plan(self.terms)
        return self._plan

    def layout(self) -> compiled.Layout | None:
        """The compiled evaluator's layout of these terms (`compiled.layout`, computed once
        and kept by `with_products` copies), or None when the kernel does not take them."""
        if self._layout is False:
            self._layout = compiled.layout(self)
        return self._layout

    def templates(self, theta: np.ndarray) -> list[np.ndarray]:
        """The terms' templates T_t at θ (from the compiled evaluator's template map once it
        is built: the same values, placed without a Python call per term)."""
        if self._tgather is not None:
            return compiled.map_templates(np.asarray(theta, dtype=float), *self._tgather)
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
            diag = np.arange(self.xp.q_rest)
            P[diag, diag] += 1.0
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

    def factored(self, theta: np.ndarray, workspace: np.ndarray, parts: np.ndarray
                 ) -> Factorization | None:
        """The factorization at θ that the compiled evaluator left in `workspace` (its upper
        factor U of S, row-major: L_rr = Uᵀ) with `parts` = (log|L_Z|², log|R_X|², pwrss):
        what `factorize(θ, workspace)` gives when the evaluator factors S itself (up to
        `NATIVE_CHOL_MAX` rows); None when S is not positive definite (parts NaN)."""
        ldL2, ldRX2, pwrss = parts.tolist()
        if math.isnan(ldL2):
            return None
        return Factorization(theta=theta, templates=self.templates(theta), Lrr=workspace.T,
                             ldL2=ldL2, ldRX2=ldRX2, pwrss=pwrss, first=self)

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
