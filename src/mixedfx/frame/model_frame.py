"""The model frame: the rows and columns a fit uses, encoded for the engine.

Steps, in lme4's order: select the formula's variables; drop rows with missing values
(`na_action="omit"`, reported) or refuse them (`"fail"`); make factors (R level order, unused
levels dropped); evaluate the response, X (dropping linearly dependent columns, as lme4 does) and
one RandomEffectsTerm per bar; run lme4's sanity checks; order terms by decreasing number of
levels (stable, as lme4 does).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.covariance import CovarianceStructure, StructuredCovariance, structure_for
from mixedfx.errors import ArgumentTypeError, DataError, FormulaError
from mixedfx.formula import ParsedFormula, build_design, evaluate_response, parse_formula
from mixedfx.frame.grouping import grouping_factor
from mixedfx.frame.levels import as_factor, is_factor_like
from mixedfx.frame.rank import independent_columns
from mixedfx.frame.rows import (
    MissingDataWarning,
    RowMap,
    drop_missing,
    frame_for,
    newdata_index,
    row_map,
    series_for,
)
from mixedfx.frame.terms import RandomEffectsTerm
from mixedfx.validate import (
    check_choice,
    check_column_names,
    check_design_size,
    check_finite_design,
    check_used_columns,
    numeric_vector,
)


class RankDeficiencyWarning(UserWarning):
    """Linearly dependent fixed-effects columns were dropped."""


@dataclass
class ModelFrame:
    """Everything the engine and the results need from the data."""

    formula: ParsedFormula
    frame: pd.DataFrame
    y: np.ndarray
    X: np.ndarray
    fixef_names: list[str]
    fixed_design: Any
    kept_columns: np.ndarray
    weights: np.ndarray | None
    offset: np.ndarray | None
    terms: list[RandomEffectsTerm]
    factor_levels: dict[str, list[str]]
    n_dropped: int = 0
    dropped_columns: list[str] = field(default_factory=list)
    offset_column: str | None = None
    rows: RowMap | None = None      # the user's rows used (None: 0..n-1, no padding)

    def rowwise(self, values: np.ndarray, name: str | None = None) -> pd.Series:
        """Per-row values as a Series indexed by the user's rows (see `frame.rows`)."""
        return series_for(self.rows, values, name)

    def prediction(self, newdata: object, values: np.ndarray) -> pd.Series:
        """Predictions indexed like `newdata`, or (None) like `rowwise`."""
        if newdata is None:
            return self.rowwise(values)
        values = np.asarray(values, dtype=float)
        return pd.Series(values, index=newdata_index(newdata, len(values)))

    def prediction_frame(self, newdata: object, df: pd.DataFrame) -> pd.DataFrame:
        """A frame of per-row results indexed like `newdata`, or (None) the rows used."""
        if newdata is None:
            return frame_for(self.rows, df)
        return df.set_axis(newdata_index(newdata, len(df)), axis=0)

    def new_offset(self, newdata: pd.DataFrame) -> np.ndarray:
        """The offset for new data: formula `offset(...)` terms plus an `offset=` column
        (an `offset=` array cannot be carried to new data and contributes nothing)."""
        total = np.zeros(len(newdata))
        for expr in self.formula.offsets:
            total += np.asarray(evaluate_response(expr, newdata), dtype=float)
        if self.offset_column is not None:
            if self.offset_column not in newdata.columns:
                raise DataError(f"newdata lacks the offset column {self.offset_column!r}")
            total += newdata[self.offset_column].to_numpy(dtype=float)
        return total

    @property
    def n(self) -> int:
        return len(self.y)


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


def _vector_argument(value: Any, data: pd.DataFrame, what: str) -> np.ndarray | None:
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


def _response(parsed: ParsedFormula, frame: pd.DataFrame, glm: bool) -> np.ndarray:
    if parsed.response is None:
        raise DataError("formula has no response: write it as 'y ~ x + (1 | g)'")
    col = parsed.response
    is_factor = col in frame.columns and not pd.api.types.is_numeric_dtype(frame[col].dtype) \
        and not pd.api.types.is_bool_dtype(frame[col].dtype)
    if is_factor and not glm:
        raise DataError(f"response {col!r} must be numeric, got {frame[col].dtype} values; "
                        "convert it to numbers (a two-level factor response needs "
                        "mixedfx.glmer with family='binomial')")
    if is_factor:
        levels = frame[col].astype("category").cat.categories
        if len(levels) != 2:
            raise DataError(f"factor response {col!r} must have exactly 2 levels for a "
                            f"binomial model, got {len(levels)} "
                            f"({', '.join(map(str, list(levels)[:5]))}"
                            f"{', ...' if len(levels) > 5 else ''}); recode it to two "
                            "levels or 0/1")
    y = np.asarray(evaluate_response(parsed.response, frame, factor_as_indicator=glm),
                   dtype=float)
    if y.ndim == 2 and not glm:
        raise DataError(f"response {parsed.response!r} has {y.shape[1]} columns: a cbind() "
                        "response is for binomial models (mixedfx.glmer); lmer needs one "
                        "numeric response")
    bad = ~np.isfinite(y)
    if bad.any():
        raise DataError(f"response {parsed.response!r} has {int(bad.sum())} non-finite "
                        "value(s) (Inf or NaN after transformation)")
    return y


