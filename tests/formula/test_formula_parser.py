"""parse_formula: lme4's findbars / nobars / expandDoubleVerts / expandSlash semantics.

Expected values are what lme4 1.1-31 prints for ``findbars()`` and ``nobars()``.
"""

from __future__ import annotations

import pytest

from mixedfx.formula import FormulaError, ParsedFormula, RandomBar, parse_formula

COLS = ["y", "x", "z", "g", "h", "k", "a", "b", "c", "t", "s", "n", "Reaction", "Days", "Subject"]


def bars(p: ParsedFormula) -> list[str]:
    return [b.text for b in p.bars]


@pytest.mark.parametrize(
    ("formula", "fixed", "expected_bars"),
    [
        ("y ~ x + (x | g)", "x", ["x | g"]),
        ("y ~ (1 | g)", "1", ["1 | g"]),
        ("y ~ 1 + x + (1 + x | g)", "1 + x", ["1 + x | g"]),
        ("y ~ x + (0 + x | g) + (x - 1 | h)", "x", ["0 + x | g", "x - 1 | h"]),
        ("y ~ x + (1 | g) + (1 | h)", "x", ["1 | g", "1 | h"]),
        ("y ~ (1|g)+x", "x", ["1 | g"]),
        ("y ~ x+(1+x|g)+(1|a:b)", "x", ["1 + x | g", "1 | a:b"]),
        ("y ~ (x + z | g)", "1", ["x + z | g"]),
        ("y ~ 0 + x + (1 | g)", "0 + x", ["1 | g"]),
        ("y ~ x + (1 | g) - 1", "x - 1", ["1 | g"]),
        ("y ~ -1 + x + (1 | g)", "-1 + x", ["1 | g"]),
        ("y ~ x * z + (1 | g)", "x * z", ["1 | g"]),
        ("y ~ x + ((1 | g) + (1 | h))", "x", ["1 | g", "1 | h"]),
        ("y ~ I(x**2) + log(x+1) + (1 | g)", "I(x^2) + log(x + 1)", ["1 | g"]),
        ("y ~ poly(x, 2) + (1 | g)", "poly(x, 2)", ["1 | g"]),
        ("y~x+(1|g)", "x", ["1 | g"]),
        ("y ~ x +\n   (1 | g)", "x", ["1 | g"]),
    ],
)
def test_fixed_part_and_bars(formula: str, fixed: str, expected_bars: list[str]) -> None:
    p = parse_formula(formula, COLS)
    assert p.text == formula
    assert p.fixed_rhs == fixed
    assert bars(p) == expected_bars


@pytest.mark.parametrize(
    ("formula", "expected_bars"),
    [
        ("y ~ (1 + x + z || g)", ["1 | g", "0 + x | g", "0 + z | g"]),
        ("y ~ (x + z || g)", ["1 | g", "0 + x | g", "0 + z | g"]),
        ("y ~ (0 + x + z || g)", ["0 + x | g", "0 + z | g"]),
        ("y ~ (x - 1 || g)", ["0 + x | g"]),
        ("y ~ (x || g)", ["1 | g", "0 + x | g"]),
        ("y ~ (1 || g)", ["1 | g"]),
        # lme4 uses the term labels of the left side, interactions included
        ("y ~ (x * z || g)", ["1 | g", "0 + x | g", "0 + z | g", "0 + x:z | g"]),
    ],
)
def test_double_bar_expansion(formula: str, expected_bars: list[str]) -> None:
    assert bars(parse_formula(formula, COLS)) == expected_bars


def test_nested_grouping_two_levels() -> None:
    p = parse_formula("y ~ (1 | a/b)", COLS)
    assert p.bars == (RandomBar("1", ("b", "a"), "b:a"), RandomBar("1", ("a",), "a"))


