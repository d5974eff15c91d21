"""glmm.loop_state: a compiled run's state buffer, read in place and built on request."""

from __future__ import annotations

import numpy as np
import pytest

import mixedfx
from mixedfx.glmm import native_loop
from mixedfx.glmm.loop_state import DeferredState, carve
from mixedfx.glmm.state import CanonicalState

pytestmark = pytest.mark.skipif(native_loop._loop_kernel() is None,
                                reason="the compiled pirls kernel is not built")


def _deferred() -> DeferredState:
    """The state a compiled call (`native_loop.values`) leaves on a fitted cbpp GLMM's
    objective, not built."""
    cbpp = mixedfx.datasets.load("cbpp")
    m = mixedfx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                      data=cbpp, family="binomial")
    obj = m._fit.objective.detached()
    x = np.concatenate([m._fit.theta, m._fit.beta])
    assert native_loop.values(obj, x[None, :]) is not None
    assert isinstance(obj.deferred_state, DeferredState)
    return obj.deferred_state


def test_reads_before_the_build_are_the_built_states() -> None:
    pending = _deferred()
    beta, u, rows = pending.beta, pending.u, pending.canonical_rows()
    assert pending.built is None                    # read in place
    state = pending()
    assert pending() is state and pending.built is state    # built once
    assert beta.tobytes() == state.beta.tobytes()
    assert [a.tobytes() for a in u] == [a.tobytes() for a in state.u]
    assert isinstance(state, CanonicalState)
    built_rows = state.canonical_rows()
    assert [a.tobytes() for a in rows] == [a.tobytes() for a in built_rows]
    assert pending.eta.tobytes() == state.eta.tobytes()


def test_carve_gives_adjacent_contiguous_pieces() -> None:
    a, b, c = carve(3, 0, 5)
    assert [len(a), len(b), len(c)] == [3, 0, 5]
    assert all(p.flags.c_contiguous and p.dtype == np.float64 for p in (a, b, c))
    a[:] = 1.0
    c[:] = 2.0
    assert a.base is c.base and a.base.tolist() == [1.0] * 3 + [2.0] * 5
