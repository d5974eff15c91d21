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
    """tr(A_k B_l) for all k, l as one matrix product, (k, l); with a leading batch axis,
    one (k, l) matrix per batch element."""
    k, t = A.shape[-3], A.shape[-1]
    Bt = np.swapaxes(B, -1, -2).reshape(*B.shape[:-3], B.shape[-3], t * t)
    return A.reshape(*A.shape[:-3], k, t * t) @ np.swapaxes(Bt, -1, -2)


def _finish(state: State, smap: SigmaMap, blocks: list[Block], H: np.ndarray,
            u: np.ndarray, reml: bool) -> np.ndarray:
    """The β̂-profiling terms: −2uᵀΦu and, for REML, −tr(ΦP_kΦP_l)."""
    phi = state.A_inv
    H -= 2.0 * u @ phi @ u.T
    if reml:
        PP = phi @ p_from_state(state, smap, blocks)             # (k, p, p): ΦP_k
        H -= _tr_pairs(PP, PP)
    return 0.5 * (H + H.T)


def hessian(state: State, blocks: list[Block], smap: SigmaMap, reml: bool) -> np.ndarray:
    """H = ∂²(−2ℓ)/∂θ∂θᵀ at the state's θ. Non-spatial structures: all blocks of one size
    at once on the visit grid (`_grid_terms`); spatial: block by block."""
    if not smap.structure.spatial:
        H, u = _grid_terms(state, smap, reml)
        return _finish(state, smap, blocks, H, u, reml)
    K, p = smap.n_theta, state.beta.size
    jacs = smap.jacobians(state.theta, blocks)
    hess = smap.hessians(state.theta, blocks)
    phi = state.A_inv
    H = np.zeros((K, K))
    u = np.zeros((K, p))
    W = state.per_block(state.stack_w, True)       # Σ⁻¹X̃ per block, (s, t, p)
    for blk, Si, r, SX, J, Hs in zip(blocks, state.sigma_inv, state.resid, W, jacs, hess,
                                     strict=True):
        sl = smap.group_slice(blk.group)
        s, t = r.shape
        e = r @ Si                                               # (s, t)
        E = e.T @ e
        A = J @ Si                                               # Σ_kΣ⁻¹, (k, t, t)
        M = s * Si - E
        h = -s * _tr_pairs(A, A) + 2.0 * _tr_pairs(A, J @ E)
        if reml:
            XPhi = (blk.X.reshape(-1, p) @ phi).reshape(s, t, p)
            XX = XPhi.transpose(1, 0, 2).reshape(t, -1) @ \
                blk.X.transpose(1, 0, 2).reshape(t, -1).T           # Σ_s X̃_s Φ X̃_sᵀ
            B = Si @ XX @ Si
            M = M - B
            h += 2.0 * _tr_pairs(J @ B, A)
        h += np.einsum("kltu,ut->kl", Hs, M)
        H[sl, sl] += h
        k = J.shape[0]
        F = (SX.transpose(1, 2, 0).reshape(t * p, s) @ e).reshape(t, p, t)
        u[sl] += J.reshape(k, t * t) @ F.transpose(0, 2, 1).reshape(t * t, p)
    return _finish(state, smap, blocks, H, u, reml)


def _grid_terms(state: State, smap: SigmaMap, reml: bool) -> tuple[np.ndarray, np.ndarray]:
    """The block sums of H and u for a non-spatial structure, all blocks of one size t
    batched ((b, k, t, t) Jacobians gathered from the groups' m × m ones); Σ_b M_b is
    accumulated on the visit grid and contracted once with ∂²Σ_g (analytic for us)."""
    K, p, m = smap.n_theta, state.beta.size, smap.m
    phi = state.A_inv
    Jfull = np.array([smap.group_jacobian(state.theta, g) for g in range(smap.n_groups)])
    k = Jfull.shape[1]
    H = np.zeros((K, K))
    u = np.zeros((K, p))
    Mfull = np.zeros((smap.n_groups, m, m))
    for sg, Si, r, W in zip(state.stacks, state.stack_inv, state.stack_resid, state.stack_w,
                            strict=True):
        b, t = sg.visits.shape
        v1, v2 = sg.visits[:, None, :, None], sg.visits[:, None, None, :]
        J = Jfull[sg.groups[:, None, None, None], np.arange(k)[None, :, None, None], v1, v2]
        e = (r[:, None, :] @ Si[sg.owner])[:, 0, :]              # Σ⁻¹r̃ per subject, (n_s, t)
        E = np.add.reduceat(e[:, :, None] * e[:, None, :], sg.starts, axis=0)   # (b, t, t)
        A = J @ Si[:, None]                                      # Σ_kΣ⁻¹, (b, k, t, t)
        s = sg.counts.astype(float)
        M = s[:, None, None] * Si - E
        h = -s[:, None, None] * _tr_pairs(A, A) + 2.0 * _tr_pairs(A, J @ E[:, None])
        if reml:
            XPhi = sg.X @ phi                                    # (n_s, t, p)
            XX = np.add.reduceat(XPhi @ np.swapaxes(sg.X, 1, 2), sg.starts, axis=0)
            B = Si @ XX @ Si
            M = M - B
            h += 2.0 * _tr_pairs(J @ B[:, None], A)
        np.add.at(Mfull, (sg.groups[:, None, None], sg.visits[:, :, None],
                          sg.visits[:, None, :]), M)
        # F_b[t, u, :] = Σ_s (Σ⁻¹X̃)_s[t] e_s[u]
        F = np.add.reduceat(W[:, :, None, :] * e[:, None, :, None], sg.starts, axis=0)
        ub = J.reshape(b, k, t * t) @ F.reshape(b, t * t, p)     # (b, k, p)
        for g in np.unique(sg.groups):
            sel = sg.groups == g
            sl = smap.group_slice(int(g))
            H[sl, sl] += h[sel].sum(axis=0)
            u[sl] += ub[sel].sum(axis=0)
    for g in range(smap.n_groups):
        sl = smap.group_slice(g)
        Mg = 0.5 * (Mfull[g] + Mfull[g].T)
        H[sl, sl] += smap.group_hessian_contracted(state.theta, g, Mg)
    return H, u
