"""Gamma and inverse-Gaussian GLMMs with the dispersion estimated by maximum likelihood, as
glmmTMB does (`glmer(..., dispersion="ML")`, the default for these families).

With prior weights w, dispersion φ and b = Λu, u ~ N(0, I), the Laplace approximation of the
marginal deviance is

    d(θ, β, φ) = −2 Σ wᵢ log f(yᵢ; μ̂ᵢ, φ) + ‖û‖² + log|ΛᵀZᵀW_φZΛ + I|,

f the family's density (Gamma: shape 1/φ, mean μ; inverse Gaussian: mean μ, dispersion φ).
Because −2 w log f = w·dev(y, μ)/φ + (terms free of μ), the conditional mode û at fixed
(θ, β, φ) is PIRLS with prior weights w/φ. The Laplace factor is taken, as TMB does, at the
observed information of the conditional density,

    W_φ = (w/φ) [μ'²/V(μ) − (y − μ) ∂(μ'/V(μ))/∂η],

which equals PIRLS's Fisher weights for canonical links (Gamma's inverse link) and is
(w/φ)·y/μ > 0 for the Gamma log link. For the inverse Gaussian (not a glmmTMB family) the
Fisher weights are used: its observed information can be negative. lme4 instead runs
PIRLS with φ = 1 and estimates φ after the fit from the residuals, which biases the
random-effect variances (dispersion="lme4" keeps that behaviour). Here (θ, β, log φ) are
optimized jointly by BOBYQA, starting from the lme4-style fit, in whitened β coordinates;
vcov(β) is the β block of 2H⁻¹, H the central-difference Hessian of d over (θ, β, log φ)
(glmmTMB inverts the Hessian of all its parameters). glmmTMB reports σ = √φ (for the Gamma,
the coefficient of variation).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from mixedfx.errors import ArgumentError
from mixedfx.families import Family
from mixedfx.glmm.fit import _stage_control, central_gradient, fit_glmm, newton_polish
from mixedfx.glmm.objective import GlmmObjective
from mixedfx.glmm.pirls import Pirls, PirlsError, PirlsState
from mixedfx.glmm.response import GlmResponse
from mixedfx.glmm.whitening import whitening
from mixedfx.lazy import lazy_module
from mixedfx.lmm.factorization import BlockedCholesky
from mixedfx.lmm.fit import upper_bounds
from mixedfx.optimize import optimize_theta
from mixedfx.optimize.convergence import (
    ConvergenceWarning,
    SingularFitWarning,
    check_gradient,
    convergence_messages,
    emit,
)
from mixedfx.optimize.derivatives import central_hessian

special = lazy_module("scipy.special")  # scipy.special costs ~50 ms at import; only needed here

ML_FAMILIES = ("Gamma", "inverse.gaussian")
DISPERSION_METHODS = ("ML", "lme4")


def check_dispersion(dispersion: str, family: Family, nagq: int) -> str:
    """Validate `dispersion=` for glmer: "ML" (glmmTMB) or "lme4"; only Gamma and inverse
    Gaussian families estimate a dispersion by ML. Returns the method that applies."""
    if dispersion not in DISPERSION_METHODS:
        raise ArgumentError(f"dispersion must be 'ML' (maximum likelihood, as glmmTMB) or 'lme4' "
                            f"(lme4's estimate after the fit), got {dispersion!r}")
    if family.name not in ML_FAMILIES:
        return "none"
    if dispersion == "ML" and nagq != 1:
        raise ArgumentError("dispersion='ML' uses the Laplace approximation (nAGQ=1); for "
                            f"nAGQ={nagq} use dispersion='lme4'")
    return dispersion


def minus2_loglik(family: Family, y: np.ndarray, mu: np.ndarray, wt: np.ndarray,
                  phi: float, order: np.ndarray | None = None) -> float:
    """−2 Σ wᵢ log f(yᵢ; μᵢ, φ) with all constants (+∞ outside the family's μ > 0), summed
    over the rows in `order` (the canonical row order) when given."""
    if not np.all(mu > 0):
        return math.inf
    if family.name == "Gamma":
        a = 1.0 / phi
        logf = a * np.log(a * y / mu) - a * y / mu - np.log(y) - special.gammaln(a)
    elif family.name == "inverse.gaussian":
        logf = -0.5 * (np.log(2 * math.pi * phi * y**3) + (y - mu) ** 2 / (phi * mu**2 * y))
    else:
        raise ArgumentError(f"no ML dispersion for family {family.name}")
    terms = wt * logf
    return float(-2.0 * np.sum(terms if order is None else terms[order]))


def observed_weights(family: Family, state: PirlsState, offset: np.ndarray, y: np.ndarray,
                     wt: np.ndarray) -> np.ndarray:
    """W = w [μ'²/V − (y − μ) ∂(μ'/V)/∂η] (w already divided by φ); the derivative by central
    differences in η (exactly zero for canonical links)."""
    eta, mu = state.eta, state.mu
    link = family.link
    mu_eta = link.mu_eta(eta)
    fisher = mu_eta**2 / family.variance(mu)
    if family.canonical:
        return wt * fisher
    h = 1e-5 * (1.0 + np.abs(eta))

    def ratio(e: np.ndarray) -> np.ndarray:
        return link.mu_eta(e) / family.variance(link.linkinv(e))

    d = (ratio(eta + h) - ratio(eta - h)) / (2 * h)
    return wt * (fisher - (y - mu) * d)


class DispersionObjective(GlmmObjective):
    """x = (θ, β, log φ) -> the ML Laplace deviance d(θ, β, φ)."""

    uses_laplace_factor = False     # `laplace_logdet` forms its own factor

    def __init__(self, pirls: Pirls, templates, n_theta: int, start: PirlsState,
                 resp: GlmResponse) -> None:
        super().__init__(pirls, templates, n_theta, 1, start)
        self.base_resp = resp
        self.phi = 1.0

    def set_phi(self, phi: float) -> None:
        """Point PIRLS at prior weights w/φ."""
        if phi != self.phi or self.pirls.resp.wt is self.base_resp.wt:
            self.phi = phi
            self.pirls.resp = replace(self.base_resp, wt=self.base_resp.wt / phi)

    def laplace_logdet(self, state: PirlsState, theta: np.ndarray) -> float:
        """log|ΛᵀZᵀW_φZΛ + I| at the observed-information weights (Gamma, as TMB), or at
        PIRLS's Fisher weights (inverse Gaussian: its observed information (w/φ)(2y − μ)/μ²
        under the log link is negative for y < μ/2, and glmmTMB has no such family)."""
        pirls, resp = self.pirls, self.pirls.resp
        if pirls.family.name != "Gamma":
            _, f, _ = pirls.factorize(state, theta, with_x=False)
            return f.ldL2
        W = observed_weights(pirls.family, state, pirls.offset, resp.y, resp.wt)
        if np.any(W <= 0):   # Gamma identity link with y < μ/2: no Laplace approximation
            raise PirlsError("observed information not positive at the mode")
        _, z = pirls.weights(state)        # any response with a nonzero residual will do
        xp = pirls.crossproducts(False, z - pirls.xbeta(state.beta), np.sqrt(W))
        chol = BlockedCholesky(pirls.terms, xp, gram=pirls._gram_for(False, xp.B))
        f = chol.factorize(theta)
        if f is None:
            raise PirlsError("the Laplace factor is not positive definite")
        return f.ldL2

    def value_at(self, state: PirlsState, theta: np.ndarray, f=None) -> float:
        m2ll = minus2_loglik(self.pirls.family, self.base_resp.y, state.mu,
                             self.base_resp.wt, self.phi, self.pirls.order)
        return m2ll + state.ussq + self.laplace_logdet(state, theta)

    def __call__(self, x: np.ndarray) -> float:
        x = np.asarray(x, dtype=float)
        log_phi = float(x[-1])
        if not np.isfinite(log_phi) or abs(log_phi) > 50:
            return np.inf
        self.set_phi(math.exp(log_phi))
        try:
            # trial points with an invalid μ (inverse link: η ≤ 0) are +∞, not warnings
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                value = super().__call__(x[:-1])
        except (PirlsError, np.linalg.LinAlgError, FloatingPointError):
            return np.inf
        return value if np.isfinite(value) else np.inf


def _no_finite_likelihood(family: Family, phi: float) -> None:
    raise PirlsError(f"the {family.name} GLMM has no finite likelihood at the estimates "
                     f"with its dispersion estimated by maximum likelihood (dispersion "
                     f"{phi:.3g}): the model is too complex for the data (the fixed and "
                     "random effects reproduce the response); simplify it")


def fit_glmm_ml_dispersion(frame, family: Family, resp: GlmResponse, control,
                           start: dict | None = None, warn: bool = True):
    """Fit (θ, β, φ) by maximizing the Laplace likelihood (see the module docstring).

    Starts from lme4's two-stage fit (φ₀ = lme4's (Pearson χ² + ‖u‖²)/n); returns a GlmmFit
    whose `dispersion` is φ̂ and whose Hessian is over (θ, β, log φ)."""
    # lme4's fit as the start (its derivatives and messages are not needed)
    # (PIRLS's step halving passes invalid μ, e.g. η ≤ 0 under the inverse link: not news)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        base = fit_glmm(frame, family, resp, 1, replace(control, calc_derivs=False),
                        start=start, warn=False)
    pirls, state = base.pirls, base.state
    n_theta, p = len(base.theta), len(base.beta)
    mu = state.mu
    chi2 = pirls.row_sum(resp.wt * (resp.y - mu) ** 2 / family.variance(mu))
    phi0 = max((chi2 + state.ussq) / len(resp.y), 1e-8)
    obj = DispersionObjective(pirls, base.objective.templates, n_theta, state, resp)
    obj.set_phi(phi0)
    to_x = whitening(pirls, state, base.theta, n_theta)

    def natural(z: np.ndarray) -> np.ndarray:
        return np.append(to_x(z[:-1]), z[-1])

    upper_theta = upper_bounds(frame)
    lower = np.concatenate([base.lower, np.full(p + 1, -np.inf)])
    upper = np.concatenate([upper_theta, np.full(p + 1, np.inf)])
    z0 = np.concatenate([base.theta, np.zeros(p), [math.log(phi0)]])
    step = np.concatenate([0.1 * np.maximum(np.abs(base.theta), 0.05), np.full(p, 0.1),
                           [0.1]])
    opt = optimize_theta(lambda z: obj(natural(z)), z0, lower,
                         _stage_control(control, calc_derivs=False), len(resp.y),
                         counter=lambda: obj.evaluations, initial_step=step, upper=upper)
    x = natural(opt.x)
    lower_x = np.concatenate([base.lower, np.full(p + 1, -np.inf)])
    g = H = None
    calc = control.calc_derivs if control.calc_derivs is not None else len(resp.y) < 10_000
    with obj.precise():
        value = obj(x)
        if not np.isfinite(value):   # no derivatives of an infinite objective (hundreds of
            _no_finite_likelihood(family, math.exp(x[-1]))   # PIRLS runs for nothing)
        if calc:
            g = central_gradient(obj, x)
            H = central_hessian(obj, x)
            if check_gradient(g, H, 1e-4):
                x_polished, value, g = newton_polish(obj, x, value, g, H, lower_x, True, upper)
                if not np.array_equal(x_polished, x):   # a kept step: the Hessian there
                    x = x_polished
                    H = central_hessian(obj, x)
        value = obj(x)
    theta, beta, phi = x[:n_theta], x[n_theta:n_theta + p], math.exp(x[-1])
    if not (np.isfinite(value) and np.all(np.isfinite(x)) and phi > 0):
        _no_finite_likelihood(family, phi)
    messages, conv = convergence_messages(theta, base.lower, opt.messages, g, H, control)
    if warn:
        emit(messages, SingularFitWarning)
        emit(conv, ConvergenceWarning)
    return replace(base, theta=np.asarray(theta), beta=np.asarray(beta), state=obj.state,
                   objective_value=value, stage2=opt, gradient=g, hessian=H,
                   messages=messages + conv, objective=obj, dispersion=phi)
