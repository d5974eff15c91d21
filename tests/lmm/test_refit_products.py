"""A refit's compiled cross-products (`lmm.refit_products.ResponseProducts`, the kernel's
`response_products`): for every response the bits (and B's layout) of the builder's
`compute` / `compute_response`, the blocks without y shared with the first response's; the
kernel checks its arguments; a sparse B is left to the builder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import ArgumentError
from mixedfx.frame.model_frame import build_model_frame
from mixedfx.lmm.crossproducts import canonical_builder, canonical_response
from mixedfx.lmm.refit_products import ResponseProducts
from mixedfx.lmm.row_order import CanonicalOrder
from mixedfx.native import kernel

pytestmark = pytest.mark.skipif(
    kernel("lmm") is None or not hasattr(kernel("lmm"), "response_products"),
    reason="compiled kernel unavailable")

SL = mfx.datasets.load("sleepstudy")
PEN = mfx.datasets.load("Penicillin")


def _sleep_item() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return SL.assign(item=rng.integers(0, 6, len(SL)).astype(str),
                     w=np.linspace(0.5, 2.0, len(SL)), x2=rng.standard_normal(len(SL)))


CASES = {
    "slopes": ("Reaction ~ Days + (Days | Subject)", lambda: SL, {}),
    "slopes_shuffled": ("Reaction ~ Days + (Days | Subject)",
                        lambda: SL.sample(frac=1.0, random_state=1), {}),
    "weighted_offset": ("Reaction ~ Days + (Days | Subject)", _sleep_item,
                        {"weights": "w", "offset": np.full(len(SL), 3.0)}),
    "crossed": ("diameter ~ 1 + (1 | plate) + (1 | sample)",
                lambda: PEN.sample(frac=1.0, random_state=2), {}),
    "vector_rest": ("Reaction ~ Days + (Days | Subject) + (Days | item)", _sleep_item, {}),
    "three_columns": ("Reaction ~ Days + x2 + (Days + x2 | Subject) + (1 | item)", _sleep_item,
                      {"weights": "w"}),
    "nested": ("strength ~ 1 + (1 | batch/cask)", lambda: mfx.datasets.load("Pastes"), {}),
    # every row twice: rows tied on all fixed keys are ordered by the response
    "tied_rows": ("Reaction ~ Days + (1 | Subject)",
                  lambda: pd.concat([SL, SL]).sample(frac=1.0, random_state=3), {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_blocks_are_the_builders_bits_for_every_response(case) -> None:
    formula, data, kw = CASES[case]
    fr = build_model_frame(formula, data(), **kw)
    sqrt_w = None if fr.weights is None else np.sqrt(fr.weights)
    canon = CanonicalOrder(fr.terms, fr.X, sqrt_w)
    builder = canonical_builder(fr.terms, fr.X, canon)
    products = ResponseProducts.build(fr.terms, fr.X, sqrt_w)
    assert products is not None
    rng = np.random.default_rng(7)
    base = first = None
    for k in range(4):
        y = fr.y if k == 0 else fr.y + rng.normal(0.0, 3.0, len(fr.y))
        if k == 3:          # ties in y too: their order comes from the response
            y = np.round(y, -1)
        args = canonical_response(canon, y, sqrt_w)
        ref = base = builder.compute(*args) if base is None else \
            builder.compute_response(base, *args)
        got, Bc = products(y, canon.with_response(y))
        for name in ("A11", "B", "Arr"):
            assert np.asarray(getattr(got, name)).tobytes() == \
                np.asarray(getattr(ref, name)).tobytes(), (name, k)
        # the same layout of B as the builder's (later BLAS products see the same strides)
        assert got.B.flags.f_contiguous == ref.B.flags.f_contiguous
        assert Bc.flags.c_contiguous and np.array_equal(Bc, got.B)
        assert (got.q_rest, got.p, got.n, got.rest_offsets) == \
            (ref.q_rest, ref.p, ref.n, ref.rest_offsets)
        if first is None:
            first = got
        else:               # A11 and the blocks without y are the first response's
            assert got.A11 is first.A11
            q = got.q_rest
            assert got.Arr[:q, :q].tobytes() == first.Arr[:q, :q].tobytes()


def test_a_sparse_b_is_left_to_the_builder() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    d = pd.DataFrame({"y": rng.standard_normal(n), "a": rng.integers(0, 3000, n).astype(str),
                      "b": rng.integers(0, 500, n).astype(str)})
    fr = build_model_frame("y ~ 1 + (1 | a) + (1 | b)", d)
    assert ResponseProducts.build(fr.terms, fr.X, None) is None


def test_response_products_kernel_checks_its_arguments() -> None:
    lmm = kernel("lmm")
    n = 4
    codes, vals = np.array([0, 0, 1, 1]), np.ones((n, 1))
    X, y = np.ones((n, 1)), np.arange(4.0)
    order = np.arange(n, dtype=np.int64)
    A11, B0, Arr0 = np.empty((2, 1, 1)), np.empty((2, 2)), np.empty((2, 2))
    Xy, WXy = np.empty((n, 2)), np.empty((n, 2))
    lmm.crossproducts((codes,), (vals,), (2,), X, y, None, order, A11, B0, Arr0, Xy, WXy)
    B, Arr = np.empty((2, 2)), np.empty((2, 2))
    y2 = y[::-1].copy()
    lmm.response_products((codes,), (vals,), (2,), X, y2, None, order, B0, Arr0, B, Arr, Xy,
                          WXy)
    np.testing.assert_array_equal(B, [[2.0, 2.0], [5.0, 1.0]])    # Xᵀ Z₁ and yᵀ Z₁
    np.testing.assert_array_equal(Xy[:, 1], y2)
    with pytest.raises(ArgumentError, match="row order"):
        lmm.response_products((codes,), (vals,), (2,), X, y, None, None, B0, Arr0, B, Arr, Xy,
                              WXy)
    with pytest.raises(ArgumentError, match="permutation"):
        lmm.response_products((codes,), (vals,), (2,), X, y, None, np.array([0, 0, 1, 2]), B0,
                              Arr0, B, Arr, Xy, WXy)
    with pytest.raises(ArgumentError, match="B0 and Arr0"):
        lmm.response_products((codes,), (vals,), (2,), X, y, None, order, np.empty((3, 2)),
                              Arr0, B, Arr, Xy, WXy)
    with pytest.raises(ArgumentError, match="must not be"):
        lmm.response_products((codes,), (vals,), (2,), X, y, None, order, B0, Arr0, B0, Arr,
                              Xy, WXy)
    with pytest.raises(ArgumentError, match="shape"):
        lmm.response_products((codes,), (vals,), (2,), X, y, None, order, B0, Arr0,
                              np.empty((2, 3)), Arr, Xy, WXy)
