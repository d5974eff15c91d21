"""The common form of glmmTMB's structured covariances: T(θ_t) = diag(s) · C(ρ).

θ_t = (s, ρ): first the standard deviations s ≥ 0 (k of them for a heterogeneous structure,
one shared value for a homogeneous one; relative to σ in an LMM, absolute in a GLMM), then the
correlation parameters ρ of the structure, bounded directly (|ρ| ≤ 1, cs: ρ ≥ −1/(k−1)), so
that BOBYQA's box constraints are the whole parameter space. C(ρ) is the (semi-definite)
lower Cholesky factor of the structure's correlation matrix R(ρ); the term's covariance is
σ² diag(s) R(ρ) diag(s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedfx.covariance.base import numeric_template_derivatives, psd_cholesky, sd_name
from mixedfx.covariance.unstructured import CovarianceStructure, sd_corr
from mixedfx.errors import ArgumentError


@dataclass(frozen=True)
class StructuredCovariance(CovarianceStructure):
    """T = diag(s) C(ρ); subclasses give the correlation pattern."""

    homogeneous = False     # one SD shared by all columns
    min_columns = 1

    @property
    def n_sd(self) -> int:
        return 1 if self.homogeneous else self.k

    @property
    def n_cor(self) -> int:
        return 0

    @property
    def n_theta(self) -> int:
        return self.n_sd + self.n_cor

    # -- correlation pattern (subclasses) -------------------------------------------------
    def correlation(self, rho: np.ndarray) -> np.ndarray:
        """R(ρ), k×k."""
        return np.eye(self.k)

    def correlation_factor(self, rho: np.ndarray) -> np.ndarray:
        """C(ρ) with C Cᵀ = R(ρ), lower triangular."""
        return psd_cholesky(self.correlation(rho))

    def cor_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.full(self.n_cor, -1.0), np.full(self.n_cor, 1.0)

    def cor_names(self, group: str) -> list[str]:
        return [f"{group}.rho"] if self.n_cor == 1 else \
            [f"{group}.rho{j + 1}" for j in range(self.n_cor)]

    def cor_parameters(self, R: np.ndarray, names: list[str], group: str
                       ) -> list[tuple[str, float]]:
        """The correlation parameters read off a correlation matrix (data scale)."""
        return []

    # -- the CovarianceStructure interface --------------------------------------------------
    def split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        theta = np.asarray(theta, dtype=float)
        s = theta[: self.n_sd]
        # correlation parameters are clipped to their bounds: finite-difference steps
        # (convergence checks, Satterthwaite) may step just outside them
        lo, up = self.cor_bounds()
        rho = np.clip(theta[self.n_sd:], lo, up)
        return (np.full(self.k, s[0]) if self.homogeneous else s), rho

    def template(self, theta: np.ndarray) -> np.ndarray:
        s, rho = self.split(theta)
        if self.n_cor == 0:
            return np.diag(s)
        return s[:, None] * self.correlation_factor(rho)

    def lower_bounds(self) -> np.ndarray:
        return np.concatenate([np.zeros(self.n_sd), self.cor_bounds()[0]])

    def upper_bounds(self) -> np.ndarray:
        return np.concatenate([np.full(self.n_sd, np.inf), self.cor_bounds()[1]])

    def start(self) -> np.ndarray:
        return np.concatenate([np.ones(self.n_sd), np.zeros(self.n_cor)])

    def theta_names(self, group: str, terms: list[str]) -> list[str]:
        sds = [f"{group}.{terms[0]}"] if self.homogeneous else \
            [f"{group}.{t}" for t in terms]
        return sds + self.cor_names(group)

    def template_derivatives(self, theta: np.ndarray) -> np.ndarray:
        return numeric_template_derivatives(self, theta)

    def parameters(self, cov: np.ndarray, names: list[str], group: str
                   ) -> list[tuple[str, float]]:
        sd, R = sd_corr(cov)
        sds = [(sd_name(names[0], group), float(sd[0]))] if self.homogeneous else \
            [(sd_name(n, group), float(v)) for n, v in zip(names, sd, strict=True)]
        return sds + self.cor_parameters(R, names, group)

    def check_columns(self, names: list[str]) -> None:
        """Refuse a term this structure makes no sense for (too few columns)."""
        if self.k < self.min_columns:
            raise ArgumentError(
                   f"{self.name}() needs a term with at least {self.min_columns} columns "
                   f"(it has {self.k}: {', '.join(names)}); with one column use (x | g)")
