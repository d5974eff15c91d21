"""Iteratively reweighted least squares as R's `glm.fit` runs it (R's `glm`, `anova.glm`).

From μ₀ = the family's `initialize` value, repeat: η = g(μ), working response
z = η − o + (y − μ)/μ'(η), weights W = w μ'(η)² / V(μ), β = argmin ‖√W (z − Xβ)‖ (QR), new
η = Xβ + o; until |D − D_old| / (|D| + 0.1) < ε (ε = 1e-8, at most 25 iterations; the
deviance step is halved if it becomes non-finite or μ leaves the family's range).
The final W and (XᵀWX)⁻¹ are those of the last least-squares step, as R keeps them.
"""

from __future__ import annotations

import math

import numpy as np

from mixedfx.errors import ArgumentError
from mixedfx.families import Family
from mixedfx.glmm.response import GlmResponse


class IrlsResult:
    """β, η, μ, the final working weights, (XᵀWX)⁻¹, deviance, iterations, convergence."""

    def __init__(self, beta: np.ndarray, eta: np.ndarray, mu: np.ndarray, W: np.ndarray,
                 unscaled: np.ndarray, deviance: float, iterations: int, converged: bool
                 ) -> None:
        self.beta, self.eta, self.mu, self.W = beta, eta, mu, W
        self.unscaled, self.deviance = unscaled, deviance
        self.iterations, self.converged = iterations, converged


def irls(X: np.ndarray, resp: GlmResponse, family: Family, offset: np.ndarray,
         epsilon: float = 1e-8, maxit: int = 25) -> IrlsResult:
    """`glm.fit`'s iteration (see the module docstring)."""
    y, wt = resp.y, resp.wt
    link = family.link
    mu = family.mustart(y, wt)
    eta = link.linkfun(mu)
    dev_old = float(np.sum(family.dev_resids(y, mu, wt)))
    p = X.shape[1]
    beta = np.zeros(p)
    converged = False
    W = np.zeros(len(y))
    unscaled = np.zeros((p, p))
    dev = dev_old
    it = 0
    for it in range(1, maxit + 1):
        mu_eta = link.mu_eta(eta)
        good = (wt > 0) & (mu_eta != 0)
        z = (eta - offset)[good] + (y - mu)[good] / mu_eta[good]
        w = np.sqrt(wt[good] * mu_eta[good] ** 2 / family.variance(mu[good]))
        Q, R = np.linalg.qr(X[good] * w[:, None])
        new_beta = np.linalg.solve(R, Q.T @ (z * w))
        Ri = np.linalg.inv(R)
        new_eta = X @ new_beta + offset
        new_mu = link.linkinv(new_eta)
        dev = float(np.sum(family.dev_resids(y, new_mu, wt)))
        halvings = 0
        while not (math.isfinite(dev) and family.validmu(new_mu)):
            if it == 1 or halvings > maxit:
                raise ArgumentError("IRLS failed: no valid set of coefficients found; please "
                                    "supply starting values")
            new_beta = (new_beta + beta) / 2
            new_eta = X @ new_beta + offset
            new_mu = link.linkinv(new_eta)
            dev = float(np.sum(family.dev_resids(y, new_mu, wt)))
            halvings += 1
        beta, eta, mu = new_beta, new_eta, new_mu
        W = np.zeros(len(y))
        W[good] = w**2
        unscaled = Ri @ Ri.T
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        dev_old = dev
    return IrlsResult(beta, eta, mu, W, unscaled, dev, it, converged)
