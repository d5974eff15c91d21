"""Compound symmetry: one common correlation ρ between all columns.

`cs` (glmmTMB's heterogeneous compound symmetry): one SD per column and ρ; `homcs`: one SD
shared by all columns and ρ (nlme's `pdCompSymm`). R(ρ) = (1 − ρ) I + ρ 11ᵀ is positive
semi-definite exactly for −1/(k−1) ≤ ρ ≤ 1, which are ρ's bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedfx.covariance.base import cor_name
from mixedfx.covariance.structured import StructuredCovariance


@dataclass(frozen=True)
class CompoundSymmetry(StructuredCovariance):
    """Heterogeneous compound symmetry: θ_t = (s₁, …, s_k, ρ)."""

    name = "cs"
    min_columns = 2

    @property
    def n_cor(self) -> int:
        return 1

    def correlation(self, rho: np.ndarray) -> np.ndarray:
        r = float(rho[0])
        return (1.0 - r) * np.eye(self.k) + r

    def cor_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([-1.0 / (self.k - 1)]), np.array([1.0])

    def cor_parameters(self, R: np.ndarray, names: list[str], group: str
                       ) -> list[tuple[str, float]]:
        return [(cor_name(names[0], names[1], group), float(R[1, 0]))]


@dataclass(frozen=True)
class HomogeneousCompoundSymmetry(CompoundSymmetry):
    """Homogeneous compound symmetry: θ_t = (s, ρ)."""

    name = "homcs"
    homogeneous = True
