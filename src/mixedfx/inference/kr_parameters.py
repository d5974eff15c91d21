"""The covariance parameters τ in which Kenward–Roger is computed for structured models.

The Kenward–Roger adjustment (Kenward & Roger 1997) is invariant to a reparameterization of
the marginal covariance Σ(τ) except for its second-derivative term R_ij = XᵀΣ⁻¹ (∂²Σ/∂τᵢ∂τⱼ)
Σ⁻¹X, which vanishes when Σ is linear in τ. So the parameterization is part of the method.
As SAS's PROC MIXED (DDFM=KR) and pbkrtest do, τ is linear whenever the structure allows it,
and otherwise the structure's variances and correlation parameters on their natural scale:

* an unstructured term (`(x | g)`, `us`): the entries G_ab, a ≤ b, of its covariance block
  (pbkrtest's components, SAS's UN);
* `diag`: the variances (VC); homogeneous structures whose correlation matrix is affine in its
  parameters, R(ν) = R(0) + Σⱼ νⱼ Aⱼ (`homcs`): the variance v and the covariances v·νⱼ
  (SAS's CS, a linear structure);
* other structured terms (`cs`, `ar1`, `toep`): the variances and the correlations νⱼ
  (glmmTMB's reported correlations; the lag correlations for `toep`): SAS's CSH, AR(1), TOEPH;
* the residual: σ² (σ²/wᵢ with prior weights); with `var_ident` alone, the stratum variances
  σ²δ_s² (linear); with `cor_comp_symm` or `cor_symm` alone, σ² and the covariances σ²νⱼ
  (linear); otherwise the variance parameters (σ² or the stratum variances, and the powers or
  exponents δ of `var_power` / `var_exp`) and the correlation parameters (φ, ρ or the
  correlations) on nlme's reported scale.

Σ = Σ_t Z_t (I ⊗ G_t) Z_tᵀ + Σ_res is built densely (n × n) from τ; each block says whether
its contribution is linear in its parameters (then its second derivatives vanish).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg import toeplitz

from mixedfx.covariance.toeplitz import Toeplitz, lag_correlations
from mixedfx.residual.variance import BoundVarIdent

if TYPE_CHECKING:
    from mixedfx.fitted.protocol import LinearMixedFit
    from mixedfx.frame.terms import RandomEffectsTerm
    from mixedfx.residual.correlation import BoundCorStruct
    from mixedfx.residual.structure import ResidualStructure

AFFINE_CORRELATIONS = ("corCompSymm", "corSymm")


@dataclass
class CovarianceBlock:
    """One additive piece of Σ: its parameters τ_b at the estimates and τ_b -> n×n."""

    names: list[str]
    values: np.ndarray
    build: Callable[[np.ndarray], np.ndarray]
    linear: bool


def _term_pattern(term: RandomEffectsTerm) -> Callable[[np.ndarray], np.ndarray]:
    """G -> Z_t (I ⊗ G) Z_tᵀ (dense): entry (i, j) is V_i G V_jᵀ when rows i and j share a
    level of the grouping factor, else 0."""
    V = np.asarray(term.values, dtype=float)
    same = term.codes[:, None] == term.codes[None, :]

    def contribution(G: np.ndarray) -> np.ndarray:
        return ((V @ G) @ V.T) * same

    return contribution


def _affine(R: Callable[[np.ndarray], np.ndarray], nu: np.ndarray) -> bool:
    """Whether R(ν) = R(0) + Σⱼ νⱼ (R(eⱼ) − R(0)) at ν and at another point."""
    R0 = R(np.zeros_like(nu))
    units = [R(np.eye(len(nu))[j]) - R0 for j in range(len(nu))]
    for point in (nu, 0.5 * nu + 0.25):
        linear = R0 + sum(p * u for p, u in zip(point, units, strict=True))
        if not np.allclose(R(point), linear, rtol=1e-12, atol=1e-12):
            return False
    return True


def term_block(term: RandomEffectsTerm, theta_t: np.ndarray, sigma2: float
               ) -> CovarianceBlock:
    """τ of one random-effects term (see the module docstring)."""
    cov = term.covariance
    group, names = term.group_name, term.term_names
    contribution = _term_pattern(term)
    k = term.k
    if not cov.structured:
        T = cov.template(theta_t)
        G = sigma2 * (T @ T.T)
        a, b = np.triu_indices(k)

        def build_us(tau: np.ndarray) -> np.ndarray:
            M = np.zeros((k, k))
            M[a, b] = tau
            M[b, a] = tau
            return contribution(M)

        labels = [f"cov({names[i]},{names[j]})|{group}" if i != j else
                  f"var({names[i]})|{group}" for i, j in zip(a, b, strict=True)]
        return CovarianceBlock(labels, G[a, b].copy(), build_us, True)

    s, rho = cov.split(theta_t)
    variances = sigma2 * s**2
    hom = cov.homogeneous
    v_hat = variances[:1] if hom else variances
    v_names = [f"var({names[0]})|{group}"] if hom else [f"var({n})|{group}" for n in names]
    if cov.n_cor == 0:
        def build_diag(tau: np.ndarray) -> np.ndarray:
            return contribution(np.diag(np.broadcast_to(tau, (k,))))
        return CovarianceBlock(v_names, v_hat.copy(), build_diag, True)

    if isinstance(cov, Toeplitz):
        nu_hat = lag_correlations(rho)

        def R(nu: np.ndarray) -> np.ndarray:
            return toeplitz(np.concatenate([[1.0], nu]))
    else:
        nu_hat = np.asarray(rho, dtype=float)
        R = cov.correlation
    nu_names = [f"rho{j + 1}|{group}" if len(nu_hat) > 1 else f"rho|{group}"
                for j in range(len(nu_hat))]
    nv = len(v_hat)
    if hom and _affine(R, nu_hat):
        R0 = R(np.zeros_like(nu_hat))
        units = [R(np.eye(len(nu_hat))[j]) - R0 for j in range(len(nu_hat))]

        def build_linear(tau: np.ndarray) -> np.ndarray:
            G = tau[0] * R0 + sum(c * u for c, u in zip(tau[1:], units, strict=True))
            return contribution(G)

        cov_names = [f"cov{j + 1}|{group}" if len(nu_hat) > 1 else f"cov|{group}"
                     for j in range(len(nu_hat))]
        return CovarianceBlock(v_names + cov_names,
                               np.concatenate([v_hat, v_hat[0] * nu_hat]), build_linear, True)

    def build_structured(tau: np.ndarray) -> np.ndarray:
        sd = np.sqrt(np.maximum(np.broadcast_to(tau[:nv], (k,)), 0.0))
        return contribution(sd[:, None] * R(tau[nv:]) * sd[None, :])

    return CovarianceBlock(v_names + nu_names, np.concatenate([v_hat, nu_hat]),
                           build_structured, False)


def _correlation_at(cor: BoundCorStruct, nu: np.ndarray, t: np.ndarray) -> np.ndarray:
    """C for one group with times t, from the natural parameters ν."""
    m = len(t)
    if cor.name in ("corAR1", "corCAR1"):
        return float(nu[0]) ** np.abs(t[:, None] - t[None, :])
    if cor.name == "corCompSymm":
        C = np.full((m, m), float(nu[0]))
        np.fill_diagonal(C, 1.0)
        return C
    size = len(cor.levels)
    R = np.eye(size)
    cols, rows = np.triu_indices(size, 1)
    R[rows, cols] = nu
    R[cols, rows] = nu
    pos = np.searchsorted(cor.levels, t)
    return R[np.ix_(pos, pos)]


def _within_groups(cor: BoundCorStruct, n: int) -> Callable[[np.ndarray], np.ndarray]:
    """ν -> the n×n block-diagonal correlation matrix (rows in model-frame order)."""
    flat = []
    for t, rows in cor.patterns:
        idx = (rows[:, :, None] * n + rows[:, None, :]).reshape(len(rows), -1)
        flat.append((t, idx))

    def build(nu: np.ndarray) -> np.ndarray:
        out = np.zeros(n * n)
        for t, idx in flat:
            out[idx] = _correlation_at(cor, nu, t).ravel()[None, :]
        return out.reshape(n, n)

    return build


def residual_block(residual: ResidualStructure | None, psi: np.ndarray | None,
                   sigma2: float, n: int, prior_weights: np.ndarray | None
                   ) -> CovarianceBlock:
    """τ of the residual covariance σ² D^{-1/2} S C S D^{-1/2} (see the module docstring)."""
    scale = np.ones(n) if prior_weights is None else 1.0 / np.sqrt(prior_weights)
    outer = scale[:, None] * scale[None, :]
    if residual is None or (residual.n_params == 0 and residual.cor is None):
        return CovarianceBlock(["sigma2"], np.array([sigma2]),
                               lambda tau: np.diag(tau[0] * scale**2), True)
    pv, pc = residual.split(psi)
    var, cor = residual.var, residual.cor
    # variance part: names, values, and a map to the per-row variances
    if var is None:
        v_names, v_hat = ["sigma2"], np.array([sigma2])

        def row_variances(tau_v: np.ndarray) -> np.ndarray:
            return np.full(n, tau_v[0])
    elif isinstance(var, BoundVarIdent):
        v_names = [f"var({s})" for s in var.strata]
        v_hat = sigma2 * var.ratios(pv) ** 2
        codes = var.codes

        def row_variances(tau_v: np.ndarray) -> np.ndarray:
            return tau_v[codes]
    else:
        label = "power" if var.name == "varPower" else "expon"
        v_names = ["sigma2"] + [f"{label}.{s}" for s in var.strata]
        v_hat = np.concatenate([[sigma2], np.asarray(pv, dtype=float)])

        def row_variances(tau_v: np.ndarray) -> np.ndarray:
            return tau_v[0] * var.sd_multipliers(tau_v[1:]) ** 2
    nv = len(v_hat)
    linear_var = var is None or isinstance(var, BoundVarIdent)
    if cor is None:
        return CovarianceBlock(v_names, v_hat,
                               lambda tau: np.diag(row_variances(tau) * scale**2), linear_var)

    nu_hat = np.asarray(cor.natural(pc), dtype=float)
    within = _within_groups(cor, n)
    nu_names = [f"{cor.name}.{j + 1}" for j in range(len(nu_hat))]
    if var is None and cor.name in AFFINE_CORRELATIONS:
        C0 = within(np.zeros_like(nu_hat))
        units = [within(np.eye(len(nu_hat))[j]) - C0 for j in range(len(nu_hat))]

        def build_linear(tau: np.ndarray) -> np.ndarray:
            S = tau[0] * C0 + sum(c * u for c, u in zip(tau[1:], units, strict=True))
            return S * outer

        cov_names = [f"cov.{j + 1}" for j in range(len(nu_hat))]
        return CovarianceBlock(v_names + cov_names,
                               np.concatenate([v_hat, sigma2 * nu_hat]), build_linear, True)

    def build(tau: np.ndarray) -> np.ndarray:
        sd = np.sqrt(np.maximum(row_variances(tau[:nv]), 0.0)) * scale
        return sd[:, None] * within(tau[nv:]) * sd[None, :]

    return CovarianceBlock(v_names + nu_names, np.concatenate([v_hat, nu_hat]), build, False)


def covariance_blocks(model: LinearMixedFit) -> list[CovarianceBlock]:
    """The blocks of Σ(τ) at the estimates: one per random-effects term, then the residual."""
    fit = model.engine_fit
    frame = model.frame
    sigma2 = float(model.sigma) ** 2
    blocks = []
    off = 0
    for t in frame.terms:
        blocks.append(term_block(t, fit.theta[off:off + t.n_theta], sigma2))
        off += t.n_theta
    blocks.append(residual_block(fit.residual, fit.psi, sigma2, frame.n, frame.weights))
    return blocks
