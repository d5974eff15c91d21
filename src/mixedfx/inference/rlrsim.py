"""Simulated exact null distributions of the (restricted) likelihood-ratio test for one
variance component, as RLRsim's `exactRLRT` / `exactLRT` (Crainiceanu & Ruppert 2004).

For y = Xβ + Zb + ε with b ~ N(0, λσ²I) (one random-effects term with a single column) let
μ₁ ≥ … ≥ μ_K be the eigenvalues of Zᵀ(I − H_X)Z and ξ those of ZᵀZ (scaled by the largest).
Under H₀: λ = 0, with w_s ~ χ²₁ (s ≤ K) and w₀ ~ χ²_{n−p−K},

    RLRT_n(λ) = (n − p) log(1 + N(λ)/D(λ)) − Σ log(1 + λμ_s),
    N(λ) = Σ λμ_s w_s/(1 + λμ_s),   D(λ) = Σ w_s/(1 + λμ_s) + w₀,

and the statistic is its supremum over λ ≥ 0, found by RLRsim's grid search: λ on
{0} ∪ exp(seq(−10, 8, length 199)), stopping at the first decrease. The LRT (ML) uses n, the
ξ in the log term and adds n log(1 + χ²_q/(Σw_s + w₀)) for q restricted fixed effects.

The simulation draws from numpy's generator seeded with `seed` (R's stream cannot be
reproduced); the observed statistic and the method are RLRsim's.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mixedfx.errors import ArgumentError, ArgumentTypeError
from mixedfx.fitted.getme import z_matrix
from mixedfx.frame.model_frame import build_model_frame
from mixedfx.rformat import format_pval, format_real
from mixedfx.validate import check_seed
from mixedfx.warn import warn

if TYPE_CHECKING:
    from mixedfx.fitted.protocol import LinearMixedFit
    from mixedfx.frame.terms import RandomEffectsTerm


@dataclass
class SimulatedTest:
    """An `htest`-like result: statistic, p-value and the simulated null sample."""

    statistic: float
    p_value: float
    method: str
    sample: np.ndarray
    name: str = "RLRT"

    def __repr__(self) -> str:
        """R's `print.htest` (digits 7): the method wrapped and tab-indented, the statistic
        with 5 significant digits, the p-value by `format.pval(p, 4)`. A simulated p of 0 (no
        simulated value above the statistic) prints `p-value < 2.2e-16`, exactly as RLRsim's
        result prints in R; its resolution is 1/nsim."""
        paragraphs = [" ".join(par.split()) for par in re.split(r"\n\s*\n", self.method)]
        method = "\n\t\n".join(
            "\n".join(textwrap.wrap(par, width=72, initial_indent="\t",
                                     subsequent_indent="\t", expand_tabs=False))
            for par in paragraphs)
        stat = format_real([self.statistic], 5)[0].strip()
        fp = format_pval([self.p_value], 4)[0]
        pv = f"p-value {fp}" if fp.startswith("<") else f"p-value = {fp}"
        return f"\n{method}\n\ndata:  \n{self.name} = {stat}, {pv}\n"


def _single_term(model: LinearMixedFit) -> RandomEffectsTerm:
    if model.residual_structure is not None:
        raise ArgumentError("RLRsim's exact tests assume independent residuals; this model has "
                            "an nlme residual structure")
    terms = model.frame.terms
    if len(terms) != 1 or terms[0].k != 1:
        raise ArgumentError("the model must contain exactly one random-effects term with a "
                            "single column (the variance component being tested)")
    return terms[0]


def _eigen(model: LinearMixedFit) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(μ, ξ) unnormalized, n, p for the model's X and single-term Z."""
    term = _single_term(model)
    fr = model.frame
    Z = z_matrix([term], fr.n)
    X = fr.X
    ZtZ = (Z.T @ Z).toarray()
    Q, _ = np.linalg.qr(X)
    ZtQ = np.asarray(Z.T @ Q)
    M = ZtZ - ZtQ @ ZtQ.T
    K = min(fr.n, Z.shape[1])
    mu = np.sort(np.clip(np.linalg.eigvalsh(0.5 * (M + M.T)), 0, None))[::-1][:K]
    xi = np.sort(np.clip(np.linalg.eigvalsh(ZtZ), 0, None))[::-1][:K]
    return mu, xi, fr.n, X.shape[1]


