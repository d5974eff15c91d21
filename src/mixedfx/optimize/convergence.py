"""lme4's post-fit checks: singular (boundary) fits, scaled gradient and Hessian (`checkConv`)."""

from __future__ import annotations

import math
from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg import cython_lapack, lapack

from mixedfx.native import kernel
from mixedfx.validate import check_number
from mixedfx.warn import warn

if TYPE_CHECKING:
    from mixedfx.optimize.control import Control


class ConvergenceWarning(UserWarning):
    """The optimizer stopped where lme4's convergence checks would complain."""


class SingularFitWarning(UserWarning):
    """Some variance parameters are (near) zero: lme4's 'boundary (singular) fit'."""


_NOT_FINITE = "Problem with Hessian check (infinite or missing values?)"

SINGULAR_MESSAGE = ("boundary (singular) fit: a variance is estimated at 0 or a correlation "
                    "at +-1 (m.is_singular()); see 'Singular fits' in mixedfx's docs "
                    "(docs/fitting.md#singular-fits)")


def is_singular(theta: np.ndarray, lower: np.ndarray, tol: float = 1e-4) -> bool:
    """lme4's `isSingular`: any θ with lower bound 0 below `tol`."""
    if type(tol) is not float or not tol >= 0.0 or tol == math.inf:
        tol = check_number(tol, "tol", 0.0, low_open=False)
    # a few values: compared as Python floats (the same comparisons as NumPy's)
    th = theta.tolist() if type(theta) is np.ndarray and theta.ndim == 1 else \
        np.asarray(theta, dtype=float).ravel().tolist()
    lo = lower.tolist() if type(lower) is np.ndarray and lower.ndim == 1 else \
        np.asarray(lower, dtype=float).ravel().tolist()
    for t, b in zip(th, lo, strict=True):  # noqa: SIM110 (a loop: no generator for a few values)
        if b == 0 and t < tol:
            return True
    return False


def _upper_cholesky(H: np.ndarray) -> np.ndarray | None:
    """The upper Cholesky factor R of H = RᵀR (LAPACK's dpotrf: numpy's `cholesky(H).T`
    without its wrapper), or None when H is not positive definite."""
    R, info = lapack.dpotrf(H, lower=0, clean=1)
    return R if info == 0 else None


def check_hessian(H: np.ndarray, tol: float, kind: str = "",
                  positive_definite: bool | None = None) -> list[str]:
    """lme4's `checkHess`: negative, zero or badly scaled eigenvalues of the Hessian
    (`positive_definite`: whether H's Cholesky factor exists, when the caller knows)."""
    H = np.asarray(H, dtype=float)
    if not _all_finite(H):
        return [_NOT_FINITE]
    return _hessian_messages(H, tol, kind, positive_definite)


def _hessian_messages(H: np.ndarray, tol: float, kind: str,
                      positive_definite: bool | None) -> list[str]:
    """`check_hessian` of a Hessian known to be finite."""
    ev, _, info = lapack.dsyevd(H, compute_v=0, lower=1)     # numpy's eigvalsh(H)
    return _eigen_messages(ev.tolist(), info, tol, kind, positive_definite, H)


def _eigen_messages(evs: list[float], info: int, tol: float, kind: str,
                    positive_definite: bool | None, H: np.ndarray | None = None) -> list[str]:
    """`check_hessian`'s verdict from the finite Hessian's eigenvalues (dsyevd's, with its
    `info`) and whether its Cholesky factor exists (None: found from H when needed)."""
    if info != 0:
        raise np.linalg.LinAlgError("eigenvalues did not converge")
    label = f" {kind}" if kind else ""
    neg_tol = -tol
    negative = 0
    for e in evs:       # (loops: a few values, no comprehension's call)
        if e < neg_tol:
            negative += 1
    if negative:
        return [f"Model failed to converge: degenerate{label} Hessian with {negative} "
                "negative eigenvalues"]
    if positive_definite is None:
        positive_definite = _upper_cholesky(H) is not None
    near_zero = False
    for e in evs:
        if abs(e) < tol:
            near_zero = True
            break
    if not positive_definite or near_zero:
        return [f"{kind + ' ' if kind else ''}Hessian is numerically singular: parameters are "
                "not uniquely determined"]
    messages = []
    if not evs:
        return messages
    if max(evs) * tol > 1:
        messages.append("Model is nearly unidentifiable: very large eigenvalue\n"
                        " - Rescale variables?")
    elif min(evs) / max(evs) < tol:
        messages.append("Model is nearly unidentifiable: large eigenvalue ratio\n"
                        " - Rescale variables?")
    return messages


