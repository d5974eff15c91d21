"""The fitted MMRM's methods: summary, coefficient table, intervals, covariance, anova,
emmeans, tidy / glance, criteria."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mixedfx as mfx
from mixedfx.errors import ArgumentError

FORMULA = "FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)"


@pytest.fixture(scope="module")
def fit(fev):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mfx.mmrm(FORMULA, fev)


@pytest.fixture(scope="module")
def kr(fev):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mfx.mmrm(FORMULA, fev, method="Kenward-Roger")


def test_summary_layout(fit):
    text = str(fit.summary())
    for line in ["mmrm fit", f"Formula:     {FORMULA}",
                 "(used 537 observations from 197 subjects with maximum 4 timepoints)",
                 "Covariance:  unstructured (10 variance parameters)",
                 "Method:      Satterthwaite", "Vcov Method: Asymptotic", "Inference:   REML",
                 "Model selection criteria:", "Coefficients: ", "Covariance estimate:"]:
        assert line in text
    assert "VIS1" in text.split("Covariance estimate:")[1]


def test_criteria_follow_sas(fit):
    assert fit.aic == pytest.approx(fit.deviance + 2 * 10)
    assert fit.bic == pytest.approx(fit.deviance + 10 * np.log(200))   # SAS: all subjects
    assert fit.loglik == pytest.approx(-fit.deviance / 2)
    assert fit.nobs == 537 and fit.n_subjects == 197
    table = mfx.aic_table(fit)
    assert table.loc["m1", "df"] == 10 and table.loc["m1", "AIC"] == pytest.approx(fit.aic)


def test_coef_table_and_confint(fit):
    tab = fit.coef_table()
    assert list(tab.columns) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    assert list(tab.index) == list(fit.fixef.index)
    np.testing.assert_allclose(tab["Std. Error"] ** 2, np.diag(fit.vcov))
    ci = fit.confint(0.9)
    assert list(ci.columns) == ["5 %", "95 %"]
    q = stats.t.ppf(0.95, tab["df"])
    np.testing.assert_allclose(ci["95 %"], tab["Estimate"] + q * tab["Std. Error"])
    assert list(fit.confint(parm="ARMCDTRT").index) == ["ARMCDTRT"]
    with pytest.raises(ArgumentError):
        fit.confint(parm="nope")


def test_kr_vcov_is_adjusted_and_larger(fit, kr):
    assert kr.vcov_method == "Kenward-Roger"
    assert np.all(np.diag(kr.vcov) >= np.diag(fit.vcov) - 1e-12)
    np.testing.assert_allclose(kr.vcov_asymptotic, fit.vcov, rtol=1e-6)


def test_cov_matrix_frames(fev, fit):
    cov = fit.cov_matrix()
    assert list(cov.index) == ["VIS1", "VIS2", "VIS3", "VIS4"]
    np.testing.assert_allclose(cov, cov.T)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = mfx.mmrm("FEV1 ~ ARMCD + ar1(AVISIT | ARMCD / USUBJID)", fev)
        sp = mfx.mmrm("FEV1 ~ ARMCD + sp_exp(VISITN | USUBJID)", fev)
    assert set(g.cov_matrix()) == {"PBO", "TRT"}
    assert "Group: PBO" in str(g.summary())
    assert sp.cov_matrix().shape == (2, 2)


def test_anova_and_f_test(fit):
    tab = fit.anova()
    assert list(tab.index) == ["RACE", "SEX", "ARMCD", "AVISIT", "ARMCD:AVISIT"]
    assert list(tab.columns) == ["NumDF", "DenDF", "F value", "Pr(>F)"]
    assert tab.loc["SEX", "F value"] == pytest.approx(fit.coef_table().loc["SEXFemale",
                                                                          "t value"] ** 2)
    with pytest.raises(ArgumentError):
        fit.anova(type=1)
    t2 = fit.anova(type=2)                 # highest-order term: Type II = Type III
    np.testing.assert_allclose(t2.loc["ARMCD:AVISIT"], tab.loc["ARMCD:AVISIT"], rtol=1e-10)


def test_emmeans_uses_the_fit_df(fit, kr):
    em = mfx.emmeans(fit, "ARMCD", by="AVISIT")
    assert list(em.columns[:2]) == ["ARMCD", "AVISIT"]
    em_kr = mfx.emmeans(kr, "ARMCD", by="AVISIT")
    # one-row contrasts: KR's df is Satterthwaite's (unadjusted Φ); the SE is adjusted
    np.testing.assert_allclose(em["df"], em_kr["df"], rtol=1e-6)
    assert np.all(em_kr["SE"] > em["SE"])
    with pytest.raises(ValueError):
        mfx.emmeans(fit, "ARMCD", lmer_df="kenward-roger")


def test_predict(fev, fit):
    pred = fit.predict(newdata=fev)
    assert list(pred.columns) == ["fit", "se"] and pred.index.equals(fev.index)
    marginal = fit.predict(newdata=fev, conditional=False)
    observed = fev["FEV1"].notna().to_numpy()
    np.testing.assert_allclose(pred[observed], marginal[observed])
    assert np.all(pred["se"][~observed] > marginal["se"][~observed])
    used = fit.predict(se_fit=False)
    assert isinstance(used, pd.Series) and len(used) == 537


def test_tidy_glance(fit):
    td = fit.tidy(conf_int=True)
    assert list(td.columns) == ["term", "estimate", "std.error", "df", "statistic",
                                "p.value", "conf.low", "conf.high"]
    gl = fit.glance()
    assert gl.loc[0, "nobs"] == 537
    assert isinstance(gl, pd.DataFrame)


@pytest.mark.parametrize("method", ["Residual", "Between-Within"])
def test_simple_df_methods(fev, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.mmrm("FEV1 ~ ARMCD * AVISIT + FEV1_BL + ar1(AVISIT | USUBJID)", fev,
                     method=method)
    df = m.coef_table()["df"]
    if method == "Residual":
        assert np.all(df == 537 - 9)
    else:                         # between: 197 − 2 (ARMCD, FEV1_BL) − 1; within: 537 − 197 − 6
        assert df["ARMCDTRT"] == 194 and df["FEV1_BL"] == 194
        assert df["AVISITVIS2"] == 334 and df["(Intercept)"] == 334


@pytest.mark.parametrize("vcov", ["Empirical-Jackknife", "Empirical-Bias-Reduced"])
def test_sandwich_variants_order(fev, vcov):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = mfx.mmrm("FEV1 ~ ARMCD + ar1(AVISIT | USUBJID)", fev, vcov="Empirical")
        v = mfx.mmrm("FEV1 ~ ARMCD + ar1(AVISIT | USUBJID)", fev, vcov=vcov)
    assert np.all(np.diag(v.vcov) > np.diag(e.vcov))
    assert np.all(v.coef_table()["df"] > 1)


def test_pickle_and_deepcopy(kr):
    import copy
    import pickle

    for clone in (pickle.loads(pickle.dumps(kr)), copy.deepcopy(kr)):
        np.testing.assert_array_equal(clone.vcov, kr.vcov)
        pd.testing.assert_frame_equal(clone.coef_table(), kr.coef_table())
