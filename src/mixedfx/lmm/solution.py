"""Recovering β, the spherical random effects u, b = Λu and conditional variances from the factor.

Write the trailing factor as L_rr = [[L_zz, 0, 0], [L_xz, L_xx, 0], [l_yz, l_yx, l_yy]]. Then

    L_xxᵀ β = l_yxᵀ,   L_zzᵀ u_rest = l_yzᵀ − L_xzᵀ β,   M₁₁ u₁ = −Λ₁ᵀ Bᵀ Λ_r [u_rest; β; −1],

and b = Λu. The conditional covariance of b given y at the estimates (lme4's `condVar`) is
σ² Λ (Λᵀ ZᵀZ Λ + I)⁻¹ Λᵀ; its diagonal blocks come from M₁₁⁻¹, Y = L_zz⁻¹ Λ_zᵀ B_z Λ₁ M₁₁⁻¹
(term 1: M₁₁⁻¹ + YᵀY) and L_zz⁻¹ (the other terms).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.linalg import lapack, solve_triangular

from mixedfx.lmm.factorization import BlockedCholesky, Factorization
from mixedfx.optimize.convergence import compiled_lapack

# random effects in the dense block from which `solve` solves with the whole factor
WHOLE_SOLVE_MIN = 256


@dataclass
class Solution:
    """Conditional estimates at one θ: β̂ at once (it needs only L_rr); u and b = Λu, which
    need the first block's factor, on first access (`random_effects`, the same numbers as
    computed eagerly)."""

    beta: np.ndarray
    pwrss: float
    Lxx: np.ndarray            # fixed-effects block of the factor
    # (chol, f, u of the terms after the first when `solve` found them, else None)
    source: tuple[BlockedCholesky, Factorization, np.ndarray | None] = field(repr=False)

    @cached_property
    def _effects(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        chol, f, u_rest = self.source
        return random_effects(chol, f, self.beta, u_rest)

    @property
    def u(self) -> list[np.ndarray]:
        """Per term the spherical conditional modes, (levels, k)."""
        return self._effects[0]

    @property
    def b(self) -> list[np.ndarray]:
        """Per term the conditional modes b = Λu, (levels, k)."""
        return self._effects[1]

    @cached_property
    def ussq(self) -> float:
        """‖u‖²."""
        return float(sum(np.sum(u * u) for u in self.u))

    @property
    def wrss(self) -> float:
        return self.pwrss - self.ussq

    @property
    def RX_inv(self) -> np.ndarray:
        """L_xx⁻¹, so that vcov(β) = σ² L_xx⁻ᵀ L_xx⁻¹."""
        p = self.Lxx.shape[0]
        return solve_triangular(self.Lxx, np.eye(p), lower=True) if p else np.zeros((0, 0))


def _solve_lower_transposed(L: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """x with Lᵀx = rhs for lower-triangular L, by LAPACK's trtrs directly (scipy's
    `solve_triangular` wrapper costs ~10× the solve for the small systems of every PIRLS
    step). An empty system gives an empty x (scipy < 1.12 refuses it)."""
    m = L.shape[0]
    if m == 0:
        return np.zeros(0)
    mod = compiled_lapack()
    if mod is not None and L.dtype == np.float64 and rhs.dtype == np.float64 and \
            L.shape == (m, m) and rhs.shape == (m,) and m <= 46340:
        # the same LAPACK routine on the same copies, without the wrapper's cost
        x = np.empty(m)
        if mod.lower_solve_t(L, rhs, x) != 0:
            raise np.linalg.LinAlgError("singular triangular factor")
        return x
    x, info = lapack.dtrtrs(L, rhs, lower=1, trans=1)
    if info != 0:
        raise np.linalg.LinAlgError("singular triangular factor")
    return x


def _apply_template_rows(u: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per level l: T u_l, for u given as (levels, k)."""
    return u @ T.T


