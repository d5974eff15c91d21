"""Pooling plot: no pooling (per-group least squares) against partial pooling (the mixed model's
coefficients, `coef(m)`), with arrows showing the shrinkage, and complete pooling for reference.

For a grouping factor g with random-effect columns V (e.g. intercept and Days): the no-pooling
estimate of level j is the least-squares fit of y − offset − X_o β̂_o on V over j's rows (X_o:
the fixed-effects columns without a random effect for g, held at the model's estimates;
weighted by the prior weights; NaN when j's rows cannot identify all columns); partial pooling
is coef(m)[g] restricted to those columns; complete pooling is the ordinary least-squares fit of
y on X ignoring the groups (lm of the fixed part). Linear mixed models only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.plots._mpl import GREY, MODEL, POINT, marker_size, style, subplots


@dataclass
class PoolingEstimates:
    group: str
    no_pooling: pd.DataFrame       # levels × columns
    partial_pooling: pd.DataFrame  # levels × columns (coef(m))
    complete_pooling: pd.Series    # columns
    fixed: pd.Series               # the model's fixed effects for the columns (0 if absent)


def pooling_estimates(model: Any, group: str | None = None) -> PoolingEstimates:
    """The three sets of estimates the shrinkage plot draws."""
    if hasattr(model, "family"):
        raise TypeError("the shrinkage plot is for linear mixed models (per-group least "
                        "squares); fit with mixedfx.lmer")
    fr = model.frame
    groups = list(dict.fromkeys(t.group_name for t in fr.terms))
    g = groups[0] if group is None else group
    if g not in groups:
        raise ValueError(f"unknown grouping factor {g!r}; the model has {groups}")
    terms = [t for t in fr.terms if t.group_name == g]
    V = np.hstack([t.values for t in terms])
    cols = [c for t in terms for c in t.term_names]
    codes, levels = terms[0].codes, list(terms[0].levels)
    names = list(fr.fixef_names)
    other = [j for j, nm in enumerate(names) if nm not in cols]
    y = fr.y - (0.0 if fr.offset is None else fr.offset)
    y_adj = y - fr.X[:, other] @ model.beta[other]
    sw = np.ones(fr.n) if fr.weights is None else np.sqrt(fr.weights)
    k = V.shape[1]
    nop = np.full((len(levels), k), np.nan)
    for j in range(len(levels)):
        rows = codes == j
        A = V[rows] * sw[rows, None]
        if rows.sum() >= k and np.linalg.matrix_rank(A) == k:
            nop[j] = np.linalg.lstsq(A, y_adj[rows] * sw[rows], rcond=None)[0]
    ols = np.linalg.lstsq(fr.X * sw[:, None], y * sw, rcond=None)[0]
    fe = dict(zip(names, model.beta, strict=True))
    complete = pd.Series([float(ols[names.index(c)]) if c in names else 0.0 for c in cols],
                         index=cols)
    partial = model.coef()[g][cols]
    return PoolingEstimates(
        group=g, no_pooling=pd.DataFrame(nop, index=partial.index, columns=cols),
        partial_pooling=partial, complete_pooling=complete,
        fixed=pd.Series([fe.get(c, 0.0) for c in cols], index=cols))


def shrinkage(model: Any, group: str | None = None, terms: Any = None) -> Any:
    """No pooling vs partial pooling with arrows (a quiver from each level's per-group fit to
    its model coefficient) and complete pooling; one random-effect column: a dot plot per level;
    two or more: the plane of the first two (or `terms`)."""
    est = pooling_estimates(model, group)
    cols = list(est.partial_pooling.columns)
    if terms is not None:
        wanted = [terms] if isinstance(terms, str) else list(terms)
        unknown = [t for t in wanted if t not in cols]
        if unknown or len(wanted) not in (1, 2):
            raise ValueError(f"terms must name one or two of {cols}")
        cols = wanted
    nop, part = est.no_pooling[cols], est.partial_pooling[cols]
    n = len(nop)
    if len(cols) == 1:
        c = cols[0]
        order = np.argsort(nop[c].to_numpy(), kind="stable")
        pos = np.arange(n)
        x0, x1 = nop[c].to_numpy()[order], part[c].to_numpy()[order]
        fig, axes = subplots(1, 1, 6.0, float(np.clip(0.2 * n + 1.4, 3.0, 12.0)))
        ax = axes[0, 0]
        ax.axvline(est.complete_pooling[c], color=GREY, linestyle="--", linewidth=1,
                   label="complete pooling")
        ok = np.isfinite(x0)
        ax.quiver(x0[ok], pos[ok], (x1 - x0)[ok], np.zeros(ok.sum()), angles="xy",
                  scale_units="xy", scale=1, color=GREY, width=0.004, label="shrinkage")
        ax.scatter(x0, pos, s=marker_size(n) * 1.4, facecolors="white", edgecolors=POINT,
                   zorder=3, label="no pooling")
        ax.scatter(x1, pos, s=marker_size(n) * 1.4, color=MODEL, zorder=4,
                   label="partial pooling")
        ax.set_yticks(pos)
        ax.set_yticklabels(np.asarray(nop.index.astype(str))[order],
                           fontsize=8 if n <= 40 else 5)
        style(ax, f"Shrinkage of {est.group}: {c}", c, est.group)
    else:
        a, b = cols[:2]
        fig, axes = subplots(1, 1, 6.4, 5.4)
        ax = axes[0, 0]
        x0, y0 = nop[a].to_numpy(), nop[b].to_numpy()
        x1, y1 = part[a].to_numpy(), part[b].to_numpy()
        ok = np.isfinite(x0) & np.isfinite(y0)
        ax.quiver(x0[ok], y0[ok], (x1 - x0)[ok], (y1 - y0)[ok], angles="xy",
                  scale_units="xy", scale=1, color=GREY, width=0.004, label="shrinkage")
        ax.scatter(x0, y0, s=marker_size(n) * 1.4, facecolors="white", edgecolors=POINT,
                   zorder=3, label="no pooling")
        ax.scatter(x1, y1, s=marker_size(n) * 1.4, color=MODEL, zorder=4,
                   label="partial pooling")
        ax.scatter([est.complete_pooling[a]], [est.complete_pooling[b]], marker="*", s=160,
                   color="black", zorder=5, label="complete pooling")
        style(ax, f"Shrinkage of {est.group}", a, b)
    ax.legend(fontsize=8, loc="best")
    return fig
