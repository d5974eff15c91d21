"""The model frame: the rows and columns a fit uses, encoded for the engine.

Steps, in lme4's order: select the formula's variables; drop rows with missing values
(`na_action="omit"`, reported) or refuse them (`"fail"`); make factors (R level order, unused
levels dropped); evaluate the response, X (dropping linearly dependent columns, as lme4 does)
and one RandomEffectsTerm per bar; run lme4's sanity checks; order terms by decreasing number of
levels (stable, as lme4 does). `_build_model_frame` runs them in that order, one function a
step; the data conversion is `frame.data`, the formula's evaluation on the complete rows
`frame.designs`, the checks on y, weights, offset and terms `frame.checks`. Every step after
reading each used column once works on NumPy arrays (`frame.table`); the pandas frame of the
rows used is built only when `ModelFrame.frame` is read.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.covariance import CovarianceStructure, StructuredCovariance, structure_for
from mixedfx.data_checks import check_finite_design, check_used_columns
from mixedfx.errors import ArgumentTypeError, DataError, FormulaError
from mixedfx.formula import ParsedFormula, evaluate_response, parse_formula
from mixedfx.frame.checks import (
    check_not_constant,
    check_terms,
    check_weights,
    response_values,
    total_offset,
)
from mixedfx.frame.data import as_pandas, column_names, vector_argument
from mixedfx.frame.designs import Designs
from mixedfx.frame.fast import fast_front
from mixedfx.frame.grouping import combine_factors
from mixedfx.frame.rank import independent_columns
from mixedfx.frame.rows import (
    MissingDataWarning,
    RowMap,
    compose_positions,
    drop_missing,
    frame_for,
    newdata_index,
    row_map,
    series_for,
)
from mixedfx.frame.table import (
    Factor,
    LazyFrame,
    UsedColumn,
    factor_of,
    frame_recipe,
    missing_mask,
    model_table,
    read_columns,
)
from mixedfx.frame.terms import RandomEffectsTerm, dense_block_rows
from mixedfx.validate import check_choice, check_design_size
from mixedfx.warn import warn


class RankDeficiencyWarning(UserWarning):
    """Linearly dependent fixed-effects columns were dropped."""


@dataclass
class ModelFrame:
    """Everything the engine and the results need from the data."""

    formula: ParsedFormula
    frame: pd.DataFrame = LazyFrame()  # noqa: RUF009 (a descriptor: no default; built when read)
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


@functools.lru_cache(maxsize=256)
def _grouping_only(parsed: ParsedFormula) -> frozenset[str]:
    """Columns used only to define grouping factors (not as numbers anywhere)."""
    texts = [parsed.response or "", parsed.fixed_rhs, *parsed.offsets,
             *(b.lhs for b in parsed.bars)]
    out = set()
    for v in parsed.group_vars:
        pat = re.compile(r"(?<![\w.`])" + re.escape(v) + r"(?![\w.`])")
        if not any(pat.search(t) for t in texts) and not any(f"`{v}`" in t for t in texts):
            out.add(v)
    return frozenset(out)


def _factor_levels(factors: dict[str, Factor]) -> dict[str, list[str]]:
    """Each factor's levels, by name (a loop: a few factors, no comprehension's call)."""
    out = {}
    for name, f in factors.items():
        out[name] = f[1]
    return out


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
    origin_index, base = _origin if _origin is not None else (data.index, None)
    front = None
    if weights is None and offset is None and not extra_variables and _origin is None:
        # the common case, with what the formula and the column kinds fix remembered
        front = fast_front(formula, data, require_random, glm)
    if front is not None:
        parsed, columns, table, factors, designs = front.parsed, front.columns, front.table, \
            front.factors, front.designs
        view, rows, w, off, n_dropped = None, None, None, None, 0
    else:
        parsed = _parse(formula, data, require_random)
        w = vector_argument(weights, data, "weights")
        off = vector_argument(offset, data, "offset")
        columns, view = _used_columns(data, parsed, extra_variables)
        missing = {name: missing_mask(s) for name, s in columns.items()}
        rows, extra, n_dropped = drop_missing(missing, len(data), {"weights": w, "offset": off},
                                              na_action)
        n_dropped += _n_dropped
        w, off = extra["weights"], extra["offset"]
        n = len(data) if rows is None else len(rows)
        if n == 0:
            raise DataError("no observations left after removing rows with missing values")
        table, factors = model_table(columns, rows, n, parsed.response)
        designs = Designs.evaluate(parsed, table, glm)

        # NaN from transformations: drop the rows (R's na.omit of the model frame) and start over
        nan_rows = designs.nan_rows()
        if nan_rows.any():
            positions = np.arange(len(data)) if rows is None else rows
            keep_pos = _rows_without_nan(nan_rows, positions, na_action)
            sub = lambda v: v if v is None or isinstance(v, str) else \
                np.asarray(v)[keep_pos]  # noqa: E731
            return _build_model_frame(formula, data.iloc[keep_pos], weights=sub(weights),
                                     offset=sub(offset), na_action=na_action,
                                     require_random=require_random, glm=glm,
                                     _n_dropped=_n_dropped + int(nan_rows.sum()),
                                     extra_variables=extra_variables,
                                     _origin=(origin_index, compose_positions(base, keep_pos)))

    y = response_values(parsed, table, glm, designs.response,
                        finite=designs.response is not None and designs.finite[-1])
    off = total_offset(parsed, designs.offsets, off)
    check_weights(w, glm)
    check_not_constant(parsed, y, off, glm)
    names = list(designs.fixed.names)
    keep, dropped = _independent_fixed_columns(designs.X_full, names, designs.finite[0],
                                               designs.gram, designs.clear)
    X = designs.X_full if len(keep) == designs.X_full.shape[1] else designs.X_full[:, keep]
    terms = _random_terms(parsed, designs.lhs, columns, factors, rows,
                          designs.finite[1:1 + len(designs.lhs)])
    check_terms(terms, len(y), glm)
    if len(terms) > 1:
        terms.sort(key=_term_order_key(terms))
    r = dense_block_rows(terms, X.shape[1])
    check_design_size(r, r, "dense block of the penalized cross-products (random effects of "
                      "all terms but the largest, fixed effects and response)")
    return ModelFrame(formula=parsed, frame=frame_recipe(data, view, columns, rows, factors),
                      y=y, X=X, fixef_names=[names[j] for j in keep.tolist()] if dropped else names,
                      fixed_design=designs.fixed, kept_columns=keep, weights=w, offset=off,
                      terms=terms, factor_levels=_factor_levels(factors),
                      n_dropped=n_dropped, dropped_columns=dropped,
                      offset_column=offset if isinstance(offset, str) else None,
                      rows=row_map(origin_index, compose_positions(base, rows), na_action))


def _parse(formula: str, data: pd.DataFrame, require_random: bool) -> ParsedFormula:
    """The formula parsed against the data's (checked) column names."""
    names = column_names(data)
    if len(data) == 0:
        raise DataError("data has no rows")
    parsed = parse_formula(formula, names, covariance_structures=True)
    if require_random and not parsed.bars:
        raise FormulaError(f"formula {formula!r} has no random-effects term: add one such as "
                           "(1 | group) (lme4: 'No random effects terms specified in "
                           "formula'); for a model without random effects use mixedfx.lm, "
                           "mixedfx.glm or mixedfx.gls")
    return parsed


