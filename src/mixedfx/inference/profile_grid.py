"""The profile algorithm shared by every model: lme4's `profile.merMod` grid walk.

For one parameter ψ held at successive values, the deviance d is minimized over the others
and ζ(ψ) = sign(ψ − ψ̂) √(d(ψ) − d̂) recorded; the grid follows lme4's `nextpar` steps
(δ = √χ²_{1−alphamax, npar}/8 in ζ, at most `maxmult` × the last step) from ψ̂·1.01 (or 0.001)
in both directions until |ζ| exceeds the cutoff, a bound, or `maxpts` points, with restarts
at the bounds and an inward sweep on a side whose deviance falls outward (see
`mixedfx.inference.profile`). `Profiler` runs the walk for a deviance `dd` of the full
parameter vector; the model-specific profilers (LMM, GLMM) live in `mixedfx.inference.profile`.
Parameters run here, in forked processes, or through a mapper (a Dask fit's cluster).
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import FitError
from mixedfx.inference.linalg import single_threaded_blas
from mixedfx.inference.profile_deviance import bobyqa
from mixedfx.inference.profile_result import ParameterProfile, Profile, ProfileWarning
from mixedfx.inference.splines import SplineError, back_spline, interp_spline
from mixedfx.lazy import lazy_module
from mixedfx.optimize.threads import one_blas_thread
from mixedfx.validate import check_number, check_positive_int
from mixedfx.warn import warn

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here
# multiprocessing and concurrent.futures.process: ~3 ms at import; only for n_jobs > 1
mp = lazy_module("multiprocessing")
futures = lazy_module("concurrent.futures")


class Profiler:
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
        alphamax = check_number(alphamax, "alphamax", 0.0, 1.0)
        maxpts = check_positive_int(maxpts, "maxpts")
        delta_cutoff = check_number(delta_cutoff, "delta_cutoff", 0.0)
        maxmult = check_number(maxmult, "maxmult", 1.0, low_open=False)
        devtol = check_number(devtol, "devtol", 0.0, low_open=False)
        devmatchtol = check_number(devmatchtol, "devmatchtol", 0.0, low_open=False)
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
            raise FitError("the profiled deviance at the estimates is not numerically "
                           f"consistent with the fitted deviance ({d0} vs {self.base})")

    def _warn(self, msg: str) -> None:
        self.messages.append(msg)
        warn(msg, ProfileWarning)

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
        if cc - 1 < self.npar1:
            self._sweep_back(mat, i, zetafun, cc)
        return mat

    def _sweep_back(self, mat: np.ndarray, last: int, zetafun: Any, cc: int) -> None:
        """Re-minimize a side whose deviance falls going outward (rows 1..`last`, from the
        estimate out). The profile deviance d(ψ) (a minimum over the others) does not fall
        below an inner point's as ψ moves away from ψ̂ unless the chain of warm starts left
        that inner point in a worse local minimum — and which one it reaches depends on the
        last bits of every evaluation, i.e. on the BLAS kernel (an interval end would then
        switch between the spline and linear interpolation). Each point from `last` − 1
        inwards is minimized again from its outer neighbour's optimum, keeping the lower
        deviance; a monotone side (the usual case) costs nothing and keeps lme4's chain."""
        dev = mat[1:last + 1, 0] ** 2
        dev = dev[np.isfinite(dev)]
        if not np.any(np.diff(dev) < -self.devtol * max(1.0, abs(self.base))):
            return
        for r in range(last - 1, 1, -1):
            if not (np.all(np.isfinite(mat[r + 1])) and np.isfinite(mat[r, 0])):
                continue
            again = zetafun(mat[r, cc], np.delete(mat[r + 1, 1:1 + self.npar1], cc - 1))
            if np.isfinite(again[0]) and abs(again[0]) < abs(mat[r, 0]):
                mat[r] = again

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
        else:        # on one BLAS thread, as the parallel workers: the same numbers
            with one_blas_thread():
                params = {self.names[w]: self.profile_param(w) for w in which}
        # bounds of the parameters profiled through `dd` (lme4: lower[seqnvp])
        lower = {self.names[w]: float(self.lower[w]) for w in which if w < self.npar1}
        upper = {self.names[w]: float(self.upper[w]) for w in which if w < self.npar1}
        return Profile(params=params, lower=lower, upper=upper, columns=self.columns,
                       warnings=self.messages)

    def _run_parallel(self, which: list[int], n_jobs: int) -> dict[str, ParameterProfile]:
        """One parameter per task in forked workers (they inherit this profiler)."""
        call = next(_CALLS)
        _ACTIVE[call] = self
        try:
            with futures.ProcessPoolExecutor(min(n_jobs, len(which)),
                                             mp_context=mp.get_context("fork"),
                                             initializer=single_threaded_blas) as ex:
                results = list(ex.map(_profile_in_worker, [(call, w) for w in which]))
        finally:
            del _ACTIVE[call]
        return self._collect(results)

    def _collect(self, results: list[tuple[ParameterProfile, list[str]]]
                 ) -> dict[str, ParameterProfile]:
        params = {}
        for pp, msgs in results:
            params[pp.name] = pp
            for msg in msgs:
                self._warn(msg)
        return params


# the profiler of each running `_run_parallel` call, by call: forked workers inherit it
# (calls from several threads at once each read their own)
_ACTIVE: dict[int, Profiler] = {}
_CALLS = itertools.count()


def _profile_in_worker(task: tuple[int, int]) -> tuple[ParameterProfile, list[str]]:
    call, w = task
    prof = _ACTIVE[call]
    prof.messages = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp = prof.profile_param(w)
    return pp, list(prof.messages)


def _profile_task(prof: Profiler, w: int) -> tuple[ParameterProfile, list[str]]:
    """One parameter's profile on a Dask worker (the profiler travels with the task)."""
    prof.messages = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp = prof.profile_param(w)
    return pp, list(prof.messages)
