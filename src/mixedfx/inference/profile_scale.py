"""sd/cor <-> θ for the likelihood profiles (`mixedfx.inference.profile`), lme4's `Cv_to_Sv`
and `Sv_to_Cv`.

Per random-effects term of k columns, Σ = σ² Λ Λᵀ with Λ lower triangular and θ its
column-major lower triangle, so

    θ = chol(Σ(sd, cor)/σ²),    Σ(sd, cor)ᵢⱼ = corᵢⱼ sdᵢ sdⱼ  (corᵢᵢ = 1),

and back, sdᵢ = σ √(ΛΛᵀ)ᵢᵢ, corᵢⱼ = (ΛΛᵀ)ᵢⱼ / √((ΛΛᵀ)ᵢᵢ (ΛΛᵀ)ⱼⱼ) (0 where an sd is 0). The
(sd, cor) vector of a term is the column-major lower triangle of the matrix with the sds on
its diagonal and the correlations below it, as lme4's. A positive semi-definite Σ (an sd of 0,
a correlation of ±1) has zero columns in its factor where a pivot vanishes.
"""

from __future__ import annotations

import functools
import math

import numpy as np

#: a Cholesky pivot this small relative to its diagonal entry is rounding of an exact zero
#: (the relative rounding error of the pivot is a few machine epsilons times k)
ZERO_PIVOT = 1e-12


@functools.cache
def _tri_index(k: int) -> tuple[np.ndarray, np.ndarray]:
    cols, rows = np.triu_indices(k)
    return rows, cols          # column-major lower triangle


#: terms up to this many columns are converted with Python floats (a bootstrap converts every
#: replicate's θ: NumPy's per-call costs are most of the work for a 2 × 2 block)
SCALAR_K = 3


def cv_to_sv(theta: np.ndarray, ks: list[int], sigma: float) -> np.ndarray:
    """lme4's `Cv_to_Sv`: θ -> (sd, cor per term, column-major lower triangle), σ appended."""
    if max(ks, default=0) <= SCALAR_K:
        return np.array(_cv_to_sv_scalar(np.asarray(theta, dtype=float).tolist(), ks, sigma))
    out, i = [], 0
    for k in ks:
        m = k * (k + 1) // 2
        rows, cols = _tri_index(k)
        T = np.zeros((k, k))
        T[rows, cols] = theta[i:i + m]
        # T Tᵀ as elementwise products summed in index order (no BLAS: the same bits on
        # every OpenBLAS kernel; a profile's inner optimizer path follows these bits)
        S = (T[:, None, :] * T[None, :, :]).sum(axis=-1) * sigma**2
        sd = np.sqrt(np.diag(S))
        with np.errstate(invalid="ignore", divide="ignore"):
            R = S / np.outer(sd, sd)
        R = np.where(np.isfinite(R), R, 0.0)
        np.fill_diagonal(R, sd)
        out.append(R[rows, cols])
        i += m
    return np.concatenate([*out, [sigma]])


def _cv_to_sv_scalar(theta: list[float], ks: list[int], sigma: float) -> list[float]:
    """`cv_to_sv` by the same operations on Python floats: (TTᵀ)_ab = Σ_l T_al T_bl summed
    from 0.0 in index order (NumPy's sum of fewer than eight terms), times σ², sd = √S_aa,
    cor = S_ab / (sd_a sd_b) (0 when not finite); the same bits as the array form."""
    s2 = sigma**2
    out: list[float] = []
    i = 0
    for k in ks:
        T = [[0.0] * k for _ in range(k)]
        for c in range(k):                   # column-major lower triangle
            for r in range(c, k):
                T[r][c] = theta[i]
                i += 1
        S = [[0.0] * k for _ in range(k)]
        for a in range(k):
            for b in range(k):
                acc = 0.0
                for l_ in range(k):
                    acc += T[a][l_] * T[b][l_]
                S[a][b] = acc * s2
        sd = [math.sqrt(S[a][a]) for a in range(k)]
        for c in range(k):
            for r in range(c, k):
                if r == c:
                    out.append(sd[r])
                    continue
                den = sd[r] * sd[c]
                v = S[r][c] / den if den != 0.0 else math.nan
                out.append(v if math.isfinite(v) else 0.0)
    out.append(sigma)
    return out


def _safe_chol(A: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a positive semi-definite matrix (zero pivots give zero columns).

    A pivot dⱼ = Aⱼⱼ − Σₖ Lⱼₖ² within rounding of zero (≤ `ZERO_PIVOT` Aⱼⱼ) is zero: at a
    correlation of exactly ±1 the computed pivot is a few ulps of either sign, and taking
    its square root would put an arbitrary, rounding-sized divisor under the column (a
    deviance that jumps with the last bits of the arithmetic, i.e. with the BLAS kernel)."""
    k = A.shape[0]
    L = np.zeros((k, k))
    for j in range(k):
        d = A[j, j] - np.sum(L[j, :j] * L[j, :j])      # no BLAS dot: fixed-order sums
        if d <= ZERO_PIVOT * A[j, j]:
            continue
        L[j, j] = math.sqrt(d)
        L[j + 1:, j] = (A[j + 1:, j] - (L[j + 1:, :j] * L[j, :j]).sum(axis=1)) / L[j, j]
    return L


def sv_to_cv(sv: np.ndarray, ks: list[int], sigma: float) -> np.ndarray:
    """lme4's `Sv_to_Cv`: (sd, cor per term) -> θ = chol(Σ/σ²) column-major."""
    out, i = [], 0
    for k in ks:
        if k == 1:
            out.append(np.array([sv[i] / sigma]))
            i += 1
            continue
        if k == 2:
            s1, r, s2 = sv[i] / sigma, sv[i + 1], sv[i + 2] / sigma
            l21 = r * s2 if s1 > 0 else 0.0
            out.append(np.array([s1, l21, math.sqrt(max(s2 * s2 - l21 * l21, 0.0))]))
            i += 3
            continue
        m = k * (k + 1) // 2
        rows, cols = _tri_index(k)
        M = np.zeros((k, k))
        M[rows, cols] = sv[i:i + m]
        M = np.tril(M) + np.tril(M, -1).T
        sd = np.diag(M).copy()
        C = M.copy()
        np.fill_diagonal(C, 1.0)
        S = C * np.outer(sd, sd) / sigma**2
        L = np.sqrt(np.abs(S)) * np.sign(sd) if k == 1 else _safe_chol(S)
        out.append(L[rows, cols])
        i += m
    return np.concatenate(out) if out else np.zeros(0)
