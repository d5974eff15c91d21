"""Satterthwaite degrees of freedom for t and F tests of fixed effects, as lmerTest.

lmerTest works with the variance parameters φ = (θ, σ) (with an nlme residual structure,
φ = (θ, ψ, σ) and log|V(ψ)| joins D). Let D(φ) be the deviance with β
profiled out but σ free (lmerTest's `devfun_vp`):

    ML:    D(φ) = log|L_θ|² + pwrss(θ)/σ² + n log(2πσ²)
    REML:  D(φ) = ML + log|R_X(θ)|² − p log(2πσ²).

The asymptotic covariance of φ̂ is A = 2 H⁻¹ with H the Hessian of D at φ̂ (a pseudo-inverse
over the eigenvalues > 1e-8), and the covariance of β̂ as a function of φ is
C(φ) = σ² R_X⁻¹R_X⁻ᵀ. Both derivatives are numerical, with numDeriv's Richardson steps
(`numderiv`), in x = (θ, [ψ]) only: σ enters D and C in closed form, with x = (θ, [ψ]) and
M(x) = R_X⁻¹R_X⁻ᵀ,

    ∂²D/∂σ² = 6 pwrss/σ⁴ − 2(n − [p])/σ²,   ∂²D/∂xᵢ∂σ = −2 (∂pwrss/∂xᵢ)/σ³,
    ∂C/∂σ = 2σ M,                            ∂C/∂xᵢ = σ² ∂M/∂xᵢ,

and ∂pwrss/∂x, ∂M/∂x are Richardson central differences at the points of the Hessian's
diagonal (d = 0.1), so each point is factored once (`_Points`): 1 + 4k(k + 1) factorizations
for k = len(x) (25 for two θ), where numDeriv on (x, σ) takes 73 — a summary of a large model
costs about as much as its fit. For a contrast vector l the variance is v = lᵀCl, its gradient
gᵢ = lᵀ(∂C/∂φᵢ)l, and the Satterthwaite df is ν = 2v² / (gᵀAg). For a q-row contrast
matrix L (F test) lmerTest rotates to the eigenvectors of LCLᵀ, takes ν_m for each of the q
rows and combines them: E = Σ ν_m/(ν_m − 2), ν = 2E/(E − q) (ν = 2 if some ν_m ≤ 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from mixedfx.inference.cache import per_model
from mixedfx.inference.linalg import lower_inverse
from mixedfx.inference.numderiv import HESSIAN_D, hessian, jacobian
from mixedfx.lmm.deviance import profiled_sigma
from mixedfx.lmm.fit import upper_bounds
from mixedfx.lmm.solution import solve
from mixedfx.optimize.polish import polished_optimum
from mixedfx.optimize.threads import blas_threads_for

if TYPE_CHECKING:
    from mixedfx.fitted.protocol import LinearMixedFit
    from mixedfx.lmm.factorization import Factorization

EIGEN_TOL = 1e-8


class VarparSystem:
    """Factorizations at the variance parameters x = θ, or x = (θ, ψ) for a model with an
    nlme residual structure (then log|V(ψ)| enters through `ldW`)."""

    def __init__(self, model: LinearMixedFit) -> None:
        fit = model.engine_fit
        self.structured = fit.structured
        self.chol = fit.objective.chol
        self.n, self.p = fit.objective.n, fit.objective.p
        self.q = self.chol.xp.q_rest

    def factorize(self, x: np.ndarray) -> tuple[Factorization | None, float]:
        if self.structured is None:
            return self.chol.factorize(x), 0.0
        theta, psi = self.structured.split(x)
        chol, ldW = self.structured.system(psi)
        return (None, math.nan) if chol is None else (chol.factorize(theta), ldW)


def varpar_deviance(system: VarparSystem, varpar: np.ndarray, reml: bool) -> float:
    """lmerTest's `devfun_vp`: the deviance at φ = (θ, [ψ,] σ), β profiled out."""
    f, ldW = system.factorize(varpar[:-1])
    return math.nan if f is None else _deviance(system, f, ldW, float(varpar[-1]), reml)


def _deviance(system: VarparSystem, f: Factorization, ldW: float, sigma: float,
              reml: bool) -> float:
    """`devfun_vp` from the factorization at x."""
    n, p = system.n, system.p
    s2 = sigma * sigma
    if not (s2 > 0 and math.isfinite(s2)):
        return math.nan          # a degenerate σ: lmerTest's df become NaN
    dev = f.ldL2 - ldW + f.pwrss / s2 + n * math.log(2.0 * math.pi * s2)
    if reml:
        dev += f.ldRX2 - p * math.log(2.0 * math.pi * s2)
    return dev


