"""Z₁ᵀ built directly in CSR form (`crossproducts._sparse_zt`) equals the converted one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

import mixedfx as mfx
from mixedfx.lmm.crossproducts import _sparse_z, _sparse_zt


@pytest.fixture(scope="module")
def term():
    """A term to vary (codes, values and levels are replaced; _sparse_zt reads only those)."""
    return mfx.lmer("Reaction ~ Days + (Days | Subject)",
                    mfx.datasets.load("sleepstudy")).frame.terms[0]


@pytest.mark.parametrize(("n", "n_levels", "k"), [(1, 1, 1), (50, 7, 1), (200, 13, 2),
                                                  (300, 40, 3)])
def test_sparse_zt_stores_what_the_coo_conversion_stores(term, n, n_levels, k) -> None:
    rng = np.random.default_rng(n + k)
    codes = rng.integers(0, n_levels, n)
    codes[: min(n, n_levels)] = np.arange(min(n, n_levels))     # every level used
    values = rng.integers(-2, 3, (n, k)).astype(float)           # zeros are stored too
    levels = [f"l{i}" for i in range(int(codes.max()) + 1)]
    t = replace(term, codes=codes, values=values, levels=levels)
    ZT, order = _sparse_zt(t, n)
    ref = _sparse_z(t, n).T.tocsr()
    assert isinstance(ZT, sp.csr_matrix) and ZT.shape == ref.shape == (t.q, n)
    np.testing.assert_array_equal(ZT.indptr, ref.indptr)
    np.testing.assert_array_equal(ZT.indices, ref.indices)
    np.testing.assert_array_equal(ZT.data, ref.data)
    labelled = _sparse_z(t, n, np.arange(1, n * k + 1, dtype=float)).T.tocsr().data
    np.testing.assert_array_equal(order, labelled.astype(np.int64) - 1)
    x = rng.standard_normal((n, 3))
    np.testing.assert_array_equal(ZT @ x, ref @ x)                # same sums, same order
