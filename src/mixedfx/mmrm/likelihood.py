"""The MMRM criterion: −2 log-likelihood (ML) or −2 restricted log-likelihood (REML) as a
function of the covariance parameters θ, with β profiled out, and its analytic gradient.

With the rows of subject i scaled by √w (Var(y_ij) = Σ_jj / w_ij), X̃_i, ỹ_i, and Σ_i the
block of Σ(θ) on the subject's visits,

    A = Σ_i X̃_iᵀ Σ_i⁻¹ X̃_i,   β̂ = A⁻¹ Σ_i X̃_iᵀ Σ_i⁻¹ ỹ_i,   r̃_i = ỹ_i − X̃_i β̂
    −2ℓ_ML   = Σ_i log|Σ_i| − Σ log w + Σ_i r̃_iᵀ Σ_i⁻¹ r̃_i + n log 2π
    −2ℓ_REML = −2ℓ_ML + log|A| − p log 2π                                    (SAS's −2 Res LL)

Gradient (β̂ stationary): ∂(−2ℓ)/∂θ_k = Σ_b tr(G_b ∂Σ_b/∂θ_k), summing over blocks b of
subjects sharing Σ_b, with G_b = s_b Σ_b⁻¹ − Σ_b⁻¹ (S_b + Q_b) Σ_b⁻¹, S_b = Σ r̃ r̃ᵀ and, for
REML only, Q_b = Σ X̃ A⁻¹ X̃ᵀ over the block's subjects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mixedfx.mmrm.batched import SizeGroup
from mixedfx.mmrm.derivatives import SigmaMap
from mixedfx.mmrm.structures import spatial_sigma

LOG_2PI = math.log(2.0 * math.pi)


class NotPositiveDefiniteError(ArithmeticError):
    """Σ(θ) or XᵀΣ⁻¹X is not positive definite at this θ."""


@dataclass
class State:
    """Everything computed at one θ (per size group of blocks; per block on demand)."""

    theta: np.ndarray
    deviance: float
    beta: np.ndarray
    A: np.ndarray                       # XᵀΣ⁻¹X
    A_inv: np.ndarray                   # the asymptotic vcov of β̂
    stack_inv: list[np.ndarray]         # per size group (b, t, t): Σ⁻¹ of its blocks
    stack_sigma: list[np.ndarray]       # per size group (b, t, t)
    stack_resid: list[np.ndarray]       # per size group (n_s, t): whitened residuals r̃
    stacks: list[SizeGroup]
    stack_w: list[np.ndarray]           # per size group (n_s, t, p): Σ⁻¹X̃ per subject

    def per_block(self, arrays: list[np.ndarray], per_subject: bool) -> list[np.ndarray]:
        n = sum(len(sg.blocks) for sg in self.stacks)
        out: list[np.ndarray] = [np.empty(0)] * n
        for sg, arr in zip(self.stacks, arrays, strict=True):
            for j, pos in enumerate(sg.blocks):
                out[pos] = arr[sg.starts[j]:sg.starts[j] + sg.counts[j]] if per_subject \
                    else arr[j]
        return out

    @property
    def sigma_inv(self) -> list[np.ndarray]:
        """Σ⁻¹ per block, in the design's block order."""
        return self.per_block(self.stack_inv, False)

    @property
    def sigmas(self) -> list[np.ndarray]:
        return self.per_block(self.stack_sigma, False)

    @property
    def resid(self) -> list[np.ndarray]:
        """Whitened residuals per block, (s, t)."""
        return self.per_block(self.stack_resid, True)


