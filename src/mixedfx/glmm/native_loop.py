"""The GLMM objective's optimizer runs and derivative points in compiled code.

One compiled PIRLS solve of a small GLMM takes a few microseconds; reaching it from NLopt
through Python (the `nlopt` package's callback, the driver's guard, `GlmmObjective.__call__`,
the kernel's argument handling) costs several times that, for each of the 60–90 evaluations
of a glmer fit and the 20–30 of its derivatives. The kernel's loop entry points
(`mixedfx._native.pirls`, `pirls_loop.h`) remove these calls:

- `minimize`: NLopt's optimizer run from C over the objective of stage 1 (x = θ, β updated
  inside PIRLS) or stage 2 (x = (θ, γ), β = β₁ + Mγ: `whitening.Whitening`); on request
  (`GlmmObjective.end_request`) the run also evaluates the objective once more at its end
  point with stage 2's PIRLS step tolerance and forms the whitening's L_XX⁻ᵀ there, which
  `take_end` hands to `fit_glmm` when that is the evaluation it would make next;
- `values`: the objective at each row of a matrix of points, in order (the central
  gradient at the optimum);
- `devfun_values`: lme4's stage-2 devfun (`objective.Lme4Devfun`) at each row (the forward
  Hessian behind vcov(β));
- `post_optimum`: the value at the optimum, the central gradient and the devfun's forward
  Hessian in one call, their points and differences formed in C.

Each evaluates exactly as the Python objective does — the same templates, the same warm
start carried from the last finite evaluation (u ← T_new⁻¹T_old u), the same PIRLS calls and
retry from u = 0, the same value — so NLopt takes the same path and the fit has the same
bits; at the end the objective holds the state the Python loop would have left (built from
the kernel's buffer when first read: `GlmmObjective.state`, `DeferredState`). The loop
serves the models whose Λ is a 0/1 map of θ (lme4's unstructured and the diagonal
structures) and whose −2 log p(y | μ) the kernel computes (binomial, Poisson, negative
binomial; any family with nAGQ > 1); otherwise, and when NLopt's C functions cannot be found
or a run meets a case only Python handles, these return None and the Python loop serves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np

from mixedfx.glmm.kernel_layout import LOOP_MAX_TERMS
from mixedfx.glmm.loop_state import DeferredState, carve, state_of, state_parts
from mixedfx.glmm.state import PirlsState
from mixedfx.native import kernel
from mixedfx.optimize.derivatives import DERIV12_DELTA
from mixedfx.optimize.native_run import RunRecord, nlopt_addresses

# the kernel's x layouts (pirls_loop.h: X_THETA, X_WHITENED, X_THETA_BETA)
X_THETA, X_WHITENED, X_THETA_BETA = 1, 2, 3
LOOP_PYTHON = 5     # a case only the Python objective handles: run it there
#: the most terms a loop call takes (the kernel holds the model's 10 + 2 per term and up to
#: 32 buffers of the call's own, pirls.c: MAXBUF; a loop call uses 22). Models with more terms
#: than this fit in the Python loop, each PIRLS solve still compiled up to pirls.c's MAXT.
#: (`kernel_layout._Shape.loop_terms` reads it there.)
MAX_TERMS = LOOP_MAX_TERMS


@lru_cache(maxsize=1)
def _bind() -> ModuleType | None:
    """The pirls kernel with NLopt's C functions bound, or None."""
    mod = kernel("pirls")
    if mod is None or not hasattr(mod, "loop_minimize"):
        return None
    addresses = nlopt_addresses()
    if addresses is None:
        return None
    mod.loop_bind_nlopt(addresses)
    return mod


def _loop_kernel() -> ModuleType | None:
    mod = kernel("pirls")
    return mod if mod is not None and hasattr(mod, "loop_values") else None


def served(obj: Any) -> bool:
    """Whether the compiled loop evaluates this objective as `GlmmObjective.__call__` does:
    the compiled PIRLS serves the model, Λ is a 0/1 map of θ, and the value needs no
    Python (the family's log-likelihood kernel, or nAGQ > 1)."""
    pirls = obj.pirls
    nat = pirls.native
    return (nat is not None and nat.shape().loop_terms
            and (obj.nagq > 1 or pirls._sat is not None))


