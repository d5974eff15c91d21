"""The derivative matrices of XᵀΣ⁻¹X that Satterthwaite and Kenward–Roger need, summed
over subjects block by block (A_i = Σ_i⁻¹ X̃_i, Σ_k = ∂Σ/∂θ_k, Σ_kl = ∂²Σ/∂θ_k∂θ_l):

    P_k  = Σ_i A_iᵀ Σ_k A_i                    (−∂(XᵀΣ⁻¹X)/∂θ_k)
    Q_kl = Σ_i A_iᵀ Σ_k Σ_i⁻¹ Σ_l A_i
    R_kl = Σ_i A_iᵀ Σ_kl A_i

Parameters of different covariance groups never meet in one subject: their Q and R are 0.
The Jacobian of Φ = (XᵀΣ⁻¹X)⁻¹ is ∂Φ/∂θ_k = Φ P_k Φ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mixedfx.mmrm.derivatives import SigmaMap
from mixedfx.mmrm.design import Block
from mixedfx.mmrm.likelihood import State

if TYPE_CHECKING:
    from mixedfx.mmrm.fit import MmrmFit


@dataclass
class Components:
    P: np.ndarray                       # (K, p, p)
    Q: np.ndarray | None = None         # (K, K, p, p)
    R: np.ndarray | None = None         # (K, K, p, p)


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


def kr_components(fit: MmrmFit, blocks: list[Block], second: bool = True) -> Components:
    """P, Q and (with `second`) R for Kenward–Roger."""
    st, smap = fit.state, fit.smap
    jacs = smap.jacobians(st.theta, blocks)
    hess = smap.hessians(st.theta, blocks) if second else [None] * len(blocks)
    p, K = st.beta.size, smap.n_theta
    P = np.zeros((K, p, p))
    Q = np.zeros((K, K, p, p))
    R = np.zeros((K, K, p, p))
    for blk, Si, J, H in zip(blocks, st.sigma_inv, jacs, hess, strict=True):
        g = smap.group_slice(blk.group)
        A = Si @ blk.X                                          # (s, t, p)
        s, t, _ = A.shape
        U = np.einsum("ktu,sup->kstp", J, A)                    # Σ_k A
        V = np.einsum("tu,ksup->kstp", Si, U)                   # Σ⁻¹ Σ_k A
        Af = A.reshape(s * t, p)
        P[g] += np.einsum("np,knq->kpq", Af, U.reshape(-1, s * t, p))
        k = U.shape[0]
        Uf = U.reshape(k, s * t, p).transpose(0, 2, 1).reshape(k * p, s * t)
        Vf = V.reshape(k, s * t, p).transpose(1, 0, 2).reshape(s * t, k * p)
        Q[g, g] += (Uf @ Vf).reshape(k, p, k, p).transpose(0, 2, 1, 3)
        if H is not None:
            HA = np.einsum("kltu,sup->klstp", H, A).reshape(k, k, s * t, p)
            R[g, g] += np.einsum("np,klnq->klpq", Af, HA)
    return Components(P, Q, R if second else np.zeros_like(Q))
