"""Refitting a linear mixed model to new responses (bootstrap, simulation, profiling a
response): everything that depends only on the random-effects terms, X and the prior weights
is built once and reused.

For a new response y only the last row and column of [Z X y]ᵀ W [Z X y] change. The
`CrossProductBuilder` (positions of every product, Zᵀ as CSR) is kept, so a refit costs its
`compute_response(y)` (the blocks with y: two sparse products and one small dense one) plus
the optimization; a sparse B's pair-product matrix Q keeps its structure and only its values
are recomputed (`WeightedGram.refresh`). The numbers are those of `fit_lmm` on the same
frame: the same builder, the same products in the same order.
"""

from __future__ import annotations

import numpy as np

from mixedfx.errors import DataError
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.lmm.crossproducts import (
    CrossProductBuilder,
    CrossProducts,
    canonical_builder,
    canonical_response,
)
from mixedfx.lmm.deviance import ProfiledDeviance
from mixedfx.lmm.factorization import BlockedCholesky
from mixedfx.lmm.fit import LmmFit, fit_lmm_objective, log_weights_sum
from mixedfx.lmm.refit_newton import NewtonRefit
from mixedfx.lmm.refit_products import ResponseProducts
from mixedfx.lmm.row_order import CanonicalOrder
from mixedfx.lmm.weighted_gram import WeightedGram
from mixedfx.optimize import Control


class ResponseRefitter:
    """Fits the model of `frame` to new response vectors, reusing its fixed structure."""

    def __init__(self, frame: ModelFrame) -> None:
        self.frame = frame
        self.sqrt_w = None if frame.weights is None else np.sqrt(frame.weights)
        # the rows in the model's canonical order, as compute_crossproducts takes them
        self.canon = CanonicalOrder(frame.terms, frame.X, self.sqrt_w)
        # a dense B's blocks come from the compiled pass, the others from the builder
        self.products = ResponseProducts.build(frame.terms, frame.X, self.sqrt_w)
        self._builder: CrossProductBuilder | None = None
        self.ldW = log_weights_sum(frame.weights)
        self._gram: WeightedGram | None = None
        self._base: CrossProducts | None = None   # the first response's, for the others
        self._chol: BlockedCholesky | None = None  # the first one built, for the others
        self.newton = NewtonRefit(frame)

    @property
    def builder(self) -> CrossProductBuilder:
        """The cross-product builder over the rows in the canonical order (built on first
        use: a dense B's refits do not need it)."""
        if self._builder is None:
            self._builder = canonical_builder(self.frame.terms, self.frame.X, self.canon)
        return self._builder

    def objective(self, y: np.ndarray, reml: bool) -> ProfiledDeviance:
        """The profiled deviance (ML) or REML criterion for response `y`."""
        yy = y if self.frame.offset is None else y - self.frame.offset
        if self.products is not None:
            xp, Bc = self.products(yy, self.canon.with_response(yy))
            first = self.frame.terms[0]
            # the dense gram of this B (C order: what WeightedGram makes of any layout)
            gram = WeightedGram(Bc, first.k, first.n_levels)
            if self._chol is None:
                chol = self._chol = BlockedCholesky(self.frame.terms, xp, gram=gram,
                                                    compiled=True)
            else:       # the terms' layout reused (θ slices, the evaluator's map)
                chol = self._chol.with_products(xp, gram)
            return ProfiledDeviance(chol, reml, self.ldW)
        args = canonical_response(self.canon, yy, self.sqrt_w)
        if self._base is None:
            xp = self._base = self.builder.compute(*args)
        else:
            xp = self.builder.compute_response(self._base, *args)
        gram = None
        if not isinstance(xp.B, np.ndarray):
            # each objective its own Gram (it holds y's row of B), with the structure of the
            # first one: the fitted refits keep evaluating their own response, also while
            # other threads refit
            first, template = self.frame.terms[0], self._gram
            gram = None if template is None else template.refreshed(xp.B)
            if gram is None:
                gram = self._gram = WeightedGram(xp.B, first.k, first.n_levels,
                                                 refreshable=True)
        chol = BlockedCholesky(self.frame.terms, xp, gram=gram, compiled=True)
        return ProfiledDeviance(chol, reml, self.ldW)

    def fit(self, y: np.ndarray, reml: bool, control: Control, start: np.ndarray | None = None,
            warn: bool = True) -> tuple[ModelFrame, LmmFit]:
        """(the frame with response `y`, the fit) — what `fit_lmm` gives for that frame."""
        frame = with_response(self.frame, y)
        n_obs, p_fixed = len(y), frame.X.shape[1]
        if reml and n_obs <= p_fixed:
            raise DataError(f"REML needs more observations than fixed effects (n = {n_obs}, "
                            f"p = {p_fixed})")
        objective = self.objective(y, reml)
        if start is None:
            return frame, fit_lmm_objective(frame, objective, control, None, warn)
        fit = self.newton.fit(frame, objective, start, control, warn)
        if fit is None:         # Newton gave way: BOBYQA from θ̂ with a small trust region
            fit = fit_lmm_objective(frame, objective, control, start, warn, refit_step(start))
        return frame, fit


def with_response(frame: ModelFrame, y: np.ndarray) -> ModelFrame:
    """`dataclasses.replace(frame, y=y)` without running the dataclass's constructor again
    (a ModelFrame has no `__post_init__`): the same fields, y replaced. The data frame field
    is carried as it is (built, or still the recipe it is built from when read)."""
    new = object.__new__(type(frame))
    new.__dict__.update(frame.__dict__)
    new.y = y
    return new


REFIT_STEP = 0.2          # a refit's initial trust region, relative to |θ̂ᵢ| ...
REFIT_STEP_FLOOR = 0.1    # ... or to this for θ̂ᵢ near 0


def refit_step(start: np.ndarray) -> np.ndarray:
    """The initial trust region of a refit started at the fitted θ̂: 0.2·max(|θ̂ᵢ|, 0.1).

    A replicate's optimum lies within a few standard errors of θ̂, so BOBYQA need not probe
    as far as NLopt's default step, made for a start that is a guess (a large part of the
    start's distance to its bound). On
    sleepstudy bootstrap responses this takes 40 evaluations instead of 69, and the optimum
    agrees with the default run's to the optimizer's tolerance (deviance within 1e-6,
    θ within 2e-4 on a flat ridge)."""
    return REFIT_STEP * np.maximum(np.abs(np.asarray(start, dtype=float)), REFIT_STEP_FLOOR)
