"""Fit an MMRM: minimize the REML / ML criterion over θ (Newton steps with the analytic
Hessian from the start values; if they do not reach a stationary point with a positive
definite Hessian, quasi-Newton with the analytic gradient followed by Newton steps), and
return the estimates with the Hessian.

The Hessian H of −2ℓ is analytic (`mixedfx.mmrm.hessian`); the asymptotic covariance of
θ̂ is 2 H⁻¹ (the inverse observed information, as SAS's ASYCOV and mmrm's `theta_vcov`). A
fit whose gradient does not vanish or whose Hessian is not positive definite raises
`ConvergenceError` with a suggestion to use a simpler structure (mmrm tries other
optimizers, then fails the same way).
"""

from __future__ import annotations

import warnings

import numpy as np

from mixedfx.errors import ConvergenceError
from mixedfx.lazy import lazy_module
from mixedfx.mmrm.batched import stack_blocks
from mixedfx.mmrm.derivatives import SigmaMap
from mixedfx.mmrm.design import MmrmDesign
from mixedfx.mmrm.hessian import hessian
from mixedfx.mmrm.likelihood import NotPositiveDefiniteError, State, evaluate, gradient
from mixedfx.mmrm.optimum import MmrmFit

optimize = lazy_module("scipy.optimize")  # scipy.optimize costs ~0.1 s at import; only here




class Objective:
    """−2ℓ(θ) and its gradient for one design (NotPositiveDefiniteError → +∞)."""

    def __init__(self, design: MmrmDesign, reml: bool) -> None:
        self.design = design
        self.blocks = design.blocks
        self.stacks = stack_blocks(design.blocks)
        self.reml = reml
        self.smap = SigmaMap(design.term.structure, max(design.n_visits, 1), design.n_groups)
        self.log_w_sum = float(np.log(design.weights).sum())
        self.n_eval = 0

    def state(self, theta: np.ndarray) -> State:
        self.n_eval += 1
        return evaluate(theta, self.stacks, self.smap, self.reml, self.log_w_sum)

    def grad(self, st: State) -> np.ndarray:
        return gradient(st, self.smap, self.reml)

    def value_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            st = self.state(theta)
        except NotPositiveDefiniteError:
            return np.inf, np.zeros_like(theta)
        return st.deviance, self.grad(st)

    def hessian(self, st: State) -> np.ndarray:
        """The analytic Hessian of −2ℓ at the state's θ (`mixedfx.mmrm.hessian`)."""
        return hessian(st, self.blocks, self.smap, self.reml)


def start_values(obj: Objective) -> np.ndarray:
    """θ start: per-visit SDs of the OLS residuals, correlations zero."""
    d = obj.design
    X, y = d.frame.X * np.sqrt(d.weights)[:, None], np.asarray(d.frame.y, float).ravel() \
        * np.sqrt(d.weights)
    r = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    structure = obj.smap.structure
    out = []
    for g in range(d.n_groups):
        rg = r[d.group_codes == g] if (d.group_codes == g).any() else r
        if d.term.spatial:
            sd = np.array([np.std(rg)])
        else:
            vg = d.visit_codes[d.group_codes == g] if (d.group_codes == g).any() \
                else d.visit_codes
            sd = np.array([np.std(rg[vg == v]) if (vg == v).sum() > 1 else np.std(rg)
                           for v in range(d.n_visits)])
        sd = np.where(sd > 0, sd, max(float(np.std(r)), 1e-3))
        out.append(structure.start(sd))
    return np.concatenate(out)


def _fail(obj: Objective, why: str) -> ConvergenceError:
    return ConvergenceError(f"the {obj.design.term.structure} MMRM did not converge ({why}); "
                            "try a simpler covariance structure (e.g. toeph, ar1h or cs "
                            "instead of us) or check the data")


def _newton_step(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The Newton step H⁻¹g with H's eigenvalues replaced by their absolute values (floored
    at 1e-8 of the largest), so that far from the optimum the step still descends."""
    w, V = np.linalg.eigh(H)
    w = np.maximum(np.abs(w), 1e-8 * max(float(np.max(np.abs(w))), 1e-300))
    return V @ ((V.T @ g) / w)


def _newton(obj: Objective, theta: np.ndarray, st: State, max_iter: int
            ) -> tuple[np.ndarray, State, np.ndarray]:
    """Newton steps with the analytic Hessian (`_newton_step`, halved until −2ℓ decreases);
    returns θ, its state and the Hessian there."""
    H = obj.hessian(st)
    for _ in range(max_iter):
        g = obj.grad(st)
        if np.max(np.abs(g)) < 1e-8:
            break
        step = _newton_step(H, g)
        for t in 0.5 ** np.arange(30):
            try:
                cand = obj.state(theta - t * step)
            except NotPositiveDefiniteError:
                continue
            if cand.deviance <= st.deviance + 1e-10:
                break
        else:
            break
        if np.max(np.abs(t * step)) < 1e-12:
            break
        theta, st = theta - t * step, cand
        H = obj.hessian(st)
    return theta, st, H


def _converged(st: State, g: np.ndarray, H: np.ndarray) -> tuple[bool, str]:
    """Gradient small relative to the criterion's scale and H positive definite."""
    ev_min = float(np.linalg.eigvalsh(H).min())
    scale = max(1.0, abs(st.deviance))
    if ev_min <= 0:
        return False, "the Hessian is not positive definite"
    if not np.max(np.abs(g)) < 1e-3 * max(1.0, scale / 1e3):
        return False, f"gradient {np.max(np.abs(g)):.3g} at the end point"
    return True, ""


def fit_mmrm(design: MmrmDesign, reml: bool, start: np.ndarray | None = None) -> MmrmFit:
    """Minimize −2ℓ over θ and return the optimum with its Hessian."""
    obj = Objective(design, reml)
    theta = start_values(obj) if start is None else np.asarray(start, float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:                                   # Newton with the analytic Hessian first
            st = obj.state(theta)
            theta_n, st, H = _newton(obj, theta, st, max_iter=40)
            ok, _ = _converged(st, obj.grad(st), H)
        except NotPositiveDefiniteError:
            ok = False
        if ok:
            theta = theta_n
        else:                                  # quasi-Newton from the start, then Newton
            res = optimize.minimize(obj.value_grad, theta, jac=True, method="BFGS",
                           options={"gtol": 1e-6, "maxiter": 2000})
            try:
                st = obj.state(res.x)
            except NotPositiveDefiniteError:
                raise _fail(obj, "Σ is not positive definite at the optimizer's end "
                                 "point") from None
            theta, st, H = _newton(obj, res.x, st, max_iter=20)
    return _finish(obj, st, H)


def _finish(obj: Objective, st: State, H: np.ndarray) -> MmrmFit:
    """The fit at the state st with Hessian H, or ConvergenceError if st is not a minimum."""
    ok, why = _converged(st, obj.grad(st), H)
    if not ok:
        raise _fail(obj, why)
    return MmrmFit(st, H, 2.0 * np.linalg.inv(H), obj.reml, obj.smap, obj.n_eval, ok)


def fit_mmrm_at(design: MmrmDesign, reml: bool, theta: np.ndarray) -> MmrmFit:
    """The fit at given θ without optimizing (a loaded model: the same state, Hessian and
    checks as the end of `fit_mmrm`); NotPositiveDefiniteError if Σ(θ) is not."""
    obj = Objective(design, reml)
    st = obj.state(np.asarray(theta, float))
    return _finish(obj, st, obj.hessian(st))
