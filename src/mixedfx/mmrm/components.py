"""The derivative matrices of XᵀΣ⁻¹X that Satterthwaite and Kenward–Roger need, summed
over subjects block by block (A_i = Σ_i⁻¹ X̃_i, Σ_k = ∂Σ/∂θ_k, Σ_kl = ∂²Σ/∂θ_k∂θ_l):

    P_k  = Σ_i A_iᵀ Σ_k A_i                    (−∂(XᵀΣ⁻¹X)/∂θ_k)
    Q_kl = Σ_i A_iᵀ Σ_k Σ_i⁻¹ Σ_l A_i
    R_kl = Σ_i A_iᵀ Σ_kl A_i

Parameters of different covariance groups never meet in one subject: their Q and R are 0.
The Jacobian of Φ = (XᵀΣ⁻¹X)⁻¹ is ∂Φ/∂θ_k = Φ P_k Φ. Kenward–Roger needs Q only contracted
with the covariance W of θ̂ (`weighted_q`); R (second derivatives) enters in SAS's
parameterization (`kenward_roger.sas_second_order`).
"""

from __future__ import annotations

import numpy as np

from mixedfx.mmrm.derivatives import SigmaMap
from mixedfx.mmrm.design import Block
from mixedfx.mmrm.likelihood import State
from mixedfx.mmrm.optimum import MmrmFit


def p_matrices(fit: MmrmFit, blocks: list[Block]) -> np.ndarray:
    """P_k for every θ_k at the fit's optimum (see `p_from_state`)."""
    return p_from_state(fit.state, fit.smap, blocks)


def p_from_state(st: State, smap: SigmaMap, blocks: list[Block]) -> np.ndarray:
    """P_k for every θ_k. Non-spatial structures: with C_g[t,u,:,:] = Σ_i A_i[t]ᵀA_i[u]
    summed over group g's subjects on the full visit grid, P_k = Σ_tu ∂Σ_g/∂θ_k[t,u] C_g[t,u]
    (one pass over the rows, then a small contraction per parameter)."""
    p = st.beta.size
    P = np.zeros((smap.n_theta, p, p))
    if smap.structure.spatial:
        jacs = smap.jacobians(st.theta, blocks)
        for blk, Si, J in zip(blocks, st.sigma_inv, jacs, strict=True):
            A = Si @ blk.X                                      # (s, t, p)
            T = np.einsum("ktu,sup->kstp", J, A)
            P[smap.group_slice(blk.group)] += np.einsum("stp,kstq->kpq", A, T)
        return P
    m = smap.m
    C = np.zeros((smap.n_groups, m * p, m * p))
    for sg, W in zip(st.stacks, st.stack_w, strict=True):
        n_s = W.shape[0]
        Wf = np.zeros((n_s, m, p))                              # Σ⁻¹X̃ on the full visit grid
        Wf[np.arange(n_s)[:, None], sg.visits[sg.owner]] = W
        Wf = Wf.reshape(n_s, m * p)
        subj_group = sg.groups[sg.owner]
        for g in np.unique(subj_group):
            Wg = Wf[subj_group == g]
            C[g] += Wg.T @ Wg
    C = C.reshape(smap.n_groups, m, p, m, p)
    for g in range(smap.n_groups):
        J = smap.group_jacobian(st.theta, g)                    # (k, m, m)
        Cg = C[g].transpose(0, 2, 1, 3).reshape(m * m, p * p)  # [(t, u), (p, q)]
        P[smap.group_slice(g)] = (J.reshape(-1, m * m) @ Cg).reshape(-1, p, p)
    return P


def weighted_q(fit: MmrmFit, blocks: list[Block]) -> np.ndarray:
    """Σ_kl W_kl Q_kl with W the covariance of θ̂, without the (K, K, p, p) array: per block
    of subjects sharing Σ, D = Σ_kl W_kl Σ_kΣ⁻¹Σ_l (t × t, only the block's group's
    parameters), then Σ_i A_iᵀ D A_i."""
    st, smap = fit.state, fit.smap
    p = st.beta.size
    if smap.structure.spatial:
        jacs = smap.jacobians(st.theta, blocks)
    else:
        full = [smap.group_jacobian(st.theta, g) for g in range(smap.n_groups)]
        jacs = [full[b.group][:, b.visits][:, :, b.visits] for b in blocks]
    W_by_group = [fit.theta_vcov[smap.group_slice(g), smap.group_slice(g)]
                  for g in range(smap.n_groups)]
    out = np.zeros((p, p))
    A_blocks = st.per_block(st.stack_w, True)                 # Σ⁻¹X̃ per block, (s, t, p)
    for blk, Si, J, A in zip(blocks, st.sigma_inv, jacs, A_blocks, strict=True):
        k, t = J.shape[0], J.shape[1]
        JS = J @ Si                                             # Σ_kΣ⁻¹
        WJ = np.tensordot(W_by_group[blk.group], J, axes=(1, 0))   # Σ_l W_kl Σ_l
        D = JS.transpose(1, 0, 2).reshape(t, k * t) @ WJ.reshape(k * t, t)
        DA = np.matmul(D, A)                                    # (s, t, p)
        out += A.reshape(-1, p).T @ DA.reshape(-1, p)
    return 0.5 * (out + out.T)
