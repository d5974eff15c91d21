"""The data a model is fitted to, as pandas: data frames of other libraries converted, and
the per-row arguments (`weights=`, `offset=`) read from a column or a vector."""

from __future__ import annotations

import contextlib
import warnings
import weakref
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.data_checks import check_column_names, numeric_vector
from mixedfx.errors import ArgumentTypeError, DataError


def as_pandas(data: Any) -> pd.DataFrame:
    """A pandas DataFrame from pandas, polars, Arrow, any `__dataframe__` object or a dict of
    equal-length columns. A single column (a Series) is refused: a model needs the response and
    the predictors in one frame."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series) or type(data).__name__ in ("Series", "ChunkedArray", "Array"):
        raise ArgumentTypeError(
            f"data must be a data frame holding the model's columns, got a single column "
            f"({type(data).__module__.split('.')[0]} {type(data).__name__}); pass a frame "
            "(e.g. series.to_frame())")
    if hasattr(data, "to_pandas"):                      # polars, pyarrow
        out = data.to_pandas()
    elif hasattr(data, "__arrow_c_stream__") and hasattr(pd.DataFrame, "from_arrow"):
        try:
            out = pd.DataFrame.from_arrow(data)         # Arrow PyCapsule (needs pyarrow)
        except ImportError:
            out = None
    else:
        out = None
    if out is None and hasattr(data, "__dataframe__"):
        with warnings.catch_warnings():                 # deprecated in pandas 3, still works
            warnings.simplefilter("ignore")
            out = pd.api.interchange.from_dataframe(data)
    if out is None and isinstance(data, dict):
        try:
            out = pd.DataFrame(data)
        except (ValueError, TypeError) as exc:
            raise DataError(f"data given as a dict must map column names to equal-length "
                            f"columns ({exc})") from None
    if not isinstance(out, pd.DataFrame):
        raise ArgumentTypeError(
            f"data must be a pandas DataFrame (or polars / Arrow / __dataframe__ object), "
            f"got {type(data).__name__}")
    return out


def vector_argument(value: Any, data: pd.DataFrame, what: str) -> np.ndarray | None:
    """`weights=` / `offset=`: a column name of `data` or one number per row (None: none)."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in data.columns:
            raise DataError(f"{what} column {value!r} not found in data")
        arr = data[value].to_numpy()
    else:
        arr = np.asarray(value)
        if arr.shape != (len(data),):
            raise DataError(f"{what} must have one value per row of data ({len(data)}), "
                            f"got shape {arr.shape}")
    return numeric_vector(arr, what)


_NAMES: dict[int, tuple[weakref.ref[pd.Index], tuple[str, ...], dict[str, int]]] = {}
_NAMES_MAX = 32


def _names_entry(data: pd.DataFrame) -> tuple[weakref.ref[pd.Index], tuple[str, ...],
                                              dict[str, int]]:
    cols = data.columns
    hit = _NAMES.get(id(cols))
    if hit is not None and hit[0]() is cols:
        return hit
    check_column_names(data)
    names = tuple(cols.tolist())
    if len(_NAMES) >= _NAMES_MAX:
        # the oldest; another thread may be first
        with contextlib.suppress(RuntimeError, StopIteration):
            _NAMES.pop(next(iter(_NAMES)), None)
    entry = _NAMES[id(cols)] = (weakref.ref(cols), names, {c: i for i, c in enumerate(names)})
    return entry


def column_names(data: pd.DataFrame) -> tuple[str, ...]:
    """The data's column names, checked (unique strings, `check_column_names`). A pandas
    Index is immutable (new columns or names make a new one), and reading an Arrow-backed
    one into Python strings costs ~10 µs, so the names of the last few column indexes are
    remembered by identity (a weak reference checks that the index is still the same)."""
    return _names_entry(data)[1]


def column_positions(data: pd.DataFrame) -> dict[str, int]:
    """Each column's position by name (names checked as for `column_names`, and remembered
    with them); the caller only reads the dict."""
    return _names_entry(data)[2]
