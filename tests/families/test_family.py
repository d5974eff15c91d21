"""The binomial family's saturated log-likelihood and AIC constant (`Family.saturated`,
`Family.aic_constant`): the values of R's formulas written out term by term, to the bit —
for counts with zero trials, Bernoulli responses (the constant's divisor is then the prior
weights) and weighted proportions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from mixedfx.families import binomial


def _aic_constant(y: np.ndarray, n: np.ndarray, wt: np.ndarray) -> float:
    """−2 Σ (wt/m) log C(size, k) with m = trials (or the weights for 0/1 data), size =
    round(m), k = round(m y): each log-gamma on its own array."""
    m = n if (n > 1).any() else wt
    factor = np.divide(wt, m, out=np.zeros(len(m)), where=m > 0)
    k, size = (m * y).round(), m.round()
    log_choose = special.gammaln(size + 1) - special.gammaln(k + 1) - \
        special.gammaln(size - k + 1)
    return float(-2 * np.sum(factor * log_choose))


@pytest.mark.parametrize("case", ["counts", "bernoulli", "weighted"])
def test_binomial_constants_are_the_termwise_formulas(case) -> None:
    rng = np.random.default_rng({"counts": 1, "bernoulli": 2, "weighted": 3}[case])
    nobs = 57
    if case == "bernoulli":
        n = np.ones(nobs)
        y = rng.integers(0, 2, nobs).astype(float)
        wt = np.ones(nobs)
    else:
        n = rng.integers(0, 30, nobs).astype(float)
        s = np.floor(rng.uniform(0, 1, nobs) * (n + 1))
        y = np.divide(s, n, out=np.zeros(nobs), where=n > 0)
        wt = n * (rng.uniform(0.5, 2.0, nobs) if case == "weighted" else 1.0)
    fam = binomial()
    assert fam.aic_constant(y, n, wt) == _aic_constant(y, n, wt)
    expected = wt * (special.xlogy(y, y) + special.xlogy(1 - y, 1 - y))
    assert fam.saturated(y, wt).tobytes() == expected.tobytes()


@pytest.mark.parametrize("family", ["binomial", "poisson", "negative_binomial"])
def test_row_functions_commute_with_a_reordering(family) -> None:
    """`glmm.Pirls` applies the saturated log-likelihood, mustart and the link to y and the
    weights already in the canonical row order: each value must be that of its row whatever
    its position (SIMD bodies and tails included), so the sums keep their bits."""
    from mixedfx.families import negative_binomial, poisson

    rng = np.random.default_rng(7)
    nobs = 1003                                 # a vector body and a tail at any width
    if family == "binomial":
        fam, n = binomial(), rng.integers(1, 20, nobs).astype(float)
        y = np.floor(rng.uniform(0, 1, nobs) * (n + 1)) / n
        wt = n
    else:
        fam = poisson() if family == "poisson" else negative_binomial(2.5)
        y = rng.poisson(3.0, nobs).astype(float)
        wt = rng.uniform(0.5, 2.0, nobs)
    order = rng.permutation(nobs)
    assert fam.saturated(y[order], wt[order]).tobytes() == fam.saturated(y, wt)[order].tobytes()
    mu = fam.mustart(y, wt)
    assert fam.mustart(y[order], wt[order]).tobytes() == mu[order].tobytes()
    assert fam.link.linkfun(mu[order]).tobytes() == fam.link.linkfun(mu)[order].tobytes()
