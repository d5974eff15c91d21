"""The profiled deviance of a linear mixed model as a function of θ.

With pwrss(θ) the penalized weighted residual sum of squares at the conditional optimum of
(β, u), log|L_Z|² and log|R_X|² from the blocked factor, and log|W| = Σ log wᵢ:

    ML:    d(θ) = log|L_Z|² − log|W| + n (1 + log(2π pwrss / n))
    REML:  d(θ) = log|L_Z|² − log|W| + log|R_X|² + (n − p)(1 + log(2π pwrss / (n − p)))

(β and σ are profiled out; this is lme4's `devfun` and MixedModels.jl's `objective`.)
"""

from __future__ import annotations

import math

import numpy as np

from mixedfx.lmm import compiled, native_opt
from mixedfx.lmm.compiled import NATIVE_CHOL_MAX
from mixedfx.lmm.factorization import BlockedCholesky, Factorization
from mixedfx.optimize.native_run import RunRecord


def deviance_from_factor(f: Factorization, n: int, p: int, reml: bool, ldW: float) -> float:
    """Profiled ML deviance or REML criterion from a factorization."""
    return deviance_from_terms(f.ldL2, f.ldRX2, f.pwrss, n, p, reml, ldW)


def deviance_from_terms(ldL2: float, ldRX2: float, pwrss: float, n: int, p: int, reml: bool,
                        ldW: float) -> float:
    """Profiled ML deviance or REML criterion from log|L_Z|², log|R_X|² and pwrss."""
    if pwrss <= 0:
        return -math.inf
    if reml:
        nmp = n - p
        return ldL2 - ldW + ldRX2 + nmp * (1.0 + math.log(2.0 * math.pi * pwrss / nmp))
    return ldL2 - ldW + n * (1.0 + math.log(2.0 * math.pi * pwrss / n))


def profiled_sigma(pwrss: float, n: int, p: int, reml: bool) -> float:
    """σ̂ at θ, profiled out of the deviance: √(pwrss / (n − p)) for REML, √(pwrss / n) for
    ML (a pwrss rounded below zero counts as 0)."""
    return math.sqrt(max(pwrss, 0.0) / (n - p if reml else n))


# the largest A₁₁ entries × Schur rows for which the optimizer runs from C holding the
# interpreter (one evaluation then takes well under a millisecond)
NATIVE_LOOP_WORK = 1_000_000


