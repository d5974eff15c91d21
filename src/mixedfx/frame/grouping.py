"""Grouping factors of random-effects terms, including interactions such as `cask:batch`.

An interaction `a:b` has as levels the observed combinations, labelled "a_level:b_level" and
ordered with the first factor varying slowest (R's `:` on factors, unused levels dropped).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixedfx.formula.rnames import format_level
from mixedfx.frame.levels import factor_codes


def grouping_factor(frame: pd.DataFrame, group_vars: tuple[str, ...]
                    ) -> tuple[np.ndarray, list[str]]:
    """Integer codes (0-based) and level labels of the (interaction of the) grouping columns."""
    return combine_factors([factor_codes(frame[v])[:2] for v in group_vars])


def combine_factors(factors: list[tuple[np.ndarray, list[str]]], complete: bool = False
                    ) -> tuple[np.ndarray, list[str]]:
    """The grouping factor of factors given as (codes, labels): one factor without its unused
    levels, or the interaction of several (observed combinations, first factor slowest).
    `complete`: the factors have no missing values and use every level (the model frame's)."""
    if len(factors) == 1:
        code, label = factors[0]
        if complete or (len(code) and code.min() >= 0 and \
                np.bincount(code, minlength=len(label)).all()):
            return code, label              # every level used: codes as they are
        used = np.unique(code)
        remap = np.full(len(label), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        return remap[code], [label[i] for i in used]
    codes = [c for c, _ in factors]
    labels = [lab for _, lab in factors]
    key = np.zeros(len(codes[0]), dtype=np.int64)
    for c, lab in zip(codes, labels, strict=True):
        key = key * len(lab) + c
    ukey, inverse = np.unique(key, return_inverse=True)
    names = []
    for k in ukey:
        parts = []
        for lab in reversed(labels):
            k, idx = divmod(int(k), len(lab))
            parts.append(lab[idx])
        names.append(":".join(reversed(parts)))
    return inverse.astype(np.int64), names


def value_labels(col: pd.Series) -> np.ndarray:
    """Each value's factor label as R prints it (missing values stay None)."""
    def label(v: object) -> object:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return None
        return v if isinstance(v, str) else format_level(v)
    return np.array([label(v) for v in col.astype(object)], dtype=object)


def level_labels_for_new_data(frame: pd.DataFrame, group_vars: tuple[str, ...]) -> np.ndarray:
    """Labels of the grouping factor for each row of new data (to match the fitted levels)."""
    parts = [value_labels(frame[v]) for v in group_vars]
    out = parts[0]
    for p in parts[1:]:
        out = np.array([None if a is None or b is None else f"{a}:{b}"
                        for a, b in zip(out, p, strict=True)], dtype=object)
    return out
