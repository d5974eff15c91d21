"""Likelihood profiles and profile confidence intervals, as lme4's `profile.merMod` and
`confint.thpr`.

The profile is taken on the ML deviance (a REML fit is refitted by ML first, as lme4's
`devfun2` does) over φ = (sd/cor of every term, σ) and the fixed effects β. For one parameter
ψ held at a value, the deviance is minimized over the others and the signed square root

    ζ(ψ) = sign(ψ − ψ̂) √(d(ψ) − d̂)

is recorded. Variance parameters: d(φ) = log|L_θ|² − log|W| + pwrss(θ)/σ² + n log(2πσ²) with
θ = chol(Σ(sd, cor)/σ²) (lme4's `Sv_to_Cv`), the others optimized by BOBYQA within their bounds
(sd ≥ 0, −1 ≤ cor ≤ 1, σ ≥ 0), starting from the previous grid point. Fixed effect βⱼ = f: the
profiled ML deviance over θ of the model with xⱼ removed and y − f xⱼ as response (lme4 refits
with an offset); here the cross-products are transformed instead of the data, so no step touches
the n rows. Grid: lme4's `nextpar` steps (δ = √χ²_{0.99, npar}/8 in ζ, at most 10 × the last
step) from ψ̂·1.01 (or 0.001) away from ψ̂ in both directions until |ζ| > √χ²_{0.99, npar}, a
bound, or 100 points.

GLMMs (binomial, Poisson, negative binomial with its shape fixed; lme4 refuses families with a
scale parameter, and so does this): d is the fit's own objective (`GlmmObjective`: −2 × the
Laplace or adaptive Gauss–Hermite log-likelihood at the conditional modes, nAGQ of the fit) at
θ = Sv_to_Cv(sd, cor) and β, and, as lme4 does for glmerMod, every parameter — fixed effects
included — is profiled by holding it and minimizing d over all the others (BOBYQA with initial
steps of a tenth of each sd/cor and a quarter of each fixed effect's standard error; the first
grid step is ψ̂·1.01 for fixed effects too). lme4 profiles its stage-2 devfun, which for the
Laplace approximation restarts PIRLS from the stage-1 linear predictor and uses the factor of
the previous iterate; away from the optimum that is up to a few 1e-3 above the exact Laplace
deviance profiled here, so Laplace profile limits agree with lme4's to about 1e-3 (AGQ: 1e-7).

Intervals interpolate ψ(ζ) with the inverse (`splines.back_spline`) of the natural cubic spline
ζ(ψ) at ζ = Φ⁻¹(α/2), Φ⁻¹(1 − α/2); a non-monotone profile falls back to linear
interpolation, and a limit outside the profiled range is the parameter's bound (NaN for LMM
fixed effects, ∓∞ for GLMM fixed effects), as lme4.

Points on a parameter's bound (a correlation of ±1, an sd of 0) are minimized from the
neighbouring point and then restarted from that result and from the estimates (the feasible
set of the other correlations is degenerate there: ρ₁₂ = −1 forces ρ₁₃ = −ρ₂₃), keeping the
lowest deviance; an interval end the spline bends outside the two points whose ζ bracket ±z
is replaced by linear interpolation between them. lme4 evaluates indefinite correlation
vectors through a pivoted Cholesky factor, so its rows at ±1 of a three-column term are
not correlation matrices and differ from these (tests/inference/
test_inference_profile_boundary.py).
"""

from __future__ import annotations

import contextlib
import functools
import math
import multiprocessing as mp
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import nlopt
import numpy as np
import pandas as pd
from scipy import stats
from scipy.linalg import lapack

from mixedfx.inference.linalg import lower_solve, single_threaded_blas
from mixedfx.inference.splines import PolySpline, SplineError, approx, back_spline, interp_spline

if TYPE_CHECKING:
    from mixedfx.lmm.factorization import BlockedCholesky
    from mixedfx.results.glmm_model import GeneralizedLinearMixedModel
    from mixedfx.results.lmm_model import LinearMixedModel

    MixedModel = LinearMixedModel | GeneralizedLinearMixedModel


class ProfileWarning(UserWarning):
    """Something lme4 would warn about while profiling (non-monotone profile, minstep, ...)."""


