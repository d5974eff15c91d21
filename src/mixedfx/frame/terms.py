"""The random-effects term: one grouping factor, its per-row term values and covariance.

A term `(lhs | g)` contributes the columns of Z_t: row i has the k values V[i, :] in the
columns codes[i]·k .. codes[i]·k + k - 1 (lme4's level-major order). Z is never formed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixedfx.covariance import CovarianceStructure


@dataclass
class RandomEffectsTerm:
    """A grouping factor (codes into `levels`), the n×k term values and the covariance."""

    group_name: str
    group_vars: tuple[str, ...]
    levels: list[str]
    codes: np.ndarray
    values: np.ndarray
    term_names: list[str]
    covariance: CovarianceStructure
    design: Any = field(default=None, repr=False)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def k(self) -> int:
        return self.values.shape[1]

    @property
    def q(self) -> int:
        """Number of random effects contributed: levels × columns."""
        return self.n_levels * self.k

    @property
    def n_theta(self) -> int:
        return self.covariance.n_theta

    def theta_names(self) -> list[str]:
        return self.covariance.theta_names(self.group_name, self.term_names)

    def row_effects(self, b: np.ndarray) -> np.ndarray:
        """(Z_t b_t)_i = V[i, :] · b_t[codes[i], :] for b_t given as (levels, k)."""
        if self.values.shape[1] == 1:
            return self.values[:, 0] * b[:, 0][self.codes]
        return np.einsum("ik,ik->i", self.values, b[self.codes])


def dense_block_rows(terms: list[RandomEffectsTerm], p: int) -> int:
    """Rows of the penalized system's dense trailing block (terms sorted, largest first): the
    random effects of all terms but the first, the p fixed effects and the response."""
    rows = p + 1
    for t in terms[1:]:         # (a loop: no generator for a few terms)
        rows += t.q
    return rows
