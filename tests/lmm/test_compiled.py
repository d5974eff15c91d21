"""The compiled profiled-deviance evaluation (`mixedfx._native.lmm` through `lmm.compiled`)
against the NumPy path of `BlockedCholesky`, on every form of the blocked system: one scalar
term, a vector-valued first term, crossed and nested terms, a vector-valued second term,
glmmTMB-style structures (a template that is not a 0/1 map of θ), each of the three forms
of B W Bᵀ (dense B, stored pair products, level-major sparse B), θ at the optimum, inside
and on the boundary. Both paths compute the same quantities in different summation orders,
so they agree to rounding (1e-12 relative on well-conditioned values), not bit for bit."""

from __future__ import annotations

import math
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import ArgumentError, ArgumentTypeError
from mixedfx.lmm import compiled, crossproducts, factorization, weighted_gram
from mixedfx.lmm.deviance import ProfiledDeviance, deviance_from_terms
from mixedfx.lmm.fit import build_objective
from mixedfx.native import kernel

lmm = kernel("lmm")
pytestmark = pytest.mark.skipif(lmm is None, reason="mixedfx._native.lmm is not built")


def _sleep_with_item() -> pd.DataFrame:
    data = mfx.datasets.load("sleepstudy")
    rng = np.random.default_rng(0)
    return data.assign(item=rng.integers(0, 6, len(data)).astype(str))


CASES = {
    "scalar": ("Yield ~ 1 + (1 | Batch)", "Dyestuff"),
    "vector": ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    "crossed": ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin"),
    "nested": ("strength ~ 1 + (1 | batch / cask)", "Pastes"),
    "vector_rest": ("Reaction ~ Days + (Days | Subject) + (Days | item)", "sleep_item"),
    "structured": ("strength ~ 1 + cs(0 + cask | batch)", "Pastes"),
    "diagonal": ("strength ~ 1 + diag(0 + cask | batch) + (1 | batch)", "Pastes"),
    # one vector-valued term, dense B: up to 16 rows of B W Bᵀ are summed level by level
    # beside the first block (3000 levels: log|L₁₁|² sums logs of long products), past
    # 16 rows from the stored W
    "blocks": ("y ~ x1 + (1 + x1 | g)", "sim_blocks"),
    "many_fixed": ("y ~ " + " + ".join(f"x{i}" for i in range(1, 18)) + " + (1 + x1 | g)",
                   "sim_fixed"),
}


def _simulated(n_groups: int, size: int, n_x: int) -> pd.DataFrame:
    """`n_groups` groups of `size` rows, covariates x1 … x{n_x}, a random intercept and
    slope on x1."""
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(n_groups), size)
    x = rng.standard_normal((len(g), n_x))
    y = x @ rng.normal(0, 0.5, n_x) + rng.normal(0, 1, n_groups)[g] \
        + rng.normal(0, 0.4, n_groups)[g] * x[:, 0] + rng.standard_normal(len(g))
    data = pd.DataFrame(x, columns=[f"x{i}" for i in range(1, n_x + 1)])
    return data.assign(y=y, g=[f"g{j}" for j in g])


def _data(name: str) -> pd.DataFrame:
    if name == "sim_blocks":
        return _simulated(3000, 3, 1)
    if name == "sim_fixed":
        return _simulated(300, 4, 17)
    return _sleep_with_item() if name == "sleep_item" else mfx.datasets.load(name)


def _objective(case: str, reml: bool = True) -> ProfiledDeviance:
    formula, data = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = mfx.lmer(formula, _data(data), REML=reml).frame
    return build_objective(frame, reml)


def _numpy(chol: factorization.BlockedCholesky) -> factorization.BlockedCholesky:
    """The same system with the compiled evaluator switched off."""
    other = factorization.BlockedCholesky(chol.terms, chol.xp, gram=chol.gram)
    assert not other.compiled and other.native() is None
    return other


def _thetas(obj: ProfiledDeviance) -> list[np.ndarray]:
    """Start values, a random interior point, and points with each diagonal θ at 0."""
    chol = obj.chol
    lower = np.concatenate([t.covariance.lower_bounds() for t in chol.terms])
    start = np.concatenate([t.covariance.start() for t in chol.terms])
    rng = np.random.default_rng(1)
    inner = start + rng.uniform(0.1, 0.9, len(start)) * np.where(np.isfinite(lower), 1, 0.5)
    out = [start, inner]
    for i in np.flatnonzero(lower == 0):
        th = inner.copy()
        th[i] = 0.0
        out.append(th)
    out.append(np.where(lower == 0, 0.0, inner))          # every variance at the boundary
    return out


