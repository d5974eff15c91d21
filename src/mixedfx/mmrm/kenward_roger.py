"""Kenward–Roger for the MMRM (Kenward & Roger 1997; SAS DDFM=KR, mmrm's `h_var_adj`,
`h_kr_df`).

Adjusted covariance, with Φ = (XᵀΣ⁻¹X)⁻¹, W the covariance of θ̂ and P, Q, R from
`mixedfx.mmrm.components`:

    Φ_A = Φ + 2 Φ [Σ_kl W_kl (Q_kl − P_k Φ P_l − ¼ R_kl)] Φ

("Kenward-Roger-Linear" drops R, i.e. treats Σ as linear in mmrm's θ). Denominator df and
F scale of a contrast L (ℓ rows), M = Lᵀ(LΦLᵀ)⁻¹L:

    A1 = Σ_kl W_kl tr(MΦP_kΦ) tr(MΦP_lΦ),  A2 = Σ_kl W_kl tr(MΦP_kΦ MΦP_lΦ)
    B = (A1 + 6A2)/(2ℓ),  g = ((ℓ+1)A1 − (ℓ+4)A2)/((ℓ+2)A2),  d = 3ℓ + 2 − 2g
    c1 = g/d, c2 = (ℓ − g)/d, c3 = (ℓ + 2 − g)/d,  E* = 1/(1 − A2/ℓ)
    V* = (2/ℓ)(1 + c1B)/((1 − c2B)²(1 − c3B)),  ρ = V*/(2E*²)
    m = 4 + (ℓ + 2)/(ℓρ − 1),  λ = m/(E*(m − 2))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mixedfx.inference.kr_ddf import kr_df_and_scale
from mixedfx.mmrm.derivatives import complex_step_jacobian
from mixedfx.mmrm.sas_parameters import LINEAR, psi_of, sigma_of
from mixedfx.mmrm.structures import spatial_sigma


def adjusted_vcov(phi: np.ndarray, W: np.ndarray, P: np.ndarray, WQ: np.ndarray
                  ) -> np.ndarray:
    """Φ_A without the second-order term (see the module docstring): with WQ = Σ_kl W_kl Q_kl
    and Σ_kl W_kl P_kΦP_l = Σ_k P_kΦ(Σ_l W_kl P_l)."""
    WP = np.tensordot(W, P, axes=(1, 0))                       # Σ_l W_kl P_l, (k, p, p)
    PPW = np.einsum("kab,kbc->ac", P @ phi, WP)
    adj = phi + 2.0 * phi @ (WQ - PPW) @ phi
    return 0.5 * (adj + adj.T)


@dataclass
class KrDf:
    """df and F scale λ of one contrast."""

    df: float
    scale: float


def kr_df(phi: np.ndarray, W: np.ndarray, P: np.ndarray, L: np.ndarray) -> KrDf:
    """Kenward–Roger df and scale λ of the contrast rows L (A1, A2 as in the module
    docstring; the rest is `mixedfx.inference.kr_ddf.kr_df_and_scale`)."""
    L = np.atleast_2d(L)
    ell = L.shape[0]
    M = L.T @ np.linalg.solve(L @ phi @ L.T, L)
    T = (M @ phi) @ P @ phi                                  # M Φ P_k Φ, (k, p, p)
    tr = np.einsum("kaa->k", T)
    a1 = float(tr @ W @ tr)
    k = T.shape[0]
    TT = T.reshape(k, -1) @ T.transpose(0, 2, 1).reshape(k, -1).T   # tr(T_k T_l)
    a2 = float(np.sum(W * TT))
    return KrDf(*kr_df_and_scale(a1, a2, ell))


def sas_second_order(fit: Any, blocks: list[Any]) -> np.ndarray:
    """Σ_kl W_kl R_kl in SAS's parameterization ψ (`mixedfx.mmrm.sas_parameters`):
    Σ_i A_iᵀ D_i A_i with D_i = Σ_kl W^ψ_kl ∂²Σ_i/∂ψ_k∂ψ_l, W^ψ = J W Jᵀ, J = ∂ψ/∂θ."""
    smap, st = fit.smap, fit.state
    p = st.beta.size
    structure = smap.structure.name
    if structure in LINEAR:
        return np.zeros((p, p))
    spatial = smap.structure.spatial
    m = 2 if spatial else smap.m
    unit = np.array([[0.0, 1.0], [1.0, 0.0]])

    def sigma_theta(th: np.ndarray) -> np.ndarray:
        return spatial_sigma(structure, th, unit) if spatial else smap.structure.sigma(th, m)

    D_by_group = []
    for g in range(smap.n_groups):
        th = st.theta[smap.group_slice(g)]
        psi = psi_of(structure, sigma_theta(th), m).real
        J = complex_step_jacobian(lambda z: psi_of(structure, sigma_theta(z), m), th).T
        Wg = fit.theta_vcov[smap.group_slice(g), smap.group_slice(g)]
        D_by_group.append((psi, J @ Wg @ J.T))
    out = np.zeros((p, p))
    # non-spatial: a block's Σ is a submatrix of the group's m × m Σ, so is its D
    full = None if spatial else [
        _weighted_second(lambda ps: sigma_of(structure, ps, m), psi, Wpsi)
        for psi, Wpsi in D_by_group]
    for blk, Si in zip(blocks, st.sigma_inv, strict=True):
        if spatial:
            psi, Wpsi = D_by_group[blk.group]
            D = _weighted_second(lambda ps, d=blk.dist: sigma_of(structure, ps, 0, d),
                                 psi, Wpsi)
        else:
            D = full[blk.group][np.ix_(blk.visits, blk.visits)]
        A = Si @ blk.X
        out += np.einsum("stp,tu,suq->pq", A, D, A)
    return out


def _weighted_second(fn: Any, psi: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Σ_kl W_kl ∂²fn/∂ψ_k∂ψ_l (complex step in k, central difference in l)."""
    def jac(x: np.ndarray) -> np.ndarray:
        return complex_step_jacobian(fn, x)
    total = 0.0
    for ell in range(len(psi)):
        d = 1e-5 * max(1.0, abs(psi[ell]))
        up, dn = psi.copy(), psi.copy()
        up[ell] += d
        dn[ell] -= d
        H_l = (jac(up) - jac(dn)) / (2 * d)                  # (k, t, t): ∂²/∂ψ_k∂ψ_l
        total = total + np.einsum("k,ktu->tu", W[:, ell], H_l)
    return total
