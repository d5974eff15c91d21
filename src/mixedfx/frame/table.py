"""The model's columns as NumPy arrays: each used column read from the data once, its missing
values found, the rows kept taken and the factors encoded, without building pandas objects.

`read_columns` gives each used column of a `snapshot` of the data: a `UsedColumn`, its array
without a pandas Series around it (building a Series costs more than the rest of a small
column's work); columns of other kinds (strings, nullable or extension dtypes, objects) are
read as Series, which every step handles as before; `missing_mask`
its missing cells; `model_table` the kept rows as a `formula.columns.ColumnTable`
(factor-like columns but the response as factors in R's level order,
`frame.levels.factor_codes`), which the formula is evaluated on.
The pandas model frame users see (`ModelFrame.frame`) is only built when asked for
(`FrameRecipe`, through the `LazyFrame` field).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.formula.columns import Column, ColumnTable, column_from_series
from mixedfx.frame.data import column_positions
from mixedfx.frame.levels import factor_codes, is_factor_like

__all__ = ["COPY_BYTES", "FrameRecipe", "LazyFrame", "UsedColumn", "detached", "frame_recipe",
           "missing_mask", "model_table", "read_columns", "snapshot"]

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


class UsedColumn:
    """A column of a plain kind (NumPy integers, booleans or float64; a pandas categorical)
    or a text column encoded as a factor, read as its array: the part of a Series' interface
    the model frame's steps use for these kinds (`dtype`, `name`, `index`, `array`,
    `to_numpy()`), without building a Series."""

    __slots__ = ("_finite", "_values", "dtype", "index", "name")

    def __init__(self, name: str, values: Any, index: pd.Index) -> None:
        self.name, self._values, self.dtype, self.index = name, values, values.dtype, index
        self._finite: bool | None = None

    def all_finite(self) -> bool:
        """Whether a NumPy column holds no NaN and no ±Inf (one pass, remembered: a sum is
        finite only when every cell is); False for a text column (its cells are checked)."""
        if self._finite is None:
            self._finite = (not _text(self.dtype) if self.dtype.kind != "f"
                            else math.isfinite(self._values.sum()))
        return self._finite

    @property
    def array(self) -> Any:
        """The pandas array (a Categorical) or the NumPy array."""
        return self._values

    def to_numpy(self, dtype: Any = None) -> np.ndarray:
        """The values as a read-only NumPy array (as a copy-on-write Series gives them);
        `dtype`: converted, as `Series.to_numpy(dtype)` does."""
        if not isinstance(self._values, np.ndarray):           # a string extension array
            return self._values.to_numpy(dtype=dtype)
        if dtype is not None and np.dtype(dtype) != self.dtype:
            return self._values.astype(dtype)
        out = self._values.view()
        out.flags.writeable = False
        return out


_PLAIN_NUMPY = frozenset(np.dtype(t) for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
    np.uint64, np.float64))


def _plain(dtype: Any) -> bool:
    """The kinds `UsedColumn` reads: NumPy integers, booleans, float64 (native byte order);
    categoricals."""
    if isinstance(dtype, np.dtype):
        return dtype in _PLAIN_NUMPY
    return isinstance(dtype, pd.CategoricalDtype)


def _text(dtype: Any) -> bool:
    """Text columns: NumPy objects (pandas 2's strings) or pandas strings (`str`,
    `string[pyarrow]`, `string[python]`)."""
    return dtype == np.dtype(object) if isinstance(dtype, np.dtype) else \
        isinstance(dtype, pd.StringDtype)


def read_columns(data: pd.DataFrame, names: Sequence[str], factors: Collection[str] = ()
                 ) -> tuple[dict[str, pd.Series | UsedColumn], pd.DataFrame | None]:
    """Each named column (unique string names, checked by the caller), read once: a
    `UsedColumn` of `data` when its kind is plain, or when it is text (`_text`) and among
    `factors` (the columns the model frame encodes as factors at once, `model_table`), else
    the Series of a `snapshot` of `data` (whose column accesses do not deep-copy the user's
    `attrs`), taken at the first such column and returned too (None when every column is
    plain). The arrays are read from `data` itself: its column index is the same object at
    every fit, so looking a name up does not rebuild the index's hash table as a new view's
    would."""
    getter = getattr(data, "_get_column_array", None)   # pandas' column access by position
    positions = column_positions(data)
    out: dict[str, pd.Series | UsedColumn] = {}
    view = None
    for name in names:
        values = None
        if getter is not None:
            values = getter(positions[name])
            if not (_plain(values.dtype) or (_text(values.dtype) and name in factors)) or \
                    (isinstance(values, np.ndarray) and values.ndim != 1):
                values = None
        if values is None:
            view = snapshot(data) if view is None else view
            out[name] = view[name]
        else:
            out[name] = UsedColumn(name, values, data.index)
    return out, view


def missing_mask(s: pd.Series | UsedColumn) -> np.ndarray | None:
    """Which cells of the column are missing (NaN, None, NA, NaT; not ±Inf); None when the
    column cannot hold missing values or holds none."""
    dtype = s.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind in "iub":
            return None
        if dtype.kind in "fc":
            values = s.to_numpy()
            # one pass: a sum is NaN whenever a cell is
            if s.all_finite() if isinstance(s, UsedColumn) else math.isfinite(values.sum()):
                return None
            return np.isnan(values)
        if dtype.kind in "mM":
            return np.isnat(s.to_numpy())
        mask = pd.isna(s.to_numpy())
        return mask if mask.any() else None
    if isinstance(dtype, pd.CategoricalDtype):
        codes = np.asarray(s.array.codes)
        return codes < 0 if len(codes) and codes.min() < 0 else None
    array = s.array
    if isinstance(dtype, pd.StringDtype) and str(dtype.storage).startswith("pyarrow") and \
            array.__arrow_array__().null_count == 0:
        return None                             # Arrow counts the missing cells already
    # an extension array (strings, nullable numbers, ...): its own mask, as Series.isna reads it
    mask = np.asarray(array.isna(), dtype=bool)
    return mask if mask.any() else None


def model_table(columns: dict[str, pd.Series | UsedColumn], rows: np.ndarray | None, n: int,
                response: str | None) -> tuple[ColumnTable, dict[str, Factor]]:
    """The kept `rows` (None: all) of the columns as a ColumnTable of n rows, factor-like
    columns (not the response) encoded as factors (R's level order, unused levels dropped),
    and those factors. (The rows with a missing value in any column are dropped already.)"""
    table: dict[str, Column] = {}
    factors: dict[str, Factor] = {}
    for name, s in columns.items():
        if name != response and is_factor_like(s):
            codes, labels, ordered = factors[name] = factor_codes(s, rows, complete=True)
            table[name] = Column("factor", codes, tuple(labels), ordered, dtype="category")
        else:
            col = column_from_series(s)
            table[name] = col if rows is None else col.take(rows)
    return ColumnTable.from_columns(n, table), factors


def factor_of(name: str, columns: dict[str, pd.Series | UsedColumn], factors: dict[str, Factor],
              rows: np.ndarray | None) -> tuple[np.ndarray, list[str]]:
    """Codes and labels of a grouping column: its encoded factor, or (a numeric or date
    column) its values as levels."""
    if name in factors:
        return factors[name][:2]
    codes, labels, _ = factor_codes(columns[name], rows)
    return codes, labels


#: the most bytes of plain non-factor columns a model frame copies instead of keeping a
#: snapshot of the data (a copy costs less than a shallow copy of a small frame)
COPY_BYTES = 1 << 20


def frame_recipe(data: pd.DataFrame, view: pd.DataFrame | None,
                 columns: dict[str, pd.Series | UsedColumn], rows: np.ndarray | None,
                 factors: dict[str, Factor]) -> FrameRecipe:
    """The recipe of the model frame of `columns` (read by `read_columns`, which made the
    snapshot `view` or None) at `rows`. Later changes to the user's data must not reach it:
    small plain columns are copied (the factors are encoded already); otherwise the recipe
    keeps a snapshot (`detached`)."""
    names = tuple(columns)
    own = []
    for c in names:             # (loops: a few columns, no comprehension's call)
        if c not in factors:
            own.append(columns[c])
    nbytes = 0
    if view is None:
        for c in own:
            nbytes += c.array.nbytes
    if view is None and nbytes <= COPY_BYTES:
        arrays = {}
        for c in own:
            arrays[c.name] = c.array.copy() if rows is None else c.array.take(rows)
        return FrameRecipe(None, names, rows, factors, arrays=arrays, columns=data.columns,
                           duplicate_labels=data.flags.allows_duplicate_labels)
    view = snapshot(data) if view is None else view
    return FrameRecipe(detached(view, names), names, rows, factors)


@dataclass      # (not frozen: a frozen dataclass's construction costs a few µs more)
class FrameRecipe:
    """How to build the pandas model frame: the used columns of `data` at `rows` (None: all),
    renumbered 0..n-1, with the factor columns as categoricals. Without `data`, the
    non-factor columns are `arrays` (already at `rows`), named as in the data's column index
    `columns` (its dtype and name kept) with its `allows_duplicate_labels` flag."""

    data: pd.DataFrame | None
    names: tuple[str, ...]
    rows: np.ndarray | None
    factors: dict[str, Factor]
    arrays: dict[str, Any] | None = None
    columns: pd.Index | None = None
    duplicate_labels: bool = True

    def build(self) -> pd.DataFrame:
        if self.data is None:
            return self._from_arrays()
        locs = [self.data.columns.get_loc(c) for c in self.names]
        out = self.data.take(locs, axis=1)
        if self.rows is not None:
            out = out.take(self.rows)
        out = out.reset_index(drop=True)
        out.attrs = {}
        for name, (codes, labels, ordered) in self.factors.items():
            out[name] = pd.Categorical.from_codes(codes, categories=labels, ordered=ordered)
        return out

    def _from_arrays(self) -> pd.DataFrame:
        assert self.arrays is not None and self.columns is not None
        cols: dict[str, Any] = {}
        for name in self.names:
            if name in self.factors:
                codes, labels, ordered = self.factors[name]
                cols[name] = pd.Categorical.from_codes(codes, categories=labels,
                                                       ordered=ordered)
            else:
                cols[name] = self.arrays[name]
        out = pd.DataFrame(cols, copy=False)     # the arrays are the recipe's own
        out.columns = self.columns.take([self.columns.get_loc(c) for c in self.names])
        out.flags.allows_duplicate_labels = self.duplicate_labels
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