def _used_columns(data: pd.DataFrame, parsed: ParsedFormula, extra_variables: tuple[str, ...]
                  ) -> tuple[dict[str, pd.Series | UsedColumn], pd.DataFrame | None]:
    """The columns the model uses (the formula's variables and `extra_variables`), each read
    once, checked; and the snapshot of `data` taken to read them (`read_columns`)."""
    missing = [v for v in extra_variables if v not in data.columns]
    if missing:
        raise DataError(f"column(s) {missing} not found in data")
    used = dict.fromkeys([*parsed.variables, *extra_variables])
    if parsed.expanded is not None:
        # `.` uses every column: keep the data's order, so the stored frame (save / load,
        # update) expands `.` to the same terms again
        used = dict.fromkeys(c for c in map(str, data.columns) if c in used)
    # every used column but the response is encoded as a factor when it is text
    columns, view = read_columns(data, list(used),
                                 factors=[c for c in used if c != parsed.response])
    # a plain NumPy column whose cells are all finite has nothing to refuse
    to_check = [v for v in parsed.variables
                if not (isinstance(col := columns[v], UsedColumn) and col.all_finite())]
    if to_check:
        check_used_columns(columns, to_check, _grouping_only(parsed))
    return columns, view


def _rows_without_nan(nan_rows: np.ndarray, positions: np.ndarray, na_action: str
                      ) -> np.ndarray:
    """Positions (in the data) of the rows to refit on when transformations gave NaN, with
    R's warning (refused under na_action='fail')."""
    if na_action == "fail":
        raise DataError(f"transformations in the formula give NaN in {int(nan_rows.sum())} "
                        "row(s) (na_action='fail')")
    keep_pos = positions[~nan_rows]
    if len(keep_pos) == 0:
        raise DataError("no observations left: the formula's transformations give NaN in "
                        "every row")
    warn(f"{int(nan_rows.sum())} observation(s) deleted due to missingness "
         "(NaN from the formula's transformations)", MissingDataWarning)
    return keep_pos


