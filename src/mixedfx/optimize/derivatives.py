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
