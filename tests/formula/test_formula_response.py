"""evaluate_response: plain columns, transformations and cbind()."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedfx.formula import FormulaError, evaluate_response


@pytest.fixture
def data() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "y": [1.0, 2.0, 4.0],
            "s": [1, 3, 0],
            "n": [4, 5, 2],
            "ok": [True, False, True],
            "f": pd.Categorical(["no", "yes", "no"], categories=["no", "yes"]),
            "Sepal.Length": [5.0, 6.0, 7.0],
        }
    )


def test_plain_column(data: pd.DataFrame) -> None:
    y = evaluate_response("y", data)
    assert y.dtype == np.float64 and y.shape == (3,)
    np.testing.assert_array_equal(y, [1.0, 2.0, 4.0])


def test_transformation(data: pd.DataFrame) -> None:
    np.testing.assert_allclose(evaluate_response("log(y)", data), np.log([1.0, 2.0, 4.0]))
    np.testing.assert_allclose(evaluate_response("s/n", data), [0.25, 0.6, 0.0])
    np.testing.assert_allclose(evaluate_response("sqrt(y) + 1", data), np.sqrt([1, 2, 4]) + 1)
    np.testing.assert_allclose(evaluate_response("y^2", data), [1.0, 4.0, 16.0])
    np.testing.assert_allclose(evaluate_response("log(y, 2)", data), [0.0, 1.0, 2.0])


def test_cbind(data: pd.DataFrame) -> None:
    out = evaluate_response("cbind(s, n - s)", data)
    assert out.shape == (3, 2) and out.dtype == np.float64
    np.testing.assert_array_equal(out, [[1, 3], [3, 2], [0, 2]])


def test_logical_response_is_zero_one(data: pd.DataFrame) -> None:
    np.testing.assert_array_equal(evaluate_response("ok", data), [1.0, 0.0, 1.0])


def test_factor_response(data: pd.DataFrame) -> None:
    with pytest.raises(FormulaError, match="is a factor"):
        evaluate_response("f", data)
    np.testing.assert_array_equal(
        evaluate_response("f", data, factor_as_indicator=True), [0.0, 1.0, 0.0]
    )


def test_dotted_name(data: pd.DataFrame) -> None:
    np.testing.assert_array_equal(evaluate_response("Sepal.Length", data), [5.0, 6.0, 7.0])


def test_offset_expression(data: pd.DataFrame) -> None:
    np.testing.assert_allclose(evaluate_response("log(n)", data), np.log([4, 5, 2]))


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("yy", "unknown variable 'yy'"),
        ("y ~ s", "'~' is not allowed here"),
        ("cbind(s)", "cbind() takes 2 arguments"),
        ("y:s", "operator ':' is not allowed in the response"),
        ("factor(s)", "not allowed here"),
        ("log(cbind(s, n))", "cbind() is only allowed as the whole response"),
    ],
)
def test_errors(data: pd.DataFrame, expr: str, message: str) -> None:
    with pytest.raises(FormulaError) as info:
        evaluate_response(expr, data)
    assert message in str(info.value)


def test_cbind_matches_column_stack() -> None:
    # float columns filled in place, other parts through np.column_stack: the same values
    df = pd.DataFrame({"s": [1.0, 2.0, 3.0], "n": [4, 5, 6], "b": [True, False, True]})
    for expr, cols in [("cbind(s, n - s)", [df.s, df.n - df.s]), ("cbind(n, s)", [df.n, df.s]),
                       ("cbind(b, 1 - b)", [df.b.astype(float), 1 - df.b.astype(float)])]:
        got = evaluate_response(expr, df)
        want = np.column_stack([np.asarray(c, dtype=float) for c in cols])
        assert got.dtype == np.float64 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
