"""The GLMM optimizer runs and derivative points from compiled code (glmm.native_loop): the
same values, the same optimizer path and so the same bits as NLopt calling the objective
through Python; models the loop does not serve fall back to the Python loop."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx import datasets
from mixedfx.errors import ArgumentError
from mixedfx.glmm import native_loop
from mixedfx.glmm import whitening as glmm_whitening
from mixedfx.glmm.objective import GlmmObjective, Lme4Devfun, carry_block
from mixedfx.glmm.theta_templates import ThetaTemplates
from mixedfx.glmm.whitening import Whitening, lower_inverse
from mixedfx.optimize.derivatives import DERIV12_DELTA, central_gradient, forward_hessian

pytestmark = pytest.mark.skipif(native_loop._bind() is None,
                                reason="compiled kernel or NLopt's C functions unavailable")

CBPP = datasets.load("cbpp")
TICKS = datasets.load("grouseticks")
CBPP_F = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def _slopes() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    g = rng.integers(0, 12, 300)
    x = rng.normal(size=300)
    eta = -0.3 + 0.6 * x + rng.normal(0, 0.7, 12)[g] + rng.normal(0, 0.4, 12)[g] * x
    return pd.DataFrame({"y": rng.binomial(1, 1 / (1 + np.exp(-eta))), "x": x,
                         "g": g.astype(str)})


def _glmer(formula, data, **kw):
    return mfx.glmer(formula, data, **kw)


CASES = [
    (_glmer, CBPP_F, CBPP, {"family": "binomial"}),
    (_glmer, CBPP_F, CBPP, {"family": "binomial", "nAGQ": 0}),
    (_glmer, CBPP_F, CBPP, {"family": "binomial", "nAGQ": 9}),
    (_glmer, CBPP_F, CBPP, {"family": mfx.families.binomial(link="probit")}),
    (_glmer, CBPP_F, CBPP, {"family": "binomial",
                            "start": {"theta": [0.6], "fixef": [-1.4, -1.0, -1.1, -1.6]}}),
    (_glmer, "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", TICKS,
     {"family": "poisson"}),
    # a 2 x 2 template (the carry's forward substitution) and a diagonal one
    (_glmer, "y ~ x + (x | g)", _slopes(), {"family": "binomial"}),
    (_glmer, "y ~ x + (x || g)", _slopes(), {"family": "binomial"}),
    (lambda f, d, **kw: mfx.glmer_nb(f, d, **kw), "TICKS ~ YEAR + (1 | BROOD)", TICKS, {}),
]


def _record(case) -> tuple:
    fit_fn, formula, data, kw = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = fit_fn(formula, data, **kw)
    f = m._fit
    arrays = [f.theta, f.beta, [f.objective_value], f.state.mu, *f.state.u]
    arrays += [a for a in (f.gradient, f.hessian) if a is not None]
    evals = (f.stage1.evaluations, None if f.stage2 is None else f.stage2.evaluations,
             f.objective.evaluations)
    restarts = (f.stage1.restarts, None if f.stage2 is None else f.stage2.restarts)
    return (tuple(np.asarray(a, dtype=float).tobytes() for a in arrays), evals, restarts,
            f.messages)


def _python_path(monkeypatch) -> None:
    monkeypatch.setattr(GlmmObjective, "minimize_natively", lambda self, *a, **kw: None)
    monkeypatch.setattr(GlmmObjective, "evaluate_many", lambda self, points: None)
    monkeypatch.setattr(Lme4Devfun, "evaluate_many", lambda self, points: None)
    monkeypatch.setattr(native_loop, "post_optimum", lambda *a: None)


@pytest.fixture(scope="module")
def native_records() -> list[tuple]:
    return [_record(c) for c in CASES]


@pytest.mark.parametrize("i", range(len(CASES)))
def test_compiled_loop_equals_the_python_loop_bit_for_bit(native_records, monkeypatch,
                                                         i) -> None:
    _python_path(monkeypatch)
    assert _record(CASES[i]) == native_records[i]


def _spy(monkeypatch) -> list[tuple[str, bool]]:
    calls: list[tuple[str, bool]] = []
    for name in ("minimize", "values", "devfun_values", "post_optimum"):
        real = getattr(native_loop, name)

        def spy(*a, _real=real, _name=name, **kw):
            out = _real(*a, **kw)
            calls.append((_name, out is not None))
            return out
        monkeypatch.setattr(native_loop, name, spy)
    return calls


def test_the_compiled_loop_serves_both_stages_and_the_derivatives(monkeypatch) -> None:
    calls = _spy(monkeypatch)
    _record(CASES[0])
    assert calls == [("minimize", True), ("minimize", True), ("post_optimum", True)]


def test_a_fit_takes_stage_ones_end_evaluation_and_factor_from_the_run(monkeypatch) -> None:
    taken = []
    real = native_loop.take_end

    def spy(obj, x):
        rec = real(obj, x)
        taken.append(rec is not None and rec.M is not None)
        return rec
    monkeypatch.setattr(native_loop, "take_end", spy)
    _record(CASES[0])
    assert taken == [True]


@pytest.mark.parametrize("i", [0, 5, 6])
def test_the_stage_two_runs_end_point_mapped_in_c_is_the_whitenings(monkeypatch, i) -> None:
    """The compiled stage-2 run maps its end point to (θ, β) (`Whitening.remember`): the
    bits `Whitening.__call__` computes, and the fit takes them."""
    seen = []
    real = Whitening.remember

    def spy(self, z, x):
        seen.append((self, z, x))
        real(self, z, x)
    monkeypatch.setattr(Whitening, "remember", spy)
    _record(CASES[i])
    assert len(seen) == 1
    w, z, x = seen[0]
    assert w._known is None                    # taken by the fit
    assert w(z.copy()).tobytes() == x.tobytes()


def test_the_separate_derivative_calls_give_the_one_calls_bits(native_records,
                                                              monkeypatch) -> None:
    """Without `post_optimum` the value, gradient and devfun Hessian come from `values` and
    `devfun_values` (compiled, one call each): the same fit."""
    monkeypatch.setattr(native_loop, "post_optimum", lambda *a: None)
    calls = _spy(monkeypatch)
    assert _record(CASES[0]) == native_records[0]
    assert ("values", True) in calls and ("devfun_values", True) in calls


@pytest.fixture(scope="module")
def post_fits() -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"cbpp": mfx.glmer(CBPP_F, CBPP, family="binomial")._fit,
                "offset": mfx.glmer("incidence ~ period + (1 | herd)",
                                    CBPP.assign(lsize=np.log(CBPP["size"]) - 0.1),
                                    family="poisson", offset="lsize")._fit}


@pytest.mark.parametrize("coord", [-0.0, 0.0, -DERIV12_DELTA, DERIV12_DELTA, 0.3])
@pytest.mark.parametrize("at", [0, 2])
@pytest.mark.parametrize("model", ["cbpp", "offset"])
def test_post_optimum_is_the_separate_calls_bit_for_bit(post_fits, coord, at, model) -> None:
    """`post_optimum` builds the points, differences and the devfun's start η₀ = offset +
    (η₁ − offset) in C: the value, central gradient, devfun forward Hessian, states and
    evaluation count of `obj(x)`, `central_gradient` and `forward_hessian` (points built by
    optimize.derivatives, η₀ by `Lme4Devfun.eta0_rows`) bit for bit, also with a coordinate
    at −0, +0 or ∓δ (where x + 0, x − 0 and x ± δ round or sign differently)."""
    f = post_fits[model]
    x = np.concatenate([f.theta, f.beta])
    x[at] = coord
    a, b = f.objective.detached(), f.objective.detached()
    a.evaluations = b.evaluations = 0
    with a.precise():
        value, state, g, H, finish = native_loop.post_optimum(a, Lme4Devfun(a, f.state), x)
        at_x = a.state
        finish()
    with b.precise():
        expected = b(x)
        at_x_b = b.state
        gb = central_gradient(b, x)
        db = Lme4Devfun(b, f.state)
        Hb = forward_hessian(db, x, many=db.evaluate_many)
    assert np.float64(value).tobytes() == np.float64(expected).tobytes()
    assert g.tobytes() == gb.tobytes() and H.tobytes() == Hb.tobytes()
    assert np.all(np.isfinite(H))
    assert state is at_x and at_x.mu.tobytes() == at_x_b.mu.tobytes()
    assert a.state.u[0].tobytes() == b.state.u[0].tobytes()
    assert a.state.mu.tobytes() == b.state.mu.tobytes()
    assert a.evaluations == b.evaluations == 1 + 2 * len(x)


def test_a_post_optimum_call_only_python_handles_leaves_the_objective_untouched(
        native_records, monkeypatch) -> None:
    """`loop_post` stopping with LOOP_PYTHON: nothing adopted, the sequence runs again
    through the separate calls, for the same fit."""
    mod = native_loop._loop_kernel()

    class Stopping:
        def __getattr__(self, name):
            return getattr(mod, name)

        def loop_post(self, *args):
            out = mod.loop_post(*args)
            return (out[0], native_loop.LOOP_PYTHON, out[2], None, None)

    monkeypatch.setattr(native_loop, "_loop_kernel", lambda: Stopping())
    calls = _spy(monkeypatch)
    assert _record(CASES[0]) == native_records[0]
    assert ("post_optimum", False) in calls and ("values", True) in calls


@pytest.mark.parametrize("formula,data,family", [
    # no log-likelihood kernel in C (the Gamma family's aic needs its dispersion)
    ("y ~ x + (1 | g)", "gamma", "Gamma"),
    # a structured covariance: Λ is not a 0/1 map of θ
    ("r2 ~ Anger + ar1(0 + btype | id)", "verbagg", "binomial"),
])
def test_models_the_loop_does_not_serve_fit_in_python(monkeypatch, formula, data,
                                                      family) -> None:
    if data == "gamma":
        rng = np.random.default_rng(3)
        g = rng.integers(0, 10, 200)
        d = pd.DataFrame({"x": rng.normal(size=200), "g": g.astype(str)})
        d["y"] = rng.gamma(2.0, np.exp(0.5 + 0.3 * d.x + rng.normal(0, 0.4, 10)[g]) / 2.0)
    else:
        d = datasets.load("VerbAgg")
        d = d[d["id"].astype(int) <= 60]
    calls = _spy(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.glmer(formula, d, family=family)
    assert np.isfinite(m.loglik)
    assert calls and not any(served for _, served in calls)


def test_a_case_only_python_handles_reruns_the_stage_in_python(monkeypatch) -> None:
    """A run the kernel stops with LOOP_PYTHON leaves the objective untouched and the driver
    runs NLopt through Python from the same start: the same fit."""
    expected = _record(CASES[0])
    mod = native_loop._bind()

    class Stopping:
        def __getattr__(self, name):
            return getattr(mod, name)

        def loop_minimize(self, *args):
            out = mod.loop_minimize(*args)
            return (*out[:4], native_loop.LOOP_PYTHON, *out[5:])

    monkeypatch.setattr(native_loop, "_bind", lambda: Stopping())
    calls = _spy(monkeypatch)
    assert _record(CASES[0]) == expected
    assert ("minimize", False) in calls


def test_carry_block_is_the_triangular_solve() -> None:
    rng = np.random.default_rng(1)
    T_old = np.tril(rng.normal(size=(3, 3))) + 2 * np.eye(3)
    T_new = np.tril(rng.normal(size=(3, 3))) + 2 * np.eye(3)
    u = rng.normal(size=(7, 3))
    np.testing.assert_allclose(carry_block(u, T_old, T_new),
                               np.linalg.solve(T_new, T_old @ u.T).T, rtol=1e-12, atol=1e-14)
    singular = T_new.copy()
    singular[1, 1] = 0.0
    assert carry_block(u, T_old, singular) is u


def test_whitening_is_beta1_plus_m_gamma() -> None:
    rng = np.random.default_rng(2)
    M = np.triu(rng.normal(size=(4, 4)))
    w = Whitening(2, rng.normal(size=4), M)
    z = rng.normal(size=6)
    np.testing.assert_allclose(w(z), np.concatenate([z[:2], w.beta1 + M @ z[2:]]),
                               rtol=1e-13, atol=1e-15)
    assert Whitening(2, np.zeros(0), None)(z[:2]) is not None


def test_forward_hessian_points_in_one_call_give_the_same_hessian() -> None:
    def f(x: np.ndarray) -> float:
        return float(np.exp(x[0]) * x[1] ** 2 + np.sin(x[0] * x[2]))

    x = np.array([0.3, -1.2, 0.7])
    seen = []

    def many(points):
        seen.append(points.shape)
        return np.array([f(p) for p in points])

    H = forward_hessian(f, x)
    assert np.array_equal(forward_hessian(f, x, many=many), H)
    assert seen == [(1 + 3 + 6, 3)]
    assert np.array_equal(forward_hessian(f, x, fx=f(x), many=lambda p: None), H)


def test_lower_inverse_inverts() -> None:
    rng = np.random.default_rng(4)
    L = np.tril(rng.normal(size=(5, 5))) + 3 * np.eye(5)
    np.testing.assert_allclose(lower_inverse(L) @ L, np.eye(5), atol=1e-13)


def test_whitening_and_lower_inverse_are_the_elementwise_numpy_bits() -> None:
    """The Python-float forms do the IEEE operations of NumPy's elementwise row operations,
    in the same order."""
    rng = np.random.default_rng(5)
    for p in (1, 2, 4, 7):
        L = np.tril(rng.normal(size=(p, p))) + 2 * np.eye(p)
        rows: list[np.ndarray] = []
        for i in range(p):
            s = np.eye(p)[i]
            for c in range(i):
                s = s - L[i, c] * rows[c]
            rows.append(s / L[i, i])
        assert lower_inverse(L).tobytes() == np.array(rows).tobytes()
        M, beta1, z = rng.normal(size=(p, p)), rng.normal(size=p), rng.normal(size=2 + p)
        acc = M[:, 0] * z[2]
        for j in range(1, p):
            acc = acc + M[:, j] * z[2 + j]
        expected = np.concatenate([z[:2], beta1 + acc])
        assert Whitening(2, beta1, M)(z).tobytes() == expected.tobytes()


def test_compiled_whitening_matrix_is_the_python_one(monkeypatch) -> None:
    """The kernel's M = L_XX⁻ᵀ (`whitening_t`) is the Python forward substitution's bit for
    bit — negative and tiny diagonals, −0 entries — and both refuse the same blocks: an
    entry not finite or a zero diagonal in L_XX, or M overflowing."""
    mod = native_loop._loop_kernel()
    assert mod is not None and hasattr(mod, "whitening_t")
    rng = np.random.default_rng(12)
    blocks = []
    for p in (1, 2, 3, 4, 7):
        for _ in range(20):
            r = p + rng.integers(0, 4)
            q = rng.integers(0, r - p + 1)
            Lrr = rng.normal(size=(r, r)) * 10.0 ** rng.integers(-3, 4, size=(r, r))
            d = np.arange(q, q + p)
            Lrr[d, d] *= rng.choice([1.0, -1.0, 1e-200], size=p, p=[0.7, 0.2, 0.1])
            Lrr[q + rng.integers(p), q] = -0.0
            blocks.append((Lrr, q, p))
        Lrr = np.eye(p + 1)
        for bad in (math.nan, math.inf, 0.0):
            B = Lrr.copy()
            B[p, 1 if p > 1 else 0] = bad if bad != 0.0 else B[p, 1 if p > 1 else 0]
            B[rng.integers(1, p + 1), rng.integers(1, p + 1)] = bad
            blocks.append((B, 1, p))
    compiled = [glmm_whitening._whitening_matrix(L, q, p) for L, q, p in blocks]
    monkeypatch.setattr(glmm_whitening, "kernel", lambda name: None)
    python = [glmm_whitening._whitening_matrix(L, q, p) for L, q, p in blocks]
    refused = 0
    for a, b in zip(compiled, python, strict=True):
        assert (a is None) == (b is None)
        refused += a is None
        assert a is None or a.tobytes() == b.tobytes()
    assert 5 < refused < len(blocks) - 50
    with pytest.raises(ValueError, match="block at"):
        mod.whitening_t(np.eye(3), 2, 2, np.empty((2, 2)))


@pytest.mark.parametrize("formula,data,family", [
    (CBPP_F, CBPP, "binomial"),
    ("TICKS ~ YEAR + cHEIGHT + (1 | BROOD)", TICKS, "poisson"),
])
def test_compiled_starting_glm_is_the_least_squares_one(formula, data, family) -> None:
    """The kernel's IRLS (Householder least squares; canonical links) reaches R's glm.fit β,
    as the SVD least squares of the NumPy loop does, to rounding."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.glmer(formula, data, family=family)
    pirls = m._fit.pirls
    templates = m._fit.objective.templates(m._fit.theta)
    compiled = pirls.initial_state(templates)
    native, pirls.native = pirls.native, None
    try:
        numpy_path = pirls.initial_state(templates)
    finally:
        pirls.native = native
    np.testing.assert_allclose(compiled.beta, numpy_path.beta, rtol=1e-10, atol=1e-12)
    assert compiled.pdev == pytest.approx(numpy_path.pdev, rel=1e-12)


