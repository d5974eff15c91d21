"""The optimizer: the modified Newton step descends, and Newton from the start values
reaches the optimum quasi-Newton (BFGS with the analytic gradient) finds."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize

from mixedfx.mmrm.design import build_design
from mixedfx.mmrm.fit import Objective, _newton_step, fit_mmrm, start_values
from mixedfx.mmrm.terms import split_formula


def test_newton_step_descends_with_an_indefinite_hessian():
    H = np.diag([2.0, -1.0, 1e-20])
    g = np.array([1.0, 1.0, 1.0])
    step = _newton_step(H, g)
    assert g @ step > 0                        # −step is a descent direction
    np.testing.assert_allclose(step[:2], [0.5, 1.0])


@pytest.mark.parametrize("formula, reml", [
    ("FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)", True),
    ("FEV1 ~ ARMCD * AVISIT + us(AVISIT | ARMCD / USUBJID)", False),
    ("FEV1 ~ ARMCD + toeph(AVISIT | USUBJID)", True),
])
def test_newton_reaches_the_quasi_newton_optimum(fev, formula, reml):
    fixed, term = split_formula(formula)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = build_design(fixed, term, fev, None)
        fit = fit_mmrm(design, reml)
        obj = Objective(design, reml)
        res = minimize(obj.value_grad, start_values(obj), jac=True, method="BFGS",
                       options={"gtol": 1e-7, "maxiter": 5000})
    # both stop where the gradient is ~1e-6, so −2ℓ agrees to ~1e-10 (quadratic)
    assert abs(fit.state.deviance - res.fun) < 1e-6
    assert fit.state.deviance <= res.fun + 1e-9
