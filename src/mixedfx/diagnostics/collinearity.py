"""Variance inflation factors of the fixed-effects terms (performance's `check_collinearity`).

From V = vcov(β) without the intercept row and column, R = cov2cor(V); for a term whose columns
are S, the (generalized) VIF is det(R_SS) det(R_−S−S) / det(R) (one column: the ordinary VIF).
The interval uses performance's formula on r = 1 − 1/VIF: logit(r) ± z·se/(r(1 − r)) with
se = √((1 − r²)² (n − p − 1)² / ((n² − 1)(n + 3))) (p: number of fixed effects),
back-transformed to 1/(1 − r).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError
from mixedfx.inference.contrasts import fixed_terms, term_columns
from mixedfx.lazy import lazy_module
from mixedfx.warn import warn

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import FramedFit


def vif(model: FramedFit, ci: float = 0.95) -> pd.DataFrame:
    """Columns Term, VIF, VIF_CI_low, VIF_CI_high, SE_factor, Tolerance (performance)."""
    fr = model.frame
    V = model.vcov.to_numpy()
    cols = term_columns(fr)
    idx = np.arange(V.shape[0])
    if fr.fixed_design.intercept and "(Intercept)" in cols:
        keep = np.setdiff1d(idx, cols["(Intercept)"])
    else:
        warn("Model has no intercept. VIFs may not be sensible.", UserWarning)
        keep = idx
    labels = [t for t in fixed_terms(fr) if t in cols]
    if len(labels) < 2:
        raise ArgumentError("VIFs need at least two fixed-effects terms besides the intercept")
    pos = {j: i for i, j in enumerate(keep)}
    Vk = V[np.ix_(keep, keep)]
    sd = np.sqrt(np.diag(Vk))
    R = Vk / np.outer(sd, sd)
    detR = np.linalg.det(R)
    out = []
    for t in labels:
        s = np.array([pos[j] for j in cols[t]])
        rest = np.setdiff1d(np.arange(len(keep)), s)
        d_rest = np.linalg.det(R[np.ix_(rest, rest)]) if len(rest) else 1.0
        out.append(np.linalg.det(R[np.ix_(s, s)]) * d_rest / detR)
    v = np.array(out)
    r = 1.0 - 1.0 / v
    n, p = model.nobs, len(model.beta)        # insight::n_parameters: fixed effects
    z = stats.norm.ppf((1 + ci) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt((1 - r**2) ** 2 * (n - p - 1) ** 2 / ((n**2 - 1) * (n + 3)))
        se_log = se / (r * (1 - r))
        lo = stats.logistic.cdf(stats.logistic.ppf(r) - z * se_log)
        hi = stats.logistic.cdf(stats.logistic.ppf(r) + z * se_log)
    return pd.DataFrame({"Term": labels, "VIF": v, "VIF_CI_low": 1 / (1 - lo),
                         "VIF_CI_high": 1 / (1 - hi), "SE_factor": np.sqrt(v),
                         "Tolerance": 1 / v})
