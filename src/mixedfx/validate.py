"""Argument and data checks at the public boundary, written once and used by every entry point.

Each check raises a `mixedfx.errors` exception whose message names the argument or column, the
offending value and what is expected, so nothing reaches numpy or LAPACK that would fail there
with a foreign message (or, worse, fit garbage silently).

Resource bound: a model whose dense parts would need more than `MAX_DESIGN_BYTES` (default
4 GiB; change `mixedfx.validate.MAX_DESIGN_BYTES`) is refused before anything is allocated,
with the size it would have needed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError, ArgumentTypeError, DataError, ResourceError

MAX_DESIGN_BYTES = 4 * 2**30

__all__ = ["MAX_DESIGN_BYTES", "check_bool", "check_choice", "check_column_names",
           "check_design_size", "check_finite_design", "check_level", "check_number",
           "check_positive_int", "check_used_columns", "check_vector"]


def check_bool(value: Any, name: str) -> bool:
    """`value` as a bool; only True/False (or numpy booleans) are accepted, so that R habits
    such as REML="FALSE" (a non-empty, hence true, string) cannot flip a setting silently."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ArgumentTypeError(f"{name} must be True or False, got {value!r} "
                            f"({type(value).__name__})")


def check_number(value: Any, name: str, low: float | None = None, high: float | None = None,
                 low_open: bool = True, high_open: bool = True) -> float:
    """A finite real number within the given (open by default) bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a number, got {value!r} "
                                f"({type(value).__name__})")
    v = float(value)
    bad = not math.isfinite(v)
    if low is not None:
        bad |= v <= low if low_open else v < low
    if high is not None:
        bad |= v >= high if high_open else v > high
    if bad:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        rng = " and ".join(s for s in (lo, hi) if s) or "finite"
        raise ArgumentError(f"{name} must be {rng}, got {value!r}")
    return v


def check_level(level: Any) -> float:
    """A confidence level strictly between 0 and 1 (0.95, not 95)."""
    if isinstance(level, numbers.Real) and not isinstance(level, (bool, np.bool_)) \
            and 1 <= float(level) < 100 and float(level) != 1:
        raise ArgumentError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}; "
                            f"did you mean {float(level) / 100:g}?")
    return check_number(level, "level", 0.0, 1.0)


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """An integer ≥ `minimum` (booleans and floats such as 10.0 are refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be an integer >= {minimum}, got {value!r} "
                                f"({type(value).__name__})")
    if int(value) < minimum:
        raise ArgumentError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """One of the strings in `choices`."""
    if not isinstance(value, str) or value not in choices:
        raise ArgumentError(f"{name} must be one of {', '.join(map(repr, choices))}, "
                            f"got {value!r}")
    return value


def check_vector(value: Any, name: str, length: int | None = None) -> np.ndarray:
    """A finite float vector (of `length` values when given)."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be a vector of numbers, got {value!r}") from None
    if arr.ndim != 1 or (length is not None and arr.shape != (length,)):
        want = f"{length} values" if length is not None else "a 1-d vector"
        raise ArgumentError(f"{name} must have {want}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ArgumentError(f"{name} must be finite, got {arr.tolist()}")
    return arr


# -- data -----------------------------------------------------------------------------------
def check_column_names(data: pd.DataFrame) -> None:
    """Column names must be unique strings (R's data frames have no other kind)."""
    bad = [c for c in data.columns.tolist() if not isinstance(c, str)]
    if bad:
        raise DataError(f"data column names must be strings, got {bad[0]!r} "
                        f"({type(bad[0]).__name__}); rename the columns, e.g. "
                        "data.columns = [f'x{i}' for i in data.columns]")
    if data.columns.is_unique:
        return
    dup = data.columns[data.columns.duplicated()].unique().tolist()
    if dup:
        raise DataError(f"column name{'s' if len(dup) > 1 else ''} "
                        f"{', '.join(map(repr, dup))} duplicated in data; column names must "
                        "be unique")


_CONTAINERS = (dict, list, set, tuple, frozenset, np.ndarray, pd.Series, pd.DataFrame)


def check_used_columns(data: pd.DataFrame, variables: Iterable[str],
                       grouping_only: Iterable[str] = ()) -> None:
    """Refuse cells no model can use: containers (dict, list, ...) in any used column; and,
    in columns used as numbers (not only as grouping factors), datetimes, timedeltas and
    infinite values. Missing values (NaN, None, NA) are left to `na_action`."""
    grouping = set(grouping_only)
    for name in variables:
        col = data[name]
        dtype = col.dtype
        if pd.api.types.is_object_dtype(dtype):
            nonnull = col[col.notna().to_numpy(dtype=bool)] if len(col) else col
            kinds = {type(v).__name__ for v in nonnull if isinstance(v, _CONTAINERS)}
            if kinds:
                raise DataError(f"column {name!r} holds {'/'.join(sorted(kinds))} values; "
                                "model columns must hold numbers, strings, booleans or "
                                "categories")
            others = {type(v).__name__ for v in nonnull
                      if not isinstance(v, (str, numbers.Number, np.bool_, bool))}
            if others and name not in grouping:
                raise DataError(f"column {name!r} holds {'/'.join(sorted(others))} values, "
                                "which cannot be used as numbers or factor levels; convert it "
                                "to numbers or strings")
        if name in grouping:
            continue
        if pd.api.types.is_datetime64_any_dtype(dtype) or \
                pd.api.types.is_timedelta64_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
            raise DataError(f"column {name!r} is a {dtype} column and cannot be used as a "
                            "number; convert it, e.g. (t - t.min()).dt.days, or to a factor")
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            values = col.to_numpy(dtype=float, na_value=np.nan)
            inf = np.isinf(values)
            if inf.any():
                rows = np.flatnonzero(inf)
                shown = ", ".join(str(data.index[i]) for i in rows[:5])
                raise DataError(f"column {name!r} has {int(inf.sum())} infinite value(s) "
                                f"(rows {shown}{', ...' if len(rows) > 5 else ''}); remove or "
                                "recode them (NaN / None are treated as missing)")


def check_finite_design(X: np.ndarray, names: Sequence[str], what: str) -> None:
    """A model matrix must be finite (lme4 stops with 'NA/NaN/Inf in foreign function call'):
    e.g. log(x) of a zero gives -Inf, 1/x of a zero Inf."""
    bad = ~np.isfinite(X)
    if not bad.any():
        return
    cols = [names[j] for j in np.flatnonzero(bad.any(axis=0))]
    nrow = int(bad.any(axis=1).sum())
    raise DataError(f"the {what} has non-finite values (NaN/Inf) in column"
                    f"{'s' if len(cols) > 1 else ''} {', '.join(map(repr, cols))} for {nrow} "
                    "row(s), e.g. log() of a zero or division by zero; lme4 stops with "
                    "'NA/NaN/Inf in foreign function call'. Remove those rows or change the "
                    "transformation")


def format_bytes(nbytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"


def check_design_size(rows: int, cols: int, what: str) -> None:
    """Refuse a dense float64 `rows` × `cols` array above `MAX_DESIGN_BYTES`."""
    nbytes = 8.0 * rows * cols
    if nbytes > MAX_DESIGN_BYTES:
        raise ResourceError(
            f"the {what} would be a dense {rows:,} x {cols:,} array of "
            f"{format_bytes(nbytes)}, above the limit of {format_bytes(MAX_DESIGN_BYTES)} "
            "(mixedfx.validate.MAX_DESIGN_BYTES); simplify the model (fewer interactions or "
            "factor levels) or raise the limit")
