"""B = [Z_rest X y]ᵀ Z₁ kept out of memory, in slices of Z₁'s levels, and B W Bᵀ from it.

For data far larger than one machine's memory (a Dask fit) the number of nonzeros of B
grows with the rows until every (level of Z₁, row of B) pair occurs: 20 million rows with
200,000 × 5,000 crossed levels give ≈ 40 million. `SlicedB` keeps B as column slices (one
contiguous range of Z₁'s levels each) in files of a private temporary directory; the driver
holds one slice at a time, so its memory stays O(slice + r²) whatever the number of rows.

A slice is stored level-major (as `level_rows` returns it): for each level j the sorted
rows a of B with a nonzero in j's k₁ columns and their values v_a (k₁ each), plus the same
entries ordered by row. B W Bᵀ, with W block diagonal (W_j k₁×k₁), is

    (B W Bᵀ)[a, b] = Σ_j v_{a,j}ᵀ W_j v_{b,j}        (sum over the levels j holding a and b)

computed level by level: D_j = V_j W_j once, then for each row a of level j the products
with j's rows b ≥ a go to row a of the result (the upper triangle, in C order), by the
compiled kernel of `mixedfx._native.lmm` (one thread), or as scipy's sparse product per
slice when the kernel is not built.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mixedfx.errors import ArgumentError, ArgumentTypeError
from mixedfx.lazy import lazy_module
from mixedfx.native import kernel

sp = lazy_module("scipy.sparse")  # ~0.1 s at import (with scipy.sparse.linalg); only here

SLICE_BYTES = 64 * 1024**2          # target size of one slice of B in memory
SLICED_B_BYTES = 256 * 1024**2      # B estimated above this is kept sliced on disk


def level_rows(B: sp.csr_matrix, k1: int, n1: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each level j of Z₁: the sorted rows of B with a nonzero in j's k₁ columns.

    Returns (indptr over levels, row index per entry, (entries, k₁) values), level-major.
    """
    if k1 == 1:
        Bc = B.tocsc()
        Bc.sort_indices()
        return Bc.indptr.astype(np.int64), Bc.indices.astype(np.int64), Bc.data[:, None]
    coo = B.tocoo()
    r = B.shape[0]
    key = (coo.col // k1).astype(np.int64) * r + coo.row
    ukey, inv = np.unique(key, return_inverse=True)
    vals = np.zeros((len(ukey), k1))
    np.add.at(vals, (inv, coo.col % k1), coo.data)
    level = ukey // r
    indptr = np.searchsorted(level, np.arange(n1 + 1)).astype(np.int64)
    return indptr, ukey % r, vals


@dataclass
class LevelSlice:
    """Levels [start, stop) of Z₁: per level the rows of B and their k₁ values.

    `indptr` (levels + 1) delimits each level's entries in `rows` (sorted within a level)
    and `vals` (entries × k₁); `order` lists the entries by row, `rptr` (r + 1) delimits
    each row's run in it."""

    start: int
    stop: int
    indptr: np.ndarray
    rows: np.ndarray
    vals: np.ndarray
    order: np.ndarray
    rptr: np.ndarray

    @classmethod
    def from_matrix(cls, M: sp.spmatrix | np.ndarray, k1: int, start: int, stop: int
                    ) -> LevelSlice:
        """From B's columns of levels [start, stop) (an r × (stop−start)·k₁ matrix)."""
        M = sp.csr_matrix(M)
        M.eliminate_zeros()
        indptr, rows, vals = level_rows(M, k1, stop - start)
        rows = rows.astype(np.int32)
        order = np.argsort(rows, kind="stable")
        rptr = np.searchsorted(rows[order], np.arange(M.shape[0] + 1)).astype(np.int64)
        return cls(start, stop, indptr.astype(np.int64), rows, np.ascontiguousarray(vals),
                   order.astype(np.int64), rptr)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.indptr, self.rows, self.vals, self.order,
                                      self.rptr))

    def to_csc(self, r: int) -> sp.csc_matrix:
        """The slice as an r × (levels·k₁) CSC matrix."""
        n, k1 = self.stop - self.start, self.vals.shape[1]
        level = np.repeat(np.arange(n), np.diff(self.indptr))
        cols = (level[:, None] * k1 + np.arange(k1)[None, :]).ravel()
        rows = np.repeat(self.rows, k1)
        M = sp.csc_matrix((self.vals.ravel(), (rows, cols)), shape=(r, n * k1))
        M.eliminate_zeros()
        return M


