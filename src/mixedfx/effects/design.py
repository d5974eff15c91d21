"""What the effects and emmeans grids need to know about a model's fixed-effects design:
its predictors (data columns), which are factors, their levels and typical values, and which
model-matrix columns belong to which predictors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError, ArgumentTypeError
from mixedfx.formula.nodes import Name, iter_nodes

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import FramedFit


@dataclass
class Predictors:
    """The fixed-effects predictors of a fitted model."""

    names: list[str]                       # data columns used by the fixed design
    factors: dict[str, list[str]]          # factor predictors -> levels
    data: pd.DataFrame                     # the model frame's rows
    column_vars: list[set[str]]            # per kept X column: predictors of its term
    column_is_factor: list[bool]           # per kept X column: its term involves a factor
    column_names: list[str]

    def is_factor(self, name: str) -> bool:
        return name in self.factors

    def mean(self, name: str) -> float:
        return float(np.mean(self.data[name].to_numpy(dtype=float)))


def predictors(model: FramedFit) -> Predictors:
    """Inspect the fitted model's fixed-effects design (see `Predictors`)."""
    frame = getattr(model, "frame", None)
    if getattr(frame, "fixed_design", None) is None:
        raise ArgumentTypeError(f"model must be a fitted mixedfx model (lmer, glmer, gls, lm, "
                                f"glm, ...), got {type(model).__name__}")
    spec = frame.fixed_design
    var_cols: dict[int, set[str]] = {}
    var_factor: dict[int, bool] = {}
    for idx, var in spec.encoded_variables.items():
        var_cols[idx] = {n.name for n in iter_nodes(var.node) if isinstance(n, Name)}
        var_factor[idx] = var.kind == "factor"
    column_vars, column_fac = [], []
    for j in frame.kept_columns:
        k = int(spec.assign[j])
        if k == 0:
            column_vars.append(set())
            column_fac.append(False)
            continue
        term = spec.term_variables[k - 1]
        column_vars.append(set().union(*(var_cols[v] for v in term)))
        column_fac.append(any(var_factor[v] for v in term))
    factors = {c: list(frame.factor_levels[c]) for c in spec.variables
               if c in frame.factor_levels}
    # the levels the formula gives a column: factor(x) of a numeric x (emmeans' grid does the
    # same), relevel(f, "b") (the order of R's relevelled column) — when the formula uses
    # the column with one level order only
    orders: dict[str, set[tuple[str, ...]]] = {}
    for var in spec.encoded_variables.values():
        if var.kind == "factor" and var.source in spec.variables:
            orders.setdefault(var.source, set()).add(tuple(var.levels))
    for source, levels in orders.items():
        if len(levels) == 1:
            factors[source] = list(next(iter(levels)))
    return Predictors(names=list(spec.variables), factors=factors, data=frame.frame,
                      column_vars=column_vars, column_is_factor=column_fac,
                      column_names=list(frame.fixef_names))


def model_matrix(model: FramedFit, grid: pd.DataFrame) -> np.ndarray:
    """X of the grid rows with the fit's kept columns."""
    frame = model.frame
    g = grid.copy()
    for col, levels in frame.factor_levels.items():
        if col in g.columns:
            g[col] = pd.Categorical(g[col].astype(str), categories=levels)
    X = np.asarray(frame.fixed_design.matrix(g), dtype=float)
    return X[:, frame.kept_columns]


def grid_offset(model: FramedFit) -> float:
    """emmeans' offset of the reference grid (its `.offset.` column): the mean over the fitted
    rows of the model's offset, formula `offset(...)` terms and `offset=` together
    (`offset(log(n))` → mean(log n)); 0 without an offset."""
    offset = model.frame.offset
    return 0.0 if offset is None else float(np.mean(np.asarray(offset, dtype=float)))


def parse_focal(term: str | list[str] | tuple[str, ...], preds: Predictors, what: str
                ) -> list[str]:
    """Focal predictors from "x1:group" or a list; each must be a predictor of the model."""
    if isinstance(term, str):
        names = [t.strip() for t in term.replace("*", ":").split(":")]
    elif isinstance(term, (list, tuple)) and all(isinstance(t, str) for t in term):
        names = [t.strip() for t in term]
    else:
        raise ArgumentTypeError(f"{what}: the focal predictors must be a name such as 'x' or "
                                f"'x:group', or a list of names, got {type(term).__name__}")
    if not names or any(not n for n in names):
        raise ArgumentError(f"{what}: empty predictor name in {term!r}")
    unknown = [n for n in names if n not in preds.names]
    if unknown:
        raise ArgumentError(f"{what}: {unknown} not among the model's fixed-effects predictors "
                            f"{preds.names}")
    if len(set(names)) != len(names):
        raise ArgumentError(f"{what}: repeated predictor in {term!r}")
    return names


def is_lmm(model: FramedFit) -> bool:
    """Linear mixed model (t-based inference with lmerTest / pbkrtest df)."""
    return hasattr(model, "REML") and hasattr(model, "_fit") and hasattr(model, "ranova")


def family_of(model: FramedFit) -> Any:
    return getattr(model, "family", None)
