"""Pooling plot: no pooling (per-group least squares) against partial pooling (the mixed model's
coefficients, `coef(m)`), with arrows showing the shrinkage, and complete pooling for reference.

For a grouping factor g with random-effect columns V (e.g. intercept and Days): the no-pooling
estimate of level j is the least-squares fit of y − offset − X_o β̂_o on V over j's rows (X_o:
the fixed-effects columns without a random effect for g, held at the model's estimates;
weighted by the prior weights; NaN when j's rows cannot identify all columns); partial pooling
is coef(m)[g] restricted to those columns; complete pooling is the ordinary least-squares fit of
y on X ignoring the groups (lm of the fixed part).

GLMMs, on the link scale: the per-group fits and the complete-pooling fit are the family's
GLMs (R's glm.fit: IRLS from the family's starting values, prior weights / trials, the offset
X_o β̂_o); a group whose GLM does not converge or diverges (e.g. a binomial group with no
successes, whose estimate is −∞) gets NaN and no arrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError
from mixedfx.plots._mpl import GREY, MODEL, POINT, marker_size, style, subplots

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import MixedModel


@dataclass
class PoolingEstimates:
    group: str
    no_pooling: pd.DataFrame       # levels × columns
    partial_pooling: pd.DataFrame  # levels × columns (coef(m))
    complete_pooling: pd.Series    # columns
    fixed: pd.Series               # the model's fixed effects for the columns (0 if absent)


def pooling_estimates(model: MixedModel, group: str | None = None) -> PoolingEstimates:
    """The three sets of estimates the shrinkage plot draws."""
    fr = model.frame
    groups = list(dict.fromkeys(t.group_name for t in fr.terms))
    g = groups[0] if group is None else group
    if g not in groups:
        raise ArgumentError(f"unknown grouping factor {g!r}; the model has {groups}")
    terms = [t for t in fr.terms if t.group_name == g]
    V = np.hstack([t.values for t in terms])
    cols = [c for t in terms for c in t.term_names]
    codes, levels = terms[0].codes, list(terms[0].levels)
    names = list(fr.fixef_names)
    other = [j for j, nm in enumerate(names) if nm not in cols]
    off = np.zeros(fr.n) if fr.offset is None else np.asarray(fr.offset, dtype=float)
    fixed_other = fr.X[:, other] @ model.beta[other]
    k = V.shape[1]
    nop = np.full((len(levels), k), np.nan)
    if hasattr(model, "family"):
        fam, y, wt = model.family, model.response.y, model.response.wt

        def fit(A: np.ndarray, rows: Any, o: np.ndarray) -> np.ndarray:
            return glm_fit(A, y[rows], wt[rows], o, fam)
    else:
        y = fr.y
        w = np.ones(fr.n) if fr.weights is None else np.asarray(fr.weights, dtype=float)

        def fit(A: np.ndarray, rows: Any, o: np.ndarray) -> np.ndarray:
            sw = np.sqrt(w[rows])
            return np.linalg.lstsq(A * sw[:, None], (y[rows] - o) * sw, rcond=None)[0]
    for j in range(len(levels)):
        rows = codes == j
        if rows.sum() >= k and np.linalg.matrix_rank(V[rows]) == k:
            nop[j] = fit(V[rows], rows, off[rows] + fixed_other[rows])
    ols = fit(fr.X, slice(None), off)
    fe = dict(zip(names, model.beta, strict=True))
    complete = pd.Series([float(ols[names.index(c)]) if c in names else 0.0 for c in cols],
                         index=cols)
    partial = model.coef()[g][cols]
    return PoolingEstimates(
        group=g, no_pooling=pd.DataFrame(nop, index=partial.index, columns=cols),
        partial_pooling=partial, complete_pooling=complete,
        fixed=pd.Series([fe.get(c, 0.0) for c in cols], index=cols))


def glm_fit(X: np.ndarray, y: np.ndarray, wt: np.ndarray, offset: np.ndarray, family: Any,
            maxit: int = 25, epsilon: float = 1e-8) -> np.ndarray:
    """R's glm.fit by IRLS; NaN coefficients when it does not converge or diverges."""
    link = family.link
    eta = link.linkfun(family.mustart(y, wt))
    dev_old = np.inf
    beta = np.full(X.shape[1], np.nan)
    with np.errstate(all="ignore"):
        for _ in range(maxit):
            mu = link.linkinv(eta)
            d = link.mu_eta(eta)
            w = wt * d**2 / family.variance(mu)
            good = (wt > 0) & (d != 0) & np.isfinite(w)
            z = eta - offset + (y - mu) / d
            sw = np.sqrt(w[good])
            beta = np.linalg.lstsq(X[good] * sw[:, None], z[good] * sw, rcond=None)[0]
            eta = X @ beta + offset
            dev = float(np.sum(family.dev_resids(y, link.linkinv(eta), wt)))
            if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
                break
            dev_old = dev
        else:
            return np.full(X.shape[1], np.nan)
    if not np.all(np.isfinite(beta)) or np.max(np.abs(eta)) > 30:
        return np.full(X.shape[1], np.nan)
    return beta


