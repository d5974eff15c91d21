"""Kenward–Roger for models whose marginal covariance is not linear in pbkrtest's components:
structured random-effect terms (`cs`, `ar1`, `toep`, …) and nlme residual structures.

With Σ(τ) the marginal covariance in the parameters τ of `kr_parameters`, Σᵢ = ∂Σ/∂τᵢ,
Σᵢⱼ = ∂²Σ/∂τᵢ∂τⱼ, Φ = (XᵀΣ⁻¹X)⁻¹ and the REML projection P = Σ⁻¹ − Σ⁻¹XΦXᵀΣ⁻¹
(Kenward & Roger 1997):

    Pᵢ = −XᵀΣ⁻¹ΣᵢΣ⁻¹X,   Qᵢⱼ = XᵀΣ⁻¹ΣᵢΣ⁻¹ΣⱼΣ⁻¹X,   Rᵢⱼ = XᵀΣ⁻¹ΣᵢⱼΣ⁻¹X,
    W = 2 [tr(PΣᵢPΣⱼ)]⁻¹   (the inverse expected REML information),
    Φ_A = Φ + 2Φ {Σᵢⱼ Wᵢⱼ (Qᵢⱼ − PᵢΦPⱼ − ¼Rᵢⱼ)} Φ,

and the denominator df of a contrast follow from Pᵢ and W exactly as for pbkrtest
(`KenwardRoger.df`). When Σ is linear in τ (an unstructured term, `diag`, `homcs`,
`var_ident`, …) Rᵢⱼ = 0 and this is pbkrtest's computation, so a structured model equal to an
lme4 model gives pbkrtest's numbers. The derivatives of Σ are taken by central differences
with Richardson extrapolation (exact up to rounding for a linear block, whose second derivatives
are zero and skipped). Σ is formed densely, so the method is limited to moderate n.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from mixedfx.errors import ArgumentError
from mixedfx.inference.kr_ddf import KenwardRoger, information_weights
from mixedfx.inference.kr_parameters import CovarianceBlock, covariance_blocks
from mixedfx.inference.numderiv import extrapolate

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import LinearMixedFit

#: the dense n×n matrices held at once may take at most this many bytes
MEMORY_BUDGET = 2 * 1024**3
REL_STEP = 1e-4
RICHARDSON = 3


def _step(x: float) -> float:
    return REL_STEP * abs(x) if abs(x) > 1e-6 else REL_STEP


def _first_derivatives(block: CovarianceBlock) -> list[np.ndarray]:
    tau = block.values
    out = []
    for i in range(len(tau)):
        e = np.zeros(len(tau))
        e[i] = 1.0
        if block.linear:
            out.append(block.build(e))
            continue
        h = _step(tau[i])
        diffs = []
        for _ in range(RICHARDSON):
            diffs.append((block.build(tau + h * e) - block.build(tau - h * e)) / (2.0 * h))
            h /= 2.0
        out.append(extrapolate(diffs))
    return out


def _second_derivative(block: CovarianceBlock, i: int, j: int) -> np.ndarray:
    tau = block.values
    ei = np.zeros(len(tau))
    ej = np.zeros(len(tau))
    ei[i] = 1.0
    ej[j] = 1.0
    hi, hj = _step(tau[i]), _step(tau[j])
    diffs = []
    for _ in range(RICHARDSON):
        if i == j:
            d = (block.build(tau + hi * ei) - 2.0 * block.build(tau)
                 + block.build(tau - hi * ei)) / hi**2
        else:
            d = (block.build(tau + hi * ei + hj * ej) - block.build(tau + hi * ei - hj * ej)
                 - block.build(tau - hi * ei + hj * ej)
                 + block.build(tau - hi * ei - hj * ej)) / (4.0 * hi * hj)
        diffs.append(d)
        hi, hj = hi / 2.0, hj / 2.0
    return extrapolate(diffs)


def check_size(n: int, n_params: int) -> None:
    """Refuse when the dense n×n matrices would not fit the memory budget."""
    need = (n_params + 6) * n * n * 8
    if need > MEMORY_BUDGET:
        raise ArgumentError(
               f"Kenward-Roger for this structured model needs {n_params + 6} dense {n}x{n} "
               f"matrices ({need / 1024**3:.1f} GiB); use ddf='Satterthwaite'")


def structured_kenward_roger(model: LinearMixedFit) -> KenwardRoger:
    """Φ_A and the ingredients of the KR df for a REML fit with any covariance structure."""
    blocks = covariance_blocks(model)
    n = model.frame.n
    n_params = sum(len(b.values) for b in blocks)
    check_size(n, n_params)
    X = np.asarray(model.frame.X, dtype=float)
    Sigma = sum(b.build(b.values) for b in blocks)
    try:
        factor = cho_factor(Sigma, lower=True)
    except np.linalg.LinAlgError:
        raise ArgumentError("Kenward-Roger: the marginal covariance of the response is not "
                            "positive definite at the estimates (a degenerate fit); use "
                            "ddf='Satterthwaite'") from None
    Sinv = cho_solve(factor, np.eye(n))
    del Sigma
    Y = Sinv @ X                                  # Σ⁻¹X
    Phi = np.linalg.inv(X.T @ Y)
    Phi = 0.5 * (Phi + Phi.T)
    Proj = Sinv - Y @ Phi @ Y.T                   # REML projection

    derivs: list[np.ndarray] = []
    owner: list[tuple[int, int]] = []             # (block, index within block)
    for bi, b in enumerate(blocks):
        for li, D in enumerate(_first_derivatives(b)):
            derivs.append(D)
            owner.append((bi, li))
    m = len(derivs)
    A = [Proj @ D for D in derivs]                # PΣᵢ
    B = [D @ Y for D in derivs]                   # ΣᵢΣ⁻¹X
    SB = [Sinv @ b for b in B]                    # Σ⁻¹ΣᵢΣ⁻¹X
    del derivs, Proj
    P = [-(Y.T @ b) for b in B]
    P = [0.5 * (Pi + Pi.T) for Pi in P]
    info = np.empty((m, m))
    for i in range(m):
        for j in range(i, m):
            info[i, j] = info[j, i] = float(np.sum(A[i] * A[j].T))
    del A
    W, condition = information_weights(info)

    p = X.shape[1]
    U = np.zeros((p, p))
    for i in range(m):
        for j in range(m):
            U += W[i, j] * (B[i].T @ SB[j] - P[i] @ Phi @ P[j])
    for i in range(m):
        for j in range(i, m):
            (bi, li), (bj, lj) = owner[i], owner[j]
            if bi != bj or blocks[bi].linear:
                continue                          # Σ is additive over blocks
            Rij = Y.T @ _second_derivative(blocks[bi], li, lj) @ Y
            U -= (0.25 if i == j else 0.5) * W[i, j] * Rij
    U = 0.5 * (U + U.T)
    PhiA = Phi + 2.0 * Phi @ U @ Phi
    return KenwardRoger(vcov=Phi, vcov_adj=PhiA, P=P, W=W, condition=condition)
