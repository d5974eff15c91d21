"""Row-wise results line up with the user's rows (issue 19): after rows with missing values
are dropped, `fitted`, `residuals` (every type), `predict` (model data and new data),
`hatvalues`, `cooks_distance` and `augment` are pandas objects indexed by the rows used; with
`na_action="exclude"` (R's `na.exclude`) they have every row, NaN at the dropped ones. The
values are those of the fit to the complete rows alone."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx

SL = mfx.datasets.load("sleepstudy")
DROPPED = [1003, 1010]          # user labels of the rows with a missing value


def _quiet(call: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    d = SL.copy()
    d.index = d.index + 1000                  # labels that are not positions
    d.loc[1003, "Reaction"] = np.nan
    d.loc[1010, "Days"] = np.nan
    return d


@pytest.fixture(scope="module")
def complete(data: pd.DataFrame) -> pd.DataFrame:
    return data.dropna()


FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def fits(data: pd.DataFrame, complete: pd.DataFrame) -> dict[str, Any]:
    return {na: _quiet(lambda na=na: mfx.lmer(FORMULA, data, na_action=na))
            for na in ("omit", "exclude")} | {
        "complete": _quiet(lambda: mfx.lmer(FORMULA, complete.reset_index(drop=True)))}


def _rowwise(m: Any) -> dict[str, Any]:
    out = {"fitted": m.fitted(), "predict": m.predict(), "hatvalues": m.hatvalues(),
           "cooks_distance": m.cooks_distance()}
    for t in ("response", "pearson", "deviance", "working", "normalized"):
        out[f"residuals_{t}"] = m.residuals(type=t)
    return out


def test_omit_results_are_indexed_by_the_rows_used(fits: dict[str, Any],
                                                   complete: pd.DataFrame) -> None:
    ref = _rowwise(fits["complete"])
    for name, s in _rowwise(fits["omit"]).items():
        assert isinstance(s, pd.Series), name
        assert s.index.equals(complete.index), name
        np.testing.assert_allclose(s.to_numpy(), np.asarray(ref[name]), rtol=1e-6,
                                   atol=1e-8, err_msg=name)


def test_exclude_pads_with_nan_at_the_dropped_rows(fits: dict[str, Any],
                                                   data: pd.DataFrame) -> None:
    omit = _rowwise(fits["omit"])
    for name, s in _rowwise(fits["exclude"]).items():
        assert s.index.equals(data.index), name
        assert s.loc[DROPPED].isna().all(), name
        kept = s.drop(DROPPED)
        assert kept.notna().all(), name
        pd.testing.assert_series_equal(kept, omit[name], check_names=False)


def test_joining_back_to_the_data_aligns(fits: dict[str, Any], data: pd.DataFrame) -> None:
    joined = data.assign(fit=fits["omit"].fitted(), res=fits["omit"].residuals())
    np.testing.assert_allclose((joined["fit"] + joined["res"]).dropna(),
                               data["Reaction"].dropna().drop(1010))
    assert joined.loc[DROPPED, "fit"].isna().all()


def test_augment_keeps_the_users_rows(fits: dict[str, Any], data: pd.DataFrame,
                                      complete: pd.DataFrame) -> None:
    a = fits["omit"].augment()
    assert a.index.equals(complete.index)
    assert a.loc[1004, "Reaction"] == data.loc[1004, "Reaction"]
    ax = fits["exclude"].augment()
    assert ax.index.equals(data.index)
    assert ax.loc[DROPPED, ".fitted"].isna().all()
    pd.testing.assert_frame_equal(ax.drop(DROPPED), a, check_dtype=False)


def test_predict_on_new_data_keeps_its_index(fits: dict[str, Any], data: pd.DataFrame) -> None:
    nd = data.iloc[[5, 7, 40]].copy()
    nd.index = ["a", "b", "c"]
    for na in ("omit", "exclude"):
        p = fits[na].predict(nd)
        assert list(p.index) == ["a", "b", "c"]
        frame = fits[na].predict(nd, se_fit=True)
        assert list(frame.index) == ["a", "b", "c"]
    np.testing.assert_allclose(fits["omit"].predict(nd),
                               fits["complete"].predict(nd.reset_index(drop=True)))


def test_summary_uses_the_rows_fitted(fits: dict[str, Any]) -> None:
    assert str(fits["exclude"].summary()) == str(fits["omit"].summary())


def test_glmer_rows(data: pd.DataFrame) -> None:
    cb = mfx.datasets.load("cbpp")
    cb.index = [f"r{i}" for i in range(len(cb))]
    cb.loc["r4", "incidence"] = np.nan
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    omit = _quiet(lambda: mfx.glmer(f, cb, family="binomial"))
    excl = _quiet(lambda: mfx.glmer(f, cb, family="binomial", na_action="exclude"))
    assert omit.fitted().index.equals(cb.index.drop("r4"))
    for s in (excl.fitted(), excl.residuals(), excl.residuals(type="pearson"), excl.predict(),
              excl.predict(type="response"), _quiet(excl.hatvalues), excl.cooks_distance()):
        assert s.index.equals(cb.index) and np.isnan(s.loc["r4"])
        assert s.drop("r4").notna().all()
    assert excl.augment().index.equals(cb.index)


@pytest.mark.parametrize("kind", ["lm", "glm", "gls"])
def test_baselines_and_gls_rows(kind: str, data: pd.DataFrame, complete: pd.DataFrame) -> None:
    def fit(na: str) -> Any:
        if kind == "lm":
            return mfx.lm("Reaction ~ Days", data, na_action=na)
        if kind == "glm":
            return mfx.glm("Reaction ~ Days", data, family="Gamma", na_action=na)
        return mfx.gls("Reaction ~ Days", data, na_action=na,
                       correlation=mfx.cor_ar1("~ Days | Subject"))

    omit, excl = _quiet(lambda: fit("omit")), _quiet(lambda: fit("exclude"))
    for s in (omit.fitted(), omit.residuals(), omit.predict()):
        assert s.index.equals(complete.index)
    for s in (excl.fitted(), excl.residuals(), excl.predict()):
        assert s.index.equals(data.index) and s.loc[DROPPED].isna().all()
    nd = data.iloc[[2, 9]]
    assert omit.predict(nd).index.equals(nd.index)


def test_polars_input_gives_the_same_values_as_pandas_series() -> None:
    pl = pytest.importorskip("polars")
    m_pd = _quiet(lambda: mfx.lmer(FORMULA, SL))
    m_pl = _quiet(lambda: mfx.lmer(FORMULA, pl.from_pandas(SL)))
    for a, b in ((m_pl.fitted(), m_pd.fitted()), (m_pl.residuals(), m_pd.residuals()),
                 (m_pl.predict(pl.from_pandas(SL.iloc[:3])), m_pd.predict(SL.iloc[:3]))):
        assert isinstance(a, pd.Series)
        assert a.index.equals(pd.RangeIndex(len(a)))
        np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-10)


def test_row_map_used_undoes_the_padding(fits: dict[str, Any]) -> None:
    from mixedfx.frame.rows import used_rows

    m = fits["exclude"]
    np.testing.assert_array_equal(used_rows(m, m.fitted()), fits["omit"].fitted().to_numpy())
    assert used_rows(m, m.fitted()).shape == (m.nobs,)
