"""aov with Error() strata against R 4.2.2's summary(aov(...))
(tests/reference/extra/aov/make_aov.R -> aov.json): two-way within-subject, the same with two
responses missing (unbalanced strata, "Error() model is singular"), one-way within, a split
plot (CO2: between Type × Treatment, within concentration), npk's blocks with a confounded
interaction, and hsb's one-way Error(school) (unbalanced); the tables to 1e-8 (least squares
on orthonormal projections) and the printed text line by line."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.baseline.aov import AovStrata, split_error
from mixedfx.errors import FormulaError

HERE = Path(__file__).parents[1] / "reference" / "extra" / "aov"
REF = json.loads((HERE / "aov.json").read_text())
CONC = ["95", "175", "250", "350", "500", "675", "1000"]


def _vector(x: object) -> list:
    """jsonlite's auto_unbox writes one-element vectors as scalars."""
    return x if isinstance(x, list) else [x]


def _data(name: str) -> pd.DataFrame:
    if name == "hsb":
        return mfx.datasets.load("hsb")
    if name == "rm2m":                       # rows 5 and 17 (1-based) missing
        d = _data("rm2")
        d.loc[[4, 16], "y"] = np.nan
        return d
    d = pd.read_csv(HERE / f"{name}.csv", dtype=str)
    for c in ("y", "yield", "uptake"):
        if c in d:
            d[c] = d[c].astype(float)
    if name == "co2":
        d["fconc"] = pd.Categorical(d["fconc"], categories=CONC)
    return d


FIELDS = (("Sum Sq", "SumSq"), ("Mean Sq", "MeanSq"), ("F value", "F"), ("Pr(>F)", "P"))


def _column(want: dict, field: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in _vector(want[field])], dtype=float)


@cache
def fitted(key: str) -> AovStrata:
    case = REF[key]["case"]
    if key != "rm2_missing":
        return mfx.aov(case["formula"], _data(case["data"]))
    with pytest.warns(UserWarning) as record:    # R: "Error() model is singular"
        out = mfx.aov(case["formula"], _data(case["data"]))
    messages = [str(w.message) for w in record]
    assert "Error() model is singular" in messages
    assert any("deleted due to missingness" in m for m in messages)
    return out


@pytest.mark.parametrize("key", list(REF))
def test_aov_strata_match_r(key: str) -> None:
    ref = REF[key]
    got = fitted(key)
    assert list(got) == ref["strata"]
    for name, want in zip(ref["strata"], ref["tables"], strict=True):
        table = got[name]
        assert list(table.index) == _vector(want["rows"])
        np.testing.assert_array_equal(table["Df"].to_numpy(), _vector(want["Df"]))
        for col, field in FIELDS:
            if field not in want:
                assert col not in table.columns
                continue
            np.testing.assert_allclose(table[col].to_numpy(float), _column(want, field),
                                       rtol=1e-8, atol=1e-10, err_msg=f"{name} {col}")


@pytest.mark.parametrize("key", list(REF))
def test_aov_prints_as_r(key: str) -> None:
    """The layout, with R's own numbers in the cells: npk's N:K sum of squares is
    33.135, a rounding tie at 4 digits that R's and our last bits decide either way."""
    ref = REF[key]
    got = AovStrata({name: table.copy() for name, table in fitted(key).items()})
    for name, want in zip(ref["strata"], ref["tables"], strict=True):
        for col, field in FIELDS:
            if field in want:
                got[name][col] = _column(want, field)
    assert str(got).splitlines() == ref["printed"]


def test_split_error() -> None:
    assert split_error("y ~ A * B + Error(subject / (A * B))") == ("y ~ A * B",
                                                                  "subject / (A * B)")
    assert split_error("y ~ Error(s)") == ("y ~ 1", "s")
    with pytest.raises(FormulaError, match="exactly one Error"):
        split_error("y ~ A")
    with pytest.raises(FormulaError, match="unbalanced"):
        split_error("y ~ A + Error(s / (A)")


def test_aov_needs_a_response() -> None:
    with pytest.raises(FormulaError, match="response"):
        mfx.aov("~ A + Error(subject)", _data("rm2"))
