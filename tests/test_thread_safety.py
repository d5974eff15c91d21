"""One fitted model shared by many threads: every public call gives the same bits as the same
call made alone.

A fitted model's objects are shared by whoever holds the model: the LMM's profiled deviance
(`lmm.deviance.ProfiledDeviance`, evaluated again by the Satterthwaite df and the profiles),
its refitter (`lmm.refit.ResponseRefitter`, reused by every `refit`) and the GLMM's objective
(`glmm.objective.GlmmObjective`, whose warm start the profiles move). Each test starts the
threads together (a barrier) on a model no call has touched yet, so per-model caches are
filled concurrently too, and compares each thread's result bit for bit with the call made
alone on an identical fit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.lmm import crossproducts

SLEEP = "Reaction ~ Days + (Days | Subject)"
# two terms: a 21-row Schur complement in the objective's scratch matrix
UNCORRELATED = "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
THREADS = 4
REPEATS = 30      # rounds of calls per thread on the shared objective


@pytest.fixture(scope="module")
def sleepstudy() -> pd.DataFrame:
    return mfx.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def cbpp() -> pd.DataFrame:
    return mfx.datasets.load("cbpp")


def _concurrently(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls on as many threads, released together."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as ex:
        return list(ex.map(run, calls))


def _bits(x: Any) -> Any:
    """Something `==` compares bit for bit (NaN equal to NaN)."""
    if isinstance(x, pd.DataFrame):
        return (*((str(c), _bits(x[c])) for c in x.columns), tuple(map(str, x.index)))
    if isinstance(x, pd.Series):
        values = x.to_numpy(dtype=float) if pd.api.types.is_numeric_dtype(x) \
            else tuple(map(str, x))
        return _bits(values), tuple(map(str, x.index))
    if isinstance(x, np.ndarray):
        return (x.shape, np.ascontiguousarray(x, dtype=float).tobytes())
    if isinstance(x, (tuple, list)):
        return tuple(_bits(v) for v in x)
    if isinstance(x, float):
        return np.float64(x).tobytes()
    return x


def _fit_bits(m: Any) -> tuple:
    return _bits((m.beta, m.theta, m.sigma, m.deviance))


def test_lmm_refits_share_one_model(sleepstudy: pd.DataFrame) -> None:
    """`m.refit(y)` on one model from several threads (one refitter, built concurrently),
    and the Satterthwaite table of each refit (its own objective evaluated again)."""
    m = mfx.lmer(SLEEP, data=sleepstudy)
    Y = m.simulate(2 * THREADS, seed=11)

    def refit(k: int) -> tuple:
        r = m.refit(Y[:, k])
        return _fit_bits(r), _bits(r.summary().coefficients)

    alone_model = mfx.lmer(SLEEP, data=sleepstudy)
    alone = [(_fit_bits(r := alone_model.refit(Y[:, k])), _bits(r.summary().coefficients))
             for k in range(2 * THREADS)]
    got = _concurrently([lambda k=k: [refit(k), refit(k + THREADS)]
                         for k in range(THREADS)])
    for k in range(THREADS):
        assert got[k] == [alone[k], alone[k + THREADS]]


def test_lmm_first_summaries_share_one_objective(sleepstudy: pd.DataFrame) -> None:
    """The first Satterthwaite tables of one model, computed at once: each evaluates the
    model's profiled deviance (Newton-polished optimum, deriv12) from compiled code that
    releases the interpreter."""
    alone = _bits(mfx.lmer(UNCORRELATED, data=sleepstudy).summary().coefficients)
    for _ in range(4):
        m = mfx.lmer(UNCORRELATED, data=sleepstudy)
        assert _concurrently([lambda m=m: _bits(m.summary().coefficients)] * THREADS) \
            == [alone] * THREADS


def test_structured_first_summaries_share_one_objective() -> None:
    """The same for a model with an nlme variance function, whose Satterthwaite df evaluate
    the fit's (θ, ψ) objective (`lmm.structured.StructuredDeviance`, which caches the
    system of the last ψ)."""
    d = mfx.datasets.load("Orthodont")

    def fit() -> Any:
        return mfx.lmer("distance ~ age + (1 | Subject)", data=d,
                        weights=mfx.var_ident("~ 1 | Sex"))

    alone = _bits(fit().summary().coefficients)
    for _ in range(3):
        m = fit()
        assert _concurrently([lambda m=m: _bits(m.summary().coefficients)] * THREADS) \
            == [alone] * THREADS


def test_profiled_deviance_shared_by_threads(sleepstudy: pd.DataFrame) -> None:
    """A fitted model's `ProfiledDeviance` evaluated from several threads at once (single
    values, many points, derivatives): each call has its own scratch matrix."""
    m = mfx.lmer(UNCORRELATED, data=sleepstudy, REML=False)
    obj = m.engine_fit.objective
    assert obj.chol.xp.r == 21
    rng = np.random.default_rng(5)
    points = np.abs(m.theta * (1.0 + 0.2 * rng.standard_normal((40, len(m.theta)))))
    alone = (_bits([obj(x) for x in points]), _bits(obj.evaluate_many(points)),
             _bits(obj.deriv12_natively(m.theta, obj(m.theta), 1e-4)))

    def calls() -> tuple:
        out = []
        for _ in range(REPEATS):
            out.append((_bits([obj(x) for x in points]), _bits(obj.evaluate_many(points)),
                        _bits(obj.deriv12_natively(m.theta, obj(m.theta), 1e-4))))
        return tuple(out)

    for got in _concurrently([calls] * THREADS):
        assert got == (alone,) * REPEATS


def test_lmm_profile_predict_simulate_anova(sleepstudy: pd.DataFrame) -> None:
    """Profiles, predictions, simulations and the likelihood-ratio table of one ML model."""
    m0 = mfx.lmer("Reaction ~ Days + (1 | Subject)", data=sleepstudy, REML=False)
    new = sleepstudy.iloc[::7].assign(Days=lambda d: d.Days + 0.5)

    def calls(m: Any) -> list[Callable[[], Any]]:
        return [lambda: _bits(m.confint(method="profile", parm=["sigma"])),
                lambda: _bits(m.confint(method="profile", parm=["sd_Days|Subject"])),
                lambda: _bits(m.predict(new)),
                lambda: _bits(m.simulate(3, seed=4)),
                lambda: _bits(mfx.anova(m0, m)),
                lambda: _bits(m.refit(m.simulate(1, seed=9)[:, 0]).theta)]

    alone = [c() for c in calls(mfx.lmer(SLEEP, data=sleepstudy, REML=False))]
    m = mfx.lmer(SLEEP, data=sleepstudy, REML=False)
    assert _concurrently(calls(m)) == alone


def test_lmm_refits_with_sparse_gram(sleepstudy: pd.DataFrame,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Crossed terms whose B = [Z_rest X y]ᵀZ₁ is kept sparse (forced here on a small model),
    where a refit's weighted Gram of B holds y's row: each refit keeps its own, so an
    earlier refit's objective still evaluates its response after later refits, and refits
    in threads do not see each other's."""
    monkeypatch.setattr(crossproducts, "DENSE_B_LIMIT", 0)
    d = sleepstudy.assign(Day=sleepstudy.Days.astype(str))
    formula = "Reaction ~ 1 + (1 | Subject) + (1 | Day)"
    m = mfx.lmer(formula, data=d, REML=False)
    assert not isinstance(m.engine_fit.chol.xp.B, np.ndarray)
    Y = m.simulate(2 * THREADS, seed=3)
    alone = []
    for k in range(2 * THREADS):
        r = mfx.lmer(formula, data=d, REML=False).refit(Y[:, k])
        alone.append((_fit_bits(r), _bits(r.engine_fit.objective(r.theta))))
    first = m.refit(Y[:, 0])
    m.refit(Y[:, 1])
    assert _bits(first.engine_fit.objective(first.theta)) == alone[0][1]

    def refit(k: int) -> tuple:
        r = m.refit(Y[:, k])
        return _fit_bits(r), _bits(r.engine_fit.objective(r.theta))

    got = _concurrently([lambda k=k: [refit(k), refit(k + THREADS)]
                         for k in range(THREADS)])
    for k in range(THREADS):
        assert got[k] == [alone[k], alone[k + THREADS]]


