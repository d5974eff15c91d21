"""Pass 2 on one partition: its rows encoded with the global levels, and its share of the
cross-products of [Z X y].

Every block of [Z X y]ᵀ W [Z X y] (A₁₁, B, A_rr of `lmm.crossproducts`) is a sum over rows,
so the blocks of the whole data set are the sums of the partitions' blocks. A partition is
encoded with the design specs built once on the driver (same columns, same factor levels,
same contrasts) and grouping codes into the global level lists, so the partitions' blocks
have identical shapes and add.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.distributed.levels import interaction_key, value_codes
from mixedfx.errors import DataError
from mixedfx.formula import evaluate_response
from mixedfx.frame.terms import RandomEffectsTerm
from mixedfx.lazy import lazy_module
from mixedfx.lmm.crossproducts import CrossProductBuilder, CrossProducts
from mixedfx.lmm.sliced import LevelSlice

sp = lazy_module("scipy.sparse")  # ~0.1 s at import (with scipy.sparse.linalg); only here


@dataclass
class EncodedPartition:
    """One partition's model rows: response, X, the terms' codes and values, weights and
    offset (None when absent)."""

    y: np.ndarray
    X: np.ndarray
    terms: list[RandomEffectsTerm]
    weights: np.ndarray | None
    offset: np.ndarray | None
    index: pd.Index | None = None            # the partition's index of these rows


@dataclass
class PartitionEncoder:
    """What a worker needs to encode a partition exactly as the driver's model frame."""

    columns: list[str]                       # the model's data columns
    response: str
    offsets: tuple[str, ...]                 # formula offset(...) expressions
    fixed_design: object                     # formula.design.DesignSpec
    kept_columns: np.ndarray
    terms: list[RandomEffectsTerm]           # global levels; codes/values empty
    factor_levels: dict[str, list[str]]      # factor columns (not the response) -> labels
    group_keys: dict[tuple[str, ...], np.ndarray]   # interaction -> sorted keys
    group_labels: dict[str, list[str]]       # grouping column -> labels
    weights_column: str | None
    offset_column: str | None
    glm: bool

    @property
    def read_columns(self) -> list[str]:
        """The data columns the model reads: its variables, the weights and offset columns."""
        return list(dict.fromkeys([*self.columns,
                                   *(c for c in (self.weights_column, self.offset_column)
                                     if c is not None)]))

    def encode(self, part: pd.DataFrame) -> EncodedPartition | None:
        """The partition's complete rows encoded (None when it has none)."""
        sub = part.loc[:, self.read_columns]
        sub = sub.loc[~sub.isna().any(axis=1).to_numpy()]
        index = sub.index
        sub = sub.reset_index(drop=True)
        if len(sub) == 0:
            return None
        frame = sub.copy()
        for col, labels in self.factor_levels.items():
            codes = value_codes(sub[col], labels)
            frame[col] = pd.Categorical.from_codes(codes, categories=labels)
        y = np.asarray(evaluate_response(self.response, frame, factor_as_indicator=self.glm),
                       dtype=float)
        if not np.all(np.isfinite(y)):
            raise DataError(f"response {self.response!r} has non-finite value(s) (Inf or "
                            "NaN after transformation)")
        off = None
        for expr in self.offsets:
            term = np.asarray(evaluate_response(expr, frame), dtype=float)
            off = term if off is None else off + term
        if self.offset_column is not None:
            col = sub[self.offset_column].to_numpy(dtype=float)
            off = col if off is None else off + col
        if off is not None and not np.all(np.isfinite(off)):
            raise DataError("offset must be finite")
        w = None
        if self.weights_column is not None:
            w = sub[self.weights_column].to_numpy(dtype=float)
            if np.any(~np.isfinite(w)) or np.any(w <= 0):
                raise DataError("weights must be positive and finite")
        X = np.asarray(self.fixed_design.matrix(frame), dtype=float)[:, self.kept_columns]
        terms = []
        for t in self.terms:
            if len(t.group_vars) == 1:
                codes = value_codes(sub[t.group_vars[0]], self.group_labels[t.group_vars[0]])
            else:
                key = interaction_key(sub, t.group_vars, self.group_labels)
                codes = np.searchsorted(self.group_keys[t.group_vars], key)
            V = np.ascontiguousarray(np.asarray(t.design.matrix(frame), dtype=float))
            terms.append(replace(t, codes=codes.astype(np.int64), values=V))
        return EncodedPartition(y=y, X=X, terms=terms, weights=w, offset=off, index=index)


