"""Evaluate formula variables on a data frame, without ``eval``.

Every variable of a formula is a syntax tree that has passed the whitelist
(:mod:`.syntax`); this module walks that tree with numpy.  Stateful functions keep
what they learned on the training data so new data are encoded the same way:

* ``scale(x)`` / ``center(x)``: formulaic's stateful transforms (training mean and
  the standard deviation with ``n - 1``, as R's ``scale``);
* ``poly(x, d)``: formulaic's ``poly`` (R's orthogonal polynomials; new data use the
  three-term recurrence with the training ``alpha``/``norm2``, as ``predict.poly``);
* factors: the training levels.

A :class:`Variable` is either numeric (an ``n x m`` block, ``m > 1`` only for
``poly``) or a factor (integer codes into its levels, ``-1`` for missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentTypeError
from mixedfx.lazy import lazy_module

from .columns import Column, ColumnTable, as_table, column_kind
from .errors import FormulaError, NewLevelError
from .functions import FUNCTIONS
from .nodes import BinOp, Call, Kw, Name, Node, Num, Paren, Str, UnaryOp, deparse, iter_nodes
from .rnames import format_level, r_sort_levels

__all__ = ["Variable", "column_kind", "evaluate_numeric", "make_variable"]

# formulaic costs ~80 ms at import; only needed here for scale(), center() and poly()
transforms = lazy_module("formulaic.transforms")

_MATH = {
    "log2": np.log2,
    "log10": np.log10,
    "log1p": np.log1p,
    "exp": np.exp,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "abs": np.abs,
}


def _poly_degree(call: Call) -> int:
    """The degree of ``poly(x, d)`` (R's default is 1)."""
    if len(call.args) < 2:
        return 1
    degree = call.args[1]
    assert isinstance(degree, Num)  # checked by syntax.check_context
    return int(degree.value)


def _column(data: ColumnTable, name: str) -> Column:
    return data.column(name)


def _numeric_values(col: Column, name: str) -> np.ndarray:
    if col.kind in ("numeric", "logical"):
        return col.values
    raise FormulaError(
        f"column '{name}' is a factor ({col.dtype}); it cannot be used in arithmetic"
    )


def evaluate_numeric(
    node: Node, data: ColumnTable | pd.DataFrame, states: dict[Node, dict[str, Any]],
    *, copy: bool = True
) -> np.ndarray:
    """Evaluate an arithmetic expression to a float vector of length ``len(data)``.

    ``states`` holds the state of stateful calls (``scale``, ``center``), keyed by
    node; empty on the training data, reused on new data.  The result is a new array
    (never a column of the data itself) unless ``copy=False`` (a caller that only reads it).
    """
    table = as_table(data)
    if isinstance(node, Name):          # a column as it is: no arithmetic to guard
        out = _numeric_values(_column(table, node.name), node.name)
        return out.copy() if copy else out
    with np.errstate(all="ignore"):
        out = _eval(node, table, states, table.n)
    if copy and any(out is table.column(v.name).values for v in iter_nodes(node)
                    if isinstance(v, Name)):
        out = out.copy()
    return out


def _eval(node: Node, data: ColumnTable, states: dict[Node, dict[str, Any]], n: int) -> Any:
    if isinstance(node, Num):
        return np.full(n, node.value, dtype=float)
    if isinstance(node, Name):
        return _numeric_values(_column(data, node.name), node.name)
    if isinstance(node, Paren):
        return _eval(node.expr, data, states, n)
    if isinstance(node, UnaryOp):
        value = _eval(node.operand, data, states, n)
        return -value if node.op == "-" else value
    if isinstance(node, BinOp):
        left = _eval(node.left, data, states, n)
        right = _eval(node.right, data, states, n)
        if node.op == "+":
            return left + right
        if node.op == "-":
            return left - right
        if node.op == "*":
            return left * right
        if node.op == "/":
            return left / right
        if node.op == "^":
            return np.power(left, right)
        raise FormulaError(f"operator '{node.op}' cannot be evaluated: {deparse(node)}")
    if isinstance(node, Call):
        kind = FUNCTIONS[node.func].kind
        args = [_eval(a, data, states, n) for a in node.args] if kind != "poly" else []
        if node.func == "I":
            return args[0]
        if node.func == "log":
            if len(args) == 2:
                return np.log(args[0]) / np.log(args[1])
            return np.log(args[0])
        if node.func in _MATH:
            return _MATH[node.func](args[0])
        if node.func in ("scale", "center"):
            state = states.setdefault(node, {})
            fn = transforms.scale if node.func == "scale" else transforms.center
            out = np.asarray(fn(np.asarray(args[0], dtype=float), _state=state), dtype=float)
            return out.reshape(-1)
        raise FormulaError(f"{node.func}() cannot be used inside an expression: {deparse(node)}")
    raise ArgumentTypeError(f"unexpected node {node!r}")  # pragma: no cover


@dataclass
class Variable:
    """One variable of a model formula, with what it learned from the training data.

    Attributes:
        label: R's deparsed text (``"sex"``, ``"I(age^2)"``, ``"poly(x, 2)"``).
        node: the syntax tree.
        kind: ``"numeric"`` or ``"factor"``.
        colnames: suffixes of a numeric variable's columns (``[""]`` for one column,
            ``["1", "2"]`` for ``poly(x, 2)``).
        levels: factor level labels (R's ``levels()``), in order.
        ordered: ordered factor (coded with ``contr.poly``).
    """

    label: str
    node: Node
    kind: str
    colnames: list[str] = field(default_factory=lambda: [""])
    levels: list[str] = field(default_factory=list)
    ordered: bool = False
    raw_levels: list[Any] = field(default_factory=list)
    source: str | None = None
    states: dict[Node, dict[str, Any]] = field(default_factory=dict)

    # ------------------------------------------------------------------ numeric
    def numeric(self, data: ColumnTable | pd.DataFrame) -> np.ndarray:
        """The variable's ``n x m`` numeric block (numeric variables only)."""
        node = self.node
        if isinstance(node, Call) and node.func == "poly":
            x = evaluate_numeric(node.args[0], data, self.states)
            degree = _poly_degree(node)
            state = self.states.setdefault(node, {})
            fitting = not state
            if fitting and np.unique(x[~np.isnan(x)]).size <= degree:
                raise FormulaError(
                    f"{self.label}: 'degree' must be less than number of unique points"
                )
            out = np.asarray(transforms.poly(x, degree, _state=state), dtype=float)
            return out.reshape(len(x), degree)
        # read-only use: the design assembly copies every block into X
        return evaluate_numeric(node, data, self.states, copy=False).reshape(-1, 1)

    # ------------------------------------------------------------------- factor
    def codes(self, data: ColumnTable | pd.DataFrame) -> np.ndarray:
        """Integer codes into :attr:`levels` (``-1`` for missing values); may be the
        column's own codes, so callers only read them."""
        col = self._factor_input(as_table(data))
        if col.kind == "factor":
            cat_codes = col.values
            if list(col.levels) == self.raw_levels:
                # the training categories: as they are (read only by the design's assembly)
                return cat_codes.astype(np.int64, copy=False)
            index = pd.Index(self.raw_levels, dtype=object)
            mapping = index.get_indexer(pd.Index(list(col.levels), dtype=object))
            codes = np.where(cat_codes >= 0, mapping[cat_codes], -1)
            missing = cat_codes < 0
        else:
            index = pd.Index(self.raw_levels, dtype=object)
            objects = col.objects()
            codes = index.get_indexer(objects)
            missing = pd.isna(objects)
        unseen = (codes < 0) & ~missing
        if unseen.any():
            objects = col.objects()
            by_label = {lab: i for i, lab in enumerate(self.levels)}
            for pos in np.flatnonzero(unseen):
                lab = format_level(objects[pos])
                if lab not in by_label:
                    where = f"column '{self.source}'" if self.source else f"'{self.label}'"
                    raise NewLevelError(
                        f"{where} has level {lab!r} in new data that was not in the "
                        f"training data (levels: {', '.join(self.levels)})"
                    )
                codes[pos] = by_label[lab]
        return codes.astype(np.int64)

    def _factor_input(self, data: ColumnTable) -> Column:
        node = self.node
        while isinstance(node, Paren):
            node = node.expr
        # factor(x), relevel(f, "b"), relevel(factor(x), "3"): the values are the innermost
        # argument's (the call only sets the levels)
        while isinstance(node, Call) and FUNCTIONS[node.func].kind == "factor":
            node = node.args[0]
            while isinstance(node, Paren):
                node = node.expr
        if isinstance(node, Name):
            return _column(data, node.name)
        return Column("numeric", evaluate_numeric(node, data, self.states))


def _factor(label: str, node: Node, raw: list[Any], source: str | None,
            ordered: bool = False) -> Variable:
    """A factor variable with the given raw levels (in order), named as R's
    `as.character` names them."""
    return Variable(label, node, "factor", levels=[format_level(v) for v in raw],
                    raw_levels=raw, ordered=ordered, source=source)


def _present(values: np.ndarray) -> list[Any]:
    """The distinct non-missing cells of an object column, in order of appearance."""
    uniq = pd.unique(values)
    return uniq[~pd.isna(uniq)].tolist()


def make_variable(node: Node, label: str, data: ColumnTable | pd.DataFrame) -> Variable:
    """Inspect a variable on the training data: numeric or factor, levels, state."""
    data = as_table(data)
    core = node
    while isinstance(core, Paren):
        core = core.expr
    if isinstance(core, Name):
        col = _column(data, core.name)
        kind = col.kind
        if kind == "numeric":
            return Variable(label, node, "numeric", source=core.name)
        if kind == "factor":
            return _factor(label, node, list(col.levels), core.name, ordered=col.ordered)
        if kind == "logical":
            return _factor(label, node, [False, True], core.name)
        if kind == "character":
            return _factor(label, node, r_sort_levels(_present(col.values)), core.name)
        raise FormulaError(
            f"column '{core.name}' has unsupported type {col.dtype} for a model matrix"
        )
    if isinstance(core, Call) and FUNCTIONS[core.func].kind == "factor":
        return _make_factor_call(core, node, label, data)
    if isinstance(core, Call) and core.func == "poly":
        degree = _poly_degree(core)
        var = Variable(label, node, "numeric", colnames=[str(i) for i in range(1, degree + 1)])
        var.numeric(data)  # learn the polynomial coefficients
        return var
    var = Variable(label, node, "numeric")
    var.numeric(data)  # learn scale()/center() state; check evaluability
    return var


def _make_relevel(core: Call, node: Node, label: str, data: ColumnTable) -> Variable:
    """R's `relevel(f, ref)`: the levels of the unordered factor `f` with `ref` (a level
    name, or its 1-based position) moved to the front, so it becomes the reference level."""
    inner = core.args[0]
    var = make_variable(inner, deparse(inner), data)
    what = f"column '{var.source}'" if var.source else f"'{deparse(inner)}'"
    if var.kind != "factor":
        raise FormulaError(f"relevel() only for (unordered) factors: {what} is numeric; "
                           f"write relevel(factor({deparse(inner)}), ...) to use its values "
                           "as levels")
    if var.ordered:
        raise FormulaError(f"relevel() only for unordered factors: {what} is ordered")
    ref = core.args[1].value if isinstance(core.args[1], Kw) else core.args[1]
    if isinstance(ref, Str):
        if ref.value not in var.levels:
            raise FormulaError(f"relevel(): 'ref' must be an existing level of {what}: "
                               f"{ref.value!r} is not among {', '.join(var.levels)}")
        pos = var.levels.index(ref.value)
    else:
        assert isinstance(ref, Num)
        pos = int(ref.value) - 1
        if pos >= len(var.levels):
            raise FormulaError(f"relevel(): ref = {int(ref.value)} must be in "
                               f"1:{len(var.levels)} (the levels of {what})")
    order = [pos, *(i for i in range(len(var.levels)) if i != pos)]
    return Variable(label, node, "factor", levels=[var.levels[i] for i in order],
                    raw_levels=[var.raw_levels[i] for i in order], source=var.source)


def _make_factor_call(core: Call, node: Node, label: str, data: ColumnTable) -> Variable:
    if core.func == "relevel":
        return _make_relevel(core, node, label, data)
    arg = core.args[0]
    while isinstance(arg, Paren):
        arg = arg.expr
    source = arg.name if isinstance(arg, Name) else None
    if isinstance(arg, Name):
        col = _column(data, arg.name)
        kind = col.kind
        if kind == "factor":
            cats = list(col.levels)
            if core.func == "factor":
                used = set(np.unique(col.values[col.values >= 0]).tolist())
                cats = [c for i, c in enumerate(cats) if i in used]
            return _factor(label, node, cats, source, ordered=col.ordered)
        if kind == "logical":
            present = set((col.values[~np.isnan(col.values)] == 1.0).tolist())
            return _factor(label, node, [v for v in (False, True) if v in present], source)
        if kind == "numeric":
            values = col.values
            integer = col.integer
        elif kind == "character":
            return _factor(label, node, r_sort_levels(_present(col.values)), source)
        else:
            raise FormulaError(f"column '{arg.name}' has unsupported type {col.dtype}")
    else:
        values = evaluate_numeric(arg, data, {})
        integer = False
    uniq = np.unique(values[~np.isnan(values)])
    raw_levels: list[Any] = [float(v) for v in uniq]
    levels = [format_level(int(v) if integer else float(v)) for v in uniq]
    return Variable(label, node, "factor", levels=levels, raw_levels=raw_levels, source=source)
