"""`GlmmObjective.detached`: a fitted model's objective evaluated apart from the model's own
(a profile beside other calls on the model): the same values, its own warm start."""

from __future__ import annotations

import numpy as np

import mixedfx as mfx


def test_detached_objective_moves_only_its_own_state() -> None:
    cbpp = mfx.datasets.load("cbpp")
    g = mfx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", data=cbpp,
                  family="binomial")
    obj = g.engine_fit.objective
    state, evaluations = obj.state, obj.evaluations
    copy = obj.detached()
    assert copy.pirls is not obj.pirls and copy.pirls._grams == {}
    assert (copy.pirls.native is None) == (obj.pirls.native is None)
    x = np.concatenate([g.theta * 1.3, g.beta + 0.1])
    first = copy(x)
    assert copy.state is not state and copy.evaluations == evaluations + 1
    assert obj.state is state and obj.evaluations == evaluations
    # the same value as the model's own objective from the same warm start
    again = obj.detached()
    assert again(x) == first
    assert obj.state is state
