"""The model frame's NumPy path (`frame.table`): missing values, factor encoding in R's level
order, the pandas frame built on demand, and the user's rows for row-wise results.

Expected values are R's (levels as R's `factor()` makes them in a UTF-8 locale, rows as
`na.omit` keeps them), written out by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from mixedfx.errors import DataError
from mixedfx.frame.model_frame import build_model_frame
from mixedfx.frame.rows import MissingDataWarning
from mixedfx.frame.table import FrameRecipe, missing_mask


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 24
    return pd.DataFrame({
        "y": rng.standard_normal(n),
        "x": rng.standard_normal(n),
        "g": [f"s{i % 6}" for i in range(n)],
        "f": ["b", "A", "a"] * 8,
    }, index=pd.Index([f"r{i}" for i in range(n)], name="row"))


def _frame(formula: str, data: pd.DataFrame, **kw: object):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingDataWarning)
        return build_model_frame(formula, data, **kw)


def test_string_levels_in_r_order_and_x_columns() -> None:
    mf = _frame("y ~ f + (1 | g)", _data())
    # R (en_US.UTF-8): levels(factor(c("b", "A", "a"))) is "a" "A" "b"
    assert mf.factor_levels["f"] == ["a", "A", "b"]
    assert mf.fixef_names == ["(Intercept)", "fA", "fb"]
    f = _data()["f"].to_numpy()
    np.testing.assert_array_equal(mf.X[:, 1], (f == "A").astype(float))
    np.testing.assert_array_equal(mf.X[:, 2], (f == "b").astype(float))


def test_missing_in_a_factor_drops_the_row_and_keeps_the_users_index() -> None:
    data = _data()
    data["g"] = data["g"].astype(object)
    data.loc["r3", "g"] = None
    data.loc["r5", "f"] = np.nan
    data.loc["r7", "x"] = np.nan
    mf = _frame("y ~ x + f + (1 | g)", data)
    kept = [r for r in data.index if r not in ("r3", "r5", "r7")]
    assert mf.n == 21 and mf.n_dropped == 3
    assert list(mf.rows.used_index) == kept
    np.testing.assert_array_equal(mf.y, data.loc[kept, "y"].to_numpy())
    fitted = mf.rowwise(np.arange(21.0))
    assert list(fitted.index) == kept


def test_categorical_with_unused_and_missing_levels() -> None:
    data = _data()
    data["g"] = pd.Categorical(data["g"], categories=["s9", *sorted(set(data["g"])), "zz"])
    data["g"] = data["g"].cat.set_categories(["s9", "s5", "s4", "s3", "s2", "s1", "s0", "zz"])
    codes = data["g"].cat.codes.to_numpy().copy()
    data.loc["r0", "g"] = np.nan
    mf = _frame("y ~ x + (1 | g)", data)
    term = mf.terms[0]
    # a categorical keeps its category order, without the unused ones
    assert term.levels == ["s5", "s4", "s3", "s2", "s1", "s0"]
    assert list(mf.frame["g"].cat.categories) == term.levels
    expected = np.array(["s9", "s5", "s4", "s3", "s2", "s1", "s0"])[codes[1:]]
    np.testing.assert_array_equal(np.array(term.levels)[term.codes], expected)


def test_bool_columns_are_factors_false_true() -> None:
    data = _data()
    data["b"] = np.arange(len(data)) % 3 == 0
    mf = _frame("y ~ b + (1 | g)", data)
    assert mf.factor_levels["b"] == ["FALSE", "TRUE"]
    assert mf.fixef_names == ["(Intercept)", "bTRUE"]
    np.testing.assert_array_equal(mf.X[:, 1], data["b"].to_numpy(dtype=float))


def test_nullable_boolean_with_missing() -> None:
    data = _data()
    data["b"] = pd.array([True, False, None] * 8, dtype="boolean")
    mf = _frame("y ~ b + (1 | g)", data)
    assert mf.n == 16 and mf.factor_levels["b"] == ["FALSE", "TRUE"]


def test_integer_grouping_column_levels_are_sorted_numbers() -> None:
    data = _data()
    data["id"] = np.repeat([10, 9, 100, 1], 6)
    mf = _frame("y ~ x + (1 | id)", data)
    assert mf.terms[0].levels == ["1", "9", "10", "100"]      # numeric order, R's labels
    assert "id" not in mf.factor_levels                       # not a factor in the frame
    assert mf.frame["id"].dtype == np.int64


def test_mixed_object_column_is_refused_as_before() -> None:
    data = _data()
    data["f"] = pd.Series([1, "1"] * 12, index=data.index, dtype=object)
    with pytest.raises(DataError, match="same factor level"):
        _frame("y ~ f + (1 | g)", data)


def test_pandas_frame_is_built_when_read_and_matches_the_rows_used() -> None:
    data = _data()
    data.attrs = {"name": "demo"}
    data.loc["r2", "x"] = np.nan
    mf = _frame("y ~ x + f + (1 | g)", data)
    assert isinstance(mf.__dict__["_frame_value"], FrameRecipe)   # not built by the fit
    frame = mf.frame
    kept = data.drop(index="r2")
    expected = pd.DataFrame({
        "y": kept["y"].to_numpy(), "x": kept["x"].to_numpy(),
        "f": pd.Categorical(kept["f"].to_numpy(), categories=["a", "A", "b"]),
        "g": pd.Categorical(kept["g"].to_numpy(), categories=[f"s{i}" for i in range(6)]),
    })
    pd.testing.assert_frame_equal(frame, expected)
    assert frame.attrs == {} and mf.frame is frame                # built once, then kept
    assert data.attrs == {"name": "demo"}                         # the user's data untouched


def test_transformation_nan_restart_keeps_positions() -> None:
    data = _data()
    data["z"] = np.linspace(-0.5, 2.0, len(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = build_model_frame("y ~ sqrt(z) + (1 | g)", data)
    kept = data.index[data["z"] >= 0]
    assert list(mf.rows.used_index) == list(kept)
    np.testing.assert_allclose(mf.X[:, 1], np.sqrt(data.loc[kept, "z"].to_numpy()))
    assert len(mf.frame) == len(kept)


def test_missing_mask_by_dtype() -> None:
    assert missing_mask(pd.Series([1, 2])) is None
    np.testing.assert_array_equal(missing_mask(pd.Series([1.0, np.nan, np.inf])),
                                  [False, True, False])
    np.testing.assert_array_equal(missing_mask(pd.Series(["a", None], dtype=object)),
                                  [False, True])
    np.testing.assert_array_equal(missing_mask(pd.Series(pd.Categorical(["a", None]))),
                                  [False, True])
    np.testing.assert_array_equal(missing_mask(pd.Series([1, None], dtype="Int64")),
                                  [False, True])
    for dtype in ("str", "string[pyarrow]", "string[python]"):
        np.testing.assert_array_equal(missing_mask(pd.Series(["a", None], dtype=dtype)),
                                      [False, True])
        assert missing_mask(pd.Series(["a", "b"], dtype=dtype)) is None


def test_changing_the_data_after_the_fit_does_not_change_the_model_frame() -> None:
    data = _data()
    y0 = data["y"].to_numpy().copy()
    mf = _frame("y ~ x + (1 | g)", data)
    data.loc["r0", "y"] = 1e6
    data["g"] = "one"
    np.testing.assert_array_equal(mf.frame["y"].to_numpy(), y0)
    assert list(mf.frame["g"].cat.categories) == [f"s{i}" for i in range(6)]
    np.testing.assert_array_equal(mf.y, y0)


def test_plain_columns_are_read_as_arrays_others_as_series() -> None:
    from mixedfx.frame.table import UsedColumn, read_columns
    data = _data()
    data["c"] = pd.Categorical(data["g"])
    data["i"] = np.arange(len(data))
    data["n"] = pd.array(np.arange(len(data)), dtype="Int64")
    cols, view = read_columns(data, ["y", "c", "i", "g", "n"])
    assert [type(cols[c]) for c in ("y", "c", "i")] == [UsedColumn] * 3
    assert all(isinstance(cols[c], pd.Series) for c in ("g", "n"))     # str, nullable
    assert view is not None and view is not data and view.attrs == {}
    assert not cols["y"].to_numpy().flags.writeable
    np.testing.assert_array_equal(cols["y"].to_numpy(), data["y"].to_numpy())
    assert read_columns(data, ["y", "i"])[1] is None          # all plain: no snapshot
    # text columns the model frame encodes as factors at once: arrays too
    data["o"] = data["g"].astype(object)
    cols, view = read_columns(data, ["y", "g", "o"], factors=["g", "o"])
    assert view is None and [type(cols[c]) for c in ("g", "o")] == [UsedColumn] * 2
    assert cols["o"].to_numpy(dtype=object).tolist() == data["g"].tolist()
    assert not cols["o"].all_finite() and cols["y"].all_finite()    # text cells get checked


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b)
    assert a.columns.name == b.columns.name and a.columns.dtype == b.columns.dtype
    assert a.flags.allows_duplicate_labels == b.flags.allows_duplicate_labels


@pytest.mark.parametrize("formula", ["y ~ x + (1 | c)", "y ~ x + i + (1 | c)",
                                     "cbind(k, m) ~ x + (1 | c)"])
def test_lazy_frame_from_copied_columns_equals_the_snapshot_one(monkeypatch, formula) -> None:
    import mixedfx.frame.table as table
    data = _data()
    data["c"] = pd.Categorical(data["g"], categories=[f"s{i}" for i in range(7)])
    data["i"] = np.arange(len(data)) % 5
    data["k"] = np.arange(len(data)) % 3
    data["m"] = 4
    data.loc["r3", "x"] = np.nan
    data.columns.name = "vars"
    data.flags.allows_duplicate_labels = False
    glm = formula.startswith("cbind")
    small = _frame(formula, data, glm=glm)
    assert small.__dict__["_frame_value"].data is None        # copied columns, no snapshot
    monkeypatch.setattr(table, "COPY_BYTES", -1)
    snap = _frame(formula, data, glm=glm)
    assert snap.__dict__["_frame_value"].data is not None
    _frames_equal(small.frame, snap.frame)
    assert small.frame.columns.name == "vars"
    monkeypatch.undo()
    # a str grouping column is encoded at once: read as its array, no snapshot either
    strings = _frame("y ~ x + (1 | g)", data)
    assert strings.__dict__["_frame_value"].data is None
    monkeypatch.setattr(table, "COPY_BYTES", -1)
    _frames_equal(strings.frame, _frame("y ~ x + (1 | g)", data).frame)


def test_changing_plain_columns_after_the_fit_does_not_change_the_model_frame() -> None:
    data = _data()
    data["c"] = pd.Categorical(data["g"])
    data["i"] = np.arange(len(data))
    mf = _frame("y ~ x + i + (1 | c)", data)
    before = mf.__dict__["_frame_value"]
    y0, i0 = data["y"].to_numpy().copy(), data["i"].to_numpy().copy()
    data.loc["r0", "y"] = 1e6
    data.loc["r1", "i"] = 99
    data.loc["r2", "c"] = "s5"
    assert mf.__dict__["_frame_value"] is before               # not built yet
    np.testing.assert_array_equal(mf.frame["y"].to_numpy(), y0)
    np.testing.assert_array_equal(mf.frame["i"].to_numpy(), i0)
    assert mf.frame["c"].iloc[2] == "s2"
    np.testing.assert_array_equal(mf.y, y0)
