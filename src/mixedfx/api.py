"""The fitting entry points: `lmer` and `glmer`."""

from __future__ import annotations

from typing import Any

import numpy as np

from mixedfx.families import Family, family_from
from mixedfx.frame.model_frame import ModelFrame, build_model_frame
from mixedfx.lmm.fit import fit_lmm
from mixedfx.optimize import Control
from mixedfx.optimize.threads import blas_threads_for
from mixedfx.results.lmm_model import LinearMixedModel


def dense_block_size(frame: ModelFrame) -> int:
    """Rows of the dense trailing block: all random effects but the largest term's, X and y."""
    return sum(t.q for t in frame.terms[1:]) + frame.X.shape[1] + 1


def lmer(formula: str, data: Any, REML: bool = True, weights: Any = None, offset: Any = None,
         na_action: str = "omit", control: Control | dict[str, Any] | None = None,
         start: np.ndarray | None = None) -> LinearMixedModel:
    """Fit a linear mixed model with lme4's formula syntax.

    Parameters mirror `lme4::lmer`: `REML` (default True), prior `weights` and an `offset`
    (column names or arrays), `na_action` ("omit" drops incomplete rows and says how many,
    "fail" refuses them), `control` (a `mixedfx.optimize.Control` or a dict of its fields) and
    `start` (θ start values, lme4's order).
    """
    ctrl = Control.from_user(control)
    frame = build_model_frame(formula, data, weights=weights, offset=offset,
                              na_action=na_action)
    with blas_threads_for(dense_block_size(frame)):
        fit = fit_lmm(frame, bool(REML), ctrl, start=start)
    name = getattr(data, "attrs", {}).get("name") if hasattr(data, "attrs") else None
    return LinearMixedModel(frame, fit, ctrl, data_name=name)


def glmer(formula: str, data: Any, family: str | Family = "binomial", nAGQ: int = 1,
          weights: Any = None, offset: Any = None, na_action: str = "omit",
          control: Control | dict[str, Any] | None = None, start: dict | None = None,
          link: str | None = None, dispersion: str = "ML") -> Any:
    """Fit a generalized linear mixed model with lme4's formula syntax (lme4's `glmer`).

    `family` is a name ("binomial", "poisson", "Gamma", "inverse_gaussian", "gaussian") or a
    `mixedfx.families` object (e.g. `families.Gamma(link="log")`); `link` overrides the link
    of a named family. `nAGQ=1` is the Laplace approximation, `nAGQ>1` adaptive Gauss–Hermite
    quadrature (one scalar random-effects term only), `nAGQ=0` optimizes θ with β estimated
    inside PIRLS. Binomial responses: 0/1, a two-level factor or boolean, proportions with
    `weights=` giving the trials, or `cbind(successes, failures)`. `offset=` and `offset(...)`
    terms in the formula are added on the link scale.

    `dispersion` (Gamma and inverse Gaussian): "ML" (default) estimates the dispersion φ by
    maximum likelihood jointly with θ and β, as glmmTMB does (θ then gives the random
    effects' SDs on the link scale and `sigma` is √φ); "lme4" reproduces lme4, which fits
    with φ = 1 inside PIRLS and estimates φ from the residuals afterwards.
    """
    from mixedfx.glmm.fit import fit_glmm
    from mixedfx.glmm.response import encode_response
    from mixedfx.results.glmm_model import GeneralizedLinearMixedModel

    fam = family_from(family, link)
    if fam.name == "gaussian" and fam.link.name == "identity":
        raise ValueError("family gaussian with identity link is a linear mixed model: "
                         "use mixedfx.lmer")
    if not isinstance(nAGQ, (int, np.integer)) or nAGQ < 0:
        raise ValueError("nAGQ must be a non-negative integer")
    ctrl = Control.from_user(control)
    frame = build_model_frame(formula, data, weights=weights, offset=offset,
                              na_action=na_action, glm=True)
    from mixedfx.glmm.dispersion import check_dispersion, fit_glmm_ml_dispersion

    method = check_dispersion(dispersion, fam, int(nAGQ))
    resp = encode_response(frame.y, fam, frame.weights)
    with blas_threads_for(dense_block_size(frame)):
        if method == "ML":
            fit = fit_glmm_ml_dispersion(frame, fam, resp, ctrl, start=start)
        else:
            fit = fit_glmm(frame, fam, resp, int(nAGQ), ctrl, start=start)
    name = getattr(data, "attrs", {}).get("name") if hasattr(data, "attrs") else None
    return GeneralizedLinearMixedModel(frame, fam, resp, fit, ctrl, data_name=name)


def glmer_nb(formula: str, data: Any, nAGQ: int = 1, weights: Any = None, offset: Any = None,
             na_action: str = "omit", control: Control | dict[str, Any] | None = None,
             link: str = "log", tol: float = 5e-5) -> Any:
    """Negative binomial GLMM with its shape θ estimated (lme4's `glmer.nb`).

    Fits the Poisson GLMM, starts θ at MASS's `theta.ml` for its fitted means, then minimizes
    −2 log-likelihood over log θ ∈ log θ₀ ± 3 (Brent, tolerance `tol`), refitting at each θ.
    The result's family is `negative_binomial(θ̂)`; `model.nb_theta` holds θ̂.
    """
    import math

    from mixedfx.families import negative_binomial
    from mixedfx.glmm.negbin import optimize_log_theta, theta_ml

    common = {"nAGQ": nAGQ, "weights": weights, "offset": offset, "na_action": na_action,
              "control": control}
    poisson_fit = glmer(formula, data, family="poisson", link=link, **common)
    prior = poisson_fit._resp.prior_weights
    theta0 = theta_ml(poisson_fit._resp.y, poisson_fit.fitted(), prior, eps=2 * tol)
    fits: dict[float, Any] = {}

    def deviance_at(t: float) -> float:
        start = None if not fits else {"theta": fits[min(fits, key=lambda k: abs(k - t))].theta}
        m = glmer(formula, data, family=negative_binomial(math.exp(t), link=link),
                  start=start, **common)
        fits[t] = m
        return -2.0 * m.loglik

    best = optimize_log_theta(deviance_at, theta0, tol=tol)
    return fits[best] if best in fits else (deviance_at(best), fits[best])[1]
