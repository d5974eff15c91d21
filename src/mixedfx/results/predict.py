"""Encoding new data exactly as the training data, for `predict(newdata=...)`.

Fixed effects go through the training design's spec (same factor levels, same `scale()`
centre and spread); random effects through each term's own spec, with grouping levels matched
by label. New levels get zero random effects when allowed (lme4's `allow.new.levels=TRUE`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentTypeError, DataError, FormulaError, NewLevelError, did_you_mean
from mixedfx.formula import parse_formula
from mixedfx.frame.grouping import level_labels_for_new_data, value_labels
from mixedfx.frame.model_frame import ModelFrame, as_pandas
from mixedfx.frame.terms import RandomEffectsTerm


@dataclass
class NewData:
    """New data encoded with the training factor levels, plus each value's label."""

    frame: pd.DataFrame           # factor columns as categoricals with training levels
    raw: pd.DataFrame             # the data as given (for matching grouping levels)
    index: pd.Index               # the user's row labels (predictions keep them)


def prepare_newdata(frame: ModelFrame, newdata: object) -> NewData:
    given = as_pandas(newdata)
    raw = given.reset_index(drop=True)
    nd = raw.copy()
    for col, levels in frame.factor_levels.items():
        if col in nd.columns:
            known = set(levels)
            labels = [v if v in known else None for v in value_labels(nd[col])]
            nd[col] = pd.Categorical(labels, categories=levels)
    return NewData(frame=nd, raw=raw, index=given.index)


def fixed_matrix(frame: ModelFrame, new: NewData) -> np.ndarray:
    """X for new data, with the columns the fit kept; unseen factor levels are an error."""
    for col in getattr(frame.fixed_design, "variables", ()):
        if col in frame.factor_levels and col in new.raw.columns:
            labels = value_labels(new.raw[col])
            unknown = sorted({str(v) for v in labels
                              if v is not None and v not in set(frame.factor_levels[col])})
            if unknown:
                known = frame.factor_levels[col]
                raise NewLevelError(f"factor {col!r} has new level(s) {unknown[:10]} in "
                                    f"newdata; the fit knows {known[:20]}"
                                    f"{' ...' if len(known) > 20 else ''}")
    X = np.asarray(frame.fixed_design.matrix(new.frame), dtype=float)
    return X[:, frame.kept_columns]


def term_contribution(term: RandomEffectsTerm, b: np.ndarray, new: NewData,
                      allow_new_levels: bool) -> np.ndarray:
    """(Z_t b_t) for the rows of new data; unseen or missing levels contribute 0 when allowed."""
    missing_cols = [v for v in term.group_vars if v not in new.raw.columns]
    if missing_cols:
        raise DataError(f"newdata lacks grouping column(s) {missing_cols} needed by the "
                        f"random-effects term for {term.group_name!r}; add it, or drop the "
                        "term with re_form='NA'")
    labels = level_labels_for_new_data(new.raw, term.group_vars)
    index = {lv: i for i, lv in enumerate(term.levels)}
    codes = np.array([-1 if lb is None else index.get(lb, -1) for lb in labels],
                     dtype=np.int64)
    if np.any(codes < 0) and not allow_new_levels:
        absent = [lb is None for lb in labels]
        if any(absent):
            rows = [str(new.index[i]) for i in np.flatnonzero(absent)[:5]]
            cols = [v for v in term.group_vars if new.raw[v].isna().any()]
            raise DataError(f"newdata has missing values in grouping column(s) {cols} "
                            f"({sum(absent)} row(s), e.g. row(s) {', '.join(rows)}); give their "
                            "level, or use allow_new_levels=True to predict those rows with "
                            "zero random effects (the population level)")
        new_levels = sorted({str(lb) for lb, c in zip(labels, codes, strict=True) if c < 0})
        raise NewLevelError(f"new levels detected in newdata for {term.group_name!r}: "
                            f"{new_levels[:10]}; use allow_new_levels=True to predict them "
                            "with zero random effects")
    known = codes >= 0
    contrib = np.zeros(len(labels))
    if known.any():
        V = np.asarray(term.design.matrix(new.frame), dtype=float)
        contrib[known] = np.einsum("ik,ik->i", V[known], b[codes[known]])
    return contrib


_RE_FORM_LHS = "re_form_response_"     # a response that makes `re_form` a whole formula


def parse_re_form(frame: ModelFrame, re_form: Any, structures: bool) -> Any:
    """`re_form` (e.g. "~(1 | Subject)") parsed as the right-hand side of a formula over the
    model's columns; a typo is reported against `re_form` itself, with the model's
    random-effects terms and no internal names."""
    if not isinstance(re_form, str):
        raise ArgumentTypeError("re_form must be None, 'NA', '~0' or a formula such as "
                                f"'~(1 | g)', got {re_form!r} ({type(re_form).__name__})")
    text = re_form.strip()
    text = text if text.startswith("~") else "~" + text
    cols = [str(c) for c in frame.frame.columns]
    try:
        return parse_formula(_RE_FORM_LHS + " " + text, [*cols, _RE_FORM_LHS],
                             covariance_structures=structures)
    except FormulaError as exc:
        terms = ", ".join(f"({' + '.join(t.term_names)} | {t.group_name})"
                          for t in frame.terms)
        m = re.match(r"unknown variable '([^']*)'", exc.reason)
        hidden = len(_RE_FORM_LHS) + 1
        reason = (f"re_form names unknown variable {m.group(1)!r}"
                  f"{did_you_mean(m.group(1), cols)}" if m else
                  "re_form: " + exc.reason.replace(", " + _RE_FORM_LHS, ""))
        start = None if exc.start is None else max(0, exc.start - hidden)
        end = None if exc.end is None else max(1, exc.end - hidden)
        raise FormulaError(f"{reason}; the model's random-effects terms are {terms}",
                           text, start, end) from None
