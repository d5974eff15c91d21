"""glmmTMB's `diag`: independent random effects with one SD per column (heterogeneous
diagonal), T = diag(s), θ_t = s ≥ 0. Equivalent to lme4's `(x || g)` for numeric columns,
but it also applies to the dummy columns of a factor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedfx.covariance.structured import StructuredCovariance


@dataclass(frozen=True)
class Diagonal(StructuredCovariance):
    """T = diag(θ_t)."""

    name = "diag"

    def template(self, theta: np.ndarray) -> np.ndarray:
        return np.diag(np.asarray(theta, dtype=float))

    def template_derivatives(self, theta: np.ndarray) -> np.ndarray:
        D = np.zeros((self.k, self.k, self.k))
        D[np.arange(self.k), np.arange(self.k), np.arange(self.k)] = 1.0
        return D
