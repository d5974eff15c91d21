"""lme4's post-fit checks (`optimize.convergence`): the singular-fit test and the gradient and
Hessian checks, which `convergence_messages` runs from one Cholesky factor of the Hessian —
the messages of the two checks run on their own."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mixedfx.errors import ArgumentTypeError
from mixedfx.optimize import Control, convergence
from mixedfx.optimize.convergence import (
    SINGULAR_MESSAGE,
    HessianChecks,
    check_gradient,
    check_hessian,
    convergence_messages,
    gradient_messages,
    hessian_factor,
    is_singular,
    scaled_gradient,
    scaled_gradient_messages,
)

CTRL = Control()

HESSIANS = {
    "positive definite": np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]]),
    "negative eigenvalue": np.array([[1.0, 2.0], [2.0, 1.0]]),
    "singular": np.array([[1.0, 1.0], [1.0, 1.0]]),
    "badly scaled": np.diag([1e7, 1.0]),
    "large ratio": np.diag([1.0, 1e-7 * 5]),
    "not finite": np.array([[1.0, math.nan], [math.nan, 1.0]]),
    "infinite": np.array([[math.inf, 0.0], [0.0, 1.0]]),
    "empty": np.zeros((0, 0)),
}


@pytest.mark.parametrize("name", list(HESSIANS))
@pytest.mark.parametrize("scale", [1e-6, 1.0])
def test_shared_factor_gives_the_messages_of_the_separate_checks(name, scale) -> None:
    H = HESSIANS[name]
    g = scale * np.linspace(0.5, 1.5, len(H))
    _, conv = convergence_messages(np.ones(len(H)), np.zeros(len(H)), ["from the optimizer"],
                                   g, H, CTRL)
    expected = ["from the optimizer", *check_gradient(g, H, CTRL.check_conv_grad_tol),
                *check_hessian(H, CTRL.check_conv_hess_tol)]
    assert conv == expected


@pytest.mark.parametrize("name", list(HESSIANS))
@pytest.mark.parametrize("tol", [1e-4, 2e-3])
def test_one_hessian_factor_serves_the_gradient_and_hessian_checks(name, tol) -> None:
    H = HESSIANS[name]
    g = 1e-3 * np.linspace(0.5, 1.5, len(H))
    R = hessian_factor(H)
    assert gradient_messages(g, R, tol) == check_gradient(g, H, tol)
    assert check_hessian(H, CTRL.check_conv_hess_tol, positive_definite=R is not None) == \
        check_hessian(H, CTRL.check_conv_hess_tol)


def test_the_checks_say_what_lme4_says() -> None:
    H = HESSIANS["positive definite"]
    assert check_gradient(np.full(3, 1e-6), H, 2e-3) == []
    assert check_gradient(np.array([0.0, 0.5, 0.0]), H, 2e-3)[0].startswith(
        "Model failed to converge with max|grad|")
    assert check_gradient(np.zeros(2), HESSIANS["not finite"], 2e-3) == [
        "unable to evaluate scaled gradient"]
    assert "negative eigenvalues" in check_hessian(HESSIANS["negative eigenvalue"], 1e-6)[0]
    assert "numerically singular" in check_hessian(HESSIANS["singular"], 1e-6)[0]
    assert "very large eigenvalue" in check_hessian(HESSIANS["badly scaled"], 1e-6)[0]
    assert check_hessian(HESSIANS["not finite"], 1e-6) == [
        "Problem with Hessian check (infinite or missing values?)"]


def test_is_singular_looks_at_the_bounded_values_only() -> None:
    lower = np.array([0.0, -math.inf, 0.0])
    assert not is_singular(np.array([0.5, 0.0, 0.2]), lower)
    assert is_singular(np.array([0.5, 0.3, 5e-5]), lower)
    assert is_singular([[0.5, 0.3, 0.0]], [lower])                  # any array-like shape
    assert not is_singular(np.array([0.5, 0.3, 5e-5]), lower, tol=1e-5)
    assert not is_singular(np.array([math.nan, 0.3, 0.2]), lower)
    singular, _ = convergence_messages(np.array([0.0, 1.0]), np.zeros(2), [], None, None, CTRL)
    assert singular == [SINGULAR_MESSAGE]


@pytest.mark.parametrize("name", list(HESSIANS))
def test_one_scaled_gradient_serves_every_tolerance(name) -> None:
    """`scaled_gradient` solved once (glmer's polish test and lme4's check) gives, at each
    tolerance, the messages of the gradient check run on its own."""
    H = HESSIANS[name]
    g = 1e-3 * np.linspace(0.5, 1.5, len(H))
    R = hessian_factor(H)
    mingrad = scaled_gradient(g, R)
    for tol in (1e-6, 1e-4, 2e-3, 1.0):
        assert scaled_gradient_messages(mingrad, tol) == gradient_messages(g, R, tol) == \
            check_gradient(g, H, tol)


def _hessians() -> list[np.ndarray]:
    """Hessians for every verdict: positive definite over many scales, indefinite,
    singular, badly scaled, non-finite in the θ rows or in the fixed-effect block."""
    rng = np.random.default_rng(7)
    out = [HESSIANS[name] for name in HESSIANS if name != "empty"]
    for n in range(1, 8):
        for _ in range(12):
            A = rng.normal(size=(n, n)) * 10.0 ** rng.integers(-4, 5, size=n)
            H = A @ A.T + np.diag(rng.random(n) * 10.0 ** rng.integers(-9, 2, size=n))
            out.append(H)
            out.append(H - 1.1 * np.linalg.eigvalsh(H)[0] * np.eye(n))     # one eigenvalue < 0
        A = rng.normal(size=(n, n))
        out.append(A @ A.T - (A @ A.T)[0, 0] * np.eye(n) * 1.5)
        if n > 1:
            v = rng.normal(size=n)
            out.append(np.outer(v, v))                                     # rank one
            for where in (0, n - 1):
                H = np.eye(n)
                H[where, where] = math.nan
                out.append(H)
    return [np.ascontiguousarray((H + H.T) / 2) for H in out]


def _python_checks(H: np.ndarray, g: np.ndarray, k: int, tol: float) -> tuple:
    mingrad = scaled_gradient(g, hessian_factor(H))
    msgs = check_hessian(H, tol, positive_definite=hessian_factor(H) is not None)
    if k < len(H):
        msgs += check_hessian(H[k:, k:], tol, "fixed-effect")
    return (None if mingrad is None else np.array(mingrad).tobytes()), msgs


@pytest.mark.parametrize("compiled", [True, False])
def test_hessian_checks_are_the_separate_checks(monkeypatch, compiled) -> None:
    """`HessianChecks` (one compiled call, or the Python functions when the kernel is not
    built) gives the scaled gradient's bits and the messages of `scaled_gradient`,
    `check_hessian` of H and of its fixed-effect block, for every verdict and block start."""
    if compiled:
        assert convergence._convcheck() is not None
    else:
        monkeypatch.setattr(convergence, "_convcheck", lambda: None)
    rng = np.random.default_rng(8)
    seen = set()
    for H in _hessians():
        n = len(H)
        g = rng.normal(size=n) * 10.0 ** rng.integers(-7, 1, size=n)
        if rng.random() < 0.1:
            g[rng.integers(n)] = math.nan
        for k in range(n + 1):
            checks = HessianChecks(H, g, k)
            assert (checks._compiled is not None) == compiled
            for tol in (1e-6, 1e-3):
                mingrad, msgs = _python_checks(H, g, k, tol)
                got = None if checks.mingrad is None else np.array(checks.mingrad).tobytes()
                assert got == mingrad
                assert checks.messages(tol) == msgs
                seen.update(m.split(":")[0] for m in msgs)
    assert len(seen) >= 5       # every kind of verdict was met


def test_hessian_checks_refuse_a_malformed_call() -> None:
    mod = convergence._convcheck()
    if mod is None:
        pytest.skip("the convcheck kernel is not built")
    with pytest.raises(ArgumentTypeError, match="n x n float64"):
        mod.hessian_checks(np.eye(3), np.zeros(2), 0)
    with pytest.raises(ArgumentTypeError, match="0 <= k <= n"):
        mod.hessian_checks(np.eye(2), np.zeros(2), 3)
    # a view the kernel cannot read as one block: the Python checks serve
    H = np.eye(4)[::2, ::2]
    assert HessianChecks(H, np.ones(2), 1)._compiled is None
