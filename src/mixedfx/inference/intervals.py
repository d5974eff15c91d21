"""Confidence intervals of a fitted LMM or GLMM, as lme4's `confint.merMod`.

Rows: the variance parameters on the sd/cor/sigma scale (lme4's `oldNames=FALSE` names; no
sigma for binomial and Poisson GLMMs), then the fixed effects. Columns `lower`, `upper`.

* `Wald`: β̂ ± z_{1−α/2} SE(β̂) for the fixed effects; NaN for the variance parameters;
* `profile`: interpolation of the signed square-root deviance ζ (`profile.profile_confint`);
* `boot`: percentile intervals of a parametric bootstrap (`bootstrap.bootstrap`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:
    from mixedfx.results.glmm_model import GeneralizedLinearMixedModel
    from mixedfx.results.lmm_model import LinearMixedModel

    MixedModel = LinearMixedModel | GeneralizedLinearMixedModel


def wald_confint(model: MixedModel, level: float = 0.95) -> pd.DataFrame:
    """β̂ ± z SE for the fixed effects, NaN rows for the variance parameters."""
    z = stats.norm.ppf(0.5 + level / 2)
    se = np.sqrt(np.diag(model.vcov.to_numpy()))
    fe = model.fixef
    par = pd.DataFrame({"lower": np.nan, "upper": np.nan}, index=model.parameter_names())
    fixed = pd.DataFrame({"lower": fe.to_numpy() - z * se, "upper": fe.to_numpy() + z * se},
                         index=fe.index)
    return pd.concat([par, fixed])


def confint(model: MixedModel, method: str = "profile", level: float = 0.95,
            **kwargs: Any) -> pd.DataFrame:
    """Dispatch on `method` ("profile", "Wald" or "boot"), lme4's defaults."""
    from mixedfx.validate import check_choice, check_level

    level = check_level(level)
    if not isinstance(method, str):
        check_choice(method, "confint method", ("profile", "Wald", "boot"))
    key = method.lower()
    if key == "wald":
        extra = sorted(set(kwargs) - {"parm"})
        if extra:
            from mixedfx.errors import ArgumentError

            raise ArgumentError(f"unknown argument(s) {extra} for confint(method='Wald')")
        out = wald_confint(model, level)
        parm = kwargs.get("parm")
        if parm is None:
            return out
        wanted = [parm] if isinstance(parm, str) else list(parm)
        missing = [p for p in wanted if p not in out.index]
        if missing:
            from mixedfx.errors import ArgumentError

            raise ArgumentError(f"parm names unknown parameter(s) {missing}; available: "
                                f"{list(out.index)}")
        return out.loc[wanted]
    if key == "profile":
        from mixedfx.inference.profile import profile_confint

        return profile_confint(model, level=level, **kwargs)
    if key == "boot":
        from mixedfx.inference.bootstrap import boot_confint

        return boot_confint(model, level=level, **kwargs)
    raise ValueError(f"confint method must be 'profile', 'Wald' or 'boot', got {method!r}")
