"""Evaluate a response (or offset) expression on a data frame.

``evaluate_response("Reaction", df)`` gives a float vector; ``cbind(s, n - s)``
gives an ``n x 2`` array (successes, failures), as lme4's binomial responses.
Any whitelisted arithmetic works (``log(y)``, ``y/n``), so the same function
evaluates the expressions inside ``offset(...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .errors import FormulaError
from .evaluate import column_kind, evaluate_numeric
from .nodes import Call, Name, strip_parens
from .rnames import object_labels, r_sort_levels
from .syntax import check_context, parse_text

__all__ = ["evaluate_response"]


def evaluate_response(
    expr: str, data: pd.DataFrame, *, factor_as_indicator: bool = False
) -> np.ndarray:
    """Evaluate ``expr`` on ``data``: shape ``(n,)``, or ``(n, 2)`` for ``cbind(a, b)``.

    Logical columns count as 0/1.  A bare factor (categorical or string) column is an
    error unless ``factor_as_indicator`` is true, in which case the result is 1 where
    the value is not the first level (R's binomial convention).

    Raises:
        FormulaError: malformed or unsafe text, unknown column, or a factor in arithmetic.
    """
    frame = data if isinstance(data, pd.DataFrame) else _frame(data)
    columns = [c for c in frame.columns if isinstance(c, str)]
    node = parse_text(expr, columns, mode="expression")
    check_context(node, "response", expr)
    core = strip_parens(node)
    if isinstance(core, Call) and core.func == "cbind":
        parts = [evaluate_numeric(arg, frame, {}) for arg in core.args]
        return np.column_stack(parts).astype(np.float64)
    if isinstance(core, Name):
        series = frame[core.name]
        kind = column_kind(series)
        if kind in ("factor", "character"):
            if not factor_as_indicator:
                raise FormulaError(
                    f"response '{core.name}' is a factor; a numeric response is needed",
                    expr,
                    core.start,
                    core.end,
                )
            return _factor_indicator(series)
    return np.asarray(evaluate_numeric(node, frame, {}), dtype=np.float64)


def _frame(data: Any) -> pd.DataFrame:
    return pd.DataFrame(dict(data)) if isinstance(data, Mapping) else pd.DataFrame(data)


def _factor_indicator(series: pd.Series) -> np.ndarray:
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
    else:
        if not all(isinstance(v, str) for v in series.dropna().tolist()):
            series = object_labels(series)   # 1 and 1.0 are one level; 1 and "1" are refused
        levels = r_sort_levels(series.dropna().unique().tolist())
        codes = pd.Index(levels, dtype=object).get_indexer(series.astype(object).to_numpy())
    out = (codes > 0).astype(np.float64)
    out[codes < 0] = np.nan
    return out
