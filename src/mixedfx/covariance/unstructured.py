"""Unstructured (general positive semi-definite) covariance, lme4's default (glmmTMB's `us`).

θ_t holds the lower triangle of T column by column (lme4's order): for k = 2,
θ = (T₁₁, T₂₁, T₂₂). Diagonal elements are bounded below by 0, off-diagonals are free.
The term's covariance is σ² T Tᵀ.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from mixedfx.covariance.base import cor_name, sd_name


@functools.cache
def _lower_triangle(k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the lower triangle of a k×k matrix, column by column."""
    cols, rows = np.triu_indices(k)
    rows.setflags(write=False)
    cols.setflags(write=False)
    return rows, cols


@dataclass(frozen=True)
class CovarianceStructure:
    """Base: a map from θ_t to the k×k lower-triangular template T.

    `name` is glmmTMB's name of the structure (`us`, `diag`, `cs`, `homcs`, `ar1`, `toep`).
    `parameters(cov, names, group)` gives the structure's own parameters on the data scale
    (standard deviations, then its correlation parameters) with lme4's `oldNames = FALSE`
    names; these are the variance parameters of `parameter_names()` and the bootstrap.
    """

    k: int
    name = "us"

    @property
    def n_theta(self) -> int:
        raise NotImplementedError

    def template(self, theta: np.ndarray) -> np.ndarray:
        """T(θ_t), k×k lower triangular."""
        raise NotImplementedError

    def lower_bounds(self) -> np.ndarray:
        raise NotImplementedError

    def upper_bounds(self) -> np.ndarray:
        """Upper bounds of θ_t (+∞ unless the structure has bounded parameters)."""
        return np.full(self.n_theta, np.inf)

    def start(self) -> np.ndarray:
        raise NotImplementedError

    def theta_names(self, group: str, terms: list[str]) -> list[str]:
        raise NotImplementedError

    def template_derivatives(self, theta: np.ndarray) -> np.ndarray:
        """∂T/∂θ_i stacked as (n_theta, k, k)."""
        raise NotImplementedError

    def parameters(self, cov: np.ndarray, names: list[str], group: str
                   ) -> list[tuple[str, float]]:
        """(name, value) of each SD and correlation of the structure, from its covariance."""
        raise NotImplementedError

    @property
    def structured(self) -> bool:
        """Whether this is a structure other than lme4's unstructured one."""
        return self.name != "us"


def sd_corr(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standard deviations and correlation matrix of a covariance (0/0 correlations are 0)."""
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        R = cov / np.outer(sd, sd)
    R = np.where(np.isfinite(R), R, 0.0)
    np.fill_diagonal(R, 1.0)
    return sd, R


@dataclass(frozen=True)
class Unstructured(CovarianceStructure):
    """General k×k lower Cholesky template, θ = column-wise lower triangle."""

    @property
    def n_theta(self) -> int:
        return self.k * (self.k + 1) // 2

    def _index(self) -> tuple[np.ndarray, np.ndarray]:
        # column-major lower triangle: (0,0), (1,0), ..., (k-1,0), (1,1), ...
        return _lower_triangle(self.k)

    def template(self, theta: np.ndarray) -> np.ndarray:
        if self.k == 1:
            return np.array(theta, dtype=float).reshape(1, 1)
        rows, cols = self._index()
        T = np.zeros((self.k, self.k))
        T[rows, cols] = theta
        return T

    def lower_bounds(self) -> np.ndarray:
        rows, cols = self._index()
        return np.where(rows == cols, 0.0, -np.inf)

    def start(self) -> np.ndarray:
        rows, cols = self._index()
        return np.where(rows == cols, 1.0, 0.0)

    def theta_names(self, group: str, terms: list[str]) -> list[str]:
        rows, cols = self._index()
        names = []
        for r, c in zip(rows, cols, strict=True):
            if r == c:
                names.append(f"{group}.{terms[r]}")
            else:
                names.append(f"{group}.{terms[r]}.{terms[c]}")
        return names

    def template_derivatives(self, theta: np.ndarray) -> np.ndarray:
        rows, cols = self._index()
        D = np.zeros((self.n_theta, self.k, self.k))
        D[np.arange(self.n_theta), rows, cols] = 1.0
        return D

    def parameters(self, cov: np.ndarray, names: list[str], group: str
                   ) -> list[tuple[str, float]]:
        sd, R = sd_corr(cov)
        out = []
        for j in range(self.k):
            out.append((sd_name(names[j], group), float(sd[j])))
            for i in range(j + 1, self.k):
                out.append((cor_name(names[j], names[i], group), float(R[i, j])))
        return out
