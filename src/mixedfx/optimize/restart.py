"""Restarting a fit that ends singular, so that it never stops worse than another optimizer.

Why lme4's `restart_edge` is not enough. With the Cholesky parameterization Σ = TTᵀ the
objective depends on a column of T only through products with its diagonal element, so at a
boundary the one-sided slope test (raise one θ at its bound by 1e-5, look at the sign of the
change) is blind in two common cases:

* at T = 0 (all of a term's variances zero) the gradient in T vanishes: ∂f/∂T = 2 (∂f/∂Σ) T,
  so a coordinate that BOBYQA left at 1e-7 instead of exactly 0 sits in a flat, quadratic
  region and is not even tested (it is not *on* its bound);
* with a zero diagonal T_jj the entries below it (T_ij, i > j) only enter Σ through
  T_ij² + …, so their sign is free; the slope into T_jj > 0 is (∂f/∂Σ_ij) T_ij, positive when
  BOBYQA picked the wrong sign, and the test says "stay" although the better optimum is across
  the ridge.

So a fit that ends singular (`is_singular`) is optimized twice more with a fresh trust
region: from the boundary point itself, and from an interior point θᵢ = chol(TTᵀ + c²I) per
term (its off-diagonals start at 0, free to take either sign; c = max(0.1, sd/2)). The best
of the three is kept, but the original point is replaced only when the restart lowers the
criterion by more than `RESTART_GAIN` (relative, at least 10·ftol_abs absolute), so fits that
already match lme4 keep lme4's optimizer path and numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

INTERIOR_MIN_SD = 0.1     # relative SD the interior restart gives a term at least
INTERIOR_RHO = 0.5         # correlation of the signed interior restarts (k = 2)
SINGULAR_TOL = 1e-4        # lme4's isSingular tolerance
RESTART_GAIN = 1e-9       # relative improvement of the criterion needed to move the fit


def interior_point(theta: np.ndarray, lower: np.ndarray, blocks: Sequence[tuple[int, int]],
                   rho: float = 0.0) -> np.ndarray:
    """θ moved into the interior term by term.

    `blocks`: (offset, k) of each unstructured term's lower-triangular θ (column by column,
    lme4's order). Such a term gets chol(TTᵀ + c²R) with c = max(INTERIOR_MIN_SD, max sd / 2)
    and R the k×k matrix with unit diagonal and `rho` off it (|rho| < 1/(k−1)); any other
    coordinate on (or within 1e-4 of) a zero lower bound is raised to INTERIOR_MIN_SD.
    """
    out = np.array(theta, dtype=float)
    done = np.zeros(len(out), dtype=bool)
    for off, k in blocks:
        m = k * (k + 1) // 2
        cols, rows = np.triu_indices(k)
        T = np.zeros((k, k))
        T[rows, cols] = out[off:off + m]
        S = T @ T.T
        c = max(INTERIOR_MIN_SD, 0.5 * float(np.sqrt(np.max(np.diag(S)))))
        R = np.full((k, k), rho / max(k - 1, 1))
        np.fill_diagonal(R, 1.0)
        L = np.linalg.cholesky(S + c * c * R)
        out[off:off + m] = L[rows, cols]
        done[off:off + m] = True
    low = ~done & (lower == 0) & (out < 1e-4)
    out[low] = INTERIOR_MIN_SD
    return out


def _diagonal(theta: np.ndarray, off: int, k: int) -> np.ndarray:
    """The diagonal of a term's T from its column-wise lower triangle."""
    cols, rows = np.triu_indices(k)
    return theta[off:off + len(rows)][rows == cols]


def interior_points(theta: np.ndarray, lower: np.ndarray, blocks: Sequence[tuple[int, int]]
                    ) -> list[tuple[str, np.ndarray]]:
    """The interior starts: correlations 0, and ±INTERIOR_RHO/(k−1) when a term with k ≥ 2
    has a (near) zero diagonal (the sign of the column below it is free, and BOBYQA keeps
    the one it starts with)."""
    out = [("interior", interior_point(theta, lower, blocks))]
    if any(k >= 2 and np.min(_diagonal(theta, off, k)) < SINGULAR_TOL for off, k in blocks):
        out += [(f"interior rho={s:+g}", interior_point(theta, lower, blocks, s))
                for s in (INTERIOR_RHO, -INTERIOR_RHO)]
    return out


def restart_singular(run: Callable[[np.ndarray], tuple[np.ndarray, float, str]],
                     x: np.ndarray, fx: float, starts: list[tuple[str, np.ndarray]],
                     ftol_abs: float, gain: float = RESTART_GAIN
                     ) -> tuple[np.ndarray, float, str | None, list[tuple[str, float]]]:
    """Optimize from `x` and from each of `starts` with fresh trust regions (`run(x0)`
    returns (x, f, return code)); return the best point, its value, the return code of the
    run that found it (None when `x` is kept) and (start, value) of each restart. `x` is
    replaced only when the best restart lowers the criterion by more than
    max(10·ftol_abs, gain·|f(x)|)."""
    best_x, best_f, best_code = x, fx, None
    tried = []
    for label, start in [("boundary", x), *starts]:
        x2, f2, code = run(start)
        tried.append((label, float(f2)))
        if f2 < best_f:
            best_x, best_f, best_code = x2, f2, code
    if best_code is None or fx - best_f <= max(10.0 * ftol_abs, gain * abs(fx)):
        return x, fx, None, tried
    return best_x, best_f, best_code, tried
