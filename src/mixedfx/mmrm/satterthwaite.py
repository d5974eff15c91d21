"""Satterthwaite degrees of freedom for the MMRM (SAS DDFM=SATTERTHWAITE, mmrm's
`h_df_1d_sat` / `h_df_md_sat`).

One contrast c with the asymptotic covariance: v = cᵀΦc, g_k = cᵀ(∂Φ/∂θ_k)c = cᵀΦP_kΦc,
df = 2v² / (gᵀWg), W the covariance of θ̂. With an empirical covariance (sandwich) the df is
Bell–McCaffrey's: G = (cᵀ-weighted projections per subject), df = tr(G)² / ‖G‖²_F (see
`mixedfx.mmrm.empirical`).

Several rows L: eigen-decompose LVLᵀ = UΛUᵀ (V the chosen covariance), keep the rank
r rows of UᵀL, one df ν_m per row, then E = Σ ν_m/(ν_m − 2) and df = 2E/(E − r) (df = 2 if
any ν_m ≤ 2; the common value when all are equal).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def sat_df_1d(c: np.ndarray, phi: np.ndarray, W: np.ndarray, P: np.ndarray) -> float:
    """Satterthwaite df of cᵀβ̂ with the asymptotic covariance Φ."""
    v = float(c @ phi @ c)
    pc = phi @ c
    g = np.einsum("a,kab,b->k", pc, P, pc)
    return 2.0 * v * v / float(g @ W @ g)


def combine_df(nu: np.ndarray) -> float:
    """Denominator df of an F test from the df of its r orthogonal t tests."""
    nu = np.asarray(nu, float)
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < np.sqrt(np.finfo(float).eps)):
        return float(nu.mean())
    if np.any(nu <= 2):
        return 2.0
    e = float(np.sum(nu / (nu - 2.0)))
    return 2.0 * e / (e - nu.size)


def orthogonal_rows(L: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows UᵀL of full rank r and the eigenvalues λ_1..λ_r of LVLᵀ."""
    vals, vecs = np.linalg.eigh(L @ V @ L.T)
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    tol = max(np.sqrt(np.finfo(float).eps) * vals[0], 0.0)
    r = int(np.sum(vals > tol))
    return (vecs.T @ L)[:r], vals[:r]


def sat_df_md(L: np.ndarray, V: np.ndarray, df_1d: Callable[[np.ndarray], float]
              ) -> tuple[float, int]:
    """Satterthwaite denominator df and rank of the F test of L (per-row df `df_1d`)."""
    rows, _ = orthogonal_rows(L, V)
    nu = np.array([df_1d(row) for row in rows])
    return combine_df(nu), rows.shape[0]
