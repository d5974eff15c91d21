"""Simulation and parametric bootstrap of a Dask lmer fit, replicate responses made on the
workers partition by partition (a Dask glmer fit's: `distributed.glm_replicates`).

Seeding (reproducible for a given `seed` and partitioning of the data): with
`ss = SeedSequence(seed)`, replicate k draws its spherical random effects u*ₖ on the driver
from `SeedSequence(ss.entropy, spawn_key=(k, 0))` (levels-sized, as the in-memory
`simulate`: u* ~ N(0, σ̂²I) per term, b* = u* Tᵀ; the fitted b with `use_u`), and partition p
draws its residuals from `SeedSequence(ss.entropy, spawn_key=(k, 1, p))`:

    y*ₖ = offset + Xβ̂ + Σ_t Z_t b*_{t,k} + ε*ₖ,   ε*ₖ ~ N(0, σ̂² / w).

This is the in-memory model's distribution, not its random stream (one generator cannot be
split across partitions), so a Dask fit's replicates are statistically equivalent to the
in-memory model's, not equal draw for draw. `simulate` and `bootstrap` use the same scheme:
the responses `simulate(nsim, seed)` returns are the ones `bootstrap(nsim=nsim, seed=seed)`
refits.

A replicate changes only the response, so of the cross-products of [Z X y*] only the y
row of B and the y column of A_rr change: each partition returns, for a batch of
replicates, Z₁ᵀWy*, [Z_rest X]ᵀWy* and y*ᵀWy* (levels-sized), reduced in a tree like the
fit's; the driver (or a worker, when B fits in memory) refits θ from the fit's blocks with
those replaced, starting at θ̂.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.distributed.cluster import client_for, tree_reduce
from mixedfx.inference.bootstrap import BootResult, as_series, collect_replicates
from mixedfx.lazy import lazy_module
from mixedfx.lmm.fit import LmmFit, fit_lmm_crossproducts
from mixedfx.lmm.sliced import SlicedB

sp = lazy_module("scipy.sparse")  # ~0.1 s at import (with scipy.sparse.linalg); only here

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import LinearMixedFit

BATCH_BYTES = 64 * 1024**2          # per-partition sums of one batch of replicates


def replicate_entropy(seed: int | None) -> int:
    """The entropy of `SeedSequence(seed)` that every replicate's generator derives from."""
    return int(np.random.SeedSequence(seed).entropy)


def replicate_rng(entropy: int, k: int, part_id: int | None = None) -> np.random.Generator:
    """Replicate k's generator: its random effects on the driver (spawn key (k, 0)), or its
    responses in partition `part_id` on a worker (spawn key (k, 1, part_id))."""
    key = (k, 0) if part_id is None else (k, 1, part_id)
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=key))


def random_effects_draw(model: LinearMixedFit, entropy: int, k: int, use_u: bool
                        ) -> list[np.ndarray]:
    """b*ₖ per term (levels × k) of an LMM: u* ~ N(0, σ̂²I), b* = u* Tᵀ, or the fitted b."""
    return spherical_draw(model, entropy, k, use_u, model.engine_fit.factor.templates, model.sigma)


def spherical_draw(model: LinearMixedFit, entropy: int, k: int, use_u: bool,
                   templates: list[np.ndarray], scale: float) -> list[np.ndarray]:
    """Replicate k's random effects per term (levels × k): u* ~ N(0, I) per level from
    `SeedSequence(entropy, spawn_key=(k, 0))`, b* = (scale · u*) Tᵀ with T the term's
    relative covariance factor; the fitted b with `use_u`."""
    if use_u:
        return [np.asarray(b, dtype=float) for b in model.random_effects]
    rng = replicate_rng(entropy, k)
    return [(rng.standard_normal((t.n_levels, t.k)) * scale) @ T.T
            for t, T in zip(model.frame.terms, templates, strict=True)]


