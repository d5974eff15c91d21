"""The covariance term of an MMRM formula: `us(AVISIT | USUBJID)`, grouped
`us(AVISIT | ARMCD / USUBJID)` (SAS `GROUP=`) and spatial `sp_exp(VISITN, VISITN2 | USUBJID)`.

`split_formula` finds the single covariance term (mmrm's structure names), removes it from the
formula and returns the fixed-effects formula plus a `CovarianceTerm` naming the structure,
the visit (or coordinate) columns, the optional group column and the subject column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mixedfx.errors import FormulaError

STRUCTURES = ("us", "toep", "toeph", "ar1", "ar1h", "ad", "adh", "cs", "csh", "sp_exp",
              "sp_gau")
SPATIAL = ("sp_exp", "sp_gau")
_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*"
_CALL = re.compile(r"(?<![A-Za-z0-9_.])(" + "|".join(STRUCTURES) + r")\s*\(")


@dataclass(frozen=True)
class CovarianceTerm:
    """One covariance term: structure, visit/coordinate columns, group column, subject."""

    structure: str
    visits: tuple[str, ...]
    subject: str
    group: str | None = None

    @property
    def spatial(self) -> bool:
        return self.structure in SPATIAL

    def text(self) -> str:
        grp = f"{self.group} / " if self.group else ""
        return f"{self.structure}({', '.join(self.visits)} | {grp}{self.subject})"


def _closing(text: str, start: int) -> int:
    """Index of the parenthesis closing the one opened just before `start`."""
    depth = 1
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise FormulaError("unbalanced parentheses in the covariance term", text, start - 1)


def _name(part: str, what: str, formula: str) -> str:
    part = part.strip()
    if not re.fullmatch(_NAME, part):
        raise FormulaError(f"the covariance term's {what} must be a column name, got "
                           f"{part!r}", formula)
    return part


def split_formula(formula: str) -> tuple[str, CovarianceTerm]:
    """(fixed-effects formula, covariance term) from an mmrm formula."""
    if not isinstance(formula, str):
        raise FormulaError("formula must be a string such as "
                           "'FEV1 ~ ARMCD * AVISIT + us(AVISIT | USUBJID)'")
    if "~" not in formula:
        raise FormulaError("the formula needs a response: 'y ~ terms + us(visit | subject)'",
                           formula)
    calls = list(_CALL.finditer(formula))
    if len(calls) != 1:
        how = "no" if not calls else "more than one"
        raise FormulaError(f"an mmrm formula needs exactly one covariance term, found {how}; "
                           f"add one such as us(AVISIT | USUBJID) (structures: "
                           f"{', '.join(STRUCTURES)})", formula)
    call = calls[0]
    end = _closing(formula, call.end())
    inner = formula[call.end():end]
    if inner.count("|") != 1:
        raise FormulaError("the covariance term must read structure(visit | subject) or "
                           "structure(visit | group / subject)", formula, call.start(), end + 1)
    left, right = inner.split("|")
    visits = tuple(_name(v, "visit", formula) for v in left.split(","))
    parts = right.split("/")
    if len(parts) > 2:
        raise FormulaError("the covariance term's grouping reads group / subject",
                           formula, call.start(), end + 1)
    subject = _name(parts[-1], "subject", formula)
    group = _name(parts[0], "group", formula) if len(parts) == 2 else None
    structure = call.group(1)
    if structure not in SPATIAL and len(visits) != 1:
        raise FormulaError(f"{structure} takes one visit factor; several coordinates are for "
                           "the spatial structures sp_exp and sp_gau", formula, call.start(),
                           end + 1)
    fixed = _tidy(formula[:call.start()] + formula[end + 1:])
    return fixed, CovarianceTerm(structure, visits, subject, group)


def _tidy(fixed: str) -> str:
    """Remove the '+' left behind by the covariance term; an empty right side becomes 1."""
    lhs, _, rhs = fixed.partition("~")
    rhs = re.sub(r"\+\s*\+", "+", rhs).strip()
    rhs = re.sub(r"^\+|\+$", "", rhs).strip()
    if not rhs:
        rhs = "1"
    return f"{lhs.strip()} ~ {rhs}"