def lambda_grid(gridlength: int = 200, log_grid_lo: float = -10.0, log_grid_hi: float = 8.0
                ) -> np.ndarray:
    """RLRsim's grid for λ₀ = 0: 0 and gridlength − 1 log-equidistant points."""
    return np.concatenate([[0.0], np.exp(np.linspace(log_grid_lo, log_grid_hi,
                                                     gridlength - 1))])


def simulate_null(mu: np.ndarray, n: int, p: int, nsim: int, seed: int | None,
                  reml: bool = True, xi: np.ndarray | None = None, q: int = 0,
                  gridlength: int = 200, log_grid_lo: float = -10.0,
                  log_grid_hi: float = 8.0, chunk: int = 2000) -> np.ndarray:
    """RLRsim's `RLRsimCpp`: nsim draws of the (R)LRT under λ = 0."""
    rng = check_seed(seed)
    k = len(mu)
    lam = lambda_grid(gridlength, log_grid_lo, log_grid_hi)
    xi_ = mu if reml or xi is None else xi
    n0 = n - p if reml else n
    lm = lam[:, None] * mu[None, :]
    fN = lm / (lm + 1.0)
    fD = 1.0 / (lm + 1.0)
    slog = np.sum(np.log1p(lam[:, None] * xi_[None, :]), axis=1)
    df_k = max(0, n - p - k)
    out = np.empty(nsim)
    for start in range(0, nsim, chunk):
        m = min(chunk, nsim - start)
        chik = rng.chisquare(df_k, m) if df_k > 0 else np.zeros(m)
        chi1 = rng.chisquare(1, (m, k))
        N = chi1 @ fN.T
        D = chi1 @ fD.T + chik[:, None]
        LR = n0 * np.log1p(N / D) - slog[None, :]
        # keep the running value until the first decrease (RLRsim's `break`)
        dec = np.diff(LR, axis=1) < 0
        first = np.where(dec.any(axis=1), dec.argmax(axis=1), LR.shape[1] - 1)
        res = np.maximum(LR[np.arange(m), first], 0.0)
        if not reml:
            chiq = rng.chisquare(q, m) if q > 0 else np.zeros(m)
            res = res + n * np.log1p(chiq / (chi1.sum(axis=1) + chik))
        out[start:start + m] = res
    return out


def exact_rlrt(m: LinearMixedFit, mA: LinearMixedFit | None = None,
               m0: LinearMixedFit | None = None, seed: int | None = None,
               nsim: int = 10_000, gridlength: int = 200, log_grid_lo: float = -10.0,
               log_grid_hi: float = 8.0) -> SimulatedTest:
    """RLRsim's `exactRLRT`: restricted LRT of H₀: Var(b) = 0.

    `m` alone: a model whose only random effect is the one tested; the null model is the
    linear model. With `mA` (full model) and `m0` (full model without the tested term), `m` is
    the model with only the tested term and the statistic is 2(ℓ_R(mA) − ℓ_R(m0))."""
    fr = m.frame
    n, p = fr.n, fr.X.shape[1]
    if mA is None and m0 is None:
        _single_term(m)
        y = fr.y - (fr.offset if fr.offset is not None else 0.0)
        Q, R = np.linalg.qr(fr.X)
        res = y - Q @ (Q.T @ y)
        ld = 2.0 * float(np.sum(np.log(np.abs(np.diag(R)))))
        reml_h0 = -((n - p) * math.log(2 * math.pi) + (n - p) * math.log(float(res @ res))
                    + ld + (n - p) - (n - p) * math.log(n - p))
        reml_obs = -_reml_criterion(m)
        obs = max(0.0, reml_obs - reml_h0)
    else:
        if mA is None or m0 is None:
            raise ArgumentError("give both mA and m0, or neither")
        if mA.frame.X.shape != m0.frame.X.shape or not np.allclose(mA.frame.X, m0.frame.X):
            raise ArgumentError("Fixed effects structures of mA and m0 not identical: REML-based "
                                "inference not appropriate")
        if abs(mA.npar - m0.npar) > 1:
            raise ArgumentError("exactRLRT can only test a single variance (the models differ "
                                "by more than one parameter)")
        obs = max(0.0, _reml_criterion(m0) - _reml_criterion(mA))
    mu, _, n, p = _eigen(m)
    mu = mu / mu.max()
    sample = simulate_null(mu, n, p, nsim, seed, True, gridlength=gridlength,
                           log_grid_lo=log_grid_lo, log_grid_hi=log_grid_hi) if obs != 0 \
        else np.zeros(0)
    pval = float(np.mean(obs < sample)) if obs != 0 else 1.0
    return SimulatedTest(statistic=obs, p_value=pval, name="RLRT", sample=sample,
                         method="simulated finite sample distribution of RLRT.\n\n"
                                f"(p-value based on {nsim} simulated values)")


