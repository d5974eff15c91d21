"""nlme's one-sided `form` of a variance function or correlation structure.

`"~ 1 | occasion"`, `"~ age"`, `"~ occasion | student"`, `"~ Time | Rat"`, `"~ 1"`: a covariate
(a column name, or `1` for none) and optional grouping columns after `|` (several joined by
`/`, `:` or `*` mean their combination). The text is parsed, never evaluated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mixedfx.errors import ArgumentError, ArgumentTypeError

_NAME = re.compile(r"^(?:[A-Za-z_.][A-Za-z0-9_.]*|`[^`]+`)$")


@dataclass(frozen=True)
class StructureForm:
    """The parsed form: `covariate` (None for `1`) and the grouping columns."""

    text: str
    covariate: str | None
    groups: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (*((self.covariate,) if self.covariate else ()), *self.groups)


def _name(token: str, text: str) -> str:
    token = token.strip()
    if not _NAME.match(token):
        raise ArgumentError(f"form {text!r}: {token!r} is not a column name (nlme forms take a "
                            "covariate name or 1, then optionally '| group')")
    return token.strip("`")


def parse_form(text: str | None, what: str) -> StructureForm:
    """Parse an nlme form such as `"~ occasion | student"`; `None` means `~ 1`."""
    if text is None:
        return StructureForm("~1", None, ())
    if not isinstance(text, str):
        raise ArgumentTypeError(f"{what} form must be a string such as '~ 1 | g', got "
                                f"{type(text).__name__}")
    body = text.strip()
    if not body.startswith("~"):
        raise ArgumentError(f"{what} form {text!r} must be one-sided and start with '~'")
    body = body[1:]
    if body.count("|") > 1:
        raise ArgumentError(f"{what} form {text!r} has more than one '|'")
    cov_text, _, group_text = body.partition("|")
    cov_text = cov_text.strip()
    if not cov_text:
        raise ArgumentError(f"{what} form {text!r} has no covariate: write '~ 1 | g' for none")
    covariate = None if cov_text == "1" else _name(cov_text, text)
    groups: tuple[str, ...] = ()
    if group_text.strip():
        groups = tuple(_name(g, text) for g in re.split(r"[/:*]", group_text))
    elif "|" in body:
        raise ArgumentError(f"{what} form {text!r} has an empty grouping after '|'")
    return StructureForm(text.strip(), covariate, groups)
