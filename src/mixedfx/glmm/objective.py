"""The GLMM objective: −2 × the Laplace (or adaptive Gauss–Hermite) approximation of the
marginal log-likelihood, as lme4's `glmer` devfun.

At the conditional mode û (PIRLS) with L the Cholesky factor of ΛᵀZᵀWZΛ + I,

    Laplace:  d = aic(μ̂) + ‖û‖² + log|L|²

where aic(μ) = −2 log p(y | μ) with all constants (R's `family$aic`). For one scalar
random-effects term, nAGQ > 1 replaces each level's Laplace factor by a quadrature with nodes
z_k and weights w_k of the standard normal, centred at û_j with scale s_j = 1/L_jj:

    d = Σ dev.resids(μ̂) + ‖û‖² + Σ_j log L_jj² − 2 Σ_j log Σ_k w_k exp(−Δg_jk/2 + z_k²/2),

Δg_jk the change of the level's deviance residuals plus u² when u_j moves to û_j + s_j z_k.
As in lme4's `glmerAGQ`, this sums deviance residuals, so it lacks the saturated model's
constant and is not comparable with the Laplace value.
"""

from __future__ import annotations

import copy
import math
from functools import cached_property

import numpy as np

from mixedfx.glmm import native_loop
from mixedfx.glmm.loop_state import DeferredState
from mixedfx.glmm.pirls import ROUNDING_PDEV, Pirls, PirlsError, PirlsState
from mixedfx.glmm.state import CanonicalState
from mixedfx.lmm.solution import solve

LAG_TOL = 1e-8   # reuse PIRLS's last factor when its weights are this close to the mode's


