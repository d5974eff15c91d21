"""Likelihood-ratio tests between models: lme4's `anova(m0, m1, ...)`, lmerTest's `ranova`
and the two forms of `drop1`.

`anova`: REML fits are refitted by ML (lme4's default `refit=TRUE`), models are ordered by their
number of parameters, and each row is compared with the previous one:
χ² = 2 max(0, ℓᵢ − ℓᵢ₋₁) on npar_i − npar_{i−1} df.

`ranova`: for each random-effects term (lme4's expanded bars), the model without it — or, for
a term with slopes, with each marginal slope removed ((x | g) becomes (1 | g)) — is refitted
with the same criterion (REML or ML) and compared with the full model by LRT. When no random
term is left the reduced model is a linear model, with R's `logLik.lm(REML=)`.

`drop1(test="F")` is lmerTest's F-test table of the marginal fixed terms
(`fixed_anova.drop1_ftests`); `test="Chisq"` is lme4's `drop1`: each marginal fixed term is
removed, both models are compared by ML (AIC and LRT).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mixedfx.covariance import STRUCTURES
from mixedfx.errors import ArgumentError, ArgumentTypeError
from mixedfx.formula import build_design
from mixedfx.inference.contrasts import marginal_terms
from mixedfx.inference.fixed_anova import AnovaTable, drop1_ftests, make_table
from mixedfx.lazy import lazy_module
from mixedfx.unknown_arguments import refuse_unknown_arguments
from mixedfx.validate import short_repr

if TYPE_CHECKING:
    from mixedfx.fitted.protocol import LinearMixedFit
    from mixedfx.formula import RandomBar

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here

LRT_COLUMNS = ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]


@refuse_unknown_arguments
def anova(*models: LinearMixedFit, refit: bool = True,
          model_names: Sequence[str] | None = None, test: str | None = None) -> AnovaTable:
    """lme4's `anova.merMod` for two or more models: one row per model, fewest parameters
    first, columns npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq). With a single
    model, its own `anova()`: lmerTest's type III F tests for a linear mixed model, R's
    sequential tables for `lm` and `glm` fits (`test=` "Chisq", "LRT" or "F" for a glm)."""
    if test is not None and (len(models) != 1 or not hasattr(models[0], "family")
                             or not hasattr(models[0], "null_deviance")):
        raise ArgumentError("test= applies to the anova of a single glm fit "
                            "(mfx.anova(mfx.glm(...), test='Chisq'))")
    if len(models) == 1 and hasattr(models[0], "anova"):
        return models[0].anova() if test is None else models[0].anova(test=test)
    if len(models) < 2:
        raise ArgumentError("anova() needs a linear mixed model or two or more fitted models")
    bad = [i for i, m in enumerate(models) if not hasattr(m, "loglik")
           or not hasattr(m, "nobs")]
    if bad:
        raise ArgumentTypeError(f"anova() takes fitted models; argument {bad[0] + 1} is a "
                                f"{type(models[bad[0]]).__name__}")
    names = list(model_names) if model_names is not None else \
        [f"m{i}" for i in range(len(models))]
    if len(names) != len(models):
        raise ArgumentError("model_names must name every model")
    nobs = {m.nobs for m in models}
    if len(nobs) > 1:
        raise ArgumentError("models were not all fitted to the same size of dataset")
    mods = list(models)
    if refit and any(getattr(m, "REML", False) for m in mods):
        mods = [m.refit_ml() if getattr(m, "REML", False) else m for m in mods]
    order = sorted(range(len(mods)), key=lambda i: mods[i].npar)   # stable, as R's order
    mods = [mods[i] for i in order]
    names = [names[i] for i in order]
    ll = np.array([m.loglik for m in mods])
    npar = np.array([m.npar for m in mods], dtype=float)
    rows = []
    for i, m in enumerate(mods):
        chisq = df = p = math.nan
        if i > 0:
            chisq = 2.0 * max(0.0, ll[i] - ll[i - 1])
            df = npar[i] - npar[i - 1]
            p = math.nan if df == 0 else float(stats.chi2.sf(chisq, df))
        rows.append({"npar": npar[i], "AIC": m.aic, "BIC": m.bic, "logLik": ll[i],
                     "deviance": -2.0 * ll[i], "Chisq": chisq, "Df": df, "Pr(>Chisq)": p})
    data = getattr(mods[0], "data_name", None) or "data"
    heading = [f"Data: {data}", "Models:",
               *[f"{n}: {m.formula}" for n, m in zip(names, mods, strict=True)]]
    return make_table(rows, names, LRT_COLUMNS, heading)


# ----- refitting variants of a model --------------------------------------------------------
def _is_structured(bar_text: str) -> bool:
    """A bar written with its covariance structure, `ar1(0 + f | g)` (kept as written)."""
    head = bar_text.strip().split("(", 1)[0]
    return head in STRUCTURES and bar_text.strip().endswith(")")


def _bar_text(bar: RandomBar) -> str:
    """The bar as the formula writes it: `1 + x | g`, or `ar1(0 + f | g)` for a structured
    term (so that reduced models keep their structures)."""
    return bar.text if bar.structure == "us" else str(bar)


def _formula(model: LinearMixedFit, fixed_rhs: str, bars: Sequence[str],
             offsets: bool = True) -> str:
    """R text of a variant of the model formula (formula offsets kept when `offsets`)."""
    parsed = model.frame.formula
    offs = [f"offset({o})" for o in parsed.offsets] if offsets else []
    parts = [fixed_rhs, *offs, *[b if _is_structured(b) else f"({b})" for b in bars]]
    return f"{parsed.response} ~ {' + '.join(parts)}"


def _refit(model: LinearMixedFit, formula: str, reml: bool) -> LinearMixedFit:
    """Fit a variant formula to the model's rows through the model's public `update` (its
    model-frame data; prior weights, control and a residual structure kept by `update`); the
    frame's total offset (formula offsets and `offset=`) is passed as an array, so `formula`
    must not repeat offset() terms. Fit warnings are silenced, as lmerTest's refits."""
    fr = model.frame
    extra: dict[str, Any] = {"REML": reml}
    if fr.offset is not None:
        extra["offset"] = fr.offset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.update(formula, data=fr.frame, **extra)


