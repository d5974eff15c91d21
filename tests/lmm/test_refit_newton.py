"""A refit's Newton iteration (lmm.refit_newton, `_native/lmm_newton.h`): it reaches the
optimum of a fresh fit, its derivatives are lme4's deriv12 numbers at the point it returns,
and it gives way to BOBYQA where it cannot vouch for the answer (singular fits, too many θ,
a time budget, a start far away)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx import datasets
from mixedfx.errors import ArgumentError
from mixedfx.lmm.fit import build_objective, fit_lmm, lower_bounds, upper_bounds
from mixedfx.lmm.refit_newton import NEWTON_DELTA, NEWTON_FTOL, NewtonRefit, checks_pass
from mixedfx.native import kernel
from mixedfx.optimize import Control
from mixedfx.optimize.convergence import check_gradient, check_hessian
from mixedfx.optimize.derivatives import deriv12
from mixedfx.results.lmm_model import _with_response

pytestmark = pytest.mark.skipif(kernel("lmm") is None or not hasattr(kernel("lmm"), "newton"),
                                reason="compiled kernel unavailable")

SL = datasets.load("sleepstudy")
PEN = datasets.load("Penicillin")

CASES = [
    ("Reaction ~ Days + (Days | Subject)", SL, {}),                     # 3 θ, k = 2
    ("Reaction ~ Days + (Days | Subject)", SL, {"REML": False}),
    ("Reaction ~ Days + (1 | Subject)", SL, {"weights": np.linspace(0.5, 2.0, len(SL)),
                                             "offset": np.full(len(SL), 3.0)}),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", PEN, {}),            # crossed
    ("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", SL, {}),  # diagonal
]


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@pytest.fixture(scope="module", params=range(len(CASES)))
def model(request):
    formula, data, kw = CASES[request.param]
    return _quiet(mfx.lmer, formula, data, **kw)


def _objective(m, y):
    frame = _with_response(m._frame, np.asarray(y, dtype=float))
    return frame, build_objective(frame, m.REML)


def test_newton_refit_reaches_a_fresh_fits_optimum(model) -> None:
    """On simulated responses: Newton serves (no singular replicate among these), its
    criterion is at or below the fresh BOBYQA fit's (BOBYQA stops within its ftol_abs of
    the minimum, Newton within 1e-10), θ and β agree to BOBYQA's tolerance, and it takes
    no more evaluations than the fresh fit (give or take a stencil of one θ)."""
    ys = model.simulate(nsim=5, seed=21)
    served = 0
    for j in range(ys.shape[1]):
        r = _quiet(model.refit, ys[:, j])
        if r.optimizer_info["optimizer"] != "newton":
            assert r.is_singular()          # Newton gives way only at the boundary
            continue
        served += 1
        fresh = _quiet(fit_lmm, _with_response(model._frame, ys[:, j]), model.REML,
                       model._control)
        assert r._fit.criterion <= fresh.criterion + 1e-9
        assert r._fit.criterion == pytest.approx(fresh.criterion, abs=1e-6)
        np.testing.assert_allclose(r.theta, fresh.theta, rtol=2e-3, atol=1e-3)
        np.testing.assert_allclose(r.beta, fresh.solution.beta, rtol=1e-4, atol=1e-8)
        assert r.optimizer_info["evaluations"] < fresh.optimization.evaluations + 5
        assert r.optimizer_info["converged"] and r.optimizer_info["return_code"] == \
            "NEWTON_CONVERGED"
    assert served >= 3


def test_derivatives_are_deriv12s_at_the_returned_theta(model) -> None:
    """g and H returned with θ are lme4's central differences there, bit for bit, and the
    predicted decrease ½gᵀH⁻¹g meets the stopping rule."""
    y = model.simulate(nsim=1, seed=5)[:, 0]
    frame, objective = _objective(model, y)
    run = objective.newton_natively(model._fit.theta, lower_bounds(frame),
                                    upper_bounds(frame), NEWTON_DELTA, NEWTON_FTOL, 8)
    status, theta, fx, g, H, trinv = run
    assert status == 0
    assert trinv == pytest.approx(np.trace(np.linalg.inv(H)), rel=1e-10)
    assert fx == objective(theta)
    g12, H12 = deriv12(objective, theta, fx)
    assert g.tobytes() == g12.tobytes()
    assert H.tobytes() == H12.tobytes()
    assert 0.5 * g @ np.linalg.solve(H, g) <= NEWTON_FTOL


def test_refit_record_carries_the_convergence_check(model) -> None:
    y = model.simulate(nsim=1, seed=5)[:, 0]
    r = _quiet(model.refit, y)
    o = r._fit.optimization
    assert o.optimizer == "newton"
    assert o.gradient is not None and o.hessian is not None
    assert r.optimizer_info["messages"] == []
    # the refit's estimates are those of its own objective at its θ (nothing stale)
    assert r._fit.criterion == pytest.approx(r._fit.objective(r.theta), abs=1e-9)


def test_gives_way_at_a_singular_start() -> None:
    """A fit on the boundary: Newton is not tried; the refit is BOBYQA's."""
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(10)], 6),
                      "x": rng.normal(size=60)})
    d["y"] = 1 + d.x + rng.normal(size=60)              # no group effect
    m = _quiet(mfx.lmer, "y ~ x + (1 | g)", d)
    assert m.is_singular()
    frame, objective = _objective(m, d.y.to_numpy() + 0.1)
    assert NewtonRefit(m._frame).fit(frame, objective, m._fit.theta, m._control) is None
    assert objective.evaluations == 0
    r = _quiet(m.refit, d.y.to_numpy() + 0.1)
    assert r.optimizer_info["optimizer"] == "bobyqa"


