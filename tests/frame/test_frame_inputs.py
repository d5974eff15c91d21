"""Data as users hold it: real polars and pyarrow objects (including categorical / dictionary
columns, whose level order is kept) and pandas' nullable dtypes give the same fit as the plain
pandas frame."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx

pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")

SL = mfx.datasets.load("sleepstudy")
F = "Reaction ~ Days + (Days | Subject)"


def _fit(data, formula: str = F, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mfx.lmer(formula, data, **kw)


@pytest.fixture(scope="module")
def ref():
    return _fit(SL)


def _plain() -> pd.DataFrame:
    return SL.assign(Subject=SL["Subject"].astype(str))


def test_polars_frame(ref) -> None:
    m = _fit(pl.from_pandas(_plain()))
    assert m.loglik == pytest.approx(ref.loglik, rel=1e-12)
    np.testing.assert_allclose(m.fixef.to_numpy(), ref.fixef.to_numpy(), rtol=1e-10)


def test_pyarrow_table(ref) -> None:
    m = _fit(pa.Table.from_pandas(_plain(), preserve_index=False))
    assert m.loglik == pytest.approx(ref.loglik, rel=1e-12)


def test_polars_enum_keeps_level_order() -> None:
    d = _plain()
    levels = sorted(d["Subject"].unique(), reverse=True)   # not R's sorted order
    frame = pl.from_pandas(d).with_columns(pl.col("Subject").cast(pl.Enum(levels)))
    m = _fit(frame)
    assert list(m.ranef()["Subject"].index) == levels
    d["Days3"] = np.where(d["Days"] < 3, "low", np.where(d["Days"] < 6, "mid", "high"))
    cat = pl.from_pandas(d).with_columns(
        pl.col("Days3").cast(pl.Categorical))               # polars' own (unordered) type
    m2 = _fit(cat, "Reaction ~ Days3 + (1 | Subject)")
    assert set(m2.fixef.index) >= {"(Intercept)"} and len(m2.fixef) == 3


def test_pyarrow_dictionary_keeps_level_order() -> None:
    d = _plain()
    levels = sorted(d["Subject"].unique(), reverse=True)
    idx = pa.array([levels.index(s) for s in d["Subject"]], type=pa.int32())
    table = pa.table({"Reaction": d["Reaction"], "Days": d["Days"],
                      "Subject": pa.DictionaryArray.from_arrays(idx, pa.array(levels))})
    m = _fit(table)
    assert list(m.ranef()["Subject"].index) == levels


def test_nullable_pandas_dtypes(ref) -> None:
    d = _plain()
    d2 = d.assign(Days=d["Days"].astype("Int64"), Subject=d["Subject"].astype("string"),
                  flag=pd.array(d["Days"] > 4, dtype="boolean"))
    m = _fit(d2)
    assert m.loglik == pytest.approx(ref.loglik, rel=1e-12)
    with_na = d2.copy()
    with_na.loc[0, "Days"] = pd.NA
    with_na.loc[1, "Subject"] = pd.NA
    with_na.loc[2, "flag"] = pd.NA
    with pytest.warns(UserWarning, match="3 observation"):
        m2 = mfx.lmer("Reaction ~ Days + flag + (Days | Subject)", with_na)
    assert m2.nobs == len(d) - 3
    assert "flagTRUE" in m2.fixef.index
