"""`lmer` on Dask data: pass 1 (levels), pass 2 (cross-products, tree-reduced), then the θ
optimization on the driver exactly as the in-memory path (`lmm.fit.fit_lmm_crossproducts`)."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from typing import Any

import numpy as np

from mixedfx.distributed.canonical import canonical_partitions
from mixedfx.distributed.cluster import client_for, require_dask, tree_reduce
from mixedfx.distributed.encode import (
    add_slices,
    add_small,
    add_sums,
    drop_fixed_columns,
    independent_gram_columns,
    partition_crossproducts,
    slice_levels,
    split_sums,
)
from mixedfx.distributed.frame import DaskModelFrame, as_dask_frame, build_dask_frame
from mixedfx.distributed.progress import Progress, ReportingDeviance, check_progress
from mixedfx.distributed.results import DaskLinearMixedModel
from mixedfx.frame.checks import check_terms
from mixedfx.frame.model_frame import RankDeficiencyWarning
from mixedfx.frame.terms import dense_block_rows
from mixedfx.lmm import sliced
from mixedfx.lmm.crossproducts import CrossProducts
from mixedfx.lmm.factorization import BlockedCholesky
from mixedfx.lmm.fit import dense_block_size, fit_lmm_objective, lower_bounds, upper_bounds
from mixedfx.optimize import Control
from mixedfx.optimize.threads import blas_threads_for
from mixedfx.validate import check_start
from mixedfx.warn import warn


def reduced_crossproducts(frame: DaskModelFrame, client: Any, progress: Any = None
                          ) -> tuple[CrossProducts, float]:
    """Σ over partitions of the [Z X y] cross-product blocks and of log wᵢ (one pass).

    When B = [Z_rest X y]ᵀ Z₁ could outgrow the driver's memory (`lmm.sliced`), its column
    slices (ranges of Z₁'s levels) are reduced in separate trees and fetched one at a time
    into a `SlicedB` on disk: the driver never holds more than one slice of B."""
    from dask import delayed  # dask is optional (the `dask` extra): imported when used

    # partitions in the model's canonical layout: the sums do not depend on the input's
    # partitioning or row order (distributed.canonical)
    parts = canonical_partitions(frame.data, frame.encoder.read_columns, frame.n_rows)
    encoder = delayed(frame.encoder, pure=True)
    sums = [delayed(partition_crossproducts, pure=True)(p, encoder) for p in parts]
    first = frame.terms[0]
    q_rest = sum(t.q for t in frame.terms[1:])
    r = dense_block_rows(frame.terms, len(frame.fixef_names))
    est = sliced.estimated_b_bytes(frame.n, first.k, sum(t.k for t in frame.terms[1:]),
                                   len(frame.fixef_names), first.n_levels, r)
    label = f"pass 2 over {len(parts)} partitions: cross-products of [Z X y]"
    if q_rest == 0 or est <= sliced.SLICED_B_BYTES:
        future = client.compute(tree_reduce(sums, add_sums))
        if progress is not None:
            progress.wait(future, label)
        total = future.result()
        return total.xp, total.ldW
    return _sliced_crossproducts(sums, first, r, est, client, progress, label)


def _sliced_crossproducts(sums: list[Any], first: Any, r: int, est: int, client: Any,
                          progress: Any, label: str) -> tuple[CrossProducts, float]:
    from dask import delayed  # dask is optional (the `dask` extra): imported when used

    n1, k1 = first.n_levels, first.k
    n_slices = int(min(n1, max(1, -(-est // sliced.SLICE_BYTES))))
    edges = np.linspace(0, n1, n_slices + 1).round().astype(int)
    bounds = [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]
    split = [delayed(split_sums, pure=True, nout=2)(s, bounds, k1) for s in sums]
    small = tree_reduce([s[0] for s in split], add_small)
    trees = [delayed(slice_levels, pure=True)(
        tree_reduce([delayed(_item, pure=True)(s[1], i) for s in split], add_slices),
        k1, a, b) for i, (a, b) in enumerate(bounds)]
    futures = client.compute([small, *trees])
    if progress is not None:
        progress.wait(futures, f"{label} ({len(bounds)} slices of B)")
    total = futures[0].result()
    B = sliced.SlicedB(r, n1, k1)
    for fut in futures[1:]:
        B.add(fut.result())
        fut.release()
    return replace(total.xp, B=B), total.ldW


def _item(seq: Any, i: int) -> Any:
    return seq[i]


def drop_dependent_columns(frame: DaskModelFrame, xp: CrossProducts
                           ) -> tuple[DaskModelFrame, CrossProducts]:
    """lme4's rank check on XᵀX (from A_rr): dependent columns are dropped with a warning."""
    q, p = xp.q_rest, xp.p
    keep = independent_gram_columns(xp.Arr[q:q + p, q:q + p])
    if len(keep) == p:
        return frame, xp
    names = frame.fixef_names
    dropped = [names[j] for j in range(p) if j not in set(keep.tolist())]
    warn(
        f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
        f"column{'s' if len(dropped) > 1 else ''} / coefficient"
        f"{'s' if len(dropped) > 1 else ''} ({', '.join(dropped)})",
        RankDeficiencyWarning)
    xp = drop_fixed_columns(xp, np.setdiff1d(np.arange(p), keep))
    encoder = replace(frame.encoder, kept_columns=keep)
    frame = replace(frame, fixef_names=[names[j] for j in keep], kept_columns=keep,
                    X=np.zeros((0, len(keep))), dropped_columns=dropped, encoder=encoder)
    return frame, xp


def dask_lmer(formula: str, data: Any, client: Any = None, REML: bool = True,
              weights: Any = None, offset: Any = None, na_action: str = "omit",
              control: Control | dict[str, Any] | None = None,
              start: np.ndarray | None = None, progress: bool = False) -> Any:
    """`mixedfx.lmer` for a Dask DataFrame or a Parquet path / glob."""
    require_dask()
    shown = Progress(check_progress(progress))
    ctrl = Control.from_user(control)
    ddf = as_dask_frame(data)
    clock = time.perf_counter()
    timings = {}
    with client_for(client) as cl:
        frame = build_dask_frame(formula, ddf, cl, weights, offset, na_action, glm=False,
                                 progress=shown)
        if start is not None:       # refused before the cross-products pass
            start = check_start(start, "start (theta)", lower_bounds(frame),
                                upper_bounds(frame))
        timings["levels_pass"] = time.perf_counter() - clock
        xp, ldW = reduced_crossproducts(frame, cl, shown)
        timings["crossproducts_pass"] = time.perf_counter() - clock - timings["levels_pass"]
    frame, xp = drop_dependent_columns(frame, xp)
    check_terms(frame.terms, frame.n, glm=False)
    clock = time.perf_counter()
    objective = ReportingDeviance(BlockedCholesky(frame.terms, xp, compiled=True), bool(REML), ldW,
                                  progress=shown)
    with blas_threads_for(dense_block_size(frame)):
        fit = fit_lmm_objective(frame, objective, ctrl, start=start)
    shown.finish("optimizer evaluations", objective.evaluations)
    timings["optimization"] = time.perf_counter() - clock
    model = DaskLinearMixedModel(frame, fit, ctrl, data_name=None)
    model.timings = timings
    model._remember_client(client)
    return model