def test_gives_way_with_a_time_budget_or_a_far_start() -> None:
    m = _quiet(mfx.lmer, "Reaction ~ Days + (Days | Subject)", SL)
    y = m.simulate(nsim=1, seed=3)[:, 0]
    frame, objective = _objective(m, y)
    nr = NewtonRefit(m._frame)
    assert nr.fit(frame, objective, m._fit.theta, Control(max_time=10.0)) is None
    # maxiter 0: one stencil, no step taken, status NEWTON_MAXITER (4)
    status, theta, *_ = objective.newton_natively(m._fit.theta, nr.lower, nr.upper,
                                                  NEWTON_DELTA, NEWTON_FTOL, 0)
    assert status == 4
    np.testing.assert_array_equal(theta, m._fit.theta)
    # the refit of the same response still converges (BOBYQA when Newton gives way)
    r = _quiet(m.refit, y)
    assert r.optimizer_info["converged"]


def test_kernel_checks_its_arguments() -> None:
    m = _quiet(mfx.lmer, "Reaction ~ Days + (Days | Subject)", SL)
    objective = m._fit.objective
    ev = objective._theta_evaluator()
    mod = kernel("lmm")
    ws = np.empty(objective.chol.xp.Arr.shape)
    x, g, H = np.array(m.theta), np.empty(3), np.empty((3, 3))
    lo, hi = lower_bounds(m._frame), upper_bounds(m._frame)
    with pytest.raises(ArgumentError, match="x, lower, upper and g"):
        mod.newton(ev, ws, True, 0.0, x[:2].copy(), lo, hi, 1e-4, 1e-10, 8, g, H)
    with pytest.raises(ArgumentError, match="delta > 0"):
        mod.newton(ev, ws, True, 0.0, x, lo, hi, 0.0, 1e-10, 8, g, H)
    with pytest.raises(ArgumentError, match="P must have shape"):
        mod.newton(ev, np.empty((2, 2)), True, 0.0, x, lo, hi, 1e-4, 1e-10, 8, g, H)


