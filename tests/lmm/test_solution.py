"""β and u from the blocked factor (`lmm.solution.solve`): the one-solve form for a large
dense block (Lᵀ[u; β; −1] = [0; 0; −l_yy] with the whole factor, no copy of L_zz) equals the
two-step form."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedfx as mfx
from mixedfx.lmm import solution
from mixedfx.lmm.fit import build_objective


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
