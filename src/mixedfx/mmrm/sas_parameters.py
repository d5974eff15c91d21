"""SAS PROC MIXED's covariance parameters ψ for each structure, and Σ(ψ).

Kenward–Roger's second-order term ¼ Σ_kl W_kl R_kl depends on the parameterization (the
rest of the adjustment does not). SAS's DDFM=KR uses its own parameters, so the MMRM's
"Kenward-Roger" computes that term in ψ:

    us, toep, cs      linear in SAS's (co)variances: the term is 0 (KR = KR-linear)
    ar1               (σ², ρ)                       Σ = σ² ρ^|i−j|
    ar1h              (σ²_1..σ²_m, ρ)               Σ_ij = σ_iσ_j ρ^|i−j|
    ad / adh          (σ² | σ²_1..σ²_m, ρ_1..ρ_{m−1})  Σ_ij = σ_iσ_j ∏_{k=j}^{i−1} ρ_k
    csh               (σ²_1..σ²_m, ρ)               Σ_ij = σ_iσ_j (ρ + (1 − ρ)δ_ij)
    toeph             (σ²_1..σ²_m, ρ_1..ρ_{m−1})    Σ_ij = σ_iσ_j ρ_|i−j|
    sp_exp / sp_gau   (σ², d₀)                      Σ = σ² exp(−d/d₀) | σ² exp(−d²/d₀²)

`psi_of` maps Σ(θ) to ψ with analytic operations, so ∂ψ/∂θ follows by the complex step and
W_ψ = J W_θ Jᵀ.
"""

from __future__ import annotations

import numpy as np

from mixedfx.mmrm.structures import ante_corr, ar1_corr, toeplitz_corr

LINEAR = ("us", "toep", "cs")


def _corr(S: np.ndarray, i: int, j: int) -> np.ndarray:
    return S[i, j] / np.sqrt(S[i, i] * S[j, j])


def psi_of(structure: str, S: np.ndarray, m: int) -> np.ndarray:
    """ψ from the structure's Σ (m × m; for spatial structures Σ at distance 1, 2 × 2)."""
    var = np.diag(S)
    if structure in ("sp_exp", "sp_gau"):
        rho = S[0, 1] / S[0, 0]
        d0 = -1.0 / np.log(rho) if structure == "sp_exp" else np.sqrt(-1.0 / np.log(rho))
        return np.array([S[0, 0], d0])
    hetero = structure.endswith("h")
    v = var if hetero else var[:1]
    if structure in ("ar1", "ar1h", "csh"):
        r = np.array([_corr(S, 0, 1)])
    elif structure in ("ad", "adh"):
        r = np.array([_corr(S, k, k + 1) for k in range(m - 1)])
    elif structure == "toeph":
        r = np.array([_corr(S, 0, k) for k in range(1, m)])
    else:
        raise ValueError(f"no SAS parameters for {structure}")
    return np.concatenate([v, r])


def sigma_of(structure: str, psi: np.ndarray, m: int, dist: np.ndarray | None = None
             ) -> np.ndarray:
    """Σ(ψ) in SAS's parameterization (m × m, or from a distance matrix)."""
    if structure == "sp_exp":
        return psi[0] * np.exp(-dist / psi[1])
    if structure == "sp_gau":
        return psi[0] * np.exp(-(dist * dist) / (psi[1] * psi[1]))
    hetero = structure.endswith("h")
    sd = np.sqrt(psi[:m]) if hetero else np.sqrt(psi[0]) * np.ones(m)
    r = psi[m:] if hetero else psi[1:]
    if structure in ("ar1", "ar1h"):
        R = ar1_corr(r[:1], m)
    elif structure == "csh":
        R = r[0] + (1.0 - r[0]) * np.eye(m)
    elif structure == "toeph":
        R = toeplitz_corr(r, m)
    else:                                              # ad, adh
        R = ante_corr(r, m)
    return sd[:, None] * R * sd[None, :]
