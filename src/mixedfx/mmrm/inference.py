"""Inference on β̂ for a fitted MMRM: the covariance chosen by `vcov` and the df chosen by
`method`, for single contrasts (t tests) and contrast matrices (F tests).

    method             vcov default       df of cᵀβ̂
    Satterthwaite      Asymptotic         `mixedfx.mmrm.satterthwaite` (Bell–McCaffrey
                                          with an empirical vcov)
    Kenward-Roger      Kenward-Roger      `mixedfx.mmrm.kenward_roger` (Φ_A, λ-scaled F;
                                          second-order term in SAS's parameters)
    Kenward-Roger-Linear  Kenward-Roger-Linear  (no second-order term: invariant)
    Residual           Asymptotic         n − p
    Between-Within     Asymptotic         SAS's: the smallest df of the coefficients used,
                                          between-subject N − (#between + intercept),
                                          within-subject n − N − #within

F test of L (ℓ rows): F = (Lβ̂)ᵀ(LVLᵀ)⁻¹(Lβ̂)/ℓ, times λ for Kenward–Roger.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from mixedfx.errors import ArgumentError
from mixedfx.lazy import lazy_module
from mixedfx.mmrm.components import p_matrices, weighted_q
from mixedfx.mmrm.design import MmrmDesign
from mixedfx.mmrm.empirical import EMPIRICAL, sandwich
from mixedfx.mmrm.kenward_roger import adjusted_vcov, kr_df, sas_second_order
from mixedfx.mmrm.optimum import MmrmFit
from mixedfx.mmrm.satterthwaite import combine_df, orthogonal_rows, sat_df_1d

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here

METHODS = ("Satterthwaite", "Kenward-Roger", "Kenward-Roger-Linear", "Residual",
           "Between-Within")
VCOVS = ("Asymptotic", "Empirical", "Empirical-Jackknife", "Empirical-Bias-Reduced",
         "Kenward-Roger", "Kenward-Roger-Linear")


def resolve(method: str, vcov: str | None, reml: bool) -> tuple[str, str]:
    """Check `method` / `vcov` and fill in the method's default covariance."""
    if method not in METHODS:
        raise ArgumentError(f"method must be one of {list(METHODS)}, got {method!r}")
    kr = method.startswith("Kenward-Roger")
    if vcov is None:
        vcov = method if kr else "Asymptotic"
    if vcov not in VCOVS:
        raise ArgumentError(f"vcov must be one of {list(VCOVS)} or None, got {vcov!r}")
    if kr and vcov != method and not (method == "Kenward-Roger" and
                                      vcov == "Kenward-Roger-Linear"):
        raise ArgumentError(f"method={method!r} needs vcov={method!r} (or None)")
    if vcov.startswith("Kenward-Roger") and not kr:
        raise ArgumentError(f"vcov={vcov!r} goes with method='Kenward-Roger'")
    if kr and not reml:
        raise ArgumentError("Kenward-Roger needs a REML fit (reml=True)")
    return method, vcov


class MmrmInference:
    """Covariance of β̂ and df of contrasts for one fit, method and vcov."""

    def __init__(self, design: MmrmDesign, fit: MmrmFit, method: str, vcov: str) -> None:
        self.design, self.fit, self.method, self.vcov_type = design, fit, method, vcov
        self.phi = fit.state.A_inv

    @cached_property
    def P(self) -> np.ndarray:
        return p_matrices(self.fit, self.design.blocks)

    @cached_property
    def _kr(self) -> np.ndarray:
        """Φ_A for the Kenward–Roger methods."""
        WQ = weighted_q(self.fit, self.design.blocks)
        adj = adjusted_vcov(self.phi, self.fit.theta_vcov, self.P, WQ)
        if self.vcov_type == "Kenward-Roger":        # SAS's second-order term, in SAS's ψ
            R = sas_second_order(self.fit, self.design.blocks)
            adj = adj - 0.5 * self.phi @ R @ self.phi
        return 0.5 * (adj + adj.T)

    @cached_property
    def _sandwich(self):
        return sandwich(self.fit.state, self.design.blocks, self.vcov_type)

    @cached_property
    def vcov(self) -> np.ndarray:
        if self.vcov_type.startswith("Kenward-Roger"):
            return self._kr
        if self.vcov_type in EMPIRICAL:
            return self._sandwich.vcov
        return self.phi

    @cached_property
    def _between_within(self) -> tuple[np.ndarray, float, float]:
        d = self.design
        X, subj = d.frame.X, d.subject_codes
        n_subj = len(np.unique(subj))
        kind = []
        for j, name in enumerate(d.frame.fixef_names):
            if name == "(Intercept)":
                kind.append(0)
                continue
            pairs = np.unique(np.column_stack([X[:, j], subj]), axis=0)
            kind.append(2 if len(pairs) > n_subj else 1)
        kind = np.array(kind)
        between = n_subj - np.sum(kind == 1) - np.sum(kind == 0)
        within = d.frame.n - n_subj - np.sum(kind == 2)
        return kind, float(between), float(within)

    def _bw_df(self, used: np.ndarray) -> float:
        kind, between, within = self._between_within
        return min(between if k == 1 else within for k in kind[used])

    def df_1d(self, c: np.ndarray) -> float:
        """df of the t test of cᵀβ̂."""
        c = np.asarray(c, float)
        if self.method == "Residual":
            return float(self.design.frame.n - self.phi.shape[0])
        if self.method == "Between-Within":
            return self._bw_df(c != 0)
        if self.method.startswith("Kenward-Roger"):
            return kr_df(self.phi, self.fit.theta_vcov, self.P, c[None, :]).df
        if self.vcov_type in EMPIRICAL:
            return self._sandwich.df(c)
        return sat_df_1d(c, self.phi, self.fit.theta_vcov, self.P)

    def t_test(self, c: np.ndarray) -> tuple[float, float, float, float, float]:
        """(estimate, SE, df, t, p) of cᵀβ̂."""
        est = float(c @ self.fit.state.beta)
        se = float(np.sqrt(c @ self.vcov @ c))
        df = self.df_1d(c)
        t = est / se
        return est, se, df, t, float(2.0 * stats.t.sf(abs(t), df))

    def f_test(self, L: np.ndarray) -> tuple[int, float, float, float]:
        """(NumDF, DenDF, F, p) of the hypothesis Lβ = 0."""
        L = np.atleast_2d(np.asarray(L, float))
        beta, V = self.fit.state.beta, self.vcov
        rows, vals = orthogonal_rows(L, V)
        r = rows.shape[0]
        scale = 1.0
        if self.method.startswith("Kenward-Roger"):
            kd = kr_df(self.phi, self.fit.theta_vcov, self.P, rows)
            ddf, scale = kd.df, kd.scale
        elif self.method in ("Residual", "Between-Within") or r == 1:
            ddf = self.df_1d(rows[0]) if r == 1 else (
                self._bw_df(np.any(L != 0, axis=0)) if self.method == "Between-Within"
                else self.df_1d(rows[0]))
        else:
            ddf = combine_df(np.array([self.df_1d(row) for row in rows]))
        est = rows @ beta
        F = float(scale * np.sum(est ** 2 / vals) / r)
        return r, float(ddf), F, float(stats.f.sf(F, r, ddf))
