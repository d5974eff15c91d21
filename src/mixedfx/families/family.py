"""GLM families: variance function, deviance residuals, −2 log-likelihood (`aic`), starting
values and response checks — R's `binomial()`, `poisson()`, `Gamma()`, `inverse.gaussian()`,
`gaussian()` and lme4's `negative.binomial(theta)`.

`aic(y, n, mu, wt, dev)` follows R exactly: it is −2 log p(y | μ) with all constants (plus 2 for
an estimated dispersion), which lme4's Laplace objective adds to log|L|² + ‖u‖².
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from mixedfx.errors import ArgumentError, ArgumentTypeError, DataError, did_you_mean
from mixedfx.families.links import Link, link_from
from mixedfx.lazy import lazy_module

special = lazy_module("scipy.special")  # scipy.special costs ~50 ms at import; only needed here
stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here


def _ylogy(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """y log(y / μ), 0 where y = 0."""
    return special.xlogy(y, y / mu)


@dataclass(frozen=True)
class Family:
    """A GLM family with its link (`name` as R spells it)."""

    name: str
    link: Link
    allowed_links: tuple[str, ...] = field(default=(), repr=False)
    theta: float | None = None        # negative binomial shape

    @property
    def canonical(self) -> bool:
        """Whether the link is the family's canonical link (then dμ/dη = V(μ))."""
        return (self.name, self.link.name) in (("binomial", "logit"), ("poisson", "log"))

    @property
    def has_dispersion(self) -> bool:
        """Whether the family has a scale parameter to estimate (Gamma, inverse Gaussian,
        Gaussian)."""
        return self.name in ("Gamma", "inverse.gaussian", "gaussian")

    # -- the family functions ---------------------------------------------------------
    def variance(self, mu: np.ndarray) -> np.ndarray:
        if self.name == "binomial":
            return mu * (1 - mu)
        if self.name == "poisson":
            return mu
        if self.name == "Gamma":
            return mu * mu
        if self.name == "inverse.gaussian":
            return mu**3
        if self.name == "negative.binomial":
            return mu + mu * mu / self.theta
        return np.ones_like(mu)

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """Unit deviances times prior weights (R's `dev.resids`)."""
        if self.name == "binomial":
            return 2 * wt * (_ylogy(y, mu) + _ylogy(1 - y, 1 - mu))
        if self.name == "poisson":
            r = mu * wt
            pos = y > 0
            r = np.where(pos, wt * (y * np.log(np.where(pos, y, 1.0) / mu) - (y - mu)), r)
            return 2 * r
        if self.name == "Gamma":
            with np.errstate(divide="ignore"):
                return -2 * wt * (np.log(np.where(y == 0, 1.0, y / mu)) - (y - mu) / mu)
        if self.name == "inverse.gaussian":
            return wt * ((y - mu) ** 2) / (y * mu**2)
        if self.name == "negative.binomial":
            th = self.theta
            return 2 * wt * (_ylogy(y, mu) - (y + th) * np.log((y + th) / (mu + th)))
        return wt * (y - mu) ** 2

    def aic(self, y: np.ndarray, n: np.ndarray, mu: np.ndarray, wt: np.ndarray,
            dev: float) -> float:
        """−2 log-likelihood as R's `family$aic` (for binomial, `n` holds the trials)."""
        kern = self.kernel(y, mu, wt)
        if kern is not None:
            return self.aic_constant(y, n, wt) - 2.0 * float(np.sum(kern))
        if self.name == "Gamma":
            disp = dev / np.sum(wt)
            ll = stats.gamma.logpdf(y, 1 / disp, scale=mu * disp)
            return float(-2 * np.sum(ll * wt) + 2)
        # np.log, not math.log: a zero deviance gives -Inf (refused by the optimizer guard)
        # rather than a "math domain error"
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.name == "inverse.gaussian":
                disp = dev / np.sum(wt)
                return float(np.sum(wt) * (np.log(disp * 2 * math.pi) + 1)
                             + 3 * np.sum(np.log(y) * wt) + 2)
            nobs = len(y)
            return float(nobs * (np.log(2 * math.pi * dev / nobs) + 1) + 2
                         - np.sum(np.log(np.where(wt > 0, wt, 1.0))))

    # -- the log-likelihood split for fast repeated evaluation ---------------------------
    def kernel(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray | None:
        """The part of the weighted log-likelihood that depends on μ, per observation, such
        that dev.resids = 2 (saturated − kernel) and −2 log p(y|μ) = aic_constant − 2 Σ kernel.
        None when the family has no such split (dispersion families)."""
        if self.name == "binomial":
            return wt * (y * np.log(mu) + (1 - y) * np.log1p(-mu))
        if self.name == "poisson":
            return wt * (y * np.log(mu) - mu)
        if self.name == "negative.binomial":
            th = self.theta
            return wt * (y * np.log(mu) - (y + th) * np.log(mu + th))
        return None

    def saturated(self, y: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """The kernel at μ = y (per observation), for dev.resids = 2 (saturated − kernel)."""
        if self.name == "binomial":
            q = 1 - y
            return wt * (special.xlogy(y, y) + special.xlogy(q, q))
        if self.name == "poisson":
            return wt * (special.xlogy(y, y) - y)
        th = self.theta
        return wt * (special.xlogy(y, y) - (y + th) * np.log(y + th))

    def aic_constant(self, y: np.ndarray, n: np.ndarray, wt: np.ndarray) -> float:
        """−2 log p(y|μ) − (−2 Σ kernel): the μ-free part of R's `aic` for the families with
        a kernel."""
        if self.name == "binomial":
            n, wt = np.asarray(n), np.asarray(wt)
            m = n if (n > 1).any() else wt
            # wt / m where m > 0, else 0 (no division evaluated there)
            factor = np.divide(wt, m, out=np.zeros(len(m)), where=m > 0)
            # size = round(m), k = round(m y) and size − k, then + 1, in one buffer for the
            # three log-gammas of one call (elementwise: the values of separate arrays)
            nk = len(m)
            lg = np.empty(3 * nk)
            size, k, rest = lg[:nk], lg[nk:2 * nk], lg[2 * nk:]
            np.round(m, out=size)
            np.round(np.multiply(m, y, out=k), out=k)
            np.subtract(size, k, out=rest)
            lg += 1.0
            special.gammaln(lg, out=lg)
            # log Γ(size + 1) − log Γ(k + 1) − log Γ(size − k + 1)
            log_choose = size - k
            log_choose -= rest
            log_choose *= factor
            return float(-2 * np.add.reduce(log_choose))
        if self.name == "poisson":
            return float(2 * np.sum(wt * special.gammaln(y + 1)))
        th = self.theta
        const = special.gammaln(th + y) - special.gammaln(th) - special.gammaln(y + 1) \
            + th * np.log(th)
        return float(-2 * np.sum(wt * const))

    def mustart(self, y: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """Starting means (R's `initialize` expressions)."""
        if self.name == "binomial":
            return (wt * y + 0.5) / (wt + 1)
        if self.name in ("poisson", "negative.binomial"):
            return y + 0.1
        if self.name in ("Gamma", "inverse.gaussian"):
            return y.astype(float).copy()
        return y.astype(float).copy()

    def validmu(self, mu: np.ndarray) -> bool:
        if self.name == "binomial":
            return bool(np.all(np.isfinite(mu)) and np.all((mu > 0) & (mu < 1)))
        if self.name in ("poisson", "negative.binomial", "Gamma", "inverse.gaussian"):
            return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))
        return True

    def check_response(self, y: np.ndarray, n: np.ndarray | None = None,
                       name: str = "response") -> None:
        """Refuse responses outside the family's support (R's `family$initialize` checks),
        naming the response `name`, the family and what it accepts. Non-integer counts are
        refused for the Poisson and negative binomial families (R only warns)."""
        label = "negative_binomial" if self.name == "negative.binomial" else \
            "inverse_gaussian" if self.name == "inverse.gaussian" else self.name

        def example(bad: np.ndarray) -> str:
            return f"{int(bad.sum())} value(s), e.g. {float(y[np.flatnonzero(bad)[0]]):g}"

        if self.name == "binomial":
            bad = (y < 0) | (y > 1)
            if np.any(bad):
                raise DataError(f"binomial response {name!r} has values outside [0, 1] "
                                f"({example(bad)}); give 0/1 values, proportions with "
                                "weights= giving the trials, a two-level factor or "
                                "cbind(successes, failures)")
            if n is not None:
                s = y * n
                if np.any(np.abs(s - np.round(s)) > 1e-7 * np.maximum(1, n)):
                    raise DataError(f"binomial response {name!r}: non-integer #successes "
                                    "(proportion x weights); with proportions, weights= must "
                                    "give the number of trials")
        elif self.name in ("poisson", "negative.binomial"):
            if np.any(y < 0):
                raise DataError(f"response {name!r} has negative values ({example(y < 0)}); "
                                f"the {label} family needs counts 0, 1, 2, ...")
            bad = np.abs(y - np.round(y)) > 1e-7
            if np.any(bad):
                raise DataError(f"response {name!r} has non-integer values ({example(bad)}); "
                                f"the {label} family needs whole-number counts 0, 1, 2, ... "
                                "(R only warns 'non-integer x'); round them or choose a "
                                "family for continuous data (Gamma, gaussian)")
        elif self.name in ("Gamma", "inverse.gaussian") and np.any(y <= 0):
            raise DataError(f"response {name!r} has values <= 0 ({example(y <= 0)}); the "
                            f"{label} family needs a response > 0")

    def __str__(self) -> str:
        label = self.name if self.theta is None else f"Negative Binomial({self.theta:.5g})"
        return f"{label}  ( {self.link.name} )"


def _make(name: str, link: str | Link, allowed: tuple[str, ...]) -> Family:
    lk = link_from(link)
    if lk.name not in allowed:
        raise ArgumentError(f"link {lk.name!r} is not available for the {name} family; "
                            f"use one of {', '.join(allowed)}")
    return Family(name, lk, allowed)


def binomial(link: str | Link = "logit") -> Family:
    return _make("binomial", link, ("logit", "probit", "cloglog", "cauchit", "log"))


def poisson(link: str | Link = "log") -> Family:
    return _make("poisson", link, ("log", "sqrt", "identity"))


def Gamma(link: str | Link = "inverse") -> Family:
    return _make("Gamma", link, ("inverse", "log", "identity"))


def inverse_gaussian(link: str | Link = "1/mu^2") -> Family:
    return _make("inverse.gaussian", link, ("1/mu^2", "inverse", "log", "identity"))


def gaussian(link: str | Link = "identity") -> Family:
    return _make("gaussian", link, ("identity", "log", "inverse"))


def negative_binomial(theta: float, link: str | Link = "log") -> Family:
    if isinstance(theta, bool) or not isinstance(theta, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"negative binomial theta must be a number, got {theta!r}")
    if not (theta > 0 and math.isfinite(theta)):
        raise ArgumentError(f"negative binomial theta must be positive and finite, got {theta!r}")
    fam = _make("negative.binomial", link, ("log", "sqrt", "identity"))
    return Family(fam.name, fam.link, fam.allowed_links, theta=float(theta))


_BY_NAME = {"binomial": binomial, "poisson": poisson, "gamma": Gamma,
            "inverse_gaussian": inverse_gaussian, "inverse.gaussian": inverse_gaussian,
            "gaussian": gaussian}


def family_from(family: str | Family, link: str | None = None) -> Family:
    """A Family from an object or R's name ("binomial", "poisson", "Gamma", ...)."""
    if link is not None and not isinstance(link, (str, Link)):
        raise ArgumentTypeError(f"link must be a link name such as 'logit', got {link!r}")
    if isinstance(family, Family):
        if link is None:
            return family
        if family.name == "negative.binomial":
            return negative_binomial(family.theta, link)
        return _BY_NAME[family.name.lower()](link)
    if not isinstance(family, str):
        raise ArgumentTypeError("family must be a string or a mixedfx.families.Family, got "
                                f"{family!r} ({type(family).__name__})")
    if link is None or isinstance(link, str):
        return _named_family(family, link)
    return _named_family.__wrapped__(family, link)


@functools.lru_cache(maxsize=64)
def _named_family(family: str, link: str | Link | None) -> Family:
    """`family_from` for a family's name (and a link's): a Family is frozen, so one object
    per (name, link) text serves every call (a refused name raises every time)."""
    key = family.strip().lower()
    if key not in _BY_NAME:
        hint = did_you_mean(key, [*_BY_NAME, "inverse_gaussian", "negative_binomial"])
        hint = hint.replace("'gamma'", "'Gamma'")
        raise ArgumentError(f"unknown family {family!r}{hint}; available: binomial, poisson, "
                            "Gamma, inverse_gaussian, gaussian (and "
                            "families.negative_binomial(theta))")
    return _BY_NAME[key]() if link is None else _BY_NAME[key](link)