class _Loop:
    """The kernel's arguments for one objective at its current settings and state."""

    def __init__(self, obj: Any, xmap: int, whitening: Any = None) -> None:
        pirls = obj.pirls
        nat = pirls.native
        self.obj, self.nat, self.xmap = obj, nat, xmap
        self.shape = sh = nat.shape()
        n_theta = obj.n_theta
        self.tmap = sh.tmap
        self.nx = n_theta + (0 if xmap == X_THETA else sh.p)
        beta1 = M = nodes = weights = None
        if whitening is not None:
            beta1 = np.ascontiguousarray(whitening.beta1, dtype=float)
            M = np.ascontiguousarray(whitening.M, dtype=float)
        if obj.nagq > 1:
            nodes = np.ascontiguousarray(obj.nodes, dtype=float)
            weights = np.ascontiguousarray(obj.weights, dtype=float)
        # pirls_loop.h's loop_parse: the settings as Python numbers, then the arrays
        # (the flags as objects, read by their truth; the tolerances as numbers, read as
        # float() reads them)
        self.spec = (self.nx, n_theta, xmap, int(obj.nagq), int(pirls.maxit),
                     pirls.stop_on_stagnation, obj.uses_laplace_factor,
                     pirls.aic_constant if pirls._sat is not None else 0.0,
                     obj.lag_tol, pirls.step_tol, pirls.tol,
                     self.tmap, beta1, M, nodes, weights)
        self.placeholders = sh.placeholders
        self.model = nat.model()

    def start(self, state: PirlsState | None = None) -> tuple:
        """The carried state in the kernel's layout: u, β and Λ's templates (None before
        the first finite evaluation); state None: the objective's, read from the buffers
        of a compiled run that left it (`DeferredState`) while it is not built."""
        if state is None:
            deferred = self.obj.deferred_state
            if deferred is not None:
                out, cuts = deferred.out, self.shape.cuts
                return (out[cuts[0]], out[cuts[1]], out[cuts[5]])
            state = self.obj.state
        T = state.templates
        if T is None:
            packed = None
        elif len(T) == 1:               # one term: its template, C-contiguous float64
            packed = np.ascontiguousarray(T[0], dtype=float).reshape(-1)
        else:
            packed = np.ascontiguousarray(np.concatenate([np.ravel(t) for t in T]), dtype=float)
        return (self.nat._u_in(state.u), np.ascontiguousarray(state.beta, dtype=float), packed)

    def out(self) -> np.ndarray:
        """A buffer for a state the kernel leaves (`loop_state_out`): u, β, η, μ (canonical
        row order), L₁₁ and Λ's templates, one after the other (`parts`)."""
        return np.empty(self.out_size())

    def out_size(self) -> int:
        """The length of a state buffer (`out`)."""
        sh = self.shape
        nl, k, _ = sh.l11
        return sh.q + sh.p + 2 * sh.n + nl * k * k + len(self.tmap)

    def parts(self, out: np.ndarray) -> tuple:
        """(u, β, η, μ, L₁₁, templates): views of a state buffer (`out`)."""
        return state_parts(self.shape, out)

    def adopt(self, out: np.ndarray, scalars: tuple | None, evaluations: int,
              defer: bool = False) -> None:
        """The objective takes the state the run left (as its Python loop would have);
        `defer`: built only when read (`GlmmObjective.state`)."""
        obj = self.obj
        obj.evaluations += evaluations
        if scalars is None:
            return
        if defer:
            obj.deferred_state = DeferredState(self, out, scalars)
        else:
            obj.state = self.state_of(out, scalars)

    def state_of(self, out: np.ndarray, scalars: tuple) -> PirlsState:
        """The state in a run's buffer (`out`) and scalars."""
        return state_of(self.nat, self.shape, out, scalars)


