"""Columns as formula evaluation reads them (`formula.columns`), and the memoized parses of
right-hand sides and responses: the same text gives equal, independent results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedfx.errors import DataError
from mixedfx.formula import FormulaError, build_design, evaluate_response
from mixedfx.formula.columns import Column, ColumnTable, as_table, column_from_series


def _data() -> pd.DataFrame:
    return pd.DataFrame({
        "y": [1.0, 2.0, 4.0, 3.0, 5.0, 7.0],
        "x": [0, 1, 2, 0, 1, 2],
        "f": pd.Categorical(["a", "b", "c", "a", "b", "c"]),
        "s": ["u", "v", "u", "v", "u", "v"],
        "b": [True, False, True, True, False, False],
    })


@pytest.mark.parametrize(("column", "kind"), [
    ("y", "numeric"), ("x", "numeric"), ("f", "factor"), ("s", "character"), ("b", "logical"),
])
def test_column_kinds(column: str, kind: str) -> None:
    assert column_from_series(_data()[column]).kind == kind


def test_integer_column_keeps_its_integers() -> None:
    col = column_from_series(pd.Series([3, 1, 2]))
    assert col.integer and col.raw is not None and col.raw.dtype == np.int64
    assert col.values.dtype == np.float64
    nullable = column_from_series(pd.Series([3, None, 2], dtype="Int64"))
    assert nullable.integer and nullable.raw is None
    np.testing.assert_array_equal(np.isnan(nullable.values), [False, True, False])


def test_objects_give_the_cells() -> None:
    f = column_from_series(pd.Series(pd.Categorical(["a", None, "b"])))
    assert f.objects().tolist() == ["a", None, "b"]
    lg = column_from_series(pd.Series([True, None, False], dtype="boolean"))
    assert lg.objects().tolist() == [True, None, False]
    assert f.take(np.array([2, 0])).objects().tolist() == ["b", "a"]


def test_table_reads_each_column_once_and_refuses_unknown_and_duplicated() -> None:
    table = as_table(_data())
    assert table.column("x") is table.column("x")
    with pytest.raises(DataError, match="lack column 'zz'"):
        table.column("zz")
    dup = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    with pytest.raises(DataError, match="duplicated"):
        as_table(dup).column("a")


def test_design_on_a_table_equals_the_design_on_the_frame() -> None:
    data = _data()
    cols = {c: column_from_series(data[c]) for c in data.columns}
    table = ColumnTable.from_columns(len(data), cols)
    X1, s1 = build_design("x * f + s + b", data)
    X2, s2 = build_design("x * f + s + b", table)
    np.testing.assert_array_equal(X1, X2)
    assert s1.names == s2.names
    # R: model.matrix(~ x * f + s + b) column names
    assert s1.names == ["(Intercept)", "x", "fb", "fc", "sv", "bTRUE", "x:fb", "x:fc"]


def test_same_rhs_twice_gives_equal_independent_results() -> None:
    data = _data()
    X1, s1 = build_design("0 + f + x", data)
    X1[:] = -1.0
    s1.names.append("poison")
    s1.factor_levels["f"].append("poison")
    s1.term_names.clear()
    X2, s2 = build_design("0 + f + x", data)
    # R: model.matrix(~ 0 + f + x) has fa, fb, fc (indicators: no intercept) and x
    assert s2.names == ["fa", "fb", "fc", "x"]
    assert s2.term_names == ["f", "x"]
    assert s2.factor_levels == {"f": ["a", "b", "c"]}
    np.testing.assert_array_equal(X2[:, 0], [1, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(X2[:, 3], data["x"].to_numpy(dtype=float))


def test_cached_plan_follows_the_columns() -> None:
    data = _data()
    build_design("x", data)
    with pytest.raises(FormulaError):
        build_design("x", data.drop(columns="x"))


def test_response_is_a_new_array_and_the_parse_is_reused() -> None:
    data = _data()
    table = as_table(data)
    y1 = evaluate_response("y", table)
    y1[:] = 0.0
    np.testing.assert_array_equal(evaluate_response("y", table), data["y"].to_numpy())
    np.testing.assert_array_equal(data["y"].to_numpy(), [1.0, 2.0, 4.0, 3.0, 5.0, 7.0])
    cb = evaluate_response("cbind(x, 2 - x)", table)
    np.testing.assert_array_equal(cb, np.column_stack([[0, 1, 2] * 2, [2, 1, 0] * 2]))
    ind = evaluate_response("s", data, factor_as_indicator=True)
    np.testing.assert_array_equal(ind, [0, 1, 0, 1, 0, 1])


def test_factor_column_is_refused_in_arithmetic() -> None:
    with pytest.raises(FormulaError, match="factor"):
        evaluate_response("log(f)", _data())


def test_column_is_frozen() -> None:
    col = Column("numeric", np.zeros(2))
    with pytest.raises(AttributeError):
        col.kind = "factor"  # type: ignore[misc]