def lm_loglik(model: LinearMixedFit, reml: bool) -> tuple[float, int]:
    """R's `logLik(lm(fixed part), REML=)` on the model's rows: (log-likelihood, df)."""
    fr = model.frame
    X, y = fr.X, fr.y - (fr.offset if fr.offset is not None else 0.0)
    w = np.ones_like(y) if fr.weights is None else fr.weights
    sw = np.sqrt(w)
    Q, R = np.linalg.qr(X * sw[:, None])
    res = y * sw - Q @ (Q.T @ (y * sw))
    n, p = X.shape
    rss = float(res @ res)
    if reml:
        N = n - p
        ll = 0.5 * (np.sum(np.log(w)) - N * (math.log(2 * math.pi) + 1 - math.log(N)
                                              + math.log(rss)))
        ll -= float(np.sum(np.log(np.abs(np.diag(R)))))
    else:
        ll = 0.5 * (np.sum(np.log(w)) - n * (math.log(2 * math.pi) + 1 - math.log(n)
                                              + math.log(rss)))
    return float(ll), p + 1


def _reduced_bars(bar: RandomBar, model: LinearMixedFit) -> list[tuple[str, str | None]]:
    """lmerTest's `get_newforms` for one bar: (row name, replacement bar or None)."""
    _, spec = build_design(bar.lhs, model.frame.frame)
    labels = list(spec.term_names)
    if not labels:
        return [(f"({bar.text})", None)]
    scope = _lhs_scope(spec)
    out = []
    for scp in scope:
        rest = [t for t in labels if t != scp]
        if set(labels) == {scp}:
            lhs = "1"
        else:
            lhs = " + ".join(rest) if spec.intercept else " + ".join(["0", *rest])
        out.append((f"{scp} in ({bar.text})", f"{lhs} | {bar.group_name}"))
    return out


