"""`lmer` on Dask data: pass 1 (levels), pass 2 (cross-products, tree-reduced), then the θ
optimization on the driver exactly as the in-memory path (`lmm.fit.fit_lmm_crossproducts`)."""

from __future__ import annotations

import time
import warnings
from dataclasses import replace
from typing import Any

import numpy as np

from mixedfx.distributed.frame import DaskModelFrame, as_dask_frame, build_dask_frame
from mixedfx.frame.model_frame import RankDeficiencyWarning, _check_terms
from mixedfx.lmm.crossproducts import CrossProducts
from mixedfx.optimize import Control


def reduced_crossproducts(frame: DaskModelFrame, client: Any) -> tuple[CrossProducts, float]:
    """Σ over partitions of the [Z X y] cross-product blocks and of log wᵢ (one pass)."""
    from dask import delayed

    from mixedfx.distributed.cluster import tree_reduce
    from mixedfx.distributed.encode import add_sums, partition_crossproducts

    cols = list(dict.fromkeys([*frame.encoder.columns,
                               *(c for c in (frame.encoder.weights_column,
                                             frame.encoder.offset_column) if c)]))
    parts = frame.data[cols].to_delayed()
    encoder = delayed(frame.encoder, pure=True)
    sums = [delayed(partition_crossproducts, pure=True)(p, encoder) for p in parts]
    total = client.compute(tree_reduce(sums, add_sums)).result()
    return total.xp, total.ldW


def drop_dependent_columns(frame: DaskModelFrame, xp: CrossProducts
                           ) -> tuple[DaskModelFrame, CrossProducts]:
    """lme4's rank check on XᵀX (from A_rr): dependent columns are dropped with a warning."""
    from mixedfx.distributed.encode import drop_fixed_columns, independent_gram_columns

    q, p = xp.q_rest, xp.p
    keep = independent_gram_columns(xp.Arr[q:q + p, q:q + p])
    if len(keep) == p:
        return frame, xp
    names = frame.fixef_names
    dropped = [names[j] for j in range(p) if j not in set(keep.tolist())]
    warnings.warn(
        f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
        f"column{'s' if len(dropped) > 1 else ''} / coefficient"
        f"{'s' if len(dropped) > 1 else ''} ({', '.join(dropped)})",
        RankDeficiencyWarning, stacklevel=4)
    xp = drop_fixed_columns(xp, np.setdiff1d(np.arange(p), keep))
    encoder = replace(frame.encoder, kept_columns=keep)
    frame = replace(frame, fixef_names=[names[j] for j in keep], kept_columns=keep,
                    X=np.zeros((0, len(keep))), dropped_columns=dropped, encoder=encoder)
    return frame, xp


def dask_lmer(formula: str, data: Any, client: Any = None, REML: bool = True,
              weights: Any = None, offset: Any = None, na_action: str = "omit",
              control: Control | dict[str, Any] | None = None,
              start: np.ndarray | None = None) -> Any:
    """`mixedfx.lmer` for a Dask DataFrame or a Parquet path / glob."""
    from mixedfx.api import dense_block_size
    from mixedfx.distributed.cluster import client_for, require_dask
    from mixedfx.distributed.results import DaskLinearMixedModel
    from mixedfx.lmm.fit import fit_lmm_crossproducts
    from mixedfx.optimize.threads import blas_threads_for

    require_dask()
    ctrl = Control.from_user(control)
    ddf = as_dask_frame(data)
    clock = time.perf_counter()
    timings = {}
    with client_for(client) as cl:
        frame = build_dask_frame(formula, ddf, cl, weights, offset, na_action, glm=False)
        timings["levels_pass"] = time.perf_counter() - clock
        xp, ldW = reduced_crossproducts(frame, cl)
        timings["crossproducts_pass"] = time.perf_counter() - clock - timings["levels_pass"]
    frame, xp = drop_dependent_columns(frame, xp)
    _check_terms(frame.terms, frame.n, glm=False)
    clock = time.perf_counter()
    with blas_threads_for(dense_block_size(frame)):
        fit = fit_lmm_crossproducts(frame, xp, bool(REML), ctrl, ldW=ldW, start=start)
    timings["optimization"] = time.perf_counter() - clock
    model = DaskLinearMixedModel(frame, fit, ctrl, data_name=None)
    model.timings = timings
    return model
