"""Nakagawa's variance decomposition of a mixed model and the two statistics built on it:
performance's `r2_nakagawa` (marginal and conditional R²) and `icc` (adjusted and conditional
intraclass correlation), following insight's `get_variance` (insight 0.19.0 /
performance 0.10.2) term by term.

* σ²_f (fixed) = var(Xβ̂) (sample variance, n − 1 denominator).
* σ²_u (random) = Σ_terms (1/n) Σ_i z_iᵀ Σ_t z_i, where z_i holds row i's values of the
  fixed-effects columns named like the term's random effects ("(Intercept)" is 1); columns of
  a term without a fixed-effects twin are left out, and of several terms on one grouping factor
  only the first (lme4's `VarCorr` name equal to the factor's name) counts — both as insight.
  Terms with one level per observation are observation-level effects: for a GLMM their
  variance joins the residual (σ²_e, insight's "dispersion" variance); for an LMM they are
  dropped. When some variance parameter on its lower bound is below 1e-5 (a singular fit)
  there is no random variance: R² has no conditional value and the ICC is undefined.
* σ²_d (distribution-specific): σ̂² for an LMM; π²/3, 1 and π²/6 for binomial logit, probit
  and cloglog; for Poisson and negative binomial log-link models the lognormal approximation
  ln(1 + V(μ)/μ²) with μ = exp(β₀) from the null model (the same random effects and offset, an
  intercept only, refitted), V(μ) = μ (Poisson) or μ(1 + μ/θ) (negative binomial, θ of the
  model); 0.25 for the square-root link.
* R²_marginal = σ²_f/(σ²_f + σ²_u + σ²_ε), R²_conditional = (σ²_f + σ²_u)/(σ²_f + σ²_u + σ²_ε),
  ICC_adjusted = σ²_u/(σ²_u + σ²_ε), ICC_conditional = σ²_u/(σ²_f + σ²_u + σ²_ε), with
  σ²_ε = σ²_d + σ²_e.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError, ArgumentTypeError
from mixedfx.warn import warn

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import MixedModel

SINGULAR_TOLERANCE = 1e-5
LATENT_BINOMIAL = {"logit": math.pi**2 / 3, "probit": 1.0, "cloglog": math.pi**2 / 6}


@dataclass(frozen=True)
class VarianceParts:
    """insight's `get_variance`: `fixed`, `random` (NaN for a singular fit), `distribution`,
    `dispersion` and `residual` = distribution + dispersion."""

    fixed: float
    random: float
    distribution: float
    dispersion: float

    @property
    def residual(self) -> float:
        return self.distribution + self.dispersion


def _family(model: MixedModel) -> Any:
    return getattr(model, "family", None)


def _check_mixed(model: MixedModel, what: str) -> None:
    if not hasattr(model, "re_covariances") or not model.frame.terms:
        raise ArgumentError(f"{what} needs a fitted mixed model (mfx.lmer / mfx.glmer), got "
                            f"{type(model).__name__}")


def _is_singular(model: MixedModel) -> bool:
    lower = np.asarray(model.lower, dtype=float)
    theta = np.asarray(model.theta, dtype=float)
    on_bound = lower == 0
    return bool(np.any(np.abs(theta[on_bound]) < SINGULAR_TOLERANCE))


def _term_variance(X: pd.DataFrame, names: list[str], cov: np.ndarray) -> float:
    """(1/n) Σ_i z_iᵀ Σ z_i with z_i the fixed-effects columns named like the term's effects."""
    keep = [j for j, nm in enumerate(names) if nm in X.columns]
    if not keep:
        return 0.0
    Z = X[[names[j] for j in keep]].to_numpy(dtype=float)
    S = cov[np.ix_(keep, keep)]
    return float(np.einsum("ia,ab,ib->", Z, S, Z)) / len(Z)


def _random_variances(model: MixedModel) -> tuple[float, float]:
    """(σ²_u over the non-observation-level terms, σ²_e over the observation-level ones)."""
    fr = model.frame
    X = pd.DataFrame(fr.X, columns=fr.fixef_names)
    if "(Intercept)" not in X.columns:
        X.insert(0, "(Intercept)", 1.0)
    levels = {t.group_name: t.n_levels for t in fr.terms}
    random = dispersion = 0.0
    for c in model.re_covariances():
        if c.group not in levels:         # a second term on a factor ("Subject.1")
            continue
        v = _term_variance(X, list(c.names), np.asarray(c.cov, dtype=float))
        if levels[c.group] == model.nobs:
            dispersion += v
        else:
            random += v
    return random, dispersion


