"""The optimizer guard: time budget, NaN / -Inf objectives, interrupts, nlopt breakdowns."""

from __future__ import annotations

import itertools
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


COBYLA_HANG = """
import warnings
import pandas as pd
import mixedfx as mfx
d = pd.DataFrame({
    "y": [3.0, 3.0, 3.0, 0.0, 0.0, 2.0, 0.0, 1.0, 0.0, 2.0, 1.0, 1.0, 3.0, 2.0, 3.0, 4.0, 0.0,
          0.0, 2.0, 4.0],
    "x": [0.6457929429409158, 0.10389084099036235, 0.6088860067281481, 0.29475964968098445,
          -0.1787338091887348, -0.3010068856800357, -2.603159688393146, -0.6748121296531676,
          -0.8166731863242179, 0.13107345214487018, -0.5028541259645002, -1.4367281690798632,
          0.7046215083660745, 1.2240271722375098, 1.0682025372107489, 1.6123833407452866,
          -0.17797866921845315, 0.08909634885803627, 0.6744608641326997, 0.27562559991032604],
    "g": list("51322134114124554445")})
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        m = mfx.glmer_nb("y ~ I(x^2) + (0 + x | g) + (0 + x | g)", d,
                         control={"optimizer": "cobyla"})
        print("fit", m.loglik)
    except mfx.errors.MixedfxError as exc:
        print("error", exc)
"""


def test_cobyla_never_sees_an_infinite_value() -> None:
    """Fuzz seed 20261205: nlopt's COBYLA looped forever in its trust-region step (trstlp, C
    code that no signal interrupts) after one +Inf objective value during glmer_nb's final
    fit. COBYLA now gets a large finite stand-in; the fit ends (run in a subprocess so a
    regression fails instead of hanging the suite)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", COBYLA_HANG], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith(("fit", "error")), proc.stdout


def test_cobyla_guard_replaces_infinity_with_a_large_finite_value() -> None:
    from mixedfx.optimize.driver import COBYLA_INF, _Guard

    values = iter([math.inf, 3.0, math.inf])
    guard = _Guard(lambda x: next(values), Control(optimizer="cobyla"))
    assert guard(np.zeros(1)) == COBYLA_INF
    assert guard(np.zeros(1)) == 3.0
    stand_in = guard(np.zeros(1))
    assert math.isfinite(stand_in) and stand_in > 1e10
    values = iter([math.inf])
    assert _Guard(lambda x: next(values), Control(optimizer="bobyqa"))(np.zeros(1)) == math.inf


def test_the_final_run_takes_the_presolve_optimum_without_evaluating_it_again() -> None:
    """After the log-scale presolve the final BOBYQA run starts at the presolve's best point,
    whose value is known: no point is evaluated twice in a row (one of G's evaluations
    takes half a second), and the optimum is the one of a run that evaluates it again."""
    seen: list[bytes] = []

    def f(x: np.ndarray) -> float:
        seen.append(np.asarray(x, dtype=float).tobytes())
        return float((x[0] - 0.8) ** 2 + 3.0 * (x[1] - 0.3) ** 2 + 0.1 * x[0] * x[1])

    ctrl = Control(calc_derivs=False, restart_edge=False, boundary_tol=0.0)
    res = optimize_theta(f, np.ones(2), np.zeros(2), ctrl, nobs=10, presolve=True)
    assert all(a != b for a, b in itertools.pairwise(seen))

    theta, _, known = driver.presolve_log_scale(f, np.ones(2), np.zeros(2), ctrl)
    assert known is not None and np.array_equal(known[0], theta)
    assert known[1] == f(theta)
    assert res.converged
    np.testing.assert_allclose(res.x, np.linalg.solve([[2.0, 0.1], [0.1, 6.0]], [1.6, 1.8]),
                               atol=1e-4)