def test_unevaluated_start_is_the_evaluated_one_without_its_rows() -> None:
    """`initial_state(evaluate=False)` (the fit's start when the compiled PIRLS serves): the
    same u = 0 and β bits, without η, μ and the deviance, which the kernel does not read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.glmer(CBPP_F, CBPP, family="binomial")
    pirls = m._fit.pirls
    templates = m._fit.objective.templates(m._fit.theta)
    full = pirls.initial_state(templates)
    bare = pirls.initial_state(None, evaluate=False)
    assert bare.beta.tobytes() == full.beta.tobytes()
    assert [u.tobytes() for u in bare.u] == [u.tobytes() for u in full.u]
    assert bare.eta is None and bare.mu is None and np.isnan(bare.dev_resid_sum)
    assert bare.ussq == full.ussq == 0.0
    with pytest.raises(ArgumentError, match="templates=None needs evaluate=False"):
        pirls.initial_state(None)


def test_fits_in_a_thread_pool_are_the_serial_fits(native_records) -> None:
    """The loop releases the GIL around each PIRLS solve: concurrent fits share nothing."""
    from concurrent.futures import ThreadPoolExecutor

    picks = [0, 5, 6, 0, 5, 6]
    with ThreadPoolExecutor(max_workers=3) as pool:
        got = list(pool.map(lambda i: _record(CASES[i]), picks))
    assert got == [native_records[i] for i in picks]


def test_more_terms_than_a_loop_call_takes_fit_in_python(monkeypatch) -> None:
    rng = np.random.default_rng(8)
    k = native_loop.MAX_TERMS + 1
    d = pd.DataFrame({f"g{j}": rng.integers(0, 3, 120).astype(str) for j in range(k)})
    d["y"] = rng.poisson(2.0, 120)
    formula = "y ~ 1 + " + " + ".join(f"(1 | g{j})" for j in range(k))
    calls = _spy(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.glmer(formula, d, family="poisson", nAGQ=0)
    assert np.isfinite(m.loglik)
    assert calls and not any(served for _, served in calls)


def test_points_after_failed_solves_are_the_python_objectives() -> None:
    # the loop keeps its factors and iterates from one solve to the next: solves that fail
    # (mu overflows at beta + 800: +inf) or sit on the boundary (theta = 0) leave nothing that
    # changes the next point's value, which equals the Python objective's point by point
    def objective() -> GlmmObjective:
        return mfx.glmer("TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", TICKS,
                         family="poisson")._fit.objective

    native, python = objective(), objective()
    x0 = np.concatenate([[1.0, 0.3], native.state.beta])
    shift = np.array([[0, 0, 0, 0, 0], [0, 0, 800, 0, 0], [0, 0, 0, 0, 0], [50, 0, 0, 0, 0],
                      [-1, 0, 0, 0, 0], [0, 0, 0, -900, 700], 0.01 * x0])
    points = x0 + shift
    got = native.evaluate_many(points)
    assert got is not None and np.isinf(got[[1, 5]]).all() and np.isfinite(got[[0, 2, 6]]).all()
    want = np.array([python(x) for x in points])
    assert got.tobytes() == want.tobytes()


def _guarded_run(objective, x0, lower, upper) -> tuple:
    """What the driver's run from x0 gives (x, f, code as bytes), or its error, and the
    objective's evaluations in it."""
    from mixedfx.errors import ConvergenceError
    from mixedfx.optimize import Control
    from mixedfx.optimize.driver import _run_nlopt

    before = objective.evaluations
    try:
        x, fx, code = _run_nlopt(objective, x0, lower, upper, Control())
        out: tuple = (np.asarray(x).tobytes(), fx, code)
    except ConvergenceError as e:
        out = ("error", str(e))
    return out, objective.evaluations - before