def check_gradient(g: np.ndarray, H: np.ndarray, tol: float) -> list[str]:
    """lme4's scaled-gradient check: max over i of min(|gᵢ|, |sᵢ|) ≤ tol, where s solves
    R s = g for the upper Cholesky factor R of the Hessian (H = RᵀR)."""
    return _gradient_messages(g, hessian_factor(H), tol)


def hessian_factor(H: np.ndarray) -> np.ndarray | None:
    """The upper Cholesky factor R of H = RᵀR that `check_gradient` uses, or None when H
    is not finite or not positive definite: computed once, it serves several checks of the
    same Hessian (`gradient_messages`, `check_hessian(positive_definite=R is not None)`)."""
    H = np.asarray(H, dtype=float)
    return _upper_cholesky(H) if _all_finite(H) else None


def gradient_messages(g: np.ndarray, R: np.ndarray | None, tol: float) -> list[str]:
    """`check_gradient(g, H, tol)` from `hessian_factor(H)`."""
    return _gradient_messages(g, R, tol)


def _all_finite(a: np.ndarray) -> bool:
    """Whether every entry is finite (a few values: cheaper as Python floats than a ufunc)."""
    return all(map(math.isfinite, a.ravel().tolist()))


def _gradient_messages(g: np.ndarray, R: np.ndarray | None, tol: float) -> list[str]:
    """`check_gradient` from the Hessian's upper Cholesky factor R (None: H is not finite
    or not positive definite)."""
    return scaled_gradient_messages(scaled_gradient(g, R), tol)


def scaled_gradient(g: np.ndarray, R: np.ndarray | None) -> list[float] | None:
    """min(|sᵢ|, |gᵢ|) for each component, s solving R s = g (R the Hessian's upper
    Cholesky factor, `hessian_factor`); None when R is None or the solve fails. Computed
    once, it serves checks at several tolerances (`scaled_gradient_messages`)."""
    if R is None:
        return None
    g = np.asarray(g, dtype=float)
    if len(g):
        scgrad, info = lapack.dtrtrs(R, g, lower=0)
        if info != 0:
            return None
    else:
        scgrad = g
    return [min(abs(s), abs(v)) for s, v in zip(scgrad.tolist(), g.tolist(), strict=True)]


def scaled_gradient_messages(mingrad: list[float] | None, tol: float) -> list[str]:
    """lme4's scaled-gradient verdict at `tol` from `scaled_gradient`'s values."""
    if mingrad is None:
        return ["unable to evaluate scaled gradient"]
    worst = max(mingrad, default=0.0)
    if worst > tol and not any([m != m for m in mingrad]):   # a NaN: no verdict, as before
        comp = mingrad.index(worst) + 1
        return [f"Model failed to converge with max|grad| = {worst:.6g} "
                f"(tol = {tol:g}, component {comp})"]
    return []


@lru_cache(maxsize=1)
def _convcheck() -> ModuleType | None:
    """The compiled checks (`mixedfx._native.convcheck`) with SciPy's dpotrf, dtrtrs and
    dsyevd bound, or None when it is not built."""
    mod = kernel("convcheck")
    if mod is None:
        return None
    capi = cython_lapack.__pyx_capi__
    mod.bind(capi["dpotrf"], capi["dtrtrs"], capi["dsyevd"])
    return mod


def compiled_lapack() -> ModuleType | None:
    """The compiled kernel of these checks with SciPy's LAPACK routines bound
    (`mixedfx._native.convcheck`; it also serves `lmm.solution`'s small triangular solves),
    or None when it is not built."""
    return _convcheck()


