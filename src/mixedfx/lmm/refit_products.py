"""A refit's cross-products: only the blocks with X or y, in one compiled pass.

For a new response y the blocks of [Z X y]ᵀ W [Z X y] without y — A₁₁ = Z₁ᵀWZ₁, Z_restᵀWZ₁
and Z_restᵀWZ_rest — are those of every response; only the X and y rows of B (Z₁ᵀW[X y]),
Z_restᵀW[X y] and [X y]ᵀW[X y] change. `ResponseProducts` computes the whole set once with
the compiled `crossproducts` kernel and, for every later response, the changing blocks with
its `response_products` entry: each sum over the rows in the model's canonical order
(`lmm.row_order`), each term formed as the builder's CSR products form it
(`lmm.crossproducts.CrossProductBuilder`), so the blocks are the same bits as the builder's
`compute_response`; [X y]ᵀW[X y] is the same BLAS product. It serves the models whose B is
kept dense (`crossproducts.dense_b`); the builder serves the others.
"""

from __future__ import annotations

import numpy as np

from mixedfx.frame.terms import RandomEffectsTerm
from mixedfx.lmm.crossproducts import (
    MAX_COMPILED_TERMS,
    CrossProducts,
    dense_b,
    int_codes,
)
from mixedfx.native import kernel


class ResponseProducts:
    """The cross-products of one model (terms, X, √w) for any response, from the compiled
    kernel; `build` returns None when it does not serve (kernel not built, B not dense)."""

    def __init__(self, mod: object, terms: list[RandomEffectsTerm], X: np.ndarray,
                 sqrt_w: np.ndarray | None) -> None:
        self.mod = mod
        first = terms[0]
        self.n, self.p = X.shape
        self.q = sum(t.q for t in terms[1:])
        self.k1, self.n1 = first.k, first.n_levels
        self.r = self.q + self.p + 1
        self.static = (tuple(int_codes(t.codes) for t in terms),
                       tuple(np.ascontiguousarray(t.values, dtype=float) for t in terms),
                       tuple(t.n_levels for t in terms), np.ascontiguousarray(X, dtype=float))
        self.sqrt_w = None if sqrt_w is None else np.ascontiguousarray(sqrt_w, dtype=float)
        offsets = [0]
        for t in terms[1:]:
            offsets.append(offsets[-1] + t.q)
        self.offsets = offsets
        self._base: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # A11, B, Arr

    @classmethod
    def build(cls, terms: list[RandomEffectsTerm], X: np.ndarray, sqrt_w: np.ndarray | None
              ) -> ResponseProducts | None:
        """The compiled cross-products of this model, or None when the builder must serve."""
        mod = kernel("lmm")
        n, p = X.shape
        q = sum(t.q for t in terms[1:])
        if mod is None or not hasattr(mod, "response_products") or len(terms) > MAX_COMPILED_TERMS \
                or n == 0 or not dense_b(q, p, terms[0].q):
            return None
        return cls(mod, terms, X, sqrt_w)

    def __call__(self, y: np.ndarray, order: np.ndarray) -> tuple[CrossProducts, np.ndarray]:
        """(the cross-products for response y, B in C order) with the rows taken in `order`
        (the canonical order for y, `CanonicalOrder.with_response`). The first call computes
        every block; later ones share A₁₁ and the blocks without X or y with it (never
        modified) and compute the rest."""
        r, n, p1, q1 = self.r, self.n, self.p + 1, self.k1 * self.n1
        y = np.ascontiguousarray(y, dtype=float)
        order = np.ascontiguousarray(order, dtype=np.int64)
        B, Arr = np.empty((r, q1)), np.empty((r, r))
        Xy, WXy = np.empty((n, p1)), np.empty((n, p1))
        if self._base is None:
            A11 = np.empty((self.n1, self.k1, self.k1))
            self.mod.crossproducts(*self.static, y, self.sqrt_w, order, A11, B, Arr, Xy, WXy)
            self._base = (A11, B, Arr)
        else:
            A11, B0, Arr0 = self._base
            self.mod.response_products(*self.static, y, self.sqrt_w, order, B0, Arr0, B, Arr,
                                       Xy, WXy)
        q = self.q
        Arr[q:, q:] = Xy.T @ WXy
        # without other terms the builder's B is (Z₁ᵀ W [X y])ᵀ, Fortran-ordered: later BLAS
        # products with B (`solution.random_effects`) see the same layout
        xp = CrossProducts(A11=A11, B=np.asfortranarray(B) if q == 0 else B, Arr=Arr, q_rest=q,
                           p=self.p, n=n, rest_offsets=self.offsets)
        return xp, B
