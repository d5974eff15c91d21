"""Pieces of the blocked factor (`lmm.factorization`)."""

from __future__ import annotations

import numpy as np
import pytest

from mixedfx.lmm.factorization import congruence


@pytest.mark.parametrize("n", [50, 2000])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 6])
def test_congruence_is_t_transpose_a_t_per_level(k: int, n: int) -> None:
    rng = np.random.default_rng(k)
    A = rng.standard_normal((n, k, k))
    T = np.tril(rng.standard_normal((k, k)))
    want = np.einsum("ba,jbc,cd->jad", T, A, T)
    np.testing.assert_allclose(congruence(T, A), want, rtol=1e-13, atol=1e-13)
