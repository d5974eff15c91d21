"""glmer on Dask data (PIRLS passes over persisted partitions) equals the in-memory fit."""

from __future__ import annotations

import numpy as np
import pytest

import mixedfx as mfx
from mixedfx.families import negative_binomial

dd = pytest.importorskip("dask.dataframe")

# both fits stop where BOBYQA's trust region says; tight radii make them meet to 1e-6
TIGHT = {"glmm_xtol_abs": 1e-6, "calc_derivs": False}


@pytest.fixture(scope="module")
def small(data):
    return data.iloc[:2000].reset_index(drop=True)


# every PIRLS step is a pass over the partitions (225-450 per fit, each a round trip through
# the scheduler): the three larger models are marked slow and run by .ci/run's extra step
# (newest versions only, `pytest -m slow tests/distributed`)
@pytest.mark.parametrize(("formula", "family", "nagq"), [
    ("cnt ~ x + (1 | h)", "poisson", 0),                    # nAGQ = 0, one term
    pytest.param("yb ~ x + f + (1 | g) + (1 | h)", "binomial", 1,
                 marks=pytest.mark.slow),                   # crossed, Laplace
    pytest.param("cnt ~ x + (1 | h / f)", "poisson", 1,
                 marks=pytest.mark.slow),                   # nested, Laplace
    pytest.param("yb ~ x + (1 + x | h)", "binomial", 0,
                 marks=pytest.mark.slow),                   # random slope, nAGQ = 0
    ("cnt ~ x + (1 | h)", negative_binomial(2.0), 0),       # negative binomial, fixed θ
])
def test_glmer_equals_in_memory(formula, family, nagq, small, client):
    ddf = dd.from_pandas(small, npartitions=8)
    m_mem = mfx.glmer(formula, small, family=family, nAGQ=nagq, control=TIGHT)
    m_dask = mfx.glmer(formula, ddf, family=family, nAGQ=nagq, control=TIGHT, client=client)
    assert m_dask.nobs == m_mem.nobs and m_dask.ngrps == m_mem.ngrps
    assert abs(m_dask.loglik / m_mem.loglik - 1) < 1e-8
    np.testing.assert_allclose(m_dask.fixef.to_numpy(), m_mem.fixef.to_numpy(), rtol=1e-6,
                               atol=1e-6)
    np.testing.assert_allclose(m_dask.theta, m_mem.theta, rtol=1e-6, atol=1e-6)
    V = m_mem.vcov.to_numpy()
    np.testing.assert_allclose(m_dask.vcov.to_numpy(), V, rtol=1e-5,
                               atol=1e-5 * np.abs(V).max())
    passes = m_dask.optimizer_info["distributed_passes"]
    assert passes > 10
    mu = m_dask.fitted()
    assert isinstance(mu, dd.Series)
    # μ = g⁻¹(η) inherits the parameters' 1e-6 (relative for the log link's μ up to ~5)
    np.testing.assert_allclose(mu.compute().to_numpy(), m_mem.fitted(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m_dask.residuals("pearson").compute().to_numpy(),
                               m_mem.residuals("pearson"), atol=1e-5)
    pred = m_dask.predict(dd.from_pandas(small.iloc[:300], npartitions=2), type="response")
    np.testing.assert_allclose(pred.compute().to_numpy(),
                               m_mem.predict(small.iloc[:300], type="response"), rtol=1e-6,
                               atol=1e-6)


def test_glmer_refuses_what_it_cannot_distribute(small, client):
    ddf = dd.from_pandas(small, npartitions=8)
    with pytest.raises(ValueError, match="nAGQ > 1"):
        mfx.glmer("yb ~ x + (1 | h)", ddf, family="binomial", nAGQ=5, client=client)
    with pytest.raises(ValueError, match="not available for Dask data"):
        mfx.glmer("y ~ x + (1 | h)", ddf.assign(y=ddf.y.abs() + 1), family="Gamma",
                  client=client)
    with pytest.raises(mfx.errors.ArgumentError,
                       match=r"start\['theta'\]\[0\] = -0.5 is below its lower bound 0"):
        mfx.glmer("yb ~ x + (1 | h)", ddf, family="binomial", start={"theta": [-0.5]},
                  client=client)


def test_glmer_nb_refused_for_dask_data(small):
    with pytest.raises(ValueError, match="glmer_nb is not available for Dask data"):
        mfx.glmer_nb("cnt ~ x + (1 | h)", dd.from_pandas(small, npartitions=8))


def test_dask_glmer_pickles_deep_copies_and_refuses_save(small, client, tmp_path):
    """A Dask glmer pickles and deep-copies (no recursion through the row family's
    attribute forwarding) with identical numbers; saving it is refused with the reason."""
    import copy
    import pickle

    from mixedfx.errors import DataError

    ddf = dd.from_pandas(small.iloc[:600], npartitions=4)
    m = mfx.glmer("cnt ~ x + (1 | h)", ddf, family="poisson", nAGQ=0, control=TIGHT,
                  client=client)
    new = small.iloc[:50]
    for m2 in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert str(m2.summary()) == str(m.summary())
        np.testing.assert_array_equal(m2.vcov.to_numpy(), m.vcov.to_numpy())
        np.testing.assert_array_equal(m2.fixef.to_numpy(), m.fixef.to_numpy())
        np.testing.assert_array_equal(m2.predict(new), m.predict(new))
    with pytest.raises(DataError, match="Dask data"):
        m.save(tmp_path / "dask.npz")
