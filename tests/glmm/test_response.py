"""`encode_response` for cbind(successes, failures): y = s / (s + f) (0 with no trials), the
trials, and the prior weights × trials, to the bit; its refusals name the column and the
problem, and missing counts pass its checks (as elementwise tests let them)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mixedfx.errors import DataError
from mixedfx.families import binomial, poisson
from mixedfx.glmm.response import encode_response


def _counts(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 9, 40).astype(float)
    f = rng.integers(0, 9, 40).astype(float)
    f[:3] = s[:3] = 0.0                          # rows without trials
    return np.column_stack([s, f])


@pytest.mark.parametrize("weighted", [False, True])
def test_cbind_response_is_the_proportion_and_the_trials(weighted) -> None:
    raw = _counts(1)
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(raw)) if weighted else None
    r = encode_response(raw, binomial(), w, "cb")
    t = raw[:, 0] + raw[:, 1]
    prior = np.ones(len(raw)) if w is None else w
    y = np.where(t > 0, raw[:, 0] / np.where(t > 0, t, 1.0), 0.0)
    assert r.y.tobytes() == y.tobytes()
    assert r.n.tobytes() == t.tobytes()
    assert r.wt.tobytes() == (prior * t).tobytes() and r.wt is not r.n
    assert r.prior_weights.tobytes() == prior.tobytes()


def test_integer_counts_give_float_weights() -> None:
    r = encode_response(_counts(3).astype(np.int64), binomial(), None, "cb")
    assert r.wt.dtype == np.float64 and r.y.dtype == np.float64


def test_cbind_refusals_name_the_problem() -> None:
    raw = _counts(4)
    bad = raw.copy()
    bad[5, 1] = -1.0
    with pytest.raises(DataError, match=r"'cb' has negative failures in 1 row\(s\)"):
        encode_response(bad, binomial(), None, "cb")
    bad[7, 0] = -2.0
    with pytest.raises(DataError, match=r"'cb' has negative successes in 2 row\(s\)"):
        encode_response(bad, binomial(), None, "cb")
    frac = raw.copy()
    frac[9, 0] += 0.5
    with pytest.raises(DataError, match="'cb' has non-integer counts"):
        encode_response(frac, binomial(), None, "cb")
    with pytest.raises(DataError, match="need the binomial family, not poisson"):
        encode_response(raw, poisson(), None, "cb")


def test_missing_counts_pass_the_checks_and_a_negative_beside_them_does_not() -> None:
    raw = _counts(5)
    raw[4, 0] = math.nan
    r = encode_response(raw, binomial(), None, "cb")
    # no division where the trials are missing: y is 0 there, the trials NaN
    assert r.y[4] == 0.0 and math.isnan(r.n[4]) and np.isfinite(np.delete(r.y, 4)).all()
    raw[6, 1] = -1.0
    with pytest.raises(DataError, match="negative failures"):
        encode_response(raw, binomial(), None, "cb")
    raw[6, 1] = 1.25
    with pytest.raises(DataError, match="non-integer counts"):
        encode_response(raw, binomial(), None, "cb")
