"""The tiled Cholesky of a large Schur complement (`mixedfx._native.tiled` through
`lmm.tiled_cholesky`) against LAPACK's dpotrf: the same factor to rounding (a different
blocking of the same sums), the same bits for any number of workers and in a thread pool,
LAPACK's info for a matrix that is not positive definite, and the BLAS mode it needs."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import lapack

import mixedfx as mfx
from mixedfx.errors import ArgumentError, ArgumentTypeError
from mixedfx.lmm import tiled_cholesky
from mixedfx.native import kernel
from mixedfx.optimize import threads

pytestmark = pytest.mark.skipif(kernel("tiled") is None,
                                reason="mixedfx._native.tiled is not built")


def _spd(r: int, seed: int) -> np.ndarray:
    """I + a sum of outer products (well conditioned), only the upper triangle (C order)
    filled, the lower one garbage: what the Schur complement build leaves."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((r, r // 4)) / np.sqrt(r)
    S = G @ G.T + np.eye(r)
    S[np.tril_indices(r, -1)] = 7.0
    return S


def _tiled(S: np.ndarray, nb: int, workers: int, h: int = 3) -> tuple[np.ndarray, int]:
    P = S.copy()
    with threads.one_blas_thread():
        info = tiled_cholesky._bound().potrf(P, nb, h, workers, True)
    return P, info


@pytest.fixture(scope="module")
def matrix() -> np.ndarray:
    return _spd(700, 1)


@pytest.fixture(scope="module")
def lapack_factor(matrix) -> np.ndarray:
    with threads.one_blas_thread():
        L, info = lapack.dpotrf(matrix.T.copy(order="F"), lower=1, clean=1)
    assert info == 0
    return L


@pytest.mark.parametrize(("nb", "h"), [(64, 1), (64, 3), (100, 2), (100, 50), (256, 8),
                                       (700, 1), (1024, 4)])
def test_the_factor_is_lapacks_to_rounding(matrix, lapack_factor, nb, h) -> None:
    """Tiles of any size, also not dividing r (a narrower last row of tiles) or one tile
    for the whole matrix, and any number of tiles per call below the diagonal (also more
    than there are, or a last group with fewer); the upper triangle cleaned as LAPACK's
    clean=1 does."""
    P, info = _tiled(matrix, nb, 2, h)
    assert info == 0
    L = P.T
    assert np.array_equal(np.triu(L, 1), np.zeros_like(L))
    np.testing.assert_allclose(L, lapack_factor, rtol=0, atol=1e-12)


def test_the_same_bits_for_any_number_of_workers(matrix) -> None:
    ref, _ = _tiled(matrix, 64, 1)
    for workers in (2, 3, 5):
        got, info = _tiled(matrix, 64, workers)
        assert info == 0
        assert np.array_equal(got, ref), workers


def test_the_same_bits_in_a_thread_pool(matrix) -> None:
    """Four factorizations at once (each with its own workers) equal the one alone."""
    ref, _ = _tiled(matrix, 64, 2)
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda _: _tiled(matrix, 64, 2)[0], range(4)))
    for g in got:
        assert np.array_equal(g, ref)


@pytest.mark.parametrize("bad", [5, 63, 64, 300, 699])
def test_a_matrix_that_is_not_positive_definite_gives_lapacks_info(matrix, bad) -> None:
    """The first leading minor that is not positive definite, as LAPACK reports it, from
    whichever tile holds it."""
    S = matrix.copy()
    S[bad, bad] = -1.0
    _, expected = lapack.dpotrf(S.T.copy(order="F"), lower=1)
    assert expected == bad + 1
    for workers in (1, 3):
        _, info = _tiled(S, 64, workers)
        assert info == expected


def test_factor_in_place_serves_large_blocks_inside_a_single_thread_mode() -> None:
    """Below SMALL_BLOCK rows, or outside a BLAS mode held by this thread (BLAS might then
    start threads of its own), LAPACK serves (None)."""
    r = threads.SMALL_BLOCK + 37
    S = _spd(r, 2)
    P = S.copy()
    assert tiled_cholesky.factor_in_place(P) is None            # no mode held
    assert np.array_equal(P, S)
    with threads.blas_threads_for(r):
        assert threads.mode_for(r) == threads.SINGLE
        assert threads.factor_workers() >= 1
        assert tiled_cholesky.factor_in_place(P) == 0
        small = _spd(50, 3)
        assert tiled_cholesky.factor_in_place(small) is None
    with threads.one_blas_thread():
        L, _ = lapack.dpotrf(S.T.copy(order="F"), lower=1, clean=1)
    np.testing.assert_allclose(P.T, L, rtol=0, atol=1e-12)
    assert threads.factor_workers() == 0


def _large_block_fit(d: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # (6 evaluations: not converged)
        return mfx.lmer("y ~ x + (1 | g1) + (1 | g2)", d, REML=False,
                        control={"maxeval": 6, "presolve": "never"})


@pytest.mark.filterwarnings("ignore:convergence code 1")     # (catch_warnings: not per thread)
def test_a_fit_with_a_large_dense_block_uses_the_tiles() -> None:
    """A crossed model (4,000 × 2,100 levels): its Schur complement is
    factored in tiles, and the fit equals itself in a thread pool, bit for bit."""
    rng = np.random.default_rng(5)
    n = 12_000
    g1, g2 = rng.integers(0, 4000, n), rng.integers(0, 2100, n)
    d = pd.DataFrame({"x": rng.standard_normal(n), "g1": g1.astype(str), "g2": g2.astype(str)})
    d["y"] = d["x"] + rng.normal(0, 1, 4000)[g1] + rng.normal(0, 0.7, 2100)[g2] + \
        rng.standard_normal(n)
    calls = []
    real = tiled_cholesky.factor_in_place

    def spy(P, clean=True):
        calls.append(real(P, clean))
        return calls[-1]

    def bits(_):
        f = _large_block_fit(d)
        return f.theta.tobytes(), f.fixef.to_numpy().tobytes(), f.loglik

    with pytest.MonkeyPatch.context() as mp_:
        # this S is sparse enough for the supernodal plan (lmm/supernodal.py); G's is 54%
        # nonzero and keeps the dense factor, as every S does past MAX_DENSITY
        mp_.setattr("mixedfx.lmm.supernodal.MAX_DENSITY", 0.0)
        mp_.setattr("mixedfx.lmm.factorization.factor_in_place", spy)
        _large_block_fit(d)
        assert len(calls) >= 7 and all(c == 0 for c in calls)
        alone = bits(0)
        with ThreadPoolExecutor(2) as ex:
            assert list(ex.map(bits, range(2))) == [alone, alone]


def test_bad_arguments_are_refused(matrix) -> None:
    mod = tiled_cholesky._bound()
    with pytest.raises(ArgumentError):
        mod.potrf(np.zeros((3, 4)), 64, 1, 1, True)
    with pytest.raises(ArgumentError):
        mod.potrf(matrix.copy(), 0, 1, 1, True)
    with pytest.raises(ArgumentError):
        mod.potrf(matrix.copy(), 64, 0, 1, True)
    with pytest.raises(ArgumentTypeError):
        mod.potrf(np.asfortranarray(np.zeros((3, 3))[:, :2]), 64, 1, 1, True)
    with pytest.raises(ArgumentTypeError):
        mod.bind(1, 2, 3, 4)
