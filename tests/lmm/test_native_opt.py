"""The optimizer run from compiled code (lmm.native_opt) and the deviance at many θ in one
call: the same values, the same optimizer path and so the same bits as NLopt calling the
objective through Python."""

from __future__ import annotations

import re
import warnings

import nlopt
import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx import datasets
from mixedfx.errors import ArgumentError
from mixedfx.lmm import native_opt
from mixedfx.lmm.deviance import ProfiledDeviance
from mixedfx.native import kernel
from mixedfx.optimize.derivatives import deriv12

pytestmark = pytest.mark.skipif(native_opt._bind() is None,
                                reason="compiled kernel or NLopt's C functions unavailable")

SL = datasets.load("sleepstudy")
PEN = datasets.load("Penicillin")


def _crossed() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    d = pd.DataFrame({"x": rng.normal(size=400), "g": rng.integers(0, 30, 400).astype(str),
                      "h": rng.integers(0, 8, 400).astype(str)})
    d["y"] = 1 + 0.5 * d.x + rng.normal(size=400)
    return d


CASES = [
    ("Reaction ~ Days + (Days | Subject)", SL, {}),
    ("Reaction ~ Days + (Days | Subject)", SL, {"REML": False}),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", PEN, {}),
    ("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", SL, {}),
    # ends singular: the boundary and interior restarts run natively too
    ("y ~ x + (x | g) + (1 | h)", _crossed(), {}),
]


def _record(formula: str, data: pd.DataFrame, kw: dict) -> tuple:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.lmer(formula, data, **kw)
    o = m._fit.optimization
    arrays = (m.theta, m.beta, [m.deviance, m.sigma], o.gradient, o.hessian)
    return (tuple(np.asarray(a, dtype=float).tobytes() for a in arrays), o.evaluations,
            o.return_code, o.restarts)


@pytest.fixture(scope="module")
def native_records() -> list[tuple]:
    return [_record(*c) for c in CASES]


@pytest.mark.parametrize("i", range(len(CASES)))
def test_native_run_equals_the_python_callback_bit_for_bit(native_records, monkeypatch,
                                                           i) -> None:
    monkeypatch.setattr(ProfiledDeviance, "minimize_natively", lambda self, *a: None)
    monkeypatch.setattr(ProfiledDeviance, "evaluate_many", lambda self, X: None)
    assert _record(*CASES[i]) == native_records[i]