@pytest.mark.parametrize("trapped", [False, True])
def test_the_loops_guard_runs_as_the_python_guard(monkeypatch, trapped) -> None:
    """Values of +∞ (PIRLS fails: μ overflows with the intercept 800 up) pass the compiled
    loop's guard as `optimize.driver._Guard`: starting there, the run finds the finite values
    (the streak of +∞ broken, the best point kept) and ends where the Python run ends, bit
    for bit; with the intercept held in [790, 810] every value is +∞ and the first ones (here
    5) stop both runs with the same error."""
    from mixedfx.optimize import driver

    if trapped:
        monkeypatch.setattr(driver, "INF_STREAK", 5)

    def objective() -> GlmmObjective:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mfx.glmer("TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", TICKS,
                             family="poisson")._fit.objective

    obj = objective()
    x0 = np.concatenate([[1.0, 0.3], obj.state.beta])
    x0[2] += 800.0
    lower = np.array([0.0, 0.0, 790.0 if trapped else -np.inf, -np.inf, -np.inf])
    upper = np.array([np.inf, np.inf, 810.0 if trapped else np.inf, np.inf, np.inf])
    assert np.isinf(obj(x0))
    native = _guarded_run(objective(), x0, lower, upper)
    _python_path(monkeypatch)
    python = _guarded_run(objective(), x0, lower, upper)
    assert native == python
    if trapped:
        assert native == (("error", native[0][1]), 5) and "first 5" in native[0][1]
    else:
        assert native[0][0] != "error" and np.isfinite(native[0][1]) and native[1] > 11


