"""Simulation and parametric bootstrap of a Dask glmer fit.

Seeding as for a Dask lmer fit (`distributed.replicates`): with ss = SeedSequence(seed),
replicate k draws its spherical random effects u*ₖ ~ N(0, I) on the driver from
SeedSequence(ss.entropy, spawn_key=(k, 0)) (b* = u* Tᵀ per term; the fitted b with `use_u`),
and partition p draws its responses from SeedSequence(ss.entropy, spawn_key=(k, 1, p)):

    μ*ₖ = g⁻¹(offset + Xβ̂ + Σ_t Z_t b*_{t,k}),   y*ₖ ~ family(μ*ₖ)   (`glmm.simulate`).

The in-memory model's distribution, reproducible per seed and partitioning (not the
in-memory random stream). `simulate(nsim, seed)` returns the responses that
`bootstrap(nsim=nsim, seed=seed)` refits.

A GLMM replicate is a complete fit: PIRLS's weights depend on the response, so no
cross-products can be reused. The data are encoded once onto the workers; each replicate
maps them to partitions holding its response (drawn there, never collected), then runs the
distributed PIRLS fit from (θ̂, β̂), one replicate at a time on the cluster.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.distributed.replicates import _entropy, _model_columns


def glm_random_effects_draw(model: Any, entropy: int, k: int, use_u: bool
                            ) -> list[np.ndarray]:
    """A GLMM's b*ₖ per term: u* ~ N(0, I) per level, b* = u* Tᵀ (scaled as the in-memory
    `simulate` scales them), or the fitted b with `use_u`."""
    if use_u:
        return [np.asarray(b, dtype=float) for b in model._random_effects()]
    rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(k, 0)))
    scale = model._re_scale if model._has_scale else 1.0
    return [rng.standard_normal((t.n_levels, t.k)) @ T.T * scale
            for t, T in zip(model._frame.terms, model._templates(), strict=True)]


def glm_simulate_partition(part: pd.DataFrame, encoder: Any, family: Any, beta: np.ndarray,
                           draws: list[tuple[int, list[np.ndarray]]], sigma: float,
                           entropy: int, part_id: int, columns: list[str]) -> pd.DataFrame:
    """A partition's simulated GLMM responses, one column per replicate: μ = g⁻¹(offset +
    Xβ̂ + Σ_t Z_t b*_t), then the family's draw (`glmm.simulate.draw_response`) from
    `SeedSequence(entropy, spawn_key=(k, 1, partition))`."""
    from mixedfx.glmm.response import encode_response
    from mixedfx.glmm.simulate import draw_response

    enc = encoder.encode(part)
    if enc is None:
        return pd.DataFrame({c: pd.Series([], dtype=float) for c in columns},
                            index=part.index[:0])
    resp = encode_response(enc.y, family, enc.weights)
    base = enc.X @ beta
    if enc.offset is not None:
        base = base + enc.offset
    Y = np.empty((len(base), len(draws)))
    for col, (k, b) in enumerate(draws):
        eta = base.copy()
        for t, bt in zip(enc.terms, b, strict=True):
            eta += t.row_effects(bt)
        rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(k, 1, part_id)))
        Y[:, col] = draw_response(family, family.link.linkinv(eta), resp.n, enc.y.ndim == 2,
                                  sigma, rng)
    return pd.DataFrame(Y, index=enc.index, columns=columns)


def glm_simulate(model: Any, nsim: int, seed: int | None, use_u: bool) -> Any:
    """`simulate()` of a Dask glmer fit: a lazy Dask DataFrame, columns sim_1 … sim_nsim
    (successes for a cbind response, proportions with trials as weights, as in memory)."""
    import dask.dataframe as dd
    from dask import delayed

    frame = model._frame
    entropy = _entropy(seed)
    draws = [(k, glm_random_effects_draw(model, entropy, k, use_u)) for k in range(nsim)]
    columns = [f"sim_{k + 1}" for k in range(nsim)]
    encoder = delayed(frame.encoder, pure=True)
    beta = np.asarray(model.beta, dtype=float)
    sigma = model.sigma if model.family.has_dispersion else 1.0
    parts = frame.data[_model_columns(frame)].to_delayed()
    meta = pd.DataFrame({c: pd.Series([], dtype=float) for c in columns})
    pieces = [delayed(glm_simulate_partition, pure=True)(p, encoder, model.family, beta, draws,
                                                         sigma, entropy, i, columns)
              for i, p in enumerate(parts)]
    return dd.from_delayed(pieces, meta=meta)


def replicate_partition(p: Any, family: Any, beta: np.ndarray, b: list[np.ndarray],
                        sigma: float, entropy: int, k: int, part_id: int) -> Any:
    """An encoded partition (`distributed.pirls.GlmPartition`) with replicate k's response,
    drawn as `glm_simulate_partition` draws it (cbind responses: successes and failures)."""
    from mixedfx.glmm.response import encode_response
    from mixedfx.glmm.simulate import draw_response

    if p is None:
        return None
    eta = p.offset + p.enc.X @ beta
    for t, bt in zip(p.enc.terms, b, strict=True):
        eta = eta + t.row_effects(bt)
    rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(k, 1, part_id)))
    cbind = p.enc.y.ndim == 2
    y = draw_response(family, family.link.linkinv(eta), p.resp.n, cbind, sigma, rng)
    raw = np.column_stack([y, p.resp.n - y]) if cbind else y
    return replace(p, enc=replace(p.enc, y=raw),
                   resp=encode_response(raw, family, p.enc.weights))


def _refit_replicate(model: Any, parts: list[Any], cl: Any, func: Any
                     ) -> tuple[Any, list[str]]:
    """func(the replicate's fit), or None and the error; the fit's warnings as messages."""
    from mixedfx.distributed.pirls import DistributedPirls
    from mixedfx.distributed.results import DaskGeneralizedLinearMixedModel
    from mixedfx.glmm.fit import fit_glmm

    frame = model._frame
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pirls = DistributedPirls(parts, cl, frame.terms, model.family, p=len(model.beta),
                                     n=frame.n)
            fit = fit_glmm(frame, model.family, model._resp, model.nAGQ, model._control,
                           start={"theta": model.theta, "fixef": model.beta}, pirls=pirls)
            pirls.freeze(fit.state, fit.theta)
            rep = DaskGeneralizedLinearMixedModel(replace(frame, data=None), model.family,
                                                  model._resp, fit, model._control)
            value = func(rep)
        except Exception as e:  # a failed replicate is recorded, as bootMer does
            return None, [f"{type(e).__name__}: {e}"]
    return value, [str(w.message) for w in caught]


def glm_bootstrap(model: Any, func: Any, nsim: int, seed: int | None, use_u: bool,
                  client: Any = None) -> Any:
    """`bootMer` for a Dask glmer fit (see the module docstring)."""
    from dask import delayed

    from mixedfx.distributed.cluster import client_for
    from mixedfx.distributed.pirls import encode_glm_partition
    from mixedfx.inference.bootstrap import _as_series, collect_replicates

    frame = model._frame
    if frame.data is None:
        raise ValueError("this model has no Dask data (a bootstrap replicate)")
    t0 = _as_series(func(model))
    entropy = _entropy(seed)
    beta = np.asarray(model.beta, dtype=float)
    sigma = model.sigma if model.family.has_dispersion else 1.0
    results: list[tuple[Any, list[str]]] = []
    with client_for(client) as cl:
        encoder = delayed(frame.encoder, pure=True)
        parts = cl.compute([delayed(encode_glm_partition, pure=True)(p, encoder, model.family)
                            for p in frame.data[_model_columns(frame)].to_delayed()])
        n = len(parts)
        for k in range(nsim):
            b = cl.scatter([glm_random_effects_draw(model, entropy, k, use_u)],
                           broadcast=True, hash=False)[0]
            rep_parts = cl.map(replicate_partition, parts, [model.family] * n, [beta] * n,
                               [b] * n, [sigma] * n, [entropy] * n, [k] * n, range(n),
                               pure=False)
            results.append(_refit_replicate(model, rep_parts, cl, func))
            del rep_parts
    return collect_replicates(t0, results, nsim, seed)
