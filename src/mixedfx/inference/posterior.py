"""Simulation-based uncertainty for fixed and random effects and predictions: arm's `sim`,
merTools' `REsim` and `predictInterval`.

`sim` (arm's method for merMod, flat prior, conditional on θ̂): σ*² = pwrss/χ²_{n−p}
(σ*⁻² ~ Gamma((n − p)/2, rate = pwrss/2)), then (u*, β*) ~ N((û, β̂), σ*² M⁻¹) with
M = [[ΛᵀZᵀZΛ + I, ΛᵀZᵀX], [XᵀZΛ, XᵀX]], drawn as R⁻¹e for the upper Cholesky factor
M = RᵀR; b* = Λu*. GLMMs (arm's glmerMod branch): M with the final PIRLS weights W
(ΛᵀZᵀWZΛ + I, ...), unit scale, σ reported as NaN.

`re_sim` summarizes the b* draws per grouping factor, level and term (mean, median, sd).

`predict_interval` (merTools' defaults): β* ~ N(β̂, V̂), b*_l ~ N(b̂_l, condVar_l) per level,
σ* as above, y* = Xβ* + Σ Z b* (+ N(0, σ*²) when `include_resid_var`); new levels get 0;
`fit` is the median (or mean) of the draws, `lwr`/`upr` the (1 ± level)/2 quantiles.

(performance's `icc` lives in `mixedfx.inference.r2`, with `r2_nakagawa`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.linalg import solve_triangular

from mixedfx.errors import ArgumentError
from mixedfx.fitted.getme import lambda_matrix, z_matrix
from mixedfx.fitted.predict import fixed_matrix, prepare_newdata
from mixedfx.fitted.varcorr import unique_group_names
from mixedfx.frame.grouping import level_labels_for_new_data
from mixedfx.lazy import lazy_module
from mixedfx.validate import check_seed

sp = lazy_module("scipy.sparse")  # ~0.1 s at import (with scipy.sparse.linalg); only here

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import LinearMixedFit


@dataclass
class PosteriorSims:
    """arm's `sim.merMod`: `fixef` (nsim × p), `ranef` per term (nsim × levels × k), `sigma`."""

    fixef: pd.DataFrame
    ranef: dict[str, np.ndarray]
    ranef_levels: dict[str, list[str]]
    ranef_terms: dict[str, list[str]]
    sigma: np.ndarray


def _sigma_draws(model: LinearMixedFit, nsim: int, rng: np.random.Generator) -> np.ndarray:
    n, p = model.nobs, len(model.beta)
    pwrss = model.engine_fit.factor.pwrss
    return np.sqrt(1.0 / rng.gamma(0.5 * (n - p), 2.0 / pwrss, size=nsim))


def _is_glmm(model: object) -> bool:
    return hasattr(model, "family")


def sim(model: LinearMixedFit, nsim: int = 100, seed: int | None = None) -> PosteriorSims:
    """arm's `sim(m, n.sims)`: joint draws of σ, β and the random effects. For a GLMM, as
    arm: M is built with the final PIRLS weights, the draws have unit scale and `sigma` is
    NaN (arm's NA)."""
    rng = check_seed(seed)
    glmm = _is_glmm(model)
    fr = model.frame
    terms = fr.terms
    Z = z_matrix(terms, fr.n)
    X = fr.X
    W = model.working_weights if glmm else fr.weights
    if W is not None:
        sw = np.sqrt(W)
        Z = sp.csc_matrix(sp.diags(sw) @ Z)
        X = X * sw[:, None]
    Lam = lambda_matrix(terms, model.templates)
    ZL = (Z @ Lam).tocsc()
    q, p = Z.shape[1], X.shape[1]
    M = np.empty((q + p, q + p))
    M[:q, :q] = (ZL.T @ ZL).toarray() + np.eye(q)
    M[:q, q:] = np.asarray(ZL.T @ X)
    M[q:, :q] = M[:q, q:].T
    M[q:, q:] = X.T @ X
    R = np.linalg.cholesky(M).T                       # M = RᵀR, R upper
    u_list = model.u
    u_hat = np.concatenate([u.ravel() for u in u_list])
    mean = np.concatenate([u_hat, model.beta])
    sig = np.full(nsim, np.nan) if glmm else _sigma_draws(model, nsim, rng)
    E = rng.standard_normal((q + p, nsim)) * (1.0 if glmm else sig[None, :])
    draws = solve_triangular(R, E, lower=False) + mean[:, None]   # (q + p, nsim)
    b = Lam @ draws[:q]
    ranef, levels, names = {}, {}, {}
    off = 0
    for t, g in zip(terms, unique_group_names(terms), strict=True):
        block = b[off:off + t.q].reshape(t.n_levels, t.k, nsim)
        ranef[g] = np.transpose(block, (2, 0, 1))
        levels[g] = [str(v) for v in t.levels]
        names[g] = list(t.term_names)
        off += t.q
    fixef = pd.DataFrame(draws[q:].T, columns=model.fixef.index)
    return PosteriorSims(fixef=fixef, ranef=ranef, ranef_levels=levels, ranef_terms=names,
                         sigma=sig)


