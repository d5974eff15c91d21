"""Stage 2's coordinates: z = (θ, γ) with β = β₁ + L_XX⁻ᵀ γ, L_XX the fixed-effects block of
the stage-1 factor, so that γ has unit curvature and BOBYQA's single trust-region radius
suits every coordinate (`whitening`, `Whitening`, `Whitened`)."""

from __future__ import annotations

import math
from itertools import chain

import numpy as np

from mixedfx.errors import PirlsError
from mixedfx.glmm.objective import GlmmObjective
from mixedfx.glmm.pirls import Pirls, PirlsState
from mixedfx.glmm.theta_templates import ThetaTemplates
from mixedfx.native import kernel


def whitening(pirls: Pirls, state: PirlsState, theta: np.ndarray, n_theta: int,
              center: np.ndarray | None = None, templates: ThetaTemplates | None = None,
              M: np.ndarray | None = None) -> Whitening:
    """Map (θ, γ) -> (θ, β) with β = β₁ + L_XX⁻ᵀ γ, L_XX the fixed-effects block of the
    stage-1 factor (so vcov(β) ≈ L_XX⁻ᵀ L_XX⁻¹ and γ has unit curvature): BOBYQA's single
    trust-region radius then suits every coordinate, however correlated the fixed effects.
    β₁ is stage 1's β, or `center` (a starting β) when given; `templates`: the fit's θ ->
    templates map (its cache already holds θ), else a new one; `M`: L_XX⁻ᵀ when the caller
    has it (the compiled stage 1 formed it as below, when it is finite:
    `native_loop.take_end`)."""
    beta1 = state.beta.copy() if center is None else np.asarray(center, dtype=float).copy()
    p = len(beta1)
    if p == 0:
        return Whitening(n_theta, beta1, None)
    if M is not None:
        return Whitening(n_theta, beta1, M)
    try:
        if pirls.native is not None:
            tm = ThetaTemplates(pirls.terms) if templates is None else templates
            Lrr = pirls.native.factor(state, tm(theta), with_x=True).Lrr
        else:
            Lrr = pirls.factorize(state, theta, with_x=True)[1].Lrr
    except (PirlsError, np.linalg.LinAlgError):
        Lrr = None
    M = None if Lrr is None else _whitening_matrix(Lrr, Lrr.shape[0] - p - 1, p)
    # a degenerate stage-1 factor (non-finite weights): optimize β unwhitened
    return Whitening(n_theta, beta1, np.eye(p) if M is None else M)


def _whitening_matrix(Lrr: np.ndarray, q: int, p: int) -> np.ndarray | None:
    """M = L_XX⁻ᵀ from the p × p block L_XX of the stage-1 factor at (q, q), by forward
    substitution (`_lower_inverse_rows`; in the pirls kernel when it is built, the same
    operations in the same order: the same bits); None when L_XX has an entry that is not
    finite or a zero diagonal entry, or M an entry that is not finite."""
    mod = kernel("pirls")
    if mod is not None and hasattr(mod, "whitening_t"):
        M = np.empty((p, p))
        return M if mod.whitening_t(np.ascontiguousarray(Lrr, dtype=float), q, p, M) else None
    rows = Lrr[q:q + p, q:q + p].tolist()
    if not (all(map(math.isfinite, chain.from_iterable(rows))) and
            all(rows[i][i] != 0 for i in range(p))):
        return None
    Mt = [list(col) for col in zip(*_lower_inverse_rows(rows), strict=True)]
    return np.array(Mt).reshape(p, p) if all(map(math.isfinite, chain.from_iterable(Mt))) \
        else None


def lower_inverse(L: np.ndarray) -> np.ndarray:
    """L⁻¹ of a finite lower triangular L with a nonzero diagonal, row by row by forward
    substitution, N_i = (e_i − Σ_{c<i} L_ic N_c) / L_ii (elementwise, in a fixed order: the
    same bits under any BLAS, and no LAPACK call for a few fixed effects). The few entries
    are Python floats: the same IEEE operations as NumPy's elementwise ones."""
    Lr = np.asarray(L, dtype=float).tolist()
    return np.array(_lower_inverse_rows(Lr)).reshape(len(Lr), len(Lr))


def _lower_inverse_rows(Lr: list[list[float]]) -> list[list[float]]:
    """`lower_inverse` on the rows of L as lists. N_c is zero beyond column c, so the update
    s ← s − L_ic N_c touches s's first c + 1 entries only: an entry beyond them is +0 (or
    the 1 of e_i), and x − L_ic·(±0) = x for a finite L_ic — the bits of the full update."""
    p = len(Lr)
    rows: list[list[float]] = []
    for i in range(p):
        s = [0.0] * p
        s[i] = 1.0
        Li = Lr[i]
        for c in range(i):
            lic, rc = Li[c], rows[c]
            for j in range(c + 1):
                s[j] = s[j] - lic * rc[j]
        d = Li[i]
        rows.append([a / d for a in s])
    return rows


class Whitening:
    """z = (θ, γ) -> x = (θ, β₁ + Mγ) (`whitening`); M None: x = z. Mγ is summed column by
    column in order (elementwise operations, as the compiled loop sums it), not by a BLAS
    matrix-vector product whose rounding depends on the kernel loaded."""

    def __init__(self, n_theta: int, beta1: np.ndarray, M: np.ndarray | None,
                 rows: list[list[float]] | None = None) -> None:
        """`rows`: M's rows as lists of floats, when the caller has them."""
        self.n_theta, self.beta1, self.M = n_theta, beta1, M
        # β₁ and M's rows as lists, formed when first needed
        self._lists = None if M is None or rows is None else (beta1.tolist(), rows)
        self._known: tuple[np.ndarray, np.ndarray] | None = None

    def remember(self, z: np.ndarray, x: np.ndarray) -> None:
        """x = this map at z, computed elsewhere with the same operations (the compiled
        stage-2 run at its end point): returned, once, for that array z itself."""
        self._known = (z, x)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        known = self._known
        if known is not None and z is known[0]:
            self._known = None
            return known[1]
        z = np.asarray(z, dtype=float)
        if self.M is None:
            return z
        n = self.n_theta
        # Python floats (the same IEEE operations as NumPy's): acc_i = M_i0 γ_0 + M_i1 γ_1 …
        zl = z.tolist()
        g = zl[n:]
        if self._lists is None:
            self._lists = (self.beta1.tolist(), self.M.tolist())
        beta1, M = self._lists
        beta = [b + _row_sum(Mi, g) for b, Mi in zip(beta1, M, strict=True)]
        return np.array(zl[:n] + beta)



def _row_sum(Mi: list[float], g: list[float]) -> float:
    """Σ_j M_ij γ_j summed left to right, starting from M_i0 γ_0."""
    acc = Mi[0] * g[0]
    for j in range(1, len(g)):
        acc = acc + Mi[j] * g[j]
    return acc


class Whitened:
    """Stage 2's objective over z = (θ, γ): the objective at `to_x(z)`; NLopt's runs over it
    go to the compiled loop when it serves (`GlmmObjective.minimize_natively`)."""

    def __init__(self, objective: GlmmObjective, to_x: Whitening) -> None:
        self.objective, self.to_x = objective, to_x

    def __call__(self, z: np.ndarray) -> float:
        return self.objective(self.to_x(z))

    def minimize_natively(self, *args):
        """`GlmmObjective.minimize_natively` over z."""
        return self.objective.minimize_natively(*args, whitening=self.to_x)
