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

import numpy as np

from mixedfx.frame.terms import RandomEffectsTerm


def canonical_rows(terms: list[RandomEffectsTerm], X: np.ndarray, y: np.ndarray,
                   sqrt_w: np.ndarray | None = None) -> np.ndarray:
    """The permutation that puts the rows in the canonical order (see the module)."""
    keys: list[np.ndarray] = [t.codes for t in terms]
    keys += [t.values[:, a] for t in terms for a in range(t.k)]
    keys += [X[:, j] for j in range(X.shape[1])]
    keys.append(np.asarray(y))
    if sqrt_w is not None:
        keys.append(sqrt_w)
    # np.lexsort sorts by its last key first
    return np.lexsort(keys[::-1])