def _close(a: float, b: float, scale: float = 1.0) -> bool:
    return abs(a - b) <= 1e-12 * max(scale, abs(b))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("gram", ["default", "pairs", "slice"])
def test_compiled_equals_numpy(case: str, gram: str, monkeypatch) -> None:
    if gram != "default":
        monkeypatch.setattr(crossproducts, "DENSE_B_LIMIT", -1)   # B kept sparse
    if gram == "slice":
        monkeypatch.setattr(weighted_gram, "PAIR_BYTES_BUDGET", 0)   # level-major B
    obj = _objective(case)
    chol = obj.chol
    if gram != "default" and chol.xp.q_rest == 0:
        pytest.skip("a single term keeps B dense")
    expected = {"default": None, "pairs": False, "slice": True}[gram]
    if expected is not None:
        assert chol.gram.direct is expected and not chol.gram.dense
    assert chol.native() is not None
    ref = _numpy(chol)
    for th in _thetas(obj):
        ws = np.empty(chol.xp.Arr.shape)
        got = chol.deviance_terms(th, ws)
        want = ref.deviance_terms(th, np.empty(chol.xp.Arr.shape))
        assert got is not None and want is not None
        # a log-determinant's error is a sum over the r pivots of their relative errors;
        # pwrss is y'Wy less what the model explains: its rounding error is relative to
        # y'Wy (the last diagonal entry of A_rr), not to itself
        r = chol.xp.r
        scales = (r, r, chol.xp.Arr[-1, -1])
        for g, w, scale in zip(got, want, scales, strict=True):
            assert _close(g, w, scale), (th, got, want)
        f_c, f_n = chol.factorize(th), ref.factorize(th)
        np.testing.assert_allclose(f_c.Lrr, f_n.Lrr, rtol=1e-12, atol=1e-12 * np.abs(
            f_n.Lrr).max())
        dev_c = obj(th)
        dev_n = deviance_from_terms(*want, obj.n, obj.p, obj.reml, obj.ldW)
        assert abs(dev_c - dev_n) <= 1e-12 * chol.xp.n * max(1.0, abs(math.log(
            chol.xp.Arr[-1, -1])))


@pytest.mark.parametrize("reml", [True, False])
def test_the_fit_matches_the_numpy_fit(reml: bool, monkeypatch) -> None:
    """The whole fit (optimizer path included) agrees with the NumPy path's."""
    formula, data = CASES["crossed"]
    m = mfx.lmer(formula, _data(data), REML=reml)
    monkeypatch.setattr(compiled, "evaluator", lambda chol: None)
    m0 = mfx.lmer(formula, _data(data), REML=reml)
    # the optimizer stops within its tolerances of the optimum on both paths
    np.testing.assert_allclose(m.theta, m0.theta, rtol=1e-5)
    np.testing.assert_allclose(m.beta, m0.beta, rtol=1e-7)
    assert abs(m.loglik - m0.loglik) <= 1e-9 * abs(m0.loglik)


def test_not_positive_definite_gives_inf() -> None:
    obj = _objective("vector")
    th = np.array([1.0, np.nan, 1.0])
    assert obj(th) == math.inf
    assert obj.chol.deviance_terms(th, np.empty(obj.chol.xp.Arr.shape)) is None


@pytest.mark.parametrize("gram", ["dense", "pairs", "slice"])
def test_same_bits_alone_and_in_a_thread_pool(gram: str, monkeypatch) -> None:
    """The evaluator runs without the GIL; calls from several threads at once (each then
    takes its own scratch space) give the bits of calls made one at a time."""
    if gram != "dense":
        monkeypatch.setattr(crossproducts, "DENSE_B_LIMIT", -1)
    if gram == "slice":
        monkeypatch.setattr(weighted_gram, "PAIR_BYTES_BUDGET", 0)
    obj = _objective("crossed")
    assert obj.chol.gram.kernel_arrays()[0] == {"pairs": "pair_rows"}.get(gram, gram)
    ev, _ = obj.chol.native()
    r = obj.chol.xp.r

    def deviance(theta: np.ndarray) -> float:
        return ev.deviance(theta, np.empty((r, r)), True, 0.0)     # a work array per call

    thetas = [np.array([a, b]) for a in np.linspace(0.2, 2, 6) for b in np.linspace(0.5, 3, 6)]
    alone = [deviance(th) for th in thetas]
    with ThreadPoolExecutor(4) as pool:
        pooled = list(pool.map(deviance, thetas * 3))
    assert pooled == alone * 3
    assert alone[0] == obj(thetas[0])


