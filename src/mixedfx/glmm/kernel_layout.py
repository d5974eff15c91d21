"""The compiled PIRLS kernel's view of a model (`_Shape`: sizes, the blocks of u, where a
state buffer's pieces lie, the canonical row order, Λ's 0/1 map of θ), Λ's templates in the
kernel's layout, and the level-major structure of the sparse block Z_restᵀ W Z₁."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from mixedfx.lmm.compiled import template_map
from mixedfx.native import kernel

#: the most terms a compiled loop call takes (`native_loop.MAX_TERMS`, which says why)
LOOP_MAX_TERMS = 16


class _Shape:
    """Sizes of a model the kernel serves: q, n, p, the per-term blocks of u, the first term's
    factor shape, and the canonical row order (None when it is the identity)."""

    def __init__(self, pirls: Any) -> None:
        terms = pirls.terms
        self.n, self.p = pirls.X.shape
        self.blocks, i, ks = [], 0, []
        for t in terms:                     # (each term's sizes read once)
            nl, k = t.n_levels, t.k
            self.blocks.append((i, i + nl * k, nl, k))
            ks.append(k)
            i += nl * k
        first = self.blocks[0]
        self.q = i
        self.q_rest = i - first[1]
        self.l11 = (first[2], first[3], first[3])
        # where u, β, η, μ (canonical rows), L₁₁ and Λ's templates lie in a state buffer of
        # the compiled loop (`native_loop._Loop.out`), one after the other
        a = self.q
        b = a + self.p
        c = b + self.n
        d = c + self.n
        e = d + first[2] * first[3] * first[3]
        self.cuts = (slice(0, a), slice(a, b), slice(b, c), slice(c, d), slice(d, e),
                     slice(e, None))
        self.has_kernel = pirls._sat is not None
        o = pirls.order
        known = getattr(pirls, "_order_identity", None)     # the compiled row sort's word
        if known is not None and o is not None:
            self.order_any, self.order = o, None if known else o
        else:
            identity = np.arange(self.n)
            self.order_any = identity if o is None else o
            self.order = None if o is None or (len(o) == self.n and
                                               bool((o == identity).all())) else o
        self.kernel = kernel("pirls")
        # read-only zeros, shared by the calls (and by the models with the same columns)
        self.placeholders = _placeholders(tuple(ks))
        #: Λ's 0/1 map of θ (`lmm.compiled.template_map`), or None
        self.tmap = template_map(terms)
        #: the compiled loop (`native_loop.served`) takes the model's terms: Λ a 0/1 map of θ,
        #: at most its number of terms
        self.loop_terms = self.tmap is not None and len(terms) <= LOOP_MAX_TERMS


@lru_cache(maxsize=64)
def _placeholders(ks: tuple[int, ...]) -> tuple:
    """A template per term (of k columns each) for calls that do not read them (k × k
    zeros, read-only: one tuple serves every model and thread)."""
    out = tuple(np.zeros((k, k)) for k in ks)
    for T in out:
        T.flags.writeable = False
    return out


class _KernelTemplates(list):
    """Templates already C-contiguous float64 (a list, as the objective expects, that the
    kernel also takes as its tuple of templates)."""


def kernel_templates(templates: list[np.ndarray]) -> list[np.ndarray]:
    """The per-term templates in the kernel's layout, built once per θ by the caller."""
    return _KernelTemplates([np.ascontiguousarray(T, dtype=float) for T in templates])


#: the sparse block's arrays of a model with one term (read-only: shared by every model)
_NO_REST = np.zeros(1, dtype=np.int64)
_NO_REST.flags.writeable = False


def _rest_structure(terms: list, order: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]:
    """The sparse block B = Z_restᵀ W Z₁ in level-major form: for each level j of the first
    term the sorted rows ρ of Z_rest with a nonzero in j's columns (`rho`, `lvl_ptr`), and for
    each row i and each column (term t ≥ 1, coefficient a) of Z_rest the index of the entry
    (j(i), ρ) its products accumulate into (`slot_pos`, rows × slots)."""
    first, rest = terms[0], terms[1:]
    n = len(order)
    if not rest:
        return _NO_REST, _NO_REST, _NO_REST, 0, 0, 0
    q_rest = sum(t.q for t in rest)
    codes1 = first.codes[order].astype(np.int64)
    keys, off = [], 0
    for t in rest:
        ct = t.codes[order].astype(np.int64)
        for a in range(t.k):
            keys.append(codes1 * q_rest + off + ct * t.k + a)
        off += t.q
    K = np.stack(keys, axis=1)
    ukey, inv = np.unique(K.ravel(), return_inverse=True)
    lvl_ptr = np.searchsorted(ukey // q_rest, np.arange(first.n_levels + 1)).astype(np.int64)
    slot_pos = np.ascontiguousarray(inv.reshape(n, K.shape[1]), dtype=np.int64)
    rho = np.ascontiguousarray(ukey % q_rest, dtype=np.int64)
    return slot_pos, lvl_ptr, rho, q_rest, K.shape[1], len(ukey)
