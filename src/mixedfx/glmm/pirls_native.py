"""The compiled PIRLS kernel (`mixedfx._native.pirls`, C) bound to one model.

`glmm.pirls.Pirls` holds one `NativePirls` when the kernel is built and the model is one it
serves (every family and link of `mixedfx.families`; random-effects terms of at most 8
columns; at most 32 terms). One call runs a whole PIRLS solve at θ — the same iteration as
`Pirls.run`: IRLS weights W and working response z from the family and link, the blocked
factor of Λᵀ[Z X z]ᵀW[Z X z]Λ + I (per-level k₁×k₁ blocks for the first term, a dense Schur
complement for the rest), the solve for β and u, step-halving while the penalized deviance
Σ dev.resids + ‖u‖² increases, and the same convergence tests — with no Python per
iteration. `devfun` runs lme4's stage-2 variant (`objective.Lme4Devfun`), `factor` the Laplace
factor at a state's weights, `agq` the adaptive Gauss–Hermite correction for one scalar term.

The kernel sees the rows in the model's canonical order (`lmm.row_order`), so its sums do not
depend on the data's row order; η and μ come back in the data's order.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixedfx.errors import PirlsError
from mixedfx.families.links import CAUCHIT_THRESHOLD, PROBIT_THRESHOLD
from mixedfx.glmm.kernel_layout import _KernelTemplates, _rest_structure, _Shape
from mixedfx.glmm.state import CanonicalState, PirlsState
from mixedfx.native import kernel

FAMILY_CODES = {"binomial": 0, "poisson": 1, "Gamma": 2, "inverse.gaussian": 3,
                "gaussian": 4, "negative.binomial": 5}
LINK_CODES = {"logit": 0, "probit": 1, "cauchit": 2, "cloglog": 3, "identity": 4, "log": 5,
              "sqrt": 6, "inverse": 7, "1/mu^2": 8}
MAX_TERMS = 32          # the kernel's limits (pirls.c: MAXT, and 8 columns per term)
MAX_TERM_COLUMNS = 8
#: the largest dense trailing block (Z_rest, X, z) the kernel factors: its Cholesky is plain C
#: (about 3 GFlop/s), so beyond this LAPACK's blocked factorization of the NumPy path wins
MAX_DENSE_ORDER = 2500
# the kernel's status codes
_OK, _HALVING, _MAXIT, _NOT_PD, _FAILED = 0, 1, 2, 3, 4


@dataclass
class NativeFactor:
    """What the objective reads of the Laplace factor: log|L_Z|² = log|ΛᵀZᵀWZΛ + I| and the
    first term's per-level lower Cholesky factors L₁₁ (levels, k₁, k₁)."""

    ldL2: float
    L11: np.ndarray
    Lrr: np.ndarray | None = None    # the dense trailing factor (Z_rest, X when asked, z)


def serves(pirls: Any) -> bool:
    """Whether the kernel handles this model (family, link, term shapes, size of the dense
    block)."""
    fam = pirls.family
    terms = pirls.terms
    if not (fam.name in FAMILY_CODES and fam.link.name in LINK_CODES
            and 1 <= len(terms) <= MAX_TERMS):
        return False
    k_rest = q_rest = 0
    for i, t in enumerate(terms):       # (one pass: generators cost more for a term or two)
        k = t.k
        if not 1 <= k <= MAX_TERM_COLUMNS:
            return False
        if i:
            k_rest += k
            q_rest += t.q
    return k_rest <= 4 * MAX_TERMS and q_rest + pirls.X.shape[1] + 1 <= MAX_DENSE_ORDER


def for_model(pirls: Any) -> NativePirls | None:
    """A `NativePirls` for the model, or None when the kernel is not built (`kernel` then
    warns once) or does not serve the model."""
    if not serves(pirls) or kernel("pirls") is None:
        return None
    return NativePirls(pirls)


