"""Penalized iteratively reweighted least squares (PIRLS) for the conditional modes.

At fixed θ (and β, unless β is updated too), iterate: with η = offset + Xβ + ZΛu and
μ = g⁻¹(η), the IRLS weights W = wt (dμ/dη)² / V(μ) and working response
z = η − offset + (y − μ)/(dμ/dη); solve the penalized weighted least squares problem

    min ‖W^½ (z − Xβ − ZΛu)‖² + ‖u‖²

with the blocked factorization of the LMM engine; halve the step while the penalized deviance
Σ dev.resids + ‖u‖² increases (lme4's `pwrssUpdate`). PIRLS is Newton's method for the modes,
so it stops once a step changes no u or β by more than `step_tol` (relative): the next step
would be at rounding level. When the step just solved for is that small, the iterate it starts
from is taken as the mode, with the factor formed at its own weights (lag 0), and the step is
not evaluated; when an evaluated step (after halvings) is that small, the new iterate is the
mode and the factor of that last iteration, at weights one tiny step away, is kept with the
state (its log-determinant differs by O(step_tol)).
"""

from __future__ import annotations

import copy
import math
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from mixedfx.errors import ArgumentError, PirlsError
from mixedfx.families import Family
from mixedfx.frame.terms import RandomEffectsTerm
from mixedfx.glmm.likelihood_sums import likelihood_sums
from mixedfx.glmm.pirls_native import NativePirls, for_model
from mixedfx.glmm.response import GlmResponse
from mixedfx.glmm.state import PirlsState
from mixedfx.lmm.crossproducts import CrossProductBuilder
from mixedfx.lmm.factorization import BlockedCholesky, Factorization
from mixedfx.lmm.row_order import canonical_order, lexicographic_order, permuted_terms, row_keys
from mixedfx.lmm.solution import solve
from mixedfx.lmm.weighted_gram import WeightedGram
from mixedfx.native import kernel

__all__ = ["Pirls", "PirlsError", "PirlsState"]


def _max_rel_change(old: list[np.ndarray], new: list[np.ndarray]) -> float:
    """max |new − old| / (1 + max |new|) over the blocks."""
    out = 0.0
    for a, b in zip(old, new, strict=True):
        if b.size:
            out = max(out, float(np.max(np.abs(b - a))) / (1.0 + float(np.max(np.abs(b)))))
    return out


def _step(state: PirlsState, u: list[np.ndarray], beta: np.ndarray, with_beta: bool) -> float:
    """The relative step from `state` to (u, β) (`_max_rel_change` over u's blocks, and β
    when it is updated); NaN when any entry is NaN."""
    step = max(_max_rel_change(state.u, u),
               _max_rel_change([state.beta], [beta]) if with_beta else 0.0)
    if not np.isfinite(step) or not all(np.all(np.isfinite(x)) for x in u) or \
            (with_beta and not np.all(np.isfinite(beta))):
        return np.nan
    return step


def has_loglik_kernel(family: Family) -> bool:
    """Whether the family splits its log-likelihood (`Family.kernel`): that depends on the
    family only, so one row is probed, once per family (a Family is frozen)."""
    try:
        return _has_kernel(family)
    except TypeError:                   # a family holding unhashable fields
        return _has_kernel.__wrapped__(family)


@lru_cache(maxsize=64)
def _has_kernel(family: Family) -> bool:
    return family.kernel(np.array([0.5]), np.array([0.5]), np.array([1.0])) is not None


#: step halvings before giving up (lme4's pwrssUpdate allows 10; with NumPy 1.26's rounding
#: the underdispersed negative-binomial reference fit of tests/glmm needs more)
MAX_STEP_HALVINGS = 30
#: a deviance increase this small (relative) after all halvings is rounding, not divergence
ROUNDING_PDEV = 1e-10
#: IRLS iterations of the starting GLM (R's glm.fit: 25; its deviance test stops it sooner)
GLM_MAXIT = 50


