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

from mixedfx.errors import ArgumentTypeError, DataError
from mixedfx.lazy import lazy_module

from .errors import FormulaError, NewLevelError
from .functions import FUNCTIONS
from .nodes import BinOp, Call, Kw, Name, Node, Num, Paren, Str, UnaryOp, deparse
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


def column_kind(series: pd.Series) -> str:
    """How R's ``model.matrix`` treats a column: ``numeric``, ``factor``, ``logical``,
    ``character`` or ``unsupported``."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "factor"
    if pd.api.types.is_bool_dtype(dtype):
        return "logical"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return "character"
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred == "boolean":
            return "logical"
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            return "numeric"
        if inferred == "empty":
            return "numeric"
        return "character"
    return "unsupported"


def _column(data: pd.DataFrame, name: str) -> pd.Series:
    if name not in data.columns:
        raise DataError(f"data lack column '{name}' used in the formula")
    col = data[name]
    if isinstance(col, pd.DataFrame):
        raise DataError(f"column name '{name}' is duplicated in the data")
    return col


def _numeric_values(series: pd.Series, name: str) -> np.ndarray:
    kind = column_kind(series)
    if kind == "numeric":
        return series.to_numpy(dtype=float, na_value=np.nan)
    if kind == "logical":
        return series.astype("boolean").to_numpy(dtype=float, na_value=np.nan)
    raise FormulaError(
        f"column '{name}' is a factor ({series.dtype}); it cannot be used in arithmetic"
    )


def evaluate_numeric(
    node: Node, data: pd.DataFrame, states: dict[Node, dict[str, Any]]
) -> np.ndarray:
    """Evaluate an arithmetic expression to a float vector of length ``len(data)``.

    ``states`` holds the state of stateful calls (``scale``, ``center``), keyed by
    node; empty on the training data, reused on new data.
    """
    n = len(data)
    with np.errstate(all="ignore"):
        return _eval(node, data, states, n)


def _eval(node: Node, data: pd.DataFrame, states: dict[Node, dict[str, Any]], n: int) -> Any:
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
    def numeric(self, data: pd.DataFrame) -> np.ndarray:
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
            return out.reshape(len(data), degree)
        return evaluate_numeric(node, data, self.states).reshape(-1, 1)

    # ------------------------------------------------------------------- factor
    def codes(self, data: pd.DataFrame) -> np.ndarray:
        """Integer codes into :attr:`levels` (``-1`` for missing values)."""
        values = self._factor_input(data)
        index = pd.Index(self.raw_levels, dtype=object)
        if isinstance(values.dtype, pd.CategoricalDtype):
            cat_codes = values.cat.codes.to_numpy()
            mapping = index.get_indexer(pd.Index(values.cat.categories, dtype=object))
            codes = np.where(cat_codes >= 0, mapping[cat_codes], -1)
            missing = cat_codes < 0
            objects = values.astype(object).to_numpy()
        else:
            objects = values.astype(object).to_numpy()
            codes = index.get_indexer(objects)
            missing = pd.isna(objects)
        unseen = (codes < 0) & ~missing
        if unseen.any():
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

    def _factor_input(self, data: pd.DataFrame) -> pd.Series:
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
            series = _column(data, node.name)
            if column_kind(series) == "logical":
                return series.astype("boolean").astype(object)
            return series
        return pd.Series(evaluate_numeric(node, data, self.states), index=data.index)


def _factor(label: str, node: Node, raw: list[Any], source: str | None,
            ordered: bool = False) -> Variable:
    """A factor variable with the given raw levels (in order), named as R's
    `as.character` names them."""
    return Variable(label, node, "factor", levels=[format_level(v) for v in raw],
                    raw_levels=raw, ordered=ordered, source=source)


def make_variable(node: Node, label: str, data: pd.DataFrame) -> Variable:
    """Inspect a variable on the training data: numeric or factor, levels, state."""
    core = node
    while isinstance(core, Paren):
        core = core.expr
    if isinstance(core, Name):
        series = _column(data, core.name)
        kind = column_kind(series)
        if kind == "numeric":
            return Variable(label, node, "numeric", source=core.name)
        if kind == "factor":
            return _factor(label, node, list(series.cat.categories), core.name,
                           ordered=bool(series.cat.ordered))
        if kind == "logical":
            return _factor(label, node, [False, True], core.name)
        if kind == "character":
            return _factor(label, node, r_sort_levels(series.dropna().unique().tolist()),
                           core.name)
        raise FormulaError(
            f"column '{core.name}' has unsupported type {series.dtype} for a model matrix"
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


def _make_relevel(core: Call, node: Node, label: str, data: pd.DataFrame) -> Variable:
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


def _make_factor_call(core: Call, node: Node, label: str, data: pd.DataFrame) -> Variable:
    if core.func == "relevel":
        return _make_relevel(core, node, label, data)
    arg = core.args[0]
    while isinstance(arg, Paren):
        arg = arg.expr
    source = arg.name if isinstance(arg, Name) else None
    if isinstance(arg, Name):
        series = _column(data, arg.name)
        kind = column_kind(series)
        if kind == "factor":
            cats = list(series.cat.categories)
            if core.func == "factor":
                used = set(series.cat.codes[series.cat.codes >= 0].unique().tolist())
                cats = [c for i, c in enumerate(cats) if i in used]
            return _factor(label, node, cats, source, ordered=bool(series.cat.ordered))
        if kind == "logical":
            present = series.astype("boolean").dropna().unique().tolist()
            return _factor(label, node, [v for v in (False, True) if v in present], source)
        if kind == "numeric":
            values = series.to_numpy(dtype=float, na_value=np.nan)
            integer = pd.api.types.is_integer_dtype(series.dtype)
        elif kind == "character":
            return _factor(label, node, r_sort_levels(series.dropna().unique().tolist()),
                           source)
        else:
            raise FormulaError(f"column '{arg.name}' has unsupported type {series.dtype}")
    else:
        values = evaluate_numeric(arg, data, {})
        integer = False
    uniq = np.unique(values[~np.isnan(values)])
    raw_levels: list[Any] = [float(v) for v in uniq]
    levels = [format_level(int(v) if integer else float(v)) for v in uniq]
    return Variable(label, node, "factor", levels=levels, raw_levels=raw_levels, source=source)