def test_nested_grouping_three_levels_uses_lme4_names() -> None:
    # lme4: names(ngrps(fit)) == c("c:(b:a)", "b:a", "a")
    p = parse_formula("y ~ (x | a/b/c)", COLS)
    assert [b.group_name for b in p.bars] == ["c:(b:a)", "b:a", "a"]
    assert [b.group_vars for b in p.bars] == [("c", "b", "a"), ("b", "a"), ("a",)]
    assert all(b.lhs == "x" for b in p.bars)


def test_interaction_grouping() -> None:
    (bar,) = parse_formula("y ~ (1 | a:b)", COLS).bars
    assert bar.group_name == "a:b"
    assert bar.group_vars == ("a", "b")


def test_slash_with_interaction_on_right() -> None:
    # a/b:c is a/(b:c): lme4 gives (1 | b:c:a) and (1 | a)
    p = parse_formula("y ~ (1 | a/b:c)", COLS)
    assert bars(p) == ["1 | b:c:a", "1 | a"]
    assert p.bars[0].group_vars == ("b", "c", "a")


def test_double_bar_then_slash_order() -> None:
    # lme4 expands || first, then / for each bar
    p = parse_formula("y ~ (1 | g) + (x || h/k)", COLS)
    assert bars(p) == ["1 | g", "1 | k:h", "1 | h", "0 + x | k:h", "0 + x | h"]


def test_crossed_bars() -> None:
    p = parse_formula("y ~ 1 + (1 | g) + (1 | h)", COLS)
    assert [b.group_name for b in p.bars] == ["g", "h"]
    assert p.fixed_rhs == "1"


def test_intercept_flag_and_terms() -> None:
    assert parse_formula("y ~ x + (1|g)", COLS).intercept is True
    assert parse_formula("y ~ 0 + x + (1|g)", COLS).intercept is False
    assert parse_formula("y ~ x - 1 + (1|g)", COLS).intercept is False
    assert parse_formula("y ~ x*z + (1|g)", COLS).fixed_terms == ("x", "z", "x:z")


def test_offsets_are_removed_from_fixed_part() -> None:
    p = parse_formula("y ~ x + offset(log(t)) + (1 | g)", COLS)
    assert p.fixed_rhs == "x"
    assert p.offsets == ("log(t)",)
    assert "t" in p.variables


def test_only_offset_and_bars_leaves_intercept() -> None:
    p = parse_formula("y ~ offset(t) + (1 | g)", COLS)
    assert p.fixed_rhs == "1"
    assert p.offsets == ("t",)


@pytest.mark.parametrize(
    ("formula", "response"),
    [
        ("y ~ x", "y"),
        ("log(y) ~ x", "log(y)"),
        ("cbind(s, n - s) ~ x + (1 | g)", "cbind(s, n - s)"),
        ("cbind(s,n-s) ~ x", "cbind(s, n - s)"),
        ("s/n ~ x", "s/n"),
        ("~ x + (1 | g)", None),
    ],
)
def test_response(formula: str, response: str | None) -> None:
    assert parse_formula(formula, COLS).response == response


def test_fixed_formula_property() -> None:
    p = parse_formula("Reaction ~ Days + (Days | Subject)", COLS)
    assert p.fixed_formula == "Reaction ~ Days"
    assert p.group_vars == ("Subject",)


def test_variables_in_order_of_appearance() -> None:
    p = parse_formula("cbind(s, n - s) ~ x + log(z) + (1 + x | g) + (1 | a/b)", COLS)
    assert p.variables == ("s", "n", "x", "z", "g", "a", "b")


def test_variables_include_bar_lhs_and_grouping() -> None:
    p = parse_formula("y ~ 1 + (0 + z | g)", COLS)
    assert p.variables == ("y", "z", "g")


def test_r_style_dotted_names() -> None:
    cols = ["Sepal.Length", "Sepal.Width", "Species"]
    p = parse_formula("Sepal.Length ~ Sepal.Width + (1 | Species)", cols)
    assert p.response == "Sepal.Length"
    assert p.fixed_rhs == "Sepal.Width"
    assert p.variables == ("Sepal.Length", "Sepal.Width", "Species")


