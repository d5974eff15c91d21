"""The Wald coefficient table R's summaries print (`summary.lm`, `summary.glm`, lme4's
`summary.merMod` for GLMMs): estimate β̂ⱼ, standard error SEⱼ = √Vⱼⱼ, statistic β̂ⱼ / SEⱼ and its
two-sided p-value, from Student's t on `df` degrees of freedom or, without `df`, the standard
normal."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def wald_table(fixef: pd.Series, vcov: pd.DataFrame, df: float | None = None) -> pd.DataFrame:
    """Columns `Estimate`, `Std. Error`, then `t value`, `Pr(>|t|)` (with `df`) or
    `z value`, `Pr(>|z|)` (without), indexed as `fixef`."""
    est = fixef.to_numpy(dtype=float)
    se = np.sqrt(np.diag(vcov.to_numpy(dtype=float)))
    stat = est / se
    if df is None:
        return pd.DataFrame({"Estimate": est, "Std. Error": se, "z value": stat,
                             "Pr(>|z|)": 2 * stats.norm.sf(np.abs(stat))}, index=fixef.index)
    return pd.DataFrame({"Estimate": est, "Std. Error": se, "t value": stat,
                         "Pr(>|t|)": 2 * stats.t.sf(np.abs(stat), df)}, index=fixef.index)
