"""Kenward–Roger adjusted covariance of β̂ and denominator df, as pbkrtest (`vcovAdj`,
`Lb_ddf`, `KRmodcomp`).

The marginal covariance is Σ = Σᵢ γᵢ Gᵢ, one γ per variance or covariance component of each
random-effects term (pbkrtest's parameterization) and one for σ²: Gᵢ = Z Eᵢ Zᵀ with Eᵢ the
indicator of component (a, b) of the term's k×k block repeated over its levels, and G = I for
σ². With Φ = (XᵀΣ⁻¹X)⁻¹ the unadjusted covariance,

    Pᵢ = −XᵀΣ⁻¹GᵢΣ⁻¹X,   Qᵢⱼ = XᵀΣ⁻¹GᵢΣ⁻¹GⱼΣ⁻¹X,
    Iᵢⱼ = tr(Σ⁻¹GᵢΣ⁻¹Gⱼ) − 2 tr(ΦQᵢⱼ) + tr(ΦPᵢΦPⱼ),   W = 2 I⁻¹,
    U = Σᵢⱼ Wᵢⱼ (Qᵢⱼ − PᵢΦPⱼ),   Φ_A = Φ + 2 Φ U Φ.

Nothing n×n is formed. With Λ the relative covariance factor, C = Λ(ΛᵀZᵀZΛ + I)⁻¹Λᵀ and
Σ = σ²(ZΛΛᵀZᵀ + I), Woodbury gives Σ⁻¹ = σ⁻²(I − Z C Zᵀ), so every quantity above reduces
to q×q and q×p products with A = ZᵀZ: ZᵀΣ⁻¹Z = σ⁻² A K, ZᵀΣ⁻¹X = σ⁻² Kᵀ ZᵀX with
K = I − CA, ZᵀΣ⁻²Z = σ⁻⁴ KᵀAK, tr Σ⁻² = σ⁻⁴ (n − 2 tr CA + tr CACA), and Σ⁻¹X (n×p) for
the σ² terms. Prior weights w enter by scaling the rows of Z and X by √w (then Σ's residual
part is σ²I again). The df of a contrast L follows pbkrtest's `Lb_ddf` / `.KR_adjust`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from mixedfx.errors import ArgumentError
from mixedfx.fitted.getme import lambda_matrix, z_matrix
from mixedfx.inference.cache import per_model
from mixedfx.inference.kenward_roger_structured import structured_kenward_roger
from mixedfx.inference.kr_ddf import KenwardRoger, information_weights
from mixedfx.lazy import lazy_module

sp = lazy_module("scipy.sparse")  # ~0.1 s at import (with scipy.sparse.linalg); only here

if TYPE_CHECKING:
    from mixedfx.fitted.protocol import LinearMixedFit
    from mixedfx.frame.terms import RandomEffectsTerm


def component_indicators(terms: list[RandomEffectsTerm]) -> list[sp.csr_matrix]:
    """Eᵢ for every variance/covariance component, term by term, (a, b) row-major a ≤ b."""
    q = sum(t.q for t in terms)
    out = []
    off = 0
    for t in terms:
        lev = np.arange(t.n_levels) * t.k + off
        for a in range(t.k):
            for b in range(a, t.k):
                r = np.concatenate([lev + a, lev + b]) if a != b else lev + a
                c = np.concatenate([lev + b, lev + a]) if a != b else lev + a
                out.append(sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(q, q)))
        off += t.q
    return out


def kenward_roger_adjustment(model: LinearMixedFit) -> KenwardRoger:
    """pbkrtest's `vcovAdj` for a REML fit (see the module docstring)."""
    if model.residual_structure is not None:
        raise ArgumentError("Kenward-Roger is not available for models with an nlme residual "
                            "structure; use ddf='Satterthwaite'")
    frame = model.frame
    terms = frame.terms
    n = frame.n
    Z = z_matrix(terms, n)
    X = frame.X
    if frame.weights is not None:
        sw = np.sqrt(frame.weights)
        Z = sp.csc_matrix(sp.diags(sw) @ Z)
        X = X * sw[:, None]
    s2 = model.sigma**2
    Phi = model.vcov.to_numpy()
    q = Z.shape[1]
    A = (Z.T @ Z).toarray()
    ZX = np.asarray(Z.T @ X)
    Lam = lambda_matrix(terms, model.engine_fit.factor.templates)
    M = (Lam.T @ A @ Lam) + np.eye(q)
    LamT = Lam.T.toarray()
    C = Lam @ cho_solve(cho_factor(M, lower=True), LamT)
    C = np.asarray(C)
    CA = C @ A
    K = np.eye(q) - CA
    Mz = (A @ K) / s2                       # ZᵀΣ⁻¹Z
    Wzx = (K.T @ ZX) / s2                   # ZᵀΣ⁻¹X
    Y = (X - Z @ (C @ ZX)) / s2             # Σ⁻¹X
    ZtY = np.asarray(Z.T @ Y)
    Z2X = (K.T @ ZtY) / s2                  # ZᵀΣ⁻²X
    X2X = Y.T @ Y                           # XᵀΣ⁻²X
    X3X = (Y.T @ Y - ZtY.T @ C @ ZtY) / s2  # XᵀΣ⁻³X
    Z2Z = (K.T @ A @ K) / s2**2             # ZᵀΣ⁻²Z
    trS2 = (n - 2.0 * np.trace(CA) + float(np.sum(CA * CA.T))) / s2**2

    E = component_indicators(terms)
    m = len(E) + 1
    EW = [Ei @ Wzx for Ei in E]
    EM = [np.asarray(Ei @ Mz) for Ei in E]
    P = [-(Wzx.T @ ew) for ew in EW] + [-X2X]
    P = [0.5 * (Pi + Pi.T) for Pi in P]

    def Qmat(i: int, j: int) -> np.ndarray:
        if i < m - 1 and j < m - 1:
            return EW[i].T @ Mz @ EW[j]
        if i < m - 1:
            return EW[i].T @ Z2X
        if j < m - 1:
            return Z2X.T @ EW[j]
        return X3X

    def ktrace(i: int, j: int) -> float:
        if i < m - 1 and j < m - 1:
            return float(np.sum(EM[i] * EM[j].T))
        if i < m - 1:
            return float(E[i].multiply(Z2Z).sum())
        if j < m - 1:
            return float(E[j].multiply(Z2Z).sum())
        return float(trS2)

    Q = {(i, j): Qmat(i, j) for i in range(m) for j in range(i, m)}
    IE2 = np.empty((m, m))
    PhiP = [Phi @ Pi for Pi in P]
    for i in range(m):
        for j in range(i, m):
            IE2[i, j] = IE2[j, i] = (ktrace(i, j) - 2.0 * float(np.sum(Phi * Q[i, j]))
                                     + float(np.sum(PhiP[i] * PhiP[j].T)))
    W, condi = information_weights(IE2)
    p = Phi.shape[0]
    UU = np.zeros((p, p))
    for i in range(m - 1):
        for j in range(i + 1, m):
            UU += W[i, j] * (Q[i, j] - P[i] @ Phi @ P[j])
    UU = UU + UU.T
    for i in range(m):
        UU += W[i, i] * (Q[i, i] - P[i] @ Phi @ P[i])
    PhiA = Phi + 2.0 * Phi @ UU @ Phi
    return KenwardRoger(vcov=Phi, vcov_adj=PhiA, P=P, W=W, condition=condi)


_cached_adjustment = per_model(kenward_roger_adjustment)


_cached_structured = per_model(structured_kenward_roger)


def kenward_roger(model: LinearMixedFit) -> KenwardRoger:
    """`kenward_roger_adjustment`, computed once per fitted model (REML fits only)."""
    if not model.REML:
        raise ArgumentError("Kenward-Roger's method is only available for REML model fits")
    if model.residual_structure is not None or any(t.covariance.structured
                                              for t in model.frame.terms):
        # Σ is not linear in pbkrtest's components: the general computation with the
        # second-derivative term (`kenward_roger_structured`)
        return _cached_structured(model)
    return _cached_adjustment(model)
