"""Parametric bootstrap of a fitted LMM or GLMM, as lme4's `bootMer`, and bootstrap intervals
as `confint(m, method="boot")` (boot's `boot.ci`).

All `nsim` responses are simulated first from one generator seeded with `seed` (the model's
`simulate`: for an LMM y*ₖ = Xβ̂ + ZΛ̂u*ₖ + ε*ₖ, u*, ε* ~ N(0, σ̂²I); for a GLMM new random effects
and then the family's distribution, successes for cbind responses; with `use_u` the fitted u),
so the replicates do not depend on `n_jobs`; each is refitted by the model's `refit` (start:
θ̂) and summarized by `func`. The driver only needs those two callables, so LMMs and GLMMs share
it. With `n_jobs` > 1 the refits run in worker processes (fork where available, so `func` may
be any callable; elsewhere it must be picklable). A refit that fails gives a row of NaN.

Default `func` (lme4's `bootMer` has none; this is the statistic its `confint(method="boot")`
uses, lme4's `bootFun`): `parameter_vector`, the sd/cor (σ-scaled for an LMM), σ when the model
has a scale parameter, then β, named as `confint` names them. `theta_beta` gives lme4's
`getME(m, c("theta", "beta"))` instead.

Percentile limits follow boot's `norm.inter`: with R finite replicates sorted and
rk = (R + 1)α, the limit is t*_(k) for integer rk, otherwise interpolated between t*_(k) and
t*_(k+1) on the normal-quantile scale, k = ⌊rk⌋.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError, FitError
from mixedfx.inference.linalg import single_threaded_blas
from mixedfx.inference.profile_scale import cv_to_sv
from mixedfx.lazy import lazy_module
from mixedfx.optimize.threads import one_blas_thread
from mixedfx.validate import check_bool

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import MixedModel

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here
# multiprocessing and concurrent.futures.process: ~3 ms at import; only for n_jobs > 1
mp = lazy_module("multiprocessing")
futures = lazy_module("concurrent.futures")

Func = Callable[[Any], Any]


def _is_glmm(model: MixedModel) -> bool:
    """A glmer fit (the contract's `kind`)."""
    return model.kind == "glmer"


def parameter_values(model: MixedModel) -> np.ndarray:
    """The values of `parameter_vector` without their names (what each replicate computes:
    the names are those of t0, so a replicate need not build them)."""
    ks = [t.k for t in model.frame.terms]
    if any(t.covariance.structured for t in model.frame.terms) or \
            getattr(model, "dispersion_method", None) == "ML":
        # each term's own parameters (structure-aware), on the scale the model reports
        vals = [v for _, v in model.variance_parameters()]
        if model.has_scale:
            vals.append(model.sigma)
        return np.concatenate([vals, model.beta]).astype(float)
    if _is_glmm(model):
        sv = cv_to_sv(model.theta, ks, 1.0)[:-1]
        if model.has_scale:
            sv = np.append(sv, model.sigma)
    else:
        sv = cv_to_sv(model.theta, ks, model.sigma)
    return np.concatenate([sv, model.beta]).astype(float)


def parameter_vector(model: MixedModel) -> pd.Series:
    """lme4's default `bootFun` of `confint(method="boot")`: sd/cor (σ-scaled for an LMM), σ
    (LMMs and GLMMs with a scale parameter), β; named as `parameter_names()` and `fixef`."""
    return pd.Series(parameter_values(model),
                     index=[*model.parameter_names(), *model.fixef.index])


def theta_beta(model: MixedModel) -> pd.Series:
    """θ then β (lme4's `getME(m, c("theta", "beta"))`), named by `theta_names` and `fixef`."""
    return pd.Series(np.concatenate([model.theta, model.beta]),
                     index=[*model.theta_names, *model.fixef.index])


def default_statistic(model: MixedModel) -> Func:
    """The default `func` of `bootstrap`: `parameter_vector`, for LMMs and GLMMs alike."""
    return parameter_vector


def as_series(value: Any) -> pd.Series:
    """A bootstrap statistic's value (a Series, dict, scalar or vector) as a float Series;
    an unnamed vector keeps positional labels 0, 1, ..."""
    if isinstance(value, pd.Series):
        return value.astype(float)
    if isinstance(value, dict):
        return pd.Series(value, dtype=float)
    arr = np.atleast_1d(np.asarray(value, dtype=float)).ravel()
    return pd.Series(arr)


@dataclass
class BootResult:
    """lme4's `bootMer` value: `t0` = func(fitted model), `t` = one row per replicate."""

    t0: pd.Series
    t: pd.DataFrame
    nsim: int
    seed: int | None
    n_failed: int = 0
    messages: list[str] = field(default_factory=list)

    def confint(self, level: float = 0.95, type: str = "perc") -> pd.DataFrame:
        """Bootstrap intervals per statistic: `perc` (default), `basic` or `norm`."""
        rows = {}
        for name in self.t.columns:
            col = self.t[name].to_numpy(dtype=float)
            rows[name] = boot_interval(col, float(self.t0[name]), level, type)
        return pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "upper"])


