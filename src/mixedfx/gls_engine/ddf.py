"""Satterthwaite degrees of freedom for `gls` fits (emmeans' `mode = "satterthwaite"`; SAS's
DDFM=SATTERTHWAITE for the same model).

The variance parameters are x = (ψ, log σ²). With the unprofiled criterion

    REML: f(x) = (n − p) log(2πσ²) + RSS(ψ)/σ² + log|RᵀR| + log|V| − log|W|
    ML:   f(x) = n log(2πσ²) + RSS(ψ)/σ² + log|V| − log|W|

(equal to the fit's criterion at σ̂²), W = 2 H⁻¹ with H the Hessian of f at x̂ (numDeriv-style
Richardson differences), and Φ(x) = c σ²(RᵀR)⁻¹ the coefficients' covariance (c = n/(n − p)
for ML, nlme's scaling; 1 for REML). A contrast ℓ has

    df = 2 (ℓᵀΦℓ)² / (gᵀ W g),   g_k = ℓᵀ (∂Φ/∂x_k) ℓ,

which does not depend on how ψ is parameterized.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from mixedfx.errors import ArgumentError, ResourceError
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.gls_engine.fit import GlsCriterion, GlsFit
from mixedfx.inference.numderiv import hessian, jacobian
from mixedfx.mmrm.kenward_roger import kr_df


class GlsSatterthwaite:
    """W and ∂Φ/∂x at the optimum of a gls fit."""

    def __init__(self, frame: ModelFrame, fit: GlsFit) -> None:
        self.crit = GlsCriterion(frame, fit.reml, fit.residual)
        n, p = self.crit.n, self.crit.p
        self.reml = fit.reml
        self.scale = 1.0 if fit.reml else n / (n - p)
        s2 = fit.solution.rss / (n - p if fit.reml else n)
        self.x0 = np.r_[fit.psi, math.log(s2)]

    def _full(self, x: np.ndarray) -> float:
        s = self.crit.solve(x[:-1])
        if s is None:
            return math.inf
        n, p = self.crit.n, self.crit.p
        s2 = math.exp(x[-1])
        m = n - p if self.reml else n
        out = m * math.log(2.0 * math.pi * s2) + s.rss / s2 + s.logdet_v
        if self.reml:
            out += 2.0 * float(np.sum(np.log(np.abs(np.diagonal(s.R)))))
        return out

    def _phi(self, x: np.ndarray) -> np.ndarray:
        s = self.crit.solve(x[:-1])
        Ri = np.linalg.inv(s.R)
        return self.scale * math.exp(x[-1]) * (Ri @ Ri.T)

    @cached_property
    def W(self) -> np.ndarray:
        """Covariance of x̂: twice the inverse Hessian of f."""
        return 2.0 * np.linalg.inv(hessian(self._full, self.x0))

    @cached_property
    def dphi(self) -> np.ndarray:
        """∂Φ/∂x_k, (k, p, p)."""
        p = self.crit.p
        J = jacobian(lambda x: self._phi(x).ravel(), self.x0)      # (p², k)
        return J.T.reshape(-1, p, p)

    def df(self, c: np.ndarray) -> float:
        """Satterthwaite df of cᵀβ̂."""
        v = float(c @ self._phi(self.x0) @ c)
        g = np.einsum("a,kab,b->k", c, self.dphi, c)
        return 2.0 * v * v / float(g @ self.W @ g)


class GlsKenwardRogerLinear:
    """Kenward–Roger without the second-order term (SAS DDFM=KR(LINEARCOVARIANCE)), which does
    not depend on how the covariance is parameterized, for REML gls fits.

    With Ω = σ²V(ψ) the rows' covariance and D_k = ∂Ω⁻¹/∂x_k (x = (ψ, log σ²), Richardson
    differences of Ω⁻¹ = V⁻¹/σ² built by whitening the identity): P_k = −XᵀD_kX,
    Q_kl = XᵀD_kΩD_lX, Φ_A = Φ + 2Φ[Σ_kl W_kl (Q_kl − P_kΦP_l)]Φ with W from
    `GlsSatterthwaite`; df and F scale as `mixedfx.mmrm.kenward_roger.kr_df`. Ω is n × n, so
    the method is limited to MAX_ROWS rows.
    """

    MAX_ROWS = 3000

    def __init__(self, sat: GlsSatterthwaite) -> None:
        crit = sat.crit
        if not sat.reml:
            raise ArgumentError("Kenward-Roger needs a REML fit (REML=True)")
        if crit.n > self.MAX_ROWS:
            raise ResourceError(f"Kenward-Roger for gls forms n × n matrices; {crit.n} rows "
                                f"exceed {self.MAX_ROWS} (use mfx.mmrm, or Satterthwaite)")
        self.sat = sat
        X = crit.M[:, :crit.p]
        x0 = sat.x0
        eye = np.eye(crit.n)

        def omega_inv(x: np.ndarray) -> np.ndarray:
            Li = crit.residual.whiten(x[:-1], eye)[0] if crit.residual.n_params else eye
            return (Li.T @ Li) / math.exp(x[-1])

        n, p = crit.n, crit.p
        D = jacobian(lambda x: omega_inv(x).ravel(), x0).T.reshape(-1, n, n)
        omega = np.linalg.inv(omega_inv(x0))
        DX = D @ X                                              # (k, n, p)
        self.P = -np.einsum("na,knb->kab", X, DX)
        OD = np.einsum("nm,kmb->knb", omega, DX)
        Q = np.einsum("kna,lnb->klab", DX, OD)
        self.phi = sat._phi(x0)
        PP = np.einsum("kab,bc,lcd->klad", self.P, self.phi, self.P)
        U = np.einsum("kl,klab->ab", sat.W, Q - PP)
        adj = self.phi + 2.0 * self.phi @ U @ self.phi
        self.vcov = 0.5 * (adj + adj.T)
        self.p = p

    def df(self, L: np.ndarray) -> tuple[float, float]:
        """(df, F scale λ) of the contrast rows L."""
        res = kr_df(self.phi, self.sat.W, self.P, np.atleast_2d(L))
        return res.df, res.scale
