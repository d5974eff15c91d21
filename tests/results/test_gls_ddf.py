"""`mfx.gls` with the MMRM df methods: Satterthwaite and Kenward–Roger-linear against SAS
(through the same model fitted by PROC MIXED, mmrm's tests) and R's emmeans, coefficient
tables, anova, emmeans."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import ArgumentError

REF = Path(__file__).resolve().parents[1] / "reference"


def _fev() -> pd.DataFrame:
    d = pd.read_csv(REF / "mmrm" / "fev_data.csv").dropna(subset=["FEV1"])
    for line in (REF / "mmrm" / "fev_data_levels.tsv").read_text().splitlines():
        col, *levels = line.split("\t")
        d[col] = pd.Categorical(d[col].astype(str), categories=levels)
    return d


@pytest.fixture(scope="module")
def ar1_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mfx.gls("FEV1 ~ ARMCD", _fev(), correlation=mfx.cor_ar1("~ VISITN | USUBJID"))


def test_satterthwaite_df_matches_sas(ar1_fit):
    # SAS PROC MIXED, REPEATED AVISIT / TYPE=AR(1), TRT − PBO: df 188.46934887972
    # (mmrm@ec290b2695:tests/testthat/test-kenwardroger.R:225; one-row contrasts have the
    # same df under KR and Satterthwaite)
    tab = ar1_fit.coef_table("Satterthwaite")
    assert tab.loc["ARMCDTRT", "df"] == pytest.approx(188.46934887972, rel=1e-4)
    assert list(tab.columns) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    np.testing.assert_allclose(ar1_fit.coef_table("Residual")["df"], ar1_fit.df_residual)


def test_kenward_roger_linear_matches_sas(ar1_fit):
    # SAS DDFM=KR(LINEAR), AR(1), TRT − PBO: SE 0.96058142305176, df 188.46934887972
    # (mmrm@ec290b2695:tests/testthat/test-kenwardroger.R:240)
    tab = ar1_fit.coef_table("Kenward-Roger-Linear")
    assert tab.loc["ARMCDTRT", "Std. Error"] == pytest.approx(0.96058142305176, rel=1e-4)
    assert tab.loc["ARMCDTRT", "df"] == pytest.approx(188.46934887972, rel=1e-4)
    row = ar1_fit.anova(ddf="Kenward-Roger-Linear").loc["ARMCD"]
    assert row["F value"] == pytest.approx(tab.loc["ARMCDTRT", "t value"] ** 2, rel=1e-8)
    em = mfx.emmeans(ar1_fit, "ARMCD", lmer_df="Kenward-Roger-Linear")
    assert np.all(em["SE"] > mfx.emmeans(ar1_fit, "ARMCD")["SE"] * 0.99)


def test_emmeans_satterthwaite_matches_r():
    ref = json.loads((REF / "extra" / "gls_df" / "gls_df.json").read_text())["ar1_reml"]
    d = mfx.datasets.load("Orthodont")
    d["Subject"] = d["Subject"].astype(str)
    m = mfx.gls("distance ~ Sex + age", d, correlation=mfx.cor_ar1("~ 1 | Subject"))
    assert m.loglik == pytest.approx(ref["logLik"], rel=1e-8)
    em = mfx.emmeans(m, "Sex", lmer_df="satterthwaite")
    np.testing.assert_allclose(em["emmean"], ref["emmean"], rtol=1e-6)
    np.testing.assert_allclose(em["SE"], ref["SE"], rtol=1e-5)
    np.testing.assert_allclose(em["df"], ref["df_satterthwaite"], rtol=1e-3)
    default = mfx.emmeans(m, "Sex")                     # nlme's residual df n − p
    np.testing.assert_allclose(default["df"], m.df_residual)


def test_anova_summary_and_bad_ddf(ar1_fit):
    tab = ar1_fit.anova()
    assert list(tab.index) == ["ARMCD"]
    coef = ar1_fit.coef_table()
    assert tab.loc["ARMCD", "F value"] == pytest.approx(coef.loc["ARMCDTRT", "t value"] ** 2)
    assert tab.loc["ARMCD", "DenDF"] == pytest.approx(coef.loc["ARMCDTRT", "df"])
    assert " df " in ar1_fit.summary(ddf="Satterthwaite").split("Coefficients:")[1]
    with pytest.raises(ArgumentError, match="ddf for gls must be"):
        ar1_fit.coef_table("Kenward")
    with pytest.raises(ArgumentError):
        ar1_fit.anova(type=2)