def re_sim(model: LinearMixedFit, nsim: int = 200, seed: int | None = None) -> pd.DataFrame:
    """merTools' `REsim`: mean, median and sd of the simulated random effects, one row per
    grouping factor, level and term (columns groupFctr, groupID, term, mean, median, sd)."""
    s = sim(model, nsim, seed)
    rows = []
    for g, arr in s.ranef.items():
        for ti, term in enumerate(s.ranef_terms[g]):
            vals = arr[:, :, ti]
            frame = pd.DataFrame({"groupFctr": g, "groupID": s.ranef_levels[g], "term": term,
                                  "mean": vals.mean(axis=0), "median": np.median(vals, axis=0),
                                  "sd": vals.std(axis=0, ddof=1)})
            rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def predict_interval(model: LinearMixedFit, newdata: object = None, level: float = 0.8,
                     nsim: int = 1000, stat: str = "median", include_resid_var: bool = True,
                     seed: int | None = None, return_sims: bool = False,
                     type: str = "linear_prediction") -> pd.DataFrame:
    """merTools' `predictInterval` (linear predictor): fit, upr, lwr per row of `newdata`
    (default: the model's rows). For GLMMs the draws are on the link scale
    (`type="linear_prediction"`) or mapped through the inverse link (`"probability"`, merTools'
    name, for any family); no residual variance is added, as merTools for non-Gaussian
    models."""
    if type not in ("linear_prediction", "probability"):
        raise ArgumentError("type must be 'linear_prediction' or 'probability'")
    glmm = _is_glmm(model)
    if type == "probability" and not glmm:
        raise ArgumentError("type='probability' applies to GLMMs")
    rng = check_seed(seed)
    fr = model.frame
    if newdata is None:
        X = fr.X
        off = fr.offset if fr.offset is not None else 0.0
        parts = [(t, t.codes, t.values) for t in fr.terms]
    else:
        new = prepare_newdata(fr, newdata)
        X = fixed_matrix(fr, new)
        off = fr.new_offset(new.raw) if hasattr(fr, "new_offset") else 0.0
        parts = []
        for t in fr.terms:
            labels = level_labels_for_new_data(new.raw, t.group_vars)
            index = {lv: i for i, lv in enumerate(t.levels)}
            codes = np.array([-1 if lb is None else index.get(lb, -1) for lb in labels])
            V = np.asarray(t.design.matrix(new.frame), dtype=float)
            parts.append((t, codes, V))
    beta_draws = rng.multivariate_normal(model.beta, model.vcov.to_numpy(), size=nsim,
                                         method="cholesky")
    yhat = beta_draws @ X.T + off                          # (nsim, nrow)
    ranef = model.random_effects
    condvar = model.conditional_variances()
    for (t, codes, V), b, cv in zip(parts, ranef, condvar, strict=True):
        Lc = _psd_sqrt(cv)
        e = rng.standard_normal((nsim, t.n_levels, t.k))
        draws = b[None] + np.einsum("lab,slb->sla", Lc, e)     # (nsim, levels, k)
        known = codes >= 0
        contrib = np.zeros((nsim, len(codes)))
        contrib[:, known] = np.einsum("ik,sik->si", V[known], draws[:, codes[known], :])
        yhat += contrib
    if include_resid_var and not glmm:
        sig = _sigma_draws(model, nsim, rng)
        yhat += rng.standard_normal(yhat.shape) * sig[:, None]
    if type == "probability":
        yhat = model.family.link.linkinv(yhat)
    a = (1.0 - level) / 2.0
    center = np.median(yhat, axis=0) if stat == "median" else yhat.mean(axis=0)
    out = pd.DataFrame({"fit": center, "upr": np.quantile(yhat, 1.0 - a, axis=0),
                        "lwr": np.quantile(yhat, a, axis=0)})
    if return_sims:
        out.attrs["sims"] = yhat
    return out


def _psd_sqrt(C: np.ndarray) -> np.ndarray:
    """A square root S Sᵀ = C of each positive semi-definite block of C (…, k, k)."""
    w, V = np.linalg.eigh(C)
    return V * np.sqrt(np.clip(w, 0.0, None))[..., None, :]