# ----- sd/cor <-> theta ---------------------------------------------------------------------
@functools.cache
def _tri_index(k: int) -> tuple[np.ndarray, np.ndarray]:
    cols, rows = np.triu_indices(k)
    return rows, cols          # column-major lower triangle


def cv_to_sv(theta: np.ndarray, ks: list[int], sigma: float) -> np.ndarray:
    """lme4's `Cv_to_Sv`: θ -> (sd, cor per term, column-major lower triangle), σ appended."""
    out, i = [], 0
    for k in ks:
        m = k * (k + 1) // 2
        rows, cols = _tri_index(k)
        T = np.zeros((k, k))
        T[rows, cols] = theta[i:i + m]
        S = T @ T.T * sigma**2
        sd = np.sqrt(np.diag(S))
        with np.errstate(invalid="ignore", divide="ignore"):
            R = S / np.outer(sd, sd)
        R = np.where(np.isfinite(R), R, 0.0)
        np.fill_diagonal(R, sd)
        out.append(R[rows, cols])
        i += m
    return np.concatenate([*out, [sigma]])


def _safe_chol(A: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a positive semi-definite matrix (zero pivots give zero columns)."""
    k = A.shape[0]
    L = np.zeros((k, k))
    for j in range(k):
        d = A[j, j] - L[j, :j] @ L[j, :j]
        if d <= 0:
            continue
        L[j, j] = math.sqrt(d)
        L[j + 1:, j] = (A[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


def sv_to_cv(sv: np.ndarray, ks: list[int], sigma: float) -> np.ndarray:
    """lme4's `Sv_to_Cv`: (sd, cor per term) -> θ = chol(Σ/σ²) column-major."""
    out, i = [], 0
    for k in ks:
        if k == 1:
            out.append(np.array([sv[i] / sigma]))
            i += 1
            continue
        if k == 2:
            s1, r, s2 = sv[i] / sigma, sv[i + 1], sv[i + 2] / sigma
            l21 = r * s2 if s1 > 0 else 0.0
            out.append(np.array([s1, l21, math.sqrt(max(s2 * s2 - l21 * l21, 0.0))]))
            i += 3
            continue
        m = k * (k + 1) // 2
        rows, cols = _tri_index(k)
        M = np.zeros((k, k))
        M[rows, cols] = sv[i:i + m]
        M = np.tril(M) + np.tril(M, -1).T
        sd = np.diag(M).copy()
        C = M.copy()
        np.fill_diagonal(C, 1.0)
        S = C * np.outer(sd, sd) / sigma**2
        L = np.sqrt(np.abs(S)) * np.sign(sd) if k == 1 else _safe_chol(S)
        out.append(L[rows, cols])
        i += m
    return np.concatenate(out) if out else np.zeros(0)


# ----- deviance functions -------------------------------------------------------------------
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


# ----- the profile --------------------------------------------------------------------------
@dataclass
class ParameterProfile:
    """The profile of one parameter: its table and the forward/backward splines."""

    name: str
    table: pd.DataFrame
    forward: PolySpline | None
    backward: PolySpline | None
    error: str | None = None


@dataclass
class Profile:
    """lme4's `thpr`: per-parameter profiles plus the bounds of the variance parameters."""

    params: dict[str, ParameterProfile]
    lower: dict[str, float]
    upper: dict[str, float]
    columns: list[str]
    warnings: list[str] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        """All profiles stacked (lme4's data frame): `.zeta`, every parameter, `.par`."""
        parts = [pp.table.assign(**{".par": name}) for name, pp in self.params.items()]
        out = pd.concat(parts, ignore_index=True)
        out[".par"] = pd.Categorical(out[".par"], categories=list(self.params))
        return out

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """lme4's `confint.thpr`."""
        a = (1.0 - level) / 2.0
        zeta = stats.norm.ppf([a, 1.0 - a])
        rows = {}
        for name, pp in self.params.items():
            if pp.backward is not None:
                ci = pp.backward(zeta)
            else:
                tab = pp.table
                z = tab[".zeta"].to_numpy()
                if np.all(np.isnan(z)):
                    self._warn(f"bad profile for {name}")
                    rows[name] = [math.nan, math.nan]
                    continue
                dz = np.diff(z)
                dz = dz[~np.isnan(dz)]
                if len(dz) and np.all(dz < -0.01):
                    self._warn(f"non-monotonic profile for {name}")
                    rows[name] = [math.nan, math.nan]
                    continue
                self._warn(f"bad spline fit for {name}: falling back to linear interpolation")
                ci = approx(z, tab[name].to_numpy(), zeta)
            ci = self._within_bracket(name, pp, zeta, np.array(ci, dtype=float))
            if np.isnan(ci[0]):
                ci[0] = self.lower.get(name, math.nan)
            if np.isnan(ci[1]):
                ci[1] = self.upper.get(name, math.nan)
            rows[name] = list(ci)
        return pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "upper"])

    @staticmethod
    def _within_bracket(name: str, pp: ParameterProfile, zeta: np.ndarray,
                        ci: np.ndarray) -> np.ndarray:
        """Each interval end must lie between the two profile points whose ζ bracket its zₖ
        (ζ is monotone between them): an end the interpolating spline bent outside that
        bracket (e.g. pulled by a poorly minimized point on the parameter's bound) is
        replaced by linear interpolation between the bracketing points."""
        tab = pp.table
        v = tab[name].to_numpy()
        z = tab[".zeta"].to_numpy()
        ok = np.isfinite(v) & np.isfinite(z)
        v, z = v[ok], z[ok]
        out = ci.copy()
        for k, zk in enumerate(zeta):
            if not np.isfinite(out[k]):
                continue
            hits = np.flatnonzero((z[:-1] - zk) * (z[1:] - zk) <= 0)
            hits = hits[z[hits] != z[hits + 1]]
            if len(hits) != 1:
                continue
            i = hits[0]
            lo, hi = sorted((v[i], v[i + 1]))
            if not lo <= out[k] <= hi:
                out[k] = v[i] + (zk - z[i]) * (v[i + 1] - v[i]) / (z[i + 1] - z[i])
        return out

    def _warn(self, msg: str) -> None:
        self.warnings.append(msg)
        warnings.warn(msg, ProfileWarning, stacklevel=3)


