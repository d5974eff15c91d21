"""Central finite-difference gradient and Hessian (lme4's `deriv12`, step δ = 1e-4).

    gᵢ   = (f(x + δeᵢ) − f(x − δeᵢ)) / 2δ
    Hᵢᵢ  = (f(x + δeᵢ) − 2f(x) + f(x − δeᵢ)) / δ²
    Hᵢⱼ  = (f(x+δeᵢ+δeⱼ) − f(x+δeᵢ−δeⱼ) − f(x−δeᵢ+δeⱼ) + f(x−δeᵢ−δeⱼ)) / 4δ²
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=32)
def _deriv12_steps(nx: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """(which coordinates stay, the ±δ steps) of `deriv12_points` for nx coordinates, one
    row per point."""
    rows = []
    for i in range(nx):
        add, sub = np.zeros(nx), np.zeros(nx)
        add[i], sub[i] = 1.0, -1.0
        rows += [add, sub]
        for j in range(i):
            for base, sj in ((add, 1.0), (add, -1.0), (sub, 1.0), (sub, -1.0)):
                r = base.copy()
                r[j] = sj
                rows.append(r)
    signs = np.array(rows).reshape(len(rows), nx)
    stay, steps = signs == 0.0, signs * delta
    stay.flags.writeable = steps.flags.writeable = False
    return stay, steps


def deriv12_points(x: np.ndarray, delta: float = 1e-4) -> np.ndarray:
    """The points `deriv12` evaluates, one per row, in its order: for each i, x + δeᵢ and
    x − δeᵢ, then for each j < i the four x ± δeᵢ ± δeⱼ (++, +−, −+, −−). Each moved
    coordinate is xᵢ + δ or xᵢ − δ (one rounding), the others are xᵢ itself."""
    x = np.asarray(x, dtype=float)
    stay, steps = _deriv12_steps(len(x), float(delta))
    return np.where(stay, x, x + steps)


def deriv12(
    fun: Callable[[np.ndarray], float], x: np.ndarray, fx: float | None = None,
    delta: float = 1e-4, many: Callable[[np.ndarray], np.ndarray | None] | None = None,
    native: Callable[[np.ndarray, float, float], tuple[np.ndarray, np.ndarray] | None]
    | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of `fun` at x by central differences. `many`, when given,
    evaluates `fun` at every row of a matrix in one call (or returns None: then `fun` is
    called point by point); `native(x, fx, delta)`, when given, computes the whole result
    in compiled code (or returns None); the values and so the derivatives are the same."""
    x = np.asarray(x, dtype=float)
    nx = len(x)
    fx = fun(x) if fx is None else fx
    if native is not None:
        out = native(x, fx, delta)
        if out is not None:
            return out
    points = deriv12_points(x, delta)
    values = None if many is None else many(points)
    if values is None:
        values = [fun(p) for p in points]
    values = values.tolist() if isinstance(values, np.ndarray) else [float(v) for v in values]
    g = np.zeros(nx)
    H = np.zeros((nx, nx))
    k = 0
    for i in range(nx):
        fadd, fsub = values[k], values[k + 1]
        k += 2
        H[i, i] = (fadd - 2.0 * fx + fsub) / delta**2
        g[i] = (fadd - fsub) / (2.0 * delta)
        for j in range(i):
            faa, fas, fsa, fss = values[k:k + 4]
            k += 4
            H[i, j] = H[j, i] = (faa - fas - fsa + fss) / (4.0 * delta**2)
    return g, H


def forward_hessian(fun: Callable[[np.ndarray], float], x: np.ndarray,
                    fx: float | None = None, delta: float = 1e-4,
                    many: Callable[[np.ndarray], np.ndarray | None] | None = None,
                    ) -> np.ndarray:
    """Hessian by forward differences, (p+1)(p+2)/2 evaluations instead of deriv12's
    1 + 2p + 2p(p−1):

        Hᵢⱼ = (f(x + δeᵢ + δeⱼ) − f(x + δeᵢ) − f(x + δeⱼ) + f(x)) / δ²

    The points x (unless fx is given), x + δeᵢ, then x + δeᵢ + δeⱼ (i ≤ j) are evaluated in
    that order; `many`, when given, evaluates all of them in one call (or returns None: then
    point by point), for the same values."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    eye = np.eye(n) * delta
    single = x + eye                        # row i: x + δeᵢ
    rows, cols = np.triu_indices(n)         # (i, j ≥ i) in the loop's order
    pairs = single[rows] + eye[cols]        # (x + δeᵢ) + δeⱼ, elementwise as in a loop
    points = np.vstack([single, pairs] if fx is not None else [x[None], single, pairs])
    values = None if many is None else many(points)
    if values is None:
        values = [fun(p) for p in points]
    k = 0
    if fx is None:
        fx, k = values[0], 1
    fi = values[k:k + n]
    k += n
    H = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            H[i, j] = H[j, i] = (values[k] - fi[i] - fi[j] + fx) / delta**2
            k += 1
    return H


def central_hessian(fun: Callable[[np.ndarray], float], x: np.ndarray,
                    delta: float = 1e-3) -> np.ndarray:
    """Hessian by central differences (error O(δ²), where the forward one is O(δ)):

        Hᵢⱼ = (f(x + δeᵢ + δeⱼ) − f(x + δeᵢ − δeⱼ) − f(x − δeᵢ + δeⱼ) + f(x − δeᵢ − δeⱼ)) / 4δ²
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    eye = np.eye(n) * delta
    H = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            H[i, j] = H[j, i] = (fun(x + eye[i] + eye[j]) - fun(x + eye[i] - eye[j])
                                 - fun(x - eye[i] + eye[j]) + fun(x - eye[i] - eye[j])
                                 ) / (4 * delta**2)
    return H
