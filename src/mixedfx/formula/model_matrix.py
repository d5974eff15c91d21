"""The columns of a model matrix from its encoded variables, as R's C routine ``modelmatrix``
assembles them: the ``(Intercept)`` column, then each term's columns, its variables' blocks
multiplied out with the first variable varying fastest; a factor's block is its contrast matrix
(coding 1: ``contr.treatment``, or ``contr.poly`` when ordered) or the indicators of all its
levels (coding 2), row by row. Column names join the variables' names with ``:``
(``sectorCatholic:cses``).

Which coding each factor gets in each term is decided by :mod:`.design` (R's ``TermCode``);
the contrast matrices come from :mod:`.contrasts`, remembered per levels and ordering.
"""

from __future__ import annotations

import numpy as np

from .columns import ColumnTable
from .contrasts import contrast_matrix
from .evaluate import Variable
from .nodes import Name, Paren

__all__ = ["ColumnFill", "assemble", "column_names"]


def _block(var: Variable, code: int, data: ColumnTable) -> tuple[np.ndarray, list[str]]:
    if var.kind == "numeric":
        return var.numeric(data), list(var.colnames)
    codes = var.codes(data)
    if code == 1:
        mat, suffixes = _contrasts(tuple(var.levels), var.ordered, var.label)
        suffixes = list(suffixes)
    else:
        mat, suffixes = np.eye(len(var.levels)), list(var.levels)
    # take(): NumPy's fancy indexing of rows is several times slower for long code vectors
    if not len(codes) or codes.min() >= 0:
        return mat.take(codes, axis=0), suffixes
    ok = codes >= 0
    out = np.full((len(codes), mat.shape[1]), np.nan)
    out[ok] = mat.take(codes[ok], axis=0)
    return out, suffixes


def assemble(
    variables: dict[int, Variable],
    terms: tuple[tuple[int, ...], ...],
    codes: list[dict[int, int]] | tuple[dict[int, int], ...],
    intercept: bool,
    data: ColumnTable,
) -> np.ndarray:
    """The model matrix: the intercept, then each term's columns (its variables' blocks
    multiplied out, the first varying fastest); names come from `column_names`."""
    n = len(data)
    blocks: list[np.ndarray] = []
    cache: dict[tuple[int, int], np.ndarray] = {}
    for k, term in enumerate(terms):
        cols: np.ndarray | None = None
        for v in term:
            var = variables[v]
            key = (v, codes[k][v] if var.kind == "factor" else 0)
            mat = cache.get(key)
            if mat is None:
                mat = cache[key] = _block(var, key[1], data)[0]
            if cols is None:
                cols = mat
            else:
                cols = np.concatenate([cols * mat[:, [j]] for j in range(mat.shape[1])], axis=1)
        assert cols is not None
        blocks.append(cols)
    # one allocation: X filled block by block (the intercept column set in place)
    X = np.empty((n, int(intercept) + sum(b.shape[1] for b in blocks)), dtype=np.float64)
    j = 0
    if intercept:
        X[:, 0] = 1.0
        j = 1
    for b in blocks:
        _copy_block(X, j, b)
        j += b.shape[1]
    return X


_NARROW = 16


_SHORT = 256


def _copy_block(X: np.ndarray, j: int, b: np.ndarray) -> None:
    """Block `b` into X's columns j, j + 1, ... (as `assemble` copies it)."""
    w = b.shape[1]
    if w <= _NARROW and b.shape[0] > _SHORT:
        # column by column: NumPy copies a narrow 2-d block into a strided slice of X
        # row by row, several times slower than w strided column copies (for a few hundred
        # rows or fewer the one copy costs less)
        for c in range(w):
            X[:, j + c] = b[:, c]
    else:
        X[:, j:j + w] = b


