"""Shared pieces of the structured covariance parameterizations.

A structured term's template is T(θ_t) = diag(s) · C(ρ), s ≥ 0 the standard deviations relative
to σ (LMMs) or absolute (GLMMs) and C the lower Cholesky factor of a correlation matrix R(ρ)
with the structure's pattern. R may be only positive semi-definite at the bounds of ρ (|ρ| = 1,
cs's ρ = −1/(k−1)); C is then the semi-definite Cholesky factor (zero pivots give zero columns),
which is still a valid template: Λ need not be invertible.
"""

from __future__ import annotations

import math

import numpy as np

from mixedfx.errors import ArgumentError

#: pivots below this are treated as zero in the semi-definite Cholesky factor
PIVOT_TOL = 1e-12


def psd_cholesky(R: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor C (C Cᵀ = R) of a positive semi-definite matrix; a pivot ≤
    PIVOT_TOL × max diag gives a zero column. Raises ValueError when R is indefinite."""
    k = R.shape[0]
    C = np.zeros((k, k))
    scale = max(float(np.max(np.abs(np.diag(R)))), 1.0)
    for j in range(k):
        d = R[j, j] - C[j, :j] @ C[j, :j]
        if d <= PIVOT_TOL * scale:
            if d < -1e-8 * scale:
                raise ArgumentError("correlation matrix is not positive semi-definite")
            continue
        C[j, j] = math.sqrt(d)
        C[j + 1:, j] = (R[j + 1:, j] - C[j + 1:, :j] @ C[j, :j]) / C[j, j]
    return C


def numeric_template_derivatives(structure, theta: np.ndarray, step: float = 1e-6
                                 ) -> np.ndarray:
    """∂T/∂θ_i by central differences (one-sided at a bound), stacked (n_theta, k, k)."""
    theta = np.asarray(theta, dtype=float)
    lo, up = structure.lower_bounds(), structure.upper_bounds()
    out = np.zeros((len(theta), structure.k, structure.k))
    for i in range(len(theta)):
        h = step * max(1.0, abs(theta[i]))
        a, b = theta.copy(), theta.copy()
        a[i] = min(theta[i] + h, up[i])
        b[i] = max(theta[i] - h, lo[i])
        out[i] = (structure.template(a) - structure.template(b)) / (a[i] - b[i])
    return out


def sd_name(name: str, group: str) -> str:
    """lme4's `oldNames = FALSE` name of a standard deviation."""
    return f"sd_{name}|{group}"


def cor_name(first: str, second: str, group: str) -> str:
    """lme4's `oldNames = FALSE` name of the correlation of `second` with `first`."""
    return f"cor_{second}.{first}|{group}"
