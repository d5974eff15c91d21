"""The GLM response as R's `family$initialize` sets it up.

Binomial: a 0/1 vector, a two-level factor or boolean (1 = second level), proportions with
`weights=` giving the trials, or `cbind(successes, failures)`; then y is the proportion, the
prior weights become weights × trials and `n` holds the trials (R's `glm` convention, which
lme4 keeps). Other families: y as is, n = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedfx.errors import DataError
from mixedfx.families import Family
from mixedfx.native import kernel


@dataclass
class GlmResponse:
    """y (proportions for binomial), trials n, and prior weights wt (× trials for binomial)."""

    y: np.ndarray
    n: np.ndarray
    wt: np.ndarray
    prior_weights: np.ndarray


def encode_response(raw: np.ndarray, family: Family, weights: np.ndarray | None,
                    name: str = "response") -> GlmResponse:
    """Turn the evaluated response `name` into (y, n, wt) for the family, checking its
    support."""
    nobs = raw.shape[0]
    if weights is None:
        prior = np.empty(nobs)
        prior.fill(1.0)             # np.ones' values (np.ones costs several times more)
    else:
        prior = np.asarray(weights, dtype=float)
    if raw.ndim == 2:
        if family.name != "binomial":
            raise DataError(f"response {name!r}: cbind(successes, failures) responses need "
                            f"the binomial family, not {family.name}")
        counted = _counts(raw)
        if counted is not None:
            y, trials, wt = counted
            return GlmResponse(y=y, n=trials, wt=wt if weights is None else prior * trials,
                               prior_weights=prior)
        s, f = raw[:, 0], raw[:, 1]
        # both columns at once; fmin / fmax skip NaN, so a NaN count fails neither test
        if np.fmin.reduce(raw, axis=None) < 0:
            which = "successes" if np.any(s < 0) else "failures"
            bad = int(np.sum((s < 0) | (f < 0)))
            raise DataError(f"response {name!r} has negative {which} in {bad} row(s); "
                            "cbind(successes, failures) needs counts >= 0")
        frac = raw - raw.round()
        if np.fmax.reduce(np.abs(frac, out=frac), axis=None) > 1e-7:
            raise DataError(f"response {name!r} has non-integer counts; cbind(successes, "
                            "failures) needs whole numbers >= 0")
        trials = s + f
        # s / trials where trials > 0, else 0 (no division evaluated there); with counts
        # >= 0, s <= s + f, so y lies in [0, 1] (or is NaN): the binomial family's range
        # check (`check_response`) cannot fail here
        y = np.divide(s, trials, out=np.zeros(nobs), where=trials > 0)
        # prior weights × trials: trials itself when there are no prior weights (1 × t = t)
        wt = trials.astype(float) if weights is None else prior * trials
        return GlmResponse(y=y, n=trials, wt=wt, prior_weights=prior)
    y = raw.astype(float)
    if family.name == "binomial":
        family.check_response(y, name=name)
        if weights is not None:
            family.check_response(y, n=prior, name=name)
        return GlmResponse(y=y, n=prior.copy(), wt=prior, prior_weights=prior)
    family.check_response(y, name=name)
    return GlmResponse(y=y, n=np.ones(nobs), wt=prior, prior_weights=prior)


def _counts(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(y, trials, trials again) of a cbind(successes, failures) response whose counts pass
    `encode_response`'s checks, computed in one call of the compiled kernel (the same
    operations as the NumPy lines there: trials = s + f, y = s / trials where trials > 0
    else 0); None when the kernel is not built, `raw` is not a C-ordered (m, 2) float64
    array, a count is refused (the NumPy lines then say why) or infinite (they warn)."""
    k = kernel("frame")
    if k is None or raw.dtype != np.float64 or raw.shape[1] != 2 or not raw.flags.c_contiguous:
        return None
    nobs = raw.shape[0]
    y, trials, wt = np.empty(nobs), np.empty(nobs), np.empty(nobs)
    return (y, trials, wt) if k.binomial_counts(raw, y, trials, wt) == 0 else None