def _stage1(formula, data, family, nagq: int = 1):
    """Stage 1 of a fit as fit_glmm runs it: the objective, the driver's result and the
    run's end record (the driver's NLopt run compiled, with the end evaluation asked)."""
    from mixedfx.glmm import fit as glmm_fit
    from mixedfx.optimize import Control, optimize_theta

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.glmer(formula, data, family=family, nAGQ=nagq)
    f = m._fit
    pirls = f.pirls
    lower = f.lower
    templates = ThetaTemplates(pirls.terms)
    init = pirls.initial_state(None, evaluate=False)
    pirls.step_tol = glmm_fit.STAGE1_STEP_TOL
    obj = GlmmObjective(pirls, templates, len(f.theta), 0, init)
    obj.end_request = (glmm_fit.STAGE2_STEP_TOL, True)
    control = glmm_fit._stage_control(Control(), False, glmm_fit.STAGE1_XTOL)
    res = optimize_theta(obj, np.where(lower == 0, 1.0, 0.0), lower, control, 100)
    pirls.step_tol = glmm_fit.STAGE2_STEP_TOL
    return obj, res, templates


@pytest.mark.parametrize("formula,data,family", [
    (CBPP_F, CBPP, "binomial"),
    ("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", TICKS, "poisson"),
    ("y ~ x + (x | g)", _slopes(), "binomial"),
])
def test_the_runs_end_evaluation_is_the_next_call(formula, data, family) -> None:
    """Stage 1's optimum evaluated again by the compiled run (`end_request`, `take_end`):
    the value, state and count of the Python call `obj(x)` from the state the run left, and
    the whitening's L_XX⁻ᵀ of the factor with X there as `whitening.whitening` forms it from
    `NativePirls.factor(state, templates, with_x=True)`, bit for bit."""
    from mixedfx.glmm.whitening import whitening

    obj, res, templates = _stage1(formula, data, family)
    assert obj.end_record is not None and obj.deferred_state is not None
    # a twin with the same settings and the state the run left (built from its buffers)
    python = object.__new__(GlmmObjective)
    python.__dict__.update(obj.__dict__)
    python.end_record = python.end_request = None
    value = python(res.x)
    rec = native_loop.take_end(obj, res.x)
    assert rec is not None and obj.end_record is None and obj.end_request is None
    assert rec.value == value and obj.evaluations == python.evaluations
    a, b = obj.state, python.state
    assert a.beta.tobytes() == b.beta.tobytes() and a.eta.tobytes() == b.eta.tobytes()
    assert [u.tobytes() for u in a.u] == [u.tobytes() for u in b.u]
    assert (a.dev_resid_sum, a.ussq, a.iterations, a.lag, a.factor.ldL2) == \
        (b.dev_resid_sum, b.ussq, b.iterations, b.lag, b.factor.ldL2)
    M = whitening(obj.pirls, b, res.x, len(res.x), templates=templates).M
    assert rec.M.tobytes() == M.tobytes()


