"""R's `AIC(m1, m2, ...)` and `BIC(m1, m2, ...)` as one table, with Akaike weights.

Rows in the order given, named by `names` (default `m1, m2, ...`); columns `df` (number of
estimated parameters), `AIC` = −2ℓ + 2 df, `BIC` = −2ℓ + df log n, `logLik`, `delta_AIC`
= AIC − min AIC and the Akaike weights exp(−Δᵢ/2) / Σⱼ exp(−Δⱼ/2). Models must be fitted to
the same number of observations (R warns; this refuses).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError, ArgumentTypeError

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import FittedModel


def _npar(m: FittedModel) -> int:
    if hasattr(m, "npar"):
        return int(m.npar)
    raise ArgumentTypeError(f"cannot count the parameters of a {type(m).__name__}")


def aic_table(*models: Any, names: Sequence[str] | None = None) -> pd.DataFrame:
    """AIC / BIC table of fitted models (see the module docstring)."""
    if len(models) == 1 and isinstance(models[0], (list, tuple)):
        models = tuple(models[0])
    if not models:
        raise ArgumentError("aic_table needs at least one fitted model")
    for m in models:
        if not all(hasattr(m, a) for a in ("loglik", "nobs", "aic", "bic")):
            raise ArgumentTypeError(f"aic_table takes fitted models, got {type(m).__name__}")
    if names is None:
        names = [f"m{i + 1}" for i in range(len(models))]
    names = list(names)
    if len(names) != len(models):
        raise ArgumentError(f"{len(names)} names for {len(models)} models")
    nobs = {int(m.nobs) for m in models}
    if len(nobs) > 1:
        raise ArgumentError(f"models are not all fitted to the same number of observations: "
                            f"{sorted(nobs)}")
    aic = np.array([m.aic for m in models], dtype=float)
    delta = aic - aic.min()
    w = np.exp(-0.5 * delta)
    return pd.DataFrame({"df": [_npar(m) for m in models], "AIC": aic,
                         "BIC": [float(m.bic) for m in models],
                         "logLik": [float(m.loglik) for m in models],
                         "delta_AIC": delta, "weight": w / w.sum()},
                        index=pd.Index(names, name="model"))


compare_models = aic_table