def _responses(enc: Any, beta: np.ndarray, draws: list[tuple[int, list[np.ndarray]]],
               sigma: float, entropy: int, part_id: int) -> np.ndarray:
    """y*ₖ − offset of a partition's rows for each (k, b*ₖ), as columns."""
    base = enc.X @ beta
    n = len(base)
    scale = sigma if enc.weights is None else sigma / np.sqrt(enc.weights)
    Y = np.empty((n, len(draws)))
    for col, (k, b) in enumerate(draws):
        y = base.copy()
        for t, bt in zip(enc.terms, b, strict=True):
            y += t.row_effects(bt)
        Y[:, col] = y + replicate_rng(entropy, k, part_id).standard_normal(n) * scale
    return Y


def simulate_partition(part: pd.DataFrame, encoder: Any,
                       draws: list[tuple[int, list[np.ndarray]]], entropy: int, part_id: int,
                       columns: list[str], beta: np.ndarray, sigma: float) -> pd.DataFrame:
    """A partition's simulated responses (offset included), one column per replicate."""
    enc = encoder.encode(part)
    if enc is None:
        return empty_simulation(part, columns)
    Y = _responses(enc, beta, draws, sigma, entropy, part_id)
    if enc.offset is not None:
        Y += enc.offset[:, None]
    return pd.DataFrame(Y, index=enc.index, columns=columns)


