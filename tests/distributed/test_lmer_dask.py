"""lmer on Dask data equals the in-memory fit (loglik 1e-8 relative, estimates 1e-6)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx

dd = pytest.importorskip("dask.dataframe")


def assert_same_fit(m_dask, m_mem) -> None:
    assert m_dask.nobs == m_mem.nobs
    assert m_dask.ngrps == m_mem.ngrps
    assert abs(m_dask.loglik / m_mem.loglik - 1) < 1e-8
    np.testing.assert_allclose(m_dask.fixef.to_numpy(), m_mem.fixef.to_numpy(),
                               rtol=1e-6, atol=1e-6)
    assert list(m_dask.fixef.index) == list(m_mem.fixef.index)
    np.testing.assert_allclose(m_dask.theta, m_mem.theta, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m_dask.sigma, m_mem.sigma, rtol=1e-6)
    V = m_mem.vcov.to_numpy()
    # vcov follows θ̂, which two optimizer paths (different summation orders) find to ~1e-6
    np.testing.assert_allclose(m_dask.vcov.to_numpy(), V, rtol=1e-5,
                               atol=1e-6 * np.abs(V).max())
    for g, re in m_mem.ranef().items():
        other = m_dask.ranef()[g]
        assert list(other.index) == list(re.index)
        np.testing.assert_allclose(other.to_numpy(), re.to_numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("formula", [
    "y ~ x + f + (1 | g) + (1 | h)",           # crossed
    "y ~ x + (1 | h / f)",                      # nested (f:h within h)
    "y ~ x + f + (1 + x | g) + (1 | h)",       # random slope, crossed
])
def test_lmer_equals_in_memory(formula, data, ddf, client):
    assert ddf.npartitions >= 8
    # both fits stop where BOBYQA's tolerances say; the cross-products agree to rounding, so
    # tight tolerances make both land on the same optimum to 1e-6 (default: θ to ~1e-5)
    tight = {"ftol_abs": 1e-12, "xtol_abs": 1e-10}
    m_mem = mfx.lmer(formula, data, control=tight)
    m_dask = mfx.lmer(formula, ddf, client=client, control=tight)
    from mixedfx.results.lmm_model import LinearMixedModel

    assert isinstance(m_dask, LinearMixedModel)
    assert_same_fit(m_dask, m_mem)
    assert m_dask.optimizer_info["distributed_passes"] == 2


def test_lmer_ml_weights_missing_and_refit_ml(data, client):
    df = data.copy()
    df.loc[::97, "x"] = np.nan
    ddf = dd.from_pandas(df, npartitions=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m_mem = mfx.lmer("y ~ x + (1 | g) + (1 | h)", df, weights="w", REML=False)
        m_dask = mfx.lmer("y ~ x + (1 | g) + (1 | h)", ddf, weights="w", REML=False,
                          client=client)
    assert m_dask.frame.n_dropped == m_mem.frame.n_dropped > 0
    assert_same_fit(m_dask, m_mem)
    reml_mem = mfx.lmer("y ~ x + (1 | g) + (1 | h)", df, weights="w")
    ml_again = mfx.lmer("y ~ x + (1 | g) + (1 | h)", ddf, weights="w", client=client)
    assert abs(ml_again.refit_ml().loglik / m_mem.loglik - 1) < 1e-8
    assert abs(ml_again.loglik / reml_mem.loglik - 1) < 1e-8


def test_fitted_residuals_predict_are_dask(data, ddf, client):
    formula = "y ~ x + f + (1 + x | g) + (1 | h)"
    tight = {"ftol_abs": 1e-12, "xtol_abs": 1e-10}
    m_mem = mfx.lmer(formula, data, control=tight)
    m_dask = mfx.lmer(formula, ddf, client=client, control=tight)
    fv = m_dask.fitted()
    assert isinstance(fv, dd.Series)
    np.testing.assert_allclose(fv.compute().to_numpy(), m_mem.fitted(), atol=1e-6)
    res = m_dask.residuals(type="pearson", scaled=True).compute().to_numpy()
    np.testing.assert_allclose(res, m_mem.residuals(type="pearson", scaled=True), atol=1e-6)
    new = data.iloc[:500].copy()
    pred = m_dask.predict(dd.from_pandas(new, npartitions=3), re_form="~(1|h)")
    assert isinstance(pred, dd.Series)
    np.testing.assert_allclose(pred.compute().to_numpy(),
                               m_mem.predict(new, re_form="~(1|h)"), atol=1e-6)


def test_parquet_glob(data, tmp_path, client):
    dd.from_pandas(data, npartitions=8).to_parquet(tmp_path / "d.parquet")
    m_mem = mfx.lmer("y ~ x + (1 | g) + (1 | h)", data)
    m_pq = mfx.lmer("y ~ x + (1 | g) + (1 | h)", str(tmp_path / "d.parquet"), client=client)
    assert_same_fit(m_pq, m_mem)


def test_partitions_disagreeing_on_types(data, client):
    from dask import delayed

    a, b = data.iloc[:5000].copy(), data.iloc[5000:10000].copy()
    b["g"] = b["g"].map(lambda v: f"s{v}")          # strings in one partition, ints in the other
    ddf = dd.from_delayed([delayed(a), delayed(b)], meta=a.iloc[:0], verify_meta=False)
    with pytest.raises(TypeError, match=r"disagree on column types.*'g'"):
        mfx.lmer("y ~ x + (1 | g)", ddf, client=client)


def test_grouping_column_with_missing_values(data, client):
    df = data.assign(h=data["h"].where(data.index % 500 != 0))
    with pytest.raises(ValueError, match=r"grouping column.*'h' \(40 row"):
        mfx.lmer("y ~ x + (1 | g) + (1 | h)", dd.from_pandas(df, npartitions=8),
                 client=client)


def test_unreachable_scheduler(ddf):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(ConnectionError, match="could not reach the Dask scheduler"):
        mfx.lmer("y ~ x + (1 | g)", ddf, client="tcp://127.0.0.1:1")


def test_invalid_arguments(data, ddf, client):
    with pytest.raises(ValueError, match="client= is for Dask data"):
        mfx.lmer("y ~ x + (1 | g)", data, client=client)
    with pytest.raises(TypeError, match="column name"):
        mfx.lmer("y ~ x + (1 | g)", ddf, weights=np.ones(len(data)), client=client)
    with pytest.raises(ValueError, match=r"scale\(\) learns from all rows"):
        mfx.lmer("y ~ scale(x) + (1 | g)", ddf, client=client)
    with pytest.raises(TypeError, match="client must be"):
        mfx.lmer("y ~ x + (1 | g)", ddf, client=3)
    # refused after the levels pass, before the cross-products pass (lme4 refuses it too)
    with pytest.raises(mfx.errors.ArgumentError,
                       match=r"start \(theta\)\[0\] = -1 is below its lower bound 0"):
        mfx.lmer("y ~ x + (1 | g)", ddf, start=[-1.0], client=client)


def test_import_does_not_import_dask():
    code = ("import sys, mixedfx; "
            "bad = [m for m in ('dask', 'distributed') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ})
    assert out.returncode == 0, out.stdout + out.stderr


def test_rank_deficient_columns_dropped(data, client):
    df = data.assign(x2=2 * data["x"])
    ddf = dd.from_pandas(df, npartitions=8)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        m_mem = mfx.lmer("y ~ x + x2 + (1 | g)", df)
        m_dask = mfx.lmer("y ~ x + x2 + (1 | g)", ddf, client=client)
    assert m_dask.frame.dropped_columns == m_mem.frame.dropped_columns == ["x2"]
    assert_same_fit(m_dask, m_mem)
    assert isinstance(pd.DataFrame(m_dask.varcorr), pd.DataFrame)


def test_profile_intervals_equal_in_memory(data, client):
    small = data.iloc[:1500]
    ddf = dd.from_pandas(small, npartitions=8)
    formula = "y ~ x + f + (1 | g) + (1 | h)"
    m_mem = mfx.lmer(formula, small)
    m_dask = mfx.lmer(formula, ddf, client=client)
    np.testing.assert_allclose(m_dask.confint().to_numpy(), m_mem.confint().to_numpy(),
                               rtol=1e-6, atol=1e-6)


def test_row_methods_refused_clearly(ddf, client):
    m_dask = mfx.lmer("y ~ x + (1 | h)", ddf, client=client)
    assert "Satterthwaite" in str(m_dask.summary())
    for call in (m_dask.anova, m_dask.ranova, m_dask.drop1,
                 lambda: m_dask.summary(ddf="Kenward-Roger")):
        with pytest.raises(NotImplementedError, match="Dask fit") as info:
            call()
        assert isinstance(info.value, mfx.MixedfxError)     # issue 19's error contract


def test_b_sliced_on_disk_equals_in_memory(data, ddf, client, monkeypatch):
    """Past the driver budget B's level slices are reduced apart and kept on disk: the fit
    (and ranef's conditional variances, read back slice by slice) is unchanged."""
    from mixedfx.lmm import sliced

    monkeypatch.setattr(sliced, "SLICED_B_BYTES", 0)
    monkeypatch.setattr(sliced, "SLICE_BYTES", 200_000)
    formula = "y ~ x + f + (1 + x | g) + (1 | h)"
    tight = {"ftol_abs": 1e-12, "xtol_abs": 1e-10}
    m_mem = mfx.lmer(formula, data, control=tight)
    m_dask = mfx.lmer(formula, ddf, client=client, control=tight)
    B = m_dask._fit.chol.xp.B
    assert isinstance(B, sliced.SlicedB) and len(B.bounds) > 2
    assert_same_fit(m_dask, m_mem)
    re_mem, re_dask = m_mem.ranef(condvar=True), m_dask.ranef(condvar=True)
    for g in ("g", "h"):
        np.testing.assert_allclose(re_dask[g].attrs["condsd"].to_numpy(),
                                   re_mem[g].attrs["condsd"].to_numpy(), rtol=1e-5)


def test_progress_prints_passes_and_evaluations(ddf, client, capsys):
    m = mfx.lmer("y ~ x + (1 | h)", ddf, client=client)
    assert capsys.readouterr().out == ""                       # off by default
    m2 = mfx.lmer("y ~ x + (1 | h)", ddf, client=client, progress=True)
    out = capsys.readouterr().out
    # pass 2 runs over the canonical partitions (distributed.canonical: one for 20k rows)
    assert "pass 1 over 10 partitions" in out and "pass 2 over 1 partitions" in out
    assert "% Completed" in out                                # Dask's progress bar
    assert f"optimizer evaluations: {m2.optimizer_info['evaluations']}" in out
    assert m2.loglik == m.loglik


def test_progress_argument_checked(data, ddf, client):
    with pytest.raises(TypeError, match="progress must be True or False"):
        mfx.lmer("y ~ x + (1 | h)", ddf, client=client, progress="yes")
    with pytest.raises(TypeError, match="progress must be True or False"):
        mfx.glmer("yb ~ x + (1 | h)", ddf, family="binomial", client=client, progress=1)
    with pytest.raises(ValueError, match="progress= is for Dask data"):
        mfx.lmer("y ~ x + (1 | h)", data, progress=True)


def test_dask_lmer_pickles_deep_copies_and_refuses_save(data, client, tmp_path):
    """A Dask lmer pickles and deep-copies with identical numbers; `save` is refused with
    the reason (a model file stores the rows, which stay on the cluster)."""
    import copy
    import pickle

    from mixedfx.errors import DataError

    ddf = dd.from_pandas(data.iloc[:3000], npartitions=4)
    m = mfx.lmer("y ~ x + (1 | g)", ddf, client=client)
    new = data.iloc[:50]
    for m2 in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert str(m2.summary()) == str(m.summary())
        np.testing.assert_array_equal(m2.vcov.to_numpy(), m.vcov.to_numpy())
        np.testing.assert_array_equal(m2.theta, m.theta)
        np.testing.assert_array_equal(m2.predict(new), m.predict(new))
    with pytest.raises(DataError, match="Dask data"):
        m.save(tmp_path / "dask.npz")
