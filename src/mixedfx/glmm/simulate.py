"""Responses drawn from a GLMM's conditional distribution, given the means μ (lme4's
`simulate.merMod` after the random effects are drawn).

binomial: successes ~ Binomial(trials, μ), returned as counts for a cbind response and as
proportions successes / trials otherwise (0/1 data have one trial); Poisson: Poisson(μ);
negative binomial with shape θ: NB(θ, θ / (θ + μ)) (mean μ, variance μ + μ²/θ); Gamma with
dispersion φ: Gamma(shape 1/φ, scale μφ); inverse Gaussian: Wald(μ, 1/φ); Gaussian: N(μ, σ²).
"""

from __future__ import annotations

import numpy as np

from mixedfx.families import Family


def draw_response(family: Family, mu: np.ndarray, trials: np.ndarray | None, cbind: bool,
                  sigma: float, rng: np.random.Generator) -> np.ndarray:
    """One response vector given μ; `trials` (binomial) per row, `sigma` = √φ."""
    name = family.name
    if name == "binomial":
        n = np.round(np.asarray(trials, dtype=float)).astype(np.int64)
        s = rng.binomial(np.maximum(n, 0), mu)
        if cbind:
            return s.astype(float)
        return np.where(n > 0, s / np.maximum(n, 1), 0.0)
    if name == "poisson":
        return rng.poisson(mu).astype(float)
    if name == "negative.binomial":
        th = family.theta
        return rng.negative_binomial(th, th / (th + mu)).astype(float)
    disp = sigma**2
    if name == "Gamma":
        shape = 1 / disp
        return rng.gamma(shape, mu / shape)
    if name == "inverse.gaussian":
        return rng.wald(mu, 1 / disp)
    return rng.normal(mu, sigma)
