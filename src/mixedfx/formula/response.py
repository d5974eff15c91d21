"""Evaluate a response (or offset) expression on a data frame.

``evaluate_response("Reaction", df)`` gives a float vector; ``cbind(s, n - s)``
gives an ``n x 2`` array (successes, failures), as lme4's binomial responses.
Any whitelisted arithmetic works (``log(y)``, ``y/n``), so the same function
evaluates the expressions inside ``offset(...)``.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from .columns import Column, ColumnTable, as_table
from .errors import FormulaError
from .evaluate import evaluate_numeric
from .nodes import Call, Name, Node, strip_parens
from .rnames import object_labels, r_sort_levels
from .syntax import check_context, parse_text

__all__ = ["evaluate_response", "response_tree"]


def evaluate_response(
    expr: str, data: ColumnTable | pd.DataFrame, *, factor_as_indicator: bool = False
) -> np.ndarray:
    """Evaluate ``expr`` on ``data``: shape ``(n,)``, or ``(n, 2)`` for ``cbind(a, b)``.

    Logical columns count as 0/1.  A bare factor (categorical or string) column is an
    error unless ``factor_as_indicator`` is true, in which case the result is 1 where
    the value is not the first level (R's binomial convention).

    Raises:
        FormulaError: malformed or unsafe text, unknown column, or a factor in arithmetic.
    """
    frame = as_table(data)
    node, core = _parsed(expr, frame.names)
    if isinstance(core, Call) and core.func == "cbind":
        # read only: column_stack copies them into the new (n, 2) array
        parts = [evaluate_numeric(arg, frame, {}, copy=False) for arg in core.args]
        return _columns(parts, frame.n)
    if isinstance(core, Name):
        col = frame.column(core.name)
        if col.kind in ("factor", "character"):
            if not factor_as_indicator:
                raise FormulaError(
                    f"response '{core.name}' is a factor; a numeric response is needed",
                    expr,
                    core.start,
                    core.end,
                )
            return _factor_indicator(col, core.name)
    return np.asarray(evaluate_numeric(node, frame, {}), dtype=np.float64)


def _columns(parts: list[np.ndarray], n: int) -> np.ndarray:
    """`np.column_stack(parts)` as float64: each part copied into a column of a new (n, k)
    array (the same values in the same places; for float64 vectors of length n without the
    general function's reshaping and concatenation)."""
    if not all(p.dtype == np.float64 and p.shape == (n,) for p in parts):
        return np.column_stack(parts).astype(np.float64, copy=False)
    out = np.empty((n, len(parts)), dtype=np.float64)
    for j, p in enumerate(parts):
        out[:, j] = p
    return out


@functools.lru_cache(maxsize=512)
def _parsed(expr: str, columns: tuple[str, ...]) -> tuple[Node, Node]:
    """The checked tree of a response expression and its core (parentheses stripped);
    immutable, so memoized (a refused text raises every time)."""
    node = parse_text(expr, columns, mode="expression")
    check_context(node, "response", expr)
    return node, strip_parens(node)


def response_tree(expr: str, columns: tuple[str, ...]) -> Node:
    """The checked tree of a response expression on data with these column names, its
    parentheses stripped (a refused text raises the error `evaluate_response` raises)."""
    return _parsed(expr, columns)[1]


def _factor_indicator(col: Column, name: str) -> np.ndarray:
    if col.kind == "factor":
        codes = col.values
    else:
        values = col.values
        missing = pd.isna(values)
        if not all(isinstance(v, str) for v in values[~missing].tolist()):
            # 1 and 1.0 are one level; 1 and "1" are refused
            values = object_labels(pd.Series(values, name=name, dtype=object)).to_numpy()
            missing = pd.isna(values)
        levels = r_sort_levels(pd.unique(values[~missing]).tolist())
        codes = pd.Index(levels, dtype=object).get_indexer(values)
        codes[missing] = -1
    out = (codes > 0).astype(np.float64)
    out[codes < 0] = np.nan
    return out