class ProfiledDeviance:
    """Callable θ -> profiled deviance (ML) or REML criterion; counts evaluations.

    One is built per fit or refit, and the fitted model keeps it (the Satterthwaite df and
    the profiles evaluate it again), so calls from several threads may share it. Each call
    therefore takes its own r×r scratch matrix (`_take_workspace`: the spare one when no
    other call holds it, else a new one) and its result does not depend on other calls; only
    `evaluations` may miss concurrent calls' counts. The compiled evaluator's own scratch is
    handed out the same way (`_native/lmm.c`: take_scratch)."""

    def __init__(self, chol: BlockedCholesky, reml: bool, ldW: float = 0.0) -> None:
        self.chol = chol
        self.n = chol.xp.n
        self.p = chol.xp.p
        self.reml = reml
        self.ldW = ldW
        self.evaluations = 0
        # r×r scratch matrices not held by a call (list.pop / append: one call's each)
        self._spare: list[np.ndarray] = []
        # (the compiled evaluator's deviance method, its template map) when one compiled
        # call computes the whole value; False when not; None until the first call
        self._compiled: tuple | bool | None = None

    def __getstate__(self) -> dict:
        """Pickled and copied without the compiled evaluator (rebuilt on first use)."""
        state = self.__dict__.copy()
        state["_compiled"] = None
        state["_spare"] = []
        return state

    def __setstate__(self, state: dict) -> None:
        state.pop("_workspace", None)       # (pickled by an earlier version)
        state.setdefault("_spare", [])
        self.__dict__.update(state)

    def _take_workspace(self) -> np.ndarray:
        """An r×r scratch matrix for one call, held by no other call."""
        try:
            return self._spare.pop()
        except IndexError:
            return np.empty(self.chol.xp.Arr.shape)

    def _give_workspace(self, ws: np.ndarray) -> None:
        """Keep a call's scratch matrix for the next call (one spare)."""
        if not self._spare:
            self._spare.append(ws)

    def release_workspace(self) -> np.ndarray:
        """Hand an r×r scratch array over (for a factor that outlives the optimization)."""
        return self._take_workspace()

    def _compiled_call(self) -> tuple | bool:
        nat = self.chol.native()
        if nat is None or self.chol.xp.r > NATIVE_CHOL_MAX:
            return False
        ev, tmap = nat
        return ev.deviance, tmap, ev

    def __call__(self, theta: np.ndarray) -> float:
        self.evaluations += 1
        fast = self._compiled
        if fast is None:
            fast = self._compiled = self._compiled_call()
        ws = self._take_workspace()
        if fast:
            # the whole evaluation in one compiled call
            deviance, tmap, _ = fast
            x = np.asarray(theta, dtype=float)
            if tmap is None:
                x = compiled.native_input(self.chol, x, tmap)
            value = deviance(x, ws, self.reml, self.ldW)
            self._give_workspace(ws)
            return value
        try:
            parts = self.chol.deviance_terms(theta, ws)
        except (np.linalg.LinAlgError, ValueError):     # non-finite cross-products
            parts = None
        self._give_workspace(ws)
        if parts is None:
            return math.inf
        return deviance_from_terms(*parts, self.n, self.p, self.reml, self.ldW)

    def _theta_evaluator(self, cheap: bool = False) -> object | None:
        """The compiled evaluator when it takes θ itself (a template map), else None; with
        `cheap`, only when one evaluation is cheap (`NATIVE_LOOP_WORK`), so that a run of
        them may hold the interpreter."""
        fast = self._compiled
        if fast is None:
            fast = self._compiled = self._compiled_call()
        if not fast or fast[1] is None:
            return None
        if cheap and self.chol.xp.A11.size * self.chol.xp.r > NATIVE_LOOP_WORK:
            return None
        return fast[2]

    def evaluate_many(self, X: np.ndarray) -> np.ndarray | None:
        """The value at each row of X (m × nθ) in one compiled call — each equal to
        `self(X[i])` — or None when the compiled evaluator does not serve this model."""
        ev = self._theta_evaluator()
        if ev is None:
            return None
        ws = self._take_workspace()
        out = native_opt.deviance_many(ev, X, ws, self.reml, self.ldW)
        self._give_workspace(ws)
        if out is not None:
            self.evaluations += len(out)
        return out

    def deriv12_natively(self, x: np.ndarray, fx: float, delta: float
                         ) -> tuple[np.ndarray, np.ndarray] | None:
        """`optimize.derivatives.deriv12` of this objective at x in one compiled call (the
        same values, the same bits), or None when the compiled evaluator does not serve."""
        ev = self._theta_evaluator()
        if ev is None:
            return None
        ws = self._take_workspace()
        out = native_opt.deriv12(ev, x, fx, delta, ws, self.reml, self.ldW)
        self._give_workspace(ws)
        if out is None:
            return None
        self.evaluations += out[2]
        return out[0], out[1]

    def minimize_natively(self, algorithm: int, x0: np.ndarray, lower: np.ndarray,
                          upper: np.ndarray, xtol: float, ftol: float, maxeval: int,
                          step: np.ndarray | None, inf_limit: int
                          ) -> RunRecord | None:
        """NLopt's run over this objective from C (`lmm.native_opt.minimize`): the same
        path as through the Python callback, without a Python call per evaluation; None
        when that is not available for this model."""
        ev = self._theta_evaluator(cheap=True)
        if ev is None:
            return None
        ws = self._take_workspace()
        run = native_opt.minimize(ev, ws, self.reml, self.ldW, algorithm, x0, lower, upper,
                                  xtol, ftol, maxeval, step, inf_limit)
        self._give_workspace(ws)
        if run is not None:
            self.evaluations += run.evaluations
        return run

    def newton_natively(self, x0: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                        delta: float, ftol: float, maxiter: int, factor: bool = False
                        ) -> tuple | None:
        """Newton's method over this objective from C (`lmm.native_opt.newton`): (status, θ,
        value, deriv12's gradient and Hessian there, trace(H⁻¹)); None when that is not
        available for this model (no template map, or one evaluation too costly to run
        holding the interpreter). With `factor`, one more entry: on convergence the blocked
        factor at θ (`chol.factorize(θ)`'s numbers, computed in the same call; it keeps the
        workspace), else None."""
        ev = self._theta_evaluator(cheap=True)
        if ev is None:
            return None
        fac = np.empty(3) if factor else None
        ws = self._take_workspace()
        run = native_opt.newton(ev, ws, self.reml, self.ldW, x0, lower, upper, delta, ftol,
                                maxiter, fac)
        if run is None:
            self._give_workspace(ws)
            return None
        self.evaluations += run[6]
        if not factor or run[0] != 0:
            self._give_workspace(ws)
            return run[:6] if not factor else (*run[:6], None)
        # the evaluator factors S itself (at most NATIVE_CHOL_MAX rows: `_compiled_call`); the
        # factor at θ is this call's scratch, which the returned factor keeps
        f = self.chol.factored(run[1], ws, fac)
        return (*run[:6], f)

    def at(self, theta: np.ndarray, reml: bool) -> float:
        """The ML deviance or REML criterion at θ, whatever this objective optimizes."""
        f = self.chol.factorize(theta)
        if f is None:
            return math.inf
        return deviance_from_factor(f, self.n, self.p, reml, self.ldW)
