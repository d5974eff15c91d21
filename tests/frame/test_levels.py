"""Factors in R's level order (`frame.levels.factor_codes` / `as_factor`): R's `factor()` levels
and `as.character` labels, written out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
