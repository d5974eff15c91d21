"""Newton polish of a derivative-free optimum.

BOBYQA stops when a step changes the objective by less than `ftol_abs`. On a flat ridge that
leaves θ up to ~1e-4 away from the minimum, and the exact stopping point then depends on the
last bits of every evaluation (a different BLAS kernel moves it). Quantities that are
derivatives of the fit at θ̂ (Satterthwaite df, Kenward–Roger) inherit that scatter.

Given the finite-difference gradient g and Hessian H at the optimizer's point (computed anyway
for lme4's convergence checks), the polish takes Newton steps on the free coordinates F (those
not on their bound),

    θ_F ← θ_F − H_FF⁻¹ g_F,

keeping a step only when it lowers the objective and stays inside the bounds, and recomputing
the central-difference gradient (step δ) at each accepted point. It stops when the step is
below `xtol` or after `max_steps`. The curvature H is kept from the first point: near the
optimum the Newton map contracts with factor ‖H⁻¹ΔH‖, so two or three steps reach the minimum
to within the finite-difference error (δ² relative).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mixedfx.optimize.derivatives import deriv12

FREE_MARGIN = 1e-6


def central_gradient(fun: Callable[[np.ndarray], float], x: np.ndarray, free: np.ndarray,
                     delta: float) -> np.ndarray:
    """(f(x + δeᵢ) − f(x − δeᵢ)) / 2δ for the coordinates in `free`."""
    g = np.zeros(len(free))
    for j, i in enumerate(free):
        up, down = x.copy(), x.copy()
        up[i] += delta
        down[i] -= delta
        g[j] = (fun(up) - fun(down)) / (2.0 * delta)
    return g


def newton_polish(fun: Callable[[np.ndarray], float], x: np.ndarray, fx: float,
                  gradient: np.ndarray, hessian: np.ndarray, lower: np.ndarray,
                  upper: np.ndarray, delta: float = 1e-4, xtol: float = 1e-10,
                  max_steps: int = 3) -> tuple[np.ndarray, float, np.ndarray]:
    """Newton steps from x (see the module docstring).

    Returns the best point, its value and the gradient there (the free coordinates
    recomputed when the point moved, the others as given).
    """
    gradient = np.asarray(gradient, dtype=float)
    free = np.flatnonzero((x - lower > FREE_MARGIN) & (upper - x > FREE_MARGIN))
    if len(free) == 0:
        return x, fx, gradient
    H = hessian[np.ix_(free, free)]
    try:
        chol = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return x, fx, gradient
    if not np.all(np.isfinite(chol)):
        return x, fx, gradient
    g = gradient[free]
    moved = False
    for _ in range(max_steps):
        step = -np.linalg.solve(chol.T, np.linalg.solve(chol, g))
        trial = x.copy()
        trial[free] += step
        if np.any(trial[free] - lower[free] <= 0) or np.any(upper[free] - trial[free] <= 0):
            break
        f_trial = fun(trial)
        if not np.isfinite(f_trial) or f_trial >= fx:
            break
        x, fx, moved = trial, f_trial, True
        g = central_gradient(fun, x, free, delta)
        if np.max(np.abs(step)) < xtol:
            break
    if moved:
        gradient = gradient.copy()
        gradient[free] = g
    return x, fx, gradient


def polished_optimum(fun: Callable[[np.ndarray], float], x: np.ndarray, lower: np.ndarray,
                     upper: np.ndarray | None = None) -> np.ndarray:
    """The minimum near x (lme4's deriv12 derivatives, then `newton_polish`), for quantities
    that are derivatives of the fit at its optimum and must not depend on where the optimizer
    stopped."""
    x = np.asarray(x, dtype=float)
    fx = fun(x)
    g, H = deriv12(fun, x, fx)
    upper = np.full_like(x, np.inf) if upper is None else np.asarray(upper, dtype=float)
    return newton_polish(fun, x, fx, g, H, np.asarray(lower, dtype=float), upper)[0]
