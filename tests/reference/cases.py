"""Loader for the R reference cases in ``tests/reference``.

Every ``<case_id>.json`` file describes one model fitted in R (see the ``README`` of the
reference set for the fields); its data set is ``data/<case["data"]>.gz``, a gzip CSV.

``load_data`` rebuilds the data frame R used: the CSV does not store column types or factor level
order, so they come from the case file:

* ``factor`` / ``ordered factor`` columns become ``pd.Categorical`` (``ordered=True`` for ordered
  factors). Level order: ``factor_levels`` for fixed-effect factors, ``expected.ranef.<g>.levels``
  for a grouping factor ``g`` that is a single column, otherwise R's default (sorted; numerically
  when every label is a number).
* numeric columns that are a single-column grouping factor (``hospital``, ``primary_school_id``)
  become categoricals whose categories are the numbers, in the order of the ranef levels.
* ``logical`` columns become ``bool`` (pandas ``boolean`` when there are missing values),
  ``character`` columns stay strings, ``numeric`` columns become ``float64`` (R doubles) and
  ``integer`` columns ``int64`` (``Int64`` with missing values).
* nothing is dropped: rows with missing values stay (NA handling is mixedfx's job).

Grouping factors that are interactions (``cask:batch``, ``ward:hospital``) are built by mixedfx
from the single columns, so only the single columns are converted here.

This module must not read anything outside ``tests/reference``.
"""

from __future__ import annotations

import functools
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parent
DATA_DIR = REFERENCE_DIR / "data"

FACTOR_TYPES = ("factor", "ordered factor")
STRING_TYPES = (*FACTOR_TYPES, "character", "logical")

# The CSV holds shortest round-trip representations of R's doubles; read them back exactly.
# pandas >= 3 parses floats exactly by default (and deprecates ``float_precision``).
_EXACT_FLOATS: dict[str, Any] = (
    {} if int(pd.__version__.split(".", 1)[0]) >= 3 else {"float_precision": "round_trip"}
)

#: how the reference marks an unseen grouping level in ``expected.predict.newdata``
NEW_LEVEL = "NEW_LEVEL"


# --------------------------------------------------------------------------------------------
# case files
# --------------------------------------------------------------------------------------------
def case_ids(engine: str | None = None) -> list[str]:
    """Sorted ids of all case files, optionally only those with ``engine`` (e.g. ``lme4::lmer``)."""
    ids = sorted(p.stem for p in REFERENCE_DIR.glob("*.json"))
    if engine is None:
        return ids
    return [i for i in ids if load_case(i)["engine"] == engine]


@functools.cache
def _load_case_cached(case_id: str) -> str:
    return (REFERENCE_DIR / f"{case_id}.json").read_text(encoding="utf-8")


def load_case(case_id: str) -> dict[str, Any]:
    """The parsed case file (a fresh dict each call, so callers may modify it)."""
    return json.loads(_load_case_cached(case_id))


def response_name(case: dict[str, Any]) -> str:
    """Left side of the case formula (a column name for every lmer case)."""
    return case["formula"].split("~", 1)[0].strip()


def group_columns(group: str) -> list[str]:
    """Columns that make up an lme4 grouping-factor name (``"cask:batch"`` -> cask, batch)."""
    return [g.strip() for g in group.split(":")]


