"""The compiled PIRLS (glmm/pirls_native.py over _native/pirls.c) against the NumPy PIRLS of
glmm/pirls.py, which it replaces by default: the same iteration (weights, blocked factor,
solve, step-halving, convergence tests) with sums in another order, so both reach the same
conditional modes to rounding. Compared at θ and starts away from the optimum, run to rounding
level (`GlmmObjective.precise`), on binomial (cbpp; crossed and random-slope simulated sets;
a crossed set with sparse and dense levels; VerbAgg's 316 x 24 crossed design; probit; no
fixed effects), Poisson (grouseticks, two grouping factors; an offset and prior
weights), Gamma (log link) and negative binomial models: penalized deviance and log|L|² to
1e-10 relative, and β, u, η, μ to 1e-10 for the canonical links (PIRLS is Newton's method
there). For the other links PIRLS is Fisher scoring, which converges linearly, and it stops
once the penalized deviance changes by ≤ 1e-15 (relative): the deviance is quadratic in the
error of the modes, so that fixes u and β only to about √1e-15 ≈ 3e-8, and the two paths'
modes agree to 1e-7. lme4's stage-2 devfun, the Laplace objective and the adaptive
Gauss–Hermite objective agree to 1e-10."""

from __future__ import annotations

import math
import pickle
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, localcontext

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import PirlsError
from mixedfx.families import Gamma, binomial, negative_binomial
from mixedfx.glmm import pirls as pirls_module
from mixedfx.glmm.objective import GlmmObjective, Lme4Devfun
from mixedfx.glmm.pirls import Pirls
from mixedfx.native import kernel

pytestmark = pytest.mark.skipif(kernel("pirls") is None,
                                reason="the compiled PIRLS kernel is not built")

REL = 1e-10
REL_FISHER = 1e-7     # modes under Fisher scoring (non-canonical links): see the module


def _simulated() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 400
    g, h = rng.integers(0, 20, n), rng.integers(0, 7, n)
    x = rng.standard_normal(n)
    eta = (0.3 + 0.5 * x + rng.normal(0, 0.5, 20)[g] + rng.normal(0, 0.3, 20)[g] * x
           + rng.normal(0, 0.4, 7)[h])
    exposure = rng.uniform(0.5, 2.0, n)
    return pd.DataFrame({"g": g.astype(str), "h": h.astype(str), "x": x,
                         "yb": rng.binomial(1, 1 / (1 + np.exp(-eta))),
                         "yp": rng.poisson(np.exp(eta)),
                         "ye": rng.poisson(exposure * np.exp(eta)),
                         "log_e": np.log(exposure), "w": rng.integers(1, 4, n).astype(float),
                         "yg": rng.gamma(2.0, np.exp(eta) / 2.0)}).assign(w2=lambda d: d.w + 1)


def _uneven() -> pd.DataFrame:
    """Crossed binomial rows whose first factor has 22 levels, two of them (5 and 13) meeting
    only the last level of the second factor (the kernel's sparse level-by-level update): the
    dense runs between them (5, 7 and 8 levels) take the kernel's dense Schur update both in
    part blocks and in a full block of eight levels."""
    rng = np.random.default_rng(11)
    g = np.repeat(np.arange(22), 30)
    h = np.where(np.isin(g, [5, 13]), 8, rng.integers(0, 9, len(g)))
    x = rng.standard_normal(len(g))
    eta = 0.2 + 0.6 * x + rng.normal(0, 0.7, 22)[g] + rng.normal(0, 0.5, 9)[h]
    return pd.DataFrame({"g": g.astype(str), "h": h.astype(str), "x": x,
                         "yb": rng.binomial(1, 1 / (1 + np.exp(-eta)))})


