"""Link functions g (η = g(μ)) with inverse and derivative dμ/dη, as R's `make.link`.

Inverse links are clamped where R clamps them (logit keeps μ in (ε, 1 − ε), log keeps
μ ≥ ε) so PIRLS never sees 0 or 1 probabilities or zero means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

EPS = np.finfo(float).eps
_THRESH = 30.0
_MTHRESH = -30.0
_INVEPS = 1.0 / EPS


@dataclass(frozen=True)
class Link:
    """η = linkfun(μ); μ = linkinv(η); dμ/dη = mu_eta(η)."""

    name: str
    linkfun: Callable[[np.ndarray], np.ndarray]
    linkinv: Callable[[np.ndarray], np.ndarray]
    mu_eta: Callable[[np.ndarray], np.ndarray]
    valideta: Callable[[np.ndarray], bool] = lambda eta: True


def _logit_inv(eta: np.ndarray) -> np.ndarray:
    # R's logit_linkinv: exp(η) replaced by ε / 1/ε beyond |η| > 30
    mu = special.expit(eta)
    if eta.max(initial=0.0) > _THRESH or eta.min(initial=0.0) < _MTHRESH:
        mu = np.where(eta < _MTHRESH, EPS / (1 + EPS), np.where(eta > _THRESH,
                      _INVEPS / (1 + _INVEPS), mu))
    return mu


def _logit_mu_eta(eta: np.ndarray) -> np.ndarray:
    p = special.expit(eta)
    out = p * (1 - p)
    if eta.max(initial=0.0) > _THRESH or eta.min(initial=0.0) < _MTHRESH:
        return np.where(np.abs(eta) > _THRESH, EPS, out)
    return out


def _probit_inv(eta: np.ndarray) -> np.ndarray:
    thresh = -stats.norm.ppf(EPS)
    return stats.norm.cdf(np.clip(eta, -thresh, thresh))


def _cauchit_inv(eta: np.ndarray) -> np.ndarray:
    thresh = -stats.cauchy.ppf(EPS)
    return stats.cauchy.cdf(np.clip(eta, -thresh, thresh))


def _cloglog_inv(eta: np.ndarray) -> np.ndarray:
    return np.clip(-np.expm1(-np.exp(eta)), EPS, 1 - EPS)


def _cloglog_mu_eta(eta: np.ndarray) -> np.ndarray:
    e = np.minimum(eta, 700.0)
    return np.maximum(np.exp(e) * np.exp(-np.exp(e)), EPS)


LINKS: dict[str, Link] = {
    "logit": Link("logit", lambda mu: np.log(mu / (1 - mu)), _logit_inv, _logit_mu_eta),
    "probit": Link("probit", stats.norm.ppf, _probit_inv,
                   lambda eta: np.maximum(stats.norm.pdf(eta), EPS)),
    "cauchit": Link("cauchit", stats.cauchy.ppf, _cauchit_inv,
                    lambda eta: np.maximum(stats.cauchy.pdf(eta), EPS)),
    "cloglog": Link("cloglog", lambda mu: np.log(-np.log(1 - mu)), _cloglog_inv,
                    _cloglog_mu_eta),
    "identity": Link("identity", lambda mu: mu, lambda eta: eta,
                     lambda eta: np.ones_like(eta)),
    "log": Link("log", np.log, lambda eta: np.maximum(np.exp(eta), EPS),
                lambda eta: np.maximum(np.exp(eta), EPS)),
    "sqrt": Link("sqrt", np.sqrt, lambda eta: eta * eta, lambda eta: 2 * eta,
                 lambda eta: bool(np.all(np.isfinite(eta)) and np.all(eta > 0))),
    "inverse": Link("inverse", lambda mu: 1 / mu, lambda eta: 1 / eta,
                    lambda eta: -1 / (eta * eta),
                    lambda eta: bool(np.all(np.isfinite(eta)) and np.all(eta != 0))),
    "1/mu^2": Link("1/mu^2", lambda mu: 1 / mu**2, lambda eta: 1 / np.sqrt(eta),
                   lambda eta: -1 / (2 * eta**1.5),
                   lambda eta: bool(np.all(np.isfinite(eta)) and np.all(eta > 0))),
}
_ALIASES = {"inverse_squared": "1/mu^2", "inverse-squared": "1/mu^2"}


def link_from(name: str | Link) -> Link:
    """A link by R's name: logit, probit, cauchit, cloglog, identity, log, sqrt, inverse,
    1/mu^2."""
    if isinstance(name, Link):
        return name
    key = _ALIASES.get(name, name)
    if key not in LINKS:
        raise ValueError(f"unknown link {name!r}; available links: {', '.join(LINKS)}")
    return LINKS[key]
