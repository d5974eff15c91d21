"""Z₁ᵀ built directly in CSR form (`crossproducts._sparse_zt`) equals the converted one; the
compiled cross-products (`crossproducts.direct_crossproducts`) are the builder's bits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mixedfx as mfx
from mixedfx.lmm.crossproducts import _sparse_z, _sparse_zt


@pytest.fixture(scope="module")
def term():
    """A term to vary (codes, values and levels are replaced; _sparse_zt reads only those)."""
    return mfx.lmer("Reaction ~ Days + (Days | Subject)",
                    mfx.datasets.load("sleepstudy")).frame.terms[0]


@pytest.mark.parametrize(("n", "n_levels", "k"), [(1, 1, 1), (50, 7, 1), (200, 13, 2),
                                                  (300, 40, 3)])
def test_sparse_zt_stores_what_the_coo_conversion_stores(term, n, n_levels, k) -> None:
    rng = np.random.default_rng(n + k)
    codes = rng.integers(0, n_levels, n)
    codes[: min(n, n_levels)] = np.arange(min(n, n_levels))     # every level used
    values = rng.integers(-2, 3, (n, k)).astype(float)           # zeros are stored too
    levels = [f"l{i}" for i in range(int(codes.max()) + 1)]
    t = replace(term, codes=codes, values=values, levels=levels)
    ZT, order = _sparse_zt(t, n)
    ref = _sparse_z(t, n).T.tocsr()
    assert isinstance(ZT, sp.csr_matrix) and ZT.shape == ref.shape == (t.q, n)
    np.testing.assert_array_equal(ZT.indptr, ref.indptr)
    np.testing.assert_array_equal(ZT.indices, ref.indices)
    np.testing.assert_array_equal(ZT.data, ref.data)
    labelled = _sparse_z(t, n, np.arange(1, n * k + 1, dtype=float)).T.tocsr().data
    np.testing.assert_array_equal(order, labelled.astype(np.int64) - 1)
    x = rng.standard_normal((n, 3))
    np.testing.assert_array_equal(ZT @ x, ref @ x)                # same sums, same order


# ------------------------------------------------ the compiled cross-products (dense B)

def _builder_blocks(terms, X, y, sqrt_w):
    """The builder's blocks: the Python path `compute_crossproducts` took before the kernel."""
    from mixedfx.lmm.crossproducts import canonical_builder, canonical_response
    from mixedfx.lmm.row_order import CanonicalOrder

    canon = CanonicalOrder(terms, X, sqrt_w)
    return canonical_builder(terms, X, canon).compute(*canonical_response(canon, y, sqrt_w))


def _sleep_item() -> pd.DataFrame:
    d = mfx.datasets.load("sleepstudy")
    rng = np.random.default_rng(0)
    return d.assign(item=rng.integers(0, 6, len(d)).astype(str),
                    w=np.linspace(0.5, 2.0, len(d)), x2=rng.standard_normal(len(d)))


_SL = mfx.datasets.load("sleepstudy")
_PEN = mfx.datasets.load("Penicillin")
DIRECT_CASES = {
    "slopes": ("Reaction ~ Days + (Days | Subject)", lambda: _SL, None),
    "slopes_shuffled": ("Reaction ~ Days + (Days | Subject)",
                        lambda: _SL.sample(frac=1.0, random_state=1), None),
    "weighted": ("Reaction ~ Days + (Days | Subject)", _sleep_item, "w"),
    "crossed": ("diameter ~ 1 + (1 | plate) + (1 | sample)", lambda: _PEN, None),
    "crossed_shuffled": ("diameter ~ 1 + (1 | plate) + (1 | sample)",
                         lambda: _PEN.sample(frac=1.0, random_state=2), None),
    "vector_rest": ("Reaction ~ Days + (Days | Subject) + (Days | item)", _sleep_item, None),
    "three_columns": ("Reaction ~ Days + x2 + (Days + x2 | Subject) + (1 | item)", _sleep_item,
                      "w"),
    "nested": ("strength ~ 1 + (1 | batch/cask)", lambda: mfx.datasets.load("Pastes"), None),
    # every row twice: rows tied on all fixed keys are ordered by the response
    "tied_rows": ("Reaction ~ Days + (1 | Subject)",
                  lambda: pd.concat([_SL, _SL]).sample(frac=1.0, random_state=3), None),
}


