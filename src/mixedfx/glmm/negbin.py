"""Negative binomial GLMMs with the shape θ estimated, as lme4's `glmer.nb`.

1. Fit the Poisson GLMM; start θ₀ from MASS's `theta.ml` (Newton on the NB score for θ at the
   Poisson fitted means).
2. Minimize −2 log-likelihood of the NB(θ) GLMM over log θ ∈ log θ₀ ± 3 with Brent's method
   (R's `optimize`, tolerance 5e-5), refitting the GLMM at each trial θ (warm-started, without
   the finite-difference derivatives, which the final refit at θ̂ computes).
3. When theta.ml diverges (no overdispersion in the Poisson fit), −2 log-likelihood falls
   towards θ = ∞ across the interval and Brent's method ends at its upper end: refit there
   directly (checked against the centre).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import optimize, special

from mixedfx.errors import FitError


def theta_ml(y: np.ndarray, mu: np.ndarray, weights: np.ndarray, limit: int = 20,
             eps: float = 1e-4, report: dict | None = None) -> float:
    """MASS::theta.ml: ML estimate of the NB shape θ for fixed means μ (Newton's method).

    As MASS, warns "iteration limit reached" when `limit` Newton steps did not converge.
    `report`, if given, receives `limit_reached` and `diverging`: the limit was reached with θ
    still increasing (the last Newton step positive), i.e. the counts show no overdispersion
    at these means and the likelihood keeps increasing towards the Poisson limit θ = ∞."""
    n = float(np.sum(weights))

    def score(th: float) -> float:
        return float(np.sum(weights * (special.digamma(th + y) - special.digamma(th)
                                       + math.log(th) + 1 - np.log(th + mu)
                                       - (y + th) / (mu + th))))

    def info(th: float) -> float:
        return float(np.sum(weights * (-special.polygamma(1, th + y) + special.polygamma(1, th)
                                       - 1 / th + 2 / (mu + th) - (y + th) / (mu + th) ** 2)))

    spread = float(np.sum(weights * (y / mu - 1) ** 2))
    if not (spread > 0 and math.isfinite(spread)):
        raise FitError("glmer_nb: cannot start theta (theta.ml): the Poisson fit reproduces "
                       "the counts exactly or its means are degenerate; fit a Poisson GLMM")
    t0 = n / spread
    it, delta = 0, 1.0
    while (it := it + 1) < limit and abs(delta) > eps:
        t0 = abs(t0)
        curvature = info(t0)
        if curvature == 0 or not math.isfinite(curvature):
            raise FitError("glmer_nb: theta.ml's Newton iteration broke down (zero or "
                           "non-finite information for theta); the counts show no usable "
                           "overdispersion: fit a Poisson GLMM")
        delta = score(t0) / curvature
        t0 += delta
    limit_reached = it == limit
    if not math.isfinite(t0):
        raise FitError("glmer_nb: theta.ml did not give a finite starting theta")
    if t0 <= 0:
        # MASS truncates at zero; log(0) has no Brent interval, so start just above it
        warnings.warn("theta.ml: estimate truncated at zero", stacklevel=2)
        t0 = 1e-4
    if limit_reached:
        warnings.warn("iteration limit reached", stacklevel=2)
    if report is not None:
        report["limit_reached"] = limit_reached
        report["diverging"] = limit_reached and delta > 0
    return t0


WARM_SPAN = 0.5     # a refit this far (in log θ) from its warm start keeps the whole ...
WARM_FLOOR = 0.25   # ... warm trust region; nearer, a fraction |Δ log θ| / WARM_SPAN of it


def warm_scale(distance: float) -> float:
    """The factor on `Control.warm_step` of a θ-search refit started from the fit at a θ
    `distance` away in log θ: min(1, max(WARM_FLOOR, distance / WARM_SPAN))."""
    return min(1.0, max(WARM_FLOOR, distance / WARM_SPAN))


MAX_SEARCH_STEPS = 30   # golden sections from width 6 to 5e-5 take 24; Brent usually ~12


def optimize_log_theta(deviance_at, start: float, half_width: float = 3.0,
                       tol: float = 5e-5, max_steps: int = MAX_SEARCH_STEPS) -> float:
    """argmin over t ∈ [log θ₀ − 3, log θ₀ + 3] of −2 logLik(NB(eᵗ)) by Brent's method.

    At most `max_steps` refits (each a full GLMM fit): beyond that the search stops with a
    warning at its best point, where R's `optimize` would go on."""
    if not (start > 0 and math.isfinite(start)):
        raise FitError(f"glmer_nb: invalid starting theta {start!r}")
    lo, hi = math.log(start) - half_width, math.log(start) + half_width
    res = optimize.minimize_scalar(deviance_at, bounds=(lo, hi), method="bounded",
                                   options={"xatol": tol, "maxiter": max_steps})
    if not res.success:
        warnings.warn(f"glmer_nb: the search for theta stopped after {max_steps} refits "
                      f"before reaching tol = {tol:g} on log(theta)", stacklevel=3)
    return float(res.x)
