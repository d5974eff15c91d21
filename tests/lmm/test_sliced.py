"""B kept in level slices on disk (`lmm.sliced`): B W Bᵀ, Bᵀv, blocks and row selection
equal the in-memory B's, and a fit from the sliced cross-products equals the ordinary fit."""

from __future__ import annotations

import itertools
import pickle
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mixedfx as mfx
from mixedfx.lmm import sliced
from mixedfx.lmm.fit import build_objective, fit_lmm_crossproducts
from mixedfx.lmm.weighted_gram import WeightedGram


def _data(n: int = 6000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g, h = rng.integers(0, 150, n), rng.integers(0, 30, n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(size=150)[g] + 0.4 * rng.normal(size=150)[g] * x \
        + rng.normal(size=30)[h] + rng.normal(size=n)
    return pd.DataFrame({"g": g, "h": h, "x": x, "y": y,
                         "f": rng.choice(["a", "b"], n)})


def _sliced(xp, term, n_slices: int) -> sliced.SlicedB:
    out = sliced.SlicedB(xp.r, term.n_levels, term.k)
    Bc = sp.csc_matrix(xp.B)
    edges = np.linspace(0, term.n_levels, n_slices + 1).astype(int)
    for a, b in itertools.pairwise(edges):
        out.add(sliced.LevelSlice.from_matrix(Bc[:, a * term.k:b * term.k], term.k, a, b))
    return out


@pytest.mark.parametrize("formula", ["y ~ x + f + (1 + x | g) + (1 | h)",
                                     "y ~ x + (1 | g) + (1 | h)",
                                     "y ~ x + (1 | h / f)"])
@pytest.mark.parametrize("compiled", [True, False])
def test_sliced_gram_equals_weighted_gram(formula, compiled, monkeypatch):
    if not compiled:
        monkeypatch.setattr(sliced, "_KERNEL", [None])       # scipy's sparse product
    elif sliced.compiled_kernel() is None:
        pytest.skip("the compiled kernel mixedfx._native.lmm is not built")
    frame = mfx.lmer(formula, _data()).frame
    xp = build_objective(frame, True).chol.xp
    t = frame.terms[0]
    SB = _sliced(xp, t, 4)
    rng = np.random.default_rng(0)
    W = rng.normal(size=(t.n_levels, t.k, t.k))
    W = W @ W.transpose(0, 2, 1)
    Wi = W if t.k > 1 else W[:, 0, 0]
    ref = np.triu(WeightedGram(xp.B, t.k, t.n_levels)(Wi))
    got = np.triu(sliced.SlicedGram(SB, t.k, t.n_levels)(Wi))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-9 * np.abs(ref).max())
    P = xp.Arr.copy()
    sliced.SlicedGram(SB, t.k, t.n_levels).subtract_from(P, Wi)
    np.testing.assert_allclose(np.triu(P), np.triu(xp.Arr) - ref, atol=1e-9 * np.abs(ref).max())


def test_sliced_b_accessors():
    frame = mfx.lmer("y ~ x + f + (1 + x | g) + (1 | h)", _data()).frame
    xp = build_objective(frame, True).chol.xp
    B = sp.csr_matrix(xp.B)
    SB = _sliced(xp, frame.terms[0], 3)
    v = np.arange(xp.r, dtype=float)
    np.testing.assert_allclose(SB.T @ v, B.T @ v, rtol=1e-12)
    assert SB.shape == B.shape and SB.nnz == B.nnz
    assert abs(SB[:5, 7:201] - B[:5, 7:201]).max() == 0
    rows = [0, 3, xp.r - 1]
    assert abs(SB[rows].to_csr() - B[rows]).max() == 0
    assert abs(SB[:4, :][:, 10:20] - B[:4, 10:20]).max() == 0
    assert abs(pickle.loads(pickle.dumps(SB)) - B).max() == 0    # pickles as the whole B
    with pytest.raises(ValueError, match="expected 0"):
        sliced.SlicedB(xp.r, 5, 2).add(sliced.LevelSlice.from_matrix(B[:, 2:4], 2, 1, 2))


def test_sliced_files_removed_with_the_object():
    import gc
    import os

    frame = mfx.lmer("y ~ x + (1 | g) + (1 | h)", _data(2000)).frame
    xp = build_objective(frame, True).chol.xp
    SB = _sliced(xp, frame.terms[0], 2)
    directory = SB.dir
    assert len(os.listdir(directory)) == 2
    del SB
    gc.collect()
    assert not os.path.exists(directory)


def test_fit_from_sliced_crossproducts_equals_fit():
    df = _data()
    tight = {"ftol_abs": 1e-12, "xtol_abs": 1e-10}
    m = mfx.lmer("y ~ x + f + (1 + x | g) + (1 | h)", df, control=tight)
    xp = m._fit.chol.xp
    SB = _sliced(xp, m.frame.terms[0], 5)
    fit = fit_lmm_crossproducts(m.frame, replace(xp, B=SB), True, m._control)
    assert abs(fit.criterion / m._fit.criterion - 1) < 1e-10
    np.testing.assert_allclose(fit.theta, m.theta, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fit.solution.beta, m.beta, rtol=1e-6)
    from mixedfx.lmm.solution import conditional_variances

    cv = conditional_variances(fit.chol, fit.factor, fit.sigma, chunk=37)
    ref = conditional_variances(m._fit.chol, m._fit.factor, m._fit.sigma)
    # θ agrees to 1e-6, so each k × k block agrees to about that relative to its scale;
    # entrywise relative errors of near-zero covariances are not bounded (4.8e-5 seen)
    for a, b in zip(cv, ref, strict=True):
        scale = np.max(np.abs(b), axis=(-2, -1), keepdims=True) if b.ndim == 3 else np.abs(b)
        assert np.all(np.abs(a - b) <= 1e-5 * scale + 1e-12)


@pytest.mark.parametrize("k1", [1, 2, 3])
def test_compiled_kernel_across_tiles_equals_dense_product(k1):
    """The compiled kernel works on P one `TILE` × `TILE` tile at a time: with B's rows
    spanning several tiles (and a ragged last one) P − B W Bᵀ equals the dense product on
    the upper triangle, for one, two and three columns per level."""
    kernel = sliced.compiled_kernel()
    if kernel is None:
        pytest.skip("the compiled kernel mixedfx._native.lmm is not built")
    rng = np.random.default_rng(k1)
    r, n1 = 2 * sliced.TILE + 37, 90
    B = sp.random(r, n1 * k1, density=0.3, random_state=rng, format="csc")
    s = sliced.LevelSlice.from_matrix(B, k1, 0, n1)
    A = rng.normal(size=(n1, k1, k1))
    W = A @ A.transpose(0, 2, 1)
    Bd = B.toarray()
    ref = sum(Bd[:, j * k1:(j + 1) * k1] @ W[j] @ Bd[:, j * k1:(j + 1) * k1].T
              for j in range(n1))
    P0 = rng.normal(size=(r, r))
    P = P0.copy()
    kernel(s.indptr, s.rows, s.vals, 0, np.ascontiguousarray(W), P)
    np.testing.assert_allclose(np.triu(P), np.triu(P0 - ref), rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(np.tril(P, -1), np.tril(P0, -1))   # lower left alone
