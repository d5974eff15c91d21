"""The fast refit path (lmm.refit.ResponseRefitter) against a full fit of the same frame."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedfx as mfx
from mixedfx import datasets
from mixedfx.lmm.fit import build_objective, fit_lmm, fit_lmm_objective
from mixedfx.lmm.refit import refit_step
from mixedfx.lmm.refit_newton import NewtonRefit
from mixedfx.results.lmm_model import _with_response

SL = datasets.load("sleepstudy")
PEN = datasets.load("Penicillin")

CASES = [
    ("Reaction ~ Days + (Days | Subject)", SL, {}),                      # dense B, k1 = 2
    ("Reaction ~ Days + (1 | Subject)", SL, {"weights": np.linspace(0.5, 2.0, len(SL)),
                                             "offset": np.full(len(SL), 3.0)}),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", PEN, {}),             # crossed terms
]


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def _full_refit(m, y, reml):
    """A refit's two routes on a freshly built objective (no cross-products reused):
    Newton from θ̂, else BOBYQA from θ̂ with the refit's trust region."""
    frame = _with_response(m._frame, np.asarray(y, dtype=float))
    objective = build_objective(frame, reml)
    fit = NewtonRefit(m._frame).fit(frame, objective, m._fit.theta, m._control)
    if fit is None:
        fit = fit_lmm_objective(frame, objective, m._control, m._fit.theta, True,
                                refit_step(m._fit.theta))
    return frame, fit


@pytest.mark.parametrize(("formula", "data", "kw"), CASES)
@pytest.mark.parametrize("reml", [True, False])
def test_refit_equals_full_fit(formula, data, kw, reml) -> None:
    m = _quiet(mfx.lmer, formula, data, **kw)
    rng = np.random.default_rng(3)
    for _ in range(3):
        y = m.fitted() + rng.normal(0.0, m.sigma, m.nobs)
        fast = _quiet(m.refit, y, REML=reml)
        _, full = _quiet(_full_refit, m, y, reml)
        assert fast.optimizer_info["optimizer"] == full.optimization.optimizer
        np.testing.assert_array_equal(fast.theta, full.theta)
        np.testing.assert_array_equal(fast.beta, full.solution.beta)
        assert fast._fit.criterion == full.criterion
        assert fast.sigma == full.sigma
        assert fast.optimizer_info["evaluations"] == full.optimization.evaluations
        np.testing.assert_array_equal(fast._frame.y, y)


def test_bootstrap_same_as_full_refits() -> None:
    m = _quiet(mfx.lmer, "Reaction ~ Days + (Days | Subject)", SL)
    fast = _quiet(m.bootstrap, nsim=12, seed=7)

    m2 = _quiet(mfx.lmer, "Reaction ~ Days + (Days | Subject)", SL)

    def slow_refit(y, REML=None):
        return m2._new(*_full_refit(m2, y, m2.REML))

    m2.refit = slow_refit
    slow = _quiet(m2.bootstrap, nsim=12, seed=7)
    np.testing.assert_allclose(fast.t.to_numpy(), slow.t.to_numpy(), rtol=1e-13, atol=0)
    assert list(fast.t.columns) == list(slow.t.columns)


def test_refit_of_refit_and_validation() -> None:
    m = _quiet(mfx.lmer, "Reaction ~ Days + (Days | Subject)", SL)
    r1 = _quiet(m.refit, SL["Reaction"].to_numpy() * 1.01)
    r2 = _quiet(r1.refit, SL["Reaction"].to_numpy())
    assert r2.deviance == pytest.approx(m.deviance, rel=1e-7)
    with pytest.raises(ValueError, match="180 values"):
        m.refit(np.ones(3))
    with pytest.raises(ValueError, match="non-finite"):
        m.refit(np.full(180, np.nan))


def test_subclass_refit_is_honoured() -> None:
    """A results class with its own `_refit` (Dask fits) keeps it: no fast path."""
    from mixedfx.results.lmm_model import LinearMixedModel

    class Own(LinearMixedModel):
        def _refit(self, frame, reml):
            raise NotImplementedError("own refit")

    m = _quiet(mfx.lmer, "Reaction ~ Days + (1 | Subject)", SL)
    own = Own(m._frame, m._fit, m._control, m.data_name)
    with pytest.raises(NotImplementedError, match="own refit"):
        own.refit(SL["Reaction"].to_numpy())


