"""glmmTMB's `toep`: heterogeneous Toeplitz covariance, one SD per column and one correlation
ρ_d per lag d = |i − j| (d = 1, …, k − 1): 2k − 1 parameters.

Not every vector of lag correlations in (−1, 1) gives a positive-definite matrix, so θ holds
the partial autocorrelations φ_1, …, φ_{k−1} ∈ [−1, 1] instead (a bijection onto the positive
semi-definite Toeplitz correlation matrices). The lag correlations follow from the
Durbin–Levinson recursion: with a⁽ᵐ⁾ the order-m prediction coefficients and
v_m = Π_{i ≤ m} (1 − φ_i²),

    ρ_m = φ_m v_{m−1} + Σ_{i<m} a⁽ᵐ⁻¹⁾_i ρ_{m−i},   a⁽ᵐ⁾_m = φ_m,
    a⁽ᵐ⁾_i = a⁽ᵐ⁻¹⁾_i − φ_m a⁽ᵐ⁻¹⁾_{m−i}.

θ_t = (s₁, …, s_k, φ_1, …, φ_{k−1}); glmmTMB reports the lag correlations ρ_d.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedfx.covariance.base import cor_name
from mixedfx.covariance.structured import StructuredCovariance


def lag_correlations(pacf: np.ndarray) -> np.ndarray:
    """ρ_1, …, ρ_m from the partial autocorrelations φ_1, …, φ_m (Durbin–Levinson)."""
    m = len(pacf)
    rho = np.zeros(m + 1)
    rho[0] = 1.0
    a = np.zeros(0)
    v = 1.0
    for j in range(1, m + 1):
        phi = float(pacf[j - 1])
        rho[j] = phi * v + float(a @ rho[j - 1:0:-1]) if j > 1 else phi
        a = np.append(a - phi * a[::-1], phi)
        v *= 1.0 - phi * phi
    return rho[1:]


def partial_autocorrelations(rho: np.ndarray) -> np.ndarray:
    """The inverse map: φ from the lag correlations ρ (Levinson recursion)."""
    m = len(rho)
    r = np.concatenate([[1.0], rho])
    pacf = np.zeros(m)
    a = np.zeros(0)
    v = 1.0
    for j in range(1, m + 1):
        phi = (r[j] - float(a @ r[j - 1:0:-1])) / v if v > 0 else 0.0
        phi = float(np.clip(phi, -1.0, 1.0))
        pacf[j - 1] = phi
        a = np.append(a - phi * a[::-1], phi)
        v *= 1.0 - phi * phi
    return pacf


@dataclass(frozen=True)
class Toeplitz(StructuredCovariance):
    """θ_t = (s₁, …, s_k, φ_1, …, φ_{k−1})."""

    name = "toep"
    min_columns = 2

    @property
    def n_cor(self) -> int:
        return self.k - 1

    def correlation(self, rho: np.ndarray) -> np.ndarray:
        lags = np.concatenate([[1.0], lag_correlations(rho)])
        idx = np.abs(np.subtract.outer(np.arange(self.k), np.arange(self.k)))
        return lags[idx]

    def cor_names(self, group: str) -> list[str]:
        return [f"{group}.pacf{j + 1}" for j in range(self.n_cor)]

    def cor_parameters(self, R: np.ndarray, names: list[str], group: str
                       ) -> list[tuple[str, float]]:
        return [(cor_name(names[0], names[d], group), float(R[d, 0]))
                for d in range(1, self.k)]
