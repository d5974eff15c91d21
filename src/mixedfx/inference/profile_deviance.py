"""The deviance functions the likelihood profiles (`mixedfx.inference.profile`) minimize:
lme4's `devfun2`, and the BOBYQA minimizer with lme4's `nloptwrap` settings.

LMMs are profiled on the ML deviance (a REML fit is refitted by ML first, as lme4's
`devfun2` does). Variance parameters φ = (sd/cor of every term, σ), β profiled out
(`VarparDeviance`): d(φ) = log|L_θ|² − log|W| + pwrss(θ)/σ² + n log(2πσ²) with
θ = chol(Σ(sd, cor)/σ²) (lme4's `Sv_to_Cv`, `mixedfx.inference.profile_scale`), the others
optimized by BOBYQA within their bounds (sd ≥ 0, −1 ≤ cor ≤ 1, σ ≥ 0). Fixed effect βⱼ = f
(`FixedEffectDeviance`): the profiled ML deviance over θ of the model with xⱼ removed and
y − f xⱼ as response (lme4 refits with an offset); here the cross-products are transformed
instead of the data, so no step touches the n rows.

GLMMs (binomial, Poisson, negative binomial with its shape fixed; lme4 refuses families with a
scale parameter, and so does this): d is the fit's own objective (`GlmmObjective`: −2 × the
Laplace or adaptive Gauss–Hermite log-likelihood at the conditional modes, nAGQ of the fit) at
θ = Sv_to_Cv(sd, cor) and β (`GlmmDeviance`), minimized over all the parameters but the one
held by BOBYQA with initial steps of a tenth of each sd/cor and a quarter of each fixed
effect's standard error (`STEP_VARPAR`, `STEP_FIXEF`, `XTOL_ABS`). lme4 profiles its stage-2
devfun, which for the Laplace approximation restarts PIRLS from the stage-1 linear predictor
and uses the factor of the previous iterate; away from the optimum that is up to a few 1e-3
above the exact Laplace deviance profiled here, so Laplace profile limits agree with lme4's to
about 1e-3 (AGQ: 1e-7).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import nlopt
import numpy as np
from scipy.linalg import lapack

from mixedfx.inference.linalg import lower_solve
from mixedfx.inference.profile_scale import sv_to_cv

if TYPE_CHECKING:
    from mixedfx.lmm.factorization import BlockedCholesky


class VarparDeviance:
    """lme4's `devfun2` for an LMM: ML deviance at (sd, cor, σ), β profiled out."""

    def __init__(self, chol: BlockedCholesky, ks: list[int], ldW: float) -> None:
        self.chol = chol
        self.ks = ks
        self.ldW = ldW
        self.n = chol.xp.n

    def theta(self, pars: np.ndarray) -> np.ndarray:
        return sv_to_cv(pars[:-1], self.ks, float(pars[-1]))

    def __call__(self, pars: np.ndarray) -> float:
        sigma = float(pars[-1])
        f = self.chol.factorize(self.theta(pars))
        if f is None or sigma <= 0:
            return math.inf
        s2 = sigma * sigma
        return f.ldL2 - self.ldW + f.pwrss / s2 + self.n * math.log(2.0 * math.pi * s2)

    def beta(self, pars: np.ndarray) -> np.ndarray:
        """β̂(θ): Lxxᵀβ = l_yx from the trailing factor."""
        f = self.chol.factorize(self.theta(pars))
        q, p = self.chol.xp.q_rest, self.chol.xp.p
        if f is None:
            return np.full(p, np.nan)
        L = f.Lrr
        return lower_solve(np.array(L[q:q + p, q:q + p]), L[-1, q:q + p].copy(),
                           transpose=True)


