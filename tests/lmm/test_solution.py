"""β̂ at once, u and b on first access; M₁₁ and L₁₁ on first access when the compiled kernel
factored: the same numbers as the eager NumPy path. The one-solve form for a large dense block
(Lᵀ[u; β; −1] = [0; 0; −l_yy] with the whole factor, no copy of L_zz) equals the two-step form."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import mixedfx as mfx
from mixedfx import datasets
from mixedfx.lmm import solution
from mixedfx.lmm.factorization import BlockedCholesky
from mixedfx.lmm.fit import build_objective
from mixedfx.lmm.solution import random_effects, solve

SL = datasets.load("sleepstudy")
PEN = datasets.load("Penicillin")


@pytest.fixture(scope="module", params=[
    ("Reaction ~ Days + (Days | Subject)", SL),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", PEN),
    ("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", SL),
])
def model(request):
    return mfx.lmer(*request.param)


def test_lazy_first_block_equals_the_eager_one(model) -> None:
    fit = model._fit
    f = fit.factor
    assert not isinstance(f.first, tuple)           # not computed at the fit
    M11, L11, _, _ = fit.chol.first_block(f.templates[0])
    assert f.M11.tobytes() == M11.tobytes()
    assert f.L11.tobytes() == L11.tobytes()
    # the NumPy path computes them eagerly, with the same numbers
    eager = BlockedCholesky(fit.chol.terms, fit.chol.xp).factorize(fit.theta)
    assert isinstance(eager.first, tuple)
    np.testing.assert_array_equal(eager.M11, f.M11)


def test_lazy_effects_equal_the_eager_solution(model) -> None:
    fit = model._fit
    sol = fit.solution
    assert "_effects" not in sol.__dict__             # u, b not computed at the fit
    chol = BlockedCholesky(fit.chol.terms, fit.chol.xp)  # NumPy path, eager first block
    f = chol.factorize(fit.theta)
    eager = solve(chol, f)
    np.testing.assert_allclose(eager.beta, sol.beta, rtol=1e-12)
    u, b = random_effects(chol, f, eager.beta)
    for got, want in zip(sol.u + sol.b, u + b, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert sol.ussq == pytest.approx(sum(float(np.sum(x * x)) for x in u), rel=1e-12)
    assert sol.wrss == pytest.approx(sol.pwrss - sol.ussq)
    assert sol.u is sol.u                              # computed once, then kept


def test_a_pickled_fit_computes_its_effects_on_its_own() -> None:
    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", SL)
    copy = pickle.loads(pickle.dumps(m))
    assert "_effects" not in copy._fit.solution.__dict__
    for got, want in zip(copy._fit.solution.b, m._fit.solution.b, strict=True):
        assert got.tobytes() == want.tobytes()
    assert copy.ranef()["Subject"].equals(m.ranef()["Subject"])


@pytest.mark.parametrize(("formula", "data"), [
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin"),
    ("Reaction ~ Days + (Days | Subject) + (1 | Days)", "sleepstudy"),
])
def test_the_whole_factor_solve_equals_the_two_step_solve(formula, data, monkeypatch) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.lmer(formula, mfx.datasets.load(data))
    obj = build_objective(m.frame, True)
    f = obj.chol.factorize(np.asarray(m.theta) * 1.1 + 0.05)
    assert f.Lrr.flags.f_contiguous
    monkeypatch.setattr(solution, "WHOLE_SOLVE_MIN", 0)
    whole = solution.solve(obj.chol, f)
    monkeypatch.setattr(solution, "WHOLE_SOLVE_MIN", 10**9)
    steps = solution.solve(obj.chol, f)
    np.testing.assert_allclose(whole.beta, steps.beta, rtol=1e-12)
    for a, b in zip(whole.u, steps.u, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12 * np.abs(b).max())
    assert abs(whole.ussq - steps.ussq) <= 1e-11 * steps.ussq


def test_compiled_triangular_solve_is_lapacks() -> None:
    """The compiled Lᵀx = b (`convcheck.lower_solve_t`) gives scipy's dtrtrs bits, for
    strided views (the factor's blocks) and contiguous L, and refuses a zero pivot alike."""
    from scipy.linalg import lapack

    from mixedfx.optimize.convergence import compiled_lapack
    if compiled_lapack() is None:
        pytest.skip("the convcheck kernel is not built")
    rng = np.random.default_rng(4)
    for m in (1, 2, 3, 7, 30):
        full = np.tril(rng.normal(size=(m + 3, m + 3))) + 4 * np.eye(m + 3)
        for L in (full[1:m + 1, 1:m + 1], np.ascontiguousarray(full[:m, :m]),
                  np.asfortranarray(full[2:m + 2, 2:m + 2]), full.T[:m, :m].T):
            b = full.T[-1, :m] if m <= full.shape[0] else rng.normal(size=m)
            x = solution._solve_lower_transposed(L, b)
            expected, info = lapack.dtrtrs(L, b, lower=1, trans=1)
            assert info == 0 and x.tobytes() == expected.tobytes()
    L = np.tril(np.ones((3, 3)))
    L[1, 1] = 0.0
    with pytest.raises(np.linalg.LinAlgError):
        solution._solve_lower_transposed(L, np.ones(3))
