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

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve

from mixedfx.errors import ArgumentError
from mixedfx.inference.cache import per_model
from mixedfx.inference.design import lambda_matrix, z_matrix
from mixedfx.lazy import lazy_module

if TYPE_CHECKING:
    from mixedfx.frame.terms import RandomEffectsTerm
    from mixedfx.results.lmm_model import LinearMixedModel

# fdtrc is what scipy.stats' f.sf evaluates, without importing scipy.stats (~0.4 s)
special = lazy_module("scipy.special")  # ~50 ms at import; only needed here

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


@dataclass
class KenwardRoger:
    """Φ, the adjusted Φ_A and pbkrtest's P and W (for df of any contrast)."""

    vcov: np.ndarray
    vcov_adj: np.ndarray
    P: list[np.ndarray]
    W: np.ndarray
    condition: float

    def _A1_A2(self, L: np.ndarray) -> tuple[float, float]:
        V0 = self.vcov
        Theta = L.T @ np.linalg.solve(L @ V0 @ L.T, L)
        TV = Theta @ V0
        U = [TV @ P @ V0 for P in self.P]
        A1 = A2 = 0.0
        m = len(U)
        for i in range(m):
            for j in range(i, m):
                e = 1.0 if i == j else 2.0
                A1 += e * self.W[i, j] * np.trace(U[i]) * np.trace(U[j])
                A2 += e * self.W[i, j] * float(np.sum(U[i] * U[j].T))
        return A1, A2

    @staticmethod
    def _ddf_parts(A1: float, A2: float, q: int) -> tuple[float, float]:
        B = (A1 + 6.0 * A2) / (2.0 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        den = 3.0 * q + 2.0 * (1.0 - g)
        c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
        V0 = 1.0 + c1 * B
        V1 = 1.0 - c2 * B
        V2 = 1.0 - c3 * B
        if abs(V0) < 1e-10:
            V0 = 0.0
        x = 1.0 - A2 / q
        ratio = 1.0 if (abs(x) < 1e-14 and abs(V1) < 1e-14) else x / V1
        rho = ratio**2 * V0 / V2 / q
        df2 = 4.0 + (q + 2) / (q * rho - 1.0)
        return df2, x

    def df(self, L: np.ndarray) -> float:
        """pbkrtest's `Lb_ddf`: the KR denominator df of the contrast rows L."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        A1, A2 = self._A1_A2(L)
        return self._ddf_parts(A1, A2, L.shape[0])[0]

    def ftest(self, L: np.ndarray, beta: np.ndarray) -> dict[str, float]:
        """pbkrtest's `.KR_adjust` for H₀: Lβ = 0: ndf, ddf, scaled F and its p-value, and
        the unscaled F (from Φ_A) with its scaling factor."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        A1, A2 = self._A1_A2(L)
        q = int(np.linalg.matrix_rank(L))
        df2, x = self._ddf_parts(A1, A2, q)
        scaling = 1.0 if abs(df2 - 2.0) < 0.01 else df2 * x / (df2 - 2.0)
        Lb = L @ beta
        wald = float(Lb @ np.linalg.solve(L @ self.vcov_adj @ L.T, Lb))
        FU = wald / q
        F = scaling * FU
        return {"ndf": q, "ddf": df2, "F": F, "p": float(special.fdtrc(q, df2, F)),
                "F_unscaled": FU, "scaling": scaling}


def kenward_roger_adjustment(model: LinearMixedModel) -> KenwardRoger:
    """pbkrtest's `vcovAdj` for a REML fit (see the module docstring)."""
    if model._fit.residual is not None:
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
    Lam = lambda_matrix(terms, model._fit.factor.templates)
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
    condi = float(np.min(np.abs(np.linalg.eigvalsh(IE2))))
    W = 2.0 * (np.linalg.inv(IE2) if condi > 1e-10 else np.linalg.pinv(IE2))
    W = 0.5 * (W + W.T)
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


def _structured(model: LinearMixedModel) -> KenwardRoger:
    from mixedfx.inference.kenward_roger_structured import structured_kenward_roger

    return structured_kenward_roger(model)


_cached_structured = per_model(_structured)


def kenward_roger(model: LinearMixedModel) -> KenwardRoger:
    """`kenward_roger_adjustment`, computed once per fitted model (REML fits only)."""
    if not model.REML:
        raise ArgumentError("Kenward-Roger's method is only available for REML model fits")
    if model._fit.residual is not None or any(t.covariance.structured
                                              for t in model.frame.terms):
        # Σ is not linear in pbkrtest's components: the general computation with the
        # second-derivative term (`kenward_roger_structured`)
        return _cached_structured(model)
    return _cached_adjustment(model)