class NativePirls:
    """The model's arrays in the kernel's layout (built on first use, dropped when pickled).

    The engine (`glmm.pirls.Pirls`) holds its binding as `native`; the binding reaches the
    engine through a weak reference, so the two form no reference cycle and a fit's engine
    is freed as soon as it is dropped (a cycle per fit left it to the cyclic garbage
    collector, whose collections cost more than a small fit's Python)."""

    def __init__(self, pirls: Any) -> None:
        self._pirls_ref = weakref.ref(pirls)
        self._model: tuple | None = None
        self._resp: Any = None
        self._shape: _Shape | None = None
        self._eta0: tuple | None = None     # (η₀, η₀ in the canonical order) of `devfun`

    @property
    def pirls(self) -> Any:
        """The engine this binding serves (it holds the binding, so it is alive while the
        binding is used through it)."""
        return self._pirls_ref()

    def __getstate__(self) -> dict:
        return {"pirls": self.pirls, "_model": None, "_resp": None, "_shape": None,
                "_eta0": None}

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        pirls = state.pop("pirls")
        self.__dict__.update(state)
        # (None: a binding pickled after its engine was dropped stays without one)
        self.__dict__["_pirls_ref"] = _no_engine if pirls is None else weakref.ref(pirls)
        # an unpickled binding keeps its engine alive, as before, even when unpickled alone
        # (a cycle only for loaded models, never per fit)
        self.__dict__["_pirls_keep"] = pirls
        self.__dict__.setdefault("_shape", None)
        self.__dict__.setdefault("_eta0", None)

    def for_response(self, pirls: Any) -> NativePirls:
        """The kernel bound to `pirls`, this model's engine for another response in the same
        row order (`Pirls.with_response`): the model tuple's y-free arrays and the sizes are
        shared, y, the weights and the saturated sum re-read."""
        new = NativePirls(pirls)
        if self._shape is not None and self._shape.has_kernel == (pirls._sat is not None):
            new._shape = self._shape
        if self._model is not None and bool(self._model[0][3]) == (pirls._sat is not None):
            o, resp, m = pirls.order, pirls.resp, self._model
            dbl = m[1].copy()
            dbl[1] = pirls._sat_sum if pirls._sat is not None else 0.0
            new._model = (m[0], dbl, m[2], np.ascontiguousarray(resp.y[o], dtype=float),
                          np.ascontiguousarray(resp.wt[o], dtype=float), *m[5:])
            new._resp = resp
        return new

    def shape(self) -> _Shape:
        """The model's sizes and row order, read once (every call needs them)."""
        if self._shape is None:
            self._shape = _Shape(self.pirls)
        return self._shape

    # -- the model ---------------------------------------------------------------------------
    def model(self) -> tuple:
        """The kernel's model tuple; y and the weights are re-read when the response object
        changed (the ML-dispersion objective rescales the weights by 1/φ)."""
        pl = self.pirls
        if self._model is not None and pl.resp is self._resp:
            return self._model
        o = pl.order
        resp = pl.resp
        gathered = pl.canonical_response()          # (y, wt) in the canonical order
        if gathered is not None:
            y = np.ascontiguousarray(gathered[0], dtype=float)
            wt = np.ascontiguousarray(gathered[1], dtype=float)
        else:
            y = np.ascontiguousarray(resp.y[o], dtype=float)
            wt = np.ascontiguousarray(resp.wt[o], dtype=float)
        if self._model is not None:         # only the response changed
            m = self._model
            self._model = (m[0], m[1], m[2], y, wt, *m[5:])
            self._resp = resp
            return self._model
        terms, fam = pl.terms, pl.family
        n, p = pl.X.shape
        if len(terms) == 1:                 # one gather each (the codes viewed as one row)
            t = terms[0]
            codes = np.ascontiguousarray(t.codes[o], dtype=np.int64).reshape(1, n)
            values = (np.ascontiguousarray(_rows(t.values, o), dtype=float),)
        else:
            codes = np.empty((len(terms), n), dtype=np.int64)
            for row, t in zip(codes, terms, strict=True):
                row[:] = t.codes[o]
            values = tuple(np.ascontiguousarray(_rows(t.values, o), dtype=float)
                           for t in terms)
        slot_pos, lvl_ptr, rho, q_rest, S, nnz = _rest_structure(terms, o)
        has_kernel = pl._sat is not None
        ints = np.array([FAMILY_CODES[fam.name], LINK_CODES[fam.link.name],
                         int(fam.canonical), int(has_kernel), n, p, len(terms), q_rest, S, nnz]
                        + [t.k for t in terms] + [t.n_levels for t in terms], dtype=np.int64)
        dbl = np.array([fam.theta if fam.theta is not None else 0.0,
                        pl._sat_sum if has_kernel else 0.0, PROBIT_THRESHOLD, CAUCHIT_THRESHOLD])
        X_o = getattr(pl, "_X_o", None)            # X in the canonical order
        # the offset in the canonical order (no offset: zeros, which it gathers to)
        off = np.zeros(n) if getattr(pl, "_no_offset", False) else \
            np.ascontiguousarray(pl.offset[o], dtype=float)
        self._model = (ints, dbl, np.ascontiguousarray(pl.X[o] if X_o is None else X_o,
                                                       dtype=float), y, wt, off, codes, values,
                       slot_pos, lvl_ptr, rho)
        self._resp = resp
        return self._model

    def _templates(self, templates: list[np.ndarray]) -> tuple:
        if type(templates) is _KernelTemplates:     # already in the kernel's layout
            return templates
        return tuple(np.ascontiguousarray(T, dtype=float) for T in templates)

    def _state(self, u: np.ndarray, beta: np.ndarray, eta_c: np.ndarray, mu_c: np.ndarray,
               dev: float, ussq: float, kern: float, factor: NativeFactor | None,
               iterations: int, lag: float) -> PirlsState:
        sh = self.shape()
        out_u = [u[a:b].reshape(nl, k) for a, b, nl, k in sh.blocks]
        kern_or_none = kern if sh.has_kernel else None
        if sh.order is None:                # rows already in the canonical order
            return PirlsState.from_fields(u=out_u, beta=beta, eta=eta_c, mu=mu_c,
                                          dev_resid_sum=dev, ussq=ussq, factor=factor,
                                          iterations=iterations, loglik_kernel=kern_or_none,
                                          lag=lag)
        return CanonicalState.of_kernel(eta_c, mu_c, sh.order, out_u, beta, dev, ussq, factor,
                                        iterations, kern_or_none, lag)

    def _rows(self, state: PirlsState) -> tuple[np.ndarray, np.ndarray]:
        """η and μ of a state in the canonical row order."""
        if isinstance(state, CanonicalState):
            rows = state.canonical_rows()
            if rows is not None:
                return rows
        o = self.shape().order_any
        return (np.ascontiguousarray(state.eta[o], dtype=float),
                np.ascontiguousarray(state.mu[o], dtype=float))

    def _u_in(self, u0: list[np.ndarray]) -> np.ndarray:
        sh = self.shape()
        if not sh.q:
            return np.zeros(0)
        if len(u0) == 1:
            return np.ascontiguousarray(u0[0], dtype=float).reshape(-1)
        return np.ascontiguousarray(np.concatenate([np.ravel(x) for x in u0]), dtype=float)

    def _call(self, templates: list[np.ndarray], u0: list[np.ndarray], beta: np.ndarray,
              eta0: np.ndarray | None, mode: int, update_beta: bool, maxit: int,
              tol: float, refactor_above: float = math.inf) -> tuple[int, PirlsState | None]:
        pl = self.pirls
        sh = self.shape()
        model = self.model()
        u_in = self._u_in(u0)
        b_in = np.ascontiguousarray(beta, dtype=float)
        u_out, b_out = np.empty(sh.q), np.empty(sh.p)
        eta_c, mu_c = np.empty(sh.n), np.empty(sh.n)
        L11 = np.empty(sh.l11)
        status, dev, ussq, kern, _, its, lag, ld = sh.kernel.run(
            model, self._templates(templates), u_in, b_in, eta0, u_out, b_out, eta_c, mu_c,
            L11, mode, int(update_beta), maxit, pl.step_tol, tol, int(pl.stop_on_stagnation),
            refactor_above)
        if status != _OK:
            return status, None
        return status, self._state(u_out, b_out, eta_c, mu_c, dev, ussq, kern,
                                   NativeFactor(ld, L11), its, lag)

    # -- entry points ------------------------------------------------------------------------
    def run(self, u0: list[np.ndarray], beta: np.ndarray, update_beta: bool,
            templates: list[np.ndarray], refactor_above: float = math.inf) -> PirlsState:
        """PIRLS from (u0, β) at the templates' θ, as `Pirls.run` (raises PirlsError as it).
        When the last step (the state's `lag`) exceeds `refactor_above`, the state's factor
        is formed again at the mode's own weights (lag 0), as `factor(state)` would give it."""
        pl = self.pirls
        status, state = self._call(templates, u0, beta, None, 0, update_beta, pl.maxit, pl.tol,
                                   refactor_above)
        if state is not None:
            return state
        if status == _NOT_PD:
            raise PirlsError("the penalized weighted system is not positive definite")
        if status == _HALVING:
            raise PirlsError("PIRLS step-halvings failed to reduce deviance in pwrssUpdate")
        raise PirlsError(f"pwrssUpdate did not converge in {pl.maxit} iterations")

    def evaluate(self, u: list[np.ndarray], beta: np.ndarray, templates: list[np.ndarray],
                 eta: np.ndarray | None = None) -> PirlsState:
        """The state at (u, β), as `Pirls.evaluate`: η (unless given, in the data's order),
        μ, the deviance and ‖u‖², computed as the kernel's iterations compute them, so a state
        rebuilt from saved (u, β, η) has the fit's numbers to the last bit."""
        sh = self.shape()
        u_in = self._u_in(u)
        b_in = np.ascontiguousarray(beta, dtype=float)
        eta_in = None if eta is None else \
            np.ascontiguousarray(np.asarray(eta)[sh.order_any], dtype=float)
        eta_c, mu_c = np.empty(sh.n), np.empty(sh.n)
        dev, ussq, kern, _ = sh.kernel.evaluate(
            self.model(), self._templates(templates), u_in, b_in, eta_in, eta_c, mu_c)
        state = self._state(u_in, b_in, eta_c, mu_c, dev, ussq, kern, None, 0, np.inf)
        state.u = list(u)
        return state

    def devfun(self, templates: list[np.ndarray], beta: np.ndarray, eta0: np.ndarray,
               u0: list[np.ndarray], tol: float, maxit: int) -> PirlsState | None:
        """lme4's stage-2 PIRLS (`objective.Lme4Devfun`): u from the linear predictor eta0
        (data order) at fixed β; None where lme4's devfun gives +∞."""
        if self._eta0 is None or self._eta0[0] is not eta0:     # one start, many calls
            self._eta0 = (eta0, np.ascontiguousarray(eta0[self.shape().order_any], dtype=float))
        eta_c = self._eta0[1]
        return self._call(templates, u0, beta, eta_c, 1, False, maxit, tol)[1]

    def factor(self, state: PirlsState, templates: list[np.ndarray],
               with_x: bool = False) -> NativeFactor:
        """The blocked factor at the state's IRLS weights: the Laplace factor, and with
        `with_x` also the dense trailing factor L_rr over (Z_rest, X, z), whose X block is
        R_X (as `Pirls.factorize(state, θ, with_x=True)` gives it)."""
        sh = self.shape()
        L11 = np.empty(sh.l11)
        r = sh.q_rest + (sh.p if with_x else 0) + 1
        Lrr = np.empty((r, r)) if with_x else None
        eta_c, mu_c = self._rows(state)
        status, ld = sh.kernel.factor(
            self.model(), self._templates(templates),
            np.ascontiguousarray(state.beta, dtype=float), eta_c, mu_c, L11, int(with_x), Lrr)
        if status != _OK:
            raise PirlsError("the penalized weighted system is not positive definite")
        return NativeFactor(ld, L11, Lrr)

    def canonical_start(self, maxit: int) -> np.ndarray | None:
        """β of the GLM without random effects (as `Pirls.initial_state`) for a canonical
        link, binomial logit or Poisson log: R's glm.fit IRLS from the family's mustart and
        η = g(mustart), formed over y and the weights in the canonical row order (the kernel's
        `start_means`: mustart and the link's argument μ/(1 − μ) or μ, NumPy's operations;
        the log by NumPy, as the link takes it), in the kernel (`glm_start`: Householder
        least squares). None when the weighted X is rank deficient or a weight or working
        response is not finite (then the NumPy IRLS decides, or raises)."""
        pl = self.pirls
        sh = self.shape()
        gathered = pl.canonical_response()
        if gathered is None:
            o = sh.order_any
            gathered = (pl.resp.y[o], pl.resp.wt[o])
        y = np.ascontiguousarray(gathered[0], dtype=float)
        wt = np.ascontiguousarray(gathered[1], dtype=float)
        mu, arg = np.empty((2, sh.n))       # rows: C-contiguous, one allocation
        sh.kernel.start_means(FAMILY_CODES[pl.family.name], y, wt, mu, arg)
        beta = np.empty(sh.p)
        status, _ = sh.kernel.glm_start(self.model(), sh.placeholders, np.log(arg), mu, beta,
                                        maxit)
        return beta if status == 0 else None

    def agq(self, state: PirlsState, templates: list[np.ndarray], Ljj: np.ndarray,
            nodes: np.ndarray, weights: np.ndarray) -> float:
        """Σ_j log L_jj² − 2 Σ_j log Σ_k w_k exp(−Δg_jk/2 + z_k²/2) (one scalar term; see
        `objective.GlmmObjective._agq_correction`)."""
        return self.shape().kernel.agq(
            self.model(), self._templates(templates),
            np.ascontiguousarray(state.beta, dtype=float),
            np.ascontiguousarray(state.u[0][:, 0], dtype=float),
            np.ascontiguousarray(Ljj, dtype=float), np.ascontiguousarray(nodes, dtype=float),
            np.ascontiguousarray(weights, dtype=float))


def _rows(a: np.ndarray, o: np.ndarray) -> np.ndarray:
    """a's rows in the order o (`take`: the method when a is an ndarray, without np.take's
    dispatch)."""
    return a.take(o, axis=0) if type(a) is np.ndarray else np.take(a, o, axis=0)


def _no_engine() -> None:
    """The engine reference of a binding unpickled without its engine."""
    return None
