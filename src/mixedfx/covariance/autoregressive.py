"""glmmTMB's `ar1`: one SD and correlation ρ^|i−j| between columns i and j (the dummy columns
of a time factor, in level order: unit-spaced times). θ_t = (s, ρ), |ρ| ≤ 1.

The Cholesky factor of the AR(1) correlation matrix is explicit: C[i, 0] = ρ^i and
C[i, j] = ρ^(i−j) √(1 − ρ²) for 1 ≤ j ≤ i (zero columns at |ρ| = 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedfx.covariance.base import cor_name
from mixedfx.covariance.structured import StructuredCovariance


@dataclass(frozen=True)
class AR1(StructuredCovariance):
    """θ_t = (s, ρ)."""

    name = "ar1"
    homogeneous = True
    min_columns = 2

    @property
    def n_cor(self) -> int:
        return 1

    def correlation(self, rho: np.ndarray) -> np.ndarray:
        lag = np.abs(np.subtract.outer(np.arange(self.k), np.arange(self.k)))
        return float(rho[0]) ** lag

    def correlation_factor(self, rho: np.ndarray) -> np.ndarray:
        r = float(rho[0])
        i, j = np.tril_indices(self.k)
        C = np.zeros((self.k, self.k))
        scale = np.where(j == 0, 1.0, np.sqrt(max(0.0, 1.0 - r * r)))
        C[i, j] = r ** (i - j) * scale
        return C

    def cor_parameters(self, R: np.ndarray, names: list[str], group: str
                       ) -> list[tuple[str, float]]:
        return [(cor_name(names[0], names[1], group), float(R[1, 0]))]