def empty_simulation(part: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The simulation of a partition without complete rows: no rows, float columns."""
    return pd.DataFrame({c: pd.Series([], dtype=float) for c in columns}, index=part.index[:0])


def response_sums(part: pd.DataFrame, encoder: Any, beta: np.ndarray,
                  draws: list[tuple[int, list[np.ndarray]]], sigma: float, entropy: int,
                  part_id: int) -> tuple[np.ndarray, np.ndarray] | None:
    """For each replicate (columns): [Z_rest X y*]ᵀ W y* (r × K) and Z₁ᵀ W y* (q₁ × K)."""
    enc = encoder.encode(part)
    if enc is None:
        return None
    Y = _responses(enc, beta, draws, sigma, entropy, part_id)
    WY = Y if enc.weights is None else Y * enc.weights[:, None]
    n = len(Y)
    blocks = []
    for t in enc.terms[1:]:
        blocks.append(_zt(t, n) @ WY)
    blocks.append(enc.X.T @ WY)
    blocks.append(np.einsum("ik,ik->k", WY, Y)[None, :])
    return np.vstack(blocks), np.asarray(_zt(enc.terms[0], n) @ WY)


def _zt(t: Any, n: int) -> sp.csr_matrix:
    """Z_tᵀ (levels·k × n): row code·k + a holds the term's column a."""
    rows = (t.codes[:, None] * t.k + np.arange(t.k)[None, :]).ravel()
    cols = np.repeat(np.arange(n), t.k)
    return sp.csr_matrix((t.values.ravel(), (rows, cols)), shape=(t.n_levels * t.k, n))


def _add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return a if b is None else b
    return a[0] + b[0], a[1] + b[1]


def replicate_crossproducts(xp: Any, rr: np.ndarray, r1: np.ndarray) -> Any:
    """The fit's cross-products with the y row / column replaced by a replicate's."""
    Arr = xp.Arr.copy()
    Arr[:, -1] = rr
    Arr[-1, :] = rr
    B = xp.B
    if isinstance(B, np.ndarray):
        B = B.copy()
        B[-1] = r1
    elif isinstance(B, SlicedB):
        B = B.with_last_row(r1)
    else:
        B = sp.vstack([sp.csr_matrix(B)[:-1], sp.csr_matrix(r1[None, :])], format="csr")
    return replace(xp, B=B, Arr=Arr)


def refit_replicate(frame: Any, xp: Any, rr: np.ndarray, r1: np.ndarray, reml: bool,
                    control: Any, ldW: float, start: np.ndarray, func: Any,
                    wrap: Callable[[Any, LmmFit], Any]) -> tuple[Any, list[str]]:
    """func(model refitted to one replicate) and the warnings (None when the refit fails);
    the model is `wrap(frame, fit)` of the refit (the result layer's class)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = fit_lmm_crossproducts(frame, replicate_crossproducts(xp, rr, r1), reml,
                                        control, ldW=ldW, start=start, warn=True)
            value = func(wrap(frame, fit))
        except Exception as e:      # a failed replicate is recorded, as bootMer does
            return None, [f"{type(e).__name__}: {e}"]
    return value, [str(w.message) for w in caught]


def simulate(model: LinearMixedFit, nsim: int, seed: int | None, use_u: bool) -> Any:
    """`simulate()` of a Dask lmer fit: a lazy Dask DataFrame, columns sim_1 … sim_nsim."""
    return simulated_frame(model, nsim, seed, use_u, random_effects_draw, simulate_partition,
                           np.asarray(model.beta, dtype=float), model.sigma)


def simulated_frame(model: LinearMixedFit, nsim: int, seed: int | None, use_u: bool, draw: Any,
                    simulate_part: Any, *args: Any) -> Any:
    """A lazy Dask DataFrame of nsim simulated responses (columns sim_1 … sim_nsim).

    The driver draws each replicate's random effects, `draw(model, entropy, k, use_u)`
    (levels-sized); each partition's responses are drawn on the workers by
    `simulate_part(partition, encoder, draws, entropy, partition index, columns, *args)`.
    """
    import dask.dataframe as dd  # dask is optional: imported when a Dask fit simulates
    from dask import delayed

    frame = model.frame
    entropy = replicate_entropy(seed)
    draws = [(k, draw(model, entropy, k, use_u)) for k in range(nsim)]
    columns = [f"sim_{k + 1}" for k in range(nsim)]
    encoder = delayed(frame.encoder, pure=True)
    parts = frame.data[frame.encoder.read_columns].to_delayed()
    meta = pd.DataFrame({c: pd.Series([], dtype=float) for c in columns})
    pieces = [delayed(simulate_part, pure=True)(p, encoder, draws, entropy, i, columns, *args)
              for i, p in enumerate(parts)]
    return dd.from_delayed(pieces, meta=meta)


def bootstrap(model: LinearMixedFit, func: Any, nsim: int, seed: int | None, use_u: bool,
              wrap: Callable[[Any, LmmFit], Any], client: Any = None) -> BootResult:
    """`bootMer` for a Dask lmer fit (see the module docstring for the seeding); each
    replicate's refit is wrapped as a model by `wrap(frame, fit)` for `func`."""
    from dask import delayed  # dask is optional: imported when a Dask fit bootstraps

    frame = model.frame
    t0 = as_series(func(model))
    xp, fit = model.engine_fit.chol.xp, model.engine_fit
    entropy = replicate_entropy(seed)
    beta = np.asarray(model.beta, dtype=float)
    small_frame = replace(frame, data=None)
    per_replicate = 8 * (xp.r + xp.B.shape[1])
    batch = int(max(1, min(nsim, BATCH_BYTES // per_replicate)))
    results: list[tuple[Any, list[str]]] = []
    with client_for(client) as cl:
        encoder = delayed(frame.encoder, pure=True)
        parts = frame.data[frame.encoder.read_columns].to_delayed()
        sliced_b = isinstance(xp.B, SlicedB)
        xp_remote = None if sliced_b else cl.scatter(xp, broadcast=True)
        for start in range(0, nsim, batch):
            ks = range(start, min(nsim, start + batch))
            draws = [(k, random_effects_draw(model, entropy, k, use_u)) for k in ks]
            sums = [delayed(response_sums, pure=True)(p, encoder, beta, draws, model.sigma,
                                                      entropy, i)
                    for i, p in enumerate(parts)]
            rr, r1 = cl.compute(tree_reduce(sums, _add)).result()
            args = (model.REML, model.control, fit.objective.ldW, fit.theta, func, wrap)
            if sliced_b:         # B is on the driver's disk: refit here
                results += [refit_replicate(small_frame, xp, rr[:, j], r1[:, j], *args)
                            for j in range(len(ks))]
            else:
                futs = [cl.submit(refit_replicate, small_frame, xp_remote, rr[:, j],
                                  r1[:, j], *args, pure=False) for j in range(len(ks))]
                results += cl.gather(futs)
    return collect_replicates(t0, results, nsim, seed)