def minimize(obj: Any, algorithm: int, x0: np.ndarray, lower: np.ndarray, upper: np.ndarray,
             xtol: float, ftol: float, maxeval: int, step: np.ndarray | None, inf_limit: int,
             whitening: Any = None) -> RunRecord | None:
    """NLopt's `algorithm` from x0 within [lower, upper] over the objective (x = θ in stage
    1; x = (θ, γ) through `whitening` in stage 2), with the driver's settings; None when the
    compiled loop cannot serve (the objective is then untouched). The whitening remembers
    the run's end point mapped to (θ, β) (`Whitening.remember`).

    With the objective's `end_request` = (step_tol, with_x) set (x = θ or (θ, β)), a run that
    ends with success also evaluates the objective once more at its end point x with PIRLS's
    step tolerance `step_tol`, with the whitening's L_XX⁻ᵀ from the factor with X there when
    `with_x` (`whitening.whitening`), and keeps it as the objective's `end_record` for `take_end`
    (the objective itself holds the run's state)."""
    mod = _bind()
    if mod is None or not served(obj):
        return None
    x = np.array(x0, dtype=float)
    if len(x) == obj.n_theta:
        xmap = X_THETA
    else:
        xmap = X_THETA_BETA if whitening is None or whitening.M is None else X_WHITENED
    loop = _Loop(obj, xmap, whitening if xmap == X_WHITENED else None)
    if len(x) != loop.nx:
        return None
    best, bad = np.empty(x.shape), np.empty(x.shape)
    request = obj.end_request if xmap != X_WHITENED else None
    # the state the run leaves and (stage 1) the end evaluation's, from one allocation (the
    # points that become results keep arrays of their own: their alignment is a fresh
    # array's, as BLAS may see them)
    if request is not None:
        out, end_out = carve(*[loop.out_size()] * 2)
    else:
        out = loop.out()
    args = (loop.model, loop.placeholders, loop.spec, loop.start(), int(algorithm), x,
            np.ascontiguousarray(lower, dtype=float), np.ascontiguousarray(upper, dtype=float),
            float(xtol), float(ftol), int(maxeval),
            None if step is None else np.ascontiguousarray(step, dtype=float), int(inf_limit),
            best, bad, out)
    if xmap == X_WHITENED:
        # NLopt's point mapped to (θ, β) too: the whitening's value there, without Python
        mapped = np.empty(len(x))
        code, fx, evals, best_f, stop, scalars, end = mod.loop_minimize(*args, None, mapped)
    elif request is None:
        code, fx, evals, best_f, stop, scalars = mod.loop_minimize(*args)
        end = None
    else:
        p = loop.shape.p
        M = np.empty((p, p)) if request[1] and p else None
        code, fx, evals, best_f, stop, scalars, end = mod.loop_minimize(
            *args, (float(request[0]), end_out, M))
    if stop == LOOP_PYTHON:
        return None
    if xmap == X_WHITENED:
        whitening.remember(x, mapped)
    loop.adopt(out, scalars, evals, defer=True)
    if request is not None:
        obj.end_record = None if end is None else \
            EndRecord(loop, x, end_out, end, M, float(request[0]))
    return RunRecord(code=code, x=x, fx=fx, best_x=best if best_f < math.inf else None,
                     best_f=best_f, stop=stop, bad_x=bad, evaluations=evals)


class EndRecord:
    """The objective at a compiled run's end point x, evaluated by the run (`minimize` with
    the objective's `end_request`) after the state it left: its value, state (built when
    taken) and, when asked, the whitening's M = L_XX⁻ᵀ from the factor with X at that state
    (`whitening.whitening`'s, from `NativePirls.factor(state, templates, with_x=True)`: the same
    bits; None when not asked, or when that factor is degenerate and `whitening` decides)."""

    __slots__ = ("M", "before", "evaluations", "loop", "out", "scalars", "settings", "value",
                 "x")

    def __init__(self, loop: _Loop, x: np.ndarray, out: np.ndarray, end: tuple,
                 M: np.ndarray | None, step_tol: float) -> None:
        obj = loop.obj
        self.loop, self.x, self.out = loop, x, out
        self.value, self.scalars, status = end
        self.M = M if status == 0 else None
        # what makes the evaluation the objective's next one at x: nothing evaluated since
        # (the count and the state the run left) and the settings it ran with
        self.evaluations, self.before = obj.evaluations, obj.deferred_state
        self.settings = _settings(obj, step_tol)


    def lend(self, other: Any) -> None:
        """`other`, an objective whose state is the one taken (`take_end`), starts its
        compiled runs from this record's buffer (`_Loop.start` packs nothing); its `state`
        is that same state object (or, when it was started from the taken state not built
        yet, `pending()`, that one built when read)."""
        deferred = other.deferred_state
        if deferred is not None and deferred.out is self.out:
            return
        other.deferred_state = DeferredState(self.loop, self.out, self.scalars, other.state)

    def pending(self) -> DeferredState:
        """The state taken (`take_end`) as the objective holds it, not built: what
        `GlmmObjective(..., start)` and `Lme4Devfun` read of it comes from this buffer."""
        deferred = self.loop.obj.deferred_state
        if deferred is None or deferred.out is not self.out:
            deferred = DeferredState(self.loop, self.out, self.scalars, self.loop.obj.state)
        return deferred


def _settings(obj: Any, step_tol: float) -> tuple:
    """The settings an evaluation of the objective runs with (PIRLS's step tolerance given)."""
    pirls = obj.pirls
    return (step_tol, obj.lag_tol, pirls.stop_on_stagnation, pirls.maxit, pirls.tol,
            obj.uses_laplace_factor, obj.nagq)


