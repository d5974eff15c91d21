"""Model matrices with R's ``model.matrix()`` columns, names and ``assign``.

:func:`build_design` expands the right-hand side with R's term algebra
(:mod:`.terms`), evaluates each variable (:mod:`.evaluate`; stateful transforms
and contrast matrices come from formulaic) and assembles the columns
(:mod:`.model_matrix`) exactly as R's C routine ``modelmatrix`` does:

* an ``(Intercept)`` column unless removed by ``0 +`` / ``- 1``;
* terms in R's order (by number of variables, formula order within);
* within a term, the columns of its variables multiplied out, the first variable
  varying fastest, names joined by ``:`` (``sectorCatholic:cses``);
* a factor is coded by contrasts (``contr.treatment`` / ``contr.poly`` for ordered
  factors) when the term without it is empty or appears earlier, otherwise by
  indicators of all its levels (``0 + f`` gives ``fA``, ``fB``; ``x:f`` without ``f``
  gives ``x:fA``, ``x:fB``), as R's ``TermCode``;
* without an intercept, the first factor of the first term that has one is coded
  by indicators.

formulaic's own term encoding differs from R's in that last respect (it picks a
full-rank parametrisation for terms whose margins are missing), so the coding
and assembly are done here and in :mod:`.model_matrix`; formulaic supplies
``scale``/``center``/``poly`` and the contrast matrices.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError, DataError
from mixedfx.validate import check_design_size

from .bars import split_rhs
from .columns import ColumnTable, as_table
from .errors import FormulaError
from .evaluate import Variable, make_variable
from .model_matrix import ColumnFill, assemble, column_names
from .nodes import Name, Node, Paren, iter_nodes
from .syntax import check_context, parse_text
from .terms import expand_terms, term_codes

__all__ = ["DesignSpec", "bare_columns", "build_design"]


@dataclass
class DesignSpec:
    """How a right-hand side was encoded; encodes new data the same way.

    Attributes:
        rhs: the right-hand side as given.
        names: R's ``colnames(model.matrix(...))``.
        term_names: R's term labels, in order (``"sector"``, ``"meanses:cses"``).
        column_terms: for each column, its term label (``"(Intercept)"`` for the intercept).
        assign: R's ``attr(X, "assign")``: 0 for the intercept, else the 1-based term index.
        intercept: whether there is an intercept column.
        variables: data columns used.
        contrasts: R's ``attr(X, "contrasts")``: factor label -> contrast name, for
            factors coded by contrasts somewhere.
        factor_levels: factor label -> its levels.
    """

    rhs: str
    names: list[str]
    term_names: list[str]
    column_terms: list[str]
    assign: np.ndarray
    intercept: bool
    variables: tuple[str, ...]
    contrasts: dict[str, str] = field(default_factory=dict)
    factor_levels: dict[str, list[str]] = field(default_factory=dict)
    _vars: dict[int, Variable] = field(default_factory=dict, repr=False)
    _terms: tuple[tuple[int, ...], ...] = field(default=(), repr=False)
    _codes: list[dict[int, int]] = field(default_factory=list, repr=False)

    def copy(self) -> DesignSpec:
        """A copy with its own lists, dicts and arrays; the encoded variables are shared
        (they are not changed once trained)."""
        out = object.__new__(DesignSpec)     # (the fields set at once: a model copies a few
        out.__dict__.update(                  # specs a fit, the dataclass __init__ costs more)
            self.__dict__, names=list(self.names), term_names=list(self.term_names),
            column_terms=list(self.column_terms), assign=self.assign.copy(),
            contrasts=dict(self.contrasts),
            factor_levels={k: list(v) for k, v in self.factor_levels.items()}
            if self.factor_levels else {},
            _vars=dict(self._vars),
            _codes=[dict(c) for c in self._codes] if self._codes else [])
        return out

    def column_fill(self, data: ColumnTable) -> ColumnFill | None:
        """How to fill this design's X from data like `data` (the data it was built on)
        without assembling blocks, when every term is a bare column (`ColumnFill.of`)."""
        return ColumnFill.of(self._vars, self._terms, self._codes, self.intercept, data)

    @property
    def encoded_variables(self) -> dict[int, Variable]:
        """The variables the terms are made of, by index (how each is encoded)."""
        return self._vars

    @property
    def term_variables(self) -> tuple[tuple[int, ...], ...]:
        """Each term (in `term_names` order) as the indices of its `encoded_variables`."""
        return self._terms

    @property
    def ncol(self) -> int:
        """Number of columns."""
        return len(self.names)

    @property
    def term_columns(self) -> dict[str, list[int]]:
        """Term label -> indices of its columns (intercept under ``"(Intercept)"``)."""
        out: dict[str, list[int]] = {}
        for j, term in enumerate(self.column_terms):
            out.setdefault(term, []).append(j)
        return out

    def matrix(self, newdata: pd.DataFrame) -> np.ndarray:
        """The model matrix of ``newdata``, encoded as the training data.

        Raises:
            NewLevelError: a factor has a level the training data did not have.
            ValueError: a needed column is missing.
        """
        data = as_table(newdata)
        missing = [v for v in self.variables if v not in data]
        if missing:
            have = ", ".join(map(str, list(data.names)[:20]))
            raise DataError(
                f"newdata lacks column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing)} needed by '{self.rhs}' "
                f"(newdata has: {have or 'no columns'})"
            )
        return assemble(self._vars, self._terms, self._codes, self.intercept, data)


@dataclass(frozen=True)
class _Plan:
    """What a right-hand side's text alone determines (cached on the text and the column
    names): its variables and R's terms. `layouts` remembers, per variables' signature
    (`_signature`: kinds, levels, orderedness, widths), what follows from it alone: the
    coding of each factor, the column names and terms, R's `contrasts`."""

    intercept: bool
    terms: tuple[tuple[int, ...], ...]
    labels: tuple[str, ...]
    var_nodes: tuple[Node, ...]
    var_labels: tuple[str, ...]
    codes: tuple[tuple[tuple[int, int], ...], ...]
    data_columns: tuple[str, ...]
    used: tuple[int, ...] = ()
    layouts: dict[tuple, _Layout] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class _Layout:
    """The part of a design fixed by its plan and its variables' signature."""

    codes: tuple[dict[int, int], ...]
    names: tuple[tuple[str, int], ...]
    contrasts: tuple[tuple[str, str], ...]


