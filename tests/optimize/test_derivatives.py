"""deriv12's points built at once equal the coordinate-by-coordinate steps of lme4's
`deriv12`, bit for bit, and the derivatives of a quadratic are exact to rounding."""

from __future__ import annotations

import numpy as np
import pytest

from mixedfx.optimize.derivatives import (
    central_gradient,
    central_gradient_from,
    central_gradient_points,
    deriv12,
    deriv12_points,
    forward_hessian,
    forward_hessian_from,
    forward_hessian_points,
)


def _stepwise(x: np.ndarray, delta: float) -> np.ndarray:
    rows = []
    for i in range(len(x)):
        xadd, xsub = x.copy(), x.copy()
        xadd[i] += delta
        xsub[i] -= delta
        rows += [xadd, xsub]
        for j in range(i):
            xaa, xas, xsa, xss = xadd.copy(), xadd.copy(), xsub.copy(), xsub.copy()
            xaa[j] += delta
            xas[j] -= delta
            xsa[j] += delta
            xss[j] -= delta
            rows += [xaa, xas, xsa, xss]
    return np.array(rows).reshape(len(rows), len(x))


@pytest.mark.parametrize("nx", [1, 2, 3, 6])
@pytest.mark.parametrize("delta", [1e-4, 1e-3])
def test_points_equal_the_stepwise_construction(nx, delta) -> None:
    rng = np.random.default_rng(nx)
    for _ in range(50):
        x = rng.normal(size=nx) * 10.0 ** rng.uniform(-9, 3, size=nx)
        x[rng.random(nx) < 0.2] = 0.0
        x[rng.random(nx) < 0.1] = -0.0
        assert deriv12_points(x, delta).tobytes() == _stepwise(x, delta).tobytes()


def test_quadratic_derivatives() -> None:
    A = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 3.0]])
    b = np.array([1.0, -2.0, 0.5])

    def f(x):
        return float(0.5 * x @ A @ x + b @ x)

    x = np.array([0.3, -0.1, 0.7])
    g, H = deriv12(f, x)
    np.testing.assert_allclose(g, A @ x + b, rtol=1e-7)
    np.testing.assert_allclose(H, A, rtol=1e-5, atol=1e-6)
    g2, H2 = deriv12(f, x, many=lambda X: np.array([f(p) for p in X]))
    assert g2.tobytes() == g.tobytes() and H2.tobytes() == H.tobytes()


def _forward_stepwise(f, x: np.ndarray, delta: float) -> np.ndarray:
    """forward_hessian's formula, point by point with NumPy scalars."""
    n = len(x)
    eye = np.eye(n) * delta
    fx = f(x)
    fi = [f(x + eye[i]) for i in range(n)]
    H = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            H[i, j] = H[j, i] = (f((x + eye[i]) + eye[j]) - fi[i] - fi[j] + fx) / delta**2
    return H


@pytest.mark.parametrize("nx", [1, 2, 5])
def test_forward_hessian_and_central_gradient_are_the_stepwise_bits(nx) -> None:
    rng = np.random.default_rng(10 + nx)

    def f(x):
        return float(np.sum(np.exp(0.3 * x)) + np.prod(np.cos(x)) + (x[0] * x[-1]) ** 2)

    for delta in (1e-4, 1e-3):
        x = rng.normal(size=nx) * 10.0 ** rng.uniform(-6, 1, size=nx)
        many = lambda P: np.array([f(p) for p in P])  # noqa: E731
        H = forward_hessian(f, x, delta=delta, many=many)
        assert H.tobytes() == _forward_stepwise(f, x, delta).tobytes()
        assert forward_hessian(f, x, delta=delta).tobytes() == H.tobytes()
        E = np.eye(nx) * delta
        g = np.array([(f(x + E[i]) - f(x - E[i])) / (2 * delta) for i in range(nx)])
        assert central_gradient(f, x, delta).tobytes() == g.tobytes()


@pytest.mark.parametrize("nx", [1, 3])
def test_points_and_values_split_gives_the_same_derivatives(nx) -> None:
    """The points/values halves (one evaluation call for both sets, glmm.fit) give the bits
    of `central_gradient` and `forward_hessian`, with and without f(x) given."""
    rng = np.random.default_rng(30 + nx)

    def f(x):
        return float(np.sum(np.sin(x) * x) + np.exp(x[0]))

    x = rng.normal(size=nx)
    gp = central_gradient_points(x)
    assert gp.shape == (2 * nx, nx)
    g = central_gradient_from(np.array([f(p) for p in gp]))
    assert g.tobytes() == central_gradient(f, x).tobytes()
    for fx in (None, f(x)):
        hp = forward_hessian_points(x, fx)
        assert hp.shape == ((fx is None) + nx + nx * (nx + 1) // 2, nx)
        H = forward_hessian_from([f(p) for p in hp], nx, fx)
        assert H.tobytes() == forward_hessian(f, x, fx).tobytes()
