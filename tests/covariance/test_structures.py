"""The covariance-structure parameterizations: correlation patterns, bounds, the semi-definite
Cholesky factor at the bounds, Toeplitz partial autocorrelations, names and derivatives."""

from __future__ import annotations

import numpy as np
import pytest

from mixedfx.covariance import (
    AR1,
    STRUCTURES,
    CompoundSymmetry,
    Diagonal,
    HomogeneousCompoundSymmetry,
    Toeplitz,
    Unstructured,
    structure_for,
)
from mixedfx.covariance.base import psd_cholesky
from mixedfx.covariance.toeplitz import lag_correlations, partial_autocorrelations


def cov(structure, theta):
    T = structure.template(np.asarray(theta, dtype=float))
    assert np.allclose(T, np.tril(T))
    return T @ T.T


def test_diag() -> None:
    np.testing.assert_allclose(cov(Diagonal(3), [1.0, 2.0, 0.5]), np.diag([1.0, 4.0, 0.25]))
    assert Diagonal(3).n_theta == 3
    np.testing.assert_array_equal(Diagonal(3).lower_bounds(), np.zeros(3))


def test_cs_heterogeneous_and_homogeneous() -> None:
    s = np.array([1.0, 2.0, 3.0])
    C = cov(CompoundSymmetry(3), [*s, 0.4])
    R = np.full((3, 3), 0.4) + 0.6 * np.eye(3)
    np.testing.assert_allclose(C, np.outer(s, s) * R)
    np.testing.assert_allclose(cov(HomogeneousCompoundSymmetry(3), [2.0, 0.4]), 4 * R)
    lo, up = CompoundSymmetry(3).lower_bounds(), CompoundSymmetry(3).upper_bounds()
    assert lo[-1] == pytest.approx(-0.5) and up[-1] == 1.0
    assert HomogeneousCompoundSymmetry(4).n_theta == 2
    # at the lower bound R is singular but still a covariance
    C = cov(CompoundSymmetry(3), [1.0, 1.0, 1.0, -0.5])
    np.testing.assert_allclose(C, np.full((3, 3), -0.5) + 1.5 * np.eye(3), atol=1e-12)


def test_ar1_closed_form_factor() -> None:
    a = AR1(5)
    for rho in (-0.9, 0.0, 0.3, 0.95, 1.0, -1.0):
        lag = np.abs(np.subtract.outer(np.arange(5), np.arange(5)))
        np.testing.assert_allclose(cov(a, [2.0, rho]), 4.0 * rho**lag, atol=1e-12)
    assert a.n_theta == 2
    np.testing.assert_array_equal(a.upper_bounds(), [np.inf, 1.0])


def test_toeplitz_partial_autocorrelations() -> None:
    pacf = np.array([0.6, -0.3, 0.2])
    rho = lag_correlations(pacf)
    np.testing.assert_allclose(partial_autocorrelations(rho), pacf, atol=1e-12)
    # an AR(1) process has pacf (ρ, 0, 0)
    np.testing.assert_allclose(lag_correlations(np.array([0.5, 0.0, 0.0])),
                               [0.5, 0.25, 0.125])
    t = Toeplitz(4)
    s = np.array([1.0, 2.0, 1.5, 0.5])
    C = cov(t, [*s, *pacf])
    R = C / np.outer(s, s)
    for d in range(1, 4):
        np.testing.assert_allclose(np.diagonal(R, -d), rho[d - 1])
    assert np.all(np.linalg.eigvalsh(R) > 0)
    assert t.n_theta == 7
    # glmmTMB's lag correlations read off the fitted covariance
    names = ["a", "b", "c", "d"]
    params = dict(t.parameters(C, names, "g"))
    assert params["cor_c.a|g"] == pytest.approx(rho[1])


def test_psd_cholesky_refuses_indefinite() -> None:
    with pytest.raises(ValueError, match="not positive semi-definite"):
        psd_cholesky(np.array([[1.0, 2.0], [2.0, 1.0]]))
    L = psd_cholesky(np.ones((3, 3)))
    np.testing.assert_allclose(L @ L.T, np.ones((3, 3)))


def test_out_of_bound_correlations_are_clipped() -> None:
    """Finite-difference steps just beyond a bound give the bound's template."""
    np.testing.assert_allclose(AR1(3).template([1.0, 1.0 + 1e-6]),
                               AR1(3).template([1.0, 1.0]))
    np.testing.assert_allclose(CompoundSymmetry(3).template([1, 1, 1, -0.6]),
                               CompoundSymmetry(3).template([1, 1, 1, -0.5]))


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_interface(name: str) -> None:
    s = structure_for(4, name)
    assert s.name == name
    assert s.structured == (name != "us")
    th = s.start()
    assert len(th) == s.n_theta == len(s.lower_bounds()) == len(s.upper_bounds())
    assert np.all(s.lower_bounds() <= th) and np.all(th <= s.upper_bounds())
    names = s.theta_names("g", ["a", "b", "c", "d"])
    assert len(names) == s.n_theta and len(set(names)) == s.n_theta
    th = th + 0.1 * np.arange(s.n_theta) / s.n_theta
    D = s.template_derivatives(th)
    h = 1e-6
    for i in range(s.n_theta):
        e = np.zeros(s.n_theta)
        e[i] = h
        num = (s.template(th + e) - s.template(th - e)) / (2 * h)
        np.testing.assert_allclose(D[i], num, atol=1e-5)
    labels = [n for n, _ in s.parameters(cov(s, th), ["a", "b", "c", "d"], "g")]
    assert labels[0] == "sd_a|g"


def test_unstructured_is_lme4() -> None:
    u = Unstructured(2)
    assert u.theta_names("Subject", ["(Intercept)", "Days"]) == [
        "Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days"]
    assert not u.structured


def test_unknown_structure() -> None:
    with pytest.raises(ValueError, match="unknown covariance structure 'hetar1'"):
        structure_for(3, "hetar1")
