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


def _tr_pairs(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """tr(A_k B_l) for all k, l as one matrix product, (k, l)."""
    k = A.shape[0]
    return A.reshape(k, -1) @ B.transpose(0, 2, 1).reshape(B.shape[0], -1).T


def hessian(state: State, blocks: list[Block], smap: SigmaMap, reml: bool) -> np.ndarray:
    """H = ∂²(−2ℓ)/∂θ∂θᵀ at the state's θ (per block of subjects sharing Σ: a few small
    matrix products; the subjects enter through the block sums E, B and F)."""
    K, p = smap.n_theta, state.beta.size
    spatial = smap.structure.spatial
    if spatial:
        jacs = smap.jacobians(state.theta, blocks)
        hess = smap.hessians(state.theta, blocks)
    else:
        full = [smap.group_jacobian(state.theta, g) for g in range(smap.n_groups)]
        jacs = [full[b.group][:, b.visits][:, :, b.visits] for b in blocks]
        hess = [None] * len(blocks)
    m = smap.m
    Mfull = np.zeros((smap.n_groups, m, m))          # Σ_b M_b on the visit grid
    phi = state.A_inv
    H = np.zeros((K, K))
    u = np.zeros((K, p))
    W = state._per_block(state.stack_w, True)       # Σ⁻¹X̃ per block, (s, t, p)
    for blk, Si, r, SX, J, Hs in zip(blocks, state.sigma_inv, state.resid, W, jacs, hess,
                                     strict=True):
        sl = smap.group_slice(blk.group)
        s = r.shape[0]
        e = r @ Si                                               # (s, t)
        E = e.T @ e
        A = J @ Si                                               # Σ_kΣ⁻¹, (k, t, t)
        M = s * Si - E
        h = -s * _tr_pairs(A, A)
        h += 2.0 * _tr_pairs(A, J @ E)
        if reml:
            t = blk.size
            XPhi = (blk.X.reshape(-1, p) @ phi).reshape(s, t, p)
            XX = XPhi.transpose(1, 0, 2).reshape(t, -1) @ \
                blk.X.transpose(1, 0, 2).reshape(t, -1).T           # Σ_s X̃_s Φ X̃_sᵀ
            B = Si @ XX @ Si
            M = M - B
            h += 2.0 * _tr_pairs(J @ B, A)
        if spatial:
            h += np.einsum("kltu,ut->kl", Hs, M)
        else:
            Mfull[blk.group][np.ix_(blk.visits, blk.visits)] += M
        H[sl, sl] += h
        k, t = J.shape[0], J.shape[1]
        F = (SX.transpose(1, 2, 0).reshape(t * p, s) @ e).reshape(t, p, t)
        F = F.transpose(0, 2, 1)                                 # Σ_s (Σ⁻¹X̃)_s[t] e_s[u]
        u[sl] += J.reshape(k, t * t) @ F.reshape(t * t, p)
    if not spatial:
        for g in range(smap.n_groups):
            sl = smap.group_slice(g)
            Mg = 0.5 * (Mfull[g] + Mfull[g].T)
            H[sl, sl] += smap.group_hessian_contracted(state.theta, g, Mg)
    H -= 2.0 * u @ phi @ u.T
    if reml:
        PP = phi @ p_from_state(state, smap, blocks)             # (k, p, p): ΦP_k
        H -= _tr_pairs(PP, PP)
    return 0.5 * (H + H.T)