@dataclass
class PartialSums:
    """A partition's (or a group of partitions') cross-products and Σ log wᵢ."""

    xp: CrossProducts
    ldW: float


def partition_crossproducts(part: pd.DataFrame, encoder: PartitionEncoder
                            ) -> PartialSums | None:
    """[Z X y]ᵀ W [Z X y] blocks of one partition's rows (y minus the offset)."""
    enc = encoder.encode(part)
    if enc is None:
        return None
    y = enc.y if enc.offset is None else enc.y - enc.offset
    sqrt_w = None if enc.weights is None else np.sqrt(enc.weights)
    xp = CrossProductBuilder(enc.terms, enc.X).compute(y, sqrt_w)
    ldW = 0.0 if enc.weights is None else float(np.sum(np.log(enc.weights)))
    return PartialSums(xp, ldW)


def add_sums(a: PartialSums, b: PartialSums) -> PartialSums:
    """The blocks of the union of two disjoint sets of rows."""
    xa, xb = a.xp, b.xp
    if isinstance(xa.B, np.ndarray):
        B = xa.B + xb.B
    else:
        B = (xa.B + xb.B).tocsr()
        B.sum_duplicates()
        B.sort_indices()
    xp = CrossProducts(A11=xa.A11 + xb.A11, B=B, Arr=xa.Arr + xb.Arr, q_rest=xa.q_rest,
                       p=xa.p, n=xa.n + xb.n, rest_offsets=xa.rest_offsets)
    return PartialSums(xp, a.ldW + b.ldW)


def drop_fixed_columns(xp: CrossProducts, drop: np.ndarray) -> CrossProducts:
    """The blocks without the given columns of X (rank-deficient fixed effects)."""
    if len(drop) == 0:
        return xp
    keep_rows = np.setdiff1d(np.arange(xp.r), xp.q_rest + np.asarray(drop))
    B = xp.B[keep_rows]
    if sp.issparse(B):
        B = B.tocsr()
    return CrossProducts(A11=xp.A11, B=B, Arr=xp.Arr[np.ix_(keep_rows, keep_rows)],
                         q_rest=xp.q_rest, p=xp.p - len(drop), n=xp.n,
                         rest_offsets=xp.rest_offsets)


def independent_gram_columns(G: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """`frame.rank.independent_columns` from the Gram matrix XᵀX: column j is kept when its
    residual after projecting out the kept earlier columns, ‖r_j‖² = G_jj − G_jK G_KK⁻¹ G_Kj,
    exceeds tol²·G_jj."""
    keep: list[int] = []
    for j in range(G.shape[0]):
        gjj = G[j, j]
        if gjj <= 0:
            continue
        if keep:
            K = np.asarray(keep)
            gk = G[K, j]
            resid2 = gjj - gk @ np.linalg.solve(G[np.ix_(K, K)], gk)
        else:
            resid2 = gjj
        if resid2 > tol * tol * gjj:
            keep.append(j)
    return np.asarray(keep, dtype=np.int64)


def split_sums(ps: PartialSums | None, level_bounds: list[tuple[int, int]], k1: int
               ) -> tuple[PartialSums | None, list[sp.csc_matrix | None]]:
    """A partition's sums without B, and B's column slices (levels [a, b) of Z₁ each)."""
    if ps is None:
        return None, [None] * len(level_bounds)
    Bc = sp.csc_matrix(ps.xp.B)
    slices = [Bc[:, a * k1:b * k1] for a, b in level_bounds]
    return PartialSums(replace(ps.xp, B=None), ps.ldW), slices


def add_small(a: PartialSums, b: PartialSums) -> PartialSums:
    """`add_sums` for sums whose B is kept apart (sliced)."""
    xa, xb = a.xp, b.xp
    xp = CrossProducts(A11=xa.A11 + xb.A11, B=None, Arr=xa.Arr + xb.Arr, q_rest=xa.q_rest,
                       p=xa.p, n=xa.n + xb.n, rest_offsets=xa.rest_offsets)
    return PartialSums(xp, a.ldW + b.ldW)


def add_slices(a: sp.csc_matrix, b: sp.csc_matrix) -> sp.csc_matrix:
    out = (a + b).tocsc()
    out.sum_duplicates()
    return out


def slice_levels(M: sp.csc_matrix | None, k1: int, start: int, stop: int) -> Any:
    """A reduced slice of B in the level-major form of `lmm.sliced.LevelSlice`."""
    if M is None:
        raise DataError("no observations in the data")
    return LevelSlice.from_matrix(M, k1, start, stop)