def single_column_groups(case: dict[str, Any]) -> dict[str, list[str]]:
    """Grouping factors that are one column, mapped to R's level order (as strings)."""
    ranef = case.get("expected", {}).get("ranef") or {}
    out: dict[str, list[str]] = {}
    for group, info in ranef.items():
        if ":" in group or "levels" not in info:
            continue
        out[group] = [str(v) for v in info["levels"]]
    return out


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def _is_number(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def r_sorted_levels(values: pd.Series) -> list[str]:
    """R's default level order of ``factor(x)`` for string labels read from the CSV.

    R sorts the distinct values of the original vector; a column of numbers stored as a factor
    (``s``, ``d`` in InstEval) was created from numbers, so numeric labels are sorted numerically.
    """
    labels = sorted({str(v) for v in values.dropna()})
    if labels and all(_is_number(v) for v in labels):
        return sorted(labels, key=float)
    return labels


def _numeric_categories(levels: list[str], column: pd.Series) -> list[Any]:
    """Level strings converted back to the numeric dtype of ``column``."""
    if pd.api.types.is_integer_dtype(column.dtype):
        return [int(v) for v in levels]
    cats: list[Any] = []
    for v in levels:
        x = float(v)
        cats.append(int(x) if x.is_integer() else x)
    if all(isinstance(c, int) for c in cats) and column.dropna().map(float.is_integer).all():
        return cats
    return [float(v) for v in levels]


def _to_categorical(
    column: pd.Series, levels: list[Any], ordered: bool, name: str, extend: bool = False
) -> pd.Categorical:
    """``column`` as a categorical with ``levels``.

    With ``extend``, values missing from ``levels`` are appended in R's sorted order: the
    ranef levels of a grouping factor lack the levels whose rows R dropped for missing values
    (lme4 drops unused levels), e.g. two ``iid`` values in speed_dating."""
    if extend:
        known = set(levels)
        extra = [v for v in pd.unique(column.dropna()) if v not in known]
        if extra:
            try:
                extra = sorted(extra, key=float)
            except (TypeError, ValueError):
                extra = sorted(extra, key=str)
            levels = [*levels, *extra]
    cat = pd.Categorical(column, categories=levels, ordered=ordered)
    lost = cat.isna() & column.notna().to_numpy()
    if lost.any():
        bad = sorted({str(v) for v in column[lost]})[:5]
        raise ValueError(f"column {name!r}: values {bad} are not among the reference levels")
    return cat


@functools.cache
def _read_csv(data_name: str, string_cols: tuple[str, ...]) -> pd.DataFrame:
    path = DATA_DIR / f"{data_name}.gz"
    return pd.read_csv(
        path,
        compression="gzip",
        dtype=dict.fromkeys(string_cols, str),
        keep_default_na=False,
        na_values=[""],
        **_EXACT_FLOATS,
    )


def load_data(case: dict[str, Any] | str) -> pd.DataFrame:
    """The case's data frame with R's column types and factor level order (a fresh copy)."""
    if isinstance(case, str):
        case = load_case(case)
    columns: dict[str, str] = case["columns"]
    string_cols = tuple(sorted(c for c, t in columns.items() if t in STRING_TYPES))
    df = _read_csv(case["data"], string_cols).copy()

    fixed_levels: dict[str, list[str]] = {
        k: [str(v) for v in lv] for k, lv in (case.get("factor_levels") or {}).items()
    }
    group_levels = single_column_groups(case)

    for name, rtype in columns.items():
        if name not in df.columns:
            raise KeyError(f"{case['id']}: column {name!r} missing from {case['data']}")
        col = df[name]
        if rtype in FACTOR_TYPES:
            if name in fixed_levels:
                levels = fixed_levels[name]
            elif name in group_levels:
                levels = group_levels[name]
            else:
                levels = r_sorted_levels(col)
            df[name] = _to_categorical(
                col, levels, rtype == "ordered factor", name, extend=name not in fixed_levels
            )
        elif rtype == "logical":
            mapped = col.map(
                lambda v: v if pd.isna(v) else {"true": True, "false": False}[str(v).lower()]
            )
            df[name] = mapped.astype("boolean" if mapped.isna().any() else bool)
        elif rtype == "character":
            df[name] = col.astype(object).where(col.notna(), None)
        elif name in group_levels:
            # numeric column used as a grouping factor on its own: categories are the numbers,
            # in R's level order (R converts it with factor(), which sorts numerically).
            cats = _numeric_categories(group_levels[name], col)
            df[name] = _to_categorical(col, cats, False, name, extend=True)
        elif rtype == "integer":
            df[name] = col.astype("Int64" if col.isna().any() else "int64")
        elif rtype == "numeric":
            df[name] = col.astype("float64")
    return df


def response_sd(case: dict[str, Any], data: pd.DataFrame | None = None) -> float:
    """Sample SD of the response (rows with a missing response ignored): the scale for
    absolute tolerances on random effects, fitted values and predictions."""
    if data is None:
        data = load_data(case)
    y = pd.to_numeric(data[response_name(case)], errors="coerce").dropna().to_numpy(float)
    return float(np.std(y, ddof=1))


# --------------------------------------------------------------------------------------------
# predict newdata
# --------------------------------------------------------------------------------------------
def newdata(case: dict[str, Any], train: pd.DataFrame | None = None) -> pd.DataFrame:
    """``expected.predict.newdata`` as a data frame typed like the training data.

    Numeric columns get the training dtype. A column that is categorical in the training data
    becomes a categorical with the same categories when all its values are known levels;
    when it holds an unseen level (``"NEW_LEVEL"`` or an id larger than any observed one) it is
    passed as plain values (strings, or numbers for numeric grouping columns), which mixedfx
    must map onto the training levels, with unseen values treated as new levels.
    """
    if train is None:
        train = load_data(case)
    rows = case["expected"]["predict"]["newdata"]
    nd = pd.DataFrame.from_records(rows)
    for name in nd.columns:
        if name not in train.columns:
            continue
        tcol = train[name]
        values = nd[name]
        if isinstance(tcol.dtype, pd.CategoricalDtype):
            cats = tcol.cat.categories
            numeric_cats = pd.api.types.is_numeric_dtype(cats.dtype)
            if numeric_cats:
                plain = pd.Series(
                    [v if isinstance(v, str) else _as_number(v, cats.dtype) for v in values],
                    name=name,
                )
                if all(not isinstance(v, str) for v in plain):
                    plain = plain.astype(cats.dtype)
            else:
                plain = values.map(str).astype(object)
            if plain.isin(list(cats)).all():
                nd[name] = pd.Categorical(plain, categories=cats, ordered=tcol.cat.ordered)
            else:
                nd[name] = plain
        elif pd.api.types.is_bool_dtype(tcol.dtype):
            nd[name] = values.astype(bool)
        elif pd.api.types.is_numeric_dtype(tcol.dtype):
            nd[name] = values.astype(tcol.dtype)
        else:
            nd[name] = values.map(str).astype(object)
    return nd


def _as_number(value: Any, dtype: Any) -> Any:
    if pd.api.types.is_integer_dtype(dtype):
        return int(value)
    return float(value)


# --------------------------------------------------------------------------------------------
# small helpers shared by the tests
# --------------------------------------------------------------------------------------------
def printed_decimals(text: str) -> int:
    """Number of decimals of a number as printed (``"12.6370"`` -> 4, ``"46724"`` -> 0)."""
    m = re.fullmatch(r"\s*[-+]?\d*(?:\.(\d*))?(?:[eE][-+]?\d+)?\s*", text)
    if m is None:
        raise ValueError(f"not a printed number: {text!r}")
    return len(m.group(1) or "")


def r_format(values: list[float] | np.ndarray, digits: int) -> list[str]:
    """R's ``format(x, digits = digits)`` for a vector of finite, non-integral-ish doubles.

    R uses a common number of decimals: the smallest number that shows every element with
    ``digits`` significant digits (after dropping trailing zeros), and fixed notation when the
    numbers are of moderate size (as for variance components)."""
    vals = [float(v) for v in values]
    decimals = 0
    for v in vals:
        if v == 0 or not math.isfinite(v):
            continue
        mag = math.floor(math.log10(abs(v)))
        need = digits - 1 - mag
        if need <= 0:
            continue
        text = f"{abs(v):.{need}f}".rstrip("0")
        decimals = max(decimals, len(text.split(".", 1)[1]) if "." in text else 0)
    return [f"{v:.{decimals}f}" for v in vals]
