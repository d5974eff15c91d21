"""The model frame's checks on the response, weights, offset and random-effects terms (lme4's
checks, with the reason and a remedy in each message)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixedfx.errors import DataError
from mixedfx.formula import ParsedFormula, evaluate_response
from mixedfx.formula.columns import Column, ColumnTable
from mixedfx.frame.terms import RandomEffectsTerm


def response_values(parsed: ParsedFormula, frame: ColumnTable, glm: bool,
                    evaluated: np.ndarray | None = None, finite: bool = False) -> np.ndarray:
    """y evaluated on the complete rows: numeric for lmer; for glmer also a two-level factor
    or boolean (1 = second level) or cbind(successes, failures) (two columns); finite.
    `evaluated`: y as already evaluated on `frame` (the checks are made all the same);
    `finite`: it is known to have finite cells only."""
    if parsed.response is None:
        raise DataError("formula has no response: write it as 'y ~ x + (1 | g)'")
    col = parsed.response
    dtype = frame.column(col).dtype if col in frame else None
    is_factor = dtype is not None and not (isinstance(dtype, np.dtype) and dtype.kind in "biuf") \
        and not pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    if is_factor and not glm:
        raise DataError(f"response {col!r} must be numeric, got {dtype} values; "
                        "convert it to numbers (a two-level factor response needs "
                        "mixedfx.glmer with family='binomial')")
    if is_factor:
        levels = _distinct(frame.column(col))
        if len(levels) != 2:
            raise DataError(f"factor response {col!r} must have exactly 2 levels for a "
                            f"binomial model, got {len(levels)} "
                            f"({', '.join(map(str, list(levels)[:5]))}"
                            f"{', ...' if len(levels) > 5 else ''}); recode it to two "
                            "levels or 0/1")
    y = evaluated if evaluated is not None else \
        np.asarray(evaluate_response(parsed.response, frame, factor_as_indicator=glm),
                   dtype=float)
    if y.ndim == 2 and not glm:
        raise DataError(f"response {parsed.response!r} has {y.shape[1]} columns: a cbind() "
                        "response is for binomial models (mixedfx.glmer); lmer needs one "
                        "numeric response")
    bad = None if finite else ~np.isfinite(y)
    if bad is not None and bad.any():
        raise DataError(f"response {parsed.response!r} has {int(bad.sum())} non-finite "
                        "value(s) (Inf or NaN after transformation)")
    return y


def _distinct(col: Column) -> list[object]:
    """The levels pandas' `astype("category")` gives a column: a categorical's categories
    (used or not), else its sorted distinct non-missing values."""
    if col.kind == "factor":
        return list(col.levels)
    values = col.values
    uniq = pd.unique(values)
    present = uniq[~pd.isna(uniq)].tolist()
    try:
        return sorted(present)
    except TypeError:                       # mixed kinds: in the order of their text
        return sorted(present, key=str)


def check_terms(terms: list[RandomEffectsTerm], n: int, glm: bool) -> None:
    """lme4's checks; glmer allows as many levels as observations (observation-level random
    effects) and skips the random-effects-count check, as `glmerControl` does."""
    if glm:
        for t in terms:
            if n < t.q:          # lme4's check.nobs.vs.nRE for glmer (allow.n = TRUE)
                raise DataError(
                    f"number of observations (={n}) < number of random effects (={t.q}) for "
                    f"term ({' + '.join(t.term_names)} | {t.group_name}); the random-effects "
                    "parameters are probably unidentifiable")
    few, many = [], []
    for t in terms:             # (a loop: a few terms, no comprehension's call)
        if t.n_levels < 2:
            few.append(t.group_name)
        if (t.n_levels > n) if glm else (t.n_levels >= n):
            many.append(t.group_name)
    if few:
        raise DataError("grouping factors must have > 1 sampled level "
                        f"(problems: {', '.join(dict.fromkeys(few))}): a random effect needs "
                        "at least two groups; drop the term or use mixedfx.lm")
    if many:
        relation = "<=" if glm else "<"
        raise DataError(f"number of levels of each grouping factor must be {relation} number "
                        f"of observations (problems: {', '.join(dict.fromkeys(many))}): with "
                        "one observation per level the random effect cannot be told apart "
                        "from the residual")
    if glm:
        return
    for t in terms:
        # glmmTMB makes no such check: a structured term (e.g. ar1 over the occasions of a
        # student, one row each) may have as many effects as rows, its few parameters are
        # identified through the structure
        if n <= t.q and not t.covariance.structured:
            raise DataError(
               f"number of observations (={n}) <= number of random effects (={t.q}) for term "
               f"({' + '.join(t.term_names)} | {t.group_name}); the random-effects parameters "
               "and the residual variance (or scale parameter) are probably unidentifiable")


def check_weights(w: np.ndarray | None, glm: bool) -> None:
    """Prior weights: finite and non-negative, not all zero; positive for lmer (lme4 returns
    a −Inf log-likelihood for a zero weight)."""
    if w is None:
        return
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise DataError("weights must be non-negative and finite")
    if not glm and np.any(w == 0):
        raise DataError(f"weights must be positive for lmer ({int(np.sum(w == 0))} zero "
                        "weight(s)); drop those rows instead (lme4 returns a -Inf "
                        "log-likelihood)")
    if not np.any(w > 0):
        raise DataError("all weights are zero")


def total_offset(parsed: ParsedFormula, formula_offsets: list[np.ndarray],
                 off: np.ndarray | None) -> np.ndarray | None:
    """The formula's `offset(...)` terms plus the `offset=` argument, each finite."""
    for expr, term in zip(parsed.offsets, formula_offsets, strict=True):
        if not np.all(np.isfinite(term)):
            raise DataError(f"offset({expr}) has non-finite values")
        off = term if off is None else off + term
    if off is not None and np.any(~np.isfinite(off)):
        raise DataError("offset must be finite")
    return off


def check_not_constant(parsed: ParsedFormula, y: np.ndarray, off: np.ndarray | None,
                       glm: bool) -> None:
    """An lmer response must vary (without an offset): σ̂ would be 0, the likelihood ∞."""
    # (the first two values differing — nearly always — settle it without a pass over y)
    if not glm and y.ndim == 1 and len(y) > 1 and off is None and y[1] == y[0] and \
            (y == y[0]).all():
        raise DataError(f"response {parsed.response!r} is constant (every value is {y[0]:g}): "
                        "the residual variance would be 0 and the log-likelihood infinite")
