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
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from mixedfx.frame.terms import RandomEffectsTerm

if TYPE_CHECKING:
    from mixedfx.residual.structure import ResidualStructure


#: up to this many rows `canonical_rows` sorts by all keys at once (measured: the folded
#: codes of `lexicographic_order` win from about a thousand rows)
SMALL_ROWS = 512


def canonical_rows(terms: list[RandomEffectsTerm], X: np.ndarray,
                   *columns: np.ndarray | None) -> np.ndarray:
    """The permutation that puts the rows in the canonical order (see the module);
    `columns`: the other per-row numbers the sums see (response, weights, offset; None
    entries are skipped). Up to `SMALL_ROWS` rows one `np.lexsort` over every key is cheaper
    than folding the keys into codes (a few µs against a dozen small NumPy calls), and it is
    the same stable order."""
    keys = row_keys(terms, X, columns)
    if keys and len(keys[0]) <= SMALL_ROWS:
        return np.lexsort(keys[::-1])
    return lexicographic_order(keys)[0]


def compiled_rows(native: ModuleType, terms: list[RandomEffectsTerm], X: np.ndarray,
                  columns: tuple[np.ndarray | None, ...]) -> tuple[np.ndarray, bool] | None:
    """`canonical_rows(terms, X, *columns)` by the compiled kernel's merge sort
    (`mixedfx._native.pirls.row_order`: the keys' arrays read in place, no key list), and
    whether it is the identity; None beyond `SMALL_ROWS` rows, without terms, or for a key
    type the kernel does not take (then `canonical_rows`). A stable sort by the whole key
    tuple has one result, so it is `np.lexsort`'s permutation."""
    n = X.shape[0]
    if not terms or n > SMALL_ROWS:
        return None
    keys = (*[t.codes for t in terms], *[t.values for t in terms], X,
            *[np.asarray(c) for c in columns if c is not None])
    out = np.empty(n, dtype=np.int64)
    flag = native.row_order(keys, out)
    return None if flag < 0 else (out, bool(flag))


def canonical_order(native: ModuleType | None, terms: list[RandomEffectsTerm], X: np.ndarray,
                    *columns: np.ndarray | None) -> tuple[np.ndarray, bool | None]:
    """(`canonical_rows(terms, X, *columns)`, whether it is the identity or None when not
    known): by `compiled_rows` with the compiled kernel `native` when it takes the keys."""
    found = None if native is None else compiled_rows(native, terms, X, columns)
    return (canonical_rows(terms, X, *columns), None) if found is None else found


def row_keys(terms: list[RandomEffectsTerm], X: np.ndarray,
          columns: tuple[np.ndarray | None, ...]) -> list[np.ndarray]:
    """The sort keys, most significant first."""
    keys: list[np.ndarray] = [t.codes for t in terms]
    keys += [t.values[:, a] for t in terms for a in range(t.k)]
    keys += [X[:, j] for j in range(X.shape[1])]
    keys += [np.asarray(c) for c in columns if c is not None]
    return keys


def _ranks(key: np.ndarray) -> tuple[np.ndarray, int]:
    """Integers r ∈ [0, m) with r_i < r_j ⇔ key_i < key_j (and equal for equal keys): the
    grouping codes as they are, a constant key as m = 1, whole numbers in [0, n) as they
    are, other keys by their dense ranks (one argsort). Any such r gives `lexicographic_order`
    the same stable order, so the shortcuts cannot change the permutation."""
    key = np.asarray(key)
    if key.dtype.kind in "iu" and len(key) and key.min() >= 0 and key.max() < 2**31:
        return key.astype(np.int64, copy=False), int(key.max()) + 1
    key = np.asarray(key, dtype=float)
    n = len(key)
    if n:
        lo, hi = key.min(), key.max()
        if lo == hi:                        # constant (not NaN): one rank
            return np.zeros(n, dtype=np.int64), 1
        if lo >= 0.0 and hi < n:
            # whole numbers in [0, n) (dummy columns, small counts) are their own ranks:
            # order-preserving and exact, and no larger than dense ranks' bound n
            whole = key.astype(np.int64)
            if np.array_equal(whole, key):
                return whole, int(whole.max()) + 1
    order = np.argsort(key)                 # any order: ties get one rank whatever it is
    sk = key[order]
    new = np.empty(len(key), dtype=bool)
    new[:1] = True
    np.not_equal(sk[1:], sk[:-1], out=new[1:])
    ranks = np.empty(len(key), dtype=np.int64)
    ranks[order] = np.cumsum(new) - 1
    return ranks, int(new.sum())


def lexicographic_order(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """`np.lexsort(keys[::-1])` (keys most significant first, stable) and, in that order,
    where a run of rows tied on every key starts (bool per sorted row).

    The keys are folded into one integer code (code · m + rank of the next key, exact),
    and the rows sorted by it, key by key until no two rows tie: the keys after that cannot
    change the order (no sort while the codes are fewer than the rows). A key constant over
    the rows is skipped. For 500,000 rows this costs
    a third of the 6-key lexsort of a random-slope model, where the grouping codes and x
    already order the rows."""
    n = len(keys[0]) if keys else 0
    code: np.ndarray | None = None
    size = 1
    order = np.arange(n)
    starts = np.zeros(n, dtype=bool)
    starts[:1] = True
    current = True                          # `order` and `starts` follow `code`
    for key in keys:
        ranks, m = _ranks(key)
        if m <= 1:
            continue
        if code is None:
            code, size = ranks, m
        else:
            if size * m >= 2**62:           # keep the folded code exact
                code, size = _ranks(code)
            code = code * m + ranks
            size *= m
        current = False
        if size < n:
            continue                        # fewer codes than rows: ties remain
        order, starts = _sorted_runs(code)
        current = True
        if starts.all():
            break
    if not current:
        order, starts = _sorted_runs(code)
    return order, starts


def _sorted_runs(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stable order of the codes and where each run of equal codes starts in it."""
    order = np.argsort(code, kind="stable")
    sc = code[order]
    starts = np.empty(len(code), dtype=bool)
    starts[:1] = True
    np.not_equal(sc[1:], sc[:-1], out=starts[1:])
    return order, starts


class CanonicalOrder:
    """The canonical order of rows whose fixed keys (terms, X, weights) are known once and
    whose response changes (refits): `with_response(y)` orders the rows tied on every fixed
    key by y, which equals `canonical_rows(terms, X, *columns, y)`. Rows tied on the fixed
    keys hold the same numbers in Z, X and W, so a `CrossProductBuilder` built on the rows in
    `order` serves every response."""

    def __init__(self, terms: list[RandomEffectsTerm], X: np.ndarray,
                 *columns: np.ndarray | None) -> None:
        self.order, starts = lexicographic_order(row_keys(terms, X, columns))
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
