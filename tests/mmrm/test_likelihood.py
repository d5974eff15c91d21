"""The REML / ML criterion's analytic gradient and the complex-step derivatives of Σ."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mixedfx.mmrm.design import build_design
from mixedfx.mmrm.fit import Objective, start_values
from mixedfx.mmrm.terms import split_formula


def _objective(formula, data, reml, weights=None):
    fixed, term = split_formula(formula)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Objective(build_design(fixed, term, data, weights), reml)


@pytest.mark.parametrize("formula, reml, weights", [
    ("FEV1 ~ ARMCD + us(AVISIT | USUBJID)", True, None),
    ("FEV1 ~ ARMCD + adh(AVISIT | USUBJID)", False, "WEIGHT"),
    ("FEV1 ~ ARMCD + csh(AVISIT | ARMCD / USUBJID)", True, None),
    ("FEV1 ~ ARMCD + sp_exp(VISITN, VISITN2 | USUBJID)", True, None),
])
def test_gradient_matches_central_differences(fev, formula, reml, weights):
    obj = _objective(formula, fev, reml, weights)
    theta = start_values(obj) + 0.05
    _, g = obj.value_grad(theta)
    num = np.empty_like(theta)
    for k in range(len(theta)):
        h = 1e-5
        e = np.zeros_like(theta)
        e[k] = h
        num[k] = (obj.value_grad(theta + e)[0] - obj.value_grad(theta - e)[0]) / (2 * h)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(g).max()))


def test_jacobians_match_finite_differences(fev):
    obj = _objective("FEV1 ~ toeph(AVISIT | USUBJID)", fev, True)
    theta = start_values(obj) + 0.1
    J = obj.smap.jacobians(theta, obj.blocks)
    H = obj.smap.hessians(theta, obj.blocks)
    for k in range(len(theta)):
        e = np.zeros_like(theta)
        e[k] = 1e-6
        up = obj.smap.sigmas(theta + e, obj.blocks)
        dn = obj.smap.sigmas(theta - e, obj.blocks)
        for b in range(len(obj.blocks)):
            np.testing.assert_allclose(J[b][k], (up[b] - dn[b]) / 2e-6, rtol=1e-6, atol=1e-7)
        Jup = obj.smap.jacobians(theta + e, obj.blocks)
        Jdn = obj.smap.jacobians(theta - e, obj.blocks)
        np.testing.assert_allclose(H[0][:, k], (Jup[0] - Jdn[0]) / 2e-6, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("formula, reml, weights", [
    ("FEV1 ~ ARMCD + us(AVISIT | USUBJID)", True, None),
    ("FEV1 ~ ARMCD + us(AVISIT | USUBJID)", False, None),
    ("FEV1 ~ ARMCD + adh(AVISIT | ARMCD / USUBJID)", True, "WEIGHT"),
    ("FEV1 ~ ARMCD + sp_exp(VISITN, VISITN2 | USUBJID)", True, None),
])
def test_analytic_hessian_matches_differences_of_the_gradient(fev, formula, reml, weights):
    obj = _objective(formula, fev, reml, weights)
    theta = start_values(obj) + 0.1
    H = obj.hessian(obj.state(theta))
    num = np.empty_like(H)
    for k in range(len(theta)):
        h = 1e-4 * max(1.0, abs(theta[k]))
        e = np.zeros_like(theta)
        e[k] = h
        num[:, k] = (obj.value_grad(theta + e)[1] - obj.value_grad(theta - e)[1]) / (2 * h)
    np.testing.assert_allclose(H, 0.5 * (num + num.T), rtol=0, atol=1e-6 * np.abs(num).max())
