"""The analytic Hessian of the MMRM criterion −2ℓ with respect to θ (β̂ profiled).

With Σ_i the subject's covariance, Σ_k, Σ_kl its first and second derivatives, r_i the
whitened residuals at β̂, e_i = Σ_i⁻¹r_i, Φ = (XᵀΣ⁻¹X)⁻¹, u_k = Σ_i X_iᵀΣ_i⁻¹Σ_k e_i and, per
block of subjects sharing Σ, E = Σ e eᵀ and B = Σ⁻¹(Σ X Φ Xᵀ)Σ⁻¹:

    ML:   H_kl = Σ_b [s_b tr(Σ⁻¹Σ_kl) − tr(Σ_kl E) − s_b tr(Σ⁻¹Σ_kΣ⁻¹Σ_l)
                      + 2 tr(Σ_kΣ⁻¹Σ_l E)] − 2 u_kᵀΦu_l
    REML: the same − Σ_b tr(Σ_kl B) + 2 Σ_b tr(Σ_lΣ⁻¹Σ_k B) − tr(ΦP_kΦP_l)

(P_k = Σ_i X_iᵀΣ_i⁻¹Σ_kΣ_i⁻¹X_i). These are the derivatives of log|Σ| (+ log|XᵀΣ⁻¹X|) + rᵀΣ⁻¹r
with the change of β̂ included (∂β̂/∂θ_l = −Φu_l).
"""

from __future__ import annotations

import numpy as np

from mixedfx.mmrm.components import p_from_state
from mixedfx.mmrm.derivatives import SigmaMap
from mixedfx.mmrm.design import Block
from mixedfx.mmrm.likelihood import State


def hessian(state: State, blocks: list[Block], smap: SigmaMap, reml: bool) -> np.ndarray:
    """H = ∂²(−2ℓ)/∂θ∂θᵀ at the state's θ."""
    K, p = smap.n_theta, state.beta.size
    jacs = smap.jacobians(state.theta, blocks)
    spatial = smap.structure.spatial
    hess = smap.hessians(state.theta, blocks) if spatial else [None] * len(blocks)
    m = smap.m
    Mfull = np.zeros((smap.n_groups, m, m))          # Σ_b M_b on the visit grid
    phi = state.A_inv
    H = np.zeros((K, K))
    u = np.zeros((K, p))
    for blk, Si, r, J, Hs in zip(blocks, state.sigma_inv, state.resid, jacs, hess,
                                 strict=True):
        sl = smap.group_slice(blk.group)
        s = r.shape[0]
        e = r @ Si                                               # (s, t)
        E = e.T @ e
        SX = Si @ blk.X                                          # (s, t, p)
        A = J @ Si                                               # Σ_kΣ⁻¹, (k, t, t)
        M = s * Si - E
        h = np.einsum("ktu,lut->kl", A, A) * (-s)
        h += 2.0 * np.einsum("ktu,lut->kl", A, J @ E)
        if reml:
            B = Si @ np.einsum("stp,sup->tu", blk.X @ phi, blk.X) @ Si
            M = M - B
            h += 2.0 * np.einsum("ltu,kut->kl", A, J @ B)
        if spatial:
            h += np.einsum("kltu,ut->kl", Hs, M)
        else:
            Mfull[blk.group][np.ix_(blk.visits, blk.visits)] += M
        H[sl, sl] += h
        Je = np.einsum("ktu,su->kst", J, e)                     # Σ_k e_i
        u[sl] += np.einsum("stp,kst->kp", SX, Je)
    if not spatial:
        for g in range(smap.n_groups):
            sl = smap.group_slice(g)
            H[sl, sl] += np.einsum("kltu,tu->kl", smap.group_hessian(state.theta, g), Mfull[g])
    H -= 2.0 * u @ phi @ u.T
    if reml:
        PP = phi @ p_from_state(state, smap, blocks)             # (k, p, p): ΦP_k
        H -= np.einsum("kab,lba->kl", PP, PP)
    return 0.5 * (H + H.T)
