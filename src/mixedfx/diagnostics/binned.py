"""Binned residuals (arm's `binned.resids` / `binnedplot`) for binomial models.

The fitted values x are cut into `nclass` bins of about equal counts (arm's breaks: midpoints
between the order statistics at ⌊n·i/nclass⌋ and the next one, ties moved down); per bin the
mean x, the mean residual, the count, the x range and 2·sd(residual)/√n. arm's default
`nclass`: ⌊√n⌋ for n ≥ 100, 10 for 10 < n < 100, ⌊n/2⌋ otherwise.

performance's `binned_residuals` (its check_model panel) bins differently: see
`performance_binned_residuals`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError
from mixedfx.lazy import lazy_module

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here


def default_nclass(n: int) -> int:
    if n >= 100:
        return math.isqrt(n)
    if 10 < n < 100:
        return 10
    return max(1, n // 2)


def binned_resids(x: np.ndarray, y: np.ndarray, nclass: int | None = None) -> pd.DataFrame:
    """arm's `binned.resids(x, y, nclass)$binned`: columns xbar, ybar, n, x.lo, x.hi, 2se."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) == 0:
        raise ArgumentError("x and y must be non-empty one-dimensional arrays of the same length")
    n = len(x)
    nclass = default_nclass(n) if nclass is None else int(nclass)
    if nclass < 1:
        raise ArgumentError("nclass must be a positive integer")
    idx = np.floor(n * np.arange(1, nclass) / nclass).astype(int)
    if np.any(idx == 0):
        nclass = 1
    xs = np.sort(x)
    breaks = [-math.inf]
    if nclass > 1:
        for i in idx:
            lo, hi = xs[i - 1], xs[i]
            if lo == hi:
                lo = -math.inf if lo == x.min() else float(np.max(x[x < lo]))
            breaks.append((lo + hi) / 2)
    else:
        breaks.append((x.min() + x.max()) / 2)
    breaks.append(math.inf)
    breaks = list(dict.fromkeys(breaks))
    # R's cut: right-closed intervals (a, b]
    binned = np.searchsorted(np.asarray(breaks), x, side="left")
    rows = []
    for b in range(1, len(breaks)):
        sel = binned == b
        k = int(sel.sum())
        if k == 0:
            rows.append([np.nan, np.nan, 0, np.nan, np.nan, np.nan])
            continue
        xv, yv = x[sel], y[sel]
        sd = float(np.std(yv, ddof=1)) if k > 1 else 0.0
        rows.append([xv.mean(), yv.mean(), k, xv.min(), xv.max(), 2 * sd / math.sqrt(k)])
    return pd.DataFrame(rows, columns=["xbar", "ybar", "n", "x.lo", "x.hi", "2se"])


def performance_binned_residuals(x: np.ndarray, y: np.ndarray, n_bins: int | None = None
                                 ) -> pd.DataFrame:
    """performance's `binned_residuals(m)` (the check_model panel), for predicted values x and
    response residuals y: `n_bins` = round(√n) bins cut at the order statistics
    x₍⌊n·i/n_bins⌋₎ (R's `cut`, right-closed); per bin the mean x, the mean residual, the count,
    the x range, `se` = Φ⁻¹(0.975)·sd/√n (the band), `CI_low` / `CI_high` = ybar ∓ se, and
    `group` "yes" when |ybar| ≤ se (the residual is within the band), else "no". Empty bins
    are dropped, as `complete.cases` drops them."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ArgumentError("x and y must be one-dimensional arrays of the same length (n >= 2)")
    n = len(x)
    n_bins = int(np.floor(math.sqrt(n) + 0.5)) if n_bins is None else int(n_bins)
    if n_bins < 2:
        raise ArgumentError("n_bins must be at least 2")
    idx = np.floor(n * np.arange(1, n_bins) / n_bins).astype(int)      # R's 1-based index
    idx = idx[idx >= 1]                                                  # x[0] is empty in R
    breaks = np.unique(np.concatenate([[-math.inf], np.sort(x)[idx - 1], [math.inf]]))
    binned = np.searchsorted(breaks, x, side="left")                     # (a, b] -> 1..
    z = stats.norm.ppf(0.975)
    rows = []
    for b in range(1, n_bins + 1):
        sel = binned == b
        k = int(sel.sum())
        if k < 2:            # R: NA sd (k = 1) or NaN means (k = 0); complete.cases drops it
            continue
        xv, yv = x[sel], y[sel]
        half = z * float(np.std(yv, ddof=1)) / math.sqrt(k)
        rows.append([xv.mean(), yv.mean(), k, xv.min(), xv.max(), half])
    out = pd.DataFrame(rows, columns=["xbar", "ybar", "n", "x.lo", "x.hi", "se"])
    out["CI_low"] = out["ybar"] - out["se"]
    out["CI_high"] = out["ybar"] + out["se"]
    out["group"] = np.where(np.abs(out["ybar"]) > np.abs(out["se"]), "no", "yes")
    return out