def covbeta(system: VarparSystem, varpar: np.ndarray) -> np.ndarray:
    """lmerTest's `get_covbeta`: σ² R_X⁻¹R_X⁻ᵀ at φ = (θ, [ψ,] σ), shape (p, p)."""
    sigma = float(varpar[-1])
    f, _ = system.factorize(varpar[:-1])
    q, p = system.q, system.p
    if f is None:
        return np.full((p, p), np.nan)
    Lxx = f.Lrr[q:q + p, q:q + p]
    Ri = lower_inverse(np.array(Lxx))
    return sigma * sigma * (Ri.T @ Ri)


class _Points:
    """One factorization per point x = (θ, [ψ]): its deviance parts and M(x) = R_X⁻¹R_X⁻ᵀ."""

    def __init__(self, system: VarparSystem, sigma: float, reml: bool) -> None:
        self.system, self.sigma, self.reml = system, sigma, reml
        self.cache: dict[bytes, tuple[float, float, np.ndarray]] = {}

    def at(self, x: np.ndarray) -> tuple[float, float, np.ndarray]:
        """(D(x, σ), pwrss(x), M(x)); NaNs where the system is not positive definite."""
        key = np.asarray(x, dtype=float).tobytes()
        if key not in self.cache:
            self.cache[key] = self._evaluate(np.asarray(x, dtype=float))
        return self.cache[key]

    def _evaluate(self, x: np.ndarray) -> tuple[float, float, np.ndarray]:
        system, p = self.system, self.system.p
        f, ldW = system.factorize(x)
        dev = math.nan if f is None else _deviance(system, f, ldW, self.sigma, self.reml)
        if f is None or not math.isfinite(dev):
            return math.nan, math.nan, np.full((p, p), np.nan)
        q = system.q
        Ri = lower_inverse(np.array(f.Lrr[q:q + p, q:q + p]))
        return dev, f.pwrss, Ri.T @ Ri


