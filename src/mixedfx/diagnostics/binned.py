"""Binned residuals (arm's `binned.resids` / `binnedplot`) for binomial models.

The fitted values x are cut into `nclass` bins of about equal counts (arm's breaks: midpoints
between the order statistics at ⌊n·i/nclass⌋ and the next one, ties moved down); per bin the
mean x, the mean residual, the count, the x range and 2·sd(residual)/√n. arm's default
`nclass`: ⌊√n⌋ for n ≥ 100, 10 for 10 < n < 100, ⌊n/2⌋ otherwise.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError


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