class _Profiler:
    """lme4's `profile.merMod` driver, independent of the model class.

    `dd` is the deviance as a function of the first `npar1` parameters of `opt` (lme4's
    `devfun2`): for an LMM the sd/cor/σ vector (β profiled out), for a GLMM all of sd/cor and
    β. Parameter w < npar1 is profiled by fixing it and minimizing `dd` over the other npar1 − 1
    (BOBYQA within `lower`/`upper`); subclasses complete a row with the parameters beyond npar1
    (`_complete`) and profile those (`_fixef_zeta`; the LMM's fixed effects).
    """

    def __init__(self, dd: Any, opt: np.ndarray, names: list[str], nvp: int, npar1: int,
                 lower: np.ndarray, upper: np.ndarray, base: float, *, alphamax: float = 0.01,
                 maxpts: int = 100, delta_cutoff: float = 1 / 8, maxmult: float = 10.0,
                 devtol: float = 1e-9, devmatchtol: float = 1e-5) -> None:
        self.dd = dd
        self.opt = np.asarray(opt, dtype=float)
        self.names = list(names)
        self.columns = [".zeta", *self.names]
        self.nvp = nvp
        self.npar1 = npar1
        self.p = len(self.opt) - nvp
        self.lower = np.asarray(lower, dtype=float)
        self.upper = np.asarray(upper, dtype=float)
        self.base = float(base)
        self.cutoff = math.sqrt(stats.chi2.ppf(1.0 - alphamax, len(self.opt)))
        self.delta = self.cutoff * delta_cutoff
        self.maxpts = maxpts
        self.maxmult = maxmult
        self.devtol = devtol
        self.messages: list[str] = []
        d0 = self.dd(self.opt[:npar1])
        if not math.isclose(d0, self.base, rel_tol=devmatchtol):
            raise RuntimeError("the profiled deviance at the estimates is not numerically "
                               f"consistent with the fitted deviance ({d0} vs {self.base})")

    def _warn(self, msg: str) -> None:
        self.messages.append(msg)
        warnings.warn(msg, ProfileWarning, stacklevel=4)

    # hooks ----------------------------------------------------------------------------------
    def _minimize(self, fn: Any, start: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                  w: int) -> tuple[np.ndarray, float]:
        """Minimize `fn` over the npar1 − 1 parameters other than w."""
        return bobyqa(fn, start, lower, upper)

    def _complete(self, full: np.ndarray) -> np.ndarray:
        """The parameters after the first npar1 at the conditional optimum `full`."""
        return np.zeros(0)

    def _fixef_zeta(self, j: int) -> tuple[Any, float]:
        """(ζ function, first grid value) of fixed effect j when it is not among npar1."""
        raise NotImplementedError

    # lme4's nextpar
    def _nextpar(self, mat: np.ndarray, cc: int, r: int, lower: float, upper: float,
                 minstep: float = 1e-6) -> float:
        pvals = mat[r - 1:r + 1, cc]
        zeta = mat[r - 1:r + 1, 0]
        num = pvals[1] - pvals[0]
        denom = zeta[1] - zeta[0]
        if np.isnan(denom) or denom == 0:
            self._warn("Last two rows have identical or NA .zeta values: using minstep")
            step = minstep
        else:
            step = self.delta * num / denom
            if step < 0:
                self._warn("unexpected decrease in profile: using minstep")
                step = minstep
            elif abs(step) > (maxstep := abs(self.maxmult * num)):
                step = math.copysign(maxstep, step)
        return float(min(upper, max(lower, pvals[1] + np.sign(num) * step)))

    def _fill(self, mat: np.ndarray, lowcut: float, upcut: float, zetafun: Any, cc: int
              ) -> np.ndarray:
        nr = mat.shape[0]
        i = 1                          # 0-based index of lme4's row i = 2
        while (i < nr - 1 and lowcut < mat[i, cc] < upcut
               and (np.isnan(mat[i, 0]) or abs(mat[i, 0]) <= self.cutoff)):
            npar = self._nextpar(mat, cc, i, lowcut, upcut)
            start = np.delete(mat[i, 1:1 + self.npar1], cc - 1) if cc - 1 < self.npar1 \
                else None
            mat[i + 1] = zetafun(npar, start)
            i += 1
        return mat

    def _varpar_zeta(self, w: int) -> Any:
        """ζ at parameter w < npar1 fixed: `dd` minimized over the other npar1 − 1."""
        pw = self.opt[w]
        lo = np.delete(self.lower[:self.npar1], w)
        up = np.delete(self.upper[:self.npar1], w)
        others = np.array([j for j in range(self.npar1) if j != w])
        width = len(self.opt)

        def zeta(xx: float, start: np.ndarray) -> np.ndarray:
            full = np.empty(self.npar1)

            def fn(x: np.ndarray) -> float:
                full[others] = x
                full[w] = xx
                return self.dd(full)

            pars, fval = self._minimize(fn, start, lo, up, w)
            if xx in (self.lower[w], self.upper[w]):
                pars, fval = self._boundary_restarts(fn, pars, fval, lo, up, w)
            devdiff = fval - self.base
            if not np.isfinite(devdiff):
                self._warn("NAs detected in profiling")
                return np.concatenate([[np.nan], np.full(width, np.nan)])
            if devdiff < -self.devtol:
                self._warn(f"profiling detected new, lower deviance (diff={devdiff:g})")
            elif devdiff < 0:
                self._warn(f"slightly lower deviances (diff={devdiff:g}) detected")
            full = np.insert(pars, w, xx)
            zz = math.copysign(math.sqrt(max(0.0, devdiff)), xx - pw) if xx != pw else 0.0
            return np.concatenate([[zz], full, self._complete(full)])

        return zeta

    def _boundary_restarts(self, fn: Any, pars: np.ndarray, fval: float, lo: np.ndarray,
                           up: np.ndarray, w: int) -> tuple[np.ndarray, float]:
        """A profile point on the parameter's bound (a correlation of ±1, an sd of 0): the
        feasible set of the others is degenerate there (ρ₁₂ = −1 forces ρ₁₃ = −ρ₂₃), where
        BOBYQA from the neighbouring point can stop early. Restart from its result and from
        the estimates, keeping the lowest deviance (up to three runs)."""
        for start in (pars, np.delete(self.opt[:self.npar1], w)):
            p2, f2 = self._minimize(fn, start, lo, up, w)
            if f2 < fval:
                pars, fval = p2, f2
        return pars, fval

    def _base_matrix(self) -> np.ndarray:
        return np.tile(np.concatenate([[0.0], self.opt]), (self.maxpts, 1))

    def _table(self, upper: np.ndarray, lower: np.ndarray, cc: int) -> pd.DataFrame:
        both = np.vstack([upper, lower])
        _, idx = np.unique(both, axis=0, return_index=True)
        rows = both[np.sort(idx)]
        rows = rows[np.argsort(rows[:, cc], kind="stable")]
        return pd.DataFrame(rows, columns=self.columns)

    def profile_param(self, w: int) -> ParameterProfile:
        name = self.names[w]
        cc = w + 1
        pw = self.opt[w]
        if w < self.npar1:
            zeta = self._varpar_zeta(w)
            lowcut, upcut = self.lower[w], self.upper[w]
            shift = 0.001 if pw == 0 else pw * 1.01
            first = zeta(shift, np.delete(self.opt[:self.npar1], w))
        else:
            zeta, start = self._fixef_zeta(w - self.nvp)
            lowcut, upcut = -np.inf, np.inf
            first = zeta(start)
        pres, nres = self._base_matrix(), self._base_matrix()
        pres[1] = nres[0] = first
        up = self._fill(pres, lowcut, upcut, zeta, cc)
        lo = self._fill(nres, lowcut, upcut, zeta, cc) if pw > lowcut else nres
        table = self._table(up, lo, cc)
        ok = table[".zeta"].notna().to_numpy()
        fwd = bak = None
        err = None
        try:
            fwd = interp_spline(table[name].to_numpy()[ok], table[".zeta"].to_numpy()[ok])
            bak = back_spline(fwd)
        except (SplineError, np.linalg.LinAlgError) as e:
            err = str(e)
            bak = None
            self._warn(f"non-monotonic profile for {name}")
        return ParameterProfile(name=name, table=table, forward=fwd, backward=bak, error=err)

    def run(self, which: list[int], n_jobs: int = 1, mapper: Any = None) -> Profile:
        """Profile the parameters `which`: here, in `n_jobs` forked processes, or through
        `mapper(fn, profilers, which)` (a Dask fit's cluster: one parameter per task)."""
        if n_jobs < 0:
            n_jobs = os.cpu_count() or 1
        if mapper is not None and len(which) > 1:
            params = self._collect(mapper(_profile_task, [self] * len(which), which))
        elif n_jobs > 1 and len(which) > 1 and "fork" in mp.get_all_start_methods():
            params = self._run_parallel(which, n_jobs)
        else:
            params = {self.names[w]: self.profile_param(w) for w in which}
        # bounds of the parameters profiled through `dd` (lme4: lower[seqnvp])
        lower = {self.names[w]: float(self.lower[w]) for w in which if w < self.npar1}
        upper = {self.names[w]: float(self.upper[w]) for w in which if w < self.npar1}
        return Profile(params=params, lower=lower, upper=upper, columns=self.columns,
                       warnings=self.messages)

    def _run_parallel(self, which: list[int], n_jobs: int) -> dict[str, ParameterProfile]:
        """One parameter per task in forked workers (they inherit this profiler)."""
        _ACTIVE["profiler"] = self
        try:
            with ProcessPoolExecutor(min(n_jobs, len(which)), mp_context=mp.get_context("fork"),
                                     initializer=single_threaded_blas) as ex:
                results = list(ex.map(_profile_in_worker, which))
        finally:
            _ACTIVE.clear()
        return self._collect(results)

    def _collect(self, results: list[tuple[ParameterProfile, list[str]]]
                 ) -> dict[str, ParameterProfile]:
        params = {}
        for pp, msgs in results:
            params[pp.name] = pp
            for msg in msgs:
                self._warn(msg)
        return params


