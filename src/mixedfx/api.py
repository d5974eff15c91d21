"""The fitting entry points: `lmer` (and, later, `glmer`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mixedfx.frame.model_frame import build_model_frame
from mixedfx.lmm.fit import fit_lmm
from mixedfx.optimize import Control
from mixedfx.results.lmm_model import LinearMixedModel


def lmer(formula: str, data: Any, REML: bool = True, weights: Any = None, offset: Any = None,
         na_action: str = "omit", control: Control | dict[str, Any] | None = None,
         start: np.ndarray | None = None) -> LinearMixedModel:
    """Fit a linear mixed model with lme4's formula syntax.

    Parameters mirror `lme4::lmer`: `REML` (default True), prior `weights` and an `offset`
    (column names or arrays), `na_action` ("omit" drops incomplete rows and says how many,
    "fail" refuses them), `control` (a `mixedfx.optimize.Control` or a dict of its fields) and
    `start` (θ start values, lme4's order).
    """
    ctrl = Control.from_user(control)
    frame = build_model_frame(formula, data, weights=weights, offset=offset,
                              na_action=na_action)
    fit = fit_lmm(frame, bool(REML), ctrl, start=start)
    name = getattr(data, "attrs", {}).get("name") if hasattr(data, "attrs") else None
    model = LinearMixedModel(frame, fit, ctrl, data_name=name)
    model._offset_source = offset if isinstance(offset, str) else None
    return model
