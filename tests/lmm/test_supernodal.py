"""The supernodal factorization of a large sparse Schur complement (`lmm.supernodal`, the
compiled `factor_sn`), the one-pass S from pair rows and the class-merged pair products,
against the dense path. The factors of S in two orders are both backward stable, so the
log-determinants and pwrss agree to rounding (relative to the problem's scales), not bit
for bit; a whole fit agrees within the optimizer's tolerances."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import ArgumentError
from mixedfx.lmm import supernodal, weighted_gram
from mixedfx.lmm.fit import build_objective
from mixedfx.native import kernel
from mixedfx.optimize.threads import one_blas_thread

lmm = kernel("lmm")
pytestmark = pytest.mark.skipif(lmm is None, reason="mixedfx._native.lmm is not built")

FORMULA = "y ~ x + (1 | g1) + (1 | g2) + (1 | dept)"


def _crossed(n1: int = 1500, n2: int = 400, ndept: int = 20, per: int = 5) -> pd.DataFrame:
    """InstEval's shape, smaller: `n1` raters of `per` items each among `n2` items in
    `ndept` departments, 95% of a rater's items in one department."""
    rng = np.random.default_rng(3)
    dept_of = np.arange(n2) % ndept
    g1 = np.repeat(np.arange(n1), per)
    home = rng.integers(0, ndept, n1)[g1]
    near = home + ndept * rng.integers(0, n2 // ndept, len(g1))
    g2 = np.where(rng.random(len(g1)) < 0.95, near, rng.integers(0, n2, len(g1)))
    x = rng.standard_normal(len(g1))
    y = (0.5 * x + rng.normal(0, 0.7, n1)[g1] + rng.normal(0, 0.5, n2)[g2]
         + rng.normal(0, 0.3, ndept)[dept_of[g2]] + rng.standard_normal(len(g1)))
    return pd.DataFrame({"y": y, "x": x, "g1": [f"a{i}" for i in g1],
                         "g2": [f"b{i}" for i in g2], "dept": [f"d{i}" for i in dept_of[g2]]})


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return _crossed()


@pytest.fixture(scope="module")
def model(data):
    return mfx.lmer(FORMULA, data, REML=False)


def _objective(model, reml: bool = False):
    return build_objective(model.frame, reml)


def _thetas(theta: np.ndarray) -> list[np.ndarray]:
    out = [theta, np.ones_like(theta), 0.3 * theta]
    for i in range(len(theta)):
        th = theta.copy()
        th[i] = 0.0
        out.append(th)
    return out


def test_the_plan_serves_and_reorders(model) -> None:
    ev, _ = _objective(model).chol.native()
    assert ev.supernodal()
    xp = model._fit.chol.xp
    targets = model._fit.chol.gram.kernel_arrays()[4]
    new_index, starts, ptr, rows = supernodal.plan(targets, xp.Arr, xp.q_rest)
    r, q = xp.r, xp.q_rest
    assert sorted(new_index) == list(range(r)) and (new_index[q:] == np.arange(q, r)).all()
    assert starts[0] == 0 and starts[-1] == r and (np.diff(starts) > 0).all()
    assert ptr[-1] == len(rows) and ptr[-1] == ptr[-2]       # X and y: no rows below
    # a dense Cholesky of S is not cheaper (the cost model's decision)
    assert len(starts) - 1 < q


def test_terms_match_the_dense_factor(model) -> None:
    obj = _objective(model)
    chol = obj.chol
    ev, _ = chol.native()
    r = chol.xp.r
    yy = chol.xp.Arr[-1, -1]
    with one_blas_thread():
        for th in _thetas(model.theta):
            got = ev.factor_sn(th, np.empty((r, r)))
            P = np.empty((r, r))
            ld1 = ev.schur(th, P)
            want = chol.factor_schur(P, ld1)[1:]
            # backward-stable factors of the same S: the log-determinants' errors are sums
            # over r pivots, pwrss's relative to y'y
            for g, w, scale in zip(got, want, (r, r, yy), strict=True):
                assert abs(g - w) <= 1e-11 * max(scale, abs(w)), (th, got, want)
            assert obj(th) == pytest.approx(
                obj.at(th, False), rel=1e-12, abs=1e-9 * r)


def test_not_positive_definite_gives_none(model) -> None:
    ev, _ = _objective(model).chol.native()
    r = model._fit.chol.xp.r
    assert ev.factor_sn(np.array([1.0, np.nan, 1.0]), np.empty((r, r))) is None


def test_the_fit_matches_the_dense_fit(model, data, monkeypatch) -> None:
    monkeypatch.setattr(supernodal, "plan", lambda *args: None)
    dense = mfx.lmer(FORMULA, data, REML=False)
    assert not dense._fit.chol.native()[0].supernodal()
    np.testing.assert_allclose(model.theta, dense.theta, rtol=1e-4)
    np.testing.assert_allclose(model.beta, dense.beta, rtol=1e-6)
    assert abs(model.loglik - dense.loglik) <= 1e-9 * abs(dense.loglik)


def test_same_bits_alone_and_in_a_thread_pool(model) -> None:
    ev, _ = _objective(model).chol.native()
    r = model._fit.chol.xp.r
    thetas = [model.theta * f for f in np.linspace(0.5, 1.5, 8)]

    def terms(th: np.ndarray) -> tuple:
        with one_blas_thread():
            return ev.factor_sn(th, np.empty((r, r)))

    alone = [terms(th) for th in thetas]
    with ThreadPoolExecutor(4) as pool:
        pooled = list(pool.map(terms, thetas * 3))
    assert pooled == alone * 3


def test_small_or_dense_patterns_get_no_plan(model) -> None:
    xp = model._fit.chol.xp
    targets = model._fit.chol.gram.kernel_arrays()[4]
    assert supernodal.plan(targets, xp.Arr[:200, :200], 197) is None     # too small
    r = 300
    every = np.array([a * r + b for a in range(r) for b in range(a, r)])
    assert supernodal.plan(every, np.eye(r), r - 3) is None              # dense


def test_class_merged_pair_products_sum_as_the_levels(model, monkeypatch) -> None:
    """Q built in C by target, its columns merged by class of equal A₁₁ⱼ, gives B W Bᵀ for
    any W equal within classes (the NumPy path reads it too), with every target's
    classes in increasing order."""
    chol = model._fit.chol
    gram = chol.gram
    kind, _, cols, ptr, targets, rep = gram.kernel_arrays()
    A = chol.xp.A11[:, 0, 0]
    assert kind == "pair_rows" and len(rep) < len(A)
    assert np.array_equal(np.unique(A), A[rep])
    for t in range(len(targets)):
        assert (np.diff(cols[ptr[t]:ptr[t + 1]]) > 0).all()
    W = 1.0 / (A + 2.0)                                  # equal within classes
    B = chol.xp.B.toarray()
    want = np.triu((B * W) @ B.T).ravel()
    got = gram(W).ravel()
    assert set(np.flatnonzero(want)) <= set(targets)
    np.testing.assert_allclose(got[targets], want[targets], rtol=1e-13,
                               atol=1e-13 * np.abs(want).max())
    # the products by level (no classes) are the pair products of the Python builder
    monkeypatch.setattr(weighted_gram, "kernel", lambda name: None)
    plain = weighted_gram.WeightedGram(chol.xp.B, 1, len(A), A11=chol.xp.A11)
    assert plain.rep is None
    np.testing.assert_allclose(plain(W).ravel()[targets], got[targets], rtol=1e-13,
                               atol=1e-13 * np.abs(want).max())
    # no two levels alike: Q's columns are the levels, as the Python builder's
    monkeypatch.undo()
    distinct = chol.xp.A11 + np.arange(len(A))[:, None, None] * 1e-3
    levels = weighted_gram.WeightedGram(chol.xp.B, 1, len(A), A11=distinct)
    assert levels.rep is None and levels.Q.shape[1] == len(A)
    W = np.random.default_rng(2).uniform(0.1, 1.0, len(A))
    assert np.array_equal(levels(W).ravel()[targets], plain(W).ravel()[targets])


def test_one_pass_s_keeps_arr_entries_outside_the_targets() -> None:
    """Entries of A_rr that no pair product reaches (possible when the first term's values
    are 0 on some rows) are written by the one-pass S too, with the bits of the
    copy-subtract-scale path (pair products by column)."""
    rng = np.random.default_rng(5)
    r, n1 = 6, 7                                 # 3 + 1 random effects, 1 fixed, y
    M = rng.standard_normal((20, r))
    Arr = M.T @ M + 5.0 * np.eye(r)
    targets = np.array([0, 1, 7, 9, 14, 21, 23, 28, 35], dtype=np.int64)   # some of a <= b
    ptr = np.array([0, 2, 3, 5, 6, 8, 9, 11, 12, 13], dtype=np.int64)
    cols = rng.integers(0, n1, ptr[-1]).astype(np.int32)
    for t in range(len(targets)):                # increasing columns within each target
        cols[ptr[t]:ptr[t + 1]] = np.sort(rng.choice(n1, ptr[t + 1] - ptr[t], replace=False))
    data = rng.uniform(0.1, 0.5, ptr[-1])
    Q = np.zeros((len(targets), n1))
    Q[np.repeat(np.arange(len(targets)), np.diff(ptr)), cols] = data
    by_target = ("pair_rows", data, cols, ptr, targets)
    csc = [np.flatnonzero(Q[:, j]) for j in range(n1)]
    by_column = ("pairs", np.concatenate([Q[c, j] for j, c in enumerate(csc)]),
                 np.concatenate(csc).astype(np.int32),
                 np.concatenate([[0], np.cumsum([len(c) for c in csc])]).astype(np.int64),
                 targets)
    A11 = rng.uniform(1.0, 3.0, (n1, 1, 1))
    rest = np.array([[0, 1, 3], [3, 1, 1]], dtype=np.int64)
    tmap = np.arange(3, dtype=np.int64)
    evs = [lmm.evaluator(A11, Arr, 1, rest, gram, tmap, 3, 20) for gram in (by_target, by_column)]
    for th in ([0.5, 1.2, 0.7], [1.0, 0.0, 2.0], [0.0, 2.0, 0.3]):
        got = [ev.deviance(np.array(th), np.empty((r, r)), True, 0.0) for ev in evs]
        assert got[0] == got[1] and math.isfinite(got[0])


def test_build_pair_rows_refuses_bad_arrays() -> None:
    ip = np.array([0, 2], dtype=np.int64)
    rows = np.array([0, 1], dtype=np.int64)
    vals = np.ones(2)
    one = np.array([0], dtype=np.int64)
    with pytest.raises(ArgumentError, match="rows must increase"):
        lmm.build_pair_rows(ip, np.array([1, 0], dtype=np.int64), vals, 3, one, 1)
    with pytest.raises(ArgumentError, match="rows must increase"):
        lmm.build_pair_rows(ip, np.array([0, 5], dtype=np.int64), vals, 3, one, 1)
    with pytest.raises(ArgumentError, match="classes lie"):
        lmm.build_pair_rows(ip, rows, vals, 3, np.array([2], dtype=np.int64), 1)
    targets, ptr, cols, data = (np.frombuffer(b, dtype=t) for b, t in zip(
        lmm.build_pair_rows(ip, rows, np.array([2.0, 3.0]), 3, one, 1),
        (np.int64, np.int64, np.int32, np.float64), strict=True))
    assert targets.tolist() == [0, 1, 4] and ptr.tolist() == [0, 1, 2, 3]
    assert cols.tolist() == [0, 0, 0] and data.tolist() == [4.0, 6.0, 9.0]


def test_set_order_refuses_bad_plans(model) -> None:
    ev, _ = _objective(model).chol.native()
    r, q = model._fit.chol.xp.r, model._fit.chol.xp.q_rest
    ident = np.arange(r, dtype=np.int64)
    starts = np.array([0, q, r], dtype=np.int64)
    ptr = np.array([0, r - q, r - q], dtype=np.int64)
    rows = np.arange(q, r, dtype=np.int32)
    moved = ident.copy()
    moved[[0, r - 1]] = moved[[r - 1, 0]]
    with pytest.raises(ArgumentError, match="keeps the X and y rows last"):
        ev.set_order(moved, starts, ptr, rows)
    with pytest.raises(ArgumentError, match="increase and lie past"):
        ev.set_order(ident, starts, ptr, rows[::-1].copy())
    with pytest.raises(ArgumentError, match="sn_ptr"):
        ev.set_order(ident, np.array([0, q], dtype=np.int64), ptr[:2], rows)
    dense = lmm.evaluator(np.ones((4, 1, 1)), np.eye(3) * 2.0, 2, np.zeros((0, 3), np.int64),
                          ("dense", np.zeros((3, 4, 1))), None, 1, 10)
    with pytest.raises(ArgumentError, match="needs set_order"):
        dense.factor_sn(np.array([0.5]), np.empty((3, 3)))
    with pytest.raises(ArgumentError, match="set_order needs"):
        dense.set_order(np.arange(3), np.array([0, 3]), np.array([0, 0]),
                        np.empty(0, np.int32))


def test_the_reordered_s_is_the_natural_s_permuted(model) -> None:
    """S built in the supernodal order (`schur_sn`: the entries streamed by their place,
    four sums side by side) holds, bit for bit, the entries of S built in the natural order
    (`schur`), each at its new place."""
    chol = model._fit.chol
    ev, _ = _objective(model).chol.native()
    xp = chol.xp
    new_index = supernodal.plan(chol.gram.kernel_arrays()[4], xp.Arr, xp.q_rest)[0]
    r = xp.r
    a, b = np.triu_indices(r)
    lo, hi = np.minimum(new_index[a], new_index[b]), np.maximum(new_index[a], new_index[b])
    for th in _thetas(model.theta):
        natural, ordered = np.empty((r, r)), np.full((r, r), np.nan)
        ld1 = ev.schur(th, natural)
        assert ev.schur_sn(th, ordered) == ld1
        assert np.array_equal(ordered[lo, hi], natural[a, b])
        # every place of the upper triangle is written (the zeros too)
        assert not np.isnan(ordered[np.triu_indices(r)]).any()


def _symbolic(pattern: np.ndarray, order: np.ndarray) -> list[list[int]]:
    """Each column's rows below the diagonal in the Cholesky factor of the symmetric
    `pattern` in `order` (dense boolean elimination)."""
    A = pattern[np.ix_(order, order)].copy()
    q = len(A)
    out = []
    for j in range(q):
        below = np.flatnonzero(A[j, j + 1:]) + j + 1
        out.append(below.tolist())
        A[np.ix_(below, below)] = True
    return out


def test_min_degree_gives_an_order_and_its_factor_patterns() -> None:
    rng = np.random.default_rng(11)
    q, r = 60, 63
    upper = np.triu(rng.random((q, q)) < 0.08, 1)
    upper[5, 6:12] = True                        # some nodes with equal neighbourhoods
    a, b = np.nonzero(upper[:, :30])
    targets = a * r + b
    Arr = np.zeros((r, r))
    Arr[:q, 30:q] = upper[:, 30:]                 # the rest of the pattern from A_rr
    order, ptr, rows = (np.frombuffer(x, dtype=t) for x, t in zip(
        lmm.min_degree(targets, Arr, q, q * q, 1e30), (np.int64, np.int64, np.int32),
        strict=True))
    assert sorted(order) == list(range(q))
    pattern = upper | upper.T
    want = _symbolic(pattern, order)
    assert [rows[ptr[j]:ptr[j + 1]].tolist() for j in range(q)] == want
    # its fill is no worse than the natural order's
    assert sum(map(len, want)) <= sum(map(len, _symbolic(pattern, np.arange(q))))
    # no order past the density or the work budget
    assert lmm.min_degree(targets, Arr, q, int(pattern.sum()) - 1, 1e30) is None
    assert lmm.min_degree(targets, Arr, q, q * q, 10.0) is None
    with pytest.raises(ArgumentError, match="targets must lie"):
        lmm.min_degree(np.array([r * r], dtype=np.int64), Arr, q, q * q, 1e30)
    with pytest.raises(ArgumentError, match="q <= its rows"):
        lmm.min_degree(targets, Arr, r + 1, q * q, 1e30)
