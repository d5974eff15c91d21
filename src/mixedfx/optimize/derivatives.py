"""Central finite-difference gradient and Hessian (lme4's `deriv12`, step δ = 1e-4).

    gᵢ   = (f(x + δeᵢ) − f(x − δeᵢ)) / 2δ
    Hᵢᵢ  = (f(x + δeᵢ) − 2f(x) + f(x − δeᵢ)) / δ²
    Hᵢⱼ  = (f(x+δeᵢ+δeⱼ) − f(x+δeᵢ−δeⱼ) − f(x−δeᵢ+δeⱼ) + f(x−δeᵢ−δeⱼ)) / 4δ²
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def deriv12(
    fun: Callable[[np.ndarray], float], x: np.ndarray, fx: float | None = None,
    delta: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of `fun` at x by central differences."""
    x = np.asarray(x, dtype=float)
    nx = len(x)
    fx = fun(x) if fx is None else fx
    g = np.zeros(nx)
    H = np.zeros((nx, nx))
    for i in range(nx):
        xadd, xsub = x.copy(), x.copy()
        xadd[i] += delta
        xsub[i] -= delta
        fadd, fsub = fun(xadd), fun(xsub)
        H[i, i] = (fadd - 2.0 * fx + fsub) / delta**2
        g[i] = (fadd - fsub) / (2.0 * delta)
        for j in range(i):
            xaa, xas, xsa, xss = xadd.copy(), xadd.copy(), xsub.copy(), xsub.copy()
            xaa[j] += delta
            xas[j] -= delta
            xsa[j] += delta
            xss[j] -= delta
            H[i, j] = H[j, i] = (fun(xaa) - fun(xas) - fun(xsa) + fun(xss)) / (4.0 * delta**2)
    return g, H


def forward_hessian(fun: Callable[[np.ndarray], float], x: np.ndarray,
                    fx: float | None = None, delta: float = 1e-4) -> np.ndarray:
    """Hessian by forward differences, (p+1)(p+2)/2 evaluations instead of deriv12's
    1 + 2p + 2p(p−1):

        Hᵢⱼ = (f(x + δeᵢ + δeⱼ) − f(x + δeᵢ) − f(x + δeⱼ) + f(x)) / δ²
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    f0 = fun(x) if fx is None else fx
    eye = np.eye(n) * delta
    fi = np.array([fun(x + eye[i]) for i in range(n)])
    H = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            H[i, j] = H[j, i] = (fun(x + eye[i] + eye[j]) - fi[i] - fi[j] + f0) / delta**2
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
