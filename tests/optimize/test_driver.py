"""optimize.driver's helpers that replace NumPy calls on a few values: the same bits."""

from __future__ import annotations

import numpy as np

from mixedfx.optimize.driver import _clip


def test_clip_is_numpys_clip_bit_for_bit() -> None:
    inf, nan = np.inf, np.nan
    cases = [
        ([0.5, 1e-300, 2.0], [0.0, 0.0, -inf], [inf, inf, inf]),   # inside
        ([0.5, -0.0, 2.0], [0.0, 0.0, -inf], [inf, inf, inf]),     # -0 at a bound of +0
        ([0.0, 1.0], [0.0, -inf], [inf, 1.0]),                      # at the bounds
        ([-0.1, 0.3], [0.0, -inf], [inf, inf]),                     # below a bound
        ([0.0, 5.0], [0.0, -1.0], [1.0, 1.0]),                      # above a bound
        ([nan, 0.2], [0.0, 0.0], [inf, inf]),                       # NaN kept
        ([0.5], [1.0], [0.0]),                                      # crossed bounds
    ]
    for x, lo, hi in cases:
        x, lo, hi = (np.array(a, dtype=float) for a in (x, lo, hi))
        got = _clip(x, lo, hi)
        assert got.tobytes() == np.clip(x, lo, hi).tobytes()
    inside = np.array([0.5, 1.0])
    assert _clip(inside, np.zeros(2), np.full(2, np.inf)) is inside    # no copy needed