def test_pair_products_by_target_give_the_bits_of_the_products_by_column(monkeypatch
                                                                         ) -> None:
    """Q stored by target (each target's products in column order) sums exactly as Q
    stored by column (the form refreshable grams keep). (The pair products by level, as
    the Python builder keeps them without A₁₁; a fit's gram merges Penicillin's 24 plates
    of 6 rows into one class.)"""
    monkeypatch.setattr(crossproducts, "DENSE_B_LIMIT", -1)
    obj = _objective("crossed")
    chol, xp = obj.chol, obj.chol.xp
    assert len(chol.gram.kernel_arrays()) == 6 and len(chol.gram.rep) == 1
    plain = weighted_gram.WeightedGram(xp.B, 1, chol.terms[0].n_levels)
    kind, *_, targets = plain.kernel_arrays()
    assert kind == "pair_rows" and targets.dtype == np.int32
    Qc = plain.Q.tocsc()
    by_column = ("pairs", Qc.data, Qc.indices, Qc.indptr.astype(np.int64),
                 targets.astype(np.int64))
    rest = np.array([[off, t.k, t.n_levels] for t, off in
                     zip(chol.terms[1:], xp.rest_offsets[:-1], strict=True)], dtype=np.int64)
    evs = [lmm.evaluator(xp.A11, xp.Arr, xp.p, rest, gram, compiled.template_map(chol.terms),
                         chol.n_theta, xp.n) for gram in (plain.kernel_arrays(), by_column)]
    for th in _thetas(obj):
        got = [ev.deviance(th, np.empty(xp.Arr.shape), True, 0.0) for ev in evs]
        assert got[0] == got[1]


def _valid_args(r: int = 3, n1: int = 4) -> list:
    A11 = np.ones((n1, 1, 1))
    Arr = np.eye(r) * 2.0
    rest = np.zeros((0, 3), dtype=np.int64)
    return [A11, Arr, r - 1, rest, ("dense", np.zeros((r, n1, 1))), None, 1, 10]


def test_evaluator_accepts_valid_arrays() -> None:
    ev = lmm.evaluator(*_valid_args())
    P = np.empty((3, 3))
    terms = ev.factor(np.array([0.5]), P)
    assert terms is not None and _close(terms[2], 2.0)


@pytest.mark.parametrize(("position", "value", "error", "match"), [
    (0, np.ones((4, 1, 1), dtype=np.float32), ArgumentTypeError, "A11 must have dtype float64"),
    (0, np.ones((4, 1)), ArgumentError, "A11 must have 3 dimension"),
    (0, [[[1.0]]], ArgumentTypeError, "A11 must be a C-contiguous"),
    (1, np.ones((3, 2)), ArgumentError, "Arr must be square"),
    (1, np.ones((3, 6))[:, ::2], ArgumentTypeError, "Arr must be a C-contiguous"),
    (2, 5, ArgumentError, "expected q \\+ p \\+ 1"),
    (3, np.array([[0, 1, 5]], dtype=np.int64), ArgumentError, "expected q \\+ p \\+ 1"),
    (3, np.array([[1, 1, 1]], dtype=np.int64), ArgumentError, "contiguous"),
    (4, ("dense", np.zeros((3, 5, 1))), ArgumentError, "B3 must have shape"),
    (4, ("sparse", np.zeros(3)), ArgumentError, "gram must be"),
    (4, ("pairs", np.ones(2), np.array([0, 7], dtype=np.int32), np.array([0, 1, 2, 2, 2]),
         np.array([0], dtype=np.int64)), ArgumentError, "indices must lie"),
    (4, ("pairs", np.ones(2), np.array([0, 0], dtype=np.int32), np.array([0, 1, 2, 2, 2]),
         np.array([99], dtype=np.int64)), ArgumentError, "targets must lie"),
    (4, ("pair_rows", np.ones(2), np.array([0, 4], dtype=np.int32),
         np.array([0, 2], dtype=np.int32), np.array([0], dtype=np.int32)), ArgumentError,
     "columns must lie"),
    (4, ("pair_rows", np.ones(2), np.array([0, 1]), np.array([0, 2]), np.array([9])),
     ArgumentError, "targets lie"),
    (4, ("pair_rows", np.ones(2), np.array([0, 1]), np.array([0, 1]), np.array([0])),
     ArgumentError, "row pointers must have"),
    (4, ("slice", np.array([0, 1, 1, 1, 1]), np.array([5], dtype=np.int32), np.ones((1, 1))),
     ArgumentError, "rows must lie"),
    (5, np.array([0, 3], dtype=np.int64), ArgumentError, "tmap must have"),
])
def test_evaluator_refuses_bad_arrays(position, value, error, match) -> None:
    args = _valid_args()
    args[position] = value
    with pytest.raises(error, match=match):
        lmm.evaluator(*args)


