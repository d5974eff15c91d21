"""Link functions g (η = g(μ)) with inverse and derivative dμ/dη, as R's `make.link`.

Inverse links are clamped where R clamps them (logit keeps μ in (ε, 1 − ε), log keeps
μ ≥ ε) so PIRLS never sees 0 or 1 probabilities or zero means.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from mixedfx.errors import ArgumentError, ArgumentTypeError, did_you_mean
from mixedfx.lazy import lazy_module

special = lazy_module("scipy.special")  # scipy.special costs ~50 ms at import; only needed here

EPS = np.finfo(float).eps
_THRESH = 30.0
_MTHRESH = -30.0
_INVEPS = 1.0 / EPS
# R's clamps of the probit and cauchit inverse links: -qnorm(ε) and -qcauchy(ε) = 1/tanpi(ε)
PROBIT_THRESHOLD = -NormalDist().inv_cdf(EPS)    # 8.125890664701906, R's digits exactly
CAUCHIT_THRESHOLD = 1.0 / math.tan(math.pi * EPS)
_SQRT_2PI = math.sqrt(2 * math.pi)


@dataclass(frozen=True)
class Link:
    """η = linkfun(μ); μ = linkinv(η); dμ/dη = mu_eta(η)."""

    name: str
    linkfun: Callable[[np.ndarray], np.ndarray]
    linkinv: Callable[[np.ndarray], np.ndarray]
    mu_eta: Callable[[np.ndarray], np.ndarray]
    valideta: Callable[[np.ndarray], bool] = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.valideta is None:
            object.__setattr__(self, "valideta", _always_valid)

    def __reduce__(self):
        # links are shared singletons: pickle by name (fits then unpickle to the same link)
        return (link_from, (self.name,))


def _always_valid(eta: np.ndarray) -> bool:
    return True


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
    return special.ndtr(np.clip(eta, -PROBIT_THRESHOLD, PROBIT_THRESHOLD))


def _cauchit_inv(eta: np.ndarray) -> np.ndarray:
    """The Cauchy CDF 1/2 + atan(η)/π, written atan2(1, −η)/π (no cancellation for η ≪ 0)."""
    return np.arctan2(1.0, -np.clip(eta, -CAUCHIT_THRESHOLD, CAUCHIT_THRESHOLD)) / np.pi


def _probit(mu: np.ndarray) -> np.ndarray:
    return special.ndtri(mu)


def _cauchit(mu: np.ndarray) -> np.ndarray:
    """The Cauchy quantile tan(π(μ − 1/2)), as R's qcauchy: −1/tan(πμ) below 1/2 and
    1/tan(π(1 − μ)) above (no cancellation in the tails)."""
    mu = np.asarray(mu, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(mu > 0.5, 1.0 / np.tan(np.pi * (1.0 - mu)), -1.0 / np.tan(np.pi * mu))


def _cloglog_inv(eta: np.ndarray) -> np.ndarray:
    return np.clip(-np.expm1(-np.exp(eta)), EPS, 1 - EPS)


def _cloglog_mu_eta(eta: np.ndarray) -> np.ndarray:
    e = np.minimum(eta, 700.0)
    return np.maximum(np.exp(e) * np.exp(-np.exp(e)), EPS)


# module-level functions (not lambdas) so that families, and fits holding them, pickle
def _logit(mu: np.ndarray) -> np.ndarray:
    return np.log(mu / (1 - mu))


def _probit_mu_eta(eta: np.ndarray) -> np.ndarray:
    return np.maximum(np.exp(-np.asarray(eta, dtype=float) ** 2 / 2.0) / _SQRT_2PI, EPS)


def _cauchit_mu_eta(eta: np.ndarray) -> np.ndarray:
    eta = np.asarray(eta, dtype=float)
    return np.maximum(1.0 / np.pi / (1.0 + eta * eta), EPS)


def _cloglog(mu: np.ndarray) -> np.ndarray:
    return np.log(-np.log(1 - mu))


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def _ones(eta: np.ndarray) -> np.ndarray:
    return np.ones_like(eta)


def _log_inv(eta: np.ndarray) -> np.ndarray:
    return np.maximum(np.exp(eta), EPS)


def _square(eta: np.ndarray) -> np.ndarray:
    return eta * eta


def _twice(eta: np.ndarray) -> np.ndarray:
    return 2 * eta


def _positive_finite(eta: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(eta)) and np.all(eta > 0))


def _nonzero_finite(eta: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(eta)) and np.all(eta != 0))


def _reciprocal(x: np.ndarray) -> np.ndarray:
    return 1 / x


def _inverse_mu_eta(eta: np.ndarray) -> np.ndarray:
    return -1 / (eta * eta)


def _inverse_square(mu: np.ndarray) -> np.ndarray:
    return 1 / mu**2


def _inverse_square_inv(eta: np.ndarray) -> np.ndarray:
    return 1 / np.sqrt(eta)


def _inverse_square_mu_eta(eta: np.ndarray) -> np.ndarray:
    return -1 / (2 * eta**1.5)


LINKS: dict[str, Link] = {
    "logit": Link("logit", _logit, _logit_inv, _logit_mu_eta),
    "probit": Link("probit", _probit, _probit_inv, _probit_mu_eta),
    "cauchit": Link("cauchit", _cauchit, _cauchit_inv, _cauchit_mu_eta),
    "cloglog": Link("cloglog", _cloglog, _cloglog_inv, _cloglog_mu_eta),
    "identity": Link("identity", _identity, _identity, _ones),
    "log": Link("log", np.log, _log_inv, _log_inv),
    "sqrt": Link("sqrt", np.sqrt, _square, _twice, _positive_finite),
    "inverse": Link("inverse", _reciprocal, _reciprocal, _inverse_mu_eta, _nonzero_finite),
    "1/mu^2": Link("1/mu^2", _inverse_square, _inverse_square_inv, _inverse_square_mu_eta,
                   _positive_finite),
}
_ALIASES = {"inverse_squared": "1/mu^2", "inverse-squared": "1/mu^2"}


def link_from(name: str | Link) -> Link:
    """A link by R's name: logit, probit, cauchit, cloglog, identity, log, sqrt, inverse,
    1/mu^2."""
    if isinstance(name, Link):
        return name
    if not isinstance(name, str):
        raise ArgumentTypeError(f"link must be a link name such as 'logit', got {name!r} "
                                f"({type(name).__name__})")
    key = _ALIASES.get(name, name)
    if key not in LINKS:
        raise ArgumentError(f"unknown link {name!r}{did_you_mean(name, LINKS)}; available "
                            f"links: {', '.join(LINKS)}")
    return LINKS[key]
