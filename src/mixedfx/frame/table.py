"""The model's columns as NumPy arrays: each used column read from the data once, its missing
values found, the rows kept taken and the factors encoded, without building pandas objects.

`read_columns` gives each used column (a Series of a `snapshot` of the data); `missing_mask`
its missing cells; `model_table` the kept rows as a `formula.columns.ColumnTable`
(factor-like columns but the response as factors in R's level order,
`frame.levels.factor_codes`), which the formula is evaluated on.
The pandas model frame users see (`ModelFrame.frame`) is only built when asked for
(`FrameRecipe`, through the `LazyFrame` field).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.formula.columns import Column, ColumnTable, column_from_series
from mixedfx.frame.levels import factor_codes, is_factor_like

__all__ = ["FrameRecipe", "LazyFrame", "detached", "missing_mask", "model_table",
           "read_columns", "snapshot"]

#: a factor of the model frame: codes (−1 missing) into labels in R's order, ordered or not
Factor = tuple[np.ndarray, list[str], bool]


def snapshot(data: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy of `data` without `attrs`: under pandas' copy-on-write, later changes to
    the user's frame do not reach it (the model frame built from it on demand shows the data
    as fitted), and its column accesses do not deep-copy `attrs` as the user's frame's do."""
    view = data.copy(deep=False)
    view.attrs = {}
    return view


def _copy_on_write() -> bool:
    """Whether pandas copies on write (always from pandas 3; opt-in before)."""
    return int(pd.__version__.split(".")[0]) >= 3 or pd.options.mode.copy_on_write is True


def detached(view: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """`view` itself under copy-on-write; otherwise a deep copy of its columns `names` (without
    copy-on-write a shallow copy shares the user's arrays, so later edits would reach it)."""
    if _copy_on_write():
        return view
    return view.take([view.columns.get_loc(c) for c in names], axis=1).copy(deep=True)


def read_columns(data: pd.DataFrame, names: Sequence[str]) -> dict[str, pd.Series]:
    """Each named column of `data` (unique string names, checked by the caller), read once."""
    return {name: data[name] for name in names}


def missing_mask(s: pd.Series) -> np.ndarray | None:
    """Which cells of the column are missing (NaN, None, NA, NaT; not ±Inf); None when the
    column cannot hold missing values."""
    dtype = s.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind in "iub":
            return None
        if dtype.kind in "fc":
            return np.isnan(s.to_numpy())
        if dtype.kind in "mM":
            return np.isnat(s.to_numpy())
        return pd.isna(s.to_numpy())
    if isinstance(dtype, pd.CategoricalDtype):
        return np.asarray(s.array.codes) < 0
    return s.isna().to_numpy(dtype=bool)


def model_table(columns: dict[str, pd.Series], rows: np.ndarray | None, n: int,
                response: str | None) -> tuple[ColumnTable, dict[str, Factor]]:
    """The kept `rows` (None: all) of the columns as a ColumnTable of n rows, factor-like
    columns (not the response) encoded as factors (R's level order, unused levels dropped),
    and those factors."""
    table: dict[str, Column] = {}
    factors: dict[str, Factor] = {}
    for name, s in columns.items():
        if name != response and is_factor_like(s):
            codes, labels, ordered = factors[name] = factor_codes(s, rows)
            table[name] = Column("factor", codes, tuple(labels), ordered, dtype="category")
        else:
            col = column_from_series(s)
            table[name] = col if rows is None else col.take(rows)
    return ColumnTable.from_columns(n, table), factors


def factor_of(name: str, columns: dict[str, pd.Series], factors: dict[str, Factor],
              rows: np.ndarray | None) -> tuple[np.ndarray, list[str]]:
    """Codes and labels of a grouping column: its encoded factor, or (a numeric or date
    column) its values as levels."""
    if name in factors:
        return factors[name][:2]
    codes, labels, _ = factor_codes(columns[name], rows)
    return codes, labels


@dataclass(frozen=True)
class FrameRecipe:
    """How to build the pandas model frame: the used columns of `data` at `rows` (None: all),
    renumbered 0..n-1, with the factor columns as categoricals."""

    data: pd.DataFrame
    names: tuple[str, ...]
    rows: np.ndarray | None
    factors: dict[str, Factor]

    def build(self) -> pd.DataFrame:
        locs = [self.data.columns.get_loc(c) for c in self.names]
        out = self.data.take(locs, axis=1)
        if self.rows is not None:
            out = out.take(self.rows)
        out = out.reset_index(drop=True)
        out.attrs = {}
        for name, (codes, labels, ordered) in self.factors.items():
            out[name] = pd.Categorical.from_codes(codes, categories=labels, ordered=ordered)
        return out


class LazyFrame:
    """A dataclass field holding a DataFrame or a `FrameRecipe`, built on first read (and
    kept). Reading it on the class raises AttributeError, so the field has no default."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}_value"

    def __get__(self, obj: Any, objtype: type | None = None) -> pd.DataFrame:
        if obj is None:
            raise AttributeError(self.slot)
        value = obj.__dict__[self.slot]
        if isinstance(value, FrameRecipe):
            value = obj.__dict__[self.slot] = value.build()
        return value

    def __set__(self, obj: Any, value: pd.DataFrame | FrameRecipe) -> None:
        obj.__dict__[self.slot] = value