def take_end(obj: Any, x: np.ndarray) -> EndRecord | None:
    """`obj(x)` from the evaluation its last compiled run made at its end point, when that is
    the evaluation `obj(x)` would make now — the run's end point is x, nothing was evaluated
    since, and the settings are those it ran with (PIRLS's step tolerance now): the objective
    takes its state and counts it, and the record (value, `M`) is returned. Otherwise None
    (the caller evaluates). Either way the request and the record are cleared."""
    rec = obj.end_record
    obj.end_request = obj.end_record = None
    if rec is None or rec.loop.obj is not obj or obj.evaluations != rec.evaluations or \
            rec.before is None or obj.deferred_state is not rec.before or \
            _settings(obj, obj.pirls.step_tol) != rec.settings or \
            not (x is rec.x or np.asarray(x, dtype=float).tobytes() == rec.x.tobytes()):
        return None
    rec.loop.adopt(rec.out, rec.scalars, 1, defer=True)
    return rec


def values(obj: Any, points: np.ndarray) -> np.ndarray | None:
    """The objective at each row of `points` ((θ, β), or θ alone at nAGQ = 0), in order, as
    successive calls would give them, leaving the objective in the same state; None when the
    compiled loop cannot serve (the objective is then untouched)."""
    mod = _loop_kernel()
    if mod is None or not served(obj):
        return None
    points = np.ascontiguousarray(points, dtype=float)
    xmap = X_THETA if points.shape[1] == obj.n_theta else X_THETA_BETA
    loop = _Loop(obj, xmap)
    if points.shape[1] != loop.nx:
        return None
    vals = np.empty(points.shape[0])
    out = loop.out()
    evals, stop, scalars = mod.loop_values(loop.model, loop.placeholders, loop.spec,
                                           loop.start(), points, vals, out)
    if stop == LOOP_PYTHON:
        return None
    loop.adopt(out, scalars, evals, defer=True)
    return vals


def devfun_values(devfun: Any, points: np.ndarray) -> np.ndarray | None:
    """lme4's stage-2 devfun (`objective.Lme4Devfun`) at each row of `points` = (θ, β);
    None when the compiled loop cannot serve."""
    obj = devfun.objective
    mod = _loop_kernel()
    if mod is None or not served(obj):
        return None
    points = np.ascontiguousarray(points, dtype=float)
    loop = _Loop(obj, X_THETA_BETA)
    if points.ndim != 2 or points.shape[1] != loop.nx:
        return None
    eta_c = devfun.eta0_rows(loop.shape.order, loop.shape.order_any)
    start = (loop.nat._u_in(devfun.u0), np.zeros(loop.shape.p), None)
    vals = np.empty(points.shape[0])
    mod.devfun_values(loop.model, loop.placeholders, loop.spec, start, eta_c, points, vals,
                      float(devfun.tol), int(devfun.maxit))
    return vals


def post_optimum(obj: Any, devfun: Any, x: np.ndarray, delta: float = DERIV12_DELTA
                 ) -> tuple[float, Any, np.ndarray, np.ndarray, Callable[[], None]] | None:
    """The sequence after the optimum x = (θ, β) in one compiled call: the objective at x,
    then at `central_gradient`'s points as successive calls give them, and lme4's devfun
    (`objective.Lme4Devfun`) at `forward_hessian`'s points (the kernel builds both sets of
    points as `optimize.derivatives` does, bit for bit). Returns (the value at x, the
    objective's state there, the central gradient, the devfun's forward Hessian, `finish`):
    the objective holds the state after x and has counted every evaluation; `finish()` gives
    it the state after the last point, as the calls would have left it (built only when
    asked: a fit whose optimum is finite and needs no Newton step keeps x's). None when the
    compiled loop cannot serve (the objective is then untouched)."""
    mod = _loop_kernel()
    if mod is None or not hasattr(mod, "loop_post") or devfun.objective is not obj or \
            not obj._compiled() or not served(obj):
        return None
    loop = _Loop(obj, X_THETA_BETA)
    n = loop.nx
    x = np.ascontiguousarray(x, dtype=float)
    if x.shape != (n,):
        return None
    g, H = np.empty(n), np.empty((n, n))
    first, last = carve(*[loop.out_size()] * 2)     # one allocation; `first` at its start
    eta1_c = devfun.eta1_rows(loop.shape.order, loop.shape.order_any)
    evals, stop, value, s_first, s_last = mod.loop_post(
        loop.model, loop.placeholders, loop.spec, loop.start(), x, first, last, eta1_c,
        loop.nat._u_in(devfun.u0), g, H, float(delta), float(delta) ** 2, float(devfun.tol),
        int(devfun.maxit))
    if stop == LOOP_PYTHON:
        return None
    loop.adopt(first, s_first, evals)
    return value, obj.state, g, H, lambda: loop.adopt(last, s_last, 0)