def test_evaluator_calls_refuse_bad_arrays() -> None:
    ev = lmm.evaluator(*_valid_args())
    with pytest.raises(ArgumentError, match="theta must have 1 values"):
        ev.factor(np.array([0.5, 1.0]), np.empty((3, 3)))
    with pytest.raises(ArgumentTypeError, match="theta must have dtype float64"):
        ev.deviance(np.array([1], dtype=np.int64), np.empty((3, 3)), True, 0.0)
    with pytest.raises(ArgumentError, match="P must have shape"):
        ev.schur(np.array([0.5]), np.empty((4, 4)))
    with pytest.raises(ArgumentTypeError, match="writable"):
        P = np.empty((3, 3))
        P.flags.writeable = False
        ev.schur(np.array([0.5]), P)
    with pytest.raises(ArgumentTypeError, match="C-contiguous"):
        ev.schur(np.array([0.5]), np.empty((3, 6))[:, ::2])


def test_subtract_slice_refuses_bad_arrays() -> None:
    indptr = np.array([0, 1], dtype=np.int64)
    rows = np.array([0], dtype=np.int32)
    W = np.ones((1, 1, 1))
    with pytest.raises(ArgumentError, match="rows must lie"):
        lmm.subtract_slice(indptr, np.array([3], dtype=np.int32), np.ones((1, 1)), 0, W,
                           np.zeros((3, 3)))
    with pytest.raises(ArgumentError, match="W must have shape"):
        lmm.subtract_slice(indptr, rows, np.ones((1, 1)), 1, W, np.zeros((3, 3)))
    with pytest.raises(ArgumentTypeError, match="rows must have dtype int32"):
        lmm.subtract_slice(indptr, rows.astype(np.int64), np.ones((1, 1)), 0, W,
                           np.zeros((3, 3)))
    with pytest.raises(ArgumentError, match="indptr must be non-decreasing"):
        lmm.subtract_slice(np.array([0, 2, 1], dtype=np.int64), np.array([0], np.int32),
                           np.ones((1, 1)), 0, np.ones((2, 1, 1)), np.zeros((3, 3)))


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (Days | Subject)",
                                     "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
                                     "Reaction ~ Days + (Days || Subject)"])
def test_templates_from_the_map_are_the_structures_templates(formula) -> None:
    """Once the evaluator is built, `BlockedCholesky.templates` places θ by the template
    map (`compiled.map_templates`): the values of the structures' own `template`."""
    data = _sleep_with_item()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chol = build_objective(mfx.lmer(formula, data).frame, True).chol
    assert chol.native() is not None and chol._tgather is not None
    rng = np.random.default_rng(2)
    for theta in (rng.normal(size=chol.n_theta), np.zeros(chol.n_theta)):
        got = chol.templates(theta)
        want = [t.covariance.template(theta[s]) for t, s in
                zip(chol.terms, chol.theta_slices, strict=True)]
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
    # a refit's factorization of the same terms reuses the layout and gives the same factor
    other = chol.with_products(chol.xp, chol.gram)
    assert other.layout() is chol.layout() and other.native() is not chol.native()
    theta = np.array([0.9, 0.1, 0.3][: chol.n_theta])
    f1, f2 = chol.factorize(theta), other.factorize(theta)
    assert f1.Lrr.tobytes() == f2.Lrr.tobytes() and f1.pwrss == f2.pwrss