class SlicedB:
    """B (r × n₁·k₁) as level slices in files; the driver loads one slice at a time.

    Supports what the engine asks of B: `shape`, `B.T @ v`, row selection `B[rows]`
    (a new SlicedB), row/column blocks `B[:q, c0:c1]` (a CSR matrix) and `to_csr()`.
    The files are removed when the object is garbage collected."""

    def __init__(self, r: int, n1: int, k1: int, directory: str | None = None) -> None:
        self.shape = (r, n1 * k1)
        self.r, self.n1, self.k1 = r, n1, k1
        self.dir = tempfile.mkdtemp(prefix="mixedfx-B-", dir=directory)
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.dir, True)
        self.bounds: list[tuple[int, int]] = []
        self.nnz = 0
        self._row_select: np.ndarray | None = None

    def add(self, s: LevelSlice) -> None:
        """Store the next slice (slices come in level order and cover 0 .. n₁)."""
        expect = self.bounds[-1][1] if self.bounds else 0
        if s.start != expect:
            raise ArgumentError(f"slice starts at level {s.start}, expected {expect}")
        path = os.path.join(self.dir, f"slice{len(self.bounds):05d}.npz")
        np.savez(path, indptr=s.indptr, rows=s.rows, vals=s.vals, order=s.order,
                 rptr=s.rptr)
        self.bounds.append((s.start, s.stop))
        self.nnz += int(len(s.rows) * self.k1)

    def load(self, i: int) -> LevelSlice:
        start, stop = self.bounds[i]
        with np.load(os.path.join(self.dir, f"slice{i:05d}.npz")) as z:
            return LevelSlice(start, stop, z["indptr"], z["rows"], z["vals"], z["order"],
                              z["rptr"])

    def __iter__(self) -> Iterator[LevelSlice]:
        for i in range(len(self.bounds)):
            yield self.load(i)

    @property
    def T(self) -> _TransposedB:
        return _TransposedB(self)

    def rmatvec(self, v: np.ndarray) -> np.ndarray:
        """Bᵀ v (length n₁·k₁)."""
        v = np.asarray(v, dtype=float)
        out = np.zeros((self.n1, self.k1))
        for s in self:
            level = np.repeat(np.arange(s.start, s.stop), np.diff(s.indptr))
            np.add.at(out, level, s.vals * v[s.rows][:, None])
        return out.ravel()

    def __getitem__(self, key: object) -> SlicedB | _RowBlock | sp.csr_matrix:
        if isinstance(key, tuple):
            rows, cols = key
            if not isinstance(cols, slice):
                raise ArgumentTypeError("SlicedB columns are selected by a slice")
            if cols == slice(None):           # a row block: columns are read on request
                return _RowBlock(self, np.arange(self.r)[rows])
            return self.block(np.arange(self.r)[rows], cols)
        return self.take_rows(np.arange(self.r)[key])

    def block(self, rows: np.ndarray, cols: slice) -> sp.csr_matrix:
        """B[rows, cols] as CSR (the slices overlapping the column range are loaded)."""
        c0, c1, step = cols.indices(self.shape[1])
        if step != 1:
            raise ArgumentError("SlicedB column slices must be contiguous")
        l0, l1 = c0 // self.k1, -(-c1 // self.k1)
        pieces = []
        for i, (a, b) in enumerate(self.bounds):
            if b <= l0 or a >= l1:
                continue
            M = self.load(i).to_csc(self.r)
            lo, hi = max(c0, a * self.k1) - a * self.k1, min(c1, b * self.k1) - a * self.k1
            pieces.append(M[:, lo:hi])
        M = sp.hstack(pieces, format="csr") if pieces else sp.csr_matrix((self.r, 0))
        return M[rows] if len(rows) != self.r or np.any(rows != np.arange(self.r)) else M

    def take_rows(self, rows: np.ndarray) -> SlicedB:
        """B[rows] as a new SlicedB (each slice rewritten)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = SlicedB(len(rows), self.n1, self.k1, os.path.dirname(self.dir))
        for i, (a, b) in enumerate(self.bounds):
            M = self.load(i).to_csc(self.r)[rows]
            out.add(LevelSlice.from_matrix(M, self.k1, a, b))
        return out

    def with_last_row(self, row: np.ndarray) -> SlicedB:
        """B with its last row (the response's) replaced, as a new SlicedB."""
        row = np.asarray(row, dtype=float)
        out = SlicedB(self.r, self.n1, self.k1, os.path.dirname(self.dir))
        for i, (a, b) in enumerate(self.bounds):
            M = self.load(i).to_csc(self.r)[:-1]
            last = sp.csr_matrix(row[None, a * self.k1:b * self.k1])
            out.add(LevelSlice.from_matrix(sp.vstack([M, last]), self.k1, a, b))
        return out

    def to_csr(self) -> sp.csr_matrix:
        """The whole B in memory (pickling a fitted model)."""
        return self.block(np.arange(self.r), slice(None))

    def __reduce__(self) -> tuple:
        return (_csr_from_parts, (self.to_csr(),))


def _csr_from_parts(M: sp.csr_matrix) -> sp.csr_matrix:
    return M


class _RowBlock:
    """B[rows, :] whose column blocks `[:, c0:c1]` are read from the slices on request."""

    def __init__(self, B: SlicedB, rows: np.ndarray) -> None:
        self.B, self.rows = B, rows
        self.shape = (len(rows), B.shape[1])

    def __getitem__(self, key: tuple) -> sp.csr_matrix:
        rows, cols = key
        return self.B.block(self.rows[rows], cols)


class _TransposedB:
    def __init__(self, B: SlicedB) -> None:
        self.B = B

    def __matmul__(self, v: np.ndarray) -> np.ndarray:
        return self.B.rmatvec(v)


_KERNEL: list = []
# rows and columns of P per tile of the compiled kernel (TILE in _native/lmm.c): a 512 KiB
# tile fits the L2 cache
TILE = 256


def compiled_kernel():
    """The compiled level-major kernel ``subtract_slice(indptr, rows, vals, start, W, P)``:
    P ← P − B W Bᵀ on the upper triangle for one slice, updating P one TILE × TILE tile at a
    time with each entry's levels summed in level order (`mixedfx._native.lmm`); None when
    the kernel is not built (`mixedfx.native` warns once; scipy's sparse product serves)."""
    if not _KERNEL:
        mod = kernel("lmm")
        _KERNEL.append(None if mod is None else mod.subtract_slice)
    return _KERNEL[0]


class SlicedGram:
    """`weighted_gram.WeightedGram` for a `SlicedB`: B W Bᵀ slice by slice, never storing
    pair products (memory: one slice plus the r×r result)."""

    dense = False
    direct = True

    def __init__(self, B: SlicedB, k1: int, n1: int) -> None:
        if (B.k1, B.n1) != (k1, n1):
            raise ArgumentError("SlicedB does not match the first term")
        self.B, self.r, self.k1, self.n1 = B, B.r, k1, n1

    def refresh(self, B: object) -> bool:
        return False

    def __call__(self, W: np.ndarray) -> np.ndarray:
        """B W Bᵀ as a dense r×r array (upper triangle in C order)."""
        P = np.zeros((self.r, self.r))
        self.subtract_from(P, W)
        np.negative(P, out=P)
        return P

    def subtract_from(self, P: np.ndarray, W: np.ndarray) -> None:
        """In place: P ← P − B W Bᵀ on the upper triangle (C order)."""
        W3 = np.ascontiguousarray(np.asarray(W, dtype=float).reshape(self.n1, self.k1,
                                                                      self.k1))
        kernel = compiled_kernel()
        for s in self.B:
            if kernel is not None and P.flags.c_contiguous:
                kernel(s.indptr, s.rows, s.vals, s.start, W3, P)
                continue
            M = s.to_csc(self.r)
            n = s.stop - s.start
            idx = np.arange(n, dtype=np.int32)
            Wm = sp.bsr_matrix((W3[s.start:s.stop], idx, np.arange(n + 1, dtype=np.int32)),
                               shape=(n * self.k1, n * self.k1))
            G = (M @ Wm @ M.T).tocoo()
            up = G.row <= G.col
            np.subtract.at(P, (G.row[up], G.col[up]), G.data[up])


def estimated_b_bytes(n_rows: int, k1: int, rest_nonzeros_per_row: int, p: int,
                      n1: int, r: int) -> int:
    """An upper bound on the memory of a sparse B: ≈ 16 bytes per nonzero (value, row,
    order), nonzeros ≤ min(n·k₁·(nonzeros of a row of Z_rest) + (p+1)·n₁·k₁, r·n₁·k₁)."""
    nnz = min(n_rows * k1 * rest_nonzeros_per_row + (p + 1) * n1 * k1, r * n1 * k1)
    return 16 * nnz
