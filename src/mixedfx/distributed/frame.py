"""The driver's model frame of a distributed data set: pass 1, the global levels and design
specs, and a `ModelFrame` that holds no rows (`DaskModelFrame`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.covariance import structure_for
from mixedfx.distributed.cluster import tree_reduce
from mixedfx.distributed.encode import PartitionEncoder
from mixedfx.distributed.levels import (
    check_report,
    interaction_levels,
    level_labels,
    merge_reports,
    partition_report,
)
from mixedfx.errors import ArgumentError, ArgumentTypeError, DataError
from mixedfx.formula import ParsedFormula, build_design, parse_formula
from mixedfx.frame.levels import is_factor_like
from mixedfx.frame.model_frame import MissingDataWarning, ModelFrame
from mixedfx.frame.terms import RandomEffectsTerm
from mixedfx.warn import warn

_DATA_DEPENDENT = re.compile(r"\b(scale|center|poly|factor|as\.factor)\s*\(")


@dataclass
class DaskModelFrame(ModelFrame):
    """A model frame whose rows stay in the Dask data set: `y`, `X`, `frame` are empty
    (`frame` keeps the columns and their types), `n_rows` is the number of rows used."""

    n_rows: int = 0
    data: Any = field(default=None, repr=False)           # the dask DataFrame
    encoder: Any = field(default=None, repr=False)        # distributed.encode.PartitionEncoder
    weights_column: str | None = None

    @property
    def n(self) -> int:
        return self.n_rows


def as_dask_frame(data: Any) -> Any:
    """A dask DataFrame from a dask DataFrame or a Parquet path / glob (read lazily)."""
    import dask.dataframe as dd  # dask is optional (the `dask` extra): imported when used

    if isinstance(data, str):
        return dd.read_parquet(data)
    return data


def build_dask_frame(formula: str, ddf: Any, client: Any, weights: Any, offset: Any,
                     na_action: str, glm: bool, progress: Any = None) -> DaskModelFrame:
    """Pass 1 over the partitions and the driver's model frame (levels in R's order)."""
    from dask import delayed  # dask is optional (the `dask` extra): imported when used

    if na_action not in ("omit", "fail"):
        raise ArgumentError(f"na_action must be 'omit' or 'fail' for Dask data, got "
                            f"{na_action!r} ('exclude' pads results to the rows of in-memory "
                            "data)")
    if not isinstance(formula, str):
        raise ArgumentTypeError("formula must be a string such as 'y ~ x + (1 | g)'")
    for what, value in (("weights", weights), ("offset", offset)):
        if value is not None and not isinstance(value, str):
            raise ArgumentTypeError(f"{what}= must be a column name for Dask data (arrays "
                                    "cannot be aligned with the partitions)")
    data_columns = list(map(str, ddf.columns))
    parsed = parse_formula(formula, data_columns)
    if not parsed.bars:
        raise DataError("No random effects terms specified in formula: add a term such as "
                        "(1 | group)")
    match = _DATA_DEPENDENT.search(formula)
    if match:
        raise DataError(f"{match.group(1)}() learns from all rows and is not available for "
                        "Dask data: compute the column (or cast it to a string / category "
                        "column) before fitting")
    extra = [c for c in (weights, offset) if c is not None]
    missing = [c for c in extra if c not in data_columns]
    if missing:
        raise DataError(f"column(s) {missing} not found in data")
    columns = list(dict.fromkeys([*parsed.variables, *extra]))
    meta = ddf._meta
    group_columns = list(dict.fromkeys(v for bar in parsed.bars for v in bar.group_vars))
    factor_columns = list(dict.fromkeys(
        [c for c in parsed.variables if c != parsed.response and is_factor_like(meta[c])]
        + group_columns))
    interactions = list(dict.fromkeys(bar.group_vars for bar in parsed.bars
                                      if len(bar.group_vars) > 1))
    parts = ddf[columns].to_delayed()
    reports = [delayed(partition_report, pure=True)(p, columns, factor_columns, interactions,
                                                    group_columns) for p in parts]
    future = client.compute(tree_reduce(reports, merge_reports))
    if progress is not None:
        progress.wait(future, f"pass 1 over {len(parts)} partitions: levels, missing values, "
                              "column types")
    report = future.result()
    check_report(report)
    n_dropped = report.n_rows - report.n_complete
    if n_dropped:
        if na_action == "fail":
            raise DataError(f"missing values in {n_dropped} row(s) of the model's variables "
                            "(na_action='fail')")
        warn(f"{n_dropped} observation(s) deleted due to missingness", MissingDataWarning)
    if parsed.response in report.kinds and report.kinds[parsed.response] - {"numeric",
                                                                            "logical"}:
        raise DataError(f"response {parsed.response!r} must be numeric (or 0/1 / boolean for "
                        "a binomial model) for Dask data")
    labels = {c: level_labels(report.uniques[c]) for c in factor_columns}
    template = _template(report.head, labels, parsed)
    X_full, fixed_design = build_design(parsed.fixed_rhs, template)
    names = list(fixed_design.names)
    terms, group_keys = [], {}
    for bar in parsed.bars:
        _, spec = build_design(bar.lhs, template)
        if spec.ncol == 0:
            raise DataError(f"random-effects term ({bar.lhs} | {bar.group_name}) has no columns")
        if len(bar.group_vars) == 1:
            levels = labels[bar.group_vars[0]]
        else:
            keys, levels = interaction_levels(report.combos[bar.group_vars], bar.group_vars,
                                              labels)
            group_keys[bar.group_vars] = keys
        k = spec.ncol
        terms.append(RandomEffectsTerm(
            group_name=bar.group_name, group_vars=bar.group_vars, levels=levels,
            codes=np.zeros(0, dtype=np.int64), values=np.zeros((0, k)),
            term_names=list(spec.names), covariance=structure_for(k), design=spec))
    terms.sort(key=lambda t: -t.n_levels)
    factor_levels = {c: labels[c] for c in factor_columns
                     if c in parsed.variables and c != parsed.response}
    encoder = PartitionEncoder(
        columns=list(parsed.variables), response=parsed.response or "",
        offsets=tuple(parsed.offsets), fixed_design=fixed_design,
        kept_columns=np.arange(len(names)), terms=terms, factor_levels=factor_levels,
        group_keys=group_keys, group_labels={c: labels[c] for c in group_columns},
        weights_column=weights, offset_column=offset, glm=glm)
    return DaskModelFrame(
        formula=parsed, frame=template.iloc[:0], y=np.zeros(0),
        X=np.zeros((0, X_full.shape[1])), fixef_names=names, fixed_design=fixed_design,
        kept_columns=np.arange(len(names)), weights=None, offset=None, terms=terms,
        factor_levels=factor_levels, n_dropped=n_dropped, dropped_columns=[],
        offset_column=offset, n_rows=report.n_complete, data=ddf, encoder=encoder,
        weights_column=weights)


def _template(head: pd.DataFrame, labels: dict[str, list[str]],
              parsed: ParsedFormula) -> pd.DataFrame:
    """A few complete rows with factor columns as categoricals of the global levels: the
    design specs built on it encode every partition alike."""
    frame = head.copy()
    for col, lab in labels.items():
        if col == parsed.response:
            continue
        values = frame[col]
        frame[col] = pd.Categorical([lab[0]] * len(values), categories=lab)
    return frame