@pytest.mark.parametrize(("formula", "data", "kw"), CASES)
def test_response_blocks_equal_a_full_computation(formula, data, kw) -> None:
    """`compute_response` shares the blocks without y and recomputes the others by the
    same operations: the bits of `compute`."""
    from mixedfx.lmm.crossproducts import canonical_response
    from mixedfx.lmm.refit import ResponseRefitter

    m = _quiet(mfx.lmer, formula, data, **kw)
    r = ResponseRefitter(m._frame)
    base = r.builder.compute(*canonical_response(r.canon, m._frame.y, r.sqrt_w))
    rng = np.random.default_rng(11)
    for _ in range(2):
        y = m._frame.y + rng.normal(0.0, 1.0, m.nobs)
        args = canonical_response(r.canon, y, r.sqrt_w)
        fast, full = r.builder.compute_response(base, *args), r.builder.compute(*args)
        for name in ("A11", "B", "Arr"):
            assert np.asarray(getattr(fast, name)).tobytes() == \
                np.asarray(getattr(full, name)).tobytes(), name
        assert fast.A11 is base.A11


def test_repeated_refits_are_bit_identical_and_leave_the_model_alone() -> None:
    m = _quiet(mfx.lmer, "diameter ~ 1 + (1 | plate) + (1 | sample)", PEN)
    before = (m.theta.tobytes(), m.beta.tobytes(), m.deviance, m._fit.chol.xp.Arr.tobytes())
    ys = m.simulate(nsim=3, seed=4)
    first = [_quiet(m.refit, ys[:, j]) for j in range(3)]
    again = [_quiet(m.refit, ys[:, j]) for j in range(3)]
    for a, b in zip(first, again, strict=True):
        assert a.theta.tobytes() == b.theta.tobytes()
        assert a.beta.tobytes() == b.beta.tobytes()
        assert a.deviance == b.deviance
        assert a.ranef()["plate"].equals(b.ranef()["plate"])
    assert (m.theta.tobytes(), m.beta.tobytes(), m.deviance,
            m._fit.chol.xp.Arr.tobytes()) == before
    # each refit keeps its own response blocks
    assert first[0]._fit.chol.xp.Arr.tobytes() != first[1]._fit.chol.xp.Arr.tobytes()


@pytest.mark.parametrize(("formula", "data", "kw"), CASES)
def test_refit_equals_a_fresh_fit_to_the_optimizers_tolerance(formula, data, kw) -> None:
    """The refit (started at θ̂ with a small trust region) and a fresh fit of the new
    response from lme4's start values reach the same optimum."""
    m = _quiet(mfx.lmer, formula, data, **kw)
    ys = m.simulate(nsim=4, seed=8)
    for j in range(ys.shape[1]):
        fast = _quiet(m.refit, ys[:, j])
        fresh = _quiet(fit_lmm, _with_response(m._frame, ys[:, j]), m.REML, m._control)
        assert fast._fit.criterion == pytest.approx(fresh.criterion, rel=1e-8, abs=1e-6)
        np.testing.assert_allclose(fast.theta, fresh.theta, rtol=2e-3, atol=1e-3)
        np.testing.assert_allclose(fast.beta, fresh.solution.beta, rtol=1e-4)
        assert fast.optimizer_info["evaluations"] < fresh.optimization.evaluations + 5


def test_with_response_is_dataclasses_replace() -> None:
    """`refit.with_response` (a copy without the constructor) gives `replace(frame, y=y)`:
    a ModelFrame keeps nothing but its fields (and the lazily built data frame) in its
    __dict__, so nothing of the old response is carried along."""
    from dataclasses import fields, replace

    from mixedfx.lmm.refit import with_response

    m = _quiet(mfx.lmer, "Reaction ~ Days + (Days | Subject)", SL, weights=np.ones(len(SL)))
    y = m._frame.y + 1.0
    fast, ref = with_response(m._frame, y), replace(m._frame, y=y)
    names = {f.name for f in fields(ref)}
    assert set(vars(fast)) <= names | {"_frame_value"}
    assert type(fast) is type(ref) and fast.y is y and m._frame.y is not y
    for name in names - {"frame"}:
        assert getattr(fast, name) is getattr(ref, name), name
    assert fast.frame.equals(ref.frame)