def test_glmm_profiles_refits_share_one_model(cbpp: pd.DataFrame) -> None:
    """glmer: profiles (which move the fit's objective's warm start), refits, predictions
    and simulations of one model from several threads."""
    parm = ["sd_(Intercept)|herd", "period2"]

    def calls(g: Any, Y: np.ndarray) -> list[Callable[[], Any]]:
        return [lambda: _bits(g.confint(method="profile", parm=parm)),
                lambda: _fit_bits(g.refit(Y[:, 0])),
                lambda: _bits(g.confint(method="profile", parm=parm[::-1])),
                lambda: _fit_bits(g.refit(Y[:, 1])),
                lambda: _bits(g.predict(type="response")),
                lambda: _bits(g.simulate(2, seed=8))]

    g_alone = mfx.glmer(CBPP, data=cbpp, family="binomial")
    Y = g_alone.simulate(2, seed=2)
    alone = [c() for c in calls(g_alone, Y)]
    for _ in range(2):
        g = mfx.glmer(CBPP, data=cbpp, family="binomial")
        assert _concurrently(calls(g, Y)) == alone


def test_parallel_bootstraps_and_profiles_from_threads(sleepstudy: pd.DataFrame) -> None:
    """`bootstrap` and `profile` with `n_jobs=2` (forked worker processes, each reading its
    call's work) started from several threads at once, with different statistics, seeds
    and parameters."""
    m = mfx.lmer("Reaction ~ Days + (1 | Subject)", data=sleepstudy, REML=False)

    def boot(k: int) -> Callable[[], Any]:
        func = (lambda f: f.fixef) if k % 2 else (lambda f: pd.Series({"sigma": f.sigma}))
        return lambda: _bits(m.bootstrap(func, nsim=4, seed=k, n_jobs=2).t)

    def prof(which: list[str]) -> Callable[[], Any]:
        return lambda: _bits(m.profile(which=which, n_jobs=2))

    calls = [boot(k) for k in range(2)] + [prof(["(Intercept)", "Days"]),
                                           prof(["sigma", "sd_(Intercept)|Subject"])]
    alone = [c() for c in calls]
    assert _concurrently(calls) == alone