def exact_lrt(m: LinearMixedFit, m0_formula: str | None = None, seed: int | None = None,
              nsim: int = 10_000, gridlength: int = 200, log_grid_lo: float = -10.0,
              log_grid_hi: float = 8.0, m0: object = None) -> SimulatedTest:
    """RLRsim's `exactLRT`: LRT of H₀: Var(b) = 0 (and, with `m0_formula`, restrictions on
    the fixed effects) against the linear model `m0_formula` (default: m's fixed part),
    fitted by least squares on m's rows. `m0` may instead be a `mixedfx.lm` fit of the null
    model (RLRsim's `exactLRT(m, m0)`)."""
    fr = m.frame
    _single_term(m)
    n, p = fr.n, fr.X.shape[1]
    if m0 is not None:
        if getattr(m0, "kind", None) != "lm":       # the contract's kind of an lm fit
            raise ArgumentTypeError(f"m0 must be a mixedfx.lm fit, got {type(m0).__name__}")
        if m0_formula is not None:
            raise ArgumentError("give m0 or m0_formula, not both")
        if m0.nobs != n:
            raise ArgumentError(f"m0 was fitted to {m0.nobs} observations, m to {n}")
        m0_formula = m0.formula
    if m0_formula is None:
        X0 = fr.X
    else:
        X0 = build_model_frame(m0_formula, fr.frame, require_random=False).X
    q = p - X0.shape[1]
    if q < 0:
        raise ArgumentError("m0 not nested in m")
    if q == 0:
        warn("exact_lrt: no restrictions on fixed effects. REML-based inference "
             "preferable (exact_rlrt)", UserWarning)
    if m.REML:
        # RLRsim's messages: the LRT is evaluated at the REML estimates, not at the ML fit
        warn("exact_lrt: using likelihood evaluated at REML estimators. Please "
             "refit model with REML=False (m.refit_ml()) for exact results.",
             UserWarning)
    y = fr.y - (fr.offset if fr.offset is not None else 0.0)
    Q0, _ = np.linalg.qr(X0)
    r0 = y - Q0 @ (Q0.T @ y)
    ll0 = -0.5 * n * (math.log(2 * math.pi) + math.log(float(r0 @ r0) / n) + 1.0)
    ll_m = -0.5 * m.engine_fit.objective.at(m.theta, reml=False)
    obs = max(0.0, 2.0 * ll_m - 2.0 * ll0)
    mu, xi, n, p = _eigen(m)
    mx = max(mu.max(), xi.max())
    mu = mu / mx
    xi = xi / max(mu.max(), xi.max())          # RLRsim normalizes xi after mu (sic)
    sample = simulate_null(mu, n, p, nsim, seed, False, xi=xi, q=q, gridlength=gridlength,
                           log_grid_lo=log_grid_lo, log_grid_hi=log_grid_hi)
    return SimulatedTest(statistic=obs, p_value=float(np.mean(obs < sample)), name="LRT",
                         sample=sample,
                         method="simulated finite sample distribution of LRT. (p-value based "
                                f"on {nsim} simulated values)")


def _reml_criterion(m: LinearMixedFit) -> float:
    """−2 × REML log-likelihood (at the ML estimates for an ML fit, as lme4's
    `logLik(m, REML = TRUE)`)."""
    return m.deviance if m.REML else m.engine_fit.objective.at(m.theta, reml=True)
