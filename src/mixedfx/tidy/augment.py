"""broom.mixed's `augment` for fitted mixed models.

For the fitted data: the model frame, then `.fitted` (linear predictor Xβ̂ + Zb̂ + offset: the
response for an LMM, the link scale for a GLMM), `.resid` (response residuals for LMMs,
deviance residuals for GLMMs: lme4's `residuals()` default), `.hat` and `.cooksd`
(lme4's `hatvalues` / `cooks.distance`, from `mixedfx.diagnostics.leverage`), `.fixed`
(Xβ̂ + offset), then lme4's response-module slots:
`.mu` (μ), `.offset`, `.sqrtXwt` (√ of the working weights), `.sqrtrwt`
(√(w / V(μ))), `.weights` (prior weights; × trials for binomial), `.wtres` (.sqrtrwt·(y − μ))
and, for GLMMs, `.eta`.
With `newdata`: its columns, `.fitted` (predict with all random effects, link scale) and
`.fixed` (population level).

Rows: the frame is indexed by the data's rows used (newdata's own index with `newdata`); with
`na_action="exclude"` it has every row of the data, NaN at the rows the fit dropped.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.diagnostics.leverage import cooks_distance, hatvalues
from mixedfx.frame.model_frame import as_pandas
from mixedfx.frame.rows import used_rows

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import FramedFit


def augment(model: FramedFit, newdata: Any = None) -> pd.DataFrame:
    """The data with fitted values, residuals and influence columns (see module docstring)."""
    if newdata is not None:
        out = as_pandas(newdata).copy()
        out[".fitted"] = np.asarray(model.predict(newdata), dtype=float)
        out[".fixed"] = np.asarray(model.predict(newdata, re_form="NA"), dtype=float)
        return out
    frame = model.frame
    n = model.nobs
    out = frame.frame.copy().reset_index(drop=True)
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(str).astype(object)
    glmm = hasattr(model, "family")
    offset = frame.offset if frame.offset is not None else np.zeros(n)
    eta = model.linear_predictor()
    with warnings.catch_warnings():     # lme4's GLMM hat-matrix caveat: augment stays quiet
        warnings.simplefilter("ignore", UserWarning)
        h = hatvalues(model)
    cooksd = cooks_distance(model)       # reuses the cached hat values
    if glmm:
        fam, resp, st = model.family, model.response, model.pirls_state
        mu = st.mu
        W = model.working_weights
        sqrtrwt = np.sqrt(resp.wt / fam.variance(mu))
        cols = {".fitted": eta, ".resid": used_rows(model, model.residuals(type="deviance")),
                ".hat": h,
                ".cooksd": cooksd, ".fixed": model.linear_predictor(set()),
                ".mu": mu, ".offset": offset, ".sqrtXwt": np.sqrt(W), ".sqrtrwt": sqrtrwt,
                ".weights": resp.wt, ".wtres": sqrtrwt * (resp.y - mu), ".eta": eta}
    else:
        w = frame.weights if frame.weights is not None else np.ones(n)
        cols = {".fitted": eta, ".resid": frame.y - eta, ".hat": h,
                ".cooksd": cooksd, ".fixed": model.linear_predictor(set()),
                ".mu": eta, ".offset": offset, ".sqrtXwt": np.sqrt(w), ".sqrtrwt": np.sqrt(w),
                ".weights": w, ".wtres": np.sqrt(w) * (frame.y - eta)}
    for k, v in cols.items():
        out[k] = np.asarray(v, dtype=float)
    return frame.prediction_frame(None, out)