SIM = _simulated()
# 397 rows: not a whole number of the kernel's 4-row blocks (their one-by-one rest)
DATA = {"uneven": _uneven(), "sim397": SIM.iloc[:397]}
CASES = {
    "cbpp": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp", "binomial"),
    "grouseticks": ("TICKS ~ YEAR + HEIGHT_z + (1 | BROOD) + (1 | LOCATION)", "grouseticks",
                    "poisson"),
    "crossed_binomial": ("yb ~ x + (1 | g) + (1 | h)", None, "binomial"),
    "slopes_binomial": ("yb ~ x + (x | g) + (1 | h)", None, "binomial"),
    # two scalar terms, one of values x (not 1): the kernel's row loops with the products
    "scalar_slope_crossed": ("yb ~ x + (1 | g) + (0 + x | h)", None, "binomial"),
    "slopes_rest_poisson": ("yp ~ x + (1 | h) + (x | g)", None, "poisson"),
    "gamma_log": ("yg ~ x + (1 | g)", None, Gamma(link="log")),
    "probit": ("yb ~ x + (1 | g)", None, binomial(link="probit")),
    "negbin": ("yp ~ x + (1 | g)", None, negative_binomial(2.0)),
    "offset_weights_poisson": ("ye ~ x + offset(log_e) + (1 | g) + (1 | h)", None, "poisson"),
    # logit rows of prior weight 1 and others mixed (the run-and-row loop), and none of
    # weight 1 (the block pass), each over two blocks of rows (n = 400)
    "weights_binomial": ("yb ~ x + (1 | g) + (1 | h)", None, "binomial"),
    "weights2_binomial": ("yb ~ x + (1 | g)", None, "binomial"),
    "no_fixed_effects": ("yb ~ 0 + (1 | g)", None, "binomial"),
    # one scalar term of values x (not 1: factor_one and eta_one with the products), every
    # row of another prior weight than 1 (logit_sums); and a Poisson one (canonical_rows)
    "one_slope_term_binomial": ("yb ~ x + (0 + x | g)", "sim397", "binomial"),
    "one_term_poisson": ("yp ~ x + (1 | g)", "sim397", "poisson"),
    "uneven_crossed_binomial": ("yb ~ x + (1 | g) + (1 | h)", "uneven", "binomial"),
    "verbagg": ("r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "VerbAgg",
                "binomial"),
}
WEIGHTED = {"offset_weights_poisson": "w", "weights_binomial": "w",   # prior weights
            "weights2_binomial": "w2", "one_slope_term_binomial": "w2"}


@pytest.fixture(scope="module")
def fits() -> dict:
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (formula, data, family) in CASES.items():
            d = SIM if data is None else DATA[data] if data in DATA else \
                mfx.datasets.load(data)
            if data == "grouseticks":       # lme4's example centres and scales HEIGHT
                d = d.assign(HEIGHT_z=(d.HEIGHT - d.HEIGHT.mean()) / d.HEIGHT.std())
            w = d[WEIGHTED[name]] if name in WEIGHTED else None
            out[name] = mfx.glmer(formula, d, family=family, nAGQ=0, dispersion="lme4",
                                  weights=w)
    return out


@contextmanager
def numpy_path(pirls: Pirls) -> Iterator[None]:
    """Run the NumPy PIRLS of glmm/pirls.py instead of the compiled one."""
    native = pirls.native
    assert native is not None
    pirls.native = None
    try:
        yield
    finally:
        pirls.native = native


def close(a: np.ndarray | float, b: np.ndarray | float, rel: float = REL) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(np.all(np.abs(a - b) <= rel * (1.0 + np.max(np.abs(a), initial=0.0))))


def _start(m, shift: float, scale: float):
    """θ 30 % above the estimate; a start u = `scale`, β shifted by `shift`."""
    pl, obj = m._fit.pirls, m._fit.objective
    theta = m._fit.theta * 1.3 + 0.01
    templates = obj.templates(theta)
    start = pl.evaluate([np.full_like(u, scale) for u in m._fit.state.u],
                        m._fit.beta + shift, templates)
    return pl, obj, theta, templates, start


def assert_same_state(a, b, rel: float = REL) -> None:
    """Same penalized deviance (to 1e-10) and modes, η, μ (to `rel`)."""
    assert abs(a.pdev - b.pdev) <= REL * abs(a.pdev)
    assert close(a.beta, b.beta, rel)
    for ua, ub in zip(a.u, b.u, strict=True):
        assert ua.shape == ub.shape
        assert close(ua, ub, rel)
    assert close(a.eta, b.eta, rel)
    assert close(a.mu, b.mu, rel)


def _runs(m, update_beta: bool):
    """One PIRLS run from `_start(m, 0.05, 0.0)` by the kernel and by the NumPy path:
    (pl, θ, templates, kernel state, NumPy state)."""
    pl, obj, theta, templates, start = _start(m, 0.05, 0.0)
    assert pl.native is not None
    with obj.precise():
        c = pl.run(theta, start, update_beta, templates)
        with numpy_path(pl):
            p = pl.run(theta, start, update_beta, templates)
    return pl, theta, templates, c, p


