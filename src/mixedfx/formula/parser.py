"""``parse_formula``: an lme4 model formula as plain data.

>>> p = parse_formula("Reaction ~ Days + (Days || Subject)", ["Reaction", "Days", "Subject"])
>>> p.fixed_rhs, [b.text for b in p.bars]
('Days', ['1 | Subject', '0 + Days | Subject'])

The formula is tokenized and parsed with a strict whitelist (see :mod:`.tokens`
and :mod:`.syntax`); nothing is ever evaluated here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from .bars import RandomBar, split_rhs
from .dot import expand_dot
from .errors import FormulaError
from .functions import FUNCTIONS
from .nodes import BinOp, Call, Name, Node, UnaryOp, deparse, iter_nodes
from .syntax import check_context, parse_text
from .terms import expand_terms

__all__ = ["ParsedFormula", "RandomBar", "parse_formula"]


@dataclass(frozen=True)
class ParsedFormula:
    """An lme4 formula split into its parts (all text in R's deparsed form).

    Attributes:
        text: the formula as given (with `.` unexpanded, as R's `formula(m)`).
        response: R text of the left side (``"Reaction"``, ``"cbind(s, n - s)"``),
            ``None`` for a one-sided formula.
        fixed_rhs: R text of the fixed part, bars and ``offset()`` removed
            (``"1"`` if nothing is left).
        bars: the random-effects terms after expanding ``||`` and ``/``, in formula order.
        offsets: R text inside each ``offset(...)`` of the fixed part.
        variables: every data column the formula uses, in order of appearance.
        intercept: whether the fixed part has an intercept.
        fixed_terms: R's term labels of the fixed part, in R's order.
        expanded: the formula with lme4's `.` expanded (all columns but the response;
            see :mod:`.dot`), or None when it has no `.`; the other fields describe it.
    """

    text: str
    response: str | None
    fixed_rhs: str
    bars: tuple[RandomBar, ...]
    offsets: tuple[str, ...]
    variables: tuple[str, ...]
    intercept: bool = True
    fixed_terms: tuple[str, ...] = ()
    expanded: str | None = None

    @property
    def fixed_formula(self) -> str:
        """The fixed-effects formula (lme4's ``nobars()``), e.g. ``"y ~ x"``."""
        lhs = f"{self.response} " if self.response is not None else ""
        return f"{lhs}~ {self.fixed_rhs}"

    @property
    def group_vars(self) -> tuple[str, ...]:
        """Every column used by some grouping factor, in order of appearance."""
        out: list[str] = []
        for bar in self.bars:
            for v in bar.group_vars:
                if v not in out:
                    out.append(v)
        return tuple(out)


def _refuse_structures(rhs: Node, text: str) -> None:
    for n in iter_nodes(rhs):
        if isinstance(n, Call) and n.func != "us" and FUNCTIONS[n.func].kind == "structure":
            raise FormulaError(
                f"covariance structure '{n.func}()' is glmmTMB syntax; lme4 models have "
                "unstructured random effects (pass covariance_structures=True to parse it)",
                text,
                n.start,
                n.end,
            )


def _variables(tree: Node) -> tuple[str, ...]:
    names = sorted((n for n in iter_nodes(tree) if isinstance(n, Name)), key=lambda n: n.start)
    out: list[str] = []
    for n in names:
        if n.name not in out:
            out.append(n.name)
    return tuple(out)


def parse_formula(
    text: str, columns: Sequence[str], *, covariance_structures: bool = False
) -> ParsedFormula:
    """Parse an lme4 formula against the data's column names.

    ``covariance_structures=True`` also accepts glmmTMB's covariance-structure
    wrappers (``diag(x | g)``, ``cs(...)``, ``ar1(0 + t | g)``, ``toep(...)``); each
    bar then carries its :attr:`RandomBar.structure`.  Otherwise they are refused,
    so that no caller fits them as unstructured by accident (``us(...)``, which is
    lme4's own structure, is always accepted).

    Raises:
        FormulaError: malformed formula, unknown column or function, or unsafe text.
    """
    cols = tuple(c for c in columns if isinstance(c, str))
    if not isinstance(text, str):
        return _parse_formula(text, cols, covariance_structures)
    return _parse_formula_cached(text, cols, covariance_structures)


@functools.lru_cache(maxsize=256)
def _parse_formula_cached(text: str, cols: tuple[str, ...], covariance_structures: bool
                          ) -> ParsedFormula:
    """`_parse_formula` memoized: the result is immutable and depends only on the text and
    the column names (a refused formula raises every time; exceptions are not cached)."""
    return _parse_formula(text, cols, covariance_structures)


def _parse_formula(text: str, cols: tuple[str, ...], covariance_structures: bool
                   ) -> ParsedFormula:
    expanded = expand_dot(text, cols)
    source = text if expanded is None else expanded
    tree = parse_text(source, list(cols), mode="formula")
    if isinstance(tree, BinOp):
        lhs: Node | None = tree.left
        rhs = tree.right
    else:
        assert isinstance(tree, UnaryOp)
        lhs, rhs = None, tree.operand
    if lhs is not None:
        check_context(lhs, "response", source)
    check_context(rhs, "formula", source)
    split = split_rhs(rhs, source)
    if not covariance_structures:
        _refuse_structures(rhs, source)
    fixed_text = split.fixed_text()
    # Validate the fixed part with R's terms algebra (raises on invalid terms).
    fixed = split.fixed_node()
    info = expand_terms(fixed, source) if fixed is not None else None
    return ParsedFormula(
        text=text,
        response=deparse(lhs) if lhs is not None else None,
        fixed_rhs=fixed_text,
        bars=split.bars,
        offsets=tuple(deparse(o) for o in split.offsets),
        variables=_variables(tree),
        intercept=info.intercept if info is not None else True,
        fixed_terms=info.term_labels if info is not None else (),
        expanded=expanded,
    )
