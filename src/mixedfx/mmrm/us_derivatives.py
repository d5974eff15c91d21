"""Analytic first and second derivatives of the unstructured Σ = LLᵀ in mmrm's
parameterization: L = diag(sd) U, sd = exp(θ[:m]), U unit lower triangular with its strictly
lower part filled row-wise by θ[m:].

    ∂L/∂θ_i      = e_i e_iᵀ L                      (log-SD of visit i: row i of L)
    ∂L/∂θ_(r,c)  = sd_r e_r e_cᵀ                   (off-diagonal element (r, c) of U)
    ∂²L/∂θ_i²    = e_i e_iᵀ L,   ∂²L/∂θ_r∂θ_(r,c) = sd_r e_r e_cᵀ,   all others 0

    ∂Σ/∂θ_a      = L_a Lᵀ + L L_aᵀ
    ∂²Σ/∂θ_a∂θ_b = L_a L_bᵀ + L_b L_aᵀ + L_ab Lᵀ + L L_abᵀ

(L_a = ∂L/∂θ_a.) Each L_a has one non-zero row, so the derivatives are exact and cost a few
small array operations instead of one complex evaluation of Σ per parameter.
"""

from __future__ import annotations

import numpy as np

from mixedfx.mmrm.structures import tril_positions


def _factor(th: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    sd = np.exp(th[:m])
    rows, cols = tril_positions(m)
    U = np.eye(m)
    U[rows, cols] = th[m:]
    return sd, sd[:, None] * U, rows, cols


def _first_factor(sd: np.ndarray, L: np.ndarray, rows: np.ndarray, cols: np.ndarray
                  ) -> np.ndarray:
    """L_a for every parameter, (k, m, m)."""
    m = len(sd)
    k = m + len(rows)
    dL = np.zeros((k, m, m))
    idx = np.arange(m)
    dL[idx, idx, :] = L
    q = np.arange(len(rows))
    dL[m + q, rows, cols] = sd[rows]
    return dL


def us_jacobian(th: np.ndarray, m: int) -> np.ndarray:
    """∂Σ/∂θ_a, (k, m, m)."""
    sd, L, rows, cols = _factor(th, m)
    dL = _first_factor(sd, L, rows, cols)
    J = dL @ L.T
    return J + J.transpose(0, 2, 1)


def us_hessian(th: np.ndarray, m: int) -> np.ndarray:
    """∂²Σ/∂θ_a∂θ_b, (k, k, m, m)."""
    sd, L, rows, cols = _factor(th, m)
    dL = _first_factor(sd, L, rows, cols)
    k = dL.shape[0]
    # L_a L_bᵀ: L_a has only row r_a, so this is e_{r_a} e_{r_b}ᵀ (row_a · row_b)
    ra = np.concatenate([np.arange(m), rows])
    vec = dL[np.arange(k), ra, :]                              # the non-zero row of each L_a
    H = np.zeros((k, k, m, m))
    a, b = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    H[a, b, ra[a], ra[b]] = vec @ vec.T
    # L_ab: non-zero for (i, i) (= L_i) and for (r, (r, c)) / ((r, c), r) (= sd_r e_r e_cᵀ)
    d2L = np.zeros((k, k, m, m))
    d2L[np.arange(m), np.arange(m)] = dL[:m]
    q = m + np.arange(len(rows))
    d2L[rows, q] = dL[q]
    d2L[q, rows] = dL[q]
    T = d2L @ L.T
    H += T
    H = H + H.transpose(0, 1, 3, 2)
    return H


def us_hessian_contracted(th: np.ndarray, m: int, M: np.ndarray) -> np.ndarray:
    """Σ_tu ∂²Σ/∂θ_a∂θ_b[t, u] M[t, u] for a symmetric M, (k, k), without the (k, k, m, m)
    array: 2 Σ (L_a L_bᵀ)∘M + 2 tr(L_ab Lᵀ M), where L_a L_bᵀ = (ℓ_a·ℓ_b) e_{r_a}e_{r_b}ᵀ
    (ℓ_a the non-zero row r_a of L_a) and L_ab is non-zero only on the pairs listed in the
    module docstring."""
    sd, L, rows, cols = _factor(th, m)
    dL = _first_factor(sd, L, rows, cols)
    k = dL.shape[0]
    ra = np.concatenate([np.arange(m), rows])
    vec = dL[np.arange(k), ra, :]
    out = (vec @ vec.T) * M[np.ix_(ra, ra)]
    ML = M @ L
    diag = np.arange(m)
    q = m + np.arange(len(rows))
    second = np.zeros((k, k))
    second[diag, diag] = np.einsum("ij,ij->i", L, ML)          # L_ii = e_i e_iᵀ L
    off = sd[rows] * ML[rows, cols]                            # L_{r,(r,c)} = sd_r e_r e_cᵀ
    second[rows, q] = off
    second[q, rows] = off
    return 2.0 * (out + second)
