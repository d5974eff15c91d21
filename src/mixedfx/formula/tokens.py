"""Tokenizer for R model formulas; the first line of defence against unsafe text.

The whole formula is tokenized before anything else looks at it, and only these
tokens exist:

* ``NAME``   an identifier (R rules: letters, digits, ``.`` and ``_``), or a
  backticked name. Whether it is a column or a function is decided by the parser;
  identifiers containing ``__`` are refused unless they are exactly a column name.
  A column whose name starts like an identifier but contains other characters
  (``weight (kg)``) is also recognised without backticks, longest match first,
  when the plain identifier read at that position is not a column.
* ``NUMBER`` a decimal literal (``1``, ``0.5``, ``.5``, ``1e-3``).
* ``OP``     one of ``~ + - * / ^ ** : | || %in%``.
* ``(`` ``)`` ``,``.
* ``STRING`` a quoted level name, and ``=``, only as ``relevel()``'s reference level:
  ``relevel(f, "b")`` or ``relevel(f, ref = "b")`` (no escapes, no quotes inside).

Anything else -- other string literals, brackets, ``$``/``@``, ``=``, ``;``, braces,
comparison and logical operators, ``::`` -- raises :class:`FormulaError` with a
caret under the offending character.  Nothing in this package ever hands formula
text to ``eval``; the strict token set keeps error messages precise and the
accepted language small.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import FormulaError

__all__ = ["Token", "tokenize"]

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

_FORBIDDEN: dict[str, str] = {
    '"': "string literals are not allowed in formulas",
    "'": "string literals are not allowed in formulas",
    "[": "indexing ('[') is not allowed in formulas",
    "]": "indexing (']') is not allowed in formulas",
    "$": "'$' (element access) is not allowed in formulas",
    "@": "'@' (slot access) is not allowed in formulas",
    "=": "'=' (assignment or named arguments) is not allowed in formulas",
    ";": "';' (multiple statements) is not allowed in formulas",
    "{": "braces are not allowed in formulas",
    "}": "braces are not allowed in formulas",
    "<": "comparison and assignment operators are not allowed in formulas",
    ">": "comparison operators are not allowed in formulas",
    "!": "'!' is not allowed in formulas",
    "&": "'&' is not allowed in formulas",
    "?": "'?' is not allowed in formulas",
    "\\": "backslashes are not allowed in formulas",
    "#": "comments ('#') are not allowed in formulas",
}


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is NAME, NUMBER, OP, STRING, '(', ')', ',', '=' or EOF."""

    kind: str
    value: str
    start: int
    end: int
    backticked: bool = False
    is_column: bool = False


def _is_ident_start(ch: str) -> bool:
    return ch.isalpha() or ch in "._"


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch in "._"


