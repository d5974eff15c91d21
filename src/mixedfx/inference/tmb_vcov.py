"""glmmTMB's covariance of the fixed effects for linear mixed models with structured terms.

lme4 reports vcov(β̂) = σ² R_X⁻¹R_X⁻ᵀ, the covariance of β̂ at the estimated variance
parameters φ = (θ, σ). glmmTMB inverts the Hessian of the whole likelihood (ML: β beside φ;
REML: β integrated out and its covariance from TMB's `sdreport` joint precision), which adds the
uncertainty of φ̂ carried into β̂ by the delta method:

    vcov(β̂) = σ² R_X⁻¹R_X⁻ᵀ + J A Jᵀ,   J = ∂β̂(θ)/∂φ,   A = 2 H⁻¹,

H the Hessian of the deviance with β profiled out (ML or REML, lmerTest's `devfun_vp`, a
pseudo-inverse over its positive eigenvalues as for Satterthwaite). Both blocks forms are
the same: the ββ block of the inverse joint Hessian is H_ββ⁻¹ + H_ββ⁻¹H_βφ S⁻¹ H_φβ H_ββ⁻¹
with S the Hessian of the profiled deviance and −H_ββ⁻¹H_βφ = ∂β̂/∂φ. The correction vanishes
when β̂ does not depend on φ (balanced designs with homogeneous structures) and is the reason
glmmTMB's standard errors exceed lme4's for heterogeneous structures (diag, cs, toep).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mixedfx.inference.cache import per_model
from mixedfx.inference.numderiv import jacobian
from mixedfx.inference.satterthwaite import satterthwaite_state
from mixedfx.lmm.solution import solve
from mixedfx.optimize.threads import blas_threads_for

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import LinearMixedFit


def _beta_hat(chol, theta: np.ndarray) -> np.ndarray:
    f = chol.factorize(theta)
    if f is None:
        return np.full(chol.xp.p, np.nan)
    return solve(chol, f).beta


def _correction(model: LinearMixedFit) -> np.ndarray:
    """J A Jᵀ (p×p)."""
    state = satterthwaite_state(model)
    chol = model.engine_fit.objective.chol
    J = jacobian(lambda th: _beta_hat(chol, th), model.theta)          # (p, n_theta)
    J = np.column_stack([J, np.zeros(J.shape[0])])                      # β̂ free of σ
    C = J @ state.vcov_varpar @ J.T
    return 0.5 * (C + C.T)


def _correction_threads(model: LinearMixedFit) -> np.ndarray:
    """`_correction` with BLAS limited as during the fit (small dense blocks: one thread)."""
    fr = model.frame
    with blas_threads_for(sum(t.q for t in fr.terms[1:]) + fr.X.shape[1] + 1):
        return _correction(model)


variance_parameter_correction = per_model(_correction_threads)
