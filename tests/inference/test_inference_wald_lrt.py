"""Wald intervals (confint_wald) and likelihood-ratio comparisons (anova_vs, ranova, drop1)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference_refs import fit_case, lmer_cases_with

import mixedfx as mfx

WALD = lmer_cases_with("confint_wald")
LRT = lmer_cases_with("anova_vs")


@pytest.mark.parametrize("case_id", WALD)
def test_wald_confint(case_id: str) -> None:
    f = fit_case(case_id)
    ref = f.expected["confint_wald"]
    ci = f.model.confint(method="Wald")
    got = ci.loc[ref["names"]]
    se = np.sqrt(np.diag(f.model.vcov.to_numpy()))
    # limits = β̂ ± 1.96 SE: β̂ within 1e-4 relative (floor: its SE), SE within 1e-3
    tol = 1e-4 * np.maximum(np.abs(f.model.beta), se) + 1.96 * 1e-3 * se
    for col in ("lower", "upper"):
        diff = np.abs(got[col].to_numpy() - np.asarray(ref[col], dtype=float))
        assert np.all(diff <= tol * f.flat_factor), (col, diff, tol)
    assert ci.loc[f.model.parameter_names()].isna().all().all()


@pytest.mark.parametrize("case_id", LRT)
def test_anova_against_other_case(case_id: str) -> None:
    f = fit_case(case_id)
    ref = f.expected["anova_vs"]
    other = fit_case(ref["other_case"])
    tab = mfx.anova(f.model, other.model)
    assert list(tab.columns) == ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df",
                                 "Pr(>Chisq)"]
    np.testing.assert_array_equal(tab["npar"], ref["npar"])
    np.testing.assert_allclose(tab["logLik"], ref["loglik"], atol=1e-3)
    np.testing.assert_allclose(tab["AIC"], ref["aic"], atol=1e-3)
    np.testing.assert_allclose(tab["BIC"], ref["bic"], atol=1e-3)
    row = tab.iloc[1]
    assert row["Chisq"] == pytest.approx(ref["chisq"], abs=2e-3)
    assert row["Df"] == ref["df"]
    assert row["Pr(>Chisq)"] == pytest.approx(ref["p"], rel=1e-3)
    assert np.isnan(tab.iloc[0]["Chisq"])


def test_anova_refits_reml_with_ml() -> None:
    d = mfx.datasets.load("Orthodont")
    m4 = mfx.lmer("distance ~ age + Sex + (1 | Subject)", d)
    m3 = mfx.lmer("distance ~ age * Sex + (1 | Subject)", d)
    tab = mfx.anova(m3, m4, model_names=["m3", "m4"])      # R: anova(m4, m3)
    assert list(tab.index) == ["m4", "m3"]
    np.testing.assert_allclose(tab["logLik"], [-217.4282, -214.3195], atol=1e-4)
    np.testing.assert_allclose(tab["BIC"], [458.2671, 456.7318], atol=1e-4)
    assert tab.iloc[1]["Chisq"] == pytest.approx(6.217427, abs=1e-5)
    assert tab.iloc[1]["Pr(>Chisq)"] == pytest.approx(0.01264988, rel=1e-5)
    assert "m3: distance ~ age * Sex + (1 | Subject)" in str(tab)


def test_ranova_slope_term() -> None:
    """lmerTest::ranova(lmer(distance ~ age + Sex + (age | Subject), Orthodont))."""
    m = mfx.lmer("distance ~ age + Sex + (age | Subject)", mfx.datasets.load("Orthodont"))
    r = m.ranova()
    assert list(r.index) == ["<none>", "age in (age | Subject)"]
    np.testing.assert_array_equal(r["npar"], [7, 5])
    np.testing.assert_allclose(r["logLik"], [-217.6169, -218.7563], atol=1e-4)
    assert r.iloc[1]["LRT"] == pytest.approx(2.27865, abs=1e-4)
    assert r.iloc[1]["Pr(>Chisq)"] == pytest.approx(0.3200349, rel=1e-4)


def test_ranova_uncorrelated_terms() -> None:
    m = fit_case("sleepstudy_uncorr_reml").model
    r = m.ranova()
    assert list(r.index) == ["<none>", "(1 | Subject)", "Days in (0 + Days | Subject)"]
    np.testing.assert_allclose(r["logLik"], [-871.8346, -883.2625, -893.2325], atol=1e-4)
    np.testing.assert_allclose(r["LRT"].iloc[1:], [22.85573, 42.79579], atol=1e-4)


def test_ranova_down_to_linear_model() -> None:
    m = fit_case("dyestuff_reml").model
    r = m.ranova()
    assert list(r.index) == ["<none>", "(1 | Batch)"]
    assert r.iloc[1]["npar"] == 2
    # 2 × (REML logLik of the mixed model − REML logLik of lm(Yield ~ 1))
    assert r.iloc[1]["LRT"] > 0 and r.iloc[1]["Df"] == 1


def test_drop1_chisq_and_f() -> None:
    d = mfx.datasets.load("Orthodont")
    m = mfx.lmer("distance ~ age + Sex + (1 | Subject)", d)
    lr = m.drop1(test="Chisq")
    assert list(lr.index) == ["<none>", "age", "Sex"]
    np.testing.assert_allclose(lr["AIC"], [444.8565, 514.9581, 451.3895], atol=1e-4)
    np.testing.assert_allclose(lr["LRT"].iloc[1:], [72.101606, 8.533057], atol=1e-5)
    m2 = mfx.lmer("distance ~ age + Sex + (age | Subject)", d)
    f = m2.drop1()
    np.testing.assert_allclose(f["DenDF"], [26.00185, 24.99945], rtol=1e-4)
    np.testing.assert_allclose(f["F value"], [85.849078, 8.022526], rtol=1e-4)
