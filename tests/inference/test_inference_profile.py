"""Profile confidence intervals (lme4's confint(m, method = "profile", oldNames = FALSE)).

Tolerance: relative 1e-3 (README); limits that lme4 reports at a parameter bound (0 for an
SD, ±1 for a correlation, when the profile does not reach the cutoff) must be that bound.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference_refs import fit_case, lmer_cases_with

CASES = lmer_cases_with("confint_profile")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case_id", CASES)
def test_profile_confint(case_id: str) -> None:
    f = fit_case(case_id)
    ref = f.expected["confint_profile"]
    ci = f.model.confint()
    assert list(ci.index) == ref["names"]
    assert list(ci.columns) == ["lower", "upper"]
    k = f.flat_factor
    for col in ("lower", "upper"):
        exp = np.array(ref[col], dtype=float)
        got = ci[col].to_numpy()
        on_bound = np.isin(exp, [0.0, -1.0, 1.0])
        np.testing.assert_array_equal(got[on_bound], exp[on_bound])
        np.testing.assert_allclose(got[~on_bound], exp[~on_bound], rtol=1e-3 * k)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_profile_frame_and_zeta() -> None:
    m = fit_case("sleepstudy_slope_reml").model
    pr = m.profile()
    names = [*m.parameter_names(), *m.fixef.index]
    assert list(pr.columns) == [".zeta", *names, ".par"]
    assert list(pr[".par"].cat.categories) == names
    for nm in names:
        block = pr[pr[".par"] == nm]
        z = block[".zeta"].to_numpy()
        assert np.all(np.diff(block[nm].to_numpy()) > 0)
        assert np.all(np.diff(z) > 0)                       # monotone profile
        assert z.min() < -2.5 and z.max() > 2.5            # covers the 95 % cutoffs
        assert np.min(np.abs(z)) == 0.0                    # the optimum is a grid point


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_profile_which_and_level() -> None:
    m = fit_case("dyestuff_reml").model
    ci90 = m.confint(level=0.90)
    ci95 = m.confint()
    assert np.all(ci90["lower"] > ci95["lower"]) and np.all(ci90["upper"] < ci95["upper"])
    from mixedfx.inference.profile import profile_confint

    only = profile_confint(m, which="beta_")
    assert list(only.index) == ["(Intercept)"]
    np.testing.assert_allclose(only.to_numpy(), ci95.loc[["(Intercept)"]].to_numpy())


def test_sv_cv_round_trip() -> None:
    from mixedfx.inference.profile import cv_to_sv, sv_to_cv

    theta = np.array([0.9, -0.3, 0.4, 1.2, 0.7, 0.2, 0.5])
    ks = [3, 1]
    sv = cv_to_sv(theta, ks, 2.5)
    np.testing.assert_allclose(sv_to_cv(sv[:-1], ks, sv[-1]), theta, atol=1e-12)
