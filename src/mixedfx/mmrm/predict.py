"""Predictions from a fitted MMRM, conditional on each subject's observed visits (SAS
OUTP=, mmrm's `predict(conditional = TRUE)`), with SAS's StdErrPred.

For subject i with observed rows o (response present) and rows m to predict,

    ŷ_m = X_m β̂ + Σ_mo Σ_oo⁻¹ (y_o − X_o β̂) = Z β̂ + Σ_mo Σ_oo⁻¹ y_o,  Z = X_m − Σ_mo Σ_oo⁻¹ X_o
    Var = diag(Z V Zᵀ) + diag(Σ_mm − Σ_mo Σ_oo⁻¹ Σ_om)            (StdErrPred = √Var)

with V the fit's covariance of β̂ (Kenward–Roger adjusted for the KR methods). With
method="Kenward-Roger" SAS adds the uncertainty of θ̂ in K = Σ_mo Σ_oo⁻¹ (Kackar–Harville):
2 Σ_kl W_kl diag(∂_kK Σ_oo ∂_lKᵀ), W the covariance of θ̂ (not for Kenward-Roger-Linear).
Rows with an observed response get SAS's OUTP= values there: X β̂ with se √(x V xᵀ). A
subject without observations gets X_m β̂ with variance x V xᵀ + Σ_mm. `conditional=False`
gives X β̂ and se √(x V xᵀ) for every row (SAS OUTPM=). Weights scale Σ as in the fit:
Var(y_ij) = Σ_jj / w_ij.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import DataError
from mixedfx.formula import evaluate_response
from mixedfx.frame.model_frame import as_pandas
from mixedfx.mmrm.derivatives import complex_step_jacobian
from mixedfx.mmrm.design import MmrmDesign
from mixedfx.mmrm.fit import MmrmFit
from mixedfx.mmrm.inference import MmrmInference
from mixedfx.mmrm.structures import spatial_sigma


def _codes(d: MmrmDesign, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row: covariance group index and visit index (or coordinates)."""
    term = d.term
    if term.group:
        lookup = {g: i for i, g in enumerate(d.group_levels)}
        bad = sorted({str(v) for v in data[term.group]} - set(lookup))
        if bad:
            raise DataError(f"newdata has levels {bad} of the covariance group {term.group!r} "
                            "that the fit did not have")
        groups = np.array([lookup[str(v)] for v in data[term.group]])
    else:
        groups = np.zeros(len(data), dtype=int)
    if term.spatial:
        return groups, np.column_stack([data[c].to_numpy(float) for c in term.visits])
    lookup = {v: i for i, v in enumerate(d.visit_levels)}
    bad = sorted({str(v) for v in data[term.visits[0]]} - set(lookup))
    if bad:
        raise DataError(f"newdata has visits {bad} that the fit did not have")
    return groups, np.array([lookup[str(v)] for v in data[term.visits[0]]])


def _sigma(fit: MmrmFit, spatial: bool, th: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Σ on the rows' visits (or coordinates) for one group's parameters `th`."""
    smap = fit.smap
    if spatial:
        dist = np.sqrt(((where[:, None, :] - where[None, :, :]) ** 2).sum(axis=2))
        return spatial_sigma(smap.structure.name, th, dist)
    return smap.structure.sigma(th, smap.m)[np.ix_(where, where)]


def _kackar_harville(fit: MmrmFit, spatial: bool, g: int, where: np.ndarray,
                     scale: np.ndarray, io: list[int], im: list[int]) -> np.ndarray:
    """2 Σ_kl W_kl diag(∂_kK Σ_oo ∂_lKᵀ) with ∂_kK by the complex step."""
    sl = fit.smap.group_slice(g)
    th = fit.state.theta[sl]
    W = fit.theta_vcov[sl, sl]

    def gain(t: np.ndarray) -> np.ndarray:
        S = _sigma(fit, spatial, t, where) / scale
        return S[np.ix_(im, io)] @ np.linalg.inv(S[np.ix_(io, io)])
    dK = complex_step_jacobian(gain, th)                       # (k, m, o)
    Soo = (_sigma(fit, spatial, th, where) / scale)[np.ix_(io, io)]
    return 2.0 * np.einsum("kl,kmo,op,lmp->m", W, dK, Soo, dK)


def predict(d: MmrmDesign, mfit: MmrmFit, inference: MmrmInference, newdata: Any = None,
            conditional: bool = True, weights: Any = None) -> pd.DataFrame:
    """Frame with `fit` and `se` (StdErrPred), indexed like `newdata` (see module doc), for
    the fit `mfit` of the design `d` with its inference (`inference.vcov`: V)."""
    data = as_pandas(newdata) if newdata is not None else d.frame.frame
    frame = d.frame
    X = np.asarray(frame.fixed_design.matrix(data), float)[:, frame.kept_columns]
    beta, V = mfit.state.beta, inference.vcov
    fit = X @ beta
    var_fix = np.einsum("ij,jk,ik->i", X, V, X)
    if not conditional:
        return pd.DataFrame({"fit": fit, "se": np.sqrt(var_fix)}, index=data.index)
    try:
        y = np.asarray(evaluate_response(frame.formula.response, data), float)
    except (ValueError, KeyError, NameError) as err:
        raise DataError("conditional predictions need the response in newdata (missing "
                        f"values mark the visits to predict): {err}") from None
    w = np.ones(len(data)) if weights is None else np.asarray(
        data[weights] if isinstance(weights, str) else weights, float)
    groups, where = _codes(d, data)
    subj = data[d.term.subject].astype(str).to_numpy()
    out_fit, out_var = fit.copy(), var_fix.copy()
    smap, theta = mfit.smap, mfit.state.theta
    kr = inference.vcov_type == "Kenward-Roger"
    spatial = d.term.spatial
    for s in pd.unique(subj):
        rows = np.flatnonzero(subj == s)
        obs, mis = rows[~np.isnan(y[rows])], rows[np.isnan(y[rows])]
        if len(mis) == 0:
            continue
        g = int(groups[rows[0]])
        scale = np.sqrt(np.outer(w[rows], w[rows]))
        S = _sigma(mfit, spatial, theta[smap.group_slice(g)], where[rows]) / scale
        pos = {r: k for k, r in enumerate(rows)}
        io, im = [pos[r] for r in obs], [pos[r] for r in mis]
        Smm = S[np.ix_(im, im)]
        if len(obs):
            K = S[np.ix_(im, io)] @ np.linalg.inv(S[np.ix_(io, io)])
            Z = X[mis] - K @ X[obs]
            out_fit[mis] = Z @ beta + K @ y[obs]
            cond = Smm - K @ S[np.ix_(io, im)]
        else:
            Z = X[mis]
            out_fit[mis] = Z @ beta
            cond = Smm
        out_var[mis] = np.einsum("ij,jk,ik->i", Z, V, Z) + np.diag(cond)
        if kr and len(obs):
            out_var[mis] += _kackar_harville(mfit, spatial, g, where[rows], scale, io, im)
    return pd.DataFrame({"fit": out_fit, "se": np.sqrt(out_var)}, index=data.index)
