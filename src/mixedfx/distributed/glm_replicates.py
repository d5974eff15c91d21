"""Simulation, parametric bootstrap and the likelihood profile of a Dask glmer fit.

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

The profile (`live_objective`) needs the Laplace deviance at (θ, β) away from the fit, so the
data are encoded onto the cluster again and each evaluation runs the distributed PIRLS.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.distributed.cluster import client_for
from mixedfx.distributed.pirls import DistributedPirls, encode_glm_partition, partition_eta
from mixedfx.distributed.replicates import (
    empty_simulation,
    replicate_entropy,
    replicate_rng,
    simulated_frame,
    spherical_draw,
)
from mixedfx.glmm.fit import GlmmFit, fit_glmm
from mixedfx.glmm.objective import GlmmObjective
from mixedfx.glmm.response import encode_response
from mixedfx.glmm.simulate import draw_response
from mixedfx.inference.bootstrap import BootResult, as_series, collect_replicates

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import GeneralizedMixedFit


def glm_random_effects_draw(model: GeneralizedMixedFit, entropy: int, k: int, use_u: bool
                            ) -> list[np.ndarray]:
    """A GLMM's b*ₖ per term: u* ~ N(0, I) per level, b* = u* Tᵀ (scaled by σ̂ when the
    family has a dispersion, as the in-memory `simulate` scales them), or the fitted b."""
    scale = model.re_scale if model.has_scale else 1.0
    return spherical_draw(model, entropy, k, use_u, model.templates, scale)


def glm_simulate_partition(part: pd.DataFrame, encoder: Any,
                           draws: list[tuple[int, list[np.ndarray]]], entropy: int,
                           part_id: int, columns: list[str], beta: np.ndarray, sigma: float,
                           family: Any) -> pd.DataFrame:
    """A partition's simulated GLMM responses, one column per replicate: μ = g⁻¹(offset +
    Xβ̂ + Σ_t Z_t b*_t), then the family's draw (`glmm.simulate.draw_response`) from
    `SeedSequence(entropy, spawn_key=(k, 1, partition))`."""
    enc = encoder.encode(part)
    if enc is None:
        return empty_simulation(part, columns)
    resp = encode_response(enc.y, family, enc.weights)
    base = enc.X @ beta
    if enc.offset is not None:
        base = base + enc.offset
    Y = np.empty((len(base), len(draws)))
    for col, (k, b) in enumerate(draws):
        eta = base.copy()
        for t, bt in zip(enc.terms, b, strict=True):
            eta += t.row_effects(bt)
        Y[:, col] = draw_response(family, family.link.linkinv(eta), resp.n, enc.y.ndim == 2,
                                  sigma, replicate_rng(entropy, k, part_id))
    return pd.DataFrame(Y, index=enc.index, columns=columns)


def glm_simulate(model: GeneralizedMixedFit, nsim: int, seed: int | None, use_u: bool) -> Any:
    """`simulate()` of a Dask glmer fit: a lazy Dask DataFrame, columns sim_1 … sim_nsim
    (successes for a cbind response, proportions with trials as weights, as in memory)."""
    return simulated_frame(model, nsim, seed, use_u, glm_random_effects_draw,
                           glm_simulate_partition, np.asarray(model.beta, dtype=float),
                           model.sigma, model.family)


def replicate_partition(p: Any, family: Any, beta: np.ndarray, b: list[np.ndarray],
                        sigma: float, entropy: int, k: int, part_id: int) -> Any:
    """An encoded partition (`distributed.pirls.GlmPartition`) with replicate k's response,
    drawn as `glm_simulate_partition` draws it (cbind responses: successes and failures)."""
    if p is None:
        return None
    cbind = p.enc.y.ndim == 2
    mu = family.link.linkinv(partition_eta(p, b, beta))
    y = draw_response(family, mu, p.resp.n, cbind, sigma, replicate_rng(entropy, k, part_id))
    raw = np.column_stack([y, p.resp.n - y]) if cbind else y
    return replace(p, enc=replace(p.enc, y=raw),
                   resp=encode_response(raw, family, p.enc.weights))


def _refit_replicate(model: GeneralizedMixedFit, parts: list[Any], cl: Any, func: Any,
                     wrap: Callable[[Any, GlmmFit], Any]) -> tuple[Any, list[str]]:
    """func(the replicate's fit, wrapped as a model by `wrap(frame, fit)`), or None and the
    error; the fit's warnings as messages."""
    frame = model.frame
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pirls = DistributedPirls(parts, cl, frame.terms, model.family, p=len(model.beta),
                                     n=frame.n)
            fit = fit_glmm(frame, model.family, model.response, model.nAGQ, model.control,
                           start={"theta": model.theta, "fixef": model.beta}, pirls=pirls)
            pirls.freeze(fit.state, fit.theta)
            value = func(wrap(replace(frame, data=None), fit))
        except Exception as e:  # a failed replicate is recorded, as bootMer does
            return None, [f"{type(e).__name__}: {e}"]
    return value, [str(w.message) for w in caught]


def glm_bootstrap(model: GeneralizedMixedFit, func: Any, nsim: int, seed: int | None, use_u: bool,
                  wrap: Callable[[Any, GlmmFit], Any], client: Any = None) -> BootResult:
    """`bootMer` for a Dask glmer fit (see the module docstring); each replicate's refit is
    wrapped as a model by `wrap(frame, fit)` for `func`."""
    t0 = as_series(func(model))
    entropy = replicate_entropy(seed)
    beta = np.asarray(model.beta, dtype=float)
    sigma = model.sigma
    results: list[tuple[Any, list[str]]] = []
    with client_for(client) as cl:
        parts = encoded_partitions(model, cl)
        n = len(parts)
        for k in range(nsim):
            b = cl.scatter([glm_random_effects_draw(model, entropy, k, use_u)],
                           broadcast=True, hash=False)[0]
            rep_parts = cl.map(replicate_partition, parts, [model.family] * n, [beta] * n,
                               [b] * n, [sigma] * n, [entropy] * n, [k] * n, range(n),
                               pure=False)
            results.append(_refit_replicate(model, rep_parts, cl, func, wrap))
            del rep_parts
    return collect_replicates(t0, results, nsim, seed)


def encoded_partitions(model: GeneralizedMixedFit, cl: Any) -> list[Any]:
    """The model's partitions encoded for the GLMM (`distributed.pirls.GlmPartition`), held
    on the workers of `cl` as futures (the fit's encoder: its levels and kept columns)."""
    from dask import delayed  # dask is optional: imported when a Dask fit is refitted

    frame = model.frame
    encoder = delayed(frame.encoder, pure=True)
    return cl.compute([delayed(encode_glm_partition, pure=True)(p, encoder, model.family)
                       for p in frame.data[frame.encoder.read_columns].to_delayed()])


@contextmanager
def live_objective(model: GeneralizedMixedFit, client: Any) -> Iterator[Any]:
    """The fit's Laplace objective over the model's Dask data, for `profile`: the data are
    encoded onto the cluster again (a fit releases its partitions), and every evaluation
    runs the distributed PIRLS (one pass per PIRLS step), warm-started from the fit's
    final state as the in-memory objective is."""
    frame = model.frame
    fitted = model.engine_fit.objective
    with client_for(client) as cl:
        parts = encoded_partitions(model, cl)
        pirls = DistributedPirls(parts, cl, frame.terms, model.family, p=len(model.beta),
                                 n=frame.n, step_tol=fitted.pirls.step_tol)
        try:
            yield GlmmObjective(pirls, fitted.templates, fitted.n_theta, fitted.nagq,
                                fitted.state)
        finally:
            pirls.parts = []
            del parts
