"""lme4's handling of random-effects bars: ``findbars``, ``nobars``,
``expandDoubleVerts`` and ``expandSlash``.

:func:`split_rhs` splits a right-hand side into its fixed summands, its
``offset()`` expressions and its random-effects terms, in formula order:

* ``(x || g)`` is expanded first, as lme4's ``expandDoubleVerts``: the intercept
  (if any) becomes ``(1 | g)`` and every term label ``t`` of ``x`` becomes
  ``(0 + t | g)``;
* a grouping ``a/b/c`` is then expanded as lme4's ``expandSlash``:
  ``c:(b:a)``, ``b:a``, ``a`` (lme4's names, innermost interaction first).

Bars must be added to the formula (``+``) and enclosed in parentheses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias, Union

from .errors import FormulaError
from .functions import FUNCTIONS
from .nodes import BinOp, Call, Name, Node, Paren, UnaryOp, deparse, iter_nodes, strip_parens
from .terms import expand_terms

__all__ = ["RandomBar", "SplitRHS", "split_rhs"]


@dataclass(frozen=True)
class RandomBar:
    """One random-effects term after expansion.

    Attributes:
        lhs: R text of the left side (``"1 + Days"``, ``"0 + x"``).
        group_vars: columns whose interaction is the grouping factor.
        group_name: lme4's name of the grouping factor (``"Subject"``, ``"b:a"``).
        structure: covariance structure: ``"us"`` (unstructured, lme4's only one) or a
            glmmTMB structure (``"diag"``, ``"cs"``, ``"ar1"``, ``"toep"``) given as
            ``ar1(0 + t | g)``; only produced when ``parse_formula`` is called with
            ``covariance_structures=True``.
    """

    lhs: str
    group_vars: tuple[str, ...]
    group_name: str
    structure: str = "us"

    @property
    def text(self) -> str:
        """The term as lme4 prints it, e.g. ``"1 + Days | Subject"``."""
        return f"{self.lhs} | {self.group_name}"

    def __str__(self) -> str:
        if self.structure != "us":
            return f"{self.structure}({self.text})"
        return f"({self.text})"


@dataclass(frozen=True)
class SplitRHS:
    """A right-hand side split into fixed summands, offsets and bars."""

    fixed: tuple[tuple[int, Node], ...]
    offsets: tuple[Node, ...]
    bars: tuple[RandomBar, ...]

    def fixed_node(self) -> Node | None:
        """The fixed summands as one tree (``None`` when nothing is left)."""
        node: Node | None = None
        for sign, item in self.fixed:
            if node is None:
                node = item if sign > 0 else UnaryOp("-", item, start=item.start, end=item.end)
            else:
                node = BinOp("+" if sign > 0 else "-", node, item, start=node.start, end=item.end)
        return node

    def fixed_text(self) -> str:
        """R text of the fixed part (``"1"`` when nothing is left)."""
        if not self.fixed:
            return "1"
        parts: list[str] = []
        for k, (sign, node) in enumerate(self.fixed):
            body = deparse(node)
            if k == 0:
                parts.append(body if sign > 0 else f"-{body}")
            else:
                parts.append(f"{'+' if sign > 0 else '-'} {body}")
        return " ".join(parts)


def _is_bar(node: Node) -> bool:
    return isinstance(node, BinOp) and node.op in ("|", "||")


def _contains_bar(node: Node) -> bool:
    return any(_is_bar(n) for n in iter_nodes(node))


def _summands(node: Node, sign: int, out: list[tuple[int, Node]]) -> None:
    if isinstance(node, BinOp) and node.op in ("+", "-"):
        _summands(node.left, sign, out)
        _summands(node.right, sign if node.op == "+" else -sign, out)
    elif isinstance(node, UnaryOp) and node.op in ("+", "-"):
        _summands(node.operand, sign if node.op == "+" else -sign, out)
    elif isinstance(node, Paren) and _contains_bar(node.expr) and not _is_bar(strip_parens(node)):
        _summands(node.expr, sign, out)
    else:
        out.append((sign, node))


def _bar_error(reason: str, node: Node, text: str) -> FormulaError:
    if isinstance(node, BinOp) and node.op_start >= 0:
        return FormulaError(reason, text, node.op_start, node.op_start + len(node.op))
    return FormulaError(reason, text, node.start, node.end)


_Slash: TypeAlias = Union[Node, list["_Slash"]]  # noqa: UP007 (recursive alias)


def _slash_terms(node: Node, text: str) -> _Slash:
    if not any(isinstance(n, BinOp) and n.op == "/" for n in iter_nodes(node)):
        return node
    if not (isinstance(node, BinOp) and node.op == "/"):
        raise FormulaError(
            "unparseable formula for grouping factor (use 'a/b' without parentheses)",
            text,
            node.start,
            node.end,
        )
    return [_slash_terms(node.left, text), _slash_terms(node.right, text)]


def _make_interaction(x: _Slash) -> _Slash:
    if not isinstance(x, list):
        return x
    trm1 = _make_interaction(x[0])
    trm11 = trm1[0] if isinstance(trm1, list) else trm1
    assert not isinstance(x[1], list) and not isinstance(trm11, list)
    return [BinOp(":", x[1], trm11), trm1]


def _flatten(x: _Slash) -> list[Node]:
    if isinstance(x, list):
        out: list[Node] = []
        for item in x:
            out.extend(_flatten(item))
        return out
    return [x]


def _group_vars(node: Node, text: str) -> tuple[str, ...]:
    names: list[str] = []
    for n in iter_nodes(node):
        if isinstance(n, Name):
            if n.name not in names:
                names.append(n.name)
        elif isinstance(n, Paren) or (isinstance(n, BinOp) and n.op in (":", "/")):
            continue
        else:
            raise FormulaError(
                f"invalid grouping factor '{deparse(node)}': use column names joined "
                "by ':' (interaction) or '/' (nesting)",
                text,
                n.start,
                n.end,
            )
    return tuple(names)


def _expand_bar(bar: BinOp, text: str, structure: str = "us") -> list[RandomBar]:
    lhs, group = bar.left, bar.right
    for n in iter_nodes(lhs):
        if _is_bar(n):
            raise _bar_error("nested '|' in a random-effects term", n, text)
    for n in iter_nodes(group):
        if _is_bar(n):
            raise _bar_error("nested '|' in a random-effects term", n, text)
    info = expand_terms(lhs, text)
    if info.offsets:
        raise FormulaError(
            "offset() is not allowed in a random-effects term", text, lhs.start, lhs.end
        )
    if not info.intercept and not info.terms:
        raise FormulaError(
            f"random-effects term '{deparse(bar)}' has no effects on its left side",
            text,
            lhs.start,
            lhs.end,
        )
    _group_vars(group, text)  # validate before expanding
    if bar.op == "||":
        lhs_texts = (["1"] if info.intercept else []) + [
            f"0 + {label}" for label in info.term_labels
        ]
    else:
        lhs_texts = [deparse(lhs)]
    groups = _flatten(_make_interaction(_slash_terms(group, text)))
    return [
        RandomBar(lhs_text, _group_vars(g, text), deparse(g), structure)
        for lhs_text in lhs_texts
        for g in groups
    ]


def split_rhs(rhs: Node, text: str) -> SplitRHS:
    """Split a right-hand side into fixed summands, offsets and expanded bars."""
    items: list[tuple[int, Node]] = []
    _summands(rhs, 1, items)
    fixed: list[tuple[int, Node]] = []
    offsets: list[Node] = []
    bars: list[RandomBar] = []
    for sign, node in items:
        core = strip_parens(node)
        if _is_bar(core):
            assert isinstance(core, BinOp)
            if not isinstance(node, Paren):
                raise _bar_error(
                    f"random-effects term '{deparse(core)}' must be enclosed in parentheses",
                    core,
                    text,
                )
            if sign < 0:
                raise FormulaError(
                    "random-effects terms cannot be subtracted", text, node.start, node.end
                )
            bars.extend(_expand_bar(core, text))
            continue
        if isinstance(core, Call) and FUNCTIONS[core.func].kind == "structure":
            inner = strip_parens(core.args[0])
            if sign < 0:
                raise FormulaError(
                    "random-effects terms cannot be subtracted", text, node.start, node.end
                )
            if not (isinstance(inner, BinOp) and inner.op == "|"):
                raise FormulaError(
                    f"{core.func}() must wrap a random-effects term, e.g. {core.func}(0 + x | g)",
                    text,
                    core.start,
                    core.end,
                )
            bars.extend(_expand_bar(inner, text, core.func))
            continue
        for n in iter_nodes(node):
            if _is_bar(n):
                raise _bar_error(
                    "random-effects terms can only be added to the formula: "
                    "write '+ (lhs | group)'",
                    n,
                    text,
                )
        if isinstance(core, Call) and FUNCTIONS[core.func].kind == "offset":
            if sign < 0:
                raise FormulaError(
                    "offset() terms cannot be subtracted", text, node.start, node.end
                )
            offsets.append(core.args[0])
            continue
        for n in iter_nodes(node):
            if isinstance(n, Call) and FUNCTIONS[n.func].kind == "offset":
                raise FormulaError(
                    "offset() must be added to the formula as a separate term",
                    text,
                    n.start,
                    n.end,
                )
        fixed.append((sign, node))
    return SplitRHS(tuple(fixed), tuple(offsets), tuple(bars))
