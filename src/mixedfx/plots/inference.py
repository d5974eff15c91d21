"""Plots of inference results: likelihood profiles (lme4's `xyplot(profile(m))`) and bootstrap
replicates (densities of `bootMer`'s `t`).

Profile: per parameter, the signed square root of the likelihood-ratio statistic ζ against the
parameter, with horizontal lines at ±Φ⁻¹((1 + level)/2) and vertical lines at the profile
interval limits for each level (lme4's confint of the profile: its interpolating splines).
Bootstrap: a Gaussian kernel density of each statistic's replicates, the estimate t0 and the
percentile interval limits (boot's `norm.inter`, as `BootResult.confint`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError
from mixedfx.inference.profile import Profile, profile_model
from mixedfx.lazy import lazy_module
from mixedfx.plots._mpl import GREY, MODEL, POINT, panel_grid, style

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here

LEVELS = (0.5, 0.8, 0.9, 0.95, 0.99)


class _FrameProfile:
    """A profile given as `m.profile()`'s data frame: limits by linear interpolation of ζ."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.params = {}
        for name in df[".par"].cat.categories if isinstance(
                df[".par"].dtype, pd.CategoricalDtype) else dict.fromkeys(df[".par"]):
            tab = df[df[".par"] == name]
            self.params[name] = type("P", (), {"table": tab})()

    def confint(self, level: float) -> pd.DataFrame:
        zq = stats.norm.ppf(0.5 + level / 2)
        rows = {}
        for name, pp in self.params.items():
            x = pp.table[name].to_numpy(dtype=float)
            z = pp.table[".zeta"].to_numpy(dtype=float)
            ok = np.isfinite(x) & np.isfinite(z)
            o = np.argsort(z[ok])
            zs, xs = z[ok][o], x[ok][o]
            rows[name] = [float(np.interp(-zq, zs, xs, left=np.nan, right=np.nan)),
                          float(np.interp(zq, zs, xs, left=np.nan, right=np.nan))]
        return pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "upper"])


def profile(obj: Any, levels: Any = LEVELS, which: Any = None) -> Any:
    """Zeta plots of a likelihood profile: `obj` is a fitted model (profiled here, `which`
    as `m.profile`), a `mixedfx.inference.profile.Profile` (`profile_model`; limits from its
    splines, as lme4's confint) or the data frame `m.profile()` returns (limits by linear
    interpolation of ζ)."""
    levels = [levels] if isinstance(levels, float) else list(levels)
    if not levels or not all(0 < lv < 1 for lv in levels):
        raise ArgumentError("levels must be numbers between 0 and 1")
    if isinstance(obj, Profile):
        pr: Any = obj
    elif isinstance(obj, pd.DataFrame):
        if not {".zeta", ".par"} <= set(obj.columns):
            raise ArgumentError("a profile data frame needs the columns .zeta and .par "
                                "(as m.profile() returns)")
        pr = _FrameProfile(obj)
    else:
        pr = profile_model(obj, which)
    names = list(pr.params)
    cis = {lv: pr.confint(lv) for lv in levels}
    fig, ncols, panels = panel_grid(names, 3.6, 3.2)
    for i, ax, nm in panels:
        tab = pr.params[nm].table
        x, z = tab[nm].to_numpy(dtype=float), tab[".zeta"].to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(z)
        o = np.argsort(x[ok])
        ax.plot(x[ok][o], z[ok][o], color=POINT, linewidth=1.4, marker="o", markersize=2.5,
                label="zeta")
        for lv in levels:
            zz = stats.norm.ppf(0.5 + lv / 2)
            lo, hi = cis[lv].loc[nm, ["lower", "upper"]].to_numpy(dtype=float)
            ax.axhline(zz, color=GREY, linewidth=0.5)
            ax.axhline(-zz, color=GREY, linewidth=0.5)
            for lim, zs in ((lo, -zz), (hi, zz)):
                if math.isfinite(lim):
                    ax.plot([lim, lim], [0.0 if zs > 0 else zs, zs if zs > 0 else 0.0],
                            color=MODEL, linewidth=0.9, label=f"{100 * lv:g}% limit")
        ax.axhline(0.0, color=GREY, linewidth=0.8, linestyle="--")
        # the title names the parameter (lme4's strip); no x label repeating it just above
        # the next row's titles
        style(ax, nm, None, "ζ" if i % ncols == 0 else None)
    fig.get_layout_engine().set(h_pad=0.12)       # inches between rows
    fig.suptitle(f"Profile zeta plots (levels {', '.join(f'{100 * lv:g}%' for lv in levels)})",
                 fontsize=11)
    return fig


def bootstrap(boot: Any, level: float = 0.95, which: Any = None) -> Any:
    """Densities of the bootstrap replicates of each statistic (a `BootResult` from
    `m.bootstrap`), with t0 (solid) and the percentile interval (dashed)."""
    t: pd.DataFrame = boot.t
    names = list(t.columns) if which is None else (
        [which] if isinstance(which, str) else list(which))
    unknown = [nm for nm in names if nm not in t.columns]
    if unknown:
        raise ArgumentError(f"unknown statistic(s) {unknown}; available: {list(t.columns)}")
    if not 0 < level < 1:
        raise ArgumentError("level must be between 0 and 1")
    ci = boot.confint(level=level)
    fig, ncols, panels = panel_grid(names, 3.6, 2.9)
    for i, ax, nm in panels:
        v = t[nm].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if len(v) > 1 and np.ptp(v) > 0:
            pad = 0.1 * np.ptp(v)
            grid = np.linspace(v.min() - pad, v.max() + pad, 256)
            dens = stats.gaussian_kde(v)(grid)
            ax.fill_between(grid, dens, color=POINT, alpha=0.25, linewidth=0)
            ax.plot(grid, dens, color=POINT, linewidth=1.3, label="density")
        ax.plot(v, np.zeros_like(v), "|", color=POINT, markersize=6, alpha=0.5,
                label="replicates")
        ax.axvline(float(boot.t0[nm]), color="black", linewidth=1.2, label="estimate")
        for lim in ci.loc[nm, ["lower", "upper"]].to_numpy(dtype=float):
            if math.isfinite(lim):
                ax.axvline(lim, color=MODEL, linestyle="--", linewidth=1,
                           label=f"{100 * level:g}% percentile")
        style(ax, nm, None, "density" if i % ncols == 0 else None)
    fig.suptitle(f"Bootstrap distributions ({len(t)} replicates)", fontsize=11)
    return fig
