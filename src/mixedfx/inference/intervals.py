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

from mixedfx.errors import ArgumentError, ArgumentTypeError, did_you_mean
from mixedfx.inference.bootstrap import boot_confint
from mixedfx.inference.profile import profile_confint
from mixedfx.lazy import lazy_module
from mixedfx.unknown_arguments import check_keywords
from mixedfx.validate import check_choice, check_level

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import MixedModel

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here


def wald_confint(model: MixedModel, level: float = 0.95) -> pd.DataFrame:
    """β̂ ± z SE for the fixed effects (z the standard normal (1 + level)/2 quantile), NaN
    rows for the variance parameters (lme4's `confint(m, method="Wald")`)."""
    level = check_level(level)
    z = stats.norm.ppf(0.5 + level / 2)
    se = np.sqrt(np.diag(model.vcov.to_numpy()))
    fe = model.fixef
    par = pd.DataFrame({"lower": np.nan, "upper": np.nan}, index=model.parameter_names())
    fixed = pd.DataFrame({"lower": fe.to_numpy() - z * se, "upper": fe.to_numpy() + z * se},
                         index=fe.index)
    return pd.concat([par, fixed])


def old_parameter_names(model: MixedModel) -> list[str]:
    """lme4's `oldNames=TRUE` names: .sig01, .sig02, ... for the sd/cor parameters, .sigma,
    then the fixed effects."""
    new = model.parameter_names()
    nsig = len(new) - (1 if model.has_scale else 0)
    old = [f".sig{i + 1:02d}" for i in range(nsig)]
    return [*old, ".sigma"] if model.has_scale else old


def resolve_parm(model: MixedModel, parm: Any) -> list[str]:
    """lme4's `parm`: names (new or old style), 0-based positions in the full table,
    "theta_" (all variance parameters, σ included) or "beta_" (the fixed effects)."""
    new = [*model.parameter_names(), *model.fixef.index]
    old = [*old_parameter_names(model), *model.fixef.index]
    nvp = len(model.parameter_names())

    items = [parm] if isinstance(parm, (str, int, np.integer)) else list(parm)
    unknown = [it for it in items if isinstance(it, str)
               and it not in ("theta_", "beta_", *new, *old)]
    if unknown:
        raise ArgumentError(f"parm names unknown parameter(s) {unknown}; available: {new}")
    out: list[str] = []
    for it in items:
        if isinstance(it, str):
            if it == "theta_":
                picked = new[:nvp]
            elif it == "beta_":
                picked = new[nvp:]
            elif it in new:
                picked = [it]
            elif it in old:
                picked = [new[old.index(it)]]
            else:
                raise ArgumentError(f"unknown parameter {it!r} in parm; parameters: {new} "
                                    f"(or {old[:nvp]}, 'theta_', 'beta_')")
        elif isinstance(it, (int, np.integer)) and not isinstance(it, bool):
            if not 0 <= int(it) < len(new):
                raise ArgumentError(f"parm position {it} out of range 0..{len(new) - 1}")
            picked = [new[int(it)]]
        else:
            raise ArgumentTypeError(f"parm entries must be names or integer positions, got {it!r}")
        out += [p for p in picked if p not in out]
    return [p for p in new if p in out]


def percent_labels(level: float) -> list[str]:
    """R's column names of a confint table: format(100 * a, digits = 3) followed by " %"."""
    a = np.array([(1 - level) / 2, 1 - (1 - level) / 2]) * 100
    return [f"{float(f'{x:.3g}'):g} %" for x in a]


def confint(model: MixedModel, method: str = "profile", level: float = 0.95,
            parm: Any = None, old_names: bool = False, **kwargs: Any) -> pd.DataFrame:
    """Dispatch on `method` ("profile", "Wald" or "boot"), lme4's defaults. `parm` selects
    rows (see `resolve_parm`; profiles only those parameters); `old_names=True` labels them
    as lme4's `oldNames=TRUE` (.sig01, .sigma) with R's "2.5 %" / "97.5 %" columns."""
    level = check_level(level)
    if not isinstance(method, str):
        check_choice(method, "confint method", ("profile", "Wald", "boot"))
    rows = resolve_parm(model, parm) if parm is not None else None
    key = method.lower()
    if key == "wald":
        if kwargs:
            raise ArgumentError(f"unknown argument(s) {sorted(kwargs)} for "
                                "confint(method='Wald')")
        out = wald_confint(model, level)
    elif key == "profile":
        if rows is not None and "which" not in kwargs:
            kwargs["which"] = rows
        out = profile_confint(model, level=level, **kwargs)
    elif key == "boot":
        check_keywords(kwargs, boot_confint, "confint(method='boot')", skip=("model", "level"))
        out = boot_confint(model, level=level, **kwargs)
    else:
        raise ArgumentError(f"confint method must be 'profile', 'Wald' or 'boot', got {method!r}"
                            f"{did_you_mean(method, ('profile', 'Wald', 'boot'))}")
    if rows is not None:
        out = out.loc[rows]
    if old_names:
        new = [*model.parameter_names(), *model.fixef.index]
        old = [*old_parameter_names(model), *model.fixef.index]
        mapping = dict(zip(new, old, strict=True))
        out = out.rename(index=mapping)
        out.columns = percent_labels(level)
    return out
