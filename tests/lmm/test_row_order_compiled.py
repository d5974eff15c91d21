"""The compiled row sort (`row_order.compiled_rows`, pirls_setup.h row_order) against
`np.lexsort` over `row_keys`: random keys with ties, NaNs and signed zeros, integer codes of 8
and 4 bytes, strided columns, lengths across the merge sort's widths; the types it declines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from mixedfx.lmm.row_order import (
    SMALL_ROWS,
    canonical_order,
    canonical_rows,
    compiled_rows,
    row_keys,
)
from mixedfx.native import kernel

lib = kernel("pirls")
pytestmark = pytest.mark.skipif(lib is None, reason="the compiled PIRLS kernel is not built")


@dataclass
class _Term:
    codes: np.ndarray
    values: np.ndarray

    @property
    def k(self) -> int:
        return self.values.shape[1]


def _case(rng: np.random.Generator, n: int, code_dtype=np.int64):
    few = rng.integers(0, 4, n)
    terms = [_Term(few.astype(code_dtype), np.ones((n, 1))),
             _Term(rng.integers(0, 3, n).astype(code_dtype),
                   np.column_stack([np.ones(n), rng.integers(0, 2, n) * 0.5]))]
    X = np.asfortranarray(np.column_stack([np.ones(n), rng.integers(0, 3, n).astype(float)]))
    y = rng.integers(0, 3, n).astype(float)
    y[rng.random(n) < 0.1] = np.nan
    zero = rng.random(n) < 0.3
    y[zero] = np.where(rng.random(zero.sum()) < 0.5, -0.0, 0.0)
    wt = rng.integers(1, 3, n).astype(float)
    return terms, X, (y, None, wt)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8, 31, 56, 64, 100, 257, SMALL_ROWS])
@pytest.mark.parametrize("code_dtype", [np.int64, np.int32])
def test_matches_lexsort(n: int, code_dtype) -> None:
    rng = np.random.default_rng(n)
    for _ in range(5):
        terms, X, cols = _case(rng, n, code_dtype)
        want = np.lexsort(row_keys(terms, X, cols)[::-1])
        got, identity = compiled_rows(lib, terms, X, cols)
        assert got.dtype == np.int64 and np.array_equal(got, want)
        assert identity == bool(np.array_equal(want, np.arange(n)))


def test_identity_flag_and_declines() -> None:
    n = 6
    terms = [_Term(np.arange(n), np.ones((n, 1)))]
    X = np.ones((n, 1))
    order, identity = compiled_rows(lib, terms, X, (np.zeros(n),))
    assert identity and np.array_equal(order, np.arange(n))
    # unsigned codes, datetimes: the kernel declines, np.lexsort decides
    assert compiled_rows(lib, [_Term(np.arange(n, dtype=np.uint8), np.ones((n, 1)))], X,
                         ()) is None
    days = np.arange(n).astype("datetime64[D]")
    assert compiled_rows(lib, terms, X, (days,)) is None
    assert compiled_rows(lib, terms, np.ones((SMALL_ROWS + 1, 1)), ()) is None
    assert compiled_rows(lib, [], X, ()) is None
    assert np.array_equal(canonical_rows(terms, X, days), np.arange(n))


def test_canonical_order_with_and_without_kernel() -> None:
    rng = np.random.default_rng(5)
    terms, X, cols = _case(rng, 40)
    want = canonical_rows(terms, X, *cols)
    order, identity = canonical_order(lib, terms, X, *cols)
    assert np.array_equal(order, want) and identity is False
    order, identity = canonical_order(None, terms, X, *cols)
    assert np.array_equal(order, want) and identity is None