def _check_terms(terms: list[RandomEffectsTerm], n: int, glm: bool) -> None:
    """lme4's checks; glmer allows as many levels as observations (observation-level random
    effects) and skips the random-effects-count check, as `glmerControl` does."""
    if glm:
        for t in terms:
            if n < t.q:          # lme4's check.nobs.vs.nRE for glmer (allow.n = TRUE)
                raise DataError(
                    f"number of observations (={n}) < number of random effects (={t.q}) for "
                    f"term ({' + '.join(t.term_names)} | {t.group_name}); the random-effects "
                    "parameters are probably unidentifiable")
    few = [t.group_name for t in terms if t.n_levels < 2]
    if few:
        raise DataError("grouping factors must have > 1 sampled level "
                        f"(problems: {', '.join(dict.fromkeys(few))}): a random effect needs "
                        "at least two groups; drop the term or use mixedfx.lm")
    many = [t.group_name for t in terms if (t.n_levels > n if glm else t.n_levels >= n)]
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


def _grouping_only(parsed: ParsedFormula) -> set[str]:
    """Columns used only to define grouping factors (not as numbers anywhere)."""
    import re

    texts = [parsed.response or "", parsed.fixed_rhs, *parsed.offsets,
             *(b.lhs for b in parsed.bars)]
    out = set()
    for v in parsed.group_vars:
        pat = re.compile(r"(?<![\w.`])" + re.escape(v) + r"(?![\w.`])")
        if not any(pat.search(t) for t in texts) and not any(f"`{v}`" in t for t in texts):
            out.add(v)
    return out


def _nan_rows(arrays: list[np.ndarray]) -> np.ndarray:
    """Rows holding NaN (not ±Inf) in any of the arrays (R's na.omit of the model frame)."""
    mask = np.zeros(arrays[0].shape[0], dtype=bool)
    for a in arrays:
        a2 = a.reshape(a.shape[0], -1)
        mask |= np.isnan(a2).any(axis=1)
    return mask


def _term_order_key(terms: list[RandomEffectsTerm]):
    """lme4's order: decreasing number of levels, stable. Among terms with the same number
    of levels where one is structured, the one with more columns goes first: the engine
    factors the first term level by level and the others in one dense block, so a 6-column
    `diag(0 + occas | student)` beside `(1 | student)` costs 200 6×6 factors instead of a
    dense 1200×1200 one per evaluation. Models without structured terms keep lme4's order."""
    tied = {t.n_levels for t in terms if t.covariance.structured}

    def key(t: RandomEffectsTerm) -> tuple[int, int]:
        return (-t.n_levels, -t.k if t.n_levels in tied else 0)

    return key


def term_structure(kind: str, bar: Any, spec: Any) -> CovarianceStructure:
    """The covariance structure of a bar, refusing terms the structure makes no sense for:
    `ar1` needs a single factor without intercept (`ar1(0 + f | g)`, glmmTMB's "ar1() expects
    a single, factor variable as the time component"; glmmTMB only warns about an intercept,
    whose column would join the time series as if it were a first time point), `cs`, `homcs`,
    `ar1` and `toep` need at least two columns."""
    structure = structure_for(len(spec.names), kind)
    if kind == "ar1":
        where = f"in ar1({bar.text})"
        if spec.intercept:
            raise DataError(f"ar1() is for the columns of one time factor without an "
                            f"intercept: write ar1(0 + f | g) ({where})")
        if len(spec.term_names) != 1 or spec.term_names[0] not in spec.factor_levels:
            raise DataError(f"ar1() expects a single factor variable as the time component "
                            f"({where}: {' + '.join(spec.term_names) or 'no terms'}); "
                            "convert unit-spaced times with factor()")
    if isinstance(structure, StructuredCovariance):
        structure.check_columns(list(spec.names))
    return structure


