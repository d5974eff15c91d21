"""Fitting nlme's `gls`: y = Xβ + ε, ε ~ N(0, σ²V(ψ)), no random effects.

For structure parameters ψ the rows of [X y] are whitened by L⁻¹ (V = LLᵀ, see
`residual.structure`); with R the triangular factor of the whitened X and RSS the residual
sum of squares of the whitened least-squares fit, β and σ profile out:

    ML:    d(ψ) = n (1 + log(2π RSS / n)) + log|V| − log|W|
    REML:  d(ψ) = (n − p)(1 + log(2π RSS / (n − p))) + log|RᵀR| + log|V| − log|W|

(W: prior weights), which is R's `logLik.lm(REML = TRUE)` and nlme's `gls` criterion. ψ is
optimized by BOBYQA and polished with Newton steps. The rows are taken in the canonical order
of `lmm.row_order.structured_rows`, so the numbers do not depend on the data's row order.

Unlike the mixed models, a gls fit is not restarted at a boundary (`optimize.restart`): ψ is
nlme's unconstrained parameterization (log standard-deviation ratios, transformed
correlations), so the box has no finite bound where BOBYQA could stop falsely; a variance or
correlation at its limit is ψ → ±∞, as in nlme.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.linalg import qr, solve_triangular

from mixedfx.errors import ArgumentError
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.lmm.fit import log_weights_sum
from mixedfx.lmm.row_order import structured_rows
from mixedfx.optimize import Control, OptimizationResult, optimize_theta
from mixedfx.optimize.convergence import ConvergenceWarning, emit
from mixedfx.residual.structure import ResidualStructure


@dataclass
class GlsSolution:
    """The whitened least-squares fit at one ψ."""

    beta: np.ndarray
    R: np.ndarray            # upper triangular, whitened X = Q R
    rss: float
    logdet_v: float          # log|V| − log|W|


@dataclass
class GlsFit:
    residual: ResidualStructure
    psi: np.ndarray
    solution: GlsSolution
    sigma: float
    reml: bool
    criterion: float
    optimization: OptimizationResult | None
    messages: list[str]


class GlsCriterion:
    """Callable ψ -> profiled −2 log-likelihood (ML) or REML criterion."""

    def __init__(self, frame: ModelFrame, reml: bool, residual: ResidualStructure,
                 y: np.ndarray | None = None) -> None:
        self.reml, self.residual = reml, residual
        yy = frame.y if y is None else y
        if frame.offset is not None:
            yy = yy - frame.offset
        M = np.column_stack([frame.X, yy])
        w = frame.weights
        self.ld_prior = log_weights_sum(w)
        self.M = M if w is None else M * np.sqrt(w)[:, None]
        self.n, self.p = frame.X.shape
        # the criterion works on the rows in the canonical order (lmm.row_order), so that
        # the QR and the sums do not depend on the data's row order; `M` and `residual`
        # keep the user's rows
        order = structured_rows([], frame.X, residual, yy, w)
        self._M = self.M[order]
        self._residual = residual.permuted(order)
        self.evaluations = 0

    def solve(self, psi: np.ndarray) -> GlsSolution | None:
        res = self._residual.whiten(psi, self._M) if self.residual.n_params else (self._M, 0.0)
        if res is None:
            return None
        Mw, logdet = res
        p = self.p
        _Q, R = qr(Mw, mode="economic")
        Rx = R[:p, :p]
        d = np.abs(np.diagonal(Rx))
        if p and (np.any(d == 0) or not np.all(np.isfinite(R))):
            return None
        beta = solve_triangular(Rx, R[:p, p]) if p else np.zeros(0)
        rss = float(R[p, p] ** 2)
        return GlsSolution(beta=beta, R=Rx, rss=rss, logdet_v=logdet - self.ld_prior)

    def value(self, s: GlsSolution) -> float:
        n, p = self.n, self.p
        if s.rss <= 0:
            return -math.inf
        if self.reml:
            ldx = 2.0 * float(np.sum(np.log(np.abs(np.diagonal(s.R)))))
            return (n - p) * (1.0 + math.log(2.0 * math.pi * s.rss / (n - p))) + ldx \
                + s.logdet_v
        return n * (1.0 + math.log(2.0 * math.pi * s.rss / n)) + s.logdet_v

    def __call__(self, psi: np.ndarray) -> float:
        self.evaluations += 1
        s = self.solve(psi)
        return math.inf if s is None else self.value(s)


def fit_gls(frame: ModelFrame, reml: bool, control: Control, residual: ResidualStructure,
            start: np.ndarray | None = None, y: np.ndarray | None = None,
            warn: bool = True) -> GlsFit:
    """Optimize ψ and recover β and σ."""
    crit = GlsCriterion(frame, reml, residual, y)
    n, p = crit.n, crit.p
    if n - p <= 0:
        raise ArgumentError(f"gls needs more observations ({n}) than coefficients ({p})")
    psi = residual.start() if start is None else np.asarray(start, dtype=float)
    if psi.shape != (residual.n_params,):
        raise ArgumentError(f"start must have {residual.n_params} values, got {psi.shape}")
    opt = None
    messages: list[str] = []
    if residual.n_params:
        opt = optimize_theta(crit, psi, np.full(len(psi), -np.inf),
                             replace(control, polish=True), n,
                             counter=lambda: crit.evaluations)
        psi = opt.x
        messages = list(opt.messages)
    if warn:
        emit(messages, ConvergenceWarning)
    return gls_fit_at(crit, psi, opt, messages)


def gls_fit_at(crit: GlsCriterion, psi: np.ndarray, opt: OptimizationResult | None,
               messages: list[str]) -> GlsFit:
    """The fitted state at ψ: β̂(ψ) and σ² = RSS / (n − p) (REML) or RSS / n (ML) of the
    whitened least squares (used by the fit at its optimum and by `mixedfx.load`)."""
    solution = crit.solve(psi)
    if solution is None:
        raise np.linalg.LinAlgError("the whitened fixed-effects matrix is rank deficient at "
                                    "the optimum")
    n, p = crit.n, crit.p
    sigma = math.sqrt(solution.rss / (n - p if crit.reml else n))
    return GlsFit(residual=crit.residual, psi=psi, solution=solution, sigma=sigma,
                  reml=crit.reml, criterion=crit.value(solution), optimization=opt,
                  messages=messages)