def assert_same_factor(pl, state, theta, templates) -> None:
    """The kernel's Laplace factor at `state`'s weights equals the NumPy path's: log|L|² to
    1e-10 and the first term's blocks."""
    f_c = pl.native.factor(state, templates)
    _, f_p, _ = pl.factorize(state, theta, with_x=False)
    assert abs(f_c.ldL2 - f_p.ldL2) <= REL * max(1.0, abs(f_p.ldL2))
    assert close(f_c.L11, f_p.L11)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("update_beta", [True, False])
def test_modes_match_numpy_pirls(fits: dict, name: str, update_beta: bool) -> None:
    pl, theta, templates, c, p = _runs(fits[name], update_beta)
    rel = REL if pl.family.canonical else REL_FISHER
    assert_same_state(p, c, rel)
    # Σ log p(y | μ) is first order in the modes (the penalized deviance is stationary there)
    assert c.loglik_kernel is None or \
        abs(c.loglik_kernel - p.loglik_kernel) <= rel * abs(p.loglik_kernel)
    # the Laplace factor at the modes' weights: log|L|² and the first term's blocks
    assert_same_factor(pl, c, theta, templates)


@pytest.mark.parametrize("name", sorted(CASES))
def test_laplace_objective_and_lme4_devfun_match(fits: dict, name: str) -> None:
    m = fits[name]
    pl, obj = m._fit.pirls, m._fit.objective
    x = np.concatenate([m._fit.theta * 1.1 + 0.01, m._fit.beta + 0.02])
    laplace = GlmmObjective(pl, obj.templates, len(m._fit.theta), 1, m._fit.state)
    devfun = Lme4Devfun(laplace, m._fit.state)
    with laplace.precise():
        v_c, d_c = laplace(x), devfun(x)
        laplace.state = m._fit.state
        with numpy_path(pl):
            v_p, d_p = laplace(x), devfun(x)
    assert np.isfinite(v_p) and np.isfinite(d_p)
    assert abs(v_c - v_p) <= REL * abs(v_p)
    assert abs(d_c - d_p) <= REL * abs(d_p)


def test_thirty_terms_are_solved_by_the_kernel() -> None:
    """A model with 30 scalar terms (within the kernel's 32; its arrays are the model's 10 + 2
    per term buffers plus the call's own) is solved in C, to the NumPy path's modes."""
    rng = np.random.default_rng(8)
    n, nt = 240, 30
    d = pd.DataFrame({f"g{t}": rng.integers(0, 4, n).astype(str) for t in range(nt)})
    d["x"] = rng.standard_normal(n)
    d["y"] = rng.binomial(1, 1 / (1 + np.exp(-0.5 * d["x"].to_numpy())))
    formula = "y ~ x + " + " + ".join(f"(1 | g{t})" for t in range(nt))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.glmer(formula, d, family="binomial", nAGQ=0, control={"maxeval": 70})
    _, _, _, c, p = _runs(m, True)
    assert_same_state(p, c)


