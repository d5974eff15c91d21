"""The compiled `frame` kernel (_native/frame.c) against the NumPy expressions it replaces: a
float column's finiteness and bound (`bounded`), a categorical's int64 codes and whether every
level is used (`category_codes`), the binomial cbind counts (`binomial_counts`: y, trials and
weights to the bit, the refusals in NumPy's order, NaN passing as there, +Inf left to NumPy's
lines, which warn about it), and the
rank check's clear-pivots test (`clear_pivots`: the decision of `frame.rank._clear_pivots` on
NumPy's XᵀX); and the Python paths that use it give what they give without it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mixedfx import native
from mixedfx.families import binomial
from mixedfx.frame import levels, rank
from mixedfx.glmm import response

K = native.kernel("frame")
pytestmark = pytest.mark.skipif(K is None, reason="the frame kernel is not built")


def test_bounded() -> None:
    x = np.random.default_rng(1).normal(size=50)
    assert K.bounded(x) == 2 and K.bounded(x[:0]) == 2
    for value, want in ((2.0 ** 1000, 2), (-(2.0 ** 1000), 2), (2.0 ** 1001, 1),
                        (-1e308, 1), (np.inf, 0), (-np.inf, 0), (np.nan, 0)):
        y = x.copy()
        y[7] = value
        assert K.bounded(y) == want, value
        assert (K.bounded(y) > 0) == bool(np.isfinite(y).all())
    with pytest.raises(ValueError, match="wrong item type"):
        K.bounded(x.astype(np.float32))
    with pytest.raises((ValueError, BufferError)):
        K.bounded(np.ones((4, 3))[:, 0])         # not contiguous


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
def test_category_codes(dtype: type) -> None:
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 5, 200).astype(dtype)
    codes[:5] = np.arange(5)
    for k, want in ((5, 1), (6, 0), (9, 0), (4, -1)):
        out = np.full(len(codes), 99, dtype=np.int64)
        assert K.category_codes(codes, out, k) == want
        assert out.tobytes() == np.asarray(codes, dtype=np.int64).tobytes()
    codes[50] = -1                              # a missing value
    assert K.category_codes(codes, np.empty(len(codes), dtype=np.int64), 5) == -1
    assert K.category_codes(codes[:0], np.empty(0, dtype=np.int64), 0) == 1
    with pytest.raises(ValueError, match="one cell per code"):
        K.category_codes(codes, np.empty(3, dtype=np.int64), 5)
    with pytest.raises(ValueError, match="wrong item type"):
        K.category_codes(codes.astype(float), np.empty(len(codes), dtype=np.int64), 5)


def _numpy_counts(raw: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """What `encode_response`'s NumPy lines decide and give."""
    if np.fmin.reduce(raw, axis=None) < 0:
        return 1, None, None
    frac = raw - raw.round()
    if np.fmax.reduce(np.abs(frac), axis=None) > 1e-7:
        return 2, None, None
    trials = raw[:, 0] + raw[:, 1]
    return 0, trials, np.divide(raw[:, 0], trials, out=np.zeros(len(raw)), where=trials > 0)


def test_binomial_counts_are_numpys() -> None:
    rng = np.random.default_rng(3)
    cases = []
    for _ in range(200):
        raw = rng.integers(0, 30, (int(rng.integers(1, 60)), 2)).astype(float)
        raw[rng.random(raw.shape) < 0.1] = 0.0
        cell = (int(rng.integers(0, len(raw))), int(rng.integers(0, 2)))
        raw[cell] = rng.choice([raw[cell], -1.0, -0.0, 0.5, 3 + 1e-8, 3 + 1e-6, np.nan,
                                np.inf, -np.inf, 1e300, 2.0 ** 60 + 1024])
        cases.append(raw)
    for raw in cases:
        y, n, wt = np.empty(len(raw)), np.empty(len(raw)), np.empty(len(raw))
        got = K.binomial_counts(raw, y, n, wt)
        with np.errstate(all="ignore"):
            want, trials, prop = _numpy_counts(raw)
        if want == 0 and np.isinf(raw).any():
            assert got == 3                     # left to NumPy's lines, which warn
            continue
        assert got == want
        if want == 0:
            assert n.tobytes() == trials.tobytes() and wt.tobytes() == trials.tobytes()
            assert y.tobytes() == prop.tobytes()


