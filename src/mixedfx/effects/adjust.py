"""Multiplicity adjustments of a family of contrast tests, as emmeans' `adjust=` applies them
within each `by` group.

* `tukey`: p = P(Q_{k,df} > √2 |t|), Q the studentized range of the k means compared.
* `sidak`: p = 1 − (1 − p₀)^m over the m contrasts of the family.
* `scheffe`: p = P(F_{r,df} > t²/r), r the rank of the family's contrast coefficients
  (k − 1 for all pairs of k means); with df = ∞, P(χ²_r > t²).
* R's `p.adjust` methods over the m p-values p₍₁₎ ≤ … ≤ p₍ₘ₎: `bonferroni` min(1, m·p);
  `holm` the running maximum of (m − i + 1)·p₍ᵢ₎; `hochberg` the running minimum from the top
  of (m − i + 1)·p₍ᵢ₎; `hommel` Hommel's closed procedure (R's algorithm); `BH` / `fdr` the
  running minimum from the top of m/i·p₍ᵢ₎; `BY` BH times Σ_{j≤m} 1/j; all capped at 1.
* `none`: the unadjusted p.

A family of one contrast is left unadjusted (except by Scheffé's rule), as emmeans. Names are
matched as R's `pmatch` (a unique prefix suffices: "bonf").
"""

from __future__ import annotations

import math

import numpy as np

from mixedfx.errors import ArgumentError
from mixedfx.lazy import lazy_module

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here

P_ADJUST = ("holm", "hochberg", "hommel", "bonferroni", "BH", "BY", "fdr", "none")
METHODS = ("sidak", "tukey", "scheffe", *P_ADJUST)
UNAVAILABLE = ("dunnettx", "mvt")


def match_adjust(adjust: str) -> str:
    """emmeans' `pmatch(adjust, methods)`: the exact name or its unique prefix."""
    if not isinstance(adjust, str):
        raise ArgumentError(f"adjust must be a string, got {adjust!r}")
    candidates = METHODS + UNAVAILABLE
    if adjust in candidates:
        hit = adjust
    else:
        hits = [m for m in candidates if adjust and m.startswith(adjust)]
        hit = hits[0] if len(hits) == 1 else ""
    if hit in UNAVAILABLE:
        raise ArgumentError(f"adjust={adjust!r} ({hit}, a multivariate-t integral) is not "
                            f"available; use one of {', '.join(METHODS)}")
    if not hit:
        raise ArgumentError(f"adjust must be one of {', '.join(METHODS)} (or a unique "
                            f"prefix), got {adjust!r}")
    return hit


def p_adjust(p: np.ndarray, method: str) -> np.ndarray:
    """R's `p.adjust(p, method)` for one family of p-values (see the module docstring)."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    if m <= 1 or method == "none":
        return p.copy()
    if method == "bonferroni":
        return np.minimum(1.0, m * p)
    i = np.arange(1, m + 1)
    if method == "holm":
        o = np.argsort(p, kind="stable")
        adj = np.minimum(1.0, np.maximum.accumulate((m - i + 1) * p[o]))
    elif method in ("hochberg", "BH", "fdr", "BY"):
        o = np.argsort(-p, kind="stable")             # decreasing
        rank = m - i + 1                              # ascending rank of p[o]
        factor = {"hochberg": m - rank + 1.0, "BH": m / rank, "fdr": m / rank,
                  "BY": m / rank * np.sum(1.0 / i)}[method]
        adj = np.minimum(1.0, np.minimum.accumulate(factor * p[o]))
    elif method == "hommel":
        return _hommel(p)
    else:
        raise ArgumentError(f"unknown p.adjust method {method!r}")
    out = np.empty(m)
    out[o] = adj
    return out


def _hommel(p: np.ndarray) -> np.ndarray:
    """Hommel's adjusted p-values (the closed-testing shortcut of R's `p.adjust`)."""
    m = len(p)
    o = np.argsort(p, kind="stable")
    ps = p[o]
    i = np.arange(1, m + 1)
    q = np.full(m, np.min(m * ps / i))
    pa = q.copy()
    for k in range(m - 1, 1, -1):
        i1 = np.arange(m - k + 1)
        i2 = np.arange(m - k + 1, m)
        q1 = np.min(k * ps[i2] / np.arange(2, k + 1))
        q[i1] = np.minimum(k * ps[i1], q1)
        q[i2] = q[m - k]
        pa = np.maximum(pa, q)
    out = np.empty(m)
    out[o] = np.maximum(pa, ps)
    return out


def adjust_family(stat: np.ndarray, df: np.ndarray, p_raw: np.ndarray, method: str,
                  n_means: int, rank: int) -> np.ndarray:
    """Adjusted two-sided p-values of one family of contrasts with t (or z) ratios `stat`,
    `df` (∞ for z), unadjusted `p_raw`, among `n_means` means, coefficients of rank `rank`."""
    stat, df, p_raw = (np.asarray(a, dtype=float) for a in (stat, df, p_raw))
    if method == "scheffe":
        chi = stats.chi2.sf(stat**2, rank)
        f = stats.f.sf(stat**2 / rank, rank, np.where(np.isfinite(df), df, 1.0))
        return np.where(np.isfinite(df), f, chi)
    if len(stat) <= 1 or method == "none":
        return p_raw.copy()
    if method == "tukey":
        return np.array([float(stats.studentized_range.sf(math.sqrt(2) * abs(t), n_means, d))
                         for t, d in zip(stat, df, strict=True)])
    if method == "sidak":
        return 1.0 - (1.0 - p_raw) ** len(p_raw)
    return p_adjust(p_raw, method)
