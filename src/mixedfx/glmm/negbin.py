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
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from mixedfx.errors import FitError, PirlsError
from mixedfx.families import Family, negative_binomial
from mixedfx.lazy import lazy_module
from mixedfx.optimize import Control
from mixedfx.warn import warn

optimize = lazy_module("scipy.optimize")  # scipy.optimize costs ~0.1 s at import; only needed here
special = lazy_module("scipy.special")  # scipy.special costs ~50 ms at import; only needed here


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
        warn("theta.ml: estimate truncated at zero")
        t0 = 1e-4
    if limit_reached:
        warn("iteration limit reached")
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
        warn(f"glmer_nb: the search for theta stopped after {max_steps} refits "
             f"before reaching tol = {tol:g} on log(theta)")
    return float(res.x)


Refit = Callable[[Family, dict | None, Control], Any]   # (family, start, control) -> fit


def search_theta(refit: Refit, poisson_fit: Any, y: np.ndarray, mu: np.ndarray,
                 prior_weights: np.ndarray, link: str, nAGQ: int,
                 control: Control | dict[str, Any] | None, tol: float) -> Any:
    """Steps 1–3 above given the Poisson fit (its response y, fitted means μ and prior
    weights): θ₀ = theta.ml(y, μ), then the Brent search over log θ, each trial a
    `refit(negative_binomial(θ, link), start, control)` warm-started from the nearest θ
    fitted so far. Returns the fit at θ̂ (redone with the user's control, which computes the
    finite-difference derivatives the search's refits skip) with `nb_search` set to the
    search's cost: refits and the GLMM evaluations they took."""
    report: dict[str, bool] = {}
    theta0 = theta_ml(y, mu, prior_weights, eps=2 * tol, report=report)
    fits: dict[float, Any] = {}
    # the search's warm-started refits skip the finite-difference derivatives (about a fifth
    # of a fit) and the singular-fit restarts (each starts from a neighbour's optimum, so the
    # basin the first refit, or the Poisson fit, found with restarts carries along); the fit
    # at θ̂, warm-started too, is redone with the user's control to compute the derivatives
    user_ctrl = Control.from_user(control)
    search_ctrl = replace(user_ctrl, calc_derivs=False, restart_singular=False)
    final_ctrl = replace(user_ctrl, restart_singular=False)

    def deviance_at(t: float) -> float:
        # warm start from the nearest θ fitted so far, with a trust region that shrinks with
        # the distance in log θ (Brent's late steps move θ by 1e-3 or less)
        t_near = min(fits, key=lambda k: abs(k - t)) if fits else None
        near = None if t_near is None else fits[t_near]
        start = None if near is None else {"theta": near.theta, "fixef": near.beta}
        if start is not None and nAGQ == 0:     # nAGQ=0 estimates the fixed effects in PIRLS
            del start["fixef"]
        # the first refit starts afresh: it restarts a singular fit as the user's control
        # says, so that the warm-started refits after it carry the better basin along
        ctrl = replace(search_ctrl, restart_singular=user_ctrl.restart_singular) \
            if t_near is None else replace(
                search_ctrl, warm_step=search_ctrl.warm_step * warm_scale(abs(t - t_near)))
        try:
            m = refit(negative_binomial(math.exp(t), link=link), start, ctrl)
        except PirlsError:
            return math.inf         # no finite likelihood at this θ: not the minimum
        fits[t] = m
        return -2.0 * m.loglik

    def final(t: float) -> Any:
        if user_ctrl.calc_derivs is False:
            return fits[t]
        # warm (θ and β: stage 2 only, as lme4's refits) unless nAGQ=0 estimates β in PIRLS
        start = {"theta": fits[t].theta} if nAGQ == 0 else \
            {"theta": fits[t].theta, "fixef": fits[t].beta}
        return refit(negative_binomial(math.exp(t), link=link), start, final_ctrl)

    if report.get("diverging"):
        # theta.ml ran out of iterations with θ still growing: the Poisson fit shows no
        # overdispersion and −2 logLik falls towards the Poisson limit θ = ∞ across lme4's
        # whole search interval, where Brent's method ends at its upper end log θ₀ + 3 after
        # ~25 refits (minutes on a degenerate model). Refit there, checked against the centre
        # and the lower end (refitted random effects can still make an interior θ better).
        fits[math.inf] = poisson_fit             # the Poisson fit starts the first refit
        hi = math.log(theta0) + 3.0
        d_hi = deviance_at(hi)
        if d_hi <= deviance_at(hi - 3.0) + 1e-4 and d_hi <= deviance_at(hi - 6.0) + 1e-4 \
                and hi in fits:
            return final(hi)
        fits.clear()
    best = optimize_log_theta(deviance_at, theta0, tol=tol)
    if best not in fits and not math.isfinite(deviance_at(best)):
        raise PirlsError("glmer_nb: PIRLS resulted in NaN values at the estimated theta "
                         f"{math.exp(best):.6g}; the model is too complex for the data")
    out = final(best)
    # the θ search's cost: refits (Brent steps) and the GLMM evaluations they took
    out.nb_search = {"refits": len(fits), "evaluations": sum(
        f.optimizer_info["evaluations"] for f in fits.values() if f is not poisson_fit)}
    return out