class Pirls:
    """PIRLS for one model: X, terms, family, response, offset."""

    #: stop once a full Newton step gains nothing (set while evaluating to rounding level for
    #: derivatives, where the deviance can only wander in its last digits)
    stop_on_stagnation: bool = False
    #: the model's canonical row order (`lmm.row_order`): every sum over the rows (deviance,
    #: log-likelihood constants, cross-products, the starting GLM) runs in it, so the fit does
    #: not depend on the order of the data's rows; row-wise arrays (η, μ) stay in the data's
    order: np.ndarray | None = None
    #: the compiled PIRLS (`glmm.pirls_native`) when built and serving the model, else None
    #: (subclasses that replace the row computations keep None)
    native: NativePirls | None = None
    #: whether `order` is the identity, when the compiled row sort said so (else None)
    _order_identity: bool | None = None
    #: (response, y, weights) with y and the weights in the canonical row order
    #: (`_likelihood_sums`), or None
    _resp_o: tuple[GlmResponse, np.ndarray, np.ndarray] | None = None
    #: the model has no offset (`offset` holds zeros)
    _no_offset: bool = False

    def __init__(self, X: np.ndarray, terms: list[RandomEffectsTerm], family: Family,
                 resp: GlmResponse, offset: np.ndarray | None, tol: float = 1e-15,
                 maxit: int = 100, step_tol: float = 1e-9) -> None:
        self.X = X
        self.terms = terms
        self.family = family
        self.resp = resp
        self.offset = np.zeros(len(resp.y)) if offset is None else offset
        self._no_offset = offset is None    # (its zeros in any row order are zeros)
        self.tol = tol
        self.maxit = maxit
        self.step_tol = step_tol
        self.native = for_model(self)       # reads neither the order nor the sums until used
        # without an offset its zeros are no key: a constant key never breaks a tie, so the
        # order is the one with it
        self.order, self._order_identity = canonical_order(
            None if self.native is None else kernel("pirls"), terms, X, resp.y, resp.n,
            resp.wt, offset)
        o = self.order
        self._sat = None
        self._grams: dict[bool, WeightedGram] = {}
        # X[o]: the same rows, without the 2-d fancy index (the method: np.take's dispatch
        # costs twice the gather)
        self._X_o = X.take(o, axis=0) if type(X) is np.ndarray else np.take(X, o, axis=0)
        if has_loglik_kernel(family):
            self._likelihood_sums(resp)

    def _likelihood_sums(self, resp: GlmResponse) -> None:
        """The saturated log-likelihood's sum and lme4's AIC constant
        (`glmm.likelihood_sums`: in the compiled kernel with the compiled PIRLS, else by the
        family's functions; `_sat` then marks that the family splits its log-likelihood),
        from y, the trials and the weights gathered into the canonical order once (`_resp_o`:
        the compiled kernel's model takes y and the weights in that order too). The family's
        functions are elementwise, so the rows' values are those of the data's order
        gathered; the sums run in the canonical order."""
        o = self.order
        y_o, n_o, wt_o = resp.y[o], resp.n[o], resp.wt[o]
        self._resp_o = (resp, y_o, wt_o)
        lib = None if self.native is None else kernel("pirls")
        self._sat_sum, self.aic_constant = likelihood_sums(self.family, y_o, n_o, wt_o, lib)
        self._sat = True

    def canonical_response(self) -> tuple[np.ndarray, np.ndarray] | None:
        """y and the weights of the current response in the canonical row order, when
        `_likelihood_sums` gathered them for it, else None."""
        gathered = self._resp_o
        return None if gathered is None or gathered[0] is not self.resp else gathered[1:]

    def with_response(self, resp: GlmResponse) -> Pirls:
        """This model's PIRLS for another response y* with the same trials and weights (a
        refit, a bootstrap replicate), equal to `Pirls(X, terms, family, resp, offset, ...)`.
        When the grouping codes, term values and X alone tell every row apart, the canonical
        order cannot depend on y, so the y-free pieces are shared — the order, X in it, the
        cross-product builders, the compiled kernel's structure — and only y's sums (the
        saturated log-likelihood, lme4's AIC constant) are recomputed; else a new engine."""
        same = (np.array_equal(resp.n, self.resp.n) and np.array_equal(resp.wt, self.resp.wt)
                and np.array_equal(resp.prior_weights, self.resp.prior_weights))
        if not same or not self._order_free_of_y:
            return Pirls(self.X, self.terms, self.family, resp, self.offset, self.tol,
                         self.maxit, self.step_tol)
        new = copy.copy(self)
        new.resp, new._grams, new._sat, new._resp_o = resp, {}, None, None
        if self._sat is not None:           # the family has a kernel, whatever y is
            new._likelihood_sums(resp)
        new.native = None if self.native is None else self.native.for_response(new)
        return new

    def detached(self) -> Pirls:
        """This engine for a caller that runs beside others on the same model (a profile of
        a fitted model): the same numbers, with its own Grams (`_gram_for` refreshes them in
        place), iteration settings and compiled-kernel binding; everything else is shared,
        read only."""
        new = copy.copy(self)
        new._grams = {}
        new.native = None if self.native is None else self.native.for_response(new)
        return new

    @cached_property
    def _order_free_of_y(self) -> bool:
        """Whether the rows are told apart before the response key (then the canonical order
        is the same for every y)."""
        return bool(lexicographic_order(row_keys(self.terms, self.X, ()))[1].all())

    def xbeta(self, beta: np.ndarray) -> np.ndarray:
        """Xβ in the data's row order, computed over the rows in the canonical order: a BLAS
        kernel may round a row's dot product differently by its position in the block it
        processes (vector body or scalar tail), so the position must not follow the data."""
        if self.order is None:
            return self.X @ beta
        out = np.empty(self.X.shape[0])
        out[self.order] = self._X_o @ beta
        return out

    @cached_property
    def _builders(self) -> dict[bool, CrossProductBuilder]:
        """Cross-product builders over the canonical rows, with X (β updated) and without,
        built when the NumPy factorization is first needed (the compiled PIRLS has its own)."""
        terms_o = permuted_terms(self.terms, self.order)
        return {True: CrossProductBuilder(terms_o, self._X_o),
                False: CrossProductBuilder(terms_o, np.zeros((len(self.resp.y), 0)))}

    def row_sum(self, v: np.ndarray) -> float:
        """Σᵢ vᵢ over the rows, in the canonical order."""
        return float(np.sum(v if self.order is None else np.asarray(v)[self.order]))

    def crossproducts(self, with_x: bool, resp: np.ndarray, sqrt_w: np.ndarray) -> Any:
        """[Z X r]ᵀ W [Z X r] (X only when `with_x`) for a working response r and √W
        given in the data's row order."""
        o = self.order
        return self._builders[with_x].compute(resp[o], sqrt_w[o])

    # -- pieces ---------------------------------------------------------------------------
    def linear_predictor(self, u: list[np.ndarray], beta: np.ndarray,
                         templates: list[np.ndarray]) -> np.ndarray:
        eta = self.offset + self.xbeta(beta)
        for t, ut, T in zip(self.terms, u, templates, strict=True):
            eta = eta + t.row_effects(ut @ T.T)
        return eta

    def evaluate(self, u: list[np.ndarray], beta: np.ndarray, templates: list[np.ndarray],
                 eta: np.ndarray | None = None) -> PirlsState:
        """The state at (u, β); `eta`: the linear predictor at them when known (a saved
        model's, equal to PIRLS's last update to rounding), else computed."""
        if self.native is not None:
            return self.native.evaluate(u, beta, templates, eta)
        if eta is None:
            eta = self.linear_predictor(u, beta, templates)
        mu = self.family.link.linkinv(eta)
        ussq = float(sum(np.sum(x * x) for x in u))
        if self._sat is not None:
            kern = self.row_sum(self.family.kernel(self.resp.y, mu, self.resp.wt))
            dev = 2.0 * (self._sat_sum - kern)
            return PirlsState(u=u, beta=beta, eta=eta, mu=mu, dev_resid_sum=dev, ussq=ussq,
                              loglik_kernel=kern)
        dev = self.row_sum(self.family.dev_resids(self.resp.y, mu, self.resp.wt))
        return PirlsState(u=u, beta=beta, eta=eta, mu=mu, dev_resid_sum=dev, ussq=ussq)

    def minus2_loglik(self, state: PirlsState) -> float:
        """−2 log p(y | μ) with all constants (R's `family$aic` at the state's μ)."""
        if self._sat is not None and state.loglik_kernel is not None:
            return self.aic_constant - 2.0 * state.loglik_kernel
        o, r = self.order, self.resp
        return self.family.aic(r.y[o], r.n[o], state.mu[o], r.wt[o], state.dev_resid_sum)

    def weights(self, state: PirlsState) -> tuple[np.ndarray, np.ndarray]:
        """IRLS weights W and working response z − offset at the state's μ."""
        if self.family.canonical:
            # dμ/dη = V(μ): W = wt V(μ), and no inverse-link derivative to evaluate
            mu_eta = np.maximum(self.family.variance(state.mu), np.finfo(float).eps)
            W = self.resp.wt * mu_eta
        else:
            mu_eta = self.family.link.mu_eta(state.eta)
            W = self.resp.wt * mu_eta * mu_eta / self.family.variance(state.mu)
        z = state.eta - self.offset + (self.resp.y - state.mu) / mu_eta
        return W, z

    def factorize(self, state: PirlsState, theta: np.ndarray, with_x: bool
                  ) -> tuple[BlockedCholesky, Factorization, np.ndarray]:
        """Blocked factor of Λᵀ Zᵀ W Z Λ + I (with X when `with_x`) at the state's weights.

        Returns the factorization and the working response it was built with."""
        W, z = self.weights(state)
        resp = z if with_x else z - self.xbeta(state.beta)
        xp = self.crossproducts(with_x, resp, np.sqrt(W))
        chol = BlockedCholesky(self.terms, xp, gram=self._gram_for(with_x, xp.B))
        f = chol.factorize(theta)
        if f is None:
            raise PirlsError("the penalized weighted system is not positive definite")
        return chol, f, z

    def _gram_for(self, with_x: bool, B: np.ndarray | object) -> WeightedGram | None:
        """The weighted Gram of a sparse B, refreshed in place when only B's values changed
        (its pair structure is fixed by the terms, so rebuilding it each step is wasted)."""
        if isinstance(B, np.ndarray):
            return None
        gram = self._grams.get(with_x)
        if gram is None or not gram.refresh(B):
            first = self.terms[0]
            gram = WeightedGram(B, first.k, first.n_levels, refreshable=True)
            self._grams[with_x] = gram
        return gram

    # -- the iteration ----------------------------------------------------------------------
    def run(self, theta: np.ndarray, start: PirlsState, update_beta: bool,
            templates: list[np.ndarray]) -> PirlsState:
        """Conditional modes u (and β when `update_beta`) at θ from a starting state."""
        if self.native is not None:
            return self.native.run(start.u, start.beta, update_beta, templates)
        state = start
        old = state.pdev if np.isfinite(state.pdev) else np.inf
        for it in range(1, self.maxit + 1):
            chol, f, _ = self.factorize(state, theta, update_beta)
            sol = solve(chol, f)
            beta = sol.beta if update_beta else state.beta
            if np.isfinite(state.pdev) and self.family.validmu(state.mu) and \
                    _step(state, sol.u, beta, update_beta) <= self.step_tol:
                # Newton's step from `state` is below the tolerance: `state` is the mode and
                # f, formed at its weights, its factor (lag 0); the step is not evaluated
                state = copy.copy(state) if it == 1 else state     # not the caller's start
                state.factor, state.chol, state.lag = f, chol, 0.0
                state.iterations = it - 1
                return state
            new = self.evaluate(sol.u, beta, templates)
            k = 0
            while not (np.isfinite(new.pdev) and self.family.validmu(new.mu)) \
                    or new.pdev > old * (1 + 1e-12):
                k += 1
                if k > MAX_STEP_HALVINGS:
                    if it > 1 and np.isfinite(new.pdev) and self.family.validmu(new.mu) \
                            and new.pdev - old <= ROUNDING_PDEV * abs(old):
                        # a step 2⁻³⁰ of Newton's cannot lower the deviance past rounding:
                        # `state` is the mode, and f its factor
                        state.factor, state.chol, state.lag = f, chol, 0.0
                        return state
                    raise PirlsError("PIRLS step-halvings failed to reduce deviance in "
                                     "pwrssUpdate")
                u_half = [(a + b) / 2 for a, b in zip(state.u, new.u, strict=True)]
                b_half = (state.beta + new.beta) / 2 if update_beta else state.beta
                new = self.evaluate(u_half, b_half, templates)
            step = _step(state, new.u, new.beta, update_beta)
            change = abs(old - new.pdev)
            converged = step <= self.step_tol or \
                change <= self.tol * max(abs(new.pdev), 1e-300) or \
                (self.stop_on_stagnation and it > 1 and new.pdev >= old)
            state = new
            state.iterations = it
            if converged:
                state.factor, state.chol, state.lag = f, chol, step
                return state
            old = state.pdev
        raise PirlsError(f"pwrssUpdate did not converge in {self.maxit} iterations")

    def initial_state(self, templates: list[np.ndarray] | None,
                      evaluate: bool = True) -> PirlsState:
        """u = 0 and β from an IRLS fit of the GLM without random effects (R's glm.fit):
        in the compiled kernel (Householder least squares) when it serves, else here (least
        squares by SVD, which also takes a rank-deficient weighted X); `templates`: Λ's at
        the start θ. `evaluate=False` with the compiled PIRLS: η, μ and the deviance at
        (0, β) are left out (None, None, NaN) — the kernel starts from u and β alone and
        evaluates its start itself — and the templates are not read (None will do)."""
        fam, resp = self.family, self.resp
        p = self.X.shape[1]
        beta = None
        # canonical links only: IRLS is Newton's method there, so the two least-squares
        # routes end at the same β to rounding (elsewhere its deviance test can stop them
        # an iteration apart, ~1e-6 away)
        if self.native is not None and fam.canonical:
            beta = self.native.canonical_start(GLM_MAXIT)
        if beta is not None:
            return self._start_state(beta, templates, evaluate)
        mu = fam.mustart(resp.y, resp.wt)
        eta = fam.link.linkfun(mu)
        beta = np.zeros(p)
        dev_old = np.inf
        for _ in range(GLM_MAXIT):
            mu_eta = fam.link.mu_eta(eta)
            w = resp.wt * mu_eta**2 / fam.variance(mu)
            z = eta - self.offset + (resp.y - mu) / mu_eta
            sw = np.sqrt(w)
            if not (np.all(np.isfinite(sw)) and np.all(np.isfinite(z))):
                # LAPACK's SVD would fail (and print DLASCL messages to stdout)
                raise PirlsError("PIRLS loop resulted in NaN value while computing the "
                                 f"starting values (the {fam.name} family with "
                                 f"{fam.link.name} link gives non-finite working weights "
                                 "for this response)")
            try:
                o = self.order
                beta, *_ = np.linalg.lstsq(self.X[o] * sw[o, None], z[o] * sw[o], rcond=None)
            except np.linalg.LinAlgError as exc:
                raise PirlsError(f"the GLM fit for the starting values failed ({exc}); "
                                 "rescale the covariates") from None
            eta = self.offset + self.xbeta(beta)
            mu = fam.link.linkinv(eta)
            dev = self.row_sum(fam.dev_resids(resp.y, mu, resp.wt))
            if abs(dev - dev_old) <= 1e-10 * (abs(dev) + 0.1):
                break
            dev_old = dev
        return self._start_state(beta, templates, evaluate)

    def _start_state(self, beta: np.ndarray, templates: list[np.ndarray] | None,
                     evaluate: bool) -> PirlsState:
        """The state at u = 0 and β (see `initial_state`)."""
        u = [np.zeros((t.n_levels, t.k)) for t in self.terms]
        if evaluate or self.native is None:
            if templates is None:
                raise ArgumentError("initial_state: templates=None needs evaluate=False and "
                                    "the compiled PIRLS (the start is evaluated otherwise)")
            return self.evaluate(u, beta, templates)
        return PirlsState.from_fields(u=u, beta=beta, eta=None, mu=None,
                                      dev_resid_sum=math.nan, ussq=0.0)
