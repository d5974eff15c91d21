"""What a set of random-effects terms fixes before any data are read, computed once per
structure.

For the terms' (covariance structure, k, levels), in order, the plan holds θ's bounds,
start values and slices per term, lme4's unstructured blocks, the rest terms' offsets in
the dense trailing block and the compiled evaluator's layout (`lmm.compiled.layout`). None
of it depends on the data's values, so every fit, refit or PIRLS step of a model of the same
shape reuses one plan instead of rebuilding these small arrays; the arrays are read-only
and the plan is shared between threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from mixedfx.covariance.diagonal import Diagonal
from mixedfx.covariance.unstructured import Unstructured
from mixedfx.frame.terms import RandomEffectsTerm

KMAX = 32   # the compiled kernel's largest number of columns per term (`lmm.compiled`)


@dataclass(frozen=True)
class TermsPlan:
    """The data-free set-up of a list of terms (see the module docstring)."""

    theta_slices: tuple[slice, ...]     # θ's entries of each term
    n_theta: int
    lower: np.ndarray                    # θ's lower bounds (read-only)
    upper: np.ndarray                    # θ's upper bounds (read-only)
    start: np.ndarray                    # lme4's start values (read-only)
    blocks: tuple[tuple[int, int], ...]  # (offset into θ, k) of each unstructured term
    ks: tuple[int, ...]                  # columns per term
    rest_offsets: tuple[int, ...]        # offsets of the terms after the first, then q_rest
    all_scalar_rest: bool                # every term after the first has one column
    rest_layout: np.ndarray | None       # (offset, k, levels) rows of the rest terms, or
    # None when the kernel does not take the terms (a term with more than KMAX columns)
    template_map: np.ndarray | None      # `lmm.compiled.template_map` of the structures
    gather: np.ndarray | None            # template_map + 1 (`compiled.map_templates`)


def terms_plan(terms: list[RandomEffectsTerm]) -> TermsPlan:
    """The plan of these terms (shared: never modify its arrays)."""
    if len(terms) == 1:         # (one term: no comprehension's call)
        t = terms[0]
        key: tuple = ((t.covariance, t.values.shape[1], len(t.levels)),)
    else:
        key = tuple([(t.covariance, t.values.shape[1], len(t.levels)) for t in terms])
    try:
        return _plan(key)
    except TypeError:                   # a structure holding unhashable fields
        return _plan.__wrapped__(key)


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@lru_cache(maxsize=128)
def _plan(key: tuple) -> TermsPlan:
    """`terms_plan` by the terms' (covariance structure, k, levels) (frozen, so hashable)."""
    slices, blocks, off = [], [], 0
    for cov, k, _ in key:
        slices.append(slice(off, off + cov.n_theta))
        if not cov.structured:
            blocks.append((off, k))
        off += cov.n_theta
    offsets = [0]
    for _, k, levels in key[1:]:
        offsets.append(offsets[-1] + k * levels)
    ks = tuple(k for _, k, _ in key)
    takes = all(k <= KMAX for k in ks)
    rest = _read_only(np.array([[o, k, levels] for (_, k, levels), o in
                                zip(key[1:], offsets[:-1], strict=True)],
                               dtype=np.int64).reshape(-1, 3)) if takes else None
    tmap = template_map_of(tuple(cov for cov, _, _ in key))
    return TermsPlan(
        theta_slices=tuple(slices), n_theta=off,
        lower=_read_only(np.concatenate([cov.lower_bounds() for cov, _, _ in key])),
        upper=_read_only(np.concatenate([cov.upper_bounds() for cov, _, _ in key])),
        start=_read_only(np.concatenate([cov.start() for cov, _, _ in key])),
        blocks=tuple(blocks), ks=ks, rest_offsets=tuple(offsets),
        all_scalar_rest=all(k == 1 for k in ks[1:]), rest_layout=rest, template_map=tmap,
        gather=None if tmap is None else _read_only(tmap + 1))


def template_map_of(structures: tuple) -> np.ndarray | None:
    """For each entry of the terms' packed templates (term by term, k×k row-major) the
    index of the θ value it holds (−1: a structural zero), or None when some structure is
    not a 0/1 map of θ (`lmm.compiled.template_map`, by the terms' covariance structures)."""
    try:
        return _template_map(structures)
    except TypeError:                   # a structure holding unhashable fields
        return _template_map.__wrapped__(structures)


@lru_cache(maxsize=64)
def _template_map(structures: tuple) -> np.ndarray | None:
    """`template_map` by the terms' covariance structures (frozen, so hashable: a refit or
    a PIRLS step reuses the map)."""
    out, start = [], 0
    for cov in structures:
        if type(cov) not in (Unstructured, Diagonal):
            return None
        labels = cov.template(np.arange(1.0, cov.n_theta + 1.0))
        out.append(np.where(labels > 0, labels - 1 + start, -1).astype(np.int64).ravel())
        start += cov.n_theta
    tmap = np.concatenate(out)
    tmap.flags.writeable = False
    return tmap
