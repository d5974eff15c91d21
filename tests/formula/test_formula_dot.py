"""lme4's `.` in a formula (issue 23 item 7): all columns but the response, in data order,
grouping variables included (R: tests/reference/extra/formula_conveniences)."""

from __future__ import annotations

import pytest

from mixedfx.formula import FormulaError, parse_formula
from mixedfx.formula.dot import expand_dot

COLS = ["Reaction", "Days", "f", "x", "Subject"]


def test_dot_is_every_column_but_the_response() -> None:
    assert expand_dot("Reaction ~ . + (1 | Subject)", COLS) == \
        "Reaction ~ (Days + f + x + Subject) + (1 | Subject)"
    p = parse_formula("Reaction ~ . + (1 | Subject)", COLS)
    assert p.fixed_terms == ("Days", "f", "x", "Subject")     # lme4 keeps the grouping var
    assert p.text == "Reaction ~ . + (1 | Subject)"           # formula(m) keeps the dot
    assert p.expanded == "Reaction ~ (Days + f + x + Subject) + (1 | Subject)"


def test_dot_with_term_algebra() -> None:
    assert parse_formula("Reaction ~ . - Subject + (1 | Subject)", COLS).fixed_terms == \
        ("Days", "f", "x")
    assert parse_formula("Reaction ~ .^2 - Subject + (1 | Subject)",
                         ["Reaction", "a", "b", "Subject"]).fixed_terms == \
        ("a", "b", "a:b", "a:Subject", "b:Subject")             # R's terms of .^2 - Subject
    assert parse_formula("Reaction ~ x + . + (1 | Subject)", COLS).fixed_terms[:2] == \
        ("x", "Days")                                         # first appearance, as R


def test_no_dot_leaves_the_formula_alone() -> None:
    assert expand_dot("Reaction ~ Days + (1 | Subject)", COLS) is None
    assert parse_formula("Reaction ~ Days + (1 | Subject)", COLS).expanded is None
    # a column literally named "." is data, not the placeholder
    assert expand_dot("y ~ . + (1 | g)", ["y", ".", "g"]) is None


def test_dot_quotes_non_syntactic_names() -> None:
    assert expand_dot("y ~ .", ["y", "weight (kg)", "a"]) == "y ~ (`weight (kg)` + a)"


@pytest.mark.parametrize(("formula", "message"), [
    ("log(Reaction) ~ . + (1 | Subject)", r"with the response 'log\(Reaction\)'"),
    ("cbind(Days, x) ~ .", "use the response itself as a predictor"),
])
def test_dot_with_a_transformed_response_is_refused(formula: str, message: str) -> None:
    with pytest.raises(FormulaError, match=message):
        parse_formula(formula, COLS)


def test_dot_without_other_columns() -> None:
    with pytest.raises(FormulaError, match="stands for no column"):
        parse_formula("y ~ .", ["y"])
