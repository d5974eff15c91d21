"""`WeightedGram.refreshed`: a Gram for a B of the same sparsity with new values, equal to
one built from that B, while the Gram it came from keeps its own values (a refit's objective
keeps evaluating its response: `lmm.refit.ResponseRefitter`)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mixedfx.lmm import weighted_gram
from mixedfx.lmm.weighted_gram import WeightedGram


def _b_pair(seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Two sparse B (r × n₁) with one sparsity pattern and different values."""
    B = sp.random(25, 60, density=0.2, random_state=seed, format="csr")
    B2 = B.copy()
    B2.data = np.random.default_rng(seed).uniform(-2.0, 2.0, B.nnz)
    return B, B2


@pytest.mark.parametrize("direct", [False, True])
def test_refreshed_leaves_the_original(direct: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if direct:
        monkeypatch.setattr(weighted_gram, "PAIR_BYTES_BUDGET", 0)
    B, B2 = _b_pair(7)
    W = np.random.default_rng(1).uniform(0.1, 1.0, 60)
    gram = WeightedGram(B, 1, 60, refreshable=True)
    assert gram.direct == direct
    before = gram(W)
    new = gram.refreshed(B2)
    assert new is not None and new is not gram
    assert np.array_equal(gram(W), before)
    assert np.array_equal(new(W), WeightedGram(B2, 1, 60, refreshable=True)(W))
    if not direct:      # Q's structure is shared, its values are not
        assert np.shares_memory(new.Q.indices, gram.Q.indices)
        assert not np.shares_memory(new.Q.data, gram.Q.data)


def test_refreshed_refuses_another_pattern() -> None:
    B, _ = _b_pair(7)
    other, _ = _b_pair(8)
    assert WeightedGram(B, 1, 60, refreshable=True).refreshed(other) is None
    assert WeightedGram(B, 1, 60).refreshed(B) is None          # not built refreshable
