"""The optimizer guard: time budget, NaN / -Inf objectives, interrupts, nlopt breakdowns."""

from __future__ import annotations

import math
import warnings

import nlopt
import numpy as np
import pytest

import mixedfx as mfx
from mixedfx.errors import ConvergenceError, FitError, MixedfxError
from mixedfx.optimize import Control, driver
from mixedfx.optimize.driver import optimize_theta


def test_exception_hierarchy() -> None:
    assert issubclass(mfx.MixedfxError, ValueError)
    for cls in (mfx.FormulaError, mfx.DataError, mfx.FitError, mfx.ConvergenceError):
        assert issubclass(cls, MixedfxError)
    assert issubclass(mfx.FitError, RuntimeError)
    from mixedfx.glmm.pirls import PirlsError

    assert issubclass(PirlsError, FitError)


def test_time_budget_returns_best_point_with_warning_code() -> None:
    def slow(x: np.ndarray) -> float:
        t = 0.0
        for _ in range(20000):
            t += 1.0
        return float(np.sum((x - 1.5) ** 2)) + t * 0

    res = optimize_theta(slow, np.array([0.2, 0.2]), np.zeros(2),
                         Control(max_time=0.001, calc_derivs=False), nobs=10)
    assert res.return_code == "NLOPT_MAXTIME_REACHED" and not res.converged
    assert "time budget" in res.messages[0]
    assert np.all(np.isfinite(res.x))


def test_nan_objective_is_a_clear_error() -> None:
    with pytest.raises(ConvergenceError, match="objective is NaN"):
        optimize_theta(lambda x: math.nan, np.array([1.0]), np.zeros(1), Control(), nobs=5)


def test_minus_inf_objective_is_a_clear_error() -> None:
    with pytest.raises(ConvergenceError, match="objective is -Inf"):
        optimize_theta(lambda x: -math.inf, np.array([1.0]), np.zeros(1), Control(), nobs=5)


def test_inf_everywhere_stops() -> None:
    with pytest.raises(ConvergenceError, match=r"\+Inf at every point"):
        optimize_theta(lambda x: math.inf, np.array([1.0, 1.0]), np.zeros(2), Control(),
                       nobs=5)


def test_keyboard_interrupt_propagates() -> None:
    calls = [0]

    def fn(x: np.ndarray) -> float:
        calls[0] += 1
        if calls[0] == 5:
            raise KeyboardInterrupt
        return float(np.sum(x * x))

    with pytest.raises(KeyboardInterrupt):
        optimize_theta(fn, np.array([1.0, 1.0]), np.zeros(2), Control(), nobs=5)
    assert calls[0] == 5


def test_roundoff_limited_gives_best_point(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(opt, guard, x0):
        guard(np.asarray(x0))
        try:
            raise nlopt.RoundoffLimited()
        except nlopt.RoundoffLimited:
            pass
        return guard.best_x, guard.best_f, "NLOPT_ROUNDOFF_LIMITED"

    monkeypatch.setattr(driver, "_optimize", fake)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = optimize_theta(lambda x: float(np.sum(x * x)), np.array([1.0]), np.zeros(1),
                             Control(calc_derivs=False, restart_edge=False), nobs=5)
    assert not res.converged and "NLOPT_ROUNDOFF_LIMITED" in res.messages[0]


def test_lmer_with_time_budget_warns() -> None:
    sl = mfx.datasets.load("sleepstudy")
    with pytest.warns(mfx.ConvergenceWarning, match="time budget"):
        m = mfx.lmer("Reaction ~ Days + (Days | Subject)", sl,
                     control={"max_time": 1e-6, "calc_derivs": False})
    assert np.isfinite(m.loglik)
