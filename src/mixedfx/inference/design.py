"""Explicit sparse forms of the random-effects design for the inference code that needs them
(Kenward–Roger, posterior simulation, RLRsim): Z (n×q, terms in order, level-major columns,
as lme4's Zᵀ transposed) and Λ = blockdiag(I_levels ⊗ T_t). The engine itself never forms Z.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from mixedfx.frame.terms import RandomEffectsTerm


def z_matrix(terms: list[RandomEffectsTerm], n: int) -> sp.csc_matrix:
    """The n×q random-effects model matrix."""
    blocks = []
    for t in terms:
        cols = t.codes[:, None] * t.k + np.arange(t.k)[None, :]
        rows = np.repeat(np.arange(n), t.k)
        blocks.append(sp.csc_matrix((t.values.ravel(), (rows, cols.ravel())),
                                    shape=(n, t.q)))
    return sp.hstack(blocks, format="csc")


def lambda_matrix(terms: list[RandomEffectsTerm], templates: list[np.ndarray]
                  ) -> sp.csr_matrix:
    """Λ = blockdiag(I_levels ⊗ T_t), q×q."""
    return sp.block_diag([sp.kron(sp.identity(t.n_levels), T) for t, T in
                          zip(terms, templates, strict=True)], format="csr")
