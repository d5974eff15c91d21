"""Malformed formulas raise FormulaError naming the problem and pointing at it."""

from __future__ import annotations

import pytest

from mixedfx.formula import FormulaError, parse_formula

COLS = ["Reaction", "Days", "Subject", "y", "x", "g"]


def caret_of(err: FormulaError) -> str:
    """The text above the caret line's carets."""
    lines = str(err).splitlines()
    shown, carets = lines[-2][2:], lines[-1][2:]
    start = len(carets) - len(carets.lstrip(" "))
    return shown[start : len(carets)]


@pytest.mark.parametrize(
    ("formula", "message", "pointed"),
    [
        ("Reaction Days", "missing '~'", None),
        ("y ~ (x | g", "unbalanced parentheses: '(' is never closed", "("),
        ("y ~ x) + (1|g)", "unbalanced parentheses: unmatched ')'", ")"),
        ("y ~ x + (|g)", "empty left side of '|'", "|"),
        ("y ~ x + (1|)", "empty right side of '|'", "|"),
        ("y ~ x + (1||)", "empty right side of '||'", "||"),
        ("y ~ x + 1|g", "must be enclosed in parentheses", "|"),
        ("y ~ foo(x) + (1|g)", "unknown function 'foo'", "foo"),
        ("y ~ x*(1|g)", "can only be added", "|"),
        ("y ~ x - (1|g)", "cannot be subtracted", "(1|g)"),
        ("y ~ x ~ g", "more than one '~'", "~"),
        ("y ~ x + 2", "invalid model term '2'", "2"),
        ("y ~ log(x:g)", "operator ':' is not allowed inside a function call", "x:g"),
        ("y ~ cbind(x, g)", "cbind() is only allowed as the whole response", "cbind(x, g)"),
        ("cbind(x) ~ g", "cbind() takes 2 arguments, got 1", "cbind(x)"),
        ("y ~ x + (1|log(g))", "invalid grouping factor", "log(g)"),
        ("y ~ x + ", "missing right operand of '+'", "+"),
        ("y ~ ()", "empty parentheses", "("),
        ("y ~ x + (0|g)", "has no effects on its left side", "0"),
        ("y ~ poly(x, 1.5)", "degree of poly()", "1.5"),
        ("log(y) ~ x + .", "'.' with the response 'log(y)'", "."),
        (". ~ x", "'.' (all other columns) may only appear on the right", "."),
        ("y ~ 2x", "malformed number or name '2x'", "2x"),
        ("y ~ x + (1 | (g/x))", "unparseable formula for grouping factor", "(g/x)"),
        ("y ~ x y", "unexpected 'y'", "y"),
        ("y ~ log()", "log() needs an argument", "("),
        ("y ~ x + offset(x):g", "offset() must be added", "offset(x)"),
        ("y ~ (x^2.5)", "invalid power", "2.5"),
        ("y ~ (x^1e400)", "invalid power", "1e400"),   # Inf (fuzz seed 20261204)
        ("y ~ x + (1 | g | x)", "nested '|'", "|"),
        ("", "empty formula", None),
        ("y ~ x %o% g", "operator '%o%' is not supported", "%o%"),
        ("y ~ (log(x) | g) + (1 | offset(x))", "invalid grouping factor", "offset(x)"),
    ],
)
def test_error_messages(formula: str, message: str, pointed: str | None) -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula(formula, COLS)
    err = info.value
    assert message in str(err)
    assert message in err.reason
    if pointed is not None:
        assert caret_of(err) == pointed


def test_unknown_variable_lists_columns_and_suggests() -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula("Reaction ~ Dayz + (Days | Subject)", COLS)
    text = str(info.value)
    assert "unknown variable 'Dayz' in formula" in text
    assert "available columns: Reaction, Days, Subject" in text
    assert "did you mean 'Days'?" in text
    assert caret_of(info.value) == "Dayz"
    assert info.value.start == 11 and info.value.end == 15


def test_unknown_variable_case_suggestion() -> None:
    with pytest.raises(FormulaError, match="did you mean 'Subject'"):
        parse_formula("Reaction ~ Days + (1 | SUBJECT)", COLS)


def test_unknown_grouping_variable() -> None:
    with pytest.raises(FormulaError, match="unknown variable 'G'"):
        parse_formula("y ~ x + (1 | G)", COLS)


def test_unknown_backticked_name() -> None:
    with pytest.raises(FormulaError, match="unknown variable 'not here'"):
        parse_formula("y ~ `not here` + (1 | g)", COLS)


def test_formula_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        parse_formula("y ~ (1 | g", COLS)


def test_caret_display_has_formula_and_marker() -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula("y ~ x + (|g)", COLS)
    lines = str(info.value).splitlines()
    assert lines[0] == "empty left side of '|'"
    assert lines[1] == "  y ~ x + (|g)"
    assert lines[2] == "           ^"


def test_non_string_formula() -> None:
    with pytest.raises(FormulaError, match="must be a string"):
        parse_formula(42, COLS)  # type: ignore[arg-type]


def test_huge_power_expands_at_once() -> None:
    """(a + b)^1e300 is (a + b)^2: the expansion stops once it stops growing (it looped)."""
    import mixedfx as mfx

    d = mfx.datasets.load("sleepstudy")
    d["x2"] = d["Days"] ** 0.5
    m = mfx.lmer("Reaction ~ (Days + x2)^1e300 + (1 | Subject)", d)
    assert list(m.fixef.index) == ["(Intercept)", "Days", "x2", "Days:x2"]
