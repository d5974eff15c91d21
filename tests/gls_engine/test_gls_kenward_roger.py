"""Full Kenward–Roger for `gls` (`gls_engine.kenward_roger`) against SAS PROC MIXED DDFM=KR:
the gls models equivalent to SAS's REPEATED TYPE=AR(1), ARH(1), CS, CSH and UN on mmrm's
fev_data (SAS values from mmrm's tests, tests/reference/mmrm/sas_cases.json, with their
tolerances), and the structures that have no SAS equivalent refused."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import ArgumentError

REF = Path(__file__).resolve().parents[1] / "reference" / "mmrm"
VISIT_VAR = "~ 1 | AVISIT"
# SAS case id -> gls correlation and weights of the same model
MODELS = {
    "kr_ar1_full": (lambda: mfx.cor_ar1("~ VISITN | USUBJID"), None),
    "kr_ar1h_full": (lambda: mfx.cor_ar1("~ VISITN | USUBJID"), VISIT_VAR),
    "kr_cs_full": (lambda: mfx.cor_comp_symm("~ 1 | USUBJID"), None),
    "kr_csh_full": (lambda: mfx.cor_comp_symm("~ 1 | USUBJID"), VISIT_VAR),
    "kr_us_full": (lambda: mfx.cor_symm("~ VISITN | USUBJID"), VISIT_VAR),
}


@pytest.fixture(scope="module")
def fev() -> pd.DataFrame:
    return mfx.datasets.load("fev_data").dropna(subset=["FEV1"])


def _gls(fev, case_id: str):
    cor, var = MODELS[case_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mfx.gls("FEV1 ~ ARMCD", fev, correlation=cor(),
                       weights=None if var is None else mfx.var_ident(var))


def _sas(case_id: str) -> dict:
    cases = json.loads((REF / "sas_cases.json").read_text())["cases"]
    case = next(c for c in cases if c["id"] == case_id)
    return {c["what"]: c for c in case["checks"]}


@pytest.mark.parametrize("case_id", list(MODELS))
def test_kenward_roger_matches_sas(fev, case_id: str) -> None:
    m = _gls(fev, case_id)
    sas = _sas(case_id)
    row = m.coef_table("Kenward-Roger").loc["ARMCDTRT"]
    se, df = sas["contrast_se"], sas["contrast_df"]
    assert row["Std. Error"] == pytest.approx(se["values"][0], rel=se["rtol"])
    assert row["df"] == pytest.approx(df["values"][0], rel=df["rtol"])
    # one-row F test: F = t² (λ = 1 for one row), same df
    a = m.anova(ddf="Kenward-Roger").loc["ARMCD"]
    assert a["F value"] == pytest.approx(row["t value"] ** 2, rel=1e-8)
    assert a["DenDF"] == pytest.approx(row["df"], rel=1e-10)
    em = mfx.emmeans(m, "ARMCD", lmer_df="Kenward-Roger")
    assert np.all(np.isfinite(em["SE"])) and np.all(em["df"] > 0)


def test_linear_and_full_agree_where_sas_says_they_do(fev) -> None:
    """UN is linear in SAS's parameters: KR and KR(LINEAR) coincide (SAS: same SE)."""
    m = _gls(fev, "kr_us_full")
    full, lin = m.coef_table("Kenward-Roger"), m.coef_table("Kenward-Roger-Linear")
    np.testing.assert_allclose(full["Std. Error"], lin["Std. Error"], rtol=1e-4)


@pytest.mark.parametrize("kw, match", [
    ({"correlation": lambda: mfx.cor_symm("~ VISITN | USUBJID")}, "without var_ident"),
    ({"weights": lambda: mfx.var_power("~ FEV1_BL")}, "no correlation structure"),
    ({"correlation": lambda: mfx.cor_ar1("~ VISITN | USUBJID"),
      "weights": lambda: mfx.var_power("~ FEV1_BL")}, "not var_ident"),
    ({"correlation": lambda: mfx.cor_ar1("~ VISITN | USUBJID"),
      "weights": lambda: mfx.var_ident("~ 1 | SEX")}, "one per time"),
    ({"correlation": lambda: mfx.cor_comp_symm("~ 1 | USUBJID"),
      "weights": lambda: mfx.var_ident("~ 1 | SEX")}, "two rows in one"),
])
def test_unmapped_structures_are_refused(fev, kw, match: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.gls("FEV1 ~ ARMCD", fev, **{k: v() for k, v in kw.items()})
    with pytest.raises(ArgumentError, match=match):
        m.coef_table("Kenward-Roger")


def test_ml_fit_refused(fev) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.gls("FEV1 ~ ARMCD", fev, correlation=mfx.cor_ar1("~ VISITN | USUBJID"),
                    REML=False)
    with pytest.raises(ArgumentError, match="REML"):
        m.coef_table("Kenward-Roger")


def test_car1_maps_to_sp_exp(fev) -> None:
    """No SAS value for this pair: the gls cor_car1 model's KR equals the KR of mfx.mmrm's
    sp_exp fit of the same model (whose KR is SAS-checked in tests/mmrm)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = mfx.gls("FEV1 ~ ARMCD", fev, correlation=mfx.cor_car1("~ VISITN | USUBJID"))
        m = mfx.mmrm("FEV1 ~ ARMCD + sp_exp(VISITN | USUBJID)", fev,
                     method="Kenward-Roger")
    kr_g, kr_m = g.coef_table("Kenward-Roger"), m.coef_table()
    np.testing.assert_allclose(kr_g["Std. Error"], kr_m["Std. Error"], rtol=1e-5)
    np.testing.assert_allclose(kr_g["df"], kr_m["df"], rtol=1e-4)
    np.testing.assert_allclose(kr_g["Estimate"], kr_m["Estimate"], rtol=1e-6)
