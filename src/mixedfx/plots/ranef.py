"""Random-effects plots: the caterpillar plot (lme4's `dotplot(ranef(m, condVar = TRUE))`),
QQ plots of the conditional modes (lme4's `qqmath(ranef(m, condVar = TRUE))`) and merTools'
`plotREsim`.

Caterpillar: per grouping factor one row of panels, one panel per term; levels sorted by the
factor's first term (as lme4's dotplot orders every panel of a factor), each level's conditional
mode b̂ with the interval b̂ ± z·condsd, z = Φ⁻¹((1 + level)/2), and a line at zero. With many
levels the labels are thinned to at most `max_labels` (none beyond 1,000 levels) and the
markers shrink.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError
from mixedfx.inference.posterior import re_sim as simulate_re
from mixedfx.lazy import lazy_module
from mixedfx.plots._mpl import (
    GREY,
    MODEL,
    POINT,
    draw_qq,
    marker_size,
    panel_grid,
    style,
    subplots,
    thin_labels,
)

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here
if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import MixedModel


def _check_level(level: float) -> float:
    if not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ArgumentError(f"level must be a number between 0 and 1, got {level!r}")
    return float(level)


def _select_groups(ranef: dict[str, pd.DataFrame], groups: Any) -> list[str]:
    if groups is None:
        return list(ranef)
    wanted = [groups] if isinstance(groups, str) else list(groups)
    unknown = [g for g in wanted if g not in ranef]
    if unknown:
        raise ArgumentError(f"unknown grouping factor(s) {unknown}; the model has {list(ranef)}")
    return wanted


def caterpillar(model: MixedModel, level: float = 0.95, groups: Any = None, max_labels: int = 60,
                width: float | None = None) -> Any:
    """lme4's `dotplot(ranef(m, condVar = TRUE))`: a figure with one panel per grouping factor
    and term; `groups` restricts the factors; at most `max_labels` level labels per panel
    (thinned evenly; none for more than 1,000 levels)."""
    level = _check_level(level)
    if not isinstance(max_labels, (int, np.integer)) or max_labels < 0:
        raise ArgumentError("max_labels must be a non-negative integer")
    z = stats.norm.ppf(0.5 + level / 2)
    re = model.ranef(condvar=True)
    names = _select_groups(re, groups)
    ncols = max(re[g].shape[1] for g in names)
    heights = [float(np.clip(0.16 * len(re[g]) + 0.9, 2.2, 9.0)) for g in names]
    fig, axes = subplots(len(names), ncols, width or 3.4 * ncols + 0.8, sum(heights),
                         gridspec_kw={"height_ratios": heights})
    for r, g in enumerate(names):
        df, sd = re[g], re[g].attrs["condsd"]
        order = np.argsort(df.iloc[:, 0].to_numpy(), kind="stable")
        n = len(df)
        pos = np.arange(n)
        labels = np.asarray(df.index.astype(str))[order]
        for c in range(ncols):
            ax = axes[r, c]
            if c >= df.shape[1]:
                ax.set_visible(False)
                continue
            term = df.columns[c]
            b = df.iloc[:, c].to_numpy()[order]
            s = sd.iloc[:, c].to_numpy()[order]
            ax.axvline(0.0, color=GREY, linewidth=0.9, linestyle="--", zorder=1)
            ax.hlines(pos, b - z * s, b + z * s, color=POINT, alpha=0.55,
                      linewidth=1.2 if n < 200 else 0.5, zorder=2, label="interval")
            ax.scatter(b, pos, s=marker_size(n), color=POINT, zorder=3, linewidths=0,
                       label="mode")
            shown = thin_labels(n, max_labels if n <= 1000 else 0)
            ax.set_yticks(shown)
            ax.set_yticklabels(labels[shown] if c == 0 else [],
                               fontsize=8 if len(shown) <= 30 else 6)
            ax.set_ylim(-1, n)
            style(ax, f"{g}: {term}", "conditional mode",
                  (g if len(shown) else f"{g} ({n} levels, sorted)") if c == 0 else None)
            ax.grid(False, axis="y")
    fig.suptitle(f"Random effects with {100 * level:g}% intervals (±{z:.3g} cond. SD)",
                 fontsize=11)
    return fig


def qq_ranef(model: MixedModel, level: float = 0.95, groups: Any = None) -> Any:
    """lme4's `qqmath(ranef(m, condVar = TRUE))`: per grouping factor and term, the sorted
    conditional modes against standard normal quantiles, with R's qqline and vertical
    ±z·condsd intervals."""
    level = _check_level(level)
    z = stats.norm.ppf(0.5 + level / 2)
    re = model.ranef(condvar=True)
    names = _select_groups(re, groups)
    fig, _, panels = panel_grid([(g, j) for g in names for j in range(re[g].shape[1])],
                                3.6, 3.2)
    for _, ax, (g, j) in panels:
        b = re[g].iloc[:, j].to_numpy()
        s = re[g].attrs["condsd"].iloc[:, j].to_numpy()
        draw_qq(ax, b, f"{g}: {re[g].columns[j]}", "conditional mode")
        o = np.argsort(b, kind="stable")
        x = ax.collections[0].get_offsets()[:, 0]
        ax.vlines(x, b[o] - z * s[o], b[o] + z * s[o], color=POINT, alpha=0.35,
                  linewidth=0.8, label="interval")
    fig.suptitle("Normal QQ plots of the random effects", fontsize=11)
    return fig


def re_sim(model: MixedModel, nsim: int = 200, seed: int | None = None, level: float = 0.95,
           stat: str = "median", groups: Any = None, sigma_scale: float | None = None) -> Any:
    """merTools' `plotREsim(REsim(m))`: per grouping factor and term, the simulated random
    effects' `stat` (median or mean) ± z·sd against their rank; intervals that exclude zero
    are highlighted. Simulation: `mixedfx.inference.re_sim` (arm's `sim`; for GLMMs its
    glmerMod branch, effects on the link scale).

    As merTools' facets (`facet_grid(term ~ groupFctr, scales = "free_x")`) every panel shares
    the y-axis, so factors whose effects vary less show as such. `sigma_scale` is merTools'
    `sigmaScale`: effects and SDs are divided by it (e.g. `sigma_scale=m.sigma` shows the
    effects in residual-SD units)."""
    level = _check_level(level)
    if stat not in ("median", "mean"):
        raise ArgumentError("stat must be 'median' or 'mean'")
    if sigma_scale is not None and (isinstance(sigma_scale, bool) or not isinstance(
            sigma_scale, (int, float, np.integer, np.floating)) or not sigma_scale > 0
            or not np.isfinite(sigma_scale)):
        raise ArgumentError(f"sigma_scale must be a positive number, got {sigma_scale!r}")
    scale = 1.0 if sigma_scale is None else float(sigma_scale)
    sims = simulate_re(model, nsim=nsim, seed=seed)
    z = stats.norm.ppf(1 - (1 - level) / 2)
    facets = list(dict.fromkeys(zip(sims["groupFctr"], sims["term"], strict=True)))
    if groups is not None:
        wanted = {groups} if isinstance(groups, str) else set(groups)
        unknown = wanted - {g for g, _ in facets}
        if unknown:
            raise ArgumentError(f"unknown grouping factor(s) {sorted(unknown)}")
        facets = [f for f in facets if f[0] in wanted]
    fig, ncols, panels = panel_grid(facets, 3.8, 3.0, sharey=True)
    for i, ax, (g, term) in panels:
        d = sims[(sims["groupFctr"] == g) & (sims["term"] == term)]
        y = d[stat].to_numpy() / scale
        sd = d["sd"].to_numpy() / scale
        lo, hi = y - z * sd, y + z * sd
        order = np.argsort(y, kind="stable")
        x = np.arange(1, len(y) + 1)
        sig = (lo[order] > 0) | (hi[order] < 0)
        ax.axhline(0.0, color=MODEL, linewidth=0.9)
        for mask, color, lab in ((~sig, GREY, "interval covers 0"),
                                 (sig, MODEL, "interval excludes 0")):
            ax.vlines(x[mask], lo[order][mask], hi[order][mask], color=color,
                      linewidth=1.0 if len(y) < 200 else 0.4, label=lab)
        ax.scatter(x, y[order], s=marker_size(len(y)), color="black", zorder=3,
                   linewidths=0, label=stat)
        unit = "" if sigma_scale is None else f" / {scale:.4g}"
        style(ax, f"{g}: {term}", "rank of level",
              f"effect{unit} ({stat} ± {z:.3g} sd)" if i % ncols == 0 else None)
    fig.suptitle(f"Simulated random effects ({nsim} draws, {100 * level:g}% intervals)",
                 fontsize=11)
    return fig
