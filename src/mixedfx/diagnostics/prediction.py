"""Wald standard errors and confidence intervals of predictions.

lme4 has no `se.fit` for merMod; the usual computation (GLMM FAQ, effects, emmeans) treats the
random effects as known: on the link scale se(η̂ᵢ) = √(xᵢᵀ V xᵢ), V = vcov(β̂), and the interval
is η̂ᵢ ± z·se. On the response scale the standard error is the delta method's
|dμ/dη|·se(η̂ᵢ) and the interval is the link-scale interval mapped through the inverse link
(it stays inside the response's range). The fitted value includes the random effects that
`re_form` asks for (all by default), as `predict` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError
from mixedfx.fitted.predict import fixed_matrix, prepare_newdata
from mixedfx.lazy import lazy_module

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import MixedModel

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here


def predict_se(model: MixedModel, newdata: object = None, re_form: str | None = None,
               allow_new_levels: bool = False, type: str = "link", level: float = 0.95,
               interval: str = "confidence") -> pd.DataFrame:
    """Predictions with Wald standard errors: columns `fit`, `se_fit`, and `lower`, `upper`
    (at `level`) unless `interval="none"`."""
    if type not in ("link", "response"):
        raise ArgumentError("type must be 'link' or 'response'")
    if interval not in ("none", "confidence"):
        raise ArgumentError("interval must be 'none' or 'confidence' (prediction intervals for "
                            "mixed models: mixedfx.inference.predict_interval)")
    if not 0 < level < 1:
        raise ArgumentError("level must be between 0 and 1")
    fr = model.frame
    X = fr.X if newdata is None else fixed_matrix(fr, prepare_newdata(fr, newdata))
    V = model.vcov.to_numpy()
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X, V, X), 0.0))
    eta = model.linear_predictor_new(newdata, re_form, allow_new_levels)
    z = stats.norm.ppf(0.5 + level / 2)
    lo, hi = eta - z * se, eta + z * se
    fit = eta
    if type == "response" and hasattr(model, "family"):
        link = model.family.link
        fit = link.linkinv(eta)
        se = np.abs(link.mu_eta(eta)) * se
        lo, hi = link.linkinv(lo), link.linkinv(hi)
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    out = pd.DataFrame({"fit": fit, "se_fit": se})
    if interval == "confidence":
        out["lower"] = lo
        out["upper"] = hi
    return fr.prediction_frame(newdata, out)