_MAX_LAYOUTS = 64       # per plan: distinct level sets of its factors seen


@functools.lru_cache(maxsize=512)
def _plan(rhs: str, columns: tuple[str, ...]) -> _Plan:
    """The parsed, checked and expanded right-hand side (immutable, so it is memoized; a
    refused text raises every time: exceptions are not cached)."""
    node = parse_text(rhs, columns, mode="rhs")
    check_context(node, "formula", rhs)
    split = split_rhs(node, rhs)
    if split.bars:
        raise FormulaError(
            "random-effects terms (with '|') are not allowed in a fixed-effects design",
            rhs,
            node.start,
            node.end,
        )
    fixed = split.fixed_node()
    info = expand_terms(fixed, rhs) if fixed is not None else None
    if info is None:
        return _Plan(True, (), (), (), (), (), ())
    codes = term_codes(info.terms)
    data_columns: list[str] = []
    for v in sorted({v for t in info.terms for v in t}):
        for n in iter_nodes(info.variables[v]):
            if isinstance(n, Name) and n.name not in data_columns:
                data_columns.append(n.name)
    return _Plan(info.intercept, info.terms, info.term_labels, info.variables,
                 info.variable_labels, tuple(tuple(c.items()) for c in codes),
                 tuple(data_columns), tuple(sorted({v for t in info.terms for v in t})))


def _signature(variables: dict[int, Variable]) -> tuple:
    """What the layout of a design depends on besides its plan: each variable's kind and,
    for a factor, its levels and orderedness, for a numeric variable its column suffixes."""
    return tuple((var.kind, tuple(var.levels), var.ordered) if var.kind == "factor"
                 else (var.kind, tuple(var.colnames)) for var in variables.values())


