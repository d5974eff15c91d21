"""Negative binomial GLMMs with the shape θ estimated, as lme4's `glmer.nb`.

1. Fit the Poisson GLMM (without derivatives or singular-fit restarts: only its means are
   used); start θ₀ from MASS's `theta.ml` (Newton on the NB score for θ at those means).
2. Minimize −2 log-likelihood of the NB(θ) GLMM over lme4's interval log θ ∈ log θ₀ ± 3 to
   lme4's tolerance (5e-5 on log θ): refit at θ₀, bracket the minimum downhill in short steps,
   then Brent's method (R's `optimize`) inside the bracket. Each refit is warm-started from
   the nearest θ fitted so far, without the finite-difference derivatives and the singular-fit
   restarts. lme4's `optimize` instead starts with golden sections across the whole interval
   (jumps of 1.4 to 2.3 in log θ), where each warm refit costs nearly a fresh fit.
3. Refit at θ̂ with the user's control (derivatives; restarts of a singular fit). When a
   restart finds a better optimum, the profile through it is another one: search on from it.
4. When theta.ml diverges (no overdispersion in the Poisson fit), −2 log-likelihood falls
   towards θ = ∞ across the interval and Brent's method ends at its upper end: refit there
   directly (checked against the centre).

The search is bounded: at most MAX_SEARCH_STEPS refits and `search_budget` GLMM evaluations;
beyond either it stops at its best point with a warning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from mixedfx.errors import FitError, PirlsError
from mixedfx.families import Family, negative_binomial
from mixedfx.glmm.fit import GLMM_RESTART_GAIN
from mixedfx.lazy import lazy_module
from mixedfx.optimize import Control
from mixedfx.optimize.control import eval_budget
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


MAX_SEARCH_STEPS = 30   # refits of the θ search (bracket and Brent); usually 8 to 14
GOLDEN = 0.3819660112501051     # (3 − √5) / 2, Brent's golden-section fraction
GROW = 1.618033988749895        # bracket expansion after the first two equal steps
BRENT_MAX_ITER = 200            # Brent's iterations (its refits are bounded by max_steps)
STEP_MIN, STEP_MAX = 0.1, 0.5   # first step in log θ: theta.ml's standard error, clipped


class SearchBudgetError(Exception):
    """Raised by a deviance function to end the θ search early (its budget is spent)."""


def first_step(y: np.ndarray, mu: np.ndarray, weights: np.ndarray, theta0: float) -> float:
    """The bracket's first step in log θ: the standard error of log θ₀ from theta.ml's
    information at the Poisson means, 1 / (θ₀ √I(θ₀)), within [STEP_MIN, STEP_MAX]."""
    th = theta0
    info = float(np.sum(weights * (-special.polygamma(1, th + y) + special.polygamma(1, th)
                                   - 1 / th + 2 / (mu + th) - (y + th) / (mu + th) ** 2)))
    se = 1.0 / (th * math.sqrt(info)) if info > 0 and math.isfinite(info) else STEP_MAX
    return min(STEP_MAX, max(STEP_MIN, se))


def optimize_log_theta(deviance_at: Callable[[float], float], start: float,
                       half_width: float = 3.0, tol: float = 5e-5,
                       max_steps: int = MAX_SEARCH_STEPS, step: float = STEP_MAX,
                       bounds: tuple[float, float] | None = None) -> float:
    """argmin over t ∈ [log θ₀ − 3, log θ₀ + 3] of −2 logLik(NB(eᵗ)), lme4's interval and
    tolerance, found locally: from t₀ = log θ₀ downhill in steps `step`, `step`, then ×GROW
    until the deviance rises again (first towards smaller θ: the Poisson GLMM's random effects
    absorb part of the overdispersion, so θ₀ at its means overestimates θ), then Brent's method
    (R's `optimize`) inside that bracket starting from its best point. Each refit is warm-started
    from a nearby θ, so short steps cost a fraction of lme4's golden-section jumps across the
    whole interval.

    At most `max_steps` refits (each a full GLMM fit): beyond that, or when `deviance_at`
    raises SearchBudgetError, the search stops with a warning at its best point, where R's
    `optimize` would go on. `bounds`: the interval in log θ, if not log θ₀ ± `half_width`."""
    if not (start > 0 and math.isfinite(start)):
        raise FitError(f"glmer_nb: invalid starting theta {start!r}")
    t0 = math.log(start)
    lo, hi = (t0 - half_width, t0 + half_width) if bounds is None else bounds
    seen: dict[float, float] = {}

    def f(t: float) -> float:
        if t not in seen:
            if len(seen) >= max_steps:
                raise SearchBudgetError(f"after {max_steps} refits")
            seen[t] = deviance_at(t)
        return seen[t]

    try:
        return _bracket_and_brent(f, t0, lo, hi, step, tol)
    except SearchBudgetError as stop:
        best = min(seen, key=seen.__getitem__)
        warn(f"glmer_nb: the search for theta stopped {stop} before reaching tol = "
             f"{tol:g} on log(theta); theta = {math.exp(best):.6g} is its best point")
        return best


def _bracket_and_brent(f: Callable[[float], float], t0: float, lo: float, hi: float,
                       step: float, tol: float) -> float:
    """Downhill bracketing from t0 within [lo, hi], then `brent` inside the bracket."""
    a, fa = t0, f(t0)
    b = max(lo, t0 - step)
    fb = f(b)
    if fb > fa:                                  # uphill: search towards larger θ
        a, fa, b, fb = b, fb, a, fa
    c = min(hi, max(lo, b + (b - a)))
    fc = f(c)
    while fc < fb and lo < c < hi:               # still downhill: step on, growing
        a, fa, b, fb = b, fb, c, fc
        c = min(hi, max(lo, b + GROW * (b - a)))
        fc = f(c)
    if fc < fb:                                  # downhill to the interval's end
        a, fa, b, fb = b, fb, c, fc
    left, right = (a, fa), (c, fc)
    if left[0] > right[0]:
        left, right = right, left
    w, v = (left, right) if left[1] <= right[1] else (right, left)
    return brent(f, left[0], right[0], (b, fb), w, v, tol)


def brent(f: Callable[[float], float], a: float, b: float, x: tuple[float, float],
          w: tuple[float, float], v: tuple[float, float], tol: float) -> float:
    """Brent's minimization (Forsythe, Malcolm & Moler's `fmin`, R's `optimize`) on [a, b]
    from the best point x = (t, f(t)) and two others w, v (a bracket's ends): parabolic steps
    through x, w, v, golden sections when they fail; stops when x is within
    2·(ε|x| + tol/3) of the middle of an interval of that half-width, as R's `optimize`."""
    eps = math.sqrt(np.finfo(float).eps)
    (x, fx), (w, fw), (v, fv) = x, w, v
    d = e = b - a                                # allow a parabolic first step
    for _ in range(BRENT_MAX_ITER):             # (f may repeat cached values: no refit count)
        xm = 0.5 * (a + b)
        tol1 = eps * abs(x) + tol / 3.0
        t2 = 2.0 * tol1
        if abs(x - xm) <= t2 - 0.5 * (b - a):
            return x
        p = q = r = 0.0
        if abs(e) > tol1 and math.isfinite(fx + fw + fv):   # no parabola through +∞
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2.0 * (q - r)
            if q > 0:
                p = -p
            else:
                q = -q
            r, e = e, d
        if abs(p) >= abs(0.5 * q * r) or p <= q * (a - x) or p >= q * (b - x):
            e = (a - x) if x >= xm else (b - x)  # golden section into the larger part ...
            # ... unless x is within 2·tol1 of the other end: then a probe 2·tol1 into the
            # larger part ends the search when it is higher (the minimum is within tol of x),
            # where golden sections would creep in from the far end of the bracket
            d = math.copysign(t2, e) if min(x - a, b - x) <= t2 < 0.5 * abs(e) \
                else GOLDEN * e
        else:
            d = p / q
            if (x + d) - a < t2 or b - (x + d) < t2:
                d = tol1 if x < xm else -tol1
        u = x + (d if abs(d) >= tol1 else math.copysign(tol1, d))
        fu = f(u)
        if fu <= fx:
            if u < x:
                b = x
            else:
                a = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v in (x, w):
                v, fv = u, fu
    return x


Refit = Callable[[Family, dict | None, Control], Any]   # (family, start, control) -> fit


def poisson_control(control: Control | dict[str, Any] | None) -> Control:
    """The Poisson start fit's control: the user's, without the finite-difference derivatives
    and the singular-fit restarts (lme4 has none): only its means are used (for θ₀), and the
    final refit at θ̂ does both."""
    return replace(Control.from_user(control), calc_derivs=False, restart_singular=False)


SEARCH_BUDGET_FLOOR = 2_000


def search_budget(n_params: int) -> int:
    """GLMM evaluations the θ search's refits may take for `n_params` = len(θ) + len(β): a
    fifth of `eval_budget`'s 100·(d + 1)² for one optimizer run, at least 2 000 (20·(d + 1)²,
    about fifteen fresh fits of d parameters). A converged search takes a few fresh fits'
    worth: 600 for d = 9 (tiny6), 3 700 to 4 600 for d = 23 (nb20, with a second search after
    the final refit's restarts). The final refit at θ̂ is not counted (it is the user's fit)."""
    return max(SEARCH_BUDGET_FLOOR, eval_budget(n_params) // 5)


def search_theta(refit: Refit, poisson_fit: Any, y: np.ndarray, mu: np.ndarray,
                 prior_weights: np.ndarray, link: str, nAGQ: int,
                 control: Control | dict[str, Any] | None, tol: float) -> Any:
    """Steps 1–3 above given the Poisson fit (its response y, fitted means μ and prior
    weights): θ₀ = theta.ml(y, μ), then the local search over log θ (`optimize_log_theta`),
    each trial a `refit(negative_binomial(θ, link), start, control)` warm-started from the
    nearest θ fitted so far. Returns the fit at θ̂ redone with the user's control (the
    finite-difference derivatives and singular-fit restarts the search's refits skip; when a
    restart finds a better optimum the search continues from it) with `nb_search` set to the
    search's cost: refits and the GLMM evaluations they took."""
    report: dict[str, bool] = {}
    theta0 = theta_ml(y, mu, prior_weights, eps=2 * tol, report=report)
    user_ctrl = Control.from_user(control)
    search = _Search(refit, link, nAGQ, user_ctrl)
    if report.get("diverging"):
        # theta.ml ran out of iterations with θ still growing: the Poisson fit shows no
        # overdispersion and −2 logLik falls towards the Poisson limit θ = ∞ across lme4's
        # whole search interval, where Brent's method ends at its upper end log θ₀ + 3 after
        # ~25 refits (minutes on a degenerate model). Refit there, checked against the centre
        # and the lower end (refitted random effects can still make an interior θ better).
        search.fits[math.inf] = poisson_fit     # the Poisson fit starts the first refit
        hi = math.log(theta0) + 3.0
        search.budgeted = False                 # three refits at most
        d_hi = search.deviance(hi)
        if d_hi <= search.deviance(hi - 3.0) + 1e-4 and \
                d_hi <= search.deviance(hi - 6.0) + 1e-4 and hi in search.fits:
            return search.result(hi, search.final(hi))
        search.fits.clear()
        search.budgeted = True
    step = first_step(y, mu, prior_weights, theta0)
    best = optimize_log_theta(search.deviance, theta0, tol=tol, step=step)
    search.budgeted = False                     # (a last refit when no trial had a fit)
    if best not in search.fits and not math.isfinite(search.deviance(best)):
        raise PirlsError("glmer_nb: PIRLS resulted in NaN values at the estimated theta "
                         f"{math.exp(best):.6g}; the model is too complex for the data")
    out = search.final(best)
    if search.improved(best, out):
        # the final refit's singular-fit restarts found a better optimum at θ̂: the deviance
        # profile through it is another one; search on from there (without restarts)
        search.fits, search.budgeted = {best: out}, True
        t0 = best
        best = optimize_log_theta(search.deviance, math.exp(t0), tol=tol, step=0.25 * step,
                                  bounds=(math.log(theta0) - 3.0, math.log(theta0) + 3.0))
        out = search.final(best, restart=False) if best != t0 else out
    return search.result(best, out)


class _Search:
    """The refits of one θ search: fits by log θ, the GLMM evaluations they took, and the
    search's evaluation budget (`search_budget`, known after the first refit)."""

    def __init__(self, refit: Refit, link: str, nAGQ: int, user_ctrl: Control) -> None:
        self.refit, self.link, self.nAGQ, self.user_ctrl = refit, link, nAGQ, user_ctrl
        # the search's refits skip the finite-difference derivatives (about a fifth of a fit)
        # and the singular-fit restarts (each starts from a neighbour's optimum, so a basin
        # carries along); the final refit at θ̂ does both, as the user's control says
        self.ctrl = replace(user_ctrl, calc_derivs=False, restart_singular=False)
        self.fits: dict[float, Any] = {}
        self.refits = self.evaluations = 0
        self.budget: int | None = None
        self.budgeted = True

    def start(self, fit: Any) -> dict[str, Any]:
        """Warm start from `fit`: θ and β (stage 2 only, as lme4's refits), θ alone when
        nAGQ=0 estimates β inside PIRLS."""
        return {"theta": fit.theta} if self.nAGQ == 0 else \
            {"theta": fit.theta, "fixef": fit.beta}

    def deviance(self, t: float) -> float:
        """−2 logLik of the NB(eᵗ) GLMM refitted from the nearest θ fitted so far, with a
        trust region that shrinks with the distance in log θ."""
        if t in self.fits:
            return -2.0 * self.fits[t].loglik
        if self.budgeted and self.budget is not None and self.evaluations >= self.budget:
            raise SearchBudgetError(f"after {self.evaluations} GLMM evaluations (its budget "
                                f"{self.budget})")
        t_near = min(self.fits, key=lambda k: abs(k - t)) if self.fits else None
        if t_near is None:
            start, ctrl = None, self.ctrl
        else:
            start = self.start(self.fits[t_near])
            ctrl = replace(self.ctrl, warm_step=self.ctrl.warm_step * warm_scale(abs(t - t_near)))
        try:
            m = self.refit(negative_binomial(math.exp(t), link=self.link), start, ctrl)
        except PirlsError:
            return math.inf         # no finite likelihood at this θ: not the minimum
        self.fits[t] = m
        self.refits += 1
        self.evaluations += m.optimizer_info["evaluations"]
        if self.budget is None:
            self.budget = search_budget(len(m.theta) + len(m.beta))
        return -2.0 * m.loglik

    def final(self, t: float, restart: bool = True) -> Any:
        """The fit at θ̂ = eᵗ redone from the search's fit there with the user's control
        (derivatives, and singular-fit restarts unless `restart` is False); the search's fit
        itself when the user's control asks for neither."""
        ctrl = self.user_ctrl if restart else replace(self.user_ctrl, restart_singular=False)
        fit = self.fits[t]
        if ctrl.calc_derivs is False and not (ctrl.restart_singular and fit.is_singular()):
            return fit
        return self.refit(negative_binomial(math.exp(t), link=self.link), self.start(fit), ctrl)

    def improved(self, t: float, out: Any) -> bool:
        """The final refit at eᵗ is better than the search's fit there by more than the
        singular-fit restarts' relative gain."""
        before = -2.0 * self.fits[t].loglik
        return -2.0 * out.loglik < before - GLMM_RESTART_GAIN * abs(before)

    def result(self, t: float, out: Any) -> Any:
        """`out` with `nb_search`: the search's refits and the GLMM evaluations they took."""
        out.nb_search = {"refits": self.refits, "evaluations": self.evaluations}
        return out
