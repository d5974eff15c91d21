"""Refitting a linear mixed model to new responses (bootstrap, simulation, profiling a
response): everything that depends only on the random-effects terms, X and the prior weights
is built once and reused.

For a new response y only the last row and column of [Z X y]ᵀ W [Z X y] change. The
`CrossProductBuilder` (positions of every product, Zᵀ as CSR) is kept, so a refit costs its
`compute(y)` (a few bincounts and one sparse product) plus the optimization; a sparse B's
pair-product matrix Q keeps its structure and only its values are recomputed
(`WeightedGram.refresh`). The numbers are those of `fit_lmm` on the same frame: the same
builder, the same products in the same order.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mixedfx.errors import DataError
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.lmm.crossproducts import canonical_builder, canonical_response
from mixedfx.lmm.deviance import ProfiledDeviance
from mixedfx.lmm.factorization import BlockedCholesky, WeightedGram
from mixedfx.lmm.fit import LmmFit, fit_lmm_objective, log_weights_sum
from mixedfx.lmm.row_order import CanonicalOrder
from mixedfx.optimize import Control


class ResponseRefitter:
    """Fits the model of `frame` to new response vectors, reusing its fixed structure."""

    def __init__(self, frame: ModelFrame) -> None:
        self.frame = frame
        self.sqrt_w = None if frame.weights is None else np.sqrt(frame.weights)
        # the rows in the model's canonical order, as compute_crossproducts takes them
        self.canon = CanonicalOrder(frame.terms, frame.X, self.sqrt_w)
        self.builder = canonical_builder(frame.terms, frame.X, self.canon)
        self.ldW = log_weights_sum(frame.weights)
        self._gram: WeightedGram | None = None

    def objective(self, y: np.ndarray, reml: bool) -> ProfiledDeviance:
        """The profiled deviance (ML) or REML criterion for response `y`."""
        yy = y if self.frame.offset is None else y - self.frame.offset
        xp = self.builder.compute(*canonical_response(self.canon, yy, self.sqrt_w))
        gram = None
        if not isinstance(xp.B, np.ndarray):
            first = self.frame.terms[0]
            if self._gram is None or not self._gram.refresh(xp.B):
                self._gram = WeightedGram(xp.B, first.k, first.n_levels, refreshable=True)
            gram = self._gram
        chol = BlockedCholesky(self.frame.terms, xp, gram=gram, compiled=True)
        return ProfiledDeviance(chol, reml, self.ldW)

    def fit(self, y: np.ndarray, reml: bool, control: Control, start: np.ndarray | None = None,
            warn: bool = True) -> tuple[ModelFrame, LmmFit]:
        """(the frame with response `y`, the fit) — what `fit_lmm` gives for that frame."""
        frame = replace(self.frame, y=y)
        n_obs, p_fixed = len(y), frame.X.shape[1]
        if reml and n_obs <= p_fixed:
            raise DataError(f"REML needs more observations than fixed effects (n = {n_obs}, "
                            f"p = {p_fixed})")
        return frame, fit_lmm_objective(frame, self.objective(y, reml), control, start, warn)
