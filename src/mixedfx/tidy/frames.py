"""broom.mixed's `tidy` and `glance` for fitted mixed models.

`tidy` rows, in broom.mixed's order: `fixed` (one per coefficient: estimate β̂ⱼ, std.error
√Vⱼⱼ, statistic β̂ⱼ/SE, and for LMMs lmerTest's `df` and `p.value` = 2 P(T_df > |t|); GLMMs
p = 2 Φ(−|z|)); `ran_pars` (per random-effects term the lower triangle of its covariance
column by column: `sd__x` = √Σₓₓ, `cor__x.y` = Σₓᵧ/(sdₓ sdᵧ), or `var__` / `cov__` with
`scales="vcov"`; then `sd__Observation` = σ for the `Residual` group); `ran_vals` (the
conditional modes with their conditional SDs, factor level order, term by term); `ran_coefs`
(β̂ + b per level).

Intervals (`conf_int=True`): `Wald` uses β̂ ± q·SE with q the t quantile on the
Satterthwaite / Kenward–Roger df for LMMs (lmerTest) or the normal quantile (GLMMs,
`ddf="none"`), variance parameters NaN; `profile` and `boot` take lme4's `confint` for every
parameter. Conditional modes get b ± z·condsd.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError, ArgumentTypeError
from mixedfx.inference.contrast_tests import coefficient_table
from mixedfx.lazy import lazy_module
from mixedfx.validate import check_bool, check_choices, check_number

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import FittedModel

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here

_DEFAULT: Any = "Satterthwaite (default)"
EFFECTS = ("fixed", "ran_pars", "ran_vals", "ran_coefs")
CONF_METHODS = {"wald": "Wald", "profile": "profile", "boot": "boot"}


def _is_lmm(model: FittedModel) -> bool:
    return not hasattr(model, "family")


def _check_effects(effects: str | Iterable[str]) -> list[str]:
    return check_choices(effects, "effects", EFFECTS, "effect type(s)")


def _fixed_rows(model: FittedModel, ddf: str | None, conf_int: bool, level: float, method: str,
                cis: pd.DataFrame | None, exponentiate: bool) -> pd.DataFrame:
    fe = model.fixef
    se = np.sqrt(np.diag(model.vcov.to_numpy()))
    out = pd.DataFrame({"term": list(fe.index), "estimate": fe.to_numpy(), "std.error": se,
                        "statistic": fe.to_numpy() / se})
    df = None
    if _is_lmm(model) and ddf is not None:
        ct = coefficient_table(model, ddf)
        df = ct["df"].to_numpy()
        out["df"] = df
        out["p.value"] = ct["Pr(>|t|)"].to_numpy()
    elif not _is_lmm(model):
        out["p.value"] = 2 * stats.norm.sf(np.abs(out["statistic"].to_numpy()))
    if conf_int:
        if method == "Wald":
            a = 0.5 + level / 2
            q = stats.t.ppf(a, df) if df is not None else stats.norm.ppf(a)
            out["conf.low"] = out["estimate"] - q * se
            out["conf.high"] = out["estimate"] + q * se
        else:
            assert cis is not None
            out["conf.low"] = cis.loc[list(fe.index), "lower"].to_numpy()
            out["conf.high"] = cis.loc[list(fe.index), "upper"].to_numpy()
    if exponentiate:
        _exponentiate(out)
    out.insert(0, "group", None)
    return out


def _ran_pars_rows(model: FittedModel, scales: str, conf_int: bool, method: str,
                   cis: pd.DataFrame | None) -> pd.DataFrame:
    if scales not in ("sdcor", "vcov"):
        raise ArgumentError(f"scales must be 'sdcor' or 'vcov', got {scales!r}")
    sd_p, cor_p = ("sd", "cor") if scales == "sdcor" else ("var", "cov")
    rows = []
    for c in model.re_covariances():
        k = len(c.names)
        sd, corr = c.sd, c.corr
        for j in range(k):
            rows.append((c.group, f"{sd_p}__{c.names[j]}",
                         sd[j] if scales == "sdcor" else c.cov[j, j]))
            for i in range(j + 1, k):
                rows.append((c.group, f"{cor_p}__{c.names[j]}.{c.names[i]}",
                             corr[i, j] if scales == "sdcor" else c.cov[i, j]))
    if model.has_scale:
        s = model.sigma
        rows.append(("Residual", f"{sd_p}__Observation", s if scales == "sdcor" else s * s))
    out = pd.DataFrame(rows, columns=["group", "term", "estimate"])
    if conf_int:
        if method == "Wald" or cis is None:
            out["conf.low"] = np.nan
            out["conf.high"] = np.nan
        else:
            if scales != "sdcor":
                raise ArgumentError("profile and bootstrap intervals of the variance parameters "
                                    "are on the sd/cor scale: use scales='sdcor'")
            names = model.parameter_names()
            out["conf.low"] = cis.loc[names, "lower"].to_numpy()
            out["conf.high"] = cis.loc[names, "upper"].to_numpy()
    return out


def _ran_vals_rows(model: FittedModel, conf_int: bool, level: float, method: str) -> pd.DataFrame:
    if conf_int and method != "Wald":
        raise ArgumentError("only Wald intervals are available for conditional modes")
    parts = []
    for g, re in model.ranef(condvar=True).items():
        sd = re.attrs["condsd"]
        for term in re.columns:
            parts.append(pd.DataFrame({
                "group": g, "level": [str(v) for v in re.index], "term": term,
                "estimate": re[term].to_numpy(), "std.error": sd[term].to_numpy()}))
    out = pd.concat(parts, ignore_index=True)
    if conf_int:
        z = stats.norm.ppf(0.5 + level / 2)
        out["conf.low"] = out["estimate"] - z * out["std.error"]
        out["conf.high"] = out["estimate"] + z * out["std.error"]
    return out


def _ran_coefs_rows(model: FittedModel, conf_int: bool) -> pd.DataFrame:
    parts = []
    for g, co in model.coef().items():
        for term in co.columns:
            parts.append(pd.DataFrame({"group": g, "level": [str(v) for v in co.index],
                                       "term": term, "estimate": co[term].to_numpy()}))
    out = pd.concat(parts, ignore_index=True)
    if conf_int:
        out["conf.low"] = np.nan
        out["conf.high"] = np.nan
    return out


COLUMN_ORDER = ["effect", "group", "level", "term", "estimate", "std.error", "statistic", "df",
                "p.value", "conf.low", "conf.high"]


def tidy(model: FittedModel, effects: str | Iterable[str] = ("fixed", "ran_pars"),
         conf_int: bool = False, conf_level: float = 0.95, conf_method: str = "Wald",
         ddf: str | None = _DEFAULT, scales: str = "sdcor", exponentiate: bool = False,
         **kwargs: Any) -> pd.DataFrame:
    """broom.mixed's `tidy(m, effects=, conf.int=, conf.level=, conf.method=)`.

    `effects`: any of "fixed", "ran_pars", "ran_vals", "ran_coefs" (rows always in that
    order). `ddf` ("Satterthwaite", "Kenward-Roger", or None for lme4's plain t statistic)
    applies to LMMs. `conf_method`: "Wald", "profile" or "boot" (extra keyword arguments, e.g.
    `nsim`, `seed`, go to `confint`). `exponentiate` reports exp(β̂) with SE exp(β̂)·SE.
    """
    conf_int = check_bool(conf_int, "conf_int")
    exponentiate = check_bool(exponentiate, "exponentiate")
    conf_level = check_number(conf_level, "conf_level", 0.0, 1.0)
    if _is_fixed_only(model):
        return _tidy_fixed_model(model, conf_int, conf_level, exponentiate)
    eff = _check_effects(effects)
    method = CONF_METHODS.get(str(conf_method).lower())
    if method is None:
        raise ArgumentError(f"conf_method must be 'Wald', 'profile' or 'boot', "
                            f"got {conf_method!r}")
    if kwargs and (not conf_int or method == "Wald"):
        raise ArgumentTypeError(f"unexpected keyword argument(s) {sorted(kwargs)} (extra arguments "
                                "go to confint for conf_method='profile' or 'boot')")
    if ddf is _DEFAULT:
        ddf = "Satterthwaite"
    elif not _is_lmm(model):
        raise ArgumentError("ddf applies to linear mixed models (GLMM tests are Wald z tests)")
    if ddf is not None and str(ddf).lower() in ("none", "lme4"):
        ddf = None
    cis = None
    if conf_int and method != "Wald" and ("fixed" in eff or "ran_pars" in eff):
        cis = model.confint(method=method, level=conf_level, **kwargs)
    parts: list[pd.DataFrame] = []
    for e in EFFECTS:
        if e not in eff:
            continue
        if e == "fixed":
            part = _fixed_rows(model, ddf, conf_int, conf_level, method, cis, exponentiate)
        elif e == "ran_pars":
            part = _ran_pars_rows(model, scales, conf_int, method, cis)
        elif e == "ran_vals":
            part = _ran_vals_rows(model, conf_int, conf_level, method)
        else:
            part = _ran_coefs_rows(model, conf_int)
        part.insert(0, "effect", e)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    cols = [c for c in COLUMN_ORDER if c in out.columns]
    if eff == ["fixed"]:
        cols.remove("group")
    out = out[cols]
    for c in ("effect", "group", "level", "term"):
        if c in out:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out.reset_index(drop=True)


def _exponentiate(out: pd.DataFrame) -> None:
    """broom's `exponentiate=TRUE`: exp of the estimate and interval limits, and the delta
    method's SE exp(β̂)·SE (in place)."""
    for c in ("estimate", "conf.low", "conf.high"):
        if c in out:
            out[c] = np.exp(out[c])
    out["std.error"] = out["std.error"] * out["estimate"]


def _is_fixed_only(model: FittedModel) -> bool:
    """An lm or glm fit (the contract's `kind`)."""
    return getattr(model, "kind", None) in ("lm", "glm")


def _tidy_fixed_model(model: FittedModel, conf_int: bool, level: float, exponentiate: bool
                      ) -> pd.DataFrame:
    """broom's `tidy.lm` / `tidy.glm`: term, estimate, std.error, statistic, p.value;
    intervals from `confint` (lm: t on the residual df; glm: Wald, R's `confint.default`,
    where broom profiles)."""
    cm = model.summary().coefficients
    out = pd.DataFrame({"term": list(cm.index), "estimate": cm.iloc[:, 0].to_numpy(),
                        "std.error": cm.iloc[:, 1].to_numpy(),
                        "statistic": cm.iloc[:, 2].to_numpy(),
                        "p.value": cm.iloc[:, 3].to_numpy()})
    if conf_int:
        ci = model.confint(level=level)
        out["conf.low"] = ci["lower"].to_numpy()
        out["conf.high"] = ci["upper"].to_numpy()
    if exponentiate:
        _exponentiate(out)
    return out


def _glance_fixed_model(model: FittedModel) -> pd.DataFrame:
    """broom's `glance.lm` / `glance.glm`."""
    if hasattr(model, "family"):
        row = {"null.deviance": model.null_deviance, "df.null": model.df_null,
               "logLik": model.loglik, "AIC": model.aic, "BIC": model.bic,
               "deviance": model.deviance, "df.residual": model.df_residual,
               "nobs": model.nobs}
    else:
        F, d1, d2 = model.fstatistic or (np.nan, np.nan, model.df_residual)
        row = {"r.squared": model.r_squared, "adj.r.squared": model.adj_r_squared,
               "sigma": model.sigma, "statistic": F,
               "p.value": float(stats.f.sf(F, d1, d2)) if np.isfinite(F) else np.nan,
               "df": d1, "logLik": model.loglik, "AIC": model.aic, "BIC": model.bic,
               "deviance": model.deviance, "df.residual": model.df_residual,
               "nobs": model.nobs}
    return pd.DataFrame([row])


def glance(model: FittedModel) -> pd.DataFrame:
    """broom.mixed's `glance`: `nobs, sigma, logLik, AIC, BIC`, then `REMLcrit` (REML fits)
    or `deviance` (ML LMMs: −2 logLik; GLMMs: the sum of deviance residuals), `df.residual`.
    For `lm` / `glm` fits, broom's `glance.lm` / `glance.glm` columns."""
    if _is_fixed_only(model):
        return _glance_fixed_model(model)
    row: dict[str, Any] = {"nobs": int(model.nobs), "sigma": float(model.sigma),
                           "logLik": float(model.loglik), "AIC": float(model.aic),
                           "BIC": float(model.bic)}
    if getattr(model, "REML", False):
        row["REMLcrit"] = float(model.reml_criterion)
    else:
        row["deviance"] = float(model.deviance)
    row["df.residual"] = int(model.df_residual)
    return pd.DataFrame([row])


