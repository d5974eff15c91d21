"""Sandwich covariances of β̂ (SAS EMPIRICAL; mmrm's "Empirical", "Empirical-Jackknife",
"Empirical-Bias-Reduced") and their Satterthwaite-type df.

Per subject i, with Σ_i = L_i L_iᵀ and the weighted rows, X̆_i = L_i⁻¹X̃_i, ĕ_i = L_i⁻¹r̃_i,
H_ii = X̆_i Φ X̆_iᵀ and A_i = I (Empirical), (I − H_ii)⁻¹ (Jackknife) or (I − H_ii)^{−1/2}
(Bias-Reduced, the symmetric inverse square root):

    z_i = X̆_iᵀ A_i ĕ_i,    V = Φ (Σ_i z_i z_iᵀ) Φ.

Degrees of freedom of cᵀβ̂ (Bell & McCaffrey; mmrm's `h_df_1d_sat_empirical`): with
a_i = A_iᵀ X̆_i Φ c and B = [X̆_1ᵀa_1, …, X̆_Nᵀa_N] (p × N), the N × N matrix
G = diag(‖a_i‖²) − BᵀΦB gives df = tr(G)² / ‖G‖²_F (neither G nor the n × n projection is
formed: `Sandwich.df`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedfx.mmrm.design import Block
from mixedfx.mmrm.likelihood import State

EMPIRICAL = ("Empirical", "Empirical-Jackknife", "Empirical-Bias-Reduced")


def _inv_sqrt(M: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(M)
    vals = np.where(vals > 1e-12, vals, np.inf)
    return (vecs / np.sqrt(vals)) @ vecs.T


@dataclass
class Sandwich:
    """The sandwich covariance and, per block of subjects sharing Σ, X̆_iᵀ A_i and X̆_i
    stacked over the block's subjects (for the df)."""

    vcov: np.ndarray
    xta: list[np.ndarray]               # per block (s, p, t): X̆_iᵀ A_i
    xw: list[np.ndarray]                # per block (s, t, p): X̆_i
    phi: np.ndarray

    def df(self, c: np.ndarray) -> float:
        """Bell–McCaffrey df of cᵀβ̂, without the N × N matrix G: with d_i = ‖a_i‖²,
        b_i = X̆_iᵀa_i, h_i = b_iᵀΦb_i and M = Σ_i b_i b_iᵀ, tr(G) = Σ d_i − Σ h_i and
        ‖G‖²_F = Σ d_i² − 2 Σ d_i h_i + tr(ΦMΦM)."""
        pc = self.phi @ c
        d_parts, b_parts = [], []
        for XA, Xs in zip(self.xta, self.xw, strict=True):
            a = np.einsum("spt,p->st", XA, pc)                  # a_i, (s, t)
            d_parts.append(np.einsum("st,st->s", a, a))
            b_parts.append(np.einsum("stp,st->sp", Xs, a))     # b_i, (s, p)
        d, b = np.concatenate(d_parts), np.concatenate(b_parts)
        h = np.einsum("np,np->n", b @ self.phi, b)
        PM = self.phi @ (b.T @ b)
        trace = float(d.sum() - h.sum())
        fro = float(d @ d - 2.0 * (d @ h) + np.sum(PM * PM.T))
        return trace * trace / fro


def sandwich(state: State, blocks: list[Block], kind: str) -> Sandwich:
    """The sandwich covariance of the given kind (see the module docstring); each block's
    subjects are whitened together with the block's inverse Cholesky factor."""
    phi = state.A_inv
    p = phi.shape[0]
    meat = np.zeros((p, p))
    xta, xw = [], []
    for blk, S, r in zip(blocks, state.sigmas, state.resid, strict=True):
        t = S.shape[0]
        Linv = np.linalg.inv(np.linalg.cholesky(S))
        Xs = Linv @ blk.X                                       # (s, t, p)
        es = r @ Linv.T                                         # (s, t)
        if kind == "Empirical":
            A = np.broadcast_to(np.eye(t), (len(es), t, t))
        else:
            M = np.eye(t) - Xs @ phi @ Xs.transpose(0, 2, 1)
            A = np.linalg.inv(M) if kind == "Empirical-Jackknife" else \
                np.array([_inv_sqrt(Mi) for Mi in M])
        XA = Xs.transpose(0, 2, 1) @ A                          # (s, p, t)
        z = np.einsum("spt,st->sp", XA, es)
        meat += z.T @ z
        xta.append(XA)
        xw.append(Xs)
    V = phi @ meat @ phi
    return Sandwich(0.5 * (V + V.T), xta, xw, phi)
