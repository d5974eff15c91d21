"""Leverages and Cook's distances of a fitted mixed model, as lme4's `hatvalues.merMod` and
`cooks.distance.merMod` compute them (what broom.mixed's `augment` reports).

With A = ZΛ, W the weights of the final penalized system (prior weights for an LMM, the
PIRLS working weights for a GLMM) and R = [A X], the penalized normal-equation matrix is
M = RᵀWR + diag(I_q, 0). lme4's hat value of row i is wᵢ Rᵢ M⁻¹ Rᵢᵀ with wᵢ the prior weight
(for a GLMM this mixes prior and working weights, as lme4 does; it warns that the hat matrix
may not make sense for GLMMs). Cook's distance: (rᵢ/(1 − hᵢ))² hᵢ / (σ² rank(X)) with rᵢ
the Pearson residual.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from mixedfx.results.getme import lambda_matrix, z_matrix


def _weights(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """(weights of the penalized system, prior weights)."""
    n = model.nobs
    if hasattr(model, "family"):
        W, _ = model._fit.pirls.weights(model._state)
        return W, model._resp.wt
    w = model._frame.weights
    w = np.ones(n) if w is None else w
    return w, w


def hat_values(model: Any, chunk: int = 2048) -> np.ndarray:
    """Diagonal of lme4's hat matrix (see the module docstring)."""
    frame = model._frame
    n = model.nobs
    A = z_matrix(frame.terms, n) @ lambda_matrix(frame.terms, model._templates())
    R = sp.hstack([A, sp.csc_matrix(frame.X)], format="csc")
    W, wp = _weights(model)
    q = A.shape[1]
    pen = sp.block_diag([sp.identity(q), sp.csc_matrix((frame.X.shape[1],) * 2)])
    M = (R.T @ sp.diags(W) @ R + pen).tocsc()
    lu = splu(M)
    Rr = R.tocsr()
    out = np.empty(n)
    for s in range(0, n, chunk):
        block = Rr[s:s + chunk].toarray()
        sol = lu.solve(block.T)
        out[s:s + chunk] = np.einsum("ij,ji->i", block, sol)
    return wp * out


def cooks_distance(model: Any, hat: np.ndarray | None = None) -> np.ndarray:
    """lme4's Cook's distance from the hat values and the Pearson residuals."""
    h = hat_values(model) if hat is None else hat
    p = np.linalg.matrix_rank(model._frame.X)
    r = model.residuals(type="pearson")
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (r / (1 - h)) ** 2 * h / (model.sigma**2 * p)
    d[np.isinf(d)] = np.nan
    return d