def test_longest_column_match_for_dotted_names() -> None:
    p = parse_formula("y ~ x.1 + x + (1 | g)", ["y", "x", "x.1", "g"])
    assert p.variables == ("y", "x.1", "x", "g")
    assert p.fixed_terms == ("x.1", "x")


def test_backticked_names() -> None:
    cols = ["y", "weird name", "g"]
    p = parse_formula("y ~ `weird name` + (`weird name` | g)", cols)
    assert p.fixed_rhs == "`weird name`"
    assert p.bars[0].lhs == "`weird name`"
    assert p.variables == ("y", "weird name", "g")


def test_column_with_spaces_without_backticks() -> None:
    cols = ["y", "weight (kg)", "g"]
    p = parse_formula("y ~ weight (kg) + (1 | g)", cols)
    assert p.variables == ("y", "weight (kg)", "g")
    assert p.fixed_rhs == "`weight (kg)`"


def test_column_named_like_a_function() -> None:
    p = parse_formula("y ~ log + log(x) + (1 | g)", ["y", "log", "x", "g"])
    assert p.fixed_terms == ("log", "log(x)")


def test_columns_may_be_a_pandas_index() -> None:
    pd = pytest.importorskip("pandas")
    p = parse_formula("y ~ x + (1 | g)", pd.Index(["y", "x", "g"]))
    assert p.variables == ("y", "x", "g")


def test_str_of_bar() -> None:
    (bar,) = parse_formula("y ~ (1 + x | g)", COLS).bars
    assert str(bar) == "(1 + x | g)"


def test_glmmtmb_structures_are_refused_by_default() -> None:
    cols = ["gpa", "occasion", "occas", "student"]
    with pytest.raises(FormulaError, match="covariance structure 'ar1\\(\\)'"):
        parse_formula("gpa ~ occasion + ar1(0 + occas | student) + (1 | student)", cols)


def test_glmmtmb_structures_on_request() -> None:
    cols = ["gpa", "occasion", "occas", "student"]
    p = parse_formula(
        "gpa ~ occasion + ar1(0 + occas | student) + (1 | student)",
        cols,
        covariance_structures=True,
    )
    assert p.fixed_rhs == "occasion"
    assert p.bars == (
        RandomBar("0 + occas", ("student",), "student", "ar1"),
        RandomBar("1", ("student",), "student", "us"),
    )
    assert str(p.bars[0]) == "ar1(0 + occas | student)"
    p = parse_formula("gpa ~ 1 + diag(occasion | student/occas)", cols, covariance_structures=True)
    assert [(b.text, b.structure) for b in p.bars] == [
        ("occasion | occas:student", "diag"),
        ("occasion | student", "diag"),
    ]


def test_us_structure_is_plain_lme4() -> None:
    p = parse_formula("y ~ us(1 + x | g)", COLS)
    assert p.bars == (RandomBar("1 + x", ("g",), "g"),)


@pytest.mark.parametrize("formula", ["y ~ ar1(x)", "y ~ x + log(ar1(x | g))", "y ~ ar1(x || g)"])
def test_structure_must_wrap_a_bar(formula: str) -> None:
    with pytest.raises(FormulaError, match="must wrap a random-effects term"):
        parse_formula(formula, COLS, covariance_structures=True)


def test_hsb_and_nested_reference_formulas() -> None:
    cols = ["mathach", "meanses", "cses", "sector", "school"]
    p = parse_formula("mathach ~ meanses * cses + sector * cses + (cses | school)", cols)
    assert p.fixed_terms == ("meanses", "cses", "sector", "meanses:cses", "cses:sector")
    assert bars(p) == ["cses | school"]
    p = parse_formula("strength ~ 1 + (1 | batch/cask)", ["strength", "batch", "cask"])
    assert bars(p) == ["1 | cask:batch", "1 | batch"]
    assert p.bars[0].group_vars == ("cask", "batch")
