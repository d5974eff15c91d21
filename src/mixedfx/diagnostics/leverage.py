"""Leverage and Cook's distance of a fitted mixed model (lme4's `hatvalues.merMod` and
`cooks.distance.merMod`).

With A = [ZΛ X], working weights W (the prior weights for an LMM, the final PIRLS weights for a
GLMM) and M = AᵀWA + blockdiag(I_q, 0) (= K Kᵀ for lme4's K = [[L, 0], [R_ZXᵀ, R_Xᵀ]]), lme4
computes C_L = L⁻¹ΛᵀZᵀ√W_p and C_R = R_X⁻ᵀ(Xᵀ√W_p − R_ZXᵀ C_L) with the *prior* weights W_p,
and the hat matrix is C_LᵀC_L + C_RᵀC_R = √W_p A M⁻¹ Aᵀ √W_p. Its diagonal,

    h_i = w_{p,i} a_iᵀ M⁻¹ a_i,

is computed from the dense M⁻¹ (Cholesky inverse) when M has at most 8,000 rows, as
Σ_jk a_ij a_ik (M⁻¹)_jk over the few nonzeros of each row of A; larger systems use a sparse
LU of M, a chunk of rows at a time.

Cook's distance (lme4): D_i = (r_i / (1 − h_i))² h_i / (σ² p), r the Pearson residuals,
p = rank(X), σ the model's sigma; infinite values become NaN.
"""

from __future__ import annotations

import warnings
import weakref
from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg import lapack

from mixedfx.fitted.getme import lambda_matrix, z_matrix
from mixedfx.frame.rows import used_rows
from mixedfx.lazy import lazy_module
from mixedfx.warn import warn

sp = lazy_module("scipy.sparse")  # ~0.1 s at import (with scipy.sparse.linalg); only here
spla = lazy_module("scipy.sparse.linalg")  # with scipy.sparse; only for splu

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import MixedModel

_DENSE_LIMIT = 8000


def _weights(model: MixedModel) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(working weights, prior weights, Λ templates) at the fitted state."""
    fr = model.frame
    if hasattr(model, "family"):
        return model.working_weights, np.asarray(model.response.wt, dtype=float), \
            model.templates
    w = np.ones(fr.n) if fr.weights is None else np.asarray(fr.weights, dtype=float)
    return w, w, model.templates


def hatvalues(model: MixedModel) -> np.ndarray:
    """Diagonal of the hat matrix (lme4's `hatvalues(m)`); for a GLMM lme4 warns that the hat
    matrix may not make sense, and so does this function."""
    if hasattr(model, "family"):
        warn("the hat matrix may not make sense for GLMMs", UserWarning)
    return _hat_diagonal(model, prior=True)


def leverage(model: MixedModel) -> np.ndarray:
    """Leverages in [0, 1] for the diagnostic plots: the hat values for an LMM; for a GLMM
    the diagonal of the working (IRLS) model's hat matrix, w_i a_iᵀ M⁻¹ a_i with the PIRLS
    weights (lme4's `hatvalues` multiplies by the prior weights instead, which for binomial
    trials can exceed 1)."""
    return _hat_diagonal(model, prior=False)


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _hat_diagonal(model: MixedModel, prior: bool) -> np.ndarray:
    """The diagonal, cached per fitted model (fits are immutable; the plots reuse it)."""
    try:
        per_model = _CACHE.setdefault(model, {})
    except TypeError:                     # not weak-referenceable: no cache
        per_model = {}
    key = prior or not hasattr(model, "family")       # one hat matrix for an LMM
    if key not in per_model:
        per_model[key] = _compute_hat_diagonal(model, prior)
    return per_model[key].copy()


def _compute_hat_diagonal(model: MixedModel, prior: bool, chunk_elements: int = 4_000_000
                          ) -> np.ndarray:
    fr = model.frame
    Wk, Wp, templates = _weights(model)
    ZL = (z_matrix(fr.terms, fr.n) @ lambda_matrix(fr.terms, templates)).tocsr()
    A = sp.hstack([ZL, sp.csr_matrix(fr.X)], format="csr")
    q = ZL.shape[1]
    m = A.shape[1]
    M = (A.T @ sp.diags(Wk) @ A).tocsc()
    M = M + sp.diags(np.r_[np.ones(q), np.zeros(m - q)])
    n = fr.n
    out = np.empty(n)
    step = max(1, chunk_elements // max(m, 1))
    if m <= _DENSE_LIMIT:
        # dense M⁻¹ (from its Cholesky factor); each row of A has few nonzeros, so
        # h_i = Σ_jk a_ij a_ik (M⁻¹)_jk costs nnz(A_i)·m per row
        c, info = lapack.dpotrf(M.toarray(), lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("the penalized system is not positive definite")
        Minv, info = lapack.dpotri(c, lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("could not invert the penalized system")
        Minv = np.tril(Minv) + np.tril(Minv, -1).T
        for s in range(0, n, step):
            Ac = A[s:s + step]
            out[s:s + step] = np.asarray(Ac.multiply(Ac @ Minv).sum(axis=1)).ravel()
    else:
        lu = spla.splu(M)
        for s in range(0, n, step):
            At = A[s:s + step].toarray().T
            out[s:s + step] = np.einsum("ij,ij->j", lu.solve(At), At)
    return out * (Wp if prior else Wk)


def cooks_distance(model: MixedModel) -> np.ndarray:
    """Cook's distances (lme4's `cooks.distance(m)`): (r/(1−h))² h/(σ² p), Pearson r."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = hatvalues(model)
    p = np.linalg.matrix_rank(model.frame.X)
    r = used_rows(model, model.residuals(type="pearson")).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (r / (1.0 - h)) ** 2 * h / (model.sigma**2 * p)
    d[np.isinf(d)] = np.nan
    return d


def standardized_residuals(model: MixedModel) -> np.ndarray:
    """Pearson residuals over σ√(1 − hᵢ), h from `leverage` (R's `rstandard`; for an LMM the
    Cook's distance above is rᵢ*² hᵢ / (p (1 − hᵢ)) in these)."""
    h = leverage(model)
    r = used_rows(model, model.residuals(type="pearson")).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return r / (model.sigma * np.sqrt(1.0 - h))
