"""Checks of the user's data at the public boundary: column names (unique strings), the cells
of the columns a model uses (no containers, complex numbers, dates used as numbers or
infinite values), vectors that must be real numbers, and finite model matrices. Each raises
`DataError` naming the column (and the first offending rows) and what would be valid, before
numpy or LAPACK sees the data. Missing values are left to `na_action`.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from mixedfx.errors import DataError

__all__ = [
    "check_column_names",
    "check_finite_design",
    "check_used_columns",
    "numeric_vector",
]


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


#: the cell types of an object column that none of `check_used_columns`' checks refuses
_PLAIN_OBJECT_TYPES = frozenset({str, float, int, bool, type(None)})


def _plain_objects(values: np.ndarray) -> bool:
    """Whether every cell of an object array is a str, float, int, bool or None (one pass
    over the cells' exact types, at C speed): such a column holds nothing to refuse."""
    return set(map(type, values)) <= _PLAIN_OBJECT_TYPES


def check_used_columns(data: pd.DataFrame | Mapping[str, pd.Series], variables: Iterable[str],
                       grouping_only: Iterable[str] = ()) -> None:
    """Refuse cells no model can use: containers (dict, list, ...) in any used column; and,
    in columns used as numbers (not only as grouping factors), datetimes, timedeltas and
    infinite values. Missing values (NaN, None, NA) are left to `na_action`. `data`: a frame
    or the used columns by name."""
    grouping = set(grouping_only)
    for name in variables:
        col = data[name]
        dtype = col.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "iubf":   # plain NumPy numbers
            if dtype.kind == "f" and name not in grouping:
                _refuse_infinite(col.to_numpy(), name, col.index)
            continue
        if isinstance(dtype, (pd.CategoricalDtype, pd.StringDtype)):
            continue                        # hashable levels, strings: nothing to refuse
        if pd.api.types.is_object_dtype(dtype):
            if _plain_objects(col.to_numpy()):
                continue                    # nothing to refuse
            cells = pd.Series(col.to_numpy(), dtype=object)     # also of a column's array
            nonnull = cells[cells.notna().to_numpy(dtype=bool)]
            kinds = {type(v).__name__ for v in nonnull if isinstance(v, _CONTAINERS)}
            if kinds:
                raise DataError(f"column {name!r} holds {'/'.join(sorted(kinds))} values; "
                                "model columns must hold numbers, strings, booleans or "
                                "categories")
            others = {type(v).__name__ for v in nonnull
                      if not isinstance(v, (str, numbers.Real, np.bool_, bool))}
            if any(isinstance(v, numbers.Complex) and not isinstance(v, numbers.Real)
                   for v in nonnull):
                raise DataError(f"column {name!r} holds complex numbers; models need real "
                                "values: use the real part, the modulus or two columns")
            if others and name not in grouping:
                raise DataError(f"column {name!r} holds {'/'.join(sorted(others))} values, "
                                "which cannot be used as numbers or factor levels; convert it "
                                "to numbers or strings")
            continue                        # (no dtype check below applies to objects)
        if pd.api.types.is_complex_dtype(dtype):
            raise DataError(f"column {name!r} is a {dtype} column of complex numbers; models "
                            "need real values: use the real part (np.real), the modulus "
                            "(np.abs) or two columns")
        if name in grouping:
            continue
        if pd.api.types.is_datetime64_any_dtype(dtype) or \
                pd.api.types.is_timedelta64_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
            raise DataError(f"column {name!r} is a {dtype} column and cannot be used as a "
                            "number; convert it, e.g. (t - t.min()).dt.days, or to a factor")
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            _refuse_infinite(col.to_numpy(dtype=float, na_value=np.nan), name, col.index)


def _refuse_infinite(values: np.ndarray, name: str, index: pd.Index) -> None:
    """±Inf in a column used as numbers is refused, naming the first rows."""
    inf = np.isinf(values)
    if inf.any():
        rows = np.flatnonzero(inf)
        shown = ", ".join(str(index[i]) for i in rows[:5])
        raise DataError(f"column {name!r} has {int(inf.sum())} infinite value(s) "
                        f"(rows {shown}{', ...' if len(rows) > 5 else ''}); remove or "
                        "recode them (NaN / None are treated as missing)")


def numeric_vector(arr: np.ndarray, what: str) -> np.ndarray:
    """`arr` as floats, refusing what would be converted silently: strings ("1.5"), complex
    numbers (the imaginary part dropped), dates; missing values (None / NaN) become NaN."""
    if arr.dtype.kind in "biuf":
        return arr.astype(float)
    bad = None
    if arr.dtype.kind == "O":
        bad = next((v for v in arr.tolist() if v is not None and not (
            isinstance(v, numbers.Real) or (isinstance(v, float) and np.isnan(v)))
            and not (pd.api.types.is_scalar(v) and pd.isna(v))), None)
        if bad is None:
            return np.array([np.nan if v is None or pd.isna(v) else float(v)
                             for v in arr.tolist()], dtype=float)
    shown = f"{bad!r} ({type(bad).__name__})" if bad is not None else f"{arr.dtype} values"
    raise DataError(f"{what} must be real numbers, got {shown}; convert them first, e.g. "
                    "pd.to_numeric(...)")


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
