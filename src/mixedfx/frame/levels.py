"""Factor levels as R makes them: sorted unique values, labels formatted as R prints them.

R sorts numbers numerically and strings by the locale's collation (ICU-like in UTF-8 locales:
case-insensitive first, lower case before upper case on ties; `formula.rnames.r_sort_levels`
imitates it). Booleans become the factor levels FALSE, TRUE.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixedfx.errors import DataError
from mixedfx.formula.rnames import format_level, object_labels, r_sort_levels


def is_factor_like(s: pd.Series) -> bool:
    """String, boolean, object and categorical columns are factors (API.md)."""
    return (
        isinstance(s.dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(s.dtype)
        or pd.api.types.is_string_dtype(s.dtype)
        or pd.api.types.is_object_dtype(s.dtype)
    )


_LABEL_DTYPE: object = None


def _already_factor(s: pd.Series) -> bool:
    """Whether a categorical column is already what `as_factor` would make of it: every
    category used and the categories strings of the dtype a list of labels gets (then the
    rebuilt categorical would equal it; most columns are, after the first call)."""
    global _LABEL_DTYPE
    if _LABEL_DTYPE is None:
        _LABEL_DTYPE = pd.Index(["a"]).dtype
    cats = s.dtype.categories
    if cats.dtype != _LABEL_DTYPE:
        return False
    codes = np.asarray(s.array.codes)
    used = np.zeros(len(cats) + 1, dtype=bool)
    used[codes] = True                      # code -1 (missing) marks the spare last slot
    return bool(used[:-1].all())


def as_factor(s: pd.Series) -> pd.Series:
    """The column as a pandas categorical with R's level order and string labels.

    Categoricals keep their category order (unused categories are dropped); numbers are sorted
    numerically; booleans become FALSE/TRUE; strings are sorted as R sorts them.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        if _already_factor(s):
            return s.copy(deep=False)
        cat = s.cat.remove_unused_categories()
        labels = [c if isinstance(c, str) else format_level(c) for c in cat.cat.categories]
        if len(set(labels)) != len(labels):
            raise DataError(f"column {s.name!r} has categories that print identically")
        return pd.Series(
            pd.Categorical.from_codes(cat.cat.codes, categories=labels,
                                      ordered=bool(cat.cat.ordered)),
            index=s.index, name=s.name)
    values = s.dropna().unique()
    if pd.api.types.is_bool_dtype(s.dtype):
        levels = [v for v in (False, True) if v in set(values.tolist())]
        labels = ["FALSE" if not v else "TRUE" for v in levels]
    elif pd.api.types.is_numeric_dtype(s.dtype):
        levels = sorted(values.tolist())
        labels = [format_level(v) for v in levels]
    else:
        if not (pd.api.types.is_string_dtype(s.dtype)
                and all(isinstance(v, str) for v in values)):
            s = object_labels(s)              # mixed kinds: label each value as R would
            values = s.dropna().unique()
        levels = r_sort_levels(str(v) for v in values)
        labels = levels
    # vectorized coding: values not among the levels (missing ones) get code -1
    codes = pd.Categorical(s.to_numpy(dtype=object) if not pd.api.types.is_numeric_dtype(
        s.dtype) or pd.api.types.is_bool_dtype(s.dtype) else s.to_numpy(),
        categories=levels).codes.astype(np.int64)
    return pd.Series(pd.Categorical.from_codes(codes, categories=labels), index=s.index,
                     name=s.name)
