"""Richardson-extrapolated finite differences, as R's numDeriv (`grad`, `jacobian`, `hessian`).

lmerTest computes the Satterthwaite ingredients with numDeriv's defaults, so they are reproduced
here step for step. For a coordinate i the base step is

    h_i = |d·x_i| + ε·[|x_i| < zero_tol],    ε = 1e-4, zero_tol = √(2.22e-16 / 7e-7),

(d = 1e-4 for gradients and Jacobians, d = 0.1 for Hessians). With r = 4 halvings of h the
central differences D_k = (f(x + h_k eᵢ) − f(x − h_k eᵢ)) / 2h_k are combined by Richardson
extrapolation, D_k ← (4^m D_{k+1} − D_k) / (4^m − 1) for m = 1 … r − 1, which cancels the error
terms h², h⁴, h⁶. The Hessian follows numDeriv's `genD`: diagonal from second differences,
off-diagonal from f(x ± h eᵢ ± h eⱼ) corrected by the diagonal terms, each extrapolated the same
way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

EPS = 1e-4
ZERO_TOL = float(np.sqrt(np.finfo(float).eps / 7e-7))
R_STEPS = 4
HESSIAN_D = 0.1      # numDeriv's `hessian` base step (d of `genD`)
V_RATIO = 2.0


def _base_step(x: np.ndarray, d: float) -> np.ndarray:
    return np.abs(d * x) + EPS * (np.abs(x) < ZERO_TOL)


def extrapolate(a: np.ndarray) -> np.ndarray:
    """Richardson extrapolation along axis 0 (the r step sizes); returns a[0] at the end."""
    a = np.array(a, dtype=float)
    r = a.shape[0]
    for m in range(1, r):
        a = (a[1:r + 1 - m] * 4.0**m - a[:r - m]) / (4.0**m - 1.0)
    return a[0]


def jacobian(fun: Callable[[np.ndarray], np.ndarray], x: np.ndarray, d: float = 1e-4
             ) -> np.ndarray:
    """∂f/∂x for a vector-valued f: shape (len(f), len(x)), numDeriv's `jacobian`."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    h = _base_step(x, d)
    cols = []
    for i in range(n):
        a = []
        hk = h.copy()
        for _ in range(R_STEPS):
            e = np.zeros(n)
            e[i] = hk[i]
            a.append((np.asarray(fun(x + e), dtype=float) - np.asarray(fun(x - e), dtype=float))
                     / (2.0 * hk[i]))
            hk = hk / V_RATIO
        cols.append(extrapolate(np.array(a)))
    return np.column_stack(cols)


def grad(fun: Callable[[np.ndarray], float], x: np.ndarray, d: float = 1e-4) -> np.ndarray:
    """Gradient of a scalar function (numDeriv's `grad`, Richardson)."""
    return jacobian(lambda z: np.atleast_1d(fun(z)), x, d)[0]


def hessian(fun: Callable[[np.ndarray], float], x: np.ndarray, d: float = HESSIAN_D
            ) -> np.ndarray:
    """Hessian of a scalar function, numDeriv's `hessian` (genD with d = 0.1)."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    f0 = float(fun(x))
    h0 = _base_step(x, d)
    hdiag = np.zeros(n)
    for i in range(n):
        h = h0.copy()
        hap = []
        for _ in range(R_STEPS):
            e = np.zeros(n)
            e[i] = h[i]
            f1, f2 = float(fun(x + e)), float(fun(x - e))
            hap.append((f1 - 2.0 * f0 + f2) / h[i] ** 2)
            h = h / V_RATIO
        hdiag[i] = extrapolate(np.array(hap))
    H = np.diag(hdiag)
    for i in range(n):
        for j in range(i):
            h = h0.copy()
            dap = []
            for _ in range(R_STEPS):
                e = np.zeros(n)
                e[i] += h[i]
                e[j] += h[j]
                f1, f2 = float(fun(x + e)), float(fun(x - e))
                dap.append((f1 - 2.0 * f0 + f2 - hdiag[i] * h[i] ** 2 - hdiag[j] * h[j] ** 2)
                           / (2.0 * h[i] * h[j]))
                h = h / V_RATIO
            H[i, j] = H[j, i] = extrapolate(np.array(dap))
    return H