@pytest.mark.parametrize("case", list(DIRECT_CASES))
def test_direct_crossproducts_are_the_builders_bits(case) -> None:
    from mixedfx.frame.model_frame import build_model_frame
    from mixedfx.lmm.crossproducts import compute_crossproducts, direct_crossproducts

    formula, data, weights = DIRECT_CASES[case]
    fr = build_model_frame(formula, data(), weights=weights)
    sqrt_w = None if fr.weights is None else np.sqrt(fr.weights)
    ref = _builder_blocks(fr.terms, fr.X, fr.y, sqrt_w)
    got = direct_crossproducts(fr.terms, fr.X, fr.y, sqrt_w)
    assert got is not None
    for name in ("A11", "B", "Arr"):
        assert np.asarray(getattr(got, name)).tobytes() == \
            np.asarray(getattr(ref, name)).tobytes(), name
    # the same layout of B (later BLAS products with it see the same strides)
    assert got.B.flags.f_contiguous == ref.B.flags.f_contiguous
    assert (got.q_rest, got.p, got.n, got.rest_offsets) == \
        (ref.q_rest, ref.p, ref.n, ref.rest_offsets)
    assert compute_crossproducts(fr.terms, fr.X, fr.y, sqrt_w).Arr.tobytes() == ref.Arr.tobytes()


def test_direct_crossproducts_take_other_integer_codes() -> None:
    from mixedfx.frame.model_frame import build_model_frame
    from mixedfx.lmm.crossproducts import direct_crossproducts

    fr = build_model_frame("diameter ~ 1 + (1 | plate) + (1 | sample)", _PEN)
    ref = direct_crossproducts(fr.terms, fr.X, fr.y, None)
    for dtype in (np.int8, np.int32, np.uint16):
        terms = [replace(t, codes=t.codes.astype(dtype)) for t in fr.terms]
        got = direct_crossproducts(terms, fr.X, fr.y, None)
        assert got.Arr.tobytes() == ref.Arr.tobytes() and got.B.tobytes() == ref.B.tobytes()


def test_direct_crossproducts_leave_a_sparse_b_to_the_builder() -> None:
    """A large crossed B stays sparse (the builder's CSR); the kernel path declines it."""
    from mixedfx.lmm.crossproducts import DENSE_B_LIMIT, dense_b, direct_crossproducts

    rng = np.random.default_rng(5)
    n, n1, n2 = 4000, 3000, 500
    d = pd.DataFrame({"y": rng.standard_normal(n), "a": rng.integers(0, n1, n).astype(str),
                      "b": rng.integers(0, n2, n).astype(str)})
    from mixedfx.frame.model_frame import build_model_frame

    fr = build_model_frame("y ~ 1 + (1 | a) + (1 | b)", d)
    q, q1 = fr.terms[1].q, fr.terms[0].q
    assert (q + 2) ** 2 * q1 > DENSE_B_LIMIT and not dense_b(q, 1, q1)
    assert direct_crossproducts(fr.terms, fr.X, fr.y, None) is None


def test_crossproducts_kernel_checks_its_input() -> None:
    from mixedfx.errors import ArgumentError, ArgumentTypeError
    from mixedfx.native import kernel

    lmm = kernel("lmm")
    if lmm is None:
        pytest.skip("mixedfx._native.lmm is not built")
    n = 4
    codes, vals = np.array([0, 0, 1, 1]), np.ones((n, 1))
    X, y = np.ones((n, 1)), np.arange(4.0)
    out = (np.empty((2, 1, 1)), np.empty((2, 2)), np.empty((2, 2)), np.empty((n, 2)),
           np.empty((n, 2)))
    assert lmm.crossproducts((codes,), (vals,), (2,), X, y, None, None, *out) is True
    np.testing.assert_array_equal(out[0].ravel(), [2.0, 2.0])
    np.testing.assert_array_equal(out[1], [[2.0, 2.0], [1.0, 5.0]])    # Xᵀ Z₁ and yᵀ Z₁
    # rows out of the canonical order: nothing computed without the order
    assert lmm.crossproducts((codes[::-1].copy(),), (vals,), (2,), X, y, None, None,
                             *out) is False
    with pytest.raises(ArgumentError, match="codes of term 0"):
        lmm.crossproducts((np.array([0, 0, 1, 2]),), (vals,), (2,), X, y, None, None, *out)
    with pytest.raises(ArgumentError, match="permutation"):
        lmm.crossproducts((codes,), (vals,), (2,), X, y, None, np.array([0, 0, 1, 2]), *out)
    with pytest.raises(ArgumentError, match="shape"):
        lmm.crossproducts((codes,), (vals,), (2,), X, y, None, None, np.empty((3, 1, 1)),
                          *out[1:])
    with pytest.raises(ArgumentTypeError, match="float64"):
        lmm.crossproducts((codes,), (vals,), (2,), X, y.astype(np.float32), None, None, *out)
    with pytest.raises(ArgumentError, match="same number"):
        lmm.crossproducts((codes, codes), (vals,), (2,), X, y, None, None, *out)
