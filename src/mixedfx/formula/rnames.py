"""R-style text: syntactic names, number deparsing, factor level labels, level sorting.

These helpers reproduce how R prints things that end up in coefficient names:

* :func:`quote_name` backticks a name unless it is syntactic in R
  (``Sepal.Length`` stays as is, ``weird name`` becomes ``\\`weird name\\```);
* :func:`format_number` is R's ``deparse()`` / ``as.character()`` of a double
  (15 significant digits, fixed or scientific notation whichever is shorter:
  ``1e+05``, ``0.001``, ``1e-04``, ``123456``);
* :func:`format_level` is ``as.character()`` of a value that becomes a factor level;
* :func:`r_sort_levels` sorts strings the way R's ``sort()`` does in a typical
  ICU / ``en_US`` collation (punctuation, then digits, then letters; case-insensitive
  first, lower case before upper case on ties).
"""

from __future__ import annotations

import math
import numbers
import unicodedata
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import DataError

__all__ = [
    "R_RESERVED",
    "format_level",
    "format_number",
    "is_syntactic_name",
    "object_labels",
    "quote_name",
    "r_level_order",
    "r_sort_levels",
]

R_RESERVED = frozenset(
    {
        "if", "else", "repeat", "while", "function", "for", "next", "break", "in",
        "TRUE", "FALSE", "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_",
        "NA_character_", "NA_complex_",
    }
)  # fmt: skip


def is_syntactic_name(name: str) -> bool:
    """True when R would print ``name`` without backticks."""
    if not name or name in R_RESERVED:
        return False
    first = name[0]
    if not (first.isalpha() or first == "."):
        return False
    if first == "." and len(name) > 1 and name[1].isdigit():
        return False
    return all(ch.isalnum() or ch in "._" for ch in name)


def quote_name(name: str) -> str:
    """The name as R deparses it: backticked unless syntactic."""
    return name if is_syntactic_name(name) else f"`{name}`"


def format_number(value: float) -> str:
    """R's ``deparse()`` of a double: 15 significant digits, shorter of fixed/scientific."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mag = abs(value)
    target = float(f"{mag:.14e}")
    digits = 15
    for d in range(1, 16):
        if float(f"{mag:.{d - 1}e}") == target:
            digits = d
            break
    mantissa, exp_text = f"{mag:.{digits - 1}e}".split("e")
    exponent = int(exp_text)
    sci = f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    decimals = max(0, digits - 1 - exponent)
    fixed = f"{mag:.{decimals}f}"
    return sign + (fixed if len(fixed) <= len(sci) else sci)


def format_level(value: Any) -> str:
    """``as.character(value)`` for a value that becomes a factor level."""
    if type(value) is str:      # the common case (category labels), without the checks below
        return value
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return format_number(float(value))
    return str(value)


def _char_key(ch: str) -> tuple[int, str]:
    if ch.isdigit():
        return (1, ch)
    if ch.isalpha():
        base = unicodedata.normalize("NFKD", ch)[0].casefold()
        return (2, base)
    return (0, ch)


def _collation_key(text: str) -> tuple[Any, ...]:
    primary = tuple(_char_key(ch) for ch in text)
    accents = tuple(unicodedata.normalize("NFKD", ch.casefold())[1:] for ch in text)
    case = tuple(0 if not ch.isupper() else 1 for ch in text)
    return (primary, accents, case, text)


def _ascii_tables() -> tuple[dict[int, str], dict[int, str]]:
    """For ASCII text, `_collation_key`'s primary and case parts as one character per input
    character (`str.translate` tables): the primary key (class, base) as the code point
    1 + class·128 + ord(base) (order preserving and one-to-one on those pairs, never NUL),
    case as "0" / "1"."""
    primary: dict[int, str] = {}
    case: dict[int, str] = {}
    for o in range(128):
        cls, base = _char_key(chr(o))
        primary[o] = chr(1 + cls * 128 + ord(base))
        case[o] = "1" if chr(o).isupper() else "0"
    return primary, case


_ASCII_PRIMARY, _ASCII_CASE = _ascii_tables()


def r_level_order(texts: list[str]) -> list[int]:
    """The positions of the distinct strings `texts` in R's order (`r_sort_levels`'s rule).

    When every string is ASCII, `_collation_key` is (primary, accents, case, text) with the
    accents all empty, and that tuple order is the order of the one string
    primary + NUL + case + NUL + text (the translated primary holds no NUL, so a primary
    that is a prefix of another sorts first, as the shorter tuple does; equal primaries
    have equal lengths, so the case parts are compared next, then the text): compared by
    C string comparisons. Otherwise the full key is used for all of them."""
    if "".join(texts).isascii():
        keys: list[Any] = [f"{t.translate(_ASCII_PRIMARY)}\0{t.translate(_ASCII_CASE)}\0{t}"
                           for t in texts]
    else:
        keys = [_collation_key(t) for t in texts]
    return sorted(range(len(texts)), key=keys.__getitem__)


def r_sort_levels(values: Iterable[Any]) -> list[Any]:
    """Sorted unique values as R's ``sort(unique(x))`` orders them.

    Numbers sort numerically, booleans FALSE before TRUE, strings by an
    approximation of ICU collation (what R uses in UTF-8 locales).
    Missing values (None / NaN) are dropped.
    """
    uniq: list[Any] = []
    seen: set[Any] = set()
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        if v is np.nan:
            continue
        if v not in seen:
            seen.add(v)
            uniq.append(v)
    if all(isinstance(v, (bool, np.bool_)) for v in uniq):
        return sorted(uniq)
    if all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
        for v in uniq
    ):
        return sorted(uniq)
    return [uniq[i] for i in r_level_order([str(v) for v in uniq])]


def _kind(v: object) -> str:
    if isinstance(v, str):
        return "string"
    if isinstance(v, (bool, np.bool_)):
        return "logical"
    return "number" if isinstance(v, numbers.Number) else type(v).__name__


def object_labels(s: pd.Series) -> pd.Series:
    """Each value's level label as R's `as.character` makes it (`format_level`: 1 and 1.0 give
    "1", True gives "TRUE"), missing values None. Values of different kinds that would print
    alike (1 and "1", True and "TRUE") are refused: as factor levels they would merge."""
    first: dict[str, object] = {}
    out: list[object] = []
    for v in s.tolist():
        if v is None or (not isinstance(v, str) and pd.api.types.is_scalar(v) and pd.isna(v)):
            out.append(None)
            continue
        label = v if isinstance(v, str) else format_level(v)
        seen = first.setdefault(label, v)
        if _kind(seen) != _kind(v):
            raise DataError(
                f"column {s.name!r} holds {seen!r} ({type(seen).__name__}) and {v!r} "
                f"({type(v).__name__}), which would become the same factor level {label!r}; "
                f"convert the column to one type first, e.g. data[{s.name!r}].astype(str)")
        out.append(label)
    return pd.Series(out, index=s.index, name=s.name, dtype=object)