def _draw_shrinkage(ax: Any, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray,
                    y1: np.ndarray, n: int) -> None:
    """No-pooling points (x0, y0) (open), partial-pooling points (x1, y1) (filled) and an
    arrow from each to the other where the no-pooling estimate is finite."""
    ok = np.isfinite(x0) & np.isfinite(y0)
    ax.quiver(x0[ok], y0[ok], (x1 - x0)[ok], (y1 - y0)[ok], angles="xy",
              scale_units="xy", scale=1, color=GREY, width=0.004, label="shrinkage")
    ax.scatter(x0, y0, s=marker_size(n) * 1.4, facecolors="white", edgecolors=POINT,
               zorder=3, label="no pooling")
    ax.scatter(x1, y1, s=marker_size(n) * 1.4, color=MODEL, zorder=4,
               label="partial pooling")


def shrinkage(model: MixedModel, group: str | None = None, terms: Any = None) -> Any:
    """No pooling vs partial pooling (link scale for a GLMM) with arrows (a quiver from each
    level's per-group fit to its model coefficient) and complete pooling; one random-effect
    column: a dot plot per level; two or more: the plane of the first two (or `terms`)."""
    est = pooling_estimates(model, group)
    cols = list(est.partial_pooling.columns)
    if terms is not None:
        wanted = [terms] if isinstance(terms, str) else list(terms)
        unknown = [t for t in wanted if t not in cols]
        if unknown or len(wanted) not in (1, 2):
            raise ArgumentError(f"terms must name one or two of {cols}")
        cols = wanted
    nop, part = est.no_pooling[cols], est.partial_pooling[cols]
    n = len(nop)
    scale = f" ({model.family.link.name} scale)" if hasattr(model, "family") else ""
    if len(cols) == 1:
        c = cols[0]
        order = np.argsort(nop[c].to_numpy(), kind="stable")
        pos = np.arange(n)
        x0, x1 = nop[c].to_numpy()[order], part[c].to_numpy()[order]
        fig, axes = subplots(1, 1, 6.0, float(np.clip(0.2 * n + 1.4, 3.0, 12.0)))
        ax = axes[0, 0]
        ax.axvline(est.complete_pooling[c], color=GREY, linestyle="--", linewidth=1,
                   label="complete pooling")
        _draw_shrinkage(ax, x0, pos, x1, pos, n)
        ax.set_yticks(pos)
        ax.set_yticklabels(np.asarray(nop.index.astype(str))[order],
                           fontsize=8 if n <= 40 else 5)
        style(ax, f"Shrinkage of {est.group}: {c}", c + scale, est.group)
    else:
        a, b = cols[:2]
        fig, axes = subplots(1, 1, 6.4, 5.4)
        ax = axes[0, 0]
        x0, y0 = nop[a].to_numpy(), nop[b].to_numpy()
        x1, y1 = part[a].to_numpy(), part[b].to_numpy()
        _draw_shrinkage(ax, x0, y0, x1, y1, n)
        ax.scatter([est.complete_pooling[a]], [est.complete_pooling[b]], marker="*", s=160,
                   color="black", zorder=5, label="complete pooling")
        style(ax, f"Shrinkage of {est.group}", a + scale, b + scale)
    ax.legend(fontsize=8, loc="best")
    return fig