def build_model_frame(formula: str, data: Any, weights: Any = None, offset: Any = None,
                      na_action: str = "omit", require_random: bool = True,
                      glm: bool = False, extra_variables: tuple[str, ...] = ()) -> ModelFrame:
    """Parse the formula against the data and build X, y and the random-effects terms (see
    `_build_model_frame`); a formula too deeply nested for Python's recursion limit is refused
    with a FormulaError. `extra_variables`: further columns the fit needs (a residual
    structure's covariate and strata); they are kept in `frame` and take part in the
    missing-value handling."""
    try:
        return _build_model_frame(formula, data, weights, offset, na_action, require_random,
                                  glm, extra_variables=extra_variables)
    except RecursionError:
        raise FormulaError("formula too deeply nested (too many nested parentheses, calls or "
                           "signs)") from None


def _build_model_frame(formula: str, data: Any, weights: Any = None, offset: Any = None,
                       na_action: str = "omit", require_random: bool = True,
                       glm: bool = False, _n_dropped: int = 0,
                       extra_variables: tuple[str, ...] = (),
                       _origin: tuple[pd.Index, np.ndarray] | None = None) -> ModelFrame:
    """Parse the formula against the data and build X, y and the random-effects terms.

    With `glm=True` the response may also be a two-level factor or boolean (1 = second
    level) or `cbind(successes, failures)` (then `y` has two columns).

    Data checks (`mixedfx.validate`): unique string column names; used columns hold numbers,
    strings, booleans or categories (no dicts / lists; datetimes only as grouping factors);
    ±Inf in a used numeric column is refused, NaN / None is missing (`na_action`). NaN produced
    by a transformation (sqrt of a negative) drops the row as R's na.omit does; ±Inf in a model
    matrix (log of 0) is refused as lme4 refuses it."""
    check_choice(na_action, "na_action", ("omit", "exclude", "fail"))
    if not isinstance(formula, str):
        raise ArgumentTypeError("formula must be a string such as 'y ~ x + (1 | g)'")
    data = as_pandas(data)
    # the user's index and each row's position in the data as first given (a transformation
    # giving NaN restarts the build on a subset: positions stay those of the original data)
    origin_index, base = _origin if _origin is not None else \
        (data.index, np.arange(len(data)))
    check_column_names(data)
    if len(data) == 0:
        raise DataError("data has no rows")
    parsed = parse_formula(formula, list(map(str, data.columns)), covariance_structures=True)
    if require_random and not parsed.bars:
        raise FormulaError(f"formula {formula!r} has no random-effects term: add one such as "
                           "(1 | group) (lme4: 'No random effects terms specified in "
                           "formula'); for a model without random effects use mixedfx.lm, "
                           "mixedfx.glm or mixedfx.gls")
    w = _vector_argument(weights, data, "weights")
    off = _vector_argument(offset, data, "offset")
    missing = [v for v in extra_variables if v not in data.columns]
    if missing:
        raise DataError(f"column(s) {missing} not found in data")
    # positional take: column names are unique strings (checked above), and pandas' label
    # indexer on string columns costs several times more than the whole take
    used = dict.fromkeys([*parsed.variables, *extra_variables])
    if parsed.expanded is not None:
        # `.` uses every column: keep the data's order, so the stored frame (save / load,
        # update) expands `.` to the same terms again
        used = dict.fromkeys(c for c in map(str, data.columns) if c in used)
    frame = data.take([data.columns.get_loc(c) for c in used], axis=1)
    frame.attrs = {}      # pandas deep-copies attrs at every column access of the frame
    check_used_columns(frame, parsed.variables, _grouping_only(parsed))
    positions = np.arange(len(frame))
    frame, extra, n_dropped = drop_missing(frame, {"weights": w, "offset": off,
                                                    "positions": positions}, na_action)
    n_dropped += _n_dropped
    w, off, positions = extra["weights"], extra["offset"], extra["positions"]
    if len(frame) == 0:
        raise DataError("no observations left after removing rows with missing values")
    frame = frame.reset_index(drop=True)
    factor_levels: dict[str, list[str]] = {}
    for col in frame.columns:
        if is_factor_like(frame[col]) and col != parsed.response:
            frame[col] = as_factor(frame[col])
            factor_levels[col] = frame[col].cat.categories.tolist()  # list(): slow on Arrow

    # NaN from transformations: drop the rows (R's na.omit of the model frame) and start over
    X_full, fixed_design = build_design(parsed.fixed_rhs, frame)
    X_full = np.asarray(X_full, dtype=float)
    lhs_designs = [build_design(bar.lhs, frame) for bar in parsed.bars]
    with np.errstate(all="ignore"):
        offs = [np.asarray(evaluate_response(e, frame), dtype=float) for e in parsed.offsets]
    arrays = [X_full, *(np.asarray(V, dtype=float) for V, _ in lhs_designs), *offs]
    if parsed.response is not None:
        try:
            with np.errstate(all="ignore"):
                arrays.append(np.asarray(evaluate_response(parsed.response, frame,
                                                           factor_as_indicator=glm),
                                         dtype=float))
        except (ValueError, TypeError):
            pass                                  # refused with its reason by _response
    nan_rows = _nan_rows(arrays)
    if nan_rows.any():
        if na_action == "fail":
            raise DataError(f"transformations in the formula give NaN in {int(nan_rows.sum())} "
                            "row(s) (na_action='fail')")
        keep_pos = positions[~nan_rows]
        if len(keep_pos) == 0:
            raise DataError("no observations left: the formula's transformations give NaN in "
                            "every row")
        warnings.warn(f"{int(nan_rows.sum())} observation(s) deleted due to missingness "
                      "(NaN from the formula's transformations)", MissingDataWarning,
                      stacklevel=3)
        sub = lambda v: v if v is None or isinstance(v, str) else \
            np.asarray(v)[keep_pos]  # noqa: E731
        return _build_model_frame(formula, data.iloc[keep_pos], weights=sub(weights),
                                 offset=sub(offset), na_action=na_action,
                                 require_random=require_random, glm=glm,
                                 _n_dropped=_n_dropped + int(nan_rows.sum()),
                                 extra_variables=extra_variables,
                                 _origin=(origin_index, base[keep_pos]))

    y = _response(parsed, frame, glm)
    for expr, term in zip(parsed.offsets, offs, strict=True):
        if not np.all(np.isfinite(term)):
            raise DataError(f"offset({expr}) has non-finite values")
        off = term if off is None else off + term
    if w is not None:
        if np.any(~np.isfinite(w)) or np.any(w < 0):
            raise DataError("weights must be non-negative and finite")
        if not glm and np.any(w == 0):
            raise DataError(f"weights must be positive for lmer ({int(np.sum(w == 0))} zero "
                            "weight(s)); drop those rows instead (lme4 returns a -Inf "
                            "log-likelihood)")
        if not np.any(w > 0):
            raise DataError("all weights are zero")
    if off is not None and np.any(~np.isfinite(off)):
        raise DataError("offset must be finite")
    if not glm and y.ndim == 1 and len(y) > 1 and np.all(y == y[0]) and off is None:
        raise DataError(f"response {parsed.response!r} is constant (every value is {y[0]:g}): "
                        "the residual variance would be 0 and the log-likelihood infinite")

    names = list(fixed_design.names)
    check_finite_design(X_full, names, "fixed-effects model matrix")
    keep = independent_columns(X_full) if X_full.shape[1] else np.arange(0)
    dropped = [names[j] for j in range(len(names)) if j not in set(keep.tolist())]
    if dropped:
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
            f"column{'s' if len(dropped) > 1 else ''} / coefficient"
            f"{'s' if len(dropped) > 1 else ''} ({', '.join(dropped)})",
            RankDeficiencyWarning, stacklevel=3)
    X = X_full[:, keep]
    terms = []
    for bar, (V, spec) in zip(parsed.bars, lhs_designs, strict=True):
        V = np.asarray(V, dtype=float)
        if V.shape[1] == 0:
            raise DataError(f"random-effects term ({bar.lhs} | {bar.group_name}) has no columns")
        check_finite_design(V, list(spec.names), f"random-effects model matrix of ({bar.text})")
        codes, levels = grouping_factor(frame, bar.group_vars)
        terms.append(RandomEffectsTerm(
            group_name=bar.group_name, group_vars=bar.group_vars, levels=levels, codes=codes,
            values=V, term_names=list(spec.names),
            covariance=term_structure(bar.structure, bar, spec), design=spec))
    n = len(y)
    _check_terms(terms, n, glm)
    terms.sort(key=_term_order_key(terms))
    r = sum(t.q for t in terms[1:]) + X.shape[1] + 1
    check_design_size(r, r, "dense block of the penalized cross-products (random effects of "
                      "all terms but the largest, fixed effects and response)")
    return ModelFrame(formula=parsed, frame=frame, y=y, X=X, fixef_names=[names[j] for j in keep],
                      fixed_design=fixed_design, kept_columns=keep, weights=w, offset=off,
                      terms=terms, factor_levels=factor_levels, n_dropped=n_dropped,
                      dropped_columns=dropped,
                      offset_column=offset if isinstance(offset, str) else None,
                      rows=row_map(origin_index, base[positions], na_action))
