"""R's `lowess` (Cleveland 1979, the clowess algorithm of R's stats package).

For each x (sorted), a weighted straight-line fit over the ⌈f·n⌉ nearest neighbours with
tricube weights (1 − (d/h)³)³, h the distance to the farthest of them (widened by 1e-3 h,
points within 1e-3 h weighted 1, beyond 0.999 h weighted 0); `iter` robustness passes
reweight by bisquare weights of the residuals / (6 × their median absolute value);
points within `delta` (default 1% of the x range) of the last fitted one are interpolated.
"""

from __future__ import annotations

import numpy as np

from mixedfx.errors import ArgumentError


def _lowest(x: np.ndarray, y: np.ndarray, n: int, xs: float, nleft: int, nright: int,
            w: np.ndarray, userw: bool, rw: np.ndarray) -> tuple[float, bool]:
    rng = x[n - 1] - x[0]
    h = max(xs - x[nleft], x[nright] - xs)
    h9, h1 = 0.999 * h, 0.001 * h
    # R's loop over j ≥ nleft stops at the first point right of xs farther than h9
    stop = min(n, int(np.searchsorted(x, xs + h9, side="right")) + 2)
    seg = slice(nleft, stop)
    r = np.abs(x[seg] - xs)
    beyond = np.flatnonzero((r > h9) & (x[seg] > xs))
    if len(beyond):
        stop = nleft + int(beyond[0])
        r = r[: beyond[0]]
    wj = np.where(r <= h9, np.where(r <= h1, 1.0, (1.0 - (r / h) ** 3) ** 3), 0.0)
    if userw:
        wj = wj * rw[nleft:stop]
    w[nleft:stop] = wj
    a = float(wj.sum())
    nrt = stop - 1
    if a <= 0.0:
        return 0.0, False
    sl = slice(nleft, nrt + 1)
    w[sl] /= a
    if h > 0.0:
        a = float(np.sum(w[sl] * x[sl]))
        b = xs - a
        c = float(np.sum(w[sl] * (x[sl] - a) ** 2))
        if np.sqrt(c) > 0.001 * rng:
            b /= c
            w[sl] *= b * (x[sl] - a) + 1.0
    return float(np.sum(w[sl] * y[sl])), True


def lowess(x: np.ndarray, y: np.ndarray, f: float = 2 / 3, iter: int = 3,
           delta: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """R's `lowess(x, y, f, iter, delta)`: (sorted x, smoothed y)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ArgumentError("x and y must be one-dimensional arrays of the same length")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    o = np.argsort(x, kind="stable")
    x, y = x[o], y[o]
    n = len(x)
    if n == 0:
        return x, y
    if delta is None:
        delta = 0.01 * (x[-1] - x[0])
    ys = np.zeros(n)
    if n < 2:
        return x, y.copy()
    ns = max(2, min(n, int(f * n + 1e-7)))
    w = np.zeros(n)
    rw = np.zeros(n)
    for it in range(1, iter + 2):
        nleft, nright, last, i = 0, ns - 1, -1, 0
        while True:
            if nright < n - 1:
                d1 = x[i] - x[nleft]
                d2 = x[nright + 1] - x[i]
                if d1 > d2:
                    nleft += 1
                    nright += 1
                    continue
            val, ok_fit = _lowest(x, y, n, x[i], nleft, nright, w, it > 1, rw)
            ys[i] = val if ok_fit else y[i]
            if last < i - 1:
                denom = x[i] - x[last]
                for j in range(last + 1, i):
                    alpha = (x[j] - x[last]) / denom
                    ys[j] = alpha * ys[i] + (1.0 - alpha) * ys[last]
            last = i
            cut = x[last] + delta
            i = last + 1
            while i < n:
                if x[i] > cut:
                    break
                if x[i] == x[last]:
                    ys[i] = ys[last]
                    last = i
                i += 1
            i = max(last + 1, i - 1)
            if last >= n - 1:
                break
        res = y - ys
        if it > iter:
            break
        sc = float(np.sum(np.abs(res))) / n
        ar = np.abs(res)
        m1 = n // 2
        part = np.partition(ar, [m1 - 1, m1] if n % 2 == 0 else [m1])
        cmad = 3.0 * (part[m1 - 1] + part[m1]) if n % 2 == 0 else 6.0 * part[m1]
        if cmad < 1e-7 * sc:
            break
        c9, c1 = 0.999 * cmad, 0.001 * cmad
        r = ar
        rw = np.where(r <= c1, 1.0, np.where(r <= c9, (1.0 - (r / cmad) ** 2) ** 2, 0.0))
    return x, ys
