"""`glmer` on Dask data: the two-stage fit of `glmm.fit` with PIRLS running as passes over
the persisted, encoded partitions (`distributed.pirls.DistributedPirls`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from mixedfx.distributed.canonical import canonical_partitions
from mixedfx.distributed.cluster import client_for, require_dask
from mixedfx.distributed.encode import independent_gram_columns
from mixedfx.distributed.frame import as_dask_frame, build_dask_frame
from mixedfx.distributed.pirls import (
    DistributedPirls,
    check_distributable_family,
    encode_glm_partition,
)
from mixedfx.distributed.progress import Progress, check_progress
from mixedfx.distributed.results import DaskGeneralizedLinearMixedModel
from mixedfx.errors import ArgumentError
from mixedfx.frame.checks import check_terms
from mixedfx.frame.model_frame import RankDeficiencyWarning
from mixedfx.glmm.fit import fit_glmm
from mixedfx.glmm.response import GlmResponse
from mixedfx.lmm.fit import lower_bounds, upper_bounds
from mixedfx.optimize import Control
from mixedfx.validate import check_start
from mixedfx.warn import warn


def _gram_pass(p: Any) -> np.ndarray | None:
    return None if p is None else p.enc.X.T @ p.enc.X


def _keep_columns(p: Any, keep: np.ndarray) -> Any:
    if p is None:
        return None
    return replace(p, enc=replace(p.enc, X=np.ascontiguousarray(p.enc.X[:, keep])))


def dask_glmer(formula: str, data: Any, family: Any, nAGQ: int = 1, client: Any = None,
               weights: Any = None, offset: Any = None, na_action: str = "omit",
               control: Control | dict[str, Any] | None = None, start: dict | None = None,
               progress: bool = False) -> Any:
    """`mixedfx.glmer` for a Dask DataFrame or a Parquet path / glob (Laplace or nAGQ=0)."""
    from dask import delayed  # dask is optional (the `dask` extra): imported when used

    require_dask()
    check_distributable_family(family)
    shown = Progress(check_progress(progress))
    if nAGQ > 1:
        raise ArgumentError("nAGQ > 1 (adaptive Gauss-Hermite) is not available for Dask data; "
                            "use nAGQ=1 (Laplace) or nAGQ=0")
    ctrl = Control.from_user(control)
    if ctrl.calc_derivs is True:
        raise ArgumentError("calc_derivs (finite-difference Hessian) is not available for Dask "
                            "data")
    ctrl = replace(ctrl, calc_derivs=False)
    ddf = as_dask_frame(data)
    with client_for(client) as cl:
        frame = build_dask_frame(formula, ddf, cl, weights, offset, na_action, glm=True,
                                 progress=shown)
        if start and "theta" in start:
            start = {**start, "theta": check_start(start["theta"], "start['theta']",
                                                   lower_bounds(frame), upper_bounds(frame))}
        cols = list(dict.fromkeys([*frame.encoder.columns,
                                   *(c for c in (weights, offset) if c)]))
        encoder = delayed(frame.encoder, pure=True)
        # encoded partitions in the model's canonical layout (distributed.canonical: the sums
        # do not depend on the input's partitioning or row order), held on the workers
        # (futures) for every PIRLS pass
        parts = cl.compute([delayed(encode_glm_partition, pure=True)(p, encoder, family)
                            for p in canonical_partitions(ddf, cols, frame.n_rows)])
        shown.wait(parts, f"pass 2 over {len(parts)} partitions: encoding, kept on the "
                          "workers")
        grams = [g for g in cl.gather(cl.map(_gram_pass, parts, pure=False))
                 if g is not None]
        G = sum(grams[1:], grams[0])
        keep = independent_gram_columns(G)
        if len(keep) < G.shape[0]:
            names = frame.fixef_names
            dropped = [names[j] for j in range(G.shape[0]) if j not in set(keep.tolist())]
            warn(f"fixed-effect model matrix is rank deficient so dropping "
                 f"{len(dropped)} column(s) / coefficient(s) ({', '.join(dropped)})",
                 RankDeficiencyWarning)
            parts = cl.map(_keep_columns, parts, [keep] * len(parts), pure=False)
            frame = replace(frame, fixef_names=[names[j] for j in keep], kept_columns=keep,
                            X=np.zeros((0, len(keep))), dropped_columns=dropped,
                            encoder=replace(frame.encoder, kept_columns=keep))
        check_terms(frame.terms, frame.n, glm=True)
        pirls = DistributedPirls(parts, cl, frame.terms, family, p=len(keep), n=frame.n,
                                 progress=shown)
        empty = np.zeros(0)
        resp = GlmResponse(y=empty, n=empty, wt=empty, prior_weights=empty)
        fit = fit_glmm(frame, family, resp, int(nAGQ), ctrl, start=start, pirls=pirls)
        passes = pirls.passes + 2           # + pass 1 (levels) and the rank check
        shown.finish("PIRLS passes over the data", pirls.passes)
        pirls.freeze(fit.state, fit.theta)  # the partitions are released with the client
    model = DaskGeneralizedLinearMixedModel(frame, family, resp, fit, ctrl, data_name=None)
    model.distributed_passes = passes
    model._remember_client(client)
    return model
