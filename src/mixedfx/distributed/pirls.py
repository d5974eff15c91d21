"""PIRLS over persisted partitions: every quantity PIRLS needs from the rows is a sum.

At given (u, β, Λ) a partition's linear predictor is η = offset + Xβ + Σ_t Z_t b_t
(b_t = u_t T_tᵀ, driver-sized, broadcast once per pass); from η each partition returns

* `evaluate`: Σ kernel(y, μ) (−½ the μ-dependent part of the deviance) and whether μ is valid;
* `factorize`: the blocks of [Z X z]ᵀ W [Z X z] at the IRLS weights W and working response z
  (the LMM cross-products with weights), summed exactly as in `lmm.crossproducts`;
* `initial_state`: XᵀWX, XᵀWz and the deviance of the GLM without random effects (IRLS).

The rows' η and μ never leave the workers: a state's `eta` / `mu` hold a `RowValues` record
of the (u, β, Λ) that define them. Each call is one distributed pass; `passes` counts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mixedfx.distributed.encode import PartialSums, add_sums
from mixedfx.errors import ArgumentError, UnsupportedError
from mixedfx.families import Family
from mixedfx.glmm.pirls import Pirls, PirlsError, PirlsState
from mixedfx.glmm.response import GlmResponse, encode_response
from mixedfx.lmm.crossproducts import CrossProductBuilder
from mixedfx.lmm.factorization import BlockedCholesky, Factorization


@dataclass
class RowValues:
    """Stands for a row-sized vector (η or μ) kept on the workers: what defines it."""

    b: list[np.ndarray]
    beta: np.ndarray
    valid: bool = True
    xp: Any = None              # cross-products at these rows' IRLS weights, when computed
    with_x: bool | None = None


class _RowFamily:
    """The family, with `validmu` answered from the workers' check."""

    def __init__(self, family: Family) -> None:
        self._family = family

    def validmu(self, mu: Any) -> bool:
        return mu.valid if isinstance(mu, RowValues) else self._family.validmu(mu)

    def __getattr__(self, name: str) -> Any:
        # only called for attributes not found normally; while unpickling or deep-copying,
        # `_family` itself is not set yet and must not recurse into this method
        if name.startswith("__") or "_family" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self._family, name)


@dataclass
class GlmPartition:
    """A partition encoded for the GLMM: model rows plus the GLM response (y, n, wt)."""

    enc: Any                # distributed.encode.EncodedPartition
    resp: GlmResponse
    offset: np.ndarray


def encode_glm_partition(part: Any, encoder: Any, family: Family) -> GlmPartition | None:
    enc = encoder.encode(part)
    if enc is None:
        return None
    resp = encode_response(enc.y, family, enc.weights)
    off = np.zeros(len(resp.y)) if enc.offset is None else enc.offset
    return GlmPartition(enc, resp, off)


def partition_eta(p: GlmPartition, b: list[np.ndarray] | None, beta: np.ndarray) -> np.ndarray:
    eta = p.offset + p.enc.X @ beta
    if b is not None:
        for t, bt in zip(p.enc.terms, b, strict=True):
            eta = eta + t.row_effects(bt)
    return eta


def constants_pass(p: GlmPartition | None, family: Family, _: Any = None
                   ) -> np.ndarray | None:
    """[Σ saturated, aic constant, Σ prior weights, rows] of a partition."""
    if p is None:
        return None
    r = p.resp
    return np.array([float(np.sum(family.saturated(r.y, r.wt))),
                     family.aic_constant(r.y, r.n, r.wt), float(np.sum(r.wt)), len(r.y)])


def evaluate_pass(p: GlmPartition | None, family: Family, params: tuple) -> Any:
    """([Σ kernel(y, μ), 1 if μ is invalid else 0], cross-products at the IRLS weights) at
    (b, β): PIRLS factorizes next at the state it has just evaluated, so the same pass
    computes both (`with_x` None: the kernel only)."""
    if p is None:
        return None
    b, beta, with_x = params
    eta = partition_eta(p, b, beta)
    mu = family.link.linkinv(eta)
    ok = bool(family.validmu(mu)) and bool(np.all(np.isfinite(mu)))
    with np.errstate(divide="ignore", invalid="ignore"):
        kern = float(np.sum(family.kernel(p.resp.y, mu, p.resp.wt)))
    sums = np.array([kern, 0.0 if ok else 1.0])
    if with_x is None or not ok:
        return sums, None
    return sums, _crossproducts(p, family, eta, mu, beta, with_x)