def _layout(plan: _Plan, variables: dict[int, Variable], n: int, rhs: str) -> _Layout:
    """The plan's layout for these variables (computed once per signature); a model matrix
    of n rows too large to allocate is refused (`check_design_size`) before anything else."""
    key = _signature(variables)
    layout = plan.layouts.get(key)
    if layout is not None:
        check_design_size(n, len(layout.names), f"model matrix of '~ {rhs}'")
        return layout
    intercept, terms = plan.intercept, plan.terms
    codes = [dict(c) for c in plan.codes]
    if not intercept:
        _no_intercept_fixup(terms, codes, variables)
    width = int(intercept)
    for k, term in enumerate(terms):
        w = 1
        for v in term:
            var = variables[v]
            w *= (len(var.levels) - (codes[k][v] == 1)) if var.kind == "factor" \
                else len(var.colnames)
        width += w
    check_design_size(n, width, f"model matrix of '~ {rhs}'")
    contrasts: dict[str, str] = {}
    for k, term in enumerate(terms):
        for v in term:
            var = variables[v]
            if var.kind == "factor" and codes[k][v] == 1:
                contrasts[var.label] = "contr.poly" if var.ordered else "contr.treatment"
    layout = _Layout(tuple(codes), tuple(column_names(variables, terms, codes, intercept)),
                     tuple(contrasts.items()))
    if len(plan.layouts) >= _MAX_LAYOUTS:
        plan.layouts.clear()
    plan.layouts[key] = layout
    return layout


def bare_columns(rhs: str, columns: tuple[str, ...]) -> tuple[str, ...] | None:
    """The data columns of `rhs`'s variables, in `DesignSpec.variables`' order, when every
    variable is a bare column (``x``, ``f``, ``(x)``: no call, no arithmetic), else None.
    Such a design is a function of those columns' kinds and, for factors, levels and
    orderedness alone (no state learned from the values, no level read from them), so its
    spec can be reused for data whose columns agree in these (`DesignSpec.matrix`).

    Raises:
        FormulaError: as `build_design` for a malformed or unsafe text.
    """
    plan = _plan(rhs, columns)
    for v in plan.used:
        node = plan.var_nodes[v]
        while isinstance(node, Paren):
            node = node.expr
        if not isinstance(node, Name):
            return None
    return plan.data_columns


def build_design(rhs: str, data: ColumnTable | pd.DataFrame) -> tuple[np.ndarray, DesignSpec]:
    """R's ``model.matrix(~ rhs, data)`` and a spec that encodes new data the same way.

    ``rhs`` is R text (``"1 + Days"``, ``"0 + f"``, ``"sex * I(age^2)"``); a leading
    ``~`` is accepted, bars are not.  ``offset()`` terms are ignored, as in R.

    Raises:
        FormulaError: malformed or unsafe text, unknown column or function.
        ValueError: a factor has fewer than two levels (as R's ``model.matrix``).
    """
    frame = as_table(data)
    plan = _plan(rhs, frame.names)
    intercept, terms, labels = plan.intercept, plan.terms, plan.labels
    var_nodes, var_labels = plan.var_nodes, plan.var_labels
    variables = {v: make_variable(var_nodes[v], var_labels[v], frame) for v in plan.used}
    for var in variables.values():
        if var.kind == "factor" and len(var.levels) < 2:
            # R's model.matrix sets contrasts on every factor first, and fails here
            raise ArgumentError(
                   "contrasts can be applied only to factors with 2 or more levels: "
                   f"'{var.label}' has {len(var.levels)} level{'s' if len(var.levels) != 1 else ''}"
            )
    layout = _layout(plan, variables, len(frame), rhs)
    codes = [dict(c) for c in layout.codes]     # the spec's own copy
    X = assemble(variables, terms, codes, intercept, frame)
    named = layout.names
    spec = DesignSpec(
        rhs=rhs,
        names=[name for name, _ in named],
        term_names=list(labels),
        column_terms=[labels[k - 1] if k else "(Intercept)" for _, k in named],
        assign=np.array([k for _, k in named], dtype=np.int64),
        intercept=intercept,
        variables=plan.data_columns,
        contrasts=dict(layout.contrasts),
        factor_levels={
            var.label: list(var.levels) for var in variables.values() if var.kind == "factor"
        },
        _vars=variables,
        _terms=terms,
        _codes=codes,
    )
    return X, spec


def _no_intercept_fixup(
    terms: tuple[tuple[int, ...], ...],
    codes: list[dict[int, int]],
    variables: dict[int, Variable],
) -> None:
    """R: without an intercept, the first factor of the first term with one gets indicators."""
    for k, term in enumerate(terms):
        for v in term:
            var = variables[v]
            if var.kind == "factor" and len(var.levels) > 1:
                codes[k][v] = 2
                return
