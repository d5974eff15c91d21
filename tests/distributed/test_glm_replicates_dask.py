"""simulate / bootstrap / confint(method="boot") of a Dask glmer fit: responses drawn on the
workers partition by partition from the seed (the in-memory model's distribution), and each
bootstrap replicate — a distributed PIRLS fit of the response `simulate` returns for the
same seed — equals the in-memory refit of that response."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx

dd = pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="module")
def binomial_fits(data, client):
    small = data.iloc[:2000].reset_index(drop=True).copy()
    small["n"] = 1 + (np.arange(len(small)) % 4)
    small["s"] = np.minimum(small["cnt"], small["n"])
    small.loc[::40, "x"] = np.nan                 # rows omitted: simulate skips them too
    ddf = dd.from_pandas(small, npartitions=8)
    formula = "cbind(s, n - s) ~ x + (1 | h)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m_mem = mfx.glmer(formula, small, family="binomial")
        m_dask = mfx.glmer(formula, ddf, family="binomial", client=client)
    return m_mem, m_dask


def test_simulate_is_lazy_reproducible_and_has_the_model_distribution(binomial_fits):
    m_mem, m_dask = binomial_fits
    sim = m_dask.simulate(nsim=30, seed=3)
    assert isinstance(sim, dd.DataFrame)
    Y = sim.compute()
    assert list(Y.columns) == [f"sim_{k}" for k in range(1, 31)]
    assert len(Y) == m_mem.nobs
    pd.testing.assert_frame_equal(Y, m_dask.simulate(nsim=30, seed=3).compute())
    assert not np.array_equal(Y.to_numpy(), m_dask.simulate(nsim=30, seed=4).compute()
                              .to_numpy())
    trials = m_mem._resp.n
    S = Y.to_numpy()
    # successes of a cbind response: integers within 0..trials
    assert np.all(np.round(S) == S) and np.all(S >= 0) and np.all(trials[:, None] >= S)
    # the in-memory model's distribution: mean successes per row and their spread
    ref = m_mem.simulate(nsim=30, seed=3)
    assert abs(S.mean() - ref.mean()) < 4 * np.sqrt(S.var() / S.size + ref.var() / ref.size)
    assert 0.8 < S.var() / ref.var() < 1.25
    # use_u: draws around the fitted means
    fu = m_dask.simulate(nsim=40, seed=1, use_u=True).compute().to_numpy()
    expected = m_mem.fitted() * trials
    z = (fu.mean(axis=1) - expected) / np.sqrt(expected * (1 - m_mem.fitted()) / 40 + 1e-12)
    assert abs(z.mean()) < 0.2 and 0.8 < z.std() < 1.2


@pytest.mark.slow
def test_bootstrap_replicates_equal_in_memory_refits(binomial_fits, client):
    m_mem, m_dask = binomial_fits
    func = lambda m: np.concatenate([m.theta, m.beta])  # noqa: E731
    res = m_dask.bootstrap(func, nsim=3, seed=5, client=client)
    assert res.n_failed == 0 and res.t.shape == (3, 3)
    Y = m_dask.simulate(nsim=3, seed=5).compute().to_numpy()
    # both fits stop at lme4's default tolerances; the PIRLS sums differ in their order
    # (partitions), so they agree to the optimizer's tolerance, not to rounding
    for k in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = func(m_mem.refit(Y[:, k]))
        np.testing.assert_allclose(res.t.iloc[k].to_numpy(), ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(res.t0.to_numpy(), func(m_dask), rtol=0, atol=0)


@pytest.mark.slow
def test_confint_boot_and_arguments(binomial_fits, client):
    _, m_dask = binomial_fits
    ci = m_dask.confint(method="boot", nsim=4, seed=2)        # on the fit's client
    assert list(ci.index) == [*m_dask.parameter_names(), *m_dask.fixef.index]
    assert np.all(ci["lower"] <= ci["upper"])
    with pytest.raises(ValueError, match="n_jobs"):
        m_dask.bootstrap(nsim=2, n_jobs=2, client=client)
    with pytest.raises(ValueError, match="nsim"):
        m_dask.simulate(nsim=0)


def test_profile_evaluates_the_deviance_on_the_cluster(binomial_fits, client):
    """A Dask glmer fit's likelihood profile: every deviance evaluation is a distributed
    PIRLS over the data encoded onto the fit's cluster again. Its points equal the
    in-memory model's to the two fits' optimizer tolerance (their estimates, hence the grid
    and the base deviance, agree to about 1e-6). A few points a side keep it short."""
    m_mem, m_dask = binomial_fits
    kw = {"which": "sd_(Intercept)|h", "alphamax": 0.3, "maxpts": 4}
    pr_dask = m_dask.profile(**kw)
    pr_mem = m_mem.profile(**kw)
    assert list(pr_dask.columns) == list(pr_mem.columns)
    assert len(pr_dask) == len(pr_mem) == 6
    np.testing.assert_allclose(pr_dask[".zeta"], pr_mem[".zeta"], rtol=0, atol=2e-4)
    cols = ["sd_(Intercept)|h", "(Intercept)", "x"]
    np.testing.assert_allclose(pr_dask[cols].to_numpy(), pr_mem[cols].to_numpy(), rtol=5e-5)
    assert pr_dask.attrs["lower"] == pr_mem.attrs["lower"]
    # confint's default method profiles too: a 30 % interval lies within those points
    kw = {"parm": "x", "level": 0.3, "alphamax": 0.3, "maxpts": 4}
    np.testing.assert_allclose(m_dask.confint(**kw).to_numpy(),
                               m_mem.confint(**kw).to_numpy(), rtol=1e-4)
    with pytest.raises(ValueError, match="n_jobs"):
        m_dask.profile(which="x", n_jobs=2)
