"""R-style text helpers: number deparsing, names, level labels, sorting."""

from __future__ import annotations

import random
import string

import numpy as np
import pytest

from mixedfx.formula import format_level, quote_name, r_sort_levels
from mixedfx.formula.rnames import (
    _collation_key,
    format_number,
    is_syntactic_name,
    r_level_order,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.0, "2"),
        (0.5, "0.5"),
        (0.1, "0.1"),
        (100000.0, "1e+05"),
        (123456.0, "123456"),
        (0.001, "0.001"),
        (0.0001, "1e-04"),
        (1e-20, "1e-20"),
        (1e15, "1e+15"),
        (123456789012.0, "123456789012"),
        (2.5, "2.5"),
        (1 / 3, "0.333333333333333"),
        (0.0, "0"),
        (-1.5, "-1.5"),
    ],
)
def test_format_number_matches_r_deparse(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("Days", "Days"),
        ("Sepal.Length", "Sepal.Length"),
        (".hidden", ".hidden"),
        ("x_1", "x_1"),
        ("weird name", "`weird name`"),
        ("_x", "`_x`"),
        ("1x", "`1x`"),
        (".1x", "`.1x`"),
        ("if", "`if`"),
        ("TRUE", "`TRUE`"),
    ],
)
def test_quote_name(name: str, quoted: str) -> None:
    assert quote_name(name) == quoted
    assert is_syntactic_name(name) == (name == quoted)


def test_format_level() -> None:
    assert format_level(True) == "TRUE"
    assert format_level(np.bool_(False)) == "FALSE"
    assert format_level(3) == "3"
    assert format_level(np.int64(100000)) == "100000"
    assert format_level(100000.0) == "1e+05"
    assert format_level(2.5) == "2.5"
    assert format_level("abc") == "abc"


def test_r_sort_levels() -> None:
    # R (UTF-8 collation): sort(c("b","B","a","A","_x","1","Z10","Z9"))
    values = ["b", "B", "a", "A", "_x", "1", "Z10", "Z9", "a", None]
    assert r_sort_levels(values) == ["_x", "1", "a", "A", "b", "B", "Z10", "Z9"]
    assert r_sort_levels([3, 1, 2, 1]) == [1, 2, 3]
    assert r_sort_levels([2.5, float("nan"), 1.0]) == [1.0, 2.5]
    assert r_sort_levels([True, False]) == [False, True]


def test_r_level_order_fast_ascii_key_is_the_collation_key_order() -> None:
    # R (UTF-8): sort(c("a10","a9","B","a","b","A","_x","Z10","Z9","1","10","9","b.2","b-1"))
    texts = ["a10", "a9", "B", "a", "b", "A", "_x", "Z10", "Z9", "1", "10", "9", "b.2", "b-1"]
    assert [texts[i] for i in r_level_order(texts)] == [
        "_x", "1", "10", "9", "a", "A", "a10", "a9", "b", "B", "b-1", "b.2", "Z10", "Z9"]
    rng = random.Random(5)
    alphabet = string.printable[:-5] + "\x00éÉàß"
    for ascii_only in (True, False):
        chars = alphabet[:-4] if ascii_only else alphabet
        texts = list({"".join(rng.choice(chars) for _ in range(rng.randint(0, 5)))
                      for _ in range(500)})
        assert [texts[i] for i in r_level_order(texts)] == sorted(texts, key=_collation_key)
