"""Covariance structures: mmrm's parameterizations, and SAS's parameters for KR."""

from __future__ import annotations

import numpy as np
import pytest

from mixedfx.mmrm.sas_parameters import psi_of, sigma_of
from mixedfx.mmrm.structures import STRUCTURE_TABLE, spatial_sigma

M = 4
RNG = np.random.default_rng(7)


def _theta(name):
    return RNG.normal(scale=0.4, size=STRUCTURE_TABLE[name].n_params(M))


@pytest.mark.parametrize("name", ["us", "toep", "toeph", "ar1", "ar1h", "ad", "adh", "cs",
                                  "csh"])
def test_sigma_is_positive_definite_and_symmetric(name):
    S = STRUCTURE_TABLE[name].sigma(_theta(name), M)
    assert S.shape == (M, M)
    np.testing.assert_allclose(S, S.T, rtol=0, atol=1e-12)
    if not name.startswith("toep"):       # Toeplitz lag correlations need not give a PD Σ
        assert np.linalg.eigvalsh(S).min() > 0


def test_known_forms():
    rho = 0.5 / np.sqrt(1.25)                       # θ = 0.5 → ρ = θ/√(1+θ²)
    S = STRUCTURE_TABLE["ar1"].sigma(np.array([np.log(2.0), 0.5]), M)
    np.testing.assert_allclose(S, 4.0 * rho ** np.abs(np.subtract.outer(range(M), range(M))))
    th = np.array([0.1, 0.2, 0.3, 0.4, 0.5, -0.3, 0.2, 0.1, 0.0, 0.4])
    L = np.diag(np.exp(th[:M])) @ np.array([[1, 0, 0, 0], [0.5, 1, 0, 0],
                                            [-0.3, 0.2, 1, 0], [0.1, 0.0, 0.4, 1]])
    np.testing.assert_allclose(STRUCTURE_TABLE["us"].sigma(th, M), L @ L.T)
    r = 1 / (1 + np.exp(-0.7)) * (1 + 1 / 3) - 1 / 3
    S = STRUCTURE_TABLE["cs"].sigma(np.array([0.0, 0.7]), M)
    np.testing.assert_allclose(S[0, 1], r)
    d = np.array([[0.0, 2.0], [2.0, 0.0]])
    S = spatial_sigma("sp_exp", np.array([np.log(3.0), 0.0]), d)
    np.testing.assert_allclose(S, [[3.0, 0.75], [0.75, 3.0]])


@pytest.mark.parametrize("name", ["ar1", "ar1h", "ad", "adh", "csh", "toeph"])
def test_sas_parameters_reproduce_sigma(name):
    S = STRUCTURE_TABLE[name].sigma(_theta(name), M)
    np.testing.assert_allclose(sigma_of(name, psi_of(name, S, M), M), S, rtol=1e-12)


@pytest.mark.parametrize("name", ["sp_exp", "sp_gau"])
def test_sas_spatial_parameters(name):
    th = np.array([0.3, 0.8])
    d = np.array([[0.0, 1.0, 2.5], [1.0, 0.0, 1.5], [2.5, 1.5, 0.0]])
    unit = spatial_sigma(name, th, np.array([[0.0, 1.0], [1.0, 0.0]]))
    np.testing.assert_allclose(sigma_of(name, psi_of(name, unit, 2), 0, d),
                               spatial_sigma(name, th, d), rtol=1e-12)