def varpar_derivatives(system: VarparSystem, varpar: np.ndarray, reml: bool
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(H, J): the Hessian of `devfun_vp` over φ = (x, σ) and ∂C/∂φ, shape (len(φ), p, p),
    with σ in closed form (see the module docstring)."""
    x, sigma = np.asarray(varpar[:-1], dtype=float), float(varpar[-1])
    k, p, n = len(x), system.p, system.n
    pts = _Points(system, sigma, reml)
    dev_x = hessian(lambda z: pts.at(z)[0], x)
    d1 = jacobian(lambda z: np.append(pts.at(z)[1], pts.at(z)[2].ravel()), x, d=HESSIAN_D) \
        if k else np.zeros((1 + p * p, 0))
    _, pwrss, M = pts.at(x)
    H = np.empty((k + 1, k + 1))
    H[:k, :k] = dev_x
    H[:k, k] = H[k, :k] = -2.0 * d1[0] / sigma**3
    H[k, k] = 6.0 * pwrss / sigma**4 - 2.0 * (n - (p if reml else 0)) / sigma**2
    J = np.concatenate([np.stack([sigma**2 * d1[1:, i].reshape(p, p) for i in range(k)])
                        if k else np.zeros((0, p, p)), (2.0 * sigma * M)[None]])
    return H, J


@dataclass
class SatterthwaiteState:
    """The ingredients of every Satterthwaite test of one fitted model."""

    varpar: np.ndarray             # (θ̂, σ̂)
    beta: np.ndarray
    vcov_beta: np.ndarray          # C(φ̂)
    vcov_varpar: np.ndarray        # 2 H⁻¹
    jacobian: np.ndarray           # (len(φ), p, p): ∂C/∂φᵢ
    hessian_eigenvalues: np.ndarray
    warnings: list[str] = field(default_factory=list)

    def variance_gradient(self, contrast: np.ndarray) -> np.ndarray:
        """gᵢ = lᵀ (∂C/∂φᵢ) l."""
        return np.einsum("a,iab,b->i", contrast, self.jacobian, contrast)

    def df(self, contrast: np.ndarray) -> float:
        """ν = 2 (lᵀCl)² / (gᵀAg) for one contrast vector l."""
        v = float(contrast @ self.vcov_beta @ contrast)
        g = self.variance_gradient(contrast)
        den = float(g @ self.vcov_varpar @ g)
        if not (math.isfinite(den) and math.isfinite(v)) or den == 0:
            return math.nan      # degenerate fit (lmerTest gives NaN)
        return 2.0 * v * v / den


def optimum(model: LinearMixedFit) -> tuple[np.ndarray, np.ndarray]:
    """φ̂ = (θ̂, σ̂) and β̂ at the minimum of the profiled criterion.

    BOBYQA stops within its tolerance of the minimum, and on a flat ridge where exactly it
    stops depends on the last bits of every evaluation (another BLAS kernel moves θ̂ by 1e-4
    on `distance ~ age + Sex + (age | Subject)`, and the df with it by 2e-4). The df and F
    statistics are functions of the optimum, so they are taken at the Newton-polished minimum
    (`optimize.polish`), which is the same point whatever the path.
    """
    fit = model.engine_fit
    if fit.structured is not None:        # (θ, ψ) were polished jointly by the fit
        return np.concatenate([fit.theta, fit.psi, [model.sigma]]), model.beta
    theta = polished_optimum(fit.objective, fit.theta, fit.lower, upper_bounds(model.frame))
    if np.array_equal(theta, fit.theta):
        return np.append(fit.theta, model.sigma), model.beta
    f = fit.objective.chol.factorize(theta)
    if f is None:
        return np.append(fit.theta, model.sigma), model.beta
    n, p = fit.objective.n, fit.objective.p
    beta = solve(fit.objective.chol, f).beta
    return np.append(theta, profiled_sigma(f.pwrss, n, p, model.REML)), beta


def compute_state(model: LinearMixedFit) -> SatterthwaiteState:
    """Hessian of `devfun_vp` and Jacobian of `get_covbeta` at the optimum (lmerTest's
    `as_lmerModLT`; see `optimum` for the point)."""
    system = VarparSystem(model)
    reml = model.REML
    varpar, beta = optimum(model)
    H, jac = varpar_derivatives(system, varpar, reml)
    H = 0.5 * (H + H.T)
    if not np.all(np.isfinite(H)):
        # degenerate fit (σ of order 1e-100, weights of order 1e-300): df are NaN, as lmerTest
        k, p = len(varpar), len(model.beta)
        return SatterthwaiteState(
            varpar=varpar, beta=model.beta, vcov_beta=model.vcov.to_numpy(),
            vcov_varpar=np.full((k, k), np.nan), jacobian=np.full((k, p, p), np.nan),
            hessian_eigenvalues=np.full(k, np.nan),
            warnings=["unable to evaluate the Hessian of the variance parameters: "
                      "Satterthwaite degrees of freedom are NaN"])
    evals, evecs = np.linalg.eigh(H)
    evals, evecs = evals[::-1], evecs[:, ::-1]   # decreasing, as R's eigen
    messages = []
    neg = evals < -EIGEN_TOL
    zero = (evals > -EIGEN_TOL) & (evals < EIGEN_TOL)
    if neg.any():
        messages.append(f"Model failed to converge with {int(neg.sum())} negative "
                        f"eigenvalue{'s' if neg.sum() > 1 else ''}: "
                        + " ".join(f"{v:.1e}" for v in evals[neg]))
    if zero.any():
        messages.append(f"Model may not have converged with {int(zero.sum())} "
                        f"eigenvalue{'s' if zero.sum() > 1 else ''} close to zero: "
                        + " ".join(f"{v:.1e}" for v in evals[zero]))
    pos = evals > EIGEN_TOL
    V = evecs[:, pos]
    h_inv = (V / evals[pos]) @ V.T
    return SatterthwaiteState(varpar=varpar, beta=beta, vcov_beta=covbeta(system, varpar),
                              vcov_varpar=2.0 * h_inv, jacobian=jac,
                              hessian_eigenvalues=evals, warnings=messages)


def _compute_state_threads(model: LinearMixedFit) -> SatterthwaiteState:
    """`compute_state` with BLAS limited as during the fit: for a small dense block one
    thread, else OpenBLAS's thread wake-ups cost more than the algebra (10× measured)."""
    fr = model.frame
    with blas_threads_for(sum(t.q for t in fr.terms[1:]) + fr.X.shape[1] + 1):
        return compute_state(model)


satterthwaite_state = per_model(_compute_state_threads)


def fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """lmerTest's `get_Fstat_ddf`: combine the per-row df of a q-row F test."""
    nu = np.asarray(nu, dtype=float)
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2.0)))
    return 2.0 * E / (E - len(nu))
