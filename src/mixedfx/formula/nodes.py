"""Syntax-tree nodes for R formulas and R's ``deparse()`` of them.

Nodes are frozen dataclasses.  Their source span (``start``, ``end``) is kept for
error messages but excluded from equality and hashing, so two occurrences of
``log(x)`` compare equal, as R compares deparsed variables.

:func:`deparse` prints a node the way R's ``deparse()`` does: spaces around
``+ - * | || ~ %in%`` and the comma, none around ``/ ^ :``, numbers with
:func:`~mixedfx.formula.rnames.format_number`, non-syntactic names backticked,
and parentheses added where a synthesised tree needs them (``c:(b:a)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from mixedfx.errors import ArgumentTypeError

from .rnames import format_number, quote_name

__all__ = [
    "BINARY_PRECEDENCE",
    "BinOp",
    "Call",
    "Kw",
    "Name",
    "Node",
    "Num",
    "Paren",
    "Str",
    "UnaryOp",
    "deparse",
    "iter_nodes",
    "strip_parens",
]

#: Binding power of binary operators (higher binds tighter), as in R's grammar.
BINARY_PRECEDENCE: dict[str, int] = {
    "~": 3,
    "|": 5,
    "||": 5,
    "+": 9,
    "-": 9,
    "*": 10,
    "/": 10,
    "%in%": 11,
    ":": 12,
    "^": 14,
}
RIGHT_ASSOCIATIVE = frozenset({"^"})
UNARY_PRECEDENCE = 13
_SPACED = frozenset({"~", "|", "||", "+", "-", "*", "%in%"})


@dataclass(frozen=True)
class Node:
    """Base class; ``start``/``end`` locate the node in the source text."""

    start: int = field(default=-1, compare=False, kw_only=True)
    end: int = field(default=-1, compare=False, kw_only=True)


@dataclass(frozen=True)
class Num(Node):
    """A numeric literal."""

    value: float


@dataclass(frozen=True)
class Name(Node):
    """A data column (possibly given in backticks)."""

    name: str


@dataclass(frozen=True)
class Str(Node):
    """A quoted level name (only as relevel()'s reference level)."""

    value: str


@dataclass(frozen=True)
class Kw(Node):
    """A named argument, ``ref = "b"`` (only relevel()'s ``ref``)."""

    name: str
    value: Node


@dataclass(frozen=True)
class Call(Node):
    """A call to a whitelisted function."""

    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class BinOp(Node):
    """A binary operator: formula operators, arithmetic, bars and ``~``."""

    op: str
    left: Node
    right: Node
    op_start: int = field(default=-1, compare=False, kw_only=True)


@dataclass(frozen=True)
class UnaryOp(Node):
    """Unary ``-``, ``+`` or ``~``."""

    op: str
    operand: Node


@dataclass(frozen=True)
class Paren(Node):
    """Explicit parentheses in the source (R keeps them as a ``(`` call)."""

    expr: Node


def strip_parens(node: Node) -> Node:
    """The node with any enclosing parentheses removed."""
    while isinstance(node, Paren):
        node = node.expr
    return node


def iter_nodes(node: Node) -> Iterator[Node]:
    """All nodes of the tree, pre-order, left to right."""
    yield node
    if isinstance(node, Call):
        for arg in node.args:
            yield from iter_nodes(arg)
    elif isinstance(node, BinOp):
        yield from iter_nodes(node.left)
        yield from iter_nodes(node.right)
    elif isinstance(node, UnaryOp):
        yield from iter_nodes(node.operand)
    elif isinstance(node, Paren):
        yield from iter_nodes(node.expr)


def _needs_parens(child: Node, parent_prec: int, side: str, parent_op: str) -> bool:
    if isinstance(child, BinOp):
        prec = BINARY_PRECEDENCE[child.op]
        if prec < parent_prec:
            return True
        if prec == parent_prec:
            right_assoc = parent_op in RIGHT_ASSOCIATIVE
            return (side == "right") != right_assoc
        return False
    if isinstance(child, UnaryOp):
        return side == "left" and parent_prec > UNARY_PRECEDENCE
    return False


def deparse(node: Node) -> str:
    """R's ``deparse()`` of the node (single line)."""
    if isinstance(node, Num):
        return format_number(node.value)
    if isinstance(node, Name):
        return quote_name(node.name)
    if isinstance(node, Str):    # R writes "..."; a level holding " keeps '...' (no escapes)
        return f"'{node.value}'" if '"' in node.value else f'"{node.value}"'
    if isinstance(node, Kw):
        return f"{node.name} = {deparse(node.value)}"
    if isinstance(node, Paren):
        return f"({deparse(node.expr)})"
    if isinstance(node, Call):
        return f"{node.func}({', '.join(deparse(a) for a in node.args)})"
    if isinstance(node, UnaryOp):
        inner = deparse(node.operand)
        if isinstance(node.operand, BinOp) and (
            BINARY_PRECEDENCE[node.operand.op] < UNARY_PRECEDENCE and node.op != "~"
        ):
            inner = f"({inner})"
        return f"{node.op}{inner}"
    if isinstance(node, BinOp):
        prec = BINARY_PRECEDENCE[node.op]
        left = deparse(node.left)
        right = deparse(node.right)
        if _needs_parens(node.left, prec, "left", node.op):
            left = f"({left})"
        if _needs_parens(node.right, prec, "right", node.op):
            right = f"({right})"
        if node.op in _SPACED:
            return f"{left} {node.op} {right}"
        return f"{left}{node.op}{right}"
    raise ArgumentTypeError(f"cannot deparse {node!r}")