class FixedEffectDeviance:
    """ML profiled deviance over θ with βⱼ fixed at f (lme4 refits with offset f·xⱼ).

    The trailing block P = A_rr − B W Bᵀ of the full model is transformed instead of the data:
    the row and column of xⱼ are dropped and the y column becomes y − f xⱼ.
    """

    def __init__(self, chol: BlockedCholesky, j: int, ldW: float) -> None:
        self.chol = chol
        xp = chol.xp
        self.q, self.p, self.n = xp.q_rest, xp.p, xp.n
        self.ix = self.q + j
        r = xp.r
        self.keep = np.array([i for i in range(r) if i != self.ix])
        self.ldW = ldW
        self.value = 0.0

    def factor(self, theta: np.ndarray) -> tuple[np.ndarray, float] | None:
        chol = self.chol
        T = chol.templates(theta)
        _, _, W, ld1 = chol.first_block(T[0])
        P = chol.xp.Arr - chol.gram(W)
        P = np.triu(P) + np.triu(P, 1).T
        f, ix, iy = self.value, self.ix, P.shape[0] - 1
        col = P[:, iy] - f * P[:, ix]
        yy = P[iy, iy] - 2.0 * f * P[ix, iy] + f * f * P[ix, ix]
        Pn = P[np.ix_(self.keep, self.keep)]
        Pn[:, -1] = col[self.keep]
        Pn[-1, :] = col[self.keep]
        Pn[-1, -1] = yy
        chol.scale_rest(Pn, T)
        q = self.q
        Pn[np.arange(q), np.arange(q)] += 1.0
        L, info = lapack.dpotrf(Pn, lower=1, clean=1, overwrite_a=1)
        if info != 0 or np.any(np.diagonal(L)[:-1] <= 0):
            return None
        ld = ld1 + 2.0 * float(np.sum(np.log(np.diagonal(L)[:q])))
        return L, ld

    def __call__(self, theta: np.ndarray) -> float:
        res = self.factor(theta)
        if res is None:
            return math.inf
        L, ldL2 = res
        pwrss = L[-1, -1] ** 2
        n = self.n
        return ldL2 - self.ldW + n * (1.0 + math.log(2.0 * math.pi * pwrss / n))

    def solution(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """(pwrss, β without βⱼ) at θ."""
        res = self.factor(theta)
        if res is None:
            return math.nan, np.full(self.p - 1, np.nan)
        L = res[0]
        q, p1 = self.q, self.p - 1
        Lxx = L[q:q + p1, q:q + p1]
        beta = lower_solve(np.array(Lxx), L[-1, q:q + p1].copy(), transpose=True)
        return float(L[-1, -1] ** 2), beta


class GlmmDeviance:
    """lme4's `devfun2` for a GLMM without a scale parameter: the fit's Laplace / AGQ
    objective (−2 log-likelihood at the conditional modes) at (sd, cor, β), θ = Sv_to_Cv(sd,
    cor)."""

    def __init__(self, objective: Any, ks: list[int], nvp: int) -> None:
        self.objective = objective
        self.ks = ks
        self.nvp = nvp

    def theta(self, pars: np.ndarray) -> np.ndarray:
        return sv_to_cv(pars[:self.nvp], self.ks, 1.0)

    def __call__(self, pars: np.ndarray) -> float:
        pars = np.asarray(pars, dtype=float)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value = float(self.objective(np.concatenate([self.theta(pars),
                                                         pars[self.nvp:]])))
        return value if np.isfinite(value) else math.inf


# ----- the minimizer ------------------------------------------------------------------------
def bobyqa(fn: Any, x0: np.ndarray, lower: np.ndarray, upper: np.ndarray,
           initial_step: np.ndarray | None = None, ftol_abs: float = 1e-8,
           xtol_abs: float = 1e-8) -> tuple[np.ndarray, float]:
    """lme4's `nloptwrap` defaults: BOBYQA, xtol_abs = ftol_abs = 1e-8, maxeval = 1e5
    (`initial_step`: nlopt's per-coordinate initial trust-region steps)."""
    x0 = np.clip(np.asarray(x0, dtype=float), lower, upper)
    best: list[Any] = [math.inf, x0.copy()]

    def f(x: np.ndarray, grad: np.ndarray) -> float:
        v = float(fn(x))
        if v < best[0]:
            best[0], best[1] = v, x.copy()
        return v

    opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(upper)
    opt.set_min_objective(f)
    opt.set_xtol_abs(xtol_abs)
    opt.set_ftol_abs(ftol_abs)
    opt.set_maxeval(100_000)
    if initial_step is not None:
        opt.set_initial_step(np.asarray(initial_step, dtype=float))
    try:
        x = opt.optimize(x0)
        return np.asarray(x), float(opt.last_optimum_value())
    except (nlopt.RoundoffLimited, RuntimeError, ValueError):
        return best[1], best[0]


STEP_VARPAR = 0.1    # GLMM profile: initial BOBYQA step of an sd / cor (x max(|x|, 0.1)) ...
STEP_FIXEF = 0.25    # ... and of a fixed effect (x its standard error); BOBYQA stops at a
XTOL_ABS = 1e-6      # trust-region radius of XTOL_ABS (no ftol test: it can stop far too early)