def test_encode_response_is_the_numpy_one(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = np.random.default_rng(4).integers(0, 9, (40, 2)).astype(float)
    raw[:3] = 0.0
    raw[5, 0] = math.nan
    assert response._counts(raw) is not None            # the kernel's path is taken
    for weights in (None, np.linspace(0.5, 2.0, 40)):
        got = response.encode_response(raw, binomial(), weights, "cb")
        monkeypatch.setattr(response, "kernel", lambda name: None)
        want = response.encode_response(raw, binomial(), weights, "cb")
        monkeypatch.undo()
        for field in ("y", "n", "wt", "prior_weights"):
            assert getattr(got, field).tobytes() == getattr(want, field).tobytes(), field
        assert got.wt is not got.n


def test_encode_response_paths_agree_on_refusals_and_declines(
        monkeypatch: pytest.MonkeyPatch) -> None:
    raw = np.random.default_rng(5).integers(0, 9, (30, 2)).astype(float)
    assert response._counts(raw) is not None
    assert response._counts(np.asfortranarray(raw)) is None       # not C-ordered
    assert response._counts(raw.astype(np.int64)) is None         # integers: NumPy's lines
    for cell, value, message in (((4, 1), -1.0, "negative failures in 1 row"),
                                 ((2, 0), 0.25, "non-integer counts")):
        bad = raw.copy()
        bad[cell] = value
        assert response._counts(bad) is None
        outcomes = []
        for kernel in (native.kernel, lambda name: None):
            monkeypatch.setattr(response, "kernel", kernel)
            with pytest.raises(Exception) as info:
                response.encode_response(bad, binomial(), None, "cb")
            outcomes.append((type(info.value), str(info.value)))
        assert outcomes[0] == outcomes[1] and message in outcomes[0][1]


def test_clear_pivots_decides_as_the_python_test(nearly_dependent_design) -> None:
    rng = np.random.default_rng(6)
    seen = set()
    for _ in range(2000):
        X = nearly_dependent_design(rng, [np.inf, np.nan, 1e160])
        got = rank.clear_pivots(X)
        with np.errstate(all="ignore"):
            G = X.T @ X
        if not (np.diag(G) <= 1e300).all():
            assert got is None                     # NumPy's product (and its warning)
            continue
        assert got == rank._clear_pivots(G.tolist())
        seen.add(got)
    assert seen == {True, False}
    X = rng.normal(size=(20, 3))
    assert rank.clear_pivots(X) is True
    assert rank.clear_pivots(np.asfortranarray(X)) is None
    assert rank.clear_pivots(rng.normal(size=(20, 7))) is None     # LAPACK's Cholesky
    assert rank.clear_pivots(rng.normal(size=(2, 3))) is None      # more columns than rows
    assert rank.clear_pivots(X[:, :0]) is None


def test_complete_categorical_is_the_numpy_one(monkeypatch: pytest.MonkeyPatch) -> None:
    values = [f"l{i}" for i in (3, 1, 2, 1, 3, 0)]
    cats = [
        pd.Categorical(values),
        pd.Categorical(values, categories=["l3", "l2", "l1", "l0", "zz"], ordered=True),
        pd.Categorical([1.5, 2.0, 1.5, 3.25]),
        pd.Categorical([*values[:3], None]),                        # missing: declined
        pd.Categorical([str(i) for i in range(300)] * 2),          # int16 codes
        pd.Categorical(values)[::2],                               # a slice
    ]
    for cat in cats:
        got = levels.complete_categorical(cat, "f")
        monkeypatch.setattr(levels, "kernel", lambda name: None)
        want = levels.complete_categorical(cat, "f")
        monkeypatch.undo()
        assert (got is None) == (want is None)
        if got is not None:
            assert got[0].dtype == want[0].dtype == np.int64
            assert got[0].tobytes() == want[0].tobytes() and got[1:] == want[1:]