def tokenize(text: str, columns: Iterable[str]) -> list[Token]:
    """Split ``text`` into tokens, refusing anything outside the formula language.

    ``columns`` are the data's column names; they decide how identifiers with
    dots or unusual characters are read.
    """
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a string, not {type(text).__name__}")
    colset = {c for c in columns if isinstance(c, str)}
    special_cols = sorted(
        (c for c in colset if c and not all(_is_ident_char(ch) for ch in c)),
        key=len,
        reverse=True,
    )
    tokens: list[Token] = []
    calls: list[str | None] = []     # the function each open '(' belongs to (None: grouping)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "\"'=" and _relevel_argument(ch, text, i, tokens, calls):
            if ch == "=":
                tokens.append(Token("=", "=", i, i + 1))
                i += 1
                continue
            close = text.find(ch, i + 1)
            if close < 0:
                raise FormulaError("unterminated string", text, i, n)
            value = text[i + 1 : close]
            bad = next((c for c in value if c in "\\\n\r"), None)
            if bad is not None:
                raise FormulaError("escapes and line breaks are not allowed in a level name",
                                   text, i, close + 1)
            tokens.append(Token("STRING", value, i, close + 1))
            i = close + 1
            continue
        if ch == "`":
            close = text.find("`", i + 1)
            if close < 0:
                raise FormulaError("unterminated backtick name", text, i, n)
            name = text[i + 1 : close]
            if not name:
                raise FormulaError("empty backtick name", text, i, close + 1)
            tokens.append(
                Token("NAME", name, i, close + 1, backticked=True, is_column=name in colset)
            )
            i = close + 1
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUMBER.match(text, i)
            assert m is not None
            j = m.end()
            if j < n and _is_ident_char(text[j]):
                k = j
                while k < n and _is_ident_char(text[k]):
                    k += 1
                raise FormulaError(f"malformed number or name '{text[i:k]}'", text, i, k)
            tokens.append(Token("NUMBER", text[i:j], i, j))
            i = j
            continue
        if _is_ident_start(ch):
            j = i
            while j < n and _is_ident_char(text[j]):
                j += 1
            word = text[i:j]
            if word not in colset:
                special = _match_special_column(text, i, special_cols)
                if special is not None:
                    tokens.append(Token("NAME", special, i, i + len(special), is_column=True))
                    i += len(special)
                    continue
                if "__" in word:
                    raise FormulaError(
                        f"'{word}' is not allowed: names containing '__' are refused "
                        "(formulas may only use data columns and whitelisted functions)",
                        text,
                        i,
                        j,
                    )
            tokens.append(Token("NAME", word, i, j, is_column=word in colset))
            i = j
            continue
        two = text[i : i + 2]
        if two == "**":
            tokens.append(Token("OP", "^", i, i + 2))
            i += 2
            continue
        if two == "||":
            tokens.append(Token("OP", "||", i, i + 2))
            i += 2
            continue
        if two == "::":
            k = i + 3 if text[i : i + 3] == ":::" else i + 2
            raise FormulaError("namespace access ('::') is not allowed in formulas", text, i, k)
        if ch == "%":
            close = text.find("%", i + 1)
            if close < 0:
                raise FormulaError("unterminated '%' operator", text, i, n)
            op = text[i : close + 1]
            if op != "%in%":
                raise FormulaError(
                    f"operator '{op}' is not supported in formulas", text, i, close + 1
                )
            tokens.append(Token("OP", "%in%", i, close + 1))
            i = close + 1
            continue
        if ch in "~+-*/^:|":
            tokens.append(Token("OP", ch, i, i + 1))
            i += 1
            continue
        if ch in "(),":
            if ch == "(":
                prev = tokens[-1] if tokens else None
                calls.append(prev.value if prev is not None and prev.kind == "NAME"
                             and not prev.backticked else None)
            elif ch == ")" and calls:
                calls.pop()
            tokens.append(Token(ch, ch, i, i + 1))
            i += 1
            continue
        reason = _FORBIDDEN.get(ch, f"unexpected character {ch!r} in formula")
        raise FormulaError(reason, text, i, i + 1)
    tokens.append(Token("EOF", "", n, n))
    return tokens


def _relevel_argument(ch: str, text: str, i: int, tokens: list[Token],
                      calls: list[str | None]) -> bool:
    """Whether a quote or '=' at `i` is relevel()'s reference level: directly inside
    `relevel(`, a string right after the first ',' or after `ref =`, and '=' only in
    `, ref =` (not '=='). Everywhere else the tokenizer refuses them."""
    if not calls or calls[-1] != "relevel" or not tokens:
        return False
    prev = tokens[-1]
    if ch == "=":
        return (text[i + 1 : i + 2] != "=" and prev.kind == "NAME" and prev.value == "ref"
                and not prev.backticked and len(tokens) >= 2 and tokens[-2].kind == ",")
    return prev.kind in (",", "=")


def _match_special_column(text: str, i: int, special_cols: list[str]) -> str | None:
    """Longest column name with non-identifier characters starting at ``i``."""
    for col in special_cols:
        if text.startswith(col, i):
            end = i + len(col)
            if end < len(text) and _is_ident_char(text[end]) and _is_ident_char(col[-1]):
                continue
            return col
    return None