def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights integrating against the standard normal density (lme4's GHrule)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / np.sqrt(2 * np.pi)


class GlmmObjective:
    """Callable objective for stage 1 (θ; β updated in PIRLS) or stage 2 ((θ, β)).

    Each evaluation moves the warm start (`state`), so one is evaluated by one caller at a
    time: a fit builds its own, and a caller evaluating a fitted model's objective (which
    every call on the model shares) evaluates a `detached` copy."""

    #: `value_at` reads log|L|² of the factor at the modes' IRLS weights (a subclass with its
    #: own log-determinant sets False, so the compiled PIRLS does not form that factor)
    uses_laplace_factor = True
    #: (PIRLS step tolerance, with X): a compiled run (`minimize_natively`) also evaluates
    #: the objective at its end point with that step tolerance (and, with X, forms the
    #: whitening's L_XX⁻ᵀ there), kept as `end_record` for `native_loop.take_end`; None:
    #: not asked
    end_request: tuple[float, bool] | None = None
    end_record = None
    #: a compiled run's state not built yet (`native_loop`): `state` builds it when read
    deferred_state = None

    def __init__(self, pirls: Pirls, theta_templates, n_theta: int, nagq: int,
                 start: PirlsState | DeferredState) -> None:
        """`start`: the warm start, or a compiled run's state not built yet (built when
        `state` is first read)."""
        self.pirls = pirls
        self.templates = theta_templates
        self.n_theta = n_theta
        self.nagq = nagq
        if type(start) is DeferredState:
            self._state = None
            self.deferred_state = start
        else:
            self.state = start
        self.evaluations = 0
        self.lag_tol = LAG_TOL
        if nagq > 1:
            self.nodes, self.weights = gauss_hermite(nagq)

    @property
    def state(self) -> PirlsState:
        """The warm start: the state of the last evaluation whose value was finite (the one
        a compiled run left is built from the kernel's buffers when first read)."""
        deferred = self.deferred_state
        if deferred is not None:
            self.deferred_state = None
            self._state = deferred()
        return self._state

    @state.setter
    def state(self, value: PirlsState) -> None:
        self.deferred_state = None
        self._state = value

    def __getstate__(self) -> dict:
        """Pickled with its state built and without a compiled run's end record (both hold
        the kernel's bindings)."""
        _ = self.state
        d = self.__dict__
        return d if d.get("end_record") is None else {**d, "end_record": None}

    def detached(self) -> GlmmObjective:
        """A copy to evaluate beside this one (a fitted model's objective, profiled while
        other calls use the model): the same state and settings, then its own warm start
        (`state`, which each evaluation moves), counter and PIRLS scratch
        (`Pirls.detached`)."""
        _ = self.state          # built once, for both
        new = copy.copy(self)
        new.pirls = self.pirls.detached()
        return new

    def _solve_modes(self, theta: np.ndarray, beta: np.ndarray | None,
                     templates: list[np.ndarray] | None = None) -> PirlsState:
        if templates is None:
            templates = self.templates(theta)
        start = self.state
        u0 = self._carry_u(start, templates)
        native = self.pirls.native
        if native is not None:      # the compiled PIRLS evaluates its start itself
            b0 = start.beta if beta is None else beta
            # the Laplace factor at the mode's weights, when `value_at` would not reuse the
            # last iteration's, comes from the same kernel call
            refactor = self.lag_tol if self.uses_laplace_factor else math.inf
            try:
                return native.run(u0, b0, beta is None, templates, refactor)
            except PirlsError:
                return native.run([np.zeros_like(u) for u in u0], b0, beta is None, templates,
                                  refactor)
        if beta is not None or u0 is not start.u:
            start = self.pirls.evaluate(u0, start.beta if beta is None else beta, templates)
        try:
            return self.pirls.run(theta, start, beta is None, templates)
        except PirlsError:
            # retry from u = 0 (and the current β) before giving up
            fresh = self.pirls.evaluate([np.zeros_like(u) for u in start.u],
                                        start.beta if beta is None else beta, templates)
            return self.pirls.run(theta, fresh, beta is None, templates)

    def precise(self, step_tol: float = 1e-12) -> _Precise:
        """Evaluate with PIRLS run to rounding level and a fresh factor at the mode: a
        function smooth enough for finite-difference derivatives (warm starts otherwise leave
        path-dependent differences of order 1e-7). A context manager."""
        return _Precise(self, step_tol)

    def _carry_u(self, state: PirlsState, templates: list[np.ndarray]) -> list[np.ndarray]:
        """Warm start for new θ: keep the random effects b = Λu, so u ← T_new⁻¹ T_old u.

        b moves little between nearby θ while u = Λ⁻¹b rescales with them."""
        old = getattr(state, "templates", None)
        if old is None:
            return state.u
        out = []
        for u, T_old, T_new in zip(state.u, old, templates, strict=True):
            if T_new.shape[0] == 1:
                t = T_new.item()
                out.append(u * (T_old.item() / t) if t > 1e-10 else u)
            else:
                out.append(carry_block(u, T_old, T_new))
        return out

    # -- the compiled loop (`glmm.native_loop`): the same evaluations without Python -------
    def _compiled(self) -> bool:
        """Whether this objective evaluates as GlmmObjective does (a subclass with its own
        value or call is served by its Python code)."""
        cls = type(self)
        return cls.__call__ is GlmmObjective.__call__ and \
            cls.value_at is GlmmObjective.value_at and self.uses_laplace_factor

    def minimize_natively(self, algorithm: int, x0: np.ndarray, lower: np.ndarray,
                          upper: np.ndarray, xtol: float, ftol: float, maxeval: int,
                          step: np.ndarray | None, inf_limit: int, whitening=None):
        """NLopt run over this objective from compiled code (`optimize.native_run`), or
        None when the compiled loop cannot serve."""
        if not self._compiled():
            return None
        return native_loop.minimize(self, algorithm, x0, lower, upper, xtol, ftol, maxeval,
                                    step, inf_limit, whitening)

    def evaluate_many(self, points: np.ndarray) -> np.ndarray | None:
        """The objective at each row of `points`, in order (as successive calls), or None
        when the compiled loop cannot serve."""
        return native_loop.values(self, points) if self._compiled() else None

    def value_at(self, state: PirlsState, theta: np.ndarray, f=None) -> float:
        """The Laplace / AGQ objective at converged conditional modes (factor `f` of
        ΛᵀZᵀWZΛ + I at the modes' weights unless given)."""
        pirls = self.pirls
        # lag 0: the factor was formed at the modes' own weights (also when `precise`)
        if f is None and state.factor is not None and state.lag <= max(self.lag_tol, 0.0):
            f = state.factor
        if f is None and pirls.native is not None:
            f = pirls.native.factor(state, self.templates(theta))
            state.factor, state.chol, state.lag = f, None, 0.0
        elif f is None:
            chol, f, _ = pirls.factorize(state, theta, with_x=False)
            state.factor, state.chol, state.lag = f, chol, 0.0
        aic = pirls.minus2_loglik(state)
        if self.nagq <= 1:
            return aic + state.ussq + f.ldL2
        # lme4's glmerAGQ sums deviance residuals, not −2 log p(y|μ): no saturated constant
        return state.dev_resid_sum + state.ussq + self._agq_correction(state, theta, f)

    def _agq_correction(self, state: PirlsState, theta: np.ndarray, f) -> float:
        """Σ_j log L_jj² − 2 Σ_j log Σ_k w_k exp(−Δg_jk/2 + z_k²/2) (one scalar term)."""
        pirls = self.pirls
        term = pirls.terms[0]
        templates = self.templates(theta)
        Ljj = f.L11[:, 0, 0]
        if pirls.native is not None:
            return pirls.native.agq(state, templates, Ljj, self.nodes, self.weights)
        sd = 1.0 / Ljj
        u0 = state.u[0][:, 0]
        o = pirls.order                  # sums per level in the canonical row order
        codes = term.codes if o is None else term.codes[o]
        nl = term.n_levels

        def level_dev(u: np.ndarray) -> np.ndarray:
            eta = pirls.linear_predictor([u[:, None]], state.beta, templates)
            mu = pirls.family.link.linkinv(eta)
            per_obs = pirls.family.dev_resids(pirls.resp.y, mu, pirls.resp.wt)
            per_obs = per_obs if o is None else per_obs[o]
            return np.bincount(codes, weights=per_obs, minlength=nl) + u * u

        g0 = level_dev(u0)
        acc = np.zeros(nl)
        for z, w in zip(self.nodes, self.weights, strict=True):
            if z == 0:
                acc += w
                continue
            dg = level_dev(u0 + z * sd) - g0
            acc += w * np.exp(-dg / 2 + z * z / 2)
        return float(np.sum(2 * np.log(Ljj)) - 2 * np.sum(np.log(acc)))

    def __call__(self, x: np.ndarray) -> float:
        self.evaluations += 1
        theta = np.asarray(x[: self.n_theta], dtype=float)
        beta = None if len(x) == self.n_theta else np.asarray(x[self.n_theta:], dtype=float)
        templates = self.templates(theta)
        try:
            state = self._solve_modes(theta, beta, templates)
        except (PirlsError, np.linalg.LinAlgError, FloatingPointError, ValueError):
            # ValueError: scipy's finiteness checks on a factor with NaN weights
            return np.inf
        value = float(self.value_at(state, theta))
        if math.isfinite(value):
            state.templates = templates
            self.state = state
        elif math.isnan(value):
            return np.inf       # like a PIRLS failure: the optimizer steps back
        return value


class _Precise:
    """`GlmmObjective.precise`'s context: the settings while inside, restored on leaving
    (a class: a generator-based context manager costs several times more per fit)."""

    __slots__ = ("_obj", "_saved", "_step_tol")

    def __init__(self, obj: GlmmObjective, step_tol: float) -> None:
        self._obj, self._step_tol, self._saved = obj, step_tol, None

    def __enter__(self) -> None:
        obj = self._obj
        pirls = obj.pirls
        self._saved = pirls.step_tol, obj.lag_tol, pirls.stop_on_stagnation
        pirls.step_tol, obj.lag_tol, pirls.stop_on_stagnation = self._step_tol, -1.0, True

    def __exit__(self, *exc: object) -> None:
        obj = self._obj
        obj.pirls.step_tol, obj.lag_tol, obj.pirls.stop_on_stagnation = self._saved


def carry_block(u: np.ndarray, T_old: np.ndarray, T_new: np.ndarray) -> np.ndarray:
    """T_new⁻¹ T_old uₗ for each level's row uₗ of a k-column term: v = T_old u (columns
    summed in order), then forward substitution with the lower triangular T_new; u itself
    when T_new is singular (a zero diagonal entry). Elementwise operations in a fixed order,
    as the compiled loop computes it (`pirls_loop.h` carry_term), so both give the same bits
    whatever BLAS is loaded."""
    k = T_new.shape[0]
    if np.any(np.diag(T_new) == 0.0):
        return u
    v = []
    for a in range(k):
        acc = T_old[a, 0] * u[:, 0]
        for c in range(1, a + 1):
            acc = acc + T_old[a, c] * u[:, c]
        v.append(acc)
    w: list[np.ndarray] = []
    for a in range(k):
        s = v[a]
        for c in range(a):
            s = s - T_new[a, c] * w[c]
        w.append(s / T_new[a, a])
    return np.stack(w, axis=1)


class Lme4Devfun:
    """lme4's stage-2 `devfun` as it evaluates, for the Hessian behind vcov(β).

    lme4 restarts PIRLS at every evaluation from the stage-1 linear predictor, stops once the
    penalized deviance changes by less than 1e-7 (relative), and takes log|L|² from the factor
    of the last iteration, i.e. at the IRLS weights of the previous iterate. Near the optimum
    that is usually one step from the stage-1 state, which adds a smooth term of order 1e-4 to
    the objective and changes its curvature by about 1 %. lme4's standard errors come from the
    finite-difference Hessian of exactly this function (`vcov(m, use.hessian=TRUE)`), so it is
    reproduced here for that purpose only; the optimum itself is found on the exact objective.
    """

    def __init__(self, objective: GlmmObjective,
                 stage1: PirlsState | DeferredState, tol: float = 1e-7,
                 maxit: int = 100) -> None:
        """`stage1`: the stage-1 state, or the compiled run's not built (`DeferredState`:
        u and η read from the kernel's buffer, the state built only if η is read in the
        data's order)."""
        self.objective = objective
        self.pirls = objective.pirls
        self._stage1 = stage1       # its η: `lp0` and `eta0`, formed when first read
        self.u0 = [x.copy() for x in stage1.u]
        self.tol = tol
        self.maxit = maxit

    @cached_property
    def lp0(self) -> np.ndarray:
        """The stage-1 linear predictor without the offset, η₁ − offset."""
        return self._stage1.eta - self.pirls.offset

    @cached_property
    def eta0(self) -> np.ndarray:
        """offset + lp0, where every evaluation restarts (the data's row order)."""
        return self.pirls.offset + self.lp0

    def eta0_rows(self, order: np.ndarray | None, order_any: np.ndarray) -> np.ndarray:
        """`eta0` in the canonical row order `order` (None: the data's order), C-contiguous:
        from the stage-1 state's canonical rows while it holds them, offset_c + (η_c −
        offset_c) — elementwise, so `eta0` gathered, without the scatter and the gather."""
        if order is not None and "eta0" not in self.__dict__:
            rows = self._canonical_rows()
            if rows is not None:
                off_c = self.pirls.offset[order_any]
                return np.ascontiguousarray(off_c + (rows[0] - off_c), dtype=float)
        return np.ascontiguousarray(self.eta0 if order is None else self.eta0[order_any],
                                    dtype=float)

    def _canonical_rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The stage-1 state's (η, μ) in the canonical row order while it holds them."""
        s = self._stage1
        return s.canonical_rows() \
            if isinstance(s, (CanonicalState, DeferredState)) else None

    def eta1_rows(self, order: np.ndarray | None, order_any: np.ndarray) -> np.ndarray:
        """The stage-1 linear predictor η₁ in the canonical row order `order` (None: the
        data's order), C-contiguous: the stage-1 state's canonical rows while it holds
        them. The compiled post-optimum call forms `eta0_rows` from it, offset_c + (η₁ −
        offset_c) row by row: the same operations, the same bits."""
        if order is not None:
            rows = self._canonical_rows()
            if rows is not None:
                return np.ascontiguousarray(rows[0], dtype=float)
            return np.ascontiguousarray(self._stage1.eta[order_any], dtype=float)
        return np.ascontiguousarray(self._stage1.eta, dtype=float)

    def evaluate_many(self, points: np.ndarray) -> np.ndarray | None:
        """The devfun at each row of `points` in one compiled call, or None (then point by
        point)."""
        return native_loop.devfun_values(self, points) if self.objective._compiled() else None

    def __call__(self, x: np.ndarray) -> float:
        obj, pirls = self.objective, self.pirls
        theta = np.asarray(x[: obj.n_theta], dtype=float)
        beta = np.asarray(x[obj.n_theta:], dtype=float)
        templates = obj.templates(theta)
        eta = self.eta0
        if pirls.native is not None:
            state = pirls.native.devfun(templates, beta, eta, self.u0, self.tol, self.maxit)
            return np.inf if state is None else obj.value_at(state, theta, state.factor)
        cur = PirlsState(u=self.u0, beta=beta, eta=eta.copy(), mu=pirls.family.link.linkinv(eta),
                         dev_resid_sum=np.inf, ussq=0.0)
        old = np.finfo(float).max
        f = None
        for _ in range(self.maxit):
            try:
                chol, f, _ = pirls.factorize(cur, theta, with_x=False)
            except (PirlsError, np.linalg.LinAlgError, ValueError):
                return np.inf
            new = pirls.evaluate(solve(chol, f).u, beta, templates)
            k = 0
            while not np.isfinite(new.pdev) or new.pdev > old:
                k += 1
                if k > 20:
                    if np.isfinite(new.pdev) and new.pdev - old <= ROUNDING_PDEV * abs(old):
                        break       # an increase at rounding level: `cur` is the mode
                    return np.inf
                half = [(a + b) / 2 for a, b in zip(cur.u, new.u, strict=True)]
                new = pirls.evaluate(half, beta, templates)
            done = abs((old - new.pdev) / new.pdev) < self.tol
            cur, old = new, new.pdev
            if done:
                return obj.value_at(cur, theta, f)
        return np.inf