def _variance_bounds(theta_lower: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lme4's bounds of sd (≥ 0) and cor ([−1, 1]) from θ's lower bounds."""
    return np.maximum(theta_lower, -1.0), np.where(theta_lower == 0, np.inf, 1.0)


class _LmmProfiler(_Profiler):
    """An LMM (refitted by ML): `dd` over (sd, cor, σ) with β profiled out (β completes each
    row); each fixed effect profiled by refitting θ with it held fixed."""

    def __init__(self, model: LinearMixedModel, **kwargs: Any) -> None:
        fm = model.refit_ml() if model.REML else model
        self.fm = fm
        obj = fm._fit.objective
        self.chol = obj.chol
        self.ldW = obj.ldW
        self.ks = [t.k for t in fm.frame.terms]
        self.thopt = fm.theta
        self.theta_lower = fm.lower
        self.stderr = np.sqrt(np.diag(fm.vcov.to_numpy()))
        vp = cv_to_sv(fm.theta, self.ks, fm.sigma)
        p = len(fm.beta)
        lo, up = _variance_bounds(self.theta_lower)
        super().__init__(
            VarparDeviance(self.chol, self.ks, self.ldW), np.concatenate([vp, fm.beta]),
            [*model.parameter_names(), *fm.fixef.index], len(vp), len(vp),
            np.concatenate([lo, [0.0], np.full(p, -np.inf)]),
            np.concatenate([up, [np.inf], np.full(p, np.inf)]), -2.0 * fm.loglik, **kwargs)

    def _complete(self, full: np.ndarray) -> np.ndarray:
        return self.dd.beta(full)

    def _fixef_zeta(self, j: int) -> tuple[Any, float]:
        dev = FixedEffectDeviance(self.chol, j, self.ldW)
        est = self.opt[self.nvp + j]
        n = self.chol.xp.n

        def zeta(fw: float, start: np.ndarray | None = None) -> np.ndarray:
            dev.value = fw
            th, fv = bobyqa(dev, self.thopt, self.theta_lower,
                            np.full(len(self.thopt), np.inf))
            pwrss, beta = dev.solution(th)
            sig = math.sqrt(pwrss / n)
            zz = math.copysign(math.sqrt(max(0.0, fv - self.base)), fw - est) \
                if fw != est else 0.0
            return np.concatenate([[zz], cv_to_sv(th, self.ks, sig), np.insert(beta, j, fw)])

        return zeta, est + self.delta * self.stderr[j]


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


STEP_VARPAR = 0.1    # GLMM profile: initial BOBYQA step of an sd / cor (x max(|x|, 0.1)) ...
STEP_FIXEF = 0.25    # ... and of a fixed effect (x its standard error); BOBYQA stops at a
XTOL_ABS = 1e-6      # trust-region radius of XTOL_ABS (no ftol test: it can stop far too early)


class _GlmmProfiler(_Profiler):
    """A GLMM: every parameter (sd/cor and β) profiled through `dd`, the others re-optimized,
    as lme4 does for glmerMod (npar1 = all parameters; the first step is ψ̂·1.01 for fixed
    effects too)."""

    def __init__(self, model: GeneralizedLinearMixedModel, **kwargs: Any) -> None:
        if model.nAGQ == 0:
            raise ValueError("profiling needs the Laplace or adaptive Gauss-Hermite objective "
                             "(nAGQ >= 1)")
        if model._has_scale:
            raise ValueError("can't (yet) profile GLMMs with non-fixed scale parameters")
        self.objective = model._fit.objective
        ks = [t.k for t in model.frame.terms]
        vp = cv_to_sv(model.theta, ks, 1.0)[:-1]
        nvp, p = len(vp), len(model.beta)
        lo, up = _variance_bounds(model.lower)
        opt = np.concatenate([vp, model.beta])
        # BOBYQA's initial steps: nlopt's default (a quarter of |x|, or of the distance to a
        # bound) stalls when a standard deviation is near its bound 0
        se = np.sqrt(np.diag(model.vcov.to_numpy()))
        se = np.where(np.isfinite(se) & (se > 0), se, np.maximum(np.abs(model.beta), 1.0))
        self.steps = np.concatenate([STEP_VARPAR * np.maximum(np.abs(vp), 0.1),
                                     STEP_FIXEF * se])
        self.ftol_abs, self.xtol_abs = 0.0, XTOL_ABS
        with self._restoring_objective():
            super().__init__(
                GlmmDeviance(self.objective, ks, nvp), opt,
                [*model.parameter_names(), *model.fixef.index], nvp, len(opt),
                np.concatenate([lo, np.full(p, -np.inf)]),
                np.concatenate([up, np.full(p, np.inf)]), -2.0 * model.loglik, **kwargs)

    def _minimize(self, fn: Any, start: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                  w: int) -> tuple[np.ndarray, float]:
        return bobyqa(fn, start, lower, upper, initial_step=np.delete(self.steps, w),
                      ftol_abs=self.ftol_abs, xtol_abs=self.xtol_abs)

    @contextlib.contextmanager
    def _restoring_objective(self) -> Iterator[None]:
        """The objective warm-starts PIRLS from its last evaluation: leave it as found."""
        obj = self.objective
        saved = obj.state, obj.evaluations
        try:
            yield
        finally:
            obj.state, obj.evaluations = saved

    def profile_param(self, w: int) -> ParameterProfile:
        with self._restoring_objective():
            return super().profile_param(w)


_ACTIVE: dict[str, _Profiler] = {}


def _profile_in_worker(w: int) -> tuple[ParameterProfile, list[str]]:
    prof = _ACTIVE["profiler"]
    prof.messages = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp = prof.profile_param(w)
    return pp, list(prof.messages)


def _profile_task(prof: _Profiler, w: int) -> tuple[ParameterProfile, list[str]]:
    """One parameter's profile on a Dask worker (the profiler travels with the task)."""
    prof.messages = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp = prof.profile_param(w)
    return pp, list(prof.messages)


def _which(which: Any, names: list[str], nvp: int) -> list[int]:
    if which is None:
        return list(range(len(names)))
    items = [which] if isinstance(which, (str, int)) else list(which)
    out: set[int] = set()
    for it in items:
        if it == "theta_":
            out.update(range(nvp))
        elif it == "beta_":
            out.update(range(nvp, len(names)))
        elif isinstance(it, str):
            if it not in names:
                raise ValueError(f"unknown parameter {it!r}; parameters: {names}")
            out.add(names.index(it))
        else:
            out.add(int(it))
    return sorted(out)


def _profiler(model: MixedModel, **kwargs: Any) -> _Profiler:
    from mixedfx.results.glmm_model import GeneralizedLinearMixedModel

    if isinstance(model, GeneralizedLinearMixedModel):
        return _GlmmProfiler(model, **kwargs)
    if getattr(model._fit, "residual", None) is not None:
        raise ValueError("likelihood profiles are not available for models with an nlme "
                         "residual structure (weights= variance function or correlation=); "
                         "use confint(method='Wald') or confint(method='boot')")
    return _LmmProfiler(model, **kwargs)


def profile_model(model: MixedModel, which: Any = None, n_jobs: int = 1,
                  **kwargs: Any) -> Profile:
    """lme4's `profile(m, which=)` for lmer and glmer fits: `which` is None (all), parameter
    names or indices, "theta_" (variance parameters) or "beta_" (fixed effects). `n_jobs` > 1
    profiles the parameters in parallel processes (-1: every core); `alphamax`, `maxpts`,
    `delta_cutoff`, `maxmult`, `devtol`, `devmatchtol` as lme4."""
    structured = [f"{t.covariance.name}({' + '.join(t.term_names)} | {t.group_name})"
                  for t in model.frame.terms if t.covariance.structured]
    if structured:
        raise ValueError("likelihood profiles are not available for models with structured "
                         f"covariance terms ({', '.join(structured)}); use "
                         "confint(method='Wald') or confint(method='boot')")
    prof = _profiler(model, **kwargs)
    mapper = getattr(model, "_cluster_map", None)
    return prof.run(_which(which, prof.names, prof.nvp), n_jobs=n_jobs,
                    mapper=mapper() if mapper is not None and n_jobs == 1 else None)


def profile(model: MixedModel, which: Any = None, **kwargs: Any) -> pd.DataFrame:
    """The profile as lme4's data frame: `.zeta`, every parameter, `.par` (one block of rows
    per profiled parameter); `attrs` hold the `lower` and `upper` bounds of the parameters
    profiled through the deviance function (LMM: the variance parameters; GLMM: all).
    `profile_model` returns the `Profile` object (splines, `confint`)."""
    pr = profile_model(model, which, **kwargs)
    df = pr.frame()
    df.attrs["lower"] = dict(pr.lower)
    df.attrs["upper"] = dict(pr.upper)
    return df


def profile_confint(model: MixedModel, level: float = 0.95, which: Any = None,
                    **kwargs: Any) -> pd.DataFrame:
    """lme4's `confint(m, method="profile")`."""
    return profile_model(model, which, **kwargs).confint(level)
