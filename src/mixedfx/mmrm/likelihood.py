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

from mixedfx.mmrm.derivatives import SigmaMap
from mixedfx.mmrm.design import Block

LOG_2PI = math.log(2.0 * math.pi)


class NotPositiveDefiniteError(ArithmeticError):
    """Σ(θ) or XᵀΣ⁻¹X is not positive definite at this θ."""


@dataclass
class State:
    """Everything computed at one θ."""

    theta: np.ndarray
    deviance: float
    beta: np.ndarray
    A: np.ndarray                       # XᵀΣ⁻¹X
    A_inv: np.ndarray                   # the asymptotic vcov of β̂
    sigma_inv: list[np.ndarray]         # per block
    sigmas: list[np.ndarray]
    resid: list[np.ndarray]             # per block (s, t): whitened residuals r̃


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


def evaluate(theta: np.ndarray, blocks: list[Block], smap: SigmaMap, reml: bool,
             log_w_sum: float) -> State:
    """β̂(θ), A(θ) and the criterion at θ (raises NotPositiveDefiniteError)."""
    sigmas = smap.sigmas(theta, blocks)
    p = blocks[0].X.shape[2]
    A = np.zeros((p, p))
    b = np.zeros(p)
    logdet = -log_w_sum
    inv = []
    n = 0
    for blk, S in zip(blocks, sigmas, strict=True):
        Si, ld, _ = _chol_inv(S)
        inv.append(Si)
        s, t = blk.y.shape
        n += s * t
        logdet += s * ld
        W = Si @ blk.X                                     # Σ⁻¹X̃, (s, t, p)
        A += np.einsum("stp,stq->pq", W, blk.X)
        b += np.einsum("stp,st->p", W, blk.y)
    A_inv, logdet_A, _ = _chol_inv(A)
    beta = A_inv @ b
    quad = 0.0
    resid = []
    for blk, Si in zip(blocks, inv, strict=True):
        r = blk.y - blk.X @ beta
        resid.append(r)
        quad += float(np.einsum("st,tu,su->", r, Si, r))
    dev = logdet + quad + n * LOG_2PI
    if reml:
        dev += logdet_A - p * LOG_2PI
    if not math.isfinite(dev):
        raise NotPositiveDefiniteError
    return State(theta, dev, beta, A, A_inv, inv, sigmas, resid)


def gradient(state: State, blocks: list[Block], smap: SigmaMap, reml: bool) -> np.ndarray:
    """∂(−2ℓ)/∂θ at the state's θ (see the module docstring)."""
    jacs = smap.jacobians(state.theta, blocks)
    g = np.zeros(smap.n_theta)
    for blk, Si, r, J in zip(blocks, state.sigma_inv, state.resid, jacs, strict=True):
        M = r.T @ r
        if reml:
            XA = blk.X @ state.A_inv                            # (s, t, p)
            M = M + np.einsum("stp,sup->tu", XA, blk.X)
        G = blk.y.shape[0] * Si - Si @ M @ Si
        g[smap.group_slice(blk.group)] += np.einsum("tu,ktu->k", G, J)
    return g
