"""lme4's post-fit checks: singular (boundary) fits, scaled gradient and Hessian (`checkConv`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mixedfx.validate import check_number
from mixedfx.warn import warn

if TYPE_CHECKING:
    from mixedfx.optimize.control import Control


class ConvergenceWarning(UserWarning):
    """The optimizer stopped where lme4's convergence checks would complain."""


class SingularFitWarning(UserWarning):
    """Some variance parameters are (near) zero: lme4's 'boundary (singular) fit'."""


SINGULAR_MESSAGE = ("boundary (singular) fit: a variance is estimated at 0 or a correlation "
                    "at +-1 (m.is_singular()); see 'Singular fits' in mixedfx's docs "
                    "(docs/fitting.md#singular-fits)")


def is_singular(theta: np.ndarray, lower: np.ndarray, tol: float = 1e-4) -> bool:
    """lme4's `isSingular`: any θ with lower bound 0 below `tol`."""
    tol = check_number(tol, "tol", 0.0, low_open=False)
    theta = np.asarray(theta)
    return bool(np.any(theta[np.asarray(lower) == 0] < tol))


def check_hessian(H: np.ndarray, tol: float, kind: str = "") -> list[str]:
    """lme4's `checkHess`: negative, zero or badly scaled eigenvalues of the Hessian."""
    label = f" {kind}" if kind else ""
    if not np.all(np.isfinite(H)):
        return ["Problem with Hessian check (infinite or missing values?)"]
    ev = np.linalg.eigvalsh(H)
    negative = int(np.sum(ev < -tol))
    if negative:
        return [f"Model failed to converge: degenerate{label} Hessian with {negative} "
                "negative eigenvalues"]
    try:
        np.linalg.cholesky(H)
        chol_ok = True
    except np.linalg.LinAlgError:
        chol_ok = False
    if np.any(np.abs(ev) < tol) or not chol_ok:
        return [f"{kind + ' ' if kind else ''}Hessian is numerically singular: parameters are "
                "not uniquely determined"]
    messages = []
    if ev.max() * tol > 1:
        messages.append("Model is nearly unidentifiable: very large eigenvalue\n"
                        " - Rescale variables?")
    elif ev.min() / ev.max() < tol:
        messages.append("Model is nearly unidentifiable: large eigenvalue ratio\n"
                        " - Rescale variables?")
    return messages


def check_gradient(g: np.ndarray, H: np.ndarray, tol: float) -> list[str]:
    """lme4's scaled-gradient check: max over i of min(|gᵢ|, |sᵢ|) ≤ tol, where s solves
    R s = g for the upper Cholesky factor R of the Hessian (H = RᵀR)."""
    try:
        R = np.linalg.cholesky(H).T          # H = RᵀR, R upper (R's chol)
        scgrad = np.linalg.solve(R, g)
    except np.linalg.LinAlgError:
        return ["unable to evaluate scaled gradient"]
    mingrad = np.minimum(np.abs(scgrad), np.abs(g))
    worst = float(mingrad.max()) if len(mingrad) else 0.0
    if worst > tol:
        comp = int(np.argmax(mingrad)) + 1
        return [f"Model failed to converge with max|grad| = {worst:.6g} "
                f"(tol = {tol:g}, component {comp})"]
    return []


def convergence_messages(theta: np.ndarray, lower: np.ndarray, optimizer_messages: list[str],
                         gradient: np.ndarray | None, hessian: np.ndarray | None,
                         control: Control) -> tuple[list[str], list[str]]:
    """lme4's post-fit checks: (the singular-fit message, the optimizer's messages plus the
    gradient and Hessian checks of `checkConv` when the derivatives were computed)."""
    singular = [SINGULAR_MESSAGE] if is_singular(theta, lower, control.check_singular_tol) \
        else []
    conv = list(optimizer_messages)
    if control.check_conv and gradient is not None and hessian is not None:
        conv += check_gradient(gradient, hessian, control.check_conv_grad_tol)
        conv += check_hessian(hessian, control.check_conv_hess_tol)
    return singular, conv


def emit(messages: list[str], category: type[Warning]) -> None:
    """Issue each message as a warning of the given category, attributed to the user's line
    (`mixedfx.warn`)."""
    for msg in messages:
        warn(msg, category)
