"""Which of the user's rows a fit used, so that row-wise results line up with the data.

A fit drops rows with missing values (`na_action="omit"`, R's `na.omit`) and works on the
n rows left, renumbered 0..n-1. `RowMap` remembers the user's index labels of those rows, so
that `fitted()`, `residuals()`, `predict()`, `hatvalues()`, `cooks_distance()` and
`augment()` come back as pandas objects indexed by the rows used (joining them back to the
data cannot misalign). With `na_action="exclude"` (R's `na.exclude`) they are padded to the
data's full length instead, NaN at the dropped rows, in the data's own row order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mixedfx.errors import DataError
from mixedfx.warn import warn

__all__ = ["MissingDataWarning", "RowMap", "compose_positions", "drop_missing",
           "newdata_index", "row_map", "series_for", "used_rows"]


class MissingDataWarning(UserWarning):
    """Rows with missing values in the model's variables were dropped."""


def drop_missing(missing: dict[str, np.ndarray | None], n: int,
                 extra: dict[str, np.ndarray | None], na_action: str,
                 ) -> tuple[np.ndarray | None, dict[str, np.ndarray | None], int]:
    """R's `na.omit` / `na.exclude` / `na.fail` of the model's columns (given as each
    column's missing-value mask, None for none) and the per-row vectors in `extra` (weights,
    offset): the positions of the n rows kept (None: every row), the vectors subset alike
    and the number dropped; "fail" refuses missing values naming their columns."""
    masks = {k: m for k, m in missing.items() if m is not None and m.any()}
    masks.update({k: np.isnan(v) for k, v in extra.items() if v is not None})
    masks = {k: m for k, m in masks.items() if m.any()}
    if not masks:
        return None, extra, 0
    mask = np.zeros(n, dtype=bool)
    for m in masks.values():
        mask |= m
    n_missing = int(mask.sum())
    if na_action == "fail":
        cols = [str(c) for c in masks]
        raise DataError(f"missing values in {n_missing} row(s) of the model's variables "
                        f"(column(s) {', '.join(map(repr, cols))}) with na_action='fail'; "
                        "drop them or use na_action='omit' / 'exclude'")
    keep = np.flatnonzero(~mask)
    warn(f"{n_missing} observation(s) deleted due to missingness", MissingDataWarning)
    extra = {k: (v[keep] if v is not None else None) for k, v in extra.items()}
    return keep, extra, n_missing


@dataclass(frozen=True)
class RowMap:
    """The rows used: `kept`, their positions (0-based, in the data as given; None: every
    row, in order), the data's `index` (all rows) and whether results are padded to every
    row (`exclude`)."""

    index: pd.Index
    kept: np.ndarray | None = None
    exclude: bool = False

    def __init__(self, index: pd.Index, kept: np.ndarray | None = None,
                 exclude: bool = False) -> None:
        # the fields set at once: a frozen dataclass's generated __init__ sets each through
        # object.__setattr__ (a fit makes one)
        self.__dict__.update(index=index, kept=kept, exclude=exclude)

    @property
    def positions(self) -> np.ndarray:
        """The positions of the rows used, in the fit's row order."""
        return np.arange(len(self.index)) if self.kept is None else self.kept

    @property
    def used_index(self) -> pd.Index:
        """The user's labels of the rows used, in the fit's row order."""
        return self.index if self.kept is None else self.index[self.kept]

    @property
    def result_index(self) -> pd.Index:
        """The index of row-wise results: every row with `exclude`, else the rows used."""
        return self.index if self.exclude else self.used_index

    def series(self, values: np.ndarray, name: str | None = None) -> pd.Series:
        """Per-row values of the n rows used as a Series on `result_index` (NaN-padded
        at the dropped rows with `exclude`)."""
        values = np.asarray(values, dtype=float)
        if not self.exclude or self.kept is None:
            return pd.Series(values, index=self.used_index, name=name)
        out = np.full(len(self.index), np.nan)
        out[self.kept] = values
        return pd.Series(out, index=self.index, name=name)

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """Rows of the n rows used (a frame with n rows) on `result_index`; with `exclude`
        the dropped rows are added back as rows of missing values, in the data's order."""
        if not self.exclude or self.kept is None:
            return df.set_axis(self.used_index, axis=0)
        slot = np.full(len(self.index), -1, dtype=np.int64)
        slot[self.kept] = np.arange(len(self.kept))
        full = df.reset_index(drop=True).reindex(slot)
        return full.set_axis(self.index, axis=0)

    def used(self, values: object) -> np.ndarray:
        """The values of the rows used, as an array: undoes `series` (a full-length
        `exclude` result loses its padding)."""
        arr = np.asarray(values)
        if self.exclude and self.kept is not None and arr.shape[:1] == (len(self.index),) \
                and len(self.index) != len(self.kept):
            return arr[self.kept]
        return arr


def row_map(index: pd.Index, positions: np.ndarray | None, na_action: str) -> RowMap:
    """The RowMap of a fit that used the rows at `positions` (None: every row, in order) of
    data indexed by `index`."""
    kept = None if positions is None else np.asarray(positions, dtype=np.int64)
    return RowMap(index=index, kept=kept, exclude=na_action == "exclude")


def compose_positions(base: np.ndarray | None, rows: np.ndarray | None) -> np.ndarray | None:
    """Positions in the original data of the `rows` (None: all) of data that is itself the
    rows `base` (None: all) of the original; None when that is every row."""
    if rows is None:
        return base
    return rows if base is None else base[rows]


def series_for(rows: RowMap | None, values: np.ndarray, name: str | None = None
               ) -> pd.Series:
    """`rows.series(values)`, or a Series on 0..n-1 for a frame without a RowMap (a model
    built without the user's data, e.g. on Dask partitions)."""
    if rows is None:
        return pd.Series(np.asarray(values, dtype=float), name=name)
    return rows.series(values, name)


def frame_for(rows: RowMap | None, df: pd.DataFrame) -> pd.DataFrame:
    """`rows.frame(df)`, or `df` on 0..n-1 without a RowMap."""
    return df.reset_index(drop=True) if rows is None else rows.frame(df)


def newdata_index(newdata: object, n: int) -> pd.Index:
    """The row labels predictions for `newdata` keep: a pandas frame's own index, else
    0..n-1 (polars and Arrow tables have no index)."""
    if isinstance(newdata, pd.DataFrame) and len(newdata.index) == n:
        return newdata.index
    return pd.RangeIndex(n)


def used_rows(model: object, values: object) -> np.ndarray:
    """The values of the rows a model used, as an array, from any of its row-wise results
    (a Series indexed by the rows used, or padded to every row with na_action="exclude")."""
    rows = getattr(getattr(model, "frame", None), "rows", None)
    if rows is None:
        return np.asarray(values)
    return rows.used(values)
