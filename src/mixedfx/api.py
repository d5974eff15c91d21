"""The fitting entry points: `lmer` and `glmer`."""

from __future__ import annotations

from typing import Any

import numpy as np

from mixedfx.families import Family, family_from
from mixedfx.frame.model_frame import build_model_frame
from mixedfx.lmm.fit import fit_lmm
from mixedfx.optimize import Control
from mixedfx.results.lmm_model import LinearMixedModel


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
    fit = fit_lmm(frame, bool(REML), ctrl, start=start)
    name = getattr(data, "attrs", {}).get("name") if hasattr(data, "attrs") else None
    return LinearMixedModel(frame, fit, ctrl, data_name=name)


def glmer(formula: str, data: Any, family: str | Family = "binomial", nAGQ: int = 1,
          weights: Any = None, offset: Any = None, na_action: str = "omit",
          control: Control | dict[str, Any] | None = None, start: dict | None = None,
          link: str | None = None) -> Any:
    """Fit a generalized linear mixed model with lme4's formula syntax (lme4's `glmer`).

    `family` is a name ("binomial", "poisson", "Gamma", "inverse_gaussian", "gaussian") or a
    `mixedfx.families` object (e.g. `families.Gamma(link="log")`); `link` overrides the link
    of a named family. `nAGQ=1` is the Laplace approximation, `nAGQ>1` adaptive Gauss–Hermite
    quadrature (one scalar random-effects term only), `nAGQ=0` optimizes θ with β estimated
    inside PIRLS. Binomial responses: 0/1, a two-level factor or boolean, proportions with
    `weights=` giving the trials, or `cbind(successes, failures)`. `offset=` and `offset(...)`
    terms in the formula are added on the link scale.
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
    resp = encode_response(frame.y, fam, frame.weights)
    fit = fit_glmm(frame, fam, resp, int(nAGQ), ctrl, start=start)
    name = getattr(data, "attrs", {}).get("name") if hasattr(data, "attrs") else None
    return GeneralizedLinearMixedModel(frame, fam, resp, fit, ctrl, data_name=name)
