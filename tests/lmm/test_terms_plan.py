"""The data-free set-up of a model's terms (`lmm.terms_plan`): what the covariance
structures give, computed once per structure, shared read-only."""

from __future__ import annotations

import numpy as np
import pytest

import mixedfx
from mixedfx.datasets import load
from mixedfx.frame.model_frame import build_model_frame
from mixedfx.lmm.compiled import template_map
from mixedfx.lmm.fit import theta_setup
from mixedfx.lmm.terms_plan import terms_plan


@pytest.fixture(scope="module")
def sleep():
    return load("sleepstudy")


def _expected(terms):
    """The plan's fields from the terms one by one."""
    slices, blocks, off = [], [], 0
    for t in terms:
        slices.append(slice(off, off + t.n_theta))
        if not t.covariance.structured:
            blocks.append((off, t.k))
        off += t.n_theta
    offsets = [0]
    for t in terms[1:]:
        offsets.append(offsets[-1] + t.q)
    return slices, blocks, offsets


@pytest.mark.parametrize("formula", [
    "Reaction ~ Days + (Days | Subject)",
    "Reaction ~ Days + (Days || Subject)",
    "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
    "Reaction ~ Days + cs(Days | Subject)",
])
def test_plan_matches_the_terms(sleep, formula):
    frame = build_model_frame(formula, sleep)
    plan = terms_plan(frame.terms)
    slices, blocks, offsets = _expected(frame.terms)
    assert list(plan.theta_slices) == slices
    assert list(plan.blocks) == blocks
    assert list(plan.rest_offsets) == offsets
    assert plan.n_theta == sum(t.n_theta for t in frame.terms)
    for got, name in ((plan.lower, "lower_bounds"), (plan.upper, "upper_bounds"),
                      (plan.start, "start")):
        want = np.concatenate([getattr(t.covariance, name)() for t in frame.terms])
        np.testing.assert_array_equal(got, want)
        assert not got.flags.writeable
    tmap = template_map(frame.terms)
    if tmap is None:
        assert plan.template_map is None and plan.gather is None
    else:
        np.testing.assert_array_equal(plan.template_map, tmap)
        np.testing.assert_array_equal(plan.gather, tmap + 1)
    rows = [[o, t.k, t.n_levels] for t, o in zip(frame.terms[1:], offsets[:-1], strict=True)]
    np.testing.assert_array_equal(plan.rest_layout, np.array(rows, dtype=np.int64).reshape(-1, 3))


def test_plan_is_shared_by_structure_not_data(sleep):
    """Two frames of the same shape share one plan; other levels get another."""
    a = build_model_frame("Reaction ~ Days + (Days | Subject)", sleep)
    b = build_model_frame("Reaction ~ Days + (Days | Subject)", sleep.iloc[::-1])
    c = build_model_frame("Reaction ~ Days + (Days | Subject)",
                          sleep[sleep["Subject"] != sleep["Subject"].iloc[0]])
    assert terms_plan(a.terms) is terms_plan(b.terms)
    assert terms_plan(c.terms) is not terms_plan(a.terms)


def test_theta_setup_gives_fresh_copies(sleep):
    frame = build_model_frame("Reaction ~ Days + (Days | Subject)", sleep)
    lower, _, start, blocks = theta_setup(frame)
    lower[:] = 7.0
    start[:] = 7.0
    blocks.append((9, 9))
    again = theta_setup(frame)
    np.testing.assert_array_equal(again[0], [0.0, -np.inf, 0.0])
    np.testing.assert_array_equal(again[2], [1.0, 0.0, 1.0])
    assert again[3] == [(0, 2)]


def test_fit_leaves_the_plan_untouched(sleep):
    m = mixedfx.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    lower = m.engine_fit.lower
    lower[:] = 5.0          # the fit's own copy
    plan = terms_plan(m.engine_fit.chol.terms)
    np.testing.assert_array_equal(plan.lower, [0.0, -np.inf, 0.0])
