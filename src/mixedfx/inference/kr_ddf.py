"""pbkrtest's Kenward–Roger denominator df and scaled F test (`Lb_ddf`, `.KR_adjust`) from
the unadjusted covariance Φ of β̂, the adjusted Φ_A and the pieces Pᵢ, W of the adjustment.

For contrast rows L (q of them) with Θ = Lᵀ(LΦLᵀ)⁻¹L and Uᵢ = ΘΦPᵢΦ:
A₁ = Σᵢⱼ Wᵢⱼ tr(Uᵢ) tr(Uⱼ), A₂ = Σᵢⱼ Wᵢⱼ tr(UᵢUⱼ), then Kenward & Roger's (1997) B, g,
c₁..c₃, ρ and the denominator df 4 + (q + 2)/(qρ − 1); F = λ (Lβ̂)ᵀ(LΦ_ALᵀ)⁻¹(Lβ̂)/q with
the scaling λ. Both the linear (`kenward_roger`) and the structured computation
(`kenward_roger_structured`) return this record.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedfx.lazy import lazy_module

special = lazy_module("scipy.special")  # ~50 ms at import; only needed here


def information_weights(info: np.ndarray) -> tuple[np.ndarray, float]:
    """W = 2 I⁻¹ (symmetrized) from the expected REML information I of the variance
    parameters, with pbkrtest's fallback to the pseudo-inverse when min |eig(I)| ≤ 1e-10;
    returns (W, min |eig(I)|)."""
    condition = float(np.min(np.abs(np.linalg.eigvalsh(info))))
    W = 2.0 * (np.linalg.inv(info) if condition > 1e-10 else np.linalg.pinv(info))
    return 0.5 * (W + W.T), condition


def kr_df_and_scale(A1: float, A2: float, q: int) -> tuple[float, float]:
    """Kenward & Roger's (1997) denominator df m and F scale λ from A₁, A₂ and the number of
    contrast rows q: B = (A₁ + 6A₂)/(2q), g = ((q+1)A₁ − (q+4)A₂)/((q+2)A₂),
    c₁ = g/d, c₂ = (q − g)/d, c₃ = (q + 2 − g)/d with d = 3q + 2(1 − g), E* = 1/(1 − A₂/q),
    ρ = (1 + c₁B) / (q (1 − c₂B)² (1 − c₃B) E*²), m = 4 + (q + 2)/(qρ − 1) and
    λ = m/(E*(m − 2)) (λ = 1 when m is within 0.01 of 2), with pbkrtest's guards for
    (1 + c₁B) ≈ 0 and 1 − A₂/q ≈ 1 − c₂B ≈ 0."""
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
    scale = 1.0 if abs(df2 - 2.0) < 0.01 else df2 * x / (df2 - 2.0)
    return df2, scale


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

    def df(self, L: np.ndarray) -> float:
        """pbkrtest's `Lb_ddf`: the KR denominator df of the contrast rows L."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        A1, A2 = self._A1_A2(L)
        return kr_df_and_scale(A1, A2, L.shape[0])[0]

    def ftest(self, L: np.ndarray, beta: np.ndarray) -> dict[str, float]:
        """pbkrtest's `.KR_adjust` for H₀: Lβ = 0: ndf, ddf, scaled F and its p-value, and
        the unscaled F (from Φ_A) with its scaling factor."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        A1, A2 = self._A1_A2(L)
        q = int(np.linalg.matrix_rank(L))
        df2, scaling = kr_df_and_scale(A1, A2, q)
        Lb = L @ beta
        wald = float(Lb @ np.linalg.solve(L @ self.vcov_adj @ L.T, Lb))
        FU = wald / q
        F = scaling * FU
        return {"ndf": q, "ddf": df2, "F": F, "p": float(special.fdtrc(q, df2, F)),
                "F_unscaled": FU, "scaling": scaling}
