"""Unstructured (general positive semi-definite) covariance, lme4's default.

θ_t holds the lower triangle of T column by column (lme4's order): for k = 2,
θ = (T₁₁, T₂₁, T₂₂). Diagonal elements are bounded below by 0, off-diagonals are free.
The term's covariance is σ² T Tᵀ.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@functools.cache
def _lower_triangle(k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the lower triangle of a k×k matrix, column by column."""
    cols, rows = np.triu_indices(k)
    rows.setflags(write=False)
    cols.setflags(write=False)
    return rows, cols


@dataclass(frozen=True)
class CovarianceStructure:
    """Base: a map from θ_t to the k×k lower-triangular template T."""

    k: int

    @property
    def n_theta(self) -> int:
        raise NotImplementedError

    def template(self, theta: np.ndarray) -> np.ndarray:
        """T(θ_t), k×k lower triangular."""
        raise NotImplementedError

    def lower_bounds(self) -> np.ndarray:
        raise NotImplementedError

    def start(self) -> np.ndarray:
        raise NotImplementedError

    def theta_names(self, group: str, terms: list[str]) -> list[str]:
        raise NotImplementedError

    def template_derivatives(self, theta: np.ndarray) -> np.ndarray:
        """∂T/∂θ_i stacked as (n_theta, k, k)."""
        raise NotImplementedError


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


def structure_for(k: int, kind: str = "us") -> CovarianceStructure:
    """The covariance structure named `kind` for a term with k columns."""
    if kind == "us":
        return Unstructured(k)
    raise ValueError(f"unknown covariance structure {kind!r}")
