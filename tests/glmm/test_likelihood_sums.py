"""The compiled likelihood sums and start means (pirls_setup.h) against the families' NumPy /
SciPy path, to the bit: binomial counts, 0/1 responses with and without prior weights,
proportions with trials as weights, zero trials, Poisson counts with weights; lengths across
NumPy's pairwise blocks (8, 128 and their splits); the gammaln table grown past its first
size; the NumPy path where a count is not a whole number."""

from __future__ import annotations

import numpy as np
import pytest

from mixedfx.families import binomial, poisson
from mixedfx.glmm import likelihood_sums as ls
from mixedfx.native import kernel

lib = kernel("pirls")
pytestmark = pytest.mark.skipif(lib is None, reason="the compiled PIRLS kernel is not built")


def _numpy(fam, y, n, wt):
    return float(np.add.reduce(fam.saturated(y, wt))), fam.aic_constant(y, n, wt)


def _same(fam, y, n, wt):
    got = ls.likelihood_sums(fam, y, n, wt, lib)
    want = _numpy(fam, y, n, wt)
    assert np.array(got).tobytes() == np.array(want).tobytes(), (got, want)


LENGTHS = [1, 2, 7, 8, 9, 15, 16, 17, 56, 127, 128, 129, 130, 255, 256, 257, 300, 1000, 4099]


@pytest.mark.parametrize("n_rows", LENGTHS)
def test_binomial_counts(n_rows: int) -> None:
    rng = np.random.default_rng(n_rows)
    size = rng.integers(0, 40, n_rows).astype(float)
    k = np.floor(rng.random(n_rows) * (size + 1))
    y = np.divide(k, size, out=np.zeros(n_rows), where=size > 0)
    _same(binomial(), y, size, size)


@pytest.mark.parametrize("n_rows", LENGTHS)
def test_binomial_01_and_weighted(n_rows: int) -> None:
    rng = np.random.default_rng(100 + n_rows)
    y = rng.integers(0, 2, n_rows).astype(float)
    ones = np.ones(n_rows)
    _same(binomial(), y, ones, ones)
    wt = rng.random(n_rows) * 3                 # non-integer prior weights
    _same(binomial(), y, ones, wt)
    _same(binomial("probit"), y, ones, wt)


@pytest.mark.parametrize("n_rows", LENGTHS)
def test_poisson(n_rows: int) -> None:
    rng = np.random.default_rng(200 + n_rows)
    y = rng.poisson(3.0, n_rows).astype(float)
    _same(poisson(), y, np.ones(n_rows), np.ones(n_rows))
    _same(poisson(), y, np.ones(n_rows), rng.random(n_rows) * 2)


def test_table_grows_and_large_counts() -> None:
    y = np.array([0.0, 1.0, 5000.0, 70000.0, 3.0])
    _same(poisson(), y, np.ones(5), np.ones(5))
    assert len(ls._table) >= 70001
    size = np.array([100000.0, 3.0, 250000.0])
    _same(binomial(), np.array([0.25, 1.0, 0.5]), size, size)


def test_numpy_path_where_kernel_declines() -> None:
    y = np.array([1.0, 2.5, 3.0])              # not a whole count: status 2
    assert lib.likelihood_sums(1, y, np.ones(3), np.ones(3), ls._lgamma1(10))[0] == 2
    _same(poisson(), y, np.ones(3), np.ones(3))
    y = np.array([1.0, np.nan, 3.0])
    got, want = ls.likelihood_sums(poisson(), y, np.ones(3), np.ones(3), lib), \
        _numpy(poisson(), y, np.ones(3), np.ones(3))
    assert np.array(got).tobytes() == np.array(want).tobytes()
    assert ls.likelihood_sums(poisson(), y, np.ones(3), np.ones(3), None) == pytest.approx(
        want, nan_ok=True)


def test_refuses_other_families() -> None:
    with pytest.raises(ValueError, match="family"):
        lib.likelihood_sums(2, np.ones(2), np.ones(2), np.ones(2), ls._lgamma1(4))


@pytest.mark.parametrize("n_rows", LENGTHS)
def test_start_means_match_the_family(n_rows: int) -> None:
    """The kernel's mustart and canonical-link argument (pirls_setup.h start_means): with
    NumPy's log, the family's mustart and linkfun to the bit."""
    rng = np.random.default_rng(300 + n_rows)
    for code, fam, y in ((0, binomial(), rng.integers(0, 5, n_rows) / 4.0),
                         (1, poisson(), rng.poisson(2.0, n_rows).astype(float))):
        wt = rng.integers(1, 6, n_rows).astype(float) * rng.choice([1.0, 0.37], n_rows)
        mu, arg = np.empty(n_rows), np.empty(n_rows)
        lib.start_means(code, y, wt, mu, arg)
        want_mu = fam.mustart(y, wt)
        assert mu.tobytes() == want_mu.tobytes()
        assert np.log(arg).tobytes() == fam.link.linkfun(want_mu).tobytes()
    with pytest.raises(ValueError, match="family"):
        lib.start_means(3, y, wt, mu, arg)
