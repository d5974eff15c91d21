"""A canonical order of the rows, fixed by the model rather than by the data's row order.

Every cross-product of [Z X y] is a sum over rows, and floating-point sums depend on the order
of their terms: shuffling the rows of the data moves the profiled deviance in its last bits,
the optimizer's path with it, and the estimates by up to the optimizer's tolerance (1e-8 to
1e-6 relative). Accumulating in an order fixed by the model makes the fit invariant to row
shuffles, to relabelled levels that keep R's level order (same codes), to renamed columns
and to unused extra columns.

The order sorts the rows lexicographically by the grouping codes of the terms (the first,
largest term first), then by the term values, the columns of X, the response and the
weights: rows that tie on every key are identical in every number the sums see, so their
relative order cannot change any sum.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from mixedfx.frame.terms import RandomEffectsTerm

if TYPE_CHECKING:
    from mixedfx.residual.structure import ResidualStructure


def canonical_rows(terms: list[RandomEffectsTerm], X: np.ndarray,
                   *columns: np.ndarray | None) -> np.ndarray:
    """The permutation that puts the rows in the canonical order (see the module);
    `columns`: the other per-row numbers the sums see (response, weights, offset; None
    entries are skipped)."""
    keys: list[np.ndarray] = [t.codes for t in terms]
    keys += [t.values[:, a] for t in terms for a in range(t.k)]
    keys += [X[:, j] for j in range(X.shape[1])]
    keys += [np.asarray(c) for c in columns if c is not None]
    # np.lexsort sorts by its last key first
    return np.lexsort(keys[::-1])


class CanonicalOrder:
    """The canonical order of rows whose fixed keys (terms, X, weights) are known once and
    whose response changes (refits): `with_response(y)` orders the rows tied on every fixed
    key by y, which equals `canonical_rows(terms, X, *columns, y)`. Rows tied on the fixed
    keys hold the same numbers in Z, X and W, so a `CrossProductBuilder` built on the rows in
    `order` serves every response."""

    def __init__(self, terms: list[RandomEffectsTerm], X: np.ndarray,
                 *columns: np.ndarray | None) -> None:
        self.order = canonical_rows(terms, X, *columns)
        keys = [t.codes for t in terms] + [t.values for t in terms] + [X] + \
            [np.asarray(c) for c in columns if c is not None]
        sorted_keys = np.column_stack([np.asarray(k, dtype=float).reshape(len(self.order), -1)
                                       for k in keys])[self.order]
        starts = np.r_[True, np.any(sorted_keys[1:] != sorted_keys[:-1], axis=1)]
        self.tied = not bool(starts.all())
        self.group = np.cumsum(starts)

    def with_response(self, y: np.ndarray) -> np.ndarray:
        """The permutation of the rows for response y."""
        if not self.tied:
            return self.order
        return self.order[np.lexsort((np.asarray(y)[self.order], self.group))]


def permuted_terms(terms: list[RandomEffectsTerm], order: np.ndarray
                   ) -> list[RandomEffectsTerm]:
    """The terms with their rows (codes and values) taken in `order`."""
    return [replace(t, codes=t.codes[order], values=t.values[order]) for t in terms]


def structured_rows(terms: list[RandomEffectsTerm], X: np.ndarray,
                    residual: ResidualStructure, *columns: np.ndarray | None) -> np.ndarray:
    """The canonical order for a model with an nlme residual structure (see the module).

    With a correlation structure the rows are sorted by correlation group and, within a
    group, by time (the form's covariate, or the row's position in its group when the form
    has none): times are unique within a group, so this order is total, and C_g, a function
    of the times, is the same matrix whatever order the data give the rows of a covariate
    form (for `~ 1 | g` the positions are the data's order within the group, as nlme's).
    Without one the rows follow `canonical_rows`, with the variance function's keys added."""
    if residual.cor is not None:
        return np.lexsort((residual.cor.times, residual.cor.group_codes))
    keys = [] if residual.var is None else residual.var.row_keys()
    return canonical_rows(terms, X, *columns, *keys)
