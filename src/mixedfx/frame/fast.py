"""The model frame's first steps (up to the evaluated designs) for the common case, with what
the formula text and the data's column names and kinds alone determine worked out once.

`build_model_frame` reads the used columns, finds missing values, encodes factors and
evaluates the formula in steps general enough for every input (`frame.table`,
`frame.designs`). For the models fitted most often that generality costs more than the
arithmetic: a 180-row sleepstudy frame spends most of its time classifying columns and
building design specs it built the same way at the previous fit. `fast_front` gives the same
`Front` (the same arrays, specs, names and levels, bit for bit) from

* a `_Plan` per formula text and column names (immutable, memoized): the parsed formula,
  the used columns and their positions, which are encoded as factors, and for each design
  text (the fixed part, each bar's left-hand side) its data columns when every variable is a
  bare column (`formula.design.bare_columns`), and a `cbind()` response of sums and
  differences of bare columns as a program (`frame.cbind`, run by the compiled `frame`
  kernel: the same float operations as `evaluate_response`'s, finite for columns whose
  numbers are at most 2^1000);
* per design text, a `DesignSpec` template per signature of its columns (kind; a factor's
  levels and orderedness): such a design depends on the data only through that signature,
  so a fit whose columns have the signature of an earlier one copies its spec and fills X
  from its own columns (`formula.model_matrix.ColumnFill`, else `DesignSpec.matrix`),
  without inspecting variables again. A template is only found through the signature each
  fit computes from its own columns (the levels it would derive itself), and the arrays are
  always read afresh: no value of one data reaches another fit.

It handles a pandas DataFrame whose used columns are float64, NumPy integers, categoricals or
pandas strings (not the response), without `weights=`, `offset=`, extra variables, formula
offsets or `.`, every design variable a bare column, with no missing and no infinite value
in the columns read. Anything else, and anything these first steps would refuse, gives None:
the general steps then run from the start, so every warning, error and message is theirs.
The checks after the first steps (response, rank, terms) are the general steps' own, run on
what either gives.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.formula import (
    DesignSpec,
    ParsedFormula,
    build_design,
    evaluate_response,
    parse_formula,
)
from mixedfx.formula.columns import Column, ColumnTable
from mixedfx.formula.design import bare_columns
from mixedfx.formula.model_matrix import ColumnFill
from mixedfx.frame.cbind import CbindPlan, cbind_plan
from mixedfx.frame.data import column_names
from mixedfx.frame.designs import Designs, rank_gram
from mixedfx.frame.levels import complete_categorical, factor_codes
from mixedfx.frame.rank import clear_pivots
from mixedfx.frame.table import Factor, UsedColumn, missing_mask
from mixedfx.native import kernel
from mixedfx.validate import check_design_size

__all__ = ["Front", "fast_front"]


@dataclass
class Front:
    """What the first steps give the rest of the build: the parsed formula, the used columns
    (all rows kept), the table the formula was evaluated on, its factors and the designs."""

    parsed: ParsedFormula
    columns: dict[str, UsedColumn]
    table: ColumnTable
    factors: dict[str, Factor]
    designs: Designs


@dataclass(frozen=True)
class _Plan:
    """What a formula text and the data's column names determine. `designs`: the distinct
    design texts (fixed part first) with their data columns. `templates`: per design text
    and signature of its columns, a spec no fit holds (fits get copies) and whether every
    cell of its matrix is a product of at most one number from the data and constants (so
    finite when the data's numbers are)."""

    parsed: ParsedFormula
    used: tuple[tuple[str, int], ...]
    factors: frozenset[str]
    designs: tuple[tuple[str, tuple[str, ...]], ...]
    response_column: bool
    cbind: CbindPlan | None
    templates: dict[tuple[str, tuple], _Template] = field(
        default_factory=dict, compare=False, repr=False)


_MAX_TEMPLATES = 64     # per plan: signatures seen (level sets of its design factors)


@functools.lru_cache(maxsize=256)
def _plan(formula: str, names: tuple[str, ...]) -> _Plan | None:
    """The plan of a formula for data with these column names, None when the fast steps do
    not handle it (refused formulas raise: exceptions are not memoized)."""
    parsed = parse_formula(formula, names, covariance_structures=True)
    if parsed.response is None or parsed.offsets or parsed.expanded is not None:
        return None
    designs: dict[str, tuple[str, ...]] = {}
    for rhs in (parsed.fixed_rhs, *(bar.lhs for bar in parsed.bars)):
        if rhs not in designs:
            cols = bare_columns(rhs, names)
            if cols is None:
                return None
            designs[rhs] = cols
    positions = {c: i for i, c in enumerate(names)}
    response_column = parsed.response in positions
    return _Plan(parsed, tuple((v, positions[v]) for v in parsed.variables),
                 frozenset(v for v in parsed.variables if v != parsed.response),
                 tuple(designs.items()), response_column,
                 None if response_column else cbind_plan(parsed.response, names))


def fast_front(formula: str, data: pd.DataFrame, require_random: bool, glm: bool
               ) -> Front | None:
    """The first steps of `build_model_frame(formula, data, glm=glm)` (no weights, offset or
    extra variables) as the general steps give them, or None when the fast steps do not
    apply (see the module docstring). Never raises; warns only where the general steps warn
    too, once it is settled that it returns the front (X'X of huge numbers overflowing)."""
    try:
        return _front(formula, data, require_random, glm)
    except Exception:       # (the general steps raise it again, or their own error first)
        return None


def _front(formula: str, data: pd.DataFrame, require_random: bool, glm: bool
           ) -> Front | None:
    n = len(data)
    getter = getattr(data, "_get_column_array", None)   # pandas' column access by position
    if n == 0 or getter is None:
        return None
    plan = _plan(formula, column_names(data))
    if plan is None or (require_random and not plan.parsed.bars):
        return None
    index = data.index
    columns: dict[str, UsedColumn] = {}
    table: dict[str, Column] = {}
    factors: dict[str, Factor] = {}
    bounded = True          # every float column's |x| <= 2^1000 (`frame` kernel's `bounded`)
    k = kernel("frame")
    for name, pos in plan.used:
        values = getter(pos)
        col = columns[name] = UsedColumn(name, values, index)
        dtype = values.dtype
        if isinstance(values, np.ndarray):
            if values.ndim != 1 or not dtype.isnative:
                return None
            if dtype == _FLOAT64:
                # (no arithmetic: a sum would warn when it overflows or meets +Inf and -Inf)
                if k is not None and values.flags.c_contiguous:
                    size = k.bounded(values)
                    if not size:
                        return None         # missing or infinite values: the general steps
                    bounded = bounded and size == 2
                elif np.count_nonzero(np.isfinite(values)) != n:
                    return None
                else:
                    bounded = False
                col._finite = True
            elif dtype.kind not in "iu":
                return None
            # read only, as `column_from_series` reads a column (`UsedColumn.to_numpy`)
            view = values.view()
            view.flags.writeable = False
            table[name] = Column("numeric", view, dtype=dtype) if dtype.kind == "f" else \
                Column("numeric", view.astype(np.float64), dtype=dtype, integer=True, raw=view)
            continue
        if name not in plan.factors:
            return None
        if isinstance(dtype, pd.CategoricalDtype):
            factor = complete_categorical(values, name)
        elif isinstance(dtype, pd.StringDtype) and missing_mask(col) is None:
            factor = factor_codes(col, None, complete=True)
        else:
            return None
        if factor is None:
            return None
        codes, labels, ordered = factors[name] = factor
        table[name] = Column("factor", codes, tuple(labels), ordered, dtype="category")
    frame = ColumnTable.from_columns(n, table)
    built: dict[str, tuple[np.ndarray, DesignSpec]] = {}
    for rhs, cols in plan.designs:
        out = _design(plan, rhs, cols, frame)
        if out is None:
            return None
        built[rhs] = out
    parsed = plan.parsed
    X_full, fixed = built[parsed.fixed_rhs]
    lhs = []
    seen = {parsed.fixed_rhs}
    for bar in parsed.bars:
        V, spec = built[bar.lhs]
        if bar.lhs in seen:                 # as `Designs.evaluate`: a copy of the same design
            V, spec = V.copy(), spec.copy()
        seen.add(bar.lhs)
        lhs.append((V, spec))
    if plan.response_column:
        # as `evaluate_response` reads a bare column (a copy: the float values of an integer
        # column are the table's own already); finite, as every column read
        column = frame.column(parsed.response)
        response = column.values if column.integer else column.values.copy()
    elif plan.cbind is not None and bounded and all(
            frame.column(v).kind == "numeric" for v in plan.cbind.columns):
        # numbers of at most 2^1000 (integers: below 2^63) added or subtracted: finite
        response = plan.cbind.evaluate(frame, k)
    else:
        response = np.asarray(evaluate_response(parsed.response, frame,
                                                factor_as_indicator=glm), dtype=float)
        if np.count_nonzero(np.isfinite(response)) != response.size:
            return None                     # NaN rows or refused values: the general steps
    designs = Designs(X_full, fixed, lhs, [], response)
    # the rank check's test, compiled for a few columns; else XᵀX for it (NumPy's product
    # warns here, as in the general steps, when it overflows)
    designs.clear = clear_pivots(X_full)
    if designs.clear is None:
        designs.gram = rank_gram(X_full)
    designs.finite = [True] * (len(lhs) + 2)     # X, each bar's matrix, the response
    return Front(parsed, columns, frame, factors, designs)


def _design(plan: _Plan, rhs: str, cols: tuple[str, ...], frame: ColumnTable
            ) -> tuple[np.ndarray, DesignSpec] | None:
    """The design of `rhs` on `frame` (as `build_design` gives it) when its cells are all
    finite, else None. A product of numbers that overflows (which the general steps warn
    about, then refuse) is computed without a warning here: the matrix is not finite, and
    the general steps run."""
    key = (rhs, tuple(map(_signature, map(frame.column, cols))))
    template = plan.templates.get(key)
    if template is None:
        with np.errstate(all="ignore"):
            X, spec = build_design(rhs, frame)
        template = _Template(spec.copy(), spec.column_fill(frame), _one_number_per_cell(spec),
                             f"model matrix of '~ {rhs}'")
        if len(plan.templates) >= _MAX_TEMPLATES:
            with contextlib.suppress(RuntimeError, StopIteration):   # another thread first
                plan.templates.pop(next(iter(plan.templates)), None)
        plan.templates[key] = template
    else:
        check_design_size(frame.n, len(template.spec.names), template.what)
        spec = template.spec.copy()
        if template.fill is not None:
            X = template.fill.matrix(frame)
        else:
            with np.errstate(all="ignore"):
                X = spec.matrix(frame)
    if template.finite or np.count_nonzero(np.isfinite(X)) == X.size:
        return X, spec
    return None


def _signature(col: Column) -> tuple[str, tuple, bool]:
    """What a bare column's part of a design depends on: its kind, a factor's levels and
    orderedness."""
    return col.kind, col.levels, col.ordered


_FLOAT64 = np.dtype(np.float64)


@dataclass(frozen=True)
class _Template:
    """A design text's spec for one signature of its columns, which no fit holds (fits get
    copies); its `ColumnFill` if it has one; whether each cell of its matrix is a product of
    at most one number of the data and constants (`_one_number_per_cell`: then finite when
    the data's numbers are); the text `check_design_size` names it by."""

    spec: DesignSpec
    fill: ColumnFill | None
    finite: bool
    what: str


def _one_number_per_cell(spec: DesignSpec) -> bool:
    """Whether each term has at most one numeric variable: its cells are then a number of
    the data times a contrast or indicator entry, finite when the number is."""
    variables: dict[int, Any] = spec.encoded_variables
    return all(sum(variables[v].kind == "numeric" for v in term) <= 1
               for term in spec.term_variables)