def _chol_inv(S: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """(S⁻¹, log|S|, lower Cholesky factor) of a small SPD matrix (numpy's LAPACK: scipy's
    per-call overhead dominates at these sizes)."""
    try:
        L = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        raise NotPositiveDefiniteError from None
    d = np.diag(L)
    if not np.all(d > 0) or not np.all(np.isfinite(d)):
        raise NotPositiveDefiniteError
    Li = np.linalg.inv(L)
    return Li.T @ Li, 2.0 * float(np.log(d).sum()), L


def _sigma_stack(sg: SizeGroup, theta: np.ndarray, smap: SigmaMap) -> np.ndarray:
    """Σ of every block of a size group, (b, t, t)."""
    if sg.dist is not None:
        th = np.array([theta[smap.group_slice(g)] for g in sg.groups])
        return spatial_sigma(smap.structure.name, th.T[:, :, None, None], sg.dist)
    full = np.array([smap.full(theta, g) for g in range(smap.n_groups)])
    return full[sg.groups[:, None, None], sg.visits[:, :, None], sg.visits[:, None, :]]


def evaluate(theta: np.ndarray, stacks: list[SizeGroup], smap: SigmaMap, reml: bool,
             log_w_sum: float) -> State:
    """β̂(θ), A(θ) and the criterion at θ (raises NotPositiveDefiniteError)."""
    p = stacks[0].X.shape[2]
    A = np.zeros((p, p))
    b = np.zeros(p)
    logdet = -log_w_sum
    n = 0
    sig, inv, ws = [], [], []
    for sg in stacks:
        S = _sigma_stack(sg, theta, smap)
        try:
            L = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            raise NotPositiveDefiniteError from None
        d = np.diagonal(L, axis1=1, axis2=2)
        if not np.all(d > 0) or not np.all(np.isfinite(d)):
            raise NotPositiveDefiniteError
        Li = np.linalg.inv(L)
        Si = np.swapaxes(Li, 1, 2) @ Li
        sig.append(S)
        inv.append(Si)
        n += sg.y.size
        logdet += 2.0 * float(np.log(d).sum(axis=1) @ sg.counts)
        W = Si[sg.owner] @ sg.X                                  # Σ⁻¹X̃, (n_s, t, p)
        ws.append(W)
        A += sg.X.reshape(-1, p).T @ W.reshape(-1, p)
        b += W.reshape(-1, p).T @ sg.y.ravel()
    A_inv, logdet_A, _ = _chol_inv(A)
    beta = A_inv @ b
    quad = 0.0
    resid = []
    for sg, Si in zip(stacks, inv, strict=True):
        r = sg.y - sg.X @ beta
        resid.append(r)
        quad += float(np.sum(r * (Si[sg.owner] @ r[:, :, None])[:, :, 0]))
    dev = logdet + quad + n * LOG_2PI
    if reml:
        dev += logdet_A - p * LOG_2PI
    if not math.isfinite(dev):
        raise NotPositiveDefiniteError
    return State(theta, dev, beta, A, A_inv, inv, sig, resid, stacks, ws)


def gradient(state: State, smap: SigmaMap, reml: bool) -> np.ndarray:
    """∂(−2ℓ)/∂θ at the state's θ (see the module docstring)."""
    g = np.zeros(smap.n_theta)
    m = smap.m
    Gfull = np.zeros((smap.n_groups, m, m))
    for sg, Si, S, r in zip(state.stacks, state.stack_inv, state.stack_sigma, state.stack_resid,
                            strict=True):
        M = r[:, :, None] * r[:, None, :]                        # (n_s, t, t)
        if reml:
            M = M + (sg.X @ state.A_inv) @ np.swapaxes(sg.X, 1, 2)
        Mb = np.add.reduceat(M, sg.starts, axis=0)               # per block
        G = sg.counts[:, None, None] * Si - Si @ Mb @ Si
        if sg.dist is None:
            np.add.at(Gfull, (sg.groups[:, None, None], sg.visits[:, :, None],
                              sg.visits[:, None, :]), G)
            continue
        power = sg.dist if smap.structure.name == "sp_exp" else sg.dist ** 2
        for grp in np.unique(sg.groups):
            sel = sg.groups == grp
            sl = smap.group_slice(int(grp))
            rho = 1.0 / (1.0 + np.exp(-state.theta[sl][1]))
            g[sl] += [np.sum(G[sel] * S[sel]),
                      (1.0 - rho) * np.sum(G[sel] * S[sel] * power[sel])]
    if not smap.structure.spatial:
        for grp in range(smap.n_groups):
            J = smap.group_jacobian(state.theta, grp)                # (k, m, m)
            g[smap.group_slice(grp)] += np.einsum("tu,ktu->k", Gfull[grp], J)
    return g