def solve(chol: BlockedCholesky, f: Factorization) -> Solution:
    """β (now) and u, b (on first access) at the factorization's θ."""
    q, p = chol.xp.q_rest, chol.xp.p
    L = f.Lrr
    Lxx = L[q:q + p, q:q + p]
    u_rest = None
    if q >= WHOLE_SOLVE_MIN and L.flags.f_contiguous and L[-1, -1] > 0:
        # Lᵀ [u_rest; β; −1] = [0; 0; −l_yy] in one solve with the whole factor: LAPACK
        # would copy the non-contiguous L_zz block (r² doubles: 190 MiB at r = 5,000)
        rhs = np.zeros(L.shape[0])
        rhs[-1] = -L[-1, -1]
        v = _solve_lower_transposed(L, rhs)
        u_rest, beta = v[:q], v[q:q + p]
    else:
        beta = _solve_lower_transposed(Lxx, L[-1, q:q + p])        # p = 0: β held fixed
    return Solution(beta=beta, pwrss=f.pwrss, Lxx=Lxx.copy(), source=(chol, f, u_rest))


def random_effects(chol: BlockedCholesky, f: Factorization, beta: np.ndarray,
                   u_rest: np.ndarray | None = None
                   ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(u, b) per term at the factorization's θ, given β̂ from it (and u of the terms after
    the first when `solve` found them with β̂)."""
    xp = chol.xp
    q, p = xp.q_rest, xp.p
    L = f.Lrr
    if u_rest is None:
        u_rest = _solve_lower_transposed(L[:q, :q], L[-1, :q] - L[q:q + p, :q].T @ beta)

    terms, T = chol.terms, f.templates
    u_list: list[np.ndarray] = [np.empty(0)]
    b_list: list[np.ndarray] = [np.empty(0)]
    lam_v = np.concatenate([np.zeros(q), beta, [-1.0]])
    for term, Tt, off in zip(terms[1:], T[1:], xp.rest_offsets[:-1], strict=True):
        ut = u_rest[off:off + term.q].reshape(term.n_levels, term.k)
        bt = _apply_template_rows(ut, Tt)
        u_list.append(ut)
        b_list.append(bt)
        lam_v[off:off + term.q] = bt.ravel()

    first = terms[0]
    g = np.asarray(xp.B.T @ lam_v).reshape(first.n_levels, first.k)
    rhs = -(g @ T[0])                       # rows: (T₁ᵀ g_j)ᵀ
    u1 = rhs / f.M11[:, :, 0] if first.k == 1 else np.linalg.solve(f.M11, rhs[:, :, None])[:, :, 0]
    u_list[0] = u1
    b_list[0] = _apply_template_rows(u1, T[0])
    return u_list, b_list


def conditional_variances(chol: BlockedCholesky, f: Factorization, sigma: float,
                          chunk: int | None = None) -> list[np.ndarray]:
    """Diagonal blocks of Var(b | y): per term an array (levels, k, k), lme4's `condVar`."""
    xp = chol.xp
    q = xp.q_rest
    terms, T = chol.terms, f.templates
    first = terms[0]
    n1, k1 = first.n_levels, first.k
    M11_inv = np.linalg.inv(f.M11)
    V1 = M11_inv.copy()
    out: list[np.ndarray] = []
    if chunk is None:       # levels per block: dense q × chunk·k₁ blocks of at most 64 MiB
        chunk = int(min(4096, max(1, (1 << 23) // max(1, q * k1))))
    if q:
        Lzz = np.asfortranarray(f.Lrr[:q, :q])
        Bz = xp.B[:q, :]
        # Λ₁ M₁₁⁻¹ per level
        LM = np.einsum("ab,jbc->jac", T[0], M11_inv)
        for start in range(0, n1, chunk):
            stop = min(n1, start + chunk)
            block = Bz[:, start * k1:stop * k1]
            cols = (block if isinstance(block, np.ndarray) else block.toarray()).reshape(
                q, stop - start, k1)
            N = np.einsum("qjb,jbc->qjc", cols, LM[start:stop]).reshape(q, -1)
            chol.scale_rest_rows(N, f.templates)
            Y = solve_triangular(Lzz, N, lower=True).reshape(q, stop - start, k1)
            V1[start:stop] += np.einsum("qja,qjb->jab", Y, Y)
        Linv, info = lapack.dtrtri(Lzz, lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("triangular inverse failed")
    out.append(np.einsum("ab,jbc,dc->jad", T[0], V1, T[0]) * sigma**2)
    for term, Tt, off in zip(terms[1:], T[1:], xp.rest_offsets[:-1], strict=True):
        Lt = Linv[:, off:off + term.q].reshape(q, term.n_levels, term.k)
        blocks = np.einsum("cla,clb->lab", Lt, Lt)
        out.append(np.einsum("ab,jbc,dc->jad", Tt, blocks, Tt) * sigma**2)
    return out