class ColumnFill:
    """`assemble` for a design whose terms each have a single variable read straight from a
    data column (a bare column ``x`` or ``f``): X's intercept, then per term the column's
    numbers or the rows of its factor's contrast or indicator matrix at its codes, the same
    values copied in the same places, without the per-term work of assembling blocks.
    `of` gives None for other designs."""

    __slots__ = ("blocks", "intercept", "ones", "rows", "width")

    def __init__(self, blocks: tuple[tuple[int, str, np.ndarray | None], ...],
                 intercept: bool, width: int) -> None:
        self.blocks, self.intercept, self.width = blocks, intercept, width
        self.ones: np.ndarray | None = None
        # one factor (after the intercept, if any): X's rows are the rows of [1 | its
        # matrix] at its codes, taken at once
        self.rows = None
        if len(blocks) == 1 and blocks[0][2] is not None:
            mat = blocks[0][2]
            rows = np.hstack([np.ones((mat.shape[0], 1)), mat]) if intercept else mat.copy()
            rows.flags.writeable = False
            self.rows = rows

    @classmethod
    def of(cls, variables: dict[int, Variable], terms: tuple[tuple[int, ...], ...],
           codes: list[dict[int, int]] | tuple[dict[int, int], ...], intercept: bool,
           data: ColumnTable) -> ColumnFill | None:
        """The fill of a design (as `assemble` takes it) built on `data`, None unless every
        term is one variable that is a bare column of `data`: a numeric column, or a factor
        column whose categories are the variable's levels (its codes are the variable's)."""
        blocks = []
        j = int(intercept)
        for k, term in enumerate(terms):
            var = variables[term[0]]
            node = var.node
            while isinstance(node, Paren):
                node = node.expr
            if len(term) != 1 or not isinstance(node, Name):
                return None
            col = data.column(node.name)
            if var.kind == "numeric" and col.kind == "numeric" and var.colnames == [""]:
                mat = None
            elif var.kind == "factor" and col.kind == "factor" and \
                    list(col.levels) == var.raw_levels:
                mat = _contrasts(tuple(var.levels), var.ordered, var.label)[0] \
                    if codes[k][term[0]] == 1 else np.eye(len(var.levels))
            else:
                return None
            blocks.append((j, node.name, mat))
            j += 1 if mat is None else mat.shape[1]
        return cls(tuple(blocks), intercept, j)

    def matrix(self, data: ColumnTable) -> np.ndarray:
        """X of `data`, whose columns have the kinds and (factors) levels of the data the
        design was built on, and whose factors have no missing value (no code −1)."""
        if self.rows is not None:
            return self.rows.take(data.column(self.blocks[0][1]).values, axis=0)
        if not self.blocks:                 # the intercept alone, `(1 | g)`'s (or nothing)
            # a copy of the read-only ones of the last row count (np.ones costs 5x a copy)
            ones = self.ones
            if ones is None or ones.shape[0] != len(data):
                ones = np.ones((len(data), self.width), dtype=np.float64)
                ones.flags.writeable = False
                self.ones = ones            # (another thread's may replace it: the same)
            return ones.copy()
        X = np.empty((len(data), self.width), dtype=np.float64)
        if self.intercept:
            X[:, 0] = 1.0
        for j, source, mat in self.blocks:
            values = data.column(source).values
            if mat is None:
                X[:, j] = values
            else:
                _copy_block(X, j, mat.take(values, axis=0))
        return X


def column_names(
    variables: dict[int, Variable],
    terms: tuple[tuple[int, ...], ...],
    codes: list[dict[int, int]] | tuple[dict[int, int], ...],
    intercept: bool,
) -> list[tuple[str, int]]:
    """Each column's name (R's, ``a:b`` for products, the first variable varying fastest)
    and its term (0: the intercept, else the 1-based term index), in `assemble`'s order."""
    names: list[tuple[str, int]] = [("(Intercept)", 0)] if intercept else []
    for k, term in enumerate(terms, start=1):
        cnames: list[str] | None = None
        for v in term:
            var = variables[v]
            if var.kind != "factor":
                suffixes = list(var.colnames)
            elif codes[k - 1][v] == 1:
                suffixes = _contrast_suffixes(var)
            else:
                suffixes = list(var.levels)
            vnames = [var.label + s for s in suffixes]
            cnames = vnames if cnames is None else [f"{a}:{b}" for b in vnames for a in cnames]
        names.extend((c, k) for c in cnames or [])
    return names


def _contrast_suffixes(var: Variable) -> list[str]:
    """The column suffixes of a factor coded by its contrasts."""
    return list(_contrasts(tuple(var.levels), var.ordered, var.label)[1])


def _contrasts(levels: tuple[str, ...], ordered: bool, label: str
               ) -> tuple[np.ndarray, tuple[str, ...]]:
    """`contrast_matrix` (read-only) and its suffixes, remembered per levels and ordering
    (contr.poly's matrix costs formulaic far more than a fit's use of it)."""
    hit = _CONTRASTS.get((levels, ordered))
    if hit is None:
        mat, suffixes, _ = contrast_matrix(list(levels), ordered, label)
        mat = np.array(mat, dtype=float)
        mat.flags.writeable = False
        if len(_CONTRASTS) >= 256:
            _CONTRASTS.clear()
        hit = _CONTRASTS[(levels, ordered)] = (mat, tuple(suffixes))
    return hit


_CONTRASTS: dict[tuple[tuple[str, ...], bool], tuple[np.ndarray, tuple[str, ...]]] = {}
