"""The spline tools lme4's profile intervals use: R's `splines::interpSpline` (the natural
cubic interpolating spline), `backSpline` (its inverse) and `predict` of a polynomial spline.

A polynomial spline is stored as knots k₁ < … < k_m and rows (c₁, c₂, c₃, c₄): on
(kᵢ, kᵢ₊₁] the value is c₁ + c₂d + c₃d² + c₄d³ with d = x − kᵢ; outside [k₁, k_m] it is NaN.

`back_spline` inverts a monotone spline y = f(x) as R does: on each interval the inverse is the
cubic Hermite interpolant of (yᵢ, xᵢ) with slopes 1/f′(xᵢ); the first and last intervals are
quadratics (matching the end value and the slope at the inner knot), replaced by straight
lines when that quadratic would bend the wrong way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedfx.lazy import lazy_module

interpolate = lazy_module("scipy.interpolate")  # ~0.1 s at import (scipy.spatial, ...); only here


class SplineError(ValueError):
    """The spline cannot be built (too few or duplicated points, not monotone)."""


@dataclass
class PolySpline:
    """A piecewise cubic: knots (m,) and coefficients (m, 4)."""

    knots: np.ndarray
    coef: np.ndarray

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        """R's `predict.polySpline(x)$y`: NaN outside the knot range."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        k = self.knots
        i = np.searchsorted(k, x, side="left") - 1        # x in (k_i, k_{i+1}]
        i[x == k[0]] = 0
        ok = (x >= k[0]) & (x <= k[-1]) & (i >= 0) & (i < len(k) - 1)
        out = np.full(x.shape, np.nan)
        ii = i[ok]
        d = x[ok] - k[ii]
        c = self.coef[ii]
        out[ok] = c[:, 0] + d * (c[:, 1] + d * (c[:, 2] + d * c[:, 3]))
        return out


def interp_spline(x: np.ndarray, y: np.ndarray) -> PolySpline:
    """R's `interpSpline(y ~ x)`: the natural cubic spline through the points (sorted by x)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    o = np.argsort(x, kind="stable")
    x, y = x[o], y[o]
    if len(x) < 4:
        raise SplineError("must have at least 'ord'=4 points")
    if np.any(np.diff(x) == 0):
        raise SplineError("values of 'x' must be distinct")
    cs = interpolate.CubicSpline(x, y, bc_type="natural")
    coef = np.column_stack([y, cs(x, 1), cs(x, 2) / 2.0, cs(x, 3) / 6.0])
    coef[0, 2] = coef[-1, 2] = 0.0
    return PolySpline(knots=x, coef=coef)


def back_spline(sp: PolySpline) -> PolySpline:
    """R's `backSpline` of a monotone natural cubic spline: x as a function of y."""
    knots = sp.knots
    nk = len(knots)
    kdiff = np.diff(knots)
    if np.any(kdiff <= 0):
        raise SplineError("knot positions must be strictly increasing")
    coeff = sp.coef
    bknots = coeff[:, 0]
    adiff = np.diff(bknots)
    if np.all(adiff < 0):
        rev = True
    elif np.all(adiff > 0):
        rev = False
    else:
        raise SplineError("spline must be monotone")
    b = np.zeros_like(coeff)
    b[:, 0] = knots
    with np.errstate(divide="ignore"):
        b[:, 1] = 1.0 / coeff[:, 1]
    for i in range(nk - 1):
        a = np.array([[adiff[i] ** 2, adiff[i] ** 3], [2 * adiff[i], 3 * adiff[i] ** 2]])
        rhs = np.array([kdiff[i] - adiff[i] * b[i, 1], b[i + 1, 1] - b[i, 1]])
        b[i, 2:4] = np.linalg.solve(a, rhs)
    b[nk - 1, 1:4] = np.nan
    last = nk - 2
    if nk > 2:
        b[0, 3] = b[last, 3] = 0.0
        a = np.array([[adiff[0], adiff[0] ** 2], [1.0, 2 * adiff[0]]])
        b[0, 1:3] = np.linalg.solve(a, np.array([kdiff[0], 1.0 / coeff[1, 1]]))
        b[last, 2] = (kdiff[last] - adiff[last] * b[last, 1]) / adiff[last] ** 2
    if b[0, 2] > 0:
        b[0, 2] = 0.0
        b[0, 1] = kdiff[0] / adiff[0]
    if b[last, 2] < 0:
        b[last, 2] = 0.0
        b[last, 1] = kdiff[last] / adiff[last]
    if rev:
        return PolySpline(knots=bknots[::-1].copy(), coef=b[::-1].copy())
    return PolySpline(knots=bknots.copy(), coef=b)


def approx(x: np.ndarray, y: np.ndarray, xout: np.ndarray) -> np.ndarray:
    """R's `approxfun(x, y)(xout)`: linear interpolation, ties in x averaged, NaN outside."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    ux, inv = np.unique(x, return_inverse=True)
    uy = np.bincount(inv, weights=y) / np.bincount(inv)
    xout = np.atleast_1d(np.asarray(xout, dtype=float))
    if len(ux) < 2:
        return np.full(xout.shape, np.nan)
    out = np.interp(xout, ux, uy)
    out[(xout < ux[0]) | (xout > ux[-1])] = np.nan
    return out