def norm_inter(t: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """boot's `norm.inter`: interpolated order statistics at probabilities alpha."""
    t = np.sort(t[np.isfinite(t)])
    R = len(t)
    if R == 0:
        return np.full(len(alpha), np.nan)
    out = np.empty(len(alpha))
    for i, a in enumerate(alpha):
        rk = (R + 1) * a
        k = math.trunc(rk)
        if k == rk and 0 < k <= R:
            out[i] = t[k - 1]
        elif k <= 0:
            out[i] = t[0]
        elif k >= R:
            out[i] = t[R - 1]
        else:
            z1, z2, z3 = stats.norm.ppf([a, k / (R + 1), (k + 1) / (R + 1)])
            out[i] = t[k - 1] + (z1 - z2) / (z3 - z2) * (t[k] - t[k - 1])
    return out


def boot_interval(t: np.ndarray, t0: float, level: float, type: str = "perc") -> list[float]:
    """One statistic's interval, as boot's `boot.ci(type=)`."""
    a = np.array([(1 - level) / 2, (1 + level) / 2])
    fin = t[np.isfinite(t)]
    if type == "perc":
        return list(norm_inter(fin, a))
    if type == "basic":
        q = norm_inter(fin, a[::-1])
        return list(2 * t0 - q)
    if type == "norm":
        bias = float(np.mean(fin)) - t0
        merr = float(np.std(fin, ddof=1)) * stats.norm.ppf((1 + level) / 2)
        return [t0 - bias - merr, t0 - bias + merr]
    raise ArgumentError("type must be 'perc', 'basic' or 'norm'")


# ----- the refits -----------------------------------------------------------------------------
Refit = Callable[[np.ndarray], Any]
# the work of each running `_parallel` call, by call: forked workers inherit it (calls
# from several threads at once each read their own)
_WORK: dict[int, tuple[Refit, Func, np.ndarray]] = {}
_CALLS = itertools.count()


def _refit_one(refit: Refit, func: Func, y: np.ndarray) -> tuple[Any, list[str]]:
    # the default statistic's values alone: t0 carries their names
    statistic = parameter_values if func is parameter_vector else func
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = statistic(refit(y))
        except Exception as e:  # a failed replicate is recorded, as bootMer does
            return None, [f"{type(e).__name__}: {e}"]
    return value, [str(w.message) for w in caught]


def _run_chunk(task: tuple[int, int, int]) -> list[tuple[Any, list[str]]]:
    call, start, stop = task
    refit, func, Y = _WORK[call]
    return [_refit_one(refit, func, Y[:, k]) for k in range(start, stop)]


def _run_chunk_args(refit: Refit, func: Func, Y: np.ndarray) -> list[tuple[Any, list[str]]]:
    return [_refit_one(refit, func, Y[:, k]) for k in range(Y.shape[1])]


def _chunks(n: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, parts + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]


def _parallel(refit: Refit, func: Func, Y: np.ndarray, n_jobs: int
              ) -> list[tuple[Any, list[str]]]:
    nsim = Y.shape[1]
    chunks = _chunks(nsim, min(nsim, 4 * n_jobs))
    if "fork" in mp.get_all_start_methods():
        call = next(_CALLS)
        _WORK[call] = (refit, func, Y)
        try:
            with futures.ProcessPoolExecutor(n_jobs, mp_context=mp.get_context("fork"),
                                             initializer=single_threaded_blas) as ex:
                parts = list(ex.map(_run_chunk, [(call, a, b) for a, b in chunks]))
        finally:
            del _WORK[call]
    else:
        with futures.ProcessPoolExecutor(n_jobs, initializer=single_threaded_blas) as ex:
            futs = [ex.submit(_run_chunk_args, refit, func, Y[:, a:b]) for a, b in chunks]
            parts = [f.result() for f in futs]
    return [r for part in parts for r in part]


def run_bootstrap(simulate: Callable[..., np.ndarray], refit: Refit, func: Func, t0: Any,
                  nsim: int, seed: int | None = None, n_jobs: int = 1, **sim_args: Any
                  ) -> BootResult:
    """The bootMer driver on callables: `Y = simulate(nsim=nsim, seed=seed, **sim_args)`
    (n × nsim), then `func(refit(Y[:, k]))` per column (in `n_jobs` processes); `t0` is
    `func` of the original fit."""
    t0 = as_series(t0)
    Y = simulate(nsim=nsim, seed=seed, **sim_args)
    if n_jobs < 0:
        n_jobs = os.cpu_count() or 1
    if n_jobs > 1 and nsim > 1:
        results = _parallel(refit, func, Y, n_jobs)
    else:            # on one BLAS thread, as the parallel workers: the same numbers
        with one_blas_thread():
            results = _run_chunk_args(refit, func, Y)
    return collect_replicates(t0, results, nsim, seed)


def collect_replicates(t0: pd.Series, results: list[tuple[Any, list[str]]], nsim: int,
                       seed: int | None) -> BootResult:
    """The BootResult of per-replicate (func value or None, messages): a failed refit is a
    row of NaN and is counted in `n_failed`."""
    rows, messages, failed = [], [], 0
    for value, msgs in results:
        messages.extend(msgs)
        if value is None:
            failed += 1
            rows.append(np.full(len(t0), np.nan))
        else:
            rows.append(value if isinstance(value, np.ndarray) and value.ndim == 1
                        else as_series(value).to_numpy(dtype=float))
    t = pd.DataFrame(np.vstack(rows) if rows else np.zeros((0, len(t0))), columns=t0.index)
    return BootResult(t0=t0, t=t, nsim=nsim, seed=seed, n_failed=failed, messages=messages)


def bootstrap(model: MixedModel, func: Func | None = None, nsim: int = 100,
              seed: int | None = None, n_jobs: int = 1, use_u: bool = False) -> BootResult:
    """lme4's `bootMer(m, FUN, nsim, seed, use.u)` for lmer and glmer fits: parametric
    bootstrap replicates of `func(refitted model)` (default `default_statistic(model)`).
    `n_jobs=-1` uses every core; the result does not depend on `n_jobs`."""
    use_u = check_bool(use_u, "use_u")
    fn = func if func is not None else default_statistic(model)
    distributed = getattr(model, "distributed_bootstrap", None)
    if distributed is not None:       # a Dask fit: replicates made on its cluster
        return distributed(fn, nsim=nsim, seed=seed, n_jobs=n_jobs, use_u=use_u)
    return run_bootstrap(model.simulate, model.refit, fn, fn(model), nsim=nsim, seed=seed,
                         n_jobs=n_jobs, use_u=use_u)


def boot_confint(model: MixedModel, level: float = 0.95, nsim: int = 500,
                 seed: int | None = None, n_jobs: int = 1, type: str = "perc",
                 func: Func | None = None, use_u: bool = False) -> pd.DataFrame:
    """`confint(m, method="boot")`: bootstrap intervals of the sd/cor/σ and fixed effects
    (or of `func`), percentile by default, `nsim = 500` as lme4."""
    res = bootstrap(model, func if func is not None else parameter_vector, nsim=nsim,
                    seed=seed, n_jobs=n_jobs, use_u=use_u)
    if res.t.isna().all().all():
        raise FitError("*all* bootstrap runs failed!")
    return res.confint(level, type)