def _null_intercept(model: MixedModel) -> float:
    """β₀ of the null model: the same random effects and offset, an intercept only."""
    fr = model.frame
    rhs = [f"({bar})" for bar in fr.formula.bars]
    rhs += [f"offset({expr})" for expr in fr.formula.offsets]
    null = model.update(f"{fr.formula.response} ~ {' + '.join(rhs)}")
    return float(null.fixef.iloc[0])


def _count_variance(model: MixedModel, fam: Any) -> float:
    """ln(1 + V(μ)/μ²) at μ = exp(β₀ of the null model) (insight's lognormal approximation)."""
    mu = math.exp(_null_intercept(model))
    if mu < 6:
        warn(f"mu of {mu:.1f} is too close to zero, estimate of random effect "
             "variances may be unreliable.", UserWarning)
    variance = mu if fam.name == "poisson" else mu * (1.0 + mu / fam.theta)
    return math.log1p(variance / mu**2)


def distribution_variance(model: MixedModel) -> float:
    """σ²_d: the residual variance on the latent (link) scale, as insight computes it."""
    fam = _family(model)
    if fam is None:
        return float(model.sigma) ** 2
    link = fam.link.name
    if fam.name == "binomial" and link in LATENT_BINOMIAL:
        return LATENT_BINOMIAL[link]
    if fam.name in ("poisson", "negative.binomial"):
        if link == "log":
            return _count_variance(model, fam)
        if link == "sqrt":
            return 0.25
    raise ArgumentError(
        f"the latent-scale residual variance of a {fam.name} GLMM with a {link} link is not "
        "available: supported are linear mixed models, binomial (logit, probit, cloglog), "
        "Poisson and negative binomial (log, sqrt) GLMMs")


def variance_parts(model: MixedModel) -> VarianceParts:
    """insight's `get_variance(model)` (see the module docstring)."""
    _check_mixed(model, "variance_parts")
    fr = model.frame
    fixed = float(np.var(fr.X @ np.asarray(model.beta, dtype=float), ddof=1))
    dist = distribution_variance(model)
    random, dispersion = _random_variances(model)
    if _family(model) is None:
        dispersion = 0.0
    if _is_singular(model):
        warn("Some variance components equal zero (a singular fit): the random-effect "
             "variance is not available.", UserWarning)
        random = math.nan
    return VarianceParts(fixed=fixed, random=random, distribution=dist, dispersion=dispersion)


def r2(model: MixedModel) -> pd.Series:
    """Nakagawa's R² (`performance::r2_nakagawa`): Series `conditional`, `marginal`.

    R²_m = σ²_f/(σ²_f + σ²_u + σ²_ε), R²_c = (σ²_f + σ²_u)/(σ²_f + σ²_u + σ²_ε); for a
    singular fit (no random variance) R²_m = σ²_f/(σ²_f + σ²_ε) and R²_c is NaN, as performance.
    """
    parts = variance_parts(model)
    f, u, e = parts.fixed, parts.random, parts.residual
    total = f + e if math.isnan(u) else f + u + e
    values = [(f + u) / total, f / total]        # NaN conditional when u is NaN
    return pd.Series(values, index=["conditional", "marginal"], name="R2")


def icc(model: MixedModel, by_group: bool = False) -> dict[str, float] | pd.DataFrame:
    """performance's `icc`: `ICC_adjusted` = σ²_u/(σ²_u + σ²_ε) and `ICC_conditional` =
    σ²_u/(σ²_f + σ²_u + σ²_ε), with `var_random`, `var_fixed`, `var_residual` (NaN ICCs for a
    singular fit).

    `by_group=True` (performance's `icc(m, by_group = TRUE)`): a frame `Group`, `ICC` with, per
    random-effects term that has an intercept (lme4's `VarCorr` order), σ²_0 of that term over
    σ²_u + σ²_ε; with random slopes this is not an exact ICC and a warning says so, as
    performance's."""
    if not isinstance(by_group, bool):
        raise ArgumentTypeError(f"by_group must be True or False, got {by_group!r}")
    parts = variance_parts(model)
    f, u, e = parts.fixed, parts.random, parts.residual
    if by_group:
        covs = list(model.re_covariances())
        if any(nm != "(Intercept)" for c in covs for nm in c.names):
            warn("Model contains random slopes. Cannot compute accurate ICCs by group "
                 "factors.", UserWarning)
        rows = [(c.group, float(np.asarray(c.cov, dtype=float)[j, j]) / (u + e))
                for c in covs for j, nm in enumerate(c.names) if nm == "(Intercept)"]
        return pd.DataFrame(rows, columns=["Group", "ICC"])
    return {"ICC_adjusted": u / (u + e), "ICC_conditional": u / (f + u + e),
            "var_random": u, "var_fixed": f, "var_residual": e}
