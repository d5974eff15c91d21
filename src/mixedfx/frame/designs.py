"""The formula evaluated on the model frame's complete rows: the fixed-effects matrix, each
bar's left-hand side, the formula's offsets and the response (`Designs`), and the rows where a
transformation gave NaN (R's na.omit of the model frame), read together with each array's
finiteness and X's Gram matrix, which the later checks reuse."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixedfx.formula import ParsedFormula, build_design, evaluate_response
from mixedfx.formula.columns import ColumnTable

__all__ = ["Designs", "rank_gram"]


@dataclass
class Designs:
    """The formula evaluated on the complete rows: the full fixed-effects matrix, each bar's
    left-hand side, the formula's offsets and (when it evaluates) the response."""

    X_full: np.ndarray
    fixed: Any
    lhs: list[tuple[Any, Any]]
    offsets: list[np.ndarray]
    response: np.ndarray | None
    finite: list[bool] | None = None    # X, each bar's matrix, the response: all cells finite
    gram: np.ndarray | None = None      # XᵀX when `rank.independent_columns` needs it
    clear: bool | None = None           # `rank.clear_pivots(X)` when known (then no gram)

    @classmethod
    def evaluate(cls, parsed: ParsedFormula, frame: ColumnTable, glm: bool) -> Designs:
        built: dict[str, tuple[np.ndarray, Any]] = {}

        def design(rhs: str) -> tuple[np.ndarray, Any]:
            # a text met before (`Days` in `Days + (Days | g)`, `1` in every `(1 | g)`):
            # a copy of the same design
            if rhs in built:
                X, spec = built[rhs]
                return X.copy(), spec.copy()
            out = built[rhs] = build_design(rhs, frame)
            return out

        X_full, fixed_design = design(parsed.fixed_rhs)
        lhs = [design(bar.lhs) for bar in parsed.bars]
        # (evaluate_response guards its arithmetic with np.errstate itself)
        offs = [np.asarray(evaluate_response(e, frame), dtype=float) for e in parsed.offsets]
        response = None
        if parsed.response is not None:
            # (refused with its reason by response_values)
            with contextlib.suppress(ValueError, TypeError):
                response = np.asarray(evaluate_response(parsed.response, frame,
                                                        factor_as_indicator=glm), dtype=float)
        return cls(np.asarray(X_full, dtype=float), fixed_design, lhs, offs, response)

    def nan_rows(self) -> np.ndarray:
        """Rows holding NaN (not ±Inf) in any evaluated array (R's na.omit of the model
        frame). Records in `finite` whether X, each bar's matrix and the response are finite.

        X's Gram matrix G = XᵀX, which the rank check needs (`rank.independent_columns`:
        when X has no more columns than rows), is computed here: G_jj = Σ_i x_ij² is finite
        only when every cell of column j is, so a finite diagonal spares X's own pass."""
        X = self.X_full
        x_finite = False
        self.gram = rank_gram(X)
        if self.gram is not None:
            x_finite = all(map(math.isfinite, np.diagonal(self.gram).tolist()))
        arrays = [X, *(np.asarray(V, dtype=float) for V, _ in self.lhs),
                  *self.offsets, *([] if self.response is None else [self.response])]
        mask, finite = _nan_rows(arrays, [x_finite] + [False] * (len(arrays) - 1))
        self.finite = finite[:1 + len(self.lhs)] + \
            ([finite[-1]] if self.response is not None else [])
        return mask


def rank_gram(X: np.ndarray) -> np.ndarray | None:
    """XᵀX when the rank check uses it (`rank.independent_columns`: X has columns, and no more
    than rows), else None."""
    return X.T @ X if 0 < X.shape[1] <= X.shape[0] else None


def _nan_rows(arrays: list[np.ndarray], known: list[bool] | None = None
              ) -> tuple[np.ndarray, list[bool]]:
    """Rows holding NaN (not ±Inf) in any of the arrays (R's na.omit of the model frame),
    and whether each array's sum is finite (then every cell is: no NaN, no ±Inf). `known`:
    arrays already known to be finite (True) are not summed again."""
    mask = np.zeros(arrays[0].shape[0], dtype=bool)
    finite = []
    for i, a in enumerate(arrays):
        if known is not None and known[i]:
            finite.append(True)
            continue
        total = float(a.sum())          # one pass: a sum is NaN whenever a cell is
        finite.append(math.isfinite(total))
        if not math.isnan(total):
            continue
        a2 = a.reshape(a.shape[0], -1)
        mask |= np.isnan(a2).any(axis=1)
    return mask, finite
