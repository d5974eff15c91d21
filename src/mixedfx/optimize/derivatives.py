"""Central finite-difference gradient and Hessian (lme4's `deriv12`, step δ = 1e-4).

    gᵢ   = (f(x + δeᵢ) − f(x − δeᵢ)) / 2δ
    Hᵢᵢ  = (f(x + δeᵢ) − 2f(x) + f(x − δeᵢ)) / δ²
    Hᵢⱼ  = (f(x+δeᵢ+δeⱼ) − f(x+δeᵢ−δeⱼ) − f(x−δeᵢ+δeⱼ) + f(x−δeᵢ−δeⱼ)) / 4δ²
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

DERIV12_DELTA = 1e-4    # lme4's step


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


def deriv12_points(x: np.ndarray, delta: float = DERIV12_DELTA) -> np.ndarray:
    """The points `deriv12` evaluates, one per row, in its order: for each i, x + δeᵢ and
    x − δeᵢ, then for each j < i the four x ± δeᵢ ± δeⱼ (++, +−, −+, −−). Each moved
    coordinate is xᵢ + δ or xᵢ − δ (one rounding), the others are xᵢ itself."""
    x = np.asarray(x, dtype=float)
    stay, steps = _deriv12_steps(len(x), float(delta))
    return np.where(stay, x, x + steps)


def deriv12(
    fun: Callable[[np.ndarray], float], x: np.ndarray, fx: float | None = None,
    delta: float = DERIV12_DELTA, many: Callable[[np.ndarray], np.ndarray | None] | None = None,
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


@lru_cache(maxsize=32)
def _forward_steps(n: int, delta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(δI, the rows i of the pairs (i, j ≥ i) in `forward_hessian`'s order, δeⱼ of each
    pair), read-only: the same arrays for every Hessian of n coordinates."""
    eye = np.eye(n) * delta
    rows, cols = np.triu_indices(n)
    eye_cols = eye[cols]
    for a in (eye, rows, eye_cols):
        a.flags.writeable = False
    return eye, rows, eye_cols


def forward_hessian(fun: Callable[[np.ndarray], float], x: np.ndarray,
                    fx: float | None = None, delta: float = DERIV12_DELTA,
                    many: Callable[[np.ndarray], np.ndarray | None] | None = None,
                    ) -> np.ndarray:
    """Hessian by forward differences, (p+1)(p+2)/2 evaluations instead of deriv12's
    1 + 2p + 2p(p−1):

        Hᵢⱼ = (f(x + δeᵢ + δeⱼ) − f(x + δeᵢ) − f(x + δeⱼ) + f(x)) / δ²

    The points x (unless fx is given), x + δeᵢ, then x + δeᵢ + δeⱼ (i ≤ j) are evaluated in
    that order (`forward_hessian_points`); `many`, when given, evaluates all of them in one
    call (or returns None: then point by point), for the same values."""
    points = forward_hessian_points(x, fx, delta)
    values = None if many is None else many(points)
    values = [fun(p) for p in points] if values is None else values
    return forward_hessian_from(values, len(points[0]), fx, delta)


def forward_hessian_points(x: np.ndarray, fx: float | None = None,
                           delta: float = DERIV12_DELTA) -> np.ndarray:
    """`forward_hessian`'s points, one per row: x (when fx is None), x + δeᵢ, then
    (x + δeᵢ) + δeⱼ for i ≤ j."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    eye, rows, eye_cols = _forward_steps(n, float(delta))
    k0 = 0 if fx is not None else 1
    points = np.empty((k0 + n + len(rows), n))
    if fx is None:
        points[0] = x
    single = points[k0:k0 + n]
    np.add(x, eye, out=single)                          # row i: x + δeᵢ
    np.add(single[rows], eye_cols, out=points[k0 + n:])  # (x + δeᵢ) + δeⱼ, as in a loop
    return points


def forward_hessian_from(values, n: int, fx: float | None = None,
                         delta: float = DERIV12_DELTA) -> np.ndarray:
    """`forward_hessian` from the values at its points (`forward_hessian_points`)."""
    # Python floats: the same IEEE operations as NumPy's scalars, without their overhead
    vals = values.tolist() if isinstance(values, np.ndarray) else [float(v) for v in values]
    k = 0
    if fx is None:
        fx, k = vals[0], 1
    fi = vals[k:k + n]
    k += n
    H = [[0.0] * n for _ in range(n)]      # rows as lists: one array built at the end
    d2 = delta**2
    for i in range(n):
        Hi = H[i]
        for j in range(i, n):
            Hi[j] = H[j][i] = (vals[k] - fi[i] - fi[j] + fx) / d2
            k += 1
    return np.array(H).reshape(n, n)


@lru_cache(maxsize=32)
def _central_steps(n: int, delta: float) -> np.ndarray:
    """δI, read-only (`central_gradient`)."""
    E = np.eye(n) * delta
    E.flags.writeable = False
    return E


def central_gradient(fn: Callable[[np.ndarray], float], x: np.ndarray,
                     delta: float = DERIV12_DELTA) -> np.ndarray:
    """(f(x + δeᵢ) − f(x − δeᵢ)) / 2δ for each i; the points x + δe₀, x − δe₀, x + δe₁, …
    (`central_gradient_points`) are evaluated in that order, in one call when `fn` has
    `evaluate_many`."""
    points = central_gradient_points(x, delta)
    many = getattr(fn, "evaluate_many", None)
    values = None if many is None else many(points)
    if values is None:
        values = [fn(p) for p in points]
    return central_gradient_from(values, delta)


def central_gradient_points(x: np.ndarray, delta: float = DERIV12_DELTA) -> np.ndarray:
    """`central_gradient`'s points, one per row: x + δe₀, x − δe₀, x + δe₁, …"""
    x = np.asarray(x, dtype=float)
    n = len(x)
    E = _central_steps(n, float(delta))      # row i: δeᵢ
    points = np.empty((2 * n, n))
    np.add(x, E, out=points[0::2])
    np.subtract(x, E, out=points[1::2])
    return points


def central_gradient_from(values, delta: float = DERIV12_DELTA) -> np.ndarray:
    """`central_gradient` from the values at its points (`central_gradient_points`)."""
    vals = values.tolist() if isinstance(values, np.ndarray) else [float(v) for v in values]
    two_delta = 2 * delta
    return np.array([(vals[2 * i] - vals[2 * i + 1]) / two_delta
                     for i in range(len(vals) // 2)])


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
