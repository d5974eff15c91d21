"""`Pirls.with_response`: the engine for another response (a refit, a bootstrap replicate)
shares the y-free pieces only when the row order cannot depend on y, and is then the same
engine a fresh `Pirls` would be — so a refit keeps its bits."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx import datasets
from mixedfx.glmm.fit import fit_glmm
from mixedfx.glmm.pirls import Pirls
from mixedfx.glmm.response import encode_response
from mixedfx.lmm.row_order import canonical_rows

CBPP_F = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def cbpp():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mfx.glmer(CBPP_F, datasets.load("cbpp"), family="binomial")


def _fresh(p: Pirls, resp) -> Pirls:
    return Pirls(p.X, p.terms, p.family, resp, p.offset)


def _same_engine(a: Pirls, b: Pirls) -> None:
    np.testing.assert_array_equal(a.order, b.order)
    assert (a._sat is None) == (b._sat is None)
    if a._sat is not None:
        assert a._sat_sum == b._sat_sum and a.aic_constant == b.aic_constant
    if a.native is not None:
        for x, y in zip(a.native.model(), b.native.model(), strict=True):
            if isinstance(x, tuple):
                for xi, yi in zip(x, y, strict=True):
                    np.testing.assert_array_equal(xi, yi)
            else:
                np.testing.assert_array_equal(x, y)


def test_shared_pieces_equal_a_fresh_engine(cbpp):
    p = cbpp._fit.pirls
    assert p._order_free_of_y                # herd × period tells the 56 rows apart
    p.native.model()                         # the kernel's tuple built, so it is shared
    y = cbpp.simulate(seed=3)[:, 0]
    resp = encode_response(np.column_stack([y, cbpp._resp.n - y]), cbpp.family, None)
    new = p.with_response(resp)
    assert new is not p and new.resp is resp and p.resp is cbpp._resp
    assert new._X_o is p._X_o                # y-free pieces shared
    _same_engine(new, _fresh(p, resp))


def test_refit_keeps_the_bits_of_a_fresh_engine(cbpp):
    y = cbpp.simulate(seed=5)[:, 0]
    r = cbpp.refit(y)
    f = fit_glmm(r._frame, cbpp.family, r._resp, 1, cbpp._control,
                 start={"theta": cbpp._fit.theta}, warn=False)
    np.testing.assert_array_equal(r._fit.theta, f.theta)
    np.testing.assert_array_equal(r._fit.beta, f.beta)
    np.testing.assert_array_equal(r._fit.hessian, f.hessian)
    assert r._fit.objective_value == f.objective_value


def test_tied_rows_take_a_new_engine():
    # repeated (g, x) rows: y breaks the ties, so the canonical order follows y
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(10), 6)
    x = np.tile([0.0, 1.0], 30)
    d = pd.DataFrame({"y": rng.integers(0, 2, 60), "x": x, "g": g.astype(str)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.glmer("y ~ x + (1 | g)", d, family="binomial")
    p = m._fit.pirls
    assert not p._order_free_of_y
    y = rng.integers(0, 2, 60).astype(float)
    resp = encode_response(y, m.family, None)
    new = p.with_response(resp)
    np.testing.assert_array_equal(new.order, canonical_rows(p.terms, p.X, resp.y, resp.n,
                                                            resp.wt, p.offset))
    _same_engine(new, _fresh(p, resp))


def test_other_weights_take_a_new_engine(cbpp):
    p = cbpp._fit.pirls
    r = cbpp._resp
    resp = type(r)(y=r.y, n=r.n, wt=2 * r.wt, prior_weights=2 * r.prior_weights)
    new = p.with_response(resp)
    assert new._X_o is not p._X_o
    _same_engine(new, _fresh(p, resp))


def test_refit_optimum_agrees_with_a_fresh_fit(cbpp):
    # a refit starts at this fit's θ; a fresh fit from lme4's start: both end within
    # BOBYQA's final trust-region radius (1e-4 in the whitened coordinates) of y*'s optimum,
    # so the deviances agree far below the restart rule's 1e-7 (relative) and the
    # parameters to about that radius times their standard errors
    Y = cbpp.simulate(nsim=4, seed=11)
    for k in range(Y.shape[1]):
        r = cbpp.refit(Y[:, k])
        f = fit_glmm(r._frame, cbpp.family, r._resp, 1, cbpp._control, warn=False)
        assert abs(r._fit.objective_value - f.objective_value) <= \
            1e-7 * abs(f.objective_value)
        np.testing.assert_allclose(r._fit.theta, f.theta, atol=1e-3)
        np.testing.assert_allclose(r._fit.beta, f.beta, atol=1e-3)