def test_an_evaluation_after_the_run_voids_its_end_record() -> None:
    """The end evaluation is taken only as the objective's next one at the run's end point
    with the settings it ran with; otherwise `take_end` gives None (the caller evaluates)."""
    from mixedfx.glmm import fit as glmm_fit

    obj, res, _ = _stage1(CBPP_F, CBPP, "binomial")
    obj(res.x)                                  # an evaluation in between
    assert native_loop.take_end(obj, res.x) is None and obj.end_record is None
    obj, res, _ = _stage1(CBPP_F, CBPP, "binomial")
    assert native_loop.take_end(obj, res.x + 1e-3) is None      # another point
    obj, res, _ = _stage1(CBPP_F, CBPP, "binomial")
    obj.pirls.step_tol = glmm_fit.STAGE1_STEP_TOL                # other settings
    assert native_loop.take_end(obj, res.x) is None
    obj, res, _ = _stage1(CBPP_F, CBPP, "binomial")
    assert native_loop.take_end(obj, res.x.copy()) is not None  # the same point's bits


def test_a_runs_state_is_built_when_read_and_starts_the_next_call_as_built() -> None:
    """After a compiled run the objective's state waits in the kernel's buffers
    (`deferred_state`): the next compiled call starts from those buffers as from the built
    state, and reading `state`, pickling or detaching the objective builds it."""
    import pickle

    obj = _stage1(CBPP_F, CBPP, "binomial")[0]
    loop = native_loop._Loop(obj, native_loop.X_THETA)
    raw = loop.start()
    assert obj.deferred_state is not None
    built = loop.start(obj.deferred_state())
    assert [a.tobytes() for a in raw] == [a.tobytes() for a in built]
    again = pickle.loads(pickle.dumps(obj))
    assert obj.deferred_state is None and again.deferred_state is None
    assert again.state.beta.tobytes() == obj.state.beta.tobytes()
    assert [u.tobytes() for u in again.state.u] == [u.tobytes() for u in obj.state.u]
    obj = _stage1(CBPP_F, CBPP, "binomial")[0]
    twin = obj.detached()
    assert obj.deferred_state is None and twin.state is obj.state
    # stage 2's objective, lent the taken state's buffer: the same start, the same state
    obj, res, templates = _stage1(CBPP_F, CBPP, "binomial")
    rec = native_loop.take_end(obj, res.x)
    stage2 = GlmmObjective(obj.pirls, templates, 1, 1, obj.state)
    rec.lend(stage2)
    loop = native_loop._Loop(stage2, native_loop.X_THETA_BETA)
    assert [a.tobytes() for a in loop.start()] == \
        [a.tobytes() for a in loop.start(obj.state)]
    assert stage2.state is obj.state and stage2.deferred_state is None
