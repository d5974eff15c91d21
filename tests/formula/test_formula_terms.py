"""R's terms.formula algebra: expansion, term order, labels and TermCode."""

from __future__ import annotations

import pytest

from mixedfx.formula.syntax import parse_text
from mixedfx.formula.terms import expand_terms, term_codes

COLS = ["a", "b", "c", "x", "z"]


def labels(rhs: str) -> tuple[bool, tuple[str, ...]]:
    info = expand_terms(parse_text(rhs, COLS, mode="rhs"), rhs)
    return info.intercept, info.term_labels


@pytest.mark.parametrize(
    ("rhs", "intercept", "expected"),
    [
        ("a + b", True, ("a", "b")),
        ("a * b", True, ("a", "b", "a:b")),
        ("a:b + a", True, ("a", "a:b")),
        ("b:a + a", True, ("a", "b:a")),
        ("a + b:a", True, ("a", "a:b")),
        ("(a + b + c)^2", True, ("a", "b", "c", "a:b", "a:c", "b:c")),
        ("(a + b + c)^3", True, ("a", "b", "c", "a:b", "a:c", "b:c", "a:b:c")),
        ("a/b", True, ("a", "a:b")),
        ("(a + x)/b", True, ("a", "x", "a:x:b")),
        ("a %in% b", True, ("a:b",)),
        ("a * b - a", True, ("b", "a:b")),
        ("a*b*c - a:b:c", True, ("a", "b", "c", "a:b", "a:c", "b:c")),
        ("0 + a", False, ("a",)),
        ("a - 1", False, ("a",)),
        ("-1 + a", False, ("a",)),
        ("a + 0", False, ("a",)),
        ("a - 0", True, ("a",)),
        ("1", True, ()),
        ("0", False, ()),
        ("x^2", True, ("x",)),
        ("a + a", True, ("a",)),
        ("x:z + z:x", True, ("x:z",)),
        ("log(x) * a", True, ("log(x)", "a", "log(x):a")),
        ("I(x^2) + I(x ^ 2)", True, ("I(x^2)",)),
        ("a - (b + 1)", False, ("a",)),
    ],
)
def test_expansion(rhs: str, intercept: bool, expected: tuple[str, ...]) -> None:
    assert labels(rhs) == (intercept, expected)


def test_term_codes_follow_r() -> None:
    # ~ a:b  : neither margin present -> both coded by indicators
    assert term_codes(((0, 1),)) == [{0: 2, 1: 2}]
    # ~ a + a:b : b's margin a is present -> contrasts for b, indicators for a
    assert term_codes(((0,), (0, 1))) == [{0: 1}, {0: 2, 1: 1}]
    # ~ a * b : contrasts everywhere
    assert term_codes(((0,), (1,), (0, 1))) == [{0: 1}, {1: 1}, {0: 1, 1: 1}]
