"""Factor levels as R makes them: sorted unique values, labels formatted as R prints them.

R sorts numbers numerically and strings by the locale's collation (ICU-like in UTF-8 locales:
case-insensitive first, lower case before upper case on ties; `formula.rnames.r_sort_levels`
imitates it). Booleans become the factor levels FALSE, TRUE.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import DataError
from mixedfx.formula.rnames import format_level, object_labels, r_level_order
from mixedfx.native import kernel


def is_factor_like(s: pd.Series) -> bool:
    """String, boolean, object and categorical columns are factors (API.md)."""
    if isinstance(s.dtype, np.dtype):
        return s.dtype.kind in "bO"
    return (
        isinstance(s.dtype, (pd.CategoricalDtype, pd.StringDtype))
        or pd.api.types.is_bool_dtype(s.dtype)
        or pd.api.types.is_string_dtype(s.dtype)
        or pd.api.types.is_object_dtype(s.dtype)
    )


def factor_codes(s: pd.Series, rows: np.ndarray | None = None, complete: bool = False
                 ) -> tuple[np.ndarray, list[str], bool]:
    """The column (at `rows`, default all) as R's factor: int64 codes (−1 missing) into the
    level labels in R's order, and whether it is ordered. `complete`: the column has no
    missing values at `rows` (the model frame's, whose rows with any missing are dropped).

    Categoricals keep their category order (unused categories are dropped); numbers are sorted
    numerically; booleans become FALSE/TRUE; strings are sorted as R sorts them.
    """
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = np.asarray(s.array.codes, dtype=np.int64)
        return (*_used_categories(codes if rows is None else codes[rows], dtype.categories,
                                  s.name, complete), bool(dtype.ordered))
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        values = s.to_numpy()
        return (*_numeric_levels(values if rows is None else values[rows]), False)
    if (isinstance(dtype, np.dtype) and dtype.kind == "O") or isinstance(dtype, pd.StringDtype):
        return (*_text_levels(s, rows), False)
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        values = s.to_numpy(dtype=object, na_value=None)
        kind = "b" if pd.api.types.is_bool_dtype(dtype) else "f"
        values = values if rows is None else values[rows]
        present = values != None  # noqa: E711 (elementwise)
        codes = np.full(len(values), -1, dtype=np.int64)
        if kind == "f":
            as_int = pd.api.types.is_integer_dtype(dtype)
            typed = values[present].astype(np.int64 if as_int else np.float64)
        else:
            typed = values[present].astype(bool)
        sub, labels = _numeric_levels(typed)
        codes[present] = sub
        return codes, labels, False
    return (*_text_levels(s, rows), False)


def complete_categorical(array: pd.Categorical, name: object
                         ) -> tuple[np.ndarray, list[str], bool] | None:
    """`factor_codes(s, complete=True)` of a categorical column without missing values (the
    model frame's factors), or None when a code is −1 (missing) or two categories print
    alike. When every category is used (the common case) the labels come from the
    categories' remembered labels and the counts are the only pass over the codes."""
    dtype = array.dtype
    listed, labels = _category_labels(dtype.categories)
    k = kernel("frame")
    raw = getattr(array, "_codes", None)        # (pandas' own array: `codes` is a view of it)
    if k is not None and isinstance(raw, np.ndarray) and raw.flags.c_contiguous:
        # one compiled pass: the codes as int64, and whether they are all valid and used
        codes = np.empty(len(raw), dtype=np.int64)
        used = k.category_codes(raw, codes, len(listed))
        if used < 0 or labels is None:
            return None
        if used:
            return codes, list(labels), bool(dtype.ordered)
    else:
        codes = np.asarray(array.codes, dtype=np.int64)
        try:
            counts = np.bincount(codes, minlength=len(listed))
        except ValueError:          # a negative code: a missing value
            return None
        if labels is None:
            return None
        if counts.all():
            return codes, list(labels), bool(dtype.ordered)
    return (*_used_categories(codes, dtype.categories, name, complete=True),
            bool(dtype.ordered))


def _text_levels(s: pd.Series, rows: np.ndarray | None) -> tuple[np.ndarray, list[str]]:
    """Codes (−1 missing) and labels of a string or object column at `rows`: the whole column
    factorized once (`pd.factorize`, missing values −1), the codes taken at `rows` and the
    levels they do not use dropped, the distinct strings put in R's order (`_text_order`).
    Objects that are not all strings are labelled as R would first (`object_labels`)."""
    dtype = s.dtype
    if isinstance(dtype, pd.StringDtype) and str(dtype.storage).startswith("pyarrow"):
        codes, uniques = _arrow_factorize(s.array)
    else:
        codes, uniques = pd.factorize(s.to_numpy(dtype=object))
    if not (isinstance(dtype, pd.StringDtype) or (pd.api.types.is_string_dtype(dtype) and (
            pd.api.types.infer_dtype(uniques, skipna=False) == "string"
            or all(isinstance(v, str) for v in uniques)))):
        values = s.to_numpy(dtype=object)
        values = values if rows is None else values[rows]
        values = object_labels(pd.Series(values, name=s.name, dtype=object)).to_numpy()
        codes, uniques = pd.factorize(values)     # mixed kinds: label each value as R would
    elif rows is not None:
        codes = codes[rows]
        k = len(uniques)
        used = np.bincount(codes + 1, minlength=k + 1)[1:] > 0   # code −1 (missing) in slot 0
        if not used.all():
            keep = np.flatnonzero(used)
            squeeze = np.full(k + 1, -1, dtype=np.int64)
            squeeze[keep] = np.arange(len(keep))
            codes, uniques = squeeze[codes], uniques[keep]
    if not isinstance(uniques, np.ndarray):      # strings: read at once, not cell by cell
        uniques = uniques.to_numpy(dtype=object)
    texts = list(map(str, uniques))
    labels, remap = _text_order(texts)
    return remap[codes], labels


def _arrow_factorize(array: Any) -> tuple[np.ndarray, np.ndarray]:
    """`pd.factorize` of an Arrow-backed string array (codes in order of first appearance,
    −1 missing; the distinct strings) by Arrow's dictionary encoding of the array it hands
    out (`__arrow_array__`), without making a Python object per cell and without pandas'
    per-call overhead (a few times less for small columns)."""
    encoded = array.__arrow_array__().dictionary_encode()
    if hasattr(encoded, "combine_chunks"):       # chunks: one dictionary for all of them
        encoded = encoded.chunk(0) if encoded.num_chunks == 1 else encoded.combine_chunks()
    indices = encoded.indices
    codes = (indices.fill_null(-1) if indices.null_count else indices).to_numpy()
    return codes, np.array(encoded.dictionary.to_pylist(), dtype=object)


_TEXT_ORDERS: dict[tuple[str, ...], tuple[list[str], np.ndarray]] = {}
_TEXT_ORDERS_MAX = 64
_TEXT_ORDERS_LEVELS = 4096


def _text_order(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """The distinct strings `texts` in R's order (`r_level_order`) and the map from a
    position in `texts` to its level (length k + 1, the last entry −1 for missing codes).
    The result for the last few lists of up to 4096 strings is remembered, keyed by the
    strings themselves (an immutable tuple: a data column is never a key)."""
    key = tuple(texts) if len(texts) <= _TEXT_ORDERS_LEVELS else None
    hit = _TEXT_ORDERS.get(key) if key is not None else None
    if hit is None:
        order = r_level_order(texts)
        remap = np.empty(len(texts) + 1, dtype=np.int64)
        remap[order] = np.arange(len(texts))
        remap[-1] = -1
        remap.flags.writeable = False
        hit = ([texts[i] for i in order], remap)
        if key is not None:
            if len(_TEXT_ORDERS) >= _TEXT_ORDERS_MAX:
                # the oldest; another thread may be first
                with contextlib.suppress(RuntimeError, StopIteration):
                    _TEXT_ORDERS.pop(next(iter(_TEXT_ORDERS)), None)
            _TEXT_ORDERS[key] = hit
    return list(hit[0]), hit[1]


def _used_categories(codes: np.ndarray, categories: pd.Index, name: object,
                     complete: bool = False) -> tuple[np.ndarray, list[str]]:
    """Codes and labels of a categorical without its unused categories (labels as R prints
    them; categories that print alike are refused). `complete`: no code is −1 (missing)."""
    listed, labels = _category_labels(categories)
    k = len(listed)             # (an Arrow-backed index's own len() costs several calls)
    if complete or not len(codes) or codes.min() >= 0:
        used = np.bincount(codes, minlength=k) > 0
    else:
        used = np.bincount(codes + 1, minlength=k + 1)[1:] > 0   # code −1 (missing) in slot 0
    if used.all():
        if labels is None:
            raise DataError(f"column {name!r} has categories that print identically")
        return codes, list(labels)
    remap = np.full(k + 1, -1, dtype=np.int64)
    remap[:-1][used] = np.arange(int(used.sum()))
    codes = remap[codes]
    cats = categories[used].to_numpy().tolist()
    if isinstance(categories.dtype, pd.StringDtype):
        return codes, cats
    return codes, _printed_labels(cats, name)


def _printed_labels(cats: list[object], name: object) -> list[str]:
    """Categories as R prints them, refusing two that print alike."""
    labels = [c if isinstance(c, str) else format_level(c) for c in cats]
    if len(set(labels)) != len(labels):
        raise DataError(f"column {name!r} has categories that print identically")
    return labels


_CATEGORY_LISTS: dict[int, tuple[weakref.ref[pd.Index], list[object], tuple[str, ...] | None]] \
    = {}
_CATEGORY_LISTS_MAX = 32


def _category_labels(categories: pd.Index) -> tuple[list[object], tuple[str, ...] | None]:
    """`categories` as a list the caller only reads, and their labels as R prints them (None
    when two print alike). Reading an Arrow-backed index into Python objects costs ~10 µs
    plus ~0.2 µs a level, and formatting numbers as R prints them ~1 µs a level, so both are
    remembered for the last few (immutable) category indexes, by identity (a weak reference
    checks that the index is still the same)."""
    hit = _CATEGORY_LISTS.get(id(categories))
    if hit is not None and hit[0]() is categories:
        return hit[1], hit[2]
    values = categories.to_numpy().tolist()
    if isinstance(categories.dtype, pd.StringDtype):
        labels: tuple[str, ...] | None = tuple(values)
    else:
        try:
            labels = tuple(_printed_labels(values, None))
        except DataError:
            labels = None
    if len(_CATEGORY_LISTS) >= _CATEGORY_LISTS_MAX:
        # the oldest; another thread may be first
        with contextlib.suppress(RuntimeError, StopIteration):
            _CATEGORY_LISTS.pop(next(iter(_CATEGORY_LISTS)), None)
    _CATEGORY_LISTS[id(categories)] = (weakref.ref(categories), values, labels)
    return values, labels


def _numeric_levels(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Codes (−1 for NaN) and labels of numbers or booleans as levels: sorted distinct values,
    as R's `as.character` prints them (booleans FALSE / TRUE)."""
    if values.dtype.kind == "f":
        ok = ~np.isnan(values)
        if not ok.all():
            codes = np.full(len(values), -1, dtype=np.int64)
            sub, labels = _numeric_levels(values[ok])
            codes[ok] = sub
            return codes, labels
    uniq, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64).reshape(-1), [format_level(v) for v in uniq.tolist()]


def as_factor(s: pd.Series) -> pd.Series:
    """The column as a pandas categorical with R's level order and string labels
    (`factor_codes`)."""
    codes, labels, ordered = factor_codes(s)
    return pd.Series(pd.Categorical.from_codes(codes, categories=labels, ordered=ordered),
                     index=s.index, name=s.name)