class HessianChecks:
    """lme4's checks of one finite-difference Hessian H (and gradient g) at the optimum of a
    fit whose first `k` coordinates are θ: `mingrad`, the scaled gradient
    (`scaled_gradient(g, hessian_factor(H))`), and `messages(tol)`, `check_hessian` of H
    and, when there are fixed effects, of their block H[k:, k:]. Computed in one compiled
    call (`mixedfx._native.convcheck`: the LAPACK routines of SciPy's wrappers, the same
    bits) when the kernel is built, else by those functions."""

    __slots__ = ("H", "_compiled", "k", "mingrad")

    def __init__(self, H: np.ndarray, g: np.ndarray, k: int) -> None:
        self.H, self.k = H, k
        mod = _convcheck()
        n = H.shape[0] if type(H) is np.ndarray and H.ndim == 2 else -1
        if mod is not None and n >= 1 and H.shape[1] == n and H.dtype == np.float64 and \
                H.flags.c_contiguous and type(g) is np.ndarray and g.shape == (n,) and \
                g.dtype == np.float64 and g.flags.c_contiguous and 0 <= k <= n:
            self._compiled = mod.hessian_checks(H, g, k)
            self.mingrad = self._compiled[0]
        else:
            self._compiled = None
            self.mingrad = scaled_gradient(g, hessian_factor(H))

    def messages(self, tol: float) -> list[str]:
        """`check_hessian(H, tol)`, then `check_hessian(H[k:, k:], tol, "fixed-effect")`
        when the block has rows."""
        H, k, out = self.H, self.k, self._compiled
        if out is None:
            msgs = check_hessian(H, tol, positive_definite=hessian_factor(H) is not None)
            if k < H.shape[0]:
                msgs += check_hessian(H[k:, k:], tol, "fixed-effect")
            return msgs
        _, pd, evs, info, fixed = out
        msgs = [_NOT_FINITE] if evs is None else _eigen_messages(evs, info, tol, "", pd)
        if fixed is not None:
            fevs, finfo, fpd = fixed
            msgs += [_NOT_FINITE] if fevs is None else \
                _eigen_messages(fevs, finfo, tol, "fixed-effect", fpd)
        return msgs


def convergence_messages(theta: np.ndarray, lower: np.ndarray, optimizer_messages: list[str],
                         gradient: np.ndarray | None, hessian: np.ndarray | None,
                         control: Control) -> tuple[list[str], list[str]]:
    """lme4's post-fit checks: (the singular-fit message, the optimizer's messages plus the
    gradient and Hessian checks of `checkConv` when the derivatives were computed)."""
    singular = [SINGULAR_MESSAGE] if is_singular(theta, lower, control.check_singular_tol) \
        else []
    conv = list(optimizer_messages)
    if control.check_conv and gradient is not None and hessian is not None:
        H = np.asarray(hessian, dtype=float)
        if type(gradient) is np.ndarray and gradient.ndim == 1 and H.ndim == 2 and \
                H.shape[0] == len(gradient):
            # one compiled call (the same LAPACK routines, the same bits): the scaled
            # gradient from H's Cholesky factor, then H's eigenvalues
            checks = HessianChecks(H, gradient, len(gradient))
            conv += scaled_gradient_messages(checks.mingrad, control.check_conv_grad_tol)
            conv += checks.messages(control.check_conv_hess_tol)
            return singular, conv
        finite = _all_finite(H)
        R = _upper_cholesky(H) if finite else None     # one factor for both checks
        conv += _gradient_messages(gradient, R, control.check_conv_grad_tol)
        conv += _hessian_messages(H, control.check_conv_hess_tol, "", R is not None) \
            if finite else check_hessian(H, control.check_conv_hess_tol)
    return singular, conv


def emit(messages: list[str], category: type[Warning]) -> None:
    """Issue each message as a warning of the given category, attributed to the user's line
    (`mixedfx.warn`)."""
    for msg in messages:
        warn(msg, category)
