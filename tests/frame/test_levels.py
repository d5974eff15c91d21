"""Factors in R's level order (`frame.levels.factor_codes` / `as_factor`): R's `factor()` levels
and `as.character` labels, written out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import DataError
from mixedfx.frame.levels import as_factor, factor_codes


@pytest.mark.parametrize(("values", "labels"), [
    ([2.5, 0.5, 1.0, 0.5], ["0.5", "1", "2.5"]),              # R: factor(c(2.5, .5, 1, .5))
    ([True, False, True], ["FALSE", "TRUE"]),
    (["b", "B", "a", "_x"], ["_x", "a", "b", "B"]),           # R (en_US.UTF-8) collation
    ([1e5, 1e-4, 123456.0], ["1e-04", "1e+05", "123456"]),
])
def test_levels_and_labels(values: list[object], labels: list[str]) -> None:
    codes, got, ordered = factor_codes(pd.Series(values))
    assert got == labels and not ordered
    np.testing.assert_array_equal(np.array(labels)[codes], as_factor(pd.Series(values)).astype(str))


def test_missing_values_get_code_minus_one() -> None:
    for s in (pd.Series([1.0, np.nan, 2.0]), pd.Series(["a", None, "b"], dtype=object),
              pd.Series([1, None, 2], dtype="Int64"), pd.Series(["a", None, "b"], dtype="str"),
              pd.Series(pd.Categorical(["a", None, "b"])),
              pd.Series([True, None, False], dtype="boolean")):
        codes, labels, _ = factor_codes(s)
        assert codes.tolist()[1] == -1 and len(labels) == 2, s.dtype


def test_rows_subset_drops_levels_not_seen() -> None:
    s = pd.Series(pd.Categorical(["c", "a", "b"], categories=["c", "b", "a"], ordered=True))
    codes, labels, ordered = factor_codes(s, np.array([0, 2]))
    assert labels == ["c", "b"] and codes.tolist() == [0, 1] and ordered
    codes, labels, _ = factor_codes(pd.Series(["z", "y", "x"]), np.array([2, 0]))
    assert labels == ["x", "z"] and codes.tolist() == [0, 1]


def test_nullable_integers_print_as_integers() -> None:
    _, labels, _ = factor_codes(pd.Series([10, 2, None], dtype="Int64"))
    assert labels == ["2", "10"]


def test_categories_that_print_alike_are_refused() -> None:
    s = pd.Series(pd.Categorical([1, 1.0000000000000002]))
    with pytest.raises(DataError, match="print identically"):
        factor_codes(s)


def test_large_categories_are_remembered_but_returned_as_new_lists() -> None:
    cats = [f"g{i:05d}" for i in range(3000)]
    s = pd.Series(pd.Categorical.from_codes(np.arange(3000) % 3000, categories=cats))
    _, first, _ = factor_codes(s)
    first[0] = "poison"
    _, second, _ = factor_codes(s)
    assert second == cats and second is not first
    other = pd.Series(pd.Categorical.from_codes(np.arange(3000), categories=cats[::-1]))
    assert factor_codes(other)[1] == cats[::-1]


# text columns (issue 21): factorized once, put in R's order; results bitwise those of the
# categorical with the same levels. R 4.x (en_US.UTF-8):
#   levels(factor(c("a10","a9","B","a","b","A","_x","Z10","Z9","1","10","9","b.2","b-1")))
R_ORDER = ["_x", "1", "10", "9", "a", "A", "a10", "a9", "b", "B", "b-1", "b.2", "Z10", "Z9"]
DATA = Path(__file__).parents[1] / "reference" / "data"
TEXT_DTYPES = [object, "str", "string[pyarrow]", "string[python]"]


def _text(values: list[object], dtype: object) -> pd.Series:
    return pd.Series(values, dtype=dtype)


@pytest.mark.parametrize("dtype", TEXT_DTYPES)
def test_text_levels_in_r_order_with_missing_and_rows(dtype: object) -> None:
    rng = np.random.default_rng(3)
    values: list[object] = list(rng.permutation(R_ORDER * 3))
    values[4] = None
    codes, labels, ordered = factor_codes(_text(values, dtype))
    assert labels == R_ORDER and not ordered
    assert codes[4] == -1 and codes.dtype == np.int64
    np.testing.assert_array_equal(np.array(labels, dtype=object)[np.delete(codes, 4)],
                                  np.delete(np.array(values, dtype=object), 4))
    rows = np.array([0, 1, 2, 3, 5, 6])                      # some levels unused, no missing
    codes, labels, _ = factor_codes(_text(values, dtype), rows, complete=True)
    assert labels == [v for v in R_ORDER if v in {values[i] for i in rows}]
    assert [labels[c] for c in codes] == [values[i] for i in rows]


def test_text_levels_are_new_lists_and_non_ascii_keeps_the_full_rule() -> None:
    _, first, _ = factor_codes(pd.Series(["b", "a"]))
    first.append("x")
    assert factor_codes(pd.Series(["b", "a"]))[1] == ["a", "b"]
    # non-ASCII: accents after the base letter, before the next one (R: "e" "é" "f")
    assert factor_codes(pd.Series(["f", "é", "e", "E"], dtype=object))[1] == ["e", "E", "é", "f"]


def test_object_text_with_numbers_is_labelled_as_before() -> None:
    codes, labels, _ = factor_codes(pd.Series(["b", 2, 10.0, None], dtype=object))
    assert labels == ["10", "2", "b"] and codes.tolist() == [2, 1, 0, -1]
    with pytest.raises(DataError, match="same factor level"):
        factor_codes(pd.Series(["1", 1], dtype=object))


#: R: levels(factor(c(<R_ORDER>, "b0", "é1", "E1", "e1")))
SLEEP_ORDER = ["_x", "1", "10", "9", "a", "A", "a10", "a9", "b", "B", "b-1", "b.2", "b0", "e1",
               "E1", "é1", "Z10", "Z9"]


def _sleep(dtype: object, missing: bool) -> pd.DataFrame:
    d = pd.read_csv(DATA / "sleepstudy.csv.gz")
    names = dict(zip(sorted(d["Subject"].unique()), [*R_ORDER, "b0", "é1", "E1", "e1"],
                     strict=True))
    subject = d["Subject"].map(names).astype(object)
    if missing:
        subject[[3, 50, 51]] = None
    # (pd.Series(values, dtype=...), not .astype: pandas < 3's astype(str) writes "None")
    d["Subject"] = _text(subject.tolist(), dtype) if dtype != "category" else pd.Categorical(
        subject, categories=SLEEP_ORDER)
    return d


def _same_fit(a: object, b: object) -> None:
    assert a.fixef.to_dict() == b.fixef.to_dict() and a.loglik == b.loglik
    np.testing.assert_array_equal(a.theta, b.theta)
    ra, rb = a.ranef(), b.ranef()
    assert list(ra) == list(rb)
    for k in ra:
        pd.testing.assert_frame_equal(ra[k], rb[k], check_exact=True)


@pytest.mark.parametrize("missing", [False, True])
def test_lmer_with_text_grouping_is_bitwise_the_categorical_fit(missing: bool) -> None:
    ref = mfx.lmer("Reaction ~ Days + (Days | Subject)", _sleep("category", missing))
    assert list(ref.ranef()["Subject"].index)[:4] == ["_x", "1", "10", "9"]
    for dtype in TEXT_DTYPES:
        m = mfx.lmer("Reaction ~ Days + (Days | Subject)", _sleep(dtype, missing))
        _same_fit(m, ref)
        assert m.nobs == ref.nobs == 180 - 3 * missing


@pytest.mark.parametrize("missing", [False, True])
def test_glmer_with_text_factors_is_bitwise_the_categorical_fit(missing: bool) -> None:
    base = pd.read_csv(DATA / "cbpp.csv.gz")
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    herd = ("h" + base["herd"].astype(str)).astype(object)      # h1, h10, h11, ..., h2, ...
    period = base["period"].astype(str).map({"1": "b", "2": "B", "3": "a10", "4": "a9"})
    if missing:
        herd[[0, 7]] = None
    cats = {"herd": sorted(set(herd.dropna()), key=lambda h: h[1:]),   # "1" < "10" < "2"
            "period": ["a10", "a9", "b", "B"]}
    ref = mfx.glmer(formula, base.assign(herd=pd.Categorical(herd, categories=cats["herd"]),
                                         period=pd.Categorical(period, categories=cats["period"])),
                    family="binomial")
    assert list(ref.fixef.index) == ["(Intercept)", "perioda9", "periodb", "periodB"]
    for dtype in TEXT_DTYPES:
        m = mfx.glmer(formula, base.assign(herd=_text(herd.tolist(), dtype),
                                           period=_text(period.tolist(), dtype)),
                      family="binomial")
        _same_fit(m, ref)


def test_arrow_strings_in_several_chunks_are_one_factor() -> None:
    parts = [pd.Series(["b", "a10", None], dtype="string[pyarrow]"),
             pd.Series(["a9", "B", "b"], dtype="string[pyarrow]")]
    s = pd.concat(parts, ignore_index=True)
    assert s.array.__arrow_array__().num_chunks == 2
    codes, labels, _ = factor_codes(s)
    assert labels == ["a10", "a9", "b", "B"] and codes.tolist() == [2, 0, -1, 1, 3, 2]
    ref = pd.factorize(s.to_numpy(dtype=object))
    assert (np.array(labels, dtype=object)[codes] == ref[1][ref[0]])[codes >= 0].all()


def test_complete_categorical_is_factor_codes() -> None:
    from mixedfx.frame.levels import complete_categorical

    cat = pd.Categorical(["b", "a", "c", "a"], categories=["c", "b", "a"], ordered=True)
    codes, labels, ordered = complete_categorical(cat, "f")
    want = factor_codes(pd.Series(cat, name="f"), complete=True)
    np.testing.assert_array_equal(codes, want[0])
    assert codes.dtype == np.int64 and labels == want[1] == ["c", "b", "a"] and ordered
    # numeric categories are labelled as R prints them
    num = pd.Categorical([2.0, 1.5, 2.0])
    assert complete_categorical(num, "x")[1] == ["1.5", "2"]
    # an unused category is dropped, as factor_codes drops it
    unused = pd.Categorical(["a", "c"], categories=["a", "b", "c"])
    codes, labels, _ = complete_categorical(unused, "f")
    assert labels == ["a", "c"] and codes.tolist() == [0, 1]
    # a missing value, or categories that print alike: not for this path
    assert complete_categorical(pd.Categorical(["a", None]), "f") is None
    assert complete_categorical(pd.Categorical([1, 1.0000000000000002]), "f") is None