def _independent_fixed_columns(X_full: np.ndarray, names: list[str], finite: bool,
                               gram: np.ndarray | None = None, clear: bool | None = None
                               ) -> tuple[np.ndarray, list[str]]:
    """The kept columns of X (lme4 drops linearly dependent ones, with a warning) and the
    names of the dropped ones; ±Inf in X is refused (`finite`: every cell is known finite;
    `gram`: XᵀX if computed already; `clear`: `rank.clear_pivots(X)` if known)."""
    if not finite:
        check_finite_design(X_full, names, "fixed-effects model matrix")
    keep = independent_columns(X_full, gram=gram, clear=clear) if X_full.shape[1] \
        else np.arange(0)
    if len(keep) == len(names):
        return keep, []
    kept = set(keep.tolist())
    dropped = [names[j] for j in range(len(names)) if j not in kept]
    if dropped:
        warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
            f"column{'s' if len(dropped) > 1 else ''} / coefficient"
            f"{'s' if len(dropped) > 1 else ''} ({', '.join(dropped)})",
            RankDeficiencyWarning)
    return keep, dropped


_FLOAT64 = np.dtype(np.float64)


def _random_terms(parsed: ParsedFormula, lhs_designs: list[tuple[Any, Any]],
                  columns: dict[str, pd.Series | UsedColumn], factors: dict[str, Factor],
                  rows: np.ndarray | None, finite: list[bool]) -> list[RandomEffectsTerm]:
    """One RandomEffectsTerm per bar: its columns, grouping factor and covariance
    structure (`finite`: whether each bar's matrix has a finite sum, so finite cells)."""
    terms = []
    for bar, (V, spec), ok in zip(parsed.bars, lhs_designs, finite, strict=True):
        if not (type(V) is np.ndarray and V.dtype is _FLOAT64):
            V = np.asarray(V, dtype=float)
        if V.shape[1] == 0:
            raise DataError(f"random-effects term ({bar.lhs} | {bar.group_name}) has no columns")
        if not ok:
            check_finite_design(V, list(spec.names),
                                f"random-effects model matrix of ({bar.text})")
        # the model frame's factors: no missing values (dropped), every level used
        group_vars = bar.group_vars
        codes, levels = combine_factors(
            [factor_of(group_vars[0], columns, factors, rows)] if len(group_vars) == 1 else
            [factor_of(v, columns, factors, rows) for v in group_vars], complete=True)
        terms.append(RandomEffectsTerm(
            group_name=bar.group_name, group_vars=bar.group_vars, levels=levels, codes=codes,
            values=V, term_names=list(spec.names),
            covariance=term_structure(bar.structure, bar, spec), design=spec))
    return terms
