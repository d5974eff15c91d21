"""Variance components from θ and σ: lme4's `VarCorr` and `as.data.frame(VarCorr(m))`.

For a term with template T, the covariance of its random effects is Σ = σ² T Tᵀ; standard
deviations are √diag Σ and correlations Σᵢⱼ / (sdᵢ sdⱼ).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mixedfx.frame.terms import RandomEffectsTerm


@dataclass
class TermCovariance:
    """Σ for one random-effects term with its labels."""

    group: str            # display name (lme4 makes repeated group names unique: Subject.1)
    names: list[str]
    cov: np.ndarray
    structure: str = "us"  # glmmTMB's name of the covariance structure

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    @property
    def corr(self) -> np.ndarray:
        sd = self.sd
        with np.errstate(invalid="ignore", divide="ignore"):
            c = self.cov / np.outer(sd, sd)
        np.fill_diagonal(c, 1.0)
        return c


def unique_group_names(terms: list[RandomEffectsTerm]) -> list[str]:
    """lme4's names for the terms: a repeated grouping factor gets .1, .2, ... (make.unique)."""
    seen: dict[str, int] = {}
    out = []
    for t in terms:
        if t.group_name in seen:
            seen[t.group_name] += 1
            out.append(f"{t.group_name}.{seen[t.group_name]}")
        else:
            seen[t.group_name] = 0
            out.append(t.group_name)
    return out


def term_covariances(terms: list[RandomEffectsTerm], templates: list[np.ndarray],
                     sigma: float) -> list[TermCovariance]:
    names = unique_group_names(terms)
    return [TermCovariance(group=g, names=list(t.term_names), cov=sigma**2 * (T @ T.T),
                           structure=t.covariance.name)
            for g, t, T in zip(names, terms, templates, strict=True)]


def varcorr_frame(covs: list[TermCovariance], sigma: float | None) -> pd.DataFrame:
    """Rows as R's `as.data.frame(VarCorr(m))`: variances, then covariances (lower triangle,
    column by column), per term; a Residual row when the model has a scale."""
    rows = []
    for c in covs:
        k = len(c.names)
        sd, corr = c.sd, c.corr
        for i in range(k):
            rows.append((c.group, c.names[i], None, c.cov[i, i], sd[i]))
        for j in range(k):
            for i in range(j + 1, k):
                rows.append((c.group, c.names[j], c.names[i], c.cov[i, j], corr[i, j]))
    if sigma is not None:
        rows.append(("Residual", None, None, sigma**2, sigma))
    cols = list(zip(*rows, strict=True)) if rows else [()] * 5
    return pd.DataFrame({
        "grp": pd.Series(cols[0], dtype=object),
        "var1": pd.Series(cols[1], dtype=object),
        "var2": pd.Series(cols[2], dtype=object),
        "vcov": np.asarray(cols[3], dtype=float),
        "sdcor": np.asarray(cols[4], dtype=float),
    })
