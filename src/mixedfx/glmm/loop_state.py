"""A compiled PIRLS run's state as the kernel leaves it: one buffer (`native_loop._Loop.out`)
holding u, β, η and μ (canonical row order), L₁₁ and Λ's templates one after the other
(`_Shape.cuts`), and the run's scalars (deviance, ‖u‖², the log-likelihood kernel, log|L|²,
the lag, the iterations). `state_of` builds the `PirlsState` the Python objective would have
left; `DeferredState` keeps the buffer until the state is read (`GlmmObjective.state`) and
answers the few reads of stage 1's state in `fit_glmm` from it without building it."""

from __future__ import annotations

from typing import Any

import numpy as np

from mixedfx.glmm.kernel_layout import _KernelTemplates
from mixedfx.glmm.pirls_native import NativeFactor, NativePirls
from mixedfx.glmm.state import CanonicalState, PirlsState


def state_parts(sh: Any, out: np.ndarray) -> tuple:
    """(u, β, η, μ, L₁₁, templates): views of a state buffer of a model of shape `sh`
    (`_Shape.cuts`: where each piece lies)."""
    u, beta, eta, mu, L11, T = sh.cuts
    return (out[u], out[beta], out[eta], out[mu], out[L11].reshape(sh.l11), out[T])


def state_of(nat: NativePirls, sh: Any, out: np.ndarray, scalars: tuple) -> PirlsState:
    """The state in a run's buffer (`out`) and scalars (the kernel's binding `nat`, the
    model's shape `sh`)."""
    u, beta, eta_c, mu_c, L11, T = state_parts(sh, out)
    dev, ussq, kern, ld, lag, its = scalars
    state = nat._state(u, beta, eta_c, mu_c, dev, ussq, kern, NativeFactor(ld, L11), its, lag)
    if len(sh.blocks) == 1:             # one term: T is its template
        k = sh.blocks[0][3]
        blocks = [T.reshape(k, k)]
    else:
        blocks, i = [], 0
        for _, _, _, k in sh.blocks:
            blocks.append(T[i:i + k * k].reshape(k, k))
            i += k * k
    # views of T, C-contiguous float64 already: the kernel's layout as they are
    state.templates = _KernelTemplates(blocks)
    return state


def carve(*sizes: int) -> list[np.ndarray]:
    """Adjacent pieces of the given sizes of one new buffer: a call's outputs from one
    allocation (each piece a C-contiguous float64 vector, as its own array would be)."""
    buf = np.empty(sum(sizes))
    pieces, i = [], 0
    for size in sizes:
        pieces.append(buf[i:i + size])
        i += size
    return pieces


class DeferredState:
    """A compiled run's state as the kernel left it (a `_Loop.out` buffer and the scalars),
    built into a `PirlsState` when called (`GlmmObjective.state`, on first read; kept as
    `built`), or the state already built from that buffer (`built`). Before it is built it
    answers the reads of stage 1's state in `fit_glmm` and `Lme4Devfun` from the buffer:
    `beta`, `u` (per-term views, as the built state's) and `canonical_rows()`; `eta`
    builds it."""

    __slots__ = ("built", "nat", "out", "scalars", "shape")

    def __init__(self, loop: Any, out: np.ndarray, scalars: tuple,
                 built: PirlsState | None = None) -> None:
        # the loop's binding and shape, not the loop: the objective holding this state is
        # the loop's, and a reference cycle would leave a fit's engine to the collector
        self.nat, self.shape = loop.nat, loop.shape
        self.out, self.scalars, self.built = out, scalars, built

    def __call__(self) -> PirlsState:
        if self.built is None:
            self.built = state_of(self.nat, self.shape, self.out, self.scalars)
        return self.built

    @property
    def beta(self) -> np.ndarray:
        """β (a view of the buffer, as the built state's)."""
        if self.built is not None:
            return self.built.beta
        return self.out[self.shape.cuts[1]]

    @property
    def u(self) -> list[np.ndarray]:
        """u per term, (levels, k) views of the buffer (as the built state's)."""
        if self.built is not None:
            return self.built.u
        out = self.out
        return [out[a:b].reshape(nl, k) for a, b, nl, k in self.shape.blocks]

    @property
    def eta(self) -> np.ndarray:
        """η in the data's row order (the state built)."""
        return self().eta

    def canonical_rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(η, μ) in the canonical row order when it is not the identity (as
        `CanonicalState.canonical_rows`), else None."""
        if self.built is not None:
            built = self.built
            return built.canonical_rows() if isinstance(built, CanonicalState) else None
        sh = self.shape
        if sh.order is None:
            return None
        return self.out[sh.cuts[2]], self.out[sh.cuts[3]]
