"""Linear mixed models with nlme residual structures: the profiled deviance over (θ, ψ).

For structure parameters ψ the rows of [X Z y] are whitened (`residual.structure`), the
cross-products of the whitened rows are built and factorized for θ exactly as for lme4's
model, and

    d(θ, ψ) = d_white(θ; ψ) + log|V(ψ)|

(the Jacobian enters through the `ldW` slot of `deviance_from_factor`, which holds −log of
the residual covariance's determinant). A correlation structure mixes the rows of a group,
so each correlation group must lie within one level of every grouping factor (nlme's
nesting); the whitened Z rows then keep their levels and only their values change. A
variance function alone is a row scaling and reuses one cross-product pattern.

The fit optimizes θ at the start value of ψ (lme4's path), then (θ, ψ) jointly from there,
and polishes the joint optimum with Newton steps, as nlme's optimizer converges tightly.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from mixedfx.errors import ArgumentError
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.lmm.crossproducts import CrossProductBuilder
from mixedfx.lmm.deviance import ProfiledDeviance, deviance_from_factor, profiled_sigma
from mixedfx.lmm.factorization import BlockedCholesky
from mixedfx.lmm.fit import (
    LmmFit,
    _convergence_messages,
    log_weights_sum,
    lower_bounds,
    start_values,
    unstructured_blocks,
    upper_bounds,
)
from mixedfx.lmm.row_order import permuted_terms, structured_rows
from mixedfx.lmm.solution import solve
from mixedfx.optimize import Control, OptimizationResult, optimize_theta
from mixedfx.optimize.convergence import ConvergenceWarning, SingularFitWarning, emit
from mixedfx.residual.structure import ResidualStructure


def check_nesting(frame: ModelFrame, residual: ResidualStructure) -> None:
    """Each correlation group must sit within one level of every grouping factor."""
    if residual.cor is None:
        return
    for t in frame.terms:
        for _, rows in residual.cor.patterns:
            codes = t.codes[rows]
            if np.any(codes != codes[:, :1]):
                raise ArgumentError(
                       f"the correlation groups are not nested within the grouping factor "
                       f"{t.group_name!r}: a correlation group spans several of its levels (nlme "
                       "requires the correlation grouping to be the innermost grouping factor or "
                       "nested in it; give the grouping with '| g' in the form)")


class StructuredDeviance:
    """Callable (θ, ψ) -> profiled deviance or REML criterion including log|V(ψ)|."""

    def __init__(self, frame: ModelFrame, reml: bool, residual: ResidualStructure,
                 y: np.ndarray | None = None) -> None:
        self.frame, self.reml, self.residual = frame, reml, residual
        yy = frame.y if y is None else y
        if frame.offset is not None:
            yy = yy - frame.offset
        self.y = yy
        self.terms = frame.terms
        self.n, self.p = frame.X.shape
        self.n_theta = int(sum(t.n_theta for t in frame.terms))
        w = frame.weights
        # the sums run over the rows in the canonical order (lmm.row_order): `_residual` and
        # `_terms` are bound to the rows taken in `_order`; `residual` keeps the user's rows
        order = structured_rows(frame.terms, frame.X, residual, yy, w)
        self._order = order
        self._residual = residual.permuted(order)
        self._terms = permuted_terms(frame.terms, order)
        self._y = yy[order]
        self.sqrt_prior = None if w is None else np.sqrt(w[order])
        self.ld_prior = log_weights_sum(w)
        self._builder = CrossProductBuilder(self._terms, frame.X[order])
        if residual.cor is not None:
            cols = [frame.X[order], self._y[:, None], *[t.values for t in self._terms]]
            M = np.hstack(cols)
            self._M = M if self.sqrt_prior is None else M * self.sqrt_prior[:, None]
        self.evaluations = 0
        self._cache: tuple[bytes, BlockedCholesky | None, float] | None = None

    def split(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        phi = np.asarray(phi, dtype=float)
        return phi[:self.n_theta], phi[self.n_theta:]

    def system(self, psi: np.ndarray) -> tuple[BlockedCholesky | None, float]:
        """The factorizer of the whitened cross-products at ψ and log|W| − log|V(ψ)|."""
        key = np.asarray(psi, dtype=float).tobytes()
        cache = self._cache         # read once: another thread may replace it meanwhile
        if cache is not None and cache[0] == key:
            return cache[1], cache[2]
        chol, ldW = self._build(psi)
        self._cache = (key, chol, ldW)
        return chol, ldW

    def _build(self, psi: np.ndarray) -> tuple[BlockedCholesky | None, float]:
        if self.residual.cor is None:
            s = self._residual.sd_multipliers(psi)
            if s is None or not np.all(np.isfinite(s)) or np.any(s <= 0):
                return None, math.nan
            sqrt_w = 1.0 / s if self.sqrt_prior is None else self.sqrt_prior / s
            xp = self._builder.compute(self._y, sqrt_w)
            return BlockedCholesky(self.terms, xp, compiled=True), self.ld_prior - 2.0 * float(
                np.sum(np.log(s)))
        res = self._residual.whiten(psi, self._M)
        if res is None:
            return None, math.nan
        Mw, logdet = res
        p = self.p
        Xw, yw = Mw[:, :p], Mw[:, p]
        terms, off = [], p + 1
        for t in self._terms:
            terms.append(replace(t, values=Mw[:, off:off + t.k]))
            off += t.k
        xp = self._builder.with_values(terms, Xw).compute(yw, None)
        return BlockedCholesky(terms, xp, compiled=True), self.ld_prior - logdet

    def __call__(self, phi: np.ndarray) -> float:
        self.evaluations += 1
        theta, psi = self.split(phi)
        chol, ldW = self.system(psi)
        if chol is None:
            return math.inf
        f = chol.factorize(theta)
        if f is None:
            return math.inf
        return deviance_from_factor(f, self.n, self.p, self.reml, ldW)

    def at_psi(self, psi: np.ndarray) -> ProfiledDeviance:
        """The θ-only objective with ψ held fixed (for inference at the estimates)."""
        chol, ldW = self.system(psi)
        if chol is None:
            raise ArgumentError("residual structure parameters are invalid")
        return ProfiledDeviance(chol, self.reml, ldW)


def fit_structured_lmm(frame: ModelFrame, reml: bool, control: Control,
                       residual: ResidualStructure, start: np.ndarray | None = None,
                       y: np.ndarray | None = None, warn: bool = True) -> LmmFit:
    """Optimize (θ, ψ) and recover β, u, σ at the optimum; `start` is (θ, ψ) or θ."""
    check_nesting(frame, residual)
    dev = StructuredDeviance(frame, reml, residual, y)
    lower_t = lower_bounds(frame)
    nt = len(lower_t)
    psi0 = residual.start()
    if start is None:
        theta0 = start_values(frame)
    else:
        start = np.asarray(start, dtype=float)
        if start.shape == (nt + len(psi0),):
            theta0, psi0 = start[:nt], start[nt:]
        elif start.shape == (nt,):
            theta0 = start
        else:
            raise ArgumentError(f"start must have {nt} theta values (or {nt + len(psi0)} with "
                                f"the residual structure's), got {start.shape}")
    stage = replace(control, calc_derivs=False)
    upper_t = upper_bounds(frame)
    first = optimize_theta(lambda th: dev(np.concatenate([th, psi0])), theta0, lower_t,
                           stage, dev.n, upper=upper_t)
    lower = np.concatenate([lower_t, np.full(len(psi0), -np.inf)])
    upper = np.concatenate([upper_t, np.full(len(psi0), np.inf)])
    x0 = np.concatenate([first.x, psi0])
    # a singular joint optimum is restarted as an LMM's is (optimize.restart: θ's blocks come
    # first; ψ is unbounded, nlme's transformed scale, and keeps its value)
    opt = optimize_theta(dev, x0, lower, replace(control, polish=True), dev.n,
                         counter=lambda: dev.evaluations, upper=upper,
                         blocks=unstructured_blocks(frame))
    theta, psi = dev.split(opt.x)
    singular, conv = _convergence_messages(opt, opt.x, lower, control)
    if warn:
        emit(singular, SingularFitWarning)
        emit(conv, ConvergenceWarning)
    return structured_fit_at(dev, theta, psi, opt, singular + conv)


def structured_fit_at(dev: StructuredDeviance, theta: np.ndarray, psi: np.ndarray,
                      opt: OptimizationResult | None, messages: list[str]) -> LmmFit:
    """The fitted state at (θ, ψ): the whitened system at ψ factorized at θ, β, u and
    σ² = pwrss / (n − p) (REML) or pwrss / n (ML) read off the factor (used by the fit at its
    optimum and by `mixedfx.load` at the stored estimates)."""
    objective = dev.at_psi(psi)
    factor = objective.chol.factorize(theta, objective.release_workspace())
    if factor is None:
        raise np.linalg.LinAlgError("the penalized system is not positive definite at the "
                                    "optimum")
    solution = solve(objective.chol, factor)
    n, p, reml = dev.n, dev.p, dev.reml
    sigma = profiled_sigma(factor.pwrss, n, p, reml)
    criterion = deviance_from_factor(factor, n, p, reml, objective.ldW)
    return LmmFit(chol=objective.chol, objective=objective, optimization=opt, factor=factor,
                  solution=solution, theta=theta, lower=lower_bounds(dev.frame), sigma=sigma,
                  reml=reml, criterion=criterion, messages=messages,
                  residual=dev.residual, psi=psi, structured=dev)
