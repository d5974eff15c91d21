"""`cbind()` responses of sums and differences of bare columns (`cbind(s, n - s)`, lme4's
binomial counts), evaluated from a plan made once per response text and column names.

`evaluate_response` walks the response's tree with NumPy at every fit: a few whole-column
operations, each a NumPy call, on arrays of a few dozen cells. `cbind_plan` turns such a
response into a postfix program the compiled `frame` kernel (`column_sums`) runs in one call,
row by row: each cell gets the same IEEE operation on the same operands (-a, a + b, a - b)
as NumPy's elementwise arithmetic gives it, so the (n, k) result is the same bits. Other
responses (numbers, functions, products) have no plan. The caller (`frame.fast`) uses a
plan only on numeric columns whose numbers are at most 2^1000 (integers: below 2^63): sums
and differences of at most 2^16 of them are finite, so nothing overflows or warns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mixedfx.formula.columns import ColumnTable
from mixedfx.formula.nodes import BinOp, Call, Name, Node, Paren, UnaryOp
from mixedfx.formula.response import response_tree

__all__ = ["CbindPlan", "cbind_plan"]

#: a cbind() argument of sums and differences of bare columns: ("col", name),
#: ("neg", operand) or (op, left, right) with op "+" or "-"
_Program = tuple

_MAX_LEAVES = 1 << 16       # far below 2^23 sums of numbers <= 2^1000 (finite: < 2^1024)


@dataclass(frozen=True)
class CbindPlan:
    """A `cbind(...)` response made of bare columns, `+`, `-` and parentheses only
    (`cbind(s, n - s)`): its arguments as programs, the columns they read, and the same as
    one postfix program of the `frame` kernel's `column_sums`, which computes each cell
    with the same IEEE operation as NumPy's elementwise arithmetic on whole columns."""

    programs: tuple[_Program, ...]
    columns: tuple[str, ...]
    postfix: bytes

    def evaluate(self, frame: ColumnTable, k: Any) -> np.ndarray:
        """`evaluate_response` of the cbind() on numeric columns whose sums are finite."""
        if k is not None:
            out = np.empty((frame.n, len(self.programs)), dtype=np.float64)
            try:
                k.column_sums(out, tuple(frame.column(c).values for c in self.columns),
                              self.postfix)
                return out
            except (ValueError, BufferError):   # a column not C-ordered: NumPy's arithmetic
                pass
        return _cbind(self.programs, frame)


_NEG, _ADD, _SUB, _STORE, _MAX_COLUMNS = 250, 251, 252, 253, 16


def cbind_plan(response: str, names: tuple[str, ...]) -> CbindPlan | None:
    """The plan of a `cbind(...)` response of sums and differences of bare columns, None
    for any other response (refused texts raise, as `evaluate_response` refuses them)."""
    core = response_tree(response, names)
    if not (isinstance(core, Call) and core.func == "cbind" and core.args):
        return None
    programs = tuple(map(_program, core.args))
    if None in programs:
        return None
    leaves = _leaves(programs)
    columns = tuple(dict.fromkeys(leaves))
    if len(leaves) > _MAX_LEAVES or len(columns) > _MAX_COLUMNS:
        return None
    slot = {c: i for i, c in enumerate(columns)}
    postfix = bytearray()

    def emit(p: _Program) -> None:
        if p[0] == "col":
            postfix.append(slot[p[1]])
        elif p[0] == "neg":
            emit(p[1])
            postfix.append(_NEG)
        else:
            emit(p[1])
            emit(p[2])
            postfix.append(_ADD if p[0] == "+" else _SUB)

    for p in programs:
        emit(p)
        postfix.append(_STORE)
    return CbindPlan(programs, columns, bytes(postfix))


def _program(node: Node) -> _Program | None:
    while isinstance(node, Paren):
        node = node.expr
    if isinstance(node, Name):
        return ("col", node.name)
    if isinstance(node, UnaryOp) and node.op in ("-", "+"):
        operand = _program(node.operand)
        return operand if operand is None or node.op == "+" else ("neg", operand)
    if isinstance(node, BinOp) and node.op in ("+", "-"):
        left, right = _program(node.left), _program(node.right)
        return None if left is None or right is None else (node.op, left, right)
    return None


def _leaves(programs: tuple[_Program, ...]) -> list[str]:
    """The columns the programs read (with repeats)."""
    out: list[str] = []
    stack = list(programs)
    while stack:
        p = stack.pop()
        if p[0] == "col":
            out.append(p[1])
        else:
            stack.extend(p[1:])
    return out


def _cbind(programs: tuple[_Program, ...], frame: ColumnTable) -> np.ndarray:
    """`evaluate_response` of the cbind() the programs encode, on numeric columns whose sums
    are finite: each argument's value (the same float64 operations on the same columns)
    stored in its column of a new (n, k) array."""
    out = np.empty((frame.n, len(programs)), dtype=np.float64)
    for j, p in enumerate(programs):
        if p[0] == "col":
            out[:, j] = frame.column(p[1]).values
        elif p[0] == "neg":
            np.negative(_run(p[1], frame), out=out[:, j])
        else:
            (np.add if p[0] == "+" else np.subtract)(_run(p[1], frame), _run(p[2], frame),
                                                     out=out[:, j])
    return out


def _run(p: _Program, frame: ColumnTable) -> np.ndarray:
    if p[0] == "col":
        return frame.column(p[1]).values
    if p[0] == "neg":
        return -_run(p[1], frame)
    left, right = _run(p[1], frame), _run(p[2], frame)
    return left + right if p[0] == "+" else left - right