def _lhs_scope(spec: Any) -> list[str]:
    sets = [{spec.encoded_variables[v].label for v in term} for term in spec.term_variables]
    return [lab for lab, s in zip(spec.term_names, sets, strict=True)
            if not any(s < o for o in sets)]


def ranova(model: LinearMixedFit, reduce_terms: bool = True) -> AnovaTable:
    """lmerTest's `ranova`: LRT of each random-effects term against the full model."""
    parsed = model.frame.formula
    bars = list(parsed.bars)
    reml = model.REML
    full_bars = [_bar_text(b) for b in bars]
    fixed = parsed.fixed_rhs
    rows_ll: list[tuple[float, int]] = [(model.loglik, model.npar)]
    names = ["<none>"]
    for i, bar in enumerate(bars):
        # a structured term is tested as a whole (its columns share the structure)
        variants = _reduced_bars(bar, model) if reduce_terms and bar.structure == "us" \
            else [(str(bar), None)]
        for name, repl in variants:
            new_bars = full_bars[:i] + ([repl] if repl is not None else []) + full_bars[i + 1:]
            if new_bars:
                m = _refit(model, _formula(model, fixed, new_bars, offsets=False), reml)
                rows_ll.append((m.loglik, m.npar))
            else:
                rows_ll.append(lm_loglik(model, reml))
            names.append(name)
    rows = []
    ll0, df0 = rows_ll[0]
    for i, (ll, df) in enumerate(rows_ll):
        row = {"npar": float(df), "logLik": ll, "AIC": -2 * ll + 2 * df, "LRT": math.nan,
               "Df": math.nan, "Pr(>Chisq)": math.nan}
        if i > 0:
            lrt = 2.0 * (ll0 - ll)
            d = df0 - df
            row.update(LRT=lrt, Df=float(d),
                       **{"Pr(>Chisq)": float(stats.chi2.sf(lrt, d)) if d > 0 else math.nan})
        rows.append(row)
    heading = ["ANOVA-like table for random-effects: Single term deletions", "", "Model:",
               _formula(model, fixed, full_bars)]
    return make_table(rows, names, ["npar", "logLik", "AIC", "LRT", "Df", "Pr(>Chisq)"],
                      heading)


def drop1(model: LinearMixedFit, test: str = "F", ddf: str = "Satterthwaite") -> AnovaTable:
    """Single-term deletions of the marginal fixed terms: lmerTest's F tests (`test="F"`) or
    lme4's likelihood-ratio version (`test="Chisq"`, ML fits: npar (the df of the test), AIC,
    LRT, Pr(Chi))."""
    if not isinstance(test, str) or test.lower() not in ("f", "chisq", "lrt"):
        raise ArgumentError(f"test must be 'F' or 'Chisq', got {short_repr(test)}")
    if test.lower() == "f":
        return drop1_ftests(model, ddf)
    full = model.refit_ml()
    parsed = model.frame.formula
    bars = [_bar_text(b) for b in parsed.bars]
    ll0, df0 = full.loglik, full.npar
    rows = [{"npar": math.nan, "AIC": -2 * ll0 + 2 * df0, "LRT": math.nan,
             "Pr(Chi)": math.nan}]
    scope = marginal_terms(model.frame)
    for t in scope:
        m = _refit(model, _formula(model, f"{parsed.fixed_rhs} - {t}", bars, offsets=False),
                   False)
        d = df0 - m.npar
        lrt = (-2 * m.loglik) - (-2 * ll0)
        rows.append({"npar": float(d), "AIC": -2 * m.loglik + 2 * m.npar, "LRT": lrt,
                     "Pr(Chi)": float(stats.chi2.sf(lrt, d))})
    heading = ["Single term deletions", "", "Model:", model.formula]
    return make_table(rows, ["<none>", *scope], ["npar", "AIC", "LRT", "Pr(Chi)"], heading)