def test_check_screen_only_passes_what_the_checks_pass() -> None:
    """`checks_pass` (eigenvalue bounds) never skips a check that would complain, and skips
    the checks of a well-conditioned optimum."""
    rng = np.random.default_rng(4)
    ctl = Control()
    skipped = 0
    for _ in range(3000):
        n = int(rng.integers(1, 6))
        Q = np.linalg.qr(rng.normal(size=(n, n)))[0]
        ev = 10.0 ** rng.uniform(-8, 7, n)
        H = (Q * ev) @ Q.T
        H = (H + H.T) / 2
        g = rng.normal(size=n) * 10.0 ** rng.uniform(-8, 0)
        trinv = float(np.trace(np.linalg.inv(H)))
        if checks_pass(g, H, trinv, ctl):
            skipped += 1
            assert check_gradient(g, H, ctl.check_conv_grad_tol) == []
            assert check_hessian(H, ctl.check_conv_hess_tol) == []
    assert skipped > 100
    H = np.array([[34.0, 1.0, 2.0], [1.0, 46.0, 3.0], [2.0, 3.0, 1190.0]])
    trinv = float(np.trace(np.linalg.inv(H)))
    assert checks_pass(np.full(3, 1e-6), H, trinv, ctl)
    assert not checks_pass(np.full(3, 1.0), H, trinv, ctl)        # gradient too large
    assert not checks_pass(np.full(3, 1e-6), H, float("inf"), ctl)


def test_refits_in_a_thread_pool_equal_the_sequential_ones() -> None:
    """Concurrent refits (of one model, sharing its refitter) give the sequential bits."""
    from concurrent.futures import ThreadPoolExecutor

    m = _quiet(mfx.lmer, "Reaction ~ Days + (Days | Subject)", SL)
    ys = m.simulate(nsim=8, seed=13)

    def key(j):
        r = _quiet(m.refit, ys[:, j])
        return r.theta.tobytes(), r.beta.tobytes(), r.sigma, r.optimizer_info["evaluations"]

    sequential = [key(j) for j in range(8)]
    with ThreadPoolExecutor(4) as ex:
        assert list(ex.map(key, range(8))) == sequential


def test_the_factor_at_the_optimum_is_the_evaluators(model) -> None:
    """With `fac`, the kernel leaves the evaluator's `factor` at the returned θ in P (and its
    log-determinants and pwrss in fac), bit for bit, without counting an evaluation; the
    refit's record is that of `factorize` there."""
    ys = model.simulate(nsim=2, seed=21)
    for j in range(ys.shape[1]):
        _, objective = _objective(model, ys[:, j])
        ev = objective._theta_evaluator()
        mod = kernel("lmm")
        x, g, H = np.array(model.theta), np.empty(len(model.theta)), \
            np.empty((len(model.theta),) * 2)
        P, fac = np.empty(objective.chol.xp.Arr.shape), np.empty(3)
        lo, hi = lower_bounds(model._frame), upper_bounds(model._frame)
        status, _, evals, _, _ = mod.newton(ev, P, model.REML, objective.ldW, x, lo, hi,
                                            NEWTON_DELTA, NEWTON_FTOL, 8, g, H, fac)
        x2 = np.array(model.theta)
        plain = mod.newton(ev, np.empty_like(P), model.REML, objective.ldW, x2, lo, hi,
                           NEWTON_DELTA, NEWTON_FTOL, 8, np.empty_like(g), np.empty_like(H))
        assert (status, evals) == (plain[0], plain[2]) and x.tobytes() == x2.tobytes()
        if status != 0:
            continue
        P2 = np.empty_like(P)
        parts = ev.factor(x, P2)
        assert P.tobytes() == P2.tobytes()
        assert fac.tobytes() == np.array(parts).tobytes()
        f = objective.chol.factorize(x)
        assert f.Lrr.tobytes() == P2.T.tobytes() and f.pwrss == fac[2]
