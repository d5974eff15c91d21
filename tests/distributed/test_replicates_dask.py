"""simulate / bootstrap / confint(method="boot") of a Dask lmer fit: replicate responses
are made on the workers partition by partition from the seed (reproducible per seed and
partitioning), and each replicate's refit equals the in-memory refit of the same response."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx

dd = pytest.importorskip("dask.dataframe")

FORMULA = "y ~ x + (1 | g) + (1 | h)"


@pytest.fixture(scope="module")
def fits(data, client):
    small = data.iloc[:3000].reset_index(drop=True).copy()
    small.loc[::50, "x"] = np.nan                 # rows omitted: simulate skips them too
    ddf = dd.from_pandas(small, npartitions=8)
    with pytest.warns(Warning):
        m_mem = mfx.lmer(FORMULA, small, weights="w")
    with pytest.warns(Warning):
        m_dask = mfx.lmer(FORMULA, ddf, weights="w", client=client)
    return m_mem, m_dask


def test_simulate_is_lazy_reproducible_and_has_the_model_distribution(fits):
    m_mem, m_dask = fits
    sim = m_dask.simulate(nsim=40, seed=11)
    assert isinstance(sim, dd.DataFrame)
    Y = sim.compute()
    assert list(Y.columns) == [f"sim_{k}" for k in range(1, 41)]
    assert len(Y) == m_mem.nobs
    pd.testing.assert_frame_equal(Y, m_dask.simulate(nsim=40, seed=11).compute())
    other = m_dask.simulate(nsim=40, seed=12).compute()
    assert not np.allclose(Y.to_numpy(), other.to_numpy())
    # the in-memory model's distribution: replicate means around Xβ and the spread of the
    # responses agree with the in-memory simulate's (40 replicates each)
    fixed = m_mem._frame.X @ m_mem.beta
    ref = m_mem.simulate(nsim=40, seed=11)
    cm_d = (Y.to_numpy() - fixed[:, None]).mean(axis=0)
    cm_m = (ref - fixed[:, None]).mean(axis=0)
    se = np.sqrt(cm_d.var(ddof=1) / 40 + cm_m.var(ddof=1) / 40)
    assert abs(cm_d.mean() - cm_m.mean()) < 4 * se
    ratio = (Y.to_numpy() - fixed[:, None]).var() / (ref - fixed[:, None]).var()
    assert 0.7 < ratio < 1.4
    # use_u: only the residual noise remains around the fitted values
    fu = m_dask.simulate(nsim=5, seed=1, use_u=True).compute().to_numpy()
    r = (fu - m_mem.fitted().to_numpy()[:, None]) * np.sqrt(m_mem._frame.weights)[:, None]
    assert abs(r.std() / m_mem.sigma - 1) < 0.05


def test_bootstrap_replicates_equal_in_memory_refits(fits):
    from mixedfx.inference.bootstrap import theta_beta

    m_mem, m_dask = fits
    boot = m_dask.bootstrap(theta_beta, nsim=4, seed=5)
    assert boot.t.shape == (4, 4) and boot.n_failed == 0
    Y = m_dask.simulate(nsim=4, seed=5).compute().to_numpy()
    for k in range(4):
        ref = theta_beta(m_mem.refit(Y[:, k]))
        np.testing.assert_allclose(boot.t.iloc[k].to_numpy(), ref.to_numpy(), rtol=2e-5,
                                   atol=2e-5)
    again = m_dask.bootstrap(theta_beta, nsim=4, seed=5)
    pd.testing.assert_frame_equal(boot.t, again.t)
    np.testing.assert_allclose(boot.t0.to_numpy(), theta_beta(m_mem).to_numpy(), rtol=1e-5)


def test_confint_boot_consistent_with_in_memory(fits):
    m_mem, m_dask = fits
    ci_dask = m_dask.confint(method="boot", nsim=30, seed=3)
    ci_mem = m_mem.confint(method="boot", nsim=30, seed=3)
    assert list(ci_dask.index) == list(ci_mem.index)
    width = (ci_mem.iloc[:, 1] - ci_mem.iloc[:, 0]).to_numpy()
    mid_d = ci_dask.mean(axis=1).to_numpy()
    mid_m = ci_mem.mean(axis=1).to_numpy()
    assert np.all(np.abs(mid_d - mid_m) < width)            # same sampling distribution
    wd = (ci_dask.iloc[:, 1] - ci_dask.iloc[:, 0]).to_numpy()
    assert np.all((wd > 0.3 * width) & (wd < 3 * width))


def test_bootstrap_with_sliced_b_and_arguments(fits, client, monkeypatch):
    from mixedfx.inference.bootstrap import theta_beta
    from mixedfx.lmm import sliced

    _, m_dask = fits
    monkeypatch.setattr(sliced, "SLICED_B_BYTES", 0)
    monkeypatch.setattr(sliced, "SLICE_BYTES", 50_000)
    ddf = m_dask._frame.data
    with pytest.warns(Warning):
        m_sl = mfx.lmer(FORMULA, ddf, weights="w", client=client)
    assert isinstance(m_sl._fit.chol.xp.B, sliced.SlicedB)
    boot = m_sl.bootstrap(theta_beta, nsim=2, seed=5, client=client)
    ref = m_dask.bootstrap(theta_beta, nsim=2, seed=5)
    np.testing.assert_allclose(boot.t.to_numpy(), ref.t.to_numpy(), rtol=2e-5, atol=2e-5)
    with pytest.raises(ValueError, match="n_jobs is for in-memory fits"):
        m_dask.bootstrap(nsim=2, n_jobs=2)
    with pytest.raises(ValueError, match="nsim"):
        m_dask.simulate(nsim=0)


def test_profile_runs_its_parameters_on_the_cluster(fits, monkeypatch):
    """profile / confint(method="profile") of a fit made with a running Client: one parameter
    per task on that cluster (the profiler pickles with the task); equal to in memory."""
    import importlib

    import cloudpickle

    profile_module = importlib.import_module("mixedfx.inference.profile")

    m_mem, m_dask = fits
    mapped: list[int] = []
    original = m_dask.cluster_map

    def counting_map():
        inner = original()
        assert inner is not None

        def mapper(fn, *iterables):
            mapped.append(len(iterables[0]))
            return inner(fn, *iterables)
        return mapper

    monkeypatch.setattr(m_dask, "cluster_map", counting_map)
    prof = profile_module._profiler(m_dask)
    assert cloudpickle.loads(cloudpickle.dumps(prof)).names == prof.names
    parm = [*m_mem.parameter_names()[:2], "x"]
    ci_dask = m_dask.confint(method="profile", parm=parm)
    assert mapped == [3]
    np.testing.assert_allclose(ci_dask.to_numpy(),
                               m_mem.confint(method="profile", parm=parm).to_numpy(),
                               rtol=1e-4, atol=1e-5)
