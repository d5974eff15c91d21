"""Pass 1 over the partitions: row counts, missing values, column kinds and factor levels.

Each partition reports, for the model's columns: its number of rows and of complete rows
(no missing value in any model column), each column's kind (numeric / logical / character /
factor), missing values in grouping columns, and the distinct values of every factor column
and grouping column (and the distinct combinations of an interaction's columns) among the
complete rows. The reports are merged in a tree reduction; the driver then orders the levels
as R does (`frame.levels.as_factor` on the union of the distinct values).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentTypeError, DataError
from mixedfx.formula.evaluate import column_kind
from mixedfx.formula.rnames import format_level
from mixedfx.frame.levels import as_factor


@dataclass
class LevelReport:
    """One partition's (or a merged group of partitions') pass-1 summary."""

    n_rows: int
    n_complete: int
    kinds: dict[str, set[str]]
    group_missing: dict[str, int]
    uniques: dict[str, pd.Series]
    combos: dict[tuple[str, ...], pd.DataFrame]
    head: pd.DataFrame = field(repr=False)


def partition_report(part: pd.DataFrame, columns: list[str], factor_columns: list[str],
                     interactions: list[tuple[str, ...]], group_columns: list[str]
                     ) -> LevelReport:
    """Pass 1 on one partition (runs on a worker)."""
    sub = part.loc[:, columns]
    kinds = {c: {_kind(sub[c])} for c in columns}
    group_missing = {c: int(sub[c].isna().sum()) for c in group_columns}
    complete = sub.loc[~sub.isna().any(axis=1).to_numpy()]
    uniques = {c: complete[c].drop_duplicates().reset_index(drop=True) for c in factor_columns}
    combos = {g: complete.loc[:, list(g)].drop_duplicates().reset_index(drop=True)
              for g in interactions}
    return LevelReport(len(sub), len(complete), kinds, group_missing, uniques, combos,
                       complete.head(5).reset_index(drop=True))


def _kind(s: pd.Series) -> str:
    kind = column_kind(s)
    return "character" if kind == "factor" and not isinstance(s.dtype, pd.CategoricalDtype) \
        else kind


def merge_reports(a: LevelReport, b: LevelReport) -> LevelReport:
    """The summary of the union of two groups of partitions."""
    return LevelReport(
        a.n_rows + b.n_rows, a.n_complete + b.n_complete,
        {c: a.kinds[c] | b.kinds[c] for c in a.kinds},
        {c: a.group_missing[c] + b.group_missing[c] for c in a.group_missing},
        {c: _union(a.uniques[c], b.uniques[c]) for c in a.uniques},
        {g: pd.concat([a.combos[g], b.combos[g]], ignore_index=True).drop_duplicates()
         .reset_index(drop=True) for g in a.combos},
        a.head if len(a.head) else b.head)


def _union(a: pd.Series, b: pd.Series) -> pd.Series:
    cat_a, cat_b = (isinstance(s.dtype, pd.CategoricalDtype) for s in (a, b))
    if (cat_a or cat_b) and a.dtype != b.dtype:     # categoricals with different categories
        a, b = a.astype(object), b.astype(object)
    return pd.concat([a, b], ignore_index=True).drop_duplicates().reset_index(drop=True)


def check_report(report: LevelReport) -> None:
    """Clear errors for partitions disagreeing on a column's type and for missing grouping
    values."""
    mixed = {c: sorted(k) for c, k in report.kinds.items()
             if len(k - {"numeric"}) > 0 and len(k) > 1}
    if mixed:
        desc = "; ".join(f"{c!r}: {', '.join(k)}" for c, k in mixed.items())
        raise ArgumentTypeError(f"the partitions of the data disagree on column types ({desc}); "
                                "cast the column to one type (e.g. ddf.astype) before fitting")
    bad = {c: n for c, n in report.group_missing.items() if n}
    if bad:
        desc = ", ".join(f"{c!r} ({n} row(s))" for c, n in bad.items())
        raise DataError(f"grouping column(s) with missing values: {desc}; drop or fill "
                        "those rows before fitting on Dask")
    if report.n_complete == 0:
        raise DataError("no observations left after removing rows with missing values")


def level_labels(values: pd.Series) -> list[str]:
    """R's level labels, in R's order, of a column given by its distinct values."""
    return list(as_factor(values).cat.categories)


def value_codes(series: pd.Series, labels: list[str] | pd.Index) -> np.ndarray:
    """Codes of a column's values into the given level labels (−1: missing or unknown)."""
    cat = series.cat if isinstance(series.dtype, pd.CategoricalDtype) else \
        pd.Categorical(series.to_numpy(dtype=object) if series.dtype == object
                       else series)
    codes = np.asarray(cat.codes, dtype=np.int64)
    cats = cat.categories
    index = labels if isinstance(labels, pd.Index) else pd.Index(labels, dtype=object)
    mapping = index.get_indexer(pd.Index([_label(v) for v in cats], dtype=object))
    mapping = np.append(mapping, -1)            # code −1 (missing) maps to −1
    return mapping[codes]


def _label(v: object) -> str:
    return v if isinstance(v, str) else format_level(v)


def interaction_levels(combos: pd.DataFrame, group_vars: tuple[str, ...],
                       labels: dict[str, list[str]]) -> tuple[np.ndarray, list[str]]:
    """Sorted mixed-radix keys and labels ("a:b") of the observed combinations, first
    variable varying slowest (R's `:` with unused levels dropped)."""
    key = interaction_key(combos, group_vars, labels)
    ukey = np.unique(key)
    names = []
    for k in ukey:
        parts = []
        for v in reversed(group_vars):
            k, idx = divmod(int(k), len(labels[v]))
            parts.append(labels[v][idx])
        names.append(":".join(reversed(parts)))
    return ukey, names


def interaction_key(frame: pd.DataFrame, group_vars: tuple[str, ...],
                    labels: dict[str, list[str]]) -> np.ndarray:
    key = np.zeros(len(frame), dtype=np.int64)
    for v in group_vars:
        key = key * len(labels[v]) + value_codes(frame[v], labels[v])
    return key
