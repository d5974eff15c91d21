"""Data as users hold it: real polars and pyarrow objects (including categorical / dictionary
columns, whose level order is kept) and pandas' nullable dtypes give the same fit as the plain
pandas frame."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.frame.rows import MissingDataWarning

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


# -- no silent coercion at intake (issue 19) ----------------------------------------------
def _sleep(**cols: object) -> pd.DataFrame:
    d = mfx.datasets.load("sleepstudy")
    for k, v in cols.items():
        d[k] = v
    return d


@pytest.mark.parametrize("values", [[1, "1", 2, "2", 3, "3"], [True, "True", 0, "0", 2, "2"]])
def test_values_that_print_alike_are_not_merged_into_one_level(values: list[object]) -> None:
    d = _sleep(g=np.array(values * 30, dtype=object))
    with pytest.raises(mfx.DataError, match=r"column 'g' holds .* same factor level"):
        mfx.lmer("Reaction ~ Days + (1 | g)", d)
    with pytest.raises(mfx.DataError, match="column 'g'"):
        mfx.lmer("Reaction ~ g + (1 | Subject)", d)


def test_one_type_per_column_is_fine() -> None:
    d = _sleep(g=np.array(["1", "2", "3"] * 60, dtype=object))
    m = mfx.lmer("Reaction ~ Days + (1 | g)", d)
    assert m.ngrps == {"g": 3}


def test_complex_values_are_refused_not_cast() -> None:
    with pytest.raises(mfx.DataError, match=r"column 'z' .*complex"):
        mfx.lmer("Reaction ~ z + (1 | Subject)", _sleep(z=np.arange(180) + 1j))
    with pytest.raises(mfx.DataError, match="column 'z' holds complex"):
        mfx.lmer("Reaction ~ z + (1 | Subject)",
                 _sleep(z=np.array([1 + 1j] * 180, dtype=object)))
    with pytest.raises(mfx.DataError, match="weights must be real numbers"):
        mfx.lmer("Reaction ~ Days + (1 | Subject)", _sleep(), weights=np.ones(180) + 0j)


def test_string_weights_and_offsets_are_refused_not_parsed() -> None:
    with pytest.raises(mfx.DataError, match=r"weights must be real numbers, got '1.5' \(str\)"):
        mfx.lmer("Reaction ~ Days + (1 | Subject)", _sleep(w=["1.5"] * 180), weights="w")
    with pytest.raises(mfx.DataError, match="offset must be real numbers"):
        mfx.lmer("Reaction ~ Days + (1 | Subject)", _sleep(), offset=["0"] * 180)


def test_object_weights_with_missing_values_are_missing() -> None:
    w = np.array([None, *[1.0] * 179], dtype=object)
    with pytest.warns(UserWarning, match="1 observation"):
        m = mfx.lmer("Reaction ~ Days + (1 | Subject)", _sleep(), weights=w)
    assert m.nobs == 179


def test_object_column_levels_are_labelled_value_by_value() -> None:
    """pandas' unique() treats True, 1 and 1.0 as one value; the levels must not: 1 and 1.0
    are one level "1" (R's as.character), True is "TRUE", and no row loses its level."""
    d = _sleep(g=np.array([True, 1, 0, False, 2, 3.0] * 30, dtype=object))
    m = mfx.lmer("Reaction ~ Days + (1 | g)", d)
    assert m.ngrps == {"g": 6}
    assert sorted(m.ranef()["g"].index) == ["0", "1", "2", "3", "FALSE", "TRUE"]
    d = _sleep(g=np.array([1.0, 1, 2, 2.0, 3, 3] * 30, dtype=object))
    m = mfx.lmer("Reaction ~ Days + (1 | g)", d)
    assert list(m.ranef()["g"].index) == ["1", "2", "3"]
    p = m.predict(pd.DataFrame({"Days": [0.0, 0.0], "g": np.array([1, 1.0], dtype=object)}))
    assert p.iloc[0] == p.iloc[1]


def test_text_columns_with_other_cells_are_still_refused() -> None:
    # the check skips the cell-by-cell scan only when every cell is a str / float / int /
    # bool / None: a cell of another type (even one equal to an allowed value) is still seen
    g = np.array(["a", "b", "c"] * 60, dtype=object)
    for bad, match in ((1 + 0j, "holds complex"), ((1, 2), "holds tuple"),
                       ([1], "holds list")):
        cells = g.copy()
        cells[7] = bad
        with pytest.raises(mfx.DataError, match=match):
            mfx.lmer("Reaction ~ Days + (1 | g)", _sleep(g=cells))
    ok = g.copy()
    ok[[1, 2]] = [None, np.nan]
    with pytest.warns(MissingDataWarning, match="2 observation"):
        assert mfx.lmer("Reaction ~ Days + (1 | g)", _sleep(g=ok)).nobs == 178