def test_the_native_run_was_taken(monkeypatch) -> None:
    calls = []
    real = native_opt.minimize

    def spy(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(native_opt, "minimize", spy)
    _record(*CASES[0])
    assert calls


@pytest.fixture(scope="module")
def sleep_objective() -> tuple[ProfiledDeviance, np.ndarray]:
    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", SL)
    return m._fit.objective, m.theta


def test_deviance_many_equals_one_call_per_point(sleep_objective) -> None:
    obj, theta = sleep_objective
    rng = np.random.default_rng(1)
    X = theta + rng.normal(0.0, 0.3, (25, len(theta)))
    X[3, 0] = -0.5                                  # below the bound: still a value
    X[4] = 0.0                                      # singular Λ: a finite value
    before = obj.evaluations
    many = obj.evaluate_many(X)
    assert obj.evaluations == before + len(X)
    one = np.array([obj(x) for x in X])
    assert many.tobytes() == one.tobytes()


def test_deriv12_with_many_equals_point_by_point(sleep_objective) -> None:
    obj, theta = sleep_objective
    fx = obj(theta)
    g1, H1 = deriv12(obj, theta, fx)
    g2, H2 = deriv12(obj, theta, fx, many=obj.evaluate_many)
    assert g1.tobytes() == g2.tobytes()
    assert H1.tobytes() == H2.tobytes()
    # a `many` that declines falls back to the point-by-point values
    g3, H3 = deriv12(obj, theta, fx, many=lambda X: None)
    assert g3.tobytes() == g1.tobytes() and H3.tobytes() == H1.tobytes()


@pytest.mark.parametrize("case", range(len(CASES)))
def test_compiled_deriv12_equals_point_by_point(case) -> None:
    """The whole deriv12 in one compiled call: the same values, the same formulas, the
    same bits, and the same count of evaluations."""
    formula, data, kw = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.lmer(formula, data, **kw)
    obj = m._fit.objective
    rng = np.random.default_rng(case)
    for theta in (m.theta, np.abs(m.theta + rng.normal(0.0, 0.2, len(m.theta)))):
        fx = obj(theta)
        before = obj.evaluations
        native = obj.deriv12_natively(theta, fx, 1e-4)
        assert native is not None
        n_native = obj.evaluations - before
        g1, H1 = deriv12(obj, theta, fx)
        assert obj.evaluations - before == 2 * n_native
        assert native[0].tobytes() == g1.tobytes() and native[1].tobytes() == H1.tobytes()
        g2, H2 = deriv12(obj, theta, fx, native=obj.deriv12_natively)
        assert g2.tobytes() == g1.tobytes() and H2.tobytes() == H1.tobytes()


def test_minimize_matches_nlopt_from_python(sleep_objective) -> None:
    obj, _ = sleep_objective
    lower, upper = np.array([0.0, -np.inf, 0.0]), np.full(3, np.inf)
    x0 = np.array([1.0, 0.0, 1.0])
    run = obj.minimize_natively(nlopt.LN_BOBYQA, x0, lower, upper, 1e-8, 1e-8, 1000, None, 200)
    seen: list[float] = []

    def f(x, grad):
        seen.append(obj(x))
        return seen[-1]

    opt = nlopt.opt(nlopt.LN_BOBYQA, 3)
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(upper)
    opt.set_min_objective(f)
    opt.set_xtol_abs(1e-8)
    opt.set_ftol_abs(1e-8)
    opt.set_maxeval(1000)
    x = opt.optimize(x0)
    assert run.code == opt.last_optimize_result() > 0
    assert run.x.tobytes() == np.asarray(x).tobytes()
    assert run.fx == opt.last_optimum_value() == run.best_f == min(seen)
    assert run.evaluations == len(seen)
    assert run.stop == 0
    # a budget it exhausts
    short = obj.minimize_natively(nlopt.LN_BOBYQA, x0, lower, upper, 1e-8, 1e-8, 9, None, 200)
    assert short.code == nlopt.MAXEVAL_REACHED and short.evaluations == 9


def test_minimize_refuses_bad_arguments(sleep_objective) -> None:
    obj, _ = sleep_objective
    ev = obj._theta_evaluator()
    ws = np.empty(obj.chol.xp.Arr.shape)
    mod = kernel("lmm")
    x = np.ones(2)
    with pytest.raises(ArgumentError, match="3 values"):
        mod.minimize(ev, ws, True, 0.0, nlopt.LN_BOBYQA, x, x, x, 1e-8, 1e-8, 10,
                     None, 200, x.copy(), x.copy())
    with pytest.raises(TypeError, match="Evaluator"):
        mod.deviance_many(object(), np.ones((1, 3)), ws, True, 0.0, np.ones(1))
    with pytest.raises(ArgumentError, match="shape"):
        mod.deviance_many(ev, np.ones((2, 3)), ws, True, 0.0, np.ones(1))


# ------------------------------------------------ the guard (nlopt_api.h's guard_value)

def _guarded(obj: ProfiledDeviance, x0: np.ndarray) -> tuple[str, int]:
    """(the error the driver's run from x0 raises, the objective's evaluations in it)."""
    from mixedfx.errors import ConvergenceError
    from mixedfx.optimize import Control
    from mixedfx.optimize.driver import _run_nlopt

    before = obj.evaluations
    lower, upper = np.array([0.0, -np.inf, 0.0]), np.full(3, np.inf)
    with pytest.raises(ConvergenceError) as err:
        _run_nlopt(obj, x0, lower, upper, Control())
    return str(err.value), obj.evaluations - before


@pytest.mark.parametrize("case", ["nan", "minus_inf", "inf_streak"])
def test_the_kernels_guard_stops_as_the_python_guard(monkeypatch, case) -> None:
    """A NaN value, a −∞ value and +∞ at every one of the first points (here 7) stop the
    compiled run as `optimize.driver._Guard` stops the Python one: the same error (with the
    point of a NaN) after the same evaluations. The values come from the kernel's deviance:
    log|W| = NaN makes every value NaN, log|W| = +∞ every value −∞, and a response of zeros
    a Schur complement that is never positive definite (+∞)."""
    from mixedfx.lmm.fit import build_objective
    from mixedfx.optimize import driver
    from mixedfx.results.lmm_model import _with_response

    monkeypatch.setattr(driver, "INF_STREAK", 7)
    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", SL)
    y = np.zeros(m.nobs) if case == "inf_streak" else m._frame.y

    def objective() -> ProfiledDeviance:
        obj = build_objective(_with_response(m._frame, y), True)
        obj.ldW = {"nan": np.nan, "minus_inf": np.inf, "inf_streak": 0.0}[case]
        return obj

    x0 = np.array([0.9, 0.1, 0.3])
    native = _guarded(objective(), x0)
    monkeypatch.setattr(ProfiledDeviance, "minimize_natively", lambda self, *a: None)
    python = _guarded(objective(), x0)
    assert native == python
    expected = {"nan": (r"NaN at theta/beta = \[0\.9 0\.1 0\.3\]", 1),
                "minus_inf": ("-Inf", 1), "inf_streak": ("at the first 7 point", 7)}[case]
    assert native[1] == expected[1]
    assert re.search(expected[0], native[0])
