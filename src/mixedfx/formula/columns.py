"""The data a formula is evaluated on, as NumPy arrays: one `Column` per data column.

Formula evaluation (`.evaluate`, `.design`, `.response`) reads columns through a
`ColumnTable`. A pandas DataFrame is wrapped lazily (`as_table`): each column is read once,
on first use, and classified as R's ``model.matrix`` sees it (`column_kind`):

* ``numeric``: ``values`` are float64, NaN where missing (``raw``: the integers of an
  integer column, which become factor levels exactly);
* ``logical``: ``values`` are 0.0 / 1.0, NaN where missing;
* ``factor``: ``values`` are int64 codes into ``levels`` (the categories, in order), −1
  where missing;
* ``character`` / ``unsupported``: ``values`` are the cells as a NumPy object array.

The model frame builds its table directly from the rows it keeps (`ColumnTable.from_columns`),
so a fit never goes back to pandas to evaluate its formula.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import DataError

__all__ = ["Column", "ColumnTable", "as_table", "column_from_series", "column_kind"]


def column_kind(series: pd.Series) -> str:
    """How R's ``model.matrix`` treats a column: ``numeric``, ``factor``, ``logical``,
    ``character`` or ``unsupported``."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype):                     # the common case, without pandas
        if dtype.kind in "iuf":
            return "numeric"
        if dtype.kind == "b":
            return "logical"
    if isinstance(dtype, pd.CategoricalDtype):
        return "factor"
    if pd.api.types.is_bool_dtype(dtype):
        return "logical"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return "character"
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred == "boolean":
            return "logical"
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            return "numeric"
        if inferred == "empty":
            return "numeric"
        return "character"
    return "unsupported"


@dataclass(frozen=True, eq=False)
class Column:
    """One column as formula evaluation uses it (see the module docstring for `values`).

    Attributes:
        kind: `column_kind` of the column.
        values: the cells as an array of length n (by kind).
        levels: the categories of a factor column, in order (raw values, not labels).
        ordered: an ordered factor (coded with ``contr.poly``).
        dtype: the pandas dtype it came from (for messages).
        integer: an integer column (its factor levels print without decimals).
        raw: an integer column's integers when none is missing (exact factor levels).
    """

    kind: str
    values: np.ndarray
    levels: tuple[Any, ...] = ()
    ordered: bool = False
    dtype: Any = None
    integer: bool = False
    raw: np.ndarray | None = None

    def __init__(self, kind: str, values: np.ndarray, levels: tuple[Any, ...] = (),
                 ordered: bool = False, dtype: Any = None, integer: bool = False,
                 raw: np.ndarray | None = None) -> None:
        # the fields set once, in the instance dict: a frozen dataclass's generated __init__
        # sets each through object.__setattr__, which costs 3x as much (a column per fit)
        self.__dict__.update(kind=kind, values=values, levels=levels, ordered=ordered,
                             dtype=dtype, integer=integer, raw=raw)

    def objects(self) -> np.ndarray:
        """The cells as an object array, as pandas' ``astype(object)`` gives them (missing
        values None / NaN)."""
        if self.kind == "factor":
            cats = np.empty(len(self.levels) + 1, dtype=object)
            cats[:-1] = list(self.levels)
            cats[-1] = None
            return cats[self.values]
        if self.kind == "logical":
            out = np.full(len(self.values), None, dtype=object)
            ok = ~np.isnan(self.values)
            out[ok] = self.values[ok] == 1.0
            return out
        if self.kind == "numeric":
            return (self.raw if self.raw is not None else self.values).astype(object)
        return self.values

    def take(self, rows: np.ndarray) -> Column:
        """The column at the given rows (positions or a boolean mask)."""
        raw = None if self.raw is None else self.raw[rows]
        return Column(self.kind, self.values[rows], self.levels, self.ordered, self.dtype,
                      self.integer, raw)


def column_from_series(series: pd.Series) -> Column:
    """A pandas column as a `Column`."""
    kind = column_kind(series)
    dtype = series.dtype
    if kind == "numeric":
        if isinstance(dtype, np.dtype) and dtype.kind in "iu":
            raw = series.to_numpy()
            return Column(kind, raw.astype(np.float64), dtype=dtype, integer=True, raw=raw)
        if isinstance(dtype, np.dtype) and dtype == np.float64:
            return Column(kind, series.to_numpy(), dtype=dtype)
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        integer = pd.api.types.is_integer_dtype(dtype)
        exact = integer and not np.isnan(values).any()
        return Column(kind, values, dtype=dtype, integer=integer,
                      raw=series.to_numpy(dtype=np.int64) if exact else None)
    if kind == "logical":
        if isinstance(dtype, np.dtype):
            return Column(kind, series.to_numpy().astype(np.float64), dtype=dtype)
        return Column(kind, series.astype("boolean").to_numpy(dtype=np.float64,
                                                               na_value=np.nan), dtype=dtype)
    if kind == "factor":
        cat = series.array
        return Column(kind, np.asarray(cat.codes, dtype=np.int64),
                      tuple(dtype.categories.to_numpy().tolist()), bool(dtype.ordered), dtype)
    return Column(kind, series.to_numpy(dtype=object), dtype=dtype)


class ColumnTable:
    """Named columns of n rows, read from a DataFrame on first use or given directly.

    Column names are as in the data; `names` lists them (in the data's order)."""

    __slots__ = ("_cache", "_frame", "n", "names")

    def __init__(self, n: int, columns: Mapping[str, Column] | None = None,
                 frame: pd.DataFrame | None = None) -> None:
        self.n = n
        self._cache: dict[str, Column] = dict(columns or {})
        self._frame = frame
        self.names: tuple[str, ...] = (
            tuple(c for c in frame.columns if isinstance(c, str)) if frame is not None
            else tuple(self._cache))

    @classmethod
    def from_columns(cls, n: int, columns: Mapping[str, Column]) -> ColumnTable:
        """A table of the given columns (each of length n)."""
        return cls(n, columns)

    def __len__(self) -> int:
        return self.n

    def __contains__(self, name: object) -> bool:
        return name in self._cache or name in self.names

    def column(self, name: str) -> Column:
        """The column `name` (read from the DataFrame once)."""
        col = self._cache.get(name)
        if col is not None:
            return col
        if self._frame is None or name not in self.names:
            raise DataError(f"data lack column '{name}' used in the formula")
        series = self._frame[name]
        if isinstance(series, pd.DataFrame):
            raise DataError(f"column name '{name}' is duplicated in the data")
        col = self._cache[name] = column_from_series(series)
        return col


def as_table(data: Any) -> ColumnTable:
    """`data` (a ColumnTable, a DataFrame or a mapping of columns) as a ColumnTable."""
    if isinstance(data, ColumnTable):
        return data
    if not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(dict(data)) if isinstance(data, Mapping) else pd.DataFrame(data)
    if data.attrs:
        # pandas deep-copies `attrs` at every column access: read from a view without them
        data = data.copy(deep=False)
        data.attrs = {}
    return ColumnTable(len(data), frame=data)
