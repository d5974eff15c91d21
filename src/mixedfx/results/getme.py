"""lme4's `getME` pieces as explicit matrices, built on request from the model frame.

Z (n × q, scipy.sparse CSC) has for term t the columns offset_t + codes[i]·k + j holding the
term values V[i, j] (lme4's level-major order); Λ is block diagonal with the term's k × k
lower template Tₜ repeated per level (Λᵀ = `Lambdat`); u the spherical modes and b = Λu;
`flist` the grouping factors as pandas categoricals; `cnms` the term column names per group.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mixedfx.frame.terms import RandomEffectsTerm


def z_matrix(terms: list[RandomEffectsTerm], n: int) -> sp.csc_matrix:
    """Z = [Z₁ … Z_T] (n × Σ qₜ), sparse."""
    blocks = []
    for t in terms:
        k = t.k
        rows = np.repeat(np.arange(n), k)
        cols = (t.codes[:, None] * k + np.arange(k)[None, :]).ravel()
        blocks.append(sp.csc_matrix((t.values.ravel(), (rows, cols)), shape=(n, t.q)))
    if not blocks:
        return sp.csc_matrix((n, 0))
    return sp.hstack(blocks, format="csc")


def lambda_matrix(terms: list[RandomEffectsTerm], templates: list[np.ndarray]
                  ) -> sp.csc_matrix:
    """Λ (q × q): block diagonal, Tₜ repeated once per level of term t."""
    blocks = [sp.kron(sp.identity(t.n_levels, format="csc"), sp.csc_matrix(T), format="csc")
              for t, T in zip(terms, templates, strict=True)]
    return sp.block_diag(blocks, format="csc") if blocks else sp.csc_matrix((0, 0))


def stacked(per_term: list[np.ndarray]) -> np.ndarray:
    """One vector from per-term (levels, k) arrays in lme4's level-major order."""
    return np.concatenate([np.asarray(x).ravel() for x in per_term]) if per_term \
        else np.zeros(0)


def flist(terms: list[RandomEffectsTerm]) -> dict[str, pd.Categorical]:
    """The grouping factors, one per distinct group name (lme4's `getME(m, "flist")`)."""
    out: dict[str, Any] = {}
    for t in terms:
        if t.group_name not in out:
            out[t.group_name] = pd.Categorical.from_codes(t.codes, categories=t.levels)
    return out


def cnms(terms: list[RandomEffectsTerm]) -> dict[str, list[str]]:
    """Term column names per term (repeated group names made unique as lme4 prints them)."""
    from mixedfx.results.varcorr import unique_group_names

    return {g: list(t.term_names)
            for g, t in zip(unique_group_names(terms), terms, strict=True)}
