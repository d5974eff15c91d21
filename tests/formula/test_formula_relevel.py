"""relevel() inside a formula (issue 23 item 7): R's relevel(f, "b") / relevel(f, ref = "b")
as a formula variable, parsed without ever evaluating text."""

from __future__ import annotations

import pandas as pd
import pytest

from mixedfx.formula import FormulaError, build_design, parse_formula

COLS = ["y", "f", "x", "o", "g"]


@pytest.fixture
def data() -> pd.DataFrame:
    return pd.DataFrame({
        "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "f": ["a", "b", "c", "a", "b", "c"],
        "x": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0],
        "o": pd.Categorical(["lo", "hi", "lo", "hi", "lo", "hi"], categories=["lo", "hi"],
                            ordered=True),
        "g": ["u", "u", "u", "v", "v", "v"],
    })


@pytest.mark.parametrize(("rhs", "names"), [
    ('relevel(f, "b")', ["(Intercept)", 'relevel(f, "b")a', 'relevel(f, "b")c']),
    ("relevel(f, 'c')", ["(Intercept)", 'relevel(f, "c")a', 'relevel(f, "c")b']),
    ('relevel(f, ref = "c")', ["(Intercept)", 'relevel(f, ref = "c")a',
                               'relevel(f, ref = "c")b']),
    ("relevel(f, 2)", ["(Intercept)", "relevel(f, 2)a", "relevel(f, 2)c"]),
    ('relevel(factor(x), "3")', ["(Intercept)", 'relevel(factor(x), "3")1',
                                 'relevel(factor(x), "3")2']),
])
def test_relevel_column_names_as_r(data: pd.DataFrame, rhs: str, names: list[str]) -> None:
    X, spec = build_design(rhs, data)
    assert list(spec.names) == names
    assert X.shape == (6, 3)


def test_relevel_codes_against_the_new_reference(data: pd.DataFrame) -> None:
    X, _ = build_design('0 + relevel(f, "b")', data)
    # levels b, a, c: row 0 is "a" -> second column
    assert X[0].tolist() == [0.0, 1.0, 0.0]
    assert X[1].tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize(("formula", "message"), [
    ('y ~ relevel(f, "z")', "'ref' must be an existing level"),
    ('y ~ relevel(x, "1")', r"only for \(unordered\) factors: column 'x' is numeric"),
    ('y ~ relevel(o, "hi")', "only for unordered factors"),
    ("y ~ relevel(f, 4)", "must be in 1:3"),
])
def test_relevel_errors_at_design_time(data: pd.DataFrame, formula: str, message: str) -> None:
    p = parse_formula(formula, COLS)
    with pytest.raises(FormulaError, match=message):
        build_design(p.fixed_rhs, data)


@pytest.mark.parametrize(("formula", "message"), [
    ('y ~ f + "a"', "string literals are not allowed"),
    ('y ~ log("a")', "string literals are not allowed"),
    ('y ~ relevel(f, reff = "a")', "'=' .* not allowed"),
    ('y ~ relevel(f, ref == "a")', "'=' .* not allowed"),
    ("y ~ relevel(f, x)", "relevel\\(\\) takes a factor and its reference level"),
    ('y ~ relevel("a", f)', "string literals are not allowed"),
    ('y ~ I(relevel(f, "a"))', "relevel\\(\\) is not allowed here"),
    ('y ~ relevel(f, "a\\"b")', "escapes and line breaks are not allowed"),
])
def test_strings_only_as_relevels_level(formula: str, message: str) -> None:
    with pytest.raises(FormulaError, match=message):
        parse_formula(formula, COLS)


def test_a_level_holding_a_double_quote() -> None:
    """A single-quoted level may hold '"'; its label keeps single quotes, so the deparsed
    term parses again (formulas take no escapes)."""
    d = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "f": ['a"b', "c", 'a"b', "c"]})
    _, spec = build_design("relevel(f, 'c')", d)
    assert list(spec.names) == ["(Intercept)", 'relevel(f, "c")a"b']
    _, spec = build_design("relevel(f, 'a\"b')", d)
    assert list(spec.names) == ["(Intercept)", "relevel(f, 'a\"b')c"]
