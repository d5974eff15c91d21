"""The Wald coefficient table R's summaries print (`summary.lm`, `summary.glm`, lme4's
`summary.merMod` for GLMMs): estimate β̂ⱼ, standard error SEⱼ = √Vⱼⱼ, statistic β̂ⱼ / SEⱼ and its
two-sided p-value, from Student's t on `df` degrees of freedom or, without `df`, the standard
normal."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixedfx.lazy import lazy_module

# scipy.special costs ~50 ms at import; ndtr / stdtr are what stats.norm.sf / stats.t.sf evaluate
special = lazy_module("scipy.special")


def wald_table(fixef: pd.Series, vcov: pd.DataFrame, df: float | None = None) -> pd.DataFrame:
    """Columns `Estimate`, `Std. Error`, then `t value`, `Pr(>|t|)` (with `df`) or
    `z value`, `Pr(>|z|)` (without), indexed as `fixef`."""
    est = fixef.to_numpy(dtype=float)
    se = np.sqrt(np.diag(vcov.to_numpy(dtype=float)))
    stat = est / se
    if df is None:
        return pd.DataFrame({"Estimate": est, "Std. Error": se, "z value": stat,
                             "Pr(>|z|)": 2 * special.ndtr(-np.abs(stat))}, index=fixef.index)
    return pd.DataFrame({"Estimate": est, "Std. Error": se, "t value": stat,
                         "Pr(>|t|)": 2 * special.stdtr(df, -np.abs(stat))}, index=fixef.index)