def _crossproducts(p: GlmPartition, family: Family, eta: np.ndarray, mu: np.ndarray,
                   beta: np.ndarray, with_x: bool) -> Any:
    W, z = _irls(p, family, eta, mu)
    X = p.enc.X if with_x else np.zeros((len(z), 0))
    resp = z if with_x else z - p.enc.X @ beta
    xp = CrossProductBuilder(p.enc.terms, X).compute(resp, np.sqrt(W))
    return PartialSums(xp, 0.0)


def _irls(p: GlmPartition, family: Family, eta: np.ndarray, mu: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """IRLS weights W and working response z − offset (as `Pirls.weights`)."""
    r = p.resp
    if family.canonical:
        mu_eta = np.maximum(family.variance(mu), np.finfo(float).eps)
        W = r.wt * mu_eta
    else:
        mu_eta = family.link.mu_eta(eta)
        W = r.wt * mu_eta * mu_eta / family.variance(mu)
    return W, eta - p.offset + (r.y - mu) / mu_eta


def factorize_pass(p: GlmPartition | None, family: Family, params: tuple) -> Any:
    """Cross-products of [Z X z] (or [Z z − Xβ] without X) at the IRLS weights of (b, β)."""
    if p is None:
        return None
    b, beta, with_x = params
    eta = partition_eta(p, b, beta)
    return _crossproducts(p, family, eta, family.link.linkinv(eta), beta, with_x)


def glm_start_pass(p: GlmPartition | None, family: Family, beta: np.ndarray | None
                   ) -> np.ndarray | None:
    """[XᵀWX | XᵀWz | deviance] of the GLM IRLS step at β (at μ-start when β is None)."""
    if p is None:
        return None
    r = p.resp
    if beta is None:
        mu = family.mustart(r.y, r.wt)
        eta = family.link.linkfun(mu)
        dev = np.nan
    else:
        eta = partition_eta(p, None, beta)
        mu = family.link.linkinv(eta)
        dev = float(np.sum(family.dev_resids(r.y, mu, r.wt)))
    mu_eta = family.link.mu_eta(eta)
    w = r.wt * mu_eta**2 / family.variance(mu)
    z = eta - p.offset + (r.y - mu) / mu_eta
    X = p.enc.X
    XtW = X.T * w
    return np.concatenate([(XtW @ X).ravel(), XtW @ z, [dev]])


def _nbytes(params: Any) -> int:
    if isinstance(params, np.ndarray):
        return params.nbytes
    if isinstance(params, (tuple, list)):
        return sum(_nbytes(p) for p in params)
    return 0


def combine(a: Any, b: Any) -> Any:
    """The sum of two partial results (arrays, cross-products, or tuples of them)."""
    if a is None or b is None:
        return a if b is None else b
    if isinstance(a, tuple):
        return tuple(combine(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, PartialSums):
        return add_sums(a, b)
    return a + b


def _combine_all(*parts: Any) -> Any:
    out = None
    for p in parts:
        out = combine(out, p)
    return out


def check_distributable_family(family: Family) -> None:
    """The families whose log-likelihood is a plain sum over rows at given μ (no dispersion
    to estimate from the same rows): binomial, poisson, negative binomial with fixed θ."""
    if family.kernel(np.array([0.5]), np.array([0.5]), np.array([1.0])) is None:
        raise ArgumentError(f"family {family.name} is not available for Dask data (binomial, "
                            "poisson and negative_binomial(theta) are)")


class DistributedPirls(Pirls):
    """`glmm.pirls.Pirls` whose row computations run as passes over persisted partitions."""

    def __init__(self, parts: list[Any], client: Any, terms: list, family: Family,
                 p: int, n: int, **kwargs: Any) -> None:
        # the base class's row set-up is replaced by sums over the partitions
        self.parts = parts
        self.client = client
        self.terms = terms
        self.family = _RowFamily(family)
        self._base_family = family
        self.p = p
        self.n = n
        self.tol = kwargs.get("tol", 1e-15)
        self.maxit = kwargs.get("maxit", 100)
        self.step_tol = kwargs.get("step_tol", 1e-9)
        self.passes = 0
        self.progress = kwargs.get("progress")
        self._grams = {}
        self._with_x: bool | None = None
        self._fam = client.scatter([family], broadcast=True, hash=False)[0]
        check_distributable_family(family)
        sat, aic_const, _, _ = self._reduce(constants_pass, None)
        self._sat = True
        self._sat_sum = float(sat)
        self.aic_constant = float(aic_const)

    # -- passes ------------------------------------------------------------------------------
    def _reduce(self, fn: Any, params: Any) -> Any:
        """One pass: `fn(partition, family, params)` on every persisted partition, summed
        in a tree (at most 16 partial results per task)."""
        self.passes += 1
        cl = self.client
        # small parameters travel inside the tasks (one round trip less per pass); large
        # ones (random effects of many levels) are sent to every worker once
        shared = params
        if params is not None and _nbytes(params) > 1 << 20:
            shared = cl.scatter([params], broadcast=True, hash=False)[0]
        n = len(self.parts)
        level = cl.map(fn, self.parts, [self._fam] * n, [shared] * n, pure=False)
        while len(level) > 1:
            level = [cl.submit(_combine_all, *level[i:i + 16], pure=False)
                     for i in range(0, len(level), 16)]
        total = level[0].result()
        if self.progress is not None:
            self.progress.count("PIRLS passes over the data", self.passes)
        if total is None:
            raise ArgumentError("no observations in the data")
        return total.xp if isinstance(total, PartialSums) else total

    def _b(self, u: list[np.ndarray], templates: list[np.ndarray]) -> list[np.ndarray]:
        return [ut @ T.T for ut, T in zip(u, templates, strict=True)]

    # -- the Pirls interface -----------------------------------------------------------------
    def linear_predictor(self, u, beta, templates):             # pragma: no cover - guard
        raise UnsupportedError("the linear predictor of Dask data stays on the workers")

    def evaluate(self, u: list[np.ndarray], beta: np.ndarray, templates: list[np.ndarray]
                 ) -> PirlsState:
        b = self._b(u, templates)
        beta = np.asarray(beta, dtype=float)
        sums, xp = self._reduce(evaluate_pass, (b, beta, self._with_x))
        kern, invalid = sums
        rows = RowValues(b, beta, valid=invalid == 0 and bool(np.isfinite(kern)))
        if xp is not None:
            rows.xp, rows.with_x = xp.xp, self._with_x
        ussq = float(sum(np.sum(x * x) for x in u))
        dev = 2.0 * (self._sat_sum - kern)
        return PirlsState(u=u, beta=beta, eta=rows, mu=rows, dev_resid_sum=dev, ussq=ussq,
                          loglik_kernel=kern)

    def minus2_loglik(self, state: PirlsState) -> float:
        return self.aic_constant - 2.0 * state.loglik_kernel

    def weights(self, state: PirlsState):                       # pragma: no cover - guard
        raise UnsupportedError("IRLS weights of Dask data stay on the workers")

    def freeze(self, state: PirlsState, theta: np.ndarray) -> None:
        """Keep the factors at the final state (for vcov and conditional variances) and
        drop the partitions: later factorizations are answered from these."""
        self._frozen = {w: (state, np.array(theta, dtype=float),
                            self.factorize(state, theta, w)) for w in (True, False)}
        self.parts = []
        self.client = None

    def factorize(self, state: PirlsState, theta: np.ndarray, with_x: bool
                  ) -> tuple[BlockedCholesky, Factorization, None]:
        frozen = getattr(self, "_frozen", None)
        if frozen is not None:
            st, th, out = frozen[with_x]
            if state is st and np.array_equal(th, theta):
                return out
            raise RuntimeError("the Dask partitions of this fit were released: only the "
                               "final state's factorization is available")
        rows = state.eta
        self._with_x = with_x
        if rows.xp is not None and rows.with_x == with_x:
            xp = rows.xp
        else:
            xp = self._reduce(factorize_pass, (rows.b, rows.beta, with_x))
        chol = BlockedCholesky(self.terms, xp, gram=self._gram_for(with_x, xp.B))
        f = chol.factorize(theta)
        if f is None:
            raise PirlsError("the penalized weighted system is not positive definite")
        return chol, f, None

    def initial_state(self, templates: list[np.ndarray]) -> PirlsState:
        """β of the GLM without random effects by IRLS (R's glm.fit), one pass per step."""
        p = self.p
        beta: np.ndarray | None = None
        dev_old = np.inf
        for _ in range(51):
            out = self._reduce(glm_start_pass, beta)
            XtWX, XtWz, dev = out[:p * p].reshape(p, p), out[p * p:p * p + p], out[-1]
            if beta is not None:
                if abs(dev - dev_old) <= 1e-10 * (abs(dev) + 0.1):
                    break
                dev_old = dev
            beta = np.linalg.solve(XtWX, XtWz)
        u = [np.zeros((t.n_levels, t.k)) for t in self.terms]
        return self.evaluate(u, beta, templates)