@pytest.mark.parametrize("pp", range(10))
def test_one_scalar_term_with_each_count_of_fixed_effects(pp: int) -> None:
    """One scalar term: the kernel's own factorization (`factor_one`, one unrolled loop per
    count of [X z] columns up to 8, the general path beyond) for 0-9 columns of X, many of
    them holding zeros, reaches the NumPy path's modes and Laplace factor, with β updated
    (X in the system) and fixed."""
    rng = np.random.default_rng(40 + pp)
    n = 150
    d = pd.DataFrame({"g": rng.integers(0, 12, n).astype(str)})
    xs = [f"x{c}" for c in range(max(pp - 1, 0))]
    for c, x in enumerate(xs):        # every other column zero in about a third of the rows
        d[x] = rng.standard_normal(n) * (rng.random(n) > 0.35 if c % 2 else 1.0)
    eta = 0.2 + sum(0.3 * d[x].to_numpy() for x in xs) + rng.normal(0, 0.6, 12)[
        d["g"].astype(int).to_numpy()]
    d["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    rhs = " + ".join(xs) if pp > 1 else "1" if pp == 1 else "0"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.glmer(f"y ~ {rhs} + (1 | g)", d, family="binomial", nAGQ=0)
    assert len(m._fit.beta) == pp
    for update_beta in (True, False):
        pl, theta, templates, c, p = _runs(m, update_beta)
        assert_same_state(p, c)
        assert_same_factor(pl, c, theta, templates)


def test_step_halving_matches(fits: dict) -> None:
    """From a start far from the modes the full Newton steps overshoot: both paths halve
    (the NumPy path then evaluates more often than it iterates) and agree."""
    m = fits["cbpp"]
    pl, obj, theta, templates, start = _start(m, 2.0, 1.0)
    calls = []
    evaluate = pl.evaluate
    with obj.precise(), numpy_path(pl):
        pl.evaluate = lambda *a, **k: calls.append(1) or evaluate(*a, **k)
        try:
            p = pl.run(theta, start, True, templates)
        finally:
            del pl.evaluate
    assert len(calls) > p.iterations + 3         # step-halvings took place
    with obj.precise():
        c = pl.run(theta, start, True, templates)
    assert_same_state(p, c)


def test_failures_raise_as_numpy_pirls(fits: dict) -> None:
    """Step-halvings that cannot reduce the deviance, and the iteration limit, raise
    PirlsError on both paths."""
    m = fits["cbpp"]
    pl, _, theta, templates, start = _start(m, 5.0, 1.0)
    with pytest.raises(PirlsError, match="step-halvings failed"):
        pl.run(theta, start, True, templates)
    with numpy_path(pl), pytest.raises(PirlsError, match="step-halvings failed"):
        pl.run(theta, start, True, templates)
    saved = pl.maxit
    pl.maxit = 2
    try:
        with pytest.raises(PirlsError, match="did not converge in 2"):
            pl.run(theta, start, False, templates)
        with numpy_path(pl), pytest.raises(PirlsError, match="did not converge in 2"):
            pl.run(theta, start, False, templates)
    finally:
        pl.maxit = saved


def test_adaptive_gauss_hermite_matches() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.glmer("yb ~ x + (1 | g)", SIM, family=binomial(link="cloglog"), nAGQ=9)
    pl, obj = m._fit.pirls, m._fit.objective
    x = np.concatenate([m._fit.theta * 1.2, m._fit.beta - 0.03])
    with obj.precise():
        v_c = obj(x)
        obj.state = m._fit.state
        with numpy_path(pl):
            v_p = obj(x)
    assert np.isfinite(v_p)
    assert abs(v_c - v_p) <= REL * abs(v_p)


def test_whole_fit_matches_numpy_path(fits: dict) -> None:
    """A Laplace fit of cbpp on either path: the optimizer sees objectives equal to
    rounding, so it ends at the same optimum to within its tolerance."""
    d = mfx.datasets.load("cbpp")
    formula = CASES["cbpp"][0]
    c = mfx.glmer(formula, d, family="binomial")
    orig = pirls_module.for_model
    pirls_module.for_model = lambda _: None      # every Pirls built now takes the NumPy path
    try:
        p = mfx.glmer(formula, d, family="binomial")
    finally:
        pirls_module.for_model = orig
    assert p._fit.pirls.native is None and c._fit.pirls.native is not None
    assert c._fit.objective_value == pytest.approx(p._fit.objective_value, rel=1e-10)
    np.testing.assert_allclose(c.beta, p.beta, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c.theta, p.theta, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.diag(c.vcov), np.diag(p.vcov), rtol=1e-4)


def test_pickled_fit_rebuilds_the_kernel_arrays(fits: dict) -> None:
    m = fits["crossed_binomial"]
    pl = m._fit.pirls
    pl.native.model()                              # built before pickling ...
    back = pickle.loads(pickle.dumps(m))
    assert back._fit.pirls.native._model is None   # ... and not stored
    x = np.concatenate([m._fit.theta, m._fit.beta])
    obj, obj2 = m._fit.objective, back._fit.objective
    obj2.state = obj.state = m._fit.state
    with obj.precise(), obj2.precise():
        assert obj2(x) == pytest.approx(obj(x), rel=REL)


@pytest.mark.parametrize("name", ["cbpp", "crossed_binomial", "slopes_binomial"])
def test_factor_at_the_mode_from_the_run_call(fits: dict, name: str) -> None:
    """`run(..., refactor_above)` forms the Laplace factor at the mode's weights in the same
    call: the same bits as `factor(state)` afterwards, and lag 0."""
    m = fits[name]
    pl, _obj, _theta, templates, start = _start(m, 0.05, 0.0)
    nat = pl.native
    lagged = nat.run(start.u, start.beta, True, templates)
    fresh = nat.run(start.u, start.beta, True, templates, -1.0)
    assert fresh.lag == 0.0 and fresh.pdev == lagged.pdev
    again = nat.factor(fresh, templates)
    assert fresh.factor.ldL2 == again.ldL2
    np.testing.assert_array_equal(fresh.factor.L11, again.L11)


@pytest.mark.parametrize("name", ["cbpp", "crossed_binomial", "slopes_binomial", "verbagg"])
def test_a_start_at_the_mode_is_returned_with_its_own_factor(fits: dict, name: str) -> None:
    """From a start whose Newton step is below the step tolerance (the modes PIRLS just
    found), both paths return the start itself (no step evaluated, no iteration counted) with
    the factor formed at its own weights (lag 0): in the kernel the same bits as
    `factor(state)`."""
    m = fits[name]
    pl, _obj, theta, templates, start = _start(m, 0.05, 0.0)
    mode = pl.run(theta, start, False, templates)
    again = pl.run(theta, mode, False, templates)
    assert again.lag == 0.0 and again.iterations == 0
    assert again.beta.tobytes() == mode.beta.tobytes()
    assert all(a.tobytes() == b.tobytes() for a, b in zip(again.u, mode.u, strict=True))
    assert again.pdev == mode.pdev
    at_mode = pl.native.factor(again, templates)
    assert again.factor.ldL2 == at_mode.ldL2
    np.testing.assert_array_equal(again.factor.L11, at_mode.L11)
    with numpy_path(pl):
        np_mode = pl.run(theta, start, False, templates)
        kept = (np_mode.iterations, np_mode.factor, np_mode.lag)
        np_again = pl.run(theta, np_mode, False, templates)
    assert np_again is not np_mode     # the caller's start is not changed
    assert (np_mode.iterations, np_mode.factor, np_mode.lag) == kept
    assert np_again.lag == 0.0 and np_again.iterations == 0
    assert all(a is b for a, b in zip(np_again.u, np_mode.u, strict=True))
    assert_same_state(np_again, again)


def _exp_neg(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    kernel("pirls").exp_neg(np.ascontiguousarray(x), out)
    return out


def _exp_points(n: int, seed: int) -> np.ndarray:
    """x in [-30, 0]: uniform, dense near 0 (|eta| small) and the ends."""
    rng = np.random.default_rng(seed)
    return np.concatenate([-30.0 * rng.random(n // 2), -3.0 * rng.random(n // 2) ** 3,
                           [0.0, -0.0, -30.0, -math.log(2) / 256, -math.log(2)]])


def test_logit_exp_is_within_half_an_ulp_of_exp() -> None:
    """The kernel's exp on [-30, 0] (Tang's table method, pirls.c `exp_neg`): its error before
    the final rounding is below 2e-18 relative, so the result is within 0.51 ulp of the exact
    exp (here: 60-digit decimal arithmetic); exp(0) = exp(-0) = 1."""
    x = _exp_points(6000, 5)
    got = _exp_neg(x)
    with localcontext() as ctx:
        ctx.prec = 60
        exact = [Decimal(v).exp() for v in x.tolist()]
        worst = max(abs(Decimal(g) - e) / Decimal(math.ulp(float(e)))
                    for g, e in zip(got.tolist(), exact, strict=True))
    assert worst <= Decimal("0.51")
    assert got[-5] == got[-4] == 1.0


def test_logit_exp_agrees_with_libm_to_one_ulp() -> None:
    """Against the C library's exp (within about half an ulp itself) the kernel's exp differs
    by at most one ulp, and in few values at all; the vector blocks and the scalar tail give
    the same bits (one value dropped shifts every row's place in its block)."""
    x = _exp_points(200_000, 6)
    got = _exp_neg(x)
    ref = np.array([math.exp(v) for v in x.tolist()])
    ulps = np.abs(got - ref) / np.spacing(ref)
    assert ulps.max() <= 1.0 and np.mean(ulps > 0) < 0.01
    np.testing.assert_array_equal(_exp_neg(x[1:]), got[1:])
    with pytest.raises(ValueError, match="in \\[-30, 0\\]"):
        _exp_neg(np.array([-1.0, 0.5]))


def test_a_fit_engine_is_freed_without_the_cyclic_collector() -> None:
    """The engine and its kernel binding form no reference cycle: dropping a fitted model
    frees its PIRLS engine at once (no garbage left for the cyclic collector), and a
    pickled model's binding reaches its own engine."""
    import gc
    import weakref

    data = mfx.datasets.load("cbpp")
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    m = mfx.glmer(formula, data=data, family="binomial")
    engine = m._fit.pirls
    assert engine.native is not None and engine.native.pirls is engine
    copy = pickle.loads(pickle.dumps(m))
    assert copy._fit.pirls.native.pirls is copy._fit.pirls
    assert copy.loglik == m.loglik
    ref = weakref.ref(engine)
    enabled = gc.isenabled()
    gc.disable()
    try:
        del m, engine
        assert ref() is None
    finally:
        if enabled:
            gc.enable()
